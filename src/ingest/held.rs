//! Rows an adapter parsed into memory, held up to a budget and written to a temporary Arrow
//! IPC file past it.
//!
//! Vendor adapters parse records in Rust, so their rows exist as columns before the plan runs;
//! a company's folder of session logs would otherwise be held whole (about 240 bytes a
//! streamed line, 1.5 GB for 11.6 GB of logs). Past the budget, the rows of consecutive scans of
//! one format and table are appended to one temporary file, a record batch per read, and the
//! plan scans that file once: one source streamed in small batches, not a source per read. The
//! rows, their order within each read and their types are the same either way; only where they
//! wait differs. The files go when the [`Held`] is dropped.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use polars::io::ipc::BatchedWriter;
use polars::prelude::*;
use polars_arrow::io::ipc::write::default_ipc_fields;

use super::{canonical, Format, IngestError};
use crate::schema::Table;

/// Bytes of parsed rows held in memory before further reads go to a temporary file. Past it
/// rows cost a write and a read of LZ4 Arrow: a 1 GB folder of session logs (about 50 MB of
/// rows) took the same time with this budget as all in memory (BENCHMARKS.md, "Held rows").
pub const DEFAULT_BYTES_IN_MEMORY: usize = 32 << 20;

/// Rows ready to be checked: the index of the first file they come from, and the rows.
pub struct Ready {
    pub at: u32,
    pub frame: LazyFrame,
}

/// The temporary file rows are being appended to.
struct Open {
    at: u32,
    run: (Format, Table),
    schema: SchemaRef,
    path: PathBuf,
    writer: BatchedWriter<BufWriter<File>>,
}

/// The reads held in memory so far, and the temporary files of those that were not.
pub struct Held {
    budget: usize,
    in_memory: usize,
    dir: Option<crate::scratch::Scratch>,
    files: usize,
    open: Option<Open>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("budget", &self.budget)
            .field("in_memory", &self.in_memory)
            .field("files", &self.files)
            .finish()
    }
}

impl Held {
    pub fn new(budget: usize) -> Held {
        Held {
            budget,
            in_memory: 0,
            dir: None,
            files: 0,
            open: None,
        }
    }

    /// Takes the rows of one read (of files from index `at`, in format and table `run`;
    /// `held_bytes` of them in memory, 0 for a file scan) and gives back what is ready to be
    /// checked: the read itself when it fits the budget or holds nothing, else nothing yet
    /// (its rows wait in the open file), and a file closed because its run ended.
    pub fn keep(
        &mut self,
        at: u32,
        run: (Format, Table),
        frame: LazyFrame,
        held_bytes: usize,
    ) -> Result<Vec<Ready>, IngestError> {
        let mut ready = Vec::new();
        if self.open.as_ref().is_some_and(|open| open.run != run) {
            ready.extend(self.close()?);
        }
        if held_bytes == 0 || self.in_memory + held_bytes <= self.budget {
            self.in_memory += held_bytes;
            ready.push(Ready { at, frame });
            return Ok(ready);
        }
        let engine = |path: &PathBuf, e: PolarsError| IngestError::Held {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        let temp = std::env::temp_dir();
        let mut rows = frame.collect().map_err(|e| engine(&temp, e))?;
        rows.align_chunks_par();
        // Rows of several files carry their file; only those can share a file with others.
        let shareable = rows.column(canonical::FILE).is_ok();
        if self
            .open
            .as_ref()
            .is_some_and(|open| !shareable || open.schema.as_ref() != rows.schema().as_ref())
        {
            ready.extend(self.close()?);
        }
        if self.open.is_none() {
            self.open = Some(self.create(at, run, rows.schema().clone())?);
        }
        let open = self.open.as_mut().expect("an open file");
        open.writer
            .write_batch(&rows)
            .map_err(|e| engine(&open.path, e))?;
        if !shareable {
            ready.extend(self.close()?);
        }
        Ok(ready)
    }

    /// The open file, finished and scanned, if there is one.
    pub fn close(&mut self) -> Result<Option<Ready>, IngestError> {
        let Some(mut open) = self.open.take() else {
            return Ok(None);
        };
        let path = open.path.clone();
        let engine = |e: PolarsError| IngestError::Held {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        open.writer.finish().map_err(engine)?;
        drop(open.writer);
        let frame = LazyFrame::scan_ipc(
            PlRefPath::try_from_path(&path).map_err(engine)?,
            IpcScanOptions::default(),
            UnifiedScanArgs::default(),
        )
        .map_err(engine)?;
        Ok(Some(Ready { at: open.at, frame }))
    }

    fn create(
        &mut self,
        at: u32,
        run: (Format, Table),
        schema: SchemaRef,
    ) -> Result<Open, IngestError> {
        if self.dir.is_none() {
            let dir = crate::scratch::Scratch::new("rows").map_err(|source| IngestError::Held {
                path: std::env::temp_dir(),
                source,
            })?;
            self.dir = Some(dir);
        }
        self.files += 1;
        let dir = self.dir.as_ref().expect("a directory");
        let path = dir.path().join(format!("{:05}.arrow", self.files));
        let failed = |source: std::io::Error| IngestError::Held {
            path: path.clone(),
            source,
        };
        let file = File::create(&path).map_err(failed)?;
        let writer = lz4_ipc_writer(file, &schema)
            .map_err(|e| failed(std::io::Error::other(e.to_string())))?;
        Ok(Open {
            at,
            run,
            schema,
            path,
            writer,
        })
    }
}

/// A writer of record batches of `schema` to `file` as LZ4 Arrow IPC: how rows wait on disk
/// (here, and by day in `features::rows`).
pub fn lz4_ipc_writer(
    file: File,
    schema: &SchemaRef,
) -> PolarsResult<BatchedWriter<BufWriter<File>>> {
    let fields = default_ipc_fields(schema.to_arrow(CompatLevel::newest()).iter_values());
    IpcWriter::new(BufWriter::new(file))
        .with_compression(Some(IpcCompression::LZ4))
        .batched(schema, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str) -> (Format, Table) {
        (Format::parse(name).unwrap(), Table::Usage)
    }

    /// Rows of `files` (one row each, tagged with its file when `tagged`).
    fn read(first: u32, rows: &[i64], tagged: bool) -> (LazyFrame, usize) {
        let mut frame = df![canonical::ROW => rows, "input_tokens" => rows].unwrap();
        if tagged {
            let files: Vec<u32> = (first..first + rows.len() as u32).collect();
            frame
                .with_column(Column::new(canonical::FILE.into(), files))
                .unwrap();
        }
        let size = frame.estimated_size();
        (frame.lazy(), size)
    }

    fn rows(ready: &Ready) -> Vec<i64> {
        let frame = ready.frame.clone().collect().unwrap();
        let column = frame.column(canonical::ROW).unwrap().i64().unwrap().clone();
        column.iter().flatten().collect()
    }

    #[test]
    fn reads_within_the_budget_come_back_as_they_are() {
        let mut held = Held::new(1 << 20);
        let (frame, size) = read(0, &[1, 2], true);
        let ready = held.keep(0, run("claude-code"), frame, size).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(rows(&ready[0]), [1, 2]);
        assert!(held.close().unwrap().is_none());
        assert!(held.dir.is_none(), "nothing was written");
    }

    #[test]
    fn reads_past_the_budget_share_one_file_per_run() {
        let mut held = Held::new(0);
        // Two reads of one format: one file, their rows in order, checked once.
        let (a, size_a) = read(0, &[1, 2], true);
        let (b, size_b) = read(2, &[3], true);
        assert!(held
            .keep(0, run("claude-code"), a, size_a)
            .unwrap()
            .is_empty());
        assert!(held
            .keep(2, run("claude-code"), b, size_b)
            .unwrap()
            .is_empty());
        // Another format closes the run: the first file comes back, from the first index.
        let (c, size_c) = read(3, &[7], true);
        let ready = held.keep(3, run("otel"), c, size_c).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!((ready[0].at, rows(&ready[0])), (0, vec![1, 2, 3]));
        // A file scan (nothing held) is checked at once; the open run stays open.
        let scan = df![canonical::ROW => [9i64]].unwrap().lazy();
        let ready = held.keep(4, run("parquet"), scan, 0).unwrap();
        assert_eq!(ready.len(), 2, "the otel run closed, the scan as it is");
        assert_eq!((ready[0].at, rows(&ready[0])), (3, vec![7]));
        assert_eq!((ready[1].at, rows(&ready[1])), (4, vec![9]));
        // A lone untagged read gets a file of its own, closed at once.
        let (d, size_d) = read(5, &[5, 6], false);
        let ready = held.keep(5, run("litellm"), d, size_d).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!((ready[0].at, rows(&ready[0])), (5, vec![5, 6]));
        assert!(held.close().unwrap().is_none());
        assert_eq!(held.files, 3);
    }
}
