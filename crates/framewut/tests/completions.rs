//! `framewut completions` and `framewut man`: generated from the clap
//! definitions, so every subcommand must appear in each, and each must be
//! valid for the program that reads it: bash, zsh and fish parse their
//! scripts (`-n`), and groff renders every manual page without a warning
//! (where groff is installed; elsewhere the roff is checked for its title
//! line and every subcommand).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;
use framewut::commands::Cli;
use support::{framewut, Scratch};

/// framewut's subcommands, from the same definitions the outputs come from;
/// not the hidden one a lab starts itself.
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

/// framewut's standard output for these arguments; fails unless it succeeded.
fn stdout_of(args: &[&str], cwd: &Path) -> String {
    let output = framewut(args, cwd, Duration::from_secs(30));
    assert!(
        output.status.success(),
        "framewut {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_bash_script_parses_and_completes_every_subcommand() {
    let dir = Scratch::new("completions-bash");
    let script = stdout_of(&["completions", "bash"], &dir.0);
    for sub in subcommands() {
        assert!(
            script.contains(&format!("framewut__subcmd__{sub})")),
            "no {sub}"
        );
    }
    let file = dir.write("framewut.bash", &script);
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    // Sourced, it completes as bash would ask it to: a subcommand from its
    // first letters, then one of that subcommand's flags.
    let complete = |words: &str| {
        let cword = words.split(' ').count() - 1;
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
                 _framewut framewut \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[*]}}\"",
                file.display()
            ))
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    assert_eq!(complete("framewut compl"), "completions");
    assert_eq!(complete("framewut load --ra"), "--rate");
    assert_eq!(complete("framewut report /tmp --cs"), "--csv");

    // The check can fail: a script with a syntax error is refused.
    let broken = dir.write("broken.bash", &script.replacen("esac", "", 1));
    let check = Command::new("bash")
        .arg("-n")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!check.status.success());
}

#[test]
fn the_zsh_and_fish_scripts_name_every_subcommand() {
    let dir = Scratch::new("completions-zsh-fish");
    let zsh = stdout_of(&["completions", "zsh"], &dir.0);
    assert!(zsh.starts_with("#compdef framewut"), "{zsh}");
    let fish = stdout_of(&["completions", "fish"], &dir.0);
    for sub in subcommands() {
        assert!(zsh.contains(&format!("'{sub}:")), "zsh lacks {sub}");
        assert!(fish.contains(&format!(" -a \"{sub}\"")), "fish lacks {sub}");
    }
    // The shells parse their scripts too (.ci/run installs them).
    for (shell, script) in [("zsh", &zsh), ("fish", &fish)] {
        assert!(
            installed(shell),
            "{shell} is not installed, and this test needs it to parse its script: \
             apt-get install {shell} (.ci/run installs it)"
        );
        let file = dir.write(&format!("framewut.{shell}"), script);
        let check = Command::new(shell).arg("-n").arg(&file).output().unwrap();
        assert!(
            check.status.success(),
            "{shell} -n: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_ones_there_are() {
    let dir = Scratch::new("completions-unknown");
    let output = framewut(&["completions", "tcsh"], &dir.0, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bash") && stderr.contains("fish"),
        "{stderr}"
    );
}

/// Renders a page with groff, warnings on; none expected.
fn groff_warnings(page: &Path) -> String {
    let output = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "groff failed on {}",
        page.display()
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_manual_page_names_every_subcommand_and_renders() {
    let dir = Scratch::new("man");
    let roff = stdout_of(&["man"], &dir.0);
    assert!(roff.contains(".TH framewut 1"), "{roff}");
    for sub in subcommands() {
        assert!(
            roff.contains(&format!("framewut\\-{sub}(1)")),
            "framewut(1) does not list {sub}"
        );
    }
    let load = stdout_of(&["man", "load"], &dir.0);
    assert!(load.contains(".TH framewut-load 1"), "{load}");
    assert!(load.contains("\\-\\-rate"), "{load}");
    let init = stdout_of(&["man", "db", "init"], &dir.0);
    assert!(init.contains(".TH framewut-db-init 1"), "{init}");

    let output = framewut(&["man", "db", "nope"], &dir.0, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("framewut db has no subcommand \"nope\": it has init, postgres"),
        "{stderr}"
    );

    let pages = dir.path("man1");
    let output = framewut(
        &["man", "--dir", pages.to_str().unwrap()],
        &dir.0,
        Duration::from_secs(30),
    );
    assert!(output.status.success());
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for sub in subcommands() {
        assert!(names.contains(&format!("framewut-{sub}.1")), "{names:?}");
    }
    assert!(names.contains(&"framewut.1".to_string()));
    assert!(names.contains(&"framewut-db-postgres.1".to_string()));
    if installed("groff") {
        for name in &names {
            assert_eq!(groff_warnings(&pages.join(name)), "", "{name}");
        }
        // The check can fail: a page with a bad request draws a warning.
        let broken = dir.write("broken.1", ".TH broken 1\n.SH NAME\n.nosuchrequest\n");
        assert_ne!(groff_warnings(&broken), "");
    } else {
        for name in &names {
            let text = std::fs::read_to_string(pages.join(name)).unwrap();
            assert!(text.contains(".TH ") && text.contains(".SH NAME"), "{name}");
        }
    }
}
