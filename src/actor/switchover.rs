//! Live session switchover (seed 000 claims 5 and 9): a subscriber's L2TP session moves from one
//! of our LAC tunnels to another toward the same LNS, make before break, without the subscriber's
//! PPP noticing. Both ends are l2tpagg: the LAC side carries out the planner's
//! [`Decision::Move`](crate::engine::planner::Decision::Move), the LNS side binds the new session
//! to the PPP context it already runs.
//!
//! Owns: the moves in flight on the LAC ([`Switchovers`]), the LNS's half-bound switchover calls
//! and the old legs of moved LNS contexts, the data-plane entries of old legs kept for packets
//! still in flight, and the LAC tunnels an operator drains. Must not touch: the planner's table
//! beyond `move_committed`/`move_failed`/`drain`, PPP state (a move never renegotiates), sessions
//! that are not moving.
//!
//! # The LAC side
//! 1. `Decision::Move`: [`start_move`] opens a session on the target tunnel whose ICRQ carries our
//!    Switchover AVP (M=0, vendor type 41) naming the old session as the LNS knows it (its tunnel
//!    and session IDs, which are the peer IDs of our old leg) and a random 64-bit token. The
//!    endpoint refuses to send it to a peer that did not advertise `LIVE_SESSION_MOVE`.
//! 2. The LNS answers ICRP; our ICCN goes out and `SessionUp` arrives for the new leg. The data
//!    path flips: the new leg's map entry relays toward the subscriber, and the subscriber's
//!    access entry now relays upstream into the new leg. The old leg still delivers downstream.
//! 3. [`SWITCH_HOLD`] later (so the ICCN is processed by the LNS before our CDN on the other
//!    tunnel can overtake it) the old leg is closed with CDN result 3 and our Disconnect-Cause
//!    "session moved", and the move is committed to the planner. The old leg's map entry stays
//!    for [`OLD_LEG_GRACE`] for packets already on their way.
//!
//! Anything going wrong before the commit leaves the subscriber where it was: the target refuses
//! (CDN), the target tunnel or the peer dies, or the planner's `move_timeout` runs out
//! (`AbortMove`). After the flip that means flipping back. Each move ends with one structured log
//! line, "live session move": subscriber, from and to (tunnel IDs and lines), reason, outcome,
//! cause.
//!
//! # The LNS side
//! An ICRQ with a Switchover AVP is accepted only when it names a session of ours that is up
//! (IPCP open), on a tunnel from the same LAC (same allow-list entry and Host Name) that
//! advertised live moves, with no other move under way. Both tunnels must carry the LAC's full
//! Capability AVP: a session whose conditions and accounting this LNS keeps itself (a tunnel that
//! came up without it) stays where it is, since the disconnect engine and the ledger know it by
//! its key, which a move changes. Otherwise it is refused with a CDN saying
//! why (result 2 or 4/5, our cause "switchover failed"). Once accepted, frames on the new leg are
//! taken at once (the LAC switches upstream when our ICRP arrives, possibly before its ICCN does).
//! When the ICCN arrives the new session takes over the PPP context: same LCP state,
//! authentication, address and counters; the address map points at the new leg. The old leg then
//! only waits for its CDN:
//! - a CDN with cause "session moved" drops the old leg only (the move is done);
//! - any other CDN on the old leg ends the PPP context;
//! - the new leg ending before the old one's "moved" CDN (a failed move on the LAC side) sends the
//!   context back to the old leg.
//!
//! Should the "moved" CDN overtake the ICCN (they travel on different tunnels), the context waits
//! for the ICCN with no live leg; if the new leg fails instead, the context ends.
//!
//! # Drain
//! `ctl drain TUNNEL` on a LAC tunnel asks the planner ([`crate::engine::planner::Planner::drain`])
//! to move every consolidation customer out live; sessions that cannot move (not customers, a
//! peer without live moves, no room elsewhere) are ended with CDN, and so is a session whose move
//! out fails. The tunnel is closed with StopCCN once it is empty.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lac::{LnsLeg, Phase};
use super::lns::{describe_session_down, vendor_cause};
use super::{Actor, TimerKey};
use crate::ctl::proto::{ErrorCode as CtlError, Response};
use crate::dataplane::counters::Direction;
use crate::dataplane::sessions::{Action, L2tpPath, SessionEntry, TunRoute, session_key};
use crate::engine::admin::MoveId;
use crate::engine::planner::{Decision, MoveFailure, MoveOutcome, MovePlan, MoveRecord};
use crate::l2tp::{CloseReason, Event, SessionDownCause, SessionInfo, SessionRequest};
use crate::wire::{
    Avps, Bearer, Capabilities, CdnResult, DisconnectCauseCode, ErrorCode, Framing, Switchover,
};

/// Whether live session moves are implemented in this build.
pub(super) const LIVE_MOVES_WIRED: bool = true;

/// Between the flip of the data path and the CDN of the old leg. The ICCN (new tunnel) and the CDN
/// (old tunnel) travel on different control connections; the hold lets the LNS bind the new leg
/// first in the normal case (the LNS copes with the other order too). It costs nothing: both legs
/// carry traffic meanwhile.
pub(super) const SWITCH_HOLD: Duration = Duration::from_millis(500);

/// How long an old leg's data-plane entry outlives its CDN, for packets already in flight on it.
pub(super) const OLD_LEG_GRACE: Duration = Duration::from_secs(2);

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

/// The switchover module's timers (one variant of the actor's timer key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum SwitchTimer {
    /// LAC: the hold after a flip is over: close the old leg and commit (by move ID).
    Hold(u64),
    /// LAC: the old leg's data-plane entry goes (by session key).
    LacLeg(u32),
    /// LNS: the old leg's data-plane entry goes (by session key).
    LnsLeg(u32),
}

/// Where a move on the LAC stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MovePhase {
    /// ICRQ with the Switchover AVP sent (or queued); waiting for ICRP.
    Opening,
    /// The data path uses the new leg; the old one is closed when the hold ends.
    Flipped,
}

/// One move in flight on the LAC.
struct LacMove {
    plan: MovePlan,
    subscriber: u64,
    token: u64,
    /// Our IDs of the old leg.
    old: (u16, u16),
    /// The old leg as the LNS knows it (what the Switchover AVP names).
    old_at_lns: (u16, u16),
    old_path: Arc<L2tpPath>,
    /// Our IDs of the new leg.
    new: (u16, u16),
    phase: MovePhase,
    started: Instant,
}

/// A switchover call the LNS accepted whose ICCN has not arrived.
#[derive(Debug, Clone, Copy)]
struct LnsPending {
    /// The key of the PPP context it takes over (its current leg).
    context: u32,
    token: u64,
}

/// The old leg of an LNS context that now runs on a new leg, until its CDN.
struct LnsOldLeg {
    /// The context's current key (its new leg).
    context: u32,
    tunnel: u16,
    session: u16,
    path: Arc<L2tpPath>,
    peer: std::net::SocketAddr,
    since: Instant,
}

/// Every move in flight, on both roles, and what is left of finished ones.
#[derive(Default)]
pub(super) struct Switchovers {
    moves: HashMap<MoveId, LacMove>,
    /// LAC session key of a move's new leg → move.
    by_new_leg: HashMap<u32, MoveId>,
    /// LAC session key of a flipped move's old leg → move.
    by_old_leg: HashMap<u32, MoveId>,
    by_subscriber: HashMap<u64, MoveId>,
    /// LAC tunnels an operator drains (our tunnel IDs).
    draining: BTreeSet<u16>,
    /// Data-plane entries kept for in-flight packets, by map key, to be removed only if unchanged.
    lac_lingering: HashMap<u32, Arc<SessionEntry>>,
    lns_lingering: HashMap<u32, Arc<SessionEntry>>,
    /// LNS: accepted switchover calls (new leg key).
    lns_pending: HashMap<u32, LnsPending>,
    /// LNS: old legs by their key.
    lns_old: HashMap<u32, LnsOldLeg>,
    /// LNS: contexts whose old leg left ("moved") before the new leg's ICCN arrived.
    lns_orphans: HashSet<u32>,
}

impl Switchovers {
    /// Our LAC session ID of a move's old leg, for `ctl plan`.
    pub fn old_session(&self, id: MoveId) -> Option<u16> {
        self.moves.get(&id).map(|m| m.old.1)
    }

    /// Whether an operator drains this LAC tunnel.
    pub fn is_draining(&self, tunnel: u16) -> bool {
        self.draining.contains(&tunnel)
    }
}

fn move_cause(code: DisconnectCauseCode, text: &str) -> CloseReason {
    CloseReason {
        result: CdnResult::Administrative,
        error: None,
        message: Some(text.to_owned()),
        cause: Some(vendor_cause(code, text)),
    }
}

/// The CDN refusing a switchover ICRQ.
fn refusal(result: CdnResult, error: ErrorCode, text: String) -> CloseReason {
    CloseReason {
        result,
        error: Some(error),
        cause: Some(vendor_cause(DisconnectCauseCode::SwitchoverFailed, &text)),
        message: Some(text),
    }
}

/// What the target's end means for a move that had not committed.
fn failure_of(cause: &SessionDownCause) -> MoveFailure {
    match cause {
        SessionDownCause::TunnelDown => MoveFailure::TargetLost,
        SessionDownCause::Local { .. } => MoveFailure::Local,
        SessionDownCause::PeerCdn { .. }
        | SessionDownCause::ProtocolError { .. }
        | SessionDownCause::PeerLacksCapability => MoveFailure::TargetRefused,
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Starts a planned move (the hook for `Decision::Move`).
pub(super) fn start_move(actor: &mut Actor, now: Instant, plan: MovePlan) {
    actor.start_move(now, plan);
}

impl Actor {
    // ============================================================================ LAC side

    fn start_move(&mut self, now: Instant, plan: MovePlan) {
        let id = plan.id;
        let sid = plan.session.0;
        let ready = self.lac.subscribers.get(&sid).and_then(|sub| {
            let leg = sub.leg.as_ref()?;
            let path = leg.path.as_ref()?;
            (sub.phase == Phase::Relaying && leg.alive)
                .then(|| (leg.tunnel, leg.session, path.clone()))
        });
        let target = self.lac.l2tp_tunnel(plan.to).filter(|t| {
            self.lac
                .tunnels
                .get(t)
                .is_some_and(|t| t.established_at.is_some() && !t.closing)
        });
        let not_relaying = ready.is_none();
        let (Some((old_tunnel, old_session, old_path)), Some(to_tunnel)) = (ready, target) else {
            let detail = if not_relaying {
                "the session is not relaying"
            } else {
                "the target tunnel is not up"
            };
            self.finish_failed_move(now, plan, MoveFailure::Local, detail);
            return;
        };
        if self.switchovers.by_subscriber.contains_key(&sid) {
            self.finish_failed_move(now, plan, MoveFailure::Local, "a move is already under way");
            return;
        }
        let token: u64 = rand::random();
        let (name, level) = self
            .lac
            .subscribers
            .get(&sid)
            .and_then(|s| s.profile.as_ref())
            .map_or((Arc::from(""), plan.level_bps), |p| {
                (p.name.clone(), plan.level_bps)
            });
        let old_at_lns = (old_path.peer_tunnel_id(), old_path.peer_session_id());
        // RFC 2661 §6.6/§6.8: the ICRQ and ICCN of an ordinary call, plus our Switchover AVP. No
        // proxy LCP or authentication: the LNS keeps the PPP context it has.
        let request = SessionRequest {
            icrq: Avps {
                bearer_type: Some(Bearer(Bearer::DIGITAL)),
                calling_number: Some(name.as_bytes().to_vec()),
                switchover: Some(Switchover {
                    old_tunnel_id: old_at_lns.0,
                    old_session_id: old_at_lns.1,
                    token,
                }),
                ..Avps::default()
            },
            iccn: Avps {
                tx_connect_speed: Some(u32::try_from(level).unwrap_or(u32::MAX)),
                framing_type: Some(Framing(Framing::SYNC)),
                ..Avps::default()
            },
        };
        let opened = match self.lac_ep.as_mut() {
            Some(ep) => ep
                .endpoint
                .open_session(now, to_tunnel, request)
                .map_err(|e| e.to_string()),
            None => Err("no LAC endpoint".to_owned()),
        };
        let new_session = match opened {
            Ok(s) => s,
            Err(e) => {
                let cause = if e.contains("capab") {
                    MoveFailure::TargetRefused
                } else {
                    MoveFailure::Local
                };
                self.finish_failed_move(
                    now,
                    plan,
                    cause,
                    &format!("cannot open the new session: {e}"),
                );
                return;
            }
        };
        tracing::debug!(
            role = "lac", move_id = id.0, subscriber = %name,
            from_tunnel_id = old_tunnel, from_session_id = old_session,
            to_tunnel_id = to_tunnel, to_session_id = new_session,
            lns_tunnel_id = old_at_lns.0, lns_session_id = old_at_lns.1,
            reason = plan.reason.as_str(), "live move: ICRQ with switchover sent"
        );
        let s = &mut self.switchovers;
        s.by_new_leg.insert(session_key(to_tunnel, new_session), id);
        s.by_subscriber.insert(sid, id);
        s.moves.insert(
            id,
            LacMove {
                plan,
                subscriber: sid,
                token,
                old: (old_tunnel, old_session),
                old_at_lns,
                old_path,
                new: (to_tunnel, new_session),
                phase: MovePhase::Opening,
                started: now,
            },
        );
    }

    /// Takes the LAC endpoint's events that belong to a move; gives back every other one.
    pub(super) fn lac_switchover_event(&mut self, now: Instant, event: Event) -> Option<Event> {
        match &event {
            Event::SessionUp {
                tunnel,
                session,
                info,
            } => {
                if let Some(&id) = self
                    .switchovers
                    .by_new_leg
                    .get(&session_key(*tunnel, *session))
                {
                    self.lac_new_leg_up(now, id, info);
                    return None;
                }
            }
            Event::SessionDown {
                tunnel,
                session,
                cause,
            } => {
                let key = session_key(*tunnel, *session);
                if let Some(&id) = self.switchovers.by_new_leg.get(&key) {
                    self.lac_new_leg_down(now, id, cause);
                    return None;
                }
                if let Some(&id) = self.switchovers.by_old_leg.get(&key) {
                    self.lac_old_leg_down(now, id, cause);
                    return None;
                }
            }
            _ => {}
        }
        Some(event)
    }

    /// ICRP came and our ICCN went: flip the data path to the new leg.
    fn lac_new_leg_up(&mut self, now: Instant, id: MoveId, info: &SessionInfo) {
        let Some(m) = self.switchovers.moves.get(&id) else {
            return;
        };
        let (nt, ns) = m.new;
        let path = self
            .lac_ep
            .as_ref()
            .and_then(|ep| ep.path(nt, info.peer_session_id, info.sequencing_required));
        let Some(sub) = self.lac.subscribers.get_mut(&m.subscriber) else {
            return;
        };
        let Some(path) = path else {
            return;
        };
        let new_key = session_key(nt, ns);
        let old_key = session_key(m.old.0, m.old.1);
        // Downstream: accepted on the new leg from now on, and still on the old one.
        self.dp.lac.insert(
            new_key,
            Arc::new(SessionEntry {
                peer: path.remote(),
                counters: sub.counters.clone(),
                inbound: Direction::ToSubscriber,
                action: sub.access.relay_action(),
            }),
        );
        // Upstream: into the new leg.
        super::lac::point_upstream(&self.dp, sub, &path);
        let old_leg = sub.leg.replace(LnsLeg {
            tunnel: nt,
            session: ns,
            peer: sub
                .leg
                .as_ref()
                .map_or_else(|| Arc::from("?"), |l| l.peer.clone()),
            path: Some(path.clone()),
            alive: true,
        });
        let name = sub
            .profile
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        if let Some(old_leg) = old_leg {
            debug_assert_eq!((old_leg.tunnel, old_leg.session), m.old);
        }
        self.lac.by_leg.remove(&old_key);
        self.lac.by_leg.insert(new_key, m.subscriber);
        let s = &mut self.switchovers;
        s.by_new_leg.remove(&new_key);
        s.by_old_leg.insert(old_key, id);
        if let Some(m) = s.moves.get_mut(&id) {
            m.phase = MovePhase::Flipped;
        }
        self.timers.set(
            TimerKey::Switchover(SwitchTimer::Hold(id.0)),
            Some(now + SWITCH_HOLD),
        );
        tracing::debug!(
            role = "lac", move_id = id.0, subscriber = %name, tunnel_id = nt, session_id = ns,
            peer_tunnel_id = path.peer_tunnel_id(), peer_session_id = path.peer_session_id(),
            "live move: data path switched to the new session"
        );
    }

    /// The new leg ended before the move committed: the subscriber stays (or goes back) where it
    /// was.
    fn lac_new_leg_down(&mut self, now: Instant, id: MoveId, cause: &SessionDownCause) {
        let failure = failure_of(cause);
        let detail = describe_session_down(cause);
        self.unwind_move(now, id, failure, &detail, false);
    }

    /// The old leg ended after the flip, before the hold ran out: the subscriber already runs on
    /// the new leg, so the move is done (a CDN for a real end follows on the new leg).
    fn lac_old_leg_down(&mut self, now: Instant, id: MoveId, cause: &SessionDownCause) {
        let Some(m) = self.switchovers.moves.get(&id) else {
            // The move committed already (this is our own CDN of step 3 coming back).
            self.switchovers.by_old_leg.retain(|_, v| *v != id);
            return;
        };
        let old_key = session_key(m.old.0, m.old.1);
        if matches!(cause, SessionDownCause::Local { .. }) {
            // Our own CDN of step 3: the commit is already done.
            self.switchovers.by_old_leg.remove(&old_key);
            return;
        }
        tracing::info!(
            role = "lac", move_id = id.0, tunnel_id = m.old.0, session_id = m.old.1,
            cause = %describe_session_down(cause),
            "live move: old session ended during the hold; the session stays on the new one"
        );
        self.commit_move(now, id, false);
    }

    /// The hold after the flip is over: CDN on the old leg, commit.
    fn lac_hold_over(&mut self, now: Instant, id: MoveId) {
        if self
            .switchovers
            .moves
            .get(&id)
            .is_some_and(|m| m.phase == MovePhase::Flipped)
        {
            self.commit_move(now, id, true);
        }
    }

    /// Commits a flipped move: closes the old leg (unless it is gone already), tells the planner,
    /// logs the move.
    fn commit_move(&mut self, now: Instant, id: MoveId, close_old: bool) {
        let Some(m) = self.switchovers.moves.remove(&id) else {
            return;
        };
        self.timers
            .clear(TimerKey::Switchover(SwitchTimer::Hold(id.0)));
        self.switchovers.by_subscriber.remove(&m.subscriber);
        let old_key = session_key(m.old.0, m.old.1);
        if !close_old {
            self.switchovers.by_old_leg.remove(&old_key);
        }
        // The old leg's entry stays a little for packets in flight, then goes.
        if let Some(entry) = self.dp.lac.get(&old_key).map(|e| e.clone()) {
            self.switchovers.lac_lingering.insert(old_key, entry);
            self.timers.set(
                TimerKey::Switchover(SwitchTimer::LacLeg(old_key)),
                Some(now + OLD_LEG_GRACE),
            );
        }
        if close_old && let Some(ep) = self.lac_ep.as_mut() {
            let _ = ep.endpoint.close_session(
                now,
                m.old.0,
                m.old.1,
                move_cause(
                    DisconnectCauseCode::SessionMoved,
                    "session moved to another tunnel",
                ),
            );
        }
        // The subscriber's traffic runs on the new leg whatever the planner says below: the
        // ledger ends the old leg and starts the new one under the same multi-session identity.
        self.account_move(now, m.subscriber, m.new.0, m.new.1);
        match self.planner.move_committed(now, id) {
            Ok(record) => {
                let level = self
                    .planner
                    .table()
                    .session(record.plan.session)
                    .map_or(record.plan.level_bps, |s| s.level_bps);
                self.levels.granted(now, record.plan.session, level);
                self.log_move(now, &record, &m, "");
            }
            Err(e) => {
                // The planner gave up on it first (timeout): the subscriber runs on the new leg
                // anyway, so the planner's table no longer matches; re-place it where it is.
                tracing::warn!(
                    role = "lac", move_id = id.0, error = %e,
                    "live move finished after the planner gave up on it"
                );
                let record = MoveRecord {
                    plan: m.plan.clone(),
                    outcome: MoveOutcome::Committed,
                    planned_at: m.started,
                    finished_at: now,
                };
                self.log_move(
                    now,
                    &record,
                    &m,
                    "finished after the planner's move timeout",
                );
            }
        }
        self.check_drained(now);
    }

    /// Ends a move that did not commit: the new leg is closed (when `close_new`, or when it still
    /// exists), the data path points back at the old leg, the planner is told (unless it told us).
    fn unwind_move(
        &mut self,
        now: Instant,
        id: MoveId,
        failure: MoveFailure,
        detail: &str,
        planner_knows: bool,
    ) {
        let Some(m) = self.switchovers.moves.remove(&id) else {
            return;
        };
        let s = &mut self.switchovers;
        s.by_subscriber.remove(&m.subscriber);
        let new_key = session_key(m.new.0, m.new.1);
        let old_key = session_key(m.old.0, m.old.1);
        s.by_new_leg.remove(&new_key);
        s.by_old_leg.remove(&old_key);
        self.timers
            .clear(TimerKey::Switchover(SwitchTimer::Hold(id.0)));
        self.dp.lac.remove(&new_key);
        let subscriber_alive = self.lac.subscribers.contains_key(&m.subscriber);
        if m.phase == MovePhase::Flipped {
            self.lac.by_leg.remove(&new_key);
            if let Some(sub) = self.lac.subscribers.get_mut(&m.subscriber) {
                super::lac::point_upstream(&self.dp, sub, &m.old_path);
                let peer = sub
                    .leg
                    .as_ref()
                    .map_or_else(|| Arc::from("?"), |l| l.peer.clone());
                sub.leg = Some(LnsLeg {
                    tunnel: m.old.0,
                    session: m.old.1,
                    peer,
                    path: Some(m.old_path.clone()),
                    alive: true,
                });
                self.lac.by_leg.insert(old_key, m.subscriber);
            } else {
                // The subscriber ended while flipped: its end closed the new leg; the old one is
                // still ours to close.
                self.dp.lac.remove(&old_key);
                if let Some(ep) = self.lac_ep.as_mut() {
                    let _ = ep.endpoint.close_session(
                        now,
                        m.old.0,
                        m.old.1,
                        move_cause(DisconnectCauseCode::SubscriberLeft, "the session ended"),
                    );
                }
            }
        }
        if let Some(ep) = self.lac_ep.as_mut() {
            let reason = move_cause(
                DisconnectCauseCode::SwitchoverFailed,
                &format!("live move abandoned: {}", failure.as_str()),
            );
            // Gone already when the target ended it; then this does nothing.
            let _ = ep.endpoint.close_session(now, m.new.0, m.new.1, reason);
        }
        let record = if planner_knows {
            None
        } else {
            self.planner.move_failed(now, id, failure).ok()
        };
        let record = record.unwrap_or_else(|| MoveRecord {
            plan: m.plan.clone(),
            outcome: MoveOutcome::Failed(failure),
            planned_at: m.started,
            finished_at: now,
        });
        self.log_move(now, &record, &m, detail);
        // A session that could not leave a drained tunnel ends with it.
        if subscriber_alive && self.switchovers.draining.contains(&m.old.0) {
            let why = format!("tunnel drained by the operator; live move failed: {detail}");
            let reason = move_cause(DisconnectCauseCode::Administrative, "tunnel drained");
            self.lac_end(now, m.subscriber, &why, reason.clone(), reason);
        }
        self.check_drained(now);
    }

    /// A move that never got as far as a session on the target.
    fn finish_failed_move(
        &mut self,
        now: Instant,
        plan: MovePlan,
        failure: MoveFailure,
        detail: &str,
    ) {
        let id = plan.id;
        let subscriber = plan.session.0;
        let record = self
            .planner
            .move_failed(now, id, failure)
            .unwrap_or(MoveRecord {
                planned_at: now,
                finished_at: now,
                outcome: MoveOutcome::Failed(failure),
                plan,
            });
        let from = self.lac.l2tp_tunnel(record.plan.from).unwrap_or(0);
        let to = self.lac.l2tp_tunnel(record.plan.to);
        tracing::warn!(
            role = "lac", move_id = id.0, subscriber = %record.plan.subscriber,
            from_tunnel_id = from, to_tunnel_id = to.unwrap_or(0),
            reason = record.plan.reason.as_str(), outcome = "failed", cause = failure.as_str(),
            detail, took_ms = 0u64, "live session move"
        );
        if self.switchovers.draining.contains(&from)
            && self.lac.subscribers.contains_key(&subscriber)
        {
            let why = format!("tunnel drained by the operator; live move failed: {detail}");
            let reason = move_cause(DisconnectCauseCode::Administrative, "tunnel drained");
            self.lac_end(now, subscriber, &why, reason.clone(), reason);
            self.check_drained(now);
        }
    }

    /// The one log line of a finished move.
    fn log_move(&self, now: Instant, record: &MoveRecord, m: &LacMove, detail: &str) {
        let line = |t: u16| {
            self.lac
                .tunnels
                .get(&t)
                .map_or_else(String::new, |t| t.line.to_string())
        };
        let peer = self
            .lac
            .tunnels
            .get(&m.new.0)
            .or_else(|| self.lac.tunnels.get(&m.old.0))
            .map_or_else(String::new, |t| t.peer.to_string());
        let took_ms = ms(now.saturating_duration_since(m.started));
        match record.outcome {
            MoveOutcome::Committed => tracing::info!(
                role = "lac", move_id = record.plan.id.0, subscriber = %record.plan.subscriber,
                peer = %peer, from_tunnel_id = m.old.0, from_session_id = m.old.1,
                from_line = %line(m.old.0), to_tunnel_id = m.new.0, to_session_id = m.new.1,
                to_line = %line(m.new.0), reason = record.plan.reason.as_str(),
                lns_tunnel_id = m.old_at_lns.0, lns_session_id = m.old_at_lns.1,
                outcome = "committed", cause = "", detail, token = m.token, took_ms,
                "live session move"
            ),
            MoveOutcome::Failed(f) => tracing::warn!(
                role = "lac", move_id = record.plan.id.0, subscriber = %record.plan.subscriber,
                peer = %peer, from_tunnel_id = m.old.0, from_session_id = m.old.1,
                from_line = %line(m.old.0), to_tunnel_id = m.new.0, to_session_id = m.new.1,
                to_line = %line(m.new.0), reason = record.plan.reason.as_str(),
                lns_tunnel_id = m.old_at_lns.0, lns_session_id = m.old_at_lns.1,
                outcome = "failed", cause = f.as_str(), detail, token = m.token, took_ms,
                "live session move"
            ),
        }
    }

    /// The planner abandoned a move (timeout, the session ended, its tunnel went): tear down
    /// what was made on the target, leave the session where it is.
    pub(super) fn abort_move(&mut self, now: Instant, id: MoveId, cause: MoveFailure) {
        if self.switchovers.moves.contains_key(&id) {
            let detail = format!("abandoned by the planner: {}", cause.as_str());
            self.unwind_move(now, id, cause, &detail, true);
        }
    }

    pub(super) fn switchover_timer(&mut self, now: Instant, timer: SwitchTimer) {
        match timer {
            SwitchTimer::Hold(id) => self.lac_hold_over(now, MoveId(id)),
            SwitchTimer::LacLeg(key) => {
                if let Some(entry) = self.switchovers.lac_lingering.remove(&key) {
                    self.switchovers.by_old_leg.remove(&key);
                    self.dp.lac.remove_if(&key, |_, e| Arc::ptr_eq(e, &entry));
                }
            }
            SwitchTimer::LnsLeg(key) => {
                if let Some(entry) = self.switchovers.lns_lingering.remove(&key) {
                    self.dp.lns.remove_if(&key, |_, e| Arc::ptr_eq(e, &entry));
                }
            }
        }
    }

    // ============================================================================ drain

    /// `ctl drain` of a LAC tunnel: customers move out live, the rest end, the tunnel closes
    /// once empty.
    pub(super) fn lac_drain(&mut self, now: Instant, tunnel: u16) -> Response {
        let Some(planner_tunnel) = self.lac.tunnels.get(&tunnel).map(|t| t.planner) else {
            return Response::error(CtlError::NotFound, format!("no LAC tunnel {tunnel}"));
        };
        if self.lac.tunnels.get(&tunnel).is_some_and(|t| t.closing) {
            return Response::error(
                CtlError::Refused,
                format!("tunnel {tunnel} is already closing"),
            );
        }
        let outcome = match self.planner.drain(now, planner_tunnel) {
            Ok(o) => o,
            Err(e) => {
                return Response::error(CtlError::Refused, format!("tunnel {tunnel}: {e}"));
            }
        };
        self.switchovers.draining.insert(tunnel);
        let moving = outcome
            .decisions
            .iter()
            .filter(|d| matches!(d, Decision::Move(_)))
            .count()
            + outcome.already_moving.len();
        let mut held: std::collections::BTreeMap<&'static str, usize> = Default::default();
        for (_, why) in &outcome.held {
            *held.entry(why.as_str()).or_default() += 1;
        }
        self.apply_decisions(now, outcome.decisions);
        // Sessions that cannot move end now; so do subscribers in the tunnel the planner never
        // held (still being set up).
        let mut ended: Vec<u64> = outcome.held.iter().map(|(s, _)| s.0).collect();
        for s in self.lac.subscribers.values() {
            if s.leg.as_ref().is_some_and(|l| l.tunnel == tunnel)
                && !self.switchovers.by_subscriber.contains_key(&s.id)
                && !ended.contains(&s.id)
                && s.phase != Phase::Relaying
            {
                ended.push(s.id);
            }
        }
        let mut n_ended = 0usize;
        for id in ended {
            if self.lac.subscribers.contains_key(&id) {
                let reason = move_cause(DisconnectCauseCode::Administrative, "tunnel drained");
                self.lac_end(
                    now,
                    id,
                    "tunnel drained by the operator",
                    reason.clone(),
                    reason,
                );
                n_ended += 1;
            }
        }
        let held_text = if held.is_empty() {
            String::new()
        } else {
            let parts: Vec<String> = held.iter().map(|(k, v)| format!("{v} {k}")).collect();
            format!(" ({})", parts.join(", "))
        };
        tracing::info!(
            role = "lac",
            tunnel_id = tunnel,
            moving,
            ended = n_ended,
            "tunnel drain requested by ctl"
        );
        self.check_drained(now);
        let closing = if self.switchovers.draining.contains(&tunnel) {
            "it closes with StopCCN once the moves are done (a session whose move fails is ended)"
        } else {
            "StopCCN sent"
        };
        Response::done(format!(
            "tunnel {tunnel} (lac): {moving} session(s) moving live to other tunnels, \
             {n_ended} ended with CDN{held_text}; {closing}"
        ))
    }

    /// Closes drained tunnels that are empty now.
    fn check_drained(&mut self, now: Instant) {
        let draining: Vec<u16> = self.switchovers.draining.iter().copied().collect();
        for tunnel in draining {
            let Some(t) = self.lac.tunnels.get(&tunnel) else {
                self.switchovers.draining.remove(&tunnel);
                continue;
            };
            let empty = self
                .planner
                .table()
                .tunnel(t.planner)
                .is_none_or(|pt| pt.is_empty());
            let legs = self
                .switchovers
                .moves
                .values()
                .any(|m| m.old.0 == tunnel || m.new.0 == tunnel);
            if !empty || legs {
                continue;
            }
            self.switchovers.draining.remove(&tunnel);
            self.lac_close_tunnel(now, tunnel, "drained by the operator");
            tracing::info!(
                role = "lac",
                tunnel_id = tunnel,
                "drained tunnel is empty; closing it"
            );
        }
    }

    // ============================================================================ LNS side

    /// The key of the LNS context a leg belongs to: itself, or the context an old leg or an
    /// accepted switchover call serves.
    pub(super) fn lns_context_key(&self, key: u32) -> u32 {
        if let Some(p) = self.switchovers.lns_pending.get(&key) {
            return p.context;
        }
        if let Some(o) = self.switchovers.lns_old.get(&key) {
            return o.context;
        }
        key
    }

    /// An ICRQ with our Switchover AVP: accept it (ICRP) when it names a live session of the same
    /// LAC, refuse it with a CDN saying why otherwise.
    pub(super) fn lns_switchover_call(
        &mut self,
        now: Instant,
        tunnel: u16,
        session: u16,
        sw: Switchover,
    ) {
        let checked = self.check_switchover(tunnel, sw);
        let Some(ep) = self.lns_ep.as_mut() else {
            return;
        };
        let context = match checked {
            Ok(c) => c,
            Err(reason) => {
                tracing::warn!(
                    role = "lns",
                    tunnel_id = tunnel,
                    session_id = session,
                    old_tunnel_id = sw.old_tunnel_id,
                    old_session_id = sw.old_session_id,
                    token = sw.token,
                    reason = reason.message.as_deref().unwrap_or(""),
                    "switchover refused"
                );
                let _ = ep.endpoint.reject_call(now, tunnel, session, reason);
                return;
            }
        };
        if ep.endpoint.accept_call(now, tunnel, session).is_err() {
            return;
        }
        let key = session_key(tunnel, session);
        let remote = ep.endpoint.tunnel(tunnel).map(|t| t.remote);
        self.lns.pending_calls.insert(key);
        let Some(ctx) = self.lns.sessions.get(&context) else {
            return;
        };
        let subscriber = ctx.subscriber.clone().unwrap_or_default();
        // The LAC sends upstream on the new leg as soon as our ICRP arrives: take those frames
        // now, into the same context.
        if let (Some(peer), Some(lease)) = (remote, ctx.lease) {
            self.dp.lns.insert(
                key,
                Arc::new(SessionEntry {
                    peer,
                    counters: ctx.counters.clone(),
                    inbound: Direction::FromSubscriber,
                    action: Action::Terminate {
                        address: lease.address(),
                    },
                }),
            );
        }
        self.switchovers.lns_pending.insert(
            key,
            LnsPending {
                context,
                token: sw.token,
            },
        );
        tracing::info!(
            role = "lns", subscriber = %subscriber, tunnel_id = tunnel, session_id = session,
            old_tunnel_id = sw.old_tunnel_id, old_session_id = sw.old_session_id,
            token = sw.token, "switchover accepted"
        );
    }

    /// Checks a switchover request; `Ok` with the key of the context it takes over.
    fn check_switchover(&self, tunnel: u16, sw: Switchover) -> Result<u32, CloseReason> {
        let ids = format!("tunnel {} session {}", sw.old_tunnel_id, sw.old_session_id);
        let ours_advertised = self.config.l2tp.advertise_capability
            && advertised_capabilities().has(Capabilities::LIVE_SESSION_MOVE);
        let new_t = self.lns.tunnels.get(&tunnel);
        if !ours_advertised || !new_t.is_some_and(|t| live_moves(t.info.capabilities)) {
            return Err(refusal(
                CdnResult::PermanentFacilities,
                ErrorCode::VendorSpecific,
                "live session switchover was not negotiated on this tunnel".into(),
            ));
        }
        let old_key = session_key(sw.old_tunnel_id, sw.old_session_id);
        let Some(ctx) = self.lns.sessions.get(&old_key) else {
            return Err(refusal(
                CdnResult::GeneralError,
                ErrorCode::InvalidSessionId,
                format!("switchover names no live session ({ids})"),
            ));
        };
        let old_t = self.lns.tunnels.get(&sw.old_tunnel_id);
        let same_lac = match (new_t, old_t) {
            (Some(a), Some(b)) => {
                a.peer_name == b.peer_name && a.info.host_name == b.info.host_name
            }
            _ => false,
        };
        if !same_lac {
            return Err(refusal(
                CdnResult::GeneralError,
                ErrorCode::VendorSpecific,
                format!("switchover names a session of another LAC ({ids})"),
            ));
        }
        // Moved only between tunnels that both negotiated live moves with a LAC that enforces the
        // disconnect conditions and keeps the accounting itself. A session this LNS enforces or
        // accounts (its tunnel came up without our Capability AVP, e.g. before the LAC's
        // advertise_capability was switched on) is registered with the disconnect engine and
        // the ledger under its key, which a move changes: moving it would lose both.
        let lac_owned = |t: Option<&super::lns::PeerTunnel>| {
            t.is_some_and(|t| {
                let caps = t.info.capabilities;
                live_moves(caps)
                    && super::disconnect::peer_enforces(caps)
                    && super::accounting::counted_by_the_peer(caps)
            })
        };
        if !lac_owned(old_t) || !lac_owned(new_t) {
            return Err(refusal(
                CdnResult::PermanentFacilities,
                ErrorCode::VendorSpecific,
                format!(
                    "the session's tunnel did not negotiate live switchover, or this LNS \
                     enforces its disconnect conditions and accounting ({ids})"
                ),
            ));
        }
        if sw.old_tunnel_id == tunnel {
            return Err(refusal(
                CdnResult::GeneralError,
                ErrorCode::BadValue,
                format!("switchover within the same tunnel ({ids})"),
            ));
        }
        if !ctx.network_up || ctx.closing || ctx.lease.is_none() {
            return Err(refusal(
                CdnResult::TemporaryFacilities,
                ErrorCode::InsufficientResources,
                format!("the session named is not up ({ids})"),
            ));
        }
        let busy = self
            .switchovers
            .lns_pending
            .values()
            .any(|p| p.context == old_key)
            || self
                .switchovers
                .lns_old
                .values()
                .any(|o| o.context == old_key)
            || self.switchovers.lns_orphans.contains(&old_key);
        if busy {
            return Err(refusal(
                CdnResult::TemporaryFacilities,
                ErrorCode::InsufficientResources,
                format!("a move of this session is already under way ({ids})"),
            ));
        }
        Ok(old_key)
    }

    /// The ICCN of an accepted switchover call: the new leg takes over the context. False when
    /// the session is not a switchover (the caller handles it).
    pub(super) fn lns_switchover_up(
        &mut self,
        now: Instant,
        tunnel: u16,
        session: u16,
        info: &SessionInfo,
    ) -> bool {
        let key = session_key(tunnel, session);
        let Some(pending) = self.switchovers.lns_pending.remove(&key) else {
            return false;
        };
        let path = self
            .lns_ep
            .as_ref()
            .and_then(|ep| ep.path(tunnel, info.peer_session_id, info.sequencing_required));
        let (Some(path), Some(mut ctx)) = (path, self.lns.sessions.remove(&pending.context)) else {
            // The context ended meanwhile.
            self.dp.lns.remove(&key);
            if let Some(ep) = self.lns_ep.as_mut() {
                let _ = ep.endpoint.close_session(
                    now,
                    tunnel,
                    session,
                    move_cause(
                        DisconnectCauseCode::SwitchoverFailed,
                        "the session to take over has ended",
                    ),
                );
            }
            return true;
        };
        let old_key = pending.context;
        let orphan = self.switchovers.lns_orphans.remove(&old_key);
        let old = LnsOldLeg {
            context: key,
            tunnel: ctx.tunnel,
            session: ctx.session,
            path: ctx.path.clone(),
            peer: ctx.peer,
            since: now,
        };
        ctx.tunnel = tunnel;
        ctx.session = session;
        ctx.path = path.clone();
        ctx.peer = path.remote();
        if let Some(lease) = ctx.lease {
            let address = lease.address();
            self.dp.lns.insert(
                key,
                Arc::new(SessionEntry {
                    peer: ctx.peer,
                    counters: ctx.counters.clone(),
                    inbound: Direction::FromSubscriber,
                    action: Action::Terminate { address },
                }),
            );
            // Downstream now takes the new leg.
            self.dp.routes.insert(
                address,
                Arc::new(TunRoute {
                    path: path.clone(),
                    counters: ctx.counters.clone(),
                }),
            );
        }
        let subscriber = ctx.subscriber.clone().unwrap_or_default();
        self.lns.sessions.insert(key, ctx);
        // The PPP link's timers follow the context to its new key.
        self.timers.clear(TimerKey::LnsLink(old_key));
        // Old legs that pointed at the context follow it too.
        for o in self.switchovers.lns_old.values_mut() {
            if o.context == old_key {
                o.context = key;
            }
        }
        if !orphan {
            self.switchovers.lns_old.insert(old_key, old);
        }
        tracing::info!(
            role = "lns", subscriber = %subscriber, tunnel_id = tunnel, session_id = session,
            old_tunnel_id = (old_key >> 16) as u16, old_session_id = (old_key & 0xffff) as u16,
            token = pending.token, old_leg_gone = orphan,
            "switchover: the session runs on the new leg"
        );
        self.lns_step(now, key);
        true
    }

    /// A session of the LNS endpoint ended; handles the legs of moves. True when handled (the
    /// caller does nothing more), false for an ordinary end.
    pub(super) fn lns_switchover_down(
        &mut self,
        now: Instant,
        key: u32,
        cause: &SessionDownCause,
    ) -> bool {
        let moved = matches!(
            cause,
            SessionDownCause::PeerCdn { cause: Some(c), .. } if c.code == DisconnectCauseCode::SessionMoved
        );
        let text = describe_session_down(cause);
        // An accepted switchover call that never bound.
        if let Some(p) = self.switchovers.lns_pending.remove(&key) {
            self.lns.pending_calls.remove(&key);
            self.dp.lns.remove(&key);
            tracing::info!(
                role = "lns", tunnel_id = (key >> 16) as u16, session_id = (key & 0xffff) as u16,
                token = p.token, cause = %text, "switchover abandoned before it bound"
            );
            if self.switchovers.lns_orphans.remove(&p.context)
                && let Some(s) = self.lns.sessions.remove(&p.context)
            {
                self.lns_cleanup(
                    now,
                    p.context,
                    s,
                    &format!("moved away, but the new session failed: {text}"),
                );
            }
            return true;
        }
        // The old leg of a context that runs on its new leg.
        if let Some(old) = self.switchovers.lns_old.remove(&key) {
            self.linger_lns_entry(now, key);
            let subscriber = self
                .lns
                .sessions
                .get(&old.context)
                .and_then(|s| s.subscriber.clone())
                .unwrap_or_default();
            let ended_by_peer = matches!(cause, SessionDownCause::PeerCdn { .. }) && !moved;
            if ended_by_peer {
                tracing::info!(
                    role = "lns", subscriber = %subscriber, tunnel_id = old.tunnel,
                    session_id = old.session, cause = %text,
                    "old leg of a moved session ended by the LAC; ending the session"
                );
                let reason = move_cause(DisconnectCauseCode::SubscriberLeft, &text);
                self.lns_close(now, old.context, reason, "the LAC ended the old leg");
            } else {
                tracing::info!(
                    role = "lns", subscriber = %subscriber, tunnel_id = old.tunnel,
                    session_id = old.session, moved, cause = %text,
                    took_ms = ms(now.saturating_duration_since(old.since)),
                    "switchover: old leg closed; the session stays on the new leg"
                );
            }
            return true;
        }
        // The current leg of a context whose old leg is still alive: the move did not commit.
        let old_key = self
            .switchovers
            .lns_old
            .iter()
            .find(|(_, o)| o.context == key)
            .map(|(k, _)| *k);
        if let Some(old_key) = old_key {
            let revert = match cause {
                SessionDownCause::PeerCdn { cause: c, .. } => c.as_ref().is_none_or(|c| {
                    matches!(
                        c.code,
                        DisconnectCauseCode::SwitchoverFailed | DisconnectCauseCode::SessionMoved
                    )
                }),
                SessionDownCause::Local { .. } => false,
                SessionDownCause::ProtocolError { .. }
                | SessionDownCause::PeerLacksCapability
                | SessionDownCause::TunnelDown => true,
            };
            let Some(old) = self.switchovers.lns_old.remove(&old_key) else {
                return false;
            };
            if revert {
                self.lns_revert(now, key, old_key, old, &text);
                return true;
            }
            // A real end: the old leg goes too, then the ordinary cleanup.
            self.dp.lns.remove(&old_key);
            if let Some(ep) = self.lns_ep.as_mut() {
                let _ = ep.endpoint.close_session(
                    now,
                    old.tunnel,
                    old.session,
                    move_cause(DisconnectCauseCode::Administrative, "the session ended"),
                );
            }
            return false;
        }
        // A context with an accepted switchover call whose ICCN has not come.
        let pending_for: Vec<u32> = self
            .switchovers
            .lns_pending
            .iter()
            .filter(|(_, p)| p.context == key)
            .map(|(k, _)| *k)
            .collect();
        if !pending_for.is_empty() {
            if moved && self.lns.sessions.contains_key(&key) {
                // The "moved" CDN overtook the ICCN: wait for it with no live leg.
                self.switchovers.lns_orphans.insert(key);
                self.linger_lns_entry(now, key);
                tracing::info!(
                    role = "lns",
                    tunnel_id = (key >> 16) as u16,
                    session_id = (key & 0xffff) as u16,
                    "switchover: old leg closed before the new one connected; waiting for its ICCN"
                );
                return true;
            }
            for k in pending_for {
                self.switchovers.lns_pending.remove(&k);
                self.lns.pending_calls.remove(&k);
                self.dp.lns.remove(&k);
                if let Some(ep) = self.lns_ep.as_mut() {
                    let _ = ep.endpoint.close_session(
                        now,
                        (k >> 16) as u16,
                        (k & 0xffff) as u16,
                        move_cause(
                            DisconnectCauseCode::SwitchoverFailed,
                            "the session to take over has ended",
                        ),
                    );
                }
            }
        }
        false
    }

    /// The new leg failed before the LAC committed the move: the context returns to its old leg.
    fn lns_revert(&mut self, now: Instant, key: u32, old_key: u32, old: LnsOldLeg, why: &str) {
        self.dp.lns.remove(&key);
        let Some(mut ctx) = self.lns.sessions.remove(&key) else {
            return;
        };
        ctx.tunnel = old.tunnel;
        ctx.session = old.session;
        ctx.path = old.path.clone();
        ctx.peer = old.peer;
        if let Some(lease) = ctx.lease {
            self.dp.routes.insert(
                lease.address(),
                Arc::new(TunRoute {
                    path: old.path,
                    counters: ctx.counters.clone(),
                }),
            );
        }
        let subscriber = ctx.subscriber.clone().unwrap_or_default();
        self.lns.sessions.insert(old_key, ctx);
        self.timers.clear(TimerKey::LnsLink(key));
        tracing::warn!(
            role = "lns", subscriber = %subscriber, tunnel_id = old.tunnel,
            session_id = old.session, cause = %why,
            "switchover abandoned: the new leg ended; the session stays on its old leg"
        );
        self.lns_step(now, old_key);
    }

    /// Keeps an LNS leg's data-plane entry for in-flight packets, then removes it.
    fn linger_lns_entry(&mut self, now: Instant, key: u32) {
        if let Some(entry) = self.dp.lns.get(&key).map(|e| e.clone()) {
            self.switchovers.lns_lingering.insert(key, entry);
            self.timers.set(
                TimerKey::Switchover(SwitchTimer::LnsLeg(key)),
                Some(now + OLD_LEG_GRACE),
            );
        }
    }
}
