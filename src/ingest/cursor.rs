//! Cursor Admin API daily usage: responses of `POST /teams/daily-usage-data` (team admin key,
//! up to 90 days a call), saved one response per file or as a JSON array of responses. A
//! response is `{data:[…], period:{startDate, endDate}}`; each row is one person's day in the
//! editor. It carries lines of code, not tokens: an outputs source (the tokens are in the usage
//! events, `cursor_events` and `cursor_csv`).
//!
//! | canonical | Cursor field |
//! |---|---|
//! | `ts` | `date` (Unix milliseconds of the day) |
//! | `agent` | `email`, else `userId` |
//! | `kind` `loc_added`, `amount` | `acceptedLinesAdded` |
//! | `kind` `loc_removed`, `amount` | `acceptedLinesDeleted` |
//! | `ref` | `cursor:` + agent + `date` + kind: the same day read twice (overlapping exports) counts once |
//!
//! - **AI-accepted lines, not total lines.** Cursor is the one vendor that reports both the
//!   lines the person accepted from the AI (`acceptedLinesAdded`/`Deleted`: tab completions,
//!   applies and agent edits they kept) and every line added in the editor
//!   (`totalLinesAdded`/`Deleted`, typing included). The audit asks what the tokens bought, so
//!   outputs are the accepted lines; hand-written lines did not come from the usage being
//!   audited. This matches what Copilot's `loc_added_sum` and Claude Code's
//!   `lines_of_code.added` count. The totals are not read (they would also need a kind of their
//!   own: unknown kinds weigh 1 in the output index).
//! - **Skipped and counted:** days without accepted lines (inactive days, chat-only days).
//! - **Quarantined:** a row whose fields have the wrong type (a line count that is not a
//!   whole number, a date that is not epoch milliseconds), with its text. The "line" is the
//!   row's 1-based index among the rows of the file. A file that is not a response (or an
//!   array of responses) is an error naming the file.
//! - Not read: `mostUsedModel`, requests by feature, tabs, applies, `clientVersion`.

use std::path::Path;

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{iso_from_unix_millis, Count, Epoch};
use super::records::Records;
use super::vendor_json;
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct CursorDailyAdapter;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Day {
    date: Epoch,
    email: Option<String>,
    user_id: Option<Value>,
    accepted_lines_added: Option<Count>,
    accepted_lines_deleted: Option<Count>,
}

const TEXT: [&str; 4] = [schema::TS, schema::AGENT, schema::KIND, schema::REF];

fn read_day(records: &mut Records, index: u64, value: &Value) {
    let raw = value.to_string();
    let day = match Day::deserialize(value) {
        Ok(day) => day,
        Err(err) => {
            let reason = format!("not a Cursor daily usage row: {err}");
            records.unreadable(index, reason, raw.as_bytes());
            return;
        }
    };
    let Some(ts) = iso_from_unix_millis(day.date.0) else {
        let reason = format!("`date` {} is not Unix milliseconds", day.date.0);
        records.unreadable(index, reason, raw.as_bytes());
        return;
    };
    let user_id = match &day.user_id {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let agent = day
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .or(user_id.as_deref());
    let mut any = false;
    for (kind, lines) in [
        ("loc_added", day.accepted_lines_added),
        ("loc_removed", day.accepted_lines_deleted),
    ] {
        let lines = lines.map_or(0, |c| c.0);
        if lines == 0 {
            continue;
        }
        any = true;
        records.row(index);
        records.text(schema::TS, ts.as_str());
        if let Some(agent) = agent {
            records.text(schema::AGENT, agent);
        }
        records.text(schema::KIND, kind);
        records.text(
            schema::REF,
            format!("cursor:{}:{}:{kind}", agent.unwrap_or_default(), day.date.0),
        );
        records.amount(schema::AMOUNT, lines as f64);
    }
    if !any {
        records.skip("days without AI-accepted lines");
    }
}

fn read_bytes(bytes: &[u8]) -> Result<Scan, super::AdapterError> {
    let mut records = Records::new(&TEXT, &[], &[schema::AMOUNT]);
    let what = "a Cursor daily usage response";
    vendor_json::each_record(bytes, what, &mut records, |records, day| {
        read_day(records, day.number, day.value)
    })?;
    records.finish()
}

impl Adapter for CursorDailyAdapter {
    fn name(&self) -> &'static str {
        "cursor-daily"
    }

    fn names(&self) -> &'static [&'static str] {
        &["cursor-daily", "cursor-daily-usage"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.json` with canonical NDJSON: recognised by content.
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        memmem::find(head, b"\"acceptedLinesAdded\"").is_some()
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Outputs]
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
    fn accepted_lines_become_outputs_and_idle_days_are_skipped() {
        let response = r#"{"data":[
            {"date":1791158400000,"email":"dana@corp.example","isActive":true,"totalLinesAdded":900,"acceptedLinesAdded":120,"acceptedLinesDeleted":30},
            {"date":1791158400000,"email":"eli@corp.example","isActive":false,"acceptedLinesAdded":0,"acceptedLinesDeleted":0},
            {"date":1791244800000,"email":"eli@corp.example","acceptedLinesAdded":12.5}
        ],"period":{"startDate":1791158400000,"endDate":1791331200000}}"#;
        let scan = read_bytes(response.as_bytes()).unwrap();
        let frame = scan.frame.collect().unwrap();
        let rows: Vec<_> = frame.column(ROW).unwrap().u64().unwrap().iter().collect();
        assert_eq!(rows, [Some(1), Some(1), Some(3)]);
        let amounts: Vec<_> = frame
            .column(schema::AMOUNT)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(amounts, [Some(120.0), Some(30.0), None]);
        assert!(frame
            .column(ERROR)
            .unwrap()
            .str()
            .unwrap()
            .get(2)
            .unwrap()
            .contains("12.5"));
        assert_eq!(scan.skipped["days without AI-accepted lines"], 1);
    }
}
