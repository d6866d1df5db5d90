//! The Universal Scalability Law (Neil Gunther's) fitted to a sweep of
//! concurrency: throughput at `N` connections is
//!
//! `X(N) = λN / (1 + σ(N - 1) + κN(N - 1))`
//!
//! where `λ` is the rate of one connection alone, `σ` the share of the work
//! that waits its turn (contention: a lock, a single accept loop, a core
//! too few) and `κ` the cost of keeping `N` parties in step with each other
//! (coherency: cache lines, wake-ups, shared state passed around). With
//! `κ = 0` throughput levels off at `λ/σ` (Amdahl's law); with `κ > 0` it
//! peaks at `N* = sqrt((1 - σ)/κ)` and falls past it.
//!
//! The fit is nonlinear least squares (Levenberg-Marquardt, `σ` and `κ`
//! held at zero or above) started from the law's linear form, `N/X = 1/λ +
//! (σ/λ)(N - 1) + (κ/λ)N(N - 1)`; the standard errors come from the
//! covariance `(JᵀJ)⁻¹ s²` at the solution, and the peak's from the delta
//! method. Three coefficients need four distinct `N` to leave a degree of
//! freedom for the errors.
//!
//! ```
//! use framewut::model::usl;
//!
//! let points: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
//!     .iter()
//!     .map(|&n| (n, 1000.0 * n / (1.0 + 0.05 * (n - 1.0) + 0.001 * n * (n - 1.0))))
//!     .collect();
//! let fit = usl::fit(&points).unwrap();
//! assert!((fit.sigma.value - 0.05).abs() < 1e-9);
//! let peak = fit.peak.unwrap();
//! assert_eq!(peak.n.value.round(), 31.0, "sqrt(0.95 / 0.001)");
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::stats::t_two_sided_critical;

/// The fewest distinct `N` a fit takes: three coefficients and a degree of
/// freedom for their errors.
pub const MIN_DISTINCT: usize = 4;

/// A coherency term that moves the law's denominator by less than this
/// share at the sweep's largest `N` is rounding, not a measurement.
const NEGLIGIBLE: f64 = 1e-9;

/// Levenberg-Marquardt's steps at most; a fit of three coefficients
/// converges in a few dozen.
const ITERATIONS: usize = 500;

/// A coefficient and its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    /// The standard error, from the fit's covariance.
    pub se: f64,
}

impl Estimate {
    /// Whether the value lies above zero by more than `t` standard errors.
    pub fn above_zero(&self, t: f64) -> bool {
        self.value > t * self.se
    }
}

/// Where throughput peaks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// `N* = sqrt((1 - σ)/κ)`, with its standard error by the delta method.
    pub n: Estimate,
    /// The fitted throughput there, `X(N*)`.
    pub per_s: f64,
}

/// A fit of the law to a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usl {
    /// `λ`: the rate of one connection alone, per second.
    pub lambda: Estimate,
    /// `σ`: contention, the share of the work serialised.
    pub sigma: Estimate,
    /// `κ`: coherency, the cost of each pair of connections keeping in step.
    pub kappa: Estimate,
    /// The share of the points' variance about their mean that the fit explains.
    pub r_squared: f64,
    /// The points fitted.
    pub points: usize,
    /// The distinct `N` among them.
    pub distinct: usize,
    /// The largest `N` fitted.
    pub max_n: f64,
    /// The peak, when `κ` lies significantly above zero (see
    /// [`Usl::significant`]) and `σ` below one; none when throughput only
    /// levels off.
    pub peak: Option<Peak>,
}

impl Usl {
    /// Whether a coefficient lies significantly above zero: beyond
    /// Student's t at 95%, two-sided, over the fit's degrees of freedom
    /// (the points less three).
    pub fn significant(&self, e: Estimate) -> bool {
        e.above_zero(critical_t(self.points))
    }

    /// The fitted throughput at `n`.
    pub fn at(&self, n: f64) -> f64 {
        law([self.lambda.value, self.sigma.value, self.kappa.value], n)
    }

    /// `λ/σ`: the throughput the law levels off at without coherency;
    /// none when `σ` is zero (throughput then grows with `N` until `κ`
    /// turns it).
    pub fn ceiling(&self) -> Option<f64> {
        (self.sigma.value > 0.0).then(|| self.lambda.value / self.sigma.value)
    }

    /// `count` points of the fitted curve from `from` to `to`, spaced
    /// evenly on a log scale, for drawing it on a log axis.
    pub fn curve(&self, from: f64, to: f64, count: usize) -> Vec<(f64, f64)> {
        let (a, b) = (from.max(f64::MIN_POSITIVE).ln(), to.max(from).ln());
        let steps = count.max(2) - 1;
        (0..=steps)
            .map(|i| {
                let n = (a + (b - a) * i as f64 / steps as f64).exp();
                (n, self.at(n))
            })
            .collect()
    }
}

/// Why a sweep could not be fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UslError {
    /// Fewer than [`MIN_DISTINCT`] distinct `N`.
    TooFewPoints { distinct: usize },
    /// A point with `N` below one, or a rate not positive and finite.
    BadPoint { n: f64, per_s: f64 },
    /// The points do not tell the three coefficients apart.
    Singular,
}

impl fmt::Display for UslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UslError::TooFewPoints { distinct } => write!(
                f,
                "a USL fit needs points at {MIN_DISTINCT} or more distinct connection counts (three coefficients and a degree of freedom for their errors); these have {distinct}"
            ),
            UslError::BadPoint { n, per_s } => write!(
                f,
                "a USL fit needs every point at 1 connection or more with a positive rate; one is at N = {n}, X = {per_s}"
            ),
            UslError::Singular => write!(
                f,
                "the points do not tell λ, σ and κ apart (JᵀJ is singular)"
            ),
        }
    }
}

impl std::error::Error for UslError {}

/// Student's t at 95%, two-sided, for a fit of three coefficients to `points`.
fn critical_t(points: usize) -> f64 {
    t_two_sided_critical(0.05, points.saturating_sub(3).max(1) as f64)
}

type Vector = [f64; 3];
type Matrix = [[f64; 3]; 3];

/// `X(N)` for the coefficients `[λ, σ, κ]`.
fn law(theta: Vector, n: f64) -> f64 {
    let [lambda, sigma, kappa] = theta;
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// `∂X/∂[λ, σ, κ]` at `n`.
fn gradient(theta: Vector, n: f64) -> Vector {
    let [lambda, sigma, kappa] = theta;
    let d = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0);
    let x = lambda * n / d;
    [n / d, -x * (n - 1.0) / d, -x * n * (n - 1.0) / d]
}

fn sse(theta: Vector, points: &[(f64, f64)]) -> f64 {
    points
        .iter()
        .map(|&(n, x)| (x - law(theta, n)).powi(2))
        .sum()
}

/// `JᵀJ` and `Jᵀr` at `theta`, with `r` the residuals `X - X(N)`.
fn normal(theta: Vector, points: &[(f64, f64)]) -> (Matrix, Vector) {
    let mut a = [[0.0; 3]; 3];
    let mut g = [0.0; 3];
    for &(n, x) in points {
        let j = gradient(theta, n);
        let r = x - law(theta, n);
        for p in 0..3 {
            g[p] += j[p] * r;
            for q in 0..3 {
                a[p][q] += j[p] * j[q];
            }
        }
    }
    (a, g)
}

/// Solves `a x = b` over the coefficients marked `free` (the others stay
/// zero), scaling by the diagonal first so that `λ` in thousands and `κ`
/// in ten-thousandths weigh alike; none when the system is singular.
fn solve(a: &Matrix, b: &Vector, free: [bool; 3]) -> Option<Vector> {
    let index: Vec<usize> = (0..3).filter(|&i| free[i]).collect();
    let k = index.len();
    let scale: Vec<f64> = index
        .iter()
        .map(|&i| {
            let d = a[i][i];
            if d > 0.0 {
                1.0 / d.sqrt()
            } else {
                0.0
            }
        })
        .collect();
    if scale.iter().any(|&s| s == 0.0 || !s.is_finite()) {
        return None;
    }
    let mut m: Vec<Vec<f64>> = (0..k)
        .map(|r| {
            let mut row: Vec<f64> = (0..k)
                .map(|c| a[index[r]][index[c]] * scale[r] * scale[c])
                .collect();
            row.push(b[index[r]] * scale[r]);
            row
        })
        .collect();
    for col in 0..k {
        let pivot = (col..k).max_by(|&p, &q| m[p][col].abs().total_cmp(&m[q][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let factor = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= factor * p;
                }
            }
        }
    }
    let mut x = [0.0; 3];
    for (r, &i) in index.iter().enumerate() {
        x[i] = m[r][k] / m[r][r] * scale[r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// `a⁻¹`, column by column; none when `a` is singular.
fn inverse(a: &Matrix) -> Option<Matrix> {
    let mut inv = [[0.0; 3]; 3];
    for c in 0..3 {
        let mut e = [0.0; 3];
        e[c] = 1.0;
        let column = solve(a, &e, [true; 3])?;
        for r in 0..3 {
            inv[r][c] = column[r];
        }
    }
    Some(inv)
}

/// Coefficients from the law's linear form, `N/X` against `1`, `N - 1` and
/// `N(N - 1)` by ordinary least squares, with `σ` and `κ` raised to zero
/// where they come out below; exact for points without noise.
fn linear_start(points: &[(f64, f64)]) -> Option<Vector> {
    let mut a = [[0.0; 3]; 3];
    let mut b = [0.0; 3];
    for &(n, x) in points {
        let v = [1.0, n - 1.0, n * (n - 1.0)];
        let y = n / x;
        for p in 0..3 {
            b[p] += v[p] * y;
            for q in 0..3 {
                a[p][q] += v[p] * v[q];
            }
        }
    }
    let [inv_lambda, s, k] = solve(&a, &b, [true; 3])?;
    (inv_lambda > 0.0).then(|| {
        [
            1.0 / inv_lambda,
            (s / inv_lambda).max(0.0),
            (k / inv_lambda).max(0.0),
        ]
    })
}

/// Levenberg-Marquardt from `start`: each step solves `(JᵀJ + μ
/// diag(JᵀJ)) δ = Jᵀr`, taken when it lowers the squared error (then `μ`
/// shrinks) and retried with a larger `μ` when not. A coefficient at zero
/// whose error would fall only below zero is held there for the step.
fn refine(points: &[(f64, f64)], start: Vector) -> (Vector, f64) {
    let mut theta = start;
    let mut cost = sse(theta, points);
    let mut mu = 1e-3;
    for _ in 0..ITERATIONS {
        let (a, g) = normal(theta, points);
        let free = [
            true,
            theta[1] > 0.0 || g[1] > 0.0,
            theta[2] > 0.0 || g[2] > 0.0,
        ];
        let mut stepped = None;
        while mu < 1e16 {
            let mut damped = a;
            for (i, row) in damped.iter_mut().enumerate() {
                row[i] += mu * a[i][i];
            }
            if let Some(step) = solve(&damped, &g, free) {
                let lambda = theta[0] + step[0];
                let next = [
                    if lambda > 0.0 { lambda } else { theta[0] / 2.0 },
                    (theta[1] + step[1]).max(0.0),
                    (theta[2] + step[2]).max(0.0),
                ];
                let next_cost = sse(next, points);
                if next_cost < cost {
                    stepped = Some((next, next_cost));
                    mu = (mu / 10.0).max(1e-15);
                    break;
                }
            }
            mu *= 10.0;
        }
        let Some((next, next_cost)) = stepped else {
            break;
        };
        let gain = cost - next_cost;
        theta = next;
        cost = next_cost;
        if gain <= 1e-15 * cost {
            break;
        }
    }
    (theta, cost)
}

/// Fits the law to `points`, each `(N, X)`: connections and the rate
/// measured at them, several points at one `N` allowed (a trial each).
pub fn fit(points: &[(f64, f64)]) -> Result<Usl, UslError> {
    if let Some(&(n, per_s)) = points
        .iter()
        .find(|(n, x)| !(n.is_finite() && *n >= 1.0 && x.is_finite() && *x > 0.0))
    {
        return Err(UslError::BadPoint { n, per_s });
    }
    let mut ns: Vec<f64> = points.iter().map(|p| p.0).collect();
    ns.sort_by(f64::total_cmp);
    ns.dedup();
    if ns.len() < MIN_DISTINCT {
        return Err(UslError::TooFewPoints { distinct: ns.len() });
    }
    let max_n = *ns.last().expect("four or more");
    // The linear form's coefficients, and the same with no coherency and
    // with neither term, as starts; the lowest error wins.
    let first = points
        .iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .expect("four or more");
    let lambda = linear_start(points).map_or(first.1 / first.0, |t| t[0]);
    let mut starts = vec![[lambda, 0.0, 0.0]];
    if let Some(t) = linear_start(points) {
        starts.push(t);
        starts.push([t[0], t[1], 0.0]);
    }
    let (theta, cost) = starts
        .into_iter()
        .map(|s| refine(points, s))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("one start or more");

    let (a, _) = normal(theta, points);
    let cov = inverse(&a).ok_or(UslError::Singular)?;
    let dof = points.len() - 3;
    let s2 = cost / dof as f64;
    let se = |i: usize| (s2 * cov[i][i]).max(0.0).sqrt();
    let [lambda, sigma, kappa] = theta;
    let (lambda, sigma, kappa) = (
        Estimate {
            value: lambda,
            se: se(0),
        },
        Estimate {
            value: sigma,
            se: se(1),
        },
        Estimate {
            value: kappa,
            se: se(2),
        },
    );
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let total: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let r_squared = if total > 0.0 { 1.0 - cost / total } else { 1.0 };

    let coherency = kappa.value * max_n * (max_n - 1.0);
    let share = coherency / (1.0 + sigma.value * (max_n - 1.0) + coherency);
    let peak =
        (kappa.above_zero(critical_t(points.len())) && share > NEGLIGIBLE && sigma.value < 1.0)
            .then(|| {
                let n = ((1.0 - sigma.value) / kappa.value).sqrt();
                // ∂N*/∂σ = -1/(2N*κ), ∂N*/∂κ = -N*/(2κ).
                let (ds, dk) = (-1.0 / (2.0 * n * kappa.value), -n / (2.0 * kappa.value));
                let variance =
                    s2 * (ds * ds * cov[1][1] + 2.0 * ds * dk * cov[1][2] + dk * dk * cov[2][2]);
                Peak {
                    n: Estimate {
                        value: n,
                        se: variance.max(0.0).sqrt(),
                    },
                    per_s: law(theta, n),
                }
            });
    Ok(Usl {
        lambda,
        sigma,
        kappa,
        r_squared,
        points: points.len(),
        distinct: ns.len(),
        max_n,
        peak,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWEEP: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

    fn exact(theta: Vector, ns: &[f64]) -> Vec<(f64, f64)> {
        ns.iter().map(|&n| (n, law(theta, n))).collect()
    }

    /// Normal deviates from a fixed seed: xorshift64* through Box-Muller.
    struct Noise(u64);

    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((r >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// Three trials at each `N`, each off by a normal error of `relative` of its rate.
    fn noisy(theta: Vector, ns: &[f64], relative: f64, seed: u64) -> Vec<(f64, f64)> {
        let mut noise = Noise(seed);
        ns.iter()
            .flat_map(|&n| std::iter::repeat_n(n, 3))
            .map(|n| (n, law(theta, n) * (1.0 + relative * noise.normal())))
            .collect()
    }

    fn close(got: f64, want: f64, relative: f64) -> bool {
        (got - want).abs() <= relative * want.abs()
    }

    #[test]
    fn exact_points_give_back_their_coefficients() {
        let theta = [1000.0, 0.03, 0.0004];
        for ns in [&SWEEP[..], &SWEEP[1..7]] {
            let fit = fit(&exact(theta, ns)).unwrap();
            assert!(close(fit.lambda.value, 1000.0, 1e-6), "{fit:?}");
            assert!(close(fit.sigma.value, 0.03, 1e-6), "{fit:?}");
            assert!(close(fit.kappa.value, 0.0004, 1e-6), "{fit:?}");
            assert!(fit.r_squared > 1.0 - 1e-12, "{fit:?}");
            let peak = fit.peak.expect("κ > 0 with no noise is significant");
            assert!(
                close(peak.n.value, (0.97f64 / 0.0004).sqrt(), 1e-6),
                "{fit:?}"
            );
            assert!(close(peak.per_s, law(theta, peak.n.value), 1e-9));
            assert_eq!(fit.distinct, ns.len());
        }
    }

    #[test]
    fn noisy_points_land_within_three_standard_errors() {
        let theta = [1000.0, 0.03, 0.0004];
        for seed in [1, 7, 2024] {
            let points = noisy(theta, &SWEEP, 0.02, seed);
            let fit = fit(&points).unwrap();
            assert_eq!((fit.points, fit.distinct), (27, 9));
            for (e, want) in [
                (fit.lambda, theta[0]),
                (fit.sigma, theta[1]),
                (fit.kappa, theta[2]),
            ] {
                assert!(e.se > 0.0, "{fit:?}");
                assert!((e.value - want).abs() <= 3.0 * e.se, "{want}: {e:?}");
            }
            let peak = fit.peak.expect("a peak well inside the sweep");
            let want = (0.97f64 / 0.0004).sqrt();
            assert!((peak.n.value - want).abs() <= 3.0 * peak.n.se, "{peak:?}");
            assert!(fit.r_squared > 0.95, "{fit:?}");
        }
    }

    #[test]
    fn a_linear_series_has_no_coherency_and_no_peak() {
        let theta = [500.0, 0.0, 0.0];
        let ns = &SWEEP[..7];
        let fit = fit(&exact(theta, ns)).unwrap();
        assert!(close(fit.lambda.value, 500.0, 1e-9), "{fit:?}");
        assert!(fit.sigma.value < 1e-9 && fit.kappa.value < 1e-12, "{fit:?}");
        assert_eq!(fit.peak, None);
        let fit = super::fit(&noisy(theta, ns, 0.02, 3)).unwrap();
        assert!(
            fit.kappa.value.abs() < 3.0 * fit.kappa.se + 1e-12,
            "{fit:?}"
        );
        assert_eq!(fit.peak, None, "{fit:?}");
    }

    #[test]
    fn contention_alone_levels_off_at_lambda_over_sigma() {
        let fit = fit(&exact([1000.0, 0.05, 0.0], &SWEEP)).unwrap();
        assert!(close(fit.sigma.value, 0.05, 1e-6), "{fit:?}");
        assert!(fit.kappa.value < 1e-12, "{fit:?}");
        assert_eq!(fit.peak, None);
        assert!(close(fit.ceiling().unwrap(), 20_000.0, 1e-6));
    }

    #[test]
    fn too_few_connection_counts_is_an_error_that_says_so() {
        let points = noisy([1000.0, 0.03, 0.0004], &[1.0, 8.0, 64.0], 0.01, 5);
        assert_eq!(points.len(), 9, "nine points, three distinct N");
        let e = fit(&points).unwrap_err();
        assert_eq!(e, UslError::TooFewPoints { distinct: 3 });
        let words = e.to_string();
        assert!(
            words.contains("4 or more distinct connection counts")
                && words.contains("these have 3"),
            "{words}"
        );
    }

    #[test]
    fn a_point_without_a_rate_is_an_error() {
        let mut points = exact([1000.0, 0.03, 0.0004], &SWEEP);
        points[2].1 = 0.0;
        assert_eq!(
            fit(&points).unwrap_err(),
            UslError::BadPoint { n: 4.0, per_s: 0.0 }
        );
    }

    #[test]
    fn the_curve_spans_the_range_on_a_log_scale() {
        let fit = fit(&exact([1000.0, 0.03, 0.0004], &SWEEP)).unwrap();
        let curve = fit.curve(1.0, 256.0, 9);
        assert_eq!(curve.len(), 9);
        for (got, want) in curve.iter().zip(SWEEP) {
            assert!(
                close(got.0, want, 1e-12) && close(got.1, fit.at(want), 1e-12),
                "{got:?}"
            );
        }
    }
}
