//! `framewut compare A B`: every cell the two runs share, its rate in each
//! beside its 95% confidence interval, and whether the change is real.
//!
//! A cell changed when three things hold:
//! - nothing says the two sides cannot be told apart ([`super::evidence`]):
//!   each side has at least two trials run in at least two server
//!   processes (the replicates), whose rates do not fall into two clusters
//!   unless the other side's all lie beyond both;
//!   the generator was saturated in both or in neither; no trial was held
//!   by steal or other processes; and the runs share a machine, a placement
//!   and a build of framewut. Otherwise the cell is "cannot tell", with why;
//! - Welch's t-test on the two sides' replicates (Welch-Satterthwaite
//!   degrees of freedom, two-sided p from Student's t) rejects "same mean"
//!   after Holm's correction over every cell tested, at a family-wise level
//!   of [`FAMILY_WISE_ALPHA`]: comparing 30 cells at 5% each would call one
//!   or two changed by chance, Holm keeps the chance of calling any to 5%;
//! - the change is larger than the counting resolution, one round more or
//!   less on every connection ([`super::noise::resolution_per_s`]): trials
//!   that happen to agree closely can make a one-round difference look
//!   certain, and it is not a change.
//!
//! The standard deviations here are sample ones (n - 1), computed from the
//! replicates' rates; results.json's `requests_per_s.stdev` is the
//! population figure of the trials and is not used.

use std::fmt::Write;

use serde::Serialize;

use super::evidence::{condition_doubts, replicate_rates, side_doubts};
use super::noise::resolution_per_s;
use crate::format::{change, micros, thousands};
use crate::lab::results::{CellResult, Results};
use crate::model::usage::LATE_US;
use crate::spec::CellSpec;
use crate::stats::{holm, mean_ci95, sample_stdev, Welch};

/// The chance, over a whole comparison, of calling any unchanged cell
/// changed (if the trials are independent replicates).
pub const FAMILY_WISE_ALPHA: f64 = 0.05;

/// A change this large (20%) that the test cannot confirm is pointed out:
/// more trials, not a different reading, would settle it.
const LARGE: f64 = 0.2;

/// One side of a change.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// The mean of the trials' rates.
    pub requests_per_s: f64,
    pub trials: usize,
    /// The server processes the trials ran in: the replicates.
    pub servers: usize,
    /// The sample standard deviation (n - 1) of the replicates' rates; none
    /// for one.
    pub stdev_per_s: Option<f64>,
    /// The half-width of the 95% confidence interval of the replicates'
    /// mean rate (Student's t, n - 1 degrees of freedom); none for one.
    pub ci95_per_s: Option<f64>,
    pub p99_us: Option<u64>,
}

/// Which way a cell moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The test did not reject after the correction, or the change is within
    /// the counting resolution: no change can be claimed.
    WithinNoise,
    Faster,
    Slower,
    /// The sides cannot support a test; the change says why.
    CannotTell,
}

/// A cell measured in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: String,
    pub a: Side,
    pub b: Side,
    /// `(B - A) / A`.
    pub change: f64,
    /// `B - A`, in req/s.
    pub difference_per_s: f64,
    /// The half-width of the 95% confidence interval of `B - A` (Welch);
    /// none with one trial on either side.
    pub difference_ci95_per_s: Option<f64>,
    /// Welch-Satterthwaite degrees of freedom of the test.
    pub df: Option<f64>,
    /// Welch's two-sided p-value for this cell alone.
    pub p_value: Option<f64>,
    /// The p-value after Holm's correction over every cell tested: the cell
    /// changed when this is at most the family-wise level.
    pub holm_p_value: Option<f64>,
    /// The counting resolution (the larger side's; see
    /// [`resolution_per_s`]): a change no larger is never called one.
    pub resolution_per_s: f64,
    pub verdict: Verdict,
    /// How the two cells' configurations differ: `workers 4 -> 2`.
    pub differences: Vec<String>,
    /// Why the sides cannot be told apart; empty when they were tested.
    pub cannot_tell: Vec<String>,
}

/// Two runs set side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    /// How a change is decided, in words.
    pub method: String,
    /// The family-wise level of Holm's correction.
    pub family_wise_alpha: f64,
    pub changes: Vec<Change>,
    /// Cells of A that B does not hold, or did not measure.
    pub only_a: Vec<String>,
    /// Cells of B that A does not hold, or did not measure.
    pub only_b: Vec<String>,
    /// Differences between the runs' machines and placements.
    pub warnings: Vec<String>,
}

/// How a change is decided, as `--json` and the closing line say it.
fn method(alpha: f64) -> String {
    format!(
        "Welch's t-test on the replicates' rates, one per server process (Welch-Satterthwaite degrees of freedom, two-sided p from Student's t), Holm-corrected to {}% family-wise over every cell tested; a change within the counting resolution (the successes that complete together, as the generator measured them, over a trial's seconds) never counts; a side with one trial, one server process or two clusters of servers (unless the other side lies wholly beyond both) cannot tell, nor can sides whose generator saturated in one only, whose trials were held by steal or other processes, beside a neighbour on one side only that could explain the change (steal and other processes' shares of a set 10 points apart, or sleepers woken later by {} or more on CPUs the cell left mostly idle), or runs on different machines, placements or builds",
        alpha * 100.0,
        micros(LATE_US)
    )
}

pub(super) fn side(cell: &CellResult) -> Option<Side> {
    let summary = cell.summary.as_ref()?;
    let rates = replicate_rates(cell);
    Some(Side {
        requests_per_s: summary.requests_per_s.mean,
        trials: cell.trials.len(),
        servers: rates.len(),
        stdev_per_s: sample_stdev(&rates),
        ci95_per_s: mean_ci95(&rates).map(|(_, half)| half),
        p99_us: summary.latency.at(99.0),
    })
}

/// What one cell's test found, before the correction across cells.
#[derive(Debug, Clone, Copy)]
pub(super) struct Evidence {
    /// `B - A`, in req/s.
    pub(super) difference: f64,
    /// The test's p-value; none when the sides cannot support a test.
    pub(super) p: Option<f64>,
    /// The counting resolution, in req/s.
    pub(super) resolution: f64,
}

/// Each cell's verdict and Holm-adjusted p-value. The family is the cells
/// that could be tested: one that cannot tell neither counts in it nor
/// gets a verdict.
pub(super) fn decide(evidence: &[Evidence], alpha: f64) -> Vec<(Verdict, Option<f64>)> {
    let tested: Vec<f64> = evidence.iter().filter_map(|e| e.p).collect();
    let mut adjusted = holm(&tested).into_iter();
    evidence
        .iter()
        .map(|e| {
            let Some(_) = e.p else {
                return (Verdict::CannotTell, None);
            };
            let holm_p = adjusted.next().expect("one adjusted p per tested cell");
            let verdict = if holm_p > alpha || e.difference.abs() <= e.resolution {
                Verdict::WithinNoise
            } else if e.difference > 0.0 {
                Verdict::Faster
            } else {
                Verdict::Slower
            };
            (verdict, Some(holm_p))
        })
        .collect()
}

/// What differs between two cells' configurations, in words.
pub(super) fn differences(a: &CellSpec, b: &CellSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |what: &str, field: &dyn Fn(&CellSpec) -> String| {
        let (x, y) = (field(a), field(b));
        if x != y {
            out.push(format!("{what} {x} -> {y}"));
        }
    };
    differ("workers", &|c| c.stack.workers.to_string());
    differ("variant", &|c| {
        c.variant().map_or("-".to_string(), |v| v.to_string())
    });
    differ("stack", &|c| format!("{:?}", c.stack.source));
    differ("scenario", &|c| format!("{:?}", c.scenario));
    differ("threads", &|c| c.load.threads.to_string());
    differ("pacing", &|c| format!("{:?}", c.load.pacing));
    differ("duration", &|c| format!("{:?}", c.load.duration));
    differ("trials", &|c| c.load.trials.to_string());
    differ("servers", &|c| c.load.servers.to_string());
    out
}

/// The cells of A and B to set side by side: those with the same id, then
/// the rest of each in order when as many remain on both sides (the same
/// matrix with a setting changed that is part of the ids, `:w4` against
/// `:w2`). Only measured cells take part.
fn pairs<'r>(a: &'r Results, b: &'r Results) -> Vec<(&'r CellResult, &'r CellResult)> {
    let measured = |r: &'r Results| -> Vec<&'r CellResult> {
        r.cells.iter().filter(|c| side(c).is_some()).collect()
    };
    let (ma, mb) = (measured(a), measured(b));
    let mut out: Vec<(&CellResult, &CellResult)> = ma
        .iter()
        .filter_map(|ca| Some((*ca, *mb.iter().find(|cb| cb.id == ca.id)?)))
        .collect();
    let rest_a: Vec<&CellResult> = ma
        .iter()
        .copied()
        .filter(|ca| !mb.iter().any(|cb| cb.id == ca.id))
        .collect();
    let rest_b: Vec<&CellResult> = mb
        .iter()
        .copied()
        .filter(|cb| !ma.iter().any(|ca| ca.id == cb.id))
        .collect();
    if rest_a.len() == rest_b.len() {
        out.extend(rest_a.into_iter().zip(rest_b));
    }
    out
}

/// What makes two whole runs incomparable: another machine, another
/// placement, another build of framewut (its generator may differ).
fn run_doubts(a: &Results, b: &Results) -> Vec<String> {
    let mut doubts = Vec::new();
    let (ea, eb) = (&a.environment, &b.environment);
    if ea.cpu_model != eb.cpu_model || ea.cores_online != eb.cores_online {
        doubts.push(format!(
            "the runs were on different machines ({}, {} CPUs against {}, {} CPUs)",
            ea.cpu_model, ea.cores_online, eb.cpu_model, eb.cores_online
        ));
    }
    let (pa, pb) = (&a.placement.placement, &b.placement.placement);
    if pa.server_cpus != pb.server_cpus || pa.load_cpus != pb.load_cpus {
        doubts.push(format!(
            "the placements differ (server on CPUs {} against {}, generator on {} against {})",
            pa.server_cpus, pb.server_cpus, pa.load_cpus, pb.load_cpus
        ));
    }
    if ea.git_commit != eb.git_commit {
        doubts.push(format!(
            "framewut was built from different commits ({} against {}), and its generator with it",
            short_commit(&ea.git_commit),
            short_commit(&eb.git_commit)
        ));
    }
    doubts
}

/// One cell's change from A to B, untested yet: the sides, the difference
/// and its interval from Welch's test on the replicates, and `doubts`
/// (with the sides' own) as why it cannot tell.
pub(super) fn cell_change(
    ca: &CellResult,
    cb: &CellResult,
    mut doubts: Vec<String>,
) -> Option<(Change, Evidence)> {
    let (sa, sb) = (side(ca)?, side(cb)?);
    doubts.extend(side_doubts("A", ca, cb, true));
    doubts.extend(side_doubts("B", cb, ca, true));
    doubts.extend(condition_doubts(ca, cb));
    let welch = Welch::test(&replicate_rates(ca), &replicate_rates(cb));
    let resolution = resolution_per_s(ca)
        .unwrap_or(0.0)
        .max(resolution_per_s(cb).unwrap_or(0.0));
    let difference = sb.requests_per_s - sa.requests_per_s;
    let evidence = Evidence {
        difference,
        p: welch.filter(|_| doubts.is_empty()).map(|w| w.p),
        resolution,
    };
    let change = Change {
        id: if ca.id == cb.id {
            ca.id.clone()
        } else {
            format!("{} | {}", ca.id, cb.id)
        },
        change: if sa.requests_per_s > 0.0 {
            difference / sa.requests_per_s
        } else {
            0.0
        },
        difference_per_s: difference,
        difference_ci95_per_s: welch.filter(|w| w.standard_error > 0.0).map(|w| w.ci95()),
        df: welch.map(|w| w.df),
        p_value: evidence.p,
        holm_p_value: None,
        resolution_per_s: resolution,
        verdict: Verdict::CannotTell,
        differences: differences(&ca.config, &cb.config),
        cannot_tell: doubts,
        a: sa,
        b: sb,
    };
    Some((change, evidence))
}

/// Sets run B beside run A, cell by cell (matched by id, then in order).
pub fn compare(a_name: &str, a: &Results, b_name: &str, b: &Results) -> Comparison {
    let whole = run_doubts(a, b);
    let (mut changes, evidence): (Vec<Change>, Vec<Evidence>) = pairs(a, b)
        .into_iter()
        .filter_map(|(ca, cb)| cell_change(ca, cb, whole.clone()))
        .unzip();
    for (c, (verdict, holm_p)) in changes.iter_mut().zip(decide(&evidence, FAMILY_WISE_ALPHA)) {
        c.verdict = verdict;
        c.holm_p_value = holm_p;
    }
    let paired = |id: &str, first: bool| {
        changes.iter().any(|c| {
            c.id == id
                || c.id
                    .split_once(" | ")
                    .is_some_and(|(x, y)| if first { x == id } else { y == id })
        })
    };
    let only = |r: &Results, first: bool| -> Vec<String> {
        r.cells
            .iter()
            .filter(|c| side(c).is_some() && !paired(&c.id, first))
            .map(|c| c.id.clone())
            .collect()
    };
    let (only_a, only_b) = (only(a, true), only(b, false));
    Comparison {
        a: a_name.to_string(),
        b: b_name.to_string(),
        method: method(FAMILY_WISE_ALPHA),
        family_wise_alpha: FAMILY_WISE_ALPHA,
        changes,
        only_a,
        only_b,
        warnings: whole,
    }
}

fn short_commit(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn p99(us: Option<u64>) -> String {
    us.map_or("-".into(), |us| {
        framewut_load::format_duration(std::time::Duration::from_micros(us))
    })
}

/// A rate's confidence interval as the table shows it: `±1,234`, or `-`
/// with one trial.
fn interval(half: Option<f64>) -> String {
    half.map_or("-".into(), |h| format!("±{}", thousands(h)))
}

impl Comparison {
    /// The cells that changed.
    pub fn changed(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Faster | Verdict::Slower))
    }

    /// What the table says of one cell.
    fn verdict_text(&self, c: &Change) -> String {
        let p = c.holm_p_value.unwrap_or(1.0);
        match c.verdict {
            Verdict::CannotTell => format!(
                "cannot tell: {}",
                c.cannot_tell.first().map_or("", String::as_str)
            ),
            Verdict::WithinNoise if p <= self.family_wise_alpha => format!(
                "within counting resolution ({} req/s: successes that complete together over a trial's seconds)",
                thousands(c.resolution_per_s)
            ),
            Verdict::WithinNoise if c.change.abs() >= LARGE => {
                "within noise, but large: more trials (--trials) would tell".to_string()
            }
            Verdict::WithinNoise => "within noise".to_string(),
            Verdict::Faster => "FASTER".to_string(),
            Verdict::Slower => "SLOWER".to_string(),
        }
    }

    /// The comparison as a table and a closing summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "A: {}\nB: {}\n", self.a, self.b);
        for w in &self.warnings {
            let _ = writeln!(out, "cannot tell any cell: {w}");
        }
        if !self.warnings.is_empty() {
            out.push('\n');
        }
        let width = self
            .changes
            .iter()
            .map(|c| c.id.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:<width$}  {:>9} {:>8}  {:>9} {:>8}  {:>8}  {:>8}  {:>9}  {:>9}  verdict",
            "cell",
            "A req/s",
            "±95% CI",
            "B req/s",
            "±95% CI",
            "change",
            "p (Holm)",
            "A p99",
            "B p99"
        );
        for c in &self.changes {
            let differences = if c.differences.is_empty() {
                String::new()
            } else {
                format!("; {}", c.differences.join(", "))
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>9} {:>8}  {:>9} {:>8}  {:>8}  {:>8}  {:>9}  {:>9}  {}{differences}",
                c.id,
                thousands(c.a.requests_per_s),
                interval(c.a.ci95_per_s),
                thousands(c.b.requests_per_s),
                interval(c.b.ci95_per_s),
                change(c.change),
                c.holm_p_value.map_or("-".into(), p_value),
                p99(c.a.p99_us),
                p99(c.b.p99_us),
                self.verdict_text(c),
            );
        }
        for (ids, which, other) in [(&self.only_a, "A", "B"), (&self.only_b, "B", "A")] {
            if !ids.is_empty() {
                let _ = writeln!(
                    out,
                    "\nmeasured only in {which} (not in {other}): {}",
                    ids.join(", ")
                );
            }
        }
        let changed: Vec<String> = self
            .changed()
            .map(|c| format!("{} {}", c.id, change(c.change)))
            .collect();
        let _ = writeln!(
            out,
            "\n{} of {} cells changed{}",
            changed.len(),
            self.changes.len(),
            if changed.is_empty() {
                ".".to_string()
            } else {
                format!(": {}.", changed.join(", "))
            }
        );
        let doubted: Vec<&Change> = self
            .changes
            .iter()
            .filter(|c| c.cannot_tell.len() > 1 && self.warnings.is_empty())
            .collect();
        for c in doubted {
            let _ = writeln!(
                out,
                "{} cannot tell, also: {}.",
                c.id,
                c.cannot_tell[1..].join("; ")
            );
        }
        let untestable = self
            .changes
            .iter()
            .filter(|c| c.verdict == Verdict::CannotTell)
            .count();
        if untestable > 0 {
            let _ = writeln!(
                out,
                "{untestable} cannot tell: their trials cannot support a test (the reason is beside each)."
            );
        }
        let _ = writeln!(
            out,
            "method: {}. ±95% CI: the half-width of the confidence interval of each side's mean rate over its server processes (Student's t).",
            self.method
        );
        out
    }
}

/// A p-value in few digits: `0.003`, `<0.001`.
fn p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tested(difference: f64, p: f64) -> Evidence {
        Evidence {
            difference,
            p: Some(p),
            resolution: 1.0,
        }
    }

    #[test]
    fn holm_tests_the_smallest_p_against_the_strictest_level() {
        // Four cells: 0.01 x 4 = 0.04 rejects at 5%; 0.02 x 3 = 0.06 does
        // not, and Holm stops there, so 0.03 (x 2 = 0.06) and 0.04 (x 1) are
        // not changes either, though each alone is under 5%.
        let evidence = [
            tested(-10.0, 0.03),
            tested(10.0, 0.01),
            tested(10.0, 0.04),
            tested(10.0, 0.02),
        ];
        let verdicts: Vec<Verdict> = decide(&evidence, 0.05)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::WithinNoise,
                Verdict::Faster,
                Verdict::WithinNoise,
                Verdict::WithinNoise
            ]
        );
        // With the second smallest at 0.012 (x 3 = 0.036, raised to the
        // 0.04 before it) the step goes on; 0.03 x 2 = 0.06 stops it.
        let evidence = [
            tested(-10.0, 0.03),
            tested(10.0, 0.01),
            tested(-10.0, 0.012),
            tested(10.0, 0.5),
        ];
        let decided = decide(&evidence, 0.05);
        assert_eq!(decided[0].0, Verdict::WithinNoise);
        assert_eq!(decided[1].0, Verdict::Faster);
        assert_eq!(decided[2].0, Verdict::Slower);
        assert_eq!(decided[3].0, Verdict::WithinNoise);
        assert!((decided[2].1.unwrap() - 0.04).abs() < 1e-12, "{decided:?}");
    }

    #[test]
    fn a_change_within_one_round_a_connection_is_never_a_change() {
        let certain_but_small = Evidence {
            difference: -16.0,
            p: Some(0.0),
            resolution: 16.0,
        };
        let certain_and_larger = Evidence {
            difference: -16.5,
            ..certain_but_small
        };
        let decided = decide(&[certain_but_small, certain_and_larger], 0.05);
        assert_eq!(decided[0], (Verdict::WithinNoise, Some(0.0)));
        assert_eq!(decided[1], (Verdict::Slower, Some(0.0)));
    }

    #[test]
    fn one_trial_cannot_tell_and_does_not_enlarge_the_family() {
        let one_trial = Evidence {
            difference: 100.0,
            p: None,
            resolution: 1.0,
        };
        // Alone in the family, 0.04 rejects at 5%; a second tested cell
        // would have made it 0.08.
        let decided = decide(&[one_trial, tested(10.0, 0.04), one_trial], 0.05);
        assert_eq!(decided[0], (Verdict::CannotTell, None));
        assert_eq!(decided[1], (Verdict::Faster, Some(0.04)));
        assert_eq!(decided[2], (Verdict::CannotTell, None));
    }
}
