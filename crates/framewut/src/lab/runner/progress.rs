//! Progress while a matrix runs: on a terminal, one line on standard error,
//! redrawn in place, with the current cell, its phase and the time left;
//! otherwise a plain line as each cell starts. Results rows go to standard
//! output either way.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::format::minutes;

#[derive(Debug)]
struct State {
    total: usize,
    index: usize,
    id: String,
    phase: String,
    cell_started: Instant,
    cell_estimate: Duration,
    /// Estimated time of the cells after the current one.
    after: Duration,
    /// Whether the line is on screen now.
    drawn: bool,
}

/// The progress display.
#[derive(Debug)]
pub struct Progress {
    tty: bool,
    state: Arc<Mutex<State>>,
    done: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl State {
    fn line(&self) -> String {
        let left = self
            .cell_estimate
            .saturating_sub(self.cell_started.elapsed())
            + self.after;
        let share =
            self.cell_started.elapsed().as_secs_f64() / self.cell_estimate.as_secs_f64().max(0.1);
        let width = 20;
        let filled = (((self.index as f64 + share.min(1.0)) / self.total.max(1) as f64)
            * width as f64) as usize;
        format!(
            "[{}{}] {}/{} {}: {} | about {} left",
            "#".repeat(filled.min(width)),
            "-".repeat(width - filled.min(width)),
            self.index + 1,
            self.total,
            self.id,
            self.phase,
            minutes(left)
        )
    }
}

fn draw(state: &mut State) {
    let mut err = std::io::stderr().lock();
    let columns = framewut_sys::stderr_columns().unwrap_or(usize::MAX);
    let _ = write!(
        err,
        "\r\x1b[2K{}",
        framewut_sys::fit(&state.line(), columns)
    );
    let _ = err.flush();
    state.drawn = true;
}

fn clear(state: &mut State) {
    if state.drawn {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
        state.drawn = false;
    }
}

impl Progress {
    /// A display for `total` cells; redrawn four times a second on a terminal.
    pub fn new(total: usize) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let state = Arc::new(Mutex::new(State {
            total,
            index: 0,
            id: String::new(),
            phase: String::new(),
            cell_started: Instant::now(),
            cell_estimate: Duration::ZERO,
            after: Duration::ZERO,
            drawn: false,
        }));
        let done = Arc::new(AtomicBool::new(false));
        let ticker = tty.then(|| {
            let state = Arc::clone(&state);
            let done = Arc::clone(&done);
            std::thread::Builder::new()
                .name("framewut-progress".into())
                .spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(250));
                        let mut s = state.lock().expect("progress lock");
                        if s.drawn {
                            draw(&mut s);
                        }
                    }
                })
                .expect("spawning the progress ticker")
        });
        Progress {
            tty,
            state,
            done,
            ticker,
        }
    }

    /// A cell starts: its place, id, estimated time and the time of the cells after it.
    pub fn cell(&self, index: usize, id: &str, estimate: Duration, after: Duration) {
        let mut s = self.state.lock().expect("progress lock");
        s.index = index;
        s.id = id.to_string();
        s.phase = "starting".into();
        s.cell_started = Instant::now();
        s.cell_estimate = estimate;
        s.after = after;
        if self.tty {
            draw(&mut s);
        } else {
            eprintln!(
                "framewut: [{}/{}] {id} (about {} left)",
                index + 1,
                s.total,
                minutes(estimate + after)
            );
        }
    }

    /// The current cell moves on to another phase (`warming up`, `trial 2/3`, ...).
    pub fn phase(&self, phase: &str) {
        let mut s = self.state.lock().expect("progress lock");
        s.phase = phase.to_string();
        if self.tty {
            draw(&mut s);
        }
    }

    /// Prints a line on standard output (a table row) without garbling the progress line.
    pub fn println(&self, line: &str) {
        let mut s = self.state.lock().expect("progress lock");
        let drawn = s.drawn;
        clear(&mut s);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        if drawn {
            draw(&mut s);
        }
    }

    /// Prints a warning on standard error without garbling the progress line.
    pub fn warn(&self, line: &str) {
        let mut s = self.state.lock().expect("progress lock");
        let drawn = s.drawn;
        clear(&mut s);
        eprintln!("{line}");
        if drawn {
            draw(&mut s);
        }
    }

    /// Takes the progress line off the screen for good.
    pub fn finish(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        clear(&mut self.state.lock().expect("progress lock"));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
