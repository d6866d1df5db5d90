//! `framewut run` end to end, through the real binary: small matrices of
//! about a second a cell, results.json checked against its schema and for
//! sane numbers, Ctrl-C and `--resume`, external stacks from a command
//! template, and, after every run, that no process it started remains.
//! Its matrices and the quick preset use the axum stacks.
#![cfg(feature = "axum")]

mod support;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    analysis, assert_csv_matches, assert_nothing_left, assert_schema_valid, cgroups_named, command,
    connections_to, framewut, load, processes_of_run, run_bounded, run_out, schema_errors, text,
    wait_bounded, Scratch,
};

fn cells(results: &Value) -> &Vec<Value> {
    results["cells"].as_array().unwrap()
}

fn status(cell: &Value) -> &str {
    cell["status"].as_str().unwrap()
}

/// A measured cell whose numbers make sense: requests answered, none failed,
/// a server that used CPU and memory.
fn assert_sane(cell: &Value) {
    let id = &cell["id"];
    assert_eq!(status(cell), "ok", "{id}: {}", cell["reason"]);
    let summary = &cell["summary"];
    assert!(
        summary["requests_per_s"]["mean"].as_f64().unwrap() > 0.0,
        "{id}: {summary}"
    );
    assert_eq!(summary["failed_requests"], 0, "{id}: {}", summary["errors"]);
    assert!(summary["latency"]["count"].as_u64().unwrap() > 0, "{id}");
    assert!(
        summary["server_peak_rss_bytes"].as_u64().unwrap() > 0,
        "{id}"
    );
    assert!(summary["latency"]["histogram"]
        .as_str()
        .unwrap()
        .starts_with("HISTF"));
    let trials = cell["trials"].as_array().unwrap();
    assert_eq!(
        trials.len() as u64,
        cell["config"]["load"]["trials"].as_u64().unwrap()
    );
}

const SMALL: &str = r#"
description = "two stacks by two scenarios, a second a cell"
scenarios = ["hello", "sleep"]

[scenario.sleep]
duration = "20ms"

[[stack]]
id = "rust/std/sync-pool"
workers = 4

[[stack]]
id = "rust/axum/tokio-multi"

[[profile]]
connections = 8
duration = "1s"
warmup = "200ms"
trials = 1
"#;

#[test]
fn runs_a_small_matrix_end_to_end() {
    let scratch = Scratch::new("small");
    let matrix = scratch.write("small.toml", SMALL);
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(120));
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        text(&output.stderr)
    );

    let results = load(&out);
    assert_schema_valid(&results);
    let derived = analysis(&out);
    assert_eq!(
        derived["cells"][1]["prediction"]["bound"], "workers",
        "4 sync workers hold the sleep: {derived}"
    );
    let csv = assert_csv_matches(&out);
    assert_eq!(csv[1]["bound"], "workers", "{csv:?}");
    let mut broken = results.clone();
    broken["cells"][0]["status"] = "finished".into();
    broken["cells"][1]["summary"]["latency"]["histogram"] = "not HDR".into();
    assert_eq!(
        schema_errors(&broken).len(),
        2,
        "the schema is strict enough to catch drift"
    );
    let ids: Vec<&str> = cells(&results)
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "rust/std/sync-pool/hello/c8",
            "rust/std/sync-pool/sleep/c8",
            "rust/axum/tokio-multi/hello/c8",
            "rust/axum/tokio-multi/sleep/c8",
        ]
    );
    for cell in cells(&results) {
        assert_sane(cell);
        assert!(
            stdout.contains(cell["id"].as_str().unwrap()),
            "the table lists {}",
            cell["id"]
        );
        assert!(
            cell["stack_process"]["command"]
                .as_str()
                .unwrap()
                .starts_with("framewut serve "),
            "{}",
            cell["stack_process"]
        );
    }
    // A sleeping handler: 4 sync workers over 20 ms allow at most 200 req/s.
    let sleep = &cells(&results)[1];
    assert!(
        sleep["summary"]["requests_per_s"]["mean"].as_f64().unwrap() < 220.0,
        "{}",
        sleep["summary"]
    );
    assert_eq!(sleep["config"]["stack"]["workers"], 4);
    assert_eq!(
        sleep["config"]["stack"]["source"]["variants"],
        "sleep=blocking,upstream=blocking-pooled,cpu=inline,db=blocking"
    );
    assert!(
        sleep["summary"]["latency"]["percentiles"][0]["us"]
            .as_u64()
            .unwrap()
            >= 20_000
    );
    // The environment and placement are recorded: on this machine the
    // server and the generator got disjoint CPUs unless there is only one.
    assert!(results["environment"]["cores_online"].as_u64().unwrap() >= 1);
    let placement = &results["placement"];
    assert_eq!(placement["origin"], "default");
    if results["environment"]["cores_allowed"]
        .as_array()
        .unwrap()
        .len()
        >= 2
    {
        assert_eq!(placement["shared"], false, "{placement}");
    }
    assert!(
        stdout.contains("req/s") && stdout.contains("p99"),
        "{stdout}"
    );
    assert_nothing_left(&results);
}

/// The sync pool with 2 workers under 32 connections: the workers keep the
/// 2 connections they took, the other 30 wait the whole trial.
const STARVED: &str = r#"
description = "a sync pool of 2 workers under 32 connections"
scenarios = ["sleep"]

[scenario.sleep]
duration = "20ms"

[[stack]]
id = "rust/std/sync-pool"
workers = 2

[[profile]]
connections = 32
duration = "1s"
warmup = "200ms"
timeout = "300ms"
trials = 1
"#;

/// Starved connections cannot look clean: results.json counts them and the
/// requests they never got answered, the table and the errors finding name
/// them. Each of the 30 has its first request, sent at the start of the
/// warm-up, time out inside the window (at 300 ms) and one in flight at the
/// end; at most 2 x 1 s / 20 ms = 100 answers stand beside at least 30
/// requests aged 300 ms or more, so the 99th percentile with the unanswered
/// is at least the timeout.
#[test]
fn a_starved_cell_shows_its_silent_connections() {
    let scratch = Scratch::new("starved");
    let matrix = scratch.write("starved.toml", STARVED);
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(120));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        text(&output.stderr)
    );
    let results = load(&out);
    assert_schema_valid(&results);
    let cell = &cells(&results)[0];
    assert_eq!(status(cell), "ok", "{}", cell["reason"]);
    let summary = &cell["summary"];
    assert_eq!(summary["silent_connections"], 30, "{}", summary["errors"]);
    assert_eq!(cell["trials"][0]["load"]["silent_connections"], 30);
    let count = |v: &Value| v.as_u64().unwrap();
    assert!(count(&summary["requests"]) <= 100, "{summary}");
    assert!(count(&summary["unanswered"]) >= 60, "{}", summary["errors"]);
    assert!(
        count(&summary["errors"]["timeout"]) >= 30,
        "{}",
        summary["errors"]
    );
    let p99 = summary["latency_with_unanswered"]["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["percentile"] == 99.0)
        .unwrap()["us"]
        .clone();
    assert!(
        count(&p99) >= 300_000,
        "{}",
        summary["latency_with_unanswered"]
    );

    let stdout = text(&output.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("rust/std/sync-pool/sleep/c32"))
        .unwrap_or_else(|| panic!("no row in:\n{stdout}"));
    assert!(row.contains(" 30/32 "), "{row}");
    let derived = analysis(&out);
    let finding = derived["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["topic"] == "errors")
        .unwrap_or_else(|| panic!("no errors finding: {}", derived["findings"]));
    assert!(
        finding["text"]
            .as_str()
            .unwrap()
            .contains("30 of 32 connections got no answer"),
        "{finding}"
    );
    assert_nothing_left(&results);
}

#[test]
fn sigint_keeps_finished_cells_and_resume_finishes_the_rest() {
    let scratch = Scratch::new("resume");
    let matrix = scratch.write(
        "three.toml",
        r#"
scenarios = ["hello"]
[[stack]]
id = "rust/std/sync-pool"
workers = 2
[[stack]]
id = "rust/axum/per-core"
[[stack]]
id = "rust/hyper/tokio-current"
[[profile]]
connections = 4
duration = "1500ms"
warmup = "100ms"
"#,
    );
    let out = scratch.path("run");
    let child = command(
        &[
            "run",
            matrix.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &scratch.0,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Ctrl-C once the first cell is saved, while the second is measured:
    // its stack runs and the load's connections are open to it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the second cell's load never began"
        );
        if let Ok(text) = std::fs::read_to_string(out.join("results.json")) {
            let results: Value = serde_json::from_str(&text).expect("results.json is always whole");
            let id = results["run"]["id"].as_str().unwrap();
            if status(&cells(&results)[0]) == "ok" && connections_to(&processes_of_run(id)) >= 2 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill with the PID of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(
        output.status.code(),
        Some(130),
        "stderr:\n{}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains("--resume"),
        "{}",
        text(&output.stderr)
    );

    let interrupted = load(&out);
    assert_schema_valid(&interrupted);
    assert_eq!(interrupted["run"]["interrupted"], true);
    let before: Vec<&str> = cells(&interrupted).iter().map(status).collect();
    assert_eq!(before[0], "ok", "{before:?}");
    assert_sane(&cells(&interrupted)[0]);
    assert!(
        before[1..]
            .iter()
            .all(|s| *s == "interrupted" || *s == "pending"),
        "{before:?}"
    );
    assert!(
        before.contains(&"interrupted"),
        "the cell being measured is marked: {before:?}"
    );
    assert_nothing_left(&interrupted);

    let output = framewut(
        &["run", "--resume", out.to_str().unwrap()],
        &scratch.0,
        Duration::from_secs(60),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        text(&output.stderr)
    );
    let resumed = load(&out);
    assert_schema_valid(&resumed);
    assert_eq!(resumed["run"]["interrupted"], false);
    assert_eq!(resumed["run"]["resumed_at"].as_array().unwrap().len(), 1);
    assert_eq!(resumed["run"]["id"], interrupted["run"]["id"]);
    for cell in cells(&resumed) {
        assert_sane(cell);
    }
    assert_eq!(
        cells(&resumed)[0]["started_at"],
        cells(&interrupted)[0]["started_at"],
        "a finished cell is kept, not run again"
    );
    assert_nothing_left(&resumed);
}

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

#[test]
fn a_bad_matrix_file_is_refused_with_line_and_column() {
    let scratch = Scratch::new("bad");
    let matrix = scratch.write(
        "bad.toml",
        "[[stack]]\nid = \"rust/std/sync-pool\"\n\n[[profile]]\nconnections = \"lots\"\n",
    );
    let output = framewut(
        &["run", matrix.to_str().unwrap()],
        &scratch.0,
        Duration::from_secs(20),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 5, column 15"), "{stderr}");
    assert!(
        stderr.contains("a positive whole number or a non-empty list"),
        "{stderr}"
    );
    assert!(
        !scratch.path("framewut-results").exists(),
        "nothing is run or written"
    );
}

#[test]
fn dry_run_lists_the_quick_preset_within_five_and_a_half_minutes() {
    let scratch = Scratch::new("dry");
    let output = framewut(&["run", "--dry-run"], &scratch.0, Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("preset:quick: "), "{stdout}");
    let minutes: u64 = first
        .split("about ")
        .nth(1)
        .and_then(|t| t.split('m').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    // A server for every one of its 105 trials (issue 20).
    assert!(minutes <= 5, "{first}");
    for scenario in ["hello", "sleep", "upstream", "cpu", "db"] {
        assert!(
            stdout.contains(&format!("/{scenario}/c")),
            "{scenario}: {stdout}"
        );
    }
    let only = framewut(
        &[
            "run",
            "--dry-run",
            "--only",
            "rust/*/hello/*",
            "--duration",
            "2s",
            "--trials",
            "2",
        ],
        &scratch.0,
        Duration::from_secs(20),
    );
    let listed = text(&only.stdout);
    let cells: Vec<&str> = listed.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(cells.len(), 4, "{listed}");
    assert!(
        cells
            .iter()
            .all(|l| l.contains("/hello/") && l.contains("2 x 2s")),
        "{listed}"
    );
    assert!(
        !scratch.path("framewut-results").exists(),
        "a dry run writes nothing"
    );
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

/// `kill -9` of `framewut run` leaves nothing of its run within 2 s: the
/// stack it started dies with it (lab_killed.rs tests stacks of several
/// levels). A leftover that carries the dead run's id, as a process left
/// by a lab whose guard was killed too would, is stopped by `--resume`,
/// which says so and then finishes the run.
#[test]
fn a_killed_run_leaves_nothing_and_resume_stops_what_a_dead_run_left() {
    let scratch = Scratch::new("killed");
    let matrix = scratch.write(
        "one.toml",
        r#"
scenarios = ["hello"]
[[stack]]
id = "rust/std/sync-pool"
workers = 2
[[profile]]
connections = 4
duration = "2s"
warmup = "100ms"
"#,
    );
    let out = scratch.path("run");
    let mut child = command(
        &[
            "run",
            matrix.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &scratch.0,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // SIGKILL once the stack runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        assert!(Instant::now() < deadline, "the stack never started");
        if let Ok(text) = std::fs::read_to_string(out.join("results.json")) {
            let results: Value = serde_json::from_str(&text).expect("results.json is always whole");
            let id = results["run"]["id"].as_str().unwrap().to_string();
            if !processes_of_run(&id).is_empty() {
                break id;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    while !processes_of_run(&run_id).is_empty() && killed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        processes_of_run(&run_id),
        Vec::<u32>::new(),
        "processes of the killed run {run_id} remain 2 s after kill -9"
    );

    let mut leftover = std::process::Command::new("sleep")
        .arg("60")
        .env("FRAMEWUT_RUN_ID", &run_id)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let output = framewut(
        &["run", "--resume", out.to_str().unwrap()],
        &scratch.0,
        Duration::from_secs(60),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    let said = format!(
        "framewut: stopped 1 process left running by a run that died: {} (sleep, run {run_id})",
        leftover.id()
    );
    assert!(stderr.contains(&said), "{stderr}");
    // It was killed (and, being this test's child, is this test's to reap).
    let status = leftover.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    let results = load(&out);
    assert_sane(&cells(&results)[0]);
    assert_nothing_left(&results);
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

#[test]
fn a_crossed_profile_threshold_is_recorded_shown_and_exits_4_after_writing_everything() {
    let scratch = Scratch::new("thresholds");
    let matrix = scratch.write(
        "thresholds.toml",
        r#"
scenarios = ["hello"]

[[stack]]
id = "rust/axum/tokio-multi"

[[profile]]
connections = 4
duration = "1s"
warmup = "200ms"
thresholds = ["p99<60s", "rate>1000000000"]
"#,
    );
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(120));
    assert_eq!(
        output.status.code(),
        Some(4),
        "stderr:\n{}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("threshold crossed: rate > 1000000000"),
        "{}",
        text(&output.stdout)
    );
    assert!(
        out.join("report.md").exists(),
        "the reports are written first"
    );
    let results = load(&out);
    assert_schema_valid(&results);
    let cell = &cells(&results)[0];
    assert_eq!(
        cell["config"]["load"]["thresholds"],
        serde_json::json!(["p99 < 60s", "rate > 1000000000"])
    );
    let t = cell["thresholds"].as_array().unwrap();
    assert_eq!(
        (&t[0]["held"], &t[1]["held"]),
        (&true.into(), &false.into())
    );
    assert_eq!(t[1]["measured"], cell["summary"]["requests_per_s"]["mean"]);
}
