//! The LAC role: a subscriber arrives on an access front-end (the L2TP dial-in front-end or
//! PPPoE, each an [`Access`]), the LAC runs LCP and PAP/CHAP with it (seed 000 claim
//! 12: it learns who the subscriber is before it picks a tunnel), checks the credentials, picks an
//! LNS peer by realm (preference, weight, hold-down), lets the planner place the session (an
//! existing tunnel, or a new one on a line), opens the L2TP session with the proxy LCP and
//! authentication AVPs (RFC 2661 §4.4.5), and from then on the data plane relays the frames both
//! ways untouched.
//!
//! Owns: subscribers, the LAC tunnels and their mapping to the planner's tunnels, peer hold-downs,
//! and carrying out the planner's decisions. Must not touch: LNS sessions (`lns.rs`), the dial-in
//! endpoint's tunnels beyond closing a subscriber's session on it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use super::accounting::{LegKey, SessionEnd, TunnelKey};
use super::endpoint::base_tunnel_config;
use super::lns::{
    cdn_for_auth_failure, cdn_for_link_down, describe_session_down, describe_tunnel_down,
    vendor_cause,
};
use super::{Actor, TimerKey, login, session_span};
use crate::config::{Config, LacPeer, LineId};
use crate::dataplane::counters::{Direction, SessionCounters};
use crate::dataplane::sessions::{
    Action, DatagramSink, L2tpPath, PppoeEntry, PppoePath, SessionEntry, pppoe_key, session_key,
};
use crate::engine::admin::{
    AccountId, LineClass, LineId as PlanLine, LineSpec, PeerId, PeerSpec, SessionId, SessionSpec,
    TunnelId as PlanTunnel,
};
use crate::engine::planner::{Decision, EventPolicy, Placement, Planner, PlannerConfig};
use crate::l2tp::{
    CloseReason, Event, SessionDownCause, SessionInfo, SessionRequest, TunnelDownCause,
};
use crate::ppp::{self, AuthRequest, AuthVerdict, Link, ProxyInfo, with_address_control};
use crate::runtime::clock::UnixMillis;
use crate::wire::{
    Avps, Bearer, CdnResult, DisconnectCauseCode, ErrorCode, Framing, StopCcnResult,
};

/// Most frames of a subscriber held while its session toward the LNS is being set up.
const MAX_PENDING_FRAMES: usize = 64;

/// How a subscriber reaches us.
pub(super) enum Access {
    /// A session of a tunnel on the dial-in front-end.
    Dialin {
        /// Our tunnel ID on the dial-in endpoint.
        tunnel: u16,
        /// Our session ID on it.
        session: u16,
        /// Toward the subscriber's LAC.
        path: Arc<L2tpPath>,
        /// The dial-in allow-list entry of that LAC (the access point).
        peer_name: Arc<str>,
    },
    /// A PPPoE session on an access interface (`pppoe.rs`).
    Pppoe {
        /// The interface's index in `lac.pppoe.interfaces`.
        port: u16,
        /// The PPPoE session ID.
        session_id: u16,
        /// The subscriber's MAC.
        peer: crate::pppoe::MacAddr,
        /// The interface (the access point).
        interface: Arc<str>,
        /// Toward the subscriber.
        path: Arc<PppoePath>,
    },
}

impl Access {
    /// The PPP frame toward the subscriber (frames from the engine start at the Protocol field).
    pub(super) fn send_frame(&self, frame: &[u8]) -> std::io::Result<usize> {
        match self {
            Access::Dialin { path, .. } => path.send_frame(&with_address_control(frame)),
            Access::Pppoe { path, .. } => path.send_frame(frame),
        }
    }

    /// What the LNS leg does with frames toward the subscriber.
    pub(super) fn relay_action(&self) -> Action {
        match self {
            Access::Dialin { path, .. } => Action::Relay(path.clone()),
            Access::Pppoe { path, .. } => Action::Deliver(path.clone()),
        }
    }

    /// For ctl: "l2tp" (dial-in) or "pppoe".
    pub fn label(&self) -> &'static str {
        match self {
            Access::Dialin { .. } => "l2tp",
            Access::Pppoe { .. } => "pppoe",
        }
    }

    /// For `ctl sessions`: the label, and for PPPoE the interface, MAC and session ID.
    pub fn describe(&self) -> String {
        match self {
            Access::Dialin { .. } => self.label().to_owned(),
            Access::Pppoe {
                interface,
                peer,
                session_id,
                ..
            } => Access::pppoe_description(interface, *peer, *session_id),
        }
    }

    /// The IDs logged as `access_tunnel_id` / `access_session_id` (PPPoE: no tunnel, its
    /// session ID).
    pub fn log_ids(&self) -> (u16, u16) {
        match self {
            Access::Dialin {
                tunnel, session, ..
            } => (*tunnel, *session),
            Access::Pppoe { session_id, .. } => (0, *session_id),
        }
    }

    /// The access point: the dial-in LAC's allow-list name, or the PPPoE interface.
    pub fn access_point(&self) -> Arc<str> {
        match self {
            Access::Dialin { peer_name, .. } => peer_name.clone(),
            Access::Pppoe { interface, .. } => interface.clone(),
        }
    }

    /// The access point simultaneous-login limits count per (condition D): the subscriber's own
    /// LAC for a dial-in, the access interface for PPPoE.
    pub fn login_scope_point(&self) -> String {
        match self {
            Access::Dialin { peer_name, .. } => format!("l2tp:{peer_name}"),
            Access::Pppoe { interface, .. } => format!("pppoe:{interface}"),
        }
    }
}

/// Where a subscriber's setup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// LCP and authentication with the subscriber.
    Negotiating,
    /// Authenticated; the L2TP session toward the LNS is being set up.
    Connecting,
    /// Frames are relayed both ways by the data plane.
    Relaying,
}

/// The session toward the LNS.
pub(super) struct LnsLeg {
    /// Our tunnel ID on the LAC endpoint.
    pub tunnel: u16,
    /// Our session ID in it.
    pub session: u16,
    /// The LNS peer's name.
    pub peer: Arc<str>,
    /// The data path toward the LNS, once the session is up.
    pub path: Option<Arc<L2tpPath>>,
    /// The L2TP session still exists.
    pub alive: bool,
}

/// What the subscriber table says about an authenticated subscriber.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    pub name: Arc<str>,
    pub realm: Option<String>,
    pub level_bps: u64,
    pub account: Arc<str>,
    pub customer: bool,
    pub supplementary: bool,
}

/// One subscriber on the LAC.
pub(super) struct Subscriber {
    pub id: u64,
    pub access: Access,
    /// The access session still exists.
    pub access_alive: bool,
    pub link: Link,
    /// The link was handed to the LNS ([`Link::hand_off`]): silent from then on.
    pub handed_off: bool,
    pub profile: Option<Profile>,
    pub phase: Phase,
    pub counters: Arc<SessionCounters>,
    proxy: Option<ProxyInfo>,
    /// LNS peers (by name) this subscriber was already offered to.
    tried: Vec<Arc<str>>,
    pub leg: Option<LnsLeg>,
    /// The session is in the planner's table.
    placed: bool,
    pending_frames: VecDeque<Vec<u8>>,
    setup_deadline: Option<Instant>,
    pub login_at: UnixMillis,
    pub up_at: Option<UnixMillis>,
    /// Why we refused the subscriber, for the access CDN after the PPP failure went out.
    refusal: Option<CloseReason>,
    /// Set before we give up on the leg ourselves: fail over instead of ending.
    failover: bool,
    /// Set when the disconnect engine cut the subscriber: why, for the stop record.
    pub end_cause: Option<super::disconnect::EndCause>,
}

/// One of our tunnels toward an LNS. Peer and line are kept by name and value: a reload may
/// reorder, change or remove them while the tunnel lives.
#[derive(Debug)]
pub(super) struct LacTunnel {
    pub planner: PlanTunnel,
    pub peer: Arc<str>,
    pub remote: SocketAddr,
    pub line: Arc<str>,
    hold_down: Duration,
    pub established_at: Option<UnixMillis>,
    /// We are closing it on purpose (planner linger, drain, shutdown): no hold-down.
    pub closing: bool,
    /// We gave up on it (setup timeout): hold the peer down.
    failure: Option<&'static str>,
}

/// Everything the LAC role keeps.
pub(super) struct LacState {
    pub subscribers: HashMap<u64, Subscriber>,
    /// Dial-in session key → subscriber.
    pub by_access: HashMap<u32, u64>,
    /// LAC session key → subscriber.
    pub by_leg: HashMap<u32, u64>,
    pub tunnels: HashMap<u16, LacTunnel>,
    by_planner: HashMap<PlanTunnel, u16>,
    /// Peers skipped until then (by name).
    hold_until: HashMap<Arc<str>, Instant>,
    /// The local address of each line's socket (by line name; sockets are bound at start).
    line_local: HashMap<Arc<str>, SocketAddr>,
    /// The planner's handles of peers and lines, by name: stable across reloads that reorder
    /// or rename the configuration's lists.
    peer_ids: HashMap<Arc<str>, PeerId>,
    peer_names: HashMap<PeerId, Arc<str>>,
    line_ids: HashMap<Arc<str>, PlanLine>,
    line_names: HashMap<PlanLine, Arc<str>>,
    accounts: HashMap<Arc<str>, u64>,
    next_id: u64,
}

/// The planner's tunables from `[planner]` and `[lac]`.
pub(super) fn planner_config(config: &Config) -> PlannerConfig {
    let p = &config.planner;
    let max_tunnels: u64 = config
        .lac
        .peers
        .iter()
        .map(|p| u64::from(p.max_tunnels))
        .sum();
    PlannerConfig {
        max_tunnels: (max_tunnels as usize).max(1),
        min_dwell: p.min_dwell,
        replan_interval: p.replan_interval,
        migration_budget: p.migration_budget as usize,
        move_timeout: p.move_timeout,
        tunnel_linger: config.lac.empty_tunnel_linger,
        ..PlannerConfig::default()
    }
}

/// Which moves the planner plans on its own, from `[planner]`.
pub(super) fn planner_policy(config: &Config) -> EventPolicy {
    let p = &config.planner;
    EventPolicy {
        fill_holes: p.on_disconnect,
        spare_bandwidth: p.on_spare_bandwidth,
        replan_min_gain: p.hysteresis_tunnels as usize,
    }
}

impl LacState {
    pub fn new(
        config: &Config,
        line_sockets: &[(LineId, Arc<dyn DatagramSink>)],
        planner: &mut Planner,
        now: Instant,
    ) -> Self {
        let mut state = Self {
            subscribers: HashMap::new(),
            by_access: HashMap::new(),
            by_leg: HashMap::new(),
            tunnels: HashMap::new(),
            by_planner: HashMap::new(),
            hold_until: HashMap::new(),
            line_local: line_sockets
                .iter()
                .filter_map(|(l, s)| {
                    let line = config.lac.lines.get(l.index())?;
                    Some((line.name.clone(), s.local_addr()))
                })
                .collect(),
            peer_ids: HashMap::new(),
            peer_names: HashMap::new(),
            line_ids: HashMap::new(),
            line_names: HashMap::new(),
            accounts: HashMap::new(),
            next_id: 1,
        };
        state.register(config, planner, now);
        state
    }

    /// Tells the planner about lines and peers it does not know yet, by name (the planner cannot
    /// forget or change one; a changed line or peer keeps its planner row until a restart, a new
    /// one is added at once).
    pub fn register(&mut self, config: &Config, planner: &mut Planner, now: Instant) {
        let fill = u64::from(config.planner.max_fill_percent.clamp(1, 100));
        for line in &config.lac.lines {
            if !self.line_local.contains_key(&line.name) || self.line_ids.contains_key(&line.name) {
                // No socket (added by a reload): the line cannot carry tunnels until a restart.
                continue;
            }
            let id = PlanLine(self.line_ids.len() as u32);
            let class = match &line.private_account {
                Some(a) => LineClass::Private(AccountId(self.account_id(a))),
                None => LineClass::Public,
            };
            let spec = LineSpec {
                id,
                name: line.name.to_string(),
                capacity_bps: line.capacity,
                cost: line.cost_per_month,
                class,
            };
            match planner.add_line(now, spec) {
                Ok(()) => {
                    self.line_ids.insert(line.name.clone(), id);
                    self.line_names.insert(id, line.name.clone());
                }
                Err(e) => {
                    tracing::warn!(line = %line.name, error = %e, "line not registered with the planner");
                }
            }
        }
        for peer in &config.lac.peers {
            if self.peer_ids.contains_key(&peer.name) {
                continue;
            }
            let id = PeerId(self.peer_ids.len() as u32);
            let lines: Vec<PlanLine> = if peer.lines.is_empty() {
                self.line_ids.values().copied().collect()
            } else {
                peer.lines
                    .iter()
                    .filter_map(|l| config.lac.lines.get(l.index()))
                    .filter_map(|l| self.line_ids.get(&l.name).copied())
                    .collect()
            };
            let spec = PeerSpec {
                id,
                name: peer.name.to_string(),
                lines,
                tunnel_capacity_bps: peer.tunnel_capacity.saturating_mul(fill) / 100,
                max_sessions_per_tunnel: u32::from(peer.max_sessions_per_tunnel),
                max_tunnels: peer.max_tunnels,
            };
            match planner.add_peer(spec) {
                Ok(()) => {
                    self.peer_ids.insert(peer.name.clone(), id);
                    self.peer_names.insert(id, peer.name.clone());
                }
                Err(e) => {
                    tracing::warn!(peer = %peer.name, error = %e, "peer not registered with the planner");
                }
            }
        }
    }

    /// The planner's line handle of a line name.
    pub fn planner_line(&self, name: &str) -> Option<PlanLine> {
        self.line_ids.get(name).copied()
    }

    fn account_id(&mut self, account: &Arc<str>) -> u64 {
        let next = self.accounts.len() as u64 + 1;
        *self.accounts.entry(account.clone()).or_insert(next)
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// The subscribers whose session toward the LNS rides tunnel `tunnel` (our L2TP tunnel ID).
    pub fn subscribers_on(&self, tunnel: u16) -> Vec<u64> {
        self.subscribers
            .values()
            .filter(|s| s.leg.as_ref().is_some_and(|l| l.tunnel == tunnel))
            .map(|s| s.id)
            .collect()
    }

    /// Marks a tunnel as closed on purpose (shutdown, drain).
    pub fn mark_closing(&mut self, tunnel: u16) {
        if let Some(t) = self.tunnels.get_mut(&tunnel) {
            t.closing = true;
        }
    }

    /// A new subscriber on `access`; returns its ID.
    pub fn add(&mut self, access: Access, link: Link, login_at: UnixMillis) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if let Access::Dialin {
            tunnel, session, ..
        } = &access
        {
            self.by_access.insert(session_key(*tunnel, *session), id);
        }
        self.subscribers.insert(
            id,
            Subscriber {
                id,
                access,
                access_alive: true,
                link,
                handed_off: false,
                profile: None,
                phase: Phase::Negotiating,
                counters: Arc::new(SessionCounters::new()),
                proxy: None,
                tried: Vec::new(),
                leg: None,
                placed: false,
                pending_frames: VecDeque::new(),
                setup_deadline: None,
                login_at,
                up_at: None,
                refusal: None,
                failover: false,
                end_cause: None,
            },
        );
        id
    }

    /// The planner tunnel's L2TP tunnel ID.
    pub fn l2tp_tunnel(&self, planner: PlanTunnel) -> Option<u16> {
        self.by_planner.get(&planner).copied()
    }
}

/// The ICRQ and ICCN for a subscriber's session: proxy LCP and authentication from the hand-off
/// (RFC 2661 §4.4.5), the service level as connect speed.
fn session_request(profile: &Profile, proxy: &ProxyInfo) -> SessionRequest {
    // RFC 2661 §4.4.4: Bearer Type digital; the subscriber's name is the most useful Calling
    // Number an LNS can log.
    let icrq = Avps {
        bearer_type: Some(Bearer(Bearer::DIGITAL)),
        calling_number: Some(profile.name.as_bytes().to_vec()),
        ..Avps::default()
    };
    let mut iccn = Avps {
        tx_connect_speed: Some(u32::try_from(profile.level_bps).unwrap_or(u32::MAX)),
        framing_type: Some(Framing(Framing::SYNC)),
        ..Avps::default()
    };
    iccn.initial_received_lcp_confreq = proxy.initial_received_confreq.clone();
    iccn.last_sent_lcp_confreq = proxy.last_sent_confreq.clone();
    iccn.last_received_lcp_confreq = proxy.last_received_confreq.clone();
    iccn.proxy_authen_type = proxy
        .authen_type
        .map(|t| crate::wire::ProxyAuthenType(t.to_u16()));
    iccn.proxy_authen_name = proxy.authen_name.clone();
    iccn.proxy_authen_challenge = proxy.authen_challenge.clone();
    // RFC 2661 §4.4.5: the ID is one octet carried in two, the high one zero.
    iccn.proxy_authen_id = proxy.authen_id.and_then(|i| u8::try_from(i).ok());
    iccn.proxy_authen_response = proxy.authen_response.clone();
    SessionRequest { icrq, iccn }
}

fn administrative(code: DisconnectCauseCode, text: &str) -> CloseReason {
    CloseReason {
        result: CdnResult::Administrative,
        error: None,
        message: Some(text.to_owned()),
        cause: Some(vendor_cause(code, text)),
    }
}

fn loss_of_carrier(text: &str) -> CloseReason {
    CloseReason {
        result: CdnResult::LossOfCarrier,
        error: None,
        message: Some(text.to_owned()),
        cause: Some(vendor_cause(DisconnectCauseCode::SubscriberLeft, text)),
    }
}

impl Actor {
    /// The span of a subscriber's log lines: the access session's IDs and, once known, the name.
    fn sub_span(&self, id: u64) -> Option<tracing::span::EnteredSpan> {
        let s = self.lac.subscribers.get(&id)?;
        let (tunnel, session) = s.access.log_ids();
        let name = s.profile.as_ref().map_or("", |p| &p.name);
        Some(session_span("lac", tunnel, session, name).entered())
    }

    /// Sends a subscriber's PPP frames, handles its link events and refiles its timer.
    pub(super) fn sub_step(&mut self, now: Instant, id: u64) {
        loop {
            let Some(sub) = self.lac.subscribers.get_mut(&id) else {
                self.timers.clear(TimerKey::Subscriber(id));
                return;
            };
            if sub.handed_off {
                self.timers
                    .set(TimerKey::Subscriber(id), sub.setup_deadline);
                return;
            }
            while let Some(frame) = sub.link.poll_transmit() {
                if let Err(e) = sub.access.send_frame(&frame) {
                    self.rate_log.warn(
                        "ppp.send_failed",
                        format_args!("PPP frame to subscriber: {e}"),
                    );
                }
            }
            let Some(event) = sub.link.poll_event() else {
                let deadline = match (sub.link.poll_timeout(), sub.setup_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                self.timers.set(TimerKey::Subscriber(id), deadline);
                return;
            };
            match event {
                ppp::Event::AuthRequest(request) => self.lac_authenticate(now, id, &request),
                ppp::Event::LinkDown(cause) => {
                    let access_reason = sub
                        .refusal
                        .take()
                        .unwrap_or_else(|| cdn_for_link_down(&cause));
                    let why = format!("PPP: {cause}");
                    self.lac_end(now, id, &why, loss_of_carrier(&why), access_reason);
                }
                _ => {}
            }
        }
    }

    pub(super) fn subscriber_timer(&mut self, now: Instant, id: u64) {
        let _span = self.sub_span(id);
        let Some(sub) = self.lac.subscribers.get_mut(&id) else {
            return;
        };
        if sub.setup_deadline.is_some_and(|d| d <= now) && sub.phase == Phase::Connecting {
            sub.setup_deadline = None;
            let timeout = self.config.lac.setup_timeout;
            // Still waiting for the tunnel itself: that is the tunnel's failure, and failing the
            // tunnel fails over every subscriber waiting in it.
            if let Some(leg) = &sub.leg
                && leg.alive
                && self
                    .lac
                    .tunnels
                    .get(&leg.tunnel)
                    .is_some_and(|t| t.established_at.is_none())
            {
                let tunnel = leg.tunnel;
                self.lac_tunnel_setup_timer(now, tunnel);
                return;
            }
            if let Some(leg) = &sub.leg
                && leg.alive
            {
                tracing::warn!(
                    role = "lac", subscriber = sub.profile.as_ref().map_or("", |p| &p.name),
                    tunnel_id = leg.tunnel, session_id = leg.session, timeout = ?timeout,
                    "session setup toward the LNS timed out; trying the next peer"
                );
                sub.failover = true;
                let (tunnel, session) = (leg.tunnel, leg.session);
                let reason = CloseReason {
                    result: CdnResult::Timeout,
                    error: None,
                    message: Some("session setup timed out".into()),
                    cause: None,
                };
                if let Some(ep) = self.lac_ep.as_mut()
                    && ep
                        .endpoint
                        .close_session(now, tunnel, session, reason)
                        .is_ok()
                {
                    return;
                }
            }
            // No live leg to close: fail over directly.
            if let Some(sub) = self.lac.subscribers.get_mut(&id)
                && let Some(leg) = &sub.leg
            {
                let peer = leg.peer.clone();
                self.hold_down_by_name(now, &peer, "session setup timed out");
            }
            self.lac_failover(now, id);
            return;
        }
        if !sub.handed_off {
            sub.link.handle_timeout(now);
        }
        self.sub_step(now, id);
    }

    fn lac_authenticate(&mut self, now: Instant, id: u64, request: &AuthRequest) {
        let subscribers = self.config.subscribers.clone();
        let Some(access_point) = self
            .lac
            .subscribers
            .get(&id)
            .map(|s| s.access.access_point())
        else {
            return;
        };
        match login::check(&subscribers, request) {
            Err(failure) => {
                tracing::warn!(
                    role = "lac", subscriber = %request.name_lossy(), access_point = %access_point,
                    reason = failure.reason(), "login failed"
                );
                if let Some(sub) = self.lac.subscribers.get_mut(&id) {
                    sub.refusal = Some(cdn_for_auth_failure(failure.reason()));
                    let _ = sub.link.answer_auth(
                        now,
                        AuthVerdict::Reject {
                            message: "authentication failed".into(),
                        },
                    );
                }
            }
            Ok(subscriber) => {
                let settings = subscriber.settings;
                let profile = Profile {
                    name: subscriber.name.as_ref().into(),
                    realm: settings.realm.clone(),
                    level_bps: settings.service_level,
                    account: subscriber.account().into(),
                    customer: settings.contract.consolidation,
                    supplementary: settings.contract.supplementary,
                };
                let (name, level) = (profile.name.clone(), profile.level_bps);
                let Some(sub) = self.lac.subscribers.get_mut(&id) else {
                    return;
                };
                sub.profile = Some(profile);
                sub.phase = Phase::Connecting;
                let login = super::disconnect::LoginInfo {
                    key: super::disconnect::lac_key(id),
                    subscriber: &name,
                    access_point: sub.access.login_scope_point(),
                    counters: sub.counters.clone(),
                    path_max_bps: level,
                };
                if let Err(reason) = self.disconnect_login(now, login) {
                    let message = reason.message.clone().unwrap_or_default();
                    self.lac_refuse_with(now, id, &message, reason);
                    return;
                }
                self.lac_place(now, id);
            }
        }
    }

    /// Skips peer `name` for `hold`.
    fn hold_down(
        &mut self,
        now: Instant,
        name: &Arc<str>,
        remote: SocketAddr,
        hold: Duration,
        why: &str,
    ) {
        let until = now + hold;
        let previous = self.lac.hold_until.insert(name.clone(), until);
        if previous.is_none_or(|t| t <= now) {
            tracing::warn!(
                role = "lac", peer = %name, address = %remote, hold_down = ?hold,
                reason = why, "peer refused or unreachable; holding it down"
            );
        }
    }

    /// Holds a peer down by name with its configured hold-down (a peer gone from the
    /// configuration is not held).
    fn hold_down_by_name(&mut self, now: Instant, name: &Arc<str>, why: &str) {
        if let Some(p) = self.config.lac.peer_by_name(name) {
            let (remote, hold) = (p.address, p.hold_down);
            self.hold_down(now, name, remote, hold, why);
        }
    }

    /// The next LNS peer for a realm: the most preferred peers not tried yet, preferring those
    /// not held down, one of them at random by weight.
    fn choose_peer(
        &self,
        now: Instant,
        realm: Option<&str>,
        tried: &[Arc<str>],
    ) -> Option<LacPeer> {
        let candidates: Vec<&LacPeer> = self
            .config
            .lac
            .peers_for_realm(realm)
            .into_iter()
            .filter(|p| !tried.contains(&p.name))
            .collect();
        let healthy: Vec<&LacPeer> = candidates
            .iter()
            .copied()
            .filter(|p| self.lac.hold_until.get(&p.name).is_none_or(|t| *t <= now))
            .collect();
        // When every candidate is held down, try them anyway: refusing every login for the
        // hold-down would be worse than one more attempt.
        let pool = if healthy.is_empty() {
            candidates
        } else {
            healthy
        };
        let best = pool.first()?.preference;
        let group: Vec<&LacPeer> = pool.into_iter().filter(|p| p.preference == best).collect();
        let total: u64 = group.iter().map(|p| u64::from(p.weight.max(1))).sum();
        let mut pick = rand::rng().random_range(0..total);
        for p in &group {
            let w = u64::from(p.weight.max(1));
            if pick < w {
                return Some((*p).clone());
            }
            pick -= w;
        }
        group.last().map(|p| (*p).clone())
    }

    /// Places an authenticated subscriber: peer, planner, tunnel, session. Tries the next peer
    /// on every refusal; refuses the subscriber when none is left.
    fn lac_place(&mut self, now: Instant, id: u64) {
        loop {
            let Some(sub) = self.lac.subscribers.get(&id) else {
                return;
            };
            let Some(profile) = sub.profile.clone() else {
                return;
            };
            let Some(peer) = self.choose_peer(now, profile.realm.as_deref(), &sub.tried) else {
                let message = match &profile.realm {
                    Some(r) => format!("no LNS peer available for realm {r}"),
                    None => "no LNS peer available".to_owned(),
                };
                tracing::warn!(role = "lac", subscriber = %profile.name, reason = %message, "session refused");
                self.lac_refuse(now, id, &message);
                return;
            };
            let account = self.lac.account_id(&profile.account);
            let Some(&planner_peer) = self.lac.peer_ids.get(&peer.name) else {
                // Added by a reload without lines the planner knows: skip it.
                if let Some(sub) = self.lac.subscribers.get_mut(&id) {
                    sub.tried.push(peer.name.clone());
                }
                continue;
            };
            let spec = SessionSpec {
                id: SessionId(id),
                subscriber: profile.name.clone(),
                peer: planner_peer,
                account: AccountId(account),
                customer: profile.customer,
                supplementary: profile.supplementary,
                level_bps: self.levels.start(SessionId(id), profile.level_bps),
            };
            let placement = match self.planner.place_session(now, spec) {
                Ok(p) => p,
                Err(_) => {
                    // The planner logged why.
                    if let Some(sub) = self.lac.subscribers.get_mut(&id) {
                        sub.tried.push(peer.name.clone());
                    }
                    continue;
                }
            };
            let Some(sub) = self.lac.subscribers.get_mut(&id) else {
                return;
            };
            sub.placed = true;
            if !sub.handed_off {
                match sub.link.hand_off() {
                    Ok(info) => {
                        sub.proxy = Some(info);
                        sub.handed_off = true;
                    }
                    Err(e) => {
                        tracing::warn!(role = "lac", subscriber = %profile.name, error = %e, "cannot hand the link off");
                        sub.placed = false;
                        let decisions = self
                            .planner
                            .session_ended(now, SessionId(id))
                            .unwrap_or_default();
                        self.apply_decisions(now, decisions);
                        self.lac_refuse(now, id, "internal error");
                        return;
                    }
                }
            }
            let tunnel = match placement {
                Placement::Existing { tunnel } => self.lac.l2tp_tunnel(tunnel),
                Placement::NewTunnel { tunnel, line, .. } => {
                    self.open_lac_tunnel(now, tunnel, &peer, line)
                }
            };
            let opened = tunnel.and_then(|t| {
                let sub = self.lac.subscribers.get(&id)?;
                let request = session_request(&profile, sub.proxy.as_ref()?);
                let ep = self.lac_ep.as_mut()?;
                match ep.endpoint.open_session(now, t, request) {
                    Ok(s) => Some((t, s)),
                    Err(e) => {
                        tracing::warn!(role = "lac", tunnel_id = t, error = %e, "cannot open a session");
                        None
                    }
                }
            });
            let Some((tunnel, session)) = opened else {
                if let Some(sub) = self.lac.subscribers.get_mut(&id) {
                    sub.placed = false;
                    sub.tried.push(peer.name.clone());
                }
                let decisions = self
                    .planner
                    .session_ended(now, SessionId(id))
                    .unwrap_or_default();
                self.apply_decisions(now, decisions);
                continue;
            };
            let setup = self.config.lac.setup_timeout;
            self.lac.by_leg.insert(session_key(tunnel, session), id);
            if let Some(sub) = self.lac.subscribers.get_mut(&id) {
                sub.leg = Some(LnsLeg {
                    tunnel,
                    session,
                    peer: peer.name.clone(),
                    path: None,
                    alive: true,
                });
                sub.phase = Phase::Connecting;
                sub.setup_deadline = Some(now + setup);
            }
            tracing::debug!(
                role = "lac", subscriber = %profile.name, tunnel_id = tunnel, session_id = session,
                peer = %peer.name, "placed; ICRQ sent or queued"
            );
            self.sub_step(now, id);
            return;
        }
    }

    /// Opens the planner's new tunnel toward `peer` from `line`'s socket. `None` (and the
    /// planner told) when it cannot.
    fn open_lac_tunnel(
        &mut self,
        now: Instant,
        planner_tunnel: PlanTunnel,
        peer: &LacPeer,
        line: PlanLine,
    ) -> Option<u16> {
        let line_name = self.lac.line_names.get(&line).cloned();
        let local = line_name
            .as_ref()
            .and_then(|n| self.lac.line_local.get(n).copied());
        let mut cfg = base_tunnel_config(&self.config, u32::from(peer.max_sessions_per_tunnel));
        cfg.secret = peer.secret.as_ref().map(|s| s.as_bytes().to_vec());
        let opened = match (local, self.lac_ep.as_mut()) {
            (Some(local), Some(ep)) => ep
                .endpoint
                .open_tunnel(now, local, peer.address, Arc::new(cfg))
                .map_err(|e| e.to_string()),
            _ => Err("no socket for the line".to_owned()),
        };
        match (opened, line_name) {
            (Ok(id), Some(line_name)) => {
                tracing::info!(
                    role = "lac", tunnel_id = id, peer = %peer.name, remote = %peer.address,
                    line = %line_name, "opening tunnel"
                );
                self.lac.tunnels.insert(
                    id,
                    LacTunnel {
                        planner: planner_tunnel,
                        peer: peer.name.clone(),
                        remote: peer.address,
                        line: line_name,
                        hold_down: peer.hold_down,
                        established_at: None,
                        closing: false,
                        failure: None,
                    },
                );
                self.lac.by_planner.insert(planner_tunnel, id);
                self.timers.set(
                    TimerKey::LacTunnelSetup(id),
                    Some(now + self.config.lac.setup_timeout),
                );
                Some(id)
            }
            (Ok(_), None) | (Err(_), _) => {
                tracing::warn!(role = "lac", peer = %peer.name, "cannot open a tunnel: no socket for the line");
                if let Ok(loss) = self.planner.tunnel_down(now, planner_tunnel) {
                    self.apply_decisions(now, loss.decisions);
                }
                None
            }
        }
    }

    pub(super) fn lac_tunnel_setup_timer(&mut self, now: Instant, tunnel: u16) {
        let Some(t) = self.lac.tunnels.get_mut(&tunnel) else {
            return;
        };
        if t.established_at.is_some() {
            return;
        }
        t.failure = Some("tunnel setup timed out");
        if let Some(ep) = self.lac_ep.as_mut() {
            let _ = ep.endpoint.close_tunnel(
                now,
                tunnel,
                StopCcnResult::GeneralClear,
                None,
                Some("tunnel setup timed out".into()),
            );
        }
    }

    /// Refuses an authenticated (or authenticating) subscriber: a PAP/CHAP failure if the link
    /// is still ours, then the access CDN.
    fn lac_refuse(&mut self, now: Instant, id: u64, message: &str) {
        let reason = CloseReason {
            result: CdnResult::TemporaryFacilities,
            error: Some(ErrorCode::TryAnother),
            message: Some(message.to_owned()),
            cause: Some(vendor_cause(
                DisconnectCauseCode::ResourceExhausted,
                message,
            )),
        };
        self.lac_refuse_with(now, id, message, reason);
    }

    /// [`Self::lac_refuse`] with the access CDN's reason given.
    pub(super) fn lac_refuse_with(
        &mut self,
        now: Instant,
        id: u64,
        message: &str,
        reason: CloseReason,
    ) {
        let Some(sub) = self.lac.subscribers.get_mut(&id) else {
            return;
        };
        if !sub.handed_off && sub.link.awaiting_verdict() {
            sub.refusal = Some(reason);
            let _ = sub.link.answer_auth(
                now,
                AuthVerdict::Reject {
                    message: message.to_owned(),
                },
            );
            self.sub_step(now, id);
        } else {
            self.lac_end(
                now,
                id,
                message,
                administrative(DisconnectCauseCode::Administrative, message),
                reason,
            );
        }
    }

    fn lac_failover(&mut self, now: Instant, id: u64) {
        let Some(sub) = self.lac.subscribers.get_mut(&id) else {
            return;
        };
        sub.failover = false;
        sub.setup_deadline = None;
        if let Some(leg) = sub.leg.take() {
            sub.tried.push(leg.peer.clone());
            if leg.alive {
                self.lac
                    .by_leg
                    .remove(&session_key(leg.tunnel, leg.session));
            }
        }
        if sub.placed {
            sub.placed = false;
            let decisions = self
                .planner
                .session_ended(now, SessionId(id))
                .unwrap_or_default();
            self.apply_decisions(now, decisions);
        }
        self.lac_place(now, id);
    }

    /// Ends a subscriber: CDN toward the LNS (`lns_reason`) if that session lives, PPP
    /// Terminate and CDN toward the subscriber (`access_reason`) if the access lives, the planner
    /// told, the data plane cleared, one log line. The ledger's stop record takes its cause from
    /// `access_reason` (what the subscriber is told); see [`Self::lac_end_with`].
    pub(super) fn lac_end(
        &mut self,
        now: Instant,
        id: u64,
        why: &str,
        lns_reason: CloseReason,
        access_reason: CloseReason,
    ) {
        let end = SessionEnd::from_close(why, &access_reason);
        self.lac_end_with(now, id, why, lns_reason, access_reason, end);
    }

    /// Ends a subscriber whose access side went away (dial-in CDN or tunnel loss, PPPoE PADT):
    /// nothing more is sent toward the subscriber, and the LNS is told the subscriber left (loss
    /// of carrier, RFC 2661 §4.4.2, with our vendor cause) in the words of `why`.
    pub(super) fn lac_access_lost(&mut self, now: Instant, id: u64, why: String) {
        if let Some(sub) = self.lac.subscribers.get_mut(&id) {
            sub.access_alive = false;
        }
        let reason = CloseReason {
            result: CdnResult::LossOfCarrier,
            error: None,
            message: Some(why.clone()),
            cause: Some(vendor_cause(DisconnectCauseCode::SubscriberLeft, &why)),
        };
        self.lac_end(now, id, &why, reason.clone(), reason);
    }

    /// [`Self::lac_end`] with the cause the ledger's stop record carries (Acct-Terminate-Cause
    /// and text), for callers that know better than the CDN says (disconnect conditions, a lost
    /// tunnel).
    pub(super) fn lac_end_with(
        &mut self,
        now: Instant,
        id: u64,
        why: &str,
        lns_reason: CloseReason,
        access_reason: CloseReason,
        end: SessionEnd,
    ) {
        let Some(mut sub) = self.lac.subscribers.remove(&id) else {
            return;
        };
        self.timers.clear(TimerKey::Subscriber(id));
        self.disconnect_logout(super::disconnect::lac_key(id));
        if let Some(leg) = &sub.leg
            && leg.alive
        {
            let key = session_key(leg.tunnel, leg.session);
            self.lac.by_leg.remove(&key);
            self.dp.lac.remove(&key);
            if let Some(ep) = self.lac_ep.as_mut() {
                let _ = ep
                    .endpoint
                    .close_session(now, leg.tunnel, leg.session, lns_reason);
            }
        }
        self.levels.stop(SessionId(id));
        if sub.placed {
            let decisions = self
                .planner
                .session_ended(now, SessionId(id))
                .unwrap_or_default();
            self.apply_decisions(now, decisions);
        }
        let (access_tunnel, access_session) = sub.access.log_ids();
        if sub.access_alive {
            if !sub.handed_off {
                // RFC 1661 §3.7: LCP Terminate-Request before the carrier goes.
                sub.link.close(now, why);
                while let Some(frame) = sub.link.poll_transmit() {
                    let _ = sub.access.send_frame(&frame);
                }
            }
            match &sub.access {
                Access::Dialin { .. } => {
                    if let Some(ep) = self.dialin_ep.as_mut() {
                        let _ = ep.endpoint.close_session(
                            now,
                            access_tunnel,
                            access_session,
                            access_reason,
                        );
                    }
                }
                Access::Pppoe {
                    port, session_id, ..
                } => self.pppoe_close_access(*port, *session_id, sub.handed_off, &access_reason),
            }
        }
        sub.link.lower_down(now);
        match &sub.access {
            Access::Dialin { .. } => {
                let access_key = session_key(access_tunnel, access_session);
                self.lac.by_access.remove(&access_key);
                self.dp.dialin.remove(&access_key);
            }
            Access::Pppoe {
                port, session_id, ..
            } => self.pppoe_forget(*port, *session_id),
        }
        // Both data-plane entries are gone: the counters are final.
        self.account_session_end(now, LegKey::Lac(id), end);
        let snapshot = sub.counters.snapshot();
        let (tunnel_id, session_id) = sub.leg.as_ref().map_or((0, 0), |l| (l.tunnel, l.session));
        let level = if sub.up_at.is_some() {
            tracing::Level::INFO
        } else {
            tracing::Level::DEBUG
        };
        let subscriber = sub.profile.as_ref().map_or("", |p| &p.name);
        let acct_terminate_cause = sub
            .end_cause
            .as_ref()
            .map(|c| c.acct_terminate_cause.name());
        if level == tracing::Level::INFO {
            tracing::info!(
                role = "lac", subscriber, tunnel_id, session_id,
                access = sub.access.label(), access_tunnel_id = access_tunnel,
                access_session_id = access_session, cause = %why,
                acct_terminate_cause,
                bytes_up = snapshot.direction(Direction::FromSubscriber).bytes,
                bytes_down = snapshot.direction(Direction::ToSubscriber).bytes,
                "session down"
            );
        } else {
            tracing::info!(
                role = "lac", subscriber, access = sub.access.label(),
                access_tunnel_id = access_tunnel, access_session_id = access_session,
                cause = %why, "session ended before it came up"
            );
        }
    }

    pub(super) fn on_lac_event(&mut self, now: Instant, event: Event) {
        // Legs of live moves are the switchover's.
        let Some(event) = self.lac_switchover_event(now, event) else {
            return;
        };
        match event {
            Event::TunnelUp { tunnel, peer } => {
                let Some(t) = self.lac.tunnels.get_mut(&tunnel) else {
                    return;
                };
                t.established_at = Some(self.clock.wall_ms(now));
                let (planner_tunnel, peer_name, line) = (t.planner, t.peer.clone(), t.line.clone());
                self.timers.clear(TimerKey::LacTunnelSetup(tunnel));
                self.lac.hold_until.remove(&peer_name);
                // `[planner] enabled = false`: sessions are packed, never moved. A move needs the
                // capability on both ends: the LNS refuses one on a tunnel where we did not
                // advertise it.
                let capable = super::switchover::live_moves(peer.capabilities)
                    && self.config.l2tp.advertise_capability
                    && self.config.planner.enabled;
                if let Err(e) = self.planner.tunnel_up(now, planner_tunnel, capable) {
                    tracing::warn!(role = "lac", tunnel_id = tunnel, error = %e, "planner refused tunnel up");
                }
                tracing::info!(
                    role = "lac", tunnel_id = tunnel, peer_tunnel_id = peer.peer_tunnel_id,
                    peer = %peer_name, remote = %peer.remote, local = %peer.local,
                    line = %line, capabilities = peer.capabilities.0, "tunnel up"
                );
                self.account_lac_tunnel_up(now, tunnel, peer.peer_tunnel_id);
            }
            Event::TunnelDown { tunnel, cause } => self.lac_tunnel_down(now, tunnel, &cause),
            Event::SessionUp {
                tunnel,
                session,
                info,
            } => self.lac_session_up(now, tunnel, session, &info),
            Event::SessionDown {
                tunnel,
                session,
                cause,
            } => self.lac_session_down(now, tunnel, session, &cause),
            Event::IncomingCall {
                tunnel, session, ..
            } => {
                // An LNS does not place calls toward a LAC here (no outgoing calls, RFC 2661 §5).
                if let Some(ep) = self.lac_ep.as_mut() {
                    let _ = ep.endpoint.reject_call(
                        now,
                        tunnel,
                        session,
                        CloseReason::new(CdnResult::PermanentFacilities),
                    );
                }
            }
            Event::Data { .. } | Event::SetLinkInfo { .. } | Event::WanErrorNotify { .. } => {}
        }
    }

    fn lac_tunnel_down(&mut self, now: Instant, tunnel: u16, cause: &TunnelDownCause) {
        let Some(t) = self.lac.tunnels.remove(&tunnel) else {
            return;
        };
        self.lac.by_planner.remove(&t.planner);
        self.timers.clear(TimerKey::LacTunnelSetup(tunnel));
        let text = t
            .failure
            .map(str::to_owned)
            .unwrap_or_else(|| describe_tunnel_down(cause));
        let failed =
            t.failure.is_some() || (!t.closing && !matches!(cause, TunnelDownCause::Local { .. }));
        let loss = if t.closing {
            match self.planner.tunnel_closed(now, t.planner) {
                Ok(()) => None,
                Err(_) => self.planner.tunnel_down(now, t.planner).ok(),
            }
        } else {
            self.planner.tunnel_down(now, t.planner).ok()
        };
        if let Some(loss) = loss {
            // Moves toward the tunnel failed with it (the switchover has usually seen its leg
            // go already).
            for r in &loss.failed_moves {
                if let crate::engine::planner::MoveOutcome::Failed(cause) = r.outcome {
                    self.abort_move(now, r.plan.id, cause);
                }
            }
            self.apply_decisions(now, loss.decisions);
        }
        tracing::info!(
            role = "lac", tunnel_id = tunnel, peer = %t.peer, remote = %t.remote,
            line = %t.line, cause = %text,
            "{}", if t.established_at.is_some() { "tunnel down" } else { "tunnel setup failed" }
        );
        if failed {
            self.hold_down(now, &t.peer, t.remote, t.hold_down, &text);
        }
        for id in self.lac.subscribers_on(tunnel) {
            let Some(sub) = self.lac.subscribers.get_mut(&id) else {
                continue;
            };
            // planner.tunnel_down removed its sessions already.
            sub.placed = false;
            if let Some(leg) = sub.leg.as_mut() {
                leg.alive = false;
            }
            if sub.phase == Phase::Connecting && failed && self.shutdown_deadline.is_none() {
                self.lac_failover(now, id);
            } else {
                let why = format!("tunnel to the LNS down: {text}");
                let end = SessionEnd::new(crate::ledger::TerminateCause::LostService, &why);
                let reason = loss_of_carrier(&why);
                self.lac_end_with(now, id, &why, reason.clone(), reason, end);
            }
        }
        self.account_tunnel_down(now, TunnelKey::Lac(tunnel), &text);
    }

    fn lac_session_up(&mut self, now: Instant, tunnel: u16, session: u16, info: &SessionInfo) {
        let key = session_key(tunnel, session);
        let Some(&id) = self.lac.by_leg.get(&key) else {
            return;
        };
        let Some(path) = self
            .lac_ep
            .as_ref()
            .and_then(|ep| ep.path(tunnel, info.peer_session_id, info.sequencing_required))
        else {
            return;
        };
        let wall = self.clock.wall_ms(now);
        let Some(sub) = self.lac.subscribers.get_mut(&id) else {
            return;
        };
        self.dp.lac.insert(
            key,
            Arc::new(SessionEntry {
                peer: path.remote(),
                counters: sub.counters.clone(),
                inbound: Direction::ToSubscriber,
                action: sub.access.relay_action(),
            }),
        );
        point_upstream(&self.dp, sub, &path);
        for frame in sub.pending_frames.drain(..) {
            let _ = path.send_frame(&frame);
        }
        sub.phase = Phase::Relaying;
        sub.setup_deadline = None;
        sub.up_at = Some(wall);
        let peer_name = sub
            .leg
            .as_ref()
            .map_or_else(|| Arc::<str>::from("?"), |l| l.peer.clone());
        if let Some(leg) = sub.leg.as_mut() {
            leg.path = Some(path.clone());
        }
        let (access_tunnel, access_session) = sub.access.log_ids();
        let access_point = sub.access.access_point();
        tracing::info!(
            role = "lac",
            subscriber = sub.profile.as_ref().map_or("", |p| &p.name),
            tunnel_id = tunnel, session_id = session,
            peer_tunnel_id = path.peer_tunnel_id(), peer_session_id = path.peer_session_id(),
            peer = %peer_name, access = sub.access.label(), access_point = %access_point,
            access_tunnel_id = access_tunnel, access_session_id = access_session,
            "session up"
        );
        self.account_lac_session_up(now, id);
        self.sub_step(now, id);
    }

    fn lac_session_down(
        &mut self,
        now: Instant,
        tunnel: u16,
        session: u16,
        cause: &SessionDownCause,
    ) {
        let key = session_key(tunnel, session);
        let Some(id) = self.lac.by_leg.remove(&key) else {
            return;
        };
        self.dp.lac.remove(&key);
        let Some(sub) = self.lac.subscribers.get_mut(&id) else {
            return;
        };
        if let Some(leg) = sub.leg.as_mut() {
            leg.alive = false;
        }
        if matches!(cause, SessionDownCause::TunnelDown) {
            // The tunnel's own event follows and decides (fail over or end).
            return;
        }
        let text = describe_session_down(cause);
        let refused_for_lack_of_facilities = matches!(
            cause,
            SessionDownCause::PeerCdn { result, .. }
                if matches!(CdnResult::from_code(result.result),
                    CdnResult::TemporaryFacilities | CdnResult::PermanentFacilities)
        );
        if sub.phase == Phase::Connecting
            && (sub.failover || refused_for_lack_of_facilities)
            && self.shutdown_deadline.is_none()
        {
            let why = if sub.failover {
                "session setup timed out".to_owned()
            } else {
                text
            };
            if let Some(peer) = sub.leg.as_ref().map(|l| l.peer.clone()) {
                self.hold_down_by_name(now, &peer, &why);
            }
            self.lac_failover(now, id);
            return;
        }
        let why = format!("LNS side: {text}");
        // Tell the subscriber why: a CDN of the LNS carries its result onward.
        let access_reason = match cause {
            SessionDownCause::PeerCdn { result, cause, .. } => CloseReason {
                result: CdnResult::from_code(result.result),
                error: result.error.map(ErrorCode::from_code),
                message: result.message.clone(),
                cause: cause.clone(),
            },
            _ => loss_of_carrier(&why),
        };
        self.lac_end(now, id, &why, loss_of_carrier(&why), access_reason);
    }

    /// Closes a LAC tunnel we no longer need (empty after its linger, or drained): marked as closed
    /// on purpose, then StopCCN with General-Clear and `why` as its message (RFC 2661 §4.4.2).
    pub(super) fn lac_close_tunnel(&mut self, now: Instant, tunnel: u16, why: &str) {
        self.lac.mark_closing(tunnel);
        if let Some(ep) = self.lac_ep.as_mut() {
            let _ = ep.endpoint.close_tunnel(
                now,
                tunnel,
                StopCcnResult::GeneralClear,
                None,
                Some(why.into()),
            );
        }
    }

    /// Carries out the planner's decisions.
    pub(super) fn apply_decisions(&mut self, now: Instant, decisions: Vec<Decision>) {
        for decision in decisions {
            match decision {
                Decision::Move(plan) => super::switchover::start_move(self, now, plan),
                Decision::AbortMove { id, cause, .. } => self.abort_move(now, id, cause),
                Decision::CloseTunnel { tunnel, .. } => match self.lac.l2tp_tunnel(tunnel) {
                    Some(id) => {
                        self.lac_close_tunnel(now, id, "empty tunnel closed after its linger");
                    }
                    None => {
                        let _ = self.planner.tunnel_closed(now, tunnel);
                    }
                },
                Decision::OpenTunnel { tunnel, peer, line } => {
                    let p = self
                        .lac
                        .peer_names
                        .get(&peer)
                        .and_then(|n| self.config.lac.peer_by_name(n))
                        .cloned();
                    match p {
                        Some(p) => {
                            let _ = self.open_lac_tunnel(now, tunnel, &p, line);
                        }
                        None => {
                            if let Ok(loss) = self.planner.tunnel_down(now, tunnel) {
                                self.apply_decisions(now, loss.decisions);
                            }
                        }
                    }
                }
                Decision::ReleaseLine { line } => {
                    let name = self
                        .lac
                        .line_names
                        .get(&line)
                        .cloned()
                        .unwrap_or_else(|| "?".into());
                    tracing::info!(role = "lac", line = %name, "line carries no tunnel; released");
                }
            }
        }
    }

    pub(super) fn lac_shutdown(&mut self, now: Instant) {
        let ids: Vec<u64> = self.lac.subscribers.keys().copied().collect();
        for id in ids {
            let reason = administrative(DisconnectCauseCode::Shutdown, "l2tpagg is shutting down");
            self.lac_end(now, id, "shutdown", reason.clone(), reason);
        }
    }

    /// Ends a subscriber on an operator's request.
    pub(super) fn lac_disconnect(&mut self, now: Instant, id: u64) {
        let reason = administrative(
            DisconnectCauseCode::Administrative,
            "disconnected by the operator",
        );
        self.lac_end(
            now,
            id,
            "disconnected by the operator",
            reason.clone(),
            reason,
        );
    }

    /// Handles a frame of a dial-in subscriber that the data plane gave to the actor.
    pub(super) fn subscriber_frame(&mut self, now: Instant, id: u64, frame: &[u8]) {
        let _span = self.sub_span(id);
        let Some(sub) = self.lac.subscribers.get_mut(&id) else {
            return;
        };
        if !sub.handed_off {
            // The LAC terminates no IP: a data frame before the hand-off is dropped by the link.
            let _ = sub.link.handle_frame(now, frame);
            self.sub_step(now, id);
            return;
        }
        match (&sub.phase, sub.leg.as_ref().and_then(|l| l.path.as_ref())) {
            (Phase::Relaying, Some(path)) => {
                let _ = path.send_frame(frame);
            }
            _ => {
                if sub.pending_frames.len() < MAX_PENDING_FRAMES {
                    sub.pending_frames.push_back(frame.to_vec());
                }
            }
        }
    }
}

/// Points a subscriber's upstream (its access leg's map entry) at `path`: at session up, and
/// again when a live switchover moves it to a new leg.
pub(super) fn point_upstream(
    dp: &crate::dataplane::sessions::Dataplane,
    sub: &Subscriber,
    path: &Arc<L2tpPath>,
) {
    match &sub.access {
        Access::Dialin {
            tunnel,
            session,
            path: access_path,
            ..
        } => {
            dp.dialin.insert(
                session_key(*tunnel, *session),
                Arc::new(SessionEntry {
                    peer: access_path.remote(),
                    counters: sub.counters.clone(),
                    inbound: Direction::FromSubscriber,
                    action: Action::Relay(path.clone()),
                }),
            );
        }
        Access::Pppoe {
            port,
            session_id,
            peer,
            ..
        } => {
            dp.pppoe.insert(
                pppoe_key(*port, *session_id),
                Arc::new(PppoeEntry {
                    peer: *peer,
                    counters: sub.counters.clone(),
                    action: Action::Relay(path.clone()),
                }),
            );
        }
    }
}
