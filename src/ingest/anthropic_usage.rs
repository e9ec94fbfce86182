//! Anthropic Admin API Messages usage report (`GET /v1/organizations/usage_report/messages`),
//! saved as the API returns it: `{data: [{starting_at, ending_at, results: […]}], has_more,
//! next_page}`. Paged exports are read page by page: one page per file (`page1.json`,
//! `page2.json`), an array of pages, or one page per line. Token counts only: the report has no
//! cost, so rows are priced from the price table (tier `estimated`); the cost report
//! (`anthropic_cost`) carries the bill.
//!
//! | canonical | usage report field |
//! |---|---|
//! | `ts` | the bucket's `starting_at` (buckets of 1m, 1h or 1d) |
//! | `agent` | `account_id`, else `service_account_id`, else `api_key_id`, else `workspace_id`, else `organization` |
//! | `model` | `model` |
//! | `input_tokens` | `uncached_input_tokens` (cache reads and writes are outside it) |
//! | `output_tokens` | `output_tokens` |
//! | `cache_read_tokens` | `cache_read_input_tokens` |
//! | `cache_write_tokens` | `cache_creation.ephemeral_5m_input_tokens` + `cache_creation.ephemeral_1h_input_tokens` |
//! | `requests` | not in the report: left empty (each row counts as one) |
//! | `cost_usd` | not in the report: priced from the price table |
//! | `tool` | `anthropic-api` |
//! | `request_id` | `anthropic-usage:<starting_at>/<ending_at>:<group keys>`: the bucket and its group, so a bucket saved in two overlapping exports counts once |
//! | `tier` | `estimated` |
//!
//! - **Agent.** Group keys are null unless the report was grouped by them (`group_by[]`). The
//!   most personal one present names the agent: a Console account, then a service account,
//!   then an API key (often one per person or per app), then a workspace (a team). A report
//!   grouped by none of them is one agent, `organization`: its spend is audited as a whole.
//!   Group by `account_id` or `api_key_id` for a per-person audit.
//! - **Model.** A result without `model` (the report was not grouped by model) is quarantined:
//!   its tokens cannot be priced. Group by `model`.
//! - **Not read:** `server_tool_use.web_search_requests` (web searches are billed per search, not
//!   per token; the cost report has their cost), `service_tier`, `context_window`,
//!   `inference_geo` and `speed` (part of the dedup key only).
//! - **Skipped and counted:** results whose four token counts are all zero.
//! - **Quarantined:** a result whose counts are not whole numbers, a bucket without
//!   `starting_at` or `results`, a page that is not a report page, a line that is not JSON. The
//!   `_row` of a quarantined record is the bucket's 1-based position in `data`, counted on across
//!   the pages of the file (a page that cannot be read takes one number); the reason starts with
//!   the jq path of the field (`.data[2].results[1].output_tokens`, 0-based as jq counts).
//! - **Double counting.** The cost report covers the same spend. Give one of the two per
//!   period: the audit warns when a run reads both.

use std::borrow::Cow;
use std::path::Path;

use serde::Deserialize;

use super::records::Records;
use super::vendor_json::{self, Record};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct AnthropicUsageAdapter;

#[derive(Deserialize)]
struct UsageResult<'a> {
    uncached_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    api_key_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    workspace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_tier: Option<Cow<'a, str>>,
    #[serde(borrow)]
    context_window: Option<Cow<'a, str>>,
    #[serde(borrow)]
    inference_geo: Option<Cow<'a, str>>,
    #[serde(borrow)]
    speed: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

const TEXT: [&str; 5] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TOOL,
    schema::REQUEST_ID,
];
const COUNTS: [&str; 4] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
];

/// The agent a result is attributed to: the most personal group key present.
fn agent_of<'r>(result: &'r UsageResult) -> &'r str {
    [
        &result.account_id,
        &result.service_account_id,
        &result.api_key_id,
        &result.workspace_id,
    ]
    .into_iter()
    .find_map(|key| key.as_deref().filter(|k| !k.trim().is_empty()))
    .unwrap_or("organization")
}

fn read_bucket(records: &mut Records, bucket: Record) {
    let Some((head, results)) = vendor_json::bucket(&bucket, records) else {
        return;
    };
    for item in results {
        let result: UsageResult = match item.parse() {
            Ok(result) => result,
            Err(reason) => {
                records.unreadable(item.number, reason, &vendor_json::raw(item.value));
                continue;
            }
        };
        let cache_write = result.cache_creation.as_ref().map_or(0, |c| {
            c.ephemeral_5m_input_tokens.unwrap_or(0) + c.ephemeral_1h_input_tokens.unwrap_or(0)
        });
        let tokens = [
            result.uncached_input_tokens,
            result.output_tokens,
            result.cache_read_input_tokens,
            Some(cache_write),
        ];
        if tokens.iter().all(|t| t.unwrap_or(0) == 0) {
            records.skip("results with no tokens");
            continue;
        }
        let Some(model) = result.model.as_deref().filter(|m| !m.trim().is_empty()) else {
            item.unreadable(
                records,
                "no `model`, so its tokens cannot be priced; export the report with group_by[]=model",
            );
            continue;
        };
        records.row(item.number);
        records.text(schema::TS, head.starting_at.as_ref());
        records.text(schema::AGENT, agent_of(&result));
        records.text(schema::MODEL, model);
        records.text(schema::TOOL, "anthropic-api");
        let keys = [
            &result.model,
            &result.account_id,
            &result.service_account_id,
            &result.api_key_id,
            &result.workspace_id,
            &result.service_tier,
            &result.context_window,
            &result.inference_geo,
            &result.speed,
        ]
        .map(|k| k.as_deref().unwrap_or(""))
        .join("|");
        records.text(
            schema::REQUEST_ID,
            format!(
                "anthropic-usage:{}/{}:{keys}",
                head.starting_at,
                head.ending_at.as_deref().unwrap_or("")
            ),
        );
        // Input and output are required: a result without them is left for `canonical` to
        // quarantine; cache counts default to zero.
        for (column, value) in COUNTS.iter().zip(tokens) {
            if let Some(value) = value {
                records.count(column, value);
            }
        }
    }
}

pub fn read(path: &Path) -> Result<Scan, super::AdapterError> {
    let bytes = std::fs::read(path)?;
    let mut records = Records::new(&TEXT, &COUNTS, &[]);
    vendor_json::each_record(&bytes, "a usage report page", &mut records, read_bucket)?;
    records.finish_as("estimated")
}

impl Adapter for AnthropicUsageAdapter {
    fn name(&self) -> &'static str {
        "anthropic-usage"
    }

    fn names(&self) -> &'static [&'static str] {
        &["anthropic-usage"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.json` with canonical NDJSON: recognised by content.
        &[]
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Usage]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let has = |key| vendor_json::has_key(head, key);
        has("starting_at") && has("uncached_input_tokens")
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn rows(json: &str) -> (DataFrame, Scan) {
        let mut records = Records::new(&TEXT, &COUNTS, &[]);
        vendor_json::each_record(
            json.as_bytes(),
            "a usage report page",
            &mut records,
            read_bucket,
        )
        .unwrap();
        let scan = records.finish().unwrap();
        (scan.frame.clone().collect().unwrap(), scan)
    }

    #[test]
    fn the_most_personal_group_key_names_the_agent() {
        let (frame, _) = rows(
            r#"{"data":[{"starting_at":"2026-09-07T00:00:00Z","ending_at":"2026-09-08T00:00:00Z","results":[
            {"uncached_input_tokens":1,"output_tokens":1,"model":"m","api_key_id":"k","workspace_id":"w"},
            {"uncached_input_tokens":1,"output_tokens":1,"model":"m","workspace_id":"w"},
            {"uncached_input_tokens":1,"output_tokens":1,"model":"m","account_id":"a","api_key_id":"k"},
            {"uncached_input_tokens":1,"output_tokens":1,"model":"m","account_id":null}]}]}"#,
        );
        let agents: Vec<_> = frame
            .column("agent")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(agents, ["k", "w", "a", "organization"]);
    }

    #[test]
    fn cache_writes_add_both_lifetimes_and_input_stays_uncached() {
        let (frame, _) = rows(
            r#"{"data":[{"starting_at":"2026-09-07T00:00:00Z","results":[
            {"uncached_input_tokens":100,"output_tokens":20,"cache_read_input_tokens":5000,
             "cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":40},"model":"m"}]}]}"#,
        );
        let count = |c: &str| frame.column(c).unwrap().u64().unwrap().get(0).unwrap();
        assert_eq!(count("input_tokens"), 100);
        assert_eq!(count("cache_read_tokens"), 5000);
        assert_eq!(count("cache_write_tokens"), 340);
    }

    #[test]
    fn zero_results_are_skipped_and_modelless_ones_quarantined() {
        let (frame, scan) = rows(
            r#"{"data":[{"starting_at":"2026-09-07T00:00:00Z","results":[]},{"starting_at":"2026-09-08T00:00:00Z","results":[
            {"uncached_input_tokens":0,"output_tokens":0,"model":"m"},
            {"uncached_input_tokens":3,"output_tokens":1}]}]}"#,
        );
        assert_eq!(scan.skipped["results with no tokens"], 1);
        assert_eq!(frame.height(), 1);
        let row = frame.column("_row").unwrap().u64().unwrap().get(0);
        assert_eq!(row, Some(2));
        let reason = frame
            .column("_error")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_string();
        assert!(
            reason.starts_with("`.data[1].results[1]`: no `model`"),
            "{reason}"
        );
    }
}
