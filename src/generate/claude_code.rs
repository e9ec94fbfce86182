//! `generate --usage-format claude-code`: the usage as Claude Code writes it under
//! `~/.claude/projects`, in the shape users have, not only the records a reader needs.
//!
//! - One file per session, `<agent>/.claude/projects/-home-<agent>-work/<session>.jsonl`; about
//!   one request in seven of a session runs in a subagent, logged in
//!   `<session>/subagents/agent-<id>.jsonl` with `"isSidechain":true`.
//! - Each request is a user line (a prompt of 80 to 1,500 characters, or, for three requests in
//!   five, the result of a tool: 1 to 24 KB of file or command output) and the assistant's
//!   message streamed as two lines with the same message id and the same usage (a thinking or
//!   text block, then a text or tool-use block), as Claude Code logs a streamed response.
//!   Readers must count the two lines once.
//! - Message bodies are drawn from each request's id, not from the generator's random stream,
//!   so every other output of `generate` (usage, outputs, truth) is the same whatever the
//!   format.
//!
//! A request is about 7 KB of log; 1 GB is about 150,000 requests.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Session files one agent may hold open at once while its logs are written.
const MAX_OPEN_FILES: usize = 256;

/// Words of prompts and answers.
const WORDS: [&str; 32] = [
    "the",
    "billing",
    "client",
    "retry",
    "test",
    "fails",
    "because",
    "request",
    "handler",
    "cache",
    "returns",
    "stale",
    "value",
    "after",
    "migration",
    "schema",
    "we",
    "should",
    "refactor",
    "module",
    "into",
    "smaller",
    "functions",
    "and",
    "add",
    "coverage",
    "for",
    "edge",
    "cases",
    "when",
    "timeout",
    "expires",
];

/// Lines of file or command output that tool results hold.
const OUTPUT_LINES: [&str; 8] = [
    "    fn charge(&self, amount: Money) -> Result<Receipt, BillingError> {",
    "        let attempt = self.client.post(&self.url).json(&amount).send()?;",
    "test billing::retries_are_idempotent ... FAILED",
    "error[E0308]: mismatched types: expected `Receipt`, found `Option<Receipt>`",
    "  --> src/billing/client.rs:118:20",
    "    }",
    "import { describe, it, expect } from 'vitest';",
    "running 42 tests; 41 passed; 1 failed; 0 ignored; finished in 3.21s",
];

/// A deterministic stream of numbers from a request's id (SplitMix64).
struct Draws(u64);

impl Draws {
    fn of(text: &str) -> Draws {
        // FNV-1a over the id, then SplitMix64 steps.
        let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Draws(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: usize, high: usize) -> usize {
        low + (self.next() % (high - low + 1) as u64) as usize
    }
}

/// About `chars` characters of prose, JSON-safe.
fn prose(draws: &mut Draws, chars: usize) -> String {
    let mut text = String::with_capacity(chars + 16);
    while text.len() < chars {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[draws.between(0, WORDS.len() - 1)]);
    }
    text.push('.');
    text
}

/// About `bytes` bytes of output lines, escaped for a JSON string (`\n` between lines).
fn output(draws: &mut Draws, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 128);
    while text.len() < bytes {
        let line = OUTPUT_LINES[draws.between(0, OUTPUT_LINES.len() - 1)];
        text.push_str(&line.replace('\\', "\\\\").replace('"', "\\\""));
        text.push_str("\\n");
    }
    text
}

/// One request's usage, as the sink hands it over.
pub struct Request<'a> {
    pub agent: &'a str,
    pub ts: i64,
    pub model: &'a str,
    /// Input, output, cache read, cache write.
    pub tokens: [u64; 4],
    pub session: &'a str,
    pub request_id: &'a str,
}

/// Writes sessions under `root`, one agent at a time (the generator writes agent by agent).
pub struct Sessions {
    root: PathBuf,
    agent: String,
    open: HashMap<PathBuf, BufWriter<File>>,
}

impl Sessions {
    /// Starts `root` afresh: logs of an earlier `generate` into the same folder are removed,
    /// as the other formats overwrite their file (session files are appended to while written,
    /// and `truth.json` describes only this company).
    pub fn new(root: &Path) -> std::io::Result<Sessions> {
        if root.exists() {
            std::fs::remove_dir_all(root)?;
        }
        std::fs::create_dir_all(root)?;
        Ok(Sessions {
            root: root.to_path_buf(),
            agent: String::new(),
            open: HashMap::new(),
        })
    }

    /// Appends one request's lines to its session's file (or its subagent's). On an error, the
    /// path that could not be written.
    pub fn write(&mut self, request: &Request) -> Result<(), (PathBuf, std::io::Error)> {
        // A new agent, or too many files open: close what is open (a file met again is
        // appended to).
        if self.agent != request.agent || self.open.len() >= MAX_OPEN_FILES {
            self.close()?;
            self.agent = request.agent.to_string();
        }
        let mut draws = Draws::of(request.request_id);
        let project = self
            .root
            .join(request.agent)
            .join(".claude/projects")
            .join(format!("-home-{}-work", request.agent));
        // About one request in seven of a session runs in the session's subagent.
        let sidechain = draws.between(0, 6) == 0;
        let path = if sidechain {
            let id = Draws::of(request.session).next() & 0xff_ffff;
            project
                .join(request.session)
                .join("subagents")
                .join(format!("agent-a{id:06x}.jsonl"))
        } else {
            project.join(format!("{}.jsonl", request.session))
        };
        if !self.open.contains_key(&path) {
            let parent = path.parent().expect("a file in a folder");
            std::fs::create_dir_all(parent).map_err(|e| (parent.to_path_buf(), e))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| (path.clone(), e))?;
            self.open.insert(path.clone(), BufWriter::new(file));
        }
        let out = self.open.get_mut(&path).expect("opened above");
        lines(out, request, sidechain, &mut draws).map_err(|e| (path, e))
    }

    /// Flushes and closes the open files.
    pub fn close(&mut self) -> Result<(), (PathBuf, std::io::Error)> {
        for (path, mut out) in self.open.drain() {
            out.flush().map_err(|e| (path, e))?;
        }
        Ok(())
    }
}

/// The user's line and the assistant's two streamed lines of one request.
fn lines(
    out: &mut impl Write,
    r: &Request,
    sidechain: bool,
    draws: &mut Draws,
) -> std::io::Result<()> {
    let at = chrono::DateTime::from_timestamp(r.ts, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let (agent, session, id) = (r.agent, r.session, r.request_id);
    let head = format!(
        r#""isSidechain":{sidechain},"userType":"external","cwd":"/home/{agent}/work","sessionId":"{session}","version":"2.0.14","gitBranch":"main""#
    );
    let tool_result = draws.between(0, 4) < 3;
    let user_content = if tool_result {
        let bytes = draws.between(1_000, 24_000);
        format!(
            r#"[{{"tool_use_id":"toolu_{id}","type":"tool_result","content":"{}","is_error":false}}]"#,
            output(draws, bytes)
        )
    } else {
        let chars = draws.between(80, 1_500);
        format!(r#""{}""#, prose(draws, chars))
    };
    writeln!(
        out,
        r#"{{"parentUuid":null,{head},"type":"user","message":{{"role":"user","content":{user_content}}},"uuid":"u-{id}","timestamp":"{at}.120Z"}}"#
    )?;
    let [input, output_tokens, cache_read, cache_write] = r.tokens;
    let usage = format!(
        r#"{{"input_tokens":{input},"cache_creation_input_tokens":{cache_write},"cache_read_input_tokens":{cache_read},"cache_creation":{{"ephemeral_5m_input_tokens":{cache_write},"ephemeral_1h_input_tokens":0}},"output_tokens":{output_tokens},"service_tier":"standard"}}"#
    );
    let model = r.model;
    let first = if draws.between(0, 1) == 0 {
        let chars = draws.between(100, 1_200);
        format!(
            r#"{{"type":"thinking","thinking":"{}","signature":"Eu8BCkYIBxgCKkB{id}"}}"#,
            prose(draws, chars)
        )
    } else {
        let chars = draws.between(60, 600);
        format!(r#"{{"type":"text","text":"{}"}}"#, prose(draws, chars))
    };
    let second = if draws.between(0, 2) < 2 {
        let chars = draws.between(40, 400);
        format!(
            r#"{{"type":"tool_use","id":"toolu_{id}","name":"Bash","input":{{"command":"cargo test billing","description":"{}"}}}}"#,
            prose(draws, chars)
        )
    } else {
        let chars = draws.between(200, 1_500);
        format!(r#"{{"type":"text","text":"{}"}}"#, prose(draws, chars))
    };
    for (chunk, content) in [(0, first), (1, second)] {
        writeln!(
            out,
            r#"{{"parentUuid":"u-{id}",{head},"message":{{"id":"msg_{id}","type":"message","role":"assistant","model":"{model}","content":[{content}],"stop_reason":null,"stop_sequence":null,"usage":{usage}}},"requestId":"req_{id}","type":"assistant","uuid":"a{chunk}-{id}","timestamp":"{at}.{}Z"}}"#,
            900 + 40 * chunk
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_json_and_the_two_chunks_share_id_and_usage() {
        let request = Request {
            agent: "dana",
            ts: 1_790_000_000,
            model: "claude-sonnet-4-5",
            tokens: [12, 340, 5_600, 78],
            session: "5b1c0c8e-7f0a-4c55-9d2f-0d8c2f1e6a11",
            request_id: "dana-17",
        };
        let mut out = Vec::new();
        lines(
            &mut out,
            &request,
            false,
            &mut Draws::of(request.request_id),
        )
        .unwrap();
        let parsed: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0]["type"], "user");
        assert_eq!(parsed[1]["message"]["id"], parsed[2]["message"]["id"]);
        assert_eq!(parsed[1]["message"]["usage"], parsed[2]["message"]["usage"]);
        assert_eq!(parsed[1]["message"]["usage"]["output_tokens"], 340);
        // The same request draws the same bodies.
        let mut again = Vec::new();
        lines(
            &mut again,
            &request,
            false,
            &mut Draws::of(request.request_id),
        )
        .unwrap();
        assert_eq!(out, again);
    }
}
