//! GitHub Copilot usage metrics, user level: the NDJSON reports the "Copilot usage metrics"
//! REST endpoints link to (`users-1-day`, `users-28-day/latest`, and the enterprise ones), one
//! JSON object per user and day. One file feeds both tables: the CLI's tokens as usage, and the
//! lines added and deleted as outputs. Tier `estimated`: the report counts tokens, not dollars.
//!
//! Usage rows:
//!
//! | canonical | Copilot field |
//! |---|---|
//! | `ts` | `day` (a date: midnight UTC) |
//! | `agent` | `user_login` |
//! | `model` | the model `totals_by_model_feature` names, when it names exactly one; else `copilot` (priced as unknown) |
//! | `input_tokens` | `totals_by_cli.token_usage.prompt_tokens_sum` (no cache split is reported: all of it counts as uncached) |
//! | `output_tokens` | `totals_by_cli.token_usage.output_tokens_sum` |
//! | `requests` | `totals_by_cli.request_count` (1 when absent) |
//! | `request_id` | `copilot-cli:` + `day` + `user_id` (else `user_login`): the 1-day and 28-day reports overlap, and a user-day read twice counts once |
//! | `tool` | `copilot-cli` |
//!
//! Outputs rows:
//!
//! | canonical | Copilot field |
//! |---|---|
//! | `ts`, `agent` | `day`, `user_login` |
//! | `kind` `loc_added`, `amount` | `loc_added_sum` |
//! | `kind` `loc_removed`, `amount` | `loc_deleted_sum` |
//! | `ref` | `copilot:` + `day` + user + kind (dedup across overlapping reports) |
//!
//! - **IDE usage carries no tokens.** Only the Copilot CLI reports token counts
//!   (`totals_by_cli.token_usage`); completions, chat and agent mode in the IDE report
//!   interactions and lines but no tokens, so they are invisible to cost analysis here. A
//!   user-day without CLI tokens gives no usage row (skipped and counted); its lines still
//!   count as outputs. `ai_credits_used` is not dollars and is not read.
//! - **Agent edits count in `loc_added_sum`.** Lines written by agent mode (`agent_edit`) are in
//!   `loc_added_sum` but not in `loc_suggested_to_add_sum`, so "added ÷ suggested" can exceed
//!   100%. tokenaudit reads the lines actually added (`loc_added_sum`, `loc_deleted_sum`) and
//!   never that ratio.
//! - **Skipped and counted:** user-days without CLI tokens (usage), user-days without lines
//!   added or deleted (outputs).
//! - **Quarantined:** a line that is not JSON, or whose fields have the wrong type (a count that
//!   is not a whole number), with its line number and text. Each table reads only its own
//!   fields: a bad `loc_added_sum` quarantines the outputs of that line, not its usage. A line
//!   that is not JSON at all feeds neither table and is quarantined in both.

use std::borrow::Cow;
use std::path::Path;

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;

use super::fields::Count;
use super::records::{numbered_lines, Records};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct CopilotAdapter;

/// What both tables read: who and when.
#[derive(Deserialize)]
struct Who<'a> {
    #[serde(borrow)]
    day: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_login: Option<Cow<'a, str>>,
    user_id: Option<Value>,
}

impl Who<'_> {
    /// The user in dedup keys: the numeric id (stable across renames), else the login.
    fn key(&self) -> String {
        match &self.user_id {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => self.user_login.as_deref().unwrap_or_default().to_string(),
        }
    }
}

#[derive(Deserialize)]
struct UsageFields<'a> {
    totals_by_cli: Option<Cli>,
    #[serde(borrow, default)]
    totals_by_model_feature: Option<Vec<ModelFeature<'a>>>,
}

#[derive(Deserialize)]
struct Cli {
    request_count: Option<Count>,
    token_usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct TokenUsage {
    prompt_tokens_sum: Option<Count>,
    output_tokens_sum: Option<Count>,
}

#[derive(Deserialize)]
struct ModelFeature<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct OutputFields {
    loc_added_sum: Option<Count>,
    loc_deleted_sum: Option<Count>,
}

const USAGE_TEXT: [&str; 5] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TOOL,
    schema::REQUEST_ID,
];
const USAGE_COUNTS: [&str; 3] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::REQUESTS,
];
const OUTPUT_TEXT: [&str; 4] = [schema::TS, schema::AGENT, schema::KIND, schema::REF];

/// The one model a user-day names, else `copilot`.
fn model_of(features: &[ModelFeature<'_>]) -> String {
    let mut models: Vec<&str> = features
        .iter()
        .filter_map(|f| f.model.as_deref())
        .filter(|m| !m.trim().is_empty())
        .collect();
    models.sort_unstable();
    models.dedup();
    match models.as_slice() {
        [one] => one.to_string(),
        _ => "copilot".to_string(),
    }
}

fn usage_row(records: &mut Records, line: u64, text: &[u8], who: &Who<'_>) {
    let fields: UsageFields = match serde_json::from_slice(text) {
        Ok(fields) => fields,
        Err(err) => {
            let reason = format!("not a Copilot user record (usage fields): {err}");
            records.unreadable(line, reason, text);
            return;
        }
    };
    let cli = fields.totals_by_cli.as_ref();
    let tokens = cli.and_then(|c| c.token_usage.as_ref());
    let input = tokens.and_then(|t| t.prompt_tokens_sum).map_or(0, |c| c.0);
    let output = tokens.and_then(|t| t.output_tokens_sum).map_or(0, |c| c.0);
    if input == 0 && output == 0 {
        records.skip("user-days without Copilot CLI tokens (IDE usage carries none)");
        return;
    }
    records.row(line);
    if let Some(day) = &who.day {
        records.text(schema::TS, day.as_ref());
    }
    if let Some(login) = &who.user_login {
        records.text(schema::AGENT, login.as_ref());
    }
    let features = fields.totals_by_model_feature.unwrap_or_default();
    records.text(schema::MODEL, model_of(&features));
    records.text(schema::TOOL, "copilot-cli");
    let day = who.day.as_deref().unwrap_or_default();
    records.text(
        schema::REQUEST_ID,
        format!("copilot-cli:{day}:{}", who.key()),
    );
    records.count(schema::INPUT_TOKENS, input);
    records.count(schema::OUTPUT_TOKENS, output);
    let requests = cli.and_then(|c| c.request_count).map_or(1, |c| c.0);
    records.count(schema::REQUESTS, requests);
}

fn output_rows(records: &mut Records, line: u64, text: &[u8], who: &Who<'_>) {
    let fields: OutputFields = match serde_json::from_slice(text) {
        Ok(fields) => fields,
        Err(err) => {
            let reason = format!("not a Copilot user record (lines of code): {err}");
            records.unreadable(line, reason, text);
            return;
        }
    };
    let day = who.day.as_deref().unwrap_or_default();
    let mut any = false;
    for (kind, lines) in [
        ("loc_added", fields.loc_added_sum),
        ("loc_removed", fields.loc_deleted_sum),
    ] {
        let lines = lines.map_or(0, |c| c.0);
        if lines == 0 {
            continue;
        }
        any = true;
        records.row(line);
        if let Some(day) = &who.day {
            records.text(schema::TS, day.as_ref());
        }
        if let Some(login) = &who.user_login {
            records.text(schema::AGENT, login.as_ref());
        }
        records.text(schema::KIND, kind);
        records.text(schema::REF, format!("copilot:{day}:{}:{kind}", who.key()));
        records.amount(schema::AMOUNT, lines as f64);
    }
    if !any {
        records.skip("user-days without lines added or deleted");
    }
}

fn read_bytes(bytes: &[u8], table: Table) -> Result<Scan, super::AdapterError> {
    let mut records = match table {
        Table::Usage => Records::new(&USAGE_TEXT, &USAGE_COUNTS, &[]),
        Table::Outputs => Records::new(&OUTPUT_TEXT, &[], &[schema::AMOUNT]),
    };
    for (line, text) in numbered_lines(1, bytes) {
        let who: Who = match serde_json::from_slice(text) {
            Ok(who) => who,
            Err(err) => {
                let reason = format!("not a Copilot user record: {err}");
                records.unreadable(line, reason, text);
                continue;
            }
        };
        match table {
            Table::Usage => usage_row(&mut records, line, text, &who),
            Table::Outputs => output_rows(&mut records, line, text, &who),
        }
    }
    match table {
        Table::Usage => records.finish_as("estimated"),
        Table::Outputs => records.finish(),
    }
}

impl Adapter for CopilotAdapter {
    fn name(&self) -> &'static str {
        "copilot"
    }

    fn names(&self) -> &'static [&'static str] {
        &["copilot", "github-copilot", "copilot-metrics"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.ndjson`/`.jsonl`/`.json` with canonical NDJSON: recognised by content.
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let has = |key: &[u8]| memmem::find(head, key).is_some();
        has(b"\"user_login\"")
            && (has(b"\"loc_added_sum\"")
                || has(b"\"totals_by_ide\"")
                || has(b"\"code_generation_activity_count\"")
                || has(b"\"user_initiated_interaction_count\""))
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Usage, Table::Outputs]
    }

    fn scan(&self, path: &Path, table: Table) -> Result<Scan, super::AdapterError> {
        read_bytes(&std::fs::read(path)?, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::canonical::{ERROR, ROW};
    use polars::prelude::*;

    const LINES: &str = concat!(
        r#"{"day":"2026-10-05","user_id":101,"user_login":"dana","loc_added_sum":40,"loc_deleted_sum":0,"totals_by_cli":{"request_count":3,"token_usage":{"prompt_tokens_sum":9000,"output_tokens_sum":700}},"totals_by_model_feature":[{"model":"gpt-5.4","feature":"copilot_cli"}]}"#,
        "\n",
        r#"{"day":"2026-10-05","user_id":102,"user_login":"eli","loc_added_sum":0,"loc_deleted_sum":0,"totals_by_model_feature":[{"model":"gpt-5.4"},{"model":"claude-sonnet-4.5"}]}"#,
        "\n",
        r#"{"day":"2026-10-06","user_id":102,"user_login":"eli","loc_added_sum":"many","totals_by_cli":{"token_usage":{"prompt_tokens_sum":10,"output_tokens_sum":2}},"totals_by_model_feature":[{"model":"gpt-5.4"},{"model":"claude-sonnet-4.5"}]}"#,
        "\n",
        r#"{"day":"2026-10-06","user_login":"#,
        "\n",
    );

    fn frame(table: Table) -> (DataFrame, Scan) {
        let scan = read_bytes(LINES.as_bytes(), table).unwrap();
        (scan.frame.clone().collect().unwrap(), scan)
    }

    #[test]
    fn usage_comes_from_cli_tokens_only() {
        let (usage, scan) = frame(Table::Usage);
        let rows: Vec<_> = usage.column(ROW).unwrap().u64().unwrap().iter().collect();
        // Lines 1 and 3 have CLI tokens, line 2 has none (skipped), line 4 is broken.
        assert_eq!(rows, [Some(1), Some(3), Some(4)]);
        let models: Vec<_> = usage
            .column(schema::MODEL)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(models, [Some("gpt-5.4"), Some("copilot"), None]);
        let requests: Vec<_> = usage
            .column(schema::REQUESTS)
            .unwrap()
            .u64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(requests, [Some(3), Some(1), None]);
        assert_eq!(usage.column(ERROR).unwrap().null_count(), 2);
        assert_eq!(scan.skipped.values().sum::<u64>(), 1);
    }

    #[test]
    fn outputs_come_from_lines_and_a_bad_count_quarantines_only_them() {
        let (outputs, scan) = frame(Table::Outputs);
        let rows: Vec<_> = outputs.column(ROW).unwrap().u64().unwrap().iter().collect();
        assert_eq!(rows, [Some(1), Some(3), Some(4)]);
        let errors = outputs.column(ERROR).unwrap().str().unwrap();
        assert!(
            errors.get(1).unwrap().contains("many"),
            "{:?}",
            errors.get(1)
        );
        let refs = outputs.column(schema::REF).unwrap().str().unwrap();
        assert_eq!(refs.get(0), Some("copilot:2026-10-05:101:loc_added"));
        assert_eq!(scan.skipped.values().sum::<u64>(), 1);
    }
}
