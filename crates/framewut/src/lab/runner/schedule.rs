//! The order a run's trials are measured in. By default each cell runs its
//! trials cell after cell, on as many starts of its stack as its profile's
//! `servers` asks (one, or one per trial with `fresh_server`). A matrix's
//! `interleave` runs the trials round-robin instead (trial 1 of every cell,
//! then trial 2, ...), a fresh server for each, so that a machine whose
//! speed drifts during the run (a shared host, a warming CPU) drifts under
//! every configuration alike instead of biasing whichever cells ran in the
//! slow stretch. `framewut ab` runs pairs of cells in an ABBA order (A B,
//! then B A, ...), so that a drift that is linear over two rounds cancels
//! out of each pair's differences.

use crate::lab::results::{CellResult, Status};

/// One start of a cell's stack: `trials` trials on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// The cell, as an index into the run's cells.
    pub cell: usize,
    pub trials: u32,
    /// Whether this job starts the cell (its first start of the stack).
    pub first: bool,
    /// Whether this job ends the cell.
    pub last: bool,
}

/// The order of a run's jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Cell after cell, each on its profile's starts of the stack.
    CellByCell,
    /// Trial 1 of every cell, then trial 2, ..., a server for each.
    RoundRobin,
    /// Pairs of cells `(a, b)`, a server for each trial, in rounds: A then
    /// B in even rounds (from 0), B then A in odd ones.
    Abba(Vec<(usize, usize)>),
}

/// The jobs that run the cells at `todo`, in `order`. `starts(i)` is cell
/// `i`'s trials on each start of its stack (see
/// [`LoadProfile::trials_per_server`](crate::spec::LoadProfile::trials_per_server)).
pub fn jobs(todo: &[usize], starts: impl Fn(usize) -> Vec<u32>, order: &Order) -> Vec<Job> {
    let trials = |i: usize| starts(i).iter().sum::<u32>();
    let single = |cell: usize, round: u32| Job {
        cell,
        trials: 1,
        first: round == 1,
        last: round == trials(cell),
    };
    match order {
        Order::RoundRobin => {
            let rounds = todo.iter().map(|i| trials(*i)).max().unwrap_or(0);
            (1..=rounds)
                .flat_map(|round| {
                    todo.iter()
                        .filter(move |i| trials(**i) >= round)
                        .map(move |&cell| single(cell, round))
                })
                .collect()
        }
        Order::Abba(pairs) => {
            let pairs: Vec<(usize, usize)> = pairs
                .iter()
                .copied()
                .filter(|(a, b)| todo.contains(a) && todo.contains(b))
                .collect();
            let rounds = pairs
                .iter()
                .map(|(a, b)| trials(*a).max(trials(*b)))
                .max()
                .unwrap_or(0);
            let mut out = Vec::new();
            for round in 1..=rounds {
                for &(a, b) in &pairs {
                    let order = if round % 2 == 1 { [a, b] } else { [b, a] };
                    out.extend(
                        order
                            .into_iter()
                            .filter(|&cell| trials(cell) >= round)
                            .map(|cell| single(cell, round)),
                    );
                }
            }
            out
        }
        Order::CellByCell => todo
            .iter()
            .flat_map(|&cell| {
                let each = starts(cell);
                let n = each.len();
                each.into_iter().enumerate().map(move |(k, trials)| Job {
                    cell,
                    trials,
                    first: k == 0,
                    last: k + 1 == n,
                })
            })
            .collect(),
    }
}

/// Adds a later job's result to the cell's result so far: its trials, its
/// warnings not already said (the wake-ups judged again over all the
/// trials), its time; the worse status wins, with its reason. Its trials'
/// processes are numbered on from the cell's (the first start's are 1,
/// the next start's 2, ...). The stack
/// process kept is the latest, with every survivor of every start.
pub fn merge(into: &mut CellResult, mut part: CellResult) {
    let before = into.trials.iter().map(|t| t.process).max().unwrap_or(0);
    for trial in &mut part.trials {
        trial.process += before;
    }
    into.trials.extend(part.trials);
    into.summarise();
    for warning in part.warnings {
        if !into.warnings.contains(&warning) {
            into.warnings.push(warning);
        }
    }
    super::trials::judge_wakeups(into);
    into.wall_s = match (into.wall_s, part.wall_s) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    if part.status != Status::Ok {
        into.status = part.status;
        into.reason = part.reason;
        into.stderr_tail = part.stderr_tail;
    }
    let survivors: Vec<u32> = into
        .stack_process
        .iter()
        .flat_map(|p| p.survivors.iter().copied())
        .collect();
    if let Some(mut process) = part.stack_process {
        process.survivors.extend(survivors);
        into.stack_process = Some(process);
    }
    if part.upstream.is_some() {
        into.upstream = part.upstream;
    }
    if part.syscalls.is_some() {
        into.syscalls = part.syscalls;
    }
    if part.profile.is_some() || part.profile_note.is_some() {
        into.profile = part.profile;
        into.profile_note = part.profile_note;
    }
    if part.parts.is_some() || part.parts_note.is_some() {
        into.parts = part.parts;
        into.parts_note = part.parts_note;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(starts: &[&[u32]], order: Order) -> Vec<(usize, u32, bool)> {
        let todo: Vec<usize> = (0..starts.len()).collect();
        jobs(&todo, |i| starts[i].to_vec(), &order)
            .into_iter()
            .map(|j| (j.cell, j.trials, j.last))
            .collect()
    }

    /// Two starts of a sleep cell, the second beside busy loops: the merged
    /// cell says once how late its sleepers woke over all four trials, and
    /// a warning both starts gave is kept once.
    #[test]
    fn merged_starts_judge_their_wakeups_together_and_say_a_warning_once() {
        use crate::lab::fake;
        let base = fake::results(
            "[[stack]]\nid = \"rust/std/thread-per-conn\"\nscenarios = [\"sleep\"]\n",
        )
        .cells[0]
            .clone();
        let start = |late: f64| {
            let mut part = CellResult {
                trials: vec![fake::watched(1.0, 0.03, late); 2],
                warnings: vec!["the same note".to_string()],
                ..base.clone()
            };
            super::super::trials::judge_wakeups(&mut part);
            part
        };
        let mut cell = start(130.0);
        assert_eq!(cell.warnings, ["the same note"]);
        let late = start(2_870.0);
        assert_eq!(late.warnings.len(), 2, "{:?}", late.warnings);
        merge(&mut cell, late);
        // (2 x 130 + 2 x 2,870) / 4 = 1,500 µs.
        assert_eq!(cell.warnings.len(), 2, "{:?}", cell.warnings);
        assert_eq!(cell.warnings[0], "the same note");
        assert!(
            cell.warnings[1].starts_with(
                "the server's CPUs woke a sleeping thread 1.5 ms late on average over the trials"
            ),
            "{:?}",
            cell.warnings
        );
    }

    #[test]
    fn by_default_a_cell_runs_all_its_trials_on_one_server() {
        assert_eq!(
            plan(&[&[3], &[2]], Order::CellByCell),
            [(0, 3, true), (1, 2, true)]
        );
    }

    #[test]
    fn a_cells_starts_keep_the_cells_in_order() {
        assert_eq!(
            plan(&[&[1, 1], &[1]], Order::CellByCell),
            [(0, 1, false), (0, 1, true), (1, 1, true)]
        );
        assert_eq!(
            plan(&[&[3, 2]], Order::CellByCell),
            [(0, 3, false), (0, 2, true)]
        );
    }

    #[test]
    fn abba_alternates_which_side_of_a_pair_goes_first() {
        // Cells 0 and 2 are one pair, 1 and 3 another.
        let starts: [&[u32]; 4] = [&[3], &[1, 1, 1], &[1, 1, 1], &[3]];
        let cells: Vec<usize> = plan(&starts, Order::Abba(vec![(0, 2), (1, 3)]))
            .into_iter()
            .map(|(cell, trials, _)| {
                assert_eq!(trials, 1);
                cell
            })
            .collect();
        assert_eq!(cells, [0, 2, 1, 3, 2, 0, 3, 1, 0, 2, 1, 3]);
    }

    #[test]
    fn interleaving_runs_the_trials_round_robin() {
        assert_eq!(
            plan(&[&[2], &[3], &[1]], Order::RoundRobin),
            [
                (0, 1, false),
                (1, 1, false),
                (2, 1, true),
                (0, 1, true),
                (1, 1, false),
                (1, 1, true)
            ]
        );
    }
}
