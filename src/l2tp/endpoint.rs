//! The endpoint: every tunnel of one set of local addresses, the demultiplexer in front of them,
//! ID allocation, the responder policy hook, and the one timer queue.
//!
//! Owns: the tunnel table, the (peer address, peer tunnel ID) index that recognises a retransmitted
//! SCCRQ, the tie-breaker check (RFC 2661 §4.4.3), the outgoing datagram and event queues, the
//! caller-seeded RNG and the drop counters. Must not touch: sockets or the clock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::event::{Event, SessionId, SessionRequest, TunnelDownCause, TunnelId};
use super::tunnel::{SessionState, Tunnel, TunnelState};
use super::{ApiError, CloseReason, EndpointConfig, TunnelConfig};
use crate::wire::data::{Kind, classify};
use crate::wire::header::ControlHeader;
use crate::wire::message::peek;
use crate::wire::{Capabilities, ErrorCode, MessageType, StopCcnResult};

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our address to send from (the tunnel's local address; RFC 2661 §8.1 keeps it fixed).
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The whole L2TP message.
    pub payload: Vec<u8>,
}

/// Why a received datagram (or part of one) was dropped or refused. Counted per reason in
/// [`Stats`] so the runtime can log and export them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Header unreadable: truncated, version not 2, bad length or flags.
    MalformedHeader,
    /// Control message body unreadable or lacking a mandatory AVP (answered per RFC 2661 §7.1).
    MalformedMessage,
    /// Tunnel ID we do not have.
    UnknownTunnel,
    /// Session ID we do not have in that tunnel.
    UnknownSession,
    /// A known tunnel ID from an address that is not the tunnel's peer.
    WrongPeerAddress,
    /// Something other than an SCCRQ addressed to tunnel 0.
    NotSccrqOnTunnelZero,
    /// The policy said to ignore this peer.
    PolicyIgnored,
    /// The policy refused this peer (a StopCCN was sent).
    PolicyRejected,
    /// The tunnel table is full.
    TunnelLimit,
    /// A control message already received (acknowledged again, not delivered).
    Duplicate,
    /// A control message beyond our receive window.
    OutOfWindow,
    /// An SCCRQ discarded by the tie breaker (RFC 2661 §4.4.3).
    TieBreakerDiscarded,
    /// A data message for a session not yet established.
    DataBeforeEstablished,
    /// An incoming call refused before any session state existed (CDN sent).
    CallRefused,
    /// An internal encoding failure (a bug; never a peer's doing).
    EncodeFailed,
    /// The policy accepted a peer with a [`TunnelConfig`] that fails
    /// [`TunnelConfig::validate`]; the SCCRQ was dropped.
    InvalidConfig,
}

impl DropReason {
    /// Every reason, for iteration.
    pub const ALL: [DropReason; 16] = [
        DropReason::MalformedHeader,
        DropReason::MalformedMessage,
        DropReason::UnknownTunnel,
        DropReason::UnknownSession,
        DropReason::WrongPeerAddress,
        DropReason::NotSccrqOnTunnelZero,
        DropReason::PolicyIgnored,
        DropReason::PolicyRejected,
        DropReason::TunnelLimit,
        DropReason::Duplicate,
        DropReason::OutOfWindow,
        DropReason::TieBreakerDiscarded,
        DropReason::DataBeforeEstablished,
        DropReason::CallRefused,
        DropReason::EncodeFailed,
        DropReason::InvalidConfig,
    ];
}

/// Counters of dropped and refused input, per [`DropReason`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    counts: [u64; DropReason::ALL.len()],
}

impl Stats {
    pub(crate) fn count(&mut self, r: DropReason) {
        self.counts[r as usize] += 1;
    }

    /// How many times `r` happened.
    pub fn get(&self, r: DropReason) -> u64 {
        self.counts[r as usize]
    }

    /// Every non-zero counter.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .into_iter()
            .map(|r| (r, self.get(r)))
            .filter(|(_, n)| *n > 0)
    }
}

/// What the endpoint knows about an SCCRQ when it asks the policy.
#[derive(Debug, Clone, Copy)]
pub struct TunnelRequest<'a> {
    /// Our address it arrived on.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The peer's Host Name AVP (never hidden, RFC 2661 §4.4.3).
    pub host_name: Option<&'a [u8]>,
}

/// The policy's answer to an SCCRQ from a new peer.
#[derive(Debug, Clone)]
pub enum PolicyDecision {
    /// Accept: create a responder tunnel with this configuration (secret included).
    Accept(Arc<TunnelConfig>),
    /// Refuse with a StopCCN carrying this result (e.g. [`StopCcnResult::NotAuthorized`]).
    Reject(StopCcnResult),
    /// Drop silently (and count): for addresses that are not allowed at all, so a flood of
    /// SCCRQs costs no state and draws no reply.
    Ignore,
}

/// Decides on SCCRQs from new peers: the allow-list and per-peer secret are the caller's.
pub trait TunnelPolicy {
    /// Called once per new SCCRQ (not for its retransmissions).
    fn decide(&mut self, request: &TunnelRequest<'_>) -> PolicyDecision;
}

impl<F: FnMut(&TunnelRequest<'_>) -> PolicyDecision> TunnelPolicy for F {
    fn decide(&mut self, request: &TunnelRequest<'_>) -> PolicyDecision {
        self(request)
    }
}

/// The shared pieces a tunnel works with during one call.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub transmits: &'a mut VecDeque<Transmit>,
    pub events: &'a mut VecDeque<Event>,
    pub rng: &'a mut StdRng,
    pub stats: &'a mut Stats,
    pub call_serial: &'a mut u32,
}

/// A snapshot of one tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelView {
    /// Our tunnel ID.
    pub id: TunnelId,
    /// The peer's tunnel ID (0 before SCCRQ/SCCRP).
    pub peer_tunnel_id: u16,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Control connection state.
    pub state: TunnelState,
    /// Whether we opened it.
    pub initiator: bool,
    /// Sessions in any state.
    pub sessions: usize,
    /// Capabilities the peer advertised in our vendor AVP.
    pub peer_capabilities: Capabilities,
}

/// All L2TP tunnels of a set of local addresses, sans-IO.
///
/// # Calling it
/// The runtime owns the socket and the clock and drives the endpoint:
/// 1. For every datagram received on the L2TP port: [`Endpoint::handle_datagram`] (data messages
///    may instead go straight to the data plane after [`crate::wire::data::classify`]; then call
///    [`Endpoint::note_data_activity`] now and then so the HELLO timer knows the peer is alive).
/// 2. When the deadline from [`Endpoint::poll_timeout`] passes: [`Endpoint::handle_timeout`].
/// 3. After either, and after every command ([`Endpoint::open_tunnel`],
///    [`Endpoint::open_session`], [`Endpoint::accept_call`], [`Endpoint::close_session`], ...):
///    drain [`Endpoint::poll_transmit`] (send each datagram from `local` to `remote`), drain
///    [`Endpoint::poll_event`], and re-read [`Endpoint::poll_timeout`].
///
/// Nothing here reads the clock or blocks: `now` is always an argument, and randomness (tunnel and
/// session IDs, challenges, random vectors, tie breakers) comes from the RNG seeded at
/// construction, so a simulation with a fixed seed is deterministic.
///
/// # Roles
/// The LAC opens tunnels ([`Endpoint::open_tunnel`]) and sessions in them
/// ([`Endpoint::open_session`]); the LNS accepts tunnels through its [`TunnelPolicy`] and
/// decides each [`Event::IncomingCall`] with [`Endpoint::accept_call`] or
/// [`Endpoint::reject_call`]. Both may close any session ([`Endpoint::close_session`]) or tunnel
/// ([`Endpoint::close_tunnel`]) at any time. One endpoint can play both roles.
pub struct Endpoint {
    config: EndpointConfig,
    policy: Box<dyn TunnelPolicy + Send>,
    tunnels: HashMap<TunnelId, Tunnel>,
    by_peer: HashMap<(SocketAddr, u16), TunnelId>,
    deadlines: BTreeSet<(Instant, TunnelId)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rng: StdRng,
    stats: Stats,
    call_serial: u32,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("tunnels", &self.tunnels.len())
            .field("stats", &self.stats)
            .finish()
    }
}

macro_rules! ctx {
    ($self:ident, $now:expr) => {
        Ctx {
            now: $now,
            transmits: &mut $self.transmits,
            events: &mut $self.events,
            rng: &mut $self.rng,
            stats: &mut $self.stats,
            call_serial: &mut $self.call_serial,
        }
    };
}

impl Endpoint {
    /// An endpoint with no tunnels. `policy` decides on SCCRQs from new peers; `seed` seeds every
    /// random choice (take it from the OS in production, fix it in tests).
    pub fn new(
        config: EndpointConfig,
        policy: impl TunnelPolicy + Send + 'static,
        seed: [u8; 32],
    ) -> Self {
        let mut rng = StdRng::from_seed(seed);
        let call_serial = rng.random();
        Endpoint {
            config,
            policy: Box::new(policy),
            tunnels: HashMap::new(),
            by_peer: HashMap::new(),
            deadlines: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            stats: Stats::default(),
            call_serial,
        }
    }

    /// Drop and refusal counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Number of tunnels in any state.
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// Our IDs of every tunnel, in ascending order.
    pub fn tunnel_ids(&self) -> Vec<TunnelId> {
        let mut ids: Vec<TunnelId> = self.tunnels.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// A snapshot of a tunnel.
    pub fn tunnel(&self, id: TunnelId) -> Option<TunnelView> {
        self.tunnels.get(&id).map(|t| TunnelView {
            id,
            peer_tunnel_id: t.peer_id,
            local: t.local,
            remote: t.remote,
            state: t.state,
            initiator: t.initiator,
            sessions: t.session_count(),
            peer_capabilities: t.peer_info().map_or(Capabilities::NONE, |p| p.capabilities),
        })
    }

    /// Our IDs of every session of a tunnel, in ascending order.
    pub fn session_ids(&self, tunnel: TunnelId) -> Vec<SessionId> {
        self.tunnels
            .get(&tunnel)
            .map(|t| t.session_ids())
            .unwrap_or_default()
    }

    /// The state of a session, if it exists.
    pub fn session_state(&self, tunnel: TunnelId, session: SessionId) -> Option<SessionState> {
        self.tunnels.get(&tunnel)?.session_state(session)
    }

    /// The peer's session ID of a session (0 until the peer assigned one).
    pub fn session_peer_id(&self, tunnel: TunnelId, session: SessionId) -> Option<u16> {
        self.tunnels.get(&tunnel)?.session_peer_id(session)
    }

    /// Runs an application command on one tunnel and refiles its deadline.
    fn command<R>(
        &mut self,
        now: Instant,
        id: TunnelId,
        f: impl FnOnce(&mut Tunnel, &mut Ctx<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let t = self.tunnels.get_mut(&id).ok_or(ApiError::UnknownTunnel)?;
        let r = f(t, &mut ctx!(self, now));
        self.refile(id);
        r
    }

    fn refile(&mut self, id: TunnelId) {
        let Some(t) = self.tunnels.get_mut(&id) else {
            return;
        };
        if let Some(old) = t.filed_deadline.take() {
            self.deadlines.remove(&(old, id));
        }
        if t.is_closed() {
            let key = (t.remote, t.peer_id);
            if self.by_peer.get(&key) == Some(&id) {
                self.by_peer.remove(&key);
            }
            self.tunnels.remove(&id);
            return;
        }
        if t.peer_id != 0 && !t.initiator {
            self.by_peer.entry((t.remote, t.peer_id)).or_insert(id);
        }
        if let Some(d) = t.deadline() {
            t.filed_deadline = Some(d);
            self.deadlines.insert((d, id));
        }
    }

    fn alloc_tunnel_id(&mut self) -> Option<TunnelId> {
        for _ in 0..32 {
            let id = self.rng.random_range(1..=u16::MAX);
            if !self.tunnels.contains_key(&id) {
                return Some(id);
            }
        }
        (1..=u16::MAX).find(|id| !self.tunnels.contains_key(id))
    }

    /// Opens a tunnel to `remote` from `local` (we are the initiator, RFC 2661 §7.2.1): the SCCRQ
    /// goes out at once. [`Event::TunnelUp`] or [`Event::TunnelDown`] follows.
    pub fn open_tunnel(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        config: Arc<TunnelConfig>,
    ) -> Result<TunnelId, ApiError> {
        config.validate().map_err(ApiError::InvalidConfig)?;
        if self.tunnels.len() >= self.config.max_tunnels {
            return Err(ApiError::TooManyTunnels);
        }
        let id = self.alloc_tunnel_id().ok_or(ApiError::TooManyTunnels)?;
        let t = Tunnel::open(&mut ctx!(self, now), id, local, remote, config);
        self.tunnels.insert(id, t);
        self.refile(id);
        Ok(id)
    }

    /// Closes a tunnel with a StopCCN (RFC 2661 §5.7); its sessions go down without CDNs.
    pub fn close_tunnel(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        result: StopCcnResult,
        error: Option<ErrorCode>,
        message: Option<String>,
    ) -> Result<(), ApiError> {
        self.command(now, tunnel, |t, ctx| {
            t.stop(ctx, result, error, message, None);
            Ok(())
        })
    }

    /// Opens a session for an incoming call on a tunnel (we are the LAC, RFC 2661 §7.4.1). The
    /// ICRQ goes out now, or when the tunnel comes up. [`Event::SessionUp`] (after ICRP, with the
    /// ICCN sent) or [`Event::SessionDown`] follows.
    pub fn open_session(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        request: SessionRequest,
    ) -> Result<SessionId, ApiError> {
        self.command(now, tunnel, |t, ctx| t.open_session(ctx, request))
    }

    /// Accepts an [`Event::IncomingCall`]: sends ICRP (RFC 2661 §7.4.2).
    pub fn accept_call(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        session: SessionId,
    ) -> Result<(), ApiError> {
        self.command(now, tunnel, |t, ctx| t.accept_call(ctx, session))
    }

    /// Refuses an [`Event::IncomingCall`] with a CDN (e.g. result 4 when an address pool is
    /// exhausted, or result 2 with a vendor cause when a switchover names an unknown session).
    /// [`Event::SessionDown`] with [`super::SessionDownCause::Local`] follows, as for every
    /// session that ends.
    pub fn reject_call(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        session: SessionId,
        reason: CloseReason,
    ) -> Result<(), ApiError> {
        self.command(now, tunnel, |t, ctx| t.reject_call(ctx, session, reason))
    }

    /// Ends a session in any state with a CDN (RFC 2661 §5.6). The vendor cause in `reason` is
    /// sent only if the peer advertised [`Capabilities::DISCONNECT_CAUSE`].
    pub fn close_session(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        session: SessionId,
        reason: CloseReason,
    ) -> Result<(), ApiError> {
        self.command(now, tunnel, |t, ctx| t.close_session(ctx, session, reason))
    }

    /// Sends a PPP frame on an established session through the endpoint's transmit queue (the
    /// slow path).
    pub fn send_data(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        session: SessionId,
        payload: &[u8],
    ) -> Result<(), ApiError> {
        self.command(now, tunnel, |t, ctx| t.send_data(ctx, session, payload))
    }

    /// Tells a tunnel that the data plane received traffic from its peer (RFC 2661 §5.5: HELLO is
    /// sent only after a period with no data or control message).
    pub fn note_data_activity(&mut self, now: Instant, tunnel: TunnelId) {
        if let Some(t) = self.tunnels.get_mut(&tunnel) {
            t.note_activity(now);
            self.refile(tunnel);
        }
    }

    /// Runs every timer that is due. Each due tunnel runs once per call, so a timer re-armed at
    /// `now` cannot spin here; it is simply due again.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<TunnelId> = self
            .deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            if let Some(tunnel) = self.tunnels.get_mut(&id) {
                tunnel.handle_timeout(&mut ctx!(self, now));
            }
            self.refile(id);
        }
    }

    /// Processes one datagram that arrived on `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        let kind = match classify(bytes) {
            Ok(k) => k,
            Err(_) => return self.stats.count(DropReason::MalformedHeader),
        };
        match kind {
            Kind::Data {
                tunnel_id,
                session_id,
                payload,
                ..
            } => {
                let Some(t) = self.tunnels.get_mut(&tunnel_id) else {
                    return self.stats.count(DropReason::UnknownTunnel);
                };
                if t.remote != remote {
                    return self.stats.count(DropReason::WrongPeerAddress);
                }
                t.handle_data(&mut ctx!(self, now), session_id, &bytes[payload]);
                self.refile(tunnel_id);
            }
            Kind::Control { .. } => {
                let (header, body) = match ControlHeader::parse(bytes) {
                    Ok(x) => x,
                    Err(_) => return self.stats.count(DropReason::MalformedHeader),
                };
                if header.tunnel_id != 0 {
                    self.route_control(now, remote, header, body);
                } else {
                    self.new_peer(now, local, remote, header, body);
                }
            }
        }
    }

    fn route_control(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        header: ControlHeader,
        body: &[u8],
    ) {
        let id = header.tunnel_id;
        let Some(t) = self.tunnels.get_mut(&id) else {
            return self.stats.count(DropReason::UnknownTunnel);
        };
        if t.remote != remote {
            // RFC 2661 §8.1: the responder may answer from another port than the one we sent
            // our SCCRQ to; adopt it while waiting for the SCCRP. After that, addresses are fixed.
            if t.state == TunnelState::WaitCtlReply && t.remote.ip() == remote.ip() {
                t.remote = remote;
            } else {
                return self.stats.count(DropReason::WrongPeerAddress);
            }
        }
        t.handle_control(&mut ctx!(self, now), header, body);
        self.refile(id);
    }

    /// A control message to tunnel 0: an SCCRQ from a peer that does not know our tunnel yet.
    fn new_peer(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        header: ControlHeader,
        body: &[u8],
    ) {
        let p = peek(body);
        let kind = p.kind.and_then(MessageType::from_code);
        // A retransmitted SCCRQ belongs to the tunnel its first copy created; a StopCCN sent
        // before the peer learned our tunnel ID names its own (RFC 2661 §4.4.3, Assigned Tunnel ID).
        if matches!(kind, Some(MessageType::Sccrq | MessageType::StopCcn))
            && let Some(&id) = p
                .assigned_tunnel_id
                .and_then(|ptid| self.by_peer.get(&(remote, ptid)))
            && let Some(t) = self.tunnels.get_mut(&id)
        {
            t.handle_control(&mut ctx!(self, now), header, body);
            self.refile(id);
            return;
        }
        if kind != Some(MessageType::Sccrq) {
            // RFC 2661 §4.4.3: until our SCCRP arrives the peer addresses everything to tunnel 0
            // (xl2tpd sends its first ICRQ that way). It belongs to the one tunnel this address
            // is establishing; with none, or several, there is no telling.
            let mut pending = self.tunnels.values().filter(|t| {
                !t.initiator && t.remote == remote && matches!(t.state, TunnelState::WaitCtlConn)
            });
            if let (Some(t), None) = (pending.next(), pending.next()) {
                let id = t.id;
                if let Some(t) = self.tunnels.get_mut(&id) {
                    t.handle_control(&mut ctx!(self, now), header, body);
                }
                self.refile(id);
                return;
            }
            return self.stats.count(DropReason::NotSccrqOnTunnelZero);
        }
        if self.tunnels.len() >= self.config.max_tunnels {
            return self.stats.count(DropReason::TunnelLimit);
        }
        if !self.tie_breaker(now, remote, p.tie_breaker) {
            return self.stats.count(DropReason::TieBreakerDiscarded);
        }
        let request = TunnelRequest {
            local,
            remote,
            host_name: p.host_name.as_deref(),
        };
        let (config, reject) = match self.policy.decide(&request) {
            PolicyDecision::Accept(c) if c.validate().is_err() => {
                return self.stats.count(DropReason::InvalidConfig);
            }
            PolicyDecision::Accept(c) => (c, None),
            PolicyDecision::Reject(r) => {
                self.stats.count(DropReason::PolicyRejected);
                (Arc::new(TunnelConfig::default()), Some(r))
            }
            PolicyDecision::Ignore => return self.stats.count(DropReason::PolicyIgnored),
        };
        let Some(id) = self.alloc_tunnel_id() else {
            return self.stats.count(DropReason::TunnelLimit);
        };
        let mut t = Tunnel::accept(id, local, remote, config, reject, header.ns);
        t.handle_control(&mut ctx!(self, now), header, body);
        self.tunnels.insert(id, t);
        self.refile(id);
        if let Some(winner) = self.tunnels.contains_key(&id).then_some(id) {
            for ev in self.events.iter_mut() {
                if let Event::TunnelDown {
                    cause: TunnelDownCause::LostTieBreaker { winner: w @ None },
                    ..
                } = ev
                {
                    *w = Some(winner);
                }
            }
        }
    }

    /// RFC 2661 §4.4.3: when we have an SCCRQ of our own outstanding to this peer, the lower tie
    /// breaker wins; the loser silently discards its tunnel; equal values discard both; a side
    /// that sent a tie breaker wins against one that did not; with none on either side both
    /// tunnels proceed. Returns whether the peer's SCCRQ may proceed.
    fn tie_breaker(&mut self, now: Instant, remote: SocketAddr, theirs: Option<u64>) -> bool {
        let mut ours: Vec<(TunnelId, Option<u64>)> = self
            .tunnels
            .values()
            .filter(|t| {
                t.initiator && t.state == TunnelState::WaitCtlReply && t.remote.ip() == remote.ip()
            })
            .map(|t| (t.id, t.tie_breaker))
            .collect();
        // Hash order differs between runs; a fixed order keeps simulations reproducible.
        ours.sort_unstable();
        let mut proceed = true;
        for (id, mine) in ours {
            let (discard_ours, discard_theirs) = match (mine, theirs) {
                (None, None) => (false, false),
                (Some(_), None) => (false, true),
                (None, Some(_)) => (true, false),
                (Some(a), Some(b)) if a < b => (false, true),
                (Some(a), Some(b)) if a > b => (true, false),
                _ => (true, true),
            };
            if discard_ours {
                if let Some(t) = self.tunnels.get_mut(&id) {
                    t.discard(
                        &mut ctx!(self, now),
                        TunnelDownCause::LostTieBreaker { winner: None },
                    );
                }
                self.refile(id);
            }
            proceed &= !discard_theirs;
        }
        proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_per_reason() {
        let mut s = Stats::default();
        s.count(DropReason::UnknownTunnel);
        s.count(DropReason::UnknownTunnel);
        s.count(DropReason::EncodeFailed);
        assert_eq!(s.get(DropReason::UnknownTunnel), 2);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![
                (DropReason::UnknownTunnel, 2),
                (DropReason::EncodeFailed, 1)
            ]
        );
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL is in declaration order");
        }
    }
}
