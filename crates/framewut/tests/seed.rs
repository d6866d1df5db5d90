//! The `seed` preset through the real binary: a slice of its cells measured
//! with the seed's figures carried into results.json, and the Python cells of
//! a matrix skipped with what to install when python3 or its venv module is
//! missing, while the rest of the matrix runs.
//!
//! The measured slice uses the Python environment the conformance tests make
//! (in Cargo's temporary directory for tests), so it is made once for both.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{assert_stack_pids_gone, cell, command, load_valid, run_bounded, Scratch};

/// Runs framewut with `env` added, killing it (and failing) past `limit`.
fn run(args: &[&str], env: &[(&str, &Path)], cwd: &Path, limit: Duration) -> Output {
    let mut command = command(args, cwd);
    command.envs(env.iter().copied());
    run_bounded(command, limit)
}

fn rate(cell: &Value) -> f64 {
    cell["summary"]["requests_per_s"]["mean"].as_f64().unwrap()
}

const SYNC_SLEEP: &str = "python/wsgi/gunicorn-sync/sleep/c200";
const GEVENT_SLEEP: &str = "python/gevent/gunicorn-gevent/sleep/c200";
const SYNC_DB: &str = "python/wsgi/gunicorn-sync/db/c200";

/// The seed's sleep rows: ten sync workers serve at most 10 / 0.1 s, while
/// gevent's patched sleep lets 200 connections wait at once. And the db row
/// the seed never built, with a relative --out: the Python stack, running in
/// its apps' directory, still finds the run's SQLite file.
#[test]
fn a_slice_of_the_seed_is_measured_beside_the_seeds_figures() {
    let scratch = Scratch::new("slice");
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-conformance");
    let out = scratch.path("run");
    let output = run(
        &[
            "run",
            "seed",
            "--only",
            SYNC_SLEEP,
            "--only",
            GEVENT_SLEEP,
            "--only",
            SYNC_DB,
            "--duration",
            "1s",
            "--trials",
            "1",
            "--out",
            "run",
        ],
        &[("FRAMEWUT_DATA_DIR", &data)],
        &scratch.0,
        // The first run of all makes the Python environment.
        Duration::from_secs(900),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let results = load_valid(&out);
    assert_eq!(results["run"]["matrix"], "preset:seed");
    assert_eq!(results["cells"].as_array().unwrap().len(), 3);
    for (id, stack, seed) in [
        (SYNC_SLEEP, "python/wsgi/gunicorn-sync", 97.54),
        (GEVENT_SLEEP, "python/gevent/gunicorn-gevent", 1_939.15),
    ] {
        let cell = cell(&results, id);
        assert_eq!(cell["status"], "ok", "{id}: {}", cell["reason"]);
        let config = &cell["config"];
        assert_eq!(config["stack"]["source"]["kind"], "python", "{id}");
        assert_eq!(config["stack"]["source"]["id"], stack, "{id}");
        assert_eq!(config["stack"]["workers"], 10, "{id}");
        assert_eq!(config["load"]["connections"], 200, "{id}");
        assert_eq!(config["reference"]["requests_per_s"], seed, "{id}");
        let source = config["reference"]["source"].as_str().unwrap();
        assert!(source.starts_with("seed: sleep x "), "{id}: {source}");
        assert!(rate(cell) > 0.0, "{id}");
        assert_stack_pids_gone(cell);
    }
    let db = cell(&results, SYNC_DB);
    assert_eq!(db["status"], "ok", "{}", db["reason"]);
    assert_eq!(db["config"]["scenario"]["database"], "sqlite");
    assert!(
        db["config"].get("reference").is_none(),
        "the seed has no db figure"
    );
    assert!(rate(db) > 0.0);
    let (sync, gevent) = (
        rate(cell(&results, SYNC_SLEEP)),
        rate(cell(&results, GEVENT_SLEEP)),
    );
    assert!(
        sync < 110.0,
        "10 blocking workers / 100 ms: {sync:.1} req/s"
    );
    assert!(
        gevent > 3.0 * sync,
        "patched sleep overlaps the waits: gevent {gevent:.1} vs sync {sync:.1} req/s"
    );
}

const SYNC_CPU: &str = "python/wsgi/gunicorn-sync/cpu/c200";
const GEVENT_CPU: &str = "python/gevent/gunicorn-gevent/cpu/c200";
const SYNC_HELLO: &str = "python/wsgi/gunicorn-sync/hello/c200";
const GEVENT_HELLO: &str = "python/gevent/gunicorn-gevent/hello/c200";

/// The seed's cpu rows at its 200 connections, where the lab once failed
/// them as stalled: the servers were still computing the answers to
/// requests an earlier phase had abandoned. gunicorn's sync worker and
/// gevent's compute every answer whatever became of its connection, so the
/// cells are measured only if no phase inherits another's work. Each must
/// be measured (its trials marked rough: 2 s is about half a round of 200
/// connections at some 50 req/s) and land inside the model's margins, its
/// CPU ceiling from the calibration window of its own load; and predicted
/// from its parts (json.dumps timed apart from the load by the stack's
/// workers, the response's write, the stack's own cost from its hello
/// cell) within their margin or its interval.
#[test]
fn the_seeds_cpu_rows_at_200_connections_are_measured_within_the_models_margins() {
    let scratch = Scratch::new("cpu");
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-conformance");
    let out = scratch.path("run");
    let output = run(
        &[
            "run",
            "seed",
            "--only",
            SYNC_CPU,
            "--only",
            GEVENT_CPU,
            "--only",
            SYNC_HELLO,
            "--only",
            GEVENT_HELLO,
            "--duration",
            "2s",
            "--trials",
            "3",
            "--out",
            "run",
        ],
        &[("FRAMEWUT_DATA_DIR", &data)],
        &scratch.0,
        Duration::from_secs(900),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let results = load_valid(&out);
    let analysis: Value =
        serde_json::from_str(&fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    for id in [SYNC_CPU, GEVENT_CPU] {
        let cell = cell(&results, id);
        assert_eq!(cell["status"], "ok", "{id}: {}", cell["reason"]);
        assert_eq!(cell["trials"].as_array().unwrap().len(), 3, "{id}");
        assert!(
            cell["calibration"]["load"]["responses"].as_u64().unwrap() > 0,
            "{id}"
        );
        assert_stack_pids_gone(cell);
        let entry = analysis["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        let prediction = &entry["prediction"];
        assert_eq!(prediction["bound"], "cpu", "{id}: {prediction}");
        // Inside the model's margins, or outside them with the cause
        // measured and named: on a machine busy with other work, another
        // process (or the hypervisor, or a saturated generator) can take
        // the CPU the model gave the server, or what a request costs can
        // move between the calibration window and the trials.
        let ratio = prediction["ratio"].as_f64().unwrap();
        let held_elsewhere = matches!(
            prediction["held"]["by"].as_str(),
            Some("other_processes" | "steal" | "generator_cpus")
        );
        let cost_moved = analysis["findings"].as_array().unwrap().iter().any(|f| {
            let text = f["text"].as_str().unwrap();
            text.starts_with(&format!("{id} is a surprise"))
                && text.contains("in the trials against")
                && text.contains("in the calibration window")
        });
        let named = held_elsewhere || cost_moved;
        assert!(
            (framewut::model::SURPRISE_BELOW..=framewut::model::SURPRISE_ABOVE).contains(&ratio)
                || named,
            "{id}: {ratio:.2}x the model's ceiling, with no cause named: {}",
            analysis["findings"]
        );
        let parts = &entry["parts"];
        assert!(
            parts["handler"]
                .as_str()
                .unwrap()
                .starts_with("json.dumps of 100000 ints in CPython"),
            "{id}: {parts}"
        );
        // Timed by the stack's workers: one call a request, over several
        // of its workers at once, and in a row.
        assert!(parts["in_row_us"].as_f64().unwrap() > 0.0, "{id}: {parts}");
        assert!(parts["workers"].as_u64().unwrap() > 1, "{id}: {parts}");
        // The parts land within the margin, or the ratio's 95% interval
        // between starts reaches into it (2 s trials of some 70 req/s over
        // 200 connections vary widely), or the handler was timed while
        // other work kept the generator's CPUs busy, which the report names.
        // Before its workers timed it side by side, as they share a core
        // under load, json.dumps timed one request at a time by one worker
        // put this test's gevent cell at 0.66x once, and the seed's
        // meinheld cell at 0.65x to 0.73x.
        let ratio = parts["ratio"].as_f64().unwrap();
        // The interval's half-width is kept as a share of the ratio.
        let spread = ratio * parts["spread"].as_f64().unwrap_or(0.0);
        let within = framewut::report::parts::WITHIN;
        let reaches = ratio + spread >= *within.start() && ratio - spread <= *within.end();
        assert!(
            reaches || parts["timed_beside_busy"].is_number(),
            "{id}: the parts miss, {ratio:.2}x ± {spread:.2}: {parts}"
        );
        let sum = parts["handler_us"].as_f64().unwrap()
            + parts["write_us"].as_f64().unwrap()
            + parts["stack_us"].as_f64().unwrap();
        assert!(
            (parts["cost_us"].as_f64().unwrap() - sum).abs() < 1e-6,
            "{parts}"
        );
        assert_eq!(
            parts["ceiling_per_s"].as_f64().unwrap(),
            1e6 / sum,
            "1 core / the parts: {parts}"
        );
        eprintln!("{id}: {ratio:.2}x ± {spread:.2} the parts' ceiling");
    }
    let report = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("rounds per connection: a rough rate"),
        "{report}"
    );
}

const MIXED: &str = r#"
scenarios = ["hello"]

[[stack]]
id = "python/wsgi/gunicorn-sync"
workers = 2

[[stack]]
id = "rust/std/sync-pool"
workers = 2

[[profile]]
connections = 4
duration = "1s"
warmup = "200ms"
trials = 1
"#;

/// Runs MIXED with FRAMEWUT_PYTHON set to `python`; returns the Python
/// cell's skip reason after checking that the Rust cell was measured.
fn skip_reason(scratch: &Scratch, name: &str, python: &Path) -> String {
    let matrix = scratch.write("mixed.toml", MIXED);
    let out = scratch.path(name);
    let data = scratch.path(&format!("{name}-data"));
    let started = Instant::now();
    let output = run(
        &[
            "run",
            matrix.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[("FRAMEWUT_PYTHON", python), ("FRAMEWUT_DATA_DIR", &data)],
        &scratch.0,
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "skipped cells are no failure: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30), "{stderr}");
    let results = load_valid(&out);
    let rust = cell(&results, "rust/std/sync-pool/hello/c4");
    assert_eq!(rust["status"], "ok", "{}", rust["reason"]);
    let python = cell(&results, "python/wsgi/gunicorn-sync/hello/c4");
    assert_eq!(python["status"], "skipped", "{python}");
    assert_eq!(python["stack_process"], Value::Null, "nothing was started");
    python["reason"].as_str().unwrap().to_string()
}

#[test]
fn without_python_or_venv_the_python_cells_are_skipped_saying_what_to_install() {
    let scratch = Scratch::new("skip");
    let missing = scratch.path("no-such-python3");
    let reason = skip_reason(&scratch, "no-python", &missing);
    assert!(
        reason.contains(&missing.display().to_string())
            && reason.contains("apt-get install python3"),
        "{reason}"
    );

    // Debian's python3 without python3-venv: an interpreter that hides ensurepip.
    let wrapper = scratch.path("python3-without-venv");
    fs::write(
        &wrapper,
        "#!/bin/sh\nexec python3 -c \"import sys; sys.modules['ensurepip'] = None; \
         exec(sys.argv[1])\" \"$2\"\n",
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let reason = skip_reason(&scratch, "no-venv", &wrapper);
    assert!(reason.contains("apt-get install python3-venv"), "{reason}");
}
