//! The findings of the reports, from fixed results (tests/fixtures/report/,
//! real runs, some changed by the test): each of the seed's conclusions
//! judged with its reasons, the surprises named, what a TLS handshake cost,
//! and a cell whose rate and latency put fewer requests in flight than it
//! had connections.

mod support;

use framewut::lab::results::Results;
use framewut::report::{self, findings, findings::Topic};
use support::report::{analysed, fixture, here};
use support::Scratch;

#[test]
fn findings_judge_each_seed_conclusion_and_name_every_surprise() {
    let dir = fixture("findings");
    let (results, analysis) = analysed(&dir);
    for topic in [
        Topic::SeedHello,
        Topic::SeedSleep,
        Topic::SeedUpstream,
        Topic::SeedCpu,
    ] {
        let f = analysis
            .findings
            .iter()
            .find(|f| f.topic == topic)
            .unwrap_or_else(|| panic!("no finding on {topic:?}"));
        assert!(f.verdict.is_some(), "{f:?}");
        assert!(f.cells.len() >= 2, "{f:?}");
    }
    for f in &analysis.findings {
        assert!(
            f.text.chars().any(|c| c.is_ascii_digit()),
            "a finding without numbers: {}",
            f.text
        );
    }
    let surprises: Vec<&str> = results
        .cells
        .iter()
        .filter(|c| analysis.prediction(&c.id).is_some_and(|p| p.surprise))
        .map(|c| c.id.as_str())
        .collect();
    for id in surprises {
        assert!(
            analysis
                .findings
                .iter()
                .any(|f| f.topic == Topic::Surprise && f.cells.iter().any(|c| c == id)),
            "the surprise {id} has no finding"
        );
    }
    let blocking = analysis
        .findings
        .iter()
        .find(|f| {
            f.text
                .starts_with("A blocking sleep inside an event loop serialised")
        })
        .expect("the blocking-sleep cells are explained");
    assert!(
        blocking.text.contains("1 event loop x 1 / 50 ms"),
        "{}",
        blocking.text
    );
}

/// The seed-rust preset's results (a real run, trials and histograms left
/// out): the seed's questions put to the Rust stacks, at the seed's load.
#[test]
fn on_the_seed_rust_preset_the_findings_give_the_seeds_reasons() {
    let dir = Scratch::new("seed-rust");
    std::fs::copy(
        here("tests/fixtures/report/seed-rust.json"),
        dir.path("results.json"),
    )
    .unwrap();
    let (results, analysis) = analysed(&dir);
    let finding = |topic: Topic| {
        analysis
            .findings
            .iter()
            .find(|f| f.topic == topic)
            .unwrap_or_else(|| panic!("no finding on {topic:?}"))
    };
    let hello = finding(Topic::SeedHello);
    assert!(
        hello
            .text
            .contains("rust/std/sync-pool:close closes the connection after every response"),
        "{}",
        hello.text
    );
    let sleep = finding(Topic::SeedSleep);
    assert_eq!(
        sleep.verdict,
        Some(findings::Verdict::Confirmed),
        "{}",
        sleep.text
    );
    let upstream = finding(Topic::SeedUpstream);
    assert_eq!(
        upstream.verdict,
        Some(findings::Verdict::Confirmed),
        "{}",
        upstream.text
    );
    assert!(
        upstream
            .text
            .contains("Pooling connections alone, with the same client")
            && upstream.text.contains("on every server that ran both")
            && upstream
                .text
                .contains("Between servers with the same client"),
        "{}",
        upstream.text
    );
    let cpu = finding(Topic::SeedCpu);
    assert_eq!(
        cpu.verdict,
        Some(findings::Verdict::Confirmed),
        "{}",
        cpu.text
    );
    // The sleep and upstream rows, each held by its workers or connections,
    // measure within 10% of the model.
    for cell in &results.cells {
        let p = analysis.prediction(&cell.id).unwrap();
        if matches!(
            cell.config.scenario.scenario(),
            Some(framewut_stacks::Scenario::Sleep | framewut_stacks::Scenario::Upstream)
        ) {
            assert!((0.85..=1.1).contains(&p.ratio), "{}: {p:?}", cell.id);
        }
    }
}

/// The TLS findings: a stack over HTTPS beside itself over plain HTTP, with
/// what a handshake cost it, and pooling against an HTTPS upstream beside
/// the seed's step.
#[test]
fn tls_findings_give_the_handshake_cost_and_the_fresh_to_pooled_step_over_https() {
    use framewut::model::Handshake;
    use framewut::spec::{Reference, ScenarioSpec};

    let dir = fixture("tls");
    let mut results = Results::load(&dir.0).unwrap();
    let handshake = Handshake {
        handshakes: 100,
        client_us: 300.0,
        server_us: 500.0,
        round_trips: 1,
        rtt_us: 40.0,
    };
    // rust/axum/per-core over HTTPS with a connection per request, both
    // cells closing: half the rate, 600 µs more CPU per request.
    let plain = results
        .cells
        .iter_mut()
        .find(|c| c.id == "rust/axum/per-core/hello/c8")
        .unwrap();
    plain.config.load.close = true;
    let mut https = plain.clone();
    https.id = "rust/axum/per-core:tls/hello/c8".into();
    https.config.id = https.id.clone();
    https.config.stack.label = "rust/axum/per-core:tls".into();
    https.config.stack.tls = true;
    https.handshake = Some(handshake);
    let summary = https.summary.as_mut().unwrap();
    let plain_us = summary.server_cpu_us_per_request.unwrap();
    let plain_rate = summary.requests_per_s.mean;
    summary.requests_per_s.mean = plain_rate / 2.0;
    summary.server_cpu_us_per_request = Some(plain_us + 600.0);
    results.cells.push(https);

    // rust/axum/tokio-multi against an HTTPS upstream, fresh and pooled.
    for (id, rps, seed) in [
        (
            "rust/axum/tokio-multi:upstream=async-fresh/upstream/c8",
            100.0,
            110.45,
        ),
        ("rust/axum/tokio-multi/upstream/c8", 150.0, 252.03),
    ] {
        let cell = results.cells.iter_mut().find(|c| c.id == id).unwrap();
        if let ScenarioSpec::Upstream { tls, .. } = &mut cell.config.scenario {
            *tls = true;
        }
        cell.handshake = Some(handshake);
        cell.summary.as_mut().unwrap().requests_per_s.mean = rps;
        cell.config.reference = Some(Reference {
            requests_per_s: seed,
            source: "seed".into(),
        });
    }

    let analysis = report::analyse(&results);
    let tls: Vec<&str> = analysis
        .findings
        .iter()
        .filter(|f| f.topic == Topic::Tls)
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(tls.len(), 2, "{tls:#?}");
    let served = tls[0];
    assert!(
        served.starts_with("rust/axum/per-core:tls at 8 connections over HTTPS answered")
            && served.contains("(0.50x)")
            && served.contains("a handshake cost it about 600 µs")
            && served.contains("the probe's rustls server side alone: 500 µs"),
        "{served}"
    );
    let pooling = tls[1];
    assert!(
        pooling.contains("100 req/s with a new connection per call")
            && pooling.contains("150 req/s with async-pooled (1.50x)")
            && pooling.contains(
                "a rustls handshake cost 300 µs of client CPU and 500 µs of the upstream's"
            )
            && pooling.contains("The seed went from 110 req/s to 252 req/s (2.28x)"),
        "{pooling}"
    );
}

#[test]
fn a_cell_whose_rate_and_latency_put_fewer_requests_in_flight_than_connections_is_named() {
    let dir = fixture("little");
    let mut results = Results::load(&dir.0).unwrap();
    let id = "rust/axum/tokio-multi/hello/c32";
    let cell = results.cells.iter_mut().find(|c| c.id == id).unwrap();
    cell.config.load.close = true;
    // 27,312 req/s and 586 µs: 16 of the 32 connections in flight.
    let summary = cell.summary.as_mut().unwrap();
    let per_s = summary.requests_per_s.mean;
    let mut latency = summary.latency.clone();
    latency.count = (per_s * summary.elapsed_s).round() as u64;
    latency.mean_us = 16.0 / per_s * 1e6;
    summary.latency_with_unanswered = Some(latency);
    let analysis = report::analyse(&results);

    let little = analysis
        .cells
        .iter()
        .find(|c| c.id == id)
        .and_then(|c| c.little)
        .expect("a closed-loop cell that counted its unanswered requests is checked");
    assert!(!little.holds, "{little:?}");
    assert_eq!(little.n, 32);
    assert!((little.l - 16.0).abs() < 0.01, "{little:?}");
    assert!(
        (little.gap_us - 16.0 / per_s * 1e6).abs() < 0.5,
        "{little:?}"
    );
    assert!(
        analysis.cells.iter().filter(|c| c.little.is_some()).count() == 1,
        "the fixture's other cells were measured before framewut counted unanswered requests"
    );

    let found: Vec<&str> = analysis
        .findings
        .iter()
        .filter(|f| f.topic == Topic::LittlesLaw)
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("rust/axum/tokio-multi hello: 32 connections, but rate x mean latency = 27,312 req/s x 586 µs = 16.0 in flight: 586 µs of every request were spent outside the server's answer as the load generator measures it (connection set-up: this load asks for the connection to be closed after every request"),
        "{}",
        found[0]
    );

    report::write(&dir.0, &results, &analysis).unwrap();
    let written = support::analysis(&dir.0);
    let cell = written["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    assert_eq!(cell["little"]["holds"], false);
}
