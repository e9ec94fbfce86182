//! Markdown: fits a CI job summary or a pull-request comment. A summary, a findings table and
//! the reasons, with every cell from input escaped so a name cannot break the table.

use std::io::Write;

use super::{q_text, AuditReport, Reporter};
use crate::units::usd;

pub struct MarkdownReporter;

/// Escapes what Markdown or the HTML it is rendered to would interpret.
pub(super) fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' | '*' | '_' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Reporter for MarkdownReporter {
    fn render(&self, report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "## tokenaudit: {}\n", report.period_line())?;
        writeln!(out, "{}\n", report.outcome_line())?;
        writeln!(out, "{}\n", report.ingest_line())?;
        if let Some(line) = report.unpriced_line() {
            writeln!(out, "> **Warning:** {}\n", cell(&line))?;
        }
        if let Some(line) = report.reading_line() {
            writeln!(out, "{}\n", cell(&line))?;
        }
        let limits = report.limits();
        if !limits.is_empty() {
            writeln!(out, "**What this audit could not see**\n")?;
            for line in limits {
                writeln!(out, "- {}", cell(&line))?;
            }
            writeln!(out)?;
        }
        if let Some(line) = report.calibration_line() {
            writeln!(out, "{}\n", cell(&line))?;
        }
        let history = report.history_lines();
        if !history.is_empty() {
            for line in history {
                writeln!(out, "- {}", cell(&line))?;
            }
            writeln!(out)?;
        }
        if report.findings.is_empty() {
            writeln!(out, "No findings.")?;
            return Ok(());
        }
        let groups = report.finding_groups();
        for group in &groups {
            if let Some(title) = group.title() {
                writeln!(out, "### {title}\n")?;
            }
            writeln!(
                out,
                "| # | severity | agent | team | detector | excess | q | reasons |"
            )?;
            writeln!(out, "|---|---|---|---|---|--:|--:|---|")?;
            for (n, f) in &group.findings {
                let codes: Vec<String> = f
                    .reasons
                    .iter()
                    .map(|r| format!("[{}]({})", r.code, crate::detect::catalog::url(r.code)))
                    .collect();
                writeln!(
                    out,
                    "| {n} | {} | {} | {} | {} | {} | {} | {} |",
                    f.severity.name(),
                    cell(&f.agent),
                    cell(&f.team),
                    f.detector,
                    usd(f.excess_cost_usd),
                    q_text(f.q_value),
                    codes.join(", ")
                )?;
            }
            writeln!(out)?;
        }
        for (n, f) in groups.iter().flat_map(|g| &g.findings) {
            match f.state {
                Some(state) => writeln!(
                    out,
                    "**{n}. {}** ({}, `{}`)",
                    cell(&f.agent),
                    state.name(),
                    f.id
                )?,
                None => writeln!(out, "**{n}. {}**", cell(&f.agent))?,
            }
            if let Some(review) = &f.review {
                writeln!(
                    out,
                    "- review {}: **{}** by {} on {}: {}",
                    review.id,
                    review.verdict.name(),
                    cell(&review.by),
                    review.at,
                    cell(&review.reason)
                )?;
                if review.verdict.closes() {
                    writeln!(out)?;
                    continue; // shown collapsed: the decision, not the reasons again
                }
            }
            if let Some(weeks) = f.weeks_text() {
                writeln!(out, "- weeks: {weeks}")?;
            }
            if let Some(causes) = f.root_causes_text() {
                writeln!(out, "- where the excess went: {}", cell(&causes))?;
            }
            for reason in &f.reasons {
                writeln!(
                    out,
                    "- [`{}`]({}) {}",
                    reason.code,
                    crate::detect::catalog::url(reason.code),
                    cell(&reason.message)
                )?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "_Flags are prompts for review, not verdicts. Each code links to its documentation, with the benign explanations to rule out (also `tokenaudit explain CODE`)._"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn input_cannot_break_the_table_or_inject_html() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("<script>"), "&lt;script&gt;");
        assert_eq!(cell("x\ny"), "x y");
    }
}
