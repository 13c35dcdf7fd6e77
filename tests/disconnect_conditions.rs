//! Conditions A-F of the disconnect engine, with driven time: each fires at the right moment and
//! not before; D with both victim rules and the refuse policy; F with its guard; combinations; and
//! reloads changing the conditions of live sessions.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpagg::dataplane::classifier::{
    PROTO_TCP, PROTO_UDP, ServiceId, ServiceSpec, ServiceTable, SharedServiceTable, count_ipv4,
};
use l2tpagg::dataplane::counters::{Direction, SessionCounters, StampBase};
use l2tpagg::engine::disconnect::{
    AcctTerminateCause, AppTimeoutCondition, ConditionKind, Conditions, Decision, DisconnectEngine,
    EngineSettings, Fired, IdleCondition, IdleDirection, LoginCondition, LoginOutcome, LoginPolicy,
    LoginRefusal, LoginRequest, LoginScope, RateDirection, SessionHandle, SessionKey,
    TrafficCondition, Unit, VolumeCondition, VolumeCounter,
};
use l2tpagg::runtime::clock::test_epoch;

const SUBSCRIBER_ADDR: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 7);
const FTP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const WEB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

struct Rig {
    engine: DisconnectEngine,
    base: StampBase,
    t0: Instant,
    table: Arc<ServiceTable>,
    shared: Arc<SharedServiceTable>,
    next_key: u64,
}

impl Rig {
    fn new() -> Self {
        Self::with_table(ServiceTable::empty(), secs(1))
    }

    fn with_table(table: ServiceTable, sample_interval: Duration) -> Self {
        let t0 = test_epoch();
        let base = StampBase::new(t0);
        let shared = SharedServiceTable::new(ServiceTable::empty());
        let table = shared.publish(table);
        let engine = DisconnectEngine::new(base, EngineSettings { sample_interval }, table.clone());
        Self {
            engine,
            base,
            t0,
            table,
            shared,
            next_key: 1,
        }
    }

    fn at(&self, d: Duration) -> Instant {
        self.t0 + d
    }

    fn login_at(
        &mut self,
        when: Duration,
        subscriber: &str,
        access_point: &str,
        conditions: &Arc<Conditions>,
    ) -> (LoginOutcome, SessionKey, Arc<SessionCounters>) {
        self.login_ordered(when, subscriber, access_point, conditions, 100)
    }

    /// A login with a place in the disconnect order (lowest is cut first).
    fn login_ordered(
        &mut self,
        when: Duration,
        subscriber: &str,
        access_point: &str,
        conditions: &Arc<Conditions>,
        disconnect_order: u32,
    ) -> (LoginOutcome, SessionKey, Arc<SessionCounters>) {
        let key = SessionKey(self.next_key);
        self.next_key += 1;
        let counters = Arc::new(SessionCounters::new());
        let now = self.at(when);
        let outcome = self.engine.login(
            now,
            LoginRequest {
                session: key,
                subscriber: subscriber.into(),
                access_point,
                conditions: conditions.clone(),
                counters: counters.clone(),
                path_max_bps: 1_000_000,
                logged_in_at: now,
                disconnect_order,
            },
        );
        (outcome, key, counters)
    }

    /// Logs in and expects acceptance without victims.
    fn login(
        &mut self,
        when: Duration,
        subscriber: &str,
        conditions: &Arc<Conditions>,
    ) -> (SessionHandle, Arc<SessionCounters>) {
        let (outcome, _, counters) = self.login_at(when, subscriber, "eth1", conditions);
        match outcome {
            LoginOutcome::Accepted { handle, victims } => {
                assert!(victims.is_empty(), "unexpected victims {victims:?}");
                (handle, counters)
            }
            LoginOutcome::Refused(r) => panic!("refused: {r}"),
        }
    }

    fn stamp(&self, when: Duration) -> u64 {
        self.base.stamp(self.at(when))
    }

    /// Runs the engine at `when` the way the actor does.
    fn run(&mut self, when: Duration) -> Vec<Decision> {
        self.engine.handle_timeout(self.at(when))
    }

    /// Drives the engine timer by timer (as the actor would) up to `until`; returns each decision
    /// with the offset it was made at.
    fn drive(&mut self, until: Duration) -> Vec<(Duration, Decision)> {
        let mut out = Vec::new();
        while let Some(t) = self.engine.poll_timeout() {
            if t > self.at(until) {
                break;
            }
            for d in self.engine.handle_timeout(t) {
                out.push((t - self.t0, d));
            }
        }
        out
    }
}

fn only(decisions: Vec<Decision>) -> Decision {
    assert_eq!(
        decisions.len(),
        1,
        "expected one decision, got {decisions:?}"
    );
    decisions.into_iter().next().unwrap()
}

fn conds(c: Conditions) -> Arc<Conditions> {
    Arc::new(c)
}

/// An IPv4 packet of `total` bytes with TCP/UDP ports when `proto` has them.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, sport: u16, dport: u16, total: u16) -> Vec<u8> {
    let mut p = vec![0u8; usize::from(total)];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p
}

// ---- A: session time ----

#[test]
fn a_session_time_fires_at_its_deadline_and_not_before() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        session_time: Some(secs(7200)),
        ..Default::default()
    });
    let (h, _) = rig.login(secs(10), "alice", &c);
    assert_eq!(rig.engine.poll_timeout(), Some(rig.at(secs(7210))));
    assert!(
        rig.run(secs(7210) - ms(1)).is_empty(),
        "one millisecond early must not fire"
    );
    let d = only(rig.run(secs(7210)));
    assert_eq!(d.handle, h);
    assert_eq!(&*d.subscriber, "alice");
    assert_eq!(
        d.fired,
        Fired::SessionTime {
            elapsed: secs(7200),
            limit: secs(7200)
        }
    );
    assert_eq!(d.cause(), AcctTerminateCause::SessionTimeout);
    assert_eq!(d.cause().value(), 5);
    assert_eq!(d.fired.measured().unit, Unit::Milliseconds);
    assert_eq!(d.fired.measured().value, 7_200_000);
    // Fired once: nothing more until logout.
    assert!(rig.run(secs(9000)).is_empty());
    assert_eq!(rig.engine.logout(h), Some(d.session));
    assert_eq!(rig.engine.logout(h), None, "a stale handle is refused");
}

#[test]
fn a_session_time_with_a_sub_millisecond_limit_is_never_early() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        session_time: Some(Duration::from_micros(1_500)),
        ..Default::default()
    });
    rig.login(secs(1), "alice", &c);
    assert!(rig.run(secs(1) + Duration::from_micros(1_500)).is_empty());
    assert_eq!(
        only(rig.run(secs(1) + ms(2))).fired.kind(),
        ConditionKind::SessionTime
    );
}

// ---- B: non-communication time ----

fn idle(limit: Duration, direction: IdleDirection) -> IdleCondition {
    IdleCondition {
        limit,
        direction,
        only_listed_servers: false,
        min_rate_bps: None,
    }
}

#[test]
fn b_idle_fires_after_the_limit_and_activity_pushes_it_later() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        idle: Some(idle(secs(300), IdleDirection::Either)),
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "bob", &c);
    assert_eq!(rig.engine.poll_timeout(), Some(rig.at(secs(300))));
    counters.record(Direction::ToSubscriber, 1500, rig.stamp(secs(180)));
    // The armed deadline comes due, finds the packet and re-arms; nothing fires.
    assert!(rig.run(secs(300)).is_empty());
    assert_eq!(rig.engine.poll_timeout(), Some(rig.at(secs(480))));
    assert!(rig.run(secs(480) - ms(1)).is_empty());
    let d = only(rig.run(secs(480)));
    assert_eq!(
        d.fired,
        Fired::Idle {
            idle: secs(300),
            limit: secs(300),
            direction: IdleDirection::Either,
            min_rate_bps: None
        }
    );
    assert_eq!(d.cause(), AcctTerminateCause::IdleTimeout);
}

#[test]
fn b_idle_from_subscriber_ignores_traffic_to_the_subscriber() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        idle: Some(idle(secs(60), IdleDirection::FromSubscriber)),
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "bob", &c);
    for t in (5..120).step_by(5) {
        counters.record(Direction::ToSubscriber, 100, rig.stamp(secs(t)));
    }
    counters.record(Direction::FromSubscriber, 40, rig.stamp(secs(30)));
    let fired = rig.drive(secs(200));
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].0,
        secs(90),
        "idle counts from the subscriber's last packet at 30 s"
    );
}

#[test]
fn b_idle_to_subscriber_ignores_traffic_from_the_subscriber() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        idle: Some(idle(secs(60), IdleDirection::ToSubscriber)),
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "bob", &c);
    for t in (5..120).step_by(5) {
        counters.record(Direction::FromSubscriber, 100, rig.stamp(secs(t)));
    }
    let fired = rig.drive(secs(200));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].0, secs(60));
}

/// A table whose server set 0 is {FTP}, with no services.
fn listed_ftp_table() -> ServiceTable {
    ServiceTable::build(Vec::new(), &[vec![FTP.into()]], &[]).unwrap()
}

#[test]
fn b_idle_with_listed_servers_counts_only_their_packets() {
    let mut rig = Rig::with_table(listed_ftp_table(), secs(1));
    let c = conds(Conditions {
        idle: Some(IdleCondition {
            only_listed_servers: true,
            ..idle(secs(60), IdleDirection::Either)
        }),
        listed_sets: 1,
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "carol", &c);
    let table = rig.table.clone();
    let to_ftp = ipv4(SUBSCRIBER_ADDR, FTP, PROTO_TCP, 40000, 21, 60);
    let from_elsewhere = ipv4(ELSEWHERE, SUBSCRIBER_ADDR, PROTO_UDP, 53, 40001, 120);
    let class = count_ipv4(
        &table,
        &counters,
        Direction::FromSubscriber,
        &to_ftp,
        rig.stamp(secs(20)),
    )
    .unwrap();
    assert!(class.listed);
    for t in (25..200).step_by(5) {
        let class = count_ipv4(
            &table,
            &counters,
            Direction::ToSubscriber,
            &from_elsewhere,
            rig.stamp(secs(t)),
        )
        .unwrap();
        assert!(!class.listed);
    }
    let fired = rig.drive(secs(300));
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].0,
        secs(80),
        "only the packet to the listed server at 20 s counts"
    );
}

#[test]
fn b_idle_with_a_minimum_rate_treats_a_trickle_as_idle() {
    // 8 kbit/s minimum = 1000 bytes per second; the sampling pass judges each second.
    let mut rig = Rig::new();
    let c = conds(Conditions {
        idle: Some(IdleCondition {
            min_rate_bps: Some(8_000),
            ..idle(secs(30), IdleDirection::Either)
        }),
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "dave", &c);
    // 2000 bytes/s for 10 s keeps it active; then 100 bytes/s (a keep-alive trickle) is idle.
    let mut fired = Vec::new();
    for t in 1..=60u64 {
        let bytes = if t <= 10 { 2000 } else { 100 };
        counters.record(
            Direction::FromSubscriber,
            bytes,
            rig.stamp(secs(t) - ms(500)),
        );
        // Drive whatever is due up to t (deadlines and the sampling pass at t).
        fired.extend(rig.drive(secs(t)));
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (when, d) = &fired[0];
    assert_eq!(
        *when,
        secs(40),
        "last active interval ended at 10 s; limit 30 s"
    );
    assert!(matches!(
        d.fired,
        Fired::Idle {
            min_rate_bps: Some(8_000),
            ..
        }
    ));
}

// ---- C: data volume ----

#[test]
fn c_volume_fires_at_the_first_sample_after_the_limit_is_exceeded() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        volume: Some(VolumeCondition {
            bytes_to_subscriber: Some(10_000),
            ..Default::default()
        }),
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "erin", &c);
    assert_eq!(
        rig.engine.poll_timeout(),
        Some(rig.at(secs(1))),
        "the first sampling pass"
    );
    counters.record(Direction::ToSubscriber, 9_000, rig.stamp(ms(300)));
    assert!(rig.run(secs(1)).is_empty());
    counters.record(Direction::ToSubscriber, 1_000, rig.stamp(ms(1_200)));
    assert!(
        rig.run(secs(2)).is_empty(),
        "exactly the limit is still allowed"
    );
    counters.record(Direction::ToSubscriber, 1, rig.stamp(ms(2_100)));
    assert!(rig.run(ms(2_999)).is_empty(), "not before the next pass");
    let d = only(rig.run(secs(3)));
    assert_eq!(
        d.fired,
        Fired::Volume {
            counter: VolumeCounter::BytesToSubscriber,
            value: 10_001,
            limit: 10_000,
            only_listed_servers: false
        }
    );
    assert_eq!(d.cause(), AcctTerminateCause::NasRequest);
    assert_eq!(d.fired.measured().unit, Unit::Bytes);
}

#[test]
fn c_volume_counts_packets_and_each_limit_separately() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        volume: Some(VolumeCondition {
            packets_from_subscriber: Some(3),
            bytes_from_subscriber: Some(1_000_000),
            ..Default::default()
        }),
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "erin", &c);
    for _ in 0..4 {
        counters.record(Direction::FromSubscriber, 40, rig.stamp(ms(100)));
    }
    let d = only(rig.run(secs(1)));
    assert!(matches!(
        d.fired,
        Fired::Volume {
            counter: VolumeCounter::PacketsFromSubscriber,
            value: 4,
            limit: 3,
            ..
        }
    ));
}

#[test]
fn c_volume_with_listed_servers_counts_only_their_traffic() {
    let mut rig = Rig::with_table(listed_ftp_table(), secs(1));
    let c = conds(Conditions {
        volume: Some(VolumeCondition {
            bytes_to_subscriber: Some(5_000),
            only_listed_servers: true,
            ..Default::default()
        }),
        listed_sets: 1,
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "frank", &c);
    let table = rig.table.clone();
    let other = ipv4(ELSEWHERE, SUBSCRIBER_ADDR, PROTO_TCP, 443, 40000, 1500);
    let ftp = ipv4(FTP, SUBSCRIBER_ADDR, PROTO_TCP, 20, 40001, 1500);
    for _ in 0..100 {
        count_ipv4(
            &table,
            &counters,
            Direction::ToSubscriber,
            &other,
            rig.stamp(ms(10)),
        )
        .unwrap();
    }
    assert!(
        rig.run(secs(1)).is_empty(),
        "150 kB from elsewhere does not count"
    );
    for _ in 0..4 {
        count_ipv4(
            &table,
            &counters,
            Direction::ToSubscriber,
            &ftp,
            rig.stamp(ms(1_010)),
        )
        .unwrap();
    }
    let d = only(rig.run(secs(2)));
    assert_eq!(
        d.fired,
        Fired::Volume {
            counter: VolumeCounter::BytesToSubscriber,
            value: 6_000,
            limit: 5_000,
            only_listed_servers: true
        }
    );
}

// ---- D: simultaneous logins ----

fn logins(l: LoginCondition) -> Arc<Conditions> {
    conds(Conditions {
        logins: Some(l),
        ..Default::default()
    })
}

fn victims(outcome: LoginOutcome) -> Vec<Decision> {
    match outcome {
        LoginOutcome::Accepted { victims, .. } => victims,
        LoginOutcome::Refused(r) => panic!("refused: {r}"),
    }
}

#[test]
fn d_per_subscriber_cuts_the_earliest_login() {
    let mut rig = Rig::new();
    let c = logins(LoginCondition {
        per_subscriber: Some(2),
        ..Default::default()
    });
    let (o1, k1, _) = rig.login_at(secs(1), "gina", "eth1", &c);
    let (o2, _, _) = rig.login_at(secs(2), "gina", "eth2", &c);
    assert!(victims(o1).is_empty() && victims(o2).is_empty());
    // Another subscriber does not count against gina.
    assert!(victims(rig.login_at(secs(3), "hank", "eth1", &c).0).is_empty());
    let (o3, k3, _) = rig.login_at(secs(4), "gina", "eth1", &c);
    let v = victims(o3);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].session, k1, "the earliest login is cut");
    assert_eq!(
        v[0].fired,
        Fired::Logins {
            scope: LoginScope::Subscriber,
            count: 3,
            limit: 2,
            new_session: k3
        }
    );
    assert_eq!(v[0].cause(), AcctTerminateCause::PortPreempted);
    // The victim no longer counts: the next login cuts the second one, not k1 again.
    let v = victims(rig.login_at(secs(5), "gina", "eth1", &c).0);
    assert_eq!(v.len(), 1);
    assert_ne!(v[0].session, k1);
}

#[test]
fn d_per_access_point_counts_everyone_on_that_access_point() {
    let mut rig = Rig::new();
    let none = conds(Conditions::default());
    let c = logins(LoginCondition {
        per_access_point: Some(2),
        ..Default::default()
    });
    let (_, k_a, _) = rig.login_at(secs(1), "a", "lac-1", &none);
    rig.login_at(secs(2), "b", "lac-2", &none);
    rig.login_at(secs(3), "c", "lac-1", &none);
    // "d" has the limit: lac-1 would hold three, so the earliest there ("a") is cut.
    let v = victims(rig.login_at(secs(4), "d", "lac-1", &c).0);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].session, k_a);
    assert!(matches!(
        v[0].fired,
        Fired::Logins {
            scope: LoginScope::AccessPoint,
            count: 3,
            limit: 2,
            ..
        }
    ));
    // lac-2 has room.
    assert!(victims(rig.login_at(secs(5), "e", "lac-2", &c).0).is_empty());
}

#[test]
fn d_per_server_cut_by_order_cuts_the_lowest_order_first() {
    let mut rig = Rig::new();
    let none = conds(Conditions::default());
    let c = conds(Conditions {
        logins: Some(LoginCondition {
            per_server: Some(3),
            policy: LoginPolicy::CutByOrder,
            ..Default::default()
        }),
        ..Default::default()
    });
    rig.login_ordered(secs(1), "gold", "eth1", &none, 1000);
    let (_, k_cheap1, _) = rig.login_ordered(secs(2), "cheap1", "eth2", &none, 5);
    let (_, k_cheap2, _) = rig.login_ordered(secs(3), "cheap2", "eth1", &none, 5);
    // Server full (3); the order-5 sessions go first, earliest among them first.
    let v = victims(rig.login_ordered(secs(4), "new1", "eth1", &c, 9).0);
    assert_eq!(
        v.iter().map(|d| d.session).collect::<Vec<_>>(),
        vec![k_cheap1]
    );
    assert!(matches!(
        v[0].fired,
        Fired::Logins {
            scope: LoginScope::Server,
            count: 4,
            limit: 3,
            ..
        }
    ));
    let v = victims(rig.login_ordered(secs(5), "new2", "eth2", &c, 9).0);
    assert_eq!(
        v.iter().map(|d| d.session).collect::<Vec<_>>(),
        vec![k_cheap2]
    );
    // Now the lowest order present is 9 (new1, new2); a login ranked 1 ranks first itself and is
    // refused rather than cutting someone ranked after it.
    match rig.login_ordered(secs(6), "pushy", "eth1", &c, 1).0 {
        LoginOutcome::Refused(LoginRefusal::Logins {
            scope: LoginScope::Server,
            count: 4,
            limit: 3,
        }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        rig.engine.len(),
        5,
        "3 live + 2 cut and waiting for logout; the refusal added none"
    );
    // An equal rank is not a reason to refuse: the earliest of the rank goes.
    let v = victims(rig.login_ordered(secs(7), "peer", "eth1", &c, 9).0);
    assert_eq!(v.len(), 1);
}

#[test]
fn d_cut_earliest_ignores_the_order() {
    let mut rig = Rig::new();
    let none = conds(Conditions::default());
    let c = logins(LoginCondition {
        per_server: Some(2),
        ..Default::default()
    });
    let (_, k_first, _) = rig.login_ordered(secs(1), "x", "eth1", &none, 1000);
    rig.login_ordered(secs(2), "y", "eth1", &none, 0);
    let v = victims(rig.login_at(secs(3), "z", "eth1", &c).0);
    assert_eq!(
        v.iter().map(|d| d.session).collect::<Vec<_>>(),
        vec![k_first]
    );
}

#[test]
fn d_refuse_new_refuses_and_cuts_nothing() {
    let mut rig = Rig::new();
    let c = logins(LoginCondition {
        per_subscriber: Some(1),
        policy: LoginPolicy::RefuseNew,
        ..Default::default()
    });
    let (h, _) = rig.login(secs(1), "ivy", &c);
    match rig.login_at(secs(2), "ivy", "eth1", &c).0 {
        LoginOutcome::Refused(r) => {
            assert_eq!(
                r,
                LoginRefusal::Logins {
                    scope: LoginScope::Subscriber,
                    count: 2,
                    limit: 1
                }
            );
            assert_eq!(r.cause(), AcctTerminateCause::ServiceUnavailable);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(rig.engine.len(), 1);
    // After the first session logs out there is room again.
    rig.engine.logout(h).unwrap();
    assert!(victims(rig.login_at(secs(3), "ivy", "eth1", &c).0).is_empty());
}

#[test]
fn d_sessions_cut_for_other_conditions_no_longer_count() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        session_time: Some(secs(10)),
        logins: Some(LoginCondition {
            per_subscriber: Some(1),
            policy: LoginPolicy::RefuseNew,
            ..Default::default()
        }),
        ..Default::default()
    });
    rig.login(secs(0), "jo", &c);
    assert_eq!(
        only(rig.run(secs(10))).fired.kind(),
        ConditionKind::SessionTime
    );
    // The cut session waits for its logout but does not block the re-login.
    assert!(victims(rig.login_at(secs(11), "jo", "eth1", &c).0).is_empty());
}

// ---- E: traffic ----

#[test]
fn e_traffic_fires_when_a_window_averages_over_the_share() {
    // Path 1 Mbit/s, window 10 s, 50 %: 625,000 bytes in a window is exactly 50 %.
    let mut rig = Rig::new();
    let c = conds(Conditions {
        traffic: Some(TrafficCondition {
            window: secs(10),
            max_percent: 50,
            direction: RateDirection::Busier,
        }),
        ..Default::default()
    });
    let (_, counters) = rig.login(secs(0), "kim", &c);
    let mut fired = Vec::new();
    for t in 1..=30u64 {
        // First window 48 %, second exactly 50 % (allowed), third 56 %.
        let per_second = match t {
            1..=10 => 60_000,
            11..=20 => 62_500,
            _ => 70_000,
        };
        counters.record(
            Direction::ToSubscriber,
            per_second,
            rig.stamp(secs(t) - ms(1)),
        );
        counters.record(
            Direction::FromSubscriber,
            per_second / 10,
            rig.stamp(secs(t) - ms(1)),
        );
        fired.extend(rig.drive(secs(t)));
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (when, d) = &fired[0];
    assert_eq!(*when, secs(30), "judged at the end of the third window");
    assert_eq!(
        d.fired,
        Fired::Traffic {
            window: secs(10),
            rate_bps: 560_000,
            path_max_bps: 1_000_000,
            limit_percent: 50
        }
    );
    assert_eq!(d.fired.measured().value, 5_600, "56.00 %");
    assert_eq!(d.fired.limit().value, 5_000);
    assert_eq!(d.cause(), AcctTerminateCause::NasRequest);
}

#[test]
fn e_traffic_measures_the_configured_direction() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        traffic: Some(TrafficCondition {
            window: secs(5),
            max_percent: 10,
            direction: RateDirection::FromSubscriber,
        }),
        ..Default::default()
    });
    let (h, counters) = rig.login(secs(0), "kim", &c);
    // Heavy download, light upload: the upload direction stays under 10 %.
    counters.record(Direction::ToSubscriber, 5_000_000, rig.stamp(secs(1)));
    counters.record(Direction::FromSubscriber, 10_000, rig.stamp(secs(1)));
    assert!(rig.drive(secs(6)).is_empty());
    // A faster path is fine; a 100 kbit/s path makes the same upload 16 %.
    rig.engine.set_path_max_rate(h, 100_000);
    counters.record(Direction::FromSubscriber, 10_000, rig.stamp(secs(7)));
    let fired = rig.drive(secs(11));
    assert_eq!(fired.len(), 1);
    assert!(matches!(
        fired[0].1.fired,
        Fired::Traffic {
            rate_bps: 16_000,
            path_max_bps: 100_000,
            ..
        }
    ));
}

// ---- F: application-server timeout ----

fn service_table() -> ServiceTable {
    ServiceTable::build(
        vec![
            ServiceSpec::host("ftp", FTP, PROTO_TCP, Some(21), secs(60)),
            ServiceSpec::host("web", WEB, PROTO_TCP, Some(443), secs(300)),
        ],
        &[],
        &[],
    )
    .unwrap()
}

/// F on every service (a table built without watch groups puts them all in group 0).
fn app_timeout(guard: Duration) -> Arc<Conditions> {
    conds(Conditions {
        app_timeout: Some(AppTimeoutCondition { guard, groups: 1 }),
        ..Default::default()
    })
}

#[test]
fn f_cuts_a_guard_interval_before_the_server_times_out() {
    let mut rig = Rig::with_table(service_table(), secs(1));
    let (_, counters) = rig.login(secs(0), "lee", &app_timeout(secs(5)));
    let table = rig.table.clone();
    let to_ftp = ipv4(SUBSCRIBER_ADDR, FTP, PROTO_TCP, 40000, 21, 52);
    let class = count_ipv4(
        &table,
        &counters,
        Direction::FromSubscriber,
        &to_ftp,
        rig.stamp(secs(30)),
    )
    .unwrap();
    assert_eq!(class.service.map(|s| s.0), Some(0));
    // The ftp server would time out at 90 s; the guard of 5 s cuts at 85 s.
    let fired = rig.drive(secs(85) - ms(1));
    assert!(fired.is_empty(), "{fired:?}");
    let fired = rig.drive(secs(200));
    assert_eq!(fired.len(), 1);
    let (when, d) = &fired[0];
    assert_eq!(*when, secs(85));
    match &d.fired {
        Fired::AppTimeout {
            service_name,
            idle,
            server_timeout,
            guard,
            ..
        } => {
            assert_eq!(&**service_name, "ftp");
            assert_eq!(*idle, secs(55));
            assert_eq!(*server_timeout, secs(60));
            assert_eq!(*guard, secs(5));
        }
        other => panic!("expected F, got {other:?}"),
    }
    assert_eq!(d.fired.limit().value, 55_000);
    assert_eq!(d.cause(), AcctTerminateCause::IdleTimeout);
}

#[test]
fn f_matching_packets_keep_the_session_and_other_traffic_does_not() {
    let mut rig = Rig::with_table(service_table(), secs(1));
    let (_, counters) = rig.login(secs(0), "lee", &app_timeout(secs(10)));
    let table = rig.table.clone();
    let from_ftp = ipv4(FTP, SUBSCRIBER_ADDR, PROTO_TCP, 21, 40000, 1500);
    let other_port = ipv4(FTP, SUBSCRIBER_ADDR, PROTO_TCP, 22, 40000, 1500);
    // A download from the ftp server every 20 s until 100 s, then only traffic on another port.
    let mut fired = Vec::new();
    for t in (0..=200u64).step_by(20) {
        let p = if t <= 100 { &from_ftp } else { &other_port };
        count_ipv4(
            &table,
            &counters,
            Direction::ToSubscriber,
            p,
            rig.stamp(secs(t)),
        )
        .unwrap();
        fired.extend(rig.drive(secs(t)));
    }
    fired.extend(rig.drive(secs(400)));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].0, secs(150), "100 s + 60 s timeout - 10 s guard");
}

#[test]
fn f_the_service_expiring_first_decides() {
    let mut rig = Rig::with_table(service_table(), secs(1));
    let (_, counters) = rig.login(secs(0), "lee", &app_timeout(secs(5)));
    let table = rig.table.clone();
    let web = ipv4(SUBSCRIBER_ADDR, WEB, PROTO_TCP, 40000, 443, 52);
    let ftp = ipv4(SUBSCRIBER_ADDR, FTP, PROTO_TCP, 40001, 21, 52);
    count_ipv4(
        &table,
        &counters,
        Direction::FromSubscriber,
        &web,
        rig.stamp(secs(10)),
    )
    .unwrap();
    count_ipv4(
        &table,
        &counters,
        Direction::FromSubscriber,
        &ftp,
        rig.stamp(secs(200)),
    )
    .unwrap();
    let fired = rig.drive(secs(1000));
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].0,
        secs(255),
        "ftp at 200 + 60 - 5 comes before web at 10 + 300 - 5"
    );
}

#[test]
fn f_without_service_traffic_never_fires() {
    let mut rig = Rig::with_table(service_table(), secs(1));
    let (_, counters) = rig.login(secs(0), "lee", &app_timeout(secs(5)));
    counters.record(Direction::ToSubscriber, 100, rig.stamp(secs(1)));
    assert!(rig.drive(secs(3600)).is_empty());
}

#[test]
fn f_watches_only_the_services_of_its_groups() {
    // Group 0: ftp only; group 1: ftp and web.
    let table = ServiceTable::build(
        service_table().services().to_vec(),
        &[],
        &[vec![ServiceId(0)], vec![ServiceId(0), ServiceId(1)]],
    )
    .unwrap();
    let mut rig = Rig::with_table(table, secs(1));
    let group = |g: u64| {
        conds(Conditions {
            app_timeout: Some(AppTimeoutCondition {
                guard: secs(5),
                groups: g,
            }),
            ..Default::default()
        })
    };
    let (ftp_only, ftp_counters) = rig.login(secs(0), "ftp-only", &group(0b01));
    let (both, both_counters) = rig.login(secs(0), "both", &group(0b10));
    let table = rig.table.clone();
    let web = ipv4(SUBSCRIBER_ADDR, WEB, PROTO_TCP, 40000, 443, 52);
    for counters in [&ftp_counters, &both_counters] {
        count_ipv4(
            &table,
            counters,
            Direction::FromSubscriber,
            &web,
            rig.stamp(secs(10)),
        )
        .unwrap();
    }
    assert_eq!(
        ftp_counters.service_activity(table.generation()).count(),
        0,
        "web is not in group 0: the data plane does not even record it"
    );
    let fired = rig.drive(secs(1000));
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].0, fired[0].1.handle), (secs(305), both));
    assert!(rig.engine.session_key(ftp_only).is_some());
}

// ---- combinations ----

#[test]
fn combined_conditions_fire_whichever_holds_first() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        session_time: Some(secs(3600)),
        idle: Some(idle(secs(300), IdleDirection::Either)),
        volume: Some(VolumeCondition {
            bytes_from_subscriber: Some(1_000_000),
            ..Default::default()
        }),
        ..Default::default()
    });
    // Active every 4 minutes, little volume: A fires at the hour.
    let (_, active) = rig.login(secs(0), "mia", &c);
    // Goes quiet after 10 minutes: B fires at 15 minutes.
    let (_, quiet) = rig.login(secs(0), "ned", &c);
    // Uploads too much at 20 minutes: C fires at the next pass.
    let (_, heavy) = rig.login(secs(0), "ola", &c);
    let mut fired = Vec::new();
    for minute in 1..=70u64 {
        let t = secs(minute * 60);
        // Everything due before the packets of this minute, then the packets, then the minute.
        fired.extend(rig.drive(t - ms(2)));
        if minute % 4 == 0 {
            active.record(Direction::FromSubscriber, 100, rig.stamp(t - ms(1)));
            heavy.record(Direction::FromSubscriber, 100, rig.stamp(t - ms(1)));
        }
        if minute <= 10 {
            quiet.record(Direction::ToSubscriber, 100, rig.stamp(t - ms(1)));
        }
        if minute == 20 {
            heavy.record(Direction::FromSubscriber, 2_000_000, rig.stamp(t - ms(1)));
        }
        fired.extend(rig.drive(t));
    }
    let by = |name: &str| {
        fired
            .iter()
            .find(|(_, d)| &*d.subscriber == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(fired.len(), 3, "{fired:?}");
    let (t, d) = by("mia");
    assert_eq!(
        (t, d.fired.kind()),
        (secs(3600), ConditionKind::SessionTime)
    );
    let (t, d) = by("ned");
    assert_eq!(
        (t, d.fired.kind()),
        (secs(600) - ms(1) + secs(300), ConditionKind::Idle)
    );
    let (t, d) = by("ola");
    assert_eq!(
        (t, d.fired.kind()),
        (secs(1200), ConditionKind::Volume),
        "the pass right after"
    );
}

// ---- reload ----

#[test]
fn reload_shortens_and_lengthens_the_limits_of_live_sessions() {
    let mut rig = Rig::new();
    let long = conds(Conditions {
        idle: Some(idle(secs(600), IdleDirection::Either)),
        ..Default::default()
    });
    let short = conds(Conditions {
        idle: Some(idle(secs(60), IdleDirection::Either)),
        ..Default::default()
    });
    let (h1, _) = rig.login(secs(0), "pat", &long);
    let (h2, _) = rig.login(secs(0), "quin", &short);
    assert!(rig.run(secs(30)).is_empty());
    // Reload: pat gets the short limit, quin the long one.
    rig.engine.reload(rig.at(secs(30)), |_, subscriber| {
        Some(if subscriber == "pat" {
            (short.clone(), 100)
        } else {
            (long.clone(), 100)
        })
    });
    assert_eq!(
        rig.engine.conditions(h1).unwrap().idle.unwrap().limit,
        secs(60)
    );
    let fired = rig.drive(secs(1000));
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert_eq!(
        (fired[0].0, fired[0].1.handle),
        (secs(60), h1),
        "pat: idle since login, new 60 s limit"
    );
    assert_eq!(
        (fired[1].0, fired[1].1.handle),
        (secs(600), h2),
        "quin: the 60 s deadline passed without firing"
    );
}

#[test]
fn reload_that_makes_a_condition_hold_fires_at_once() {
    let mut rig = Rig::new();
    let (h, _) = rig.login(secs(0), "rae", &conds(Conditions::default()));
    assert!(rig.drive(secs(7200)).is_empty());
    let now = rig.at(secs(7200));
    assert!(rig.engine.set_conditions(
        now,
        h,
        conds(Conditions {
            session_time: Some(secs(3600)),
            ..Default::default()
        }),
        100
    ));
    assert_eq!(rig.engine.poll_timeout(), Some(now));
    let d = only(rig.run(secs(7200)));
    assert_eq!(
        d.fired,
        Fired::SessionTime {
            elapsed: secs(7200),
            limit: secs(3600)
        }
    );
}

#[test]
fn reload_adding_volume_and_removing_it() {
    let mut rig = Rig::new();
    let (h, counters) = rig.login(secs(0), "sam", &conds(Conditions::default()));
    counters.record(Direction::ToSubscriber, 50_000, rig.stamp(secs(1)));
    assert_eq!(
        rig.engine.poll_timeout(),
        None,
        "no conditions, nothing to wake for"
    );
    let volume = conds(Conditions {
        volume: Some(VolumeCondition {
            bytes_to_subscriber: Some(10_000),
            ..Default::default()
        }),
        ..Default::default()
    });
    rig.engine.set_conditions(rig.at(secs(5)), h, volume, 100);
    assert_eq!(rig.engine.poll_timeout(), Some(rig.at(secs(6))));
    // Removed again before the pass: nothing fires.
    rig.engine
        .set_conditions(rig.at(secs(5)), h, conds(Conditions::default()), 100);
    assert!(rig.drive(secs(100)).is_empty());
}

#[test]
fn reload_switching_the_service_table_rearms_f() {
    let mut rig = Rig::with_table(service_table(), secs(1));
    let (_, counters) = rig.login(secs(0), "tia", &app_timeout(secs(5)));
    let table = rig.table.clone();
    let ftp = ipv4(SUBSCRIBER_ADDR, FTP, PROTO_TCP, 40001, 21, 52);
    count_ipv4(
        &table,
        &counters,
        Direction::FromSubscriber,
        &ftp,
        rig.stamp(secs(10)),
    )
    .unwrap();
    // New table: ftp's timeout is now 20 s. Activity under the old table is forgotten.
    let mut new = service_table().services().to_vec();
    new[0].idle_timeout = secs(20);
    let new = rig
        .shared
        .publish(ServiceTable::build(new, &[], &[]).unwrap());
    rig.engine.set_service_table(rig.at(secs(15)), new.clone());
    assert!(
        rig.drive(secs(100)).is_empty(),
        "the old table's activity does not count"
    );
    count_ipv4(
        &new,
        &counters,
        Direction::FromSubscriber,
        &ftp,
        rig.stamp(secs(100)),
    )
    .unwrap();
    let fired = rig.drive(secs(1000));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].0, secs(115), "100 s + 20 s - 5 s");
}

// ---- housekeeping ----

#[test]
fn logout_cancels_everything_and_stale_entries_do_not_wake() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        session_time: Some(secs(100)),
        ..Default::default()
    });
    let (h, _) = rig.login(secs(0), "uma", &c);
    rig.engine.logout(h).unwrap();
    assert_eq!(rig.engine.poll_timeout(), None);
    assert!(rig.run(secs(1000)).is_empty());
    // Churn: the deadline queue does not grow without bound.
    for i in 0..10_000u64 {
        let (h, _) = rig.login(secs(i), "vic", &c);
        rig.engine.logout(h).unwrap();
    }
    assert!(
        rig.engine.stats().queued_deadlines < 2_100,
        "{:?}",
        rig.engine.stats()
    );
    assert!(rig.engine.is_empty());
}

#[test]
fn a_reused_slot_does_not_honour_an_old_handle() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        session_time: Some(secs(100)),
        ..Default::default()
    });
    let (old, _) = rig.login(secs(0), "wes", &c);
    rig.engine.logout(old).unwrap();
    let (new, _) = rig.login(secs(1), "xan", &c);
    assert_eq!(rig.engine.session_key(old), None);
    assert!(
        !rig.engine
            .set_conditions(rig.at(secs(2)), old, conds(Conditions::default()), 100)
    );
    assert_eq!(rig.engine.logout(old), None);
    assert!(rig.engine.session_key(new).is_some());
}

#[test]
fn a_burst_of_deadlines_is_worked_through_over_several_calls() {
    use l2tpagg::engine::disconnect::DEADLINES_PER_CALL;
    let mut rig = Rig::new();
    let c = conds(Conditions {
        session_time: Some(secs(10)),
        ..Default::default()
    });
    let n = DEADLINES_PER_CALL + 1000;
    for _ in 0..n {
        rig.login(secs(0), "crowd", &c);
    }
    let first = rig.run(secs(10));
    assert_eq!(first.len(), DEADLINES_PER_CALL);
    assert_eq!(
        rig.engine.poll_timeout(),
        Some(rig.at(secs(10))),
        "the backlog is still due"
    );
    let second = rig.run(secs(10));
    assert_eq!(second.len(), 1000);
    assert_eq!(rig.engine.poll_timeout(), None);
}

#[test]
fn a_decision_reads_as_one_log_line() {
    let mut rig = Rig::new();
    let c = conds(Conditions {
        idle: Some(idle(secs(300), IdleDirection::Either)),
        ..Default::default()
    });
    rig.login(secs(0), "yael", &c);
    let d = only(rig.run(secs(300)));
    assert_eq!(
        d.to_string(),
        "session 1 of \"yael\" cut: idle (B): 300.000s against limit 300.000s; Acct-Terminate-Cause Idle-Timeout(4)"
    );
}

#[test]
fn reload_keeps_the_minimum_rate_activity_of_a_live_session() {
    let mut rig = Rig::new();
    let with = |limit| {
        conds(Conditions {
            idle: Some(IdleCondition {
                min_rate_bps: Some(8_000),
                ..idle(limit, IdleDirection::Either)
            }),
            ..Default::default()
        })
    };
    let (h, counters) = rig.login(secs(0), "zed", &with(secs(100)));
    let mut fired = Vec::new();
    for t in 1..=20u64 {
        // Active (2 kB/s) until 20 s.
        counters.record(Direction::ToSubscriber, 2_000, rig.stamp(secs(t) - ms(500)));
        fired.extend(rig.drive(secs(t)));
    }
    // Shorten the limit to 30 s at 25 s: idle still counts from 20 s, not from login nor from now.
    fired.extend(rig.drive(secs(25)));
    rig.engine
        .set_conditions(rig.at(secs(25)), h, with(secs(30)), 100);
    fired.extend(rig.drive(secs(200)));
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].0, secs(50));
}
