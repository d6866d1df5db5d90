//! `framewut run` stopped and resumed, through the real binary: Ctrl-C
//! keeps the cells it finished and `--resume` runs the rest; `kill -9`
//! leaves nothing of the run, and `--resume` stops what a dead run left
//! before it finishes the run. Its matrices use an axum stack.
#![cfg(feature = "axum")]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    assert_nothing_left, assert_sane, assert_schema_valid, cells, command, connections_to,
    framewut, load, processes_of_run, status, text, wait_bounded, Scratch,
};

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
