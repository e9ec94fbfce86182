//! Wiring of the heavy stage: the input patterns resolved and every file checked into
//! [`features::Sources`], then [`features::compute`] run over them and its accounting turned
//! into the report's input and ingest summaries.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use polars::prelude::PolarsResult;

use super::settings::InputSettings;
use super::AuditError;
use crate::features::{self, Snapshot, Stats};
use crate::ingest::canonical;
use crate::ingest::quarantine::QuarantinedRow;
use crate::ingest::{self};
use crate::normalize::calendar;
use crate::normalize::identities::IdentityMap;
use crate::report::{IngestSummary, InputSummary};
use crate::schema::Table;

pub use features::Sources;

/// How many files an adapter reads at once at most: the records of one batch are held twice
/// (as parsed, and as columns) while it is read, so batches bound that.
const FILES_TOGETHER: usize = 1_024;

/// Resolves the input patterns, checks every file's columns and builds the lazy sources.
pub fn sources(input: &InputSettings) -> Result<Sources, AuditError> {
    crate::scratch::usable().map_err(|failed| AuditError::Scratch(failed.to_string()))?;
    let mut files = ingest::resolve_inputs(&input.usage, Table::Usage, input.usage_format)?;
    files.extend(ingest::resolve_inputs(
        &input.outputs,
        Table::Outputs,
        input.outputs_format,
    )?);
    // A file given for both tables, or a vendor file holding both, is read once per table.
    let first: Vec<bool> = {
        let mut seen = std::collections::HashSet::new();
        files
            .iter()
            .map(|f| seen.insert((f.path.as_path(), f.table)))
            .collect()
    };
    let mut first = first.into_iter();
    files.retain(|_| first.next().unwrap_or(true));
    for file in &mut files {
        if let Some((_, name)) = input.display_names.iter().find(|(p, _)| p == &file.path) {
            file.named = Some(name.clone());
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
    // One entry per run of files read together, far fewer than the files: not sized by them.
    let mut checked = Vec::new();
    let mut skipped: BTreeMap<String, u64> = Default::default();
    let mut hashes = Vec::new();
    let mut held = ingest::held::Held::new(input.limits.bytes_in_memory);
    // What a scan reports besides its rows: records skipped on purpose, files already hashed.
    let mut note_scan = |format: ingest::Format, scan: &mut ingest::Scan| {
        for (reason, count) in &scan.skipped {
            *skipped.entry(format!("{format}: {reason}")).or_default() += count;
        }
        hashes.append(&mut scan.hashes);
    };
    let mut index = 0;
    while index < files.len() {
        // Consecutive files of one format and table go to the adapter together when it reads
        // many at once (a folder of session logs), else one at a time.
        let first = &files[index];
        let run = files[index..]
            .iter()
            .take(FILES_TOGETHER)
            .take_while(|f| f.format == first.format && f.table == first.table)
            .count();
        let together: Vec<(u32, &ingest::InputFile)> = (index..index + run)
            .map(|i| (i as u32, &files[i]))
            .collect();
        let many = if run > 1 {
            ingest::scan_together(&together, !input.skip_hashes)
        } else {
            None
        };
        let (mut scan, read) = match many {
            Some(scan) => (scan?, run),
            None => (ingest::scan(first, window)?, 1),
        };
        note_scan(first.format, &mut scan);
        let run_key = (first.format, first.table);
        for ready in held.keep(index as u32, run_key, scan.frame, scan.held_bytes)? {
            let file = &files[ready.at as usize];
            checked.push(canonical::check(file, ready.at, ready.frame)?);
        }
        index += read;
    }
    if let Some(ready) = held.close()? {
        let file = &files[ready.at as usize];
        checked.push(canonical::check(file, ready.at, ready.frame)?);
    }
    if input.stats.is_empty() && !files.iter().any(|f| f.table == Table::Usage) {
        return Err(AuditError::NoUsage);
    }
    Ok(Sources {
        files,
        checked,
        hashes,
        identities,
        skipped,
        held,
    })
}

/// The stats and the accounting of every row.
pub struct Collected {
    pub stats: Stats,
    pub quarantined: Vec<QuarantinedRow>,
    pub inputs: Vec<InputSummary>,
    pub ingest: IngestSummary,
    /// Valid usage rows outside `--since/--until`.
    pub rows_outside_window: u64,
}

/// Runs the heavy stage over `sources` and accounts for every row read.
pub fn collect(
    sources: &Sources,
    calendar_settings: &calendar::Calendar,
    snapshot: Option<Snapshot>,
    limits: features::Limits,
) -> Result<Collected, AuditError> {
    if sources.files.is_empty() {
        // Usage given as stats, no outputs: nothing to read.
        return Ok(Collected {
            stats: Stats::default(),
            quarantined: Vec::new(),
            inputs: Vec::new(),
            ingest: IngestSummary::default(),
            rows_outside_window: 0,
        });
    }
    let computed = over_files(sources, || {
        features::compute(sources, calendar_settings, snapshot, limits)
    })?;
    let mut bad_per_file: BTreeMap<u32, u64> = BTreeMap::new();
    for (file, _) in &computed.quarantined {
        *bad_per_file.entry(*file).or_default() += 1;
    }
    let (mut usage_valid, mut outputs_valid, mut rows_quarantined) = (0, 0, 0);
    let mut inputs = Vec::with_capacity(sources.files.len());
    for (index, file) in sources.files.iter().enumerate() {
        let index = index as u32;
        let rows = computed.rows_per_file.get(&index).copied().unwrap_or(0);
        let bad = bad_per_file.get(&index).copied().unwrap_or(0);
        match file.table {
            Table::Usage => usage_valid += rows - bad,
            Table::Outputs => outputs_valid += rows - bad,
        }
        rows_quarantined += bad;
        inputs.push(InputSummary {
            path: file.display(),
            format: file.format.source_name().to_string(),
            rows,
            sha256: String::new(),
        });
    }
    let rows_valid = usage_valid + outputs_valid;
    Ok(Collected {
        stats: computed.stats,
        quarantined: computed
            .quarantined
            .into_iter()
            .map(|(_, row)| row)
            .collect(),
        inputs,
        ingest: IngestSummary {
            rows_read: rows_valid + rows_quarantined,
            rows_valid,
            rows_quarantined,
            duplicates_removed: usage_valid.saturating_sub(computed.usage_deduplicated)
                + outputs_valid.saturating_sub(computed.outputs_deduplicated),
            records_skipped: sources.skipped.clone(),
        },
        rows_outside_window: computed.rows_outside_window,
    })
}

/// Runs `work`, a plan over every file of `sources`. The plan reads them all at once, so the
/// engine's error (or a reader's panic on a corrupt file) names none: then each file is read
/// alone, and the first that cannot be read is the error, named.
pub fn over_files<T>(
    sources: &Sources,
    work: impl FnOnce() -> PolarsResult<T>,
) -> Result<T, AuditError> {
    let failed = match std::panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(done)) => return Ok(done),
        // Not an input's fault: no input is read again to find one.
        Ok(Err(err)) => match crate::scratch::write_failure(&err) {
            Some(failed) => return Err(AuditError::Scratch(failed.to_string())),
            None => err.to_string(),
        },
        Err(panic) => format!("it panicked: {}", ingest::panic_text(panic.as_ref())),
    };
    Err(unreadable(sources).unwrap_or(AuditError::Engine(failed)))
}

/// The first file that cannot be read on its own, as the error that names it.
fn unreadable(sources: &Sources) -> Option<AuditError> {
    sources.checked.iter().find_map(|checked| {
        let source = ingest::read_guarded(|| checked.read_through()).err()?;
        let file = &sources.files[checked.file_index() as usize];
        Some(AuditError::Ingest(ingest::IngestError::Scan {
            path: file.path.clone(),
            format: file.format,
            source: source.into(),
        }))
    })
}

/// Adds the stats folders `dirs` (the usage side, computed elsewhere) to what was read from
/// files: their stats, their accounting and their inputs before the files'.
pub fn add_stats(
    collected: &mut Collected,
    dirs: &[std::path::PathBuf],
    calendar_settings: &calendar::Calendar,
    snapshot: Option<Snapshot>,
) -> Result<(), AuditError> {
    let parameters = crate::contract::Parameters::of(calendar_settings, snapshot);
    let (mut stats, accounting) = crate::contract::read_all(dirs, &parameters)?;
    if snapshot.is_none() {
        stats.behavior.clear();
    }
    if !stats.outputs.is_empty() && !collected.stats.outputs.is_empty() {
        let with_outputs = dirs.first().cloned().unwrap_or_default();
        return Err(AuditError::OutputsTwice(with_outputs));
    }
    stats.append(std::mem::take(&mut collected.stats));
    stats.sort();
    collected.stats = stats;
    let files = std::mem::take(&mut collected.inputs);
    collected.inputs = accounting.inputs;
    collected.inputs.extend(files);
    if let Some(theirs) = accounting.ingest {
        collected.ingest.add(theirs);
    }
    collected.rows_outside_window += accounting.rows_outside_window;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed write to a temporary folder (a full disk) is said as such at once: no input is
    /// read again to find one that cannot be read. Here the input is gone, which a read would
    /// report instead; any other engine error still looks for it.
    #[test]
    fn a_failed_temporary_write_is_reported_without_reading_the_inputs_again() {
        let dir = tempfile::tempdir().unwrap();
        let usage = dir.path().join("usage.csv");
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/usage.csv");
        std::fs::copy(fixture, &usage).unwrap();
        let input = InputSettings {
            usage: vec![usage.display().to_string()],
            ..InputSettings::default()
        };
        let sources = sources(&input).unwrap();
        std::fs::remove_file(&usage).unwrap();
        let scratch = dir.path().join("scratch");
        let full = || std::io::Error::other("No space left on device");
        let err = over_files(&sources, || -> PolarsResult<()> {
            Err(crate::scratch::failed_in(&scratch)(full()).into())
        })
        .unwrap_err();
        assert!(matches!(err, AuditError::Scratch(_)), "{err}");
        assert!(
            err.to_string().contains(&*scratch.to_string_lossy()),
            "{err}"
        );
        let err = over_files(&sources, || -> PolarsResult<()> {
            Err(polars::error::PolarsError::ComputeError("failed".into()))
        })
        .unwrap_err();
        assert!(matches!(err, AuditError::Ingest(_)), "{err}");
    }

    /// The fold reads only its columns and leaves out the rows the checks rejected by row
    /// number: it must see exactly the valid rows, no more.
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
            features::Limits::default(),
        )
        .unwrap();
        let ingest = &collected.ingest;
        assert!(ingest.rows_quarantined > 0, "{ingest:?}");
        let behavior = &collected.stats.behavior;
        let seen: u64 = behavior.iter().map(|w| w.requests()).sum();
        assert_eq!(seen, ingest.rows_valid);
        let bins: u64 = behavior.iter().map(|w| w.bin_requests).sum();
        assert_eq!(bins, ingest.rows_valid);
    }
}
