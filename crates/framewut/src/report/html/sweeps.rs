//! The page's throughput against connections: a chart per scenario for
//! every stack whose profile swept the connections, measured, predicted and
//! fitted with the Universal Scalability Law, and a table of the fits.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{legend, table};
use crate::lab::results::{CellResult, Results, Status};
use crate::report::scaling::{self, SweepFit};
use crate::report::svg::{self, escape, Axis, Series, Stroke};
use crate::report::{scenarios, Analysis};

/// One colour per stack label, in the order the run first names them, so a
/// stack looks the same in every chart.
struct Colours(Vec<String>);

impl Colours {
    fn new(results: &Results) -> Colours {
        let mut labels: Vec<String> = Vec::new();
        for c in &results.cells {
            if !labels.contains(&c.config.stack.label) {
                labels.push(c.config.stack.label.clone());
            }
        }
        Colours(labels)
    }

    fn of(&self, label: &str) -> &'static str {
        svg::colour(self.0.iter().position(|l| l == label).unwrap_or(0))
    }
}

/// Points of the curve fitted to a line's cells, when a sweep's fit has
/// exactly those cells: enough of them to look smooth on a log axis.
fn fitted(sweeps: &[SweepFit], scenario: &str, cells: &[&CellResult]) -> Option<Vec<(f64, f64)>> {
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    let fit = sweeps
        .iter()
        .find(|s| s.scenario == scenario && s.cells == ids)?
        .usl
        .as_ref()?;
    let (first, last) = (cells.first()?, cells.last()?);
    Some(fit.curve(
        first.config.load.connections as f64,
        last.config.load.connections as f64,
        64,
    ))
}

/// Throughput against connections for every stack whose profile swept
/// them, with the fit of each sweep the law was fitted to and a table of
/// the fits' coefficients.
pub(super) fn sweeps(out: &mut String, results: &Results, analysis: &Analysis) {
    let colours = Colours::new(results);
    let mut charts = String::new();
    for (scenario, cells) in scenarios(results) {
        let mut lines: BTreeMap<(String, String), Vec<&CellResult>> = BTreeMap::new();
        for c in cells
            .iter()
            .filter(|c| c.summary.is_some() && c.status != Status::Failed)
        {
            lines
                .entry((c.config.stack.label.clone(), c.config.load.profile.clone()))
                .or_default()
                .push(c);
        }
        lines.retain(|_, cells| {
            let mut conns: Vec<usize> = cells.iter().map(|c| c.config.load.connections).collect();
            conns.sort_unstable();
            conns.dedup();
            conns.len() > 1
        });
        if lines.is_empty() {
            continue;
        }
        let several_profiles = lines
            .keys()
            .any(|k| k.1 != lines.keys().next().expect("not empty").1);
        let mut series = Vec::new();
        let mut all_conns = Vec::new();
        let mut top: f64 = 0.0;
        for ((label, profile), mut cells) in lines {
            let colour = colours.of(&label);
            cells.sort_by_key(|c| c.config.load.connections);
            let name = if several_profiles {
                format!("{label} ({profile})")
            } else {
                label
            };
            let point = |c: &&CellResult| c.config.load.connections as f64;
            let measured: Vec<(f64, f64)> = cells
                .iter()
                .map(|c| {
                    (
                        point(c),
                        c.summary.as_ref().expect("filtered").requests_per_s.mean,
                    )
                })
                .collect();
            let predicted: Vec<(f64, f64)> = cells
                .iter()
                .filter_map(|c| Some((point(c), analysis.prediction(&c.id)?.predicted_per_s)))
                .collect();
            all_conns.extend(cells.iter().map(|c| c.config.load.connections));
            top = measured
                .iter()
                .chain(&predicted)
                .map(|p| p.1)
                .fold(top, f64::max);
            let fit = fitted(&analysis.sweeps, scenario.as_str(), &cells);
            if let Some(curve) = &fit {
                top = curve.iter().map(|p| p.1).fold(top, f64::max);
            }
            series.push(Series {
                name: name.clone(),
                points: measured,
                colour,
                stroke: Stroke::Solid,
            });
            if !predicted.is_empty() {
                series.push(Series {
                    name: format!("{name}: the model's ceiling"),
                    points: predicted,
                    colour,
                    stroke: Stroke::Dashed,
                });
            }
            if let Some(curve) = fit {
                series.push(Series {
                    name: format!("{name}: the USL fit"),
                    points: curve,
                    colour,
                    stroke: Stroke::Dotted,
                });
            }
        }
        all_conns.sort_unstable();
        all_conns.dedup();
        let x = Axis {
            label: "connections".into(),
            log: true,
            ticks: all_conns
                .iter()
                .map(|c| (*c as f64, c.to_string()))
                .collect(),
        };
        let y = Axis::linear("requests per second", top);
        let _ = writeln!(charts, "<h3>{scenario}</h3>");
        charts.push_str(&svg::lines(
            &format!("{scenario}: requests per second against connections, measured and predicted"),
            &x,
            &y,
            &series,
        ));
        legend(&mut charts, &series);
        let fits: Vec<&SweepFit> = analysis
            .sweeps
            .iter()
            .filter(|f| f.scenario == scenario.as_str())
            .collect();
        if !fits.is_empty() {
            charts.push_str(&table(&scaling::table(&fits)));
        }
    }
    if !charts.is_empty() {
        out.push_str(r#"<section id="sweeps"><h2>Throughput against connections</h2>"#);
        out.push_str("<p>Solid lines are measured, dashed lines the model's ceiling for the same cells.</p>\n");
        if analysis.sweeps.iter().any(|f| f.usl.is_some()) {
            let _ = writeln!(
                out,
                "<p>Dotted lines are fits. {}</p>",
                escape(scaling::EXPLAINED)
            );
        }
        out.push_str(&charts);
        out.push_str("</section>\n");
    }
}
