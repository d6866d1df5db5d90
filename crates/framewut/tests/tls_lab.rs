//! HTTPS in the lab, through the real binary: an upstream over TLS called
//! with fresh and pooled connections (the upstream's handshakes counted
//! against the calls, the fresh cell held to the model's prediction), a
//! stack served over HTTPS with a connection per request (a handshake per
//! request), and the same for the Python stacks. Each cell loads for about a
//! second; the test CA lives in a scratch data directory.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{analysis, assert_nothing_left, cell, command, load_valid, run_bounded, Scratch};

/// `framewut run MATRIX --out OUT` with framewut's data directory at `data`.
fn run(scratch: &Scratch, matrix: &str, data: &Path, limit: Duration) -> (PathBuf, Value) {
    let file = scratch.write("m.toml", matrix);
    let out = scratch.path("run");
    let mut run = command(
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &scratch.0,
    );
    run.env("FRAMEWUT_DATA_DIR", data);
    let output = run_bounded(run, limit);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results = load_valid(&out);
    (out, results)
}

fn ok(cell: &Value) {
    assert_eq!(cell["status"], "ok", "{}: {}", cell["id"], cell["reason"]);
    assert_eq!(
        cell["summary"]["failed_requests"], 0,
        "{}: {}",
        cell["id"], cell["summary"]["errors"]
    );
}

/// The upstream's handshakes of both kinds over the cell, and its calls.
fn upstream_counts(cell: &Value) -> (u64, u64) {
    let stats = &cell["upstream"];
    let n = |key: &str| {
        stats[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no {key} in {stats}", cell["id"]))
    };
    (n("handshakes") + n("resumptions"), n("requests"))
}

/// The probe's figures are there and plausible: TLS 1.3's one round trip,
/// and some CPU on each side.
fn assert_probed(cell: &Value) {
    let h = &cell["handshake"];
    assert_eq!(h["round_trips"], 1, "{}: {h}", cell["id"]);
    assert!(h["client_us"].as_f64().unwrap() > 0.0, "{h}");
    assert!(h["server_us"].as_f64().unwrap() > 0.0, "{h}");
}

/// Besides the stack's calls, the upstream's counters see the lab's own
/// connections to `/__stats` over HTTPS: one when it answered first, one
/// at the end of the cell.
const STATS_FETCHES: u64 = 2;

/// For a client with a new connection per call: every connection one full
/// handshake, one per call, the lab's two `/__stats` connections, and at
/// most one for each call still in flight when the stats were read (its
/// connection open, its request not yet counted: `open` less the stats'
/// own).
fn assert_a_handshake_per_call(cell: &Value) {
    let stats = &cell["upstream"];
    let n = |key: &str| stats[key].as_u64().unwrap();
    assert_eq!(
        n("resumptions"),
        0,
        "a fresh client resumes nothing: {stats}"
    );
    let calls = n("requests");
    assert!(calls > 0, "{stats}");
    let in_flight = n("open").saturating_sub(1);
    // Each connection is one handshake, bar those whose handshake was
    // still under way when the stats were read.
    assert!(
        (n("handshakes")..=n("handshakes") + in_flight).contains(&n("connections")),
        "{stats}"
    );
    assert!(
        (calls + STATS_FETCHES..=calls + STATS_FETCHES + in_flight).contains(&n("handshakes")),
        "a handshake per call: {stats}"
    );
}

const RUST: &str = r#"
description = "an HTTPS upstream, fresh and pooled, and a stack served over HTTPS"

[scenario.upstream]
delay = "50ms"
tls = true

[[stack]]
id = "rust/std/sync-pool"
workers = 4
variant = "upstream=blocking-fresh"
scenarios = ["upstream"]

[[stack]]
id = "rust/std/sync-pool"
workers = 4
variant = "upstream=blocking-pooled"
scenarios = ["upstream"]

[[stack]]
id = "rust/std/sync-pool"
workers = 4
tls = true
scenarios = ["hello"]

[[profile]]
connections = 4
duration = "1s"
warmup = "200ms"
timeout = "5s"
trials = 1
close = true
"#;

#[test]
fn an_https_upstream_counts_a_handshake_per_fresh_call_and_a_stack_serves_https() {
    let scratch = Scratch::new("tls-rust");
    let data = scratch.path("data");
    let (out, results) = run(&scratch, RUST, &data, Duration::from_secs(120));
    assert!(
        data.join("tls/ca.pem").is_file(),
        "the lab made the test CA"
    );

    let fresh = cell(
        &results,
        "rust/std/sync-pool:upstream=blocking-fresh/upstream/c4",
    );
    ok(fresh);
    assert_probed(fresh);
    assert_eq!(fresh["config"]["scenario"]["tls"], true);
    assert_eq!(fresh["config"]["scenario"]["connect_cost_ms"], 0);
    assert_a_handshake_per_call(fresh);

    let pooled = cell(
        &results,
        "rust/std/sync-pool:upstream=blocking-pooled/upstream/c4",
    );
    ok(pooled);
    let (handshakes, calls) = upstream_counts(pooled);
    assert!(
        handshakes <= 4 + STATS_FETCHES && calls > 2 * handshakes,
        "at most a connection per worker, kept: {}",
        pooled["upstream"]
    );

    // The model's prediction for the fresh cell counts the handshake. It
    // is a ceiling: the measurement stays under it, within the model's own
    // margin (1.15); and above what the same 4 workers would reach if every
    // call's CPU (the stack's, and the upstream's handshake on the same
    // core) queued behind all the others' on the share of the server's one
    // core that other processes left it (measured: the machine is shared).
    let derived = analysis(&out);
    let index = results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["id"] == fresh["id"])
        .unwrap();
    let p = &derived["cells"][index]["prediction"];
    // The 50 ms delay keeps the wait well above a debug build's CPU per
    // request (7.6 ms with its fresh TLS client once, when a 20 ms delay
    // put the two ceilings within 5% of each other).
    assert_eq!(p["bound"], "upstream", "4 workers for 4 connections: {p}");
    let wait = p["inputs"]["wait_words"].as_str().unwrap();
    assert!(wait.contains("TLS connect"), "{wait}");
    let inputs = &p["inputs"];
    let wait_s = inputs["wait_ms"].as_f64().unwrap() / 1e3;
    assert!(wait_s > 0.050, "the delay and the handshake: {p}");
    let cpu_s = (inputs["cpu_us_per_request"].as_f64().unwrap()
        + inputs["upstream_handshake_us"].as_f64().unwrap())
        / 1e6;
    let measured = p["measured_per_s"].as_f64().unwrap();
    let predicted = p["predicted_per_s"].as_f64().unwrap();
    let server = &fresh["trials"][0]["cpus"]["server"];
    let left = 1.0 - server["other_s"].as_f64().unwrap() / server["total_s"].as_f64().unwrap();
    // Less one round of the 4 connections over the trial's seconds: the
    // most a window's edges can cut from a closed loop's count.
    let seconds = fresh["trials"][0]["load"]["elapsed_s"].as_f64().unwrap();
    let floor = 4.0 / (wait_s + 4.0 * cpu_s / left.max(0.05)) - 4.0 / seconds;
    assert!(
        (floor..=1.15 * predicted).contains(&measured),
        "{measured} req/s against a ceiling of {predicted} and a floor of {floor:.1}: {p}"
    );

    // Served over HTTPS with a connection per request: the generator
    // handshook for every request, give or take the connections open at the
    // window's edges.
    let served = cell(&results, "rust/std/sync-pool:tls/hello/c4");
    ok(served);
    assert_probed(served);
    assert_eq!(served["config"]["stack"]["tls"], true);
    assert_eq!(served["config"]["load"]["close"], true);
    let command = served["stack_process"]["command"].as_str().unwrap();
    assert!(command.contains("--tls --cert"), "{command}");
    let load = &served["trials"][0]["load"];
    let tls = &load["tls"];
    let handshakes = tls["handshakes"].as_u64().unwrap() + tls["resumptions"].as_u64().unwrap();
    let responses = load["responses"].as_u64().unwrap();
    assert!(responses > 0);
    assert!(
        handshakes.abs_diff(responses) <= 4,
        "{handshakes} handshakes for {responses} responses"
    );
    assert_eq!(tls["resumptions"], 0, "every connection a full handshake");
    assert_nothing_left(&results);
}

const PYTHON: &str = r#"
description = "the seed's requests rows against an HTTPS upstream, and gunicorn serving HTTPS"

[scenario.upstream]
delay = "50ms"
tls = true

[[stack]]
id = "python/wsgi/gunicorn-sync"
workers = 2
variant = "upstream=fresh"
scenarios = ["upstream"]

[[stack]]
id = "python/gevent/gunicorn-gevent"
workers = 1
variant = "upstream=futures"
scenarios = ["upstream"]

[[stack]]
id = "python/wsgi/gunicorn-sync"
workers = 2
tls = true
scenarios = ["hello"]

[[profile]]
connections = 4
duration = "1s"
warmup = "300ms"
timeout = "5s"
trials = 1
"#;

/// The Python side: requests with the CA bundle in its environment, on the
/// sync worker (a handshake per requests.get) and under gevent's patched ssl
/// (requests-futures' pooled session); gunicorn serving HTTPS. The Python
/// environment is the one the conformance tests make.
#[test]
fn python_requests_call_an_https_upstream_and_gunicorn_serves_https() {
    let scratch = Scratch::new("tls-python");
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-conformance");
    // The first run of all makes the Python environment.
    let (_, results) = run(&scratch, PYTHON, &data, Duration::from_secs(900));

    let fresh = cell(
        &results,
        "python/wsgi/gunicorn-sync:upstream=fresh/upstream/c4",
    );
    ok(fresh);
    let command = fresh["stack_process"]["command"].as_str().unwrap();
    assert!(command.contains("REQUESTS_CA_BUNDLE="), "{command}");
    assert_a_handshake_per_call(fresh);

    let futures = cell(
        &results,
        "python/gevent/gunicorn-gevent:upstream=futures/upstream/c4",
    );
    ok(futures);
    let (handshakes, calls) = upstream_counts(futures);
    assert!(
        calls > 2 * handshakes,
        "requests-futures keeps its connections: {}",
        futures["upstream"]
    );

    let served = cell(&results, "python/wsgi/gunicorn-sync:tls/hello/c4");
    ok(served);
    let command = served["stack_process"]["command"].as_str().unwrap();
    assert!(command.contains("--certfile"), "{command}");
    assert!(
        served["trials"][0]["load"]["tls"]["handshakes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_nothing_left(&results);
}
