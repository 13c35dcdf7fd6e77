//! The PPP engine against a hand-written peer with driven time: every LCP option outcome,
//! PAP and CHAP in both roles, IPCP, keepalive, timers, termination, Protocol-Reject and bad input.

mod ppp_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use l2tpagg::ppp::{
    AuthProtocol, AuthVerdict, ClientConfig, Credentials, DownCause, Event, FrameDisposition,
    IpcpClientConfig, LcpConfig, LinkConfig, NetworkInfo, Phase, ServerConfig, State,
    chap_md5_response,
};
use ppp_support::*;

const PEER_MAGIC: u32 = 0x5eed_0001;

/// Our request, acknowledged by the peer, then the peer's request; returns what the link sent in
/// answer to the peer's request.
fn open_lcp(d: &mut Driven, peer_opts: &[u8]) -> Vec<Sent> {
    let req = d
        .sent()
        .into_iter()
        .find(|s| s.proto == LCP && s.code == CONF_REQ)
        .expect("a Configure-Request");
    d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
    d.feed(&frame(LCP, CONF_REQ, 0x40, peer_opts));
    d.sent()
}

fn server(protocols: Vec<AuthProtocol>) -> Driven {
    Driven::new(server_cfg(protocols))
}

fn accept(d: &mut Driven) {
    d.link
        .answer_auth(
            d.now,
            AuthVerdict::Accept {
                message: "welcome".into(),
                network: assignment(),
            },
        )
        .expect("a verdict was awaited");
}

fn pap_request(id: u8, name: &[u8], pw: &[u8]) -> Vec<u8> {
    let mut data = vec![name.len() as u8];
    data.extend_from_slice(name);
    data.push(pw.len() as u8);
    data.extend_from_slice(pw);
    frame(PAP, 1, id, &data)
}

fn chap_response(id: u8, value: &[u8], name: &[u8]) -> Vec<u8> {
    let mut data = vec![value.len() as u8];
    data.extend_from_slice(value);
    data.extend_from_slice(name);
    frame(CHAP, 2, id, &data)
}

/// A server link with LCP open and PAP negotiated, the peer's PAP request answered with Accept,
/// and IPCP open with the default assignment.
fn server_network_up() -> Driven {
    let mut d = server(vec![AuthProtocol::Pap]);
    open_lcp(&mut d, &magic_opt(PEER_MAGIC));
    d.feed(&pap_request(1, b"alice", b"pw"));
    accept(&mut d);
    let ipcp_req = d
        .sent()
        .into_iter()
        .find(|s| s.proto == IPCP && s.code == CONF_REQ)
        .unwrap();
    d.feed(&frame(IPCP, CONF_ACK, ipcp_req.id, &ipcp_req.data));
    d.feed(&frame(IPCP, CONF_REQ, 1, &addr_opt(3, PEER)));
    d.sent();
    assert!(d.link.is_network_up());
    d.events();
    d
}

// ----- LCP: the peer's options, as answered by us -----

/// Sends one Configure-Request with `opts` to a fresh link in Req-Sent and returns our answer.
fn answer_to(cfg: LinkConfig, opts: &[u8]) -> Sent {
    let mut d = Driven::new(cfg);
    d.sent();
    d.feed(&frame(LCP, CONF_REQ, 9, opts));
    let mut out = d.sent();
    assert_eq!(out.len(), 1, "exactly one answer: {out:?}");
    let s = out.remove(0);
    assert_eq!((s.proto, s.id), (LCP, 9));
    s
}

fn l2tp_server() -> LinkConfig {
    server_cfg(vec![AuthProtocol::ChapMd5])
}

fn pppoe_server() -> LinkConfig {
    LinkConfig {
        lcp: LcpConfig::for_pppoe(),
        ..server_cfg(vec![AuthProtocol::ChapMd5])
    }
}

#[test]
fn peer_mru_ack_nak_reject() {
    let ok = opt(1, &1492u16.to_be_bytes());
    assert_eq!(
        answer_to(l2tp_server(), &ok),
        Sent {
            proto: LCP,
            code: CONF_ACK,
            id: 9,
            data: ok.clone()
        }
    );
    let tiny = opt(1, &100u16.to_be_bytes());
    assert_eq!(answer_to(l2tp_server(), &tiny).code, CONF_NAK);
    assert_eq!(
        answer_to(l2tp_server(), &tiny).data,
        opt(1, &576u16.to_be_bytes())
    );
    // RFC 2516 §7: no MRU above 1492 on PPPoE.
    let big = opt(1, &1500u16.to_be_bytes());
    let s = answer_to(pppoe_server(), &big);
    assert_eq!((s.code, s.data), (CONF_NAK, opt(1, &1492u16.to_be_bytes())));
    let malformed = opt(1, &[5]);
    let s = answer_to(l2tp_server(), &malformed);
    assert_eq!((s.code, s.data), (CONF_REJ, malformed));
}

#[test]
fn peer_accm_pfc_acfc_acked_on_l2tp_rejected_on_pppoe() {
    let accm = opt(2, &[0, 0, 0, 0]);
    let pfc = opt(7, &[]);
    let acfc = opt(8, &[]);
    for o in [&accm, &pfc, &acfc] {
        assert_eq!(answer_to(l2tp_server(), o).code, CONF_ACK, "{o:?} on L2TP");
        let s = answer_to(pppoe_server(), o);
        assert_eq!((s.code, &s.data), (CONF_REJ, o), "{o:?} on PPPoE");
    }
}

#[test]
fn peer_magic_ack_and_collision_nak() {
    let m = magic_opt(PEER_MAGIC);
    assert_eq!(answer_to(l2tp_server(), &m).code, CONF_ACK);
    // Echo our own magic back: RFC 1661 §6.4 demands a Nak with a different value.
    let mut d = Driven::new(l2tp_server());
    let ours = d.sent().remove(0).data;
    let our_magic = ours[ours.len() - 6..].to_vec();
    d.feed(&frame(LCP, CONF_REQ, 4, &our_magic));
    let s = d.sent().remove(0);
    assert_eq!(s.code, CONF_NAK);
    assert_eq!(s.data[..2], [5, 6]);
    assert_ne!(s.data, our_magic);
}

#[test]
fn peer_auth_protocol_outcomes() {
    // A server does not authenticate itself: rejected.
    let chap = opt(3, &[0xc2, 0x23, 5]);
    assert_eq!(answer_to(l2tp_server(), &chap).code, CONF_REJ);
    // A client acks what it can do, naks what it cannot, rejects when it has no way at all.
    let client = client_cfg("alice", "secret");
    assert_eq!(answer_to(client.clone(), &chap).code, CONF_ACK);
    assert_eq!(
        answer_to(client.clone(), &opt(3, &[0xc0, 0x23])).code,
        CONF_ACK
    );
    let mschap2 = opt(3, &[0xc2, 0x23, 0x81]);
    let s = answer_to(client.clone(), &mschap2);
    assert_eq!((s.code, s.data), (CONF_NAK, chap.clone()));
    let eap = opt(3, &[0xc2, 0x27]);
    assert_eq!(answer_to(client, &eap).code, CONF_NAK);
    let mut none = client_cfg("alice", "secret");
    if let l2tpagg::ppp::RoleConfig::Client(c) = &mut none.role {
        c.allow_pap = false;
        c.allow_chap = false;
    }
    assert_eq!(answer_to(none, &chap).code, CONF_REJ);
}

#[test]
fn peer_quality_and_unknown_options_rejected_alone() {
    let lqr = opt(4, &[0xc0, 0x25, 0, 0, 0, 10]);
    let callback = opt(13, &[6]);
    let mrru = opt(17, &[5, 0xdc]);
    let ok = opt(1, &1400u16.to_be_bytes());
    let s = answer_to(l2tp_server(), &cat(&[&ok, &lqr, &callback, &mrru]));
    // RFC 1661 §5.4: only the rejected options, unmodified and in order.
    assert_eq!((s.code, s.data), (CONF_REJ, cat(&[&lqr, &callback, &mrru])));
}

#[test]
fn reject_takes_precedence_over_nak() {
    let tiny = opt(1, &100u16.to_be_bytes());
    let lqr = opt(4, &[0xc0, 0x25]);
    let s = answer_to(l2tp_server(), &cat(&[&tiny, &lqr]));
    assert_eq!((s.code, s.data), (CONF_REJ, lqr));
}

// ----- LCP: our options, as answered by the peer -----

#[test]
fn our_mru_acked_naked_rejected() {
    // PPPoE requests MRU 1492.
    let mut d = Driven::new(pppoe_server());
    let req = d.sent().remove(0);
    assert_eq!(req.data[..4], opt(1, &1492u16.to_be_bytes())[..]);
    // Nak with 1400: the next request carries 1400 and a new identifier.
    d.feed(&frame(
        LCP,
        CONF_NAK,
        req.id,
        &opt(1, &1400u16.to_be_bytes()),
    ));
    let req2 = d.sent().remove(0);
    assert_eq!(req2.code, CONF_REQ);
    assert_ne!(req2.id, req.id);
    assert_eq!(req2.data[..4], opt(1, &1400u16.to_be_bytes())[..]);
    // Reject: MRU dropped from the request.
    d.feed(&frame(LCP, CONF_REJ, req2.id, &req2.data[..4]));
    let req3 = d.sent().remove(0);
    assert_ne!(req3.data[0], 1);
    // Ack: the negotiated MRU is the default.
    d.feed(&frame(LCP, CONF_ACK, req3.id, &req3.data));
    d.feed(&frame(LCP, CONF_REQ, 1, &[]));
    assert_eq!(d.link.lcp_negotiated().unwrap().mru, 1500);

    let mut d = Driven::new(pppoe_server());
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
    d.feed(&frame(LCP, CONF_REQ, 1, &opt(1, &1492u16.to_be_bytes())));
    let n = d.link.lcp_negotiated().unwrap();
    assert_eq!((n.mru, n.peer_mru), (1492, 1492));
}

#[test]
fn our_auth_acked_naked_rejected() {
    // Acked: CHAP is used, a Challenge follows LCP.
    let mut d = server(vec![AuthProtocol::ChapMd5, AuthProtocol::Pap]);
    let after = open_lcp(&mut d, &[]);
    assert!(
        after.iter().any(|s| s.proto == CHAP && s.code == 1),
        "{after:?}"
    );
    assert_eq!(
        d.link.lcp_negotiated().unwrap().auth,
        Some(AuthProtocol::ChapMd5)
    );

    // Naked with PAP: the next request asks for PAP.
    let mut d = server(vec![AuthProtocol::ChapMd5, AuthProtocol::Pap]);
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_NAK, req.id, &opt(3, &[0xc0, 0x23])));
    let req2 = d.sent().remove(0);
    assert_eq!(req2.data[..4], opt(3, &[0xc0, 0x23])[..]);

    // Naked with something we do not allow and nothing left: the link is closed.
    let mut d = server(vec![AuthProtocol::ChapMd5]);
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_NAK, req.id, &opt(3, &[0xc2, 0x27])));
    let out = d.sent();
    assert!(out.iter().any(|s| s.code == TERM_REQ), "{out:?}");
    d.advance(Duration::from_secs(10));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::AuthRefused))
    );

    // Rejected: the peer will not authenticate at all.
    let mut d = server(vec![AuthProtocol::ChapMd5]);
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_REJ, req.id, &req.data[..5]));
    assert!(d.sent().iter().any(|s| s.code == TERM_REQ));
    let term = frame(LCP, TERM_ACK, 0, &[]);
    d.feed(&term);
    assert_eq!(d.events(), vec![Event::LinkDown(DownCause::AuthRefused)]);
    assert_eq!(d.link.phase(), Phase::Dead);
}

#[test]
fn our_magic_acked_naked_rejected() {
    let mut d = server(vec![]);
    let req = d.sent().remove(0);
    assert_eq!(
        req.data[..2],
        [5, 6],
        "magic-only request without authentication"
    );
    d.feed(&frame(LCP, CONF_NAK, req.id, &magic_opt(7)));
    let req2 = d.sent().remove(0);
    assert_eq!(req2.data[..2], [5, 6]);
    assert_ne!(req2.data, req.data, "a new Magic-Number after a Nak");
    d.feed(&frame(LCP, CONF_REJ, req2.id, &req2.data));
    let req3 = d.sent().remove(0);
    assert!(
        req3.data.is_empty(),
        "magic dropped after a Reject: {req3:?}"
    );
    d.feed(&frame(LCP, CONF_ACK, req3.id, &[]));
    d.feed(&frame(LCP, CONF_REQ, 1, &magic_opt(PEER_MAGIC)));
    let n = d.link.lcp_negotiated().unwrap();
    assert_eq!((n.magic, n.peer_magic), (0, PEER_MAGIC));
}

#[test]
fn our_pfc_acfc_acked_or_rejected() {
    let mut cfg = server_cfg(vec![AuthProtocol::Pap]);
    cfg.lcp.request_pfc = true;
    cfg.lcp.request_acfc = true;
    let mut d = Driven::new(cfg.clone());
    let req = d.sent().remove(0);
    assert!(req.data.ends_with(&[7, 2, 8, 2]));
    d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
    d.feed(&frame(LCP, CONF_REQ, 1, &[]));
    assert!(d.link.accepts_compressed_protocol());
    let n = d.link.lcp_negotiated().unwrap();
    assert!(n.accepts_pfc && n.accepts_acfc);

    let mut d = Driven::new(cfg);
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_REJ, req.id, &[7, 2, 8, 2]));
    let req2 = d.sent().remove(0);
    assert!(!req2.data.ends_with(&[8, 2]));
    d.feed(&frame(LCP, CONF_ACK, req2.id, &req2.data));
    d.feed(&frame(LCP, CONF_REQ, 1, &[]));
    assert!(!d.link.accepts_compressed_protocol());
}

#[test]
fn ack_must_match_our_request_exactly() {
    let mut d = server(vec![AuthProtocol::Pap]);
    let req = d.sent().remove(0);
    let mut altered = req.data.clone();
    *altered.last_mut().unwrap() ^= 1;
    d.feed(&frame(LCP, CONF_ACK, req.id, &altered));
    d.feed(&frame(LCP, CONF_ACK, req.id.wrapping_add(1), &req.data));
    assert_eq!(d.link.lcp_state(), State::ReqSent);
    assert_eq!(d.link.counters().discarded, 2);
    d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
    assert_eq!(d.link.lcp_state(), State::AckRcvd);
}

// ----- timers -----

#[test]
fn restart_timer_and_max_configure_expiry() {
    let mut d = server(vec![AuthProtocol::Pap]);
    let start = d.now;
    let first = d.sent();
    assert_eq!(first.len(), 1);
    let mut times = vec![Duration::ZERO];
    while d.step().is_some() {
        for s in d.sent() {
            assert_eq!(
                (s.code, s.id),
                (CONF_REQ, first[0].id),
                "retransmissions keep the identifier"
            );
            times.push(d.now - start);
        }
    }
    // RFC 1661 §4.6 defaults: 10 transmissions three seconds apart, then TO- after the last.
    assert_eq!(
        times,
        (0..10)
            .map(|i| Duration::from_secs(3 * i))
            .collect::<Vec<_>>()
    );
    assert_eq!(d.now - start, Duration::from_secs(30));
    assert_eq!(
        d.events(),
        vec![Event::LinkDown(DownCause::NegotiationTimeout {
            protocol: LCP
        })]
    );
    assert_eq!(d.link.phase(), Phase::Dead);
    assert_eq!(d.link.poll_timeout(), None);
}

#[test]
fn restart_timer_is_configurable() {
    let mut cfg = server_cfg(vec![]);
    cfg.lcp.negotiation.restart_interval = Duration::from_millis(500);
    cfg.lcp.negotiation.max_configure = 3;
    let mut d = Driven::new(cfg);
    d.sent();
    d.advance(Duration::from_millis(1499));
    assert_eq!(d.sent().len(), 2);
    d.advance(Duration::from_millis(1));
    assert_eq!(
        d.events(),
        vec![Event::LinkDown(DownCause::NegotiationTimeout {
            protocol: LCP
        })]
    );
}

#[test]
fn echo_keepalive_answered_keeps_the_link() {
    let mut d = server_network_up();
    for _ in 0..10 {
        d.advance(Duration::from_secs(30));
        let echo = d
            .sent()
            .into_iter()
            .find(|s| s.code == ECHO_REQ)
            .expect("an Echo-Request every 30 s");
        d.feed(&frame(LCP, ECHO_REP, echo.id, &PEER_MAGIC.to_be_bytes()));
    }
    assert!(d.link.is_network_up());
    assert_eq!(d.link.counters().echo_replies_received, 10);
}

#[test]
fn echo_failure_timeout_closes_the_link() {
    let mut d = server_network_up();
    let up_at = d.now;
    let mut echoes = 0;
    let mut terminates = 0;
    while d.step().is_some() {
        for s in d.sent() {
            match s.code {
                ECHO_REQ => {
                    echoes += 1;
                    let magic = d.link.lcp_negotiated().map(|n| n.magic).unwrap_or(0);
                    assert_eq!(s.data[..4], magic.to_be_bytes());
                }
                TERM_REQ => terminates += 1,
                other => panic!("unexpected code {other}"),
            }
        }
    }
    assert_eq!(echoes, LcpConfig::DEFAULT_ECHO_FAILURE_LIMIT);
    assert_eq!(terminates, 2, "Max-Terminate Terminate-Requests");
    assert_eq!(
        d.events(),
        vec![Event::NetworkDown, Event::LinkDown(DownCause::EchoTimeout)]
    );
    // Four unanswered echoes 30 s apart, the fifth tick closes, then two restart periods.
    assert_eq!(d.now - up_at, Duration::from_secs(150 + 6));
}

#[test]
fn echo_request_answered_with_our_magic_and_loops_ignored() {
    let mut d = server_network_up();
    let ours = d.link.lcp_negotiated().unwrap().magic;
    d.feed(&frame(
        LCP,
        ECHO_REQ,
        33,
        &cat(&[&PEER_MAGIC.to_be_bytes(), b"ping"]),
    ));
    let reply = d.sent().remove(0);
    assert_eq!((reply.code, reply.id), (ECHO_REP, 33));
    assert_eq!(reply.data, cat(&[&ours.to_be_bytes(), b"ping"]));
    // Our own magic coming back: looped, not answered.
    d.feed(&frame(LCP, ECHO_REQ, 34, &ours.to_be_bytes()));
    assert!(d.sent().is_empty());
    // Truncated echo: malformed.
    let before = d.link.counters().malformed;
    d.feed(&frame(LCP, ECHO_REQ, 35, &[1, 2]));
    assert!(d.sent().is_empty());
    assert_eq!(d.link.counters().malformed, before + 1);
}

#[test]
fn discard_request_and_identification_are_absorbed() {
    let mut d = server_network_up();
    d.feed(&frame(LCP, 11, 1, &PEER_MAGIC.to_be_bytes()));
    d.feed(&frame(
        LCP,
        12,
        2,
        &cat(&[&PEER_MAGIC.to_be_bytes(), b"MSRASV5.20"]),
    ));
    assert!(d.sent().is_empty());
    assert!(d.link.is_network_up());
}

// ----- termination -----

#[test]
fn local_close_sends_terminate_and_waits_for_ack() {
    let mut d = server_network_up();
    d.link.close(d.now, "admin reset");
    let term = d.sent().remove(0);
    assert_eq!((term.proto, term.code), (LCP, TERM_REQ));
    assert!(String::from_utf8_lossy(&term.data).contains("admin reset"));
    assert_eq!(d.link.phase(), Phase::Terminate);
    assert_eq!(d.events(), vec![Event::NetworkDown]);
    d.feed(&frame(LCP, TERM_ACK, term.id, &[]));
    assert_eq!(
        d.events(),
        vec![Event::LinkDown(DownCause::LocalClose("admin reset".into()))]
    );
    assert_eq!(d.link.phase(), Phase::Dead);
    // Dead links ignore everything.
    assert_eq!(
        d.link.handle_frame(d.now, &frame(LCP, CONF_REQ, 1, &[])),
        FrameDisposition::Dropped
    );
    assert!(d.sent().is_empty());
}

#[test]
fn peer_terminate_is_acked_and_finishes_after_one_restart_period() {
    let mut d = server_network_up();
    d.feed(&frame(LCP, TERM_REQ, 0x77, b"User request"));
    let ack = d.sent();
    assert_eq!(
        ack,
        vec![Sent {
            proto: LCP,
            code: TERM_ACK,
            id: 0x77,
            data: vec![]
        }]
    );
    assert_eq!(d.events(), vec![Event::NetworkDown]);
    assert_eq!(d.link.phase(), Phase::Terminate);
    // RFC 1661 §4.4 zrc: wait one Restart period so the Terminate-Ack gets through.
    d.advance(Duration::from_millis(2999));
    assert!(d.events().is_empty());
    d.advance(Duration::from_millis(1));
    assert_eq!(
        d.events(),
        vec![Event::LinkDown(DownCause::PeerTerminated(
            b"User request".to_vec()
        ))]
    );
    assert!(d.sent().is_empty());
}

#[test]
fn lower_down_ends_at_once_without_sending() {
    let mut d = server_network_up();
    d.link.lower_down(d.now);
    assert!(d.sent().is_empty());
    assert_eq!(
        d.events(),
        vec![
            Event::NetworkDown,
            Event::LinkDown(DownCause::LowerLayerDown)
        ]
    );
}

// ----- Protocol-Reject and Code-Reject -----

#[test]
fn unknown_protocols_are_protocol_rejected_only_when_open() {
    let mut d = server(vec![AuthProtocol::Pap]);
    // Before LCP is open: silently discarded.
    d.feed(&frame(0x8057, CONF_REQ, 1, &[]));
    assert_eq!(d.sent().len(), 1, "only our own Configure-Request");
    d.link.handle_timeout(d.now + Duration::from_secs(3));
    open_lcp(&mut d, &[]);
    let ipv6cp = frame(0x8057, CONF_REQ, 1, &opt(1, &[0; 8]));
    d.feed(&ipv6cp);
    let rej = d.sent().remove(0);
    assert_eq!((rej.proto, rej.code), (LCP, PROTO_REJ));
    assert_eq!(
        rej.data, ipv6cp,
        "rejected protocol then the rejected information"
    );
    let ccp = frame(0x80fd, CONF_REQ, 1, &[]);
    d.feed(&ccp);
    assert_eq!(d.sent()[0].data[..2], [0x80, 0xfd]);
    assert_eq!(d.link.counters().protocol_rejects_sent, 2);
}

#[test]
fn protocol_reject_is_truncated_to_the_peer_mru() {
    let mut d = server(vec![AuthProtocol::Pap]);
    open_lcp(&mut d, &opt(1, &600u16.to_be_bytes()));
    let big = cat(&[&[0x80, 0x57][..], &vec![0xab; 2000]]);
    d.feed(&big);
    let raw = d.sent_raw().remove(0);
    assert_eq!(
        raw.len() - 2,
        600,
        "the LCP packet fills the peer's MRU exactly"
    );
}

#[test]
fn protocol_reject_of_ipcp_closes_the_link() {
    let mut d = server_network_up();
    d.feed(&frame(LCP, PROTO_REJ, 1, &[0x80, 0x21, 1, 1, 0, 4]));
    d.advance(Duration::from_secs(20));
    let ev = d.events();
    assert_eq!(ev.first(), Some(&Event::NetworkDown));
    assert_eq!(
        ev.last(),
        Some(&Event::LinkDown(DownCause::ProtocolRejected {
            protocol: IPCP
        }))
    );
}

#[test]
fn protocol_reject_of_lcp_is_catastrophic() {
    let mut d = server_network_up();
    d.feed(&frame(LCP, PROTO_REJ, 1, &[0xc0, 0x21]));
    d.advance(Duration::from_secs(20));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::ProtocolRejected {
            protocol: LCP
        }))
    );
}

#[test]
fn unknown_lcp_code_is_code_rejected_and_echo_code_reject_stops_keepalive() {
    let mut d = server_network_up();
    let weird = frame(LCP, 99, 5, b"??");
    d.feed(&weird);
    let rej = d.sent().remove(0);
    assert_eq!((rej.code, rej.data), (CODE_REJ, weird[2..].to_vec()));
    // The peer does not do echo: keepalive stops, the link stays.
    d.feed(&frame(LCP, CODE_REJ, 1, &[ECHO_REQ, 1, 0, 8, 0, 0, 0, 0]));
    d.advance(Duration::from_secs(600));
    assert!(d.sent().iter().all(|s| s.code != ECHO_REQ));
    assert!(d.link.is_network_up());
}

// ----- PAP -----

#[test]
fn pap_server_success() {
    let mut d = server(vec![AuthProtocol::Pap]);
    let after = open_lcp(&mut d, &magic_opt(PEER_MAGIC));
    assert!(
        after.iter().all(|s| s.proto == LCP),
        "PAP: the authenticator waits"
    );
    assert!(matches!(d.events()[..], [Event::LinkUp(_)]));
    assert_eq!(d.link.phase(), Phase::Authenticate);
    d.feed(&pap_request(42, b"alice", b"pw"));
    let ev = d.events();
    let Event::AuthRequest(req) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(req.name, b"alice");
    assert_eq!(
        req.credentials,
        Credentials::Pap {
            password: b"pw".to_vec()
        }
    );
    assert!(req.verify_secret(b"pw") && !req.verify_secret(b"pW"));
    assert!(
        !format!("{req:?}").contains("\"pw\""),
        "Debug never shows the password"
    );
    assert!(d.link.awaiting_verdict());
    assert_eq!(
        d.link.auth_request().map(|r| r.name.as_slice()),
        Some(&b"alice"[..])
    );
    accept(&mut d);
    assert!(!d.link.awaiting_verdict());
    let out = d.sent();
    assert_eq!(
        out[0],
        Sent {
            proto: PAP,
            code: 2,
            id: 42,
            data: cat(&[&[7], b"welcome"])
        }
    );
    assert_eq!(out[1].proto, IPCP);
    assert_eq!(
        d.events(),
        vec![Event::Authenticated {
            protocol: Some(AuthProtocol::Pap),
            name: b"alice".to_vec(),
            message: vec![]
        }]
    );
    assert_eq!(d.link.phase(), Phase::Network);
    // The Ack was lost: a retransmitted request (new identifier) gets it again.
    d.feed(&pap_request(43, b"alice", b"pw"));
    assert_eq!(
        d.sent()[0],
        Sent {
            proto: PAP,
            code: 2,
            id: 43,
            data: cat(&[&[7], b"welcome"])
        }
    );
    assert!(d.events().is_empty());
}

#[test]
fn pap_server_failure_sends_nak_then_terminates() {
    let mut d = server(vec![AuthProtocol::Pap]);
    open_lcp(&mut d, &[]);
    d.feed(&pap_request(1, b"mallory", b"guess"));
    d.events();
    d.link
        .answer_auth(
            d.now,
            AuthVerdict::Reject {
                message: "bad password".into(),
            },
        )
        .unwrap();
    let out = d.sent();
    assert_eq!(
        out[0],
        Sent {
            proto: PAP,
            code: 3,
            id: 1,
            data: cat(&[&[12], b"bad password"])
        }
    );
    assert_eq!(out[1].code, TERM_REQ);
    d.feed(&frame(LCP, TERM_ACK, out[1].id, &[]));
    assert_eq!(d.events(), vec![Event::LinkDown(DownCause::AuthFailed)]);
    assert!(
        d.link
            .answer_auth(
                d.now,
                AuthVerdict::Reject {
                    message: String::new()
                }
            )
            .is_err()
    );
}

#[test]
fn pap_retransmission_while_verifying_is_answered_with_latest_id() {
    let mut d = server(vec![AuthProtocol::Pap]);
    open_lcp(&mut d, &[]);
    d.feed(&pap_request(1, b"alice", b"pw"));
    d.feed(&pap_request(2, b"alice", b"pw"));
    d.feed(&pap_request(3, b"eve", b"other"));
    let ev = d.events();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::AuthRequest(_)))
            .count(),
        1
    );
    accept(&mut d);
    assert_eq!(d.sent()[0].id, 2);
}

#[test]
fn pap_client_success_and_failure() {
    let mut cfg = client_cfg("bob", "hunter2");
    if let l2tpagg::ppp::RoleConfig::Client(c) = &mut cfg.role {
        c.allow_chap = false;
    }
    for ok in [true, false] {
        let mut d = Driven::new(cfg.clone());
        let req = d.sent().remove(0);
        d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
        d.feed(&frame(
            LCP,
            CONF_REQ,
            1,
            &cat(&[&opt(3, &[0xc0, 0x23]), &magic_opt(PEER_MAGIC)]),
        ));
        let out = d.sent();
        assert_eq!(out[0].code, CONF_ACK);
        let pap = out[1].clone();
        assert_eq!((pap.proto, pap.code), (PAP, 1));
        assert_eq!(pap.data, cat(&[&[3], b"bob", &[7], b"hunter2"]));
        // No answer: retransmitted with a new identifier (RFC 1334 §2.2.1).
        d.advance(Duration::from_secs(3));
        let again = d.sent().remove(0);
        assert_eq!(again.id, pap.id.wrapping_add(1));
        // An answer to the old identifier is ignored.
        d.feed(&frame(PAP, 2, pap.id, &[0]));
        assert!(
            !d.events()
                .iter()
                .any(|e| matches!(e, Event::Authenticated { .. }))
        );
        let code = if ok { 2 } else { 3 };
        d.feed(&frame(PAP, code, again.id, &cat(&[&[2], b"hi"])));
        if ok {
            assert!(d.events().contains(&Event::Authenticated {
                protocol: Some(AuthProtocol::Pap),
                name: b"bob".to_vec(),
                message: b"hi".to_vec()
            }));
            assert_eq!(d.sent()[0].proto, IPCP);
        } else {
            assert_eq!(d.sent()[0].code, TERM_REQ);
            d.advance(Duration::from_secs(10));
            assert_eq!(
                d.events().last(),
                Some(&Event::LinkDown(DownCause::AuthFailed))
            );
        }
    }
}

#[test]
fn pap_client_gives_up_after_max_configure() {
    let mut cfg = client_cfg("bob", "pw");
    cfg.auth_timeout = Duration::from_secs(600);
    let mut d = Driven::new(cfg);
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
    d.feed(&frame(LCP, CONF_REQ, 1, &opt(3, &[0xc0, 0x23])));
    d.advance(Duration::from_secs(40));
    let paps = d.sent().iter().filter(|s| s.proto == PAP).count();
    assert_eq!(paps, 10);
    d.advance(Duration::from_secs(10));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::AuthTimeout))
    );
}

// ----- CHAP -----

fn chap_server() -> (Driven, Sent) {
    let mut d = server(vec![AuthProtocol::ChapMd5]);
    let after = open_lcp(&mut d, &magic_opt(PEER_MAGIC));
    let challenge = after
        .into_iter()
        .find(|s| s.proto == CHAP)
        .expect("a Challenge");
    assert_eq!(challenge.code, 1);
    assert!(matches!(d.events()[..], [Event::LinkUp(_)]));
    (d, challenge)
}

fn challenge_value(s: &Sent) -> Vec<u8> {
    let n = usize::from(s.data[0]);
    s.data[1..1 + n].to_vec()
}

#[test]
fn chap_server_success() {
    let (mut d, ch) = chap_server();
    let value = challenge_value(&ch);
    assert_eq!(value.len(), 16);
    assert_eq!(&ch.data[17..], b"lns", "our name follows the value");
    let response = chap_md5_response(ch.id, b"s3cret", &value);
    d.feed(&chap_response(ch.id, &response, b"carol"));
    let ev = d.events();
    let Event::AuthRequest(req) = ev.last().unwrap() else {
        panic!("{ev:?}")
    };
    assert_eq!(req.name, b"carol");
    assert_eq!(
        req.credentials,
        Credentials::ChapMd5 {
            id: ch.id,
            challenge: value.clone(),
            response: response.to_vec()
        }
    );
    assert!(req.verify_secret(b"s3cret"));
    assert!(!req.verify_secret(b"wrong"));
    accept(&mut d);
    let out = d.sent();
    assert_eq!(
        out[0],
        Sent {
            proto: CHAP,
            code: 3,
            id: ch.id,
            data: b"welcome".to_vec()
        }
    );
    // RFC 1994 §4.1: a repeated Response with the current identifier gets the same Success.
    d.feed(&chap_response(ch.id, &response, b"carol"));
    assert_eq!(d.sent()[0].code, 3);
}

#[test]
fn chap_server_failure() {
    let (mut d, ch) = chap_server();
    d.feed(&chap_response(ch.id, &[0; 16], b"carol"));
    d.events();
    d.link
        .answer_auth(
            d.now,
            AuthVerdict::Reject {
                message: "E=691".into(),
            },
        )
        .unwrap();
    let out = d.sent();
    assert_eq!(
        out[0],
        Sent {
            proto: CHAP,
            code: 4,
            id: ch.id,
            data: b"E=691".to_vec()
        }
    );
    assert_eq!(out[1].code, TERM_REQ);
    // The link is terminating: RFC 1994 §4.1 discards Responses outside the Authenticate and
    // Network phases.
    d.feed(&chap_response(ch.id, &[0; 16], b"carol"));
    assert!(d.sent().is_empty());
    d.advance(Duration::from_secs(10));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::AuthFailed))
    );
}

#[test]
fn chap_response_for_another_identifier_is_ignored() {
    let (mut d, ch) = chap_server();
    let value = challenge_value(&ch);
    let wrong_id = ch.id.wrapping_add(100);
    d.feed(&chap_response(
        wrong_id,
        &chap_md5_response(wrong_id, b"s", &value),
        b"carol",
    ));
    assert!(d.events().is_empty());
    assert!(d.sent().is_empty());
    assert_eq!(d.link.counters().discarded, 1);
    // The right identifier still works.
    d.feed(&chap_response(
        ch.id,
        &chap_md5_response(ch.id, b"s", &value),
        b"carol",
    ));
    assert!(matches!(d.events()[..], [Event::AuthRequest(_)]));
}

#[test]
fn chap_challenge_retransmitted_with_new_id_and_value_then_times_out() {
    let (mut d, ch) = chap_server();
    d.advance(Duration::from_secs(3));
    let ch2 = d.sent().into_iter().find(|s| s.proto == CHAP).unwrap();
    // RFC 1994 §4.1: Identifier and Value change with every Challenge sent.
    assert_ne!(ch2.id, ch.id);
    assert_ne!(challenge_value(&ch2), challenge_value(&ch));
    // A late answer to the first Challenge is for another identifier now.
    d.feed(&chap_response(ch.id, &[0; 16], b"carol"));
    assert!(d.events().is_empty());
    d.advance(Duration::from_secs(60));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::AuthTimeout))
    );
}

#[test]
fn chap_client_answers_and_follows_the_verdict() {
    for ok in [true, false] {
        let mut d = Driven::new(client_cfg("dave", "pa55"));
        let req = d.sent().remove(0);
        d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
        d.feed(&frame(LCP, CONF_REQ, 1, &opt(3, &[0xc2, 0x23, 5])));
        d.sent();
        let challenge = [9u8; 8];
        let mut data = vec![8];
        data.extend_from_slice(&challenge);
        data.extend_from_slice(b"lns");
        d.feed(&frame(CHAP, 1, 0x31, &data));
        let resp = d.sent().remove(0);
        assert_eq!((resp.proto, resp.code, resp.id), (CHAP, 2, 0x31));
        assert_eq!(resp.data[0], 16);
        assert_eq!(
            resp.data[1..17],
            chap_md5_response(0x31, b"pa55", &challenge)
        );
        assert_eq!(&resp.data[17..], b"dave");
        // A verdict for another identifier is ignored.
        d.feed(&frame(CHAP, 3, 0x30, b""));
        assert!(
            !d.events()
                .iter()
                .any(|e| matches!(e, Event::Authenticated { .. }))
        );
        d.feed(&frame(CHAP, if ok { 3 } else { 4 }, 0x31, b"msg"));
        let ev = d.events();
        if ok {
            assert!(ev.iter().any(|e| matches!(e, Event::Authenticated { .. })));
            assert_eq!(d.link.phase(), Phase::Network);
        } else {
            assert_eq!(d.link.phase(), Phase::Terminate);
        }
    }
}

#[test]
fn chap_client_repeats_its_response_when_the_verdict_is_lost() {
    let mut d = Driven::new(client_cfg("dave", "pa55"));
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
    d.feed(&frame(LCP, CONF_REQ, 1, &opt(3, &[0xc2, 0x23, 5])));
    d.sent();
    d.feed(&frame(CHAP, 1, 7, &[1, 0xaa]));
    let first = d.sent().remove(0);
    // The Success is lost: the same Response goes out again after the Restart timer, which the
    // authenticator must answer with the same code (RFC 1994 §4.1).
    d.advance(Duration::from_secs(3));
    assert_eq!(d.sent(), vec![first.clone()]);
    d.feed(&frame(CHAP, 3, 7, b""));
    assert_eq!(d.link.phase(), Phase::Network);
    d.advance(Duration::from_secs(3));
    assert!(
        d.sent().iter().all(|s| s.proto != CHAP),
        "no more Responses once the verdict came"
    );
}

#[test]
fn auth_deadline_covers_a_silent_application() {
    let mut d = server(vec![AuthProtocol::Pap]);
    open_lcp(&mut d, &[]);
    d.feed(&pap_request(1, b"alice", b"pw"));
    d.advance(Duration::from_secs(31));
    assert!(d.sent().iter().any(|s| s.code == TERM_REQ));
    d.advance(Duration::from_secs(10));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::AuthTimeout))
    );
}

#[test]
fn server_without_auth_still_asks_the_application() {
    let mut d = server(vec![]);
    open_lcp(&mut d, &[]);
    let ev = d.events();
    let Event::AuthRequest(req) = &ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!((req.protocol, &req.credentials), (None, &Credentials::None));
    accept(&mut d);
    assert_eq!(d.link.phase(), Phase::Network);
}

// ----- IPCP -----

fn server_in_network() -> (Driven, Sent) {
    let mut d = server(vec![AuthProtocol::Pap]);
    open_lcp(&mut d, &[]);
    d.feed(&pap_request(1, b"alice", b"pw"));
    accept(&mut d);
    let ipcp = d.sent().into_iter().find(|s| s.proto == IPCP).unwrap();
    assert_eq!((ipcp.code, &ipcp.data), (CONF_REQ, &addr_opt(3, LOCAL)));
    d.events();
    (d, ipcp)
}

#[test]
fn ipcp_server_assigns_address_and_dns_by_nak() {
    let (mut d, ours) = server_in_network();
    let zero = Ipv4Addr::UNSPECIFIED;
    d.feed(&frame(
        IPCP,
        CONF_REQ,
        1,
        &cat(&[
            &addr_opt(3, zero),
            &addr_opt(129, zero),
            &addr_opt(131, zero),
        ]),
    ));
    let nak = d.sent().remove(0);
    let wanted = cat(&[
        &addr_opt(3, PEER),
        &addr_opt(129, DNS1),
        &addr_opt(131, DNS2),
    ]);
    assert_eq!((nak.code, nak.id, &nak.data), (CONF_NAK, 1, &wanted));
    d.feed(&frame(IPCP, CONF_REQ, 2, &wanted));
    assert_eq!(d.sent()[0].code, CONF_ACK);
    assert!(
        d.events().is_empty(),
        "not up before our own request is acknowledged"
    );
    d.feed(&frame(IPCP, CONF_ACK, ours.id, &ours.data));
    let expected = NetworkInfo {
        local: LOCAL,
        peer: Some(PEER),
        primary_dns: Some(DNS1),
        secondary_dns: Some(DNS2),
    };
    assert_eq!(d.events(), vec![Event::NetworkUp(expected)]);
    assert_eq!(d.link.network(), Some(expected));
    // IPv4 now flows to the caller, with or without FF 03.
    let ip = [0x00, 0x21, 0x45, 0x00];
    assert_eq!(
        d.link.handle_frame(d.now, &ip),
        FrameDisposition::Data {
            protocol: 0x21,
            payload: &[0x45, 0x00]
        }
    );
    let hdlc = [0xff, 0x03, 0x00, 0x21, 0x45];
    assert_eq!(
        d.link.handle_frame(d.now, &hdlc),
        FrameDisposition::Data {
            protocol: 0x21,
            payload: &[0x45]
        }
    );
}

#[test]
fn ipcp_server_naks_a_wrong_address_and_appends_a_missing_one() {
    let (mut d, _) = server_in_network();
    d.feed(&frame(
        IPCP,
        CONF_REQ,
        1,
        &addr_opt(3, Ipv4Addr::new(1, 2, 3, 4)),
    ));
    assert_eq!(d.sent()[0].data, addr_opt(3, PEER));
    d.feed(&frame(IPCP, CONF_REQ, 2, &[]));
    let nak = d.sent().remove(0);
    assert_eq!(
        (nak.code, nak.data),
        (CONF_NAK, addr_opt(3, PEER)),
        "RFC 1332 §3.3 appended option"
    );
    // Compression and NBNS (not offered) are rejected.
    let vj = opt(2, &[0, 0x2d, 15, 1]);
    d.feed(&frame(
        IPCP,
        CONF_REQ,
        3,
        &cat(&[
            &addr_opt(3, PEER),
            &vj,
            &addr_opt(130, Ipv4Addr::UNSPECIFIED),
        ]),
    ));
    let rej = d.sent().remove(0);
    assert_eq!(
        (rej.code, rej.data),
        (CONF_REJ, cat(&[&vj, &addr_opt(130, Ipv4Addr::UNSPECIFIED)]))
    );
}

#[test]
fn ipcp_before_network_phase_is_discarded_and_data_too() {
    let mut d = server(vec![AuthProtocol::Pap]);
    open_lcp(&mut d, &[]);
    d.feed(&frame(IPCP, CONF_REQ, 1, &addr_opt(3, PEER)));
    assert!(
        d.sent().is_empty(),
        "RFC 1332 §2: silently discarded before the Network phase"
    );
    assert_eq!(
        d.link.handle_frame(d.now, &[0x00, 0x21, 0x45]),
        FrameDisposition::Dropped
    );
}

fn client_in_network(ipcp: IpcpClientConfig) -> (Driven, Sent) {
    let mut cfg = client_cfg("erin", "pw");
    if let l2tpagg::ppp::RoleConfig::Client(c) = &mut cfg.role {
        c.ipcp = ipcp;
    }
    let mut d = Driven::new(cfg);
    let req = d.sent().remove(0);
    d.feed(&frame(LCP, CONF_ACK, req.id, &req.data));
    d.feed(&frame(LCP, CONF_REQ, 1, &[]));
    let ipcp_req = d
        .sent()
        .into_iter()
        .find(|s| s.proto == IPCP)
        .expect("no auth: IPCP at once");
    (d, ipcp_req)
}

#[test]
fn ipcp_client_requests_zero_and_dns_and_adopts_naks() {
    let (mut d, req) = client_in_network(IpcpClientConfig::default());
    let zero = Ipv4Addr::UNSPECIFIED;
    assert_eq!(
        req.data,
        cat(&[
            &addr_opt(3, zero),
            &addr_opt(129, zero),
            &addr_opt(131, zero)
        ])
    );
    let nak = cat(&[
        &addr_opt(3, PEER),
        &addr_opt(129, DNS1),
        &addr_opt(131, DNS2),
    ]);
    d.feed(&frame(IPCP, CONF_NAK, req.id, &nak));
    let req2 = d.sent().remove(0);
    assert_eq!(req2.data, nak);
    d.feed(&frame(IPCP, CONF_ACK, req2.id, &req2.data));
    d.feed(&frame(IPCP, CONF_REQ, 7, &addr_opt(3, LOCAL)));
    assert_eq!(d.sent()[0].code, CONF_ACK);
    let ev = d.events();
    let expected = NetworkInfo {
        local: PEER,
        peer: Some(LOCAL),
        primary_dns: Some(DNS1),
        secondary_dns: Some(DNS2),
    };
    assert_eq!(ev.last(), Some(&Event::NetworkUp(expected)));
}

#[test]
fn ipcp_client_with_requested_address_and_dns_rejected() {
    let wanted = Ipv4Addr::new(100, 64, 9, 9);
    let (mut d, req) = client_in_network(IpcpClientConfig {
        requested_address: Some(wanted),
        request_dns: true,
    });
    assert_eq!(req.data[..6], addr_opt(3, wanted)[..]);
    d.feed(&frame(IPCP, CONF_REJ, req.id, &req.data[6..]));
    let req2 = d.sent().remove(0);
    assert_eq!(req2.data, addr_opt(3, wanted));
    d.feed(&frame(IPCP, CONF_ACK, req2.id, &req2.data));
    d.feed(&frame(IPCP, CONF_REQ, 1, &[]));
    let ev = d.events();
    let Some(Event::NetworkUp(n)) = ev.last() else {
        panic!("{ev:?}")
    };
    assert_eq!((n.local, n.peer, n.primary_dns), (wanted, None, None));
}

#[test]
fn ipcp_client_without_an_address_gives_up() {
    let (mut d, req) = client_in_network(IpcpClientConfig::default());
    d.feed(&frame(IPCP, CONF_REJ, req.id, &req.data[..6]));
    d.advance(Duration::from_secs(10));
    let ev = d.events();
    assert!(
        matches!(
            ev.last(),
            Some(Event::LinkDown(DownCause::NegotiationFailed {
                protocol: IPCP,
                ..
            }))
        ),
        "{ev:?}"
    );
}

#[test]
fn ipcp_max_configure_expiry_closes_the_link() {
    let (mut d, _) = server_in_network();
    d.advance(Duration::from_secs(29));
    assert_eq!(d.sent().iter().filter(|s| s.proto == IPCP).count(), 9);
    d.advance(Duration::from_secs(10));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::NegotiationTimeout {
            protocol: IPCP
        }))
    );
}

#[test]
fn ipcp_terminated_by_peer_closes_the_link() {
    let mut d = server_network_up();
    d.feed(&frame(IPCP, TERM_REQ, 5, b""));
    assert_eq!(
        d.sent()[0],
        Sent {
            proto: IPCP,
            code: TERM_ACK,
            id: 5,
            data: vec![]
        }
    );
    assert_eq!(d.events(), vec![Event::NetworkDown]);
    d.advance(Duration::from_secs(3));
    assert_eq!(d.sent()[0].code, TERM_REQ, "then LCP is closed");
    d.advance(Duration::from_secs(10));
    assert_eq!(
        d.events(),
        vec![Event::LinkDown(DownCause::NoNetworkProtocol)]
    );
}

// ----- renegotiation -----

#[test]
fn peer_configure_request_in_opened_renegotiates_everything() {
    let mut d = server_network_up();
    d.feed(&frame(LCP, CONF_REQ, 0x55, &magic_opt(PEER_MAGIC + 1)));
    let out = d.sent();
    assert_eq!(
        out.iter().map(|s| s.code).collect::<Vec<_>>(),
        vec![CONF_REQ, CONF_ACK]
    );
    assert_eq!(d.events(), vec![Event::NetworkDown]);
    assert_eq!(d.link.phase(), Phase::Establish);
    assert_eq!(d.link.ipcp_state(), None);
    d.feed(&frame(LCP, CONF_ACK, out[0].id, &out[0].data));
    assert!(matches!(d.events()[..], [Event::LinkUp(_)]));
    // Authentication again.
    d.feed(&pap_request(9, b"alice", b"pw"));
    assert!(matches!(d.events()[..], [Event::AuthRequest(_)]));
}

// ----- bad input -----

#[test]
fn garbage_and_truncated_lcp_change_nothing() {
    let mut d = server_network_up();
    let garbage: &[&[u8]] = &[
        &[],
        &[0xc0],
        &[0xc0, 0x21],
        &[0xc0, 0x21, 1, 2, 0],
        &[0xc0, 0x21, 1, 2, 0, 3],
        &[0xc0, 0x21, 1, 2, 0, 200, 1, 4],
        &[0xc0, 0x21, 1, 2, 0, 7, 1, 9, 5], // truncated option (Length past the end)
        &[0xc0, 0x21, 1, 2, 0, 6, 1, 0],    // option Length 0
        &[0xc0, 0x21, 2, 2, 0, 6, 1, 1],    // Ack with Length-1 option
        &[0xc0, 0x21, 7, 2, 0, 4],          // empty Code-Reject
        &[0xc0, 0x21, 8, 2, 0, 5, 0x80],    // truncated Protocol-Reject
        &[0x00, 0x20, 1, 2],                // even second octet: invalid protocol
        &[0x21, 0x45],                      // compressed protocol, PFC not negotiated
        &[0xc2, 0x23, 2, 1, 0, 6, 9, 1],    // CHAP with a value size past the end
        &[0xc0, 0x23, 1, 1, 0, 6, 9, 1],    // PAP with a peer-id past the end
    ];
    let before = d.link.counters();
    for g in garbage {
        let disposition = d.link.handle_frame(d.now, g);
        assert!(
            !matches!(disposition, FrameDisposition::Data { .. }),
            "{g:?}: {disposition:?}"
        );
    }
    let after = d.link.counters();
    assert!(
        after.malformed - before.malformed >= 12,
        "{before:?} {after:?}"
    );
    assert!(d.sent().is_empty(), "garbage is never answered");
    assert!(d.link.is_network_up());
    assert_eq!(d.link.lcp_state(), State::Opened);
}

#[test]
fn truncated_options_in_a_request_are_silently_discarded() {
    let mut d = server(vec![AuthProtocol::Pap]);
    d.sent();
    d.feed(&frame(LCP, CONF_REQ, 1, &[1, 4, 5]));
    d.feed(&frame(LCP, CONF_REQ, 2, &[5, 1]));
    assert!(d.sent().is_empty());
    assert_eq!(d.link.counters().malformed, 2);
    assert_eq!(d.link.lcp_state(), State::ReqSent);
}

#[test]
fn configure_request_flood_is_answered_one_for_one_and_times_out() {
    let mut d = server(vec![AuthProtocol::Pap]);
    d.sent();
    for i in 0..10_000u32 {
        d.feed(&frame(LCP, CONF_REQ, i as u8, &magic_opt(PEER_MAGIC)));
    }
    let out = d.sent();
    assert_eq!(out.len(), 10_000, "one Ack per request, no amplification");
    assert!(out.iter().all(|s| s.code == CONF_ACK));
    assert_eq!(d.link.lcp_state(), State::AckSent);
    // The peer never acknowledges ours: Max-Configure still ends it.
    d.advance(Duration::from_secs(60));
    assert_eq!(
        d.events().last(),
        Some(&Event::LinkDown(DownCause::NegotiationTimeout {
            protocol: LCP
        }))
    );
}

#[test]
fn configure_request_flood_with_naks_turns_into_rejects() {
    let mut d = server(vec![AuthProtocol::Pap]);
    d.sent();
    let tiny = opt(1, &10u16.to_be_bytes());
    for i in 0..20u8 {
        d.feed(&frame(LCP, CONF_REQ, i, &tiny));
    }
    let codes: Vec<u8> = d.sent().iter().map(|s| s.code).collect();
    // RFC 1661 §4.6 Max-Failure (5): further Naks become Rejects.
    assert_eq!(codes[..5], [CONF_NAK; 5]);
    assert!(codes[5..].iter().all(|c| *c == CONF_REJ));
}

#[test]
fn looped_back_link_is_detected() {
    let mut d = Driven::new(LinkConfig::server(
        ServerConfig {
            auth_protocols: vec![],
            name: b"x".to_vec(),
        },
        seed(9),
    ));
    // Everything the link sends comes straight back to it.
    for _ in 0..1000 {
        let frames = d.sent_raw();
        if frames.is_empty() {
            if d.step().is_none() {
                break;
            }
            continue;
        }
        for f in frames {
            d.feed(&f);
        }
    }
    let ev = d.events();
    assert!(
        ev.contains(&Event::LinkDown(DownCause::LoopbackDetected)),
        "{ev:?}"
    );
}

#[test]
fn client_config_debug_redacts_the_secret() {
    let c = ClientConfig {
        name: b"u".to_vec(),
        secret: b"topsecret".to_vec(),
        allow_pap: true,
        allow_chap: true,
        ipcp: IpcpClientConfig::default(),
    };
    assert!(!format!("{c:?}").contains("topsecret"));
}

/// The shared helpers decode what they build (they drive every test here).
#[test]
fn support_decodes_what_it_builds() {
    let f = frame(LCP, CONF_REQ, 3, &opt(1, &[5, 0xdc]));
    assert_eq!(
        Sent::decode(&f),
        Sent {
            proto: LCP,
            code: CONF_REQ,
            id: 3,
            data: vec![1, 4, 5, 0xdc]
        }
    );
}
