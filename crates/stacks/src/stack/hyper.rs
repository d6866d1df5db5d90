//! hyper 1 on tokio: `rust/hyper/tokio-current` (one current-thread runtime)
//! and `rust/hyper/tokio-multi` (the work-stealing runtime). Over TLS each
//! connection's task runs tokio-rustls' handshake first, on the runtime.

use std::convert::Infallible;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;

use crate::app::{timed_calls, App, Reply, SERVER_NAME, TIME_CALLS_HEADER};
use crate::Scenario;

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

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    let listener = super::tokio_listener(listener)?;
    let mut builder = http1::Builder::new();
    builder.pipeline_flush(true);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(super::ACCEPT_BACKOFF).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
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
        match &tls {
            None => drop(tokio::spawn(
                builder.serve_connection(TokioIo::new(stream), service),
            )),
            Some(acceptor) => {
                let (acceptor, builder) = (acceptor.clone(), builder.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                });
            }
        }
    }
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
