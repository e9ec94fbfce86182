//! `tokenaudit ingest --to FILE.parquet`: the normalized, deduplicated, priced canonical usage,
//! for loading into a warehouse or auditing again without re-parsing vendor exports.
//!
//! Prices are joined row by row: the distinct models are read first (a cheap pass over one
//! column), each is resolved against the price table into its price periods, and the periods
//! are joined on model and filtered by the row's local day. A row that already had a vendor
//! cost keeps it.

use std::path::Path;

use polars::prelude::*;

use super::{pipeline, prices, AuditError, InputSettings};
use crate::normalize::calendar::{to_day_number, DAY};
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

pub fn ingest_to_parquet(input: &InputSettings, to: &Path) -> Result<(), AuditError> {
    let engine_err = |err: PolarsError| AuditError::Engine(err.to_string());
    let (table, _) = prices(input)?;
    let sources = pipeline::sources(input)?;
    for line in crate::ingest::overlap_warnings(&sources.files) {
        eprintln!("warning: {line}");
    }
    if input.quarantine.is_some() || input.strict {
        let quarantined = pipeline::over_files(&sources, || crate::features::quarantine(&sources))?;
        super::keep_quarantine(input, &quarantined, quarantined.len() as u64)?;
    }
    let usage = sources
        .usage_normalized(&input.calendar)
        .ok_or(AuditError::NoUsage)?;

    // The models to price, from the rows before dedup (the same models, or more): reading
    // them from the deduplicated plan ran the whole dedup twice.
    let models_plan = sources
        .usage_valid()
        .ok_or(AuditError::NoUsage)?
        .select([col(schema::MODEL).unique()]);
    let models_frame = pipeline::over_files(&sources, || {
        models_plan.collect_with_engine(Engine::Streaming)
    })?
    .unwrap_single();
    let mut models: Vec<String> = models_frame
        .column(schema::MODEL)
        .and_then(|c| c.str().cloned())
        .map_err(engine_err)?
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    models.sort();
    let priced = usage
        .join(
            price_frame(&models, &table).map_err(engine_err)?,
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
    let columns: Vec<Expr> = schema::USAGE
        .iter()
        .map(|c| {
            if c.name == schema::COST_USD {
                coalesce(&[col(schema::COST_USD), list_cost.clone()]).alias(schema::COST_USD)
            } else {
                col(c.name)
            }
        })
        .collect();
    let plan = priced.select(columns);
    let frame = pipeline::over_files(&sources, || plan.collect_with_engine(Engine::Streaming))?
        .unwrap_single();
    // The inputs are no longer needed: the rows are sorted and written from the one frame.
    drop(sources);
    let rows = frame.height();
    write_sorted(frame, to).map_err(|err| match err {
        Written::Io(source) => AuditError::Write {
            path: to.to_path_buf(),
            source,
        },
        Written::Engine(err) => engine_err(err),
    })?;
    eprintln!("wrote {rows} canonical usage rows to {}", to.display());
    Ok(())
}

/// Rows per row group of the Parquet file (polars' default).
const ROW_GROUP: usize = 512 * 512;

enum Written {
    Io(std::io::Error),
    Engine(PolarsError),
}

/// Writes `frame` to `to` as Parquet in time order (then agent, then request id; ties keep
/// their order): the order is found on those three columns alone, and the rows are gathered
/// one row group at a time, so the sorted rows are never held whole beside the frame.
fn write_sorted(frame: DataFrame, to: &Path) -> Result<(), Written> {
    const ORDER: &str = "_order";
    let keys = [schema::TS, schema::AGENT, schema::REQUEST_ID];
    let order = frame
        .select(keys)
        .and_then(|columns| columns.with_row_index(ORDER.into(), None))
        .and_then(|columns| {
            columns.sort(
                keys,
                SortMultipleOptions::default().with_maintain_order(true),
            )
        })
        .and_then(|sorted| sorted.column(ORDER).and_then(|c| c.idx().cloned()))
        .map_err(Written::Engine)?;
    let file = std::fs::File::create(to).map_err(Written::Io)?;
    let mut writer = ParquetWriter::new(file)
        .batched(frame.schema())
        .map_err(Written::Engine)?;
    let mut offset = 0;
    while offset < order.len() {
        let rows = ROW_GROUP.min(order.len() - offset);
        let group = frame
            .take(&order.slice(offset as i64, rows))
            .map_err(Written::Engine)?;
        writer.write_batch(&group).map_err(Written::Engine)?;
        offset += rows;
    }
    if order.is_empty() {
        writer.write_batch(&frame).map_err(Written::Engine)?;
    }
    writer.finish().map_err(Written::Engine)?;
    Ok(())
}
