//! The efficiency lens on generated companies with a planted truth: what it can see it finds,
//! and the honest look-alikes (heavy but productive users, tiny users, service accounts) are
//! not flagged. Seeds are fixed and consecutive, not chosen. Scoring is `tokenaudit eval`'s.

use std::collections::BTreeMap;

use tokenaudit::audit::eval::{evaluate, ArchetypeScore};
use tokenaudit::audit::{AuditSettings, Verbosity};
use tokenaudit::generate::{self, GenerateSettings};

fn archetypes_of_seed(seed: u64) -> Vec<ArchetypeScore> {
    let dir = tempfile::tempdir().unwrap();
    generate::write(&GenerateSettings {
        agents: 60,
        weeks: 8,
        seed,
        requests_per_week: 120.0,
        out: dir.path().to_path_buf(),
        verbosity: Verbosity::Quiet,
        ..GenerateSettings::default()
    })
    .unwrap();
    let settings = AuditSettings {
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    };
    evaluate(dir.path(), settings).unwrap().archetypes
}

#[derive(Default)]
struct Pooled {
    planted: usize,
    flagged: usize,
    inflator: bool,
    visible: bool,
}

#[test]
fn efficiency_finds_what_it_can_see_and_spares_look_alikes() {
    let mut pooled: BTreeMap<String, Pooled> = BTreeMap::new();
    for seed in 1..=6 {
        for a in archetypes_of_seed(seed) {
            let entry = pooled.entry(a.archetype.clone()).or_default();
            entry.planted += a.agents;
            entry.flagged += a.flagged;
            entry.inflator = a.inflator;
            entry.visible = a.visible_to.iter().any(|lens| lens == "efficiency");
        }
    }
    let visible: usize = pooled
        .values()
        .filter(|v| v.visible)
        .map(|v| v.planted)
        .sum();
    let found: usize = pooled
        .values()
        .filter(|v| v.visible)
        .map(|v| v.flagged)
        .sum();
    let flagged: usize = pooled.values().map(|v| v.flagged).sum();
    let flagged_inflators: usize = pooled
        .values()
        .filter(|v| v.inflator)
        .map(|v| v.flagged)
        .sum();
    let recall = found as f64 / visible as f64;
    let precision = flagged_inflators as f64 / flagged.max(1) as f64;
    eprintln!("efficiency lens over 6 seeds: recall {recall:.2} ({found}/{visible}), precision {precision:.2} ({flagged_inflators}/{flagged})");
    // Measured on these seeds: see the README's detection section for the numbers.
    assert!(recall >= 0.5, "recall {recall:.2}");
    assert!(precision >= 0.9, "precision {precision:.2}");
    for look_alike in ["heavy_productive", "tiny", "service", "regular"] {
        let wrongly = pooled.get(look_alike).map_or(0, |v| v.flagged);
        assert_eq!(wrongly, 0, "{look_alike} agents were flagged");
    }
    let heavy = pooled.get("heavy_productive").map_or(0, |v| v.planted);
    assert!(heavy >= 12, "the seeds plant heavy users ({heavy})");
}
