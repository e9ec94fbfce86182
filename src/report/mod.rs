//! Report: the [`AuditReport`] every output format renders, and the formats themselves.
//!
//! The report is plain data built once per run (see `audit`); each format is one file with a
//! [`Reporter`] that writes it to any `Write`. [`write_all`] renders the stdout format and every
//! `--out FORMAT=PATH` file of a run, so many outputs never mean many audits.

mod charts;
mod csv;
pub mod focus;
mod html;
mod json;
mod markdown;
mod model;
pub mod parquet;
mod pseudonym;
pub mod spend;
mod table;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use model::{
    finding_id, AgentEntry, AuditReport, Detail, FindingEntry, FindingState, HistoryEntry,
    IngestSummary, InputSummary, Period, ReasonEntry, ResolvedEntry, ReviewEntry, ReviewsEntry,
    StaleReview, ToolInfo, Totals, WeekEntry, SCHEMA_VERSION,
};
pub use pseudonym::{Pseudonymizer, KEY_VARIABLE as PSEUDONYM_KEY_VARIABLE};
pub use spend::{SpendFormat, SpendReport, SpendTotals};

/// The formats a report can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    Markdown,
    /// One self-contained page with charts.
    Html,
    /// A directory of Parquet files; only with `--out parquet=DIR`.
    Parquet,
}

impl ReportFormat {
    pub const NAMES: &'static str = "table, json, csv, markdown, html, parquet";

    pub fn parse(name: &str) -> Option<ReportFormat> {
        match name.to_ascii_lowercase().as_str() {
            "table" | "text" => Some(ReportFormat::Table),
            "json" => Some(ReportFormat::Json),
            "csv" => Some(ReportFormat::Csv),
            "markdown" | "md" => Some(ReportFormat::Markdown),
            "html" | "htm" => Some(ReportFormat::Html),
            "parquet" => Some(ReportFormat::Parquet),
            _ => None,
        }
    }

    /// Whether the format is a stream that can go to stdout (Parquet is a directory).
    pub fn is_stream(self) -> bool {
        self != ReportFormat::Parquet
    }

    fn reporter(self) -> Option<&'static dyn Reporter> {
        match self {
            ReportFormat::Table => Some(&table::TableReporter),
            ReportFormat::Json => Some(&json::JsonReporter),
            ReportFormat::Csv => Some(&csv::CsvReporter),
            ReportFormat::Markdown => Some(&markdown::MarkdownReporter),
            ReportFormat::Html => Some(&html::HtmlReporter),
            ReportFormat::Parquet => None,
        }
    }
}

/// A q-value as people read it: `<0.001`, or three decimals.
pub fn q_text(q: f64) -> String {
    if q < 0.001 {
        "<0.001".to_string()
    } else {
        format!("{q:.3}")
    }
}

/// Renders a report in one format.
pub trait Reporter: Sync {
    fn render(&self, report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()>;
}

/// Renders `report` in `format`, which must be a stream format.
pub fn render(
    format: ReportFormat,
    report: &AuditReport,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format.reporter() {
        Some(reporter) => reporter.render(report, out),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "parquet is written to a directory: use --out parquet=DIR",
        )),
    }
}

/// A report file requested with `--out FORMAT=PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub format: ReportFormat,
    pub path: PathBuf,
}

/// Writes a file whole or not at all: into a temporary file beside it, then renamed.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp-tokenaudit");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        write(&mut out)?;
        out.flush()?;
        drop(out);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes every requested file; an error names the file.
pub fn write_files(
    report: &AuditReport,
    files: &[ReportFile],
) -> Result<(), (PathBuf, std::io::Error)> {
    for file in files {
        let result = if file.format == ReportFormat::Parquet {
            parquet::write_dir(report, &file.path)
        } else {
            write_atomically(&file.path, |out| render(file.format, report, out))
        };
        result.map_err(|err| (file.path.clone(), err))?;
    }
    Ok(())
}
