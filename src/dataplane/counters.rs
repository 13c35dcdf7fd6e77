//! Per-session traffic counters: what the data plane writes for every subscriber packet and what the
//! state actor's disconnect engine reads.
//!
//! Owns: [`SessionCounters`] (atomic byte and packet counters and last-activity stamps each way, the
//! same again for traffic with the session's listed servers, and the last activity per matched
//! application service), the time unit of the data path ([`Stamp`], [`StampBase`], [`CoarseClock`])
//! and the [`CounterSnapshot`] the actor copies out. Must not touch: the clock (the runtime ticks
//! [`CoarseClock`]), the session map, the actor's state. Nothing here allocates per packet.
//!
//! # Time on the data path
//! Reading the clock per packet costs more than everything else a packet does here, so the data
//! plane stamps activity with a [`Stamp`]: whole milliseconds since a process-wide base instant,
//! taken from a [`CoarseClock`] that the runtime ticks every few milliseconds. A stamp is therefore
//! at most one tick (plus under one millisecond) older than the packet it records. The engine turns
//! stamps back into instants with the same [`StampBase`]. Stamps count from 1 at the base instant,
//! so that `0` ([`NEVER`]) can mean "no packet yet".
//!
//! # Concurrency
//! Several socket tasks may update one session at once (the subscriber side and the network side run
//! on different threads). Every field is an independent atomic updated with relaxed ordering: the
//! readers only need each value to be monotonic, not a consistent cut across fields. Stamps only move
//! forward (`fetch_max`), and are written only when they change, which with a coarse clock is rarely.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Milliseconds since the process-wide [`StampBase`], plus one; [`NEVER`] (0) means no activity yet.
pub type Stamp = u64;

/// The stamp of "no packet yet".
pub const NEVER: Stamp = 0;

/// How many distinct application services one session tracks at once (condition F). A subscriber
/// rarely talks to more application servers from the table at the same time; past this bound the
/// service whose server would time out last is the one left untracked, and the overflow is counted.
pub const SERVICE_SLOTS: usize = 4;

/// Stamps are stored in 44 bits inside a service slot: 2^44 ms is 557 years of uptime.
const STAMP_BITS: u32 = 44;
const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;
/// The service slot tag: 4 bits of table generation above 16 bits of (service index + 1).
const TAG_SHIFT: u32 = STAMP_BITS;
const GENERATION_MASK: u64 = 0xF;

/// The base instant that [`Stamp`]s count from. Created once by the runtime and shared (it is
/// `Copy`) by the data plane and the engine so both read the same milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampBase {
    base: Instant,
}

impl StampBase {
    /// A stamp base at `base`. Every instant converted later must not be earlier than it; earlier
    /// ones clamp to the first millisecond.
    pub fn new(base: Instant) -> Self {
        Self { base }
    }

    /// The base instant.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// The stamp of `at`, rounded down to the millisecond; never [`NEVER`].
    ///
    /// Rounding down is right for activity (a packet is never recorded later than it happened) and
    /// for comparing "now" with a deadline (a deadline is never reached early).
    pub fn stamp(&self, at: Instant) -> Stamp {
        let ms = crate::runtime::clock::millis(at.saturating_duration_since(self.base));
        ms.saturating_add(1).min(STAMP_MASK)
    }

    /// The stamp of `at`, rounded up to the millisecond; never [`NEVER`]. Deadlines derived from it
    /// never fall before the instant they are meant to follow.
    pub fn stamp_ceil(&self, at: Instant) -> Stamp {
        let since = at.saturating_duration_since(self.base);
        let mut ms = crate::runtime::clock::millis(since);
        if !since.subsec_nanos().is_multiple_of(1_000_000) {
            ms = ms.saturating_add(1);
        }
        ms.saturating_add(1).min(STAMP_MASK)
    }

    /// The instant a stamp stands for (the start of its millisecond). Saturates at the far future
    /// rather than overflowing `Instant`.
    pub fn instant(&self, stamp: Stamp) -> Instant {
        let offset = Duration::from_millis(stamp.saturating_sub(1));
        self.base
            .checked_add(offset)
            .unwrap_or_else(|| self.base + Duration::from_secs(86_400 * 365 * 100))
    }
}

/// A clock the data plane can read per packet for the price of one relaxed atomic load. The runtime
/// calls [`CoarseClock::tick`] periodically (every 1-10 ms is plenty: it is the precision of idle
/// and application-timeout measurements) with the monotonic now; socket tasks call
/// [`CoarseClock::now`].
#[derive(Debug)]
pub struct CoarseClock {
    base: StampBase,
    now: AtomicU64,
}

impl CoarseClock {
    /// A coarse clock counting from `base`, reading the first millisecond until its first tick.
    pub fn new(base: Instant) -> Self {
        Self {
            base: StampBase::new(base),
            now: AtomicU64::new(StampBase::new(base).stamp(base)),
        }
    }

    /// Advances the clock to `now`. It never moves backwards, so a late tick from a slow thread is
    /// harmless.
    pub fn tick(&self, now: Instant) {
        self.now.fetch_max(self.base.stamp(now), Relaxed);
    }

    /// The stamp of the latest tick.
    #[inline]
    pub fn now(&self) -> Stamp {
        self.now.load(Relaxed)
    }

    /// The base the stamps count from; hand it to the engine.
    pub fn base(&self) -> StampBase {
        self.base
    }
}

/// Which way a subscriber packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by the subscriber (upstream; the seed's "transmission", RADIUS Acct-Input).
    FromSubscriber = 0,
    /// Sent to the subscriber (downstream; the seed's "reception", RADIUS Acct-Output).
    ToSubscriber = 1,
}

impl Direction {
    /// Both directions, subscriber side first.
    pub const BOTH: [Direction; 2] = [Direction::FromSubscriber, Direction::ToSubscriber];

    fn index(self) -> usize {
        self as usize
    }
}

/// One direction's counters: exactly one cache line, so that the two directions, usually written
/// by different threads, do not bounce a line between cores, and a packet touches one line only
/// (unless it matches a service).
#[derive(Debug, Default)]
#[repr(align(64))]
struct DirectionCounters {
    bytes: AtomicU64,
    packets: AtomicU64,
    last: AtomicU64,
    listed_bytes: AtomicU64,
    listed_packets: AtomicU64,
    listed_last: AtomicU64,
    /// What the engine asks the data plane to watch, copied into each direction's line so the
    /// per-packet checks read the line the packet writes anyway. Bit `i` set: traffic with a
    /// member of server set `i` of the service table is "listed".
    listed_sets: AtomicU64,
    /// The watch groups of condition F this session runs (bit `g`: services of the table's watch
    /// group `g`); 0 = F is off and packets are never looked up in the service table.
    service_groups: AtomicU64,
}

/// The per-service activity of condition F.
#[derive(Debug, Default)]
#[repr(align(64))]
struct WatchState {
    /// Packed `generation:4 | service index + 1:16 | last stamp:44`; 0 = empty.
    service_slots: [AtomicU64; SERVICE_SLOTS],
    /// Matches that found every slot taken by a service expiring sooner (see [`SERVICE_SLOTS`]).
    service_overflows: AtomicU64,
}

/// The counters of one session, shared (behind an `Arc`) between the session map entry that the
/// data plane looks up and the disconnect engine.
///
/// Byte counts are IP packet lengths (the PPP payload), without PPP, L2TP, UDP or PPPoE overhead.
#[derive(Debug, Default)]
pub struct SessionCounters {
    dirs: [DirectionCounters; 2],
    watch: WatchState,
}

impl SessionCounters {
    /// Zeroed counters with nothing watched.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one packet of `bytes` bytes in `direction` at `stamp`.
    #[inline]
    pub fn record(&self, direction: Direction, bytes: u64, stamp: Stamp) {
        let d = &self.dirs[direction.index()];
        d.bytes.fetch_add(bytes, Relaxed);
        d.packets.fetch_add(1, Relaxed);
        bump_stamp(&d.last, stamp);
    }

    /// Counts one packet exchanged with one of the session's listed servers (on top of
    /// [`SessionCounters::record`], which counts every packet).
    #[inline]
    pub fn record_listed(&self, direction: Direction, bytes: u64, stamp: Stamp) {
        let d = &self.dirs[direction.index()];
        d.listed_bytes.fetch_add(bytes, Relaxed);
        d.listed_packets.fetch_add(1, Relaxed);
        bump_stamp(&d.listed_last, stamp);
    }

    /// Sets what the data plane watches for this session: the bit mask of server sets whose traffic
    /// counts as "listed" (0 = none) and the bit mask of the service table's watch groups whose
    /// services condition F follows (0 = none). The engine calls it at login and when conditions
    /// change.
    pub fn set_watch(&self, listed_sets: u64, service_groups: u64) {
        for d in &self.dirs {
            d.listed_sets.store(listed_sets, Relaxed);
            d.service_groups.store(service_groups, Relaxed);
        }
    }

    /// The server sets this session's listed-server counters follow (bit mask; 0 = none), read
    /// from `direction`'s cache line.
    #[inline]
    pub fn listed_sets(&self, direction: Direction) -> u64 {
        self.dirs[direction.index()].listed_sets.load(Relaxed)
    }

    /// The watch groups whose services this session's packets are matched against (0: none), read
    /// from `direction`'s cache line.
    #[inline]
    pub fn service_groups(&self, direction: Direction) -> u64 {
        self.dirs[direction.index()].service_groups.load(Relaxed)
    }

    /// Records a packet matching application service `service` of the table of generation
    /// `generation` at `stamp`. `expiry_ms` gives a service's server idle timeout in milliseconds;
    /// it is consulted only when every slot is taken, to keep the services whose servers time out
    /// soonest (those are the deadlines condition F must not miss). Returns false when the match
    /// could not be recorded (counted as an overflow).
    pub fn touch_service(
        &self,
        generation: u8,
        service: u16,
        stamp: Stamp,
        expiry_ms: impl Fn(u16) -> u64,
    ) -> bool {
        let Some(tag) = slot_tag(generation, service) else {
            return false;
        };
        let stamp = stamp & STAMP_MASK;
        let packed = (tag << TAG_SHIFT) | stamp;
        let slots = &self.watch.service_slots;
        // Bounded retries: each failed compare-exchange means another thread changed a slot of this
        // very session in between, which happens only when both directions match at once.
        for _ in 0..4 {
            // The common case: the service already has a slot; same tag, so max() keeps the newest.
            let mut free: Option<(usize, u64)> = None;
            let mut latest: Option<(usize, u64, u64)> = None;
            for (i, slot) in slots.iter().enumerate() {
                let v = slot.load(Relaxed);
                if v >> TAG_SHIFT == tag {
                    if v & STAMP_MASK < stamp {
                        slot.fetch_max(packed, Relaxed);
                    }
                    return true;
                }
                let stale = v == 0
                    || (v >> (TAG_SHIFT + 16)) & GENERATION_MASK != u64::from(generation & 0xF);
                if stale {
                    free.get_or_insert((i, v));
                    continue;
                }
                let idx = ((v >> TAG_SHIFT) & 0xFFFF) as u16;
                let idx = idx.wrapping_sub(1); // slots hold index + 1, never 0 when occupied
                let expiry = (v & STAMP_MASK).saturating_add(expiry_ms(idx));
                if expiry <= stamp {
                    // That server has already timed out; its slot is as good as free.
                    free.get_or_insert((i, v));
                } else if latest.is_none_or(|(_, _, e)| expiry > e) {
                    latest = Some((i, v, expiry));
                }
            }
            let (i, old) = match (free, latest) {
                (Some((i, v)), _) => (i, v),
                (None, Some((i, v, expiry)))
                    if stamp.saturating_add(expiry_ms(service)) < expiry =>
                {
                    (i, v)
                }
                _ => {
                    self.watch.service_overflows.fetch_add(1, Relaxed);
                    return false;
                }
            };
            if slots[i]
                .compare_exchange(old, packed, Relaxed, Relaxed)
                .is_ok()
            {
                if free.is_none() {
                    self.watch.service_overflows.fetch_add(1, Relaxed);
                }
                return true;
            }
        }
        self.watch.service_overflows.fetch_add(1, Relaxed);
        false
    }

    /// The last activity of each application service recorded against the table of generation
    /// `generation`, as `(service index, stamp)`. Slots from other generations are skipped.
    pub fn service_activity(&self, generation: u8) -> impl Iterator<Item = (u16, Stamp)> + '_ {
        self.watch.service_slots.iter().filter_map(move |slot| {
            let v = slot.load(Relaxed);
            if v == 0 || (v >> (TAG_SHIFT + 16)) & GENERATION_MASK != u64::from(generation & 0xF) {
                return None;
            }
            let idx = ((v >> TAG_SHIFT) & 0xFFFF) as u16;
            Some((idx.wrapping_sub(1), v & STAMP_MASK))
        })
    }

    /// Clears service slots recorded against any table generation other than `generation`. Called
    /// for every session after a new table is published, so that a slot from an old table can never
    /// be mistaken for one of a table sixteen generations later.
    pub fn forget_services_except(&self, generation: u8) {
        for slot in &self.watch.service_slots {
            let v = slot.load(Relaxed);
            if v != 0 && (v >> (TAG_SHIFT + 16)) & GENERATION_MASK != u64::from(generation & 0xF) {
                // A concurrent write of a current-generation value wins, which is what we want.
                let _ = slot.compare_exchange(v, 0, Relaxed, Relaxed);
            }
        }
    }

    /// How many service matches could not be tracked because every slot held a service expiring
    /// sooner.
    pub fn service_overflows(&self) -> u64 {
        self.watch.service_overflows.load(Relaxed)
    }

    /// Bytes counted in `direction`, all traffic (`listed == false`) or listed-server traffic only.
    #[inline]
    pub fn bytes(&self, direction: Direction, listed: bool) -> u64 {
        let d = &self.dirs[direction.index()];
        if listed {
            d.listed_bytes.load(Relaxed)
        } else {
            d.bytes.load(Relaxed)
        }
    }

    /// Packets counted in `direction`, all traffic or listed-server traffic only.
    #[inline]
    pub fn packets(&self, direction: Direction, listed: bool) -> u64 {
        let d = &self.dirs[direction.index()];
        if listed {
            d.listed_packets.load(Relaxed)
        } else {
            d.packets.load(Relaxed)
        }
    }

    /// Last activity in `direction`, all traffic or listed-server traffic only.
    #[inline]
    pub fn last_activity(&self, direction: Direction, listed: bool) -> Stamp {
        let d = &self.dirs[direction.index()];
        if listed {
            d.listed_last.load(Relaxed)
        } else {
            d.last.load(Relaxed)
        }
    }

    /// A copy of every counter (each read once; not one consistent cut, see the module docs).
    pub fn snapshot(&self) -> CounterSnapshot {
        let dir = |d: Direction| DirectionSnapshot {
            bytes: self.bytes(d, false),
            packets: self.packets(d, false),
            last_activity: self.last_activity(d, false),
            listed_bytes: self.bytes(d, true),
            listed_packets: self.packets(d, true),
            listed_last_activity: self.last_activity(d, true),
        };
        CounterSnapshot {
            from_subscriber: dir(Direction::FromSubscriber),
            to_subscriber: dir(Direction::ToSubscriber),
            service_overflows: self.service_overflows(),
        }
    }
}

/// One direction of a [`CounterSnapshot`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionSnapshot {
    /// Bytes of IP packets.
    pub bytes: u64,
    /// IP packets.
    pub packets: u64,
    /// Stamp of the last packet, [`NEVER`] if none.
    pub last_activity: Stamp,
    /// Bytes exchanged with the session's listed servers.
    pub listed_bytes: u64,
    /// Packets exchanged with the session's listed servers.
    pub listed_packets: u64,
    /// Stamp of the last packet exchanged with a listed server, [`NEVER`] if none.
    pub listed_last_activity: Stamp,
}

/// A copy of a session's counters for the actor (ctl output, accounting records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Traffic sent by the subscriber.
    pub from_subscriber: DirectionSnapshot,
    /// Traffic sent to the subscriber.
    pub to_subscriber: DirectionSnapshot,
    /// Application-service matches that could not be tracked.
    pub service_overflows: u64,
}

impl CounterSnapshot {
    /// The snapshot of one direction.
    pub fn direction(&self, direction: Direction) -> &DirectionSnapshot {
        match direction {
            Direction::FromSubscriber => &self.from_subscriber,
            Direction::ToSubscriber => &self.to_subscriber,
        }
    }
}

/// Moves a stamp forward. With a coarse clock most packets carry the stamp already stored, so the
/// load spares the locked write.
#[inline]
fn bump_stamp(cell: &AtomicU64, stamp: Stamp) {
    if cell.load(Relaxed) < stamp {
        cell.fetch_max(stamp, Relaxed);
    }
}

/// The 20-bit slot tag of a service: generation (4 bits) above index + 1 (16 bits). `None` for an
/// index that does not fit (the table refuses to build that many services).
fn slot_tag(generation: u8, service: u16) -> Option<u64> {
    let idx = service.checked_add(1)?;
    Some((u64::from(generation & 0xF) << 16) | u64::from(idx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> StampBase {
        StampBase::new(crate::runtime::clock::test_epoch())
    }

    #[test]
    fn stamps_round_down_and_up_and_never_read_never() {
        let b = base();
        let t = b.base();
        assert_eq!(
            b.stamp(t),
            1,
            "the base itself stamps as the first millisecond, not NEVER"
        );
        assert_eq!(b.stamp(t + Duration::from_micros(2_500)), 3);
        assert_eq!(b.stamp_ceil(t + Duration::from_micros(2_500)), 4);
        assert_eq!(b.stamp_ceil(t + Duration::from_millis(7)), 8);
        assert_eq!(b.instant(8), t + Duration::from_millis(7));
        assert_eq!(
            b.instant(b.stamp(t + Duration::from_secs(3600))),
            t + Duration::from_secs(3600)
        );
    }

    #[test]
    fn each_direction_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<DirectionCounters>(), 64);
        assert_eq!(std::mem::size_of::<SessionCounters>(), 192);
    }

    #[test]
    fn coarse_clock_never_moves_backwards() {
        let c = CoarseClock::new(crate::runtime::clock::test_epoch());
        let t = c.base().base();
        c.tick(t + Duration::from_millis(50));
        c.tick(t + Duration::from_millis(20));
        assert_eq!(c.now(), 51);
    }

    #[test]
    fn record_counts_each_direction_separately() {
        let c = SessionCounters::new();
        c.record(Direction::FromSubscriber, 100, 5);
        c.record(Direction::FromSubscriber, 50, 4);
        c.record(Direction::ToSubscriber, 1500, 9);
        c.record_listed(Direction::ToSubscriber, 1500, 9);
        let s = c.snapshot();
        assert_eq!(s.from_subscriber.bytes, 150);
        assert_eq!(s.from_subscriber.packets, 2);
        assert_eq!(
            s.from_subscriber.last_activity, 5,
            "an older stamp must not move last back"
        );
        assert_eq!(s.from_subscriber.listed_packets, 0);
        assert_eq!(s.to_subscriber.bytes, 1500);
        assert_eq!(s.to_subscriber.listed_bytes, 1500);
        assert_eq!(s.to_subscriber.listed_last_activity, 9);
    }

    #[test]
    fn service_slots_keep_the_latest_stamp_per_service() {
        let c = SessionCounters::new();
        let timeout = |_| 60_000;
        assert!(c.touch_service(1, 7, 100, timeout));
        assert!(c.touch_service(1, 7, 90, timeout));
        assert!(c.touch_service(1, 3, 120, timeout));
        let mut seen: Vec<_> = c.service_activity(1).collect();
        seen.sort();
        assert_eq!(seen, vec![(3, 120), (7, 100)]);
        assert_eq!(
            c.service_activity(2).count(),
            0,
            "another generation sees nothing"
        );
    }

    #[test]
    fn full_slots_keep_the_services_expiring_soonest() {
        let c = SessionCounters::new();
        // Service i times out after (i + 1) minutes.
        let timeout = |i: u16| (u64::from(i) + 1) * 60_000;
        for i in 0..SERVICE_SLOTS as u16 {
            assert!(c.touch_service(0, i, 1_000, timeout));
        }
        // A service expiring later than all tracked ones is left out: the earliest deadline stays.
        assert!(!c.touch_service(0, 50, 1_000, timeout));
        assert_eq!(c.service_overflows(), 1);
        // A service expiring sooner than the latest tracked one replaces it.
        assert!(
            c.touch_service(0, SERVICE_SLOTS as u16 + 10, 1_000, |i| if i == 14 {
                30_000
            } else {
                timeout(i)
            })
        );
        let tracked: Vec<u16> = c.service_activity(0).map(|(i, _)| i).collect();
        assert!(
            !tracked.contains(&(SERVICE_SLOTS as u16 - 1)),
            "the latest-expiring service was replaced"
        );
        assert!(tracked.contains(&14));
    }

    #[test]
    fn expired_slots_are_reused_without_overflow() {
        let c = SessionCounters::new();
        for i in 0..SERVICE_SLOTS as u16 {
            assert!(c.touch_service(0, i, 1_000, |_| 1_000));
        }
        // At stamp 5_000 every tracked server timed out long ago.
        assert!(c.touch_service(0, 9, 5_000, |_| 1_000));
        assert_eq!(c.service_overflows(), 0);
    }

    #[test]
    fn forgetting_old_generations_frees_their_slots() {
        let c = SessionCounters::new();
        c.touch_service(3, 1, 10, |_| 1);
        c.touch_service(4, 2, 10, |_| 1);
        c.forget_services_except(4);
        assert_eq!(c.service_activity(3).count(), 0);
        assert_eq!(c.service_activity(4).collect::<Vec<_>>(), vec![(2, 10)]);
    }

    #[test]
    fn the_highest_service_index_is_refused_not_wrapped() {
        let c = SessionCounters::new();
        assert!(!c.touch_service(0, u16::MAX, 10, |_| 1));
        assert_eq!(c.service_activity(0).count(), 0);
    }
}
