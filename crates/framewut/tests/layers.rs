//! The crate's layers: data flows one way, so no module reaches back into
//! one above it. `spec`, `format` and `stats` sit at the bottom, `model` on them, the
//! `lab` on those, and `report` on top; this reads the sources (tests left
//! out) and names every import that goes the wrong way.

use std::path::{Path, PathBuf};

/// The `.rs` files under `path` (or `path` itself), with their code up to
/// the first `#[cfg(test)]`, comments left out: what the program is built from.
fn sources(path: &Path) -> Vec<(PathBuf, String)> {
    if path.is_file() {
        let text = std::fs::read_to_string(path).unwrap();
        let program: Vec<&str> = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect();
        let program = program.join("\n");
        return vec![(path.to_path_buf(), program)];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap().path();
        // A module's tests.rs is all test code, like a `#[cfg(test)]` block.
        let tests = entry.file_name().is_some_and(|n| n == "tests.rs");
        if entry.is_dir() || (entry.extension().is_some_and(|e| e == "rs") && !tests) {
            out.extend(sources(&entry));
        }
    }
    out
}

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rules: [(&str, &[&str]); 6] = [
        (
            "stats.rs",
            &["crate::lab", "crate::report", "crate::model", "crate::spec"],
        ),
        (
            "format.rs",
            &["crate::lab", "crate::report", "crate::model", "crate::spec"],
        ),
        ("spec.rs", &["crate::lab", "crate::report", "crate::model"]),
        ("model", &["crate::lab", "crate::report"]),
        ("lab", &["crate::report"]),
        ("python", &["crate::lab", "crate::report", "crate::model"]),
    ];
    let mut wrong = Vec::new();
    for (module, forbidden) in rules {
        let files = sources(&src.join(module));
        assert!(!files.is_empty(), "no sources for {module}");
        for (file, text) in files {
            for path in forbidden {
                if text.contains(path) {
                    wrong.push(format!("{} uses {path}", file.display()));
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
