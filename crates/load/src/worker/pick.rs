//! Which entry of a request list each request sends, in the plan's
//! [`TargetOrder`]: a cycle per thread, a cycle per connection, or a
//! seeded PRNG of its own.

use crate::TargetOrder;

/// One thread's choice of entries.
pub(super) struct Picker {
    /// The request list's length.
    entries: u64,
    order: TargetOrder,
    /// The round-robin cycle's position.
    cycle: u64,
    /// The random order's PRNG state (xorshift64*).
    rng: u64,
}

impl Picker {
    /// A picker over `entries` entries whose round-robin cycle starts at `first`.
    pub fn new(entries: usize, order: TargetOrder, first: u64) -> Picker {
        Picker {
            entries: entries as u64,
            order,
            cycle: first,
            rng: match order {
                TargetOrder::Random { seed } => splitmix64(seed),
                _ => 1,
            },
        }
    }

    /// The entry the next request sends; `next` is the sending connection's
    /// own position, which the sequential order moves on.
    pub fn pick(&mut self, next: &mut u32) -> u32 {
        let n = self.entries;
        if n == 1 {
            return 0;
        }
        match self.order {
            TargetOrder::RoundRobin => {
                let t = self.cycle % n;
                self.cycle += 1;
                t as u32
            }
            TargetOrder::Sequential => {
                let t = *next;
                *next = ((u64::from(t) + 1) % n) as u32;
                t
            }
            TargetOrder::Random { .. } => {
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
                // The high half of r * n: uniform in 0..n without a division.
                ((u128::from(r) * u128::from(n)) >> 64) as u32
            }
        }
    }
}

/// A well-mixed, non-zero starting state for xorshift from any seed, so
/// that neighbouring seeds (one per thread) start far apart.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` picks for connections that each start at the list's first entry,
    /// taking turns.
    fn picks(picker: &mut Picker, connections: usize, n: usize) -> Vec<u32> {
        let mut next = vec![0; connections];
        (0..n)
            .map(|k| picker.pick(&mut next[k % connections]))
            .collect()
    }

    #[test]
    fn a_single_request_is_always_the_first_entry() {
        for order in [
            TargetOrder::RoundRobin,
            TargetOrder::Sequential,
            TargetOrder::Random { seed: 7 },
        ] {
            let mut picker = Picker::new(1, order, 0);
            assert_eq!(picks(&mut picker, 2, 10), vec![0; 10]);
        }
    }

    #[test]
    fn round_robin_cycles_through_the_list_from_the_threads_first_entry() {
        let mut picker = Picker::new(3, TargetOrder::RoundRobin, 4);
        // Connections share the thread's cycle.
        assert_eq!(picks(&mut picker, 2, 7), [1, 2, 0, 1, 2, 0, 1]);
    }

    #[test]
    fn sequential_runs_the_list_in_order_on_each_connection() {
        let mut picker = Picker::new(3, TargetOrder::Sequential, 4);
        assert_eq!(picks(&mut picker, 2, 8), [0, 0, 1, 1, 2, 2, 0, 0]);
        let mut next = 2;
        assert_eq!(picker.pick(&mut next), 2);
        assert_eq!(next, 0);
    }

    #[test]
    fn random_repeats_its_sequence_from_the_same_seed() {
        let order = TargetOrder::Random { seed: 42 };
        let first = picks(&mut Picker::new(5, order, 0), 3, 1000);
        // Neither the thread's first entry nor the connections change it.
        assert_eq!(first, picks(&mut Picker::new(5, order, 3), 1, 1000));
        let other = picks(
            &mut Picker::new(5, TargetOrder::Random { seed: 43 }, 0),
            3,
            1000,
        );
        assert_ne!(first, other, "neighbouring seeds draw different sequences");
    }

    #[test]
    fn random_spreads_evenly_over_the_list() {
        let mut counts = [0u32; 4];
        let mut picker = Picker::new(4, TargetOrder::Random { seed: 1 }, 0);
        for t in picks(&mut picker, 1, 40_000) {
            counts[t as usize] += 1;
        }
        // Each entry's expected 10,000 has a standard deviation of about 87.
        for (entry, n) in counts.iter().enumerate() {
            assert!((9_500..=10_500).contains(n), "entry {entry}: {counts:?}");
        }
    }

    #[test]
    fn every_seed_gives_the_xorshift_a_nonzero_state() {
        for seed in [0, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15_u64.wrapping_neg()] {
            assert_ne!(splitmix64(seed), 0);
        }
    }
}
