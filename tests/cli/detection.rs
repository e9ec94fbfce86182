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
    assert!(precision >= 0.9, "precision {precision:.2}");
    assert!(recall >= 0.8, "recall {recall:.2}");
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
    // The peer and history lenses find at least half of theirs.
    for archetype in ["constant_inflater", "slow_drifter", "onset_inflater"] {
        let v = &pooled[archetype];
        assert!(
            v.flagged * 2 >= v.planted,
            "{archetype}: {}/{}",
            v.flagged,
            v.planted
        );
    }
    // Measured: at most one agent of any look-alike group (1/12 honest ramp-ups); the issue's
    // target of 5% per group is not met yet for groups of 12.
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
            v.flagged * 10 <= v.planted,
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
    // 20 seeds of a company with no inflators. Measured: no medium or high finding in 18; the
    // issue's target is 19.
    let mut clean = 0;
    for seed in 101..=120 {
        let (_, severities) = audit(company(seed, 8, 200.0, false));
        if severities.iter().all(|s| s == "low") {
            clean += 1;
        }
    }
    eprintln!("null population: {clean}/20 seeds without a medium or high finding");
    assert!(clean >= 18, "{clean}/20");
}
