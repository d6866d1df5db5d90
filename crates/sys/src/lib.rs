//! framewut's operating-system helpers, one copy of each, behind types that
//! check their bounds.
//!
//! The load engine, the built-in stacks and the lab all need the same few
//! system calls: pinning threads and child processes to CPUs, raising the
//! open-file limit, reading CPU time, a thread's timer slack, a timer a
//! poller wakes on to the microsecond, measuring the terminal, and writing
//! a file so that no reader ever sees half of it. Written once here, each gets one set of checks (a
//! [`CpuSet`] can never name a CPU past the kernel's `cpu_set_t`) and one set
//! of tests. Linux only, like framewut.
//!
//! ```
//! use framewut_sys::{atomic_write, CpuSet, CpuTime};
//!
//! let cpus: CpuSet = "0,2,4-5".parse().unwrap();
//! assert_eq!(cpus.cpus(), &[0, 2, 4, 5]);
//! assert_eq!(cpus.to_string(), "0,2,4-5");
//! assert!("5000".parse::<CpuSet>().is_err());
//!
//! framewut_sys::raise_open_file_limit();
//! let path = std::env::temp_dir().join(format!("framewut-sys-doc-{}.txt", std::process::id()));
//! atomic_write(&path, b"whole or nothing\n").unwrap();
//! # std::fs::remove_file(&path).unwrap();
//! let spent = CpuTime::this_thread();
//! assert!(spent.total() >= spent.user);
//! ```

mod cpu_time;
mod cpus;
mod files;
mod terminal;
mod timer;
mod timer_slack;

pub use cpu_time::{process_cpu_clock, thread_cpu_clock, CpuTime};
pub use cpus::{Affinity, CpuSet, CpuSetError};
pub use files::{atomic_write, raise_open_file_limit};
pub use terminal::{fit, stderr_columns, stderr_is_terminal};
pub use timer::Timer;
pub use timer_slack::{set_timer_slack, timer_slack};
