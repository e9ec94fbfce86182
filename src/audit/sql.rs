//! `tokenaudit sql`: writes the SQL that computes the stats contract in a query engine, and the
//! manifest `audit --stats` checks it against (see [`crate::contract::sql`]).

use std::path::PathBuf;

use super::{behavior_snapshot, AuditError, Exit, Verbosity};
use crate::contract::sql::{self, Dialect, Source, SqlParameters};
use crate::contract::{Manifest, Parameters, FORMAT, MANIFEST, SQL_FILE};
use crate::detect::DetectConfig;
use crate::normalize::calendar::{to_day_number, Calendar};
use crate::normalize::identities::IdentityMap;
use crate::report::InputSummary;

/// Everything `sql` needs.
#[derive(Debug, Clone)]
pub struct SqlSettings {
    pub dialect: Dialect,
    pub source: Source,
    pub absent: Vec<String>,
    pub identities: Option<PathBuf>,
    pub calendar: Calendar,
    pub detect: DetectConfig,
    /// The folder for the SQL and the manifest; the tables go beside them.
    pub to: PathBuf,
    /// Where the engine writes the tables, when not `to` (object storage, a cluster's path).
    pub tables_at: Option<String>,
    pub verbosity: Verbosity,
}

/// The optional usage columns a Parquet file the engine will read lacks, when the file is
/// here to look at (a path on object storage is not: name its absent columns with
/// `--absent`); a missing required column is an error now rather than in the engine.
fn absent_columns(path: &std::path::Path) -> Result<Vec<String>, AuditError> {
    use polars::prelude::*;
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(Vec::new());
    };
    let schema = ParquetReader::new(file)
        .schema()
        .map_err(|err| AuditError::Engine(format!("{}: {err}", path.display())))?;
    let has = |name: &str| schema.iter().any(|(n, _)| n.as_str() == name);
    if let Some(missing) = sql::REQUIRED.iter().find(|c| !has(c)) {
        return Err(AuditError::Engine(format!(
            "`{}` has no `{missing}` column, which the stats need\n\nhint: `tokenaudit schema` lists the canonical usage columns",
            path.display()
        )));
    }
    Ok(sql::OPTIONAL
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !has(name))
        .map(String::from)
        .collect())
}

pub fn run(settings: &SqlSettings) -> Result<Exit, AuditError> {
    let snapshot = behavior_snapshot(&settings.detect);
    let identities = match &settings.identities {
        Some(path) => IdentityMap::load(path)?,
        None => IdentityMap::default(),
    };
    let write_err = |path: PathBuf| {
        move |source| AuditError::Write {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(&settings.to).map_err(write_err(settings.to.clone()))?;
    let out = match &settings.tables_at {
        Some(location) => location.clone(),
        None => std::fs::canonicalize(&settings.to)
            .map_err(write_err(settings.to.clone()))?
            .display()
            .to_string(),
    };
    let calendar = &settings.calendar;
    let mut absent = settings.absent.clone();
    if let Source::Parquet(path) = &settings.source {
        absent.extend(absent_columns(std::path::Path::new(path))?);
    }
    absent.sort();
    absent.dedup();
    let parameters = SqlParameters {
        source: settings.source.clone(),
        absent,
        identities,
        tz: calendar.tz.name().to_string(),
        week_start: calendar.week_start,
        snapshot,
        since: calendar.since.map(to_day_number),
        until: calendar.until.map(to_day_number),
        out,
    };
    let text = sql::render(settings.dialect, &parameters);
    let sql_path = settings.to.join(SQL_FILE);
    crate::report::write_atomically(&sql_path, |w| w.write_all(text.as_bytes()))
        .map_err(write_err(sql_path.clone()))?;
    let digest = crate::history::sha256(text.as_bytes());
    let dialect = settings.dialect;
    let tables = crate::history::parts::PARTS
        .into_iter()
        .chain([crate::contract::ACCOUNTING])
        .map(|part| (part.to_string(), dialect.table_path(part)))
        .collect();
    let source = match &settings.source {
        Source::Table(name) => name.clone(),
        Source::Parquet(path) => path.clone(),
    };
    let manifest = Manifest {
        format: FORMAT.to_string(),
        stats_version: crate::features::STATS_VERSION,
        producer: format!("sql {}", dialect.name()),
        parameters: Parameters::of(calendar, snapshot),
        tables,
        checksums: Default::default(),
        sql_sha256: Some(digest.clone()),
        ingest: None,
        inputs: vec![InputSummary {
            path: source,
            format: format!("sql-{}", dialect.name()),
            rows: 0,
            sha256: digest,
        }],
        rows_outside_window: 0,
    };
    let manifest_path = settings.to.join(MANIFEST);
    let json = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
    crate::report::write_atomically(&manifest_path, |w| {
        w.write_all(format!("{json}\n").as_bytes())
    })
    .map_err(write_err(manifest_path.clone()))?;
    if settings.verbosity != Verbosity::Quiet {
        eprintln!(
            "Wrote {} and {}: run the SQL in {} (it writes the tables to {}), then `tokenaudit audit --stats {}`",
            sql_path.display(),
            manifest_path.display(),
            dialect.name(),
            parameters.out,
            settings.to.display()
        );
    }
    Ok(Exit::Clean)
}
