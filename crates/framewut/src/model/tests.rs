//! The model's ceilings on cells built from small matrices.

use super::*;
use crate::lab::matrix::{Matrix, Overrides};
use crate::lab::measure::cpus::Placement;

fn placement(server: &str) -> Placement {
    Placement::halves(&format!("{server},7").parse().unwrap())
}

/// A placement with this many server CPUs and one generator CPU.
fn on(server: usize) -> Cpus {
    Cpus {
        server,
        generator: 1,
    }
}

/// A measurement whose only cost is the trial's own server CPU per request.
fn trial_cost(cpu_us: f64) -> Measurement {
    Measurement {
        requests_per_s: 0.0,
        server_cpu_us_per_request: Some(cpu_us),
        calibration: None,
        usage: None,
        handshake: None,
        service_us: None,
    }
}

/// The number of CPUs in a list such as `0` or `0-1`.
fn cpus(list: &str) -> usize {
    list.parse::<crate::lab::measure::cpus::CpuSet>()
        .unwrap()
        .count()
}

fn cell(stack: &str, scenarios: &str) -> CellSpec {
    let text = format!(
        "scenarios = [{scenarios}]\n[scenario.sleep]\nduration = \"100ms\"\n\
             [scenario.upstream]\ndelay = \"50ms\"\nconnect_cost = \"30ms\"\n\
             [[stack]]\n{stack}\n[[profile]]\nconnections = 32\n"
    );
    let matrix = Matrix::parse("test", &text).unwrap();
    matrix
        .cells(&placement("0"), &Overrides::default())
        .unwrap()
        .remove(0)
}

fn ceiling(stack: &str, scenario: &str, cpu_us: f64, cpus_list: &str) -> Bound {
    let spec = cell(stack, scenario);
    Inputs::of(&spec, on(self::cpus(cpus_list)), &trial_cost(cpu_us))
        .ceiling()
        .0
}

#[test]
fn a_blocking_wait_holds_each_worker() {
    let b = ceiling(
        "id = \"rust/std/sync-pool\"\nworkers = 10",
        "\"sleep\"",
        50.0,
        "0",
    );
    assert_eq!(b.kind, BoundKind::Workers);
    assert!((b.per_s - 10.0 / 0.10005).abs() < 1e-6);
    assert_eq!(b.words, "worker concurrency: 10 workers x 1 / 100 ms");

    let b = ceiling(
        "id = \"rust/hyper/tokio-current\"\nvariant = \"sleep=blocking\"",
        "\"sleep\"",
        50.0,
        "0",
    );
    assert_eq!(b.words, "worker concurrency: 1 event loop x 1 / 100 ms");
}

#[test]
fn a_cooperative_wait_is_held_by_the_connections() {
    let b = ceiling(
        "id = \"rust/axum/tokio-multi\"\nworkers = 1",
        "\"sleep\"",
        50.0,
        "0",
    );
    assert_eq!(b.kind, BoundKind::Connections);
    assert_eq!(b.words, "connections: 32 / 100 ms");
}

#[test]
fn offload_uses_the_blocking_pool() {
    let spec = cell(
        "id = \"rust/axum/per-core\"\nworkers = 2\nvariant = \"sleep=offload\"",
        "\"sleep\"",
    );
    let inputs = Inputs::of(&spec, on(1), &trial_cost(50.0));
    assert_eq!(inputs.slots, Some(1024));
    assert_eq!(inputs.slots_words, "2 runtimes x 512 blocking threads");
    assert_eq!(inputs.ceiling().0.kind, BoundKind::Connections);
}

#[test]
fn cpu_binds_when_there_is_no_wait_and_cores_count_threads() {
    let b = ceiling(
        "id = \"rust/axum/tokio-multi\"\nworkers = 1",
        "\"cpu\"",
        4000.0,
        "0-1",
    );
    assert_eq!(b.kind, BoundKind::Cpu);
    assert_eq!(b.per_s, 250.0);
    assert_eq!(
        b.words,
        "CPU: 1 core (1 runtime thread on 2 server CPUs) / 4 ms per request (the trial's own)"
    );
    let b = ceiling(
        "id = \"rust/std/thread-per-conn\"",
        "\"hello\"",
        85.0,
        "0-1",
    );
    assert_eq!(
        b.words,
        "CPU: 2 cores / 85 µs per request (the trial's own)"
    );
}

#[test]
fn upstream_waits_include_the_connect_cost_of_fresh_connections() {
    let b = ceiling(
        "id = \"rust/axum/tokio-multi\"\nworkers = 1\nvariant = \"upstream=async-fresh\"",
        "\"upstream\"",
        100.0,
        "0",
    );
    assert_eq!(b.kind, BoundKind::Upstream);
    assert!((b.per_s - 32.0 / 0.0801).abs() < 1e-6);
    assert_eq!(
        b.words,
        "upstream: 32 connections / 80 ms per call (50 ms upstream delay + 30 ms connect)"
    );
    let b = ceiling(
        "id = \"rust/std/sync-pool\"\nworkers = 10",
        "\"upstream\"",
        100.0,
        "0",
    );
    assert_eq!(b.words, "worker concurrency: 10 workers x 1 / 50 ms");
}

#[test]
fn external_stacks_are_bound_by_connections_and_cpu_only() {
    let spec = cell(
        "name = \"ext\"\ncommand = \"true {port}\"\nready = \"/\"",
        "\"sleep\"",
    );
    let inputs = Inputs::of(&spec, on(1), &trial_cost(10.0));
    assert_eq!(inputs.slots, None);
    assert_eq!(inputs.ceiling().0.kind, BoundKind::Connections);
}

#[test]
fn python_workers_hold_their_threads_and_one_core_each() {
    let b = ceiling(
        "id = \"python/flask/gunicorn-gthread\"\nworkers = 2",
        "\"sleep\"",
        300.0,
        "0-1",
    );
    assert_eq!(b.kind, BoundKind::Workers);
    assert_eq!(
        b.words,
        "worker concurrency: 2 workers x 10 threads / 100 ms"
    );
    let b = ceiling(
        "id = \"python/gevent/gunicorn-gevent\"\nworkers = 1",
        "\"sleep\"",
        300.0,
        "0-1",
    );
    assert_eq!(b.words, "connections: 32 / 100 ms");
    let b = ceiling(
        "id = \"python/wsgi/gunicorn-meinheld\"\nworkers = 1",
        "\"cpu\"",
        5000.0,
        "0-1",
    );
    assert_eq!(
        b.words,
        "CPU: 1 core (1 event loop on 2 server CPUs) / 5 ms per request (the trial's own)"
    );
}

#[test]
fn a_calibrated_cell_is_held_by_the_busier_side_and_says_so() {
    let spec = cell("id = \"rust/axum/tokio-multi\"\nworkers = 1", "\"hello\"");
    let measured = Measurement {
        requests_per_s: 110_000.0,
        server_cpu_us_per_request: Some(5.0),
        calibration: Some(Costs {
            server_us: 8.5,
            generator_us: 8.0,
        }),
        usage: None,
        handshake: None,
        service_us: None,
    };
    let p = Prediction::of(&spec, on(1), measured).unwrap();
    assert_eq!(p.inputs.cost_source, CostSource::Calibration);
    assert_eq!(
        p.inputs.cpu_us_per_request,
        Some(8.5),
        "the probe's cost, not the trial's"
    );
    assert_eq!(p.bound, BoundKind::Cpu);
    assert_eq!(p.because, "CPU: 1 core / 8.5 µs per request");
    assert!((p.predicted_per_s - 117_600.0).abs() < 100.0, "{p:?}");
    assert!(!p.surprise, "{}", p.ratio);
    let generator = p
        .bounds
        .iter()
        .find(|b| b.kind == BoundKind::Generator)
        .unwrap();
    assert_eq!(
        generator.words,
        "generator CPU: 1 generator core / 8 µs per request"
    );

    let uncalibrated = Prediction::of(&spec, on(1), trial_cost(5.0)).unwrap();
    assert_eq!(uncalibrated.inputs.cost_source, CostSource::Trial);
    assert!(
        uncalibrated.because.ends_with("(the trial's own)"),
        "{}",
        uncalibrated.because
    );
}

#[test]
fn rounds_to_four_figures() {
    assert_eq!(round4(97.5384615), 97.54);
    assert_eq!(round4(1939.153), 1939.0);
    assert_eq!(round4(0.000123456), 0.0001235);
}

/// A cell against an HTTPS upstream, with its handshake measured.
fn tls_upstream(stack: &str, handshake: Handshake) -> (CellSpec, Measurement) {
    let text = format!(
        "scenarios = [\"upstream\"]\n[scenario.upstream]\ndelay = \"50ms\"\ntls = true\n\
         [[stack]]\n{stack}\n[[profile]]\nconnections = 32\n"
    );
    let spec = Matrix::parse("test", &text)
        .unwrap()
        .cells(&placement("0"), &Overrides::default())
        .unwrap()
        .remove(0);
    let measured = Measurement {
        handshake: Some(handshake),
        service_us: None,
        ..trial_cost(100.0)
    };
    (spec, measured)
}

const HANDSHAKE: Handshake = Handshake {
    handshakes: 100,
    client_us: 400.0,
    server_us: 600.0,
    round_trips: 1,
    rtt_us: 50.0,
};

#[test]
fn a_fresh_tls_connection_per_call_waits_for_the_upstreams_handshake_and_its_round_trips() {
    let (spec, measured) = tls_upstream(
        "id = \"rust/std/sync-pool\"\nworkers = 10\nvariant = \"upstream=blocking-fresh\"",
        HANDSHAKE,
    );
    let inputs = Inputs::of(&spec, on(1), &measured);
    // 50 ms + the upstream's 0.6 ms + 2 round trips of 50 µs; the client's
    // 0.4 ms is the stack's own CPU, in its 100 µs per request.
    assert!((inputs.wait_ms - 50.7).abs() < 1e-9, "{}", inputs.wait_ms);
    assert_eq!(
        inputs.wait_words,
        "50 ms upstream delay + 700 µs TLS connect (600 µs upstream CPU, 2 round trips)"
    );
    let (binding, bounds) = inputs.ceiling();
    assert_eq!(binding.kind, BoundKind::Workers);
    assert!((binding.per_s - 10.0 / (0.0507 + 0.0001)).abs() < 1e-6);
    let up = bounds
        .iter()
        .find(|b| b.kind == BoundKind::UpstreamCpu)
        .expect("the upstream's handshakes are a ceiling");
    assert!((up.per_s - 1.0 / 600e-6).abs() < 1e-6);
    assert_eq!(
        up.words,
        "upstream CPU: 1 upstream core / 600 µs of TLS handshake per call"
    );

    // Pooled connections pay the handshake once per connection: not per call.
    let (spec, measured) = tls_upstream(
        "id = \"rust/std/sync-pool\"\nworkers = 10\nvariant = \"upstream=blocking-pooled\"",
        HANDSHAKE,
    );
    let inputs = Inputs::of(&spec, on(1), &measured);
    assert_eq!(inputs.wait_ms, 50.0);
    assert!(inputs
        .ceiling()
        .1
        .iter()
        .all(|b| b.kind != BoundKind::UpstreamCpu));
}

#[test]
fn an_upstream_whose_handshakes_fill_its_cores_binds_the_cell() {
    // Handshakes of 20 ms on the upstream's one core: at most 50 calls a
    // second, whatever the 32 cooperative connections could wait for.
    let (spec, measured) = tls_upstream(
        "id = \"rust/axum/tokio-multi\"\nvariant = \"upstream=async-fresh\"",
        Handshake {
            server_us: 20_000.0,
            ..HANDSHAKE
        },
    );
    let (binding, _) = Inputs::of(&spec, on(1), &measured).ceiling();
    assert_eq!(binding.kind, BoundKind::UpstreamCpu);
    assert!((binding.per_s - 50.0).abs() < 1e-9);
}

#[test]
fn a_url_stack_is_judged_on_its_hosts_cores_or_its_cpu_ceiling_is_left_out() {
    let measured = cell(
        "url = \"http://10.0.0.7:8080\"\nmetrics = \"http://10.0.0.7:9100/metrics\"",
        "\"hello\"",
    );
    // node_exporter gave the host's 8 cores and 100 µs a request.
    let inputs = Inputs::of(&measured, on(8), &trial_cost(100.0));
    assert_eq!(inputs.unjudged, None);
    let (bound, _) = inputs.ceiling();
    assert_eq!(
        (bound.kind, bound.per_s.round()),
        (BoundKind::Cpu, 80_000.0)
    );
    assert!(
        bound.words.contains("8 cores of the server's host"),
        "{}",
        bound.words
    );

    // A process counter: CPU per request known, the host's cores not.
    let inputs = Inputs::of(&measured, on(0), &trial_cost(100.0));
    assert!(inputs
        .unjudged
        .as_deref()
        .unwrap()
        .contains("not how many cores"));
    assert!(inputs.ceiling().1.iter().all(|b| b.kind != BoundKind::Cpu));

    // No metrics: no CPU at all, and the model says what it cannot judge.
    let blind = cell("url = \"http://10.0.0.7:8080\"", "\"sleep\"");
    let none = Measurement {
        server_cpu_us_per_request: None,
        ..trial_cost(0.0)
    };
    let inputs = Inputs::of(&blind, on(0), &none);
    assert!(inputs
        .unjudged
        .as_deref()
        .unwrap()
        .contains("no metrics endpoint"));
    let (bound, bounds) = inputs.ceiling();
    assert_eq!(
        bound.kind,
        BoundKind::Connections,
        "the wait still bounds it"
    );
    assert_eq!(bounds.len(), 1);

    // A stack framewut starts is always judged whole.
    let own = cell("id = \"rust/std/sync-pool\"\nworkers = 4", "\"hello\"");
    assert_eq!(Inputs::of(&own, on(1), &none).unjudged, None);
}
