//! Canonical Parquet: columns named as in the canonical schema, any reasonable physical types
//! (integers of any width, timestamps in any unit or zone, or text), cast by `canonical`.

use std::path::Path;

use polars::prelude::*;

use super::Adapter;

pub struct ParquetAdapter;

impl Adapter for ParquetAdapter {
    fn name(&self) -> &'static str {
        "canonical-parquet"
    }

    fn names(&self) -> &'static [&'static str] {
        &["parquet", "pq"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["parquet", "pq"]
    }

    fn recognition(&self) -> super::Recognition {
        super::Recognition::Magic
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"PAR1")
    }

    fn scan(
        &self,
        path: &Path,
        _table: crate::schema::Table,
    ) -> Result<super::Scan, super::AdapterError> {
        LazyFrame::scan_parquet(PlRefPath::try_from_path(path)?, ScanArgsParquet::default())
            .map(Into::into)
            .map_err(Into::into)
    }
}
