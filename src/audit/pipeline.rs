//! The one lazy plan: every input scanned, checked, deduplicated, mapped to identities and put
//! on the calendar, then reduced to small aggregates, all collected in a single streaming run.
//!
//! Several results come out of the same scans (day-grain usage, sessions, outputs, quarantine,
//! counts); they are collected together with `collect_all`, so each file is read once and
//! memory is bounded by the aggregates, not by the number of requests.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::settings::InputSettings;
use super::AuditError;
use crate::features::{self, DayUsage, WeekOutputs, WeekSessions};
use crate::ingest::canonical::{self, Checked, FILE, ROW};
use crate::ingest::quarantine::QuarantinedRow;
use crate::ingest::{self, InputFile};
use crate::normalize::identities::{self, IdentityMap};
use crate::normalize::{calendar, dedup};
use crate::report::{IngestSummary, InputSummary};
use crate::schema::Table;

/// Every input file checked and split into valid and quarantined streams.
pub struct Sources {
    pub files: Vec<InputFile>,
    pub identities: IdentityMap,
    pub usage_valid: LazyFrame,
    pub outputs_valid: Option<LazyFrame>,
    checked: Vec<Checked>,
}

fn union(frames: Vec<LazyFrame>) -> Option<LazyFrame> {
    if frames.is_empty() {
        return None;
    }
    Some(concat(frames, UnionArgs::default()).expect("non-empty union"))
}

/// Resolves the input patterns, checks every file's columns and builds the lazy sources.
pub fn sources(input: &InputSettings) -> Result<Sources, AuditError> {
    let mut files = ingest::resolve_inputs(&input.usage, Table::Usage, input.usage_format)?;
    files.extend(ingest::resolve_inputs(
        &input.outputs,
        Table::Outputs,
        input.outputs_format,
    )?);
    for file in &mut files {
        if let Some((_, name)) = input.display_names.iter().find(|(p, _)| p == &file.path) {
            file.display = name.clone();
        }
    }
    let identities = match &input.identities {
        Some(path) => IdentityMap::load(path)?,
        None => IdentityMap::default(),
    };
    let mut checked = Vec::with_capacity(files.len());
    let (mut usage, mut outputs) = (Vec::new(), Vec::new());
    for (index, file) in files.iter().enumerate() {
        let raw = ingest::scan(file)?;
        let file_checked = canonical::check(file, index as u32, raw)?;
        match file.table {
            Table::Usage => usage.push(file_checked.valid()),
            Table::Outputs => outputs.push(file_checked.valid()),
        }
        checked.push(file_checked);
    }
    Ok(Sources {
        usage_valid: union(usage).ok_or(AuditError::NoUsage)?,
        outputs_valid: union(outputs),
        files,
        identities,
        checked,
    })
}

impl Sources {
    /// Usage after dedup, identity mapping and the calendar window.
    pub fn usage_normalized(&self, calendar_settings: &calendar::Calendar) -> LazyFrame {
        let deduped = dedup::usage(self.usage_valid.clone());
        let mapped = identities::apply(deduped, &self.identities);
        calendar::apply(mapped, calendar_settings)
    }

    fn outputs_normalized(&self, calendar_settings: &calendar::Calendar) -> Option<LazyFrame> {
        let deduped = dedup::outputs(self.outputs_valid.clone()?);
        let mapped = identities::apply(deduped, &self.identities);
        Some(calendar::apply(mapped, calendar_settings))
    }
}

/// The collected aggregates and the accounting of every row.
pub struct Collected {
    pub days: Vec<DayUsage>,
    pub sessions: Vec<WeekSessions>,
    pub outputs: Vec<WeekOutputs>,
    pub quarantined: Vec<QuarantinedRow>,
    pub inputs: Vec<InputSummary>,
    pub ingest: IngestSummary,
}

fn count_rows(frame: LazyFrame) -> LazyFrame {
    frame.select([len().cast(DataType::UInt64).alias("rows")])
}

fn single_count(frame: &DataFrame) -> PolarsResult<u64> {
    Ok(frame.column("rows")?.u64()?.get(0).unwrap_or(0))
}

/// Builds every plan and collects them in one streaming run.
pub fn collect(
    sources: &Sources,
    calendar_settings: &calendar::Calendar,
) -> Result<Collected, AuditError> {
    let usage = sources.usage_normalized(calendar_settings);
    let valid_by_file = union(
        sources
            .checked
            .iter()
            .map(|c| c.valid().select([col(FILE)]))
            .collect(),
    )
    .expect("at least one usage file")
    .group_by([col(FILE)])
    .agg([len().cast(DataType::UInt64).alias("rows")]);
    let quarantine = union(sources.checked.iter().map(Checked::quarantined).collect())
        .expect("at least one usage file");

    let mut plans = vec![
        features::usage_days(usage.clone()),
        features::usage_sessions(usage),
        valid_by_file,
        quarantine,
        count_rows(dedup::usage(sources.usage_valid.clone())),
    ];
    if let (Some(outputs), Some(valid)) = (
        sources.outputs_normalized(calendar_settings),
        sources.outputs_valid.clone(),
    ) {
        plans.push(features::output_weeks(outputs));
        plans.push(count_rows(dedup::outputs(valid)));
    }

    let flags = plans[0].get_current_optimizations();
    let frames = LazyFrame::collect_all_with_engine(
        plans.into_iter().map(|p| p.logical_plan).collect(),
        Engine::Streaming,
        flags,
    )
    .and_then(|frames| read_frames(&frames, &sources.files));
    frames.map_err(|err| AuditError::Engine(err.to_string()))
}

/// Reads the collected frames, in the order [`collect`] planned them, into plain rows.
fn read_frames(frames: &[DataFrame], files: &[InputFile]) -> PolarsResult<Collected> {
    let days = features::read_usage_days(&frames[0])?;
    let sessions = features::read_sessions(&frames[1])?;
    let valid_rows: BTreeMap<u32, u64> = {
        let file_index = frames[2].column(FILE)?.cast(&DataType::UInt32)?;
        let rows = frames[2].column("rows")?.cast(&DataType::UInt64)?;
        file_index
            .u32()?
            .iter()
            .zip(rows.u64()?.iter())
            .filter_map(|(f, r)| Some((f?, r?)))
            .collect()
    };
    let (quarantined, quarantined_files) = quarantined_rows(&frames[3], files)?;
    let usage_deduped = single_count(&frames[4])?;
    let (outputs, outputs_deduped) = if frames.len() > 5 {
        (
            features::read_outputs(&frames[5])?,
            single_count(&frames[6])?,
        )
    } else {
        (Vec::new(), 0)
    };

    let mut quarantined_by_file: BTreeMap<u32, u64> = BTreeMap::new();
    for file in &quarantined_files {
        *quarantined_by_file.entry(*file).or_default() += 1;
    }
    let (mut usage_valid, mut outputs_valid) = (0, 0);
    let mut inputs = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        let index = index as u32;
        let valid = valid_rows.get(&index).copied().unwrap_or(0);
        match file.table {
            Table::Usage => usage_valid += valid,
            Table::Outputs => outputs_valid += valid,
        }
        inputs.push(InputSummary {
            path: file.display.clone(),
            format: file.format.source_name().to_string(),
            rows: valid + quarantined_by_file.get(&index).copied().unwrap_or(0),
            sha256: String::new(),
        });
    }
    let rows_valid = usage_valid + outputs_valid;
    let rows_quarantined = quarantined.len() as u64;
    Ok(Collected {
        days,
        sessions,
        outputs,
        quarantined,
        inputs,
        ingest: IngestSummary {
            rows_read: rows_valid + rows_quarantined,
            rows_valid,
            rows_quarantined,
            duplicates_removed: usage_valid.saturating_sub(usage_deduped)
                + outputs_valid.saturating_sub(outputs_deduped),
        },
    })
}

/// Quarantined rows sorted by file and row, and the file index of each.
fn quarantined_rows(
    frame: &DataFrame,
    files: &[InputFile],
) -> PolarsResult<(Vec<QuarantinedRow>, Vec<u32>)> {
    let file_idx = frame.column(FILE)?.cast(&DataType::UInt32)?;
    let rows = frame.column(ROW)?.cast(&DataType::UInt64)?;
    let columns = frame.column("column")?.str()?.clone();
    let values = frame.column("value")?.str()?.clone();
    let reasons = frame.column("reason")?.str()?.clone();
    let mut out: Vec<(u32, QuarantinedRow)> = file_idx
        .u32()?
        .iter()
        .zip(rows.u64()?.iter())
        .zip(columns.iter().zip(values.iter()).zip(reasons.iter()))
        .map(|((file, row), ((column, value), reason))| {
            let file = file.unwrap_or(0);
            (
                file,
                QuarantinedRow {
                    file: files
                        .get(file as usize)
                        .map(|f| f.display.clone())
                        .unwrap_or_default(),
                    row: row.unwrap_or(0),
                    column: column.unwrap_or("").to_string(),
                    value: value.unwrap_or("").to_string(),
                    reason: reason.unwrap_or("").to_string(),
                },
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.row.cmp(&b.1.row)));
    let indexes = out.iter().map(|(f, _)| *f).collect();
    Ok((out.into_iter().map(|(_, r)| r).collect(), indexes))
}
