//! CSV: one row per finding and reason, for spreadsheets and BI tools.
//!
//! Text cells that a spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab or
//! carriage return) are prefixed with `'`, because agent names come from input files.

use std::io::Write;

use super::{AuditReport, Reporter};

pub struct CsvReporter;

const HEADER: &str = "agent,team,week,severity,detector,score,q_value,excess_cost_usd,code,message,observed,expected";

impl Reporter for CsvReporter {
    fn render(&self, report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{HEADER}")?;
        for finding in &report.findings {
            for reason in &finding.reasons {
                let cells = [
                    text(&finding.agent),
                    text(&finding.team),
                    text(finding.week.as_deref().unwrap_or("")),
                    finding.severity.name().to_string(),
                    finding.detector.to_string(),
                    finding.score.to_string(),
                    finding.q_value.to_string(),
                    format!("{:.2}", finding.excess_cost_usd),
                    reason.code.to_string(),
                    text(&reason.message),
                    reason.observed.to_string(),
                    reason.expected.to_string(),
                ];
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Ok(())
    }
}

/// A text cell: neutralized against formula injection, then quoted if needed.
pub(super) fn text(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn formulas_from_input_are_neutralized() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text("@sum"), "'@sum");
        assert_eq!(text("dana@corp"), "dana@corp");
        assert_eq!(text("a,b"), "\"a,b\"");
    }
}
