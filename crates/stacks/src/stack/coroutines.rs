//! `rust/may/coroutines`: stackful coroutines on N scheduler threads (the
//! `may` crate), the closest analogue of gevent's greenlets. Each connection
//! is a coroutine running the same blocking-style code as the std stacks;
//! may's sockets yield to the scheduler instead of blocking the thread, and
//! `sleep=async` is may's cooperative sleep, like gevent's patched
//! time.sleep. Anything else that blocks (std::thread::sleep, ureq, the
//! database drivers) holds its scheduler thread, like unpatched code under
//! gevent. Over TLS a connection is a rustls `StreamOwned` on may's socket:
//! the handshake's reads and writes yield like any other, its CPU holds the
//! scheduler thread.

use std::io;
use std::net::TcpListener;
use std::os::fd::IntoRawFd;
use std::os::unix::io::FromRawFd;
use std::sync::Arc;

use rustls::ServerConfig;

use crate::app::App;

/// Each coroutine's stack, in words: room for SQLite's and the PostgreSQL
/// client's deep call chains.
const STACK_WORDS: usize = 64 * 1024;

/// Starts may's scheduler with `workers` threads and an accepting coroutine.
pub(crate) fn start(
    listener: TcpListener,
    app: Arc<App>,
    workers: usize,
    close: bool,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    may::config()
        .set_workers(workers)
        .set_stack_size(STACK_WORDS);
    // SAFETY: the descriptor comes from a listening socket we own and give up here.
    let listener = unsafe { may::net::TcpListener::from_raw_fd(listener.into_raw_fd()) };
    let accept = move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else {
                may::coroutine::sleep(super::ACCEPT_BACKOFF);
                continue;
            };
            let app = Arc::clone(&app);
            let tls = tls.clone();
            let serve = move || {
                if stream.set_nodelay(true).is_ok()
                    && stream
                        .set_read_timeout(Some(super::std_threads::IDLE_TIMEOUT))
                        .is_ok()
                {
                    let handle = |scenario, timed| app.handle_in_coroutine(scenario, timed);
                    match &tls {
                        None => super::std_threads::serve(stream, close, handle),
                        Some(config) => {
                            super::std_threads::serve_tls(stream, config, close, handle)
                        }
                    }
                }
            };
            // SAFETY: may's spawn is unsafe because a coroutine may move to another
            // thread at a yield, which breaks thread-local borrows held across it.
            // The handlers hold none across a yield: the Date cache and the SQLite
            // connection are borrowed and released without yielding in between.
            let _ = unsafe { may::coroutine::spawn(serve) };
        }
    };
    // SAFETY: as above; the accept loop touches no thread-locals.
    let _ = unsafe { may::coroutine::spawn(accept) };
    Ok(())
}
