//! The servers: each wires the shared [`crate::app::App`] into one framework
//! and concurrency model.

#[cfg(feature = "actix")]
pub(crate) mod actix;
#[cfg(feature = "axum")]
pub(crate) mod axum;
#[cfg(feature = "may")]
pub(crate) mod coroutines;
pub(crate) mod fast;
pub(crate) mod hyper;
pub(crate) mod std_threads;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Connections a listener queues before the server accepts them.
const BACKLOG: i32 = 4096;

/// Binds a listening socket; with `reuse_port`, other sockets may bind the
/// same port and the kernel spreads connections across them.
pub(crate) fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds `n` listeners on one port with SO_REUSEPORT: the first picks the
/// port (when asked for port 0), the rest join it.
pub(crate) fn bind_many(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpListener>> {
    let first = bind(addr, true)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(bind(addr, true)?);
    }
    Ok(listeners)
}

/// Binds one listener and starts `serve` on it; returns the bound address.
pub(crate) fn on_one(
    addr: SocketAddr,
    serve: impl FnOnce(TcpListener) -> io::Result<()>,
) -> io::Result<SocketAddr> {
    let listener = bind(addr, false)?;
    let bound = listener.local_addr()?;
    serve(listener)?;
    Ok(bound)
}

/// Binds `n` listeners on one port (see [`bind_many`]) and starts `serve` on
/// them; returns the bound address.
pub(crate) fn on_many(
    addr: SocketAddr,
    n: usize,
    serve: impl FnOnce(Vec<TcpListener>) -> io::Result<()>,
) -> io::Result<SocketAddr> {
    let listeners = bind_many(addr, n)?;
    let bound = listeners[0].local_addr()?;
    serve(listeners)?;
    Ok(bound)
}

/// A tokio listener from a bound std one.
pub(crate) fn tokio_listener(listener: TcpListener) -> io::Result<tokio::net::TcpListener> {
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// How long an accept loop pauses after a failed accept (out of descriptors,
/// say), so that it waits for a connection to close instead of spinning.
pub(crate) const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(5);

/// A current-thread runtime with I/O and timers.
pub(crate) fn current_thread_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs `serve` to its end on a current-thread runtime, on a thread named `name`.
pub(crate) fn on_current_thread<F: Future + 'static>(
    name: &str,
    serve: impl FnOnce() -> F + Send + 'static,
) -> io::Result<()> {
    let runtime = current_thread_runtime()?;
    spawn(name.to_string(), move || {
        runtime.block_on(serve());
    })
}

/// Runs `serve` to its end on a work-stealing runtime of `workers`
/// threads, driven from a thread named `name`.
pub(crate) fn on_multi_thread<F: Future + 'static>(
    name: &str,
    workers: usize,
    serve: impl FnOnce() -> F + Send + 'static,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    spawn(name.to_string(), move || {
        runtime.block_on(serve());
    })
}

/// One current-thread runtime per listener, each on a thread of its own
/// (`{prefix}-0`, `{prefix}-1`, ...) running `serve` on its listener.
pub(crate) fn per_core_runtimes<F: Future + 'static>(
    prefix: &str,
    listeners: Vec<TcpListener>,
    serve: impl Fn(TcpListener) -> F + Clone + Send + 'static,
) -> io::Result<()> {
    for (index, listener) in listeners.into_iter().enumerate() {
        let serve = serve.clone();
        on_current_thread(&format!("{prefix}-{index}"), move || serve(listener))?;
    }
    Ok(())
}

/// Runs `body` on a new named thread, reporting a failure to spawn as an io error.
pub(crate) fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new().name(name).spawn(body).map(drop)
}
