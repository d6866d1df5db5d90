//! Runs one cell: starts what its scenario needs (an upstream, a database)
//! on the server's CPUs, starts the stack as its own process group on its
//! CPUs, each in a cgroup of its own where the machine allows, waits until it
//! answers, verifies it against the contract, warms up, runs the trials while
//! measuring the stack, the upstream, the database and the CPUs' own
//! counters, and stops everything it started, daemons included.

mod command;
pub mod drift;
pub mod knee;
pub mod phases;
pub mod progress;
mod remote;
pub mod schedule;
mod services;
pub mod stall;
pub mod table;

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use framewut_load::{
    DrainReport, LoadPlan, LoadReport, Pacing, Stop, Summary, Target, TlsOptions, Trust,
};
use framewut_stacks::contract;
use framewut_stacks::db::TempPostgres;
use framewut_stacks::tls::TestCa;

use self::command::Wiring;
use crate::lab::measure::cgroup::{Cgroup, CgroupError, Layout};
use crate::lab::measure::cpus::{CpuSet, Placement};
use crate::lab::measure::cpustat::{CpuAccounting, CpuSetUsage};
use crate::lab::measure::environment::utc_now;
use crate::lab::measure::guard::Guard;
use crate::lab::measure::handshake;
use crate::lab::measure::leftovers::{Owner, LAB_VAR, RUN_ID_VAR};
use crate::lab::measure::parts::PartsError;
use crate::lab::measure::process::{Group, GRACE};
use crate::lab::measure::procfs;
use crate::lab::measure::profile::{self, Caught};
use crate::lab::measure::sampler::{Members, Part, Sampler, WindowEnd};
use crate::lab::measure::syscalls::{self, CountError, Counted, Counting, Syscalls};
use crate::lab::results::{
    CellResult, Drained, Phase, Settling, StackProcess, Status, Trial, SATURATED,
};
use crate::model::Cpus;
use crate::python::PythonEnv;
use crate::spec::{CellSpec, Database, PacingSpec, ScenarioSpec, StackSource};
use progress::Progress;

/// What runs one cell. The lab's [`Lab`] starts real processes; a
/// test can give a fake that answers from a table, so the orchestration
/// (saving after each cell, resuming, stopping on Ctrl-C, the exit code,
/// the knee's search) is tested without starting anything.
pub trait CellRunner {
    /// Runs one cell to its end, or until it fails or is stopped; leaves no
    /// process of it running.
    fn run_cell(&mut self, spec: &CellSpec, progress: &Progress) -> CellResult;

    /// Versions of what the cells ran on, learned while running (the Python
    /// environment's), for results.json.
    fn tools(&self) -> Vec<(String, String)>;
}

impl CellRunner for Lab {
    fn run_cell(&mut self, spec: &CellSpec, progress: &Progress) -> CellResult {
        Lab::run_cell(self, spec, progress)
    }

    fn tools(&self) -> Vec<(String, String)> {
        self.python_tools()
    }
}

/// Why a cell stopped before its end.
#[derive(Debug)]
enum Halt {
    Failed(String),
    Skipped(String),
    Interrupted(String),
}

impl From<framewut_load::LoadError> for Halt {
    fn from(e: framewut_load::LoadError) -> Halt {
        Halt::Failed(format!("the load could not start: {e}"))
    }
}

/// What the cells of one run share: the binary, the placement, the run
/// directory, and databases made once and kept for the whole run.
#[derive(Debug)]
pub struct Lab {
    /// The framewut binary that runs `serve` and `upstream`.
    exe: PathBuf,
    placement: Placement,
    dir: PathBuf,
    run_id: String,
    /// This lab process, named in every cgroup and process it starts so
    /// that a later run knows them for a dead lab's.
    owner: Owner,
    cancel: &'static AtomicBool,
    sqlite: Option<Result<String, String>>,
    postgres: Option<Result<TempPostgres, String>>,
    /// How PostgreSQL's processes are measured. After `postgres`, so that
    /// the server has stopped when its cgroup is removed.
    postgres_part: Option<Part>,
    python: Option<Result<PythonEnv, String>>,
    /// Where cgroups can be made, or why not.
    cgroups: Result<Layout, CgroupError>,
    /// Cgroups made so far, to name each apart.
    cgroups_made: u32,
    /// framewut's test CA, made on first use by a cell that speaks TLS.
    tls: Option<Result<TestCa, String>>,
    /// The process that stops whatever the lab started should the lab be
    /// killed. Last, so that it is dropped last: when it sees the lab's
    /// end, everything else has been stopped (PostgreSQL included), and
    /// it finds nothing.
    guard: Guard,
}

/// An upstream server started for one cell.
struct Upstream {
    group: Group,
    port: u16,
    cgroup: Result<Arc<Cgroup>, CgroupError>,
    /// The CA it serves HTTPS under, when it does.
    tls: Option<TestCa>,
}

/// Where a cell's stack listens: its port, and the CA its certificate
/// chains to when it serves HTTPS.
#[derive(Clone, Copy)]
struct Served<'a> {
    port: u16,
    ca: Option<&'a TestCa>,
}

/// GETs `path` from a server the lab started on `port`, over HTTPS
/// trusting `ca` when there is one.
fn fetch(
    port: u16,
    path: &str,
    timeout: Duration,
    ca: Option<&TestCa>,
) -> Result<contract::Response, String> {
    match ca {
        None => contract::fetch(port, path, timeout).map_err(|e| e.to_string()),
        Some(ca) => {
            let config = ca.client_config().map_err(|e| e.to_string())?;
            contract::fetch_https(port, path, timeout, &config).map_err(|e| e.to_string())
        }
    }
}

/// Below this share of a core over its trials, a stack is profiled where
/// it waits: running, it would give a profiler a few samples a second.
const HARDLY_RAN: f64 = 0.05;

/// What to catch in a stack's profile, from the CPU it `used` over its
/// trials' `wall` time (none where it could not be read): running, unless
/// it hardly ran.
fn caught_for(used: Option<Duration>, wall: Duration) -> Caught {
    match used {
        Some(used) if used.as_secs_f64() < HARDLY_RAN * wall.as_secs_f64() => Caught::Waiting,
        _ => Caught::Running,
    }
}

fn free_port() -> Result<u16, Halt> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Halt::Failed(format!("cannot find a free port: {e}")))
}

/// How long an open-loop cell's calibration probe warms up, and how long it
/// measures: long enough for thousands of requests of a CPU-bound cell and
/// a hundred clock ticks of /proc/stat, short beside the trials. (A
/// closed-loop cell's calibration is a window of its trials' load.)
const PROBE_WARMUP: Duration = Duration::from_millis(1000);
const PROBE: Duration = Duration::from_millis(1000);

/// About how long a profiler takes to start, stop and fold its samples.
const PROFILE_FOLDING: Duration = Duration::from_secs(4);

/// Whether a cell gets a calibration: a scenario with no wait, whose
/// ceiling is the CPU's on one side or the other, on a server whose CPUs
/// are this machine's to read (not a url stack's), not measured already by
/// an earlier start of its stack.
pub fn calibrates(spec: &CellSpec) -> bool {
    !spec.load.calibrated
        && matches!(
            spec.scenario,
            ScenarioSpec::Hello | ScenarioSpec::Cpu { .. } | ScenarioSpec::Db { .. }
        )
        && !matches!(spec.stack.source, StackSource::Remote { .. })
}

/// Whether a cell's stack or its upstream speaks TLS, and so whether a
/// handshake probe runs before it.
pub fn speaks_tls(spec: &CellSpec) -> bool {
    spec.stack.tls || spec.upstream_tls()
}

/// A rough time for one cell: start-up and the wait for its workers to
/// finish starting (for every start of its stack), the warm-up, the calibration (a window as long as a trial, or an
/// open-loop cell's probe and its drain), and every trial at the length the
/// model sizes it to. CPU-bound cells are sized with a prior cost per
/// request on one server core ([`phases::estimated_inputs`]): the
/// calibration that measures it has not run.
pub fn estimate(spec: &CellSpec) -> Duration {
    let (start, boot) = match spec.stack.source {
        StackSource::BuiltIn { .. } => (Duration::from_millis(400), Duration::ZERO),
        // gunicorn's workers import the app after they answer the first
        // request: seconds of CPU on one core for 10 workers.
        StackSource::Python { .. } => (Duration::from_millis(1500), Duration::from_millis(1000)),
        StackSource::External { .. } => (Duration::from_millis(1500), Duration::ZERO),
        StackSource::Remote { .. } => (Duration::from_millis(100), Duration::ZERO),
    };
    let upstream = match spec.scenario {
        ScenarioSpec::Upstream { .. } => Duration::from_millis(300),
        _ => Duration::ZERO,
    };
    let inputs = phases::estimated_inputs(
        spec,
        Cpus {
            server: 1,
            generator: 1,
        },
    );
    let length = phases::estimated_length(spec);
    let closed = matches!(spec.load.pacing, PacingSpec::Closed);

    let mut probe = match (calibrates(spec), closed) {
        // The calibration window of the trials' own load.
        (true, true) => length,
        // A probe of its own, then its drain of about one round.
        (true, false) => {
            let (ceiling, _) = inputs.ceiling();
            let round = if ceiling.per_s.is_finite() && ceiling.per_s > 0.0 {
                Duration::from_secs_f64((spec.load.connections as f64 / ceiling.per_s).min(60.0))
            } else {
                Duration::ZERO
            };
            PROBE_WARMUP + PROBE + round + phases::TURN
        }
        (false, _) => Duration::ZERO,
    };
    if speaks_tls(spec) {
        probe += Duration::from_millis(150);
    }
    let each = start + boot + phases::TURN + upstream + probe + spec.load.warmup;
    // The last start counts system calls in one more window, and records
    // a profile in another when asked (then folds and draws it).
    let count = match (spec.load.last_start, spec.load.cpu_profile) {
        (false, _) => Duration::ZERO,
        (true, false) => length,
        (true, true) => length * 2 + PROFILE_FOLDING,
    };
    count
        + spec
            .load
            .trials_per_server()
            .into_iter()
            .map(|trials| each + length * trials + Duration::from_millis(200))
            .sum::<Duration>()
}

impl Lab {
    /// Marks a command with the run and this lab, as everything the lab
    /// starts is marked.
    fn mark(&self, command: &mut Command) {
        command
            .env(RUN_ID_VAR, &self.run_id)
            .env(LAB_VAR, self.owner.to_string());
    }

    /// The lab of a run: starts its guard, so that nothing it starts can
    /// outlive it, whatever ends it.
    pub fn new(
        exe: PathBuf,
        placement: Placement,
        dir: PathBuf,
        run_id: String,
        cancel: &'static AtomicBool,
    ) -> std::io::Result<Lab> {
        let owner = Owner::this();
        let guard = Guard::start(&exe, &run_id, owner)?;
        Ok(Lab {
            exe,
            placement,
            dir,
            run_id,
            owner,
            cancel,
            sqlite: None,
            postgres: None,
            postgres_part: None,
            python: None,
            cgroups: Layout::detect(),
            cgroups_made: 0,
            tls: None,
            guard,
        })
    }

    /// A new cgroup for `role` (stack, upstream, postgres), named after the
    /// run and this lab so that a leftover can be traced; the reason where
    /// none can be made.
    fn cgroup(&mut self, role: &str) -> Result<Arc<Cgroup>, CgroupError> {
        let layout = self.cgroups.as_ref().map_err(Clone::clone)?;
        self.cgroups_made += 1;
        let name = format!(
            "framewut-{}-{role}-{}-{}",
            self.run_id, self.cgroups_made, self.owner
        );
        let cgroup = Cgroup::create(layout, &name)?;
        self.guard.watch_cgroup(cgroup.dirs());
        Ok(Arc::new(cgroup))
    }

    /// Starts a process group, on `cpus` and in `cgroup`, and tells the
    /// guard of it.
    fn spawn(
        &mut self,
        command: Command,
        cpus: &CpuSet,
        cgroup: Option<&Cgroup>,
    ) -> std::io::Result<Group> {
        let group = Group::spawn(command, Some(cpus), cgroup)?;
        self.guard.watch_session(group.pid());
        Ok(group)
    }

    /// framewut's test CA in its data directory, made on first use; the
    /// reason where it cannot be had fails the cells that need it.
    fn test_ca(&mut self) -> Result<TestCa, Halt> {
        self.tls
            .get_or_insert_with(|| {
                let dir = TestCa::default_dir();
                TestCa::ensure(&dir).map_err(|e| {
                    format!(
                        "cannot make the test CA in {} ({e}); `framewut tls init` says more",
                        dir.display()
                    )
                })
            })
            .clone()
            .map_err(Halt::Failed)
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Runs one cell to its end, or until it fails or Ctrl-C stops it; never
    /// leaves a process of it running.
    pub fn run_cell(&mut self, spec: &CellSpec, progress: &Progress) -> CellResult {
        let started = Instant::now();
        let mut result = CellResult::pending(spec.clone());
        result.started_at = Some(utc_now());
        let outcome = self.run(spec, progress, &mut result);
        let (status, reason) = match outcome {
            Ok(()) => (Status::Ok, None),
            Err(Halt::Failed(why)) => (Status::Failed, Some(why)),
            Err(Halt::Skipped(why)) => (Status::Skipped, Some(why)),
            Err(Halt::Interrupted(why)) => (Status::Interrupted, Some(why)),
        };
        result.status = status;
        result.reason = reason;
        if status != Status::Failed {
            result.stderr_tail = None;
        }
        result.summarise();
        result.wall_s = Some(started.elapsed().as_secs_f64());
        result
    }

    fn run(
        &mut self,
        spec: &CellSpec,
        progress: &Progress,
        result: &mut CellResult,
    ) -> Result<(), Halt> {
        if let StackSource::Remote {
            url,
            ready_path,
            metrics,
        } = &spec.stack.source
        {
            return self.run_remote(spec, progress, result, url, ready_path, metrics.as_deref());
        }
        let ca = if speaks_tls(spec) {
            let ca = self.test_ca()?;
            progress.phase("timing TLS handshakes");
            result.handshake = Some(
                handshake::probe(&ca, &self.placement.server_cpus, handshake::HANDSHAKES).map_err(
                    |why| Halt::Failed(format!("the TLS handshake probe failed: {why}")),
                )?,
            );
            Some(ca)
        } else {
            None
        };
        let upstream = match spec.scenario {
            ScenarioSpec::Upstream {
                delay,
                connect_cost,
                tls,
            } => {
                progress.phase("starting the upstream");
                let tls = ca.clone().filter(|_| tls);
                Some(self.start_upstream(delay, connect_cost, tls)?)
            }
            _ => None,
        };
        let db = match &spec.scenario {
            ScenarioSpec::Db {
                database: Database::Sqlite,
                ..
            } => Some(self.sqlite()?),
            ScenarioSpec::Db {
                database: Database::Postgres,
                url: Some(url),
            } => Some(url.clone()),
            ScenarioSpec::Db {
                database: Database::Postgres,
                url: None,
            } => {
                progress.phase("starting PostgreSQL");
                Some(self.postgres()?)
            }
            _ => None,
        };
        let port = free_port()?;
        let upstream_url = upstream.as_ref().map(|u| {
            let scheme = if u.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://127.0.0.1:{}/", u.port)
        });
        let python = match spec.stack.source {
            StackSource::Python { .. } => {
                progress.phase("making the Python environment ready");
                Some(self.python()?)
            }
            _ => None,
        };
        let served = Served {
            port,
            ca: ca.as_ref().filter(|_| spec.stack.tls),
        };
        let wiring = Wiring {
            upstream: upstream_url.as_deref(),
            upstream_ca: upstream.as_ref().and_then(|u| u.tls.as_ref()),
            db: db.as_deref(),
            python: python.as_ref(),
        };
        let (command, display) = self.stack_command(spec, served, &wiring)?;
        progress.phase("starting the stack");
        let cgroup = self.cgroup("stack");
        let cpus = self.placement.server_cpus.clone();
        let mut group = self
            .spawn(command, &cpus, cgroup.as_deref().ok())
            .map_err(|e| Halt::Failed(format!("cannot start `{display}`: {e}")))?;
        result.stack_process = Some(StackProcess {
            command: display,
            port,
            pid: group.pid(),
            pids: Vec::new(),
            killed: false,
            survivors: Vec::new(),
            escaped: Vec::new(),
        });

        let mut parts = vec![Part::new(Members::Session(group.pid() as i32), &cgroup)];
        if let Some(upstream) = &upstream {
            parts.push(Part::new(
                Members::Session(upstream.group.pid() as i32),
                &upstream.cgroup,
            ));
        }
        let database = match &spec.scenario {
            ScenarioSpec::Db {
                database: Database::Postgres,
                url: None,
            } => self.postgres_part.clone(),
            _ => None,
        };
        parts.extend(database);
        let measured = self.measure(spec, progress, &mut group, (served, &wiring), parts, result);

        if let Some(upstream) = &upstream {
            result.upstream = fetch(
                upstream.port,
                "/__stats",
                Duration::from_secs(2),
                upstream.tls.as_ref(),
            )
            .ok()
            .and_then(|r| serde_json::from_slice(&r.body).ok());
        }
        progress.phase("stopping");
        let stopped = group.stop(GRACE);
        result.stderr_tail = Some(group.stderr_tail()).filter(|t| !t.is_empty());
        // A daemon that left the stack's session outlives the group: its
        // cgroup still holds it.
        let mut escaped = cgroup
            .as_ref()
            .map_or_else(|_| Vec::new(), |c| c.kill_remaining(GRACE));
        let record = result.stack_process.as_mut().expect("set above");
        record.pids = stopped.pids;
        record.killed = stopped.killed;
        record.survivors = stopped.survivors.clone();
        if stopped.killed {
            result.warnings.push(format!(
                "the stack ignored SIGTERM for {GRACE:?} and was killed"
            ));
        }
        if let Some(mut upstream) = upstream {
            let up = upstream.group.stop(GRACE);
            let left = upstream
                .cgroup
                .as_ref()
                .map_or_else(|_| Vec::new(), |c| c.kill_remaining(GRACE));
            if !up.survivors.is_empty() || !left.is_empty() {
                result.warnings.push(format!(
                    "upstream processes {:?} survived SIGKILL and {left:?} left its session",
                    up.survivors
                ));
            }
        }
        // Without a cgroup, and for anything a cgroup could not hold, the
        // run's mark in the environment finds what is left.
        let marked: Vec<u32> = procfs::with_env(&format!("{RUN_ID_VAR}={}", self.run_id))
            .into_iter()
            .map(|pid| pid as u32)
            .filter(|pid| *pid != std::process::id())
            .collect();
        let survivors = procfs::kill_pids(&marked, GRACE);
        escaped.extend(marked);
        let record = result.stack_process.as_mut().expect("set above");
        record.survivors.extend(survivors);
        if !escaped.is_empty() {
            result.warnings.push(format!(
                "processes {escaped:?} left the stack's session and were still running after it stopped; they were killed"
            ));
        }
        record.escaped = escaped;
        measured?;
        if !record.survivors.is_empty() {
            return Err(Halt::Failed(format!(
                "processes {:?} of the stack survived SIGKILL",
                record.survivors
            )));
        }
        Ok(())
    }

    fn measure(
        &mut self,
        spec: &CellSpec,
        progress: &Progress,
        group: &mut Group,
        (served, wiring): (Served, &Wiring),
        parts: Vec<Part>,
        result: &mut CellResult,
    ) -> Result<(), Halt> {
        let Served { port, ca } = served;
        let scenario = spec.scenario.scenario();
        // The parts are the stack's, then the upstream's, then the database's.
        let has_upstream = matches!(spec.scenario, ScenarioSpec::Upstream { .. });
        let ready_path = match &spec.stack.source {
            StackSource::External { ready_path, .. } | StackSource::Remote { ready_path, .. } => {
                ready_path.clone()
            }
            StackSource::BuiltIn { .. } | StackSource::Python { .. } => "/hello".to_string(),
        };
        progress.phase("waiting until it answers");
        self.wait_ready(group, port, &ready_path, spec.stack.ready_timeout, ca)?;
        progress.phase("verifying the response");
        let checked = match ca {
            None => contract::check(port, scenario).map_err(|e| e.to_string()),
            Some(ca) => ca
                .client_config()
                .map_err(|e| e.to_string())
                .and_then(|c| contract::check_https(port, scenario, &c).map_err(|e| e.to_string())),
        };
        checked.map_err(|why| {
            Halt::Failed(format!(
                "{} does not follow the contract, so it was not measured: {why}",
                spec.stack.label
            ))
        })?;

        let sampler = Sampler::start(parts, &self.placement.load_cpus);
        // The stack answered as soon as one worker did; the rest may still
        // be booting, and their start would be measured as its work.
        progress.phase("waiting for its workers to finish starting");
        let limit = spec.stack.ready_timeout;
        let rest = self.settle(&sampler, Phase::Start, None, limit);
        self.note_unsettled(&rest, result);
        result.settling.push(rest);
        // A Python handler is timed by a process of its own on the server's
        // CPUs, so while the stack is idle for sure: after its load, a sync
        // worker may still be answering what its closed connections sent.
        let in_stack = matches!(spec.stack.source, StackSource::BuiltIn { .. });
        if !in_stack {
            self.time_parts(
                spec,
                (served, wiring),
                &sampler,
                "its start",
                progress,
                result,
            );
        }
        let scheme = if ca.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{port}{}", scenario.path());
        let target = Target::parse(&url).map_err(|e| Halt::Failed(format!("{url}: {e}")))?;
        let mut plan = LoadPlan::new(target);
        if let Some(ca) = ca {
            // Every new connection pays a full handshake, as a client
            // without a session cache does.
            plan.tls = TlsOptions {
                trust: Trust::CaFile(ca.ca.clone()),
                resume: false,
            };
        }
        self.shape_plan(&mut plan, spec);
        // A closed-loop cell's calibration is the first window of the load
        // its trials are the later windows of: measured in the steady state
        // the trials run in, after the warm-up, and apart from them. An
        // open-loop cell's is a closed-loop load of its own before its
        // trials, which waits for the answers to what it sent and for the
        // stack to be idle, so the trials inherit none of its work.
        let closed = matches!(spec.load.pacing, PacingSpec::Closed);
        let inline_probe = calibrates(spec) && closed;
        if calibrates(spec) && !closed {
            progress.phase("calibrating");
            let mut probe = plan.clone();
            probe.pacing = Pacing::Closed;
            probe.warmup = PROBE_WARMUP;
            probe.stop = Stop::After(PROBE);
            probe.drain = Some(spec.load.timeout);
            let (mut windows, drain) = self.windowed_load(
                &probe,
                &sampler,
                has_upstream,
                spec,
                progress,
                &|_| "calibration probe".to_string(),
                &mut |_| {},
            )?;
            let probe = windows.pop().expect("one window");
            let cancelled = probe.load.cancelled;
            result.calibration = Some(probe);
            if cancelled {
                return Err(Halt::Interrupted(
                    "stopped by a signal during the calibration probe".into(),
                ));
            }
            progress.phase("letting it finish the probe's requests");
            let rest = self.settle(&sampler, Phase::Calibration, drain, spec.load.timeout);
            self.note_unsettled(&rest, result);
            result.settling.push(rest);
        }
        let cpus = Cpus {
            server: self.placement.server_cpus.count(),
            generator: self.placement.load_cpus.count(),
        };
        // Trials are sized to the model's rate: from the separate probe
        // where one ran, else before anything is measured (a prior cost
        // for a CPU-bound cell whose probe shares the trials' load).
        let length = if inline_probe {
            phases::trial_length(spec, &phases::estimated_inputs(spec, cpus))
        } else {
            phases::trial_length(
                spec,
                &stall::inputs(
                    spec,
                    cpus,
                    result.calibration.as_ref().and_then(Trial::costs),
                    result.handshake,
                ),
            )
        };
        // The trials are windows of one load, each warmed up by the one
        // before it (the first by the warm-up, or the calibration), on the
        // same connections: none starts cold, and none inherits requests
        // another abandoned. The last start of a cell's stack runs one
        // more window, in which perf counts each side's system calls.
        let trials = spec.load.trials;
        let first = u32::from(inline_probe);
        let counted_at = first + trials;
        let profiling = spec.load.last_start && spec.load.cpu_profile;
        let profiled_at = counted_at + u32::from(spec.load.last_start);
        plan.warmup = spec.load.warmup;
        plan.stop = Stop::After(length);
        plan.windows = profiled_at + u32::from(profiling);
        let mut counting: Option<(Result<Counting, CountError>, Result<Counting, CountError>)> =
            None;
        let mut counted = None;
        let mut recording: Option<Result<profile::Recording, String>> = None;
        let mut recorded: Option<Result<profile::Profile, String>> = None;
        // When the trials began, and the stack's CPU by then: a stack that
        // hardly ran in them is profiled where it waits.
        let mut trials_began: Option<(Instant, Option<Duration>)> = None;
        let load_cpus = self.placement.load_cpus.clone();
        let python_bin = match (&spec.stack.source, &self.python) {
            (StackSource::Python { .. }, Some(Ok(env))) => Some(env.bin()),
            _ => None,
        };
        let output = profile::Output {
            run_dir: self.dir.clone(),
            dir: "profiles".into(),
            name: spec.id.replace(['/', ':', '='], "_"),
            title: format!("{} at {} connections", spec.id, spec.load.connections),
        };
        let (mut measured, _) = self.windowed_load(
            &plan,
            &sampler,
            has_upstream,
            spec,
            progress,
            &|k| {
                if k < first {
                    "calibration window".to_string()
                } else if k < counted_at {
                    format!("trial {}/{trials}", k + 1 - first)
                } else if k < profiled_at {
                    "counting system calls".to_string()
                } else {
                    "recording where its CPU goes".to_string()
                }
            },
            &mut |k| {
                if !spec.load.last_start {
                    return;
                }
                if k == first {
                    trials_began = Some((Instant::now(), sampler.stack_cpu()));
                }
                if k == counted_at {
                    let server = sampler.stack_pids();
                    let generator = syscalls::load_threads();
                    counting = Some((
                        Counting::start(Counted::Processes(&server), &load_cpus),
                        Counting::start(Counted::Threads(&generator), &load_cpus),
                    ));
                } else if k == profiled_at {
                    if let Some((server, generator)) = counting.take() {
                        counted = Some((
                            server.and_then(Counting::finish),
                            generator.and_then(Counting::finish),
                        ));
                    }
                }
                if profiling && k == profiled_at {
                    recording = Some(match profile::Profiler::for_stack(&spec.stack.source) {
                        Some(profiler) => {
                            let pids: Vec<u32> =
                                sampler.stack_pids().into_iter().map(|p| p as u32).collect();
                            let caught = match (trials_began, sampler.stack_cpu()) {
                                (Some((at, Some(before))), Some(now)) => {
                                    caught_for(Some(now.saturating_sub(before)), at.elapsed())
                                }
                                _ => caught_for(None, Duration::ZERO),
                            };
                            profile::start(profiler, &pids, python_bin.as_deref(), caught, &output)
                                .map_err(|e| e.to_string())
                        }
                        None => Err("a url stack's processes are not framewut's to profile".into()),
                    });
                } else if let Some(started) = recording.take() {
                    recorded = Some(started.and_then(|r| r.finish().map_err(|e| e.to_string())));
                }
            },
        )?;
        // A built-in stack times its own handler once its load has warmed
        // it (a cold handler runs slower for its first second of calls).
        if in_stack {
            self.time_parts(
                spec,
                (served, wiring),
                &sampler,
                "its load",
                progress,
                result,
            );
        }
        if inline_probe && !measured.is_empty() {
            result.calibration = Some(measured.remove(0));
        }
        if profiling && measured.len() as u32 > trials + 1 {
            measured.pop();
            match recorded {
                Some(Ok(profile)) => result.profile = Some(profile),
                Some(Err(why)) => result.profile_note = Some(why),
                None => {}
            }
        }
        if spec.load.last_start && measured.len() as u32 > trials {
            let window = measured.pop().expect("the counting window");
            if let Some((server, generator)) = counted {
                result.syscalls = Some(Syscalls::of(
                    window.load.elapsed_s,
                    window.load.responses,
                    server,
                    generator,
                ));
            }
        }
        result.trials.extend(measured);
        if result.trials.last().is_none_or(|t| t.load.cancelled) {
            return Err(Halt::Interrupted(format!(
                "stopped by a signal during trial {}/{trials}",
                result.trials.len().max(1)
            )));
        }
        if let Some(status) = group.exited() {
            return Err(Halt::Failed(format!(
                "the stack exited during the trials ({status})"
            )));
        }
        let model = stall::inputs(
            spec,
            cpus,
            result.calibration.as_ref().and_then(Trial::costs),
            result.handshake,
        );
        stall::judge_trials(spec, &result.trials, &model, &mut result.warnings)
            .map_err(Halt::Failed)?;
        if result.trials.iter().any(|t| t.load.requests == 0) {
            result.warnings.push(format!(
                "a trial completed no request in {:?}: lengthen it (--duration) or raise the profile's timeout",
                spec.load.duration
            ));
        }
        if result.trials.iter().any(|t| t.generator_saturated) {
            result.warnings.push(format!(
                "the load generator's CPUs were over {:.0}% busy: this rate says more about the generator than the server",
                SATURATED * 100.0
            ));
        }
        Ok(())
    }

    /// Times a cpu or db cell's parts ([`Lab::parts`]) on its last start,
    /// once its stack is idle after `after` (its start, its load).
    fn time_parts(
        &self,
        spec: &CellSpec,
        (served, wiring): (Served, &Wiring),
        sampler: &Sampler,
        after: &str,
        progress: &Progress,
        result: &mut CellResult,
    ) {
        if !spec.load.last_start
            || !matches!(
                spec.scenario,
                ScenarioSpec::Cpu { .. } | ScenarioSpec::Db { .. }
            )
        {
            return;
        }
        progress.phase("timing the handler alone");
        let rest = phases::wait_quiet(
            || sampler.stack_cpu(),
            spec.load.timeout,
            || self.cancelled(),
        );
        let timed = if rest.quiet {
            self.parts(spec, served, wiring.db, wiring.python)
        } else {
            Err(PartsError::Busy {
                busy: rest.busy,
                waited: rest.waited,
                after: after.to_string(),
            })
        };
        match timed {
            Ok(parts) => result.parts = parts,
            Err(why) => result.parts_note = Some(why.to_string()),
        }
    }

    /// Gives a cell's plan its profile: connections, threads, pacing,
    /// timeout, duration, `Connection: close` when the profile asks, and the
    /// generator's CPUs. The warm-up is set per load (probe or trial).
    fn shape_plan(&self, plan: &mut LoadPlan, spec: &CellSpec) {
        if spec.load.close {
            plan.request
                .headers
                .push(("Connection".to_string(), "close".to_string()));
        }
        plan.connections = spec.load.connections;
        plan.threads = spec.load.threads;
        plan.pacing = spec.load.pacing.pacing();
        plan.timeout = spec.load.timeout;
        plan.cpus = Some(self.placement.load_cpus.clone());
        plan.stop = Stop::After(spec.load.duration);
    }

    /// Runs `plan`: its warm-up, then its measured windows back to back,
    /// then its drain, calling `boundary(k)` as window `k` opens (from 0)
    /// and `boundary(windows)` as the last one closes, each on time
    /// whatever the load is doing (to measure the server over the same
    /// windows). `label(k)` names window `k` in the progress line. A load
    /// interrupted before it measured anything halts the cell.
    fn run_load(
        &self,
        plan: &LoadPlan,
        progress: &Progress,
        label: &(dyn Fn(u32) -> String + Sync),
        mut boundary: impl FnMut(u32) + Send,
    ) -> Result<Vec<LoadReport>, Halt> {
        progress.phase("warming up");
        let window = match plan.stop {
            Stop::After(d) => d,
            Stop::Requests(_) => Duration::ZERO,
        };
        let windows = plan.windows;
        let (reports, reached) = std::thread::scope(|scope| {
            let warmup = plan.warmup;
            let cancel = self.cancel;
            let boundary = &mut boundary;
            let timer = scope.spawn(move || {
                let start = Instant::now();
                for k in 0..=windows {
                    let at = start + warmup + window * k;
                    while Instant::now() < at && !cancel.load(Ordering::SeqCst) {
                        std::thread::sleep(
                            Duration::from_millis(5)
                                .min(at.saturating_duration_since(Instant::now())),
                        );
                    }
                    if cancel.load(Ordering::SeqCst) {
                        return k;
                    }
                    boundary(k);
                    if k < windows {
                        progress.phase(&label(k));
                    }
                }
                windows + 1
            });
            let reports = framewut_load::run_windows(plan, self.cancel);
            (reports, timer.join().expect("the window timer"))
        });
        // A load cut short closes its windows now.
        for k in reached..=windows {
            boundary(k);
        }
        let reports = reports?;
        if reports
            .first()
            .is_none_or(|r| r.cancelled && r.requests == 0)
        {
            return Err(Halt::Interrupted(format!(
                "stopped by a signal before the {} measured anything",
                label(0)
            )));
        }
        Ok(reports)
    }

    /// Runs a load of `plan` (its warm-up, its measured windows, its
    /// drain) while the sampler measures the parts and both CPU sets over
    /// each window: one trial a window, and the drain when there was one.
    /// `hook(k)` is called at each boundary after the sampler's reading.
    #[allow(clippy::too_many_arguments)]
    fn windowed_load(
        &self,
        plan: &LoadPlan,
        sampler: &Sampler,
        has_upstream: bool,
        spec: &CellSpec,
        progress: &Progress,
        label: &(dyn Fn(u32) -> String + Sync),
        hook: &mut (dyn FnMut(u32) + Send),
    ) -> Result<(Vec<Trial>, Option<DrainReport>), Halt> {
        let ends = std::sync::Mutex::new(Vec::new());
        let windows = plan.windows;
        let reports = self.run_load(plan, progress, label, |k| {
            match k {
                0 => sampler.begin(),
                k if k == windows => ends.lock().expect("window ends").push(sampler.end()),
                _ => ends.lock().expect("window ends").push(sampler.split()),
            }
            hook(k);
        })?;
        let drain = reports.last().and_then(|r| r.drain);
        let trials = reports
            .iter()
            .zip(ends.into_inner().expect("window ends"))
            .map(|(report, end)| self.trial(plan, report, end, has_upstream, spec))
            .collect();
        Ok((trials, drain))
    }

    /// One window's trial: what the load measured in it, and what the
    /// sampler measured over it.
    fn trial(
        &self,
        plan: &LoadPlan,
        report: &LoadReport,
        end: WindowEnd,
        has_upstream: bool,
        spec: &CellSpec,
    ) -> Trial {
        let mut used = end.parts.into_iter();
        let server = used.next().expect("the stack is always measured");
        let upstream = if has_upstream { used.next() } else { None };
        let database = used.next();
        let cores = spec
            .load
            .threads
            .min(self.placement.load_cpus.count())
            .max(1) as f64;
        let elapsed = report.elapsed.as_secs_f64();
        let generator_cpu = report.cpu.total().as_secs_f64();
        let busy = if elapsed > 0.0 {
            generator_cpu / (elapsed * cores)
        } else {
            0.0
        };
        let on_server = server.cpu_s
            + upstream.as_ref().map_or(0.0, |u| u.cpu_s)
            + database.as_ref().map_or(0.0, |d| d.cpu_s);
        let cpus = end.stat.map(|(before, after, window)| {
            let usage = |cpus: &CpuSet, measured: f64| {
                CpuSetUsage::between(&before, &after, window, cpus, measured, procfs::tick())
            };
            CpuAccounting {
                server: usage(&self.placement.server_cpus, on_server),
                generator: usage(&self.placement.load_cpus, generator_cpu),
            }
        });
        Trial {
            process: 1,
            load: Summary::of(plan, report),
            server,
            generator_busy: busy,
            generator_saturated: busy > SATURATED,
            cpus,
            upstream,
            database,
        }
    }

    /// Lets the stack finish what a phase left it: after the phase's
    /// drain (its record, when it had one), waits up to `limit` for its
    /// CPU to be idle for a turn.
    fn settle(
        &self,
        sampler: &Sampler,
        after: Phase,
        drain: Option<DrainReport>,
        limit: Duration,
    ) -> Settling {
        let quiet = phases::wait_quiet(|| sampler.stack_cpu(), limit, || self.cancelled());
        Settling {
            after,
            drain: drain.map(Drained::from),
            quiet_after_s: quiet.waited.as_secs_f64(),
            quiet: quiet.quiet,
            busy_pct: 100.0 * quiet.busy,
        }
    }

    /// Warns when a stack was still busy, or still had requests to
    /// answer, as the next phase began on it.
    fn note_unsettled(&self, rest: &Settling, result: &mut CellResult) {
        let what = match rest.after {
            Phase::Start => "after it started answering",
            Phase::Calibration => "after the calibration probe",
        };
        if let Some(d) = rest.drain.filter(|d| d.left > 0) {
            result.warnings.push(format!(
                "{} requests the calibration probe sent were still unanswered {:.1} s after it ended: the trials may have measured the stack working on them",
                d.left, d.elapsed_s
            ));
        }
        if !rest.quiet && !self.cancelled() {
            result.warnings.push(format!(
                "the stack's CPU was still {:.0}% busy {:.1} s {what}, with no load: what follows measured it doing that too",
                rest.busy_pct, rest.quiet_after_s
            ));
        }
    }

    /// Polls `path` until the stack answers anything at all, it exits, the
    /// time is up, or Ctrl-C.
    fn wait_ready(
        &self,
        group: &mut Group,
        port: u16,
        path: &str,
        limit: Duration,
        ca: Option<&TestCa>,
    ) -> Result<(), Halt> {
        let start = Instant::now();
        loop {
            if self.cancelled() {
                return Err(Halt::Interrupted(
                    "stopped by a signal while starting".into(),
                ));
            }
            if let Some(status) = group.exited() {
                return Err(Halt::Failed(format!(
                    "it exited ({status}) before answering GET {path}"
                )));
            }
            let last = match fetch(port, path, Duration::from_secs(2), ca) {
                Ok(_) => return Ok(()),
                Err(why) => why,
            };
            if start.elapsed() > limit {
                return Err(Halt::Failed(format!(
                    "it did not answer GET {path} on port {port} within {limit:?} (last try: {last})"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_that_hardly_ran_is_caught_waiting() {
        let second = Duration::from_secs(1);
        let busy = Some(Duration::from_millis(300));
        assert_eq!(caught_for(busy, second), Caught::Running);
        assert_eq!(
            caught_for(Some(Duration::from_millis(10)), second),
            Caught::Waiting
        );
        assert_eq!(caught_for(Some(Duration::ZERO), second), Caught::Waiting);
        // A CPU that could not be read is no reason to change the profile.
        assert_eq!(caught_for(None, second), Caught::Running);
    }
}
