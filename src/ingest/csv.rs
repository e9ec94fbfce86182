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

    fn sniff(&self, _head: &[u8]) -> bool {
        // CSV is the fallback; anything not recognised as another format is tried as CSV.
        true
    }

    fn scan(&self, path: &Path, _table: crate::schema::Table) -> PolarsResult<super::Scan> {
        LazyCsvReader::new(PlRefPath::try_from_path(path)?)
            .with_has_header(true)
            // Zero rows of inference reads every column as text; `canonical` types them.
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(true)
            .with_encoding(CsvEncoding::LossyUtf8)
            .finish()
            .map(Into::into)
    }
}
