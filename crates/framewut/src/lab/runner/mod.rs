//! Runs one cell: starts what its scenario needs (an upstream, a database)
//! on the server's CPUs, starts the stack as its own process group on its
//! CPUs, each in a cgroup of its own where the machine allows, waits until it
//! answers, verifies it against the contract, warms up, runs the trials while
//! measuring the stack, the upstream, the database and the CPUs' own
//! counters, and stops everything it started, daemons included.

mod aim;
mod command;
pub mod drift;
mod estimate;
pub mod knee;
pub mod phases;
pub mod progress;
mod remote;
pub mod schedule;
mod services;
pub mod stall;
pub mod table;
mod trials;
mod windows;

use std::collections::BTreeMap;
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
use crate::lab::measure::idle::{CpuIdle, IdleHold, IdleRecord};
use crate::lab::measure::leftovers::{Owner, LAB_VAR, RUN_ID_VAR};
use crate::lab::measure::parts::PartsError;
use crate::lab::measure::process::{Group, GRACE};
use crate::lab::measure::procfs;
use crate::lab::measure::profile::{self, Caught};
use crate::lab::measure::sampler::{Members, Part, Sampler, WindowEnd};
use crate::lab::measure::syscalls::{self, CountError, Counted, Counting, Syscalls};
use crate::lab::measure::wakeups::Witness;
use crate::lab::results::{
    CellResult, Drained, Phase, Settling, StackProcess, Status, Trial, SATURATED,
};
use crate::model::Cpus;
use crate::python::{AppEnv, PythonEnv};
use crate::spec::{CellSpec, Database, PacingSpec, ScenarioSpec, StackSource};
pub use estimate::{calibrates, estimate, speaks_tls};
use estimate::{PROBE, PROBE_WARMUP};
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

/// Why something the lab makes once for a run (the test CA, the SQLite
/// database, the Python environment, a PostgreSQL server) cannot be had.
/// Kept, and cloned into every cell that needs it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResourceError {
    #[error("cannot make the test CA in {} ({source}); `framewut tls init` says more", .dir.display())]
    TestCa {
        dir: PathBuf,
        #[source]
        source: Arc<framewut_stacks::tls::TlsError>,
    },
    #[error("cannot resolve {}: {source}", .path.display())]
    Resolve {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("cannot make the SQLite World database: {0}")]
    Sqlite(#[source] Arc<framewut_stacks::db::DbError>),
    #[error(transparent)]
    Python(Arc<crate::python::PythonUnavailable>),
    #[error("no PostgreSQL server could be started: {0}")]
    Postgres(#[source] Arc<framewut_stacks::db::DbError>),
    /// A user's app's environment could not be made, or the app does not
    /// import in it.
    #[error(transparent)]
    App(Arc<crate::python::AppEnvError>),
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
    /// The CPU latency request held while the lab lives, and what it got.
    _idle: IdleHold,
    idle: IdleRecord,
    sqlite: Option<Result<String, ResourceError>>,
    postgres: Option<Result<TempPostgres, ResourceError>>,
    /// How PostgreSQL's processes are measured. After `postgres`, so that
    /// the server has stopped when its cgroup is removed.
    postgres_part: Option<Part>,
    python: Option<Result<PythonEnv, ResourceError>>,
    /// Each user app's environment, by its requirements file.
    apps: BTreeMap<PathBuf, Result<AppEnv, ResourceError>>,
    /// Whether each app (its directory, `module:attribute` and whether
    /// patched) imports in its environment.
    imports: BTreeMap<(PathBuf, String, bool), Result<(), ResourceError>>,
    /// Where cgroups can be made, or why not.
    cgroups: Result<Layout, CgroupError>,
    /// Cgroups made so far, to name each apart.
    cgroups_made: u32,
    /// framewut's test CA, made on first use by a cell that speaks TLS.
    tls: Option<Result<TestCa, ResourceError>>,
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

/// What a cell's stack needs running before it starts.
struct Needs {
    ca: Option<TestCa>,
    upstream: Option<Upstream>,
    db: Option<String>,
    python: Option<PythonEnv>,
    app: Option<AppEnv>,
}

/// GETs `path` from a server the lab started on `port`, over HTTPS
/// trusting `ca` when there is one.
fn fetch(
    port: u16,
    path: &str,
    timeout: Duration,
    ca: Option<&TestCa>,
) -> Result<contract::Response, FetchError> {
    Ok(match ca {
        None => contract::fetch(port, path, timeout)?,
        Some(ca) => contract::fetch_https(port, path, timeout, &ca.client_config()?)?,
    })
}

/// Why a GET to a server the lab started got no answer.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Contract(#[from] contract::ContractError),
    #[error(transparent)]
    Tls(#[from] framewut_stacks::tls::TlsError),
}

fn free_port() -> Result<u16, Halt> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Halt::Failed(format!("cannot find a free port: {e}")))
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
        idle: CpuIdle,
    ) -> std::io::Result<Lab> {
        let owner = Owner::this();
        let guard = Guard::start(&exe, &run_id, owner)?;
        let (hold, idle) = IdleHold::take(idle);
        Ok(Lab {
            exe,
            placement,
            dir,
            run_id,
            owner,
            cancel,
            _idle: hold,
            idle,
            sqlite: None,
            postgres: None,
            postgres_part: None,
            python: None,
            apps: BTreeMap::new(),
            imports: BTreeMap::new(),
            cgroups: Layout::detect(),
            cgroups_made: 0,
            tls: None,
            guard,
        })
    }

    /// How deep idle CPUs may sleep while this lab measures.
    pub fn idle(&self) -> &IdleRecord {
        &self.idle
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
                TestCa::ensure(&dir).map_err(|e| ResourceError::TestCa {
                    dir,
                    source: Arc::new(e),
                })
            })
            .clone()
            .map_err(|e| Halt::Failed(e.to_string()))
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
            return self.run_remote(spec, progress, result, url, ready_path, metrics.as_ref());
        }
        let Needs {
            ca,
            upstream,
            db,
            python,
            app,
        } = self.start_needs(spec, progress, result)?;
        let port = free_port()?;
        let upstream_url = upstream.as_ref().map(|u| {
            let scheme = if u.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://127.0.0.1:{}/", u.port)
        });
        let served = Served {
            port,
            ca: ca.as_ref().filter(|_| spec.stack.tls),
        };
        let wiring = Wiring {
            upstream: upstream_url.as_deref(),
            upstream_ca: upstream.as_ref().and_then(|u| u.tls.as_ref()),
            db: db.as_deref(),
            python: python.as_ref(),
            app: app.as_ref(),
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
        let database = match spec.scenario.database() {
            Some((Database::Postgres, None)) => self.postgres_part.clone(),
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
        self.stop_cell(progress, &mut group, &cgroup, upstream, result);
        measured?;
        let record = result.stack_process.as_ref().expect("set above");
        if !record.survivors.is_empty() {
            return Err(Halt::Failed(format!(
                "processes {:?} of the stack survived SIGKILL",
                record.survivors
            )));
        }
        Ok(())
    }

    /// Starts what a cell's stack needs before it starts: the test CA
    /// (timing its handshake), the upstream, the database, the Python
    /// environment.
    fn start_needs(
        &mut self,
        spec: &CellSpec,
        progress: &Progress,
        result: &mut CellResult,
    ) -> Result<Needs, Halt> {
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
        let upstream = match spec.scenario.upstream() {
            Some(need) => {
                progress.phase("starting the upstream");
                let tls = ca.clone().filter(|_| need.tls);
                Some(self.start_upstream(need.delay, need.connect_cost, tls)?)
            }
            None => None,
        };
        let db = match spec.scenario.database() {
            Some((Database::Sqlite, _)) => Some(self.sqlite()?),
            Some((Database::Postgres, Some(url))) => Some(url.to_string()),
            Some((Database::Postgres, None)) => {
                progress.phase("starting PostgreSQL");
                Some(self.postgres()?)
            }
            None => None,
        };
        let python = match spec.stack.source {
            StackSource::Python { .. } => {
                progress.phase("making the Python environment ready");
                Some(self.python()?)
            }
            _ => None,
        };
        let app = match &spec.stack.source {
            StackSource::App {
                app,
                dir,
                requirements,
                server,
                patched,
                ..
            } => {
                progress.phase("making the app's environment ready");
                let env = self.app_env(requirements)?;
                if let Some(why) = env.missing.get(server.module()) {
                    return Err(Halt::Skipped(format!(
                        "{server} cannot run: {} did not install or import in the app's environment ({why})",
                        server.module()
                    )));
                }
                self.app_imports(&env, dir, app, server.patches(*patched))?;
                Some(env)
            }
            _ => None,
        };
        Ok(Needs {
            ca,
            upstream,
            db,
            python,
            app,
        })
    }

    /// Stops a cell's stack and its upstream, and kills whatever of them
    /// escaped (found in their cgroups, or by the run's mark), noting each
    /// in the result.
    fn stop_cell(
        &mut self,
        progress: &Progress,
        group: &mut Group,
        cgroup: &Result<Arc<Cgroup>, CgroupError>,
        upstream: Option<Upstream>,
        result: &mut CellResult,
    ) {
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
