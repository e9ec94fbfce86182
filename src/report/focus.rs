//! FOCUS export: AI spend as FinOps Open Cost and Usage Specification (FOCUS 1.3) cost-and-usage
//! rows, CSV, so finance tools that load cloud bills can load token spend beside them.
//!
//! One row per local day, agent, model and cost tier, `ChargeCategory` `Usage`. The mapping:
//!
//! | FOCUS column | value |
//! |---|---|
//! | `BilledCost`, `EffectiveCost`, `ContractedCost` | the row's cost: the vendor's billed figure (`x_CostTier` `billed`) or list price applied to a local log (`estimated`) |
//! | `ListCost`, `ListUnitPrice` | every token at the price table's list rates; unit price per million tokens, blended over token types |
//! | `ConsumedQuantity` / `ConsumedUnit` | tokens / `Tokens` |
//! | `PricingQuantity` / `PricingUnit` | millions of tokens / `1M Tokens` |
//! | `ChargePeriodStart`/`End` | the local day, as UTC instants (end exclusive) |
//! | `BillingPeriodStart`/`End` | the calendar month of the day, as UTC instants |
//! | `ServiceProviderName`, `HostProviderName`, `InvoiceIssuerName` (and the 1.2 names `ProviderName`, `PublisherName`) | the model's vendor per the price table |
//! | `ServiceCategory` / `ServiceSubcategory` | `AI and Machine Learning` / `Generative AI` |
//! | `SubAccountId`/`Name` | the agent's team |
//! | `ResourceId`/`Name`, `ResourceType` | the agent; `User` or `Service Account` |
//! | `SkuId` | the model |
//! | `Tags` | JSON: team, tier |
//! | `x_*` | tokens by type, requests, unpriced tokens, tier |
//!
//! Timestamps are UTC (`2026-09-07T00:00:00Z`), currency `USD`. Text from input is neutralized
//! against spreadsheet formulas like every CSV this tool writes.

use std::io::Write;

use chrono::{Datelike, NaiveDate, TimeZone};

use super::csv::text;
use crate::features::SpendRow;
use crate::normalize::identities::AgentKind;

pub const FOCUS_VERSION: &str = "1.3";

const COLUMNS: [&str; 47] = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountId",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "HostProviderName",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "ServiceSubcategory",
    "SkuId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_CostTier",
    "x_InputTokens",
    "x_OutputTokens",
    "x_CacheTokens",
    "x_UnpricedTokens",
];

/// (provider display name, service name) for a price-table vendor id.
fn vendor(provider: Option<&str>) -> (&'static str, &'static str) {
    match provider {
        Some("anthropic") => ("Anthropic", "Claude API"),
        Some("openai") => ("OpenAI", "OpenAI API"),
        Some("google") => ("Google", "Gemini API"),
        Some(_) => ("Other", "AI model API"),
        None => ("Unknown", "AI model API"),
    }
}

/// Midnight of a local day as a UTC instant.
fn utc_midnight(day: NaiveDate, tz: chrono_tz::Tz) -> String {
    let local = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    // A day whose midnight is skipped by a DST change starts at the first instant that exists.
    let instant = tz
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| local.and_utc());
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn month_bounds(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).expect("day 1 exists");
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .expect("valid month");
    (first, next)
}

fn money(micro: i64) -> String {
    format!("{:.6}", micro as f64 / 1e6)
}

/// Writes the FOCUS CSV for day-grain spend rows; `tz` is the IANA zone the days are local to.
pub fn write_rows(rows: &[SpendRow], tz: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    writeln!(out, "{}", COLUMNS.join(","))?;
    for row in rows {
        let (provider, service) = vendor(row.provider.as_deref());
        let account = row.provider.as_deref().unwrap_or("unknown");
        let tokens = row.tokens.total();
        let list_micro = row.list_micro.unwrap_or(row.cost_micro);
        let million = tokens as f64 / 1e6;
        let unit_price = |micro: i64| {
            if tokens > 0 {
                format!("{:.6}", micro as f64 / 1e6 / million)
            } else {
                String::new()
            }
        };
        let (month_start, month_end) = month_bounds(row.day);
        let estimated = row.tier != "billed";
        let description = format!(
            "{} tokens of {} for {}{}",
            crate::units::grouped(tokens),
            row.model,
            row.agent,
            if estimated {
                " (estimated at list price)"
            } else {
                ""
            }
        );
        let tags = serde_json::json!({ "team": row.team, "tokenaudit_tier": row.tier }).to_string();
        let cells: Vec<String> = vec![
            money(row.cost_micro),
            text(account),
            text(provider),
            "Organization".into(),
            "USD".into(),
            utc_midnight(month_end, tz),
            utc_midnight(month_start, tz),
            "Usage".into(),
            String::new(),
            text(&description),
            "Usage-Based".into(),
            utc_midnight(row.day.succ_opt().expect("next day"), tz),
            utc_midnight(row.day, tz),
            String::new(),
            tokens.to_string(),
            "Tokens".into(),
            money(row.cost_micro),
            unit_price(row.cost_micro),
            money(row.cost_micro),
            provider.into(),
            provider.into(),
            money(list_micro),
            unit_price(list_micro),
            "Standard".into(),
            "USD".into(),
            format!("{million:.6}"),
            "1M Tokens".into(),
            provider.into(),
            provider.into(),
            String::new(),
            String::new(),
            text(&row.agent),
            text(&row.agent),
            match row.kind {
                AgentKind::Human => "User",
                AgentKind::Service => "Service Account",
            }
            .into(),
            "AI and Machine Learning".into(),
            service.into(),
            provider.into(),
            "Generative AI".into(),
            text(&row.model),
            text(&row.team),
            text(&row.team),
            text(&tags),
            row.tier.clone(),
            row.tokens.input.to_string(),
            row.tokens.output.to_string(),
            (row.tokens.cache_read + row.tokens.cache_write).to_string(),
            row.unpriced_tokens.to_string(),
        ];
        debug_assert_eq!(cells.len(), COLUMNS.len());
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::pricing::Tokens;

    #[test]
    fn charge_periods_are_utc_instants_of_local_days() {
        let day = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        assert_eq!(utc_midnight(day, chrono_tz::UTC), "2026-09-07T00:00:00Z");
        assert_eq!(
            utc_midnight(day, chrono_tz::Europe::Berlin),
            "2026-09-06T22:00:00Z"
        );
        let (start, end) = month_bounds(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        assert_eq!(
            (start.to_string(), end.to_string()),
            ("2026-12-01".into(), "2027-01-01".into())
        );
    }

    #[test]
    fn a_row_maps_onto_focus_columns() {
        let day = NaiveDate::from_ymd_opt(2026, 9, 8).unwrap();
        let row = SpendRow {
            day,
            week: NaiveDate::from_ymd_opt(2026, 9, 7).unwrap(),
            team: "payments".into(),
            agent: "=cmd@corp".into(),
            kind: AgentKind::Human,
            model: "claude-sonnet-4-5".into(),
            provider: Some("anthropic".into()),
            tier: "estimated".into(),
            tokens: Tokens {
                input: 1_000_000,
                output: 1_000_000,
                ..Tokens::default()
            },
            requests: 10,
            cost_micro: 18_000_000,
            list_micro: Some(18_000_000),
            unpriced_tokens: 0,
        };
        let mut out = Vec::new();
        write_rows(&[row], "UTC", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let header: Vec<&str> = lines[0].split(',').collect();
        let cell = |name: &str| -> String {
            let i = header.iter().position(|h| *h == name).unwrap();
            // Quoted cells in this row contain no commas except Tags and description; find by
            // splitting on the CSV grammar.
            parse_csv_line(lines[1])[i].clone()
        };
        assert_eq!(cell("BilledCost"), "18.000000");
        assert_eq!(cell("ListUnitPrice"), "9.000000");
        assert_eq!(cell("PricingQuantity"), "2.000000");
        assert_eq!(cell("ChargePeriodStart"), "2026-09-08T00:00:00Z");
        assert_eq!(cell("ChargePeriodEnd"), "2026-09-09T00:00:00Z");
        assert_eq!(cell("BillingPeriodStart"), "2026-09-01T00:00:00Z");
        assert_eq!(cell("ServiceProviderName"), "Anthropic");
        assert_eq!(cell("ResourceId"), "'=cmd@corp");
        assert_eq!(cell("x_CostTier"), "estimated");
        assert_eq!(
            cell("Tags"),
            r#"{"team":"payments","tokenaudit_tier":"estimated"}"#
        );
    }

    fn parse_csv_line(line: &str) -> Vec<String> {
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
}
