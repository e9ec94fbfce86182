//! Vendor formats: each fixture under `fixtures/<format>/` read by detection alone, with the
//! totals `fixtures/README.md` documents for it; malformed records quarantined by line; and
//! Claude Code logs checked against ccusage.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use polars::prelude::*;

use crate::{fixture, json, tokenaudit};

/// Per-day token totals: (input, output, cache read, cache write).
type Daily = BTreeMap<String, [u64; 4]>;

/// The canonical rows `tokenaudit ingest` writes for `paths`, summed per UTC day.
fn ingested_daily(paths: &[String]) -> Daily {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("usage.parquet");
    let mut args = vec!["ingest".to_string(), "--usage".to_string()];
    args.extend(paths.iter().cloned());
    args.extend(["--to".to_string(), out.display().to_string()]);
    let output = tokenaudit().args(&args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let frame = LazyFrame::scan_parquet(
        PlRefPath::try_from_path(&out).unwrap(),
        ScanArgsParquet::default(),
    )
    .unwrap()
    .group_by([col("ts").dt().date().cast(DataType::String).alias("day")])
    .agg([
        col("input_tokens").sum(),
        col("output_tokens").sum(),
        col("cache_read_tokens").sum(),
        col("cache_write_tokens").sum(),
    ])
    .sort(["day"], Default::default())
    .collect()
    .unwrap();
    let day = frame.column("day").unwrap().str().unwrap().clone();
    let value = |name: &str, i: usize| {
        frame
            .column(name)
            .unwrap()
            .cast(&DataType::UInt64)
            .unwrap()
            .u64()
            .unwrap()
            .get(i)
            .unwrap()
    };
    (0..frame.height())
        .map(|i| {
            (
                day.get(i).unwrap().to_string(),
                [
                    value("input_tokens", i),
                    value("output_tokens", i),
                    value("cache_read_tokens", i),
                    value("cache_write_tokens", i),
                ],
            )
        })
        .collect()
}

/// The Claude Code fixture's daily totals, as fixtures/README.md states them.
fn claude_code_truth() -> Daily {
    [
        ("2026-09-07", [500, 31_456, 662_870, 99_519]),
        ("2026-09-08", [320, 21_842, 541_598, 72_725]),
        ("2026-09-09", [377, 25_012, 695_250, 98_873]),
    ]
    .into_iter()
    .map(|(d, t)| (d.to_string(), t))
    .collect()
}

#[test]
fn claude_code_logs_give_the_documented_totals() {
    assert_eq!(
        ingested_daily(&[fixture("claude-code")]),
        claude_code_truth()
    );
    let tmp = tempfile::tempdir().unwrap();
    let quarantine = tmp.path().join("q.csv");
    let output = tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .arg(fixture("claude-code"))
        .arg("--quarantine")
        .arg(&quarantine)
        .output()
        .unwrap();
    let report = json(&output);
    let ingest = &report["ingest"];
    // 62 requests, 22 repeated writes (streaming and sidechain replays), 1 truncated line.
    assert_eq!(ingest["rows_read"], 85);
    assert_eq!(ingest["rows_valid"], 84);
    assert_eq!(ingest["rows_quarantined"], 1);
    assert_eq!(ingest["duplicates_removed"], 22);
    assert_eq!(
        ingest["records_skipped"]["claude-code: synthetic records"],
        2
    );
    assert_eq!(
        ingest["records_skipped"]["claude-code: API error records"],
        2
    );
    assert!(report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["format"] == "claude-code"));
    // The session files are read together; each is still accounted for with its own rows.
    let rows: Vec<u64> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows.iter().sum::<u64>(), 85);
    assert!(rows.iter().all(|r| *r > 0), "{rows:?}");
    // Hashed from the bytes the adapter read: the same SHA-256 as the file's.
    for input in report["inputs"].as_array().unwrap() {
        let path = input["path"].as_str().unwrap();
        let bytes = std::fs::read(path).unwrap();
        let expected = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(input["sha256"], expected.as_str(), "{path}");
    }
    let agents: Vec<&str> = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["dana", "eli"]);
    // The truncated line, by file and line, with its text.
    let rows = std::fs::read_to_string(quarantine).unwrap();
    let line = rows.lines().nth(1).unwrap();
    assert!(line.contains("-Users-eli-work-web/02ad9d2b"), "{line}");
    assert!(line.contains(".jsonl,18,record,"), "{line}");
    assert!(line.contains("not a Claude Code log record"), "{line}");
}

/// `spend` hashes its inputs only for the JSON report, the one output that lists them: the same
/// hashes whether JSON goes to stdout or to an `--out` file, and the same totals without them.
#[test]
fn spend_hashes_the_logs_it_read_whenever_json_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let beside = tmp.path().join("spend.json");
    let spend = |format: &str, out: Option<&std::path::Path>| {
        let mut command = tokenaudit();
        command
            .args(["spend", "-q", "--by", "week", "--format", format, "--usage"])
            .arg(fixture("claude-code"));
        if let Some(path) = out {
            command.arg("--out").arg(format!("json={}", path.display()));
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        output.stdout
    };
    let on_stdout: serde_json::Value = serde_json::from_slice(&spend("json", None)).unwrap();
    let table = spend("csv", Some(&beside));
    let in_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&beside).unwrap()).unwrap();
    let inputs = on_stdout["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 12);
    for input in inputs {
        let path = input["path"].as_str().unwrap();
        let expected = format!(
            "{:x}",
            <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(path).unwrap())
        );
        assert_eq!(input["sha256"], expected.as_str(), "{path}");
    }
    assert_eq!(on_stdout["inputs"], in_file["inputs"]);
    // The CSV without hashes adds up to the same cost as the JSON with them.
    let csv = String::from_utf8(table).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let cost = header.iter().position(|c| *c == "cost_usd").unwrap();
    let total: f64 = csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(cost).unwrap().parse::<f64>().unwrap())
        .sum();
    let expected = on_stdout["totals"]["cost_usd"].as_f64().unwrap();
    assert!(
        (total - expected).abs() < 1e-6,
        "{total} against {expected}"
    );
}

/// A little usage for the shop's three people, in the weeks its fixtures cover (outputs of
/// agents with no usage are not audited).
fn shop_usage(dir: &std::path::Path) -> PathBuf {
    let usage = dir.join("usage.csv");
    let mut rows = String::from("ts,agent,model,input_tokens,output_tokens\n");
    for agent in ["dana@corp.example", "eli@corp.example", "fay@corp.example"] {
        for day in ["2026-09-08", "2026-09-15"] {
            rows.push_str(&format!(
                "{day}T10:00:00Z,{agent},claude-sonnet-4-5,1000,200\n"
            ));
        }
    }
    std::fs::write(&usage, rows).unwrap();
    usage
}

/// Each column of `agent_weeks.parquet` in `dir` summed per agent, agents in name order.
fn agent_sums(dir: &std::path::Path, columns: &[&str]) -> BTreeMap<String, Vec<f64>> {
    let frame = LazyFrame::scan_parquet(
        PlRefPath::try_from_path(&dir.join("agent_weeks.parquet")).unwrap(),
        ScanArgsParquet::default(),
    )
    .unwrap()
    .group_by([col("agent")])
    .agg(columns.iter().map(|c| col(*c).sum()).collect::<Vec<_>>())
    .sort(["agent"], Default::default())
    .collect()
    .unwrap();
    columns
        .iter()
        .map(|c| {
            let values = frame
                .column(c)
                .unwrap()
                .f64()
                .unwrap()
                .iter()
                .flatten()
                .collect();
            (c.to_string(), values)
        })
        .collect()
}

fn ccusage() -> PathBuf {
    let path = std::env::var_os("TOKENAUDIT_CCUSAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap())
                .join(".cache/tokenaudit-ccusage/node_modules/.bin/ccusage")
        });
    assert!(
        path.exists(),
        "ccusage is not installed at {}: .ci/run installs ccusage from the npm registry (or set TOKENAUDIT_CCUSAGE); this check does not pass without it",
        path.display()
    );
    path
}

/// ccusage's daily tokens over the `.claude` folders of every user folder under `root`.
fn ccusage_daily(root: &std::path::Path) -> Daily {
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path().join(".claude").display().to_string())
        .collect();
    dirs.sort();
    let output = Command::new(ccusage())
        .args(["daily", "--json", "--offline", "--timezone", "UTC"])
        .env("CLAUDE_CONFIG_DIR", dirs.join(","))
        .output()
        .expect("ccusage runs");
    assert!(
        output.status.success(),
        "ccusage failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_u64().unwrap();
            (
                d["period"]
                    .as_str()
                    .or(d["date"].as_str())
                    .unwrap()
                    .to_string(),
                [
                    n("inputTokens"),
                    n("outputTokens"),
                    n("cacheReadTokens"),
                    n("cacheCreationTokens"),
                ],
            )
        })
        .collect()
}

#[test]
fn ccusage_reports_the_same_daily_tokens_for_the_claude_code_fixture() {
    let theirs = ccusage_daily(std::path::Path::new(&fixture("claude-code")));
    assert_eq!(theirs, ingested_daily(&[fixture("claude-code")]));
}

#[test]
fn a_usage_only_vendor_file_given_as_outputs_is_an_error_naming_it() {
    let output = tokenaudit()
        .args(["audit", "--usage"])
        .arg(fixture("demo/usage.csv"))
        .arg("--outputs")
        .arg(fixture(
            "claude-code/dana/.claude/projects/-home-dana-src-api/6513270e-269e-4d37-b2a7-4de452e6b438.jsonl",
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a claude-code file, which holds no outputs rows"),
        "{stderr}"
    );
}

#[test]
fn a_git_repository_is_an_output_source_credited_per_author() {
    let tmp = tempfile::tempdir().unwrap();
    let usage = shop_usage(tmp.path());
    let parquet = tmp.path().join("out");
    let output = tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .arg(&usage)
        .arg("--outputs")
        .arg(fixture("git/shop.git"))
        .arg("--out")
        .arg(format!("parquet={}", parquet.display()))
        .output()
        .unwrap();
    let report = json(&output);
    assert_eq!(report["inputs"][1]["format"], "git");
    let sums = agent_sums(&parquet, &["commit", "loc_added", "loc_removed"]);
    // dana: the first two commits; eli: the cart twice and the move (written ELI@…, one
    // person after case folding); fay: the README.
    assert_eq!(sums["commit"], [2.0, 3.0, 1.0]);
    assert_eq!(sums["loc_added"], [7.0, 7.0, 2.0]);
    assert_eq!(sums["loc_removed"], [1.0, 5.0, 0.0]);
}

#[test]
fn pull_requests_reviews_and_tickets_are_credited_through_the_identity_map() {
    let tmp = tempfile::tempdir().unwrap();
    let usage = shop_usage(tmp.path());
    let parquet = tmp.path().join("out");
    let quarantine = tmp.path().join("q.csv");
    let output = tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .arg(&usage)
        .arg("--outputs")
        .args([
            fixture("git/shop.git"),
            fixture("github-prs"),
            fixture("jira/issues.csv"),
            fixture("linear/issues.csv"),
        ])
        .arg("--identities")
        .arg(fixture("git/identities.csv"))
        .arg("--quarantine")
        .arg(&quarantine)
        .arg("--out")
        .arg(format!("parquet={}", parquet.display()))
        .output()
        .unwrap();
    let report = json(&output);
    let formats: Vec<&str> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["format"].as_str().unwrap())
        .collect();
    assert_eq!(
        formats,
        [
            "canonical-csv",
            "git",
            "github-prs",
            "github-prs",
            "jira-csv",
            "linear-csv",
            "identities-csv"
        ]
    );
    let skipped = &report["ingest"]["records_skipped"];
    assert_eq!(skipped["github-prs: pull requests not merged"], 3);
    assert_eq!(skipped["jira-csv: unresolved issues"], 1);
    assert_eq!(skipped["jira-csv: resolved issues with no assignee"], 1);
    assert_eq!(skipped["linear-csv: issues not completed"], 2);
    assert_eq!(skipped["linear-csv: completed issues with no assignee"], 1);
    assert_eq!(report["ingest"]["rows_quarantined"], 3);
    let rejected = std::fs::read_to_string(&quarantine).unwrap();
    let lines: Vec<&str> = rejected.lines().skip(1).collect();
    assert!(lines[0].contains("gh-pr-list.json,6,record,"), "{rejected}");
    assert!(
        lines[1].contains("jira/issues.csv,8,record,API-8,`Resolved` is not a date: `next week`"),
        "{rejected}"
    );
    assert!(
        lines[2].contains("linear/issues.csv,8,record,ENG-27,`Completed` is not a date: `soon`"),
        "{rejected}"
    );

    let sums = agent_sums(
        &parquet,
        &["commit", "pr_merged", "review", "ticket_closed"],
    );
    // dana, eli, fay: see fixtures/README.md for where each count comes from.
    assert_eq!(sums["commit"], [2.0, 3.0, 1.0]);
    assert_eq!(sums["pr_merged"], [2.0, 2.0, 2.0]);
    assert_eq!(sums["review"], [3.0, 1.0, 0.0]);
    assert_eq!(sums["ticket_closed"], [3.0, 2.0, 2.0]);
}

#[test]
fn generated_claude_code_logs_hold_the_same_usage_as_the_canonical_file() {
    let tmp = tempfile::tempdir().unwrap();
    // The logs are generated over an earlier company's in the same folder: they replace them.
    for (format, seed) in [("parquet", "3"), ("claude-code", "9"), ("claude-code", "3")] {
        let status = tokenaudit()
            .args([
                "generate", "-q", "--agents", "8", "--weeks", "1", "--seed", seed,
            ])
            .args(["--usage-format", format, "--out"])
            .arg(tmp.path().join(format))
            .output()
            .unwrap()
            .status;
        assert!(status.success());
    }
    let canonical = ingested_daily(&[tmp
        .path()
        .join("parquet/usage.parquet")
        .display()
        .to_string()]);
    let logs = ingested_daily(&[tmp
        .path()
        .join("claude-code/claude-code")
        .display()
        .to_string()]);
    assert!(!canonical.is_empty());
    assert_eq!(logs, canonical);
    // The shape users have: a file per session, subagent files beside them, every response
    // streamed as two lines with one message id, and ccusage agrees on every day.
    let root = tmp.path().join("claude-code/claude-code");
    let files: Vec<PathBuf> = glob::glob(&format!("{}/**/*.jsonl", root.display()))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/subagents/agent-a")),
        "no subagent file"
    );
    let mut lines_per_message: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            if record["type"] == "assistant" {
                let id = record["message"]["id"].as_str().unwrap().to_string();
                *lines_per_message.entry(id).or_default() += 1;
            }
        }
    }
    // Two lines a response (four for the requests the generator plants twice).
    assert!(lines_per_message.values().all(|n| n % 2 == 0));
    assert_eq!(ccusage_daily(&root), logs);
}

/// Rows parsed from vendor files wait in memory up to a budget and in temporary files past it
/// (`--rows-in-memory-mb`): with no budget, every read goes to disk (the reads of one format
/// and table appended to one file, a lone file to a file of its own), and the spend, the
/// audit, the quarantine file and the canonical Parquet are the same bytes as in memory.
#[test]
fn rows_held_on_disk_give_the_same_bytes_as_rows_held_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = [
        "claude-code",
        "otel",
        "copilot",
        "litellm/spendlogs-2026-10-05.csv",
        "cursor",
    ]
    .iter()
    .map(|p| fixture(p))
    .collect();
    let run = |budget: &str, command: &[&str], out: &str| {
        let mut cmd = tokenaudit();
        cmd.args(command)
            .args(["-q", "--rows-in-memory-mb", budget]);
        for input in &inputs {
            cmd.args(["--usage", input]);
        }
        let quarantine = tmp.path().join(format!("{out}-{budget}.csv"));
        cmd.arg("--quarantine").arg(&quarantine);
        if command[0] == "ingest" {
            cmd.arg("--to")
                .arg(tmp.path().join(format!("{out}-{budget}.parquet")));
        }
        let output = cmd.output().unwrap();
        assert!(
            output.status.success(),
            "{command:?} {budget}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut bytes = output.stdout;
        bytes.extend(std::fs::read(&quarantine).unwrap());
        if command[0] == "ingest" {
            bytes
                .extend(std::fs::read(tmp.path().join(format!("{out}-{budget}.parquet"))).unwrap());
        }
        bytes
    };
    for (command, out) in [
        (&["spend", "--format", "json"][..], "spend"),
        (&["audit", "--format", "json"][..], "audit"),
        (&["ingest"][..], "ingest"),
    ] {
        let in_memory = run("1024", command, out);
        let on_disk = run("0", command, out);
        assert!(on_disk.len() > 1_000, "{command:?}");
        assert_eq!(on_disk, in_memory, "{command:?}");
    }
    // The fixtures have records to quarantine, so the rows named by file and line come
    // through the temporary files too.
    let quarantined = std::fs::read_to_string(tmp.path().join("spend-0.csv")).unwrap();
    assert!(quarantined.lines().count() > 3, "{quarantined}");
    assert!(quarantined.contains("claude-code"), "{quarantined}");
}

#[test]
fn a_folder_of_exports_routes_each_file_to_the_table_it_holds() {
    // cursor/ holds usage events and, under daily/, outputs: given whole as usage, the daily
    // file is read as outputs instead of failing the run.
    let output = tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .arg(fixture("cursor"))
        .output()
        .unwrap();
    let report = json(&output);
    let formats: Vec<&str> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["format"].as_str().unwrap())
        .collect();
    assert!(formats.contains(&"cursor-daily"), "{formats:?}");
    assert!(formats.contains(&"cursor-events"), "{formats:?}");
}

#[test]
fn pull_requests_one_per_line_quarantine_a_cut_line_and_read_the_rest() {
    // `gh pr list --json ... --jq '.[]'` prints one pull request per line; an export cut off
    // mid-line loses that line only, named by its line, and is read like the array.
    let tmp = tempfile::tempdir().unwrap();
    let usage = shop_usage(tmp.path());
    let prs: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture("github-prs/gh-pr-list.json")).unwrap(),
    )
    .unwrap();
    let mut lines: Vec<String> = prs.iter().map(|p| p.to_string()).collect();
    let cut = lines[0][..lines[0].len() / 2].to_string();
    lines.push(cut);
    let path = tmp.path().join("prs.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let quarantine = tmp.path().join("q.csv");
    let run = |outputs: &std::path::Path| {
        let output = tokenaudit()
            .args(["audit", "-q", "--format", "json", "--usage"])
            .arg(&usage)
            .args(["--outputs-format", "github-prs", "--outputs"])
            .arg(outputs)
            .arg("--quarantine")
            .arg(&quarantine)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        json(&output)
    };
    let as_array = run(std::path::Path::new(&fixture("github-prs/gh-pr-list.json")));
    let by_line = run(&path);
    let rejected = std::fs::read_to_string(&quarantine).unwrap();
    assert!(
        rejected.contains(&format!("line {} is not JSON", prs.len() + 1)),
        "{rejected}"
    );
    assert_eq!(
        by_line["ingest"]["rows_valid"], as_array["ingest"]["rows_valid"],
        "the same pull requests, read one per line"
    );
    assert_eq!(
        by_line["ingest"]["rows_quarantined"].as_u64().unwrap(),
        as_array["ingest"]["rows_quarantined"].as_u64().unwrap() + 1
    );
}

#[test]
fn logs_read_together_and_a_file_read_alone_go_into_one_run() {
    // A folder of session logs (read many files at once, rows tagged by file) beside a single
    // canonical file (read alone): one run, the sum of the two runs apart. The two kinds of
    // input once disagreed on the type of the file index and the run failed.
    let spend = |paths: &[String]| {
        let output = tokenaudit()
            .args(["spend", "-q", "--format", "json", "--usage"])
            .args(paths)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        json(&output)["totals"]["tokens"].as_u64().unwrap()
    };
    let logs = fixture("claude-code");
    let csv = fixture("demo/usage.csv");
    let together = spend(&[logs.clone(), csv.clone()]);
    assert_eq!(together, spend(&[logs]) + spend(&[csv]));
}

#[test]
fn vendor_files_read_together_keep_each_files_rows_and_quarantine_apart() {
    // Three OpenTelemetry exports of a rotating collector are read at once (one frame, rows
    // tagged by file): the copies count once, rows read are per file, and a bad line in the
    // second file is quarantined under that file and its own line.
    let tmp = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(fixture("otel/collector/claude-code.jsonl")).unwrap();
    let lines = original.lines().count();
    for name in ["a", "b", "c"] {
        let mut text = original.clone();
        if name == "b" {
            text.push_str("{\"resourceLogs\": [\n");
        }
        std::fs::write(tmp.path().join(format!("{name}.jsonl")), text).unwrap();
    }
    let elsewhere = tempfile::tempdir().unwrap();
    let quarantine = elsewhere.path().join("q.csv");
    let run = |usage: &std::path::Path| {
        let output = tokenaudit()
            .args(["audit", "-q", "--format", "json", "--usage"])
            .arg(usage)
            .arg("--quarantine")
            .arg(&quarantine)
            .output()
            .unwrap();
        json(&output)
    };
    let one = run(std::path::Path::new(&fixture(
        "otel/collector/claude-code.jsonl",
    )));
    let three = run(tmp.path());
    assert_eq!(three["totals"], one["totals"]);
    let rows = |report: &serde_json::Value| report["ingest"]["rows_read"].as_u64().unwrap();
    assert_eq!(rows(&three), 3 * rows(&one) + 1);
    let quarantined = |r: &serde_json::Value| r["ingest"]["rows_quarantined"].as_u64().unwrap();
    assert_eq!(quarantined(&three), 3 * quarantined(&one) + 1);
    let inputs = three["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 3);
    assert!(inputs.iter().all(|i| i["format"] == "otel"));
    let rejected = std::fs::read_to_string(&quarantine).unwrap();
    let cut = format!("b.jsonl,{},", lines + 1);
    assert_eq!(
        rejected.lines().filter(|row| row.contains(&cut)).count(),
        1,
        "{rejected}"
    );
    for name in ["a.jsonl", "b.jsonl", "c.jsonl"] {
        let own = rejected.lines().filter(|row| row.contains(name)).count() as u64;
        assert_eq!(
            own,
            quarantined(&one) + u64::from(name == "b.jsonl"),
            "{rejected}"
        );
    }
}
