//! One L2TP endpoint of the actor with its sockets: the LNS endpoint (tunnels from LACs), the LAC
//! endpoint (our tunnels toward LNS peers, one socket per line) and the dial-in endpoint (tunnels
//! from subscribers' LACs). Each has its own tunnel ID space and its own data-plane session map.
//!
//! Owns: the [`Endpoint`], the sockets its tunnels send from, the responder policy (allow-list,
//! per-peer secret and host name, per-peer tunnel limit) and the [`TunnelConfig`]s built from the
//! configuration. Must not touch: sessions' PPP or the admin table; the actor's role handlers do.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::{AllowedPeer, Config, match_allowed_peer};
use crate::dataplane::sessions::{DatagramSink, L2tpPath};
use crate::l2tp::{
    DropReason, Endpoint, EndpointConfig, PolicyDecision, Stats, TunnelConfig, TunnelRequest,
};
use crate::runtime::logging::RateLimitedLog;
use crate::wire::{Capabilities, StopCcnResult};

use super::Role;

/// The parameters of [l2tp] as a [`TunnelConfig`], without a secret and with `max_sessions`.
pub(crate) fn base_tunnel_config(config: &Config, max_sessions: u32) -> TunnelConfig {
    let l = &config.l2tp;
    let capabilities = if l.advertise_capability {
        super::switchover::advertised_capabilities()
    } else {
        Capabilities::NONE
    };
    TunnelConfig {
        host_name: l.hostname.clone(),
        vendor_name: l.vendor_name.clone(),
        receive_window: l.receive_window,
        retransmit_initial: l.retransmit_initial,
        retransmit_max: l.retransmit_cap.max(l.retransmit_initial),
        max_retransmits: l.retransmit_retries,
        ack_delay: l.ack_delay,
        hello_interval: l.hello_interval,
        stop_linger: l.stopccn_linger,
        secret: None,
        hide_sensitive_avps: l.hide_avps,
        vendor_id: l.vendor_id,
        capabilities,
        max_sessions: max_sessions.max(1),
        ..TunnelConfig::default()
    }
}

/// What the responder policy of the LNS or dial-in endpoint decides with: the allow-list of the
/// configuration in force and the tunnels each peer holds. Shared with the policy closure inside
/// the endpoint (both run on the actor's task; the lock is never contended).
#[derive(Debug)]
pub(crate) struct AccessPolicy {
    /// "lns" or "dialin", for logs.
    pub role: &'static str,
    /// Peers allowed to open tunnels.
    pub peers: Vec<AllowedPeer>,
    /// Tunnel parameters before the per-peer secret.
    pub base: TunnelConfig,
    /// Established tunnels per peer name.
    pub established: HashMap<Arc<str>, u32>,
    /// New peers refused while shutting down.
    pub closing: bool,
    rate_log: Arc<RateLimitedLog>,
}

impl AccessPolicy {
    pub fn new(
        role: &'static str,
        peers: Vec<AllowedPeer>,
        base: TunnelConfig,
        rate_log: Arc<RateLimitedLog>,
    ) -> Self {
        Self {
            role,
            peers,
            base,
            established: HashMap::new(),
            closing: false,
            rate_log,
        }
    }

    /// The allow-list entry for an address.
    pub fn peer_for(&self, addr: IpAddr) -> Option<&AllowedPeer> {
        match_allowed_peer(&self.peers, addr)
    }

    /// Counts an established tunnel from `remote` against its peer's `max_tunnels`; returns the
    /// peer's name (`None`: the address left the allow-list by a reload since the SCCRQ).
    pub fn tunnel_up(&mut self, remote: IpAddr) -> Option<Arc<str>> {
        let name = self.peer_for(remote)?.name.clone();
        *self.established.entry(name.clone()).or_default() += 1;
        Some(name)
    }

    /// Releases what [`Self::tunnel_up`] counted for peer `name`.
    pub fn tunnel_down(&mut self, name: &str) {
        if let Some(n) = self.established.get_mut(name) {
            *n = n.saturating_sub(1);
        }
    }

    fn decide(&mut self, request: &TunnelRequest<'_>) -> PolicyDecision {
        let Some(peer) = match_allowed_peer(&self.peers, request.remote.ip()) else {
            // A flood from an address not allowed must cost no state and draw no reply.
            let kind = if self.role == "lns" {
                "l2tp.lns.sccrq_not_allowed"
            } else {
                "l2tp.dialin.sccrq_not_allowed"
            };
            self.rate_log.warn(
                kind,
                format_args!(
                    "SCCRQ from {} on {}: address not in the {} allow-list; ignored",
                    request.remote, request.local, self.role
                ),
            );
            return PolicyDecision::Ignore;
        };
        let host = request
            .host_name
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .unwrap_or_default();
        if self.closing {
            tracing::info!(
                role = self.role, peer = %peer.name, remote = %request.remote,
                "peer refused: shutting down"
            );
            return PolicyDecision::Reject(StopCcnResult::ShuttingDown);
        }
        if let Some(expected) = &peer.hostname
            && *expected != host
        {
            tracing::warn!(
                role = self.role, peer = %peer.name, remote = %request.remote,
                host_name = %host, expected = %expected,
                "peer refused: host name does not match"
            );
            return PolicyDecision::Reject(StopCcnResult::NotAuthorized);
        }
        if let Some(max) = peer.max_tunnels
            && self.established.get(&peer.name).copied().unwrap_or(0) >= max
        {
            tracing::warn!(
                role = self.role, peer = %peer.name, remote = %request.remote, max_tunnels = max,
                "peer refused: tunnel limit reached"
            );
            return PolicyDecision::Reject(StopCcnResult::NotAuthorized);
        }
        let mut config = self.base.clone();
        config.secret = peer.secret.as_ref().map(|s| s.as_bytes().to_vec());
        PolicyDecision::Accept(Arc::new(config))
    }
}

/// Builds the policy closure of a responder endpoint.
pub(crate) fn responder_policy(
    policy: Arc<Mutex<AccessPolicy>>,
) -> impl FnMut(&TunnelRequest<'_>) -> PolicyDecision + Send + 'static {
    move |request| match policy.lock() {
        Ok(mut p) => p.decide(request),
        // A poisoned lock means a panic elsewhere; refuse rather than accept blindly.
        Err(_) => PolicyDecision::Ignore,
    }
}

/// An endpoint and the sockets its tunnels use.
pub(crate) struct RoleEndpoint {
    pub role: Role,
    pub endpoint: Endpoint,
    sockets: Vec<Arc<dyn DatagramSink>>,
    by_local: HashMap<SocketAddr, usize>,
    last_stats: Stats,
}

impl RoleEndpoint {
    pub fn new(
        role: Role,
        config: EndpointConfig,
        policy: impl FnMut(&TunnelRequest<'_>) -> PolicyDecision + Send + 'static,
        sockets: Vec<Arc<dyn DatagramSink>>,
    ) -> Self {
        let by_local = sockets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.local_addr(), i))
            .collect();
        Self {
            role,
            endpoint: Endpoint::new(config, policy, super::os_seed()),
            sockets,
            by_local,
            last_stats: Stats::default(),
        }
    }

    /// The socket a tunnel with local address `local` sends from, and the source address to
    /// name when that socket is bound to a wildcard address.
    pub fn sink_for(&self, local: SocketAddr) -> Option<(Arc<dyn DatagramSink>, Option<IpAddr>)> {
        if let Some(&i) = self.by_local.get(&local) {
            return Some((self.sockets[i].clone(), None));
        }
        self.sockets
            .iter()
            .find(|s| {
                let a = s.local_addr();
                a.port() == local.port() && a.ip().is_unspecified()
            })
            .map(|s| (s.clone(), Some(local.ip())))
    }

    /// A data path for a session of tunnel `tunnel` toward the peer's (tunnel, session).
    pub fn path(
        &self,
        tunnel: u16,
        peer_session_id: u16,
        sequencing: bool,
    ) -> Option<Arc<L2tpPath>> {
        let view = self.endpoint.tunnel(tunnel)?;
        let (sink, source) = self.sink_for(view.local)?;
        Some(Arc::new(L2tpPath::new(
            sink,
            source,
            view.remote,
            view.peer_tunnel_id,
            peer_session_id,
            sequencing,
        )))
    }

    /// Sends every queued control datagram, never waiting: a full socket buffer drops the
    /// datagram (the reliable channel retransmits it) and counts it.
    pub fn send_transmits(&mut self, rate_log: &RateLimitedLog) -> bool {
        let mut any = false;
        while let Some(t) = self.endpoint.poll_transmit() {
            any = true;
            let Some((sink, source)) = self.sink_for(t.local) else {
                rate_log.warn(
                    "l2tp.no_socket",
                    format_args!("no socket bound to {} to send to {}", t.local, t.remote),
                );
                continue;
            };
            if let Err(e) = sink.try_send_datagram(&t.payload, t.remote, source) {
                let kind = if e.kind() == std::io::ErrorKind::WouldBlock {
                    "l2tp.control_send_buffer_full"
                } else {
                    "l2tp.control_send_failed"
                };
                rate_log.warn(
                    kind,
                    format_args!("{} control message to {}: {e}", self.role, t.remote),
                );
            }
        }
        any
    }

    /// Feeds one control datagram to the endpoint and logs (rate-limited) whatever it dropped.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        rate_log: &RateLimitedLog,
    ) {
        self.endpoint.handle_datagram(now, local, remote, datagram);
        let stats = self.endpoint.stats();
        for reason in DropReason::ALL {
            let (before, after) = (self.last_stats.get(reason), stats.get(reason));
            if after > before
                && !matches!(
                    reason,
                    // Retransmissions are normal; the policy logs its own refusals.
                    DropReason::Duplicate | DropReason::PolicyIgnored | DropReason::PolicyRejected
                )
            {
                rate_log.warn(
                    drop_kind(self.role, reason),
                    format_args!(
                        "{} control datagram from {remote} to {local} dropped: {reason:?}",
                        self.role
                    ),
                );
            }
        }
        self.last_stats = stats.clone();
    }

    /// The endpoint's drop counters, named for `ctl status`.
    pub fn drop_counters(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.endpoint
            .stats()
            .iter()
            .map(|(r, n)| (format!("l2tp.{}.{}", self.role, reason_name(r)), n))
    }
}

fn reason_name(r: DropReason) -> &'static str {
    match r {
        DropReason::MalformedHeader => "malformed_header",
        DropReason::MalformedMessage => "malformed_message",
        DropReason::UnknownTunnel => "unknown_tunnel",
        DropReason::UnknownSession => "unknown_session",
        DropReason::WrongPeerAddress => "wrong_peer_address",
        DropReason::NotSccrqOnTunnelZero => "not_sccrq_on_tunnel_zero",
        DropReason::PolicyIgnored => "sccrq_not_allowed",
        DropReason::PolicyRejected => "sccrq_refused",
        DropReason::TunnelLimit => "tunnel_limit",
        DropReason::Duplicate => "duplicate",
        DropReason::OutOfWindow => "out_of_window",
        DropReason::TieBreakerDiscarded => "tie_breaker_discarded",
        DropReason::DataBeforeEstablished => "data_before_established",
        DropReason::CallRefused => "call_refused",
        DropReason::EncodeFailed => "encode_failed",
        DropReason::InvalidConfig => "invalid_config",
    }
}

/// The rate-limited log kind of an endpoint drop (a `&'static str` per role and reason).
fn drop_kind(role: Role, r: DropReason) -> &'static str {
    macro_rules! kinds {
        ($($reason:ident => $name:literal),* $(,)?) => {
            match (role, r) {
                $(
                    (Role::Lns, DropReason::$reason) => concat!("l2tp.lns.", $name),
                    (Role::Lac, DropReason::$reason) => concat!("l2tp.lac.", $name),
                    (Role::Dialin, DropReason::$reason) => concat!("l2tp.dialin.", $name),
                )*
            }
        };
    }
    kinds!(
        MalformedHeader => "malformed_header",
        MalformedMessage => "malformed_message",
        UnknownTunnel => "unknown_tunnel",
        UnknownSession => "unknown_session",
        WrongPeerAddress => "wrong_peer_address",
        NotSccrqOnTunnelZero => "not_sccrq_on_tunnel_zero",
        PolicyIgnored => "sccrq_not_allowed",
        PolicyRejected => "sccrq_refused",
        TunnelLimit => "tunnel_limit",
        Duplicate => "duplicate",
        OutOfWindow => "out_of_window",
        TieBreakerDiscarded => "tie_breaker_discarded",
        DataBeforeEstablished => "data_before_established",
        CallRefused => "call_refused",
        EncodeFailed => "encode_failed",
        InvalidConfig => "invalid_config",
    )
}
