//! Calibration against the population judged: the empirical null, and the report's checks.
//!
//! Some p-values come from a model of how honest data look: the Poisson model of an agent's
//! own session starts (TA306), the quasi-Poisson score tests of the change lens, the normal
//! tail of the efficiency lens's funnel z. A source that breaks the model (session ids that
//! are labels, a company whose people differ more than the model allows) makes such p-values
//! tiny for everyone, and the tool would accuse a quarter of the company. So every lens's and
//! every fingerprint's p-values are also read against the population they judge.
//!
//! **The empirical null** (Efron 2004, "Large-scale simultaneous hypothesis testing", JASA
//! 99:96; Efron 2007 for the quantile form). The p-values of a group are turned into z = Φ̄⁻¹(p)
//! and the bulk of them is matched to a normal N(δ, σ²): δ is the median z, σ the distance
//! from the median to the upper quartile over 0.6745. That needs the median well inside the
//! agents that have something to report: where a quarter or more have p = 1 (the one-sided
//! tests give it to agents who spend less than their peers, about half of them), the median
//! falls among the gated values and would fake a wide null, so only the upper quartile is read
//! and σ is taken as 1 (a shift of the null, not its width); where more than 60% have p = 1,
//! nothing is checked.
//! With few inflators (Efron's setting: the non-null share small), that fit is the honest
//! majority's distribution. It is used only where it is *more conservative* than the model
//! beyond its own sampling error — δ above 0 or σ above 1 by more than three standard errors
//! (quantile standard errors for normal data: 1.25/√n for the median, 1.36/√n for the
//! quartile, 1.79/√n for σ; three, not two, because inflators in the upper quartile widen σ,
//! and a tenth of the agents inflating must not discount the rest) — and then each agent's p
//! is the larger of the model's and Φ̄((z − δ)/σ), with δ at least 0 and σ at least 1. On data
//! the model fits, nothing changes; on data that break it, the population decides.
//!
//! The same numbers feed the report's calibration section: per lens and fingerprint, the
//! judged agents at p ≤ 0.01 and p ≤ 0.001 against the 1% and 0.1% chance gives when few
//! inflate, and how the run handled a lens that was not calibrated on this data.

use serde::Serialize;

use super::stats::{normal_isf, normal_sf};

/// Agents a group needs before its null is fitted: the quartiles of fewer say too little (two
/// standard errors of σ are 0.8 at twenty).
pub const MIN_NULL_AGENTS: usize = 20;

/// Standard errors allowed before the empirical null overrides the model.
const MARGIN_SE: f64 = 3.0;

/// z of the upper quartile of a standard normal.
const Z_QUARTILE: f64 = 0.674_489_75;

/// Share of agents with p < 1 from which the median is read (centre and scale), and from
/// which the upper quartile is (a shift alone).
const FULL_FIT_SHARE: f64 = 0.75;
const SHIFT_FIT_SHARE: f64 = 0.4;

/// What the population says of a model's p-values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The bulk of the p-values is where the model puts it (within sampling error).
    Calibrated,
    /// The model's p-values were too small for this population: the empirical null was used.
    Discounted,
    /// Too few agents, or too few with anything to report, to check.
    NotChecked,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Calibrated => "calibrated",
            Status::Discounted => "discounted",
            Status::NotChecked => "not checked",
        }
    }

    /// The less reassuring of two statuses, for a lens over its groups.
    pub fn worst(self, other: Status) -> Status {
        let rank = |s: Status| match s {
            Status::NotChecked => 0,
            Status::Calibrated => 1,
            Status::Discounted => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// The empirical null fitted over one group's p-values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Null {
    /// Agents in the group.
    pub agents: usize,
    /// Estimated centre and scale of the group's z (δ, σ).
    pub centre: f64,
    pub scale: f64,
    /// The centre and scale used: the estimates, never below the model's 0 and 1, where the
    /// null is discounted; 0 and 1 when the model stands.
    pub used_centre: f64,
    pub used_scale: f64,
    pub status: Status,
}

impl Null {
    /// The p-value an agent keeps: the model's, or the empirical null's where it is larger.
    pub fn adjust(&self, p: f64) -> f64 {
        if self.status != Status::Discounted || p >= 1.0 {
            return p;
        }
        let z = normal_isf(p);
        p.max(normal_sf((z - self.used_centre) / self.used_scale))
    }
}

/// The value at upper-tail share `share` of `sorted` (ascending), by the nearest rank.
fn upper_quantile(sorted: &[f64], share: f64) -> f64 {
    let n = sorted.len();
    let rank = ((1.0 - share) * n as f64).floor() as usize;
    sorted[rank.min(n - 1)]
}

/// Fits the empirical null of one group's one-sided p-values (p = 1 where the agent had
/// nothing to report). `None` for a group under [`MIN_NULL_AGENTS`].
pub fn fit(p_values: &[f64]) -> Option<Null> {
    let n = p_values.len();
    if n < MIN_NULL_AGENTS {
        return None;
    }
    // p = 1 sits below every finite z.
    let mut z: Vec<f64> = p_values
        .iter()
        .map(|p| {
            if *p >= 1.0 || p.is_nan() {
                f64::NEG_INFINITY
            } else {
                normal_isf(*p)
            }
        })
        .collect();
    z.sort_by(f64::total_cmp);
    let root_n = (n as f64).sqrt();
    let median = upper_quantile(&z, 0.5);
    let quartile = upper_quantile(&z, 0.25);
    let reporting = p_values.iter().filter(|p| **p < 1.0).count() as f64 / n as f64;
    let not_checked = Null {
        agents: n,
        centre: 0.0,
        scale: 1.0,
        used_centre: 0.0,
        used_scale: 1.0,
        status: Status::NotChecked,
    };
    let (centre, scale, centre_se, scale_se) = if reporting >= FULL_FIT_SHARE {
        let scale = ((quartile - median) / Z_QUARTILE).max(0.0);
        (median, scale, 1.2533 / root_n, 1.79 / root_n)
    } else if reporting >= SHIFT_FIT_SHARE {
        // Only the upper quartile is known: a shift with the model's width.
        (quartile - Z_QUARTILE, 1.0, 1.3626 / root_n, 0.0)
    } else {
        return Some(not_checked);
    };
    let off = centre - MARGIN_SE * centre_se > 0.0
        || (scale_se > 0.0 && scale - MARGIN_SE * scale_se > 1.0);
    let (status, used_centre, used_scale) = if off {
        (Status::Discounted, centre.max(0.0), scale.max(1.0))
    } else {
        (Status::Calibrated, 0.0, 1.0)
    };
    Some(Null {
        agents: n,
        centre,
        scale,
        used_centre,
        used_scale,
        status,
    })
}

/// One row of the report's calibration section: a lens, or one fingerprint of the behaviour
/// lens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `efficiency`, `change`, `behavior`, or a fingerprint's code (`TA306`).
    pub scope: String,
    /// Agents it judged (gave a p-value, 1 included).
    pub judged: usize,
    /// Judged agents at p ≤ 0.01 and p ≤ 0.001, after calibration.
    pub p_01: usize,
    pub p_001: usize,
    /// What chance gives when few inflate: 1% and 0.1% of the judged.
    pub expected_01: f64,
    pub expected_001: f64,
    pub status: Status,
    /// The empirical null's centre and scale in the largest group checked (0 and 1 where the
    /// model stands or nothing was checked).
    pub null_centre: f64,
    pub null_scale: f64,
    /// What the run did, in a sentence, where it did anything.
    pub note: Option<String>,
}

impl Check {
    /// A row from the p-values a scope gave (after calibration) and the nulls of its groups.
    pub fn new(scope: &str, p_values: &[f64], nulls: &[Null]) -> Check {
        let judged = p_values.len();
        let status = nulls
            .iter()
            .map(|n| n.status)
            .fold(Status::NotChecked, Status::worst);
        let shown = nulls
            .iter()
            .filter(|n| n.status == status)
            .max_by_key(|n| n.agents);
        let note = (status == Status::Discounted).then(|| {
            let null = shown.expect("a discounted group");
            format!(
                "the model's p-values were too small for this population (its z centred at {:.1} with scale {:.1}, where the model puts 0 and 1): judged against the population instead",
                null.centre, null.scale
            )
        });
        Check {
            scope: scope.to_string(),
            judged,
            p_01: p_values.iter().filter(|p| **p <= 0.01).count(),
            p_001: p_values.iter().filter(|p| **p <= 0.001).count(),
            expected_01: crate::units::round_to(judged as f64 * 0.01, 2),
            expected_001: crate::units::round_to(judged as f64 * 0.001, 3),
            status,
            null_centre: crate::units::round_to(shown.map_or(0.0, |n| n.centre), 2),
            null_scale: crate::units::round_to(shown.map_or(1.0, |n| n.scale), 2),
            note,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn p_values(centre: f64, scale: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(centre, scale).unwrap();
        (0..n).map(|_| normal_sf(normal.sample(&mut rng))).collect()
    }

    #[test]
    fn p_values_from_the_model_keep_the_model() {
        // Twenty companies of sixty honest agents whose z follow the model: never discounted.
        for seed in 0..20 {
            let null = fit(&p_values(0.0, 1.0, 60, seed)).unwrap();
            assert_eq!(null.status, Status::Calibrated, "seed {seed}: {null:?}");
            assert_eq!(null.adjust(1e-5), 1e-5);
        }
    }

    #[test]
    fn a_model_broken_by_the_data_is_overruled_by_the_population() {
        // Session labels: every honest agent's Poisson p is tiny (z about 5 ± 2).
        let p = p_values(5.0, 2.0, 60, 7);
        let null = fit(&p).unwrap();
        assert_eq!(null.status, Status::Discounted);
        assert!((null.centre - 5.0).abs() < 1.0, "{null:?}");
        let adjusted: Vec<f64> = p.iter().map(|p| null.adjust(*p)).collect();
        let tiny = adjusted.iter().filter(|p| **p <= 0.001).count();
        assert!(tiny <= 1, "{tiny} of 60 still at p ≤ 0.001");
        // Before: nearly all of them.
        assert!(p.iter().filter(|p| **p <= 0.001).count() > 40);
        // The adjustment only ever raises a p.
        assert!(p.iter().zip(&adjusted).all(|(a, b)| b >= a));
    }

    #[test]
    fn a_lens_that_clears_most_agents_is_checked_on_its_upper_quartile() {
        // 55% of agents have nothing to report; the rest sit 3 above where they should.
        let mut p = vec![1.0; 33];
        p.extend(p_values(3.5, 1.0, 27, 3));
        let null = fit(&p).unwrap();
        assert_eq!(null.status, Status::Discounted, "{null:?}");
        assert_eq!(null.scale, 1.0);
        // Half the agents with nothing to report and the rest as the model says: the median
        // falls among the gated values, and no wide null is faked from it.
        let mut p = vec![1.0; 30];
        p.extend(
            p_values(0.0, 1.0, 60, 4)
                .into_iter()
                .filter(|p| *p < 0.5)
                .take(30),
        );
        assert_eq!(fit(&p).unwrap().status, Status::Calibrated);
        // With 80% at p = 1 nothing is read.
        let mut p = vec![1.0; 50];
        p.extend(p_values(3.5, 1.0, 10, 3));
        assert_eq!(fit(&p).unwrap().status, Status::NotChecked);
        assert!(fit(&p[..10]).is_none());
    }

    #[test]
    fn a_few_inflators_do_not_discount_the_honest_majority() {
        // 54 honest agents and 6 inflators far out (10%): the bulk is still the model's.
        for seed in 0..20 {
            let mut p = p_values(0.0, 1.0, 54, seed);
            p.extend(p_values(6.0, 1.0, 6, seed + 100));
            let null = fit(&p).unwrap();
            assert_eq!(null.status, Status::Calibrated, "seed {seed}: {null:?}");
        }
    }

    #[test]
    fn the_check_counts_the_tail_and_names_what_was_done() {
        let p = p_values(5.0, 2.0, 60, 7);
        let null = fit(&p).unwrap();
        let adjusted: Vec<f64> = p.iter().map(|p| null.adjust(*p)).collect();
        let check = Check::new("TA306", &adjusted, &[null]);
        assert_eq!(check.status, Status::Discounted);
        assert_eq!(check.judged, 60);
        assert_eq!(check.expected_01, 0.6);
        assert!(check.note.as_deref().unwrap().contains("too small"));
        let honest = p_values(0.0, 1.0, 60, 1);
        let check = Check::new("efficiency", &honest, &[fit(&honest).unwrap()]);
        assert_eq!(check.status, Status::Calibrated);
        assert!(check.note.is_none());
    }
}
