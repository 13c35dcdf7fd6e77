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

    /// Abandons every login in progress (CDN for each).
    pub fn abort_setups(&mut self, now: Instant) {
        self.pop.abort_setups(now, &mut self.net);
        self.process_events(now);
    }

    /// Logs out the next up subscriber; false when none is up.
    pub fn logout_next(&mut self, now: Instant) -> bool {
        let more = self.pop.logout_next(now, &mut self.net);
        self.process_events(now);
        more
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

#[cfg(test)]
mod tests {
    //! The core against an in-memory LNS (an [`Endpoint`] accepting calls and [`crate::ppp::Link`]
    //! servers), with driven time: no sockets, no clock.

    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::l2tp::TunnelConfig;
    use crate::loadgen::population::AuthChoice;
    use crate::loadgen::stats::CauseKind;
    use crate::ppp::{
        AuthVerdict, Event as LinkEvent, IpcpAssignment, Link, LinkConfig, ServerConfig,
    };
    use crate::wire::MessageType;

    const LAC: &str = "192.0.2.1:40000";
    const LNS: &str = "192.0.2.2:1702";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn counter_seeds(base: u8) -> SeedSource {
        let mut n = 0u8;
        Box::new(move || {
            n = n.wrapping_add(1);
            [base ^ n; 32]
        })
    }

    struct Lns {
        ep: Endpoint,
        links: HashMap<(u16, u16), (Link, (u16, u16))>,
        /// Send data messages with sequence numbers (RFC 2661 §5.4: the LNS decides).
        sequenced: bool,
        ns: u16,
        /// Every datagram the LAC sent, in order.
        seen: Vec<Vec<u8>>,
        next_ip: u32,
    }

    impl Lns {
        fn new(window: u16) -> Self {
            let cfg = Arc::new(TunnelConfig {
                receive_window: window,
                ..TunnelConfig::default()
            });
            let policy = move |_: &TunnelRequest<'_>| PolicyDecision::Accept(cfg.clone());
            Self {
                ep: Endpoint::new(EndpointConfig::default(), policy, [9; 32]),
                links: HashMap::new(),
                sequenced: false,
                ns: 0,
                seen: Vec::new(),
                next_ip: 1,
            }
        }

        fn receive(&mut self, now: Instant, bytes: &[u8]) {
            self.seen.push(bytes.to_vec());
            if let Ok(Kind::Data {
                tunnel_id,
                session_id,
                payload,
                ..
            }) = data::classify(bytes)
                && let Some((link, _)) = self.links.get_mut(&(tunnel_id, session_id))
            {
                let _ = link.handle_frame(now, &bytes[payload]);
                return;
            }
            self.ep.handle_datagram(now, addr(LNS), addr(LAC), bytes);
        }

        /// Runs the LNS side once: events, link frames out. Returns datagrams for the LAC.
        fn step(&mut self, now: Instant) -> Vec<Vec<u8>> {
            while let Some(ev) = self.ep.poll_event() {
                match ev {
                    Event::IncomingCall {
                        tunnel, session, ..
                    } => self.ep.accept_call(now, tunnel, session).unwrap(),
                    Event::SessionUp {
                        tunnel,
                        session,
                        info,
                    } => {
                        let link =
                            Link::new(now, LinkConfig::server(ServerConfig::default(), [3; 32]));
                        self.links.insert(
                            (tunnel, session),
                            (link, (info.peer_tunnel_id, info.peer_session_id)),
                        );
                    }
                    Event::SessionDown {
                        tunnel, session, ..
                    } => {
                        self.links.remove(&(tunnel, session));
                    }
                    Event::Data {
                        tunnel,
                        session,
                        payload,
                    } => {
                        if let Some((link, _)) = self.links.get_mut(&(tunnel, session)) {
                            let _ = link.handle_frame(now, &payload);
                        }
                    }
                    _ => {}
                }
            }
            let mut out: Vec<Vec<u8>> =
                std::iter::from_fn(|| self.ep.poll_transmit().map(|t| t.payload)).collect();
            for (link, peer) in self.links.values_mut() {
                while let Some(ev) = link.poll_event() {
                    if let LinkEvent::AuthRequest(req) = ev {
                        let verdict = if req.verify_secret(b"demo") {
                            self.next_ip += 1;
                            AuthVerdict::Accept {
                                message: String::new(),
                                network: IpcpAssignment::new(
                                    "100.64.0.1".parse().unwrap(),
                                    std::net::Ipv4Addr::from(0x6440_0100 + self.next_ip),
                                ),
                            }
                        } else {
                            AuthVerdict::Reject {
                                message: "no".into(),
                            }
                        };
                        link.answer_auth(now, verdict).unwrap();
                    }
                }
                while let Some(frame) = link.poll_transmit() {
                    let opts = DataHeaderOptions {
                        ns: self.sequenced.then_some(self.ns),
                        ..DataHeaderOptions::default()
                    };
                    self.ns = self.ns.wrapping_add(1);
                    let hlen = data::header_len(opts);
                    let mut d = vec![0u8; hlen + 2 + frame.len()];
                    data::write_header(&mut d, peer.0, peer.1, frame.len() + 2, opts).unwrap();
                    d[hlen] = 0xff;
                    d[hlen + 1] = 0x03;
                    d[hlen + 2..].copy_from_slice(&frame);
                    out.push(d);
                }
            }
            out
        }

        fn timeouts(&mut self, now: Instant) {
            if self.ep.poll_timeout().is_some_and(|t| t <= now) {
                self.ep.handle_timeout(now);
            }
            for (link, _) in self.links.values_mut() {
                if link.poll_timeout().is_some_and(|t| t <= now) {
                    link.handle_timeout(now);
                }
            }
        }
    }

    fn core(slots: usize) -> L2tpCore {
        core_with(slots, PopulationConfig::default())
    }

    fn core_with(slots: usize, population: PopulationConfig) -> L2tpCore {
        L2tpCore::with_seeds(
            L2tpCoreConfig {
                server: addr(LNS),
                local: addr(LAC),
                tunnel: Arc::new(TunnelConfig::default()),
                tunnel_slots: slots,
                population,
            },
            [1; 32],
            counter_seeds(0x40),
        )
    }

    fn spec(n: u64, secret: &str) -> SubscriberSpec {
        SubscriberSpec {
            number: n,
            name: format!("user{n}"),
            secret: secret.as_bytes().to_vec(),
            auth: AuthChoice::Chap,
            traffic: None,
            hold: None,
            tap: true,
        }
    }

    /// Moves datagrams both ways until neither side has anything to say.
    fn pump(core: &mut L2tpCore, lns: &mut Lns, now: Instant) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some((dst, bytes)) = core.poll_transmit() {
                assert_eq!(dst, addr(LNS));
                lns.receive(now, &bytes);
                moved = true;
            }
            for d in lns.step(now) {
                core.handle_datagram(now, addr(LNS), &d);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the exchange never settles");
    }

    /// Advances time in `step`s for `total`, running both sides' timers.
    fn run_for(core: &mut L2tpCore, lns: &mut Lns, now: &mut Instant, total: Duration) {
        let end = *now + total;
        while *now < end {
            *now += Duration::from_millis(10);
            core.handle_timeout(*now);
            lns.timeouts(*now);
            pump(core, lns, *now);
        }
    }

    fn events(core: &mut L2tpCore) -> Vec<CoreEvent> {
        std::iter::from_fn(|| core.poll_event()).collect()
    }

    #[test]
    fn subscribers_come_up_round_robin_over_tunnels_and_log_out() {
        let mut now = crate::runtime::clock::test_epoch();
        let mut lns = Lns::new(16);
        let mut core = core(3);
        for n in 1..=6 {
            core.start(now, spec(n, "demo"));
        }
        core.no_more_logins(now);
        pump(&mut core, &mut lns, now);
        run_for(&mut core, &mut lns, &mut now, Duration::from_millis(100));
        let ups = events(&mut core)
            .into_iter()
            .filter(|e| matches!(e, CoreEvent::Up { .. }))
            .count();
        assert_eq!(ups, 6);
        assert_eq!(core.stats().tunnels_up, 3);
        assert_eq!(lns.ep.tunnel_count(), 3);
        // Subscribers i and i + 3 share a tunnel.
        for t in lns.ep.tunnel_ids() {
            assert_eq!(lns.ep.session_ids(t).len(), 2);
        }
        for sub in 0..6 {
            core.logout(now, sub);
        }
        run_for(&mut core, &mut lns, &mut now, Duration::from_millis(200));
        assert_eq!(core.stats().logged_out, 6);
        assert!(core.is_idle(), "sessions cleared, tunnels closed: {core:?}");
        assert_eq!(lns.links.len(), 0, "every session got its CDN");
        assert!(
            lns.ep
                .tunnel_ids()
                .iter()
                .all(|t| lns.ep.tunnel(*t).unwrap().sessions == 0)
        );
    }

    #[test]
    fn ppp_never_overtakes_the_iccn_even_with_a_window_of_one() {
        let mut now = crate::runtime::clock::test_epoch();
        // The LNS advertises a receive window of 1: every ICCN waits for the previous message's
        // acknowledgement, while the endpoint already reported the session up.
        let mut lns = Lns::new(1);
        let mut core = core(1);
        for n in 1..=5 {
            core.start(now, spec(n, "demo"));
        }
        run_for(&mut core, &mut lns, &mut now, Duration::from_secs(2));
        assert_eq!(core.stats().up, 5, "{:?}", core.stats());
        assert_eq!(
            lns.ep
                .stats()
                .get(crate::l2tp::DropReason::DataBeforeEstablished),
            0
        );
        // In what the LAC sent, each session's first data message follows its ICCN.
        let mut iccn_seen = std::collections::HashSet::new();
        for d in &lns.seen {
            match data::classify(d) {
                Ok(Kind::Control { .. }) => {
                    let (h, body) = ControlHeader::parse(d).unwrap();
                    if peek(body).kind == Some(MessageType::Iccn as u16) {
                        iccn_seen.insert(h.session_id);
                    }
                }
                Ok(Kind::Data { session_id, .. }) => {
                    assert!(iccn_seen.contains(&session_id), "data before ICCN")
                }
                Err(e) => panic!("{e}"),
            }
        }
        // Every setup took well under the 3 s LCP restart timer.
        let s = core.stats().latencies.summary().unwrap();
        assert!(s.max_ms < 1000.0, "{s:?}");
    }

    #[test]
    fn follows_the_lns_on_data_sequencing() {
        let mut now = crate::runtime::clock::test_epoch();
        let mut lns = Lns::new(16);
        let mut core = core(1);
        let sub = core.start(now, spec(1, "demo"));
        run_for(&mut core, &mut lns, &mut now, Duration::from_millis(100));
        assert!(core.population().is_up(sub));
        let net = core.population().network(sub).unwrap();
        let packet =
            crate::loadgen::ip::test_packet(net.local, net.peer.unwrap(), 7, sub as u32, 1, 20);
        let sent_ns = |core: &mut L2tpCore| -> Vec<Option<u16>> {
            std::iter::from_fn(|| core.poll_transmit())
                .filter_map(|(_, d)| match data::classify(&d) {
                    Ok(Kind::Data { ns, .. }) => Some(ns),
                    _ => None,
                })
                .collect()
        };
        // A data message from the LNS carrying an IPv4 packet, with or without Ns.
        let peer = lns.links.values().next().map(|(_, p)| *p).unwrap();
        let from_lns = |ns: Option<u16>| {
            let mut frame = crate::ppp::frame::protocol::IPV4.to_be_bytes().to_vec();
            frame.extend_from_slice(&crate::loadgen::ip::echo_reply(&packet).unwrap());
            let opts = DataHeaderOptions {
                ns,
                ..DataHeaderOptions::default()
            };
            let hlen = data::header_len(opts);
            let mut d = vec![0u8; hlen + 2 + frame.len()];
            data::write_header(&mut d, peer.0, peer.1, frame.len() + 2, opts).unwrap();
            d[hlen] = 0xff;
            d[hlen + 1] = 0x03;
            d[hlen + 2..].copy_from_slice(&frame);
            d
        };
        // Unsequenced by default.
        assert!(core.send_ip(now, sub, &packet));
        assert_eq!(sent_ns(&mut core), vec![None]);
        // RFC 2661 §5.4: "If the LAC receives a data message with sequence numbers present, it
        // MUST begin sending sequence numbers" ...
        core.handle_datagram(now, addr(LNS), &from_lns(Some(100)));
        assert!(core.send_ip(now, sub, &packet));
        assert!(core.send_ip(now, sub, &packet));
        assert_eq!(sent_ns(&mut core), vec![Some(0), Some(1)]);
        // ... "without sequence numbers present, it MUST stop" ...
        core.handle_datagram(now, addr(LNS), &from_lns(None));
        assert!(core.send_ip(now, sub, &packet));
        assert_eq!(sent_ns(&mut core), vec![None]);
        // ... and "the sequence number state picks up where it left off".
        core.handle_datagram(now, addr(LNS), &from_lns(Some(101)));
        assert!(core.send_ip(now, sub, &packet));
        assert_eq!(sent_ns(&mut core), vec![Some(2)]);
        // The echoes were counted as received traffic.
        assert_eq!(core.stats().traffic.packets_received, 3);
        assert_eq!(core.stats().traffic.echoes, 3);
    }

    #[test]
    fn failures_are_counted_by_cause() {
        let mut now = crate::runtime::clock::test_epoch();
        let mut lns = Lns::new(16);
        let mut core = core(1);
        core.start(now, spec(1, "wrong"));
        run_for(&mut core, &mut lns, &mut now, Duration::from_secs(1));
        assert_eq!(core.stats().failed.get(CauseKind::AuthFailed), 1);
        assert_eq!(lns.links.len(), 0, "the failed session was cleared");

        // A server that never answers: the SCCRQ is retransmitted 5 times (1, 2, 4, 8, 8 s) and
        // the tunnel declared unreachable (RFC 2661 §5.8) after 31 s, inside a 60 s setup limit.
        let mut core = core_with(
            1,
            PopulationConfig {
                setup_timeout: Duration::from_secs(60),
            },
        );
        let mut now = crate::runtime::clock::test_epoch();
        core.start(now, spec(2, "demo"));
        for _ in 0..4000 {
            now += Duration::from_millis(10);
            core.handle_timeout(now);
            while core.poll_transmit().is_some() {}
        }
        let failed = &core.stats().failed;
        assert_eq!(failed.total(), 1);
        assert_eq!(failed.get(CauseKind::TunnelUnreachable), 1, "{failed:?}");
        let ev = events(&mut core);
        assert!(
            matches!(&ev[..], [CoreEvent::Failed { sub: 0, cause }] if cause.kind == CauseKind::TunnelUnreachable),
            "{ev:?}"
        );

        // With the default 30 s limit, the deadline comes first.
        let mut core = core_with(1, PopulationConfig::default());
        let mut now = crate::runtime::clock::test_epoch();
        core.start(now, spec(3, "demo"));
        for _ in 0..4000 {
            now += Duration::from_millis(10);
            core.handle_timeout(now);
            while core.poll_transmit().is_some() {}
        }
        assert_eq!(core.stats().failed.get(CauseKind::SetupTimeout), 1);
    }
}
