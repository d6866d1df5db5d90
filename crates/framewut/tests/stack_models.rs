//! Each built-in stack's concurrency model is what its catalogue entry
//! claims, seen from outside: how long concurrent `/sleep` requests take,
//! and how many connections the upstream counts per client variant. Bounds
//! are generous, for a busy 2-core machine.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use framewut_stacks::contract::{self, verify_response};
use framewut_stacks::upstream::UpstreamStats;
use framewut_stacks::Scenario;

use support::server::{start, Server};

const SLEEP_MS: u64 = 200;
const SLEEP: Duration = Duration::from_millis(SLEEP_MS);
const TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `n` GETs of `scenario` at once, each on its own connection, checks
/// every answer, and returns how long the slowest took.
fn concurrent(port: u16, scenario: Scenario, n: usize) -> Duration {
    let barrier = Barrier::new(n);
    let start = Instant::now();
    thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let response = contract::fetch(port, scenario.path(), TIMEOUT).unwrap();
                    verify_response(scenario, &response).unwrap();
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    start.elapsed()
}

fn serve(args: &[&str]) -> Server {
    let sleep = SLEEP_MS.to_string();
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--sleep-ms", &sleep]);
    start(&all).unwrap()
}

fn assert_between(what: &str, elapsed: Duration, low: Duration, high: Duration) {
    assert!(
        elapsed >= low && elapsed < high,
        "{what}: took {elapsed:?}, expected between {low:?} and {high:?}"
    );
}

#[test]
fn sync_pool_serves_one_request_per_worker_at_a_time() {
    let server = serve(&["rust/std/sync-pool", "--workers", "2"]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_between(
        "4 sleeps on 2 sync workers (2 rounds)",
        elapsed,
        SLEEP * 19 / 10,
        SLEEP * 35 / 10,
    );
}

#[test]
fn thread_per_connection_overlaps_every_connection() {
    let server = serve(&["rust/std/thread-per-conn"]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_between(
        "4 sleeps on 4 threads (1 round)",
        elapsed,
        SLEEP * 9 / 10,
        SLEEP * 19 / 10,
    );
}

#[test]
fn a_blocking_sleep_serialises_a_single_event_loop() {
    let server = serve(&["rust/hyper/tokio-current", "--variant", "sleep=blocking"]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_between(
        "4 blocking sleeps on one loop (4 rounds)",
        elapsed,
        SLEEP * 38 / 10,
        SLEEP * 7,
    );
}

#[test]
fn async_and_offloaded_sleeps_overlap_on_a_single_event_loop() {
    for variant in ["sleep=async", "sleep=offload"] {
        let server = serve(&["rust/hyper/tokio-current", "--variant", variant]);
        let elapsed = concurrent(server.port, Scenario::Sleep, 4);
        assert_between(
            &format!("4 sleeps, {variant}, on one loop (1 round)"),
            elapsed,
            SLEEP * 9 / 10,
            SLEEP * 19 / 10,
        );
    }
}

#[cfg(feature = "may")]
#[test]
fn coroutines_overlap_cooperative_sleeps_and_serialise_blocking_ones() {
    let server = serve(&[
        "rust/may/coroutines",
        "--workers",
        "1",
        "--variant",
        "sleep=async",
    ]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_between(
        "4 cooperative sleeps on 1 scheduler thread (1 round)",
        elapsed,
        SLEEP * 9 / 10,
        SLEEP * 19 / 10,
    );
    let server = serve(&[
        "rust/may/coroutines",
        "--workers",
        "1",
        "--variant",
        "sleep=blocking",
    ]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_between(
        "4 blocking sleeps on 1 scheduler thread (4 rounds)",
        elapsed,
        SLEEP * 38 / 10,
        SLEEP * 7,
    );
}

#[cfg(feature = "axum")]
#[test]
fn event_loops_per_worker_each_block_on_their_own() {
    // Two loops, blocking sleeps: two requests at a time, as with two gevent
    // workers running unpatched time.sleep. Both loops are reached because
    // the kernel spreads SO_REUSEPORT connections; allow for an uneven spread.
    let server = serve(&[
        "rust/axum/per-core",
        "--workers",
        "2",
        "--variant",
        "sleep=blocking",
    ]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_between(
        "4 blocking sleeps on 2 loops",
        elapsed,
        SLEEP * 19 / 10,
        SLEEP * 6,
    );
}

fn upstream_stats(port: u16) -> UpstreamStats {
    let response = contract::fetch(port, "/__stats", TIMEOUT).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    let field = |name: &str| {
        value[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no {name} in {value}"))
    };
    UpstreamStats {
        connections: field("connections"),
        requests: field("requests"),
        open: field("open"),
        peak_concurrent: field("peak_concurrent"),
        handshakes: field("handshakes"),
        resumptions: field("resumptions"),
    }
}

/// Sends 2 rounds of 4 concurrent /upstream requests through a stack and
/// returns the upstream connections and requests they cost.
#[cfg(all(feature = "axum", feature = "actix"))]
fn upstream_cost(upstream: &Server, stack: &[&str]) -> (u64, u64) {
    let url = format!("http://127.0.0.1:{}/", upstream.port);
    let mut args = stack.to_vec();
    args.extend_from_slice(&["--upstream", &url]);
    let server = serve(&args);
    let before = upstream_stats(upstream.port);
    for _ in 0..2 {
        concurrent(server.port, Scenario::Upstream, 4);
    }
    let after = upstream_stats(upstream.port);
    // The second /__stats fetch came on a connection of its own.
    (
        after.connections - before.connections - 1,
        after.requests - before.requests,
    )
}

#[cfg(all(feature = "axum", feature = "actix"))]
#[test]
fn fresh_clients_connect_per_request_and_pooled_clients_reuse() {
    let upstream = start(&["upstream", "--delay", "20ms"]).unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["rust/std/sync-pool", "--workers", "4"], "blocking"),
        (&["rust/axum/tokio-multi", "--workers", "2"], "async"),
        (&["rust/actix/workers", "--workers", "2"], "offload"),
    ];
    for (stack, client) in cases {
        for conn in ["fresh", "pooled"] {
            let variant = format!("upstream={client}-{conn}");
            let mut args = stack.to_vec();
            args.extend_from_slice(&["--variant", &variant]);
            let (connections, requests) = upstream_cost(&upstream, &args);
            assert_eq!(requests, 8, "{stack:?} {variant}");
            if conn == "fresh" {
                assert_eq!(
                    connections, 8,
                    "{stack:?} {variant}: one connection per request"
                );
            } else {
                assert!(
                    (1..=4).contains(&connections),
                    "{stack:?} {variant}: {connections} connections for 8 requests, 4 at a time"
                );
            }
        }
    }
}

/// Sends one GET on an open keep-alive connection and reads the response head and body.
fn get_on(stream: &mut BufReader<TcpStream>) -> Duration {
    let start = Instant::now();
    stream
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: upstream\r\n\r\n")
        .unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    std::io::Read::read_exact(stream, &mut body).unwrap();
    assert_eq!(body, framewut_stacks::upstream::UPSTREAM_BODY);
    start.elapsed()
}

#[test]
fn upstream_charges_the_connect_cost_once_per_connection() {
    let upstream = start(&["upstream", "--delay", "50ms", "--connect-cost", "100ms"]).unwrap();
    let stream = TcpStream::connect(("127.0.0.1", upstream.port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut stream = BufReader::new(stream);
    let first = get_on(&mut stream);
    let second = get_on(&mut stream);
    assert_between(
        "first response: delay + connect cost",
        first,
        Duration::from_millis(145),
        Duration::from_millis(600),
    );
    assert_between(
        "second response: delay only",
        second,
        Duration::from_millis(45),
        Duration::from_millis(140),
    );
}

#[test]
fn upstream_holds_ten_thousand_connections_and_reports_on_exit() {
    const CONNECTIONS: u64 = 10_000;
    framewut_sys::raise_open_file_limit();
    let mut upstream = start(&["upstream"]).unwrap();
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        held.push(TcpStream::connect(("127.0.0.1", upstream.port)).unwrap_or_else(|err| {
            panic!("connection {} of {CONNECTIONS}: {err} (the open-file hard limit must allow it)", held.len() + 1)
        }));
    }
    let deadline = Instant::now() + TIMEOUT;
    let mut stats = upstream_stats(upstream.port);
    while stats.peak_concurrent < CONNECTIONS && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        stats = upstream_stats(upstream.port);
    }
    assert!(stats.peak_concurrent >= CONNECTIONS, "{stats:?}");
    assert!(stats.open >= CONNECTIONS, "{stats:?}");
    drop(held);
    assert!(upstream.stop().is_some_and(|status| status.success()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while upstream.later_lines().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let exit_line = upstream.later_lines().join("\n");
    let expected = format!(
        "peak concurrent {} handshakes 0 resumptions 0",
        stats.peak_concurrent
    );
    assert!(
        exit_line.starts_with("framewut: upstream stats: connections ")
            && exit_line.ends_with(&expected),
        "{exit_line}"
    );
}
