//! Outputs for finance, analysts and sharing: `spend` and its FOCUS export, `--out parquet=DIR`,
//! and `--pseudonymize`.

use std::path::Path;

use polars::prelude::*;

use crate::{audit_demo, fixture, json, tokenaudit, transcript};

const KEY: &str = "a-test-key-of-more-than-sixteen-bytes";

fn spend_demo(extra: &[&str]) -> std::process::Output {
    let usage = fixture("demo/usage.csv");
    let identities = fixture("demo/identities.csv");
    let mut args = vec![
        "spend",
        "--usage",
        usage.as_str(),
        "--identities",
        identities.as_str(),
    ];
    args.extend_from_slice(extra);
    tokenaudit().args(&args).output().expect("runs")
}

fn cents(value: &serde_json::Value) -> i64 {
    (value.as_f64().expect("number") * 100.0).round() as i64
}

#[test]
fn spend_adds_up_to_the_audit_in_every_roll_up() {
    let audit = json(&audit_demo(&["-q", "--format", "json"]));
    let total = cents(&audit["totals"]["cost_usd"]);
    for by in ["team", "agent", "model", "week", "team,model,week", ""] {
        let spend = json(&spend_demo(&["-q", "--format", "json", "--by", by]));
        assert_eq!(cents(&spend["totals"]["cost_usd"]), total, "--by {by}");
        let groups = spend["groups"].as_array().unwrap();
        let sum: f64 = groups.iter().map(|g| g["cost_usd"].as_f64().unwrap()).sum();
        assert_eq!((sum * 100.0).round() as i64, total, "--by {by}");
        for g in groups {
            let parts =
                g["billed_cost_usd"].as_f64().unwrap() + g["estimated_cost_usd"].as_f64().unwrap();
            assert!((parts - g["cost_usd"].as_f64().unwrap()).abs() < 1e-6);
        }
    }
    // Per team: the teams the audit reports its agents under.
    let spend = json(&spend_demo(&["-q", "--format", "json", "--by", "team"]));
    let mut audit_teams: std::collections::BTreeMap<String, f64> = Default::default();
    for agent in audit["agents"].as_array().unwrap() {
        *audit_teams
            .entry(agent["team"].as_str().unwrap().to_string())
            .or_default() += agent["cost_usd"].as_f64().unwrap();
    }
    for g in spend["groups"].as_array().unwrap() {
        let team = g["keys"][0].as_str().unwrap();
        let expected = audit_teams.get(team).copied().unwrap_or_default();
        assert!(
            (g["cost_usd"].as_f64().unwrap() - expected).abs() < 0.02,
            "team {team}: spend {} vs audit {expected}",
            g["cost_usd"]
        );
    }
}

#[test]
fn spend_table_by_team() {
    insta::assert_snapshot!(transcript(&spend_demo(&["-q", "--by", "team"]), None));
}

#[test]
fn spend_markdown_and_csv_by_team_and_week() {
    let markdown = spend_demo(&["-q", "--by", "team,week", "--format", "markdown"]);
    let csv = spend_demo(&["-q", "--by", "team,week", "--format", "csv"]);
    insta::assert_snapshot!(format!(
        "{}\n{}",
        String::from_utf8_lossy(&markdown.stdout),
        String::from_utf8_lossy(&csv.stdout)
    ));
}

#[test]
fn spend_rejects_unknown_dimensions_and_formats() {
    let output = spend_demo(&["--by", "team,project"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`project` is not a spend dimension"));
    let output = spend_demo(&["--format", "html"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a spend format"));
}

/// Splits one CSV line into cells (quotes, doubled quotes).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

#[test]
fn focus_export_has_the_specification_columns_and_the_same_dollars() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("focus.csv");
    let out = format!("focus={}", path.display());
    let spend = json(&spend_demo(&["-q", "--format", "json", "--out", &out]));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = csv_cells(lines.next().unwrap());
    // The FOCUS cost-and-usage columns a FinOps tool needs to load a row.
    for column in [
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "BillingCurrency",
        "BillingAccountId",
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargeCategory",
        "ChargeDescription",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ConsumedQuantity",
        "ConsumedUnit",
        "PricingQuantity",
        "PricingUnit",
        "ServiceCategory",
        "ServiceName",
        "ServiceProviderName",
        "HostProviderName",
        "InvoiceIssuerName",
        "SubAccountId",
        "ResourceId",
        "SkuId",
        "Tags",
    ] {
        assert!(header.iter().any(|h| h == column), "missing {column}");
    }
    for h in &header {
        let standard = h.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        assert!(
            standard || h.starts_with("x_"),
            "custom column {h} lacks x_"
        );
    }
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut billed = 0.0;
    let mut rows = 0;
    for line in lines {
        let cells = csv_cells(line);
        assert_eq!(cells.len(), header.len(), "{line}");
        billed += cells[at("BilledCost")].parse::<f64>().unwrap();
        assert_eq!(cells[at("ChargeCategory")], "Usage");
        assert_eq!(cells[at("BillingCurrency")], "USD");
        assert_eq!(cells[at("ServiceCategory")], "AI and Machine Learning");
        let start = &cells[at("ChargePeriodStart")];
        let end = &cells[at("ChargePeriodEnd")];
        assert!(start.ends_with("T00:00:00Z") && end.ends_with("T00:00:00Z"));
        assert!(start < end);
        serde_json::from_str::<serde_json::Value>(&cells[at("Tags")]).expect("Tags is JSON");
        rows += 1;
    }
    assert!(rows > 100, "{rows} rows");
    assert_eq!(
        (billed * 100.0).round() as i64,
        cents(&spend["totals"]["cost_usd"])
    );
}

pub(super) fn read_parquet(path: &Path) -> (DataFrame, std::collections::BTreeMap<String, String>) {
    let mut reader = ParquetReader::new(std::fs::File::open(path).unwrap());
    let metadata = reader
        .get_metadata()
        .unwrap()
        .key_value_metadata
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|kv| (kv.key, kv.value.unwrap_or_default()))
        .collect();
    (reader.finish().unwrap(), metadata)
}

#[test]
fn parquet_outputs_carry_the_schema_version_and_agree_with_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit-out");
    let out = format!("parquet={}", dir.display());
    let report = json(&audit_demo(&["-q", "--format", "json", "--out", &out]));

    let (weeks, metadata) = read_parquet(&dir.join("agent_weeks.parquet"));
    assert_eq!(metadata["schema_version"], "1");
    assert_eq!(
        metadata["period_start"],
        report["period"]["start"].as_str().unwrap()
    );
    let cost: f64 = weeks
        .column("cost_usd")
        .unwrap()
        .f64()
        .unwrap()
        .sum()
        .unwrap();
    assert_eq!(
        (cost * 100.0).round() as i64,
        cents(&report["totals"]["cost_usd"])
    );
    let agents = weeks.column("agent").unwrap().n_unique().unwrap();
    assert_eq!(agents, report["agents"].as_array().unwrap().len());
    assert_eq!(
        weeks.column("week").unwrap().dtype(),
        &DataType::Date,
        "weeks are dates"
    );
    // Every flagged agent's rows say so.
    let flagged = weeks
        .clone()
        .lazy()
        .filter(col("status").eq(lit("flagged")))
        .select([col("agent").n_unique()])
        .collect()
        .unwrap();
    let flagged_in_report = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "flagged")
        .count();
    assert_eq!(
        flagged.column("agent").unwrap().u32().unwrap().get(0),
        Some(flagged_in_report as u32)
    );

    let (findings, metadata) = read_parquet(&dir.join("findings.parquet"));
    assert_eq!(metadata["schema_version"], "1");
    let reasons: usize = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reasons"].as_array().unwrap().len())
        .sum();
    assert_eq!(findings.height(), reasons);
    assert_eq!(
        findings.column("finding").unwrap().u32().unwrap().max(),
        Some(report["findings"].as_array().unwrap().len() as u32)
    );
}

#[test]
fn parquet_is_not_a_stdout_format() {
    let output = audit_demo(&["--format", "parquet"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--out parquet=DIR"));
}

/// Every agent and alias name the demo fixtures use.
fn demo_names() -> Vec<String> {
    let identities = std::fs::read_to_string(fixture("demo/identities.csv")).unwrap();
    let mut names: Vec<String> = identities
        .lines()
        .skip(1)
        .flat_map(|line| line.split(',').take(2).map(str::to_string))
        .filter(|n| n.len() > 3)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn pseudonymize_needs_a_key() {
    let output = tokenaudit()
        .env_remove("TOKENAUDIT_PSEUDONYM_KEY")
        .args(["demo", "--pseudonymize"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("TOKENAUDIT_PSEUDONYM_KEY"));
}

#[test]
fn pseudonymize_removes_every_name_from_every_output_and_keeps_the_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |dir: &str| {
        let parquet = format!("parquet={}", tmp.path().join(dir).display());
        let markdown = format!("markdown={}", tmp.path().join(dir).join("r.md").display());
        let csv = format!("csv={}", tmp.path().join(dir).join("r.csv").display());
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        tokenaudit()
            .env("TOKENAUDIT_PSEUDONYM_KEY", KEY)
            .args([
                "demo",
                "-q",
                "--pseudonymize",
                "--format",
                "json",
                "--out",
                &parquet,
                "--out",
                &markdown,
                "--out",
                &csv,
            ])
            .output()
            .unwrap()
    };
    let first = run("a");
    let second = run("b");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        first.stdout, second.stdout,
        "the same key gives the same report"
    );

    let plain = json(&audit_demo(&["-q", "--format", "json"]));
    let hidden = json(&first);
    assert_eq!(
        plain["findings"].as_array().unwrap().len(),
        hidden["findings"].as_array().unwrap().len()
    );
    assert_eq!(plain["totals"], hidden["totals"]);
    // Finding ids are hashes: recomputed from the pseudonyms, none is the id of a real name,
    // which anyone could compute from a guess.
    let ids = |report: &serde_json::Value| -> Vec<String> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (plain_ids, hidden_ids) = (ids(&plain), ids(&hidden));
    assert!(hidden_ids.iter().all(|id| !plain_ids.contains(id)));
    for finding in hidden["findings"].as_array().unwrap() {
        assert_eq!(
            finding["id"].as_str().unwrap(),
            tokenaudit::report::finding_id(
                finding["agent"].as_str().unwrap(),
                finding["detector"].as_str().unwrap()
            )
        );
    }

    let mut texts = vec![String::from_utf8_lossy(&first.stdout).to_string()];
    for file in ["r.md", "r.csv"] {
        texts.push(std::fs::read_to_string(tmp.path().join("a").join(file)).unwrap());
    }
    for file in ["agent_weeks.parquet", "findings.parquet"] {
        let (frame, _) = read_parquet(&tmp.path().join("a").join(file));
        texts.push(format!("{:?}", frame.column("agent").unwrap()));
        if let Ok(messages) = frame.column("message") {
            let messages: Vec<String> = messages
                .str()
                .unwrap()
                .iter()
                .flatten()
                .map(String::from)
                .collect();
            texts.push(messages.join("\n"));
        }
    }
    // The weekly q-values follow the agents to their pseudonyms: every judged agent-week with
    // usage keeps its q.
    let (weeks, _) = read_parquet(&tmp.path().join("a").join("agent_weeks.parquet"));
    let judged_with_usage = weeks
        .column("q_value")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .zip(weeks.column("requests").unwrap().u64().unwrap().iter())
        .filter(|(q, requests)| q.is_some() && requests.unwrap_or(0) > 0)
        .count();
    let week_q = weeks.column("week_q_value").unwrap().f64().unwrap();
    assert!(judged_with_usage > 100, "{judged_with_usage}");
    assert_eq!(week_q.len() - week_q.null_count(), judged_with_usage);

    let names = demo_names();
    assert!(names.len() > 10);
    for text in &texts {
        for name in &names {
            assert!(!text.contains(name.as_str()), "`{name}` leaked");
        }
        assert!(!text.contains(KEY));
    }
    for agent in hidden["agents"].as_array().unwrap() {
        assert!(agent["agent"].as_str().unwrap().starts_with("agent-"));
    }
}

#[test]
fn spend_pseudonymizes_agents_too() {
    let output = tokenaudit()
        .env("TOKENAUDIT_PSEUDONYM_KEY", KEY)
        .args([
            "spend",
            "-q",
            "--usage",
            &fixture("demo/usage.csv"),
            "--identities",
            &fixture("demo/identities.csv"),
            "--by",
            "agent",
            "--format",
            "csv",
            "--pseudonymize",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for name in demo_names() {
        assert!(!text.contains(name.as_str()), "`{name}` leaked");
    }
    assert!(text.lines().skip(1).all(|l| l.starts_with("agent-")));
}
