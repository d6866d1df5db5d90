//! Where a cell's time went, from the trials' per-CPU figures: which CPU set
//! was saturated and by what (its own work, steal, other processes), or
//! that neither was and the cell was held by its round trips. Unlike the
//! ceilings, this is measured, not predicted: it names the resource that
//! held a cell the model could not explain.

use serde::{Deserialize, Serialize};

/// A CPU set at least this busy (steal included) was saturated.
pub const SATURATED: f64 = 0.9;
/// Steal or other processes taking at least this share of a set's time are
/// named as a cause.
pub const MATTERS: f64 = 0.1;
/// A set whose own work took at least this share of it wanted its CPUs: a
/// saturated set shared with other processes or the hypervisor then lost
/// time the cell needed. Below it, the cell's work hardly delays a
/// sleeper's wake-up there, so a late one is the machine's doing
/// ([`crate::lab::measure::wakeups`]).
pub const COMPETING: f64 = 0.25;
/// A sleeper woken this late on average, in microseconds, on a set the cell
/// kept less than [`COMPETING`] busy, was held by something else on the
/// machine: a quiet machine's are about 0.1 ms late, and beside three busy
/// loops on each CPU up to 2 ms on average over a trial.
pub const LATE_US: f64 = 500.0;

/// How one CPU set spent the trials, as shares of its time (1.0 = every
/// core of the set for the whole window).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SetUse {
    /// Everything but idle and iowait, steal included.
    pub busy: f64,
    pub user: f64,
    pub system: f64,
    /// Interrupts and softirqs: mostly the loopback path's packets.
    pub interrupts: f64,
    /// Time the hypervisor gave another guest.
    pub steal: f64,
    /// User and system time of processes other than the measured ones.
    pub other: f64,
}

/// Both CPU sets over a cell's trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub server: SetUse,
    pub generator: SetUse,
}

/// What held a cell, as measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// The server's CPUs were saturated by the stack's own work and the
    /// kernel's work for it.
    ServerCpus,
    /// The load generator's CPUs were saturated by its own work.
    GeneratorCpus,
    /// A saturated set lost a share of its time to the hypervisor.
    Steal,
    /// A saturated set lost a share of its time to other processes.
    OtherProcesses,
    /// Neither set was saturated: each request's round trip (wake-ups, the
    /// loopback path, waiting on the other side) held the rate.
    RoundTrips,
}

/// The measured verdict: what held the cell, and the figures in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    pub by: Resource,
    /// `server CPUs 97% busy (user 41%, system 33%, interrupts 21%, steal 2%)`.
    pub words: String,
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

impl SetUse {
    /// `97% busy (user 41%, system 33%, interrupts 21%, steal 2%, other processes 1%)`.
    fn words(&self) -> String {
        let mut parts = vec![
            format!("user {}", pct(self.user)),
            format!("system {}", pct(self.system)),
            format!("interrupts {}", pct(self.interrupts)),
        ];
        if self.steal >= 0.005 {
            parts.push(format!("steal {}", pct(self.steal)));
        }
        if self.other >= 0.005 {
            parts.push(format!("other processes {}", pct(self.other)));
        }
        format!("{} busy ({})", pct(self.busy), parts.join(", "))
    }

    /// The share of the set's time the measured work itself took: busy, less
    /// steal and other processes.
    pub fn own(&self) -> f64 {
        self.busy - self.steal - self.other
    }

    /// What saturated this set, when it was: steal or other processes when
    /// they took a share that matters, else the measured work itself.
    pub fn saturated_by(&self, own: Resource) -> Option<Resource> {
        if self.busy < SATURATED {
            None
        } else if self.steal >= MATTERS {
            Some(Resource::Steal)
        } else if self.other >= MATTERS {
            Some(Resource::OtherProcesses)
        } else {
            Some(own)
        }
    }
}

impl Usage {
    /// What held the cell: the busier saturated set and what saturated it,
    /// or the round trips when neither set was saturated.
    pub fn held(&self) -> Held {
        let server = format!("server CPUs {}", self.server.words());
        let generator = format!("generator CPUs {}", self.generator.words());
        let both = format!("{server}; {generator}");
        let on_server = self.server.saturated_by(Resource::ServerCpus);
        let on_generator = self.generator.saturated_by(Resource::GeneratorCpus);
        let by = match (on_server, on_generator) {
            // Both saturated: the set the cell's own work filled is the one
            // that held it; the other was filled by something else.
            (Some(_), Some(g)) if self.generator.own() > self.server.own() => g,
            (Some(s), Some(_)) => s,
            (Some(s), None) => s,
            (None, Some(g)) => g,
            (None, None) => Resource::RoundTrips,
        };
        Held { by, words: both }
    }
}

impl Resource {
    /// A phrase for sentences: `the server's CPUs`, `steal`, ...
    pub fn words(self) -> &'static str {
        match self {
            Resource::ServerCpus => "the server's CPUs",
            Resource::GeneratorCpus => "the load generator's CPUs",
            Resource::Steal => "steal (the hypervisor running another guest)",
            Resource::OtherProcesses => "other processes on the same CPUs",
            Resource::RoundTrips => "the round trips (neither CPU set was saturated)",
        }
    }

    /// A word for narrow tables.
    pub fn short(self) -> &'static str {
        match self {
            Resource::ServerCpus => "srv",
            Resource::GeneratorCpus => "gen",
            Resource::Steal => "steal",
            Resource::OtherProcesses => "other",
            Resource::RoundTrips => "rtt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(busy: f64, steal: f64, other: f64) -> SetUse {
        SetUse {
            busy,
            user: busy * 0.4,
            system: busy * 0.3,
            interrupts: busy * 0.2,
            steal,
            other,
        }
    }

    #[test]
    fn names_the_saturated_set_and_what_saturated_it() {
        let quiet = set(0.5, 0.0, 0.0);
        let held = |server, generator| Usage { server, generator }.held().by;
        assert_eq!(held(set(0.98, 0.0, 0.0), quiet), Resource::ServerCpus);
        assert_eq!(held(quiet, set(0.97, 0.0, 0.0)), Resource::GeneratorCpus);
        assert_eq!(held(quiet, set(0.99, 0.0, 0.45)), Resource::OtherProcesses);
        assert_eq!(held(set(0.95, 0.2, 0.0), quiet), Resource::Steal);
        assert_eq!(held(quiet, quiet), Resource::RoundTrips);
        assert_eq!(
            held(set(0.99, 0.0, 0.0), set(0.99, 0.0, 0.85)),
            Resource::ServerCpus,
            "both saturated: the set the cell's own work filled held it"
        );
        assert_eq!(
            held(set(0.95, 0.0, 0.6), set(0.99, 0.0, 0.1)),
            Resource::OtherProcesses,
            "the generator's own work filled its set, the server's held by others"
        );
    }

    #[test]
    fn says_where_the_time_went_in_words() {
        let usage = Usage {
            server: set(0.97, 0.02, 0.0),
            generator: set(0.6, 0.0, 0.3),
        };
        let words = usage.held().words;
        assert!(
            words.starts_with("server CPUs 97% busy (user 39%"),
            "{words}"
        );
        assert!(words.contains("steal 2%"), "{words}");
        assert!(words.contains("generator CPUs 60% busy"), "{words}");
        assert!(words.contains("other processes 30%"), "{words}");
    }
}
