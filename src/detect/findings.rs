//! Findings: from each agent's lens assessments and q-value to the reported findings, their
//! severity, the dollars at stake and the deterministic order of the report.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::combine::ByAgent;
use super::config::{DetectConfig, Severity};
use super::population::AgentSummary;
use super::{efficiency, stats, Assessment, Reason, WeekQ};

/// A reported finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub agent: String,
    pub team: String,
    pub week: Option<NaiveDate>,
    pub severity: Severity,
    pub detector: &'static str,
    pub score: f64,
    pub q_value: f64,
    pub excess_cost_usd: f64,
    /// First week of the inflation, when a lens could date it.
    pub onset_week: Option<NaiveDate>,
    /// The agent's weeks whose own q ([`Detection::weekly`]) is at most `fdr_q`, with that q.
    pub weeks: Vec<WeekQ>,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Ok,
    Flagged,
    InsufficientData,
}

/// The outcome of detection.
#[derive(Debug, Clone)]
pub struct Detection {
    pub agents: Vec<(AgentSummary, AgentStatus)>,
    pub findings: Vec<Finding>,
    /// Every judged agent's combined q-value and the p-value of each lens that judged it, so a
    /// reader can see why an agent was not flagged as well as why one was.
    pub verdicts: BTreeMap<String, Verdict>,
    /// The efficiency lens's peer curves (empty when it did not run).
    pub curves: Vec<efficiency::Curve>,
    /// q of every judged agent-week with usage: Benjamini–Hochberg across the agents of the
    /// week, on the lens evidence about that week ([`super::combine::weekly_q_values`]).
    pub weekly: BTreeMap<String, Vec<WeekQ>>,
    /// What the lenses could not read, for whom and why.
    pub quality: super::quality::DataQuality,
    /// Each lens's and fingerprint's p-values against the population they judged.
    pub calibration: Vec<super::calibration::Check>,
}

/// What the lenses said about one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub q_value: f64,
    pub p_values: BTreeMap<&'static str, f64>,
}

fn severity(q: f64, excess_factor: f64, config: &DetectConfig) -> Severity {
    if q <= config.high_q && excess_factor >= config.high_excess_factor {
        Severity::High
    } else if q <= config.medium_q {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// A lens's p-value at or below which it supports a finding: its reasons are given and its
/// dollars count. When no lens reaches it, the strongest one speaks alone.
pub const SUPPORT_P: f64 = 0.01;
/// The findings of one run: every agent whose q is at most `fdr_q` and whose supporting
/// lenses put at least the materiality floor at stake, in report order.
pub fn findings(
    by_agent: &ByAgent,
    combined: &[f64],
    q_values: &[f64],
    weekly: &BTreeMap<String, Vec<WeekQ>>,
    agents: &[AgentSummary],
    config: &DetectConfig,
) -> Vec<Finding> {
    let summaries: BTreeMap<&str, &AgentSummary> =
        agents.iter().map(|a| (a.agent.as_str(), a)).collect();
    let mut findings = Vec::new();
    for ((agent, lenses), (p, q)) in by_agent.iter().zip(combined.iter().zip(q_values)) {
        if *q > config.fdr_q {
            continue;
        }
        let mut ranked: Vec<&(&'static str, Assessment)> = lenses.iter().collect();
        ranked.sort_by(|a, b| a.1.p_value.total_cmp(&b.1.p_value).then(a.0.cmp(b.0)));
        let supporting: Vec<&(&'static str, Assessment)> = ranked
            .iter()
            .copied()
            .filter(|(_, a)| a.p_value <= SUPPORT_P)
            .collect();
        let supporting = if supporting.is_empty() {
            ranked[..1].to_vec()
        } else {
            supporting
        };
        // Lenses measure overlapping spend: the largest estimate, never their sum.
        let excess = supporting
            .iter()
            .map(|(_, a)| a.excess_cost_usd)
            .fold(0.0, f64::max);
        if excess < config.materiality_usd {
            continue;
        }
        let excess_factor = supporting
            .iter()
            .map(|(_, a)| a.excess_factor)
            .fold(1.0, f64::max);
        findings.push(Finding {
            agent: agent.clone(),
            team: summaries
                .get(agent.as_str())
                .map(|s| s.team.clone())
                .unwrap_or_default(),
            week: None,
            severity: severity(*q, excess_factor, config),
            detector: supporting[0].0,
            score: crate::units::round_to(stats::normal_isf(*p), 3),
            q_value: *q,
            excess_cost_usd: crate::units::round_to(excess, 2),
            onset_week: supporting.iter().find_map(|(_, a)| a.onset_week),
            weeks: weekly
                .get(agent)
                .map(|weeks| {
                    weeks
                        .iter()
                        .filter(|w| w.q_value <= config.fdr_q)
                        .copied()
                        .collect()
                })
                .unwrap_or_default(),
            reasons: supporting
                .iter()
                .flat_map(|(_, a)| a.reasons.iter().cloned())
                .collect(),
        });
    }
    findings
}

/// Caps at low the peer findings that rest on an agent having delivered nothing (`TA103`) while
/// the outputs credit names that match no agent with usage and no identity map was given: the
/// missing output may be the agent's, under a handle no map named, and a finding that says so
/// belongs in review, not in a gate. The reason names the unmatched names.
pub fn caveat_unmatched_outputs(
    findings: &mut [Finding],
    unmatched: &super::quality::UnmatchedOutputs,
) {
    let more = if unmatched.names > unmatched.examples.len() {
        ", …"
    } else {
        ""
    };
    let note = format!(
        "; but {} name{} in the outputs match{} no agent with usage ({}{more}): if one is this \
         agent's, map it with --identities (at most low until then)",
        unmatched.names,
        if unmatched.names == 1 { "" } else { "s" },
        if unmatched.names == 1 { "es" } else { "" },
        unmatched.examples.join(", ")
    );
    cap_peer_findings(findings, |_| true, super::codes::NO_OUTPUT, &note);
}

/// Caps at low the peer findings about agents with no team: each was compared with the other
/// agents without one, whatever their teams, and teams differ in how many countable artifacts
/// a dollar buys (research and SRE leave a quarter of what product teams do), so the
/// comparison finds the teams that leave few artifacts before it finds burn. The findings stay,
/// as leads for review. The agents `by_repository` were compared with the others whose work is
/// mostly in the same repository, nearer their own team, and their findings are leads too: two
/// teams that share a repository need not share a level (research's few artifacts beside
/// platform's many gave 4 honest people medium or high findings in 3 of 20 seeds of the
/// `shared-repos` world, where the map keeps their teams apart).
pub fn caveat_no_team(findings: &mut [Finding], by_repository: &BTreeSet<&str>) {
    let unassigned = |f: &Finding| f.team == crate::features::UNASSIGNED_TEAM;
    cap_peer_findings(
        findings,
        |f| unassigned(f) && by_repository.contains(f.agent.as_str()),
        super::codes::EXCESS_SPEND,
        "; compared with the agents whose work is mostly in the same repository, as no team is \
         known for this agent, and teams that share a repository can differ: give teams with \
         --identities (at most low until then)",
    );
    cap_peer_findings(
        findings,
        |f| unassigned(f) && !by_repository.contains(f.agent.as_str()),
        super::codes::EXCESS_SPEND,
        "; compared with agents of any team, as no team is known for this agent: give teams \
         with --identities (at most low until then)",
    );
}

/// Appends `note` to the reason `code` of each peer finding `applies` to that rests on the peer
/// comparison alone, and caps it at low. A finding another lens supports (its reasons name a
/// loop, padded contexts, a step in the agent's own history) stands on that evidence too.
fn cap_peer_findings(
    findings: &mut [Finding],
    applies: impl Fn(&Finding) -> bool,
    code: &str,
    note: &str,
) {
    let peer_only = |f: &Finding| {
        f.reasons.iter().all(|r| {
            super::efficiency::CODES
                .iter()
                .any(|doc| doc.code == r.code)
        })
    };
    for finding in findings
        .iter_mut()
        .filter(|f| f.detector == super::codes::EFFICIENCY && applies(f) && peer_only(f))
    {
        if let Some(reason) = finding.reasons.iter_mut().find(|r| r.code == code) {
            reason.message.push_str(note);
            finding.severity = finding.severity.min(Severity::Low);
        }
    }
}

/// Findings in report order: severity, then dollars at stake, then agent, so the same input
/// always gives the same bytes.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.excess_cost_usd.total_cmp(&a.excess_cost_usd))
            .then_with(|| a.agent.cmp(&b.agent))
            .then_with(|| a.week.cmp(&b.week))
            .then_with(|| a.detector.cmp(b.detector))
    });
}

/// Every agent of the population with its status: flagged, judged and not flagged, or not
/// judged for want of data.
pub fn statuses(
    agents: &[AgentSummary],
    findings: &[Finding],
    by_agent: &ByAgent,
) -> Vec<(AgentSummary, AgentStatus)> {
    let flagged: BTreeSet<&str> = findings.iter().map(|f| f.agent.as_str()).collect();
    agents
        .iter()
        .map(|agent| {
            let status = if flagged.contains(agent.agent.as_str()) {
                AgentStatus::Flagged
            } else if agent.eligible && by_agent.contains_key(&agent.agent) {
                AgentStatus::Ok
            } else {
                AgentStatus::InsufficientData
            };
            (agent.clone(), status)
        })
        .collect()
}

/// Each judged agent's q-value and the p-value of each lens that judged it.
pub fn verdicts(by_agent: &ByAgent, q_values: &[f64]) -> BTreeMap<String, Verdict> {
    by_agent
        .iter()
        .zip(q_values)
        .map(|((agent, lenses), q)| {
            let p_values = lenses.iter().map(|(n, a)| (*n, a.p_value)).collect();
            (
                agent.clone(),
                Verdict {
                    q_value: *q,
                    p_values,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_needs_both_a_small_q_and_a_large_factor_for_high() {
        let config = DetectConfig::default();
        assert_eq!(severity(0.0001, 5.0, &config), Severity::High);
        assert_eq!(severity(0.0001, 1.5, &config), Severity::Medium);
        assert_eq!(severity(0.03, 9.0, &config), Severity::Low);
    }

    fn finding(agent: &str, team: &str, codes: &[&'static str]) -> Finding {
        Finding {
            agent: agent.into(),
            team: team.into(),
            week: None,
            severity: Severity::High,
            detector: super::super::codes::EFFICIENCY,
            score: 5.0,
            q_value: 0.0001,
            excess_cost_usd: 1000.0,
            onset_week: None,
            weeks: Vec::new(),
            reasons: codes
                .iter()
                .map(|code| super::super::Reason {
                    code,
                    message: String::new(),
                    observed: 0.0,
                    expected: 0.0,
                })
                .collect(),
        }
    }

    #[test]
    fn peer_findings_without_a_team_are_leads_unless_another_lens_backs_them() {
        let unassigned = crate::features::UNASSIGNED_TEAM;
        let mut found = vec![
            finding("ana", unassigned, &["TA101", "TA102"]),
            finding("bo", "web", &["TA101", "TA102"]),
            // Padded contexts too: the request logs back it.
            finding("cy", unassigned, &["TA101", "TA303"]),
        ];
        caveat_no_team(&mut found, &BTreeSet::new());
        let severities: Vec<(&str, Severity)> = found
            .iter()
            .map(|f| (f.agent.as_str(), f.severity))
            .collect();
        assert_eq!(
            severities,
            vec![
                ("ana", Severity::Low),
                ("bo", Severity::High),
                ("cy", Severity::High)
            ]
        );
        assert!(found[0].reasons[0].message.contains("--identities"));
        assert!(found[1].reasons[0].message.is_empty());
        // Judged among the others in its repository: a lead too, and it says so.
        let mut found = vec![finding("ana", unassigned, &["TA101", "TA102"])];
        caveat_no_team(&mut found, &BTreeSet::from(["ana"]));
        assert_eq!(found[0].severity, Severity::Low);
        assert!(found[0].reasons[0].message.contains("same repository"));
    }

    #[test]
    fn no_output_is_a_lead_while_output_names_match_no_one() {
        let unmatched = super::super::quality::UnmatchedOutputs {
            names: 1,
            output_weeks: 4,
            examples: vec!["gh-ana".into()],
            agents_without_output: 1,
            bots: 0,
        };
        let mut found = vec![
            finding("ana", "web", &["TA101", "TA103"]),
            finding("bo", "web", &["TA101", "TA102"]),
            finding("cy", "web", &["TA101", "TA103", "TA301"]),
        ];
        caveat_unmatched_outputs(&mut found, &unmatched);
        let ana = found.iter().find(|f| f.agent == "ana").unwrap();
        assert_eq!(ana.severity, Severity::Low);
        assert!(ana.reasons[1].message.contains("gh-ana"));
        assert!(found
            .iter()
            .filter(|f| f.agent != "ana")
            .all(|f| f.severity == Severity::High));
    }
}
