//! Emulated subscribers dialling in over L2TP, sans-IO: each is a session in one of our own
//! tunnels to the server (we play the subscribers' LAC, RFC 2661 §7.4.1), carrying its PPP.
//!
//! Owns: the [`Endpoint`] (LAC role), the tunnel slots and which subscriber rides in which
//! session, the data-message fast path both ways, and the queue of datagrams to send. Must not
//! touch: sockets, tokio or the clock (the driver passes datagrams and `now`), PPP (that is the
//! [`Population`]'s).
//!
//! # Tunnels
//! L2TP's control window limits how many session setups one tunnel has in flight, so subscribers
//! are spread over `tunnel_slots` tunnels: subscriber `i` uses slot `i mod slots`. A slot opens
//! its tunnel when its first subscriber starts (the endpoint sends the ICRQ once the tunnel is
//! up), opens a new one if its tunnel failed, and closes it with StopCCN (result 1) once it has
//! no subscriber left and [`L2tpCore::no_more_logins`] was called.
//!
//! # Data
//! PPP frames go out as data messages (`FF 03` then the frame) with the header built by
//! [`crate::wire::data::write_header`], and come in through [`crate::wire::data::classify`]
//! without touching the endpoint. RFC 2661 §5.4: the LNS decides sequencing; we send sequence
//! numbers exactly while its data messages carry them (or when Sequencing Required was set).
//! A session's PPP frames wait until its ICCN has left: the endpoint reports the session up when
//! it queues the ICCN, and the control window may hold that back while PPP is already talking.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::population::{
    Carrier, CloseKind, CoreEvent, Population, PopulationConfig, SeedSource, SubscriberSpec,
};
use super::stats::{Cause, CauseKind, Stats};
use crate::l2tp::{
    CloseReason, Endpoint, EndpointConfig, Event, PolicyDecision, SessionDownCause, SessionRequest,
    TunnelConfig, TunnelDownCause, TunnelId, TunnelRequest,
};
use crate::ppp::LcpConfig;
use crate::ppp::frame::{HDLC_ADDRESS, HDLC_CONTROL};
use crate::wire::data::{self, DataHeaderOptions, Kind};
use crate::wire::message::peek;
use crate::wire::{CdnResult, ControlHeader, MessageType, StopCcnResult};

/// How the L2TP core runs.
#[derive(Debug, Clone)]
pub struct L2tpCoreConfig {
    /// The server's dial-in address.
    pub server: SocketAddr,
    /// Our socket's address (what the endpoint records as the tunnels' local end).
    pub local: SocketAddr,
    /// Our tunnels' parameters (Host Name, secret, windows, timers).
    pub tunnel: Arc<TunnelConfig>,
    /// How many tunnels to spread subscribers over (at least 1).
    pub tunnel_slots: usize,
    /// Per-subscriber settings.
    pub population: PopulationConfig,
}

/// How often at most a tunnel is told that data arrived (for its HELLO timer, RFC 2661 §5.5).
const ACTIVITY_NOTE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Slot {
    tunnel: Option<TunnelId>,
    /// Where the tunnel's peer answers from (RFC 2661 §8.1 lets it change port in its SCCRP).
    remote: Option<SocketAddr>,
    /// Subscribers riding in this slot that have not finished.
    live: usize,
    noted: Option<Instant>,
}

#[derive(Debug)]
struct Leg {
    slot: usize,
    tunnel: TunnelId,
    session: u16,
    /// (peer tunnel ID, peer session ID), once the session is up.
    peer: Option<(u16, u16)>,
    sequencing: bool,
    next_ns: u16,
    /// Data messages built before our ICCN left: held until it does (see [`L2tpCore::poll_transmit`]).
    held: Option<Vec<Vec<u8>>>,
}

/// The carrier half of the core: everything but the population, so both can be borrowed at once.
struct Tunnels {
    endpoint: Endpoint,
    server: SocketAddr,
    local: SocketAddr,
    config: Arc<TunnelConfig>,
    slots: Vec<Slot>,
    by_tunnel: HashMap<TunnelId, usize>,
    legs: Vec<Option<Leg>>,
    by_session: HashMap<(TunnelId, u16), usize>,
    /// Sessions whose ICCN has not been sent yet, by (peer tunnel ID, peer session ID): the IDs in
    /// the ICCN's header.
    awaiting_iccn: HashMap<(u16, u16), usize>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    more_logins: bool,
}

impl Tunnels {
    /// Releases `sub`'s session from the bookkeeping; closes its slot's tunnel when that was the
    /// last one and no more logins will come.
    fn release(&mut self, now: Instant, sub: usize) -> Option<Leg> {
        let leg = self.legs.get_mut(sub)?.take()?;
        self.by_session.remove(&(leg.tunnel, leg.session));
        if let Some(peer) = leg.peer
            && self.awaiting_iccn.get(&peer) == Some(&sub)
        {
            self.awaiting_iccn.remove(&peer);
        }
        let slot = &mut self.slots[leg.slot];
        slot.live = slot.live.saturating_sub(1);
        self.close_if_idle(now, leg.slot);
        Some(leg)
    }

    fn close_if_idle(&mut self, now: Instant, slot: usize) {
        let s = &mut self.slots[slot];
        if s.live > 0 || self.more_logins {
            return;
        }
        if let Some(id) = s.tunnel.take() {
            s.remote = None;
            self.by_tunnel.remove(&id);
            // RFC 2661 §6.4 result 1: general request to clear the control connection.
            let _ = self
                .endpoint
                .close_tunnel(now, id, StopCcnResult::GeneralClear, None, None);
        }
    }
}

impl Carrier for Tunnels {
    fn send_ppp(&mut self, _now: Instant, sub: usize, frame: &[u8]) -> bool {
        let Some(Some(leg)) = self.legs.get_mut(sub) else {
            return false;
        };
        let Some((peer_tunnel, peer_session)) = leg.peer else {
            return false;
        };
        let remote = self.slots[leg.slot].remote.unwrap_or(self.server);
        let opts = DataHeaderOptions {
            ns: leg.sequencing.then_some(leg.next_ns),
            ..DataHeaderOptions::default()
        };
        let hlen = data::header_len(opts);
        let mut datagram = vec![0u8; hlen + 2 + frame.len()];
        if data::write_header(
            &mut datagram,
            peer_tunnel,
            peer_session,
            frame.len() + 2,
            opts,
        )
        .is_err()
        {
            return false;
        }
        if leg.sequencing {
            leg.next_ns = leg.next_ns.wrapping_add(1);
        }
        // RFC 2661 §2: L2TP carries HDLC-framed PPP without FCS: address and control first.
        datagram[hlen] = HDLC_ADDRESS;
        datagram[hlen + 1] = HDLC_CONTROL;
        datagram[hlen + 2..].copy_from_slice(frame);
        match leg.held.as_mut() {
            Some(held) => held.push(datagram),
            None => self.out.push_back((remote, datagram)),
        }
        true
    }

    fn close(&mut self, now: Instant, sub: usize, kind: CloseKind) {
        let Some(leg) = self.legs.get(sub).and_then(Option::as_ref) else {
            return;
        };
        let (tunnel, session) = (leg.tunnel, leg.session);
        // RFC 2661 §4.4.2 CDN result codes: a subscriber hanging up is loss of carrier (1); a
        // failed setup a general error (2); the emulator stopping an administrative reason (3).
        let result = match kind {
            CloseKind::Logout => CdnResult::LossOfCarrier,
            CloseKind::Failure => CdnResult::GeneralError,
            CloseKind::Abort => CdnResult::Administrative,
        };
        let _ = self
            .endpoint
            .close_session(now, tunnel, session, CloseReason::new(result));
        self.release(now, sub);
    }
}

/// Subscribers over L2TP dial-in. See the module documentation.
///
/// # Call order
/// [`L2tpCore::start`] begins a login; every datagram received on the socket goes to
/// [`L2tpCore::handle_datagram`]; when [`L2tpCore::poll_timeout`] has passed, call
/// [`L2tpCore::handle_timeout`]. After any call, send everything [`L2tpCore::poll_transmit`]
/// returns (control messages come out before data, so an ICCN always precedes the session's first
/// PPP frame) and drain [`L2tpCore::poll_event`].
pub struct L2tpCore {
    pop: Population,
    net: Tunnels,
}

impl std::fmt::Debug for L2tpCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2tpCore")
            .field("population", &self.pop)
            .field("tunnels", &self.net.endpoint.tunnel_count())
            .finish_non_exhaustive()
    }
}

impl L2tpCore {
    /// A core with no subscribers; links and the endpoint are seeded from the OS.
    pub fn new(config: L2tpCoreConfig) -> Self {
        Self::with_seeds(
            config,
            super::population::os_seed(),
            Box::new(super::population::os_seed),
        )
    }

    /// A core with chosen seeds (deterministic tests).
    pub fn with_seeds(config: L2tpCoreConfig, endpoint_seed: [u8; 32], links: SeedSource) -> Self {
        // We are a subscriber's LAC: nobody may open tunnels to us.
        let policy = |_: &TunnelRequest<'_>| PolicyDecision::Ignore;
        let endpoint = Endpoint::new(
            EndpointConfig {
                max_tunnels: config.tunnel_slots.max(1) * 2 + 16,
            },
            policy,
            endpoint_seed,
        );
        let slots = (0..config.tunnel_slots.max(1))
            .map(|_| Slot::default())
            .collect();
        Self {
            pop: Population::with_seeds(config.population, links),
            net: Tunnels {
                endpoint,
                server: config.server,
                local: config.local,
                config: config.tunnel,
                slots,
                by_tunnel: HashMap::new(),
                legs: Vec::new(),
                by_session: HashMap::new(),
                awaiting_iccn: HashMap::new(),
                out: VecDeque::new(),
                more_logins: true,
            },
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        self.pop.stats()
    }

    /// The population (read-only views of the subscribers).
    pub fn population(&self) -> &Population {
        &self.pop
    }

    /// The endpoint's drop counters and tunnel table, for diagnostics.
    pub fn endpoint(&self) -> &Endpoint {
        &self.net.endpoint
    }

    /// Starts one subscriber's login and returns its index.
    pub fn start(&mut self, now: Instant, spec: SubscriberSpec) -> usize {
        let sub = self.pop.add(now, spec);
        self.net.legs.resize_with(self.pop.len(), || None);
        let slot = sub % self.net.slots.len();
        let tunnel = match self.net.slots[slot].tunnel {
            Some(id) => id,
            None => {
                let opened = self.net.endpoint.open_tunnel(
                    now,
                    self.net.local,
                    self.net.server,
                    self.net.config.clone(),
                );
                match opened {
                    Ok(id) => {
                        self.net.slots[slot].tunnel = Some(id);
                        self.net.slots[slot].remote = None;
                        self.net.by_tunnel.insert(id, slot);
                        id
                    }
                    Err(e) => {
                        self.pop.carrier_failed(
                            now,
                            sub,
                            Cause::new(CauseKind::TunnelDown, format!("cannot open tunnel: {e}")),
                        );
                        return sub;
                    }
                }
            }
        };
        match self
            .net
            .endpoint
            .open_session(now, tunnel, SessionRequest::default())
        {
            Ok(session) => {
                self.net.legs[sub] = Some(Leg {
                    slot,
                    tunnel,
                    session,
                    peer: None,
                    sequencing: false,
                    next_ns: 0,
                    held: None,
                });
                self.net.by_session.insert((tunnel, session), sub);
                self.net.slots[slot].live += 1;
            }
            Err(e) => self.pop.carrier_failed(
                now,
                sub,
                Cause::new(CauseKind::SessionError, format!("cannot open session: {e}")),
            ),
        }
        self.process_events(now);
        sub
    }

    /// Logs a subscriber out cleanly (LCP Terminate, then CDN).
    pub fn logout(&mut self, now: Instant, sub: usize) {
        self.pop.logout(now, sub, &mut self.net);
        self.process_events(now);
    }

    /// Hangs a subscriber up: CDN without LCP Terminate.
    pub fn hang_up(&mut self, now: Instant, sub: usize) {
        self.pop.hang_up(now, sub, &mut self.net);
        self.process_events(now);
    }

    /// Sends one IPv4 packet from an up subscriber; false when it is not up.
    pub fn send_ip(&mut self, now: Instant, sub: usize, packet: &[u8]) -> bool {
        self.pop.send_ip(now, sub, packet, &mut self.net)
    }

    /// No further [`Self::start`] will come: tunnels close as soon as they are empty.
    pub fn no_more_logins(&mut self, now: Instant) {
        self.net.more_logins = false;
        for slot in 0..self.net.slots.len() {
            self.net.close_if_idle(now, slot);
        }
        self.process_events(now);
    }

    /// Stops the run: no more logins, up subscribers log out, setups are abandoned.
    pub fn stop(&mut self, now: Instant) {
        self.net.more_logins = false;
        self.pop.stop_all(now, &mut self.net);
        self.no_more_logins(now);
    }

    /// Nothing left to do: every subscriber finished, every tunnel closed (StopCCN acknowledged or
    /// given up on), nothing queued.
    pub fn is_idle(&self) -> bool {
        self.pop.live() == 0 && self.net.endpoint.tunnel_count() == 0 && self.net.out.is_empty()
    }

    /// The next datagram to send: (destination, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some(t) = self.net.endpoint.poll_transmit() {
            if !self.net.awaiting_iccn.is_empty() {
                self.release_after_iccn(&t.payload);
            }
            return Some((t.remote, t.payload));
        }
        self.net.out.pop_front()
    }

    /// If `control` is an ICCN, the frames its session held may follow it.
    fn release_after_iccn(&mut self, control: &[u8]) {
        let Ok((header, body)) = ControlHeader::parse(control) else {
            return;
        };
        if peek(body).kind != Some(MessageType::Iccn as u16) {
            return;
        }
        let Some(sub) = self
            .net
            .awaiting_iccn
            .remove(&(header.tunnel_id, header.session_id))
        else {
            return;
        };
        if let Some(Some(leg)) = self.net.legs.get_mut(sub)
            && let Some(held) = leg.held.take()
        {
            let remote = self.net.slots[leg.slot].remote.unwrap_or(self.net.server);
            self.net.out.extend(held.into_iter().map(|d| (remote, d)));
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<CoreEvent> {
        self.pop.poll_event()
    }

    /// When [`Self::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.net.endpoint.poll_timeout(), self.pop.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.net.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.net.endpoint.handle_timeout(now);
            self.process_events(now);
        }
        self.pop.handle_timeout(now, &mut self.net);
        self.process_events(now);
    }

    /// One datagram received from `remote`.
    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8]) {
        if let Ok(Kind::Data {
            tunnel_id,
            session_id,
            ns,
            payload,
            ..
        }) = data::classify(bytes)
            && let Some(&sub) = self.net.by_session.get(&(tunnel_id, session_id))
            && let Some(Some(leg)) = self.net.legs.get_mut(sub)
            && leg.peer.is_some()
            && self.net.slots[leg.slot].remote == Some(remote)
        {
            // RFC 2661 §5.4: "if the LAC receives a data message without sequence numbers present,
            // it MUST stop sending sequence numbers ... with sequence numbers present, it MUST
            // begin sending" them.
            leg.sequencing = ns.is_some();
            let slot = &mut self.net.slots[leg.slot];
            if slot
                .noted
                .is_none_or(|t| now.saturating_duration_since(t) >= ACTIVITY_NOTE_INTERVAL)
            {
                slot.noted = Some(now);
                self.net.endpoint.note_data_activity(now, tunnel_id);
            }
            self.pop
                .handle_ppp(now, sub, &bytes[payload], &mut self.net);
            return;
        }
        self.net
            .endpoint
            .handle_datagram(now, self.net.local, remote, bytes);
        self.process_events(now);
    }

    /// Acts on everything the endpoint reported, until it reports nothing more.
    fn process_events(&mut self, now: Instant) {
        loop {
            let events: Vec<Event> =
                std::iter::from_fn(|| self.net.endpoint.poll_event()).collect();
            if events.is_empty() {
                break;
            }
            // A tunnel's sessions are reported down before the tunnel itself; look ahead so each
            // session's failure can name the tunnel's cause.
            let tunnel_causes: Vec<(TunnelId, TunnelDownCause)> = events
                .iter()
                .filter_map(|e| match e {
                    Event::TunnelDown { tunnel, cause } => Some((*tunnel, cause.clone())),
                    _ => None,
                })
                .collect();
            for event in events {
                self.on_event(now, event, &tunnel_causes);
            }
        }
    }

    fn on_event(
        &mut self,
        now: Instant,
        event: Event,
        tunnel_causes: &[(TunnelId, TunnelDownCause)],
    ) {
        match event {
            Event::TunnelUp { tunnel, peer } => {
                if let Some(&slot) = self.net.by_tunnel.get(&tunnel) {
                    self.net.slots[slot].remote = Some(peer.remote);
                    self.pop.stats_mut().tunnels_up += 1;
                }
            }
            Event::TunnelDown { tunnel, .. } => {
                if let Some(slot) = self.net.by_tunnel.remove(&tunnel) {
                    self.net.slots[slot].tunnel = None;
                    self.net.slots[slot].remote = None;
                }
            }
            Event::SessionUp {
                tunnel,
                session,
                info,
            } => {
                let Some(&sub) = self.net.by_session.get(&(tunnel, session)) else {
                    return;
                };
                if let Some(Some(leg)) = self.net.legs.get_mut(sub) {
                    let peer = (info.peer_tunnel_id, info.peer_session_id);
                    leg.peer = Some(peer);
                    leg.sequencing = info.sequencing_required;
                    // The endpoint reports the session up when it queues the ICCN, which the
                    // control window (RFC 2661 §5.8, Appendix A slow start) may hold back. PPP
                    // frames reaching the server before the ICCN would be dropped there and cost
                    // a 3 s LCP retransmission, so they wait for it.
                    leg.held = Some(Vec::new());
                    self.net.awaiting_iccn.insert(peer, sub);
                    let slot = &mut self.net.slots[leg.slot];
                    if slot.remote.is_none() {
                        slot.remote = self.net.endpoint.tunnel(tunnel).map(|t| t.remote);
                    }
                }
                self.pop
                    .carrier_up(now, sub, LcpConfig::for_l2tp(), &mut self.net);
            }
            Event::SessionDown {
                tunnel,
                session,
                cause,
            } => {
                let Some(&sub) = self.net.by_session.get(&(tunnel, session)) else {
                    return;
                };
                let tunnel_was_up = self
                    .net
                    .legs
                    .get(sub)
                    .and_then(Option::as_ref)
                    .is_some_and(|l| self.net.slots[l.slot].remote.is_some());
                self.net.release(now, sub);
                let cause = session_cause(&cause, tunnel, tunnel_causes, tunnel_was_up);
                self.pop.carrier_down(now, sub, cause);
            }
            Event::IncomingCall {
                tunnel, session, ..
            } => {
                // A subscriber's LAC places no calls for the server; refuse politely.
                let _ = self.net.endpoint.reject_call(
                    now,
                    tunnel,
                    session,
                    CloseReason::new(CdnResult::TemporaryFacilities),
                );
            }
            Event::Data {
                tunnel,
                session,
                payload,
            } => {
                if let Some(&sub) = self.net.by_session.get(&(tunnel, session)) {
                    self.pop.handle_ppp(now, sub, &payload, &mut self.net);
                }
            }
            Event::SetLinkInfo { .. } | Event::WanErrorNotify { .. } => {}
        }
    }
}

/// The failure cause of a session the endpoint reported down.
fn session_cause(
    cause: &SessionDownCause,
    tunnel: TunnelId,
    tunnel_causes: &[(TunnelId, TunnelDownCause)],
    tunnel_was_up: bool,
) -> Cause {
    match cause {
        SessionDownCause::PeerCdn { result, .. } => {
            let mut detail = format!("CDN result {}", CdnResult::from_code(result.result));
            if let Some(e) = result.error {
                detail.push_str(&format!(", error {}", crate::wire::ErrorCode::from_code(e)));
            }
            if let Some(m) = &result.message {
                detail.push_str(&format!(": {m}"));
            }
            Cause::new(CauseKind::SessionClosed, detail)
        }
        SessionDownCause::Local { result, .. } => {
            Cause::new(CauseKind::SessionError, format!("closed locally: {result}"))
        }
        SessionDownCause::ProtocolError { detail, .. } => {
            Cause::new(CauseKind::SessionError, format!("protocol error: {detail}"))
        }
        SessionDownCause::PeerLacksCapability => {
            Cause::new(CauseKind::SessionError, "peer lacks a needed capability")
        }
        SessionDownCause::TunnelDown => {
            let tc = tunnel_causes
                .iter()
                .find(|(t, _)| *t == tunnel)
                .map(|(_, c)| c);
            match tc {
                Some(TunnelDownCause::PeerUnreachable) => Cause::new(
                    CauseKind::TunnelUnreachable,
                    "no answer to control messages (RFC 2661 §5.8 retransmissions exhausted)",
                ),
                Some(TunnelDownCause::PeerStopCcn { result }) => {
                    let kind = if tunnel_was_up {
                        CauseKind::TunnelDown
                    } else {
                        CauseKind::TunnelRefused
                    };
                    let mut detail =
                        format!("StopCCN result {}", StopCcnResult::from_code(result.result));
                    if let Some(m) = &result.message {
                        detail.push_str(&format!(": {m}"));
                    }
                    Cause::new(kind, detail)
                }
                Some(TunnelDownCause::AuthenticationFailed { detail }) => Cause::new(
                    CauseKind::TunnelRefused,
                    format!("tunnel authentication failed: {detail}"),
                ),
                Some(TunnelDownCause::ProtocolError { detail, .. }) => {
                    Cause::new(CauseKind::TunnelDown, format!("protocol error: {detail}"))
                }
                Some(other) => Cause::new(CauseKind::TunnelDown, format!("{other:?}")),
                None => Cause::new(CauseKind::TunnelDown, "tunnel went down"),
            }
        }
    }
}
