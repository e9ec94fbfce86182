//! Parquet for notebooks and warehouses: `--out parquet=DIR` writes `agent_weeks.parquet` and
//! `findings.parquet`, each with `schema_version` (and the run's period) in its key-value
//! metadata. Columns are documented in `notebooks/README.md`; the notebooks depend on them, so
//! a change of column is a change of `schema_version`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

use super::{AuditReport, SCHEMA_VERSION};
use crate::detect::AgentStatus;
use crate::normalize::calendar::to_day_number;

pub const AGENT_WEEKS_FILE: &str = "agent_weeks.parquet";
pub const FINDINGS_FILE: &str = "findings.parquet";

/// The output kinds named in the canonical schema get a column each; custom kinds are summed
/// into `other_outputs`.
const OUTPUT_KINDS: [&str; 6] = [
    "commit",
    "pr_merged",
    "ticket_closed",
    "review",
    "loc_added",
    "loc_removed",
];

fn status_name(status: AgentStatus) -> &'static str {
    match status {
        AgentStatus::Ok => "ok",
        AgentStatus::Flagged => "flagged",
        AgentStatus::InsufficientData => "insufficient_data",
    }
}

fn date_column(name: &str, dates: Vec<Option<NaiveDate>>) -> PolarsResult<Column> {
    let days: Vec<Option<i32>> = dates.into_iter().map(|d| d.map(to_day_number)).collect();
    Column::new(name.into(), days).cast(&DataType::Date)
}

/// One row per agent and week: the table the detectors read, with each agent's verdict and its
/// place on the efficiency curve repeated on its rows.
pub fn agent_weeks_frame(report: &AuditReport) -> PolarsResult<DataFrame> {
    let weeks = &report.detail.weeks;
    let agents: BTreeMap<&str, &super::AgentEntry> = report
        .agents
        .iter()
        .map(|a| (a.agent.as_str(), a))
        .collect();
    let cohorts: BTreeMap<&str, &crate::detect::Curve> = report
        .detail
        .curves
        .iter()
        .flat_map(|c| c.agents.iter().map(move |a| (a.as_str(), c)))
        .collect();
    let entry = |agent: &str| agents.get(agent).copied();
    let mean_output =
        |agent: &str| entry(agent).map(|a| a.output_index / f64::from(a.weeks_active.max(1)));
    let mut columns = vec![
        Column::new(
            "agent".into(),
            weeks.iter().map(|w| w.agent.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "team".into(),
            weeks.iter().map(|w| w.team.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "kind".into(),
            weeks.iter().map(|w| w.kind.name()).collect::<Vec<_>>(),
        ),
        date_column("week", weeks.iter().map(|w| Some(w.week)).collect())?,
        Column::new(
            "input_tokens".into(),
            weeks.iter().map(|w| w.tokens.input).collect::<Vec<_>>(),
        ),
        Column::new(
            "output_tokens".into(),
            weeks.iter().map(|w| w.tokens.output).collect::<Vec<_>>(),
        ),
        Column::new(
            "cache_read_tokens".into(),
            weeks
                .iter()
                .map(|w| w.tokens.cache_read)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "cache_write_tokens".into(),
            weeks
                .iter()
                .map(|w| w.tokens.cache_write)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "tokens".into(),
            weeks.iter().map(|w| w.tokens.total()).collect::<Vec<_>>(),
        ),
        Column::new(
            "requests".into(),
            weeks.iter().map(|w| w.requests).collect::<Vec<_>>(),
        ),
        Column::new(
            "sessions".into(),
            weeks.iter().map(|w| w.sessions).collect::<Vec<_>>(),
        ),
        Column::new(
            "active_days".into(),
            weeks.iter().map(|w| w.active_days).collect::<Vec<_>>(),
        ),
        Column::new(
            "cost_usd".into(),
            weeks.iter().map(|w| w.cost_usd).collect::<Vec<_>>(),
        ),
        Column::new(
            "billed_cost_usd".into(),
            weeks.iter().map(|w| w.billed_cost_usd).collect::<Vec<_>>(),
        ),
        Column::new(
            "estimated_cost_usd".into(),
            weeks
                .iter()
                .map(|w| w.cost_usd - w.billed_cost_usd)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "unpriced_tokens".into(),
            weeks.iter().map(|w| w.unpriced_tokens).collect::<Vec<_>>(),
        ),
        Column::new(
            "output_index".into(),
            weeks
                .iter()
                .map(|w| w.output_index + 0.0)
                .collect::<Vec<_>>(),
        ),
    ];
    for kind in OUTPUT_KINDS {
        columns.push(Column::new(
            kind.into(),
            weeks
                .iter()
                .map(|w| w.outputs.get(kind).copied().unwrap_or(0.0))
                .collect::<Vec<_>>(),
        ));
    }
    columns.push(Column::new(
        "other_outputs".into(),
        weeks
            .iter()
            .map(|w| {
                w.outputs
                    .iter()
                    .filter(|(k, _)| !OUTPUT_KINDS.contains(&k.as_str()))
                    .map(|(_, v)| v)
                    .sum::<f64>()
                    // An empty f64 sum is -0.0; readers should see 0.
                    + 0.0
            })
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "status".into(),
        weeks
            .iter()
            .map(|w| entry(&w.agent).map(|a| status_name(a.status)))
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "q_value".into(),
        weeks
            .iter()
            .map(|w| entry(&w.agent).and_then(|a| a.q_value))
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "week_q_value".into(),
        weeks
            .iter()
            .map(|w| {
                let weeks = report.detail.weekly_q.get(&w.agent)?;
                let at = weeks.binary_search_by_key(&w.week, |v| v.week).ok()?;
                Some(weeks[at].q_value)
            })
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "cohort".into(),
        weeks
            .iter()
            .map(|w| cohorts.get(w.agent.as_str()).map(|c| c.label.as_str()))
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "expected_weekly_cost_usd".into(),
        weeks
            .iter()
            .map(|w| {
                let curve = cohorts.get(w.agent.as_str())?;
                // In the agent's own dollars, as the excess is counted.
                let expected = curve.expected_weekly_cost_in(&w.team, mean_output(&w.agent)?);
                Some(expected * curve.price_of(&w.agent))
            })
            .collect::<Vec<_>>(),
    ));
    DataFrame::new(weeks.len(), columns)
}

/// One row per finding and reason, findings numbered in report order (severity, then excess).
pub fn findings_frame(report: &AuditReport) -> PolarsResult<DataFrame> {
    let rows: Vec<(usize, &super::FindingEntry, &super::ReasonEntry)> = report
        .findings
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.reasons.iter().map(move |r| (i + 1, f, r)))
        .collect();
    let date =
        |text: Option<&String>| text.and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "finding".into(),
                rows.iter().map(|r| r.0 as u32).collect::<Vec<_>>(),
            ),
            Column::new(
                "agent".into(),
                rows.iter().map(|r| r.1.agent.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "team".into(),
                rows.iter().map(|r| r.1.team.as_str()).collect::<Vec<_>>(),
            ),
            date_column(
                "week",
                rows.iter().map(|r| date(r.1.week.as_ref())).collect(),
            )?,
            Column::new(
                "severity".into(),
                rows.iter().map(|r| r.1.severity.name()).collect::<Vec<_>>(),
            ),
            Column::new(
                "detector".into(),
                rows.iter().map(|r| r.1.detector).collect::<Vec<_>>(),
            ),
            Column::new(
                "score".into(),
                rows.iter().map(|r| r.1.score).collect::<Vec<_>>(),
            ),
            Column::new(
                "q_value".into(),
                rows.iter().map(|r| r.1.q_value).collect::<Vec<_>>(),
            ),
            Column::new(
                "excess_cost_usd".into(),
                rows.iter().map(|r| r.1.excess_cost_usd).collect::<Vec<_>>(),
            ),
            date_column(
                "onset_week",
                rows.iter().map(|r| date(r.1.onset_week.as_ref())).collect(),
            )?,
            Column::new(
                "code".into(),
                rows.iter().map(|r| r.2.code).collect::<Vec<_>>(),
            ),
            Column::new(
                "message".into(),
                rows.iter()
                    .map(|r| r.2.message.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "observed".into(),
                rows.iter().map(|r| r.2.observed).collect::<Vec<_>>(),
            ),
            Column::new(
                "expected".into(),
                rows.iter().map(|r| r.2.expected).collect::<Vec<_>>(),
            ),
        ],
    )
}

fn metadata(report: &AuditReport) -> KeyValueMetadata {
    KeyValueMetadata::from_static(vec![
        ("schema_version".into(), SCHEMA_VERSION.to_string()),
        (
            "tool".into(),
            format!("{} {}", report.tool.name, report.tool.version),
        ),
        (
            "period_start".into(),
            report.period.start.clone().unwrap_or_default(),
        ),
        (
            "period_end".into(),
            report.period.end.clone().unwrap_or_default(),
        ),
        ("tz".into(), report.period.tz.clone()),
        ("week_start".into(), report.period.week_start.to_string()),
    ])
}

/// Writes both files into `dir` (created if missing), each whole or not at all.
pub fn write_dir(report: &AuditReport, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!("cannot create `{}`: {err}", dir.display()),
        )
    })?;
    let to_io = |err: PolarsError| std::io::Error::other(err.to_string());
    let frames = [
        (AGENT_WEEKS_FILE, agent_weeks_frame(report).map_err(to_io)?),
        (FINDINGS_FILE, findings_frame(report).map_err(to_io)?),
    ];
    for (name, mut frame) in frames {
        super::write_atomically(&dir.join(name), |out| {
            ParquetWriter::new(out)
                .with_key_value_metadata(Some(metadata(report)))
                .finish(&mut frame)
                .map(|_| ())
                .map_err(to_io)
        })?;
    }
    Ok(())
}
