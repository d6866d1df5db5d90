//! `rust/actix/workers`: actix-web with N workers, each a single-threaded
//! runtime, behind actix's own accept thread. Over TLS actix's own rustls
//! acceptor (its `rustls-0_23` feature) does the handshakes on the workers.

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
                None => server.listen(listener)?,
                Some(config) => server.listen_rustls_0_23(listener, (*config).clone())?,
            };
            server.run().await
        });
        if let Err(err) = served {
            eprintln!("framewut: actix stopped: {err}");
        }
    })
}
