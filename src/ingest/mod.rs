//! Ingest: from files on disk to canonical, validated rows.
//!
//! Every input format is one adapter behind [`Adapter`]: it knows how to recognise its files
//! and how to scan one into a polars `LazyFrame` whose column names are the canonical ones
//! (types may still be wrong). [`canonical`] then casts every column to its canonical type and
//! marks the rows that fail validation, so quarantine works the same for every format.
//!
//! A new format is one file implementing [`Adapter`] (its report name, the names the command
//! line takes, its extensions, how it sniffs, scans and which tables it holds) and its entry in
//! [`Format`]: the command line's names, the list in errors and detection by extension are read
//! from the adapters. Paged JSON exports share one page reader (`vendor_json`), line-oriented
//! ones one line splitter and one record builder (`records`).
//!
//! Nothing here collects: the frames go on to `normalize` and `features` as one lazy plan.

mod anthropic_cost;
mod anthropic_usage;
pub mod canonical;
mod claude_code;
mod claude_code_analytics;
mod copilot;
mod csv;
mod cursor;
mod cursor_csv;
mod cursor_events;
mod fields;
mod git;
mod github_prs;
mod ipc;
mod jira;
mod linear;
mod litellm;
mod ndjson;
mod openai_costs;
mod openai_usage;
mod otel;
mod parquet;
pub mod quarantine;
mod records;
mod vendor_json;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::schema::Table;

/// Errors that stop a run before any row is read.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("No input file matches `{pattern}`")]
    NoMatch { pattern: String },
    #[error("Cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Invalid glob `{pattern}`: {message}")]
    Glob { pattern: String, message: String },
    #[error(
        "`{}` has no `{column}` column, which every {table} file must have\n  found columns: {found}\n\nhint: rename the column, or pick the right adapter with --{table}-format",
        path.display()
    )]
    MissingColumn {
        path: PathBuf,
        table: &'static str,
        column: &'static str,
        found: String,
    },
    #[error("Cannot read `{}` as {format}: {source}", path.display())]
    Scan {
        path: PathBuf,
        format: Format,
        source: PolarsError,
    },
    #[error(
        "`{}` is a {format} file, which holds no {table} rows\n\nhint: give it with the other flag (--usage or --outputs), or name its format with --{table}-format",
        path.display()
    )]
    WrongTable {
        path: PathBuf,
        format: Format,
        table: &'static str,
    },
    #[error("Unknown input format `{given}`; expected one of: {known}")]
    UnknownFormat { given: String, known: String },
}

/// The input formats tokenaudit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    Csv,
    Parquet,
    Ipc,
    Ndjson,
    /// Claude Code's local JSONL session logs.
    ClaudeCode,
    /// Anthropic Admin API Messages usage report (tokens per bucket and group).
    AnthropicUsage,
    /// Anthropic Admin API cost report (billed cents per bucket and line item).
    AnthropicCost,
    /// Claude Code Analytics API (per person per day: tokens, cost and outputs).
    ClaudeCodeAnalytics,
    /// OpenTelemetry OTLP JSON logs and traces (GenAI semconv, Claude Code events).
    Otel,
    /// OpenAI organization usage (completions) pages.
    OpenAiUsage,
    /// OpenAI organization costs pages.
    OpenAiCosts,
    /// GitHub Copilot user-level usage metrics (NDJSON): usage and outputs.
    Copilot,
    /// Cursor Admin API usage events (JSON pages).
    CursorEvents,
    /// Cursor dashboard usage-events CSV export.
    CursorCsv,
    /// Cursor Admin API daily usage data (JSON): outputs.
    CursorDaily,
    /// LiteLLM proxy `LiteLLM_SpendLogs` CSV export.
    LiteLlm,
    /// A git repository (a directory).
    Git,
    /// Pull requests from `gh pr list --json` or the REST API.
    GithubPrs,
    /// Jira's CSV export of issues.
    JiraCsv,
    /// Linear's CSV export of issues.
    LinearCsv,
}

impl Format {
    pub const ALL: [Format; 20] = [
        Format::Csv,
        Format::Parquet,
        Format::Ipc,
        Format::Ndjson,
        Format::ClaudeCode,
        Format::AnthropicUsage,
        Format::AnthropicCost,
        Format::ClaudeCodeAnalytics,
        Format::Otel,
        Format::OpenAiUsage,
        Format::OpenAiCosts,
        Format::Copilot,
        Format::CursorEvents,
        Format::CursorCsv,
        Format::CursorDaily,
        Format::LiteLlm,
        Format::Git,
        Format::GithubPrs,
        Format::JiraCsv,
        Format::LinearCsv,
    ];

    /// Vendor formats, recognised by their content before extensions are looked at (they share
    /// `.json`, `.jsonl` and `.csv` with the canonical formats; CSV vendors by their header
    /// line). Claude Code logs come first: their free text (prompts, tool output) may quote any
    /// other format's keys.
    const BY_CONTENT: [Format; 15] = [
        Format::ClaudeCode,
        Format::Otel,
        Format::AnthropicUsage,
        Format::AnthropicCost,
        Format::ClaudeCodeAnalytics,
        Format::OpenAiUsage,
        Format::OpenAiCosts,
        Format::Copilot,
        Format::CursorEvents,
        Format::CursorDaily,
        Format::CursorCsv,
        Format::LiteLlm,
        Format::GithubPrs,
        Format::JiraCsv,
        Format::LinearCsv,
    ];

    /// Pairs of formats that describe the same spend: a run reading both counts it twice (a
    /// usage export whose tokens get priced, and the same vendor's cost export, which bills them).
    const OVERLAPS: [(Format, Format, &'static str); 2] = [
        (
            Format::AnthropicUsage,
            Format::AnthropicCost,
            "the Anthropic usage report (tokens, priced from the price table) and the cost report (the bill) cover the same spend; for the same period, give one of them",
        ),
        (
            Format::OpenAiUsage,
            Format::OpenAiCosts,
            "the OpenAI usage export (tokens, priced from the price table) and the costs export (the bill) cover the same spend; for the same period, give one of them",
        ),
    ];

    /// The format `--usage-format`/`--outputs-format` names: any of its adapter's names, in any
    /// case.
    pub fn parse(name: &str) -> Result<Format, IngestError> {
        let name = name.to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|format| format.adapter().names().contains(&name.as_str()))
            .ok_or_else(|| IngestError::UnknownFormat {
                given: name,
                known: Format::ALL
                    .iter()
                    .map(|format| format.adapter().names()[0])
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn adapter(self) -> &'static dyn Adapter {
        match self {
            Format::Csv => &csv::CsvAdapter,
            Format::Parquet => &parquet::ParquetAdapter,
            Format::Ipc => &ipc::IpcAdapter,
            Format::Ndjson => &ndjson::NdjsonAdapter,
            Format::ClaudeCode => &claude_code::ClaudeCodeAdapter,
            Format::AnthropicUsage => &anthropic_usage::AnthropicUsageAdapter,
            Format::AnthropicCost => &anthropic_cost::AnthropicCostAdapter,
            Format::ClaudeCodeAnalytics => &claude_code_analytics::ClaudeCodeAnalyticsAdapter,
            Format::Otel => &otel::OtelAdapter,
            Format::OpenAiUsage => &openai_usage::OpenAiUsageAdapter,
            Format::OpenAiCosts => &openai_costs::OpenAiCostsAdapter,
            Format::Copilot => &copilot::CopilotAdapter,
            Format::CursorEvents => &cursor_events::CursorEventsAdapter,
            Format::CursorCsv => &cursor_csv::CursorCsvAdapter,
            Format::CursorDaily => &cursor::CursorDailyAdapter,
            Format::LiteLlm => &litellm::LiteLlmAdapter,
            Format::Git => &git::GitAdapter,
            Format::GithubPrs => &github_prs::GithubPrsAdapter,
            Format::JiraCsv => &jira::JiraAdapter,
            Format::LinearCsv => &linear::LinearAdapter,
        }
    }

    /// The name recorded in the report's `inputs` and the rows' `source` column.
    pub fn source_name(self) -> &'static str {
        self.adapter().name()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.adapter().name())
    }
}

/// What an adapter read from one file: the rows, and the records it skipped on purpose (not
/// usage: a synthetic message, an API error), counted by reason.
pub struct Scan {
    pub frame: LazyFrame,
    pub skipped: std::collections::BTreeMap<&'static str, u64>,
    /// The SHA-256 of files the adapter hashed from the bytes it read, by file index (see
    /// [`Adapter::scan_many`]), so that the report's hashes need not read them again.
    pub hashes: Vec<(u32, String)>,
}

impl From<LazyFrame> for Scan {
    fn from(frame: LazyFrame) -> Scan {
        Scan {
            frame,
            skipped: Default::default(),
            hashes: Vec::new(),
        }
    }
}

/// The `--since/--until` window as UTC seconds, for adapters that can skip what lies outside
/// (a git walk stops early). Only an optimisation: the calendar applies the exact window later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// One input format. Implementations are unit structs, one file each.
///
/// Adapters of formats parsed record by record (vendor JSON) may add two columns that
/// `canonical` understands: [`canonical::ROW`], the record's line in the file, so quarantine
/// names the line rather than the row; and [`canonical::ERROR`] with [`canonical::RAW`], set on
/// a record that could not be read at all, so it is quarantined with that reason and its text.
pub trait Adapter: Sync {
    /// Name used in reports, e.g. `canonical-csv`.
    fn name(&self) -> &'static str;
    /// The names `--usage-format` and `--outputs-format` take (lowercase), the first shown in
    /// help and errors.
    fn names(&self) -> &'static [&'static str];
    /// File extensions (lowercase, no dot) that mean this format.
    fn extensions(&self) -> &'static [&'static str];
    /// Whether the first bytes of a file look like this format.
    fn sniff(&self, head: &[u8]) -> bool;
    /// The tables a file of this format holds. Empty (canonical formats): whichever table it
    /// was given for. A vendor format that holds both (a per-user report of tokens and commits)
    /// is read for both when given for either.
    fn tables(&self) -> &'static [Table] {
        &[]
    }
    /// A lazy scan of the rows of `table`, whose columns carry canonical names; types are
    /// fixed later by [`canonical`].
    fn scan(&self, path: &Path, table: Table) -> PolarsResult<Scan>;
    /// Several files of this format at once, every row tagged with its file's index in
    /// [`canonical::FILE`]: for formats whose files are many and small (one per session), where
    /// a scan per file costs more than its bytes. `None`: one scan per file. An error names the
    /// file it came from.
    fn scan_many(
        &self,
        files: &[(u32, &Path)],
        table: Table,
    ) -> Option<Result<Scan, (PathBuf, PolarsError)>> {
        let _ = (files, table);
        None
    }
    /// [`Adapter::scan`] told the audit's window, for adapters that can push it down.
    fn scan_window(&self, path: &Path, table: Table, window: Window) -> PolarsResult<Scan> {
        let _ = window;
        self.scan(path, table)
    }
}

/// One file to read, with the table it feeds and how it will be read.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    /// How the file is named in reports (the path as given, or a fixture name for `demo`).
    pub display: String,
    pub table: Table,
    pub format: Format,
}

/// Expands files, directories (recursively, known extensions only) and globs, in sorted order,
/// and picks each file's format: `forced` when given, else magic bytes, else content, else
/// extension. A vendor file holding other tables than `table` is read for those when a folder
/// or glob found it, and is an error when it was named outright.
pub fn resolve_inputs(
    patterns: &[String],
    table: Table,
    forced: Option<Format>,
) -> Result<Vec<InputFile>, IngestError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let mut matched = expand(pattern)?;
        if matched.is_empty() {
            return Err(IngestError::NoMatch {
                pattern: pattern.clone(),
            });
        }
        matched.sort();
        for path in matched {
            let format = match forced {
                Some(format) => format,
                None => detect_format(&path)?,
            };
            let holds = format.adapter().tables();
            // A file named outright for the wrong table is a mistake to report; one found in a
            // folder of exports is read for the table it holds.
            let named = path == Path::new(pattern);
            if named && !holds.is_empty() && !holds.contains(&table) {
                return Err(IngestError::WrongTable {
                    path,
                    format,
                    table: table.name(),
                });
            }
            let tables: &[Table] = if holds.is_empty() { &[table] } else { holds };
            for &table in tables {
                files.push(InputFile {
                    display: path.display().to_string(),
                    path: path.clone(),
                    table,
                    format,
                });
            }
        }
    }
    Ok(files)
}

fn expand(pattern: &str) -> Result<Vec<PathBuf>, IngestError> {
    let path = Path::new(pattern);
    // A repository is one input, not a folder of files.
    if git::is_repository(path) {
        return Ok(vec![path.to_path_buf()]);
    }
    if path.is_dir() {
        let mut found = Vec::new();
        walk(path, &mut found)?;
        return Ok(found);
    }
    if path.exists() {
        return Ok(vec![path.to_path_buf()]);
    }
    if pattern.contains(['*', '?', '[']) {
        let entries = glob::glob(pattern).map_err(|err| IngestError::Glob {
            pattern: pattern.to_string(),
            message: err.to_string(),
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| IngestError::Io {
                path: err.path().to_path_buf(),
                source: std::io::Error::other(err.to_string()),
            })?;
            if entry.is_file() {
                found.push(entry);
            }
        }
        return Ok(found);
    }
    Err(IngestError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
    })
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io_err = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if git::is_repository(&path) {
            found.push(path);
        } else if path.is_dir() {
            walk(&path, found)?;
        } else if format_from_extension(&path).is_some() {
            found.push(path);
        }
    }
    Ok(())
}

fn format_from_extension(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Format::ALL
        .into_iter()
        .find(|format| format.adapter().extensions().contains(&ext.as_str()))
}

/// Magic bytes decide first (a Parquet file named `.csv` is still Parquet), then the extension,
/// then a look at the text.
pub fn detect_format(path: &Path) -> Result<Format, IngestError> {
    if git::is_repository(path) {
        return Ok(Format::Git);
    }
    // Vendor records can be long (a Claude Code line holds a whole message): 8 KiB of head.
    let mut head = [0u8; 8192];
    let mut file = std::fs::File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let n = file.read(&mut head).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let head = &head[..n];
    for format in [Format::Parquet, Format::Ipc]
        .into_iter()
        .chain(Format::BY_CONTENT)
    {
        if format.adapter().sniff(head) {
            return Ok(format);
        }
    }
    if let Some(format) = format_from_extension(path) {
        return Ok(format);
    }
    if Format::Ndjson.adapter().sniff(head) {
        return Ok(Format::Ndjson);
    }
    Ok(Format::Csv)
}

/// A reader's error on `file` in the user's terms, where the engine's own message names no
/// place: a canonical CSV record with more fields than its header, by line.
pub fn explain_unreadable(file: &InputFile, err: PolarsError) -> PolarsError {
    if file.format != Format::Csv || !err.to_string().contains("more fields than defined") {
        return err;
    }
    let ragged = std::fs::File::open(&file.path)
        .and_then(|f| csv::first_ragged_line(std::io::BufReader::new(f)))
        .ok()
        .flatten();
    match ragged {
        Some((line, fields, columns)) => PolarsError::ComputeError(
            format!("line {line} has {fields} fields where the header has {columns} (a comma in a value that is not quoted?)").into(),
        ),
        None => err,
    }
}

/// Warnings about formats read together that count the same spend twice (see
/// `Format::OVERLAPS`), one line each.
pub fn overlap_warnings(files: &[InputFile]) -> Vec<String> {
    let read: std::collections::BTreeSet<Format> = files.iter().map(|f| f.format).collect();
    Format::OVERLAPS
        .iter()
        .filter(|(a, b, _)| read.contains(a) && read.contains(b))
        .map(|(a, b, why)| format!("this run reads both {a} and {b} files: {why}"))
        .collect()
}

/// Scans one file with its adapter.
pub fn scan(file: &InputFile, window: Window) -> Result<Scan, IngestError> {
    file.format
        .adapter()
        .scan_window(&file.path, file.table, window)
        .map_err(|source| IngestError::Scan {
            path: file.path.clone(),
            format: file.format,
            source,
        })
}

/// Reads several files of one format and table at once, when their adapter can
/// ([`Adapter::scan_many`]); `None` when it reads one file at a time.
pub fn scan_together(files: &[(u32, &InputFile)]) -> Option<Result<Scan, IngestError>> {
    let (_, first) = files.first()?;
    let paths: Vec<(u32, &Path)> = files.iter().map(|(i, f)| (*i, f.path.as_path())).collect();
    let scan = first.format.adapter().scan_many(&paths, first.table)?;
    Some(scan.map_err(|(path, source)| IngestError::Scan {
        path,
        format: first.format,
        source,
    }))
}

/// Hex SHA-256 of a file, recorded in the report so an audit names exactly what it read.
///
/// A git repository is hashed by its references (`HEAD`, `packed-refs`, `refs/**`): the same
/// refs name the same history.
pub fn sha256_file(path: &Path) -> Result<String, IngestError> {
    use sha2::{Digest, Sha256};
    if git::is_repository(path) {
        return git::fingerprint(path).map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    let mut file = std::fs::File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The SHA-256 of bytes already read, as [`sha256_file`] gives it for their file.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_the_command_line_takes_is_one_formats_own() {
        let mut seen = std::collections::BTreeMap::new();
        for format in Format::ALL {
            assert!(!format.adapter().names().is_empty(), "{format} has no name");
            for name in format.adapter().names() {
                assert_eq!(name.to_ascii_lowercase(), *name);
                assert_eq!(Format::parse(name).unwrap(), format);
                assert_eq!(Format::parse(&name.to_uppercase()).unwrap(), format);
                if let Some(other) = seen.insert(*name, format) {
                    panic!("`{name}` names both {other} and {format}");
                }
            }
        }
        let unknown = Format::parse("parquet2").unwrap_err().to_string();
        assert!(
            unknown.contains("expected one of: csv, parquet, ipc"),
            "{unknown}"
        );
        assert!(unknown.ends_with("jira-csv, linear-csv"), "{unknown}");
    }

    #[test]
    fn parquet_magic_wins_over_a_csv_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.csv");
        std::fs::write(&path, b"PAR1\x15\x04").unwrap();
        assert_eq!(detect_format(&path).unwrap(), Format::Parquet);
    }

    #[test]
    fn unknown_extension_with_json_lines_is_ndjson() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.log");
        std::fs::write(&path, b"  {\"ts\": \"2026-01-01\"}\n").unwrap();
        assert_eq!(detect_format(&path).unwrap(), Format::Ndjson);
    }

    #[test]
    fn directories_expand_to_known_extensions_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b.csv", "a.parquet", "notes.txt", "sub/c.jsonl"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let files = resolve_inputs(
            &[dir.path().display().to_string()],
            Table::Usage,
            Some(Format::Csv),
        )
        .unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["a.parquet", "b.csv", "sub/c.jsonl"]);
    }

    #[test]
    fn a_glob_matching_nothing_is_an_error_naming_it() {
        let err = resolve_inputs(&["/nonexistent/*.csv".into()], Table::Usage, None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/*.csv"), "{err}");
    }
}
