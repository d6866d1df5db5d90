//! results.json: a run's plan, environment and every cell's measurements,
//! rewritten atomically after each cell so an interrupted run loses nothing
//! and can be resumed. Its shape is versioned ([`SCHEMA`]) and documented by
//! `docs/results.schema.json`. It holds what was measured and nothing
//! derived from it: the model's predictions and the findings are computed
//! from it, and `framewut report` writes them to analysis.json beside it.

use std::path::{Path, PathBuf};

use framewut_load::{
    decode_histogram, new_histogram, Errors, LatencySummary, Measured, Stats, Summary,
    ThresholdResult,
};
use serde::{Deserialize, Serialize};

use crate::lab::measure::cgroup::Method;
use crate::lab::measure::cpus::{CpuSet, Placement};
use crate::lab::measure::cpustat::{CpuAccounting, CpuSetUsage};
use crate::lab::measure::environment::Environment;
use crate::lab::measure::idle::IdleRecord;
use crate::lab::measure::parts::Parts;
use crate::lab::measure::profile::Profile;
use crate::lab::measure::sampler::ServerUsage;
use crate::lab::measure::syscalls::Syscalls;
use crate::lab::measure::wakeups::{Lateness, Wakeups};
use crate::model::usage::{SetUse, Usage, COMPETING};
use crate::model::{Costs, Cpus, Handshake, Measurement, Prediction};
use crate::spec::{CellSpec, StackSource};
pub use summary::{failed_requests, idle_lateness, usage, CellSummary};

mod summary;

/// Why results.json could not be read or written. Each names the file; its
/// cause is the source.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a framewut results file", .path.display())]
    NotOurs {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{} has schema {schema:?}, which this framewut ({}) cannot read: it reads {}",
        .path.display(),
        env!("CARGO_PKG_VERSION"),
        READS.join(" and ")
    )]
    Schema { path: PathBuf, schema: String },
    #[error("serialising the results")]
    Serialise(#[source] serde_json::Error),
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The version of results.json's shape; bumped on any incompatible change.
pub const SCHEMA: &str = "framewut-results/2";

/// Earlier shapes this version still reads. Version 1 also stored each
/// cell's prediction (and its scenario's variant word) inside the cell;
/// both are derived, so they are read past and computed again.
pub const READS: [&str; 2] = ["framewut-results/1", SCHEMA];

/// The file's name inside a run directory.
pub const FILE: &str = "results.json";

/// A cell's generator is saturated when its threads were busy above this
/// share of the cores they could use: the rate is then the generator's limit.
pub const SATURATED: f64 = 0.9;

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Always [`SCHEMA`].
    pub schema: String,
    pub run: RunInfo,
    pub environment: Environment,
    pub placement: PlacementRecord,
    /// Every cell of the matrix, in order, whether run yet or not.
    pub cells: Vec<CellResult>,
}

/// How the run was asked for and how it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// Marks every process the run starts (as `FRAMEWUT_RUN_ID` in its
    /// environment), so leftovers can be found.
    pub id: String,
    /// A preset (`preset:quick`) or the matrix file's path.
    pub matrix: String,
    pub description: Option<String>,
    /// The command line, as typed.
    pub command: Vec<String>,
    pub started_at: String,
    /// When the last session of the run ended; none while it runs.
    pub finished_at: Option<String>,
    /// When `--resume` took the run up again.
    pub resumed_at: Vec<String>,
    /// Whether the last session was stopped by Ctrl-C or SIGTERM.
    pub interrupted: bool,
    /// Whether the cells' trials run round-robin, a fresh server for each
    /// (the matrix's `interleave`, or `--interleave`).
    #[serde(default)]
    pub interleave: bool,
    /// For a run of `framewut ab`: the two matrices and the pairs of cells
    /// run against each other in an ABBA order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ab: Option<AbRun>,
}

/// What `framewut ab` set against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbRun {
    /// Matrix A: a preset (`preset:quick`) or a file's path.
    pub a: String,
    /// Matrix B.
    pub b: String,
    /// The cells run against each other, by id: A's, then B's.
    pub pairs: Vec<(String, String)>,
}

/// Where the server and the generator ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlacementRecord {
    #[serde(flatten)]
    pub placement: Placement,
    /// Whether they shared cores (and so competed for them).
    pub shared: bool,
    // Issue 10: what the lab starts to serve the server is placed too
    // (results written before it left them unpinned, and read as none).
    /// The CPUs of the upstream stand-in the lab starts for upstream cells.
    #[serde(default)]
    pub upstream_cpus: Option<CpuSet>,
    /// The CPUs of the PostgreSQL server the lab starts for db cells.
    #[serde(default)]
    pub database_cpus: Option<CpuSet>,
    /// How deep idle CPUs could sleep while the run measured. None in
    /// results written before framewut asked, and before a run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleRecord>,
}

impl PlacementRecord {
    /// The record of `placement`, with where the lab puts the upstream and
    /// the database.
    pub fn of(placement: Placement) -> PlacementRecord {
        PlacementRecord {
            shared: placement.shared(),
            upstream_cpus: Some(placement.services_cpus().clone()),
            database_cpus: Some(placement.services_cpus().clone()),
            idle: None,
            placement,
        }
    }
}

/// How far a cell got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not run yet.
    Pending,
    /// Measured.
    Ok,
    /// Its stack did not start, answer or follow the contract, or died.
    Failed,
    /// Could not be run here (for example no PostgreSQL); the reason says why.
    Skipped,
    /// Stopped by Ctrl-C; what it measured is kept, `--resume` runs it again.
    Interrupted,
}

impl Status {
    /// Whether `--resume` leaves the cell as it is.
    pub fn is_settled(self) -> bool {
        matches!(self, Status::Ok | Status::Failed | Status::Skipped)
    }
}

/// One cell: its configuration and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    pub id: String,
    pub config: CellSpec,
    pub status: Status,
    /// Why it failed, was skipped or was interrupted.
    pub reason: Option<String>,
    /// The last lines the stack wrote to standard error, when it failed.
    pub stderr_tail: Option<String>,
    pub started_at: Option<String>,
    /// Wall time from start to the stack stopped, set-up included.
    pub wall_s: Option<f64>,
    pub stack_process: Option<StackProcess>,
    /// What the upstream counted (`/__stats`) over the cell, for upstream cells.
    pub upstream: Option<serde_json::Value>,
    /// The calibration, for a cell whose scenario has no wait: the window of
    /// the trials' load just before them (a closed-loop probe of its own for
    /// an open-loop cell), whose CPU figures per request the model predicts
    /// the CPU ceilings from. Measured, like a trial, and not part of the
    /// cell's rate.
    #[serde(default)]
    pub calibration: Option<Trial>,
    /// For a custom scenario, whose waits no configuration states: one
    /// connection's closed loop before the calibration, whose mean latency
    /// is the time one request holds the stack when nothing queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Trial>,
    pub trials: Vec<Trial>,
    pub summary: Option<CellSummary>,
    pub warnings: Vec<String>,
    /// The profile's thresholds checked against the summary, held or crossed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdResult>,
    // Results written before HTTPS came have none.
    /// What one TLS handshake cost, measured by a probe on the server's
    /// CPUs before a cell whose stack or upstream speaks TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
    // Issue 18: phases that do not leak into each other.
    /// How the stack came to rest before each load on it: after its start
    /// (its workers still booting), and after the calibration probe (its
    /// drain, then its CPU).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settling: Vec<Settling>,
    // Issue 19: what a request costs.
    /// The system calls each side made per request, counted by perf in a
    /// window of the last start's load after its trials (never in a
    /// trial); none in results from before, or for a cell stopped sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<Syscalls>,
    /// A cpu or db cell's handler and response write measured alone on a
    /// server CPU before its stack started, or why they could not be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Parts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts_note: Option<String>,
    /// Where the stack's CPU went in a window after the trials, when the
    /// profile asked (`cpu_profile`, `--profile`), or why it could not be
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_note: Option<String>,
}

/// What a stack was left doing by one phase of a cell, and how long it
/// took to finish before the next phase began on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settling {
    /// The phase it followed.
    pub after: Phase,
    /// The wait for the answers to the requests the phase's load had sent
    /// when it ended, none of them counted anywhere; none after a start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drained>,
    /// Then, the time until the stack's CPU was idle for a whole turn.
    pub quiet_after_s: f64,
    /// Whether it went idle before the limit (else the next phase began
    /// anyway, and says so in the cell's warnings).
    pub quiet: bool,
    /// Its CPU over the last turn, as a percentage of one core.
    pub busy_pct: f64,
}

/// The phase a [`Settling`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The stack's start: answering already, its workers perhaps still booting.
    Start,
    /// The calibration probe's load.
    Calibration,
    /// A custom scenario's service probe: one connection's load.
    Service,
}

/// A load's drain: how long it waited and what became of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drained {
    pub elapsed_s: f64,
    /// Requests answered in the drain.
    pub answered: u64,
    /// Requests whose connection the server closed before answering.
    pub lost: u64,
    /// Requests still unanswered when the drain's limit came.
    pub left: u64,
}

impl From<framewut_load::DrainReport> for Drained {
    fn from(d: framewut_load::DrainReport) -> Drained {
        Drained {
            elapsed_s: d.elapsed.as_secs_f64(),
            answered: d.answered,
            lost: d.lost,
            left: d.left,
        }
    }
}

/// The stack's processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackProcess {
    /// The command line it was started with.
    pub command: String,
    pub port: u16,
    /// The leader's PID (also its session and process group id).
    pub pid: u32,
    /// Every PID of its group seen while it ran.
    pub pids: Vec<u32>,
    /// Whether it ignored SIGTERM and had to be killed.
    pub killed: bool,
    /// PIDs still alive after the stop; always empty unless something is badly wrong.
    pub survivors: Vec<u32>,
    // Issue 10: daemons are found and stopped.
    /// Processes of the stack that left its session (a daemon) and were
    /// still running after it stopped: found in its cgroup, or by the run's
    /// id in their environment, and killed by PID.
    #[serde(default)]
    pub escaped: Vec<u32>,
}

/// One measured load of a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    // Replicates where the variance lives (issue 20).
    /// Which start of the cell's stack served the trial: 1 for the first, 2
    /// for the next; 0 in results written before framewut recorded it.
    #[serde(default)]
    pub process: u32,
    /// What the load engine measured.
    pub load: Summary,
    /// What the server's processes used meanwhile.
    pub server: ServerUsage,
    /// Generator CPU over the time of the cores it could use (1.0 = all busy).
    pub generator_busy: f64,
    pub generator_saturated: bool,
    // Issue 10: where the time went (results written before it lack these,
    // and read as none).
    /// How the server's CPUs and the generator's spent the trial, from
    /// /proc/stat; none where it could not be read.
    #[serde(default)]
    pub cpus: Option<CpuAccounting>,
    /// How late a sleeping thread woke on the server's CPUs and on the
    /// generator's over the trial; none in results written before framewut
    /// watched them, and for a url stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wakeups: Option<Wakeups>,
    /// What the upstream the lab started used meanwhile, on the server's CPUs.
    #[serde(default)]
    pub upstream: Option<ServerUsage>,
    /// What the PostgreSQL server the lab started used meanwhile, on the
    /// server's CPUs.
    #[serde(default)]
    pub database: Option<ServerUsage>,
}

impl CellResult {
    /// Takes the trials together and checks the profile's thresholds
    /// against them.
    pub fn summarise(&mut self) {
        self.summary = CellSummary::of(&self.trials);
        self.thresholds = match &self.summary {
            Some(s) => self
                .config
                .load
                .thresholds
                .iter()
                .map(|t| {
                    t.check_measured(&Measured {
                        latency: &s.latency,
                        errors: &s.errors,
                        responses: s.responses.unwrap_or(0),
                        requests_per_s: s.requests_per_s.mean,
                    })
                })
                .collect(),
            None => Vec::new(),
        };
    }

    /// Whether a threshold of this cell was crossed.
    pub fn crossed(&self) -> bool {
        self.thresholds.iter().any(|t| !t.held)
    }

    /// A cell not run yet.
    pub fn pending(config: CellSpec) -> CellResult {
        CellResult {
            id: config.id.clone(),
            config,
            status: Status::Pending,
            reason: None,
            stderr_tail: None,
            started_at: None,
            wall_s: None,
            stack_process: None,
            upstream: None,
            calibration: None,
            service: None,
            trials: Vec::new(),
            summary: None,
            warnings: Vec::new(),
            thresholds: Vec::new(),
            handshake: None,
            settling: Vec::new(),
            syscalls: None,
            parts: None,
            parts_note: None,
            profile: None,
            profile_note: None,
        }
    }

    /// The model's verdict on this cell, placed as `placement` says; none
    /// for a cell with no measurement (pending, failed or skipped).
    pub fn prediction(&self, placement: &Placement) -> Option<Prediction> {
        if !matches!(self.status, Status::Ok | Status::Interrupted) {
            return None;
        }
        let summary = self.summary.as_ref()?;
        Prediction::of(
            &self.config,
            Cpus {
                server: self.server_cpus(placement),
                generator: placement.load_cpus.count(),
            },
            Measurement {
                requests_per_s: summary.requests_per_s.mean,
                server_cpu_us_per_request: summary.server_cpu_us_per_request,
                calibration: self.calibration.as_ref().and_then(Trial::costs),
                usage: usage(&self.trials),
                handshake: self.handshake,
                service_us: self.service.as_ref().and_then(Trial::service_us),
            },
        )
    }
}

impl CellResult {
    /// The server's CPUs: the placement's, or for a url stack its host's as
    /// its metrics counted them (0 when they did not say).
    fn server_cpus(&self, placement: &Placement) -> usize {
        match self.config.stack.source {
            StackSource::Remote { .. } => self
                .trials
                .iter()
                .find_map(|t| t.server.host_cpus)
                .unwrap_or(0),
            _ => placement.server_cpus.count(),
        }
    }

    /// The bound the model cannot judge for this cell, in words (see
    /// [`crate::model::unjudged`]): none for a cell framewut measured whole,
    /// or one with no measurement at all.
    pub fn unjudged(&self, placement: &Placement) -> Option<String> {
        let summary = self.summary.as_ref()?;
        crate::model::unjudged(
            &self.config,
            self.server_cpus(placement),
            summary.server_cpu_measured && summary.server_cpu_us_per_request.is_some(),
        )
    }
}

impl Trial {
    /// What one request cost each side in this load: the CPU time of the
    /// measured processes on each CPU set (the stack, its upstream and
    /// database; the generator's threads), kernel work done in their
    /// context included, per response of any status (an error page costs
    /// work too).
    /// The mean time a request took, for a service probe: none when it
    /// completed nothing.
    pub fn service_us(&self) -> Option<f64> {
        (self.load.latency.count > 0).then_some(self.load.latency.mean_us)
    }

    pub fn costs(&self) -> Option<Costs> {
        let cpus = self.cpus.as_ref()?;
        let responses = self.load.responses as f64;
        (responses > 0.0).then(|| Costs {
            server_us: cpus.server.measured_s * 1e6 / responses,
            generator_us: cpus.generator.measured_s * 1e6 / responses,
        })
    }
}

impl Results {
    /// Reads a run directory's results.json, in this version's shape or an
    /// earlier one it still reads ([`READS`]); what it returns is in this
    /// version's shape, and saves as such.
    pub fn load(dir: &Path) -> Result<Results, ResultsError> {
        #[derive(Deserialize)]
        struct Head {
            schema: String,
        }
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ResultsError::Read {
            path: path.clone(),
            source,
        })?;
        let not_ours = |source| ResultsError::NotOurs {
            path: path.clone(),
            source,
        };
        let head: Head = serde_json::from_str(&text).map_err(not_ours)?;
        if !READS.contains(&head.schema.as_str()) {
            return Err(ResultsError::Schema {
                path,
                schema: head.schema,
            });
        }
        let mut results: Results = serde_json::from_str(&text).map_err(not_ours)?;
        results.schema = SCHEMA.to_string();
        Ok(results)
    }

    /// Writes results.json atomically, so a reader never sees half a file.
    pub fn save(&self, dir: &Path) -> Result<(), ResultsError> {
        let path = dir.join(FILE);
        let text = serde_json::to_string_pretty(self).map_err(ResultsError::Serialise)?;
        framewut_sys::atomic_write(&path, format!("{text}\n").as_bytes())
            .map_err(|source| ResultsError::Write { path, source })
    }

    /// Cells that failed.
    pub fn failed(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| c.status == Status::Failed)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake::trial;

    #[test]
    fn a_summary_takes_the_trials_together() {
        assert!(CellSummary::of(&[]).is_none());
        let trials = [
            trial(900, &[100, 200], 1, 0.5),
            trial(1100, &[300, 400], 2, 0.95),
        ];
        let s = CellSummary::of(&trials).unwrap();
        assert_eq!((s.trials, s.requests), (2, 2000));
        assert_eq!(s.requests_per_s.mean, 1000.0);
        assert_eq!(s.requests_per_s_min, 900.0);
        assert!((s.spread_pct - 20.0).abs() < 1e-9, "{}", s.spread_pct);
        assert_eq!(s.latency.count, 4, "the trials' histograms are merged");
        assert_eq!(s.latency.max_us, 400);
        assert_eq!((s.errors.timeout, s.errors.unfinished), (3, 16));
        assert_eq!(s.failed_requests, 3, "in-flight requests are not failures");
        assert_eq!(s.server_cpu_s, 1.0);
        assert_eq!(s.server_cpu_pct, 50.0);
        assert_eq!(s.server_cpu_us_per_request, Some(500.0));
        assert_eq!(s.server_peak_rss_bytes, 11_000);
        assert!(s.generator_saturated, "one saturated trial flags the cell");
        assert_eq!(s.generator_busy, 0.95);
    }
}
