//! The L2TPv2 protocol machines (RFC 2661 §5, §7), sans-IO in the style of quinn-proto: the
//! reliable control channel, the tunnel state machine in both roles, the incoming-call session
//! machines, and the [`Endpoint`] that owns many tunnels.
//!
//! Owns: protocol state and timers. Must not touch: sockets, tokio or the clock; time comes in as
//! `now`, datagrams come in as bytes and go out through [`Endpoint::poll_transmit`], randomness
//! comes from a caller-seeded RNG.
//!
//! * [`Endpoint`]: the entry point; see its documentation for the call order.
//! * [`TunnelConfig`], [`EndpointConfig`]: every parameter, with documented defaults.
//! * [`Event`]: what the application learns and must decide.
//! * [`Stats`]: drop and refusal counters per [`DropReason`].

mod channel;
pub mod config;
mod endpoint;
pub mod event;
pub mod sim;
mod tunnel;

pub use config::{ConfigError, EndpointConfig, TunnelConfig};
pub use endpoint::{
    DropReason, Endpoint, PolicyDecision, Stats, Transmit, TunnelPolicy, TunnelRequest, TunnelView,
};
pub use event::{
    Event, PeerInfo, SessionDownCause, SessionId, SessionInfo, SessionRequest, TunnelDownCause,
    TunnelId,
};
pub use tunnel::{SessionState, TunnelState};

use crate::wire::{CdnResult, DisconnectCause, ErrorCode};

/// Why a command of the application was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No tunnel with that ID.
    #[error("no such tunnel")]
    UnknownTunnel,
    /// No session with that ID in the tunnel.
    #[error("no such session")]
    UnknownSession,
    /// The tunnel is shutting down.
    #[error("the tunnel is closing")]
    TunnelClosing,
    /// The session is not in a state where this makes sense.
    #[error("the session is not in a state that allows this")]
    WrongState,
    /// The tunnel carries its configured maximum of sessions (or the ID space is full).
    #[error("the tunnel carries as many sessions as it may")]
    TooManySessions,
    /// The endpoint holds its configured maximum of tunnels.
    #[error("the endpoint holds as many tunnels as it may")]
    TooManyTunnels,
    /// The request needs a vendor AVP the peer did not advertise (e.g. a switchover to a
    /// standard LNS).
    #[error("the peer did not advertise the capability this needs")]
    PeerLacksCapability,
    /// The tunnel configuration is invalid.
    #[error("invalid tunnel configuration: {0}")]
    InvalidConfig(ConfigError),
    /// The application's AVPs cannot be encoded (a value too long for an AVP).
    #[error("cannot encode: {0}")]
    Encode(crate::wire::Error),
}

/// How and why to end a session: the CDN's Result Code AVP (RFC 2661 §4.4.2) and our vendor cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// Result code.
    pub result: CdnResult,
    /// General error code, if any.
    pub error: Option<ErrorCode>,
    /// Human-readable error message (sent only with an error code; 0 is used when none is set).
    pub message: Option<String>,
    /// Our Disconnect-Cause AVP (sent only to a peer that advertised it).
    pub cause: Option<DisconnectCause>,
}

impl CloseReason {
    /// A CDN with just a result code.
    pub fn new(result: CdnResult) -> Self {
        CloseReason {
            result,
            error: None,
            message: None,
            cause: None,
        }
    }

    /// Administrative disconnect (result 3) with our vendor cause.
    pub fn administrative(cause: Option<DisconnectCause>) -> Self {
        CloseReason {
            result: CdnResult::Administrative,
            error: None,
            message: None,
            cause,
        }
    }
}
