//! Combination and false-discovery control: each agent's lens p-values into one p (the Cauchy
//! combination, Liu & Xie 2020), Benjamini–Hochberg across the agents of the run, and the
//! weekly families that say which weeks a finding is about.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{stats, Assessment, WeekQ};
use crate::features::AgentWeek;

/// One agent's p-value from its lenses': the Cauchy combination of those below 1.
///
/// A lens with nothing to report (its gates unmet, or its one-sided test on the other side:
/// p = 1) is left out rather than entered as evidence of innocence, which in the Cauchy sum
/// would cancel another lens's evidence. That is not exactly valid: a lens that survives alone
/// is no longer divided among the lenses, and a gated p-value is not uniform below 1. Measured
/// on the 1,161 honest agents of the eight-week null seeds (README): combined p ≤ 0.1 for 14.0%,
/// ≤ 0.05 for 7.5%, ≤ 0.01 for 1.8% and ≤ 0.001 for 0.26%, where the combination over every
/// lens gives 2.2%, 2.0%, 1.0% and 0.17%.
pub fn combine(p_values: impl Iterator<Item = f64>) -> f64 {
    let tested: Vec<f64> = p_values.filter(|p| *p < 1.0).collect();
    stats::cauchy_combination(&tested).unwrap_or(1.0)
}

/// Each agent's lens assessments, by agent.
pub type ByAgent = BTreeMap<String, Vec<(&'static str, Assessment)>>;

/// One p per agent (Cauchy combination over its lenses), and the q-values of the run's one
/// Benjamini–Hochberg family.
pub fn family(by_agent: &ByAgent) -> (Vec<f64>, Vec<f64>) {
    let combined: Vec<f64> = by_agent
        .values()
        .map(|lenses| combine(lenses.iter().map(|(_, a)| a.p_value)))
        .collect();
    let q_values = stats::benjamini_hochberg(&combined);
    (combined, q_values)
}

/// The weekly families: for every week, each judged agent with usage in it gets the Cauchy
/// combination of the lens p-values whose evidence is about that week ([`Coverage`]), and
/// Benjamini–Hochberg runs across the agents of the week. A whole-period comparison speaks for
/// every week; a change only for the weeks from its onset; bursts before the snapshot only for
/// the weeks they happened in. An agent-week no lens speaks for has p = 1.
///
/// These q-values say which weeks a finding is about. Findings themselves come from the one
/// family of the run: each week's family holds about as many agents, so a week judged on the
/// same evidence gets about the same q, and a per-week decision would add a test per week.
pub fn weekly_q_values(weeks: &[AgentWeek], by_agent: &ByAgent) -> BTreeMap<String, Vec<WeekQ>> {
    // Week → (agent's slot, position of the week in the agent's list, p). An agent's weeks
    // take at most 2^lenses distinct p-values: one combination per set of lenses speaking.
    let mut families: BTreeMap<NaiveDate, Vec<(usize, usize, f64)>> = BTreeMap::new();
    let mut slots: Vec<(String, Vec<WeekQ>)> = Vec::new();
    let mut cache: BTreeMap<u32, f64> = BTreeMap::new();
    for run in weeks.chunk_by(|a, b| a.agent == b.agent) {
        let Some(lenses) = by_agent.get(&run[0].agent) else {
            continue;
        };
        cache.clear();
        let slot = slots.len();
        let mut list = Vec::new();
        for week in run.iter().filter(|w| w.requests > 0) {
            let mask = lenses
                .iter()
                .enumerate()
                .filter(|(_, (_, a))| a.covers.includes(week.week))
                .fold(0u32, |mask, (i, _)| mask | 1 << i);
            let p = *cache.entry(mask).or_insert_with(|| {
                combine(
                    lenses
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & 1 << i != 0)
                        .map(|(_, (_, a))| a.p_value),
                )
            });
            families
                .entry(week.week)
                .or_default()
                .push((slot, list.len(), p));
            list.push(WeekQ {
                week: week.week,
                q_value: 1.0,
                cost_usd: week.cost_usd,
            });
        }
        slots.push((run[0].agent.clone(), list));
    }
    for family in families.values() {
        let p: Vec<f64> = family.iter().map(|(_, _, p)| *p).collect();
        for ((slot, at, _), q) in family.iter().zip(stats::benjamini_hochberg(&p)) {
            slots[*slot].1[*at].q_value = q;
        }
    }
    // One agent can own several runs when the table is not sorted by agent.
    let mut out: BTreeMap<String, Vec<WeekQ>> = BTreeMap::new();
    for (agent, list) in slots {
        out.entry(agent).or_default().extend(list);
    }
    // In week order, whatever the order of the table.
    for list in out.values_mut() {
        list.sort_by_key(|w| w.week);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::detect::Coverage;
    use crate::normalize::identities::AgentKind;
    use crate::normalize::pricing::Tokens;

    #[test]
    fn lenses_with_nothing_to_report_do_not_dilute_the_others() {
        let p = combine([0.004, 1.0, 1.0].into_iter());
        assert!((p - 0.004).abs() < 1e-6, "{p}");
        // Entered as evidence, the two 1s would have made it about 0.014.
        let diluted = stats::cauchy_combination(&[0.004, 1.0, 1.0]).unwrap();
        assert!(diluted > 0.01, "{diluted}");
        assert_eq!(combine([1.0, 1.0].into_iter()), 1.0);
        let both = combine([0.01, 0.02, 1.0].into_iter());
        assert_eq!(both, stats::cauchy_combination(&[0.01, 0.02]).unwrap());
    }

    /// An assessment with only its agent, p-value and weeks (for tests of the lenses' nulls too).
    pub(crate) fn assessment(agent: &str, p_value: f64, covers: Coverage) -> Assessment {
        Assessment {
            agent: agent.to_string(),
            covers,
            onset_week: None,
            p_value,
            score: 0.0,
            excess_cost_usd: 0.0,
            excess_factor: 1.0,
            reasons: Vec::new(),
        }
    }

    fn week_of(agent: &str, week: NaiveDate, requests: u64) -> AgentWeek {
        AgentWeek {
            agent: agent.into(),
            team: "payments".into(),
            kind: AgentKind::Human,
            week,
            tokens: Tokens::default(),
            requests,
            sessions: 1,
            active_days: 3,
            cost_usd: 10.0,
            billed_cost_usd: 0.0,
            unpriced_tokens: 0,
            outputs: BTreeMap::new(),
            output_index: 1.0,
            trivial_requests: 0,
            trivial_cost_usd: 0.0,
        }
    }

    #[test]
    fn each_week_is_judged_on_the_evidence_about_it() {
        let start = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        let week = |i: i64| start + chrono::Duration::weeks(i);
        // Twenty honest agents, one whose change began in week 2, one that burst before the
        // snapshot in week 1 only, one that spends above its peers all period.
        let mut by_agent: BTreeMap<String, Vec<(&'static str, Assessment)>> = BTreeMap::new();
        for i in 0..20 {
            let name = format!("honest{i:02}");
            let p = 0.2 + 0.04 * i as f64;
            by_agent.insert(
                name.clone(),
                vec![("efficiency", assessment(&name, p, Coverage::Period))],
            );
        }
        by_agent.insert(
            "changer".into(),
            vec![
                ("efficiency", assessment("changer", 0.6, Coverage::Period)),
                (
                    "change",
                    assessment("changer", 1e-6, Coverage::From(week(2))),
                ),
            ],
        );
        by_agent.insert(
            "spiker".into(),
            vec![(
                "behavior",
                assessment("spiker", 1e-6, Coverage::Weeks([week(1)].into())),
            )],
        );
        by_agent.insert(
            "burner".into(),
            vec![("efficiency", assessment("burner", 1e-6, Coverage::Period))],
        );
        let mut weeks = Vec::new();
        for agent in by_agent.keys() {
            for i in 0..4 {
                weeks.push(week_of(agent, week(i), 100));
            }
        }
        // A week without usage has no q.
        weeks.push(week_of("burner", week(4), 0));
        let q = weekly_q_values(&weeks, &by_agent);
        let q_of = |agent: &str, i: i64| {
            q[agent]
                .iter()
                .find(|w| w.week == week(i))
                .map(|w| w.q_value)
                .unwrap()
        };
        for i in 0..4 {
            assert!(q_of("burner", i) < 1e-4, "burner week {i}");
            assert!(q_of("honest00", i) > 0.1, "honest week {i}");
            assert_eq!(q_of("changer", i) < 1e-4, i >= 2, "changer week {i}");
            assert_eq!(q_of("spiker", i) < 1e-4, i == 1, "spiker week {i}");
        }
        assert!(q["burner"].iter().all(|w| w.week != week(4)));
        // An agent-week no lens speaks for is p = 1, and so q = 1.
        assert_eq!(q_of("spiker", 0), 1.0);
    }
}
