//! The local path from canonical rows to the stats contract, in two streaming passes.
//!
//! Pass one does the accounting (rows per file, quarantined rows), aggregates the outputs, and
//! reads only `request_id` to find the requests seen more than once: their hashes go to a
//! [`Spill`], which finds the repeats one partition at a time. Pass two streams the valid usage
//! rows once through the [`Fold`], with only those duplicates collapsed.
//!
//! The state this module keeps is bounded by the agent-weeks (day sums, 10-minute bins,
//! sessions) and the spills' budget of keys, not by the number of requests: past the budget,
//! request ids and prompt keys go to temporary files, partitioned by hash, and come back one
//! partition at a time. Nothing depends on row order, so unsorted input costs nothing more than
//! sorted input; an input larger than the budget costs a write and a read of 8 bytes a request
//! id and 12 bytes a distinct prompt. What polars buffers while it decodes is another matter:
//! with several decoding threads it grows with the input (BENCHMARKS.md, "Company scale").

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use super::fold::{self, Fold};
use super::spill::{self, Spill};
use super::{output_weeks, read_outputs, Snapshot, Stats};
use crate::ingest::canonical::{Checked, FILE, ROW};
use crate::ingest::quarantine::QuarantinedRow;
use crate::ingest::InputFile;
use crate::normalize::identities::{self, IdentityMap};
use crate::normalize::{calendar, dedup};
use crate::schema::Table;

/// Every input file checked, ready to be streamed.
pub struct Sources {
    pub files: Vec<InputFile>,
    /// One per file, or one for many small files of a format read together (rows tagged with
    /// their file).
    pub checked: Vec<Checked>,
    pub identities: IdentityMap,
    /// Records adapters skipped on purpose, by "format: reason".
    pub skipped: BTreeMap<String, u64>,
    /// SHA-256 of the files adapters hashed as they read them, by file index, in its order.
    pub hashes: Vec<(u32, crate::ingest::Sha256)>,
    /// Where the rows adapters parsed wait for the plan: memory up to a budget, then
    /// temporary files, which live as long as the sources.
    pub held: crate::ingest::held::Held,
}

/// A union of frames, or `None` when there are none.
fn union(frames: Vec<LazyFrame>) -> Option<LazyFrame> {
    if frames.is_empty() {
        return None;
    }
    Some(concat(frames, UnionArgs::default()).expect("non-empty union"))
}

impl Sources {
    fn of_table(&self, table: Table) -> impl Iterator<Item = (usize, &Checked)> {
        self.checked
            .iter()
            .filter(move |checked| checked.table() == table)
            .map(|checked| (checked.file_index() as usize, checked))
    }

    /// The valid usage rows, every column checked.
    pub fn usage_valid(&self) -> Option<LazyFrame> {
        union(
            self.of_table(Table::Usage)
                .map(|(_, c)| c.valid())
                .collect(),
        )
    }

    fn outputs_valid(&self) -> Option<LazyFrame> {
        union(
            self.of_table(Table::Outputs)
                .map(|(_, c)| c.valid())
                .collect(),
        )
    }

    /// A fold, not yet run, of the hash of every usage row's request id into a [`Spill`]
    /// (which then finds the ids seen more than once); `None` when no usage input has ids.
    pub(super) fn request_key_worker(
        &self,
        limits: Limits,
    ) -> PolarsResult<Option<Worker<Spill<u64>>>> {
        let Some(ids) = union(
            self.of_table(Table::Usage)
                .filter_map(|(_, c)| c.request_ids())
                .collect(),
        ) else {
            return Ok(None);
        };
        Worker::new(
            dedup::request_hashes(ids),
            Spill::all(limits.keys_in_memory),
            add_request_keys,
        )
        .map(Some)
    }

    /// Usage deduplicated row by row, mapped to identities and put on the calendar (for
    /// `tokenaudit ingest`, which writes rows).
    pub fn usage_normalized(&self, calendar_settings: &calendar::Calendar) -> Option<LazyFrame> {
        let deduped = dedup::usage(self.usage_valid()?);
        let mapped = identities::apply(deduped, &self.identities);
        Some(calendar::within(
            calendar::apply(mapped, calendar_settings),
            calendar_settings,
        ))
    }

    fn outputs_normalized(&self, calendar_settings: &calendar::Calendar) -> Option<LazyFrame> {
        let deduped = dedup::outputs(self.outputs_valid()?);
        let mapped = identities::apply(deduped, &self.identities);
        Some(calendar::within(
            calendar::apply(mapped, calendar_settings),
            calendar_settings,
        ))
    }

    /// The valid usage rows with only the columns the fold reads, put on the calendar, without
    /// the rows the first pass rejected (see [`Checked::valid_columns`]).
    fn fold_usage(
        &self,
        rejected: &BTreeMap<u32, Vec<u64>>,
        calendar_settings: &calendar::Calendar,
    ) -> Option<LazyFrame> {
        let frames = self
            .of_table(Table::Usage)
            .map(|(index, checked)| {
                let rows = rejected.get(&(index as u32)).map_or(&[][..], Vec::as_slice);
                checked.valid_columns(&fold::COLUMNS, rows)
            })
            .collect();
        Some(calendar::apply(union(frames)?, calendar_settings))
    }
}

/// The stats and the accounting of every row behind them.
#[derive(Debug)]
pub struct Computed {
    pub stats: Stats,
    /// Rows per input file (by index), valid or not.
    pub rows_per_file: BTreeMap<u32, u64>,
    /// Quarantined rows sorted by file and row, with the file index of each.
    pub quarantined: Vec<(u32, QuarantinedRow)>,
    /// Valid usage rows once duplicates are collapsed, window or not.
    pub usage_deduplicated: u64,
    /// Valid output rows once duplicates are collapsed.
    pub outputs_deduplicated: u64,
    /// Valid usage rows outside `--since/--until`.
    pub rows_outside_window: u64,
    /// Keys written to disk because they did not fit the budget.
    pub keys_spilled: u64,
}

/// How the local path holds keys that grow with requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request ids or prompt keys held in memory before they go to temporary files.
    pub keys_in_memory: usize,
    /// Bytes of rows parsed by adapters held in memory before they go to temporary files.
    pub bytes_in_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            keys_in_memory: spill::DEFAULT_KEYS_IN_MEMORY,
            bytes_in_memory: crate::ingest::held::DEFAULT_BYTES_IN_MEMORY,
        }
    }
}

fn count_rows(frame: LazyFrame) -> LazyFrame {
    frame.select([len().cast(DataType::UInt64).alias("rows")])
}

fn single_count(frame: &DataFrame) -> PolarsResult<u64> {
    Ok(frame.column("rows")?.u64()?.get(0).unwrap_or(0))
}

pub(super) fn collect_all(plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
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

/// A fold of a plan's batches, run on a thread of its own. The plan's sink only hands each
/// batch over (two at most wait), so the fold takes one core while polars reads and decodes on
/// the others. Folding inside the sink's callback was slower and held the pipeline's buffers
/// longer: 5.8 GB at 42M requests against 4.0 GB (BENCHMARKS.md).
pub(super) struct Worker<T> {
    pub(super) plan: LazyFrame,
    sender: Arc<Mutex<Option<SyncSender<DataFrame>>>>,
    handle: std::thread::JoinHandle<PolarsResult<T>>,
}

impl<T: Send + 'static> Worker<T> {
    pub(super) fn new(
        frame: LazyFrame,
        mut state: T,
        add: fn(&mut T, &DataFrame) -> PolarsResult<()>,
    ) -> PolarsResult<Worker<T>> {
        let (sender, receiver) = sync_channel::<DataFrame>(2);
        let handle = std::thread::spawn(move || -> PolarsResult<T> {
            for batch in receiver {
                add(&mut state, &batch)?;
            }
            Ok(state)
        });
        let sender = Arc::new(Mutex::new(Some(sender)));
        let callback_sender = sender.clone();
        let plan = frame.sink_batches(
            PlanCallback::new(move |batch: DataFrame| {
                let sender = callback_sender
                    .lock()
                    .expect("a sink panicked")
                    .clone()
                    .ok_or_else(|| polars_err!(ComputeError: "the fold has finished"))?;
                // A closed channel means the fold stopped on an error, which `finish` reports.
                Ok(sender.send(batch).is_err())
            }),
            false,
            None,
        )?;
        Ok(Worker {
            plan,
            sender,
            handle,
        })
    }

    /// The fold's state, once its plan has run. Check this before the plan's result: a fold
    /// that stopped on an error makes its plan fail too, and its own error says why.
    pub(super) fn finish(self) -> PolarsResult<T> {
        self.sender.lock().expect("a sink panicked").take();
        self.handle.join().expect("a fold panicked")
    }
}

fn add_request_keys(spill: &mut Spill<u64>, batch: &DataFrame) -> PolarsResult<()> {
    for key in batch.column(dedup::KEY)?.u64()?.iter().flatten() {
        spill.push(key)?;
    }
    Ok(())
}

/// Computes the stats contract of `sources`: the one entry point of the heavy stage.
/// `snapshot` is `None` when the behaviour fingerprints are not wanted.
pub fn compute(
    sources: &Sources,
    calendar_settings: &calendar::Calendar,
    snapshot: Option<Snapshot>,
    limits: Limits,
) -> PolarsResult<Computed> {
    // Pass one: accounting, outputs, and the request ids seen more than once.
    let checked = &sources.checked;
    let row_counts =
        union(checked.iter().map(Checked::row_count).collect()).expect("at least one input");
    let quarantine =
        union(checked.iter().map(Checked::quarantined).collect()).expect("at least one input");
    let mut plans = vec![row_counts, quarantine];
    let request_keys = sources.request_key_worker(limits)?;
    if let Some(worker) = &request_keys {
        plans.push(worker.plan.clone());
    }
    let outputs_at = plans.len();
    if let (Some(outputs), Some(valid)) = (
        sources.outputs_normalized(calendar_settings),
        sources.outputs_valid(),
    ) {
        plans.push(output_weeks(outputs));
        plans.push(count_rows(dedup::outputs(valid)));
    }
    let first = collect_all(plans);
    let request_keys = match request_keys {
        Some(worker) => worker.finish()?,
        None => Spill::all(1),
    };
    let first = first?;
    let mut keys_spilled = request_keys.spilled;
    let duplicates = spill::Repeated::of(request_keys)?;

    // Everything is read out of pass one's frames, and they are dropped, before pass two
    // starts: a frame filtered down to its few quarantined rows can still hold the buffers of
    // the batches it was filtered from.
    let quarantined = quarantined_rows(&first[1], &sources.files)?;
    let rows_per_file = file_rows(&first[0])?;
    let (outputs, outputs_deduplicated) = if first.len() > outputs_at {
        (
            read_outputs(&first[outputs_at])?,
            single_count(&first[outputs_at + 1])?,
        )
    } else {
        (Vec::new(), 0)
    };
    drop(first);
    let mut rejected: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (file, row) in &quarantined {
        rejected.entry(*file).or_default().push(row.row);
    }

    // Pass two: every valid usage row through the fold (none when the usage comes as stats).
    let fold = Fold::new(
        calendar_settings,
        &sources.identities,
        snapshot,
        limits.keys_in_memory,
    );
    let folded = match sources.fold_usage(&rejected, calendar_settings) {
        Some(usage) => {
            let narrowed = fold::narrow(usage, !duplicates.is_empty());
            let fold = fold
                .collapsing(duplicates)
                .holding_duplicates(limits.bytes_in_memory / fold::DUPLICATE_BYTES);
            let worker = Worker::new(narrowed, fold, Fold::add)?;
            let streamed = collect_all(vec![worker.plan.clone()]);
            let fold = worker.finish()?;
            streamed?;
            fold.finish()?
        }
        None => fold.finish()?,
    };
    keys_spilled += folded.keys_spilled;

    let mut stats = Stats {
        days: folded.days,
        sessions: folded.sessions,
        outputs,
        behavior: folded.behavior,
        parts: folded.parts,
    };
    stats.sort();
    Ok(Computed {
        stats,
        rows_per_file,
        quarantined,
        usage_deduplicated: folded.rows_deduplicated,
        outputs_deduplicated,
        rows_outside_window: folded.rows_outside_window,
        keys_spilled,
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

/// Quarantined rows sorted by file and row, with the file index of each.
/// Every quarantined row of `sources`, in file and row order, without the rest of the audit's
/// passes (`ingest --to` writes the quarantine file and enforces `--strict` with it).
pub fn quarantine(sources: &Sources) -> PolarsResult<Vec<QuarantinedRow>> {
    let plan = union(sources.checked.iter().map(Checked::quarantined).collect())
        .expect("at least one input");
    let frame = collect_all(vec![plan])?;
    Ok(quarantined_rows(&frame[0], &sources.files)?
        .into_iter()
        .map(|(_, row)| row)
        .collect())
}

fn quarantined_rows(
    frame: &DataFrame,
    files: &[InputFile],
) -> PolarsResult<Vec<(u32, QuarantinedRow)>> {
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
                        .map(InputFile::display)
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
    Ok(out)
}
