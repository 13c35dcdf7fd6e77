//! The host (client) side of PPPoE Discovery and Session (RFC 2516 §5, §6, §8), sans-IO.
//!
//! Owns: one subscriber's discovery (PADI with retransmission and backoff, choosing a PADO, PADR,
//! PADS), its session identity, and teardown by PADT either way. Used by the subscriber emulator
//! (`l2tpagg loadgen`) and by tests. Must not touch: sockets, the clock, PPP; the caller drives it
//! with frames and `now` like every other protocol machine here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::tag::Tag;
use super::wire::{
    Body, DiscoveryCode, DiscoveryRepr, EthernetRepr, Frame, FrameRepr, MacAddr, PPPOE_MAX_PPP_MTU,
    RESERVED_SESSION_ID, SessionHeader, WireError,
};

/// How a client discovers and which offer it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our MAC: the source of everything we send, the destination we accept.
    pub mac: MacAddr,
    /// 802.1Q VLAN to send on and accept from, or untagged.
    pub vlan: Option<u16>,
    /// Service-Name to request; empty asks for any service.
    pub service_name: Vec<u8>,
    /// Accept offers only from this AC-Name.
    pub ac_name: Option<Vec<u8>>,
    /// Host-Uniq to send. Required to tell responses apart when several clients share a MAC.
    pub host_uniq: Option<Vec<u8>>,
    /// PPP-Max-Payload (RFC 4638) to ask for; only values above 1492 are sent.
    pub ppp_max_payload: Option<u16>,
    /// First wait for a PADO or PADS; doubled after each retransmission (RFC 2516 §8).
    pub initial_timeout: Duration,
    /// Ceiling of the doubled wait.
    pub max_timeout: Duration,
    /// PADIs sent per discovery round before giving up.
    pub padi_attempts: u32,
    /// PADRs sent before going back to PADI (RFC 2516 §8: "After a specified number of retries,
    /// the Host SHOULD then resend a PADI packet").
    pub padr_attempts: u32,
    /// Discovery rounds (PADI phases) before failing.
    pub discovery_rounds: u32,
}

impl ClientConfig {
    /// Defaults: any service, any AC, 1 s first timeout doubling to 8 s, 4 PADIs, 3 PADRs, 2 rounds.
    pub fn new(mac: MacAddr) -> Self {
        ClientConfig {
            mac,
            vlan: None,
            service_name: Vec::new(),
            ac_name: None,
            host_uniq: None,
            ppp_max_payload: None,
            initial_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(8),
            padi_attempts: 4,
            padr_attempts: 3,
            discovery_rounds: 2,
        }
    }
}

/// Where the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Not started.
    Idle,
    /// PADI sent, waiting for a PADO.
    Discovering,
    /// PADR sent, waiting for the PADS.
    Requesting,
    /// PADS received: PPP may run.
    Established,
    /// Failed or terminated; [`PppoeClient::connect`] starts over.
    Closed,
}

/// The established session, as the client knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSession {
    /// SESSION_ID from the PADS.
    pub session_id: u16,
    /// The AC's MAC.
    pub ac_mac: MacAddr,
    /// The AC-Name it gave, if any.
    pub ac_name: Option<Vec<u8>>,
    /// The Service-Name of the PADS.
    pub service_name: Vec<u8>,
    /// Largest PPP payload to negotiate: 1492, or the PPP-Max-Payload the AC echoed (RFC 4638).
    pub max_payload: u16,
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFailure {
    /// No acceptable PADO after every PADI; `last_error` is the text of an error tag an AC sent.
    NoOffer {
        /// Error text from a PADO that carried an error tag, if any.
        last_error: Option<String>,
    },
    /// PADOs came but no PADS after every round.
    NoConfirmation,
    /// The AC answered the PADR with an error (RFC 2516 §5.4 and Appendix A).
    Refused {
        /// 0x0201 Service-Name-Error, 0x0202 AC-System-Error or 0x0203 Generic-Error; 0 when a
        /// PADS had SESSION_ID 0 without an error tag.
        tag_type: u16,
        /// The error text.
        reason: String,
    },
}

/// Who ended an established session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminateCause {
    /// The AC sent a PADT, with the text of an error tag if it gave one.
    Peer {
        /// Error text from the PADT.
        reason: Option<String>,
    },
    /// We called [`PppoeClient::close`].
    Local,
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The PADS arrived; start PPP with MRU at most `max_payload`.
    Established(ClientSession),
    /// The session ended; no more PPP may be sent on it (RFC 2516 §5.5).
    Terminated {
        /// The session that ended.
        session_id: u16,
        /// Who ended it.
        cause: TerminateCause,
    },
    /// Discovery gave up.
    Failed(ClientFailure),
}

/// The result of [`PppoeClient::handle_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHandled<'a> {
    /// A Discovery frame was acted on.
    Discovery,
    /// A PPP frame of our session, for the PPP engine.
    Session(&'a [u8]),
    /// The frame was not for us or not acceptable now.
    Ignored(Ignored),
}

/// Why the client ignored a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// The codec rejected it.
    Malformed(WireError),
    /// Not addressed to our MAC and VLAN, or the Host-Uniq is not ours.
    NotForUs,
    /// Not expected in the current state (a PADO while established, a PADS from another AC, ...).
    Unexpected,
    /// A PADO we cannot use (error tag, other AC-Name, other service).
    UnacceptableOffer,
}

/// A misuse of the client's API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    #[error("discovery already running or session established")]
    Busy,
    #[error("our MAC {0} is not a unicast station address")]
    BadMac(MacAddr),
}

/// The client's timers, indexed into a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Resend the PADI or PADR.
    Retransmit,
}

impl Timer {
    const COUNT: usize = 1;
}

#[derive(Debug, Clone)]
struct Offer {
    ac_mac: MacAddr,
    ac_name: Option<Vec<u8>>,
    cookie: Option<Vec<u8>>,
    relay_session_id: Option<Vec<u8>>,
}

/// One subscriber's PPPoE client.
///
/// # Call order
/// 1. [`PppoeClient::new`], then [`PppoeClient::connect`] to send the first PADI.
/// 2. For each received PPPoE frame: [`PppoeClient::handle_frame`]; a [`ClientHandled::Session`]
///    payload goes to the PPP engine.
/// 3. When [`PppoeClient::poll_timeout`]'s instant has passed: [`PppoeClient::handle_timeout`].
/// 4. After any of these, drain [`PppoeClient::poll_transmit`] (frames to send) and
///    [`PppoeClient::poll_event`].
/// 5. PPP frames go out framed by [`PppoeClient::session_header`]; [`PppoeClient::close`] sends
///    the PADT.
#[derive(Debug)]
pub struct PppoeClient {
    config: ClientConfig,
    state: ClientState,
    timers: [Option<Instant>; Timer::COUNT],
    /// Wait before the next retransmission.
    timeout: Duration,
    /// Frames sent in the current phase (PADIs or PADRs).
    attempts: u32,
    /// Discovery rounds started.
    rounds: u32,
    offer: Option<Offer>,
    session: Option<ClientSession>,
    last_offer_error: Option<String>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
}

impl PppoeClient {
    /// A client in [`ClientState::Idle`].
    pub fn new(config: ClientConfig) -> Self {
        PppoeClient {
            config,
            state: ClientState::Idle,
            timers: [None; Timer::COUNT],
            timeout: Duration::ZERO,
            attempts: 0,
            rounds: 0,
            offer: None,
            session: None,
            last_offer_error: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The established session, if any.
    pub fn session(&self) -> Option<&ClientSession> {
        self.session.as_ref()
    }

    /// Starts discovery: sends a PADI. Allowed from Idle and Closed.
    pub fn connect(&mut self, now: Instant) -> Result<(), ClientError> {
        if !matches!(self.state, ClientState::Idle | ClientState::Closed) {
            return Err(ClientError::Busy);
        }
        if !self.config.mac.is_unicast() {
            return Err(ClientError::BadMac(self.config.mac));
        }
        self.rounds = 0;
        self.last_offer_error = None;
        self.session = None;
        self.start_round(now);
        Ok(())
    }

    /// Ends the session or abandons discovery. An established session gets a PADT, with `reason`
    /// in a Generic-Error tag if given, and a [`ClientEvent::Terminated`] with
    /// [`TerminateCause::Local`].
    pub fn close(&mut self, reason: Option<&str>) {
        if let (ClientState::Established, Some(session)) = (self.state, self.session.as_ref()) {
            let mut tags = Vec::new();
            if let Some(relay) = self
                .offer
                .as_ref()
                .and_then(|o| o.relay_session_id.as_deref())
            {
                tags.push(Tag::RelaySessionId(relay));
            }
            if let Some(reason) = reason {
                tags.push(Tag::GenericError(reason.as_bytes()));
            }
            let session_id = session.session_id;
            let frame = self.frame(session.ac_mac, DiscoveryCode::Padt, session_id, tags);
            self.transmits.extend(frame);
            self.events.push_back(ClientEvent::Terminated {
                session_id,
                cause: TerminateCause::Local,
            });
        }
        self.enter_closed();
    }

    /// Processes one received frame.
    pub fn handle_frame<'a>(&mut self, now: Instant, bytes: &'a [u8]) -> ClientHandled<'a> {
        let repr = match Frame::new_checked(bytes).and_then(|f| FrameRepr::parse(&f)) {
            Ok(repr) => repr,
            Err(e) => return ClientHandled::Ignored(Ignored::Malformed(e)),
        };
        if repr.eth.dst != self.config.mac
            || repr.eth.vlan != self.config.vlan
            || !repr.eth.src.is_unicast()
        {
            return ClientHandled::Ignored(Ignored::NotForUs);
        }
        match repr.body {
            Body::Session(s) => match &self.session {
                Some(session)
                    if self.state == ClientState::Established
                        && s.session_id == session.session_id
                        && repr.eth.src == session.ac_mac =>
                {
                    ClientHandled::Session(s.ppp)
                }
                _ => ClientHandled::Ignored(Ignored::Unexpected),
            },
            Body::Discovery(d) => match self.on_discovery(now, repr.eth.src, &d) {
                Ok(()) => ClientHandled::Discovery,
                Err(ignored) => ClientHandled::Ignored(ignored),
            },
        }
    }

    /// Fires due timers: retransmits with doubled wait, or gives up.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.timers[Timer::Retransmit as usize] {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        self.timers[Timer::Retransmit as usize] = None;
        match self.state {
            ClientState::Discovering => {
                if self.attempts >= self.config.padi_attempts {
                    if self.rounds >= self.config.discovery_rounds {
                        let last_error = self.last_offer_error.take();
                        self.fail(ClientFailure::NoOffer { last_error });
                    } else {
                        self.start_round(now);
                    }
                } else {
                    self.send_padi(now);
                }
            }
            ClientState::Requesting => {
                if self.attempts >= self.config.padr_attempts {
                    if self.rounds >= self.config.discovery_rounds {
                        self.fail(ClientFailure::NoConfirmation);
                    } else {
                        self.start_round(now);
                    }
                } else {
                    self.send_padr(now);
                }
            }
            ClientState::Idle | ClientState::Established | ClientState::Closed => {}
        }
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The earliest armed timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The header for sending PPP frames on the established session.
    pub fn session_header(&self) -> Option<SessionHeader> {
        let session = self
            .session
            .as_ref()
            .filter(|_| self.state == ClientState::Established)?;
        Some(SessionHeader {
            local: self.config.mac,
            peer: session.ac_mac,
            vlan: self.config.vlan,
            session_id: session.session_id,
        })
    }

    fn on_discovery(
        &mut self,
        now: Instant,
        src: MacAddr,
        d: &DiscoveryRepr<'_>,
    ) -> Result<(), Ignored> {
        // Appendix A: the AC "MUST include the TAG unmodified" in its PADO and PADS, which is how
        // we tell our responses from those of another client behind the same MAC.
        if matches!(d.code, DiscoveryCode::Pado | DiscoveryCode::Pads)
            && d.host_uniq() != self.config.host_uniq.as_deref()
        {
            return Err(Ignored::NotForUs);
        }
        match (self.state, d.code) {
            (ClientState::Discovering, DiscoveryCode::Pado) => self.on_pado(now, src, d),
            (ClientState::Requesting, DiscoveryCode::Pads) => self.on_pads(src, d),
            (ClientState::Established, DiscoveryCode::Padt) => self.on_padt(src, d),
            _ => Err(Ignored::Unexpected),
        }
    }

    fn on_pado(
        &mut self,
        now: Instant,
        src: MacAddr,
        d: &DiscoveryRepr<'_>,
    ) -> Result<(), Ignored> {
        if d.session_id != 0 {
            return Err(Ignored::UnacceptableOffer);
        }
        if let Some(error) = d.error() {
            self.last_offer_error = error.error_text();
            return Err(Ignored::UnacceptableOffer);
        }
        if let Some(wanted) = &self.config.ac_name
            && d.ac_name() != Some(wanted.as_slice())
        {
            return Err(Ignored::UnacceptableOffer);
        }
        // RFC 2516 §5.2: the PADO carries "a Service-Name TAG identical to the one in the PADI".
        let wanted = self.config.service_name.as_slice();
        if !wanted.is_empty() && !d.service_names().any(|s| s == wanted) {
            return Err(Ignored::UnacceptableOffer);
        }
        self.offer = Some(Offer {
            ac_mac: src,
            ac_name: d.ac_name().map(<[u8]>::to_vec),
            cookie: d.ac_cookie().map(<[u8]>::to_vec),
            relay_session_id: d.relay_session_id().map(<[u8]>::to_vec),
        });
        self.state = ClientState::Requesting;
        self.attempts = 0;
        self.timeout = self.config.initial_timeout;
        self.send_padr(now);
        Ok(())
    }

    fn on_pads(&mut self, src: MacAddr, d: &DiscoveryRepr<'_>) -> Result<(), Ignored> {
        let Some(offer) = self.offer.as_ref().filter(|o| o.ac_mac == src) else {
            return Err(Ignored::Unexpected);
        };
        // RFC 2516 §5.4: a refusing PADS has an error tag and SESSION_ID 0x0000.
        if let Some(error) = d.error() {
            let reason = error.error_text().unwrap_or_default();
            self.fail(ClientFailure::Refused {
                tag_type: error.tag_type(),
                reason,
            });
            return Ok(());
        }
        if d.session_id == 0 || d.session_id == RESERVED_SESSION_ID {
            self.fail(ClientFailure::Refused {
                tag_type: 0,
                reason: format!("PADS with session ID {:#06x}", d.session_id),
            });
            return Ok(());
        }
        // RFC 4638: the echoed PPP-Max-Payload is what both sides can carry; without it, 1492.
        let max_payload = match (self.requested_max_payload(), d.ppp_max_payload()) {
            (Some(asked), Some(echoed)) if echoed > PPPOE_MAX_PPP_MTU => asked.min(echoed),
            _ => PPPOE_MAX_PPP_MTU,
        };
        let session = ClientSession {
            session_id: d.session_id,
            ac_mac: src,
            ac_name: d
                .ac_name()
                .map(<[u8]>::to_vec)
                .or_else(|| offer.ac_name.clone()),
            service_name: d.service_names().next().unwrap_or_default().to_vec(),
            max_payload,
        };
        self.timers = [None; Timer::COUNT];
        self.state = ClientState::Established;
        self.session = Some(session.clone());
        self.events.push_back(ClientEvent::Established(session));
        Ok(())
    }

    fn on_padt(&mut self, src: MacAddr, d: &DiscoveryRepr<'_>) -> Result<(), Ignored> {
        let Some(session) = self.session.as_ref() else {
            return Err(Ignored::Unexpected);
        };
        if d.session_id != session.session_id || src != session.ac_mac {
            return Err(Ignored::Unexpected);
        }
        let reason = d
            .error()
            .and_then(|t| t.error_text())
            .filter(|t| !t.is_empty());
        let session_id = session.session_id;
        self.events.push_back(ClientEvent::Terminated {
            session_id,
            cause: TerminateCause::Peer { reason },
        });
        self.enter_closed();
        Ok(())
    }

    fn start_round(&mut self, now: Instant) {
        self.rounds += 1;
        self.state = ClientState::Discovering;
        self.offer = None;
        self.attempts = 0;
        self.timeout = self.config.initial_timeout;
        self.send_padi(now);
    }

    fn requested_max_payload(&self) -> Option<u16> {
        self.config
            .ppp_max_payload
            .filter(|&v| v > PPPOE_MAX_PPP_MTU)
    }

    fn send_padi(&mut self, now: Instant) {
        // RFC 2516 §5.1: "exactly one TAG of TAG_TYPE Service-Name".
        let mut tags = vec![Tag::ServiceName(&self.config.service_name)];
        if let Some(host_uniq) = self.config.host_uniq.as_deref() {
            tags.push(Tag::HostUniq(host_uniq));
        }
        if let Some(value) = self.requested_max_payload() {
            tags.push(Tag::PppMaxPayload(value));
        }
        let frame = self.frame(MacAddr::BROADCAST, DiscoveryCode::Padi, 0, tags);
        self.transmits.extend(frame);
        self.arm_retransmit(now);
    }

    fn send_padr(&mut self, now: Instant) {
        let Some(offer) = self.offer.as_ref() else {
            return;
        };
        let mut tags = vec![Tag::ServiceName(&self.config.service_name)];
        if let Some(host_uniq) = self.config.host_uniq.as_deref() {
            tags.push(Tag::HostUniq(host_uniq));
        }
        // Appendix A: the cookie and the relay's Relay-Session-Id go back unmodified.
        if let Some(cookie) = offer.cookie.as_deref() {
            tags.push(Tag::AcCookie(cookie));
        }
        if let Some(relay) = offer.relay_session_id.as_deref() {
            tags.push(Tag::RelaySessionId(relay));
        }
        if let Some(value) = self.requested_max_payload() {
            tags.push(Tag::PppMaxPayload(value));
        }
        let frame = self.frame(offer.ac_mac, DiscoveryCode::Padr, 0, tags);
        self.transmits.extend(frame);
        self.arm_retransmit(now);
    }

    /// RFC 2516 §8: resend "and double the waiting period".
    fn arm_retransmit(&mut self, now: Instant) {
        self.attempts += 1;
        self.timers[Timer::Retransmit as usize] = Some(now + self.timeout);
        self.timeout =
            (self.timeout * 2).min(self.config.max_timeout.max(self.config.initial_timeout));
    }

    fn frame(
        &self,
        dst: MacAddr,
        code: DiscoveryCode,
        session_id: u16,
        tags: Vec<Tag<'_>>,
    ) -> Option<Vec<u8>> {
        let eth = EthernetRepr {
            dst,
            src: self.config.mac,
            vlan: self.config.vlan,
        };
        FrameRepr {
            eth,
            body: Body::Discovery(DiscoveryRepr {
                code,
                session_id,
                tags,
            }),
        }
        .to_vec()
        .ok()
    }

    fn fail(&mut self, failure: ClientFailure) {
        self.events.push_back(ClientEvent::Failed(failure));
        self.enter_closed();
    }

    fn enter_closed(&mut self) {
        self.state = ClientState::Closed;
        self.timers = [None; Timer::COUNT];
    }
}
