//! Canonical CSV: a header row with canonical column names, comma-separated.
//!
//! Every column is read as text so that one bad value cannot fail the whole scan: typing and
//! validation happen in `canonical`, row by row, and bad rows go to quarantine. Bytes that are
//! not UTF-8 are read as U+FFFD, so a count holding them is quarantined like any bad count and
//! a damaged name stays visible, rather than stopping the run. Not covered:
//! vendor CSV exports with their own column names (those get their own adapters).

use std::path::Path;

use polars::prelude::*;

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

    fn explain(&self, path: &Path, err: PolarsError) -> super::AdapterError {
        // polars names no line for a record with more fields than the header: find it.
        if !err.to_string().contains("more fields than defined") {
            return err.into();
        }
        let ragged = std::fs::File::open(path)
            .and_then(|f| first_ragged_line(std::io::BufReader::new(f)))
            .ok()
            .flatten();
        match ragged {
            Some((line, fields, columns)) => super::AdapterError::Record {
                line,
                why: format!("{fields} fields where the header has {columns} (a comma in a value that is not quoted?)"),
            },
            None => err.into(),
        }
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
        LazyCsvReader::new(PlRefPath::try_from_path(path)?)
            .with_has_header(true)
            // Zero rows of inference reads every column as text; `canonical` types them.
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(true)
            .with_encoding(CsvEncoding::LossyUtf8)
            .finish()
            .map(Into::into)
            .map_err(Into::into)
    }
}

/// The first record of a canonical CSV file with more fields than its header, as its first
/// line, its field count and the header's: polars' reader stops on it without naming it. Reads
/// the file in pieces (it is called on the error path, and the file may be large).
pub fn first_ragged_line(
    mut reader: impl std::io::BufRead,
) -> std::io::Result<Option<(u64, usize, usize)>> {
    let (mut line, mut starts, mut fields, mut quoted) = (1u64, 1u64, 1usize, false);
    let mut header = None;
    let mut end_record = |starts: u64, fields: usize| match header {
        None => {
            header = Some(fields);
            None
        }
        Some(columns) if fields > columns => Some((starts, fields, columns)),
        Some(_) => None,
    };
    loop {
        let piece = reader.fill_buf()?;
        if piece.is_empty() {
            return Ok(end_record(starts, fields));
        }
        for &byte in piece {
            match byte {
                b'"' => quoted = !quoted,
                b',' if !quoted => fields += 1,
                b'\n' => {
                    line += 1;
                    if !quoted {
                        if let Some(ragged) = end_record(starts, fields) {
                            return Ok(Some(ragged));
                        }
                        (starts, fields) = (line, 1);
                    }
                }
                _ => {}
            }
        }
        let read = piece.len();
        reader.consume(read);
    }
}

#[cfg(test)]
mod tests {
    use super::first_ragged_line;

    #[test]
    fn the_first_record_with_more_fields_than_the_header_is_found_by_its_line() {
        let text = b"ts,agent,model\n1,\"a,b\nc\",m\n2,x,m,extra\n3,y,m\n";
        let ragged = |text: &[u8]| first_ragged_line(text).unwrap();
        assert_eq!(ragged(text), Some((4, 4, 3)));
        assert_eq!(ragged(b"a,b\n1,2\n3,4"), None);
        assert_eq!(ragged(b"a,b\n1,2\n3,4,5"), Some((3, 3, 2)));
        // Read in pieces smaller than a line, as from a large file.
        let small = std::io::BufReader::with_capacity(3, &text[..]);
        assert_eq!(first_ragged_line(small).unwrap(), Some((4, 4, 3)));
    }
}
