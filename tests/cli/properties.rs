//! Invariants over many inputs: row order and file layout change no byte of the report, and no
//! row is ever lost.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use polars::prelude::*;
use proptest::prelude::*;
use tokenaudit::audit::{build_report, AuditSettings, InputSettings, Verbosity};
use tokenaudit::generate::{self, GenerateSettings};

/// A small request-level company (with duplicated requests), generated once per test run.
fn company() -> &'static (tempfile::TempDir, DataFrame) {
    static COMPANY: OnceLock<(tempfile::TempDir, DataFrame)> = OnceLock::new();
    COMPANY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        generate::write(&GenerateSettings {
            agents: 24,
            weeks: 3,
            seed: 11,
            requests_per_week: 60.0,
            out: dir.path().to_path_buf(),
            verbosity: Verbosity::Quiet,
            ..GenerateSettings::default()
        })
        .unwrap();
        let usage = LazyFrame::scan_parquet(
            PlRefPath::try_from_path(&dir.path().join("usage.parquet")).unwrap(),
            Default::default(),
        )
        .unwrap()
        .collect()
        .unwrap();
        (dir, usage)
    })
}

fn report_json(usage: Vec<PathBuf>) -> String {
    report_json_with_keys(
        usage,
        tokenaudit::features::Limits::default().keys_in_memory,
    )
}

fn expected() -> &'static String {
    static EXPECTED: OnceLock<String> = OnceLock::new();
    EXPECTED.get_or_init(|| report_json(vec![company().0.path().join("usage.parquet")]))
}

fn shuffled(frame: &DataFrame, seed: u64) -> DataFrame {
    frame
        .sample_n_literal(frame.height(), false, Some(true), Some(seed))
        .unwrap()
}

fn write_parquet(frame: &mut DataFrame, path: &Path) {
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(frame)
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn shuffling_rows_changes_no_byte(seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.parquet");
        write_parquet(&mut shuffled(&company().1, seed), &path);
        prop_assert_eq!(&report_json(vec![path]), expected());
    }

    #[test]
    fn splitting_one_file_into_two_changes_no_byte(seed in any::<u64>(), cut in 0.0f64..1.0) {
        let dir = tempfile::tempdir().unwrap();
        let frame = shuffled(&company().1, seed);
        let at = (frame.height() as f64 * cut) as usize;
        let (mut head, mut tail) = (frame.slice(0, at), frame.slice(at as i64, frame.height() - at));
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_parquet(&mut head, &a);
        write_parquet(&mut tail, &b);
        prop_assert_eq!(&report_json(vec![a, b]), expected());
    }

    #[test]
    fn ingest_writes_the_same_rows_in_time_order_however_the_input_is_shuffled(seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.parquet");
        write_parquet(&mut shuffled(&company().1, seed), &path);
        let bytes = ingested_bytes(&[path], &[], dir.path());
        // The same bytes as from the file in the generator's order.
        prop_assert!(&bytes == ingested_original(), "the Parquet bytes differ");
        let written = parquet_rows(bytes);
        // Sorted by time (then agent and request id), one row per request.
        let ts = written.column("ts").unwrap().datetime().unwrap().physical().clone();
        let times: Vec<i64> = ts.iter().flatten().collect();
        prop_assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let ids = written.column("request_id").unwrap().drop_nulls();
        prop_assert_eq!(ids.n_unique().unwrap(), ids.len());
    }

    #[test]
    fn every_row_read_is_valid_or_quarantined(corrupt in proptest::collection::vec((0usize..2_000, 0usize..4), 1..20)) {
        let dir = tempfile::tempdir().unwrap();
        let mut frame = company().1.clone().lazy().with_columns([
            col("ts").dt().to_string("%Y-%m-%dT%H:%M:%SZ"),
            col("input_tokens").cast(DataType::String),
            col("output_tokens").cast(DataType::String),
        ]).collect().unwrap();
        let rows = frame.height();
        // Break cells: an unparseable time, a negative count, a word, an empty agent.
        let mut broken = std::collections::BTreeSet::new();
        for (row, kind) in &corrupt {
            let row = row % rows;
            broken.insert(row);
            let (column, value) = match kind {
                0 => ("ts", "soon"),
                1 => ("input_tokens", "-1"),
                2 => ("output_tokens", "many"),
                _ => ("agent", ""),
            };
            let mut values: Vec<Option<String>> = frame.column(column).unwrap().str().unwrap().iter().map(|v| v.map(String::from)).collect();
            values[row] = Some(value.to_string());
            frame.with_column(Column::new(column.into(), values)).unwrap();
        }
        let path = dir.path().join("usage.csv");
        CsvWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut frame).unwrap();
        let settings = AuditSettings {
            input: InputSettings { usage: vec![path.display().to_string()], ..InputSettings::default() },
            verbosity: Verbosity::Quiet,
            ..AuditSettings::default()
        };
        let report = build_report(&settings).unwrap();
        prop_assert_eq!(report.ingest.rows_read, rows as u64);
        prop_assert_eq!(report.ingest.rows_read, report.ingest.rows_valid + report.ingest.rows_quarantined);
        prop_assert_eq!(report.ingest.rows_quarantined, broken.len() as u64);
    }
}

/// The bytes `tokenaudit ingest --usage … --to …` writes, with `more` arguments.
fn ingested_bytes(usage: &[PathBuf], more: &[&str], dir: &Path) -> Vec<u8> {
    let to = dir.join(format!("ingested-{}.parquet", std::process::id()));
    let mut command = crate::tokenaudit();
    command.args(["ingest", "-q"]);
    for path in usage {
        command.arg("--usage").arg(path);
    }
    let output = command.args(more).arg("--to").arg(&to).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let bytes = std::fs::read(&to).unwrap();
    std::fs::remove_file(&to).unwrap();
    bytes
}

fn parquet_rows(bytes: Vec<u8>) -> DataFrame {
    ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .unwrap()
}

fn ingested_original() -> &'static Vec<u8> {
    static INGESTED: OnceLock<Vec<u8>> = OnceLock::new();
    INGESTED.get_or_init(|| {
        let dir = company().0.path();
        ingested_bytes(&[dir.join("usage.parquet")], &[], dir)
    })
}

/// Every row, in an order that does not depend on the file's (rows tied on time, agent and
/// request id may come in either order).
fn every_row(frame: &DataFrame) -> DataFrame {
    let names: Vec<PlSmallStr> = frame.get_column_names_owned();
    frame
        .sort(
            names,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .unwrap()
}

/// The report of `usage` with at most `keys` request ids and prompt keys in memory.
fn report_json_with_keys(usage: Vec<PathBuf>, keys: usize) -> String {
    let dir = company().0.path();
    let settings = AuditSettings {
        input: InputSettings {
            usage: usage.iter().map(|p| p.display().to_string()).collect(),
            outputs: vec![dir.join("outputs.csv").display().to_string()],
            identities: Some(dir.join("identities.csv")),
            limits: tokenaudit::features::Limits {
                keys_in_memory: keys,
                ..Default::default()
            },
            ..InputSettings::default()
        },
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    };
    let report = build_report(&settings).unwrap();
    let mut value = serde_json::to_value(&report).unwrap();
    value.as_object_mut().unwrap().remove("inputs");
    serde_json::to_string_pretty(&value).unwrap()
}

/// Writes `frame` as hive folders by UTC day (`usage/day=2026-01-05/part-0.parquet`), each day
/// cut into `parts` files.
fn write_hive_by_day(frame: &DataFrame, root: &Path, parts: usize) {
    let days = frame
        .clone()
        .lazy()
        .with_column(
            col("ts")
                .dt()
                .date()
                .dt()
                .to_string("%Y-%m-%d")
                .alias("_day"),
        )
        .collect()
        .unwrap();
    for group in days.partition_by(["_day"], true).unwrap() {
        let day = group
            .column("_day")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_string();
        let folder = root.join(format!("day={day}"));
        std::fs::create_dir_all(&folder).unwrap();
        let group = group.drop("_day").unwrap();
        let size = group.height().div_ceil(parts).max(1);
        for (part, offset) in (0..group.height()).step_by(size).enumerate() {
            let mut slice = group.slice(offset as i64, size);
            write_parquet(&mut slice, &folder.join(format!("part-{part}.parquet")));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Shuffled, re-partitioned into hive folders by day with several files a day, and read
    /// with a key budget small enough that request ids and prompts go through the disk: the
    /// same report, byte for byte.
    #[test]
    fn hive_folders_by_day_and_a_small_key_budget_change_no_byte(
        seed in any::<u64>(),
        parts in 1usize..4,
        keys in 16usize..400,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("usage");
        write_hive_by_day(&shuffled(&company().1, seed), &root, parts);
        prop_assert_eq!(&report_json_with_keys(vec![root], keys), expected());
    }
}

/// Copies of one request at both ends of the input, in different files, with a budget of one
/// key: every flush of the spill holds one copy at most, so the copies only meet when a
/// partition is read back. They still count as one request.
#[test]
fn duplicates_straddling_a_spill_boundary_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let frame = &company().1;
    // First and last rows copied to the other end: two more duplicates, far apart.
    let n = frame.height() as i64;
    let mut first = frame.slice(0, 1);
    let mut last = frame.slice(n - 1, 1);
    let mut body = frame.clone();
    let (a, b, c) = (
        dir.path().join("a.parquet"),
        dir.path().join("b.parquet"),
        dir.path().join("c.parquet"),
    );
    write_parquet(&mut last, &a);
    write_parquet(&mut body, &b);
    write_parquet(&mut first, &c);
    let with_copies = |keys: usize| -> serde_json::Value {
        serde_json::from_str(&report_json_with_keys(
            vec![a.clone(), b.clone(), c.clone()],
            keys,
        ))
        .unwrap()
    };
    let spilled = with_copies(1);
    let in_memory = with_copies(usize::MAX);
    assert_eq!(spilled, in_memory);
    // The two copies are removed on top of the company's own duplicates.
    let plain: serde_json::Value = serde_json::from_str(expected()).unwrap();
    let removed = |report: &serde_json::Value| report["ingest"]["duplicates_removed"].as_u64();
    assert_eq!(removed(&spilled), removed(&plain).map(|n| n + 2));
    // And they add no tokens and no spend, to the company or to any agent.
    assert!(plain["totals"]["tokens"].as_u64().unwrap() > 0);
    assert_eq!(spilled["totals"]["tokens"], plain["totals"]["tokens"]);
    assert_eq!(spilled["totals"]["cost_usd"], plain["totals"]["cost_usd"]);
    let spend = |report: &serde_json::Value| -> Vec<(String, u64)> {
        report["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["agent"].to_string(), a["tokens"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(spend(&spilled), spend(&plain));
}

/// A year of rows with every day through a temporary file, under a limit of 100 open files:
/// the days' files are not all held open (a file a day failed with "Too many open files"),
/// and the bytes are those of the run in memory.
#[cfg(unix)]
#[test]
fn ingest_of_a_year_through_disk_stays_under_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let company = dir.path().join("year");
    crate::tokenaudit()
        .args([
            "generate", "-q", "--agents", "3", "--weeks", "52", "--seed", "4",
        ])
        .args(["--requests-per-week", "30", "--out"])
        .arg(&company)
        .assert()
        .success();
    let usage = company.join("usage.parquet");
    let in_memory = ingested_bytes(std::slice::from_ref(&usage), &[], dir.path());
    let to = dir.path().join("limited.parquet");
    let binary = assert_cmd::cargo::cargo_bin("tokenaudit");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 100 && exec \"$0\" \"$@\"")
        .arg(&binary)
        .args(["ingest", "-q", "--rows-in-memory-mb", "0", "--usage"])
        .arg(&usage)
        .arg("--to")
        .arg(&to)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(std::fs::read(&to).unwrap() == in_memory, "the bytes differ");
}

/// Rows without a request id (bucketed exports) tie on time, agent and request id; they are
/// ordered by their other columns, so shuffled input still gives the same bytes.
#[test]
fn ingest_orders_rows_without_request_ids_by_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let buckets = company()
        .1
        .slice(0, 400)
        .lazy()
        .with_columns([
            col("ts").dt().truncate(lit("1d")),
            lit(NULL).cast(DataType::String).alias("request_id"),
        ])
        .collect()
        .unwrap();
    let written: Vec<Vec<u8>> = [1u64, 2, 3]
        .iter()
        .map(|seed| {
            let path = dir.path().join(format!("buckets-{seed}.parquet"));
            write_parquet(&mut shuffled(&buckets, *seed), &path);
            ingested_bytes(&[path], &[], dir.path())
        })
        .collect();
    assert!(written[0] == written[1] && written[1] == written[2]);
    let rows = parquet_rows(written[0].clone());
    assert_eq!(rows.height(), 400);
    assert_eq!(rows.column("request_id").unwrap().null_count(), 400);
}

/// Two overlapping exports read one after the other: every request's copies are a whole file
/// apart. Past the budget (none here) the copies waiting go to disk and are collapsed range by
/// range at the end (`ingest --to`) or merged at the end (`spend`'s fold); the bytes are those
/// of the run that holds them, and of one export alone.
#[test]
fn ingest_of_an_export_given_twice_is_the_export_whatever_holds_the_copies() {
    let dir = tempfile::tempdir().unwrap();
    let frame = &company().1;
    let paths = [dir.path().join("a.parquet"), dir.path().join("b.parquet")];
    write_parquet(&mut shuffled(frame, 5), &paths[0]);
    write_parquet(&mut shuffled(frame, 9), &paths[1]);
    let held = ingested_bytes(&paths, &[], dir.path());
    let on_disk = ingested_bytes(&paths, &["--rows-in-memory-mb", "0"], dir.path());
    assert!(held == on_disk, "the copies on disk changed the bytes");
    assert!(
        held == *ingested_original(),
        "an export given twice is not the export"
    );
    // The audit's fold, too: requests sent to disk meet their later copies at the end.
    let spend = |usage: &[PathBuf], more: &[&str]| {
        let mut command = crate::tokenaudit();
        command.args(["spend", "-q", "--by", "week", "--format", "csv"]);
        for path in usage {
            command.arg("--usage").arg(path);
        }
        let output = command.args(more).output().unwrap();
        assert!(output.status.success(), "{output:?}");
        output.stdout
    };
    let alone = spend(&[company().0.path().join("usage.parquet")], &[]);
    assert_eq!(spend(&paths, &[]), alone);
    assert_eq!(spend(&paths, &["--rows-in-memory-mb", "0"]), alone);
}

/// Two rows without a request id that differ only in the sign of a zero cost: written in
/// either order, the same bytes (the sort holds -0.0 and 0.0 equal, so the file says 0.0).
#[test]
fn ingest_of_rows_tied_but_for_a_negative_zero_cost_is_the_same_bytes_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let row = company()
        .1
        .slice(0, 1)
        .lazy()
        .with_column(lit(NULL).cast(DataType::String).alias("request_id"));
    let with_cost = |cost: f64| {
        row.clone()
            .with_column(lit(cost).alias("cost_usd"))
            .collect()
            .unwrap()
    };
    let (negative, positive) = (with_cost(-0.0), with_cost(0.0));
    let mut ingested = Vec::new();
    for (name, first, second) in [("a", &negative, &positive), ("b", &positive, &negative)] {
        let path = dir.path().join(format!("{name}.parquet"));
        write_parquet(&mut first.vstack(second).unwrap(), &path);
        ingested.push(ingested_bytes(&[path], &[], dir.path()));
    }
    assert!(ingested[0] == ingested[1], "the order of the rows shows");
    let costs = parquet_rows(ingested.remove(0));
    let signs: Vec<bool> = costs
        .column("cost_usd")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|c| c.unwrap().is_sign_negative())
        .collect();
    assert_eq!(signs, [false, false]);
}

/// `ingest --to` collapses copies as the rows stream and sorts a day at a time. Copies of the
/// first and last requests far apart (in other files, read before and after the rest) and a
/// budget of no rows in memory (every day through a temporary file) give the same bytes as
/// the plain run, and the rows are those of the collapse written as one plan.
#[test]
fn ingest_streamed_by_day_writes_the_rows_of_the_one_plan_collapse() {
    use tokenaudit::audit::pipeline;
    let dir = tempfile::tempdir().unwrap();
    let frame = &company().1;
    let n = frame.height() as i64;
    // Later copies of the first and last rows with more output: they collapse to the first
    // copy's time and the larger count.
    let later = |row: i64| {
        frame
            .slice(row, 1)
            .lazy()
            .with_columns([
                (col("ts") + lit(Duration::parse("36h"))).alias("ts"),
                (col("output_tokens") + lit(7)).alias("output_tokens"),
            ])
            .collect()
            .unwrap()
    };
    let (mut first, mut last, mut body) = (later(0), later(n - 1), shuffled(frame, 3));
    let paths = [
        dir.path().join("a.parquet"),
        dir.path().join("b.parquet"),
        dir.path().join("c.parquet"),
    ];
    write_parquet(&mut last, &paths[0]);
    write_parquet(&mut body, &paths[1]);
    write_parquet(&mut first, &paths[2]);
    let plain = ingested_bytes(&paths, &[], dir.path());
    let on_disk = ingested_bytes(&paths, &["--rows-in-memory-mb", "0"], dir.path());
    assert!(
        plain == on_disk,
        "the Parquet bytes differ with the rows on disk"
    );
    let written = parquet_rows(plain);
    assert_eq!(
        written.height(),
        parquet_rows(ingested_original().clone()).height()
    );

    let input = InputSettings {
        usage: paths.iter().map(|p| p.display().to_string()).collect(),
        ..InputSettings::default()
    };
    let sources = pipeline::sources(&input).unwrap();
    let columns: Vec<Expr> = tokenaudit::schema::USAGE
        .iter()
        .filter(|c| c.name != "cost_usd")
        .map(|c| col(c.name))
        .collect();
    let oracle = sources
        .usage_normalized(&input.calendar)
        .unwrap()
        .select(columns.clone())
        .collect()
        .unwrap();
    let written = written.lazy().select(columns).collect().unwrap();
    assert_eq!(every_row(&written), every_row(&oracle));
    // The copies collapsed to the earliest time and the largest count.
    let first_id = frame
        .column("request_id")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap();
    let row = written
        .clone()
        .lazy()
        .filter(col("request_id").eq(lit(first_id)))
        .collect()
        .unwrap();
    let copies = frame
        .clone()
        .lazy()
        .filter(col("request_id").eq(lit(first_id)))
        .select([
            col("ts").min(),
            col("output_tokens").cast(DataType::UInt64).max(),
        ])
        .collect()
        .unwrap();
    assert_eq!(row.height(), 1);
    let output = |f: &DataFrame| {
        f.column("output_tokens")
            .unwrap()
            .cast(&DataType::UInt64)
            .unwrap()
            .u64()
            .unwrap()
            .get(0)
    };
    assert_eq!(
        row.column("ts").unwrap().get(0).unwrap(),
        copies.column("ts").unwrap().get(0).unwrap()
    );
    let later_copy = output(&frame.slice(0, 1)).map(|n| n + 7);
    assert_eq!(output(&row), output(&copies).max(later_copy));
}

/// The stats the fold computes with request ids and prompts spilled to disk equal those it
/// computes in memory, and both agree with an independent polars group-by over the
/// deduplicated rows: tokens by class, requests and distinct sessions per agent-week.
#[test]
fn bounded_and_plain_stats_give_the_same_agent_week_table() {
    use tokenaudit::audit::pipeline;
    use tokenaudit::features::{self, Limits};
    let dir = company().0.path();
    let input = InputSettings {
        usage: vec![dir.join("usage.parquet").display().to_string()],
        identities: Some(dir.join("identities.csv")),
        ..InputSettings::default()
    };
    let sources = pipeline::sources(&input).unwrap();
    let compute = |keys_in_memory: usize| {
        features::compute(
            &sources,
            &input.calendar,
            Some(tokenaudit::detect::DEFAULT_SNAPSHOT),
            Limits {
                keys_in_memory,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let plain = compute(usize::MAX);
    let bounded = compute(32);
    assert_eq!(plain.keys_spilled, 0);
    assert!(bounded.keys_spilled > 1_000, "{}", bounded.keys_spilled);
    assert_eq!(plain.stats, bounded.stats);
    assert_eq!(plain.usage_deduplicated, bounded.usage_deduplicated);

    // The agent-week table of the stats, against polars on the deduplicated rows.
    let mut from_stats: std::collections::BTreeMap<(String, i32), [u64; 6]> = Default::default();
    for day in &plain.stats.days {
        let week = (day.day + 3).div_euclid(7) * 7 - 3; // Monday weeks
        let entry = from_stats.entry((day.agent.clone(), week)).or_default();
        entry[0] += day.tokens.input;
        entry[1] += day.tokens.output;
        entry[2] += day.tokens.cache_read;
        entry[3] += day.tokens.cache_write;
        entry[4] += day.requests;
    }
    for sessions in &plain.stats.sessions {
        from_stats
            .get_mut(&(sessions.agent.clone(), sessions.week))
            .expect("sessions of a week with usage")[5] = sessions.sessions;
    }
    let oracle = sources
        .usage_normalized(&input.calendar)
        .unwrap()
        .group_by([col("agent"), col("_week")])
        .agg([
            col("input_tokens").cast(DataType::UInt64).sum(),
            col("output_tokens").cast(DataType::UInt64).sum(),
            col("cache_read_tokens").cast(DataType::UInt64).sum(),
            col("cache_write_tokens").cast(DataType::UInt64).sum(),
            col("requests").cast(DataType::UInt64).sum(),
            col("session_id")
                .drop_nulls()
                .n_unique()
                .cast(DataType::UInt64),
        ])
        .collect()
        .unwrap();
    assert_eq!(oracle.height(), from_stats.len());
    let agents = oracle.column("agent").unwrap().str().unwrap();
    let weeks = oracle
        .column("_week")
        .unwrap()
        .cast(&DataType::Int32)
        .unwrap();
    let weeks = weeks.i32().unwrap();
    let names = [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "requests",
        "session_id",
    ];
    for row in 0..oracle.height() {
        let key = (
            agents.get(row).unwrap().to_string(),
            weeks.get(row).unwrap(),
        );
        let mut expected = [0u64; 6];
        for (slot, name) in names.iter().enumerate() {
            expected[slot] = oracle
                .column(name)
                .unwrap()
                .u64()
                .unwrap()
                .get(row)
                .unwrap();
        }
        assert_eq!(from_stats.get(&key), Some(&expected), "{key:?}");
    }
}

/// The stats contract is mergeable by week: the stats of the first weeks and of the rest,
/// computed apart and merged, are the stats of the whole; stats of one agent-week from two
/// producers are refused.
#[test]
fn stats_of_disjoint_weeks_merge_into_the_stats_of_the_whole() {
    use tokenaudit::audit::pipeline;
    use tokenaudit::features::{self, Limits, Stats};
    let dir = tempfile::tempdir().unwrap();
    let frame = &company().1;
    // Week boundaries are Monday 00:00 UTC; cut at the second Monday of the data.
    let first_day = frame
        .column("ts")
        .unwrap()
        .as_materialized_series()
        .min::<i64>()
        .unwrap()
        .unwrap()
        / 86_400_000_000;
    let monday = (first_day + 3).div_euclid(7) * 7 - 3 + 7;
    let cut = monday * 86_400_000_000;
    let part = |keep_early: bool, name: &str| -> PathBuf {
        let ts = col("ts").cast(DataType::Int64);
        let predicate = if keep_early {
            ts.lt(lit(cut))
        } else {
            ts.gt_eq(lit(cut))
        };
        let mut rows = frame.clone().lazy().filter(predicate).collect().unwrap();
        assert!(rows.height() > 0);
        let path = dir.path().join(name);
        write_parquet(&mut rows, &path);
        path
    };
    let stats = |usage: Vec<PathBuf>| -> Stats {
        let input = InputSettings {
            usage: usage.iter().map(|p| p.display().to_string()).collect(),
            outputs: vec![company().0.path().join("outputs.csv").display().to_string()],
            identities: Some(company().0.path().join("identities.csv")),
            ..InputSettings::default()
        };
        let sources = pipeline::sources(&input).unwrap();
        features::compute(
            &sources,
            &input.calendar,
            Some(tokenaudit::detect::DEFAULT_SNAPSHOT),
            Limits::default(),
        )
        .unwrap()
        .stats
    };
    let (early, late) = (part(true, "early.parquet"), part(false, "late.parquet"));
    let whole = stats(vec![company().0.path().join("usage.parquet")]);
    let mut first = stats(vec![early.clone()]);
    let mut rest = stats(vec![late]);
    // Outputs are read whole by both; keep each part's own weeks.
    first.outputs.retain(|o| i64::from(o.week) < monday);
    rest.outputs.retain(|o| i64::from(o.week) >= monday);
    assert!(!first.sessions.is_empty() && !rest.sessions.is_empty());
    let merged = first.clone().merge(rest).unwrap();
    assert_eq!(merged, whole);
    let overlap = first.clone().merge(stats(vec![early])).unwrap_err();
    assert_eq!(overlap.agent, first.sessions[0].agent);
}

/// A run killed while its rows and keys are on disk (a CI job's timeout, `kill -9`) cannot
/// remove its temporary folders; the next run that writes to disk does, and leaves nothing of
/// its own.
#[cfg(unix)]
#[test]
fn the_temporary_folders_of_a_killed_run_are_removed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let company = dir.path().join("company");
    crate::tokenaudit()
        .args([
            "generate", "-q", "--agents", "12", "--weeks", "8", "--seed", "6",
        ])
        .args(["--requests-per-week", "300", "--out"])
        .arg(&company)
        .assert()
        .success();
    let temp = dir.path().join("tmp");
    std::fs::create_dir(&temp).unwrap();
    let ours = |temp: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = std::fs::read_dir(temp)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("tokenaudit-")
            })
            .collect();
        found.sort();
        found
    };
    let binary = assert_cmd::cargo::cargo_bin("tokenaudit");
    // Every key and every row through disk: the run writes its folders at once and is slow.
    let run = |temp: &std::path::Path| {
        let mut command = std::process::Command::new(&binary);
        command
            .env("TMPDIR", temp)
            .args(["audit", "-q", "--format", "json", "--keys-in-memory", "1"])
            .args(["--rows-in-memory-mb", "0", "--usage"])
            .arg(company.join("usage.parquet"))
            .arg("--outputs")
            .arg(company.join("outputs.csv"))
            .stdout(std::process::Stdio::null());
        command
    };
    let mut child = run(&temp).spawn().unwrap();
    let started = std::time::Instant::now();
    while ours(&temp).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before writing to disk"
        );
        assert!(
            started.elapsed().as_secs() < 120,
            "no temporary folder appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = ours(&temp);
    assert!(!left.is_empty());
    // Another run, of another tool's folder too, beside them.
    let unrelated = temp.join("tokenaudit-not-a-run");
    std::fs::create_dir(&unrelated).unwrap();
    let output = run(&temp).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(ours(&temp), vec![unrelated], "left behind: {left:?}");
}
