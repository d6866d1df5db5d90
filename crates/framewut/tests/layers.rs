//! The crate's layers: data flows one way, so no module reaches back into
//! one above it or beside it. The leaves (exit codes, output, units, URLs,
//! statistics, formatting, signals, request lists, the live view, agents,
//! the Python layer) import no other module of the crate; `spec` sits on
//! them, `model` on that, the `lab` on those, `report` on the lab, and
//! `commands` (the command line and its dispatch) on top. Inside the lab,
//! its rooms are layered the same way. This reads the sources, test code
//! left out, and names every import that goes the wrong way.

use std::path::{Path, PathBuf};

/// The crate's top-level modules, bottom layer first: a module may import
/// only modules of the layers below its own.
const LAYERS: [&[&str]; 6] = [
    &[
        "exit", "output", "units", "urls", "stats", "format", "signals", "targets", "live",
        "agents", "python",
    ],
    &["spec"],
    &["model"],
    &["lab"],
    &["report"],
    &["commands"],
];

/// `text` without its test code: each item marked `#[cfg(test)]` (a line
/// ending in `;`, or a block up to its closing brace) and every comment.
fn program(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        rest = &rest[at + "#[cfg(test)]".len()..];
        rest = &rest[item_end(rest)..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the item at the start of `text` ends: after its `;` when that
/// comes before any brace, else after the brace that closes its first one.
/// String and character literals are skipped, so braces in them do not count.
fn item_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b';' if depth == 0 => return i + 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\\') => {
                while i + 1 < bytes.len() && bytes[i + 1] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The `.rs` files under `path` (or `path` itself) with their program text;
/// a module's `tests.rs` or `*_tests.rs` is all test code and left out.
fn sources(path: &Path) -> Vec<(PathBuf, String)> {
    if path.is_file() {
        let text = std::fs::read_to_string(path).unwrap();
        return vec![(path.to_path_buf(), program(&text))];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap().path();
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        let tests = name == "tests.rs" || name.ends_with("_tests.rs");
        if entry.is_dir() || (name.ends_with(".rs") && !tests) {
            out.extend(sources(&entry));
        }
    }
    out
}

/// The crate's top-level modules `text` names through `crate::`, whether
/// one at a time (`crate::lab::Lab`) or grouped (`crate::{exit, lab}`).
fn named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let names = if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(',')
                .map(|part| part.trim().split("::").next().unwrap_or("").to_string())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![rest[..end].to_string()]
        };
        out.extend(names.into_iter().filter(|n| !n.is_empty()));
    }
    out
}

#[test]
fn no_module_imports_one_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer_of = |module: &str| LAYERS.iter().position(|l| l.contains(&module));
    let mut wrong = Vec::new();
    for (level, modules) in LAYERS.iter().enumerate() {
        for module in *modules {
            let path = if src.join(module).is_dir() {
                src.join(module)
            } else {
                src.join(format!("{module}.rs"))
            };
            let files = sources(&path);
            assert!(!files.is_empty(), "no sources for {module}");
            for (file, text) in files {
                for used in named(&text) {
                    let Some(used_level) = layer_of(&used) else {
                        continue;
                    };
                    if used != *module && used_level >= level {
                        wrong.push(format!("{} uses crate::{used}", file.display()));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

/// The lab's rooms, bottom first, with the rooms each may reach through
/// `crate::lab::`: what the operating system says (`measure`), what a run
/// is asked to do (`matrix`), what it measured (`results`), and doing it
/// (`runner`). `lab/mod.rs` sits on all of them.
const ROOMS: [(&str, &[&str]); 4] = [
    ("measure", &["measure"]),
    ("matrix", &["matrix", "measure"]),
    ("results", &["results", "measure"]),
    ("runner", &["runner", "measure", "matrix", "results"]),
];

#[test]
fn the_labs_rooms_reach_only_down() {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lab");
    let mut wrong = Vec::new();
    for (room, allowed) in ROOMS {
        let files = sources(&lab.join(room));
        assert!(!files.is_empty(), "no sources for lab/{room}");
        for (file, text) in files {
            // `super` up to the room itself is inside it; one more is the lab.
            let relative = file.strip_prefix(&lab).unwrap();
            let mut depth = relative.components().count();
            if relative.ends_with("mod.rs") {
                depth -= 1;
            }
            let out = "super::".repeat(depth);
            if text.contains(&out) {
                wrong.push(format!("{} climbs out of its room: {out}", file.display()));
            }
            for (at, _) in text.match_indices("crate::lab::") {
                let rest = &text[at + "crate::lab::".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let used = &rest[..end];
                if !allowed.contains(&used) {
                    wrong.push(format!("{} uses crate::lab::{used}", file.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the lab's rooms reach up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        if !LAYERS.iter().any(|l| l.contains(&name.as_str())) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "modules in no layer: {missing:?}");
}

#[test]
fn test_code_and_grouped_imports_are_read_as_they_are_meant() {
    let text = "use crate::{exit, lab::Lab};\n#[cfg(test)]\nmod fake;\nfn f() { crate::model::g() }\n#[cfg(test)]\nmod tests {\n    use crate::report;\n    const S: &str = \"}\";\n    const C: char = '{';\n}\nuse crate::spec;";
    assert_eq!(named(&program(text)), ["exit", "lab", "model", "spec"]);
}
