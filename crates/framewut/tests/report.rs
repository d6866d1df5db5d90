//! The reports from a fixed results.json (tests/fixtures/report/, a real run
//! of the seed's conclusions on the Rust stacks with a connections sweep):
//! report.md, report.html's grid at a glance and the model and findings JSON
//! against their insta snapshots (tests/snapshots/), `framewut report DIR`
//! rebuilding both reports and results.csv from results.json alone, and
//! report.html rendered in headless Chromium.
//!
//! After a deliberate change to the reports, rewrite the snapshots with
//! `INSTA_UPDATE=always cargo nextest run -p framewut --test report` and read
//! the diff (`git diff crates/framewut/tests/snapshots`) before committing
//! it. With CI=true, insta fails on any difference instead of writing.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use framewut::lab::results::{Results, Status};
use framewut::report::{self, findings, findings::Topic, markdown};
use support::chromium::{chromium, console_lines};
use support::{framewut, read, Scratch};

fn here(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A run directory holding only a copy of the fixture's results.json.
fn fixture(name: &str) -> Scratch {
    let dir = Scratch::new(name);
    std::fs::copy(
        here("tests/fixtures/report/results.json"),
        dir.path("results.json"),
    )
    .unwrap();
    dir
}

fn analysed(dir: &Scratch) -> (Results, report::Analysis) {
    let results = Results::load(&dir.0).unwrap();
    let analysis = report::analyse(&results);
    (results, analysis)
}

#[test]
fn report_md_and_the_model_and_findings_json_match_their_snapshots() {
    let dir = fixture("snapshot");
    let (results, analysis) = analysed(&dir);
    let md = markdown::render(&results, &analysis);
    insta::assert_snapshot!("report.md", md);
    let html = report::html::render(&results, &analysis);
    insta::assert_snapshot!("report.html.glance", glance_section(&html));
    insta::assert_snapshot!(
        "analysis.json",
        serde_json::to_string_pretty(&analysis).unwrap()
    );
}

/// report.html's at-a-glance section, one element a line so that a
/// snapshot's diff shows what changed.
fn glance_section(html: &str) -> String {
    let start = html
        .find(r#"<section id="glance">"#)
        .expect("report.html has the grid");
    let end = start + html[start..].find("</section>").unwrap() + "</section>".len();
    html[start..end]
        .replace("<tr>", "\n<tr>")
        .replace("<li>", "\n<li>")
        .replace("</table>", "\n</table>")
}

#[test]
fn both_reports_open_with_the_grid_and_a_sentence_per_column_before_the_findings() {
    let dir = fixture("glance");
    let (results, analysis) = analysed(&dir);
    let md = markdown::render(&results, &analysis);
    let glance = md.find("## At a glance").expect("report.md has the grid");
    assert!(glance < md.find("## Findings").unwrap(), "{md}");
    // A Markdown table: a header, its rule, a row per stack.
    let lines: Vec<&str> = md[glance..].lines().skip(2).take(8).collect();
    assert_eq!(
        lines[0],
        "| stack | hello c8 | hello c32 | sleep c8 | sleep c32 | upstream c8 | upstream c32 | cpu c8 | cpu c32 | db c8 | db c32 |"
    );
    assert_eq!(
        lines[1],
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    assert!(
        lines[2..8]
            .iter()
            .all(|l| l.starts_with("| rust/") && l.matches(" | ").count() == 10),
        "{lines:#?}"
    );
    // Ranked within each column by rate, ties sharing a rank: three stacks
    // answered 156 req/s on sleep at 8 connections, the sync pool 78.
    assert!(md.contains("| rust/axum/per-core | 3rd · 17,844 / 49,580 cpu ! | 3rd · 21,147 / 57,140 cpu ! | **1st · 156 / 160 conns** | 2nd · 608 / 640 conns |"), "{md}");
    assert!(md.contains("| rust/std/sync-pool | 2nd · 21,914 / 42,140 cpu ! | 2nd · 22,984 / 43,780 cpu ! | 4th · 78.0 / 79.9 workers |"), "{md}");
    // One sentence per column, from the model.
    assert!(md.contains("- sleep at 32 connections: rust/axum/tokio-multi:sleep=offload leads with 610 req/s: wait-bound, 32 connections / 50 ms; its trials cannot tell it apart from rust/axum/tokio-multi and rust/axum/per-core; last, rust/hyper/tokio-current:sleep=blocking at 19.5 req/s, worker-bound, 1 event loop x 1 / 50 ms.\n"), "{md}");
    assert_eq!(
        md[glance..md.find("## Findings").unwrap()]
            .matches("\n- ")
            .count(),
        10
    );

    let html = report::html::render(&results, &analysis);
    let glance = html.find(r#"<section id="glance">"#).unwrap();
    assert!(glance < html.find(r#"<section id="findings">"#).unwrap());
    assert_eq!(
        html.matches("data-rank=").count(),
        32,
        "every measured cell is ranked"
    );
    assert!(
        html.contains(r#"<th colspan="2">sleep</th>"#),
        "scenarios over their loads"
    );
    // The fastest in a column has the darkest step, the slowest the lightest.
    assert!(html.contains(r#"<td class="rank-0" data-rank="1" title="rust/axum/tokio-multi:sleep=offload/sleep/c32: 1st of 5 in sleep at 32 connections;"#), "{html}");
    assert!(html.contains(r#"<td class="rank-4" data-rank="5" title="rust/hyper/tokio-current:sleep=blocking/sleep/c32: 5th"#), "{html}");
}

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

/// Where a report links to anything outside itself.
fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_lowercase();
    [
        "src=", "href=", "url(", "@import", "<link", "<iframe", "<img",
    ]
    .into_iter()
    .filter(|needle| lower.contains(needle))
    .map(str::to_string)
    .collect()
}

#[test]
fn framewut_report_rebuilds_the_analysis_and_both_reports_from_results_json_alone() {
    let dir = fixture("rebuild");
    let before = read(&dir.path("results.json"));

    let output = framewut(
        &["report", dir.0.to_str().unwrap()],
        &dir.0,
        Duration::from_secs(30),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("Seed conclusion 2"), "{stdout}");

    let (results, analysis) = analysed(&fixture("expected"));
    assert_eq!(
        read(&dir.path("report.md")),
        markdown::render(&results, &analysis)
    );
    assert_eq!(
        read(&dir.path("report.html")),
        report::html::render(&results, &analysis)
    );
    assert_eq!(
        read(&dir.path("results.json")),
        before,
        "results.json holds measurements; the report only reads it"
    );
    let written = support::analysis(&dir.0);
    assert_eq!(written, serde_json::to_value(&analysis).unwrap());
    assert!(
        written["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["prediction"]["bound"].is_string()),
        "{written}"
    );

    support::assert_csv_matches(&dir.0);

    let html = read(&dir.path("report.html"));
    assert!(html.starts_with("<!doctype html>"));
    assert_eq!(external_references(&html), Vec::<String>::new());
    assert!(html.contains("<svg class=\"chart\""));
}

#[test]
fn report_csv_rebuilds_results_csv_alone_and_quotes_what_needs_it() {
    let dir = fixture("csv");
    let mut results = Results::load(&dir.0).unwrap();
    let failed = results
        .cells
        .iter_mut()
        .find(|c| c.id == "rust/std/sync-pool/sleep/c8")
        .unwrap();
    failed.status = Status::Failed;
    failed.reason = Some("the stack said \"no\", then\nexited, twice".into());
    results.save(&dir.0).unwrap();

    let output = framewut(
        &["report", dir.0.to_str().unwrap(), "--csv"],
        &dir.0,
        Duration::from_secs(30),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path("results.csv").exists());
    assert!(
        !dir.path("report.md").exists() && !dir.path("analysis.json").exists(),
        "--csv writes results.csv alone"
    );
    let text = read(&dir.path("results.csv"));
    assert!(
        text.starts_with("id,stack,workers,variant,scenario,profile,connections,"),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n"),
        "RFC 4180 ends every record with CRLF"
    );
    assert!(
        text.contains(",failed,\"the stack said \"\"no\"\", then\nexited, twice\","),
        "{text}"
    );

    // The numbers against analysis.json, which the full rebuild writes.
    let analysis = report::analyse(&results);
    report::write(&dir.0, &results, &analysis).unwrap();
    let records = support::assert_csv_matches(&dir.0);
    let failed = records
        .iter()
        .find(|r| r["id"] == "rust/std/sync-pool/sleep/c8")
        .unwrap();
    assert_eq!(
        failed["reason"],
        "the stack said \"no\", then\nexited, twice"
    );
    assert_eq!(failed["req_per_s"], "");
    let sleep = records
        .iter()
        .find(|r| r["id"] == "rust/axum/tokio-multi/sleep/c32")
        .unwrap();
    assert_eq!(
        (sleep["bound"].as_str(), sleep["bound_formula"].as_str()),
        (Some("connections"), Some("32 connections / 50 ms"))
    );
    assert_eq!(sleep["p99_ms"], "60.927", "{sleep:?}");
}

#[test]
fn report_html_renders_every_chart_in_headless_chromium_with_no_console_errors() {
    let dir = fixture("chromium");
    let (results, analysis) = analysed(&dir);
    report::write(&dir.0, &results, &analysis).unwrap();
    let page = dir.path("report.html");
    let charts = read(&page).matches("<svg class=\"chart\"").count();
    assert!(charts >= 10, "{charts} charts");

    let (dom, log) = chromium(&page, &dir.path("profile"), "--dump-dom");
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "{log}");
    let ranked = read(&page).matches("data-rank=").count();
    assert!(ranked > 0);
    let coloured = format!("data-glance=\"{ranked}/{ranked}\"");
    assert!(
        dom.contains(&coloured),
        "the grid's {ranked} ranked cells are not all coloured"
    );
    let marker = format!("data-charts=\"{charts}/{charts}\"");
    assert!(
        dom.contains(&marker),
        "the page's script did not find {charts} drawn charts: {}",
        dom.split("<body")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>()
    );

    // The check above can fail: a page that throws is caught.
    let broken = dir.write(
        "broken.html",
        "<!doctype html><html><body><script>throw new Error('deliberate');</script></body></html>",
    );
    let (_, log) = chromium(&broken, &dir.path("profile-broken"), "--dump-dom");
    assert!(
        console_lines(&log).iter().any(|l| l.contains("deliberate")),
        "{log}"
    );
}

#[test]
fn a_reference_from_the_matrix_stands_beside_the_measurement() {
    let dir = fixture("reference");
    let mut results = Results::load(&dir.0).unwrap();
    let id = "rust/std/sync-pool/sleep/c8";
    let cell = results.cells.iter_mut().find(|c| c.id == id).unwrap();
    cell.config.reference = Some(framewut::spec::Reference {
        requests_per_s: 97.54,
        source: "seed: sleep x plain WSGI / sync".into(),
    });
    let analysis = report::analyse(&results);
    let md = markdown::render(&results, &analysis);
    assert!(
        md.contains("| 78.0 | 97.5 (seed: sleep x plain WSGI / sync) |"),
        "{md}"
    );
    assert!(
        analysis.findings.iter().any(|f| f
            .text
            .contains("[seed: sleep x plain WSGI / sync: 97.5 req/s]")),
        "{:#?}",
        analysis.findings
    );
    let html = report::html::render(&results, &analysis);
    assert!(html.contains("<td class=\"text\">97.5 (seed: sleep x plain WSGI / sync)</td>"));
}

#[test]
fn both_reports_show_a_failed_and_a_skipped_cell_with_the_reason_in_its_row() {
    let dir = fixture("unmeasured");
    let mut results = Results::load(&dir.0).unwrap();
    let failed = results
        .cells
        .iter_mut()
        .find(|c| c.id == "rust/std/sync-pool/sleep/c8")
        .unwrap();
    failed.status = Status::Failed;
    failed.reason = Some("the stack exited before it listened\nsecond line".into());
    let skipped = results
        .cells
        .iter_mut()
        .find(|c| c.id == "rust/axum/per-core/sleep/c32")
        .unwrap();
    skipped.status = Status::Skipped;
    skipped.summary = None;
    skipped.reason = Some("needs 8 cores, 2 allowed".into());
    let analysis = report::analyse(&results);

    let md = markdown::render(&results, &analysis);
    assert!(
        md.contains(
            "| rust/std/sync-pool | 4 | blocking | 8 | FAILED: the stack exited before it listened |\n"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| rust/axum/per-core | 1 | async | 32 | skipped: needs 8 cores, 2 allowed |\n"
        ),
        "{md}"
    );
    assert!(!md.contains("second line"), "{md}");
    assert!(
        md.contains("| rust/std/sync-pool | 2nd · 21,914 / 42,140 cpu ! | 2nd · 22,984 / 43,780 cpu ! | FAILED |"),
        "the grid names a failed cell: {md}"
    );

    let html = report::html::render(&results, &analysis);
    assert!(
        html.contains(r#"<td>8</td><td colspan="12" class="text unmeasured">FAILED: the stack exited before it listened</td>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<td>32</td><td colspan="12" class="text unmeasured">skipped: needs 8 cores, 2 allowed</td>"#),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"<td class="unmeasured">"#).count(),
        2,
        "the grid names the failed and the skipped cell"
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
            framewut_stacks::Scenario::Sleep | framewut_stacks::Scenario::Upstream
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

/// A synthetic sweep: rust/axum/tokio-multi's hello cell of the fixture
/// copied to 1, 2, 4 ... 256 connections, three trials each, whose rates
/// follow the Universal Scalability Law with λ = 3,000 req/s, σ = 0.02
/// and κ = 0.0005 (a peak at N* = sqrt(0.98 / 0.0005) = 44.3), each off
/// the curve by -1%, 0 and +1.5%.
fn sweep_fixture(dir: &Scratch) -> Results {
    let mut results = Results::load(&dir.0).unwrap();
    let stack = "rust/axum/tokio-multi";
    let template = results
        .cells
        .iter()
        .find(|c| c.id == format!("{stack}/hello/c8"))
        .unwrap()
        .clone();
    results
        .cells
        .retain(|c| !(c.config.stack.label == stack && c.id.contains("/hello/")));
    let law = |n: f64| 3000.0 * n / (1.0 + 0.02 * (n - 1.0) + 0.0005 * n * (n - 1.0));
    for n in [1usize, 2, 4, 8, 16, 32, 64, 128, 256] {
        let mut cell = template.clone();
        cell.id = format!("{stack}/hello/c{n}");
        cell.config.id = cell.id.clone();
        cell.config.load.connections = n;
        cell.config.load.threads = n.min(template.config.load.threads);
        cell.trials = [0.99, 1.0, 1.015]
            .iter()
            .map(|off| {
                let mut trial = template.trials[0].clone();
                trial.load.requests_per_s = law(n as f64) * off;
                trial
            })
            .collect();
        cell.summarise();
        results.cells.push(cell);
    }
    results.save(&dir.0).unwrap();
    results
}

#[test]
fn a_sweep_of_connections_gets_the_usl_fit_drawn_on_its_chart_with_its_coefficients() {
    use framewut::report::scaling;

    let dir = fixture("usl");
    let results = sweep_fixture(&dir);
    let analysis = report::analyse(&results);

    assert_eq!(analysis.sweeps.len(), 1, "{:#?}", analysis.sweeps);
    let sweep = &analysis.sweeps[0];
    assert_eq!(
        (
            sweep.scenario.as_str(),
            sweep.stack.as_str(),
            sweep.cells.len()
        ),
        ("hello", "rust/axum/tokio-multi", 9)
    );
    let fit = sweep.usl.as_ref().expect("nine measured loads are fitted");
    assert_eq!((fit.points, fit.distinct), (27, 9));
    for (e, want) in [(fit.lambda, 3000.0), (fit.sigma, 0.02), (fit.kappa, 0.0005)] {
        assert!((e.value - want).abs() <= 3.0 * e.se, "{want}: {e:?}");
    }
    let peak = fit.peak.expect("κ is well above zero");
    assert!((peak.n.value - 44.27).abs() <= 3.0 * peak.n.se, "{peak:?}");
    let meaning = scaling::meaning(fit);
    assert!(
        meaning.starts_with("past 44 connections (N* = 44.")
            && meaning.contains("this stack loses throughput: contention σ = 0.0")
            && meaning.contains(", coherency κ = 0.000"),
        "{meaning}"
    );

    let finding = analysis
        .findings
        .iter()
        .find(|f| f.topic == Topic::Scalability)
        .expect("the fit has a finding");
    assert_eq!(
        finding.text,
        format!("rust/axum/tokio-multi hello: {meaning} (the Universal Scalability Law fitted to 27 trials at 9 connection counts, R² = {:.3}).", fit.r_squared)
    );
    assert_eq!(finding.cells, sweep.cells);

    let html = report::html::render(&results, &analysis);
    let section = &html[html
        .find(r#"<section id="sweeps">"#)
        .expect("a sweeps section")..];
    let fitted = section
        .split("<polyline")
        .find(|p| p.contains("<title>rust/axum/tokio-multi: the USL fit</title>"))
        .expect("the fit is drawn on the sweep's chart");
    assert!(
        fitted.contains(r#"stroke-dasharray="2 3""#),
        "dotted: {fitted}"
    );
    assert_eq!(
        fitted
            .split(r#"points=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .count(),
        64,
        "sampled smoothly over the sweep"
    );
    assert!(section.contains("<li>dotted: the Universal Scalability Law fitted to the trials</li>"));
    assert!(section.contains("<th>σ contention</th>"), "{section}");
    assert!(
        section.contains(&format!("<td class=\"text prose\">{meaning}</td>")),
        "{section}"
    );

    let md = markdown::render(&results, &analysis);
    let table = &md[md
        .find("## Throughput against connections")
        .expect("report.md has the fits")..];
    assert!(table.contains("### hello\n\n| stack | trials | loads | λ req/s | σ contention | κ coherency | N* peak | R² | what it means |"), "{table}");
    assert!(
        table.contains("| rust/axum/tokio-multi | 27 | 9 | "),
        "{table}"
    );
    assert!(table.contains(&format!(" | {meaning} |\n")), "{table}");

    report::write(&dir.0, &results, &analysis).unwrap();
    let written = support::analysis(&dir.0);
    assert_eq!(
        written["sweeps"][0]["usl"]["peak"]["n"]["value"],
        peak.n.value
    );
    let (dom, log) = chromium(&dir.path("report.html"), &dir.path("profile"), "--dump-dom");
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "{log}");
    let charts = html.matches("<svg class=\"chart\"").count();
    assert!(dom.contains(&format!("data-charts=\"{charts}/{charts}\"")));
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
