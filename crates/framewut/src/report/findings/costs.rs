//! Why stacks differ where the CPU holds them: in each scenario without a
//! wait (hello, cpu, db), the leading stack set beside the others part by
//! part: user and kernel time per request, system calls, context switches,
//! new connections.

use framewut_stacks::Scenario;

use super::{by_load, Finding, Seen, Topic};
use crate::format::{micros, rate, thousands, times};
use crate::model::BoundKind;
use crate::report::breakdown::Breakdown;
use crate::report::parts::{FromParts, WITHIN};

/// A part of a request that differs by less than this share of the
/// leader's whole cost is not named as where the difference lies.
const NAMED_SHARE: f64 = 0.1;

/// One cell's request in parts: `12 µs user + 8.2 µs kernel, 2.04 system
/// calls, 1.00 context switches, 0.00 new connections`. The findings take
/// apart only cells whose server time was split.
pub(super) fn parts(b: &Breakdown) -> String {
    let mut text = format!(
        "{} user + {} kernel",
        micros(b.server.user_us.unwrap_or(0.0)),
        micros(b.server.kernel_us.unwrap_or(0.0))
    );
    if let Some(calls) = b.server.syscalls {
        text.push_str(&format!(", {calls:.2} system calls"));
    }
    if let (Some(v), Some(i)) = (b.server.voluntary_switches, b.server.involuntary_switches) {
        text.push_str(&format!(", {:.2} context switches", v + i));
    }
    text.push_str(&format!(", {:.2} new connections", b.connections));
    if let Some(faults) = b.server.page_faults.filter(|f| *f >= 1.0) {
        text.push_str(&format!(", {} page faults", thousands(faults)));
    }
    text
}

/// Where `other`'s request differs most from `leader`'s: the part (user
/// time, kernel time, connections) whose difference is largest, when it is
/// a real share of the leader's cost.
pub(super) fn difference(leader: &Breakdown, other: &Breakdown) -> Option<String> {
    let (lu, lk) = (leader.server.user_us?, leader.server.kernel_us?);
    let (ou, ok) = (other.server.user_us?, other.server.kernel_us?);
    let whole = (lu + lk).max(f64::MIN_POSITIVE);
    let (du, dk) = (ou - lu, ok - lk);
    let connections = other.connections - leader.connections;
    let mut text = if du.abs() >= dk.abs() && du.abs() > NAMED_SHARE * whole {
        format!(
            "most of the difference is in user mode, the program's own work ({}{})",
            if du > 0.0 { "+" } else { "-" },
            micros(du.abs())
        )
    } else if dk.abs() > NAMED_SHARE * whole {
        format!(
            "most of the difference is in the kernel ({}{})",
            if dk > 0.0 { "+" } else { "-" },
            micros(dk.abs())
        )
    } else {
        return None;
    };
    if connections.abs() > 0.5 {
        let (opens, keeps) = if connections > 0.0 {
            ("it opens", "the leader keeps")
        } else {
            ("the leader opens", "it keeps")
        };
        text.push_str(&format!(
            ", and {opens} a connection for every request where {keeps} them alive"
        ));
    }
    if let (Some(l), Some(o)) = (leader.server.syscalls, other.server.syscalls) {
        if (o - l).abs() > 0.5 {
            text.push_str(&format!(
                " ({o:.1} system calls per request against {l:.1})"
            ));
        }
    }
    if let (Some(l), Some(o)) = (leader.server.page_faults, other.server.page_faults) {
        if (o - l).abs() >= 1.0 && (o - l).abs() > NAMED_SHARE * l.max(o) {
            text.push_str(&format!(
                " ({} page faults per request against {})",
                thousands(o),
                thousands(l)
            ));
        }
    }
    Some(text)
}

/// A finding per scenario without a wait and per load: the leader's
/// request in parts, and each other stack's beside it.
pub(super) fn explain(seen: &[Seen], out: &mut Vec<Finding>) {
    for scenario in [Scenario::Hello, Scenario::Cpu, Scenario::Db] {
        let groups = by_load(seen, scenario);
        let several = groups.len() > 1;
        for group in groups {
            let mut ranked: Vec<Seen> = group.into_iter().filter(|s| s.b.is_some()).collect();
            if ranked.len() < 2 {
                continue;
            }
            ranked.sort_by(|a, b| b.rate().total_cmp(&a.rate()));
            let leader = ranked[0];
            let lb = leader.b.expect("filtered above");
            let load = if several {
                format!(" at {}", leader.cell.config.load.size_words())
            } else {
                String::new()
            };
            let mut text = format!(
                "What a request cost on {scenario}{load}: {} led with {}; per request its server spent {}",
                leader.label(),
                rate(leader.rate()),
                parts(lb)
            );
            text.push('.');
            for other in &ranked[1..] {
                let ob = other.b.expect("filtered above");
                text.push_str(&format!(
                    " {} answered {} ({}): {}",
                    other.label(),
                    rate(other.rate()),
                    times(other.rate() / leader.rate().max(f64::MIN_POSITIVE)),
                    parts(ob)
                ));
                if other.p.bound != BoundKind::Cpu {
                    text.push_str(&format!(
                        "; it was held by {}, not by what a request cost",
                        other.p.because
                    ));
                } else if let Some(diff) = difference(lb, ob) {
                    text.push_str(&format!("; {diff}"));
                }
                text.push('.');
            }
            out.push(Finding {
                topic: Topic::Costs,
                verdict: None,
                text,
                cells: ranked.iter().map(|s| s.id().to_string()).collect(),
            });
        }
    }
}

/// The cells whose ceiling was predicted from parts: one finding with each
/// cell's arithmetic and its measurement, and one naming every cell the
/// parts miss, with where the difference lies.
pub(super) fn from_parts(
    results: &crate::lab::results::Results,
    predictions: &[crate::report::CellPrediction],
    out: &mut Vec<Finding>,
) {
    let modelled: Vec<(&str, &FromParts)> = results
        .cells
        .iter()
        .zip(predictions)
        .filter_map(|(c, p)| Some((c.id.as_str(), p.parts.as_ref()?)))
        .collect();
    if modelled.is_empty() {
        return;
    }
    let sentences: Vec<String> = modelled
        .iter()
        .map(|(id, m)| {
            format!(
                "{id}: {}; measured {} ({}{})",
                m.words(),
                rate(m.measured_per_s),
                times(m.ratio),
                m.spread
                    .map(|s| format!(" ± {:.2} between starts", s * m.ratio))
                    .unwrap_or_default()
            )
        })
        .collect();
    out.push(Finding {
        topic: Topic::Parts,
        verdict: None,
        text: format!(
            "The model from parts predicts each CPU-bound cell from pieces measured apart from its load: the handler alone in the stack's runtime, the kernel's write of its response, and the stack's own CPU per request on its hello cell. {}.",
            sentences.join(". ")
        ),
        cells: modelled.iter().map(|(id, _)| id.to_string()).collect(),
    });
    let (unsure, missed): (Vec<_>, Vec<_>) = modelled
        .iter()
        .filter(|(_, m)| !m.holds())
        .partition(|(_, m)| m.within_spread());
    let margin = 100.0 * (WITHIN.end() - 1.0);
    out.extend(misses(
        &unsure,
        &format!(
            "These cells land more than {margin:.0}% from the parts, but their starts differ too much to say they miss: the 95% interval of each ratio (from the cell's rate and its hello cell's CPU per request, each between starts of the stack) reaches into the margin. More starts (trials on fresh servers) narrow it"
        ),
    ));
    out.extend(misses(
        &missed,
        &format!("The parts miss these cells by more than {margin:.0}%"),
    ));
}

/// One finding for the cells the parts do not explain, each with its ratio,
/// the ratio's spread between starts, and where its request's cost went;
/// none for no cell.
fn misses(cells: &[&(&str, &FromParts)], opening: &str) -> Option<Finding> {
    if cells.is_empty() {
        return None;
    }
    let sentences: Vec<String> = cells
        .iter()
        .map(|(id, m)| {
            format!(
                "{id} measured {} of the parts' rate{}: {}",
                times(m.ratio),
                m.spread
                    .map(|s| format!(" (give or take {:.2})", s * m.ratio))
                    .unwrap_or_default(),
                m.miss()
            )
        })
        .collect();
    Some(Finding {
        topic: Topic::Parts,
        verdict: None,
        text: format!("{opening}: {}.", sentences.join("; ")),
        cells: cells.iter().map(|(id, _)| id.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::breakdown::SideCost;

    fn breakdown(user: f64, kernel: f64, calls: f64, connections: f64) -> Breakdown {
        Breakdown {
            responses: 1000,
            server: SideCost {
                user_us: Some(user),
                kernel_us: Some(kernel),
                syscalls: Some(calls),
                voluntary_switches: Some(1.0),
                involuntary_switches: Some(0.0),
                ..SideCost::default()
            },
            generator: SideCost::default(),
            connections,
            bytes_out: 46.0,
            bytes_in: 148.0,
        }
    }

    #[test]
    fn the_difference_is_named_where_it_lies() {
        let leader = breakdown(4.0, 8.0, 2.0, 0.0);
        let python = breakdown(120.0, 30.0, 9.0, 1.0);
        let text = difference(&leader, &python).unwrap();
        assert!(
            text.starts_with("most of the difference is in user mode"),
            "{text}"
        );
        assert!(text.contains("+116 µs"), "{text}");
        assert!(
            text.contains("it opens a connection for every request"),
            "{text}"
        );
        assert!(
            text.contains("9.0 system calls per request against 2.0"),
            "{text}"
        );
        // Within a tenth of the leader's cost: nothing to name.
        assert_eq!(difference(&leader, &breakdown(4.5, 8.2, 2.0, 0.0)), None);
        let kernel = difference(&leader, &breakdown(4.0, 20.0, 2.0, 0.0)).unwrap();
        assert!(
            kernel.starts_with("most of the difference is in the kernel (+12 µs)"),
            "{kernel}"
        );
        assert_eq!(
            parts(&leader),
            "4 µs user + 8 µs kernel, 2.00 system calls, 1.00 context switches, 0.00 new connections"
        );
        // A handler that maps fresh memory for every request: its kernel
        // time is its page faults.
        let faults = |n: f64, kernel: f64| {
            let mut b = breakdown(16_000.0, kernel, 26.0, 0.0);
            b.server.page_faults = Some(n);
            b
        };
        let (lean, faulting) = (faults(40.0, 1_000.0), faults(2_700.0, 8_400.0));
        assert!(
            parts(&faulting).ends_with("0.00 new connections, 2,700 page faults"),
            "{}",
            parts(&faulting)
        );
        let text = difference(&lean, &faulting).unwrap();
        assert!(
            text.starts_with("most of the difference is in the kernel (+7.4 ms)")
                && text.ends_with("(2,700 page faults per request against 40.0)"),
            "{text}"
        );
    }
}
