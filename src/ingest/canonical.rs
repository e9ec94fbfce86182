//! Typing and validation shared by every adapter.
//!
//! An adapter hands over a scan with canonical column names. Here each column is cast to its
//! canonical type, and each row is checked: a required value that is empty, a timestamp that
//! does not parse, a token count that is negative, fractional or not a number. A row that fails
//! is not dropped: it leaves the valid stream and enters the quarantine stream with its file,
//! row number, column, raw value and the reason, so `rows_read = rows_valid + rows_quarantined`
//! holds by construction. Types are fixed here and nowhere else.

use polars::prelude::*;

use super::{IngestError, InputFile};
use crate::schema::{self, Column, ColumnType, Presence, Table};

/// Global index of the input file a row came from (position in the run's input list).
pub const FILE: &str = "_file";
/// 1-based data row within its file (the header is not counted), or, when the adapter sets it,
/// the line of the record.
pub const ROW: &str = "_row";
/// Set by an adapter on a record it could not read: why. The row is quarantined with it.
pub const ERROR: &str = "_error";
/// The record's text (shortened) when [`ERROR`] is set.
pub const RAW: &str = "_raw";
/// The `column` of a quarantined row that could not be read as a record at all.
const RECORD: &str = "record";
const BAD: &str = "_bad_column";
const RAW_PREFIX: &str = "raw:";

/// The canonical polars dtype of a column.
pub fn dtype(column: &Column) -> DataType {
    match (column.ty, column.name) {
        (ColumnType::Timestamp, _) => {
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        }
        (ColumnType::Text, _) => DataType::String,
        (ColumnType::Count, schema::REQUESTS) => DataType::UInt32,
        (ColumnType::Count, _) => DataType::UInt64,
        (ColumnType::Amount, _) => DataType::Float64,
    }
}

/// One file's scan, typed and checked, ready to be split into its valid and quarantined rows.
pub struct Checked {
    frame: LazyFrame,
    /// The scan as the adapter gave it, for plans that need no typing (row counts, ids).
    raw: LazyFrame,
    raw_dtypes: Vec<(String, DataType)>,
    file_index: u32,
    table: Table,
    /// The adapter gave [`ROW`] itself: record numbers, which several rows may share.
    records_numbered: bool,
    /// The adapter read several files at once and gave each row's file in [`FILE`].
    files_tagged: bool,
    /// What [`BAD`] numbers: the checks in the order they run, [`RECORD`] or a column name.
    checks: Vec<&'static str>,
}

impl Checked {
    /// The valid rows: exactly the canonical columns in their canonical types, plus [`FILE`].
    pub fn valid(&self) -> LazyFrame {
        let mut columns: Vec<Expr> = self.table.columns().iter().map(|c| col(c.name)).collect();
        columns.push(col(FILE));
        self.frame
            .clone()
            .filter(col(BAD).is_null())
            .select(columns)
    }

    /// Some canonical columns of the valid rows, given the row numbers the checks rejected
    /// (from a pass that ran them). Where row numbers name single rows (the scan numbered
    /// them), only these columns are read and typed and the rejected rows are left out by
    /// number, which is what makes a second scan cheap. Where an adapter numbered its records
    /// (one record can give several rows), every column is checked again instead.
    pub fn valid_columns(&self, columns: &[&str], rejected: &[u64]) -> LazyFrame {
        let mut selected: Vec<Expr> = columns.iter().map(|c| col(*c)).collect();
        selected.push(col(FILE));
        let frame = self.frame.clone();
        let frame = if self.records_numbered {
            frame.filter(col(BAD).is_null())
        } else if rejected.is_empty() {
            frame
        } else {
            let rows = Series::new(ROW.into(), rejected)
                .cast(&IDX_DTYPE)
                .expect("row numbers fit");
            frame.filter(col(ROW).is_in(lit(rows).implode(false), false).not())
        };
        frame.select(selected)
    }

    /// The number of rows in the file (or each file read together), read without typing or
    /// checking them.
    pub fn row_count(&self) -> LazyFrame {
        if self.files_tagged {
            return self
                .raw
                .clone()
                .group_by([col(FILE).cast(DataType::UInt32)])
                .agg([len().cast(DataType::UInt64).alias("rows")]);
        }
        self.raw.clone().select([
            lit(self.file_index).cast(DataType::UInt32).alias(FILE),
            len().cast(DataType::UInt64).alias("rows"),
        ])
    }

    /// Reads every row and checks it, keeping nothing: whether the file can be read at all
    /// (a corrupt Parquet page shows only when it is decoded).
    pub fn read_through(&self) -> PolarsResult<()> {
        for plan in [
            self.frame.clone().select([col(BAD).null_count()]),
            self.raw.clone().select([all().as_expr().null_count()]),
            self.row_count(),
        ] {
            plan.collect_with_engine(Engine::Streaming)?;
        }
        Ok(())
    }

    /// The table its rows feed.
    pub fn table(&self) -> Table {
        self.table
    }

    /// Its file's index (the first file's, for files read together).
    pub fn file_index(&self) -> u32 {
        self.file_index
    }

    /// The file's `request_id` values, cleaned as the typed column is, without checking the
    /// rest of the row; `None` when the file has no such column.
    pub fn request_ids(&self) -> Option<LazyFrame> {
        let (_, dtype) = self
            .raw_dtypes
            .iter()
            .find(|(name, _)| name == schema::REQUEST_ID)?;
        Some(
            self.raw
                .clone()
                .select([clean_text(col(schema::REQUEST_ID), dtype).alias(schema::REQUEST_ID)]),
        )
    }

    /// The quarantined rows: file index, row, column, raw value and reason.
    pub fn quarantined(&self) -> LazyFrame {
        let (mut names, mut values, mut reasons) = (Vec::new(), Vec::new(), Vec::new());
        for (check, name) in self.checks.iter().enumerate() {
            let is_this = col(BAD).eq(lit(check as u32));
            names.push((is_this.clone(), lit(*name)));
            if *name == RECORD {
                values.push((is_this.clone(), col(RAW).cast(DataType::String)));
                reasons.push((is_this, col(ERROR).cast(DataType::String)));
            } else if let Some(column) = self.table.columns().iter().find(|c| c.name == *name) {
                let dtype = self.raw_dtypes.iter().find(|(n, _)| n == name);
                values.push((is_this.clone(), raw_text(name, dtype.map(|(_, d)| d))));
                reasons.push((is_this, lit(self.reason_for(column))));
            }
        }
        self.frame.clone().filter(col(BAD).is_not_null()).select([
            col(FILE),
            col(ROW),
            first_match(names).alias("column"),
            first_match(values).alias("value"),
            first_match(reasons).alias("reason"),
        ])
    }

    fn reason_for(&self, column: &Column) -> String {
        let expected = match column.ty {
            ColumnType::Timestamp => {
                "an ISO 8601 timestamp from 1970 to 2199 such as 2026-09-07T14:03:00Z"
            }
            ColumnType::Text if column.name == schema::TIER => "`billed` or `estimated`",
            ColumnType::Text => "a non-empty value",
            ColumnType::Count => "a non-negative whole number no larger than 10^15",
            ColumnType::Amount => "a non-negative number no larger than 10^12",
        };
        if column.is_required() {
            format!(
                "expected {expected} (required in every {} row)",
                self.table.name()
            )
        } else {
            format!("expected {expected} or an empty cell")
        }
    }
}

/// The text of the first case whose condition holds, else null.
fn first_match(cases: Vec<(Expr, Expr)>) -> Expr {
    cases.into_iter().rev().fold(
        lit(NULL).cast(DataType::String),
        |otherwise, (condition, value)| when(condition).then(value).otherwise(otherwise),
    )
}

/// The raw value of a column as text, for the quarantine file; empty when the column was absent.
/// A typed date or time is given as the count it holds: one that failed is out of range, and
/// polars cannot format a time no calendar holds (it panics).
fn raw_text(name: &str, dtype: Option<&DataType>) -> Expr {
    let raw = col(format!("{RAW_PREFIX}{name}"));
    let unit = match dtype {
        Some(DataType::Datetime(TimeUnit::Nanoseconds, _)) => "ns",
        Some(DataType::Datetime(TimeUnit::Microseconds, _)) => "µs",
        Some(DataType::Datetime(TimeUnit::Milliseconds, _)) => "ms",
        Some(DataType::Date) => "days",
        _ => return raw.cast(DataType::String),
    };
    concat_str(
        [
            raw.cast(DataType::Int64).cast(DataType::String),
            lit(format!("{unit} since 1970-01-01")),
        ],
        " ",
        false,
    )
}

/// The largest count of one row (tokens, requests, an output's amount) read as plausible.
const MOST_TOKENS: f64 = 1e15;
/// The largest amount in dollars of one row.
const MOST_DOLLARS: f64 = 1e12;
/// Timestamps read as plausible, in microseconds since 1970: from 1970-01-01 to before
/// 2200-01-01.
const EARLIEST_TS_US: i64 = 0;
const LATEST_TS_US: i64 = 7_258_118_400_000_000;

/// Types and checks one file. `source` is the adapter name recorded in the `source` column.
pub fn check(
    file: &InputFile,
    file_index: u32,
    mut raw: LazyFrame,
) -> Result<Checked, IngestError> {
    // A reader may panic on a damaged file's metadata (a corrupt Parquet footer).
    let found =
        super::read_guarded(|| raw.collect_schema()).map_err(|source| IngestError::Scan {
            path: file.path.clone(),
            format: file.format,
            source: source.into(),
        })?;
    let table = file.table;
    for column in table.columns().iter().filter(|c| c.is_required()) {
        if found.get(column.name).is_none() {
            return Err(IngestError::MissingColumn {
                path: file.path.clone(),
                table: table.name(),
                column: column.name,
                // The file's own columns, not the ones adapters add for quarantine.
                found: found
                    .iter_names()
                    .map(|n| n.as_str())
                    .filter(|n| ![ROW, ERROR, RAW, FILE].contains(n))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }

    // Keep each input column under a `raw:` name so the typed column can take the canonical one.
    let mut raw_columns = vec![col(ROW)];
    let files_tagged = found.get(FILE).is_some();
    if files_tagged {
        raw_columns.push(col(FILE).cast(DataType::UInt32));
    }
    let mut typed = Vec::new();
    let mut failures: Vec<(Expr, &'static str)> = Vec::new();
    if found.get(ERROR).is_some() {
        raw_columns.push(col(ERROR));
        raw_columns.push(if found.get(RAW).is_some() {
            col(RAW)
        } else {
            lit(NULL).cast(DataType::String).alias(RAW)
        });
        // An unreadable record fails on that before any of its (empty) columns.
        failures.push((col(ERROR).is_not_null(), RECORD));
    }
    for column in table.columns() {
        let source_dtype = found.get(column.name);
        if column.presence == Presence::Derived && column.name != schema::TIER {
            continue;
        }
        let raw_name = format!("{RAW_PREFIX}{}", column.name);
        let (value, failed) = match source_dtype {
            Some(dt) => {
                raw_columns.push(col(column.name).alias(raw_name.as_str()));
                typed_value(column, col(raw_name.as_str()), dt)
            }
            None => {
                raw_columns.push(lit(NULL).cast(DataType::String).alias(raw_name.as_str()));
                (default_value(column), lit(false))
            }
        };
        typed.push(value.alias(column.name));
        failures.push((failed, column.name));
    }

    // The first failed check of each row, by number: a text label for every row was 4% of the
    // audit's time, and only the quarantined rows need one.
    let checks: Vec<&'static str> = failures.iter().map(|(_, name)| *name).collect();
    let bad = failures
        .into_iter()
        .enumerate()
        .rev()
        .fold(
            lit(NULL).cast(DataType::UInt32),
            |otherwise, (check, (failed, _))| {
                when(failed).then(lit(check as u32)).otherwise(otherwise)
            },
        )
        .alias(BAD);

    // Adapters that number records by line give ROW themselves.
    let numbered = if found.get(ROW).is_some() {
        raw.clone().with_column(col(ROW).cast(IDX_DTYPE))
    } else {
        raw.clone().with_row_index(ROW, Some(1))
    };
    let mut frame = numbered
        .select(raw_columns)
        .with_columns(typed)
        .with_column(bad);
    if !files_tagged {
        frame = frame.with_column(lit(file_index).cast(DataType::UInt32).alias(FILE));
    }
    let raw_dtypes = found
        .iter()
        .map(|(name, dtype)| (name.to_string(), dtype.clone()))
        .collect();
    if table == Table::Usage {
        frame = frame.with_columns([
            lit(file.format.source_name()).alias(schema::SOURCE),
            tier(
                found.get(schema::TIER).is_some(),
                found.get(schema::COST_USD).is_some(),
            )
            .alias(schema::TIER),
        ]);
    }
    Ok(Checked {
        frame,
        raw,
        raw_dtypes,
        file_index,
        table,
        records_numbered: found.get(ROW).is_some(),
        files_tagged,
        checks,
    })
}

/// The tier of a usage row: the file's, else `billed` where it gives a cost and `estimated`
/// where it does not. Decided from the file's columns where they settle it: a tier made row by
/// row for a file without tiers or costs was 4% of the audit's time.
fn tier(has_tier: bool, has_cost: bool) -> Expr {
    let derived = if has_cost {
        when(col(schema::COST_USD).is_not_null())
            .then(lit("billed"))
            .otherwise(lit("estimated"))
    } else {
        lit("estimated")
    };
    if has_tier {
        col(schema::TIER).fill_null(derived)
    } else {
        derived
    }
}

/// The value of an optional column the input does not have.
fn default_value(column: &Column) -> Expr {
    match column.presence {
        Presence::Optional("1") => lit(1.0).cast(dtype(column)),
        Presence::Optional("0") => lit(0.0).cast(dtype(column)),
        _ => lit(NULL).cast(dtype(column)),
    }
}

/// Text with surrounding whitespace removed and empty strings as null.
fn clean_text(raw: Expr, dtype: &DataType) -> Expr {
    let text = if dtype == &DataType::String {
        raw
    } else {
        raw.cast(DataType::String)
    };
    text.map(trim_or_null, |_, field| {
        Ok(Field::new(field.name().clone(), DataType::String))
    })
}

/// A text column with surrounding whitespace removed and empty strings as null. A column
/// that needs neither (the usual case) is handed back as it is, without copying a byte:
/// building new strings for every text column was a quarter of the audit's time (BENCHMARKS.md).
fn trim_or_null(column: polars::prelude::Column) -> PolarsResult<polars::prelude::Column> {
    let text = column.str()?;
    // Reads the chunks' values directly when the column has no nulls, and looks at the first
    // and last bytes, which settle the question for ASCII ends.
    let dirty = if text.null_count() == 0 {
        text.downcast_iter()
            .any(|array| array.values_iter().any(needs_cleaning))
    } else {
        text.iter().flatten().any(needs_cleaning)
    };
    if !dirty {
        return Ok(column);
    }
    let cleaned: StringChunked = text
        .iter()
        .map(|value| value.map(str::trim).filter(|t| !t.is_empty()))
        .collect();
    Ok(cleaned.with_name(text.name().clone()).into_column())
}

/// Whether a text value is empty or has whitespace at either end.
fn needs_cleaning(value: &str) -> bool {
    match value.as_bytes() {
        [] => true,
        [first, .., last] | [first @ last] if first.is_ascii() && last.is_ascii() => {
            (*first as char).is_whitespace() || (*last as char).is_whitespace()
        }
        _ => value.trim().len() != value.len(),
    }
}

/// The typed value of one column and the condition under which the row fails on it.
fn typed_value(column: &Column, raw: Expr, source: &DataType) -> (Expr, Expr) {
    let is_text = matches!(source, DataType::String);
    let present = if is_text {
        clean_text(raw.clone(), source).is_not_null()
    } else {
        raw.clone().is_not_null()
    };
    let missing_required = if column.is_required() {
        present.clone().not()
    } else {
        lit(false)
    };
    let target = dtype(column);
    match column.ty {
        ColumnType::Text => {
            let value = clean_text(raw, source);
            let invalid = if column.name == schema::TIER {
                let tier = value.clone().str().to_lowercase();
                present.clone().and(
                    tier.clone()
                        .eq(lit("billed"))
                        .or(tier.eq(lit("estimated")))
                        .not(),
                )
            } else {
                lit(false)
            };
            let value = if column.name == schema::TIER {
                value.str().to_lowercase()
            } else {
                value
            };
            (value, missing_required.or(invalid))
        }
        ColumnType::Timestamp => {
            let value = parse_timestamp(raw, source);
            // A typed timestamp can hold any 64-bit count of microseconds; one outside
            // 1970-2199 is damage (a corrupt page), and the calendar has no day for most of them.
            let micros = value.clone().cast(DataType::Int64);
            let in_range = micros
                .clone()
                .gt_eq(lit(EARLIEST_TS_US))
                .and(micros.lt(lit(LATEST_TS_US)));
            let unparsed = present.and(value.clone().is_null().or(in_range.not()));
            (value, missing_required.or(unparsed))
        }
        ColumnType::Count | ColumnType::Amount => {
            let number = if is_text {
                clean_text(raw, source).cast(DataType::Float64)
            } else {
                raw.cast(DataType::Float64)
            };
            let mut ok = number.clone().is_not_null().and(number.clone().is_finite());
            // No request or bucket holds a quadrillion tokens or a trillion dollars; a value
            // beyond is damage (a corrupt page, a misread column), and summing it would
            // overflow the totals.
            let most = if column.ty == ColumnType::Count {
                MOST_TOKENS
            } else {
                MOST_DOLLARS
            };
            ok = ok.and(number.clone().gt_eq(lit(0.0)));
            ok = ok.and(number.clone().lt_eq(lit(most)));
            if column.ty == ColumnType::Count {
                ok = ok.and(number.clone().eq(number.clone().floor()));
            }
            let invalid = present.and(ok.not());
            let value = number.cast(target).fill_null(default_value(column));
            (value, missing_required.or(invalid))
        }
    }
}

fn strptime(format: &str) -> StrptimeOptions {
    StrptimeOptions {
        format: Some(format.into()),
        strict: false,
        exact: true,
        cache: true,
    }
}

/// Timestamps become UTC microseconds. Text may be ISO 8601 with `Z`, with an offset, or
/// naive (read as UTC); a bare date means midnight UTC. Typed timestamps keep their instant.
fn parse_timestamp(raw: Expr, source: &DataType) -> Expr {
    let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    match source {
        DataType::Datetime(_, Some(_)) => raw.dt().convert_time_zone(TimeZone::UTC).cast(utc),
        DataType::Datetime(unit, None) => raw
            .cast(DataType::Datetime(*unit, None))
            .dt()
            .replace_time_zone(Some(TimeZone::UTC), lit("raise"), NonExistent::Raise)
            .cast(utc),
        DataType::Date => raw
            .cast(DataType::Datetime(TimeUnit::Microseconds, None))
            .dt()
            .replace_time_zone(Some(TimeZone::UTC), lit("raise"), NonExistent::Raise),
        _ => {
            let text = clean_text(raw, source);
            let naive_text = text.clone().str().strip_suffix(lit("Z"));
            let naive = |format: &str| {
                naive_text.clone().str().to_datetime(
                    Some(TimeUnit::Microseconds),
                    Some(TimeZone::UTC),
                    strptime(format),
                    lit("raise"),
                )
            };
            let offset = |format: &str| {
                text.clone()
                    .str()
                    .to_datetime(
                        Some(TimeUnit::Microseconds),
                        None,
                        strptime(format),
                        lit("raise"),
                    )
                    .dt()
                    .convert_time_zone(TimeZone::UTC)
            };
            let date = text
                .clone()
                .str()
                .to_date(strptime("%Y-%m-%d"))
                .cast(DataType::Datetime(TimeUnit::Microseconds, None))
                .dt()
                .replace_time_zone(Some(TimeZone::UTC), lit("raise"), NonExistent::Raise);
            coalesce(&[
                naive("%Y-%m-%dT%H:%M:%S%.f"),
                naive("%Y-%m-%d %H:%M:%S%.f"),
                offset("%Y-%m-%dT%H:%M:%S%.f%:z"),
                offset("%Y-%m-%d %H:%M:%S%.f%:z"),
                date,
            ])
        }
    }
}
