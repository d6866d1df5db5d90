//! External stacks in `framewut run`, through the real binary: stacks run
//! from a command template, those that break the contract or crash
//! recorded as failed, a daemon one leaves behind found and stopped while
//! every trial accounts for both CPU sets, and a stack that stops
//! answering failed as stalled. Split from lab.rs, they run, as its tests
//! do, where the axum stacks are built.
#![cfg(feature = "axum")]

mod support;

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{
    assert_nothing_left, assert_sane, assert_schema_valid, cells, cgroups_named, command, load,
    run_bounded, run_out, status, text, Scratch,
};

/// A small server for the contract's /hello, and one that breaks it.
const PY_SERVER: &str = r#"
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = sys.argv[2].encode()
# With a third argument, it stops answering that many seconds after its
# first request, as a stalled server does.
STALL = float(sys.argv[3]) if len(sys.argv) > 3 else None
first = []
print("booting on port", sys.argv[1], file=sys.stderr, flush=True)

class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        first.append(first[0] if first else time.monotonic())
        if STALL is not None and time.monotonic() - first[0] > STALL:
            threading.Event().wait()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hello).serve_forever()
"#;

#[test]
fn external_stacks_run_from_a_command_template_and_failures_are_recorded() {
    let scratch = Scratch::new("external");
    let server = scratch.write("server.py", PY_SERVER);
    let server = server.to_str().unwrap();
    let matrix = scratch.write(
        "external.toml",
        &format!(
            r#"
scenarios = ["hello"]

[[stack]]
name = "py-hello"
command = "exec python3 {server} {{port}} '{{\"message\":\"helowrld\"}}'"
ready = "/hello"
ready_timeout = "20s"
env = {{ PYTHONDONTWRITEBYTECODE = "1" }}

[[stack]]
name = "py-wrong"
command = "exec python3 {server} {{port}} '{{\"message\":\"hello\"}}'"

[[stack]]
name = "crashes"
command = "echo cannot bind {{port}} >&2; exit 3"

[[profile]]
connections = 4
duration = "1s"
warmup = "100ms"
"#
        ),
    );
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(120));
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "some cells failed; stderr:\n{stderr}"
    );
    let results = load(&out);
    assert_schema_valid(&results);
    let [good, wrong, crashes] = &cells(&results)[..] else {
        panic!("three cells expected: {results}");
    };
    assert_sane(good);
    assert_eq!(good["config"]["stack"]["source"]["kind"], "external");
    assert!(good["stack_process"]["command"]
        .as_str()
        .unwrap()
        .contains(&format!(" {} ", good["stack_process"]["port"])));

    assert_eq!(status(wrong), "failed");
    let reason = wrong["reason"].as_str().unwrap();
    assert!(
        reason.contains("contract") && reason.contains("helowrld"),
        "{reason}"
    );
    assert!(
        wrong["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("booting on port"),
        "{wrong}"
    );
    assert_eq!(
        wrong["trials"].as_array().unwrap().len(),
        0,
        "nothing is loaded before it verifies"
    );

    assert_eq!(status(crashes), "failed");
    assert!(
        crashes["reason"].as_str().unwrap().contains("exited"),
        "{crashes}"
    );
    assert!(
        crashes["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("cannot bind"),
        "{crashes}"
    );
    assert!(
        stderr.contains("cannot bind"),
        "the failure and its stderr are shown: {stderr}"
    );
    assert_nothing_left(&results);
}

/// Checks one set's accounting: shares that add up to 1, and `other_s`
/// the busy time less the measured, never below 0.
fn assert_accounted(set: &Value, what: &str) {
    let f = |v: &Value| v.as_f64().unwrap();
    let shares = &set["shares"];
    let sum: f64 = [
        "user",
        "nice",
        "system",
        "irq",
        "softirq",
        "steal",
        "idle",
        "iowait",
        "uncounted",
    ]
    .iter()
    .map(|k| f(&shares[k]))
    .sum();
    assert!(
        (sum - 1.0).abs() < 1e-9,
        "{what}: shares add to {sum}: {set}"
    );
    let other = (f(&set["busy_s"]) - f(&set["measured_s"])).max(0.0);
    assert!((f(&set["other_s"]) - other).abs() < 1e-9, "{what}: {set}");
}

/// A hello cell and an external stack whose command leaves a daemon
/// behind (`setsid sleep 60 &`), run with cgroups (required, unless
/// FRAMEWUT_TEST_NO_CGROUP says why this machine has none) and again with
/// them turned off: every trial says where both CPU sets' time went, and
/// the daemon is found, stopped and recorded either way.
#[test]
fn trials_account_for_both_cpu_sets_and_a_daemon_is_stopped() {
    let scratch = Scratch::new("cpustat");
    let bin = env!("CARGO_BIN_EXE_framewut");
    let matrix = scratch.write(
        "cpustat.toml",
        &format!(
            r#"
scenarios = ["hello"]

[[stack]]
id = "rust/std/sync-pool"
workers = 2

[[stack]]
name = "daemon"
command = "setsid sleep 60 & exec {bin} serve rust/std/sync-pool --port {{port}} --workers 2"
ready = "/hello"

[[profile]]
connections = 4
duration = "1s"
warmup = "200ms"
"#
        ),
    );
    for cgroups in ["on", "off"] {
        let out = scratch.path(&format!("run-{cgroups}"));
        let mut run = command(
            &[
                "run",
                matrix.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &scratch.0,
        );
        if cgroups == "off" {
            run.env("FRAMEWUT_CGROUP", "off");
        }
        let output = run_bounded(run, Duration::from_secs(90));
        assert_eq!(
            output.status.code(),
            Some(0),
            "stderr:\n{}",
            text(&output.stderr)
        );
        let results = load(&out);
        assert_schema_valid(&results);
        let [hello, daemon] = &cells(&results)[..] else {
            panic!("two cells expected: {results}");
        };
        assert_sane(hello);
        assert_sane(daemon);
        let placement = &results["placement"];
        assert_eq!(placement["upstream_cpus"], placement["server_cpus"]);
        assert_eq!(placement["database_cpus"], placement["server_cpus"]);

        let trial = &hello["trials"][0];
        let server = &trial["server"];
        let method = server["method"].as_str().unwrap();
        if cgroups == "off" {
            assert_eq!(method, "proc", "{server}");
            assert!(
                server["note"]
                    .as_str()
                    .unwrap()
                    .contains("FRAMEWUT_CGROUP=off"),
                "{server}"
            );
        } else if let Some(reason) = support::no_cgroup_reason() {
            eprintln!("the lab may fall back to /proc here: {reason}");
            assert!(
                method != "proc" || server["note"].is_string(),
                "why no cgroup: {server}"
            );
        } else {
            assert_ne!(
                method, "proc",
                "this machine makes cgroups, so the lab must measure in them: {server}"
            );
        }
        let cpus = &trial["cpus"];
        assert_eq!(cpus["server"]["cpus"], placement["server_cpus"]);
        assert_eq!(cpus["generator"]["cpus"], placement["load_cpus"]);
        assert_accounted(&cpus["server"], "server");
        assert_accounted(&cpus["generator"], "generator");
        // A hello server answering for a second keeps its CPUs busy, and
        // all of its CPU time is among their busy time.
        let f = |v: &Value| v.as_f64().unwrap();
        assert!(f(&cpus["server"]["busy_share"]) > 0.0, "{cpus}");
        assert_eq!(f(&cpus["server"]["measured_s"]), f(&server["cpu_s"]));
        // The generator's threads ran on its CPUs, so their time is within
        // those CPUs' busy time and the time the tick counters lost (on a
        // VM, the host's preemptions not reported as steal), up to a 10 ms
        // tick of counting per CPU and the few milliseconds by which the
        // sampler opens its window after the generator starts counting.
        let generator = &trial["load"]["generator_cpu"];
        let own = f(&generator["user_s"]) + f(&generator["system_s"]);
        let set = &cpus["generator"];
        assert!((f(&set["measured_s"]) - own).abs() < 1e-9);
        let cpu_count = set["cpus"].as_array().unwrap().len() as f64;
        let counted_busy = f(&set["busy_s"]) + f(&set["seconds"]["uncounted"]);
        assert!(own <= counted_busy + 0.01 * cpu_count + 0.02, "{cpus}");

        // The daemon left the stack's session; it was counted where its
        // cgroup held it, and stopped with the stack either way.
        let daemon_method = daemon["trials"][0]["server"]["method"].as_str().unwrap();
        let processes = daemon["trials"][0]["server"]["processes"].as_u64().unwrap();
        let expected = if daemon_method == "proc" { 1 } else { 2 };
        assert_eq!(processes, expected, "{}", daemon["trials"][0]["server"]);
        let escaped = daemon["stack_process"]["escaped"].as_array().unwrap();
        assert_eq!(escaped.len(), 1, "{}", daemon["stack_process"]);
        assert!(
            daemon["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("left the stack's session")),
            "{}",
            daemon["warnings"]
        );
        assert_eq!(hello["stack_process"]["escaped"], serde_json::json!([]));
        let pid = escaped[0].as_u64().unwrap();
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert_nothing_left(&results);
        let run_id = results["run"]["id"].as_str().unwrap();
        assert_eq!(cgroups_named(run_id), Vec::<std::path::PathBuf>::new());
    }
}

/// Runs one external hello stack that stops answering `stall` seconds
/// after its first request, with trials of `duration`: its run's exit
/// status, stdout, and its one cell, failed.
fn run_stalling(name: &str, stall: &str, duration: &str, warmup: &str) -> (Output, Value) {
    let scratch = Scratch::new(name);
    let server = scratch.write("server.py", PY_SERVER);
    let matrix = scratch.write(
        "stalled.toml",
        &format!(
            r#"
scenarios = ["hello"]

[[stack]]
name = "stalls"
command = "exec python3 {} {{port}} '{{\"message\":\"helowrld\"}}' {stall}"
ready = "/hello"
env = {{ PYTHONDONTWRITEBYTECODE = "1" }}

[[profile]]
connections = 4
duration = "{duration}"
warmup = "{warmup}"
timeout = "10s"
trials = 1
"#,
            server.display()
        ),
    );
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(90));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    let results = load(&out);
    assert_schema_valid(&results);
    assert_nothing_left(&results);
    let cell = cells(&results)[0].clone();
    assert_eq!(status(&cell), "failed", "{cell}");
    (output, cell)
}

/// A stack that stops answering after its readiness check is not ok: the
/// cell fails with the stretch it answered nothing in, and the table says
/// so, while a sync pool that starves connections by design (the starved
/// test) stays ok.
#[test]
fn a_stack_that_stops_answering_fails_as_stalled() {
    // It answers its readiness check and the contract's, then stops.
    let (output, cell) = run_stalling("stalled", "0.5", "1500ms", "100ms");
    let reason = cell["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "stalled: served no request from 0.0 s to 1.5 s of trial 1, 4 requests unanswered"
        ),
        "{reason}"
    );
    assert_eq!(cell["trials"][0]["load"]["requests"], 0, "{cell}");
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("FAILED: stalled: served no request"),
        "{stdout}"
    );
}

/// A stack that stops answering late in its trial fails as stalled too,
/// named with the second it stopped at: the check no longer needs a
/// silent quarter of the trial when the silence runs to its end.
#[test]
fn a_stack_that_stops_late_in_its_trial_fails_naming_the_second() {
    // 11 s after its readiness check: after the warm-up (0.2 s) and the
    // calibration window (6 s), about two thirds into the 6 s trial,
    // whatever the second or so the lab takes to verify and settle it.
    let (_, cell) = run_stalling("stalled-late", "11", "6s", "200ms");
    let reason = cell["reason"].as_str().unwrap();
    let from: f64 = reason
        .strip_prefix("stalled: served no request from ")
        .and_then(|r| r.split(" s ").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{reason}"));
    assert!(
        (2.0..6.0).contains(&from),
        "it stopped inside the trial: {reason}"
    );
    assert!(
        reason.contains(" to 6.0 s of trial 1 and never again"),
        "{reason}"
    );
    let served = cell["trials"][0]["load"]["requests"].as_u64().unwrap();
    assert!(served > 0, "it answered before it stopped: {cell}");
}
