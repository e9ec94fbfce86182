//! Canonical NDJSON: one JSON object per line with canonical keys.
//!
//! Values may be JSON numbers or strings (`"input_tokens": "1200"` is accepted); `canonical`
//! casts them. The schema is inferred from the whole file so a key that first appears late is
//! not lost. Not covered: nested vendor JSON (each vendor gets its own adapter).

use std::path::Path;

use polars::prelude::*;

use super::Adapter;

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

    fn scan(&self, path: &Path, _table: crate::schema::Table) -> PolarsResult<super::Scan> {
        LazyJsonLineReader::new(PlRefPath::try_from_path(path)?)
            .with_infer_schema_length(None)
            .finish()
            .map(Into::into)
    }
}
