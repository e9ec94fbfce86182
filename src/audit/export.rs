//! `tokenaudit ingest --to FILE.parquet`: the normalized, deduplicated, priced canonical usage,
//! for loading into a warehouse or auditing again without re-parsing vendor exports.
//!
//! The rows come deduplicated one local day at a time (`features::rows`); each day is mapped to
//! identities, put on the calendar, priced, sorted and written, so memory holds a day of rows
//! and not the table. Prices are joined row by row: each of the day's models is resolved
//! against the price table into its price periods, and the periods are joined on model and
//! filtered by the row's local day. A row that already had a vendor cost keeps it; the others
//! get whole micro-dollars that add up to the audit's cost of their model-day ([`apportioned`]).

use std::path::Path;

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;

use super::{pipeline, prices, AuditError, InputSettings, Verbosity};
use crate::normalize::calendar::{self, to_day_number, DAY};
use crate::normalize::identities::{self, IdentityMap};
use crate::normalize::pricing::PriceTable;
use crate::schema;

/// Price periods of the given models as a frame: model, first day, day after the last, and
/// rates per token. The first period also covers any earlier day, as `PriceTable::resolve` does.
fn price_frame(models: &[String], table: &PriceTable) -> PolarsResult<LazyFrame> {
    let (mut names, mut from, mut to) = (Vec::new(), Vec::new(), Vec::new());
    let mut rates: [Vec<f64>; 4] = Default::default();
    for model in models {
        let periods = table.periods(model);
        for (i, price) in periods.iter().enumerate() {
            names.push(model.clone());
            from.push(if i == 0 {
                i32::MIN
            } else {
                to_day_number(price.effective_from)
            });
            to.push(
                periods
                    .get(i + 1)
                    .map_or(i32::MAX, |next| to_day_number(next.effective_from)),
            );
            let r = price.rates;
            for (column, rate) in
                rates
                    .iter_mut()
                    .zip([r.input, r.output, r.cache_read, r.cache_write])
            {
                column.push(rate / 1e6);
            }
        }
    }
    let [input, output, cache_read, cache_write] = rates;
    Ok(df![
        "_price_model" => names,
        "_from" => from,
        "_to" => to,
        "_rate_input" => input,
        "_rate_output" => output,
        "_rate_cache_read" => cache_read,
        "_rate_cache_write" => cache_write,
    ]?
    .lazy())
}

pub fn ingest_to_parquet(
    input: &InputSettings,
    to: &Path,
    verbosity: Verbosity,
) -> Result<(), AuditError> {
    let engine_err = |err: PolarsError| AuditError::Engine(err.to_string());
    let quiet = verbosity == Verbosity::Quiet;
    let (table, _) = prices(input)?;
    let sources = pipeline::sources(input)?;
    for line in crate::ingest::overlap_warnings(&sources.files) {
        if !quiet {
            eprintln!("warning: {line}");
        }
    }
    if input.quarantine.is_some() || input.strict {
        let quarantined = pipeline::over_files(&sources, || crate::features::quarantine(&sources))?;
        super::keep_quarantine(input, &quarantined, quarantined.len() as u64)?;
    }
    let columns = sources
        .usage_valid()
        .ok_or(AuditError::NoUsage)?
        .collect_schema()
        .map_err(engine_err)?;
    let days = pipeline::over_files(&sources, || {
        crate::features::rows::deduplicated_by_day(&sources, input.limits, input.calendar.tz)
    })?
    .ok_or(AuditError::NoUsage)?;
    // The parsed inputs are no longer needed: the days hold every row.
    let identities = sources.identities.clone();
    drop(sources);

    // Written beside `to` and renamed when complete: an error while the days are priced and
    // written must not leave a Parquet file without its footer, nor destroy one already there.
    let name = to.file_name().map_or_else(
        || "tokenaudit.parquet".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let partial = to.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let written = write_days(days, &partial, &columns, &identities, &table, input);
    let rows = match written.and_then(|rows| {
        std::fs::rename(&partial, to).map_err(Written::Io)?;
        Ok(rows)
    }) {
        Ok(rows) => rows,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            return Err(match err {
                Written::Io(source) => AuditError::Write {
                    path: to.to_path_buf(),
                    source,
                },
                Written::Engine(err) => engine_err(err),
            });
        }
    };
    if !quiet {
        eprintln!("wrote {rows} canonical usage rows to {}", to.display());
    }
    Ok(())
}

/// Prices, sorts and writes every day of `days` to `path`; the rows written.
fn write_days(
    days: crate::features::rows::Days,
    path: &Path,
    columns: &Schema,
    identities: &IdentityMap,
    table: &PriceTable,
    input: &InputSettings,
) -> Result<usize, Written> {
    let file = std::fs::File::create(path).map_err(Written::Io)?;
    let mut groups = RowGroups::new(file);
    let mut rows = 0;
    days.for_each(|day| -> Result<(), Written> {
        let priced = priced(day, identities, table, input)?;
        rows += priced.height();
        groups.add(apportioned(sorted(priced)?, table)?)
    })?;
    if groups.writer.is_none() {
        let empty = DataFrame::empty_with_schema(columns);
        groups.add(apportioned(
            priced(empty, identities, table, input)?,
            table,
        )?)?;
    }
    groups.finish()?;
    Ok(rows)
}

/// One day's deduplicated rows mapped to identities, put on the calendar, kept to the window
/// and priced: the canonical usage columns, with the list cost where the vendor gave none.
fn priced(
    rows: DataFrame,
    identities: &IdentityMap,
    table: &PriceTable,
    input: &InputSettings,
) -> PolarsResult<DataFrame> {
    let mut models: Vec<String> = rows
        .column(schema::MODEL)?
        .str()?
        .unique()?
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    models.sort();
    let mapped = identities::apply(rows.lazy(), identities);
    let usage = calendar::within(calendar::apply(mapped, &input.calendar), &input.calendar);
    let priced = usage
        .join(
            price_frame(&models, table)?,
            [col(schema::MODEL)],
            [col("_price_model")],
            JoinArgs::new(JoinType::Left),
        )
        .filter(
            col("_from")
                .is_null()
                .or(col(DAY).gt_eq(col("_from")).and(col(DAY).lt(col("_to")))),
        );
    let list_cost = col(schema::INPUT_TOKENS).cast(DataType::Float64) * col("_rate_input")
        + col(schema::OUTPUT_TOKENS).cast(DataType::Float64) * col("_rate_output")
        + col(schema::CACHE_READ_TOKENS).cast(DataType::Float64) * col("_rate_cache_read")
        + col(schema::CACHE_WRITE_TOKENS).cast(DataType::Float64) * col("_rate_cache_write");
    let mut columns: Vec<Expr> = schema::USAGE
        .iter()
        .map(|c| {
            if c.name == schema::COST_USD {
                // A cost of -0.0 is written 0.0: the sort holds the two equal, and two rows
                // that differ only there would keep the order they were read in.
                let cost = when(col(schema::COST_USD).eq(lit(0.0)))
                    .then(lit(0.0))
                    .otherwise(col(schema::COST_USD));
                coalesce(&[cost, list_cost.clone()]).alias(schema::COST_USD)
            } else {
                col(c.name)
            }
        })
        .collect();
    // For [`apportioned`]: the local day, and the list cost in micro-dollars unrounded where
    // the vendor gave no cost.
    columns.push(col(DAY));
    columns.push(
        when(col(schema::COST_USD).is_null())
            .then(list_cost * lit(1e6))
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias(LIST_MICRO),
    );
    priced.select(columns).collect()
}

/// [`priced`]'s column of unrounded list costs, micro-dollars.
const LIST_MICRO: &str = "_list_micro";

/// The list costs of rows without a vendor cost, in whole micro-dollars that add up, for each
/// agent, team, model, tier and local day, to what the audit prices that day at
/// ([`crate::normalize::pricing::Rates::cost_micro`] of the day's tokens, rounded once): a
/// cost read back from this file is then the audit's to the micro-dollar whatever it is summed
/// by, where row costs rounded one by one drifted (most rows' list costs end in a fraction of a
/// micro-dollar, a tenth of them in exactly a half). The day's remainder goes to the rows with
/// the largest fractions, ties to the earlier row in the file's order. The helper columns go.
fn apportioned(rows: DataFrame, table: &PriceTable) -> PolarsResult<DataFrame> {
    let micro = day_shares(&rows, table)?;
    let costs: Vec<Option<f64>> = rows
        .column(schema::COST_USD)?
        .f64()?
        .iter()
        .zip(&micro)
        .map(|(cost, share)| share.map_or(cost, |m| Some(m as f64 / 1e6)))
        .collect();
    let mut rows = rows.drop(LIST_MICRO)?.drop(DAY)?;
    rows.with_column(Column::new(schema::COST_USD.into(), costs))?;
    Ok(rows)
}

/// Each row's share of its agent's, team's, model's, tier's and local day's list cost, in
/// micro-dollars; `None` for rows with a vendor cost or no price.
fn day_shares(rows: &DataFrame, table: &PriceTable) -> PolarsResult<Vec<Option<i64>>> {
    use crate::normalize::calendar::from_day_number;
    use crate::normalize::pricing::Tokens;
    let text = |name: &str| -> PolarsResult<Vec<Option<&str>>> {
        Ok(rows.column(name)?.str()?.iter().collect())
    };
    let counts = |name: &str| -> PolarsResult<Vec<u64>> {
        let column = rows.column(name)?.cast(&DataType::UInt64)?;
        Ok(column.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let models = text(schema::MODEL)?;
    let days: Vec<Option<i32>> = rows.column(DAY)?.i32()?.iter().collect();
    let [input, output, cache_read, cache_write] = [
        counts(schema::INPUT_TOKENS)?,
        counts(schema::OUTPUT_TOKENS)?,
        counts(schema::CACHE_READ_TOKENS)?,
        counts(schema::CACHE_WRITE_TOKENS)?,
    ];
    let list: Vec<Option<f64>> = rows.column(LIST_MICRO)?.f64()?.iter().collect();
    // polars groups the rows (in parallel, by their keys' hashes); a group's members are its
    // rows without a vendor cost, in the file's order.
    let keys = [
        schema::MODEL,
        DAY,
        schema::AGENT,
        schema::TEAM,
        schema::TIER,
    ];
    let by = rows.group_by_stable(keys)?;
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for group in by.get_groups().iter() {
        let mut members: Vec<usize> = match group {
            GroupsIndicator::Idx((_, all)) => all.iter().map(|&row| row as usize).collect(),
            GroupsIndicator::Slice([first, len]) => {
                (first as usize..(first + len) as usize).collect()
            }
        };
        members.retain(|&row| list[row].is_some());
        members.sort_unstable();
        if !members.is_empty() {
            groups.push(members);
        }
    }
    let mut micro = vec![None; rows.height()];
    for members in groups {
        let (Some(model), Some(day)) = (models[members[0]], days[members[0]]) else {
            continue;
        };
        let Some(price) = table.resolve(model, from_day_number(day)) else {
            continue;
        };
        let mut sum = Tokens::default();
        for &row in &members {
            sum.add(&Tokens {
                input: input[row],
                output: output[row],
                cache_read: cache_read[row],
                cache_write: cache_write[row],
            });
        }
        let exact: Vec<f64> = members
            .iter()
            .map(|&row| list[row].unwrap_or(0.0))
            .collect();
        let shares = apportion(price.rates.cost_micro(&sum), &exact);
        for (&row, share) in members.iter().zip(shares) {
            micro[row] = Some(share);
        }
    }
    Ok(micro)
}

/// Whole shares of `total` in proportion to `exact` (unrounded amounts of the same unit that
/// add up to about `total`): each its floor, and the remainder one at a time to the largest
/// fractions, ties to the earlier (Hamilton's largest-remainder method).
fn apportion(total: i64, exact: &[f64]) -> Vec<i64> {
    // Costs are not negative: truncation is the floor, without a call to `floor` a row.
    let mut shares: Vec<i64> = exact.iter().map(|x| x.max(0.0) as i64).collect();
    let mut left = total - shares.iter().sum::<i64>();
    if shares.is_empty() || left == 0 {
        return shares;
    }
    let fractions: Vec<f64> = exact
        .iter()
        .zip(&shares)
        .map(|(x, floor)| x - *floor as f64)
        .collect();
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_unstable_by(|&a, &b| fractions[b].total_cmp(&fractions[a]).then(a.cmp(&b)));
    // Floating-point noise can leave the remainder outside 0..n: it goes round again, and a
    // negative one is taken back from the smallest fractions, never below zero.
    while left > 0 {
        for &i in &order {
            if left == 0 {
                break;
            }
            shares[i] += 1;
            left -= 1;
        }
    }
    while left < 0 {
        let before = left;
        for &i in order.iter().rev() {
            if left == 0 {
                break;
            }
            if shares[i] > 0 {
                shares[i] -= 1;
                left += 1;
            }
        }
        if left == before {
            break;
        }
    }
    shares
}

/// Rows in time order, then agent, then request id, then every other column: an order that
/// depends on the rows alone, never on the order they were read in. Rows with request ids
/// never tie on the first three (copies are collapsed), so the rest are compared only where
/// rows without one do: comparing every column costs a day's sort several times over.
fn sorted(rows: DataFrame) -> PolarsResult<DataFrame> {
    let first = [schema::TS, schema::AGENT, schema::REQUEST_ID];
    let by_first = rows.sort(first, SortMultipleOptions::default())?;
    let same = |name: &str| col(name).eq_missing(col(name).shift(lit(1)));
    let ties = by_first
        .clone()
        .lazy()
        .select([same(schema::TS)
            .and(same(schema::AGENT))
            .and(same(schema::REQUEST_ID))
            .any(true)
            .alias("ties")])
        .collect()?;
    if ties.column("ties")?.bool()?.get(0) != Some(true) {
        return Ok(by_first);
    }
    let rest = schema::USAGE.iter().map(|c| c.name);
    let keys: Vec<&str> = first
        .into_iter()
        .chain(rest.filter(|name| !first.contains(name)))
        .collect();
    by_first.sort(keys, SortMultipleOptions::default())
}

/// Rows per row group of the Parquet file (polars' default).
const ROW_GROUP: usize = 512 * 512;

enum Written {
    Io(std::io::Error),
    Engine(PolarsError),
}

/// An error of the Parquet writer: one of writing the file.
fn written(err: PolarsError) -> Written {
    match err {
        PolarsError::IO { error, .. } => Written::Io(
            std::sync::Arc::try_unwrap(error)
                .unwrap_or_else(|error| std::io::Error::new(error.kind(), error.to_string())),
        ),
        other => Written::Io(std::io::Error::other(other.to_string())),
    }
}

impl From<PolarsError> for Written {
    fn from(err: PolarsError) -> Self {
        Written::Engine(err)
    }
}

/// A Parquet file written from sorted days in row groups of [`ROW_GROUP`] rows, whatever the
/// days' sizes: rows wait until a group is full, so the file's bytes do not depend on how the
/// rows were split into days.
struct RowGroups {
    file: Option<std::fs::File>,
    writer: Option<BatchedWriter<std::fs::File>>,
    waiting: Option<DataFrame>,
}

impl RowGroups {
    fn new(file: std::fs::File) -> RowGroups {
        RowGroups {
            file: Some(file),
            writer: None,
            waiting: None,
        }
    }

    fn add(&mut self, rows: DataFrame) -> Result<(), Written> {
        if self.writer.is_none() {
            let file = self.file.take().expect("a file to write");
            self.writer = Some(
                ParquetWriter::new(file)
                    .batched(rows.schema())
                    .map_err(written)?,
            );
        }
        let mut waiting = match self.waiting.take() {
            Some(mut waiting) => {
                waiting.vstack_mut_owned(rows)?;
                waiting
            }
            None => rows,
        };
        while waiting.height() >= ROW_GROUP {
            self.write(waiting.slice(0, ROW_GROUP))?;
            waiting = waiting.slice(ROW_GROUP as i64, waiting.height() - ROW_GROUP);
        }
        self.waiting = Some(waiting);
        Ok(())
    }

    fn write(&mut self, mut group: DataFrame) -> Result<(), Written> {
        group.rechunk_mut_par();
        let writer = self.writer.as_mut().expect("a writer");
        writer.write_batch(&group).map_err(written)
    }

    fn finish(mut self) -> Result<(), Written> {
        if let Some(waiting) = self.waiting.take() {
            if waiting.height() > 0 || self.writer.as_ref().is_some() {
                self.write(waiting)?;
            }
        }
        if let Some(writer) = self.writer.as_mut() {
            writer.finish().map_err(written)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::apportion;

    #[test]
    fn shares_add_up_to_the_total_and_go_to_the_largest_fractions() {
        // 0.3 + 0.5 + 0.5 + 1.7 = 3.0: floors 0, 0, 0, 1 and two more units, to 1.7's fraction
        // and the first of the tied halves.
        assert_eq!(apportion(3, &[0.3, 0.5, 0.5, 1.7]), [0, 1, 0, 2]);
        // Rounded one by one, the same rows give 0 + 1 + 1 + 2 = 4.
        assert_eq!(apportion(0, &[]), Vec::<i64>::new());
        // A total off by floating-point noise still adds up, and no share goes below zero.
        let shares = apportion(7, &[0.99, 0.99, 0.99]);
        assert_eq!(shares.iter().sum::<i64>(), 7);
        assert_eq!(apportion(0, &[0.6, 0.2]), [0, 0]);
        let taken = apportion(1, &[1.2, 0.9]);
        assert_eq!(taken.iter().sum::<i64>(), 1);
        assert!(taken.iter().all(|s| *s >= 0));
    }
}
