//! Charts as inline SVG, written by hand: horizontal bars with a marker for
//! each bar's predicted ceiling, and lines on linear or logarithmic axes.
//! Every mark carries a `<title>`, so hovering shows its numbers.

use std::fmt::Write;

/// Colours for series and bars, distinguishable in print and on screen
/// (Tableau's ten).
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The colour of the `i`th series.
pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Text safe inside HTML or SVG, attributes included.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One bar: a measured value and, when known, the value predicted for it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub predicted: Option<f64>,
    /// Whether the bar is far from its prediction.
    pub surprise: bool,
    /// Shown on hover.
    pub title: String,
}

/// Round numbers for an axis from 0 to at least `max`: about five steps of
/// 1, 2 or 5 times a power of ten.
fn nice_ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let rough = max / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power);
    let steps = (max / step).ceil() as usize;
    (0..=steps).map(|i| i as f64 * step).collect()
}

/// A number for an axis label: `0`, `500`, `1.5k`, `20k`, `1.2M`.
pub fn short_number(x: f64) -> String {
    let one_decimal = |v: f64| {
        let text = format!("{v:.1}");
        text.strip_suffix(".0").map_or(text.clone(), str::to_string)
    };
    if x >= 1e6 {
        format!("{}M", one_decimal(x / 1e6))
    } else if x >= 1e3 {
        format!("{}k", one_decimal(x / 1e3))
    } else if x >= 10.0 || x == 0.0 {
        format!("{x:.0}")
    } else {
        one_decimal(x)
    }
}

const FONT: f64 = 12.0;
/// Roughly the width of one character of the chart's font.
const CHAR: f64 = 6.6;

fn open(out: &mut String, width: f64, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="{}" font-size="{FONT}">"#,
        escape(label)
    );
    let _ = write!(out, "<title>{}</title>", escape(label));
}

/// Horizontal bars, one row each, on a shared linear scale from zero, with
/// a dark tick at each bar's predicted value.
pub fn bars(label: &str, unit: &str, bars: &[Bar]) -> String {
    let label_width = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4) as f64
        * CHAR
        + 12.0;
    let plot = 460.0;
    let right = 80.0;
    let row = 26.0;
    let top = 8.0;
    let axis = 34.0;
    let width = label_width + plot + right;
    let height = top + row * bars.len() as f64 + axis;
    let max = bars
        .iter()
        .flat_map(|b| [Some(b.value), b.predicted])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let ticks = nice_ticks(max);
    let top_value = *ticks.last().expect("at least two ticks");
    let x = |v: f64| label_width + plot * (v / top_value).clamp(0.0, 1.0);

    let mut out = String::new();
    open(&mut out, width, height, label);
    let bottom = top + row * bars.len() as f64;
    for t in &ticks {
        let _ = write!(
            out,
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{bottom}" stroke="#e3e3e3"/><text x="{0:.1}" y="{1:.1}" text-anchor="middle" fill="#555">{2}</text>"##,
            x(*t),
            bottom + 16.0,
            short_number(*t)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
        label_width + plot / 2.0,
        bottom + 30.0,
        escape(unit)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#222">{}</text>"##,
            label_width - 8.0,
            y + row / 2.0 + FONT / 3.0,
            escape(&b.label)
        );
        let fill = if b.surprise { "#e15759" } else { "#4e79a7" };
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{}</title></rect>"#,
            label_width,
            y + 4.0,
            (x(b.value) - label_width).max(1.0),
            row - 8.0,
            escape(&b.title)
        );
        let bar_end = x(b.value);
        let mut label_x = bar_end + 6.0;
        if let Some(p) = b.predicted.filter(|p| p.is_finite()) {
            let tick = x(p);
            let _ = write!(
                out,
                r##"<line class="predicted" x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#222" stroke-width="3"><title>model: {3}</title></line>"##,
                tick,
                y + 1.0,
                y + row - 1.0,
                escape(&short_number(p))
            );
            // Keep the value clear of a tick just past the bar's end.
            if (bar_end - 2.0..label_x + 40.0).contains(&tick) {
                label_x = tick + 6.0;
            }
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            label_x,
            y + row / 2.0 + FONT / 3.0,
            escape(&short_number(b.value))
        );
    }
    out.push_str("</svg>");
    out
}

/// An axis: where its values go, how they are labelled.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    /// Whether positions are logarithms of the values.
    pub log: bool,
    /// Values to mark, with their labels.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// A linear axis from zero with round ticks up to at least `max`.
    pub fn linear(label: &str, max: f64) -> Axis {
        Axis {
            label: label.to_string(),
            log: false,
            ticks: nice_ticks(max)
                .into_iter()
                .map(|t| (t, short_number(t)))
                .collect(),
        }
    }

    fn position(&self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    fn range(&self) -> (f64, f64) {
        let first = self.ticks.first().map_or(0.0, |t| self.position(t.0));
        let last = self.ticks.last().map_or(1.0, |t| self.position(t.0));
        if last > first {
            (first, last)
        } else {
            (first, first + 1.0)
        }
    }
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A measurement: a solid line with a dot at each point.
    Solid,
    /// A prediction: dashed.
    Dashed,
    /// A fit to the measurements: dotted.
    Dotted,
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub colour: &'static str,
    pub stroke: Stroke,
}

/// Lines over two axes; a legend goes beside the chart, in HTML.
pub fn lines(label: &str, x_axis: &Axis, y_axis: &Axis, series: &[Series]) -> String {
    let (left, right, top, bottom) = (64.0, 40.0, 12.0, 44.0);
    let (plot_w, plot_h) = (560.0, 260.0);
    let (width, height) = (left + plot_w + right, top + plot_h + bottom);
    let (x0, x1) = x_axis.range();
    let (y0, y1) = y_axis.range();
    let px = |v: f64| left + plot_w * ((x_axis.position(v) - x0) / (x1 - x0)).clamp(0.0, 1.0);
    let py =
        |v: f64| top + plot_h * (1.0 - ((y_axis.position(v) - y0) / (y1 - y0)).clamp(0.0, 1.0));

    let mut out = String::new();
    open(&mut out, width, height, label);
    for (v, text) in &y_axis.ticks {
        let _ = write!(
            out,
            r##"<line x1="{left}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#e3e3e3"/><text x="{2:.1}" y="{3:.1}" text-anchor="end" fill="#555">{4}</text>"##,
            py(*v),
            left + plot_w,
            left - 6.0,
            py(*v) + FONT / 3.0,
            escape(text)
        );
    }
    for (v, text) in &x_axis.ticks {
        let _ = write!(
            out,
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1:.1}" stroke="#e3e3e3"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle" fill="#555">{3}</text>"##,
            px(*v),
            top + plot_h,
            top + plot_h + 16.0,
            escape(text)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>"##,
        left + plot_w / 2.0,
        top + plot_h + 36.0,
        escape(&x_axis.label),
        top + plot_h / 2.0,
        escape(&y_axis.label)
    );
    for s in series {
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let dash = match s.stroke {
            Stroke::Solid => "",
            Stroke::Dashed => r#" stroke-dasharray="6 4""#,
            Stroke::Dotted => r#" stroke-dasharray="2 3""#,
        };
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"><title>{}</title></polyline>"#,
            s.colour,
            points.join(" "),
            escape(&s.name)
        );
        if s.stroke == Stroke::Solid {
            for p in &points {
                let (cx, cy) = p.split_once(',').expect("formatted as x,y");
                let _ = write!(
                    out,
                    r#"<circle cx="{cx}" cy="{cy}" r="2.5" fill="{}"/>"#,
                    s.colour
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(97.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(nice_ticks(1939.0).last(), Some(&2000.0));
        assert_eq!(short_number(1500.0), "1.5k");
        assert_eq!(short_number(20000.0), "20k");
        assert_eq!(short_number(2.5), "2.5");
    }

    #[test]
    fn text_is_escaped_and_marks_carry_titles() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        let svg = bars(
            "req/s",
            "req/s",
            &[Bar {
                label: "<x>".into(),
                value: 98.0,
                predicted: Some(100.0),
                surprise: false,
                title: "98 req/s".into(),
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        assert!(svg.contains(r#"class="predicted""#));
        assert!(svg.contains("<title>98 req/s</title>"));
    }
}
