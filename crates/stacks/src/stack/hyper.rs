//! hyper 1 on tokio: `rust/hyper/tokio-current` (one current-thread runtime)
//! and `rust/hyper/tokio-multi` (the work-stealing runtime).
//!
//! Connections go through hyper-util's auto builder, which the axum stacks
//! share ([`serve`]): in cleartext it serves HTTP/1.1, or HTTP/2 when the
//! client opens with HTTP/2's preface (h2c with prior knowledge), on the one
//! port. Over TLS each connection's task runs tokio-rustls' handshake first,
//! on the runtime, and ALPN decides: h2 gets HTTP/2, anything else (or no
//! ALPN) HTTP/1.1. Over HTTP/2 hyper serves each stream on a task of its
//! own, spawned on the same runtime.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::service::{service_fn, Service};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::{Builder, HttpServerConnExec};
use tokio_rustls::TlsAcceptor;

use crate::app::{timed_calls, App, Reply, SERVER_NAME, TIME_CALLS_HEADER};
use crate::{Scenario, HTTP2_MAX_CONCURRENT_STREAMS};

/// A hyper response for a reply; hyper adds `Date` and `Content-Length`.
fn response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static(SERVER_NAME));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The connection builders the hyper and axum stacks serve with, so that
/// both run the same HTTP code with the same settings: HTTP/1.1 flushes
/// pipelined responses together, and HTTP/2 advertises
/// [`HTTP2_MAX_CONCURRENT_STREAMS`].
struct Builders {
    /// Cleartext: HTTP/1.1, or h2c when the client sends HTTP/2's preface.
    auto: Builder<TokioExecutor>,
    /// Over TLS when ALPN chose anything but h2, or nothing.
    http1: Builder<TokioExecutor>,
    /// Over TLS when ALPN chose h2.
    http2: Builder<TokioExecutor>,
}

impl Builders {
    fn new() -> Builders {
        let mut auto = Builder::new(TokioExecutor::new());
        auto.http1().pipeline_flush(true);
        auto.http2()
            .max_concurrent_streams(HTTP2_MAX_CONCURRENT_STREAMS);
        Builders {
            http1: auto.clone().http1_only(),
            http2: auto.clone().http2_only(),
            auto,
        }
    }
}

/// Accepts connections on `listener` for ever and serves each with
/// `service` on a task of its own, over TLS when given an acceptor.
pub(super) async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    TokioExecutor: HttpServerConnExec<S::Future, B>,
{
    let listener = super::tokio_listener(listener)?;
    let builders = Arc::new(Builders::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(super::ACCEPT_BACKOFF).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        match &tls {
            None => drop(tokio::spawn(
                builders
                    .auto
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned(),
            )),
            Some(acceptor) => {
                let (acceptor, builders) = (acceptor.clone(), Arc::clone(&builders));
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let builder = if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        &builders.http2
                    } else {
                        &builders.http1
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    let service = service_fn(move |request: Request<Incoming>| {
        let app = Arc::clone(&app);
        async move {
            let timed = request.headers().get(TIME_CALLS_HEADER);
            let reply = match (
                Scenario::from_path(request.uri().path()),
                timed_calls(timed.map(HeaderValue::as_bytes)),
            ) {
                (None, _) => Reply::not_found(),
                (Some(_), Err(reply)) => reply,
                (Some(scenario), Ok(timed)) => app.handle(scenario, timed).await,
            };
            Ok::<_, Infallible>(response(reply))
        }
    });
    serve(listener, tls, service).await
}

/// Starts hyper on one current-thread runtime: a single event loop.
pub(crate) fn current(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    super::on_current_thread("tokio-current", move || accept_loop(listener, app, tls))
}

/// Starts hyper on the work-stealing runtime with `workers` threads.
pub(crate) fn multi(
    listener: TcpListener,
    app: Arc<App>,
    workers: usize,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    super::on_multi_thread("tokio-multi", workers, move || {
        accept_loop(listener, app, tls)
    })
}
