//! The `tokenaudit` binary: parse, resolve settings, run, map the outcome to an exit code.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use clap::Parser;
use tokenaudit::audit::{self, AuditError, Exit};
use tokenaudit::cli::{self, Cli};

// jemalloc gives freed memory back between the two streaming passes; see BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // polars maps local Parquet files into memory; the pages it has read then count as the
    // process's memory until the scan ends (6 GB of a 6 GB file at 259M requests). Reading
    // through its async path instead keeps memory to what the audit holds, for about the same
    // time (BENCHMARKS.md, "Company scale"). Set before any thread starts; a user's own
    // setting wins.
    if std::env::var_os("POLARS_FORCE_ASYNC").is_none() {
        std::env::set_var("POLARS_FORCE_ASYNC", "1");
    }
    // polars prefetches up to 512 record batches of an Arrow IPC file at once, each on a
    // blocking thread of its own: reading back the held rows of 125,789 session files (440
    // batches) started 522 threads, printed polars' "POLARS_MAX_BLOCKING_THREAD_COUNT reached
    // (512), this may indicate a deadlock" and held 100 MB more than with 16, which reads as
    // fast (BENCHMARKS.md, "Held rows").
    if std::env::var_os("POLARS_RECORD_BATCH_PREFETCH_SIZE").is_none() {
        std::env::set_var("POLARS_RECORD_BATCH_PREFETCH_SIZE", "16");
    }
    let cli = Cli::parse();
    // One decoding pipeline: polars decodes ahead in each of its pipelines, and that, not the
    // audit's state, is what grows with the input (BENCHMARKS.md, "Company scale").
    if cli.low_memory() && std::env::var_os("POLARS_MAX_THREADS").is_none() {
        std::env::set_var("POLARS_MAX_THREADS", "1");
    }
    let command = match cli::resolve(cli) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let outcome = audit::execute(command, &mut stdout).and_then(|exit| {
        stdout.flush().map_err(|source| AuditError::Write {
            path: "<stdout>".into(),
            source,
        })?;
        Ok(exit)
    });
    match outcome {
        Ok(Exit::Clean) => ExitCode::SUCCESS,
        Ok(Exit::Findings) => ExitCode::from(1),
        // `tokenaudit audit … | head` is not an error.
        Err(AuditError::Write { source, .. }) if source.kind() == ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
