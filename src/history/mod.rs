//! The history store: the stats contract of every complete week, and the findings of every
//! run, kept between runs in a directory a team can keep in git.
//!
//! # Layout (version [`HISTORY_VERSION`])
//!
//! ```text
//! DIR/history.json                                 the manifest: versions, settings, weeks, runs
//! DIR/weeks/week=2026-09-07/days-r000003.parquet   one file a part of the stats contract,
//! DIR/weeks/week=2026-09-07/sessions-r000003.parquet   written by run 3
//! DIR/weeks/week=2026-09-07/outputs-r000003.parquet
//! DIR/weeks/week=2026-09-07/behavior-r000003.parquet
//! DIR/weeks/week=2026-09-07/parts-r000003.parquet
//! DIR/runs/findings-r000003.parquet                the findings run 3 raised
//! ```
//!
//! The manifest is the store: it names, for each week, the run whose files hold it, and lists
//! the runs. A run writes its files under names no committed run uses, then replaces the
//! manifest in one rename, then deletes the files no longer named. A run that fails or is
//! killed before the rename leaves the manifest, and so the store, as it was; files it left
//! behind carry an uncommitted run number and the next run removes them.
//!
//! # Which copy of a week counts
//!
//! Distinct counts (sessions, prompts) can be merged only between whole agent-weeks
//! ([`crate::features::Stats::merge`]), so a week is stored only from an input that covers all
//! of it: every one of the week's seven days is inside `--since`/`--until` when the user
//! gives them (the period an export covers, declared), or has usage rows in the input when
//! not; and the week has ended. Without a declared period a gap (a week split across two
//! exports) or a quiet weekend makes the week partial: never stored, never a loss. When a
//! week is both stored and in the input, the input's copy counts if it covers the week (a
//! re-export that corrects a week replaces it), the stored copy otherwise (a partial export
//! never replaces a whole week); the input's rows of that week are then left out and the
//! report says so. A partial week that is not stored is audited from the input alone and not
//! stored.

pub mod parts;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::Severity;
use crate::features::{Stats, STATS_VERSION};
use crate::normalize::calendar::{from_day_number, to_day_number, WeekStart};

pub use parts::PARTS;

/// The version of the store's layout. Bump it when a file, a column or the manifest changes.
pub const HISTORY_VERSION: u32 = 1;
const FORMAT: &str = "tokenaudit-history";
const MANIFEST: &str = "history.json";
/// Held while a run writes: the process id of the writer.
const LOCK: &str = "history.lock";
/// Runs whose findings are kept; older runs' files are deleted.
const KEEP_RUNS: usize = 52;
/// Set (to anything) by a test to make the next write fail before its commit.
pub const FAIL_BEFORE_COMMIT_ENV: &str = "TOKENAUDIT_HISTORY_FAIL_BEFORE_COMMIT";

/// Why the store could not be read or written (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("Cannot use the history store `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("The history store file `{}` cannot be read: {source}", path.display())]
    Parquet { path: PathBuf, source: PolarsError },
    #[error("`{}` is not a tokenaudit history store: {message}\n\nhint: give --history an empty or new directory to start a store", path.display())]
    NotAStore { path: PathBuf, message: String },
    #[error("The history store `{}` has layout version {found} (stats version {found_stats}); this tokenaudit reads layout {HISTORY_VERSION}, stats 4 and {STATS_VERSION}\n\nhint: use the tokenaudit version that wrote it, or start a new store in another directory (the raw logs of the stored weeks are needed to rebuild it)", path.display())]
    Version {
        path: PathBuf,
        found: u32,
        found_stats: u32,
    },
    #[error("The history store `{}` was kept with {what} {stored}, and this run uses {run}\n\nhint: run with the store's setting, or start a new store in another directory", path.display())]
    Settings {
        path: PathBuf,
        what: &'static str,
        stored: String,
        run: String,
    },
    #[error("The history store `{}` was not written: the write was made to fail ({FAIL_BEFORE_COMMIT_ENV})", path.display())]
    Injected { path: PathBuf },
    #[error("The history store `{}` was not written: {why}\n\nhint: run the audit again; it reads the store as the other run left it", path.display())]
    Busy { path: PathBuf, why: String },
}

/// The run settings a stored week depends on: weeks and days are local dates, and the
/// behaviour fingerprints count hours from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSettings {
    pub tz: String,
    pub week_start: String,
    /// `None` when the behaviour fingerprints are not computed.
    pub snapshot: Option<String>,
}

/// One run in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: u64,
    /// The weeks the run audited, first days.
    pub weeks: Vec<String>,
    pub findings: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    stats_version: u32,
    settings: StoreSettings,
    next_run: u64,
    /// Week (first day) → the run whose files hold it.
    weeks: BTreeMap<String, u64>,
    runs: Vec<RunRecord>,
    /// Each named file (relative to the store) → its SHA-256, checked before it is read: a
    /// damaged file is refused, never read as numbers.
    #[serde(default)]
    checksums: BTreeMap<String, String>,
}

/// A finding as the store keeps it: enough to say, a run later, what stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFinding {
    pub id: String,
    pub agent: String,
    pub team: String,
    pub detector: String,
    pub severity: Severity,
    pub week: Option<String>,
    pub excess_cost_usd: f64,
}

/// The days an input covers: see the module docs.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// `--since` and `--until`: the period the user declares the input covers.
    pub since: Option<i32>,
    pub until: Option<i32>,
    /// The days with usage rows in the input.
    pub days: BTreeSet<i32>,
    /// Today: a week that has not ended may still get rows.
    pub today: i32,
}

impl Coverage {
    fn covers_day(&self, day: i32) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return self.days.contains(&day);
        }
        let first = self.since.or_else(|| self.days.first().copied());
        let last = self.until.or_else(|| self.days.last().copied());
        first.is_some_and(|f| f <= day) && last.is_some_and(|l| day <= l)
    }

    /// Whether the input covers all seven days of `week`.
    fn covers(&self, week: i32) -> bool {
        week + 6 < self.today && (week..week + 7).all(|day| self.covers_day(day))
    }
}

/// Where each audited week came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Combined {
    /// The stats the run audits: the window's weeks, each from one source.
    pub stats: Stats,
    /// The input's whole weeks, which this run stores (any part of the window or not).
    pub to_store: Stats,
    /// Weeks (first days) read from the store.
    pub from_history: BTreeSet<i32>,
    /// Input weeks audited but not stored, being partial.
    pub partial: BTreeSet<i32>,
    /// Partial input weeks the store holds whole: the input's rows of them are left out.
    pub superseded: BTreeSet<i32>,
}

/// An open store: its manifest as read, and where it lives.
#[derive(Debug)]
pub struct History {
    dir: PathBuf,
    manifest: Manifest,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn week_name(week: i32) -> String {
    from_day_number(week).to_string()
}

fn week_number(name: &str) -> Option<i32> {
    name.parse::<NaiveDate>().ok().map(to_day_number)
}

impl History {
    /// Opens the store in `dir`, or a new empty one when `dir` does not exist or is empty.
    /// A store of another version or kept with other settings is refused.
    pub fn open(dir: &Path, settings: StoreSettings) -> Result<History, HistoryError> {
        if dir.exists() && !dir.is_dir() {
            return Err(HistoryError::NotAStore {
                path: dir.to_path_buf(),
                message: "it is a file; a store is a directory".to_string(),
            });
        }
        let manifest_path = dir.join(MANIFEST);
        if !manifest_path.exists() {
            // What a first run killed before its commit leaves is not somebody else's data.
            if let Ok(entries) = fs::read_dir(dir) {
                let mut foreign = entries.flatten().filter(|e| {
                    !matches!(
                        e.file_name().to_str(),
                        Some("weeks" | "runs" | LOCK | "history.json.tmp-tokenaudit" | ".gitkeep")
                    )
                });
                if foreign.next().is_some() {
                    return Err(HistoryError::NotAStore {
                        path: dir.to_path_buf(),
                        message: format!("it has files but no {MANIFEST}"),
                    });
                }
            }
            return Ok(History {
                dir: dir.to_path_buf(),
                manifest: Manifest {
                    format: FORMAT.to_string(),
                    version: HISTORY_VERSION,
                    stats_version: STATS_VERSION,
                    settings,
                    next_run: 1,
                    weeks: BTreeMap::new(),
                    runs: Vec::new(),
                    checksums: BTreeMap::new(),
                },
            });
        }
        let text = fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| HistoryError::NotAStore {
                path: dir.to_path_buf(),
                message: format!("{MANIFEST} is not JSON ({e})"),
            })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(HistoryError::NotAStore {
                path: dir.to_path_buf(),
                message: format!("{MANIFEST} does not say \"format\": \"{FORMAT}\""),
            });
        }
        let number = |key: &str| value.get(key).and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        let (found, found_stats) = (number("version"), number("stats_version"));
        if found != HISTORY_VERSION || !crate::features::reads_stats_version(found_stats) {
            return Err(HistoryError::Version {
                path: dir.to_path_buf(),
                found,
                found_stats,
            });
        }
        let mut manifest: Manifest =
            serde_json::from_value(value).map_err(|e| HistoryError::NotAStore {
                path: dir.to_path_buf(),
                message: format!("{MANIFEST} is damaged ({e})"),
            })?;
        // A store of an older stats version the reader still reads is of this version from
        // its next write: its older parts read as they are, the new ones are written whole.
        manifest.stats_version = STATS_VERSION;
        let stored = &manifest.settings;
        let mismatch = |what: &'static str, stored: &str, run: &str| {
            Err(HistoryError::Settings {
                path: dir.to_path_buf(),
                what,
                stored: stored.to_string(),
                run: run.to_string(),
            })
        };
        if stored.tz != settings.tz {
            return mismatch("--tz", &stored.tz, &settings.tz);
        }
        if stored.week_start != settings.week_start {
            return mismatch("--week-start", &stored.week_start, &settings.week_start);
        }
        if stored.snapshot != settings.snapshot {
            let show = |s: &Option<String>| {
                s.clone()
                    .unwrap_or_else(|| "the behaviour lens off".to_string())
            };
            return mismatch(
                "the behaviour snapshot",
                &show(&stored.snapshot),
                &show(&settings.snapshot),
            );
        }
        Ok(History {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The stored weeks, first days.
    pub fn weeks(&self) -> BTreeSet<i32> {
        self.manifest
            .weeks
            .keys()
            .filter_map(|w| week_number(w))
            .collect()
    }

    /// The last committed run, if any.
    pub fn last_run(&self) -> Option<&RunRecord> {
        self.manifest.runs.last()
    }

    /// The number the next committed run will have.
    pub fn next_run(&self) -> u64 {
        self.manifest.next_run
    }

    fn part_path(&self, week: &str, part: &str, run: u64) -> PathBuf {
        self.dir
            .join("weeks")
            .join(format!("week={week}"))
            .join(format!("{part}-r{run:06}.parquet"))
    }

    fn findings_path(&self, run: u64) -> PathBuf {
        self.dir
            .join("runs")
            .join(format!("findings-r{run:06}.parquet"))
    }

    /// The stats of the stored `weeks`.
    pub fn read(&self, weeks: &BTreeSet<i32>) -> Result<Stats, HistoryError> {
        let mut stats = Stats::default();
        for week in weeks {
            let name = week_name(*week);
            let Some(run) = self.manifest.weeks.get(&name) else {
                continue;
            };
            let mut frames = Vec::with_capacity(PARTS.len());
            for part in PARTS {
                let path = self.part_path(&name, part, *run);
                frames.push(self.read_checked(&path)?);
            }
            let frames: [DataFrame; 5] = frames.try_into().expect("five parts");
            let week_stats = parts::stats(&frames).map_err(|source| HistoryError::Parquet {
                path: self.part_path(&name, "*", *run),
                source,
            })?;
            stats.append(week_stats);
        }
        stats.sort();
        Ok(stats)
    }

    /// The findings of the last committed run (empty for a new store).
    pub fn previous_findings(&self) -> Result<Vec<StoredFinding>, HistoryError> {
        let Some(run) = self.last_run() else {
            return Ok(Vec::new());
        };
        let path = self.findings_path(run.run);
        let frame = self.read_checked(&path)?;
        parts::findings(&frame).map_err(|source| HistoryError::Parquet { path, source })
    }

    /// Chooses the source of each week (see the module docs) and reads the stored ones the
    /// window needs. `window` is the number of weeks audited, ending with the latest.
    pub fn combine(
        &self,
        input: Stats,
        week_start: WeekStart,
        coverage: Coverage,
        window: Option<usize>,
    ) -> Result<Combined, HistoryError> {
        let input_weeks = input.weeks(week_start);
        let stored = self.weeks();
        let whole: BTreeSet<i32> = input_weeks
            .iter()
            .copied()
            .filter(|w| coverage.covers(*w))
            .collect();
        let latest = input_weeks.iter().chain(&stored).max().copied();
        let first = match (window, latest) {
            (Some(n), Some(latest)) => {
                latest.saturating_sub(7i32.saturating_mul(n.clamp(1, 1 << 20) as i32 - 1))
            }
            _ => i32::MIN,
        };
        let mut combined = Combined::default();
        let (to_store, _) = input.clone().partition(week_start, |w| whole.contains(&w));
        combined.to_store = to_store;
        for week in input_weeks.iter().chain(&stored) {
            if *week < first {
                continue;
            }
            if whole.contains(week) {
                continue;
            }
            if stored.contains(week) {
                combined.from_history.insert(*week);
                if input_weeks.contains(week) {
                    combined.superseded.insert(*week);
                }
            } else {
                combined.partial.insert(*week);
            }
        }
        let (from_input, _) = input.partition(week_start, |w| {
            w >= first && (whole.contains(&w) || combined.partial.contains(&w))
        });
        let from_store = self.read(&combined.from_history)?;
        combined.stats = from_input.merge(from_store).map_err(|overlap| {
            // Each week has one source by construction; an overlap is a bug, said plainly.
            HistoryError::NotAStore {
                path: self.dir.clone(),
                message: overlap.to_string(),
            }
        })?;
        Ok(combined)
    }

    /// Stores `weeks` (whole weeks, replacing stored copies) and the run's findings, keeps the
    /// newest `keep_weeks` weeks, and commits. Returns the run's number.
    pub fn write(
        mut self,
        weeks: &Stats,
        week_start: WeekStart,
        audited: &BTreeSet<i32>,
        findings: &[StoredFinding],
        keep_weeks: usize,
    ) -> Result<u64, HistoryError> {
        let _lock = Lock::take(&self.dir)?;
        // Another run that committed since this one read the store would be overwritten.
        let on_disk = fs::read_to_string(self.dir.join(MANIFEST))
            .ok()
            .and_then(|text| serde_json::from_str::<Manifest>(&text).ok())
            .map_or(1, |m| m.next_run);
        if on_disk != self.manifest.next_run {
            return Err(HistoryError::Busy {
                path: self.dir.clone(),
                why: format!(
                    "another run committed run {} while this one ran",
                    on_disk.saturating_sub(1)
                ),
            });
        }
        let run = self.manifest.next_run;
        // Each file this run wrote, with its SHA-256 for the manifest.
        let mut written: Vec<(PathBuf, String)> = Vec::new();
        let result = self.write_files(run, weeks, week_start, findings, &mut written);
        let result = result.and_then(|()| {
            if std::env::var_os(FAIL_BEFORE_COMMIT_ENV).is_some() {
                return Err(HistoryError::Injected {
                    path: self.dir.clone(),
                });
            }
            Ok(())
        });
        if let Err(e) = result {
            for (path, _) in &written {
                let _ = fs::remove_file(path);
                if let Some(parent) = path.parent() {
                    let _ = fs::remove_dir(parent); // only when this run made it and left it empty
                }
            }
            return Err(e);
        }

        let mut manifest = self.manifest.clone();
        for (path, checksum) in written {
            manifest.checksums.insert(self.relative(&path), checksum);
        }
        for week in weeks.weeks(week_start) {
            manifest.weeks.insert(week_name(week), run);
        }
        if let Some(newest) = manifest.weeks.keys().filter_map(|w| week_number(w)).max() {
            let oldest =
                newest.saturating_sub(7i32.saturating_mul(keep_weeks.clamp(1, 1 << 20) as i32 - 1));
            manifest
                .weeks
                .retain(|w, _| week_number(w).is_some_and(|w| w >= oldest));
        }
        manifest.runs.push(RunRecord {
            run,
            weeks: audited.iter().map(|w| week_name(*w)).collect(),
            findings: findings.len(),
        });
        let excess = manifest.runs.len().saturating_sub(KEEP_RUNS);
        manifest.runs.drain(..excess);
        manifest.next_run = run + 1;
        let named: BTreeSet<String> = manifest
            .weeks
            .iter()
            .flat_map(|(week, run)| PARTS.iter().map(move |part| (week, part, *run)))
            .map(|(week, part, run)| self.relative(&self.part_path(week, part, run)))
            .chain(
                manifest
                    .runs
                    .iter()
                    .map(|r| self.relative(&self.findings_path(r.run))),
            )
            .collect();
        manifest.checksums.retain(|name, _| named.contains(name));
        let path = self.dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest).expect("the manifest is plain data");
        crate::report::write_atomically(&path, |out| {
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")
        })
        .map_err(io(&path))?;
        self.manifest = manifest;
        self.remove_unnamed();
        Ok(run)
    }

    fn write_files(
        &self,
        run: u64,
        weeks: &Stats,
        week_start: WeekStart,
        findings: &[StoredFinding],
        written: &mut Vec<(PathBuf, String)>,
    ) -> Result<(), HistoryError> {
        // One week split off at a time: no copy of the whole stats per week.
        let mut rest = weeks.clone();
        for week in weeks.weeks(week_start) {
            let (one, others) = rest.partition(week_start, |w| w == week);
            rest = others;
            let frames = parts::frames(&one).map_err(|source| HistoryError::Parquet {
                path: self.dir.clone(),
                source,
            })?;
            for (part, mut frame) in PARTS.iter().zip(frames) {
                let path = self.part_path(&week_name(week), part, run);
                let checksum = write_parquet(&path, &mut frame)?;
                written.push((path, checksum));
            }
        }
        let path = self.findings_path(run);
        let mut frame =
            parts::findings_frame(findings).map_err(|source| HistoryError::Parquet {
                path: path.clone(),
                source,
            })?;
        let checksum = write_parquet(&path, &mut frame)?;
        written.push((path, checksum));
        Ok(())
    }

    /// Deletes the files the manifest does not name: replaced and expired weeks, old runs, and
    /// what a failed run left. Best effort: a file left here is ignored by every reader that
    /// goes through the manifest.
    fn remove_unnamed(&self) {
        let mut named: BTreeSet<PathBuf> = BTreeSet::new();
        for (week, run) in &self.manifest.weeks {
            for part in PARTS {
                named.insert(self.part_path(week, part, *run));
            }
        }
        for run in &self.manifest.runs {
            named.insert(self.findings_path(run.run));
        }
        let weeks_dir = self.dir.join("weeks");
        for dir in fs::read_dir(&weeks_dir).into_iter().flatten().flatten() {
            for file in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                if !named.contains(&file.path()) {
                    let _ = fs::remove_file(file.path());
                }
            }
            let _ = fs::remove_dir(dir.path()); // only when empty
        }
        for file in fs::read_dir(self.dir.join("runs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !named.contains(&file.path()) {
                let _ = fs::remove_file(file.path());
            }
        }
    }
}

/// The store's write lock: a file holding the writer's process id, removed when dropped. A
/// lock whose process is gone (a killed run) is taken over.
struct Lock(PathBuf);

impl Lock {
    fn take(dir: &Path) -> Result<Lock, HistoryError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(LOCK);
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    let _ = write!(file, "{}", std::process::id());
                    return Ok(Lock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    let alive = holder
                        .trim()
                        .parse::<u32>()
                        .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if alive {
                        return Err(HistoryError::Busy {
                            path: dir.to_path_buf(),
                            why: format!("process {} is writing it", holder.trim()),
                        });
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Err(HistoryError::Busy {
            path: dir.to_path_buf(),
            why: format!("`{}` could not be taken", path.display()),
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

impl History {
    /// A store file, once its checksum matches the manifest's.
    fn read_checked(&self, path: &Path) -> Result<DataFrame, HistoryError> {
        let name = self.relative(path);
        let bytes = fs::read(path).map_err(io(path))?;
        if let Some(expected) = self.manifest.checksums.get(&name) {
            if sha256(&bytes) != *expected {
                return Err(HistoryError::Parquet {
                    path: path.to_path_buf(),
                    source: polars_err!(ComputeError: "the file is damaged: its SHA-256 is not the one history.json recorded"),
                });
            }
        }
        parts::decode(&bytes).map_err(|source| HistoryError::Parquet {
            path: path.to_path_buf(),
            source,
        })
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }
}

/// The SHA-256 of `bytes`, in hex.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `frame` to `path`, whole or not at all; returns the file's SHA-256.
fn write_parquet(path: &Path, frame: &mut DataFrame) -> Result<String, HistoryError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let bytes = parts::encode(frame).map_err(|source| HistoryError::Parquet {
        path: path.to_path_buf(),
        source,
    })?;
    crate::report::write_atomically(path, |out| out.write_all(&bytes)).map_err(io(path))?;
    Ok(sha256(&bytes))
}
