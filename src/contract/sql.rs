//! `tokenaudit sql`: the SQL that computes the stats contract in the engine that holds the
//! usage rows (Spark, DuckDB, Trino/Athena, BigQuery), so that a data lake hands tokenaudit a few
//! small tables instead of its billions of rows.
//!
//! The SQL mirrors the local fold ([`crate::features::fold`]) rule for rule, and pins every
//! semantic engines disagree on:
//! - **days and weeks** are computed as integers: the local date in the time zone, its day
//!   number since 1970-01-01, and the week's first day as `day - ((day + k) mod 7)` (1970-01-01
//!   was a Thursday: k = 3 for Monday weeks, 4 for Sunday weeks), never an engine's week
//!   truncation (BigQuery's weeks start on Sunday, Spark's and Trino's on Monday);
//! - **seconds** are whole UTC seconds since the epoch, rounded down; bins, hours and start
//!   windows are integer divisions of non-negative numbers, modulo made non-negative;
//! - **duplicates** (rows sharing a `request_id`, wherever they fall) collapse to the largest of
//!   each count and the smallest tool and repository, in the day and session of the earliest
//!   copy (ties broken by agent, day, model, tier, then session with NULL last, written out
//!   rather than left to an engine's NULL ordering); rows without a `request_id` are never
//!   grouped;
//! - **distinct counts** skip NULL (as the fold does); **ties** in the largest sessions are
//!   broken by session id, so no order depends on the engine;
//! - **money** is the vendor cost times 10⁶ rounded half away from zero to an integer;
//! - **text** is trimmed and an empty string is NULL, as the checks of the local path do.
//!
//! What the SQL assumes of its input: one row per usage record with the canonical columns
//! (`tokenaudit schema`), `ts` a UTC timestamp; columns the table lacks are named with
//! `--absent` and take the local path's defaults. Rows without `ts`, `agent`, `model` or input
//! and output tokens, or with a negative count, are left out and counted as quarantined.

use std::fmt::Write as _;

use crate::features::behavior::{
    BIN_SECONDS, HOURS, LABEL_SPAN_SECONDS, START_WINDOW_SECONDS, TOP_SESSIONS,
};
use crate::features::{Snapshot, TRIVIAL_OUTPUT_TOKENS};
use crate::normalize::calendar::WeekStart;
use crate::normalize::identities::IdentityMap;

/// An engine's flavour of SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    DuckDb,
    Spark,
    Trino,
    BigQuery,
}

impl Dialect {
    pub const NAMES: &'static str = "duckdb, spark, trino, bigquery";

    pub fn parse(name: &str) -> Option<Dialect> {
        match name.to_ascii_lowercase().as_str() {
            "duckdb" => Some(Dialect::DuckDb),
            "spark" | "databricks" => Some(Dialect::Spark),
            "trino" | "athena" | "presto" => Some(Dialect::Trino),
            "bigquery" => Some(Dialect::BigQuery),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::Spark => "spark",
            Dialect::Trino => "trino",
            Dialect::BigQuery => "bigquery",
        }
    }

    /// Where the engine writes a part, relative to the stats folder: a file for DuckDB, a
    /// folder of part files for the others.
    pub fn table_path(self, part: &str) -> String {
        match self {
            Dialect::DuckDb => format!("{part}.parquet"),
            _ => part.to_string(),
        }
    }

    /// The local date of the UTC timestamp `ts` in time zone `tz`.
    fn local_date(self, ts: &str, tz: &str) -> String {
        match self {
            Dialect::DuckDb => format!("CAST(timezone('{tz}', CAST({ts} AS TIMESTAMPTZ)) AS DATE)"),
            Dialect::Spark => format!("to_date(from_utc_timestamp({ts}, '{tz}'))"),
            Dialect::Trino => format!("CAST(({ts} AT TIME ZONE '{tz}') AS DATE)"),
            Dialect::BigQuery => format!("DATE({ts}, '{tz}')"),
        }
    }

    /// Days from 1970-01-01 to a date.
    fn day_number(self, date: &str) -> String {
        match self {
            Dialect::DuckDb => format!("CAST(({date}) - DATE '1970-01-01' AS BIGINT)"),
            Dialect::Spark => format!("CAST(datediff({date}, DATE '1970-01-01') AS BIGINT)"),
            Dialect::Trino => format!("date_diff('day', DATE '1970-01-01', {date})"),
            Dialect::BigQuery => format!("UNIX_DATE({date})"),
        }
    }

    /// The date of a day number.
    fn date_of(self, day: &str) -> String {
        match self {
            Dialect::DuckDb => format!("(DATE '1970-01-01' + CAST({day} AS INTEGER))"),
            Dialect::Spark => format!("date_add(DATE '1970-01-01', CAST({day} AS INT))"),
            Dialect::Trino => format!("date_add('day', {day}, DATE '1970-01-01')"),
            Dialect::BigQuery => format!("DATE_FROM_UNIX_DATE({day})"),
        }
    }

    /// Whole seconds since the epoch, rounded down.
    fn epoch_seconds(self, ts: &str) -> String {
        match self {
            Dialect::DuckDb => format!("CAST(floor(epoch_us({ts}) / 1000000) AS BIGINT)"),
            Dialect::Spark => format!("CAST(floor(unix_micros({ts}) / 1000000) AS BIGINT)"),
            Dialect::Trino => format!("CAST(floor(to_unixtime({ts})) AS BIGINT)"),
            Dialect::BigQuery => format!("UNIX_SECONDS({ts})"),
        }
    }

    /// Integer division of a non-negative number by a positive one.
    fn div(self, a: &str, b: i64) -> String {
        match self {
            Dialect::DuckDb => format!("(({a}) // {b})"),
            Dialect::Spark => format!("(({a}) div {b})"),
            Dialect::Trino => format!("(({a}) / {b})"),
            Dialect::BigQuery => format!("DIV({a}, {b})"),
        }
    }

    /// `a` modulo `b`, in 0..b whatever the sign of `a`.
    fn modulo(self, a: &str, b: i64) -> String {
        match self {
            Dialect::DuckDb | Dialect::Spark => format!("(((({a}) % {b}) + {b}) % {b})"),
            Dialect::Trino | Dialect::BigQuery => format!("MOD(MOD({a}, {b}) + {b}, {b})"),
        }
    }

    /// The values of `value` over a group, in the order of `key`, as an array.
    fn list(self, value: &str, key: &str) -> String {
        match self {
            Dialect::DuckDb => format!("list({value} ORDER BY {key})"),
            Dialect::Spark => format!(
                "transform(array_sort(collect_list(named_struct('k', {key}, 'v', {value}))), x -> x.v)"
            ),
            Dialect::Trino | Dialect::BigQuery => format!("array_agg({value} ORDER BY {key})"),
        }
    }

    /// A column name that some engines reserve (`rows` in BigQuery), quoted.
    fn ident(self, name: &str) -> String {
        match self {
            Dialect::Spark | Dialect::BigQuery => format!("`{name}`"),
            Dialect::DuckDb | Dialect::Trino => format!("\"{name}\""),
        }
    }

    fn any(self, condition: &str) -> String {
        match self {
            Dialect::BigQuery => format!("LOGICAL_OR({condition})"),
            _ => format!("bool_or({condition})"),
        }
    }

    fn text(self) -> &'static str {
        match self {
            Dialect::BigQuery => "STRING",
            Dialect::Spark => "STRING",
            _ => "VARCHAR",
        }
    }

    fn integer(self) -> &'static str {
        match self {
            Dialect::BigQuery => "INT64",
            _ => "BIGINT",
        }
    }

    fn float(self) -> &'static str {
        match self {
            Dialect::BigQuery => "FLOAT64",
            _ => "DOUBLE",
        }
    }

    /// A string literal.
    fn quote(self, text: &str) -> String {
        match self {
            Dialect::Spark | Dialect::BigQuery => {
                format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
            }
            _ => format!("'{}'", text.replace('\'', "''")),
        }
    }

    /// A named projection the later statements read (computed again by each).
    fn view(self, name: &str, select: &str) -> String {
        match self {
            Dialect::DuckDb => format!("CREATE OR REPLACE TEMP VIEW {name} AS\n{select};\n"),
            Dialect::Spark => format!("CREATE OR REPLACE TEMPORARY VIEW {name} AS\n{select};\n"),
            Dialect::Trino => format!("CREATE OR REPLACE VIEW {name} AS\n{select};\n"),
            // A BigQuery script has no temporary views.
            Dialect::BigQuery => self.keep(name, select),
        }
    }

    /// A named intermediate result the later statements read, computed once.
    fn keep(self, name: &str, select: &str) -> String {
        match self {
            Dialect::DuckDb => format!("CREATE OR REPLACE TEMP TABLE {name} AS\n{select};\n"),
            Dialect::Spark => format!("CACHE TABLE {name} AS\n{select};\n"),
            Dialect::Trino => format!("CREATE TABLE {name} AS\n{select};\n"),
            Dialect::BigQuery => format!("CREATE TEMP TABLE {name} AS\n{select};\n"),
        }
    }

    /// Writes one part of the contract.
    fn write(self, out: &str, part: &str, select: &str) -> String {
        let path = format!("{}/{}", out.trim_end_matches('/'), self.table_path(part));
        match self {
            Dialect::DuckDb => format!(
                "COPY (\n{select}\n) TO {} (FORMAT PARQUET);\n",
                self.quote(&path)
            ),
            Dialect::Spark => format!(
                "INSERT OVERWRITE DIRECTORY {} USING parquet\n{select};\n",
                self.quote(&path)
            ),
            Dialect::Trino => format!("CREATE TABLE tokenaudit_{part} AS\n{select};\n"),
            Dialect::BigQuery => format!(
                "EXPORT DATA OPTIONS (uri = {}, format = 'PARQUET', overwrite = true) AS\n{select};\n",
                self.quote(&format!("{path}/*.parquet"))
            ),
        }
    }
}

/// What the SQL depends on.
#[derive(Debug, Clone)]
pub struct SqlParameters {
    /// The usage table: a table name, or (DuckDB, Spark) a Parquet path.
    pub source: Source,
    /// Canonical usage columns the table lacks.
    pub absent: Vec<String>,
    pub identities: IdentityMap,
    pub tz: String,
    pub week_start: WeekStart,
    pub snapshot: Option<Snapshot>,
    /// Local day numbers of the declared period.
    pub since: Option<i32>,
    pub until: Option<i32>,
    /// Where the engine writes the tables.
    pub out: String,
}

#[derive(Debug, Clone)]
pub enum Source {
    Table(String),
    Parquet(String),
}

/// The optional columns and their values when the table lacks them.
pub const OPTIONAL: [(&str, &str); 11] = [
    ("cache_read_tokens", "0"),
    ("cache_write_tokens", "0"),
    ("requests", "1"),
    ("cost_usd", "NULL"),
    ("team", "NULL"),
    ("tool", "NULL"),
    ("session_id", "NULL"),
    ("request_id", "NULL"),
    ("prompt_hash", "NULL"),
    ("repo", "NULL"),
    ("tier", "NULL"),
];

/// The columns the SQL cannot do without.
pub const REQUIRED: [&str; 5] = ["ts", "agent", "model", "input_tokens", "output_tokens"];

/// Checks `--absent` names: optional canonical usage columns only.
pub fn check_absent(names: &[String]) -> Result<(), String> {
    for name in names {
        if REQUIRED.contains(&name.as_str()) {
            return Err(format!("`{name}` cannot be absent: the stats need it"));
        }
        if !OPTIONAL.iter().any(|(column, _)| column == name) {
            let known: Vec<&str> = OPTIONAL.iter().map(|(c, _)| *c).collect();
            return Err(format!(
                "`{name}` is not an optional usage column; expected some of {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// The SQL script that computes the stats contract's parts (and the accounting of rows) from
/// the usage table.
pub fn render(dialect: Dialect, p: &SqlParameters) -> String {
    use Dialect::*;
    let d = dialect;
    let (int, text, float) = (d.integer(), d.text(), d.float());
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- The tokenaudit stats contract, version {}, in {} SQL: written by `tokenaudit sql`.",
        crate::features::STATS_VERSION,
        d.name()
    );
    let _ = writeln!(
        sql,
        "-- Time zone {}, weeks start on {}, behaviour snapshot {}. Do not edit: the manifest\n-- beside this file holds its SHA-256, and `tokenaudit audit --stats` checks it.\n",
        p.tz,
        p.week_start.name(),
        p.snapshot.map_or_else(
            || "off".to_string(),
            |s| format!("{}s/{}h", s.offset_seconds, s.window_hours)
        )
    );
    match d {
        DuckDb => sql.push_str("SET TimeZone = 'UTC';\n\n"),
        Spark => sql.push_str(
            "SET spark.sql.session.timeZone = UTC;\nSET spark.sql.ansi.enabled = true;\n\n",
        ),
        _ => {}
    }

    // The input, its columns typed, text trimmed, absent columns defaulted.
    let source = match (&p.source, d) {
        (Source::Table(name), _) => name.clone(),
        (Source::Parquet(path), DuckDb) => format!("read_parquet({})", d.quote(path)),
        (Source::Parquet(path), _) => format!("parquet.`{path}`"),
    };
    let column = |name: &str| -> String {
        match OPTIONAL.iter().find(|(c, _)| *c == name) {
            Some((_, default)) if p.absent.iter().any(|a| a == name) => default.to_string(),
            _ => name.to_string(),
        }
    };
    let clean = |name: &str| format!("NULLIF(TRIM(CAST({} AS {text})), '')", column(name));
    let count = |name: &str| format!("CAST({} AS {int})", column(name));
    let src = format!(
        "SELECT\n  ts,\n  {} AS alias,\n  {} AS model,\n  {} AS input_tokens,\n  {} AS output_tokens,\n  COALESCE({}, 0) AS cache_read_tokens,\n  COALESCE({}, 0) AS cache_write_tokens,\n  COALESCE({}, 1) AS requests,\n  CAST({} AS {float}) AS cost_usd,\n  {} AS team,\n  {} AS tool,\n  {} AS session_id,\n  {} AS request_id,\n  {} AS prompt_hash,\n  {} AS repo,\n  {} AS tier\nFROM {source}",
        clean("agent"),
        clean("model"),
        count("input_tokens"),
        count("output_tokens"),
        count("cache_read_tokens"),
        count("cache_write_tokens"),
        count("requests"),
        column("cost_usd"),
        clean("team"),
        clean("tool"),
        clean("session_id"),
        clean("request_id"),
        clean("prompt_hash"),
        clean("repo"),
        clean("tier"),
    );
    sql.push_str(&d.view("ta_src", &src));

    // The identity map, inlined: alias (trimmed, lowercased) → agent, team, kind.
    let identities = identity_rows(d, &p.identities);
    let week_offset = match p.week_start {
        WeekStart::Monday => 3,
        WeekStart::Sunday => 4,
    };
    let day = d.day_number(&d.local_date("s.ts", &p.tz));
    let window = match (p.since, p.until) {
        (None, None) => "TRUE".to_string(),
        (since, until) => format!(
            "day BETWEEN {} AND {}",
            since.unwrap_or(i32::MIN),
            until.unwrap_or(i32::MAX)
        ),
    };
    let rows = format!(
        "SELECT\n  COALESCE(i.agent, LOWER(s.alias)) AS agent,\n  COALESCE(i.team, s.team) AS team,\n  COALESCE(i.kind, 'human') AS kind,\n  {day} AS day,\n  {} AS second,\n  s.model,\n  COALESCE(s.tier, CASE WHEN s.cost_usd IS NOT NULL THEN 'billed' ELSE 'estimated' END) AS tier,\n  s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens, s.requests,\n  CAST(ROUND(s.cost_usd * 1000000) AS {int}) AS billed,\n  s.session_id, s.prompt_hash, s.request_id, s.tool, s.repo\nFROM ta_src s\nLEFT JOIN ({identities}) i ON i.alias = LOWER(s.alias)\nWHERE s.ts IS NOT NULL AND s.alias IS NOT NULL AND s.model IS NOT NULL\n  AND s.input_tokens >= 0 AND s.output_tokens >= 0 AND s.cache_read_tokens >= 0\n  AND s.cache_write_tokens >= 0 AND s.requests >= 0",
        d.epoch_seconds("s.ts")
    );
    sql.push_str(&d.view("ta_valid", &rows));
    let with_week = format!(
        "SELECT v.*, day - {} AS week FROM ta_valid v",
        d.modulo(&format!("day + {week_offset}"), 7)
    );
    sql.push_str(&d.keep("ta_all", &with_week));
    sql.push_str(&d.view("ta_rows", &format!("SELECT * FROM ta_all WHERE {window}")));

    // One row a request. Copies of a request id (wherever they fall: streamed chunks straddle
    // midnight) collapse to the largest of each count and the smallest tool and repository, in
    // the day group and session of the earliest copy (ties: agent, day, model, tier, then
    // session, a copy without one last); rows without a request id are never grouped.
    let trivial = format!("output_tokens <= requests * {TRIVIAL_OUTPUT_TOKENS}");
    let classes = [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ];
    let mut per_row = vec![
        "agent, day, week, model, tier".to_string(),
        "requests".to_string(),
        format!("CASE WHEN {trivial} THEN requests ELSE 0 END AS trivial_requests"),
        "billed".to_string(),
        "tool, repo, session_id".to_string(),
    ];
    let over = "OVER (PARTITION BY request_id)";
    let mut collapsed = vec![
        "agent, day, week, model, tier, session_id".to_string(),
        "ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY second, agent, day, model, tier, CASE WHEN session_id IS NULL THEN 1 ELSE 0 END, session_id) AS copy_order".to_string(),
        format!("MAX(requests) {over} AS requests"),
        format!("MAX(CASE WHEN {trivial} THEN requests ELSE 0 END) {over} AS trivial_requests"),
        format!("MAX(billed) {over} AS billed"),
        format!("MIN(tool) {over} AS tool, MIN(repo) {over} AS repo"),
    ];
    let mut picked = vec![
        "agent, day, week, model, tier".to_string(),
        "requests, trivial_requests, billed, tool, repo, session_id".to_string(),
    ];
    for class in classes {
        per_row.push(format!(
            "{class}, CASE WHEN {trivial} THEN {class} ELSE 0 END AS trivial_{class}, CASE WHEN billed IS NULL THEN {class} ELSE 0 END AS unbilled_{class}"
        ));
        collapsed.push(format!(
            "MAX({class}) {over} AS {class}, MAX(CASE WHEN {trivial} THEN {class} ELSE 0 END) {over} AS trivial_{class}, MAX(CASE WHEN billed IS NULL THEN {class} ELSE 0 END) {over} AS unbilled_{class}"
        ));
        picked.push(format!("{class}, trivial_{class}, unbilled_{class}"));
    }
    let requests = format!(
        "SELECT {}\nFROM ta_all WHERE request_id IS NULL\nUNION ALL\nSELECT {}\nFROM (\n  SELECT {}\n  FROM ta_all WHERE request_id IS NOT NULL\n) copies WHERE copy_order = 1",
        per_row.join(",\n  "),
        picked.join(",\n  "),
        collapsed.join(",\n    ")
    );
    sql.push_str(&d.keep("ta_requests_all", &requests));
    sql.push_str(&d.view(
        "ta_requests",
        &format!("SELECT * FROM ta_requests_all WHERE {window}"),
    ));

    // days
    let sums = |prefix: &str| -> String {
        classes
            .iter()
            .map(|c| format!("SUM({prefix}{c}) AS {prefix}{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let days = format!(
        "SELECT u.agent, s.team, s.kind, {} AS day, u.model, u.tier,\n  {}, {}, {},\n  billed_micro, requests, trivial_requests\nFROM (\n  SELECT agent, day, model, tier, {}, {}, {},\n    SUM(COALESCE(billed, 0)) AS billed_micro, SUM(requests) AS requests,\n    SUM(trivial_requests) AS trivial_requests\n  FROM ta_requests GROUP BY agent, day, model, tier\n) u\nJOIN (\n  SELECT agent, day, model, tier, MIN(team) AS team, MAX(kind) AS kind\n  FROM ta_rows GROUP BY agent, day, model, tier\n) s ON s.agent = u.agent AND s.day = u.day AND s.model = u.model AND s.tier = u.tier",
        d.date_of("u.day"),
        classes.join(", "),
        classes.map(|c| format!("unbilled_{c}")).join(", "),
        classes.map(|c| format!("trivial_{c}")).join(", "),
        sums(""),
        sums("unbilled_"),
        sums("trivial_"),
    );

    // sessions: distinct ids per agent-week (NULL skipped).
    let sessions = format!(
        "SELECT agent, {} AS week, CAST(COUNT(DISTINCT session_id) AS {int}) AS sessions\nFROM ta_rows GROUP BY agent, week",
        d.date_of("week")
    );

    // Each session's extent and rows, every copy counted (as the behaviour fingerprints read
    // them), and its tokens, each request once.
    let extent = "SELECT r.agent, r.week, r.session_id, MIN(r.second) AS first_second,\n  MAX(r.second) AS last_second, COUNT(*) AS session_rows\nFROM ta_rows r WHERE r.session_id IS NOT NULL GROUP BY r.agent, r.week, r.session_id";
    sql.push_str(&d.keep("ta_sessions", extent));
    let top = format!(
        "SELECT agent, week, session_id, session_rows, {}\nFROM (\n  SELECT e.agent, e.week, e.session_id, e.session_rows, {},\n    ROW_NUMBER() OVER (PARTITION BY e.agent, e.week ORDER BY COALESCE(t.input_tokens, 0) + COALESCE(t.output_tokens, 0) + COALESCE(t.cache_read_tokens, 0) + COALESCE(t.cache_write_tokens, 0) DESC, e.session_id) AS place\n  FROM ta_sessions e\n  LEFT JOIN (\n    SELECT agent, week, session_id, {}\n    FROM ta_requests WHERE session_id IS NOT NULL GROUP BY agent, week, session_id\n  ) t ON t.agent = e.agent AND t.week = e.week AND t.session_id = e.session_id\n) ranked WHERE place <= {TOP_SESSIONS}",
        classes.join(", "),
        classes
            .map(|c| format!("COALESCE(t.{c}, 0) AS {c}"))
            .join(", "),
        sums(""),
    );

    // parts: by tool, by repository, and the largest sessions.
    let part = |dimension: &str, column: &str| {
        format!(
            "SELECT agent, week, '{dimension}' AS dimension, {column} AS value, model, tier, {}, {},\n  SUM(COALESCE(billed, 0)) AS billed_micro, SUM(requests) AS requests\nFROM ta_requests WHERE {column} IS NOT NULL GROUP BY agent, week, {column}, model, tier",
            sums(""),
            sums("unbilled_")
        )
    };
    let zero = classes
        .map(|c| format!("CAST(0 AS {int}) AS unbilled_{c}"))
        .join(", ");
    let parts = format!(
        "SELECT agent, {} AS week, dimension, value, model, tier, {}, {},\n  billed_micro, requests\nFROM (\n{}\nUNION ALL\n{}\nUNION ALL\nSELECT agent, week, 'session' AS dimension, session_id AS value, '' AS model, '' AS tier,\n  {}, {zero}, CAST(0 AS {int}) AS billed_micro, session_rows AS requests\nFROM ({top}) top_sessions\n) p",
        d.date_of("week"),
        classes.join(", "),
        classes.map(|c| format!("unbilled_{c}")).join(", "),
        part("tool", "tool"),
        part("repo", "repo"),
        classes.join(", "),
    );

    // outputs come from output files (`audit --outputs`): an empty table of the contract's
    // columns.
    let outputs = format!(
        "SELECT CAST(NULL AS {text}) AS agent, CAST(NULL AS DATE) AS week, CAST(NULL AS {text}) AS kind,\n  CAST(NULL AS {text}) AS repo, CAST(NULL AS {int}) AS amount_micro\nFROM ta_valid WHERE 1 = 0"
    );

    let behavior = match p.snapshot {
        Some(snapshot) => behavior_sql(d, snapshot),
        None => format!(
            "SELECT agent, {} AS week FROM ta_rows WHERE 1 = 0",
            d.date_of("week")
        ),
    };

    // The accounting of rows: read, valid, duplicates removed, outside the period.
    let accounting = format!(
        "SELECT\n  (SELECT CAST(COUNT(*) AS {int}) FROM ta_src) AS rows_read,\n  (SELECT CAST(COUNT(*) AS {int}) FROM ta_valid) AS rows_valid,\n  (SELECT CAST(COUNT(*) AS {int}) FROM ta_valid) - (SELECT CAST(COUNT(*) AS {int}) FROM ta_requests_all) AS duplicates_removed,\n  (SELECT CAST(COUNT(*) AS {int}) FROM ta_requests_all WHERE NOT ({window})) AS rows_outside_window"
    );

    for (name, select) in [
        ("days", days),
        ("sessions", sessions),
        ("outputs", outputs),
        ("behavior", behavior),
        ("parts", parts),
        ("accounting", accounting),
    ] {
        sql.push('\n');
        sql.push_str(&d.write(&p.out, name, &select));
    }
    sql
}

/// The behaviour fingerprints per agent-week (see [`crate::features::behavior`]).
fn behavior_sql(d: Dialect, snapshot: Snapshot) -> String {
    let int = d.integer();
    let anchor_bin = (4 * 86_400 + snapshot.offset_seconds).div_euclid(BIN_SECONDS);
    let bins_per_week = HOURS as i64 * 3_600 / BIN_SECONDS;
    let bins_per_hour = 3_600 / BIN_SECONDS;
    let hour = d.div(
        &d.modulo(&format!("bin - {anchor_bin}"), bins_per_week),
        bins_per_hour,
    );
    format!(
        "SELECT c.agent, {week} AS week,
  h.hours AS hours, h.hour_requests AS hour_requests,
  CAST(COALESCE(b.bins, 0) AS {int}) AS bins, CAST(COALESCE(b.bin_requests, 0) AS {int}) AS bin_requests,
  CAST(COALESCE(b.bin_squares, 0) AS {int}) AS bin_squares, COALESCE(h.bucketed, FALSE) AS bucketed,
  c.prompted, c.distinct_prompts,
  CAST(COALESCE(x.sessions, 0) AS {int}) AS sessions, CAST(COALESCE(w.max_starts, 0) AS {int}) AS max_simultaneous_starts,
  CAST(COALESCE(x.session_rows, 0) AS {int}) AS session_rows, CAST(COALESCE(x.long_session_rows, 0) AS {int}) AS long_session_rows,
  CAST(COALESCE(x.single_row_sessions, 0) AS {int}) AS single_row_sessions,
  c.row_count AS {rows}, c.rows_on_the_hour
FROM (
  SELECT agent, week, CAST(COUNT(prompt_hash) AS {int}) AS prompted,
    CAST(COUNT(DISTINCT prompt_hash) AS {int}) AS distinct_prompts, CAST(COUNT(*) AS {int}) AS row_count,
    CAST(SUM(CASE WHEN {on_the_hour} = 0 THEN 1 ELSE 0 END) AS {int}) AS rows_on_the_hour
  FROM ta_rows GROUP BY agent, week
) c
LEFT JOIN (
  SELECT agent, week, COUNT(*) AS bins, SUM(bin_requests) AS bin_requests,
    SUM(bin_requests * bin_requests) AS bin_squares
  FROM {bins} ta_bins GROUP BY agent, week
) b ON b.agent = c.agent AND b.week = c.week
LEFT JOIN (
  SELECT agent, week, {hour_list} AS hours, {requests_list} AS hour_requests,
    {bucketed} AS bucketed
  FROM (
    SELECT agent, week, {hour} AS hour, SUM(bin_requests) AS hour_requests, SUM(bin_rows) AS hour_rows
    FROM {bins} ta_bins GROUP BY agent, week, {hour}
  ) hh GROUP BY agent, week
) h ON h.agent = c.agent AND h.week = c.week
LEFT JOIN (
  SELECT agent, week, COUNT(*) AS sessions, SUM(session_rows) AS session_rows,
    SUM(CASE WHEN last_second - first_second > {LABEL_SPAN_SECONDS} THEN session_rows ELSE 0 END) AS long_session_rows,
    SUM(CASE WHEN session_rows = 1 THEN 1 ELSE 0 END) AS single_row_sessions
  FROM ta_sessions GROUP BY agent, week
) x ON x.agent = c.agent AND x.week = c.week
LEFT JOIN (
  SELECT agent, week, MAX(starts) AS max_starts FROM (
    SELECT agent, week, {start_window} AS start_window, COUNT(*) AS starts
    FROM ta_sessions GROUP BY agent, week, {start_window}
  ) sw GROUP BY agent, week
) w ON w.agent = c.agent AND w.week = c.week",
        week = d.date_of("c.week"),
        rows = d.ident("rows"),
        on_the_hour = d.modulo("second", 3_600),
        hour_list = d.list("hour", "hour"),
        requests_list = d.list("hour_requests", "hour"),
        bucketed = d.any("hour_requests > hour_rows"),
        start_window = d.div("first_second", START_WINDOW_SECONDS),
        bins = format!(
            "(SELECT agent, week, {bin} AS bin, SUM(requests) AS bin_requests, COUNT(*) AS bin_rows FROM ta_rows GROUP BY agent, week, {bin})",
            bin = d.div("second", BIN_SECONDS)
        ),
    )
}

/// The identity map as a derived table of (alias, agent, team, kind); an empty one without a
/// map.
fn identity_rows(d: Dialect, map: &IdentityMap) -> String {
    let text = d.text();
    let rows: Vec<String> = map
        .entries()
        .map(|(alias, identity)| {
            format!(
                "SELECT {} AS alias, {} AS agent, {} AS team, {} AS kind",
                d.quote(alias),
                d.quote(&identity.agent),
                identity
                    .team
                    .as_deref()
                    .map_or_else(|| format!("CAST(NULL AS {text})"), |t| d.quote(t)),
                d.quote(identity.kind.name())
            )
        })
        .collect();
    if rows.is_empty() {
        return format!(
            "SELECT CAST(NULL AS {text}) AS alias, CAST(NULL AS {text}) AS agent, CAST(NULL AS {text}) AS team, CAST(NULL AS {text}) AS kind FROM ta_src WHERE 1 = 0"
        );
    }
    rows.join("\n  UNION ALL ")
}
