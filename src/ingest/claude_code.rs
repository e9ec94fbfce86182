//! Claude Code's local session logs: `~/.claude/projects/<project>/<session>.jsonl`, and the
//! subagent files under `<session>/subagents/`. One JSON object per line; the assistant lines
//! carry `message.usage`. Tier `estimated` (list prices; the logs hold no bill).
//!
//! | canonical | Claude Code field |
//! |---|---|
//! | `ts` | `timestamp` |
//! | `agent` | the user of `cwd` (`/home/<user>/…`, `/Users/<user>/…`, `C:\Users\<user>\…`), else the folder holding `.claude`, else `unknown` |
//! | `model` | `message.model` |
//! | `input_tokens` | `message.usage.input_tokens` (uncached) |
//! | `output_tokens` | `message.usage.output_tokens` |
//! | `cache_read_tokens` | `message.usage.cache_read_input_tokens` |
//! | `cache_write_tokens` | `message.usage.cache_creation.ephemeral_5m_input_tokens` + `ephemeral_1h_input_tokens` when the object is there, else `cache_creation_input_tokens` |
//! | `session_id` | `sessionId` |
//! | `request_id` | `message.id`, else `requestId` |
//! | `tool` | `claude-code` |
//! | `repo` | `cwd@gitBranch` (`/home/dana/src/api@main`), a hint of what the request worked on |
//!
//! - **Dedup.** Streaming writes the same message several times, and sidechain replays (`/btw`
//!   asides) repeat a parent's `message.id` under a new `requestId`. Keying on `message.id`
//!   lets dedup keep one record per message, the one with the most tokens.
//! - **Skipped and counted:** assistant records of model `<synthetic>` (no request was made) and
//!   `isApiErrorMessage` records. Lines without `message.usage` (prompts, tool results,
//!   summaries) are not usage and are not counted.
//! - **Quarantined:** a line that is not JSON, or whose usage fields are not whole numbers,
//!   with its line number and text.

use std::borrow::Cow;
use std::path::Path;

use memchr::memmem;
use polars::prelude::*;
use rayon::prelude::*;
use serde::Deserialize;

use super::records::{line_chunks, numbered_lines, Records};
use super::{Adapter, Scan};
use crate::schema;

pub struct ClaudeCodeAdapter;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cwd: Option<Cow<'a, str>>,
    #[serde(rename = "gitBranch", borrow)]
    git_branch: Option<Cow<'a, str>>,
    #[serde(rename = "isApiErrorMessage", default)]
    api_error: bool,
    #[serde(borrow)]
    message: Option<Message<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

const TEXT: [&str; 5] = [
    schema::AGENT,
    schema::MODEL,
    schema::SESSION_ID,
    schema::REQUEST_ID,
    schema::REPO,
];
const COUNTS: [&str; 4] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
];

/// The user a working directory belongs to.
fn user_of(cwd: &str) -> Option<&str> {
    let mut parts = cwd.split(['/', '\\']).filter(|p| !p.is_empty());
    let mut previous = parts.next()?;
    for part in parts {
        if matches!(previous, "home" | "Users" | "users") {
            return Some(part);
        }
        previous = part;
    }
    None
}

/// The folder that holds `.claude` in a log's path (`exports/dana/.claude/projects/…` → `dana`).
fn user_of_path(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    let at = parts.iter().position(|p| p == ".claude" || p == "claude")?;
    let user = parts.get(at.checked_sub(1)?)?;
    (!user.is_empty() && user != "/").then(|| user.clone())
}

/// `2026-09-07T09:12:33.900Z` (or with an offset) as microseconds since the epoch.
fn micros(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

fn new_records() -> Records {
    Records::new(&TEXT, &COUNTS, &[]).with_times(&[schema::TS])
}

fn parse_chunk(first_line: u64, chunk: &[u8], fallback_agent: &str) -> Records {
    let mut records = new_records();
    parse_into(&mut records, first_line, chunk, fallback_agent);
    records
}

/// Adds the usage records of `chunk`, whose first line is `first_line`, to `records`.
fn parse_into(records: &mut Records, first_line: u64, chunk: &[u8], fallback_agent: &str) {
    let usage_key = memmem::Finder::new(b"\"usage\"");
    let mut repo = String::new();
    for (number, line) in numbered_lines(first_line, chunk) {
        // Prompts, tool results and summaries carry no usage: not parsed at all.
        if usage_key.find(line).is_none() {
            continue;
        }
        let parsed: Line = match serde_json::from_slice(line) {
            Ok(parsed) => parsed,
            Err(err) => {
                records.unreadable(number, format!("not a Claude Code log record: {err}"), line);
                continue;
            }
        };
        let Some(message) = parsed.message else {
            continue;
        };
        let Some(usage) = message.usage else {
            continue;
        };
        if parsed.api_error {
            records.skip("API error records");
            continue;
        }
        let model = message.model.as_deref().unwrap_or("");
        if model == "<synthetic>" {
            records.skip("synthetic records");
            continue;
        }
        let ts = match parsed.timestamp.as_deref().map(micros) {
            Some(Some(ts)) => ts,
            Some(None) | None => {
                let shown = parsed.timestamp.as_deref().unwrap_or("nothing");
                records.unreadable(
                    number,
                    format!("`timestamp` is `{shown}`, not an ISO 8601 time"),
                    line,
                );
                continue;
            }
        };
        records.row(number);
        records.time(schema::TS, ts);
        let agent = parsed
            .cwd
            .as_deref()
            .and_then(user_of)
            .unwrap_or(fallback_agent);
        records.text(schema::AGENT, agent);
        records.text(schema::MODEL, model);
        if let Some(session) = parsed.session_id {
            records.text(schema::SESSION_ID, session);
        }
        if let Some(id) = message.id.or(parsed.request_id) {
            records.text(schema::REQUEST_ID, id);
        }
        if let Some(cwd) = &parsed.cwd {
            match &parsed.git_branch {
                Some(branch) if !branch.is_empty() => {
                    repo.clear();
                    repo.push_str(cwd);
                    repo.push('@');
                    repo.push_str(branch);
                    records.text(schema::REPO, &repo);
                }
                _ => records.text(schema::REPO, cwd.as_ref()),
            }
        }
        records.count(schema::INPUT_TOKENS, usage.input_tokens.unwrap_or(0));
        records.count(schema::OUTPUT_TOKENS, usage.output_tokens.unwrap_or(0));
        records.count(
            schema::CACHE_READ_TOKENS,
            usage.cache_read_input_tokens.unwrap_or(0),
        );
        let cache_write = match usage.cache_creation {
            Some(c) => {
                c.ephemeral_5m_input_tokens.unwrap_or(0) + c.ephemeral_1h_input_tokens.unwrap_or(0)
            }
            None => usage.cache_creation_input_tokens.unwrap_or(0),
        };
        records.count(schema::CACHE_WRITE_TOKENS, cache_write);
    }
}

/// Reads one log file: pieces in parallel, joined in line order.
pub fn read(path: &Path) -> Result<Scan, super::AdapterError> {
    let bytes = std::fs::read(path)?;
    let fallback = user_of_path(path).unwrap_or_else(|| "unknown".to_string());
    let parts = rayon::current_num_threads() * 4;
    let pieces: Vec<Records> = line_chunks(&bytes, parts)
        .into_par_iter()
        .map(|(first, chunk)| parse_chunk(first, chunk, &fallback))
        .collect();
    let mut all = new_records();
    for piece in pieces {
        all.append(piece);
    }
    let mut scan = all.finish_as("estimated")?;
    scan.frame = scan
        .frame
        .with_column(lit("claude-code").alias(schema::TOOL));
    Ok(scan)
}

impl Adapter for ClaudeCodeAdapter {
    fn name(&self) -> &'static str {
        "claude-code"
    }

    fn names(&self) -> &'static [&'static str] {
        &["claude-code", "claude"]
    }

    fn tables(&self) -> &'static [crate::schema::Table] {
        &[crate::schema::Table::Usage]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.jsonl` with canonical NDJSON: recognised by content, not extension.
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let has = |key: &[u8]| memmem::find(head, key).is_some();
        has(b"\"sessionId\"")
            && (has(b"\"parentUuid\"") || has(b"\"isSidechain\"") || has(b"\"userType\""))
            || has(b"\"type\":\"summary\"") && has(b"\"leafUuid\"")
    }

    fn scan(&self, path: &Path, _table: crate::schema::Table) -> Result<Scan, super::AdapterError> {
        read(path)
    }

    fn scan_many(
        &self,
        files: &[(u32, &Path)],
        _table: crate::schema::Table,
        hash: bool,
    ) -> Option<Result<Scan, (std::path::PathBuf, super::AdapterError)>> {
        Some(read_many(files, hash))
    }
}

/// Reads many log files (a `~/.claude/projects` holds one a session): a few groups of files
/// in parallel, each group's files read one after another into one set of columns, so that
/// neither a file nor a group costs more than its rows; rows are tagged with their file's
/// index, in file order. With `hash`, each file is hashed from the bytes read, so the report's
/// input hashes do not read it again.
fn read_many(
    files: &[(u32, &Path)],
    hash: bool,
) -> Result<Scan, (std::path::PathBuf, super::AdapterError)> {
    let group = files
        .len()
        .div_ceil(rayon::current_num_threads() * 2)
        .max(1);
    let groups: Vec<super::Part> = files
        .par_chunks(group)
        .map(|group| {
            let mut records = new_records();
            let mut tags: Vec<u32> = Vec::new();
            let mut hashes = Vec::with_capacity(group.len());
            // One buffer for the group's files: a fresh one per file costs a page fault per
            // page of every file.
            let mut bytes = Vec::new();
            for &(index, path) in group {
                bytes.clear();
                std::fs::File::open(path)
                    .and_then(|file| {
                        // Read through `take`: a file's own `read_to_end` first asks the file
                        // its size and position (two system calls a file, of thousands), which
                        // the buffer's kept capacity makes needless.
                        std::io::Read::read_to_end(
                            &mut std::io::Read::take(file, u64::MAX),
                            &mut bytes,
                        )
                    })
                    .map_err(|e| (path.to_path_buf(), e.into()))?;
                let fallback = user_of_path(path).unwrap_or_else(|| "unknown".to_string());
                parse_into(&mut records, 1, &bytes, &fallback);
                tags.resize(records.len(), index);
                if hash {
                    hashes.push((index, super::sha256_bytes(&bytes)));
                }
            }
            let first = group[0].1.to_path_buf();
            let (mut frame, skipped) = records.into_frame().map_err(|e| (first.clone(), e))?;
            frame
                .with_column(Column::new(super::canonical::FILE.into(), tags))
                .map_err(|e| (first, e.into()))?;
            Ok(super::Part {
                frame,
                skipped,
                hashes,
            })
        })
        .collect::<Result<_, (std::path::PathBuf, super::AdapterError)>>()?;
    let mut scan = super::stack(groups, files)?.into_scan();
    scan.frame = scan.frame.with_columns([
        lit("estimated").alias(schema::TIER),
        lit("claude-code").alias(schema::TOOL),
    ]);
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_come_from_the_working_directory_or_the_path() {
        assert_eq!(user_of("/home/dana/src/api"), Some("dana"));
        assert_eq!(user_of("/Users/eli/work"), Some("eli"));
        assert_eq!(user_of("C:\\Users\\fay\\repo"), Some("fay"));
        assert_eq!(user_of("/srv/build"), None);
        assert_eq!(
            user_of_path(Path::new("/exports/gus/.claude/projects/p/s.jsonl")).as_deref(),
            Some("gus")
        );
    }
}
