//! The change lens: each agent against its own earlier weeks.
//!
//! For every week with usage the lens takes the agent's spend for its output,
//! r = ln(weekly cost) − ln(weekly output index)/β: the log of actual spend over the spend the
//! production curve (output ∝ spend^β, β the elasticity the efficiency lens fits for the
//! agent's kind) says that output needs. Honest growth moves cost and output together along the
//! curve and leaves r flat; burning raises r. A step also needs spend itself to have at least
//! doubled, so that a dip in output alone is never read as inflation. Two one-sided tests read the series:
//! - a **step**: the largest standardized difference between the weeks after a split and the
//!   weeks before it (at least two on each side), Bonferroni-corrected over the splits;
//! - a **trend**: the least-squares slope of r over the weeks, for slow drift.
//!
//! The noise σ of r comes from the agent's own successive differences (robust to a step and to
//! a drift, since each only moves a few differences or all of them alike), at least the count
//! noise of its weekly output, and shrunk towards a prior at its output level (the kind's
//! typical noise beyond counting, plus that count noise) so that eight weeks do not make a
//! noisy agent look precise. A one-sided
//! CUSUM (Page 1954; reference value k = 0.5σ) over r against the agent's first weeks dates the
//! onset: the week after its last return to zero before its peak.
//!
//! What it cannot see: an agent that burned from its first week (the efficiency lens), a
//! change shorter than two weeks, and agents with fewer than `min_change_weeks` weeks.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::codes::CodeDoc;
use super::efficiency::OUTPUT_FLOOR;
use super::stats::{median, normal_sf};
use super::{AgentSummary, Assessment, DetectConfig, Lens, Population, Reason, PRIOR_WEEKS};
use crate::features::AgentWeek;
use crate::normalize::identities::AgentKind;
use crate::units::{factor, round_to, usd};

pub struct Change;

pub const STEP: &str = "TA201";
pub const DRIFT: &str = "TA202";

/// Noise below which a series is treated as this noisy (synthetic or constant data).
const MIN_SIGMA: f64 = 0.1;
/// CUSUM reference value, in σ (half the one-σ shift it is tuned to).
const CUSUM_K: f64 = 0.5;
/// CUSUM decision interval, in σ: the value the reason reports against (Montgomery's h = 4).
const CUSUM_H: f64 = 4.0;

pub const CODES: [CodeDoc; 2] = [
    CodeDoc {
        code: STEP,
        title: "Spend jumped while output did not",
        lens: "change",
        what_it_means: "From the onset week on, the agent spent several times what it spent in its own earlier weeks for the same output. Spend is adjusted for output with the cohort's elasticity, so weeks that delivered more may cost more; the step is tested against the agent's own week-to-week noise.",
        why_it_matters: "Inflation that starts mid-period hides inside a cohort: averaged over the period the agent can still look like its peers. Against its own history the jump is plain, and the onset week says when to look.",
        benign_explanations: &[
            "A new project, migration or codebase whose output lands after the period.",
            "On-call or incident weeks (investigation is token-heavy and leaves few artifacts).",
            "A switch to a costlier model or tool for a real reason.",
            "Output moved to an identity the identity map does not link yet.",
        ],
        example: "from the week of 2026-10-05 spend averaged $410 a week against $52 before (7.9x) while output went from 14.2 to 13.8 index points: arc elasticity -0.02",
    },
    CodeDoc {
        code: DRIFT,
        title: "Spend drifting up week after week",
        lens: "change",
        what_it_means: "The agent's spend for its output rose steadily over the period. The lens fits a trend over the weeks and runs a one-sided CUSUM (Page 1954) against the agent's first weeks; the message gives the weekly growth and how far the CUSUM climbed (4 is the conventional alarm).",
        why_it_matters: "A slow climb never shows as a jump, and each week looks like the last; it is how a usage target gets met a little more every week.",
        benign_explanations: &[
            "Onboarding: an agent learning a codebase uses more context before delivering more.",
            "A growing project whose output is counted later (long-lived branches, releases).",
            "Tooling that grows context over time (larger repositories, longer sessions).",
        ],
        example: "spend for the same output grew 28% a week over 8 weeks (2.5x in all); CUSUM reached 9.4 (alarm at 4) from the week of 2026-09-14",
    },
];

/// One week of an agent's series.
struct Point {
    week: NaiveDate,
    cost: f64,
    output: f64,
    r: f64,
}

/// Elasticity below which output cannot say what spend it needs; the lens uses this instead.
const MIN_ELASTICITY: f64 = 0.2;
/// Ratio of mean weekly spend after a split to before it that a step needs.
const MIN_STEP_RATIO: f64 = 2.0;

fn series(weeks: &[&AgentWeek], elasticity: f64) -> Vec<Point> {
    let elasticity = elasticity.max(MIN_ELASTICITY);
    weeks
        .iter()
        .filter(|w| w.requests > 0 && w.cost_usd > 0.0)
        .map(|w| Point {
            week: w.week,
            cost: w.cost_usd,
            output: w.output_index,
            r: w.cost_usd.ln() - w.output_index.max(OUTPUT_FLOOR).ln() / elasticity,
        })
        .collect()
}

/// σ from successive differences: 1.4826 · MAD(Δr) / √2.
fn own_sigma(points: &[Point]) -> Option<f64> {
    let diffs: Vec<f64> = points.windows(2).map(|w| w[1].r - w[0].r).collect();
    let center = median(&diffs)?;
    let deviations: Vec<f64> = diffs.iter().map(|d| (d - center).abs()).collect();
    Some(super::stats::MAD_TO_SIGMA * median(&deviations)? / std::f64::consts::SQRT_2)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The test results for one agent.
struct Tested {
    p_value: f64,
    z: f64,
    slope: f64,
    cusum_peak: f64,
    onset: usize,
    baseline: f64,
    step_wins: bool,
}

fn test(points: &[Point], sigma: f64) -> Tested {
    let n = points.len();
    let r: Vec<f64> = points.iter().map(|p| p.r).collect();
    // Step: the best split with at least two weeks on each side.
    let (mut z_step, mut split) = (f64::NEG_INFINITY, 2);
    for k in 2..=n - 2 {
        let spend_before = mean(points[..k].iter().map(|p| p.cost));
        let spend_after = mean(points[k..].iter().map(|p| p.cost));
        if spend_after < MIN_STEP_RATIO * spend_before {
            continue;
        }
        let before = mean(r[..k].iter().copied());
        let after = mean(r[k..].iter().copied());
        let z = (after - before) / (sigma * (1.0 / k as f64 + 1.0 / (n - k) as f64).sqrt());
        if z > z_step {
            (z_step, split) = (z, k);
        }
    }
    let p_step = if z_step.is_finite() {
        (normal_sf(z_step) * (n - 3) as f64).min(1.0)
    } else {
        1.0
    };
    // Trend: least-squares slope over the week index.
    let t_mean = (n - 1) as f64 / 2.0;
    let sxx: f64 = (0..n).map(|t| (t as f64 - t_mean).powi(2)).sum();
    let r_mean = mean(r.iter().copied());
    let slope = (0..n)
        .map(|t| (t as f64 - t_mean) * (r[t] - r_mean))
        .sum::<f64>()
        / sxx;
    let z_trend = slope / (sigma / sxx.sqrt());
    let p_trend = normal_sf(z_trend);
    // Two tests on one series: Bonferroni.
    let step_wins = p_step <= p_trend;
    let p_value = (2.0 * p_step.min(p_trend)).min(1.0);
    // CUSUM against the first weeks, for the onset.
    let base_weeks = (n / 4).max(2);
    let baseline = mean(r[..base_weeks].iter().copied());
    let (mut s, mut peak, mut onset, mut start) = (0.0_f64, 0.0_f64, split, 0usize);
    for (t, value) in r.iter().enumerate() {
        let next = s + (value - baseline) / sigma - CUSUM_K;
        if next <= 0.0 {
            s = 0.0;
            start = t + 1;
        } else {
            s = next;
        }
        if s > peak {
            peak = s;
            onset = start.min(n - 1);
        }
    }
    if step_wins {
        onset = split;
    }
    Tested {
        p_value,
        z: if step_wins { z_step } else { z_trend },
        slope,
        cusum_peak: peak,
        onset,
        baseline,
        step_wins,
    }
}

impl Lens for Change {
    fn name(&self) -> &'static str {
        "change"
    }

    fn assess(&self, population: &Population, config: &DetectConfig) -> Vec<Assessment> {
        let elasticity = super::efficiency::elasticities(population, config);
        let mut by_agent: BTreeMap<&str, Vec<&AgentWeek>> = BTreeMap::new();
        for week in population.weeks {
            by_agent.entry(&week.agent).or_default().push(week);
        }
        let judged: Vec<(&AgentSummary, Vec<Point>)> = population
            .agents
            .iter()
            .filter(|a| a.eligible)
            .filter_map(|agent| {
                let beta = elasticity.get(&agent.kind).copied().unwrap_or(0.0);
                let points = series(by_agent.get(agent.agent.as_str())?, beta);
                (points.len() >= config.min_change_weeks as usize).then_some((agent, points))
            })
            .collect();
        // Two parts to a week's noise: the count noise of its output, larger the less an
        // agent delivers (a week with nothing counted moves r by ln(m / floor) / β), and the
        // rest, typical of the kind. Each agent's own σ is shrunk towards the sum at its level.
        let mut members: BTreeMap<AgentKind, Vec<&AgentSummary>> = BTreeMap::new();
        for (agent, _) in &judged {
            members.entry(agent.kind).or_default().push(agent);
        }
        let dispersion: BTreeMap<AgentKind, f64> = members
            .iter()
            .map(|(kind, agents)| (*kind, super::output_dispersion(agents)))
            .collect();
        let count_variance = |agent: &AgentSummary| {
            let beta = elasticity.get(&agent.kind).copied().unwrap_or(0.0);
            dispersion[&agent.kind]
                / (beta.max(MIN_ELASTICITY).powi(2) * agent.mean_weekly_output().max(OUTPUT_FLOOR))
        };
        let mut excess: BTreeMap<AgentKind, Vec<f64>> = BTreeMap::new();
        for (agent, points) in &judged {
            if let Some(s) = own_sigma(points) {
                excess
                    .entry(agent.kind)
                    .or_default()
                    .push(s * s - count_variance(agent));
            }
        }
        let base: BTreeMap<AgentKind, f64> = excess
            .iter()
            .filter_map(|(kind, v)| Some((*kind, median(v)?.max(MIN_SIGMA * MIN_SIGMA))))
            .collect();
        judged
            .into_iter()
            .map(|(agent, points)| {
                let counts = count_variance(agent);
                let prior = base
                    .get(&agent.kind)
                    .copied()
                    .unwrap_or(MIN_SIGMA * MIN_SIGMA)
                    + counts;
                // A robust σ ignores the weeks with nothing counted, which the means below do
                // not: never below the count noise.
                let own = own_sigma(&points).map_or(prior, |s| (s * s).max(counts));
                let own_weight = (points.len() - 2) as f64;
                let sigma = ((PRIOR_WEEKS * prior + own_weight * own) / (PRIOR_WEEKS + own_weight))
                    .sqrt()
                    .max(MIN_SIGMA);
                let tested = test(&points, sigma);
                assessment(agent, &points, &tested)
            })
            .collect()
    }
}

fn assessment(agent: &AgentSummary, points: &[Point], tested: &Tested) -> Assessment {
    let onset = tested.onset;
    // Excess: spend above what the baseline ratio would have cost for each later week's output.
    let (mut actual, mut expected) = (0.0, 0.0);
    for p in &points[onset..] {
        let lift = (p.r - tested.baseline).max(0.0);
        actual += p.cost;
        expected += p.cost / lift.exp();
    }
    let excess = actual - expected;
    let before = &points[..onset.max(1)];
    let after = &points[onset.max(1)..];
    let cost_before = mean(before.iter().map(|p| p.cost));
    let cost_after = mean(after.iter().map(|p| p.cost));
    let out_before = mean(before.iter().map(|p| p.output));
    let out_after = mean(after.iter().map(|p| p.output));
    let onset_week = points[onset].week;
    let reason = if tested.step_wins {
        // Arc elasticity: relative change in output over relative change in spend, each
        // against the midpoint of the two levels.
        let arc = ((out_after - out_before) / ((out_after + out_before) / 2.0).max(1e-9))
            / ((cost_after - cost_before) / ((cost_after + cost_before) / 2.0)).max(1e-9);
        Reason {
            code: STEP,
            message: format!(
                "from the week of {onset_week} spend averaged {} a week against {} before ({}) while output went from {:.1} to {:.1} index points: arc elasticity {:.2}",
                usd(cost_after),
                usd(cost_before),
                factor(cost_after / cost_before.max(1e-9)),
                out_before,
                out_after,
                arc
            ),
            observed: round_to(cost_after, 2),
            expected: round_to(cost_before, 2),
        }
    } else {
        let weekly = tested.slope.exp() - 1.0;
        Reason {
            code: DRIFT,
            message: format!(
                "spend for the same output grew {:.0}% a week over {} weeks ({} in all); CUSUM reached {:.1} (alarm at {CUSUM_H}) from the week of {onset_week}",
                weekly * 100.0,
                points.len(),
                factor((tested.slope * (points.len() - 1) as f64).exp()),
                tested.cusum_peak
            ),
            observed: round_to(weekly, 4),
            expected: 0.0,
        }
    };
    Assessment {
        agent: agent.agent.clone(),
        covers: super::Coverage::From(onset_week),
        onset_week: Some(onset_week),
        p_value: tested.p_value,
        score: tested.z,
        excess_cost_usd: excess.max(0.0),
        excess_factor: if expected > 0.0 {
            actual / expected
        } else {
            1.0
        },
        reasons: vec![reason],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(r: &[f64]) -> Vec<Point> {
        r.iter()
            .enumerate()
            .map(|(i, r)| Point {
                week: NaiveDate::from_ymd_opt(2026, 9, 7).unwrap()
                    + chrono::Duration::weeks(i as i64),
                cost: r.exp(),
                output: 1.0,
                r: *r,
            })
            .collect()
    }

    #[test]
    fn a_step_is_found_at_its_week() {
        let series = points(&[3.0, 3.1, 2.9, 3.0, 4.8, 5.0, 4.9, 5.1]);
        let tested = test(&series, 0.2);
        assert!(tested.step_wins);
        assert_eq!(tested.onset, 4);
        assert!(tested.p_value < 1e-6, "{}", tested.p_value);
    }

    #[test]
    fn a_steady_drift_is_a_trend() {
        let r: Vec<f64> = (0..8)
            .map(|t| 3.0 + 0.25 * t as f64 + [0.05, -0.05][t % 2])
            .collect();
        let tested = test(&points(&r), 0.2);
        assert!(tested.p_value < 1e-3, "{}", tested.p_value);
        assert!((tested.slope - 0.25).abs() < 0.05);
        assert!(tested.cusum_peak > CUSUM_H);
    }

    #[test]
    fn noise_alone_is_not_a_change() {
        let series = points(&[3.0, 3.2, 2.8, 3.1, 2.9, 3.15, 2.85, 3.05]);
        let tested = test(&series, 0.2);
        assert!(tested.p_value > 0.05, "{}", tested.p_value);
    }

    #[test]
    fn successive_differences_ignore_a_step() {
        let series = points(&[3.0, 3.1, 2.9, 3.0, 5.0, 5.1, 4.9, 5.0]);
        let sigma = own_sigma(&series).unwrap();
        assert!(sigma < 0.3, "{sigma}");
    }

    /// Sixty honest agents over ten weeks, flat spend, output drawn as counts around their
    /// level: from a point a week (many weeks with nothing) to twenty.
    fn honest_weeks(seed: u64) -> Vec<AgentWeek> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, LogNormal, Poisson};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let start = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        let mut weeks = Vec::new();
        for agent in 0..60 {
            let level = 1.0 + 19.0 * f64::from(agent) / 59.0;
            let cost = (level / 2.0).powf(1.0 / 0.45);
            for week in 0..10 {
                let output: f64 = Poisson::new(level).unwrap().sample(&mut rng);
                weeks.push(AgentWeek {
                    agent: format!("agent-{agent:02}"),
                    team: "payments".into(),
                    kind: AgentKind::Human,
                    week: start + chrono::Duration::weeks(week),
                    tokens: crate::normalize::pricing::Tokens::default(),
                    requests: 100,
                    sessions: 5,
                    active_days: 4,
                    cost_usd: cost * LogNormal::new(0.0, 0.1).unwrap().sample(&mut rng),
                    billed_cost_usd: 0.0,
                    unpriced_tokens: 0,
                    outputs: BTreeMap::from([("commit".to_string(), output)]),
                    output_index: output,
                    trivial_requests: 0,
                    trivial_cost_usd: 0.0,
                });
            }
        }
        weeks
    }

    #[test]
    fn weeks_with_nothing_counted_are_not_a_change() {
        // A light agent's empty weeks move r by ln(level / floor) / β, which a robust σ from
        // successive differences does not see: the count noise has to be in σ. Measured: 1 of
        // these 300 below 0.01 with it, 9 without (at most 3 expected).
        let config = DetectConfig::default();
        let empty = BTreeMap::new();
        let mut tested = 0;
        let mut small = 0;
        for seed in 1..=5 {
            let weeks = honest_weeks(seed);
            let evidence = super::super::Evidence {
                behavior: &[],
                primary_models: &empty,
            };
            let population = Population::new(&weeks, evidence, &config);
            for assessment in Change.assess(&population, &config) {
                tested += 1;
                small += usize::from(assessment.p_value < 0.01);
            }
        }
        assert_eq!(tested, 300);
        assert!(small <= 4, "{small}/300 honest agents at p < 0.01");
    }
}
