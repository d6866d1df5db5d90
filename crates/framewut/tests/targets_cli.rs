//! `framewut load --targets`, `--threshold` and the live view, as a user
//! meets them: per-target counts against the server's own, a malformed
//! targets file named by line, exit statuses, and the status block on a
//! terminal only.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use support::{Scratch, BIN};

/// Every command here is over in seconds; this bounds a hang.
const LIMIT: Duration = Duration::from_secs(60);

/// A keep-alive server that counts the requests it reads by path and
/// answers each with a small 200, until dropped.
struct Counting {
    port: u16,
    paths: Arc<Mutex<BTreeMap<String, u64>>>,
    stop: Arc<AtomicBool>,
}

impl Counting {
    fn start() -> Counting {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let paths = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (paths.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (p, s) = (p.clone(), s.clone());
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                thread::spawn(move || {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    while !s.load(Ordering::SeqCst) {
                        match stream.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                            Err(_) => continue,
                        }
                        // The test's requests have no body: each ends at its blank line.
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                            pending.drain(..end + 4);
                            let path = head.split(' ').nth(1).unwrap_or("?").to_string();
                            *p.lock().unwrap().entry(path).or_default() += 1;
                            if stream.write_all(reply).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Counting { port, paths, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn framewut(args: &[&str]) -> Output {
    support::run_bounded(
        {
            let mut c = Command::new(BIN);
            c.args(args).stdin(Stdio::null());
            c
        },
        LIMIT,
    )
}

fn three_paths(dir: &Scratch, server: &Counting) -> String {
    let text = format!(
        "# three paths, one server\nGET {}\n\nGET {}\nX-Test: 1\n\nGET {}\n",
        server.url("/a"),
        server.url("/b"),
        server.url("/c?q=1")
    );
    dir.write("targets.txt", &text).display().to_string()
}

#[test]
fn round_robin_counts_per_target_match_the_servers_own() {
    let dir = Scratch::new("targets-rr");
    let server = Counting::start();
    let file = three_paths(&dir, &server);
    let out = framewut(&[
        "load",
        "--targets",
        &file,
        "-c",
        "4",
        "-t",
        "2",
        "--requests",
        "600",
        "--json",
    ]);
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(value["schema"], "framewut-load/3");
    let ours: BTreeMap<String, u64> = value["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let url = t["url"].as_str().unwrap();
            let path = url.split_once(&format!(":{}", server.port)).unwrap().1;
            assert_eq!(t["requests"], t["responses"]["2xx"], "{t}");
            assert_eq!(t["errors"], 0, "{t}");
            assert_eq!(t["latency"]["count"], t["requests"], "{t}");
            (path.to_string(), t["requests"].as_u64().unwrap())
        })
        .collect();
    let theirs = server.paths.lock().unwrap().clone();
    assert_eq!(
        ours, theirs,
        "framewut's per-target counts against the server's"
    );
    // Round-robin: 600 requests over 3 entries, each thread's cycle starting
    // where the one before it left off, is 200 each.
    assert_eq!(
        theirs.values().copied().collect::<Vec<_>>(),
        [200, 200, 200]
    );
    assert_eq!(value["requests"], 600);
}

#[test]
fn the_text_output_has_a_table_per_target_and_sequential_sends_the_list_in_order() {
    let dir = Scratch::new("targets-text");
    let server = Counting::start();
    let file = three_paths(&dir, &server);
    // One connection sending the list in order: 7 requests are a, b, c, a, b, c, a.
    let out = framewut(&[
        "load",
        "--targets",
        &file,
        "--targets-order",
        "sequential",
        "-c",
        "1",
        "-t",
        "1",
        "--requests",
        "7",
    ]);
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    let text = support::text(&out.stdout);
    assert!(text.contains("@ 3 targets on http://127.0.0.1:"), "{text}");
    for (path, n) in [("/a", 3), ("/b", 2), ("/c?q=1", 2)] {
        let row = text
            .lines()
            .find(|l| l.contains(&format!("GET {}", server.url(path))))
            .unwrap_or_else(|| panic!("a row for {path}: {text}"));
        let requests: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(requests, n, "{row}");
    }
}

#[test]
fn a_list_read_from_standard_input_is_sent() {
    let server = Counting::start();
    let mut child = Command::new(BIN)
        .args([
            "load",
            "--targets",
            "-",
            "-c",
            "1",
            "-t",
            "1",
            "--requests",
            "4",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let list = format!("GET {}\n\nGET {}\n", server.url("/x"), server.url("/y"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let out = support::wait_bounded(child, LIMIT);
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    let theirs = server.paths.lock().unwrap().clone();
    assert_eq!(theirs, BTreeMap::from([("/x".into(), 2), ("/y".into(), 2)]));
}

#[test]
fn a_malformed_targets_file_is_refused_with_its_line_number() {
    let dir = Scratch::new("targets-bad");
    let file = dir.write(
        "targets.txt",
        "GET http://127.0.0.1:9/a\nX-A: 1\n\nGET http://127.0.0.1:9/b\n\nhttp://127.0.0.1:9/c\n",
    );
    let out = framewut(&["load", "--targets", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = support::text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:6: expected \"METHOD URL\", found \"http://127.0.0.1:9/c\"",
            file.display()
        )),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let out = framewut(&["load", "--targets", "-", "http://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(2), "a URL and --targets together");
}

#[test]
fn thresholds_held_exit_0_and_crossed_exit_4_with_their_values() {
    let server = Counting::start();
    let url = server.url("/a");
    let base = ["load", &url, "-c", "2", "-t", "1", "--requests", "200"];
    let held = framewut(
        &[
            &base[..],
            &["--threshold", "p99<10s", "--threshold", "errors<1%"],
        ]
        .concat(),
    );
    assert_eq!(
        held.status.code(),
        Some(0),
        "{}",
        support::text(&held.stderr)
    );
    let text = support::text(&held.stdout);
    assert!(text.contains("Threshold p99 < 10s"), "{text}");
    assert_eq!(text.matches(" held ").count(), 2, "{text}");

    let crossed = framewut(
        &[
            &base[..],
            &[
                "--threshold",
                "errors<1%",
                "--threshold",
                "rate>1000000000",
                "--json",
            ],
        ]
        .concat(),
    );
    assert_eq!(
        crossed.status.code(),
        Some(4),
        "{}",
        support::text(&crossed.stderr)
    );
    let value: Value = serde_json::from_slice(&crossed.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");
    let t = value["thresholds"].as_array().unwrap();
    assert_eq!(t[0]["threshold"], "errors < 1%");
    assert_eq!(
        (t[0]["held"].as_bool(), t[0]["measured"].as_f64()),
        (Some(true), Some(0.0))
    );
    assert_eq!(t[1]["held"], false);
    assert_eq!(t[1]["measured"], value["requests_per_s"]);
    assert!(support::text(&crossed.stderr).contains("1 of 2 thresholds crossed"));

    let bad = framewut(&["load", &url, "--threshold", "p42<1ms"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a threshold that does not parse is a usage error"
    );
    assert!(support::text(&bad.stderr).contains("unknown percentile 'p42'"));
}

/// Runs a 1.5-second load with stderr on a pseudo-terminal (`script`, from
/// util-linux) and returns what the terminal showed.
fn on_a_terminal(url: &str, extra: &str) -> String {
    let command = format!("{BIN} load {url} -c 2 -t 1 -d 1500ms {extra} >/dev/null");
    let out = support::run_bounded(
        {
            let mut c = Command::new("script");
            c.args(["-q", "-e", "-c", &command, "/dev/null"])
                .stdin(Stdio::null());
            c
        },
        LIMIT,
    );
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    support::text(&out.stdout)
}

#[test]
fn the_live_view_is_drawn_on_a_terminal_and_never_into_a_pipe() {
    let server = Counting::start();
    let url = server.url("/a");
    let screen = on_a_terminal(&url, "");
    // Redrawn in place: 1.5 s at 4 a second is about 6 blocks, each after
    // the first moving the cursor up over the one before.
    assert!(screen.contains("framewut load  "), "{screen:?}");
    assert!(screen.contains("req/s in the last second"), "{screen:?}");
    assert!(screen.contains("p50 "), "{screen:?}");
    assert!(screen.contains("connections open 2"), "{screen:?}");
    assert!(screen.matches("\x1b[4A").count() >= 2, "{screen:?}");
    let quiet = on_a_terminal(&url, "--no-live");
    assert!(!quiet.contains("framewut load  "), "{quiet:?}");

    let piped = framewut(&["load", &url, "-c", "2", "-t", "1", "-d", "1s"]);
    assert!(piped.status.success());
    let all = format!(
        "{}{}",
        support::text(&piped.stdout),
        support::text(&piped.stderr)
    );
    assert!(
        !all.contains('\x1b') && !all.contains("last second"),
        "{all:?}"
    );
}
