//! Field readers shared by the vendor adapters: numbers that arrive as JSON numbers or as
//! numeric strings (Cursor sends token counts both ways, OpenAI sends `amount.value` both ways),
//! epoch times turned into the ISO text `canonical` parses, and CSV records split by RFC 4180
//! with the line each starts on, so a bad record is quarantined by line.
//!
//! Not covered: typing and checking canonical columns (that is `canonical`'s job); these only
//! decode what a vendor wrote into plain values, and say clearly when they cannot.

use std::borrow::Cow;
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

/// A double that is a whole, non-negative count.
pub fn whole(value: f64) -> Option<u64> {
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

/// Reads a decimal from text, allowing a leading `$` (Cursor's CSV writes `$0.42`).
pub fn parse_decimal(text: &str) -> Option<f64> {
    let text = text.trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// An amount in cents, as vendors write it: a decimal string (`"123.45"`, the Admin API cost
/// report, Cursor's events) or a number (Claude Code Analytics, Cursor). Read as dollars:
/// `"123.45"` is $1.2345.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cents {
    pub dollars: f64,
}

/// Dollars of an amount in cents, rounded once: the point moved two places in the cents'
/// shortest decimal text. "0.07" cents is the double nearest $0.0007, where 0.07 / 100 rounds
/// twice and lands one ulp off.
fn dollars_of_cents(cents: f64) -> f64 {
    format!("{cents}e-2").parse().unwrap_or(cents / 100.0)
}

impl<'de> Deserialize<'de> for Cents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cents, D::Error> {
        struct CentsVisitor;
        impl Visitor<'_> for CentsVisitor {
            type Value = Cents;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount in cents (a decimal number, or one as a string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cents, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cents, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cents, E> {
                if !v.is_finite() {
                    return Err(E::invalid_value(de::Unexpected::Float(v), &self));
                }
                Ok(Cents {
                    dollars: dollars_of_cents(v),
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cents, E> {
                let cents = parse_decimal(v)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))?;
                self.visit_f64(cents)
            }
        }
        deserializer.deserialize_any(CentsVisitor)
    }
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

/// `2026-10-05T09:14:03.512Z` for Unix milliseconds.
pub fn iso_from_unix_millis(millis: i64) -> Option<String> {
    DateTime::from_timestamp_millis(millis).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// Unix milliseconds of an ISO 8601 time with `Z` or an offset, for dedup keys that must agree
/// between a vendor's JSON (epoch ms) and its CSV (ISO text).
pub fn unix_millis_from_iso(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// One record of a CSV file: the line it starts on, its fields and its text.
#[derive(Debug, PartialEq)]
pub struct CsvRecord<'a> {
    pub line: u64,
    pub fields: Vec<Cow<'a, str>>,
    pub raw: &'a [u8],
}

/// A CSV record that could not be split: its line, why, and its text.
#[derive(Debug, PartialEq)]
pub struct CsvError<'a> {
    pub line: u64,
    pub reason: String,
    pub raw: &'a [u8],
}

/// Splits CSV text (RFC 4180: `,` separators, `"` quoting with `""` inside, fields may span
/// lines) into records, header included, skipping blank lines and a UTF-8 byte order mark.
///
/// A record that cannot be split (a stray or unclosed quote, bytes that are not UTF-8) is
/// returned as an error naming its first line, and splitting resumes on the next line, so one
/// broken record cannot swallow the rest of the file.
pub fn csv_records(bytes: &[u8]) -> Vec<Result<CsvRecord<'_>, CsvError<'_>>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut records = Vec::new();
    let (mut pos, mut line) = (0usize, 1u64);
    while pos < bytes.len() {
        let line_end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let first_line = &bytes[pos..line_end];
        if first_line.iter().all(u8::is_ascii_whitespace) {
            pos = line_end + 1;
            line += 1;
            continue;
        }
        match split_record(bytes, pos) {
            Ok((fields, end, lines)) => {
                let raw = &bytes[pos..end];
                let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                records.push(Ok(CsvRecord { line, fields, raw }));
                pos = end;
                line += lines;
            }
            Err(reason) => {
                let raw = first_line.strip_suffix(b"\r").unwrap_or(first_line);
                records.push(Err(CsvError { line, reason, raw }));
                pos = line_end + 1;
                line += 1;
            }
        }
    }
    records
}

/// The fields of the record starting at `start`, the position after it, and the number of
/// lines it spans.
fn split_record(bytes: &[u8], start: usize) -> Result<(Vec<Cow<'_, str>>, usize, u64), String> {
    let text =
        |slice| std::str::from_utf8(slice).map_err(|_| "bytes that are not UTF-8".to_string());
    let mut fields = Vec::new();
    let mut pos = start;
    let mut lines = 1u64;
    loop {
        if bytes.get(pos) == Some(&b'"') {
            // Quoted: up to the closing quote; `""` is one quote.
            let mut value = Vec::new();
            pos += 1;
            loop {
                match bytes.get(pos) {
                    None => return Err("a quoted field that is never closed".to_string()),
                    Some(b'"') if bytes.get(pos + 1) == Some(&b'"') => {
                        value.push(b'"');
                        pos += 2;
                    }
                    Some(b'"') => {
                        pos += 1;
                        break;
                    }
                    Some(&b) => {
                        if b == b'\n' {
                            lines += 1;
                        }
                        value.push(b);
                        pos += 1;
                    }
                }
            }
            let value =
                String::from_utf8(value).map_err(|_| "bytes that are not UTF-8".to_string())?;
            fields.push(Cow::Owned(value));
        } else {
            let end = bytes[pos..]
                .iter()
                .position(|b| matches!(b, b',' | b'\n'))
                .map_or(bytes.len(), |i| pos + i);
            let mut value = &bytes[pos..end];
            if end == bytes.len() || bytes[end] == b'\n' {
                value = value.strip_suffix(b"\r").unwrap_or(value);
            }
            if value.contains(&b'"') {
                return Err("a quote inside an unquoted field".to_string());
            }
            fields.push(Cow::Borrowed(text(value)?));
            pos = end;
        }
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b'\n') => return Ok((fields, pos + 1, lines)),
            Some(b'\r') if matches!(bytes.get(pos + 1), Some(b'\n') | None) => {
                return Ok((fields, (pos + 2).min(bytes.len()), lines))
            }
            None => return Ok((fields, pos, lines)),
            Some(_) => return Err("text after a closing quote".to_string()),
        }
    }
}

/// A CSV header: column positions by name, for vendors that add and reorder columns.
pub struct CsvHeader {
    names: Vec<String>,
}

impl CsvHeader {
    pub fn new(fields: &[Cow<'_, str>]) -> CsvHeader {
        CsvHeader {
            names: fields.iter().map(|f| f.trim().to_string()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The position of the first column named any of `names`.
    pub fn find(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|name| self.names.iter().position(|n| n == name))
    }

    pub fn names(&self) -> String {
        self.names.join(", ")
    }

    /// The header of a CSV file from its first bytes: its first record that is not blank,
    /// split as [`csv_records`] splits it. `None` when the first line is not a CSV record.
    pub fn of_head(head: &[u8]) -> Option<CsvHeader> {
        let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
        let end = memchr::memchr(b'\n', &head[start..]).map_or(head.len(), |i| start + i + 1);
        match csv_records(&head[start..end]).into_iter().next()? {
            Ok(record) => Some(CsvHeader::new(&record.fields)),
            Err(_) => None,
        }
    }

    /// Whether a column of each of `names` is there: how a vendor's CSV export is recognised.
    pub fn has_all(&self, names: &[&str]) -> bool {
        names.iter().all(|name| self.find(&[name]).is_some())
    }
}

/// A vendor's CSV export (`export`, for errors): its header and the records after it. A file
/// that is empty or whose first line is not CSV is not the export.
pub fn header_and_records<'a>(
    bytes: &'a [u8],
    export: &'static str,
) -> Result<
    (
        CsvHeader,
        impl Iterator<Item = Result<CsvRecord<'a>, CsvError<'a>>>,
    ),
    super::AdapterError,
> {
    let mut parsed = csv_records(bytes).into_iter();
    let header = match parsed.next() {
        Some(Ok(record)) => CsvHeader::new(&record.fields),
        Some(Err(err)) => {
            return Err(super::AdapterError::NotThisExport {
                export,
                why: format!("the header (line {}) is not CSV: {}", err.line, err.reason),
            })
        }
        None => {
            return Err(super::AdapterError::NotThisExport {
                export,
                why: "the file is empty".into(),
            })
        }
    };
    Ok((header, parsed))
}

/// Whether the first bytes of a file are a CSV header with a column of each of `names`.
pub fn csv_head_has(head: &[u8], names: &[&str]) -> bool {
    CsvHeader::of_head(head).is_some_and(|header| header.has_all(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_cents_become_dollars() {
        let value: serde_json::Value =
            serde_json::from_str(r#"["123.45", 250, 99.5, "12 USD", "0.07", 0.07, "NaN"]"#)
                .unwrap();
        let items = value.as_array().unwrap();
        // "123.45" cents = $1.2345; 250 cents = $2.50; 99.5 cents = $0.995.
        assert_eq!(Cents::deserialize(&items[0]).unwrap().dollars, 1.2345);
        assert_eq!(Cents::deserialize(&items[1]).unwrap().dollars, 2.5);
        assert_eq!(Cents::deserialize(&items[2]).unwrap().dollars, 0.995);
        assert!(Cents::deserialize(&items[3]).is_err());
        // The nearest double to $0.0007, which 0.07 / 100 misses.
        assert_eq!(Cents::deserialize(&items[4]).unwrap().dollars, 0.0007);
        assert_ne!(0.07_f64 / 100.0, 0.0007);
        // The same as a JSON number (Cursor's `chargedCents`, which divided by 100 before).
        assert_eq!(Cents::deserialize(&items[5]).unwrap().dollars, 0.0007);
        assert!(Cents::deserialize(&items[6]).is_err());
    }

    #[test]
    fn a_vendor_csv_is_recognised_by_its_header_columns_however_written() {
        let names = ["ID", "Team", "Title", "Completed"];
        for head in [
            &b"ID,Team,Title,Completed\nENG-1,eng,x,2026-01-01\n"[..],
            b"\xEF\xBB\xBF\"ID\",\"Team\",\"Title\",\"Completed\"\r\n",
            b"\n\n Title , ID,Team,Completed,Extra",
        ] {
            assert!(
                csv_head_has(head, &names),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        // A column name inside another is not the column; a name in a later line is not a
        // header; JSON is not a header.
        assert!(!csv_head_has(b"ID,Team,Title,Completed At\n", &names));
        assert!(!csv_head_has(b"a,b\nID,Team,Title,Completed\n", &names));
        assert!(!csv_head_has(b"{\"ID\": 1, \"Team\": 2}", &names));
    }

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
    fn epochs_become_iso_text_and_back() {
        assert_eq!(
            iso_from_unix_seconds(1_791_158_400).unwrap(),
            "2026-10-05T00:00:00Z"
        );
        let iso = iso_from_unix_millis(1_791_191_643_512).unwrap();
        assert_eq!(iso, "2026-10-05T09:14:03.512Z");
        assert_eq!(unix_millis_from_iso(&iso), Some(1_791_191_643_512));
        assert_eq!(
            unix_millis_from_iso("2026-10-05T11:14:03.512+02:00"),
            Some(1_791_191_643_512)
        );
    }

    #[test]
    fn csv_records_keep_quotes_commas_and_line_numbers() {
        let text = "\u{feff}a,b,c\r\n1,\"x, \"\"y\"\"\",3\r\n\n2,\"two\nlines\",4\n5,bad\"quote,6\n7,\"open,8\n9,10,11";
        let records = csv_records(text.as_bytes());
        let ok: Vec<(u64, Vec<&str>)> = records
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| (r.line, r.fields.iter().map(|f| f.as_ref()).collect()))
            .collect();
        assert_eq!(
            ok,
            vec![
                (1, vec!["a", "b", "c"]),
                (2, vec!["1", "x, \"y\"", "3"]),
                (4, vec!["2", "two\nlines", "4"]),
                (8, vec!["9", "10", "11"]),
            ]
        );
        let bad: Vec<(u64, &[u8])> = records
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| (e.line, e.raw))
            .collect();
        assert_eq!(
            bad,
            vec![(6, &b"5,bad\"quote,6"[..]), (7, &b"7,\"open,8"[..])]
        );
    }
}
