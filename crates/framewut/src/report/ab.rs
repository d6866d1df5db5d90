//! The verdict of a `framewut ab` run: every pair of cells, A against B,
//! from their trials paired by round.
//!
//! An A/B run starts a fresh server for every trial and runs each pair's
//! trials in rounds, A then B, then B then A (ABBA). A machine that drifts
//! during the run (a shared host, a warming CPU) moves both sides of a round
//! alike, so the differences within rounds are what is tested: a paired
//! t-test on `B - A` per round (Student's t, rounds - 1 degrees of freedom),
//! Holm-corrected over the pairs as `framewut compare` is. What makes the
//! sides incomparable is checked as there ([`super::evidence`]), except
//! one server process, which this design rules out.

use super::compare::{decide, differences, side, Change, Comparison, Evidence, FAMILY_WISE_ALPHA};
use super::evidence::{condition_doubts, side_doubts};
use super::noise::resolution_per_s;
use crate::format::micros;
use crate::lab::results::{CellResult, Results};
use crate::model::usage::LATE_US;
use crate::stats::{mean, mean_ci95, sample_stdev, t_two_sided_p};

/// How an A/B verdict is decided, in words.
fn method(alpha: f64) -> String {
    format!(
        "a paired t-test on B - A in each round (the rounds run A then B, then B then A, a fresh server for every trial), Holm-corrected to {}% family-wise over every pair tested; a change within the counting resolution (the successes that complete together over a trial's seconds) never counts; a pair whose servers fall into two clusters the other side does not lie wholly beyond, whose generator saturated on one side only, whose trials were held by steal or other processes, or beside a neighbour on one side only that could explain the change (steal and other processes' shares of a set 10 points apart, or sleepers woken later by {} or more on CPUs the cell left mostly idle) cannot tell",
        alpha * 100.0,
        micros(LATE_US)
    )
}

/// The rounds' differences, `B - A`, in req/s: trial k of B against trial
/// k of A.
fn round_differences(a: &CellResult, b: &CellResult) -> Vec<f64> {
    a.trials
        .iter()
        .zip(&b.trials)
        .map(|(x, y)| y.load.requests_per_s - x.load.requests_per_s)
        .collect()
}

/// One pair's change and what its test found.
fn pair_change(a: &CellResult, b: &CellResult, id: String) -> Option<(Change, Evidence)> {
    let (sa, sb) = (side(a)?, side(b)?);
    let mut doubts = side_doubts("A", a, b, false);
    doubts.extend(side_doubts("B", b, a, false));
    doubts.extend(condition_doubts(a, b));
    let d = round_differences(a, b);
    let difference = mean(&d)?;
    let df = d.len() as f64 - 1.0;
    let p = sample_stdev(&d).map(|s| {
        let error = s / (d.len() as f64).sqrt();
        if error == 0.0 {
            if difference == 0.0 {
                1.0
            } else {
                0.0
            }
        } else {
            t_two_sided_p(difference / error, df)
        }
    });
    let resolution = resolution_per_s(a)
        .unwrap_or(0.0)
        .max(resolution_per_s(b).unwrap_or(0.0));
    let evidence = Evidence {
        difference,
        p: p.filter(|_| doubts.is_empty()),
        resolution,
    };
    let change = Change {
        id,
        change: if sa.requests_per_s > 0.0 {
            difference / sa.requests_per_s
        } else {
            0.0
        },
        difference_per_s: difference,
        difference_ci95_per_s: mean_ci95(&d).map(|(_, half)| half),
        df: (df > 0.0).then_some(df),
        p_value: evidence.p,
        holm_p_value: None,
        resolution_per_s: resolution,
        verdict: super::compare::Verdict::CannotTell,
        differences: differences(&a.config, &b.config),
        cannot_tell: doubts,
        a: sa,
        b: sb,
    };
    Some((change, evidence))
}

/// The A/B verdict of an A/B run's results; none for another run.
pub fn verdict(results: &Results) -> Option<Comparison> {
    let ab = results.run.ab.as_ref()?;
    let cell = |id: &str| results.cells.iter().find(|c| c.id == id);
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    let mut pairs = Vec::new();
    for (a, b) in &ab.pairs {
        let (Some(ca), Some(cb)) = (cell(a), cell(b)) else {
            continue;
        };
        match (side(ca).is_some(), side(cb).is_some()) {
            (true, true) => pairs.push((ca, cb)),
            (true, false) => only_a.push(ca.id.clone()),
            (false, true) => only_b.push(cb.id.clone()),
            (false, false) => {}
        }
    }
    let (mut changes, evidence): (Vec<Change>, Vec<Evidence>) = pairs
        .into_iter()
        .filter_map(|(ca, cb)| pair_change(ca, cb, pair_name(&ca.id, &cb.id)))
        .unzip();
    for (c, (verdict, holm_p)) in changes.iter_mut().zip(decide(&evidence, FAMILY_WISE_ALPHA)) {
        c.verdict = verdict;
        c.holm_p_value = holm_p;
    }
    Some(Comparison {
        a: ab.a.clone(),
        b: ab.b.clone(),
        method: method(FAMILY_WISE_ALPHA),
        family_wise_alpha: FAMILY_WISE_ALPHA,
        changes,
        only_a,
        only_b,
        warnings: Vec::new(),
    })
}

/// A pair's name: the cell's id without the sides' marks, or both ids
/// where they differ.
fn pair_name(a: &str, b: &str) -> String {
    let (a, b) = (unmarked(a), unmarked(b));
    if a == b {
        a.to_string()
    } else {
        format!("{a} | {b}")
    }
}

/// The mark an A/B run puts before each side's cell ids.
pub const MARK_A: &str = "A:";
pub const MARK_B: &str = "B:";

fn unmarked(id: &str) -> &str {
    id.strip_prefix(MARK_A)
        .or_else(|| id.strip_prefix(MARK_B))
        .unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake::{self, trial};
    use crate::lab::results::{AbRun, Status, Trial};
    use crate::report::compare::Verdict;

    /// An A/B run of one pair whose rounds measured these rates.
    fn run(a: &[u64], b: &[u64]) -> Results {
        let mut results = fake::results(
            "[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]\n[[stack]]\nid = \"rust/std/thread-per-conn\"\nscenarios = [\"hello\"]\n[[profile]]\nconnections = 1\n",
        );
        for (cell, rates, mark) in [(0, a, MARK_A), (1, b, MARK_B)] {
            let c = &mut results.cells[cell];
            c.id = format!("{mark}{}", c.id);
            c.status = Status::Ok;
            c.trials = rates
                .iter()
                .enumerate()
                .map(|(k, &rate)| Trial {
                    process: k as u32 + 1,
                    ..trial(rate, &[500; 10], 0, 0.5)
                })
                .collect();
            c.summarise();
        }
        results.run.ab = Some(AbRun {
            a: "a.toml".into(),
            b: "b.toml".into(),
            pairs: vec![(results.cells[0].id.clone(), results.cells[1].id.clone())],
        });
        results
    }

    #[test]
    fn a_drift_that_moves_both_sides_of_each_round_cancels_out() {
        // The machine slows by a fifth over the run; B is 10% faster in
        // every round. Set apart (Welch), the drift's spread would swamp
        // the change; paired by round, it is plain.
        let a = [10_000, 9_500, 9_000, 8_500, 8_000, 7_500];
        let b: Vec<u64> = a.iter().map(|r| r * 11 / 10).collect();
        let verdict = verdict(&run(&a, &b)).unwrap();
        let c = &verdict.changes[0];
        assert_eq!(c.verdict, Verdict::Faster, "{c:?}");
        assert_eq!(
            c.id,
            "rust/std/sync-pool/hello/c1 | rust/std/thread-per-conn/hello/c1"
        );
        assert!((c.change - 0.1).abs() < 0.001, "{c:?}");
        let half = c.difference_ci95_per_s.unwrap();
        assert!(half < 0.2 * c.difference_per_s, "{c:?}");
        assert!(verdict.render().contains("1 of 1 cells changed"));
    }

    #[test]
    fn rounds_that_disagree_are_within_noise_and_one_round_cannot_tell() {
        let a = [10_000, 10_000, 10_000, 10_000];
        let b = [10_500, 9_400, 10_300, 9_700];
        let c = &verdict(&run(&a, &b)).unwrap().changes[0];
        assert_eq!(c.verdict, Verdict::WithinNoise, "{c:?}");
        let c = &verdict(&run(&[10_000], &[12_000])).unwrap().changes[0];
        assert_eq!(c.verdict, Verdict::CannotTell, "{c:?}");
        assert!(c.cannot_tell[0].starts_with("one trial in A"), "{c:?}");
    }
}
