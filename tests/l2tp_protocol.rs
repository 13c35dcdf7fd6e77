//! The endpoint against a scripted peer that speaks raw bytes: RFC 2661 corner cases (§4.1
//! unknown AVPs, §4.4.1 unknown message types, §5.7 StopCCN, §5.8 sequencing, §7 out-of-turn
//! messages, OCRQ, limits, policy) and random or mutated datagrams into a live control channel.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l2tpagg::l2tp::{
    DropReason, Endpoint, EndpointConfig, Event, PolicyDecision, SessionDownCause, TunnelConfig,
    TunnelDownCause, TunnelRequest,
};
use l2tpagg::runtime::clock::test_epoch;
use l2tpagg::wire::{
    Avps, ControlHeader, DEFAULT_VENDOR_ID, EmitContext, Framing, HideSet, Message, MessageType,
    ParseContext, ProtocolVersion, RawAvp, StopCcnResult,
};
use proptest::prelude::*;

const PEER_TID: u16 = 0x4242;

fn lns_addr() -> SocketAddr {
    "198.51.100.1:1701".parse().unwrap()
}
fn peer_addr() -> SocketAddr {
    "198.51.100.2:1701".parse().unwrap()
}

/// A hand-driven LAC: builds messages, tracks Ns/Nr, parses what the endpoint sends back.
struct Peer {
    ep: Endpoint,
    now: Instant,
    ns: u16,
    nr: u16,
    lns_tid: u16,
}

fn ectx() -> EmitContext<'static> {
    EmitContext {
        secret: None,
        hide: HideSet::NONE,
        random_vector: [0; 16],
        vendor_id: DEFAULT_VENDOR_ID,
    }
}

fn sccrq() -> Message {
    let mut m = Message::new(MessageType::Sccrq);
    m.avps.protocol_version = Some(ProtocolVersion::V1_0);
    m.avps.host_name = Some(b"scripted-lac".to_vec());
    m.avps.framing_capabilities = Some(Framing::BOTH);
    m.avps.assigned_tunnel_id = Some(PEER_TID);
    m
}

fn icrq(peer_sid: u16) -> Message {
    let mut m = Message::new(MessageType::Icrq);
    m.avps.assigned_session_id = Some(peer_sid);
    m.avps.call_serial_number = Some(peer_sid as u32);
    m
}

impl Peer {
    fn new(
        cfg: TunnelConfig,
        policy: impl Fn(&TunnelRequest<'_>) -> PolicyDecision + Send + 'static,
    ) -> Self {
        let _ = cfg;
        Peer {
            ep: Endpoint::new(EndpointConfig::default(), policy, [9; 32]),
            now: test_epoch(),
            ns: 0,
            nr: 0,
            lns_tid: 0,
        }
    }

    fn accepting(cfg: TunnelConfig) -> Self {
        let cfg = Arc::new(cfg);
        Peer::new((*cfg).clone(), move |_: &TunnelRequest<'_>| {
            PolicyDecision::Accept(cfg.clone())
        })
    }

    /// Sends raw bytes and returns every datagram the endpoint sends back right away.
    fn raw(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.ep
            .handle_datagram(self.now, lns_addr(), peer_addr(), bytes);
        std::iter::from_fn(|| self.ep.poll_transmit())
            .map(|t| t.payload)
            .collect()
    }

    fn encode(&self, session: u16, ns: u16, msg: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        let h = ControlHeader {
            tunnel_id: self.lns_tid,
            session_id: session,
            ns,
            nr: self.nr,
        };
        msg.emit(&h, &ectx(), &mut out).unwrap();
        out
    }

    /// Sends the next message in sequence; returns the replies, parsed (ZLBs as `None`).
    fn send(&mut self, session: u16, msg: &Message) -> Vec<(ControlHeader, Option<Message>)> {
        let bytes = self.encode(session, self.ns, msg);
        self.ns = self.ns.wrapping_add(1);
        let replies = self.raw(&bytes);
        self.absorb(replies)
    }

    fn absorb(&mut self, replies: Vec<Vec<u8>>) -> Vec<(ControlHeader, Option<Message>)> {
        let pctx = ParseContext {
            secret: None,
            vendor_id: DEFAULT_VENDOR_ID,
        };
        let mut out = Vec::new();
        for r in replies {
            let (h, m) =
                Message::parse_packet(&r, &pctx).expect("the endpoint sends valid messages");
            if m.is_some() && h.ns == self.nr {
                self.nr = self.nr.wrapping_add(1);
            }
            out.push((h, m));
        }
        out
    }

    /// Advances simulated time, running timers; returns what was sent.
    fn advance(&mut self, d: Duration) -> Vec<(ControlHeader, Option<Message>)> {
        let until = self.now + d;
        let mut sent = Vec::new();
        while let Some(t) = self.ep.poll_timeout().filter(|&t| t <= until) {
            self.now = t;
            self.ep.handle_timeout(t);
            sent.extend(std::iter::from_fn(|| self.ep.poll_transmit()).map(|t| t.payload));
        }
        self.now = until;
        self.absorb(sent)
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    /// SCCRQ → SCCRP → SCCCN: an established tunnel.
    fn establish(&mut self) {
        let replies = self.send(0, &sccrq());
        let sccrp = replies
            .iter()
            .find_map(|(_, m)| m.as_ref().filter(|m| m.kind == MessageType::Sccrp))
            .expect("SCCRP");
        self.lns_tid = sccrp.avps.assigned_tunnel_id.unwrap();
        self.send(0, &Message::new(MessageType::Scccn));
        let ev = self.events();
        assert!(matches!(ev.as_slice(), [Event::TunnelUp { .. }]), "{ev:?}");
    }
}

fn only_message(
    replies: &[(ControlHeader, Option<Message>)],
    kind: MessageType,
) -> (ControlHeader, Message) {
    let found: Vec<_> = replies
        .iter()
        .filter_map(|(h, m)| {
            m.as_ref()
                .filter(|m| m.kind == kind)
                .map(|m| (*h, m.clone()))
        })
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind:?} in {replies:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn retransmitted_sccrq_does_not_create_a_second_tunnel() {
    let mut p = Peer::accepting(TunnelConfig::default());
    let bytes = p.encode(0, 0, &sccrq());
    let first = p.raw(&bytes);
    assert_eq!(first.len(), 1);
    let again = p.raw(&bytes);
    assert_eq!(p.ep.tunnel_count(), 1);
    // The duplicate is acknowledged at once (RFC 2661 §5.8) with a ZLB, not a second SCCRP.
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].len(), 12, "a ZLB");
    assert_eq!(p.ep.stats().get(DropReason::Duplicate), 1);
}

#[test]
fn policy_rejects_with_stopccn_or_ignores_silently() {
    let mut p = Peer::new(TunnelConfig::default(), |r: &TunnelRequest<'_>| {
        assert_eq!(r.host_name, Some(&b"scripted-lac"[..]));
        PolicyDecision::Reject(StopCcnResult::NotAuthorized)
    });
    let replies = p.send(0, &sccrq());
    let (h, stop) = only_message(&replies, MessageType::StopCcn);
    assert_eq!(h.tunnel_id, PEER_TID);
    assert_eq!(stop.avps.result_code.unwrap().result, 4);
    assert!(
        p.events().is_empty(),
        "a refused tunnel is never reported up or down"
    );
    assert_eq!(p.ep.stats().get(DropReason::PolicyRejected), 1);

    let mut q = Peer::new(TunnelConfig::default(), |_: &TunnelRequest<'_>| {
        PolicyDecision::Ignore
    });
    for _ in 0..100 {
        assert!(q.raw(&q.encode(0, 0, &sccrq())).is_empty());
    }
    assert_eq!(q.ep.tunnel_count(), 0);
    assert_eq!(q.ep.stats().get(DropReason::PolicyIgnored), 100);
}

#[test]
fn unsupported_protocol_version_gets_result_5_with_highest_version() {
    let mut p = Peer::accepting(TunnelConfig::default());
    let mut m = sccrq();
    m.avps.protocol_version = Some(ProtocolVersion {
        version: 2,
        revision: 0,
    });
    let replies = p.send(0, &m);
    let (_, stop) = only_message(&replies, MessageType::StopCcn);
    let rc = stop.avps.result_code.unwrap();
    assert_eq!((rc.result, rc.error), (5, Some(0x0100)));
}

#[test]
fn unknown_mandatory_avp_in_icrq_ends_the_call_not_the_tunnel() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    let mut m = icrq(77);
    m.avps.unknown.push(RawAvp {
        mandatory: true,
        hidden: false,
        reserved: 0,
        vendor_id: 0,
        attr: 99,
        value: vec![1],
    });
    let replies = p.send(0, &m);
    let (h, cdn) = only_message(&replies, MessageType::Cdn);
    assert_eq!(h.session_id, 77);
    let rc = cdn.avps.result_code.unwrap();
    assert_eq!((rc.result, rc.error), (2, Some(8)));
    assert!(p.events().is_empty());
    // M=0 unknown AVPs are ignored: the call goes on.
    let mut m = icrq(78);
    m.avps.unknown.push(RawAvp {
        mandatory: false,
        hidden: false,
        reserved: 0,
        vendor_id: 555,
        attr: 1,
        value: vec![],
    });
    p.send(0, &m);
    assert!(matches!(
        p.events().as_slice(),
        [Event::IncomingCall {
            peer_session_id: 78,
            ..
        }]
    ));
}

#[test]
fn unknown_mandatory_avp_in_a_tunnel_message_ends_the_tunnel() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    let mut hello = Message::new(MessageType::Hello);
    hello.avps.unknown.push(RawAvp {
        mandatory: true,
        hidden: false,
        reserved: 0,
        vendor_id: 0,
        attr: 200,
        value: vec![],
    });
    let replies = p.send(0, &hello);
    let (_, stop) = only_message(&replies, MessageType::StopCcn);
    let rc = stop.avps.result_code.unwrap();
    assert_eq!((rc.result, rc.error), (2, Some(8)));
    assert!(matches!(
        p.events().as_slice(),
        [Event::TunnelDown {
            cause: TunnelDownCause::ProtocolError {
                result: StopCcnResult::GeneralError,
                ..
            },
            ..
        }]
    ));
}

#[test]
fn unknown_message_types_follow_their_m_bit() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    // M=0: ignored, but it still took a sequence number and is acknowledged.
    let mut raw = p.encode(0, p.ns, &Message::new(MessageType::Hello));
    raw[12] = 0x00; // clear M on the Message Type AVP
    raw[19] = 50; // message type 50
    p.ns += 1;
    p.raw(&raw);
    assert!(p.events().is_empty());
    assert_eq!(p.ep.tunnel_count(), 1);
    // M=1: the tunnel is cleared.
    let mut raw = p.encode(0, p.ns, &Message::new(MessageType::Hello));
    raw[19] = 51;
    p.ns += 1;
    let replies = p.raw(&raw);
    let replies = p.absorb(replies);
    only_message(&replies, MessageType::StopCcn);
}

#[test]
fn ocrq_is_answered_with_a_cdn() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    let mut m = Message::new(MessageType::Ocrq);
    let a = &mut m.avps;
    a.assigned_session_id = Some(5);
    a.call_serial_number = Some(1);
    a.minimum_bps = Some(1);
    a.maximum_bps = Some(2);
    a.bearer_type = Some(l2tpagg::wire::Bearer(2));
    a.framing_type = Some(Framing(1));
    a.called_number = Some(b"123".to_vec());
    let replies = p.send(0, &m);
    let (h, cdn) = only_message(&replies, MessageType::Cdn);
    assert_eq!(h.session_id, 5);
    assert_eq!(cdn.avps.result_code.unwrap().result, 5);
    assert!(cdn.avps.assigned_session_id.is_some());
}

#[test]
fn icrq_missing_a_mandatory_avp_is_refused_with_a_cdn() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    let mut raw = p.encode(0, p.ns, &icrq(33));
    // Drop the Call Serial Number AVP (the last 10 bytes) and fix the length.
    raw.truncate(raw.len() - 10);
    let len = raw.len() as u16;
    raw[2..4].copy_from_slice(&len.to_be_bytes());
    p.ns += 1;
    let replies = p.raw(&raw);
    let replies = p.absorb(replies);
    let (h, cdn) = only_message(&replies, MessageType::Cdn);
    assert_eq!(h.session_id, 33);
    assert_eq!(cdn.avps.result_code.unwrap().result, 2);
    assert_eq!(p.ep.tunnel_count(), 1);
}

#[test]
fn session_limit_refuses_with_result_4() {
    let mut p = Peer::accepting(TunnelConfig {
        max_sessions: 2,
        ..Default::default()
    });
    p.establish();
    p.send(0, &icrq(1));
    p.send(0, &icrq(2));
    let replies = p.send(0, &icrq(3));
    let (_, cdn) = only_message(&replies, MessageType::Cdn);
    let rc = cdn.avps.result_code.unwrap();
    assert_eq!((rc.result, rc.error), (4, Some(4)));
    assert_eq!(p.events().len(), 2);
}

#[test]
fn out_of_order_messages_are_held_and_delivered_in_order() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    let second = p.encode(0, p.ns + 1, &icrq(11));
    let first = p.encode(0, p.ns, &icrq(10));
    p.ns += 2;
    p.raw(&second);
    assert!(p.events().is_empty(), "held until the gap fills");
    p.raw(&first);
    let order: Vec<u16> = p
        .events()
        .into_iter()
        .map(|e| match e {
            Event::IncomingCall {
                peer_session_id, ..
            } => peer_session_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(order, [10, 11]);
    // Both acknowledged by one delayed ZLB with Nr past both.
    let sent = p.advance(Duration::from_millis(200));
    assert!(sent.iter().any(|(h, m)| m.is_none() && h.nr == p.ns));
}

#[test]
fn stopccn_is_acked_at_once_and_retransmissions_acked_while_lingering() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    p.send(0, &icrq(9));
    assert!(matches!(
        p.events().as_slice(),
        [Event::IncomingCall { .. }]
    ));
    let mut stop = Message::new(MessageType::StopCcn);
    stop.avps.assigned_tunnel_id = Some(PEER_TID);
    stop.avps.result_code = Some(l2tpagg::wire::ResultCode::new(6));
    let bytes = p.encode(0, p.ns, &stop);
    p.ns += 1;
    let replies = p.raw(&bytes);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].len(), 12, "an immediate ZLB");
    let ev = p.events();
    assert!(matches!(
        ev[0],
        Event::SessionDown {
            cause: SessionDownCause::TunnelDown,
            ..
        }
    ));
    assert!(
        matches!(&ev[1], Event::TunnelDown { cause: TunnelDownCause::PeerStopCcn { result }, .. } if result.result == 6)
    );
    p.advance(Duration::from_secs(10));
    assert_eq!(
        p.raw(&bytes).len(),
        1,
        "a retransmitted StopCCN is acknowledged again"
    );
    p.advance(Duration::from_secs(31));
    assert_eq!(p.ep.tunnel_count(), 0);
    assert!(p.raw(&bytes).is_empty());
    assert_eq!(p.ep.stats().get(DropReason::UnknownTunnel), 1);
}

#[test]
fn datagrams_from_another_address_are_not_accepted() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    let bytes = p.encode(0, p.ns, &Message::new(MessageType::Hello));
    let other: SocketAddr = "203.0.113.9:1701".parse().unwrap();
    p.ep.handle_datagram(p.now, lns_addr(), other, &bytes);
    assert_eq!(p.ep.stats().get(DropReason::WrongPeerAddress), 1);
    assert!(p.ep.poll_transmit().is_none());
}

#[test]
fn scccn_out_of_turn_is_an_fsm_error() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    let replies = p.send(0, &Message::new(MessageType::Scccn));
    let (_, stop) = only_message(&replies, MessageType::StopCcn);
    assert_eq!(
        stop.avps.result_code.unwrap().result,
        StopCcnResult::FsmError.code()
    );
}

#[test]
fn hello_is_sent_after_idle_and_acked_hello_keeps_the_tunnel() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.establish();
    // Nothing heard since the SCCCN at t=0: the HELLO goes out at 60 s (its first retransmission
    // would be at 61 s).
    let sent = p.advance(Duration::from_millis(60_500));
    let (h, _) = only_message(&sent, MessageType::Hello);
    // Acknowledge it: the tunnel stays up through the next minutes.
    let zlb = ControlHeader {
        tunnel_id: p.lns_tid,
        session_id: 0,
        ns: p.ns,
        nr: h.ns.wrapping_add(1),
    }
    .zlb();
    p.raw(&zlb);
    p.advance(Duration::from_secs(30));
    assert!(p.events().is_empty());
    assert_eq!(p.ep.tunnel_count(), 1);
}

#[test]
fn stopccn_before_the_peer_knows_our_tunnel_id_is_routed_by_its_assigned_tunnel_id() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.send(0, &sccrq());
    assert_eq!(p.ep.tunnel_count(), 1);
    // The peer gives up before it saw our SCCRP: tunnel ID 0 in the header (RFC 2661 §4.4.3).
    let mut stop = Message::new(MessageType::StopCcn);
    stop.avps.assigned_tunnel_id = Some(PEER_TID);
    stop.avps.result_code = Some(l2tpagg::wire::ResultCode::new(6));
    let bytes = p.encode(0, p.ns, &stop);
    let replies = p.raw(&bytes);
    assert_eq!(replies.len(), 1, "acknowledged");
    assert_eq!(
        p.ep.tunnel(p.ep.tunnel_ids()[0]).unwrap().state,
        l2tpagg::l2tp::TunnelState::Lingering
    );
    assert_eq!(p.ep.stats().get(DropReason::NotSccrqOnTunnelZero), 0);
}

#[test]
fn an_icrq_sent_to_tunnel_0_before_the_sccrp_arrived_is_kept_until_the_tunnel_is_up() {
    // What xl2tpd does as LAC when our SCCRP is slow: SCCRQ (Ns 0), then ICRQ (Ns 1) still
    // addressed to tunnel 0, then SCCCN (Ns 2) once the SCCRP arrives.
    let mut p = Peer::accepting(TunnelConfig::default());
    let replies = p.send(0, &sccrq());
    let (_, sccrp) = only_message(&replies, MessageType::Sccrp);
    let early_icrq = p.encode(0, p.ns, &icrq(21));
    p.ns += 1;
    assert!(p.raw(&early_icrq).is_empty() || p.ep.tunnel_count() == 1);
    assert!(p.events().is_empty(), "no call before the tunnel is up");
    p.lns_tid = sccrp.avps.assigned_tunnel_id.unwrap();
    let replies = p.send(0, &Message::new(MessageType::Scccn));
    let ev = p.events();
    assert!(
        matches!(
            ev.as_slice(),
            [
                Event::TunnelUp { .. },
                Event::IncomingCall {
                    peer_session_id: 21,
                    ..
                }
            ]
        ),
        "{ev:?}"
    );
    assert!(
        !replies
            .iter()
            .any(|(_, m)| m.as_ref().is_some_and(|m| m.kind == MessageType::StopCcn))
    );
    assert_eq!(p.ep.stats().get(DropReason::NotSccrqOnTunnelZero), 0);
}

#[test]
fn an_sccrq_that_does_not_start_at_ns_0_is_still_answered() {
    let mut p = Peer::accepting(TunnelConfig::default());
    p.ns = 7;
    let replies = p.send(0, &sccrq());
    let (h, _) = only_message(&replies, MessageType::Sccrp);
    assert_eq!(h.nr, 8);
}

#[test]
fn invalid_configurations_are_refused() {
    let mut p = Peer::new(TunnelConfig::default(), |_: &TunnelRequest<'_>| {
        PolicyDecision::Accept(Arc::new(TunnelConfig {
            receive_window: 0,
            ..Default::default()
        }))
    });
    assert!(p.send(0, &sccrq()).is_empty());
    assert_eq!(p.ep.stats().get(DropReason::InvalidConfig), 1);
    let bad = Arc::new(TunnelConfig {
        retransmit_max: Duration::from_secs(2),
        ..Default::default()
    });
    let r = p.ep.open_tunnel(p.now, lns_addr(), peer_addr(), bad);
    assert!(matches!(r, Err(l2tpagg::l2tp::ApiError::InvalidConfig(_))));
}

/// A live tunnel shared by the fuzz cases; rebuilt whenever a case tore it down.
static FUZZ: Mutex<Option<Peer>> = Mutex::new(None);

fn with_live_tunnel(f: impl FnOnce(&mut Peer)) {
    let mut guard = FUZZ.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|p| {
        p.ep.tunnel(p.lns_tid)
            .is_none_or(|t| t.state != l2tpagg::l2tp::TunnelState::Established)
    }) {
        let mut p = Peer::accepting(TunnelConfig {
            secret: None,
            ..Default::default()
        });
        p.establish();
        *guard = Some(p);
    }
    let p = guard.as_mut().unwrap();
    f(p);
    // Follow the endpoint's sequence state from what it sends, so the next case lands in the
    // window instead of drifting out of it: its Nr is the Ns it expects, and acknowledging its
    // messages keeps its retransmit queue from stalling.
    while let Some(t) = p.ep.poll_transmit() {
        if let Ok(c) = l2tpagg::wire::ControlPacket::new_checked(&t.payload[..]) {
            p.ns = c.nr();
            if !c.is_zlb() {
                p.nr = c.ns().wrapping_add(1);
            }
        }
    }
    while p.ep.poll_event().is_some() {}
}

fn valid_body(kind: u8, sid: u16) -> Message {
    match kind % 5 {
        0 => icrq(sid.max(1)),
        1 => Message::new(MessageType::Hello),
        2 => {
            let mut m = Message::new(MessageType::Cdn);
            m.avps.result_code = Some(l2tpagg::wire::ResultCode::new(1));
            m.avps.assigned_session_id = Some(sid.max(1));
            m
        }
        3 => {
            let mut m = Message::new(MessageType::Iccn);
            m.avps = Avps {
                tx_connect_speed: Some(1),
                framing_type: Some(Framing(1)),
                ..Default::default()
            };
            m
        }
        _ => sccrq(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    #[test]
    fn random_and_mutated_datagrams_into_a_live_control_channel(
        kind in any::<u8>(), sid in any::<u16>(), ns_off in prop_oneof![3 => Just(0u16), 1 => 0u16..40], tail in prop::collection::vec(any::<u8>(), 0..48),
        edits in prop::collection::vec((any::<u16>(), any::<u8>()), 0..4), random_body in any::<bool>()
    ) {
        with_live_tunnel(|p| {
            let mut bytes = if random_body {
                let mut h = ControlHeader { tunnel_id: p.lns_tid, session_id: sid, ns: p.ns.wrapping_add(ns_off), nr: p.nr }.zlb().to_vec();
                h.extend_from_slice(&tail);
                let len = h.len() as u16;
                h[2..4].copy_from_slice(&len.to_be_bytes());
                h
            } else {
                p.encode(sid, p.ns.wrapping_add(ns_off), &valid_body(kind, sid))
            };
            for (pos, val) in &edits {
                let at = *pos as usize % bytes.len();
                bytes[at] ^= val | 1;
            }
            p.ep.handle_datagram(p.now, lns_addr(), peer_addr(), &bytes);
            // Past the ack delay, so the endpoint reports its Nr.
            p.now += Duration::from_millis(150);
            p.ep.handle_timeout(p.now);
        });
    }
}
