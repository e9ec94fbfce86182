//! The lazy plan: every input scanned, checked, deduplicated, mapped to identities and put on
//! the calendar, then reduced to small aggregates, in two streaming passes.
//!
//! Pass one does the accounting (rows per file, quarantined rows), reads only `request_id` to
//! find the requests seen more than once, and aggregates outputs. Pass two aggregates usage with
//! only those duplicates collapsed. Memory is bounded by the aggregates, not by the number of
//! requests (BENCHMARKS.md has the measurements that led here).

use std::collections::BTreeMap;

use polars::prelude::*;

use super::settings::InputSettings;
use super::AuditError;
use crate::features::{self, BehaviorWeek, DayUsage, Snapshot, WeekOutputs, WeekSessions};
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
    /// Records adapters skipped on purpose, by "format: reason".
    pub skipped: std::collections::BTreeMap<String, u64>,
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
    // A file given for both tables, or a vendor file holding both, is read once per table.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert((f.path.clone(), f.table)));
    for file in &mut files {
        if let Some((_, name)) = input.display_names.iter().find(|(p, _)| p == &file.path) {
            file.display = name.clone();
        }
    }
    let identities = match &input.identities {
        Some(path) => IdentityMap::load(path)?,
        None => IdentityMap::default(),
    };
    let to_seconds = |date: chrono::NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp()
    };
    let window = ingest::Window {
        since: input.calendar.since.map(to_seconds),
        until: input.calendar.until.map(to_seconds),
    };
    let mut checked = Vec::with_capacity(files.len());
    let mut skipped: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut usage, mut outputs) = (Vec::new(), Vec::new());
    for (index, file) in files.iter().enumerate() {
        let scan = ingest::scan(file, window)?;
        for (reason, count) in scan.skipped {
            *skipped
                .entry(format!("{}: {reason}", file.format))
                .or_default() += count;
        }
        let file_checked = canonical::check(file, index as u32, scan.frame)?;
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
        skipped,
    })
}

impl Sources {
    /// Usage deduplicated row by row, mapped to identities and put on the calendar (for
    /// `tokenaudit ingest`, which writes rows).
    pub fn usage_normalized(&self, calendar_settings: &calendar::Calendar) -> LazyFrame {
        let deduped = dedup::usage(self.usage_valid.clone());
        let mapped = identities::apply(deduped, &self.identities);
        calendar::within(
            calendar::apply(mapped, calendar_settings),
            calendar_settings,
        )
    }

    fn outputs_normalized(&self, calendar_settings: &calendar::Calendar) -> Option<LazyFrame> {
        let deduped = dedup::outputs(self.outputs_valid.clone()?);
        let mapped = identities::apply(deduped, &self.identities);
        Some(calendar::within(
            calendar::apply(mapped, calendar_settings),
            calendar_settings,
        ))
    }
}

/// The collected aggregates and the accounting of every row.
pub struct Collected {
    pub days: Vec<DayUsage>,
    pub sessions: Vec<WeekSessions>,
    pub outputs: Vec<WeekOutputs>,
    /// Request-level fingerprints per agent-week, inside the calendar window.
    pub behavior: Vec<BehaviorWeek>,
    pub quarantined: Vec<QuarantinedRow>,
    pub inputs: Vec<InputSummary>,
    pub ingest: IngestSummary,
    /// Valid usage rows outside `--since/--until`.
    pub rows_outside_window: u64,
}

fn count_rows(frame: LazyFrame) -> LazyFrame {
    frame.select([len().cast(DataType::UInt64).alias("rows")])
}

fn single_count(frame: &DataFrame) -> PolarsResult<u64> {
    Ok(frame.column("rows")?.u64()?.get(0).unwrap_or(0))
}

fn collect_all(plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
    let mut flags = plans[0].get_current_optimizations();
    // Shared subplans would be cached whole in memory (2.2 GB for 10M requests); scanning each
    // plan's inputs on its own streams them instead (1.0 GB) for ~0.4 s more. BENCHMARKS.md.
    flags.remove(OptFlags::COMM_SUBPLAN_ELIM);
    LazyFrame::collect_all_with_engine(
        plans.into_iter().map(|p| p.logical_plan).collect(),
        Engine::Streaming,
        flags,
    )
}

/// Runs the plan in two streaming passes. The first does the accounting (rows and quarantine
/// per file), finds the request ids seen more than once, and aggregates the outputs; the
/// second aggregates usage with only those duplicates collapsed. Two passes over the usage
/// files cost one more scan and save a group-by over every request id (see `dedup`).
pub fn collect(
    sources: &Sources,
    calendar_settings: &calendar::Calendar,
    snapshot: Option<Snapshot>,
) -> Result<Collected, AuditError> {
    run(sources, calendar_settings, snapshot).map_err(|err| AuditError::Engine(err.to_string()))
}

fn run(
    sources: &Sources,
    calendar_settings: &calendar::Calendar,
    snapshot: Option<Snapshot>,
) -> PolarsResult<Collected> {
    let row_counts = union(sources.checked.iter().map(Checked::row_count).collect())
        .expect("at least one usage file");
    let quarantine = union(sources.checked.iter().map(Checked::quarantined).collect())
        .expect("at least one usage file");
    let request_ids: Vec<LazyFrame> = sources
        .checked
        .iter()
        .zip(&sources.files)
        .filter(|(_, file)| file.table == Table::Usage)
        .filter_map(|(checked, _)| checked.request_ids())
        .collect();
    let hashes_plan = match union(request_ids) {
        Some(ids) => dedup::request_hashes(ids),
        None => DataFrame::empty_with_schema(&Schema::from_iter([Field::new(
            dedup::KEY.into(),
            DataType::UInt64,
        )]))
        .lazy(),
    };
    let mut plans = vec![row_counts, quarantine, hashes_plan];
    if let (Some(outputs), Some(valid)) = (
        sources.outputs_normalized(calendar_settings),
        sources.outputs_valid.clone(),
    ) {
        plans.push(features::output_weeks(outputs));
        plans.push(count_rows(dedup::outputs(valid)));
    }
    let first = collect_all(plans)?;
    let duplicates = dedup::duplicated(first[2].column(dedup::KEY)?.as_materialized_series())?;

    let marked = dedup::mark_duplicates(sources.usage_valid.clone(), duplicates);
    let usage = calendar::apply(
        identities::apply(marked, &sources.identities),
        calendar_settings,
    );
    let (quarantined, quarantined_files) = quarantined_rows(&first[1], &sources.files)?;
    let mut second = vec![features::usage_groups(usage)];
    let behavior = match snapshot {
        Some(snapshot) => {
            let (plan, collector) = features::behavior::plan(
                behavior_usage(sources, &quarantined, &quarantined_files, calendar_settings),
                snapshot,
            )?;
            second.push(plan);
            Some(collector)
        }
        None => None,
    };
    let second = collect_all(second)?;
    let fold = features::fold_usage(&second[0], calendar_settings)?;
    let behavior = behavior.map_or_else(Vec::new, |collector| {
        collector.finish(|name| sources.identities.canonical(name))
    });

    let (outputs, outputs_deduped) = if first.len() > 3 {
        (features::read_outputs(&first[3])?, single_count(&first[4])?)
    } else {
        (Vec::new(), 0)
    };
    let rows_per_file = file_rows(&first[0])?;
    let mut bad_per_file: BTreeMap<u32, u64> = BTreeMap::new();
    for file in quarantined_files {
        *bad_per_file.entry(file).or_default() += 1;
    }

    let (mut usage_valid, mut outputs_valid, mut rows_quarantined) = (0, 0, 0);
    let mut inputs = Vec::with_capacity(sources.files.len());
    for (index, file) in sources.files.iter().enumerate() {
        let index = index as u32;
        let rows = rows_per_file.get(&index).copied().unwrap_or(0);
        let bad = bad_per_file.get(&index).copied().unwrap_or(0);
        match file.table {
            Table::Usage => usage_valid += rows - bad,
            Table::Outputs => outputs_valid += rows - bad,
        }
        rows_quarantined += bad;
        inputs.push(InputSummary {
            path: file.display.clone(),
            format: file.format.source_name().to_string(),
            rows,
            sha256: String::new(),
        });
    }
    let rows_valid = usage_valid + outputs_valid;
    Ok(Collected {
        days: fold.days,
        sessions: fold.sessions,
        outputs,
        behavior,
        quarantined,
        inputs,
        ingest: IngestSummary {
            rows_read: rows_valid + rows_quarantined,
            rows_valid,
            rows_quarantined,
            duplicates_removed: usage_valid.saturating_sub(fold.rows_deduplicated)
                + outputs_valid.saturating_sub(outputs_deduped),
            records_skipped: sources.skipped.clone(),
        },
        rows_outside_window: fold.rows_outside_window,
    })
}

/// Rows per file index.
fn file_rows(frame: &DataFrame) -> PolarsResult<BTreeMap<u32, u64>> {
    let files = frame.column(FILE)?.cast(&DataType::UInt32)?;
    let rows = frame.column("rows")?.cast(&DataType::UInt64)?;
    Ok(files
        .u32()?
        .iter()
        .zip(rows.u64()?.iter())
        .filter_map(|(f, r)| Some((f?, r?)))
        .collect())
}

/// The valid usage rows with only the columns the behaviour features read, put on the
/// calendar; agents keep the names the logs give them, which the behaviour fold maps once per
/// name instead of joining the identity map on every row. The behaviour plan scans the inputs
/// again rather than share the main plan's rows (a cache of every column buffers about 1 GB
/// more at 11.6M requests), so this reads and types just these columns and leaves out the rows
/// the first pass rejected, instead of re-running every column's checks. Duplicates are not
/// collapsed: fingerprints count what the logs show.
fn behavior_usage(
    sources: &Sources,
    quarantined: &[QuarantinedRow],
    quarantined_files: &[u32],
    calendar_settings: &calendar::Calendar,
) -> LazyFrame {
    let mut rejected: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (row, file) in quarantined.iter().zip(quarantined_files) {
        rejected.entry(*file).or_default().push(row.row);
    }
    let frames = sources
        .checked
        .iter()
        .zip(&sources.files)
        .enumerate()
        .filter(|(_, (_, file))| file.table == Table::Usage)
        .map(|(index, (checked, _))| {
            let rows = rejected.get(&(index as u32)).map_or(&[][..], Vec::as_slice);
            checked.valid_columns(&features::behavior::COLUMNS, rows)
        })
        .collect();
    let usage = union(frames).expect("at least one usage file");
    calendar::within(calendar::apply(usage, calendar_settings), calendar_settings)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The behaviour plan reads only its columns and leaves out the rows the checks rejected
    /// by row number: it must see exactly the valid rows, no more.
    #[test]
    fn behaviour_features_count_the_valid_rows_only() {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/quarantine/usage.csv");
        let input = InputSettings {
            usage: vec![fixture.to_string()],
            ..InputSettings::default()
        };
        let sources = sources(&input).unwrap();
        let collected = collect(
            &sources,
            &input.calendar,
            Some(crate::detect::DEFAULT_SNAPSHOT),
        )
        .unwrap();
        let ingest = &collected.ingest;
        assert!(ingest.rows_quarantined > 0, "{ingest:?}");
        let seen: u64 = collected.behavior.iter().map(|w| w.requests()).sum();
        assert_eq!(seen, ingest.rows_valid);
        let bins: u64 = collected.behavior.iter().map(|w| w.bin_requests).sum();
        assert_eq!(bins, ingest.rows_valid);
    }
}
