//! OpenAI costs: pages of `GET /v1/organization/costs` (Admin key; daily buckets only), saved
//! one page per file or as a JSON array of pages, in the same envelope as the usage export
//! (see `openai_usage`). Each result is what OpenAI charged for one day, grouped by project
//! and/or line item. Tier `billed`: these are the vendor's own figures.
//!
//! | canonical | OpenAI field |
//! |---|---|
//! | `ts` | the bucket's `start_time` (Unix seconds) |
//! | `agent` | `project_id`, else `organization` (costs are never per user or key) |
//! | `model` | `line_item` (e.g. `gpt-5.4, input`, as OpenAI names it), else `not-grouped-by-line-item` |
//! | `cost_usd` | `amount.value`, dollars (a number, or a numeric string as some clients see it) |
//! | `input_tokens` … `cache_write_tokens` | 0: the costs API carries money, not tokens |
//! | `requests` | 0: a cost line is not a request |
//! | `request_id` | `openai-costs:` + bucket start + `project_id` + `line_item`: the same line of the same day read twice counts once |
//! | `tool` | `openai-api` |
//!
//! - **Double count with the usage export.** The usage export (`openai-usage`) has the tokens
//!   of the same requests, which tokenaudit prices at list price; reading both for the same
//!   days counts that spend twice (once estimated from tokens, once billed here). A run that
//!   reads both formats warns on stderr. Use the costs export for money (chargeback, `spend`)
//!   and the usage export for per-user token audits, or read both for different periods.
//! - **Quarantined:** a result whose `amount` is not `{value, currency}` with a numeric value,
//!   or whose currency is not `usd`, with its index among the file's results (as in
//!   `openai_usage`) and its text. A negative amount (a credit) is kept and then quarantined by
//!   `canonical` as a negative cost, with its value.

use std::path::Path;

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{iso_from_unix_seconds, Decimal};
use super::openai_usage::each_result;
use super::records::Records;
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct OpenAiCostsAdapter;

/// The model of cost lines from exports not grouped by line item.
pub const UNGROUPED_LINE_ITEM: &str = "not-grouped-by-line-item";

#[derive(Deserialize)]
struct CostResult {
    amount: Amount,
    line_item: Option<String>,
    project_id: Option<String>,
}

#[derive(Deserialize)]
struct Amount {
    value: Decimal,
    currency: Option<String>,
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

fn read_result(records: &mut Records, index: u64, start: i64, value: &Value) {
    let raw = || value.to_string();
    let parsed = match CostResult::deserialize(value) {
        Ok(parsed) => parsed,
        Err(err) => {
            let reason = format!("not an OpenAI costs result: {err}");
            records.unreadable(index, reason, raw().as_bytes());
            return;
        }
    };
    if let Some(currency) = parsed.amount.currency.as_deref() {
        if !currency.eq_ignore_ascii_case("usd") {
            let reason = format!("amount in `{currency}`; only `usd` is read");
            records.unreadable(index, reason, raw().as_bytes());
            return;
        }
    }
    let Some(ts) = iso_from_unix_seconds(start) else {
        let reason = format!("bucket `start_time` {start} is not a Unix time in seconds");
        records.unreadable(index, reason, raw().as_bytes());
        return;
    };
    records.row(index);
    records.text(schema::TS, ts);
    let project = parsed
        .project_id
        .as_deref()
        .filter(|p| !p.trim().is_empty());
    records.text(schema::AGENT, project.unwrap_or("organization"));
    let line_item = parsed.line_item.as_deref().filter(|l| !l.trim().is_empty());
    records.text(schema::MODEL, line_item.unwrap_or(UNGROUPED_LINE_ITEM));
    records.text(schema::TOOL, "openai-api");
    records.text(
        schema::REQUEST_ID,
        format!(
            "openai-costs:{start}:{}:{}",
            project.unwrap_or_default(),
            line_item.unwrap_or_default()
        ),
    );
    for column in COUNTS {
        records.count(column, 0);
    }
    records.amount(schema::COST_USD, parsed.amount.value.0);
}

fn read_bytes(bytes: &[u8]) -> Result<Scan, super::AdapterError> {
    let mut records = Records::new(&TEXT, &COUNTS, &[schema::COST_USD]);
    each_result(bytes, "an OpenAI costs page", &mut records, read_result)?;
    records.finish_as("billed")
}

impl Adapter for OpenAiCostsAdapter {
    fn name(&self) -> &'static str {
        "openai-costs"
    }

    fn names(&self) -> &'static [&'static str] {
        &["openai-costs", "openai-cost"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.json` with canonical NDJSON: recognised by content.
        &[]
    }

    fn same_spend_as(&self) -> Option<(&'static str, &'static str)> {
        Some((
            "openai-usage",
            "the OpenAI usage export (tokens, priced from the price table) and the costs export (the bill) cover the same spend; for the same period, give one of them",
        ))
    }

    fn sniff(&self, head: &[u8]) -> bool {
        memmem::find(head, b"\"organization.costs.result\"").is_some()
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
    use crate::ingest::canonical::{ERROR, ROW};

    #[test]
    fn amounts_are_dollars_as_numbers_or_strings_and_bad_ones_are_quarantined() {
        let page = r#"{"object":"page","data":[{"object":"bucket","start_time":1791158400,"end_time":1791244800,"results":[
            {"object":"organization.costs.result","amount":{"value":1.25,"currency":"usd"},"line_item":"gpt-5.4, input","project_id":"proj_web"},
            {"object":"organization.costs.result","amount":{"value":"0.5","currency":"usd"},"line_item":null,"project_id":null},
            {"object":"organization.costs.result","amount":3.5,"line_item":"gpt-5.4, output","project_id":"proj_web"},
            {"object":"organization.costs.result","amount":{"value":2,"currency":"eur"},"line_item":"x","project_id":"p"}
        ]}]}"#;
        let frame = read_bytes(page.as_bytes())
            .unwrap()
            .frame
            .collect()
            .unwrap();
        let costs: Vec<_> = frame
            .column(schema::COST_USD)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(costs, [Some(1.25), Some(0.5), None, None]);
        let agents: Vec<_> = frame
            .column(schema::AGENT)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(agents, [Some("proj_web"), Some("organization"), None, None]);
        let models: Vec<_> = frame
            .column(schema::MODEL)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(models[1], Some(UNGROUPED_LINE_ITEM));
        let rows: Vec<_> = frame.column(ROW).unwrap().u64().unwrap().iter().collect();
        // One bucket: its results are numbered as it is.
        assert_eq!(rows, [Some(1), Some(1), Some(1), Some(1)]);
        let errors = frame.column(ERROR).unwrap().str().unwrap();
        assert!(errors
            .get(2)
            .unwrap()
            .contains("not an OpenAI costs result"));
        assert!(errors.get(3).unwrap().contains("`eur`"));
    }
}
