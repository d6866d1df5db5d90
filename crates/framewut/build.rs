//! Records, for results.json, the git commit framewut was built from and the
//! versions of the libraries behind the built-in stacks (read from Cargo.lock).

use std::path::Path;
use std::process::Command;

/// The crates whose versions say what a built-in stack really ran.
const TOOLS: [&str; 9] = [
    "actix-web",
    "axum",
    "hyper",
    "tokio",
    "ureq",
    "rusqlite",
    "postgres",
    "tokio-postgres",
    "mio",
];

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../..");

    let commit = git(&root, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FRAMEWUT_GIT_COMMIT={commit}");
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        for watched in ["HEAD", "refs/heads", "packed-refs"] {
            let path = Path::new(&git_dir).join(watched);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }

    let lock_path = root.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    let mut tools = Vec::new();
    for tool in TOOLS {
        let versions: Vec<&str> = lock
            .split("[[package]]")
            .filter(|package| package.contains(&format!("\nname = \"{tool}\"\n")))
            .filter_map(|package| package.split("\nversion = \"").nth(1)?.split('"').next())
            .collect();
        if !versions.is_empty() {
            tools.push(format!("{tool}={}", versions.join("/")));
        }
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(version) = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
    {
        if let Some(v) = version.split_whitespace().nth(1) {
            tools.push(format!("rustc={v}"));
        }
    }
    println!("cargo:rustc-env=FRAMEWUT_TOOL_VERSIONS={}", tools.join(","));
}
