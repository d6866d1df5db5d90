//! The Universal Scalability Law on every sweep of connections: which cells
//! make a sweep (one stack's cells in one scenario that differ only in
//! their connections, closed loop, at [`usl::MIN_DISTINCT`] or more
//! connection counts), the law fitted to each sweep's trials, what its
//! coefficients mean in words, and the table that report.md and
//! report.html both show.

use serde::{Deserialize, Serialize};

use super::scenarios;
use super::tables::{Cell, Column, Row, Table};
use crate::format::{rate, thousands};
use crate::lab::results::{CellResult, Results, Status};
use crate::model::usl::{self, Estimate, Usl};
use crate::spec::{CellSpec, PacingSpec};

/// The law and how to read a fit, for the reports.
pub const EXPLAINED: &str = "The Universal Scalability Law, X(N) = λN / (1 + σ(N - 1) + κN(N - 1)), is fitted by least squares to every trial of each stack's sweep of four or more connection counts. λ is the rate of one connection alone, σ contention (the share of the work that waits its turn), κ coherency (what keeping each pair of connections in step costs). With κ above zero throughput peaks at N* = sqrt((1 - σ)/κ) and falls past it; with κ at zero it levels off at λ/σ. ± is one standard error; a peak is given only where κ lies above zero beyond Student's t at 95%.";

/// One stack's sweep of connections in one scenario, and the law fitted
/// to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepFit {
    /// The scenario: `hello`.
    pub scenario: String,
    /// The stack's label: `rust/axum/tokio-multi`.
    pub stack: String,
    /// The load profile's name.
    pub profile: String,
    /// The sweep's cells, by connections.
    pub cells: Vec<String>,
    /// The fit to every trial's rate; none when the sweep could not be fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usl: Option<Usl>,
    /// Why it could not be fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl SweepFit {
    /// The stack and scenario in words, with the profile when it has a
    /// name: `rust/axum/tokio-multi hello`, `rust/std/sync-pool hello (close profile)`.
    pub fn name(&self) -> String {
        format!(
            "{} {}{}",
            self.stack,
            self.scenario,
            profile_words(&self.profile)
        )
    }
}

/// ` (close profile)` for a named profile; nothing for the default.
pub(crate) fn profile_words(profile: &str) -> String {
    match profile {
        "default" => String::new(),
        named => format!(" ({named} profile)"),
    }
}

/// A cell's configuration with what a sweep varies left out: its id, its
/// connections and the generator's threads (at most one per connection).
fn apart_from_connections(spec: &CellSpec) -> CellSpec {
    let mut key = spec.clone();
    key.id.clear();
    key.load.connections = 0;
    key.load.threads = 0;
    key
}

/// Every trial's rate as a point `(connections, req/s)`; a cell whose
/// trials are not kept gives its mean.
fn points(cells: &[&CellResult]) -> Vec<(f64, f64)> {
    cells
        .iter()
        .flat_map(|c| {
            let n = c.config.load.connections as f64;
            let rates: Vec<f64> = match (c.trials.is_empty(), &c.summary) {
                (true, Some(s)) => vec![s.requests_per_s.mean],
                _ => c.trials.iter().map(|t| t.load.requests_per_s).collect(),
            };
            rates.into_iter().map(move |x| (n, x))
        })
        .collect()
}

/// The sweeps of a run with the law fitted to each, scenario by scenario
/// in the contract's order. A sweep with a cell not measured is listed
/// with the reason and no fit: the missing cell may be where it broke.
/// Open-loop cells are left out: their rate is the one they were offered.
pub fn sweeps(results: &Results) -> Vec<SweepFit> {
    let mut out = Vec::new();
    for (scenario, cells) in scenarios(results) {
        let mut groups: Vec<(CellSpec, Vec<&CellResult>)> = Vec::new();
        for cell in cells
            .into_iter()
            .filter(|c| matches!(c.config.load.pacing, PacingSpec::Closed))
        {
            let key = apart_from_connections(&cell.config);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(cell),
                None => groups.push((key, vec![cell])),
            }
        }
        for (_, mut group) in groups {
            group.sort_by_key(|c| c.config.load.connections);
            let mut connections: Vec<usize> =
                group.iter().map(|c| c.config.load.connections).collect();
            connections.dedup();
            if connections.len() < usl::MIN_DISTINCT {
                continue;
            }
            let unmeasured: Vec<&str> = group
                .iter()
                .filter(|c| c.status != Status::Ok || c.summary.is_none())
                .map(|c| c.id.as_str())
                .collect();
            let (fit, problem) = if unmeasured.is_empty() {
                match usl::fit(&points(&group)) {
                    Ok(fit) => (Some(fit), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            } else {
                (
                    None,
                    Some(format!(
                        "{} of its {} cells not measured ({})",
                        unmeasured.len(),
                        group.len(),
                        unmeasured.join(", ")
                    )),
                )
            };
            let first = &group[0].config;
            out.push(SweepFit {
                scenario: scenario.as_str().to_string(),
                stack: first.stack.label.clone(),
                profile: first.load.profile.clone(),
                cells: group.iter().map(|c| c.id.clone()).collect(),
                usl: fit,
                problem,
            });
        }
    }
    out
}

/// A thousands-separated figure with `decimals` places.
fn figure(x: f64, decimals: usize) -> String {
    if decimals == 0 && x >= 100.0 {
        thousands(x)
    } else {
        format!("{x:.decimals$}")
    }
}

/// An estimate as `0.031 ± 0.004`: the error to one significant figure, or
/// two when it starts with a 1 or a 2, and the value to the same place.
pub(crate) fn plus_minus(e: Estimate) -> String {
    if !(e.se.is_finite() && e.se > 0.0) {
        let magnitude = e.value.abs().max(f64::MIN_POSITIVE).log10().floor() as i32;
        return format!("{} ± 0", figure(e.value, (2 - magnitude).max(0) as usize));
    }
    let magnitude = e.se.log10().floor() as i32;
    let leading = e.se / 10f64.powi(magnitude);
    let digits = if leading < 3.0 { 2 } else { 1 };
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    format!("{} ± {}", figure(e.value, decimals), figure(e.se, decimals))
}

/// What a fit says about its stack, in a sentence without the stack's
/// name: where throughput peaks and why, or where it levels off.
pub fn meaning(fit: &Usl) -> String {
    let (sigma, kappa) = (plus_minus(fit.sigma), plus_minus(fit.kappa));
    match fit.peak {
        Some(peak) if peak.n.value <= fit.max_n => format!(
            "past {:.0} connections (N* = {}) this stack loses throughput: contention σ = {sigma}, coherency κ = {kappa}; at its peak it answers {}",
            peak.n.value,
            plus_minus(peak.n),
            rate(peak.per_s)
        ),
        Some(peak) => format!(
            "its throughput would peak past the sweep's {:.0} connections, near N* = {} (extrapolated): contention σ = {sigma}, coherency κ = {kappa}",
            fit.max_n,
            plus_minus(peak.n)
        ),
        None if fit.sigma.value >= 1.0 => format!(
            "throughput falls from the first connection on: contention σ = {sigma} is 1 or more, so each connection added waits out the others"
        ),
        None => match fit.ceiling().filter(|_| fit.significant(fit.sigma)) {
            Some(ceiling) => format!(
                "no peak within the range: throughput levels off at λ/σ = {} (contention σ = {sigma}; coherency κ = {kappa}, not above zero)",
                rate(ceiling)
            ),
            None => format!(
                "throughput grows in step with the connections over the sweep, {} each: neither contention (σ = {sigma}) nor coherency (κ = {kappa}) lies above zero",
                rate(fit.lambda.value)
            ),
        },
    }
}

/// The fits of one scenario's sweeps: their coefficients with their
/// standard errors, and what they mean; a sweep that could not be fitted
/// says why.
pub fn table(fits: &[&SweepFit]) -> Table {
    let columns = vec![
        Column::left("stack"),
        Column::right("trials"),
        Column::right("loads"),
        Column::right("λ req/s"),
        Column::right("σ contention"),
        Column::right("κ coherency"),
        Column::right("N* peak"),
        Column::right("R²"),
        Column::prose("what it means"),
    ];
    let rows = fits
        .iter()
        .map(|s| {
            let mut cells: Vec<Cell> =
                vec![format!("{}{}", s.stack, profile_words(&s.profile)).into()];
            let Some(fit) = &s.usl else {
                return Row {
                    cells,
                    note: Some(format!(
                        "not fitted: {}",
                        s.problem.as_deref().unwrap_or("no fit")
                    )),
                    flagged: false,
                };
            };
            cells.extend([
                fit.points.to_string().into(),
                fit.distinct.to_string().into(),
                plus_minus(fit.lambda).into(),
                plus_minus(fit.sigma).into(),
                plus_minus(fit.kappa).into(),
                fit.peak.map_or("-".to_string(), |p| plus_minus(p.n)).into(),
                format!("{:.3}", fit.r_squared).into(),
                meaning(fit).into(),
            ]);
            Row {
                cells,
                note: None,
                flagged: fit.peak.is_some_and(|p| p.n.value <= fit.max_n),
            }
        })
        .collect();
    Table { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::usl::Peak;

    fn estimate(value: f64, se: f64) -> Estimate {
        Estimate { value, se }
    }

    #[test]
    fn estimates_are_written_to_their_errors_place() {
        assert_eq!(plus_minus(estimate(0.0312, 0.0041)), "0.031 ± 0.004");
        assert_eq!(plus_minus(estimate(0.00041, 0.00012)), "0.00041 ± 0.00012");
        assert_eq!(plus_minus(estimate(48.3, 6.2)), "48 ± 6");
        assert_eq!(plus_minus(estimate(48.34, 1.42)), "48.3 ± 1.4");
        assert_eq!(plus_minus(estimate(1234.6, 56.0)), "1,235 ± 56");
        assert_eq!(plus_minus(estimate(0.03, 0.0)), "0.0300 ± 0");
    }

    fn fit(sigma: Estimate, kappa: Estimate, peak: Option<f64>) -> Usl {
        Usl {
            lambda: estimate(1000.0, 20.0),
            sigma,
            kappa,
            r_squared: 0.99,
            points: 27,
            distinct: 9,
            max_n: 256.0,
            peak: peak.map(|n| Peak {
                n: estimate(n, 6.0),
                per_s: 12_000.0,
            }),
        }
    }

    #[test]
    fn a_fit_is_told_by_where_it_peaks_or_levels_off() {
        let words = meaning(&fit(
            estimate(0.031, 0.004),
            estimate(0.0004, 0.0001),
            Some(48.0),
        ));
        assert_eq!(words, "past 48 connections (N* = 48 ± 6) this stack loses throughput: contention σ = 0.031 ± 0.004, coherency κ = 0.00040 ± 0.00010; at its peak it answers 12,000 req/s");
        let words = meaning(&fit(
            estimate(0.031, 0.004),
            estimate(1e-5, 3e-6),
            Some(310.0),
        ));
        assert!(words.starts_with("its throughput would peak past the sweep's 256 connections, near N* = 310 ± 6 (extrapolated)"), "{words}");
        let words = meaning(&fit(estimate(0.05, 0.004), estimate(0.0, 1e-5), None));
        assert!(
            words.starts_with(
                "no peak within the range: throughput levels off at λ/σ = 20,000 req/s"
            ),
            "{words}"
        );
        let words = meaning(&fit(estimate(0.0, 0.004), estimate(0.0, 1e-5), None));
        assert!(
            words.starts_with(
                "throughput grows in step with the connections over the sweep, 1,000 req/s each"
            ),
            "{words}"
        );
    }
}
