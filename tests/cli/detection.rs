//! The efficiency lens on generated companies with a planted truth: what it can see it finds,
//! and the honest look-alikes (heavy but productive users, tiny users, service accounts) are
//! not flagged. Seeds are fixed and consecutive, not chosen.

use std::collections::BTreeMap;

use tokenaudit::audit::{build_report, AuditSettings, InputSettings, Verbosity};
use tokenaudit::generate::{self, GenerateSettings};

struct Score {
    visible: usize,
    found: usize,
    flagged: usize,
    flagged_inflators: usize,
    flagged_by_archetype: BTreeMap<String, usize>,
    planted_by_archetype: BTreeMap<String, usize>,
}

fn audit_seed(seed: u64) -> Score {
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
    let path = |name: &str| dir.path().join(name);
    let report = build_report(&AuditSettings {
        input: InputSettings {
            usage: vec![path("usage.parquet").display().to_string()],
            outputs: vec![path("outputs.csv").display().to_string()],
            identities: Some(path("identities.csv")),
            ..InputSettings::default()
        },
        verbosity: Verbosity::Quiet,
        ..AuditSettings::default()
    })
    .unwrap();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("truth.json")).unwrap()).unwrap();
    let planted: BTreeMap<String, &serde_json::Value> = truth["planted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["agent"].as_str().unwrap().to_string(), p))
        .collect();
    let flagged: std::collections::BTreeSet<&str> =
        report.findings.iter().map(|f| f.agent.as_str()).collect();
    let visible: Vec<&String> = planted
        .iter()
        .filter(|(_, p)| {
            p["visible_to"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l == "efficiency")
        })
        .map(|(a, _)| a)
        .collect();
    let mut score = Score {
        visible: visible.len(),
        found: visible
            .iter()
            .filter(|a| flagged.contains(a.as_str()))
            .count(),
        flagged: flagged.len(),
        flagged_inflators: flagged
            .iter()
            .filter(|a| planted.get(**a).is_some_and(|p| p["inflator"] == true))
            .count(),
        flagged_by_archetype: BTreeMap::new(),
        planted_by_archetype: BTreeMap::new(),
    };
    for agent in &flagged {
        if !planted.contains_key(*agent) {
            *score
                .flagged_by_archetype
                .entry("regular".into())
                .or_default() += 1;
        }
    }
    for (agent, p) in &planted {
        let archetype = p["archetype"].as_str().unwrap().to_string();
        *score
            .planted_by_archetype
            .entry(archetype.clone())
            .or_default() += 1;
        if flagged.contains(agent.as_str()) {
            *score.flagged_by_archetype.entry(archetype).or_default() += 1;
        }
    }
    score
}

#[test]
fn efficiency_finds_what_it_can_see_and_spares_look_alikes() {
    let scores: Vec<Score> = (1..=6).map(audit_seed).collect();
    let visible: usize = scores.iter().map(|s| s.visible).sum();
    let found: usize = scores.iter().map(|s| s.found).sum();
    let flagged: usize = scores.iter().map(|s| s.flagged).sum();
    let flagged_inflators: usize = scores.iter().map(|s| s.flagged_inflators).sum();
    let recall = found as f64 / visible as f64;
    let precision = flagged_inflators as f64 / flagged.max(1) as f64;
    eprintln!("efficiency lens over 6 seeds: recall {recall:.2} ({found}/{visible}), precision {precision:.2} ({flagged_inflators}/{flagged})");
    // Measured on these seeds: see the README's detection section for the numbers.
    assert!(recall >= 0.5, "recall {recall:.2}");
    assert!(precision >= 0.9, "precision {precision:.2}");
    for look_alike in ["heavy_productive", "tiny", "service", "regular"] {
        let wrongly: usize = scores
            .iter()
            .map(|s| s.flagged_by_archetype.get(look_alike).copied().unwrap_or(0))
            .sum();
        assert_eq!(wrongly, 0, "{look_alike} agents were flagged");
    }
    let heavy: usize = scores
        .iter()
        .map(|s| {
            s.planted_by_archetype
                .get("heavy_productive")
                .copied()
                .unwrap_or(0)
        })
        .sum();
    assert!(heavy >= 12, "the seeds plant heavy users ({heavy})");
}
