//! The reports from a fixed results.json (tests/fixtures/report/, a real run
//! of the seed's conclusions on the Rust stacks with a connections sweep):
//! report.md, report.html's grid at a glance and the model and findings JSON
//! against their insta snapshots (tests/snapshots/), `framewut report DIR`
//! rebuilding both reports and results.csv from results.json alone, and
//! report.html rendered in headless Chromium. What the findings say is in
//! report_findings.rs, the fits of a connections sweep in report_scaling.rs.
//!
//! After a deliberate change to the reports, rewrite the snapshots with
//! `INSTA_UPDATE=always cargo nextest run -p framewut --test report` and read
//! the diff (`git diff crates/framewut/tests/snapshots`) before committing
//! it. With CI=true, insta fails on any difference instead of writing.

mod support;

use std::time::Duration;

use framewut::lab::results::{Results, Status};
use framewut::report::{self, markdown};
use support::chromium::{chromium, console_lines};
use support::report::{analysed, fixture};
use support::{framewut, read};

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
