//! The detection engine on generated companies with a planted truth, scored by
//! `tokenaudit eval`. Seeds are fixed and consecutive, not chosen; the thresholds are the
//! numbers measured on them (README, "What the detector can and cannot see"), so a change that
//! makes detection worse fails here.

use std::collections::BTreeMap;

use tokenaudit::audit::eval::{evaluate, Evaluation};
use tokenaudit::audit::{AuditSettings, Verbosity};
use tokenaudit::generate::{self, GenerateSettings};

/// A quarter of history for 60 agents, at the generator's default request rate.
fn company(seed: u64, weeks: u32, requests_per_week: f64, inflators: bool) -> GenerateSettings {
    GenerateSettings {
        agents: 60,
        weeks,
        seed,
        requests_per_week,
        inflators,
        verbosity: Verbosity::Quiet,
        ..GenerateSettings::default()
    }
}

fn audit(settings: GenerateSettings) -> Evaluation {
    let dir = tempfile::tempdir().unwrap();
    generate::write(&GenerateSettings {
        out: dir.path().to_path_buf(),
        ..settings
    })
    .unwrap();
    let audit = AuditSettings {
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    };
    evaluate(dir.path(), audit).unwrap()
}

#[derive(Default, Debug)]
struct Pooled {
    planted: usize,
    flagged: usize,
    inflator: bool,
}

#[test]
fn planted_inflators_are_found_and_look_alikes_spared() {
    let mut pooled: BTreeMap<String, Pooled> = BTreeMap::new();
    let (mut week_precision, mut week_recall) = (1.0_f64, 1.0_f64);
    for seed in 1..=12 {
        let evaluation = audit(company(seed, 12, 400.0, true));
        week_precision = week_precision.min(evaluation.week_precision);
        week_recall = week_recall.min(evaluation.week_recall);
        for a in evaluation.archetypes {
            let entry = pooled.entry(a.archetype.clone()).or_default();
            entry.planted += a.agents;
            entry.flagged += a.flagged;
            entry.inflator = a.inflator;
        }
    }
    let sum = |f: &dyn Fn(&Pooled) -> usize| pooled.values().map(f).sum::<usize>();
    let inflators = sum(&|v| if v.inflator { v.planted } else { 0 });
    let found = sum(&|v| if v.inflator { v.flagged } else { 0 });
    let flagged = sum(&|v| v.flagged);
    let recall = found as f64 / inflators as f64;
    let precision = found as f64 / flagged.max(1) as f64;
    eprintln!("12 seeds: precision {precision:.2} ({found}/{flagged}), recall {recall:.2} ({found}/{inflators})");
    for (name, v) in &pooled {
        eprintln!("  {name:<18} {}/{}", v.flagged, v.planted);
    }
    // Measured: precision 0.95 (78/82), recall 0.93 (78/84): the targets. On twelve
    // seeds held out while the lenses were tuned (13-24): precision 0.96, recall 0.88 (README).
    assert!(precision >= 0.9, "precision {precision:.2}");
    assert!(recall >= 0.9, "recall {recall:.2}");
    // What the behaviour lens sees, it finds.
    for archetype in [
        "loop_bot",
        "context_stuffer",
        "snapshot_spiker",
        "parallel_burner",
    ] {
        let v = &pooled[archetype];
        assert!(
            v.flagged * 6 >= v.planted * 5,
            "{archetype}: {}/{}",
            v.flagged,
            v.planted
        );
    }
    // The peer lens finds eight of its twelve constant inflaters, the history lens eleven or
    // more of its drifters and onset inflaters (measured: 8, 12 and 11 of 12). Their signal is
    // output short of what the spend should buy, against honest agents who differ in output
    // per dollar by their skill and by weekly counting noise.
    for (archetype, found, of) in [
        ("constant_inflater", 8, 12),
        ("slow_drifter", 11, 12),
        ("onset_inflater", 11, 12),
    ] {
        let v = &pooled[archetype];
        assert!(
            v.flagged * of >= v.planted * found,
            "{archetype}: {}/{}",
            v.flagged,
            v.planted
        );
    }
    // The target: at most 5% of each look-alike group (measured: one heavy but
    // productive user of 36, a low finding from the recent-window peer comparison).
    for look_alike in [
        "heavy_productive",
        "tiny",
        "service",
        "honest_ramp_up",
        "vacation",
        "few_artifacts",
        "aliased",
    ] {
        let v = &pooled[look_alike];
        assert!(v.planted >= 6, "{look_alike} is planted ({})", v.planted);
        assert!(
            v.flagged * 20 <= v.planted,
            "{look_alike}: {}/{} flagged",
            v.flagged,
            v.planted
        );
    }
    // Measured: three regular agents of about 380, all low.
    let regular = pooled.get("regular").map_or(0, |v| v.flagged);
    assert!(regular <= 3, "{regular} regular agents flagged");
    // The weeks each finding is about (its weekly q ≤ 0.1): inflated ones, and how many of the
    // inflated weeks. Measured, worst seed: precision 0.91 (honest first weeks of drifters and
    // onset inflaters, named by the whole-period peer comparison), recall 0.81 (inflaters
    // caught by the recent window or by some weeks of a fingerprint only).
    eprintln!("weeks named: precision {week_precision:.2}, recall {week_recall:.2} (worst seed)");
    assert!(week_precision >= 0.9, "week precision {week_precision:.2}");
    assert!(week_recall >= 0.8, "week recall {week_recall:.2}");
}

#[test]
fn an_honest_company_gets_no_medium_or_high_finding() {
    // 20 seeds of a company with no inflators, in two shapes: eight weeks at half the default
    // request rate, and a quarter at the default rate like the planted companies above. The
    // issue's target: no medium or high finding in 19 of 20. Measured: in none of the 20, in
    // both (one and two low findings).
    for (seeds, weeks, requests_per_week) in [(101..=120, 8, 200.0), (201..=220, 12, 400.0)] {
        let mut clean = 0;
        for seed in seeds {
            let severities = audit(company(seed, weeks, requests_per_week, false)).severities;
            if severities.iter().all(|s| s == "low") {
                clean += 1;
            }
        }
        eprintln!(
            "null population, {weeks} weeks: {clean}/20 seeds without a medium or high finding"
        );
        assert!(clean >= 19, "{weeks} weeks: {clean}/20");
    }
}

/// Thirteen people on the same model; one sends its trivial turns (a few output tokens each)
/// to a model five times the price. Only the costly-model fingerprint can see it: the rest of
/// its work is priced and delivered like its peers'.
#[test]
fn trivial_turns_on_a_costly_model_are_flagged_end_to_end() {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let (mut usage, mut outputs) = (
        String::from("ts,agent,model,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,requests,session_id\n"),
        String::from("ts,agent,kind,amount,ref\n"),
    );
    let people: Vec<String> = (1..=13).map(|i| format!("dev{i:02}")).collect();
    for (i, person) in people.iter().enumerate() {
        let trivial_model = if person == "dev07" {
            "claude-opus-4-1"
        } else {
            "claude-sonnet-4-5-20250929"
        };
        for week in 0..3 {
            for day in 0..4 {
                let date = chrono::NaiveDate::from_ymd_opt(2026, 9, 7).unwrap()
                    + chrono::Duration::days(7 * week + day);
                for turn in 0..10 {
                    let ts = format!("{date}T{:02}:{:02}:00Z", 9 + turn / 2, (turn % 2) * 20 + i);
                    let session = format!("{person}-{week}-{day}");
                    // Every other turn is trivial: a few dozen output tokens.
                    if turn % 2 == 0 {
                        writeln!(
                            usage,
                            "{ts},{person},{trivial_model},400,{},20000,0,1,{session}",
                            30 + turn
                        )
                        .unwrap();
                    } else {
                        writeln!(usage, "{ts},{person},claude-sonnet-4-5-20250929,3000,1500,90000,8000,1,{session}").unwrap();
                    }
                }
                writeln!(
                    outputs,
                    "{date}T18:00:00Z,{person},commit,2,{person}-{week}-{day}"
                )
                .unwrap();
            }
        }
    }
    std::fs::write(dir.path().join("usage.csv"), usage).unwrap();
    std::fs::write(dir.path().join("outputs.csv"), outputs).unwrap();
    // The excess is tens of dollars: below the default materiality floor, so it is lowered.
    std::fs::write(
        dir.path().join("tokenaudit.toml"),
        "[detect]\nmateriality_usd = 1\n",
    )
    .unwrap();
    let output = super::tokenaudit()
        .current_dir(dir.path())
        .args([
            "audit",
            "--usage",
            "usage.csv",
            "--outputs",
            "outputs.csv",
            "--config",
            "tokenaudit.toml",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let report = super::json(&output);
    let findings = report["findings"].as_array().unwrap();
    let flagged: Vec<&str> = findings
        .iter()
        .map(|f| f["agent"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["dev07"], "{findings:#?}");
    let reason = findings[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "TA307")
        .expect("TA307 among the reasons");
    // Opus 4.1 at list price: 400 input, ~34 output and 20,000 cache-read tokens per turn.
    let observed = reason["observed"].as_f64().unwrap();
    let expected = reason["expected"].as_f64().unwrap();
    assert!((observed / expected - 5.0).abs() < 0.1, "{reason}");
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .starts_with("60 of 120 turns are trivial"),
        "{reason}"
    );
}

/// The names a TA308 reason lists after its colon, without their status.
fn group_members(message: &str) -> Vec<String> {
    let (_, names) = message.split_once(": ").expect("a list of agents");
    names
        .split(", ")
        .filter(|part| !part.starts_with("and "))
        .map(|part| {
            part.rsplit_once(" (")
                .map_or(part, |(name, _)| name)
                .to_string()
        })
        .collect()
}

/// A company large enough to plant four agents of each inflator archetype: the fingerprint
/// groups (TA308) gather the flagged loop bots, snapshot spikers, context stuffers and parallel
/// burners with their own kind, and never with an honest agent.
#[test]
fn fingerprint_groups_gather_inflators_of_one_kind() {
    let dir = tempfile::tempdir().unwrap();
    generate::write(&GenerateSettings {
        agents: 200,
        weeks: 8,
        seed: 7,
        requests_per_week: 200.0,
        out: dir.path().to_path_buf(),
        verbosity: Verbosity::Quiet,
        ..GenerateSettings::default()
    })
    .unwrap();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    let archetype: BTreeMap<String, String> = truth["planted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["agent"].as_str().unwrap().to_string(),
                p["archetype"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let kind_of = |agent: &str| archetype.get(agent).map_or("regular", String::as_str);
    let output = super::tokenaudit()
        .current_dir(dir.path())
        .args([
            "audit",
            "--usage",
            "usage.parquet",
            "--outputs",
            "outputs.csv",
            "--identities",
            "identities.csv",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let report = super::json(&output);
    let behavioural = [
        "loop_bot",
        "snapshot_spiker",
        "context_stuffer",
        "parallel_burner",
    ];
    let (mut eligible, mut grouped) = (0, 0);
    for finding in report["findings"].as_array().unwrap() {
        let agent = finding["agent"].as_str().unwrap();
        let groups: Vec<&serde_json::Value> = finding["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["code"] == "TA308")
            .collect();
        if behavioural.contains(&kind_of(agent)) {
            eligible += 1;
            grouped += usize::from(!groups.is_empty());
        }
        for reason in groups {
            let message = reason["message"].as_str().unwrap();
            for member in group_members(message) {
                assert_eq!(
                    kind_of(&member),
                    kind_of(agent),
                    "{agent} grouped with {member}: {message}"
                );
            }
        }
    }
    eprintln!("{grouped} of {eligible} flagged behavioural inflators carry a fingerprint group");
    // Measured: 12 of 12 flagged, all grouped.
    assert!(
        eligible >= 10,
        "only {eligible} behavioural inflators flagged"
    );
    assert!(
        grouped * 10 >= eligible * 9,
        "{grouped} of {eligible} grouped"
    );
}
