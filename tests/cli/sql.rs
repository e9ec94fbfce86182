//! `tokenaudit sql`: the stats contract computed by DuckDB and by Spark (`local[2]`, with 1 and 7
//! shuffle partitions) over a company reshaped the way lakes hold rows (copies across week
//! ends, NULL sessions and prompt hashes, equal timestamps, a clock change in `--tz`) equals the
//! local path's exactly, and the audit from it is the same report; stats computed per week
//! slice merge to the whole; the Trino and BigQuery SQL parse in sqlglot and match golden files
//! (their semantics are not run here).
//!
//! The engines run in the Python environment `.ci/run` builds from tests/sql/requirements.txt
//! (`TOKENAUDIT_SQL_PYTHON`), Spark on the JRE it installs.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokenaudit::contract::{self, Parameters};

use super::{json, tokenaudit, without_inputs};

const ZONE: [&str; 2] = ["--tz", "America/New_York"];

fn python() -> PathBuf {
    std::env::var_os("TOKENAUDIT_SQL_PYTHON")
        .map(PathBuf::from)
        .expect("TOKENAUDIT_SQL_PYTHON names the Python with duckdb, pyspark and sqlglot: run .ci/run, which builds it from tests/sql/requirements.txt")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sql")
        .join(name)
}

fn run_python(args: &[&std::ffi::OsStr]) {
    let output = Command::new(python()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A planted company reshaped by tests/sql/hostile.py: its usage, outputs and identities.
fn hostile_company(dir: &Path) -> [PathBuf; 3] {
    let data = dir.join("company");
    super::generate(&data, 40, 8, 21, &[]);
    let usage = dir.join("hostile.parquet");
    run_python(&[
        script("hostile.py").as_os_str(),
        data.join("usage.parquet").as_os_str(),
        usage.as_os_str(),
    ]);
    [usage, data.join("outputs.csv"), data.join("identities.csv")]
}

fn success(output: std::process::Output) -> std::process::Output {
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    output
}

/// The SQL of `dialect` for `usage`, written to `to`, with `extra` arguments.
fn write_sql(dialect: &str, usage: &Path, identities: &Path, to: &Path, extra: &[&str]) {
    success(
        tokenaudit()
            .args(["sql", "-q", "--dialect", dialect, "--parquet"])
            .arg(usage)
            .arg("--identities")
            .arg(identities)
            .args(ZONE)
            .args(extra)
            .arg("--to")
            .arg(to)
            .output()
            .unwrap(),
    );
}

fn engine(name: &str, dir: &Path, extra: &[&str]) {
    let (runner, sql) = (script("run.py"), dir.join("stats.sql"));
    let mut args = vec![
        runner.as_os_str(),
        std::ffi::OsStr::new(name),
        sql.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run_python(&args);
}

fn parameters(dir: &Path) -> Parameters {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("stats.json")).unwrap()).unwrap();
    serde_json::from_value(manifest["parameters"].clone()).unwrap()
}

/// The stats of a folder, as the audit reads them.
fn stats(dir: &Path) -> tokenaudit::features::Stats {
    contract::read(dir, &parameters(dir)).unwrap().0
}

fn audit(source: (&str, &Path), outputs: &Path, identities: &Path) -> serde_json::Value {
    json(&success(
        tokenaudit()
            .args(["audit", "-q", "--format", "json"])
            .args(ZONE)
            .arg(source.0)
            .arg(source.1)
            .arg("--outputs")
            .arg(outputs)
            .arg("--identities")
            .arg(identities)
            .output()
            .unwrap(),
    ))
}

/// The local path's stats and report of the company.
fn local(
    tmp: &Path,
    usage: &Path,
    identities: &Path,
    outputs: &Path,
) -> (PathBuf, serde_json::Value) {
    let dir = tmp.join("local");
    success(
        tokenaudit()
            .args(["stats", "-q"])
            .args(ZONE)
            .arg("--usage")
            .arg(usage)
            .arg("--identities")
            .arg(identities)
            .arg("--to")
            .arg(&dir)
            .output()
            .unwrap(),
    );
    (dir, audit(("--usage", usage), outputs, identities))
}

#[test]
fn duckdb_computes_the_local_paths_stats_and_week_slices_merge_to_them() {
    let tmp = tempfile::tempdir().unwrap();
    let [usage, outputs, identities] = hostile_company(tmp.path());
    let (local_dir, report) = local(tmp.path(), &usage, &identities, &outputs);
    let local_stats = stats(&local_dir);
    assert!(local_stats.days.len() > 100 && !local_stats.behavior.is_empty());
    assert!(local_stats.parts.iter().any(|p| p.dimension == "session"));

    let duck = tmp.path().join("duckdb");
    write_sql("duckdb", &usage, &identities, &duck, &[]);
    engine("duckdb", &duck, &[]);
    assert_eq!(
        stats(&duck),
        local_stats,
        "DuckDB's stats are the local path's"
    );
    let from_sql = audit(("--stats", &duck), &outputs, &identities);
    assert_eq!(without_inputs(from_sql.clone()), without_inputs(report));
    assert_eq!(from_sql["inputs"][0]["format"], "sql-duckdb");

    // Two week slices (local weeks of New York), computed apart and merged.
    let slices = [
        ("early", ["--until", "2026-10-04"]),
        ("late", ["--since", "2026-10-05"]),
    ];
    let mut merged = tokenaudit::features::Stats::default();
    for (name, period) in slices {
        let dir = tmp.path().join(name);
        write_sql("duckdb", &usage, &identities, &dir, &period);
        engine("duckdb", &dir, &[]);
        merged = merged
            .merge(stats(&dir))
            .expect("slices hold disjoint weeks");
    }
    assert_eq!(merged, local_stats, "the slices merge to the whole");

    // An edited SQL file no longer matches its manifest.
    let sql = duck.join("stats.sql");
    let text = std::fs::read_to_string(&sql).unwrap();
    std::fs::write(&sql, text.replace("SUM(requests)", "COUNT(*)")).unwrap();
    let refused = tokenaudit()
        .args(["audit", "-q", "--format", "json"])
        .args(ZONE)
        .arg("--stats")
        .arg(&duck)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not match its checksum"));
}

#[test]
fn spark_computes_the_local_paths_stats_with_any_number_of_shuffle_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let [usage, outputs, identities] = hostile_company(tmp.path());
    let (local_dir, report) = local(tmp.path(), &usage, &identities, &outputs);
    let local_stats = stats(&local_dir);
    for partitions in ["1", "7"] {
        let dir = tmp.path().join(format!("spark-{partitions}"));
        write_sql("spark", &usage, &identities, &dir, &[]);
        engine("spark", &dir, &["--shuffle-partitions", partitions]);
        assert_eq!(
            stats(&dir),
            local_stats,
            "Spark's stats with {partitions} shuffle partitions"
        );
        let from_sql = audit(("--stats", &dir), &outputs, &identities);
        assert_eq!(
            without_inputs(from_sql),
            without_inputs(report.clone()),
            "{partitions} partitions"
        );
    }
}

#[test]
fn trino_and_bigquery_sql_parse_and_match_their_golden_files() {
    let tmp = tempfile::tempdir().unwrap();
    let identities = super::fixtures().join("demo/identities.csv");
    for dialect in ["duckdb", "spark", "trino", "bigquery"] {
        let dir = tmp.path().join(dialect);
        success(
            tokenaudit()
                .args([
                    "sql",
                    "-q",
                    "--dialect",
                    dialect,
                    "--table",
                    "lake.ai_usage",
                ])
                .arg("--identities")
                .arg(&identities)
                .args(["--tz", "Europe/Berlin", "--week-start", "sunday"])
                .args(["--tables-at", "s3://tokenaudit-stats/2026-w49"])
                .arg("--to")
                .arg(&dir)
                .output()
                .unwrap(),
        );
        let sql = dir.join("stats.sql");
        assert!(dir.join("stats.json").is_file());
        // DuckDB and Spark run their SQL in the tests above; the other two are parsed.
        if matches!(dialect, "trino" | "bigquery") {
            run_python(&[
                script("parse.py").as_os_str(),
                std::ffi::OsStr::new(dialect),
                sql.as_os_str(),
            ]);
            let golden = script(&format!("golden/{dialect}.sql"));
            let text = std::fs::read_to_string(&sql).unwrap();
            if std::env::var_os("TOKENAUDIT_UPDATE_GOLDEN").is_some() {
                std::fs::write(&golden, &text).unwrap();
            }
            assert_eq!(
                text,
                std::fs::read_to_string(&golden).unwrap_or_default(),
                "{dialect}: the SQL changed; if on purpose, run with TOKENAUDIT_UPDATE_GOLDEN=1 and review the diff"
            );
        }
    }
}
