//! Reading vendor JSON exports: the documents a file holds, the pages of an API report, and
//! typed records with the path of a wrong-typed field.
//!
//! A file is either **whole documents** (an API response saved as it came, pretty-printed or
//! not, possibly several one after another) or **one document per line** (NDJSON: the
//! OpenTelemetry collector's file exporter, or API pages appended to one file). The first
//! non-blank line decides: if it is JSON by itself, the file is read line by line and a line that
//! is not JSON is one unreadable document, quarantined with its line; otherwise the file is read
//! as whole documents and a file that is not JSON is an error naming it.
//!
//! Records are parsed one at a time from the document tree, so one wrong-typed record is
//! quarantined (with the path of the field, `.data[2].results[1].output_tokens: invalid type…`)
//! and its neighbours are still read. Documents are read one at a time, so memory holds one
//! document's tree (a collector's line, an API page), not the file's.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::AdapterError;

use super::records::Records;

/// One JSON document of a file.
pub enum Document {
    Read(Value),
    /// A line of a line-per-document file that is not JSON.
    Unreadable {
        reason: String,
        raw: Vec<u8>,
    },
}

/// Whether a file holds one document per line: its first non-blank line is JSON by itself.
pub fn is_line_per_document(bytes: &[u8]) -> bool {
    super::records::numbered_lines(1, without_bom(bytes))
        .next()
        .is_some_and(|(_, first)| serde_json::from_slice::<serde::de::IgnoredAny>(first).is_ok())
}

/// The bytes after a UTF-8 byte order mark, if the file starts with one.
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The document on one line of a line-per-document file.
pub fn line_document(line: u64, text: &[u8]) -> Document {
    match serde_json::from_slice(text) {
        Ok(value) => Document::Read(value),
        Err(err) => Document::Unreadable {
            reason: format!("line {line} is not JSON: {}", without_position(&err)),
            raw: text.to_vec(),
        },
    }
}

/// Calls `each` on the documents of a file in file order, with the line each starts on, one at
/// a time, so memory holds one document's tree, not the file's. A file that is not JSON at all
/// is not the export (`what`) it was read as.
pub fn each_document(
    bytes: &[u8],
    what: &'static str,
    mut each: impl FnMut(u64, Document),
) -> Result<(), AdapterError> {
    let bytes = without_bom(bytes);
    if is_line_per_document(bytes) {
        for (line, text) in super::records::numbered_lines(1, bytes) {
            each(line, line_document(line, text));
        }
        return Ok(());
    }
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    let (mut counted_to, mut line) = (0usize, 1u64);
    loop {
        let start = stream.byte_offset()
            + bytes[stream.byte_offset()..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        match stream.next() {
            None => return Ok(()),
            Some(Ok(value)) => {
                line += memchr::memchr_iter(b'\n', &bytes[counted_to..start]).count() as u64;
                counted_to = start;
                each(line, Document::Read(value));
            }
            Some(Err(err)) => {
                return Err(AdapterError::NotThisExport {
                    export: what,
                    why: format!(
                        "the file is not JSON ({err})\n\nhint: give the export as the API returned it (JSON, one page per file or one document per line), or name another format"
                    ),
                })
            }
        }
    }
}

/// serde's message with its column, without its `line 1` (the line is named already).
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    format!("{message} (column {})", err.column())
}

/// Whether `head` has `"key"` used as an object key (followed by `:`), not just as a value:
/// the cost report names `uncached_input_tokens` as a `token_type` value, the usage report
/// has it as a key.
pub fn has_key(head: &[u8], key: &str) -> bool {
    let quoted = format!("\"{key}\"");
    memchr::memmem::find_iter(head, quoted.as_bytes()).any(|at| {
        head[at + quoted.len()..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b':')
    })
}

/// A page of a paged API report (`{data: […], has_more, next_page}`), or a document that is not
/// one.
pub enum Page<'v> {
    Data {
        /// jq path of the `data` array in its document: `.data`, or `.[1].data` in an array of
        /// pages.
        path: String,
        records: &'v [Value],
    },
    NotAPage {
        path: String,
        value: &'v Value,
    },
}

/// The pages of a document: a page object, or an array of pages (several pages saved in one
/// file with `jq -s`), each holding its records under the first of `keys` it has (`data`).
fn pages<'v>(document: &'v Value, keys: &[&str]) -> Vec<Page<'v>> {
    match document {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| page(format!(".[{i}]"), item, keys))
            .collect(),
        other => vec![page(String::new(), other, keys)],
    }
}

fn page<'v>(path: String, value: &'v Value, keys: &[&str]) -> Page<'v> {
    let found = keys
        .iter()
        .find_map(|key| Some((key, value.get(*key)?.as_array()?)));
    match found {
        Some((key, records)) => Page::Data {
            path: format!("{path}.{key}"),
            records,
        },
        None => Page::NotAPage { path, value },
    }
}

/// One record of a paged report: its number, its jq path, and where its document starts.
pub struct Record<'v> {
    /// 1-based position in `data`, counted on across the pages of the file: the `_row` of its
    /// rows, so quarantine names it the same way however the file is laid out.
    pub number: u64,
    /// jq path of the record in its document (`.data[2]`, `.[1].data[0]`).
    pub path: String,
    /// `line N, ` when its document does not start on the first line, else empty.
    pub line: String,
    pub value: &'v Value,
}

impl<'v> Record<'v> {
    /// The record as `T`; the error names the wrong field by its path.
    pub fn parse<T: Deserialize<'v>>(&self) -> Result<T, String> {
        parse(self.value, &self.path).map_err(|err| format!("{}{err}", self.line))
    }

    /// A value inside the record (`results[1]`), numbered as the record.
    pub fn child(&self, suffix: &str, value: &'v Value) -> Record<'v> {
        Record {
            number: self.number,
            path: format!("{}{suffix}", self.path),
            line: self.line.clone(),
            value,
        }
    }

    /// Why the record (or its `field`, a jq path suffix) cannot be read, prefixed with its place.
    pub fn reason(&self, field: &str, why: &str) -> String {
        format!("{}`{}{field}`: {why}", self.line, self.path)
    }

    /// Quarantines the record with `why`, prefixed with its place.
    pub fn unreadable(&self, records: &mut Records, why: &str) {
        records.unreadable(self.number, self.reason("", why), &raw(self.value));
    }
}

/// A time bucket of an Admin API report: `{starting_at, ending_at, results: […]}`.
#[derive(Deserialize)]
pub struct Bucket<'a> {
    #[serde(borrow)]
    pub starting_at: Cow<'a, str>,
    #[serde(borrow)]
    pub ending_at: Option<Cow<'a, str>>,
}

/// A bucket and its results, each a record numbered as the bucket; a bucket that cannot be read
/// is quarantined and gives nothing.
pub fn bucket<'v>(
    bucket: &Record<'v>,
    records: &mut Records,
) -> Option<(Bucket<'v>, Vec<Record<'v>>)> {
    let head = bucket
        .parse()
        .and_then(|head| match bucket.value.get("results") {
            Some(Value::Array(results)) => Ok((head, results)),
            Some(_) => Err(bucket.reason(".results", "expected an array")),
            None => Err(bucket.reason("", "no `results`")),
        });
    match head {
        Ok((head, results)) => {
            let results = results
                .iter()
                .enumerate()
                .map(|(i, value)| bucket.child(&format!(".results[{i}]"), value))
                .collect();
            Some((head, results))
        }
        Err(reason) => {
            records.unreadable(bucket.number, reason, &raw(bucket.value));
            None
        }
    }
}

/// Calls `read` on every record of the `data` arrays of a paged report file, in file order.
/// Documents that are not JSON (in a line-per-document file) and documents that are not pages
/// of the report (`what`) are quarantined, each under the next number. Every paged vendor
/// export is read through here, so a bad page is quarantined the same way in every format.
pub fn each_record(
    bytes: &[u8],
    what: &'static str,
    records: &mut Records,
    read: impl FnMut(&mut Records, Record),
) -> Result<(), AdapterError> {
    each_record_in(bytes, &["data"], what, records, read)
}

/// [`each_record`] for an API whose pages hold their records under the first of `keys` they
/// have.
pub fn each_record_in(
    bytes: &[u8],
    keys: &[&str],
    what: &'static str,
    records: &mut Records,
    mut read: impl FnMut(&mut Records, Record),
) -> Result<(), AdapterError> {
    let mut number = 0u64;
    each_document(bytes, what, |line, document| match document {
        Document::Unreadable { reason, raw } => {
            number += 1;
            records.unreadable(number, reason, &raw);
        }
        Document::Read(value) => {
            let line = at_line(line);
            for page in pages(&value, keys) {
                match page {
                    Page::Data {
                        path,
                        records: items,
                    } => {
                        for (i, item) in items.iter().enumerate() {
                            number += 1;
                            let record = Record {
                                number,
                                path: format!("{path}[{i}]"),
                                line: line.clone(),
                                value: item,
                            };
                            read(records, record);
                        }
                    }
                    Page::NotAPage { path, value } => {
                        number += 1;
                        let path = if path.is_empty() { ".".into() } else { path };
                        records.unreadable(
                            number,
                            format!(
                                "{line}`{path}`: not {what} (expected an object with a `{}` array)",
                                keys[0]
                            ),
                            &raw(value),
                        );
                    }
                }
            }
        }
    })
}

/// A record parsed into `T`; the error names the path of the field that did not fit, under
/// `path` (the record's own jq path).
pub fn parse<'v, T: Deserialize<'v>>(value: &'v Value, path: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let field = err.path().to_string();
        let at = if field == "." {
            path.to_string()
        } else if field.starts_with('[') {
            format!("{path}{field}")
        } else {
            format!("{path}.{field}")
        };
        format!("`{at}`: {}", err.inner())
    })
}

/// A record's text for the quarantine file.
pub fn raw(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Where a document starts, for reasons: nothing for the first line (most files are one
/// document).
pub fn at_line(line: u64) -> String {
    if line > 1 {
        format!("line {line}, ")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(bytes: &[u8]) -> Result<Vec<(u64, Document)>, AdapterError> {
        let mut documents = Vec::new();
        each_document(bytes, "a test page", |line, d| documents.push((line, d)))?;
        Ok(documents)
    }

    fn lines(documents: &[(u64, Document)]) -> Vec<(u64, bool)> {
        documents
            .iter()
            .map(|(line, d)| (*line, matches!(d, Document::Read(_))))
            .collect()
    }

    #[test]
    fn one_document_per_line_keeps_reading_after_a_bad_line() {
        let docs = documents(b"{\"a\":1}\n{\"a\":\n\n{\"a\":3}\n").unwrap();
        assert_eq!(lines(&docs), [(1, true), (2, false), (4, true)]);
    }

    #[test]
    fn pretty_printed_documents_are_numbered_by_their_first_line() {
        let docs = documents(b"\xEF\xBB\xBF{\n  \"a\": 1\n}\n{\n \"a\": 2\n}").unwrap();
        assert_eq!(lines(&docs), [(1, true), (4, true)]);
    }

    #[test]
    fn keys_are_told_from_values() {
        let head = br#"{"token_type": "uncached_input_tokens", "output_tokens" : 3}"#;
        assert!(!has_key(head, "uncached_input_tokens"));
        assert!(has_key(head, "output_tokens"));
        assert!(has_key(head, "token_type"));
    }

    #[test]
    fn a_bad_line_is_named_once() {
        let docs = documents(b"{\"a\":1}\n{\"a\": tru\n").unwrap();
        let (_, Document::Unreadable { reason, .. }) = &docs[1] else {
            panic!("line 2 is not JSON")
        };
        assert_eq!(
            reason,
            "line 2 is not JSON: EOF while parsing a value (column 9)"
        );
    }

    #[test]
    fn a_file_that_is_not_json_is_an_error() {
        let err = documents(b"ts,agent\n2026-01-01,dana\n").err().unwrap();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn pages_come_from_an_envelope_or_an_array_of_envelopes() {
        let one: Value = serde_json::from_str(r#"{"data":[1,2],"has_more":false}"#).unwrap();
        let many: Value = serde_json::from_str(r#"[{"data":[1]},{"error":"x"}]"#).unwrap();
        assert!(
            matches!(&pages(&one, &["data"])[..], [Page::Data { path, records }] if path == ".data" && records.len() == 2)
        );
        assert!(
            matches!(&pages(&many, &["data"])[..], [Page::Data { path, .. }, Page::NotAPage { .. }] if path == ".[0].data")
        );
    }

    #[test]
    fn wrong_types_are_named_by_their_path() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Row {
            tokens: Tokens,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Tokens {
            input: u64,
        }
        let value: Value = serde_json::from_str(r#"{"tokens":{"input":"many"}}"#).unwrap();
        let err = parse::<Row>(&value, ".data[3]").unwrap_err();
        assert!(
            err.starts_with("`.data[3].tokens.input`: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn counts_may_be_strings() {
        use crate::ingest::fields::Count;
        let value: Value = serde_json::from_str(r#"["12", 7, "-1", "1.5"]"#).unwrap();
        let items = value.as_array().unwrap();
        assert_eq!(Count::deserialize(&items[0]).unwrap(), Count(12));
        assert_eq!(Count::deserialize(&items[1]).unwrap(), Count(7));
        assert!(Count::deserialize(&items[2]).is_err());
        assert!(Count::deserialize(&items[3]).is_err());
    }
}
