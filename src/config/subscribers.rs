//! The subscriber table: explicit subscribers (from the main file and the subscribers file) and
//! generated ranges (`user1` .. `user100000`), looked up by login name.
//!
//! A range never materialises its names: a lookup strips the prefix and suffix and parses the
//! number, so 100,000 demo logins cost one small struct. Explicit names sit in a hash map.
//! Validation guarantees that no name belongs to two entries, so a lookup has one answer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::model::{DisconnectConditions, PlanId, PoolId};
use super::secret::Secret;

/// How a subscriber gets its IPv4 address at the LNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressAssignment {
    /// Always this address.
    Static(Ipv4Addr),
    /// From this pool (named, or chosen by realm, or the default pool).
    Pool(PoolId),
    /// No pool applies (or the LNS role is off in this configuration): an LNS refuses the
    /// session with a clear cause.
    Unassigned,
}

/// A subscriber's contract (seed 000 claims 1, 17, 18).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Contract {
    /// The paying account; `None` means the subscriber's own name (see [`SubscriberRef::account`]).
    pub account: Option<Arc<str>>,
    /// Subscribes to the consolidation service: only such sessions are ever moved.
    pub consolidation: bool,
    /// Has the supplementary contract: carried on its account's private line.
    pub supplementary: bool,
    /// Communication plan, if any.
    pub plan: Option<PlanId>,
}

/// Everything about a subscriber except its name and secret; shared by all subscribers of a
/// range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberSettings {
    /// Realm (lowercase) for peer and pool selection, if any.
    pub realm: Option<String>,
    /// Contracted service level, bit/s: the session's initial allocation.
    pub service_level: u64,
    /// Address assignment.
    pub address: AddressAssignment,
    /// Disconnect conditions (profile with inline overrides applied).
    pub disconnect: Arc<DisconnectConditions>,
    /// Rank for `victim = "order"`: lower is cut first.
    pub disconnect_order: u32,
    /// Contract.
    pub contract: Contract,
}

/// A subscriber listed by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// Login name.
    pub name: Arc<str>,
    /// Secret.
    pub secret: Secret,
    /// Settings.
    pub settings: Arc<SubscriberSettings>,
}

/// Subscribers named `prefix N suffix`, N in `first .. first + count`, N written in decimal
/// without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRange {
    /// Text before the number.
    pub prefix: String,
    /// Text after the number.
    pub suffix: String,
    /// First number.
    pub first: u64,
    /// How many.
    pub count: u64,
    /// The secret they share.
    pub secret: Secret,
    /// The settings they share.
    pub settings: Arc<SubscriberSettings>,
}

impl SubscriberRange {
    /// The number in `name` if `name` belongs to this range.
    pub fn number_of(&self, name: &str) -> Option<u64> {
        let digits = name
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.len() > 1 && digits.starts_with('0') {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        (n >= self.first && n - self.first < self.count).then_some(n)
    }

    /// The name of subscriber number `n`.
    pub fn name(&self, n: u64) -> String {
        format!("{}{n}{}", self.prefix, self.suffix)
    }

    /// The last number in the range.
    pub fn last(&self) -> u64 {
        self.first + (self.count - 1)
    }
}

/// Where a looked-up subscriber is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberSource {
    /// `explicit()[i]`.
    Explicit(usize),
    /// `ranges()[range]`, number `number`.
    Range {
        /// Index into [`SubscriberTable::ranges`].
        range: usize,
        /// The subscriber's number.
        number: u64,
    },
}

/// A subscriber found by [`SubscriberTable::get`].
#[derive(Debug, Clone)]
pub struct SubscriberRef<'a> {
    /// Login name.
    pub name: Cow<'a, str>,
    /// Secret.
    pub secret: &'a Secret,
    /// Settings.
    pub settings: &'a Arc<SubscriberSettings>,
    /// Where it is defined.
    pub source: SubscriberSource,
}

impl SubscriberRef<'_> {
    /// The paying account: the contract's, or the subscriber's own name.
    pub fn account(&self) -> &str {
        self.settings
            .contract
            .account
            .as_deref()
            .unwrap_or(&self.name)
    }
}

/// All subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriberTable {
    explicit: Vec<Subscriber>,
    index: HashMap<Arc<str>, usize>,
    ranges: Vec<SubscriberRange>,
}

impl SubscriberTable {
    /// Builds the table. The validator has checked that names are unique across all entries.
    pub(crate) fn new(explicit: Vec<Subscriber>, ranges: Vec<SubscriberRange>) -> Self {
        let index = explicit
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        SubscriberTable {
            explicit,
            index,
            ranges,
        }
    }

    /// Finds a subscriber by login name: one hash lookup plus one parse per range.
    pub fn get(&self, name: &str) -> Option<SubscriberRef<'_>> {
        if let Some(&i) = self.index.get(name) {
            let s = &self.explicit[i];
            return Some(SubscriberRef {
                name: Cow::Borrowed(&s.name),
                secret: &s.secret,
                settings: &s.settings,
                source: SubscriberSource::Explicit(i),
            });
        }
        self.ranges.iter().enumerate().find_map(|(ri, r)| {
            r.number_of(name).map(|number| SubscriberRef {
                name: Cow::Owned(name.to_owned()),
                secret: &r.secret,
                settings: &r.settings,
                source: SubscriberSource::Range { range: ri, number },
            })
        })
    }

    /// Whether `name` is a subscriber.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Subscribers listed by name, in file order (main file, then the subscribers file).
    pub fn explicit(&self) -> &[Subscriber] {
        &self.explicit
    }

    /// Generated ranges.
    pub fn ranges(&self) -> &[SubscriberRange] {
        &self.ranges
    }

    /// How many subscribers in all, ranges counted in full.
    pub fn len(&self) -> u64 {
        self.explicit.len() as u64 + self.ranges.iter().map(|r| r.count).sum::<u64>()
    }

    /// True when there are no subscribers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every subscriber, ranges generated lazily (for `ctl subscribers` and reload diffs).
    pub fn iter(&self) -> impl Iterator<Item = SubscriberRef<'_>> + '_ {
        let explicit = self
            .explicit
            .iter()
            .enumerate()
            .map(|(i, s)| SubscriberRef {
                name: Cow::Borrowed(&*s.name),
                secret: &s.secret,
                settings: &s.settings,
                source: SubscriberSource::Explicit(i),
            });
        let ranged = self.ranges.iter().enumerate().flat_map(|(ri, r)| {
            (r.first..=r.last()).map(move |number| SubscriberRef {
                name: Cow::Owned(r.name(number)),
                secret: &r.secret,
                settings: &r.settings,
                source: SubscriberSource::Range { range: ri, number },
            })
        });
        explicit.chain(ranged)
    }
}

/// The realm of a login name: the text after the last `@`, lowercased; `None` without one.
pub fn realm_of(name: &str) -> Option<String> {
    name.rsplit_once('@')
        .map(|(_, r)| r.to_ascii_lowercase())
        .filter(|r| !r.is_empty())
}

/// Whether some name belongs to both ranges. Names are `prefix digits suffix` with canonical
/// digits, so two ranges can only share names when one prefix starts the other and one suffix
/// ends the other; then the smaller range is enumerated (validation bounds the work).
pub(crate) fn ranges_overlap(a: &SubscriberRange, b: &SubscriberRange) -> Option<String> {
    if a.prefix == b.prefix && a.suffix == b.suffix {
        let lo = a.first.max(b.first);
        let hi = a.last().min(b.last());
        return (lo <= hi).then(|| a.name(lo));
    }
    let prefixes_nest = a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix);
    let suffixes_nest = a.suffix.ends_with(&b.suffix) || b.suffix.ends_with(&a.suffix);
    if !prefixes_nest || !suffixes_nest {
        return None;
    }
    let (small, big) = if a.count <= b.count { (a, b) } else { (b, a) };
    (small.first..=small.last())
        .map(|n| small.name(n))
        .find(|name| big.number_of(name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Arc<SubscriberSettings> {
        Arc::new(SubscriberSettings {
            realm: None,
            service_level: 1_000_000,
            address: AddressAssignment::Unassigned,
            disconnect: Arc::new(DisconnectConditions::default()),
            disconnect_order: 100,
            contract: Contract {
                account: None,
                consolidation: true,
                supplementary: false,
                plan: None,
            },
        })
    }

    fn range(prefix: &str, suffix: &str, first: u64, count: u64) -> SubscriberRange {
        SubscriberRange {
            prefix: prefix.into(),
            suffix: suffix.into(),
            first,
            count,
            secret: Secret::cleartext_from("demo"),
            settings: settings(),
        }
    }

    #[test]
    fn range_lookup_without_materialising() {
        let table = SubscriberTable::new(
            vec![Subscriber {
                name: "alice@example.net".into(),
                secret: Secret::cleartext_from("x"),
                settings: settings(),
            }],
            vec![range("user", "", 1, 100_000)],
        );
        assert_eq!(table.len(), 100_001);
        let s = table.get("user1").unwrap();
        assert_eq!(
            s.source,
            SubscriberSource::Range {
                range: 0,
                number: 1
            }
        );
        assert_eq!(s.account(), "user1");
        assert!(s.secret.verify_pap(b"demo"));
        assert!(table.get("user100000").is_some());
        assert!(table.get("user100001").is_none());
        assert!(table.get("user0").is_none());
        assert!(table.get("user01").is_none());
        assert!(table.get("user").is_none());
        assert!(table.get("user+5").is_none());
        assert!(table.get("User5").is_none());
        assert!(table.get("user99999999999999999999999").is_none());
        assert_eq!(
            table.get("alice@example.net").unwrap().source,
            SubscriberSource::Explicit(0)
        );
        assert_eq!(table.iter().count(), 100_001);
    }

    #[test]
    fn realms() {
        assert_eq!(realm_of("bob@Example.NET"), Some("example.net".into()));
        assert_eq!(realm_of("a@b@c"), Some("c".into()));
        assert_eq!(realm_of("bob"), None);
        assert_eq!(realm_of("bob@"), None);
    }

    #[test]
    fn overlapping_ranges() {
        assert_eq!(
            ranges_overlap(&range("u", "", 1, 10), &range("u", "", 10, 5)),
            Some("u10".into())
        );
        assert_eq!(
            ranges_overlap(&range("u", "", 1, 10), &range("u", "", 11, 5)),
            None
        );
        // "u15" is number 15 of the first range and number 5 of the second.
        assert_eq!(
            ranges_overlap(&range("u", "", 1, 100), &range("u1", "", 5, 1)),
            Some("u15".into())
        );
        assert_eq!(
            ranges_overlap(&range("u", "@a", 1, 100), &range("u", "@b", 1, 100)),
            None
        );
        assert_eq!(
            ranges_overlap(&range("a", "", 1, 100), &range("b", "", 1, 100)),
            None
        );
    }
}
