//! Where each profiled stack's CPU went: the top frames by self time for
//! report.md, and the flame graphs for report.html, which shows each one
//! from the run directory's `profiles/` (the SVG inferno drew, beside the
//! report) with its top frames.

use std::fmt::Write as _;

use super::svg::escape;
use crate::lab::measure::profile::{Caught, Profile};
use crate::lab::results::{CellResult, Results};

/// How many frames each report lists.
const LISTED: usize = 8;

/// The cells that were profiled or tried to be, with the profile or why
/// there is none.
fn profiled(results: &Results) -> Vec<(&CellResult, Result<&Profile, &str>)> {
    results
        .cells
        .iter()
        .filter_map(|c| match (&c.profile, &c.profile_note) {
            (Some(p), _) => Some((c, Ok(p))),
            (None, Some(why)) => Some((c, Err(why.as_str()))),
            (None, None) => None,
        })
        .collect()
}

/// A frame's name as a table cell shows it: py-spy's process frame (its
/// samples' root) named for what its self time is, long generic names cut
/// in the middle.
fn frame_name(name: &str) -> String {
    const MOST: usize = 120;
    let name = &match name.strip_prefix("process ") {
        // Self time in the root: the process ran no Python frame, so it was
        // in native code (a C extension such as meinheld's, or the
        // interpreter between frames).
        Some(rest) => format!("native code, no Python frame ({rest})"),
        None => name.to_string(),
    };
    let chars: Vec<char> = name.chars().collect();
    let short = if chars.len() > MOST {
        let head: String = chars[..MOST / 2].iter().collect();
        let tail: String = chars[chars.len() - MOST / 2..].iter().collect();
        format!("{head}…{tail}")
    } else {
        name.to_string()
    };
    short
}

/// report.md's section: each profiled cell's top frames by self time.
pub fn markdown(results: &Results) -> String {
    let cells = profiled(results);
    if cells.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Where the CPU went\n\n");
    out.push_str("Each stack profiled in a window of its own after its trials, at the same load (`--profile`): the frames that ran the most by self time (the frame itself, not what it called), and by total time (itself and everything it called). The flame graphs are in the run directory's profiles/, and in report.html.\n\n");
    for (cell, profile) in cells {
        match profile {
            Ok(p) => {
                let _ = writeln!(
                    out,
                    "### {}\n\n{} {} by {}{} ({}).\n\n| self | total | frame |\n| ---: | ---: | --- |",
                    cell.id,
                    p.samples,
                    p.caught.unit(),
                    p.profiler,
                    waiting_note(p.caught),
                    p.svg.display()
                );
                for frame in p.top.iter().take(LISTED) {
                    let _ = writeln!(
                        out,
                        "| {:.1}% | {:.1}% | `{}` |",
                        100.0 * frame.self_share,
                        100.0 * frame.total_share,
                        frame_name(&frame.name).replace('|', "\\|")
                    );
                }
                out.push('\n');
            }
            Err(why) => {
                let _ = writeln!(out, "### {}\n\nNot profiled: {why}\n", cell.id);
            }
        }
    }
    out
}

/// What a profile caught waiting says, after its count.
fn waiting_note(caught: Caught) -> &'static str {
    match caught {
        Caught::Running => "",
        Caught::Waiting => ": the stack hardly ran in its trials, so this shows where it waited, each frame weighed by the times a thread left the CPU there",
    }
}

/// report.html's section: each profiled cell's flame graph, read from
/// the run directory beside the report, and its top frames.
pub fn html(results: &Results) -> String {
    let cells = profiled(results);
    if cells.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<section id="profiles"><h2>Where the CPU went</h2>"#);
    out.push_str("<p>Each stack profiled in a window of its own after its trials, at the same load: a flame graph per cell (wider is more CPU; open one for its search and zoom), then its frames by self time.</p>\n");
    for (cell, profile) in cells {
        let _ = write!(out, "<h3>{}</h3>", escape(&cell.id));
        match profile {
            Ok(p) => {
                let svg = escape(&p.svg.display().to_string());
                let _ = write!(
                    out,
                    r#"<figure><a href="{svg}"><img class="flame" src="{svg}" alt="flame graph of {id}" width="1200"></a><figcaption>{} {} by {}{}</figcaption></figure>"#,
                    p.samples,
                    p.caught.unit(),
                    p.profiler,
                    waiting_note(p.caught),
                    id = escape(&cell.id),
                );
                out.push_str(r#"<table><thead><tr><th class="num">self</th><th class="num">total</th><th>frame</th></tr></thead><tbody>"#);
                for frame in p.top.iter().take(LISTED) {
                    let _ = write!(
                        out,
                        r#"<tr><td class="num">{:.1}%</td><td class="num">{:.1}%</td><td><code>{}</code></td></tr>"#,
                        100.0 * frame.self_share,
                        100.0 * frame.total_share,
                        escape(&frame_name(&frame.name))
                    );
                }
                out.push_str("</tbody></table>\n");
            }
            Err(why) => {
                let _ = writeln!(out, "<p>Not profiled: {}</p>", escape(why));
            }
        }
    }
    out.push_str("</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_spys_process_frame_is_named_for_native_code_and_long_names_are_cut() {
        assert_eq!(
            frame_name("process \"gunicorn: worker\""),
            "native code, no Python frame (\"gunicorn: worker\")"
        );
        assert_eq!(frame_name("cpu (scenarios.py:78)"), "cpu (scenarios.py:78)");
        let long = "a".repeat(100) + &"b".repeat(100);
        let cut = frame_name(&long);
        assert_eq!(cut.chars().count(), 121, "{cut}");
        assert!(cut.starts_with("aaa") && cut.ends_with("bbb") && cut.contains('…'));
    }
}
