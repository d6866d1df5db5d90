//! `framewut run` end to end, through the real binary: small matrices of
//! about a second a cell, results.json checked against its schema and for
//! sane numbers, starved connections counted, a bad matrix refused, the
//! quick preset's dry run, a crossed threshold, and, after every run, that
//! no process it started remains. Ctrl-C, `kill -9` and `--resume` are in
//! lab_resume.rs, external stacks from a command template in
//! lab_external.rs. Its matrices and the quick preset use the axum stacks.
#![cfg(feature = "axum")]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{
    analysis, assert_csv_matches, assert_nothing_left, assert_sane, assert_schema_valid, cells,
    framewut, load, run_out, schema_errors, status, text, Scratch,
};

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
    // Idle CPUs are held polling by default, or the record says why not.
    let idle = &placement["idle"];
    assert_eq!(idle["asked"], "shallow", "{placement}");
    assert!(
        idle["held"] == true || idle["note"].is_string(),
        "{placement}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("The server, the upstream stand-in and the database ran on CPUs"),
        "{report}"
    );
    if idle["held"] == true {
        assert!(
            report.contains("Idle CPUs were held in their polling state"),
            "{report}"
        );
    }
    assert!(
        stdout.contains("req/s") && stdout.contains("p99"),
        "{stdout}"
    );
    assert_nothing_left(&results);
}

/// The same 32 requests in flight as 32 HTTP/1.1 connections and as 2
/// HTTP/2 connections of 16 streams, on a sleep the model bounds by the
/// requests in flight.
const H2: &str = r#"
description = "HTTP/1.1 against HTTP/2 on a wait-bound cell"
scenarios = ["sleep"]

[scenario.sleep]
duration = "20ms"

[[stack]]
id = "rust/axum/per-core"

[[profile]]
name = "http1"
connections = 32
duration = "1s"
warmup = "200ms"
trials = 1

[[profile]]
name = "h2"
protocol = "h2"
connections = 2
streams = 16
duration = "1s"
warmup = "200ms"
trials = 1
"#;

/// An h2 cell is loaded over HTTP/2, says so in results.json, the table and
/// the report, and its model counts every stream: 32 requests in flight
/// over 20 ms allow 1,600 req/s whichever protocol carries them.
#[test]
fn an_h2_cell_loads_streams_and_the_model_counts_every_one() {
    let scratch = Scratch::new("h2");
    let matrix = scratch.write("h2.toml", H2);
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
    let ids: Vec<&str> = cells(&results)
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "rust/axum/per-core/sleep/c32@http1",
            "rust/axum/per-core/sleep/c2-h2x16@h2"
        ]
    );
    let h2 = &cells(&results)[1];
    assert_eq!(h2["config"]["load"]["protocol"], "h2");
    assert_eq!(h2["config"]["load"]["streams"], 16);
    let trial = &h2["trials"][0]["load"];
    assert_eq!(trial["plan"]["protocol"], "h2c", "{}", trial["plan"]);
    assert_eq!(trial["http2"]["server"]["max_concurrent_streams"], 200);
    assert_eq!(trial["errors"]["read"], 0, "{}", trial["errors"]);
    let derived = analysis(&out);
    for (i, cell) in cells(&results).iter().enumerate() {
        assert_sane(cell);
        let prediction = &derived["cells"][i]["prediction"];
        assert_eq!(prediction["bound"], "connections", "{prediction}");
        // 32 / 20 ms, less the handler's own CPU.
        let ceiling = prediction["predicted_per_s"].as_f64().unwrap();
        assert!((1_400.0..=1_600.0).contains(&ceiling), "{prediction}");
        // A wait-bound rate is the model's, less at worst the CPU of every
        // request in flight queued behind one another in each round: the
        // sleeps end together, and (in this debug build) a request's CPU is
        // not small beside 20 ms. A tenth more for the timer's lateness.
        let inputs = &prediction["inputs"];
        let cpu_ms = inputs["cpu_us_per_request"].as_f64().unwrap() / 1e3;
        let cores = inputs["cores"].as_f64().unwrap();
        let lockstep = 20.0 / (20.0 + 32.0 * cpu_ms / cores);
        let rate = cell["summary"]["requests_per_s"]["mean"].as_f64().unwrap();
        let ratio = rate / ceiling;
        assert!(
            (0.9 * lockstep..=1.15).contains(&ratio),
            "{} at {rate} req/s ({ratio:.2} of the model, {lockstep:.2} in lockstep): {prediction}",
            cell["id"]
        );
    }
    let words = derived["cells"][1]["prediction"]["formula"]
        .as_str()
        .unwrap();
    assert!(words.contains("32 streams (2 connections x 16)"), "{words}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("2 x 16 h2"), "{report}");
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

[placement]
cpu_idle = "as-is"
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
    // The matrix leaves the machine's idle states as they are.
    let idle = &results["placement"]["idle"];
    assert_eq!(idle["asked"], "as-is", "{idle}");
    assert_eq!(idle["held"], false, "{idle}");
    assert!(idle.get("note").is_none(), "{idle}");
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
