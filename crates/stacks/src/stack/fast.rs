//! `rust/fast/per-core`: framewut's own HTTP/1.1 codec on N current-thread
//! runtimes, one SO_REUSEPORT listener each. No framework: one read, parse
//! every complete request in place, one write per batch, buffers reused for
//! the connection's life. Over TLS the same loop runs on a tokio-rustls
//! stream, after a handshake in the connection's own task.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use crate::app::{App, Reply};
use crate::http1::{self, Parsed};

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, app: Arc<App>) -> io::Result<()> {
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    let mut out = Vec::with_capacity(8192);
    // Whether the request at the front of the buffer was sent `100 Continue`.
    let mut continued = false;
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        let mut open = true;
        while open {
            match http1::parse(&buf[start..filled]) {
                Parsed::Complete(request) => {
                    start += request.len;
                    continued = false;
                    let reply = match request.scenario {
                        Some(scenario) => app.handle(scenario, request.timed).await,
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
        stream.write_all(&out).await?;
        if !open {
            return Ok(());
        }
        out.clear();
        filled = http1::keep_unparsed(&mut buf, start, filled);
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    let listener = super::tokio_listener(listener)?;
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(super::ACCEPT_BACKOFF).await;
            continue;
        };
        if stream.set_nodelay(true).is_err() {
            continue;
        }
        let app = Arc::clone(&app);
        match &tls {
            None => drop(tokio::spawn(async move { serve(&mut stream, app).await })),
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut stream = acceptor.accept(stream).await?;
                    serve(&mut stream, app).await?;
                    // close_notify, so the client sees a clean end.
                    stream.shutdown().await
                });
            }
        }
    }
}

/// Starts one current-thread runtime per listener.
pub(crate) fn per_core(
    listeners: Vec<TcpListener>,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    super::per_core_runtimes("fast-loop", listeners, move |listener| {
        accept_loop(listener, Arc::clone(&app), tls.clone())
    })
}
