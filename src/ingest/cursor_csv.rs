//! Cursor dashboard CSV: the usage-events export of cursor.com/dashboard (Usage tab, export;
//! the same events as `cursor_events`, one per row). Columns are found by header name, since
//! Cursor has added columns over time. Header of a team export:
//!
//! `Date,User,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost`
//!
//! (personal exports have no `User` column, older ones neither agent column). Cursor does not
//! document the columns; this header was confirmed against several public parsers of the
//! export, and the token column meanings below against published totals (see the assumption).
//!
//! | canonical | CSV column |
//! |---|---|
//! | `ts` | `Date` (ISO 8601, `Z`) |
//! | `agent` | `User` (email); without that column, the name of the folder holding the file (put each person's personal export in a folder named after them) |
//! | `model` | `Model` |
//! | `input_tokens` | `Input (w/o Cache Write)` |
//! | `cache_write_tokens` | `Input (w/ Cache Write)` |
//! | `cache_read_tokens` | `Cache Read` |
//! | `output_tokens` | `Output Tokens` |
//! | `cost_usd` | `Cost` in dollars (`0.38` or `$0.38`), by the rules of `cursor_events`: a positive cost is billed; a not-charged `Kind` (`Errored, No Charge`, `Aborted, Not Charged`) is $0 billed; `Included`, `Free`, `-`, empty or a zero otherwise is no figure: priced from the price table, tier `estimated` |
//! | `requests` | 1 |
//! | `request_id` | `cursor:` + agent + `Date` in Unix ms + the four token counts, as `cursor_events` builds it: an event in both this CSV and the API export counts once |
//! | `tool` | `cursor` |
//!
//! - **Assumption: the two input columns are disjoint.** `Input (w/ Cache Write)` is read as
//!   the input tokens written to the cache and `Input (w/o Cache Write)` as the other uncached
//!   input, so `Total Tokens` = both inputs + `Cache Read` + `Output Tokens`. Published
//!   per-user totals of real exports add up this way (and not with the first column as a
//!   superset of the second). `Total Tokens` is not read.
//! - **Skipped and counted:** rows with no tokens and no charge.
//! - **Quarantined:** a record that cannot be split as CSV, has more or fewer fields than the
//!   header, or has a token count that is not a whole number (`1,234`), with its line and
//!   text. The "line" is the line the record starts on (the header is line 1). `Max Mode`,
//!   `Cloud Agent ID`, `Automation ID` and `Total Tokens` are not read.

use std::path::Path;

use super::cursor_events::{push_event, CursorEvent, COUNTS, TEXT};
use super::fields::{
    header_and_records, parse_count, parse_decimal, unix_millis_from_iso, CsvHeader,
};
use super::records::Records;
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct CursorCsvAdapter;

const INPUT_CACHE_WRITE: &str = "Input (w/ Cache Write)";
const INPUT: &str = "Input (w/o Cache Write)";
const CACHE_READ: &str = "Cache Read";
const OUTPUT: &str = "Output Tokens";

/// Column positions in one export.
struct Columns {
    date: usize,
    user: Option<usize>,
    kind: Option<usize>,
    model: usize,
    /// Input, output, cache read, cache write.
    tokens: [(usize, &'static str); 4],
    cost: Option<usize>,
}

fn columns(header: &CsvHeader) -> Result<Columns, super::AdapterError> {
    let need = |name: &'static str| {
        header
            .find(&[name])
            .ok_or_else(|| super::AdapterError::NotThisExport {
                export: "a Cursor usage CSV",
                why: format!("no `{name}` column (found: {})", header.names()),
            })
    };
    Ok(Columns {
        date: need("Date")?,
        user: header.find(&["User", "Email", "User Email"]),
        kind: header.find(&["Kind"]),
        model: need("Model")?,
        tokens: [
            (need(INPUT)?, INPUT),
            (need(OUTPUT)?, OUTPUT),
            (need(CACHE_READ)?, CACHE_READ),
            (need(INPUT_CACHE_WRITE)?, INPUT_CACHE_WRITE),
        ],
        cost: header.find(&["Cost"]),
    })
}

fn read_bytes(bytes: &[u8], folder_agent: &str) -> Result<Scan, super::AdapterError> {
    let mut records = Records::new(&TEXT, &COUNTS, &[schema::COST_USD]);
    let (header, parsed) = header_and_records(bytes, "a Cursor usage CSV")?;
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
        let raw = record.raw;
        if record.fields.len() != header.len() {
            let reason = format!(
                "has {} fields, the header has {}",
                record.fields.len(),
                header.len()
            );
            records.unreadable(record.line, reason, raw);
            continue;
        }
        let field = |i: usize| record.fields[i].trim();
        let mut tokens = [0u64; 4];
        let mut bad = None;
        for (slot, (i, name)) in tokens.iter_mut().zip(at.tokens) {
            match field(i) {
                "" => {}
                text => match parse_count(text) {
                    Some(n) => *slot = n,
                    None => bad = Some(format!("`{name}` is `{text}`, expected a whole number")),
                },
            }
        }
        let date = field(at.date);
        let millis = unix_millis_from_iso(date);
        if bad.is_none() && millis.is_none() {
            bad = Some(format!("`Date` is `{date}`, expected an ISO 8601 time"));
        }
        if let Some(reason) = bad {
            records.unreadable(record.line, reason, raw);
            continue;
        }
        let event = CursorEvent {
            millis: millis.unwrap_or_default(),
            agent: Some(at.user.map_or(folder_agent, field)).filter(|a| !a.is_empty()),
            model: Some(field(at.model)).filter(|m| !m.is_empty()),
            kind: at.kind.map(field),
            tokens: Some(tokens),
            dollars: at.cost.and_then(|i| parse_decimal(field(i))),
        };
        push_event(&mut records, record.line, &event, raw);
    }
    records.finish()
}

/// The folder holding a personal export names its owner.
fn folder_agent(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

impl Adapter for CursorCsvAdapter {
    fn name(&self) -> &'static str {
        "cursor-csv"
    }

    fn names(&self) -> &'static [&'static str] {
        &["cursor-csv", "cursor-events-csv"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.csv` with canonical CSV: recognised by its header.
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::fields::csv_head_has(head, &["Date", "Model", INPUT, CACHE_READ])
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Usage]
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        read_bytes(&std::fs::read(path)?, &folder_agent(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::canonical::{ERROR, ROW};

    #[test]
    fn rows_follow_the_header_and_bad_ones_name_their_line() {
        let csv = concat!(
            "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost\n",
            "\"2026-10-05T09:14:03.512Z\",\"dana@corp.example\",\"Included\",\"gpt-5.4\",\"No\",\"200\",\"1200\",\"5000\",\"300\",\"6700\",\"$0.04\"\n",
            "2026-10-05T09:20:00.000Z,dana@corp.example,\"Errored, No Charge\",gpt-5.4,No,0,10,0,0,10,0\n",
            "2026-10-05T09:30:00.000Z,eli@corp.example,Included,gpt-5.4,No,0,\"1,234\",0,5,1239,Included\n",
            "2026-10-05T09:40:00.000Z,eli@corp.example,Included,gpt-5.4,No,0,50,0,5,55,Included\n",
            "2026-10-05T09:50:00.000Z,eli@corp.example,Included,gpt-5.4\n",
            "2026-10-05T09:55:00.000Z,eli@corp.example,Aborted, Not Charged,gpt-5.4,No,0,0,0,0,0,0\n",
        );
        let frame = read_bytes(csv.as_bytes(), "x")
            .unwrap()
            .frame
            .collect()
            .unwrap();
        let rows: Vec<_> = frame.column(ROW).unwrap().u64().unwrap().iter().collect();
        assert_eq!(rows, [Some(2), Some(3), Some(4), Some(5), Some(6), Some(7)]);
        let costs: Vec<_> = frame
            .column(schema::COST_USD)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(costs, [Some(0.04), Some(0.0), None, None, None, None]);
        let cache_write: Vec<_> = frame
            .column(schema::CACHE_WRITE_TOKENS)
            .unwrap()
            .u64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(cache_write[0], Some(200));
        let errors = frame.column(ERROR).unwrap().str().unwrap();
        assert!(errors.get(2).unwrap().contains("`1,234`"));
        assert!(errors.get(4).unwrap().contains("has 4 fields"));
        // Unquoted commas split `Aborted, Not Charged`: one field too many.
        assert!(errors.get(5).unwrap().contains("has 12 fields"));
    }

    #[test]
    fn the_header_is_what_sniffing_looks_at() {
        let adapter = CursorCsvAdapter;
        assert!(adapter.sniff(b"\xEF\xBB\xBFDate,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost\n"));
        assert!(!adapter.sniff(b"ts,agent,model,input_tokens,output_tokens\n"));
    }
}
