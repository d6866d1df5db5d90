//! A connections sweep in the reports: the Universal Scalability Law
//! fitted to a synthetic sweep of known coefficients, its curve drawn on
//! report.html's chart (rendered in headless Chromium) and its coefficients
//! beside it.

mod support;

use framewut::lab::results::Results;
use framewut::report::{self, findings::Topic, markdown};
use support::chromium::{chromium, console_lines};
use support::report::fixture;
use support::Scratch;

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
