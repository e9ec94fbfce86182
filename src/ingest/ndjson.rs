//! Canonical NDJSON: one JSON object per line with canonical keys.
//!
//! Values may be JSON numbers or strings (`"input_tokens": "1200"` is accepted); `canonical`
//! types and checks them as it does CSV text. Each line is read on its own, so a malformed line,
//! a line that is not an object, or a truncated last line (a writer that crashed, an export cut
//! off) is quarantined with its file and line number and the rest is read; keys that are not
//! canonical columns are ignored, and a key that first appears late is not lost. Not covered:
//! nested vendor JSON (each vendor gets its own adapter).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::records::{line_chunks, numbered_lines, Records};
use super::Adapter;
use crate::schema::{Presence, Table};

pub struct NdjsonAdapter;

impl Adapter for NdjsonAdapter {
    fn name(&self) -> &'static str {
        "canonical-ndjson"
    }

    fn names(&self) -> &'static [&'static str] {
        &["ndjson", "jsonl", "json"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["ndjson", "jsonl", "json"]
    }

    fn recognition(&self) -> super::Recognition {
        super::Recognition::Text
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{')
    }

    fn scan(&self, path: &Path, table: Table) -> Result<super::Scan, super::AdapterError> {
        let bytes = std::fs::read(path)?;
        let columns = columns(table);
        records(vec![(0, lines(&bytes, &columns))], &columns)
            .0
            .finish()
    }

    fn scan_many(
        &self,
        files: &[(u32, &Path)],
        table: Table,
        _hash: bool,
    ) -> Option<Result<super::Scan, (PathBuf, super::AdapterError)>> {
        use rayon::prelude::*;
        let columns = columns(table);
        let read = files
            .par_iter()
            .map(|&(index, path)| {
                let bytes = std::fs::read(path).map_err(|e| (path.to_path_buf(), e.into()))?;
                Ok((index, lines(&bytes, &columns)))
            })
            .collect::<Result<Vec<_>, (PathBuf, super::AdapterError)>>();
        Some(read.and_then(|files_lines| {
            let first = files
                .first()
                .map_or(PathBuf::new(), |(_, p)| p.to_path_buf());
            let (records, tags) = records(files_lines, &columns);
            let mut scan = records.finish().map_err(|e| (first, e))?;
            scan.frame = scan
                .frame
                .with_column(lit(Series::new(super::canonical::FILE.into(), tags)));
            Ok(scan)
        }))
    }
}

/// One line, read: its canonical values as text, or why it could not be read (and its text).
enum Line {
    Values(Vec<(&'static str, Option<String>)>),
    Unreadable(String, Vec<u8>),
}

/// The canonical columns of `table` an NDJSON line may carry.
fn columns(table: Table) -> Vec<&'static str> {
    table
        .columns()
        .iter()
        .filter(|c| c.presence != Presence::Derived || c.name == crate::schema::TIER)
        .map(|c| c.name)
        .collect()
}

/// The numbered lines of an NDJSON document, read; blank lines left out. Pieces of the file
/// are parsed in parallel, in line order.
fn lines(bytes: &[u8], columns: &[&'static str]) -> Vec<(u64, Line)> {
    use rayon::prelude::*;
    let bytes = super::vendor_json::without_bom(bytes);
    let parts: Vec<Vec<(u64, Line)>> = line_chunks(bytes, rayon::current_num_threads() * 4)
        .into_par_iter()
        .map(|(first, chunk)| {
            numbered_lines(first, chunk)
                .filter_map(|(number, line)| {
                    let text = line.strip_suffix(b"\r").unwrap_or(line);
                    if text.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    Some((number, parse(text, columns)))
                })
                .collect()
        })
        .collect();
    parts.into_iter().flatten().collect()
}

/// The rows of one or more files' lines, every value as text, and each row's file.
fn records(files: Vec<(u32, Vec<(u64, Line)>)>, columns: &[&'static str]) -> (Records, Vec<u32>) {
    // Only the columns some line names: a missing required column is then the usual error.
    let present: Vec<&'static str> = columns
        .iter()
        .copied()
        .filter(|name| {
            files.iter().any(|(_, lines)| {
                lines.iter().any(|(_, line)| match line {
                    Line::Values(values) => values.iter().any(|(n, _)| n == name),
                    Line::Unreadable(..) => false,
                })
            })
        })
        .collect();
    let mut records = Records::new(&present, &[], &[]);
    let mut tags = Vec::new();
    for (file, lines) in files {
        for (number, line) in lines {
            tags.push(file);
            match line {
                Line::Values(values) => {
                    records.row(number);
                    for (name, value) in values {
                        if let Some(value) = value {
                            records.text(name, value);
                        }
                    }
                }
                Line::Unreadable(reason, raw) => records.unreadable(number, reason, &raw),
            }
        }
    }
    (records, tags)
}

/// One line's canonical values, or why it could not be read.
fn parse(text: &[u8], columns: &[&'static str]) -> Line {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => Line::Values(
            columns
                .iter()
                .filter_map(|&name| object.get(name).map(|v| (name, as_text(v))))
                .collect(),
        ),
        Ok(other) => Line::Unreadable(
            format!("a line of NDJSON must be an object, not {}", kind(&other)),
            text.to_vec(),
        ),
        Err(err) => Line::Unreadable(format!("not JSON: {err}"), text.to_vec()),
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
        let columns = columns(Table::Usage);
        let frame = records(vec![(0, lines(text, &columns))], &columns)
            .0
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
