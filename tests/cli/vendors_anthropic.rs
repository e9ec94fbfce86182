//! Anthropic's vendor exports: the Admin API usage and cost reports, the Claude Code Analytics
//! API and OpenTelemetry (Claude Code events, GenAI semconv spans). Each fixture under
//! `fixtures/<format>/` is read by detection alone and gives the totals `fixtures/README.md`
//! documents for it; its malformed records are quarantined by file and row.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use tokenaudit::audit::{build_report, AuditSettings, InputSettings, Verbosity};

use crate::{fixture, json, tokenaudit};

/// The canonical rows `tokenaudit ingest` writes for `paths` (deduplicated, priced).
fn ingested(paths: &[String]) -> DataFrame {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("usage.parquet");
    let output = tokenaudit()
        .arg("ingest")
        .arg("--usage")
        .args(paths)
        .arg("--to")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    LazyFrame::scan_parquet(
        PlRefPath::try_from_path(&out).unwrap(),
        ScanArgsParquet::default(),
    )
    .unwrap()
    .collect()
    .unwrap()
}

/// Input, output, cache read and cache write tokens summed over `rows`.
fn tokens(rows: &DataFrame) -> [u64; 4] {
    [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ]
    .map(|name| {
        rows.column(name)
            .unwrap()
            .as_materialized_series()
            .sum::<u64>()
            .unwrap()
    })
}

fn cost(rows: &DataFrame) -> f64 {
    rows.column("cost_usd")
        .unwrap()
        .as_materialized_series()
        .sum::<f64>()
        .unwrap()
}

fn distinct(rows: &DataFrame, name: &str) -> BTreeSet<String> {
    rows.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("<null>").to_string())
        .collect()
}

/// The rows whose `column` is `value`.
fn only(rows: &DataFrame, column: &str, value: &str) -> DataFrame {
    rows.clone()
        .lazy()
        .filter(col(column).eq(lit(value)))
        .collect()
        .unwrap()
}

fn assert_dollars(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected ${expected}, got ${actual}"
    );
}

/// `audit --format json` over `paths` (relative to `fixtures/`, as the quarantine file names
/// them) with a quarantine file: the report and the quarantine rows.
fn audit(paths: &[String]) -> (serde_json::Value, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let quarantine = tmp.path().join("quarantine.csv");
    let output = tokenaudit()
        .args(["audit", "-q", "--format", "json", "--usage"])
        .args(paths)
        .arg("--quarantine")
        .arg(&quarantine)
        .output()
        .unwrap();
    let report = json(&output);
    let rows = std::fs::read_to_string(quarantine).unwrap();
    (report, rows.lines().skip(1).map(String::from).collect())
}

/// Every input was detected as `format` (no `--usage-format` given).
fn assert_detected(report: &serde_json::Value, format: &str) {
    let inputs = report["inputs"].as_array().unwrap();
    assert!(!inputs.is_empty());
    for input in inputs {
        assert_eq!(input["format"], format, "{input}");
    }
}

fn assert_ingest(report: &serde_json::Value, read: u64, quarantined: u64, duplicates: u64) {
    let ingest = &report["ingest"];
    assert_eq!(ingest["rows_read"], read, "{ingest}");
    assert_eq!(ingest["rows_valid"], read - quarantined, "{ingest}");
    assert_eq!(ingest["rows_quarantined"], quarantined, "{ingest}");
    assert_eq!(ingest["duplicates_removed"], duplicates, "{ingest}");
}

fn skipped(report: &serde_json::Value) -> BTreeMap<String, u64> {
    report["ingest"]["records_skipped"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn the_anthropic_usage_report_gives_the_documented_totals() {
    let rows = ingested(&[fixture("anthropic-usage")]);
    assert_eq!(rows.height(), 35);
    // Input is `uncached_input_tokens` as is: cache reads and writes are outside it. Cache
    // writes add both lifetimes; e.g. page 1, 2026-09-07, dana's Opus 5 result: 5m 12,981 +
    // 1h 306 = 13,287.
    assert_eq!(tokens(&rows), [39_919, 831_369, 10_191_110, 639_782]);
    let dana_opus = only(
        &only(&rows, "agent", "apikey_01rk7dana"),
        "model",
        "claude-opus-5",
    );
    let first = dana_opus
        .column("cache_write_tokens")
        .unwrap()
        .u64()
        .unwrap()
        .get(0);
    assert_eq!(first, Some(13_287));
    // The most personal group key present names the agent: API keys, the service account, and
    // the workspace for the Console's keyless usage.
    assert_eq!(
        distinct(&rows, "agent"),
        set(&[
            "apikey_01rk7dana",
            "apikey_01rm2eli",
            "apikey_01rp9fay",
            "svcacct_01ci4build",
            "wrkspc_01jh7q8researchlab"
        ])
    );
    // No cost in this report: every row is priced from the price table.
    assert_eq!(distinct(&rows, "tier"), set(&["estimated"]));
    assert_eq!(distinct(&rows, "tool"), set(&["anthropic-api"]));

    let (report, quarantine) = audit(&["anthropic-usage".to_string()]);
    assert_detected(&report, "anthropic-usage");
    // 35 results read, 1 quarantined; 2 results with web searches but no tokens skipped.
    assert_ingest(&report, 36, 1, 0);
    assert_eq!(
        skipped(&report),
        BTreeMap::from([("anthropic-usage: results with no tokens".to_string(), 2)])
    );
    // page2.json's second bucket (2026-09-12): its first result writes output tokens as "8,663".
    assert_eq!(quarantine.len(), 1);
    let line = &quarantine[0];
    assert!(
        line.starts_with("anthropic-usage/page2.json,2,record,"),
        "{line}"
    );
    assert!(
        line.contains("`.data[1].results[0].output_tokens`: invalid type: string"),
        "{line}"
    );
}

#[test]
fn a_usage_page_saved_twice_counts_once() {
    let tmp = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("page1.json", "week1.json"),
        ("page1.json", "week1-again.json"),
        ("page2.json", "week2.json"),
    ] {
        std::fs::copy(
            crate::fixtures().join("anthropic-usage").join(from),
            tmp.path().join(to),
        )
        .unwrap();
    }
    let paths = [tmp.path().display().to_string()];
    assert_eq!(
        tokens(&ingested(&paths)),
        [39_919, 831_369, 10_191_110, 639_782]
    );
    let (report, _) = audit(&paths);
    // Page 1's 24 results are read twice and kept once.
    assert_ingest(&report, 60, 1, 24);
}

#[test]
fn the_anthropic_cost_report_gives_the_documented_totals() {
    let rows = ingested(&[fixture("anthropic-cost")]);
    assert_eq!(rows.height(), 76);
    assert_eq!(tokens(&rows), [0, 0, 0, 0]);
    // `amount` is cents as a decimal string: page 1's first line, "1.0701" = $0.010701.
    let first = rows
        .clone()
        .lazy()
        .filter(col("request_id").str().contains_literal(lit(
            "2026-09-07T00:00:00Z/2026-09-08T00:00:00Z:|Claude Sonnet 5 Usage - Input Tokens|",
        )))
        .collect()
        .unwrap();
    assert_dollars(cost(&first), 0.010701);
    // The sum of the 76 amounts, ÷ 100.
    assert_dollars(cost(&rows), 21.322313);
    assert_dollars(cost(&only(&rows, "agent", "organization")), 10.352676);
    assert_dollars(
        cost(&only(&rows, "agent", "wrkspc_01jh7q8researchlab")),
        10.969637,
    );
    // Web searches have no model: they are named by their cost type.
    assert_dollars(cost(&only(&rows, "model", "web_search")), 2.4);
    assert_eq!(distinct(&rows, "tier"), set(&["billed"]));
    let requests = rows
        .column("requests")
        .unwrap()
        .as_materialized_series()
        .sum::<u64>()
        .unwrap();
    assert_eq!(requests, 0);

    let (report, quarantine) = audit(&["anthropic-cost".to_string()]);
    assert_detected(&report, "anthropic-cost");
    assert_ingest(&report, 78, 2, 0);
    assert_eq!(
        skipped(&report),
        BTreeMap::from([("anthropic-cost: results of zero cost".to_string(), 1)])
    );
    assert_eq!(quarantine.len(), 2);
    // Page 1, third bucket (2026-09-09): an amount given as an object.
    assert!(
        quarantine[0].starts_with("anthropic-cost/page1.json,3,record,"),
        "{}",
        quarantine[0]
    );
    assert!(
        quarantine[0].contains("`.data[2].results[3].amount`: invalid type: map"),
        "{}",
        quarantine[0]
    );
    // Page 2, second bucket (2026-09-12): a line billed in EUR.
    assert!(
        quarantine[1].starts_with("anthropic-cost/page2.json,2,record,"),
        "{}",
        quarantine[1]
    );
    assert!(
        quarantine[1].contains("`amount` is in `EUR`; only USD is read"),
        "{}",
        quarantine[1]
    );
}

#[test]
fn reading_both_the_usage_and_the_cost_report_warns_of_double_counting() {
    let output = tokenaudit()
        .args(["audit", "--format", "json", "--usage"])
        .arg(fixture("anthropic-usage"))
        .arg(fixture("anthropic-cost"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: this run reads both anthropic-usage and anthropic-cost files"),
        "{stderr}"
    );
    let alone = tokenaudit()
        .args(["audit", "--format", "json", "--usage"])
        .arg(fixture("anthropic-cost"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&alone.stderr).contains("reads both"));
}

#[test]
fn claude_code_analytics_gives_the_documented_usage() {
    let rows = ingested(&[fixture("claude-code-analytics")]);
    // 14 model breakdowns in 12 readable records (one record quarantined, one skipped).
    assert_eq!(rows.height(), 14);
    // `tokens.input` is uncached, as is: cache reads and writes are outside it.
    assert_eq!(tokens(&rows), [50_531, 567_855, 12_634_389, 996_812]);
    // `estimated_cost.amount` is cents: dana's 2026-09-07 Sonnet 5 entry says 143, $1.43.
    let entry = rows
        .clone()
        .lazy()
        .filter(col("request_id").eq(lit(
            "claude-code-analytics:2026-09-07:dana@corp.example:vscode:claude-sonnet-5",
        )))
        .collect()
        .unwrap();
    assert_dollars(cost(&entry), 1.43);
    // Over all entries: 1,577.13 cents = $15.7713.
    assert_dollars(cost(&rows), 15.7713);
    let dana = only(&rows, "agent", "dana@corp.example");
    assert_dollars(cost(&dana), 7.92);
    assert_eq!(tokens(&dana), [23_111, 257_663, 4_937_864, 477_702]);
    assert_eq!(
        distinct(&rows, "agent"),
        set(&[
            "ci-review-bot",
            "dana@corp.example",
            "eli@corp.example",
            "fay@corp.example"
        ])
    );
    assert_eq!(distinct(&rows, "tier"), set(&["estimated"]));
    assert_eq!(distinct(&rows, "tool"), set(&["claude-code"]));

    let (report, quarantine) = audit(&["claude-code-analytics".to_string()]);
    // Given once with --usage, the files are read for both tables.
    assert_detected(&report, "claude-code-analytics");
    assert_eq!(report["inputs"].as_array().unwrap().len(), 8);
    // 15 usage rows (14 + the quarantined record) and 43 output rows.
    assert_ingest(&report, 58, 1, 0);
    assert_eq!(
        skipped(&report),
        BTreeMap::from([(
            "claude-code-analytics: records with no usage and no outputs".to_string(),
            1
        )])
    );
    // eli's 2026-09-09 record counts commits as the string "2": quarantined once, whole.
    assert_eq!(quarantine.len(), 1);
    let line = &quarantine[0];
    assert!(
        line.starts_with("claude-code-analytics/2026-09-09/page1.json,2,record,"),
        "{line}"
    );
    assert!(
        line.contains("`.data[1].core_metrics.commits_by_claude_code`: invalid type: string"),
        "{line}"
    );
}

#[test]
fn claude_code_analytics_gives_the_documented_outputs() {
    let settings = AuditSettings {
        input: InputSettings {
            usage: vec![fixture("claude-code-analytics")],
            ..InputSettings::default()
        },
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    };
    let report = build_report(&settings).unwrap();
    let mut by_kind: BTreeMap<String, f64> = BTreeMap::new();
    for week in &report.detail.weeks {
        for (kind, amount) in &week.outputs {
            *by_kind.entry(kind.clone()).or_default() += amount;
        }
    }
    // Edits sum over the four tools: e.g. dana on 2026-09-07 accepted 31 + 6 + 3 + 0 = 40.
    let expected: BTreeMap<String, f64> = [
        ("commit", 19.0),
        ("pull_request", 6.0),
        ("loc_added", 1903.0),
        ("loc_removed", 460.0),
        ("edit_accepted", 198.0),
        ("edit_rejected", 27.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(by_kind, expected);
}

#[test]
fn opentelemetry_exports_give_the_documented_totals() {
    let rows = ingested(&[fixture("otel")]);
    // 11 Claude Code requests (2 retried copies removed) and 4 semconv spans.
    assert_eq!(rows.height(), 15);
    let claude_code = only(&rows, "tool", "claude-code");
    assert_eq!(claude_code.height(), 11);
    // Claude Code's input_tokens is uncached: taken as is.
    assert_eq!(tokens(&claude_code), [241, 15_794, 668_354, 39_643]);
    // cost_usd is Claude Code's own estimate, kept.
    assert_dollars(cost(&claude_code), 0.468482);
    let spans = only(&rows, "tool", "support-agent");
    // Semconv input includes cache: gus's first call says 16,840 input with 12,000 read and
    // 3,000 written, so 1,840 uncached. The agent span repeating its two calls is skipped.
    assert_eq!(tokens(&spans), [11_850, 7_220, 61_800, 12_000]);
    assert_eq!(
        distinct(&rows, "agent"),
        set(&[
            "dana@corp.example",
            "eli@corp.example",
            "gus@corp.example",
            "hana@corp.example",
            "nightly-triage"
        ])
    );
    assert_eq!(distinct(&rows, "tier"), set(&["estimated"]));

    let (report, quarantine) = audit(&["otel".to_string()]);
    assert_detected(&report, "otel");
    // 13 Claude Code rows + 2 quarantined records in the collector file, 4 spans.
    assert_ingest(&report, 19, 2, 2);
    assert_eq!(
        skipped(&report),
        BTreeMap::from([
            ("otel: Claude Code api_error events".to_string(), 2),
            ("otel: OTLP metrics documents".to_string(), 1),
            (
                "otel: agent spans whose model calls carry the usage".to_string(),
                1
            ),
        ])
    );
    assert_eq!(quarantine.len(), 2);
    let wrong_type = &quarantine[0];
    assert!(
        wrong_type.starts_with("otel/collector/claude-code.jsonl,4,record,"),
        "{wrong_type}"
    );
    assert!(
        wrong_type.contains("`.resourceLogs[0].scopeLogs[0].logRecords[3]`: attribute `cache_read_tokens` is the string `lots`"),
        "{wrong_type}"
    );
    let truncated = &quarantine[1];
    assert!(
        truncated.starts_with("otel/collector/claude-code.jsonl,5,record,"),
        "{truncated}"
    );
    assert!(truncated.contains("line 5 is not JSON"), "{truncated}");
}

#[test]
fn a_file_that_is_not_json_is_an_error_naming_it() {
    let output = tokenaudit()
        .args(["audit", "--usage-format", "anthropic-usage", "--usage"])
        .arg(fixture("demo/usage.csv"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "usage.csv` as anthropic-usage: not a usage report page: the file is not JSON"
        ),
        "{stderr}"
    );
}
