//! The actor's own timer table: one deadline per key (a PPP link, a subscriber's setup, a LAC
//! tunnel's setup), filed in a sorted set so the next deadline is the first element and re-filing
//! a key costs a logarithm, not a scan over every session.
//!
//! Owns: deadlines only. Must not touch: what a key means; the actor decides what firing does.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Deadlines by key; at most one per key.
#[derive(Debug)]
pub(crate) struct Timers<K> {
    queue: BTreeSet<(Instant, K)>,
    filed: HashMap<K, Instant>,
}

impl<K: Copy + Ord + Hash> Default for Timers<K> {
    fn default() -> Self {
        Self {
            queue: BTreeSet::new(),
            filed: HashMap::new(),
        }
    }
}

impl<K: Copy + Ord + Hash> Timers<K> {
    /// Files `key` at `at`, replacing its previous deadline; `None` removes it.
    pub fn set(&mut self, key: K, at: Option<Instant>) {
        match (self.filed.get(&key).copied(), at) {
            (Some(old), Some(new)) if old == new => {}
            (old, new) => {
                if let Some(old) = old {
                    self.queue.remove(&(old, key));
                    self.filed.remove(&key);
                }
                if let Some(new) = new {
                    self.queue.insert((new, key));
                    self.filed.insert(key, new);
                }
            }
        }
    }

    /// Removes `key`.
    pub fn clear(&mut self, key: K) {
        self.set(key, None);
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Removes and returns the keys due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while let Some(&(t, k)) = self.queue.first() {
            if t > now {
                break;
            }
            self.queue.pop_first();
            self.filed.remove(&k);
            due.push(k);
        }
        due
    }

    /// Keys filed.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.filed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refiling_replaces_and_due_keys_come_out_in_order() {
        let t0 = crate::runtime::clock::test_epoch();
        let s = Duration::from_secs;
        let mut t = Timers::default();
        t.set(1u32, Some(t0 + s(5)));
        t.set(2, Some(t0 + s(3)));
        t.set(1, Some(t0 + s(1)));
        t.set(3, Some(t0 + s(9)));
        t.clear(3);
        assert_eq!(t.len(), 2);
        assert_eq!(t.next(), Some(t0 + s(1)));
        assert_eq!(t.take_due(t0 + s(4)), vec![1, 2]);
        assert_eq!(t.next(), None);
        t.set(4, Some(t0));
        t.set(4, None);
        assert!(t.take_due(t0 + s(100)).is_empty());
    }
}
