//! Load agents as a Kubernetes Indexed Job runs them: `framewut load
//! --segment I/N --start-at T --json` child processes against one local
//! server, merged by `framewut merge`, checked against the server's own
//! count and against one histogram of every agent's samples.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::server::{self, Server};
use support::{command, text, wait_bounded, Scratch};

/// Time for one agent, its wait for the start time included, on a busy machine.
const AGENT_LIMIT: Duration = Duration::from_secs(60);

/// The upstream stand-in on one thread: it counts the requests it answers.
fn upstream() -> Server {
    server::start(&["upstream", "--threads", "1"]).unwrap()
}

/// Requests the upstream has answered, from its `GET /__stats` (not counted itself).
fn answered(server: &Server) -> u64 {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .write_all(b"GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let stats: Value = serde_json::from_str(body).unwrap();
    stats["requests"].as_u64().unwrap()
}

/// Starts agent `i` of `n` with these load flags, its output captured.
fn spawn_agent(url: &str, i: u32, n: u32, flags: &[&str], dir: &Path) -> Child {
    let segment = format!("{i}/{n}");
    let mut args = vec!["load", url, "--segment", &segment, "--json"];
    args.extend_from_slice(flags);
    command(&args, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `n` agents at once, each with `flags`, and returns their outputs
/// (each checked to have succeeded), in segment order.
fn run_agents(url: &str, n: u32, flags: &[&str], dir: &Path) -> Vec<Output> {
    let outputs = spawn_all(url, n, flags, dir);
    for (i, out) in outputs.iter().enumerate() {
        assert!(out.status.success(), "agent {i}: {}", text(&out.stderr));
    }
    outputs
}

fn spawn_all(url: &str, n: u32, flags: &[&str], dir: &Path) -> Vec<Output> {
    let children: Vec<Child> = (0..n).map(|i| spawn_agent(url, i, n, flags, dir)).collect();
    children
        .into_iter()
        .map(|child| wait_bounded(child, AGENT_LIMIT))
        .collect()
}

/// Runs `n` agents against `server` with one start time, first 2 s ahead:
/// an agent refuses a start time that passed over a second before it got
/// to it, so on a machine too busy to start all of them by then, they run
/// again with twice the lead. Returns the start time, their outputs, and
/// the requests the server answered in that last round.
fn run_agents_at_one_start(
    server: &Server,
    n: u32,
    flags: &[&str],
    dir: &Path,
) -> (f64, Vec<Output>, u64) {
    let url = format!("http://127.0.0.1:{}/", server.port);
    let mut lead = 2.0;
    loop {
        let before = answered(server);
        let start_at = unix_now() + lead;
        let start = format!("{start_at:.3}");
        let mut all = flags.to_vec();
        all.extend_from_slice(&["--start-at", &start]);
        let outputs = spawn_all(&url, n, &all, dir);
        let late = outputs
            .iter()
            .any(|o| !o.status.success() && text(&o.stderr).contains("passed"));
        if late && lead < 60.0 {
            lead *= 2.0;
            continue;
        }
        for (i, out) in outputs.iter().enumerate() {
            assert!(out.status.success(), "agent {i}: {}", text(&out.stderr));
        }
        return (start_at, outputs, answered(server) - before);
    }
}

/// Each agent's JSON, checked against docs/load.schema.json, and written to
/// `dir/agent-I.json`.
fn save(outputs: &[Output], dir: &Scratch) -> Vec<Value> {
    outputs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            let value: Value = serde_json::from_slice(&out.stdout).unwrap();
            let problems = support::errors_against(support::LOAD_SCHEMA, &value);
            assert!(problems.is_empty(), "agent {i}: {problems:#?}");
            dir.write(&format!("agent-{i}.json"), &text(&out.stdout));
            value
        })
        .collect()
}

fn merge(args: &[&str], dir: &Path) -> Output {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    support::framewut(&all, dir, Duration::from_secs(30))
}

/// `framewut merge ARGS --json`, which must succeed and match the schema.
fn merged(args: &[&str], dir: &Path) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = merge(&all, dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");
    value
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn four_agents_with_one_start_time_add_up_to_what_the_server_answered() {
    let server = upstream();
    let dir = Scratch::new("agents");
    let flags = ["-c", "7", "-t", "1", "-d", "1s"];
    let (start_at, outputs, server_count) = run_agents_at_one_start(&server, 4, &flags, &dir.0);
    let agents = save(&outputs, &dir);

    let connections: Vec<u64> = agents
        .iter()
        .map(|a| u(&a["plan"]["connections"]))
        .collect();
    assert_eq!(connections, [2, 2, 2, 1]);
    for (i, a) in agents.iter().enumerate() {
        assert_eq!(u(&a["segment"]["index"]), i as u64);
        assert_eq!(u(&a["segment"]["count"]), 4);
        assert_eq!(u(&a["segment"]["whole_connections"]), 7);
        assert!(
            a["host"].as_str().is_some_and(|h| !h.is_empty()),
            "{}",
            a["host"]
        );
        // No agent started before the start time.
        let began = f(&a["window"]["start_unix_s"]);
        assert!(
            began >= start_at - 1e-3,
            "agent {i} began {began}, before {start_at}"
        );
        assert!(u(&a["requests"]) > 0, "agent {i} served nothing");
    }

    let whole = merged(&[dir.0.to_str().unwrap()], &dir.0);
    let sum = |field: &str| agents.iter().map(|a| u(&a[field])).sum::<u64>();
    assert_eq!(u(&whole["requests"]), sum("requests"));
    assert_eq!(u(&whole["responses"]), sum("responses"));
    assert_eq!(u(&whole["plan"]["connections"]), 7);
    assert_eq!(u(&whole["agents"]["count"]), 4);
    assert_eq!(whole["segment"], Value::Null);

    // The server answered every response the agents counted, and at most
    // the requests still in flight (or given up) when their windows closed.
    let e = &whole["errors"];
    let in_flight = u(&e["unfinished"]) + u(&e["timeout"]) + u(&e["read"]);
    let responses = u(&whole["responses"]);
    assert!(
        (responses..=responses + in_flight).contains(&server_count),
        "the server answered {server_count}; the agents counted {responses} with {in_flight} in flight"
    );

    // The merged percentiles are those of one histogram of every agent's samples.
    let mut all = framewut_load::new_histogram();
    for a in &agents {
        let h = framewut_load::decode_histogram(a["latency"]["histogram"].as_str().unwrap());
        all.add(h.unwrap()).unwrap();
    }
    assert_eq!(u(&whole["latency"]["count"]), all.len());
    for p in whole["latency"]["percentiles"].as_array().unwrap() {
        assert_eq!(
            u(&p["us"]),
            all.value_at_percentile(f(&p["percentile"])),
            "{p}"
        );
    }
    // The timeline accounts for every request, by wall-clock second.
    let timeline: u64 = whole["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| u(&s["requests"]))
        .sum();
    assert_eq!(timeline, u(&whole["requests"]));
    // The rate is over the union of the windows, which cover at least the
    // 1 s each agent measured and at most that plus the spread of starts.
    let spread = f(&whole["agents"]["start_spread_s"]);
    let elapsed = f(&whole["elapsed_s"]);
    assert!(
        (1.0..=1.0 + spread + 0.5).contains(&elapsed),
        "{elapsed} {spread}"
    );

    let out = merge(&[dir.0.to_str().unwrap()], &dir.0);
    let report = text(&out.stdout);
    assert!(
        report.contains("Requests/sec:") && report.contains("Agents: 4 merged"),
        "{report}"
    );
}

#[test]
fn awkward_splits_add_up_exactly() {
    let server = upstream();
    let url = format!("http://127.0.0.1:{}/", server.port);
    let dir = Scratch::new("agents-split");

    // --requests 1001 over 4: 251 + 250 + 250 + 250, every one sent and answered.
    let outputs = run_agents(
        &url,
        4,
        &["-c", "7", "-t", "2", "--requests", "1001"],
        &dir.0,
    );
    // Agent 3 has one connection, so one thread, and says so.
    assert!(
        text(&outputs[3].stderr)
            .contains("segment 3/4 has 1 of the 7 connections, so it runs 1 thread, not 2"),
        "{}",
        text(&outputs[3].stderr)
    );
    let agents = save(&outputs, &dir);
    let shares: Vec<u64> = agents
        .iter()
        .map(|a| u(&a["plan"]["stop_requests"]))
        .collect();
    assert_eq!(shares, [251, 250, 250, 250]);
    let threads: Vec<u64> = agents.iter().map(|a| u(&a["plan"]["threads"])).collect();
    assert_eq!(threads, [2, 2, 2, 1]);
    let whole = merged(&[dir.0.to_str().unwrap()], &dir.0);
    assert_eq!(u(&whole["requests"]), 1001);
    assert_eq!(u(&whole["plan"]["stop_requests"]), 1001);
    assert_eq!(answered(&server), 1001);

    // A rate of 1000 over 3: 333.334 + 333.333 + 333.333.
    let rates = Scratch::new("agents-rate");
    let agents = save(
        &run_agents(
            &url,
            3,
            &["-c", "7", "-t", "1", "-R", "1000", "-d", "500ms"],
            &rates.0,
        ),
        &rates,
    );
    let shares: Vec<f64> = agents.iter().map(|a| f(&a["plan"]["rate"])).collect();
    assert_eq!(shares, [333.334, 333.333, 333.333]);
    assert_eq!(shares.iter().sum::<f64>(), 1000.0);
    let whole = merged(&[rates.0.to_str().unwrap()], &rates.0);
    assert_eq!(f(&whole["plan"]["rate"]), 1000.0);
    assert_eq!(whole["plan"]["pacing"], "open");
}

/// The files of a 2-agent load, run for real, to craft merges from.
fn two_agents(dir: &Scratch) -> Vec<Value> {
    let server = upstream();
    let url = format!("http://127.0.0.1:{}/", server.port);
    save(
        &run_agents(
            &url,
            2,
            &["-c", "2", "-t", "1", "--requests", "200"],
            &dir.0,
        ),
        dir,
    )
}

fn write(dir: &Scratch, name: &str, value: &Value) -> String {
    dir.write(name, &serde_json::to_string(value).unwrap())
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn merging_agents_whose_starts_differ_reports_the_spread() {
    let dir = Scratch::new("agents-skew");
    let mut agents = two_agents(&dir);
    // The second agent's window 300 ms after the first's, as a clock 300 ms
    // ahead would record it.
    let start = f(&agents[0]["window"]["start_unix_s"]);
    let elapsed = f(&agents[1]["elapsed_s"]);
    agents[1]["window"]["start_unix_s"] = (start + 0.3).into();
    agents[1]["window"]["end_unix_s"] = (start + 0.3 + elapsed).into();
    let skewed = Scratch::new("agents-skewed");
    let files = [
        write(&skewed, "a.json", &agents[0]),
        write(&skewed, "b.json", &agents[1]),
    ];
    let whole = merged(&[&files[0], &files[1]], &skewed.0);
    let spread = f(&whole["agents"]["start_spread_s"]);
    assert!((spread - 0.3).abs() < 1e-6, "{spread}");
    let out = merge(&[&files[0], &files[1]], &skewed.0);
    assert!(
        text(&out.stdout).contains("starts spread over 300.0ms"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn merge_refuses_results_of_different_loads_unless_forced_and_reads_stdin() {
    let dir = Scratch::new("agents-refuse");
    let agents = two_agents(&dir);
    let a = write(&dir, "a.json", &agents[0]);

    // One agent twice: a duplicated segment and a missing one, both named.
    let out = merge(&[&a, &a], &dir.0);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("segment 0 appears 2 times"), "{err}");
    assert!(err.contains("segments missing: 1/2"), "{err}");
    assert!(err.contains("or give --force"), "{err}");

    // Another target.
    let mut other = agents[1].clone();
    other["plan"]["url"] = "http://127.0.0.1:1/elsewhere".into();
    let b = write(&dir, "b.json", &other);
    let out = merge(&[&a, &b], &dir.0);
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("different targets"),
        "{err}"
    );
    let forced = merged(&[&a, &b, "--force"], &dir.0);
    let reasons = forced["agents"]["forced"].as_array().unwrap();
    assert!(
        reasons[0]
            .as_str()
            .unwrap()
            .starts_with("different targets"),
        "{reasons:?}"
    );

    // A plain load, not an agent.
    let mut plain = agents[1].clone();
    plain["segment"] = Value::Null;
    let c = write(&dir, "c.json", &plain);
    let err = text(&merge(&[&a, &c], &dir.0).stderr);
    assert!(
        err.contains("is not an agent's result (it has no segment)"),
        "{err}"
    );

    // Both agents through stdin, one JSON document per line.
    let lines = format!(
        "{}\n{}\n",
        serde_json::to_string(&agents[0]).unwrap(),
        serde_json::to_string(&agents[1]).unwrap()
    );
    let mut child = command(&["merge", "-", "--json"], &dir.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let whole: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(u(&whole["requests"]), 200);
}

#[test]
fn bad_segments_and_start_times_get_one_clear_line() {
    let server = upstream();
    let url = format!("http://127.0.0.1:{}/", server.port);
    let dir = Scratch::new("agents-bad");
    let run = |args: &[&str]| {
        let mut all = vec!["load", url.as_str()];
        all.extend_from_slice(args);
        support::framewut(&all, &dir.0, Duration::from_secs(30))
    };
    let cases: [(&[&str], &str); 5] = [
        (
            &["--segment", "4/4"],
            "indexes run from 0 to 3, so give 0/4 to 3/4",
        ),
        (
            &["--segment", "x"],
            "'x' is not a segment: write INDEX/COUNT",
        ),
        (
            &["--segment", "3/4", "-c", "3", "-t", "1"],
            "segment 3/4 of 3 connections gets none: give at least 4 connections",
        ),
        (&["--start-at", "2020-01-01T00:00:00Z"], "passed"),
        (
            &["--start-at", "9999-01-01T00:00:00Z"],
            "more than the 3600 s accepted",
        ),
    ];
    for (args, expected) in cases {
        let out = run(args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{args:?} loaded: {}",
            text(&out.stdout)
        );
    }
    assert_eq!(answered(&server), 0, "a refused agent sent requests");
}
