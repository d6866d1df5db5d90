//! The Python layer's errors: why the environment cannot be had, why a
//! stack cannot be found or run as asked, and why a sleep mode, upstream
//! client or variant list cannot be read. Each message names what is at
//! fault and what to install, or what there is instead.

use std::io;

use super::variants::{SleepMode, UpstreamClient};

/// Why a Python environment cannot be had. Its text says what to install or
/// do, so the lab can record it as the reason a cell was skipped.
#[derive(Debug, thiserror::Error)]
pub enum PythonUnavailable {
    /// No interpreter could be started.
    #[error(
        "no Python interpreter: `{python}` could not be started; install Python 3.11 \
         (Debian: apt-get install python3 python3-venv python3-dev gcc), \
         or point FRAMEWUT_PYTHON at an interpreter"
    )]
    NoPython {
        /// The interpreter framewut tried.
        python: String,
    },
    /// The interpreter has no `venv` or `ensurepip` module.
    #[error(
        "`{python}` cannot make virtual environments (no venv or ensurepip module); \
         install them (Debian: apt-get install python3-venv)"
    )]
    NoVenv {
        /// The interpreter framewut tried.
        python: String,
    },
    /// A step of the setup could not touch a file or start a command.
    #[error("Python setup failed while {step}: {source}")]
    Io {
        /// What framewut was doing.
        step: String,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
    /// A command of the setup failed: making the environment or installing into it.
    #[error("Python setup failed while {step}: {detail}")]
    Failed {
        /// What framewut was doing.
        step: String,
        /// How the command ended, and the tail of its output.
        detail: String,
    },
}

/// Why a Python stack cannot be found, or cannot run as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PythonStackError {
    /// No stack has this id.
    #[error("no Python stack {id:?}; there are: {ids}")]
    NoSuchStack {
        /// The id asked for.
        id: String,
        /// Every stack's id, comma-separated.
        ids: String,
    },
    /// A sleep mode other than the one the stack's app and worker class fix.
    #[error("{id} sleeps {only} only; its app and worker class decide, not an option")]
    FixedSleep {
        /// The stack.
        id: &'static str,
        /// The one sleep mode it has.
        only: SleepMode,
    },
    /// An upstream client the stack does not offer.
    #[error("{id} has no {client} upstream client; it has {clients}")]
    NoClient {
        /// The stack.
        id: &'static str,
        /// The client asked for.
        client: UpstreamClient,
        /// The clients it has, comma-separated.
        clients: String,
    },
    /// HTTPS asked of a stack whose server cannot serve it.
    #[error(
        "{id} cannot serve HTTPS: meinheld's worker reads the socket itself and ignores \
         gunicorn's --certfile; the gunicorn sync, gthread and gevent workers, uvicorn and \
         granian can"
    )]
    NoTls {
        /// The stack.
        id: &'static str,
    },
    /// The environment lacks what the stack needs (meinheld).
    #[error("{id} cannot run: {reason}")]
    Unavailable {
        /// The stack.
        id: &'static str,
        /// Why, and what to install.
        reason: String,
    },
    /// No worker, or no thread per worker.
    #[error("{id} needs at least one worker and one thread")]
    NoWorkers {
        /// The stack.
        id: &'static str,
    },
}

/// Why a sleep mode, an upstream client or a Python stack's variant list
/// cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PythonVariantError {
    /// A word that names no sleep mode, or no upstream client.
    #[error("unknown {what} {value:?}: expected {expected}")]
    Unknown {
        /// `sleep mode` or `upstream client`.
        what: &'static str,
        /// The word given.
        value: String,
        /// The words there are, comma-separated.
        expected: String,
    },
    /// A pair without `=`.
    #[error("variant {0:?} is not key=value (keys: sleep, upstream)")]
    NotKeyValue(String),
    /// A key other than `sleep` and `upstream`.
    #[error("unknown variant key {0:?} for a Python stack: expected sleep or upstream")]
    UnknownKey(String),
}

/// Why a user's own app's environment cannot be had, or why its app does not
/// import there. Each message names the file or target at fault and what to
/// change.
#[derive(Debug, thiserror::Error)]
pub enum AppEnvError {
    /// The app's requirements file is not there.
    #[error(
        "the requirements file {path} does not exist: give the app's requirements file \
         (relative to the matrix file), or an empty file for an app with none"
    )]
    NoRequirements {
        /// The file asked for.
        path: std::path::PathBuf,
    },
    /// The interpreter, the virtual environment or a step of its setup failed.
    #[error(transparent)]
    Setup(#[from] PythonUnavailable),
    /// pip could not install the app's requirements beside the servers.
    #[error(
        "pip could not install {requirements} together with the servers framewut pins \
         (python/servers.txt): {said}; where pip names a conflict, loosen the app's pin on \
         that package, as the servers' versions are fixed"
    )]
    Install {
        /// The app's requirements file.
        requirements: std::path::PathBuf,
        /// pip's own message: its `ERROR:` lines and what follows them.
        said: String,
    },
    /// The app's module, or its attribute, does not import.
    #[error("{target} does not import in its environment: {said}")]
    Import {
        /// The target, `MODULE:ATTRIBUTE`.
        target: String,
        /// The exception's type and message, e.g. `ModuleNotFoundError: No
        /// module named 'shop'`, or why the import gave no answer.
        said: String,
    },
    /// A target that is not `MODULE:ATTRIBUTE`.
    #[error("app = {target:?} is not MODULE:ATTRIBUTE, e.g. \"shop.wsgi:application\"")]
    BadTarget {
        /// The target given.
        target: String,
    },
    /// A file could not be read, or a command not started.
    #[error("the app's environment failed while {step}: {source}")]
    Io {
        /// What framewut was doing.
        step: String,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
}
