//! Building blocks for adapters that read vendor records in Rust (JSON exports and logs)
//! rather than through a polars scan: a column builder that numbers each record by its line,
//! marks unreadable records for quarantine, and counts records skipped on purpose.
//!
//! Each record becomes one row with canonical column names; `canonical` types and checks it like
//! any other row. Text stays text (timestamps included), so there is one parser of timestamps.

use std::collections::BTreeMap;

use polars::prelude::*;
use polars_arrow::array::{Array, BinaryViewArrayGeneric, MutableBinaryViewArray, View};

use super::canonical::{ERROR, RAW, ROW};
use super::Scan;

/// How much of an unreadable record the quarantine file shows.
const RAW_CHARS: usize = 200;

/// A text column under construction, written straight into the string-view layout polars
/// keeps: no allocation per value, and a value equal to the one before it (a session's id,
/// repository and model repeat line after line) is stored once and pointed at again, so a
/// million log records hold each session's strings once per run of lines, not once per line.
struct TextColumn {
    values: MutableBinaryViewArray<str>,
    /// The last value written and its view, to point at again when it repeats.
    last: Option<(Box<str>, View)>,
    /// Bytes of the values pushed as views, not yet added to the array's byte count (added
    /// once, before the array is frozen: polars checks the count against every view).
    unaccounted: usize,
}

impl TextColumn {
    fn new() -> TextColumn {
        TextColumn {
            values: MutableBinaryViewArray::new(),
            last: None,
            unaccounted: 0,
        }
    }

    /// The array, its byte count settled.
    fn freeze(mut self) -> BinaryViewArrayGeneric<str> {
        // SAFETY: the count becomes the sum of the lengths of every value pushed, as the
        // array's own pushes keep it.
        unsafe {
            let total = self.values.total_bytes_len() + self.unaccounted;
            self.values.set_total_bytes_len(total);
        }
        self.values.freeze()
    }

    /// Nulls up to `rows` rows.
    fn pad(&mut self, rows: usize) {
        let missing = rows.saturating_sub(self.values.len());
        self.values.extend_null(missing);
    }

    /// `value` in row `row` (0-based), which is the last row: the rows before it that were
    /// never set are null, and a value set twice keeps the second.
    fn set(&mut self, row: usize, value: &str) {
        if self.values.len() > row {
            // Set again: rare (an adapter correcting itself); rebuild without the last value.
            let mut rebuilt = MutableBinaryViewArray::<str>::with_capacity(row + 1);
            let frozen = std::mem::replace(self, TextColumn::new()).freeze();
            rebuilt.extend(frozen.iter().take(row));
            self.values = rebuilt;
        }
        self.pad(row);
        let view = match &self.last {
            Some((text, view)) if **text == *value => *view,
            _ => {
                let view = self.values.push_value_into_buffer(value.as_bytes());
                self.last = Some((value.into(), view));
                view
            }
        };
        // SAFETY: the view is inline or points into this array's own buffers (made by
        // `push_value_into_buffer`, which never moves bytes once written), the validity
        // bitmap (present only once a null was pushed) is kept in step just below, and the
        // value's length is added to the byte count before the array is frozen.
        unsafe {
            self.values.views_mut().push(view);
        }
        self.unaccounted += value.len();
        if let Some(validity) = self.values.validity() {
            validity.push(true);
        }
    }

    /// `other`'s values after the first `rows` rows, copied: taking over its buffers instead
    /// would keep every small part's half-empty buffers alive (one per file of a folder).
    fn append(&mut self, rows: usize, other: TextColumn) {
        self.pad(rows);
        for (i, value) in other.freeze().iter().enumerate() {
            match value {
                Some(value) => self.set(rows + i, value),
                None => self.values.push_null(),
            }
        }
    }

    fn finish(mut self, name: &str, rows: usize) -> Column {
        self.pad(rows);
        let array = self.freeze();
        if array.null_count() == rows {
            return Column::full_null(name.into(), rows, &DataType::String);
        }
        StringChunked::with_chunk(name.into(), array).into_column()
    }
}

/// Rows under construction, column by column.
pub struct Records {
    lines: Vec<u64>,
    errors: Vec<Option<String>>,
    raws: Vec<Option<String>>,
    text: Vec<(&'static str, TextColumn)>,
    counts: Vec<(&'static str, Vec<Option<u64>>)>,
    amounts: Vec<(&'static str, Vec<Option<f64>>)>,
    /// Instants already parsed by the adapter, microseconds since the epoch (UTC).
    times: Vec<(&'static str, Vec<Option<i64>>)>,
    skipped: BTreeMap<&'static str, u64>,
}

impl Records {
    /// Columns by kind: text (strings, timestamps), counts (whole numbers), amounts (decimals).
    pub fn new(
        text: &[&'static str],
        counts: &[&'static str],
        amounts: &[&'static str],
    ) -> Records {
        Records {
            lines: Vec::new(),
            errors: Vec::new(),
            raws: Vec::new(),
            text: text.iter().map(|c| (*c, TextColumn::new())).collect(),
            counts: counts.iter().map(|c| (*c, Vec::new())).collect(),
            amounts: amounts.iter().map(|c| (*c, Vec::new())).collect(),
            times: Vec::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Adds timestamp columns the adapter parses itself ([`Records::time`]): text timestamps
    /// are parsed by `canonical` with several formats, which costs more than the rest of a
    /// large log's ingest.
    pub fn with_times(mut self, names: &[&'static str]) -> Records {
        self.times = names.iter().map(|c| (*c, Vec::new())).collect();
        self
    }

    /// Rows so far.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Starts a row for the record on `line`; every column is empty until set.
    pub fn row(&mut self, line: u64) {
        self.lines.push(line);
        self.errors.push(None);
        self.raws.push(None);
        self.counts.iter_mut().for_each(|(_, v)| v.push(None));
        self.amounts.iter_mut().for_each(|(_, v)| v.push(None));
        self.times.iter_mut().for_each(|(_, v)| v.push(None));
    }

    fn last<'a, T>(
        columns: &'a mut [(&'static str, Vec<Option<T>>)],
        name: &str,
    ) -> &'a mut Option<T> {
        let (_, values) = columns
            .iter_mut()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("column {name} was not declared"));
        values.last_mut().expect("row() first")
    }

    pub fn text(&mut self, column: &str, value: impl AsRef<str>) {
        let row = self.lines.len().checked_sub(1).expect("row() first");
        let (_, values) = self
            .text
            .iter_mut()
            .find(|(n, _)| *n == column)
            .unwrap_or_else(|| panic!("column {column} was not declared"));
        values.set(row, value.as_ref());
    }

    /// An instant, microseconds since the epoch, in a column declared with [`Records::with_times`].
    pub fn time(&mut self, column: &str, micros: i64) {
        *Self::last(&mut self.times, column) = Some(micros);
    }

    pub fn count(&mut self, column: &str, value: u64) {
        *Self::last(&mut self.counts, column) = Some(value);
    }

    /// A decimal value (dollars in `cost_usd`, amounts of outputs).
    pub fn amount(&mut self, column: &str, value: f64) {
        *Self::last(&mut self.amounts, column) = Some(value);
    }

    /// A record on `line` that could not be read: quarantined with `reason` and its text.
    pub fn unreadable(&mut self, line: u64, reason: impl Into<String>, raw: &[u8]) {
        self.row(line);
        let text = String::from_utf8_lossy(raw);
        let shown: String = text.chars().take(RAW_CHARS).collect();
        *self.errors.last_mut().expect("row") = Some(reason.into());
        *self.raws.last_mut().expect("row") = Some(shown);
    }

    /// A record left out on purpose (not usage), counted under `reason`.
    pub fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// Appends another part of the same file (read in parallel), keeping line order.
    pub fn append(&mut self, other: Records) {
        let rows = self.lines.len();
        for ((_, mine), (_, theirs)) in self.text.iter_mut().zip(other.text) {
            mine.append(rows, theirs);
        }
        self.lines.extend(other.lines);
        self.errors.extend(other.errors);
        self.raws.extend(other.raws);
        for ((_, mine), (_, theirs)) in self.counts.iter_mut().zip(other.counts) {
            mine.extend(theirs);
        }
        for ((_, mine), (_, theirs)) in self.amounts.iter_mut().zip(other.amounts) {
            mine.extend(theirs);
        }
        for ((_, mine), (_, theirs)) in self.times.iter_mut().zip(other.times) {
            mine.extend(theirs);
        }
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
    }

    /// [`Records::finish`], every row in `tier` (`billed` or `estimated`): the tier of a whole
    /// vendor format, where `canonical`'s default (billed when a cost is given) is not it.
    pub fn finish_as(self, tier: &'static str) -> Result<Scan, super::AdapterError> {
        let mut scan = self.finish()?;
        scan.frame = scan.frame.with_column(lit(tier).alias(crate::schema::TIER));
        Ok(scan)
    }

    pub fn finish(self) -> Result<Scan, super::AdapterError> {
        let (frame, skipped) = self.into_frame()?;
        Ok(super::Part {
            frame,
            skipped,
            hashes: Vec::new(),
        }
        .into_scan())
    }

    /// The rows as a frame, and the records skipped on purpose by reason.
    pub fn into_frame(
        self,
    ) -> Result<(DataFrame, BTreeMap<&'static str, u64>), super::AdapterError> {
        let height = self.lines.len();
        // Most files have no unreadable record: a column of nulls then costs nothing per row.
        let maybe_null = |name: &str, values: Vec<Option<String>>| {
            if values.iter().all(Option::is_none) {
                Column::full_null(name.into(), height, &DataType::String)
            } else {
                Column::new(name.into(), values)
            }
        };
        let mut columns = vec![
            Column::new(ROW.into(), self.lines),
            maybe_null(ERROR, self.errors),
            maybe_null(RAW, self.raws),
        ];
        for (name, values) in self.text {
            columns.push(values.finish(name, height));
        }
        for (name, values) in self.counts {
            columns.push(Column::new(name.into(), values));
        }
        for (name, values) in self.times {
            columns.push(Column::new(name.into(), values).cast(&DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            ))?);
        }
        for (name, values) in self.amounts {
            columns.push(Column::new(name.into(), values));
        }
        Ok((DataFrame::new(height, columns)?, self.skipped))
    }
}

/// A date-time as tracker exports write them, as ISO 8601 UTC text (`2026-09-21T16:13:00Z`):
/// ISO 8601 with or without offset, `2026-09-21 16:13`, Jira's default `21/Sep/26 4:13 PM`,
/// and JavaScript's `Mon Sep 21 2026 16:13:00 GMT+0000 (…)`. Times without a zone are UTC.
pub fn tracker_time(text: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let utc = |t: NaiveDateTime| t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(utc(t.naive_utc()));
    }
    // JavaScript's Date.toString(): drop the zone's name in parentheses.
    let js = text.split(" (").next().unwrap_or(text);
    if let Ok(t) = DateTime::parse_from_str(js, "%a %b %d %Y %H:%M:%S GMT%z") {
        return Some(utc(t.naive_utc()));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%d/%b/%y %I:%M %p",
        "%d/%b/%Y %I:%M %p",
        "%d/%b/%y %H:%M",
        "%m/%d/%Y %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(utc(t));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| utc(d.and_hms_opt(0, 0, 0).expect("midnight")))
}

/// Where a tracker's issue export keeps what a closed ticket needs, and how its skips read.
pub struct TicketColumns {
    pub key: &'static str,
    pub assignee: &'static str,
    /// When the issue was resolved or completed; empty for open issues.
    pub closed_at: &'static str,
    /// Projects or teams, the first one present wins.
    pub project: &'static [&'static str],
    pub open_skip: &'static str,
    pub unassigned_skip: &'static str,
}

/// One `ticket_closed` output per closed, assigned issue of a tracker's CSV export; open and
/// unassigned issues are skipped and counted. Read with the CSV splitter every vendor CSV
/// shares ([`super::fields::csv_records`]): a record that cannot be split, one with more fields
/// than the header, or a close time no format reads is quarantined by its line, and the rest
/// is read.
pub fn closed_tickets(
    path: &std::path::Path,
    columns: &TicketColumns,
) -> Result<Scan, super::AdapterError> {
    use super::fields::{csv_records, CsvHeader};
    use crate::schema;
    let bytes = std::fs::read(path)?;
    let mut parsed = csv_records(&bytes).into_iter();
    let mut records = Records::new(
        &[
            schema::TS,
            schema::AGENT,
            schema::KIND,
            schema::REF,
            schema::REPO,
        ],
        &[],
        &[schema::AMOUNT],
    );
    let header = match parsed.next() {
        Some(Ok(record)) => CsvHeader::new(&record.fields),
        Some(Err(err)) => {
            return Err(super::AdapterError::Record {
                line: err.line,
                why: format!("the header is not CSV: {}", err.reason),
            })
        }
        None => return records.finish(),
    };
    let at = |name: &str| header.find(&[name]);
    let (key, assignee, closed_at) = (at(columns.key), at(columns.assignee), at(columns.closed_at));
    let projects: Vec<usize> = columns.project.iter().filter_map(|name| at(name)).collect();
    for record in parsed {
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                records.unreadable(
                    err.line,
                    format!("not a CSV record: {}", err.reason),
                    err.raw,
                );
                continue;
            }
        };
        if record.fields.len() > header.len() {
            records.unreadable(
                record.line,
                format!(
                    "{} fields where the header has {} (a comma in a value that is not quoted?)",
                    record.fields.len(),
                    header.len()
                ),
                record.raw,
            );
            continue;
        }
        let cell = |at: Option<usize>| {
            at.and_then(|i| record.fields.get(i))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let Some(closed) = cell(closed_at) else {
            records.skip(columns.open_skip);
            continue;
        };
        let Some(agent) = cell(assignee) else {
            records.skip(columns.unassigned_skip);
            continue;
        };
        let Some(ts) = tracker_time(closed) else {
            records.unreadable(
                record.line,
                format!("`{}` is not a date: `{closed}`", columns.closed_at),
                cell(key).unwrap_or("").as_bytes(),
            );
            continue;
        };
        records.row(record.line);
        records.text(schema::TS, ts);
        records.text(schema::AGENT, agent);
        records.text(schema::KIND, "ticket_closed");
        records.amount(schema::AMOUNT, 1.0);
        if let Some(key) = cell(key) {
            records.text(schema::REF, key);
        }
        if let Some(project) = projects.iter().find_map(|p| cell(Some(*p))) {
            records.text(schema::REPO, project);
        }
    }
    records.finish()
}

/// Splits `bytes` into about `parts` pieces that end at line ends, each with the number of its
/// first line, so pieces can be parsed in parallel and still name lines.
pub fn line_chunks(bytes: &[u8], parts: usize) -> Vec<(u64, &[u8])> {
    let target = (bytes.len() / parts.max(1)).max(1 << 20);
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut line = 1u64;
    while start < bytes.len() {
        let mut end = (start + target).min(bytes.len());
        if end < bytes.len() {
            end = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |i| end + i + 1);
        }
        let chunk = &bytes[start..end];
        chunks.push((line, chunk));
        line += memchr::memchr_iter(b'\n', chunk).count() as u64;
        start = end;
    }
    chunks
}

/// The lines of a chunk with their numbers; a trailing `\r` is removed, blank lines are left out.
pub fn numbered_lines(first: u64, chunk: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    // Line ends found with memchr: a log line holds a whole message or tool output, and a
    // byte-at-a-time split cost a fifth of reading a folder of session logs.
    let mut ends = memchr::memchr_iter(b'\n', chunk);
    let (mut start, mut number, mut done) = (0usize, first, false);
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        let line = match ends.next() {
            Some(end) => {
                let line = &chunk[start..end];
                start = end + 1;
                line
            }
            None => {
                done = true;
                &chunk[start..]
            }
        };
        number += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            return Some((number - 1, line));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_columns_hold_what_was_set_repeats_gaps_and_corrections_included() {
        // Values that repeat (stored once and pointed at again), long and short ones, rows
        // never set (null), a value set twice (the second kept), and parts appended.
        let long = "a-session-id-longer-than-twelve-bytes";
        let mut expected: Vec<Option<String>> = Vec::new();
        let mut records = Records::new(&["a", "b"], &[], &[]);
        let mut part = Records::new(&["a", "b"], &[], &[]);
        for i in 0..40u64 {
            let target = if i < 25 { &mut records } else { &mut part };
            target.row(i + 1);
            let value = match i % 7 {
                0..=2 => Some(long.to_string()),
                3 => None,
                4 => Some("short".to_string()),
                5 => Some(format!("{long}-{i}")),
                _ => Some(String::new()),
            };
            if let Some(v) = &value {
                target.text("a", v);
            }
            if i == 11 {
                target.text("a", "corrected, and long enough to live in a buffer");
            }
            target.text("b", long);
            expected.push(if i == 11 {
                Some("corrected, and long enough to live in a buffer".into())
            } else {
                value
            });
        }
        records.append(part);
        let frame = records.finish().unwrap().frame.collect().unwrap();
        let a: Vec<Option<String>> = frame
            .column("a")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(String::from))
            .collect();
        assert_eq!(a, expected);
        let b = frame.column("b").unwrap().str().unwrap();
        assert!(b.iter().all(|v| v == Some(long)));
        // Nothing unreadable: the error columns are all null.
        assert_eq!(frame.column(ERROR).unwrap().null_count(), 40);
    }

    #[test]
    fn chunks_end_at_line_ends_and_count_lines() {
        let text = "a\nbb\nccc\n".repeat(400_000);
        let chunks = line_chunks(text.as_bytes(), 4);
        assert!(chunks.len() > 1);
        let mut expected_line = 1;
        for (first, chunk) in &chunks {
            assert_eq!(*first, expected_line);
            assert!(chunk.ends_with(b"\n"));
            expected_line += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        }
        let joined: Vec<u8> = chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        assert_eq!(joined, text.as_bytes());
        let lines: Vec<(u64, &[u8])> = numbered_lines(7, b"x\n\n  \ny\r\n").collect();
        assert_eq!(lines, vec![(7, &b"x"[..]), (10, &b"y"[..])]);
        // The last line without its end, and nothing at all.
        let lines: Vec<(u64, &[u8])> = numbered_lines(1, b"\nx\r\ny").collect();
        assert_eq!(lines, vec![(2, &b"x"[..]), (3, &b"y"[..])]);
        assert_eq!(numbered_lines(1, b"").count(), 0);
        assert_eq!(numbered_lines(1, b"\n\n").count(), 0);
    }

    #[test]
    fn a_tracker_export_quarantines_its_broken_records_by_line_and_reads_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issues.csv");
        std::fs::write(
            &path,
            "Issue key,Assignee,Resolved,Project key\n\
             A-1,dana,2026-09-07 10:00,A\n\
             A-2,eli,2026-09-08 10:00,A,extra\n\
             A-3,\"fay,2026-09-09 10:00,A\n\
             A-4,\"gus\nmoreau\",2026-09-10 10:00,A\n",
        )
        .unwrap();
        let columns = TicketColumns {
            key: "Issue key",
            assignee: "Assignee",
            closed_at: "Resolved",
            project: &["Project key"],
            open_skip: "open",
            unassigned_skip: "unassigned",
        };
        let frame = closed_tickets(&path, &columns)
            .unwrap()
            .frame
            .collect()
            .unwrap();
        let lines: Vec<u64> = frame
            .column(ROW)
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let errors: Vec<Option<&str>> =
            frame.column(ERROR).unwrap().str().unwrap().iter().collect();
        // A-1 and A-4 (a quoted line end inside a name) are read; A-2 has a field too many and
        // A-3 a quote never closed, each quarantined on its own line.
        assert_eq!(lines, [2, 3, 4, 5]);
        assert_eq!(errors[0], None);
        assert!(errors[1]
            .unwrap()
            .contains("5 fields where the header has 4"));
        assert!(errors[2].unwrap().starts_with("not a CSV record"));
        assert_eq!(errors[3], None);
        let agents = frame.column("agent").unwrap().str().unwrap();
        assert_eq!(agents.get(3), Some("gus\nmoreau"));
    }

    #[test]
    fn tracker_times_in_every_export_style() {
        let want = Some("2026-09-21T16:13:00Z".to_string());
        assert_eq!(tracker_time("2026-09-21T16:13:00Z"), want);
        assert_eq!(tracker_time("2026-09-21T18:13:00+02:00"), want);
        assert_eq!(tracker_time("2026-09-21T16:13:00.000Z"), want);
        assert_eq!(tracker_time("2026-09-21 16:13"), want);
        assert_eq!(tracker_time("21/Sep/26 4:13 PM"), want);
        assert_eq!(
            tracker_time("Mon Sep 21 2026 16:13:00 GMT+0000 (Coordinated Universal Time)"),
            want
        );
        assert_eq!(tracker_time("soon"), None);
        assert_eq!(tracker_time(""), None);
    }

    #[test]
    fn records_number_rows_and_mark_unreadable_ones() {
        let mut records = Records::new(&["agent"], &["input_tokens"], &["cost_usd"]);
        records.row(3);
        records.text("agent", "dana");
        records.count("input_tokens", 12);
        records.amount("cost_usd", 0.25);
        records.unreadable(4, "not JSON", b"{oops");
        records.skip("synthetic");
        let scan = records.finish().unwrap();
        let frame = scan.frame.collect().unwrap();
        assert_eq!(frame.height(), 2);
        assert_eq!(scan.skipped["synthetic"], 1);
        assert_eq!(frame.column(ERROR).unwrap().null_count(), 1);
        let cost = frame.column("cost_usd").unwrap().f64().unwrap().clone();
        assert_eq!(cost.get(0), Some(0.25));
        assert_eq!(cost.get(1), None);
    }
}
