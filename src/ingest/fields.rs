//! Field readers shared by the vendor adapters: numbers that arrive as JSON numbers or as
//! numeric strings (OpenAI sends `amount.value` both ways), and epoch times turned into the ISO
//! text `canonical` parses.
//!
//! Not covered: typing and checking canonical columns (that is `canonical`'s job); these only
//! decode what a vendor wrote into plain values, and say clearly when they cannot.

use std::fmt;

use chrono::DateTime;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A whole, non-negative count: a JSON number (`12`, `12.0`) or a numeric string (`"12"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count(pub u64);

/// A decimal (dollars, cents): a JSON number or a numeric string. Sign is kept; `canonical`
/// quarantines a negative cost with its column and value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Decimal(pub f64);

/// A Unix time (seconds or milliseconds, as the field documents): a number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch(pub i64);

fn whole(value: f64) -> Option<u64> {
    (value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < u64::MAX as f64)
        .then_some(value as u64)
}

/// Reads a count from text: `"1200"`, `" 1200 "`, `"1200.0"`; nothing else.
pub fn parse_count(text: &str) -> Option<u64> {
    let text = text.trim();
    text.parse::<u64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().and_then(whole))
}

/// Reads a decimal from text, allowing a leading `$`.
pub fn parse_decimal(text: &str) -> Option<f64> {
    let text = text.trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Count, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative whole number (or one in a string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                u64::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                whole(v)
                    .map(Count)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                parse_count(v)
                    .map(Count)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        struct DecimalVisitor;
        impl Visitor<'_> for DecimalVisitor {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number (or one in a string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                Ok(Decimal(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                parse_decimal(v)
                    .map(Decimal)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(DecimalVisitor)
    }
}

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Epoch, D::Error> {
        struct EpochVisitor;
        impl Visitor<'_> for EpochVisitor {
            type Value = Epoch;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Unix time (a whole number, or one in a string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Epoch, E> {
                i64::try_from(v)
                    .map(Epoch)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Epoch, E> {
                Ok(Epoch(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Epoch, E> {
                whole(v)
                    .map(|v| Epoch(v as i64))
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Epoch, E> {
                v.trim()
                    .parse::<i64>()
                    .map(Epoch)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(EpochVisitor)
    }
}

/// `2026-10-05T00:00:00Z` for Unix seconds; `None` out of chrono's range.
pub fn iso_from_unix_seconds(seconds: i64) -> Option<String> {
    DateTime::from_timestamp(seconds, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Numbers {
        count: Count,
        amount: Decimal,
        at: Epoch,
    }

    #[test]
    fn counts_and_amounts_come_as_numbers_or_numeric_strings() {
        let n: Numbers =
            serde_json::from_str(r#"{"count": "1200", "amount": "0.25", "at": "1759622400000"}"#)
                .unwrap();
        assert_eq!(
            (n.count, n.amount, n.at),
            (Count(1200), Decimal(0.25), Epoch(1_759_622_400_000))
        );
        let n: Numbers = serde_json::from_str(r#"{"count": 12.0, "amount": 3, "at": 5}"#).unwrap();
        assert_eq!(
            (n.count, n.amount, n.at),
            (Count(12), Decimal(3.0), Epoch(5))
        );
        for bad in [r#""lots""#, "-3", "1.5", "true", "[1]"] {
            let text = format!(r#"{{"count": {bad}, "amount": 1, "at": 1}}"#);
            assert!(serde_json::from_str::<Numbers>(&text).is_err(), "{bad}");
        }
        assert_eq!(parse_decimal("$0.42"), Some(0.42));
        assert_eq!(parse_decimal("Included"), None);
        assert_eq!(parse_count(" 7 "), Some(7));
        assert_eq!(parse_count("1,200"), None);
    }

    #[test]
    fn epochs_become_iso_text() {
        assert_eq!(
            iso_from_unix_seconds(1_791_158_400).unwrap(),
            "2026-10-05T00:00:00Z"
        );
    }
}
