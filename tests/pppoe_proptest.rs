//! Property tests: the PPPoE codec, the access concentrator and the client never panic on any
//! input, accepted frames round-trip, and the AC's invariants (caps, unique IDs, bounded queue,
//! events matching its table) hold under random traffic.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use l2tpagg::pppoe::ac::{AcEvent, RejectKind};
use l2tpagg::pppoe::tag::Tag;
use l2tpagg::pppoe::{
    AcConfig, AccessConcentrator, Admission, Body, ClientConfig, ClientEvent, ClientHandled,
    ClientState, DiscoveryCode, DiscoveryRepr, EthernetRepr, Frame, FrameRepr, Handled, MacAddr,
    PppoeClient, SessionHeader, SessionRepr,
};
use l2tpagg::runtime::clock::test_epoch;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

const AC_MAC: MacAddr = MacAddr([0x02, 0xac, 0, 0, 0, 1]);

fn pool_mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n % 8])
}

/// Valid frames of every kind, as mutation seeds.
fn seeds() -> Vec<Vec<u8>> {
    let eth = |dst, src, vlan| EthernetRepr { dst, src, vlan };
    let d = |e, code, sid, tags| FrameRepr {
        eth: e,
        body: Body::Discovery(DiscoveryRepr {
            code,
            session_id: sid,
            tags,
        }),
    };
    vec![
        d(
            eth(MacAddr::BROADCAST, pool_mac(1), None),
            DiscoveryCode::Padi,
            0,
            vec![Tag::ServiceName(b"")],
        ),
        d(
            eth(MacAddr::BROADCAST, pool_mac(2), Some(7)),
            DiscoveryCode::Padi,
            0,
            vec![
                Tag::ServiceName(b"internet"),
                Tag::HostUniq(b"abcd"),
                Tag::PppMaxPayload(1500),
                Tag::RelaySessionId(&[1; 12]),
            ],
        ),
        d(
            eth(AC_MAC, pool_mac(3), None),
            DiscoveryCode::Padr,
            0,
            vec![
                Tag::ServiceName(b""),
                Tag::AcCookie(&[9; 16]),
                Tag::VendorSpecific {
                    vendor_id: 9,
                    data: b"v",
                },
            ],
        ),
        d(
            eth(AC_MAC, pool_mac(4), None),
            DiscoveryCode::Padt,
            3,
            vec![Tag::GenericError(b"bye")],
        ),
        d(
            eth(pool_mac(4), AC_MAC, None),
            DiscoveryCode::Pads,
            3,
            vec![Tag::ServiceName(b""), Tag::EndOfList],
        ),
        FrameRepr {
            eth: eth(AC_MAC, pool_mac(5), None),
            body: Body::Session(SessionRepr {
                session_id: 1,
                ppp: &[0xc0, 0x21, 1, 1, 0, 4],
            }),
        },
    ]
    .into_iter()
    .map(|r| r.to_vec().unwrap())
    .collect()
}

fn mutate(seed: &[u8], edits: &[(u16, u8)], truncate_to: Option<u16>, append: &[u8]) -> Vec<u8> {
    let mut f = seed.to_vec();
    for &(at, value) in edits {
        if !f.is_empty() {
            let i = usize::from(at) % f.len();
            f[i] = value;
        }
    }
    if let Some(n) = truncate_to {
        f.truncate(usize::from(n));
    }
    f.extend_from_slice(append);
    f
}

/// Owned tag material; `build` borrows it into [`Tag`]s.
#[derive(Debug, Clone)]
struct TagSpec {
    kind: u8,
    value: Vec<u8>,
    number: u16,
}

fn build(spec: &TagSpec) -> Tag<'_> {
    let v = spec.value.as_slice();
    match spec.kind % 11 {
        0 => Tag::ServiceName(v),
        1 => Tag::AcName(v),
        2 => Tag::HostUniq(v),
        3 => Tag::AcCookie(v),
        4 => Tag::VendorSpecific {
            vendor_id: u32::from(spec.number),
            data: v,
        },
        5 => Tag::RelaySessionId(v),
        6 => Tag::PppMaxPayload(spec.number),
        7 => Tag::ServiceNameError(v),
        8 => Tag::AcSystemError(v),
        9 => Tag::GenericError(v),
        // Types no RFC assigns, so they parse back as Unknown.
        _ => Tag::Unknown {
            tag_type: 0x1000 + spec.number % 0x1000,
            value: v,
        },
    }
}

fn tag_spec() -> impl Strategy<Value = TagSpec> {
    (
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<u16>(),
    )
        .prop_map(|(kind, value, number)| TagSpec {
            kind,
            value,
            number,
        })
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(50_000))]

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        if let Ok(frame) = Frame::new_checked(&bytes) {
            // Every accessor is safe after the one check.
            let _ = (frame.dst(), frame.src(), frame.vlan(), frame.stage(), frame.code(), frame.session_id());
            prop_assert!(frame.payload().len() <= bytes.len());
            let _ = FrameRepr::parse(&frame);
        }
    }

    #[test]
    fn parser_never_panics_on_mutated_frames_and_accepted_ones_round_trip(
        seed in 0usize..6,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..6),
        truncate_to in proptest::option::of(0u16..120),
        append in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let frame = mutate(&seeds()[seed], &edits, truncate_to, &append);
        if let Ok(repr) = FrameRepr::parse_bytes(&frame) {
            // What we accept we can write back, and it reads the same (padding and octets after
            // End-Of-List are not part of the representation).
            let again = repr.to_vec().unwrap();
            prop_assert_eq!(FrameRepr::parse_bytes(&again).unwrap(), repr);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn any_representation_round_trips(
        dst in mac(),
        src in mac(),
        vlan in proptest::option::of(0u16..4096),
        code in 0usize..6,
        session_id in any::<u16>(),
        specs in proptest::collection::vec(tag_spec(), 0..12),
        end_of_list in any::<bool>(),
        ppp in proptest::collection::vec(any::<u8>(), 1..200),
    ) {
        let eth = EthernetRepr { dst, src, vlan };
        let body = if code == 5 {
            Body::Session(SessionRepr { session_id, ppp: &ppp })
        } else {
            let code = [DiscoveryCode::Padi, DiscoveryCode::Pado, DiscoveryCode::Padr, DiscoveryCode::Pads, DiscoveryCode::Padt][code];
            let mut tags: Vec<Tag<'_>> = specs.iter().map(build).collect();
            if end_of_list {
                tags.push(Tag::EndOfList);
            }
            Body::Discovery(DiscoveryRepr { code, session_id, tags })
        };
        let repr = FrameRepr { eth, body };
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        prop_assert_eq!(FrameRepr::parse_bytes(&bytes).unwrap(), repr);
    }
}

/// One thing that can happen on the access segment.
#[derive(Debug, Clone)]
enum Op {
    /// A PADI from a pool MAC, optionally with a Host-Uniq.
    Padi {
        mac: u8,
        uniq: Option<u8>,
        vlan: bool,
    },
    /// A PADR from a pool MAC carrying the cookie last offered to it, or (replay) to `cookie_of`.
    Padr {
        mac: u8,
        cookie_of: Option<u8>,
        uniq: Option<u8>,
        service: u8,
    },
    /// A PADR with a made-up cookie.
    PadrForged { mac: u8, cookie: [u8; 16] },
    /// A PADT for an existing session (by index) or a random ID.
    Padt { mac: u8, pick: u16 },
    /// A session frame for an existing session (by index) or a random ID.
    Session { mac: u8, pick: u16, ppp: Vec<u8> },
    /// A mutated valid frame.
    Mutated {
        seed: usize,
        edits: Vec<(u16, u8)>,
        truncate_to: Option<u16>,
    },
    /// Random bytes.
    Raw(Vec<u8>),
    /// Time passes.
    Advance(u32),
    /// We end a session.
    Terminate(u16),
    /// Admission closes or opens.
    Admission(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<u8>(), proptest::option::of(0u8..3), proptest::bool::weighted(0.2)).prop_map(|(mac, uniq, vlan)| Op::Padi { mac, uniq, vlan }),
        6 => (any::<u8>(), proptest::option::weighted(0.2, any::<u8>()), proptest::option::of(0u8..3), 0u8..4)
            .prop_map(|(mac, cookie_of, uniq, service)| Op::Padr { mac, cookie_of, uniq, service }),
        1 => (any::<u8>(), any::<[u8; 16]>()).prop_map(|(mac, cookie)| Op::PadrForged { mac, cookie }),
        2 => (any::<u8>(), any::<u16>()).prop_map(|(mac, pick)| Op::Padt { mac, pick }),
        3 => (any::<u8>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(mac, pick, ppp)| Op::Session { mac, pick, ppp }),
        2 => (0usize..6, proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4), proptest::option::of(0u16..80))
            .prop_map(|(seed, edits, truncate_to)| Op::Mutated { seed, edits, truncate_to }),
        1 => proptest::collection::vec(any::<u8>(), 0..100).prop_map(Op::Raw),
        1 => (0u32..15_000).prop_map(Op::Advance),
        1 => any::<u16>().prop_map(Op::Terminate),
        1 => proptest::bool::weighted(0.8).prop_map(Op::Admission),
    ]
}

fn discovery_frame(
    dst: MacAddr,
    src: MacAddr,
    vlan: Option<u16>,
    code: DiscoveryCode,
    sid: u16,
    tags: Vec<Tag<'_>>,
) -> Vec<u8> {
    FrameRepr {
        eth: EthernetRepr { dst, src, vlan },
        body: Body::Discovery(DiscoveryRepr {
            code,
            session_id: sid,
            tags,
        }),
    }
    .to_vec()
    .unwrap()
}

/// Sessions established, torn down by peer PADT, cap refusals, ops run: shows the random traffic
/// reaches deep states, not only the parser.
static STATS: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

#[test]
fn access_concentrator_survives_random_traffic_and_keeps_its_invariants() {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(20_000));
    let result = runner.run(&proptest::collection::vec(op(), 1..60), |ops| {
        let mut config = AcConfig::new(AC_MAC, "lac-prop", [0x42; 32]);
        config.service_names = vec!["internet".into(), "voip".into()];
        config.max_sessions = 6;
        config.max_sessions_per_mac = 2;
        config.transmit_queue_limit = 8;
        config.cookie_bucket = Duration::from_secs(20);
        let start = test_epoch();
        let mut ac = AccessConcentrator::new(config, start).unwrap();
        let mut now = start;
        let mut cookies: HashMap<(MacAddr, Option<u16>), Vec<u8>> = HashMap::new();
        let mut live: HashSet<u16> = HashSet::new();
        let services: [&[u8]; 4] = [b"", b"voip", b"internet", b"tv"];

        for op in ops {
            STATS[3].fetch_add(1, Relaxed);
            let pick = |live: &HashSet<u16>, pick: u16| {
                let mut ids: Vec<u16> = live.iter().copied().collect();
                ids.sort_unstable();
                if ids.is_empty() || pick.is_multiple_of(4) {
                    pick
                } else {
                    ids[usize::from(pick) % ids.len()]
                }
            };
            let frame = match &op {
                Op::Padi { mac, uniq, vlan } => {
                    let u = uniq.map(|u| [u]);
                    let mut tags = vec![Tag::ServiceName(b"")];
                    if let Some(u) = &u {
                        tags.push(Tag::HostUniq(u));
                    }
                    discovery_frame(
                        MacAddr::BROADCAST,
                        pool_mac(*mac),
                        vlan.then_some(3),
                        DiscoveryCode::Padi,
                        0,
                        tags,
                    )
                }
                Op::Padr {
                    mac,
                    cookie_of,
                    uniq,
                    service,
                } => {
                    let owner = pool_mac(cookie_of.unwrap_or(*mac));
                    let cookie = cookies.get(&(owner, None)).cloned().unwrap_or_default();
                    let u = uniq.map(|u| [u]);
                    let mut tags = vec![
                        Tag::ServiceName(services[usize::from(*service)]),
                        Tag::AcCookie(&cookie),
                    ];
                    if let Some(u) = &u {
                        tags.push(Tag::HostUniq(u));
                    }
                    discovery_frame(AC_MAC, pool_mac(*mac), None, DiscoveryCode::Padr, 0, tags)
                }
                Op::PadrForged { mac, cookie } => discovery_frame(
                    AC_MAC,
                    pool_mac(*mac),
                    None,
                    DiscoveryCode::Padr,
                    0,
                    vec![Tag::ServiceName(b""), Tag::AcCookie(cookie)],
                ),
                Op::Padt { mac, pick: p } => {
                    let sid = pick(&live, *p);
                    let src = ac
                        .session(sid)
                        .filter(|_| mac % 2 == 0)
                        .map_or(pool_mac(*mac), |s| s.peer);
                    discovery_frame(AC_MAC, src, None, DiscoveryCode::Padt, sid, vec![])
                }
                Op::Session { mac, pick: p, ppp } => {
                    let sid = pick(&live, *p);
                    let src = ac
                        .session(sid)
                        .filter(|_| mac % 2 == 0)
                        .map_or(pool_mac(*mac), |s| s.peer);
                    let vlan = ac.session(sid).and_then(|s| s.vlan);
                    SessionHeader {
                        local: src,
                        peer: AC_MAC,
                        vlan,
                        session_id: sid,
                    }
                    .to_vec(ppp)
                    .unwrap()
                }
                Op::Mutated {
                    seed,
                    edits,
                    truncate_to,
                } => mutate(&seeds()[*seed], edits, *truncate_to, &[]),
                Op::Raw(bytes) => bytes.clone(),
                Op::Advance(ms) => {
                    now += Duration::from_millis(u64::from(*ms));
                    continue;
                }
                Op::Terminate(p) => {
                    let sid = pick(&live, *p);
                    let known = live.contains(&sid);
                    prop_assert_eq!(ac.terminate(sid, Some("test")).is_ok(), known);
                    live.remove(&sid);
                    Vec::new()
                }
                Op::Admission(open) => {
                    ac.set_admission(if *open {
                        Admission::Open
                    } else {
                        Admission::Refuse {
                            reason: "closed".into(),
                        }
                    });
                    continue;
                }
            };
            if !frame.is_empty() {
                let before = ac.counters().total_rejects();
                let handled = ac.handle_frame(now, &frame);
                if let Handled::Rejected(_) = handled {
                    prop_assert_eq!(
                        ac.counters().total_rejects(),
                        before + 1,
                        "every rejection is counted once"
                    );
                }
                if let Handled::Rejected(r) = &handled
                    && matches!(
                        r.kind(),
                        RejectKind::PerMacLimit | RejectKind::InterfaceFull
                    )
                {
                    STATS[2].fetch_add(1, Relaxed);
                }
                if let Handled::Session(p) = handled {
                    prop_assert!(live.contains(&p.session_id));
                    prop_assert_eq!(ac.session(p.session_id).unwrap().peer, p.peer);
                }
            }
            prop_assert!(
                ac.footprint().queued_transmits <= 8 + 6,
                "queue bounded (PADTs of terminate may bypass)"
            );
            while let Some(f) = ac.poll_transmit() {
                let repr =
                    FrameRepr::parse_bytes(&f).expect("the AC emits only frames it can parse");
                prop_assert_eq!(repr.eth.src, AC_MAC);
                prop_assert!(f.len() <= 1500 + 18);
                if let Body::Discovery(d) = repr.body {
                    if d.code == DiscoveryCode::Pado {
                        cookies.insert(
                            (repr.eth.dst, repr.eth.vlan),
                            d.ac_cookie().unwrap().to_vec(),
                        );
                    }
                    if d.code == DiscoveryCode::Pads && d.session_id != 0 {
                        prop_assert!(
                            live.contains(&d.session_id) || ac.session(d.session_id).is_some()
                        );
                    }
                }
            }
            while let Some(e) = ac.poll_event() {
                match e {
                    AcEvent::SessionEstablished(info) => {
                        prop_assert!(info.session_id != 0 && info.session_id != 0xffff);
                        prop_assert!(
                            live.insert(info.session_id),
                            "session IDs are unique among live sessions"
                        );
                        STATS[0].fetch_add(1, Relaxed);
                        prop_assert!(
                            info.service_name == b"internet" || info.service_name == b"voip"
                        );
                    }
                    AcEvent::SessionTerminatedByPeer { info, .. } => {
                        STATS[1].fetch_add(1, Relaxed);
                        prop_assert!(live.remove(&info.session_id));
                    }
                }
            }
            // The AC's table is exactly what its events said, within the caps.
            let table: HashSet<u16> = ac.sessions().map(|s| s.session_id).collect();
            prop_assert_eq!(&table, &live);
            prop_assert!(live.len() <= 6);
            let mut per_mac: HashMap<(MacAddr, Option<u16>), usize> = HashMap::new();
            for s in ac.sessions() {
                *per_mac.entry((s.peer, s.vlan)).or_default() += 1;
            }
            for (&(m, v), &n) in &per_mac {
                prop_assert!(n <= 2);
                prop_assert_eq!(ac.sessions_of(m, v), n);
            }
            prop_assert_eq!(ac.footprint().peers, per_mac.len());
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let [established, peer_padt, cap_refusals, ops] = STATS.each_ref().map(|s| s.load(Relaxed));
    eprintln!(
        "{ops} ops: {established} sessions established, {peer_padt} ended by PADT, {cap_refusals} cap refusals"
    );
    // The generator must reach deep states, or the invariants above were checked on empty tables.
    assert!(
        established > 15_000,
        "only {established} sessions established"
    );
    assert!(peer_padt > 3_000, "only {peer_padt} PADT teardowns");
    assert!(cap_refusals > 500, "only {cap_refusals} cap refusals");
}

/// What an access concentrator (or a stranger) may send a client.
#[derive(Debug, Clone)]
enum ClientOp {
    /// A PADO from one of two ACs, maybe with an error tag, maybe mutated.
    Pado {
        ac: u8,
        error: bool,
        edits: Vec<(u16, u8)>,
    },
    /// A PADS with this session ID from one of two ACs, maybe with an error tag.
    Pads {
        ac: u8,
        session_id: u16,
        error: bool,
    },
    /// A PADT for our session or another.
    Padt { ac: u8, ours: bool },
    /// A session frame for our session or another.
    Session { ours: bool, ppp: Vec<u8> },
    /// A mutated seed aimed at us.
    Mutated { seed: usize, edits: Vec<(u16, u8)> },
    /// Garbage.
    Raw(Vec<u8>),
    /// Time passes and timers fire.
    Advance(u32),
    /// We hang up, or dial again.
    CloseOrConnect,
}

fn client_op() -> impl Strategy<Value = ClientOp> {
    let edits = || proptest::collection::vec((any::<u16>(), any::<u8>()), 0..2);
    prop_oneof![
        4 => (0u8..2, proptest::bool::weighted(0.2), edits()).prop_map(|(ac, error, edits)| ClientOp::Pado { ac, error, edits }),
        4 => (0u8..2, prop_oneof![Just(0u16), Just(0xffff), 1u16..8], proptest::bool::weighted(0.2))
            .prop_map(|(ac, session_id, error)| ClientOp::Pads { ac, session_id, error }),
        1 => (0u8..2, any::<bool>()).prop_map(|(ac, ours)| ClientOp::Padt { ac, ours }),
        2 => (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(ours, ppp)| ClientOp::Session { ours, ppp }),
        2 => (0usize..6, edits()).prop_map(|(seed, edits)| ClientOp::Mutated { seed, edits }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(ClientOp::Raw),
        2 => (0u32..9_000).prop_map(ClientOp::Advance),
        1 => Just(ClientOp::CloseOrConnect),
    ]
}

/// Sessions established, sessions terminated, failures: shows the client's deep states are reached.
static CLIENT_STATS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

#[test]
fn client_survives_random_frames_and_keeps_its_invariants() {
    let me = pool_mac(1);
    let acs = [AC_MAC, MacAddr([0x02, 0xac, 0, 0, 0, 2])];
    let uniq = b"u1";
    let mut runner = TestRunner::new(ProptestConfig::with_cases(20_000));
    let result = runner.run(&proptest::collection::vec(client_op(), 1..40), |ops| {
        let mut config = ClientConfig::new(me);
        config.host_uniq = Some(uniq.to_vec());
        let mut client = PppoeClient::new(config);
        let mut now = test_epoch();
        client.connect(now).unwrap();
        for op in ops {
            let session = client.session().cloned();
            let frame = match op {
                ClientOp::Pado { ac, error, edits } => {
                    let mut tags = vec![
                        Tag::ServiceName(b""),
                        Tag::AcName(b"ac"),
                        Tag::HostUniq(uniq),
                        Tag::AcCookie(b"c"),
                    ];
                    if error {
                        tags.push(Tag::GenericError(b"no"));
                    }
                    let f = discovery_frame(
                        me,
                        acs[usize::from(ac)],
                        None,
                        DiscoveryCode::Pado,
                        0,
                        tags,
                    );
                    mutate(&f, &edits, None, &[])
                }
                ClientOp::Pads {
                    ac,
                    session_id,
                    error,
                } => {
                    let mut tags = vec![Tag::ServiceName(b""), Tag::HostUniq(uniq)];
                    if error {
                        tags.push(Tag::ServiceNameError(b""));
                    }
                    discovery_frame(
                        me,
                        acs[usize::from(ac)],
                        None,
                        DiscoveryCode::Pads,
                        session_id,
                        tags,
                    )
                }
                ClientOp::Padt { ac, ours } => {
                    let sid = session.as_ref().map_or(1, |s| {
                        if ours {
                            s.session_id
                        } else {
                            s.session_id ^ 0x40
                        }
                    });
                    discovery_frame(
                        me,
                        acs[usize::from(ac)],
                        None,
                        DiscoveryCode::Padt,
                        sid,
                        vec![],
                    )
                }
                ClientOp::Session { ours, mut ppp } => {
                    ppp.insert(0, 0x21);
                    let sid = session.as_ref().map_or(1, |s| {
                        if ours {
                            s.session_id
                        } else {
                            s.session_id ^ 0x40
                        }
                    });
                    let header = SessionHeader {
                        local: acs[0],
                        peer: me,
                        vlan: None,
                        session_id: sid,
                    };
                    let f = header.to_vec(&ppp).unwrap();
                    let delivered = client.handle_frame(now, &f);
                    let expect_ppp = ours
                        && session.as_ref().is_some_and(|s| s.ac_mac == acs[0])
                        && client.state() == ClientState::Established;
                    prop_assert_eq!(matches!(delivered, ClientHandled::Session(_)), expect_ppp);
                    Vec::new()
                }
                ClientOp::Mutated { seed, edits } => {
                    let mut f = mutate(&seeds()[seed], &edits, None, &[]);
                    f[..6].copy_from_slice(&me.0);
                    f
                }
                ClientOp::Raw(bytes) => bytes,
                ClientOp::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    client.handle_timeout(now);
                    Vec::new()
                }
                ClientOp::CloseOrConnect => {
                    if client.state() == ClientState::Closed {
                        client.connect(now).unwrap();
                    } else {
                        client.close(None);
                    }
                    Vec::new()
                }
            };
            if !frame.is_empty() {
                client.handle_frame(now, &frame);
            }
            while let Some(f) = client.poll_transmit() {
                let repr =
                    FrameRepr::parse_bytes(&f).expect("the client emits only frames it can parse");
                prop_assert_eq!(repr.eth.src, me);
            }
            while let Some(e) = client.poll_event() {
                match e {
                    ClientEvent::Established(s) => {
                        prop_assert!(s.session_id != 0 && s.session_id != 0xffff);
                        prop_assert_eq!(client.state(), ClientState::Established);
                        CLIENT_STATS[0].fetch_add(1, Relaxed);
                    }
                    ClientEvent::Terminated { .. } => {
                        CLIENT_STATS[1].fetch_add(1, Relaxed);
                    }
                    ClientEvent::Failed(_) => {
                        CLIENT_STATS[2].fetch_add(1, Relaxed);
                    }
                }
            }
            // A timer is armed exactly while discovery runs, and never in the past.
            let discovering = matches!(
                client.state(),
                ClientState::Discovering | ClientState::Requesting
            );
            prop_assert_eq!(client.poll_timeout().is_some(), discovering);
            if let Some(t) = client.poll_timeout() {
                prop_assert!(t > now);
            }
            prop_assert_eq!(
                client.session_header().is_some(),
                client.state() == ClientState::Established
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let [established, terminated, failed] = CLIENT_STATS.each_ref().map(|s| s.load(Relaxed));
    eprintln!("client: {established} established, {terminated} terminated, {failed} failed");
    assert!(
        established > 1_000,
        "only {established} sessions established"
    );
    assert!(terminated > 500, "only {terminated} terminations");
    assert!(failed > 2_000, "only {failed} failures");
}
