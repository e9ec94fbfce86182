//! List prices: an embedded table of per-million-token prices with effective dates and the
//! public page each came from, optionally overridden or extended by `--pricing FILE`.
//!
//! Model ids are matched after removing what vendors and gateways add around the base id: a
//! provider path (`anthropic/`, `models/`), a Bedrock prefix and version (`anthropic.…-v1:0`),
//! and a release-date suffix (`-20250929`, `-2025-08-07`, `@20250929`). Nothing looser: a
//! fuzzy prefix would price `gpt-5-mini` as `gpt-5` and overcharge five times. A model that is
//! still unknown is never costed as zero silently; the report lists it with its tokens.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use super::NormalizeError;

/// The default price table, compiled into the binary.
pub const EMBEDDED: &str = include_str!("prices.csv");

/// Dollars per million tokens of each class.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

/// One price period of one model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Price {
    pub provider: String,
    pub model: String,
    pub effective_from: NaiveDate,
    pub rates: Rates,
    pub source: String,
}

/// Token counts by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }

    pub fn add(&mut self, other: &Tokens) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }
}

impl Rates {
    /// Cost in micro-dollars. Tokens times dollars per million tokens is micro-dollars, so the
    /// only rounding is the final one; integer sums of these are exact and order-independent.
    pub fn cost_micro(&self, tokens: &Tokens) -> i64 {
        let micro = tokens.input as f64 * self.input
            + tokens.output as f64 * self.output
            + tokens.cache_read as f64 * self.cache_read
            + tokens.cache_write as f64 * self.cache_write;
        micro.round() as i64
    }
}

/// Price periods per normalized model id, each list sorted by effective date.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    by_model: BTreeMap<String, Vec<Price>>,
}

impl PriceTable {
    pub fn embedded() -> PriceTable {
        PriceTable::parse(EMBEDDED, Path::new("<embedded prices.csv>"))
            .expect("the embedded price table parses")
    }

    pub fn load(path: &Path) -> Result<PriceTable, NormalizeError> {
        let text = std::fs::read_to_string(path).map_err(|err| NormalizeError::Read {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        PriceTable::parse(&text, path)
    }

    /// Parses `provider,model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok,source`.
    pub fn parse(text: &str, path: &Path) -> Result<PriceTable, NormalizeError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let header: Vec<String> = match lines.next() {
            Some((_, line)) => split_csv(line)
                .into_iter()
                .map(|h| h.trim().to_string())
                .collect(),
            None => return Ok(PriceTable::default()),
        };
        let index = |name: &'static str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| NormalizeError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name,
                    found: header.join(", "),
                })
        };
        let columns = [
            index("model")?,
            index("effective_from")?,
            index("input_per_mtok")?,
            index("output_per_mtok")?,
            index("cache_read_per_mtok")?,
            index("cache_write_per_mtok")?,
        ];
        let provider_at = header.iter().position(|h| h == "provider");
        let source_at = header.iter().position(|h| h == "source");
        let mut table = PriceTable::default();
        for (line_no, line) in lines {
            let fields = split_csv(line);
            let row = line_no; // data rows are numbered from 1 after the header line 0
            let field = |i: usize| fields.get(i).map(|f| f.trim()).unwrap_or("");
            let bad = |column: &'static str, message: String| NormalizeError::BadValue {
                path: path.to_path_buf(),
                row,
                column,
                message,
            };
            let model = normalize_model(field(columns[0]));
            if model.is_empty() {
                return Err(bad("model", "empty model".into()));
            }
            let effective_from =
                NaiveDate::parse_from_str(field(columns[1]), "%Y-%m-%d").map_err(|_| {
                    bad(
                        "effective_from",
                        format!("`{}` is not a date; expected YYYY-MM-DD", field(columns[1])),
                    )
                })?;
            let rate = |i: usize, column: &'static str| {
                let text = field(columns[i]);
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    _ => Err(bad(
                        column,
                        format!("`{text}` is not a price; expected dollars per million tokens"),
                    )),
                }
            };
            let rates = Rates {
                input: rate(2, "input_per_mtok")?,
                output: rate(3, "output_per_mtok")?,
                cache_read: rate(4, "cache_read_per_mtok")?,
                cache_write: rate(5, "cache_write_per_mtok")?,
            };
            table.insert(Price {
                provider: provider_at.map(field).unwrap_or("").to_string(),
                model,
                effective_from,
                rates,
                source: source_at.map(field).unwrap_or("").to_string(),
            });
        }
        Ok(table)
    }

    fn insert(&mut self, price: Price) {
        let periods = self.by_model.entry(price.model.clone()).or_default();
        periods.retain(|p| p.effective_from != price.effective_from);
        periods.push(price);
        periods.sort_by_key(|p| p.effective_from);
    }

    /// This table with every period of `other` added; a period of the same model and date is replaced.
    pub fn overridden_by(mut self, other: PriceTable) -> PriceTable {
        for price in other.by_model.into_values().flatten() {
            self.insert(price);
        }
        self
    }

    /// The price in effect for `model` on `day`. Usage older than a model's first listed
    /// period takes that first period, so early logs are costed, not dropped.
    pub fn resolve(&self, model: &str, day: NaiveDate) -> Option<&Price> {
        let periods = self.by_model.get(&normalize_model(model))?;
        periods
            .iter()
            .rev()
            .find(|p| p.effective_from <= day)
            .or_else(|| periods.first())
    }

    /// Every price period of a model, oldest first; empty when the model is unknown.
    pub fn periods(&self, model: &str) -> &[Price] {
        self.by_model
            .get(&normalize_model(model))
            .map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.by_model.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_model.is_empty()
    }
}

/// Lowercase, without provider paths, Bedrock decorations or a release-date suffix.
pub fn normalize_model(model: &str) -> String {
    let mut id = model.trim().to_lowercase();
    if let Some(pos) = id.rfind('/') {
        id = id[pos + 1..].to_string();
    }
    for prefix in [
        "anthropic.",
        "us.anthropic.",
        "eu.anthropic.",
        "apac.anthropic.",
    ] {
        if let Some(rest) = id.strip_prefix(prefix) {
            id = rest.to_string();
        }
    }
    // Bedrock version suffix: `-v1:0`.
    if let Some(pos) = id.rfind("-v") {
        let tail = &id[pos + 2..];
        if tail.contains(':') && tail.chars().all(|c| c.is_ascii_digit() || c == ':') {
            id.truncate(pos);
        }
    }
    if let Some(pos) = id.rfind('@') {
        id.truncate(pos);
    }
    strip_date_suffix(&id).to_string()
}

fn strip_date_suffix(id: &str) -> &str {
    let bytes = id.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    // -YYYYMMDD
    if bytes.len() > 9 && bytes[bytes.len() - 9] == b'-' && digits(&bytes[bytes.len() - 8..]) {
        return &id[..id.len() - 9];
    }
    // -YYYY-MM-DD
    if bytes.len() > 11 {
        let tail = &bytes[bytes.len() - 11..];
        if tail[0] == b'-'
            && digits(&tail[1..5])
            && tail[5] == b'-'
            && digits(&tail[6..8])
            && tail[8] == b'-'
            && digits(&tail[9..11])
        {
            return &id[..id.len() - 11];
        }
    }
    id
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const TABLE: &str = "provider,model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok,source\n\
        anthropic,claude-sonnet-4-5,2025-09-29,3,15,0.3,3.75,https://example.test/pricing\n\
        openai,gpt-5,2025-08-07,1.25,10,0.125,1.25,https://example.test/openai\n\
        openai,gpt-5,2026-01-01,1,8,0.1,1,https://example.test/openai\n";

    #[test]
    fn vendor_decorations_are_removed_but_model_families_are_not_merged() {
        assert_eq!(
            normalize_model("claude-sonnet-4-5-20250929"),
            "claude-sonnet-4-5"
        );
        assert_eq!(
            normalize_model("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            "claude-sonnet-4-5"
        );
        assert_eq!(
            normalize_model("claude-sonnet-4-5@20250929"),
            "claude-sonnet-4-5"
        );
        assert_eq!(normalize_model("openai/GPT-5-2025-08-07"), "gpt-5");
        assert_eq!(normalize_model("gpt-5-mini"), "gpt-5-mini");
    }

    #[test]
    fn the_period_in_effect_on_the_day_is_used() {
        let table = PriceTable::parse(TABLE, Path::new("t.csv")).unwrap();
        assert_eq!(
            table
                .resolve("gpt-5", day("2025-12-31"))
                .unwrap()
                .rates
                .input,
            1.25
        );
        assert_eq!(
            table
                .resolve("gpt-5", day("2026-01-01"))
                .unwrap()
                .rates
                .input,
            1.0
        );
        // Before the first period: the first period.
        assert_eq!(
            table
                .resolve("gpt-5", day("2025-01-01"))
                .unwrap()
                .rates
                .input,
            1.25
        );
        assert!(table.resolve("gpt-5-mini", day("2026-01-01")).is_none());
    }

    #[test]
    fn cost_is_tokens_times_rate_in_micro_dollars() {
        let table = PriceTable::parse(TABLE, Path::new("t.csv")).unwrap();
        let rates = table
            .resolve("claude-sonnet-4-5", day("2026-01-01"))
            .unwrap()
            .rates;
        let tokens = Tokens {
            input: 1_000_000,
            output: 100_000,
            cache_read: 10_000_000,
            cache_write: 0,
        };
        // $3 + $1.50 + $3 = $7.50
        assert_eq!(rates.cost_micro(&tokens), 7_500_000);
    }

    #[test]
    fn an_override_replaces_the_same_period_and_adds_new_models() {
        let base = PriceTable::parse(TABLE, Path::new("t.csv")).unwrap();
        let extra = PriceTable::parse(
            "model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok\n\
             gpt-5,2025-08-07,2,20,0.2,2\ninhouse-llm,2026-01-01,0.5,1,0,0.5\n",
            Path::new("o.csv"),
        )
        .unwrap();
        let table = base.overridden_by(extra);
        assert_eq!(
            table
                .resolve("gpt-5", day("2025-09-01"))
                .unwrap()
                .rates
                .input,
            2.0
        );
        assert_eq!(
            table
                .resolve("inhouse-llm", day("2026-02-01"))
                .unwrap()
                .rates
                .output,
            1.0
        );
    }

    #[test]
    fn a_bad_price_names_the_row_and_column() {
        let err = PriceTable::parse(
            "model,effective_from,input_per_mtok,output_per_mtok,cache_read_per_mtok,cache_write_per_mtok\nm,2026-01-01,abc,1,1,1\n",
            Path::new("p.csv"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("row 1") && err.contains("input_per_mtok") && err.contains("abc"),
            "{err}"
        );
    }

    #[test]
    fn the_embedded_table_parses_and_prices_current_models() {
        let table = PriceTable::embedded();
        assert!(table.len() >= 10);
        for model in ["claude-sonnet-4-5-20250929", "gpt-5", "gemini-2.5-pro"] {
            assert!(table.resolve(model, day("2026-10-01")).is_some(), "{model}");
        }
    }
}
