//! The order a run's trials are measured in. By default each cell runs all
//! its trials on one server, cell after cell. A profile's `fresh_server`
//! gives every trial a server of its own; a matrix's `interleave` also runs
//! the trials round-robin (trial 1 of every cell, then trial 2, ...), so
//! that a machine whose speed drifts during the run (a shared host, a
//! warming CPU) drifts under every configuration alike instead of biasing
//! whichever cells ran in the slow stretch.

use super::results::{CellResult, Status};

/// One start of a cell's stack: `trials` trials on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// The cell, as an index into the run's cells.
    pub cell: usize,
    pub trials: u32,
    /// Whether this job ends the cell.
    pub last: bool,
}

/// The jobs that run the cells at `todo`, in order. `trials(i)` is cell
/// `i`'s trial count and `fresh(i)` whether it wants a server per trial.
pub fn jobs(
    todo: &[usize],
    trials: impl Fn(usize) -> u32,
    fresh: impl Fn(usize) -> bool,
    interleave: bool,
) -> Vec<Job> {
    if interleave {
        let rounds = todo.iter().map(|i| trials(*i)).max().unwrap_or(0);
        let mut out = Vec::new();
        for round in 1..=rounds {
            for &cell in todo.iter().filter(|i| trials(**i) >= round) {
                out.push(Job {
                    cell,
                    trials: 1,
                    last: round == trials(cell),
                });
            }
        }
        return out;
    }
    todo.iter()
        .flat_map(|&cell| {
            let n = trials(cell);
            let (jobs, each) = if fresh(cell) { (n, 1) } else { (1, n) };
            (1..=jobs).map(move |k| Job {
                cell,
                trials: each,
                last: k == jobs,
            })
        })
        .collect()
}

/// Adds a later job's result to the cell's result so far: its trials, its
/// warnings, its time; the worse status wins, with its reason. The stack
/// process kept is the latest, with every survivor of every start.
pub fn merge(into: &mut CellResult, part: CellResult) {
    into.trials.extend(part.trials);
    into.summarise();
    into.warnings.extend(part.warnings);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(trials: &[u32], fresh: bool, interleave: bool) -> Vec<(usize, u32, bool)> {
        let todo: Vec<usize> = (0..trials.len()).collect();
        jobs(&todo, |i| trials[i], |_| fresh, interleave)
            .into_iter()
            .map(|j| (j.cell, j.trials, j.last))
            .collect()
    }

    #[test]
    fn by_default_a_cell_runs_all_its_trials_on_one_server() {
        assert_eq!(plan(&[3, 2], false, false), [(0, 3, true), (1, 2, true)]);
    }

    #[test]
    fn a_fresh_server_per_trial_keeps_the_cells_in_order() {
        assert_eq!(
            plan(&[2, 1], true, false),
            [(0, 1, false), (0, 1, true), (1, 1, true)]
        );
    }

    #[test]
    fn interleaving_runs_the_trials_round_robin() {
        assert_eq!(
            plan(&[2, 3, 1], false, true),
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
