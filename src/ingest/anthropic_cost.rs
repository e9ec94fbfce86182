//! Anthropic Admin API cost report (`GET /v1/organizations/cost_report`), saved as the API
//! returns it: `{data: [{starting_at, ending_at, results: […]}], has_more, next_page}`, daily
//! buckets, paged like the usage report (one page per file, an array of pages, or one page per
//! line). What the organization was billed, in cents, per workspace and line item: each result
//! becomes a usage row with no tokens and its cost, tier `billed`.
//!
//! | canonical | cost report field |
//! |---|---|
//! | `ts` | the bucket's `starting_at` |
//! | `agent` | `workspace_id`, else `organization` (the report has no per-person dimension) |
//! | `model` | `model`, else `cost_type` for costs that are not tokens (`web_search`, `code_execution`, `session_usage`), else `unattributed` (the report was not grouped by `description`) |
//! | `input_tokens`, `output_tokens`, `cache_read_tokens`, `cache_write_tokens` | 0: the report has costs, not tokens |
//! | `requests` | 0: a cost line stands for no request count |
//! | `cost_usd` | `amount` ÷ 100: `amount` is a decimal string in cents, `"123.45"` = $1.2345 |
//! | `tool` | `anthropic-api` |
//! | `request_id` | `anthropic-cost:<starting_at>/<ending_at>:<workspace and line item>`, so a bucket saved in two overlapping exports counts once |
//! | `tier` | `billed` |
//!
//! - **Not read:** `description`, `token_type`, `service_tier`, `context_window` and
//!   `inference_geo` name the line item (they are in the dedup key) but have no canonical column.
//! - **Skipped and counted:** results of zero cost.
//! - **Quarantined:** an `amount` that is not a number, a `currency` other than USD (`cost_usd`
//!   is dollars, and no exchange rate is guessed), a bucket or page that cannot be read, a line
//!   that is not JSON; numbered as in the usage report (the bucket's 1-based position in `data`
//!   across the file's pages, the jq path in the reason). A negative amount (a credit) fails
//!   the canonical check on `cost_usd` and is quarantined there.
//! - **Double counting.** This report and the usage report (`anthropic_usage`) describe the same
//!   spend: the usage report's tokens are priced from the price table, this report's lines are
//!   the bill. Giving both for the same period counts the spend twice, so give one per period
//!   (the usage report for per-person token audits, this one for the billed total). The audit
//!   warns on stderr when a run reads both formats. This report has no tokens and no person, so
//!   on its own it supports spend roll-ups (`tokenaudit spend`), not a per-person audit.

use std::borrow::Cow;
use std::path::Path;

use serde::Deserialize;

use super::fields::Cents;
use super::records::Records;
use super::vendor_json::{self, Record};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct AnthropicCostAdapter;

#[derive(Deserialize)]
struct CostResult<'a> {
    amount: Cents,
    #[serde(borrow)]
    currency: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cost_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    token_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service_tier: Option<Cow<'a, str>>,
    #[serde(borrow)]
    context_window: Option<Cow<'a, str>>,
    #[serde(borrow)]
    inference_geo: Option<Cow<'a, str>>,
    #[serde(borrow)]
    workspace_id: Option<Cow<'a, str>>,
}

const TEXT: [&str; 5] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TOOL,
    schema::REQUEST_ID,
];
const COUNTS: [&str; 5] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
    schema::REQUESTS,
];
const AMOUNTS: [&str; 1] = [schema::COST_USD];

fn present<'r>(value: &'r Option<Cow<str>>) -> Option<&'r str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// The model column of a cost line: the model, or what kind of cost it is.
fn model_of<'r>(result: &'r CostResult) -> &'r str {
    present(&result.model)
        .or(present(&result.cost_type).filter(|t| *t != "tokens"))
        .unwrap_or("unattributed")
}

fn read_bucket(records: &mut Records, bucket: Record) {
    let Some((head, results)) = vendor_json::bucket(&bucket, records) else {
        return;
    };
    for item in results {
        let result: CostResult = match item.parse() {
            Ok(result) => result,
            Err(reason) => {
                records.unreadable(item.number, reason, &vendor_json::raw(item.value));
                continue;
            }
        };
        let currency = present(&result.currency).unwrap_or("USD");
        if !currency.eq_ignore_ascii_case("USD") {
            item.unreadable(
                records,
                &format!("`amount` is in `{currency}`; only USD is read (cost_usd is dollars and no exchange rate is guessed)"),
            );
            continue;
        }
        if result.amount.dollars == 0.0 {
            records.skip("results of zero cost");
            continue;
        }
        records.row(item.number);
        records.text(schema::TS, head.starting_at.as_ref());
        records.text(
            schema::AGENT,
            present(&result.workspace_id).unwrap_or("organization"),
        );
        records.text(schema::MODEL, model_of(&result));
        records.text(schema::TOOL, "anthropic-api");
        let keys = [
            &result.workspace_id,
            &result.description,
            &result.cost_type,
            &result.token_type,
            &result.model,
            &result.service_tier,
            &result.context_window,
            &result.inference_geo,
        ]
        .map(|k| k.as_deref().unwrap_or(""))
        .join("|");
        records.text(
            schema::REQUEST_ID,
            format!(
                "anthropic-cost:{}/{}:{keys}",
                head.starting_at,
                head.ending_at.as_deref().unwrap_or("")
            ),
        );
        for column in COUNTS {
            records.count(column, 0);
        }
        records.amount(schema::COST_USD, result.amount.dollars);
    }
}

pub fn read(path: &Path) -> Result<Scan, super::AdapterError> {
    let bytes = std::fs::read(path)?;
    let mut records = Records::new(&TEXT, &COUNTS, &AMOUNTS);
    vendor_json::each_record(&bytes, "a cost report page", &mut records, read_bucket)?;
    records.finish_as("billed")
}

impl Adapter for AnthropicCostAdapter {
    fn name(&self) -> &'static str {
        "anthropic-cost"
    }

    fn names(&self) -> &'static [&'static str] {
        &["anthropic-cost"]
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

    fn same_spend_as(&self) -> Option<(&'static str, &'static str)> {
        Some((
            "anthropic-usage",
            "the Anthropic usage report (tokens, priced from the price table) and the cost report (the bill) cover the same spend; for the same period, give one of them",
        ))
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let has = |key| vendor_json::has_key(head, key);
        has("starting_at") && has("amount") && has("currency") && !has("uncached_input_tokens")
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn frame(json: &str) -> (DataFrame, Scan) {
        let mut records = Records::new(&TEXT, &COUNTS, &AMOUNTS);
        vendor_json::each_record(
            json.as_bytes(),
            "a cost report page",
            &mut records,
            read_bucket,
        )
        .unwrap();
        let scan = records.finish().unwrap();
        (scan.frame.clone().collect().unwrap(), scan)
    }

    #[test]
    fn cents_strings_become_dollars_and_lines_name_their_model_or_kind() {
        let (frame, scan) = frame(
            r#"{"data":[{"starting_at":"2026-09-07T00:00:00Z","ending_at":"2026-09-08T00:00:00Z","results":[
            {"amount":"123.45","currency":"USD","cost_type":"tokens","model":"claude-sonnet-4","workspace_id":"wrkspc_a"},
            {"amount":"250","currency":"USD","cost_type":"web_search","model":null,"workspace_id":null},
            {"amount":"0","currency":"USD"},
            {"amount":"99.5","currency":null}]}]}"#,
        );
        assert_eq!(scan.skipped["results of zero cost"], 1);
        let cost = frame.column("cost_usd").unwrap().f64().unwrap().clone();
        // "123.45" cents = $1.2345; "250" cents = $2.50; "99.5" cents = $0.995.
        assert_eq!(
            cost.into_no_null_iter().collect::<Vec<_>>(),
            [1.2345, 2.5, 0.995]
        );
        let models: Vec<_> = frame
            .column("model")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(models, ["claude-sonnet-4", "web_search", "unattributed"]);
        let agents: Vec<_> = frame
            .column("agent")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(agents, ["wrkspc_a", "organization", "organization"]);
    }

    #[test]
    fn other_currencies_and_non_numbers_are_quarantined() {
        let (frame, _) = frame(
            r#"[{"data":[{"starting_at":"2026-09-07T00:00:00Z","results":[{"amount":"10","currency":"USD"}]}]},
                {"data":[{"starting_at":"2026-09-08T00:00:00Z","results":[
                  {"amount":"10","currency":"EUR"},{"amount":{"value":"10"},"currency":"USD"}]}]}]"#,
        );
        let errors: Vec<_> = frame
            .column("_error")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(errors[0], None);
        assert!(errors[1].unwrap().contains("`EUR`; only USD"), "{errors:?}");
        assert!(
            errors[2]
                .unwrap()
                .starts_with("`.[1].data[0].results[1].amount`"),
            "{errors:?}"
        );
        // Bucket numbers run on across the pages of a file.
        let rows: Vec<_> = frame
            .column("_row")
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(rows, [1, 2, 2]);
    }
}
