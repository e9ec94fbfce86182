//! OpenAI organization usage, completions: pages of `GET /v1/organization/usage/completions`
//! (Admin key), saved one page per file, or several pages as one JSON array. A page is
//! `{object:"page", data:[{object:"bucket", start_time, end_time, results:[…]}], has_more,
//! next_page}`; each result is one group (user, key, project, model…) of one time bucket.
//! Tier `estimated`: the usage API counts tokens, it bills nothing (the costs API does, see
//! `openai_costs`), so these tokens are priced from the price table.
//!
//! | canonical | OpenAI field |
//! |---|---|
//! | `ts` | the bucket's `start_time` (Unix seconds) |
//! | `agent` | `user_id`, else `api_key_id`, else `project_id`, else `organization` (whichever the export was grouped by) |
//! | `model` | `model`; `not-grouped-by-model` when the export was not grouped by model (priced as unknown: export with `group_by=model`) |
//! | `input_tokens` | `input_tokens` − `input_cached_tokens` + `input_audio_tokens` (see below) |
//! | `output_tokens` | `output_tokens` + `output_audio_tokens` (see below) |
//! | `cache_read_tokens` | `input_cached_tokens` |
//! | `cache_write_tokens` | `input_cache_write_tokens` + `input_cache_write_12h_tokens` (newer schema only), else 0 |
//! | `requests` | `num_model_requests` |
//! | `request_id` | `openai-usage:` + bucket start + every group key (`project_id, user_id, api_key_id, model, batch, service_tier`): the same group of the same bucket read twice (overlapping exports) counts once |
//! | `tool` | `openai-api` |
//!
//! - **Cached tokens are inside `input_tokens`.** OpenAI counts cached input in
//!   `input_tokens`; the canonical `input_tokens` is uncached only, so the cached part is
//!   subtracted. A result whose cached tokens exceed its input is quarantined.
//! - **Audio, two schemas.** The long-documented schema counts text only in `input_tokens` and
//!   `output_tokens` and audio apart in `input_audio_tokens` (cached audio included) and
//!   `output_audio_tokens`: audio is added in, so every token is counted once (cached audio is
//!   not split out and counts as uncached input). The newer schema makes `input_tokens` and
//!   `output_tokens` totals over text, audio and images, with breakdowns
//!   (`input_uncached_tokens`, `input_text_tokens`, `output_text_tokens`,
//!   `input_cache_write_tokens`…): a result carrying any breakdown is read that way, audio is
//!   not added again, and `input_uncached_tokens` is the uncached input when present. The
//!   price table prices audio tokens as text tokens.
//! - **Skipped and counted:** results of other usage endpoints (`organization.usage.embeddings.result`,
//!   images, audio…) found in the same folder; only completions are read.
//! - **Quarantined:** a result whose fields have the wrong type (`"input_tokens": "n/a"`), or
//!   a bucket without a Unix `start_time`, with its text. The "line" of a quarantined record
//!   is its 1-based index among the results of the file (pages and buckets in file order), as
//!   API pages are usually one line of JSON. A file that is not a page (or an array of pages)
//!   at all is an error naming the file.
//! - Not read: `end_time` (the bucket width is implied by consecutive starts), `batch` and
//!   `service_tier` (kept in the dedup key only; batch discounts are not priced).

use std::path::Path;

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{iso_from_unix_seconds, Count, Epoch};
use super::records::Records;
use super::vendor_json;
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct OpenAiUsageAdapter;

const COMPLETIONS: &str = "organization.usage.completions.result";

/// The model of results from exports not grouped by model.
pub const UNGROUPED_MODEL: &str = "not-grouped-by-model";

#[derive(Deserialize)]
struct Bucket {
    start_time: Epoch,
    // Some generated clients name it `result`.
    #[serde(alias = "result", default)]
    results: Vec<Value>,
}

/// Calls `each` with the number, bucket start (Unix seconds) and JSON of every result in an
/// OpenAI Admin API export (one page, an array of pages, or one page per line), read through
/// [`vendor_json::each_record`]: results are numbered as their bucket, as in the Anthropic
/// reports, and a bucket or page that cannot be read is quarantined with its path. `page`
/// names the export's page in errors ("an OpenAI usage page").
pub(super) fn each_result(
    bytes: &[u8],
    page: &'static str,
    records: &mut Records,
    mut each: impl FnMut(&mut Records, u64, i64, &Value),
) -> Result<(), super::AdapterError> {
    vendor_json::each_record(
        bytes,
        page,
        records,
        |records, bucket| match Bucket::deserialize(bucket.value) {
            Ok(parsed) => {
                for result in &parsed.results {
                    each(records, bucket.number, parsed.start_time.0, result);
                }
            }
            Err(err) => bucket.unreadable(records, &format!("not an OpenAI bucket: {err}")),
        },
    )
}

#[derive(Deserialize)]
struct UsageResult {
    input_tokens: Count,
    output_tokens: Count,
    num_model_requests: Count,
    input_cached_tokens: Option<Count>,
    input_audio_tokens: Option<Count>,
    output_audio_tokens: Option<Count>,
    // The newer schema's breakdowns.
    input_uncached_tokens: Option<Count>,
    input_text_tokens: Option<Count>,
    output_text_tokens: Option<Count>,
    input_cache_write_tokens: Option<Count>,
    input_cache_write_12h_tokens: Option<Count>,
    project_id: Option<String>,
    user_id: Option<String>,
    api_key_id: Option<String>,
    model: Option<String>,
    batch: Option<bool>,
    service_tier: Option<String>,
}

/// Canonical token classes of one result: (input, output, cache read, cache write).
fn tokens(result: &UsageResult) -> Result<[u64; 4], String> {
    let n = |c: Option<Count>| c.map_or(0, |c| c.0);
    let cached = n(result.input_cached_tokens);
    let newer = result.input_uncached_tokens.is_some()
        || result.input_text_tokens.is_some()
        || result.output_text_tokens.is_some()
        || result.input_cache_write_tokens.is_some()
        || result.input_cache_write_12h_tokens.is_some();
    let over = |what: &str, part: u64| {
        format!(
            "{what} ({part}) exceed `input_tokens` ({}), which includes them",
            result.input_tokens.0
        )
    };
    if newer {
        let cache_write =
            n(result.input_cache_write_tokens) + n(result.input_cache_write_12h_tokens);
        let input = match result.input_uncached_tokens {
            Some(uncached) => uncached.0,
            None => result
                .input_tokens
                .0
                .checked_sub(cached + cache_write)
                .ok_or_else(|| over("cached and cache-write tokens", cached + cache_write))?,
        };
        Ok([input, result.output_tokens.0, cached, cache_write])
    } else {
        let uncached_text = result
            .input_tokens
            .0
            .checked_sub(cached)
            .ok_or_else(|| over("`input_cached_tokens`", cached))?;
        Ok([
            uncached_text + n(result.input_audio_tokens),
            result.output_tokens.0 + n(result.output_audio_tokens),
            cached,
            0,
        ])
    }
}

const TEXT: [&str; 5] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::TOOL,
    schema::REQUEST_ID,
];
const COUNTS: [&str; 5] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
    schema::REQUESTS,
];

fn read_result(records: &mut Records, index: u64, start: i64, value: &Value) {
    let object = value.get("object").and_then(Value::as_str);
    if object.is_some_and(|o| o != COMPLETIONS) {
        records.skip("results of other usage endpoints (only completions are read)");
        return;
    }
    let raw = || value.to_string();
    let parsed = match UsageResult::deserialize(value) {
        Ok(parsed) => parsed,
        Err(err) => {
            let reason = format!("not an OpenAI completions usage result: {err}");
            records.unreadable(index, reason, raw().as_bytes());
            return;
        }
    };
    let [input, output, cache_read, cache_write] = match tokens(&parsed) {
        Ok(tokens) => tokens,
        Err(reason) => {
            records.unreadable(index, reason, raw().as_bytes());
            return;
        }
    };
    let Some(ts) = iso_from_unix_seconds(start) else {
        let reason = format!("bucket `start_time` {start} is not a Unix time in seconds");
        records.unreadable(index, reason, raw().as_bytes());
        return;
    };
    records.row(index);
    records.text(schema::TS, ts);
    let agent = [&parsed.user_id, &parsed.api_key_id, &parsed.project_id]
        .into_iter()
        .flatten()
        .find(|id| !id.trim().is_empty())
        .map_or("organization", String::as_str);
    records.text(schema::AGENT, agent);
    let model = parsed.model.as_deref().unwrap_or(UNGROUPED_MODEL);
    records.text(schema::MODEL, model);
    records.text(schema::TOOL, "openai-api");
    let key = |v: &Option<String>| v.clone().unwrap_or_default();
    records.text(
        schema::REQUEST_ID,
        format!(
            "openai-usage:{start}:{}:{}:{}:{}:{}:{}",
            key(&parsed.project_id),
            key(&parsed.user_id),
            key(&parsed.api_key_id),
            key(&parsed.model),
            parsed.batch.map_or(String::new(), |b| b.to_string()),
            key(&parsed.service_tier),
        ),
    );
    records.count(schema::INPUT_TOKENS, input);
    records.count(schema::OUTPUT_TOKENS, output);
    records.count(schema::CACHE_READ_TOKENS, cache_read);
    records.count(schema::CACHE_WRITE_TOKENS, cache_write);
    records.count(schema::REQUESTS, parsed.num_model_requests.0);
}

fn read_bytes(bytes: &[u8]) -> Result<Scan, super::AdapterError> {
    let mut records = Records::new(&TEXT, &COUNTS, &[]);
    each_result(bytes, "an OpenAI usage page", &mut records, read_result)?;
    records.finish_as("estimated")
}

impl Adapter for OpenAiUsageAdapter {
    fn name(&self) -> &'static str {
        "openai-usage"
    }

    fn names(&self) -> &'static [&'static str] {
        &["openai-usage", "openai-completions"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.json` with canonical NDJSON: recognised by content.
        &[]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        // Any usage endpoint's export is recognised, so an embeddings page in the same folder
        // is read (and its results skipped and counted) rather than misread as canonical.
        memmem::find(head, b"\"organization.usage.").is_some()
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Usage]
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        read_bytes(&std::fs::read(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn rows(json: &str) -> (DataFrame, Scan) {
        let scan = read_bytes(json.as_bytes()).unwrap();
        let frame = scan.frame.clone().collect().unwrap();
        (frame, scan)
    }

    fn count(frame: &DataFrame, column: &str) -> Vec<Option<u64>> {
        frame
            .column(column)
            .unwrap()
            .u64()
            .unwrap()
            .iter()
            .collect()
    }

    const PAGE: &str = r#"{"object":"page","data":[{"object":"bucket","start_time":1791158400,"end_time":1791244800,"results":[
        {"object":"organization.usage.completions.result","input_tokens":1000,"input_cached_tokens":400,"output_tokens":50,"input_audio_tokens":30,"output_audio_tokens":7,"num_model_requests":3,"user_id":null,"api_key_id":null,"project_id":null,"model":null},
        {"object":"organization.usage.completions.result","input_tokens":1000,"input_cached_tokens":400,"input_cache_write_tokens":100,"input_uncached_tokens":500,"input_audio_tokens":30,"output_tokens":50,"output_audio_tokens":7,"num_model_requests":2,"user_id":null,"api_key_id":"key_ci","project_id":"proj_a","model":"gpt-5.4"},
        {"object":"organization.usage.embeddings.result","input_tokens":9,"num_model_requests":1}
    ]}],"has_more":false,"next_page":null}"#;

    #[test]
    fn audio_is_added_in_the_old_schema_and_not_again_in_the_new_one() {
        let (frame, scan) = rows(PAGE);
        // Old schema: 1000 − 400 cached + 30 audio; 50 + 7 audio.
        // New schema: input_uncached_tokens as given; output_tokens already has the audio.
        assert_eq!(count(&frame, schema::INPUT_TOKENS), [Some(630), Some(500)]);
        assert_eq!(count(&frame, schema::OUTPUT_TOKENS), [Some(57), Some(50)]);
        assert_eq!(
            count(&frame, schema::CACHE_READ_TOKENS),
            [Some(400), Some(400)]
        );
        assert_eq!(
            count(&frame, schema::CACHE_WRITE_TOKENS),
            [Some(0), Some(100)]
        );
        let agents: Vec<_> = frame
            .column(schema::AGENT)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(agents, [Some("organization"), Some("key_ci")]);
        let models: Vec<_> = frame
            .column(schema::MODEL)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(models, [Some(UNGROUPED_MODEL), Some("gpt-5.4")]);
        let ts = frame
            .column(schema::TS)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_string();
        assert_eq!(ts, "2026-10-05T00:00:00Z");
        assert_eq!(scan.skipped.values().sum::<u64>(), 1);
    }

    #[test]
    fn an_array_of_pages_is_read_and_bad_records_are_numbered() {
        let pages = format!(
            "[{PAGE}, {}]",
            r#"{"object":"page","data":[{"start_time":"soon","results":[{}]},{"start_time":1791244800,"results":[{"object":"organization.usage.completions.result","input_tokens":"n/a","output_tokens":1,"num_model_requests":1},{"object":"organization.usage.completions.result","input_tokens":5,"input_cached_tokens":6,"output_tokens":1,"num_model_requests":1}]}]}"#
        );
        let (frame, _) = rows(&pages);
        let errors = frame
            .column(crate::ingest::canonical::ERROR)
            .unwrap()
            .str()
            .unwrap();
        let rows = frame
            .column(crate::ingest::canonical::ROW)
            .unwrap()
            .u64()
            .unwrap();
        let bad: Vec<(u64, &str)> = rows
            .iter()
            .zip(errors.iter())
            .filter_map(|(r, e)| Some((r?, e?)))
            .collect();
        // Numbered as their bucket across the file's pages, as in the Anthropic reports: the
        // second page's buckets are the 2nd and 3rd, whose two results share number 3.
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!(bad[0].0, 2);
        assert!(bad[0].1.contains("not an OpenAI bucket"), "{}", bad[0].1);
        assert!(bad[0].1.contains("`.[1].data[0]`"), "{}", bad[0].1);
        assert_eq!(bad[1].0, 3);
        assert!(bad[1].1.contains("n/a"), "{}", bad[1].1);
        assert_eq!(bad[2].0, 3);
        assert!(bad[2].1.contains("exceed `input_tokens`"), "{}", bad[2].1);
    }

    #[test]
    fn a_file_that_is_not_a_page_is_an_error() {
        let err = read_bytes(b"ts,agent\n1,2\n").err().unwrap();
        assert!(
            err.to_string().contains("not an OpenAI usage page"),
            "{err}"
        );
    }
}
