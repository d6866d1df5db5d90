//! The command line that starts a cell's stack: `framewut serve` for a
//! built-in stack, the Python stack's server from framewut's environment,
//! a user's app under a server from the app's own environment, or an
//! external stack's command, each with the scenario's options and the
//! run's id in its environment.

use std::path::PathBuf;
use std::process::Command;

use super::{Halt, Lab, Served};
use framewut_stacks::tls::TestCa;

use crate::python::{
    find_python_stack, patch_shim, AppEnv, AppLaunch, PythonEnv, PythonOptions, ServerCert,
    PATCH_SHIM,
};
use crate::spec::{CellSpec, ScenarioSpec, StackSource};

/// What a cell's stack is handed besides its spec and where it listens.
pub(super) struct Wiring<'a> {
    /// The upstream's URL, for an upstream cell.
    pub(super) upstream: Option<&'a str>,
    /// The CA to trust for an https:// upstream.
    pub(super) upstream_ca: Option<&'a TestCa>,
    /// The database, for a db cell.
    pub(super) db: Option<&'a str>,
    /// The Python environment, for a Python stack.
    pub(super) python: Option<&'a PythonEnv>,
    /// The app's own environment, for an app stack.
    pub(super) app: Option<&'a AppEnv>,
}

impl Lab {
    /// The command that starts the cell's stack, and how to show it: on
    /// `served`'s port, with the test CA's certificate when it serves HTTPS,
    /// and with what `wiring` hands it.
    pub(super) fn stack_command(
        &self,
        spec: &CellSpec,
        served: Served,
        wiring: &Wiring,
    ) -> Result<(Command, String), Halt> {
        let Served {
            port,
            ca: serve_tls,
        } = served;
        let Wiring {
            upstream,
            upstream_ca,
            db,
            python,
            app,
        } = *wiring;
        let mut scenario_env: Vec<(&str, String)> = vec![
            ("FRAMEWUT_PORT", port.to_string()),
            ("FRAMEWUT_WORKERS", spec.stack.workers.to_string()),
            ("FRAMEWUT_SCENARIO", spec.scenario.name().to_string()),
        ];
        let mut scenario_args: Vec<String> = Vec::new();
        match &spec.scenario {
            ScenarioSpec::Hello => {}
            ScenarioSpec::Sleep { sleep } => {
                let ms = sleep.as_millis().to_string();
                scenario_args.extend(["--sleep-ms".into(), ms.clone()]);
                scenario_env.push(("FRAMEWUT_SLEEP_MS", ms));
            }
            ScenarioSpec::Cpu { n } => {
                scenario_args.extend(["--cpu-n".into(), n.to_string()]);
                scenario_env.push(("FRAMEWUT_CPU_N", n.to_string()));
            }
            ScenarioSpec::Upstream { .. } | ScenarioSpec::Db { .. } | ScenarioSpec::Custom(_) => {}
        }
        if let Some(url) = upstream {
            scenario_args.extend(["--upstream".into(), url.to_string()]);
            scenario_env.push(("FRAMEWUT_UPSTREAM_URL", url.to_string()));
        }
        if let Some(db) = db {
            scenario_args.extend(["--db".into(), db.to_string()]);
            scenario_env.push(("FRAMEWUT_DB", db.to_string()));
        }
        let (mut command, display) = match &spec.stack.source {
            StackSource::BuiltIn {
                id,
                variant_request,
                close,
                ..
            } => {
                let mut args: Vec<String> = vec![
                    "serve".into(),
                    id.clone(),
                    "--port".into(),
                    port.to_string(),
                    "--workers".into(),
                    spec.stack.workers.to_string(),
                ];
                if let Some(v) = variant_request {
                    args.extend(["--variant".into(), v.to_string()]);
                }
                if *close {
                    args.push("--close".into());
                }
                if let Some(ca) = serve_tls {
                    args.extend([
                        "--tls".into(),
                        "--cert".into(),
                        ca.cert.display().to_string(),
                        "--key".into(),
                        ca.key.display().to_string(),
                    ]);
                }
                if let Some(ca) = upstream_ca {
                    args.extend(["--upstream-ca".into(), ca.ca.display().to_string()]);
                }
                args.extend(scenario_args);
                let mut command = Command::new(&self.exe);
                command.args(&args);
                (command, format!("framewut {}", args.join(" ")))
            }
            StackSource::Python {
                id, sleep, client, ..
            } => {
                let stack = find_python_stack(id).map_err(|e| Halt::Failed(e.to_string()))?;
                let env =
                    python.expect("the Python environment is made before a Python stack starts");
                let mut options = PythonOptions {
                    sleep_mode: Some(*sleep),
                    client: Some(*client),
                    upstream_url: upstream.map(str::to_string),
                    db: db.map(str::to_string),
                    tls: serve_tls.map(|ca| ServerCert {
                        cert: ca.cert.clone(),
                        key: ca.key.clone(),
                    }),
                    upstream_ca: upstream_ca.map(|ca| ca.ca.clone()),
                    ..PythonOptions::default()
                };
                match spec.scenario {
                    ScenarioSpec::Sleep { sleep } => options.sleep = sleep,
                    ScenarioSpec::Cpu { n } => options.cpu_n = u64::from(n),
                    _ => {}
                }
                let launch = stack
                    .launch(env, port, spec.stack.workers as u32, &options)
                    .map_err(|e| Halt::Skipped(e.to_string()))?;
                (launch.command(), launch.display())
            }
            StackSource::External { command, .. } => {
                let line = command
                    .replace("{port}", &port.to_string())
                    .replace("{workers}", &spec.stack.workers.to_string());
                let mut command = Command::new("sh");
                command.args(["-c", &line]);
                (command, line)
            }
            StackSource::App {
                app: target,
                interface,
                dir,
                server,
                threads,
                patched,
                ..
            } => {
                let env = app.expect("the app's environment is made before its stack starts");
                let shim_dir = match server.patches(*patched) {
                    true => Some(self.patch_shim(&spec.stack.label, target)?),
                    false => None,
                };
                let cert = serve_tls.map(|ca| ServerCert {
                    cert: ca.cert.clone(),
                    key: ca.key.clone(),
                });
                let launch = server
                    .launch(&AppLaunch {
                        python: &env.python(),
                        dir,
                        target,
                        interface: *interface,
                        shim_dir: shim_dir.as_deref(),
                        port,
                        workers: spec.stack.workers as u32,
                        threads: threads.unwrap_or(1),
                        tls: cert.as_ref(),
                    })
                    .map_err(|e| Halt::Skipped(e.to_string()))?;
                if let Some(ca) = upstream_ca {
                    let ca = ca.ca.display().to_string();
                    scenario_env.push(("REQUESTS_CA_BUNDLE", ca.clone()));
                    scenario_env.push(("SSL_CERT_FILE", ca));
                }
                (launch.command(), launch.display())
            }
            StackSource::Remote { .. } => {
                unreachable!("a remote stack is loaded where it runs, never started")
            }
        };
        command.envs(scenario_env).envs(&spec.stack.env);
        self.mark(&mut command);
        Ok((command, display))
    }

    /// The directory of the module that patches with gevent, then imports
    /// the app `target`, written into the run's directory for this stack.
    fn patch_shim(&self, label: &str, target: &str) -> Result<PathBuf, Halt> {
        let (module, attribute) = target
            .split_once(':')
            .ok_or_else(|| Halt::Failed(format!("app = {target:?} is not MODULE:ATTRIBUTE")))?;
        let dir = self.dir.join("shims").join(label.replace('/', "_"));
        let path = dir.join(format!("{PATCH_SHIM}.py"));
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, patch_shim(module, attribute)))
            .map_err(|e| Halt::Failed(format!("cannot write {}: {e}", path.display())))?;
        std::path::absolute(&dir)
            .map_err(|e| Halt::Failed(format!("cannot resolve {}: {e}", dir.display())))
    }
}
