//! Vendor exports from OpenAI (usage and costs), GitHub Copilot, Cursor (usage events as JSON
//! and CSV, daily lines) and LiteLLM: each fixture under `fixtures/<format>/` read by detection
//! alone, with the totals `fixtures/README.md` documents for it, one record checked by hand
//! for units, and its malformed record quarantined by file and line (or record index).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use crate::{fixture, json, tokenaudit};

/// Canonical usage rows as `tokenaudit ingest` writes them (deduplicated, priced).
struct Rows(DataFrame);

impl Rows {
    fn of(paths: &[&str]) -> (Rows, String) {
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
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{stderr}");
        let frame = LazyFrame::scan_parquet(
            PlRefPath::try_from_path(&out).unwrap(),
            ScanArgsParquet::default(),
        )
        .unwrap()
        .collect()
        .unwrap();
        (Rows(frame), stderr)
    }

    fn height(&self) -> usize {
        self.0.height()
    }

    fn sum(&self, column: &str) -> u64 {
        let values = self
            .0
            .column(column)
            .unwrap()
            .cast(&DataType::UInt64)
            .unwrap();
        values.u64().unwrap().iter().flatten().sum()
    }

    /// Input, output, cache read and cache write tokens.
    fn tokens(&self) -> [u64; 4] {
        [
            self.sum("input_tokens"),
            self.sum("output_tokens"),
            self.sum("cache_read_tokens"),
            self.sum("cache_write_tokens"),
        ]
    }

    fn texts(&self, column: &str) -> Vec<Option<String>> {
        let values = self.0.column(column).unwrap().str().unwrap().clone();
        values.iter().map(|v| v.map(String::from)).collect()
    }

    fn distinct(&self, column: &str) -> Vec<String> {
        let mut values: Vec<String> = self.texts(column).into_iter().flatten().collect();
        values.sort();
        values.dedup();
        values
    }

    /// Sum of `cost_usd` over the rows of `tier`, to the micro-dollar.
    fn cost(&self, tier: &str) -> f64 {
        let tiers = self.texts("tier");
        let costs = self.0.column("cost_usd").unwrap().f64().unwrap().clone();
        let sum: f64 = tiers
            .iter()
            .zip(costs.iter())
            .filter(|(t, _)| t.as_deref() == Some(tier))
            .filter_map(|(_, c)| c)
            .sum();
        (sum * 1e6).round() / 1e6
    }

    /// Tokens (input, output, cache read, cache write) and cost of the row with `request_id`.
    fn request(&self, request_id: &str) -> ([u64; 4], Option<f64>) {
        let ids = self.texts("request_id");
        let i = ids
            .iter()
            .position(|id| id.as_deref() == Some(request_id))
            .unwrap_or_else(|| panic!("no row with request_id {request_id}"));
        let count = |c: &str| {
            let v = self.0.column(c).unwrap().cast(&DataType::UInt64).unwrap();
            v.u64().unwrap().get(i).unwrap()
        };
        let cost = self.0.column("cost_usd").unwrap().f64().unwrap().get(i);
        (
            [
                count("input_tokens"),
                count("output_tokens"),
                count("cache_read_tokens"),
                count("cache_write_tokens"),
            ],
            cost,
        )
    }
}

/// Delivered outputs of `paths` by kind, deduplicated: (rows, amount). Read through the library:
/// no command writes outputs rows, and the audit's agent-weeks keep only agents with usage.
fn outputs_by_kind(paths: &[&str]) -> BTreeMap<String, (u32, f64)> {
    use tokenaudit::ingest::{self, canonical};
    let patterns: Vec<String> = paths.iter().map(|p| fixture(p)).collect();
    let files =
        ingest::resolve_inputs(&patterns, tokenaudit::schema::Table::Outputs, None).unwrap();
    // A vendor file holding both tables is listed once per table.
    let valid: Vec<LazyFrame> = files
        .iter()
        .filter(|file| file.table == tokenaudit::schema::Table::Outputs)
        .enumerate()
        .map(|(i, file)| {
            let scan = ingest::scan(file, ingest::Window::default()).unwrap();
            canonical::check(file, i as u32, scan.frame)
                .unwrap()
                .valid()
        })
        .collect();
    let all = concat(valid, UnionArgs::default()).unwrap();
    let frame = tokenaudit::normalize::dedup::outputs(all)
        .group_by([col("kind")])
        .agg([len().alias("rows"), col("amount").sum()])
        .collect()
        .unwrap();
    let kinds = frame.column("kind").unwrap().str().unwrap().clone();
    let rows = frame
        .column("rows")
        .unwrap()
        .cast(&DataType::UInt32)
        .unwrap();
    let amounts = frame.column("amount").unwrap().f64().unwrap().clone();
    (0..frame.height())
        .map(|i| {
            let kind = kinds.get(i).unwrap().to_string();
            (
                kind,
                (rows.u32().unwrap().get(i).unwrap(), amounts.get(i).unwrap()),
            )
        })
        .collect()
}

/// An audit run by detection alone: the JSON report, the quarantine file's rows, and stderr.
struct Audit {
    report: serde_json::Value,
    quarantine: Vec<String>,
    stderr: String,
}

fn audit(usage: &[&str], outputs: &[&str]) -> Audit {
    let tmp = tempfile::tempdir().unwrap();
    let quarantine = tmp.path().join("q.csv");
    let mut command = tokenaudit();
    command
        .args(["audit", "--format", "json", "--usage"])
        .args(usage);
    if !outputs.is_empty() {
        command.arg("--outputs").args(outputs);
    }
    let output = command
        .arg("--quarantine")
        .arg(&quarantine)
        .output()
        .unwrap();
    Audit {
        report: json(&output),
        quarantine: std::fs::read_to_string(&quarantine)
            .unwrap()
            .lines()
            .skip(1)
            .map(String::from)
            .collect(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

impl Audit {
    fn formats(&self) -> BTreeMap<String, String> {
        self.report["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let name = Path::new(i["path"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                (name, i["format"].as_str().unwrap().to_string())
            })
            .collect()
    }

    fn ingest(&self, key: &str) -> u64 {
        self.report["ingest"][key].as_u64().unwrap()
    }

    fn skipped(&self, reason: &str) -> u64 {
        self.report["ingest"]["records_skipped"][reason]
            .as_u64()
            .unwrap_or_else(|| panic!("no skip count `{reason}`: {}", self.report["ingest"]))
    }
}

#[test]
fn openai_usage_pages_give_the_documented_totals() {
    let (rows, _) = Rows::of(&["openai-usage"]);
    // 3 days x 5 groups, less eli's quarantined result on day 3; the empty bucket gives none.
    assert_eq!(rows.height(), 14);
    assert_eq!(rows.tokens(), [3_222_929, 460_045, 3_351_463, 0]);
    assert_eq!(rows.sum("requests"), 3_055);
    assert_eq!(
        rows.distinct("agent"),
        [
            "key_qm5tz8rklw2xn1cv",
            "proj_jt4wmp8sy1dq6vzr",
            "user-hb6tw1oyc9zse4mu",
            "user-vx3q8ldnan2rk7pe"
        ]
    );
    assert!(rows
        .texts("tier")
        .iter()
        .all(|t| t.as_deref() == Some("estimated")));
    // By hand, the project's audio result of 2026-10-05 (p1, fifth result): input_tokens 32,033
    // include 22,447 cached, and audio is counted apart in the long-documented schema, so
    // input = 32,033 − 22,447 + 44,092 audio = 53,678; output = 1,666 + 9,808 audio = 11,474.
    let id = "openai-usage:1791158400:proj_Jt4WmP8sY1dQ6Vzr:::gpt-4o-audio-preview-2025-06-03::";
    assert_eq!(rows.request(id).0, [53_678, 11_474, 22_447, 0]);

    let audit = audit(&["openai-usage"], &[]);
    assert!(
        audit.formats().values().all(|f| f == "openai-usage"),
        "{:?}",
        audit.formats()
    );
    assert_eq!(audit.ingest("rows_read"), 15);
    assert_eq!(audit.ingest("rows_quarantined"), 1);
    assert_eq!(
        audit.skipped("openai-usage: results of other usage endpoints (only completions are read)"),
        2
    );
    // The wrong-typed result, by file and its bucket's number in the file (as every paged
    // vendor export numbers its records).
    assert_eq!(audit.quarantine.len(), 1);
    let bad = &audit.quarantine[0];
    assert!(
        bad.starts_with("openai-usage/completions-2026-10-05-p2.json,1,record,"),
        "{bad}"
    );
    assert!(
        bad.contains("\"\"input_cached_tokens\"\":\"\"n/a\"\""),
        "{bad}"
    );
    // The audio model has no list price: listed, not costed as zero.
    assert_eq!(
        audit.report["unpriced_models"][0]["model"],
        "gpt-4o-audio-preview-2025-06-03"
    );
}

#[test]
fn openai_costs_give_the_documented_dollars() {
    let (rows, _) = Rows::of(&["openai-costs"]);
    // 3 days x 8 line items, less one whose amount is a bare number.
    assert_eq!(rows.height(), 23);
    assert_eq!(rows.tokens(), [0, 0, 0, 0]);
    assert_eq!(rows.sum("requests"), 0);
    assert_eq!(rows.cost("billed"), 51.922_836);
    assert_eq!(
        rows.distinct("agent"),
        ["proj_ae7rk2lx9wct3nbq", "proj_jt4wmp8sy1dq6vzr"]
    );
    // By hand: `amount.value` is dollars, 2.873433 → $2.873433 (not cents).
    let id = "openai-costs:1791158400:proj_Ae7Rk2Lx9WcT3Nbq:gpt-5.4-2026-03-05, input";
    assert_eq!(rows.request(id).1, Some(2.873_433));

    let audit = audit(&["openai-costs"], &[]);
    assert_eq!(audit.formats()["costs-2026-10-05.json"], "openai-costs");
    assert_eq!(audit.ingest("rows_quarantined"), 1);
    assert!(audit.report["unpriced_models"]
        .as_array()
        .unwrap()
        .is_empty());
    // Page 1 holds 2 buckets of 8 results: the bad one is in the second bucket of the file.
    let bad = &audit.quarantine[0];
    assert!(
        bad.starts_with("openai-costs/costs-2026-10-05.json,2,record,"),
        "{bad}"
    );
    assert!(bad.contains("not an OpenAI costs result"), "{bad}");
}

#[test]
fn reading_openai_usage_and_costs_together_warns_of_double_counting() {
    let warning = "this run reads both openai-usage and openai-costs files";
    let both = audit(&["openai-usage", "openai-costs"], &[]);
    assert!(both.stderr.contains(warning), "{}", both.stderr);
    let (_, ingest_stderr) = Rows::of(&["openai-usage", "openai-costs"]);
    assert!(ingest_stderr.contains(warning), "{ingest_stderr}");
    let spend = tokenaudit()
        .args(["spend", "--usage", "openai-usage", "openai-costs"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&spend.stderr).contains(warning));
    let one = audit(&["openai-usage"], &[]);
    assert!(
        !one.stderr.contains("cover the same spend"),
        "{}",
        one.stderr
    );
}

#[test]
fn copilot_reports_give_usage_and_outputs_from_one_file() {
    let (rows, _) = Rows::of(&["copilot"]);
    // CLI token days of dana-k and fay-r in the 28-day report (2026-10-09 again in the 1-day
    // report: deduplicated), less fay-r's quarantined day. IDE-only days give no usage.
    assert_eq!(rows.height(), 8);
    assert_eq!(rows.tokens(), [12_757_541, 452_248, 0, 0]);
    assert_eq!(rows.sum("requests"), 621);
    assert_eq!(rows.distinct("agent"), ["dana-k", "fay-r"]);
    // fay-r's CLI used two models: priced as the unknown `copilot`.
    assert_eq!(rows.distinct("model"), ["copilot", "gpt-5.4"]);
    // By hand, dana-k on 2026-10-05: prompt_tokens_sum 2,579,896 and output_tokens_sum 99,000,
    // all counted as uncached input (no cache split is reported).
    let day = rows.request("copilot-cli:2026-10-05:48213311").0;
    assert_eq!(day, [2_579_896, 99_000, 0, 0]);

    let audit = audit(&["copilot"], &[]);
    assert!(audit.formats().values().all(|f| f == "copilot"));
    // Usage: 10 rows (2 repeated) + 1 quarantined; outputs: 42 rows (8 repeated) + 1.
    assert_eq!(audit.ingest("rows_read"), 54);
    assert_eq!(audit.ingest("rows_quarantined"), 2);
    assert_eq!(audit.ingest("duplicates_removed"), 10);
    assert_eq!(
        audit.skipped("copilot: user-days without Copilot CLI tokens (IDE usage carries none)"),
        13
    );
    assert_eq!(
        audit.skipped("copilot: user-days without lines added or deleted"),
        2
    );
    // Lines of all four users, eli-m's and gus-t's IDE-only days included; 2026-10-09 is in
    // both reports and counts once.
    let outputs = outputs_by_kind(&["copilot"]);
    assert_eq!(outputs["loc_added"], (17, 3_609.0));
    assert_eq!(outputs["loc_removed"], (17, 931.0));
    let bad: Vec<&str> = audit.quarantine.iter().map(String::as_str).collect();
    assert!(
        bad[0].starts_with("copilot/users-28-day-2026-10-09.ndjson,7,record,"),
        "{}",
        bad[0]
    );
    assert!(bad[0].contains("unknown"), "{}", bad[0]);
    assert!(
        bad[1].starts_with("copilot/users-28-day-2026-10-09.ndjson,10,record,"),
        "{}",
        bad[1]
    );
    assert!(bad[1].contains("-4"), "{}", bad[1]);
}

#[test]
fn cursor_events_json_and_csv_give_the_documented_totals() {
    let (rows, _) = Rows::of(&["cursor/events", "cursor/dashboard"]);
    // 27 API events and 4 new CSV rows; the CSV's 3 events that the API export also has count
    // once.
    assert_eq!(rows.height(), 31);
    assert_eq!(rows.tokens(), [150_000, 343_417, 12_118_085, 2_031_975]);
    assert_eq!(rows.cost("billed"), 18.4683);
    let estimated = rows
        .texts("tier")
        .iter()
        .filter(|t| t.as_deref() == Some("estimated"))
        .count();
    // An event on the user's own API key, and a CSV row whose cost is `Included`.
    assert_eq!(estimated, 2);
    assert_eq!(
        rows.distinct("agent"),
        ["dana@corp.example", "eli@corp.example", "fay@corp.example"]
    );
    // By hand, fay's first event: chargedCents 27.89 → $0.2789; inputTokens 376 is uncached.
    let first = "cursor:fay@corp.example:1791191324515:376:4310:476401:6322";
    assert_eq!(
        rows.request(first),
        ([376, 4_310, 476_401, 6_322], Some(0.2789))
    );

    let audit = audit(&["cursor/events", "cursor/dashboard"], &["cursor/daily"]);
    let formats = audit.formats();
    assert_eq!(formats["usage-events-p1.json"], "cursor-events");
    assert_eq!(formats["usage-events-2026-10-08.csv"], "cursor-csv");
    assert_eq!(formats["daily-usage-2026-10-05.json"], "cursor-daily");
    // Usage 34 rows (3 repeated) + 2 quarantined; outputs 16 rows + 1 quarantined.
    assert_eq!(audit.ingest("rows_read"), 53);
    assert_eq!(audit.ingest("rows_quarantined"), 3);
    assert_eq!(audit.ingest("duplicates_removed"), 3);
    assert_eq!(
        audit.skipped("cursor-events: events without tokens or a charge"),
        1
    );
    assert_eq!(
        audit.skipped("cursor-csv: events without tokens or a charge"),
        1
    );
    assert_eq!(
        audit.skipped("cursor-daily: days without AI-accepted lines"),
        3
    );
    let outputs = outputs_by_kind(&["cursor/daily"]);
    assert_eq!(outputs["loc_added"], (8, 2_544.0));
    assert_eq!(outputs["loc_removed"], (8, 499.0));
    let bad = &audit.quarantine;
    assert!(
        bad[0].starts_with("cursor/events/usage-events-p2.json,9,record,"),
        "{}",
        bad[0]
    );
    assert!(bad[0].contains("12k"), "{}", bad[0]);
    assert!(
        bad[1].starts_with("cursor/dashboard/usage-events-2026-10-08.csv,9,record,"),
        "{}",
        bad[1]
    );
    assert!(bad[1].contains("`1,204`"), "{}", bad[1]);
    assert!(
        bad[2].starts_with("cursor/daily/daily-usage-2026-10-05.json,6,record,"),
        "{}",
        bad[2]
    );
}

#[test]
fn litellm_spend_logs_give_the_documented_totals() {
    let (rows, _) = Rows::of(&["litellm"]);
    assert_eq!(rows.height(), 24);
    assert_eq!(rows.tokens(), [87_210, 91_426, 1_747_399, 95_247]);
    // LiteLLM's spend is kept as the cost but labelled estimated; the local model it logged at
    // $0 is left unpriced rather than free.
    assert_eq!(rows.cost("estimated"), 2.390_827);
    assert_eq!(rows.cost("billed"), 0.0);
    assert_eq!(
        rows.distinct("agent"),
        ["ci-nightly", "cust_1043", "dana", "eli"]
    );
    assert_eq!(rows.distinct("team"), ["data", "platform"]);
    // By hand, dana's first request: prompt_tokens 82,528 include 70,051 cache reads and 7,826
    // cache writes, so uncached input = 82,528 − 70,051 − 7,826 = 4,651; spend is dollars.
    let first = rows.request("msg_f747aa7111d51364568ff890");
    assert_eq!(first, ([4_651, 1_843, 70_051, 7_826], Some(0.091_960_8)));

    let audit = audit(&["litellm"], &[]);
    assert_eq!(audit.formats()["spendlogs-2026-10-05.csv"], "litellm");
    assert_eq!(audit.ingest("rows_read"), 25);
    assert_eq!(
        audit.skipped("litellm: responses served from the proxy's cache (no model call)"),
        2
    );
    assert_eq!(audit.skipped("litellm: failed requests"), 1);
    assert_eq!(
        audit.report["unpriced_models"][0]["model"],
        "ollama/qwen3-coder:30b"
    );
    let bad = &audit.quarantine[0];
    assert!(
        bad.starts_with("litellm/spendlogs-2026-10-05.csv,26,record,"),
        "{bad}"
    );
    assert!(bad.contains("`completion_tokens` is `n/a`"), "{bad}");
}

#[test]
fn an_outputs_only_vendor_file_given_as_usage_is_an_error_naming_it() {
    let output = tokenaudit()
        .args([
            "audit",
            "--usage",
            "cursor/daily/daily-usage-2026-10-05.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a cursor-daily file, which holds no usage rows"),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_a_vendor_page_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("usage.json");
    std::fs::write(&path, "<html>rate limited</html>\n").unwrap();
    let output = tokenaudit()
        .args(["audit", "--usage-format", "openai-usage", "--usage"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("not an OpenAI usage page"), "{stderr}");
}

#[test]
fn a_page_per_line_export_quarantines_its_bad_pages_and_reads_the_rest() {
    // OpenAI and Cursor pages go through the same page reader as Anthropic's reports: one page
    // per line is read, and a saved error response or a cut-off line is quarantined by line.
    for (format, fixture, what) in [
        (
            "openai-usage",
            "openai-usage/completions-2026-10-05-p1.json",
            "an OpenAI usage page",
        ),
        (
            "cursor-events",
            "cursor/events/usage-events-p1.json",
            "a Cursor usage events page",
        ),
        (
            "cursor-daily",
            "cursor/daily/daily-usage-2026-10-05.json",
            "a Cursor daily usage response",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let page: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(crate::fixture(fixture)).unwrap())
                .unwrap();
        let line = serde_json::to_string(&page).unwrap();
        let path = tmp.path().join("pages.jsonl");
        let cut = &line[..line.len() / 2];
        let text = format!("{line}\n{{\"error\":{{\"message\":\"rate limited\"}}}}\n{cut}\n");
        std::fs::write(&path, text).unwrap();
        let quarantine = tmp.path().join("q.csv");
        let (table_flag, format_flag) = if format == "cursor-daily" {
            ("--outputs", "--outputs-format")
        } else {
            ("--usage", "--usage-format")
        };
        let mut command = tokenaudit();
        command.args([
            "audit",
            "-q",
            "--format",
            "json",
            format_flag,
            format,
            table_flag,
        ]);
        command.arg(&path);
        if format == "cursor-daily" {
            command.args(["--usage", "quarantine/usage.csv"]);
        }
        let output = command
            .arg("--quarantine")
            .arg(&quarantine)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{format}: {output:?}");
        let rows = std::fs::read_to_string(&quarantine).unwrap();
        let ours: Vec<&str> = rows.lines().filter(|l| l.contains("pages.jsonl")).collect();
        assert!(ours.len() >= 2, "{format}: {rows}");
        assert!(
            ours.iter()
                .any(|l| l.contains(&format!("line 2, `.`: not {what}"))),
            "{format}: {rows}"
        );
        assert!(
            ours.iter().any(|l| l.contains("line 3 is not JSON")),
            "{format}: {rows}"
        );
        let report = json(&output);
        assert!(
            report["ingest"]["rows_valid"].as_u64().unwrap() > 0,
            "{format}"
        );
    }
}
