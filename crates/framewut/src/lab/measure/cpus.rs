//! Placement: which cores the server and the load generator get.
//!
//! On a small machine the generator and the server fight for cores unless
//! they are kept apart, and then a number says as much about the generator as
//! about the server. The default placement gives them disjoint halves of the
//! CPUs this process may use (on 2 cores: server on CPU 0, generator on CPU 1).

use serde::{Deserialize, Serialize};

pub use framewut_sys::CpuSet;

/// Where the placement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementOrigin {
    /// Disjoint halves of the allowed CPUs, chosen by framewut.
    Default,
    /// The matrix file's `[placement]` table.
    Matrix,
    /// `--server-cpus` / `--load-cpus`.
    Flags,
}

/// The CPUs the server (and everything it starts) and the load generator run on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub server_cpus: CpuSet,
    pub load_cpus: CpuSet,
    pub origin: PlacementOrigin,
}

impl Placement {
    /// Disjoint halves of `allowed`, the server taking the lower half; with a
    /// single CPU both must share it.
    pub fn halves(allowed: &CpuSet) -> Placement {
        let cpus = allowed.cpus();
        let (server, load) = if cpus.len() < 2 {
            (cpus.to_vec(), cpus.to_vec())
        } else {
            let half = cpus.len() / 2;
            (cpus[..half].to_vec(), cpus[half..].to_vec())
        };
        Placement {
            server_cpus: CpuSet::new(server).expect("a half of a non-empty set"),
            load_cpus: CpuSet::new(load).expect("a half of a non-empty set"),
            origin: PlacementOrigin::Default,
        }
    }

    /// The CPUs of what the lab starts to serve the server: the upstream
    /// stand-in and its own PostgreSQL. They share the server's CPUs, as a
    /// real database and upstream on a shared host would compete with it,
    /// and stay off the generator's, whose time must be the generator's.
    pub fn services_cpus(&self) -> &CpuSet {
        &self.server_cpus
    }

    /// Whether the server and the generator share any core.
    pub fn shared(&self) -> bool {
        self.server_cpus.overlaps(&self.load_cpus)
    }

    /// A warning to print when they share cores, with advice.
    pub fn warning(&self) -> Option<String> {
        self.shared().then(|| {
            format!(
                "warning: the server (CPUs {}) and the load generator (CPUs {}) share cores, so they compete \
                 and the numbers say less about the server; give them disjoint sets with --server-cpus and --load-cpus",
                self.server_cpus, self.load_cpus
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_placement_splits_the_machine_in_halves() {
        let two = Placement::halves(&"0-1".parse().unwrap());
        assert_eq!(
            (two.server_cpus.cpus(), two.load_cpus.cpus()),
            (&[0][..], &[1][..])
        );
        assert!(!two.shared() && two.warning().is_none());
        let eight = Placement::halves(&"0-7".parse().unwrap());
        assert_eq!(eight.server_cpus.to_string(), "0-3");
        assert_eq!(eight.load_cpus.to_string(), "4-7");
        let one = Placement::halves(&"3".parse().unwrap());
        assert!(one.shared());
        assert!(one.warning().unwrap().contains("--server-cpus"));
    }
}
