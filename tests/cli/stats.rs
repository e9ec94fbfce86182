//! `tokenaudit stats` and `audit --stats`: the stats contract as files. An audit from stats is
//! the audit from raw logs byte for byte; stats computed per week or per agent merge to the
//! same audit; a folder of other settings, another version, a changed file or two shards of
//! one agent-week are refused, each with what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{json, tokenaudit, without_inputs};

/// An eight-week planted company as CSV (so that a test can split it): usage, outputs,
/// identities.
fn company(dir: &Path) -> [PathBuf; 3] {
    super::generate(dir, 40, 8, 11, &["--usage-format", "csv"]);
    ["usage.csv", "outputs.csv", "identities.csv"].map(|f| dir.join(f))
}

fn run(args: &[&str], paths: &[(&str, &Path)]) -> std::process::Output {
    let mut command = tokenaudit();
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    command.output().unwrap()
}

/// What a shard of a CSV line is, from its fields.
type ShardKey<'a> = dyn Fn(&[&str]) -> String + 'a;

/// Splits a CSV file into parts by `key` of each line's fields, the header in every part.
fn split_csv(file: &Path, out: &Path, key: impl Fn(&[&str]) -> String) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut parts: BTreeMap<String, String> = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let part = parts
            .entry(key(&fields))
            .or_insert_with(|| format!("{header}\n"));
        part.push_str(line);
        part.push('\n');
    }
    std::fs::create_dir_all(out).unwrap();
    parts
        .into_iter()
        .map(|(key, text)| {
            let path = out.join(format!("usage-{key}.csv"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

#[test]
fn an_audit_from_stats_is_the_audit_from_raw_logs_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let [usage, outputs, identities] = company(&tmp.path().join("company"));
    // New York changes its clocks on 2026-11-01, inside the company's weeks.
    let zone = ["--tz", "America/New_York"];
    let report = |format: &str, source: (&str, &Path)| {
        let output = run(
            &[&["audit", "-q", "--format", format], &zone[..]].concat(),
            &[
                source,
                ("--outputs", &outputs),
                ("--identities", &identities),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        output.stdout
    };
    let stats = tmp.path().join("stats");
    let written = run(
        &[&["stats", "-q"], &zone[..]].concat(),
        &[
            ("--usage", &usage),
            ("--identities", &identities),
            ("--to", &stats),
        ],
    );
    assert_eq!(written.status.code(), Some(0), "{written:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stats.join("stats.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "tokenaudit-stats");
    assert_eq!(manifest["parameters"]["tz"], "America/New_York");
    for format in ["json", "table", "markdown"] {
        assert_eq!(
            String::from_utf8(report(format, ("--usage", &usage))).unwrap(),
            String::from_utf8(report(format, ("--stats", &stats))).unwrap(),
            "{format}"
        );
    }
    // spend reads stats too.
    let spend = |source: (&str, &Path)| {
        let output = run(
            &[&["spend", "-q", "--format", "csv"], &zone[..]].concat(),
            &[source, ("--identities", &identities)],
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        output.stdout
    };
    assert_eq!(spend(("--usage", &usage)), spend(("--stats", &stats)));
}

#[test]
fn stats_sharded_by_week_or_by_agent_merge_to_the_unsharded_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let [usage, outputs, identities] = company(&tmp.path().join("company"));
    let canonical: BTreeMap<String, String> = std::fs::read_to_string(&identities)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0].to_string(), fields[1].to_string())
        })
        .collect();
    let whole = json(&run(
        &["audit", "-q", "--format", "json"],
        &[
            ("--usage", &usage),
            ("--outputs", &outputs),
            ("--identities", &identities),
        ],
    ));
    assert!(!whole["findings"].as_array().unwrap().is_empty());
    // By week (UTC Mondays: ts is the first field), and by agent (two halves of the
    // canonical names, so that every alias of an agent is in one shard).
    let by_week = |fields: &[&str]| -> String {
        let day: chrono::NaiveDate = fields[0][..10].parse().unwrap();
        let monday = day
            - chrono::Duration::days(chrono::Datelike::weekday(&day).num_days_from_monday() as i64);
        monday.to_string()
    };
    let by_agent = |fields: &[&str]| -> String {
        let agent = canonical.get(fields[1]).map_or(fields[1], String::as_str);
        (if agent < "m" { "a-l" } else { "m-z" }).to_string()
    };
    let shardings: [(&str, &ShardKey<'_>); 2] = [("week", &by_week), ("agent", &by_agent)];
    for (name, key) in shardings {
        let shards = split_csv(&usage, &tmp.path().join(name), key);
        assert!(shards.len() >= 2, "{name}");
        let mut command = tokenaudit();
        command.args(["audit", "-q", "--format", "json", "--stats"]);
        for (i, shard) in shards.iter().enumerate() {
            let dir = tmp.path().join(format!("{name}-stats-{i}"));
            let written = run(
                &["stats", "-q"],
                &[
                    ("--usage", shard),
                    ("--identities", &identities),
                    ("--to", &dir),
                ],
            );
            assert_eq!(written.status.code(), Some(0), "{written:?}");
            command.arg(dir);
        }
        command
            .arg("--outputs")
            .arg(&outputs)
            .arg("--identities")
            .arg(&identities);
        let merged = json(&command.output().unwrap());
        // The inputs name the shards' files; everything else is the same, the accounting of
        // rows included.
        assert_eq!(
            without_inputs(merged.clone()),
            without_inputs(whole.clone()),
            "sharded by {name}"
        );
        let rows = |report: &serde_json::Value| -> u64 {
            report["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["format"] != "identities-csv")
                .map(|i| i["rows"].as_u64().unwrap())
                .sum()
        };
        assert_eq!(rows(&merged), rows(&whole));
    }
}

#[test]
fn stats_of_other_settings_versions_or_bytes_are_refused_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let [usage, outputs, identities] = company(&tmp.path().join("company"));
    let stats = tmp.path().join("stats");
    let written = run(
        &["stats", "-q"],
        &[
            ("--usage", &usage),
            ("--outputs", &outputs),
            ("--identities", &identities),
            ("--to", &stats),
        ],
    );
    assert_eq!(written.status.code(), Some(0), "{written:?}");
    let audit = |extra: &[&str], dirs: &[&Path], with_outputs: bool| {
        let mut command = tokenaudit();
        command
            .args(["audit", "-q", "--format", "json"])
            .args(extra);
        command.arg("--stats").args(dirs);
        if with_outputs {
            command.arg("--outputs").arg(&outputs);
        }
        command.output().unwrap()
    };
    let refused = |output: std::process::Output, says: &str| {
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "expected `{says}` in:\n{stderr}");
        assert!(stderr.contains("hint:"), "{stderr}");
    };
    // The stats hold outputs: an audit of them alone works, one that adds --outputs is refused.
    assert_eq!(audit(&[], &[&stats], false).status.code(), Some(0));
    refused(audit(&[], &[&stats], true), "Outputs were given twice");
    refused(
        audit(&["--tz", "Europe/Berlin"], &[&stats], false),
        "was computed with --tz UTC, this run uses Europe/Berlin",
    );
    refused(
        audit(&["--week-start", "sunday"], &[&stats], false),
        "--week-start",
    );
    refused(
        audit(&[], &[&stats, &stats], false),
        "both hold the week of",
    );
    refused(
        audit(&[], &[&tmp.path().join("company")], false),
        "has no stats.json",
    );

    let copy = |name: &str| -> PathBuf {
        let to = tmp.path().join(name);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&stats).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
        to
    };
    let damaged = copy("damaged");
    let days = damaged.join("days.parquet");
    let mut bytes = std::fs::read(&days).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&days, bytes).unwrap();
    refused(
        audit(&[], &[&damaged], false),
        "does not match its checksum",
    );

    let older = copy("older");
    let manifest = older.join("stats.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"stats_version\": 5", "\"stats_version\": 2"),
    )
    .unwrap();
    refused(audit(&[], &[&older], false), "holds stats version 2");
    // Version 4 (outputs without their repository) is still read, to the same report.
    let four = copy("four");
    std::fs::write(
        four.join("stats.json"),
        text.replace("\"stats_version\": 5", "\"stats_version\": 4"),
    )
    .unwrap();
    let (now, then) = (audit(&[], &[&stats], false), audit(&[], &[&four], false));
    assert_eq!(then.status.code(), Some(0), "{then:?}");
    let findings = |o: &std::process::Output| {
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        report["findings"].clone()
    };
    assert_eq!(findings(&now), findings(&then));

    // stats needs usage files; ingest cannot read stats.
    let no_usage = run(
        &["stats", "-q"],
        &[("--stats", &stats), ("--to", &tmp.path().join("again"))],
    );
    assert_eq!(no_usage.status.code(), Some(2), "{no_usage:?}");
    let ingest = run(
        &["ingest", "-q"],
        &[
            ("--stats", &stats),
            ("--to", &tmp.path().join("rows.parquet")),
        ],
    );
    assert_eq!(ingest.status.code(), Some(2), "{ingest:?}");
}

#[test]
fn copies_of_a_request_across_midnight_count_once_whatever_the_command() {
    // A streamed message whose chunks straddle midnight in New York (04:00 UTC), and one more
    // request: 1,000 + 900 tokens once, plus 30.
    let tmp = tempfile::tempdir().unwrap();
    let usage = tmp.path().join("usage.csv");
    std::fs::write(
        &usage,
        "ts,agent,model,input_tokens,output_tokens,request_id\n\
         2026-09-08T03:59:58Z,ana,claude-sonnet-4-5-20250929,1000,300,msg_1\n\
         2026-09-08T04:00:01Z,ana,claude-sonnet-4-5-20250929,1000,900,msg_1\n\
         2026-09-08T05:00:00Z,ana,claude-sonnet-4-5-20250929,10,20,msg_2\n",
    )
    .unwrap();
    let tokens = |source: (&str, &Path)| -> u64 {
        let report = json(&run(
            &[
                "spend",
                "-q",
                "--format",
                "json",
                "--tz",
                "America/New_York",
            ],
            &[source],
        ));
        report["totals"]["tokens"].as_u64().unwrap()
    };
    assert_eq!(tokens(("--usage", &usage)), 1_930, "spend");
    let rows = tmp.path().join("rows.parquet");
    let ingested = run(
        &["ingest", "-q", "--tz", "America/New_York"],
        &[("--usage", &usage), ("--to", &rows)],
    );
    assert_eq!(ingested.status.code(), Some(0), "{ingested:?}");
    assert_eq!(tokens(("--usage", &rows)), 1_930, "spend of ingest's rows");
    let stats = tmp.path().join("stats");
    let written = run(
        &["stats", "-q", "--tz", "America/New_York"],
        &[("--usage", &usage), ("--to", &stats)],
    );
    assert_eq!(written.status.code(), Some(0), "{written:?}");
    assert_eq!(tokens(("--stats", &stats)), 1_930, "spend of the stats");
}

/// The list costs `ingest --to` writes add up, per agent, model and local day, to what `spend`
/// prices the logs at, so a finance total is the same to the micro-dollar whichever file it
/// came from (rounded row by row they drifted by cents on a gigabyte of logs). Claude Code logs,
/// whose list costs mostly end in fractions of a micro-dollar, in New York's days.
#[test]
fn spend_of_ingests_rows_is_spend_of_the_logs_to_the_micro_dollar() {
    let tmp = tempfile::tempdir().unwrap();
    let company = tmp.path().join("company");
    let generated = run(
        &[
            "generate",
            "-q",
            "--agents",
            "4",
            "--weeks",
            "1",
            "--seed",
            "3",
            "--usage-format",
            "claude-code",
        ],
        &[("--out", &company)],
    );
    assert_eq!(generated.status.code(), Some(0), "{generated:?}");
    let logs = company.join("claude-code");
    let zone = ["--tz", "America/New_York"];
    let rows = tmp.path().join("rows.parquet");
    let ingested = run(
        &[&["ingest", "-q"][..], &zone].concat(),
        &[("--usage", &logs), ("--to", &rows)],
    );
    assert_eq!(ingested.status.code(), Some(0), "{ingested:?}");
    let spend = |usage: &Path| -> String {
        let args = [
            &[
                "spend",
                "-q",
                "--format",
                "csv",
                "--by",
                "team,agent,model,week",
            ][..],
            &zone,
        ]
        .concat();
        let output = run(&args, &[("--usage", usage)]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let (of_logs, of_rows) = (spend(&logs), spend(&rows));
    assert!(of_logs.lines().count() > 4, "{of_logs}");
    assert_eq!(of_logs, of_rows);
}
