//! The little inference the reports need, written out rather than taken from
//! a statistics crate (the good ones are heavy): the sample standard
//! deviation, Student's t distribution (through the regularized incomplete
//! beta function), a 95% confidence interval of a mean, Welch's t-test and
//! Holm's correction for testing many cells at once.
//!
//! Trials are few (2 to 5), so everything here uses the t distribution with
//! its real degrees of freedom: with 2 trials the 95% interval of a mean is
//! 12.7 sample standard deviations over sqrt(2) wide on each side, not 1.96.

/// The arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The sample variance (divided by n - 1, the unbiased estimate of the
/// variance of what was sampled); `None` for fewer than two values, which
/// say nothing about spread.
pub fn sample_variance(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let squares: f64 = values.iter().map(|x| (x - m).powi(2)).sum();
    Some(squares / (values.len() - 1) as f64)
}

/// The sample standard deviation (n - 1); `None` for fewer than two values.
pub fn sample_stdev(values: &[f64]) -> Option<f64> {
    sample_variance(values).map(f64::sqrt)
}

/// The mean of `values` and the half-width of its 95% confidence interval
/// from Student's t distribution with n - 1 degrees of freedom:
/// `t(0.975, n-1) x s / sqrt(n)`, with `s` the sample standard deviation.
/// `None` for fewer than two values: one trial has no interval.
pub fn mean_ci95(values: &[f64]) -> Option<(f64, f64)> {
    let s = sample_stdev(values)?;
    let n = values.len() as f64;
    Some((
        mean(values)?,
        t_two_sided_critical(0.05, n - 1.0) * s / n.sqrt(),
    ))
}

/// The natural log of the gamma function for x > 0 (Lanczos, g = 7, nine
/// terms: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = COEFFICIENTS[1..]
        .iter()
        .enumerate()
        .fold(COEFFICIENTS[0], |sum, (i, c)| {
            sum + c / (x + i as f64 + 1.0)
        });
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The continued fraction of the incomplete beta function, evaluated by the
/// modified Lentz method; it converges quickly for x < (a + 1) / (a + b + 2).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPSILON: f64 = 1e-15;
    // Enough for a and b in the millions: the fraction needs about
    // sqrt(max(a, b)) terms.
    const MAX_TERMS: usize = 100_000;
    let nonzero = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / nonzero(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..MAX_TERMS {
        let m = m as f64;
        let m2 = 2.0 * m;
        // The even step, then the odd one.
        for numerator in [
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ] {
            d = 1.0 / nonzero(1.0 + numerator * d);
            c = nonzero(1.0 + numerator / c);
            h *= d * c;
        }
        if (d * c - 1.0).abs() < EPSILON {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b), for a, b > 0 and x
/// in [0, 1].
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges on one side of the mean; the other side comes
    // from the symmetry I_x(a, b) = 1 - I_(1-x)(b, a).
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// The two-sided p-value of a t statistic with `df` degrees of freedom:
/// P(|T| >= |t|) = I_(df / (df + t²))(df / 2, 1 / 2).
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// Student's t cumulative distribution function P(T <= t).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = t_two_sided_p(t, df) / 2.0;
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The t value whose two-sided p-value is `p` with `df` degrees of freedom
/// (`p = 0.05` gives the 95% critical value: 12.71 for 1, 2.78 for 4, 1.96
/// for many), found by bisection on [`t_two_sided_p`], which falls as t grows.
pub fn t_two_sided_critical(p: f64, df: f64) -> f64 {
    let (mut low, mut high) = (0.0, 1.0);
    while t_two_sided_p(high, df) > p {
        low = high;
        high *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if t_two_sided_p(mid, df) > p {
            low = mid;
        } else {
            high = mid;
        }
        if high - low <= 1e-12 * high {
            break;
        }
    }
    0.5 * (low + high)
}

/// Welch's t-test of two samples' means, which does not assume their
/// variances are equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// `mean(b) - mean(a)`.
    pub difference: f64,
    /// The standard error of the difference, `sqrt(s_a²/n_a + s_b²/n_b)`.
    pub standard_error: f64,
    /// `difference / standard_error`.
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// The two-sided p-value from Student's t distribution.
    pub p: f64,
}

impl Welch {
    /// The test of `b` against `a`; `None` when either has fewer than two
    /// values (no spread to test against). When neither sample varies at
    /// all, the difference is certain: p is 1 for equal means and 0 for
    /// different ones, with the degrees of freedom of pooled samples.
    pub fn test(a: &[f64], b: &[f64]) -> Option<Welch> {
        let (va, vb) = (sample_variance(a)?, sample_variance(b)?);
        let (na, nb) = (a.len() as f64, b.len() as f64);
        let difference = mean(b)? - mean(a)?;
        let (ea, eb) = (va / na, vb / nb);
        let standard_error = (ea + eb).sqrt();
        if standard_error == 0.0 {
            return Some(Welch {
                difference,
                standard_error,
                t: if difference == 0.0 {
                    0.0
                } else {
                    difference.signum() * f64::INFINITY
                },
                df: na + nb - 2.0,
                p: if difference == 0.0 { 1.0 } else { 0.0 },
            });
        }
        let df = (ea + eb).powi(2) / (ea * ea / (na - 1.0) + eb * eb / (nb - 1.0));
        let t = difference / standard_error;
        Some(Welch {
            difference,
            standard_error,
            t,
            df,
            p: t_two_sided_p(t, df),
        })
    }

    /// The half-width of the 95% confidence interval of the difference.
    pub fn ci95(&self) -> f64 {
        t_two_sided_critical(0.05, self.df) * self.standard_error
    }
}

/// Holm's step-down adjustment of p-values for testing them all at once:
/// the i-th smallest of m is multiplied by m - i + 1, and each adjusted
/// value is at least the one before it (capped at 1). Rejecting those whose
/// adjusted value is at most α holds the chance of any false rejection in
/// the family to α, whatever the tests' dependence.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let m = p.len();
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn sample_stdev_divides_by_n_minus_one() {
        // Squares about the mean 5: 9, 1, 1, 1, 0, 0, 4, 16 = 32; 32 / 7.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(
            sample_stdev(&v).unwrap(),
            (32.0_f64 / 7.0).sqrt(),
            1e-12
        ));
        assert!(close(
            sample_stdev(&[1.0, 3.0]).unwrap(),
            2.0_f64.sqrt(),
            1e-12
        ));
        assert_eq!(sample_stdev(&[5.0]), None);
        assert_eq!(sample_stdev(&[]), None);
    }

    #[test]
    fn ln_gamma_matches_factorials_and_the_half() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-13));
        assert!(close(ln_gamma(5.0), 24.0_f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
        // Stirling's series is exact to 1e-17 this far out; ln Γ is about
        // 6e6 here, so 1e-6 is a relative error of 1e-13.
        let x = 5e5_f64;
        let stirling =
            (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x);
        assert!(close(ln_gamma(x), stirling, 1e-6));
    }

    #[test]
    fn incomplete_beta_matches_closed_forms() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b.
        for x in [0.1, 0.5, 0.93] {
            assert!(close(incomplete_beta(1.0, 1.0, x), x, 1e-12));
            assert!(close(incomplete_beta(3.0, 1.0, x), x.powi(3), 1e-12));
            assert!(close(
                incomplete_beta(1.0, 4.0, x),
                1.0 - (1.0 - x).powi(4),
                1e-12
            ));
        }
        assert_eq!(incomplete_beta(2.0, 3.0, 0.0), 0.0);
        assert_eq!(incomplete_beta(2.0, 3.0, 1.0), 1.0);
    }

    #[test]
    fn two_sided_p_values_match_t_tables() {
        // Table values of t(0.975, df): the two-sided p is 0.05 at each.
        for (t, df) in [(12.706, 1.0), (4.303, 2.0), (2.776, 4.0), (2.228, 10.0)] {
            let p = t_two_sided_p(t, df);
            assert!(close(p, 0.05, 2e-4), "t {t} df {df}: p {p}");
        }
        // Many degrees of freedom: the normal distribution.
        assert!(close(t_two_sided_p(1.96, 1e6), 0.05, 2e-4));
        assert!(close(t_two_sided_p(2.5758, 1e6), 0.01, 1e-4));
        // One degree of freedom is the Cauchy distribution: p = 1 - 2 atan(t) / π.
        let t = 3.0_f64;
        assert!(close(
            t_two_sided_p(t, 1.0),
            1.0 - 2.0 * t.atan() / std::f64::consts::PI,
            1e-12
        ));
        assert_eq!(t_two_sided_p(0.0, 3.0), 1.0);
        assert_eq!(t_two_sided_p(f64::INFINITY, 3.0), 0.0);
        assert!(close(t_cdf(2.776, 4.0), 0.975, 1e-4));
        assert!(close(t_cdf(-2.776, 4.0), 0.025, 1e-4));
    }

    #[test]
    fn critical_values_invert_the_p_value() {
        for (df, expected) in [(1.0, 12.7062), (2.0, 4.3027), (4.0, 2.7764), (1e6, 1.9600)] {
            let t = t_two_sided_critical(0.05, df);
            assert!(close(t, expected, 1e-3), "df {df}: {t}");
        }
    }

    #[test]
    fn the_interval_of_a_mean_uses_t_with_n_minus_one_degrees() {
        // Mean 12, sample stdev 2 (squares 4 + 0 + 4 over 2), n 3, t 4.303.
        let (m, half) = mean_ci95(&[10.0, 12.0, 14.0]).unwrap();
        assert_eq!(m, 12.0);
        assert!(close(half, 4.3027 * 2.0 / 3.0_f64.sqrt(), 1e-3), "{half}");
        assert_eq!(mean_ci95(&[10.0]), None);
    }

    #[test]
    fn welch_matches_a_worked_example() {
        // Two samples with different spreads; by hand: means 20 and 23.5,
        // variances 10/4 and 35/3 over 5 and 4 values, so se² = 0.5 + 35/12
        // = 41/12, t = 3.5 / sqrt(41/12) = 1.8935 and
        // df = (41/12)² / (0.5² / 4 + (35/12)² / 3) = 4.028; the p-value, by
        // integrating the t density numerically, 0.13072.
        let a = [18.0, 19.0, 20.0, 21.0, 22.0];
        let b = [20.0, 22.0, 24.0, 28.0];
        let w = Welch::test(&a, &b).unwrap();
        assert!(close(w.difference, 3.5, 1e-12));
        assert!(close(w.t, 3.5 / (41.0_f64 / 12.0).sqrt(), 1e-12));
        let df = (41.0_f64 / 12.0).powi(2) / (0.0625 + (35.0_f64 / 12.0).powi(2) / 3.0);
        assert!(close(w.df, df, 1e-12), "{w:?}");
        assert!(close(w.p, 0.13072, 1e-5), "{w:?}");
        assert!(close(
            w.ci95(),
            t_two_sided_critical(0.05, w.df) * w.standard_error,
            1e-12
        ));
        assert_eq!(Welch::test(&a, &[20.0]), None);
    }

    #[test]
    fn welch_on_samples_that_do_not_vary_is_certain() {
        let same = Welch::test(&[5.0, 5.0], &[5.0, 5.0, 5.0]).unwrap();
        assert_eq!(same.p, 1.0);
        let apart = Welch::test(&[5.0, 5.0], &[6.0, 6.0]).unwrap();
        assert_eq!(apart.p, 0.0);
        // One side still: the other's spread alone, on its n - 1 degrees.
        let one = Welch::test(&[5.0, 5.0], &[6.0, 7.0, 8.0]).unwrap();
        assert!(close(one.df, 2.0, 1e-12), "{one:?}");
    }

    #[test]
    fn holm_multiplies_the_smallest_by_the_count_and_never_steps_down() {
        // Sorted: 0.01 x 4 = 0.04, 0.03 x 3 = 0.09, 0.04 x 2 = 0.08 raised to
        // 0.09 (never below the one before), 0.5 x 1 = 0.5.
        let adjusted = holm(&[0.04, 0.5, 0.01, 0.03]);
        let expected = [0.09, 0.5, 0.04, 0.09];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!(close(*a, e, 1e-12), "{adjusted:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
