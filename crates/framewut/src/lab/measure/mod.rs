//! What the operating system says about the processes the lab starts and
//! the CPUs they run on, and the means to start, confine and stop them:
//! CPU sets and placement, cgroups and process groups, /proc and
//! /proc/stat, the sampler that reads them during a load, a remote
//! server's metrics, system calls and TLS handshakes counted, the machine's
//! description, the guard and the sweep of leftovers, a cell's parts timed
//! alone, its CPU profile, how late a sleeper wakes on its CPUs, and how
//! deep idle CPUs may sleep while a run measures.

pub mod cgroup;
pub mod cpus;
pub mod cpustat;
pub mod environment;
pub mod guard;
pub mod handshake;
pub mod idle;
pub mod leftovers;
pub mod metrics;
pub mod parts;
pub mod process;
pub mod procfs;
pub mod profile;
pub mod sampler;
pub mod syscalls;
pub mod wakeups;
