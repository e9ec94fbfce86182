//! What each adapter makes of its fixture, snapshotted: the first canonical rows, every
//! quarantined row (line, column, value, reason) and the records skipped on purpose, so that a
//! change in any mapping shows up in review. The fixture list is also what `fuzz.rs` mutates.

use std::path::PathBuf;

use polars::prelude::*;
use tokenaudit::audit::pipeline;
use tokenaudit::audit::InputSettings;
use tokenaudit::ingest::canonical::ROW;
use tokenaudit::ingest::Format;
use tokenaudit::schema::Table;

/// One fixture file of one adapter.
pub struct FixtureFile {
    pub path: PathBuf,
    pub table: Table,
    pub format: Format,
}

/// A file of every vendor adapter's fixture (the canonical formats are written by `fuzz.rs`),
/// with the table it is given for and its format.
pub fn vendor_fixtures() -> Vec<FixtureFile> {
    let usage = [
        ("anthropic-cost/page1.json", "anthropic-cost"),
        ("anthropic-usage/page1.json", "anthropic-usage"),
        (
            "claude-code-analytics/2026-09-07/page1.json",
            "claude-code-analytics",
        ),
        (
            "claude-code/eli/.claude/projects/-Users-eli-work-web/02ad9d2b-004b-4fd0-99df-209bca5d5e7d.jsonl",
            "claude-code",
        ),
        ("copilot/users-1-day-2026-10-09.ndjson", "copilot"),
        ("cursor/events/usage-events-p1.json", "cursor-events"),
        ("cursor/dashboard/usage-events-2026-10-08.csv", "cursor-csv"),
        ("litellm/spendlogs-2026-10-05.csv", "litellm"),
        ("openai-costs/costs-2026-10-05.json", "openai-costs"),
        ("openai-usage/completions-2026-10-05-p1.json", "openai-usage"),
        ("otel/collector/claude-code.jsonl", "otel"),
        ("otel/traces/support-agent.json", "otel"),
        ("quarantine/usage.csv", "csv"),
    ];
    let outputs = [
        ("cursor/daily/daily-usage-2026-10-05.json", "cursor-daily"),
        ("github-prs/gh-pr-list.json", "github-prs"),
        ("github-prs/rest-pulls.json", "github-prs"),
        ("jira/issues.csv", "jira-csv"),
        ("linear/issues.csv", "linear-csv"),
    ];
    let file = |(path, format): (&str, &str), table| FixtureFile {
        path: crate::fixtures().join(path),
        table,
        format: Format::parse(format).unwrap(),
    };
    usage
        .into_iter()
        .map(|f| file(f, Table::Usage))
        .chain(outputs.into_iter().map(|f| file(f, Table::Outputs)))
        .collect()
}

/// The first `rows` rows of a frame (all when `None`) as CSV text.
fn csv_text(frame: LazyFrame, rows: Option<u32>) -> String {
    let frame = match rows {
        Some(n) => frame.limit(n),
        None => frame,
    };
    let mut frame = frame
        .collect_with_engine(Engine::Streaming)
        .unwrap()
        .unwrap_single();
    let mut out = Vec::new();
    CsvWriter::new(&mut out).finish(&mut frame).unwrap();
    String::from_utf8(out).unwrap()
}

/// The snapshot of one fixture: its canonical rows (the first eight), quarantine and skips.
fn what_the_adapter_makes(fixture: &FixtureFile) -> String {
    let given = vec![fixture.path.display().to_string()];
    let input = match fixture.table {
        Table::Usage => InputSettings {
            usage: given,
            usage_format: Some(fixture.format),
            ..InputSettings::default()
        },
        Table::Outputs => InputSettings {
            usage: vec![crate::fixture("quarantine/usage.csv")],
            outputs: given,
            outputs_format: Some(fixture.format),
            ..InputSettings::default()
        },
    };
    let sources = pipeline::sources(&input).unwrap();
    let mut text = String::new();
    for checked in &sources.checked {
        let file = &sources.files[checked.file_index() as usize];
        if file.path != fixture.path {
            continue;
        }
        let table = checked.table().name();
        let canonical: Vec<Expr> = checked
            .table()
            .columns()
            .iter()
            .map(|c| col(c.name))
            .collect();
        let rows = checked.valid().select(canonical);
        text += &format!("## {table} rows (the first 8)\n");
        text += &csv_text(rows, Some(8));
        text += &format!("## {table} quarantine\n");
        let quarantined =
            checked
                .quarantined()
                .select([col(ROW), col("column"), col("value"), col("reason")]);
        text += &csv_text(quarantined, None);
    }
    text += "## skipped on purpose\n";
    for (reason, count) in &sources.skipped {
        text += &format!("{reason}: {count}\n");
    }
    text
}

#[test]
fn every_adapter_maps_its_fixture_as_snapshotted() {
    for fixture in vendor_fixtures() {
        let relative = fixture
            .path
            .strip_prefix(crate::fixtures())
            .unwrap()
            .display()
            .to_string();
        let name = format!(
            "{}-{}",
            fixture.format.source_name(),
            relative.replace(['/', '.'], "_")
        );
        insta::with_settings!({ description => relative.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name, what_the_adapter_makes(&fixture));
        });
    }
}

#[test]
fn every_format_in_the_registry_recognises_its_own_files() {
    // Content first, then extension, then text: each vendor fixture is found by its content
    // whatever other format shares its extension, and every format of the registry has a file
    // here (a new adapter without a fixture fails this test).
    let mut files: Vec<(PathBuf, Format)> = vendor_fixtures()
        .into_iter()
        .map(|f| (f.path, f.format))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let canonical = [
        ("usage.parquet", &b"PAR1\x15\x04"[..], "parquet"),
        ("usage.arrow", &b"ARROW1\x00\x00"[..], "ipc"),
        ("usage.log", &b"  {\"ts\": \"2026-01-01\"}\n"[..], "ndjson"),
        ("usage.txt", &b"ts,agent\n"[..], "csv"),
        // A Parquet file named .csv is still Parquet.
        ("named-wrong.csv", &b"PAR1\x15\x04"[..], "parquet"),
    ];
    for (name, bytes, format) in canonical {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        files.push((dir.path().join(name), Format::parse(format).unwrap()));
    }
    files.push((
        crate::fixtures().join("git/shop.git"),
        Format::parse("git").unwrap(),
    ));
    for (path, format) in &files {
        let found = tokenaudit::ingest::detect_format(path).unwrap();
        assert_eq!(found, *format, "{}", path.display());
    }
    for format in Format::all() {
        assert!(
            files.iter().any(|(_, f)| *f == format),
            "{format} has no file in this test"
        );
    }
}
