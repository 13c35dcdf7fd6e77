//! Resume after an automatic disconnect (seed 004's data-guarantee units, LNS side).
//!
//! Owns: [`ResumeBuffer`], the addresses of subscribers the disconnect engine cut, each held for a
//! grace period together with a bounded buffer of the packets that arrived for it meanwhile; and
//! [`ResumeLimits`], its bounds. Must not touch: the clock (every call takes `now`), the address
//! pool (the caller keeps a held address out of the pool until [`ResumeBuffer::resume`] hands it back
//! or [`ResumeBuffer::handle_timeout`] expires it), sockets.
//!
//! # How the LNS uses it
//! 1. The engine cuts a session (any of conditions A-F): the actor calls [`ResumeBuffer::hold`] with
//!    the subscriber and the address the session had, instead of returning it to the pool.
//! 2. The TUN reader finds no session for a destination address: it calls [`ResumeBuffer::offer`];
//!    a held address keeps the packet (bounded per address and in all, by packets and bytes).
//! 3. The same subscriber logs in again within the grace period: [`ResumeBuffer::resume`] returns
//!    the same address and the packets, oldest first, to deliver before anything else, so transfers
//!    resume where they were.
//! 4. [`ResumeBuffer::poll_timeout`] / [`ResumeBuffer::handle_timeout`] expire holds nobody came
//!    back for; their packets are dropped and counted, and the address goes back to the pool.
//!
//! When a buffer is full, the newest packet is the one dropped: the buffered ones are earlier in
//! their streams, and TCP retransmits the rest once the subscriber is back.
//!
//! # Sharing
//! The actor holds addresses, resumes and expires holds; the TUN task offers packets. Both reach
//! the buffer through [`SharedResumeBuffer`], a mutex the TUN task takes only for a packet whose
//! destination has no session while at least one address is held, so forwarding never touches it.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Default grace period: long enough for a PPP client to redial and authenticate.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
/// Default bound on addresses held at once.
pub const DEFAULT_MAX_HELD_ADDRESSES: usize = 65_536;
/// Default bound on packets buffered for one address.
pub const DEFAULT_MAX_PACKETS_PER_ADDRESS: usize = 64;
/// Default bound on bytes buffered for one address (64 full-size packets).
pub const DEFAULT_MAX_BYTES_PER_ADDRESS: usize = 96 * 1024;
/// Default bound on packets buffered in all.
pub const DEFAULT_MAX_PACKETS_TOTAL: usize = 262_144;
/// Default bound on bytes buffered in all.
pub const DEFAULT_MAX_BYTES_TOTAL: usize = 64 * 1024 * 1024;

/// The bounds of a [`ResumeBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeLimits {
    /// How long an address stays held after the disconnect.
    pub grace: Duration,
    /// Addresses held at once; further holds are refused.
    pub max_held_addresses: usize,
    /// Packets kept per held address.
    pub max_packets_per_address: usize,
    /// Bytes kept per held address.
    pub max_bytes_per_address: usize,
    /// Packets kept over all held addresses.
    pub max_packets_total: usize,
    /// Bytes kept over all held addresses.
    pub max_bytes_total: usize,
}

impl Default for ResumeLimits {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            max_held_addresses: DEFAULT_MAX_HELD_ADDRESSES,
            max_packets_per_address: DEFAULT_MAX_PACKETS_PER_ADDRESS,
            max_bytes_per_address: DEFAULT_MAX_BYTES_PER_ADDRESS,
            max_packets_total: DEFAULT_MAX_PACKETS_TOTAL,
            max_bytes_total: DEFAULT_MAX_BYTES_TOTAL,
        }
    }
}

/// Why [`ResumeBuffer::hold`] did not hold an address; the caller returns it to the pool at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// The address is already held (for another disconnect not yet resumed or expired).
    #[error("address {address} is already held for {subscriber:?}")]
    AlreadyHeld {
        /// The address.
        address: Ipv4Addr,
        /// Who it is held for.
        subscriber: Arc<str>,
    },
    /// [`ResumeLimits::max_held_addresses`] addresses are held already.
    #[error("{held} addresses are held already (the limit)")]
    Full {
        /// Addresses held.
        held: usize,
    },
}

/// What [`ResumeBuffer::offer`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Kept for delivery after resume.
    Buffered,
    /// The address is not held (or its grace period is over): the caller handles the packet as it
    /// would any packet for an unknown address.
    NotHeld,
    /// The address is held but a bound was reached; the packet is dropped and counted.
    Dropped(DropReason),
}

/// Which bound dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// [`ResumeLimits::max_packets_per_address`] or [`ResumeLimits::max_bytes_per_address`].
    AddressFull,
    /// [`ResumeLimits::max_packets_total`] or [`ResumeLimits::max_bytes_total`].
    GlobalFull,
}

/// A resumed hold: the address to give the new session and the packets to deliver first, oldest
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The address the subscriber had.
    pub address: Ipv4Addr,
    /// The packets that arrived for it, in arrival order.
    pub packets: Vec<Bytes>,
}

/// A hold whose grace period ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Whom the address was held for.
    pub subscriber: Arc<str>,
    /// The address, now free to return to the pool.
    pub address: Ipv4Addr,
    /// Packets dropped with it.
    pub dropped_packets: u64,
    /// Their bytes.
    pub dropped_bytes: u64,
}

/// Running totals for logs and ctl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeStats {
    /// Holds taken.
    pub holds: u64,
    /// Holds refused (already held or full).
    pub holds_refused: u64,
    /// Holds resumed by a re-login.
    pub resumed: u64,
    /// Packets delivered through resumes.
    pub resumed_packets: u64,
    /// Holds expired.
    pub expired: u64,
    /// Packets dropped on expiry.
    pub expired_packets: u64,
    /// Bytes dropped on expiry.
    pub expired_bytes: u64,
    /// Packets dropped because a bound was reached.
    pub overflow_packets: u64,
    /// Bytes dropped because a bound was reached.
    pub overflow_bytes: u64,
}

#[derive(Debug)]
struct Held {
    subscriber: Arc<str>,
    expires: Instant,
    packets: VecDeque<Bytes>,
    bytes: usize,
}

/// Held addresses and their buffered packets. A pure data structure: `now` is passed in.
#[derive(Debug)]
pub struct ResumeBuffer {
    limits: ResumeLimits,
    held: HashMap<Ipv4Addr, Held>,
    /// Each subscriber's held addresses, oldest hold first.
    by_subscriber: HashMap<Arc<str>, VecDeque<Ipv4Addr>>,
    expiries: BTreeSet<(Instant, Ipv4Addr)>,
    total_packets: usize,
    total_bytes: usize,
    stats: ResumeStats,
}

impl ResumeBuffer {
    /// An empty buffer with `limits`.
    pub fn new(limits: ResumeLimits) -> Self {
        Self {
            limits,
            held: HashMap::new(),
            by_subscriber: HashMap::new(),
            expiries: BTreeSet::new(),
            total_packets: 0,
            total_bytes: 0,
            stats: ResumeStats::default(),
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> ResumeLimits {
        self.limits
    }

    /// New bounds (on reload). They apply to holds and packets from now on; holds already taken keep
    /// their expiry and their packets.
    pub fn set_limits(&mut self, limits: ResumeLimits) {
        self.limits = limits;
    }

    /// Holds `address` for `subscriber` until `now + grace`.
    pub fn hold(
        &mut self,
        now: Instant,
        subscriber: Arc<str>,
        address: Ipv4Addr,
    ) -> Result<(), HoldError> {
        if let Some(h) = self.held.get(&address) {
            self.stats.holds_refused += 1;
            return Err(HoldError::AlreadyHeld {
                address,
                subscriber: h.subscriber.clone(),
            });
        }
        if self.held.len() >= self.limits.max_held_addresses {
            self.stats.holds_refused += 1;
            return Err(HoldError::Full {
                held: self.held.len(),
            });
        }
        let expires = now + self.limits.grace;
        self.expiries.insert((expires, address));
        self.by_subscriber
            .entry(subscriber.clone())
            .or_default()
            .push_back(address);
        self.held.insert(
            address,
            Held {
                subscriber,
                expires,
                packets: VecDeque::new(),
                bytes: 0,
            },
        );
        self.stats.holds += 1;
        Ok(())
    }

    /// Whether `address` is held (the pool must not hand it out).
    pub fn is_held(&self, address: Ipv4Addr) -> bool {
        self.held.contains_key(&address)
    }

    /// Offers a packet that arrived for `destination`, which has no session.
    pub fn offer(&mut self, now: Instant, destination: Ipv4Addr, packet: Bytes) -> Offer {
        let Some(h) = self.held.get_mut(&destination) else {
            return Offer::NotHeld;
        };
        if now >= h.expires {
            return Offer::NotHeld;
        }
        let len = packet.len();
        let reason = if h.packets.len() >= self.limits.max_packets_per_address
            || h.bytes + len > self.limits.max_bytes_per_address
        {
            Some(DropReason::AddressFull)
        } else if self.total_packets >= self.limits.max_packets_total
            || self.total_bytes + len > self.limits.max_bytes_total
        {
            Some(DropReason::GlobalFull)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.stats.overflow_packets += 1;
            self.stats.overflow_bytes += len as u64;
            return Offer::Dropped(reason);
        }
        h.packets.push_back(packet);
        h.bytes += len;
        self.total_packets += 1;
        self.total_bytes += len;
        Offer::Buffered
    }

    /// A re-login of `subscriber`: takes its oldest live hold and returns the address with the
    /// packets to deliver first. `None` when nothing is held for it (or its grace is over).
    pub fn resume(&mut self, now: Instant, subscriber: &str) -> Option<Resumed> {
        let queue = self.by_subscriber.get_mut(subscriber)?;
        // An expired hold not yet collected by handle_timeout stays for it, so that it is counted
        // as an expiry; a later, live hold of the same subscriber can still be resumed.
        let held = &self.held;
        let pos = queue
            .iter()
            .position(|a| held.get(a).is_some_and(|h| now < h.expires))?;
        let address = queue.remove(pos)?;
        if queue.is_empty() {
            self.by_subscriber.remove(subscriber);
        }
        let h = self.held.remove(&address)?;
        self.expiries.remove(&(h.expires, address));
        self.total_packets -= h.packets.len();
        self.total_bytes -= h.bytes;
        self.stats.resumed += 1;
        self.stats.resumed_packets += h.packets.len() as u64;
        Some(Resumed {
            address,
            packets: h.packets.into(),
        })
    }

    /// Ends a hold without a resume (the operator freed the address, or the pool needs it back) and
    /// drops its packets, counted as an expiry. Returns what was dropped.
    pub fn release(&mut self, address: Ipv4Addr) -> Option<Expired> {
        let h = self.held.remove(&address)?;
        self.expiries.remove(&(h.expires, address));
        Some(self.drop_hold(address, h))
    }

    /// When the next hold expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.first().map(|(t, _)| *t)
    }

    /// Expires every hold whose grace period ended at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Expired> {
        let mut out = Vec::new();
        while let Some(&(t, address)) = self.expiries.first() {
            if t > now {
                break;
            }
            self.expiries.pop_first();
            if let Some(h) = self.held.remove(&address) {
                out.push(self.drop_hold(address, h));
            }
        }
        out
    }

    fn drop_hold(&mut self, address: Ipv4Addr, h: Held) -> Expired {
        if let Some(q) = self.by_subscriber.get_mut(&h.subscriber) {
            q.retain(|a| *a != address);
            if q.is_empty() {
                self.by_subscriber.remove(&h.subscriber);
            }
        }
        self.total_packets -= h.packets.len();
        self.total_bytes -= h.bytes;
        let e = Expired {
            subscriber: h.subscriber,
            address,
            dropped_packets: h.packets.len() as u64,
            dropped_bytes: h.bytes as u64,
        };
        self.stats.expired += 1;
        self.stats.expired_packets += e.dropped_packets;
        self.stats.expired_bytes += e.dropped_bytes;
        e
    }

    /// Addresses held now.
    pub fn held_addresses(&self) -> usize {
        self.held.len()
    }

    /// Packets and bytes buffered now over all holds.
    pub fn buffered(&self) -> (usize, usize) {
        (self.total_packets, self.total_bytes)
    }

    /// Running totals.
    pub fn stats(&self) -> ResumeStats {
        self.stats
    }
}

/// The resume buffer shared between the actor and the TUN task; see the module docs. Off (no
/// buffer) until [`SharedResumeBuffer::configure`] is given limits.
#[derive(Debug, Default)]
pub struct SharedResumeBuffer {
    buffer: Mutex<Option<ResumeBuffer>>,
    /// Addresses held, for the TUN task's lock-free "nothing held" check.
    held: AtomicUsize,
}

impl SharedResumeBuffer {
    /// An empty, switched-off buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Switches resume on with `limits` (new bounds apply from now on; holds already taken keep
    /// theirs), or off with `None`: every hold is released and returned so the caller gives the
    /// addresses back to the pool.
    pub fn configure(&self, limits: Option<ResumeLimits>) -> Vec<Expired> {
        self.with_lock(|slot| match (slot.as_mut(), limits) {
            (Some(b), Some(l)) => {
                b.set_limits(l);
                Vec::new()
            }
            (None, Some(l)) => {
                *slot = Some(ResumeBuffer::new(l));
                Vec::new()
            }
            (Some(b), None) => {
                let addresses: Vec<Ipv4Addr> = b.held.keys().copied().collect();
                let released = addresses.into_iter().filter_map(|a| b.release(a)).collect();
                *slot = None;
                released
            }
            (None, None) => Vec::new(),
        })
    }

    /// Runs `f` on the buffer when resume is on.
    pub fn with<R>(&self, f: impl FnOnce(&mut ResumeBuffer) -> R) -> Option<R> {
        self.with_lock(|slot| slot.as_mut().map(f))
    }

    /// Whether any address is held (one atomic load).
    #[inline]
    pub fn any_held(&self) -> bool {
        self.held.load(Ordering::Acquire) > 0
    }

    /// Offers a packet for `destination`, which has no session (see [`ResumeBuffer::offer`]).
    /// Copies the packet only when it is kept.
    pub fn offer(&self, now: Instant, destination: Ipv4Addr, packet: &[u8]) -> Offer {
        if !self.any_held() {
            return Offer::NotHeld;
        }
        self.with_lock(|slot| match slot.as_mut() {
            Some(b) if b.is_held(destination) => {
                b.offer(now, destination, Bytes::copy_from_slice(packet))
            }
            _ => Offer::NotHeld,
        })
    }

    fn with_lock<R>(&self, f: impl FnOnce(&mut Option<ResumeBuffer>) -> R) -> R {
        let mut guard = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut guard);
        let held = guard.as_ref().map_or(0, ResumeBuffer::held_addresses);
        self.held.store(held, Ordering::Release);
        r
    }
}
