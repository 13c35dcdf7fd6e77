//! PPPoE (RFC 2516): the subscriber-facing access front-end of the LAC, sans-IO.
//!
//! Owns: the frame codec for both stages ([`wire`], [`tag`]), the stateless AC-Cookie
//! ([`cookie`]), the access-concentrator automaton that answers Discovery on one interface and
//! classifies Session-stage frames ([`ac`]), and the client automaton our subscriber emulator and
//! tests dial with ([`client`]). Must not touch: sockets, tokio or the clock. Every `now` is passed
//! in; transmits are handed back as complete Ethernet frames for the AF_PACKET task in `runtime`
//! to send; PPP payloads are handed to the PPP engine by the caller.
//!
//! # How the pieces are used
//!
//! One [`ac::AccessConcentrator`] per access interface. The runtime reads frames of ethertype
//! 0x8863/0x8864 and calls [`ac::AccessConcentrator::handle_frame`]; the result is either a PPP
//! payload of a known session (hand it to the PPP engine), a consumed Discovery frame, or a
//! rejection with a [`ac::Reject`] cause to count and log rate-limited. After each call it drains
//! [`ac::AccessConcentrator::poll_transmit`] (frames to send) and
//! [`ac::AccessConcentrator::poll_event`] (sessions established or torn down by the subscriber).
//! PPP frames toward a subscriber are framed with the session's [`wire::SessionHeader`].
//!
//! MTU: RFC 2516 §7 caps the PPP MRU at 1492 on a 1500-octet Ethernet; each session reports the
//! largest PPP payload it may use ([`ac::SessionInfo::max_payload`]), which is 1492 unless the
//! subscriber asked for more with PPP-Max-Payload (RFC 4638) and the interface MTU allows it. The
//! PPP engine must clamp the MRU it advertises and accepts to that value.

pub mod ac;
pub mod client;
pub mod cookie;
pub mod tag;
pub mod wire;

pub use ac::{
    AcConfig, AcConfigError, AcCounters, AcError, AcEvent, AccessConcentrator, Admission, Handled,
    Reject,
};
pub use client::{
    ClientConfig, ClientEvent, ClientFailure, ClientHandled, ClientState, PppoeClient,
};
pub use tag::Tag;
pub use wire::{
    Body, DiscoveryCode, DiscoveryRepr, EthernetRepr, Frame, FrameRepr, MacAddr, SessionHeader,
    SessionRepr, Stage, WireError,
};
