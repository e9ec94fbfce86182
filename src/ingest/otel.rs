//! OpenTelemetry exports in the OTLP JSON encoding (what `/v1/logs` and `/v1/traces` receive,
//! and what the collector's file exporter writes, one document per line): log records under
//! `resourceLogs[].scopeLogs[].logRecords[]` and spans under
//! `resourceSpans[].scopeSpans[].spans[]`, each with `attributes: [{key, value: {stringValue |
//! intValue | doubleValue | boolValue}}]`. Two kinds of record are usage, one row each, tier
//! `estimated`:
//!
//! - **GenAI semantic conventions** (spans or log records with `gen_ai.usage.input_tokens` or
//!   `gen_ai.usage.output_tokens`), from any instrumented client.
//! - **Claude Code's `claude_code.api_request` events** (the log body, `eventName` or, with
//!   `service.name` `claude-code`, the `event.name` attribute `api_request`).
//!
//! | canonical | GenAI semconv attribute | Claude Code `api_request` attribute |
//! |---|---|---|
//! | `ts` | log `timeUnixNano` (else `observedTimeUnixNano`), span `startTimeUnixNano`: nanoseconds, as a string or a number | the same |
//! | `agent` | `user.email`, else `user.id`, else `enduser.id`, else `gen_ai.agent.name` (each looked up on the record, then its resource), else the resource's `service.name` | the same |
//! | `model` | `gen_ai.response.model`, else `gen_ai.request.model` | `model` |
//! | `input_tokens` | `gen_ai.usage.input_tokens` − `gen_ai.usage.cache_read.input_tokens` − `gen_ai.usage.cache_creation.input_tokens` (semconv counts cached input inside input) | `input_tokens` as is (see below) |
//! | `output_tokens` | `gen_ai.usage.output_tokens` (reasoning included) | `output_tokens` |
//! | `cache_read_tokens` | `gen_ai.usage.cache_read.input_tokens` | `cache_read_tokens` |
//! | `cache_write_tokens` | `gen_ai.usage.cache_creation.input_tokens` | `cache_creation_tokens` |
//! | `cost_usd` | none: priced from the price table | `cost_usd` (Claude Code's own estimate, hence tier `estimated`) |
//! | `session_id` | `gen_ai.conversation.id`, else `session.id` | `session.id` |
//! | `request_id` | `gen_ai.response.id`, else `<traceId>:<spanId>` (of the span, or of the span a log record was emitted in) | `claude-code:<session.id>:<event.sequence>` |
//! | `tool` | the resource's `service.name` | `claude-code` |
//!
//! - **Claude Code's `input_tokens` is uncached.** Its events copy the Anthropic API's `usage`
//!   object, in which `input_tokens` excludes cache reads and writes (`cache_read_tokens` and
//!   `cache_creation_tokens` are reported next to it, as `cache_read_input_tokens` and
//!   `cache_creation_input_tokens` are in the API and in Claude Code's session logs), so nothing
//!   is subtracted. Semconv's `gen_ai.usage.input_tokens` "should include all input, cached
//!   included", so the cached parts are subtracted; a record whose input is smaller than its
//!   cached parts does not follow the convention and is quarantined rather than guessed at.
//! - **Numbers.** OTLP JSON writes 64-bit integers (`intValue`, times) as strings; both strings
//!   and numbers are read, and Claude Code's string-valued attributes (`"1200"`) too.
//! - **Dedup.** Collectors deliver at least once: a batch retried is written twice. The response
//!   id, the span's trace and span ids, or Claude Code's `session.id` + `event.sequence` make
//!   the copies one request. The same key makes a semconv inference span and the usage event
//!   emitted in it one request when both are exported.
//! - **Skipped and counted:** Claude Code `api_error` events; agent and workflow spans
//!   (`gen_ai.operation.name` `invoke_agent`, `invoke_workflow`, `create_agent`) carrying usage
//!   when a model-call span of the same trace in the file carries it too (the agent's total
//!   would count the calls twice); OTLP metrics documents (`resourceMetrics`: Claude Code's
//!   `claude_code.token.usage` and `cost.usage` count the same requests as its events).
//!   Other records (prompts, tool results, spans without usage) are not usage and not counted.
//! - **Quarantined:** a record with a wrong-typed field (an `intValue` that is not a number, a
//!   token attribute that is not a non-negative whole number), a line that is not JSON. Its `_row`
//!   is the line its document starts on (one document per line in the collector's files); the
//!   reason starts with the jq path of the record (`.resourceLogs[0].scopeLogs[0].logRecords[3]`).
//! - **Double counting.** Claude Code's events, its session logs (`claude_code`) and the Claude
//!   Code Analytics API describe the same requests: give one source per person and period.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{self, Count};
use super::records::{line_chunks, numbered_lines, Records};
use super::vendor_json::{self, Document, Record};
use super::{Adapter, Scan};
use crate::schema::{self, Table};

pub struct OtelAdapter;

/// An integer as OTLP JSON writes it: a string (`"1200"`), or a number from lenient encoders.
#[derive(Debug, Clone, Copy)]
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Int, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Int;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number (or one as a string)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Int, E> {
                // `12.0` from a lenient encoder: whole, in range.
                let whole = v.fract() == 0.0 && v.abs() < 2f64.powi(63);
                whole
                    .then_some(Int(v as i64))
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Int, E> {
                v.trim()
                    .parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A double as OTLP JSON writes it: a number, or a string for `NaN` and the infinities.
#[derive(Debug, Clone, Copy)]
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Double, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Double;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Double, E> {
                Ok(Double(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Double, E> {
                v.trim()
                    .parse()
                    .map(Double)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AnyValue<'a> {
    #[serde(borrow)]
    string_value: Option<Cow<'a, str>>,
    int_value: Option<Int>,
    double_value: Option<Double>,
    bool_value: Option<bool>,
}

#[derive(Deserialize)]
struct KeyValue<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    value: AnyValue<'a>,
}

#[derive(Deserialize, Default)]
struct Resource<'a> {
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogRecord<'a> {
    #[serde(borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    span_id: Option<Cow<'a, str>>,
    time_unix_nano: Option<Count>,
    observed_time_unix_nano: Option<Count>,
    #[serde(borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    body: Option<AnyValue<'a>>,
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span<'a> {
    #[serde(borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    span_id: Option<Cow<'a, str>>,
    start_time_unix_nano: Option<Count>,
    #[serde(borrow, default)]
    attributes: Vec<KeyValue<'a>>,
}

/// A value's text, whatever its type.
fn text(value: &AnyValue) -> Option<String> {
    if let Some(s) = &value.string_value {
        return Some(s.to_string()).filter(|s| !s.trim().is_empty());
    }
    value
        .int_value
        .map(|i| i.0.to_string())
        .or(value.double_value.map(|d| d.0.to_string()))
        .or(value.bool_value.map(|b| b.to_string()))
}

/// What a value holds, for reasons.
fn shown(value: &AnyValue) -> String {
    match (
        &value.string_value,
        value.int_value,
        value.double_value,
        value.bool_value,
    ) {
        (Some(s), ..) => format!("the string `{s}`"),
        (_, Some(i), ..) => format!("`{}`", i.0),
        (_, _, Some(d), _) => format!("`{}`", d.0),
        (_, _, _, Some(b)) => format!("`{b}`"),
        _ => "empty".into(),
    }
}

/// A token count: `intValue`, a whole `doubleValue`, or a count in a `stringValue`, read as
/// every adapter reads counts ([`fields`]).
fn count(value: &AnyValue) -> Option<u64> {
    if let Some(i) = value.int_value {
        return u64::try_from(i.0).ok();
    }
    if let Some(d) = value.double_value {
        return fields::whole(d.0);
    }
    fields::parse_count(value.string_value.as_ref()?)
}

/// A decimal amount: `doubleValue` (finite: OTLP may write `"NaN"`, which is no amount),
/// `intValue`, or a decimal in a `stringValue`, read as every adapter reads amounts.
fn amount(value: &AnyValue) -> Option<f64> {
    if let Some(d) = value.double_value {
        return Some(d.0).filter(|d| d.is_finite());
    }
    if let Some(i) = value.int_value {
        return Some(i.0 as f64);
    }
    fields::parse_decimal(value.string_value.as_ref()?)
}

/// The attributes of a record and of its resource, looked up record first.
struct Attributes<'r, 'a> {
    own: &'r [KeyValue<'a>],
    resource: &'r [KeyValue<'a>],
}

impl<'a> Attributes<'_, 'a> {
    fn own(&self, key: &str) -> Option<&AnyValue<'a>> {
        self.own.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
    }

    fn any(&self, key: &str) -> Option<&AnyValue<'a>> {
        self.own(key).or_else(|| {
            self.resource
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| &kv.value)
        })
    }

    fn text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| self.any(key).and_then(text))
    }

    fn service(&self) -> Option<String> {
        self.resource
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| text(&kv.value))
    }

    fn agent(&self) -> Option<String> {
        self.text(&["user.email", "user.id", "enduser.id", "gen_ai.agent.name"])
            .or_else(|| self.service())
    }

    /// A token count, absent when the attribute is; an error when it is not a count.
    fn count(&self, key: &str) -> Result<Option<u64>, String> {
        match self.own(key) {
            None => Ok(None),
            Some(value) => count(value).map(Some).ok_or_else(|| {
                format!(
                    "attribute `{key}` is {}, expected a non-negative whole number",
                    shown(value)
                )
            }),
        }
    }
}

/// Nanoseconds since the epoch as ISO 8601 text, microseconds kept.
fn iso(nanos: u64) -> Option<String> {
    let at = chrono::DateTime::from_timestamp(
        (nanos / 1_000_000_000) as i64,
        (nanos % 1_000_000_000) as u32,
    )?;
    Some(at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

/// One usage row, held until every record of the file is read (agent spans are judged against
/// the model-call spans of their trace).
#[derive(Default)]
struct Row {
    number: u64,
    ts: Option<String>,
    agent: Option<String>,
    model: Option<String>,
    session: Option<String>,
    request: Option<String>,
    tool: Option<String>,
    tokens: [Option<u64>; 4],
    cost: Option<f64>,
    /// Set on spans: the trace, and whether the span is an agent's or workflow's total.
    trace: Option<String>,
    agent_total: bool,
}

const TEXT: [&str; 6] = [
    schema::TS,
    schema::AGENT,
    schema::MODEL,
    schema::SESSION_ID,
    schema::REQUEST_ID,
    schema::TOOL,
];
const COUNTS: [&str; 4] = [
    schema::INPUT_TOKENS,
    schema::OUTPUT_TOKENS,
    schema::CACHE_READ_TOKENS,
    schema::CACHE_WRITE_TOKENS,
];
const AMOUNTS: [&str; 1] = [schema::COST_USD];

/// The tokens of a semconv record, cached parts taken out of input.
fn semconv_row(attrs: &Attributes, row: &mut Row) -> Result<(), String> {
    let input = attrs.count("gen_ai.usage.input_tokens")?;
    let output = attrs.count("gen_ai.usage.output_tokens")?;
    let cache_read = attrs.count("gen_ai.usage.cache_read.input_tokens")?;
    let cache_write = attrs.count("gen_ai.usage.cache_creation.input_tokens")?;
    let cached = cache_read
        .unwrap_or(0)
        .saturating_add(cache_write.unwrap_or(0));
    let uncached = match input {
        Some(input) if input < cached => {
            return Err(format!(
                "`gen_ai.usage.input_tokens` ({input}) is smaller than its cached parts ({cached}); the convention counts cached input inside it"
            ))
        }
        Some(input) => Some(input - cached),
        None => None,
    };
    row.tokens = [
        uncached,
        output,
        Some(cache_read.unwrap_or(0)),
        Some(cache_write.unwrap_or(0)),
    ];
    row.model = attrs.text(&["gen_ai.response.model", "gen_ai.request.model"]);
    row.agent = attrs.agent();
    row.session = attrs.text(&["gen_ai.conversation.id", "session.id"]);
    row.request = attrs.text(&["gen_ai.response.id"]);
    row.tool = attrs.service();
    Ok(())
}

fn is_semconv_usage(attrs: &Attributes) -> bool {
    attrs.own("gen_ai.usage.input_tokens").is_some()
        || attrs.own("gen_ai.usage.output_tokens").is_some()
}

/// Claude Code's event name of a log record (`api_request`, `api_error`, …), if it is one.
fn claude_code_event<'r>(log: &'r LogRecord, attrs: &'r Attributes) -> Option<&'r str> {
    let named = [
        log.event_name.as_deref(),
        log.body.as_ref().and_then(|b| b.string_value.as_deref()),
        attrs
            .own("event.name")
            .and_then(|v| v.string_value.as_deref()),
    ];
    if let Some(event) = named
        .into_iter()
        .flatten()
        .find_map(|name| name.strip_prefix("claude_code."))
    {
        return Some(event);
    }
    let from_claude_code = attrs.service().as_deref() == Some("claude-code");
    named[2].filter(|_| from_claude_code)
}

fn claude_code_row(attrs: &Attributes, row: &mut Row) -> Result<(), String> {
    row.tokens = [
        attrs.count("input_tokens")?,
        attrs.count("output_tokens")?,
        Some(attrs.count("cache_read_tokens")?.unwrap_or(0)),
        Some(attrs.count("cache_creation_tokens")?.unwrap_or(0)),
    ];
    if let Some(value) = attrs.own("cost_usd") {
        row.cost = Some(amount(value).ok_or_else(|| {
            format!(
                "attribute `cost_usd` is {}, expected a number of dollars",
                shown(value)
            )
        })?);
    }
    row.model = attrs.text(&["model"]);
    row.agent = attrs.agent();
    row.session = attrs.text(&["session.id"]);
    row.request = match (row.session.as_ref(), attrs.text(&["event.sequence"])) {
        (Some(session), Some(sequence)) => Some(format!("claude-code:{session}:{sequence}")),
        _ => None,
    };
    row.tool = Some("claude-code".into());
    Ok(())
}

/// An array under `key` (absent: empty), or why the document does not fit.
fn array<'v>(value: &'v Value, key: &str, path: &str) -> Result<&'v [Value], String> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("`{path}.{key}`: expected an array")),
    }
}

fn resource<'v>(holder: &'v Value, at: &Record<'v>) -> Result<Resource<'v>, String> {
    match holder.get("resource") {
        None | Some(Value::Null) => Ok(Resource::default()),
        Some(value) => at.child(".resource", value).parse(),
    }
}

/// The dedup key of a call without a response id: the span it ran in.
fn span_key(trace: &Option<Cow<str>>, span: &Option<Cow<str>>) -> Option<String> {
    let present =
        |id: &Option<Cow<str>>| id.as_deref().filter(|id| !id.is_empty()).map(String::from);
    Some(format!("{}:{}", present(trace)?, present(span)?))
}

/// Calls `visit` on every record of a document under `keys` (`resourceLogs`, `scopeLogs`,
/// `logRecords` or the spans' equivalents), with its resource; parts of the outline that are
/// not arrays are quarantined.
fn walk<'v>(
    line: u64,
    document: &'v Value,
    [resources_key, scopes_key, records_key]: [&str; 3],
    records: &mut Records,
    mut visit: impl FnMut(&Record<'v>, &Resource<'v>, &mut Records),
) {
    let at = |path: String, value| Record {
        number: line,
        path,
        line: String::new(),
        value,
    };
    let quarantine = |records: &mut Records, reason: String, value: &Value| {
        records.unreadable(line, reason, &vendor_json::raw(value));
    };
    let resources = match array(document, resources_key, "") {
        Ok(resources) => resources,
        Err(reason) => {
            quarantine(records, reason, document);
            return;
        }
    };
    for (r, holder) in resources.iter().enumerate() {
        let path = format!(".{resources_key}[{r}]");
        let resource = match resource(holder, &at(path.clone(), holder)) {
            Ok(resource) => resource,
            Err(reason) => {
                quarantine(records, reason, holder);
                continue;
            }
        };
        let scopes = match array(holder, scopes_key, &path) {
            Ok(scopes) => scopes,
            Err(reason) => {
                quarantine(records, reason, holder);
                continue;
            }
        };
        for (s, scope) in scopes.iter().enumerate() {
            let path = format!("{path}.{scopes_key}[{s}]");
            let items = match array(scope, records_key, &path) {
                Ok(items) => items,
                Err(reason) => {
                    quarantine(records, reason, scope);
                    continue;
                }
            };
            for (i, value) in items.iter().enumerate() {
                let record = at(format!("{path}.{records_key}[{i}]"), value);
                visit(&record, &resource, records);
            }
        }
    }
}

/// Reads one document's records into `rows`; unreadable ones go to `records`.
fn read_document(line: u64, document: &Value, rows: &mut Vec<Row>, records: &mut Records) {
    if document.get("resourceMetrics").is_some() {
        records.skip("OTLP metrics documents");
    }
    let logs = ["resourceLogs", "scopeLogs", "logRecords"];
    walk(
        line,
        document,
        logs,
        records,
        |record, resource, records| read_log(record, resource, rows, records),
    );
    let spans = ["resourceSpans", "scopeSpans", "spans"];
    walk(
        line,
        document,
        spans,
        records,
        |record, resource, records| read_span(record, resource, rows, records),
    );
}

fn read_log(record: &Record, resource: &Resource, rows: &mut Vec<Row>, records: &mut Records) {
    let log: LogRecord = match record.parse() {
        Ok(log) => log,
        Err(reason) => {
            records.unreadable(record.number, reason, &vendor_json::raw(record.value));
            return;
        }
    };
    let attrs = Attributes {
        own: &log.attributes,
        resource: &resource.attributes,
    };
    let mut row = Row {
        number: record.number,
        ts: [log.time_unix_nano, log.observed_time_unix_nano]
            .into_iter()
            .flatten()
            .find(|t| t.0 > 0)
            .and_then(|t| iso(t.0)),
        ..Row::default()
    };
    let read = match claude_code_event(&log, &attrs) {
        Some("api_request") => claude_code_row(&attrs, &mut row),
        Some("api_error") => {
            records.skip("Claude Code api_error events");
            return;
        }
        _ if is_semconv_usage(&attrs) => semconv_row(&attrs, &mut row).map(|()| {
            // An event in a span's context shares the span's key: exported with its span, the
            // same call counts once.
            row.request = row
                .request
                .take()
                .or_else(|| span_key(&log.trace_id, &log.span_id));
        }),
        _ => return,
    };
    match read {
        Ok(()) => rows.push(row),
        Err(why) => record.unreadable(records, &why),
    }
}

fn read_span(record: &Record, resource: &Resource, rows: &mut Vec<Row>, records: &mut Records) {
    let span: Span = match record.parse() {
        Ok(span) => span,
        Err(reason) => {
            records.unreadable(record.number, reason, &vendor_json::raw(record.value));
            return;
        }
    };
    let attrs = Attributes {
        own: &span.attributes,
        resource: &resource.attributes,
    };
    if !is_semconv_usage(&attrs) {
        return;
    }
    let mut row = Row {
        number: record.number,
        ts: span
            .start_time_unix_nano
            .filter(|t| t.0 > 0)
            .and_then(|t| iso(t.0)),
        trace: span.trace_id.as_deref().map(str::to_string),
        agent_total: matches!(
            attrs.text(&["gen_ai.operation.name"]).as_deref(),
            Some("invoke_agent" | "invoke_workflow" | "create_agent")
        ),
        ..Row::default()
    };
    if let Err(why) = semconv_row(&attrs, &mut row) {
        record.unreadable(records, &why);
        return;
    }
    row.request = row
        .request
        .or_else(|| span_key(&span.trace_id, &span.span_id));
    rows.push(row);
}

/// What one piece of a file gave: rows held for the agent-span rule, and the records
/// quarantined or skipped.
struct Part {
    rows: Vec<Row>,
    records: Records,
}

impl Part {
    fn new() -> Part {
        Part {
            rows: Vec::new(),
            records: Records::new(&TEXT, &COUNTS, &AMOUNTS),
        }
    }

    fn read(&mut self, line: u64, document: Document) {
        match document {
            Document::Unreadable { reason, raw } => self.records.unreadable(line, reason, &raw),
            Document::Read(value) => read_document(line, &value, &mut self.rows, &mut self.records),
        }
    }
}

fn records_of(bytes: &[u8]) -> Result<Records, super::AdapterError> {
    let bytes = vendor_json::without_bom(bytes);
    // The collector writes one document per line: pieces of the file are parsed in parallel.
    let parts: Vec<Part> = if vendor_json::is_line_per_document(bytes) {
        line_chunks(bytes, rayon::current_num_threads() * 4)
            .into_par_iter()
            .map(|(first, chunk)| {
                let mut part = Part::new();
                for (line, text) in numbered_lines(first, chunk) {
                    part.read(line, vendor_json::line_document(line, text));
                }
                part
            })
            .collect()
    } else {
        let mut part = Part::new();
        vendor_json::each_document(bytes, "OTLP JSON", |line, document| {
            part.read(line, document)
        })?;
        vec![part]
    };
    let mut records = Records::new(&TEXT, &COUNTS, &AMOUNTS);
    let mut rows = Vec::new();
    for part in parts {
        records.append(part.records);
        rows.extend(part.rows);
    }
    // Traces in which a model call carries usage: their agent spans' totals are not added.
    let called: BTreeSet<&str> = rows
        .iter()
        .filter(|row| !row.agent_total)
        .filter_map(|row| row.trace.as_deref())
        .collect();
    for row in &rows {
        if row.agent_total && row.trace.as_deref().is_some_and(|t| called.contains(t)) {
            records.skip("agent spans whose model calls carry the usage");
            continue;
        }
        records.row(row.number);
        let text = [
            (schema::TS, &row.ts),
            (schema::AGENT, &row.agent),
            (schema::MODEL, &row.model),
            (schema::SESSION_ID, &row.session),
            (schema::REQUEST_ID, &row.request),
            (schema::TOOL, &row.tool),
        ];
        for (column, value) in text {
            if let Some(value) = value {
                records.text(column, value.as_str());
            }
        }
        for (column, value) in COUNTS.iter().zip(row.tokens) {
            if let Some(value) = value {
                records.count(column, value);
            }
        }
        if let Some(cost) = row.cost {
            records.amount(schema::COST_USD, cost);
        }
    }
    Ok(records)
}

pub fn read(path: &Path) -> Result<Scan, super::AdapterError> {
    let bytes = std::fs::read(path)?;
    records_of(&bytes)?.finish_as("estimated")
}

impl Adapter for OtelAdapter {
    fn name(&self) -> &'static str {
        "otel"
    }

    fn names(&self) -> &'static [&'static str] {
        &["otel", "otlp", "opentelemetry"]
    }

    fn extensions(&self) -> &'static [&'static str] {
        // Shares `.json`/`.jsonl` with canonical NDJSON: recognised by content.
        &[]
    }

    fn reads_into_memory(&self) -> bool {
        true
    }

    fn tables(&self) -> &'static [Table] {
        &[Table::Usage]
    }

    /// An OTLP document opens with its one key; other formats' free text (prompts in Claude
    /// Code logs) may mention the key, but not there.
    fn sniff(&self, head: &[u8]) -> bool {
        let start = head
            .iter()
            .position(|b| !(b.is_ascii_whitespace() || matches!(b, b'[' | b'{')))
            .map_or(&[][..], |i| &head[i..]);
        [
            &b"\"resourceLogs\""[..],
            b"\"resourceSpans\"",
            b"\"resourceMetrics\"",
        ]
        .iter()
        .any(|key| start.starts_with(key))
    }

    fn scan(&self, path: &Path, _table: Table) -> Result<Scan, super::AdapterError> {
        read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn frame(text: &str) -> (DataFrame, Scan) {
        let scan = records_of(text.as_bytes()).unwrap().finish().unwrap();
        (scan.frame.clone().collect().unwrap(), scan)
    }

    fn kv(key: &str, value: &str) -> String {
        format!(r#"{{"key":"{key}","value":{value}}}"#)
    }

    #[test]
    fn semconv_input_loses_its_cached_parts_and_claude_code_input_does_not() {
        let span = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"spans":[{{"traceId":"t1","spanId":"s1","startTimeUnixNano":"1789000000123456789","attributes":[{},{},{},{},{}]}}]}}]}}]}}"#,
            kv("service.name", r#"{"stringValue":"support-bot"}"#),
            kv("gen_ai.usage.input_tokens", r#"{"intValue":"1500"}"#),
            kv(
                "gen_ai.usage.cache_read.input_tokens",
                r#"{"intValue":1000}"#
            ),
            kv(
                "gen_ai.usage.cache_creation.input_tokens",
                r#"{"intValue":"200"}"#
            ),
            kv("gen_ai.usage.output_tokens", r#"{"intValue":"80"}"#),
            kv(
                "gen_ai.request.model",
                r#"{"stringValue":"claude-sonnet-4"}"#
            ),
        );
        let log = format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[{}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"1789000000000000000","body":{{"stringValue":"claude_code.api_request"}},"attributes":[{},{},{},{},{},{},{}]}}]}}]}}]}}"#,
            kv("service.name", r#"{"stringValue":"claude-code"}"#),
            kv("user.email", r#"{"stringValue":"eli@corp.example"}"#),
            kv("model", r#"{"stringValue":"claude-opus-4"}"#),
            kv("input_tokens", r#"{"stringValue":"12"}"#),
            kv("output_tokens", r#"{"intValue":"300"}"#),
            kv("cache_read_tokens", r#"{"intValue":"40000"}"#),
            kv("cost_usd", r#"{"doubleValue":0.0875}"#),
            kv("session.id", r#"{"stringValue":"sess-1"}"#),
        );
        let (frame, _) = frame(&format!("{span}\n{log}\n"));
        let count = |c: &str, i| frame.column(c).unwrap().u64().unwrap().get(i).unwrap();
        // Semconv: 1500 input includes 1000 read + 200 written → 300 uncached.
        assert_eq!(count("input_tokens", 0), 300);
        assert_eq!(count("cache_write_tokens", 0), 200);
        // Claude Code: input_tokens is already uncached.
        assert_eq!(count("input_tokens", 1), 12);
        let text = |c: &str, i| {
            frame
                .column(c)
                .unwrap()
                .str()
                .unwrap()
                .get(i)
                .map(String::from)
        };
        assert_eq!(
            text("ts", 0).as_deref(),
            Some("2026-09-10T00:26:40.123456Z")
        );
        assert_eq!(text("agent", 0).as_deref(), Some("support-bot"));
        assert_eq!(text("request_id", 0).as_deref(), Some("t1:s1"));
        assert_eq!(text("agent", 1).as_deref(), Some("eli@corp.example"));
        assert_eq!(text("tool", 1).as_deref(), Some("claude-code"));
        assert_eq!(frame.column("_row").unwrap().u64().unwrap().get(1), Some(2));
    }

    #[test]
    fn a_usage_event_shares_its_span_key() {
        let attrs = [
            kv("gen_ai.usage.input_tokens", r#"{"intValue":"10"}"#),
            kv("gen_ai.usage.output_tokens", r#"{"intValue":"1"}"#),
        ]
        .join(",");
        let doc = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"t","spanId":"s","attributes":[{attrs}]}}]}}]}}],
                "resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"traceId":"t","spanId":"s","attributes":[{attrs}]}}]}}]}}]}}"#
        );
        let (frame, _) = frame(&doc);
        let keys: Vec<_> = frame
            .column("request_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(keys, ["t:s", "t:s"]);
    }

    #[test]
    fn agent_totals_are_skipped_when_their_calls_are_there() {
        let span = |id: &str, op: &str| {
            format!(
                r#"{{"traceId":"t","spanId":"{id}","startTimeUnixNano":"1789000000000000000","attributes":[{},{},{}]}}"#,
                kv(
                    "gen_ai.operation.name",
                    &format!(r#"{{"stringValue":"{op}"}}"#)
                ),
                kv("gen_ai.usage.input_tokens", r#"{"intValue":"10"}"#),
                kv("gen_ai.usage.output_tokens", r#"{"intValue":"1"}"#),
            )
        };
        let doc = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{},{}]}}]}}]}}"#,
            span("a", "invoke_agent"),
            span("c", "chat")
        );
        let (frame, scan) = frame(&doc);
        assert_eq!(frame.height(), 1);
        assert_eq!(
            scan.skipped["agent spans whose model calls carry the usage"],
            1
        );
    }

    #[test]
    fn wrong_types_and_smaller_inputs_are_quarantined() {
        let doc = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"attributes":[{}]}},{{"attributes":[{},{}]}}]}}]}}]}}"#,
            kv("gen_ai.usage.input_tokens", r#"{"intValue":"ten"}"#),
            kv("gen_ai.usage.input_tokens", r#"{"intValue":"5"}"#),
            kv(
                "gen_ai.usage.cache_read.input_tokens",
                r#"{"intValue":"50"}"#
            ),
        );
        let (frame, _) = frame(&doc);
        let errors: Vec<_> = frame
            .column("_error")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert!(
            errors[0].contains("logRecords[0].attributes[0].value.intValue"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("smaller than its cached parts"),
            "{errors:?}"
        );
    }

    /// Counts and amounts are read as every adapter reads them (`fields`): a count in a string
    /// may be written `1200.0`, a lenient encoder's `intValue` may be `12.0`, an amount may
    /// carry a `$`, and `NaN` or an infinity is no amount.
    #[test]
    fn counts_and_amounts_read_as_every_adapter_reads_them() {
        let count_of = |json: &str| count(&serde_json::from_str::<super::AnyValue>(json).unwrap());
        let amount_of =
            |json: &str| amount(&serde_json::from_str::<super::AnyValue>(json).unwrap());
        assert_eq!(count_of(r#"{"stringValue":"1200.0"}"#), Some(1200));
        assert_eq!(count_of(r#"{"intValue":12.0}"#), Some(12));
        assert_eq!(count_of(r#"{"intValue":"12"}"#), Some(12));
        assert_eq!(count_of(r#"{"doubleValue":12.5}"#), None);
        assert_eq!(count_of(r#"{"intValue":"-3"}"#), None);
        assert_eq!(count_of(r#"{"stringValue":"NaN"}"#), None);
        assert_eq!(amount_of(r#"{"doubleValue":"NaN"}"#), None);
        assert_eq!(amount_of(r#"{"doubleValue":"-Infinity"}"#), None);
        assert_eq!(amount_of(r#"{"stringValue":"inf"}"#), None);
        assert_eq!(amount_of(r#"{"stringValue":" $0.42 "}"#), Some(0.42));
        assert_eq!(amount_of(r#"{"intValue":"7"}"#), Some(7.0));
        assert_eq!(amount_of(r#"{"doubleValue":0.25}"#), Some(0.25));
    }

    #[test]
    fn sniffing_wants_the_key_at_the_start() {
        let adapter = OtelAdapter;
        assert!(adapter.sniff(b"{\"resourceLogs\":[]}"));
        assert!(adapter.sniff(b"[\n {\n  \"resourceSpans\": []"));
        assert!(!adapter.sniff(b"{\"sessionId\":\"x\",\"text\":\"resourceLogs\"}"));
    }
}
