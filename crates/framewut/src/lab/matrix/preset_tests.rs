//! The presets' tests: each expands to the cells it promises, in the time
//! it promises on two cores.

use super::*;
use crate::lab::matrix::{Matrix, Overrides};
use crate::lab::measure::cpus::Placement;
use crate::lab::runner::estimate;
use crate::spec::{CellSpec, ScenarioSpec, StackSource};
use framewut_stacks::Model;

fn cells(name: &str) -> Vec<CellSpec> {
    let preset = find(name).unwrap();
    Matrix::parse(name, &preset.toml())
        .unwrap()
        .cells(
            &Placement::halves(&"0-1".parse().unwrap()),
            &Overrides::default(),
        )
        .unwrap()
}

#[test]
fn quick_covers_every_scenario_and_model_within_five_and_a_half_minutes() {
    let cells = cells("quick");
    for scenario in Scenario::ALL {
        assert!(cells.iter().any(|c| c.scenario.is(scenario)), "{scenario}");
    }
    let models: std::collections::BTreeSet<&str> = cells
        .iter()
        .map(|c| match &c.stack.source {
            crate::spec::StackSource::BuiltIn { model, .. } => model.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(models.len(), 4, "{models:?}");
    let total: std::time::Duration = cells.iter().map(estimate).sum();
    assert!(total.as_secs() < 330, "quick is estimated at {total:?}");
}

#[test]
fn every_preset_gives_each_trial_a_server_and_interleaves() {
    for preset in presets() {
        let matrix = Matrix::parse(preset.name, &preset.toml()).unwrap();
        assert!(matrix.interleave, "{}", preset.name);
        for cell in cells(preset.name) {
            assert_eq!(cell.load.servers, cell.load.trials, "{}", cell.id);
            assert!(cell.load.trials >= 3, "{}: replicates to test", cell.id);
        }
    }
}

fn python_source(cell: &CellSpec) -> (&str, &str, &str) {
    match &cell.stack.source {
        StackSource::Python {
            id, sleep, client, ..
        } => (id, sleep.as_str(), client.as_str()),
        other => panic!("{}: {other:?}", cell.id),
    }
}

fn figure(cells: &[CellSpec], id: &str) -> Option<f64> {
    let cell = cells.iter().find(|c| c.id == id).unwrap_or_else(|| {
        panic!(
            "no cell {id}: {:?}",
            cells.iter().map(|c| &c.id).collect::<Vec<_>>()
        )
    });
    cell.reference.as_ref().map(|r| r.requests_per_s)
}

#[test]
fn seed_runs_every_row_of_the_seed_as_the_seed_loaded_it() {
    let cells = cells("seed");
    assert_eq!(cells.len(), 21, "19 rows of the seed and 2 db rows");
    for cell in &cells {
        assert_eq!(cell.stack.workers, 10, "{}", cell.id);
        assert_eq!(cell.load.connections, 200, "{}", cell.id);
        assert_eq!(
            cell.load.threads, 1,
            "{}: one generator CPU of two",
            cell.id
        );
        assert_eq!(cell.load.trials, 4, "{}: a spread for every row", cell.id);
        assert_eq!(
            cell.load.max_duration,
            Some(std::time::Duration::from_millis(2500)),
            "{}: trials sized to the model, within a stated cap",
            cell.id
        );
    }
    let with_figures = cells.iter().filter(|c| c.reference.is_some()).count();
    assert_eq!(with_figures, 19);
    assert_eq!(
        figure(&cells, "python/wsgi/gunicorn-sync/hello/c200"),
        Some(823.69)
    );
    assert_eq!(
        figure(&cells, "python/gevent/gunicorn-gevent/sleep/c200"),
        Some(1_939.15)
    );
    assert_eq!(
        figure(
            &cells,
            "python/wsgi/gunicorn-sync:upstream=futures/upstream/c200"
        ),
        Some(252.56)
    );
    assert_eq!(figure(&cells, "python/wsgi/gunicorn-sync/db/c200"), None);
    let flask = cells
        .iter()
        .find(|c| c.id == "python/flask/gunicorn-meinheld/hello/c200")
        .unwrap();
    assert_eq!(python_source(flask).0, "python/flask/gunicorn-meinheld");
    let clients: Vec<&str> = cells
        .iter()
        .filter(|c| c.scenario.is(Scenario::Upstream))
        .map(|c| python_source(c).2)
        .collect();
    assert_eq!(
        clients,
        ["fresh", "fresh", "fresh", "futures", "futures", "futures"]
    );
    let sleeps: Vec<&str> = cells
        .iter()
        .filter(|c| c.scenario.is(Scenario::Sleep))
        .map(|c| python_source(c).1)
        .collect();
    assert_eq!(sleeps, ["blocking", "blocking", "cooperative", "blocking"]);
    assert!(cells.iter().any(|c| matches!(
        c.scenario,
        ScenarioSpec::Upstream { delay, .. } if delay == std::time::Duration::from_millis(50)
    )));
    let total: std::time::Duration = cells.iter().map(estimate).sum();
    assert!(total.as_secs() < 660, "seed is estimated at {total:?}");
}

#[test]
fn seed_rust_asks_the_same_questions_of_the_rust_stacks() {
    let cells = cells("seed-rust");
    let built_in = |cell: &CellSpec| match &cell.stack.source {
        StackSource::BuiltIn { model, close, .. } => (*model, *close),
        other => panic!("{}: {other:?}", cell.id),
    };
    for cell in &cells {
        let (model, close) = built_in(cell);
        assert_eq!(
            close,
            model == Model::SyncPool,
            "{}: only the sync pool closes",
            cell.id
        );
        assert_eq!(cell.stack.workers, 10, "{}", cell.id);
    }
    let variants = |scenario: Scenario| -> Vec<String> {
        cells
            .iter()
            .filter(|c| c.scenario.is(scenario))
            .map(|c| {
                format!(
                    "{}:{}",
                    built_in(c).0,
                    c.variant().map(|v| v.to_string()).unwrap_or_default()
                )
            })
            .collect()
    };
    let sleep = variants(Scenario::Sleep);
    for asked in [
        "sync-pool:blocking",
        "event-loop-per-worker:blocking",
        "event-loop-per-worker:async",
        "coroutines:async",
    ] {
        assert!(sleep.iter().any(|v| v == asked), "{asked}: {sleep:?}");
    }
    let upstream = variants(Scenario::Upstream);
    for client in [
        "blocking-fresh",
        "blocking-pooled",
        "async-fresh",
        "async-pooled",
    ] {
        assert!(
            upstream.iter().any(|v| v.ends_with(client)),
            "{client}: {upstream:?}"
        );
    }
    let cpu = variants(Scenario::Cpu);
    assert!(cpu.iter().any(|v| v.ends_with(":offload")), "{cpu:?}");
    assert!(!variants(Scenario::Db).is_empty());
    assert_eq!(
        figure(&cells, "rust/std/sync-pool:close/sleep/c200"),
        Some(97.54)
    );
    assert_eq!(
        figure(&cells, "rust/may/coroutines:sleep=async/sleep/c200"),
        Some(1_939.15)
    );
    assert_eq!(
        figure(&cells, "rust/axum/per-core:cpu=offload/cpu/c200"),
        None
    );
    let total: std::time::Duration = cells.iter().map(estimate).sum();
    assert!(total.as_secs() < 540, "seed-rust is estimated at {total:?}");
}

#[test]
fn rust_has_every_stack_scenario_and_variant() {
    let cells = cells("rust");
    for stack in stacks() {
        for scenario in Scenario::ALL {
            assert!(
                cells
                    .iter()
                    .any(|c| c.id == format!("{}/{scenario}/c64", stack.id)),
                "{} {scenario}",
                stack.id
            );
        }
    }
    assert!(cells
        .iter()
        .any(|c| c.id == "rust/axum/tokio-multi:upstream=blocking-fresh/upstream/c64"));
    assert!(cells
        .iter()
        .any(|c| c.id == "rust/actix/workers:cpu=offload/cpu/c64"));
    assert!(cells.iter().all(|c| c.load.trials == 3));
}

#[test]
fn tls_sets_https_beside_plain_http_and_asks_the_seeds_requests_rows_over_https() {
    let cells = cells("tls");
    let hello: Vec<&CellSpec> = cells
        .iter()
        .filter(|c| c.scenario.is(Scenario::Hello))
        .collect();
    let models: std::collections::BTreeSet<&str> = hello
        .iter()
        .map(|c| match &c.stack.source {
            StackSource::BuiltIn { model, .. } => model.as_str(),
            other => panic!("{}: {other:?}", c.id),
        })
        .collect();
    assert!(!models.is_empty());
    for cell in hello.iter().filter(|c| c.stack.tls) {
        let plain = cell.id.replace(":tls/", "/");
        assert!(
            hello.iter().any(|c| c.id == plain && !c.stack.tls),
            "{}: no plain twin {plain}",
            cell.id
        );
    }
    assert_eq!(
        hello.iter().filter(|c| c.stack.tls).count() * 2,
        hello.len(),
        "every model over HTTPS and over plain HTTP"
    );
    for profile in ["keepalive", "close"] {
        assert!(
            cells
                .iter()
                .any(|c| c.load.profile == profile && c.load.close == (profile == "close")),
            "{profile}"
        );
    }
    let upstream: Vec<&CellSpec> = cells
        .iter()
        .filter(|c| c.scenario.is(Scenario::Upstream))
        .collect();
    assert_eq!(upstream.len(), 12, "6 rows under 2 profiles");
    for cell in &upstream {
        assert!(cell.upstream_tls() && !cell.stack.tls, "{}", cell.id);
        assert_eq!(cell.stack.workers, 10, "{}", cell.id);
        assert_eq!(cell.load.connections, 200, "{}", cell.id);
    }
    assert_eq!(
        figure(
            &cells,
            "python/wsgi/gunicorn-sync:upstream=fresh/upstream/c200@keepalive"
        ),
        Some(110.45)
    );
    assert_eq!(
        figure(
            &cells,
            "python/wsgi/gunicorn-sync:upstream=futures/upstream/c200@close"
        ),
        Some(252.56)
    );
    assert_eq!(
        figure(
            &cells,
            "python/gevent/gunicorn-gevent:upstream=session/upstream/c200@close"
        ),
        None
    );
    let total: std::time::Duration = cells.iter().map(estimate).sum();
    assert!(total.as_secs() < 720, "tls is estimated at {total:?}");
}

#[test]
fn h2_sets_few_multiplexed_connections_beside_many_with_the_same_requests_in_flight() {
    let cells = cells("h2");
    let h2: Vec<&CellSpec> = cells
        .iter()
        .filter(|c| c.load.protocol == crate::spec::Protocol::H2)
        .collect();
    assert_eq!(h2.len() * 2, cells.len(), "every cell in both protocols");
    for cell in &cells {
        assert_eq!(cell.load.in_flight(), H2_IN_FLIGHT, "{}", cell.id);
    }
    for cell in &h2 {
        assert_eq!(cell.load.connections, H2_CONNECTIONS, "{}", cell.id);
        let twin = cell
            .id
            .replace(&format!("c{H2_CONNECTIONS}-h2x16@h2"), "c64@http1");
        assert!(
            cells.iter().any(|c| c.id == twin),
            "{}: no HTTP/1.1 twin {twin}",
            cell.id
        );
    }
    assert!(cells
        .iter()
        .any(|c| c.stack.tls && c.load.protocol == crate::spec::Protocol::H2));
    assert!(cells
        .iter()
        .any(|c| matches!(c.stack.source, StackSource::Python { .. })));
    let total: std::time::Duration = cells.iter().map(estimate).sum();
    assert!(total.as_secs() < 300, "h2 is estimated at {total:?}");
}
