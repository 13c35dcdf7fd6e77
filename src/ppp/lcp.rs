//! LCP: the Link Control Protocol's codes and options (RFC 1661 §5, §6), and the LCP option set
//! plugged into the shared automaton.
//!
//! Owns: the LCP option codec (MRU, ACCM, Authentication-Protocol, Quality-Protocol, Magic-Number,
//! PFC, ACFC), the policy deciding how each option is acknowledged, Naked or Rejected in either
//! role, and the values negotiated. Must not touch: the automaton (`fsm`), Echo/Discard/
//! Protocol-Reject handling and phases (`link`).

use std::time::Duration;

use rand::RngCore;
use rand::rngs::StdRng;

use super::Error;
use super::frame::protocol;
use super::fsm::{NegotiationConfig, Negotiator, Verdict};
use super::link::DownCause;
use super::packet::{RawOption, options, parse_options};

/// LCP codes beyond the common ones of [`super::fsm::code`] (RFC 1661 §5.7-5.9, RFC 1570 §2).
pub mod code {
    /// Protocol-Reject (RFC 1661 §5.7).
    pub const PROTOCOL_REJECT: u8 = 8;
    /// Echo-Request (RFC 1661 §5.8).
    pub const ECHO_REQUEST: u8 = 9;
    /// Echo-Reply (RFC 1661 §5.8).
    pub const ECHO_REPLY: u8 = 10;
    /// Discard-Request (RFC 1661 §5.9).
    pub const DISCARD_REQUEST: u8 = 11;
    /// Identification (RFC 1570 §2.1): informational, accepted and ignored.
    pub const IDENTIFICATION: u8 = 12;
    /// Time-Remaining (RFC 1570 §2.2): informational, accepted and ignored.
    pub const TIME_REMAINING: u8 = 13;
}

/// LCP option types (RFC 1661 §6 and the IANA LCP option registry).
pub mod option {
    /// Maximum-Receive-Unit (RFC 1661 §6.1).
    pub const MRU: u8 = 1;
    /// Async-Control-Character-Map (RFC 1662 §7.1).
    pub const ACCM: u8 = 2;
    /// Authentication-Protocol (RFC 1661 §6.2).
    pub const AUTH_PROTOCOL: u8 = 3;
    /// Quality-Protocol (RFC 1661 §6.3).
    pub const QUALITY_PROTOCOL: u8 = 4;
    /// Magic-Number (RFC 1661 §6.4).
    pub const MAGIC_NUMBER: u8 = 5;
    /// Protocol-Field-Compression (RFC 1661 §6.5).
    pub const PFC: u8 = 7;
    /// Address-and-Control-Field-Compression (RFC 1661 §6.6).
    pub const ACFC: u8 = 8;
}

/// The default MRU when none is negotiated (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;

/// CHAP algorithm number for MD5 (RFC 1994 §3).
pub const CHAP_ALGORITHM_MD5: u8 = 5;

/// The authentication protocols the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    /// PAP (RFC 1334).
    Pap,
    /// CHAP with MD5 (RFC 1994).
    ChapMd5,
}

impl AuthProtocol {
    /// Recognises the Authentication-Protocol option data (protocol and algorithm octets).
    pub fn from_option(protocol_number: u16, data: &[u8]) -> Option<Self> {
        match (protocol_number, data) {
            (protocol::PAP, []) => Some(Self::Pap),
            (protocol::CHAP, [CHAP_ALGORITHM_MD5]) => Some(Self::ChapMd5),
            _ => None,
        }
    }

    /// The PPP protocol number carrying this authentication.
    pub fn protocol_number(self) -> u16 {
        match self {
            Self::Pap => protocol::PAP,
            Self::ChapMd5 => protocol::CHAP,
        }
    }

    /// The option's Data field: the protocol and, for CHAP, the algorithm (RFC 1661 §6.2,
    /// RFC 1994 §3).
    pub fn option_data(self) -> Vec<u8> {
        let mut out = self.protocol_number().to_be_bytes().to_vec();
        if self == Self::ChapMd5 {
            out.push(CHAP_ALGORITHM_MD5);
        }
        out
    }
}

/// One LCP configuration option, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcpOption<'a> {
    /// Maximum-Receive-Unit.
    Mru(u16),
    /// Async-Control-Character-Map.
    Accm(u32),
    /// Authentication-Protocol: protocol number and the rest of the data (CHAP algorithm...).
    AuthProtocol {
        /// The authentication protocol number.
        protocol: u16,
        /// Protocol-specific data after it.
        data: &'a [u8],
    },
    /// Quality-Protocol: protocol number and data.
    QualityProtocol {
        /// The quality protocol number.
        protocol: u16,
        /// Protocol-specific data.
        data: &'a [u8],
    },
    /// Magic-Number.
    MagicNumber(u32),
    /// Protocol-Field-Compression.
    Pfc,
    /// Address-and-Control-Field-Compression.
    Acfc,
    /// Any other option type, kept raw.
    Unknown(RawOption<'a>),
}

impl<'a> LcpOption<'a> {
    /// Interprets a raw option. A known type with the wrong length is an error.
    pub fn parse(raw: RawOption<'a>) -> Result<Self, Error> {
        let bad = || Error::BadOptionLength {
            kind: raw.kind,
            length: raw.raw.len(),
            available: raw.raw.len(),
        };
        let d = raw.data;
        Ok(match raw.kind {
            option::MRU => match d {
                [a, b] => Self::Mru(u16::from_be_bytes([*a, *b])),
                _ => return Err(bad()),
            },
            option::ACCM => match d {
                [a, b, c, e] => Self::Accm(u32::from_be_bytes([*a, *b, *c, *e])),
                _ => return Err(bad()),
            },
            option::AUTH_PROTOCOL => match d {
                [a, b, rest @ ..] => Self::AuthProtocol {
                    protocol: u16::from_be_bytes([*a, *b]),
                    data: rest,
                },
                _ => return Err(bad()),
            },
            option::QUALITY_PROTOCOL => match d {
                [a, b, rest @ ..] => Self::QualityProtocol {
                    protocol: u16::from_be_bytes([*a, *b]),
                    data: rest,
                },
                _ => return Err(bad()),
            },
            option::MAGIC_NUMBER => match d {
                [a, b, c, e] => Self::MagicNumber(u32::from_be_bytes([*a, *b, *c, *e])),
                _ => return Err(bad()),
            },
            option::PFC if d.is_empty() => Self::Pfc,
            option::ACFC if d.is_empty() => Self::Acfc,
            option::PFC | option::ACFC => return Err(bad()),
            _ => Self::Unknown(raw),
        })
    }

    /// Appends the option in wire form.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match *self {
            Self::Mru(v) => RawOption::emit(option::MRU, &v.to_be_bytes(), out),
            Self::Accm(v) => RawOption::emit(option::ACCM, &v.to_be_bytes(), out),
            Self::AuthProtocol { protocol, data } => {
                let mut d = protocol.to_be_bytes().to_vec();
                d.extend_from_slice(data);
                RawOption::emit(option::AUTH_PROTOCOL, &d, out)
            }
            Self::QualityProtocol { protocol, data } => {
                let mut d = protocol.to_be_bytes().to_vec();
                d.extend_from_slice(data);
                RawOption::emit(option::QUALITY_PROTOCOL, &d, out)
            }
            Self::MagicNumber(v) => RawOption::emit(option::MAGIC_NUMBER, &v.to_be_bytes(), out),
            Self::Pfc => RawOption::emit(option::PFC, &[], out),
            Self::Acfc => RawOption::emit(option::ACFC, &[], out),
            Self::Unknown(raw) => RawOption::emit(raw.kind, raw.data, out),
        }
    }
}

/// LCP policy and timers for one link.
///
/// The defaults ([`LcpConfig::for_l2tp`]) suit a synchronous link carried by L2TP; use
/// [`LcpConfig::for_pppoe`] for PPPoE, which RFC 2516 §7 constrains further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcpConfig {
    /// Restart timer and counters (RFC 1661 §4.6), also used by IPCP and the authentication
    /// retransmissions.
    pub negotiation: NegotiationConfig,
    /// The MRU we ask the peer to respect. Requested only when it differs from the RFC 1661 §6.1
    /// default of 1500.
    pub mru: u16,
    /// The smallest MRU we accept from the peer; smaller ones are Naked up to it.
    pub min_peer_mru: u16,
    /// The largest MRU we accept from the peer; larger ones are Naked down to it (RFC 2516 §7
    /// caps PPPoE at 1492).
    pub max_peer_mru: u16,
    /// Whether we request a Magic-Number (loop detection, RFC 1661 §6.4).
    pub magic_number: bool,
    /// Acknowledge the peer's ACCM. Its value is meaningless on a synchronous link (RFC 1662 §7.1)
    /// and ignored; RFC 2516 §7 requires PPPoE to reject it.
    pub accept_accm: bool,
    /// Acknowledge the peer's PFC. We never compress what we send, so this costs nothing.
    pub accept_pfc: bool,
    /// Acknowledge the peer's ACFC. We never compress what we send; RFC 2516 §7 requires PPPoE to
    /// reject it.
    pub accept_acfc: bool,
    /// Ask the peer for PFC, allowing it to send one-octet Protocol fields to us.
    pub request_pfc: bool,
    /// Ask the peer for ACFC, allowing it to omit `FF 03` towards us.
    pub request_acfc: bool,
    /// Interval between LCP Echo-Requests once LCP is open; `None` disables the keepalive.
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests after which the peer is declared dead and the link closed.
    pub echo_failure_limit: u32,
}

impl LcpConfig {
    /// The smallest MRU ever acknowledged, whatever the configuration: the IPv4 minimum datagram.
    pub const ABSOLUTE_MIN_MRU: u16 = 576;
    /// Default keepalive interval.
    pub const DEFAULT_ECHO_INTERVAL: Duration = Duration::from_secs(30);
    /// Default number of unanswered Echo-Requests before the link is declared dead.
    pub const DEFAULT_ECHO_FAILURE_LIMIT: u32 = 4;

    /// Defaults for PPP over L2TP: MRU 1500, ACCM/PFC/ACFC acknowledged (harmless on a
    /// synchronous link, expected by dial-in clients), keepalive every 30 s, dead after 4 misses.
    pub fn for_l2tp() -> Self {
        Self {
            negotiation: NegotiationConfig::default(),
            mru: DEFAULT_MRU,
            min_peer_mru: Self::ABSOLUTE_MIN_MRU,
            max_peer_mru: u16::MAX,
            magic_number: true,
            accept_accm: true,
            accept_pfc: true,
            accept_acfc: true,
            request_pfc: false,
            request_acfc: false,
            echo_interval: Some(Self::DEFAULT_ECHO_INTERVAL),
            echo_failure_limit: Self::DEFAULT_ECHO_FAILURE_LIMIT,
        }
    }

    /// Defaults for PPPoE (RFC 2516 §7): MRU 1492 both ways, ACCM and ACFC rejected, PFC rejected
    /// (NOT RECOMMENDED there, and it keeps the fast path to one frame shape).
    pub fn for_pppoe() -> Self {
        Self {
            mru: 1492,
            max_peer_mru: 1492,
            accept_accm: false,
            accept_pfc: false,
            accept_acfc: false,
            ..Self::for_l2tp()
        }
    }
}

impl Default for LcpConfig {
    fn default() -> Self {
        Self::for_l2tp()
    }
}

/// Which side of authentication this link is on, as LCP sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LcpRole {
    /// We demand authentication with one of these, in order of preference (empty: none).
    Authenticator { protocols: Vec<AuthProtocol> },
    /// We authenticate ourselves with whichever of these the peer asks for.
    Authenticatee { pap: bool, chap: bool },
}

/// What LCP settled on, readable once LCP is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcpNegotiated {
    /// The MRU the peer acknowledged for us (frames it may send us), 1500 if not negotiated.
    pub mru: u16,
    /// The peer's MRU as we acknowledged it: the largest packet we may send.
    pub peer_mru: u16,
    /// Our Magic-Number, 0 when not negotiated.
    pub magic: u32,
    /// The peer's Magic-Number, 0 when not negotiated.
    pub peer_magic: u32,
    /// The protocol by which the client authenticates to the server, if any.
    pub auth: Option<AuthProtocol>,
    /// The peer accepts compressed Protocol fields from us (it requested PFC).
    pub peer_accepts_pfc: bool,
    /// The peer accepts frames without `FF 03` from us (it requested ACFC).
    pub peer_accepts_acfc: bool,
    /// We accept compressed Protocol fields from the peer (our PFC was acknowledged).
    pub accepts_pfc: bool,
    /// We accept frames without `FF 03` from the peer (our ACFC was acknowledged).
    pub accepts_acfc: bool,
}

/// The peer's side of LCP: what we acknowledged in its Configure-Request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PeerWishes {
    mru: Option<u16>,
    magic: Option<u32>,
    auth: Option<AuthProtocol>,
    pfc: bool,
    acfc: bool,
}

/// Our side: what we ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct OurWishes {
    mru: Option<u16>,
    magic: Option<u32>,
    auth: Option<AuthProtocol>,
    pfc: bool,
    acfc: bool,
}

/// Naks of our Magic-Number tolerated before declaring the link looped back (pppd's default).
const LOOPBACK_LIMIT: u32 = 10;

/// The LCP option set for the automaton.
#[derive(Debug, Clone)]
pub(crate) struct LcpNegotiator {
    cfg: LcpConfig,
    role: LcpRole,
    rng: StdRng,
    want: OurWishes,
    /// Authentication protocols already refused by the peer in this negotiation.
    auth_refused: Vec<AuthProtocol>,
    acked: OurWishes,
    peer: PeerWishes,
    loops: u32,
    /// Set when negotiation cannot succeed; the link closes with it.
    pub fatal: Option<DownCause>,
    /// The first Configure-Request ever received (RFC 2661 §4.4.5 Initial Received LCP CONFREQ).
    pub initial_peer_request: Option<Vec<u8>>,
    /// The last Configure-Request we acknowledged (Last Received LCP CONFREQ).
    pub last_acked_peer_request: Option<Vec<u8>>,
}

impl LcpNegotiator {
    pub fn new(cfg: LcpConfig, role: LcpRole, rng: StdRng) -> Self {
        let mut n = Self {
            cfg,
            role,
            rng,
            want: OurWishes::default(),
            auth_refused: Vec::new(),
            acked: OurWishes::default(),
            peer: PeerWishes::default(),
            loops: 0,
            fatal: None,
            initial_peer_request: None,
            last_acked_peer_request: None,
        };
        n.reset();
        n
    }

    fn new_magic(&mut self, avoid: u32) -> u32 {
        loop {
            let m = self.rng.next_u32();
            if m != 0 && m != avoid {
                return m;
            }
        }
    }

    /// The values in force, meaningful once LCP is open.
    pub fn negotiated(&self) -> LcpNegotiated {
        let auth = match self.role {
            LcpRole::Authenticator { .. } => self.acked.auth,
            LcpRole::Authenticatee { .. } => self.peer.auth,
        };
        LcpNegotiated {
            mru: self.acked.mru.unwrap_or(DEFAULT_MRU),
            peer_mru: self.peer.mru.unwrap_or(DEFAULT_MRU),
            magic: self.acked.magic.unwrap_or(0),
            peer_magic: self.peer.magic.unwrap_or(0),
            auth,
            peer_accepts_pfc: self.peer.pfc,
            peer_accepts_acfc: self.peer.acfc,
            accepts_pfc: self.acked.pfc,
            accepts_acfc: self.acked.acfc,
        }
    }

    /// Judges a peer request without committing anything. Returns the verdict and, for an Ack,
    /// what the peer asked for.
    fn evaluate(
        &mut self,
        opts: &[u8],
        naks_exhausted: bool,
    ) -> Result<(Verdict, PeerWishes), Error> {
        let raw = parse_options(opts)?;
        let mut wishes = PeerWishes::default();
        let mut nak = Vec::new();
        let mut reject = Vec::new();
        for o in raw {
            let parsed = match LcpOption::parse(o) {
                Ok(p) => p,
                Err(_) => {
                    // A known option with a wrong length cannot be understood: reject it.
                    reject.extend_from_slice(o.raw);
                    continue;
                }
            };
            // Each arm: Ok(()) to acknowledge, Err(Some(nak option)) to Nak, Err(None) to reject.
            let outcome: Result<(), Option<LcpOption<'_>>> = match parsed {
                LcpOption::Mru(v) => {
                    if v < self.cfg.min_peer_mru {
                        Err(Some(LcpOption::Mru(self.cfg.min_peer_mru)))
                    } else if v > self.cfg.max_peer_mru {
                        Err(Some(LcpOption::Mru(self.cfg.max_peer_mru)))
                    } else {
                        wishes.mru = Some(v);
                        Ok(())
                    }
                }
                LcpOption::Accm(_) if self.cfg.accept_accm => Ok(()),
                LcpOption::Pfc if self.cfg.accept_pfc => {
                    wishes.pfc = true;
                    Ok(())
                }
                LcpOption::Acfc if self.cfg.accept_acfc => {
                    wishes.acfc = true;
                    Ok(())
                }
                LcpOption::MagicNumber(v) => {
                    let ours = self.want.magic.unwrap_or(0);
                    if self.want.magic.is_some() && v == ours {
                        // RFC 1661 §6.4: possibly looped back; "a Configure-Nak MUST be sent
                        // specifying a different Magic-Number value". Never rejected while we
                        // use Magic-Numbers ourselves, even past Max-Failure.
                        let suggestion = self.new_magic(ours);
                        nak_always(&mut nak, LcpOption::MagicNumber(suggestion));
                        continue;
                    }
                    wishes.magic = Some(v);
                    Ok(())
                }
                LcpOption::AuthProtocol { protocol, data } => match &self.role {
                    // The server does not authenticate itself to subscribers.
                    LcpRole::Authenticator { .. } => Err(None),
                    LcpRole::Authenticatee { pap, chap } => {
                        match AuthProtocol::from_option(protocol, data) {
                            Some(AuthProtocol::Pap) if *pap => {
                                wishes.auth = Some(AuthProtocol::Pap);
                                Ok(())
                            }
                            Some(AuthProtocol::ChapMd5) if *chap => {
                                wishes.auth = Some(AuthProtocol::ChapMd5);
                                Ok(())
                            }
                            // RFC 1661 §6.2: Nak with the protocol we would rather use.
                            _ if *chap => Err(Some(LcpOption::AuthProtocol {
                                protocol: protocol::CHAP,
                                data: &[CHAP_ALGORITHM_MD5],
                            })),
                            _ if *pap => Err(Some(LcpOption::AuthProtocol {
                                protocol: protocol::PAP,
                                data: &[],
                            })),
                            _ => Err(None),
                        }
                    }
                },
                LcpOption::Accm(_)
                | LcpOption::Pfc
                | LcpOption::Acfc
                | LcpOption::QualityProtocol { .. }
                | LcpOption::Unknown(_) => Err(None),
            };
            match outcome {
                Ok(()) => {}
                Err(Some(suggestion)) if !naks_exhausted => {
                    // Cannot fail: suggestions are small fixed-size options.
                    let _ = suggestion.emit(&mut nak);
                }
                Err(_) => reject.extend_from_slice(o.raw),
            }
        }
        // RFC 1661 §5.4: Reject takes precedence over Nak, and carries only the rejected options.
        let verdict = if !reject.is_empty() {
            Verdict::Reject(reject)
        } else if !nak.is_empty() {
            Verdict::Nak(nak)
        } else {
            Verdict::Ack
        };
        Ok((verdict, wishes))
    }

    /// Whether `opts`, a Configure-Request from the peer, would be acknowledged unchanged.
    pub fn would_ack(&mut self, opts: &[u8]) -> bool {
        matches!(self.evaluate(opts, false), Ok((Verdict::Ack, _)))
    }

    /// Takes over a negotiation that happened elsewhere (proxy LCP, RFC 2661 §4.4.5): `ours` is the
    /// request acknowledged by the peer on our behalf, `peers` the peer's request acknowledged.
    /// Both must already have been checked by the caller.
    pub fn adopt(&mut self, ours: &[u8], peers: &[u8]) -> Result<(), Error> {
        let (_, wishes) = self.evaluate(peers, false)?;
        self.peer = wishes;
        self.want = OurWishes::default();
        for o in parse_options(ours)? {
            match LcpOption::parse(o)? {
                LcpOption::Mru(v) => self.want.mru = Some(v),
                LcpOption::MagicNumber(v) => self.want.magic = Some(v),
                LcpOption::AuthProtocol { protocol, data } => {
                    self.want.auth = AuthProtocol::from_option(protocol, data)
                }
                LcpOption::Pfc => self.want.pfc = true,
                LcpOption::Acfc => self.want.acfc = true,
                _ => {}
            }
        }
        self.acked = self.want;
        self.last_acked_peer_request = Some(peers.to_vec());
        Ok(())
    }
}

/// Appends a Nak suggestion that Max-Failure must not turn into a Reject.
fn nak_always(nak: &mut Vec<u8>, option: LcpOption<'_>) {
    let _ = option.emit(nak);
}

impl Negotiator for LcpNegotiator {
    fn reset(&mut self) {
        let magic = if self.cfg.magic_number {
            Some(self.new_magic(0))
        } else {
            None
        };
        let auth = match &self.role {
            LcpRole::Authenticator { protocols } => protocols.first().copied(),
            LcpRole::Authenticatee { .. } => None,
        };
        self.want = OurWishes {
            mru: (self.cfg.mru != DEFAULT_MRU).then_some(self.cfg.mru),
            magic,
            auth,
            pfc: self.cfg.request_pfc,
            acfc: self.cfg.request_acfc,
        };
        self.auth_refused.clear();
        self.acked = OurWishes::default();
        self.peer = PeerWishes::default();
    }

    fn request(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let w = self.want;
        if let Some(mru) = w.mru {
            let _ = LcpOption::Mru(mru).emit(&mut out);
        }
        if let Some(auth) = w.auth {
            let data = auth.option_data();
            let _ = RawOption::emit(option::AUTH_PROTOCOL, &data, &mut out);
        }
        if let Some(magic) = w.magic {
            let _ = LcpOption::MagicNumber(magic).emit(&mut out);
        }
        if w.pfc {
            let _ = LcpOption::Pfc.emit(&mut out);
        }
        if w.acfc {
            let _ = LcpOption::Acfc.emit(&mut out);
        }
        out
    }

    fn check_request(&mut self, opts: &[u8], naks_exhausted: bool) -> Result<Verdict, Error> {
        let (verdict, wishes) = self.evaluate(opts, naks_exhausted)?;
        if self.initial_peer_request.is_none() {
            self.initial_peer_request = Some(opts.to_vec());
        }
        if verdict == Verdict::Ack {
            self.peer = wishes;
            self.last_acked_peer_request = Some(opts.to_vec());
        }
        Ok(verdict)
    }

    fn ack_received(&mut self, _opts: &[u8]) {
        self.acked = self.want;
    }

    fn nak_received(&mut self, opts: &[u8]) -> Result<(), Error> {
        for o in options(opts) {
            let o = o?;
            // A Nak may carry options we did not request (hints); unknown or malformed hints are
            // ignored rather than failing the whole packet.
            let Ok(parsed) = LcpOption::parse(o) else {
                continue;
            };
            match parsed {
                // Adopt a smaller MRU (we can always receive less); a larger one than we can take
                // is ignored and our value requested again until the peer rejects it.
                LcpOption::Mru(v) if (self.cfg.min_peer_mru..=self.cfg.mru).contains(&v) => {
                    self.want.mru = Some(v);
                }
                LcpOption::MagicNumber(_) if self.want.magic.is_some() => {
                    // RFC 1661 §6.4: a Nak of our Magic-Number means a new one "MUST be chosen".
                    self.loops += 1;
                    if self.loops >= LOOPBACK_LIMIT {
                        self.fatal = Some(DownCause::LoopbackDetected);
                    }
                    let old = self.want.magic.unwrap_or(0);
                    self.want.magic = Some(self.new_magic(old));
                }
                LcpOption::AuthProtocol { protocol, data } => {
                    let LcpRole::Authenticator { protocols } = &self.role else {
                        continue;
                    };
                    let Some(current) = self.want.auth else {
                        continue;
                    };
                    self.auth_refused.push(current);
                    let suggested = AuthProtocol::from_option(protocol, data)
                        .filter(|p| protocols.contains(p) && !self.auth_refused.contains(p));
                    let next = suggested.or_else(|| {
                        protocols
                            .iter()
                            .copied()
                            .find(|p| !self.auth_refused.contains(p))
                    });
                    match next {
                        Some(p) => self.want.auth = Some(p),
                        None => self.fatal = Some(DownCause::AuthRefused),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn reject_received(&mut self, opts: &[u8]) -> Result<(), Error> {
        for o in options(opts) {
            let o = o?;
            match o.kind {
                option::MRU => self.want.mru = None,
                // RFC 1661 §6.4: a rejected Magic-Number proves the link is not looped back.
                option::MAGIC_NUMBER => self.want.magic = None,
                option::PFC => self.want.pfc = false,
                option::ACFC => self.want.acfc = false,
                option::AUTH_PROTOCOL => {
                    // The peer will not authenticate: the authenticator cannot go on.
                    if matches!(self.role, LcpRole::Authenticator { .. }) {
                        self.fatal = Some(DownCause::AuthRefused);
                    }
                    self.want.auth = None;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Echo-Request/Echo-Reply/Discard-Request data: Magic-Number then arbitrary data (RFC 1661 §5.8).
pub fn echo_data(magic: u32, data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// Splits Echo/Discard data into its Magic-Number and the rest.
pub fn parse_echo(data: &[u8]) -> Result<(u32, &[u8]), Error> {
    match data {
        [a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => Err(Error::Truncated {
            what: "LCP echo Magic-Number",
            need: 4,
            have: data.len(),
        }),
    }
}

/// Splits Protocol-Reject data into the rejected protocol and the rejected information
/// (RFC 1661 §5.7).
pub fn parse_protocol_reject(data: &[u8]) -> Result<(u16, &[u8]), Error> {
    match data {
        [a, b, rest @ ..] => Ok((u16::from_be_bytes([*a, *b]), rest)),
        _ => Err(Error::Truncated {
            what: "Protocol-Reject rejected protocol",
            need: 2,
            have: data.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn neg(role: LcpRole, cfg: LcpConfig) -> LcpNegotiator {
        LcpNegotiator::new(cfg, role, StdRng::seed_from_u64(7))
    }

    fn server() -> LcpNegotiator {
        neg(
            LcpRole::Authenticator {
                protocols: vec![AuthProtocol::ChapMd5, AuthProtocol::Pap],
            },
            LcpConfig::for_l2tp(),
        )
    }

    fn client() -> LcpNegotiator {
        neg(
            LcpRole::Authenticatee {
                pap: true,
                chap: true,
            },
            LcpConfig::for_l2tp(),
        )
    }

    #[test]
    fn option_vectors_roundtrip() {
        let cases: &[(&[u8], LcpOption<'_>)] = &[
            (&[0x01, 0x04, 0x05, 0xd4], LcpOption::Mru(1492)),
            (&[0x02, 0x06, 0x00, 0x00, 0x00, 0x00], LcpOption::Accm(0)),
            (
                &[0x03, 0x04, 0xc0, 0x23],
                LcpOption::AuthProtocol {
                    protocol: 0xc023,
                    data: &[],
                },
            ),
            (
                &[0x03, 0x05, 0xc2, 0x23, 0x05],
                LcpOption::AuthProtocol {
                    protocol: 0xc223,
                    data: &[5],
                },
            ),
            (
                &[0x04, 0x08, 0xc0, 0x25, 0, 0, 0, 10],
                LcpOption::QualityProtocol {
                    protocol: 0xc025,
                    data: &[0, 0, 0, 10],
                },
            ),
            (
                &[0x05, 0x06, 0x12, 0x34, 0x56, 0x78],
                LcpOption::MagicNumber(0x1234_5678),
            ),
            (&[0x07, 0x02], LcpOption::Pfc),
            (&[0x08, 0x02], LcpOption::Acfc),
        ];
        for (bytes, expected) in cases {
            let raw = options(bytes).next().unwrap().unwrap();
            let parsed = LcpOption::parse(raw).unwrap();
            assert_eq!(&parsed, expected);
            let mut out = Vec::new();
            parsed.emit(&mut out).unwrap();
            assert_eq!(&out, bytes);
        }
        // Unknown options survive verbatim.
        let raw = options(&[0x11, 0x04, 0x05, 0xdc]).next().unwrap().unwrap();
        assert!(matches!(LcpOption::parse(raw), Ok(LcpOption::Unknown(_))));
        // Known options with bad lengths are errors.
        for bad in [
            &[0x01u8, 0x03, 0x05][..],
            &[0x05, 0x04, 0, 0],
            &[0x07, 0x03, 0],
            &[0x03, 0x03, 0xc0],
        ] {
            let raw = options(bad).next().unwrap().unwrap();
            assert!(LcpOption::parse(raw).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn auth_protocol_option_data() {
        assert_eq!(AuthProtocol::Pap.option_data(), vec![0xc0, 0x23]);
        assert_eq!(AuthProtocol::ChapMd5.option_data(), vec![0xc2, 0x23, 0x05]);
        assert_eq!(
            AuthProtocol::from_option(0xc223, &[0x81]),
            None,
            "MS-CHAPv2 is not spoken"
        );
    }

    #[test]
    fn server_request_has_auth_and_magic() {
        let mut s = server();
        let req = s.request();
        let opts: Vec<_> = parse_options(&req)
            .unwrap()
            .into_iter()
            .map(|o| LcpOption::parse(o).unwrap())
            .collect();
        assert_eq!(
            opts[0],
            LcpOption::AuthProtocol {
                protocol: 0xc223,
                data: &[5]
            }
        );
        assert!(matches!(opts[1], LcpOption::MagicNumber(m) if m != 0));
        assert_eq!(opts.len(), 2, "MRU 1500 is the default and not requested");
    }

    #[test]
    fn pppoe_requests_mru_and_rejects_accm_acfc() {
        let mut n = neg(
            LcpRole::Authenticatee {
                pap: true,
                chap: false,
            },
            LcpConfig::for_pppoe(),
        );
        assert_eq!(&n.request()[..4], &[0x01, 0x04, 0x05, 0xd4]);
        let req = [0x02, 0x06, 0, 0, 0, 0, 0x08, 0x02, 0x01, 0x04, 0x05, 0xd4];
        assert_eq!(
            n.check_request(&req, false).unwrap(),
            Verdict::Reject(vec![0x02, 0x06, 0, 0, 0, 0, 0x08, 0x02])
        );
        // An MRU above 1492 is Naked down.
        assert_eq!(
            n.check_request(&[0x01, 0x04, 0x05, 0xdc], false).unwrap(),
            Verdict::Nak(vec![0x01, 0x04, 0x05, 0xd4])
        );
    }

    #[test]
    fn client_naks_unsupported_auth_with_chap_then_pap() {
        let mut c = client();
        // MS-CHAPv2 (algorithm 0x81) is Naked with CHAP-MD5.
        assert_eq!(
            c.check_request(&[0x03, 0x05, 0xc2, 0x23, 0x81], false)
                .unwrap(),
            Verdict::Nak(vec![0x03, 0x05, 0xc2, 0x23, 0x05])
        );
        let mut pap_only = neg(
            LcpRole::Authenticatee {
                pap: true,
                chap: false,
            },
            LcpConfig::for_l2tp(),
        );
        assert_eq!(
            pap_only
                .check_request(&[0x03, 0x05, 0xc2, 0x23, 0x05], false)
                .unwrap(),
            Verdict::Nak(vec![0x03, 0x04, 0xc0, 0x23])
        );
        let mut none = neg(
            LcpRole::Authenticatee {
                pap: false,
                chap: false,
            },
            LcpConfig::for_l2tp(),
        );
        assert_eq!(
            none.check_request(&[0x03, 0x04, 0xc0, 0x23], false)
                .unwrap(),
            Verdict::Reject(vec![0x03, 0x04, 0xc0, 0x23])
        );
        // Past Max-Failure the Nak becomes a Reject.
        assert_eq!(
            c.check_request(&[0x03, 0x05, 0xc2, 0x23, 0x81], true)
                .unwrap(),
            Verdict::Reject(vec![0x03, 0x05, 0xc2, 0x23, 0x81])
        );
    }

    #[test]
    fn server_rejects_auth_requested_by_the_peer() {
        let mut s = server();
        assert_eq!(
            s.check_request(&[0x03, 0x04, 0xc0, 0x23], false).unwrap(),
            Verdict::Reject(vec![0x03, 0x04, 0xc0, 0x23])
        );
    }

    #[test]
    fn magic_collision_is_naked_even_past_max_failure() {
        let mut s = server();
        let req = s.request();
        let magic_opt = &req[req.len() - 6..];
        for exhausted in [false, true] {
            match s.check_request(magic_opt, exhausted).unwrap() {
                Verdict::Nak(n) => {
                    assert_eq!(n[..2], [0x05, 0x06]);
                    assert_ne!(&n[2..], &magic_opt[2..]);
                }
                other => panic!("expected Nak, got {other:?}"),
            }
        }
    }

    #[test]
    fn server_auth_nak_walks_preferences_and_fails_when_exhausted() {
        let mut s = server();
        s.request();
        // The peer prefers PAP.
        s.nak_received(&[0x03, 0x04, 0xc0, 0x23]).unwrap();
        assert_eq!(s.want.auth, Some(AuthProtocol::Pap));
        assert!(s.fatal.is_none());
        // Then Naks PAP with something we do not speak: nothing left.
        s.nak_received(&[0x03, 0x05, 0xc2, 0x23, 0x80]).unwrap();
        assert_eq!(s.fatal, Some(DownCause::AuthRefused));
    }

    #[test]
    fn reject_of_auth_is_fatal_for_the_server_only() {
        let mut s = server();
        s.reject_received(&[0x03, 0x05, 0xc2, 0x23, 0x05]).unwrap();
        assert_eq!(s.fatal, Some(DownCause::AuthRefused));
        let mut c = client();
        c.reject_received(&[0x05, 0x06, 0, 0, 0, 1]).unwrap();
        assert!(c.fatal.is_none());
        assert_eq!(c.want.magic, None);
    }

    #[test]
    fn mru_nak_is_adopted_within_bounds() {
        let mut n = neg(
            LcpRole::Authenticatee {
                pap: true,
                chap: true,
            },
            LcpConfig {
                mru: 1400,
                ..LcpConfig::for_l2tp()
            },
        );
        n.nak_received(&[0x01, 0x04, 0x05, 0x00]).unwrap(); // 1280
        assert_eq!(n.want.mru, Some(1280));
        n.nak_received(&[0x01, 0x04, 0x00, 0x10]).unwrap(); // 16: too small, ignored
        assert_eq!(n.want.mru, Some(1280));
        n.reject_received(&[0x01, 0x04, 0x05, 0x00]).unwrap();
        assert_eq!(n.want.mru, None);
    }

    #[test]
    fn repeated_magic_naks_detect_loopback() {
        let mut c = client();
        for _ in 0..LOOPBACK_LIMIT {
            c.nak_received(&[0x05, 0x06, 0, 0, 0, 9]).unwrap();
        }
        assert_eq!(c.fatal, Some(DownCause::LoopbackDetected));
    }

    #[test]
    fn echo_and_protocol_reject_helpers() {
        assert_eq!(echo_data(0x01020304, b"x"), vec![1, 2, 3, 4, b'x']);
        assert_eq!(
            parse_echo(&[1, 2, 3, 4, 5]).unwrap(),
            (0x01020304, &[5][..])
        );
        assert!(parse_echo(&[1, 2, 3]).is_err());
        assert_eq!(
            parse_protocol_reject(&[0x80, 0x57, 1]).unwrap(),
            (0x8057, &[1][..])
        );
        assert!(parse_protocol_reject(&[0x80]).is_err());
    }
}
