//! `rust/actix/workers`: actix-web with N workers, each a single-threaded
//! runtime, behind actix's own accept thread. Over TLS actix's own rustls
//! acceptor (its `rustls-0_23` feature) does the handshakes on the workers.
//!
//! It serves HTTP/2 beside HTTP/1.1 on the one port: in cleartext
//! `listen_auto_h2c` peeks at each new connection's first bytes and serves
//! h2c to a client that opens with HTTP/2's preface; over TLS actix puts h2
//! before the configuration's own ALPN protocols and serves HTTP/2 when the
//! client chose it. actix-web has no setting for SETTINGS_MAX_CONCURRENT_STREAMS
//! and sends none, so a client sees no limit on the streams of a connection,
//! where the hyper and axum stacks advertise
//! [`crate::HTTP2_MAX_CONCURRENT_STREAMS`].

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::http::header::{CONTENT_TYPE, SERVER};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpServer};
use rustls::ServerConfig;

use crate::app::{timed_calls, App, Reply, SERVER_NAME, TIME_CALLS_HEADER};
use crate::Scenario;

fn response(reply: Reply) -> HttpResponse {
    HttpResponse::build(
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .insert_header((SERVER, SERVER_NAME))
    .insert_header((CONTENT_TYPE, "application/json"))
    .body(reply.body)
}

/// Starts actix-web with `workers` workers on the listener.
pub(crate) fn workers(
    listener: TcpListener,
    app: Arc<App>,
    workers: usize,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    super::spawn("actix".into(), move || {
        let system = actix_web::rt::System::new();
        let served = system.block_on(async move {
            let server = HttpServer::new(move || {
                let mut service = actix_web::App::new().app_data(web::Data::from(Arc::clone(&app)));
                for scenario in Scenario::ALL {
                    service = service.route(
                        scenario.path(),
                        web::get().to(
                            move |app: web::Data<App>, request: HttpRequest| async move {
                                let timed = request.headers().get(TIME_CALLS_HEADER);
                                response(match timed_calls(timed.map(|v| v.as_bytes())) {
                                    Ok(timed) => app.into_inner().handle(scenario, timed).await,
                                    Err(reply) => reply,
                                })
                            },
                        ),
                    );
                }
                service.default_service(web::to(|| async { response(Reply::not_found()) }))
            })
            .workers(workers)
            .disable_signals();
            let server = match tls {
                None => server.listen_auto_h2c(listener)?,
                Some(config) => server.listen_rustls_0_23(listener, (*config).clone())?,
            };
            server.run().await
        });
        if let Err(err) = served {
            eprintln!("framewut: actix stopped: {err}");
        }
    })
}
