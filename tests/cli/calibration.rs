//! What the report says about the data it could not read and about how far its p-values can
//! be trusted on this data: the data-quality and calibration sections, end to end through the
//! command line, on companies with a planted truth.

use std::path::Path;

use super::{json, tokenaudit};

/// Writes a company with `generate`, as CSV so a test can rewrite a column.
fn generate(dir: &Path, extra: &[&str]) {
    let mut args = vec![
        "generate",
        "--agents",
        "60",
        "--weeks",
        "8",
        "--requests-per-week",
        "200",
        "--usage-format",
        "csv",
        "-q",
        "--out",
    ];
    let out = dir.display().to_string();
    args.push(&out);
    args.extend(extra);
    tokenaudit().args(&args).assert().success();
}

fn audit(dir: &Path) -> serde_json::Value {
    json(&audit_as(dir, "json", &[]))
}

/// The audit of the company in `dir`, as `format`, with `extra` arguments.
fn audit_as(dir: &Path, format: &str, extra: &[&str]) -> std::process::Output {
    let path = |name: &str| dir.join(name).display().to_string();
    tokenaudit()
        .args(["audit", "-q", "--format", format, "--usage"])
        .arg(path("usage.csv"))
        .arg("--outputs")
        .arg(path("outputs.csv"))
        .arg("--identities")
        .arg(path("identities.csv"))
        .args(extra)
        .output()
        .unwrap()
}

fn codes(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["reasons"].as_array().unwrap().iter())
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

fn check<'a>(report: &'a serde_json::Value, scope: &str) -> &'a serde_json::Value {
    report["calibration"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scope"] == scope)
        .unwrap_or_else(|| panic!("no calibration row for {scope}"))
}

/// Agents the behaviour lens judged (those with request-level rows).
fn behaviour_judged(report: &serde_json::Value) -> u64 {
    report["data_quality"]["lenses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lens"] == "behavior")
        .unwrap()["judged"]
        .as_u64()
        .unwrap()
}

#[test]
fn session_ids_that_are_labels_are_not_read_as_sessions() {
    // Regression: a company whose session ids are labels drawn per request (one id reused for
    // days) had a quarter of its honest people accused of starting sessions together (TA306).
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--no-inflators", "--world", "session-labels"]);
    let report = audit(dir.path());
    let found = codes(&report);
    assert!(
        !found.iter().any(|c| c == "TA306" || c == "TA308"),
        "{found:?}"
    );
    let skipped = report["data_quality"]["skipped"].as_array().unwrap();
    let labels = skipped
        .iter()
        .find(|s| s["code"] == "TA306")
        .expect("TA306 skipped");
    assert_eq!(labels["check"], "session_labels");
    // Every agent whose ids are labels: all but an agent or two too light for a label to
    // span a day.
    let (skipped, judged) = (
        labels["agents"].as_u64().unwrap(),
        behaviour_judged(&report),
    );
    assert!(
        judged >= 50 && skipped * 100 >= judged * 95,
        "{skipped} of {judged}"
    );
    assert!(labels["reason"].as_str().unwrap().contains("labels"));
    // The table says it in words, before any finding.
    let dir_path = dir.path();
    let table = tokenaudit()
        .args(["audit", "-q", "--usage"])
        .arg(dir_path.join("usage.csv"))
        .arg("--outputs")
        .arg(dir_path.join("outputs.csv"))
        .arg("--identities")
        .arg(dir_path.join("identities.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("What this audit could not see:"), "{text}");
    assert!(
        text.contains("TA306 (many sessions started at once) not read for"),
        "{text}"
    );
}

#[test]
fn an_honest_company_reads_as_calibrated() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--no-inflators", "--seed", "5"]);
    let report = audit(dir.path());
    for scope in ["efficiency", "change", "behavior"] {
        let row = check(&report, scope);
        let judged = row["judged"].as_u64().unwrap();
        assert!(judged >= 50, "{scope}: {row}");
        // About 1% of sixty by chance; three or more would be five times too many.
        assert!(row["p_01"].as_u64().unwrap() <= 2, "{scope}: {row}");
        assert!(row["p_001"].as_u64().unwrap() <= 1, "{scope}: {row}");
        assert_ne!(row["status"], "discounted", "{scope}: {row}");
        assert!(row["note"].is_null(), "{scope}: {row}");
    }
    // Most honest agents never start two sessions together: too few to fit a null on, and
    // nothing to discount.
    assert_ne!(check(&report, "TA306")["status"], "discounted");
}

/// The efficiency lens's line of the data-quality section.
fn efficiency_note(report: &serde_json::Value) -> String {
    let lenses = report["data_quality"]["lenses"].as_array().unwrap();
    let lens = lenses.iter().find(|l| l["lens"] == "efficiency").unwrap();
    lens["note"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_report_says_when_spend_was_compared_as_tokens() {
    // Where tokens buy the work, an honest person on Opus spends five times a peer's dollars
    // for the same output: the peers agree on tokens, and the report says it read them.
    let (tokens, dollars) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(
        tokens.path(),
        &["--no-inflators", "--seed", "5", "--world", "model-prices"],
    );
    generate(dollars.path(), &["--no-inflators", "--seed", "5"]);
    let compared = |report: &serde_json::Value| {
        assert!(!efficiency_note(report).contains("tokens"), "{report}");
        report["data_quality"]["spend_compared_as"].clone()
    };
    assert_eq!(compared(&audit(tokens.path())), "tokens");
    // In the default company dollars buy the work (an Opus user's tokens are a fifth).
    assert_eq!(compared(&audit(dollars.path())), "dollars");
    // The Markdown report says it on a line of its own, not among what the audit could not
    // see: it is how the audit judged.
    let markdown = String::from_utf8(audit_as(tokens.path(), "markdown", &[]).stdout).unwrap();
    let line = "The peer comparison read spend as tokens";
    let (before, after) = markdown
        .split_once("What this audit could not see")
        .unwrap_or((&markdown, ""));
    assert!(before.contains(line), "{markdown}");
    assert!(!after.contains("tokens"), "{markdown}");
    let markdown = String::from_utf8(audit_as(dollars.path(), "markdown", &[]).stdout).unwrap();
    assert!(!markdown.contains(line), "{markdown}");
    // The chart plots what the curve reads, and says so where that is tokens.
    let html = |dir: &Path| String::from_utf8(audit_as(dir, "html", &[]).stdout).unwrap();
    let caption = "Spend is read here as the peer comparison read it";
    assert!(html(tokens.path()).contains(caption));
    assert!(!html(dollars.path()).contains(caption));
}

#[test]
fn the_report_says_when_output_was_read_as_the_week_befores_work() {
    // Where artifacts land one to nine days after the work, output follows last week's spend
    // more than its own week's: the history lens reads the lag, and the report says so, on the
    // reading line. A company whose output lands with the work reads none. Measured, seeds 5
    // and 6: 0.6 with the lag, none without.
    let (lagging, prompt) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(
        lagging.path(),
        &["--no-inflators", "--seed", "5", "--world", "output-lag"],
    );
    generate(prompt.path(), &["--no-inflators", "--seed", "5"]);
    let lags = |dir: &Path| audit(dir)["data_quality"]["output_lag"].clone();
    let read = lags(lagging.path());
    assert_eq!(read.as_array().map(Vec::len), Some(1), "{read}");
    assert_eq!(read[0]["kind"], "human");
    let share = read[0]["share"].as_f64().unwrap();
    assert!((0.4..=0.8).contains(&share), "{read}");
    assert_eq!(lags(prompt.path()), serde_json::json!([]));
    let line = "read each week's output as partly the work of the week before";
    let table = |dir: &Path| String::from_utf8(audit_as(dir, "table", &[]).stdout).unwrap();
    let report = table(lagging.path());
    assert!(report.contains(line), "{report}");
    assert!(report.contains(&format!("{:.0}% for human agents", share * 100.0)));
    assert!(!table(prompt.path()).contains(line));
}

#[test]
fn read_as_tokens_the_parquet_expectation_is_in_each_agents_own_dollars() {
    use polars::prelude::DataType;
    // The Parquet report's expected weekly spend sits beside the agent's dollars: where the
    // curve reads tokens, it must be priced at the agent's own prices, or every agent on a
    // dearer model would seem to spend five times what is expected of it.
    let tmp = tempfile::tempdir().unwrap();
    generate(
        tmp.path(),
        &["--no-inflators", "--seed", "5", "--world", "model-prices"],
    );
    let out = tmp.path().join("audit-out");
    let parquet = format!("parquet={}", out.display());
    let status = audit_as(tmp.path(), "json", &["--out", &parquet]);
    assert!(status.status.success());
    let (weeks, _) = super::outputs::read_parquet(&out.join("agent_weeks.parquet"));
    let column = |name: &str| -> Vec<Option<f64>> {
        let values = weeks
            .column(name)
            .unwrap()
            .cast(&DataType::Float64)
            .unwrap();
        let values = values.f64().unwrap();
        (0..values.len()).map(|i| values.get(i)).collect()
    };
    let agent = weeks.column("agent").unwrap().str().unwrap().clone();
    let agents: Vec<String> = (0..agent.len())
        .map(|i| agent.get(i).unwrap().to_string())
        .collect();
    let (cost, requests, expected) = (
        column("cost_usd"),
        column("requests"),
        column("expected_weekly_cost_usd"),
    );
    let prices = [
        ("input_tokens", 3.0),
        ("output_tokens", 15.0),
        ("cache_read_tokens", 0.3),
        ("cache_write_tokens", 3.75),
    ]
    .map(|(name, price)| (column(name), price));
    // Per agent: dollars, weeks with usage, tokens at list-price ratios, the expectation.
    let mut by_agent: std::collections::BTreeMap<&str, (f64, f64, f64, Option<f64>)> =
        Default::default();
    for (i, agent) in agents.iter().enumerate() {
        let entry = by_agent.entry(agent).or_default();
        entry.0 += cost[i].unwrap_or(0.0);
        entry.1 += f64::from(u8::from(requests[i].unwrap_or(0.0) > 0.0));
        entry.2 += prices
            .iter()
            .map(|(tokens, price)| tokens[i].unwrap_or(0.0) * price)
            .sum::<f64>();
        entry.3 = entry.3.or(expected[i]);
    }
    let judged: Vec<(f64, f64)> = by_agent
        .values()
        .filter_map(|(cost, weeks, reference, expected)| {
            Some((cost / reference, (*expected)? / (cost / weeks)))
        })
        .collect();
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let typical_price = median(judged.iter().map(|(price, _)| *price).collect());
    let (dear, rest): (Vec<_>, Vec<_>) = judged
        .iter()
        .partition(|(price, _)| *price > 2.0 * typical_price);
    assert!(dear.len() >= 3, "{judged:?}");
    // Honest agents: expected about what they spend, on the dearer model as on the others.
    for group in [dear, rest] {
        let ratio = median(group.iter().map(|(_, ratio)| *ratio).collect());
        assert!((0.6..1.6).contains(&ratio), "{ratio}: {judged:?}");
    }
}

#[test]
fn a_source_that_breaks_a_model_is_judged_against_the_population() {
    // A gateway that labels each agent's requests with one of five labels it rotates every day:
    // no id spans a day and none holds a single request, so no gate catches them, but every
    // morning five "sessions" start within minutes. The Poisson model of session starts is
    // broken for everyone; the population says so.
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--no-inflators", "--seed", "5"]);
    let usage = dir.path().join("usage.csv");
    let text = std::fs::read_to_string(&usage).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (agent, session, ts) = (column("agent"), column("session_id"), column("ts"));
    let mut turns: std::collections::BTreeMap<String, usize> = Default::default();
    let mut rewritten = header.join(",") + "\n";
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        let n = turns.entry(cells[agent].clone()).or_default();
        cells[session] = format!("{}-{}-{}", cells[agent], &cells[ts][..10], *n % 5);
        *n += 1;
        rewritten.push_str(&cells.join(","));
        rewritten.push('\n');
    }
    std::fs::write(&usage, rewritten).unwrap();
    let report = audit(dir.path());
    let row = check(&report, "TA306");
    assert_eq!(row["status"], "discounted", "{row}");
    assert!(row["null_centre"].as_f64().unwrap() > 1.0, "{row}");
    assert!(row["note"].as_str().unwrap().contains("too small"), "{row}");
    assert_eq!(check(&report, "behavior")["status"], "discounted");
    // Judged against the population, it accuses nobody at medium or high.
    let serious = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "low")
        .count();
    assert_eq!(serious, 0, "{}", report["findings"]);
}

#[test]
fn without_outputs_the_report_says_nothing_was_compared_with_output() {
    // Regression: `audit --usage DIR` without outputs printed "No findings." with no word that
    // spend had not been compared with delivered work.
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--seed", "5"]);
    let output = tokenaudit()
        .args(["audit", "-q", "--usage"])
        .arg(dir.path().join("usage.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("efficiency judged 0 of") && text.contains("no outputs were given"),
        "{text}"
    );
    assert!(text.contains("change judged 0 of"), "{text}");
}

#[test]
fn without_an_identity_map_the_report_says_whose_output_it_could_not_credit() {
    // A first run without --identities: commits are under emails and `gh-` handles, usage
    // under logins, and no team is named. The report credits the emails to the login before
    // the @, names the handles it could not credit, says that nobody has a team, and keeps the
    // peer comparison's findings at low, also about the agents it compared with the others
    // whose work is mostly in the same repository.
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--seed", "1"]);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    let aliased: Vec<(&str, &str)> = truth["planted"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["archetype"] == "aliased")
        .map(|p| {
            (
                p["agent"].as_str().unwrap(),
                p["output_alias"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(!aliased.is_empty());
    // A git history reaches back to people long gone: their output is before any usage and
    // is no one's missing output.
    let outputs = dir.path().join("outputs.csv");
    let mut text = std::fs::read_to_string(&outputs).unwrap();
    text.push_str("2019-03-04T10:00:00Z,gone.person,commit,1,0badc0de,old-service\n");
    std::fs::write(&outputs, text).unwrap();
    let args = |format: &str| {
        let mut command = tokenaudit();
        command
            .args(["audit", "-q", "--format", format, "--usage"])
            .arg(dir.path().join("usage.csv"))
            .arg("--outputs")
            .arg(dir.path().join("outputs.csv"));
        command
    };
    let report = json(&args("json").output().unwrap());
    let quality = &report["data_quality"];
    assert_eq!(quality["agents_without_team"], quality["agents_eligible"]);
    let links = quality["linked_by_email"].as_array().unwrap();
    assert!(links.len() >= 10, "{links:?}");
    for link in links {
        let (email, agent) = (link[0].as_str().unwrap(), link[1].as_str().unwrap());
        assert_eq!(email.split_once('@').unwrap().0, agent, "{link}");
    }
    // The `gh-` handles are credited to no one, and named.
    let unmatched = &quality["unmatched_outputs"];
    assert_eq!(unmatched["names"], aliased.len());
    // With the people behind them, and the loop bots, who deliver nothing.
    let loop_bots = truth["planted"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["archetype"] == "loop_bot")
        .count();
    assert_eq!(
        unmatched["agents_without_output"],
        aliased.len() + loop_bots
    );
    for (_, handle) in &aliased {
        assert!(
            unmatched["examples"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(handle)),
            "{unmatched}"
        );
    }
    // Most agents work mostly in their team's repository, and are judged among its people.
    let by_repository = quality["agents_by_repository"].as_u64().unwrap();
    let eligible = quality["agents_eligible"].as_u64().unwrap();
    assert!(
        by_repository * 2 > eligible && by_repository < eligible,
        "{quality}"
    );
    // No peer finding above low, and the people behind the handles are among them at most.
    for finding in report["findings"].as_array().unwrap() {
        let reasons = finding["reasons"].to_string();
        if finding["detector"] == "efficiency" {
            assert_eq!(finding["severity"], "low", "{finding}");
        }
        if reasons.contains("peers without a team in repository") {
            assert!(
                reasons.contains("teams that share a repository can differ"),
                "{finding}"
            );
        }
        if aliased.iter().any(|(agent, _)| finding["agent"] == *agent) {
            assert_eq!(finding["severity"], "low", "{finding}");
            assert!(reasons.contains("--identities"), "{finding}");
        }
    }
    // A pseudonymised report names none of them, in its data or in its reasons.
    let hidden = args("json")
        .arg("--pseudonymize")
        .env("TOKENAUDIT_PSEUDONYM_KEY", "0123456789abcdef0123")
        .output()
        .unwrap();
    let hidden = String::from_utf8(hidden.stdout).unwrap();
    for (agent, handle) in &aliased {
        assert!(!hidden.contains(handle), "{handle} in {hidden}");
        assert!(!hidden.contains(agent), "{agent} in {hidden}");
    }
    // Every report format says it, in words.
    for format in ["table", "markdown", "html"] {
        let text = String::from_utf8(args(format).output().unwrap().stdout).unwrap();
        assert!(
            text.contains("credited to the agent named before the @"),
            "{text}"
        );
        assert!(text.contains(aliased[0].1), "{text}");
        assert!(text.contains("No agent has a team"), "{text}");
        assert!(
            text.contains("compared with the others whose work is mostly in the same repository"),
            "{text}"
        );
    }
}

#[test]
fn a_team_whose_outputs_are_missing_is_named() {
    // An export that left out one team's repositories: every agent of the team has usage and
    // no output. The report names the team rather than read "no findings" as all clear.
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--no-inflators", "--seed", "2"]);
    let identities = std::fs::read_to_string(dir.path().join("identities.csv")).unwrap();
    let data_team: std::collections::BTreeSet<String> = identities
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(2) == Some("data"))
        .map(|l| l.split(',').next().unwrap().to_lowercase())
        .collect();
    assert!(data_team.len() >= 5, "{data_team:?}");
    let outputs = dir.path().join("outputs.csv");
    let kept: Vec<String> = std::fs::read_to_string(&outputs)
        .unwrap()
        .lines()
        .filter(|l| !data_team.contains(&l.split(',').nth(1).unwrap().to_lowercase()))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&outputs, kept.concat()).unwrap();
    let report = audit(dir.path());
    let missing = report["data_quality"]["teams_without_output"]
        .as_array()
        .unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["team"], "data");
    assert!(missing[0]["agents"].as_u64().unwrap() >= 5, "{missing:?}");
    for finding in report["findings"].as_array().unwrap() {
        assert!(
            finding["team"] != "data" || finding["severity"] == "low",
            "{finding}"
        );
    }
    let text = tokenaudit()
        .args(["audit", "-q", "--usage"])
        .arg(dir.path().join("usage.csv"))
        .arg("--outputs")
        .arg(&outputs)
        .arg("--identities")
        .arg(dir.path().join("identities.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("agents of team data has any output in the period"),
        "{text}"
    );
}

#[test]
fn a_pseudonymised_report_names_no_one_in_its_root_causes() {
    // Claude Code names a repository by its working directory, `/home/dana/src/api@main`: the
    // home folder is the person. A pseudonymised report shows `~/src/api@main`, and session
    // ids as keyed hashes.
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--seed", "1"]);
    let usage = dir.path().join("usage.csv");
    let text = std::fs::read_to_string(&usage).unwrap();
    let mut lines = text.lines();
    let mut rewritten = format!("{},repo\n", lines.next().unwrap());
    for line in lines {
        let agent = line.split(',').nth(1).unwrap();
        rewritten.push_str(&format!("{line},/home/{agent}/src/api@main\n"));
    }
    std::fs::write(&usage, rewritten).unwrap();
    let hidden = tokenaudit()
        .args([
            "audit",
            "-q",
            "--pseudonymize",
            "--format",
            "json",
            "--usage",
        ])
        .arg(&usage)
        .arg("--outputs")
        .arg(dir.path().join("outputs.csv"))
        .arg("--identities")
        .arg(dir.path().join("identities.csv"))
        .env("TOKENAUDIT_PSEUDONYM_KEY", "0123456789abcdef0123")
        .output()
        .unwrap();
    let hidden = String::from_utf8(hidden.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(&hidden).unwrap();
    let causes: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["root_causes"].as_array().unwrap().iter())
        .collect();
    assert!(
        causes
            .iter()
            .any(|c| c["dimension"] == "repo" && c["value"] == "~/src/api@main"),
        "{causes:?}"
    );
    let identities = std::fs::read_to_string(dir.path().join("identities.csv")).unwrap();
    for agent in identities
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
    {
        assert!(
            !hidden.contains(agent),
            "{agent} in the pseudonymised report"
        );
    }
    assert!(!hidden.contains("/home/"), "a home folder in the report");
}
