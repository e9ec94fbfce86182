//! Claude Code Analytics API (`GET /v1/organizations/usage_report/claude_code`), saved as the
//! API returns it: `{data: [record…], has_more, next_page}`, one record per person (or API key)
//! per UTC day. Each record holds both sides of the audit, so a file is read for usage *and*
//! outputs whichever flag it is given with. Paged like the Admin API reports: one page per file,
//! an array of pages, or one page per line. Tier `estimated`: the cost is the API's
//! `estimated_cost`, not a bill.
//!
//! Usage, one row per `model_breakdown` entry:
//!
//! | canonical | Claude Code Analytics field |
//! |---|---|
//! | `ts` | `date` (the UTC day) |
//! | `agent` | `actor.email_address` (`user_actor`), else `actor.api_key_name` (`api_actor`) |
//! | `model` | `model_breakdown[].model` |
//! | `input_tokens` | `tokens.input` (uncached: cache reads and writes are outside it) |
//! | `output_tokens` | `tokens.output` |
//! | `cache_read_tokens` | `tokens.cache_read` |
//! | `cache_write_tokens` | `tokens.cache_creation` |
//! | `cost_usd` | `estimated_cost.amount` ÷ 100 (cents; a number or a decimal string) |
//! | `requests` | not in the report: left empty (each row counts as one) |
//! | `tool` | `claude-code` |
//! | `request_id` | `claude-code-analytics:<date>:<actor>:<terminal_type>:<model>`, so a record saved in two overlapping exports counts once |
//! | `tier` | `estimated` |
//!
//! Outputs, one row per kind with a non-zero amount (`ts` = `date`, `agent` as above, `ref` =
//! `claude-code-analytics:<date>:<actor>:<terminal_type>:<kind>`, no `repo`: the report names
//! none):
//!
//! | kind | Claude Code Analytics field |
//! |---|---|
//! | `commit` | `core_metrics.commits_by_claude_code` |
//! | `pull_request` | `core_metrics.pull_requests_by_claude_code`: pull requests Claude Code *created*, merged or not, so a custom kind and not `pr_merged` |
//! | `loc_added` | `core_metrics.lines_of_code.added` |
//! | `loc_removed` | `core_metrics.lines_of_code.removed` |
//! | `edit_accepted` | `accepted`, summed over `tool_actions` (`edit_tool`, `multi_edit_tool`, `write_tool`, `notebook_edit_tool`) |
//! | `edit_rejected` | `rejected`, summed the same way |
//!
//! - **Not read:** `organization_id`, `customer_type`, `subscription_type`,
//!   `core_metrics.num_sessions` (a count of sessions with no ids: no canonical column).
//! - **Skipped and counted** (on the usage side only, so a file read for both tables counts each
//!   record once): records with neither model usage nor outputs.
//! - **Quarantined**, whole and once (on the usage side): a record with a wrong-typed field,
//!   an actor with neither `email_address` nor `api_key_name`, an `estimated_cost` in another
//!   currency than USD, a page that is not a report page, a line that is not JSON. The `_row` is
//!   the record's 1-based position in `data`, counted on across the pages of the file; the reason
//!   starts with the jq path of the field (`.data[4].model_breakdown[0].tokens.output`).
//! - **Double counting.** The same Claude Code requests appear in Claude Code's local logs
//!   (`claude_code`) and its OpenTelemetry events (`otel`), and, for API-key users, in the Admin
//!   API usage report: give one source per person and period.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::fields::Cents;
use super::records::Records;
use super::vendor_json::{self, Record};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct ClaudeCodeAnalyticsAdapter;

#[derive(Deserialize)]
struct Day<'a> {
    #[serde(borrow)]
    date: Cow<'a, str>,
    #[serde(borrow)]
    terminal_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    actor: Actor<'a>,
    core_metrics: Option<CoreMetrics>,
    #[serde(default)]
    tool_actions: BTreeMap<String, Decisions>,
    #[serde(borrow, default)]
    model_breakdown: Vec<ModelUsage<'a>>,
}

#[derive(Deserialize)]
struct Actor<'a> {
    #[serde(borrow)]
    email_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    api_key_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct CoreMetrics {
    lines_of_code: Option<LinesOfCode>,
    commits_by_claude_code: Option<u64>,
    pull_requests_by_claude_code: Option<u64>,
}

#[derive(Deserialize)]
struct LinesOfCode {
    added: Option<u64>,
    removed: Option<u64>,
}

#[derive(Deserialize)]
struct Decisions {
    accepted: Option<u64>,
    rejected: Option<u64>,
}

#[derive(Deserialize)]
struct ModelUsage<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    tokens: Tokens,
    #[serde(borrow)]
    estimated_cost: Option<Cost<'a>>,
}

#[derive(Deserialize)]
struct Tokens {
    input: u64,
    output: u64,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
}

#[derive(Deserialize)]
struct Cost<'a> {
    #[serde(borrow)]
    currency: Option<Cow<'a, str>>,
    amount: Cents,
}

const USAGE_TEXT: [&str; 5] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TOOL,
    schema::REQUEST_ID,
];
const USAGE_COUNTS: [&str; 4] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
];
const USAGE_AMOUNTS: [&str; 1] = [schema::COST_USD];
const OUTPUT_TEXT: [&str; 4] = [schema::TS, schema::AGENT, schema::KIND, schema::REF];
const OUTPUT_AMOUNTS: [&str; 1] = [schema::AMOUNT];

/// A record and its agent, or the whole reason it cannot be read (place included).
fn day<'v>(record: &Record<'v>) -> Result<(Day<'v>, String), String> {
    let day: Day = record.parse()?;
    let agent = [&day.actor.email_address, &day.actor.api_key_name]
        .into_iter()
        .find_map(|name| name.as_deref().map(str::trim).filter(|n| !n.is_empty()))
        .ok_or_else(|| record.reason(".actor", "has neither `email_address` nor `api_key_name`"))?
        .to_string();
    for (i, usage) in day.model_breakdown.iter().enumerate() {
        let Some(cost) = &usage.estimated_cost else {
            continue;
        };
        let currency = cost.currency.as_deref().unwrap_or("USD");
        if !currency.eq_ignore_ascii_case("USD") {
            return Err(record.reason(
                &format!(".model_breakdown[{i}].estimated_cost.currency"),
                &format!("`{currency}`; only USD is read (cost_usd is dollars and no exchange rate is guessed)"),
            ));
        }
    }
    Ok((day, agent))
}

/// Delivered artifacts of a day, by kind; kinds with nothing delivered are left out.
fn outputs(day: &Day) -> Vec<(&'static str, u64)> {
    let core = day.core_metrics.as_ref();
    let loc = core.and_then(|c| c.lines_of_code.as_ref());
    let decided = |pick: fn(&Decisions) -> Option<u64>| {
        day.tool_actions
            .values()
            .map(|d| pick(d).unwrap_or(0))
            .sum::<u64>()
    };
    [
        ("commit", core.and_then(|c| c.commits_by_claude_code)),
        (
            "pull_request",
            core.and_then(|c| c.pull_requests_by_claude_code),
        ),
        ("loc_added", loc.and_then(|l| l.added)),
        ("loc_removed", loc.and_then(|l| l.removed)),
        ("edit_accepted", Some(decided(|d| d.accepted))),
        ("edit_rejected", Some(decided(|d| d.rejected))),
    ]
    .into_iter()
    .filter_map(|(kind, amount)| amount.filter(|a| *a > 0).map(|a| (kind, a)))
    .collect()
}

fn key(day: &Day, agent: &str) -> String {
    format!(
        "claude-code-analytics:{}:{agent}:{}",
        day.date,
        day.terminal_type.as_deref().unwrap_or("")
    )
}

fn read_usage(records: &mut Records, record: Record) {
    let (day, agent) = match day(&record) {
        Ok(read) => read,
        Err(reason) => {
            records.unreadable(record.number, reason, &vendor_json::raw(record.value));
            return;
        }
    };
    if day.model_breakdown.is_empty() && outputs(&day).is_empty() {
        records.skip("records with no usage and no outputs");
        return;
    }
    let key = key(&day, &agent);
    for usage in &day.model_breakdown {
        records.row(record.number);
        records.text(schema::TS, day.date.as_ref());
        records.text(schema::AGENT, agent.as_str());
        records.text(schema::MODEL, usage.model.as_ref());
        records.text(schema::TOOL, "claude-code");
        records.text(schema::REQUEST_ID, format!("{key}:{}", usage.model));
        let tokens = &usage.tokens;
        records.count(schema::INPUT_TOKENS, tokens.input);
        records.count(schema::OUTPUT_TOKENS, tokens.output);
        records.count(schema::CACHE_READ_TOKENS, tokens.cache_read.unwrap_or(0));
        records.count(
            schema::CACHE_WRITE_TOKENS,
            tokens.cache_creation.unwrap_or(0),
        );
        if let Some(cost) = &usage.estimated_cost {
            records.amount(schema::COST_USD, cost.amount.dollars);
        }
    }
}

fn read_outputs(records: &mut Records, record: Record) {
    // Unreadable records are quarantined once, by the usage side.
    let Ok((day, agent)) = day(&record) else {
        return;
    };
    let key = key(&day, &agent);
    for (kind, amount) in outputs(&day) {
        records.row(record.number);
        records.text(schema::TS, day.date.as_ref());
        records.text(schema::AGENT, agent.as_str());
        records.text(schema::KIND, kind);
        records.text(schema::REF, format!("{key}:{kind}"));
        records.amount(schema::AMOUNT, amount as f64);
    }
}

fn records_of(bytes: &[u8], table: Table) -> Result<Records, super::AdapterError> {
    const WHAT: &str = "a Claude Code usage report page";
    Ok(match table {
        Table::Usage => {
            let mut records = Records::new(&USAGE_TEXT, &USAGE_COUNTS, &USAGE_AMOUNTS);
            vendor_json::each_record(bytes, WHAT, &mut records, read_usage)?;
            records
        }
        Table::Outputs => {
            let mut records = Records::new(&OUTPUT_TEXT, &[], &OUTPUT_AMOUNTS);
            // Documents and pages that cannot be read are quarantined by the usage side too.
            let mut ignored = Records::new(&[], &[], &[]);
            vendor_json::each_record(bytes, WHAT, &mut ignored, |_, record| {
                read_outputs(&mut records, record)
            })?;
            records
        }
    })
}

pub fn read(path: &Path, table: Table) -> Result<Scan, super::AdapterError> {
    let bytes = std::fs::read(path)?;
    let records = records_of(&bytes, table)?;
    match table {
        Table::Usage => records.finish_as("estimated"),
        Table::Outputs => records.finish(),
    }
}

impl Adapter for ClaudeCodeAnalyticsAdapter {
    fn name(&self) -> &'static str {
        "claude-code-analytics"
    }

    fn names(&self) -> &'static [&'static str] {
        &["claude-code-analytics"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.json` with canonical NDJSON: recognised by content.
        &[]
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Usage, Table::Outputs]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let has = |key| vendor_json::has_key(head, key);
        has("actor") && (has("core_metrics") || has("model_breakdown"))
    }

    fn scan(&self, path: &Path, table: Table) -> Result<Scan, super::AdapterError> {
        read(path, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    const DAY: &str = r#"{"data":[
      {"date":"2026-09-07","actor":{"type":"user_actor","email_address":"dana@corp.example"},"terminal_type":"vscode",
       "core_metrics":{"num_sessions":3,"lines_of_code":{"added":120,"removed":0},"commits_by_claude_code":2,"pull_requests_by_claude_code":1},
       "tool_actions":{"edit_tool":{"accepted":5,"rejected":1},"write_tool":{"accepted":2,"rejected":0}},
       "model_breakdown":[{"model":"claude-sonnet-4","tokens":{"input":100,"output":50,"cache_read":9000,"cache_creation":400},
                           "estimated_cost":{"currency":"USD","amount":186}}]},
      {"date":"2026-09-07","actor":{"type":"api_actor","api_key_name":"ci-bot"},"model_breakdown":[]},
      {"date":"2026-09-07","actor":{"type":"user_actor"},"model_breakdown":[]}]}"#;

    fn frame(table: Table) -> (DataFrame, Scan) {
        let scan = records_of(DAY.as_bytes(), table).unwrap().finish().unwrap();
        (scan.frame.clone().collect().unwrap(), scan)
    }

    #[test]
    fn one_record_gives_usage_per_model_and_outputs_per_kind() {
        let (usage, scan) = frame(Table::Usage);
        // Row 1 the usage, row 2 skipped (nothing in it), row 3 quarantined (no actor name).
        assert_eq!(usage.height(), 2);
        assert_eq!(scan.skipped["records with no usage and no outputs"], 1);
        let cost = usage.column("cost_usd").unwrap().f64().unwrap().get(0);
        assert_eq!(cost, Some(1.86)); // 186 cents
        let reason = usage
            .column("_error")
            .unwrap()
            .str()
            .unwrap()
            .get(1)
            .unwrap();
        assert!(
            reason.starts_with("`.data[2].actor`: has neither"),
            "{reason}"
        );

        let (outputs, scan) = frame(Table::Outputs);
        assert!(
            scan.skipped.is_empty(),
            "skips are counted by the usage side only"
        );
        let kinds: Vec<_> = outputs
            .column("kind")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(
            kinds,
            [
                "commit",
                "pull_request",
                "loc_added",
                "edit_accepted",
                "edit_rejected"
            ]
        );
        let amounts: Vec<_> = outputs
            .column("amount")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(amounts, [2.0, 1.0, 120.0, 7.0, 1.0]);
        let first_ref = outputs
            .column("ref")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(
            first_ref,
            "claude-code-analytics:2026-09-07:dana@corp.example:vscode:commit"
        );
    }
}
