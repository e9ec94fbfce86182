//! HTML: one self-contained page a finance team can forward. Inline CSS and SVG charts, one
//! small inline script (table sorting), no fetches of any kind: a Content-Security-Policy of
//! `default-src 'none'` makes the browser refuse anything external, so the page opens offline
//! and a stray reference shows up as a console error in the browser test.
//!
//! Every string from input (agent, team, model names, reason messages) goes through [`esc`]; the
//! chart backend escapes SVG text itself.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use super::charts::{self, ScatterPoint};
use super::{q_text, AuditReport, Reporter};
use crate::detect::AgentStatus;
use crate::units::{compact, usd};

pub struct HtmlReporter;

/// Efficiency charts drawn at most: cohorts with a flagged agent first.
const MAX_COHORT_CHARTS: usize = 12;
/// Bands of the stacked spend charts; the rest are summed into one.
const MAX_BANDS: usize = 7;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ink:#1d2430; --muted:#5b6573; --line:#d8dde4; --high:#b3261e; --medium:#c26a00; --low:#6b7280; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); margin: 0; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 12px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0 0 6px; }
.muted { color: var(--muted); }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 170px; }
.tile b { display: block; font-size: 22px; }
.warning { background: #fff4e5; border: 1px solid #f0c27b; border-radius: 6px; padding: 8px 12px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f5; cursor: pointer; user-select: none; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.sev { display: inline-block; border-radius: 10px; padding: 0 8px; color: #fff; font-size: 12px; font-weight: 600; }
.sev-high { background: var(--high); } .sev-medium { background: var(--medium); } .sev-low { background: var(--low); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 14px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card ul { margin: 6px 0; padding-left: 20px; }
.card code, td code { background: #eef1f5; border-radius: 4px; padding: 0 4px; }
details summary { cursor: pointer; color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); gap: 14px; }
figure { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 0; padding: 8px; }
figure svg { width: 100%; height: auto; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; padding: 2px 6px; font-size: 13px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
figcaption { color: var(--muted); font-size: 13px; padding: 4px 6px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
footer code { word-break: break-all; }
"#;

/// Sorts a findings table by a clicked column; numbers by value.
const SCRIPT: &str = r#"
(function () {
  var tables = document.querySelectorAll('table.findings-table');
  var findingRows = 0;
  tables.forEach(function (table) {
    findingRows += table.tBodies[0].rows.length;
    table.querySelectorAll('th').forEach(function (th, column) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var up = th.dataset.order !== 'up';
        th.dataset.order = up ? 'up' : 'down';
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.value || a.cells[column].textContent;
          var y = b.cells[column].dataset.value || b.cells[column].textContent;
          var nx = parseFloat(x), ny = parseFloat(y);
          var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return up ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  var root = document.documentElement;
  root.dataset.charts = String(document.querySelectorAll('figure svg').length);
  root.dataset.findingRows = String(findingRows);
  root.dataset.rendered = 'ok';
})();
"#;

impl Reporter for HtmlReporter {
    fn render(&self, report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
        let page = page(report).map_err(|err| std::io::Error::other(err.to_string()))?;
        out.write_all(page.as_bytes())
    }
}

fn page(report: &AuditReport) -> Result<String, Box<dyn std::error::Error>> {
    let mut html = String::new();
    let title = format!("tokenaudit: {}", report.period_line());
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
    html.push_str(&format!(
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(&title)
    ));
    summary(report, &mut html);
    quality(report, &mut html);
    findings(report, &mut html);
    explanations(report, &mut html);
    charts_section(report, &mut html)?;
    footer(report, &mut html);
    html.push_str(&format!(
        "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    ));
    Ok(html)
}

fn flagged_count(report: &AuditReport) -> usize {
    report
        .agents
        .iter()
        .filter(|a| a.status == AgentStatus::Flagged)
        .count()
}

fn summary(report: &AuditReport, html: &mut String) {
    html.push_str("<header>\n<h1>AI token audit</h1>\n");
    html.push_str(&format!(
        "<p class=\"muted\">{}</p>\n</header>\n",
        esc(&report.period_line())
    ));
    html.push_str("<section id=\"summary\">\n<div class=\"tiles\">\n");
    let tiles = [
        ("spent", usd(report.totals.cost_usd)),
        ("tokens", compact(report.totals.tokens)),
        ("agents audited", report.totals.agents.to_string()),
        ("agents flagged", flagged_count(report).to_string()),
        ("at stake", usd(report.totals.excess_cost_usd)),
    ];
    for (name, value) in tiles {
        html.push_str(&format!(
            "<div class=\"tile\"><b>{}</b>{name}</div>\n",
            esc(&value)
        ));
    }
    html.push_str("</div>\n");
    html.push_str(&format!(
        "<p>{}</p>\n<p class=\"muted\">{}</p>\n",
        esc(&report.outcome_line()),
        esc(&report.ingest_line())
    ));
    if let Some(line) = report.unpriced_line() {
        html.push_str(&format!("<p class=\"warning\">{}</p>\n", esc(&line)));
    }
    html.push_str("</section>\n");
}

/// What the audit could not see and how far its p-values can be trusted on this data: before
/// the findings, so that an empty list is never read as "nothing to find".
fn quality(report: &AuditReport, html: &mut String) {
    let reading = report.reading_line();
    if report.calibration.is_empty() && report.limits().is_empty() && reading.is_none() {
        return;
    }
    html.push_str("<section id=\"quality\">\n<h2>What this audit could and could not see</h2>\n");
    if let Some(line) = reading {
        html.push_str(&format!("<p id=\"reading\">{}</p>\n", esc(&line)));
    }
    let limits = report.limits();
    if limits.is_empty() {
        html.push_str("<p class=\"muted\">Every lens judged every eligible agent, and every fingerprint read its columns.</p>\n");
    } else {
        html.push_str("<ul class=\"limits\">\n");
        for line in limits {
            html.push_str(&format!("<li>{}</li>\n", esc(&line)));
        }
        html.push_str("</ul>\n");
    }
    if !report.calibration.is_empty() {
        html.push_str("<p class=\"muted\">Calibration: agents each lens and fingerprint judged, and how many it put at p ≤ 0.01 and p ≤ 0.001, against what chance gives when few inflate. A lens whose p-values were too small for this population is judged against the population instead (discounted).</p>\n");
        html.push_str("<table id=\"calibration\">\n<thead><tr><th>lens or fingerprint</th><th class=\"num\">judged</th><th class=\"num\">p ≤ 0.01</th><th class=\"num\">by chance</th><th class=\"num\">p ≤ 0.001</th><th class=\"num\">by chance</th><th>status</th></tr></thead>\n<tbody>\n");
        for check in &report.calibration {
            html.push_str(&format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td><td>{}</td></tr>\n",
                esc(&check.scope),
                check.judged,
                check.p_01,
                check.expected_01,
                check.p_001,
                check.expected_001,
                esc(check.status.name())
            ));
        }
        html.push_str("</tbody>\n</table>\n");
    }
    html.push_str("</section>\n");
}

fn findings(report: &AuditReport, html: &mut String) {
    html.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    // With --history or a review file: the store, new/ongoing/resolved, and the reviews.
    let history = report.history_lines();
    if !history.is_empty() {
        html.push_str("<ul id=\"since-last-run\">\n");
        for line in history {
            html.push_str(&format!("<li>{}</li>\n", esc(&line)));
        }
        html.push_str("</ul>\n");
    }
    if report.findings.is_empty() {
        html.push_str("<p>No findings: no agent's spend stood out from its peers, its own history or its request pattern by enough to be worth a review.</p>\n</section>\n");
        return;
    }
    html.push_str("<p class=\"muted\">Ordered by severity, then dollars at stake. Click a column to sort.</p>\n");
    for group in report.finding_groups() {
        if let Some(title) = group.title() {
            html.push_str(&format!("<h3>{}</h3>\n", esc(&title)));
        }
        findings_table(&group.findings, html);
    }
    html.push_str("</section>\n");
}

fn findings_table(findings: &[(usize, &super::FindingEntry)], html: &mut String) {
    html.push_str("<table class=\"findings-table\">\n<thead><tr><th class=\"num\">#</th><th>severity</th><th>agent</th><th>team</th><th>detector</th><th class=\"num\">at stake</th><th class=\"num\">q</th><th>onset</th><th>reasons</th></tr></thead>\n<tbody>\n");
    for (n, f) in findings {
        let severity = f.severity.name();
        let rank = match severity {
            "high" => 3,
            "medium" => 2,
            _ => 1,
        };
        let codes: Vec<String> = f
            .reasons
            .iter()
            .map(|r| format!("<code>{}</code>", esc(r.code)))
            .collect();
        html.push_str(&format!(
            "<tr><td class=\"num\">{n}</td><td data-value=\"{rank}\"><span class=\"sev sev-{severity}\">{severity}</span></td><td><a href=\"#finding-{n}\">{agent}</a>{state}</td><td>{team}</td><td>{detector}</td><td class=\"num\" data-value=\"{excess}\">{excess_text}</td><td class=\"num\" data-value=\"{q}\">{q_text}</td><td>{onset}</td><td>{codes}</td></tr>\n",
            agent = esc(&f.agent),
            state = f
                .state
                .map(|s| format!(" <span class=\"muted\">({})</span>", s.name()))
                .unwrap_or_default(),
            team = esc(&f.team),
            detector = esc(f.detector),
            excess = f.excess_cost_usd,
            excess_text = usd(f.excess_cost_usd),
            q = f.q_value,
            q_text = q_text(f.q_value),
            onset = esc(f.onset_week.as_deref().unwrap_or("")),
            codes = codes.join(" "),
        ));
    }
    html.push_str("</tbody>\n</table>\n");
}

fn explanations(report: &AuditReport, html: &mut String) {
    if report.findings.is_empty() {
        return;
    }
    html.push_str("<section id=\"explanations\">\n<h2>Why each agent was flagged</h2>\n<div class=\"cards\">\n");
    let groups = report.finding_groups();
    for (n, f) in groups.iter().flat_map(|g| &g.findings) {
        html.push_str(&format!(
            "<article class=\"card\" id=\"finding-{n}\">\n<h3><span class=\"sev sev-{sev}\">{sev}</span> {} <span class=\"muted\">({})</span></h3>\n",
            esc(&f.agent),
            esc(&f.team),
            sev = f.severity.name()
        ));
        let scope = match &f.week {
            Some(week) => format!("week of {week}"),
            None => "whole period".to_string(),
        };
        let onset = f
            .onset_week
            .as_ref()
            .map(|w| format!("; began in the week of {w}"))
            .unwrap_or_default();
        let weeks = f
            .weeks_text()
            .map(|w| format!("<br><span class=\"muted\">weeks: {}</span>", esc(&w)))
            .unwrap_or_default();
        let causes = f
            .root_causes_text()
            .map(|c| {
                format!(
                    "<br><span class=\"muted\">where the excess went: {}</span>",
                    esc(&c)
                )
            })
            .unwrap_or_default();
        html.push_str(&format!(
            "<p><b>{}</b> at stake · {} lens · q {} · {}{}{weeks}{causes}</p>\n<ul>\n",
            usd(f.excess_cost_usd),
            esc(f.detector),
            q_text(f.q_value),
            esc(&scope),
            esc(&onset)
        ));
        let closed = f.review.as_ref().is_some_and(|r| r.verdict.closes());
        if let Some(review) = &f.review {
            html.push_str(&format!(
                "</ul>\n<p class=\"review\">Reviewed ({}): <b>{}</b> by {} on {}: {}</p>\n{}<ul>\n",
                esc(&review.id),
                review.verdict.name(),
                esc(&review.by),
                esc(&review.at),
                esc(&review.reason),
                if closed {
                    "<details><summary>Reasons</summary>\n"
                } else {
                    ""
                }
            ));
        }
        for r in &f.reasons {
            html.push_str(&format!(
                "<li><code>{}</code> {} <span class=\"muted\">(observed {}, expected {})</span></li>\n",
                esc(r.code),
                esc(&r.message),
                number(r.observed),
                number(r.expected)
            ));
        }
        html.push_str("</ul>\n");
        if closed {
            html.push_str("</details>\n");
        }
        let codes: BTreeSet<&str> = f.reasons.iter().map(|r| r.code).collect();
        let benign: Vec<&str> = codes
            .iter()
            .filter_map(|c| crate::detect::catalog::lookup(c))
            .flat_map(|doc| doc.benign_explanations.iter().copied())
            .collect();
        if !benign.is_empty() {
            html.push_str(
                "<details><summary>Benign explanations to rule out before acting</summary>\n<ul>\n",
            );
            for b in benign {
                html.push_str(&format!("<li>{}</li>\n", esc(b)));
            }
            html.push_str("</ul>\n</details>\n");
        }
        html.push_str("</article>\n");
    }
    html.push_str("</div>\n</section>\n");
}

fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// A chart with its legend (pairs of CSS colour and text) and caption.
fn figure(html: &mut String, svg: &str, legend: &[(String, String)], caption: &str) {
    html.push_str("<figure>\n");
    html.push_str(svg);
    if !legend.is_empty() {
        html.push_str("\n<div class=\"legend\">");
        for (color, text) in legend {
            html.push_str(&format!(
                "<span><i style=\"background:{}\"></i>{}</span>",
                esc(color),
                esc(text)
            ));
        }
        html.push_str("</div>");
    }
    html.push_str(&format!(
        "\n<figcaption>{}</figcaption>\n</figure>\n",
        esc(caption)
    ));
}

fn legend(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect()
}

fn charts_section(
    report: &AuditReport,
    html: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    efficiency_charts(report, html)?;
    timeline_charts(report, html)?;
    spend_charts(report, html)?;
    concentration_chart(report, html)?;
    Ok(())
}

fn efficiency_charts(
    report: &AuditReport,
    html: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    html.push_str("<section id=\"efficiency\">\n<h2>Spend against output, by cohort</h2>\n");
    let curves = &report.detail.curves;
    if curves.is_empty() {
        html.push_str("<p class=\"muted\">The efficiency lens did not run or no cohort had enough agents to fit a curve.</p>\n</section>\n");
        return Ok(());
    }
    let agents: BTreeMap<&str, &super::AgentEntry> = report
        .agents
        .iter()
        .map(|a| (a.agent.as_str(), a))
        .collect();
    let mut ordered: Vec<&crate::detect::Curve> = curves.iter().collect();
    let has_flag = |c: &crate::detect::Curve| {
        c.agents.iter().any(|a| {
            agents
                .get(a.as_str())
                .is_some_and(|e| e.status == AgentStatus::Flagged)
        })
    };
    ordered.sort_by_key(|c| !has_flag(c));
    html.push_str("<p class=\"muted\">Each dot is an agent's mean weekly spend against its mean weekly delivered output, on log scales. The line is the spend the cohort's robust fit expects for each output; agents far above it spend more than their peers for what they deliver.</p>\n");
    if curves.iter().any(|c| !c.prices.is_empty()) {
        html.push_str("<p class=\"muted\">Spend is read here as the peer comparison read it: each agent's tokens at the ratios of list prices, in the company's dollars, because peers at the same output agreed on tokens more than on dollars (see what this audit could and could not see). An agent's own dollars are in its findings.</p>\n");
    }
    html.push_str("<div class=\"charts\">\n");
    for curve in ordered.iter().take(MAX_COHORT_CHARTS) {
        let points: Vec<ScatterPoint> = curve
            .agents
            .iter()
            .filter_map(|name| agents.get(name.as_str()))
            .map(|a| {
                let weeks = f64::from(a.weeks_active.max(1));
                ScatterPoint {
                    name: a.agent.clone(),
                    weekly_output: a.output_index / weeks,
                    // The spend the curve reads: tokens in the company's dollars where the
                    // peer comparison read tokens.
                    weekly_cost: a.cost_usd / weeks / curve.price_of(&a.agent),
                    flagged: a.status == AgentStatus::Flagged,
                }
            })
            .collect();
        let svg = charts::efficiency(
            &curve.label,
            &points,
            crate::detect::efficiency::OUTPUT_FLOOR,
            &|output| curve.expected_weekly_cost(output),
        )?;
        figure(
            html,
            &svg,
            &legend(&[
                ("#0072b2", "spend the peers' curve expects"),
                ("#969696", "agent"),
                ("#c81e1e", "flagged agent"),
            ]),
            &format!(
                "{}: {} agents, elasticity {:.2} (each doubling of spend goes with {:.0}% more output){}",
                curve.label,
                points.len(),
                curve.elasticity,
                (2f64.powf(curve.elasticity) - 1.0) * 100.0,
                if curve.team_intercepts.is_empty() {
                    ""
                } else {
                    "; the line is the pool's level, and each team is judged at a level drawn towards its own"
                }
            ),
        );
    }
    html.push_str("</div>\n");
    if ordered.len() > MAX_COHORT_CHARTS {
        html.push_str(&format!(
            "<p class=\"muted\">{} more cohorts without flagged agents are not drawn; the Parquet output has every agent.</p>\n",
            ordered.len() - MAX_COHORT_CHARTS
        ));
    }
    html.push_str("</section>\n");
    Ok(())
}

/// Every week of the period, as `YYYY-MM-DD`.
fn period_weeks(report: &AuditReport) -> Vec<chrono::NaiveDate> {
    let weeks: BTreeSet<chrono::NaiveDate> = report.detail.weeks.iter().map(|w| w.week).collect();
    weeks.into_iter().collect()
}

fn timeline_charts(
    report: &AuditReport,
    html: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut seen = BTreeSet::new();
    let flagged: Vec<&super::FindingEntry> = report
        .findings
        .iter()
        .filter(|f| seen.insert(f.agent.clone()))
        .collect();
    if flagged.is_empty() {
        return Ok(());
    }
    let weeks = period_weeks(report);
    // Weeks read from a --history store are marked on the axis: their raw logs were not read
    // by this run.
    let stored: BTreeSet<String> = report
        .history
        .as_ref()
        .map(|h| h.weeks_from_history.iter().cloned().collect())
        .unwrap_or_default();
    let labels: Vec<String> = weeks
        .iter()
        .map(|w| {
            let mark = if stored.contains(&w.to_string()) {
                "*"
            } else {
                ""
            };
            format!("{}{mark}", w.format("%m-%d"))
        })
        .collect();
    let stored_text = if stored.is_empty() {
        String::new()
    } else {
        format!(
            "; weeks marked * ({}) come from the history store",
            stored.len()
        )
    };
    html.push_str("<section id=\"timelines\">\n<h2>Flagged agents week by week</h2>\n<div class=\"charts\">\n");
    for finding in flagged {
        let mut cost = vec![0.0; weeks.len()];
        let mut tokens = vec![0.0; weeks.len()];
        let mut output = vec![0.0; weeks.len()];
        for w in report
            .detail
            .weeks
            .iter()
            .filter(|w| w.agent == finding.agent)
        {
            if let Ok(i) = weeks.binary_search(&w.week) {
                cost[i] = w.cost_usd;
                tokens[i] = w.tokens.total() as f64;
                output[i] = w.output_index;
            }
        }
        let onset = finding
            .onset_week
            .as_ref()
            .and_then(|o| chrono::NaiveDate::parse_from_str(o, "%Y-%m-%d").ok())
            .and_then(|o| weeks.binary_search(&o).ok());
        let mut named = vec![false; weeks.len()];
        for w in &finding.weeks {
            if let Some(i) = chrono::NaiveDate::parse_from_str(&w.week, "%Y-%m-%d")
                .ok()
                .and_then(|week| weeks.binary_search(&week).ok())
            {
                named[i] = true;
            }
        }
        let svg = charts::timeline(
            &format!("{} ({})", finding.agent, finding.team),
            &labels,
            &cost,
            &tokens,
            &output,
            onset,
            &named,
        )?;
        let onset_text = finding
            .onset_week
            .as_ref()
            .map(|o| format!(", onset in the week of {o}"))
            .unwrap_or_default();
        let mut keys = legend(&[
            ("#0072b2", "weekly spend (left axis)"),
            ("#e69f00", "tokens, millions (right axis)"),
            ("#009e73", "delivered output index"),
        ]);
        if onset.is_some() {
            keys.push(("#c81e1e".into(), "onset".into()));
        }
        if named.iter().any(|n| *n) {
            keys.push((
                charts::NAMED_CSS.into(),
                "weeks the finding is about".into(),
            ));
        }
        figure(
            html,
            &svg,
            &keys,
            &format!(
                "{}: weekly spend and tokens (top), delivered output index (bottom){onset_text}{stored_text}",
                finding.agent
            ),
        );
    }
    html.push_str("</div>\n</section>\n");
    Ok(())
}

/// The largest `MAX_BANDS` keys by total, the rest summed as `rest`.
fn bands(values: BTreeMap<String, Vec<f64>>, rest: &str) -> Vec<(String, Vec<f64>)> {
    let mut ranked: Vec<(String, Vec<f64>)> = values.into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1.iter()
            .sum::<f64>()
            .total_cmp(&a.1.iter().sum::<f64>())
            .then(a.0.cmp(&b.0))
    });
    if ranked.len() <= MAX_BANDS {
        return ranked;
    }
    let tail = ranked.split_off(MAX_BANDS - 1);
    let mut other = vec![0.0; tail[0].1.len()];
    for (_, values) in &tail {
        for (o, v) in other.iter_mut().zip(values) {
            *o += v;
        }
    }
    ranked.push((format!("{} {rest}", tail.len()), other));
    ranked
}

fn spend_charts(report: &AuditReport, html: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let weeks = period_weeks(report);
    if weeks.is_empty() {
        return Ok(());
    }
    let labels: Vec<String> = weeks
        .iter()
        .map(|w| w.format("%m-%d").to_string())
        .collect();
    let mut by_team: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for w in &report.detail.weeks {
        if let Ok(i) = weeks.binary_search(&w.week) {
            by_team
                .entry(w.team.clone())
                .or_insert_with(|| vec![0.0; weeks.len()])[i] += w.cost_usd;
        }
    }
    let mut by_model: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for row in &report.detail.spend {
        if let Ok(i) = weeks.binary_search(&row.week) {
            by_model
                .entry(row.model.clone())
                .or_insert_with(|| vec![0.0; weeks.len()])[i] += row.cost_usd();
        }
    }
    html.push_str(
        "<section id=\"spend\">\n<h2>Spend by team and by model</h2>\n<div class=\"charts\">\n",
    );
    for (title, values, rest, caption) in [
        (
            "Weekly spend by team",
            by_team,
            "other teams",
            "Weekly spend by team, stacked (billed and estimated together)",
        ),
        (
            "Weekly spend by model",
            by_model,
            "other models",
            "Weekly spend by model, stacked",
        ),
    ] {
        let series = bands(values, rest);
        let svg = charts::stacked_area(title, &labels, &series)?;
        let keys: Vec<(String, String)> = series
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (charts::css_color(i), name.clone()))
            .collect();
        figure(html, &svg, &keys, caption);
    }
    html.push_str("</div>\n</section>\n");
    Ok(())
}

/// Shares of spend held by the top `fraction` of agents (at least one agent).
fn top_share(sorted_desc: &[f64], fraction: f64) -> f64 {
    let total: f64 = sorted_desc.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let n = ((sorted_desc.len() as f64 * fraction).ceil() as usize).clamp(1, sorted_desc.len());
    sorted_desc[..n].iter().sum::<f64>() / total
}

fn concentration_chart(
    report: &AuditReport,
    html: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut costs: Vec<f64> = report.agents.iter().map(|a| a.cost_usd).collect();
    if costs.is_empty() {
        return Ok(());
    }
    costs.sort_by(|a, b| b.total_cmp(a));
    let top1 = top_share(&costs, 0.01);
    let top10 = top_share(&costs, 0.10);
    let total: f64 = costs.iter().sum();
    let n = costs.len() as f64;
    let mut curve = vec![(0.0, 0.0)];
    let mut running = 0.0;
    for (i, c) in costs.iter().rev().enumerate() {
        running += c;
        curve.push((
            (i + 1) as f64 / n,
            if total > 0.0 { running / total } else { 0.0 },
        ));
    }
    // Gini: one minus twice the area under the Lorenz curve (trapezoids).
    let area: f64 = curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum();
    let gini = 1.0 - 2.0 * area;
    html.push_str(
        "<section id=\"concentration\">\n<h2>Concentration of spend</h2>\n<div class=\"charts\">\n",
    );
    let svg = charts::lorenz("Lorenz curve of spend over agents", &curve)?;
    figure(
        html,
        &svg,
        &legend(&[("#0072b2", "actual spend"), ("#969696", "equal spend")]),
        &format!(
            "The top 1% of agents spent {:.1}% and the top 10% spent {:.1}% of the total; Gini {:.2}. Concentration alone is not inflation: heavy users who deliver in proportion sit on their cohort's curve above.",
            top1 * 100.0,
            top10 * 100.0,
            gini
        ),
    );
    html.push_str("</div>\n</section>\n");
    Ok(())
}

fn footer(report: &AuditReport, html: &mut String) {
    html.push_str("<footer>\n<p>Flags are prompts for review, not verdicts: each card lists the benign explanations to rule out, and <code>tokenaudit explain CODE</code> documents every reason code. Agents are never ranked by raw usage.</p>\n<p>Inputs:</p>\n<ul>\n");
    for input in &report.inputs {
        html.push_str(&format!(
            "<li>{} ({}, {} rows) sha256 <code>{}</code></li>\n",
            esc(&input.path),
            esc(&input.format),
            input.rows,
            esc(&input.sha256)
        ));
    }
    html.push_str(&format!(
        "</ul>\n<p>{} {}</p>\n</footer>\n",
        report.tool.name, report.tool.version
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_html_interprets() {
        assert_eq!(
            esc("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn top_shares_count_at_least_one_agent() {
        let costs = [50.0, 30.0, 10.0, 10.0];
        assert_eq!(top_share(&costs, 0.01), 0.5);
        assert_eq!(top_share(&costs, 0.5), 0.8);
        assert_eq!(top_share(&[0.0], 0.1), 0.0);
    }

    #[test]
    fn small_bands_are_summed_into_one() {
        let values: BTreeMap<String, Vec<f64>> = (0..10)
            .map(|i| (format!("t{i}"), vec![f64::from(i), 1.0]))
            .collect();
        let b = bands(values, "other teams");
        assert_eq!(b.len(), MAX_BANDS);
        assert_eq!(b[0].0, "t9");
        assert_eq!(b.last().unwrap().0, "4 other teams");
        assert_eq!(b.last().unwrap().1, vec![0.0 + 1.0 + 2.0 + 3.0, 4.0]);
    }
}
