//! The PPPoE front-end (issue 5, RFC 2516): one [`AccessConcentrator`] per access interface
//! answers Discovery, and each session it establishes becomes a LAC subscriber whose PPP the LAC
//! negotiates (LCP with the RFC 2516 §7 limits, then PAP/CHAP) before it is switched into an
//! aggregated L2TP tunnel toward an LNS; from then on the data plane relays its frames both ways.
//!
//! Owns: the access concentrators, the map from (interface, PPPoE session ID) to subscriber, the
//! PPPoE data-plane entries, admission (a daemon that cannot serve refuses politely: no PADO, a
//! PADS with Generic-Error), and ending the PPPoE side of a subscriber (LCP Terminate where the
//! link is up, then PADT). Must not touch: the subscriber's life between authentication and
//! teardown (`lac.rs`), the AF_PACKET sockets (the runtime's, reached through
//! [`EthernetSink`]s).
//!
//! # Frames
//! Discovery frames (and Session-stage frames of sessions still negotiating, or for unknown
//! session IDs at a bounded rate) arrive as whole Ethernet frames in [`super::Command::Pppoe`];
//! the access concentrator classifies them. Transmits of the access concentrator (PADO, PADS,
//! PADT) leave through the interface's Discovery socket; PPP frames through the Session socket
//! ([`PppoePath`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lac::Access;
use super::{Actor, TimerKey, os_seed, ppp_server_config};
use crate::config::Config;
use crate::dataplane::sessions::{Action, EthernetSink, PppoeEntry, PppoePath, pppoe_key};
use crate::l2tp::CloseReason;
use crate::ppp::{LcpConfig, Link, LinkConfig, with_address_control};
use crate::pppoe::ac::{RejectKind, SessionInfo};
use crate::pppoe::wire::ETHERNET_HEADER_LEN;
use crate::pppoe::{AcConfig, AcEvent, AccessConcentrator, Admission, Handled, MacAddr, Reject};

/// One access interface as the runtime hands it to the actor: its sockets are bound.
pub struct PppoePortParts {
    /// The interface name (`lac.pppoe.interfaces`).
    pub interface: String,
    /// Its MAC: the source of everything we send and the AC's identity.
    pub mac: MacAddr,
    /// Its MTU (Ethernet payload size): bounds Discovery replies and, with RFC 4638, the PPP
    /// payload.
    pub mtu: u16,
    /// The Discovery-stage socket (ethertype 0x8863).
    pub discovery: Arc<dyn EthernetSink>,
    /// The Session-stage socket (ethertype 0x8864).
    pub session: Arc<dyn EthernetSink>,
}

/// One interface's access concentrator and sockets.
pub(super) struct PppoePort {
    pub name: Arc<str>,
    pub ac: AccessConcentrator,
    discovery: Arc<dyn EthernetSink>,
    session: Arc<dyn EthernetSink>,
}

/// Everything the PPPoE front-end keeps.
#[derive(Default)]
pub(super) struct PppoeState {
    /// Indexed by the interface's position in `lac.pppoe.interfaces` (its "port"); `None` where
    /// the access concentrator could not be set up (logged once at start).
    ports: Vec<Option<PppoePort>>,
    /// (port, PPPoE session ID) → subscriber.
    by_session: HashMap<(u16, u16), u64>,
    /// Most LAC subscribers the configured LNS peers can carry; beyond it PADIs go unanswered.
    capacity: usize,
}

/// How long the first LCP Configure-Request of a new session waits for the host to speak first.
/// A host attaches the session only once it has processed the PADS (pppd with the kernel's PPPoE
/// driver connects its session socket then; our emulator creates its link then), and PPP frames
/// arriving before that are lost: a Configure-Request sent right behind the PADS sometimes is, and
/// costs the subscriber a restart timer (3 s). Hosts send their own Configure-Request as soon as
/// they are attached, which proves they are; a passive host (RFC 1661 §4.1 Passive option) gets
/// ours after this grace.
const FIRST_CONFREQ_GRACE: Duration = Duration::from_millis(100);

/// The identifier of the Terminate-Request we send for a handed-off link: the LAC's engine is
/// silent by then, so nothing else of ours uses the identifier space toward the subscriber.
const TERMINATE_ID: u8 = 0xa5;

/// The access concentrator's settings for one interface.
fn ac_config(config: &Config, part: &PppoePortParts, secret: [u8; 32]) -> AcConfig {
    let p = &config.lac.pppoe;
    let mut c = AcConfig::new(part.mac, p.ac_name.clone(), secret);
    c.service_names = p.service_names.clone();
    c.max_sessions = p.max_sessions_per_interface;
    c.max_sessions_per_mac = p.max_sessions_per_mac;
    c.interface_mtu = part.mtu;
    c.cookie_bucket = p.cookie_bucket;
    c.unknown_session_padt_per_second = p.unknown_session_padt_per_second;
    // A random start: a host that kept a session across our restart then rarely finds its old
    // session ID given to someone else (it gets a PADT and rediscovers instead).
    let seed = os_seed();
    c.first_session_id = (u16::from_be_bytes([seed[0], seed[1]]) % 0xfffe) + 1;
    c
}

/// Most subscribers the LNS peers can carry: every peer's tunnels full.
fn capacity(config: &Config) -> usize {
    let total: u64 = config
        .lac
        .peers
        .iter()
        .map(|p| u64::from(p.max_tunnels) * u64::from(p.max_sessions_per_tunnel))
        .sum();
    usize::try_from(total).unwrap_or(usize::MAX)
}

/// The PPP link of a PPPoE subscriber: the server link of every LAC subscriber with the LCP of
/// RFC 2516 §7 (MRU at most the session's PPP payload, 1492 on standard Ethernet; ACCM, ACFC and
/// PFC rejected), keeping the configured timers and keepalive.
fn link_config(config: &Config, max_payload: u16) -> LinkConfig {
    let mut cfg = ppp_server_config(config);
    let base = &cfg.lcp;
    let lcp = LcpConfig {
        negotiation: base.negotiation,
        echo_interval: base.echo_interval,
        echo_failure_limit: base.echo_failure_limit,
        // RFC 2516 §7: "The MRU option MUST NOT be negotiated to a larger size than 1492" (or the
        // RFC 4638 PPP-Max-Payload agreed in Discovery); we neither ask for nor accept more.
        mru: config.ppp.mru.min(max_payload),
        max_peer_mru: max_payload,
        ..LcpConfig::for_pppoe()
    };
    cfg.lcp = lcp;
    cfg
}

/// The `ctl status` counter name of a refusal.
fn reject_counter(kind: RejectKind) -> &'static str {
    match kind {
        RejectKind::MalformedHeader => "pppoe.malformed_header",
        RejectKind::MalformedTag => "pppoe.malformed_tag",
        RejectKind::BadSourceMac => "pppoe.bad_source_mac",
        RejectKind::NotForUs => "pppoe.not_for_us",
        RejectKind::UnexpectedCode => "pppoe.unexpected_code",
        RejectKind::DiscoverySessionIdNotZero => "pppoe.discovery_session_id_not_zero",
        RejectKind::OversizedPadi => "pppoe.oversized_padi",
        RejectKind::ServiceNameCount => "pppoe.service_name_count",
        RejectKind::ServiceNotOffered => "pppoe.service_not_offered",
        RejectKind::CookieMissing => "pppoe.cookie_missing",
        RejectKind::CookieInvalid => "pppoe.cookie_invalid",
        RejectKind::AdmissionClosed => "pppoe.admission_closed",
        RejectKind::InterfaceFull => "pppoe.interface_full",
        RejectKind::PerMacLimit => "pppoe.per_mac_limit",
        RejectKind::PadtUnknownSession => "pppoe.padt_unknown_session",
        RejectKind::PadtPeerMismatch => "pppoe.padt_peer_mismatch",
        RejectKind::UnknownSession => "pppoe.unknown_session",
        RejectKind::SessionPeerMismatch => "pppoe.session_peer_mismatch",
        RejectKind::ReplyTooLarge => "pppoe.reply_too_large",
        RejectKind::TransmitQueueFull => "pppoe.transmit_queue_full",
    }
}

/// What an operator reads about a refusal.
fn reject_text(reject: &Reject) -> String {
    match reject {
        Reject::Malformed(e) => format!("malformed: {e}"),
        Reject::BadSourceMac(m) => format!("source MAC {m} is not a station address"),
        Reject::NotForUs(m) => format!("addressed to {m}, not to us"),
        Reject::UnexpectedCode(c) => format!("{c}, which only an access concentrator sends"),
        Reject::DiscoverySessionIdNotZero { code, session_id } => {
            format!("{code} with SESSION_ID {session_id:#06x} (RFC 2516: must be 0)")
        }
        Reject::OversizedPadi(n) => format!("PADI of {n} octets (RFC 2516 §5.1: at most 1484)"),
        Reject::ServiceNameCount { code, count } => {
            format!("{code} with {count} Service-Name tags (RFC 2516: exactly one)")
        }
        Reject::ServiceNotOffered => "service not offered".into(),
        Reject::CookieMissing => "PADR without an AC-Cookie".into(),
        Reject::CookieInvalid => {
            "PADR whose AC-Cookie was not issued to its MAC (forged, replayed or expired)".into()
        }
        Reject::AdmissionClosed => "not admitting new sessions".into(),
        Reject::InterfaceFull => "interface session limit reached".into(),
        Reject::PerMacLimit => "session limit for this MAC reached".into(),
        Reject::PadtUnknownSession(id) => format!("PADT for unknown session {id:#06x}"),
        Reject::PadtPeerMismatch(id) => format!("PADT for session {id:#06x} of another MAC"),
        Reject::UnknownSession(id) => format!("frame for unknown session {id:#06x}"),
        Reject::SessionPeerMismatch(id) => format!("frame for session {id:#06x} of another MAC"),
        Reject::ReplyTooLarge => "our reply would exceed the interface MTU".into(),
        Reject::TransmitQueueFull => "transmit queue full".into(),
    }
}

impl PppoeState {
    /// The access concentrators of the bound interfaces. The cookie key comes from
    /// `lac.pppoe.cookie_secret` or is drawn once at start (never logged).
    pub fn new(config: &Config, parts: Vec<PppoePortParts>, now: Instant) -> (Self, Vec<String>) {
        let secret: [u8; 32] = config
            .lac
            .pppoe
            .cookie_secret
            .as_ref()
            .and_then(|s| s.as_bytes().try_into().ok())
            .unwrap_or_else(os_seed);
        let mut degraded = Vec::new();
        let ports = parts
            .into_iter()
            .map(
                |part| match AccessConcentrator::new(ac_config(config, &part, secret), now) {
                    Ok(ac) => Some(PppoePort {
                        name: part.interface.as_str().into(),
                        ac,
                        discovery: part.discovery,
                        session: part.session,
                    }),
                    Err(e) => {
                        let line = format!(
                            "PPPoE unavailable on {}: {e}; running without PPPoE there",
                            part.interface
                        );
                        tracing::warn!("{line}");
                        degraded.push(line);
                        None
                    }
                },
            )
            .collect();
        let state = Self {
            ports,
            by_session: HashMap::new(),
            capacity: capacity(config),
        };
        (state, degraded)
    }

    /// Whether any interface is served.
    pub fn enabled(&self) -> bool {
        self.ports.iter().any(Option::is_some)
    }

    fn port_mut(&mut self, port: u16) -> Option<&mut PppoePort> {
        self.ports.get_mut(usize::from(port))?.as_mut()
    }

    /// The refusals of every access concentrator by kind, summed over the interfaces, for
    /// `ctl status` (`pppoe.<kind>`, non-zero only). The rate-limited log counts most of them
    /// too; these are the authoritative numbers, including the kinds that are not logged.
    pub fn counters(&self) -> Vec<(String, u64)> {
        RejectKind::ALL
            .into_iter()
            .map(|kind| {
                let n: u64 = self
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| p.ac.counters().rejects(kind))
                    .sum();
                (reject_counter(kind).to_owned(), n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

impl Access {
    /// A PPPoE subscriber's access for `ctl sessions`: interface, MAC, session ID.
    pub(super) fn pppoe_description(interface: &str, peer: MacAddr, session_id: u16) -> String {
        let mut s = String::with_capacity(48);
        let _ = write!(s, "pppoe {interface} {peer} session {session_id}");
        s
    }
}

impl Actor {
    /// Whether new PPPoE sessions are admitted now, and if not, why (the Generic-Error text).
    fn pppoe_admission(&self) -> Admission {
        let refuse = |reason: &str| Admission::Refuse {
            reason: reason.to_owned(),
        };
        if self.shutdown_deadline.is_some() {
            refuse("access concentrator shutting down")
        } else if self.lac_ep.is_none() || self.config.lac.peers.is_empty() {
            refuse("no LNS configured")
        } else if self.lac.subscriber_count() >= self.pppoe.capacity {
            refuse("access concentrator at capacity")
        } else {
            Admission::Open
        }
    }

    /// Handles one Ethernet frame from access interface `port` (a whole frame, header included).
    pub(super) fn pppoe_frame(&mut self, now: Instant, port: u16, frame: &[u8]) {
        let admission = self.pppoe_admission();
        let Some(p) = self.pppoe.port_mut(port) else {
            return;
        };
        if *p.ac.admission() != admission {
            p.ac.set_admission(admission);
        }
        match p.ac.handle_frame(now, frame) {
            Handled::Discovery => {}
            Handled::Session(payload) => {
                if let Some(&id) = self.pppoe.by_session.get(&(port, payload.session_id)) {
                    // The LAC's link and its relay toward the LNS speak L2TP's framing, with
                    // the HDLC address and control octets PPPoE leaves out (RFC 2516 §7).
                    let frame = with_address_control(payload.ppp);
                    self.subscriber_frame(now, id, &frame);
                }
            }
            Handled::Rejected(reject) => {
                let kind = reject.kind();
                // Frames for another access concentrator or service on a shared segment are
                // normal there: counted, not warned about.
                if !matches!(kind, RejectKind::NotForUs | RejectKind::ServiceNotOffered) {
                    let source = frame
                        .get(6..12)
                        .and_then(|m| <[u8; 6]>::try_from(m).ok())
                        .map(MacAddr)
                        .unwrap_or(MacAddr::ZERO);
                    let name = self
                        .pppoe
                        .port_mut(port)
                        .map_or_else(|| Arc::from("?"), |p| p.name.clone());
                    self.rate_log.warn(
                        reject_counter(kind),
                        format_args!(
                            "PPPoE on {name} from {source} refused: {}",
                            reject_text(&reject)
                        ),
                    );
                }
            }
        }
        self.pppoe_flush(now, port);
    }

    /// Handles the access concentrator's events, then sends its frames. The first LCP
    /// Configure-Request of a new session waits for the host (see [`FIRST_CONFREQ_GRACE`]).
    fn pppoe_flush(&mut self, now: Instant, port: u16) {
        let mut started = Vec::new();
        while let Some(event) = self.pppoe.port_mut(port).and_then(|p| p.ac.poll_event()) {
            match event {
                AcEvent::SessionEstablished(info) => {
                    if let Some(id) = self.pppoe_session_up(now, port, &info) {
                        started.push(id);
                    }
                }
                AcEvent::SessionTerminatedByPeer { info, reason } => {
                    self.pppoe_padt_received(now, port, &info, reason.as_deref());
                }
            }
        }
        self.pppoe_send(port);
        for id in started {
            // The link queued its Configure-Request; the host's first frame (its own
            // Configure-Request, handled by `subscriber_frame`) or this timer sends it.
            self.timers
                .set(TimerKey::Subscriber(id), Some(now + FIRST_CONFREQ_GRACE));
        }
    }

    /// Sends what the access concentrator queued (PADO, PADS, PADT) on the Discovery socket.
    fn pppoe_send(&mut self, port: u16) {
        let Some(p) = self.pppoe.port_mut(port) else {
            return;
        };
        while let Some(frame) = p.ac.poll_transmit() {
            // The access concentrator emits untagged frames here (VLANs are subinterfaces).
            if frame.len() < ETHERNET_HEADER_LEN {
                continue;
            }
            let mut dst = [0u8; 6];
            let mut src = [0u8; 6];
            dst.copy_from_slice(&frame[0..6]);
            src.copy_from_slice(&frame[6..12]);
            if let Err(e) = p.discovery.try_send_ethernet(
                MacAddr(src),
                MacAddr(dst),
                &frame[ETHERNET_HEADER_LEN..],
            ) {
                self.rate_log.warn(
                    "pppoe.send_failed",
                    format_args!(
                        "PPPoE Discovery frame on {} to {}: {e}",
                        p.name,
                        MacAddr(dst)
                    ),
                );
            }
        }
    }

    /// A PADS went out: the session is a LAC subscriber whose PPP starts now.
    fn pppoe_session_up(&mut self, now: Instant, port: u16, info: &SessionInfo) -> Option<u64> {
        let p = self.pppoe.port_mut(port)?;
        let (name, local, session) = (p.name.clone(), p.ac.config().local_mac, p.session.clone());
        let path = Arc::new(PppoePath::new(session, local, info.peer, info.session_id));
        let link = Link::new(now, link_config(&self.config, info.max_payload));
        let access = Access::Pppoe {
            port,
            session_id: info.session_id,
            peer: info.peer,
            interface: name.clone(),
            path,
        };
        let id = self.lac.add(access, link, self.wall(now));
        let counters = self.lac.subscribers[&id].counters.clone();
        self.pppoe.by_session.insert((port, info.session_id), id);
        self.dp.pppoe.insert(
            pppoe_key(port, info.session_id),
            Arc::new(PppoeEntry {
                peer: info.peer,
                counters,
                action: Action::Actor,
            }),
        );
        tracing::debug!(
            role = "lac", interface = %name, mac = %info.peer, pppoe_session_id = info.session_id,
            service = %info.service_name_lossy(), max_payload = info.max_payload,
            "PPPoE session established; PPP starting"
        );
        Some(id)
    }

    /// The subscriber sent a PADT: its PPP is gone without a word (RFC 2516 §5.5 allows none),
    /// and the L2TP session toward the LNS goes with it.
    fn pppoe_padt_received(
        &mut self,
        now: Instant,
        port: u16,
        info: &SessionInfo,
        reason: Option<&str>,
    ) {
        let Some(&id) = self.pppoe.by_session.get(&(port, info.session_id)) else {
            return;
        };
        let why = match reason {
            Some(r) => format!("subscriber side: PADT ({r})"),
            None => "subscriber side: PADT".to_owned(),
        };
        self.lac_access_lost(now, id, why);
    }

    /// Ends the PPPoE side of a subscriber whose session still exists: an LCP Terminate-Request
    /// where the LAC no longer runs the link (the LAC's own link closed itself already), then the
    /// PADT with the reason in a Generic-Error tag (RFC 2516 §5.5: nothing may follow it).
    pub(super) fn pppoe_close_access(
        &mut self,
        port: u16,
        session_id: u16,
        handed_off: bool,
        reason: &CloseReason,
    ) {
        let text = reason
            .message
            .clone()
            .or_else(|| reason.cause.as_ref().and_then(|c| c.text.clone()))
            .unwrap_or_else(|| "session closed".to_owned());
        let Some(p) = self.pppoe.port_mut(port) else {
            return;
        };
        if handed_off && let Some(header) = p.ac.session_header(session_id) {
            // RFC 1661 §5.5: Terminate-Request, Data carrying the reason. The link belongs to the
            // LNS by now; we speak for it only to say goodbye, and do not wait for the Ack.
            let mut lcp = vec![0xc0, 0x21, 5, TERMINATE_ID, 0, 0];
            lcp.extend_from_slice(&text.as_bytes()[..text.len().min(200)]);
            let len = (lcp.len() - 2) as u16;
            lcp[4..6].copy_from_slice(&len.to_be_bytes());
            let path = PppoePath::new(p.session.clone(), header.local, header.peer, session_id);
            if let Err(e) = path.send_frame(&lcp) {
                self.rate_log.warn(
                    "ppp.send_failed",
                    format_args!("LCP Terminate-Request to PPPoE session {session_id}: {e}"),
                );
            }
        }
        if let Some(p) = self.pppoe.port_mut(port) {
            let _ = p.ac.terminate(session_id, Some(&text));
        }
        self.pppoe_send(port);
    }

    /// Forgets a PPPoE subscriber's session (after [`Self::pppoe_close_access`] or the peer's
    /// PADT): the data-plane entry and the map entry.
    pub(super) fn pppoe_forget(&mut self, port: u16, session_id: u16) {
        self.pppoe.by_session.remove(&(port, session_id));
        self.dp.pppoe.remove(&pppoe_key(port, session_id));
    }

    /// On reload: capacity follows the LNS peers; the access concentrators keep their settings
    /// until a restart (their sessions live in them), which is said once.
    pub(super) fn pppoe_reconfigure(&mut self, new: &Config) {
        self.pppoe.capacity = capacity(new);
        let (old, new_p) = (&self.config.lac.pppoe, &new.lac.pppoe);
        if self.pppoe.enabled()
            && (old.ac_name != new_p.ac_name
                || old.service_names != new_p.service_names
                || old.max_sessions_per_mac != new_p.max_sessions_per_mac
                || old.max_sessions_per_interface != new_p.max_sessions_per_interface
                || old.cookie_secret != new_p.cookie_secret
                || old.cookie_bucket != new_p.cookie_bucket
                || old.unknown_session_padt_per_second != new_p.unknown_session_padt_per_second)
        {
            tracing::warn!(
                key = "lac.pppoe",
                "changed setting needs a restart to take effect"
            );
        }
    }
}
