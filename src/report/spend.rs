//! `tokenaudit spend`: cost rolled up for chargeback, the billed and estimated tiers apart,
//! with unpriced usage listed. Rendered as a table, CSV, JSON, Markdown, or FOCUS (`focus.rs`).
//!
//! Groups are sorted by their keys, never by cost: a chargeback sheet per agent sorted by
//! spend would be exactly the usage leaderboard this tool exists to look behind.

use std::io::Write;

use serde::Serialize;

use super::{csv::text as csv_text, markdown::cell, IngestSummary, InputSummary, Period, ToolInfo};
use crate::features::{SpendGroup, SpendRow, UnpricedModel};
use crate::units::{compact, round_to, usd};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpendReport {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub period: Period,
    pub inputs: Vec<InputSummary>,
    pub ingest: IngestSummary,
    /// The roll-up dimensions, in order: each group's `keys` follow them.
    pub by: Vec<&'static str>,
    pub totals: SpendTotals,
    pub groups: Vec<SpendGroup>,
    /// Models with usage the price table does not know; their tokens are in no cost.
    pub unpriced_models: Vec<UnpricedModel>,
    /// Day-grain rows, for the FOCUS export.
    #[serde(skip)]
    pub rows: Vec<SpendRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpendTotals {
    pub tokens: u64,
    pub requests: u64,
    pub billed_cost_usd: f64,
    pub estimated_cost_usd: f64,
    pub cost_usd: f64,
    pub unpriced_tokens: u64,
}

impl SpendTotals {
    pub fn of(groups: &[SpendGroup]) -> SpendTotals {
        let mut totals = SpendTotals::default();
        for g in groups {
            totals.tokens += g.tokens;
            totals.requests += g.requests;
            totals.billed_cost_usd += g.billed_cost_usd;
            totals.estimated_cost_usd += g.estimated_cost_usd;
            totals.unpriced_tokens += g.unpriced_tokens;
        }
        totals.billed_cost_usd = round_to(totals.billed_cost_usd, 6);
        totals.estimated_cost_usd = round_to(totals.estimated_cost_usd, 6);
        totals.cost_usd = round_to(totals.billed_cost_usd + totals.estimated_cost_usd, 6);
        totals
    }
}

/// The formats `spend` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendFormat {
    Table,
    Json,
    Csv,
    Markdown,
    /// FinOps FOCUS cost-and-usage rows (CSV).
    Focus,
}

impl SpendFormat {
    pub const NAMES: &'static str = "table, json, csv, markdown, focus";

    pub fn parse(name: &str) -> Option<SpendFormat> {
        match name.to_ascii_lowercase().as_str() {
            "table" | "text" => Some(SpendFormat::Table),
            "json" => Some(SpendFormat::Json),
            "csv" => Some(SpendFormat::Csv),
            "markdown" | "md" => Some(SpendFormat::Markdown),
            "focus" => Some(SpendFormat::Focus),
            _ => None,
        }
    }
}

impl SpendReport {
    pub fn render(&self, format: SpendFormat, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            SpendFormat::Table => self.table(out),
            SpendFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, self)?;
                writeln!(out)
            }
            SpendFormat::Csv => self.csv(out),
            SpendFormat::Markdown => self.markdown(out),
            SpendFormat::Focus => super::focus::write_rows(&self.rows, &self.period.tz, out),
        }
    }

    fn unpriced_line(&self) -> Option<String> {
        if self.unpriced_models.is_empty() {
            return None;
        }
        let models: Vec<String> = self
            .unpriced_models
            .iter()
            .map(|m| {
                format!(
                    "{} ({} tokens, {} agents)",
                    m.model,
                    compact(m.tokens),
                    m.agents
                )
            })
            .collect();
        Some(format!(
            "Unpriced models, in no cost column: {}. Add their prices with --pricing FILE.",
            models.join(", ")
        ))
    }

    fn summary_line(&self) -> String {
        let t = &self.totals;
        format!(
            "{} spent: {} billed by vendors, {} estimated at list price; {} tokens in {} requests.",
            usd(t.cost_usd),
            usd(t.billed_cost_usd),
            usd(t.estimated_cost_usd),
            compact(t.tokens),
            crate::units::grouped(t.requests)
        )
    }

    fn period_line(&self) -> String {
        self.period.line()
    }

    fn table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "tokenaudit spend: {}", self.period_line())?;
        writeln!(out, "{}", self.summary_line())?;
        if let Some(line) = self.unpriced_line() {
            writeln!(out, "warning: {line}")?;
        }
        writeln!(out)?;
        let mut header: Vec<String> = self.by.iter().map(|d| d.to_string()).collect();
        header.extend(["tokens", "billed", "estimated", "total", "share"].map(String::from));
        let total = self.totals.cost_usd;
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|g| {
                let mut row: Vec<String> = g.keys.iter().map(|k| printable(k)).collect();
                row.push(compact(g.tokens));
                row.push(usd(g.billed_cost_usd));
                row.push(usd(g.estimated_cost_usd));
                row.push(usd(g.cost_usd));
                row.push(if total > 0.0 {
                    format!("{:.1}%", 100.0 * g.cost_usd / total)
                } else {
                    "-".into()
                });
                row
            })
            .collect();
        let keys = self.by.len();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| -> String {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i < keys {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        writeln!(out, "{}", line(&header))?;
        for row in &rows {
            writeln!(out, "{}", line(row))?;
        }
        Ok(())
    }

    fn csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut header: Vec<&str> = self.by.clone();
        header.extend([
            "tokens",
            "requests",
            "billed_cost_usd",
            "estimated_cost_usd",
            "cost_usd",
            "unpriced_tokens",
        ]);
        writeln!(out, "{}", header.join(","))?;
        for g in &self.groups {
            let mut cells: Vec<String> = g.keys.iter().map(|k| csv_text(k)).collect();
            cells.push(g.tokens.to_string());
            cells.push(g.requests.to_string());
            cells.push(format!("{:.6}", g.billed_cost_usd));
            cells.push(format!("{:.6}", g.estimated_cost_usd));
            cells.push(format!("{:.6}", g.cost_usd));
            cells.push(g.unpriced_tokens.to_string());
            writeln!(out, "{}", cells.join(","))?;
        }
        Ok(())
    }

    fn markdown(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "## tokenaudit spend: {}\n", self.period_line())?;
        writeln!(out, "{}\n", self.summary_line())?;
        if let Some(line) = self.unpriced_line() {
            writeln!(out, "> **Warning:** {}\n", cell(&line))?;
        }
        let mut header: Vec<&str> = self.by.clone();
        header.extend(["tokens", "billed", "estimated", "total"]);
        writeln!(out, "| {} |", header.join(" | "))?;
        let align: Vec<&str> = header
            .iter()
            .enumerate()
            .map(|(i, _)| if i < self.by.len() { "---" } else { "--:" })
            .collect();
        writeln!(out, "|{}|", align.join("|"))?;
        for g in &self.groups {
            let mut cells: Vec<String> = g.keys.iter().map(|k| cell(k)).collect();
            cells.push(compact(g.tokens));
            cells.push(usd(g.billed_cost_usd));
            cells.push(usd(g.estimated_cost_usd));
            cells.push(usd(g.cost_usd));
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        Ok(())
    }
}

/// Input text as a terminal should show it: control characters would move the cursor.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
