//! What a cell needs started before its stack: the upstream stand-in, the
//! SQLite World file, the Python environment and a throwaway PostgreSQL,
//! each made once where it can be shared, pinned to the server's CPUs and
//! measured in a cgroup of its own.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use framewut_stacks::db::{init_sqlite, TempPostgres};
use framewut_stacks::tls::TestCa;

use super::{free_port, Halt, Lab, ResourceError, Served, Upstream};
use crate::lab::measure::cgroup::CgroupError;
use crate::lab::measure::cpustat::{self, CpuSetUsage};
use crate::lab::measure::parts::{self, Parts, PartsError};
use crate::lab::measure::process::pin_tree;
use crate::lab::measure::procfs;
use crate::lab::measure::sampler::{Members, Part};
use crate::python::{
    check_import, ensure_app_env, ensure_python_env, AppEnv, Meinheld, Progress, PythonEnv,
    SetupOptions, PYTHON_FILES,
};
use crate::spec::{CellSpec, ScenarioSpec, StackSource};

impl Lab {
    /// A cpu or db cell's handler timed alone on the server's CPUs in its
    /// stack's runtime (a built-in stack's by the stack `served` itself),
    /// and the kernel's write of its response; none for a stack framewut
    /// does not run itself (its handler is not ours to call).
    pub(super) fn parts(
        &self,
        spec: &CellSpec,
        served: Served,
        db: Option<&str>,
        python: Option<&PythonEnv>,
    ) -> Result<Option<Parts>, PartsError> {
        let Some(scenario) = spec.scenario.scenario() else {
            return Ok(None);
        };
        let cpu_n = match spec.scenario {
            ScenarioSpec::Cpu { n } => n,
            _ => 0,
        };
        let cpus = &self.placement.server_cpus;
        // framewut's own timing requests run on the generator's CPUs: the
        // work beside them is the rest.
        let own = framewut_sys::process_cpu_clock();
        let before = cpustat::read().map(|s| (std::time::Instant::now(), s));
        let tls = match served.ca {
            Some(ca) => Some(ca.client_config()?),
            None => None,
        };
        // The timed requests go over as many connections at once as the
        // cell's load keeps in flight.
        let at_once = u32::try_from(spec.load.in_flight()).unwrap_or(u32::MAX);
        let load = &self.placement.load_cpus;
        let handler = match (&spec.stack.source, python) {
            (StackSource::BuiltIn { .. }, _) => parts::stack_handler(
                served.port,
                tls.as_ref(),
                (scenario, cpu_n, db),
                at_once,
                load,
            )?,
            (StackSource::Python { .. }, Some(env)) => parts::python_handler(
                served.port,
                tls.as_ref(),
                env,
                (scenario, cpu_n, db),
                (at_once, load),
            )?,
            _ => return Ok(None),
        };
        let Some(timed) = handler else {
            return Ok(None);
        };
        let beside_busy = before.zip(cpustat::read()).map(|((t0, before), after)| {
            let own = (framewut_sys::process_cpu_clock() - own).as_secs_f64();
            CpuSetUsage::between(&before, &after, t0.elapsed(), load, own, procfs::tick())
                .other_share
        });
        let write_us = parts::write_cost(timed.bytes, cpus, load)?;
        let hello_write_us = parts::write_cost(parts::HELLO_BYTES, cpus, load)?;
        Ok(Some(Parts {
            what: timed.what,
            handler_us: timed.us,
            calls: timed.calls,
            workers: Some(timed.workers),
            body_bytes: timed.bytes,
            in_row_us: timed.in_row_us,
            write_us,
            hello_write_us,
            beside_busy,
        }))
    }

    pub(super) fn start_upstream(
        &mut self,
        delay: Duration,
        connect_cost: Duration,
        tls: Option<TestCa>,
    ) -> Result<Upstream, Halt> {
        let port = free_port()?;
        let mut command = Command::new(&self.exe);
        command
            .args(["upstream", "--port", &port.to_string()])
            .args(["--delay", &format!("{}ms", delay.as_millis())]);
        match &tls {
            // Over TLS the real handshake is a new connection's cost.
            Some(ca) => {
                command
                    .arg("--tls")
                    .arg("--cert")
                    .arg(&ca.cert)
                    .arg("--key")
                    .arg(&ca.key);
            }
            None => {
                command.args(["--connect-cost", &format!("{}ms", connect_cost.as_millis())]);
            }
        }
        self.mark(&mut command);
        let cgroup = self.cgroup("upstream");
        let cpus = self.placement.services_cpus().clone();
        let mut group = self
            .spawn(command, &cpus, cgroup.as_deref().ok())
            .map_err(|e| Halt::Failed(format!("cannot start the upstream: {e}")))?;
        match self.wait_ready(
            &mut group,
            port,
            "/__stats",
            Duration::from_secs(10),
            tls.as_ref(),
        ) {
            Ok(()) => Ok(Upstream {
                group,
                port,
                cgroup,
                tls,
            }),
            Err(Halt::Failed(why)) => Err(Halt::Failed(format!(
                "the upstream did not start: {why}; its stderr: {}",
                group.stderr_tail()
            ))),
            Err(other) => Err(other),
        }
    }

    /// The run's SQLite World database, made on first use.
    pub(super) fn sqlite(&mut self) -> Result<String, Halt> {
        let path = self.dir.join("world.sqlite");
        self.sqlite
            .get_or_insert_with(|| {
                // Absolute: a Python stack runs in its apps' directory, not
                // where a relative --out was given.
                let path = std::path::absolute(&path).map_err(|e| ResourceError::Resolve {
                    path: path.clone(),
                    source: Arc::new(e),
                })?;
                init_sqlite(&path)
                    .map(|_| path.display().to_string())
                    .map_err(|e| ResourceError::Sqlite(Arc::new(e)))
            })
            .clone()
            .map_err(|e| Halt::Failed(e.to_string()))
    }

    /// framewut's Python environment, made ready on first use (the first
    /// time ever, this installs the servers with pip); where it cannot be
    /// had, the Python cells are skipped with the reason.
    pub(super) fn python(&mut self) -> Result<PythonEnv, Halt> {
        self.python
            .get_or_insert_with(|| {
                ensure_python_env().map_err(|e| ResourceError::Python(Arc::new(e)))
            })
            .clone()
            .map_err(|e| Halt::Skipped(e.to_string()))
    }

    /// The environment of the app whose requirements file is
    /// `requirements`, made on first use and kept for the run.
    pub(super) fn app_env(&mut self, requirements: &Path) -> Result<AppEnv, Halt> {
        self.apps
            .entry(requirements.to_path_buf())
            .or_insert_with(|| {
                let options = SetupOptions {
                    progress: Progress::Quiet,
                    ..SetupOptions::from_env()
                };
                ensure_app_env(requirements, &options).map_err(|e| ResourceError::App(Arc::new(e)))
            })
            .clone()
            .map_err(|e| Halt::Failed(e.to_string()))
    }

    /// Whether the app imports in its environment (checked once per app),
    /// so that an app that cannot start fails with its own error, not a
    /// server's timeout.
    pub(super) fn app_imports(
        &mut self,
        env: &AppEnv,
        dir: &Path,
        target: &str,
        patched: bool,
    ) -> Result<(), Halt> {
        self.imports
            .entry((dir.to_path_buf(), target.to_string(), patched))
            .or_insert_with(|| {
                check_import(env, dir, target, patched).map_err(|e| ResourceError::App(Arc::new(e)))
            })
            .clone()
            .map_err(|e| Halt::Failed(e.to_string()))
    }

    /// Versions of what the Python stacks ran on, once the environment has
    /// been used: the interpreter and every pinned package (the pins are
    /// exact, so reading them costs nothing).
    pub fn python_tools(&self) -> Vec<(String, String)> {
        let Some(Ok(env)) = &self.python else {
            return Vec::new();
        };
        let mut tools = vec![("python".to_string(), env.python_version.clone())];
        for (name, text) in PYTHON_FILES {
            if !name.starts_with("requirements") {
                continue;
            }
            for line in text.lines() {
                if let Some((package, version)) = line.trim().split_once("==") {
                    if package != "meinheld" || env.meinheld == Meinheld::Installed {
                        tools.push((package.to_string(), version.trim().to_string()));
                    }
                }
            }
        }
        tools
    }

    /// A throwaway PostgreSQL server for the run, started on first use on
    /// the server's CPUs and in a cgroup of its own where one can be made; a
    /// machine without PostgreSQL skips the cells that need it.
    pub(super) fn postgres(&mut self) -> Result<String, Halt> {
        if self.postgres.is_none() {
            let started = TempPostgres::start().map_err(|e| ResourceError::Postgres(Arc::new(e)));
            if let Ok(pg) = &started {
                self.postgres_part = Some(self.place_postgres(pg.pid() as i32));
            }
            self.postgres = Some(started);
        }
        match self.postgres.as_ref().expect("set above") {
            Ok(pg) => Ok(pg.url().to_string()),
            Err(why) => Err(Halt::Skipped(why.to_string())),
        }
    }

    /// Moves PostgreSQL's running server and the processes it has forked
    /// onto the server's CPUs and into a cgroup; what it forks later
    /// inherits both. The server goes first, so that a process it forks
    /// meanwhile is either moved with it or found among its children.
    pub(super) fn place_postgres(&mut self, pid: i32) -> Part {
        let mut cgroup = self.cgroup("postgres");
        if let Ok(c) = &cgroup {
            match c.add(pid) {
                // A child that exits meanwhile needs no moving.
                Ok(()) => procfs::tree(&procfs::all(), pid)
                    .iter()
                    .filter(|p| p.pid != pid)
                    .for_each(|p| drop(c.add(p.pid))),
                Err(e) => {
                    cgroup = Err(CgroupError::Move {
                        what: "PostgreSQL",
                        source: Arc::new(e),
                    })
                }
            }
        }
        let cpus = self.placement.services_cpus().clone();
        pin_tree(pid, &cpus);
        Part::new(Members::Tree(pid), &cgroup)
    }
}
