//! tokenaudit audits AI token consumption against delivered output and flags the agents whose
//! usage looks like inflation ("tokenmaxxing"), each with reasons, numbers and dollars at stake.
//!
//! ```text
//! files (CSV, Parquet, Arrow IPC, NDJSON)
//!   │ ingest     one adapter per format → canonical columns; validate; quarantine bad rows
//!   ▼
//!   │ normalize  dedup by request_id / ref; identity map; local days and weeks
//!   │ features   day-grain usage, weekly sessions and outputs — two streaming passes
//!   ▼
//!   │ price      embedded price table (+ --pricing) on the day-grain aggregate
//!   │ features   the agent-week table (small: agents × weeks)
//!   │ detect     lenses → p-values → Benjamini–Hochberg → materiality → severity
//!   ▼
//! AuditReport → report (table · json · csv · markdown) → stdout, files, exit code
//! ```
//!
//! Dependencies flow one way: `cli → audit → {report, detect, features, normalize, ingest,
//! schema}`; `generate` builds synthetic inputs for tests, benches and the demo.

pub mod audit;
pub mod cli;
pub mod contract;
pub mod detect;
pub mod features;
pub mod generate;
pub mod history;
pub mod ingest;
pub mod normalize;
pub mod report;
pub mod reviews;
pub mod schema;
pub mod scratch;
pub mod units;
