//! Every command end to end: demo, audit, ingest, schema, explain, generate.

use crate::{audit_demo, json, tokenaudit, transcript};

#[test]
fn demo_prints_the_audit_of_the_embedded_fixtures() {
    let output = tokenaudit().arg("demo").output().unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn demo_and_audit_of_the_same_fixtures_agree() {
    let demo = json(
        &tokenaudit()
            .args(["demo", "--format", "json"])
            .output()
            .unwrap(),
    );
    let audit = json(&audit_demo(&["--format", "json"]));
    assert_eq!(demo["findings"], audit["findings"]);
    assert_eq!(demo["agents"], audit["agents"]);
    assert_eq!(demo["inputs"][0]["path"], "demo/usage.csv");
    // The fixture bytes are the same, wherever they were read from.
    assert_eq!(demo["inputs"][0]["sha256"], audit["inputs"][0]["sha256"]);
}

#[test]
fn audit_report_is_the_same_bytes_every_run() {
    let first = audit_demo(&["--format", "json"]);
    let second = audit_demo(&["--format", "json"]);
    assert_eq!(first.stdout, second.stdout);
}

/// `--low-memory` reads on one decoding thread, and a small key budget sends request ids and
/// prompts through temporary files: neither changes a byte of the report.
#[test]
fn low_memory_and_a_small_key_budget_change_no_byte() {
    let plain = audit_demo(&["-q", "--format", "json"]);
    assert!(plain.status.success());
    for extra in [&["--low-memory"][..], &["--keys-in-memory", "3"][..]] {
        let mut args = vec!["-q", "--format", "json"];
        args.extend_from_slice(extra);
        let bounded = audit_demo(&args);
        assert!(
            bounded.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&bounded.stderr)
        );
        assert_eq!(bounded.stdout, plain.stdout, "{extra:?}");
    }
}

#[test]
fn the_example_config_file_is_the_defaults() {
    // tokenaudit.toml documents the defaults; with it the report is unchanged.
    let config = crate::fixtures().join("../tokenaudit.toml");
    let with = audit_demo(&[
        "-q",
        "--format",
        "json",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert_eq!(with.stdout, audit_demo(&["-q", "--format", "json"]).stdout);
}

#[test]
fn fail_on_sets_the_exit_code() {
    // The demo has high findings.
    assert_eq!(
        audit_demo(&["-q", "--fail-on", "high"]).status.code(),
        Some(1)
    );
    assert_eq!(
        audit_demo(&["-q", "--fail-on", "low"]).status.code(),
        Some(1)
    );
    assert_eq!(
        audit_demo(&["-q", "--fail-on", "never"]).status.code(),
        Some(0)
    );
    assert_eq!(audit_demo(&["-q"]).status.code(), Some(0));
}

#[test]
fn no_findings_below_the_threshold_exits_zero() {
    // With a materiality floor no finding can reach, nothing fails the run.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenaudit.toml");
    std::fs::write(&config, "[detect]\nmateriality_usd = 1000000.0\n").unwrap();
    let output = audit_demo(&[
        "-q",
        "--fail-on",
        "low",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("No findings."));
}

#[test]
fn schema_prints_the_canonical_schemas() {
    let output = tokenaudit().arg("schema").output().unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn explain_prints_a_reason_code_doc() {
    let output = tokenaudit().args(["explain", "TA101"]).output().unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn explain_without_a_code_lists_every_code() {
    let output = tokenaudit().arg("explain").output().unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn every_reason_code_in_a_report_is_documented() {
    let report = json(&audit_demo(&["--format", "json"]));
    for finding in report["findings"].as_array().unwrap() {
        for reason in finding["reasons"].as_array().unwrap() {
            let code = reason["code"].as_str().unwrap();
            let output = tokenaudit().args(["explain", code]).output().unwrap();
            assert!(output.status.success(), "{code} has no doc");
        }
    }
}

#[test]
fn generate_writes_the_four_files_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let output = tokenaudit()
            .args([
                "-q",
                "generate",
                "--agents",
                "24",
                "--weeks",
                "3",
                "--seed",
                "7",
                "--requests-per-week",
                "40",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        out
    };
    let (a, b) = (run("a"), run("b"));
    for file in [
        "usage.parquet",
        "outputs.csv",
        "identities.csv",
        "truth.json",
    ] {
        let left = std::fs::read(a.join(file)).unwrap();
        let right = std::fs::read(b.join(file)).unwrap();
        assert!(!left.is_empty(), "{file} is empty");
        assert_eq!(
            left, right,
            "{file} differs between two runs with the same seed"
        );
    }
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["seed"], 7);
    assert!(truth["planted"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["inflator"] == true));
    // A second alias for some agents in the output data, linked only by the identity map.
    let identities = std::fs::read_to_string(a.join("identities.csv")).unwrap();
    assert!(identities.contains("@corp.example"));
}

#[test]
fn a_different_seed_gives_different_data() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["1", "2"] {
        tokenaudit()
            .args([
                "-q",
                "generate",
                "--agents",
                "20",
                "--weeks",
                "2",
                "--requests-per-week",
                "20",
                "--seed",
                seed,
                "--out",
            ])
            .arg(dir.path().join(seed))
            .assert()
            .success();
    }
    let a = std::fs::read(dir.path().join("1/outputs.csv")).unwrap();
    let b = std::fs::read(dir.path().join("2/outputs.csv")).unwrap();
    assert_ne!(a, b);
}

#[test]
fn the_demo_fixtures_are_what_generate_writes() {
    // fixtures/README.md says how the demo fixtures were made; this keeps that true.
    let dir = tempfile::tempdir().unwrap();
    tokenaudit()
        .args([
            "-q",
            "generate",
            "--agents",
            "36",
            "--weeks",
            "6",
            "--seed",
            "4",
            "--hourly",
            "--usage-format",
            "csv",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    for file in ["usage.csv", "outputs.csv", "identities.csv"] {
        let generated = std::fs::read(dir.path().join(file)).unwrap();
        let committed = std::fs::read(crate::fixtures().join("demo").join(file)).unwrap();
        assert!(
            generated == committed,
            "fixtures/demo/{file} is not what generate writes"
        );
    }
}

#[test]
fn ingest_writes_deduplicated_priced_canonical_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("canonical.parquet");
    let output = tokenaudit()
        .args(["ingest", "--usage", "quarantine/usage.csv", "--to"])
        .arg(&to)
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, Some(dir.path())));
    use polars::prelude::*;
    let frame = LazyFrame::scan_parquet(PlRefPath::try_from_path(&to).unwrap(), Default::default())
        .unwrap()
        .collect()
        .unwrap();
    // 12 rows: 6 quarantined, one duplicate request → 5 rows.
    assert_eq!(frame.height(), 5);
    let names: Vec<&str> = frame
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    let expected: Vec<&str> = tokenaudit::schema::USAGE.iter().map(|c| c.name).collect();
    assert_eq!(names, expected);
    // The first row: 1200 in, 800 out, 40k cache reads of claude-sonnet-4-5 at list price
    // ($3, $15, $0.30 per million) = 0.0036 + 0.012 + 0.012 = $0.0276.
    let cost = frame
        .column("cost_usd")
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
        .unwrap();
    assert!((cost - 0.0276).abs() < 1e-9, "{cost}");
    // The unknown model keeps a null cost rather than a silent zero.
    assert_eq!(frame.column("cost_usd").unwrap().null_count(), 1);
    // Re-auditing the canonical file gives the same totals as auditing the source.
    let again = json(
        &tokenaudit()
            .args(["-q", "audit", "--format", "json", "--usage"])
            .arg(&to)
            .output()
            .unwrap(),
    );
    let source = json(
        &tokenaudit()
            .args([
                "-q",
                "audit",
                "--format",
                "json",
                "--usage",
                "quarantine/usage.csv",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(again["totals"], source["totals"]);
    // `-q` prints nothing but errors, here as in every command: the same file, in silence.
    let quiet_to = dir.path().join("quiet.parquet");
    let quiet = tokenaudit()
        .args(["-q", "ingest", "--usage", "quarantine/usage.csv", "--to"])
        .arg(&quiet_to)
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    assert_eq!(
        std::fs::read(&quiet_to).unwrap(),
        std::fs::read(&to).unwrap()
    );
}

#[test]
fn a_broken_pipe_is_not_an_error() {
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' demo | head -n 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            assert_cmd::cargo::cargo_bin("tokenaudit").display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "0");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("error"));
}

#[test]
fn eval_scores_a_generated_folder_against_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    tokenaudit()
        .args([
            "-q",
            "generate",
            "--agents",
            "60",
            "--weeks",
            "8",
            "--seed",
            "3",
            "--requests-per-week",
            "120",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let output = tokenaudit().arg("eval").arg(dir.path()).output().unwrap();
    insta::assert_snapshot!(transcript(&output, Some(dir.path())));
    let scores = json(
        &tokenaudit()
            .args(["eval", "--json"])
            .arg(dir.path())
            .output()
            .unwrap(),
    );
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    let inflators = truth["planted"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["inflator"] == true)
        .count();
    assert_eq!(scores["inflators"].as_u64().unwrap() as usize, inflators);
    let flagged = scores["flagged"].as_u64().unwrap();
    let hits = scores["true_positives"].as_u64().unwrap();
    assert!(hits <= flagged);
    assert_eq!(
        scores["precision"].as_f64().unwrap(),
        if flagged == 0 {
            1.0
        } else {
            hits as f64 / flagged as f64
        }
    );
}

/// Runs `tokenaudit ARGS` under a pseudo-terminal (util-linux `script`), returning what the
/// terminal showed.
fn on_a_terminal(args: &str) -> String {
    let binary = assert_cmd::cargo::cargo_bin("tokenaudit");
    let output = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} {args} > /dev/null", binary.display()),
            "/dev/null",
        ])
        .current_dir(crate::fixtures())
        .output()
        .expect("util-linux `script` runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).replace('\r', "")
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let shown = on_a_terminal("demo --format json");
    for stage in [
        "reading: 1 usage and 1 output inputs",
        "aggregating: 2 files (1.6 MB) in one streaming pass",
        "read 16,302 rows (16,302 valid, 0 quarantined)",
        "detecting:",
    ] {
        assert!(shown.contains(stage), "missing `{stage}` in:\n{shown}");
    }
    assert_eq!(on_a_terminal("demo -q --format json"), "");
    // Not a terminal: stderr carries no progress.
    let piped = tokenaudit()
        .args(["demo", "--format", "json"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("reading:"));
}
