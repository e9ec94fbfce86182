//! Report: the [`AuditReport`] every output format renders, and the formats themselves.
//!
//! The report is plain data built once per run (see `audit`); each format is one file with a
//! [`Reporter`] that writes it to any `Write`. [`write_all`] renders the stdout format and every
//! `--out FORMAT=PATH` file of a run, so many outputs never mean many audits.

mod csv;
mod json;
mod markdown;
mod model;
mod table;

use std::io::Write;
use std::path::PathBuf;

pub use model::{
    AgentEntry, AuditReport, FindingEntry, IngestSummary, InputSummary, Period, ReasonEntry,
    ToolInfo, Totals, SCHEMA_VERSION,
};

/// The formats a report can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

impl ReportFormat {
    pub const NAMES: &'static str = "table, json, csv, markdown";

    pub fn parse(name: &str) -> Option<ReportFormat> {
        match name.to_ascii_lowercase().as_str() {
            "table" | "text" => Some(ReportFormat::Table),
            "json" => Some(ReportFormat::Json),
            "csv" => Some(ReportFormat::Csv),
            "markdown" | "md" => Some(ReportFormat::Markdown),
            _ => None,
        }
    }

    fn reporter(self) -> &'static dyn Reporter {
        match self {
            ReportFormat::Table => &table::TableReporter,
            ReportFormat::Json => &json::JsonReporter,
            ReportFormat::Csv => &csv::CsvReporter,
            ReportFormat::Markdown => &markdown::MarkdownReporter,
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

/// Renders `report` in `format`.
pub fn render(
    format: ReportFormat,
    report: &AuditReport,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    format.reporter().render(report, out)
}

/// A report file requested with `--out FORMAT=PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub format: ReportFormat,
    pub path: PathBuf,
}

/// Writes every requested file. Files are written whole or not at all (temp file, then rename).
pub fn write_files(report: &AuditReport, files: &[ReportFile]) -> std::io::Result<()> {
    for file in files {
        let tmp = file.path.with_extension("tmp-tokenaudit");
        {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|err| {
                std::io::Error::new(
                    err.kind(),
                    format!("cannot create `{}`: {err}", file.path.display()),
                )
            })?);
            render(file.format, report, &mut out)?;
            out.flush()?;
        }
        std::fs::rename(&tmp, &file.path)?;
    }
    Ok(())
}
