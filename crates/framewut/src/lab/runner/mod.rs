//! Runs one cell: starts what its scenario needs (an upstream, a database)
//! on the server's CPUs, starts the stack as its own process group on its
//! CPUs, each in a cgroup of its own where the machine allows, waits until it
//! answers, verifies it against the contract, warms up, runs the trials while
//! measuring the stack, the upstream, the database and the CPUs' own
//! counters, and stops everything it started, daemons included.

mod command;
mod remote;
mod services;

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use framewut_load::{LoadPlan, LoadReport, Pacing, Stop, Summary, Target, TlsOptions, Trust};
use framewut_stacks::contract;
use framewut_stacks::db::TempPostgres;
use framewut_stacks::tls::TestCa;

use self::command::Wiring;
use super::cgroup::{Cgroup, Layout};
use super::cpus::{CpuSet, Placement};
use super::cpustat::{CpuAccounting, CpuSetUsage};
use super::environment::utc_now;
use super::handshake;
use super::leftovers::{Owner, LAB_VAR};
use super::process::{kill_pids, Group, GRACE};
use super::procfs;
use super::progress::Progress;
use super::results::{CellResult, StackProcess, Status, Trial, SATURATED};
use super::sampler::{Members, Part, Sampler};
use super::stall;
use crate::model::Cpus;
use crate::python::PythonEnv;
use crate::spec::{CellSpec, Database, ScenarioSpec, StackSource};

/// The variable every process the lab starts carries, with the run's id.
pub const RUN_ID_VAR: &str = "FRAMEWUT_RUN_ID";

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
    cgroups: Result<Layout, String>,
    /// Cgroups made so far, to name each apart.
    cgroups_made: u32,
    /// framewut's test CA, made on first use by a cell that speaks TLS.
    tls: Option<Result<TestCa, String>>,
}

/// An upstream server started for one cell.
struct Upstream {
    group: Group,
    port: u16,
    cgroup: Result<Arc<Cgroup>, String>,
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

fn free_port() -> Result<u16, Halt> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Halt::Failed(format!("cannot find a free port: {e}")))
}

/// How long the calibration probe warms up, and how long it measures: long
/// enough for a few thousand requests of a CPU-bound cell and tens of clock
/// ticks of /proc/stat, short beside the trials.
const PROBE_WARMUP: Duration = Duration::from_millis(500);
const PROBE: Duration = Duration::from_millis(500);

/// Whether a cell gets a calibration probe: a scenario with no wait, whose
/// ceiling is the CPU's on one side or the other, on a server whose CPUs
/// are this machine's to read (not a url stack's).
pub fn calibrates(spec: &CellSpec) -> bool {
    matches!(
        spec.scenario,
        ScenarioSpec::Hello | ScenarioSpec::Cpu { .. } | ScenarioSpec::Db { .. }
    ) && !matches!(spec.stack.source, StackSource::Remote { .. })
}

/// Whether a cell's stack or its upstream speaks TLS, and so whether a
/// handshake probe runs before it.
pub fn speaks_tls(spec: &CellSpec) -> bool {
    spec.stack.tls || spec.upstream_tls()
}

/// A rough time for one cell: start-up (once, or for every trial with a
/// fresh server per trial), warm-up and measurement of every trial, and stop.
pub fn estimate(spec: &CellSpec) -> Duration {
    let start = match spec.stack.source {
        StackSource::BuiltIn { .. } => Duration::from_millis(400),
        StackSource::Python { .. } => Duration::from_millis(2500),
        StackSource::External { .. } => Duration::from_millis(1500),
        StackSource::Remote { .. } => Duration::from_millis(100),
    };
    let upstream = match spec.scenario {
        ScenarioSpec::Upstream { .. } => Duration::from_millis(300),
        _ => Duration::ZERO,
    };
    let starts = if spec.load.fresh_server {
        spec.load.trials
    } else {
        1
    };
    let trial = spec.load.warmup + spec.load.duration + Duration::from_millis(50);
    let mut probe = if calibrates(spec) {
        PROBE_WARMUP + PROBE
    } else {
        Duration::ZERO
    };
    if speaks_tls(spec) {
        probe += Duration::from_millis(150);
    }
    (start + upstream + probe + Duration::from_millis(200)) * starts + trial * spec.load.trials
}

impl Lab {
    /// Marks a command with the run and this lab, as everything the lab
    /// starts is marked.
    fn mark(&self, command: &mut Command) {
        command
            .env(RUN_ID_VAR, &self.run_id)
            .env(LAB_VAR, self.owner.to_string());
    }

    pub fn new(
        exe: PathBuf,
        placement: Placement,
        dir: PathBuf,
        run_id: String,
        cancel: &'static AtomicBool,
    ) -> Lab {
        Lab {
            exe,
            placement,
            dir,
            run_id,
            owner: Owner::this(),
            cancel,
            sqlite: None,
            postgres: None,
            postgres_part: None,
            python: None,
            cgroups: Layout::detect(),
            cgroups_made: 0,
            tls: None,
        }
    }

    /// A new cgroup for `role` (stack, upstream, postgres), named after the
    /// run and this lab so that a leftover can be traced; the reason where
    /// none can be made.
    fn cgroup(&mut self, role: &str) -> Result<Arc<Cgroup>, String> {
        let layout = self.cgroups.as_ref().map_err(Clone::clone)?;
        self.cgroups_made += 1;
        let name = format!(
            "framewut-{}-{role}-{}-{}",
            self.run_id, self.cgroups_made, self.owner
        );
        Cgroup::create(layout, &name).map(Arc::new)
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
        let (command, display) = self.stack_command(
            spec,
            served,
            &Wiring {
                upstream: upstream_url.as_deref(),
                upstream_ca: upstream.as_ref().and_then(|u| u.tls.as_ref()),
                db: db.as_deref(),
                python: python.as_ref(),
            },
        )?;
        progress.phase("starting the stack");
        let cgroup = self.cgroup("stack");
        let mut group = Group::spawn(
            command,
            Some(&self.placement.server_cpus),
            cgroup.as_deref().ok(),
        )
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
        let measured = self.measure(spec, progress, &mut group, served, parts, result);

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
        let survivors = kill_pids(&marked, GRACE);
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
        served: Served,
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
        if calibrates(spec) {
            // What a request costs each side, measured apart from the
            // trials and before them, at the cell's own connections in a
            // closed loop: the model predicts the CPU ceilings from it.
            progress.phase("calibrating");
            let mut probe = plan.clone();
            probe.pacing = Pacing::Closed;
            probe.warmup = PROBE_WARMUP;
            probe.stop = Stop::After(PROBE);
            result.calibration = Some(self.one_load(
                &probe,
                &sampler,
                has_upstream,
                spec,
                progress,
                "calibration probe",
            )?);
        }
        // Every trial warms up alike, on the very connections it then
        // measures: a warm-up of its own would leave the server answering its
        // abandoned requests while the trial runs. Later trials first let the
        // server settle the requests the previous one abandoned.
        plan.warmup = spec.load.warmup;
        let model = stall::inputs(
            spec,
            Cpus {
                server: self.placement.server_cpus.count(),
                generator: self.placement.load_cpus.count(),
            },
            result.calibration.as_ref().and_then(Trial::costs),
            result.handshake,
        );
        for k in 1..=spec.load.trials {
            if k > 1 {
                progress.phase("letting the server settle");
                let _ = fetch(
                    port,
                    scenario.path(),
                    spec.load.timeout.max(Duration::from_secs(10)),
                    ca,
                );
            }
            let label = format!("trial {k}/{}", spec.load.trials);
            let trial = self.one_load(&plan, &sampler, has_upstream, spec, progress, &label)?;
            let cancelled = trial.load.cancelled;
            result.trials.push(trial);
            if cancelled {
                return Err(Halt::Interrupted(format!(
                    "stopped by a signal during trial {k}/{}",
                    spec.load.trials
                )));
            }
            if let Some(status) = group.exited() {
                return Err(Halt::Failed(format!(
                    "the stack exited during trial {k} ({status})"
                )));
            }
            let trial = result.trials.last().expect("pushed above");
            if let Some(why) = stall::stalled(spec, k, &trial.load, &model) {
                return Err(Halt::Failed(why));
            }
        }
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

    /// Runs `plan`: its warm-up, then its measured window, calling
    /// `window_opens` as the window begins (to start what measures the
    /// server over it). A load interrupted before it measured anything
    /// halts the cell.
    fn run_load(
        &self,
        plan: &LoadPlan,
        progress: &Progress,
        label: &str,
        window_opens: impl FnOnce() + Send,
    ) -> Result<LoadReport, Halt> {
        progress.phase("warming up");
        let report = std::thread::scope(|scope| {
            let warmup = plan.warmup;
            let cancel = self.cancel;
            scope.spawn(move || {
                let measured_from = Instant::now() + warmup;
                while Instant::now() < measured_from && !cancel.load(Ordering::SeqCst) {
                    std::thread::sleep(
                        Duration::from_millis(5)
                            .min(measured_from.saturating_duration_since(Instant::now())),
                    );
                }
                window_opens();
                progress.phase(label);
            });
            framewut_load::run_until(plan, self.cancel)
        })?;
        if report.cancelled && report.requests == 0 {
            return Err(Halt::Interrupted(format!(
                "stopped by a signal before the {label} measured anything"
            )));
        }
        Ok(report)
    }

    /// Runs one load of `plan` (its warm-up, then its measured window) while
    /// the sampler measures the parts and both CPU sets over the window.
    fn one_load(
        &self,
        plan: &LoadPlan,
        sampler: &Sampler,
        has_upstream: bool,
        spec: &CellSpec,
        progress: &Progress,
        label: &str,
    ) -> Result<Trial, Halt> {
        let report = self.run_load(plan, progress, label, || sampler.begin())?;
        let end = sampler.end();
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
        Ok(Trial {
            load: Summary::of(plan, &report),
            server,
            generator_busy: busy,
            generator_saturated: busy > SATURATED,
            cpus,
            upstream,
            database,
        })
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
