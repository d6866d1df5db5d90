//! `framewut load` where things go wrong, as a user meets it: connections
//! a sync pool starves named and their requests counted, a load where
//! nothing succeeded or every request timed out told as such, and input
//! that would put a malformed request on the wire refused before any load.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;

use support::cli::{framewut, stderr};
use support::BIN;

/// `framewut serve rust/std/sync-pool` with 2 workers, each holding one
/// connection for as long as it stays open, and /sleep taking 20 ms; killed
/// when dropped.
struct SyncPool {
    child: Child,
    port: u16,
}

impl SyncPool {
    fn start() -> SyncPool {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "rust/std/sync-pool",
                "--workers",
                "2",
                "--sleep-ms",
                "20",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split_once("listening on http://127.0.0.1:")
                    .map(|(_, port)| port.trim().parse::<u16>().unwrap())
            })
            .expect("serve says where it listens");
        // Keep reading what it writes, so it never blocks on a full pipe.
        thread::spawn(move || lines.for_each(drop));
        SyncPool { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sleep", self.port)
    }
}

impl Drop for SyncPool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sync pool with 2 workers under 32 connections for 1 s: the 2
/// connections the workers took keep them, the other 30 wait all run. Each
/// of those times out at least once (300 ms) and has a request in flight at
/// the end; at most 2 x 1 s / 20 ms = 100 answers stand beside at least 30
/// requests aged 300 ms or more, over 1% of all, so the 99th percentile with
/// the unanswered is at least the timeout. Each load gets a fresh server:
/// one that served a load still owes the abandoned connections queued for
/// its workers, 20 ms each.
#[test]
fn connections_a_sync_pool_starves_are_named_and_their_requests_counted() {
    let load = |extra: &[&str]| {
        let pool = SyncPool::start();
        let url = pool.url();
        let mut args = vec![
            "load",
            &url,
            "-t",
            "1",
            "-c",
            "32",
            "-d",
            "1s",
            "--timeout",
            "300ms",
        ];
        args.extend_from_slice(extra);
        framewut(&args)
    };
    let out = load(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Silent connections: 30 of 32 connections got no answer",
        "Latency Distribution with the ",
        " unanswered requests at their age",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    let out = load(&["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(value["silent_connections"], 30, "{}", value["errors"]);
    let count = |v: &serde_json::Value| v.as_u64().unwrap();
    let (requests, unanswered) = (count(&value["requests"]), count(&value["unanswered"]));
    assert!(requests <= 100, "{requests}");
    assert!(unanswered >= 60, "{}", value["errors"]);
    let with = &value["latency_with_unanswered"];
    assert_eq!(
        count(&with["count"]),
        count(&value["responses"]) + unanswered
    );
    let p99 = with["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["percentile"] == 99.0)
        .unwrap();
    assert!(count(&p99["us"]) >= 300_000, "{with}");
}

/// A server that reads each request and answers it with `reply`, on every
/// connection, until the test ends.
fn answering(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if !reply.is_empty() && stream.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}/")
}

/// Input that would put a malformed request on the wire, or a value out of
/// range, is refused before any load: one line, exit 1, nothing on stdout.
#[test]
fn malformed_requests_and_out_of_range_values_are_refused_with_one_line() {
    let url = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-m", ""], "is not an HTTP method"),
        (vec!["-m", "G ET"], "is not an HTTP method"),
        (
            vec!["-m", "GET /x HTTP/1.1\r\nX: y"],
            "is not an HTTP method",
        ),
        (
            vec!["-H", "X-A: 1\r\nX-Injected: yes"],
            "the value has a control character",
        ),
        (vec!["-H", "Bad Name: x"], "a header name has letters"),
        (
            vec!["-H", "Content-Length: 100"],
            "disagrees with the 0-byte --body",
        ),
        (
            vec!["-H", "Transfer-Encoding: chunked", "--body", "x"],
            "Transfer-Encoding: ...' is refused",
        ),
        (vec!["--pipeline", "10000000"], "the deepest is 1024"),
        (vec!["--rate", "1e-19"], "--rate 1e-19 is out of range"),
        (vec!["--rate", "1e10"], "out of range"),
        (vec!["-t", "2000", "-c", "4000"], "too many threads"),
    ];
    for (extra, advice) in cases {
        let mut args = vec!["load", url.as_str(), "-n", "1"];
        args.extend(extra.iter().copied());
        let out = framewut(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?} printed to stdout");
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert!(
            err.contains(advice),
            "{extra:?}: expected {advice:?} in {err:?}"
        );
    }
    // Framing that agrees with the body is taken as given.
    let out = framewut(&[
        "load",
        &url,
        "-n",
        "3",
        "-m",
        "POST",
        "--body",
        "abc",
        "-H",
        "Content-Length: 3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = framewut(&["upstream", "--threads", "0"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0 is not in 1..=1024"), "{err}");
}

#[test]
fn a_load_where_nothing_succeeded_says_so_and_exits_3() {
    let url = answering(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
    for json in [false, true] {
        let mut args = vec!["load", url.as_str(), "-c", "1", "-t", "1", "-n", "5"];
        if json {
            args.push("--json");
        }
        let out = framewut(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains("no request succeeded"), "{err}");
        assert!(!out.stdout.is_empty(), "the figures are still printed");
    }
    let help = String::from_utf8(framewut(&["load", "--help"]).stdout).unwrap();
    assert!(
        help.contains("3    the load ran but no request succeeded"),
        "{help}"
    );
}

#[test]
fn connections_framewut_dropped_are_not_said_to_be_closed_by_the_server() {
    // Never answers: every reconnect follows a timeout.
    let url = answering(b"");
    let out = framewut(&[
        "load",
        &url,
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "3",
        "--timeout",
        "100ms",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text.contains("Socket errors: connect 0, read 0, write 0, timeout 3"),
        "{text}"
    );
    assert!(
        text.contains("dropped by framewut after a timeout"),
        "{text}"
    );
    assert!(!text.contains("the server closed"), "{text}");
}
