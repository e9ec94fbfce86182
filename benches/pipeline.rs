//! criterion benches for the two halves of an audit: the lazy plan (ingest → features, both
//! streaming passes) on a generated company, and detection on a large agent-week table.
//!
//! `cargo bench --bench pipeline`; numbers are in BENCHMARKS.md.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use tokenaudit::audit::{pipeline, InputSettings, Verbosity};
use tokenaudit::detect::{self, DetectConfig};
use tokenaudit::features::{AgentWeek, BehaviorWeek};
use tokenaudit::generate::{self, GenerateSettings};
use tokenaudit::normalize::identities::AgentKind;
use tokenaudit::normalize::pricing::Tokens;

fn ingest_and_features(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // 55 agents x 26 weeks: about 1.1M requests.
    generate::write(&GenerateSettings {
        agents: 55,
        weeks: 26,
        seed: 1,
        out: dir.path().to_path_buf(),
        verbosity: Verbosity::Quiet,
        ..GenerateSettings::default()
    })
    .unwrap();
    let path = |name: &str| dir.path().join(name);
    let input = InputSettings {
        usage: vec![path("usage.parquet").display().to_string()],
        outputs: vec![path("outputs.csv").display().to_string()],
        identities: Some(path("identities.csv")),
        ..InputSettings::default()
    };
    let mut group = c.benchmark_group("ingest_features");
    group.sample_size(10);
    group.bench_function("1.1M requests", |b| {
        b.iter(|| {
            let sources = pipeline::sources(&input).unwrap();
            pipeline::collect(
                &sources,
                &input.calendar,
                Some(detect::DEFAULT_SNAPSHOT),
                input.limits,
            )
            .unwrap()
        })
    });
    group.finish();
}

/// 10,000 agents x 26 weeks, in 100 teams, with output following spend and a few inflators.
fn agent_weeks(agents: usize, weeks: u32) -> Vec<AgentWeek> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut table = Vec::with_capacity(agents * weeks as usize);
    for agent in 0..agents {
        let level: f64 = rng.gen_range(10.0..200.0);
        let burn = if agent % 97 == 0 { 10.0 } else { 1.0 };
        for week in 0..weeks {
            let cost = level * rng.gen_range(0.7..1.3);
            let index = 3.3 * cost.powf(0.45) * rng.gen_range(0.8..1.2);
            table.push(AgentWeek {
                agent: format!("agent-{agent:05}"),
                team: format!("team-{:03}", agent % 100),
                kind: AgentKind::Human,
                week: start + Duration::weeks(i64::from(week)),
                tokens: Tokens {
                    input: 1_000,
                    output: 1_000,
                    cache_read: 10_000,
                    cache_write: 0,
                },
                requests: 200,
                sessions: 12,
                active_days: 5,
                cost_usd: cost * burn,
                billed_cost_usd: 0.0,
                unpriced_tokens: 0,
                outputs: BTreeMap::from([("commit".to_string(), index)]),
                output_index: index,
                trivial_requests: 10,
                trivial_cost_usd: 0.05,
            });
        }
    }
    table
}

/// Request-level fingerprints for every agent-week: working hours on five days, sessions.
fn behavior_weeks(table: &[AgentWeek]) -> Vec<BehaviorWeek> {
    table
        .iter()
        .enumerate()
        .map(|(i, w)| BehaviorWeek {
            agent: w.agent.clone(),
            week: tokenaudit::normalize::calendar::to_day_number(w.week),
            hours: (0..5u8)
                .flat_map(|day| (0..9u8).map(move |h| (day * 24 + 40 + h, 4 + (i % 3) as u64)))
                .collect(),
            bins: 120,
            bin_requests: 200,
            bin_squares: 500,
            bucketed: false,
            prompted: 200,
            distinct_prompts: 199,
            sessions: 12,
            max_simultaneous_starts: 1 + (i % 2) as u64,
            session_rows: 200,
            long_session_rows: 0,
            single_row_sessions: 1,
            rows: 200,
            rows_on_the_hour: 0,
        })
        .collect()
}

fn detection(c: &mut Criterion) {
    let table = agent_weeks(10_000, 26);
    let behavior = behavior_weeks(&table);
    let models = BTreeMap::new();
    // Two teams to a repository, as squads of one area have it.
    let repositories: tokenaudit::features::Repositories = table
        .iter()
        .map(|w| {
            let team: usize = w.team["team-".len()..].parse().unwrap();
            let repo = format!("repo-{:03}", team / 2);
            (w.agent.clone(), BTreeMap::from([(repo, w.output_index)]))
        })
        .collect();
    let evidence = detect::Evidence {
        behavior: &behavior,
        primary_models: &models,
        repositories: &repositories,
    };
    let config = DetectConfig::default();
    let mut group = c.benchmark_group("detect");
    group.sample_size(10);
    group.bench_function("10k agents x 26 weeks", |b| {
        b.iter(|| detect::run(&table, evidence, Default::default(), &config))
    });
    group.finish();
}

criterion_group!(benches, ingest_and_features, detection);
criterion_main!(benches);
