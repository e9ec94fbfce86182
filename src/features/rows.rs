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
//! the other) wait in memory up to the budget, then on disk by ranges of their key, each range
//! collapsed alone at the end.
//!
//! Days here are the local days of the time zone given (`--tz`), as in the audit's calendar.
//! Any ranges of time that follow one another let a writer sort range by range; a local day
//! holds every row of the day that prices and the audit's per-day costs go by (so the writer
//! can give an agent's model-day rows costs that add up to the audit's); and a day keeps what
//! the writer holds at once to a day's rows (a week's were 1.3M rows, 2 GB at the writer's
//! peak, for a 600-person company). Rows are held in memory up to a budget; past it, each
//! day's rows are appended to that day's temporary LZ4 Arrow IPC file as one record batch (at
//! most [`MAX_OPEN_FILES`] open at once).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use polars::io::ipc::BatchedWriter;
use polars::prelude::*;

use super::compute::{collect_all, Limits, Sources, Worker};
use super::spill::Repeated;
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
fn requests_with_copies(sources: &Sources, limits: Limits) -> PolarsResult<Repeated> {
    let Some(worker) = sources.request_key_worker(limits)? else {
        return Ok(Repeated::default());
    };
    let streamed = collect_all(vec![worker.plan.clone()]);
    let keys = worker.finish()?;
    streamed?;
    Ok(Repeated::of(keys)?)
}

/// The state of the second pass: the copies still awaited, those waiting, and the days.
struct Collapse {
    /// The requests with copies, and how many copies of each have come so far.
    copies: Repeated,
    met: Vec<u32>,
    /// Requests whose every copy is waiting, and those copies' rows.
    settled: HashSet<u64>,
    settled_rows: usize,
    /// The copies' rows (the key column kept), in arrival order.
    waiting: Vec<DataFrame>,
    waiting_rows: usize,
    waiting_bytes: usize,
    /// Copies whose partners are far away (two overlapping exports, one read after the
    /// other): past the budget, the unsettled copies waiting go to disk by their key's top
    /// bits, and so does every later copy of their requests (`far_keys`, by table position);
    /// each range is collapsed alone at the end.
    far: Buckets,
    far_keys: Vec<bool>,
    days: Days,
}

/// Ranges of keys the far copies are written in: a range is what is held at once at the end.
const FAR_RANGES: u32 = 16;

impl Collapse {
    fn new(copies: Repeated, days: Days) -> Collapse {
        Collapse {
            met: vec![0; copies.len()],
            far_keys: vec![false; copies.len()],
            copies,
            settled: HashSet::new(),
            settled_rows: 0,
            waiting: Vec::new(),
            waiting_rows: 0,
            waiting_bytes: 0,
            far: Buckets::new("copies", days.buckets.budget, FAR_RANGES as usize),
            days,
        }
    }

    fn add(&mut self, batch: &DataFrame) -> PolarsResult<()> {
        let keys = batch.column(dedup::KEY)?.u64()?;
        let (mut is_copy, mut is_far) = (Vec::with_capacity(batch.height()), Vec::new());
        for key in keys.iter() {
            let copy = key.and_then(|key| Some((key, self.copies.position(key)?)));
            is_copy.push(copy.is_some());
            let Some((key, at)) = copy else { continue };
            let total = self.copies.copies_at(at);
            self.met[at] += 1;
            if self.far_keys[at] {
                is_far.resize(is_copy.len() - 1, false);
                is_far.push(true);
            } else if self.met[at] == total {
                self.settled_rows += total as usize;
                self.settled.insert(key);
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
        let copies = if is_far.is_empty() {
            batch.filter(&is_copy)?
        } else {
            is_far.resize(batch.height(), false);
            let is_far = BooleanChunked::from_slice("far".into(), &is_far);
            self.keep_far(batch.filter(&is_far)?)?;
            batch.filter(&(&is_copy & &!&is_far))?
        };
        self.waiting_rows += copies.height();
        self.waiting_bytes += copies.estimated_size();
        self.waiting.push(copies);
        if self.settled_rows >= COLLAPSE_AT && 2 * self.settled_rows >= self.waiting_rows {
            self.collapse(false)?;
        }
        if self.waiting_bytes > self.far.budget {
            self.collapse(false)?;
            self.send_far()?;
        }
        Ok(())
    }

    /// Sends the copies waiting (none settled: they were just collapsed) to disk, and marks
    /// their requests so that their later copies follow.
    fn send_far(&mut self) -> PolarsResult<()> {
        let Some(frame) = stacked(std::mem::take(&mut self.waiting))? else {
            return Ok(());
        };
        for key in frame.column(dedup::KEY)?.u64()?.iter().flatten() {
            if let Some(at) = self.copies.position(key) {
                self.far_keys[at] = true;
            }
        }
        self.waiting_rows = 0;
        self.waiting_bytes = 0;
        self.keep_far(frame)
    }

    fn keep_far(&mut self, frame: DataFrame) -> PolarsResult<()> {
        if frame.height() == 0 {
            return Ok(());
        }
        let ranges: Vec<i64> = frame
            .column(dedup::KEY)?
            .u64()?
            .iter()
            .map(|key| key.map_or(0, |key| (key >> (64 - FAR_RANGES.ilog2())) as i64))
            .collect();
        self.far.keep_by(frame, ranges)
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
        let collapsed = collapsed(frame.filter(&ready)?)?;
        let rest = frame.filter(&!&ready)?;
        drop(frame);
        self.settled.clear();
        self.settled_rows = 0;
        self.waiting_rows = rest.height();
        self.waiting_bytes = rest.estimated_size();
        if rest.height() > 0 {
            self.waiting.push(rest);
        }
        self.days.push(collapsed)
    }

    fn finish(mut self) -> PolarsResult<Days> {
        self.collapse(true)?;
        let mut days = self.days;
        self.far.for_each(|copies| days.push(collapsed(copies)?))?;
        Ok(days)
    }
}

/// The copies of each request in `copies` (the key column kept) as one row, as the plan-only
/// [`dedup::usage`] gives it.
fn collapsed(copies: DataFrame) -> PolarsResult<DataFrame> {
    copies
        .lazy()
        .group_by([col(dedup::KEY)])
        .agg(dedup::usage_copies_collapsed())
        .select(dedup::usage_order())
        .collect()
}

/// Temporary files open for writing at once. A file a day kept open for the whole run failed
/// with "Too many open files" on data spanning more days than the process may open (a year
/// under macOS's default of 256); past this many, the day written to least recently is
/// finished, and a later flush of it starts a new file. The far copies' ranges
/// ([`FAR_RANGES`]) are open beside them.
const MAX_OPEN_FILES: usize = 48;

/// One bucket's rows: in memory, in finished temporary files, and in one open for appending.
#[derive(Default)]
struct Bucket {
    frames: Vec<DataFrame>,
    finished: Vec<PathBuf>,
    open: Option<(PathBuf, BatchedWriter<BufWriter<File>>)>,
}

impl Bucket {
    fn finish_open(&mut self) -> PolarsResult<()> {
        if let Some((path, mut writer)) = self.open.take() {
            writer.finish()?;
            self.finished.push(path);
        }
        Ok(())
    }
}

/// Rows by a bucket number (a day, a range of keys), in memory up to a budget and appended to
/// each bucket's temporary LZ4 Arrow IPC file past it, one record batch a flush.
struct Buckets {
    buckets: BTreeMap<i64, Bucket>,
    budget: usize,
    in_memory: usize,
    /// What the temporary folder is named for, and the files open at most.
    what: &'static str,
    max_open: usize,
    dir: Option<crate::scratch::Scratch>,
    /// Temporary files written so far (their names), and the buckets with one open, least
    /// recently written first.
    files: usize,
    open: std::collections::VecDeque<i64>,
}

impl Buckets {
    fn new(what: &'static str, budget: usize, max_open: usize) -> Buckets {
        Buckets {
            buckets: BTreeMap::new(),
            budget,
            in_memory: 0,
            what,
            max_open,
            dir: None,
            files: 0,
            open: std::collections::VecDeque::new(),
        }
    }

    /// Keeps each row of `frame` in the bucket `of` gives it.
    fn keep_by(&mut self, frame: DataFrame, of: Vec<i64>) -> PolarsResult<()> {
        let first = of[0];
        if of.iter().all(|bucket| *bucket == first) {
            return self.keep(first, frame);
        }
        const PART: &str = "_bucket";
        let parts = frame
            .hstack(&[Column::new(PART.into(), &of)])?
            .partition_by_stable([PART], true)?;
        for part in parts {
            let bucket = part.column(PART)?.i64()?.get(0).unwrap_or(i64::MIN);
            self.keep(bucket, part.drop(PART)?)?;
        }
        Ok(())
    }

    fn keep(&mut self, bucket: i64, frame: DataFrame) -> PolarsResult<()> {
        self.in_memory += frame.estimated_size();
        self.buckets.entry(bucket).or_default().frames.push(frame);
        if self.in_memory > self.budget {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends the rows held in memory to their buckets' files, one record batch a bucket.
    fn flush(&mut self) -> PolarsResult<()> {
        if self.dir.is_none() {
            let made = crate::scratch::Scratch::new(self.what);
            self.dir = Some(made.map_err(crate::scratch::failed_in(&std::env::temp_dir()))?);
        }
        let dir = self.dir.as_ref().expect("a directory").path().to_path_buf();
        let (failed, polars_failed) = (
            crate::scratch::failed_in(&dir),
            crate::scratch::polars_failed_in(&dir),
        );
        let waiting: Vec<i64> = self
            .buckets
            .iter()
            .filter(|(_, slot)| !slot.frames.is_empty())
            .map(|(bucket, _)| *bucket)
            .collect();
        for bucket in waiting {
            let slot = self.buckets.get_mut(&bucket).expect("a bucket");
            let Some(mut rows) = stacked(std::mem::take(&mut slot.frames))? else {
                continue;
            };
            if slot.open.is_some() {
                self.open.retain(|open| *open != bucket);
            } else {
                self.files += 1;
                let path = dir.join(format!("{bucket}-{}.arrow", self.files));
                let file = File::create(&path).map_err(&failed)?;
                let writer = lz4_ipc_writer(file, rows.schema()).map_err(&polars_failed)?;
                slot.open = Some((path, writer));
            }
            rows.rechunk_mut_par();
            let (_, writer) = slot.open.as_mut().expect("an open file");
            writer.write_batch(&rows).map_err(&polars_failed)?;
            self.open.push_back(bucket);
            while self.open.len() > self.max_open {
                let oldest = self.open.pop_front().expect("an open bucket");
                if let Some(slot) = self.buckets.get_mut(&oldest) {
                    slot.finish_open().map_err(&polars_failed)?;
                }
            }
        }
        self.in_memory = 0;
        Ok(())
    }

    /// Hands each bucket's rows to `each`, in bucket order, one bucket in memory at a time.
    fn for_each<E: From<PolarsError>>(
        self,
        mut each: impl FnMut(DataFrame) -> Result<(), E>,
    ) -> Result<(), E> {
        let _dir = self.dir;
        for (_, mut bucket) in self.buckets {
            bucket.finish_open()?;
            let mut frames = Vec::new();
            for path in &bucket.finished {
                let file = File::open(path).map_err(PolarsError::from)?;
                frames.push(IpcReader::new(file).finish()?);
                std::fs::remove_file(path).map_err(PolarsError::from)?;
            }
            frames.extend(bucket.frames);
            if let Some(rows) = stacked(frames)? {
                each(rows)?;
            }
        }
        Ok(())
    }
}

/// Deduplicated usage rows by local day, in memory up to a budget and in temporary files past
/// it.
pub struct Days {
    buckets: Buckets,
    /// The columns and types every part is given (those of the first), so a day's parts stack.
    schema: Option<SchemaRef>,
    /// Whose days: the rows' local dates here.
    tz: chrono_tz::Tz,
}

impl Days {
    fn new(budget: usize, tz: chrono_tz::Tz) -> Days {
        Days {
            buckets: Buckets::new("days", budget, MAX_OPEN_FILES),
            schema: None,
            tz,
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
        self.buckets.keep_by(frame, days)
    }

    /// Hands each day's rows to `each`, in time order, one day in memory at a time.
    pub fn for_each<E: From<PolarsError>>(
        self,
        each: impl FnMut(DataFrame) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buckets.for_each(each)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows that cannot be written to their bucket's file fail with the folder named, in the
    /// error a run reports at once (see `pipeline::over_files`).
    #[test]
    fn a_bucket_that_cannot_be_written_names_its_folder() {
        let mut buckets = Buckets::new("test", 0, 4);
        let scratch = crate::scratch::Scratch::new("test").unwrap();
        let gone = scratch.path().to_path_buf();
        std::fs::remove_dir_all(&gone).unwrap();
        buckets.dir = Some(scratch);
        let rows = df!("ts" => [1i64]).unwrap();
        let err = buckets.keep(0, rows).unwrap_err();
        let failed = crate::scratch::write_failure(&err).expect("a failed write");
        assert_eq!(failed.dir, gone);
    }
}
