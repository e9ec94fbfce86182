//! Bad rows are quarantined with file, row, column, value and reason; nothing is lost.

use std::path::Path;
use std::process::Output;

use crate::{json, tokenaudit, transcript};

/// `tokenaudit COMMAND… --usage USAGE --quarantine QUARANTINE`.
fn with_quarantine(command: &[&str], usage: impl AsRef<Path>, quarantine: &Path) -> Output {
    tokenaudit()
        .args(command)
        .arg("--usage")
        .arg(usage.as_ref())
        .arg("--quarantine")
        .arg(quarantine)
        .output()
        .unwrap()
}

#[test]
fn bad_rows_go_to_quarantine_and_the_audit_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let quarantine = dir.path().join("quarantine.csv");
    let output = tokenaudit()
        .args([
            "audit",
            "--usage",
            "quarantine/usage.csv",
            "--format",
            "json",
            "--quarantine",
        ])
        .arg(&quarantine)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report = json(&output);
    let ingest = &report["ingest"];
    assert_eq!(ingest["rows_read"], 12);
    assert_eq!(ingest["rows_valid"], 6);
    assert_eq!(ingest["rows_quarantined"], 6);
    assert_eq!(ingest["duplicates_removed"], 1);
    insta::assert_snapshot!(
        "quarantine_file",
        std::fs::read_to_string(&quarantine).unwrap()
    );
    insta::assert_snapshot!(
        "quarantine_stderr",
        String::from_utf8_lossy(&output.stderr).replace(&dir.path().display().to_string(), "[TMP]")
    );
}

#[test]
fn strict_turns_a_quarantined_row_into_exit_2() {
    let output = tokenaudit()
        .args(["audit", "--usage", "quarantine/usage.csv", "--strict"])
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, None));
}

#[test]
fn strict_passes_clean_input() {
    let output = tokenaudit()
        .args(["-q", "audit", "--usage", "demo/usage.csv", "--strict"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn unpriced_models_are_listed_not_costed_as_zero() {
    let output = tokenaudit()
        .args([
            "audit",
            "--usage",
            "quarantine/usage.csv",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let report = json(&output);
    assert_eq!(report["unpriced_models"][0]["model"], "mystery-model-9");
    assert_eq!(report["unpriced_models"][0]["tokens"], 5100);
    assert!(String::from_utf8_lossy(&output.stderr).contains("mystery-model-9"));
    // A price file fills the gap.
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.csv");
    std::fs::write(
        &prices,
        "model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok\nmystery-model-9,2026-01-01,10,10,1,10\n",
    )
    .unwrap();
    let priced = json(
        &tokenaudit()
            .args([
                "-q",
                "audit",
                "--usage",
                "quarantine/usage.csv",
                "--format",
                "json",
                "--pricing",
            ])
            .arg(&prices)
            .output()
            .unwrap(),
    );
    assert_eq!(priced["unpriced_models"].as_array().unwrap().len(), 0);
    // 5,000 in + 100 out at $10 per million = $0.051 more than before.
    let before = report["totals"]["cost_usd"].as_f64().unwrap();
    let after = priced["totals"]["cost_usd"].as_f64().unwrap();
    assert!(
        ((after - before) - 0.05).abs() < 0.011,
        "{before} → {after}"
    );
}

#[test]
fn outputs_are_validated_and_deduplicated_too() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs.csv");
    std::fs::write(
        &outputs,
        "ts,agent,kind,amount,ref\n\
         2026-09-07T10:00:00Z,dana@corp.example,commit,1,abc123\n\
         2026-09-07T10:00:00Z,dana@corp.example,commit,1,abc123\n\
         2026-09-07T11:00:00Z,dana@corp.example,pr_merged,,https://git/pull/1\n\
         not-a-date,dana@corp.example,commit,1,def456\n\
         2026-09-07T12:00:00Z,dana@corp.example,,1,ghi789\n\
         2026-09-07T12:00:00Z,dana@corp.example,loc_added,-5,ghi789\n",
    )
    .unwrap();
    let output = tokenaudit()
        .args([
            "-q",
            "audit",
            "--usage",
            "quarantine/usage.csv",
            "--format",
            "json",
            "--outputs",
        ])
        .arg(&outputs)
        .output()
        .unwrap();
    let report = json(&output);
    assert_eq!(report["ingest"]["rows_read"], 18);
    assert_eq!(report["ingest"]["rows_quarantined"], 9);
    assert_eq!(report["ingest"]["duplicates_removed"], 2);
    let dana = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "dana@corp.example")
        .unwrap();
    // One commit (1) and one merged PR (4).
    assert_eq!(dana["output_index"], 5.0);
}

#[test]
fn a_malformed_or_truncated_ndjson_line_is_quarantined_with_its_line_and_the_rest_is_read() {
    // A writer that crashed mid-line, a line of garbage and a line that is not an object,
    // between good ones; a typed value that is wrong is quarantined by its column.
    let dir = tempfile::tempdir().unwrap();
    let usage = dir.path().join("usage.ndjson");
    std::fs::write(
        &usage,
        concat!(
            "{\"ts\":\"2026-09-07T10:00:00Z\",\"agent\":\"ana\",\"model\":\"claude-sonnet-4-5-20250929\",\"input_tokens\":100,\"output_tokens\":50}\n",
            "garbage {\n",
            "[\"not\", \"an object\"]\n",
            "{\"ts\":\"2026-09-07T11:00:00Z\",\"agent\":\"ana\",\"model\":\"claude-sonnet-4-5-20250929\",\"input_tokens\":\"-4\",\"output_tokens\":5}\n",
            "{\"ts\":\"2026-09-07T12:00:00Z\",\"agent\":\"bo\",\"model\":\"claude-sonnet-4-5-20250929\",\"input_tokens\":7,\"output_tokens\":3}\n",
            "{\"ts\":\"2026-09-07T13:00:00Z\",\"agent\":\"bo\",\"model\":\"claude-son",
        ),
    )
    .unwrap();
    let quarantine = dir.path().join("quarantine.csv");
    let output = with_quarantine(&["spend", "--format", "json"], &usage, &quarantine);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = json(&output);
    assert_eq!(report["ingest"]["rows_read"], 6);
    assert_eq!(report["ingest"]["rows_valid"], 2);
    assert_eq!(report["ingest"]["rows_quarantined"], 4);
    assert_eq!(report["totals"]["tokens"], 160);
    let text = std::fs::read_to_string(&quarantine).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(rows, ["2", "3", "4", "6"], "{text}");
    assert!(
        text.contains("not JSON") && text.contains("must be an object"),
        "{text}"
    );
}

#[test]
fn a_folder_of_small_ndjson_files_is_read_together_and_each_file_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("logs");
    std::fs::create_dir_all(&folder).unwrap();
    let line = |hour: u32, agent: &str| {
        format!("{{\"ts\":\"2026-09-07T{hour:02}:00:00Z\",\"agent\":\"{agent}\",\"model\":\"claude-sonnet-4-5-20250929\",\"input_tokens\":10,\"output_tokens\":5}}\n")
    };
    std::fs::write(folder.join("a.ndjson"), line(1, "ana") + &line(2, "ana")).unwrap();
    std::fs::write(folder.join("b.ndjson"), line(3, "bo") + "{\"ts\": oops\n").unwrap();
    std::fs::write(folder.join("c.ndjson"), line(4, "cy")).unwrap();
    let quarantine = dir.path().join("quarantine.csv");
    let output = with_quarantine(&["spend", "--format", "json"], &folder, &quarantine);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = json(&output);
    let rows: Vec<(String, u64)> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let path = i["path"].as_str().unwrap();
            (
                path.rsplit('/').next().unwrap().to_string(),
                i["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a.ndjson".to_string(), 2),
            ("b.ndjson".to_string(), 2),
            ("c.ndjson".to_string(), 1)
        ]
    );
    assert_eq!(report["ingest"]["rows_quarantined"], 1);
    assert_eq!(report["totals"]["tokens"], 60);
    let text = std::fs::read_to_string(&quarantine).unwrap();
    let bad = text.lines().nth(1).unwrap();
    assert!(bad.contains("b.ndjson,2,record,"), "{bad}");
}

#[test]
fn more_files_than_one_batch_are_all_read_once() {
    // Files are read together in batches of at most 1,024: 1,030 one-line files cross a batch.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("logs");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..1_030 {
        std::fs::write(
            folder.join(format!("s{i:04}.ndjson")),
            format!("{{\"ts\":\"2026-09-07T10:00:00Z\",\"agent\":\"a{}\",\"model\":\"claude-sonnet-4-5-20250929\",\"input_tokens\":{i},\"output_tokens\":1,\"request_id\":\"r{i}\"}}\n", i % 7),
        )
        .unwrap();
    }
    let output = tokenaudit()
        .args(["spend", "-q", "--format", "json", "--usage"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = json(&output);
    assert_eq!(report["ingest"]["rows_read"], 1_030);
    assert_eq!(report["ingest"]["duplicates_removed"], 0);
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1_030);
    assert!(inputs.iter().all(|i| i["rows"] == 1));
    // Input tokens 0..1030 and one output token each.
    assert_eq!(report["totals"]["tokens"], 1_029 * 1_030 / 2 + 1_030);
}

#[test]
fn ingest_writes_the_same_quarantine_file_as_audit_and_strict_stops_it_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |command: &[&str], quarantine: &Path| {
        let command = [command, &["-q"]].concat();
        with_quarantine(&command, "quarantine/usage.csv", quarantine)
    };
    let (from_audit, from_ingest) = (dir.path().join("a.csv"), dir.path().join("i.csv"));
    let to = dir.path().join("u.parquet");
    assert!(run(&["audit"], &from_audit).status.success());
    let ingest = ["ingest", "--to", to.to_str().unwrap()];
    assert!(run(&ingest, &from_ingest).status.success());
    let listed = std::fs::read_to_string(&from_ingest).unwrap();
    assert_eq!(listed, std::fs::read_to_string(&from_audit).unwrap());
    assert_eq!(
        listed.lines().count(),
        7,
        "a header and six rows:\n{listed}"
    );

    std::fs::remove_file(&to).unwrap();
    let strict = tokenaudit()
        .args([
            "-q",
            "ingest",
            "--usage",
            "quarantine/usage.csv",
            "--strict",
            "--to",
        ])
        .arg(&to)
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("6 rows failed validation"));
    assert!(!to.exists(), "--strict wrote the Parquet anyway");
}
