//! `framewut compare` and `framewut knee` on real runs: two runs of one small
//! matrix differ by no more than their noise; a run whose sync pool has half
//! the workers is seen to be slower; and the knee search finds the rate at
//! which a stack's p99 crosses its target.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{framewut, run_matrix, Scratch};

/// Two sleep cells of about 2.5 s each; `{workers}` is the sync pool's.
const MATRIX: &str = r#"
scenarios = ["sleep"]

[scenario.sleep]
duration = "50ms"

[[stack]]
id = "rust/std/sync-pool"
workers = {workers}

[[stack]]
id = "rust/hyper/tokio-multi"
workers = 1

[[profile]]
connections = 16
duration = "2s"
warmup = "300ms"
trials = 1
"#;

const SYNC: &str = "rust/std/sync-pool/sleep/c16";
const ASYNC: &str = "rust/hyper/tokio-multi/sleep/c16";

fn compare(dir: &Scratch, a: &std::path::Path, b: &std::path::Path) -> (Value, String) {
    let args = |json: bool| {
        let mut v = vec!["compare", a.to_str().unwrap(), b.to_str().unwrap()];
        if json {
            v.push("--json");
        }
        v.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let mut outputs = [true, false].map(|json| {
        let args = args(json);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = framewut(&args, &dir.0, Duration::from_secs(30));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    });
    let text = std::mem::take(&mut outputs[1]);
    eprintln!("{text}");
    (serde_json::from_str(&outputs[0]).unwrap(), text)
}

fn change<'a>(comparison: &'a Value, id: &str) -> &'a Value {
    comparison["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no change for {id}: {comparison}"))
}

#[test]
fn compare_sees_the_noise_between_two_runs_and_a_sync_pool_with_half_the_workers() {
    let dir = Scratch::new("compare");
    let limit = Duration::from_secs(60);
    let a = run_matrix(&dir, "a", &MATRIX.replace("{workers}", "4"), limit);
    let again = run_matrix(&dir, "again", &MATRIX.replace("{workers}", "4"), limit);
    let slower = run_matrix(&dir, "slower", &MATRIX.replace("{workers}", "2"), limit);

    let (same, text) = compare(&dir, &a, &again);
    assert_eq!(same["changes"].as_array().unwrap().len(), 2, "{same}");
    for id in [SYNC, ASYNC] {
        let c = change(&same, id);
        assert_eq!(c["verdict"], "within_noise", "{c}");
        assert!(c["a"]["noise_per_s"].as_f64().unwrap() > 0.0, "{c}");
        assert_eq!(c["differences"], serde_json::json!([]), "{c}");
    }
    assert!(
        text.contains("0 of 2 cells changed beyond the noise."),
        "{text}"
    );

    let (halved, text) = compare(&dir, &a, &slower);
    let sync = change(&halved, SYNC);
    assert_eq!(sync["verdict"], "slower", "{sync}");
    let fraction = sync["change"].as_f64().unwrap();
    assert!((-0.6..=-0.4).contains(&fraction), "{sync}");
    assert_eq!(sync["differences"], serde_json::json!(["workers 4 -> 2"]));
    assert_eq!(change(&halved, ASYNC)["verdict"], "within_noise");
    assert!(
        text.contains(&format!("1 of 2 cells changed beyond the noise: {SYNC} -")),
        "{text}"
    );
}

#[test]
fn knee_bisects_to_the_rate_where_p99_crosses_its_target() {
    let dir = Scratch::new("knee");
    // Two sync workers holding each request for a 20 ms sleep carry at most
    // 100 req/s; past that the queue, and p99 with it, grows without bound.
    let output = framewut(
        &[
            "knee",
            "rust/std/sync-pool",
            "sleep",
            "--p99",
            "100ms",
            "--sleep",
            "20ms",
            "--workers",
            "2",
            "--connections",
            "4",
            "--step",
            "1s",
            "--warmup",
            "300ms",
            "--max-steps",
            "6",
            "--json",
        ],
        &dir.0,
        Duration::from_secs(90),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let knee: Value = serde_json::from_slice(&output.stdout).unwrap();
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let probe = knee["probe"]["achieved_per_s"].as_f64().unwrap();
    assert!((80.0..=101.0).contains(&probe), "{knee}");
    let steps = knee["steps"].as_array().unwrap();
    assert!((2..=6).contains(&steps.len()), "{knee}");
    assert_eq!(
        steps[0]["ok"], false,
        "10% over the probe cannot be kept: {knee}"
    );
    let passing: Vec<&Value> = steps.iter().filter(|s| s["ok"] == true).collect();
    assert!(!passing.is_empty(), "{knee}");
    for step in &passing {
        assert!(step["p99_us"].as_u64().unwrap() <= 100_000, "{step}");
    }
    let highest = passing
        .iter()
        .map(|s| s["offered_per_s"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let found = knee["knee_per_s"].as_f64().unwrap();
    assert_eq!(found, highest, "the knee is the highest passing rate");
    // The ceiling is 2 workers / 20 ms; an open-loop step passes when it
    // achieves 95% of what it offers, so a passing offer reaches 100 / 0.95.
    let ceiling = 2.0 / 0.020;
    assert!(
        (0.6 * ceiling..=ceiling / 0.95).contains(&found),
        "knee {found}: {knee}"
    );
}
