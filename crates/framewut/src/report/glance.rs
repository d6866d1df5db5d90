//! The run at a glance, at the top of both reports: a grid of stacks x
//! scenarios with each cell's rate, the model's ceiling and the bound that
//! sets it, every cell ranked within its column; and one sentence per
//! column naming the stack that leads and why, from the model.
//!
//! A column is one scenario at one load (its connections and profile, as
//! the cell ids name them: `c32`, `c32@burst`), so a stack is only ranked
//! against stacks loaded alike. Ranks go by mean rate; rates that print
//! alike share a rank. Whether the leader's lead is more than noise is for
//! the sentence to say, from each cell's noise (see `noise`).

use super::noise::{noise, resolution_per_s};
use super::{scenarios, status_words, Analysis};
use crate::format::{and_list, rate, thousands};
use crate::lab::results::{CellResult, Results, Status};
use crate::model::{BoundKind, Prediction};
use crate::spec::{PacingSpec, Protocol};

/// The steps of the rank scale, best first: a cell's colour in report.html.
pub const STEPS: usize = 5;

/// One column: a scenario at one load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlanceColumn {
    pub scenario: String,
    /// The load as the cell ids name it: `c32`, or `c32@burst` when the
    /// matrix has several profiles.
    pub load: String,
    /// The load in words: `32 connections`, `32 connections at 1,000/s (burst)`.
    pub load_words: String,
    /// The same, short for a table's header: `32 conns`.
    pub load_short: String,
    /// Whether its scenario has other columns: then the load is part of
    /// its name.
    pub shared: bool,
}

impl GlanceColumn {
    /// `sleep`, or `sleep at 32 connections` when the scenario ran at
    /// several loads.
    pub fn title(&self) -> String {
        if self.shared {
            format!("{} at {}", self.scenario, self.load_words)
        } else {
            self.scenario.to_string()
        }
    }

    /// The column's short header: `sleep`, or `sleep c32`.
    pub fn header(&self) -> String {
        if self.shared {
            format!("{} {}", self.scenario, self.load)
        } else {
            self.scenario.to_string()
        }
    }
}

/// One measured cell of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub id: String,
    pub label: String,
    pub per_s: f64,
    /// The model's ceiling, when the model has one.
    pub prediction: Option<Prediction>,
    /// 1 for the fastest in its column; rates that print alike share one.
    pub rank: usize,
    /// How many measured cells its column has.
    pub of: usize,
    /// Where its rank falls on the colour scale: 0 (the best) to `STEPS - 1`.
    pub step: usize,
    /// The half-width within which another measurement would likely fall.
    pub noise_per_s: f64,
}

/// A grid cell.
#[derive(Debug, Clone, PartialEq)]
pub enum GlanceCell {
    /// The matrix has no such cell.
    Absent,
    /// The cell has no measurement: its status in a word.
    Unmeasured(&'static str),
    Measured(Box<Ranked>),
}

/// One stack's row.
#[derive(Debug, Clone, PartialEq)]
pub struct GlanceRow {
    pub label: String,
    pub cells: Vec<GlanceCell>,
}

/// The grid and its sentences.
#[derive(Debug, Clone, PartialEq)]
pub struct Glance {
    pub columns: Vec<GlanceColumn>,
    pub rows: Vec<GlanceRow>,
    /// One per column, in the columns' order.
    pub sentences: Vec<String>,
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `21st`.
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What the bound is, as an adjective for a sentence.
fn bound_phrase(kind: BoundKind) -> &'static str {
    match kind {
        BoundKind::Workers => "worker-bound",
        BoundKind::Connections => "wait-bound",
        BoundKind::Upstream => "upstream-bound",
        BoundKind::UpstreamCpu => "bound by the upstream's TLS handshakes",
        BoundKind::Cpu => "CPU-bound",
        BoundKind::Generator => "held by the load generator",
        BoundKind::OfferedRate => "held to the offered rate",
    }
}

/// The load part of a cell id: `c32`, `c32@burst`.
fn load_key(cell: &CellResult) -> String {
    let prefix = format!(
        "{}/{}/",
        cell.config.stack.label,
        cell.config.scenario.name()
    );
    cell.id.strip_prefix(&prefix).map_or_else(
        || format!("c{}", cell.config.load.connections),
        str::to_string,
    )
}

/// The cell's load in words, with `connections` as the noun for the
/// connections.
fn load_words(cell: &CellResult, profiles: bool, connections: &str) -> String {
    let load = &cell.config.load;
    let mut words = format!("{} {connections}", load.connections);
    if load.protocol == Protocol::H2 {
        words.push_str(&format!(" x {} h2 streams", load.streams));
    }
    if let PacingSpec::Open { rate } = load.pacing {
        words.push_str(&format!(" at {}/s", thousands(rate.rate().get())));
    }
    if profiles {
        words.push_str(&format!(" ({})", load.profile));
    }
    words
}

/// The measured cells of a column, ranked.
fn rank(cells: &[&CellResult], analysis: &Analysis) -> Vec<Ranked> {
    let mut measured: Vec<&CellResult> = cells
        .iter()
        .copied()
        .filter(|c| c.summary.is_some() && c.status != Status::Failed)
        .collect();
    let per_s = |c: &CellResult| c.summary.as_ref().map_or(0.0, |s| s.requests_per_s.mean);
    measured.sort_by(|a, b| per_s(b).total_cmp(&per_s(a)));
    let of = measured.len();
    let mut ranked: Vec<Ranked> = Vec::with_capacity(of);
    for (i, cell) in measured.iter().enumerate() {
        let rate = per_s(cell);
        let rank = match ranked.last() {
            Some(last) if thousands(last.per_s) == thousands(rate) => last.rank,
            _ => i + 1,
        };
        let step = if of > 1 {
            ((rank - 1) as f64 / (of - 1) as f64 * (STEPS - 1) as f64).round() as usize
        } else {
            0
        };
        let noise_per_s = noise(cell)
            .map_or(0.0, |n| n.per_s)
            .max(resolution_per_s(cell).unwrap_or(0.0));
        ranked.push(Ranked {
            id: cell.id.clone(),
            label: cell.config.stack.label.clone(),
            per_s: rate,
            prediction: analysis.prediction(&cell.id).cloned(),
            rank,
            of,
            step,
            noise_per_s,
        });
    }
    ranked
}

/// Names in a list: `a`, `a and b`, `a, b and c`, `a, b, c and 2 others`.
fn names(labels: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut shown: Vec<String> = labels.iter().take(SHOWN).map(|l| l.to_string()).collect();
    if labels.len() > SHOWN {
        shown.push(format!("{} others", labels.len() - SHOWN));
    }
    and_list(&shown)
}

/// `wait-bound, 32 connections / 50 ms`, with a surprise said as one.
fn why(p: &Prediction) -> String {
    let mut words = format!("{}, {}", bound_phrase(p.bound), p.formula);
    if p.surprise {
        words.push_str(&format!(
            ", measuring {:.2} of that ceiling: a surprise the findings look into",
            p.ratio
        ));
    }
    words
}

/// The column's sentence: who leads and why, which stacks its trials
/// cannot tell apart from it (their rates within each other's noise), and,
/// when the last is not one of those, why the last is last.
fn sentence(column: &GlanceColumn, ranked: &[Ranked]) -> String {
    let title = column.title();
    let Some((leader, rest)) = ranked.split_first() else {
        return format!("{title}: no cell was measured.");
    };
    let mut text = format!(
        "{title}: {} leads with {}",
        leader.label,
        rate(leader.per_s)
    );
    if let Some(p) = &leader.prediction {
        text.push_str(&format!(": {}", why(p)));
    }
    let level: Vec<&str> = rest
        .iter()
        .filter(|r| (leader.per_s - r.per_s).abs() <= leader.noise_per_s + r.noise_per_s)
        .map(|r| r.label.as_str())
        .collect();
    if !level.is_empty() {
        text.push_str(&format!(
            "; its trials cannot tell it apart from {}",
            names(&level)
        ));
    }
    if let Some(last) = rest.last().filter(|l| !level.contains(&l.label.as_str())) {
        text.push_str(&format!("; last, {} at {}", last.label, rate(last.per_s)));
        if let Some(p) = &last.prediction {
            text.push_str(&format!(", {}, {}", bound_phrase(p.bound), p.formula));
        }
    }
    text.push('.');
    text
}

/// The grid and sentences of a run; none when no cell was measured.
pub fn glance(results: &Results, analysis: &Analysis) -> Option<Glance> {
    if !results
        .cells
        .iter()
        .any(|c| c.summary.is_some() && c.status != Status::Failed)
    {
        return None;
    }
    let profiles = {
        let first = results.cells.first().map(|c| &c.config.load.profile);
        results
            .cells
            .iter()
            .any(|c| Some(&c.config.load.profile) != first)
    };
    let mut labels: Vec<String> = Vec::new();
    for cell in &results.cells {
        if !labels.contains(&cell.config.stack.label) {
            labels.push(cell.config.stack.label.clone());
        }
    }
    // Each column's cells, in the order the run first names each load.
    let mut columns: Vec<(GlanceColumn, Vec<&CellResult>)> = Vec::new();
    for (scenario, cells) in scenarios(results) {
        let start = columns.len();
        for cell in cells {
            let load = load_key(cell);
            match columns[start..].iter_mut().find(|(c, _)| c.load == load) {
                Some((_, members)) => members.push(cell),
                None => columns.push((
                    GlanceColumn {
                        scenario: scenario.clone(),
                        load,
                        load_words: load_words(cell, profiles, "connections"),
                        load_short: load_words(cell, profiles, "conns"),
                        shared: false,
                    },
                    vec![cell],
                )),
            }
        }
        let shared = columns.len() - start > 1;
        for (column, _) in &mut columns[start..] {
            column.shared = shared;
        }
    }
    let ranked: Vec<Vec<Ranked>> = columns
        .iter()
        .map(|(_, cells)| rank(cells, analysis))
        .collect();
    let rows = labels
        .into_iter()
        .map(|label| GlanceRow {
            cells: columns
                .iter()
                .zip(&ranked)
                .map(|((_, cells), ranked)| {
                    match cells.iter().find(|c| c.config.stack.label == label) {
                        None => GlanceCell::Absent,
                        Some(cell) => ranked
                            .iter()
                            .find(|r| r.id == cell.id)
                            .map_or(GlanceCell::Unmeasured(status_words(cell.status)), |r| {
                                GlanceCell::Measured(Box::new(r.clone()))
                            }),
                    }
                })
                .collect(),
            label,
        })
        .collect();
    let sentences = columns
        .iter()
        .zip(&ranked)
        .map(|((column, _), ranked)| sentence(column, ranked))
        .collect();
    Some(Glance {
        columns: columns.into_iter().map(|(c, _)| c).collect(),
        rows,
        sentences,
    })
}

/// A measured cell in a line: `25,110 / 48,760 cpu`, with `!` after a
/// surprise; the rate alone when the model has no ceiling for it.
pub fn figures(r: &Ranked) -> String {
    match &r.prediction {
        Some(p) => format!(
            "{} / {} {}{}",
            thousands(r.per_s),
            thousands(p.predicted_per_s),
            p.bound.short(),
            if p.surprise { " !" } else { "" }
        ),
        None => thousands(r.per_s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_read_as_english() {
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            words,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }

    #[test]
    fn long_lists_of_names_are_cut_short() {
        assert_eq!(names(&["a"]), "a");
        assert_eq!(names(&["a", "b"]), "a and b");
        assert_eq!(names(&["a", "b", "c"]), "a, b and c");
        assert_eq!(names(&["a", "b", "c", "d", "e"]), "a, b, c and 2 others");
    }
}
