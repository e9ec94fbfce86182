//! Fingerprint groups: agents that burn the same way.
//!
//! The behaviour lens reports, per agent, which fingerprints stood out and how strongly. Agents
//! whose reported fingerprints match (a fixed cadence with repeated prompts, say, or bursts
//! before the snapshot) are often one script or one habit under several accounts, and are
//! fixed together. This module clusters the agents whose fingerprints are clear (the lens's p
//! at most [`super::efficiency::SUSPECT_P`]; a weak fingerprint next to a strong one would
//! chain a passing habit into a group of burners) with DBSCAN (Ester et al. 1996, linfa's
//! implementation): each agent is a point whose coordinate per
//! fingerprint is its strength, the robust z capped at [`Z_CAP`] and scaled to 0..1 (0 when
//! the fingerprint was not reported), so agents group by which fingerprints they show and
//! roughly how strongly, never by how much they spend.
//!
//! A group only annotates findings: each flagged member gets a TA308 reason naming the other
//! members, flagged or not. It changes no p-value, q-value, severity or dollar figure: sharing
//! a fingerprint with a flagged agent is a lead, not evidence.

use std::collections::{BTreeMap, BTreeSet};

use linfa::traits::Transformer;
use linfa_clustering::Dbscan;
use ndarray::Array2;

use super::codes::{
    CodeDoc, CADENCE, CONTEXT_STUFFING, PARALLEL_SESSIONS, PRE_SNAPSHOT, REPEATED_PROMPTS,
    ROUND_THE_CLOCK, SHARED_FINGERPRINT, TRIVIAL_TURNS,
};
use super::quality::{Gate, Skip};
use super::{Finding, Reason};

pub const CODES: [CodeDoc; 1] = [CodeDoc {
    code: SHARED_FINGERPRINT,
    title: "Burns the way other agents do",
    lens: "behavior",
    what_it_means: "The agent's behaviour fingerprints (the TA301–TA307 reasons it was given, and how strongly each stood out against its kind) match those of other agents in this audit: DBSCAN groups agents whose fingerprint strengths lie within 0.5 of each other, among the agents whose fingerprints are clear (behaviour p at most 0.001). The reason names the other members and says which of them were flagged. It adds no weight to the finding.",
    why_it_matters: "The same fingerprint on several accounts is usually one script, one shared configuration or one habit spreading through a team: one conversation fixes all of them, and members below the materiality floor are worth a look before they grow.",
    benign_explanations: &[
        "A shared team tool or CI job that every member runs the same way.",
        "A vendor plugin whose request pattern looks like a loop (polling, retries).",
        "Service accounts built from one template.",
    ],
    example: "shares its behaviour fingerprint (fixed cadence, repeated prompts) with 2 other agents: triage-agent-2 (flagged), docs-sync-agent-1 (not flagged)",
}];

/// The behaviour fingerprints, in coordinate order, with the words a reason uses for each.
pub const TRAITS: [(&str, &str); 7] = [
    (CADENCE, "fixed cadence"),
    (REPEATED_PROMPTS, "repeated prompts"),
    (CONTEXT_STUFFING, "context stuffing"),
    (ROUND_THE_CLOCK, "round-the-clock activity"),
    (PRE_SNAPSHOT, "pre-snapshot bursts"),
    (PARALLEL_SESSIONS, "parallel sessions"),
    (TRIVIAL_TURNS, "costly trivial turns"),
];

/// One agent's reported fingerprints: the robust z of each, 0 where it was not reported.
pub type Fingerprint = [f64; TRAITS.len()];

/// z at which a fingerprint counts as fully present: past it, a stronger fingerprint is the
/// same fingerprint (a loop at z 12 and one at z 40 are one behaviour).
pub const Z_CAP: f64 = 8.0;
/// Largest distance between neighbours in a group, in strength units (0..1 per fingerprint):
/// one fingerprint differing by half its range, or two by about a third each.
pub const TOLERANCE: f64 = 0.5;
/// Most names a reason lists before "and N more".
const MAX_NAMED: usize = 5;

/// Where a fingerprint sits in [`TRAITS`], by its reason code.
pub fn trait_index(code: &str) -> Option<usize> {
    TRAITS.iter().position(|(c, _)| *c == code)
}

fn strength(z: f64) -> f64 {
    (z / Z_CAP).clamp(0.0, 1.0)
}

/// Groups of two or more agents with matching fingerprints, each sorted by name, in order of
/// their first member. Agents with no reported fingerprint are never grouped.
pub fn groups(fingerprints: &BTreeMap<String, Fingerprint>) -> Vec<Vec<String>> {
    let members: Vec<(&String, &Fingerprint)> = fingerprints
        .iter()
        .filter(|(_, print)| print.iter().any(|z| *z > 0.0))
        .collect();
    if members.len() < 2 {
        return Vec::new();
    }
    let points = Array2::from_shape_fn((members.len(), TRAITS.len()), |(i, j)| {
        strength(members[i].1[j])
    });
    let labels = Dbscan::params(2)
        .tolerance(TOLERANCE)
        .transform(&points)
        .expect("DBSCAN parameters are valid constants");
    let mut clusters: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (label, (name, _)) in labels.iter().zip(&members) {
        if let Some(label) = label {
            clusters.entry(*label).or_default().push((*name).clone());
        }
    }
    let mut out: Vec<Vec<String>> = clusters
        .into_values()
        .filter(|group| group.len() >= 2)
        .map(|mut group| {
            group.sort();
            group
        })
        .collect();
    out.sort();
    out
}

/// Share of the judged agents a group may hold and still be a lead: a fingerprint a tenth of
/// the population shares is how that population works (one tool's default, one team's
/// habit), not one script or one conversation.
pub const MAX_GROUP_SHARE: f64 = 0.1;
/// Members any group may have whatever the population's size, so that a small company's
/// group of three burners is still named.
pub const MIN_GROUP_LIMIT: usize = 5;

/// Adds a TA308 reason to every finding whose agent shares its fingerprint with others, in a
/// group that is a minority of the `judged` agents. Groups too large to be a lead are not
/// named; they come back as data-quality rows (the population's habit).
pub fn annotate(
    findings: &mut [Finding],
    fingerprints: &BTreeMap<String, Fingerprint>,
    judged: usize,
) -> Vec<Skip> {
    let flagged: BTreeSet<String> = findings.iter().map(|f| f.agent.clone()).collect();
    let limit = MIN_GROUP_LIMIT.max((MAX_GROUP_SHARE * judged as f64).floor() as usize);
    let mut habits = Vec::new();
    for group in groups(fingerprints) {
        if group.len() > limit {
            habits.push(Skip {
                code: SHARED_FINGERPRINT,
                check: Gate::PopulationHabit,
                agents: group.len(),
                reason: "a fingerprint group holds more than a tenth of the judged agents: this population's habit, not one script",
            });
            continue;
        }
        if !group.iter().any(|name| flagged.contains(name)) {
            continue;
        }
        let shared = shared_traits(&group, fingerprints);
        for finding in findings.iter_mut().filter(|f| group.contains(&f.agent)) {
            let others: Vec<&String> = group.iter().filter(|n| **n != finding.agent).collect();
            let mut named: Vec<String> = others
                .iter()
                .take(MAX_NAMED)
                .map(|name| {
                    let status = if flagged.contains(*name) {
                        "flagged"
                    } else {
                        "not flagged"
                    };
                    format!("{name} ({status})")
                })
                .collect();
            if others.len() > MAX_NAMED {
                named.push(format!("and {} more", others.len() - MAX_NAMED));
            }
            finding.reasons.push(Reason {
                code: SHARED_FINGERPRINT,
                message: format!(
                    "shares its behaviour fingerprint ({shared}) with {} other agent{}: {}",
                    others.len(),
                    if others.len() == 1 { "" } else { "s" },
                    named.join(", ")
                ),
                observed: group.len() as f64,
                expected: 1.0,
            });
        }
    }
    habits
}

/// The fingerprints most of a group shows: mean strength at least one half.
fn shared_traits(group: &[String], fingerprints: &BTreeMap<String, Fingerprint>) -> String {
    let n = group.len() as f64;
    let words: Vec<&str> = TRAITS
        .iter()
        .enumerate()
        .filter(|(j, _)| {
            let mean = group
                .iter()
                .map(|name| fingerprints.get(name).map_or(0.0, |p| strength(p[*j])))
                .sum::<f64>()
                / n;
            mean >= 0.5
        })
        .map(|(_, (_, words))| *words)
        .collect();
    if words.is_empty() {
        "several weak fingerprints".to_string()
    } else {
        words.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(pairs: &[(&str, f64)]) -> Fingerprint {
        let mut out = [0.0; TRAITS.len()];
        for (code, z) in pairs {
            out[trait_index(code).unwrap()] = *z;
        }
        out
    }

    fn population() -> BTreeMap<String, Fingerprint> {
        BTreeMap::from([
            // Two loops of different strength: one behaviour.
            (
                "loop-a".to_string(),
                print(&[(CADENCE, 12.0), (REPEATED_PROMPTS, 9.0)]),
            ),
            (
                "loop-b".to_string(),
                print(&[(CADENCE, 40.0), (REPEATED_PROMPTS, 6.5)]),
            ),
            // Snapshot spikers.
            ("spike-a".to_string(), print(&[(PRE_SNAPSHOT, 10.0)])),
            ("spike-b".to_string(), print(&[(PRE_SNAPSHOT, 7.0)])),
            // A loop without repeated prompts is a different fingerprint.
            ("cadence-only".to_string(), print(&[(CADENCE, 15.0)])),
            // Honest agents: nothing reported.
            ("dana".to_string(), print(&[])),
            ("eli".to_string(), print(&[])),
        ])
    }

    #[test]
    fn agents_group_by_which_fingerprints_they_show_not_how_strongly() {
        let found = groups(&population());
        assert_eq!(
            found,
            vec![
                vec!["loop-a".to_string(), "loop-b".to_string()],
                vec!["spike-a".to_string(), "spike-b".to_string()],
            ]
        );
    }

    #[test]
    fn agents_with_nothing_reported_are_never_grouped() {
        let honest = BTreeMap::from([
            ("dana".to_string(), print(&[])),
            ("eli".to_string(), print(&[])),
            ("fay".to_string(), print(&[])),
        ]);
        assert!(groups(&honest).is_empty());
    }

    fn finding(agent: &str) -> Finding {
        Finding {
            agent: agent.to_string(),
            team: "platform".to_string(),
            week: None,
            severity: super::super::Severity::High,
            detector: "behavior",
            score: 5.0,
            q_value: 0.0001,
            excess_cost_usd: 900.0,
            onset_week: None,
            weeks: Vec::new(),
            reasons: Vec::new(),
        }
    }

    #[test]
    fn flagged_members_name_the_others_and_say_which_were_flagged() {
        // loop-b fell under the materiality floor; no spiker was flagged.
        let mut findings = vec![finding("loop-a"), finding("cadence-only")];
        assert!(annotate(&mut findings, &population(), 60).is_empty());
        assert_eq!(findings[0].reasons.len(), 1);
        let reason = &findings[0].reasons[0];
        assert_eq!(reason.code, SHARED_FINGERPRINT);
        assert_eq!(
            reason.message,
            "shares its behaviour fingerprint (fixed cadence, repeated prompts) with 1 other agent: loop-b (not flagged)"
        );
        assert_eq!((reason.observed, reason.expected), (2.0, 1.0));
        // A fingerprint nobody shares adds nothing.
        assert!(findings[1].reasons.is_empty());
    }

    #[test]
    fn long_groups_are_cut_after_five_names() {
        let prints: BTreeMap<String, Fingerprint> = (0..8)
            .map(|i| (format!("bot-{i}"), print(&[(PRE_SNAPSHOT, 9.0)])))
            .collect();
        let mut findings = vec![finding("bot-0"), finding("bot-3")];
        annotate(&mut findings, &prints, 200);
        assert_eq!(
            findings[0].reasons[0].message,
            "shares its behaviour fingerprint (pre-snapshot bursts) with 7 other agents: bot-1 (not flagged), bot-2 (not flagged), bot-3 (flagged), bot-4 (not flagged), bot-5 (not flagged), and 2 more"
        );
        assert!(findings[1].reasons[0].message.contains("bot-0 (flagged)"));
    }

    #[test]
    fn a_group_of_a_large_share_of_the_population_is_its_habit_not_a_lead() {
        // Eight of sixty judged agents share a fingerprint: more than a tenth.
        let prints: BTreeMap<String, Fingerprint> = (0..8)
            .map(|i| (format!("person-{i}"), print(&[(PARALLEL_SESSIONS, 9.0)])))
            .collect();
        let mut findings = vec![finding("person-0")];
        let habits = annotate(&mut findings, &prints, 60);
        assert!(findings[0].reasons.is_empty());
        assert_eq!(habits.len(), 1);
        assert_eq!((habits[0].code, habits[0].agents), (SHARED_FINGERPRINT, 8));
        assert_eq!(habits[0].check, Gate::PopulationHabit);
        // The same eight among two hundred are a lead.
        assert!(annotate(&mut findings, &prints, 200).is_empty());
        assert_eq!(findings[0].reasons.len(), 1);
    }
}
