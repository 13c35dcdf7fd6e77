//! A deterministic simulated LAC <-> LNS pair: tunnels and many sessions come up over a lossy,
//! reordering, duplicating link; nothing is delivered twice or out of order; a silent peer is
//! detected by HELLO and cleared; and the tunnel and session corner cases of RFC 2661 §7.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use l2tpagg::l2tp::sim::{LinkModel, Side, SimPair};
use l2tpagg::l2tp::{
    CloseReason, DropReason, Endpoint, EndpointConfig, Event, PolicyDecision, SessionDownCause,
    SessionRequest, TunnelConfig, TunnelDownCause, TunnelRequest,
};
use l2tpagg::runtime::clock::test_epoch;
use l2tpagg::wire::avp::{DisconnectCause, DisconnectCauseCode};
use l2tpagg::wire::{Capabilities, CdnResult, ProxyAuthenType, StopCcnResult, Switchover};

fn lac_addr() -> SocketAddr {
    "192.0.2.1:1701".parse().unwrap()
}
fn lns_addr() -> SocketAddr {
    "192.0.2.2:1701".parse().unwrap()
}

fn pair(
    lac_cfg: TunnelConfig,
    lns_cfg: TunnelConfig,
    link: LinkModel,
    seed: u64,
) -> (SimPair, Arc<TunnelConfig>) {
    let lns_cfg = Arc::new(lns_cfg);
    let policy_cfg = lns_cfg.clone();
    let lns = Endpoint::new(
        EndpointConfig::default(),
        move |_: &TunnelRequest<'_>| PolicyDecision::Accept(policy_cfg.clone()),
        [seed as u8 ^ 0x55; 32],
    );
    let lac = Endpoint::new(
        EndpointConfig::default(),
        |_: &TunnelRequest<'_>| PolicyDecision::Ignore,
        [seed as u8; 32],
    );
    (
        SimPair::new(lac, lac_addr(), lns, lns_addr(), link, test_epoch(), seed),
        Arc::new(lac_cfg),
    )
}

/// Per-session lifecycle as observed through events; any repetition or wrong order fails.
#[derive(Default)]
struct Observed {
    lac_up: HashSet<u16>,
    lns_incoming: HashSet<u16>,
    lns_up: HashSet<u16>,
    lac_down: HashMap<u16, SessionDownCause>,
    lns_down: HashMap<u16, SessionDownCause>,
    tunnel_up: Vec<(Side, u16)>,
    tunnel_down: Vec<(Side, u16, TunnelDownCause)>,
    data: Vec<(Side, u16, Vec<u8>)>,
}

impl Observed {
    fn record(&mut self, side: Side, e: &Event) {
        match (side, e) {
            (_, Event::TunnelUp { tunnel, .. }) => self.tunnel_up.push((side, *tunnel)),
            (_, Event::TunnelDown { tunnel, cause }) => {
                self.tunnel_down.push((side, *tunnel, cause.clone()))
            }
            (Side::B, Event::IncomingCall { session, .. }) => {
                assert!(
                    self.lns_incoming.insert(*session),
                    "IncomingCall {session} delivered twice"
                )
            }
            (Side::A, Event::SessionUp { session, .. }) => assert!(
                self.lac_up.insert(*session),
                "LAC SessionUp {session} twice"
            ),
            (Side::B, Event::SessionUp { session, .. }) => {
                assert!(
                    self.lns_incoming.contains(session),
                    "LNS SessionUp {session} before IncomingCall"
                );
                assert!(
                    self.lns_up.insert(*session),
                    "LNS SessionUp {session} twice"
                )
            }
            (Side::A, Event::SessionDown { session, cause, .. }) => {
                assert!(
                    self.lac_down.insert(*session, cause.clone()).is_none(),
                    "LAC SessionDown {session} twice"
                )
            }
            (Side::B, Event::SessionDown { session, cause, .. }) => {
                assert!(
                    self.lns_down.insert(*session, cause.clone()).is_none(),
                    "LNS SessionDown {session} twice"
                )
            }
            (
                _,
                Event::Data {
                    session, payload, ..
                },
            ) => self.data.push((side, *session, payload.clone())),
            (s, e) => panic!("unexpected event on {s:?}: {e:?}"),
        }
    }
}

fn request(n: u32) -> SessionRequest {
    let mut r = SessionRequest::default();
    r.icrq.calling_number = Some(format!("subscriber-{n}").into_bytes());
    r.icrq.called_number = Some(b"isp".to_vec());
    r.iccn.tx_connect_speed = Some(100_000_000);
    r.iccn.proxy_authen_type = Some(ProxyAuthenType::PAP);
    r.iccn.proxy_authen_name = Some(format!("user{n}@isp").into_bytes());
    r.iccn.proxy_authen_id = Some(1);
    r.iccn.proxy_authen_response = Some(b"pw".to_vec());
    r
}

/// Brings a tunnel and `n` sessions up; the LNS accepts every call. Returns what was observed.
fn bring_up(
    sim: &mut SimPair,
    cfg: Arc<TunnelConfig>,
    n: u32,
    budget: Duration,
) -> (Observed, u16) {
    let now = sim.now();
    let tid = sim.a.open_tunnel(now, lac_addr(), lns_addr(), cfg).unwrap();
    let mut obs = Observed::default();
    let mut opened = 0u32;
    sim.run_for(budget, |sim, side, e| {
        obs.record(side, &e);
        match (side, &e) {
            (Side::A, Event::TunnelUp { tunnel, .. }) => {
                // Open every session at once: the window and congestion control pace them.
                for i in 0..n {
                    let now = sim.now();
                    sim.a.open_session(now, *tunnel, request(i)).unwrap();
                    opened += 1;
                }
            }
            (
                Side::B,
                Event::IncomingCall {
                    tunnel,
                    session,
                    icrq,
                    ..
                },
            ) => {
                assert!(
                    icrq.calling_number
                        .as_ref()
                        .is_some_and(|c| c.starts_with(b"subscriber-"))
                );
                let now = sim.now();
                sim.b.accept_call(now, *tunnel, *session).unwrap();
            }
            (Side::B, Event::SessionUp { info, .. }) => {
                let auth = info
                    .iccn
                    .proxy_auth()
                    .expect("proxy auth AVPs arrive in ICCN");
                assert_eq!(auth.kind, ProxyAuthenType::PAP);
            }
            _ => {}
        }
    });
    assert_eq!(opened, n);
    (obs, tid)
}

fn run_thousand(link: LinkModel, seed: u64, retries: u32) {
    let cfg = TunnelConfig {
        max_retransmits: retries,
        ..Default::default()
    };
    let (mut sim, lac_cfg) = pair(cfg.clone(), cfg, link, seed);
    let (obs, _) = bring_up(&mut sim, lac_cfg, 1000, Duration::from_secs(3600));
    assert_eq!(obs.tunnel_up.len(), 2, "tunnel up on both sides");
    assert!(
        obs.tunnel_down.is_empty(),
        "tunnel stayed up: {:?}",
        obs.tunnel_down
    );
    assert_eq!(obs.lac_up.len(), 1000);
    assert_eq!(obs.lns_incoming.len(), 1000);
    assert_eq!(obs.lns_up.len(), 1000);
    let lac_tunnel = sim.a.tunnel_ids()[0];
    assert_eq!(sim.a.session_ids(lac_tunnel).len(), 1000);
    assert!(obs.lac_down.is_empty() && obs.lns_down.is_empty());
    if link.duplicate > 0.0 || link.loss > 0.0 {
        assert!(
            sim.b.stats().get(DropReason::Duplicate) > 0,
            "duplicates were seen and not delivered"
        );
    }
}

#[test]
fn thousand_sessions_on_a_clean_link() {
    run_thousand(LinkModel::default(), 1, 5);
}

#[test]
fn thousand_sessions_with_10_percent_loss_reordering_and_duplication() {
    let link = LinkModel {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(30),
        loss: 0.10,
        duplicate: 0.05,
    };
    run_thousand(link, 2, 5);
}

#[test]
fn thousand_sessions_with_30_percent_loss() {
    // With 30 % loss each way a message and its acknowledgement both get through only 49 % of the
    // time, so the default 5 retransmissions would (rightly) declare the peer dead for about 2 %
    // of messages; an operator on such a path raises the retry count, as done here.
    let link = LinkModel {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(40),
        loss: 0.30,
        duplicate: 0.05,
    };
    run_thousand(link, 3, 16);
}

#[test]
fn silent_peer_is_detected_by_hello_and_cleared() {
    let (mut sim, cfg) = pair(
        TunnelConfig::default(),
        TunnelConfig::default(),
        LinkModel::default(),
        4,
    );
    let (mut obs, tid) = bring_up(&mut sim, cfg, 3, Duration::from_secs(5));
    assert_eq!(obs.lac_up.len(), 3);
    sim.silent = Some(Side::B);
    let silent_since = sim.last_received(Side::A).unwrap();
    let mut down_at = None;
    sim.run_for(Duration::from_secs(200), |sim, side, e| {
        if side == Side::A && matches!(e, Event::TunnelDown { .. }) {
            down_at = Some(sim.now());
        }
        obs.record(side, &e);
    });
    let lac_down: Vec<_> = obs.tunnel_down.iter().filter(|d| d.0 == Side::A).collect();
    assert_eq!(lac_down.len(), 1);
    assert_eq!(lac_down[0].1, tid);
    assert_eq!(lac_down[0].2, TunnelDownCause::PeerUnreachable);
    assert_eq!(obs.lac_down.len(), 3);
    assert!(
        obs.lac_down
            .values()
            .all(|c| *c == SessionDownCause::TunnelDown)
    );
    // HELLO 60 s after the last message heard, then 1+2+4+8+8 s of retransmissions and a last
    // 8 s wait.
    let after = down_at.unwrap() - silent_since;
    assert!(
        after >= Duration::from_secs(91) && after <= Duration::from_secs(92),
        "detected after {after:?}"
    );
    assert_eq!(sim.a.tunnel_count(), 0, "the tunnel is cleared");
    // The silent LNS, hearing nothing either, clears its side the same way.
    assert!(
        obs.tunnel_down
            .iter()
            .any(|d| d.0 == Side::B && d.2 == TunnelDownCause::PeerUnreachable)
    );
}

#[test]
fn tunnel_authentication_succeeds_with_the_same_secret() {
    let cfg = TunnelConfig {
        secret: Some(b"shared".to_vec()),
        ..Default::default()
    };
    let (mut sim, lac_cfg) = pair(cfg.clone(), cfg, LinkModel::default(), 5);
    let (obs, _) = bring_up(&mut sim, lac_cfg, 2, Duration::from_secs(5));
    assert_eq!(obs.tunnel_up.len(), 2);
    assert_eq!(obs.lns_up.len(), 2, "hidden proxy-auth AVPs were revealed");
}

#[test]
fn wrong_secret_ends_in_stopccn_result_4() {
    let lac = TunnelConfig {
        secret: Some(b"one".to_vec()),
        ..Default::default()
    };
    let lns = TunnelConfig {
        secret: Some(b"two".to_vec()),
        ..Default::default()
    };
    let (mut sim, lac_cfg) = pair(lac, lns, LinkModel::default(), 6);
    let (obs, _) = bring_up(&mut sim, lac_cfg, 0, Duration::from_secs(40));
    assert!(obs.tunnel_up.is_empty());
    // The LAC checks the LNS's response in SCCRP first and refuses it.
    assert!(matches!(
        obs.tunnel_down.as_slice(),
        [(Side::A, _, TunnelDownCause::AuthenticationFailed { .. })]
    ));
    assert_eq!(
        sim.a.tunnel_count() + sim.b.tunnel_count(),
        0,
        "both sides cleaned up"
    );
}

#[test]
fn lns_without_secret_refuses_a_challenge() {
    let lac = TunnelConfig {
        secret: Some(b"one".to_vec()),
        ..Default::default()
    };
    let (mut sim, lac_cfg) = pair(lac, TunnelConfig::default(), LinkModel::default(), 7);
    let (obs, _) = bring_up(&mut sim, lac_cfg, 0, Duration::from_secs(40));
    match obs.tunnel_down.as_slice() {
        [(Side::A, _, TunnelDownCause::PeerStopCcn { result })] => {
            assert_eq!(result.result, StopCcnResult::NotAuthorized.code())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lns_rejects_a_call_and_lac_learns_the_result() {
    let (mut sim, cfg) = pair(
        TunnelConfig::default(),
        TunnelConfig::default(),
        LinkModel::default(),
        8,
    );
    let now = sim.now();
    let tid = sim.a.open_tunnel(now, lac_addr(), lns_addr(), cfg).unwrap();
    let mut lac_down = Vec::new();
    sim.run_for(Duration::from_secs(5), |sim, side, e| match (side, e) {
        (Side::A, Event::TunnelUp { .. }) => {
            let now = sim.now();
            sim.a.open_session(now, tid, request(0)).unwrap();
        }
        (
            Side::B,
            Event::IncomingCall {
                tunnel, session, ..
            },
        ) => {
            let now = sim.now();
            let reason = CloseReason {
                result: CdnResult::TemporaryFacilities,
                error: None,
                message: None,
                cause: Some(DisconnectCause {
                    code: DisconnectCauseCode::ResourceExhausted,
                    detail: 0,
                    text: Some("pool empty".into()),
                }),
            };
            sim.b.reject_call(now, tunnel, session, reason).unwrap();
        }
        (Side::A, Event::SessionDown { cause, .. }) => lac_down.push(cause),
        _ => {}
    });
    match lac_down.as_slice() {
        [SessionDownCause::PeerCdn { result, cause, .. }] => {
            assert_eq!(result.result, 4);
            assert_eq!(
                cause.as_ref().map(|c| c.code),
                Some(DisconnectCauseCode::ResourceExhausted)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cdn_during_icrq_clears_the_call_on_the_lns() {
    let (mut sim, cfg) = pair(
        TunnelConfig::default(),
        TunnelConfig::default(),
        LinkModel::default(),
        9,
    );
    let now = sim.now();
    let tid = sim.a.open_tunnel(now, lac_addr(), lns_addr(), cfg).unwrap();
    let mut lns_events = Vec::new();
    sim.run_for(Duration::from_secs(5), |sim, side, e| match (side, &e) {
        (Side::A, Event::TunnelUp { .. }) => {
            let now = sim.now();
            let sid = sim.a.open_session(now, tid, request(0)).unwrap();
            // The subscriber hangs up before the LNS answers: CDN right behind the ICRQ.
            sim.a
                .close_session(now, tid, sid, CloseReason::new(CdnResult::LossOfCarrier))
                .unwrap();
        }
        (Side::B, _) => lns_events.push(e),
        _ => {}
    });
    let kinds: Vec<_> = lns_events
        .iter()
        .map(|e| match e {
            Event::TunnelUp { .. } => "up",
            Event::IncomingCall { .. } => "call",
            Event::SessionDown {
                cause: SessionDownCause::PeerCdn { result, .. },
                ..
            } if result.result == 1 => "cdn",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["up", "call", "cdn"]);
}

#[test]
fn vendor_avps_flow_only_between_capable_peers() {
    // LNS as a standard peer: advertises nothing.
    let lns = TunnelConfig {
        capabilities: Capabilities::NONE,
        ..Default::default()
    };
    let (mut sim, cfg) = pair(TunnelConfig::default(), lns, LinkModel::default(), 10);
    sim.capture = Some(Vec::new());
    let (obs, tid) = bring_up(&mut sim, cfg, 1, Duration::from_secs(5));
    assert_eq!(
        sim.a.tunnel(tid).unwrap().peer_capabilities,
        Capabilities::NONE
    );
    let sid = *obs.lac_up.iter().next().unwrap();
    let now = sim.now();
    // A switchover to a standard LNS is refused locally.
    let mut sw = request(9);
    sw.icrq.switchover = Some(Switchover {
        old_tunnel_id: 1,
        old_session_id: 2,
        token: 3,
    });
    assert_eq!(
        sim.a.open_session(now, tid, sw),
        Err(l2tpagg::l2tp::ApiError::PeerLacksCapability)
    );
    let cause = DisconnectCause {
        code: DisconnectCauseCode::Administrative,
        detail: 6,
        text: None,
    };
    sim.a
        .close_session(now, tid, sid, CloseReason::administrative(Some(cause)))
        .unwrap();
    sim.run_for(Duration::from_secs(2), |_, _, _| {});
    // Only the LAC's SCCRQ carries anything under our vendor ID.
    let vendor = 32473u16.to_be_bytes();
    let with_vendor: Vec<_> = sim
        .capture
        .as_ref()
        .unwrap()
        .iter()
        .filter(|c| {
            c.src == lac_addr()
                && c.payload
                    .windows(4)
                    .any(|w| w[0..2] == vendor && w[2] == 0 && w[3] >= 40)
        })
        .collect();
    assert_eq!(with_vendor.len(), 1, "only the SCCRQ's capability AVP");
}

#[test]
fn switchover_and_disconnect_cause_reach_a_capable_lns() {
    let (mut sim, cfg) = pair(
        TunnelConfig::default(),
        TunnelConfig::default(),
        LinkModel::default(),
        11,
    );
    let (obs, tid) = bring_up(&mut sim, cfg, 1, Duration::from_secs(5));
    assert_eq!(
        sim.a.tunnel(tid).unwrap().peer_capabilities,
        Capabilities::ALL
    );
    let old = *obs.lac_up.iter().next().unwrap();
    let now = sim.now();
    let mut sw = request(1);
    sw.icrq.switchover = Some(Switchover {
        old_tunnel_id: 7,
        old_session_id: 8,
        token: 0xfeed,
    });
    sim.a.open_session(now, tid, sw).unwrap();
    let mut seen_switchover = None;
    let mut lns_cause = None;
    sim.run_for(Duration::from_secs(5), |sim, side, e| match (side, e) {
        (
            Side::B,
            Event::IncomingCall {
                tunnel,
                session,
                icrq,
                ..
            },
        ) => {
            seen_switchover = icrq.switchover;
            let now = sim.now();
            sim.b.accept_call(now, tunnel, session).unwrap();
        }
        (Side::A, Event::SessionUp { .. }) => {
            let now = sim.now();
            let cause = DisconnectCause {
                code: DisconnectCauseCode::SessionMoved,
                detail: 0,
                text: None,
            };
            sim.a
                .close_session(now, tid, old, CloseReason::administrative(Some(cause)))
                .unwrap();
        }
        (Side::B, Event::SessionDown { cause, .. }) => lns_cause = Some(cause),
        _ => {}
    });
    assert_eq!(
        seen_switchover,
        Some(Switchover {
            old_tunnel_id: 7,
            old_session_id: 8,
            token: 0xfeed
        })
    );
    match lns_cause {
        Some(SessionDownCause::PeerCdn {
            result,
            cause: Some(c),
            ..
        }) => {
            assert_eq!(result.result, CdnResult::Administrative.code());
            assert_eq!(c.code, DisconnectCauseCode::SessionMoved);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stopccn_tears_down_both_sides_and_lingers() {
    let (mut sim, cfg) = pair(
        TunnelConfig::default(),
        TunnelConfig::default(),
        LinkModel::default(),
        12,
    );
    let (mut obs, tid) = bring_up(&mut sim, cfg, 2, Duration::from_secs(5));
    let now = sim.now();
    sim.a
        .close_tunnel(now, tid, StopCcnResult::GeneralClear, None, None)
        .unwrap();
    sim.run_for(Duration::from_secs(1), |_, side, e| obs.record(side, &e));
    assert_eq!(obs.lns_down.len(), 2);
    assert!(
        obs.tunnel_down
            .iter()
            .any(|d| d.0 == Side::B && matches!(d.2, TunnelDownCause::PeerStopCcn { .. }))
    );
    assert_eq!(
        sim.a.tunnel_count(),
        0,
        "the StopCCN was acknowledged: the sender is done"
    );
    assert_eq!(
        sim.b.tunnel_count(),
        1,
        "the receiver lingers (RFC 2661 §5.7)"
    );
    sim.run_for(Duration::from_secs(31), |_, _, _| {});
    assert_eq!(sim.b.tunnel_count(), 0);
}

#[test]
fn data_messages_take_the_slow_path() {
    let (mut sim, cfg) = pair(
        TunnelConfig::default(),
        TunnelConfig::default(),
        LinkModel::default(),
        13,
    );
    let (mut obs, tid) = bring_up(&mut sim, cfg, 1, Duration::from_secs(5));
    let sid = *obs.lac_up.iter().next().unwrap();
    let now = sim.now();
    sim.a
        .send_data(now, tid, sid, &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4])
        .unwrap();
    sim.run_for(Duration::from_secs(1), |_, side, e| obs.record(side, &e));
    assert_eq!(obs.data.len(), 1);
    assert_eq!(obs.data[0].2, vec![0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4]);
}

#[test]
fn tie_breaker_leaves_one_tunnel() {
    let cfg = TunnelConfig {
        send_tie_breaker: true,
        ..Default::default()
    };
    let (mut sim, lac_cfg) = pair(cfg.clone(), cfg.clone(), LinkModel::default(), 14);
    // Both ends accept and both open at the same moment.
    let now = sim.now();
    let a_cfg = Arc::new(cfg);
    sim.a = Endpoint::new(
        EndpointConfig::default(),
        move |_: &TunnelRequest<'_>| PolicyDecision::Accept(a_cfg.clone()),
        [1; 32],
    );
    sim.a
        .open_tunnel(now, lac_addr(), lns_addr(), lac_cfg.clone())
        .unwrap();
    sim.b
        .open_tunnel(now, lns_addr(), lac_addr(), lac_cfg)
        .unwrap();
    let mut obs = Observed::default();
    sim.run_for(Duration::from_secs(10), |_, side, e| obs.record(side, &e));
    assert_eq!(
        obs.tunnel_up.len(),
        2,
        "exactly one tunnel, up on both sides: {:?}",
        obs.tunnel_up
    );
    assert_eq!(obs.tunnel_down.len(), 1, "the loser discarded its own");
    assert!(matches!(
        obs.tunnel_down[0].2,
        TunnelDownCause::LostTieBreaker { winner: Some(_) }
    ));
    assert_eq!(sim.a.tunnel_count(), 1);
    assert_eq!(sim.b.tunnel_count(), 1);
}

#[test]
fn sequencing_required_puts_ns_on_slow_path_data() {
    let (mut sim, cfg) = pair(
        TunnelConfig::default(),
        TunnelConfig::default(),
        LinkModel::default(),
        15,
    );
    let now = sim.now();
    let tid = sim.a.open_tunnel(now, lac_addr(), lns_addr(), cfg).unwrap();
    let mut lns_info = None;
    let mut lac_sid = None;
    sim.run_for(Duration::from_secs(3), |sim, side, e| match (side, e) {
        (Side::A, Event::TunnelUp { .. }) => {
            let mut r = request(0);
            r.iccn.sequencing_required = true;
            let now = sim.now();
            lac_sid = Some(sim.a.open_session(now, tid, r).unwrap());
        }
        (
            Side::B,
            Event::IncomingCall {
                tunnel, session, ..
            },
        ) => {
            let now = sim.now();
            sim.b.accept_call(now, tunnel, session).unwrap();
        }
        (Side::B, Event::SessionUp { info, .. }) => lns_info = Some(info),
        _ => {}
    });
    assert!(lns_info.unwrap().sequencing_required);
    sim.capture = Some(Vec::new());
    let now = sim.now();
    for _ in 0..2 {
        sim.a
            .send_data(now, tid, lac_sid.unwrap(), &[0xff, 0x03, 0x00, 0x21])
            .unwrap();
    }
    sim.run_for(Duration::from_millis(50), |_, _, _| {});
    let ns: Vec<Option<u16>> = sim
        .capture
        .unwrap()
        .iter()
        .filter_map(|c| match l2tpagg::wire::data::classify(&c.payload) {
            Ok(l2tpagg::wire::data::Kind::Data { ns, .. }) => Some(ns),
            _ => None,
        })
        .collect();
    assert_eq!(ns, [Some(0), Some(1)]);
}

#[test]
fn the_same_seed_gives_the_same_exchange_byte_for_byte() {
    let run = || {
        let link = LinkModel {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(20),
            loss: 0.2,
            duplicate: 0.1,
        };
        let cfg = TunnelConfig {
            secret: Some(b"k".to_vec()),
            max_retransmits: 10,
            ..Default::default()
        };
        let (mut sim, lac_cfg) = pair(cfg.clone(), cfg, link, 99);
        sim.capture = Some(Vec::new());
        let (obs, _) = bring_up(&mut sim, lac_cfg, 50, Duration::from_secs(120));
        assert_eq!(obs.lns_up.len(), 50);
        sim.capture.take().unwrap()
    };
    let (first, second) = (run(), run());
    assert!(first.len() > 150);
    assert!(first == second, "two runs with one seed differ");
}
