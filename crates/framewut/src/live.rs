//! The live view of `framewut load` on a terminal: one status block on
//! stderr, redrawn in place four times a second with ANSI cursor movements
//! (so stdout stays clean for `--json` or the final text).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use framewut_load::{format_duration, Live, LoadPlan, Snapshot, Stop};

/// How often the block is redrawn.
const REDRAW: Duration = Duration::from_millis(250);
/// Lines the block takes; each redraw moves up over them and writes them anew.
const LINES: usize = 4;

/// Draws the block until `done` is set, then erases it: the figures that
/// count are the final ones the command prints next.
pub fn show(plan: &LoadPlan, live: &Live, done: &AtomicBool) {
    let start = Instant::now();
    let mut history: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut drawn = false;
    let mut err = std::io::stderr();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(REDRAW);
        let now = Instant::now();
        let snap = live.snapshot();
        history.push_back((now, snap.requests));
        while history.len() > 2 && now.duration_since(history[1].0) >= Duration::from_secs(1) {
            history.pop_front();
        }
        let (then, before) = history[0];
        let span = now.duration_since(then).as_secs_f64();
        let rate = if span > 0.0 {
            (snap.requests - before) as f64 / span
        } else {
            0.0
        };
        let mut block = String::new();
        if drawn {
            write!(block, "\x1b[{LINES}A").unwrap();
        }
        let columns = framewut_sys::stderr_columns().unwrap_or(usize::MAX);
        for line in render(plan, &snap, now.duration_since(start), rate) {
            writeln!(block, "\r\x1b[2K{}", framewut_sys::fit(&line, columns)).unwrap();
        }
        // A terminal that went away leaves nothing to draw on; the load goes on.
        let _ = err.write_all(block.as_bytes());
        drawn = true;
    }
    if drawn {
        let mut erase = format!("\x1b[{LINES}A");
        for _ in 0..LINES {
            erase.push_str("\r\x1b[2K\n");
        }
        write!(erase, "\x1b[{LINES}A").unwrap();
        let _ = err.write_all(erase.as_bytes());
    }
}

/// The block's lines: progress, rate, latency so far, errors and connections.
fn render(plan: &LoadPlan, s: &Snapshot, elapsed: Duration, rate: f64) -> [String; LINES] {
    let progress = if elapsed < plan.warmup {
        format!(
            "warm-up {} / {}",
            format_duration(elapsed),
            format_duration(plan.warmup)
        )
    } else {
        let measured = elapsed - plan.warmup;
        match plan.stop {
            Stop::After(d) => format!(
                "{} / {}",
                format_duration(measured.min(d)),
                format_duration(d)
            ),
            Stop::Requests(n) => format!(
                "{} / {n} requests, {}",
                s.responses + s.errors.total() - s.errors.status_total(),
                format_duration(measured)
            ),
        }
    };
    let latency = if s.latency.is_empty() {
        "no answer yet".to_string()
    } else {
        let at = |q: f64| format_duration(Duration::from_micros(s.latency.value_at_quantile(q)));
        format!("p50 {}  p99 {}", at(0.5), at(0.99))
    };
    let e = &s.errors;
    let mut errors: Vec<String> = [
        ("connect", e.connect),
        ("read", e.read),
        ("write", e.write),
        ("timeout", e.timeout),
        ("parse", e.parse),
        ("upgrade", e.upgrade),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(kind, n)| format!("{kind} {n}"))
    .collect();
    errors.extend(
        e.status
            .iter()
            .map(|(code, n)| format!("status {code}: {n}")),
    );
    if errors.is_empty() {
        errors.push("none".to_string());
    }
    [
        format!("framewut load  {progress}"),
        format!(
            "  rate     {rate:.0} req/s in the last second, {} requests so far",
            s.requests
        ),
        format!("  latency  {latency}"),
        format!(
            "  errors   {}  |  connections open {}",
            errors.join(", "),
            s.open
        ),
    ]
}
