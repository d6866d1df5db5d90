//! The model against real runs: the built-in sleep cells, each concurrency
//! model at two worker counts (the single event loop of tokio-current has
//! only one, so its blocking sleep is also run on axum's per-core loops),
//! run briefly through `framewut run`; each must measure within 10% of its
//! prediction and be held by the bound the model names. And a CPU-bound
//! cell: predicted from its calibration probe, with what held it measured,
//! which names a busy loop on the generator's CPUs.
#![cfg(feature = "axum")]

mod support;

use std::time::Duration;

use framewut::lab::measure::cpus::{CpuSet, Placement};
use serde_json::Value;
use support::busy::BusyLoops;
use support::{load, read, run_matrix, Scratch};

/// Sleep cells of about 4 s each. 100 ms sleeps over 3 s count 30 requests a
/// worker, so one request more or less is within the 10% asked for, and the
/// millisecond or two a cooperative sleep overshoots (the timer's tick, the
/// other requests' CPU) is 2% of it.
const MATRIX: &str = r#"
scenarios = ["sleep"]

[scenario.sleep]
duration = "100ms"

[[stack]]
id = "rust/std/sync-pool"
workers = [2, 8]

[[stack]]
id = "rust/hyper/tokio-current"
variant = "sleep=blocking"

# SO_REUSEPORT spreads the 16 connections over the loops at random: with
# 3 loops, the odds that one gets none are 3 x (2/3)^16, 0.05%.
[[stack]]
id = "rust/axum/per-core"
variant = "sleep=blocking"
workers = [2, 3]

[[stack]]
id = "rust/axum/tokio-multi"
workers = [1, 2]

[[stack]]
id = "rust/axum/tokio-multi"
variant = "sleep=offload"
workers = [1, 2]

[[profile]]
connections = 16
duration = "3s"
warmup = "500ms"
trials = 1
"#;

#[test]
fn the_model_predicts_each_sleep_cell_within_ten_percent() {
    let dir = Scratch::new("model");
    let run = run_matrix(&dir, "sleep", MATRIX, Duration::from_secs(120));
    let results: Value = load(&run);
    let analysis = support::analysis(&run);
    let cells = analysis["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 9);
    assert_eq!(cells.len(), results["cells"].as_array().unwrap().len());
    let mut failures = Vec::new();
    for cell in cells {
        let id = cell["id"].as_str().unwrap();
        let p = &cell["prediction"];
        let ratio = p["ratio"].as_f64().unwrap_or(0.0);
        let expected_bound = if id.contains("sync-pool") || id.contains("sleep=blocking") {
            "workers"
        } else {
            "connections"
        };
        let line = format!(
            "{id}: measured {} req/s, predicted {} ({}), ratio {ratio}",
            p["measured_per_s"], p["predicted_per_s"], p["because"]
        );
        eprintln!("{line}");
        if !(0.9..=1.1).contains(&ratio) || p["bound"] != expected_bound {
            failures.push(line);
        }
    }
    assert!(
        failures.is_empty(),
        "outside 0.9-1.1 or held by another bound:\n{}",
        failures.join("\n")
    );
    let sync2 = cells
        .iter()
        .find(|c| c["id"] == "rust/std/sync-pool:w2/sleep/c16")
        .unwrap();
    assert_eq!(
        sync2["prediction"]["because"],
        "worker concurrency: 2 workers x 1 / 100 ms"
    );
    let report = read(&run.join("report.md"));
    assert!(
        report.contains("A blocking sleep inside an event loop serialised each worker"),
        "{report}"
    );
}

/// CPU-bound cells small enough to run twice in a few seconds.
const CPU_BOUND: &str = r#"
scenarios = ["hello"]

[[stack]]
id = "rust/fast/per-core"
workers = 1

[[profile]]
connections = 16
duration = "1s"
warmup = "300ms"
trials = 1
"#;

/// The prediction of the one cell of a run's analysis.json.
fn only_prediction(run: &std::path::Path) -> Value {
    let analysis = support::analysis(run);
    analysis["cells"][0]["prediction"].clone()
}

#[test]
fn cpu_bound_cells_are_predicted_from_a_calibration_and_a_hog_on_the_generator_is_named() {
    let dir = Scratch::new("calibrated");
    let run = run_matrix(&dir, "plain", CPU_BOUND, Duration::from_secs(60));
    let results = load(&run);
    assert!(
        results["cells"][0]["calibration"]["load"]["requests"]
            .as_u64()
            .unwrap()
            > 0,
        "the probe ran: {}",
        results["cells"][0]["calibration"]
    );
    let p = only_prediction(&run);
    assert_eq!(p["inputs"]["cost_source"], "calibration", "{p}");
    assert!(
        p["inputs"]["generator_us_per_request"].as_f64().unwrap() > 0.0,
        "{p}"
    );
    assert!(p["held"]["by"].is_string(), "{p}");

    // A busy loop on every generator CPU: the generator's CPUs are then
    // saturated by a process that is not the generator.
    let load_cpus = Placement::halves(&CpuSet::allowed()).load_cpus;
    let loops = BusyLoops::on(load_cpus.cpus().iter().copied());
    let run = run_matrix(&dir, "hogged", CPU_BOUND, Duration::from_secs(60));
    drop(loops);
    let p = only_prediction(&run);
    let by = p["held"]["by"].as_str().unwrap_or("");
    assert!(
        ["other_processes", "steal"].contains(&by),
        "a hog on the generator's CPUs shows in what held the cell: {p}"
    );
    eprintln!("{}", p["held"]["words"]);
}
