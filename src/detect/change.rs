//! The change lens: each agent against its own earlier weeks.
//!
//! If the agent were honest all along, its weekly output would follow its weekly spend along
//! the production curve, output ∝ spend^β (β the elasticity the efficiency lens fits for the
//! agent's kind), at a level of its own. Honest growth moves output with spend and keeps to
//! that; burning raises spend and leaves output behind. Two one-sided quasi-Poisson score tests
//! (a Poisson GLM with ln spend as offset, the agent's level profiled out) ask whether output
//! fell behind:
//! - a **step**: output after a split against before it (at least two weeks on each side, spend
//!   at least doubled, so that a dip in output alone is never read as inflation);
//! - a **trend**: output falling behind spend week after week, for slow drift.
//!
//! The lens's p is the weighted Cauchy combination (Liu & Xie 2020) of the trend (weight ½) and
//! every split tried (½ shared): neighbouring splits of one real step agree, where Bonferroni
//! would charge the step for every split.
//!
//! Output is read as the counts it is: a week with nothing delivered is a zero count, not a log
//! floor, and each week weighs as much as it delivers. The dispersion (variance of a week's
//! output over its expectation: commits, pull requests and tickets weigh differently, and
//! productivity varies from week to week) is the kind's at the agent's output level, φ + κ·μ
//! fitted robustly over the kind (over every agent when the kind has too few for a line),
//! shrunk with the agent's own, measured around each alternative so that a change does not
//! inflate the noise it is judged against.
//!
//! Weeks differ for the whole company at once: a holiday week, a merge freeze, the first or
//! last week of an export cut mid-week. Each week's expectation is scaled by the company's
//! week effect ([`week_effects`]): how much that week delivered against its spend, over the
//! agents of the kind whose spend held steady, where that is beyond chance (agent level times
//! week, as in a two-way model, estimated once from the levels without it). An agent is judged
//! against its own earlier weeks as the company's weeks went, not as if every week were an
//! ordinary one.
//!
//! Spend, for the tests, is what a week *used*: its tokens weighed by the ratios of list prices
//! between token classes, scaled so that the weeks add up to what the agent spent ([`used`]). A
//! company that moves its people to a model five times the price raises every later week's
//! dollars at the same tokens and output, which is no change in how the agent works; tokens
//! burnt raise both. The messages and the excess report dollars as spent.
//!
//! For the message and the dollars, r = ln(weekly use) − ln(weekly output index)/β is the log of
//! spend over what the curve says the output needs. A one-sided CUSUM (Page 1954;
//! reference value k = 0.5σ, σ from the agent's successive differences of r shrunk towards its
//! kind) over r against the agent's first weeks dates a drift's onset: the week after its last
//! return to zero before its peak.
//!
//! What it cannot see: an agent that burned from its first week (the efficiency lens), a change
//! shorter than two weeks, an agent that delivered nothing at all (nothing to fall behind: the
//! efficiency lens's TA103), and agents with fewer than `min_change_weeks` weeks.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::codes::{CodeDoc, DRIFT, STEP};
use super::efficiency::OUTPUT_FLOOR;
use super::stats::{median, normal_sf, theil_sen, weighted_cauchy_combination};
use super::{AgentSummary, Assessment, DetectConfig, Population, Reason, PRIOR_WEEKS};
use crate::features::AgentWeek;
use crate::normalize::identities::AgentKind;
use crate::units::{factor, round_to, usd};

/// Noise below which a series is treated as this noisy (synthetic or constant data).
const MIN_SIGMA: f64 = 0.1;
/// CUSUM reference value, in σ (half the one-σ shift it is tuned to).
const CUSUM_K: f64 = 0.5;
/// CUSUM decision interval, in σ: the value the reason reports against (Montgomery's h = 4).
const CUSUM_H: f64 = 4.0;
const SEED: u64 = 0xc4a9_6e01;

pub const CODES: [CodeDoc; 2] = [
    CodeDoc {
        code: STEP,
        title: "Spend jumped while output did not",
        lens: "change",
        what_it_means: "From the onset week on, the agent spent several times what it spent in its own earlier weeks for the same output. Spend is read as the week's tokens at the agent's own average price (a move to a dearer model is not a step) and adjusted for output with the cohort's elasticity, so weeks that delivered more may cost more: the lens asks whether the weeks after the onset delivered less than their spend predicts, reading output as counts (a quasi-Poisson score test) against the week-to-week noise of agents of its kind at its output level.",
        why_it_matters: "Inflation that starts mid-period hides inside a cohort: averaged over the period the agent can still look like its peers. Against its own history the jump is plain, and the onset week says when to look.",
        benign_explanations: &[
            "A new project, migration or codebase whose output lands after the period.",
            "On-call or incident weeks (investigation is token-heavy and leaves few artifacts).",
            "A switch to a tool or workflow that reads more context, for a real reason (a dearer model alone is not a step: the lens weighs tokens at the agent's own average price).",
            "Output moved to an identity the identity map does not link yet.",
        ],
        example: "from the week of 2026-10-05 spend averaged $410 a week against $52 before (7.9x) while output went from 14.2 to 13.8 index points: arc elasticity -0.02",
    },
    CodeDoc {
        code: DRIFT,
        title: "Spend drifting up week after week",
        lens: "change",
        what_it_means: "The agent's spend for its output rose steadily over the period. The lens tests whether output fell further behind what spend predicts week after week (a quasi-Poisson score test on a trend) and runs a one-sided CUSUM (Page 1954) against the agent's first weeks to date the onset; the message gives the weekly growth of spend for the same output and how far the CUSUM climbed (4 is the conventional alarm).",
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
#[derive(Clone)]
struct Point {
    week: NaiveDate,
    /// What the week cost, dollars: what the messages and the excess report.
    cost: f64,
    /// What the week used, at the agent's own average price ([`used`]): what the tests read.
    used: f64,
    /// The spend the week's output is the work of: `used`, or where output lands after the
    /// work ([`lag`]), this week's and last week's mixed on the curve.
    paid: f64,
    output: f64,
    r: f64,
}

/// Each week's use of tokens, in dollars at the agent's own average price over the series: a
/// change of model or of price list (a company moving its people to a model five times the
/// price) moves the dollars of every week after it, and is not the agent's doing; tokens burnt
/// move both. Where some week has cost without tokens (a cost report), the dollars as they are.
fn used(weeks: &[&AgentWeek]) -> Vec<f64> {
    let reference: Vec<f64> = weeks
        .iter()
        .map(|w| super::population::at_reference_prices(&w.tokens))
        .collect();
    let cost: f64 = weeks.iter().map(|w| w.cost_usd).sum();
    let total: f64 = reference.iter().sum();
    if reference.iter().any(|r| *r <= 0.0) || total <= 0.0 {
        return weeks.iter().map(|w| w.cost_usd).collect();
    }
    let price = cost / total;
    reference.into_iter().map(|r| r * price).collect()
}

/// Elasticity below which output cannot say what spend it needs; the lens uses this instead.
const MIN_ELASTICITY: f64 = 0.2;
/// Ratio of mean weekly spend after a split to before it that a step needs.
const MIN_STEP_RATIO: f64 = 2.0;

fn series(weeks: &[&AgentWeek], elasticity: f64) -> Vec<Point> {
    let elasticity = elasticity.max(MIN_ELASTICITY);
    let weeks: Vec<&AgentWeek> = weeks
        .iter()
        .filter(|w| w.requests > 0 && w.cost_usd > 0.0)
        .copied()
        .collect();
    weeks
        .iter()
        .zip(used(&weeks))
        .map(|(w, used)| Point {
            week: w.week,
            cost: w.cost_usd,
            used,
            paid: used,
            output: w.output_index,
            r: used.ln() - w.output_index.max(OUTPUT_FLOOR).ln() / elasticity,
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
#[derive(Debug, Clone)]
struct Tested {
    p_value: f64,
    z: f64,
    slope: f64,
    cusum_peak: f64,
    onset: usize,
    baseline: f64,
    step_wins: bool,
}

/// Weight, in weeks, of the kind's dispersion at an agent's output level against the agent's
/// own estimate. Ten weeks give an own estimate good to about ±45% (a χ² with about ten degrees
/// of freedom); a burner's noisy weeks would inflate it further and hide its change.
const DISPERSION_PRIOR_WEEKS: f64 = 12.0;

/// `shape` scaled so that it adds up to what `points` delivered.
fn delivered_along(points: &[Point], shape: Vec<f64>) -> Vec<f64> {
    let delivered: f64 = points.iter().map(|p| p.output).sum();
    let level = delivered / shape.iter().sum::<f64>().max(MIN_EXPECTED);
    shape.into_iter().map(|m| m * level).collect()
}

/// What an agent's output counts say before any test is run.
struct Counts {
    /// Each week's output expected if the agent were honest all along ([`expected`]).
    expected: Vec<f64>,
    /// The mean of `expected`: the output level the kind's dispersion is read at.
    level: f64,
    /// The agent's own dispersion around a fitted drift ([`trend_fit`]).
    trend_dispersion: Option<f64>,
}

/// Each week's output expected if the agent were honest all along: output ∝ spend^β at the
/// agent's own level (its total output spread over its weeks in proportion to spend^β), each
/// week scaled by the company's `week_effect` for it; `None` when nothing was delivered: then
/// output cannot say whether spend outgrew it.
fn expected(
    points: &[Point],
    elasticity: f64,
    week_effect: impl Fn(NaiveDate) -> f64,
) -> Option<Vec<f64>> {
    let elasticity = elasticity.max(MIN_ELASTICITY);
    if points.iter().map(|p| p.output).sum::<f64>() <= 0.0 {
        return None;
    }
    let shape = points
        .iter()
        .map(|p| p.paid.powf(elasticity) * week_effect(p.week))
        .collect();
    Some(delivered_along(points, shape))
}

/// The agent's [`Counts`] from its [`expected`] output.
fn counts(points: &[Point], expected: Vec<f64>) -> Counts {
    let trend = trend_fit(points, &expected, &week_offsets(points));
    Counts {
        level: mean(expected.iter().copied()),
        trend_dispersion: pearson_dispersion(points, &trend),
        expected,
    }
}

/// The shares of a week's output that may be last week's work, tried by [`lag`].
const LAGS: [f64; 9] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];

/// `points` with each week's output read as the work of this week's spend and, for a share
/// `lag` of it, last week's: `paid` the two mixed on the curve, (1 − lag)·u_t^β + lag·u_{t−1}^β
/// to the power 1/β, and r from it. A week without usage the week before paid for nothing
/// then; the first week of a series is taken to follow one like it.
fn lagged(mut points: Vec<Point>, elasticity: f64, lag: f64) -> Vec<Point> {
    if lag == 0.0 {
        return points;
    }
    let beta = elasticity.max(MIN_ELASTICITY);
    let (now, before) = on_curve(&points, beta);
    for ((p, now), before) in points.iter_mut().zip(now).zip(before) {
        p.paid = ((1.0 - lag) * now + lag * before).powf(1.0 / beta);
        p.r = p.paid.ln() - p.output.max(OUTPUT_FLOOR).ln() / beta;
    }
    points
}

/// Each week's spend and the week before's on the curve, u_t^β and u_{t−1}^β, for [`lagged`].
fn on_curve(points: &[Point], beta: f64) -> (Vec<f64>, Vec<f64>) {
    let now: Vec<f64> = points.iter().map(|p| p.used.powf(beta)).collect();
    let before = (0..points.len())
        .map(|i| match i.checked_sub(1) {
            None => now[i],
            Some(j) if (points[i].week - points[j].week).num_days() == 7 => now[j],
            Some(_) => 0.0,
        })
        .collect();
    (now, before)
}

/// How far, in χ² with one degree of freedom, a lag must fit better than none to be read
/// (p 0.001): a company whose output follows its own week's spend reads none, not the lag
/// chance favours (0.1 in one of five seeds of the unit test without this).
const LAG_CHI2: f64 = 10.83;

/// The share of a week's output that is last week's work, for each kind of agent: the one of
/// [`LAGS`] under which the kind's [`steady`] agents' weekly output fits their spend best (the
/// Poisson deviance of their counts, each at its own level, scaled by its dispersion), where
/// that fits better than none beyond chance ([`LAG_CHI2`]). Kinds with fewer than
/// [`MIN_WEEK_AGENTS`] steady agents take none.
///
/// Artifacts land after the work that made them: a PR merges days after the code was written,
/// a ticket closes after review. Where most land the week after, a week's output is mostly the
/// week before's spend, and read against its own week's spend an honest agent's weeks scatter
/// more, and a burner's step shows a week late and blurred. The company says how much: the lag
/// under which output follows spend most closely.
fn lags(
    judged: &[(&AgentSummary, Vec<Point>)],
    elasticity: impl Fn(AgentKind) -> f64,
) -> BTreeMap<AgentKind, f64> {
    let mut by_kind: BTreeMap<AgentKind, Vec<&[Point]>> = BTreeMap::new();
    for (agent, points) in judged {
        if steady(points) {
            by_kind.entry(agent.kind).or_default().push(points);
        }
    }
    by_kind
        .into_iter()
        .filter(|(_, series)| series.len() >= MIN_WEEK_AGENTS)
        .map(|(kind, series)| {
            let beta = elasticity(kind).max(MIN_ELASTICITY);
            // What the deviance reads of each series that delivered anything ([`expected`]),
            // worked out once for every lag tried.
            let curves: Vec<(&[Point], Vec<f64>, Vec<f64>)> = series
                .iter()
                .filter(|points| points.iter().map(|p| p.output).sum::<f64>() > 0.0)
                .map(|points| {
                    let (now, before) = on_curve(points, beta);
                    (*points, now, before)
                })
                .collect();
            let deviance = |lag: f64| -> f64 {
                curves
                    .iter()
                    .map(|(points, now, before)| {
                        let shape = now
                            .iter()
                            .zip(before)
                            .map(|(now, before)| (1.0 - lag) * now + lag * before)
                            .collect();
                        poisson_deviance(points, &delivered_along(points, shape))
                    })
                    .sum()
            };
            let none = deviance(0.0);
            let (best, least) = LAGS
                .iter()
                .map(|lag| (*lag, deviance(*lag)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0.0, none));
            // Each series fits its own level: the rest of its weeks are the deviance's
            // degrees of freedom, and the counts' dispersion is at least Poisson.
            let weeks: usize = series.iter().map(|points| points.len()).sum();
            let dispersion = (none / (weeks - series.len()).max(1) as f64).max(1.0);
            let lag = if (none - least) / dispersion >= LAG_CHI2 {
                best
            } else {
                0.0
            };
            (kind, lag)
        })
        .collect()
}

/// Twice the Poisson log-likelihood ratio of `points`' output against `expected`.
fn poisson_deviance(points: &[Point], expected: &[f64]) -> f64 {
    points
        .iter()
        .zip(expected)
        .map(|(p, e)| {
            let e = e.max(MIN_EXPECTED);
            let o = p.output;
            2.0 * (if o > 0.0 { o * (o / e).ln() } else { 0.0 } - (o - e))
        })
        .sum()
}

/// How much each calendar week delivered, company-wide, against what its spend predicts: for
/// each kind of agent and week, what the kind's [`steady`] agents delivered over what they
/// were expected to, where that is beyond chance ([`WEEK_EFFECT_Z`]). A week left out is an
/// ordinary one (1).
///
/// Weeks differ for everyone at once, and not by the agent's doing: a holiday week in which
/// people work two days delivers a fraction of what its spend buys on the curve (days off cut
/// output in proportion, spend only along the curve); a release freeze holds every merge back
/// and releases it the week after; an export cut mid-week holds part of a week's spend and
/// less of its output. Read against the agent's own earlier weeks, such a week moved the step
/// and trend tests of every agent, and the dispersion they are judged against.
///
/// Only steady agents say how a week went: an agent whose spend doubled is what the tests are
/// looking for, and burners who double their spend in one week (a usage target announced on a
/// Monday) would otherwise pull that week's effect down and hide themselves in it. "Steady" is
/// about spend, not honesty: many people who raise their spend by less than double from the
/// same week are read as the company's week, and so are their shortfalls. Weeks that fewer
/// than [`MIN_WEEK_AGENTS`] steady agents of a kind worked keep no effect; a week in which they
/// delivered nothing at all (a freeze where only merges are counted) takes
/// [`MIN_WEEK_EFFECT`].
fn week_effects(
    judged: &[(&AgentSummary, Vec<Point>)],
    expected: &[Option<Vec<f64>>],
) -> BTreeMap<(AgentKind, NaiveDate), f64> {
    // Per kind and week: (output, expected) of each steady agent with usage that week.
    let mut weeks: BTreeMap<(AgentKind, NaiveDate), Vec<(f64, f64)>> = BTreeMap::new();
    for ((agent, points), expected) in judged.iter().zip(expected) {
        let Some(expected) = expected.as_ref().filter(|_| steady(points)) else {
            continue;
        };
        for (p, expected) in points.iter().zip(expected) {
            weeks
                .entry((agent.kind, p.week))
                .or_default()
                .push((p.output, *expected));
        }
    }
    weeks
        .into_iter()
        .filter(|(_, pairs)| pairs.len() >= MIN_WEEK_AGENTS)
        .filter_map(|(key, pairs)| {
            let delivered: f64 = pairs.iter().map(|(o, _)| o).sum();
            let expected: f64 = pairs.iter().map(|(_, e)| e).sum();
            if expected <= MIN_EXPECTED {
                return None;
            }
            if delivered <= 0.0 {
                return Some((key, MIN_WEEK_EFFECT));
            }
            let effect = delivered / expected;
            // The ratio's standard error on the log scale, from the agents' own deviations (a
            // sandwich estimate: whatever the agents' noise, not a Poisson model of it).
            let deviations: f64 = pairs.iter().map(|(o, e)| (o - effect * e).powi(2)).sum();
            let se = deviations.sqrt() / delivered;
            (effect.ln().abs() >= WEEK_EFFECT_Z * se).then_some((key, effect))
        })
        .collect()
}

/// Pearson's estimate of dispersion (variance of a week's output over its expectation) around
/// `fitted`, a fit with two parameters: the level, and the change under test. Measured around
/// the alternative, so that a change does not inflate the noise it is judged against.
fn pearson_dispersion(points: &[Point], fitted: &[f64]) -> Option<f64> {
    let n = points.len();
    (n > 2).then(|| {
        points
            .iter()
            .zip(fitted)
            .map(|(p, f)| (p.output - f).powi(2) / f.max(MIN_EXPECTED))
            .sum::<f64>()
            / (n - 2) as f64
    })
}

/// The dispersion of agents by output level, d = φ + κ·μ, fitted robustly (Theil–Sen for κ,
/// at least 0; φ the median of d − κ·μ): a burner's dispersion is an outlier, not the trend.
fn dispersion_line(level: &[f64], own: &[f64], max_pairs: usize) -> Option<(f64, f64)> {
    let slope = theil_sen(level, own, max_pairs, SEED).map_or(0.0, |line| line.slope.max(0.0));
    let offsets: Vec<f64> = level.iter().zip(own).map(|(l, d)| d - slope * l).collect();
    Some((median(&offsets)?, slope))
}

/// Expected output below which a week is taken to expect this much, so that a week of cents
/// cannot divide by nothing.
const MIN_EXPECTED: f64 = 1e-6;

/// `expected` rescaled so that each side of a split delivers what it did: the fit of a step.
fn step_fit(points: &[Point], expected: &[f64], split: usize) -> Vec<f64> {
    let scale = |range: std::ops::Range<usize>| {
        let delivered: f64 = points[range.clone()].iter().map(|p| p.output).sum();
        delivered / expected[range].iter().sum::<f64>().max(MIN_EXPECTED)
    };
    let (before, after) = (scale(0..split), scale(split..points.len()));
    expected
        .iter()
        .enumerate()
        .map(|(t, mu)| mu * if t < split { before } else { after })
        .collect()
}

/// `expected` with a log-linear trend in `weeks` fitted by Poisson likelihood (Newton steps on
/// the trend, the level profiled out): the fit of a drift.
fn trend_fit(points: &[Point], expected: &[f64], weeks: &[f64]) -> Vec<f64> {
    let fitted = |gamma: f64| -> Vec<f64> {
        let shape = expected
            .iter()
            .zip(weeks)
            .map(|(mu, t)| mu * (gamma * t).exp())
            .collect();
        delivered_along(points, shape)
    };
    let mut gamma = 0.0;
    for _ in 0..30 {
        let f = fitted(gamma);
        let total: f64 = f.iter().sum();
        let centre = f.iter().zip(weeks).map(|(f, t)| f * t).sum::<f64>() / total;
        let (mut score, mut information) = (0.0, 0.0);
        for ((p, f), t) in points.iter().zip(&f).zip(weeks) {
            score += (t - centre) * (p.output - f);
            information += f * (t - centre).powi(2);
        }
        if information <= 0.0 {
            break;
        }
        // Bounded steps: a series that ends in weeks with nothing would otherwise run away.
        let step = (score / information).clamp(-1.0, 1.0);
        gamma += step;
        if step.abs() < 1e-9 {
            break;
        }
    }
    fitted(gamma)
}

/// One-sided quasi-Poisson score test (log link, variance d·μ) that output fell behind what
/// spend predicts along `x`, the agent's level profiled out: z > 0 when the weeks high in `x`
/// delivered less than expected. Weeks with nothing delivered count as what they are, a zero
/// count, rather than a log floor.
fn score_z(points: &[Point], expected: &[f64], x: &[f64], dispersion: f64) -> f64 {
    let weight: f64 = expected.iter().sum();
    let centre = expected.iter().zip(x).map(|(mu, x)| mu * x).sum::<f64>() / weight;
    let (mut score, mut information) = (0.0, 0.0);
    for ((p, mu), x) in points.iter().zip(expected).zip(x) {
        score -= (x - centre) * (p.output - mu);
        information += mu * (x - centre).powi(2);
    }
    if information <= 0.0 {
        return f64::NEG_INFINITY;
    }
    score / (dispersion * information).sqrt()
}

/// Weeks since the agent's first week with usage: a week away is a gap, not a neighbour.
fn week_offsets(points: &[Point]) -> Vec<f64> {
    points
        .iter()
        .map(|p| (p.week - points[0].week).num_weeks() as f64)
        .collect()
}

/// Two readings of every series: with the trend reading output that fell while spend stayed
/// flat (`with_dips`), and without (`reported`).
///
/// Such a dip is not tokens spent for their own sake (as for the step, the trend asks for spend
/// that at least doubled over the weeks, on the line through ln weekly spend), so it is never
/// reported: before this, the trend flagged honest agents and CI accounts whose output halved
/// by chance, 16 of the 28 honest agents the world `all` flagged over seeds 1-40. But while the
/// passes of [`super::run`] choose the agents left out of the peer curve, an agent whose output
/// fell by half is as unusual a point as the curve can meet, and leaving it in moved the curves
/// enough to raise new peer findings against honest agents (world `all`, an honest seed of
/// twenty). So the passes read dips, and the judgement that is reported does not. Both come
/// from one run of the tests: they differ only in the trend's part of the combination.
#[derive(Debug, Clone)]
pub struct Readings<T> {
    pub with_dips: T,
    pub reported: T,
}

/// How many times its spend grew over the series: the least-squares line through ln weekly
/// spend, from its first week to its last.
fn spend_growth(points: &[Point], weeks: &[f64]) -> f64 {
    let log_cost: Vec<f64> = points
        .iter()
        .map(|p| p.used.max(f64::MIN_POSITIVE).ln())
        .collect();
    let t_mean = mean(weeks.iter().copied());
    let c_mean = mean(log_cost.iter().copied());
    let sxx: f64 = weeks.iter().map(|t| (t - t_mean).powi(2)).sum();
    if sxx <= 0.0 {
        return 1.0;
    }
    let slope = weeks
        .iter()
        .zip(&log_cost)
        .map(|(t, c)| (t - t_mean) * (c - c_mean))
        .sum::<f64>()
        / sxx;
    let span = weeks.last().copied().unwrap_or(0.0) - weeks.first().copied().unwrap_or(0.0);
    (slope * span).exp()
}

/// Weeks in which fewer steady agents of a kind than this worked keep no week effect: a
/// handful says little about the company's week.
const MIN_WEEK_AGENTS: usize = 6;

/// The week effect of a week in which the steady agents delivered nothing: the week expects
/// next to nothing, and an agent's output in it counts for its level (its log stays finite).
const MIN_WEEK_EFFECT: f64 = 0.01;

/// How many standard errors from an ordinary week a week's effect must be to count. In a
/// company without holidays the weeks' ratios scatter around 1 by chance (0.84 to 1.32 in a
/// default company of sixty, seed 3), and applying that scatter would add noise to every
/// agent's test; a holiday week is fifteen standard errors away.
const WEEK_EFFECT_Z: f64 = 3.0;

/// The splits a step is tested at: at least two weeks on each side, and spend after the split
/// at least [`MIN_STEP_RATIO`] times what it was before.
fn step_splits(points: &[Point]) -> impl Iterator<Item = usize> + '_ {
    (2..=points.len().saturating_sub(2)).filter(|k| {
        let spend_before = mean(points[..*k].iter().map(|p| p.used));
        let spend_after = mean(points[*k..].iter().map(|p| p.used));
        spend_after >= MIN_STEP_RATIO * spend_before
    })
}

/// The split at which a series' spend stepped up most, where it at least doubled.
fn step_week(points: &[Point]) -> Option<usize> {
    step_splits(points).max_by(|a, b| spend_ratio(points, *a).total_cmp(&spend_ratio(points, *b)))
}

/// Mean spend after split `k` over mean spend before it.
fn spend_ratio(points: &[Point], k: usize) -> f64 {
    mean(points[k..].iter().map(|p| p.used))
        / mean(points[..k].iter().map(|p| p.used)).max(f64::MIN_POSITIVE)
}

/// Whether no reported test can judge the series: no split a step is tested at, and spend
/// that did not grow enough for the trend to be reported ([`Readings`]). Such an agent's
/// output says how the company's weeks went ([`week_effects`]), whatever its own level.
fn steady(points: &[Point]) -> bool {
    step_splits(points).next().is_none()
        && spend_growth(points, &week_offsets(points)) < MIN_STEP_RATIO
}

/// The two tests on an agent's series. The p-value comes from output counts against what spend
/// predicts ([`Counts`]), with a dispersion measured around each alternative and shrunk
/// towards `prior_dispersion`; the CUSUM that dates a drift reads r in units of `sigma`.
fn test(
    points: &[Point],
    sigma: f64,
    counts: Option<&Counts>,
    prior_dispersion: f64,
) -> Readings<Tested> {
    let n = points.len();
    let own_weight = (n - 2) as f64;
    // Never below Poisson: an index is a count, or a weighted sum of counts.
    let shrunk = |own: Option<f64>| {
        own.map_or(prior_dispersion, |own| {
            (DISPERSION_PRIOR_WEEKS * prior_dispersion + own_weight * own)
                / (DISPERSION_PRIOR_WEEKS + own_weight)
        })
        .max(1.0)
    };
    let weeks = week_offsets(points);
    // Step: the best split with at least two weeks on each side, where spend at least doubled.
    let (mut z_step, mut split) = (f64::NEG_INFINITY, 2);
    let mut split_p = Vec::new();
    for k in step_splits(points) {
        let after: Vec<f64> = (0..n).map(|t| f64::from(u8::from(t >= k))).collect();
        let z = counts.map_or(f64::NEG_INFINITY, |c| {
            let fit = step_fit(points, &c.expected, k);
            let dispersion = shrunk(pearson_dispersion(points, &fit));
            score_z(points, &c.expected, &after, dispersion)
        });
        // A split the score test could not be computed at is no test, not evidence against.
        if z.is_finite() {
            split_p.push(normal_sf(z));
        }
        if z > z_step || !z_step.is_finite() {
            (z_step, split) = (z, k);
        }
    }
    // Trend: output falling behind spend steadily over the weeks. Reported where spend itself
    // grew as much as a step needs ([`Readings`]).
    let z_trend = counts.map_or(f64::NEG_INFINITY, |c| {
        score_z(points, &c.expected, &weeks, shrunk(c.trend_dispersion))
    });
    let with_dips = combined(points, sigma, &weeks, z_step, split, &split_p, z_trend);
    let reported = if spend_growth(points, &weeks) >= MIN_STEP_RATIO {
        with_dips.clone()
    } else {
        combined(
            points,
            sigma,
            &weeks,
            z_step,
            split,
            &split_p,
            f64::NEG_INFINITY,
        )
    };
    Readings {
        with_dips,
        reported,
    }
}

/// The step's and the trend's z-scores combined into one agent's result, with the growth of
/// spend for the same output and the onset for the message.
fn combined(
    points: &[Point],
    sigma: f64,
    weeks: &[f64],
    z_step: f64,
    split: usize,
    split_p: &[f64],
    z_trend: f64,
) -> Tested {
    let n = points.len();
    let r: Vec<f64> = points.iter().map(|p| p.r).collect();
    let p_trend = if z_trend.is_finite() {
        normal_sf(z_trend)
    } else {
        1.0
    };
    // Overlapping tests of one series, combined by Cauchy: half the weight on the trend, half
    // shared by the splits. Neighbouring splits of a real step agree, and Bonferroni over them
    // charged the step for every split it did not need.
    let p_step = if z_step.is_finite() {
        normal_sf(z_step)
    } else {
        1.0
    };
    let step_wins = p_step <= p_trend;
    // Only tests that ran: half the weight each to the step and the trend, all of it to the
    // one that ran alone.
    let (step_weight, trend_weight) = match (split_p.is_empty(), z_trend.is_finite()) {
        (false, true) => (0.5, 0.5),
        (false, false) => (1.0, 0.0),
        (true, _) => (0.0, 1.0),
    };
    let mut tests: Vec<(f64, f64)> = split_p
        .iter()
        .map(|p| (*p, step_weight / split_p.len() as f64))
        .collect();
    if z_trend.is_finite() {
        tests.push((p_trend, trend_weight));
    }
    // Neither test on the side of inflation is nothing to report (p = 1, a stricter test), as
    // for the efficiency lens at or below its peers: output that kept up with spend is no
    // evidence against another lens's finding.
    let p_value = if p_step.min(p_trend) < 0.5 {
        weighted_cauchy_combination(&tests).unwrap_or(1.0)
    } else {
        1.0
    };
    // The growth of spend for the same output, for the message: the least-squares slope of r.
    let t_mean = mean(weeks.iter().copied());
    let sxx: f64 = weeks.iter().map(|t| (t - t_mean).powi(2)).sum();
    let r_mean = mean(r.iter().copied());
    let slope = weeks
        .iter()
        .zip(&r)
        .map(|(t, r)| (t - t_mean) * (r - r_mean))
        .sum::<f64>()
        / sxx.max(f64::MIN_POSITIVE);
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

/// Every eligible agent with enough weeks, and its series as logged.
fn eligible_series<'a>(
    population: &'a Population,
    elasticity: &BTreeMap<AgentKind, f64>,
    config: &DetectConfig,
) -> Vec<(&'a AgentSummary, Vec<Point>)> {
    let mut by_agent: BTreeMap<&str, Vec<&AgentWeek>> = BTreeMap::new();
    for week in population.weeks {
        by_agent.entry(&week.agent).or_default().push(week);
    }
    population
        .agents
        .iter()
        .filter(|a| a.eligible)
        .filter_map(|agent| {
            let beta = elasticity.get(&agent.kind).copied().unwrap_or(0.0);
            let points = series(by_agent.get(agent.agent.as_str())?, beta);
            (points.len() >= config.min_change_weeks as usize).then_some((agent, points))
        })
        .collect()
}

/// Every eligible agent with enough weeks, its series read against the company's weeks
/// ([`week_effects`]: r for the CUSUM shifted as if every week were an ordinary one), and the
/// week effects by kind and week.
#[allow(clippy::type_complexity)]
fn judged_series<'a>(
    population: &'a Population,
    elasticity: &BTreeMap<AgentKind, f64>,
    config: &DetectConfig,
) -> (
    Vec<(&'a AgentSummary, Vec<Point>)>,
    BTreeMap<(AgentKind, NaiveDate), f64>,
    Vec<OutputLag>,
) {
    let judged = eligible_series(population, elasticity, config);
    let beta = |agent: &AgentSummary| elasticity.get(&agent.kind).copied().unwrap_or(0.0);
    let lags = lags(&judged, |kind| {
        elasticity.get(&kind).copied().unwrap_or(0.0)
    });
    let judged: Vec<(&AgentSummary, Vec<Point>)> = judged
        .into_iter()
        .map(|(agent, points)| {
            let lag = lags.get(&agent.kind).copied().unwrap_or(0.0);
            (agent, lagged(points, beta(agent), lag))
        })
        .collect();
    let ordinary: Vec<Option<Vec<f64>>> = judged
        .iter()
        .map(|(agent, points)| expected(points, beta(agent), |_| 1.0))
        .collect();
    // Each agent's weeks against the company's weeks ([`week_effects`]): the expectations,
    // and r for the CUSUM, as if every week were an ordinary one.
    let effects = week_effects(&judged, &ordinary);
    let effect = |kind: AgentKind, week: NaiveDate| effects.get(&(kind, week)).copied();
    let judged: Vec<(&AgentSummary, Vec<Point>)> = judged
        .into_iter()
        .map(|(agent, mut points)| {
            let beta = beta(agent).max(MIN_ELASTICITY);
            for p in &mut points {
                p.r += effect(agent.kind, p.week).map_or(0.0, f64::ln) / beta;
            }
            (agent, points)
        })
        .collect();
    let lags = lags
        .into_iter()
        .filter(|(_, share)| *share > 0.0)
        .map(|(kind, share)| OutputLag { kind, share })
        .collect();
    (judged, effects, lags)
}

/// Agents of one kind who at least doubled their spend from the same week, and together
/// delivered less for it than the company's steady agents did across that week.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SharedStep {
    /// The first week of the doubled spend.
    pub week: NaiveDate,
    pub agents: Vec<String>,
    /// How far the group's mean step score sits above the steady agents' at that week, in
    /// standard errors of the difference (one-sided).
    pub z: f64,
}

/// Agents a shared step needs: fewer are judged one by one well enough.
const MIN_SHARED_STEP_AGENTS: usize = 5;

/// Standard errors a shared step must sit above the steady agents to be reported.
const SHARED_STEP_Z: f64 = 3.0;

/// Shared steps: the agents of a kind whose spend stepped up most at the same week (the split
/// with the largest ratio of spend after to before, where it at least doubled),
/// grouped, their step scores at that week against the steady agents' scores at it.
///
/// A usage target answered by a quarter of a company at once is what the per-agent tests read
/// worst: the burners pull the peers' elasticity down, so each expects less output from more
/// spend; each has a handful of artifacts a week to show a shortfall in; and the empirical
/// null, fitted over a population a quarter of which stepped up together, reads their steps
/// as the company's norm. Together they are plain. Each agent's score is the quasi-Poisson
/// score test of [`score_z`] at the split (dispersion from its own fit, at least Poisson);
/// the reference is the same score at the same week for the agents whose spend held steady
/// ([`steady`]), who share the company's week and its model, so that a model the data break
/// moves both alike. The group's mean is compared with theirs by a two-sample z on the steady
/// agents' spread.
///
/// `expected` is each judged series' [`expected`] output, read against the company's weeks.
fn shared_steps(
    judged: &[(&AgentSummary, Vec<Point>)],
    expected: &[Option<Vec<f64>>],
) -> Vec<SharedStep> {
    // The step score of one series at split `k`.
    let score_at = |points: &[Point], expected: &[f64], k: usize| {
        let after: Vec<f64> = (0..points.len())
            .map(|t| f64::from(u8::from(t >= k)))
            .collect();
        let fit = step_fit(points, expected, k);
        let dispersion = pearson_dispersion(points, &fit).unwrap_or(1.0).max(1.0);
        score_z(points, expected, &after, dispersion)
    };
    let mut stepped: BTreeMap<(AgentKind, NaiveDate), Vec<(&str, f64)>> = BTreeMap::new();
    let mut steady_series: Vec<(AgentKind, &[Point], &[f64])> = Vec::new();
    for ((agent, points), expected) in judged.iter().zip(expected) {
        let Some(expected) = expected else {
            continue;
        };
        if steady(points) {
            steady_series.push((agent.kind, points, expected));
        } else if let Some(k) = step_week(points) {
            let z = score_at(points, expected, k);
            if z.is_finite() {
                stepped
                    .entry((agent.kind, points[k].week))
                    .or_default()
                    .push((agent.agent.as_str(), z));
            }
        }
    }
    stepped
        .into_iter()
        .filter(|(_, group)| group.len() >= MIN_SHARED_STEP_AGENTS)
        .filter_map(|((kind, week), group)| {
            let reference: Vec<f64> = steady_series
                .iter()
                .filter(|(k, _, _)| *k == kind)
                .filter_map(|(_, points, expected)| {
                    let k = points.iter().position(|p| p.week == week)?;
                    (k >= 2 && k + 2 <= points.len())
                        .then(|| score_at(points, expected, k))
                        .filter(|z| z.is_finite())
                })
                .collect();
            if reference.len() < MIN_WEEK_AGENTS {
                return None;
            }
            let (n_g, n_s) = (group.len() as f64, reference.len() as f64);
            let mean_g = group.iter().map(|(_, z)| z).sum::<f64>() / n_g;
            let mean_s = reference.iter().sum::<f64>() / n_s;
            let sd_s = (reference.iter().map(|z| (z - mean_s).powi(2)).sum::<f64>() / (n_s - 1.0))
                .sqrt()
                .max(1.0);
            let z = (mean_g - mean_s) / (sd_s * (1.0 / n_g + 1.0 / n_s).sqrt());
            (z >= SHARED_STEP_Z).then(|| SharedStep {
                week,
                agents: group.iter().map(|(a, _)| a.to_string()).collect(),
                z: round_to(z, 2),
            })
        })
        .collect()
}

/// The history lens's judgement of a population: every agent in both [`Readings`], the
/// [`SharedStep`]s among them, and the [`OutputLag`]s their weeks were read under.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub readings: Readings<Vec<Assessment>>,
    pub shared_steps: Vec<SharedStep>,
    pub output_lags: Vec<OutputLag>,
}

/// The share of a kind's weekly output the history lens read as the work of the week before
/// ([`lags`]), where it read any.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutputLag {
    pub kind: AgentKind,
    pub share: f64,
}

/// Judges every eligible agent with enough weeks against its own history, adjusting spend for
/// output with the `elasticity` of its kind (the peer curves'), in both [`Readings`], and
/// finds the steps agents took together.
pub fn assess(
    population: &Population,
    elasticity: &BTreeMap<AgentKind, f64>,
    config: &DetectConfig,
) -> Judgement {
    let (judged, effects, output_lags) = judged_series(population, elasticity, config);
    let beta = |agent: &AgentSummary| elasticity.get(&agent.kind).copied().unwrap_or(0.0);
    let effect = |kind: AgentKind, week: NaiveDate| effects.get(&(kind, week)).copied();
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
    // Output counts: each agent's weeks as expected if honest, its own dispersion, and the
    // kind's dispersion by output level, d = φ + κ·μ (Poisson counts weighted by kind of
    // output, and week-to-week variation in productivity that grows with the level).
    let expectations: Vec<Option<Vec<f64>>> = judged
        .iter()
        .map(|(agent, points)| {
            expected(points, beta(agent), |week| {
                effect(agent.kind, week).unwrap_or(1.0)
            })
        })
        .collect();
    let shared_steps = shared_steps(&judged, &expectations);
    let counted: Vec<Option<Counts>> = judged
        .iter()
        .zip(expectations)
        .map(|((_, points), expected)| Some(counts(points, expected?)))
        .collect();
    let mut levels: BTreeMap<Option<AgentKind>, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for ((agent, _), c) in judged.iter().zip(&counted) {
        if let Some((level, own)) = c
            .as_ref()
            .and_then(|c| Some((c.level, c.trend_dispersion?)))
        {
            // Each agent counts for its kind and for everyone (`None`).
            for key in [Some(agent.kind), None] {
                let entry = levels.entry(key).or_default();
                entry.0.push(level);
                entry.1.push(own);
            }
        }
    }
    // A kind with too few agents for a line of its own (two service accounts, say) takes the
    // line through every agent: the dispersion is the output index's, whoever delivers it.
    let lines: BTreeMap<Option<AgentKind>, (f64, f64)> = levels
        .iter()
        .filter(|(_, (level, _))| level.len() >= config.min_cohort_agents)
        .filter_map(|(key, (level, own))| {
            Some((*key, dispersion_line(level, own, config.max_pairs)?))
        })
        .collect();
    let kind_dispersion = |kind: AgentKind| {
        lines
            .get(&Some(kind))
            .or_else(|| lines.get(&None))
            .copied()
            .unwrap_or((1.0, 0.0))
    };
    let base: BTreeMap<AgentKind, f64> = excess
        .iter()
        .filter_map(|(kind, v)| Some((*kind, median(v)?.max(MIN_SIGMA * MIN_SIGMA))))
        .collect();
    let (with_dips, reported) = judged
        .into_iter()
        .zip(counted)
        .map(|((agent, points), counts)| {
            let count_noise = count_variance(agent);
            let prior = base
                .get(&agent.kind)
                .copied()
                .unwrap_or(MIN_SIGMA * MIN_SIGMA)
                + count_noise;
            // A robust σ ignores the weeks with nothing counted, which the means below do
            // not: never below the count noise.
            let own = own_sigma(&points).map_or(prior, |s| (s * s).max(count_noise));
            let own_weight = (points.len() - 2) as f64;
            let sigma = ((PRIOR_WEEKS * prior + own_weight * own) / (PRIOR_WEEKS + own_weight))
                .sqrt()
                .max(MIN_SIGMA);
            let (phi, kappa) = kind_dispersion(agent.kind);
            let level = counts.as_ref().map_or(0.0, |c| c.level);
            let tested = test(&points, sigma, counts.as_ref(), phi + kappa * level);
            (
                assessment(agent, &points, &tested.with_dips),
                assessment(agent, &points, &tested.reported),
            )
        })
        .unzip();
    Judgement {
        readings: Readings {
            with_dips,
            reported,
        },
        shared_steps,
        output_lags,
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
                used: r.exp(),
                paid: r.exp(),
                output: 1.0,
                r: *r,
            })
            .collect()
    }

    const BETA: f64 = 0.45;

    /// A series from weekly spend and output, r as the lens computes it.
    fn weekly(costs: &[f64], outputs: &[f64]) -> Vec<Point> {
        costs
            .iter()
            .zip(outputs)
            .enumerate()
            .map(|(i, (cost, output))| Point {
                week: NaiveDate::from_ymd_opt(2026, 9, 7).unwrap()
                    + chrono::Duration::weeks(i as i64),
                cost: *cost,
                used: *cost,
                paid: *cost,
                output: *output,
                r: cost.ln() - output.max(OUTPUT_FLOOR).ln() / BETA,
            })
            .collect()
    }

    fn run(points: &[Point]) -> Tested {
        test(
            points,
            1.0,
            expected(points, BETA, |_| 1.0)
                .map(|e| counts(points, e))
                .as_ref(),
            2.0,
        )
        .reported
    }

    #[test]
    fn a_step_is_found_at_its_week() {
        let series = weekly(
            &[
                20.0, 22.0, 19.0, 21.0, 20.0, 23.0, 150.0, 160.0, 155.0, 170.0, 150.0, 165.0,
            ],
            &[
                10.0, 12.0, 9.0, 11.0, 10.0, 12.0, 11.0, 10.0, 12.0, 10.0, 9.0, 11.0,
            ],
        );
        let tested = run(&series);
        assert!(tested.step_wins);
        assert_eq!(tested.onset, 6);
        assert!(tested.p_value < 1e-4, "{}", tested.p_value);
    }

    /// A company that moves its people to a model five times the price: every week after the
    /// move costs five times as much for the same tokens and output, which is no step. Five
    /// times the tokens at the same price is one.
    #[test]
    fn a_dearer_model_is_no_step_and_more_tokens_are() {
        let week = |i: usize, tokens: u64, cost: f64| AgentWeek {
            agent: "a".into(),
            team: "t".into(),
            kind: AgentKind::Human,
            week: NaiveDate::from_ymd_opt(2026, 9, 7).unwrap() + chrono::Duration::weeks(i as i64),
            tokens: crate::normalize::pricing::Tokens {
                input: tokens,
                output: tokens / 20,
                cache_read: tokens * 10,
                cache_write: tokens / 4,
            },
            requests: 100,
            sessions: 10,
            active_days: 5,
            cost_usd: cost,
            billed_cost_usd: 0.0,
            unpriced_tokens: 0,
            outputs: BTreeMap::new(),
            output_index: [10.0, 12.0, 9.0, 11.0][i % 4],
            trivial_requests: 0,
            trivial_cost_usd: 0.0,
        };
        let jitter = |i: usize| 1.0 + 0.05 * ((i * 7 % 5) as f64 - 2.0);
        let dearer: Vec<AgentWeek> = (0..12)
            .map(|i| {
                let price = if i < 6 { 1.0 } else { 5.0 };
                week(i, (1e6 * jitter(i)) as u64, 20.0 * price * jitter(i))
            })
            .collect();
        let burnt: Vec<AgentWeek> = (0..12)
            .map(|i| {
                let volume = if i < 6 { 1.0 } else { 5.0 };
                week(
                    i,
                    (1e6 * volume * jitter(i)) as u64,
                    20.0 * volume * jitter(i),
                )
            })
            .collect();
        let tested = |weeks: &[AgentWeek]| {
            let weeks: Vec<&AgentWeek> = weeks.iter().collect();
            run(&series(&weeks, BETA))
        };
        let dearer = tested(&dearer);
        assert!(dearer.p_value > 0.1, "{dearer:?}");
        let burnt = tested(&burnt);
        assert!(burnt.step_wins && burnt.p_value < 1e-3, "{burnt:?}");
        assert_eq!(burnt.onset, 6);
    }

    #[test]
    fn a_steady_drift_is_found() {
        let costs: Vec<f64> = (0..12).map(|t| 20.0 * 1.3_f64.powi(t)).collect();
        let outputs = [
            10.0, 11.0, 9.0, 10.0, 12.0, 9.0, 10.0, 11.0, 10.0, 9.0, 11.0, 10.0,
        ];
        let tested = run(&weekly(&costs, &outputs));
        assert!(tested.p_value < 1e-3, "{}", tested.p_value);
        // r grows by ln 1.3 a week, less what the flat output's noise takes off.
        assert!(
            (tested.slope - 1.3_f64.ln()).abs() < 0.08,
            "{}",
            tested.slope
        );
    }

    #[test]
    fn growth_with_output_in_proportion_is_not_a_change() {
        // Spend up 30% a week and output up as the curve says (1.3^0.45 a week): a ramp-up.
        let costs: Vec<f64> = (0..10).map(|t| 20.0 * 1.3_f64.powi(t)).collect();
        let outputs: Vec<f64> = costs
            .iter()
            .zip([1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0])
            .map(|(c, wobble)| (5.0 * (c / 20.0).powf(BETA)).round() + wobble)
            .collect();
        let tested = run(&weekly(&costs, &outputs));
        assert!(tested.p_value > 0.2, "{}", tested.p_value);
    }

    #[test]
    fn output_that_fell_while_spend_stayed_flat_is_not_a_change() {
        // A CI account at a flat $108 a week whose output halved by chance over the quarter: the
        // trend once read it as spend for the same output growing 39% a week. Spend that did
        // not grow is not tokens spent for their own sake, for the trend as for the step.
        let costs = [
            108.0, 109.0, 107.0, 108.0, 110.0, 108.0, 107.0, 108.0, 108.0, 109.0, 107.0, 107.0,
        ];
        let outputs = [
            24.0, 26.0, 30.0, 22.0, 20.0, 27.0, 30.0, 17.0, 13.0, 20.0, 13.0, 12.0,
        ];
        let series = weekly(&costs, &outputs);
        assert!(spend_growth(&series, &week_offsets(&series)) < 1.05);
        assert_eq!(run(&series).p_value, 1.0);
        // The same fall in output while spend grew 2.5 times over the weeks is one.
        let growing: Vec<f64> = (0..12)
            .map(|t| 100.0 * 2.5f64.powf(t as f64 / 11.0))
            .collect();
        let series = weekly(&growing, &outputs);
        assert!((spend_growth(&series, &week_offsets(&series)) - 2.5).abs() < 1e-9);
        assert!(run(&series).p_value < 1e-3, "{}", run(&series).p_value);
    }

    #[test]
    fn noise_alone_is_not_a_change() {
        let series = weekly(
            &[20.0, 22.0, 19.0, 21.0, 20.0, 23.0, 18.0, 21.0],
            &[10.0, 12.0, 8.0, 11.0, 9.0, 12.0, 8.0, 10.0],
        );
        assert!(run(&series).p_value > 0.05);
    }

    #[test]
    fn nothing_delivered_says_nothing_about_change() {
        // Without output the curve cannot say what spend the weeks needed.
        let series = weekly(&[20.0, 20.0, 20.0, 20.0, 200.0, 200.0, 200.0], &[0.0; 7]);
        assert_eq!(run(&series).p_value, 1.0);
    }

    #[test]
    fn dispersion_is_measured_around_the_change() {
        // Against the series without a change, the step reads as noise; around the step fitted
        // at its week, the weeks are as regular as they look.
        let series = weekly(
            &[20.0, 20.0, 20.0, 20.0, 160.0, 160.0, 160.0, 160.0],
            &[10.0, 11.0, 9.0, 10.0, 10.0, 9.0, 11.0, 10.0],
        );
        let expected = expected(&series, BETA, |_| 1.0).unwrap();
        let under_null = pearson_dispersion(&series, &expected).unwrap();
        let around_step = pearson_dispersion(&series, &step_fit(&series, &expected, 4)).unwrap();
        assert!(under_null > 3.0, "{under_null}");
        assert!(around_step < 0.3, "{around_step}");
    }

    #[test]
    fn the_dispersion_line_ignores_a_burner() {
        // d = 2 + 0.05·μ for nine agents; a tenth, whose change inflated its noise, at 30.
        let level = [2.0, 4.0, 6.0, 8.0, 10.0, 14.0, 20.0, 30.0, 40.0, 12.0];
        let own: Vec<f64> = level
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 9 { 30.0 } else { 2.0 + 0.05 * l })
            .collect();
        let (phi, kappa) = dispersion_line(&level, &own, 1_000).unwrap();
        assert!((phi - 2.0).abs() < 1e-9, "{phi}");
        assert!((kappa - 0.05).abs() < 1e-9, "{kappa}");
    }

    /// Reference values from statsmodels 0.14 (`GLM(y, 1, Poisson(), offset=0.45 ln c)`, its
    /// `score_test` with the week index or a step as the extra regressor, and the fit with the
    /// week index): the score tests and the drift fit are the Poisson GLM's.
    #[test]
    fn score_tests_and_the_drift_fit_match_a_poisson_glm() {
        let series = weekly(
            &[20.0, 22.0, 19.0, 21.0, 30.0, 35.0, 40.0, 52.0, 60.0, 75.0],
            &[10.0, 11.0, 9.0, 10.0, 12.0, 9.0, 10.0, 11.0, 10.0, 9.0],
        );
        let expected = expected(&series, BETA, |_| 1.0).unwrap();
        let weeks = week_offsets(&series);
        let z_trend = score_z(&series, &expected, &weeks, 1.0);
        assert!(z_trend > 0.0, "output fell behind spend: {z_trend}");
        assert!((z_trend * z_trend - 5.019_112_39).abs() < 1e-6, "{z_trend}");
        let after: Vec<f64> = (0..10).map(|t| f64::from(u8::from(t >= 5))).collect();
        let z_step = score_z(&series, &expected, &after, 1.0);
        assert!((z_step * z_step - 4.874_138_33).abs() < 1e-6, "{z_step}");
        let fitted = trend_fit(&series, &expected, &weeks);
        let glm = [
            11.261_662_093,
            10.896_671_882,
            9.455_999_945,
            9.169_205_294,
            9.979_349_932,
            9.915_005_975,
            9.760_094_657,
            10.181_065_029,
            10.065_247_134,
            10.315_698_058,
        ];
        for (ours, theirs) in fitted.iter().zip(glm) {
            assert!((ours - theirs).abs() < 1e-6, "{ours} against {theirs}");
        }
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

    /// `judge` given the population of `weeks` and its peers' elasticities, as the run has them.
    fn judged<R>(
        weeks: &[AgentWeek],
        judge: impl FnOnce(&Population, &BTreeMap<AgentKind, f64>, &DetectConfig) -> R,
    ) -> R {
        let config = DetectConfig::default();
        let (empty, none) = (BTreeMap::new(), Default::default());
        let evidence = super::super::Evidence {
            behavior: &[],
            primary_models: &empty,
            repositories: &none,
        };
        let population = Population::new(weeks, evidence, &config);
        let curves =
            super::super::efficiency::fit_curves(&population.agents, &Default::default(), &config);
        judge(&population, &curves.elasticities(), &config)
    }

    /// The p-values [`assess`] gives `weeks`, by agent.
    fn assessed(weeks: &[AgentWeek]) -> BTreeMap<String, f64> {
        judged(weeks, assess)
            .readings
            .reported
            .into_iter()
            .map(|a| (a.agent, a.p_value))
            .collect()
    }

    /// Sixty agents of twelve weeks whose spend varies from week to week and whose output
    /// follows it on the curve (β 0.45), a share `lag` of each week's output the work of the
    /// week before; every sixth quadruples its spend from week 5 for the same output.
    fn following_weeks(seed: u64, lag: f64) -> Vec<AgentWeek> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, LogNormal, Poisson};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let start = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        let mut weeks = Vec::new();
        for agent in 0..60 {
            let level = 2.0 + 18.0 * f64::from(agent) / 59.0;
            let typical = (level / 2.0).powf(1.0 / 0.45);
            let mut last: f64 = 1.0;
            for week in 0..12 {
                let work: f64 = LogNormal::new(0.0, 0.5).unwrap().sample(&mut rng);
                let mean = level * ((1.0 - lag) * work.powf(0.45) + lag * last.powf(0.45));
                last = work;
                let output: f64 = Poisson::new(mean).unwrap().sample(&mut rng);
                let burn = if agent % 6 == 0 && week >= 5 {
                    4.0
                } else {
                    1.0
                };
                let mut honest = honest_weeks(seed)[0].clone();
                honest.agent = format!("agent-{agent:02}");
                honest.week = start + chrono::Duration::weeks(week);
                honest.cost_usd = typical * work * burn;
                honest.outputs = BTreeMap::from([("commit".to_string(), output)]);
                honest.output_index = output;
                weeks.push(honest);
            }
        }
        weeks
    }

    /// The lag [`lags`] reads from `weeks`' people.
    fn lag_read(weeks: &[AgentWeek]) -> f64 {
        judged(weeks, |population, elasticity, config| {
            let series = eligible_series(population, elasticity, config);
            lags(&series, |kind| elasticity[&kind])[&AgentKind::Human]
        })
    }

    #[test]
    fn output_that_lands_the_week_after_is_read_against_the_work() {
        // Output that is mostly last week's work: read against its own week, a burner's step
        // shows a week late and every honest week scatters more. The lag is read from the
        // steady agents, none where there is none, and the burners are found under it.
        // Measured over five seeds, with a lag of 0.7: 37 of the 50 burners at p < 0.01 read
        // under the lag, 27 read against their own week; 3 and 2 of the 250 honest agents.
        let (mut burners, mut found, mut honest_small) = (0, 0, 0);
        for seed in 1..=5 {
            assert_eq!(lag_read(&following_weeks(seed, 0.0)), 0.0, "seed {seed}");
            let lagging = following_weeks(seed, 0.7);
            let read = lag_read(&lagging);
            assert!((0.5..=0.8).contains(&read), "seed {seed}: lag read {read}");
            for (agent, p) in assessed(&lagging) {
                if agent[6..].parse::<usize>().unwrap().is_multiple_of(6) {
                    burners += 1;
                    found += usize::from(p < 0.01);
                } else {
                    honest_small += usize::from(p < 0.01);
                }
            }
        }
        assert_eq!(burners, 50);
        assert!(found >= 34, "burners at p < 0.01: {found} of 50");
        assert!(
            honest_small <= 6,
            "{honest_small}/250 honest agents at p < 0.01"
        );
    }

    #[test]
    fn a_week_the_whole_company_took_off_hides_no_burner() {
        // Ten of the sixty burn four times their spend from week 5 with output unchanged. In
        // week 4 everyone works a day or two: spend at 30%, output at 15% (days off and a
        // merge freeze cut output more than the curve, 30%^0.45 = 58%, would). Read against
        // the curve alone, that week delivered less than its spend predicts for every agent,
        // on the side before the burners' step, and hid them. Measured over twenty seeds,
        // burners at p < 0.01: without a week effect 117 of 200 without the holiday and 103
        // with it; with the week effect 117 and 114. Honest agents at p < 0.01: 0 of 1,000.
        let burn = |weeks: &mut Vec<AgentWeek>| {
            for w in weeks.iter_mut() {
                let agent: usize = w.agent[6..].parse().unwrap();
                let week = (w.week - NaiveDate::from_ymd_opt(2026, 9, 7).unwrap()).num_weeks();
                if agent.is_multiple_of(6) && week >= 5 {
                    w.cost_usd *= 4.0;
                }
            }
        };
        let (mut found, mut found_before, mut honest_small, mut burners) = (0, 0, 0, 0);
        for seed in 1..=20 {
            let mut ordinary = honest_weeks(seed);
            burn(&mut ordinary);
            let mut holiday = ordinary.clone();
            for w in &mut holiday {
                if w.week == NaiveDate::from_ymd_opt(2026, 10, 5).unwrap() {
                    w.cost_usd *= 0.3;
                    w.output_index = (w.output_index * 0.15).round();
                    w.outputs.insert("commit".into(), w.output_index);
                }
            }
            let (before, after) = (assessed(&ordinary), assessed(&holiday));
            for (agent, p) in &after {
                let burner = agent[6..].parse::<usize>().unwrap().is_multiple_of(6);
                if burner {
                    burners += 1;
                    found += usize::from(*p < 0.01);
                    found_before += usize::from(before[agent] < 0.01);
                } else {
                    honest_small += usize::from(*p < 0.01);
                }
            }
        }
        assert_eq!(burners, 200);
        assert!(
            found + 3 >= found_before,
            "burners at p < 0.01: {found} of 200 with a holiday week, {found_before} without"
        );
        assert!(
            honest_small <= 10,
            "{honest_small}/1000 honest agents at p < 0.01"
        );
    }

    /// The shared steps of `weeks`.
    fn shared(weeks: &[AgentWeek]) -> Vec<SharedStep> {
        judged(weeks, assess).shared_steps
    }

    #[test]
    fn a_quarter_of_the_company_stepping_up_together_is_one_shared_step() {
        // Fifteen of sixty quadruple their spend from week 5 with output unchanged. One by
        // one the history lens finds few of them; together they are one group, named, and
        // an honest company has none. Measured over five seeds: every group found, holding
        // only the fifteen.
        for seed in 1..=5 {
            let honest = honest_weeks(seed);
            assert_eq!(shared(&honest), Vec::new(), "seed {seed}");
            let mut burning = honest.clone();
            let start = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
            let burner = |agent: &str| agent[6..].parse::<usize>().unwrap() % 4 == 1;
            for w in &mut burning {
                if burner(&w.agent) && (w.week - start).num_weeks() >= 5 {
                    w.cost_usd *= 4.0;
                }
            }
            let steps = shared(&burning);
            assert_eq!(steps.len(), 1, "seed {seed}: {steps:?}");
            assert_eq!(steps[0].week, start + chrono::Duration::weeks(5));
            assert!(steps[0].agents.iter().all(|a| burner(a)), "{steps:?}");
            assert!(steps[0].agents.len() >= 12, "{steps:?}");
        }
    }

    #[test]
    fn weeks_with_nothing_counted_are_not_a_change() {
        // A light agent's empty weeks move r by ln(level / floor) / β, which a robust σ from
        // successive differences does not see: the count noise has to be in σ. Measured: 1 of
        // these 300 below 0.01 with it, 9 without (at most 3 expected).
        let config = DetectConfig::default();
        let (empty, none) = (BTreeMap::new(), Default::default());
        let mut tested = 0;
        let mut small = 0;
        for seed in 1..=5 {
            let weeks = honest_weeks(seed);
            let evidence = super::super::Evidence {
                behavior: &[],
                primary_models: &empty,
                repositories: &none,
            };
            let population = Population::new(&weeks, evidence, &config);
            let curves = super::super::efficiency::fit_curves(
                &population.agents,
                &Default::default(),
                &config,
            );
            let judgement = assess(&population, &curves.elasticities(), &config);
            for assessment in judgement.readings.with_dips {
                tested += 1;
                small += usize::from(assessment.p_value < 0.01);
            }
        }
        assert_eq!(tested, 300);
        assert!(small <= 4, "{small}/300 honest agents at p < 0.01");
    }
}
