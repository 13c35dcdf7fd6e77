//! Hostile and broken input at the PPPoE access concentrator: malformed frames and tags, PADRs
//! without or with bad cookies, floods from random MACs, frames for sessions that do not exist.
//! Each is rejected with a typed cause, counted, leaves no state, and does not disturb a
//! legitimate subscriber.

use std::time::{Duration, Instant};

use l2tpagg::pppoe::ac::{AcEvent, RejectKind, StateFootprint};
use l2tpagg::pppoe::tag::Tag;
use l2tpagg::pppoe::{
    AcConfig, AccessConcentrator, Body, ClientConfig, ClientEvent, DiscoveryCode, DiscoveryRepr,
    EthernetRepr, FrameRepr, Handled, MacAddr, PppoeClient, Reject, SessionHeader, WireError,
};
use l2tpagg::runtime::clock::test_epoch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const AC_MAC: MacAddr = MacAddr([0x02, 0xac, 0, 0, 0, 1]);
const HOST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
const LCP: &[u8] = &[0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0];

fn new_ac() -> AccessConcentrator {
    AccessConcentrator::new(AcConfig::new(AC_MAC, "lac-test", [0x33; 32]), test_epoch()).unwrap()
}

fn empty_footprint() -> StateFootprint {
    StateFootprint {
        sessions: 0,
        peers: 0,
        session_capacity: 0,
        peer_capacity: 0,
        queued_transmits: 0,
        queued_events: 0,
    }
}

fn discovery(
    dst: MacAddr,
    src: MacAddr,
    code: DiscoveryCode,
    session_id: u16,
    tags: Vec<Tag<'_>>,
) -> Vec<u8> {
    FrameRepr {
        eth: EthernetRepr {
            dst,
            src,
            vlan: None,
        },
        body: Body::Discovery(DiscoveryRepr {
            code,
            session_id,
            tags,
        }),
    }
    .to_vec()
    .unwrap()
}

fn padi(src: MacAddr) -> Vec<u8> {
    discovery(
        MacAddr::BROADCAST,
        src,
        DiscoveryCode::Padi,
        0,
        vec![Tag::ServiceName(b"")],
    )
}

fn padr(src: MacAddr, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut tags = vec![Tag::ServiceName(b"")];
    if let Some(cookie) = cookie {
        tags.push(Tag::AcCookie(cookie));
    }
    discovery(AC_MAC, src, DiscoveryCode::Padr, 0, tags)
}

fn random_unicast(rng: &mut ChaCha8Rng) -> MacAddr {
    let mut m: [u8; 6] = rng.random();
    m[0] = (m[0] & 0xfe) | 0x02; // locally administered, unicast
    MacAddr(m)
}

/// The cookie from the PADO the AC sends in answer to a PADI from `src` at `now`.
fn cookie_for(ac: &mut AccessConcentrator, now: Instant, src: MacAddr) -> Vec<u8> {
    assert_eq!(ac.handle_frame(now, &padi(src)), Handled::Discovery);
    let pado = ac.poll_transmit().unwrap();
    match FrameRepr::parse_bytes(&pado).unwrap().body {
        Body::Discovery(d) => d.ac_cookie().unwrap().to_vec(),
        other => panic!("expected PADO, got {other:?}"),
    }
}

/// Runs a real client against `ac` to an established session.
fn establish(ac: &mut AccessConcentrator, now: Instant, mac: MacAddr) -> (PppoeClient, u16) {
    let mut client = PppoeClient::new(ClientConfig::new(mac));
    client.connect(now).unwrap();
    for _ in 0..4 {
        while let Some(f) = client.poll_transmit() {
            ac.handle_frame(now, &f);
        }
        while let Some(f) = ac.poll_transmit() {
            client.handle_frame(now, &f);
        }
    }
    while ac.poll_event().is_some() {}
    match client.poll_event() {
        Some(ClientEvent::Established(s)) => (client, s.session_id),
        other => panic!("expected an established session, got {other:?}"),
    }
}

fn assert_rejected(ac: &mut AccessConcentrator, frame: &[u8], kind: RejectKind) -> Reject {
    let before = ac.counters().rejects(kind);
    match ac.handle_frame(test_epoch(), frame) {
        Handled::Rejected(reject) => {
            assert_eq!(reject.kind(), kind, "{reject:?}");
            assert_eq!(ac.counters().rejects(kind), before + 1, "{kind:?} counted");
            reject
        }
        other => panic!("expected a {kind:?} rejection, got {other:?}"),
    }
}

#[test]
fn malformed_headers_and_tags_are_typed_counted_and_unanswered() {
    let mut ac = new_ac();
    let good = padi(HOST);

    let truncated = &good[..17];
    assert_eq!(
        assert_rejected(&mut ac, truncated, RejectKind::MalformedHeader),
        Reject::Malformed(WireError::Truncated {
            part: "PPPoE header",
            needed: 20,
            available: 17
        })
    );
    let mut version = good.clone();
    version[14] = 0x21;
    assert_eq!(
        assert_rejected(&mut ac, &version, RejectKind::MalformedHeader),
        Reject::Malformed(WireError::BadVersion(2))
    );
    let mut ty = good.clone();
    ty[14] = 0x10;
    assert_eq!(
        assert_rejected(&mut ac, &ty, RejectKind::MalformedHeader),
        Reject::Malformed(WireError::BadType(0))
    );
    let mut length = good.clone();
    length[18..20].copy_from_slice(&[0x00, 0x40]);
    assert!(matches!(
        assert_rejected(&mut ac, &length, RejectKind::MalformedHeader),
        Reject::Malformed(WireError::LengthPastEnd {
            length: 64,
            available: 4
        })
    ));

    // A tag whose length runs past the end of the payload.
    let mut past = good[..20].to_vec();
    past[19] = 8;
    past.extend_from_slice(&[0x01, 0x01, 0x00, 0x00, 0x01, 0x03, 0x01, 0x00]);
    assert!(matches!(
        assert_rejected(&mut ac, &past, RejectKind::MalformedTag),
        Reject::Malformed(WireError::TagValuePastEnd {
            tag_type: 0x0103,
            length: 256,
            available: 0,
            ..
        })
    ));
    // A truncated tag header.
    let mut cut = good[..20].to_vec();
    cut[19] = 7;
    cut.extend_from_slice(&[0x01, 0x01, 0x00, 0x00, 0x01, 0x03, 0x00]);
    assert!(matches!(
        assert_rejected(&mut ac, &cut, RejectKind::MalformedTag),
        Reject::Malformed(WireError::TagHeaderTruncated { offset: 4 })
    ));
    // PPP-Max-Payload of the wrong size.
    let mut max = good[..20].to_vec();
    max[19] = 9;
    max.extend_from_slice(&[0x01, 0x01, 0x00, 0x00, 0x01, 0x20, 0x00, 0x01, 0x05]);
    assert!(matches!(
        assert_rejected(&mut ac, &max, RejectKind::MalformedTag),
        Reject::Malformed(WireError::BadTagLength {
            tag_type: 0x0120,
            length: 1,
            ..
        })
    ));

    assert!(
        ac.poll_transmit().is_none(),
        "malformed frames are never answered"
    );
    assert_eq!(ac.counters().pado_sent, 0);
    assert_eq!(ac.footprint(), empty_footprint());
}

#[test]
fn discovery_rule_violations_are_rejected() {
    let mut ac = new_ac();
    // RFC 2516 §5.1: exactly one Service-Name.
    let none = discovery(
        MacAddr::BROADCAST,
        HOST,
        DiscoveryCode::Padi,
        0,
        vec![Tag::HostUniq(b"x")],
    );
    assert_eq!(
        assert_rejected(&mut ac, &none, RejectKind::ServiceNameCount),
        Reject::ServiceNameCount {
            code: DiscoveryCode::Padi,
            count: 0
        }
    );
    let two = discovery(
        MacAddr::BROADCAST,
        HOST,
        DiscoveryCode::Padi,
        0,
        vec![Tag::ServiceName(b""), Tag::ServiceName(b"a")],
    );
    assert_eq!(
        assert_rejected(&mut ac, &two, RejectKind::ServiceNameCount),
        Reject::ServiceNameCount {
            code: DiscoveryCode::Padi,
            count: 2
        }
    );
    // RFC 2516 §5.1: SESSION_ID 0.
    let sid = discovery(
        MacAddr::BROADCAST,
        HOST,
        DiscoveryCode::Padi,
        7,
        vec![Tag::ServiceName(b"")],
    );
    assert_rejected(&mut ac, &sid, RejectKind::DiscoverySessionIdNotZero);
    // RFC 2516 §5.1: at most 1484 octets including the PPPoE header.
    let big = [0u8; 1480];
    let oversized = discovery(
        MacAddr::BROADCAST,
        HOST,
        DiscoveryCode::Padi,
        0,
        vec![Tag::ServiceName(b""), Tag::HostUniq(&big)],
    );
    assert_eq!(
        assert_rejected(&mut ac, &oversized, RejectKind::OversizedPadi),
        Reject::OversizedPadi(6 + 4 + 4 + 1480)
    );
    // A group source address.
    assert_rejected(
        &mut ac,
        &padi(MacAddr([0x01, 0, 0x5e, 0, 0, 1])),
        RejectKind::BadSourceMac,
    );
    assert_rejected(&mut ac, &padi(MacAddr::ZERO), RejectKind::BadSourceMac);
    // A PADI unicast to another station.
    let elsewhere = discovery(
        MacAddr([2, 9, 9, 9, 9, 9]),
        HOST,
        DiscoveryCode::Padi,
        0,
        vec![Tag::ServiceName(b"")],
    );
    assert_rejected(&mut ac, &elsewhere, RejectKind::NotForUs);
    // Offers and confirmations are what ACs send, not receive.
    let pado = discovery(
        AC_MAC,
        HOST,
        DiscoveryCode::Pado,
        0,
        vec![Tag::ServiceName(b"")],
    );
    assert_eq!(
        assert_rejected(&mut ac, &pado, RejectKind::UnexpectedCode),
        Reject::UnexpectedCode(DiscoveryCode::Pado)
    );
    let pads = discovery(
        AC_MAC,
        HOST,
        DiscoveryCode::Pads,
        5,
        vec![Tag::ServiceName(b"")],
    );
    assert_rejected(&mut ac, &pads, RejectKind::UnexpectedCode);
    // A reply that cannot fit: Host-Uniq that fills the PADI leaves no room for AC-Name and cookie.
    let fat = [0u8; 1460];
    let fat_padi = discovery(
        MacAddr::BROADCAST,
        HOST,
        DiscoveryCode::Padi,
        0,
        vec![Tag::ServiceName(b""), Tag::HostUniq(&fat)],
    );
    assert_rejected(&mut ac, &fat_padi, RejectKind::ReplyTooLarge);

    assert!(ac.poll_transmit().is_none());
    assert_eq!(ac.footprint(), empty_footprint());
}

#[test]
fn padr_without_a_valid_cookie_creates_nothing() {
    let mut ac = new_ac();
    let now = test_epoch();
    assert_eq!(
        assert_rejected(&mut ac, &padr(HOST, None), RejectKind::CookieMissing),
        Reject::CookieMissing
    );
    assert_rejected(
        &mut ac,
        &padr(HOST, Some(&[0u8; 16])),
        RejectKind::CookieInvalid,
    );
    assert_rejected(
        &mut ac,
        &padr(HOST, Some(b"short")),
        RejectKind::CookieInvalid,
    );

    // A cookie issued to one MAC, replayed from another.
    let other = MacAddr([0x02, 0, 0, 0, 0, 2]);
    let cookie = cookie_for(&mut ac, now, HOST);
    assert_rejected(
        &mut ac,
        &padr(other, Some(&cookie)),
        RejectKind::CookieInvalid,
    );
    assert!(
        ac.poll_transmit().is_none(),
        "no PADS for a bad cookie, not even a refusal"
    );
    assert_eq!(ac.session_count(), 0);
    assert!(ac.poll_event().is_none());

    // The rightful owner succeeds with the same cookie.
    assert_eq!(
        ac.handle_frame(now, &padr(HOST, Some(&cookie))),
        Handled::Discovery
    );
    assert!(matches!(
        ac.poll_event(),
        Some(AcEvent::SessionEstablished(_))
    ));
}

#[test]
fn cookies_expire_after_two_buckets() {
    let bucket = AcConfig::new(AC_MAC, "x", [0; 32]).cookie_bucket;
    let issued_at = test_epoch() + Duration::from_secs(1);
    // Still valid in the next bucket.
    let mut ac = new_ac();
    let cookie = cookie_for(&mut ac, issued_at, HOST);
    let late_but_ok = test_epoch() + bucket * 2 - Duration::from_millis(1);
    assert_eq!(
        ac.handle_frame(late_but_ok, &padr(HOST, Some(&cookie))),
        Handled::Discovery
    );
    // Expired two buckets on.
    let mut ac = new_ac();
    let cookie = cookie_for(&mut ac, issued_at, HOST);
    let expired = test_epoch() + bucket * 2;
    assert_eq!(
        ac.handle_frame(expired, &padr(HOST, Some(&cookie))),
        Handled::Rejected(Reject::CookieInvalid)
    );
    assert_eq!(ac.session_count(), 0);
    // A restarted AC (new secret) does not accept the old AC's cookies.
    let mut restarted =
        AccessConcentrator::new(AcConfig::new(AC_MAC, "lac-test", [0x34; 32]), test_epoch())
            .unwrap();
    assert_eq!(
        restarted.handle_frame(issued_at, &padr(HOST, Some(&cookie))),
        Handled::Rejected(Reject::CookieInvalid)
    );
}

#[test]
fn padi_flood_from_random_macs_keeps_no_state() {
    let mut ac = new_ac();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let start = test_epoch();
    let (_client, legit_id) = establish(&mut ac, start, HOST);
    let baseline = ac.footprint();
    assert_eq!((baseline.sessions, baseline.peers), (1, 1));

    const FLOOD: u64 = 100_000;
    for i in 0..FLOOD {
        let now = start + Duration::from_micros(i * 10);
        assert_eq!(
            ac.handle_frame(now, &padi(random_unicast(&mut rng))),
            Handled::Discovery
        );
        // One PADO per PADI and nothing else: bounded work, nothing kept.
        assert!(ac.poll_transmit().is_some());
        assert!(ac.poll_transmit().is_none());
    }
    assert_eq!(
        ac.footprint(),
        baseline,
        "a PADI flood must not grow any table"
    );
    assert_eq!(ac.counters().pado_sent, FLOOD + 1);
    assert!(ac.poll_event().is_none());

    // The legitimate subscriber's session still carries PPP.
    let up = SessionHeader {
        local: HOST,
        peer: AC_MAC,
        vlan: None,
        session_id: legit_id,
    }
    .to_vec(LCP)
    .unwrap();
    assert!(
        matches!(ac.handle_frame(start + Duration::from_secs(1), &up), Handled::Session(p) if p.ppp == LCP)
    );
    // And a new legitimate subscriber gets in right after the flood.
    let (_c2, id2) = establish(
        &mut ac,
        start + Duration::from_secs(1),
        MacAddr([0x02, 0, 0, 0, 0, 2]),
    );
    assert_ne!(id2, legit_id);
}

#[test]
fn a_caller_that_falls_behind_cannot_make_the_queue_grow() {
    let mut config = AcConfig::new(AC_MAC, "lac-test", [0x33; 32]);
    config.transmit_queue_limit = 64;
    let mut ac = AccessConcentrator::new(config, test_epoch()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for _ in 0..10_000 {
        ac.handle_frame(test_epoch(), &padi(random_unicast(&mut rng)));
    }
    let f = ac.footprint();
    assert_eq!(f.queued_transmits, 64);
    assert_eq!(
        (f.sessions, f.peers, f.session_capacity, f.peer_capacity),
        (0, 0, 0, 0)
    );
    assert_eq!(
        ac.counters().rejects(RejectKind::TransmitQueueFull),
        10_000 - 64
    );
    assert_eq!(ac.counters().transmit_dropped, 10_000 - 64);
}

#[test]
fn spoofed_padr_flood_keeps_no_state_and_sends_nothing() {
    let mut ac = new_ac();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let now = test_epoch();
    // Cookies the AC really issued, replayed from other MACs, plus random ones.
    let real: Vec<Vec<u8>> = (0..16)
        .map(|_| cookie_for(&mut ac, now, random_unicast(&mut rng)))
        .collect();
    for i in 0..50_000usize {
        let cookie: Vec<u8> = if i % 2 == 0 {
            real[i % real.len()].clone()
        } else {
            rng.random::<[u8; 16]>().to_vec()
        };
        let frame = padr(random_unicast(&mut rng), Some(&cookie));
        assert_eq!(
            ac.handle_frame(now, &frame),
            Handled::Rejected(Reject::CookieInvalid)
        );
    }
    assert!(ac.poll_transmit().is_none());
    assert!(ac.poll_event().is_none());
    assert_eq!(ac.footprint(), empty_footprint());
    assert_eq!(ac.counters().rejects(RejectKind::CookieInvalid), 50_000);
}

#[test]
fn frames_for_unknown_sessions_are_counted_and_answered_with_rate_limited_padt() {
    let mut ac = new_ac();
    let start = test_epoch();
    let (_client, legit_id) = establish(&mut ac, start, HOST);
    let stranger = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
    let mut padts = Vec::new();
    for i in 0..1000u16 {
        let id = 0x4000 + i;
        let frame = SessionHeader {
            local: stranger,
            peer: AC_MAC,
            vlan: None,
            session_id: id,
        }
        .to_vec(LCP)
        .unwrap();
        let now = start + Duration::from_millis(u64::from(i)); // 1000 frames over one second
        assert_eq!(
            ac.handle_frame(now, &frame),
            Handled::Rejected(Reject::UnknownSession(id))
        );
        while let Some(f) = ac.poll_transmit() {
            padts.push(f);
        }
    }
    assert_eq!(ac.counters().rejects(RejectKind::UnknownSession), 1000);
    // 10 per second by default; the second window opens at 1 s, which frame 1000 does not reach.
    assert_eq!(padts.len(), 10);
    for (n, f) in padts.iter().enumerate() {
        let repr = FrameRepr::parse_bytes(f).unwrap();
        assert_eq!((repr.eth.dst, repr.eth.src), (stranger, AC_MAC));
        match repr.body {
            Body::Discovery(d) => assert_eq!(
                (d.code, d.session_id),
                (DiscoveryCode::Padt, 0x4000 + n as u16)
            ),
            other => panic!("expected PADT, got {other:?}"),
        }
    }
    // Session IDs 0 and 0xffff, and frames not addressed to us, never get a PADT.
    let later = start + Duration::from_secs(5);
    for id in [0u16, 0xffff] {
        let f = SessionHeader {
            local: stranger,
            peer: AC_MAC,
            vlan: None,
            session_id: id,
        }
        .to_vec(LCP)
        .unwrap();
        assert_eq!(
            ac.handle_frame(later, &f),
            Handled::Rejected(Reject::UnknownSession(id))
        );
    }
    let other_ac = MacAddr([0x02, 0xac, 0, 0, 0, 2]);
    let f = SessionHeader {
        local: stranger,
        peer: other_ac,
        vlan: None,
        session_id: 5,
    }
    .to_vec(LCP)
    .unwrap();
    assert_eq!(
        ac.handle_frame(later, &f),
        Handled::Rejected(Reject::NotForUs(other_ac))
    );
    assert!(ac.poll_transmit().is_none());

    // The session's ID from the wrong MAC is not the session and gets no PADT (that would be
    // pointless: the stranger has no such session with us).
    let f = SessionHeader {
        local: stranger,
        peer: AC_MAC,
        vlan: None,
        session_id: legit_id,
    }
    .to_vec(LCP)
    .unwrap();
    assert_eq!(
        ac.handle_frame(later, &f),
        Handled::Rejected(Reject::SessionPeerMismatch(legit_id))
    );
    assert!(ac.poll_transmit().is_none());
    // The legitimate session is unaffected.
    let up = SessionHeader {
        local: HOST,
        peer: AC_MAC,
        vlan: None,
        session_id: legit_id,
    }
    .to_vec(LCP)
    .unwrap();
    assert!(matches!(ac.handle_frame(later, &up), Handled::Session(_)));
    assert_eq!(ac.session_count(), 1);
}

#[test]
fn unknown_session_padt_can_be_disabled() {
    let mut config = AcConfig::new(AC_MAC, "lac-test", [0x33; 32]);
    config.unknown_session_padt_per_second = 0;
    let mut ac = AccessConcentrator::new(config, test_epoch()).unwrap();
    let f = SessionHeader {
        local: HOST,
        peer: AC_MAC,
        vlan: None,
        session_id: 42,
    }
    .to_vec(LCP)
    .unwrap();
    assert_eq!(
        ac.handle_frame(test_epoch(), &f),
        Handled::Rejected(Reject::UnknownSession(42))
    );
    assert!(ac.poll_transmit().is_none());
}

#[test]
fn padt_from_the_wrong_mac_or_for_no_session_changes_nothing() {
    let mut ac = new_ac();
    let now = test_epoch();
    let (_client, id) = establish(&mut ac, now, HOST);
    let stranger = MacAddr([0x02, 0, 0, 0, 0, 0x66]);
    let spoofed = discovery(AC_MAC, stranger, DiscoveryCode::Padt, id, vec![]);
    assert_eq!(
        assert_rejected(&mut ac, &spoofed, RejectKind::PadtPeerMismatch),
        Reject::PadtPeerMismatch(id)
    );
    let unknown = discovery(
        AC_MAC,
        HOST,
        DiscoveryCode::Padt,
        id.wrapping_add(1),
        vec![],
    );
    assert_rejected(&mut ac, &unknown, RejectKind::PadtUnknownSession);
    let zero = discovery(AC_MAC, HOST, DiscoveryCode::Padt, 0, vec![]);
    assert_rejected(&mut ac, &zero, RejectKind::PadtUnknownSession);
    assert_eq!(ac.session_count(), 1);
    assert!(ac.poll_event().is_none());
    assert!(ac.poll_transmit().is_none());
}

#[test]
fn config_validation_names_the_problem() {
    use l2tpagg::pppoe::AcConfigError;
    let base = AcConfig::new(AC_MAC, "lac", [0; 32]);
    let check = |f: &dyn Fn(&mut AcConfig)| {
        let mut c = base.clone();
        f(&mut c);
        AccessConcentrator::new(c, test_epoch()).unwrap_err()
    };
    assert_eq!(
        check(&|c| c.local_mac = MacAddr::BROADCAST),
        AcConfigError::LocalMacNotUnicast(MacAddr::BROADCAST)
    );
    assert_eq!(check(&|c| c.ac_name.clear()), AcConfigError::EmptyAcName);
    assert_eq!(
        check(&|c| c.max_sessions = 0),
        AcConfigError::MaxSessions(0)
    );
    assert_eq!(
        check(&|c| c.max_sessions = 0xffff),
        AcConfigError::MaxSessions(0xffff)
    );
    assert_eq!(
        check(&|c| c.max_sessions_per_mac = 0),
        AcConfigError::MaxSessionsPerMac
    );
    assert_eq!(
        check(&|c| c.interface_mtu = 100),
        AcConfigError::InterfaceMtu(100)
    );
    assert_eq!(
        check(&|c| c.transmit_queue_limit = 0),
        AcConfigError::TransmitQueueLimit
    );
    assert_eq!(
        check(&|c| c.cookie_bucket = Duration::ZERO),
        AcConfigError::CookieBucket
    );
    assert!(matches!(
        check(&|c| c.ac_name = "x".repeat(1500)),
        AcConfigError::TagsExceedMtu { .. }
    ));
}

#[test]
fn a_refusal_that_cannot_be_queued_is_counted_once() {
    let mut config = AcConfig::new(AC_MAC, "lac-test", [0x33; 32]);
    config.transmit_queue_limit = 2;
    let mut ac = AccessConcentrator::new(config, test_epoch()).unwrap();
    let now = test_epoch();
    let cookie = cookie_for(&mut ac, now, HOST);
    ac.handle_frame(now, &padi(MacAddr([0x02, 0, 0, 0, 0, 2])));
    ac.handle_frame(now, &padi(MacAddr([0x02, 0, 0, 0, 0, 3])));
    assert_eq!(ac.footprint().queued_transmits, 2);
    ac.set_admission(l2tpagg::pppoe::Admission::Refuse {
        reason: "full".into(),
    });
    assert_eq!(
        ac.handle_frame(now, &padr(HOST, Some(&cookie))),
        Handled::Rejected(Reject::AdmissionClosed)
    );
    assert_eq!(ac.counters().transmit_dropped, 1);
    assert_eq!(ac.counters().pads_refusals_sent, 0);
    assert_eq!(ac.counters().rejects(RejectKind::AdmissionClosed), 1);
    assert_eq!(ac.footprint().queued_transmits, 2);
    assert_eq!(ac.session_count(), 0);
    // With admission open but the queue still full, no session is created without its PADS.
    ac.set_admission(l2tpagg::pppoe::Admission::Open);
    assert_eq!(
        ac.handle_frame(now, &padr(HOST, Some(&cookie))),
        Handled::Rejected(Reject::TransmitQueueFull)
    );
    assert_eq!(ac.session_count(), 0);
    assert!(ac.poll_event().is_none(), "no event without a session");
}
