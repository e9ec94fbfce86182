//! Table: the report for a terminal. A summary, the findings ordered by severity and dollars
//! at stake, and the reasons behind each. Agents are never listed by raw usage.

use std::io::Write;

use super::{q_text, AuditReport, FindingEntry, Reporter};
use crate::units::usd;

pub struct TableReporter;

/// Characters that would let an agent name move the cursor or recolour a terminal are shown
/// escaped.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

impl Reporter for TableReporter {
    fn render(&self, report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "tokenaudit {} — AI token audit, {}",
            report.tool.version,
            report.period_line()
        )?;
        writeln!(out)?;
        writeln!(out, "{}", report.ingest_line())?;
        writeln!(out, "{}", report.outcome_line())?;
        if let Some(line) = report.unpriced_line() {
            writeln!(out, "{line}")?;
        }
        if let Some(line) = report.reading_line() {
            writeln!(out)?;
            writeln!(out, "{line}")?;
        }
        let limits = report.limits();
        if !limits.is_empty() {
            writeln!(out)?;
            writeln!(out, "What this audit could not see:")?;
            for line in limits {
                writeln!(out, "  - {line}")?;
            }
        }
        if let Some(line) = report.calibration_line() {
            writeln!(out)?;
            writeln!(out, "{line}")?;
        }
        let history = report.history_lines();
        if !history.is_empty() {
            writeln!(out)?;
            for line in history {
                writeln!(out, "{}", printable(&line))?;
            }
        }
        writeln!(out)?;
        if report.findings.is_empty() {
            writeln!(out, "No findings.")?;
            return Ok(());
        }
        let groups = report.finding_groups();
        let rows: Vec<[String; 7]> = report
            .findings
            .iter()
            .enumerate()
            .map(|(i, f)| row(i, f))
            .collect();
        let header = ["#", "SEVERITY", "AGENT", "TEAM", "DETECTOR", "EXCESS", "Q"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, w))| {
                    // Money and q read right-aligned.
                    if i >= 5 {
                        format!("{cell:>w$}")
                    } else {
                        format!("{cell:<w$}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        for (g, group) in groups.iter().enumerate() {
            if let Some(title) = group.title() {
                if g > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "{title}")?;
            }
            writeln!(out, "{}", line(&header.map(String::from)))?;
            for (n, _) in &group.findings {
                writeln!(out, "{}", line(&rows[n - 1]))?;
            }
        }
        writeln!(out)?;
        for (n, finding) in groups.iter().flat_map(|g| &g.findings) {
            let week = finding
                .week
                .as_deref()
                .map(|w| format!("week of {w}"))
                .unwrap_or_else(|| match &finding.onset_week {
                    Some(onset) => format!("whole period, onset week of {onset}"),
                    None => "whole period".to_string(),
                });
            let state = finding
                .state
                .map_or_else(String::new, |s| format!(" [{}, {}]", s.name(), finding.id));
            writeln!(
                out,
                "{n}. {} ({}), {week}{state}",
                printable(&finding.agent),
                printable(&finding.team)
            )?;
            if let Some(review) = &finding.review {
                writeln!(
                    out,
                    "   review {}: {} by {} on {}: {}",
                    review.id,
                    review.verdict.name(),
                    printable(&review.by),
                    review.at,
                    printable(&review.reason)
                )?;
                if review.verdict.closes() {
                    continue; // shown collapsed: the decision, not the reasons again
                }
            }
            if let Some(weeks) = finding.weeks_text() {
                writeln!(out, "   weeks: {weeks}")?;
            }
            if let Some(causes) = finding.root_causes_text() {
                writeln!(out, "   where the excess went: {}", printable(&causes))?;
            }
            for reason in &finding.reasons {
                writeln!(out, "   {} {}", reason.code, printable(&reason.message))?;
            }
        }
        writeln!(out)?;
        writeln!(
            out,
            "Flags are prompts for review, not verdicts: `tokenaudit explain CODE` lists the benign explanations to rule out."
        )
    }
}

fn row(i: usize, finding: &FindingEntry) -> [String; 7] {
    [
        (i + 1).to_string(),
        finding.severity.name().to_string(),
        printable(&finding.agent),
        printable(&finding.team),
        finding.detector.to_string(),
        usd(finding.excess_cost_usd),
        q_text(finding.q_value),
    ]
}
