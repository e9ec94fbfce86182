//! Normalize: one identity per person or service, one row per request or artifact, local
//! calendar weeks, and list prices.
//!
//! The lazy steps (`identities::apply`, `dedup`, `calendar::apply`) extend the plan built by
//! `ingest`; [`pricing`] is plain Rust and prices the collected day-grain aggregate, which is
//! exact because cost is linear in tokens and price tables change on day boundaries.

pub mod calendar;
pub mod dedup;
pub mod identities;
pub mod pricing;

use std::path::PathBuf;

/// Errors in the reference data that normalize reads (identity map, price table).
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("Cannot read `{}`: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("`{}` has no `{column}` column\n  found columns: {found}", path.display())]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        found: String,
    },
    #[error("`{}` row {row}, column `{column}`: {message}", path.display())]
    BadValue {
        path: PathBuf,
        row: usize,
        column: &'static str,
        message: String,
    },
    #[error(
        "Alias `{alias}` is mapped to two agents: `{first}` and `{second}` (`{}` row {row})\n\nhint: an alias must belong to exactly one agent; remove one of the rows",
        path.display()
    )]
    ConflictingAlias {
        path: PathBuf,
        row: usize,
        alias: String,
        first: String,
        second: String,
    },
}
