//! Why a Python stack cannot be found or run as asked, and why a sleep mode,
//! upstream client or variant list cannot be read. Each message names the
//! stack or the word at fault and what there is instead.

use super::variants::{SleepMode, UpstreamClient};

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
