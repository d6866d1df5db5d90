//! `framewut load` as a user meets it: the JSON it prints against its
//! schema, wrk-like text, one clear line for each kind of bad input, a
//! target that dies mid-run and Ctrl-C. Loads that starve, fail or go
//! unanswered, and requests refused before the wire, are in
//! load_cli_failures.rs.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::cli::{framewut, stderr};
use support::BIN;

/// A keep-alive server answering every request with a small JSON body,
/// until `stop` is set: then it closes every connection and stops accepting.
struct Hello {
    port: u16,
    requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Hello {
    fn start() -> Hello {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let (r, s) = (r.clone(), s.clone());
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_millis(20)))
                            .unwrap();
                        thread::spawn(move || {
                            let mut pending = Vec::new();
                            let mut buf = [0u8; 4096];
                            let body = br#"{"message":"helowrld"}"#;
                            let reply = [
                                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
                                body,
                            ]
                            .concat();
                            while !s.load(Ordering::SeqCst) {
                                match stream.read(&mut buf) {
                                    Ok(0) => return,
                                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                                    Err(_) => continue,
                                }
                                while let Some(end) =
                                    pending.windows(4).position(|w| w == b"\r\n\r\n")
                                {
                                    pending.drain(..end + 4);
                                    r.fetch_add(1, Ordering::SeqCst);
                                    if stream.write_all(&reply).is_err() {
                                        return;
                                    }
                                }
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hello {
            port,
            requests,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hello", self.port)
    }

    /// Waits until it has answered `n` requests; fails after a minute.
    fn wait_for_requests(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.requests.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "no load came within a minute");
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn json_output_matches_its_schema_and_counts_exactly() {
    let server = Hello::start();
    let out = framewut(&[
        "load",
        &server.url(),
        "-c",
        "4",
        "-t",
        "2",
        "--requests",
        "500",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");

    assert_eq!(value["requests"], 500);
    assert_eq!(server.requests.load(Ordering::SeqCst), 500);
    let histogram = value["latency"]["histogram"].as_str().unwrap();
    let h = framewut_load::decode_histogram(histogram).unwrap();
    assert_eq!(h.len(), 500);
    assert!(
        value["generator_cpu"]["user_s"].as_f64().unwrap()
            + value["generator_cpu"]["system_s"].as_f64().unwrap()
            > 0.0
    );
}

/// One connection asked for means one thread: `-t` defaults to 2 only for
/// loads of 2 connections or more, and a `-t` given is still checked.
#[test]
fn one_connection_runs_on_one_thread_unless_told_otherwise() {
    let server = Hello::start();
    let out = framewut(&["load", &server.url(), "-c", "1", "-n", "20", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["plan"]["threads"], 1);
    assert_eq!(value["plan"]["connections"], 1);
    assert_eq!(value["requests"], 20);

    let out = framewut(&["load", &server.url(), "-c", "3", "-n", "20", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["plan"]["threads"], 2);

    let out = framewut(&["load", &server.url(), "-c", "1", "-t", "2", "-n", "20"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("2 threads for 1 connections") && stderr(&out).contains("-t 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn busy_polling_counts_the_same_and_is_recorded_in_the_plan() {
    let server = Hello::start();
    let url = server.url();
    let load = |extra: &[&str]| {
        let mut args = vec![
            "load",
            &url,
            "-c",
            "4",
            "-t",
            "1",
            "--requests",
            "300",
            "--json",
        ];
        args.extend_from_slice(extra);
        framewut(&args)
    };
    let out = load(&["--busy-poll", "50us"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(value["requests"], 300);
    assert_eq!(value["plan"]["busy_poll_us"], 50);
    // Without the flag the plan says nothing of it.
    let plain: serde_json::Value = serde_json::from_slice(&load(&[]).stdout).unwrap();
    assert!(
        plain["plan"].get("busy_poll_us").is_none(),
        "{}",
        plain["plan"]
    );
    for bad in ["0us", "5ms", "soon"] {
        let out = load(&["--busy-poll", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("--busy-poll"), "{}", stderr(&out));
    }
}

#[test]
fn coalescing_reads_answers_late_and_together_and_says_so() {
    let server = Hello::start();
    let url = server.url();
    let load = |extra: &[&str]| {
        let mut args = vec!["load", &url, "-t", "1", "--json"];
        args.extend_from_slice(extra);
        let out = framewut(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = support::errors_against(support::LOAD_SCHEMA, &value);
        assert!(problems.is_empty(), "{problems:#?}");
        value
    };
    // One connection: each answer comes in well under a millisecond, and
    // is read only after the nap that follows the wake-up that sent its
    // request, so no latency can be below the nap.
    let one = load(&["-c", "1", "--requests", "50", "--coalesce", "1ms"]);
    assert_eq!(one["requests"], 50);
    assert_eq!(one["plan"]["coalesce_us"], 1000);
    let min = one["latency"]["min_us"].as_u64().unwrap();
    assert!(
        min >= 1000,
        "an answer was read {min} µs after its request, inside the nap"
    );
    // Many connections: a nap gathers the answers of all of them. The
    // server answers each in well under the 500 µs nap, so a wake-up reads
    // a round of up to 32 answers and makes at most two context switches
    // (the nap, and a poll that found nothing yet); and as every round
    // waits out a nap, no more than 32 requests are answered per 500 µs.
    let coalesced = load(&["-c", "32", "--requests", "6400", "--coalesce", "500us"]);
    assert_eq!(coalesced["requests"], 6400);
    let switches = coalesced["generator_cpu"]["voluntary_switches"]
        .as_u64()
        .unwrap() as f64
        / 6400.0;
    assert!(
        switches <= 2.0 / 8.0,
        "{switches:.3} switches a request: a nap should gather at least 8 answers"
    );
    let rate = coalesced["requests_per_s"].as_f64().unwrap();
    assert!(
        rate <= 32.0 / 500e-6 * 1.05,
        "{rate:.0} req/s: faster than one round of 32 per nap"
    );
    let plain = load(&["-c", "2", "--requests", "20"]);
    assert!(
        plain["plan"].get("coalesce_us").is_none(),
        "{}",
        plain["plan"]
    );
    // The text output says the latency includes the wait.
    let out = framewut(&[
        "load",
        &url,
        "-c",
        "2",
        "--requests",
        "20",
        "--coalesce",
        "20us",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Coalesced: each wake-up that read something waited 20"),
        "{text}"
    );
    for bad in [
        &["--coalesce", "0us"][..],
        &["--coalesce", "5ms"],
        &["--coalesce", "soon"],
        &["--coalesce", "20us", "--busy-poll", "50us"],
    ] {
        let out = framewut(&[&["load", &url, "--requests", "5"][..], bad].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            stderr(&out).contains("--coalesce"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn text_output_reads_like_wrk() {
    let server = Hello::start();
    let out = framewut(&[
        "load",
        &server.url(),
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "300ms",
        "--latency",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Running 300.00ms test @",
        "1 threads and 2 connections",
        "Thread Stats",
        "Latency Distribution",
        "99.99%",
        "Requests/sec:",
        "Transfer/sec:",
        "Generator CPU:",
        "Latency spectrum",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn bad_input_gets_one_clear_line_and_a_nonzero_exit() {
    let server = Hello::start();
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())
    };
    let url = server.url();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["load", "127.0.0.1:8080/hello"],
            "write it as http[s]://HOST",
        ),
        (
            vec!["load", &url, "--insecure"],
            "--cacert, --insecure and --tls-resume are for https:// URLs",
        ),
        (
            vec![
                "load",
                "https://127.0.0.1:1/",
                "--cacert",
                "/no/such/ca.pem",
            ],
            "give --cacert the PEM file of the CA",
        ),
        (
            vec!["load", "http://no-such-host.invalid/"],
            "cannot resolve host",
        ),
        (vec!["load", &refused], "is the server running"),
        (vec!["load", &url, "-c", "0"], "give at least one with -c"),
        (
            vec!["load", &url, "-t", "8", "-c", "2"],
            "use -t 2 or more connections",
        ),
        (
            vec!["load", &url, "--rate", "0"],
            "above 0, e.g. --rate 1000",
        ),
        (vec!["load", &url, "-d", "10x"], "e.g. 10s, 500ms, 2m"),
        (vec!["load", &url, "-d", "10"], "has no unit"),
        (vec!["load", &url, "-H", "nocolon"], "\"Name: value\""),
    ];
    for (args, advice) in cases {
        let out = framewut(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(advice),
            "{args:?}: expected {advice:?} in {err:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}

/// Regression: `--cpus` panicked for every value ("Mismatch between
/// definition and access of `cpus`"), because clap was handed a parser
/// returning a list for a field it read as one value.
#[test]
fn cpus_runs_the_load_and_a_bad_cpu_list_gets_one_clear_line() {
    let server = Hello::start();
    let url = server.url();
    let out = framewut(&[
        "load", &url, "--cpus", "0", "-c", "2", "-t", "2", "-d", "300ms",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(server.requests.load(Ordering::SeqCst) > 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Requests/sec:"));

    for (cpus, message) in [
        (
            "5000",
            "CPU 5000 is beyond the 1024 CPUs a CPU set can name (0-1023)",
        ),
        (
            "x",
            "\"x\" is not a CPU list: write it as e.g. 0, 0-3 or 0,2,4-5",
        ),
        (
            "3-1",
            "the range 3-1 runs backwards: write the lower CPU first, as 1-3",
        ),
    ] {
        let out = framewut(&["load", &url, "--cpus", cpus, "-d", "1s"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--cpus {cpus}: {err}");
        assert!(out.stdout.is_empty(), "--cpus {cpus} printed to stdout");
        assert!(!err.contains("panicked"), "--cpus {cpus}: {err}");
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("error"))
            .collect();
        assert_eq!(errors.len(), 1, "--cpus {cpus}: {err}");
        assert!(
            errors[0].ends_with(&format!("'--cpus <CPUS>': {message}")),
            "--cpus {cpus}: {err}"
        );
    }
}

#[test]
fn a_target_that_dies_mid_run_ends_with_counted_errors_and_a_summary() {
    let server = Hello::start();
    let child = Command::new(BIN)
        .args([
            "load",
            &server.url(),
            "-c",
            "4",
            "-t",
            "1",
            "-d",
            "3s",
            "--timeout",
            "300ms",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The server dies once it has answered the load.
    server.wait_for_requests(10);
    drop(server);
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    // The rest of the 3 s and one timeout, with room for a busy machine:
    // a load that ignored its end would run on.
    assert!(started.elapsed() < Duration::from_secs(20), "it hung");
    assert!(out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(value["requests"].as_u64().unwrap() > 0);
    let e = &value["errors"];
    let failures = ["connect", "read", "timeout"]
        .iter()
        .map(|k| e[k].as_u64().unwrap())
        .sum::<u64>();
    assert!(failures > 0, "{e}");
}

#[test]
fn ctrl_c_prints_what_was_measured_and_exits_130() {
    let server = Hello::start();
    let child = Command::new(BIN)
        .args(["load", &server.url(), "-c", "2", "-t", "1", "-d", "30s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Ctrl-C once the load is under way.
    server.wait_for_requests(10);
    // SAFETY: signalling the child this test started, by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Interrupted") && text.contains("Requests/sec:"),
        "{text}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_program_quietly() {
    let mut child = Command::new(BIN)
        .args(["run", "rust", "--dry-run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end at once: every line printed meets a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
