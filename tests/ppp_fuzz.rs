//! Property tests: the PPP parsers never panic and round-trip, and links in both roles survive
//! random and reactive peers without panicking, answering garbage, or breaking their invariants.

mod ppp_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use l2tpagg::ppp::chap::ChapPacket;
use l2tpagg::ppp::ipcp::IpcpOption;
use l2tpagg::ppp::lcp::{self, LcpOption};
use l2tpagg::ppp::packet::{PacketRepr, RawOption, options};
use l2tpagg::ppp::pap::PapPacket;
use l2tpagg::ppp::{
    AuthProtocol, AuthVerdict, Event, FrameDisposition, Link, LinkConfig, Phase, ProxyInfo, State,
    parse_frame,
};
use l2tpagg::runtime::clock::test_epoch;
use ppp_support::*;
use proptest::prelude::*;

// ----- parsers -----

fn parse_everything(bytes: &[u8]) {
    for pfc in [false, true] {
        let _ = parse_frame(bytes, pfc);
    }
    if let Ok(p) = PacketRepr::parse(bytes) {
        assert!(p.buffer_len() <= bytes.len());
        for o in options(p.data).flatten() {
            let _ = LcpOption::parse(o);
            let _ = IpcpOption::parse(o);
        }
        let _ = lcp::parse_echo(p.data);
        let _ = lcp::parse_protocol_reject(p.data);
    }
    let _ = PapPacket::parse(bytes);
    let _ = ChapPacket::parse(bytes);
    for o in options(bytes) {
        match o {
            Ok(o) => {
                assert_eq!(o.raw.len(), o.data.len() + 2);
                let _ = LcpOption::parse(o);
                let _ = IpcpOption::parse(o);
            }
            Err(_) => break,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(50_000))]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        parse_everything(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_plausible_packets(
        code in 0u8..16,
        id in any::<u8>(),
        claimed in 0u16..80,
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // Header with a Length that is sometimes right, sometimes not.
        let mut bytes = vec![code, id];
        bytes.extend_from_slice(&claimed.to_be_bytes());
        bytes.extend_from_slice(&body);
        parse_everything(&bytes);
    }
}

fn lcp_option() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        any::<u16>().prop_map(|v| (1u8, v.to_be_bytes().to_vec())),
        any::<u32>().prop_map(|v| (2u8, v.to_be_bytes().to_vec())),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..8)).prop_map(|(p, d)| {
            let mut v = p.to_be_bytes().to_vec();
            v.extend(d);
            (3u8, v)
        }),
        any::<u32>().prop_map(|v| (5u8, v.to_be_bytes().to_vec())),
        Just((7u8, vec![])),
        Just((8u8, vec![])),
        (9u8..=255, proptest::collection::vec(any::<u8>(), 0..10)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn lcp_options_round_trip(opts in proptest::collection::vec(lcp_option(), 0..6)) {
        let mut wire = Vec::new();
        for (kind, data) in &opts {
            RawOption::emit(*kind, data, &mut wire).unwrap();
        }
        let mut again = Vec::new();
        for (o, (kind, data)) in options(&wire).zip(&opts) {
            let o = o.unwrap();
            prop_assert_eq!((o.kind, o.data), (*kind, &data[..]));
            LcpOption::parse(o).unwrap().emit(&mut again).unwrap();
        }
        prop_assert_eq!(again, wire);
    }

    #[test]
    fn ipcp_address_options_round_trip(kind in prop::sample::select(vec![3u8, 129, 130, 131, 132]), a in any::<u32>()) {
        let mut wire = Vec::new();
        RawOption::emit(kind, &a.to_be_bytes(), &mut wire).unwrap();
        let raw = options(&wire).next().unwrap().unwrap();
        let parsed = IpcpOption::parse(raw).unwrap();
        let mut again = Vec::new();
        parsed.emit(&mut again).unwrap();
        prop_assert_eq!(&again, &wire);
        if kind == 3 {
            prop_assert_eq!(parsed, IpcpOption::IpAddress(Ipv4Addr::from(a)));
        }
    }

    #[test]
    fn pap_and_chap_round_trip(
        id in any::<u8>(),
        a in proptest::collection::vec(any::<u8>(), 0..40),
        b in proptest::collection::vec(any::<u8>(), 1..40),
    ) {
        let req = PapPacket::Request { id, peer_id: &a, password: &b };
        let bytes = req.to_vec();
        prop_assert_eq!(PapPacket::parse(&bytes).unwrap(), req);
        let nak = PapPacket::Nak { id, message: &a };
        let bytes = nak.to_vec();
        prop_assert_eq!(PapPacket::parse(&bytes).unwrap(), nak);
        let ch = ChapPacket::Challenge { id, value: &b, name: &a };
        let bytes = ch.to_vec();
        prop_assert_eq!(ChapPacket::parse(&bytes).unwrap(), ch);
        let fail = ChapPacket::Failure { id, message: &a };
        let bytes = fail.to_vec();
        prop_assert_eq!(ChapPacket::parse(&bytes).unwrap(), fail);
    }
}

// ----- links against random and reactive peers -----

#[derive(Debug, Clone)]
enum Action {
    /// Arbitrary bytes.
    Raw(Vec<u8>),
    /// A control packet of some protocol with random code, identifier and option-shaped data.
    Packet {
        proto: u16,
        code: u8,
        id: u8,
        data: Vec<u8>,
    },
    /// Answer the last control packet the link sent, with its identifier: the same data (an
    /// Ack-like echo) or other data.
    Reply {
        code: u8,
        data: Option<Vec<u8>>,
    },
    /// Let time pass, in tenths of a second.
    Advance(u16),
    /// The application's verdict, if one is awaited.
    Answer(bool),
    Close,
    LowerDown,
    HandOff,
    /// Deliver what the link sent to a well-behaved counterpart link and its answers back.
    Pump,
}

fn option_soup() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        (
            0u8..20,
            proptest::collection::vec(any::<u8>(), 0..8),
            any::<bool>(),
        ),
        0..5,
    )
    .prop_map(|opts| {
        let mut out = Vec::new();
        for (kind, data, well_formed) in opts {
            // Mostly well-formed TLVs, sometimes a lying Length.
            let kind = if kind >= 10 {
                [1u8, 2, 3, 5, 7, 8, 129, 131, 13, 4][usize::from(kind - 10)]
            } else {
                kind
            };
            out.push(kind);
            out.push(if well_formed {
                (data.len() + 2) as u8
            } else {
                data.len() as u8 ^ 0x5
            });
            out.extend(data);
        }
        out
    })
}

fn action() -> impl Strategy<Value = Action> {
    let proto = prop::sample::select(vec![
        LCP, LCP, LCP, IPCP, IPCP, PAP, CHAP, 0x0021, 0x8057, 0x80fd, 0x0057,
    ]);
    prop_oneof![
        2 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Action::Raw),
        6 => (proto, 0u8..14, any::<u8>(), option_soup()).prop_map(|(proto, code, id, data)| Action::Packet { proto, code, id, data }),
        8 => (1u8..12, proptest::option::of(option_soup())).prop_map(|(code, data)| Action::Reply { code, data }),
        4 => (0u16..400).prop_map(Action::Advance),
        2 => any::<bool>().prop_map(Action::Answer),
        1 => Just(Action::Close),
        1 => Just(Action::LowerDown),
        1 => Just(Action::HandOff),
        12 => Just(Action::Pump),
    ]
}

/// Checks a frame the link sent: a well-formed control packet of a protocol it runs.
fn check_sent(frame: &[u8]) -> Option<Sent> {
    let (proto, info) = parse_frame(frame, false).expect("sent frames have a valid protocol field");
    assert!(
        matches!(proto, LCP | IPCP | PAP | CHAP),
        "the engine only sends control protocols: {proto:#x}"
    );
    let p = PacketRepr::parse(info).expect("sent control packets are well formed");
    assert_eq!(p.buffer_len(), info.len(), "no trailing bytes");
    match proto {
        PAP => {
            PapPacket::parse(info).expect("sent PAP packets parse");
        }
        CHAP => {
            ChapPacket::parse(info).expect("sent CHAP packets parse");
        }
        _ => {
            if (1..=4).contains(&p.code) {
                assert!(
                    options(p.data).all(|o| o.is_ok()),
                    "sent option lists are well formed"
                );
            }
        }
    }
    Some(Sent {
        proto,
        code: p.code,
        id: p.identifier,
        data: p.data.to_vec(),
    })
}

/// Delivers `frames` to the counterpart, lets it answer (accepting any authentication) and
/// returns what it sent.
fn counterpart_round(
    peer: &mut Link,
    now: std::time::Instant,
    frames: Vec<Vec<u8>>,
) -> Vec<Vec<u8>> {
    for f in frames {
        peer.handle_frame(now, &f);
    }
    peer.handle_timeout(now);
    for e in std::iter::from_fn(|| peer.poll_event()).collect::<Vec<_>>() {
        if let Event::AuthRequest(_) = e {
            let _ = peer.answer_auth(
                now,
                AuthVerdict::Accept {
                    message: String::new(),
                    network: assignment(),
                },
            );
        }
    }
    std::iter::from_fn(|| peer.poll_transmit()).collect()
}

fn drive(mut link: Link, mut peer: Link, actions: Vec<Action>) {
    let mut now = test_epoch();
    let mut to_peer: Vec<Vec<u8>> = Vec::new();
    let mut last: Option<Sent> = None;
    let mut down_seen = false;
    let mut handed_off = false;
    for a in actions {
        match a {
            Action::Raw(bytes) => {
                let _ = link.handle_frame(now, &bytes);
            }
            Action::Packet {
                proto,
                code,
                id,
                data,
            } => {
                let f = frame(proto, code, id, &data);
                if let FrameDisposition::Data { protocol, payload } = link.handle_frame(now, &f) {
                    assert_eq!(protocol, 0x0021);
                    assert!(link.is_network_up());
                    assert_eq!(payload, &f[2..]);
                }
            }
            Action::Reply { code, data } => {
                if let Some(s) = &last {
                    let f = frame(s.proto, code, s.id, data.as_deref().unwrap_or(&s.data));
                    let _ = link.handle_frame(now, &f);
                }
            }
            Action::Advance(tenths) => {
                let end = now + Duration::from_millis(u64::from(tenths) * 100);
                while let Some(at) = link.poll_timeout() {
                    if at > end {
                        break;
                    }
                    now = now.max(at);
                    link.handle_timeout(now);
                    if let Some(next) = link.poll_timeout() {
                        assert!(next > now, "a timer handled at {now:?} must not stay due");
                    }
                }
                now = end;
            }
            Action::Answer(ok) => {
                let verdict = if ok {
                    AuthVerdict::Accept {
                        message: "ok".into(),
                        network: assignment(),
                    }
                } else {
                    AuthVerdict::Reject {
                        message: "no".into(),
                    }
                };
                let _ = link.answer_auth(now, verdict);
            }
            Action::Close => link.close(now, "fuzz"),
            Action::LowerDown => link.lower_down(now),
            Action::HandOff => {
                if link.hand_off().is_ok() {
                    handed_off = true;
                }
            }
            Action::Pump => {
                for f in counterpart_round(&mut peer, now, std::mem::take(&mut to_peer)) {
                    let _ = link.handle_frame(now, &f);
                }
            }
        }
        while let Some(f) = link.poll_transmit() {
            assert!(!handed_off, "a handed-off link is silent");
            last = check_sent(&f);
            if to_peer.len() < 64 {
                to_peer.push(f);
            }
        }
        while let Some(e) = link.poll_event() {
            assert!(!down_seen, "nothing after LinkDown: {e:?}");
            if let Event::LinkDown(_) = e {
                down_seen = true;
                assert_eq!(link.phase(), Phase::Dead);
            }
        }
        if link.phase() == Phase::Dead {
            assert!(down_seen, "Dead without LinkDown");
            assert_eq!(link.poll_timeout(), None);
            assert!(!link.is_network_up());
        }
        if link.is_network_up() {
            assert!(link.network().is_some());
            assert_eq!(link.phase(), Phase::Network);
        }
        // The phase follows LCP (RFC 1661 §3.2).
        match link.lcp_state() {
            State::Closing | State::Stopping => {
                assert!(
                    matches!(
                        link.phase(),
                        Phase::Terminate | Phase::Dead | Phase::HandedOff
                    ),
                    "{link:?}"
                )
            }
            State::Opened => assert!(
                matches!(
                    link.phase(),
                    Phase::Authenticate | Phase::Network | Phase::HandedOff
                ),
                "{link:?}"
            ),
            _ => assert!(
                !matches!(link.phase(), Phase::Authenticate | Phase::Network),
                "{link:?}"
            ),
        }
    }
}

fn fuzz_server_cfg(n: u8) -> LinkConfig {
    let protocols = match n % 4 {
        0 => vec![AuthProtocol::ChapMd5, AuthProtocol::Pap],
        1 => vec![AuthProtocol::Pap],
        2 => vec![AuthProtocol::ChapMd5],
        _ => vec![],
    };
    let mut cfg = server_cfg(protocols);
    cfg.seed = [n; 32];
    if n.is_multiple_of(3) {
        cfg.lcp = l2tpagg::ppp::LcpConfig::for_pppoe();
    }
    cfg.lcp.request_pfc = n.is_multiple_of(5);
    cfg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn server_link_survives_anything(n in any::<u8>(), actions in proptest::collection::vec(action(), 0..40)) {
        let peer = Link::new(test_epoch(), client_cfg("fuzz", "secret"));
        drive(Link::new(test_epoch(), fuzz_server_cfg(n)), peer, actions);
    }

    #[test]
    fn client_link_survives_anything(n in any::<u8>(), actions in proptest::collection::vec(action(), 0..40)) {
        let mut cfg = client_cfg("fuzz", "secret");
        cfg.seed = [n; 32];
        let peer = Link::new(test_epoch(), fuzz_server_cfg(n));
        drive(Link::new(test_epoch(), cfg), peer, actions);
    }
}

fn proxy_info() -> impl Strategy<Value = ProxyInfo> {
    let confreq = proptest::option::of(prop_oneof![
        option_soup(),
        Just(cat(&[&opt(3, &[0xc2, 0x23, 5]), &magic_opt(1)])),
        Just(cat(&[
            &opt(3, &[0xc0, 0x23]),
            &magic_opt(2),
            &opt(1, &[5, 0xd4])
        ])),
        Just(magic_opt(3)),
    ]);
    let blob = || proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20));
    (
        confreq.clone(),
        confreq.clone(),
        confreq,
        proptest::option::of(0u16..7),
        blob(),
        blob(),
        proptest::option::of(any::<u16>()),
        blob(),
    )
        .prop_map(|(i, s, r, t, name, challenge, id, response)| ProxyInfo {
            initial_received_confreq: i,
            last_sent_confreq: s,
            last_received_confreq: r,
            authen_type: t.map(l2tpagg::ppp::ProxyAuthenType::from_u16),
            authen_name: name,
            authen_challenge: challenge,
            authen_id: id,
            authen_response: response,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn lns_link_from_any_proxy_info_survives(
        n in any::<u8>(),
        info in proxy_info(),
        actions in proptest::collection::vec(action(), 0..30),
    ) {
        let link = Link::from_proxy(test_epoch(), fuzz_server_cfg(n), &info).unwrap();
        prop_assert!(link.proxy_outcome().is_some());
        let peer = Link::new(test_epoch(), client_cfg("fuzz", "secret"));
        drive(link, peer, actions);
    }
}
