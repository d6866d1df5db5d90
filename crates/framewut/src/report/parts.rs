//! A model built from parts: a cpu or db cell's ceiling predicted from
//! pieces measured apart from its load, not from its own CPU per request.
//! The handler's work timed alone in the stack's runtime and the kernel's
//! write of its response (`lab::parts`), plus the stack's own cost per
//! request taken from its hello cell in the same run, on the server's
//! cores: `1 core / (9.6 ms + 0.12 ms + 0.31 ms) = 99.7 req/s`.

use serde::{Deserialize, Serialize};

use crate::format::{micros, rate, thousands, times};
use crate::lab::measure::parts::DISTURBED;
use crate::lab::results::{CellResult, Results, Status};
use crate::model::{BoundKind, Prediction};
use crate::report::evidence::{replicate_rates, replicates_of};
use crate::spec::{ScenarioSpec, StackSource};
use crate::stats::mean_ci95;

/// The share of the parts' prediction a measurement may land within and
/// the parts still count as explaining it.
pub const WITHIN: std::ops::RangeInclusive<f64> = 0.85..=1.15;

/// A cell's ceiling from its parts, and the measurement set against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FromParts {
    /// The handler's work, in words, and its CPU microseconds per call.
    pub handler: String,
    pub handler_us: f64,
    /// The same handler called in a row, caches hot: the floor under
    /// `handler_us` where it was timed as requests make it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_row_us: Option<f64>,
    /// The stack's processes that timed `handler_us`: a pre-fork server's
    /// workers that took its requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u32>,
    /// What the kernel's write of the response costs beyond a hello one's
    /// (the stack's hello cost holds that), and the response's bytes.
    pub write_us: f64,
    pub body_bytes: u64,
    /// The stack's own server CPU per request, from its hello cell.
    pub stack_us: f64,
    pub stack_cell: String,
    /// The server's cores the model counts.
    pub cores: u64,
    pub cost_us: f64,
    /// The parts' ceiling on the server's cores: cores / cost.
    pub ceiling_per_s: f64,
    /// A bound of the model's that does not come from the server's CPU and
    /// lies below that ceiling (the load generator's cores, the
    /// connections), in words: it holds the cell first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_first_by: Option<String>,
    /// The smaller of the two.
    pub predicted_per_s: f64,
    pub measured_per_s: f64,
    pub ratio: f64,
    /// The server CPU per request the cell's own trials measured, to say
    /// where a miss lies.
    pub measured_cost_us: Option<f64>,
    /// How busy the generator's CPUs were beside the handler's timing,
    /// when more than [`DISTURBED`]: the handler's time may be inflated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_beside_busy: Option<f64>,
    /// The half-width of the ratio's 95% interval, as a share of the
    /// ratio: the cell's rate and the hello cell's CPU per request each vary
    /// between starts of the stack, and the ratio is known no better than
    /// they are. None where either has fewer than two starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// Whether the run left idle CPUs free to halt (`placement.idle`): a
    /// server then pays to wake the load generator's CPU, more often in a
    /// slower cell than in its hello cell, which the parts leave out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idle_not_held: bool,
}

/// The stack a cell ran, whatever its scenario's variant: what its hello
/// cell must share with it.
fn same_stack(a: &CellResult, b: &CellResult) -> bool {
    let id = |c: &CellResult| match &c.config.stack.source {
        StackSource::BuiltIn { id, close, .. } => Some((id.clone(), *close)),
        StackSource::Python { id, .. } => Some((id.clone(), false)),
        StackSource::External { .. } | StackSource::Remote { .. } | StackSource::App { .. } => None,
    };
    let (la, lb) = (&a.config.load, &b.config.load);
    id(a).is_some()
        && id(a) == id(b)
        && a.config.stack.workers == b.config.stack.workers
        && a.config.stack.tls == b.config.stack.tls
        && la.connections == lb.connections
        && la.close == lb.close
        && la.pacing == lb.pacing
}

/// The hello cell of the same stack under the same load, measured.
fn hello_of<'a>(results: &'a Results, cell: &CellResult) -> Option<&'a CellResult> {
    results.cells.iter().find(|c| {
        c.status == Status::Ok
            && matches!(c.config.scenario, ScenarioSpec::Hello)
            && same_stack(c, cell)
    })
}

impl FromParts {
    /// The parts' model of a measured cpu or db cell whose parts were
    /// timed and whose stack has a hello cell in the run.
    pub fn of(results: &Results, cell: &CellResult, p: &Prediction) -> Option<FromParts> {
        let parts = cell.parts.as_ref()?;
        let hello = hello_of(results, cell)?;
        let stack_us = hello.summary.as_ref()?.server_cpu_us_per_request?;
        let cost_us = parts.handler_us + parts.extra_write_us() + stack_us;
        let cores = p.inputs.cores.max(1);
        let ceiling_per_s = cores as f64 * 1e6 / cost_us;
        // The bounds that owe nothing to the server's CPU per request.
        let other = p
            .bounds
            .iter()
            .filter(|b| !matches!(b.kind, BoundKind::Cpu | BoundKind::Workers))
            .filter(|b| b.per_s < ceiling_per_s)
            .min_by(|a, b| a.per_s.total_cmp(&b.per_s));
        let predicted_per_s = other.map_or(ceiling_per_s, |b| b.per_s);
        Some(FromParts {
            handler: parts.what.clone(),
            handler_us: parts.handler_us,
            in_row_us: parts.in_row_us,
            workers: parts.workers,
            write_us: parts.extra_write_us(),
            body_bytes: parts.body_bytes,
            stack_us,
            stack_cell: hello.id.clone(),
            cores,
            cost_us,
            ceiling_per_s,
            held_first_by: other.map(|b| b.words.clone()),
            predicted_per_s,
            measured_per_s: p.measured_per_s,
            ratio: p.measured_per_s / predicted_per_s,
            measured_cost_us: cell
                .summary
                .as_ref()
                .and_then(|s| s.server_cpu_us_per_request),
            timed_beside_busy: parts.beside_busy.filter(|b| *b > DISTURBED),
            spread: spread(cell, hello, stack_us / cost_us),
            idle_not_held: results.placement.idle.as_ref().is_some_and(|i| !i.held),
        })
    }

    /// The arithmetic in words: `json.dumps of 100000 ints in CPython
    /// 3.11.7: 9.6 ms a request over 10 workers (9.1 ms in a row)` (for a built-in stack
    /// `serde_json of 100000 ints: ...`; results older than the two
    /// timings give one figure); writing its 588,903 bytes: 120 µs; the stack's own
    /// 310 µs per request (python/wsgi/gunicorn-sync/hello/c200): 1 core /
    /// 10 ms = 99.7 req/s`.
    pub fn words(&self) -> String {
        let over = match self.workers {
            Some(n) if n > 1 => format!(" over {n} workers"),
            _ => String::new(),
        };
        let handler = match self.in_row_us {
            Some(row) => format!(
                "{} a request{over} ({} in a row)",
                micros(self.handler_us),
                micros(row)
            ),
            None => format!("{}{over}", micros(self.handler_us)),
        };
        let mut text = format!(
            "{}: {handler}; writing its {} bytes: {} more than a hello answer; the stack's own {} per request ({}): {} / {} = {}",
            self.handler,
            thousands(self.body_bytes as f64),
            micros(self.write_us),
            micros(self.stack_us),
            self.stack_cell,
            crate::format::count(self.cores, "core", "cores"),
            micros(self.cost_us),
            rate(self.ceiling_per_s)
        );
        if let Some(bound) = &self.held_first_by {
            text.push_str(&format!(
                ", but {} holds it first at {}",
                bound,
                rate(self.predicted_per_s)
            ));
        }
        text
    }

    /// Where a miss lies: the cell's own CPU per request against the parts'
    /// sum, or how busy it kept its cores.
    pub fn miss(&self) -> String {
        let Some(measured) = self.measured_cost_us else {
            return "its server CPU was not measured".to_string();
        };
        let extra = measured - self.cost_us;
        if let Some(busy) = self.timed_beside_busy {
            if extra < 0.0 {
                return format!(
                    "the handler was timed while other work kept the generator's CPUs {:.0}% busy, which slows a core that shares its caches (or its physical core) with them: under load a request cost the server {}, {} less than the parts",
                    100.0 * busy,
                    micros(measured),
                    micros(-extra)
                );
            }
        }
        if (extra / self.cost_us).abs() > 0.1 {
            format!(
                "under load a request cost the server {} of CPU, {} {} the parts: {}",
                micros(measured),
                micros(extra.abs()),
                if extra > 0.0 {
                    "more than"
                } else {
                    "less than"
                },
                if extra > 0.0 && self.idle_not_held {
                    "work the parts leave out (idle CPUs were not held polling, so the server woke the load generator's halted CPU, which it does more often in a slower cell than in its hello cell; more bytes copied per request, cache misses among many connections, the runtime's scheduling)"
                } else if extra > 0.0 {
                    "work the parts leave out (more bytes copied per request, cache misses among many connections, the runtime's scheduling)"
                } else {
                    "the parts count work that under load is shared among requests (a batch of responses written at once)"
                }
            )
        } else {
            format!(
                "a request cost what the parts say ({} of server CPU), so the cores were not kept busy: {} of the parts' rate",
                micros(measured),
                times(self.ratio)
            )
        }
    }

    /// Whether the parts explain the measurement.
    pub fn holds(&self) -> bool {
        WITHIN.contains(&self.ratio)
    }

    /// Whether a miss is one the starts' own spread cannot tell from
    /// [`WITHIN`]: the ratio's 95% interval reaches into the margin.
    pub fn within_spread(&self) -> bool {
        self.spread.is_some_and(|s| {
            let (low, high) = (self.ratio * (1.0 - s), self.ratio * (1.0 + s));
            low <= *WITHIN.end() && high >= *WITHIN.start()
        })
    }
}

/// The ratio's relative 95% half-width: the cell's rate between starts,
/// and the hello cell's server CPU per request between starts weighed by
/// its share of the parts' cost, added in quadrature.
fn spread(cell: &CellResult, hello: &CellResult, stack_share: f64) -> Option<f64> {
    let relative = |values: &[f64]| {
        let (mean, half) = mean_ci95(values)?;
        (mean > 0.0).then(|| half / mean)
    };
    let rate = relative(&replicate_rates(cell))?;
    let per_request: Vec<f64> = replicates_of(hello)
        .iter()
        .filter_map(|trials| {
            let responses: u64 = trials.iter().map(|t| t.load.responses).sum();
            let cpu: f64 = trials.iter().map(|t| t.server.cpu_s).sum();
            (responses > 0).then(|| cpu * 1e6 / responses as f64)
        })
        .collect();
    let stack = relative(&per_request)? * stack_share;
    Some(rate.hypot(stack))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake::{results, trial};
    use crate::lab::measure::parts::Parts;

    #[test]
    fn the_parts_add_up_to_a_ceiling_on_the_cores() {
        let mut run =
            results("scenarios = [\"hello\", \"cpu\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n");
        for c in &mut run.cells {
            c.status = Status::Ok;
            c.trials = vec![trial(1000, &[100], 0, 0.5)];
            c.summarise();
        }
        run.cells[1].parts = Some(Parts {
            what: "serde_json of 100000 ints".into(),
            handler_us: 300.0,
            calls: 1000,
            workers: Some(1),
            in_row_us: Some(250.0),
            body_bytes: 588_903,
            write_us: 108.0,
            hello_write_us: 8.0,
            beside_busy: Some(0.1),
        });
        let cpu = &run.cells[1];
        let p = cpu.prediction(&run.placement.placement).unwrap();
        let parts = FromParts::of(&run, cpu, &p).unwrap();
        // Each fake trial's server used 0.5 s over 1,000 responses: 500 µs.
        assert_eq!(parts.stack_us, 500.0);
        assert_eq!(parts.cost_us, 900.0);
        assert_eq!(parts.cores, 1);
        assert!((parts.predicted_per_s - 1e6 / 900.0).abs() < 1e-9);
        assert_eq!(parts.stack_cell, run.cells[0].id);
        assert!(
            parts.words().contains("1 core / 900 µs"),
            "{}",
            parts.words()
        );
        // The handler as a request calls it, with its floor beside it.
        assert!(
            parts
                .words()
                .starts_with("serde_json of 100000 ints: 300 µs a request (250 µs in a row);"),
            "{}",
            parts.words()
        );
        // A pre-fork server's handler says how many workers timed it.
        let spread = FromParts {
            workers: Some(10),
            ..parts.clone()
        };
        assert!(
            spread
                .words()
                .contains("300 µs a request over 10 workers (250 µs in a row)"),
            "{}",
            spread.words()
        );
        assert!(parts.holds(), "1,000 req/s is 0.9x of 1,111");
        // The cell measured 500 µs a request against the parts' 900.
        assert!(
            parts.miss().contains("less than the parts"),
            "{}",
            parts.miss()
        );
        // A cell that cost more than its parts, in a run that let idle CPUs
        // halt, names the wake-ups of the load generator first.
        let slower = FromParts {
            measured_cost_us: Some(1_100.0),
            idle_not_held: true,
            ..parts.clone()
        };
        assert!(
            slower
                .miss()
                .contains("woke the load generator's halted CPU"),
            "{}",
            slower.miss()
        );
        let held = FromParts {
            idle_not_held: false,
            ..slower
        };
        assert!(!held.miss().contains("halted"), "{}", held.miss());
        // One start each: no interval to set the ratio in.
        assert_eq!(parts.spread, None);
        // No hello cell of the stack: no model from parts.
        let cpu = run.cells.remove(1);
        run.cells.clear();
        assert!(FromParts::of(&run, &cpu, &p).is_none());
    }

    #[test]
    fn a_miss_the_starts_spread_covers_is_not_called_one() {
        let mut run =
            results("scenarios = [\"hello\", \"db\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n");
        // Four starts of each, every one 0.5 s of server CPU: the hello
        // cell's cost per request moves with its rate, 500 µs then 250.
        for (c, scale) in run.cells.iter_mut().zip([10, 1]) {
            c.status = Status::Ok;
            c.trials = [100, 200, 100, 200]
                .iter()
                .enumerate()
                .map(|(i, &rate)| {
                    let mut t = trial(rate * scale, &[100], 0, 0.5);
                    t.process = i as u32 + 1;
                    t
                })
                .collect();
            c.summarise();
        }
        run.cells[1].parts = Some(Parts {
            what: "one World row from SQLite".into(),
            handler_us: 5.0,
            calls: 1000,
            workers: None,
            in_row_us: None,
            body_bytes: 32,
            write_us: 1.0,
            hello_write_us: 1.0,
            beside_busy: None,
        });
        let db = &run.cells[1];
        let p = db.prediction(&run.placement.placement).unwrap();
        let parts = FromParts::of(&run, db, &p).unwrap();
        // The hello cell's 2 s over 6,000 responses, plus the handler.
        assert!(
            (parts.cost_us - (1e6 / 3000.0 + 5.0)).abs() < 1e-9,
            "{parts:?}"
        );
        // Rates of 100 and 200 (and 1,000 and 2,000 for hello): their
        // mean +- t(3) x s / 2 is +- 61% of it, and so is the hello
        // cell's cost per request's, times its 98.5% share of the cost.
        let rate = 3.182 * (1e4f64 / 3.0).sqrt() / 2.0 / 150.0;
        assert!((rate - 0.6124).abs() < 1e-3, "{rate}");
        let share = parts.stack_us / parts.cost_us;
        assert!((parts.spread.unwrap() - rate.hypot(rate * share)).abs() < 1e-3);
        // 150 req/s against the parts' 2,956: 0.05x, +- 86% is a miss.
        assert!(!parts.holds());
        assert!(!parts.within_spread(), "{parts:?}");
        // A ratio of 0.7 with the same spread reaches into the margin.
        let near = FromParts {
            ratio: 0.7,
            ..parts.clone()
        };
        assert!(near.within_spread());
        assert!(!FromParts {
            spread: None,
            ..near
        }
        .within_spread());
    }
}
