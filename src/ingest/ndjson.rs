//! Canonical NDJSON: one JSON object per line with canonical keys.
//!
//! Values may be JSON numbers or strings (`"input_tokens": "1200"` is accepted); `canonical`
//! types and checks them as it does CSV text. Each line is read on its own, so a malformed line,
//! a line that is not an object, or a truncated last line (a writer that crashed, an export cut
//! off) is quarantined with its file and line number and the rest is read; keys that are not
//! canonical columns are ignored, and a key that first appears late is not lost. Not covered:
//! nested vendor JSON (each vendor gets its own adapter).

use std::path::Path;

use polars::prelude::*;

use super::records::{line_chunks, numbered_lines, Records};
use super::Adapter;
use crate::schema::{Presence, Table};

pub struct NdjsonAdapter;

impl Adapter for NdjsonAdapter {
    fn name(&self) -> &'static str {
        "canonical-ndjson"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["ndjson", "jsonl", "json"]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{')
    }

    fn scan(&self, path: &Path, table: Table) -> PolarsResult<super::Scan> {
        let bytes = std::fs::read(path)?;
        read(&bytes, table).finish()
    }
}

/// One line, read: its canonical values as text, or why it could not be read.
enum Line<'a> {
    Values(Vec<(&'static str, Option<String>)>),
    Unreadable(String, &'a [u8]),
}

/// The rows of an NDJSON document, every value as text. Pieces of the file are parsed in
/// parallel; rows keep their line order.
fn read(bytes: &[u8], table: Table) -> Records {
    use rayon::prelude::*;
    let bytes = super::vendor_json::without_bom(bytes);
    let columns: Vec<&'static str> = table
        .columns()
        .iter()
        .filter(|c| c.presence != Presence::Derived || c.name == crate::schema::TIER)
        .map(|c| c.name)
        .collect();
    let parts: Vec<Vec<(u64, Line)>> = line_chunks(bytes, rayon::current_num_threads() * 4)
        .into_par_iter()
        .map(|(first, chunk)| {
            numbered_lines(first, chunk)
                .filter_map(|(number, line)| {
                    let text = line.strip_suffix(b"\r").unwrap_or(line);
                    if text.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    Some((number, parse(text, &columns)))
                })
                .collect()
        })
        .collect();
    let lines: Vec<(u64, Line)> = parts.into_iter().flatten().collect();
    // Only the columns some line names: a missing required column is then the usual error.
    let present: Vec<&'static str> = columns
        .into_iter()
        .filter(|name| {
            lines.iter().any(|(_, line)| match line {
                Line::Values(values) => values.iter().any(|(n, _)| n == name),
                Line::Unreadable(..) => false,
            })
        })
        .collect();
    let mut records = Records::new(&present, &[], &[]);
    for (number, line) in lines {
        match line {
            Line::Values(values) => {
                records.row(number);
                for (name, value) in values {
                    if let Some(value) = value {
                        records.text(name, value);
                    }
                }
            }
            Line::Unreadable(reason, raw) => records.unreadable(number, reason, raw),
        }
    }
    records
}

/// A JSON value as the text `canonical` reads: strings as they are, numbers and booleans
/// written out, null as absent, arrays and objects as their JSON (which a typed column rejects).
/// One line's canonical values, or why it could not be read.
fn parse<'a>(text: &'a [u8], columns: &[&'static str]) -> Line<'a> {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => Line::Values(
            columns
                .iter()
                .filter_map(|&name| object.get(name).map(|v| (name, as_text(v))))
                .collect(),
        ),
        Ok(other) => Line::Unreadable(
            format!("a line of NDJSON must be an object, not {}", kind(&other)),
            text,
        ),
        Err(err) => Line::Unreadable(format!("not JSON: {err}"), text),
    }
}

fn as_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(match (number.as_u64(), number.as_i64()) {
            (Some(n), _) => n.to_string(),
            (_, Some(n)) => n.to_string(),
            _ => number
                .as_f64()
                .map_or_else(|| number.to_string(), |f| f.to_string()),
        }),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_quarantined_and_the_rest_is_read() {
        let text = b"{\"ts\":\"2026-09-07T10:00:00Z\",\"agent\":\"a\",\"model\":\"m\",\"input_tokens\":10,\"output_tokens\":5}\n\
            not json at all\n\
            [1, 2]\n\
            \n\
            {\"ts\":\"2026-09-07T11:00:00Z\",\"agent\":\"b\",\"model\":\"m\",\"input_tokens\":\"7\",\"output_tokens\":1.5e1,\"extra\":{\"x\":1}}\r\n\
            {\"ts\":\"2026-09-07T12:00:00Z\",\"agent\":\"c\",\"mod";
        let frame = read(text, Table::Usage)
            .finish()
            .unwrap()
            .frame
            .collect()
            .unwrap();
        let rows: Vec<u64> = frame
            .column(super::super::canonical::ROW)
            .unwrap()
            .cast(&DataType::UInt64)
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(rows, [1, 2, 3, 5, 6], "blank lines are not rows");
        let errors: Vec<Option<&str>> = frame
            .column(super::super::canonical::ERROR)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert!(errors[0].is_none() && errors[3].is_none());
        assert!(errors[1].unwrap().starts_with("not JSON"));
        assert!(errors[2].unwrap().contains("not an array"));
        assert!(
            errors[4].unwrap().starts_with("not JSON"),
            "a truncated last line"
        );
        let output: Vec<Option<&str>> = frame
            .column("output_tokens")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(output[3], Some("15"));
        assert!(frame.column("extra").is_err(), "other keys are ignored");
    }
}
