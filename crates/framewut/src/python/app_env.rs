//! A user's own Python web app's virtual environment: the app's requirements
//! and the servers framewut runs it under, pinned, installed together.
//!
//! Each app gets a directory of its own in framewut's data directory
//! ([`framewut_stacks::data_dir`]), `apps/<hash>/`, named by a hash of the
//! interpreter, the app's requirements file and the servers' pins:
//!
//! - `venv/`: the virtual environment, with `venv/.framewut-stamp` recording
//!   the hash and the servers that did not import;
//! - `servers.txt` and `requirements-nodeps.txt`: the servers' pins, as pip
//!   was given them.
//!
//! An unchanged requirements file finds its environment by the hash and
//! reuses it without running pip. A changed one hashes differently, so it
//! gets a new directory; the old one is left as it is.
//!
//! ```no_run
//! use std::path::Path;
//! use framewut::python::{check_import, ensure_app_env, SetupOptions};
//!
//! let env = ensure_app_env(Path::new("shop/requirements.txt"), &SetupOptions::from_env())
//!     .expect("the app's requirements install");
//! check_import(&env, Path::new("shop"), "shop.wsgi:application", false)
//!     .expect("the app imports");
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::env::{
    create_dir, interpreter, lock, pip, run_step, write_atomically, Fnv1a, Interpreter, Progress,
    SetupOptions, PYTHON_FILES,
};
use super::error::{AppEnvError, PythonUnavailable};

/// The servers and worker classes every app's environment gets, pinned
/// exactly with their dependencies (meinheld aside: it comes from
/// `requirements-nodeps.txt`).
pub const SERVERS: &str = include_str!("../../../../python/servers.txt");

/// The server modules tried after an install, as [`AppEnv::missing`] names them.
pub const SERVER_MODULES: &[&str] = &[
    "gunicorn",
    "gevent",
    "meinheld",
    "uvicorn",
    "granian",
    "hypercorn",
];

const SERVERS_FILE: &str = "servers.txt";
const NODEPS_FILE: &str = "requirements-nodeps.txt";
const STAMP: &str = ".framewut-stamp";

/// How long an app's import may take before [`check_import`] gives up on it.
const IMPORT_LIMIT: Duration = Duration::from_secs(120);

/// How long a command's output is waited for once it has exited (a process
/// it started may hold the pipe open).
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// A user's app's own environment, ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEnv {
    /// The virtual environment's directory, `apps/<hash>/venv` in the data directory.
    pub venv: PathBuf,
    /// The interpreter's version, e.g. `3.11.7`.
    pub python_version: String,
    /// Servers whose module did not import, by server module name
    /// (`meinheld`, `gevent`, `granian`, `hypercorn`, `uvicorn`, `gunicorn`),
    /// with why: the exception's last line, or the build failure.
    pub missing: BTreeMap<String, String>,
    /// True when this call installed the environment; false when its stamp matched.
    pub installed_now: bool,
}

impl AppEnv {
    /// The virtual environment's interpreter.
    pub fn python(&self) -> PathBuf {
        self.bin().join("python")
    }

    /// The virtual environment's `bin` directory: the interpreter, and the
    /// servers' programs (gunicorn, uvicorn, granian, hypercorn, py-spy).
    pub fn bin(&self) -> PathBuf {
        self.venv.join("bin")
    }
}

/// Makes or reuses the environment for the app whose requirements file is
/// `requirements`.
///
/// A new environment gets the app's requirements and the servers in one pip
/// call, so pip resolves them together (run from the requirements file's
/// directory, so a `-e .` or `./package` line in it means the app's own
/// code), then meinheld without its dependencies; a meinheld that does not
/// build is recorded in [`AppEnv::missing`], not an error. Files the
/// requirements file names (`-r`, `-c`) are not part of the hash: a change to
/// them alone reuses the environment.
///
/// Holds `apps.lock` in the data directory meanwhile, so two framewut
/// processes never install the same environment at once.
pub fn ensure_app_env(requirements: &Path, options: &SetupOptions) -> Result<AppEnv, AppEnvError> {
    let wanted = match fs::read(requirements) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(AppEnvError::NoRequirements {
                path: requirements.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(AppEnvError::Io {
                step: format!("reading {}", requirements.display()),
                source,
            })
        }
    };
    let python = interpreter(&options.python)?;
    let hash = app_hash(&python, &wanted);

    let root = &options.data_dir;
    create_dir(root)?;
    let _lock = lock(&root.join("apps.lock"))?;

    let dir = root.join("apps").join(&hash);
    let venv = dir.join("venv");
    let stamp_path = venv.join(STAMP);
    let venv_python = venv.join("bin").join("python");
    if !options.force && venv_python.exists() {
        let recorded = fs::read_to_string(&stamp_path).ok();
        if let Some(missing) = recorded.as_deref().and_then(|text| read_stamp(text, &hash)) {
            return Ok(AppEnv {
                venv,
                python_version: python.version,
                missing,
                installed_now: false,
            });
        }
    }

    // No stamp, or a stale one: an install that failed or was cut short.
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|source| AppEnvError::Io {
            step: format!("removing {}", venv.display()),
            source,
        })?;
    }
    create_dir(&dir)?;
    let servers = dir.join(SERVERS_FILE);
    write_atomically(&servers, SERVERS)?;
    let nodeps = dir.join(NODEPS_FILE);
    write_atomically(&nodeps, nodeps_text())?;
    if options.progress == Progress::Show {
        eprintln!(
            "framewut: making a Python {} environment for {} in {}",
            python.version,
            requirements.display(),
            venv.display()
        );
    }
    run_step(
        "making the app's virtual environment",
        Command::new(&options.python)
            .arg("-m")
            .arg("venv")
            .arg(&venv),
        options.progress,
    )?;
    install(&venv_python, requirements, &servers, options.progress)?;
    let meinheld = build_meinheld(&venv_python, &nodeps, &dir, options.progress)?;
    let mut missing = probe_servers(&venv_python)?;
    if let Err(reason) = meinheld {
        missing.insert("meinheld".to_string(), reason);
    }
    if options.progress == Progress::Show {
        for (name, why) in &missing {
            eprintln!("framewut: {name} does not import in the app's environment: {why}");
        }
    }
    write_atomically(&stamp_path, &stamp_text(&hash, &missing))?;
    Ok(AppEnv {
        venv,
        python_version: python.version,
        missing,
        installed_now: true,
    })
}

/// Imports `target` (`package.module:attribute`) in the app's environment
/// with `dir` as the working directory and first on `PYTHONPATH`; with
/// `patched`, runs `from gevent import monkey; monkey.patch_all()` first.
///
/// Ok when the attribute exists and is callable; otherwise the error carries
/// the exception's type and message (the last line of the traceback), e.g.
/// `ModuleNotFoundError: No module named 'shopx'`. An import that takes
/// longer than two minutes is stopped and reported as such.
pub fn check_import(
    env: &AppEnv,
    dir: &Path,
    target: &str,
    patched: bool,
) -> Result<(), AppEnvError> {
    let (module, attribute) = split_target(target).ok_or_else(|| AppEnvError::BadTarget {
        target: target.to_string(),
    })?;
    // Absolute, as the child starts in `dir`: a relative path would be read
    // from there.
    let absolute = |path: &Path, what: &str| {
        fs::metadata(path)
            .and_then(|_| std::path::absolute(path))
            .map_err(|source| AppEnvError::Io {
                step: format!("opening {what} {}", path.display()),
                source,
            })
    };
    let dir = absolute(dir, "the app's directory")?;
    let python = absolute(&env.python(), "the environment's interpreter")?;
    let pythonpath = match std::env::var_os("PYTHONPATH") {
        Some(inherited) if !inherited.is_empty() => {
            let mut joined = dir.clone().into_os_string();
            joined.push(":");
            joined.push(inherited);
            joined
        }
        _ => dir.clone().into_os_string(),
    };
    let mut command = Command::new(&python);
    command
        .arg("-c")
        .arg(IMPORT)
        .arg(if patched { "1" } else { "0" })
        .arg(module)
        .arg(attribute)
        .current_dir(&dir)
        .env("PYTHONPATH", pythonpath);
    let run =
        capture(&mut command, false, Some(IMPORT_LIMIT)).map_err(|source| AppEnvError::Io {
            step: format!("starting {}", python.display()),
            source,
        })?;
    let answer = run
        .text
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(IMPORT_MARKER));
    let said = match (run.status, answer) {
        (_, Some("ok")) => return Ok(()),
        (_, Some(said)) => said.to_string(),
        (None, None) => format!(
            "importing it did not finish in {} s; it may wait at import time on something \
             that is not there (a database, the network, input)",
            IMPORT_LIMIT.as_secs()
        ),
        (Some(status), None) => format!(
            "the interpreter ended ({status}) without an answer: {}",
            last_lines(&run.text, 6)
        ),
    };
    Err(AppEnvError::Import {
        target: target.to_string(),
        said,
    })
}

/// What [`check_import`]'s Python prints before its answer, on a line of
/// its own: the app may print too.
const IMPORT_MARKER: &str = "framewut-import\t";

/// Imports the module and looks the attribute up; prints `ok`, or the
/// exception's last line (its notes left out, a multi-line message joined).
/// `os._exit` so that threads the app started cannot keep it alive.
const IMPORT: &str = r#"import importlib, os, sys, traceback
patched, module, attribute = sys.argv[1:4]
def said(err):
    try:
        del err.__notes__
    except Exception:
        pass
    last = traceback.format_exception_only(type(err), err)[-1]
    return " | ".join(line.strip() for line in last.splitlines() if line.strip())
try:
    if patched == "1":
        from gevent import monkey
        monkey.patch_all()
    found = importlib.import_module(module)
    for name in attribute.split("."):
        found = getattr(found, name)
    if callable(found):
        answer = "ok"
    else:
        answer = f"{module}:{attribute} is {type(found).__name__!r}, not a callable app"
except BaseException as err:
    answer = said(err)
print("\nframewut-import\t" + answer, flush=True)
sys.stderr.flush()
os._exit(0)
"#;

/// The module and attribute of `MODULE:ATTRIBUTE`, each dotted Python names.
fn split_target(target: &str) -> Option<(&str, &str)> {
    let (module, attribute) = target.split_once(':')?;
    let dotted = |text: &str| !text.is_empty() && text.split('.').all(identifier);
    (dotted(module) && dotted(attribute)).then_some((module, attribute))
}

fn identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|first| first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// The one pip call: the app's requirements and the servers, resolved together.
fn install(
    venv_python: &Path,
    requirements: &Path,
    servers: &Path,
    progress: Progress,
) -> Result<(), AppEnvError> {
    let io_error = |step: String| move |source| AppEnvError::Io { step, source };
    let wanted = fs::canonicalize(requirements)
        .map_err(io_error(format!("finding {}", requirements.display())))?;
    let servers =
        std::path::absolute(servers).map_err(io_error(format!("finding {}", servers.display())))?;
    let mut command = pip(venv_python);
    command.arg("-r").arg(&wanted).arg("-r").arg(&servers);
    if let Some(parent) = wanted.parent() {
        command.current_dir(parent);
    }
    let run = capture(&mut command, progress == Progress::Show, None)
        .map_err(io_error("starting pip".to_string()))?;
    if run.status.is_some_and(|status| status.success()) {
        Ok(())
    } else {
        Err(AppEnvError::Install {
            requirements: requirements.to_path_buf(),
            said: pip_said(&run.text),
        })
    }
}

/// meinheld, without its dependencies; Err says why it did not build.
fn build_meinheld(
    venv_python: &Path,
    nodeps: &Path,
    dir: &Path,
    progress: Progress,
) -> Result<Result<(), String>, AppEnvError> {
    let run = capture(
        pip(venv_python).arg("--no-deps").arg("-r").arg(nodeps),
        progress == Progress::Show,
        None,
    )
    .map_err(|source| AppEnvError::Io {
        step: "starting pip to build meinheld".to_string(),
        source,
    })?;
    if run.status.is_some_and(|status| status.success()) {
        return Ok(Ok(()));
    }
    Ok(Err(format!(
        "meinheld did not build ({}); it builds from source and needs a C compiler and \
         Python's headers (Debian: apt-get install gcc python3-dev); once they are there, \
         remove {} and framewut makes the environment again",
        pip_said(&run.text),
        dir.display()
    )))
}

/// Tries each server module in one interpreter, isolated from `PYTHONPATH`
/// and the working directory, and prints `NAME<TAB>ExceptionType: message`
/// for each that fails.
const PROBE: &str = r#"import importlib, sys, traceback
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as err:
        last = traceback.format_exception_only(type(err), err)[-1]
        said = " | ".join(line.strip() for line in last.splitlines() if line.strip())
        print(f"{name}\t{said}", flush=True)
"#;

/// The servers whose module does not import, with why.
fn probe_servers(venv_python: &Path) -> Result<BTreeMap<String, String>, AppEnvError> {
    let step = "trying which servers import";
    let run = capture(
        Command::new(venv_python)
            .arg("-I")
            .arg("-c")
            .arg(PROBE)
            .args(SERVER_MODULES),
        false,
        Some(IMPORT_LIMIT),
    )
    .map_err(|source| PythonUnavailable::Io {
        step: step.to_string(),
        source,
    })?;
    if !run.status.is_some_and(|status| status.success()) {
        return Err(PythonUnavailable::Failed {
            step: step.to_string(),
            detail: match run.status {
                Some(status) => format!("{status}: {}", last_lines(&run.text, 6)),
                None => format!("no answer in {} s", IMPORT_LIMIT.as_secs()),
            },
        }
        .into());
    }
    Ok(read_probe(&run.text))
}

fn read_probe(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(name, _)| SERVER_MODULES.contains(name))
        .map(|(name, said)| (name.to_string(), said.trim().to_string()))
        .collect()
}

/// The hash naming the app's directory: everything its environment is made from.
fn app_hash(python: &Interpreter, requirements: &[u8]) -> String {
    let mut hash = Fnv1a::new();
    hash.add(python.version.as_bytes());
    hash.add(python.executable.as_bytes());
    hash.add(requirements);
    hash.add(SERVERS.as_bytes());
    hash.add(nodeps_text().as_bytes());
    // The stamp records what these did; another list must probe again.
    hash.add(SERVER_MODULES.join(" ").as_bytes());
    format!("{:016x}", hash.0)
}

/// The meinheld pin, from the copy env.rs embeds.
fn nodeps_text() -> &'static str {
    PYTHON_FILES
        .iter()
        .find(|(name, _)| *name == NODEPS_FILE)
        .map(|(_, text)| *text)
        .expect("requirements-nodeps.txt is among PYTHON_FILES")
}

/// The stamp: the hash, then a `missing NAME: why` line per server that did
/// not import.
fn stamp_text(hash: &str, missing: &BTreeMap<String, String>) -> String {
    let mut text = format!("{hash}\n");
    for (name, why) in missing {
        let why = why.lines().collect::<Vec<_>>().join(" | ");
        text.push_str(&format!("missing {name}: {why}\n"));
    }
    text
}

/// The recorded missing servers, when the recorded hash is the expected one.
fn read_stamp(text: &str, expected: &str) -> Option<BTreeMap<String, String>> {
    let mut lines = text.lines();
    if lines.next()? != expected {
        return None;
    }
    lines
        .map(|line| {
            let (name, why) = line.strip_prefix("missing ")?.split_once(": ")?;
            Some((name.to_string(), why.to_string()))
        })
        .collect()
}

/// pip's own account of a failure, on one line: the compiler's errors before
/// its first `ERROR:` line (a build that failed), then that line and what
/// follows (a conflict and its causes); the last lines when it has none.
fn pip_said(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let Some(first) = lines.iter().position(|line| line.starts_with("ERROR:")) else {
        return last_lines(text, 6);
    };
    let causes = lines[..first]
        .iter()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            (lower.starts_with("error:")
                || lower.contains("fatal error")
                || lower.contains(": error:"))
                && !lower.contains("subprocess-exited-with-error")
        })
        .take(2);
    let said: Vec<&str> = causes
        .chain(lines[first..].iter().take(16))
        .copied()
        .collect();
    said.join(" | ")
}

/// The last `count` non-empty lines of a command's output, on one line.
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

/// How a command ended, and all it printed, its standard output and error
/// interleaved as they came.
struct Captured {
    /// None when it ran past its time and was killed.
    status: Option<ExitStatus>,
    text: String,
}

/// Runs a command with its output kept; with `echo` it also goes to standard
/// error as it comes (standard output stays free for framewut's results).
fn capture(command: &mut Command, echo: bool, limit: Option<Duration>) -> io::Result<Captured> {
    let (reader, writer) = io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let spawned = command.spawn();
    // The command keeps its copies of the pipe's writing end until replaced:
    // drop them, so the reader sees the end once the child has exited.
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = spawned?;

    let text = Arc::new(Mutex::new(String::new()));
    let (done, finished) = mpsc::channel();
    let kept = Arc::clone(&text);
    thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(read) if read > 0) {
            if echo {
                let _ = io::stderr().write_all(&line);
            }
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
        let _ = done.send(());
    });

    let status = match limit {
        None => Some(child.wait()?),
        Some(limit) => wait_for(&mut child, limit)?,
    };
    let _ = finished.recv_timeout(OUTPUT_GRACE);
    let text = text.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(Captured { status, text })
}

/// Waits up to `limit` for the child to exit; kills it past that (None).
fn wait_for(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
#[path = "app_env_tests.rs"]
mod tests;
