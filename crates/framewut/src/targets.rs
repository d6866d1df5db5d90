//! `framewut load --targets FILE`: vegeta's HTTP targets format.
//!
//! ```text
//! # a comment
//! GET http://127.0.0.1:8080/hello
//! X-Request-Id: 1
//!
//! POST http://127.0.0.1:8080/items
//! Content-Type: application/json
//! @body.json
//! ```
//!
//! A request line `METHOD URL`, then its header lines `Name: value`, then an
//! optional `@path` whose file is the body (relative to the targets file);
//! requests are separated by blank lines (or simply follow one another).
//! Every URL must be on the same `scheme://host:port`: a connection serves
//! any request of the list.

use std::path::{Path, PathBuf};

use framewut_load::{PlanError, RequestSpec, Target, TargetRequest};

/// A parsed targets file: the server all its requests go to, and the requests.
#[derive(Debug)]
pub struct Targets {
    pub target: Target,
    pub requests: Vec<TargetRequest>,
}

/// Reads a targets file, or standard input for `-`.
pub fn read(path: &Path) -> anyhow::Result<Targets> {
    let (text, name, base) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| anyhow::anyhow!("cannot read the targets from standard input ({e})"))?;
        (text, "<stdin>".to_string(), PathBuf::from("."))
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the targets file {} ({e}): give a readable file, or - for standard input",
                path.display()
            )
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (text, path.display().to_string(), base)
    };
    parse(&text, &name, &base, &|p| std::fs::read(p))
}

/// One request as written, with the line of each part for error messages.
struct Draft {
    line: usize,
    method: String,
    url: String,
    target: Target,
    /// Each header with its line.
    headers: Vec<(String, String, usize)>,
    body: Vec<u8>,
    body_line: Option<usize>,
}

/// Parses targets text; `name` labels errors, `base` anchors `@body` paths,
/// and `read_body` reads a body file.
pub fn parse(
    text: &str,
    name: &str,
    base: &Path,
    read_body: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> anyhow::Result<Targets> {
    parse_as(text, name, base, read_body, Urls::Absolute)
}

/// Reads a matrix's request list: the targets format with a path where a
/// URL would be (`GET /items`), since the lab picks the stack's address.
pub fn read_paths(path: &Path) -> anyhow::Result<Vec<TargetRequest>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the request list {} ({e})", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path.display().to_string();
    parse_as(&text, &name, &base, &|p| std::fs::read(p), Urls::Paths).map(|t| t.requests)
}

/// What a request line names: a whole URL, or a path on a server the caller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urls {
    Absolute,
    Paths,
}

fn parse_as(
    text: &str,
    name: &str,
    base: &Path,
    read_body: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    urls: Urls,
) -> anyhow::Result<Targets> {
    let at = |line: usize, what: String| anyhow::anyhow!("{name}:{line}: {what}");
    let mut drafts: Vec<Draft> = Vec::new();
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            open = false;
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        if open {
            let draft = drafts.last_mut().expect("an open request");
            if let Some(body) = trimmed.strip_prefix('@') {
                if draft.body_line.is_some() {
                    return Err(at(
                        line,
                        format!(
                            "a second body file {trimmed:?}: a request has at most one @file line"
                        ),
                    ));
                }
                let path = base.join(body.trim());
                draft.body = read_body(&path).map_err(|e| {
                    at(
                        line,
                        format!("cannot read the body file {} ({e})", path.display()),
                    )
                })?;
                draft.body_line = Some(line);
                continue;
            }
            if let Some((header, value)) = trimmed.split_once(':') {
                if !header.contains(char::is_whitespace) {
                    if draft.body_line.is_some() {
                        return Err(at(
                            line,
                            format!("a header {trimmed:?} after the @body line: headers come before the body"),
                        ));
                    }
                    draft
                        .headers
                        .push((header.to_string(), value.trim().to_string(), line));
                    continue;
                }
            }
        }
        // Not part of an open request: a new request line.
        let mut words = trimmed.split_whitespace();
        let (Some(method), Some(url), None) = (words.next(), words.next(), words.next()) else {
            let expected = if open {
                "a header \"Name: value\", an \"@body-file\" line, or a new \"METHOD URL\""
            } else {
                "\"METHOD URL\""
            };
            return Err(at(line, format!("expected {expected}, found {trimmed:?}")));
        };
        let target = match urls {
            Urls::Absolute => Target::parse(url).map_err(|e| at(line, e.to_string()))?,
            Urls::Paths if url.starts_with('/') => Target::loopback(0, url, false),
            Urls::Paths => {
                return Err(at(
                    line,
                    format!(
                        "{url:?} is not a path: a matrix's request list names paths, e.g.                          GET /items, and framewut sends them to each stack it starts"
                    ),
                ))
            }
        };
        if let Some(first) = drafts.first() {
            if target.addr != first.target.addr || target.host_header != first.target.host_header {
                return Err(at(
                    line,
                    format!(
                        "{url} is on another server than the first request ({}, line {}): every \
                         request of a list goes to one scheme://host:port, because any connection \
                         sends any of them; load the other server in a run of its own",
                        first.url, first.line
                    ),
                ));
            }
        }
        drafts.push(Draft {
            line,
            method: method.to_string(),
            url: url.to_string(),
            target,
            headers: Vec::new(),
            body: Vec::new(),
            body_line: None,
        });
        open = true;
    }
    let Some(first) = drafts.first() else {
        return Err(anyhow::anyhow!(
            "{name}: no requests: expected at least one \"METHOD URL\" line, e.g. GET http://127.0.0.1:8080/hello"
        ));
    };
    let target = first.target.clone();
    let mut requests = Vec::with_capacity(drafts.len());
    for d in drafts {
        let request = RequestSpec {
            method: d.method,
            headers: d
                .headers
                .iter()
                .map(|(n, v, _)| (n.clone(), v.clone()))
                .collect(),
            body: d.body,
        };
        if let Err(e) = request.validate() {
            let header_line = |name: &str| {
                d.headers
                    .iter()
                    .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
                    .map_or(d.line, |h| h.2)
            };
            let line = match &e {
                PlanError::BadHeaderName { name } | PlanError::BadHeaderValue { name } => {
                    header_line(name)
                }
                PlanError::LengthDisagrees { .. } => header_line("content-length"),
                PlanError::TransferEncodingGiven => header_line("transfer-encoding"),
                _ => d.line,
            };
            return Err(at(line, e.to_string()));
        }
        requests.push(TargetRequest {
            url: d.url,
            path: d.target.path,
            request,
        });
    }
    Ok(Targets { target, requests })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> anyhow::Result<Targets> {
        parse(text, "t.txt", Path::new("/d"), &|p| {
            if p == Path::new("/d/body.json") {
                Ok(b"{\"a\":1}".to_vec())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not found",
                ))
            }
        })
    }

    #[test]
    fn reads_requests_headers_bodies_and_comments() {
        let t = parse_text(
            "# list\nGET http://127.0.0.1:8080/a\nX-A: 1\n\n\nPOST http://127.0.0.1:8080/b?q=1\n\
             Content-Type: application/json\n@body.json\nGET http://127.0.0.1:8080/c\n",
        )
        .unwrap();
        assert_eq!(t.target.addr.port(), 8080);
        let paths: Vec<&str> = t.requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/a", "/b?q=1", "/c"]);
        assert_eq!(t.requests[0].request.headers, [("X-A".into(), "1".into())]);
        assert_eq!(t.requests[1].request.method, "POST");
        assert_eq!(t.requests[1].request.body, b"{\"a\":1}");
        assert!(t.requests[2].request.headers.is_empty());
    }

    #[test]
    fn a_matrixs_list_names_paths_not_urls() {
        let dir = std::env::temp_dir().join(format!("framewut-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("mixed.txt");
        std::fs::write(&list, "GET /api?limit=2\n\nPOST /items\nX-A: 1\n").unwrap();
        let requests = read_paths(&list).unwrap();
        let lines: Vec<(&str, &str)> = requests
            .iter()
            .map(|r| (r.request.method.as_str(), r.path.as_str()))
            .collect();
        assert_eq!(lines, [("GET", "/api?limit=2"), ("POST", "/items")]);
        std::fs::write(&list, "GET http://127.0.0.1:8080/a\n").unwrap();
        let err = read_paths(&list).unwrap_err().to_string();
        assert!(
            err.contains("mixed.txt:1") && err.contains("is not a path"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_the_line_and_what_was_expected() {
        for (text, wanted) in [
            ("GET\n", "t.txt:1: expected \"METHOD URL\", found \"GET\""),
            (
                "GET http://127.0.0.1:1/\nnot a header\n",
                "t.txt:2: expected a header \"Name: value\"",
            ),
            ("\n\nGET 127.0.0.1/\n", "t.txt:3: '127.0.0.1/' is not a URL"),
            (
                "GET http://127.0.0.1:1/\n@missing\n",
                "t.txt:2: cannot read the body file /d/missing",
            ),
            ("G:T http://127.0.0.1:1/\n", "t.txt:1: the method \"G:T\""),
            (
                "GET http://127.0.0.1:1/\nX-A: 1\nBad\x01: 2\n",
                "t.txt:3: the header name",
            ),
            (
                "GET http://127.0.0.1:1/\nContent-Length: 5\n",
                "t.txt:2: a Content-Length of \"5\"",
            ),
            (
                "GET http://127.0.0.1:1/\n\nGET http://127.0.0.1:2/\n",
                "t.txt:3: http://127.0.0.1:2/ is on another server",
            ),
            ("# nothing\n\n", "t.txt: no requests"),
        ] {
            let err = parse_text(text).unwrap_err().to_string();
            assert!(err.starts_with(wanted), "{text:?}: {err}");
        }
    }
}
