//! Invariants over many inputs: row order and file layout change no byte of the report, and no
//! row is ever lost.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use polars::prelude::*;
use proptest::prelude::*;
use tokenaudit::audit::{build_report, AuditSettings, InputSettings, Verbosity};
use tokenaudit::generate::{self, GenerateSettings};

/// A small request-level company (with duplicated requests), generated once per test run.
fn company() -> &'static (tempfile::TempDir, DataFrame) {
    static COMPANY: OnceLock<(tempfile::TempDir, DataFrame)> = OnceLock::new();
    COMPANY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        generate::write(&GenerateSettings {
            agents: 24,
            weeks: 3,
            seed: 11,
            requests_per_week: 60.0,
            out: dir.path().to_path_buf(),
            verbosity: Verbosity::Quiet,
            ..GenerateSettings::default()
        })
        .unwrap();
        let usage = LazyFrame::scan_parquet(
            PlRefPath::try_from_path(&dir.path().join("usage.parquet")).unwrap(),
            Default::default(),
        )
        .unwrap()
        .collect()
        .unwrap();
        (dir, usage)
    })
}

fn report_json(usage: Vec<PathBuf>) -> String {
    let dir = company().0.path();
    let settings = AuditSettings {
        input: InputSettings {
            usage: usage.iter().map(|p| p.display().to_string()).collect(),
            outputs: vec![dir.join("outputs.csv").display().to_string()],
            identities: Some(dir.join("identities.csv")),
            ..InputSettings::default()
        },
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    };
    let report = build_report(&settings).unwrap();
    let mut value = serde_json::to_value(&report).unwrap();
    value.as_object_mut().unwrap().remove("inputs");
    serde_json::to_string_pretty(&value).unwrap()
}

fn expected() -> &'static String {
    static EXPECTED: OnceLock<String> = OnceLock::new();
    EXPECTED.get_or_init(|| report_json(vec![company().0.path().join("usage.parquet")]))
}

fn shuffled(frame: &DataFrame, seed: u64) -> DataFrame {
    frame
        .sample_n_literal(frame.height(), false, Some(true), Some(seed))
        .unwrap()
}

fn write_parquet(frame: &mut DataFrame, path: &Path) {
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(frame)
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn shuffling_rows_changes_no_byte(seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.parquet");
        write_parquet(&mut shuffled(&company().1, seed), &path);
        prop_assert_eq!(&report_json(vec![path]), expected());
    }

    #[test]
    fn splitting_one_file_into_two_changes_no_byte(seed in any::<u64>(), cut in 0.0f64..1.0) {
        let dir = tempfile::tempdir().unwrap();
        let frame = shuffled(&company().1, seed);
        let at = (frame.height() as f64 * cut) as usize;
        let (mut head, mut tail) = (frame.slice(0, at), frame.slice(at as i64, frame.height() - at));
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_parquet(&mut head, &a);
        write_parquet(&mut tail, &b);
        prop_assert_eq!(&report_json(vec![a, b]), expected());
    }

    #[test]
    fn every_row_read_is_valid_or_quarantined(corrupt in proptest::collection::vec((0usize..2_000, 0usize..4), 1..20)) {
        let dir = tempfile::tempdir().unwrap();
        let mut frame = company().1.clone().lazy().with_columns([
            col("ts").dt().to_string("%Y-%m-%dT%H:%M:%SZ"),
            col("input_tokens").cast(DataType::String),
            col("output_tokens").cast(DataType::String),
        ]).collect().unwrap();
        let rows = frame.height();
        // Break cells: an unparseable time, a negative count, a word, an empty agent.
        let mut broken = std::collections::BTreeSet::new();
        for (row, kind) in &corrupt {
            let row = row % rows;
            broken.insert(row);
            let (column, value) = match kind {
                0 => ("ts", "soon"),
                1 => ("input_tokens", "-1"),
                2 => ("output_tokens", "many"),
                _ => ("agent", ""),
            };
            let mut values: Vec<Option<String>> = frame.column(column).unwrap().str().unwrap().iter().map(|v| v.map(String::from)).collect();
            values[row] = Some(value.to_string());
            frame.with_column(Column::new(column.into(), values)).unwrap();
        }
        let path = dir.path().join("usage.csv");
        CsvWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut frame).unwrap();
        let settings = AuditSettings {
            input: InputSettings { usage: vec![path.display().to_string()], ..InputSettings::default() },
            verbosity: Verbosity::Quiet,
            ..AuditSettings::default()
        };
        let report = build_report(&settings).unwrap();
        prop_assert_eq!(report.ingest.rows_read, rows as u64);
        prop_assert_eq!(report.ingest.rows_read, report.ingest.rows_valid + report.ingest.rows_quarantined);
        prop_assert_eq!(report.ingest.rows_quarantined, broken.len() as u64);
    }
}
