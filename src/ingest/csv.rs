//! Canonical CSV: a header row with canonical column names, comma-separated.
//!
//! Every column is read as text so that one bad value cannot fail the whole scan: typing and
//! validation happen in `canonical`, row by row, and bad rows go to quarantine. Bytes that are
//! not UTF-8 are read as U+FFFD, so a count holding them is quarantined like any bad count and
//! a damaged name stays visible, rather than stopping the run. A record with more fields than
//! the header (a comma in a value that is not quoted) is quarantined too: one quote-aware pass
//! over the file finds such records before polars reads it. Not covered: vendor CSV exports
//! with their own column names (those get their own adapters).

use std::path::Path;

use polars::prelude::*;

use super::canonical::{ERROR, RAW};
use super::Adapter;

pub struct CsvAdapter;

impl Adapter for CsvAdapter {
    fn name(&self) -> &'static str {
        "canonical-csv"
    }

    fn names(&self) -> &'static [&'static str] {
        &["csv"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["csv"]
    }

    fn recognition(&self) -> super::Recognition {
        super::Recognition::Anything
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        // CSV is the fallback; anything not recognised as another format is tried as CSV.
        true
    }

    fn scan(
        &self,
        path: &Path,
        _table: crate::schema::Table,
    ) -> Result<super::Scan, super::AdapterError> {
        let ragged = std::fs::File::open(path)
            .and_then(|file| ragged_records(std::io::BufReader::with_capacity(1 << 20, file)))?;
        let frame = LazyCsvReader::new(PlRefPath::try_from_path(path)?)
            .with_has_header(true)
            // Zero rows of inference reads every column as text; `canonical` types them.
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(true)
            .with_encoding(CsvEncoding::LossyUtf8)
            .with_truncate_ragged_lines(!ragged.records.is_empty())
            .finish()?;
        if ragged.records.is_empty() {
            return Ok(frame.into());
        }
        // The ragged records, by data row: why, and their text.
        let (rows, raws): (Vec<u32>, Vec<String>) = ragged
            .records
            .into_iter()
            .map(|r| (r.row as u32, r.text))
            .unzip();
        let why = format!(
            "more fields than the header's {} (a comma in a value that is not quoted?)",
            ragged.header_fields
        );
        let marks = df![
            RAGGED_ROW => rows,
            ERROR => vec![why; raws.len()],
            RAW => raws,
        ]?
        .lazy();
        Ok(frame
            .with_row_index(RAGGED_ROW, Some(1))
            .join(
                marks,
                [col(RAGGED_ROW)],
                [col(RAGGED_ROW)],
                JoinArgs {
                    maintain_order: MaintainOrderJoin::Left,
                    ..JoinArgs::new(JoinType::Left)
                },
            )
            .drop(by_name([RAGGED_ROW], true, false))
            .into())
    }
}

/// The data row (1-based) column used to mark ragged records.
const RAGGED_ROW: &str = "_csv_row";

/// How much of a ragged record's text the quarantine file shows.
const RAW_CHARS: usize = 200;

/// The records of a CSV file with more fields than its header.
#[derive(Debug, Default, PartialEq)]
pub struct Ragged {
    pub header_fields: usize,
    pub records: Vec<RaggedRecord>,
}

#[derive(Debug, PartialEq)]
pub struct RaggedRecord {
    /// The data row, counted as polars counts rows (every record after the header).
    pub row: u64,
    /// The start of the record's text.
    pub text: String,
}

/// Every record with more fields than the header, in one streaming pass that follows quotes
/// (a comma or line end inside quotes is part of a value). An empty field counts: `1,000,` past
/// the header is two fields too many even though the last is empty.
pub fn ragged_records(mut reader: impl std::io::BufRead) -> std::io::Result<Ragged> {
    let mut ragged = Ragged::default();
    let (mut record, mut fields, mut quoted) = (0u64, 1usize, false);
    // The bytes of the record being read, kept up to RAW_CHARS (in case it is ragged).
    let mut text: Vec<u8> = Vec::new();
    let mut header: Option<usize> = None;
    let mut empty = true;
    let mut end = |record: u64, fields: usize, text: &[u8], ragged: &mut Ragged| match header {
        None => {
            header = Some(fields);
            ragged.header_fields = fields;
        }
        Some(columns) if fields > columns => {
            let text = String::from_utf8_lossy(text);
            let text = text.trim_end_matches('\r');
            ragged.records.push(RaggedRecord {
                row: record,
                text: text.chars().take(RAW_CHARS).collect(),
            });
        }
        Some(_) => {}
    };
    loop {
        let piece = reader.fill_buf()?;
        if piece.is_empty() {
            if !empty {
                end(record, fields, &text, &mut ragged);
            }
            return Ok(ragged);
        }
        for &byte in piece {
            empty = false;
            match byte {
                b'"' => quoted = !quoted,
                b',' if !quoted => fields += 1,
                b'\n' if !quoted => {
                    // Blank lines before the header are not the header.
                    let blank = text.iter().all(u8::is_ascii_whitespace) && fields == 1;
                    if !(blank && record == 0) {
                        end(record, fields, &text, &mut ragged);
                        record += 1;
                    }
                    (fields, empty) = (1, true);
                    text.clear();
                    continue;
                }
                _ => {}
            }
            if text.len() < RAW_CHARS * 4 {
                text.push(byte);
            }
        }
        let read = piece.len();
        reader.consume(read);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> DataFrame {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.csv");
        std::fs::write(&path, text).unwrap();
        let scan = CsvAdapter.scan(&path, crate::schema::Table::Usage).unwrap();
        scan.frame.collect().unwrap()
    }

    fn flagged(frame: &DataFrame) -> Vec<bool> {
        match frame.column(ERROR) {
            Ok(error) => error.str().unwrap().iter().map(|e| e.is_some()).collect(),
            Err(_) => vec![false; frame.height()],
        }
    }

    #[test]
    fn a_record_with_more_fields_than_the_header_is_marked_and_the_rest_read() {
        let frame = read("ts,agent,model\n1,\"a,b\nc\",m\n2,x,m,extra,more\n3,y\n");
        assert_eq!(frame.height(), 3);
        assert_eq!(flagged(&frame), [false, true, false]);
        let error = frame.column(ERROR).unwrap().str().unwrap();
        assert!(error
            .get(1)
            .unwrap()
            .starts_with("more fields than the header's 3"));
        let raw = frame.column(RAW).unwrap().str().unwrap();
        assert_eq!(raw.get(1), Some("2,x,m,extra,more"));
        // A quoted comma and line end are one field; a short record has nulls.
        let agent = frame.column("agent").unwrap().str().unwrap();
        assert_eq!(agent.get(0), Some("a,b\nc"));
        assert_eq!(frame.column("model").unwrap().str().unwrap().get(2), None);
        let names: Vec<&str> = frame
            .get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect();
        assert_eq!(names, ["ts", "agent", "model", ERROR, RAW]);
    }

    #[test]
    fn an_empty_field_past_the_header_is_still_one_too_many() {
        // A thousands separator in a number and an empty last field: the record has one field
        // more than the header even though that field is empty.
        let frame = read("ts,agent,model\n1,a,m\n2,b,m,\n3,c\n4,d,m,x\n5,e,\n6,f,\"\"\n");
        assert_eq!(flagged(&frame), [false, true, false, true, false, false]);
        // A short record and empty fields are nulls, for `canonical` to judge.
        let model = frame.column("model").unwrap().str().unwrap();
        assert_eq!(model.get(2), None);
        assert_eq!(model.get(4), None);
        assert_eq!(model.get(0), Some("m"));
    }

    #[test]
    fn rows_are_counted_as_polars_counts_them() {
        // A blank line is a row to polars (quarantined later as empty); the ragged record after
        // it is marked on its own row, and CRLF ends are not part of the text shown.
        let frame = read("ts,agent\r\n1,a\r\n\r\n2,b,c\r\n3,d\r\n");
        assert_eq!(flagged(&frame), [false, false, true, false]);
        let raw = frame.column(RAW).unwrap().str().unwrap();
        assert_eq!(raw.get(2), Some("2,b,c"));
        assert_eq!(
            frame.column("agent").unwrap().str().unwrap().get(3),
            Some("d")
        );
    }

    #[test]
    fn blank_lines_before_the_header_are_not_the_header() {
        let frame = read("\n\nts,agent\n1,a\n2,b,c\n");
        assert_eq!(flagged(&frame), [false, true]);
        assert_eq!(
            frame.column("agent").unwrap().str().unwrap().get(0),
            Some("a")
        );
    }

    #[test]
    fn a_header_without_rows_is_no_rows() {
        for text in ["ts,agent\n", "ts,agent\r\n", "ts,agent"] {
            assert_eq!(read(text).height(), 0, "{text:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_not_part_of_the_names() {
        let frame = read("\u{feff}ts,agent\r\n1,a\r\n");
        let agent = frame.column("agent").unwrap().str().unwrap();
        assert_eq!(agent.get(0), Some("a"));
        assert_eq!(flagged(&frame), [false]);
    }

    #[test]
    fn ragged_records_are_found_across_pieces_of_the_file() {
        let text = b"ts,agent,model\n1,\"a,b\nc\",m\n2,x,m,extra\n3,y,m\n4,z,m,,\n";
        let small = std::io::BufReader::with_capacity(3, &text[..]);
        let found = ragged_records(small).unwrap();
        assert_eq!(found.header_fields, 3);
        let rows: Vec<u64> = found.records.iter().map(|r| r.row).collect();
        assert_eq!(rows, [2, 4]);
        assert_eq!(found.records[0].text, "2,x,m,extra");
    }
}
