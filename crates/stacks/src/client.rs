//! The upstream clients behind `/upstream`: ureq (blocking) and hyper (async),
//! each with pooled or fresh connections, over HTTP or HTTPS.
//!
//! Over HTTPS both trust one CA file (framewut's test CA unless told
//! otherwise) and neither resumes a TLS session: a fresh connection pays a
//! full handshake, as `requests.get` does, and a pooled one pays it once.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::tls::{self, TestCa, TlsError};
use crate::variant::ConnVariant;

/// How long one upstream call may take before it counts as failed.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections a pooled client keeps: enough for every worker to keep its own.
const POOL_IDLE: usize = 4096;

/// Why the upstream URL is unusable, or one GET of it failed. The messages
/// carry the client's own error, which is also the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// `--upstream` is not a URL.
    #[error("--upstream {url:?} is not a URL: {source}")]
    NotAUrl {
        /// The text given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: hyper::http::uri::InvalidUri,
    },
    /// `--upstream` is a URL, but not `http://` or `https://` with a host.
    #[error("--upstream {url:?} must be an http:// or https:// URL with a host")]
    NotHttp {
        /// The URL given.
        url: String,
    },
    /// A CA file given for a plain-HTTP upstream, which has no certificate.
    #[error("--upstream-ca is for an https:// upstream; {url} is plain http://")]
    CaWithoutTls {
        /// The URL given.
        url: String,
    },
    /// An HTTPS upstream and no CA file to trust it with.
    #[error(
        "--upstream {url} needs a CA to trust and {} does not exist; make framewut's test CA \
         with `framewut tls init` (as `framewut upstream --tls` uses) or pass --upstream-ca FILE",
        .path.display()
    )]
    NoCa {
        /// The URL given.
        url: String,
        /// The CA file looked for.
        path: PathBuf,
    },
    /// The CA file could not be read or used.
    #[error("--upstream {url}: {source}")]
    Ca {
        /// The URL given.
        url: String,
        /// Why the file is unusable.
        source: TlsError,
    },
    /// ureq's GET failed.
    #[error("GET {url}: {source}")]
    Blocking {
        /// The upstream URL.
        url: String,
        /// ureq's error.
        #[source]
        source: ureq::Error,
    },
    /// ureq could not read the answer's body.
    #[error("GET {url}: reading the body: {source}")]
    BlockingBody {
        /// The upstream URL.
        url: String,
        /// ureq's error.
        #[source]
        source: ureq::Error,
    },
    /// hyper's GET failed.
    #[error("GET {url}: {source}")]
    Async {
        /// The upstream URL.
        url: String,
        /// hyper's client error.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// hyper could not read the answer's body.
    #[error("GET {url}: reading the body: {source}")]
    AsyncBody {
        /// The upstream URL.
        url: String,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// hyper's GET had no whole answer in time.
    #[error("GET {url}: no answer within {after:?}")]
    Timeout {
        /// The upstream URL.
        url: String,
        /// How long it waited.
        after: Duration,
    },
}

/// An upstream answer: its status and body, passed through.
pub(crate) struct Fetched {
    pub status: u16,
    pub body: Bytes,
}

/// hyper's client over plain TCP, or over TLS.
enum AsyncClient {
    Plain(Client<HttpConnector, Empty<Bytes>>),
    Tls(Client<TlsConnector, Empty<Bytes>>),
}

/// Both clients for one upstream URL, built once at start.
pub(crate) struct UpstreamClient {
    url: String,
    uri: hyper::Uri,
    conn: ConnVariant,
    /// ureq's TLS settings for an HTTPS upstream.
    tls: Option<ureq::tls::TlsConfig>,
    agent: ureq::Agent,
    hyper: AsyncClient,
}

/// A ureq agent. A fresh one per call keeps no connection, and no TLS
/// session either: ureq keeps its rustls configuration, session cache
/// included, per agent.
fn agent(conn: ConnVariant, tls: Option<&ureq::tls::TlsConfig>) -> ureq::Agent {
    let idle = match conn {
        ConnVariant::Pooled => POOL_IDLE,
        ConnVariant::Fresh => 0,
    };
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(UPSTREAM_TIMEOUT))
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle);
    if let Some(tls) = tls {
        config = config.tls_config(tls.clone());
    }
    config.build().into()
}

/// ureq's TLS settings: rustls with ring, trusting only the CA's certificates.
fn ureq_tls(ca: &[rustls::pki_types::CertificateDer<'static>]) -> ureq::tls::TlsConfig {
    let roots: Vec<ureq::tls::Certificate<'static>> = ca
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(tls::provider())
        .build()
}

/// The CA file to trust for `url`: `ca`, else the test CA's, which must exist.
fn ca_file(url: &str, ca: Option<&Path>) -> Result<PathBuf, UpstreamError> {
    if let Some(ca) = ca {
        return Ok(ca.to_path_buf());
    }
    let path = TestCa::in_dir(&TestCa::default_dir()).ca;
    if !path.is_file() {
        return Err(UpstreamError::NoCa {
            url: url.to_string(),
            path,
        });
    }
    Ok(path)
}

impl UpstreamClient {
    /// Checks the URL (`http://` or `https://` with a host) and builds the
    /// clients; an HTTPS upstream is trusted through `ca` (a PEM file),
    /// else through framewut's test CA.
    pub fn new(
        url: &str,
        conn: ConnVariant,
        ca: Option<&Path>,
    ) -> Result<UpstreamClient, UpstreamError> {
        let uri: hyper::Uri = url.parse().map_err(|source| UpstreamError::NotAUrl {
            url: url.to_string(),
            source,
        })?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(UpstreamError::NotHttp {
                    url: url.to_string(),
                })
            }
        };
        if uri.host().is_none() {
            return Err(UpstreamError::NotHttp {
                url: url.to_string(),
            });
        }
        if !https && ca.is_some() {
            return Err(UpstreamError::CaWithoutTls {
                url: url.to_string(),
            });
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(UPSTREAM_TIMEOUT));
        let mut builder = Client::builder(TokioExecutor::new());
        if conn == ConnVariant::Fresh {
            builder.pool_max_idle_per_host(0);
        }
        let (tls, hyper) = if https {
            let path = ca_file(url, ca)?;
            let ca_error = |source| UpstreamError::Ca {
                url: url.to_string(),
                source,
            };
            let certificates = tls::certificates(&path).map_err(ca_error)?;
            let mut config = (*tls::client_config(&path).map_err(ca_error)?).clone();
            config.resumption = rustls::client::Resumption::disabled();
            connector.enforce_http(false);
            let connector = TlsConnector {
                http: connector,
                tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            };
            (
                Some(ureq_tls(&certificates)),
                AsyncClient::Tls(builder.build(connector)),
            )
        } else {
            (None, AsyncClient::Plain(builder.build(connector)))
        };
        Ok(UpstreamClient {
            url: url.to_string(),
            uri,
            conn,
            agent: agent(conn, tls.as_ref()),
            tls,
            hyper,
        })
    }

    /// One GET with ureq, on the calling thread.
    pub fn fetch_blocking(&self) -> Result<Fetched, UpstreamError> {
        let fresh;
        let agent = match self.conn {
            ConnVariant::Pooled => &self.agent,
            ConnVariant::Fresh => {
                fresh = agent(ConnVariant::Fresh, self.tls.as_ref());
                &fresh
            }
        };
        let mut response =
            agent
                .get(&self.url)
                .call()
                .map_err(|source| UpstreamError::Blocking {
                    url: self.url.clone(),
                    source,
                })?;
        let status = response.status().as_u16();
        let body =
            response
                .body_mut()
                .read_to_vec()
                .map_err(|source| UpstreamError::BlockingBody {
                    url: self.url.clone(),
                    source,
                })?;
        Ok(Fetched {
            status,
            body: Bytes::from(body),
        })
    }

    /// One GET with hyper's client, on the current tokio runtime.
    pub async fn fetch_async(&self) -> Result<Fetched, UpstreamError> {
        let call = async {
            let response = match &self.hyper {
                AsyncClient::Plain(client) => client.get(self.uri.clone()).await,
                AsyncClient::Tls(client) => client.get(self.uri.clone()).await,
            }
            .map_err(|source| UpstreamError::Async {
                url: self.url.clone(),
                source,
            })?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|source| UpstreamError::AsyncBody {
                    url: self.url.clone(),
                    source,
                })?
                .to_bytes();
            Ok(Fetched { status, body })
        };
        tokio::time::timeout(UPSTREAM_TIMEOUT, call)
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Timeout {
                    url: self.url.clone(),
                    after: UPSTREAM_TIMEOUT,
                })
            })
    }
}

/// hyper-util's connector for HTTPS: a TCP connection from its own
/// connector, then a TLS handshake over it with the URL's host as the
/// server name.
#[derive(Clone)]
struct TlsConnector {
    http: HttpConnector,
    tls: tokio_rustls::TlsConnector,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for TlsConnector {
    type Response = TlsStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string())?;
            let tcp = http.call(uri).await?.into_inner();
            let stream = tls.connect(name, tcp).await?;
            Ok(TlsStream(TokioIo::new(stream)))
        })
    }
}

/// A TLS connection as hyper's client reads and writes it.
struct TlsStream(TokioIo<tokio_rustls::client::TlsStream<TcpStream>>);

impl Connection for TlsStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
