//! report.html: one self-contained page (no network, no fonts or scripts
//! from elsewhere) with the run at a glance (a grid of stacks x scenarios
//! coloured by rank), the findings, and per scenario a chart of req/s per
//! cell with the model's ceiling marked, latency percentile curves and a
//! table; then throughput against connections wherever a profile sweeps
//! them, with the Universal Scalability Law fitted to each sweep and its
//! coefficients beside the chart, the trial spread, and where it all ran.

mod sweeps;

use framewut_load::decode_histogram;
use std::fmt::Write;

use super::findings::{Finding, Verdict};
use super::glance::{self, GlanceCell};
use super::svg::{self, escape, Axis, Bar, Series, Stroke};
use super::tables::{self, reference, Align, Column, Table};
use super::{run_sentence, scenario_options, scenarios, Analysis};
use crate::format::{micros, thousands};
use crate::lab::results::{CellResult, Results, Status};
use crate::spec::{PacingSpec, Protocol};

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1280px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; color: #444; }
.meta { color: #555; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0; }
td.prose { min-width: 16rem; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .25rem .5rem; text-align: right; vertical-align: top; white-space: nowrap; }
td.text { white-space: normal; }
th { background: #f6f6f6; }
td.text, th.text { text-align: left; }
tr.flagged td { background: #fff1f0; }
.findings li { margin: .35rem 0; }
.verdict { display: inline-block; font-size: .75rem; font-weight: 600; border-radius: 3px; padding: 0 .35rem; margin-right: .3rem; color: #fff; }
.verdict.confirmed { background: #59a14f; }
.verdict.partly { background: #edc948; color: #222; }
.verdict.refuted { background: #e15759; }
.legend { list-style: none; padding: 0; margin: .2rem 0 1rem; font-size: .85rem; display: flex; flex-wrap: wrap; gap: .2rem 1.2rem; }
.swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .35rem; vertical-align: -.1rem; border-radius: 2px; }
.swatch.predicted { background: #222; width: .25rem; }
.swatch.surprise { background: #e15759; }
.swatch.measured { background: #4e79a7; }
svg.chart { max-width: 100%; height: auto; display: block; }
img.flame { max-width: 100%; height: auto; display: block; }
.unmeasured { color: #a33; }
table.glance td, table.glance th { text-align: center; }
table.glance th.stack { text-align: left; white-space: normal; min-width: 9rem; max-width: 15rem; }
table.glance td { min-width: 4.8rem; border: 2px solid #fff; padding: .2rem .3rem; }
table.glance .rate { font-size: 1rem; font-weight: 600; }
table.glance .rank { float: left; font-size: .7rem; font-weight: 600; }
table.glance .bound { display: block; font-size: .7rem; }
table.glance td.absent { background: none; }
.rank-0 { background: #1b7837; color: #fff; }
.rank-1 { background: #7fbf7b; color: #111; }
.rank-2 { background: #c2e6bc; color: #111; }
.rank-3 { background: #e7f4e4; color: #111; }
.rank-4 { background: #f7f7f7; color: #111; }
.glance-sentences li { margin: .3rem 0; }
@media print { table.glance td, .legend .swatch { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"#;

/// Runs once the page is parsed: counts the charts that have a size and
/// marks, and the grid's ranked cells that have their colour, and records
/// both on `<body>`, so a headless browser can tell that the page rendered.
const SCRIPT: &str = r#"(function () {
  var charts = document.querySelectorAll("svg.chart");
  var drawn = 0;
  charts.forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    if (box.width > 0 && box.height > 0 && svg.querySelector("rect, polyline")) { drawn += 1; }
  });
  document.body.setAttribute("data-charts", charts.length + "/" + drawn);
  var ranked = document.querySelectorAll("table.glance td[data-rank]");
  var coloured = 0;
  ranked.forEach(function (td) {
    var background = getComputedStyle(td).backgroundColor;
    if (background && background !== "rgba(0, 0, 0, 0)" && background !== "transparent") { coloured += 1; }
  });
  document.body.setAttribute("data-glance", ranked.length + "/" + coloured);
  window.addEventListener("load", function () {
    var flames = document.querySelectorAll("img.flame");
    var shown = 0;
    flames.forEach(function (img) {
      if (img.complete && img.naturalWidth > 0) { shown += 1; }
    });
    document.body.setAttribute("data-flames", flames.length + "/" + shown);
  });
})();"#;

fn bar_label(cell: &CellResult, several_loads: bool) -> String {
    if several_loads {
        let load = &cell.config.load;
        let mut label = format!("{} c{}", cell.config.stack.label, load.connections);
        if load.protocol == Protocol::H2 {
            label.push_str(&format!(" h2x{}", load.streams));
        }
        if let PacingSpec::Open { rate } = load.pacing {
            label.push_str(&format!(" @{}/s", svg::short_number(rate.rate().get())));
        }
        label
    } else {
        cell.config.stack.label.clone()
    }
}

fn throughput_chart(out: &mut String, scenario: &str, cells: &[&CellResult], analysis: &Analysis) {
    let measured_cells: Vec<&&CellResult> = cells
        .iter()
        .filter(|c| c.summary.is_some() && c.status != Status::Failed)
        .collect();
    if measured_cells.is_empty() {
        return;
    }
    let first = &measured_cells[0].config.load;
    let several = measured_cells.iter().any(|c| {
        c.config.load.connections != first.connections
            || c.config.load.profile != first.profile
            || c.config.load.pacing != first.pacing
    });
    let bars: Vec<Bar> = measured_cells
        .iter()
        .map(|c| {
            let rate = c.summary.as_ref().expect("filtered").requests_per_s.mean;
            let p = analysis.prediction(&c.id);
            Bar {
                label: bar_label(c, several),
                value: rate,
                predicted: p.map(|p| p.predicted_per_s),
                surprise: p.is_some_and(|p| p.surprise),
                title: match (p, &c.config.reference) {
                    (Some(p), r) => format!(
                        "{}: {} req/s; model {} req/s ({}); measured/model {:.2}{}",
                        c.id,
                        thousands(rate),
                        thousands(p.predicted_per_s),
                        p.because,
                        p.ratio,
                        r.as_ref()
                            .map_or(String::new(), |_| format!("; reference {}", reference(c)))
                    ),
                    (None, _) => format!("{}: {} req/s", c.id, thousands(rate)),
                },
            }
        })
        .collect();
    out.push_str("<h3>Requests per second, with the model's ceiling</h3>\n");
    out.push_str(&svg::bars(
        &format!("{scenario}: requests per second per cell, with the model's predicted ceiling"),
        "requests per second",
        &bars,
    ));
    out.push_str(r#"<ul class="legend"><li><span class="swatch measured"></span>measured (mean of trials)</li><li><span class="swatch surprise"></span>a surprise: outside 0.7-1.15 of the model</li><li><span class="swatch predicted"></span>the model's ceiling</li></ul>"#);
    out.push('\n');
}

/// Points of a latency curve: x is 1 / (1 - quantile), so 90%, 99% and
/// 99.9% fall a decade apart.
fn latency_points(cell: &CellResult) -> Vec<(f64, f64)> {
    const QUANTILES: [f64; 12] = [
        0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
    ];
    let Some(s) = &cell.summary else {
        return Vec::new();
    };
    match decode_histogram(&s.latency.histogram) {
        Ok(h) if !h.is_empty() => QUANTILES
            .iter()
            .map(|q| (1.0 / (1.0 - q), h.value_at_quantile(*q).max(1) as f64))
            .collect(),
        _ => s
            .latency
            .percentiles
            .iter()
            .map(|p| (1.0 / (1.0 - p.percentile / 100.0), p.us.max(1) as f64))
            .collect(),
    }
}

fn latency_chart(out: &mut String, scenario: &str, cells: &[&CellResult]) {
    let several = cells
        .windows(2)
        .any(|w| w[0].config.load != w[1].config.load);
    let series: Vec<Series> = cells
        .iter()
        .filter(|c| c.status != Status::Failed)
        .map(|c| (c, latency_points(c)))
        .filter(|(_, points)| !points.is_empty())
        .enumerate()
        .map(|(i, (c, points))| Series {
            name: bar_label(c, several),
            points,
            colour: svg::colour(i),
            stroke: Stroke::Solid,
        })
        .collect();
    if series.is_empty() {
        return;
    }
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let first = lo.log10().floor() as i32;
    let last = (hi.log10().ceil() as i32).max(first + 1);
    let y = Axis {
        label: "latency".into(),
        log: true,
        ticks: (first..=last)
            .map(|e| {
                let us = 10f64.powi(e);
                (us, micros(us))
            })
            .collect(),
    };
    let x = Axis {
        label: "percentile".into(),
        log: true,
        ticks: [
            (1.0, "0%"),
            (2.0, "50%"),
            (10.0, "90%"),
            (100.0, "99%"),
            (1e3, "99.9%"),
            (1e4, "99.99%"),
            (1e5, "99.999%"),
        ]
        .into_iter()
        .map(|(v, t)| (v, t.to_string()))
        .collect(),
    };
    out.push_str("<h3>Latency percentiles</h3>\n");
    out.push_str(&svg::lines(
        &format!("{scenario}: latency at each percentile, per cell (all trials merged)"),
        &x,
        &y,
        &series,
    ));
    legend(out, &series);
}

fn legend(out: &mut String, series: &[Series]) {
    out.push_str(r#"<ul class="legend">"#);
    for s in series.iter().filter(|s| s.stroke == Stroke::Solid) {
        let _ = write!(
            out,
            r#"<li><span class="swatch" style="background:{}"></span>{}</li>"#,
            s.colour,
            escape(&s.name)
        );
    }
    if series.iter().any(|s| s.stroke == Stroke::Dashed) {
        out.push_str("<li>dashed: the model's ceiling</li>");
    }
    if series.iter().any(|s| s.stroke == Stroke::Dotted) {
        out.push_str("<li>dotted: the Universal Scalability Law fitted to the trials</li>");
    }
    out.push_str("</ul>\n");
}

/// A table in HTML, inside a box that scrolls sideways when the page is
/// narrow. Left-aligned cells carry the class `text`; a row's note spans the
/// columns after the ones that name it.
pub(crate) fn table(table: &Table) -> String {
    fn class(column: &Column) -> &'static str {
        match (column.align, column.prose) {
            (_, true) => r#" class="text prose""#,
            (Align::Left, false) => r#" class="text""#,
            (Align::Right, false) => "",
        }
    }
    let mut out = String::from(r#"<div class="scroll"><table><thead><tr>"#);
    for column in &table.columns {
        let _ = write!(out, "<th{}>{}</th>", class(column), escape(column.header));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &table.rows {
        out.push_str(if row.flagged {
            r#"<tr class="flagged">"#
        } else {
            "<tr>"
        });
        for (cell, column) in row.cells.iter().zip(&table.columns) {
            let text = escape(&cell.text);
            if cell.strong {
                let _ = write!(out, "<td{}><strong>{text}</strong></td>", class(column));
            } else {
                let _ = write!(out, "<td{}>{text}</td>", class(column));
            }
        }
        if let Some(note) = &row.note {
            let _ = write!(
                out,
                r#"<td colspan="{}" class="text unmeasured">{}</td>"#,
                table.columns.len().saturating_sub(row.cells.len()).max(1),
                escape(note)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// The grid of stacks x scenarios, each measured cell coloured by its rank
/// within its column, then a legend and a sentence per column. The rank is
/// written in every cell too, so the grid reads without colour.
fn glance_section(out: &mut String, results: &Results, analysis: &Analysis) {
    let Some(glance) = glance::glance(results, analysis) else {
        return;
    };
    out.push_str(r#"<section id="glance"><h2>At a glance</h2>"#);
    out.push_str(r#"<div class="scroll"><table class="glance"><thead>"#);
    let shared = glance.columns.iter().any(|c| c.shared);
    if shared {
        // Scenarios over their loads.
        out.push_str(r#"<tr><th class="stack" rowspan="2">stack</th>"#);
        let mut i = 0;
        while i < glance.columns.len() {
            let scenario = &glance.columns[i].scenario;
            let span = glance.columns[i..]
                .iter()
                .take_while(|c| &c.scenario == scenario)
                .count();
            let _ = write!(out, r#"<th colspan="{span}">{scenario}</th>"#);
            i += span;
        }
        out.push_str("</tr><tr>");
        for column in &glance.columns {
            let _ = write!(out, "<th>{}</th>", escape(&column.load_short));
        }
        out.push_str("</tr>");
    } else {
        out.push_str(r#"<tr><th class="stack">stack</th>"#);
        for column in &glance.columns {
            let _ = write!(out, "<th>{}</th>", escape(&column.header()));
        }
        out.push_str("</tr>");
    }
    out.push_str("</thead><tbody>");
    for row in &glance.rows {
        // A long label may break after a `/`, `:` or `,`, never inside a word.
        let label = escape(&row.label)
            .replace('/', "/<wbr>")
            .replace(':', ":<wbr>")
            .replace(',', ",<wbr>");
        let _ = write!(out, r#"<tr><th class="stack">{label}</th>"#);
        for (cell, column) in row.cells.iter().zip(&glance.columns) {
            match cell {
                GlanceCell::Absent => out.push_str(r#"<td class="absent"></td>"#),
                GlanceCell::Unmeasured(status) => {
                    let _ = write!(out, r#"<td class="unmeasured">{status}</td>"#);
                }
                GlanceCell::Measured(r) => {
                    let bound = match &r.prediction {
                        Some(p) => format!(
                            "of {} · {}{}",
                            thousands(p.predicted_per_s),
                            p.bound.short(),
                            if p.surprise { " !" } else { "" }
                        ),
                        None => "no model".to_string(),
                    };
                    let title = format!(
                        "{}: {} of {} in {}; {} req/s{}",
                        r.id,
                        glance::ordinal(r.rank),
                        r.of,
                        column.title(),
                        thousands(r.per_s),
                        r.prediction.as_ref().map_or(String::new(), |p| format!(
                            "; model {} req/s ({}); measured/model {:.2}",
                            thousands(p.predicted_per_s),
                            p.because,
                            p.ratio
                        ))
                    );
                    let _ = write!(
                        out,
                        r#"<td class="rank-{}" data-rank="{}" title="{}"><span class="rank">{}</span><span class="rate">{}</span><span class="bound">{}</span></td>"#,
                        r.step,
                        r.rank,
                        escape(&title),
                        glance::ordinal(r.rank),
                        thousands(r.per_s),
                        escape(&bound)
                    );
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>\n");
    out.push_str(r#"<ul class="legend"><li>rank within its column, by mean req/s:</li>"#);
    for (step, words) in ["fastest", "", "middle", "", "slowest"].iter().enumerate() {
        let _ = write!(
            out,
            r#"<li><span class="swatch rank-{step}"></span>{}</li>"#,
            if words.is_empty() { "&nbsp;" } else { words }
        );
    }
    out.push_str("</ul>\n");
    out.push_str("<p class=\"meta\">Each cell: the stack's rank in its column (rates that print alike share one), its mean req/s, and the model's ceiling with the bound that sets it (workers, conns, upstream, cpu, gen for the load generator, rate for an open loop's offered rate); ! marks a surprise. Hover a cell for the model's reason.</p>\n");
    out.push_str(r#"<ul class="glance-sentences">"#);
    for sentence in &glance.sentences {
        let _ = write!(out, "<li>{}</li>", escape(sentence));
    }
    out.push_str("</ul></section>\n");
}

fn findings_section(out: &mut String, findings: &[Finding]) {
    out.push_str(r#"<section id="findings"><h2>Findings</h2><ul class="findings">"#);
    if findings.is_empty() {
        out.push_str("<li>No cell was measured, so there is nothing to say yet.</li>");
    }
    for f in findings {
        let badge = match f.verdict {
            Some(Verdict::Confirmed) => r#"<span class="verdict confirmed">confirmed</span>"#,
            Some(Verdict::Partly) => r#"<span class="verdict partly">partly</span>"#,
            Some(Verdict::Refuted) => r#"<span class="verdict refuted">not confirmed</span>"#,
            None => "",
        };
        let _ = write!(out, "<li>{badge}{}</li>", escape(&f.text));
    }
    out.push_str("</ul></section>\n");
}

fn spread_section(out: &mut String, results: &Results) {
    out.push_str(r#"<section id="spread"><h2>Trial spread</h2><p>Noise is the half-width of the 95% confidence interval of the mean rate, from Student's t over the trials' rates (sample standard deviation, n - 1 degrees of freedom). A cell with one trial has no interval: its figure is the per-second standard deviation within that trial, which says nothing of a second run.</p>"#);
    out.push_str(&table(&tables::spread(results)));
    out.push_str("</section>\n");
}

fn environment_section(out: &mut String, results: &Results) {
    let e = &results.environment;
    let tools: Vec<String> = e.tools.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = write!(
        out,
        r#"<section id="environment"><h2>Environment and CPU placement</h2><ul><li>CPU: {}; {} online, {} allowed to framewut (CPUs {})</li><li>Memory: {:.1} GiB</li><li>System: {}, kernel {}</li><li>framewut {} (commit {})</li><li>Built with: {}</li><li>{}. {}{}</li></ul></section>"#,
        escape(&e.cpu_model),
        e.cores_online,
        e.cores_allowed.count(),
        e.cores_allowed,
        e.memory_bytes as f64 / (1u64 << 30) as f64,
        escape(&e.os),
        escape(&e.kernel),
        escape(&e.framewut_version),
        escape(&e.git_commit),
        escape(&tools.join(", ")),
        escape(&crate::report::placement_words(&results.placement)),
        if results.placement.shared {
            "They shared cores, so they competed for them."
        } else {
            "They shared no core."
        },
        results
            .placement
            .idle
            .as_ref()
            .map_or(String::new(), |idle| format!(" {}", escape(&idle.words())))
    );
    out.push('\n');
}

/// report.html for a run and its analysis.
pub fn render(results: &Results, analysis: &Analysis) -> String {
    let run = &results.run;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>framewut report: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&run.matrix)
    );
    let ok = results
        .cells
        .iter()
        .filter(|c| c.status == Status::Ok)
        .count();
    let _ = write!(
        out,
        r#"<header><h1>framewut report</h1><p class="meta">{} {} cells, {} measured.</p></header>"#,
        escape(&run_sentence(run)),
        results.cells.len(),
        ok
    );
    out.push('\n');
    let (recommended, findings) = super::markdown::recommendation(&analysis.findings);
    if let Some(r) = recommended {
        let _ = write!(
            out,
            r#"<section id="recommendation"><h2>Recommendation</h2><p>{}</p></section>"#,
            escape(&r.text)
        );
        out.push('\n');
    }
    glance_section(&mut out, results, analysis);
    findings_section(&mut out, &findings);
    for (scenario, cells) in scenarios(results) {
        let _ = write!(
            out,
            r#"<section class="scenario" id="scenario-{scenario}"><h2>{scenario}</h2>"#
        );
        if let Some(options) = scenario_options(cells[0]) {
            let _ = write!(out, "<p>{}</p>", escape(&options));
        }
        out.push('\n');
        throughput_chart(&mut out, scenario.as_str(), &cells, analysis);
        latency_chart(&mut out, scenario.as_str(), &cells);
        out.push_str(&table(&tables::scenario(&cells, analysis)));
        let costs = tables::costs(&cells, analysis);
        if !costs.rows.is_empty() {
            let _ = write!(
                out,
                "<h3>What a request cost</h3><p>{}</p>",
                escape(tables::COSTS_WORDS)
            );
            out.push_str(&table(&costs));
        }
        out.push_str("</section>\n");
    }
    sweeps::sweeps(&mut out, results, analysis);
    out.push_str(&super::profiles::html(results));
    spread_section(&mut out, results);
    environment_section(&mut out, results);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
    out
}
