//! Headless Chromium for the report tests: a page rendered, its DOM after
//! the page's scripts ran, and its console.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::read;

/// Runs headless Chromium on a page with a time limit, in its own process
/// group so that every process it starts is stopped with it; returns its
/// standard output and its log (both through files, so that neither can fill
/// a pipe while it runs).
pub fn chromium(page: &Path, profile: &Path, mode: &str) -> (String, String) {
    let (out, err) = (profile.with_extension("out"), profile.with_extension("log"));
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .expect("chromium is installed (.ci/run installs Debian's chromium package)");
    let group = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // SAFETY: kill(2) on the process group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
            panic!("chromium ran past 60 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above; stops any helper process left in the group.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    (read(&out), read(&err))
}

/// Console output and uncaught errors in Chromium's log.
pub fn console_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}
