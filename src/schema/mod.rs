//! The canonical schemas every adapter produces and every later stage reads.
//!
//! This module is plain Rust on purpose: it names the columns, their logical types, whether
//! they are required and what they mean, so that `tokenaudit schema`, the validators in
//! `ingest` and the documentation all read from one table. It does not know about polars; the
//! mapping of [`ColumnType`] to polars dtypes lives in `ingest`.

use std::fmt::Write as _;

/// The logical type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTC timestamp with microsecond precision.
    Timestamp,
    /// Non-empty text when required, otherwise nullable text.
    Text,
    /// Non-negative whole count (tokens, requests).
    Count,
    /// Non-negative decimal amount (dollars, lines, artifacts).
    Amount,
}

impl ColumnType {
    pub fn label(self) -> &'static str {
        match self {
            ColumnType::Timestamp => "datetime[µs, UTC]",
            ColumnType::Text => "str",
            ColumnType::Count => "u64",
            ColumnType::Amount => "f64",
        }
    }
}

/// Who fills a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The input must have it; a missing column is an error, an empty value quarantines the row.
    Required,
    /// The input may have it; absent or empty values take the default.
    Optional(&'static str),
    /// Set by ingest, never read from the input.
    Derived,
}

/// One canonical column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub presence: Presence,
    pub meaning: &'static str,
}

impl Column {
    pub fn is_required(&self) -> bool {
        self.presence == Presence::Required
    }
}

const fn col(
    name: &'static str,
    ty: ColumnType,
    presence: Presence,
    meaning: &'static str,
) -> Column {
    Column {
        name,
        ty,
        presence,
        meaning,
    }
}

use ColumnType::{Amount, Count, Text, Timestamp};
use Presence::{Derived, Optional, Required};

pub const TS: &str = "ts";
pub const AGENT: &str = "agent";
pub const MODEL: &str = "model";
pub const INPUT_TOKENS: &str = "input_tokens";
pub const OUTPUT_TOKENS: &str = "output_tokens";
pub const CACHE_READ_TOKENS: &str = "cache_read_tokens";
pub const CACHE_WRITE_TOKENS: &str = "cache_write_tokens";
pub const REQUESTS: &str = "requests";
pub const COST_USD: &str = "cost_usd";
pub const TEAM: &str = "team";
pub const TOOL: &str = "tool";
pub const SESSION_ID: &str = "session_id";
pub const REQUEST_ID: &str = "request_id";
pub const PROMPT_HASH: &str = "prompt_hash";
pub const SOURCE: &str = "source";
pub const TIER: &str = "tier";
pub const KIND: &str = "kind";
pub const AMOUNT: &str = "amount";
pub const REF: &str = "ref";
pub const REPO: &str = "repo";
pub const CO_AUTHORS: &str = "co_authors";
pub const ALIAS: &str = "alias";

/// The four token classes, in report order.
pub const TOKEN_CLASSES: [&str; 4] = [
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
];

/// `usage`: one row per model request, or per pre-aggregated bucket.
pub const USAGE: &[Column] = &[
    col(
        TS,
        Timestamp,
        Required,
        "request time, or bucket start for bucketed exports",
    ),
    col(
        AGENT,
        Text,
        Required,
        "accountable identity as the source names it",
    ),
    col(MODEL, Text, Required, "model id as reported"),
    col(INPUT_TOKENS, Count, Required, "uncached input tokens"),
    col(
        OUTPUT_TOKENS,
        Count,
        Required,
        "output tokens, reasoning included",
    ),
    col(
        CACHE_READ_TOKENS,
        Count,
        Optional("0"),
        "input tokens served from cache",
    ),
    col(
        CACHE_WRITE_TOKENS,
        Count,
        Optional("0"),
        "input tokens written to cache",
    ),
    col(
        REQUESTS,
        Count,
        Optional("1"),
        "model requests this row stands for",
    ),
    col(
        COST_USD,
        Amount,
        Optional("priced"),
        "cost the vendor billed; absent → priced from the price table",
    ),
    col(
        TEAM,
        Text,
        Optional("null"),
        "team; the identity map wins over this",
    ),
    col(TOOL, Text, Optional("null"), "client or agent program"),
    col(
        SESSION_ID,
        Text,
        Optional("null"),
        "session or conversation id",
    ),
    col(
        REQUEST_ID,
        Text,
        Optional("null"),
        "dedup key: rows sharing one are the same request",
    ),
    col(
        PROMPT_HASH,
        Text,
        Optional("null"),
        "hash of the prompt (never the text)",
    ),
    col(
        REPO,
        Text,
        Optional("null"),
        "repository hint: where the request was made (Claude Code's `cwd@gitBranch`)",
    ),
    col(SOURCE, Text, Derived, "adapter that produced the row"),
    col(
        TIER,
        Text,
        Derived,
        "`billed` (vendor billing export) or `estimated` (local logs)",
    ),
];

/// `outputs`: one row per delivered artifact.
pub const OUTPUTS: &[Column] = &[
    col(
        TS,
        Timestamp,
        Required,
        "when it was delivered (commit, merge or close time)",
    ),
    col(
        AGENT,
        Text,
        Required,
        "who delivered it, as the source names them",
    ),
    col(
        KIND,
        Text,
        Required,
        "commit, pr_merged, ticket_closed, review, loc_added, loc_removed, or custom",
    ),
    col(
        AMOUNT,
        Amount,
        Optional("1"),
        "how many (lines for loc kinds)",
    ),
    col(
        REF,
        Text,
        Optional("null"),
        "dedup key (commit sha, PR url, ticket key)",
    ),
    col(REPO, Text, Optional("null"), "repository or project"),
    col(
        CO_AUTHORS,
        Text,
        Optional("null"),
        "co-authors from the commit's `Co-authored-by` trailers, `; `-separated (AI agents credited on it)",
    ),
];

/// `identities`: the map from every alias to one agent.
pub const IDENTITIES: &[Column] = &[
    col(ALIAS, Text, Required, "an identity as some source names it"),
    col(AGENT, Text, Required, "the canonical agent it belongs to"),
    col(
        TEAM,
        Text,
        Optional("null"),
        "the agent's team, used for cohorts",
    ),
    col(KIND, Text, Optional("human"), "`human` or `service`"),
];

/// Which canonical table a file feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Usage,
    Outputs,
}

impl Table {
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Usage => USAGE,
            Table::Outputs => OUTPUTS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Usage => "usage",
            Table::Outputs => "outputs",
        }
    }
}

/// Renders the three schemas as Markdown tables, as `tokenaudit schema` prints them.
pub fn describe() -> String {
    let mut text = String::new();
    for (name, columns) in [
        ("usage", USAGE),
        ("outputs", OUTPUTS),
        ("identities", IDENTITIES),
    ] {
        let _ = writeln!(text, "## {name}\n");
        let _ = writeln!(text, "| column | type | required | meaning |");
        let _ = writeln!(text, "|---|---|---|---|");
        for column in columns {
            let presence = match column.presence {
                Required => "yes".to_string(),
                Optional(default) => format!("no ({default})"),
                Derived => "set by ingest".to_string(),
            };
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} |",
                column.name,
                column.ty.label(),
                presence,
                column.meaning
            );
        }
        text.push('\n');
    }
    text.push_str(
        "Timestamps are UTC, microsecond precision, from 1970 to 2199; token counts are non-negative integers.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_usage_columns_match_the_design() {
        let required: Vec<_> = USAGE
            .iter()
            .filter(|c| c.is_required())
            .map(|c| c.name)
            .collect();
        assert_eq!(
            required,
            ["ts", "agent", "model", "input_tokens", "output_tokens"]
        );
    }

    #[test]
    fn describe_lists_every_column_once() {
        let text = describe();
        for column in USAGE.iter().chain(OUTPUTS).chain(IDENTITIES) {
            assert!(
                text.contains(&format!("| {} |", column.name)),
                "{}",
                column.name
            );
        }
    }
}
