//! `--history`: a company fed one week at a time audits as all its weeks at once, a week is
//! counted from one source only, a failed write leaves the store as it was, and findings carry
//! their state across runs (`--new-only`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};

use super::{json, tokenaudit};

/// A company of eight weeks (every inflator archetype), as CSV so a test can split it.
fn company(dir: &Path) {
    super::generate(dir, 60, 8, 5, &["--usage-format", "csv"]);
}

/// A temporary folder with the company in `company/`, and its usage, outputs and identities.
fn planted_company() -> (tempfile::TempDir, [PathBuf; 3]) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("company");
    company(&data);
    let files = ["usage.csv", "outputs.csv", "identities.csv"].map(|f| data.join(f));
    (tmp, files)
}

/// The Monday of a CSV line's `ts` (column `ts_index`).
fn week_of(line: &str, ts_index: usize) -> NaiveDate {
    let ts = line.split(',').nth(ts_index).expect("a ts field");
    let day: NaiveDate = ts[..10].parse().expect("an ISO date");
    day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// Splits a CSV file by the week of its `ts` (or by `keep` on the line's date), keeping the
/// header in every part: week → path.
fn split(
    file: &Path,
    out: &Path,
    keep: impl Fn(NaiveDate) -> bool,
) -> BTreeMap<NaiveDate, PathBuf> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let ts_index = header
        .split(',')
        .position(|c| c == "ts")
        .expect("a ts column");
    let mut parts: BTreeMap<NaiveDate, String> = BTreeMap::new();
    for line in lines {
        let day: NaiveDate = line.split(',').nth(ts_index).unwrap()[..10]
            .parse()
            .unwrap();
        if !keep(day) {
            continue;
        }
        let part = parts
            .entry(week_of(line, ts_index))
            .or_insert_with(|| format!("{header}\n"));
        part.push_str(line);
        part.push('\n');
    }
    std::fs::create_dir_all(out).unwrap();
    let name = file.file_stem().unwrap().to_string_lossy().to_string();
    parts
        .into_iter()
        .map(|(week, text)| {
            let path = out.join(format!("{name}-{week}.csv"));
            std::fs::write(&path, text).unwrap();
            (week, path)
        })
        .collect()
}

fn audit(
    usage: &[&Path],
    outputs: &[&Path],
    identities: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut command = tokenaudit();
    command.args(["audit", "-q", "--format", "json"]);
    for path in usage {
        command.arg("--usage").arg(path);
    }
    for path in outputs {
        command.arg("--outputs").arg(path);
    }
    command.arg("--identities").arg(identities).args(extra);
    command.output().unwrap()
}

/// The report's findings without their run-to-run state, which a run without a store lacks.
fn findings(report: &serde_json::Value) -> serde_json::Value {
    let mut findings = report["findings"].clone();
    for finding in findings.as_array_mut().unwrap() {
        finding.as_object_mut().unwrap().remove("state");
        finding.as_object_mut().unwrap().remove("previous_severity");
    }
    findings
}

#[test]
fn a_company_fed_one_week_at_a_time_audits_like_all_its_weeks_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("company");
    company(&data);
    let identities = data.join("identities.csv");
    let usage = split(&data.join("usage.csv"), &tmp.path().join("weekly"), |_| {
        true
    });
    let outputs = split(
        &data.join("outputs.csv"),
        &tmp.path().join("weekly"),
        |_| true,
    );
    assert_eq!(usage.len(), 8, "eight weeks of usage");

    let store = tmp.path().join("history");
    let store_arg = store.display().to_string();
    let mut last = None;
    for (i, (week, usage_file)) in usage.iter().enumerate() {
        let outputs_file: Vec<&Path> = outputs.get(week).map(|p| p.as_path()).into_iter().collect();
        // Each run declares the week its export covers, as a weekly job would.
        let (since, until) = (
            week.to_string(),
            (*week + chrono::Duration::days(6)).to_string(),
        );
        let output = audit(
            &[usage_file],
            &outputs_file,
            &identities,
            &[
                "--history",
                &store_arg,
                "--since",
                &since,
                "--until",
                &until,
            ],
        );
        assert!(
            output.status.code() == Some(0),
            "run {} failed: {}",
            i + 1,
            String::from_utf8_lossy(&output.stderr)
        );
        let report = json(&output);
        let history = &report["history"];
        assert_eq!(history["run"], i as u64 + 1);
        assert_eq!(
            history["weeks_stored"],
            serde_json::json!([week.to_string()])
        );
        assert_eq!(history["weeks_from_history"].as_array().unwrap().len(), i);
        // The raw logs of a stored week are deleted: the next run never needs them.
        std::fs::remove_file(usage_file).unwrap();
        last = Some(report);
    }
    let last = last.unwrap();

    let whole = json(&audit(
        &[&data.join("usage.csv")],
        &[&data.join("outputs.csv")],
        &identities,
        &[],
    ));
    assert!(
        !whole["findings"].as_array().unwrap().is_empty(),
        "the planted company has findings to compare"
    );
    assert_eq!(
        serde_json::to_string(&last["agents"]).unwrap(),
        serde_json::to_string(&whole["agents"]).unwrap(),
        "agents of the eighth weekly run and of one audit of all eight weeks"
    );
    assert_eq!(
        serde_json::to_string(&findings(&last)).unwrap(),
        serde_json::to_string(&findings(&whole)).unwrap(),
        "findings of the eighth weekly run and of one audit of all eight weeks"
    );
    assert_eq!(last["period"], whole["period"]);
    // The eighth run raised what the seventh did, mostly: every finding has a state.
    assert!(last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["state"] == "new" || f["state"] == "ongoing"));

    // The HTML timelines mark the weeks that came from the store.
    let html = tokenaudit()
        .args(["audit", "-q", "--format", "html", "--usage"])
        .arg(data.join("usage.csv"))
        .arg("--outputs")
        .arg(data.join("outputs.csv"))
        .arg("--identities")
        .arg(&identities)
        .args([
            "--history",
            &store_arg,
            "--since",
            "2026-10-26",
            "--until",
            "2026-11-01",
        ])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&html.stdout);
    assert!(
        page.contains("weeks marked * (7) come from the history store"),
        "the timeline caption names the stored weeks"
    );

    // The manifest names every week, and the files are there for DuckDB or polars.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("history.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["weeks"].as_object().unwrap().len(), 8);
    for week in usage.keys() {
        let folder = store.join("weeks").join(format!("week={week}"));
        let files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(files.len(), 5, "{folder:?}: {files:?}");
    }
}

#[test]
fn a_week_is_counted_from_one_source_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("company");
    company(&data);
    let identities = data.join("identities.csv");
    let outputs = data.join("outputs.csv");
    let weeks: Vec<NaiveDate> = split(&data.join("usage.csv"), &tmp.path().join("w"), |_| true)
        .into_keys()
        .collect();
    let (seventh, eighth) = (weeks[6], weeks[7]);
    let thursday = |week: NaiveDate| week + chrono::Duration::days(3);
    let part = |name: &str, keep: &dyn Fn(NaiveDate) -> bool| -> PathBuf {
        let parts = split(&data.join("usage.csv"), &tmp.path().join(name), keep);
        let text: String = parts
            .values()
            .enumerate()
            .map(|(i, p)| {
                let text = std::fs::read_to_string(p).unwrap();
                if i == 0 {
                    text
                } else {
                    text.lines().skip(1).map(|l| format!("{l}\n")).collect()
                }
            })
            .collect();
        let path = tmp.path().join(format!("{name}.csv"));
        std::fs::write(&path, text).unwrap();
        path
    };
    // Run one: the first seven weeks, whole. Run two: the eighth week until Wednesday.
    // Run three: the eighth week from Thursday, and the seventh from Thursday (which the store
    // holds whole).
    let first_seven = part("first-seven", &|d| d < eighth);
    let early_eighth = part("early-eighth", &|d| d >= eighth && d < thursday(eighth));
    let late = part("late", &|d| {
        (d >= thursday(seventh) && d < eighth) || d >= thursday(eighth)
    });
    let store = tmp.path().join("history").display().to_string();
    let with_store = ["--history", store.as_str()];

    let (since, until) = (
        weeks[0].to_string(),
        (eighth - chrono::Duration::days(1)).to_string(),
    );
    let one = json(&audit(
        &[&first_seven],
        &[&outputs],
        &identities,
        &[
            "--history",
            store.as_str(),
            "--since",
            &since,
            "--until",
            &until,
        ],
    ));
    assert_eq!(one["history"]["weeks_stored"].as_array().unwrap().len(), 7);
    let two = json(&audit(
        &[&early_eighth],
        &[&outputs],
        &identities,
        &with_store,
    ));
    assert_eq!(
        two["history"]["weeks_partial"],
        serde_json::json!([eighth.to_string()])
    );
    assert_eq!(two["history"]["weeks_stored"], serde_json::json!([]));
    let three = json(&audit(&[&late], &[&outputs], &identities, &with_store));
    let history = &three["history"];
    assert_eq!(
        history["weeks_partial"],
        serde_json::json!([eighth.to_string()])
    );
    // The seventh week's usage rows, and the outputs of weeks one to seven, are left out:
    // the store holds those weeks whole.
    let superseded: Vec<String> = weeks[..7].iter().map(|w| w.to_string()).collect();
    assert_eq!(history["weeks_superseded"], serde_json::json!(superseded));
    assert_eq!(history["weeks_stored"], serde_json::json!([]));
    assert_eq!(history["weeks_from_history"].as_array().unwrap().len(), 7);

    // Run three counts weeks one to seven once, from the store, and of the eighth only its own
    // rows: the same agents as one audit of exactly those rows.
    let expected_rows = part("expected", &|d| d < eighth || d >= thursday(eighth));
    let expected = json(&audit(&[&expected_rows], &[&outputs], &identities, &[]));
    assert_eq!(
        serde_json::to_string(&three["agents"]).unwrap(),
        serde_json::to_string(&expected["agents"]).unwrap()
    );
    assert_eq!(three["totals"]["tokens"], expected["totals"]["tokens"]);
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn a_failed_write_leaves_the_store_as_it_was_and_states_follow_the_runs() {
    let (tmp, [usage, outputs, identities]) = planted_company();
    let store = tmp.path().join("history").display().to_string();
    let gate = ["--history", store.as_str(), "--fail-on", "low"];
    let gate_new = [
        "--history",
        store.as_str(),
        "--fail-on",
        "low",
        "--new-only",
    ];

    // The first run: every finding is new, and the gate fails on them.
    let first = audit(&[&usage], &[&outputs], &identities, &gate_new);
    assert_eq!(first.status.code(), Some(1));
    let first = json(&first);
    assert!(!first["findings"].as_array().unwrap().is_empty());
    assert!(first["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["state"] == "new" && f["id"].as_str().unwrap().starts_with("F-")));
    let before = snapshot(tmp.path().join("history").as_path());

    // A write made to fail: exit 2, every file of the store as it was.
    let failed = tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .arg(&usage)
        .arg("--outputs")
        .arg(&outputs)
        .arg("--identities")
        .arg(&identities)
        .args(gate)
        .env("TOKENAUDIT_HISTORY_FAIL_BEFORE_COMMIT", "1")
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("was not written"));
    assert_eq!(snapshot(tmp.path().join("history").as_path()), before);

    // The same input again: every finding is ongoing; --new-only passes, the plain gate fails.
    let second = audit(&[&usage], &[&outputs], &identities, &gate_new);
    assert_eq!(second.status.code(), Some(0));
    let second = json(&second);
    assert_eq!(second["history"]["previous_run"], 1);
    assert_eq!(second["history"]["run"], 2, "the failed run took no number");
    assert!(second["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["state"] == "ongoing"));
    assert_eq!(second["history"]["resolved"], serde_json::json!([]));
    let plain = audit(&[&usage], &[&outputs], &identities, &gate);
    assert_eq!(plain.status.code(), Some(1));

    // Only the last week audited: what it no longer raises is resolved, never also current.
    let narrow = json(&audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", store.as_str(), "--weeks", "1"],
    ));
    let ids = |report: &serde_json::Value, key: &str| -> std::collections::BTreeSet<String> {
        let list = if key == "resolved" {
            &report["history"]["resolved"]
        } else {
            &report["findings"]
        };
        list.as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (previous, current) = (ids(&second, "findings"), ids(&narrow, "findings"));
    let resolved = ids(&narrow, "resolved");
    assert!(
        !resolved.is_empty(),
        "one week raises fewer findings than eight"
    );
    assert_eq!(
        resolved,
        previous.difference(&current).cloned().collect(),
        "resolved: exactly the previous run's findings this run does not raise"
    );
    for finding in narrow["findings"].as_array().unwrap() {
        let id = finding["id"].as_str().unwrap();
        let expected = if previous.contains(id) {
            "ongoing"
        } else {
            "new"
        };
        assert_eq!(finding["state"], expected, "{id}");
    }

    // Four weeks, then all eight again: what the four-week run raised is ongoing, the rest
    // new, and the table and Markdown list the two groups apart.
    let four = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", store.as_str(), "--weeks", "4"],
    );
    assert_eq!(four.status.code(), Some(0));
    let grouped = |format: &str| {
        let mut command = tokenaudit();
        command
            .args(["audit", "-q", "--format", format, "--usage"])
            .arg(&usage)
            .arg("--outputs")
            .arg(&outputs)
            .arg("--identities")
            .arg(&identities)
            .args(["--history", store.as_str(), "--out"])
            .arg(format!(
                "json={}",
                tmp.path().join("grouped.json").display()
            ))
            .arg("--out")
            .arg(format!(
                "table={}",
                tmp.path().join("grouped.txt").display()
            ));
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8(output.stdout).unwrap()
    };
    let text = grouped("markdown");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("grouped.json")).unwrap()).unwrap();
    let count = |state: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["state"] == state)
            .count()
    };
    let (new, ongoing) = (count("new"), count("ongoing"));
    assert!(new > 0 && ongoing > 0, "{new} new, {ongoing} ongoing");
    let new_title = format!("New since the last stored run ({new})");
    let ongoing_title = format!("Ongoing: the last stored run raised them too ({ongoing})");
    assert!(text.contains(&format!("### {new_title}")), "{text}");
    assert!(text.contains(&format!("### {ongoing_title}")), "{text}");
    assert!(text.find(&new_title) < text.find(&ongoing_title));
    let table = std::fs::read_to_string(tmp.path().join("grouped.txt")).unwrap();
    assert!(
        table.contains(&new_title) && table.contains(&ongoing_title),
        "{table}"
    );
}

#[test]
fn a_store_of_another_version_or_setting_is_refused_with_what_to_do() {
    let (tmp, [usage, outputs, identities]) = planted_company();
    let store = tmp.path().join("history");
    let store_arg = store.display().to_string();
    let ok = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", &store_arg],
    );
    assert_eq!(ok.status.code(), Some(0));

    let other_tz = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", &store_arg, "--tz", "Europe/Berlin"],
    );
    assert_eq!(other_tz.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&other_tz.stderr);
    assert!(
        stderr.contains("--tz UTC") && stderr.contains("Europe/Berlin"),
        "{stderr}"
    );

    let manifest = store.join("history.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen("\"version\": 1", "\"version\": 99", 1),
    )
    .unwrap();
    let refused = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", &store_arg],
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("layout version 99") && stderr.contains("hint:"),
        "{stderr}"
    );

    // A run that is writing holds the store; a lock left by a run that is gone is taken over.
    std::fs::write(&manifest, text.clone()).unwrap();
    let lock = store.join("history.lock");
    std::fs::write(&lock, std::process::id().to_string()).unwrap();
    let busy = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", &store_arg],
    );
    assert_eq!(busy.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(stderr.contains("is writing it"), "{stderr}");
    std::fs::write(&lock, "4000000000").unwrap();
    let taken = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", &store_arg],
    );
    assert_eq!(
        taken.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    assert!(!lock.exists(), "the lock is released");

    // A damaged store file is named, never a panic; a file given as the store is refused
    // before any report is written.
    let days = std::fs::read_dir(store.join("weeks"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let damaged = std::fs::read_dir(&days)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("days-"))
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 64] {
        *byte ^= 0xa9;
    }
    let intact = std::fs::read(&damaged).unwrap();
    std::fs::write(&damaged, &bytes).unwrap();
    let broken = audit(
        &[&usage],
        &[&outputs],
        &identities,
        // No usage row in the window: every week is read from the store.
        &["--history", &store_arg, "--until", "2026-09-01"],
    );
    assert_eq!(
        broken.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
    assert!(String::from_utf8_lossy(&broken.stderr).contains("days-r"));
    std::fs::write(&damaged, intact).unwrap();
    let a_file = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", usage.to_str().unwrap()],
    );
    assert_eq!(a_file.status.code(), Some(2));
    assert!(
        a_file.stdout.is_empty(),
        "nothing is reported before the store is opened"
    );

    let not_a_store = tmp.path().join("notes");
    std::fs::create_dir_all(&not_a_store).unwrap();
    std::fs::write(not_a_store.join("todo.txt"), "x").unwrap();
    let refused = audit(
        &[&usage],
        &[&outputs],
        &identities,
        &["--history", &not_a_store.display().to_string()],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a tokenaudit history store"));

    let no_store = audit(&[&usage], &[&outputs], &identities, &["--new-only"]);
    assert_eq!(no_store.status.code(), Some(2));
}

#[test]
fn every_finding_says_where_its_excess_went() {
    let report = json(&super::audit_demo(&["-q", "--format", "json"]));
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for finding in findings {
        let excess = finding["excess_cost_usd"].as_f64().unwrap();
        let causes = finding["root_causes"].as_array();
        if excess <= 0.0 {
            assert!(causes.is_none(), "{finding}");
            continue;
        }
        let causes = causes.expect("a finding with an excess has root causes");
        // Each split (by model, and by tool where the logs name tools) adds up to the excess.
        for dimension in ["model", "tool"] {
            let parts: Vec<f64> = causes
                .iter()
                .filter(|c| c["dimension"] == dimension)
                .map(|c| c["contribution_usd"].as_f64().unwrap())
                .collect();
            assert!(!parts.is_empty(), "{dimension}: {finding}");
            let sum: f64 = parts.iter().sum();
            // Each part is rounded to the cent.
            assert!(
                (sum - excess).abs() <= 0.01 * parts.len() as f64,
                "{dimension}: the parts add up to the excess: {sum} against {excess}"
            );
            assert!(parts.windows(2).all(|w| w[0] >= w[1]), "largest first");
        }
    }
}

/// The session root causes of an eight-week planted company of `world`'s shape.
fn session_causes(world: &str) -> Vec<(serde_json::Value, Vec<serde_json::Value>)> {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("company");
    tokenaudit()
        .args([
            "generate", "--agents", "40", "--weeks", "8", "--seed", "3", "--world", world, "-q",
            "--out",
        ])
        .arg(&data)
        .assert()
        .success();
    let report = json(&audit(
        &[&data.join("usage.parquet")],
        &[&data.join("outputs.csv")],
        &data.join("identities.csv"),
        &[],
    ));
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let sessions = f["root_causes"]
                .as_array()
                .map(|causes| {
                    causes
                        .iter()
                        .filter(|c| c["dimension"] == "session")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            (f.clone(), sessions)
        })
        .collect()
}

#[test]
fn sessions_are_named_where_the_ids_are_runs_of_work_and_only_there() {
    let runs = session_causes("power-users");
    let with_sessions: Vec<_> = runs.iter().filter(|(_, s)| !s.is_empty()).collect();
    assert!(
        with_sessions.len() * 2 >= runs.len(),
        "most findings name sessions where ids are runs: {} of {}",
        with_sessions.len(),
        runs.len()
    );
    for (finding, sessions) in with_sessions {
        let excess = finding["excess_cost_usd"].as_f64().unwrap();
        let sum: f64 = sessions
            .iter()
            .map(|c| c["contribution_usd"].as_f64().unwrap())
            .sum();
        assert!(
            (sum - excess).abs() <= 0.01 * sessions.len() as f64,
            "sessions add up to the excess: {sum} against {excess}"
        );
        // At most five named, then the remainder.
        assert!(sessions.len() <= 6);
        let named: Vec<_> = sessions
            .iter()
            .filter(|c| c["value"] != "(other sessions)")
            .collect();
        assert!(!named.is_empty());
        assert!(named
            .iter()
            .all(|c| c["value"].as_str().unwrap().starts_with("ses_")));
    }
    let labels = session_causes("session-labels");
    assert!(!labels.is_empty());
    assert!(
        labels.iter().all(|(_, s)| s.is_empty()),
        "session ids that are labels are never named as a root cause"
    );
}

#[test]
fn new_only_gates_on_a_finding_that_grew_to_the_threshold() {
    // A first run without an identity map: a constant inflater whose commits the export left
    // out delivered "nothing", and with no teams and output names matching no one, the peer
    // comparison's finding is a lead (low). The next run has the map, and the same finding is
    // high. It is ongoing, but a CI gate on new findings must not stay silent on a finding
    // that newly reached it.
    let (tmp, [usage, outputs, identities]) = planted_company();
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("company").join("truth.json")).unwrap(),
    )
    .unwrap();
    let inflater = truth["planted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["archetype"] == "constant_inflater")
        .unwrap()["agent"]
        .as_str()
        .unwrap()
        .to_string();
    let mapped = std::fs::read_to_string(&identities).unwrap();
    let aliases: Vec<String> = mapped
        .lines()
        .filter(|l| l.split(',').nth(1) == Some(inflater.as_str()))
        .map(|l| l.split(',').next().unwrap().to_lowercase())
        .collect();
    let without = tmp.path().join("outputs-without.csv");
    let kept: String = std::fs::read_to_string(&outputs)
        .unwrap()
        .lines()
        .filter(|l| !aliases.contains(&l.split(',').nth(1).unwrap().to_lowercase()))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&without, kept).unwrap();
    let no_map = tmp.path().join("no-map.csv");
    std::fs::write(&no_map, "alias,agent\n").unwrap();
    let config = tmp.path().join("peers.toml");
    std::fs::write(&config, "[detect]\nlenses = [\"efficiency\"]\n").unwrap();
    let store = tmp.path().join("history").display().to_string();
    let config = config.display().to_string();
    let gate = [
        "--history",
        store.as_str(),
        "--config",
        config.as_str(),
        "--fail-on",
        "medium",
        "--new-only",
    ];
    let of = |report: &serde_json::Value| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["agent"] == inflater.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{inflater} not found in {report}"))
    };
    let first = audit(&[&usage], &[&without], &no_map, &gate);
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(of(&json(&first))["severity"], "low");

    let second = audit(&[&usage], &[&without], &identities, &gate);
    assert_eq!(second.status.code(), Some(1));
    let grown = of(&json(&second));
    assert_eq!(grown["state"], "ongoing");
    assert_eq!(grown["previous_severity"], "low");
    assert_ne!(grown["severity"], "low");
    // The same run again: nothing grew since, and the gate passes.
    let third = audit(&[&usage], &[&without], &identities, &gate);
    assert_eq!(third.status.code(), Some(0));
}
