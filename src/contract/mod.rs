//! The stats contract as files: what `tokenaudit stats` writes, what an SQL engine running
//! `tokenaudit sql` writes, and what `tokenaudit audit --stats DIR` reads.
//!
//! A stats folder holds one Parquet table (a file, or a folder of part files as Spark writes
//! them) per part of the contract ([`crate::features::Stats`]; columns as in the history
//! store, README "History") and a manifest, `stats.json`:
//!
//! ```json
//! {"format": "tokenaudit-stats", "stats_version": 5, "producer": "tokenaudit 0.1.0",
//!  "parameters": {"tz": "UTC", "week_start": "monday", "snapshot": "406800s/12h",
//!                 "since": null, "until": null},
//!  "tables": {"days": "days.parquet", ...}, "checksums": {"days.parquet": "…"},
//!  "ingest": {...}, "inputs": [...], "rows_outside_window": 0}
//! ```
//!
//! The parameters are what the numbers depend on (local days and weeks, the hours of the
//! behaviour fingerprints): an audit with other settings is refused, never silently shifted.
//! Several folders are merged when their agent-weeks are disjoint (shards by week or by agent;
//! [`Stats::merge`]), and refused when two hold the same agent-week.

pub mod sql;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::features::{Stats, STATS_VERSION};
use crate::history::{parts, sha256};
use crate::report::{IngestSummary, InputSummary};

/// The manifest's `format`.
pub const FORMAT: &str = "tokenaudit-stats";
/// The manifest's file name.
pub const MANIFEST: &str = "stats.json";

/// What the stats depend on besides the rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameters {
    /// IANA time zone of days and weeks.
    pub tz: String,
    /// `monday` or `sunday`.
    pub week_start: String,
    /// `"{offset seconds from Monday 00:00 UTC}s/{window hours}h"`, or `None` when the
    /// behaviour fingerprints were not computed.
    pub snapshot: Option<String>,
    /// The declared period (`--since`, `--until`), local dates.
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Parameters {
    /// The parameters of a run on `calendar` with the behaviour fingerprints from `snapshot`.
    pub fn of(
        calendar: &crate::normalize::calendar::Calendar,
        snapshot: Option<crate::features::Snapshot>,
    ) -> Parameters {
        Parameters {
            tz: calendar.tz.name().to_string(),
            week_start: calendar.week_start.name().to_string(),
            snapshot: snapshot.map(|s| format!("{}s/{}h", s.offset_seconds, s.window_hours)),
            since: calendar.since.map(|d| d.to_string()),
            until: calendar.until.map(|d| d.to_string()),
        }
    }
}

/// `stats.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub stats_version: u32,
    /// Who computed the tables: `tokenaudit 0.1.0`, or `sql duckdb` and the like.
    pub producer: String,
    pub parameters: Parameters,
    /// Part → its Parquet file or folder of files, relative to the manifest.
    pub tables: BTreeMap<String, String>,
    /// File → SHA-256, for the files tokenaudit wrote; checked before they are read.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
    /// The SHA-256 of the SQL that computed the tables, for an engine's tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_sha256: Option<String>,
    /// The accounting of the rows behind the tables, when the producer kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest: Option<IngestSummary>,
    #[serde(default)]
    pub inputs: Vec<InputSummary>,
    #[serde(default)]
    pub rows_outside_window: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("Cannot read or write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not a tokenaudit stats folder: {message}\n\nhint: write one with `tokenaudit stats --usage … --to DIR`, or run the SQL of `tokenaudit sql` and keep its stats.json beside the tables", path.display())]
    NotStats { path: PathBuf, message: String },
    #[error("`{}` holds stats version {found}; this tokenaudit reads versions 4 and {STATS_VERSION}\n\nhint: compute the stats again with this version (`tokenaudit stats`, or the SQL of `tokenaudit sql`)", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("`{}` was computed with {what} {stored}, this run uses {run}\n\nhint: run with the stats' setting, or compute the stats again with this one", path.display())]
    Parameters {
        path: PathBuf,
        what: &'static str,
        stored: String,
        run: String,
    },
    #[error("`{}` does not match its checksum in {MANIFEST}: the file changed or is damaged\n\nhint: compute the stats again", path.display())]
    Checksum { path: PathBuf },
    #[error("`{}`: {source}", path.display())]
    Parquet { path: PathBuf, source: PolarsError },
    #[error("{0}\n\nhint: shard the stats by week or by agent, never so that two shards hold the same agent-week")]
    Overlap(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ContractError + '_ {
    |source| ContractError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a stats folder holds besides its tables.
#[derive(Debug, Clone, Default)]
pub struct Accounting {
    pub ingest: Option<IngestSummary>,
    pub inputs: Vec<InputSummary>,
    pub rows_outside_window: u64,
}

/// Writes `stats` to `dir` with its manifest; the manifest last, so that a folder with a
/// manifest is whole.
pub fn write(
    dir: &Path,
    stats: &Stats,
    parameters: Parameters,
    accounting: Accounting,
) -> Result<(), ContractError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tables = BTreeMap::new();
    let mut checksums = BTreeMap::new();
    let frames = parts::frames(stats).map_err(|source| ContractError::Parquet {
        path: dir.to_path_buf(),
        source,
    })?;
    for (name, mut frame) in parts::PARTS.into_iter().zip(frames) {
        let file = format!("{name}.parquet");
        let path = dir.join(&file);
        let bytes = parts::encode(&mut frame).map_err(|source| ContractError::Parquet {
            path: path.clone(),
            source,
        })?;
        crate::report::write_atomically(&path, |out| std::io::Write::write_all(out, &bytes))
            .map_err(io(&path))?;
        checksums.insert(file.clone(), sha256(&bytes));
        tables.insert(name.to_string(), file);
    }
    let manifest = Manifest {
        format: FORMAT.to_string(),
        stats_version: STATS_VERSION,
        producer: format!("tokenaudit {}", env!("CARGO_PKG_VERSION")),
        parameters,
        tables,
        checksums,
        sql_sha256: None,
        ingest: accounting.ingest,
        inputs: accounting.inputs,
        rows_outside_window: accounting.rows_outside_window,
    };
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
    crate::report::write_atomically(&path, |out| {
        std::io::Write::write_all(out, format!("{text}\n").as_bytes())
    })
    .map_err(io(&path))
}

/// Reads one stats folder, checking its manifest against the run's `parameters`.
pub fn read(dir: &Path, parameters: &Parameters) -> Result<(Stats, Accounting), ContractError> {
    let manifest = manifest(dir)?;
    check(dir, &manifest.parameters, parameters)?;
    let mut frames = Vec::with_capacity(parts::PARTS.len());
    for name in parts::PARTS {
        let Some(table) = manifest.tables.get(name) else {
            return Err(ContractError::NotStats {
                path: dir.to_path_buf(),
                message: format!("{MANIFEST} names no `{name}` table"),
            });
        };
        frames.push(read_table(dir, table, &manifest.checksums)?);
    }
    // An empty table may come without its columns (an engine's empty result, a folder of no
    // part files): it reads as the part's empty frame.
    let empty = parts::frames(&Stats::default()).map_err(|source| ContractError::Parquet {
        path: dir.to_path_buf(),
        source,
    })?;
    for (frame, empty) in frames.iter_mut().zip(empty) {
        if frame.height() == 0 {
            *frame = empty;
        }
    }
    let frames: [DataFrame; 5] = frames.try_into().expect("one frame a part");
    let stats = parts::stats(&frames).map_err(|source| ContractError::Parquet {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut accounting = Accounting {
        ingest: manifest.ingest,
        inputs: manifest.inputs,
        rows_outside_window: manifest.rows_outside_window,
    };
    // An engine counts the rows in a table of its own.
    if let Some(table) = manifest.tables.get(ACCOUNTING) {
        let frame = read_table(dir, table, &manifest.checksums)?;
        let count = |name: &str| -> Result<u64, ContractError> {
            frame
                .column(name)
                .and_then(|c| c.cast(&DataType::UInt64))
                .and_then(|c| c.u64().map(|c| c.get(0).unwrap_or(0)))
                .map_err(|source| ContractError::Parquet {
                    path: dir.join(table),
                    source,
                })
        };
        let (read, valid) = (count("rows_read")?, count("rows_valid")?);
        accounting.ingest = Some(IngestSummary {
            rows_read: read,
            rows_valid: valid,
            rows_quarantined: read.saturating_sub(valid),
            duplicates_removed: count("duplicates_removed")?,
            records_skipped: BTreeMap::new(),
        });
        accounting.rows_outside_window = count("rows_outside_window")?;
        for input in &mut accounting.inputs {
            input.rows = read;
        }
    }
    Ok((stats, accounting))
}

/// Reads and merges several stats folders (shards): their stats must cover disjoint
/// agent-weeks; their accounting adds up.
pub fn read_all(
    dirs: &[PathBuf],
    parameters: &Parameters,
) -> Result<(Stats, Accounting), ContractError> {
    let mut merged = Stats::default();
    let mut accounting = Accounting::default();
    for (i, dir) in dirs.iter().enumerate() {
        let (stats, shard) = read(dir, parameters)?;
        merged = if i == 0 {
            stats
        } else {
            merged.merge(stats).map_err(|overlap| {
                ContractError::Overlap(format!(
                    "`{}` and an earlier stats folder both hold the week of day {} of {}",
                    dir.display(),
                    crate::normalize::calendar::from_day_number(overlap.week),
                    overlap.agent
                ))
            })?
        };
        accounting.ingest = match (accounting.ingest.take(), shard.ingest) {
            (None, other) if i == 0 => other,
            (Some(mut sum), Some(other)) => {
                sum.add(other);
                Some(sum)
            }
            // One shard without accounting: the total is unknown.
            _ => None,
        };
        accounting.inputs.extend(shard.inputs);
        accounting.rows_outside_window += shard.rows_outside_window;
    }
    Ok((merged, accounting))
}

/// The table an engine writes its accounting of rows to (rows read, valid, duplicates removed,
/// outside the period).
pub const ACCOUNTING: &str = "accounting";
/// The SQL `tokenaudit sql` writes beside its manifest.
pub const SQL_FILE: &str = "stats.sql";

fn manifest(dir: &Path) -> Result<Manifest, ContractError> {
    let path = dir.join(MANIFEST);
    if !dir.is_dir() {
        return Err(ContractError::NotStats {
            path: dir.to_path_buf(),
            message: "it is not a folder".to_string(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|_| ContractError::NotStats {
        path: dir.to_path_buf(),
        message: format!("it has no {MANIFEST}"),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ContractError::NotStats {
            path: dir.to_path_buf(),
            message: format!("{MANIFEST} is not JSON ({e})"),
        })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(ContractError::NotStats {
            path: dir.to_path_buf(),
            message: format!("{MANIFEST} does not say \"format\": \"{FORMAT}\""),
        });
    }
    let found = value
        .get("stats_version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as u32;
    if !crate::features::reads_stats_version(found) {
        return Err(ContractError::Version {
            path: dir.to_path_buf(),
            found,
        });
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| ContractError::NotStats {
            path: dir.to_path_buf(),
            message: format!("{MANIFEST} is damaged ({e})"),
        })?;
    // The SQL that computed an engine's tables is the one the manifest names.
    if let Some(expected) = &manifest.sql_sha256 {
        let path = dir.join(SQL_FILE);
        if let Ok(bytes) = std::fs::read(&path) {
            if sha256(&bytes) != *expected {
                return Err(ContractError::Checksum { path });
            }
        }
    }
    Ok(manifest)
}

fn check(dir: &Path, stored: &Parameters, run: &Parameters) -> Result<(), ContractError> {
    let show = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_string());
    let pairs = [
        ("--tz", Some(stored.tz.clone()), Some(run.tz.clone()), ""),
        (
            "--week-start",
            Some(stored.week_start.clone()),
            Some(run.week_start.clone()),
            "",
        ),
    ];
    for (what, stored, run, none) in pairs {
        if stored != run {
            return Err(ContractError::Parameters {
                path: dir.to_path_buf(),
                what,
                stored: show(&stored, none),
                run: show(&run, none),
            });
        }
    }
    // A run without the behaviour lens reads stats with or without its fingerprints.
    if run.snapshot.is_some() && stored.snapshot != run.snapshot {
        return Err(ContractError::Parameters {
            path: dir.to_path_buf(),
            what: "the behaviour snapshot",
            stored: show(&stored.snapshot, "the behaviour lens off"),
            run: show(&run.snapshot, "the behaviour lens off"),
        });
    }
    // A run that declares a period audits stats of that period only.
    for (what, stored, run) in [
        ("--since", &stored.since, &run.since),
        ("--until", &stored.until, &run.until),
    ] {
        if run.is_some() && stored != run {
            return Err(ContractError::Parameters {
                path: dir.to_path_buf(),
                what,
                stored: show(stored, "no period"),
                run: show(run, "no period"),
            });
        }
    }
    Ok(())
}

/// One table: a Parquet file, or a folder of Parquet part files (read in name order).
fn read_table(
    dir: &Path,
    table: &str,
    checksums: &BTreeMap<String, String>,
) -> Result<DataFrame, ContractError> {
    let path = dir.join(table);
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(io(&path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.clone()]
    };
    let mut frame: Option<DataFrame> = None;
    for file in files {
        let bytes = std::fs::read(&file).map_err(io(&file))?;
        let name = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        if let Some(expected) = checksums.get(&name) {
            if *expected != sha256(&bytes) {
                return Err(ContractError::Checksum { path: file });
            }
        }
        let part = parts::decode(&bytes).map_err(|source| ContractError::Parquet {
            path: file.clone(),
            source,
        })?;
        frame = Some(match frame {
            None => part,
            Some(mut all) => {
                all.vstack_mut(&part)
                    .map_err(|source| ContractError::Parquet { path: file, source })?;
                all
            }
        });
    }
    frame.ok_or_else(|| ContractError::NotStats {
        path: path.clone(),
        message: "the table's folder holds no Parquet file".to_string(),
    })
}
