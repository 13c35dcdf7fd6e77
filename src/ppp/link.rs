//! One PPP link: the phases of RFC 1661 §3.2 orchestrating LCP, authentication and IPCP, for the
//! server (authenticator) and client (authenticatee) roles, plus the LCP extras (Echo keepalive,
//! Protocol-Reject, Discard) and proxy LCP/authentication on both the LAC and the LNS side.
//!
//! Owns: the link's phase, its timer table, its transmit and event queues, its counters.
//! Must not touch: sockets, clocks, L2TP or PPPoE framing, the subscriber table, address pools.
//! Data frames are routed by the caller; [`Link::handle_frame`] only says which frames are data.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::auth::{AuthRequest, AuthStep, AuthVerdict, ClientAuth, Credentials, ServerAuth};
use super::frame::{self, protocol};
use super::fsm::{Ctx, Fsm, LayerEvent, Rx, State};
use super::ipcp::{IpcpAssignment, IpcpClientConfig, IpcpNegotiator, NetworkInfo};
use super::lcp::{self, AuthProtocol, LcpConfig, LcpNegotiated, LcpNegotiator, LcpRole};
use super::packet::{HEADER_LEN, PacketRepr};
use super::proxy::{self, ProxyAuthenType, ProxyInfo, ProxyOutcome};
use super::{Error, LinkError};

/// The phases of a PPP link (RFC 1661 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Link Dead: finished for good. A link object is used once; make a new one for a new session.
    Dead,
    /// Link Establishment: LCP negotiating.
    Establish,
    /// Authentication: LCP open, PAP/CHAP running or the application's verdict awaited.
    Authenticate,
    /// Network-Layer Protocol: IPCP negotiating or open.
    Network,
    /// Link Termination: LCP Terminate-Request sent or received.
    Terminate,
    /// Handed to an LNS by [`Link::hand_off`]: silent from then on, the caller relays frames.
    HandedOff,
}

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownCause {
    /// [`Link::close`] was called with this reason.
    LocalClose(String),
    /// The peer sent LCP Terminate-Request; the data it carried (often a reason text).
    PeerTerminated(Vec<u8>),
    /// Echo-Requests went unanswered `echo_failure_limit` times in a row.
    EchoTimeout,
    /// A Configure-Request of this protocol went unanswered Max-Configure times (RFC 1661 §4.6).
    NegotiationTimeout {
        /// LCP or IPCP.
        protocol: u16,
    },
    /// Negotiation could not converge.
    NegotiationFailed {
        /// LCP or IPCP.
        protocol: u16,
        /// What went wrong.
        reason: &'static str,
    },
    /// The peer rejected every authentication protocol we allow.
    AuthRefused,
    /// Authentication failed: the application refused the peer (server), or the peer refused us
    /// (client).
    AuthFailed,
    /// Authentication did not finish within the configured time.
    AuthTimeout,
    /// Our Magic-Number kept coming back: the link is looped back (RFC 1661 §6.4).
    LoopbackDetected,
    /// The peer rejected a protocol we need (Protocol-Reject of LCP or IPCP, or a Code-Reject of
    /// a code the automaton needs).
    ProtocolRejected {
        /// The rejected protocol.
        protocol: u16,
    },
    /// IPCP finished while LCP was up (the peer closed it): no network protocol is left.
    NoNetworkProtocol,
    /// [`Link::lower_down`]: the carrier (L2TP session, PPPoE session) went away.
    LowerLayerDown,
}

impl fmt::Display for DownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LocalClose(r) => write!(f, "closed locally: {r}"),
            Self::PeerTerminated(r) => {
                write!(f, "terminated by peer: {}", String::from_utf8_lossy(r))
            }
            Self::EchoTimeout => f.write_str("peer not answering LCP echo"),
            Self::NegotiationTimeout { protocol } => {
                write!(f, "no answer to {} negotiation", protocol_name(*protocol))
            }
            Self::NegotiationFailed { protocol, reason } => {
                write!(
                    f,
                    "{} negotiation failed: {reason}",
                    protocol_name(*protocol)
                )
            }
            Self::AuthRefused => f.write_str("peer refused to authenticate"),
            Self::AuthFailed => f.write_str("authentication failed"),
            Self::AuthTimeout => f.write_str("authentication timed out"),
            Self::LoopbackDetected => f.write_str("link is looped back"),
            Self::ProtocolRejected { protocol } => {
                write!(f, "peer rejected {}", protocol_name(*protocol))
            }
            Self::NoNetworkProtocol => f.write_str("no network protocol running"),
            Self::LowerLayerDown => f.write_str("lower layer down"),
        }
    }
}

fn protocol_name(p: u16) -> &'static str {
    match p {
        protocol::LCP => "LCP",
        protocol::IPCP => "IPCP",
        protocol::PAP => "PAP",
        protocol::CHAP => "CHAP",
        _ => "protocol",
    }
}

/// What a link reports to its owner, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// LCP opened (This-Layer-Up); the Authenticate phase begins. Emitted again after the peer
    /// renegotiates LCP.
    LinkUp(LcpNegotiated),
    /// Server: the peer presented credentials; answer with [`Link::answer_auth`].
    AuthRequest(AuthRequest),
    /// The Authenticate phase succeeded.
    Authenticated {
        /// The protocol used, `None` without authentication.
        protocol: Option<AuthProtocol>,
        /// Server: the peer's name. Client: our own name.
        name: Vec<u8>,
        /// Client: the message of the peer's Ack/Success. Server: empty.
        message: Vec<u8>,
    },
    /// IPCP opened: IPv4 may flow. The addresses are the negotiated ones.
    NetworkUp(NetworkInfo),
    /// IPCP left Opened: stop routing data for this link.
    NetworkDown,
    /// The link is finished ([`Phase::Dead`]); nothing more will be sent or reported.
    LinkDown(DownCause),
}

/// What [`Link::handle_frame`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDisposition<'a> {
    /// A control frame, processed by the engine.
    Consumed,
    /// Network data for the caller to route (the network is up). `payload` starts after the
    /// Protocol field.
    Data {
        /// The PPP protocol (IPv4).
        protocol: u16,
        /// The network-layer packet.
        payload: &'a [u8],
    },
    /// Dropped: malformed, out of phase, or for a protocol we do not run (see the counters).
    Dropped,
}

/// Counters a link keeps; the caller samples them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames given to [`Link::handle_frame`].
    pub frames_in: u64,
    /// Frames queued for transmission.
    pub frames_out: u64,
    /// Frames dropped as malformed (bad Protocol field, Length, options, PAP/CHAP fields).
    pub malformed: u64,
    /// Well-formed frames silently discarded as the RFCs require (wrong identifier, wrong phase).
    pub discarded: u64,
    /// LCP Configure-Requests received.
    pub lcp_configure_requests: u64,
    /// Protocol-Rejects sent.
    pub protocol_rejects_sent: u64,
    /// Echo-Requests sent.
    pub echo_requests_sent: u64,
    /// Echo-Replies received.
    pub echo_replies_received: u64,
}

/// Authenticator settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Authentication protocols required of the peer, in order of preference. Empty: none (the
    /// application is still asked, with [`Credentials::None`], so it can supply the addresses).
    pub auth_protocols: Vec<AuthProtocol>,
    /// Our name in CHAP Challenges.
    pub name: Vec<u8>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            auth_protocols: vec![AuthProtocol::ChapMd5, AuthProtocol::Pap],
            name: b"l2tpagg".to_vec(),
        }
    }
}

/// Authenticatee settings. `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our name (PAP Peer-ID, CHAP Name).
    pub name: Vec<u8>,
    /// Our password / CHAP secret.
    pub secret: Vec<u8>,
    /// Accept to authenticate with PAP.
    pub allow_pap: bool,
    /// Accept to authenticate with CHAP-MD5.
    pub allow_chap: bool,
    /// What to ask of IPCP.
    pub ipcp: IpcpClientConfig,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("secret", &"<redacted>")
            .field("allow_pap", &self.allow_pap)
            .field("allow_chap", &self.allow_chap)
            .field("ipcp", &self.ipcp)
            .finish()
    }
}

/// Which side of the link we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleConfig {
    /// Authenticator: the LAC facing a subscriber, or the LNS.
    Server(ServerConfig),
    /// Authenticatee: the subscriber emulator and tests.
    Client(ClientConfig),
}

/// Everything a link needs.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// LCP policy and timers.
    pub lcp: LcpConfig,
    /// Role and credentials.
    pub role: RoleConfig,
    /// Time allowed for the whole Authenticate phase, the application's verdict included.
    pub auth_timeout: Duration,
    /// Seed of the link's random numbers (Magic-Numbers, CHAP challenges, identifiers). Take it
    /// from the operating system's CSPRNG for every link in production: CHAP's security rests on
    /// unpredictable challenges (RFC 1994 §2.3), and two ends seeded alike draw the same
    /// Magic-Numbers, which is indistinguishable from a looped-back link (RFC 1661 §6.4) and ends
    /// with [`DownCause::LoopbackDetected`].
    pub seed: [u8; 32],
}

impl fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkConfig")
            .field("lcp", &self.lcp)
            .field("role", &self.role)
            .field("auth_timeout", &self.auth_timeout)
            .finish_non_exhaustive()
    }
}

impl LinkConfig {
    /// Default Authenticate-phase time limit.
    pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(30);

    /// A server link over L2TP with default policy.
    pub fn server(server: ServerConfig, seed: [u8; 32]) -> Self {
        Self {
            lcp: LcpConfig::for_l2tp(),
            role: RoleConfig::Server(server),
            auth_timeout: Self::DEFAULT_AUTH_TIMEOUT,
            seed,
        }
    }

    /// A client link over L2TP with default policy.
    pub fn client(client: ClientConfig, seed: [u8; 32]) -> Self {
        Self {
            lcp: LcpConfig::for_l2tp(),
            role: RoleConfig::Client(client),
            auth_timeout: Self::DEFAULT_AUTH_TIMEOUT,
            seed,
        }
    }
}

/// The link's timers, indexed by [`Timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    LcpRestart = 0,
    IpcpRestart = 1,
    AuthRetransmit = 2,
    AuthDeadline = 3,
    Echo = 4,
}

const TIMERS: [Timer; 5] = [
    Timer::LcpRestart,
    Timer::IpcpRestart,
    Timer::AuthRetransmit,
    Timer::AuthDeadline,
    Timer::Echo,
];

#[derive(Debug, Clone, Default)]
struct TimerTable([Option<Instant>; 5]);

impl TimerTable {
    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }
    fn clear(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }
    fn slot(&mut self, t: Timer) -> &mut Option<Instant> {
        &mut self.0[t as usize]
    }
    fn expired(&self, t: Timer, now: Instant) -> bool {
        self.0[t as usize].is_some_and(|at| at <= now)
    }
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

#[derive(Debug, Clone)]
enum RoleState {
    Server {
        auth: ServerAuth,
        assignment: Option<IpcpAssignment>,
    },
    Client {
        auth: ClientAuth,
        name: Vec<u8>,
        ipcp: IpcpClientConfig,
    },
}

/// At most one log line per this interval for malformed input, per link.
const MALFORMED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One PPP link, sans-IO.
///
/// # Call order
///
/// 1. Create it with [`Link::new`] when the lower layer is up (the L2TP or PPPoE session exists):
///    LCP starts at once and the first Configure-Request is queued. An LNS taking over a LAC's
///    negotiation uses [`Link::from_proxy`] instead.
/// 2. Feed every PPP frame received on the session to [`Link::handle_frame`] (with or without
///    `FF 03`). Frames for which it returns [`FrameDisposition::Data`] are routed by the caller.
///    Data frames may also bypass the engine entirely once [`Event::NetworkUp`] was seen
///    (classify them with [`frame::classify`](super::classify)).
/// 3. After any `handle_*` call or [`Link::answer_auth`]/[`Link::close`], drain
///    [`Link::poll_transmit`] (frames start at the Protocol field; add `FF 03` with
///    [`with_address_control`](super::with_address_control) for L2TP) and [`Link::poll_event`].
/// 4. Arm a timer for [`Link::poll_timeout`] and call [`Link::handle_timeout`] when it fires.
/// 5. On [`Event::AuthRequest`] (server), verify the credentials and call [`Link::answer_auth`].
/// 6. After [`Event::LinkDown`] the link is dead: drop it once its last frames are sent.
pub struct Link {
    cfg: LinkConfig,
    role: RoleState,
    phase: Phase,
    lcp: Fsm<LcpNegotiator>,
    ipcp: Option<Fsm<IpcpNegotiator>>,
    timers: TimerTable,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    rng: StdRng,
    counters: LinkCounters,
    /// Why the link is closing, decided when the close started.
    down_cause: Option<DownCause>,
    /// Why IPCP is finishing, if known.
    ipcp_cause: Option<DownCause>,
    network_up: bool,
    echo_outstanding: u32,
    echo_enabled: bool,
    proxy_outcome: Option<ProxyOutcome>,
    now: Instant,
    last_malformed_log: Option<Instant>,
    malformed_since_log: u64,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("phase", &self.phase)
            .field("lcp", &self.lcp.state())
            .field("ipcp", &self.ipcp.as_ref().map(|i| i.state()))
            .field("network_up", &self.network_up)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link whose lower layer is up: LCP starts negotiating at once (RFC 1661 §4.3 Up + Open).
    pub fn new(now: Instant, cfg: LinkConfig) -> Self {
        let mut link = Self::build(now, cfg);
        link.start_lcp(now);
        link
    }

    fn build(now: Instant, cfg: LinkConfig) -> Self {
        let mut rng = StdRng::from_seed(cfg.seed);
        let (role, lcp_role) = match &cfg.role {
            RoleConfig::Server(s) => (
                RoleState::Server {
                    auth: ServerAuth::new(s.name.clone(), cfg.lcp.negotiation),
                    assignment: None,
                },
                LcpRole::Authenticator {
                    protocols: s.auth_protocols.clone(),
                },
            ),
            RoleConfig::Client(c) => (
                RoleState::Client {
                    auth: ClientAuth::new(c.name.clone(), c.secret.clone(), cfg.lcp.negotiation),
                    name: c.name.clone(),
                    ipcp: c.ipcp,
                },
                LcpRole::Authenticatee {
                    pap: c.allow_pap,
                    chap: c.allow_chap,
                },
            ),
        };
        let lcp_rng = StdRng::seed_from_u64(rng.next_u64());
        let first_id = rng.next_u32() as u8;
        let lcp = Fsm::new(
            protocol::LCP,
            cfg.lcp.negotiation,
            LcpNegotiator::new(cfg.lcp.clone(), lcp_role, lcp_rng),
            first_id,
        );
        Self {
            cfg,
            role,
            phase: Phase::Establish,
            lcp,
            ipcp: None,
            timers: TimerTable::default(),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            counters: LinkCounters::default(),
            down_cause: None,
            ipcp_cause: None,
            network_up: false,
            echo_outstanding: 0,
            echo_enabled: true,
            proxy_outcome: None,
            now,
            last_malformed_log: None,
            malformed_since_log: 0,
        }
    }

    fn start_lcp(&mut self, now: Instant) {
        let (lcp, mut ctx) = self.lcp_ctx(now);
        lcp.up(&mut ctx);
        lcp.open(&mut ctx);
        self.process(now);
    }

    /// An LNS-side server link built from the proxy LCP and authentication AVPs of an ICCN
    /// (RFC 2661 §4.4.5). When the proxied LCP satisfies the rules in [`super::proxy`], the link
    /// starts in the Authenticate phase without any LCP exchange and reports
    /// [`Event::LinkUp`] then (when the proxied credentials are complete) [`Event::AuthRequest`]
    /// with `proxied: true`. Otherwise it behaves like [`Link::new`]. [`Link::proxy_outcome`]
    /// says which happened and why.
    ///
    /// Fails only when `cfg` is not a server configuration.
    pub fn from_proxy(now: Instant, cfg: LinkConfig, proxy: &ProxyInfo) -> Result<Self, LinkError> {
        let RoleConfig::Server(server) = &cfg.role else {
            return Err(LinkError::NotServer);
        };
        let allowed = server.auth_protocols.clone();
        let mut link = Self::build(now, cfg);
        let lcp_cfg = link.cfg.lcp.clone();
        let adopted = {
            let neg = &mut link.lcp.neg;
            proxy::check_lcp(proxy, &lcp_cfg, &allowed, |peers| neg.would_ack(peers))
        };
        let adopted = match adopted {
            Ok(a) => a,
            Err(reason) => {
                tracing::debug!(%reason, "proxy LCP not taken over, renegotiating");
                link.proxy_outcome = Some(ProxyOutcome::Renegotiated(reason));
                link.start_lcp(now);
                return Ok(link);
            }
        };
        if let Err(e) = link.lcp.neg.adopt(&adopted.ours, &adopted.peers) {
            // check_lcp parsed both lists already; this is a defensive fallback.
            link.proxy_outcome = Some(ProxyOutcome::Renegotiated(
                proxy::ProxyMismatch::MalformedConfreq(e),
            ));
            link.start_lcp(now);
            return Ok(link);
        }
        link.lcp.force_opened(adopted.ours.clone());
        link.lcp_opened(now);
        match proxy::check_auth(proxy, adopted.auth) {
            Ok(auth) => {
                link.proxy_outcome = Some(ProxyOutcome::Accepted);
                let request = AuthRequest {
                    protocol: adopted.auth,
                    name: auth.name,
                    credentials: auth.credentials,
                    proxied: true,
                };
                let step = match &mut link.role {
                    RoleState::Server {
                        auth: server_auth, ..
                    } => server_auth.start_verifying(adopted.auth, auth.id, request),
                    RoleState::Client { .. } => AuthStep::Nothing,
                };
                link.enter_authenticate(now, Some(step));
            }
            Err(reason) => {
                tracing::debug!(%reason, "proxy authentication not taken over, authenticating again");
                link.proxy_outcome = Some(ProxyOutcome::LcpOnly(reason));
                link.enter_authenticate(now, None);
            }
        }
        link.process(now);
        Ok(link)
    }

    // ----- the quinn-style surface -----

    /// Processes one received PPP frame (starting at the Protocol field or at `FF 03`).
    pub fn handle_frame<'a>(&mut self, now: Instant, frame: &'a [u8]) -> FrameDisposition<'a> {
        self.now = now;
        self.counters.frames_in += 1;
        if matches!(self.phase, Phase::Dead | Phase::HandedOff) {
            self.counters.discarded += 1;
            return FrameDisposition::Dropped;
        }
        let (proto, info) = match frame::parse_frame(frame, self.accepts_compressed_protocol()) {
            Ok(v) => v,
            Err(e) => {
                self.malformed(now, &e);
                return FrameDisposition::Dropped;
            }
        };
        let disposition = match proto {
            protocol::LCP => self.handle_lcp(now, info),
            protocol::PAP | protocol::CHAP => self.handle_auth(now, proto, info),
            protocol::IPCP => self.handle_ipcp(now, info),
            protocol::IPV4 if self.network_up => FrameDisposition::Data {
                protocol: proto,
                payload: info,
            },
            protocol::IPV4 => {
                // RFC 1661 §3.6: network packets before the NCP is open are silently discarded.
                self.counters.discarded += 1;
                FrameDisposition::Dropped
            }
            other => {
                self.protocol_reject(now, other, info);
                FrameDisposition::Dropped
            }
        };
        self.process(now);
        disposition
    }

    /// Runs every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if matches!(self.phase, Phase::Dead | Phase::HandedOff) {
            return;
        }
        for t in TIMERS {
            if !self.timers.expired(t, now) {
                continue;
            }
            self.timers.clear(t);
            match t {
                Timer::LcpRestart => {
                    let (lcp, mut ctx) = self.lcp_ctx(now);
                    lcp.timeout(&mut ctx);
                }
                Timer::IpcpRestart => {
                    if let Some(ipcp) = self.ipcp.as_mut() {
                        let mut ctx = Ctx {
                            now,
                            timer: self.timers.slot(Timer::IpcpRestart),
                            tx: &mut self.tx,
                        };
                        ipcp.timeout(&mut ctx);
                    }
                }
                Timer::AuthRetransmit => {
                    let mut ctx = Ctx {
                        now,
                        timer: self.timers.slot(Timer::AuthRetransmit),
                        tx: &mut self.tx,
                    };
                    let step = match &mut self.role {
                        RoleState::Server { auth, .. } => auth.timeout(&mut ctx, &mut self.rng),
                        RoleState::Client { auth, .. } => auth.timeout(&mut ctx),
                    };
                    self.auth_step(now, step);
                }
                Timer::AuthDeadline => {
                    if self.phase == Phase::Authenticate {
                        self.close_with(now, DownCause::AuthTimeout);
                    }
                }
                Timer::Echo => self.echo_tick(now),
            }
            self.process(now);
        }
    }

    /// The next frame to send, starting at the Protocol field.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let f = self.tx.pop_front()?;
        self.counters.frames_out += 1;
        Some(f)
    }

    /// When [`Link::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Dead | Phase::HandedOff => None,
            _ => self.timers.next(),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Server: the application's answer to [`Event::AuthRequest`]. On accept, the verdict is sent
    /// and IPCP starts with `network`; on reject, the failure is sent and the link terminated.
    pub fn answer_auth(&mut self, now: Instant, verdict: AuthVerdict) -> Result<(), LinkError> {
        self.now = now;
        if self.phase != Phase::Authenticate {
            return Err(LinkError::NoPendingAuth);
        }
        let RoleState::Server {
            auth, assignment, ..
        } = &mut self.role
        else {
            return Err(LinkError::NotServer);
        };
        if !auth.awaiting_verdict() {
            return Err(LinkError::NoPendingAuth);
        }
        let (accepted, message) = match &verdict {
            AuthVerdict::Accept { message, network } => {
                *assignment = Some(*network);
                (true, message.as_bytes())
            }
            AuthVerdict::Reject { message } => (false, message.as_bytes()),
        };
        let mut ctx = Ctx {
            now,
            timer: self.timers.slot(Timer::AuthRetransmit),
            tx: &mut self.tx,
        };
        let step = auth
            .answer(&mut ctx, accepted, message)
            .ok_or(LinkError::NoPendingAuth)?;
        self.auth_step(now, step);
        self.process(now);
        Ok(())
    }

    /// Closes the link: LCP Terminate-Request is sent (RFC 1661 §4.3 Close) and
    /// [`Event::LinkDown`] follows the Terminate-Ack or Max-Terminate timeouts.
    pub fn close(&mut self, now: Instant, reason: &str) {
        self.now = now;
        if matches!(self.phase, Phase::Dead | Phase::HandedOff) {
            return;
        }
        self.close_with(now, DownCause::LocalClose(reason.to_string()));
        self.process(now);
    }

    /// The lower layer is gone (L2TP session or PPPoE session torn down): the link dies at once,
    /// sending nothing (RFC 1661 §4.3 Down).
    pub fn lower_down(&mut self, now: Instant) {
        self.now = now;
        if matches!(self.phase, Phase::Dead | Phase::HandedOff) {
            return;
        }
        let (lcp, mut ctx) = self.lcp_ctx(now);
        lcp.down(&mut ctx);
        self.tx.clear();
        self.process(now);
        // A close already under way explains the end better than the carrier loss it caused.
        let cause = self.down_cause.take().unwrap_or(DownCause::LowerLayerDown);
        self.finish(cause);
    }

    // ----- LAC side of proxy LCP/authentication -----

    /// The proxy LCP and authentication AVP contents (RFC 2661 §4.4.5) for the ICCN, available on
    /// a server link once LCP is open and the peer has presented its credentials (the
    /// [`Event::AuthRequest`] was emitted), whether or not the application answered it.
    pub fn proxy_info(&self) -> Result<ProxyInfo, LinkError> {
        let RoleState::Server { auth, .. } = &self.role else {
            return Err(LinkError::NotServer);
        };
        if self.lcp.state() != State::Opened
            || !matches!(self.phase, Phase::Authenticate | Phase::Network)
        {
            return Err(LinkError::ProxyNotReady("LCP is not open"));
        }
        let Some((id, request)) = auth.presented() else {
            return Err(LinkError::ProxyNotReady(
                "the peer has not presented credentials yet",
            ));
        };
        let mut info = ProxyInfo {
            initial_received_confreq: self.lcp.neg.initial_peer_request.clone(),
            last_sent_confreq: Some(self.lcp.last_request().to_vec()),
            last_received_confreq: self.lcp.neg.last_acked_peer_request.clone(),
            ..ProxyInfo::default()
        };
        match &request.credentials {
            Credentials::None => info.authen_type = Some(ProxyAuthenType::NoAuthentication),
            Credentials::Pap { password } => {
                info.authen_type = Some(ProxyAuthenType::Pap);
                info.authen_name = Some(request.name.clone());
                info.authen_id = Some(u16::from(id));
                info.authen_response = Some(password.clone());
            }
            Credentials::ChapMd5 {
                id,
                challenge,
                response,
            } => {
                info.authen_type = Some(ProxyAuthenType::Chap);
                info.authen_name = Some(request.name.clone());
                info.authen_id = Some(u16::from(*id));
                info.authen_challenge = Some(challenge.clone());
                info.authen_response = Some(response.clone());
            }
        }
        Ok(info)
    }

    /// Exports [`Link::proxy_info`] and silences the link: from now on the caller relays the
    /// subscriber's frames to the LNS untouched, and this link sends, reports and times nothing.
    /// Typically called while the application has not answered the [`Event::AuthRequest`], so the
    /// LNS, not the LAC, sends the PAP Ack / CHAP Success.
    pub fn hand_off(&mut self) -> Result<ProxyInfo, LinkError> {
        let info = self.proxy_info()?;
        self.phase = Phase::HandedOff;
        self.network_up = false;
        self.timers = TimerTable::default();
        self.tx.clear();
        Ok(info)
    }

    // ----- accessors -----

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What LCP negotiated, while LCP is open.
    pub fn lcp_negotiated(&self) -> Option<LcpNegotiated> {
        (self.lcp.state() == State::Opened).then(|| self.lcp.neg.negotiated())
    }

    /// The network addresses, while IPCP is open.
    pub fn network(&self) -> Option<NetworkInfo> {
        if !self.network_up {
            return None;
        }
        self.ipcp.as_ref().map(|i| i.neg.network())
    }

    /// Whether IPv4 data may flow.
    pub fn is_network_up(&self) -> bool {
        self.network_up
    }

    /// Whether the peer may send one-octet Protocol fields (our PFC was acknowledged); pass it to
    /// [`parse_frame`](super::parse_frame) on the fast path.
    pub fn accepts_compressed_protocol(&self) -> bool {
        self.lcp.state() == State::Opened && self.lcp.neg.negotiated().accepts_pfc
    }

    /// The link's counters.
    pub fn counters(&self) -> LinkCounters {
        self.counters
    }

    /// Server: the credentials the peer presented (awaiting a verdict or already decided), for
    /// example to pick a realm or LNS before answering. `None` before the peer presented any and
    /// on client links.
    pub fn auth_request(&self) -> Option<&AuthRequest> {
        match &self.role {
            RoleState::Server { auth, .. } => auth.presented().map(|(_, r)| r),
            RoleState::Client { .. } => None,
        }
    }

    /// Server: whether [`Link::answer_auth`] is expected.
    pub fn awaiting_verdict(&self) -> bool {
        self.phase == Phase::Authenticate
            && matches!(&self.role, RoleState::Server { auth, .. } if auth.awaiting_verdict())
    }

    /// LNS side: what [`Link::from_proxy`] made of the proxy AVPs.
    pub fn proxy_outcome(&self) -> Option<&ProxyOutcome> {
        self.proxy_outcome.as_ref()
    }

    /// The state of the LCP automaton (RFC 1661 §4.2), for diagnostics and tests.
    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    /// The state of the IPCP automaton, once the Network phase was entered.
    pub fn ipcp_state(&self) -> Option<State> {
        self.ipcp.as_ref().map(|i| i.state())
    }

    // ----- internals -----

    fn lcp_ctx(&mut self, now: Instant) -> (&mut Fsm<LcpNegotiator>, Ctx<'_>) {
        (
            &mut self.lcp,
            Ctx {
                now,
                timer: &mut self.timers.0[Timer::LcpRestart as usize],
                tx: &mut self.tx,
            },
        )
    }

    fn malformed(&mut self, now: Instant, e: &Error) {
        self.counters.malformed += 1;
        self.malformed_since_log += 1;
        let due = self
            .last_malformed_log
            .is_none_or(|at| now.saturating_duration_since(at) >= MALFORMED_LOG_INTERVAL);
        if due {
            tracing::debug!(error = %e, dropped = self.malformed_since_log, "malformed PPP frame dropped");
            self.last_malformed_log = Some(now);
            self.malformed_since_log = 0;
        }
    }

    fn rx_outcome(&mut self, now: Instant, rx: Rx, proto: u16) {
        match rx {
            Rx::Processed => {}
            Rx::TerminateRequest(reason) => {
                if proto == protocol::LCP {
                    if self.down_cause.is_none() {
                        self.down_cause = Some(DownCause::PeerTerminated(reason));
                    }
                } else if self.ipcp_cause.is_none() {
                    self.ipcp_cause = Some(DownCause::NoNetworkProtocol);
                }
            }
            Rx::CodeReject { code, catastrophic } => {
                if catastrophic {
                    let cause = DownCause::ProtocolRejected { protocol: proto };
                    if proto == protocol::LCP {
                        self.down_cause.get_or_insert(cause);
                    } else {
                        self.ipcp_cause.get_or_insert(cause);
                    }
                } else if proto == protocol::LCP && code == lcp::code::ECHO_REQUEST {
                    // The peer does not do keepalives; stop asking rather than kill the link.
                    self.echo_enabled = false;
                    self.timers.clear(Timer::Echo);
                }
            }
            Rx::Discarded(why) => {
                self.counters.discarded += 1;
                tracing::trace!(why, protocol = proto, "PPP packet discarded");
            }
            Rx::Malformed(e) => self.malformed(now, &e),
        }
    }

    fn handle_lcp<'a>(&mut self, now: Instant, info: &[u8]) -> FrameDisposition<'a> {
        let repr = match PacketRepr::parse(info) {
            Ok(r) => r,
            Err(e) => {
                self.malformed(now, &e);
                return FrameDisposition::Dropped;
            }
        };
        let opened = self.lcp.state() == State::Opened;
        match repr.code {
            lcp::code::PROTOCOL_REJECT => {
                // RFC 1661 §5.7: only meaningful in Opened; elsewhere silently discarded.
                if !opened {
                    self.counters.discarded += 1;
                    return FrameDisposition::Consumed;
                }
                match lcp::parse_protocol_reject(repr.data) {
                    Ok((rejected, _)) => self.protocol_rejected(now, rejected),
                    Err(e) => self.malformed(now, &e),
                }
            }
            lcp::code::ECHO_REQUEST | lcp::code::ECHO_REPLY | lcp::code::DISCARD_REQUEST => {
                if !opened {
                    // RFC 1661 §5.8: echo packets are only processed in Opened (RXR).
                    self.counters.discarded += 1;
                    return FrameDisposition::Consumed;
                }
                let (magic, rest) = match lcp::parse_echo(repr.data) {
                    Ok(v) => v,
                    Err(e) => {
                        self.malformed(now, &e);
                        return FrameDisposition::Consumed;
                    }
                };
                let ours = self.lcp.neg.negotiated().magic;
                if ours != 0 && magic == ours {
                    // RFC 1661 §6.4: our own Magic-Number coming back means a loop; do not answer.
                    self.counters.discarded += 1;
                    return FrameDisposition::Consumed;
                }
                match repr.code {
                    lcp::code::ECHO_REQUEST => {
                        let neg = self.lcp.neg.negotiated();
                        // RFC 1661 §5.8: the reply carries our Magic-Number; it is truncated, like
                        // every packet we send, to the peer's MRU.
                        let room = usize::from(neg.peer_mru).saturating_sub(HEADER_LEN + 4);
                        let data = lcp::echo_data(ours, &rest[..rest.len().min(room)]);
                        let mut ctx = Ctx {
                            now,
                            timer: &mut None,
                            tx: &mut self.tx,
                        };
                        self.lcp
                            .send(&mut ctx, lcp::code::ECHO_REPLY, repr.identifier, &data);
                    }
                    lcp::code::ECHO_REPLY => {
                        self.counters.echo_replies_received += 1;
                        self.echo_outstanding = 0;
                    }
                    _ => {}
                }
            }
            lcp::code::IDENTIFICATION | lcp::code::TIME_REMAINING => {}
            _ => {
                if repr.code == super::fsm::code::CONFIGURE_REQUEST {
                    self.counters.lcp_configure_requests += 1;
                }
                let (lcp, mut ctx) = self.lcp_ctx(now);
                let rx = lcp.receive(&mut ctx, info);
                self.rx_outcome(now, rx, protocol::LCP);
            }
        }
        FrameDisposition::Consumed
    }

    fn handle_auth<'a>(&mut self, now: Instant, proto: u16, info: &[u8]) -> FrameDisposition<'a> {
        // RFC 1661 §3.5 / RFC 1994 §4.1: authentication packets belong to the Authenticate phase,
        // and repeated Responses (or PAP requests) are still answered in the Network phase.
        if !matches!(self.phase, Phase::Authenticate | Phase::Network) {
            self.counters.discarded += 1;
            return FrameDisposition::Dropped;
        }
        let mut ctx = Ctx {
            now,
            timer: self.timers.slot(Timer::AuthRetransmit),
            tx: &mut self.tx,
        };
        let result = match (&mut self.role, proto) {
            (RoleState::Server { auth, .. }, protocol::PAP) => auth.handle_pap(&mut ctx, info),
            (RoleState::Server { auth, .. }, _) => auth.handle_chap(&mut ctx, info),
            (RoleState::Client { auth, .. }, protocol::PAP) => auth.handle_pap(&mut ctx, info),
            (RoleState::Client { auth, .. }, _) => auth.handle_chap(&mut ctx, info),
        };
        match result {
            Ok(step) => self.auth_step(now, step),
            Err(e) => self.malformed(now, &e),
        }
        FrameDisposition::Consumed
    }

    fn handle_ipcp<'a>(&mut self, now: Instant, info: &[u8]) -> FrameDisposition<'a> {
        // RFC 1332 §2: "IPCP packets received before this phase is reached should be silently
        // discarded."
        let Some(ipcp) = self.ipcp.as_mut().filter(|_| self.phase == Phase::Network) else {
            self.counters.discarded += 1;
            return FrameDisposition::Dropped;
        };
        let mut ctx = Ctx {
            now,
            timer: &mut self.timers.0[Timer::IpcpRestart as usize],
            tx: &mut self.tx,
        };
        let rx = ipcp.receive(&mut ctx, info);
        self.rx_outcome(now, rx, protocol::IPCP);
        FrameDisposition::Consumed
    }

    /// Answers a frame of a protocol we do not run.
    fn protocol_reject(&mut self, now: Instant, proto: u16, info: &[u8]) {
        // RFC 1661 §5.7: "Protocol-Reject packets can only be sent in the LCP Opened state."
        if self.lcp.state() != State::Opened {
            self.counters.discarded += 1;
            return;
        }
        // "The Rejected-Information MUST be truncated to comply with the peer's established MRU."
        let peer_mru = usize::from(self.lcp.neg.negotiated().peer_mru);
        let room = peer_mru.saturating_sub(HEADER_LEN + 2);
        let mut data = proto.to_be_bytes().to_vec();
        data.extend_from_slice(&info[..info.len().min(room)]);
        let id = self.lcp.alloc_id();
        let mut ctx = Ctx {
            now,
            timer: &mut None,
            tx: &mut self.tx,
        };
        self.lcp
            .send(&mut ctx, lcp::code::PROTOCOL_REJECT, id, &data);
        self.counters.protocol_rejects_sent += 1;
    }

    /// The peer will not speak `rejected` (RFC 1661 §5.7: "the implementation MUST stop sending
    /// packets of the indicated protocol at the earliest opportunity").
    fn protocol_rejected(&mut self, now: Instant, rejected: u16) {
        match rejected {
            protocol::LCP => {
                self.down_cause.get_or_insert(DownCause::ProtocolRejected {
                    protocol: protocol::LCP,
                });
                let (lcp, mut ctx) = self.lcp_ctx(now);
                lcp.catastrophic_reject(&mut ctx);
            }
            protocol::IPCP | protocol::IPV4 => {
                if let Some(ipcp) = self.ipcp.as_mut() {
                    self.ipcp_cause
                        .get_or_insert(DownCause::ProtocolRejected { protocol: rejected });
                    let mut ctx = Ctx {
                        now,
                        timer: &mut self.timers.0[Timer::IpcpRestart as usize],
                        tx: &mut self.tx,
                    };
                    ipcp.catastrophic_reject(&mut ctx);
                } else {
                    // Rejected before we ever ran it: there is no network protocol to run.
                    self.close_with(now, DownCause::ProtocolRejected { protocol: rejected });
                }
            }
            protocol::PAP | protocol::CHAP if self.phase == Phase::Authenticate => {
                self.close_with(now, DownCause::AuthRefused);
            }
            _ => {}
        }
    }

    fn echo_tick(&mut self, now: Instant) {
        if self.lcp.state() != State::Opened || !self.echo_enabled {
            return;
        }
        let Some(interval) = self.cfg.lcp.echo_interval else {
            return;
        };
        if self.echo_outstanding >= self.cfg.lcp.echo_failure_limit.max(1) {
            self.close_with(now, DownCause::EchoTimeout);
            return;
        }
        let magic = self.lcp.neg.negotiated().magic;
        let id = self.lcp.alloc_id();
        let mut ctx = Ctx {
            now,
            timer: &mut None,
            tx: &mut self.tx,
        };
        self.lcp.send(
            &mut ctx,
            lcp::code::ECHO_REQUEST,
            id,
            &lcp::echo_data(magic, &[]),
        );
        self.counters.echo_requests_sent += 1;
        self.echo_outstanding += 1;
        self.timers.set(Timer::Echo, now + interval);
    }

    fn close_with(&mut self, now: Instant, cause: DownCause) {
        let reason = cause.to_string();
        self.down_cause.get_or_insert(cause);
        let (lcp, mut ctx) = self.lcp_ctx(now);
        lcp.close(&mut ctx, reason.as_bytes());
    }

    /// LCP reached Opened: record it and announce it.
    fn lcp_opened(&mut self, now: Instant) {
        let neg = self.lcp.neg.negotiated();
        self.lcp.set_peer_mru(neg.peer_mru);
        self.echo_outstanding = 0;
        if let (Some(interval), true) = (self.cfg.lcp.echo_interval, self.echo_enabled) {
            self.timers.set(Timer::Echo, now + interval);
        }
        self.phase = Phase::Authenticate;
        self.events.push_back(Event::LinkUp(neg));
    }

    /// Enters the Authenticate phase: with `step` already decided (proxy), or by starting the
    /// negotiated protocol.
    fn enter_authenticate(&mut self, now: Instant, step: Option<AuthStep>) {
        self.phase = Phase::Authenticate;
        self.timers
            .set(Timer::AuthDeadline, now + self.cfg.auth_timeout);
        let step = match step {
            Some(s) => s,
            None => {
                let proto = self.lcp.neg.negotiated().auth;
                let mut ctx = Ctx {
                    now,
                    timer: &mut self.timers.0[Timer::AuthRetransmit as usize],
                    tx: &mut self.tx,
                };
                match &mut self.role {
                    RoleState::Server { auth, .. } => auth.start(&mut ctx, &mut self.rng, proto),
                    RoleState::Client { auth, .. } => auth.start(&mut ctx, &mut self.rng, proto),
                }
            }
        };
        self.auth_step(now, step);
    }

    fn auth_step(&mut self, now: Instant, step: AuthStep) {
        match step {
            AuthStep::Nothing => {}
            AuthStep::Discarded(why) => {
                self.counters.discarded += 1;
                tracing::trace!(why, "authentication packet discarded");
            }
            AuthStep::Request(req) => {
                tracing::debug!(name = %req.name_lossy(), protocol = ?req.protocol, proxied = req.proxied, "peer presented credentials");
                self.events.push_back(Event::AuthRequest(req));
            }
            AuthStep::Succeeded => {
                if self.phase != Phase::Authenticate {
                    // A verdict repeated after a rechallenge; the network is already up.
                    return;
                }
                self.timers.clear(Timer::AuthDeadline);
                self.timers.clear(Timer::AuthRetransmit);
                let protocol = self.lcp.neg.negotiated().auth;
                let (name, message) = match &self.role {
                    RoleState::Server { auth, .. } => (
                        auth.presented()
                            .map(|(_, r)| r.name.clone())
                            .unwrap_or_default(),
                        Vec::new(),
                    ),
                    RoleState::Client { auth, name, .. } => {
                        (name.clone(), auth.last_message.clone())
                    }
                };
                self.events.push_back(Event::Authenticated {
                    protocol,
                    name,
                    message,
                });
                self.enter_network(now);
            }
            AuthStep::Failed(cause) => {
                if let RoleState::Server { auth, .. } = &self.role
                    && let Some((_, req)) = auth.presented()
                {
                    // Never the password: only who and why.
                    tracing::info!(name = %req.name_lossy(), cause = %cause, "authentication failed");
                }
                self.timers.clear(Timer::AuthRetransmit);
                self.close_with(now, cause);
            }
        }
    }

    fn enter_network(&mut self, now: Instant) {
        let neg = match &self.role {
            RoleState::Server {
                assignment: Some(a),
                ..
            } => IpcpNegotiator::server(*a),
            RoleState::Server {
                assignment: None, ..
            } => {
                // answer_auth always stores the assignment before success; defensive.
                self.close_with(
                    now,
                    DownCause::NegotiationFailed {
                        protocol: protocol::IPCP,
                        reason: "no address assignment",
                    },
                );
                return;
            }
            RoleState::Client { ipcp, .. } => IpcpNegotiator::client(*ipcp),
        };
        self.phase = Phase::Network;
        self.ipcp_cause = None;
        let first_id = self.rng.next_u32() as u8;
        let mut ipcp = Fsm::new(protocol::IPCP, self.cfg.lcp.negotiation, neg, first_id);
        ipcp.set_peer_mru(self.lcp.neg.negotiated().peer_mru);
        let mut ctx = Ctx {
            now,
            timer: &mut self.timers.0[Timer::IpcpRestart as usize],
            tx: &mut self.tx,
        };
        ipcp.up(&mut ctx);
        ipcp.open(&mut ctx);
        self.ipcp = Some(ipcp);
    }

    /// Applies the layer actions and fatal conditions the automatons produced, until none remain.
    fn process(&mut self, now: Instant) {
        loop {
            if let Some(cause) = self.lcp.neg.fatal.take() {
                self.close_with(now, cause);
                continue;
            }
            if let Some(cause) = self.ipcp.as_mut().and_then(|i| i.neg.fatal.take()) {
                self.close_with(now, cause);
                continue;
            }
            if let Some(ev) = self.lcp.take_layer_event() {
                self.lcp_layer(now, ev);
                continue;
            }
            if let Some(ev) = self.ipcp.as_mut().and_then(|i| i.take_layer_event()) {
                self.ipcp_layer(now, ev);
                continue;
            }
            break;
        }
        // A close before LCP ever opened has no This-Layer-Down to move the phase.
        let terminating = matches!(self.lcp.state(), State::Closing | State::Stopping);
        if terminating
            && matches!(
                self.phase,
                Phase::Establish | Phase::Authenticate | Phase::Network
            )
        {
            self.phase = Phase::Terminate;
        }
    }

    fn lcp_layer(&mut self, now: Instant, ev: LayerEvent) {
        match ev {
            LayerEvent::Up => {
                self.lcp_opened(now);
                self.enter_authenticate(now, None);
            }
            LayerEvent::Down => {
                // RFC 1661 §3.2: leaving Opened takes authentication and the NCPs down with it.
                self.network_down();
                self.ipcp = None;
                for t in [
                    Timer::IpcpRestart,
                    Timer::AuthRetransmit,
                    Timer::AuthDeadline,
                    Timer::Echo,
                ] {
                    self.timers.clear(t);
                }
                match &mut self.role {
                    RoleState::Server {
                        auth, assignment, ..
                    } => {
                        auth.reset();
                        *assignment = None;
                    }
                    RoleState::Client { auth, .. } => auth.reset(),
                }
                self.phase = match self.lcp.state() {
                    State::Closing | State::Stopping => Phase::Terminate,
                    _ => Phase::Establish,
                };
            }
            LayerEvent::Started => {}
            LayerEvent::Finished => {
                let cause = self
                    .down_cause
                    .take()
                    .unwrap_or(DownCause::NegotiationTimeout {
                        protocol: protocol::LCP,
                    });
                self.finish(cause);
            }
        }
    }

    fn ipcp_layer(&mut self, now: Instant, ev: LayerEvent) {
        match ev {
            LayerEvent::Up => {
                if let Some(ipcp) = self.ipcp.as_mut() {
                    ipcp.neg.check_opened();
                    if ipcp.neg.fatal.is_some() {
                        return;
                    }
                    let info = ipcp.neg.network();
                    self.network_up = true;
                    self.events.push_back(Event::NetworkUp(info));
                }
            }
            LayerEvent::Down => self.network_down(),
            LayerEvent::Started => {}
            LayerEvent::Finished => {
                // pppd's rule: with no network protocol left, the link has no purpose.
                let cause = self
                    .ipcp_cause
                    .take()
                    .unwrap_or(DownCause::NegotiationTimeout {
                        protocol: protocol::IPCP,
                    });
                self.close_with(now, cause);
            }
        }
    }

    fn network_down(&mut self) {
        if self.network_up {
            self.network_up = false;
            self.events.push_back(Event::NetworkDown);
        }
    }

    fn finish(&mut self, cause: DownCause) {
        if self.phase == Phase::Dead {
            return;
        }
        self.network_down();
        self.phase = Phase::Dead;
        self.timers = TimerTable::default();
        self.ipcp = None;
        self.events.push_back(Event::LinkDown(cause));
    }
}
