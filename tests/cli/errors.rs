//! Runs that cannot complete exit 2 and say what is wrong, where, and what to do.

use crate::{tokenaudit, transcript};

/// `audit --format json` of one usage file, its rejected rows written to `quarantine`.
fn audit_quarantining(
    usage: &std::path::Path,
    quarantine: &std::path::Path,
) -> std::process::Output {
    tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .arg(usage)
        .arg("--quarantine")
        .arg(quarantine)
        .output()
        .unwrap()
}

#[test]
fn a_missing_required_column_names_the_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.csv");
    std::fs::write(
        &path,
        "ts,agent,input_tokens,output_tokens\n2026-09-07T09:00:00Z,dana,1,2\n",
    )
    .unwrap();
    let output = tokenaudit()
        .args(["audit", "--usage"])
        .arg(&path)
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, Some(dir.path())));
}

#[test]
fn a_missing_file_is_exit_2() {
    let output = tokenaudit()
        .args(["audit", "--usage", "no/such/usage.parquet"])
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn a_glob_that_matches_nothing_is_exit_2() {
    let output = tokenaudit()
        .args(["audit", "--usage", "demo/*.parquet"])
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn bad_arguments_are_exit_2() {
    for args in [
        vec!["audit", "--usage", "demo/usage.csv", "--format", "xml"],
        vec![
            "audit",
            "--usage",
            "demo/usage.csv",
            "--fail-on",
            "critical",
        ],
        vec!["audit", "--usage", "demo/usage.csv", "--tz", "Mars/Olympus"],
        vec![
            "audit",
            "--usage",
            "demo/usage.csv",
            "--since",
            "last monday",
        ],
        vec!["audit", "--usage", "demo/usage.csv", "--out", "report.json"],
        vec![
            "audit",
            "--usage",
            "demo/usage.csv",
            "--usage-format",
            "xlsx",
        ],
        vec!["audit"],
        vec!["no-such-command"],
    ] {
        let output = tokenaudit().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?} printed no error");
    }
}

#[test]
fn bad_argument_messages() {
    let output = tokenaudit()
        .args(["audit", "--usage", "demo/usage.csv", "--tz", "Mars/Olympus"])
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn an_alias_mapped_to_two_agents_is_exit_2_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identities.csv");
    std::fs::write(
        &path,
        "alias,agent,team\njd,jane,payments\njohn,john,web\nJD,john,web\n",
    )
    .unwrap();
    let output = tokenaudit()
        .args(["audit", "--usage", "demo/usage.csv", "--identities"])
        .arg(&path)
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, Some(dir.path())));
}

#[test]
fn an_invalid_config_file_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenaudit.toml");
    std::fs::write(&path, "[detect]\nfdr = 0.1\n").unwrap();
    let output = tokenaudit()
        .args(["audit", "--usage", "demo/usage.csv", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("fdr"));
}

#[test]
fn a_bad_price_file_names_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.csv");
    std::fs::write(
        &path,
        "model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok\nin-house,2026-01-01,1,free,0,1\n",
    )
    .unwrap();
    let output = tokenaudit()
        .args(["audit", "--usage", "demo/usage.csv", "--pricing"])
        .arg(&path)
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, Some(dir.path())));
}

#[test]
fn incompatible_generate_worlds_are_exit_2_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenaudit()
        .args(["generate", "--hourly", "--world", "all", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, Some(dir.path())));
}

#[test]
fn a_csv_record_with_more_fields_than_the_header_is_quarantined_and_the_rest_read() {
    // A comma in a value that is not quoted: that record alone goes to quarantine, named by
    // its row; the run reads every other row, as for any bad record.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("usage.csv");
    let mut text = String::from("ts,agent,model,input_tokens,output_tokens\n");
    for _ in 0..3_000 {
        text += "2026-09-07T09:00:00Z,dana,claude-sonnet-4-5,1,2\n";
    }
    text += "2026-09-07T09:01:00Z,dana,claude, sonnet,1,2\n";
    text += "2026-09-07T09:02:00Z,dana,claude-sonnet-4-5,1,2\n";
    std::fs::write(&path, text).unwrap();
    let quarantine = tmp.path().join("q.csv");
    let output = audit_quarantining(&path, &quarantine);
    let report = crate::json(&output);
    assert_eq!(report["ingest"]["rows_read"], 3_002);
    assert_eq!(report["ingest"]["rows_valid"], 3_001);
    assert_eq!(report["ingest"]["rows_quarantined"], 1);
    let rows = std::fs::read_to_string(&quarantine).unwrap();
    let row = rows.lines().nth(1).unwrap();
    assert!(row.contains(",3001,"), "{rows}");
    assert!(row.contains("more fields than the header's 5"), "{rows}");
    assert!(row.contains("claude, sonnet"), "{rows}");
    // --strict stops on it, naming the file.
    let strict = tokenaudit()
        .args(["audit", "-q", "--strict", "--usage"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(2));
}

#[test]
fn a_parquet_file_whose_metadata_makes_the_reader_panic_is_named_not_a_crash() {
    // A byte-flipped copy of a canonical Parquet file (kept from fuzz seed 6): polars' footer
    // parser panics on it while the schema is read. The run stops with exit 2 naming it.
    let output = tokenaudit()
        .args(["audit", "-q", "--usage"])
        .arg(crate::fixture("fuzz/corrupt-metadata.parquet"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("corrupt-metadata.parquet` as canonical-parquet"),
        "{stderr}"
    );
}

#[test]
fn a_count_beyond_any_real_request_is_quarantined_not_summed() {
    // A damaged file can hold counts no request has (here 10^16 tokens); summed, they would
    // overflow the totals into negative dollars. They are quarantined like any bad count.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("usage.csv");
    std::fs::write(
        &path,
        "ts,agent,model,input_tokens,output_tokens\n\
         2026-09-07T09:00:00Z,dana,claude-sonnet-4-5,1000,20\n\
         2026-09-07T09:01:00Z,dana,claude-sonnet-4-5,10000000000000000,20\n\
         2026-09-07T09:02:00Z,dana,claude-sonnet-4-5,1000000000000000,20\n",
    )
    .unwrap();
    let output = tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .arg(&path)
        .output()
        .unwrap();
    let report = crate::json(&output);
    assert_eq!(report["ingest"]["rows_quarantined"], 1);
    assert_eq!(report["ingest"]["rows_valid"], 2);
    assert!(report["totals"]["cost_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_timestamp_no_calendar_holds_is_quarantined_not_a_crash() {
    // A typed Parquet timestamp can hold any 64-bit count of microseconds. Bytes overwritten in
    // a generated canonical Parquet file gave ones about 146,000 years from 1970 and near the
    // smallest 64-bit number, and the run stopped with "a fold panicked", naming no file (with
    // --quarantine, polars panicked formatting them). Rows before 1970 or from 2200 on are
    // quarantined with the reason and their count; the others are audited.
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("usage.parquet");
    let day = 1_788_739_200_000_000i64; // 2026-09-07T00:00:00Z
    let mut frame = df![
        "ts" => [day, 4_611_693_676_340_039_993, day + 60_000_000, -9_223_365_388_236_962_269],
        "agent" => ["dana"; 4],
        "model" => ["claude-sonnet-4-5"; 4],
        "input_tokens" => [1000i64; 4],
        "output_tokens" => [20i64; 4],
    ]
    .unwrap()
    .lazy()
    .with_column(col("ts").cast(DataType::Datetime(
        TimeUnit::Microseconds,
        Some(TimeZone::UTC),
    )))
    .collect()
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut frame)
        .unwrap();
    let quarantine = tmp.path().join("quarantine.csv");
    let output = audit_quarantining(&path, &quarantine);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = crate::json(&output);
    assert_eq!(report["ingest"]["rows_quarantined"], 2);
    assert_eq!(report["ingest"]["rows_valid"], 2);
    let listed = std::fs::read_to_string(&quarantine).unwrap();
    assert_eq!(listed.matches("from 1970 to 2199").count(), 2, "{listed}");
    assert!(
        listed.contains("-9223365388236962269 µs since 1970-01-01"),
        "{listed}"
    );
}

/// Rows past the memory budget go to a temporary file: when none can be written, the run stops
/// with exit 2 and says which folder and what to do, not a read error. A folder under a file
/// is one nobody can make (a missing folder polars would make itself, as root); each command
/// that reads inputs, and each kind of input, says the same.
#[test]
fn an_unwritable_temporary_folder_is_named_with_what_to_do() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let tmp = file.path().join("tokenaudit-tmp");
    let demo_usage = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/usage.csv");
    let claude_code = crate::fixture("claude-code");
    let out = file.path().with_extension("parquet");
    let out = out.to_string_lossy();
    let runs = [
        vec![
            "spend",
            "-q",
            "--rows-in-memory-mb",
            "0",
            "--usage",
            &claude_code,
        ],
        vec!["spend", "-q", "--usage", demo_usage],
        vec![
            "ingest",
            "-q",
            "--rows-in-memory-mb",
            "0",
            "--usage",
            demo_usage,
            "--to",
            &out,
        ],
    ];
    for args in runs {
        let output = tokenaudit()
            .env("TMPDIR", &tmp)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Cannot write temporary files in"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(&*tmp.to_string_lossy()), "{stderr}");
        assert!(stderr.contains("hint: set TMPDIR"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
