//! The session-administration table (seed 000 claims 4 and 14): lines, LNS peers, tunnels, sessions,
//! pending move reservations and the record of recent disconnections ("holes").
//!
//! Owns: the bookkeeping of which session sits in which tunnel on which line, how much bandwidth each
//! tunnel has committed and reserved, and the indexes that make lookups cheap (by session, tunnel, peer,
//! line, and a free-room index per peer and line so a best-fit search is a few ordered-set lookups, not a
//! scan over every tunnel). Must not touch: decisions (the [`planner`](super::planner) makes them), the
//! clock (every time comes in as `now`), IO of any kind.
//!
//! # Model
//! - A **line** is a physical uplink (on our LAC, a local source address or interface). It has a
//!   capacity in bit/s and a cost. Each tunnel opened on a line reserves its full capacity on the line,
//!   so the sum of the capacities of the tunnels a line carries never exceeds the line's capacity. A line
//!   may be private to one paying account (seed 000 claim 17): only sessions of that account's
//!   supplementary contract go there, and those sessions go nowhere else.
//! - A **peer** is an LNS. Its configuration says which lines reach it, the capacity and session limit
//!   of each tunnel to it, and how many tunnels it may have.
//! - A **tunnel** belongs to one peer and one line. Its room is `capacity - committed - reserved`, where
//!   `committed` is the sum of the service levels of the sessions it holds and `reserved` is what
//!   pending moves toward it have set aside, so concurrent decisions never overbook it.
//! - A **session** has a service level (bit/s), a subscriber name, a paying account, whether the
//!   subscriber is a consolidation customer (claim 1), whether it has a supplementary contract
//!   (claim 17), its login time and the time it last moved.
//!
//! Identifiers: [`SessionId`] is the integrator's handle for one subscriber session and stays the same
//! across moves (it plays the role of RADIUS Acct-Multi-Session-Id). [`TunnelId`] is allocated by this
//! table and never reused; the integrator maps it to the L2TP tunnel IDs of RFC 2661 §4.4.3 (Assigned
//! Tunnel ID), which are 16-bit and may be reused. [`PeerId`], [`LineId`] and [`AccountId`] come from
//! configuration; the integrator interns account strings into [`AccountId`].
//!
//! Every mutation keeps the invariants listed on [`AdminTable::check_invariants`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A subscriber session, as known to the integrator. Stable across moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SessionId(pub u64);

/// A tunnel in the admin table. Allocated by [`AdminTable::open_tunnel`], never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TunnelId(pub u32);

/// An LNS peer, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PeerId(pub u32);

/// A physical line (uplink), from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LineId(pub u32);

/// A paying (bank) account, interned by the integrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AccountId(pub u64);

/// A planned move, allocated by the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MoveId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}", self.0)
    }
}
impl std::fmt::Display for TunnelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t{}", self.0)
    }
}
impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer{}", self.0)
    }
}
impl std::fmt::Display for LineId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line{}", self.0)
    }
}
impl std::fmt::Display for MoveId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// Which sessions a line may carry (seed 000 claim 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineClass {
    /// Any session without a supplementary contract.
    Public,
    /// Only the sessions of this account's supplementary contract.
    Private(AccountId),
}

/// Configuration of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSpec {
    /// The line's identifier.
    pub id: LineId,
    /// Operator-facing name (interface or source address), for logs and `ctl plan`.
    pub name: String,
    /// Bandwidth of the line, bit/s. Bounds the sum of the capacities of the tunnels it carries.
    pub capacity_bps: u64,
    /// What the line costs, in minor currency units per month. The planner prefers cheaper lines when
    /// it must open a tunnel on a line that carries none yet.
    pub cost: i64,
    /// Public, or private to one paying account.
    pub class: LineClass,
}

/// Configuration of one LNS peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// The peer's identifier.
    pub id: PeerId,
    /// Operator-facing name (host name or address).
    pub name: String,
    /// Lines that reach this peer. Sessions to it are placed only on these.
    pub lines: Vec<LineId>,
    /// Capacity of each tunnel to this peer, bit/s (what the wholesale contract grants per tunnel).
    pub tunnel_capacity_bps: u64,
    /// Most sessions one tunnel to this peer may carry (at most 65535, RFC 2661 §4.4.3 session IDs).
    pub max_sessions_per_tunnel: u32,
    /// Most tunnels this peer may have at once, in any state.
    pub max_tunnels: u32,
}

/// Life cycle of a tunnel as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelState {
    /// SCCRQ sent, not yet established. New sessions may be placed (they wait for it), moves may not
    /// target it.
    Opening,
    /// Established (RFC 2661 §5.1 control connection up). Takes new sessions and moves.
    Up,
    /// Takes no new sessions and no moves in; its sessions stay until they end or move out.
    Draining,
    /// StopCCN sent or being sent. Holds no session and no reservation.
    Closing,
}

/// What a session brings to the table when it is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The integrator's handle.
    pub id: SessionId,
    /// Subscriber name, for logs and `ctl plan`.
    pub subscriber: Arc<str>,
    /// The peer (LNS) the session goes to.
    pub peer: PeerId,
    /// Paying account.
    pub account: AccountId,
    /// Subscribes to the consolidation service (claim 1). Only customers are ever moved.
    pub customer: bool,
    /// Has the supplementary contract (claim 17): must sit on a line private to `account`.
    pub supplementary: bool,
    /// Allocated service level, bit/s.
    pub level_bps: u64,
}

impl SessionSpec {
    /// The class of line this session may sit on.
    pub fn class(&self) -> LineClass {
        if self.supplementary {
            LineClass::Private(self.account)
        } else {
            LineClass::Public
        }
    }
}

/// A line and what it carries.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its configuration.
    pub spec: LineSpec,
    /// Tunnels on the line, in any state.
    pub tunnels: BTreeSet<TunnelId>,
    /// Sum of the capacities of those tunnels, bit/s.
    pub tunnel_capacity_bps: u64,
    /// Sum of the service levels of the sessions on the line, bit/s.
    pub committed_bps: u64,
    /// Since when the line carries no tunnel, if it carries none.
    pub idle_since: Option<Instant>,
}

impl Line {
    /// Capacity not yet given to a tunnel, bit/s.
    pub fn unallocated_bps(&self) -> u64 {
        self.spec
            .capacity_bps
            .saturating_sub(self.tunnel_capacity_bps)
    }
}

/// A peer and its tunnels.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its configuration.
    pub spec: PeerSpec,
    /// Its tunnels, in any state.
    pub tunnels: BTreeSet<TunnelId>,
}

/// One tunnel's row.
#[derive(Debug, Clone)]
pub struct Tunnel {
    /// Its identifier.
    pub id: TunnelId,
    /// The LNS it goes to.
    pub peer: PeerId,
    /// The line it runs on.
    pub line: LineId,
    /// Class of its line, cached.
    pub class: LineClass,
    /// Capacity, bit/s.
    pub capacity_bps: u64,
    /// Session limit.
    pub max_sessions: u32,
    /// Life-cycle state.
    pub state: TunnelState,
    /// The peer advertised the live-move capability on this tunnel's control connection.
    pub live_move_capable: bool,
    /// Sum of the service levels of the sessions it holds, bit/s.
    pub committed_bps: u64,
    /// Bandwidth set aside for pending moves toward it, bit/s.
    pub reserved_bps: u64,
    /// Session slots set aside for pending moves toward it.
    pub reserved_slots: u32,
    /// Sessions it holds. Order is meaningless (removal swaps).
    pub sessions: Vec<SessionId>,
    /// When it was opened.
    pub opened_at: Instant,
    /// Since when it holds no session and no reservation, if so.
    pub empty_since: Option<Instant>,
}

impl Tunnel {
    /// Bandwidth a new session or move could still take, bit/s.
    pub fn free_bps(&self) -> u64 {
        self.capacity_bps
            .saturating_sub(self.committed_bps + self.reserved_bps)
    }

    /// Session slots still open.
    pub fn free_slots(&self) -> u32 {
        self.max_sessions
            .saturating_sub(self.sessions.len() as u32 + self.reserved_slots)
    }

    /// Committed plus reserved bandwidth, bit/s: how full the tunnel is for planning.
    pub fn used_bps(&self) -> u64 {
        self.committed_bps + self.reserved_bps
    }

    /// Whether a session of `level_bps` fits now.
    pub fn fits(&self, level_bps: u64) -> bool {
        self.free_slots() > 0 && self.free_bps() >= level_bps
    }

    /// Holds no session and no reservation.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.reserved_slots == 0
    }

    /// New sessions may be placed here.
    pub fn accepts_new_sessions(&self) -> bool {
        matches!(self.state, TunnelState::Opening | TunnelState::Up)
    }
}

/// One session's row.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its identifier.
    pub id: SessionId,
    /// Subscriber name.
    pub subscriber: Arc<str>,
    /// Paying account.
    pub account: AccountId,
    /// Consolidation customer (claim 1).
    pub customer: bool,
    /// Supplementary contract (claim 17).
    pub supplementary: bool,
    /// Allocated service level, bit/s.
    pub level_bps: u64,
    /// The tunnel that holds it.
    pub tunnel: TunnelId,
    /// The peer it belongs to (all its tunnels go there).
    pub peer: PeerId,
    /// When it was placed.
    pub login_at: Instant,
    /// When it last moved, if ever.
    pub last_moved_at: Option<Instant>,
    /// The pending move it is part of, if any.
    pub pending_move: Option<MoveId>,
    /// Its index in its tunnel's `sessions`.
    slot: usize,
}

impl Session {
    /// The class of line this session may sit on.
    pub fn class(&self) -> LineClass {
        if self.supplementary {
            LineClass::Private(self.account)
        } else {
            LineClass::Public
        }
    }

    /// Since when it has been where it is.
    pub fn settled_since(&self) -> Instant {
        self.last_moved_at.unwrap_or(self.login_at)
    }
}

/// A move in flight: a reservation on the target tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The move.
    pub id: MoveId,
    /// The session moving.
    pub session: SessionId,
    /// Where it is.
    pub from: TunnelId,
    /// Where it goes.
    pub to: TunnelId,
    /// Bandwidth set aside on `to`, bit/s. At least the session's level.
    pub reserved_bps: u64,
}

/// A session that just disconnected, and where: a hole a move may fill (claims 5, 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    /// The session that left.
    pub session: SessionId,
    /// Its subscriber.
    pub subscriber: Arc<str>,
    /// The tunnel it left.
    pub tunnel: TunnelId,
    /// That tunnel's line.
    pub line: LineId,
    /// The bandwidth it freed, bit/s.
    pub level_bps: u64,
    /// When.
    pub at: Instant,
}

/// Why the table refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No such session.
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// The session is already placed.
    #[error("session {0} is already placed")]
    DuplicateSession(SessionId),
    /// No such tunnel.
    #[error("unknown tunnel {0}")]
    UnknownTunnel(TunnelId),
    /// No such line.
    #[error("unknown line {0}")]
    UnknownLine(LineId),
    /// No such peer.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// A line with that ID exists.
    #[error("line {0} is already configured")]
    DuplicateLine(LineId),
    /// A peer with that ID exists.
    #[error("peer {0} is already configured")]
    DuplicatePeer(PeerId),
    /// The peer names a line that does not exist.
    #[error("peer {peer} names unknown line {line}")]
    PeerLineUnknown {
        /// The peer.
        peer: PeerId,
        /// The line.
        line: LineId,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidSpec(&'static str),
    /// The line does not reach that peer.
    #[error("line {line} does not reach peer {peer}")]
    LineNotForPeer {
        /// The line.
        line: LineId,
        /// The peer.
        peer: PeerId,
    },
    /// The line has no capacity left for another tunnel.
    #[error("line {0} has no capacity left for another tunnel")]
    LineFull(LineId),
    /// The peer has its maximum number of tunnels.
    #[error("peer {0} has its maximum number of tunnels")]
    PeerTunnelLimit(PeerId),
    /// The table has its maximum number of tunnels.
    #[error("the table has its maximum number of tunnels")]
    TunnelLimit,
    /// The tunnel has no room for this.
    #[error("tunnel {0} has no room")]
    NoRoom(TunnelId),
    /// The tunnel is in a state that does not allow this.
    #[error("tunnel {tunnel} is {state:?}")]
    TunnelState {
        /// The tunnel.
        tunnel: TunnelId,
        /// Its state.
        state: TunnelState,
    },
    /// The session may not sit on that tunnel's line (private-line constraint) or peer.
    #[error("session {session} may not sit on tunnel {tunnel}")]
    NotAllowed {
        /// The session.
        session: SessionId,
        /// The tunnel.
        tunnel: TunnelId,
    },
    /// The tunnel still holds sessions or reservations.
    #[error("tunnel {0} is not empty")]
    TunnelNotEmpty(TunnelId),
    /// The session already takes part in a move.
    #[error("session {0} is already moving")]
    AlreadyMoving(SessionId),
    /// No such pending move.
    #[error("unknown move {0}")]
    UnknownMove(MoveId),
}

/// Hashes the table's integer IDs with one multiply (Fibonacci hashing). The IDs are ours or the
/// integrator's, never a peer's, so SipHash's defence against chosen keys buys nothing here, while
/// the session map is hit once per session in every re-plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
}

/// A hash map keyed by table IDs.
pub type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Which tunnels the free-room index holds: those that take new sessions and have a free slot.
type FreeIndexKey = (PeerId, LineId);

/// The administration table. See the module docs.
#[derive(Debug, Clone)]
pub struct AdminTable {
    lines: BTreeMap<LineId, Line>,
    peers: BTreeMap<PeerId, Peer>,
    tunnels: BTreeMap<TunnelId, Tunnel>,
    sessions: IdMap<SessionId, Session>,
    /// Per (peer, line): `(free_bps, tunnel)` of every tunnel that accepts new sessions and has a slot.
    free_index: IdMap<FreeIndexKey, BTreeSet<(u64, TunnelId)>>,
    /// The key each tunnel is filed under in `free_index`, if it is filed.
    indexed_free: IdMap<TunnelId, u64>,
    reservations: BTreeMap<MoveId, Reservation>,
    holes: VecDeque<Hole>,
    hole_capacity: usize,
    max_tunnels: usize,
    next_tunnel: u32,
}

impl AdminTable {
    /// An empty table that keeps at most `hole_capacity` holes and allows at most `max_tunnels`
    /// tunnels in total.
    pub fn new(max_tunnels: usize, hole_capacity: usize) -> Self {
        Self {
            lines: BTreeMap::new(),
            peers: BTreeMap::new(),
            tunnels: BTreeMap::new(),
            sessions: IdMap::default(),
            free_index: IdMap::default(),
            indexed_free: IdMap::default(),
            reservations: BTreeMap::new(),
            holes: VecDeque::new(),
            hole_capacity,
            max_tunnels,
            next_tunnel: 1,
        }
    }

    // ---------------------------------------------------------------- configuration

    /// Adds a line. `now` starts its idle time.
    pub fn add_line(&mut self, now: Instant, spec: LineSpec) -> Result<(), AdminError> {
        if self.lines.contains_key(&spec.id) {
            return Err(AdminError::DuplicateLine(spec.id));
        }
        if spec.capacity_bps == 0 {
            return Err(AdminError::InvalidSpec("line capacity must be positive"));
        }
        self.lines.insert(
            spec.id,
            Line {
                spec,
                tunnels: BTreeSet::new(),
                tunnel_capacity_bps: 0,
                committed_bps: 0,
                idle_since: Some(now),
            },
        );
        Ok(())
    }

    /// Adds a peer. Its lines must exist.
    pub fn add_peer(&mut self, spec: PeerSpec) -> Result<(), AdminError> {
        if self.peers.contains_key(&spec.id) {
            return Err(AdminError::DuplicatePeer(spec.id));
        }
        if spec.tunnel_capacity_bps == 0 {
            return Err(AdminError::InvalidSpec("tunnel capacity must be positive"));
        }
        if spec.max_sessions_per_tunnel == 0 || spec.max_sessions_per_tunnel > u32::from(u16::MAX) {
            return Err(AdminError::InvalidSpec(
                "max sessions per tunnel must be in 1..=65535",
            ));
        }
        for line in &spec.lines {
            if !self.lines.contains_key(line) {
                return Err(AdminError::PeerLineUnknown {
                    peer: spec.id,
                    line: *line,
                });
            }
        }
        self.peers.insert(
            spec.id,
            Peer {
                spec,
                tunnels: BTreeSet::new(),
            },
        );
        Ok(())
    }

    // ---------------------------------------------------------------- lookups

    /// A session by ID.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// A tunnel by ID.
    pub fn tunnel(&self, id: TunnelId) -> Option<&Tunnel> {
        self.tunnels.get(&id)
    }

    /// A line by ID.
    pub fn line(&self, id: LineId) -> Option<&Line> {
        self.lines.get(&id)
    }

    /// A peer by ID.
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(&id)
    }

    /// Every session, in no particular order.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Every tunnel, by ID.
    pub fn tunnels(&self) -> impl Iterator<Item = &Tunnel> {
        self.tunnels.values()
    }

    /// Every line, by ID.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.values()
    }

    /// Every peer, by ID.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// The tunnels of one peer, by ID.
    pub fn tunnels_of_peer(&self, peer: PeerId) -> impl Iterator<Item = &Tunnel> {
        self.peers
            .get(&peer)
            .into_iter()
            .flat_map(|p| p.tunnels.iter())
            .filter_map(|id| self.tunnels.get(id))
    }

    /// The tunnels on one line, by ID.
    pub fn tunnels_on_line(&self, line: LineId) -> impl Iterator<Item = &Tunnel> {
        self.lines
            .get(&line)
            .into_iter()
            .flat_map(|l| l.tunnels.iter())
            .filter_map(|id| self.tunnels.get(id))
    }

    /// The sessions a tunnel holds.
    pub fn sessions_in(&self, tunnel: TunnelId) -> impl Iterator<Item = &Session> {
        self.tunnels
            .get(&tunnel)
            .into_iter()
            .flat_map(|t| t.sessions.iter())
            .filter_map(|id| self.sessions.get(id))
    }

    /// Number of sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of tunnels in any state.
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// The most tunnels the table allows.
    pub fn max_tunnels(&self) -> usize {
        self.max_tunnels
    }

    /// Pending move reservations, by move ID.
    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.values()
    }

    /// One pending move reservation.
    pub fn reservation(&self, id: MoveId) -> Option<&Reservation> {
        self.reservations.get(&id)
    }

    /// Recent disconnections, oldest first.
    pub fn holes(&self) -> impl DoubleEndedIterator<Item = &Hole> {
        self.holes.iter()
    }

    /// Lines of `class` that reach `peer`, in the peer's configured order.
    pub fn lines_for(&self, peer: PeerId, class: LineClass) -> impl Iterator<Item = &Line> {
        self.peers
            .get(&peer)
            .into_iter()
            .flat_map(|p| p.spec.lines.iter())
            .filter_map(|id| self.lines.get(id))
            .filter(move |l| l.spec.class == class)
    }

    /// Whether `session` may sit on `tunnel`: same peer, and the tunnel's line is of its class.
    pub fn allowed(&self, session: &Session, tunnel: &Tunnel) -> bool {
        session.peer == tunnel.peer && session.class() == tunnel.class
    }

    /// Best fit for a new session: the tunnel of `peer` on a line of `class` that accepts new sessions,
    /// has a slot, and whose free room is the smallest that still holds `level_bps`. Ties go to the
    /// line listed first for the peer, then the lower tunnel ID. Costs one ordered-set lookup per line.
    pub fn best_fit(&self, peer: PeerId, class: LineClass, level_bps: u64) -> Option<TunnelId> {
        let mut best: Option<(u64, TunnelId)> = None;
        for line in self.lines_for(peer, class) {
            let Some(set) = self.free_index.get(&(peer, line.spec.id)) else {
                continue;
            };
            if let Some(&(free, id)) = set.range((level_bps, TunnelId(0))..).next()
                && best.is_none_or(|(bf, _)| free < bf)
            {
                best = Some((free, id));
            }
        }
        best.map(|(_, id)| id)
    }

    // ---------------------------------------------------------------- tunnels

    /// Opens a tunnel row in state [`TunnelState::Opening`] for `peer` on `line`, reserving the peer's
    /// tunnel capacity on the line. The integrator then brings the L2TP tunnel up and reports it.
    pub fn open_tunnel(
        &mut self,
        now: Instant,
        peer: PeerId,
        line: LineId,
    ) -> Result<TunnelId, AdminError> {
        let p = self.peers.get(&peer).ok_or(AdminError::UnknownPeer(peer))?;
        if !p.spec.lines.contains(&line) {
            return Err(AdminError::LineNotForPeer { line, peer });
        }
        let l = self.lines.get(&line).ok_or(AdminError::UnknownLine(line))?;
        if l.unallocated_bps() < p.spec.tunnel_capacity_bps {
            return Err(AdminError::LineFull(line));
        }
        if p.tunnels.len() >= p.spec.max_tunnels as usize {
            return Err(AdminError::PeerTunnelLimit(peer));
        }
        if self.tunnels.len() >= self.max_tunnels {
            return Err(AdminError::TunnelLimit);
        }
        let id = TunnelId(self.next_tunnel);
        self.next_tunnel = self
            .next_tunnel
            .checked_add(1)
            .ok_or(AdminError::TunnelLimit)?;
        let capacity = p.spec.tunnel_capacity_bps;
        let tunnel = Tunnel {
            id,
            peer,
            line,
            class: l.spec.class,
            capacity_bps: capacity,
            max_sessions: p.spec.max_sessions_per_tunnel,
            state: TunnelState::Opening,
            live_move_capable: false,
            committed_bps: 0,
            reserved_bps: 0,
            reserved_slots: 0,
            sessions: Vec::new(),
            opened_at: now,
            empty_since: Some(now),
        };
        self.tunnels.insert(id, tunnel);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.tunnels.insert(id);
        }
        if let Some(l) = self.lines.get_mut(&line) {
            l.tunnels.insert(id);
            l.tunnel_capacity_bps += capacity;
            l.idle_since = None;
        }
        self.refile(id);
        Ok(id)
    }

    /// Sets a tunnel's state. Closing requires it to be empty.
    pub fn set_tunnel_state(&mut self, id: TunnelId, state: TunnelState) -> Result<(), AdminError> {
        let t = self
            .tunnels
            .get_mut(&id)
            .ok_or(AdminError::UnknownTunnel(id))?;
        if state == TunnelState::Closing && !t.is_empty() {
            return Err(AdminError::TunnelNotEmpty(id));
        }
        t.state = state;
        self.refile(id);
        Ok(())
    }

    /// Records whether the peer advertised the live-move capability on this tunnel.
    pub fn set_live_move_capable(&mut self, id: TunnelId, capable: bool) -> Result<(), AdminError> {
        let t = self
            .tunnels
            .get_mut(&id)
            .ok_or(AdminError::UnknownTunnel(id))?;
        t.live_move_capable = capable;
        Ok(())
    }

    /// Removes an empty tunnel (its StopCCN exchange finished, RFC 2661 §5.7). Returns the line's idle
    /// state: `true` when the line now carries no tunnel.
    pub fn remove_tunnel(&mut self, now: Instant, id: TunnelId) -> Result<bool, AdminError> {
        let t = self.tunnels.get(&id).ok_or(AdminError::UnknownTunnel(id))?;
        if !t.is_empty() {
            return Err(AdminError::TunnelNotEmpty(id));
        }
        self.unfile(id);
        let t = self
            .tunnels
            .remove(&id)
            .ok_or(AdminError::UnknownTunnel(id))?;
        if let Some(p) = self.peers.get_mut(&t.peer) {
            p.tunnels.remove(&id);
        }
        let mut line_idle = false;
        if let Some(l) = self.lines.get_mut(&t.line) {
            l.tunnels.remove(&id);
            l.tunnel_capacity_bps -= t.capacity_bps;
            if l.tunnels.is_empty() {
                l.idle_since = Some(now);
                line_idle = true;
            }
        }
        Ok(line_idle)
    }

    // ---------------------------------------------------------------- sessions

    /// Places a new session into `tunnel`. The tunnel must accept new sessions, be of the session's
    /// peer and line class, and have room.
    pub fn insert_session(
        &mut self,
        now: Instant,
        spec: &SessionSpec,
        tunnel: TunnelId,
    ) -> Result<(), AdminError> {
        if self.sessions.contains_key(&spec.id) {
            return Err(AdminError::DuplicateSession(spec.id));
        }
        let t = self
            .tunnels
            .get(&tunnel)
            .ok_or(AdminError::UnknownTunnel(tunnel))?;
        if !t.accepts_new_sessions() {
            return Err(AdminError::TunnelState {
                tunnel,
                state: t.state,
            });
        }
        if t.peer != spec.peer || t.class != spec.class() {
            return Err(AdminError::NotAllowed {
                session: spec.id,
                tunnel,
            });
        }
        if !t.fits(spec.level_bps) {
            return Err(AdminError::NoRoom(tunnel));
        }
        let line = t.line;
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(AdminError::UnknownTunnel(tunnel))?;
        let slot = t.sessions.len();
        t.sessions.push(spec.id);
        t.committed_bps += spec.level_bps;
        t.empty_since = None;
        if let Some(l) = self.lines.get_mut(&line) {
            l.committed_bps += spec.level_bps;
        }
        self.sessions.insert(
            spec.id,
            Session {
                id: spec.id,
                subscriber: spec.subscriber.clone(),
                account: spec.account,
                customer: spec.customer,
                supplementary: spec.supplementary,
                level_bps: spec.level_bps,
                tunnel,
                peer: spec.peer,
                login_at: now,
                last_moved_at: None,
                pending_move: None,
                slot,
            },
        );
        self.refile(tunnel);
        Ok(())
    }

    /// Removes a session that ended, and records the hole it leaves. A pending move of the session
    /// must have been cancelled first (see [`AdminTable::cancel_reservation`]).
    pub fn remove_session(&mut self, now: Instant, id: SessionId) -> Result<Session, AdminError> {
        let s = self
            .sessions
            .get(&id)
            .ok_or(AdminError::UnknownSession(id))?;
        if s.pending_move.is_some() {
            return Err(AdminError::AlreadyMoving(id));
        }
        let s = self
            .sessions
            .remove(&id)
            .ok_or(AdminError::UnknownSession(id))?;
        self.detach(now, &s);
        let line = self.tunnels.get(&s.tunnel).map(|t| t.line);
        if let Some(line) = line {
            if self.holes.len() >= self.hole_capacity {
                self.holes.pop_front();
            }
            if self.hole_capacity > 0 {
                self.holes.push_back(Hole {
                    session: id,
                    subscriber: s.subscriber.clone(),
                    tunnel: s.tunnel,
                    line,
                    level_bps: s.level_bps,
                    at: now,
                });
            }
        }
        self.refile(s.tunnel);
        Ok(s)
    }

    /// Changes a session's level. Lowering always succeeds. Raising succeeds only if the tunnel has
    /// room for the difference and, when the session is moving, the move's reservation covers the new
    /// level; otherwise nothing changes and [`AdminError::NoRoom`] names the tunnel.
    pub fn set_level(&mut self, id: SessionId, level_bps: u64) -> Result<(), AdminError> {
        let s = self
            .sessions
            .get(&id)
            .ok_or(AdminError::UnknownSession(id))?;
        let old = s.level_bps;
        let tunnel = s.tunnel;
        if level_bps > old {
            let t = self
                .tunnels
                .get(&tunnel)
                .ok_or(AdminError::UnknownTunnel(tunnel))?;
            if t.free_bps() < level_bps - old {
                return Err(AdminError::NoRoom(tunnel));
            }
            if let Some(m) = s.pending_move
                && let Some(r) = self.reservations.get(&m)
                && r.reserved_bps < level_bps
            {
                return Err(AdminError::NoRoom(r.to));
            }
        }
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(AdminError::UnknownTunnel(tunnel))?;
        t.committed_bps = t.committed_bps - old + level_bps;
        let line = t.line;
        if let Some(l) = self.lines.get_mut(&line) {
            l.committed_bps = l.committed_bps - old + level_bps;
        }
        if let Some(s) = self.sessions.get_mut(&id) {
            s.level_bps = level_bps;
        }
        self.refile(tunnel);
        Ok(())
    }

    // ---------------------------------------------------------------- moves

    /// Reserves room on `to` for moving `session` there with `reserved_bps` (at least its level).
    /// The target must be up, of the same peer and line class, and have room; the session must not be
    /// moving already.
    pub fn reserve(
        &mut self,
        id: MoveId,
        session: SessionId,
        to: TunnelId,
        reserved_bps: u64,
    ) -> Result<(), AdminError> {
        if self.reservations.contains_key(&id) {
            return Err(AdminError::UnknownMove(id));
        }
        let s = self
            .sessions
            .get(&session)
            .ok_or(AdminError::UnknownSession(session))?;
        if s.pending_move.is_some() {
            return Err(AdminError::AlreadyMoving(session));
        }
        let t = self.tunnels.get(&to).ok_or(AdminError::UnknownTunnel(to))?;
        if t.state != TunnelState::Up {
            return Err(AdminError::TunnelState {
                tunnel: to,
                state: t.state,
            });
        }
        if !self.allowed(s, t) || s.tunnel == to {
            return Err(AdminError::NotAllowed {
                session,
                tunnel: to,
            });
        }
        let reserved_bps = reserved_bps.max(s.level_bps);
        if !t.fits(reserved_bps) {
            return Err(AdminError::NoRoom(to));
        }
        let from = s.tunnel;
        if let Some(t) = self.tunnels.get_mut(&to) {
            t.reserved_bps += reserved_bps;
            t.reserved_slots += 1;
            t.empty_since = None;
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pending_move = Some(id);
        }
        self.reservations.insert(
            id,
            Reservation {
                id,
                session,
                from,
                to,
                reserved_bps,
            },
        );
        self.refile(to);
        Ok(())
    }

    /// Drops a reservation: the move failed or was abandoned. The session stays where it was.
    pub fn cancel_reservation(
        &mut self,
        now: Instant,
        id: MoveId,
    ) -> Result<Reservation, AdminError> {
        let r = self
            .reservations
            .remove(&id)
            .ok_or(AdminError::UnknownMove(id))?;
        self.release_target(now, &r);
        if let Some(s) = self.sessions.get_mut(&r.session) {
            s.pending_move = None;
        }
        Ok(r)
    }

    /// Completes a move: the session now sits on the target, its level becomes `level_bps` (which
    /// must be covered by the reservation; pass the session's current level to keep it), and the
    /// reservation is consumed.
    pub fn commit_move(
        &mut self,
        now: Instant,
        id: MoveId,
        level_bps: u64,
    ) -> Result<Reservation, AdminError> {
        let r = self
            .reservations
            .get(&id)
            .ok_or(AdminError::UnknownMove(id))?
            .clone();
        if !self.sessions.contains_key(&r.session) {
            return Err(AdminError::UnknownSession(r.session));
        }
        let level_bps = level_bps.min(r.reserved_bps);
        self.reservations.remove(&id);
        self.release_target(now, &r);
        let mut s = self
            .sessions
            .remove(&r.session)
            .ok_or(AdminError::UnknownSession(r.session))?;
        self.detach(now, &s);
        self.refile(s.tunnel);
        let to_line = self.tunnels.get(&r.to).map(|t| t.line);
        let t = self
            .tunnels
            .get_mut(&r.to)
            .ok_or(AdminError::UnknownTunnel(r.to))?;
        s.slot = t.sessions.len();
        t.sessions.push(s.id);
        t.committed_bps += level_bps;
        t.empty_since = None;
        if let Some(l) = to_line.and_then(|line| self.lines.get_mut(&line)) {
            l.committed_bps += level_bps;
        }
        s.tunnel = r.to;
        s.level_bps = level_bps;
        s.last_moved_at = Some(now);
        s.pending_move = None;
        self.sessions.insert(s.id, s);
        self.refile(r.to);
        Ok(r)
    }

    fn release_target(&mut self, now: Instant, r: &Reservation) {
        if let Some(t) = self.tunnels.get_mut(&r.to) {
            t.reserved_bps -= r.reserved_bps;
            t.reserved_slots -= 1;
            if t.is_empty() {
                t.empty_since = Some(now);
            }
        }
        self.refile(r.to);
    }

    /// Takes a session out of its tunnel's list and sums, keeping the slot indexes right.
    fn detach(&mut self, now: Instant, s: &Session) {
        let Some(t) = self.tunnels.get_mut(&s.tunnel) else {
            return;
        };
        let last = t.sessions.len() - 1;
        t.sessions.swap_remove(s.slot);
        t.committed_bps -= s.level_bps;
        if t.is_empty() {
            t.empty_since = Some(now);
        }
        let line = t.line;
        if s.slot < last {
            let moved = t.sessions[s.slot];
            if let Some(m) = self.sessions.get_mut(&moved) {
                m.slot = s.slot;
            }
        }
        if let Some(l) = self.lines.get_mut(&line) {
            l.committed_bps -= s.level_bps;
        }
    }

    // ---------------------------------------------------------------- free-room index

    fn unfile(&mut self, id: TunnelId) {
        if let Some(old) = self.indexed_free.remove(&id)
            && let Some(t) = self.tunnels.get(&id)
            && let Some(set) = self.free_index.get_mut(&(t.peer, t.line))
        {
            set.remove(&(old, id));
        }
    }

    /// Files a tunnel in the free-room index under its current free room, or takes it out when it
    /// accepts no new session or has no slot.
    fn refile(&mut self, id: TunnelId) {
        self.unfile(id);
        let Some(t) = self.tunnels.get(&id) else {
            return;
        };
        if t.accepts_new_sessions() && t.free_slots() > 0 {
            let free = t.free_bps();
            self.free_index
                .entry((t.peer, t.line))
                .or_default()
                .insert((free, id));
            self.indexed_free.insert(id, free);
        }
    }

    /// Forgets the holes of a tunnel that went away.
    pub fn forget_holes_in(&mut self, tunnel: TunnelId) {
        self.holes.retain(|h| h.tunnel != tunnel);
    }

    /// Forgets holes older than `max_age`.
    pub fn expire_holes(&mut self, now: Instant, max_age: Duration) {
        while self
            .holes
            .front()
            .is_some_and(|h| now.saturating_duration_since(h.at) > max_age)
        {
            self.holes.pop_front();
        }
    }

    // ---------------------------------------------------------------- invariants

    /// Checks every invariant of the table and names the first one broken:
    /// - each session is listed exactly once, in the tunnel it names, at the slot it records;
    /// - a session's tunnel is of its peer and of its line class (private-line constraint);
    /// - each tunnel's committed sum equals its sessions' levels, and its reserved sums equal its
    ///   incoming reservations;
    /// - no tunnel is over capacity or over its session limit, counting reservations;
    /// - no line gives its tunnels more than its capacity, and its committed sum is its sessions';
    /// - reservations name moving sessions, their current tunnel, and an allowed other tunnel;
    /// - closing tunnels are empty; peer and line tunnel sets match the tunnels;
    /// - the free-room index holds exactly the tunnels that accept new sessions and have a slot, each
    ///   under its current free room.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut listed: HashMap<SessionId, TunnelId> = HashMap::new();
        let mut line_committed: BTreeMap<LineId, u64> = BTreeMap::new();
        let mut line_capacity: BTreeMap<LineId, u64> = BTreeMap::new();
        for t in self.tunnels.values() {
            let mut sum = 0u64;
            for (i, sid) in t.sessions.iter().enumerate() {
                let s = self
                    .sessions
                    .get(sid)
                    .ok_or_else(|| format!("{} lists unknown session {sid}", t.id))?;
                if listed.insert(*sid, t.id).is_some() {
                    return Err(format!("session {sid} listed twice"));
                }
                if s.tunnel != t.id || s.slot != i {
                    return Err(format!("session {sid} row disagrees with {}", t.id));
                }
                if !self.allowed(s, t) {
                    return Err(format!("session {sid} may not sit on {}", t.id));
                }
                sum += s.level_bps;
            }
            if sum != t.committed_bps {
                return Err(format!(
                    "{} committed {} != sum {sum}",
                    t.id, t.committed_bps
                ));
            }
            let (rb, rs) = self
                .reservations
                .values()
                .filter(|r| r.to == t.id)
                .fold((0u64, 0u32), |(b, n), r| (b + r.reserved_bps, n + 1));
            if rb != t.reserved_bps || rs != t.reserved_slots {
                return Err(format!("{} reservations disagree", t.id));
            }
            if t.committed_bps + t.reserved_bps > t.capacity_bps {
                return Err(format!(
                    "{} over capacity: {} + {} > {}",
                    t.id, t.committed_bps, t.reserved_bps, t.capacity_bps
                ));
            }
            if t.sessions.len() as u32 + t.reserved_slots > t.max_sessions {
                return Err(format!("{} over its session limit", t.id));
            }
            if t.state == TunnelState::Closing && !t.is_empty() {
                return Err(format!("{} is closing but not empty", t.id));
            }
            if t.is_empty() != t.empty_since.is_some() {
                return Err(format!("{} empty_since disagrees", t.id));
            }
            let line = self
                .lines
                .get(&t.line)
                .ok_or_else(|| format!("{} on unknown line", t.id))?;
            if line.spec.class != t.class || !line.tunnels.contains(&t.id) {
                return Err(format!("{} disagrees with its line", t.id));
            }
            if !self
                .peers
                .get(&t.peer)
                .is_some_and(|p| p.tunnels.contains(&t.id))
            {
                return Err(format!("{} disagrees with its peer", t.id));
            }
            *line_committed.entry(t.line).or_default() += t.committed_bps;
            *line_capacity.entry(t.line).or_default() += t.capacity_bps;
            let filed = self.indexed_free.get(&t.id).copied();
            let should = (t.accepts_new_sessions() && t.free_slots() > 0).then(|| t.free_bps());
            if filed != should {
                return Err(format!("{} free index {filed:?} != {should:?}", t.id));
            }
            if let Some(free) = filed
                && !self
                    .free_index
                    .get(&(t.peer, t.line))
                    .is_some_and(|s| s.contains(&(free, t.id)))
            {
                return Err(format!("{} missing from the free index", t.id));
            }
        }
        if listed.len() != self.sessions.len() {
            return Err("a session is in no tunnel".into());
        }
        let filed: usize = self.free_index.values().map(BTreeSet::len).sum();
        if filed != self.indexed_free.len() {
            return Err("free index holds stale entries".into());
        }
        for l in self.lines.values() {
            let committed = line_committed.get(&l.spec.id).copied().unwrap_or(0);
            let capacity = line_capacity.get(&l.spec.id).copied().unwrap_or(0);
            if committed != l.committed_bps || capacity != l.tunnel_capacity_bps {
                return Err(format!("{} sums disagree", l.spec.id));
            }
            if l.tunnel_capacity_bps > l.spec.capacity_bps {
                return Err(format!(
                    "{} gives its tunnels more than its capacity",
                    l.spec.id
                ));
            }
            if l.tunnels.iter().any(|t| !self.tunnels.contains_key(t)) {
                return Err(format!("{} lists an unknown tunnel", l.spec.id));
            }
            if l.tunnels.is_empty() != l.idle_since.is_some() {
                return Err(format!("{} idle_since disagrees", l.spec.id));
            }
        }
        for p in self.peers.values() {
            if p.tunnels
                .iter()
                .any(|t| self.tunnels.get(t).is_none_or(|t| t.peer != p.spec.id))
            {
                return Err(format!("{} lists a foreign tunnel", p.spec.id));
            }
        }
        for r in self.reservations.values() {
            let s = self
                .sessions
                .get(&r.session)
                .ok_or_else(|| format!("{} names unknown session", r.id))?;
            if s.pending_move != Some(r.id) || s.tunnel != r.from || r.from == r.to {
                return Err(format!("{} disagrees with session {}", r.id, r.session));
            }
            let to = self
                .tunnels
                .get(&r.to)
                .ok_or_else(|| format!("{} to unknown tunnel", r.id))?;
            if !self.allowed(s, to) || r.reserved_bps < s.level_bps {
                return Err(format!("{} target not allowed or too small", r.id));
            }
        }
        for s in self.sessions.values() {
            if let Some(m) = s.pending_move
                && !self.reservations.contains_key(&m)
            {
                return Err(format!("session {} names unknown move {m}", s.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::test_epoch;

    const M: u64 = 1_000_000;

    fn table() -> AdminTable {
        let now = test_epoch();
        let mut t = AdminTable::new(10, 4);
        for (id, class) in [
            (1, LineClass::Public),
            (2, LineClass::Private(AccountId(9))),
        ] {
            t.add_line(
                now,
                LineSpec {
                    id: LineId(id),
                    name: format!("l{id}"),
                    capacity_bps: 30 * M,
                    cost: 1,
                    class,
                },
            )
            .unwrap();
        }
        t.add_peer(PeerSpec {
            id: PeerId(1),
            name: "lns".into(),
            lines: vec![LineId(1), LineId(2)],
            tunnel_capacity_bps: 10 * M,
            max_sessions_per_tunnel: 3,
            max_tunnels: 10,
        })
        .unwrap();
        t
    }

    fn spec(id: u64, level: u64) -> SessionSpec {
        SessionSpec {
            id: SessionId(id),
            subscriber: Arc::from("u"),
            peer: PeerId(1),
            account: AccountId(id),
            customer: true,
            supplementary: false,
            level_bps: level,
        }
    }

    #[test]
    fn best_fit_uses_the_free_room_index() {
        let now = test_epoch();
        let mut t = table();
        let a = t.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        let b = t.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        t.insert_session(now, &spec(1, 7 * M), a).unwrap();
        t.insert_session(now, &spec(2, 4 * M), b).unwrap();
        assert_eq!(t.best_fit(PeerId(1), LineClass::Public, 3 * M), Some(a));
        assert_eq!(t.best_fit(PeerId(1), LineClass::Public, 4 * M), Some(b));
        assert_eq!(t.best_fit(PeerId(1), LineClass::Public, 7 * M), None);
        // Private lines are searched only for their account's sessions.
        assert_eq!(
            t.best_fit(PeerId(1), LineClass::Private(AccountId(9)), M),
            None
        );
        // A tunnel whose slots are full leaves the index.
        t.insert_session(now, &spec(3, M), b).unwrap();
        t.insert_session(now, &spec(4, M), b).unwrap();
        assert_eq!(t.best_fit(PeerId(1), LineClass::Public, M), Some(a));
        t.check_invariants().unwrap();
        // Draining tunnels take no new sessions.
        t.set_tunnel_state(a, TunnelState::Draining).unwrap();
        assert_eq!(t.best_fit(PeerId(1), LineClass::Public, M), None);
        t.check_invariants().unwrap();
    }

    #[test]
    fn limits_and_constraints_are_enforced() {
        let now = test_epoch();
        let mut t = table();
        let a = t.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        t.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        t.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        assert_eq!(
            t.open_tunnel(now, PeerId(1), LineId(1)),
            Err(AdminError::LineFull(LineId(1)))
        );
        let supp = SessionSpec {
            supplementary: true,
            ..spec(5, M)
        };
        assert!(matches!(
            t.insert_session(now, &supp, a),
            Err(AdminError::NotAllowed { .. })
        ));
        assert_eq!(
            t.insert_session(now, &spec(6, 11 * M), a),
            Err(AdminError::NoRoom(a))
        );
        t.insert_session(now, &spec(7, 9 * M), a).unwrap();
        assert_eq!(
            t.set_level(SessionId(7), 11 * M),
            Err(AdminError::NoRoom(a))
        );
        assert_eq!(t.remove_tunnel(now, a), Err(AdminError::TunnelNotEmpty(a)));
        assert_eq!(
            t.set_tunnel_state(a, TunnelState::Closing),
            Err(AdminError::TunnelNotEmpty(a))
        );
        t.check_invariants().unwrap();
    }

    #[test]
    fn the_invariant_checker_catches_corruption() {
        let now = test_epoch();
        let mut good = table();
        let a = good.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        let b = good.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        good.set_tunnel_state(a, TunnelState::Up).unwrap();
        good.set_tunnel_state(b, TunnelState::Up).unwrap();
        good.insert_session(now, &spec(1, 6 * M), a).unwrap();
        good.insert_session(now, &spec(2, 3 * M), b).unwrap();
        good.reserve(MoveId(1), SessionId(2), a, 3 * M).unwrap();
        good.check_invariants().unwrap();

        type Corruption = Box<dyn Fn(&mut AdminTable)>;
        let corruptions: Vec<(&str, Corruption)> = vec![
            (
                "over capacity",
                Box::new(move |t| t.tunnels.get_mut(&a).unwrap().capacity_bps = 8 * M),
            ),
            (
                "committed sum",
                Box::new(move |t| t.tunnels.get_mut(&b).unwrap().committed_bps += 1),
            ),
            (
                "listed twice",
                Box::new(move |t| t.tunnels.get_mut(&b).unwrap().sessions.push(SessionId(1))),
            ),
            (
                "session unlisted",
                Box::new(move |t| t.tunnels.get_mut(&b).unwrap().sessions.clear()),
            ),
            (
                "reservation sum",
                Box::new(move |t| t.tunnels.get_mut(&a).unwrap().reserved_bps = 0),
            ),
            (
                "stale index",
                Box::new(move |t| {
                    t.indexed_free.insert(a, 123);
                }),
            ),
            (
                "private line",
                Box::new(|t| t.sessions.get_mut(&SessionId(1)).unwrap().supplementary = true),
            ),
            (
                "dangling move",
                Box::new(|t| {
                    t.sessions.get_mut(&SessionId(1)).unwrap().pending_move = Some(MoveId(9))
                }),
            ),
            (
                "line sums",
                Box::new(|t| t.lines.get_mut(&LineId(1)).unwrap().committed_bps = 0),
            ),
        ];
        for (what, corrupt) in corruptions {
            let mut t = good.clone();
            corrupt(&mut t);
            assert!(t.check_invariants().is_err(), "{what} not caught");
        }
    }

    #[test]
    fn commit_and_cancel_keep_the_books() {
        let now = test_epoch();
        let mut t = table();
        let a = t.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        let b = t.open_tunnel(now, PeerId(1), LineId(1)).unwrap();
        t.set_tunnel_state(a, TunnelState::Up).unwrap();
        t.set_tunnel_state(b, TunnelState::Up).unwrap();
        for (id, tun) in [(1, a), (2, a), (3, b)] {
            t.insert_session(now, &spec(id, 2 * M), tun).unwrap();
        }
        t.reserve(MoveId(1), SessionId(1), b, 2 * M).unwrap();
        assert_eq!(
            t.reserve(MoveId(2), SessionId(1), b, 2 * M),
            Err(AdminError::AlreadyMoving(SessionId(1)))
        );
        assert_eq!(
            t.remove_session(now, SessionId(1)).map(|_| ()),
            Err(AdminError::AlreadyMoving(SessionId(1)))
        );
        t.cancel_reservation(now, MoveId(1)).unwrap();
        assert_eq!(t.session(SessionId(1)).unwrap().tunnel, a);
        t.reserve(MoveId(3), SessionId(1), b, 2 * M).unwrap();
        t.commit_move(now, MoveId(3), 2 * M).unwrap();
        let s = t.session(SessionId(1)).unwrap();
        assert_eq!((s.tunnel, s.last_moved_at), (b, Some(now)));
        assert_eq!(t.tunnel(a).unwrap().committed_bps, 2 * M);
        assert_eq!(t.tunnel(b).unwrap().committed_bps, 4 * M);
        t.check_invariants().unwrap();
        // The swap-removal keeps slots right for the session left behind.
        t.remove_session(now, SessionId(2)).unwrap();
        assert!(t.tunnel(a).unwrap().is_empty());
        assert_eq!(t.holes().count(), 1);
        t.check_invariants().unwrap();
    }
}
