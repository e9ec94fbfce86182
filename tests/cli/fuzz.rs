//! Robust to any bytes: every adapter's fixture, mutated the ways real files go wrong (byte
//! flips, truncation at any point and at every line, fields of the wrong type, huge, negative
//! and non-finite numbers, deep nesting, invalid UTF-8, a BOM, CRLF, an empty file, duplicated
//! and dropped lines, a Parquet file with a corrupt page), then audited. The contract, for every
//! mutant: no panic, no hang, no silent loss (`rows_read = rows_valid + rows_quarantined`, and
//! the quarantine file holds every quarantined row), and an error, when the run stops, that
//! names the file.
//!
//! Each fixture gets `TOKENAUDIT_FUZZ_CASES` mutants (24 by default), drawn from a seed
//! (`TOKENAUDIT_FUZZ_SEED`, default 1) so that any failure replays. The long campaign of README
//! "Reliability" is this test with more cases and other seeds.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenaudit::audit::{build_report, AuditSettings, InputSettings, Verbosity};
use tokenaudit::ingest::Format;
use tokenaudit::schema::Table;

use crate::adapters::FixtureFile;

/// A run that takes longer than this on a fixture of a few kilobytes has hung.
const HANG: Duration = Duration::from_secs(120);

/// The fixtures to mutate: every vendor adapter's, and the canonical formats' written by
/// [`canonical_seeds`] into `canonical`.
fn seeds(canonical: &Path) -> Vec<FixtureFile> {
    let mut seeds = crate::adapters::vendor_fixtures();
    for (name, table, format) in [
        ("usage.ndjson", Table::Usage, "ndjson"),
        ("usage.parquet", Table::Usage, "parquet"),
        ("usage.arrow", Table::Usage, "ipc"),
        ("outputs.csv", Table::Outputs, "csv"),
    ] {
        seeds.push(FixtureFile {
            path: canonical.join(name),
            table,
            format: Format::parse(format).unwrap(),
        });
    }
    seeds
}

/// The canonical formats' seeds: the first 40 rows of the demo's usage as NDJSON, Parquet and
/// Arrow IPC, and of its outputs as CSV.
fn canonical_seeds(dir: &Path) {
    let head = |name: &str| {
        let text = std::fs::read_to_string(crate::fixtures().join("demo").join(name)).unwrap();
        text.lines().take(41).collect::<Vec<_>>().join("\n") + "\n"
    };
    std::fs::write(dir.join("outputs.csv"), head("outputs.csv")).unwrap();
    let csv = dir.join("usage.csv");
    std::fs::write(&csv, head("usage.csv")).unwrap();
    let mut frame = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(csv.clone()))
        .unwrap()
        .finish()
        .unwrap()
        .lazy()
        .with_column(
            col("ts")
                .str()
                .to_datetime(
                    Some(TimeUnit::Microseconds),
                    Some(TimeZone::UTC),
                    StrptimeOptions::default(),
                    lit("raise"),
                )
                .alias("ts"),
        )
        .collect()
        .unwrap();
    std::fs::remove_file(&csv).unwrap();
    JsonWriter::new(std::fs::File::create(dir.join("usage.ndjson")).unwrap())
        .with_json_format(JsonFormat::JsonLines)
        .finish(&mut frame)
        .unwrap();
    // Small row groups, so that a corrupt page leaves others to read.
    ParquetWriter::new(std::fs::File::create(dir.join("usage.parquet")).unwrap())
        .with_row_group_size(Some(10))
        .finish(&mut frame)
        .unwrap();
    IpcWriter::new(std::fs::File::create(dir.join("usage.arrow")).unwrap())
        .finish(&mut frame)
        .unwrap();
}

/// A value that breaks a field: of the wrong type, out of range, not finite, deeply nested.
const HOSTILE_VALUES: [&str; 14] = [
    "99999999999999999999999999",
    "-5",
    "-9223372036854775809",
    "1e308",
    "\"NaN\"",
    "\"Infinity\"",
    "\"-inf\"",
    "null",
    "\"\"",
    "\"12k\"",
    "true",
    "{}",
    "[]",
    "1.5",
];

fn mutate(bytes: &[u8], rng: &mut ChaCha8Rng) -> (String, Vec<u8>) {
    let mut out = bytes.to_vec();
    let at = |rng: &mut ChaCha8Rng, len: usize| rng.gen_range(0..len.max(1));
    let operator = rng.gen_range(0..12);
    let what = match operator {
        0 => {
            for _ in 0..rng.gen_range(1..=8) {
                let i = at(rng, out.len());
                if let Some(b) = out.get_mut(i) {
                    *b ^= 1 << rng.gen_range(0..8);
                }
            }
            "byte flips"
        }
        1 => {
            out.truncate(at(rng, bytes.len()));
            "truncated anywhere"
        }
        2 => {
            // At a line boundary, with or without its newline.
            let ends: Vec<usize> = bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i)
                .collect();
            if let Some(&end) = ends.get(at(rng, ends.len())) {
                out.truncate(end + usize::from(rng.gen_bool(0.5)));
            }
            "truncated at a line"
        }
        3 => {
            let i = at(rng, out.len());
            out.splice(i..i, [0xff, 0xfe, 0xc3, 0x28]);
            "invalid UTF-8"
        }
        4 => {
            out.splice(0..0, [0xef, 0xbb, 0xbf]);
            "a byte-order mark"
        }
        5 => {
            out = String::from_utf8_lossy(bytes)
                .replace('\n', "\r\n")
                .into_bytes();
            "CRLF line ends"
        }
        6 => {
            out.clear();
            "empty"
        }
        7 | 8 => {
            // A number or a quoted value replaced by a hostile one.
            let text = String::from_utf8_lossy(bytes).into_owned();
            let starts: Vec<usize> = text
                .char_indices()
                .filter(|(i, c)| {
                    (c.is_ascii_digit() || *c == '"')
                        && !text[..*i].ends_with(|p: char| p.is_ascii_alphanumeric())
                })
                .map(|(i, _)| i)
                .collect();
            if let Some(&start) = starts.get(at(rng, starts.len())) {
                let rest = &text[start..];
                let len = if let Some(quoted) = rest.strip_prefix('"') {
                    quoted.find('"').map_or(rest.len(), |e| e + 2)
                } else {
                    rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .unwrap_or(rest.len())
                };
                let value = HOSTILE_VALUES[at(rng, HOSTILE_VALUES.len())];
                out = format!("{}{value}{}", &text[..start], &text[start + len..]).into_bytes();
            }
            "a field of the wrong type or range"
        }
        9 => {
            let i = at(rng, out.len());
            let depth = rng.gen_range(100..5_000);
            let nested = "[".repeat(depth) + &"]".repeat(depth);
            out.splice(i..i, nested.bytes());
            "deep nesting"
        }
        10 => {
            let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            let i = at(rng, lines.len());
            if rng.gen_bool(0.5) {
                lines.insert(i, lines[i]);
            } else if lines.len() > 1 {
                lines.remove(i);
            }
            out = lines.join(&b'\n');
            "a line duplicated or dropped"
        }
        _ => {
            // Bytes from the middle overwritten: a corrupt page or row group.
            if out.len() > 16 {
                let start = rng.gen_range(4..out.len() - 8);
                let end = (start + rng.gen_range(1..64)).min(out.len() - 4);
                for b in &mut out[start..end] {
                    *b = rng.gen();
                }
            }
            "a corrupt stretch"
        }
    };
    (what.to_string(), out)
}

/// What a run of one mutant did, or how it broke the contract.
fn run_case(seed: &FixtureFile, dir: &Path, mutant: &Path, forced: bool) -> Result<(), String> {
    let quarantine = dir.join("quarantine.csv");
    let _ = std::fs::remove_file(&quarantine);
    let given = mutant.display().to_string();
    let (usage, outputs) = match seed.table {
        Table::Usage => (vec![given], Vec::new()),
        Table::Outputs => (vec![crate::fixture("quarantine/usage.csv")], vec![given]),
    };
    let format = forced.then_some(seed.format);
    let settings = AuditSettings {
        input: InputSettings {
            usage,
            outputs,
            usage_format: format.filter(|_| seed.table == Table::Usage),
            outputs_format: format.filter(|_| seed.table == Table::Outputs),
            quarantine: Some(quarantine.clone()),
            ..InputSettings::default()
        },
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    };
    let (send, receive) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = send.send(build_report(&settings));
    });
    let outcome = match receive.recv_timeout(HANG) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => return Err(format!("no answer in {HANG:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let panic = worker
                .join()
                .expect_err("the worker ended without an answer");
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(format!("panicked: {message}"));
        }
    };
    worker.join().unwrap();
    match outcome {
        Ok(report) => {
            let ingest = &report.ingest;
            if ingest.rows_read != ingest.rows_valid + ingest.rows_quarantined {
                return Err(format!(
                    "rows lost: {} read, {} valid, {} quarantined",
                    ingest.rows_read, ingest.rows_valid, ingest.rows_quarantined
                ));
            }
            let listed = if quarantine.exists() {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .with_infer_schema_length(Some(0))
                    .try_into_reader_with_file_path(Some(quarantine.clone()))
                    .and_then(|reader| reader.finish())
                    .map_err(|err| format!("the quarantine file does not read back: {err}"))?
                    .height() as u64
            } else {
                0
            };
            if listed != ingest.rows_quarantined {
                return Err(format!(
                    "{} rows quarantined but {listed} in the quarantine file",
                    ingest.rows_quarantined
                ));
            }
            Ok(())
        }
        Err(error) => {
            let message = error.to_string();
            let name = mutant.file_name().unwrap().to_string_lossy();
            if message.contains(name.as_ref()) {
                Ok(())
            } else {
                Err(format!("an error that names no file: {message}"))
            }
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn no_mutant_of_any_fixture_panics_hangs_loses_rows_or_errs_without_a_file() {
    let cases = env_number("TOKENAUDIT_FUZZ_CASES", 24);
    let campaign = env_number("TOKENAUDIT_FUZZ_SEED", 1);
    let canonical = tempfile::tempdir().unwrap();
    canonical_seeds(canonical.path());
    let mut failures = Vec::new();
    let mut run = 0u64;
    for (index, seed) in seeds(canonical.path()).iter().enumerate() {
        let bytes = std::fs::read(&seed.path).unwrap();
        let name = seed.path.file_name().unwrap();
        for case in 0..cases {
            let mut rng = ChaCha8Rng::seed_from_u64(campaign << 32 | (index as u64) << 20 | case);
            let (what, mutant) = mutate(&bytes, &mut rng);
            let dir = tempfile::tempdir().unwrap();
            // Claude Code logs are found by their folder shape; the others by name and content.
            let path = if seed.format.source_name() == "claude-code" {
                let folder = dir.path().join("p/.claude/projects/-home-p-src");
                std::fs::create_dir_all(&folder).unwrap();
                folder.join(name)
            } else {
                dir.path().join(name)
            };
            std::fs::write(&path, &mutant).unwrap();
            let forced = rng.gen_bool(0.5);
            run += 1;
            if let Err(broken) = run_case(seed, dir.path(), &path, forced) {
                // Keep the mutant for replay.
                let kept = std::env::temp_dir().join(format!(
                    "tokenaudit-fuzz-{campaign}-{index}-{case}-{}",
                    name.to_string_lossy()
                ));
                std::fs::write(&kept, &mutant).unwrap();
                failures.push(format!(
                    "{} case {case} ({what}, format {}): {broken}; mutant kept as {}",
                    seed.path.display(),
                    if forced { "given" } else { "detected" },
                    kept.display()
                ));
            }
        }
    }
    eprintln!("fuzz: {run} mutants, {} broke the contract", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
