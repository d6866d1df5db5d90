//! A fake [`CellRunner`] for tests of the orchestration: it starts nothing,
//! and answers each cell by a rule the test gives.

use std::time::Duration;

use framewut_load::{new_histogram, CpuTime, Errors, LoadPlan, LoadReport, Summary, Target};

use super::matrix::{Matrix, Overrides};
use super::measure::cgroup::Method;
use super::measure::cpus::{CpuSet, Placement};
use super::measure::cpustat::{self, CpuAccounting, CpuSetUsage};
use super::measure::sampler::ServerUsage;
use super::measure::wakeups::{Lateness, Wakeups};
use super::results::{CellResult, Status, Trial, SATURATED};
use super::runner::progress::Progress;
use super::runner::CellRunner;
use crate::spec::CellSpec;

/// The first cell of a matrix written as TOML, on a placement of two CPUs.
pub(crate) fn cell(toml: &str) -> CellSpec {
    Matrix::parse("test", toml)
        .unwrap()
        .cells(
            &Placement::halves(&"0-1".parse().unwrap()),
            &Overrides::default(),
        )
        .unwrap()
        .remove(0)
}

/// One made-up trial of one second: `rate` requests answered with these
/// latencies (µs), `timeouts` timed out, 8 still in flight, the server half
/// busy and the generator `busy`.
pub(crate) fn trial(rate: u64, latencies: &[u64], timeouts: u64, busy: f64) -> Trial {
    let plan = LoadPlan::new(Target::parse("http://127.0.0.1:1/hello").unwrap());
    let mut latency = new_histogram();
    for v in latencies {
        latency.record(*v).unwrap();
    }
    let report = LoadReport {
        elapsed: Duration::from_secs(1),
        requests: rate,
        responses: rate,
        bytes: 0,
        bytes_sent: 0,
        errors: Errors {
            timeout: timeouts,
            unfinished: 8,
            ..Errors::default()
        },
        reconnects: 0,
        connections_opened: 8,
        backlog: 0,
        latency,
        latency_uncorrected: None,
        unanswered: new_histogram(),
        silent_connections: 0,
        timeline: Vec::new(),
        tenths: Vec::new(),
        burst: 1.0,
        thread_seconds: Vec::new(),
        cpu: CpuTime {
            user: Duration::from_secs_f64(busy),
            system: Duration::ZERO,
            ..CpuTime::default()
        },
        cancelled: false,
        started: std::time::UNIX_EPOCH + Duration::from_secs(1_795_953_600),
        tls: None,
        targets: Vec::new(),
        drain: None,
        http2: None,
    };
    Trial {
        process: 1,
        load: Summary::of(&plan, &report),
        server: ServerUsage {
            elapsed_s: 1.0,
            cpu_s: 0.5,
            user_s: Some(0.4),
            system_s: Some(0.1),
            voluntary_switches: Some(rate),
            involuntary_switches: Some(rate / 10),
            page_faults: Some(rate / 100),
            cpu_pct: 50.0,
            peak_rss_bytes: rate * 10,
            processes: 1,
            samples: 10,
            method: Method::Proc,
            note: None,
            cgroup_memory_peak_bytes: None,
            host_cpus: None,
            cpu_timeline_s: Vec::new(),
        },
        generator_busy: busy,
        generator_saturated: busy > SATURATED,
        cpus: None,
        wakeups: None,
        upstream: None,
        database: None,
    }
}

/// One made-up trial of a sleep cell whose CPUs were each `busy` (a share
/// of one second), `own` of it the cell's own work and the rest other
/// processes', whose sleepers woke `late_us` late on the server's CPU and
/// 120 µs late on the generator's.
pub(crate) fn watched(busy: f64, own: f64, late_us: f64) -> Trial {
    let ticks = (busy * 100.0).round() as u64;
    let before = cpustat::parse("cpu0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n");
    let after = cpustat::parse(&format!(
        "cpu0 {ticks} 0 0 {idle} 0 0 0 0\ncpu1 {ticks} 0 0 {idle} 0 0 0 0\n",
        idle = 100 - ticks
    ));
    let usage = |cpu: usize| {
        let one = Duration::from_secs(1);
        let cpus = CpuSet::new(vec![cpu]).unwrap();
        CpuSetUsage::between(&before, &after, one, &cpus, own, Duration::from_millis(10))
    };
    let lateness = |mean_us: f64| Lateness {
        wakeups: 100,
        mean_us,
        max_us: 2.0 * mean_us,
    };
    Trial {
        cpus: Some(CpuAccounting {
            server: usage(0),
            generator: usage(1),
        }),
        wakeups: Some(Wakeups {
            server: lateness(late_us),
            generator: lateness(120.0),
        }),
        ..trial(320, &[50_000; 10], 0, 0.01)
    }
}

/// What the fake makes of a cell.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// The start's trials, each at this rate, every request taking this long.
    Measured { rate: u64, latency_us: u64 },
    /// The stack did not start, with this reason.
    Failed(&'static str),
}

/// Answers every cell by `rule`, and remembers the ids it was asked to run.
pub(crate) struct FakeRunner<F> {
    pub rule: F,
    pub ran: Vec<String>,
}

impl<F: FnMut(&CellSpec) -> Answer> FakeRunner<F> {
    pub fn new(rule: F) -> Self {
        FakeRunner {
            rule,
            ran: Vec::new(),
        }
    }
}

impl<F: FnMut(&CellSpec) -> Answer> CellRunner for FakeRunner<F> {
    fn run_cell(&mut self, spec: &CellSpec, _progress: &Progress) -> CellResult {
        self.ran.push(spec.id.clone());
        let mut result = CellResult::pending(spec.clone());
        match (self.rule)(spec) {
            Answer::Measured { rate, latency_us } => {
                result.status = Status::Ok;
                result.trials = (0..spec.load.trials)
                    .map(|_| trial(rate, &vec![latency_us; 100], 0, 0.5))
                    .collect();
                result.summarise();
            }
            Answer::Failed(why) => {
                result.status = Status::Failed;
                result.reason = Some(why.to_string());
            }
        }
        result
    }

    fn tools(&self) -> Vec<(String, String)> {
        vec![("fake".to_string(), "1".to_string())]
    }
}

/// A run of the cells of this matrix text, none of them run yet.
pub(crate) fn results(matrix: &str) -> super::results::Results {
    use super::matrix::{Matrix, Overrides};
    use super::measure::cpus::Placement;
    use super::measure::environment::Environment;
    use super::results::{PlacementRecord, Results, RunInfo, SCHEMA};

    let placement = Placement::halves(&"0-1".parse().unwrap());
    let cells = Matrix::parse("fake", matrix)
        .unwrap()
        .cells(&placement, &Overrides::default())
        .unwrap();
    Results {
        schema: SCHEMA.to_string(),
        run: RunInfo {
            id: "fake".into(),
            matrix: "fake".into(),
            description: None,
            command: Vec::new(),
            started_at: "2026-11-29T00:00:00Z".into(),
            finished_at: None,
            resumed_at: Vec::new(),
            interrupted: false,
            interleave: false,
            ab: None,
        },
        environment: Environment::detect(),
        placement: PlacementRecord::of(placement),
        cells: cells.into_iter().map(CellResult::pending).collect(),
    }
}
