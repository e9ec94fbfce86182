//! The small statistics the detectors rely on, owned here so each is tested against published
//! reference values and cannot drift with a dependency: median and MAD, the spread beyond
//! sampling noise (funnel plots), Theil–Sen regression, the normal tail, the Cauchy combination
//! and Benjamini–Hochberg q-values.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Median of finite values; `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    // Selection, not a sort: Theil–Sen takes the median of up to two million slopes.
    let mut values = values.to_vec();
    let n = values.len();
    let mid = n / 2;
    let (below, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    Some(if n.is_multiple_of(2) {
        // The lower middle is the largest value below the upper one.
        let lower = below.iter().copied().max_by(f64::total_cmp).expect("n ≥ 2");
        (lower + upper) / 2.0
    } else {
        upper
    })
}

/// Scale factor that makes the MAD a consistent estimator of σ under normality
/// (1/Φ⁻¹(3/4); Iglewicz & Hoaglin 1993, §3.3).
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// Robust scale: 1.4826 × median absolute deviation from the median. When more than half the
/// values tie (MAD = 0) it falls back to 1.2533 × mean absolute deviation (√(π/2), the
/// consistency factor of the mean absolute deviation under normality).
pub fn robust_scale(values: &[f64]) -> Option<f64> {
    let center = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    let mad = median(&deviations)?;
    if mad > 0.0 {
        return Some(MAD_TO_SIGMA * mad);
    }
    let mean_abs = deviations.iter().sum::<f64>() / deviations.len() as f64;
    Some(1.253_314 * mean_abs)
}

/// Cut-off, in standard deviations, beyond which [`between_spread`]'s second step leaves a
/// value out.
pub const REWEIGHT_CUTOFF: f64 = 2.5;

/// Median of χ² with one degree of freedom, (Φ⁻¹(3/4))².
const CHI2_1_MEDIAN: f64 = 0.454_936;

/// The spread τ of values beyond their own sampling noise: `residuals[i]` is drawn from
/// N(0, τ² + `variances[i]`), as in a random-effects model or an overdispersed funnel plot
/// (Spiegelhalter 2005, Stat Med 24:1185), and τ is what is left after each value's known
/// noise. Two robust steps, so that the outliers under suspicion do not widen it:
/// 1. τ₀ makes the median of rᵢ² / (τ₀² + vᵢ) the median of χ²₁ (the MAD, generalized to
///    unequal noise; 50% breakdown);
/// 2. τ makes the mean of rᵢ² / (τ² + vᵢ) over the values within [`REWEIGHT_CUTOFF`] of τ₀
///    equal E[Z² | |Z| ≤ c] for a standard normal Z (the reweighting step of LTS and MCD,
///    Rousseeuw & Leroy 1987, §3.5), about twice as efficient as the median on the rest.
///
/// With no noise (all vᵢ = 0) it is the reweighted standard deviation about zero. `None`
/// when empty; 0 when the noise alone explains the spread.
pub fn between_spread(residuals: &[f64], variances: &[f64]) -> Option<f64> {
    if residuals.is_empty() {
        return None;
    }
    let standardized = |tau2: f64| -> Vec<f64> {
        residuals
            .iter()
            .zip(variances)
            .map(|(r, v)| r * r / (tau2 + v).max(f64::MIN_POSITIVE))
            .collect()
    };
    // At τ² = max rᵢ² / target no standardized value, so neither statistic, exceeds the target.
    let bound = residuals.iter().map(|r| r * r).fold(1.0, f64::max);
    let initial = solve_decreasing(
        |tau2| median(&standardized(tau2)).unwrap_or(0.0),
        CHI2_1_MEDIAN,
        bound,
    );
    let cutoff = REWEIGHT_CUTOFF * REWEIGHT_CUTOFF;
    let kept: Vec<usize> = standardized(initial)
        .iter()
        .enumerate()
        .filter(|(_, z2)| **z2 <= cutoff)
        .map(|(i, _)| i)
        .collect();
    if kept.len() < 2 {
        return Some(initial.sqrt());
    }
    let c = REWEIGHT_CUTOFF;
    let density = (-c * c / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let truncated = 1.0 - 2.0 * c * density / (1.0 - 2.0 * normal_sf(c));
    let mean_z2 = |tau2: f64| {
        kept.iter()
            .map(|&i| residuals[i].powi(2) / (tau2 + variances[i]).max(f64::MIN_POSITIVE))
            .sum::<f64>()
            / kept.len() as f64
    };
    Some(solve_decreasing(mean_z2, truncated, bound).sqrt())
}

/// The τ² ≥ 0 at which `statistic`, decreasing in τ², equals `target` (bisection); 0 when it is
/// already below the target at τ² = 0. `bound` is the largest squared residual (at least 1).
fn solve_decreasing(statistic: impl Fn(f64) -> f64, target: f64, bound: f64) -> f64 {
    if statistic(0.0) <= target {
        return 0.0;
    }
    let mut high = bound / target;
    while statistic(high) > target {
        high *= 2.0;
    }
    let mut low = 0.0;
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if statistic(mid) > target {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// A fitted line `y = intercept + slope · x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
}

impl Line {
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Theil–Sen: the median of pairwise slopes, intercept the median of `y − slope·x`
/// (Sen 1968, JASA 63:1379). Breakdown point 29.3%: up to that share of arbitrary points cannot
/// move the line far. Beyond `max_pairs` pairs, a seeded sample of pairs keeps the cost bounded
/// and the result reproducible. `None` when fewer than two distinct x values.
pub fn theil_sen(x: &[f64], y: &[f64], max_pairs: usize, seed: u64) -> Option<Line> {
    let n = x.len().min(y.len());
    let total_pairs = n * n.saturating_sub(1) / 2;
    let mut slopes = Vec::with_capacity(total_pairs.min(max_pairs));
    let mut push = |i: usize, j: usize| {
        let dx = x[j] - x[i];
        if dx.abs() > 1e-12 {
            slopes.push((y[j] - y[i]) / dx);
        }
    };
    if total_pairs <= max_pairs {
        for i in 0..n {
            for j in i + 1..n {
                push(i, j);
            }
        }
    } else {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..max_pairs {
            let i = rng.gen_range(0..n);
            let j = rng.gen_range(0..n);
            if i != j {
                push(i.min(j), i.max(j));
            }
        }
    }
    let slope = median(&slopes)?;
    let offsets: Vec<f64> = (0..n).map(|i| y[i] - slope * x[i]).collect();
    Some(Line {
        slope,
        intercept: median(&offsets)?,
    })
}

/// Complementary error function, |relative error| < 1.2e-7 (Chebyshev fit from
/// Press et al., *Numerical Recipes*, 2nd ed., §6.2, `erfcc`).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// P(Z > z) for a standard normal Z.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Benjamini–Hochberg adjusted p-values (q-values), in input order
/// (Benjamini & Hochberg 1995, JRSS-B 57:289; the step-up form of R's `p.adjust(method = "BH")`).
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[b].total_cmp(&p_values[a]).then(b.cmp(&a)));
    let mut q = vec![0.0; m];
    let mut running = 1.0_f64;
    for (rank_from_top, &i) in order.iter().enumerate() {
        let rank = m - rank_from_top;
        running = running.min(p_values[i] * m as f64 / rank as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// The z with P(Z > z) = p, by bisection on [`normal_sf`] (accurate to 1e-9 in z).
pub fn normal_isf(p: f64) -> f64 {
    let p = p.clamp(1e-300, 1.0);
    let (mut lo, mut hi) = (-40.0_f64, 40.0_f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if normal_sf(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Largest p-value a signal enters the Cauchy combination with: a p near 1 maps to a huge
/// negative term that would cancel real evidence from another signal.
const CAUCHY_P_CAP: f64 = 0.99;

/// The Cauchy combination test (Liu & Xie 2020, JASA 115:393): T = Σ wᵢ tan((½ − pᵢ)π) with
/// equal weights, combined p = ½ − arctan(T)/π. Its tail is accurate whatever the dependence
/// between the signals, which is why it suits lenses that read the same agent. `None` when
/// there is nothing to combine.
pub fn cauchy_combination(p_values: &[f64]) -> Option<f64> {
    let w = 1.0 / p_values.len() as f64;
    let weighted: Vec<(f64, f64)> = p_values.iter().map(|p| (*p, w)).collect();
    weighted_cauchy_combination(&weighted)
}

/// The Cauchy combination with weights: (p, w) pairs whose weights sum to 1. Where several
/// overlapping tests of one series agree, as neighbouring split points do, it charges less
/// than Bonferroni; where one stands alone, about as much (p ÷ its weight).
pub fn weighted_cauchy_combination(tests: &[(f64, f64)]) -> Option<f64> {
    if tests.is_empty() {
        return None;
    }
    debug_assert!(
        tests.iter().all(|(_, w)| *w >= 0.0)
            && (tests.iter().map(|(_, w)| w).sum::<f64>() - 1.0).abs() < 1e-9,
        "Cauchy weights must be non-negative and sum to 1: {tests:?}"
    );
    let t: f64 = tests
        .iter()
        .map(|(p, w)| {
            // A p that is not a number counts as nothing to report.
            let p = if p.is_nan() { 1.0 } else { *p };
            let p = p.clamp(1e-300, CAUCHY_P_CAP);
            // tan((½ − p)π) = 1/tan(pπ), which stays accurate for tiny p.
            w / (p * std::f64::consts::PI).tan()
        })
        .sum();
    let p = if t > 1e15 {
        // arctan's complement for large T: ½ − arctan(T)/π ≈ 1/(πT).
        1.0 / (std::f64::consts::PI * t)
    } else {
        0.5 - t.atan() / std::f64::consts::PI
    };
    Some(p.clamp(0.0, 1.0))
}

/// P(X ≥ k) for X ~ Poisson(λ).
pub fn poisson_sf(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    // 1 − P(X ≤ k − 1), summed in logs to stay finite.
    let mut term = (-lambda).exp();
    let mut cdf = term;
    for i in 1..k {
        term *= lambda / i as f64;
        cdf += term;
    }
    if cdf < 0.999 {
        return (1.0 - cdf).max(0.0);
    }
    // Upper tail summed directly when the cdf is too close to 1 to subtract: the first term in
    // logs (it can be tiny), the rest by the ratio λ/(i + 1), until they stop counting.
    let mut term = (-lambda + k as f64 * lambda.ln() - ln_factorial(k)).exp();
    let mut tail = 0.0;
    for i in k..k + 200 {
        tail += term;
        term *= lambda / (i + 1) as f64;
        if term <= tail * 1e-17 {
            break;
        }
    }
    tail.min(1.0)
}

fn ln_factorial(n: u64) -> f64 {
    (1..=n).map(|i| (i as f64).ln()).sum()
}

/// Shuffles deterministically; used where a sample must be reproducible.
pub fn seeded_shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    items.shuffle(&mut rng);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_by_selection_matches_the_sorted_middle() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for n in 1..60 {
            // Few distinct values, so ties at the middle are common.
            let values: Vec<f64> = (0..n).map(|_| f64::from(rng.gen_range(0..7u8))).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let expected = if n % 2 == 0 {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            } else {
                sorted[n / 2]
            };
            assert_eq!(median(&values), Some(expected), "{values:?}");
        }
        assert_eq!(median(&[]), None);
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn median_and_scale_of_small_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        // MAD of 1..=9 is 2 → 2.9652.
        let values: Vec<f64> = (1..=9).map(f64::from).collect();
        assert!(close(robust_scale(&values).unwrap(), 2.9652, 1e-9));
    }

    /// Draws rᵢ ~ N(0, τ² + vᵢ) with noise variances spread over two orders of magnitude.
    fn funnel(tau: f64, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let variances: Vec<f64> = (0..n)
            .map(|i| 0.01 * 100f64.powf(i as f64 / n as f64))
            .collect();
        let residuals = variances
            .iter()
            .map(|v| {
                Normal::new(0.0, (tau * tau + v).sqrt())
                    .expect("valid")
                    .sample(&mut rng)
            })
            .collect();
        (residuals, variances)
    }

    #[test]
    fn between_spread_recovers_the_spread_beyond_each_values_noise() {
        // τ = 0.5 under noise variances from 0.01 to 1: a plain spread would say about 0.75.
        let (residuals, variances) = funnel(0.5, 4000, 3);
        let tau = between_spread(&residuals, &variances).unwrap();
        assert!(close(tau, 0.5, 0.03), "{tau}");
        // Noise alone: no spread left.
        let (residuals, variances) = funnel(0.0, 4000, 4);
        let tau = between_spread(&residuals, &variances).unwrap();
        assert!(tau < 0.06, "{tau}");
        assert_eq!(between_spread(&[], &[]), None);
    }

    #[test]
    fn between_spread_without_noise_is_the_standard_deviation() {
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let normal = Normal::new(0.0, 1.3).expect("valid");
        let residuals: Vec<f64> = (0..4000).map(|_| normal.sample(&mut rng)).collect();
        let tau = between_spread(&residuals, &vec![0.0; residuals.len()]).unwrap();
        assert!(close(tau, 1.3, 0.05), "{tau}");
        // Exactly: values within the cut-off, so the second step is the truncation-corrected
        // root mean square about zero. E[Z² | |Z| ≤ 2.5] = 0.911 256.
        let tau = between_spread(&[-1.0, 1.0, -1.0, 1.0], &[0.0; 4]).unwrap();
        assert!(close(tau, (1.0 / 0.911_256_f64).sqrt(), 1e-5), "{tau}");
    }

    #[test]
    fn between_spread_ignores_a_tenth_of_wild_values() {
        let (mut residuals, variances) = funnel(0.5, 2000, 6);
        for r in residuals.iter_mut().step_by(10) {
            *r = 8.0;
        }
        let tau = between_spread(&residuals, &variances).unwrap();
        // The clean core's own spread, give or take what a tenth of it removed leaves behind.
        assert!(close(tau, 0.5, 0.08), "{tau}");
    }

    #[test]
    fn scale_falls_back_when_most_values_tie() {
        let values = [0.0, 0.0, 0.0, 0.0, 0.0, 4.0];
        let scale = robust_scale(&values).unwrap();
        assert!(close(scale, 1.253_314 * 4.0 / 6.0, 1e-9), "{scale}");
    }

    #[test]
    fn theil_sen_ignores_a_quarter_of_wild_points() {
        let x: Vec<f64> = (0..20).map(f64::from).collect();
        let mut y: Vec<f64> = x.iter().map(|v| 1.0 + 0.5 * v).collect();
        for i in [2, 7, 11, 15, 19] {
            y[i] += 40.0;
        }
        let line = theil_sen(&x, &y, usize::MAX, 1).unwrap();
        assert!(close(line.slope, 0.5, 1e-9), "{line:?}");
        assert!(close(line.intercept, 1.0, 1e-9), "{line:?}");
    }

    #[test]
    fn theil_sen_matches_the_reference_example() {
        // Reference slope computed independently (Python `statistics.median` over all 45
        // pairwise slopes of the same data): 1.8.
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y = [1.0, 4.0, 5.0, 6.0, 9.0, 10.0, 14.0, 14.0, 15.0, 18.0];
        let line = theil_sen(&x, &y, usize::MAX, 1).unwrap();
        let mut slopes = Vec::new();
        for i in 0..10 {
            for j in i + 1..10 {
                slopes.push((y[j] - y[i]) / (x[j] - x[i]));
            }
        }
        assert!(close(line.slope, median(&slopes).unwrap(), 1e-12));
        assert!(close(line.slope, 1.8, 1e-12), "{line:?}");
    }

    #[test]
    fn sampled_pairs_are_reproducible_and_close() {
        let x: Vec<f64> = (0..400).map(|i| f64::from(i) / 10.0).collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| 2.0 * v + ((i * 7919) % 13) as f64 / 13.0)
            .collect();
        let a = theil_sen(&x, &y, 5_000, 42).unwrap();
        let b = theil_sen(&x, &y, 5_000, 42).unwrap();
        assert_eq!(a, b);
        assert!(close(a.slope, 2.0, 0.05), "{a:?}");
    }

    #[test]
    fn normal_tail_matches_tables() {
        // Φ̄(1.96) = 0.0249979, Φ̄(3) = 0.0013499, Φ̄(-1) = 0.8413447.
        assert!(close(normal_sf(1.96), 0.024_997_9, 1e-7));
        assert!(close(normal_sf(3.0), 0.001_349_9, 1e-7));
        assert!(close(normal_sf(-1.0), 0.841_344_7, 1e-7));
        assert!(close(normal_sf(0.0), 0.5, 1e-7));
    }

    #[test]
    fn inverse_normal_round_trips() {
        assert!(close(normal_isf(0.025), 1.959_964, 1e-5));
        assert!(close(normal_isf(0.5), 0.0, 1e-6));
        assert!(close(normal_isf(1e-10), 6.361_341, 1e-4));
    }

    #[test]
    fn cauchy_combination_matches_reference_values() {
        // A single p-value comes back unchanged.
        assert!(close(cauchy_combination(&[0.03]).unwrap(), 0.03, 1e-12));
        // Two equal p-values combine to themselves (T = tan((½ − p)π)).
        assert!(close(cauchy_combination(&[0.2, 0.2]).unwrap(), 0.2, 1e-12));
        // T = (tan(0.49π) + tan(0))/2 = 15.910258; p = ½ − atan(T)/π = 0.0199803 (computed
        // independently in Python).
        let p = cauchy_combination(&[0.01, 0.5]).unwrap();
        assert!(close(p, 0.019_980_3, 1e-7), "{p}");
        // A strong signal survives a null one: about twice the smaller p.
        let p = cauchy_combination(&[1e-8, 0.6]).unwrap();
        assert!(p > 1e-8 && p < 3e-8, "{p}");
        assert!(cauchy_combination(&[]).is_none());
        // Weighted, against ½ − arctan(Σ wᵢ tan((½ − pᵢ)π))/π evaluated in numpy: one test
        // alone at weight ½ costs about a factor of two, two neighbours that agree less.
        let p = weighted_cauchy_combination(&[(0.001, 0.5), (0.99, 0.5)]).unwrap();
        assert!(close(p, 0.0022221130, 1e-9), "{p}");
        let p = weighted_cauchy_combination(&[(0.004, 0.25), (0.006, 0.25), (0.5, 0.5)]).unwrap();
        assert!(close(p, 0.009597848293, 1e-9), "{p}");
        assert_eq!(
            weighted_cauchy_combination(&[(0.01, 0.5), (0.5, 0.5)]),
            cauchy_combination(&[0.01, 0.5])
        );
    }

    #[test]
    fn poisson_tail_matches_tables() {
        // P(X ≥ 3 | λ = 1) = 1 − (1 + 1 + 0.5)e⁻¹ = 0.0803014.
        assert!(close(poisson_sf(3, 1.0), 0.080_301_4, 1e-7));
        // P(X ≥ 8 | λ = 0.1) = 2.2693e-13 (Python, summing the terms from 8 on).
        let tail = poisson_sf(8, 0.1);
        assert!(close(tail / 2.269_327e-13, 1.0, 1e-5), "{tail}");
        assert_eq!(poisson_sf(0, 3.0), 1.0);
        // Deep tails, against scipy.stats.poisson.sf(k − 1, λ).
        for (k, lambda, expected) in [
            (30, 0.5, 2.164_467_298_149_885e-42),
            (5, 0.01, 8.264_185_641_806_515e-13),
            (12, 2.0, 1.364_615_159_615_193e-6),
        ] {
            let tail = poisson_sf(k, lambda);
            assert!(close(tail / expected, 1.0, 1e-9), "{k} {lambda}: {tail}");
        }
    }

    #[test]
    fn bh_matches_r_p_adjust() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.2), "BH")
        //    0.025 0.050 0.050 0.025 0.200
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005, 0.2]);
        let expected = [0.025, 0.05, 0.05, 0.025, 0.2];
        for (got, want) in q.iter().zip(expected) {
            assert!(close(*got, want, 1e-12), "{q:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.9, 0.95]), vec![0.95, 0.95]);
    }
}
