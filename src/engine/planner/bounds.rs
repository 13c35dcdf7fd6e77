//! Lower bounds on the number of tunnels a set of sessions needs, for `ctl plan` and for judging the
//! planner: L1 (the continuous bound) and the Martello-Toth L2 bound for one-dimensional bin packing
//! (S. Martello and P. Toth, "Lower bounds and reduction procedures for the bin packing problem",
//! Discrete Applied Mathematics 28, 1990).
//!
//! Owns: arithmetic on slices of service levels. Must not touch: the admin table.

/// L1 = ceil(sum of levels / capacity). Zero for no items; `capacity` must be positive.
pub fn l1(levels: &[u64], capacity: u64) -> u64 {
    let sum: u128 = levels.iter().map(|&w| u128::from(w)).sum();
    div_ceil(sum, u128::from(capacity.max(1)))
}

/// Martello-Toth L2. For a threshold K with 0 <= K <= C/2, split the items into
/// N1 = {w > C-K}, N2 = {C-K >= w > C/2}, N3 = {C/2 >= w >= K}; then
/// L(K) = |N1| + |N2| + max(0, ceil((sum(N3) - (|N2| C - sum(N2))) / C)) and L2 = max over K.
/// Items of N1 and N2 each need a bin of their own; N3 items can only use what N2 bins leave free, or
/// new bins. L(K) only changes where K crosses an item size, and for a fixed N3 a larger K only grows
/// N1 at N2's expense (which shrinks the space credited to N2 bins), so it suffices to try K = 0 and
/// K = each distinct item size <= C/2. Items larger than `capacity` count one bin each.
/// Runs in O(n log n).
pub fn l2(levels: &[u64], capacity: u64) -> u64 {
    let c = u128::from(capacity.max(1));
    let mut w: Vec<u128> = levels.iter().map(|&x| u128::from(x)).collect();
    w.sort_unstable();
    let n = w.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0u128);
    for &x in &w {
        prefix.push(prefix.last().copied().unwrap_or(0) + x);
    }
    // Index of the first item with 2w > C (the "large" items).
    let first_large = w.partition_point(|&x| 2 * x <= c);
    let large = (n - first_large) as u128;
    let mut best = large;
    let mut candidates: Vec<u128> = vec![0];
    candidates.extend(w[..first_large].iter().copied());
    candidates.dedup();
    for k in candidates {
        // N3: K <= w and 2w <= C.
        let n3_start = w.partition_point(|&x| x < k);
        let n3_sum = prefix[first_large] - prefix[n3_start.min(first_large)];
        // N2: C/2 < w <= C-K.
        let n2_end = w.partition_point(|&x| x <= c.saturating_sub(k));
        let n2_end = n2_end.max(first_large);
        let n2_count = (n2_end - first_large) as u128;
        let n2_sum = prefix[n2_end] - prefix[first_large];
        let n2_room = (n2_count * c).saturating_sub(n2_sum);
        let extra = div_ceil(n3_sum.saturating_sub(n2_room), c);
        best = best.max(large + u128::from(extra));
    }
    u64::try_from(best).unwrap_or(u64::MAX)
}

/// The bound that the session limit of a tunnel imposes: ceil(n / max_sessions).
pub fn by_count(sessions: usize, max_sessions: u32) -> u64 {
    div_ceil(sessions as u128, u128::from(max_sessions.max(1)))
}

fn div_ceil(a: u128, b: u128) -> u64 {
    u64::try_from(a.div_ceil(b)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_rounds_up() {
        assert_eq!(l1(&[], 10), 0);
        assert_eq!(l1(&[5, 5], 10), 1);
        assert_eq!(l1(&[5, 6], 10), 2);
    }

    #[test]
    fn l2_beats_l1_on_large_items() {
        // Three items just over half: no two share a bin, L1 says 2.
        let items = [6, 6, 6];
        assert_eq!(l1(&items, 10), 2);
        assert_eq!(l2(&items, 10), 3);
    }

    #[test]
    fn l2_counts_small_items_in_leftover_room() {
        // Two bins hold 6 each; the 4s fit in their leftover room; then 3 more units need a bin.
        assert_eq!(l2(&[6, 6, 4, 4, 3], 10), 3);
        assert_eq!(l2(&[6, 6, 4, 4], 10), 2);
    }

    #[test]
    fn l2_classic_example() {
        // Martello-Toth: with K = 3, items 3,3,3 and 7,7,7 (C = 10): 3 bins.
        assert_eq!(l2(&[7, 7, 7, 3, 3, 3], 10), 3);
        // K excludes tiny items that cannot share a bin with a 9: 9,9 and three 2s need 3 bins.
        assert_eq!(l2(&[9, 9, 2, 2, 2], 10), 3);
    }

    /// Exhaustive optimum for tiny instances, to check L2 never exceeds it.
    fn optimum(items: &[u64], c: u64) -> u64 {
        fn go(i: usize, items: &[u64], bins: &mut Vec<u64>, c: u64, best: &mut usize) {
            if bins.len() >= *best {
                return;
            }
            if i == items.len() {
                *best = bins.len();
                return;
            }
            for b in 0..bins.len() {
                if bins[b] + items[i] <= c {
                    bins[b] += items[i];
                    go(i + 1, items, bins, c, best);
                    bins[b] -= items[i];
                }
            }
            bins.push(items[i]);
            go(i + 1, items, bins, c, best);
            bins.pop();
        }
        let mut sorted = items.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let mut best = usize::MAX;
        go(0, &sorted, &mut Vec::new(), c, &mut best);
        if items.is_empty() { 0 } else { best as u64 }
    }

    #[test]
    fn bounds_never_exceed_the_optimum() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let n = rng.random_range(0..9);
            let items: Vec<u64> = (0..n).map(|_| rng.random_range(1..=10)).collect();
            let opt = optimum(&items, 10);
            let b1 = l1(&items, 10);
            let b2 = l2(&items, 10);
            assert!(b1 <= b2, "L1 {b1} > L2 {b2} for {items:?}");
            assert!(b2 <= opt, "L2 {b2} > optimum {opt} for {items:?}");
        }
    }
}
