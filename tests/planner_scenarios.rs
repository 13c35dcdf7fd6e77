//! One scenario per claim of seed 000 the planner carries: the hole a disconnection leaves is filled
//! (claims 3, 5, 13, 15), spare bandwidth on one line draws a session from another (claims 6-8), a
//! lowered service level lets the planner consolidate (claims 8, 10, 11), a failed move leaves the
//! session in place, a peer without the live-move capability still gets packed but never sees a live
//! move, private lines hold an account's sessions (claim 17), and the table refuses politely.

use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpagg::engine::admin::{
    AccountId, LineClass, LineId, LineSpec, PeerId, PeerSpec, SessionId, SessionSpec, TunnelId,
    TunnelState,
};
use l2tpagg::engine::planner::{
    Decision, MoveFailure, MoveOutcome, MovePlan, MoveReason, Placement, Planner, PlannerConfig,
    Refusal,
};
use l2tpagg::engine::service_level::{ByteCounters, LevelPolicy, MonitorConfig, ServiceLevels};
use l2tpagg::runtime::clock::test_epoch;

const M: u64 = 1_000_000;
const PEER: PeerId = PeerId(1);
const DWELL: Duration = Duration::from_secs(60);

fn config() -> PlannerConfig {
    PlannerConfig {
        min_dwell: DWELL,
        tunnel_linger: Duration::from_secs(30),
        line_linger: Duration::from_secs(120),
        ..PlannerConfig::default()
    }
}

fn line(id: u32, capacity: u64, cost: i64, class: LineClass) -> LineSpec {
    LineSpec {
        id: LineId(id),
        name: format!("eth{id}"),
        capacity_bps: capacity,
        cost,
        class,
    }
}

fn peer(lines: &[u32]) -> PeerSpec {
    PeerSpec {
        id: PEER,
        name: "lns1".into(),
        lines: lines.iter().map(|&l| LineId(l)).collect(),
        tunnel_capacity_bps: 10 * M,
        max_sessions_per_tunnel: 10,
        max_tunnels: 100,
    }
}

fn spec(id: u64, level: u64) -> SessionSpec {
    SessionSpec {
        id: SessionId(id),
        subscriber: Arc::from(format!("user{id}").as_str()),
        peer: PEER,
        account: AccountId(id),
        customer: true,
        supplementary: false,
        level_bps: level,
    }
}

/// A planner with one public line of room for `tunnels` tunnels.
fn one_line(now: Instant, tunnels: u64) -> Planner {
    let mut p = Planner::new(config());
    p.add_line(now, line(1, tunnels * 10 * M, 100, LineClass::Public))
        .unwrap();
    p.add_peer(peer(&[1])).unwrap();
    p
}

/// Places and brings up any new tunnel as capable or not.
fn place(p: &mut Planner, now: Instant, s: SessionSpec, capable: bool) -> TunnelId {
    let placement = p.place_session(now, s).expect("placed");
    if let Placement::NewTunnel { tunnel, .. } = placement {
        p.tunnel_up(now, tunnel, capable).unwrap();
    }
    p.table().check_invariants().unwrap();
    placement.tunnel()
}

fn moves(ds: &[Decision]) -> Vec<MovePlan> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Move(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn tunnel_of(p: &Planner, s: u64) -> TunnelId {
    p.table().session(SessionId(s)).expect("placed").tunnel
}

#[test]
fn best_fit_packs_and_opens_a_tunnel_only_when_none_fits() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let a = place(&mut p, t0, spec(1, 6 * M), true);
    let b = place(&mut p, t0, spec(2, 5 * M), true);
    assert_ne!(a, b, "5 does not fit next to 6 in 10");
    // 3 fits in both (4 left in a, 5 in b): best fit takes the tighter one.
    assert_eq!(place(&mut p, t0, spec(3, 3 * M), true), a);
    assert_eq!(place(&mut p, t0, spec(4, 5 * M), true), b);
    assert_eq!(p.table().tunnel_count(), 2);
}

#[test]
fn a_disconnection_hole_is_filled_and_the_other_tunnel_closes() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let t1 = place(&mut p, t0, spec(1, 6 * M), true);
    assert_eq!(place(&mut p, t0, spec(2, 3 * M), true), t1);
    let t2 = place(&mut p, t0, spec(3, 4 * M), true);
    assert_ne!(t1, t2);

    let now = t0 + DWELL;
    let ds = p.session_ended(now, SessionId(2)).unwrap();
    let hole = p.table().holes().last().expect("hole recorded").clone();
    assert_eq!(
        (hole.session, hole.tunnel, hole.level_bps),
        (SessionId(2), t1, 3 * M)
    );
    let ms = moves(&ds);
    assert_eq!(ms.len(), 1, "{ds:?}");
    assert_eq!(
        (ms[0].session, ms[0].from, ms[0].to),
        (SessionId(3), t2, t1)
    );
    assert_eq!(ms[0].reason, MoveReason::FillHole);
    // The room is reserved: a new 1 Mbit/s session no longer fits in t1 (6 + 4 reserved = 10).
    assert_eq!(p.table().tunnel(t1).unwrap().free_bps(), 0);
    p.table().check_invariants().unwrap();

    let rec = p
        .move_committed(now + Duration::from_millis(40), ms[0].id)
        .unwrap();
    assert_eq!(rec.outcome, MoveOutcome::Committed);
    assert_eq!(tunnel_of(&p, 3), t1);
    assert!(p.table().tunnel(t2).unwrap().is_empty());

    // After the linger the empty tunnel is closed, then removed.
    assert!(p.handle_timeout(now + Duration::from_secs(1)).is_empty());
    let ds = p.handle_timeout(now + Duration::from_secs(31));
    assert!(ds.contains(&Decision::CloseTunnel {
        tunnel: t2,
        peer: PEER,
        line: LineId(1)
    }));
    assert_eq!(p.table().tunnel(t2).unwrap().state, TunnelState::Closing);
    p.tunnel_closed(now + Duration::from_secs(32), t2).unwrap();
    assert_eq!(p.table().tunnel_count(), 1);
    p.table().check_invariants().unwrap();
}

#[test]
fn a_hole_in_the_emptier_tunnel_empties_it() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let t1 = place(&mut p, t0, spec(1, 7 * M), true);
    let t2 = place(&mut p, t0, spec(2, 5 * M), true);
    assert_eq!(place(&mut p, t0, spec(3, 2 * M), true), t1);
    assert_eq!(place(&mut p, t0, spec(4, 2 * M), true), t2);
    // t1 = 9, t2 = 7. Session 2 leaves t2: t2 holds 2 and is the emptier; its 2 goes into t1? No
    // room (1 free). So nothing moves yet.
    let now = t0 + DWELL;
    assert!(moves(&p.session_ended(now, SessionId(2)).unwrap()).is_empty());
    // Session 3 leaves t1: t1 = 7 with 3 free; t2 = 2 is emptier: its session moves into t1.
    let ms = moves(&p.session_ended(now, SessionId(3)).unwrap());
    assert_eq!(ms.len(), 1);
    assert_eq!(
        (ms[0].session, ms[0].from, ms[0].to),
        (SessionId(4), t2, t1)
    );
}

#[test]
fn spare_bandwidth_on_one_line_draws_a_session_from_another_line() {
    let t0 = test_epoch();
    let mut p = Planner::new(config());
    // Line 1 is cheap but takes one tunnel; line 2 is dearer.
    p.add_line(t0, line(1, 10 * M, 100, LineClass::Public))
        .unwrap();
    p.add_line(t0, line(2, 100 * M, 300, LineClass::Public))
        .unwrap();
    p.add_peer(peer(&[1, 2])).unwrap();
    let t1 = place(&mut p, t0, spec(1, 7 * M), true);
    assert_eq!(
        p.table().tunnel(t1).unwrap().line,
        LineId(1),
        "cheapest line first"
    );
    assert_eq!(place(&mut p, t0, spec(2, 2 * M), true), t1);
    let t2 = place(&mut p, t0, spec(3, 4 * M), true);
    assert_eq!(
        p.table().tunnel(t2).unwrap().line,
        LineId(2),
        "line 1 is full of tunnels"
    );

    // Session 1's level drops from 7 to 3: t1 now holds 5 and can still allocate 5; session 3
    // (level 4 <= 5) on the other line moves over (claim 8's comparison).
    let now = t0 + DWELL;
    let out = p.set_level(now, SessionId(1), 3 * M).unwrap();
    assert_eq!(out.granted_bps, 3 * M);
    let ms = moves(&out.decisions);
    assert_eq!(ms.len(), 1, "{out:?}");
    assert_eq!(
        (ms[0].session, ms[0].from_line, ms[0].to_line),
        (SessionId(3), LineId(2), LineId(1))
    );
    assert_eq!(ms[0].reason, MoveReason::SpareBandwidth);
    p.move_committed(now, ms[0].id).unwrap();

    // Line 2 now carries an empty tunnel: it closes after its linger, and the line is released
    // after the line linger.
    let ds = p.handle_timeout(now + Duration::from_secs(31));
    assert!(ds.contains(&Decision::CloseTunnel {
        tunnel: t2,
        peer: PEER,
        line: LineId(2)
    }));
    p.tunnel_closed(now + Duration::from_secs(31), t2).unwrap();
    assert!(
        !p.handle_timeout(now + Duration::from_secs(60))
            .contains(&Decision::ReleaseLine { line: LineId(2) })
    );
    let ds = p.handle_timeout(now + Duration::from_secs(31 + 120));
    assert!(
        ds.contains(&Decision::ReleaseLine { line: LineId(2) }),
        "{ds:?}"
    );
    assert!(p.line_released(LineId(2)));
    p.table().check_invariants().unwrap();
}

#[test]
fn a_lowered_service_level_lets_the_planner_consolidate() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let policy = LevelPolicy {
        sustain_samples: 5,
        sustain_for: Duration::from_secs(5),
        warmup: Duration::from_secs(5),
        ..LevelPolicy::default()
    };
    let mut levels = ServiceLevels::new(MonitorConfig::default(), policy).unwrap();
    // Two 8 Mbit/s contracts cannot share a 10 Mbit/s tunnel.
    let l1 = levels.insert(SessionId(1), 8 * M);
    let l2 = levels.insert(SessionId(2), 8 * M);
    let t1 = place(&mut p, t0, spec(1, l1), true);
    let t2 = place(&mut p, t0, spec(2, l2), true);
    assert_ne!(t1, t2);
    // Session 1 only moves 1 Mbit/s; session 2 uses its full contract. Sample once a second.
    let mut change = None;
    for i in 0..=120u64 {
        let now = t0 + Duration::from_secs(i);
        let quiet = ByteCounters {
            rx_bytes: i * M / 8,
            tx_bytes: 0,
        };
        let busy = ByteCounters {
            rx_bytes: i * 8 * M / 8,
            tx_bytes: 0,
        };
        if let Some(c) = levels.handle_sample(now, SessionId(1), quiet) {
            change = Some((now, c));
        }
        assert!(
            levels.handle_sample(now, SessionId(2), busy).is_none(),
            "busy session unchanged"
        );
        if change.is_some() {
            break;
        }
    }
    let (when, c) = change.expect("the quiet session's level is lowered");
    assert!(c.new_bps <= 2 * M, "{c:?}");
    let when = when.max(t0 + DWELL);
    let out = p.set_level(when, SessionId(1), c.new_bps).unwrap();
    levels.set_granted(when, SessionId(1), out.granted_bps);
    assert_eq!(out.granted_bps, c.new_bps);
    // t1 is now the emptier tunnel and its one session fits next to session 2: it moves.
    let ms = moves(&out.decisions);
    assert_eq!(ms.len(), 1, "{out:?}");
    assert_eq!(
        (ms[0].session, ms[0].from, ms[0].to),
        (SessionId(1), t1, t2)
    );
    p.move_committed(when, ms[0].id).unwrap();
    assert_eq!(p.bounds().tunnels_in_use, 1);
    p.table().check_invariants().unwrap();
}

#[test]
fn a_failed_move_leaves_the_session_in_place() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let t1 = place(&mut p, t0, spec(1, 6 * M), true);
    place(&mut p, t0, spec(2, 3 * M), true);
    let t2 = place(&mut p, t0, spec(3, 4 * M), true);
    let now = t0 + DWELL;
    let ms = moves(&p.session_ended(now, SessionId(2)).unwrap());
    assert_eq!(ms.len(), 1);
    let rec = p
        .move_failed(
            now + Duration::from_secs(2),
            ms[0].id,
            MoveFailure::TargetRefused,
        )
        .unwrap();
    assert_eq!(rec.outcome, MoveOutcome::Failed(MoveFailure::TargetRefused));
    assert_eq!(tunnel_of(&p, 3), t2);
    let t = p.table().tunnel(t1).unwrap();
    assert_eq!(
        (t.reserved_bps, t.reserved_slots, t.free_bps()),
        (0, 0, 4 * M)
    );
    assert!(
        p.table()
            .session(SessionId(3))
            .unwrap()
            .pending_move
            .is_none()
    );
    let snap = p.snapshot(now + Duration::from_secs(3));
    assert!(snap.pending.is_empty());
    assert_eq!(
        snap.recent[0].outcome,
        Some(MoveOutcome::Failed(MoveFailure::TargetRefused))
    );
    // Committing or failing it again is an error, not a panic.
    assert!(p.move_committed(now, ms[0].id).is_err());
    assert!(p.move_failed(now, ms[0].id, MoveFailure::Timeout).is_err());
    p.table().check_invariants().unwrap();
}

#[test]
fn a_move_left_pending_too_long_is_abandoned() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    place(&mut p, t0, spec(1, 6 * M), true);
    place(&mut p, t0, spec(2, 3 * M), true);
    let t2 = place(&mut p, t0, spec(3, 4 * M), true);
    let now = t0 + DWELL;
    let ms = moves(&p.session_ended(now, SessionId(2)).unwrap());
    assert_eq!(
        p.poll_timeout(),
        Some(now + PlannerConfig::DEFAULT_MOVE_TIMEOUT)
    );
    let ds = p.handle_timeout(now + PlannerConfig::DEFAULT_MOVE_TIMEOUT);
    assert!(ds.contains(&Decision::AbortMove {
        id: ms[0].id,
        session: SessionId(3),
        to: ms[0].to,
        cause: MoveFailure::Timeout
    }));
    assert_eq!(tunnel_of(&p, 3), t2);
    p.table().check_invariants().unwrap();
}

#[test]
fn the_target_going_down_midway_leaves_the_session_in_place() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let t1 = place(&mut p, t0, spec(1, 6 * M), true);
    place(&mut p, t0, spec(2, 3 * M), true);
    let t2 = place(&mut p, t0, spec(3, 4 * M), true);
    let now = t0 + DWELL;
    let ms = moves(&p.session_ended(now, SessionId(2)).unwrap());
    let loss = p.tunnel_down(now, t1).unwrap();
    assert_eq!(loss.sessions, vec![SessionId(1)]);
    assert_eq!(loss.failed_moves[0].plan.id, ms[0].id);
    assert_eq!(
        loss.failed_moves[0].outcome,
        MoveOutcome::Failed(MoveFailure::TargetLost)
    );
    assert!(
        loss.decisions.is_empty(),
        "the target is gone, nothing to tear down"
    );
    assert_eq!(tunnel_of(&p, 3), t2);
    assert!(p.table().tunnel(t1).is_none());
    p.table().check_invariants().unwrap();
}

#[test]
fn the_source_going_down_midway_aborts_the_half_made_session() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    place(&mut p, t0, spec(1, 6 * M), true);
    place(&mut p, t0, spec(2, 3 * M), true);
    let t2 = place(&mut p, t0, spec(3, 4 * M), true);
    let now = t0 + DWELL;
    let ms = moves(&p.session_ended(now, SessionId(2)).unwrap());
    let loss = p.tunnel_down(now, t2).unwrap();
    assert_eq!(loss.sessions, vec![SessionId(3)]);
    assert_eq!(
        loss.decisions,
        vec![Decision::AbortMove {
            id: ms[0].id,
            session: SessionId(3),
            to: ms[0].to,
            cause: MoveFailure::SourceLost
        }]
    );
    assert!(p.table().session(SessionId(3)).is_none());
    assert_eq!(p.table().tunnel(ms[0].to).unwrap().reserved_bps, 0);
    p.table().check_invariants().unwrap();
}

#[test]
fn an_incapable_peer_is_packed_but_never_sees_a_live_move() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let t1 = place(&mut p, t0, spec(1, 6 * M), false);
    assert_eq!(
        place(&mut p, t0, spec(2, 3 * M), false),
        t1,
        "new sessions still packed"
    );
    let t2 = place(&mut p, t0, spec(3, 4 * M), false);
    let now = t0 + DWELL;
    assert!(p.session_ended(now, SessionId(2)).unwrap().is_empty());
    assert!(p.replan(now).is_empty());
    assert!(
        p.set_level(now, SessionId(1), M)
            .unwrap()
            .decisions
            .is_empty()
    );
    assert_eq!(tunnel_of(&p, 3), t2);
    // A new session still goes into the best-fitting tunnel.
    assert_eq!(place(&mut p, now, spec(4, 3 * M), false), t2);
    // Empty tunnels still close.
    p.session_ended(now, SessionId(1)).unwrap();
    let ds = p.handle_timeout(now + Duration::from_secs(31));
    assert!(ds.contains(&Decision::CloseTunnel {
        tunnel: t1,
        peer: PEER,
        line: LineId(1)
    }));
}

#[test]
fn non_customers_are_placed_but_never_moved() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let t1 = place(&mut p, t0, spec(1, 6 * M), true);
    place(&mut p, t0, spec(2, 3 * M), true);
    let t2 = place(
        &mut p,
        t0,
        SessionSpec {
            customer: false,
            ..spec(3, 4 * M)
        },
        true,
    );
    assert_ne!(t1, t2);
    // Session 2 leaves t1. The non-customer on t2 may not move into the hole; instead the customer
    // left on t1 (now the emptier tunnel) moves next to it, and t1 empties.
    let now = t0 + DWELL;
    let ms = moves(&p.session_ended(now, SessionId(2)).unwrap());
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(
        (ms[0].session, ms[0].from, ms[0].to),
        (SessionId(1), t1, t2)
    );
    p.move_committed(now, ms[0].id).unwrap();
    assert!(p.replan(now + DWELL).is_empty());
    assert_eq!(tunnel_of(&p, 3), t2);
}

#[test]
fn dwell_time_holds_a_fresh_session_in_place() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    place(&mut p, t0, spec(1, 6 * M), true);
    place(&mut p, t0, spec(2, 3 * M), true);
    place(&mut p, t0, spec(3, 4 * M), true);
    // Before the dwell time has passed nothing moves; the periodic re-plan picks it up later.
    assert!(moves(&p.session_ended(t0 + DWELL / 2, SessionId(2)).unwrap()).is_empty());
    let ms = moves(&p.replan(t0 + DWELL));
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].reason, MoveReason::Replan);
}

#[test]
fn private_lines_carry_only_their_accounts_sessions() {
    let t0 = test_epoch();
    let mut p = Planner::new(config());
    let acct = AccountId(77);
    p.add_line(t0, line(1, 100 * M, 100, LineClass::Public))
        .unwrap();
    p.add_line(t0, line(2, 20 * M, 500, LineClass::Private(acct)))
        .unwrap();
    p.add_peer(peer(&[1, 2])).unwrap();
    let family = |id| SessionSpec {
        account: acct,
        supplementary: true,
        ..spec(id, 3 * M)
    };
    let a = place(&mut p, t0, family(1), true);
    let b = place(&mut p, t0, family(2), true);
    assert_eq!(a, b, "the account's sessions are kept together");
    assert_eq!(p.table().tunnel(a).unwrap().line, LineId(2));
    // A public session never lands on the private line, even though its tunnel has room.
    let c = place(&mut p, t0, spec(3, M), true);
    assert_eq!(p.table().tunnel(c).unwrap().line, LineId(1));
    // Another account's supplementary contract has no private line here: refused, nothing changes.
    let stray = SessionSpec {
        account: AccountId(5),
        supplementary: true,
        ..spec(4, M)
    };
    assert!(matches!(
        p.place_session(t0, stray),
        Err(Refusal::NoLine { .. })
    ));
    // The private line fills: 20 Mbit/s is two tunnels; the seventh 3 Mbit/s session is refused.
    for id in 10..14 {
        place(&mut p, t0, family(id), true);
    }
    assert!(matches!(
        p.place_session(t0, family(14)),
        Err(Refusal::Full { .. })
    ));
    p.table().check_invariants().unwrap();
}

#[test]
fn new_tunnels_prefer_lines_in_use_then_the_cheapest() {
    let t0 = test_epoch();
    let mut p = Planner::new(config());
    p.add_line(t0, line(1, 100 * M, 300, LineClass::Public))
        .unwrap();
    p.add_line(t0, line(2, 100 * M, 100, LineClass::Public))
        .unwrap();
    p.add_line(t0, line(3, 100 * M, 50, LineClass::Public))
        .unwrap();
    p.add_peer(peer(&[1, 2])).unwrap();
    let a = place(&mut p, t0, spec(1, 9 * M), true);
    assert_eq!(
        p.table().tunnel(a).unwrap().line,
        LineId(2),
        "line 3 does not reach the peer"
    );
    // Line 1 is now more expensive but line 2 already carries a tunnel.
    let b = place(&mut p, t0, spec(2, 9 * M), true);
    assert_eq!(p.table().tunnel(b).unwrap().line, LineId(2));
}

#[test]
fn a_full_table_refuses_politely() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 1);
    place(&mut p, t0, spec(1, 9 * M), true);
    let before = p.snapshot(t0);
    assert!(matches!(
        p.place_session(t0, spec(2, 2 * M)),
        Err(Refusal::Full { .. })
    ));
    assert!(matches!(
        p.place_session(t0, spec(3, 11 * M)),
        Err(Refusal::LevelTooLarge { .. })
    ));
    assert!(matches!(
        p.place_session(t0, spec(1, M)),
        Err(Refusal::Duplicate(_))
    ));
    let unknown = SessionSpec {
        peer: PeerId(9),
        ..spec(4, M)
    };
    assert!(matches!(
        p.place_session(t0, unknown),
        Err(Refusal::UnknownPeer(_))
    ));
    assert_eq!(p.snapshot(t0).tunnels, before.tunnels);
    assert_eq!(p.stats().refused, 4);
}

#[test]
fn a_raise_beyond_the_tunnel_moves_the_session_where_it_fits() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    let t1 = place(&mut p, t0, spec(1, 6 * M), true);
    place(&mut p, t0, spec(2, 3 * M), true);
    let t2 = place(&mut p, t0, spec(3, 5 * M), true);
    // Within the dwell time the level is raised as far as the tunnel allows, and nothing moves.
    let out = p.set_level(t0, SessionId(2), 5 * M).unwrap();
    assert_eq!(out.granted_bps, 4 * M, "raised as far as t1 allows");
    assert!(out.decisions.is_empty());
    let out = p.set_level(t0 + DWELL, SessionId(2), 5 * M).unwrap();
    assert_eq!(out.granted_bps, 4 * M);
    let ms = moves(&out.decisions);
    assert_eq!(ms.len(), 1);
    assert_eq!((ms[0].from, ms[0].to, ms[0].reserved_bps), (t1, t2, 5 * M));
    assert_eq!(ms[0].reason, MoveReason::Grow);
    p.move_committed(t0 + DWELL, ms[0].id).unwrap();
    let s = p.table().session(SessionId(2)).unwrap();
    assert_eq!((s.tunnel, s.level_bps), (t2, 5 * M));
    p.table().check_invariants().unwrap();
}

#[test]
fn snapshot_shows_bounds_and_moves_as_json() {
    let t0 = test_epoch();
    let mut p = one_line(t0, 10);
    for (id, level) in [(1, 6), (2, 6), (3, 6), (4, 3)] {
        place(&mut p, t0, spec(id, level * M), true);
    }
    let now = t0 + DWELL;
    let ms = moves(&p.session_ended(now, SessionId(4)).unwrap());
    assert!(ms.is_empty());
    let snap = p.snapshot(now);
    assert_eq!(snap.bounds.overall.l1, 2);
    assert_eq!(
        snap.bounds.overall.l2, 3,
        "three sessions over half a tunnel each"
    );
    assert_eq!(snap.tunnels_in_use, 3);
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["bounds"]["overall"]["l2"], 3);
    assert_eq!(json["holes"][0]["session"], 4);
    assert_eq!(json["tunnels"].as_array().unwrap().len(), 3);
}
