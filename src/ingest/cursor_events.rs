//! Cursor Admin API usage events: responses of `POST /teams/filtered-usage-events` (team admin
//! key), saved one page per file or as a JSON array of pages. A page is `{totalUsageEventsCount,
//! pagination, usageEvents:[…], period}` (the dashboard's own endpoint names the list
//! `usageEventsDisplay`; both are read). One event is one model request. The dashboard's CSV
//! export of the same events is `cursor_csv`.
//!
//! | canonical | Cursor field |
//! |---|---|
//! | `ts` | `timestamp` (Unix milliseconds, a string or a number) |
//! | `agent` | `userEmail`, else `owningUser` (the dashboard endpoint has no email) |
//! | `model` | `model` as reported (effort suffixes such as `-high-thinking` kept) |
//! | `input_tokens` | `tokenUsage.inputTokens` (uncached) |
//! | `output_tokens` | `tokenUsage.outputTokens` |
//! | `cache_read_tokens` | `tokenUsage.cacheReadTokens` |
//! | `cache_write_tokens` | `tokenUsage.cacheWriteTokens` |
//! | `cost_usd` | `chargedCents` ÷ 100 (model cost plus Cursor's token fee), see below |
//! | `requests` | 1 |
//! | `request_id` | `cursor:` + agent + timestamp + the four token counts: the same event in two overlapping exports, or in this API export and the dashboard CSV, counts once |
//! | `tool` | `cursor` |
//!
//! - **Cost and tier.** A positive `chargedCents` is Cursor's charge for the event (events
//!   included in a plan carry one too: what they drew from the plan): `cost_usd`, tier
//!   `billed`. An event Cursor marks as not charged (`kind` `…ERRORED_NOT_CHARGED`,
//!   `…ABORTED_NOT_CHARGED`) costs $0, billed. Any other event without a positive charge (no
//!   `chargedCents`, or the zeroed dollar fields Cursor has written for self-serve plans since
//!   2026-07-31, or a `USER_API_KEY` event billed to the user's own key) has no dollar figure:
//!   it is priced from the price table, tier `estimated`. `tokenUsage.totalCents` (model cost
//!   without the fee) is not read.
//! - **Token counts may be strings** (`"inputTokens": "1200"`): accepted.
//! - **Events without `tokenUsage`** (non-token calls, e.g. request-priced models): a row with
//!   zero tokens and the charge when they carry a positive `chargedCents`, so the spend adds up;
//!   otherwise skipped and counted, as are token events with no tokens and no charge.
//! - **Quarantined:** an event whose fields have the wrong type (a token count that is not a
//!   whole number, a timestamp that is not epoch milliseconds), with its text. The "line" is
//!   the event's 1-based index among the events of the file (pages in file order). A file that
//!   is not a page (or an array of pages) is an error naming the file.
//! - Not read: `maxMode`, `isTokenBasedCall`, `isChargeable`, `isHeadless`, `requestsCosts`,
//!   `cursorTokenFee` (inside `chargedCents`).

use std::path::Path;

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{iso_from_unix_millis, Cents, Count, Epoch};
use super::records::Records;
use super::vendor_json;
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct CursorEventsAdapter;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    timestamp: Epoch,
    user_email: Option<String>,
    owning_user: Option<Value>,
    model: Option<String>,
    kind: Option<String>,
    token_usage: Option<TokenUsage>,
    charged_cents: Option<Cents>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenUsage {
    input_tokens: Option<Count>,
    output_tokens: Option<Count>,
    cache_read_tokens: Option<Count>,
    cache_write_tokens: Option<Count>,
}

/// One event as both Cursor formats give it, ready for a row.
pub(super) struct CursorEvent<'a> {
    pub millis: i64,
    pub agent: Option<&'a str>,
    pub model: Option<&'a str>,
    pub kind: Option<&'a str>,
    /// Input, output, cache read, cache write; `None` for a non-token event.
    pub tokens: Option<[u64; 4]>,
    /// Dollars Cursor put on the event, if any.
    pub dollars: Option<f64>,
}

pub(super) const TEXT: [&str; 5] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TOOL,
    schema::REQUEST_ID,
];
pub(super) const COUNTS: [&str; 5] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
    schema::REQUESTS,
];

/// Whether Cursor marks the event as not charged (API `…_NOT_CHARGED`, CSV `Errored, No
/// Charge` / `Aborted, Not Charged`).
fn not_charged(kind: &str) -> bool {
    let kind = kind.to_ascii_lowercase().replace('_', " ");
    kind.contains("not charged") || kind.contains("no charge")
}

/// The event's row, or a skip; the same rules for the API and the CSV export.
pub(super) fn push_event(records: &mut Records, index: u64, event: &CursorEvent<'_>, raw: &[u8]) {
    let cost = match event.dollars {
        Some(d) if d > 0.0 => Some(d),
        _ if event.kind.is_some_and(not_charged) => Some(0.0),
        // Negative charges (refunds) reach `canonical`, which quarantines them with the value.
        Some(d) if d < 0.0 => Some(d),
        _ => None,
    };
    let tokens = event.tokens.unwrap_or_default();
    if tokens.iter().all(|t| *t == 0) && cost.is_none_or(|c| c == 0.0) {
        records.skip("events without tokens or a charge");
        return;
    }
    let Some(ts) = iso_from_unix_millis(event.millis) else {
        let reason = format!("`timestamp` {} is not Unix milliseconds", event.millis);
        records.unreadable(index, reason, raw);
        return;
    };
    records.row(index);
    records.text(schema::TS, ts);
    if let Some(agent) = event.agent {
        records.text(schema::AGENT, agent);
    }
    if let Some(model) = event.model {
        records.text(schema::MODEL, model);
    }
    records.text(schema::TOOL, "cursor");
    let [input, output, cache_read, cache_write] = tokens;
    records.text(
        schema::REQUEST_ID,
        format!(
            "cursor:{}:{}:{input}:{output}:{cache_read}:{cache_write}",
            event.agent.unwrap_or_default(),
            event.millis
        ),
    );
    for (column, value) in COUNTS
        .iter()
        .zip([input, output, cache_read, cache_write, 1])
    {
        records.count(column, value);
    }
    if let Some(cost) = cost {
        records.amount(schema::COST_USD, cost);
    }
}

fn read_event(records: &mut Records, index: u64, value: &Value) {
    let raw = value.to_string();
    let event = match Event::deserialize(value) {
        Ok(event) => event,
        Err(err) => {
            let reason = format!("not a Cursor usage event: {err}");
            records.unreadable(index, reason, raw.as_bytes());
            return;
        }
    };
    let owning_user = match &event.owning_user {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let n = |c: Option<Count>| c.map_or(0, |c| c.0);
    let tokens = event.token_usage.as_ref().map(|t| {
        [
            n(t.input_tokens),
            n(t.output_tokens),
            n(t.cache_read_tokens),
            n(t.cache_write_tokens),
        ]
    });
    let agent = event
        .user_email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .or(owning_user.as_deref());
    let cursor_event = CursorEvent {
        millis: event.timestamp.0,
        agent,
        model: event.model.as_deref(),
        kind: event.kind.as_deref(),
        tokens,
        dollars: event.charged_cents.map(|c| c.dollars),
    };
    push_event(records, index, &cursor_event, raw.as_bytes());
}

fn read_bytes(bytes: &[u8]) -> Result<Scan, super::AdapterError> {
    let mut records = Records::new(&TEXT, &COUNTS, &[schema::COST_USD]);
    let what = "a Cursor usage events page";
    let keys = ["usageEvents", "usageEventsDisplay"];
    vendor_json::each_record_in(bytes, &keys, what, &mut records, |records, event| {
        read_event(records, event.number, event.value)
    })?;
    records.finish()
}

impl Adapter for CursorEventsAdapter {
    fn name(&self) -> &'static str {
        "cursor-events"
    }

    fn names(&self) -> &'static [&'static str] {
        &["cursor-events", "cursor"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.json` with canonical NDJSON: recognised by content.
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        memmem::find(head, b"\"usageEvents").is_some()
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
    fn charges_tokens_and_skips_follow_the_documented_rules() {
        let page = r#"{"totalUsageEventsCount":6,"usageEvents":[
            {"timestamp":"1791191643512","userEmail":"dana@corp.example","model":"claude-4.5-sonnet-thinking","kind":"Included in Business","tokenUsage":{"inputTokens":"1200","outputTokens":300,"cacheReadTokens":5000,"cacheWriteTokens":200,"totalCents":4.1},"chargedCents":4.4},
            {"timestamp":1791191650000,"userEmail":"dana@corp.example","model":"gpt-5.4","kind":"USAGE_EVENT_KIND_ERRORED_NOT_CHARGED","tokenUsage":{"inputTokens":10,"outputTokens":0},"chargedCents":0},
            {"timestamp":"1791191660000","userEmail":"eli@corp.example","model":"gpt-5.4","kind":"USAGE_EVENT_KIND_USER_API_KEY","tokenUsage":{"inputTokens":50,"outputTokens":5},"chargedCents":0},
            {"timestamp":"1791191670000","userEmail":"eli@corp.example","model":"o3-pro","kind":"Usage-based","chargedCents":25},
            {"timestamp":"1791191680000","userEmail":"eli@corp.example","model":"default","kind":"Included in Business"},
            {"timestamp":"1791191690000","userEmail":"eli@corp.example","model":"gpt-5.4","tokenUsage":{"inputTokens":"lots"}}
        ]}"#;
        let scan = read_bytes(page.as_bytes()).unwrap();
        let frame = scan.frame.collect().unwrap();
        let costs: Vec<_> = frame
            .column(schema::COST_USD)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .map(|c| c.map(|c| (c * 1e9).round() / 1e9))
            .collect();
        // 4.4 cents → $0.044; not charged → $0; own API key → list price; request-priced → $0.25.
        assert_eq!(costs, [Some(0.044), Some(0.0), None, Some(0.25), None]);
        let input: Vec<_> = frame
            .column(schema::INPUT_TOKENS)
            .unwrap()
            .u64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(input, [Some(1200), Some(10), Some(50), Some(0), None]);
        assert!(frame
            .column(ERROR)
            .unwrap()
            .str()
            .unwrap()
            .get(4)
            .unwrap()
            .contains("lots"));
        assert_eq!(scan.skipped["events without tokens or a charge"], 1);
        let ts = frame
            .column(schema::TS)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_string();
        assert_eq!(ts, "2026-10-05T09:14:03.512Z");
    }
}
