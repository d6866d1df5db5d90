//! framewut's own Python virtual environment: made, filled and kept current.
//!
//! The pinned requirements and the Python apps are compiled into the binary,
//! so a `framewut` run from anywhere can set them up. Everything lives in
//! framewut's data directory ([`framewut_stacks::data_dir`]):
//!
//! - `venv/`: the virtual environment, with `venv/.framewut-stamp` recording
//!   which interpreter and requirements it was made from;
//! - `python/`: the apps and requirements files, rewritten whenever the
//!   binary's copies differ.
//!
//! A second setup with an unchanged stamp does nothing but compare it, so the
//! lab can call [`ensure_python_env`] before every matrix that needs Python.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::error::PythonUnavailable;

/// The files framewut writes into `python/`: the apps and the requirements.
pub const PYTHON_FILES: &[(&str, &str)] = &[
    (
        "scenarios.py",
        include_str!("../../../../python/scenarios.py"),
    ),
    (
        "wsgi_app.py",
        include_str!("../../../../python/wsgi_app.py"),
    ),
    (
        "werkzeug_app.py",
        include_str!("../../../../python/werkzeug_app.py"),
    ),
    (
        "flask_app.py",
        include_str!("../../../../python/flask_app.py"),
    ),
    (
        "gevent_app.py",
        include_str!("../../../../python/gevent_app.py"),
    ),
    (
        "asgi_app.py",
        include_str!("../../../../python/asgi_app.py"),
    ),
    (
        REQUIREMENTS,
        include_str!("../../../../python/requirements.txt"),
    ),
    (
        REQUIREMENTS_NODEPS,
        include_str!("../../../../python/requirements-nodeps.txt"),
    ),
];

const REQUIREMENTS: &str = "requirements.txt";
const REQUIREMENTS_NODEPS: &str = "requirements-nodeps.txt";
const STAMP: &str = ".framewut-stamp";

/// Whether meinheld, built from source, is in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meinheld {
    /// Installed: the meinheld stacks can run.
    Installed,
    /// Its build failed; the text says why and what to install.
    Missing(String),
}

/// A ready virtual environment with the apps beside it.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    /// The virtual environment's directory.
    pub venv: PathBuf,
    /// The directory holding the apps (`wsgi_app.py`, `asgi_app.py`, ...).
    pub apps: PathBuf,
    /// The interpreter's version, e.g. `3.11.7`.
    pub python_version: String,
    /// Whether meinheld could be installed.
    pub meinheld: Meinheld,
    /// True when this call installed anything; false when the stamp matched.
    pub installed_now: bool,
}

impl PythonEnv {
    /// The virtual environment's interpreter.
    pub fn python(&self) -> PathBuf {
        self.bin().join("python")
    }

    /// The virtual environment's `bin` directory: the interpreter, and the
    /// programs the requirements install there (py-spy for the profiler).
    pub fn bin(&self) -> PathBuf {
        self.venv.join("bin")
    }
}

/// Whether pip's output is shown while it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// pip's output goes to standard error, as it happens.
    Show,
    /// pip's output is kept, and only its tail is shown if a step fails.
    Quiet,
}

/// How to set the environment up.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// framewut's data directory; see [`framewut_stacks::data_dir`].
    pub data_dir: PathBuf,
    /// The interpreter that makes the environment (`FRAMEWUT_PYTHON`, else `python3`).
    pub python: String,
    /// Remake the environment from nothing even when its stamp matches.
    pub force: bool,
    /// Whether pip's output is shown.
    pub progress: Progress,
}

impl SetupOptions {
    /// The defaults: framewut's data directory, `$FRAMEWUT_PYTHON` or `python3`, no force,
    /// pip's output shown.
    pub fn from_env() -> SetupOptions {
        SetupOptions {
            data_dir: framewut_stacks::data_dir(),
            python: std::env::var("FRAMEWUT_PYTHON").unwrap_or_else(|_| "python3".to_string()),
            force: false,
            progress: Progress::Show,
        }
    }
}

/// Makes sure framewut's Python environment is ready, setting it up first
/// if needed, with the defaults of [`SetupOptions::from_env`].
pub fn ensure_python_env() -> Result<PythonEnv, PythonUnavailable> {
    setup_python(&SetupOptions::from_env())
}

/// Makes the environment ready: writes the apps, and (re)installs the
/// requirements when the stamp is missing or differs, or when forced.
///
/// Holds a lock file in the data directory meanwhile, so two framewut
/// processes never install into the same environment at once.
pub fn setup_python(options: &SetupOptions) -> Result<PythonEnv, PythonUnavailable> {
    let root = &options.data_dir;
    create_dir(root)?;
    let _lock = lock(&root.join("python.lock"))?;

    let apps = root.join("python");
    write_python_files(&apps)?;

    let python = interpreter(&options.python)?;
    let venv = root.join("venv");
    let stamp_path = venv.join(STAMP);
    let stamp = stamp(&python);
    let recorded = fs::read_to_string(&stamp_path).ok();
    let venv_python = venv.join("bin").join("python");

    if !options.force && venv_python.exists() {
        if let Some(meinheld) = recorded
            .as_deref()
            .and_then(|text| read_stamp(text, &stamp))
        {
            return Ok(PythonEnv {
                venv,
                apps,
                python_version: python.version,
                meinheld,
                installed_now: false,
            });
        }
    }

    if venv.exists() {
        fs::remove_dir_all(&venv)
            .map_err(|err| failed(format!("removing {}", venv.display()), err))?;
    }
    if options.progress == Progress::Show {
        eprintln!(
            "framewut: making a Python {} environment in {}",
            python.version,
            venv.display()
        );
    }
    run_step(
        "making the virtual environment",
        Command::new(&options.python)
            .arg("-m")
            .arg("venv")
            .arg(&venv),
        options.progress,
    )?;
    run_step(
        "installing the pinned requirements",
        pip(&venv_python).arg("-r").arg(apps.join(REQUIREMENTS)),
        options.progress,
    )?;
    let meinheld = match run_step(
        "building meinheld",
        pip(&venv_python)
            .arg("--no-deps")
            .arg("-r")
            .arg(apps.join(REQUIREMENTS_NODEPS)),
        options.progress,
    ) {
        Ok(()) => Meinheld::Installed,
        Err(err) => Meinheld::Missing(format!(
            "meinheld is not installed ({err}); it builds from source and needs a C compiler \
             and Python's headers (Debian: apt-get install gcc python3-dev); then run \
             `framewut setup python --force`"
        )),
    };
    if let Meinheld::Missing(reason) = &meinheld {
        eprintln!("framewut: {reason}");
    }
    write_atomically(&stamp_path, &stamp_text(&stamp, &meinheld))?;
    Ok(PythonEnv {
        venv,
        apps,
        python_version: python.version,
        meinheld,
        installed_now: true,
    })
}

/// The interpreter that makes the environment, and what identifies it.
pub(super) struct Interpreter {
    pub(super) version: String,
    pub(super) executable: String,
}

const PROBE: &str = "import sys, platform\n\
try:\n    import venv, ensurepip\nexcept ImportError:\n    sys.exit(3)\n\
print(platform.python_version())\nprint(sys.executable)";

pub(super) fn interpreter(python: &str) -> Result<Interpreter, PythonUnavailable> {
    let output = Command::new(python)
        .arg("-c")
        .arg(PROBE)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(PythonUnavailable::NoPython {
                python: python.to_string(),
            })
        }
        Err(err) => return Err(failed(format!("starting {python}"), err)),
    };
    match output.status.code() {
        Some(0) => {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            Ok(Interpreter {
                version: lines.next().unwrap_or_default().to_string(),
                executable: lines.next().unwrap_or_default().to_string(),
            })
        }
        Some(3) => Err(PythonUnavailable::NoVenv {
            python: python.to_string(),
        }),
        _ => Err(PythonUnavailable::Failed {
            step: format!("asking {python} its version"),
            detail: tail(&output),
        }),
    }
}

/// The stamp's first line: a hash of everything the environment is made from.
fn stamp(python: &Interpreter) -> String {
    let mut hash = Fnv1a::new();
    hash.add(python.version.as_bytes());
    hash.add(python.executable.as_bytes());
    for (name, text) in PYTHON_FILES {
        if name.starts_with("requirements") {
            hash.add(name.as_bytes());
            hash.add(text.as_bytes());
        }
    }
    format!("{:016x}", hash.0)
}

fn stamp_text(stamp: &str, meinheld: &Meinheld) -> String {
    match meinheld {
        Meinheld::Installed => format!("{stamp}\nmeinheld installed\n"),
        Meinheld::Missing(reason) => format!("{stamp}\nmeinheld missing: {reason}\n"),
    }
}

/// The recorded meinheld state, when the recorded stamp is the expected one.
fn read_stamp(text: &str, expected: &str) -> Option<Meinheld> {
    let mut lines = text.lines();
    if lines.next()? != expected {
        return None;
    }
    let meinheld = lines.next()?;
    if meinheld == "meinheld installed" {
        return Some(Meinheld::Installed);
    }
    meinheld
        .strip_prefix("meinheld missing: ")
        .map(|reason| Meinheld::Missing(reason.to_string()))
}

/// 64-bit FNV-1a: small, and stable across Rust releases, unlike std's hasher.
pub(super) struct Fnv1a(pub(super) u64);

impl Fnv1a {
    pub(super) fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    pub(super) fn add(&mut self, bytes: &[u8]) {
        // The length first, so ("ab", "c") and ("a", "bc") differ.
        for byte in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

pub(super) fn pip(venv_python: &Path) -> Command {
    let mut command = Command::new(venv_python);
    command.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    command
}

/// Runs one step; with [`Progress::Show`] its output goes to standard error
/// as it comes (standard output stays free for framewut's own results).
pub(super) fn run_step(
    step: &str,
    command: &mut Command,
    progress: Progress,
) -> Result<(), PythonUnavailable> {
    command.stdin(Stdio::null());
    let fail = |detail: String| PythonUnavailable::Failed {
        step: step.to_string(),
        detail,
    };
    let cannot_start = |source| PythonUnavailable::Io {
        step: step.to_string(),
        source,
    };
    match progress {
        Progress::Show => {
            let status = command
                .stdout(Stdio::from(io::stderr()))
                .stderr(Stdio::inherit())
                .status()
                .map_err(cannot_start)?;
            if status.success() {
                Ok(())
            } else {
                Err(fail(format!("{status}; its output is above")))
            }
        }
        Progress::Quiet => {
            let output = command.output().map_err(cannot_start)?;
            if output.status.success() {
                Ok(())
            } else {
                Err(fail(format!("{}: {}", output.status, tail(&output))))
            }
        }
    }
}

/// The last lines a failed command printed, on one line.
fn tail(output: &Output) -> String {
    let text = [&output.stdout[..], &output.stderr[..]]
        .map(String::from_utf8_lossy)
        .join("\n");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines[lines.len().saturating_sub(6)..].join(" | ")
}

fn write_python_files(apps: &Path) -> Result<(), PythonUnavailable> {
    create_dir(apps)?;
    for (name, text) in PYTHON_FILES {
        let path = apps.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            write_atomically(&path, text)?;
        }
    }
    Ok(())
}

/// Writes whole or not at all, so a server starting meanwhile reads the old
/// file or the new one, never half of one.
pub(super) fn write_atomically(path: &Path, text: &str) -> Result<(), PythonUnavailable> {
    framewut_sys::atomic_write(path, text.as_bytes())
        .map_err(|err| failed(format!("writing {}", path.display()), err))
}

pub(super) fn create_dir(dir: &Path) -> Result<(), PythonUnavailable> {
    fs::create_dir_all(dir).map_err(|err| failed(format!("creating {}", dir.display()), err))
}

fn failed(step: String, source: io::Error) -> PythonUnavailable {
    PythonUnavailable::Io { step, source }
}

/// An exclusive lock on a file, released when dropped (the file closes).
pub(super) fn lock(path: &Path) -> Result<File, PythonUnavailable> {
    let file =
        File::create(path).map_err(|err| failed(format!("opening {}", path.display()), err))?;
    // SAFETY: flock on a descriptor this function owns; it blocks until the
    // lock is ours and touches no memory.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(failed(
            format!("locking {}", path.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(file)
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
