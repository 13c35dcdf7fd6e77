//! First-fit decreasing over an ordered list of bins, in O(n log n), for the re-plan and for
//! measuring the planner against the classic heuristic.
//!
//! Owns: the packing arithmetic on plain numbers. Must not touch: the admin table.

/// A bin as the packer sees it: room left and session slots left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackBin {
    /// Bandwidth still free, bit/s.
    pub room_bps: u64,
    /// Session slots still free.
    pub slots: u32,
}

/// Result of [`first_fit_decreasing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfdResult {
    /// For each item (in the caller's order): the bin it went to. Indexes `0..bins.len()` are the
    /// given bins; `bins.len() + k` is the k-th fresh bin. `None` when it fits nowhere.
    pub assignment: Vec<Option<usize>>,
    /// Given bins that received at least one item.
    pub given_used: Vec<bool>,
    /// Fresh bins opened.
    pub fresh_used: usize,
}

/// First-fit decreasing: items taken largest first (ties by position), each into the first bin in
/// order that has room and a slot; the given `bins` come first, then up to `max_fresh` fresh bins
/// like `fresh`. Fresh bins are identical and opened left to right, which is exactly "open a new bin
/// only when none fits". A max-segment tree over the bins finds the first fit in O(log bins).
pub fn first_fit_decreasing(
    items: &[u64],
    bins: &[PackBin],
    fresh: PackBin,
    max_fresh: usize,
) -> FfdResult {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].cmp(&items[a]).then(a.cmp(&b)));
    let fresh_count = max_fresh.min(items.len());
    let mut tree = FirstFitTree::new(
        bins.iter()
            .copied()
            .chain(std::iter::repeat_n(fresh, fresh_count)),
    );
    let mut assignment = vec![None; items.len()];
    let mut given_used = vec![false; bins.len()];
    let mut fresh_used = 0;
    for i in order {
        if let Some(b) = tree.first_fit(items[i]) {
            tree.take(b, items[i]);
            assignment[i] = Some(b);
            if b < bins.len() {
                given_used[b] = true;
            } else {
                fresh_used = fresh_used.max(b - bins.len() + 1);
            }
        }
    }
    FfdResult {
        assignment,
        given_used,
        fresh_used,
    }
}

/// Leaves hold `room + 1` when the bin has a slot and 0 otherwise, so "fits a level w" is
/// "leaf >= w + 1" and a slotless bin never fits, not even a zero level.
struct FirstFitTree {
    size: usize,
    node: Vec<u64>,
    slots: Vec<u32>,
    room: Vec<u64>,
}

impl FirstFitTree {
    fn new(bins: impl Iterator<Item = PackBin>) -> Self {
        let bins: Vec<PackBin> = bins.collect();
        let size = bins.len().next_power_of_two().max(1);
        let mut node = vec![0u64; 2 * size];
        let mut slots = vec![0u32; size];
        let mut room = vec![0u64; size];
        for (i, b) in bins.iter().enumerate() {
            slots[i] = b.slots;
            room[i] = b.room_bps;
            node[size + i] = Self::key(b.room_bps, b.slots);
        }
        for i in (1..size).rev() {
            node[i] = node[2 * i].max(node[2 * i + 1]);
        }
        Self {
            size,
            node,
            slots,
            room,
        }
    }

    fn key(room: u64, slots: u32) -> u64 {
        if slots == 0 {
            0
        } else {
            room.saturating_add(1)
        }
    }

    fn first_fit(&self, level: u64) -> Option<usize> {
        let want = level.saturating_add(1);
        if self.node[1] < want {
            return None;
        }
        let mut i = 1;
        while i < self.size {
            i = if self.node[2 * i] >= want {
                2 * i
            } else {
                2 * i + 1
            };
        }
        Some(i - self.size)
    }

    fn take(&mut self, bin: usize, level: u64) {
        self.room[bin] -= level;
        self.slots[bin] -= 1;
        let mut i = self.size + bin;
        self.node[i] = Self::key(self.room[bin], self.slots[bin]);
        while i > 1 {
            i /= 2;
            self.node[i] = self.node[2 * i].max(self.node[2 * i + 1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook O(n * bins) first-fit decreasing, to check the tree against.
    fn naive(
        items: &[u64],
        bins: &[PackBin],
        fresh: PackBin,
        max_fresh: usize,
    ) -> Vec<Option<usize>> {
        let mut all: Vec<PackBin> = bins.to_vec();
        all.extend(std::iter::repeat_n(fresh, max_fresh.min(items.len())));
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| items[b].cmp(&items[a]).then(a.cmp(&b)));
        let mut out = vec![None; items.len()];
        for i in order {
            if let Some(b) = all
                .iter()
                .position(|b| b.slots > 0 && b.room_bps >= items[i])
            {
                all[b].room_bps -= items[i];
                all[b].slots -= 1;
                out[i] = Some(b);
            }
        }
        out
    }

    #[test]
    fn matches_the_naive_algorithm() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        for _ in 0..500 {
            let items: Vec<u64> = (0..rng.random_range(0..40))
                .map(|_| rng.random_range(0..=12))
                .collect();
            let bins: Vec<PackBin> = (0..rng.random_range(0..6))
                .map(|_| PackBin {
                    room_bps: rng.random_range(0..=10),
                    slots: rng.random_range(0..4),
                })
                .collect();
            let fresh = PackBin {
                room_bps: 10,
                slots: 3,
            };
            let max_fresh = rng.random_range(0..30);
            let got = first_fit_decreasing(&items, &bins, fresh, max_fresh);
            assert_eq!(got.assignment, naive(&items, &bins, fresh, max_fresh));
        }
    }

    #[test]
    fn opens_fresh_bins_only_when_needed() {
        let r = first_fit_decreasing(
            &[6, 6, 4, 4],
            &[],
            PackBin {
                room_bps: 10,
                slots: 10,
            },
            10,
        );
        assert_eq!(r.fresh_used, 2);
        assert_eq!(r.assignment, vec![Some(0), Some(1), Some(0), Some(1)]);
    }
}
