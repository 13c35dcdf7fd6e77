//! A bounded breadth-first search for a sequence of live moves that empties a tunnel, for the case
//! the re-plan's first-fit-decreasing target cannot be approached directly: its swaps need staging
//! room that no tunnel has, and no buffer tunnel can be opened (every line of the class is full).
//! Moving small sessions around can still gather enough free room in one tunnel to start the swap
//! (e.g. free rooms 3, 3, 1, 3 where every blocked session needs 4 or more), which the direct
//! method does not see.
//!
//! Owns: arithmetic on plain numbers (rooms, slots, levels). Must not touch: the admin table.

use std::collections::{HashMap, VecDeque};

/// One tunnel as the search sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchBin {
    /// Room for movable sessions: capacity less what cannot move (bit/s).
    pub room: u64,
    /// Slots for movable sessions.
    pub slots: u32,
    /// Holds sessions that cannot move (so it stays in use whatever the search does).
    pub pinned: bool,
}

/// A move as the search records it: (level, from bin, to bin).
type Step = (u64, u8, u8);

/// Largest group the search runs on, in movable sessions and in tunnels; larger groups have the
/// room to stage swaps in practice, and the search would cost too much.
pub(crate) const MAX_ITEMS: usize = 32;
pub(crate) const MAX_BINS: usize = 16;
/// Most states the search visits before giving up.
pub(crate) const MAX_STATES: usize = 20_000;

/// Searches for the shortest sequence of make-before-break moves (each move needs room and a slot
/// in its target while the session still holds its old place) after which at most `goal` tunnels
/// are in use. `items` are the movable sessions as (level, current bin). Returns the first move of
/// such a sequence as (item index, target bin), or `None` when there is none within the limits
/// (or the goal already holds).
pub(crate) fn first_move_toward(
    bins: &[SearchBin],
    items: &[(u64, usize)],
    goal: usize,
) -> Option<(usize, usize)> {
    if items.is_empty() || items.len() > MAX_ITEMS || bins.len() > MAX_BINS {
        return None;
    }
    // Sessions of equal level are interchangeable: order items by level so a state can be
    // canonicalised by sorting the bins within each run of equal levels.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        items[b]
            .0
            .cmp(&items[a].0)
            .then(items[a].1.cmp(&items[b].1))
    });
    let levels: Vec<u64> = order.iter().map(|&i| items[i].0).collect();
    let runs: Vec<(usize, usize)> = {
        let mut runs = Vec::new();
        let mut start = 0;
        for k in 1..=levels.len() {
            if k == levels.len() || levels[k] != levels[start] {
                runs.push((start, k));
                start = k;
            }
        }
        runs
    };
    let canon = |s: &mut Vec<u8>| {
        for &(a, b) in &runs {
            s[a..b].sort_unstable();
        }
    };
    let in_use = |s: &[u8]| {
        let mut used = vec![false; bins.len()];
        for (b, u) in bins.iter().zip(used.iter_mut()) {
            *u = b.pinned;
        }
        for &b in s {
            used[b as usize] = true;
        }
        used.iter().filter(|&&u| u).count()
    };
    let mut start: Vec<u8> = order.iter().map(|&i| items[i].1 as u8).collect();
    canon(&mut start);
    if in_use(&start) <= goal {
        return None;
    }
    // Parent links: state -> (parent state index, (level, from, to) of the move into it).
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut states: Vec<(Vec<u8>, usize, Step)> = Vec::new();
    seen.insert(start.clone(), 0);
    states.push((start, usize::MAX, (0, 0, 0)));
    let mut queue = VecDeque::from([0usize]);
    let mut load = vec![0u64; bins.len()];
    let mut count = vec![0u32; bins.len()];
    while let Some(at) = queue.pop_front() {
        let s = states[at].0.clone();
        load.iter_mut().for_each(|x| *x = 0);
        count.iter_mut().for_each(|x| *x = 0);
        for (k, &b) in s.iter().enumerate() {
            load[b as usize] += levels[k];
            count[b as usize] += 1;
        }
        for k in 0..s.len() {
            // One representative per run and bin: moving either of two equal sessions sharing a
            // bin gives the same canonical state.
            if k > 0 && levels[k - 1] == levels[k] && s[k - 1] == s[k] {
                continue;
            }
            let from = s[k];
            for (to, bin) in bins.iter().enumerate() {
                if to == from as usize || count[to] >= bin.slots || load[to] + levels[k] > bin.room
                {
                    continue;
                }
                let mut next = s.clone();
                next[k] = to as u8;
                canon(&mut next);
                if seen.contains_key(&next) {
                    continue;
                }
                let done = in_use(&next) <= goal;
                let idx = states.len();
                seen.insert(next.clone(), idx);
                states.push((next, at, (levels[k], from, to as u8)));
                if done {
                    let mut i = idx;
                    while states[i].1 != 0 {
                        i = states[i].1;
                    }
                    let (level, from, to) = states[i].2;
                    let item = (0..items.len())
                        .find(|&j| items[j].0 == level && items[j].1 == from as usize)?;
                    return Some((item, to as usize));
                }
                if states.len() >= MAX_STATES {
                    return None;
                }
                queue.push_back(idx);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(room: u64, slots: u32, pinned: bool) -> SearchBin {
        SearchBin {
            room,
            slots,
            pinned,
        }
    }

    /// Free rooms 3, 3, 1, 3 and every session that must move to empty a tunnel needs at least 4:
    /// moving a 1 first gathers the room (found by the property test's random tables).
    #[test]
    fn gathers_room_with_small_sessions_first() {
        // Tunnels: A [1c, 6c], B [2n | 4c, 1c], C [3n | 5c, 1c], D [7c]; capacity 10, 6 slots.
        let bins = [
            bin(10, 6, false),
            bin(8, 5, true),
            bin(7, 5, true),
            bin(10, 6, false),
        ];
        let items = [(1, 0), (6, 0), (4, 1), (1, 1), (5, 2), (1, 2), (7, 3)];
        let (item, to) = first_move_toward(&bins, &items, 3).unwrap();
        assert_eq!(items[item].0, 1, "a small session moves first");
        assert_ne!(items[item].1, to);
    }

    /// Every session needs 5 and no tunnel has more than 4 free: nothing can move.
    #[test]
    fn frozen_table_has_no_path() {
        let bins = [
            bin(7, 5, true),
            bin(0, 4, true),
            bin(9, 5, true),
            bin(10, 6, false),
            bin(10, 6, false),
        ];
        let items = [(5, 0), (5, 2), (6, 3), (6, 4)];
        assert_eq!(first_move_toward(&bins, &items, 4), None);
    }

    #[test]
    fn nothing_to_do_when_the_goal_holds() {
        let bins = [bin(10, 6, false), bin(10, 6, false)];
        assert_eq!(first_move_toward(&bins, &[(5, 0)], 1), None);
        assert_eq!(first_move_toward(&bins, &[(5, 0), (5, 1)], 1), Some((0, 1)));
    }
}
