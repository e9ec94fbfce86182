//! Ingest: from files on disk to canonical, validated rows.
//!
//! Every input format is one adapter behind [`Adapter`]: it knows how to recognise its files
//! and how to scan one into a polars `LazyFrame` whose column names are the canonical ones
//! (types may still be wrong). [`canonical`] then casts every column to its canonical type and
//! marks the rows that fail validation, so quarantine works the same for every format.
//!
//! A new format is one file implementing [`Adapter`] (its report name, the names the command
//! line takes, its extensions, how it is recognised and sniffed, which tables it holds, how it
//! scans) and one line in [`REGISTRY`] (with its `mod` line): the command line's names, the list
//! in errors, format detection and the overlap warnings are all read from the adapters. Paged
//! JSON exports share one page reader (`vendor_json`), line-oriented ones one line splitter and
//! one record builder (`records`).
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
pub mod held;
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
    /// Rows past the memory budget could not be written to a temporary file ([`held`]).
    #[error(
        "Cannot write parsed rows to the temporary file `{}`: {source}\n\nhint: set TMPDIR to a writable folder with room, or hold more in memory with --rows-in-memory-mb",
        path.display()
    )]
    Held {
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
        source: AdapterError,
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

/// Why an adapter could not read a file at all. (A record it cannot read is quarantined with
/// its line instead, and the rest of the file is read.) The run stops with
/// [`IngestError::Scan`], which names the file and the format.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The file could not be read from disk.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is not the export it was read as: not JSON, not a page, a CSV without the
    /// export's columns.
    #[error("not {export}: {why}")]
    NotThisExport { export: &'static str, why: String },
    /// A record the reader cannot go past, by its line.
    #[error("line {line}: {why}")]
    Record { line: u64, why: String },
    /// A repository that cannot be walked.
    #[error("{0}")]
    Repository(String),
    /// The engine's own reader (Parquet, Arrow IPC, canonical CSV and NDJSON) refused it.
    #[error("{0}")]
    Engine(#[from] PolarsError),
}

/// Every input format, one line each: the one list of formats. The command line's names, the
/// list in errors, detection by magic bytes, content and extension, and the pairs of exports
/// that bill the same spend are all read from the adapters. Content is sniffed in this order:
/// Claude Code logs come first among the vendor formats, as their free text (prompts, tool
/// output) may quote any other format's keys.
static REGISTRY: &[&dyn Adapter] = &[
    &csv::CsvAdapter,
    &parquet::ParquetAdapter,
    &ipc::IpcAdapter,
    &ndjson::NdjsonAdapter,
    &claude_code::ClaudeCodeAdapter,
    &otel::OtelAdapter,
    &anthropic_usage::AnthropicUsageAdapter,
    &anthropic_cost::AnthropicCostAdapter,
    &claude_code_analytics::ClaudeCodeAnalyticsAdapter,
    &openai_usage::OpenAiUsageAdapter,
    &openai_costs::OpenAiCostsAdapter,
    &copilot::CopilotAdapter,
    &cursor_events::CursorEventsAdapter,
    &cursor::CursorDailyAdapter,
    &cursor_csv::CursorCsvAdapter,
    &litellm::LiteLlmAdapter,
    &git::GitAdapter,
    &github_prs::GithubPrsAdapter,
    &jira::JiraAdapter,
    &linear::LinearAdapter,
];

/// How `detect_format` recognises a format's files, in the order it tries: a directory, magic
/// bytes (a Parquet file named `.csv` is still Parquet), content (vendor exports share `.json`,
/// `.jsonl` and `.csv` with the canonical formats: JSON by their keys, CSV by their header
/// line), the extension, then a look at the text, and the last resort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognition {
    /// A directory that [`Adapter::owns_directory`] (a git repository).
    Directory,
    /// The first bytes, before anything else.
    Magic,
    /// The first 8 KiB of content, before extensions are looked at.
    Content,
    /// Its extensions, and failing every extension its first bytes.
    Text,
    /// Whatever nothing else recognised (canonical CSV).
    Anything,
}

/// One input format: a handle on its adapter, compared and ordered by name.
#[derive(Clone, Copy)]
pub struct Format(&'static dyn Adapter);

impl Format {
    /// Every format, in the registry's order.
    pub fn all() -> impl Iterator<Item = Format> {
        REGISTRY.iter().map(|adapter| Format(*adapter))
    }

    /// The format `--usage-format`/`--outputs-format` names: any of its adapter's names, in any
    /// case.
    pub fn parse(name: &str) -> Result<Format, IngestError> {
        let name = name.to_ascii_lowercase();
        Format::all()
            .find(|format| format.0.names().contains(&name.as_str()))
            .ok_or_else(|| IngestError::UnknownFormat {
                given: name,
                known: Format::all()
                    .map(|format| format.0.names()[0])
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn adapter(self) -> &'static dyn Adapter {
        self.0
    }

    /// The name recorded in the report's `inputs` and the rows' `source` column.
    pub fn source_name(self) -> &'static str {
        self.0.name()
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Format) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for Format {}

impl PartialOrd for Format {
    fn partial_cmp(&self, other: &Format) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Format {
    fn cmp(&self, other: &Format) -> std::cmp::Ordering {
        self.0.name().cmp(other.0.name())
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Format({})", self.0.name())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// What an adapter read from one file: the rows, and the records it skipped on purpose (not
/// usage: a synthetic message, an API error), counted by reason.
pub struct Scan {
    pub frame: LazyFrame,
    pub skipped: std::collections::BTreeMap<&'static str, u64>,
    /// The SHA-256 of files the adapter hashed from the bytes it read, by file index (see
    /// [`Adapter::scan_many`]), so that the report's hashes need not read them again.
    pub hashes: Vec<(u32, Sha256)>,
    /// Bytes of rows `frame` holds in memory (parsed by the adapter); 0 for a file scan.
    pub held_bytes: usize,
}

impl From<LazyFrame> for Scan {
    fn from(frame: LazyFrame) -> Scan {
        Scan {
            frame,
            skipped: Default::default(),
            hashes: Vec::new(),
            held_bytes: 0,
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
    /// How [`detect_format`] recognises the format's files.
    fn recognition(&self) -> Recognition {
        Recognition::Content
    }
    /// Whether the first bytes of a file look like this format.
    fn sniff(&self, head: &[u8]) -> bool;
    /// Whether a directory, by its entries, is one input of this format rather than a folder
    /// of files.
    fn owns_directory(&self, listing: &Listing) -> bool {
        let _ = listing;
        false
    }
    /// A digest naming the content of a directory this format owns, for the report's
    /// `inputs[].sha256` (files are hashed by their bytes).
    fn fingerprint_directory(&self, path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::other(format!(
            "{} is not read from directories",
            path.display()
        )))
    }
    /// Another format (by report name) whose files describe the same spend, and why: a run
    /// reading both counts it twice (a usage export whose tokens get priced, and the same
    /// vendor's cost export, which bills them).
    fn same_spend_as(&self) -> Option<(&'static str, &'static str)> {
        None
    }
    /// The tables a file of this format holds. Empty (canonical formats): whichever table it
    /// was given for. A vendor format that holds both (a per-user report of tokens and commits)
    /// is read for both when given for either.
    fn tables(&self) -> &'static [Table] {
        &[]
    }
    /// A lazy scan of the rows of `table`, whose columns carry canonical names; types are
    /// fixed later by [`canonical`].
    fn scan(&self, path: &Path, table: Table) -> Result<Scan, AdapterError>;
    /// Whether a scan of this format holds its rows in memory already (records parsed in
    /// Rust, not a polars file scan), so that many files can be read in parallel and stacked
    /// into one frame ([`read_together`]), the default [`Adapter::scan_many`].
    fn reads_into_memory(&self) -> bool {
        false
    }
    /// Several files of this format at once, every row tagged with its file's index in
    /// [`canonical::FILE`]: for formats whose files are many and small (one per session, per
    /// day, per rotation of a collector), where a scan per file in the plan costs more than
    /// its bytes. `None`: one scan per file. An error names the file it came from. With
    /// `hash`, an adapter that holds each file's bytes may hash them into [`Scan::hashes`].
    fn scan_many(
        &self,
        files: &[(u32, &Path)],
        table: Table,
        hash: bool,
    ) -> Option<Result<Scan, (PathBuf, AdapterError)>> {
        let _ = hash;
        self.reads_into_memory()
            .then(|| read_together(self, files, table))
    }
    /// [`Adapter::scan`] told the audit's window, for adapters that can push it down.
    fn scan_window(&self, path: &Path, table: Table, window: Window) -> Result<Scan, AdapterError> {
        let _ = window;
        self.scan(path, table)
    }
}

/// Reads `files` with `adapter` in parallel, each scanned alone, and stacks their rows into one
/// frame, each row tagged with its file's index (and numbered within its file when the adapter
/// does not number records by line).
pub fn read_together<A: Adapter + ?Sized>(
    adapter: &A,
    files: &[(u32, &Path)],
    table: Table,
) -> Result<Scan, (PathBuf, AdapterError)> {
    use rayon::prelude::*;
    let parts: Vec<Part> = files
        .par_iter()
        .map(|&(index, path)| {
            let failed = |e: PolarsError| (path.to_path_buf(), AdapterError::from(e));
            let scan = adapter
                .scan(path, table)
                .map_err(|e| (path.to_path_buf(), e))?;
            let mut frame = scan.frame.collect().map_err(failed)?;
            if frame.column(canonical::ROW).is_err() {
                frame = frame
                    .with_row_index(canonical::ROW.into(), Some(1))
                    .map_err(failed)?;
            }
            let height = frame.height();
            frame
                .with_column(Column::new(canonical::FILE.into(), vec![index; height]))
                .map_err(failed)?;
            Ok(Part {
                frame,
                skipped: scan.skipped,
                hashes: scan.hashes,
            })
        })
        .collect::<Result<_, _>>()?;
    let mut scan = stack(parts, files)?;
    // One chunk, not one per file.
    scan.frame.rechunk_mut_par();
    Ok(scan.into_scan())
}

/// The rows of some of the files an adapter reads at once ([`Adapter::scan_many`]), each row
/// tagged with its file in [`canonical::FILE`], with the records skipped and the files hashed.
pub struct Part {
    pub frame: DataFrame,
    pub skipped: std::collections::BTreeMap<&'static str, u64>,
    pub hashes: Vec<(u32, Sha256)>,
}

impl Part {
    pub fn into_scan(self) -> Scan {
        Scan {
            held_bytes: self.frame.estimated_size(),
            frame: self.frame.lazy(),
            skipped: self.skipped,
            hashes: self.hashes,
        }
    }
}

/// The parts of `files` as one: frames stacked (their columns become chunks, nothing is
/// copied), skip counts added, hashes joined. An error names the first of `files`.
pub fn stack(parts: Vec<Part>, files: &[(u32, &Path)]) -> Result<Part, (PathBuf, AdapterError)> {
    let mut all = Part {
        frame: DataFrame::default(),
        skipped: Default::default(),
        hashes: Vec::new(),
    };
    for (i, part) in parts.into_iter().enumerate() {
        all.hashes.extend(part.hashes);
        for (reason, n) in part.skipped {
            *all.skipped.entry(reason).or_default() += n;
        }
        if i == 0 {
            all.frame = part.frame;
        } else {
            let first = files
                .first()
                .map_or(PathBuf::new(), |(_, p)| p.to_path_buf());
            all.frame
                .vstack_mut_owned(part.frame)
                .map_err(|e| (first, e.into()))?;
        }
    }
    Ok(all)
}

/// One file to read, with the table it feeds and how it will be read.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    /// How the file is named in reports when that is not its path (a fixture name for `demo`).
    /// A name per file, of hundreds of thousands, only where one is given.
    pub named: Option<String>,
    pub table: Table,
    pub format: Format,
}

impl InputFile {
    /// How the file is named in reports: its path as given, or the name it was given.
    pub fn display(&self) -> String {
        self.named
            .clone()
            .unwrap_or_else(|| self.path.display().to_string())
    }
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
        // A folder of session logs is tens of thousands of files, each opened to be
        // recognised: in parallel, in the sorted order.
        let formats: Vec<Format> = match forced {
            Some(format) => vec![format; matched.len()],
            None => {
                use rayon::prelude::*;
                matched
                    .par_iter()
                    .map(|found| match found.directory {
                        true => detect_format(&found.path),
                        false => detect_file_format(&found.path),
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        // A file holding both tables is read once for each; the files of one table come
        // together (usage of every file, then outputs), so that consecutive files of one format
        // and table can be read at once (`Adapter::scan_many`).
        let mut second_table = Vec::new();
        for (Found { path, .. }, format) in matched.into_iter().zip(formats) {
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
            for (i, &table) in tables.iter().enumerate() {
                let file = InputFile {
                    named: None,
                    path: path.clone(),
                    table,
                    format,
                };
                if i == 0 {
                    files.push(file);
                } else {
                    second_table.push(file);
                }
            }
        }
        files.append(&mut second_table);
    }
    // Kept for the whole run: no room for growth beside hundreds of thousands of files.
    files.shrink_to_fit();
    Ok(files)
}

fn expand(pattern: &str) -> Result<Vec<Found>, IngestError> {
    let path = Path::new(pattern);
    if let Ok(listing) = Listing::read(path) {
        // A repository is one input, not a folder of files.
        if directory_format(&listing).is_some() {
            return Ok(vec![Found::directory(path)]);
        }
        let mut found = Vec::new();
        walk(path, listing, &mut found)?;
        return Ok(found);
    }
    if path.exists() {
        return Ok(vec![Found::file(path)]);
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
                found.push(Found::file(&entry));
            }
        }
        return Ok(found);
    }
    Err(IngestError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
    })
}

/// A path an input pattern matched, and whether it is a directory one format reads whole.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    path: PathBuf,
    directory: bool,
}

impl Found {
    fn file(path: &Path) -> Found {
        Found {
            path: path.to_path_buf(),
            directory: false,
        }
    }

    fn directory(path: &Path) -> Found {
        Found {
            path: path.to_path_buf(),
            directory: true,
        }
    }
}

/// A directory's entries: each name, and whether it is a directory (symbolic links followed).
/// Formats that read a directory whole recognise it by these ([`Adapter::owns_directory`]),
/// so that a walk over a folder of session logs stats no file and probes no directory.
pub struct Listing {
    entries: Vec<(std::ffi::OsString, bool)>,
}

impl Listing {
    pub fn read(dir: &Path) -> std::io::Result<Listing> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            // The entry's type comes with the listing on most file systems: no `stat` per file.
            let is_dir = match entry.file_type() {
                Ok(kind) if !kind.is_symlink() => kind.is_dir(),
                _ => entry.path().is_dir(),
            };
            entries.push((entry.file_name(), is_dir));
        }
        Ok(Listing { entries })
    }

    /// Whether an entry of this name is there, of either kind.
    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// Whether an entry of this name is there and is a directory (`Some(true)`) or a file.
    pub fn kind(&self, name: &str) -> Option<bool> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, dir)| *dir)
    }
}

/// The files under `dir` (whose `listing` is read) with known extensions, and the directories
/// a format reads whole; subdirectories are walked in parallel.
fn walk(dir: &Path, listing: Listing, found: &mut Vec<Found>) -> Result<(), IngestError> {
    use rayon::prelude::*;
    let mut subdirectories = Vec::new();
    for (name, is_dir) in listing.entries {
        let path = dir.join(name);
        if is_dir {
            subdirectories.push(path);
        } else if format_from_extension(&path).is_some() {
            found.push(Found::file(&path));
        }
    }
    let below: Vec<Vec<Found>> = subdirectories
        .into_par_iter()
        .map(|path| {
            let listing = Listing::read(&path).map_err(|source| IngestError::Io {
                path: path.clone(),
                source,
            })?;
            if directory_format(&listing).is_some() {
                return Ok(vec![Found::directory(&path)]);
            }
            let mut found = Vec::new();
            walk(&path, listing, &mut found)?;
            Ok(found)
        })
        .collect::<Result<_, IngestError>>()?;
    found.extend(below.into_iter().flatten());
    Ok(())
}

fn format_from_extension(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Format::all().find(|format| format.0.extensions().contains(&ext.as_str()))
}

/// The format that reads a directory, listed, as one input (a git repository), if any.
fn directory_format(listing: &Listing) -> Option<Format> {
    Format::all().find(|format| {
        format.0.recognition() == Recognition::Directory && format.0.owns_directory(listing)
    })
}

/// The format that reads `path` as one input, when it is a directory one reads whole.
fn directory_format_of(path: &Path) -> Option<Format> {
    Listing::read(path).ok().as_ref().and_then(directory_format)
}

/// A file's format, in the order of [`Recognition`]: magic bytes decide first (a Parquet file
/// named `.csv` is still Parquet), then vendor content, then the extension, then a look at the
/// text.
pub fn detect_format(path: &Path) -> Result<Format, IngestError> {
    if let Some(format) = directory_format_of(path) {
        return Ok(format);
    }
    detect_file_format(path)
}

/// [`detect_format`] of a path known to be a file.
fn detect_file_format(path: &Path) -> Result<Format, IngestError> {
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
    let sniffed = |stage: Recognition| {
        Format::all().find(|format| format.0.recognition() == stage && format.0.sniff(head))
    };
    let found = sniffed(Recognition::Magic)
        .or_else(|| sniffed(Recognition::Content))
        .or_else(|| format_from_extension(path))
        .or_else(|| sniffed(Recognition::Text))
        .or_else(|| sniffed(Recognition::Anything));
    found.ok_or_else(|| IngestError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other("no input format recognises this file"),
    })
}

/// Warnings about formats read together that count the same spend twice (see
/// [`Adapter::same_spend_as`]), one line each.
pub fn overlap_warnings(files: &[InputFile]) -> Vec<String> {
    let read: std::collections::BTreeSet<Format> = files.iter().map(|f| f.format).collect();
    read.iter()
        .filter_map(|format| {
            let (other, why) = format.0.same_spend_as()?;
            read.iter()
                .any(|f| f.0.name() == other)
                .then(|| format!("this run reads both {other} and {format} files: {why}"))
        })
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
/// ([`Adapter::scan_many`]); `None` when it reads one file at a time. With `hash`, the adapter
/// may hash the bytes it reads (see [`Scan::hashes`]).
pub fn scan_together(files: &[(u32, &InputFile)], hash: bool) -> Option<Result<Scan, IngestError>> {
    let (_, first) = files.first()?;
    let paths: Vec<(u32, &Path)> = files.iter().map(|(i, f)| (*i, f.path.as_path())).collect();
    let scan = first
        .format
        .adapter()
        .scan_many(&paths, first.table, hash)?;
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
    if let Some(format) = directory_format_of(path) {
        return format
            .0
            .fingerprint_directory(path)
            .map_err(|source| IngestError::Io {
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

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".to_string())
}

/// `read` with a reader's panic (polars on a damaged file) turned into its error, so that the
/// file is named as for any other reader error.
pub fn read_guarded<T>(read: impl FnOnce() -> PolarsResult<T>) -> PolarsResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        Err(PolarsError::ComputeError(
            format!("the reader panicked: {}", panic_text(panic.as_ref())).into(),
        ))
    })
}

/// A SHA-256 digest: 32 bytes where its hex text takes 88 (a file's, of hundreds of thousands).
pub type Sha256 = [u8; 32];

/// The SHA-256 of bytes already read; [`hex`] gives it as [`sha256_file`] does for their file.
pub fn sha256_bytes(bytes: &[u8]) -> Sha256 {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// A digest in lower-case hex, as reports show it.
pub fn hex(digest: &Sha256) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(64);
    for byte in digest {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 15)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_of_bytes_read_is_the_files_hash_in_hex() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.jsonl");
        std::fs::write(&path, b"abc").unwrap();
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hex(&sha256_bytes(b"abc")), expected);
        assert_eq!(sha256_file(&path).unwrap(), expected);
    }

    #[test]
    fn a_walk_keeps_a_repository_whole_and_finds_the_logs_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("exports/dana/.claude/projects/p");
        std::fs::create_dir_all(logs.join("s1/subagents")).unwrap();
        let line = br#"{"parentUuid":null,"sessionId":"s1","type":"user"}"#;
        std::fs::write(logs.join("s1.jsonl"), line).unwrap();
        std::fs::write(logs.join("s1/subagents/agent-a.jsonl"), line).unwrap();
        std::fs::write(logs.join("notes.txt"), "not an input").unwrap();
        // A work tree (`.git` inside), and a bare repository (`HEAD` beside `objects`).
        let work_tree = tmp.path().join("exports/api");
        std::fs::create_dir_all(work_tree.join(".git")).unwrap();
        std::fs::write(work_tree.join("main.csv"), "not read: inside a repository").unwrap();
        let bare = tmp.path().join("exports/shop.git");
        std::fs::create_dir_all(bare.join("objects")).unwrap();
        std::fs::write(bare.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        // `HEAD` without `objects` is just a file in a folder.
        let not_bare = tmp.path().join("exports/HEAD-only");
        std::fs::create_dir_all(&not_bare).unwrap();
        std::fs::write(not_bare.join("HEAD"), "x").unwrap();
        std::fs::write(not_bare.join("u.csv"), "ts,agent\n").unwrap();

        let root = tmp.path().join("exports").display().to_string();
        let found: Vec<(String, String)> = resolve_inputs(&[root], Table::Usage, None)
            .unwrap()
            .into_iter()
            .map(|f| {
                let path = f.path.strip_prefix(tmp.path()).unwrap();
                (path.display().to_string(), f.format.to_string())
            })
            .collect();
        // In path order, as the walk found them in parallel.
        let expected = [
            ("exports/HEAD-only/u.csv", "canonical-csv"),
            ("exports/api", "git"),
            (
                "exports/dana/.claude/projects/p/s1/subagents/agent-a.jsonl",
                "claude-code",
            ),
            ("exports/dana/.claude/projects/p/s1.jsonl", "claude-code"),
            ("exports/shop.git", "git"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(p, f)| (p.to_string(), f.to_string()))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn every_name_the_command_line_takes_is_one_formats_own() {
        let mut seen = std::collections::BTreeMap::new();
        for format in Format::all() {
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
    fn a_file_that_is_not_the_export_says_which_export_it_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export");
        let not_this = |format: &str, bytes: &[u8], table: Table| {
            std::fs::write(&path, bytes).unwrap();
            let adapter = Format::parse(format).unwrap().adapter();
            match adapter.scan(&path, table) {
                Err(AdapterError::NotThisExport { export, why }) => (export, why),
                Err(other) => panic!("{format}: {other:?}"),
                Ok(_) => panic!("{format}: read"),
            }
        };
        let (export, why) = not_this("openai-usage", b"<html>502</html>", Table::Usage);
        assert_eq!(export, "an OpenAI usage page");
        assert!(why.starts_with("the file is not JSON"), "{why}");
        let (export, why) = not_this("cursor-csv", b"Date,User\n2026-10-01,a\n", Table::Usage);
        assert_eq!(export, "a Cursor usage CSV");
        assert!(why.starts_with("no `Model` column"), "{why}");
        let (export, _) = not_this("litellm", b"", Table::Usage);
        assert_eq!(export, "a LiteLLM_SpendLogs export");
        let (export, _) = not_this("github-prs", b"{\"number\": 1,", Table::Outputs);
        assert_eq!(export, "JSON pull requests");
        let not_a_repository = Format::parse("git")
            .unwrap()
            .adapter()
            .scan(dir.path(), Table::Outputs)
            .err()
            .unwrap()
            .to_string();
        assert!(
            not_a_repository.starts_with("not a git repository"),
            "{not_a_repository}"
        );
    }

    #[test]
    fn parquet_magic_wins_over_a_csv_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.csv");
        std::fs::write(&path, b"PAR1\x15\x04").unwrap();
        assert_eq!(
            detect_format(&path).unwrap(),
            Format::parse("parquet").unwrap()
        );
    }

    #[test]
    fn unknown_extension_with_json_lines_is_ndjson() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.log");
        std::fs::write(&path, b"  {\"ts\": \"2026-01-01\"}\n").unwrap();
        assert_eq!(
            detect_format(&path).unwrap(),
            Format::parse("ndjson").unwrap()
        );
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
            Some(Format::parse("csv").unwrap()),
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
