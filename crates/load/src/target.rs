//! The target: an `http://` or `https://` URL parsed and resolved once, before any load.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a URL cannot be loaded. Each message names the problem and the way out.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The text is not a URL framewut can read.
    #[error(
        "'{url}' is not a URL framewut can load ({problem}): write it as http[s]://HOST[:PORT]/PATH, \
         e.g. http://127.0.0.1:8080/hello or https://localhost:8443/hello"
    )]
    Malformed { url: String, problem: UrlProblem },
    /// A scheme other than `http` or `https`.
    #[error("'{url}': the scheme '{scheme}' is not supported; framewut loads http:// and https:// URLs only")]
    Unsupported { url: String, scheme: String },
    /// The host name does not resolve (`why` is the resolver's own error).
    #[error("cannot resolve host '{host}' ({why}): check the spelling, or use an address such as 127.0.0.1")]
    Unresolvable { host: String, why: io::Error },
    /// Nothing answers at the address (`why` is the connect error).
    #[error("cannot connect to {addr} ({why}): is the server running and listening on that port?")]
    Unreachable { addr: SocketAddr, why: io::Error },
}

/// What is wrong in a malformed URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    #[error("no scheme")]
    NoScheme,
    #[error("bad scheme")]
    BadScheme,
    #[error("user information is not supported")]
    UserInfo,
    #[error("no host")]
    NoHost,
    #[error("an IPv6 address lacks its closing ']'")]
    UnclosedIpv6,
    #[error("'{0}' is not a port number (1-65535)")]
    BadPort(String),
    #[error("the path contains spaces or control characters")]
    BadPath,
}

/// A parsed and resolved `http://` or `https://` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// The `Host` header value: the host, with the port when it was written.
    pub host_header: String,
    /// Path and query, at least `/`.
    pub path: String,
    /// The address connections go to (the first the resolver returned).
    pub addr: SocketAddr,
    // HTTPS: whether the URL asks for TLS, and the host the server's
    // certificate must name (a DNS name, sent as SNI, or an IP address,
    // matched against the certificate's IP addresses and sent as no SNI).
    /// Whether the scheme is `https`.
    pub https: bool,
    /// The host as written, without brackets or port.
    pub host: String,
}

impl Target {
    /// Parses an `http://` or `https://` URL and resolves its host (port 80
    /// or 443 when not written).
    ///
    /// ```
    /// let t = framewut_load::Target::parse("http://127.0.0.1:8080/hello?x=1").unwrap();
    /// assert_eq!(t.path, "/hello?x=1");
    /// assert_eq!(t.addr.port(), 8080);
    /// ```
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let malformed = |problem| TargetError::Malformed {
            url: url.to_string(),
            problem,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| malformed(UrlProblem::NoScheme))?;
        let scheme = scheme.to_ascii_lowercase();
        let https = scheme == "https";
        if scheme != "http" && !https {
            if scheme.is_empty()
                || !scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            {
                return Err(malformed(UrlProblem::BadScheme));
            }
            return Err(TargetError::Unsupported {
                url: url.to_string(),
                scheme,
            });
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') {
            return Err(malformed(UrlProblem::UserInfo));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = split_host_port(authority, default_port).map_err(malformed)?;
        if host.is_empty() {
            return Err(malformed(UrlProblem::NoHost));
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(malformed(UrlProblem::BadPath));
        }
        let lookup = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let addr = lookup
            .to_socket_addrs()
            .map_err(|e| TargetError::Unresolvable {
                host: host.clone(),
                why: e,
            })?
            .next()
            .ok_or_else(|| TargetError::Unresolvable {
                host: host.clone(),
                why: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
            })?;
        Ok(Target {
            url: url.to_string(),
            host_header: authority.to_string(),
            path,
            addr,
            https,
            host,
        })
    }

    /// `path` on a server of this machine listening on `port` of 127.0.0.1,
    /// over HTTPS when `https` (its certificate names the address): nothing
    /// to parse or resolve.
    pub fn loopback(port: u16, path: &str, https: bool) -> Target {
        let scheme = if https { "https" } else { "http" };
        let host_header = format!("127.0.0.1:{port}");
        Target {
            url: format!("{scheme}://{host_header}{path}"),
            host_header,
            path: path.to_string(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            https,
            host: "127.0.0.1".to_string(),
        }
    }

    /// Opens and closes one connection, so a run against a dead target fails
    /// at once with a clear message instead of a screen of connect errors.
    pub fn probe(&self, timeout: Duration) -> Result<(), TargetError> {
        TcpStream::connect_timeout(&self.addr, timeout)
            .map(drop)
            .map_err(|why| TargetError::Unreachable {
                addr: self.addr,
                why,
            })
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), UrlProblem> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlProblem::UnclosedIpv6)?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| UrlProblem::BadPort(p.to_string()))?,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_target_is_what_parsing_its_url_gives() {
        for https in [false, true] {
            let made = Target::loopback(8443, "/cpu?n=1", https);
            assert_eq!(made, Target::parse(&made.url).unwrap());
        }
    }

    #[test]
    fn parses_hosts_ports_and_paths() {
        let t = Target::parse("http://localhost:9/").unwrap();
        assert_eq!(t.addr.port(), 9);
        assert_eq!(t.host_header, "localhost:9");
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert_eq!(t.path, "/");
        assert!(t.addr.is_ipv6());
        let t = Target::parse("HTTP://127.0.0.1?q=1#frag").unwrap();
        assert_eq!(t.path, "/?q=1");
        assert_eq!(t.addr.port(), 80);
        assert!(!t.https);
    }

    #[test]
    fn https_defaults_to_port_443_and_keeps_the_host_for_the_certificate() {
        let t = Target::parse("https://localhost/x").unwrap();
        assert!(t.https);
        assert_eq!(t.addr.port(), 443);
        assert_eq!(t.host, "localhost");
        assert_eq!(t.host_header, "localhost");
        let t = Target::parse("HTTPS://[::1]:8443/").unwrap();
        assert!(t.https);
        assert_eq!(t.host, "::1");
        assert_eq!(t.addr.port(), 8443);
    }

    #[test]
    fn refuses_bad_urls_with_a_way_out() {
        let err = Target::parse("127.0.0.1:8080/hello").unwrap_err();
        assert!(err.to_string().contains("http[s]://HOST"), "{err}");
        let err = Target::parse("http://127.0.0.1:99999/").unwrap_err();
        assert!(err.to_string().contains("port number"), "{err}");
        assert!(
            matches!(&err, TargetError::Malformed { problem: UrlProblem::BadPort(p), .. } if p == "99999"),
            "{err}"
        );
        let err = Target::parse("ftp://127.0.0.1/").unwrap_err();
        assert!(
            matches!(&err, TargetError::Unsupported { scheme, .. } if scheme == "ftp"),
            "{err}"
        );
        let err = Target::parse("http://no-such-host.invalid/").unwrap_err();
        assert!(matches!(err, TargetError::Unresolvable { .. }), "{err}");
    }

    #[test]
    fn probe_names_a_refused_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let t = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let err = t.probe(Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("is the server running"), "{err}");
    }
}
