//! Deduplication: rows that share a `request_id` (usage) or a `ref` (outputs) are one event.
//!
//! Duplicates come from overlapping exports and from streaming logs that write a request once
//! per chunk with cumulative counts. They collapse to one row whose token counts are the largest
//! seen (the final chunk), whose time is the earliest, and whose text columns take the smallest
//! value: every choice is independent of row order, so shuffled input gives the same result.
//! Keys are hashed to u64 first, so hash tables hold integers instead of strings (a collision
//! needs ~4e9 distinct ids for an even chance; an audit has millions at most). Rows without a
//! key are kept as they are.
//!
//! The audit does not collapse every request through one big group-by (4.6 GB for 10M requests):
//! [`request_hashes`] feeds the features stage's first pass, which finds the few ids seen more
//! than once, and the usage fold collapses only those while every other row streams straight
//! into sums. `tokenaudit ingest`, which writes rows, collapses them as they stream
//! (`features::rows`) with the same aggregations; [`usage`] is the same collapse as one plan,
//! the reference the streamed forms are tested against.

use polars::prelude::*;

use crate::ingest::canonical::FILE;
use crate::schema;

/// The hash of a duplicated request's id; null on rows whose request appears once.
pub const KEY: &str = "_dedup_key";

/// The hash of a request id (or an output's ref): the key duplicates are found by.
pub fn request_key(column: Expr) -> Expr {
    column.hash(0x7a11, 0x0d17, 0x70c3, 0x4a5e)
}

fn key_hash(column: &str) -> Expr {
    request_key(col(column)).alias(KEY)
}

/// The hash of every non-null `request_id` of `ids` (a frame with only that column). Reading
/// ids without checking whole rows keeps this pass to one column; a quarantined copy can at
/// worst mark a valid row as duplicated, and a group of one collapses to itself.
pub fn request_hashes(ids: LazyFrame) -> LazyFrame {
    ids.filter(col(schema::REQUEST_ID).is_not_null())
        .select([key_hash(schema::REQUEST_ID)])
}

/// Usage rows, one per `request_id`.
///
/// Only the requests seen more than once go through the group-by: the keys are counted first
/// (a table of integers), and every row whose key is seen once streams straight through, as
/// in the audit's fold. Collapsing every row through one group-by held all of them, every
/// column, in its hash table: 1.1 GB for a million Claude Code records with a few thousand
/// copies among them.
pub fn usage(frame: LazyFrame) -> LazyFrame {
    let keyed = frame
        .clone()
        .filter(col(schema::REQUEST_ID).is_not_null())
        .with_column(key_hash(schema::REQUEST_ID));
    let unkeyed = frame.filter(col(schema::REQUEST_ID).is_null());
    let repeated = keyed
        .clone()
        .select([col(KEY)])
        .group_by([col(KEY)])
        .agg([len().alias("_copies")])
        .filter(col("_copies").gt(lit(1)))
        .select([col(KEY)]);
    let once = keyed.clone().join(
        repeated.clone(),
        [col(KEY)],
        [col(KEY)],
        JoinArgs::new(JoinType::Anti),
    );
    let copies = keyed.join(
        repeated,
        [col(KEY)],
        [col(KEY)],
        JoinArgs::new(JoinType::Semi),
    );
    let collapsed = copies.group_by([col(KEY)]).agg(usage_copies_collapsed());
    let unique = union(once, collapsed, schema::USAGE);
    union(unkeyed, unique, schema::USAGE)
}

/// How the copies of one request collapse, as aggregations of a group by [`KEY`]: the largest
/// of each count and amount, the smallest of every other column (the earliest time) and of
/// the file.
pub fn usage_copies_collapsed() -> Vec<Expr> {
    let mut aggs: Vec<Expr> = schema::USAGE
        .iter()
        .map(|column| match column.ty {
            schema::ColumnType::Count | schema::ColumnType::Amount => col(column.name).max(),
            _ => col(column.name).min(),
        })
        .collect();
    aggs.push(col(FILE).min());
    aggs
}

/// The canonical usage columns and [`FILE`], in order.
pub fn usage_order() -> Vec<Expr> {
    let mut order: Vec<Expr> = schema::USAGE.iter().map(|c| col(c.name)).collect();
    order.push(col(FILE));
    order
}

/// Output rows, one per (`kind`, `ref`).
pub fn outputs(frame: LazyFrame) -> LazyFrame {
    let keyed = frame.clone().filter(col(schema::REF).is_not_null());
    let unkeyed = frame.filter(col(schema::REF).is_null());
    let mut aggs = Vec::new();
    for column in schema::OUTPUTS {
        if column.name == schema::KIND {
            continue;
        }
        let expr = match column.ty {
            schema::ColumnType::Amount => col(column.name).max(),
            _ => col(column.name).min(),
        };
        aggs.push(expr);
    }
    aggs.push(col(FILE).min());
    let collapsed = keyed
        .group_by([col(schema::KIND), key_hash(schema::REF)])
        .agg(aggs);
    union(unkeyed, collapsed, schema::OUTPUTS)
}

/// Unions the unkeyed rows with the collapsed ones, both in canonical column order.
fn union(unkeyed: LazyFrame, collapsed: LazyFrame, columns: &[schema::Column]) -> LazyFrame {
    let mut order: Vec<Expr> = columns.iter().map(|c| col(c.name)).collect();
    order.push(col(FILE));
    concat(
        [unkeyed.select(order.clone()), collapsed.select(order)],
        UnionArgs::default(),
    )
    .expect("a union of two frames is never empty")
}
