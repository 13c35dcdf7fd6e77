//! Proxy LCP and authentication (RFC 2661 §4.4.5): what a LAC that negotiated LCP and collected
//! credentials hands to the LNS in ICCN, and the rules by which the LNS takes it over.
//!
//! Owns: [`ProxyInfo`] (one field per AVP, types 26 to 33), the Proxy Authen Type values, and the
//! consistency check deciding whether an LNS accepts the proxied LCP and authentication. Must not
//! touch: AVP encoding and hiding (the `wire` module); the link state itself (`link`).
//!
//! # Consistency rules (LNS side)
//!
//! The LNS accepts the proxied LCP, and starts in the Authenticate phase without sending a single
//! LCP packet, when all of these hold; otherwise it renegotiates LCP from scratch (the subscriber
//! sees a Configure-Request and, being in Opened, renegotiates per RFC 1661 §4.1):
//!
//! 1. Last Sent and Last Received LCP CONFREQ are both present and both are well-formed option
//!    lists (Initial Received is informational and not required).
//! 2. Our LCP policy would acknowledge the Last Received CONFREQ (the subscriber's options)
//!    unchanged: MRU within `[min_peer_mru, max_peer_mru]`, no option we would reject (ACCM, PFC,
//!    ACFC as configured; Quality-Protocol, unknown types, an Authentication-Protocol asked of us).
//! 3. The Last Sent CONFREQ (what the LAC asked of the subscriber, which the LNS adopts as its own)
//!    contains only MRU, ACCM, Authentication-Protocol, Magic-Number, PFC and ACFC; its MRU (1500
//!    when absent) does not exceed our `mru`; its Magic-Number differs from the subscriber's.
//! 4. Its Authentication-Protocol is one of our allowed protocols; it is absent only if we allow
//!    none (a subscriber that never authenticated is not let in by an LNS requiring
//!    authentication).
//!
//! When the LCP is accepted, the proxied authentication is accepted too (the application is
//! asked to verify the proxied credentials, and the LNS sends the PAP Ack / CHAP Success with the
//! proxied identifier) when:
//!
//! 5. Proxy Authen Type is present and matches the Authentication-Protocol in Last Sent: 2 (CHAP)
//!    for CHAP-MD5, 3 (PAP) for PAP, 4 (No Authentication) when there is none.
//! 6. The fields RFC 2661 §4.4.5 makes mandatory for the type are present: Name and ID for PAP and
//!    CHAP, Response (the password) for PAP, Challenge and a 16-octet Response for CHAP.
//!
//! Otherwise the LNS keeps the proxied LCP but restarts authentication itself with the negotiated
//! protocol: a fresh CHAP Challenge, or waiting for the subscriber's next PAP retransmission
//! (RFC 2661 §4.4.5: without Proxy Authen Type "a restart of the authentication phase at the LNS"
//! is required).

use std::fmt;

use super::Error;
use super::chap::MD5_RESPONSE_LEN;
use super::lcp::{AuthProtocol, DEFAULT_MRU, LcpConfig, LcpOption};
use super::packet::parse_options;

/// Proxy Authen Type values (RFC 2661 §4.4.5, AVP 29).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyAuthenType {
    /// 0: reserved.
    Reserved,
    /// 1: textual username/password exchange.
    Textual,
    /// 2: PPP CHAP.
    Chap,
    /// 3: PPP PAP.
    Pap,
    /// 4: no authentication.
    NoAuthentication,
    /// 5: Microsoft CHAP version 1.
    MsChapV1,
    /// Any other value.
    Other(u16),
}

impl ProxyAuthenType {
    /// From the AVP value.
    pub fn from_u16(v: u16) -> Self {
        match v {
            0 => Self::Reserved,
            1 => Self::Textual,
            2 => Self::Chap,
            3 => Self::Pap,
            4 => Self::NoAuthentication,
            5 => Self::MsChapV1,
            other => Self::Other(other),
        }
    }

    /// The AVP value.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Reserved => 0,
            Self::Textual => 1,
            Self::Chap => 2,
            Self::Pap => 3,
            Self::NoAuthentication => 4,
            Self::MsChapV1 => 5,
            Self::Other(v) => v,
        }
    }
}

/// The proxy LCP and authentication AVPs of an ICCN (RFC 2661 §4.4.5), one field per AVP; `None`
/// means the AVP is absent. CONFREQ fields hold the Configure-Request body "starting at the first
/// option", exactly as the AVP carries it. `Debug` redacts the response (a PAP password in clear).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyInfo {
    /// Initial Received LCP CONFREQ (AVP 26): the subscriber's first Configure-Request.
    pub initial_received_confreq: Option<Vec<u8>>,
    /// Last Sent LCP CONFREQ (AVP 27): the LAC's Configure-Request the subscriber acknowledged.
    pub last_sent_confreq: Option<Vec<u8>>,
    /// Last Received LCP CONFREQ (AVP 28): the subscriber's Configure-Request the LAC acknowledged.
    pub last_received_confreq: Option<Vec<u8>>,
    /// Proxy Authen Type (AVP 29).
    pub authen_type: Option<ProxyAuthenType>,
    /// Proxy Authen Name (AVP 30): the subscriber's name.
    pub authen_name: Option<Vec<u8>>,
    /// Proxy Authen Challenge (AVP 31): the CHAP challenge value sent by the LAC.
    pub authen_challenge: Option<Vec<u8>>,
    /// Proxy Authen ID (AVP 32): the CHAP Challenge or PAP Authenticate-Request identifier. The
    /// AVP is two octets with the high one zero.
    pub authen_id: Option<u16>,
    /// Proxy Authen Response (AVP 33): the CHAP response value, or the PAP password.
    pub authen_response: Option<Vec<u8>>,
}

impl fmt::Debug for ProxyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyInfo")
            .field(
                "initial_received_confreq",
                &self.initial_received_confreq.as_deref().map(hex::encode),
            )
            .field(
                "last_sent_confreq",
                &self.last_sent_confreq.as_deref().map(hex::encode),
            )
            .field(
                "last_received_confreq",
                &self.last_received_confreq.as_deref().map(hex::encode),
            )
            .field("authen_type", &self.authen_type)
            .field(
                "authen_name",
                &self.authen_name.as_deref().map(String::from_utf8_lossy),
            )
            .field(
                "authen_challenge_len",
                &self.authen_challenge.as_ref().map(Vec::len),
            )
            .field("authen_id", &self.authen_id)
            .field(
                "authen_response",
                &self.authen_response.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why an LNS did not take over the proxied LCP or authentication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyMismatch {
    /// Last Sent or Last Received LCP CONFREQ is absent.
    #[error("proxy LCP AVPs absent")]
    NoProxyLcp,
    /// A proxied CONFREQ does not parse.
    #[error("proxied LCP CONFREQ is malformed: {0}")]
    MalformedConfreq(Error),
    /// Our policy would not acknowledge the subscriber's request as it stands.
    #[error("the subscriber's LCP options are not acceptable to our policy")]
    PeerOptionsUnacceptable,
    /// The LAC's request holds an option we would not have asked for.
    #[error("the LAC's LCP request carries option type {0}, which we do not adopt")]
    UnsupportedOption(u8),
    /// The LAC let the subscriber send frames larger than we take.
    #[error("the LAC granted MRU {granted}, larger than our MRU {ours}")]
    MruTooLarge {
        /// MRU in the LAC's request (1500 when absent).
        granted: u16,
        /// Our configured MRU.
        ours: u16,
    },
    /// Both ends of the proxied LCP claim the same Magic-Number.
    #[error("proxied Magic-Numbers are equal")]
    MagicCollision,
    /// The proxied Authentication-Protocol is not one we allow (or is absent while we require one).
    #[error("proxied authentication protocol {0:?} is not allowed here")]
    AuthProtocolNotAllowed(Option<AuthProtocol>),
    /// No Proxy Authen Type AVP.
    #[error("no Proxy Authen Type: authentication restarts at the LNS")]
    NoProxyAuth,
    /// Proxy Authen Type disagrees with the proxied LCP, or is one we do not verify.
    #[error("Proxy Authen Type {0:?} does not match the negotiated authentication protocol")]
    AuthTypeMismatch(ProxyAuthenType),
    /// A field RFC 2661 §4.4.5 requires for the type is absent or malformed.
    #[error("proxy authentication field missing or malformed: {0}")]
    MissingAuthField(&'static str),
}

/// What an LNS-side link made of a [`ProxyInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyOutcome {
    /// LCP and authentication both taken over: no LCP renegotiation; the application verifies the
    /// proxied credentials.
    Accepted,
    /// LCP taken over; authentication restarted by this link for the given reason.
    LcpOnly(ProxyMismatch),
    /// LCP renegotiated from scratch for the given reason.
    Renegotiated(ProxyMismatch),
}

/// The proxied LCP as the LNS adopts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdoptedLcp {
    pub ours: Vec<u8>,
    pub peers: Vec<u8>,
    pub auth: Option<AuthProtocol>,
}

/// The options of a proxied CONFREQ that the rules look at.
#[derive(Debug, Default)]
struct Summary {
    kinds: Vec<u8>,
    mru: Option<u16>,
    magic: Option<u32>,
    /// `Some(None)`: an Authentication-Protocol we do not speak.
    auth: Option<Option<AuthProtocol>>,
}

fn summarize(bytes: &[u8]) -> Result<Summary, ProxyMismatch> {
    let mut out = Summary::default();
    for raw in parse_options(bytes).map_err(ProxyMismatch::MalformedConfreq)? {
        out.kinds.push(raw.kind);
        match LcpOption::parse(raw).map_err(ProxyMismatch::MalformedConfreq)? {
            LcpOption::Mru(v) => out.mru = Some(v),
            LcpOption::MagicNumber(m) => out.magic = Some(m),
            LcpOption::AuthProtocol { protocol, data } => {
                out.auth = Some(AuthProtocol::from_option(protocol, data))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Rules 1 to 4. `would_ack` is our LCP policy's judgement of the subscriber's request.
pub(crate) fn check_lcp(
    proxy: &ProxyInfo,
    cfg: &LcpConfig,
    allowed: &[AuthProtocol],
    would_ack: impl FnOnce(&[u8]) -> bool,
) -> Result<AdoptedLcp, ProxyMismatch> {
    let (Some(ours), Some(peers)) = (&proxy.last_sent_confreq, &proxy.last_received_confreq) else {
        return Err(ProxyMismatch::NoProxyLcp);
    };
    let our_opts = summarize(ours)?;
    let peer_opts = summarize(peers)?;
    if !would_ack(peers) {
        return Err(ProxyMismatch::PeerOptionsUnacceptable);
    }
    use super::lcp::option;
    if let Some(other) = our_opts.kinds.iter().copied().find(|k| {
        ![
            option::MRU,
            option::ACCM,
            option::AUTH_PROTOCOL,
            option::MAGIC_NUMBER,
            option::PFC,
            option::ACFC,
        ]
        .contains(k)
    }) {
        return Err(ProxyMismatch::UnsupportedOption(other));
    }
    let mru = our_opts.mru.unwrap_or(DEFAULT_MRU);
    if mru > cfg.mru {
        return Err(ProxyMismatch::MruTooLarge {
            granted: mru,
            ours: cfg.mru,
        });
    }
    if our_opts.magic.is_some() && our_opts.magic == peer_opts.magic {
        return Err(ProxyMismatch::MagicCollision);
    }
    let auth = match our_opts.auth {
        Some(Some(p)) if allowed.contains(&p) => Some(p),
        Some(Some(p)) => return Err(ProxyMismatch::AuthProtocolNotAllowed(Some(p))),
        Some(None) => return Err(ProxyMismatch::AuthProtocolNotAllowed(None)),
        None if !allowed.is_empty() => return Err(ProxyMismatch::AuthProtocolNotAllowed(None)),
        None => None,
    };
    Ok(AdoptedLcp {
        ours: ours.clone(),
        peers: peers.clone(),
        auth,
    })
}

/// The proxied credentials, checked by rules 5 and 6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdoptedAuth {
    pub id: u8,
    pub name: Vec<u8>,
    pub credentials: super::auth::Credentials,
}

/// Rules 5 and 6, given the protocol the proxied LCP settled on.
pub(crate) fn check_auth(
    proxy: &ProxyInfo,
    negotiated: Option<AuthProtocol>,
) -> Result<AdoptedAuth, ProxyMismatch> {
    use super::auth::Credentials;
    let Some(kind) = proxy.authen_type else {
        return Err(ProxyMismatch::NoProxyAuth);
    };
    let id = || -> Result<u8, ProxyMismatch> {
        match proxy.authen_id {
            Some(v) => u8::try_from(v)
                .map_err(|_| ProxyMismatch::MissingAuthField("Proxy Authen ID above 255")),
            None => Err(ProxyMismatch::MissingAuthField("Proxy Authen ID")),
        }
    };
    let name = || {
        proxy
            .authen_name
            .clone()
            .ok_or(ProxyMismatch::MissingAuthField("Proxy Authen Name"))
    };
    let response = || {
        proxy
            .authen_response
            .clone()
            .ok_or(ProxyMismatch::MissingAuthField("Proxy Authen Response"))
    };
    match (kind, negotiated) {
        (ProxyAuthenType::NoAuthentication, None) => Ok(AdoptedAuth {
            id: 0,
            name: Vec::new(),
            credentials: Credentials::None,
        }),
        (ProxyAuthenType::Pap, Some(AuthProtocol::Pap)) => Ok(AdoptedAuth {
            id: id()?,
            name: name()?,
            credentials: Credentials::Pap {
                password: response()?,
            },
        }),
        (ProxyAuthenType::Chap, Some(AuthProtocol::ChapMd5)) => {
            let challenge = proxy
                .authen_challenge
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or(ProxyMismatch::MissingAuthField("Proxy Authen Challenge"))?;
            let response = response()?;
            if response.len() != MD5_RESPONSE_LEN {
                return Err(ProxyMismatch::MissingAuthField(
                    "Proxy Authen Response is not an MD5 value",
                ));
            }
            let id = id()?;
            Ok(AdoptedAuth {
                id,
                name: name()?,
                credentials: Credentials::ChapMd5 {
                    id,
                    challenge,
                    response,
                },
            })
        }
        (other, _) => Err(ProxyMismatch::AuthTypeMismatch(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::auth::Credentials;

    fn cfg() -> LcpConfig {
        LcpConfig::for_l2tp()
    }

    const CHAP_OPT: [u8; 5] = [0x03, 0x05, 0xc2, 0x23, 0x05];
    const PAP_OPT: [u8; 4] = [0x03, 0x04, 0xc0, 0x23];

    fn proxy(ours: &[u8], peers: &[u8]) -> ProxyInfo {
        ProxyInfo {
            last_sent_confreq: Some(ours.to_vec()),
            last_received_confreq: Some(peers.to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn authen_type_values_roundtrip() {
        for v in 0..8u16 {
            assert_eq!(ProxyAuthenType::from_u16(v).to_u16(), v);
        }
        assert_eq!(ProxyAuthenType::from_u16(2), ProxyAuthenType::Chap);
        assert_eq!(ProxyAuthenType::from_u16(3), ProxyAuthenType::Pap);
    }

    #[test]
    fn consistent_lcp_is_adopted() {
        let mut ours = CHAP_OPT.to_vec();
        ours.extend([0x05, 0x06, 1, 2, 3, 4]);
        let peers = [0x01, 0x04, 0x05, 0xd4, 0x05, 0x06, 9, 9, 9, 9];
        let a = check_lcp(
            &proxy(&ours, &peers),
            &cfg(),
            &[AuthProtocol::ChapMd5],
            |_| true,
        )
        .unwrap();
        assert_eq!(a.auth, Some(AuthProtocol::ChapMd5));
        assert_eq!(a.ours, ours);
    }

    #[test]
    fn inconsistent_lcp_is_refused_with_a_reason() {
        let allowed = [AuthProtocol::ChapMd5];
        assert_eq!(
            check_lcp(&ProxyInfo::default(), &cfg(), &allowed, |_| true),
            Err(ProxyMismatch::NoProxyLcp)
        );
        assert!(matches!(
            check_lcp(&proxy(&[0x03, 0x09], &[]), &cfg(), &allowed, |_| true),
            Err(ProxyMismatch::MalformedConfreq(_))
        ));
        assert_eq!(
            check_lcp(&proxy(&CHAP_OPT, &[]), &cfg(), &allowed, |_| false),
            Err(ProxyMismatch::PeerOptionsUnacceptable)
        );
        assert_eq!(
            check_lcp(&proxy(&PAP_OPT, &[]), &cfg(), &allowed, |_| true),
            Err(ProxyMismatch::AuthProtocolNotAllowed(Some(
                AuthProtocol::Pap
            )))
        );
        assert_eq!(
            check_lcp(
                &proxy(&[0x05, 0x06, 1, 1, 1, 1], &[]),
                &cfg(),
                &allowed,
                |_| true
            ),
            Err(ProxyMismatch::AuthProtocolNotAllowed(None))
        );
        let mut big = CHAP_OPT.to_vec();
        big.extend([0x01, 0x04, 0x10, 0x00]);
        assert_eq!(
            check_lcp(&proxy(&big, &[]), &cfg(), &allowed, |_| true),
            Err(ProxyMismatch::MruTooLarge {
                granted: 4096,
                ours: 1500
            })
        );
        let mut callback = CHAP_OPT.to_vec();
        callback.extend([0x0d, 0x03, 0x06]);
        assert_eq!(
            check_lcp(&proxy(&callback, &[]), &cfg(), &allowed, |_| true),
            Err(ProxyMismatch::UnsupportedOption(13))
        );
        let mut same_magic = CHAP_OPT.to_vec();
        same_magic.extend([0x05, 0x06, 7, 7, 7, 7]);
        assert_eq!(
            check_lcp(
                &proxy(&same_magic, &[0x05, 0x06, 7, 7, 7, 7]),
                &cfg(),
                &allowed,
                |_| true
            ),
            Err(ProxyMismatch::MagicCollision)
        );
    }

    #[test]
    fn auth_rules() {
        let mut p = ProxyInfo::default();
        assert_eq!(
            check_auth(&p, Some(AuthProtocol::Pap)),
            Err(ProxyMismatch::NoProxyAuth)
        );
        p.authen_type = Some(ProxyAuthenType::Pap);
        assert!(matches!(
            check_auth(&p, Some(AuthProtocol::Pap)),
            Err(ProxyMismatch::MissingAuthField(_))
        ));
        p.authen_id = Some(3);
        p.authen_name = Some(b"alice".to_vec());
        p.authen_response = Some(b"pw".to_vec());
        assert_eq!(
            check_auth(&p, Some(AuthProtocol::Pap)).unwrap(),
            AdoptedAuth {
                id: 3,
                name: b"alice".to_vec(),
                credentials: Credentials::Pap {
                    password: b"pw".to_vec()
                }
            }
        );
        assert_eq!(
            check_auth(&p, Some(AuthProtocol::ChapMd5)),
            Err(ProxyMismatch::AuthTypeMismatch(ProxyAuthenType::Pap))
        );
        p.authen_type = Some(ProxyAuthenType::Chap);
        assert!(matches!(
            check_auth(&p, Some(AuthProtocol::ChapMd5)),
            Err(ProxyMismatch::MissingAuthField(_))
        ));
        p.authen_challenge = Some(vec![1; 16]);
        p.authen_response = Some(vec![2; 16]);
        assert!(check_auth(&p, Some(AuthProtocol::ChapMd5)).is_ok());
        p.authen_id = Some(300);
        assert!(check_auth(&p, Some(AuthProtocol::ChapMd5)).is_err());
        p.authen_type = Some(ProxyAuthenType::MsChapV1);
        assert!(check_auth(&p, Some(AuthProtocol::ChapMd5)).is_err());
        let none = ProxyInfo {
            authen_type: Some(ProxyAuthenType::NoAuthentication),
            ..Default::default()
        };
        assert_eq!(
            check_auth(&none, None).unwrap().credentials,
            Credentials::None
        );
    }

    #[test]
    fn debug_redacts_the_password() {
        let p = ProxyInfo {
            authen_response: Some(b"hunter2".to_vec()),
            ..Default::default()
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
