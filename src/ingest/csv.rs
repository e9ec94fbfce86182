//! Canonical CSV: a header row with canonical column names, comma-separated.
//!
//! Every column is read as text so that one bad value cannot fail the whole scan: typing and
//! validation happen in `canonical`, row by row, and bad rows go to quarantine. Bytes that are
//! not UTF-8 are read as U+FFFD, so a count holding them is quarantined like any bad count and
//! a damaged name stays visible, rather than stopping the run. Not covered:
//! vendor CSV exports with their own column names (those get their own adapters).

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
        let reader = LazyCsvReader::new(PlRefPath::try_from_path(path)?)
            .with_missing_is_null(true)
            .with_encoding(CsvEncoding::LossyUtf8);
        let Some(names) = header(path)? else {
            // No header on the first line (an empty file, blank lines first, names twice):
            // polars reads it as it can, and says what it cannot.
            return Ok(reader
                .with_has_header(true)
                // Zero rows of inference reads every column as text; `canonical` types them.
                .with_infer_schema_length(Some(0))
                .finish()?
                .into());
        };
        // One column more than the header, so that a record with more fields than the header
        // is seen (its extra field lands there) and quarantined, not a reason to stop the run.
        let mut schema = Schema::with_capacity(names.len() + 1);
        for name in &names {
            schema.with_column(name.as_str().into(), DataType::String);
        }
        schema.with_column(EXTRA.into(), DataType::String);
        let frame = reader
            .with_has_header(false)
            .with_skip_rows(1)
            .with_schema(Some(Arc::new(schema)))
            .with_truncate_ragged_lines(true)
            .finish()?;
        // The record's first field past the header is what the quarantine file shows: joining
        // every field of every row to show the few ragged ones cost 8% more memory.
        let why = format!(
            "more fields than the header's {} (a comma in a value that is not quoted?); shown: the first field past them",
            names.len()
        );
        Ok(frame
            .with_columns([
                when(col(EXTRA).is_not_null())
                    .then(lit(why))
                    .otherwise(lit(NULL).cast(DataType::String))
                    .alias(ERROR),
                col(EXTRA).alias(RAW),
            ])
            .drop(by_name([EXTRA], true, false))
            .into())
    }
}

/// The column that catches a record's fields beyond the header's.
const EXTRA: &str = "_extra_fields";

/// The column names on the first line of a CSV file, or `None` when the first line is not a
/// header read here (blank, a quoted name spanning lines, a name given twice).
fn header(path: &Path) -> Result<Option<Vec<String>>, super::AdapterError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let Some(end) = memchr::memchr(b'\n', head) else {
        return Ok(None);
    };
    let first = &head[..end];
    if first.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let Some(Ok(record)) = super::fields::csv_records(first).into_iter().next() else {
        return Ok(None);
    };
    let names: Vec<String> = record.fields.iter().map(|f| f.to_string()).collect();
    let distinct: std::collections::HashSet<&String> = names.iter().collect();
    Ok((distinct.len() == names.len()).then_some(names))
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

    #[test]
    fn a_record_with_more_fields_than_the_header_is_marked_and_the_rest_read() {
        let frame = read("ts,agent,model\n1,\"a,b\nc\",m\n2,x,m,extra,more\n3,y\n");
        assert_eq!(frame.height(), 3);
        let error = frame.column(ERROR).unwrap().str().unwrap();
        assert_eq!(error.get(0), None);
        assert!(error
            .get(1)
            .unwrap()
            .starts_with("more fields than the header's 3"));
        let raw = frame.column(RAW).unwrap().str().unwrap();
        assert_eq!(raw.get(1), Some("extra"));
        assert_eq!(raw.get(0), None);
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
    fn a_byte_order_mark_and_crlf_are_not_part_of_the_names() {
        let frame = read("\u{feff}ts,agent\r\n1,a\r\n");
        let agent = frame.column("agent").unwrap().str().unwrap();
        assert_eq!(agent.get(0), Some("a"));
        assert_eq!(frame.column(ERROR).unwrap().null_count(), 1);
    }
}
