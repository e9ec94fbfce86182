//! `tokenaudit review` and reviews in an audit: add, list, remove; a live review closes or
//! confirms a finding, an expired one stops matching, a stale one is reported; `--fail-on`
//! counts only open findings.

use std::path::Path;

use super::{audit_demo, json, tokenaudit};

fn review(file: &Path, args: &[&str]) -> std::process::Output {
    tokenaudit()
        .arg("review")
        .args(args)
        .arg("--reviews")
        .arg(file)
        .output()
        .unwrap()
}

fn demo_with(file: &Path, extra: &[&str]) -> std::process::Output {
    let path = file.display().to_string();
    let mut args = vec!["-q", "--format", "json", "--reviews", path.as_str()];
    args.extend(extra);
    audit_demo(&args)
}

#[test]
fn reviews_are_added_listed_and_removed_in_a_plain_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("reviews.toml");
    let added = review(
        &file,
        &[
            "add",
            "--agent",
            "a@x",
            "--code",
            "ta302",
            "--verdict",
            "planned",
            "--reason",
            "approved research spike",
            "--by",
            "maria",
            "--expires",
            "2999-01-31",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("added review R1"));
    let second = review(
        &file,
        &[
            "add",
            "--agent",
            "b@x",
            "--verdict",
            "expected",
            "--reason",
            "migration week",
        ],
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("added review R2"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("[[review]]") && text.contains("code = \"TA302\""),
        "{text}"
    );
    assert!(text.contains("by = \"maria\"") && text.contains("expires = \"2999-01-31\""));

    let listed = json(&review(&file, &["list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["verdict"], "planned");
    assert_eq!(listed[1]["agent"], "b@x");

    assert!(review(&file, &["remove", "--id", "R1"]).status.success());
    let listed = json(&review(&file, &["list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], "R2");

    // Mistakes are exit 2 with what to do, and leave the file alone.
    let missing = review(&file, &["remove", "--id", "R9"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("review list"));
    let unknown = review(
        &file,
        &[
            "add",
            "--agent",
            "a",
            "--code",
            "TA999",
            "--verdict",
            "expected",
            "--reason",
            "x",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    let bad_date = review(
        &file,
        &[
            "add",
            "--agent",
            "a",
            "--verdict",
            "expected",
            "--reason",
            "x",
            "--expires",
            "soon",
        ],
    );
    assert_eq!(bad_date.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&file)
            .unwrap()
            .matches("[[review]]")
            .count(),
        1
    );
}

#[test]
fn reviews_close_confirm_expire_and_go_stale_and_fail_on_counts_open_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("reviews.toml");
    let plain = json(&audit_demo(&["-q", "--format", "json"]));
    let findings = plain["findings"].as_array().unwrap();
    let mut agents: Vec<String> = Vec::new();
    for f in findings {
        let agent = f["agent"].as_str().unwrap().to_string();
        if !agents.contains(&agent) {
            agents.push(agent);
        }
    }
    assert!(agents.len() >= 2, "two flagged agents at least");
    let first = &agents[0];

    // Every flagged agent explained: nothing open, so --fail-on low passes.
    for agent in &agents {
        let added = review(
            &file,
            &[
                "add",
                "--agent",
                agent,
                "--verdict",
                "expected",
                "--reason",
                "migration week",
            ],
        );
        assert!(added.status.success());
    }
    let closed = demo_with(&file, &["--fail-on", "low"]);
    assert_eq!(
        closed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    let report = json(&closed);
    for finding in report["findings"].as_array().unwrap() {
        assert_eq!(finding["state"], "reviewed");
        assert_eq!(finding["review"]["verdict"], "expected");
        assert_eq!(finding["review"]["reason"], "migration week");
    }
    assert_eq!(report["reviews"]["matched"], findings.len());
    // Reviews change no number: the findings are the same apart from their review.
    let mut stripped = report["findings"].clone();
    for f in stripped.as_array_mut().unwrap() {
        let f = f.as_object_mut().unwrap();
        f.remove("state");
        f.remove("review");
    }
    assert_eq!(stripped, plain["findings"]);

    // The first agent's review replaced by a confirmation: its finding is open again.
    assert!(review(&file, &["remove", "--id", "R1"]).status.success());
    review(
        &file,
        &[
            "add",
            "--agent",
            first,
            "--verdict",
            "unexpected",
            "--reason",
            "confirmed waste",
        ],
    );
    let confirmed = demo_with(&file, &["--fail-on", "low"]);
    assert_eq!(confirmed.status.code(), Some(1));
    let report = json(&confirmed);
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["agent"] == first.as_str())
        .unwrap();
    assert_eq!(finding["review"]["verdict"], "unexpected");

    // An expired review stops matching and is reported; a stale one is reported, not an error.
    let text = std::fs::read_to_string(&file).unwrap();
    let expired_text = text.replace(
        "reason = \"confirmed waste\"",
        "reason = \"confirmed waste\"\nexpires = \"2000-01-31\"",
    );
    let stale = "\n[[review]]\nid = \"R90\"\nagent = \"someone.who.left@corp.example\"\nverdict = \"planned\"\nreason = \"x\"\nby = \"y\"\nat = \"2026-12-01\"\n\n[[review]]\nid = \"R91\"\nagent = \"AGENT\"\ncode = \"TA999\"\nverdict = \"planned\"\nreason = \"x\"\nby = \"y\"\nat = \"2026-12-01\"\n"
        .replace("AGENT", &agents[1]);
    std::fs::write(&file, format!("{expired_text}{stale}")).unwrap();
    let report = json(&demo_with(&file, &[]));
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["agent"] == first.as_str())
        .unwrap();
    assert!(
        finding.get("review").is_none(),
        "an expired review matches nothing"
    );
    assert!(finding.get("state").is_none());
    let expired = report["reviews"]["expired"].as_array().unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["agent"], first.as_str());
    let stale: Vec<&str> = report["reviews"]["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(stale, ["R90", "R91"]);

    // The terminal and Markdown reports say it too.
    let markdown = audit_demo(&[
        "-q",
        "--format",
        "markdown",
        "--reviews",
        &file.display().to_string(),
    ]);
    let text = String::from_utf8_lossy(&markdown.stdout);
    assert!(
        text.contains("expired review") && text.contains("stale review R90"),
        "{text}"
    );
    assert!(text.contains("**expected**"), "{text}");
    // Reviewed findings are a group apart, after the others.
    let reviewed = text.find("### Reviewed (").expect("a reviewed group");
    let open = text.find("### Not reviewed (").expect("an open group");
    assert!(open < reviewed, "{text}");

    let html = audit_demo(&[
        "-q",
        "--format",
        "html",
        "--reviews",
        &file.display().to_string(),
    ]);
    let text = String::from_utf8_lossy(&html.stdout);
    assert!(
        text.contains("<b>expected</b> by"),
        "the card shows the decision"
    );
    assert!(
        text.contains("<details><summary>Reasons</summary>"),
        "a closed finding's reasons are collapsed"
    );
    assert!(text.contains("stale review R90"));
    assert!(text.contains("<h3>Reviewed ("), "the HTML groups them too");

    // A --reviews file that does not exist is an error; the default file is optional.
    let missing = demo_with(&tmp.path().join("nope.toml"), &[]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn a_confirmed_new_finding_still_fails_a_new_only_gate_and_review_files_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("reviews.toml");
    let plain = json(&audit_demo(&["-q", "--format", "json"]));
    let first = plain["findings"][0]["agent"].as_str().unwrap().to_string();
    let added = review(
        &file,
        &[
            "add",
            "--agent",
            &first,
            "--weeks",
            "2026-9-7",
            "--verdict",
            "unexpected",
            "--reason",
            "confirmed",
        ],
    );
    assert!(added.status.success());
    // Dates are written one way, so that they match the report's.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("weeks = [\"2026-09-07\"]"), "{text}");

    // On a new store every finding is new; the confirmed one stays new and open.
    let store = tmp.path().join("history").display().to_string();
    let gate = demo_with(
        &file,
        &["--history", &store, "--fail-on", "low", "--new-only"],
    );
    assert_eq!(gate.status.code(), Some(1));
    let report = json(&gate);
    let confirmed = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["agent"] == first.as_str())
        .unwrap();
    assert_eq!(confirmed["state"], "new");
    assert_eq!(confirmed["review"]["verdict"], "unexpected");

    // Two reviews with one id: refused, naming the file.
    let twice = format!("{text}\n{}", &text[text.find("[[review]]").unwrap()..]);
    std::fs::write(&file, twice).unwrap();
    let refused = demo_with(&file, &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("two reviews have the id R1"));
    let empty_agent = review(
        &tmp.path().join("other.toml"),
        &[
            "add",
            "--agent",
            " ",
            "--verdict",
            "expected",
            "--reason",
            "x",
        ],
    );
    assert_eq!(empty_agent.status.code(), Some(2));
}
