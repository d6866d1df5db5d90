//! The upstream clients behind `/upstream`: ureq (blocking) and hyper (async),
//! each with pooled or fresh connections.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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
    /// `--upstream` is a URL, but not `http://` with a host.
    #[error("--upstream {url:?} must be a plain http:// URL with a host (TLS is not built in)")]
    NotPlainHttp {
        /// The URL given.
        url: String,
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

/// Both clients for one upstream URL, built once at start.
pub(crate) struct UpstreamClient {
    url: String,
    uri: hyper::Uri,
    conn: ConnVariant,
    agent: ureq::Agent,
    hyper: Client<HttpConnector, Empty<Bytes>>,
}

fn agent(conn: ConnVariant) -> ureq::Agent {
    let idle = match conn {
        ConnVariant::Pooled => POOL_IDLE,
        ConnVariant::Fresh => 0,
    };
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(UPSTREAM_TIMEOUT))
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle)
        .build()
        .into()
}

impl UpstreamClient {
    /// Checks the URL (plain `http://` only) and builds the clients.
    pub fn new(url: &str, conn: ConnVariant) -> Result<UpstreamClient, UpstreamError> {
        let uri: hyper::Uri = url.parse().map_err(|source| UpstreamError::NotAUrl {
            url: url.to_string(),
            source,
        })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(UpstreamError::NotPlainHttp {
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
        Ok(UpstreamClient {
            url: url.to_string(),
            uri,
            conn,
            agent: agent(conn),
            hyper: builder.build(connector),
        })
    }

    /// One GET with ureq, on the calling thread.
    pub fn fetch_blocking(&self) -> Result<Fetched, UpstreamError> {
        let fresh;
        let agent = match self.conn {
            ConnVariant::Pooled => &self.agent,
            ConnVariant::Fresh => {
                fresh = agent(ConnVariant::Fresh);
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
        let call =
            async {
                let response = self.hyper.get(self.uri.clone()).await.map_err(|source| {
                    UpstreamError::Async {
                        url: self.url.clone(),
                        source,
                    }
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
