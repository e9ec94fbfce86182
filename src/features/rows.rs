//! The valid usage rows one per request, for `tokenaudit ingest --to`, which writes rows: copies
//! collapsed as the rows stream, and the result handed back one day of time at a time, so the
//! writer sorts a day, never the whole table.
//!
//! Two streaming passes, as in [`compute`](super::compute): the first counts the copies of every
//! request id seen more than once ([`spill`]); the second streams every valid row through a
//! [`Collapse`]. A row whose request appears once goes straight to its day; the copies of a
//! request wait until the last of them has come (the number pass one counted) and then collapse
//! with [`dedup::usage_copies_collapsed`], the aggregations of the plan-only [`dedup::usage`], so
//! the rows are the same. Streamed chunks of one message sit next to each other in a log, so the
//! copies waiting at any moment are few; copies far apart (two overlapping exports read one after
//! the other) wait as whole rows until their partner comes, which is what this cannot bound.
//!
//! Days here are the local days of the time zone given (`--tz`), as in the audit's calendar.
//! Any ranges of time that follow one another let a writer sort range by range; a local day
//! holds every row of the day that prices and the audit's per-day costs go by (so the writer
//! can give an agent's model-day rows costs that add up to the audit's); and a day keeps what
//! the writer holds at once to a day's rows (a week's were 1.3M rows, 2 GB at the writer's
//! peak, for a 600-person company). Rows are held in memory up to a budget; past it, each
//! day's rows are appended to that day's temporary LZ4 Arrow IPC file as one record batch (at
//! most [`MAX_OPEN_FILES`] open at once).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use polars::io::ipc::BatchedWriter;
use polars::prelude::*;

use super::compute::{collect_all, Limits, Sources, Worker};
use super::spill;
use crate::ingest::held::lz4_ipc_writer;
use crate::normalize::dedup;
use crate::schema;

/// Microseconds in a day (the canonical time is in microseconds).
const DAY_US: i64 = 86_400 * 1_000_000;

/// The local date in `tz` of a time in microseconds since the epoch, as a day number (the
/// calendar's `DAY`, which polars computes the same way from the same zone rules).
fn local_day(us: i64, tz: chrono_tz::Tz) -> i64 {
    use chrono::{Offset, TimeZone};
    let utc = us.div_euclid(DAY_US);
    if tz == chrono_tz::UTC {
        return utc;
    }
    let Some(time) = chrono::DateTime::from_timestamp_micros(us) else {
        return utc;
    };
    let offset = tz.offset_from_utc_datetime(&time.naive_utc()).fix();
    (us + i64::from(offset.local_minus_utc()) * 1_000_000).div_euclid(DAY_US)
}

/// Rows of settled copies that wait before they are collapsed together.
const COLLAPSE_AT: usize = 1 << 16;

/// The valid usage rows of `sources`, one per request, by local day in `tz`; `None` without
/// usage.
pub fn deduplicated_by_day(
    sources: &Sources,
    limits: Limits,
    tz: chrono_tz::Tz,
) -> PolarsResult<Option<Days>> {
    let Some(usage) = sources.usage_valid() else {
        return Ok(None);
    };
    let copies = requests_with_copies(sources, limits)?;
    let keyed = usage.with_column(
        when(col(schema::REQUEST_ID).is_not_null())
            .then(dedup::request_key(col(schema::REQUEST_ID)))
            .otherwise(lit(NULL).cast(DataType::UInt64))
            .alias(dedup::KEY),
    );
    let collapse = Collapse::new(copies, Days::new(limits.bytes_in_memory, tz));
    let worker = Worker::new(keyed, collapse, Collapse::add)?;
    let streamed = collect_all(vec![worker.plan.clone()]);
    let collapse = worker.finish()?;
    streamed?;
    collapse.finish().map(Some)
}

/// The hash of every request id seen more than once among the usage inputs, with its copies.
fn requests_with_copies(sources: &Sources, limits: Limits) -> PolarsResult<Vec<(u64, u32)>> {
    let mut copies = Vec::new();
    let Some(worker) = sources.request_key_worker(limits)? else {
        return Ok(copies);
    };
    let streamed = collect_all(vec![worker.plan.clone()]);
    let keys = worker.finish()?;
    streamed?;
    keys.finish(|run| spill::repeated(run, &mut copies))?;
    Ok(copies)
}

/// The state of the second pass: the copies still awaited, those waiting, and the days.
struct Collapse {
    /// Per request with copies: how many are still to come, and how many there are.
    awaited: HashMap<u64, (u32, u32)>,
    /// Requests whose every copy is waiting, and those copies' rows.
    settled: HashSet<u64>,
    settled_rows: usize,
    /// The copies' rows (the key column kept), in arrival order.
    waiting: Vec<DataFrame>,
    waiting_rows: usize,
    days: Days,
}

impl Collapse {
    fn new(copies: Vec<(u64, u32)>, days: Days) -> Collapse {
        Collapse {
            awaited: copies.into_iter().map(|(key, n)| (key, (n, n))).collect(),
            settled: HashSet::new(),
            settled_rows: 0,
            waiting: Vec::new(),
            waiting_rows: 0,
            days,
        }
    }

    fn add(&mut self, batch: &DataFrame) -> PolarsResult<()> {
        let keys = batch.column(dedup::KEY)?.u64()?;
        let mut is_copy = Vec::with_capacity(batch.height());
        for key in keys.iter() {
            let copy = key.and_then(|key| Some((key, self.awaited.get_mut(&key)?)));
            is_copy.push(copy.is_some());
            if let Some((key, (left, total))) = copy {
                *left -= 1;
                if *left == 0 {
                    self.settled_rows += *total as usize;
                    self.settled.insert(key);
                    self.awaited.remove(&key);
                }
            }
        }
        let is_copy = BooleanChunked::from_slice("copy".into(), &is_copy);
        if !is_copy.any() {
            return self.days.push(batch.drop(dedup::KEY)?);
        }
        let once = batch.filter(&!&is_copy)?;
        if once.height() > 0 {
            self.days.push(once.drop(dedup::KEY)?)?;
        }
        let copies = batch.filter(&is_copy)?;
        self.waiting_rows += copies.height();
        self.waiting.push(copies);
        if self.settled_rows >= COLLAPSE_AT && 2 * self.settled_rows >= self.waiting_rows {
            self.collapse(false)?;
        }
        Ok(())
    }

    /// Collapses the copies of the settled requests (of every request waiting, at the end:
    /// those whose other copies were quarantined) and sends them to their days.
    fn collapse(&mut self, all: bool) -> PolarsResult<()> {
        let Some(frame) = stacked(std::mem::take(&mut self.waiting))? else {
            return Ok(());
        };
        let ready = if all {
            BooleanChunked::full("ready".into(), true, frame.height())
        } else {
            let keys = frame.column(dedup::KEY)?.u64()?;
            keys.iter()
                .map(|key| key.is_some_and(|key| self.settled.contains(&key)))
                .collect::<BooleanChunked>()
        };
        let collapsed = frame
            .filter(&ready)?
            .lazy()
            .group_by([col(dedup::KEY)])
            .agg(dedup::usage_copies_collapsed())
            .select(dedup::usage_order())
            .collect()?;
        let rest = frame.filter(&!&ready)?;
        drop(frame);
        self.settled.clear();
        self.settled_rows = 0;
        self.waiting_rows = rest.height();
        if rest.height() > 0 {
            self.waiting.push(rest);
        }
        self.days.push(collapsed)
    }

    fn finish(mut self) -> PolarsResult<Days> {
        self.collapse(true)?;
        Ok(self.days)
    }
}

/// Temporary files open for writing at once. A file a day kept open for the whole run failed
/// with "Too many open files" on data spanning more days than the process may open (a year
/// under macOS's default of 256); past this many, the day written to least recently is
/// finished, and a later flush of it starts a new file.
const MAX_OPEN_FILES: usize = 64;

/// One day's rows: in memory, in finished temporary files, and in one open for appending.
#[derive(Default)]
struct Day {
    frames: Vec<DataFrame>,
    finished: Vec<PathBuf>,
    open: Option<(PathBuf, BatchedWriter<BufWriter<File>>)>,
}

impl Day {
    fn finish_open(&mut self) -> PolarsResult<()> {
        if let Some((path, mut writer)) = self.open.take() {
            writer.finish()?;
            self.finished.push(path);
        }
        Ok(())
    }
}

/// Deduplicated usage rows by day, in memory up to a budget and in temporary files past it.
pub struct Days {
    days: BTreeMap<i64, Day>,
    /// The columns and types every part is given (those of the first), so a day's parts stack.
    schema: Option<SchemaRef>,
    budget: usize,
    in_memory: usize,
    /// Whose days: the rows' local dates here.
    tz: chrono_tz::Tz,
    dir: Option<crate::scratch::Scratch>,
    /// Temporary files written so far (their names), and the days with one open, least
    /// recently written first.
    files: usize,
    open: std::collections::VecDeque<i64>,
}

impl Days {
    fn new(budget: usize, tz: chrono_tz::Tz) -> Days {
        Days {
            days: BTreeMap::new(),
            schema: None,
            budget,
            in_memory: 0,
            tz,
            dir: None,
            files: 0,
            open: std::collections::VecDeque::new(),
        }
    }

    /// Rows of one or more days, in canonical order with the file column.
    fn push(&mut self, frame: DataFrame) -> PolarsResult<()> {
        if frame.height() == 0 {
            return Ok(());
        }
        let schema = self.schema.get_or_insert_with(|| frame.schema().clone());
        let frame = if frame.schema() == schema {
            frame
        } else {
            frame
                .lazy()
                .select(
                    schema
                        .iter()
                        .map(|(name, dtype)| col(name.clone()).cast(dtype.clone()))
                        .collect::<Vec<_>>(),
                )
                .collect()?
        };
        let ts = frame.column(schema::TS)?.cast(&DataType::Int64)?;
        let days: Vec<i64> = ts
            .i64()?
            .iter()
            .map(|us| us.map_or(i64::MIN, |us| local_day(us, self.tz)))
            .collect();
        let first = days[0];
        if days.iter().all(|day| *day == first) {
            return self.keep(first, frame);
        }
        const PART: &str = "_day_part";
        let parts = frame
            .hstack(&[Column::new(PART.into(), &days)])?
            .partition_by_stable([PART], true)?;
        for part in parts {
            let day = part.column(PART)?.i64()?.get(0).unwrap_or(i64::MIN);
            self.keep(day, part.drop(PART)?)?;
        }
        Ok(())
    }

    fn keep(&mut self, day: i64, frame: DataFrame) -> PolarsResult<()> {
        self.in_memory += frame.estimated_size();
        self.days.entry(day).or_default().frames.push(frame);
        if self.in_memory > self.budget {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends the rows held in memory to their days' files, one record batch a day.
    fn flush(&mut self) -> PolarsResult<()> {
        if self.dir.is_none() {
            self.dir = Some(crate::scratch::Scratch::new("days")?);
        }
        let dir = self.dir.as_ref().expect("a directory").path().to_path_buf();
        let waiting: Vec<i64> = self
            .days
            .iter()
            .filter(|(_, slot)| !slot.frames.is_empty())
            .map(|(day, _)| *day)
            .collect();
        for day in waiting {
            let slot = self.days.get_mut(&day).expect("a day");
            let Some(mut rows) = stacked(std::mem::take(&mut slot.frames))? else {
                continue;
            };
            if slot.open.is_some() {
                self.open.retain(|open| *open != day);
            } else {
                self.files += 1;
                let path = dir.join(format!("{day}-{}.arrow", self.files));
                let writer = lz4_ipc_writer(File::create(&path)?, rows.schema())?;
                slot.open = Some((path, writer));
            }
            rows.rechunk_mut_par();
            let (_, writer) = slot.open.as_mut().expect("an open file");
            writer.write_batch(&rows)?;
            self.open.push_back(day);
            while self.open.len() > MAX_OPEN_FILES {
                let oldest = self.open.pop_front().expect("an open day");
                if let Some(slot) = self.days.get_mut(&oldest) {
                    slot.finish_open()?;
                }
            }
        }
        self.in_memory = 0;
        Ok(())
    }

    /// Hands each day's rows to `each`, in time order, one day in memory at a time.
    pub fn for_each<E: From<PolarsError>>(
        self,
        mut each: impl FnMut(DataFrame) -> Result<(), E>,
    ) -> Result<(), E> {
        let _dir = self.dir;
        for (_, mut day) in self.days {
            day.finish_open()?;
            let mut frames = Vec::new();
            for path in &day.finished {
                let file = File::open(path).map_err(PolarsError::from)?;
                frames.push(IpcReader::new(file).finish()?);
                std::fs::remove_file(path).map_err(PolarsError::from)?;
            }
            frames.extend(day.frames);
            if let Some(rows) = stacked(frames)? {
                each(rows)?;
            }
        }
        Ok(())
    }
}

/// Frames of one schema stacked into one, or `None` when there are none.
fn stacked(frames: Vec<DataFrame>) -> PolarsResult<Option<DataFrame>> {
    let mut frames = frames.into_iter();
    let Some(mut rows) = frames.next() else {
        return Ok(None);
    };
    for more in frames {
        rows.vstack_mut_owned(more)?;
    }
    Ok(Some(rows))
}
