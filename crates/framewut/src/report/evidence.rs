//! What a cell's trials can support when set against another's: the
//! replicates a test may use, and the reasons it cannot tell.
//!
//! Trials of one server process share its start and its moment (its memory
//! layout, where its threads landed, what else the machine was doing), so
//! they agree more closely than two starts of the same thing do; a test on
//! them is confident about differences that are only between starts
//! (Kalibera and Jones, "Rigorous benchmarking in reasonable time", 2013:
//! repeat at the level where the variance is). The replicates here are the
//! server processes, each the rate over all of its trials.

use serde::Serialize;

use super::noise::resolution_per_s;
use crate::format::{micros, thousands};
use crate::lab::results::{idle_lateness, usage, CellResult, Trial};
use crate::model::usage::{Resource, SetUse, COMPETING, LATE_US, MATTERS};
use crate::stats::mean;

/// Two clusters of replicates are told apart when the gap between them is
/// more than this many times the widest cluster's range...
pub const CLUSTER_GAP: f64 = 3.0;
/// ...and more than this share of the mean rate: a gap that small is noise
/// whatever its shape.
pub const CLUSTER_GAP_SHARE: f64 = 0.1;

/// One server process: the trials it served taken as one replicate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replicate {
    /// The start of the stack (1 for the first); 0 where the results do
    /// not say.
    pub process: u32,
    pub trials: usize,
    /// The requests of its trials over their time.
    pub requests_per_s: f64,
}

/// A cell's replicates, one per server process, in the order they ran.
pub fn replicates(cell: &CellResult) -> Vec<Replicate> {
    replicates_of(cell)
        .into_iter()
        .map(|trials| {
            let process = trials[0].process;
            let requests: u64 = trials.iter().map(|t| t.load.requests).sum();
            let seconds: f64 = trials.iter().map(|t| t.load.elapsed_s).sum();
            Replicate {
                process,
                trials: trials.len(),
                requests_per_s: if seconds > 0.0 {
                    requests as f64 / seconds
                } else {
                    0.0
                },
            }
        })
        .collect()
}

/// A cell's trials grouped by the server process they ran in, in the
/// order the processes ran; no group is empty.
pub fn replicates_of(cell: &CellResult) -> Vec<Vec<&Trial>> {
    let mut out: Vec<(u32, Vec<&Trial>)> = Vec::new();
    for trial in &cell.trials {
        match out.iter_mut().find(|(p, _)| *p == trial.process) {
            Some((_, trials)) => trials.push(trial),
            None => out.push((trial.process, vec![trial])),
        }
    }
    out.into_iter().map(|(_, trials)| trials).collect()
}

/// The rates of a cell's replicates.
pub fn replicate_rates(cell: &CellResult) -> Vec<f64> {
    replicates(cell).iter().map(|r| r.requests_per_s).collect()
}

/// Two clusters in `values`, as the means of the lower and the upper one:
/// split at the largest gap that leaves at least two values on each side,
/// the gap wider than [`CLUSTER_GAP`] times either cluster's range, than
/// [`CLUSTER_GAP_SHARE`] of the mean, and than `floor`. Needs four values.
pub fn two_clusters(values: &[f64], floor: f64) -> Option<(f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n < 4 {
        return None;
    }
    let split = (2..=n - 2).max_by(|&i, &j| (v[i] - v[i - 1]).total_cmp(&(v[j] - v[j - 1])))?;
    let (low, high) = v.split_at(split);
    let gap = high[0] - low[low.len() - 1];
    let range = (low[low.len() - 1] - low[0]).max(high[high.len() - 1] - high[0]);
    let all = mean(&v)?;
    (gap > CLUSTER_GAP * range && gap > CLUSTER_GAP_SHARE * all && gap > floor)
        .then(|| Some((mean(low)?, mean(high)?)))
        .flatten()
}

/// What took a saturated set's time from a cell that wanted it: steal or
/// other processes; none when the set was not saturated, was the cell's
/// own, or the cell hardly used it.
fn taken_by(set: &SetUse) -> Option<Resource> {
    set.saturated_by(Resource::ServerCpus)
        .filter(|by| matches!(by, Resource::Steal | Resource::OtherProcesses))
        .filter(|_| set.own() >= COMPETING)
}

/// Whether most of a cell's trials ran with the generator saturated.
fn mostly_saturated(cell: &CellResult) -> bool {
    let saturated = cell.trials.iter().filter(|t| t.generator_saturated).count();
    2 * saturated > cell.trials.len()
}

/// Why one side, called `name`, cannot support a test of its cell against
/// the other side's, `beside`: one trial, one server process, or
/// replicates in two clusters that `beside` does not lie wholly above or
/// below (where it does, either of the two answers gives the same
/// direction). `processes` says whether one process is a reason: a run
/// whose design already starts a server per trial (an A/B run) passes
/// false.
pub fn side_doubts(
    name: &str,
    cell: &CellResult,
    beside: &CellResult,
    processes: bool,
) -> Vec<String> {
    let mut doubts = Vec::new();
    if cell.trials.len() < 2 {
        doubts.push(format!(
            "one trial in {name}: nothing to set a change against (3 or more would)"
        ));
        return doubts;
    }
    let replicates = replicates(cell);
    if processes && replicates.len() < 2 {
        doubts.push(if replicates[0].process == 0 {
            format!("{name}'s results do not say which server process ran each trial (an older framewut wrote them)")
        } else {
            format!(
                "{name}'s {} trials all ran in one server process, so their spread is not the spread between starts (a profile's servers, or --interleave, gives each trial its own)",
                cell.trials.len()
            )
        });
    }
    let floor = resolution_per_s(cell).unwrap_or(0.0);
    let rates: Vec<f64> = replicates.iter().map(|r| r.requests_per_s).collect();
    let others = replicate_rates(beside);
    let lowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let apart = !others.is_empty()
        && (others.iter().all(|r| *r > highest) || others.iter().all(|r| *r < lowest));
    if let Some((low, high)) = two_clusters(&rates, floor).filter(|_| !apart) {
        doubts.push(format!(
            "{name}'s servers fall into two clusters, around {} and {} req/s: a stack whose start decides its speed has two answers, and a mean of them is neither",
            thousands(low),
            thousands(high)
        ));
    }
    doubts
}

/// Why the conditions two sides ran under differ in what their results
/// measured: the generator saturated in one and not the other; a trial on
/// either side whose CPUs, saturated, went partly to steal or other
/// processes while the cell wanted them ([`COMPETING`]); otherwise, steal
/// and other processes taking shares of a set that differ by [`MATTERS`]
/// or more, since a cell that wants no more CPU still waits behind a
/// neighbour to wake (three busy loops on each CPU left a 50 ms sleep
/// cell's CPU time alone and tripled its p99); or sleepers woken later on
/// one side than the other by [`LATE_US`] or more, on a set the cell did
/// not keep busy on either, where every wait of the cell pays the
/// difference whatever the shares say. A neighbour is a doubt only when it
/// could explain the change the sides measured: see [`share_explains`]
/// and [`lateness_explains`].
pub fn condition_doubts(a: &CellResult, b: &CellResult) -> Vec<String> {
    let mut doubts = Vec::new();
    match (mostly_saturated(a), mostly_saturated(b)) {
        (true, false) => doubts.push(
            "the generator was saturated in most of A's trials and not in B's: A's rate is the generator's limit".to_string(),
        ),
        (false, true) => doubts.push(
            "the generator was saturated in most of B's trials and not in A's: B's rate is the generator's limit".to_string(),
        ),
        _ => {}
    }
    let mut held_apart = false;
    for (name, cell) in [("A", a), ("B", b)] {
        let taken: Vec<Resource> = cell
            .trials
            .iter()
            .filter_map(|t| usage(std::slice::from_ref(t)))
            .filter_map(|u| taken_by(&u.server).or_else(|| taken_by(&u.generator)))
            .collect();
        if let Some(by) = taken.first() {
            held_apart = true;
            doubts.push(format!(
                "in {} of {name}'s trials {} took CPU time the cell needed: not the stack's own rate",
                taken.len(),
                by.words()
            ));
        }
    }
    let moved = relative_change(a, b);
    let could = |explains: f64| {
        format!(
            "could move its rate by {} and it moved {}",
            share(explains),
            share(moved)
        )
    };
    let both = (usage(&a.trials), usage(&b.trials));
    if let (Some(ua), Some(ub), false) = (both.0, both.1, held_apart) {
        for (set, sa, sb) in [
            ("the server's CPUs", ua.server, ub.server),
            ("the generator's CPUs", ua.generator, ub.generator),
        ] {
            let (na, nb) = (sa.steal + sa.other, sb.steal + sb.other);
            let explains = share_explains(na, nb);
            if (na - nb).abs() >= MATTERS && moved <= explains {
                doubts.push(format!(
                    "steal and other processes took {:.0}% of {set} in A's trials and {:.0}% in B's: the cell's waits and wake-ups queued behind a neighbour on one side only, which {}",
                    na * 100.0,
                    nb * 100.0,
                    could(explains)
                ));
            }
        }
    }
    let beside = idle_lateness(&b.trials);
    for (set, late_a, _) in idle_lateness(&a.trials) {
        let Some(&(_, late_b, _)) = beside.iter().find(|(s, _, _)| *s == set) else {
            continue;
        };
        let explains = lateness_explains(late_a - late_b, a, b);
        if (late_a - late_b).abs() >= LATE_US && moved <= explains {
            doubts.push(format!(
                "{set} woke a sleeping thread {} late on average in A's trials and {} in B's: something else ran on the machine in one run, and every wait of this cell paid for it, which {}",
                micros(late_a),
                micros(late_b),
                could(explains)
            ));
        }
    }
    doubts
}

/// Wake-ups a request waits for on each CPU set, at most, as the bound
/// counts them: a thread woken by its socket and again from its sleep on
/// the server's, the generator's loop woken by the answer on its own.
pub const WAKES_PER_SET: f64 = 2.0;

/// The largest share of a cell's rate a neighbour could move, when steal
/// and other processes took `na` of a set's time in one side's trials and
/// `nb` in the other's: a cell held by that set's CPU time keeps the rest,
/// so its rate moves by at most the ratio of what was left to it on the
/// two sides; a cell held by its waits moves less. A neighbour that left
/// the cell nothing explains any change.
pub fn share_explains(na: f64, nb: f64) -> f64 {
    let left = 1.0 - na.max(nb);
    if left <= 0.0 {
        f64::INFINITY
    } else {
        (na - nb).abs() / left
    }
}

/// The largest share of a cell's rate sleepers woken `late_us` later on
/// one side could move: each request waits for [`WAKES_PER_SET`] wake-ups
/// on the set, each that much later, against the shorter of the sides'
/// mean latencies. Without a latency to set it against, any change.
pub fn lateness_explains(late_us: f64, a: &CellResult, b: &CellResult) -> f64 {
    match mean_latency_us(a).zip(mean_latency_us(b)) {
        Some((la, lb)) if la.min(lb) > 0.0 => WAKES_PER_SET * late_us.abs() / la.min(lb),
        _ => f64::INFINITY,
    }
}

/// The mean latency of a cell's answered requests over its trials.
fn mean_latency_us(cell: &CellResult) -> Option<f64> {
    let count: u64 = cell.trials.iter().map(|t| t.load.latency.count).sum();
    let total: f64 = cell
        .trials
        .iter()
        .map(|t| t.load.latency.mean_us * t.load.latency.count as f64)
        .sum();
    (count > 0).then(|| total / count as f64)
}

/// How far B's rate lies from A's, as a share of A's (every trial's
/// requests over their time); none moved where A measured nothing.
fn relative_change(a: &CellResult, b: &CellResult) -> f64 {
    let rate = |cell: &CellResult| {
        let requests: u64 = cell.trials.iter().map(|t| t.load.requests).sum();
        let seconds: f64 = cell.trials.iter().map(|t| t.load.elapsed_s).sum();
        (seconds > 0.0).then(|| requests as f64 / seconds)
    };
    match (rate(a), rate(b)) {
        (Some(ra), Some(rb)) if ra > 0.0 => (rb - ra).abs() / ra,
        _ => 0.0,
    }
}

/// A share as a whole percent, or "any amount" where it has no bound.
fn share(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.0}%", fraction * 100.0)
    } else {
        "any amount".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake::{self, trial};

    #[test]
    fn a_coin_toss_at_start_up_is_two_clusters_and_noise_is_not() {
        let tossed = [1000.0, 510.0, 1010.0, 495.0, 990.0];
        let (low, high) = two_clusters(&tossed, 1.0).unwrap();
        assert!((low - 502.5).abs() < 1e-9 && (high - 1000.0).abs() < 1e-9);
        // A spread of a few percent has no gap that large.
        assert_eq!(
            two_clusters(&[1000.0, 980.0, 1030.0, 1010.0, 960.0], 1.0),
            None
        );
        // Whole rounds of a wait-bound cell: a gap within the counting
        // resolution is not a cluster.
        assert_eq!(two_clusters(&[80.0, 80.0, 96.0, 96.0], 16.0), None);
        // Three values cannot make two clusters of two.
        assert_eq!(two_clusters(&[100.0, 100.0, 200.0], 0.0), None);
    }

    #[test]
    fn a_neighbour_takes_time_only_from_a_cell_that_wanted_the_cpus() {
        let set = |busy: f64, other: f64| SetUse {
            busy,
            user: busy - other,
            system: 0.0,
            interrupts: 0.0,
            steal: 0.0,
            other,
        };
        // A hog beside a CPU-bound stack: it got half the core.
        assert_eq!(taken_by(&set(1.0, 0.5)), Some(Resource::OtherProcesses));
        // The same hog beside a sleep cell using 3% of the core.
        assert_eq!(taken_by(&set(1.0, 0.97)), None);
        // A stack that had its CPUs to itself, and one that was not busy.
        assert_eq!(taken_by(&set(1.0, 0.02)), None);
        assert_eq!(taken_by(&set(0.5, 0.3)), None);
    }

    /// Two busy loops beside a sleep cell keep its CPUs busy without the
    /// cell wanting them, and its waits run late: the sides cannot be told
    /// apart. A cell that kept the CPU busy itself delays its own witness,
    /// which says nothing of the machine.
    #[test]
    fn sleepers_woken_late_on_one_side_only_cannot_tell_a_wait_bound_cell() {
        let quiet = CellResult {
            trials: vec![fake::watched(1.0, 0.03, 130.0); 3],
            ..fake::results(
                "[[stack]]\nid = \"rust/std/thread-per-conn\"\nscenarios = [\"sleep\"]\n",
            )
            .cells[0]
                .clone()
        };
        let busy = CellResult {
            trials: vec![fake::watched(1.0, 0.03, 2400.0); 3],
            ..quiet.clone()
        };
        let doubts = condition_doubts(&quiet, &busy);
        assert_eq!(doubts.len(), 1, "{doubts:?}");
        assert!(
            doubts[0].contains("the server's CPUs woke a sleeping thread 130 µs late on average in A's trials and 2.4 ms in B's"),
            "{doubts:?}"
        );
        // Two wake-ups 2.27 ms later against 50 ms requests.
        assert!(
            doubts[0].ends_with("which could move its rate by 9% and it moved 0%"),
            "{doubts:?}"
        );
        assert!(condition_doubts(&busy, &busy).is_empty());
        // Half the rate is more than the late wake-ups could take: the
        // change stands.
        let halved = CellResult {
            trials: vec![
                Trial {
                    load: trial(160, &[50_000; 10], 0, 0.01).load,
                    ..fake::watched(1.0, 0.03, 2400.0)
                };
                3
            ],
            ..quiet.clone()
        };
        assert!(condition_doubts(&quiet, &halved).is_empty());
        // Within 0.5 ms of each other: the same machine.
        let slightly = CellResult {
            trials: vec![fake::watched(1.0, 0.03, 500.0); 3],
            ..quiet.clone()
        };
        assert!(condition_doubts(&quiet, &slightly).is_empty());
        // A stack that kept its CPU 60% busy made its own witness late (the
        // others on its CPU are a doubt of their own).
        let own = |late| CellResult {
            trials: vec![fake::watched(1.0, 0.6, late); 3],
            ..quiet.clone()
        };
        let doubts = condition_doubts(&own(130.0), &own(2400.0));
        assert!(!doubts.iter().any(|d| d.contains("woke")), "{doubts:?}");

        // The same sleep cell alone on its CPUs against beside busy loops
        // that wake it on time: the loops still differ between the sides.
        let alone = CellResult {
            trials: vec![fake::watched(0.03, 0.03, 130.0); 3],
            ..quiet.clone()
        };
        let doubts = condition_doubts(&alone, &quiet);
        assert_eq!(
            doubts,
            [
                "steal and other processes took 0% of the server's CPUs in A's trials and 97% in B's: the cell's waits and wake-ups queued behind a neighbour on one side only, which could move its rate by 3233% and it moved 0%",
                "steal and other processes took 0% of the generator's CPUs in A's trials and 97% in B's: the cell's waits and wake-ups queued behind a neighbour on one side only, which could move its rate by 3233% and it moved 0%"
            ]
        );
    }

    /// A neighbour explains a change no larger than the CPU time it left
    /// the cell: 5% of a set against 16% moves a rate by 13% at most, so a
    /// halving stands and a 3% change cannot be told.
    #[test]
    fn a_neighbour_on_one_side_explains_only_the_change_its_share_allows() {
        assert!((share_explains(0.05, 0.16) - 0.11 / 0.84).abs() < 1e-12);
        assert_eq!(share_explains(0.0, 1.0), f64::INFINITY);
        let cell = |rate: u64, other: f64| CellResult {
            trials: vec![
                Trial {
                    load: trial(rate, &[50_000; 10], 0, 0.01).load,
                    ..fake::watched(0.03 + other, 0.03, 130.0)
                };
                3
            ],
            ..fake::results("[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"sleep\"]\n")
                .cells[0]
                .clone()
        };
        let doubts = condition_doubts(&cell(320, 0.02), &cell(310, 0.16));
        assert_eq!(doubts.len(), 2, "{doubts:?}");
        assert!(
            doubts
                .iter()
                .all(|d| d.ends_with("which could move its rate by 17% and it moved 3%")),
            "{doubts:?}"
        );
        assert!(condition_doubts(&cell(80, 0.02), &cell(40, 0.16)).is_empty());
    }

    #[test]
    fn the_replicates_are_the_processes_and_one_process_cannot_tell() {
        let mut results = fake::results(
            "[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]\n[[profile]]\ntrials = 4\n",
        );
        let cell = &mut results.cells[0];
        cell.trials = [(1, 100), (1, 120), (2, 200), (2, 220)]
            .into_iter()
            .map(|(process, rate)| Trial {
                process,
                ..trial(rate, &[500; 10], 0, 0.5)
            })
            .collect();
        let rates = replicate_rates(cell);
        assert_eq!(rates.len(), 2);
        assert!(
            (rates[0] - 110.0).abs() < 1.0 && (rates[1] - 210.0).abs() < 1.0,
            "{rates:?}"
        );
        let beside = cell.clone();
        assert!(side_doubts("A", cell, &beside, true).is_empty());

        for t in &mut cell.trials {
            t.process = 1;
        }
        let doubts = side_doubts("A", cell, &beside, true);
        assert!(
            doubts[0].contains("all ran in one server process"),
            "{doubts:?}"
        );
        assert!(side_doubts("A", cell, &beside, false).is_empty());
    }

    /// Servers in two clusters cannot say which way a change went, unless
    /// the other side lies beyond both of them.
    #[test]
    fn two_clusters_doubt_a_change_only_where_the_other_side_falls_between_or_among_them() {
        let mut results = fake::results(
            "[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"cpu\"]\n[[profile]]\ntrials = 4\n",
        );
        let rated = |rates: &[u64]| -> Vec<Trial> {
            rates
                .iter()
                .enumerate()
                .map(|(k, rate)| Trial {
                    process: k as u32 + 1,
                    ..trial(*rate, &[500; 10], 0, 0.5)
                })
                .collect()
        };
        results.cells[0].trials = rated(&[180, 180, 220, 220]);
        let cell = &results.cells[0];
        let mut beside = cell.clone();
        beside.trials = rated(&[260, 310, 400, 450]);
        assert!(side_doubts("B", cell, &beside, false).is_empty());
        beside.trials = rated(&[120, 150, 160, 170]);
        assert!(side_doubts("B", cell, &beside, false).is_empty());
        beside.trials = rated(&[170, 200, 240, 260]);
        let doubts = side_doubts("B", cell, &beside, false);
        assert!(doubts[0].contains("two clusters"), "{doubts:?}");
    }
}
