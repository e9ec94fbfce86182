//! JSON: the report as the DESIGN.md contract defines it, pretty-printed, newline-terminated.

use std::io::Write;

use super::{AuditReport, Reporter};

pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn render(&self, report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)
    }
}
