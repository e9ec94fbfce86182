//! Input formats (CSV, Parquet, Arrow IPC, NDJSON; files, directories, globs) and output
//! formats (table, JSON, CSV, Markdown; stdout and many `--out` files in one run).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::{audit_demo, fixture, json, tokenaudit, transcript, without_inputs};

/// The demo usage CSV read with every column as text, as a user's export would be.
fn demo_usage() -> DataFrame {
    LazyCsvReader::new(PlRefPath::new(fixture("demo/usage.csv")))
        .with_has_header(true)
        .finish()
        .unwrap()
        .collect()
        .unwrap()
}

fn write_as(frame: &mut DataFrame, path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => {
            ParquetWriter::new(file).finish(frame).unwrap();
        }
        Some("arrow") => IpcWriter::new(file).finish(frame).unwrap(),
        Some("ndjson") => JsonWriter::new(file)
            .with_json_format(JsonFormat::JsonLines)
            .finish(frame)
            .unwrap(),
        Some("csv") => CsvWriter::new(file).finish(frame).unwrap(),
        other => panic!("no writer for {other:?}"),
    }
}

fn audit_json(usage: &[PathBuf]) -> serde_json::Value {
    let mut command = tokenaudit();
    command.args([
        "-q",
        "audit",
        "--format",
        "json",
        "--outputs",
        "demo/outputs.csv",
        "--identities",
        "demo/identities.csv",
        "--usage",
    ]);
    command.args(usage);
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json(&output)
}

#[test]
fn every_input_format_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let expected = without_inputs(json(&audit_demo(&["-q", "--format", "json"])));
    let mut frame = demo_usage();
    // Typed columns, as a warehouse export would carry them.
    frame = frame
        .lazy()
        .with_column(
            col("ts")
                .str()
                .to_datetime(
                    Some(TimeUnit::Milliseconds),
                    None,
                    StrptimeOptions {
                        format: Some("%Y-%m-%dT%H:%M:%SZ".into()),
                        ..Default::default()
                    },
                    lit("raise"),
                )
                .alias("ts"),
        )
        .collect()
        .unwrap();
    for name in ["usage.parquet", "usage.arrow", "usage.ndjson"] {
        let path = dir.path().join(name);
        write_as(&mut frame, &path);
        let report = audit_json(&[path]);
        assert_eq!(
            without_inputs(report.clone()),
            expected,
            "{name} differs from CSV"
        );
        let format = report["inputs"][0]["format"].as_str().unwrap().to_string();
        assert!(format.starts_with("canonical-"), "{format}");
    }
}

#[test]
fn split_files_directories_and_globs_read_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let expected = without_inputs(json(&audit_demo(&["-q", "--format", "json"])));
    let mut frame = demo_usage();
    let half = frame.height() / 2;
    let mut first = frame.slice(0, half);
    let mut second = frame.slice(half as i64, frame.height() - half);
    std::fs::create_dir(dir.path().join("parts")).unwrap();
    write_as(&mut first, &dir.path().join("parts/a.csv"));
    write_as(&mut second, &dir.path().join("parts/b.parquet"));
    write_as(&mut frame, &dir.path().join("whole.ndjson"));

    let by_directory = audit_json(&[dir.path().join("parts")]);
    assert_eq!(without_inputs(by_directory.clone()), expected);
    // Two usage parts, the outputs file and the identity map.
    assert_eq!(by_directory["inputs"].as_array().unwrap().len(), 4);

    let glob = dir.path().join("parts/*");
    assert_eq!(without_inputs(audit_json(&[glob])), expected);

    let listed = audit_json(&[
        dir.path().join("parts/a.csv"),
        dir.path().join("parts/b.parquet"),
    ]);
    assert_eq!(without_inputs(listed), expected);
}

#[test]
fn usage_format_overrides_detection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.log");
    std::fs::copy(fixture("demo/usage.csv"), &path).unwrap();
    let mut command = tokenaudit();
    command
        .args([
            "-q",
            "audit",
            "--format",
            "json",
            "--usage-format",
            "csv",
            "--usage",
        ])
        .arg(&path);
    let report = json(&command.output().unwrap());
    assert_eq!(report["inputs"][0]["format"], "canonical-csv");
    assert_eq!(report["ingest"]["rows_quarantined"], 0);
}

#[test]
fn json_report_matches_the_contract() {
    let report = json(&audit_demo(&["-q", "--format", "json"]));
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "agents",
            "calibration",
            "data_quality",
            "findings",
            "ingest",
            "inputs",
            "period",
            "schema_version",
            "tool",
            "totals",
            "unpriced_models"
        ]
    );
    assert_eq!(report["schema_version"], 1);
    // The demo's usage is in hourly buckets: the timing fingerprints say they could not read it.
    let skipped: Vec<(&str, &str)> = report["data_quality"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["code"].as_str().unwrap(), s["check"].as_str().unwrap()))
        .collect();
    assert_eq!(skipped, [("TA301", "bucketed"), ("TA306", "bucketed")]);
    for lens in report["data_quality"]["lenses"].as_array().unwrap() {
        for key in ["lens", "judged", "eligible", "note"] {
            assert!(lens.get(key).is_some(), "lens note lacks {key}");
        }
    }
    let scopes: Vec<&str> = report["calibration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["scope"].as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        [
            "efficiency",
            "change",
            "behavior",
            "TA301",
            "TA302",
            "TA303",
            "TA304",
            "TA305",
            "TA306",
            "TA307"
        ]
    );
    for check in report["calibration"].as_array().unwrap() {
        for key in [
            "judged",
            "p_01",
            "p_001",
            "expected_01",
            "expected_001",
            "status",
        ] {
            assert!(check.get(key).is_some(), "calibration lacks {key}");
        }
    }
    assert_eq!(report["period"]["start"], "2026-09-07");
    assert_eq!(report["period"]["end"], "2026-10-18");
    assert_eq!(report["period"]["weeks"], 6);
    let ingest = &report["ingest"];
    assert_eq!(
        ingest["rows_read"].as_u64().unwrap(),
        ingest["rows_valid"].as_u64().unwrap() + ingest["rows_quarantined"].as_u64().unwrap()
    );
    let finding = &report["findings"][0];
    for key in [
        "agent",
        "team",
        "week",
        "severity",
        "detector",
        "score",
        "q_value",
        "excess_cost_usd",
        "reasons",
    ] {
        assert!(finding.get(key).is_some(), "finding lacks {key}");
    }
    for key in ["code", "message", "observed", "expected"] {
        assert!(
            finding["reasons"][0].get(key).is_some(),
            "reason lacks {key}"
        );
    }
    let statuses: Vec<&str> = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"flagged")
            && statuses.contains(&"ok")
            && statuses.contains(&"insufficient_data")
    );
    // Agents are listed by name, never ranked by usage.
    let names: Vec<&str> = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn findings_are_sorted_by_severity_then_excess() {
    let report = json(&audit_demo(&["-q", "--format", "json"]));
    let rank = |s: &str| match s {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    };
    let findings = report["findings"].as_array().unwrap();
    for pair in findings.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let key = |f: &serde_json::Value| {
            (
                rank(f["severity"].as_str().unwrap()),
                -f["excess_cost_usd"].as_f64().unwrap(),
            )
        };
        assert!(key(a) <= key(b), "{a} before {b}");
    }
}

#[test]
fn json_output_snapshot() {
    let output = audit_demo(&["--format", "json"]);
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn csv_output_snapshot() {
    let output = audit_demo(&["--format", "csv"]);
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn markdown_output_snapshot() {
    let output = audit_demo(&["--format", "markdown"]);
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn out_writes_every_format_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let output = audit_demo(&[
        "-q",
        "--format",
        "table",
        "--out",
        &format!("json={}", path("report.json")),
        "--out",
        &format!("csv={}", path("findings.csv")),
        "--out",
        &format!("markdown={}", path("summary.md")),
        "--out",
        &format!("table={}", path("report.txt")),
    ]);
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert_eq!(std::fs::read_to_string(path("report.txt")).unwrap(), table);
    for (format, name) in [
        ("json", "report.json"),
        ("csv", "findings.csv"),
        ("markdown", "summary.md"),
    ] {
        let alone = audit_demo(&["-q", "--format", format]);
        assert_eq!(std::fs::read(path(name)).unwrap(), alone.stdout, "{name}");
    }
}

#[test]
fn timezone_and_week_start_move_week_boundaries() {
    let utc = json(&audit_demo(&["-q", "--format", "json"]));
    let sunday = json(&audit_demo(&[
        "-q",
        "--format",
        "json",
        "--week-start",
        "sunday",
    ]));
    assert_eq!(sunday["period"]["week_start"], "sunday");
    assert_eq!(sunday["period"]["start"], "2026-09-06");
    let tokyo = json(&audit_demo(&[
        "-q",
        "--format",
        "json",
        "--tz",
        "Asia/Tokyo",
    ]));
    assert_eq!(tokyo["period"]["tz"], "Asia/Tokyo");
    // Moving boundaries moves no token: totals are the same.
    assert_eq!(utc["totals"]["tokens"], sunday["totals"]["tokens"]);
    assert_eq!(utc["totals"]["tokens"], tokyo["totals"]["tokens"]);
}

#[test]
fn since_and_until_restrict_the_period() {
    let report = json(&audit_demo(&[
        "-q",
        "--format",
        "json",
        "--since",
        "2026-09-14",
        "--until",
        "2026-09-27",
    ]));
    assert_eq!(report["period"]["start"], "2026-09-14");
    assert_eq!(report["period"]["end"], "2026-09-27");
    assert_eq!(report["period"]["weeks"], 2);
}
