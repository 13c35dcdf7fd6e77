//! The PPPoE client and access concentrator talking in memory with driven time: discovery to
//! session, PPP frames both ways, teardown by PADT from either side, refusals, caps, retransmission.

use std::time::{Duration, Instant};

use l2tpagg::pppoe::ac::{AcEvent, RejectKind};
use l2tpagg::pppoe::client::{ClientFailure, ClientSession, Ignored, TerminateCause};
use l2tpagg::pppoe::tag::{Tag, tag_type};
use l2tpagg::pppoe::{
    AcConfig, AccessConcentrator, Admission, Body, ClientConfig, ClientEvent, ClientHandled,
    ClientState, DiscoveryCode, DiscoveryRepr, FrameRepr, Handled, MacAddr, PppoeClient, Reject,
};
use l2tpagg::runtime::clock::test_epoch;

const AC_MAC: MacAddr = MacAddr([0x02, 0xac, 0, 0, 0, 1]);
const LCP_CONF_REQ: &[u8] = &[0xc0, 0x21, 0x01, 0x01, 0x00, 0x04];

fn host(n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([0x02, 0x00, b[0], b[1], b[2], b[3]])
}

fn ac_config() -> AcConfig {
    AcConfig::new(AC_MAC, "lac-test", [0x5a; 32])
}

fn client_config(mac: MacAddr, uniq: u32) -> ClientConfig {
    let mut c = ClientConfig::new(mac);
    c.host_uniq = Some(uniq.to_be_bytes().to_vec());
    c
}

/// An Ethernet segment with one AC and some clients; frames are delivered in memory.
struct Segment {
    now: Instant,
    ac: AccessConcentrator,
    clients: Vec<PppoeClient>,
    ac_events: Vec<AcEvent>,
    client_events: Vec<Vec<ClientEvent>>,
    /// Frames the AC sent, for inspection.
    ac_sent: Vec<Vec<u8>>,
    /// Drop the next N frames a client sends (a lossy link).
    drop_client_frames: usize,
}

impl Segment {
    fn new(config: AcConfig) -> Self {
        let now = test_epoch();
        Segment {
            now,
            ac: AccessConcentrator::new(config, now).expect("valid config"),
            clients: Vec::new(),
            ac_events: Vec::new(),
            client_events: Vec::new(),
            ac_sent: Vec::new(),
            drop_client_frames: 0,
        }
    }

    fn add(&mut self, config: ClientConfig) -> usize {
        self.clients.push(PppoeClient::new(config));
        self.client_events.push(Vec::new());
        self.clients.len() - 1
    }

    fn connect(&mut self, i: usize) {
        self.clients[i].connect(self.now).unwrap();
    }

    /// Moves frames until nobody has anything to send.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.clients.len() {
                while let Some(frame) = self.clients[i].poll_transmit() {
                    moved = true;
                    if self.drop_client_frames > 0 {
                        self.drop_client_frames -= 1;
                        continue;
                    }
                    self.ac.handle_frame(self.now, &frame);
                }
            }
            while let Some(frame) = self.ac.poll_transmit() {
                moved = true;
                for c in &mut self.clients {
                    c.handle_frame(self.now, &frame);
                }
                self.ac_sent.push(frame);
            }
            while let Some(e) = self.ac.poll_event() {
                self.ac_events.push(e);
            }
            for (i, c) in self.clients.iter_mut().enumerate() {
                while let Some(e) = c.poll_event() {
                    self.client_events[i].push(e);
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Advances time to the next client deadline, fires it and pumps. Returns false when no timer is armed.
    fn step_timers(&mut self) -> bool {
        let Some(next) = self
            .clients
            .iter()
            .filter_map(PppoeClient::poll_timeout)
            .min()
        else {
            return false;
        };
        self.now = self.now.max(next);
        for c in &mut self.clients {
            c.handle_timeout(self.now);
        }
        self.pump();
        true
    }

    fn run_until_quiet(&mut self) {
        self.pump();
        while self.step_timers() {}
    }

    fn established(&self, i: usize) -> ClientSession {
        match self.client_events[i]
            .iter()
            .find(|e| matches!(e, ClientEvent::Established(_)))
        {
            Some(ClientEvent::Established(s)) => s.clone(),
            _ => panic!("client {i} not established: {:?}", self.client_events[i]),
        }
    }

    fn failure(&self, i: usize) -> ClientFailure {
        match self.client_events[i]
            .iter()
            .find(|e| matches!(e, ClientEvent::Failed(_)))
        {
            Some(ClientEvent::Failed(f)) => f.clone(),
            _ => panic!("client {i} did not fail: {:?}", self.client_events[i]),
        }
    }
}

fn parse_discovery(frame: &[u8]) -> DiscoveryRepr<'_> {
    match FrameRepr::parse_bytes(frame).unwrap().body {
        Body::Discovery(d) => d,
        other => panic!("expected discovery, got {other:?}"),
    }
}

#[test]
fn discovery_reaches_session_and_ppp_flows_both_ways() {
    let mut seg = Segment::new(ac_config());
    let c = seg.add(client_config(host(1), 0xdead_beef));
    seg.connect(c);
    assert_eq!(seg.clients[c].state(), ClientState::Discovering);
    seg.pump();

    let session = seg.established(c);
    assert_eq!(seg.clients[c].state(), ClientState::Established);
    assert_eq!(session.ac_mac, AC_MAC);
    assert_eq!(session.ac_name.as_deref(), Some(&b"lac-test"[..]));
    assert_eq!(session.max_payload, 1492);
    assert_ne!(session.session_id, 0);
    assert_ne!(session.session_id, 0xffff);

    let [AcEvent::SessionEstablished(info)] = seg.ac_events.as_slice() else {
        panic!("expected one SessionEstablished, got {:?}", seg.ac_events);
    };
    assert_eq!(info.session_id, session.session_id);
    assert_eq!(info.peer, host(1));
    assert_eq!(info.vlan, None);
    assert_eq!(
        info.host_uniq.as_deref(),
        Some(&0xdead_beef_u32.to_be_bytes()[..])
    );
    assert_eq!(info.max_payload, 1492);
    assert_eq!(seg.ac.session_count(), 1);
    // No timer is left armed once the PADS is in.
    assert_eq!(seg.clients[c].poll_timeout(), None);

    // PADO and PADS echo Host-Uniq unmodified (RFC 2516 Appendix A); the PADO carries a cookie.
    let pado = parse_discovery(&seg.ac_sent[0]);
    assert_eq!(pado.code, DiscoveryCode::Pado);
    assert_eq!(pado.host_uniq(), Some(&0xdead_beef_u32.to_be_bytes()[..]));
    assert_eq!(pado.ac_cookie().map(<[u8]>::len), Some(16));
    assert_eq!(pado.ac_name(), Some(&b"lac-test"[..]));
    let pads = parse_discovery(&seg.ac_sent[1]);
    assert_eq!(pads.code, DiscoveryCode::Pads);
    assert_eq!(pads.session_id, session.session_id);
    assert_eq!(pads.service_names().count(), 1);

    // Client → AC.
    let up = seg.clients[c]
        .session_header()
        .unwrap()
        .to_vec(LCP_CONF_REQ)
        .unwrap();
    match seg.ac.handle_frame(seg.now, &up) {
        Handled::Session(p) => {
            assert_eq!(
                (p.session_id, p.peer, p.ppp),
                (session.session_id, host(1), LCP_CONF_REQ)
            );
        }
        other => panic!("expected a session payload, got {other:?}"),
    }
    // AC → client.
    let down = seg
        .ac
        .session_header(session.session_id)
        .unwrap()
        .to_vec(LCP_CONF_REQ)
        .unwrap();
    assert_eq!(
        seg.clients[c].handle_frame(seg.now, &down),
        ClientHandled::Session(LCP_CONF_REQ)
    );
    assert_eq!(seg.ac.counters().session_frames, 1);
    assert_eq!(seg.ac.counters().total_rejects(), 0);
}

#[test]
fn subscriber_padt_tears_the_session_down() {
    let mut seg = Segment::new(ac_config());
    let c = seg.add(client_config(host(1), 1));
    seg.connect(c);
    seg.pump();
    let id = seg.established(c).session_id;

    seg.clients[c].close(Some("user hung up"));
    seg.pump();
    assert_eq!(seg.clients[c].state(), ClientState::Closed);
    assert!(seg.client_events[c].contains(&ClientEvent::Terminated {
        session_id: id,
        cause: TerminateCause::Local
    }));
    let Some(AcEvent::SessionTerminatedByPeer { info, reason }) = seg.ac_events.last() else {
        panic!("expected SessionTerminatedByPeer, got {:?}", seg.ac_events);
    };
    assert_eq!(info.session_id, id);
    assert_eq!(reason.as_deref(), Some("user hung up"));
    assert_eq!(seg.ac.session_count(), 0);
    assert_eq!(seg.ac.sessions_of(host(1), None), 0);
    assert_eq!(seg.ac.counters().sessions_terminated_by_peer, 1);

    // RFC 2516 §5.5: after the PADT the session is gone; its PPP frames are unknown now.
    let late = l2tpagg::pppoe::SessionHeader {
        local: host(1),
        peer: AC_MAC,
        vlan: None,
        session_id: id,
    }
    .to_vec(LCP_CONF_REQ)
    .unwrap();
    assert_eq!(
        seg.ac.handle_frame(seg.now, &late),
        Handled::Rejected(Reject::UnknownSession(id))
    );
    // And the client no longer has a session header to send with.
    assert!(seg.clients[c].session_header().is_none());
}

#[test]
fn ac_padt_tears_the_session_down() {
    let mut seg = Segment::new(ac_config());
    let c = seg.add(client_config(host(1), 1));
    seg.connect(c);
    seg.pump();
    let id = seg.established(c).session_id;

    let info = seg.ac.terminate(id, Some("idle timeout")).unwrap();
    assert_eq!(info.peer, host(1));
    assert_eq!(seg.ac.session_count(), 0);
    seg.pump();
    assert_eq!(seg.clients[c].state(), ClientState::Closed);
    assert_eq!(
        seg.client_events[c].last(),
        Some(&ClientEvent::Terminated {
            session_id: id,
            cause: TerminateCause::Peer {
                reason: Some("idle timeout".into())
            }
        })
    );
    let padt = parse_discovery(seg.ac_sent.last().unwrap());
    assert_eq!((padt.code, padt.session_id), (DiscoveryCode::Padt, id));
    assert_eq!(
        seg.ac.terminate(id, None),
        Err(l2tpagg::pppoe::AcError::UnknownSession(id))
    );
    assert_eq!(seg.ac.counters().sessions_terminated_locally, 1);

    // The client can dial again and gets a fresh session ID.
    seg.client_events[c].clear();
    seg.connect(c);
    seg.pump();
    assert_ne!(seg.established(c).session_id, id);
}

#[test]
fn closed_admission_sends_no_pado_and_the_client_gives_up() {
    let mut seg = Segment::new(ac_config());
    seg.ac.set_admission(Admission::Refuse {
        reason: "daemon at capacity".into(),
    });
    let c = seg.add(client_config(host(1), 1));
    seg.connect(c);
    seg.run_until_quiet();
    assert_eq!(seg.failure(c), ClientFailure::NoOffer { last_error: None });
    // 4 PADIs per round, 2 rounds.
    assert_eq!(seg.ac.counters().padi_received, 8);
    assert_eq!(seg.ac.counters().rejects(RejectKind::AdmissionClosed), 8);
    assert_eq!(seg.ac.counters().pado_sent, 0);
    assert!(seg.ac_sent.is_empty());
}

#[test]
fn refusal_between_pado_and_padr_carries_generic_error() {
    let mut seg = Segment::new(ac_config());
    let c = seg.add(client_config(host(1), 1));
    seg.connect(c);
    // Deliver only the PADI, then close admission before the PADR arrives.
    let padi = seg.clients[c].poll_transmit().unwrap();
    seg.ac.handle_frame(seg.now, &padi);
    seg.ac.set_admission(Admission::Refuse {
        reason: "daemon at capacity".into(),
    });
    seg.pump();
    assert_eq!(
        seg.failure(c),
        ClientFailure::Refused {
            tag_type: tag_type::GENERIC_ERROR,
            reason: "daemon at capacity".into()
        }
    );
    let pads = parse_discovery(seg.ac_sent.last().unwrap());
    assert_eq!((pads.code, pads.session_id), (DiscoveryCode::Pads, 0));
    assert_eq!(pads.error(), Some(Tag::GenericError(b"daemon at capacity")));
    assert_eq!(pads.host_uniq(), Some(&1u32.to_be_bytes()[..]));
    assert_eq!(seg.ac.session_count(), 0);
    assert_eq!(seg.ac.counters().pads_refusals_sent, 1);

    // Reopened, the same subscriber gets in.
    seg.ac.set_admission(Admission::Open);
    seg.client_events[c].clear();
    seg.connect(c);
    seg.pump();
    seg.established(c);
}

#[test]
fn per_mac_cap_refuses_with_generic_error() {
    let mut config = ac_config();
    config.max_sessions_per_mac = 2;
    let mut seg = Segment::new(config);
    // Three PPPoE clients behind one MAC, told apart by Host-Uniq.
    let clients: Vec<usize> = (0..3)
        .map(|i| seg.add(client_config(host(7), 100 + i)))
        .collect();
    for &c in &clients {
        seg.connect(c);
    }
    // All three PADIs are offered (no session yet), then PADRs race for two places.
    seg.pump();
    seg.established(clients[0]);
    seg.established(clients[1]);
    assert_eq!(
        seg.failure(clients[2]),
        ClientFailure::Refused {
            tag_type: tag_type::GENERIC_ERROR,
            reason: "session limit for this MAC address reached".into()
        }
    );
    assert_eq!(seg.ac.sessions_of(host(7), None), 2);
    assert_eq!(seg.ac.counters().rejects(RejectKind::PerMacLimit), 1);

    // With the MAC full, a new PADI from it gets no PADO at all (RFC 2516 §5.2).
    seg.client_events[clients[2]].clear();
    seg.connect(clients[2]);
    seg.run_until_quiet();
    assert_eq!(
        seg.failure(clients[2]),
        ClientFailure::NoOffer { last_error: None }
    );
    assert_eq!(seg.ac.counters().rejects(RejectKind::PerMacLimit), 1 + 8);

    // Another MAC is not affected.
    let other = seg.add(client_config(host(8), 1));
    seg.connect(other);
    seg.pump();
    seg.established(other);
}

#[test]
fn interface_cap_refuses_with_generic_error() {
    let mut config = ac_config();
    config.max_sessions = 3;
    let mut seg = Segment::new(config);
    let clients: Vec<usize> = (0..4).map(|i| seg.add(client_config(host(i), i))).collect();
    for &c in &clients {
        seg.connect(c);
    }
    seg.pump();
    for &c in &clients[..3] {
        seg.established(c);
    }
    assert_eq!(
        seg.failure(clients[3]),
        ClientFailure::Refused {
            tag_type: tag_type::GENERIC_ERROR,
            reason: "access concentrator session limit reached".into()
        }
    );
    assert_eq!(seg.ac.session_count(), 3);
    assert_eq!(seg.ac.counters().rejects(RejectKind::InterfaceFull), 1);

    // Freeing one place lets the fourth in.
    let id = seg.established(clients[0]).session_id;
    seg.ac.terminate(id, None).unwrap();
    seg.client_events[clients[3]].clear();
    seg.connect(clients[3]);
    seg.pump();
    seg.established(clients[3]);
}

#[test]
fn session_ids_are_unique_and_rotate() {
    let mut config = ac_config();
    config.max_sessions_per_mac = 1;
    config.first_session_id = 0xfffd;
    let mut seg = Segment::new(config);
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = seg.add(client_config(host(i), i));
        seg.connect(c);
        seg.pump();
        ids.push(seg.established(c).session_id);
    }
    // 0xffff is reserved (RFC 2516 §4) and 0 means "no session": the cursor wraps past both.
    assert_eq!(ids, vec![0xfffd, 0xfffe, 1, 2, 3]);
}

#[test]
fn service_names_are_matched_offered_and_refused() {
    let mut config = ac_config();
    config.service_names = vec!["internet".into(), "voip".into()];
    let mut seg = Segment::new(config);

    // A named service in the list: PADO echoes it first, then lists the others (RFC 2516 §5.2).
    let mut voip = client_config(host(1), 1);
    voip.service_name = b"voip".to_vec();
    let c = seg.add(voip);
    seg.connect(c);
    seg.pump();
    assert_eq!(seg.established(c).service_name, b"voip");
    let pado = parse_discovery(&seg.ac_sent[0]);
    assert_eq!(
        pado.service_names().collect::<Vec<_>>(),
        vec![&b"voip"[..], b"internet"]
    );

    // Any service: granted the first configured one.
    let any = seg.add(client_config(host(2), 2));
    seg.connect(any);
    seg.pump();
    assert_eq!(seg.established(any).service_name, b"internet");

    // An unknown service gets no PADO.
    let mut tv = client_config(host(3), 3);
    tv.service_name = b"tv".to_vec();
    let t = seg.add(tv);
    seg.connect(t);
    seg.run_until_quiet();
    assert_eq!(seg.failure(t), ClientFailure::NoOffer { last_error: None });
    assert_eq!(seg.ac.counters().rejects(RejectKind::ServiceNotOffered), 8);
}

#[test]
fn padr_for_an_unoffered_service_gets_service_name_error() {
    let mut config = ac_config();
    config.service_names = vec!["internet".into()];
    let mut seg = Segment::new(config);
    let c = seg.add(client_config(host(1), 1));
    seg.connect(c);
    let padi = seg.clients[c].poll_transmit().unwrap();
    seg.ac.handle_frame(seg.now, &padi);
    let pado = seg.ac.poll_transmit().unwrap();
    let cookie = parse_discovery(&pado).ac_cookie().unwrap().to_vec();
    // A hand-made PADR with the right cookie but another service.
    let padr = FrameRepr {
        eth: l2tpagg::pppoe::EthernetRepr {
            dst: AC_MAC,
            src: host(1),
            vlan: None,
        },
        body: Body::Discovery(DiscoveryRepr {
            code: DiscoveryCode::Padr,
            session_id: 0,
            tags: vec![Tag::ServiceName(b"tv"), Tag::AcCookie(&cookie)],
        }),
    }
    .to_vec()
    .unwrap();
    assert_eq!(
        seg.ac.handle_frame(seg.now, &padr),
        Handled::Rejected(Reject::ServiceNotOffered)
    );
    let pads = seg.ac.poll_transmit().unwrap();
    let pads = parse_discovery(&pads);
    assert_eq!((pads.code, pads.session_id), (DiscoveryCode::Pads, 0));
    assert!(matches!(pads.error(), Some(Tag::ServiceNameError(_))));
    assert_eq!(seg.ac.session_count(), 0);
}

#[test]
fn lost_frames_are_retransmitted_with_doubling_waits() {
    let mut seg = Segment::new(ac_config());
    let c = seg.add(client_config(host(1), 1));
    seg.drop_client_frames = 2; // the first two PADIs are lost
    let start = seg.now;
    seg.connect(c);
    seg.pump();
    assert_eq!(
        seg.clients[c].poll_timeout(),
        Some(start + Duration::from_secs(1))
    );
    assert!(seg.step_timers());
    assert_eq!(
        seg.clients[c].poll_timeout(),
        Some(start + Duration::from_secs(3)),
        "second wait is 2 s"
    );
    assert!(seg.step_timers());
    // Third PADI got through; we are established 3 s after starting.
    let session = seg.established(c);
    assert_eq!(seg.now, start + Duration::from_secs(3));
    assert_eq!(seg.ac.counters().padi_received, 1);
    assert_eq!(seg.clients[c].poll_timeout(), None);
    assert_eq!(
        session.session_id,
        seg.ac.sessions().next().unwrap().session_id
    );
}

#[test]
fn retransmitted_padr_gets_the_same_session() {
    let mut seg = Segment::new(ac_config());
    let c = seg.add(client_config(host(1), 1));
    seg.connect(c);
    let padi = seg.clients[c].poll_transmit().unwrap();
    seg.ac.handle_frame(seg.now, &padi);
    let pado = seg.ac.poll_transmit().unwrap();
    seg.clients[c].handle_frame(seg.now, &pado);
    let padr = seg.clients[c].poll_transmit().unwrap();
    seg.ac.handle_frame(seg.now, &padr);
    let _lost_pads = seg.ac.poll_transmit().unwrap();
    let first_id = match seg.ac.poll_event() {
        Some(AcEvent::SessionEstablished(info)) => info.session_id,
        other => panic!("expected SessionEstablished, got {other:?}"),
    };
    // The client times out and resends its PADR; the AC answers with the same session.
    seg.now += Duration::from_secs(1);
    seg.clients[c].handle_timeout(seg.now);
    seg.pump();
    assert_eq!(seg.established(c).session_id, first_id);
    assert_eq!(seg.ac.session_count(), 1);
    assert_eq!(seg.ac.counters().duplicate_padr, 1);
    assert!(
        seg.ac_events.is_empty(),
        "no second SessionEstablished: {:?}",
        seg.ac_events
    );

    // Once PPP traffic has flowed, a PADR with the same Host-Uniq is a new attempt, not a repeat.
    let up = seg.clients[c]
        .session_header()
        .unwrap()
        .to_vec(LCP_CONF_REQ)
        .unwrap();
    assert!(matches!(
        seg.ac.handle_frame(seg.now, &up),
        Handled::Session(_)
    ));
    seg.ac.handle_frame(seg.now, &padr);
    assert_eq!(seg.ac.session_count(), 2);
}

#[test]
fn padr_retries_fall_back_to_padi_then_fail() {
    let mut seg = Segment::new(ac_config());
    let c = seg.add(client_config(host(1), 1));
    seg.connect(c);
    let padi = seg.clients[c].poll_transmit().unwrap();
    seg.ac.handle_frame(seg.now, &padi);
    let pado = seg.ac.poll_transmit().unwrap();
    seg.clients[c].handle_frame(seg.now, &pado);
    assert_eq!(seg.clients[c].state(), ClientState::Requesting);
    // The AC is unreachable from now on: drain and drop everything the client sends.
    let mut padis = 0;
    let mut padrs = 0;
    loop {
        while let Some(f) = seg.clients[c].poll_transmit() {
            match parse_discovery(&f).code {
                DiscoveryCode::Padi => padis += 1,
                DiscoveryCode::Padr => padrs += 1,
                other => panic!("unexpected {other}"),
            }
        }
        let Some(t) = seg.clients[c].poll_timeout() else {
            break;
        };
        seg.now = t;
        seg.clients[c].handle_timeout(t);
    }
    // Round 1: 3 PADRs (RFC 2516 §8), then round 2: 4 PADIs, then failure.
    assert_eq!((padrs, padis), (3, 4));
    assert_eq!(
        seg.clients[c].poll_event(),
        Some(ClientEvent::Failed(ClientFailure::NoOffer {
            last_error: None
        }))
    );
}

#[test]
fn ppp_max_payload_is_honoured_when_the_interface_allows() {
    let mut config = ac_config();
    config.interface_mtu = 1508;
    let mut seg = Segment::new(config);
    let mut cc = client_config(host(1), 1);
    cc.ppp_max_payload = Some(1500);
    let c = seg.add(cc);
    seg.connect(c);
    seg.pump();
    assert_eq!(seg.established(c).max_payload, 1500);
    assert_eq!(seg.ac.sessions().next().unwrap().max_payload, 1500);
    assert_eq!(
        parse_discovery(&seg.ac_sent[0]).ppp_max_payload(),
        Some(1500)
    );
    assert_eq!(
        parse_discovery(&seg.ac_sent[1]).ppp_max_payload(),
        Some(1500)
    );

    // A 1500-octet interface cannot: the tag is not echoed and both sides stay at 1492.
    let mut seg = Segment::new(ac_config());
    let mut cc = client_config(host(1), 1);
    cc.ppp_max_payload = Some(1500);
    let c = seg.add(cc);
    seg.connect(c);
    seg.pump();
    assert_eq!(seg.established(c).max_payload, 1492);
    assert_eq!(seg.ac.sessions().next().unwrap().max_payload, 1492);
    assert_eq!(parse_discovery(&seg.ac_sent[0]).ppp_max_payload(), None);
}

#[test]
fn vlan_tagged_subscriber_is_answered_on_its_vlan() {
    let mut seg = Segment::new(ac_config());
    let mut cc = client_config(host(1), 1);
    cc.vlan = Some(100);
    let c = seg.add(cc);
    let untagged = seg.add(client_config(host(1), 2));
    seg.connect(c);
    seg.pump();
    let session = seg.established(c);
    let info = seg.ac.session(session.session_id).unwrap().clone();
    assert_eq!(info.vlan, Some(100));
    for frame in &seg.ac_sent {
        assert_eq!(
            l2tpagg::pppoe::Frame::new_checked(frame).unwrap().vlan(),
            Some(100)
        );
    }
    let header = seg.ac.session_header(session.session_id).unwrap();
    assert_eq!(header.vlan, Some(100));
    // The same MAC untagged is another subscriber with its own per-MAC count.
    assert_eq!(seg.ac.sessions_of(host(1), Some(100)), 1);
    assert_eq!(seg.ac.sessions_of(host(1), None), 0);
    // A frame for the session arriving on the wrong VLAN is not the session's.
    let mut wrong = seg.clients[c].session_header().unwrap();
    wrong.vlan = None;
    let frame = wrong.to_vec(LCP_CONF_REQ).unwrap();
    assert_eq!(
        seg.ac.handle_frame(seg.now, &frame),
        Handled::Rejected(Reject::SessionPeerMismatch(session.session_id))
    );
    assert_eq!(seg.clients[untagged].state(), ClientState::Idle);
}

#[test]
fn relay_session_id_is_echoed() {
    let mut seg = Segment::new(ac_config());
    let relay = [0x52u8; 12];
    let padi = FrameRepr {
        eth: l2tpagg::pppoe::EthernetRepr {
            dst: MacAddr::BROADCAST,
            src: host(1),
            vlan: None,
        },
        body: Body::Discovery(DiscoveryRepr {
            code: DiscoveryCode::Padi,
            session_id: 0,
            tags: vec![
                Tag::ServiceName(b""),
                Tag::RelaySessionId(&relay),
                Tag::Unknown {
                    tag_type: 0x0999,
                    value: b"x",
                },
            ],
        }),
    }
    .to_vec()
    .unwrap();
    assert_eq!(seg.ac.handle_frame(seg.now, &padi), Handled::Discovery);
    let pado = seg.ac.poll_transmit().unwrap();
    let pado = parse_discovery(&pado);
    assert_eq!(pado.relay_session_id(), Some(&relay[..]));
    // The client carries the relay's tag back in its PADR.
    let mut client = PppoeClient::new(ClientConfig::new(host(1)));
    client.connect(seg.now).unwrap();
    let _padi = client.poll_transmit();
    let pado_frame = FrameRepr {
        eth: l2tpagg::pppoe::EthernetRepr {
            dst: host(1),
            src: AC_MAC,
            vlan: None,
        },
        body: Body::Discovery(pado),
    }
    .to_vec()
    .unwrap();
    assert_eq!(
        client.handle_frame(seg.now, &pado_frame),
        ClientHandled::Discovery
    );
    let padr = client.poll_transmit().unwrap();
    assert_eq!(parse_discovery(&padr).relay_session_id(), Some(&relay[..]));
    seg.ac.handle_frame(seg.now, &padr);
    let pads = seg.ac.poll_transmit().unwrap();
    assert_eq!(parse_discovery(&pads).relay_session_id(), Some(&relay[..]));
    assert_eq!(
        seg.ac
            .sessions()
            .next()
            .unwrap()
            .relay_session_id
            .as_deref(),
        Some(&relay[..])
    );
}

#[test]
fn client_ignores_offers_it_cannot_use_and_frames_for_others() {
    let now = test_epoch();
    let mut cc = client_config(host(1), 1);
    cc.ac_name = Some(b"wanted-ac".to_vec());
    let mut client = PppoeClient::new(cc);
    client.connect(now).unwrap();
    let _ = client.poll_transmit();
    let pado = |dst: MacAddr, tags: Vec<Tag<'_>>| {
        FrameRepr {
            eth: l2tpagg::pppoe::EthernetRepr {
                dst,
                src: AC_MAC,
                vlan: None,
            },
            body: Body::Discovery(DiscoveryRepr {
                code: DiscoveryCode::Pado,
                session_id: 0,
                tags,
            }),
        }
        .to_vec()
        .unwrap()
    };
    let uniq = 1u32.to_be_bytes();
    // Another AC's name.
    let other_ac = pado(
        host(1),
        vec![
            Tag::ServiceName(b""),
            Tag::AcName(b"other"),
            Tag::HostUniq(&uniq),
        ],
    );
    assert_eq!(
        client.handle_frame(now, &other_ac),
        ClientHandled::Ignored(Ignored::UnacceptableOffer)
    );
    // Another client's Host-Uniq.
    let other_uniq = pado(
        host(1),
        vec![
            Tag::ServiceName(b""),
            Tag::AcName(b"wanted-ac"),
            Tag::HostUniq(b"zz"),
        ],
    );
    assert_eq!(
        client.handle_frame(now, &other_uniq),
        ClientHandled::Ignored(Ignored::NotForUs)
    );
    // Another MAC.
    let other_mac = pado(
        host(2),
        vec![
            Tag::ServiceName(b""),
            Tag::AcName(b"wanted-ac"),
            Tag::HostUniq(&uniq),
        ],
    );
    assert_eq!(
        client.handle_frame(now, &other_mac),
        ClientHandled::Ignored(Ignored::NotForUs)
    );
    // An offer with an error tag is remembered for the failure report.
    let error = pado(
        host(1),
        vec![
            Tag::ServiceName(b""),
            Tag::AcName(b"wanted-ac"),
            Tag::HostUniq(&uniq),
            Tag::AcSystemError(b"busy"),
        ],
    );
    assert_eq!(
        client.handle_frame(now, &error),
        ClientHandled::Ignored(Ignored::UnacceptableOffer)
    );
    assert_eq!(client.state(), ClientState::Discovering);
    // Garbage.
    assert!(matches!(
        client.handle_frame(now, &[0u8; 5]),
        ClientHandled::Ignored(Ignored::Malformed(_))
    ));
    // The right one.
    let good = pado(
        host(1),
        vec![
            Tag::ServiceName(b""),
            Tag::AcName(b"wanted-ac"),
            Tag::HostUniq(&uniq),
        ],
    );
    assert_eq!(client.handle_frame(now, &good), ClientHandled::Discovery);
    assert_eq!(client.state(), ClientState::Requesting);

    // Gives up eventually with the error text it saw.
    let mut client = PppoeClient::new(client_config(host(1), 1));
    client.connect(now).unwrap();
    let error = pado(
        host(1),
        vec![
            Tag::ServiceName(b""),
            Tag::HostUniq(&uniq),
            Tag::AcSystemError(b"busy"),
        ],
    );
    client.handle_frame(now, &error);
    while let Some(t) = client.poll_timeout() {
        client.handle_timeout(t);
    }
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Failed(ClientFailure::NoOffer {
            last_error: Some("busy".into())
        }))
    );
}
