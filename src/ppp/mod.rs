//! The PPP engine (sans-IO): LCP, PAP, CHAP-MD5 and IPCP for both the server (authenticator) and
//! client (authenticatee) roles, and proxy LCP/authentication (RFC 2661 §4.4.5) for the LAC and the
//! LNS.
//!
//! Owns: PPP codecs ([`frame`], [`packet`], [`lcp`], [`ipcp`], [`pap`], [`chap`]), the option
//! negotiation automaton of RFC 1661 §4 shared by LCP and IPCP ([`fsm`]), the authentication phase
//! ([`auth`]), proxy LCP/authentication ([`proxy`]) and the [`Link`] that ties them together per
//! RFC 1661 §3.2.
//!
//! Must not touch: sockets, tokio, the clock (every call takes `now`), L2TP or PPPoE framing, the
//! subscriber table (the application verifies credentials and answers), address pools (the
//! application supplies addresses), and data packets on the fast path (the caller routes IPv4
//! using [`classify`] and [`parse_frame`]; the engine only tells it which protocols are data).
//!
//! # Using a link
//!
//! A server and a client wired back to back in memory; a real caller moves the frames over an
//! L2TP or PPPoE session instead, and arms a timer for [`Link::poll_timeout`].
//!
//! ```
//! use std::net::Ipv4Addr;
//! use l2tpagg::ppp::*;
//!
//! // The engine never reads a clock: the caller passes `now`, and any fixed instant will do here.
//! let now = l2tpagg::runtime::clock::test_epoch();
//! let mut server = Link::new(now, LinkConfig::server(ServerConfig::default(), [1; 32]));
//! let client_cfg = ClientConfig {
//!     name: b"alice".to_vec(),
//!     secret: b"secret".to_vec(),
//!     allow_pap: true,
//!     allow_chap: true,
//!     ipcp: IpcpClientConfig::default(),
//! };
//! let mut client = Link::new(now, LinkConfig::client(client_cfg, [2; 32]));
//! let pool_address = Ipv4Addr::new(100, 64, 0, 7);
//! while !(server.is_network_up() && client.is_network_up()) {
//!     while let Some(frame) = server.poll_transmit() {
//!         client.handle_frame(now, &frame);
//!     }
//!     while let Some(frame) = client.poll_transmit() {
//!         server.handle_frame(now, &frame);
//!     }
//!     while let Some(event) = server.poll_event() {
//!         if let Event::AuthRequest(request) = event {
//!             // The application looks the subscriber up and answers.
//!             let verdict = if request.verify_secret(b"secret") {
//!                 let network = IpcpAssignment::new(Ipv4Addr::new(100, 64, 0, 1), pool_address);
//!                 AuthVerdict::Accept { message: "welcome".into(), network }
//!             } else {
//!                 AuthVerdict::Reject { message: "denied".into() }
//!             };
//!             server.answer_auth(now, verdict).unwrap();
//!         }
//!     }
//! }
//! assert_eq!(client.network().unwrap().local, pool_address);
//! ```

pub mod auth;
pub mod chap;
pub mod frame;
pub mod fsm;
pub mod ipcp;
pub mod lcp;
pub mod link;
pub mod packet;
pub mod pap;
pub mod proxy;

pub use auth::{AuthRequest, AuthVerdict, Credentials};
pub use chap::{chap_md5_response, verify_chap_md5};
pub use frame::{
    ProtocolClass, classify, emit_frame, parse_frame, strip_address_control, with_address_control,
};
pub use fsm::{NegotiationConfig, State};
pub use ipcp::{IpcpAssignment, IpcpClientConfig, NetworkInfo};
pub use lcp::{AuthProtocol, LcpConfig, LcpNegotiated};
pub use link::{
    ClientConfig, DownCause, Event, FrameDisposition, Link, LinkConfig, LinkCounters, Phase,
    RoleConfig, ServerConfig,
};
pub use proxy::{ProxyAuthenType, ProxyInfo, ProxyMismatch, ProxyOutcome};

/// Why a PPP frame, packet or option could not be parsed or emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ends before a field.
    #[error("{what} truncated: {need} octets needed, {have} present")]
    Truncated {
        /// The field.
        what: &'static str,
        /// Octets needed.
        need: usize,
        /// Octets present.
        have: usize,
    },
    /// A length field disagrees with the data.
    #[error("{what} length {length} is invalid with {available} octets available")]
    BadLength {
        /// The structure.
        what: &'static str,
        /// The length claimed.
        length: usize,
        /// The octets available.
        available: usize,
    },
    /// A configuration option whose Length is below 2, runs past the packet, or does not suit
    /// its type.
    #[error("option type {kind} has invalid length {length} ({available} octets available)")]
    BadOptionLength {
        /// The option type.
        kind: u8,
        /// The length claimed.
        length: usize,
        /// The octets available.
        available: usize,
    },
    /// A Protocol field breaks the RFC 1661 §2 encoding rules.
    #[error("invalid PPP protocol field {0:#06x}")]
    BadProtocol(u16),
    /// A one-octet Protocol field while Protocol-Field-Compression is not in force.
    #[error("compressed protocol field {0:#04x} without negotiated PFC")]
    UnexpectedCompression(u8),
    /// A code this protocol does not define.
    #[error("unknown {protocol} code {code}")]
    UnknownCode {
        /// PAP or CHAP.
        protocol: &'static str,
        /// The code.
        code: u8,
    },
    /// A value too long for its length field.
    #[error("{what} of {len} octets exceeds the maximum of {max}")]
    TooLong {
        /// The structure.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

/// Misuse of the [`Link`] API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The operation needs a server (authenticator) link.
    #[error("operation needs a server-role link")]
    NotServer,
    /// No authentication verdict is awaited.
    #[error("no authentication request is awaiting a verdict")]
    NoPendingAuth,
    /// Proxy information cannot be exported yet.
    #[error("proxy LCP/authentication not available: {0}")]
    ProxyNotReady(&'static str),
}
