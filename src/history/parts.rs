//! The stats contract's parts as Parquet frames, and back. One frame a part, one column a
//! field; days and weeks are Parquet dates, every amount an integer, so a week read back is
//! the week written, to the bit. The columns are the store's documented layout (README,
//! "History"): a change of column is a change of [`crate::features::STATS_VERSION`].

use std::collections::BTreeMap;

use polars::prelude::*;

use super::StoredFinding;
use crate::detect::Severity;
use crate::features::{BehaviorWeek, DayUsage, Stats, WeekOutputs, WeekPart, WeekSessions};
use crate::normalize::identities::AgentKind;
use crate::normalize::pricing::Tokens;

/// The parts in file order: `days.parquet`, `sessions.parquet`, ...
pub const PARTS: [&str; 5] = ["days", "sessions", "outputs", "behavior", "parts"];

fn date(name: &str, days: Vec<i32>) -> PolarsResult<Column> {
    Column::new(name.into(), days).cast(&DataType::Date)
}

fn tokens_columns(prefix: &str, tokens: &[&Tokens]) -> Vec<Column> {
    let class = |name: &str, get: fn(&Tokens) -> u64| {
        Column::new(
            format!("{prefix}{name}").into(),
            tokens.iter().map(|t| get(t)).collect::<Vec<u64>>(),
        )
    };
    vec![
        class("input_tokens", |t| t.input),
        class("output_tokens", |t| t.output),
        class("cache_read_tokens", |t| t.cache_read),
        class("cache_write_tokens", |t| t.cache_write),
    ]
}

/// A frame as the bytes of a Parquet file.
pub fn encode(frame: &mut DataFrame) -> PolarsResult<Vec<u8>> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(frame)?;
    Ok(bytes)
}

/// The frame of a Parquet file's bytes. A damaged file can make the decoder panic rather than
/// fail: either way it is an error, for the caller to name the file.
pub fn decode(bytes: &[u8]) -> PolarsResult<DataFrame> {
    std::panic::catch_unwind(|| ParquetReader::new(std::io::Cursor::new(bytes)).finish())
        .unwrap_or_else(|_| {
            Err(polars_err!(ComputeError: "the file is damaged (the decoder gave up on it)"))
        })
}

/// The frames of one week's (or any) stats, in [`PARTS`] order.
pub fn frames(stats: &Stats) -> PolarsResult<[DataFrame; 5]> {
    let d = &stats.days;
    let mut days = vec![
        Column::new(
            "agent".into(),
            d.iter().map(|r| r.agent.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "team".into(),
            d.iter().map(|r| r.team.as_deref()).collect::<Vec<_>>(),
        ),
        Column::new(
            "kind".into(),
            d.iter().map(|r| r.kind.name()).collect::<Vec<_>>(),
        ),
        date("day", d.iter().map(|r| r.day).collect())?,
        Column::new(
            "model".into(),
            d.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "tier".into(),
            d.iter().map(|r| r.tier.as_str()).collect::<Vec<_>>(),
        ),
    ];
    days.extend(tokens_columns(
        "",
        &d.iter().map(|r| &r.tokens).collect::<Vec<_>>(),
    ));
    days.extend(tokens_columns(
        "unbilled_",
        &d.iter().map(|r| &r.unbilled).collect::<Vec<_>>(),
    ));
    days.extend(tokens_columns(
        "trivial_",
        &d.iter().map(|r| &r.trivial).collect::<Vec<_>>(),
    ));
    days.push(Column::new(
        "billed_micro".into(),
        d.iter().map(|r| r.billed_micro).collect::<Vec<_>>(),
    ));
    days.push(Column::new(
        "requests".into(),
        d.iter().map(|r| r.requests).collect::<Vec<_>>(),
    ));
    days.push(Column::new(
        "trivial_requests".into(),
        d.iter().map(|r| r.trivial_requests).collect::<Vec<_>>(),
    ));

    let s = &stats.sessions;
    let sessions = vec![
        Column::new(
            "agent".into(),
            s.iter().map(|r| r.agent.as_str()).collect::<Vec<_>>(),
        ),
        date("week", s.iter().map(|r| r.week).collect())?,
        Column::new(
            "sessions".into(),
            s.iter().map(|r| r.sessions).collect::<Vec<_>>(),
        ),
    ];

    let o = &stats.outputs;
    let outputs = vec![
        Column::new(
            "agent".into(),
            o.iter().map(|r| r.agent.as_str()).collect::<Vec<_>>(),
        ),
        date("week", o.iter().map(|r| r.week).collect())?,
        Column::new(
            "kind".into(),
            o.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "repo".into(),
            o.iter().map(|r| r.repo.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "amount_micro".into(),
            o.iter().map(|r| r.amount_micro).collect::<Vec<_>>(),
        ),
    ];

    let b = &stats.behavior;
    let counts = |name: &str, get: fn(&BehaviorWeek) -> u64| {
        Column::new(name.into(), b.iter().map(get).collect::<Vec<u64>>())
    };
    let hours: Vec<Series> = b
        .iter()
        .map(|r| Series::new("".into(), r.hours.keys().copied().collect::<Vec<u8>>()))
        .collect();
    let hour_requests: Vec<Series> = b
        .iter()
        .map(|r| Series::new("".into(), r.hours.values().copied().collect::<Vec<u64>>()))
        .collect();
    let behavior = vec![
        Column::new(
            "agent".into(),
            b.iter().map(|r| r.agent.as_str()).collect::<Vec<_>>(),
        ),
        date("week", b.iter().map(|r| r.week).collect())?,
        list_column("hours", hours, DataType::UInt8)?,
        list_column("hour_requests", hour_requests, DataType::UInt64)?,
        counts("bins", |r| r.bins),
        counts("bin_requests", |r| r.bin_requests),
        counts("bin_squares", |r| r.bin_squares),
        Column::new(
            "bucketed".into(),
            b.iter().map(|r| r.bucketed).collect::<Vec<_>>(),
        ),
        counts("prompted", |r| r.prompted),
        counts("distinct_prompts", |r| r.distinct_prompts),
        counts("sessions", |r| r.sessions),
        counts("max_simultaneous_starts", |r| r.max_simultaneous_starts),
        counts("session_rows", |r| r.session_rows),
        counts("long_session_rows", |r| r.long_session_rows),
        counts("single_row_sessions", |r| r.single_row_sessions),
        counts("rows", |r| r.rows),
        counts("rows_on_the_hour", |r| r.rows_on_the_hour),
    ];
    let p = &stats.parts;
    let text = |name: &str, get: fn(&WeekPart) -> &str| {
        Column::new(name.into(), p.iter().map(get).collect::<Vec<&str>>())
    };
    let mut parts = vec![
        text("agent", |r| &r.agent),
        date("week", p.iter().map(|r| r.week).collect())?,
        text("dimension", |r| &r.dimension),
        text("value", |r| &r.value),
        text("model", |r| &r.model),
        text("tier", |r| &r.tier),
    ];
    parts.extend(tokens_columns(
        "",
        &p.iter().map(|r| &r.tokens).collect::<Vec<_>>(),
    ));
    parts.extend(tokens_columns(
        "unbilled_",
        &p.iter().map(|r| &r.unbilled).collect::<Vec<_>>(),
    ));
    parts.push(Column::new(
        "billed_micro".into(),
        p.iter().map(|r| r.billed_micro).collect::<Vec<_>>(),
    ));
    parts.push(Column::new(
        "requests".into(),
        p.iter().map(|r| r.requests).collect::<Vec<_>>(),
    ));
    Ok([
        DataFrame::new_infer_height(days)?,
        DataFrame::new_infer_height(sessions)?,
        DataFrame::new_infer_height(outputs)?,
        DataFrame::new_infer_height(behavior)?,
        DataFrame::new_infer_height(parts)?,
    ])
}

/// A list column, typed even when it has no rows.
fn list_column(name: &str, values: Vec<Series>, inner: DataType) -> PolarsResult<Column> {
    let dtype = DataType::List(Box::new(inner));
    if values.is_empty() {
        return Ok(Column::new_empty(name.into(), &dtype));
    }
    Series::new(name.into(), values)
        .cast(&dtype)
        .map(Column::from)
}

/// Reads a frame's column as one of the store's plain types, naming the column on error.
struct Reader<'a>(&'a DataFrame);

impl Reader<'_> {
    fn column(&self, name: &str, dtype: &DataType) -> PolarsResult<Series> {
        let series = self.0.column(name)?.as_materialized_series().cast(dtype)?;
        if series.len() != self.0.height() {
            polars_bail!(ComputeError: "column `{name}` has {} rows where the file has {}", series.len(), self.0.height());
        }
        Ok(series)
    }

    fn texts(&self, name: &str) -> PolarsResult<Vec<Option<String>>> {
        Ok(self
            .column(name, &DataType::String)?
            .str()?
            .iter()
            .map(|v| v.map(String::from))
            .collect())
    }

    fn text(&self, name: &str) -> PolarsResult<Vec<String>> {
        Ok(self
            .texts(name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    fn u64s(&self, name: &str) -> PolarsResult<Vec<u64>> {
        Ok(self
            .column(name, &DataType::UInt64)?
            .u64()?
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect())
    }

    fn i64s(&self, name: &str) -> PolarsResult<Vec<i64>> {
        Ok(self
            .column(name, &DataType::Int64)?
            .i64()?
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect())
    }

    fn days(&self, name: &str) -> PolarsResult<Vec<i32>> {
        Ok(self
            .column(name, &DataType::Date)?
            .cast(&DataType::Int32)?
            .i32()?
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect())
    }

    fn tokens(&self, prefix: &str) -> PolarsResult<Vec<Tokens>> {
        let [input, output, cache_read, cache_write] = [
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
        ]
        .map(|class| self.u64s(&format!("{prefix}{class}")));
        let (input, output, cache_read, cache_write) = (input?, output?, cache_read?, cache_write?);
        Ok((0..input.len())
            .map(|i| Tokens {
                input: input[i],
                output: output[i],
                cache_read: cache_read[i],
                cache_write: cache_write[i],
            })
            .collect())
    }

    fn lists<T: Copy>(
        &self,
        name: &str,
        inner: DataType,
        values: fn(&Series) -> PolarsResult<Vec<T>>,
    ) -> PolarsResult<Vec<Vec<T>>> {
        let column = self.column(name, &DataType::List(Box::new(inner)))?;
        let lists = column.list()?;
        (0..lists.len())
            .map(|i| {
                lists
                    .get_as_series(i)
                    .map_or_else(|| Ok(Vec::new()), |s| values(&s))
            })
            .collect()
    }
}

/// The stats of frames read back, in [`PARTS`] order.
pub fn stats(frames: &[DataFrame; 5]) -> PolarsResult<Stats> {
    let r = Reader(&frames[0]);
    let (agents, teams, kinds, days, models, tiers) = (
        r.text("agent")?,
        r.texts("team")?,
        r.text("kind")?,
        r.days("day")?,
        r.text("model")?,
        r.text("tier")?,
    );
    let (tokens, unbilled, trivial) =
        (r.tokens("")?, r.tokens("unbilled_")?, r.tokens("trivial_")?);
    let (billed, requests, trivial_requests) = (
        r.i64s("billed_micro")?,
        r.u64s("requests")?,
        r.u64s("trivial_requests")?,
    );
    let mut day_rows = Vec::with_capacity(agents.len());
    for (i, agent) in agents.into_iter().enumerate() {
        day_rows.push(DayUsage {
            agent,
            team: teams[i].clone(),
            kind: AgentKind::parse(&kinds[i])
                .ok_or_else(|| polars_err!(ComputeError: "`{}` is not an agent kind", kinds[i]))?,
            day: days[i],
            model: models[i].clone(),
            tier: tiers[i].clone(),
            tokens: tokens[i],
            unbilled: unbilled[i],
            billed_micro: billed[i],
            requests: requests[i],
            trivial: trivial[i],
            trivial_requests: trivial_requests[i],
        });
    }

    let r = Reader(&frames[1]);
    let (weeks, counts) = (r.days("week")?, r.u64s("sessions")?);
    let sessions = r
        .text("agent")?
        .into_iter()
        .enumerate()
        .map(|(i, agent)| WeekSessions {
            agent,
            week: weeks[i],
            sessions: counts[i],
        })
        .collect();

    let r = Reader(&frames[2]);
    // Stats version 4 had no repository: every output names none.
    let repos = if frames[2].column("repo").is_ok() {
        r.text("repo")?
    } else {
        vec![String::new(); frames[2].height()]
    };
    let (weeks, kinds, amounts) = (r.days("week")?, r.text("kind")?, r.i64s("amount_micro")?);
    let outputs = r
        .text("agent")?
        .into_iter()
        .enumerate()
        .map(|(i, agent)| WeekOutputs {
            agent,
            week: weeks[i],
            kind: kinds[i].clone(),
            repo: repos[i].clone(),
            amount_micro: amounts[i],
        })
        .collect();

    let r = Reader(&frames[3]);
    let weeks = r.days("week")?;
    let hours = r.lists("hours", DataType::UInt8, |s| {
        Ok(s.u8()?.iter().map(|v| v.unwrap_or(0)).collect())
    })?;
    let hour_requests = r.lists("hour_requests", DataType::UInt64, |s| {
        Ok(s.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
    })?;
    let bucketed: Vec<bool> = r
        .column("bucketed", &DataType::Boolean)?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let names = [
        "bins",
        "bin_requests",
        "bin_squares",
        "prompted",
        "distinct_prompts",
        "sessions",
        "max_simultaneous_starts",
        "session_rows",
        "long_session_rows",
        "single_row_sessions",
        "rows",
        "rows_on_the_hour",
    ];
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        columns.push(r.u64s(name)?);
    }
    let behavior = r
        .text("agent")?
        .into_iter()
        .enumerate()
        .map(|(i, agent)| BehaviorWeek {
            agent,
            week: weeks[i],
            hours: hours[i]
                .iter()
                .copied()
                .zip(hour_requests[i].iter().copied())
                .collect::<BTreeMap<u8, u64>>(),
            bins: columns[0][i],
            bin_requests: columns[1][i],
            bin_squares: columns[2][i],
            bucketed: bucketed[i],
            prompted: columns[3][i],
            distinct_prompts: columns[4][i],
            sessions: columns[5][i],
            max_simultaneous_starts: columns[6][i],
            session_rows: columns[7][i],
            long_session_rows: columns[8][i],
            single_row_sessions: columns[9][i],
            rows: columns[10][i],
            rows_on_the_hour: columns[11][i],
        })
        .collect();

    let r = Reader(&frames[4]);
    let (weeks, dimensions, values, models, tiers) = (
        r.days("week")?,
        r.text("dimension")?,
        r.text("value")?,
        r.text("model")?,
        r.text("tier")?,
    );
    let (tokens, unbilled, billed, requests) = (
        r.tokens("")?,
        r.tokens("unbilled_")?,
        r.i64s("billed_micro")?,
        r.u64s("requests")?,
    );
    let parts = r
        .text("agent")?
        .into_iter()
        .enumerate()
        .map(|(i, agent)| WeekPart {
            agent,
            week: weeks[i],
            dimension: dimensions[i].clone(),
            value: values[i].clone(),
            model: models[i].clone(),
            tier: tiers[i].clone(),
            tokens: tokens[i],
            unbilled: unbilled[i],
            billed_micro: billed[i],
            requests: requests[i],
        })
        .collect();

    let mut stats = Stats {
        days: day_rows,
        sessions,
        outputs,
        behavior,
        parts,
    };
    stats.sort();
    Ok(stats)
}

/// The findings of one run.
pub fn findings_frame(findings: &[StoredFinding]) -> PolarsResult<DataFrame> {
    let f = findings;
    DataFrame::new_infer_height(vec![
        Column::new(
            "id".into(),
            f.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "agent".into(),
            f.iter().map(|r| r.agent.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "team".into(),
            f.iter().map(|r| r.team.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "detector".into(),
            f.iter().map(|r| r.detector.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "severity".into(),
            f.iter().map(|r| r.severity.name()).collect::<Vec<_>>(),
        ),
        Column::new(
            "week".into(),
            f.iter().map(|r| r.week.as_deref()).collect::<Vec<_>>(),
        ),
        Column::new(
            "excess_cost_usd".into(),
            f.iter().map(|r| r.excess_cost_usd).collect::<Vec<_>>(),
        ),
    ])
}

/// The findings of one run, read back.
pub fn findings(frame: &DataFrame) -> PolarsResult<Vec<StoredFinding>> {
    let r = Reader(frame);
    let (ids, agents, teams, detectors, severities, weeks) = (
        r.text("id")?,
        r.text("agent")?,
        r.text("team")?,
        r.text("detector")?,
        r.text("severity")?,
        r.texts("week")?,
    );
    let excess: Vec<f64> = r
        .column("excess_cost_usd", &DataType::Float64)?
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(0.0))
        .collect();
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            Ok(StoredFinding {
                id,
                agent: agents[i].clone(),
                team: teams[i].clone(),
                detector: detectors[i].clone(),
                severity: Severity::parse(&severities[i]).ok_or_else(
                    || polars_err!(ComputeError: "`{}` is not a severity", severities[i]),
                )?,
                week: weeks[i].clone(),
                excess_cost_usd: excess[i],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::WeekOutputs;

    #[test]
    fn outputs_of_stats_version_4_read_without_a_repository() {
        let stats = Stats {
            outputs: vec![WeekOutputs {
                agent: "dana".into(),
                week: 20_500,
                kind: "commit".into(),
                repo: "payments-service".into(),
                amount_micro: 3_000_000,
            }],
            ..Stats::default()
        };
        let mut frames = frames(&stats).unwrap();
        assert_eq!(super::stats(&frames).unwrap(), stats);
        // Version 4 wrote no `repo` column.
        frames[2] = frames[2].drop("repo").unwrap();
        let read = super::stats(&frames).unwrap();
        assert_eq!(read.outputs[0].repo, "");
        assert_eq!(read.outputs[0].amount_micro, 3_000_000);
    }
}
