//! axum: `rust/axum/tokio-multi` (the work-stealing runtime) and
//! `rust/axum/per-core` (N current-thread runtimes, one listener each on a
//! shared SO_REUSEPORT port). The router is served through the hyper
//! stacks' connection code ([`super::hyper::serve`]) rather than
//! `axum::serve`, in cleartext and over TLS alike: `axum::serve` takes no
//! connection settings, and this way both stacks run the same hyper-util
//! auto builder with the same settings (HTTP/1.1 or h2c on one port, h2 by
//! ALPN over TLS, the same HTTP/2 stream limit), so that they differ only in
//! axum's routing.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use hyper::body::Incoming;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, SERVER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::{timed_calls, App, Reply, SERVER_NAME, TIME_CALLS_HEADER};
use crate::Scenario;

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(SERVER, HeaderValue::from_static(SERVER_NAME));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// One route per scenario, each calling the shared handler.
fn router(app: Arc<App>) -> Router {
    let mut router = Router::new();
    for scenario in Scenario::ALL {
        router = router.route(
            scenario.path(),
            get(
                move |State(app): State<Arc<App>>, headers: HeaderMap| async move {
                    let timed = headers.get(TIME_CALLS_HEADER).map(HeaderValue::as_bytes);
                    match timed_calls(timed) {
                        Ok(timed) => app.handle(scenario, timed).await,
                        Err(reply) => reply,
                    }
                },
            ),
        );
    }
    router
        .fallback(|| async { Reply::not_found() })
        .with_state(app)
}

async fn serve(listener: TcpListener, app: Arc<App>, tls: Option<TlsAcceptor>) -> io::Result<()> {
    let router = router(app);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        router.clone().call(request)
    });
    super::hyper::serve(listener, tls, service).await
}

/// Starts axum on the work-stealing runtime with `workers` threads.
pub(crate) fn multi(
    listener: TcpListener,
    app: Arc<App>,
    workers: usize,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    super::on_multi_thread("axum-multi", workers, move || serve(listener, app, tls))
}

/// Starts one current-thread runtime per listener.
pub(crate) fn per_core(
    listeners: Vec<TcpListener>,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    super::per_core_runtimes("axum-loop", listeners, move |listener| {
        serve(listener, Arc::clone(&app), tls.clone())
    })
}
