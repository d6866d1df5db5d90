//! The std stacks: blocking sockets and plain threads, HTTP/1.1 by hand.
//! `rust/std/sync-pool` runs N threads that each accept and serve one
//! connection at a time; `rust/std/thread-per-conn` gives every connection a
//! thread of its own. Over TLS each connection is a rustls `StreamOwned`
//! on the same blocking socket: the handshake runs on the connection's
//! thread, holding it as a sync worker's handshake would.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::app::{App, Reply};
use crate::http1::{self, Parsed};
use crate::Scenario;

/// How long a worker waits on a silent connection before closing it.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts N threads, each accepting and serving one connection at a time.
pub(crate) fn sync_pool(
    listener: TcpListener,
    app: Arc<App>,
    workers: usize,
    close: bool,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    let listener = Arc::new(listener);
    for index in 0..workers {
        let listener = Arc::clone(&listener);
        let app = Arc::clone(&app);
        let tls = tls.clone();
        super::spawn(format!("sync-pool-{index}"), move || loop {
            match listener.accept() {
                Ok((stream, _)) => serve_std(stream, &app, close, tls.as_ref()),
                Err(_) => std::thread::sleep(super::ACCEPT_BACKOFF),
            }
        })?;
    }
    Ok(())
}

/// Starts one accepting thread that gives each connection its own thread.
pub(crate) fn thread_per_conn(
    listener: TcpListener,
    app: Arc<App>,
    close: bool,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    super::spawn("accept".into(), move || loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let app = Arc::clone(&app);
                let tls = tls.clone();
                // A thread that cannot be spawned drops the connection, as an
                // exhausted server would.
                let _ = super::spawn("conn".into(), move || {
                    serve_std(stream, &app, close, tls.as_ref())
                });
            }
            Err(_) => std::thread::sleep(super::ACCEPT_BACKOFF),
        }
    })
}

fn serve_std(stream: TcpStream, app: &App, close: bool, tls: Option<&Arc<ServerConfig>>) {
    if stream.set_nodelay(true).is_ok() && stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_ok() {
        let handle = |scenario, timed| app.handle_blocking(scenario, timed);
        match tls {
            None => serve(stream, close, handle),
            Some(config) => serve_tls(stream, config, close, handle),
        }
    }
}

/// [`serve`] over TLS on a blocking stream: the handshake happens on the
/// first read (so the stream's read timeout bounds a stalled one), and the
/// server says close_notify when it ends the connection.
pub(crate) fn serve_tls<S: Read + Write>(
    stream: S,
    config: &Arc<ServerConfig>,
    close: bool,
    handle: impl Fn(Scenario, Option<u32>) -> Reply,
) {
    let Ok(conn) = ServerConnection::new(Arc::clone(config)) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, stream);
    serve(&mut tls, close, handle);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// Serves one connection with blocking reads and writes until the client
/// closes it, asks to, or goes quiet. Pipelined requests are answered in
/// order, in one write per batch read. `handle` answers each request.
pub(crate) fn serve<S: Read + Write>(
    mut stream: S,
    close: bool,
    handle: impl Fn(Scenario, Option<u32>) -> Reply,
) {
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    let mut out = Vec::with_capacity(8192);
    // Whether the request at the front of the buffer was sent `100 Continue`.
    let mut continued = false;
    loop {
        match stream.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        let mut start = 0;
        let mut open = true;
        while open {
            match http1::parse(&buf[start..filled]) {
                Parsed::Complete(mut request) => {
                    start += request.len;
                    continued = false;
                    request.keep_alive &= !close;
                    let reply = match request.scenario {
                        Some(scenario) => handle(scenario, request.timed),
                        None => Reply::not_found(),
                    };
                    http1::write_response(&mut out, &reply, &request);
                    open = request.keep_alive;
                }
                Parsed::Partial => break,
                Parsed::Continue => {
                    if !continued {
                        out.extend_from_slice(http1::CONTINUE);
                        continued = true;
                    }
                    break;
                }
                Parsed::Invalid(status, why) => {
                    http1::write_error(&mut out, status, why);
                    open = false;
                }
            }
        }
        if stream.write_all(&out).is_err() || !open {
            return;
        }
        out.clear();
        filled = http1::keep_unparsed(&mut buf, start, filled);
    }
}
