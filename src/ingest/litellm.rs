//! LiteLLM proxy spend logs: a CSV export of the `LiteLLM_SpendLogs` table (`\copy (SELECT …
//! FROM "LiteLLM_SpendLogs") TO … CSV HEADER`, or the admin UI's export), one row per request
//! through the proxy. Columns are found by header name (the table gains columns between
//! releases); those read here are in LiteLLM's `schema.prisma` model `LiteLLM_SpendLogs`.
//!
//! | canonical | column |
//! |---|---|
//! | `ts` | `startTime` (Postgres text such as `2026-10-05 09:14:03.512`, naive = UTC; `+00` offsets accepted) |
//! | `agent` | `user` (the proxy's internal user id), else `end_user` (the customer id sent with the request), else the key alias in `metadata.user_api_key_alias`, else `api_key` (the hashed key id) |
//! | `team` | the team alias in `metadata.user_api_key_team_alias`, else `team_id` |
//! | `model` | `model`, else `model_group` |
//! | `input_tokens` | `prompt_tokens` − cache reads − cache writes (see below) |
//! | `output_tokens` | `completion_tokens` |
//! | `cache_read_tokens` | `cache_read_input_tokens`, else `prompt_tokens_details.cached_tokens`, from `metadata.usage_object` (else `metadata.additional_usage_values`) |
//! | `cache_write_tokens` | `cache_creation_input_tokens`, else `prompt_tokens_details.cache_creation_tokens`, from the same object |
//! | `cost_usd` | `spend` (dollars) when positive |
//! | `requests` | 1 |
//! | `session_id` | `session_id` |
//! | `request_id` | `request_id` (LiteLLM's primary key) |
//! | `tool` | `litellm` |
//!
//! - **`prompt_tokens` includes cached tokens.** LiteLLM reports usage the OpenAI way:
//!   `prompt_tokens` is the whole input, and for Anthropic-style providers it adds cache reads
//!   and cache writes into it. The cache split is only in the `metadata` JSON, so it is
//!   subtracted from there to get uncached input. LiteLLM releases before cache writes were
//!   added in counted only cache reads: when `prompt_tokens` is smaller than reads plus
//!   writes, only the reads are subtracted; a row whose reads alone exceed `prompt_tokens` is
//!   quarantined.
//! - **Tier `estimated`, with LiteLLM's figure as the cost.** `spend` is the proxy's own
//!   computation (its price map, or prices configured per deployment, times the tokens the
//!   provider reported), not a vendor's invoice: no credits, commitments or provider-side
//!   adjustments, and known to log $0 for models it has no price for (BerriAI/litellm#21023).
//!   So rows are labelled `estimated`, like list-priced logs, while a positive `spend` is kept
//!   as `cost_usd` so negotiated per-deployment prices win over the price table. A `spend` of
//!   0 on a row with tokens is read as "not priced" and left empty: the price table prices it,
//!   or the report lists the model as unpriced, instead of counting it free.
//! - **Skipped and counted:** responses served from LiteLLM's own cache (`cache_hit` true: no
//!   model was called), failed requests (`status` `failure`), and rows without tokens or spend.
//! - **Quarantined:** a record that cannot be split as CSV or has the wrong number of fields, a
//!   token count or `spend` that is not a number, or `metadata` that is not JSON, with its line
//!   (the line the record starts on; the header is line 1) and text. The export's `messages`,
//!   `response` and `proxy_server_request` columns are never parsed.

use std::path::Path;

use serde::Deserialize;

use super::fields::{header_and_records, parse_count, parse_decimal, Count, CsvHeader};
use super::records::Records;
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct LiteLlmAdapter;

#[derive(Deserialize, Default)]
struct Metadata {
    usage_object: Option<UsageObject>,
    additional_usage_values: Option<UsageObject>,
    user_api_key_alias: Option<String>,
    user_api_key_team_alias: Option<String>,
}

#[derive(Deserialize)]
struct UsageObject {
    cache_read_input_tokens: Option<Count>,
    cache_creation_input_tokens: Option<Count>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<Count>,
    cache_creation_tokens: Option<Count>,
}

impl Metadata {
    /// Cache reads and writes, from the usage object LiteLLM logged.
    fn cache(&self) -> (u64, u64) {
        let Some(usage) = self
            .usage_object
            .as_ref()
            .or(self.additional_usage_values.as_ref())
        else {
            return (0, 0);
        };
        let details = usage.prompt_tokens_details.as_ref();
        let read = usage
            .cache_read_input_tokens
            .or(details.and_then(|d| d.cached_tokens));
        let write = usage
            .cache_creation_input_tokens
            .or(details.and_then(|d| d.cache_creation_tokens));
        (read.map_or(0, |c| c.0), write.map_or(0, |c| c.0))
    }
}

/// Uncached input, cache read, cache write from `prompt_tokens` and the cache split.
fn split_prompt(prompt: u64, read: u64, write: u64) -> Result<[u64; 3], String> {
    if let Some(input) = prompt.checked_sub(read + write) {
        return Ok([input, read, write]);
    }
    // Older releases left cache writes out of `prompt_tokens`.
    prompt
        .checked_sub(read)
        .map(|input| [input, read, write])
        .ok_or_else(|| {
            format!("cache reads ({read}) exceed `prompt_tokens` ({prompt}), which includes them")
        })
}

/// `+00` → `+00:00`: Postgres writes short offsets for `timestamptz`.
fn postgres_time(text: &str) -> String {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let short_offset = n > 3
        && matches!(bytes[n - 3], b'+' | b'-')
        && bytes[n - 2].is_ascii_digit()
        && bytes[n - 1].is_ascii_digit()
        && text[..n - 3].contains(':');
    if short_offset {
        format!("{text}:00")
    } else {
        text.to_string()
    }
}

struct Columns {
    request_id: usize,
    start: usize,
    prompt: usize,
    completion: usize,
    model: usize,
    spend: Option<usize>,
    model_group: Option<usize>,
    user: Option<usize>,
    end_user: Option<usize>,
    api_key: Option<usize>,
    team_id: Option<usize>,
    metadata: Option<usize>,
    cache_hit: Option<usize>,
    status: Option<usize>,
    session_id: Option<usize>,
}

fn columns(header: &CsvHeader) -> Result<Columns, super::AdapterError> {
    let need = |name: &str| {
        header
            .find(&[name])
            .ok_or_else(|| super::AdapterError::NotThisExport {
                export: "a LiteLLM_SpendLogs export",
                why: format!("no `{name}` column (found: {})", header.names()),
            })
    };
    Ok(Columns {
        request_id: need("request_id")?,
        start: need("startTime")?,
        prompt: need("prompt_tokens")?,
        completion: need("completion_tokens")?,
        model: need("model")?,
        spend: header.find(&["spend"]),
        model_group: header.find(&["model_group"]),
        user: header.find(&["user"]),
        end_user: header.find(&["end_user"]),
        api_key: header.find(&["api_key"]),
        team_id: header.find(&["team_id"]),
        metadata: header.find(&["metadata"]),
        cache_hit: header.find(&["cache_hit"]),
        status: header.find(&["status"]),
        session_id: header.find(&["session_id"]),
    })
}

const TEXT: [&str; 7] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TEAM,
    schema::TOOL,
    schema::SESSION_ID,
    schema::REQUEST_ID,
];
const COUNTS: [&str; 5] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
    schema::REQUESTS,
];

fn read_bytes(bytes: &[u8]) -> Result<Scan, super::AdapterError> {
    let mut records = Records::new(&TEXT, &COUNTS, &[schema::COST_USD]);
    let (header, parsed) = header_and_records(bytes, "a LiteLLM_SpendLogs export")?;
    let at = columns(&header)?;
    for record in parsed {
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                let reason = format!("not a CSV record: {}", err.reason);
                records.unreadable(err.line, reason, err.raw);
                continue;
            }
        };
        let (line, raw) = (record.line, record.raw);
        if record.fields.len() != header.len() {
            let reason = format!(
                "has {} fields, the header has {}",
                record.fields.len(),
                header.len()
            );
            records.unreadable(line, reason, raw);
            continue;
        }
        let field = |i: usize| record.fields[i].trim();
        let optional = |i: Option<usize>| i.map(field).filter(|v| !v.is_empty());
        if optional(at.cache_hit).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            records.skip("responses served from the proxy's cache (no model call)");
            continue;
        }
        if optional(at.status).is_some_and(|v| v.eq_ignore_ascii_case("failure")) {
            records.skip("failed requests");
            continue;
        }
        let count = |i: usize, name: &str| match field(i) {
            "" => Ok(0),
            text => parse_count(text)
                .ok_or_else(|| format!("`{name}` is `{text}`, expected a whole number")),
        };
        let spend = match optional(at.spend) {
            None => Ok(0.0),
            Some(text) => {
                parse_decimal(text).ok_or_else(|| format!("`spend` is `{text}`, expected dollars"))
            }
        };
        let metadata = match optional(at.metadata) {
            None => Ok(Metadata::default()),
            Some(text) => serde_json::from_str::<Metadata>(text)
                .map_err(|err| format!("`metadata` is not LiteLLM's metadata JSON: {err}")),
        };
        let values = (|| {
            let prompt = count(at.prompt, "prompt_tokens")?;
            let completion = count(at.completion, "completion_tokens")?;
            let metadata = metadata?;
            let (read, write) = metadata.cache();
            let split = split_prompt(prompt, read, write)?;
            Ok::<_, String>((split, completion, spend?, metadata))
        })();
        let ([input, cache_read, cache_write], output, spend, metadata) = match values {
            Ok(values) => values,
            Err(reason) => {
                records.unreadable(line, reason, raw);
                continue;
            }
        };
        if input + output + cache_read + cache_write == 0 && spend == 0.0 {
            records.skip("rows without tokens or spend");
            continue;
        }
        records.row(line);
        records.text(schema::TS, postgres_time(field(at.start)));
        let agent = optional(at.user)
            .or(optional(at.end_user))
            .or(metadata
                .user_api_key_alias
                .as_deref()
                .filter(|a| !a.is_empty()))
            .or(optional(at.api_key));
        if let Some(agent) = agent {
            records.text(schema::AGENT, agent);
        }
        if let Some(model) = Some(field(at.model))
            .filter(|m| !m.is_empty())
            .or(optional(at.model_group))
        {
            records.text(schema::MODEL, model);
        }
        let team = metadata
            .user_api_key_team_alias
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(optional(at.team_id));
        if let Some(team) = team {
            records.text(schema::TEAM, team);
        }
        records.text(schema::TOOL, "litellm");
        if let Some(session) = optional(at.session_id) {
            records.text(schema::SESSION_ID, session);
        }
        if let Some(id) = Some(field(at.request_id)).filter(|id| !id.is_empty()) {
            records.text(schema::REQUEST_ID, id);
        }
        for (column, value) in COUNTS
            .iter()
            .zip([input, output, cache_read, cache_write, 1])
        {
            records.count(column, value);
        }
        if spend != 0.0 {
            records.amount(schema::COST_USD, spend);
        }
    }
    records.finish_as("estimated")
}

impl Adapter for LiteLlmAdapter {
    fn name(&self) -> &'static str {
        "litellm"
    }

    fn names(&self) -> &'static [&'static str] {
        &["litellm", "litellm-spendlogs", "litellm-spend-logs"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.csv` with canonical CSV: recognised by its header.
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::fields::csv_head_has(
            head,
            &["request_id", "call_type", "startTime", "prompt_tokens"],
        )
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Usage]
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        read_bytes(&std::fs::read(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::canonical::ERROR;

    #[test]
    fn cached_tokens_come_out_of_prompt_tokens() {
        // Current releases: reads and writes inside prompt_tokens.
        assert_eq!(split_prompt(10_000, 8_000, 1_500), Ok([500, 8_000, 1_500]));
        // Older releases: writes outside.
        assert_eq!(split_prompt(9_000, 8_000, 1_500), Ok([1_000, 8_000, 1_500]));
        assert!(split_prompt(100, 200, 0).is_err());
        assert_eq!(
            postgres_time("2026-10-05 09:14:03.512+00"),
            "2026-10-05 09:14:03.512+00:00"
        );
        assert_eq!(
            postgres_time("2026-10-05 09:14:03.512"),
            "2026-10-05 09:14:03.512"
        );
        assert_eq!(postgres_time("2026-10-05"), "2026-10-05");
    }

    #[test]
    fn rows_skips_and_quarantine() {
        let csv = concat!(
            "request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,endTime,model,model_group,user,metadata,cache_hit,team_id,end_user,session_id,status\n",
            "r1,acompletion,88dc28,0.0123,10300,10000,300,2026-10-05 09:14:03.512,2026-10-05 09:14:09.001,claude-sonnet-4-5-20250929,claude-sonnet,dana,\"{\"\"usage_object\"\": {\"\"cache_read_input_tokens\"\": 8000, \"\"cache_creation_input_tokens\"\": 1500}, \"\"user_api_key_team_alias\"\": \"\"platform\"\"}\",False,team-1,,s1,success\n",
            "r2,acompletion,88dc28,0.0,120,100,20,2026-10-05 09:15:00.000,2026-10-05 09:15:01.000,gpt-5.4,gpt-5.4,,{},True,,,,success\n",
            "r3,acompletion,a73dc2,0,120,100,20,2026-10-05 09:16:00.000,2026-10-05 09:16:01.000,gpt-5.4,gpt-5.4,,{},False,,,,success\n",
            "r4,acompletion,a73dc2,0.01,x,abc,20,2026-10-05 09:17:00.000,2026-10-05 09:17:01.000,gpt-5.4,gpt-5.4,,{},False,,,,success\n",
            "r5,acompletion,a73dc2,0,0,0,0,2026-10-05 09:18:00.000,2026-10-05 09:18:01.000,gpt-5.4,gpt-5.4,,{},False,,,,failure\n",
        );
        let scan = read_bytes(csv.as_bytes()).unwrap();
        let frame = scan.frame.collect().unwrap();
        let input: Vec<_> = frame
            .column(schema::INPUT_TOKENS)
            .unwrap()
            .u64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(input, [Some(500), Some(100), None]);
        let costs: Vec<_> = frame
            .column(schema::COST_USD)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        // A spend of 0 with tokens is "not priced", left for the price table.
        assert_eq!(costs, [Some(0.0123), None, None]);
        let agents: Vec<_> = frame
            .column(schema::AGENT)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(agents, [Some("dana"), Some("a73dc2"), None]);
        let teams: Vec<_> = frame
            .column(schema::TEAM)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(teams, [Some("platform"), None, None]);
        assert!(frame
            .column(ERROR)
            .unwrap()
            .str()
            .unwrap()
            .get(2)
            .unwrap()
            .contains("`abc`"));
        assert_eq!(scan.skipped.values().sum::<u64>(), 2);
    }
}
