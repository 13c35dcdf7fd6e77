//! What the endpoint reports to the application: tunnel and session lifecycle, incoming calls that
//! need a decision, slow-path data, and the causes of every teardown.

use std::net::SocketAddr;

use crate::wire::{
    Avps, Capabilities, CdnResult, DisconnectCause, ErrorCode, Framing, ProtocolVersion, Q931Cause,
    ResultCode, StopCcnResult,
    avp::{Accm, Bearer, CallErrors},
};

/// Our tunnel ID: the handle of a tunnel in every call and event.
pub type TunnelId = u16;
/// Our session ID within a tunnel: (tunnel, session) is the handle of a session.
pub type SessionId = u16;

/// What the peer told us about itself during control connection establishment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's address (the tunnel's remote end).
    pub remote: SocketAddr,
    /// Our address the tunnel uses.
    pub local: SocketAddr,
    /// The peer's tunnel ID: the Tunnel ID of everything we send it (data headers included).
    pub peer_tunnel_id: u16,
    /// Host Name AVP.
    pub host_name: Vec<u8>,
    /// Vendor Name AVP.
    pub vendor_name: Option<Vec<u8>>,
    /// Firmware Revision AVP.
    pub firmware_revision: Option<u16>,
    /// Protocol Version AVP.
    pub protocol_version: ProtocolVersion,
    /// Framing Capabilities AVP.
    pub framing_capabilities: Framing,
    /// Bearer Capabilities AVP.
    pub bearer_capabilities: Option<Bearer>,
    /// The peer's receive window (4 when it sent none).
    pub receive_window: u16,
    /// The capabilities it advertised in our vendor Capability AVP ([`Capabilities::NONE`] for a
    /// standard peer). Vendor AVPs are only sent when this says the peer understands them.
    pub capabilities: Capabilities,
    /// Whether we opened the tunnel (sent the SCCRQ).
    pub initiator: bool,
}

/// Why a tunnel went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelDownCause {
    /// The peer sent a StopCCN (RFC 2661 §5.7).
    PeerStopCcn {
        /// Its Result Code AVP (interpret with [`StopCcnResult`] and [`ErrorCode`]).
        result: ResultCode,
    },
    /// The application closed it ([`super::Endpoint::close_tunnel`]); we sent a StopCCN.
    Local {
        /// The result we sent.
        result: StopCcnResult,
        /// The error code we sent, if any.
        error: Option<ErrorCode>,
    },
    /// The peer broke the protocol (malformed message, unknown mandatory AVP, wrong message in
    /// this state, unsupported version); we sent a StopCCN saying so.
    ProtocolError {
        /// The result we sent.
        result: StopCcnResult,
        /// The error code we sent.
        error: Option<ErrorCode>,
        /// What was wrong, for the log.
        detail: String,
    },
    /// Tunnel authentication failed (RFC 2661 §5.1.1): a missing or wrong Challenge Response, or a
    /// challenge we could not answer without a secret. We sent StopCCN result 4.
    AuthenticationFailed {
        /// What failed.
        detail: String,
    },
    /// Retransmissions were exhausted (RFC 2661 §5.8), including an unacknowledged HELLO (§5.5):
    /// the peer is unreachable or dead.
    PeerUnreachable,
    /// RFC 2661 §4.4.3: the peer's SCCRQ won the tie breaker against ours; this tunnel was
    /// discarded silently and the peer's tunnel (`winner`) takes its place.
    LostTieBreaker {
        /// The responder tunnel created for the peer's SCCRQ, if it was created.
        winner: Option<TunnelId>,
    },
}

/// Why a session went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionDownCause {
    /// The peer sent a CDN (RFC 2661 §6.12).
    PeerCdn {
        /// Its Result Code AVP (interpret with [`CdnResult`] and [`ErrorCode`]).
        result: ResultCode,
        /// Its Q.931 Cause Code AVP.
        q931: Option<Q931Cause>,
        /// Our vendor Disconnect-Cause AVP, when the peer is an l2tpagg.
        cause: Option<DisconnectCause>,
    },
    /// The application closed or rejected it; we sent a CDN.
    Local {
        /// The result we sent.
        result: CdnResult,
        /// The error code we sent, if any.
        error: Option<ErrorCode>,
        /// Our vendor cause (sent only if the peer advertised it).
        cause: Option<DisconnectCause>,
    },
    /// The peer broke the protocol for this session; we sent a CDN saying so.
    ProtocolError {
        /// The result we sent.
        result: CdnResult,
        /// The error code we sent.
        error: Option<ErrorCode>,
        /// What was wrong.
        detail: String,
    },
    /// The session needed a vendor AVP (switchover) the peer never advertised; nothing was sent.
    PeerLacksCapability,
    /// The tunnel went down (see the tunnel's [`Event::TunnelDown`]).
    TunnelDown,
}

/// What the LAC side asks for in a new session: the ICRQ and ICCN AVPs (RFC 2661 §6.6, §6.8).
///
/// The endpoint fills in Assigned Session ID and Call Serial Number itself; everything else is
/// taken as given. `icrq.switchover` asks the LNS to take over a live session (our vendor AVP; it is
/// refused with [`SessionDownCause::PeerLacksCapability`] if the peer did not advertise
/// [`Capabilities::LIVE_SESSION_MOVE`]). ICCN must carry (Tx) Connect Speed and Framing Type; a
/// default is used for each if absent (10 Mbit/s, synchronous framing).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionRequest {
    /// AVPs for the ICRQ: Bearer Type, Physical Channel ID, Calling/Called Number, Sub-Address,
    /// our Switchover AVP.
    pub icrq: Avps,
    /// AVPs for the ICCN: (Tx) Connect Speed, Framing Type, proxy LCP and proxy authentication,
    /// Private Group ID, Rx Connect Speed, Sequencing Required.
    pub iccn: Avps,
}

/// A session that came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The peer's tunnel ID (data headers carry it).
    pub peer_tunnel_id: u16,
    /// The peer's session ID (data headers carry it).
    pub peer_session_id: u16,
    /// Whether we are the LAC of this call (we sent the ICRQ).
    pub lac: bool,
    /// The ICCN's AVPs (sent by the LAC; received by the LNS): connect speed, framing, proxy LCP
    /// and authentication, Sequencing Required.
    pub iccn: Avps,
    /// RFC 2661 §5.4: data messages MUST carry sequence numbers for this session.
    pub sequencing_required: bool,
}

/// Something the application must know or decide. See [`super::Endpoint`] for the call order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The control connection is established (RFC 2661 §7.2.1).
    TunnelUp {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// The peer.
        peer: Box<PeerInfo>,
    },
    /// The tunnel is down; all its sessions went down just before (each reported).
    TunnelDown {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// Why.
        cause: TunnelDownCause,
    },
    /// An ICRQ arrived (we are the LNS of this call). Answer with
    /// [`super::Endpoint::accept_call`] or [`super::Endpoint::reject_call`].
    IncomingCall {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// The session ID we assigned.
        session: SessionId,
        /// The LAC's session ID.
        peer_session_id: u16,
        /// Every AVP of the ICRQ, our Switchover AVP included.
        icrq: Box<Avps>,
    },
    /// The session is established: ICCN sent (LAC) or received (LNS).
    SessionUp {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// Our session ID.
        session: SessionId,
        /// The session's parameters.
        info: Box<SessionInfo>,
    },
    /// The session is gone.
    SessionDown {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// Our session ID.
        session: SessionId,
        /// Why.
        cause: SessionDownCause,
    },
    /// A data message for an established session reached the endpoint (the slow path; the data
    /// plane normally takes these itself).
    Data {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// Our session ID.
        session: SessionId,
        /// The PPP frame.
        payload: Vec<u8>,
    },
    /// The LNS sent Set-Link-Info (RFC 2661 §6.14).
    SetLinkInfo {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// Our session ID.
        session: SessionId,
        /// The ACCM to use.
        accm: Accm,
    },
    /// The LAC sent WAN-Error-Notify (RFC 2661 §6.13).
    WanErrorNotify {
        /// Our tunnel ID.
        tunnel: TunnelId,
        /// Our session ID.
        session: SessionId,
        /// The cumulative counters.
        errors: CallErrors,
    },
}
