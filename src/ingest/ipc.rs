//! Canonical Arrow IPC (Feather v2) files, with the same column rules as Parquet.
//! Arrow IPC *streams* (no footer) are not covered.

use std::path::Path;

use polars::prelude::*;

use super::Adapter;

pub struct IpcAdapter;

impl Adapter for IpcAdapter {
    fn name(&self) -> &'static str {
        "canonical-ipc"
    }

    fn names(&self) -> &'static [&'static str] {
        &["ipc", "arrow", "feather"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["arrow", "ipc", "feather"]
    }

    fn recognition(&self) -> super::Recognition {
        super::Recognition::Magic
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"ARROW1")
    }

    fn scan(
        &self,
        path: &Path,
        _table: crate::schema::Table,
    ) -> Result<super::Scan, super::AdapterError> {
        LazyFrame::scan_ipc(
            PlRefPath::try_from_path(path)?,
            IpcScanOptions::default(),
            UnifiedScanArgs::default(),
        )
        .map(Into::into)
        .map_err(Into::into)
    }
}
