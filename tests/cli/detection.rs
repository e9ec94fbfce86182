//! The detection engine on generated companies with a planted truth, scored by
//! `tokenaudit eval`. Seeds are fixed and consecutive, not chosen; the thresholds are the
//! numbers measured on them (README, "What the detector can and cannot see"), so a change that
//! makes detection worse fails here.

use std::collections::BTreeMap;

use tokenaudit::audit::eval::{evaluate, ArchetypeScore};
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

fn audit(settings: GenerateSettings) -> (Vec<ArchetypeScore>, Vec<String>) {
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
    let evaluation = evaluate(dir.path(), audit).unwrap();
    (evaluation.archetypes, evaluation.severities)
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
    for seed in 1..=6 {
        for a in audit(company(seed, 12, 400.0, true)).0 {
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
    eprintln!("6 seeds: precision {precision:.2} ({found}/{flagged}), recall {recall:.2} ({found}/{inflators})");
    for (name, v) in &pooled {
        eprintln!("  {name:<18} {}/{}", v.flagged, v.planted);
    }
    // Measured: precision 1.00 (29/29), recall 0.69 (29/42). The recall target is 0.9;
    // see the README for why the peer and history lenses miss what they miss.
    assert!(precision >= 0.9, "precision {precision:.2}");
    assert!(recall >= 0.65, "recall {recall:.2}");
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
    // The peer and history lenses find a third of theirs (measured: 2 of 6 each). Their signal
    // is output short of what the spend should buy, against honest agents who differ in output
    // per dollar by their skill and by weekly counting noise.
    for archetype in ["constant_inflater", "slow_drifter", "onset_inflater"] {
        let v = &pooled[archetype];
        assert!(
            v.flagged * 3 >= v.planted,
            "{archetype}: {}/{}",
            v.flagged,
            v.planted
        );
    }
    // The target: at most 5% of each look-alike group (measured: none flagged).
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
    let regular = pooled.get("regular").map_or(0, |v| v.flagged);
    assert!(regular <= 1, "{regular} regular agents flagged");
}

#[test]
fn an_honest_company_gets_no_medium_or_high_finding() {
    // 20 seeds of a company with no inflators. The target: no medium or high finding in
    // 19. Measured: in none of the 20 (two low findings in all).
    let mut clean = 0;
    for seed in 101..=120 {
        let (_, severities) = audit(company(seed, 8, 200.0, false));
        if severities.iter().all(|s| s == "low") {
            clean += 1;
        }
    }
    eprintln!("null population: {clean}/20 seeds without a medium or high finding");
    assert!(clean >= 19, "{clean}/20");
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
