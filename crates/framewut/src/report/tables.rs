//! The reports' tables as plain data: each section's table is built here
//! once, and report.md and report.html render the same [`Table`]
//! (`markdown::table`, `html::table`), so the two cannot show different
//! columns or leave out different rows.

use super::noise::with_noise;
use super::status_words;
use super::Analysis;
use crate::format::{micros, thousands};
use crate::lab::results::{CellResult, Results, Status};
use crate::lab::runner::table::silent_connections;
use crate::spec::{PacingSpec, Protocol};

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A column: its header, how it lines up, and whether it holds sentences,
/// which HTML gives room to wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    pub align: Align,
    pub prose: bool,
}

impl Column {
    pub(crate) fn left(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Left,
            prose: false,
        }
    }

    pub(crate) fn right(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Right,
            prose: false,
        }
    }

    pub(crate) fn prose(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Left,
            prose: true,
        }
    }
}

/// One cell's text, and whether it stands out (a surprise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub strong: bool,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text,
            strong: false,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

/// A row: one cell per column, or, for a cell that was not measured, the
/// cells that name it followed by a `note` (its status and why) that spans
/// the remaining columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub note: Option<String>,
    /// Worth a closer look: HTML shades the whole row.
    pub flagged: bool,
}

/// A table: columns and rows, no markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// A cell's latency at `percentile`, or `-` without one.
fn latency(cell: &CellResult, percentile: f64) -> String {
    cell.summary
        .as_ref()
        .and_then(|s| s.latency.at(percentile))
        .map_or("-".to_string(), |us| micros(us as f64))
}

/// The load in words: `32` connections, `4 x 16 h2` (HTTP/2 streams), or
/// `32 @ 1,000/s` when paced.
fn load_words(cell: &CellResult) -> String {
    let load = &cell.config.load;
    let connections = match load.protocol {
        Protocol::Http1 => load.connections.to_string(),
        Protocol::H2 => format!("{} x {} h2", load.connections, load.streams),
    };
    match load.pacing {
        PacingSpec::Closed => connections,
        PacingSpec::Open { rate } => format!("{connections} @ {}/s", thousands(rate.rate().get())),
    }
}

/// A cell's reference figure from its matrix, when it has one: `823.69 (seed: plain WSGI / sync)`.
pub(crate) fn reference(cell: &CellResult) -> String {
    cell.config.reference.as_ref().map_or("-".to_string(), |r| {
        format!("{} ({})", thousands(r.requests_per_s), r.source)
    })
}

/// A count kept since framewut-load/2, or `-` for a cell measured before.
fn kept(n: Option<u64>) -> String {
    n.map_or("-".to_string(), |n| n.to_string())
}

/// A figure per request: two decimals under 10, one under 100, whole above;
/// `-` for none.
fn per_request(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) => thousands(v),
    }
}

/// The sentence that says how to read [`costs`].
pub const COSTS_WORDS: &str = "What one request cost each side, over the trials: CPU microseconds in user mode and in the kernel, interrupt work on the side's CPUs, context switches (voluntary, to wait, + involuntary), system calls (counted by perf in a window after the trials) and the server's page faults (fresh pages the kernel mapped for it); then the new connections and the bytes a request took.";

/// What a request cost each side in a scenario's measured cells: CPU time
/// in user mode and in the kernel, interrupt work on each side's CPUs,
/// context switches (voluntary + involuntary), system calls, the server's
/// page faults, and the connections and bytes it took.
pub fn costs(cells: &[&CellResult], analysis: &Analysis) -> Table {
    let columns = vec![
        Column::left("cell"),
        Column::right("server user µs"),
        Column::right("kernel µs"),
        Column::right("irq µs"),
        Column::right("switches"),
        Column::right("syscalls"),
        Column::right("page faults"),
        Column::right("generator user µs"),
        Column::right("kernel µs"),
        Column::right("irq µs"),
        Column::right("syscalls"),
        Column::right("new conns"),
        Column::right("bytes out / in"),
    ];
    let switches = |side: &super::breakdown::SideCost| match (
        side.voluntary_switches,
        side.involuntary_switches,
    ) {
        (Some(v), Some(i)) => format!("{} + {}", per_request(Some(v)), per_request(Some(i))),
        _ => "-".to_string(),
    };
    let rows = cells
        .iter()
        .filter_map(|cell| {
            let b = analysis.breakdown(&cell.id)?;
            Some(Row {
                cells: vec![
                    cell.id.as_str().into(),
                    per_request(b.server.user_us).into(),
                    per_request(b.server.kernel_us).into(),
                    per_request(b.server.interrupts_us).into(),
                    switches(&b.server).into(),
                    per_request(b.server.syscalls).into(),
                    per_request(b.server.page_faults).into(),
                    per_request(b.generator.user_us).into(),
                    per_request(b.generator.kernel_us).into(),
                    per_request(b.generator.interrupts_us).into(),
                    per_request(b.generator.syscalls).into(),
                    per_request(Some(b.connections)).into(),
                    format!("{:.0} / {:.0}", b.bytes_out, b.bytes_in).into(),
                ],
                note: None,
                flagged: false,
            })
        })
        .collect();
    Table { columns, rows }
}

/// A scenario's cells with the model beside every rate. A cell that failed
/// or has no measurement keeps its row, with its status and the first line
/// of its reason. The reference column is there only when a cell has one,
/// the open-loop backlog's only when a cell is paced.
pub fn scenario(cells: &[&CellResult], analysis: &Analysis) -> Table {
    let references = cells.iter().any(|c| c.config.reference.is_some());
    let paced = cells
        .iter()
        .any(|c| matches!(c.config.load.pacing, PacingSpec::Open { .. }));
    let mut columns = vec![
        Column::left("stack"),
        Column::right("workers"),
        Column::left("variant"),
        Column::right("conns"),
        Column::right("req/s"),
    ];
    if references {
        columns.push(Column::left("reference"));
    }
    columns.extend([
        Column::right("p50"),
        Column::right("p99"),
        Column::right("p99.9"),
        Column::right("errors"),
        Column::right("silent conns"),
        Column::right("unanswered"),
    ]);
    if paced {
        columns.push(Column::right("never sent"));
    }
    columns.extend([
        Column::right("server CPU"),
        Column::right("CPU/request"),
        Column::right("model"),
        Column::right("measured/model"),
        Column::prose("bound"),
    ]);
    let rows = cells
        .iter()
        .map(|cell| {
            let mut cells: Vec<Cell> = vec![
                cell.config.stack.label.as_str().into(),
                cell.config.stack.workers.to_string().into(),
                cell.config
                    .variant()
                    .map_or("-".to_string(), |v| v.to_string())
                    .into(),
                load_words(cell).into(),
            ];
            let Some(s) = cell
                .summary
                .as_ref()
                .filter(|_| cell.status != Status::Failed)
            else {
                let reason = cell
                    .reason
                    .as_deref()
                    .and_then(|r| r.lines().next())
                    .unwrap_or("");
                let status = status_words(cell.status);
                return Row {
                    cells,
                    note: Some(if reason.is_empty() {
                        status.to_string()
                    } else {
                        format!("{status}: {reason}")
                    }),
                    flagged: false,
                };
            };
            let p = analysis.prediction(&cell.id);
            cells.push(
                format!(
                    "{}{}",
                    thousands(s.requests_per_s.mean),
                    if cell.status == Status::Interrupted {
                        " (interrupted)"
                    } else {
                        ""
                    }
                )
                .into(),
            );
            if references {
                cells.push(reference(cell).into());
            }
            cells.extend([
                latency(cell, 50.0).into(),
                latency(cell, 99.0).into(),
                latency(cell, 99.9).into(),
                s.failed_requests.to_string().into(),
                Cell {
                    text: silent_connections(s, cell.config.load.connections),
                    strong: s.silent_connections.is_some_and(|n| n > 0),
                },
                kept(s.unanswered).into(),
            ]);
            if paced {
                cells.push(kept(s.backlog).into());
            }
            cells.extend([
                if s.server_cpu_measured {
                    format!("{:.0}%", s.server_cpu_pct)
                } else {
                    "-".to_string()
                }
                .into(),
                s.server_cpu_us_per_request
                    .map_or("-".to_string(), micros)
                    .into(),
                p.map_or("-".to_string(), |p| thousands(p.predicted_per_s))
                    .into(),
                match p {
                    Some(p) if p.surprise => Cell {
                        text: format!("{:.2} (surprise)", p.ratio),
                        strong: true,
                    },
                    Some(p) => format!("{:.2}", p.ratio).into(),
                    None => "-".into(),
                },
                p.map_or("-", |p| p.because.as_str()).into(),
            ]);
            Row {
                cells,
                note: None,
                flagged: p.is_some_and(|p| p.surprise)
                    || s.silent_connections.is_some_and(|n| n > 0),
            }
        })
        .collect();
    Table { columns, rows }
}

/// Every measured cell's trials: the mean rate, its range and spread, and
/// its noise (a 95% confidence interval, see `noise`) in req/s and as a
/// share of the mean.
pub fn spread(results: &Results) -> Table {
    let columns = vec![
        Column::left("cell"),
        Column::right("trials"),
        Column::right("mean req/s"),
        Column::right("min"),
        Column::right("max"),
        Column::right("spread"),
        Column::right("noise ±"),
        Column::left("noise from"),
    ];
    let rows = with_noise(results)
        .map(|(cell, s, n)| Row {
            cells: vec![
                cell.id.as_str().into(),
                s.trials.to_string().into(),
                thousands(s.requests_per_s.mean).into(),
                thousands(s.requests_per_s_min).into(),
                thousands(s.requests_per_s.max).into(),
                format!("{:.1}%", s.spread_pct).into(),
                format!(
                    "{} ({:.1}%)",
                    thousands(n.per_s),
                    if s.requests_per_s.mean > 0.0 {
                        100.0 * n.per_s / s.requests_per_s.mean
                    } else {
                        0.0
                    }
                )
                .into(),
                n.source.into(),
            ],
            note: None,
            flagged: false,
        })
        .collect();
    Table { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::super::{html, markdown};
    use super::*;

    /// What a rendering shows: each header with whether it is left-aligned,
    /// and each row's texts (a note being the row's last text).
    type Shown = (Vec<(String, bool)>, Vec<Vec<String>>);

    /// Splits a Markdown table row on its unescaped pipes.
    fn markdown_cells(line: &str) -> Vec<String> {
        let inner = line
            .strip_prefix("| ")
            .and_then(|l| l.strip_suffix(" |"))
            .unwrap_or_else(|| panic!("not a table row: {line:?}"));
        let mut cells = vec![String::new()];
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    cells.last_mut().unwrap().push('|');
                    chars.next();
                }
                '|' => cells.push(String::new()),
                c => cells.last_mut().unwrap().push(c),
            }
        }
        cells
            .into_iter()
            .map(|c| {
                let c = c.trim();
                c.strip_prefix("**")
                    .and_then(|c| c.strip_suffix("**"))
                    .unwrap_or(c)
                    .to_string()
            })
            .collect()
    }

    fn read_markdown(text: &str) -> Shown {
        let mut lines = text.lines();
        let headers = markdown_cells(lines.next().unwrap());
        let rule = markdown_cells(lines.next().unwrap());
        assert_eq!(headers.len(), rule.len(), "{text}");
        let columns = headers
            .into_iter()
            .zip(rule)
            .map(|(h, r)| (h, r == "---"))
            .collect();
        (columns, lines.map(markdown_cells).collect())
    }

    /// The texts between each `<open ...>` and `</close>` in `html`, with
    /// whether the opening tag carries the class `text`.
    fn elements(html: &str, tag: &str) -> Vec<(String, bool)> {
        let close = format!("</{tag}>");
        html.split(&format!("<{tag}"))
            .skip(1)
            .filter(|part| part.starts_with(['>', ' ']))
            .map(|part| {
                let (open, rest) = part.split_once('>').unwrap();
                let inner = rest.split(&close).next().unwrap();
                let text = inner
                    .replace("<strong>", "")
                    .replace("</strong>", "")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&amp;", "&");
                (text, open.contains(r#"class="text"#))
            })
            .collect()
    }

    fn read_html(text: &str) -> Shown {
        let (head, body) = text.split_once("<tbody>").unwrap();
        let rows = body
            .split("<tr")
            .skip(1)
            .map(|row| elements(row, "td").into_iter().map(|c| c.0).collect())
            .collect();
        (elements(head, "th"), rows)
    }

    /// Awkward text, a surprise and a failed cell: every feature of the model.
    fn sample() -> Table {
        Table {
            columns: vec![
                Column::left("stack"),
                Column::right("workers"),
                Column::right("req/s"),
                Column::prose("bound"),
            ],
            rows: vec![
                Row {
                    cells: vec![
                        "a|b <c> & 'd'".into(),
                        "4".into(),
                        "1,000".into(),
                        "CPU: 1 core / 20 µs".into(),
                    ],
                    note: None,
                    flagged: false,
                },
                Row {
                    cells: vec![
                        "surprising".into(),
                        "1".into(),
                        Cell {
                            text: "0.52 (surprise)".into(),
                            strong: true,
                        },
                        "-".into(),
                    ],
                    note: None,
                    flagged: true,
                },
                Row {
                    cells: vec!["broken".into(), "4".into()],
                    note: Some("FAILED: port 8080 | in use".into()),
                    flagged: false,
                },
            ],
        }
    }

    #[test]
    fn markdown_and_html_show_the_same_columns_and_rows() {
        let table = sample();
        let expected: Shown = (
            table
                .columns
                .iter()
                .map(|c| (c.header.to_string(), c.align == Align::Left))
                .collect(),
            table
                .rows
                .iter()
                .map(|r| {
                    r.cells
                        .iter()
                        .map(|c| c.text.clone())
                        .chain(r.note.clone())
                        .collect()
                })
                .collect(),
        );
        assert_eq!(read_markdown(&markdown::table(&table)), expected);
        assert_eq!(read_html(&html::table(&table)), expected);
    }

    #[test]
    fn a_note_spans_the_columns_after_the_cells_that_name_its_row() {
        let html = html::table(&sample());
        assert!(
            html.contains(
                r#"<td colspan="2" class="text unmeasured">FAILED: port 8080 | in use</td>"#
            ),
            "{html}"
        );
        assert!(html.contains(r#"<tr class="flagged">"#), "{html}");
        let markdown = markdown::table(&sample());
        assert!(
            markdown.contains("| broken | 4 | FAILED: port 8080 \\| in use |\n"),
            "{markdown}"
        );
        assert!(markdown.contains("| **0.52 (surprise)** |"), "{markdown}");
    }
}
