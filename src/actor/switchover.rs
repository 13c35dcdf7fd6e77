//! The hook where live session moves (make before break, seed 000) plug in. Not wired yet: the
//! switchover task fills [`start_move`] (open the session on the target tunnel with our Switchover
//! AVP, flip the data path on its SessionUp, CDN the old one with cause "moved") and the LNS side
//! of [`refuse_incoming`] (bind the new session to the old one's PPP context), then sets
//! [`LIVE_MOVES_WIRED`].
//!
//! Until then the daemon is honest about it: it does not advertise the live-move capability, it
//! reports every tunnel to the planner as not capable (so the planner plans no moves), a `Move`
//! that shows up anyway is answered with `move_failed`, and an ICRQ asking for a switchover is
//! refused with a CDN.
//!
//! Owns: nothing yet. Must not touch: anything but the planner's move bookkeeping.

use std::time::Instant;

use super::Actor;
use super::lns::vendor_cause;
use crate::engine::planner::{MoveFailure, MovePlan};
use crate::l2tp::CloseReason;
use crate::wire::{Capabilities, CdnResult, DisconnectCauseCode, ErrorCode};

/// Whether live session moves are implemented in this build.
pub(super) const LIVE_MOVES_WIRED: bool = false;

/// The capabilities we advertise in SCCRQ/SCCRP: Disconnect-Cause always, live moves once wired.
pub(super) fn advertised_capabilities() -> Capabilities {
    if LIVE_MOVES_WIRED {
        Capabilities::ALL
    } else {
        Capabilities(Capabilities::DISCONNECT_CAUSE)
    }
}

/// Whether a tunnel whose peer advertised `peer` may take part in live moves.
pub(super) fn live_moves(peer: Capabilities) -> bool {
    LIVE_MOVES_WIRED && peer.has(Capabilities::LIVE_SESSION_MOVE)
}

/// Starts a planned move. Not wired: the move fails at once and the session stays where it is.
pub(super) fn start_move(actor: &mut Actor, now: Instant, plan: MovePlan) {
    tracing::warn!(
        move_id = plan.id.0, session = plan.session.0, subscriber = %plan.subscriber,
        from = plan.from.0, to = plan.to.0, reason = plan.reason.as_str(),
        "live session move planned but switchover is not wired in this build; session stays"
    );
    let _ = actor.planner.move_failed(now, plan.id, MoveFailure::Local);
}

/// The CDN for an ICRQ carrying a Switchover AVP (we never advertised the capability).
pub(super) fn refuse_incoming() -> CloseReason {
    CloseReason {
        result: CdnResult::PermanentFacilities,
        error: Some(ErrorCode::VendorSpecific),
        message: Some("live session switchover is not supported by this LNS".into()),
        cause: Some(vendor_cause(
            DisconnectCauseCode::SwitchoverFailed,
            "switchover not supported",
        )),
    }
}
