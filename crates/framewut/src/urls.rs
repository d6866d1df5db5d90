//! The URLs a matrix gives for a server framewut does not start: its base
//! and its metrics endpoint. Checked once, when the matrix is read, kept in
//! their parts from then on, and saved as the text they were written as.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a URL is not one framewut can use, and how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "url is the server's base, \"http://host:port\"; framewut adds each scenario's path \
         (/hello, /sleep, ...)"
    )]
    Base,
    #[error("metrics {0:?}: give the endpoint's http:// URL, e.g. \"http://host:9100/metrics\"")]
    Metrics(String),
}

/// A server's base, `http://host:port`, to which each scenario's path is
/// added. Saved as that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct BaseUrl {
    authority: String,
}

impl BaseUrl {
    /// Reads `http://host:port` (a trailing `/` allowed, nothing after it).
    pub fn parse(text: &str) -> Result<BaseUrl, UrlError> {
        text.strip_prefix("http://")
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .filter(|a| !a.is_empty() && !a.contains(['/', '?', '#', '@', ' ']))
            .map(|authority| BaseUrl {
                authority: authority.to_string(),
            })
            .ok_or(UrlError::Base)
    }

    /// `host:port`, as written.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The URL of `path` on this server.
    pub fn at(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

impl From<BaseUrl> for String {
    fn from(url: BaseUrl) -> String {
        url.to_string()
    }
}

impl TryFrom<String> for BaseUrl {
    type Error = UrlError;

    fn try_from(text: String) -> Result<BaseUrl, UrlError> {
        BaseUrl::parse(&text)
    }
}

/// A Prometheus endpoint, `http://HOST:PORT/PATH`, `/metrics` where no
/// path is written. Saved as the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct MetricsUrl {
    url: String,
    host: String,
    path: String,
}

impl MetricsUrl {
    /// Reads an `http://` URL.
    pub fn parse(url: &str) -> Result<MetricsUrl, UrlError> {
        let bad = || UrlError::Metrics(url.to_string());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/metrics"),
        };
        if host.is_empty() || host.contains('@') {
            return Err(bad());
        }
        Ok(MetricsUrl {
            url: url.to_string(),
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    /// `host:port` as written (the port may be left out).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path scraped.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for MetricsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl From<MetricsUrl> for String {
    fn from(url: MetricsUrl) -> String {
        url.url
    }
}

impl TryFrom<String> for MetricsUrl {
    type Error = UrlError;

    fn try_from(text: String) -> Result<MetricsUrl, UrlError> {
        MetricsUrl::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_is_a_scheme_and_an_authority_and_nothing_more() {
        let base = BaseUrl::parse("http://10.0.0.7:8080/").unwrap();
        assert_eq!(base.authority(), "10.0.0.7:8080");
        assert_eq!(base.at("/hello"), "http://10.0.0.7:8080/hello");
        assert_eq!(base.to_string(), "http://10.0.0.7:8080");
        for bad in [
            "https://h:1",
            "http://",
            "http://h:1/hello",
            "http://u@h:1",
            "h:1",
        ] {
            assert_eq!(BaseUrl::parse(bad), Err(UrlError::Base), "{bad}");
        }
    }

    #[test]
    fn a_metrics_endpoint_defaults_its_path_and_says_how_to_write_one() {
        let e = MetricsUrl::parse("http://db1:9100").unwrap();
        assert_eq!((e.host(), e.path()), ("db1:9100", "/metrics"));
        for bad in ["https://db1:9100/metrics", "db1:9100", "http:///metrics"] {
            let e = MetricsUrl::parse(bad).unwrap_err();
            assert!(e.to_string().contains("http://host:9100/metrics"), "{e}");
        }
    }

    #[test]
    fn both_are_saved_as_their_text_and_checked_when_read_back() {
        let base = BaseUrl::parse("http://h:1").unwrap();
        assert_eq!(serde_json::to_string(&base).unwrap(), "\"http://h:1\"");
        let metrics: MetricsUrl = serde_json::from_str("\"http://h:9100/m\"").unwrap();
        assert_eq!(metrics.path(), "/m");
        assert!(serde_json::from_str::<BaseUrl>("\"ftp://h\"").is_err());
    }
}
