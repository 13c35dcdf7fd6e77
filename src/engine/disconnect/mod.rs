//! The disconnect-condition engine (seed 004): decides when a subscriber session is cut, and why.
//!
//! Owns: the registered sessions' condition state, one deadline per session in a deadline queue,
//! the login groups of condition D, and the sampling schedule of conditions C and E. Must not touch:
//! tokio, sockets, the clock (every call takes `now`), the session map, the wire. It reads the
//! atomic [`SessionCounters`] the data plane writes, through the `Arc` it was given at login.
//!
//! # The conditions
//! See [`Conditions`]: A session time, B idle time, C data volume, D simultaneous logins, E traffic
//! rate, F application-server timeout. The operator's form and its validation are the config
//! layer's ([`crate::config`], `FILE:LINE:COL` errors); [`config`] maps it into these types.
//!
//! # Call order (the state actor)
//! 1. At login: [`DisconnectEngine::login`]. It refuses the login (D, refuse policy) or accepts it,
//!    possibly with victims to cut now (D). Keep the returned [`SessionHandle`].
//! 2. Whenever the timer set from [`DisconnectEngine::poll_timeout`] expires:
//!    [`DisconnectEngine::handle_timeout`]. It fires A, B and F deadlines that are due and, when a
//!    sampling pass is due, runs it ([`DisconnectEngine::sample`]) for C, E and B's minimum rate.
//!    A large backlog of due deadlines is worked through over several calls
//!    ([`DEADLINES_PER_CALL`] each); poll the timeout again after every call.
//! 3. For every [`Decision`]: tear the session down, log it, record it, then
//!    [`DisconnectEngine::logout`]. A session that fired reports nothing more.
//! 4. At logout for any other reason: [`DisconnectEngine::logout`].
//! 5. On reload: publish the new service table, then [`DisconnectEngine::set_service_table`], then
//!    [`DisconnectEngine::reload`] (or [`DisconnectEngine::set_conditions`] per session), then poll
//!    the timeout again.
//!
//! # Granularity
//! Engine time has a resolution of one millisecond. A, B (without a minimum rate) and F fire at
//! their deadline: `handle_timeout` called at the instant `poll_timeout` returned fires them, and
//! never earlier. B and F measure from the data plane's activity stamps, which are as precise as
//! the runtime's coarse clock tick. C, E and B with a minimum rate are judged by the sampling pass,
//! so they fire no later than one sampling interval after they hold. D is judged at each login.
//!
//! # Deadlines
//! Each session has at most one live entry in a binary heap: the minimum of its pending A, B and F
//! deadlines. Activity only ever pushes B and F deadlines later, so the entry is re-armed lazily:
//! when it comes due, the session is re-evaluated against the live counters and either fires or is
//! re-armed at its new deadline. A new application service seen by the data plane can bring F
//! earlier; no such deadline can fall before "now + the shortest server timeout - guard", so a
//! session running F is re-evaluated at least that often. No task and no timer per session.
//!
//! # Memory
//! A session costs one 96-byte slab entry (the counters and conditions sit behind shared `Arc`s),
//! one 8-byte heap entry, and, when it runs E or B with a minimum rate, a 48-byte rate state in a
//! chunked side slab. Subscribers with a per-subscriber login limit add one map entry per subscriber.

mod conditions;
pub mod config;

pub use conditions::*;

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dataplane::classifier::{ServiceId, ServiceTable};
use crate::dataplane::counters::{Direction, SessionCounters, Stamp, StampBase};

/// Default interval between sampling passes.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Most sessions one engine holds (a slab index fits 24 bits in a heap entry).
pub const MAX_SESSIONS: usize = (1 << SLOT_BITS) - 1;

const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// Deadlines in a heap entry have 40 bits of milliseconds: 34 years of uptime.
const DEADLINE_MAX: Stamp = (1 << 40) - 1;
const NONE: u32 = u32::MAX;
const CHUNK: usize = 4096;
/// Most due deadlines one [`DisconnectEngine::handle_timeout`] call works through. A burst (a
/// million sessions that logged in together reaching a deadline together) is then spread over
/// several calls, and the actor serves other messages in between; `poll_timeout` keeps returning
/// an instant already past until the backlog is gone. 32k re-arms take about 10 ms.
pub const DEADLINES_PER_CALL: usize = 32_768;

/// The session fired (or was cut for a login) and waits for its logout.
const FIRED: u8 = 1;
/// Linked in its access point's group.
const IN_AP: u8 = 2;
/// Linked in its subscriber's group.
const IN_SUBSCRIBER: u8 = 4;
/// Looked at by the sampling pass.
const SAMPLED: u8 = 8;

/// Settings of the engine as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// The interval between sampling passes (C, E, B's minimum rate).
    pub sample_interval: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            sample_interval: DEFAULT_SAMPLE_INTERVAL,
        }
    }
}

/// A login to register.
#[derive(Debug, Clone)]
pub struct LoginRequest<'a> {
    /// The actor's key for the session.
    pub session: SessionKey,
    /// The subscriber name (shared with the admin table; the engine keeps a clone of the `Arc`).
    pub subscriber: Arc<str>,
    /// The access point the subscriber came through: an access interface, or the LAC a dial-in
    /// came from. Any stable name; the engine interns it.
    pub access_point: &'a str,
    /// The subscriber's conditions (shared by everyone on the same profile).
    pub conditions: Arc<Conditions>,
    /// The session's counters, as held by the data plane's session map.
    pub counters: Arc<SessionCounters>,
    /// The maximum rate of the session's path in bits per second (its service level), for E; kept
    /// at 1 kbit/s resolution. Zero disables E for the session until
    /// [`DisconnectEngine::set_path_max_rate`] sets one.
    pub path_max_bps: u64,
    /// When the subscriber logged in (A counts from here).
    pub logged_in_at: Instant,
    /// The subscriber's place in the disconnect order (the seed's "line disconnecting order"):
    /// under [`LoginPolicy::CutByOrder`] the session with the lowest value is cut first.
    pub disconnect_order: u32,
}

/// The answer to a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Registered. Cut every victim now (condition D); each is already out of the login counts.
    Accepted {
        /// The new session's handle.
        handle: SessionHandle,
        /// Sessions to cut to make room, possibly none.
        victims: Vec<Decision>,
    },
    /// Not registered; refuse the login.
    Refused(LoginRefusal),
}

/// Counts for logs and ctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Sessions registered (including those that fired and wait for their logout).
    pub sessions: usize,
    /// Sessions that fired and wait for their logout.
    pub fired_pending: usize,
    /// Sessions the sampling pass looks at.
    pub sampled: usize,
    /// Entries in the deadline queue (live and stale).
    pub queued_deadlines: usize,
    /// Distinct access points seen.
    pub access_points: usize,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NONE,
    next: NONE,
};

/// State kept only for sessions running E or B with a minimum rate, in [`RateSlab`].
#[derive(Debug, Clone, Copy, Default)]
struct RateState {
    /// B with a minimum rate: when the last sampling interval at or above the rate ended.
    idle_active: Stamp,
    /// B with a minimum rate: counted bytes at the previous pass and when.
    idle_base: u64,
    idle_sampled_at: Stamp,
    /// E: the current window's start and the byte counters then.
    window_start: Stamp,
    window_from: u64,
    window_to: u64,
}

#[derive(Debug)]
struct Session {
    key: SessionKey,
    subscriber: Arc<str>,
    conditions: Arc<Conditions>,
    counters: Arc<SessionCounters>,
    login: Stamp,
    /// The deadline of this session's live heap entry; 0 when none.
    armed: Stamp,
    ap_link: Link,
    subscriber_link: Link,
    access_point: u32,
    generation: u32,
    /// The path's maximum rate for E, in kbit/s (4 Tbit/s at most).
    path_max_kbps: u32,
    /// The disconnect order this session was linked with (lowest is cut first).
    priority: u32,
    flags: u8,
    /// Index of this session's [`RateState`] in the engine's [`RateSlab`]; `NONE` without one.
    rate: u32,
}

#[derive(Debug)]
enum Entry {
    Occupied(Session),
    Vacant { generation: u32, next_free: u32 },
}

/// Sessions in fixed-size chunks, so growth never copies them and the spare room is at most one
/// chunk.
#[derive(Debug, Default)]
struct Slab {
    chunks: Vec<Box<[Entry]>>,
    free: Option<u32>,
    len: usize,
}

impl Slab {
    fn entry(&self, slot: u32) -> Option<&Entry> {
        let i = slot as usize;
        self.chunks.get(i / CHUNK).map(|c| &c[i % CHUNK])
    }

    fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        let i = slot as usize;
        self.chunks.get_mut(i / CHUNK).map(|c| &mut c[i % CHUNK])
    }

    fn get(&self, slot: u32) -> Option<&Session> {
        match self.entry(slot) {
            Some(Entry::Occupied(s)) => Some(s),
            _ => None,
        }
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Session> {
        match self.entry_mut(slot) {
            Some(Entry::Occupied(s)) => Some(s),
            _ => None,
        }
    }

    fn session(&self, slot: u32) -> &Session {
        self.get(slot).expect("linked slots are occupied")
    }

    fn session_mut(&mut self, slot: u32) -> &mut Session {
        self.get_mut(slot).expect("linked slots are occupied")
    }

    /// Inserts a session (its generation is set here) and returns its slot, or `None` when full.
    fn insert(&mut self, mut session: Session) -> Option<u32> {
        if self.free.is_none() {
            let start = self.chunks.len() * CHUNK;
            if start + CHUNK > MAX_SESSIONS + 1 {
                return None;
            }
            let chunk: Box<[Entry]> = (0..CHUNK)
                .map(|i| {
                    let next = start + i + 1;
                    let next_free = if i + 1 < CHUNK { next as u32 } else { NONE };
                    Entry::Vacant {
                        generation: 0,
                        next_free,
                    }
                })
                .collect();
            self.chunks.push(chunk);
            self.free = Some(start as u32);
        }
        let slot = self.free?;
        let entry = self.entry_mut(slot)?;
        let Entry::Vacant {
            generation,
            next_free,
        } = *entry
        else {
            unreachable!("the free list holds vacant slots only");
        };
        session.generation = generation;
        *entry = Entry::Occupied(session);
        self.free = (next_free != NONE).then_some(next_free);
        self.len += 1;
        Some(slot)
    }

    fn remove(&mut self, slot: u32) -> Option<Session> {
        let free = self.free.unwrap_or(NONE);
        let entry = self.entry_mut(slot)?;
        let Entry::Occupied(s) = entry else {
            return None;
        };
        let generation = s.generation.wrapping_add(1);
        let Entry::Occupied(s) = std::mem::replace(
            entry,
            Entry::Vacant {
                generation,
                next_free: free,
            },
        ) else {
            unreachable!()
        };
        self.free = Some(slot);
        self.len -= 1;
        Some(s)
    }

    fn slots(&self) -> impl Iterator<Item = (u32, &Session)> {
        self.chunks.iter().enumerate().flat_map(|(ci, c)| {
            c.iter().enumerate().filter_map(move |(i, e)| match e {
                Entry::Occupied(s) => Some(((ci * CHUNK + i) as u32, s)),
                Entry::Vacant { .. } => None,
            })
        })
    }
}

/// Rate states in fixed-size chunks with a free list: no allocation per session (a million
/// 48-byte boxes would add the allocator's per-block overhead to each), and no copying on growth.
#[derive(Debug, Default)]
struct RateSlab {
    chunks: Vec<Box<[RateState]>>,
    free: Vec<u32>,
    len: u32,
}

impl RateSlab {
    fn insert(&mut self, state: RateState) -> u32 {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                if (self.len as usize).is_multiple_of(CHUNK) {
                    self.chunks
                        .push(vec![RateState::default(); CHUNK].into_boxed_slice());
                }
                self.len += 1;
                self.len - 1
            }
        };
        *self.get_mut(i) = state;
        i
    }

    fn get(&self, i: u32) -> &RateState {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn get_mut(&mut self, i: u32) -> &mut RateState {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn remove(&mut self, i: u32) {
        self.free.push(i);
    }
}

/// The two ends and length of an intrusive list through the slab, kept in login order.
#[derive(Debug, Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
    len: u32,
}

const EMPTY_ENDS: Ends = Ends {
    head: NONE,
    tail: NONE,
    len: 0,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    AccessPoint,
    Subscriber,
}

fn link_of(s: &mut Session, kind: ListKind) -> &mut Link {
    match kind {
        ListKind::AccessPoint => &mut s.ap_link,
        ListKind::Subscriber => &mut s.subscriber_link,
    }
}

fn link_ref(s: &Session, kind: ListKind) -> Link {
    match kind {
        ListKind::AccessPoint => s.ap_link,
        ListKind::Subscriber => s.subscriber_link,
    }
}

/// Inserts `slot` keeping the list sorted by (login, slot). Logins arrive in time order, so the walk
/// from the tail almost always stops at once.
fn list_insert(slab: &mut Slab, kind: ListKind, ends: &mut Ends, slot: u32) {
    let key = |slab: &Slab, s: u32| (slab.session(s).login, s);
    let mine = key(slab, slot);
    let mut after = ends.tail;
    while after != NONE && key(slab, after) > mine {
        after = link_ref(slab.session(after), kind).prev;
    }
    let before = if after == NONE {
        ends.head
    } else {
        link_ref(slab.session(after), kind).next
    };
    *link_of(slab.session_mut(slot), kind) = Link {
        prev: after,
        next: before,
    };
    if after == NONE {
        ends.head = slot;
    } else {
        link_of(slab.session_mut(after), kind).next = slot;
    }
    if before == NONE {
        ends.tail = slot;
    } else {
        link_of(slab.session_mut(before), kind).prev = slot;
    }
    ends.len += 1;
}

fn list_remove(slab: &mut Slab, kind: ListKind, ends: &mut Ends, slot: u32) {
    let Link { prev, next } = link_ref(slab.session(slot), kind);
    if prev == NONE {
        ends.head = next;
    } else {
        link_of(slab.session_mut(prev), kind).next = next;
    }
    if next == NONE {
        ends.tail = prev;
    } else {
        link_of(slab.session_mut(next), kind).prev = prev;
    }
    *link_of(slab.session_mut(slot), kind) = UNLINKED;
    ends.len -= 1;
}

/// One access point's sessions, one login-ordered list per disconnect order in use (lowest, cut
/// first, first), so both victim rules find their victim without a scan.
#[derive(Debug, Default)]
struct AccessPointGroup {
    ranks: Vec<(u32, Ends)>,
    count: u32,
}

/// The disconnect-condition engine. See the module documentation for the call order.
#[derive(Debug)]
pub struct DisconnectEngine {
    base: StampBase,
    settings: EngineSettings,
    next_sample: Option<Instant>,
    table: Arc<ServiceTable>,
    /// The shortest server idle timeout in the table, in milliseconds (0 with no services).
    min_service_timeout_ms: u64,
    slab: Slab,
    rates: RateSlab,
    /// `Reverse(deadline << 24 | slot)`: the earliest deadline on top.
    heap: BinaryHeap<Reverse<u64>>,
    access_point_ids: HashMap<Arc<str>, u32>,
    access_points: Vec<AccessPointGroup>,
    /// The first of the login-ordered sessions of each subscriber that has a per-subscriber login
    /// limit, by a keyed 64-bit hash of the name. Eight bytes of key instead of a 16-byte `Arc<str>`
    /// keep the map at half the size; two names sharing a hash share a list, and every walk of a
    /// list compares names, so a collision costs a longer walk, never a wrong count.
    subscribers: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    subscriber_hasher: RandomState,
    /// Tests make every name hash alike, to prove collisions are harmless.
    #[cfg(test)]
    collide_subscribers: bool,
    /// Sessions linked in an access point group: the per-server count.
    linked: u32,
    sampled: usize,
    fired_pending: usize,
}

impl DisconnectEngine {
    /// An engine reading stamps against `base` (the [`crate::dataplane::counters::CoarseClock`]'s)
    /// and application services from `table` (as published to the data plane).
    pub fn new(base: StampBase, settings: EngineSettings, table: Arc<ServiceTable>) -> Self {
        let min_service_timeout_ms = min_timeout_ms(&table);
        Self {
            base,
            settings,
            next_sample: None,
            table,
            min_service_timeout_ms,
            slab: Slab::default(),
            rates: RateSlab::default(),
            heap: BinaryHeap::new(),
            access_point_ids: HashMap::new(),
            access_points: Vec::new(),
            subscribers: HashMap::default(),
            subscriber_hasher: RandomState::new(),
            #[cfg(test)]
            collide_subscribers: false,
            linked: 0,
            sampled: 0,
            fired_pending: 0,
        }
    }

    /// Registers a login, after checking condition D.
    pub fn login(&mut self, now: Instant, req: LoginRequest<'_>) -> LoginOutcome {
        if self.slab.len >= MAX_SESSIONS {
            return LoginOutcome::Refused(LoginRefusal::EngineFull {
                sessions: self.slab.len,
            });
        }
        let ap = self.intern_access_point(req.access_point);
        let conditions = req.conditions;
        let mut victims = Vec::new();
        if let Some(d) = conditions.logins {
            if let Err(refusal) = self.check_logins(&d, req.disconnect_order, ap, &req.subscriber) {
                return LoginOutcome::Refused(refusal);
            }
            self.cut_for_login(&d, ap, &req.subscriber, req.session, now, &mut victims);
        }

        let now_s = self.base.stamp(now);
        let login = self.base.stamp_ceil(req.logged_in_at);
        let counters = req.counters;
        counters.set_watch(conditions.watched_sets(), conditions.service_groups());
        let rate = if conditions.needs_rate_state() {
            self.rates
                .insert(new_rate_state(&counters, &conditions, login, now_s))
        } else {
            NONE
        };
        let mut flags = 0;
        if conditions.needs_sampling() {
            flags |= SAMPLED;
        }
        let session = Session {
            key: req.session,
            subscriber: req.subscriber,
            priority: req.disconnect_order,
            conditions,
            counters,
            login,
            armed: 0,
            ap_link: UNLINKED,
            subscriber_link: UNLINKED,
            access_point: ap,
            generation: 0,
            path_max_kbps: kbps(req.path_max_bps),
            flags,
            rate,
        };
        let Some(slot) = self.slab.insert(session) else {
            return LoginOutcome::Refused(LoginRefusal::EngineFull {
                sessions: self.slab.len,
            });
        };
        if flags & SAMPLED != 0 {
            self.sampled += 1;
            self.schedule_sampling(now);
        }
        self.link(slot);
        self.rearm(slot, now_s);
        let generation = self.slab.session(slot).generation;
        LoginOutcome::Accepted {
            handle: SessionHandle { slot, generation },
            victims,
        }
    }

    /// Removes a session (it logged out, or was torn down after a [`Decision`]). Returns its key,
    /// or `None` for a stale handle.
    pub fn logout(&mut self, handle: SessionHandle) -> Option<SessionKey> {
        self.valid(handle)?;
        self.unlink(handle.slot);
        let s = self.slab.remove(handle.slot)?;
        if s.rate != NONE {
            self.rates.remove(s.rate);
        }
        if s.flags & SAMPLED != 0 && s.flags & FIRED == 0 {
            self.sampled -= 1;
        }
        if s.flags & FIRED != 0 {
            self.fired_pending -= 1;
        }
        // Logouts leave their heap entries behind; once stale ones outnumber live sessions, a
        // rebuild (linear) is cheaper than carrying them until their deadlines.
        if self.heap.len() > 2 * self.slab.len + 1024 {
            self.rebuild_heap();
        }
        Some(s.key)
    }

    /// Applies new conditions and disconnect order to a live session from `now` on (reload). A
    /// counts from the original login, C from login, B from the last activity; E starts a new
    /// window. A condition that already holds under the new values fires at the next
    /// [`DisconnectEngine::handle_timeout`] (B, A, F) or sampling pass (C, E). D is judged at the
    /// next login. Returns false for a stale handle.
    pub fn set_conditions(
        &mut self,
        now: Instant,
        handle: SessionHandle,
        conditions: Arc<Conditions>,
        disconnect_order: u32,
    ) -> bool {
        if self.valid(handle).is_none() {
            return false;
        }
        let slot = handle.slot;
        let now_s = self.base.stamp(now);
        let s = self.slab.session(slot);
        if (Arc::ptr_eq(&s.conditions, &conditions) || *s.conditions == *conditions)
            && s.priority == disconnect_order
        {
            // Same values: keep the state (an E window in progress, B's rate history).
            self.slab.session_mut(slot).conditions = conditions;
            return true;
        }
        let fired = s.flags & FIRED != 0;
        if !fired {
            self.unlink(slot);
        }
        let s = self.slab.session_mut(slot);
        let was_sampled = s.flags & SAMPLED != 0;
        s.counters
            .set_watch(conditions.watched_sets(), conditions.service_groups());
        // B's minimum-rate activity carries over; a session new to it counts from its last packet.
        let idle_active = match &s.conditions.idle {
            Some(i) if i.min_rate_bps.is_some() && s.rate != NONE => {
                self.rates.get(s.rate).idle_active
            }
            _ => conditions
                .idle
                .as_ref()
                .map_or(0, |i| {
                    last_activity(&s.counters, i.direction, i.only_listed_servers)
                })
                .max(s.login),
        };
        if s.rate != NONE {
            self.rates.remove(s.rate);
            s.rate = NONE;
        }
        if conditions.needs_rate_state() {
            s.rate =
                self.rates
                    .insert(new_rate_state(&s.counters, &conditions, idle_active, now_s));
        }
        if conditions.needs_sampling() {
            s.flags |= SAMPLED;
        } else {
            s.flags &= !SAMPLED;
        }
        let is_sampled = s.flags & SAMPLED != 0;
        s.priority = disconnect_order;
        s.conditions = conditions;
        if fired {
            return true;
        }
        match (was_sampled, is_sampled) {
            (false, true) => {
                self.sampled += 1;
                self.schedule_sampling(now);
            }
            (true, false) => self.sampled -= 1,
            _ => {}
        }
        self.link(slot);
        self.rearm(slot, now_s);
        true
    }

    /// Applies new conditions to live sessions: `resolve(session, subscriber)` gives each one's
    /// conditions and disconnect order under the new config, or `None` to leave the session as it
    /// is. Call after [`DisconnectEngine::set_service_table`].
    pub fn reload(
        &mut self,
        now: Instant,
        mut resolve: impl FnMut(SessionKey, &str) -> Option<(Arc<Conditions>, u32)>,
    ) {
        let slots: Vec<u32> = self.slab.slots().map(|(slot, _)| slot).collect();
        for slot in slots {
            let s = self.slab.session(slot);
            let handle = SessionHandle {
                slot,
                generation: s.generation,
            };
            let subscriber = s.subscriber.clone();
            if let Some((conditions, order)) = resolve(s.key, &subscriber) {
                self.set_conditions(now, handle, conditions, order);
            }
        }
    }

    /// Switches to a newly published service table. Service activity recorded against older tables
    /// is forgotten (F restarts for those services at their next packet), and sessions running F
    /// are re-armed for the new table's timeouts.
    pub fn set_service_table(&mut self, now: Instant, table: Arc<ServiceTable>) {
        self.min_service_timeout_ms = min_timeout_ms(&table);
        let generation = table.generation();
        self.table = table;
        let now_s = self.base.stamp(now);
        let with_f: Vec<u32> = self
            .slab
            .slots()
            .filter_map(|(slot, s)| {
                s.counters.forget_services_except(generation);
                (s.conditions.app_timeout.is_some() && s.flags & FIRED == 0).then_some(slot)
            })
            .collect();
        for slot in with_f {
            self.rearm(slot, now_s);
        }
    }

    /// Changes the sampling interval; the next pass moves accordingly.
    pub fn set_settings(&mut self, now: Instant, settings: EngineSettings) {
        self.settings = settings;
        if self.next_sample.is_some() {
            self.next_sample = Some(now + settings.sample_interval);
        }
    }

    /// Sets a session's path maximum rate (its service level changed, or it moved to another
    /// path). Returns false for a stale handle.
    pub fn set_path_max_rate(&mut self, handle: SessionHandle, path_max_bps: u64) -> bool {
        if self.valid(handle).is_none() {
            return false;
        }
        self.slab.session_mut(handle.slot).path_max_kbps = kbps(path_max_bps);
        true
    }

    /// The earliest instant [`DisconnectEngine::handle_timeout`] has work: a deadline or a sampling
    /// pass.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Stale entries on top would only cause early wake-ups that find nothing; drop them.
        while let Some(&Reverse(top)) = self.heap.peek() {
            let (deadline, slot) = unpack(top);
            if self.is_live_entry(deadline, slot) {
                break;
            }
            self.heap.pop();
        }
        let deadline = self
            .heap
            .peek()
            .map(|&Reverse(top)| self.base.instant(unpack(top).0));
        match (deadline, self.next_sample) {
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        }
    }

    /// Fires the deadlines due at `now` (at most [`DEADLINES_PER_CALL`] of them; call again while
    /// `poll_timeout` returns an instant not after now) and runs the sampling pass if it is due.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Decision> {
        let now_s = self.base.stamp(now);
        let mut out = Vec::new();
        let mut budget = DEADLINES_PER_CALL;
        while let Some(&Reverse(top)) = self.heap.peek() {
            let (deadline, slot) = unpack(top);
            if deadline > now_s || budget == 0 {
                break;
            }
            budget -= 1;
            self.heap.pop();
            if !self.is_live_entry(deadline, slot) {
                continue;
            }
            let s = self.slab.session(slot);
            match self.evaluate(s, now_s) {
                Err(fired) => out.push(self.fire(slot, fired, now)),
                Ok(next) => self.arm(slot, next),
            }
        }
        if self.next_sample.is_some_and(|t| t <= now) {
            out.extend(self.sample(now));
        }
        out
    }

    /// One sampling pass at `now`: checks C and E and updates B's minimum-rate activity for every
    /// session that runs them. [`DisconnectEngine::handle_timeout`] calls it on schedule; calling it
    /// directly also moves the schedule.
    pub fn sample(&mut self, now: Instant) -> Vec<Decision> {
        let now_s = self.base.stamp(now);
        self.next_sample = (self.sampled > 0).then(|| now + self.settings.sample_interval);
        let mut hits: Vec<(u32, Fired)> = Vec::new();
        let rates = &mut self.rates;
        for (ci, chunk) in self.slab.chunks.iter_mut().enumerate() {
            for (i, e) in chunk.iter_mut().enumerate() {
                let Entry::Occupied(s) = e else { continue };
                if s.flags & (SAMPLED | FIRED) != SAMPLED {
                    continue;
                }
                let rate = (s.rate != NONE).then(|| rates.get_mut(s.rate));
                if let Some(f) = sample_session(s, rate, now_s) {
                    hits.push(((ci * CHUNK + i) as u32, f));
                }
            }
        }
        hits.into_iter()
            .map(|(slot, f)| self.fire(slot, f, now))
            .collect()
    }

    /// The actor's key of a live session.
    pub fn session_key(&self, handle: SessionHandle) -> Option<SessionKey> {
        self.valid(handle).map(|s| s.key)
    }

    /// The conditions a live session runs.
    pub fn conditions(&self, handle: SessionHandle) -> Option<&Arc<Conditions>> {
        self.valid(handle).map(|s| &s.conditions)
    }

    /// Registered sessions.
    pub fn len(&self) -> usize {
        self.slab.len
    }

    /// True when no session is registered.
    pub fn is_empty(&self) -> bool {
        self.slab.len == 0
    }

    /// Counts for logs and ctl.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            sessions: self.slab.len,
            fired_pending: self.fired_pending,
            sampled: self.sampled,
            queued_deadlines: self.heap.len(),
            access_points: self.access_points.len(),
        }
    }

    // ---- internals ----

    fn valid(&self, handle: SessionHandle) -> Option<&Session> {
        self.slab
            .get(handle.slot)
            .filter(|s| s.generation == handle.generation)
    }

    fn is_live_entry(&self, deadline: Stamp, slot: u32) -> bool {
        self.slab
            .get(slot)
            .is_some_and(|s| s.armed == deadline && s.flags & FIRED == 0)
    }

    fn intern_access_point(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.access_point_ids.get(name) {
            return id;
        }
        let id = self.access_points.len() as u32;
        self.access_point_ids.insert(name.into(), id);
        self.access_points.push(AccessPointGroup::default());
        id
    }

    fn schedule_sampling(&mut self, now: Instant) {
        if self.next_sample.is_none() {
            self.next_sample = Some(now + self.settings.sample_interval);
        }
    }

    /// Puts a live session into its access point group and, with a per-subscriber limit, its
    /// subscriber group.
    fn link(&mut self, slot: u32) {
        let s = self.slab.session(slot);
        let (ap, priority) = (s.access_point as usize, s.priority);
        let per_subscriber = s
            .conditions
            .logins
            .is_some_and(|d| d.per_subscriber.is_some());
        let subscriber = s.subscriber.clone();
        let group = &mut self.access_points[ap];
        let pos = match group.ranks.iter().position(|(p, _)| *p >= priority) {
            Some(i) if group.ranks[i].0 == priority => i,
            Some(i) => {
                group.ranks.insert(i, (priority, EMPTY_ENDS));
                i
            }
            None => {
                group.ranks.push((priority, EMPTY_ENDS));
                group.ranks.len() - 1
            }
        };
        list_insert(
            &mut self.slab,
            ListKind::AccessPoint,
            &mut group.ranks[pos].1,
            slot,
        );
        group.count += 1;
        self.linked += 1;
        let mut flags = IN_AP;
        if per_subscriber {
            let key = self.subscriber_key(&subscriber);
            let mut ends = self.subscriber_ends(key);
            list_insert(&mut self.slab, ListKind::Subscriber, &mut ends, slot);
            self.subscribers.insert(key, ends.head);
            flags |= IN_SUBSCRIBER;
        }
        self.slab.session_mut(slot).flags |= flags;
    }

    fn unlink(&mut self, slot: u32) {
        let s = self.slab.session(slot);
        let (flags, ap, priority) = (s.flags, s.access_point as usize, s.priority);
        if flags & IN_AP != 0 {
            let group = &mut self.access_points[ap];
            if let Some(pos) = group.ranks.iter().position(|(p, _)| *p == priority) {
                list_remove(
                    &mut self.slab,
                    ListKind::AccessPoint,
                    &mut group.ranks[pos].1,
                    slot,
                );
                if group.ranks[pos].1.len == 0 {
                    group.ranks.remove(pos);
                }
            }
            group.count -= 1;
            self.linked -= 1;
        }
        if flags & IN_SUBSCRIBER != 0 {
            let key = self.subscriber_key(&self.slab.session(slot).subscriber);
            let mut ends = self.subscriber_ends(key);
            list_remove(&mut self.slab, ListKind::Subscriber, &mut ends, slot);
            if ends.len == 0 {
                self.subscribers.remove(&key);
            } else {
                self.subscribers.insert(key, ends.head);
            }
        }
        self.slab.session_mut(slot).flags &= !(IN_AP | IN_SUBSCRIBER);
    }

    fn subscriber_key(&self, name: &str) -> u64 {
        #[cfg(test)]
        if self.collide_subscribers {
            return 0;
        }
        self.subscriber_hasher.hash_one(name)
    }

    /// The ends of the subscriber list stored under `key` (lists are a subscriber's few sessions).
    fn subscriber_ends(&self, key: u64) -> Ends {
        let Some(&head) = self.subscribers.get(&key) else {
            return EMPTY_ENDS;
        };
        let mut ends = Ends {
            head,
            tail: head,
            len: 0,
        };
        let mut cur = head;
        while cur != NONE {
            ends.tail = cur;
            ends.len += 1;
            cur = self.slab.session(cur).subscriber_link.next;
        }
        ends
    }

    /// The sessions in `subscriber`'s login group, earliest login first.
    fn subscriber_sessions<'a>(&'a self, subscriber: &'a str) -> impl Iterator<Item = u32> + 'a {
        let key = self.subscriber_key(subscriber);
        let mut cur = self.subscribers.get(&key).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            while cur != NONE {
                let s = self.slab.session(cur);
                let here = cur;
                cur = s.subscriber_link.next;
                if *s.subscriber == *subscriber {
                    return Some(here);
                }
            }
            None
        })
    }

    fn scope_count(&self, scope: LoginScope, ap: u32, subscriber: &str) -> u32 {
        match scope {
            LoginScope::Server => self.linked,
            LoginScope::AccessPoint => self.access_points[ap as usize].count,
            LoginScope::Subscriber => self.subscriber_sessions(subscriber).count() as u32,
        }
    }

    /// The session a login over the limit in `scope` would cut.
    fn victim(
        &self,
        scope: LoginScope,
        policy: LoginPolicy,
        ap: u32,
        subscriber: &str,
    ) -> Option<u32> {
        let earliest = |heads: &mut dyn Iterator<Item = u32>| {
            heads
                .filter(|&h| h != NONE)
                .min_by_key(|&h| (self.slab.session(h).login, h))
        };
        let by_order = policy == LoginPolicy::CutByOrder;
        match scope {
            LoginScope::Subscriber => {
                let mut sessions = self.subscriber_sessions(subscriber);
                if !by_order {
                    return sessions.next();
                }
                // Login order within the list, so the first of the lowest rank is the earliest.
                let mut best: Option<(u32, u32)> = None;
                for slot in sessions {
                    let p = self.slab.session(slot).priority;
                    if best.is_none_or(|(b, _)| p < b) {
                        best = Some((p, slot));
                    }
                }
                best.map(|(_, slot)| slot)
            }
            LoginScope::AccessPoint => {
                let g = &self.access_points[ap as usize];
                if by_order {
                    g.ranks.first().map(|(_, e)| e.head)
                } else {
                    earliest(&mut g.ranks.iter().map(|(_, e)| e.head))
                }
            }
            LoginScope::Server => {
                if by_order {
                    let top = self
                        .access_points
                        .iter()
                        .filter_map(|g| g.ranks.first().map(|r| r.0))
                        .min()?;
                    let mut heads = self
                        .access_points
                        .iter()
                        .filter_map(|g| g.ranks.first().filter(|r| r.0 == top).map(|r| r.1.head));
                    earliest(&mut heads)
                } else {
                    let mut heads = self
                        .access_points
                        .iter()
                        .flat_map(|g| g.ranks.iter().map(|(_, e)| e.head));
                    earliest(&mut heads)
                }
            }
        }
    }

    const SCOPES: [LoginScope; 3] = [
        LoginScope::Subscriber,
        LoginScope::AccessPoint,
        LoginScope::Server,
    ];

    /// Whether the login may proceed under D, before anything is cut.
    fn check_logins(
        &self,
        d: &LoginCondition,
        order: u32,
        ap: u32,
        subscriber: &str,
    ) -> Result<(), LoginRefusal> {
        for scope in Self::SCOPES {
            let Some(limit) = d.limit(scope) else {
                continue;
            };
            let count = self.scope_count(scope, ap, subscriber).saturating_add(1);
            if count <= limit {
                continue;
            }
            let refuse = match d.policy {
                LoginPolicy::RefuseNew => true,
                LoginPolicy::CutEarliest => self.victim(scope, d.policy, ap, subscriber).is_none(),
                LoginPolicy::CutByOrder => self
                    .victim(scope, d.policy, ap, subscriber)
                    .is_none_or(|v| order < self.slab.session(v).priority),
            };
            if refuse {
                return Err(LoginRefusal::Logins {
                    scope,
                    count,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Cuts sessions until every scope of the new login is within its limit.
    fn cut_for_login(
        &mut self,
        d: &LoginCondition,
        ap: u32,
        subscriber: &str,
        new_session: SessionKey,
        now: Instant,
        victims: &mut Vec<Decision>,
    ) {
        for scope in Self::SCOPES {
            let Some(limit) = d.limit(scope) else {
                continue;
            };
            loop {
                let count = self.scope_count(scope, ap, subscriber).saturating_add(1);
                if count <= limit {
                    break;
                }
                let Some(v) = self.victim(scope, d.policy, ap, subscriber) else {
                    break;
                };
                victims.push(self.fire(
                    v,
                    Fired::Logins {
                        scope,
                        count,
                        limit,
                        new_session,
                    },
                    now,
                ));
            }
        }
    }

    /// Marks a session as fired, takes it out of the login groups and builds its decision.
    fn fire(&mut self, slot: u32, fired: Fired, now: Instant) -> Decision {
        self.unlink(slot);
        let s = self.slab.session_mut(slot);
        if s.flags & SAMPLED != 0 {
            self.sampled -= 1;
        }
        s.flags |= FIRED;
        self.fired_pending += 1;
        Decision {
            handle: SessionHandle {
                slot,
                generation: s.generation,
            },
            session: s.key,
            subscriber: s.subscriber.clone(),
            fired,
            at: now,
        }
    }

    /// Re-evaluates a session after a change and moves its deadline earlier if it has to; a
    /// condition that already holds is armed for `now`.
    fn rearm(&mut self, slot: u32, now_s: Stamp) {
        let s = self.slab.session(slot);
        let next = match self.evaluate(s, now_s) {
            Ok(next) => next,
            Err(_) => now_s,
        };
        let armed = s.armed;
        if next == 0 {
            self.slab.session_mut(slot).armed = 0;
        } else if armed == 0 || next < armed {
            self.arm(slot, next);
        }
    }

    fn arm(&mut self, slot: u32, deadline: Stamp) {
        let deadline = deadline.min(DEADLINE_MAX);
        self.slab.session_mut(slot).armed = deadline;
        if deadline != 0 {
            self.heap
                .push(Reverse((deadline << SLOT_BITS) | u64::from(slot)));
        }
    }

    fn rebuild_heap(&mut self) {
        let entries: Vec<Reverse<u64>> = self
            .slab
            .slots()
            .filter(|(_, s)| s.armed != 0 && s.flags & FIRED == 0)
            .map(|(slot, s)| Reverse((s.armed << SLOT_BITS) | u64::from(slot)))
            .collect();
        self.heap = BinaryHeap::from(entries);
    }

    /// A, B and F at `now`: the condition that holds, or the next deadline (0 when none is set).
    fn evaluate(&self, s: &Session, now: Stamp) -> Result<Stamp, Fired> {
        let c = &*s.conditions;
        let mut next = Stamp::MAX;
        if let Some(limit) = c.session_time {
            let deadline = s.login.saturating_add(ceil_ms(limit));
            if now >= deadline {
                return Err(Fired::SessionTime {
                    elapsed: ms(now.saturating_sub(s.login)),
                    limit,
                });
            }
            next = next.min(deadline);
        }
        if let Some(idle) = &c.idle {
            let since = match idle.min_rate_bps {
                Some(_) if s.rate != NONE => self.rates.get(s.rate).idle_active,
                _ => last_activity(&s.counters, idle.direction, idle.only_listed_servers),
            }
            .max(s.login);
            let deadline = since.saturating_add(ceil_ms(idle.limit));
            if now >= deadline {
                return Err(Fired::Idle {
                    idle: ms(now.saturating_sub(since)),
                    limit: idle.limit,
                    direction: idle.direction,
                    min_rate_bps: idle.min_rate_bps,
                });
            }
            next = next.min(deadline);
        }
        if let Some(app) = &c.app_timeout
            && !self.table.has_no_services()
        {
            let guard = ceil_ms(app.guard);
            for (idx, last) in s.counters.service_activity(self.table.generation()) {
                let id = ServiceId(idx);
                if self.table.groups_of(id) & app.groups == 0 {
                    // Recorded under conditions this session no longer runs.
                    continue;
                }
                let timeout = self.table.timeout_ms(id);
                let Some(spec) = self.table.service(id) else {
                    continue;
                };
                // Seed 004, Fig. 8: cut "immediately before" the server's timeout, a guard
                // interval ahead of it, so no transfer is cut by the server mid-way.
                let deadline = last.saturating_add(timeout).saturating_sub(guard).max(last);
                if now >= deadline {
                    return Err(Fired::AppTimeout {
                        service: id,
                        service_name: spec.name.clone(),
                        idle: ms(now.saturating_sub(last)),
                        server_timeout: spec.idle_timeout,
                        guard: app.guard,
                    });
                }
                next = next.min(deadline);
            }
            // A service first seen after now cannot come due before now + (shortest timeout -
            // guard). Look again a little before that, leaving room for stamps that lag the
            // engine's clock by up to a coarse-clock tick.
            let horizon = self.min_service_timeout_ms.saturating_sub(guard);
            let probe = horizon.saturating_sub(1_000).max(horizon / 2).max(1);
            next = next.min(now.saturating_add(probe));
        }
        Ok(if next == Stamp::MAX { 0 } else { next })
    }
}

/// A hasher for keys that are already keyed 64-bit hashes.
#[derive(Debug, Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn unpack(entry: u64) -> (Stamp, u32) {
    (entry >> SLOT_BITS, (entry & SLOT_MASK) as u32)
}

fn min_timeout_ms(table: &ServiceTable) -> u64 {
    (0..table.services().len())
        .map(|i| table.timeout_ms(ServiceId(i as u16)))
        .min()
        .unwrap_or(0)
}

/// Milliseconds of a duration, rounded up, so a limit is never shortened.
fn ceil_ms(d: Duration) -> u64 {
    let whole = crate::runtime::clock::millis(d);
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        whole.saturating_add(1)
    } else {
        whole
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn last_activity(c: &SessionCounters, direction: IdleDirection, listed: bool) -> Stamp {
    let from = || c.last_activity(Direction::FromSubscriber, listed);
    let to = || c.last_activity(Direction::ToSubscriber, listed);
    match direction {
        IdleDirection::Either => from().max(to()),
        IdleDirection::FromSubscriber => from(),
        IdleDirection::ToSubscriber => to(),
    }
}

fn idle_bytes(c: &SessionCounters, direction: IdleDirection, listed: bool) -> u64 {
    let from = || c.bytes(Direction::FromSubscriber, listed);
    let to = || c.bytes(Direction::ToSubscriber, listed);
    match direction {
        IdleDirection::Either => from().wrapping_add(to()),
        IdleDirection::FromSubscriber => from(),
        IdleDirection::ToSubscriber => to(),
    }
}

/// Fresh rate state at `now`: E's window starts now; B's minimum-rate activity counts from
/// `idle_active`.
fn new_rate_state(
    c: &SessionCounters,
    conditions: &Conditions,
    idle_active: Stamp,
    now: Stamp,
) -> RateState {
    let idle_base = conditions
        .idle
        .as_ref()
        .map_or(0, |i| idle_bytes(c, i.direction, i.only_listed_servers));
    RateState {
        idle_active,
        idle_base,
        idle_sampled_at: now,
        window_start: now,
        window_from: c.bytes(Direction::FromSubscriber, false),
        window_to: c.bytes(Direction::ToSubscriber, false),
    }
}

/// A path rate in kbit/s, rounded to nearest and saturating.
fn kbps(bps: u64) -> u32 {
    u32::try_from(bps.saturating_add(500) / 1000).unwrap_or(u32::MAX)
}

/// Bits per second of `bytes` over `elapsed_ms`.
fn rate_bps(bytes: u64, elapsed_ms: u64) -> u64 {
    let bps = u128::from(bytes) * 8_000 / u128::from(elapsed_ms.max(1));
    u64::try_from(bps).unwrap_or(u64::MAX)
}

/// One session's part of a sampling pass.
fn sample_session(s: &mut Session, mut rate: Option<&mut RateState>, now: Stamp) -> Option<Fired> {
    let c = &*s.conditions;
    let counters = &*s.counters;
    if let (Some(idle), Some(rate)) = (&c.idle, rate.as_deref_mut())
        && let Some(min) = idle.min_rate_bps
    {
        let elapsed = now.saturating_sub(rate.idle_sampled_at);
        if elapsed > 0 {
            let bytes = idle_bytes(counters, idle.direction, idle.only_listed_servers);
            if rate_bps(bytes.wrapping_sub(rate.idle_base), elapsed) >= min {
                rate.idle_active = now;
            }
            rate.idle_base = bytes;
            rate.idle_sampled_at = now;
        }
    }
    if let Some(v) = &c.volume {
        let listed = v.only_listed_servers;
        let checks = [
            (VolumeCounter::BytesFromSubscriber, v.bytes_from_subscriber),
            (VolumeCounter::BytesToSubscriber, v.bytes_to_subscriber),
            (
                VolumeCounter::PacketsFromSubscriber,
                v.packets_from_subscriber,
            ),
            (VolumeCounter::PacketsToSubscriber, v.packets_to_subscriber),
        ];
        for (counter, limit) in checks {
            let Some(limit) = limit else { continue };
            let value = match counter {
                VolumeCounter::BytesFromSubscriber => {
                    counters.bytes(Direction::FromSubscriber, listed)
                }
                VolumeCounter::BytesToSubscriber => counters.bytes(Direction::ToSubscriber, listed),
                VolumeCounter::PacketsFromSubscriber => {
                    counters.packets(Direction::FromSubscriber, listed)
                }
                VolumeCounter::PacketsToSubscriber => {
                    counters.packets(Direction::ToSubscriber, listed)
                }
            };
            if value > limit {
                return Some(Fired::Volume {
                    counter,
                    value,
                    limit,
                    only_listed_servers: listed,
                });
            }
        }
    }
    if let (Some(t), Some(rate)) = (&c.traffic, rate) {
        let elapsed = now.saturating_sub(rate.window_start);
        if elapsed >= ceil_ms(t.window) {
            let from = counters.bytes(Direction::FromSubscriber, false);
            let to = counters.bytes(Direction::ToSubscriber, false);
            let (df, dt) = (
                from.wrapping_sub(rate.window_from),
                to.wrapping_sub(rate.window_to),
            );
            let bytes = match t.direction {
                RateDirection::Busier => df.max(dt),
                RateDirection::FromSubscriber => df,
                RateDirection::ToSubscriber => dt,
            };
            let bps = rate_bps(bytes, elapsed);
            rate.window_start = now;
            rate.window_from = from;
            rate.window_to = to;
            // Seed 004 Fig. 7: the ratio of the current rate to the path's maximum rate, compared
            // with the contracted share; compared in integers as bps * 100 > percent * max.
            let path_max_bps = u64::from(s.path_max_kbps) * 1000;
            if path_max_bps > 0
                && u128::from(bps) * 100 > u128::from(t.max_percent) * u128::from(path_max_bps)
            {
                return Some(Fired::Traffic {
                    window: ms(elapsed),
                    rate_bps: bps,
                    path_max_bps,
                    limit_percent: t.max_percent,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-session budget is 200 bytes of engine state; the slab entry is most of it.
    #[test]
    fn a_slab_entry_stays_within_its_size() {
        assert_eq!(std::mem::size_of::<Session>(), 96);
        assert_eq!(
            std::mem::size_of::<Entry>(),
            96,
            "the vacant variant must fit the session's niche"
        );
        assert_eq!(std::mem::size_of::<RateState>(), 48);
    }

    /// RFC 2866 §5.10: the engine's causes carry their attribute values and read their names
    /// from the ledger's table by value, so both ends of the list and one inside are checked.
    #[test]
    fn acct_terminate_cause_names_are_rfc_2866s() {
        for (cause, value, name) in [
            (AcctTerminateCause::UserRequest, 1, "User-Request"),
            (AcctTerminateCause::IdleTimeout, 4, "Idle-Timeout"),
            (AcctTerminateCause::NasRequest, 10, "NAS-Request"),
            (AcctTerminateCause::HostRequest, 18, "Host-Request"),
        ] {
            assert_eq!((cause.value(), cause.name()), (value, name));
        }
        assert_eq!(
            AcctTerminateCause::IdleTimeout.to_string(),
            "Idle-Timeout(4)"
        );
    }

    #[test]
    fn subscribers_sharing_a_hash_are_still_counted_apart() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut e = DisconnectEngine::new(
            StampBase::new(t0),
            EngineSettings::default(),
            Arc::default(),
        );
        e.collide_subscribers = true;
        let c = Arc::new(Conditions {
            logins: Some(LoginCondition {
                per_subscriber: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut login = |key: u64, name: &str, secs: u64| {
            let now = t0 + Duration::from_secs(secs);
            e.login(
                now,
                LoginRequest {
                    session: SessionKey(key),
                    subscriber: name.into(),
                    access_point: "ap",
                    conditions: c.clone(),
                    counters: Arc::default(),
                    path_max_bps: 0,
                    logged_in_at: now,
                    disconnect_order: 0,
                },
            )
        };
        let victims = |o: LoginOutcome| match o {
            LoginOutcome::Accepted { victims, .. } => {
                victims.into_iter().map(|d| d.session.0).collect::<Vec<_>>()
            }
            LoginOutcome::Refused(r) => panic!("{r}"),
        };
        assert!(victims(login(1, "a", 1)).is_empty());
        assert!(
            victims(login(2, "b", 2)).is_empty(),
            "b shares a's list but not its count"
        );
        assert!(victims(login(3, "c", 3)).is_empty());
        assert_eq!(victims(login(4, "b", 4)), vec![2]);
        assert_eq!(victims(login(5, "a", 5)), vec![1]);
        assert_eq!(e.subscribers.len(), 1, "one shared list");
    }

    #[test]
    fn rate_states_are_reused_after_logout_and_reload() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut e = DisconnectEngine::new(
            StampBase::new(t0),
            EngineSettings::default(),
            Arc::default(),
        );
        let with_e = Arc::new(Conditions {
            traffic: Some(TrafficCondition {
                window: Duration::from_secs(10),
                max_percent: 50,
                direction: RateDirection::Busier,
            }),
            ..Default::default()
        });
        let login = |e: &mut DisconnectEngine, key: u64| {
            let LoginOutcome::Accepted { handle, .. } = e.login(
                t0,
                LoginRequest {
                    session: SessionKey(key),
                    subscriber: "s".into(),
                    access_point: "ap",
                    conditions: with_e.clone(),
                    counters: Arc::default(),
                    path_max_bps: 1_000_000,
                    logged_in_at: t0,
                    disconnect_order: 0,
                },
            ) else {
                panic!("refused")
            };
            handle
        };
        let handles: Vec<_> = (0..10).map(|k| login(&mut e, k)).collect();
        for h in &handles {
            e.logout(*h).unwrap();
        }
        let handles: Vec<_> = (0..10).map(|k| login(&mut e, k)).collect();
        assert_eq!(e.rates.len, 10, "freed rate states are reused");
        // A reload that keeps E replaces each state in place; one that drops E frees it.
        for h in &handles {
            let mut c = (*with_e).clone();
            c.traffic.as_mut().unwrap().max_percent = 60;
            e.set_conditions(t0, *h, Arc::new(c), 0);
        }
        assert_eq!((e.rates.len, e.rates.free.len()), (10, 0));
        for h in &handles {
            e.set_conditions(t0, *h, Arc::default(), 0);
        }
        assert_eq!(e.rates.free.len(), 10);
        assert_eq!(e.stats().sampled, 0);
    }

    #[test]
    fn the_engine_can_move_into_the_actor_task() {
        fn send<T: Send>() {}
        send::<DisconnectEngine>();
        send::<Decision>();
    }

    #[test]
    fn heap_entries_round_trip() {
        let e = (12_345u64 << SLOT_BITS) | 777;
        assert_eq!(unpack(e), (12_345, 777));
        assert_eq!(
            unpack((DEADLINE_MAX << SLOT_BITS) | SLOT_MASK),
            (DEADLINE_MAX, SLOT_MASK as u32)
        );
    }

    #[test]
    fn durations_round_up_to_whole_milliseconds() {
        assert_eq!(ceil_ms(Duration::from_micros(1)), 1);
        assert_eq!(ceil_ms(Duration::from_millis(5)), 5);
        assert_eq!(ceil_ms(Duration::from_nanos(5_000_001)), 6);
        assert_eq!(kbps(1_499), 1);
        assert_eq!(kbps(u64::MAX), u32::MAX);
    }
}
