//! The access-concentrator side of PPPoE on one interface (RFC 2516 §5, §6, §9), sans-IO.
//!
//! Owns: answering Discovery (PADI → PADO, PADR → PADS, PADT both ways), the table of established
//! sessions on this interface with its caps, and classifying Session-stage frames into
//! (session, peer, PPP payload). Must not touch: sockets, the clock, PPP. The caller feeds frames
//! and `now`, sends what [`AccessConcentrator::poll_transmit`] hands back, and gives PPP payloads to
//! the PPP engine.
//!
//! # Statelessness until PADR
//! RFC 2516 §3: "The Discovery stage remains stateless until a PPP session is established." A PADI
//! costs one HMAC and one reply and leaves nothing behind; the AC-Cookie in the PADO ([`super::cookie`])
//! lets a PADR be checked against its source MAC without memory of the PADI. Only a PADR with a
//! valid cookie, inside the caps, creates a session. So a PADI flood from random MACs or a flood of
//! PADRs with forged or replayed cookies costs bounded work per frame and no memory
//! ([`AccessConcentrator::footprint`] shows it).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::cookie::{COOKIE_SECRET_LEN, CookieJar};
use super::tag::Tag;
use super::wire::{
    Body, DiscoveryCode, DiscoveryRepr, EthernetRepr, Frame, FrameRepr, MacAddr, PADI_MAX_LEN,
    PPPOE_HEADER_LEN, PPPOE_MAX_PPP_MTU, RESERVED_SESSION_ID, SessionHeader, SessionRepr,
    WireError,
};

/// Octets between the Ethernet payload and the PPP information field: the PPPoE header (6) and the
/// PPP protocol field (2). RFC 2516 §7 derives 1492 = 1500 − 8 from them.
const PPPOE_PPP_OVERHEAD: u16 = 8;

/// How the access concentrator behaves on one interface.
#[derive(Debug, Clone)]
pub struct AcConfig {
    /// The interface's MAC: source of everything we send, destination of PADR, PADT and session frames.
    pub local_mac: MacAddr,
    /// AC-Name sent in PADO and PADS (RFC 2516 §5.2: the PADO "MUST contain one AC-Name TAG").
    pub ac_name: String,
    /// Services offered. Empty matches any requested Service-Name and echoes it, the policy
    /// RFC 2516 §9 recommends; otherwise a PADI for another service gets no PADO and a PADR for one
    /// gets a PADS with Service-Name-Error.
    pub service_names: Vec<String>,
    /// Cap on concurrent sessions on this interface, 1 to 65534 (0 and 0xffff are not session IDs).
    pub max_sessions: u16,
    /// Cap on concurrent sessions per subscriber MAC (per VLAN).
    pub max_sessions_per_mac: u16,
    /// Ethernet payload size of the interface (1500 on standard Ethernet). Bounds every reply and,
    /// with RFC 4638, the largest PPP payload a session may use (MTU − 8).
    pub interface_mtu: u16,
    /// Key of the AC-Cookie HMAC; draw it from a CSPRNG at start-up and never log it.
    pub cookie_secret: [u8; COOKIE_SECRET_LEN],
    /// Length of one cookie time bucket; a cookie is accepted for one to two buckets after the PADO.
    pub cookie_bucket: Duration,
    /// PADTs per second sent in answer to Session-stage frames for session IDs we do not have, so a
    /// host that kept a session across our restart tears it down and rediscovers at once instead of
    /// waiting for LCP echo timeouts. 0 disables. RFC 2516 §5.5 allows a PADT "anytime after a
    /// session is established"; the rate cap keeps spoofed traffic from turning us into a reflector.
    pub unknown_session_padt_per_second: u32,
    /// Frames that may wait in the transmit queue; Discovery replies beyond it are dropped (and
    /// counted) so a caller that falls behind under a flood cannot make the queue grow.
    pub transmit_queue_limit: usize,
    /// The first session ID handed out; IDs then rotate through 1..=0xfffe so a freed ID is reused
    /// as late as possible.
    pub first_session_id: u16,
}

impl AcConfig {
    /// The defaults: any service, all 65534 session IDs, 4 sessions per MAC, a 1500-octet
    /// interface, 30-second cookie buckets, 10 unknown-session PADTs per second, 1024 queued frames.
    pub fn new(
        local_mac: MacAddr,
        ac_name: impl Into<String>,
        cookie_secret: [u8; COOKIE_SECRET_LEN],
    ) -> Self {
        AcConfig {
            local_mac,
            ac_name: ac_name.into(),
            service_names: Vec::new(),
            max_sessions: 0xfffe,
            max_sessions_per_mac: 4,
            interface_mtu: 1500,
            cookie_secret,
            cookie_bucket: Duration::from_secs(30),
            unknown_session_padt_per_second: 10,
            transmit_queue_limit: 1024,
            first_session_id: 1,
        }
    }

    /// Checks the configuration; [`AccessConcentrator::new`] calls it.
    pub fn validate(&self) -> Result<(), AcConfigError> {
        if !self.local_mac.is_unicast() {
            return Err(AcConfigError::LocalMacNotUnicast(self.local_mac));
        }
        if self.ac_name.is_empty() {
            return Err(AcConfigError::EmptyAcName);
        }
        if self.max_sessions == 0 || self.max_sessions > 0xfffe {
            return Err(AcConfigError::MaxSessions(self.max_sessions));
        }
        if self.max_sessions_per_mac == 0 {
            return Err(AcConfigError::MaxSessionsPerMac);
        }
        if self.interface_mtu < 576 {
            return Err(AcConfigError::InterfaceMtu(self.interface_mtu));
        }
        if self.transmit_queue_limit == 0 {
            return Err(AcConfigError::TransmitQueueLimit);
        }
        if self.cookie_bucket.is_zero() {
            return Err(AcConfigError::CookieBucket);
        }
        // A PADO carries the AC-Name, every service and the cookie besides the echoed tags; if that
        // alone exceeds the MTU no PADO could ever be sent.
        let fixed = PPPOE_HEADER_LEN
            + 4
            + self.ac_name.len()
            + 4
            + super::cookie::COOKIE_LEN
            + self
                .service_names
                .iter()
                .map(|s| 4 + s.len())
                .sum::<usize>()
            + 4;
        if fixed > usize::from(self.interface_mtu) {
            return Err(AcConfigError::TagsExceedMtu {
                needed: fixed,
                mtu: self.interface_mtu,
            });
        }
        Ok(())
    }
}

/// A configuration the access concentrator cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AcConfigError {
    #[error("local MAC {0} is not a unicast station address")]
    LocalMacNotUnicast(MacAddr),
    #[error("AC-Name is empty; RFC 2516 §5.2 requires one in every PADO")]
    EmptyAcName,
    #[error("max_sessions {0} is outside 1..=65534")]
    MaxSessions(u16),
    #[error("max_sessions_per_mac must be at least 1")]
    MaxSessionsPerMac,
    #[error("interface MTU {0} is below 576")]
    InterfaceMtu(u16),
    #[error("transmit_queue_limit must be at least 1")]
    TransmitQueueLimit,
    #[error("cookie_bucket must be longer than zero")]
    CookieBucket,
    #[error(
        "AC-Name, service names and cookie need {needed} octets in a PADO, more than the MTU {mtu}"
    )]
    TagsExceedMtu { needed: usize, mtu: u16 },
}

/// A misuse of the AC's API by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AcError {
    #[error("no PPPoE session {0} on this interface")]
    UnknownSession(u16),
}

/// Whether new sessions are admitted. The caller closes admission when the daemon is full or
/// draining; refusals carry the reason in a Generic-Error tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Offer and accept sessions within the caps.
    Open,
    /// Send no PADO (RFC 2516 §5.2: "If the Access Concentrator can not serve the PADI it MUST NOT
    /// respond with a PADO") and refuse PADRs with a PADS carrying Generic-Error `reason`.
    Refuse {
        /// UTF-8 text for the Generic-Error tag, e.g. "daemon at capacity".
        reason: String,
    },
}

/// An established session as the caller needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// PPPoE SESSION_ID, unique on this interface, never 0 or 0xffff.
    pub session_id: u16,
    /// The subscriber's MAC.
    pub peer: MacAddr,
    /// The VLAN the subscriber came in on; replies carry it.
    pub vlan: Option<u16>,
    /// The Host-Uniq of the PADR, if any.
    pub host_uniq: Option<Vec<u8>>,
    /// The service granted (the PADS Service-Name): the requested one, or the first configured
    /// service when the subscriber asked for any.
    pub service_name: Vec<u8>,
    /// A relay's Relay-Session-Id, echoed in every Discovery frame of this session.
    pub relay_session_id: Option<Vec<u8>>,
    /// The largest PPP payload (MRU and MTU) the PPP engine may negotiate: 1492, or more when
    /// PPP-Max-Payload (RFC 4638) was agreed.
    pub max_payload: u16,
    /// When the PADS was sent.
    pub established_at: Instant,
}

impl SessionInfo {
    /// The service name as text (lossy where a peer sent non-UTF-8).
    pub fn service_name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.service_name).into_owned()
    }
}

/// What the caller learns from the AC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcEvent {
    /// A PADS was sent: start PPP (LCP) on this session, with MRU at most `max_payload`.
    SessionEstablished(SessionInfo),
    /// The subscriber sent a PADT; the session is gone and RFC 2516 §5.5 forbids sending any more
    /// PPP on it, not even LCP Terminate.
    SessionTerminatedByPeer {
        /// The session as it was.
        info: SessionInfo,
        /// The text of an error tag in the PADT, if the peer gave one.
        reason: Option<String>,
    },
}

/// A PPP frame of an established session, to hand to the PPP engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPayload<'a> {
    /// The session.
    pub session_id: u16,
    /// The subscriber it came from (checked against the session).
    pub peer: MacAddr,
    /// The PPP frame, protocol field first.
    pub ppp: &'a [u8],
}

/// The result of [`AccessConcentrator::handle_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled<'a> {
    /// A Discovery frame was acted on; replies and events may be queued.
    Discovery,
    /// A PPP frame for an established session.
    Session(SessionPayload<'a>),
    /// The frame was refused or dropped for this reason (already counted). Some refusals are
    /// answered (a PADS with an error tag, a PADT for an unknown session): drain the transmit queue
    /// as always.
    Rejected(Reject),
}

/// Why a frame was refused or dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// The codec rejected the frame.
    Malformed(WireError),
    /// The source MAC is a group address, zero, or our own.
    BadSourceMac(MacAddr),
    /// Addressed to another station (neither our MAC nor, for PADI, broadcast).
    NotForUs(MacAddr),
    /// A PADO or PADS, which only an AC sends.
    UnexpectedCode(DiscoveryCode),
    /// RFC 2516 §5.1, §5.3: PADI and PADR "SESSION_ID MUST be set to 0x0000".
    DiscoverySessionIdNotZero {
        /// PADI or PADR.
        code: DiscoveryCode,
        /// The offending value.
        session_id: u16,
    },
    /// RFC 2516 §5.1: a PADI "MUST NOT exceed 1484 octets".
    OversizedPadi(usize),
    /// RFC 2516 §5.1, §5.3: PADI and PADR "MUST contain exactly one TAG of TAG_TYPE Service-Name".
    ServiceNameCount {
        /// PADI or PADR.
        code: DiscoveryCode,
        /// How many there were.
        count: usize,
    },
    /// The requested service is not in the configured list (PADI: no PADO; PADR: PADS with
    /// Service-Name-Error, RFC 2516 §5.4).
    ServiceNotOffered,
    /// A PADR without an AC-Cookie.
    CookieMissing,
    /// A PADR whose AC-Cookie was not issued to its source MAC and VLAN in the last one to two
    /// buckets: forged, replayed from another MAC, or expired.
    CookieInvalid,
    /// Admission is closed ([`Admission::Refuse`]).
    AdmissionClosed,
    /// The interface has `max_sessions` sessions.
    InterfaceFull,
    /// The subscriber MAC has `max_sessions_per_mac` sessions.
    PerMacLimit,
    /// A PADT for a session ID we do not have.
    PadtUnknownSession(u16),
    /// A PADT for a session of another MAC or VLAN.
    PadtPeerMismatch(u16),
    /// A Session-stage frame for a session ID we do not have.
    UnknownSession(u16),
    /// A Session-stage frame for a session of another MAC or VLAN.
    SessionPeerMismatch(u16),
    /// Our reply would not fit the interface MTU (a huge Host-Uniq or Relay-Session-Id).
    ReplyTooLarge,
    /// The transmit queue is full; the reply was dropped and no state was created.
    TransmitQueueFull,
}

/// [`Reject`] without its details, to index counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RejectKind {
    MalformedHeader,
    MalformedTag,
    BadSourceMac,
    NotForUs,
    UnexpectedCode,
    DiscoverySessionIdNotZero,
    OversizedPadi,
    ServiceNameCount,
    ServiceNotOffered,
    CookieMissing,
    CookieInvalid,
    AdmissionClosed,
    InterfaceFull,
    PerMacLimit,
    PadtUnknownSession,
    PadtPeerMismatch,
    UnknownSession,
    SessionPeerMismatch,
    ReplyTooLarge,
    TransmitQueueFull,
}

impl RejectKind {
    /// Every kind, in counter order.
    pub const ALL: [RejectKind; 20] = [
        RejectKind::MalformedHeader,
        RejectKind::MalformedTag,
        RejectKind::BadSourceMac,
        RejectKind::NotForUs,
        RejectKind::UnexpectedCode,
        RejectKind::DiscoverySessionIdNotZero,
        RejectKind::OversizedPadi,
        RejectKind::ServiceNameCount,
        RejectKind::ServiceNotOffered,
        RejectKind::CookieMissing,
        RejectKind::CookieInvalid,
        RejectKind::AdmissionClosed,
        RejectKind::InterfaceFull,
        RejectKind::PerMacLimit,
        RejectKind::PadtUnknownSession,
        RejectKind::PadtPeerMismatch,
        RejectKind::UnknownSession,
        RejectKind::SessionPeerMismatch,
        RejectKind::ReplyTooLarge,
        RejectKind::TransmitQueueFull,
    ];

    /// A stable snake_case name for logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            RejectKind::MalformedHeader => "malformed_header",
            RejectKind::MalformedTag => "malformed_tag",
            RejectKind::BadSourceMac => "bad_source_mac",
            RejectKind::NotForUs => "not_for_us",
            RejectKind::UnexpectedCode => "unexpected_code",
            RejectKind::DiscoverySessionIdNotZero => "discovery_session_id_not_zero",
            RejectKind::OversizedPadi => "oversized_padi",
            RejectKind::ServiceNameCount => "service_name_count",
            RejectKind::ServiceNotOffered => "service_not_offered",
            RejectKind::CookieMissing => "cookie_missing",
            RejectKind::CookieInvalid => "cookie_invalid",
            RejectKind::AdmissionClosed => "admission_closed",
            RejectKind::InterfaceFull => "interface_full",
            RejectKind::PerMacLimit => "per_mac_limit",
            RejectKind::PadtUnknownSession => "padt_unknown_session",
            RejectKind::PadtPeerMismatch => "padt_peer_mismatch",
            RejectKind::UnknownSession => "unknown_session",
            RejectKind::SessionPeerMismatch => "session_peer_mismatch",
            RejectKind::ReplyTooLarge => "reply_too_large",
            RejectKind::TransmitQueueFull => "transmit_queue_full",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl Reject {
    /// The counter this rejection goes to.
    pub fn kind(&self) -> RejectKind {
        match self {
            Reject::Malformed(e) => match e {
                WireError::TagHeaderTruncated { .. }
                | WireError::TagValuePastEnd { .. }
                | WireError::BadTagLength { .. } => RejectKind::MalformedTag,
                _ => RejectKind::MalformedHeader,
            },
            Reject::BadSourceMac(_) => RejectKind::BadSourceMac,
            Reject::NotForUs(_) => RejectKind::NotForUs,
            Reject::UnexpectedCode(_) => RejectKind::UnexpectedCode,
            Reject::DiscoverySessionIdNotZero { .. } => RejectKind::DiscoverySessionIdNotZero,
            Reject::OversizedPadi(_) => RejectKind::OversizedPadi,
            Reject::ServiceNameCount { .. } => RejectKind::ServiceNameCount,
            Reject::ServiceNotOffered => RejectKind::ServiceNotOffered,
            Reject::CookieMissing => RejectKind::CookieMissing,
            Reject::CookieInvalid => RejectKind::CookieInvalid,
            Reject::AdmissionClosed => RejectKind::AdmissionClosed,
            Reject::InterfaceFull => RejectKind::InterfaceFull,
            Reject::PerMacLimit => RejectKind::PerMacLimit,
            Reject::PadtUnknownSession(_) => RejectKind::PadtUnknownSession,
            Reject::PadtPeerMismatch(_) => RejectKind::PadtPeerMismatch,
            Reject::UnknownSession(_) => RejectKind::UnknownSession,
            Reject::SessionPeerMismatch(_) => RejectKind::SessionPeerMismatch,
            Reject::ReplyTooLarge => RejectKind::ReplyTooLarge,
            Reject::TransmitQueueFull => RejectKind::TransmitQueueFull,
        }
    }
}

/// Monotonic counters. The runtime samples them; per-cause reject counts feed rate-limited logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcCounters {
    /// PADIs that parsed and came from a unicast source (before the Discovery rules are checked).
    pub padi_received: u64,
    /// PADOs queued.
    pub pado_sent: u64,
    /// PADRs seen.
    pub padr_received: u64,
    /// PADSs confirming a session queued (including repeats for retransmitted PADRs).
    pub pads_sent: u64,
    /// PADSs refusing a PADR (Service-Name-Error or Generic-Error) queued.
    pub pads_refusals_sent: u64,
    /// PADRs answered with the PADS of the session they had already created (the first PADS was lost).
    pub duplicate_padr: u64,
    /// PADTs seen.
    pub padt_received: u64,
    /// PADTs queued (terminations and answers to unknown sessions).
    pub padt_sent: u64,
    /// Sessions created.
    pub sessions_established: u64,
    /// Sessions ended by the subscriber's PADT.
    pub sessions_terminated_by_peer: u64,
    /// Sessions ended through [`AccessConcentrator::terminate`].
    pub sessions_terminated_locally: u64,
    /// Session-stage frames delivered.
    pub session_frames: u64,
    /// Session-stage octets delivered (PPP frames, protocol field included).
    pub session_octets: u64,
    /// Replies dropped because the transmit queue was full.
    pub transmit_dropped: u64,
    rejects: [u64; RejectKind::ALL.len()],
}

impl AcCounters {
    /// Frames rejected for `kind`.
    pub fn rejects(&self, kind: RejectKind) -> u64 {
        self.rejects[kind.index()]
    }

    /// Every reject counter with its kind.
    pub fn reject_counts(&self) -> impl Iterator<Item = (RejectKind, u64)> + '_ {
        RejectKind::ALL.iter().map(|&k| (k, self.rejects(k)))
    }

    /// All rejected frames.
    pub fn total_rejects(&self) -> u64 {
        self.rejects.iter().sum()
    }

    fn count(&mut self, kind: RejectKind) {
        self.rejects[kind.index()] += 1;
    }
}

/// How much the AC holds, to show that floods leave nothing behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateFootprint {
    /// Established sessions.
    pub sessions: usize,
    /// Distinct subscriber (MAC, VLAN) pairs with sessions.
    pub peers: usize,
    /// Allocated capacity of the session table.
    pub session_capacity: usize,
    /// Allocated capacity of the peer table.
    pub peer_capacity: usize,
    /// Frames waiting in the transmit queue.
    pub queued_transmits: usize,
    /// Events waiting.
    pub queued_events: usize,
}

/// A fixed one-second window counter: at most `per_second` events admitted per window, none when
/// it is 0; enough to cap a reply rate without floating point. Also used by the runtime's PPPoE
/// Session socket task to bound what it hands the actor.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: u32,
    window_start: Option<Instant>,
    used: u32,
}

impl RateLimiter {
    /// A limiter admitting `per_second` events per one-second window (0: none).
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window_start: None,
            used: 0,
        }
    }

    /// Whether one more event at `now` is admitted (and counts it if so).
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.per_second == 0 {
            return false;
        }
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < Duration::from_secs(1) => {}
            _ => {
                self.window_start = Some(now);
                self.used = 0;
            }
        }
        if self.used < self.per_second {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone)]
struct SessionEntry {
    info: SessionInfo,
    /// A Session-stage frame has arrived, so the subscriber has the PADS: a later PADR with the
    /// same Host-Uniq is a new attempt, not a retransmission.
    seen_traffic: bool,
}

type PeerKey = (MacAddr, Option<u16>);

/// The PPPoE access concentrator on one interface.
///
/// # Call order
/// 1. [`AccessConcentrator::new`] with the config and the instant cookie buckets count from.
/// 2. For every received frame of ethertype 0x8863 or 0x8864: [`AccessConcentrator::handle_frame`].
///    A [`Handled::Session`] payload goes to the PPP engine; a [`Handled::Rejected`] is already
///    counted and may be logged (rate-limited) by the caller.
/// 3. Then drain [`AccessConcentrator::poll_transmit`] until `None` and send each frame as is, and
///    drain [`AccessConcentrator::poll_event`] until `None`.
/// 4. To end a session (LCP down, admin action, idle), call [`AccessConcentrator::terminate`] and
///    drain the transmit queue (it holds the PADT).
///
/// There are no timers: cookie expiry and the PADT rate limit are computed from the `now` of each
/// call, and PPP keepalives (RFC 2516 §7 recommends LCP Echo) belong to the PPP engine.
#[derive(Debug)]
pub struct AccessConcentrator {
    config: AcConfig,
    services: Vec<Vec<u8>>,
    cookies: CookieJar,
    admission: Admission,
    sessions: HashMap<u16, SessionEntry>,
    peers: HashMap<PeerKey, Vec<u16>>,
    next_session_id: u16,
    unknown_padt_limiter: RateLimiter,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<AcEvent>,
    counters: AcCounters,
}

impl AccessConcentrator {
    /// An AC with no sessions. Cookie buckets count from `start` (the caller's start-up instant).
    pub fn new(config: AcConfig, start: Instant) -> Result<Self, AcConfigError> {
        config.validate()?;
        let cookies = CookieJar::new(&config.cookie_secret, start, config.cookie_bucket);
        let services = config
            .service_names
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let next_session_id = match config.first_session_id {
            0 | RESERVED_SESSION_ID => 1,
            id => id,
        };
        let unknown_padt_limiter = RateLimiter::new(config.unknown_session_padt_per_second);
        Ok(AccessConcentrator {
            config,
            services,
            cookies,
            admission: Admission::Open,
            sessions: HashMap::new(),
            peers: HashMap::new(),
            next_session_id,
            unknown_padt_limiter,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: AcCounters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AcConfig {
        &self.config
    }

    /// Opens or closes admission of new sessions; existing sessions are not affected.
    pub fn set_admission(&mut self, admission: Admission) {
        self.admission = admission;
    }

    /// The current admission policy.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Processes one received frame; see the type's call order.
    pub fn handle_frame<'a>(&mut self, now: Instant, bytes: &'a [u8]) -> Handled<'a> {
        match self.dispatch(now, bytes) {
            Ok(handled) => handled,
            Err(reject) => {
                self.counters.count(reject.kind());
                Handled::Rejected(reject)
            }
        }
    }

    /// The next frame to send on the interface.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event for the caller.
    pub fn poll_event(&mut self) -> Option<AcEvent> {
        self.events.pop_front()
    }

    /// Ends a session from our side: removes it and queues a PADT, with `reason` in a Generic-Error
    /// tag if given. RFC 2516 §5.5: after the PADT no PPP may be sent on the session, so end PPP
    /// first (LCP Terminate) when PPP is still usable.
    pub fn terminate(
        &mut self,
        session_id: u16,
        reason: Option<&str>,
    ) -> Result<SessionInfo, AcError> {
        let entry = self
            .remove_session(session_id)
            .ok_or(AcError::UnknownSession(session_id))?;
        let info = entry.info;
        let mut tags = Vec::with_capacity(3);
        tags.push(Tag::AcName(self.config.ac_name.as_bytes()));
        if let Some(relay) = info.relay_session_id.as_deref() {
            tags.push(Tag::RelaySessionId(relay));
        }
        if let Some(reason) = reason {
            tags.push(Tag::GenericError(reason.as_bytes()));
        }
        // Teardown must reach the subscriber even when the queue is full of Discovery replies,
        // and it is bounded by the number of sessions, so it bypasses the queue limit. Should the
        // reason make it too large, the PADT goes without tags (they are optional, §5.5).
        let eth = self.reply_eth(info.peer, info.vlan);
        let frame = self
            .discovery_frame(eth, DiscoveryCode::Padt, session_id, tags)
            .or_else(|_| self.discovery_frame(eth, DiscoveryCode::Padt, session_id, Vec::new()));
        if let Ok(frame) = frame {
            self.transmits.push_back(frame);
            self.counters.padt_sent += 1;
        }
        self.counters.sessions_terminated_locally += 1;
        Ok(info)
    }

    /// The session with this ID.
    pub fn session(&self, session_id: u16) -> Option<&SessionInfo> {
        self.sessions.get(&session_id).map(|e| &e.info)
    }

    /// All established sessions, in no particular order.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionInfo> + '_ {
        self.sessions.values().map(|e| &e.info)
    }

    /// Number of established sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of sessions of one subscriber MAC on one VLAN.
    pub fn sessions_of(&self, peer: MacAddr, vlan: Option<u16>) -> usize {
        self.peers.get(&(peer, vlan)).map_or(0, Vec::len)
    }

    /// The header for sending PPP frames to the subscriber of a session.
    pub fn session_header(&self, session_id: u16) -> Option<SessionHeader> {
        self.session(session_id).map(|info| SessionHeader {
            local: self.config.local_mac,
            peer: info.peer,
            vlan: info.vlan,
            session_id,
        })
    }

    /// The counters.
    pub fn counters(&self) -> &AcCounters {
        &self.counters
    }

    /// What the AC holds in memory.
    pub fn footprint(&self) -> StateFootprint {
        StateFootprint {
            sessions: self.sessions.len(),
            peers: self.peers.len(),
            session_capacity: self.sessions.capacity(),
            peer_capacity: self.peers.capacity(),
            queued_transmits: self.transmits.len(),
            queued_events: self.events.len(),
        }
    }

    fn dispatch<'a>(&mut self, now: Instant, bytes: &'a [u8]) -> Result<Handled<'a>, Reject> {
        let frame = Frame::new_checked(bytes).map_err(Reject::Malformed)?;
        let repr = FrameRepr::parse(&frame).map_err(Reject::Malformed)?;
        let eth = repr.eth;
        match repr.body {
            Body::Session(session) => self.on_session(now, eth, session),
            Body::Discovery(discovery) => {
                // Our own address as source means a looped frame or a spoof; neither gets an answer.
                if !eth.src.is_unicast() || eth.src == self.config.local_mac {
                    return Err(Reject::BadSourceMac(eth.src));
                }
                match discovery.code {
                    DiscoveryCode::Padi => {
                        self.on_padi(now, eth, &discovery, frame.pppoe_packet().len())
                    }
                    DiscoveryCode::Padr => self.on_padr(now, eth, &discovery),
                    DiscoveryCode::Padt => self.on_padt(eth, &discovery),
                    code @ (DiscoveryCode::Pado | DiscoveryCode::Pads) => {
                        Err(Reject::UnexpectedCode(code))
                    }
                }
            }
        }
    }

    fn on_session<'a>(
        &mut self,
        now: Instant,
        eth: EthernetRepr,
        session: SessionRepr<'a>,
    ) -> Result<Handled<'a>, Reject> {
        // RFC 2516 §4: for session traffic DESTINATION_ADDR "MUST contain the peer's unicast
        // address"; frames for another AC on a shared segment are none of our business.
        if eth.dst != self.config.local_mac {
            return Err(Reject::NotForUs(eth.dst));
        }
        let id = session.session_id;
        let Some(entry) = self.sessions.get_mut(&id) else {
            self.answer_unknown_session(now, eth, id);
            return Err(Reject::UnknownSession(id));
        };
        // RFC 2516 §4: the session ID "defines a PPP session along with the Ethernet SOURCE_ADDR
        // and DESTINATION_ADDR", so another MAC using the ID is not this session.
        if entry.info.peer != eth.src || entry.info.vlan != eth.vlan {
            return Err(Reject::SessionPeerMismatch(id));
        }
        entry.seen_traffic = true;
        self.counters.session_frames += 1;
        self.counters.session_octets += session.ppp.len() as u64;
        Ok(Handled::Session(SessionPayload {
            session_id: id,
            peer: eth.src,
            ppp: session.ppp,
        }))
    }

    fn answer_unknown_session(&mut self, now: Instant, eth: EthernetRepr, session_id: u16) {
        if session_id == 0 || session_id == RESERVED_SESSION_ID || !eth.src.is_unicast() {
            return;
        }
        if self.transmits.len() >= self.config.transmit_queue_limit
            || !self.unknown_padt_limiter.allow(now)
        {
            return;
        }
        let reply = self.reply_eth(eth.src, eth.vlan);
        let tags = vec![Tag::AcName(self.config.ac_name.as_bytes())];
        if let Ok(frame) = self.discovery_frame(reply, DiscoveryCode::Padt, session_id, tags) {
            self.transmits.push_back(frame);
            self.counters.padt_sent += 1;
        }
    }

    fn on_padi(
        &mut self,
        now: Instant,
        eth: EthernetRepr,
        padi: &DiscoveryRepr<'_>,
        packet_len: usize,
    ) -> Result<Handled<'static>, Reject> {
        self.counters.padi_received += 1;
        // RFC 2516 §5.1: "The Host sends the PADI packet with the DESTINATION_ADDR set to the
        // broadcast address." A PADI unicast to us is answered too.
        if !eth.dst.is_broadcast() && eth.dst != self.config.local_mac {
            return Err(Reject::NotForUs(eth.dst));
        }
        if padi.session_id != 0 {
            return Err(Reject::DiscoverySessionIdNotZero {
                code: DiscoveryCode::Padi,
                session_id: padi.session_id,
            });
        }
        if packet_len > PADI_MAX_LEN {
            return Err(Reject::OversizedPadi(packet_len));
        }
        let requested = exactly_one_service_name(padi)?;
        // RFC 2516 §5.2: "If the Access Concentrator can not serve the PADI it MUST NOT respond
        // with a PADO." Full interface, full MAC, closed admission and unknown service all mean we
        // cannot serve it; the host may still be served by another AC on the segment.
        if let Admission::Refuse { .. } = self.admission {
            return Err(Reject::AdmissionClosed);
        }
        if self.sessions.len() >= usize::from(self.config.max_sessions) {
            return Err(Reject::InterfaceFull);
        }
        if self.sessions_of(eth.src, eth.vlan) >= usize::from(self.config.max_sessions_per_mac) {
            return Err(Reject::PerMacLimit);
        }
        if !self.offers(requested) {
            return Err(Reject::ServiceNotOffered);
        }
        let cookie = self.cookies.issue(now, eth.src, eth.vlan);
        let (_, echo_max_payload) = self.negotiate_max_payload(padi.ppp_max_payload());
        // RFC 2516 §5.2: the PADO "MUST contain one AC-Name TAG ..., a Service-Name TAG identical to
        // the one in the PADI, and any number of other Service-Name TAGs indicating other services".
        let mut tags = Vec::with_capacity(8 + self.services.len());
        tags.push(Tag::ServiceName(requested));
        tags.extend(
            self.services
                .iter()
                .filter(|s| s.as_slice() != requested)
                .map(|s| Tag::ServiceName(s)),
        );
        tags.push(Tag::AcName(self.config.ac_name.as_bytes()));
        // Appendix A: Host-Uniq and Relay-Session-Id are returned unmodified.
        if let Some(host_uniq) = padi.host_uniq() {
            tags.push(Tag::HostUniq(host_uniq));
        }
        tags.push(Tag::AcCookie(&cookie));
        if let Some(relay) = padi.relay_session_id() {
            tags.push(Tag::RelaySessionId(relay));
        }
        if let Some(value) = echo_max_payload {
            tags.push(Tag::PppMaxPayload(value));
        }
        let frame = self.discovery_frame(
            self.reply_eth(eth.src, eth.vlan),
            DiscoveryCode::Pado,
            0,
            tags,
        )?;
        self.enqueue(frame)?;
        self.counters.pado_sent += 1;
        Ok(Handled::Discovery)
    }

    fn on_padr(
        &mut self,
        now: Instant,
        eth: EthernetRepr,
        padr: &DiscoveryRepr<'_>,
    ) -> Result<Handled<'static>, Reject> {
        self.counters.padr_received += 1;
        // RFC 2516 §5.3: the PADR goes "to the unicast Ethernet address of the Access Concentrator".
        if eth.dst != self.config.local_mac {
            return Err(Reject::NotForUs(eth.dst));
        }
        if padr.session_id != 0 {
            return Err(Reject::DiscoverySessionIdNotZero {
                code: DiscoveryCode::Padr,
                session_id: padr.session_id,
            });
        }
        let requested = exactly_one_service_name(padr)?;
        // RFC 2516 §9: the cookie lets the AC "ensure that the PADI SOURCE_ADDR is indeed reachable
        // and can then limit concurrent sessions for that address". Checked before anything else is
        // looked up, so forged PADRs cost two HMACs and nothing more.
        let cookie = padr.ac_cookie().ok_or(Reject::CookieMissing)?;
        if !self.cookies.verify(now, eth.src, eth.vlan, cookie) {
            return Err(Reject::CookieInvalid);
        }
        let host_uniq = padr.host_uniq();
        let relay = padr.relay_session_id();
        if let Some(session_id) =
            self.unconfirmed_duplicate(eth.src, eth.vlan, host_uniq, requested)
        {
            // The host retransmitted its PADR (RFC 2516 §8), so our PADS was lost: confirm the same
            // session again rather than leak a second one.
            let info = self.sessions[&session_id].info.clone();
            let frame = self.pads_frame(&info)?;
            self.enqueue(frame)?;
            self.counters.duplicate_padr += 1;
            self.counters.pads_sent += 1;
            return Ok(Handled::Discovery);
        }
        let refuse =
            |ac: &mut Self, error: Tag<'_>, reject: Reject| -> Result<Handled<'static>, Reject> {
                let mut tags = vec![
                    Tag::ServiceName(requested),
                    Tag::AcName(ac.config.ac_name.as_bytes()),
                ];
                if let Some(host_uniq) = host_uniq {
                    tags.push(Tag::HostUniq(host_uniq));
                }
                if let Some(relay) = relay {
                    tags.push(Tag::RelaySessionId(relay));
                }
                tags.push(error);
                // RFC 2516 §5.4: a refusing PADS has SESSION_ID 0x0000.
                let frame = ac.discovery_frame(
                    ac.reply_eth(eth.src, eth.vlan),
                    DiscoveryCode::Pads,
                    0,
                    tags,
                );
                // A refusal that cannot be sent (queue full, which `enqueue` counts, or too large)
                // still refuses: the host times out and retries.
                if let Ok(Ok(())) = frame.map(|f| ac.enqueue(f)) {
                    ac.counters.pads_refusals_sent += 1;
                }
                Err(reject)
            };
        // RFC 2516 §5.4: "If the Access Concentrator does not like the Service-Name in the PADR,
        // then it MUST reply with a PADS containing a TAG of TAG_TYPE Service-Name-Error".
        let Some(granted) = self.grant(requested) else {
            return refuse(
                self,
                Tag::ServiceNameError(b"service not offered"),
                Reject::ServiceNotOffered,
            );
        };
        if let Admission::Refuse { reason } = &self.admission {
            let reason = reason.clone();
            return refuse(
                self,
                Tag::GenericError(reason.as_bytes()),
                Reject::AdmissionClosed,
            );
        }
        if self.sessions.len() >= usize::from(self.config.max_sessions) {
            return refuse(
                self,
                Tag::GenericError(b"access concentrator session limit reached"),
                Reject::InterfaceFull,
            );
        }
        if self.sessions_of(eth.src, eth.vlan) >= usize::from(self.config.max_sessions_per_mac) {
            return refuse(
                self,
                Tag::GenericError(b"session limit for this MAC address reached"),
                Reject::PerMacLimit,
            );
        }
        let Some(session_id) = self.allocate_session_id() else {
            return refuse(
                self,
                Tag::GenericError(b"no free session ID"),
                Reject::InterfaceFull,
            );
        };
        let (max_payload, _) = self.negotiate_max_payload(padr.ppp_max_payload());
        let info = SessionInfo {
            session_id,
            peer: eth.src,
            vlan: eth.vlan,
            host_uniq: host_uniq.map(<[u8]>::to_vec),
            service_name: granted,
            relay_session_id: relay.map(<[u8]>::to_vec),
            max_payload,
            established_at: now,
        };
        let frame = self.pads_frame(&info)?;
        self.enqueue(frame)?;
        // Only now, with the PADS on its way, does the session take memory (RFC 2516 §3).
        self.next_session_id = if session_id >= RESERVED_SESSION_ID - 1 {
            1
        } else {
            session_id + 1
        };
        self.peers
            .entry((info.peer, info.vlan))
            .or_default()
            .push(session_id);
        self.sessions.insert(
            session_id,
            SessionEntry {
                info: info.clone(),
                seen_traffic: false,
            },
        );
        self.events.push_back(AcEvent::SessionEstablished(info));
        self.counters.pads_sent += 1;
        self.counters.sessions_established += 1;
        Ok(Handled::Discovery)
    }

    fn on_padt(
        &mut self,
        eth: EthernetRepr,
        padt: &DiscoveryRepr<'_>,
    ) -> Result<Handled<'static>, Reject> {
        self.counters.padt_received += 1;
        if eth.dst != self.config.local_mac {
            return Err(Reject::NotForUs(eth.dst));
        }
        let id = padt.session_id;
        let entry = self
            .sessions
            .get(&id)
            .ok_or(Reject::PadtUnknownSession(id))?;
        if entry.info.peer != eth.src || entry.info.vlan != eth.vlan {
            return Err(Reject::PadtPeerMismatch(id));
        }
        let reason = padt
            .error()
            .and_then(|t| t.error_text())
            .filter(|t| !t.is_empty());
        let entry = self
            .remove_session(id)
            .ok_or(Reject::PadtUnknownSession(id))?;
        self.events.push_back(AcEvent::SessionTerminatedByPeer {
            info: entry.info,
            reason,
        });
        self.counters.sessions_terminated_by_peer += 1;
        Ok(Handled::Discovery)
    }

    fn pads_frame(&self, info: &SessionInfo) -> Result<Vec<u8>, Reject> {
        // RFC 2516 §5.4: "The PADS packet contains exactly one TAG of TAG_TYPE Service-Name".
        let mut tags = vec![
            Tag::ServiceName(&info.service_name),
            Tag::AcName(self.config.ac_name.as_bytes()),
        ];
        if let Some(host_uniq) = info.host_uniq.as_deref() {
            tags.push(Tag::HostUniq(host_uniq));
        }
        if let Some(relay) = info.relay_session_id.as_deref() {
            tags.push(Tag::RelaySessionId(relay));
        }
        if info.max_payload > PPPOE_MAX_PPP_MTU {
            tags.push(Tag::PppMaxPayload(info.max_payload));
        }
        self.discovery_frame(
            self.reply_eth(info.peer, info.vlan),
            DiscoveryCode::Pads,
            info.session_id,
            tags,
        )
    }

    fn reply_eth(&self, peer: MacAddr, vlan: Option<u16>) -> EthernetRepr {
        EthernetRepr {
            dst: peer,
            src: self.config.local_mac,
            vlan,
        }
    }

    fn discovery_frame(
        &self,
        eth: EthernetRepr,
        code: DiscoveryCode,
        session_id: u16,
        tags: Vec<Tag<'_>>,
    ) -> Result<Vec<u8>, Reject> {
        let repr = FrameRepr {
            eth,
            body: Body::Discovery(DiscoveryRepr {
                code,
                session_id,
                tags,
            }),
        };
        if repr.buffer_len() - eth.header_len() > usize::from(self.config.interface_mtu) {
            return Err(Reject::ReplyTooLarge);
        }
        repr.to_vec().map_err(|_| Reject::ReplyTooLarge)
    }

    fn enqueue(&mut self, frame: Vec<u8>) -> Result<(), Reject> {
        if self.transmits.len() >= self.config.transmit_queue_limit {
            self.counters.transmit_dropped += 1;
            return Err(Reject::TransmitQueueFull);
        }
        self.transmits.push_back(frame);
        Ok(())
    }

    fn offers(&self, requested: &[u8]) -> bool {
        self.services.is_empty()
            || requested.is_empty()
            || self.services.iter().any(|s| s == requested)
    }

    /// The service a PADR gets: what it asked for, or our first service when it asked for any.
    fn grant(&self, requested: &[u8]) -> Option<Vec<u8>> {
        if requested.is_empty() {
            return Some(self.services.first().cloned().unwrap_or_default());
        }
        self.offers(requested).then(|| requested.to_vec())
    }

    /// RFC 4638: a PPP-Max-Payload above 1492 is honoured up to what the interface MTU carries and
    /// echoed; otherwise the tag is ignored and RFC 2516 §7's 1492 applies.
    fn negotiate_max_payload(&self, requested: Option<u16>) -> (u16, Option<u16>) {
        let interface_max = self.config.interface_mtu.saturating_sub(PPPOE_PPP_OVERHEAD);
        match requested {
            Some(asked) if asked > PPPOE_MAX_PPP_MTU && interface_max > PPPOE_MAX_PPP_MTU => {
                let agreed = asked.min(interface_max);
                (agreed, Some(agreed))
            }
            _ => (interface_max.min(PPPOE_MAX_PPP_MTU), None),
        }
    }

    fn unconfirmed_duplicate(
        &self,
        peer: MacAddr,
        vlan: Option<u16>,
        host_uniq: Option<&[u8]>,
        requested: &[u8],
    ) -> Option<u16> {
        let ids = self.peers.get(&(peer, vlan))?;
        ids.iter().copied().find(|id| {
            self.sessions.get(id).is_some_and(|e| {
                !e.seen_traffic
                    && e.info.host_uniq.as_deref() == host_uniq
                    && (requested.is_empty() || e.info.service_name == requested)
            })
        })
    }

    fn allocate_session_id(&self) -> Option<u16> {
        let mut id = self.next_session_id;
        for _ in 0..(RESERVED_SESSION_ID - 1) {
            if !self.sessions.contains_key(&id) {
                return Some(id);
            }
            id = if id >= RESERVED_SESSION_ID - 1 {
                1
            } else {
                id + 1
            };
        }
        None
    }

    fn remove_session(&mut self, session_id: u16) -> Option<SessionEntry> {
        let entry = self.sessions.remove(&session_id)?;
        let key = (entry.info.peer, entry.info.vlan);
        if let Some(ids) = self.peers.get_mut(&key) {
            ids.retain(|&id| id != session_id);
            if ids.is_empty() {
                self.peers.remove(&key);
            }
        }
        Some(entry)
    }
}

fn exactly_one_service_name<'a>(repr: &DiscoveryRepr<'a>) -> Result<&'a [u8], Reject> {
    let mut names = repr.service_names();
    match (names.next(), names.next()) {
        (Some(name), None) => Ok(name),
        _ => Err(Reject::ServiceNameCount {
            code: repr.code,
            count: repr.service_names().count(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::test_epoch;

    #[test]
    fn rate_limiter_allows_a_fixed_number_per_second_window() {
        let t0 = test_epoch();
        let mut limiter = RateLimiter::new(3);
        let allowed: Vec<bool> = (0..5)
            .map(|i| limiter.allow(t0 + Duration::from_millis(i * 100)))
            .collect();
        assert_eq!(allowed, [true, true, true, false, false]);
        assert!(!limiter.allow(t0 + Duration::from_millis(999)));
        assert!(
            limiter.allow(t0 + Duration::from_millis(1000)),
            "a new window opens after one second"
        );
        let mut off = RateLimiter::new(0);
        assert!(!off.allow(t0));
    }

    #[test]
    fn ppp_max_payload_negotiation_follows_rfc4638() {
        let ac = |mtu| {
            let mut config = AcConfig::new(MacAddr([2, 0, 0, 0, 0, 1]), "ac", [0; 32]);
            config.interface_mtu = mtu;
            AccessConcentrator::new(config, test_epoch()).unwrap()
        };
        // (interface MTU, requested) -> (session max payload, echoed tag)
        let cases = [
            (1500, None, (1492, None)),
            (1500, Some(1500), (1492, None)),
            (1508, None, (1492, None)),
            (1508, Some(1492), (1492, None)),
            (1508, Some(1400), (1492, None)),
            (1508, Some(1500), (1500, Some(1500))),
            (1508, Some(9000), (1500, Some(1500))),
            (9000, Some(1600), (1600, Some(1600))),
            (1400, None, (1392, None)),
        ];
        for (mtu, requested, expected) in cases {
            assert_eq!(
                ac(mtu).negotiate_max_payload(requested),
                expected,
                "mtu {mtu}, requested {requested:?}"
            );
        }
    }

    #[test]
    fn a_frame_from_our_own_mac_is_not_answered() {
        let local = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut ac =
            AccessConcentrator::new(AcConfig::new(local, "ac", [0; 32]), test_epoch()).unwrap();
        let padi = FrameRepr {
            eth: EthernetRepr {
                dst: MacAddr::BROADCAST,
                src: local,
                vlan: None,
            },
            body: Body::Discovery(DiscoveryRepr {
                code: DiscoveryCode::Padi,
                session_id: 0,
                tags: vec![Tag::ServiceName(b"")],
            }),
        }
        .to_vec()
        .unwrap();
        assert_eq!(
            ac.handle_frame(test_epoch(), &padi),
            Handled::Rejected(Reject::BadSourceMac(local))
        );
        assert!(ac.poll_transmit().is_none());
    }
}
