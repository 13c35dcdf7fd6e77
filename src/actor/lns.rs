//! The LNS role: tunnels from allowed LACs, one PPP server link per session (taking over the
//! LAC's proxied LCP and authentication when they are consistent, RFC 2661 §4.4.5), the
//! subscriber's address from a pool, and IP through the TUN device once IPCP is open.
//!
//! Owns: the LNS sessions and their PPP links, the LNS tunnels' peer names, the address pools.
//! Must not touch: LAC subscribers (`lac.rs`), the planner (LNS tunnels are not ours to place).

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::accounting::{LegKey, SessionEnd, TunnelKey};
use super::pool::{AddressPools, Lease};
use super::{Actor, TimerKey, login, ppp_server_config, session_span};
use crate::config::Config;
use crate::dataplane::counters::{Direction, SessionCounters};
use crate::dataplane::sessions::{Action, L2tpPath, SessionEntry, TunRoute, session_key};
use crate::l2tp::{CloseReason, Event, PeerInfo, SessionDownCause, SessionInfo, TunnelDownCause};
use crate::ppp::{
    self, AuthRequest, AuthVerdict, DownCause, IpcpAssignment, Link, ProxyAuthenType, ProxyInfo,
    with_address_control,
};
use crate::runtime::clock::UnixMillis;
use crate::wire::{Avps, CdnResult, DisconnectCause, DisconnectCauseCode, ErrorCode};

/// A tunnel a peer opened toward one of our responder endpoints (LNS or dial-in).
#[derive(Debug)]
pub(super) struct PeerTunnel {
    /// The allow-list entry it matched.
    pub peer_name: Arc<str>,
    /// What the peer told us.
    pub info: Box<PeerInfo>,
    /// When it came up.
    pub established_at: UnixMillis,
}

/// One LNS session.
pub(super) struct LnsSession {
    pub tunnel: u16,
    pub session: u16,
    pub path: Arc<L2tpPath>,
    pub link: Link,
    pub counters: Arc<SessionCounters>,
    pub subscriber: Option<Arc<str>>,
    pub service_level: u64,
    pub lease: Option<Lease>,
    pub login_at: UnixMillis,
    pub network_up: bool,
    /// Why we refused the subscriber, for the CDN that follows the PPP failure.
    refusal: Option<CloseReason>,
    /// We started the teardown (CDN sent or being sent).
    pub closing: bool,
    /// The LAC's address (the data plane accepts frames of this session only from it).
    pub peer: SocketAddr,
    /// Set when the session was cut automatically (here, or by an l2tpagg LAC that said so in its
    /// CDN): why, for the stop record; its address is then held for a resume.
    pub end_cause: Option<super::disconnect::EndCause>,
}

/// Everything the LNS role keeps.
pub(super) struct LnsState {
    pub sessions: HashMap<u32, LnsSession>,
    pub tunnels: HashMap<u16, PeerTunnel>,
    /// Calls accepted whose ICCN has not arrived; they count toward `lns.max_sessions`.
    pub pending_calls: HashSet<u32>,
    pub pools: AddressPools,
}

impl LnsState {
    pub fn new(config: &Config) -> Self {
        Self {
            sessions: HashMap::new(),
            tunnels: HashMap::new(),
            pending_calls: HashSet::new(),
            pools: AddressPools::new(&config.lns),
        }
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

/// The proxy LCP and authentication AVPs of an ICCN as the PPP engine takes them; `None` when
/// the ICCN carries no proxy LCP (the LAC did not negotiate for us).
pub(super) fn proxy_from_avps(avps: &Avps) -> Option<ProxyInfo> {
    avps.last_sent_lcp_confreq.as_ref()?;
    avps.last_received_lcp_confreq.as_ref()?;
    Some(ProxyInfo {
        initial_received_confreq: avps.initial_received_lcp_confreq.clone(),
        last_sent_confreq: avps.last_sent_lcp_confreq.clone(),
        last_received_confreq: avps.last_received_lcp_confreq.clone(),
        authen_type: avps
            .proxy_authen_type
            .map(|t| ProxyAuthenType::from_u16(t.0)),
        authen_name: avps.proxy_authen_name.clone(),
        authen_challenge: avps.proxy_authen_challenge.clone(),
        authen_id: avps.proxy_authen_id.map(u16::from),
        authen_response: avps.proxy_authen_response.clone(),
    })
}

/// The routes the LNS installs through its TUN device: every pool's assignable addresses (as
/// CIDR blocks) and every subscriber's static address.
pub fn lns_routes(config: &Config) -> Vec<ipnet::Ipv4Net> {
    let mut routes = Vec::new();
    for pool in &config.lns.pools {
        routes.extend(pool.routes());
    }
    for s in config.subscribers.explicit() {
        if let crate::config::AddressAssignment::Static(a) = s.settings.address
            && let Ok(net) = ipnet::Ipv4Net::new(a, 32)
        {
            routes.push(net);
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

/// One line about a tunnel's end, for the lifecycle log.
pub(super) fn describe_tunnel_down(cause: &TunnelDownCause) -> String {
    match cause {
        TunnelDownCause::PeerStopCcn { result } => {
            let r = crate::wire::StopCcnResult::from_code(result.result);
            match &result.message {
                Some(m) => format!("peer sent StopCCN {r}: {m}"),
                None => format!("peer sent StopCCN {r}"),
            }
        }
        TunnelDownCause::Local { result, .. } => format!("we sent StopCCN {result}"),
        TunnelDownCause::ProtocolError { detail, .. } => format!("protocol error: {detail}"),
        TunnelDownCause::AuthenticationFailed { detail } => {
            format!("tunnel authentication failed: {detail}")
        }
        TunnelDownCause::PeerUnreachable => "peer unreachable (retransmissions exhausted)".into(),
        TunnelDownCause::LostTieBreaker { .. } => "lost the tie breaker".into(),
    }
}

/// One line about a session's end, for the lifecycle log.
pub(super) fn describe_session_down(cause: &SessionDownCause) -> String {
    match cause {
        SessionDownCause::PeerCdn { result, cause, .. } => {
            let r = CdnResult::from_code(result.result);
            let mut s = format!("peer sent CDN {r}");
            if let Some(m) = &result.message {
                s.push_str(&format!(": {m}"));
            }
            if let Some(c) = cause {
                s.push_str(&format!(" (cause {:?})", c.code));
            }
            s
        }
        SessionDownCause::Local { result, cause, .. } => match cause {
            Some(c) => format!("we sent CDN {result} (cause {:?})", c.code),
            None => format!("we sent CDN {result}"),
        },
        SessionDownCause::ProtocolError { detail, .. } => format!("protocol error: {detail}"),
        SessionDownCause::PeerLacksCapability => "peer lacks the needed capability".into(),
        SessionDownCause::TunnelDown => "tunnel down".into(),
    }
}

/// Our vendor Disconnect-Cause with a text.
pub(super) fn vendor_cause(code: DisconnectCauseCode, text: &str) -> DisconnectCause {
    DisconnectCause {
        code,
        detail: 0,
        text: Some(text.to_owned()),
    }
}

/// The CDN for a subscriber whose PPP authentication failed (RFC 2661 §4.4.2 result 2, "see error
/// code", with no error; our vendor cause says it was the login), at the LAC or at the LNS.
pub(super) fn cdn_for_auth_failure(reason: &str) -> CloseReason {
    CloseReason {
        result: CdnResult::GeneralError,
        error: Some(ErrorCode::NoError),
        message: Some(format!("authentication failed: {reason}")),
        cause: Some(vendor_cause(
            DisconnectCauseCode::AuthenticationFailed,
            reason,
        )),
    }
}

/// The CDN for a PPP link that ended by itself.
pub(super) fn cdn_for_link_down(cause: &DownCause) -> CloseReason {
    let text = cause.to_string();
    let (result, code) = match cause {
        DownCause::EchoTimeout | DownCause::LowerLayerDown => (
            CdnResult::LossOfCarrier,
            DisconnectCauseCode::SubscriberLeft,
        ),
        DownCause::PeerTerminated(_) => (
            CdnResult::Administrative,
            DisconnectCauseCode::SubscriberLeft,
        ),
        DownCause::LocalClose(_) => (
            CdnResult::Administrative,
            DisconnectCauseCode::Administrative,
        ),
        DownCause::AuthRefused | DownCause::AuthFailed | DownCause::AuthTimeout => (
            CdnResult::GeneralError,
            DisconnectCauseCode::AuthenticationFailed,
        ),
        _ => (CdnResult::GeneralError, DisconnectCauseCode::SubscriberLeft),
    };
    CloseReason {
        result,
        error: (result == CdnResult::GeneralError).then_some(ErrorCode::NoError),
        message: Some(format!("PPP: {text}")),
        cause: Some(vendor_cause(code, &text)),
    }
}

/// Sends a link's queued frames on an L2TP path (with `FF 03`, RFC 2661 §2 carries the HDLC
/// address and control fields).
pub(super) fn send_link_frames(
    link: &mut Link,
    path: &L2tpPath,
    rate_log: &crate::runtime::logging::RateLimitedLog,
) {
    while let Some(frame) = link.poll_transmit() {
        if let Err(e) = path.send_frame(&with_address_control(&frame)) {
            rate_log.warn(
                "ppp.send_failed",
                format_args!("PPP frame to {}: {e}", path.remote()),
            );
        }
    }
}

impl Actor {
    pub(super) fn on_lns_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::TunnelUp { tunnel, peer } => {
                let name: Arc<str> = self
                    .lns_policy
                    .lock()
                    .ok()
                    .and_then(|mut p| p.tunnel_up(peer.remote.ip()))
                    .unwrap_or_else(|| "unknown".into());
                tracing::info!(
                    role = "lns", tunnel_id = tunnel, peer_tunnel_id = peer.peer_tunnel_id,
                    peer = %name, remote = %peer.remote, local = %peer.local,
                    host_name = %String::from_utf8_lossy(&peer.host_name),
                    capabilities = peer.capabilities.0,
                    "tunnel up"
                );
                self.account_lns_tunnel_up(now, tunnel, &peer, &name);
                self.lns.tunnels.insert(
                    tunnel,
                    PeerTunnel {
                        peer_name: name,
                        info: peer,
                        established_at: self.wall(now),
                    },
                );
            }
            Event::TunnelDown { tunnel, cause } => {
                let text = describe_tunnel_down(&cause);
                match self.lns.tunnels.remove(&tunnel) {
                    Some(t) => {
                        if let Ok(mut p) = self.lns_policy.lock() {
                            p.tunnel_down(&t.peer_name);
                        }
                        tracing::info!(
                            role = "lns", tunnel_id = tunnel, peer = %t.peer_name,
                            remote = %t.info.remote, cause = %text, "tunnel down"
                        );
                    }
                    None => tracing::info!(
                        role = "lns", tunnel_id = tunnel, cause = %text,
                        "tunnel setup failed"
                    ),
                }
                self.account_tunnel_down(now, TunnelKey::Lns(tunnel), &text);
            }
            Event::IncomingCall {
                tunnel,
                session,
                icrq,
                ..
            } => self.lns_incoming_call(now, tunnel, session, &icrq),
            Event::SessionUp {
                tunnel,
                session,
                info,
            } => {
                self.lns.pending_calls.remove(&session_key(tunnel, session));
                self.lns_session_up(now, tunnel, session, &info);
            }
            Event::SessionDown {
                tunnel,
                session,
                cause,
            } => {
                let key = session_key(tunnel, session);
                // Legs of live moves are the switchover's.
                if self.lns_switchover_down(now, key, &cause) {
                    return;
                }
                if self.lns.pending_calls.remove(&key) {
                    self.dp.lns.remove(&key);
                }
                self.early_frames.take(super::Role::Lns, key);
                self.accounting
                    .note_end(LegKey::Lns(key), SessionEnd::from_session_down(&cause));
                if let Some(mut s) = self.lns.sessions.remove(&key) {
                    if s.end_cause.is_none() {
                        s.end_cause = self.peer_end_cause(s.tunnel, &cause);
                    }
                    self.lns_cleanup(now, key, s, &describe_session_down(&cause));
                }
            }
            Event::Data { .. } | Event::SetLinkInfo { .. } | Event::WanErrorNotify { .. } => {}
        }
    }

    fn lns_incoming_call(&mut self, now: Instant, tunnel: u16, session: u16, icrq: &Avps) {
        if let Some(sw) = icrq.switchover
            && self.shutdown_deadline.is_none()
        {
            // A live move of a session we already carry: no new subscriber, no limit.
            self.lns_switchover_call(now, tunnel, session, sw);
            return;
        }
        let limit = self.config.lns.max_sessions as usize;
        let busy = self.lns.sessions.len() + self.lns.pending_calls.len();
        let refusal = if self.shutdown_deadline.is_some() {
            Some(CloseReason {
                result: CdnResult::TemporaryFacilities,
                error: Some(ErrorCode::InsufficientResources),
                message: Some("the LNS is shutting down".into()),
                cause: Some(vendor_cause(DisconnectCauseCode::Shutdown, "shutting down")),
            })
        } else if busy >= limit {
            Some(CloseReason {
                result: CdnResult::TemporaryFacilities,
                error: Some(ErrorCode::InsufficientResources),
                message: Some(format!("session limit of {limit} reached")),
                cause: Some(vendor_cause(
                    DisconnectCauseCode::ResourceExhausted,
                    "session limit reached",
                )),
            })
        } else {
            None
        };
        let Some(ep) = self.lns_ep.as_mut() else {
            return;
        };
        match refusal {
            Some(reason) => {
                tracing::info!(
                    role = "lns",
                    tunnel_id = tunnel,
                    session_id = session,
                    reason = reason.message.as_deref().unwrap_or(""),
                    "call refused"
                );
                let _ = ep.endpoint.reject_call(now, tunnel, session, reason);
            }
            None => {
                if ep.endpoint.accept_call(now, tunnel, session).is_ok() {
                    let key = session_key(tunnel, session);
                    self.lns.pending_calls.insert(key);
                    // The LAC may send PPP right behind its ICCN; with an entry in place those
                    // frames queue behind the ICCN on the actor's channel instead of being
                    // dropped by the data plane as belonging to no session.
                    if let Some(peer) = ep.endpoint.tunnel(tunnel).map(|t| t.remote) {
                        self.dp.lns.insert(
                            key,
                            Arc::new(SessionEntry {
                                peer,
                                counters: Arc::new(SessionCounters::new()),
                                inbound: Direction::FromSubscriber,
                                action: Action::Actor,
                            }),
                        );
                    }
                }
            }
        }
    }

    fn lns_session_up(&mut self, now: Instant, tunnel: u16, session: u16, info: &SessionInfo) {
        if self.lns_switchover_up(now, tunnel, session, info) {
            return;
        }
        let Some(ep) = self.lns_ep.as_ref() else {
            return;
        };
        let Some(path) = ep.path(tunnel, info.peer_session_id, info.sequencing_required) else {
            return;
        };
        let cfg = ppp_server_config(&self.config);
        let proxy = self
            .config
            .ppp
            .accept_proxy
            .then(|| proxy_from_avps(&info.iccn))
            .flatten();
        let link = match &proxy {
            Some(p) => {
                Link::from_proxy(now, cfg.clone(), p).unwrap_or_else(|_| Link::new(now, cfg))
            }
            None => Link::new(now, cfg),
        };
        let key = session_key(tunnel, session);
        let counters = Arc::new(SessionCounters::new());
        let peer = path.remote();
        self.dp.lns.insert(
            key,
            Arc::new(SessionEntry {
                peer,
                counters: counters.clone(),
                inbound: Direction::FromSubscriber,
                action: Action::Actor,
            }),
        );
        tracing::debug!(
            role = "lns", tunnel_id = tunnel, session_id = session,
            peer_session_id = info.peer_session_id, proxy = proxy.is_some(),
            outcome = ?link.proxy_outcome(), "call connected; PPP starting"
        );
        let _span = session_span("lns", tunnel, session, "").entered();
        self.lns.sessions.insert(
            key,
            LnsSession {
                tunnel,
                session,
                path,
                link,
                counters,
                subscriber: None,
                service_level: 0,
                lease: None,
                login_at: self.wall(now),
                network_up: false,
                refusal: None,
                closing: false,
                peer,
                end_cause: None,
            },
        );
        self.lns_step(now, key);
        for frame in self.early_frames.take(super::Role::Lns, key) {
            self.lns_frame(now, tunnel, session, &frame);
        }
    }

    /// Sends a link's frames, handles its events, and refiles its timer, until it is quiet.
    pub(super) fn lns_step(&mut self, now: Instant, key: u32) {
        loop {
            let Some(s) = self.lns.sessions.get_mut(&key) else {
                self.timers.clear(TimerKey::LnsLink(key));
                return;
            };
            send_link_frames(&mut s.link, &s.path, &self.rate_log);
            let Some(event) = s.link.poll_event() else {
                let deadline = s.link.poll_timeout();
                self.timers.set(TimerKey::LnsLink(key), deadline);
                return;
            };
            self.lns_link_event(now, key, event);
        }
    }

    fn lns_span(&self, key: u32) -> Option<tracing::span::EnteredSpan> {
        let s = self.lns.sessions.get(&key)?;
        Some(
            session_span(
                "lns",
                s.tunnel,
                s.session,
                s.subscriber.as_deref().unwrap_or(""),
            )
            .entered(),
        )
    }

    pub(super) fn lns_timer(&mut self, now: Instant, key: u32) {
        let _span = self.lns_span(key);
        if let Some(s) = self.lns.sessions.get_mut(&key) {
            s.link.handle_timeout(now);
        }
        self.lns_step(now, key);
    }

    pub(super) fn lns_frame(&mut self, now: Instant, tunnel: u16, session: u16, frame: &[u8]) {
        // Both legs of a moving session feed its one PPP link.
        let key = self.lns_context_key(session_key(tunnel, session));
        let _span = self.lns_span(key);
        let Some(s) = self.lns.sessions.get_mut(&key) else {
            if self.lns.pending_calls.contains(&key) {
                self.early_frames.hold(super::Role::Lns, key, frame);
            }
            return;
        };
        if let ppp::FrameDisposition::Data { protocol, payload } = s.link.handle_frame(now, frame)
            && protocol == ppp::frame::protocol::IPV4
            && let Some(lease) = s.lease
            && s.network_up
        {
            let _ = self
                .dp
                .terminate_ipv4(lease.address(), &s.counters, payload);
        }
        self.lns_step(now, key);
    }

    fn lns_link_event(&mut self, now: Instant, key: u32, event: ppp::Event) {
        match event {
            ppp::Event::AuthRequest(request) => self.lns_authenticate(now, key, &request),
            ppp::Event::NetworkUp(info) => {
                // Packets held for a resumed subscriber go before anything the new route carries.
                self.resume_deliver(key);
                let Some(s) = self.lns.sessions.get_mut(&key) else {
                    return;
                };
                let Some(lease) = s.lease else {
                    return;
                };
                let address = lease.address();
                s.network_up = true;
                self.dp.routes.insert(
                    address,
                    Arc::new(TunRoute {
                        path: s.path.clone(),
                        counters: s.counters.clone(),
                    }),
                );
                self.dp.lns.insert(
                    key,
                    Arc::new(SessionEntry {
                        peer: s.peer,
                        counters: s.counters.clone(),
                        inbound: Direction::FromSubscriber,
                        action: Action::Terminate { address },
                    }),
                );
                let peer_name = self
                    .lns
                    .tunnels
                    .get(&s.tunnel)
                    .map(|t| t.peer_name.clone())
                    .unwrap_or_else(|| "unknown".into());
                tracing::info!(
                    role = "lns",
                    subscriber = s.subscriber.as_deref().unwrap_or(""),
                    tunnel_id = s.tunnel, session_id = s.session,
                    peer_tunnel_id = s.path.peer_tunnel_id(),
                    peer_session_id = s.path.peer_session_id(),
                    peer = %peer_name, address = %address,
                    peer_address_ipcp = ?info.peer,
                    proxied = matches!(s.link.proxy_outcome(), Some(ppp::ProxyOutcome::Accepted)),
                    "session up"
                );
                self.account_lns_session_up(now, key);
            }
            ppp::Event::NetworkDown => {
                if let Some(s) = self.lns.sessions.get_mut(&key) {
                    s.network_up = false;
                    if let Some(lease) = s.lease {
                        self.dp.routes.remove(&lease.address());
                    }
                    self.dp.lns.insert(
                        key,
                        Arc::new(SessionEntry {
                            peer: s.peer,
                            counters: s.counters.clone(),
                            inbound: Direction::FromSubscriber,
                            action: Action::Actor,
                        }),
                    );
                }
            }
            ppp::Event::LinkDown(cause) => {
                let Some(s) = self.lns.sessions.get_mut(&key) else {
                    return;
                };
                if s.closing {
                    return;
                }
                s.closing = true;
                let reason = s
                    .refusal
                    .take()
                    .unwrap_or_else(|| cdn_for_link_down(&cause));
                tracing::debug!(
                    role = "lns", tunnel_id = s.tunnel, session_id = s.session,
                    cause = %cause, "PPP link down; sending CDN"
                );
                let (tunnel, session) = (s.tunnel, s.session);
                self.accounting.note_end(
                    LegKey::Lns(key),
                    SessionEnd::from_close(&format!("PPP: {cause}"), &reason),
                );
                self.lns_send_cdn(now, key, tunnel, session, reason);
            }
            ppp::Event::LinkUp(_) | ppp::Event::Authenticated { .. } => {}
        }
    }

    /// Sends the CDN; when the endpoint no longer knows the session, cleans up at once.
    fn lns_send_cdn(
        &mut self,
        now: Instant,
        key: u32,
        tunnel: u16,
        session: u16,
        reason: CloseReason,
    ) {
        let sent = self.lns_ep.as_mut().is_some_and(|ep| {
            ep.endpoint
                .close_session(now, tunnel, session, reason)
                .is_ok()
        });
        if !sent && let Some(s) = self.lns.sessions.remove(&key) {
            self.lns_cleanup(now, key, s, "session already gone");
        }
    }

    fn lns_authenticate(&mut self, now: Instant, key: u32, request: &AuthRequest) {
        let subscribers = self.config.subscribers.clone();
        let verdict = match login::check(&subscribers, request) {
            Err(failure) => {
                if let Some(s) = self.lns.sessions.get(&key) {
                    tracing::warn!(
                        role = "lns", subscriber = %request.name_lossy(),
                        tunnel_id = s.tunnel, session_id = s.session,
                        proxied = request.proxied, reason = failure.reason(),
                        "login failed"
                    );
                }
                Err((
                    cdn_for_auth_failure(failure.reason()),
                    "authentication failed".to_owned(),
                ))
            }
            Ok(subscriber) => {
                let level = subscriber.settings.service_level;
                // Condition D first: a refused login takes no address.
                if let Err(reason) = self.lns_disconnect_login(now, key, &subscriber.name, level) {
                    let message = reason.message.clone().unwrap_or_default();
                    Err((reason, message))
                } else {
                    // A subscriber back within its resume grace gets its held address.
                    let lease = match self.resume_take(now, key, &subscriber.name) {
                        Some(lease) => Ok(lease),
                        None => self.lns.pools.allocate(subscriber.settings.address),
                    };
                    match lease {
                        Err(e) => {
                            tracing::warn!(
                                role = "lns", subscriber = %subscriber.name, reason = %e,
                                "session refused: no address"
                            );
                            let reason = CloseReason {
                                result: CdnResult::TemporaryFacilities,
                                error: Some(ErrorCode::InsufficientResources),
                                message: Some(e.to_string()),
                                cause: Some(vendor_cause(
                                    DisconnectCauseCode::ResourceExhausted,
                                    &e.to_string(),
                                )),
                            };
                            Err((reason, e.to_string()))
                        }
                        Ok(lease) => Ok((Arc::<str>::from(subscriber.name.as_ref()), level, lease)),
                    }
                }
            }
        };
        let Some(s) = self.lns.sessions.get_mut(&key) else {
            if let Ok((_, _, lease)) = verdict {
                self.lns.pools.release(lease);
            }
            return;
        };
        let answer = match verdict {
            Err((reason, message)) => {
                s.refusal = Some(reason);
                AuthVerdict::Reject { message }
            }
            Ok((name, level, lease)) => {
                if let Some(old) = s.lease.replace(lease) {
                    // A second authentication on the same link (LCP renegotiated): keep one lease.
                    self.lns.pools.release(old);
                }
                s.subscriber = Some(name);
                s.service_level = level;
                let lns = &self.config.lns;
                let mut network = IpcpAssignment::new(lns.local_address, lease.address());
                network.primary_dns = lns.primary_dns();
                network.secondary_dns = lns.secondary_dns();
                AuthVerdict::Accept {
                    message: "welcome".into(),
                    network,
                }
            }
        };
        let _ = s.link.answer_auth(now, answer);
    }

    /// Ends an LNS session from our side: LCP Terminate-Request first while the link is up
    /// (issue 4: "an L2TP teardown sends LCP Terminate first when the link is still up"), then
    /// the CDN.
    pub(super) fn lns_close(&mut self, now: Instant, key: u32, reason: CloseReason, why: &str) {
        let Some(s) = self.lns.sessions.get_mut(&key) else {
            return;
        };
        if s.closing {
            return;
        }
        s.closing = true;
        s.link.close(now, why);
        send_link_frames(&mut s.link, &s.path, &self.rate_log);
        let (tunnel, session) = (s.tunnel, s.session);
        self.accounting
            .note_end(LegKey::Lns(key), SessionEnd::from_close(why, &reason));
        self.lns_send_cdn(now, key, tunnel, session, reason);
    }

    /// Forgets a session whose L2TP side is gone: the link dies silently, the address goes back.
    pub(super) fn lns_cleanup(&mut self, now: Instant, key: u32, mut s: LnsSession, cause: &str) {
        s.link.lower_down(now);
        self.timers.clear(TimerKey::LnsLink(key));
        self.dp.lns.remove(&key);
        self.disconnect_logout(super::disconnect::lns_key(key));
        self.resume_forget(key);
        let address: Option<Ipv4Addr> = s.lease.map(|l| l.address());
        if let Some(lease) = s.lease {
            // Only remove the route if it is still this session's (a reused address may already
            // belong to a newer session).
            self.dp.routes.remove_if(&lease.address(), |_, r| {
                Arc::ptr_eq(&r.counters, &s.counters)
            });
            // An automatic disconnect keeps the address for the subscriber's return (seed 004).
            let held = s.end_cause.is_some()
                && s.subscriber
                    .as_ref()
                    .is_some_and(|name| self.resume_hold(now, name, lease));
            if !held {
                self.lns.pools.release(lease);
            }
        }
        // The cause noted when the end began wins over this generic one.
        self.account_session_end(
            now,
            LegKey::Lns(key),
            SessionEnd::new(crate::ledger::TerminateCause::NasError, cause),
        );
        let snapshot = s.counters.snapshot();
        tracing::info!(
            role = "lns",
            subscriber = s.subscriber.as_deref().unwrap_or(""),
            tunnel_id = s.tunnel, session_id = s.session,
            address = ?address, cause = %cause,
            acct_terminate_cause = s.end_cause.as_ref().map(|c| c.acct_terminate_cause.name()),
            bytes_up = snapshot.direction(Direction::FromSubscriber).bytes,
            bytes_down = snapshot.direction(Direction::ToSubscriber).bytes,
            "session down"
        );
    }

    pub(super) fn lns_shutdown(&mut self, now: Instant) {
        let keys: Vec<u32> = self.lns.sessions.keys().copied().collect();
        for key in keys {
            let reason = CloseReason {
                result: CdnResult::Administrative,
                error: None,
                message: Some("l2tpagg is shutting down".into()),
                cause: Some(vendor_cause(DisconnectCauseCode::Shutdown, "shutting down")),
            };
            self.lns_close(now, key, reason, "LNS shutting down");
        }
    }
}
