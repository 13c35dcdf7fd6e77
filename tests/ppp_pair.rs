//! Two links wired together in memory with driven time: client <-> server to network-up, and the
//! proxy path client <-> LAC-side server, hand-off, LNS-side server from the ProxyInfo.

mod ppp_support;

use std::time::Duration;

use l2tpagg::ppp::{
    AuthProtocol, AuthRequest, AuthVerdict, DownCause, Event, FrameDisposition, Link, LinkConfig,
    NetworkInfo, Phase, ProxyAuthenType, ProxyInfo, ProxyMismatch, ProxyOutcome, RoleConfig,
    parse_frame,
};
use l2tpagg::runtime::clock::test_epoch;
use ppp_support::*;

/// The application side of a server: accepts `user` with `secret`, hands out the assignment.
fn answer(link: &mut Link, now: std::time::Instant, events: &[Event]) -> Vec<AuthRequest> {
    let mut seen = Vec::new();
    for e in events {
        if let Event::AuthRequest(req) = e {
            let verdict = if req.name == b"alice" && req.verify_secret(b"wonderland") {
                AuthVerdict::Accept {
                    message: "hello alice".into(),
                    network: assignment(),
                }
            } else {
                AuthVerdict::Reject {
                    message: "go away".into(),
                }
            };
            link.answer_auth(now, verdict).unwrap();
            seen.push(req.clone());
        }
    }
    seen
}

/// Runs a pair (a = client, b = server) until both are idle or `limit` timer steps passed, with
/// the server application answering auth requests. Returns every event of each side.
fn run(pair: &mut Pair, limit: usize) -> (Vec<Event>, Vec<Event>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    let mut steps = 0;
    loop {
        pair.exchange();
        ea.extend(drain_events(&mut pair.a));
        let new_b = drain_events(&mut pair.b);
        let answered = !answer(&mut pair.b, pair.now, &new_b).is_empty();
        eb.extend(new_b);
        if answered {
            // The verdict queued frames: move them before looking at timers.
            continue;
        }
        if pair.a.is_network_up() && pair.b.is_network_up() {
            break;
        }
        if steps >= limit || !pair.step_timer() {
            break;
        }
        steps += 1;
    }
    (ea, eb)
}

fn network_of(events: &[Event]) -> Option<NetworkInfo> {
    events.iter().find_map(|e| match e {
        Event::NetworkUp(n) => Some(*n),
        _ => None,
    })
}

fn pair_with(server_protocols: Vec<AuthProtocol>, client: LinkConfig) -> Pair {
    let now = test_epoch();
    let c = Link::new(now, client);
    let s = Link::new(now, server_cfg(server_protocols));
    Pair::new(c, s, now)
}

fn client_only(pap: bool, chap: bool) -> LinkConfig {
    let mut cfg = client_cfg("alice", "wonderland");
    if let RoleConfig::Client(c) = &mut cfg.role {
        c.allow_pap = pap;
        c.allow_chap = chap;
    }
    cfg
}

fn lcp_configure_requests(frames: &[Vec<u8>]) -> usize {
    frames
        .iter()
        .filter(|f| f[..2] == LCP.to_be_bytes() && f[2] == CONF_REQ)
        .count()
}

#[test]
fn client_and_server_reach_network_up_with_chap() {
    let mut p = pair_with(
        vec![AuthProtocol::ChapMd5, AuthProtocol::Pap],
        client_cfg("alice", "wonderland"),
    );
    let (ec, es) = run(&mut p, 10);
    let c = network_of(&ec).expect("client network up");
    let s = network_of(&es).expect("server network up");
    assert_eq!(
        (c.local, c.peer, c.primary_dns, c.secondary_dns),
        (PEER, Some(LOCAL), Some(DNS1), Some(DNS2))
    );
    assert_eq!((s.local, s.peer), (LOCAL, Some(PEER)));
    assert!(es.iter().any(|e| matches!(e, Event::Authenticated { protocol: Some(AuthProtocol::ChapMd5), name, .. } if name == b"alice")));
    assert!(
        ec.iter().any(
            |e| matches!(e, Event::Authenticated { message, .. } if message == b"hello alice")
        )
    );
    assert_eq!(p.now, test_epoch(), "no timer was needed");
    // Data flows both ways through the caller.
    let ip = [0x00, 0x21, 0x45, 0, 0, 20];
    assert_eq!(
        p.b.handle_frame(p.now, &ip),
        FrameDisposition::Data {
            protocol: 0x21,
            payload: &ip[2..]
        }
    );
    assert_eq!(
        p.a.handle_frame(p.now, &ip),
        FrameDisposition::Data {
            protocol: 0x21,
            payload: &ip[2..]
        }
    );
}

#[test]
fn client_and_server_reach_network_up_with_pap_after_nak() {
    // The server prefers CHAP; the client only does PAP and Naks, the server moves to PAP.
    let mut p = pair_with(
        vec![AuthProtocol::ChapMd5, AuthProtocol::Pap],
        client_only(true, false),
    );
    let (ec, es) = run(&mut p, 10);
    assert!(network_of(&ec).is_some() && network_of(&es).is_some());
    assert_eq!(p.b.lcp_negotiated().unwrap().auth, Some(AuthProtocol::Pap));
}

#[test]
fn wrong_secret_ends_both_sides() {
    let mut p = pair_with(vec![AuthProtocol::ChapMd5], client_cfg("alice", "not-it"));
    let (ec, es) = run(&mut p, 20);
    assert_eq!(es.last(), Some(&Event::LinkDown(DownCause::AuthFailed)));
    assert_eq!(ec.last(), Some(&Event::LinkDown(DownCause::AuthFailed)));
    assert_eq!((p.a.phase(), p.b.phase()), (Phase::Dead, Phase::Dead));
}

#[test]
fn client_close_terminates_the_server() {
    let mut p = pair_with(vec![AuthProtocol::Pap], client_cfg("alice", "wonderland"));
    run(&mut p, 10);
    p.a.close(p.now, "bye");
    let (ec, es) = run(&mut p, 10);
    assert_eq!(
        ec.last(),
        Some(&Event::LinkDown(DownCause::LocalClose("bye".into())))
    );
    assert!(
        matches!(es.last(), Some(Event::LinkDown(DownCause::PeerTerminated(r))) if r.starts_with(b"closed locally"))
    );
}

#[test]
fn keepalive_between_live_peers_runs_for_hours() {
    let mut p = pair_with(
        vec![AuthProtocol::ChapMd5],
        client_cfg("alice", "wonderland"),
    );
    run(&mut p, 10);
    let start = p.now;
    while p.now - start < Duration::from_secs(4 * 3600) {
        assert!(p.step_timer());
    }
    assert!(p.a.is_network_up() && p.b.is_network_up());
    assert!(p.b.counters().echo_requests_sent >= 4 * 120);
    assert_eq!(
        p.b.counters().echo_replies_received,
        p.b.counters().echo_requests_sent
    );
}

/// Runs client <-> server over a wire losing each frame with probability `loss`, until both are up
/// or `deadline` of driven time passed. Returns whether both came up.
fn converges_over_lossy_wire(seed: u64, loss: f64, deadline: Duration) -> bool {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let now = test_epoch();
    let mut c = Link::new(now, client_cfg("alice", "wonderland"));
    let mut s = Link::new(now, server_cfg(vec![AuthProtocol::ChapMd5]));
    let mut t = now;
    while t - now < deadline {
        let mut moved = false;
        while let Some(f) = c.poll_transmit() {
            moved = true;
            if !rng.random_bool(loss) {
                s.handle_frame(t, &f);
            }
        }
        while let Some(f) = s.poll_transmit() {
            moved = true;
            if !rng.random_bool(loss) {
                c.handle_frame(t, &f);
            }
        }
        let evs = drain_events(&mut s);
        answer(&mut s, t, &evs);
        drain_events(&mut c);
        if c.is_network_up() && s.is_network_up() {
            return true;
        }
        if c.phase() == Phase::Dead || s.phase() == Phase::Dead {
            return false;
        }
        if !moved {
            let Some(next) = [c.poll_timeout(), s.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            else {
                return false;
            };
            t = t.max(next);
            c.handle_timeout(t);
            s.handle_timeout(t);
        }
    }
    false
}

#[test]
fn lossy_wire_still_converges() {
    // 20 % loss each way: the restart timers and retransmissions must recover every time.
    let failures: Vec<u64> = (0..200)
        .filter(|seed| !converges_over_lossy_wire(*seed, 0.2, Duration::from_secs(120)))
        .collect();
    assert!(
        failures.is_empty(),
        "seeds that did not converge: {failures:?}"
    );
}

// ----- proxy LCP/authentication -----

/// Client <-> LAC until the LAC has the client's credentials; returns the pair and the request.
fn client_to_lac(lac_protocols: Vec<AuthProtocol>, client: LinkConfig) -> (Pair, AuthRequest) {
    let now = test_epoch();
    let c = Link::new(now, client);
    let lac = Link::new(now, server_cfg(lac_protocols));
    let mut p = Pair::new(c, lac, now);
    for _ in 0..5 {
        p.exchange();
        drain_events(&mut p.a);
        for e in drain_events(&mut p.b) {
            if let Event::AuthRequest(req) = e {
                return (p, req);
            }
        }
        p.step_timer();
    }
    panic!("the LAC never saw credentials");
}

/// Hands off from the LAC and continues client <-> LNS. Returns the pair (client, LNS), the proxy
/// info and the LNS events before any exchange.
fn continue_at_lns(mut p: Pair, lns_cfg: LinkConfig) -> (Pair, ProxyInfo, Vec<Event>) {
    let info = p.b.hand_off().expect("proxy info available");
    assert_eq!(p.b.phase(), Phase::HandedOff);
    assert_eq!(p.b.poll_transmit(), None);
    assert_eq!(p.b.poll_timeout(), None);
    let lns = Link::from_proxy(p.now, lns_cfg, &info).unwrap();
    let mut q = Pair::new(p.a, lns, p.now);
    let early = drain_events(&mut q.b);
    (q, info, early)
}

#[test]
fn proxy_chap_lns_takes_over_without_lcp_renegotiation() {
    let (p, req) = client_to_lac(
        vec![AuthProtocol::ChapMd5],
        client_cfg("alice", "wonderland"),
    );
    assert_eq!(req.protocol, Some(AuthProtocol::ChapMd5));
    let client_first_request = p
        .a_to_b
        .iter()
        .find(|f| f[..2] == LCP.to_be_bytes())
        .unwrap()
        .clone();
    let lac_request = p
        .b_to_a
        .iter()
        .find(|f| f[..2] == LCP.to_be_bytes() && f[2] == CONF_REQ)
        .unwrap()
        .clone();
    let (mut q, info, early) = continue_at_lns(
        p,
        server_cfg(vec![AuthProtocol::ChapMd5, AuthProtocol::Pap]),
    );

    // The AVP contents: option bodies starting at the first option (RFC 2661 §4.4.5).
    assert_eq!(
        info.initial_received_confreq.as_deref(),
        Some(&client_first_request[6..])
    );
    assert_eq!(info.last_sent_confreq.as_deref(), Some(&lac_request[6..]));
    assert_eq!(
        info.last_received_confreq.as_deref(),
        Some(&client_first_request[6..])
    );
    assert_eq!(info.authen_type, Some(ProxyAuthenType::Chap));
    assert_eq!(info.authen_name.as_deref(), Some(&b"alice"[..]));
    let (id, challenge, response) = match &req.credentials {
        l2tpagg::ppp::Credentials::ChapMd5 {
            id,
            challenge,
            response,
        } => (*id, challenge.clone(), response.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(info.authen_id, Some(u16::from(id)));
    assert_eq!(info.authen_challenge, Some(challenge));
    assert_eq!(info.authen_response, Some(response));

    // The LNS starts authenticated-pending, with no LCP sent.
    assert_eq!(q.b.proxy_outcome(), Some(&ProxyOutcome::Accepted));
    assert_eq!(q.b.phase(), Phase::Authenticate);
    assert!(matches!(early[0], Event::LinkUp(_)));
    let Event::AuthRequest(lns_req) = &early[1] else {
        panic!("{early:?}")
    };
    assert!(lns_req.proxied);
    assert!(lns_req.verify_secret(b"wonderland"));
    answer(&mut q.b, q.now, &early);

    let (ec, es) = run(&mut q, 10);
    assert_eq!(
        lcp_configure_requests(&q.a_to_b) + lcp_configure_requests(&q.b_to_a),
        0,
        "no LCP renegotiation"
    );
    let c = network_of(&ec).expect("client reaches network-up through the LNS");
    assert_eq!((c.local, c.peer), (PEER, Some(LOCAL)));
    assert!(network_of(&es).is_some());
    // The LNS answered with the LAC's Challenge identifier.
    let success = q
        .b_to_a
        .iter()
        .find(|f| f[..2] == CHAP.to_be_bytes())
        .unwrap();
    assert_eq!((success[2], success[3]), (3, id));
    // LCP values carried over: the LNS echoes with the LAC's magic and the client answers it.
    let lns_lcp = q.b.lcp_negotiated().unwrap();
    let client_lcp = q.a.lcp_negotiated().unwrap();
    assert_eq!(
        (lns_lcp.magic, lns_lcp.peer_magic),
        (client_lcp.peer_magic, client_lcp.magic)
    );
    for _ in 0..20 {
        q.step_timer();
    }
    assert!(q.b.counters().echo_replies_received > 0);
    assert!(q.a.is_network_up() && q.b.is_network_up());
}

#[test]
fn proxy_pap_with_retransmissions_uses_the_latest_identifier() {
    let (mut p, _) = client_to_lac(vec![AuthProtocol::Pap], client_only(true, false));
    // The LAC is slow to pick a tunnel: the client retransmits its Authenticate-Request twice.
    for _ in 0..2 {
        p.step_timer();
    }
    let (mut q, info, early) = continue_at_lns(p, server_cfg(vec![AuthProtocol::Pap]));
    assert_eq!(info.authen_type, Some(ProxyAuthenType::Pap));
    assert_eq!(info.authen_response.as_deref(), Some(&b"wonderland"[..]));
    assert!(!format!("{info:?}").contains("wonderland"));
    let last_pap = q_last_pap_id(&info);
    answer(&mut q.b, q.now, &early);
    let (ec, _) = run(&mut q, 10);
    assert!(network_of(&ec).is_some());
    let ack = q
        .b_to_a
        .iter()
        .find(|f| f[..2] == PAP.to_be_bytes())
        .unwrap();
    assert_eq!((ack[2], ack[3]), (2, last_pap));
    assert_eq!(
        lcp_configure_requests(&q.a_to_b) + lcp_configure_requests(&q.b_to_a),
        0
    );
}

fn q_last_pap_id(info: &ProxyInfo) -> u8 {
    info.authen_id.unwrap() as u8
}

#[test]
fn proxy_rejected_credentials_end_the_link_at_the_lns() {
    let (p, _) = client_to_lac(vec![AuthProtocol::ChapMd5], client_cfg("alice", "wrong"));
    let (mut q, _, early) = continue_at_lns(p, server_cfg(vec![AuthProtocol::ChapMd5]));
    answer(&mut q.b, q.now, &early);
    let (ec, es) = run(&mut q, 20);
    assert_eq!(es.last(), Some(&Event::LinkDown(DownCause::AuthFailed)));
    assert_eq!(ec.last(), Some(&Event::LinkDown(DownCause::AuthFailed)));
}

#[test]
fn proxy_with_disallowed_auth_renegotiates_lcp() {
    // The LAC used CHAP; this LNS allows PAP only.
    let (p, _) = client_to_lac(
        vec![AuthProtocol::ChapMd5],
        client_cfg("alice", "wonderland"),
    );
    let (mut q, _, early) = continue_at_lns(p, server_cfg(vec![AuthProtocol::Pap]));
    assert_eq!(
        q.b.proxy_outcome(),
        Some(&ProxyOutcome::Renegotiated(
            ProxyMismatch::AuthProtocolNotAllowed(Some(AuthProtocol::ChapMd5))
        ))
    );
    assert!(early.is_empty());
    let (ec, es) = run(&mut q, 20);
    assert!(
        lcp_configure_requests(&q.b_to_a) >= 1,
        "the LNS renegotiated LCP"
    );
    assert!(network_of(&ec).is_some() && network_of(&es).is_some());
    assert_eq!(q.b.lcp_negotiated().unwrap().auth, Some(AuthProtocol::Pap));
}

#[test]
fn proxy_without_authen_type_keeps_lcp_and_reauthenticates() {
    let (p, _) = client_to_lac(
        vec![AuthProtocol::ChapMd5],
        client_cfg("alice", "wonderland"),
    );
    let mut info = p.b.proxy_info().unwrap();
    info.authen_type = None;
    let lns = Link::from_proxy(p.now, server_cfg(vec![AuthProtocol::ChapMd5]), &info).unwrap();
    let mut q = Pair::new(p.a, lns, p.now);
    assert_eq!(
        q.b.proxy_outcome(),
        Some(&ProxyOutcome::LcpOnly(ProxyMismatch::NoProxyAuth))
    );
    let (ec, es) = run(&mut q, 20);
    assert_eq!(
        lcp_configure_requests(&q.a_to_b) + lcp_configure_requests(&q.b_to_a),
        0
    );
    let challenges = q
        .b_to_a
        .iter()
        .filter(|f| f[..2] == CHAP.to_be_bytes() && f[2] == 1)
        .count();
    assert_eq!(challenges, 1, "a fresh Challenge from the LNS");
    assert!(
        es.iter()
            .any(|e| matches!(e, Event::AuthRequest(r) if !r.proxied))
    );
    assert!(network_of(&ec).is_some() && network_of(&es).is_some());
}

#[test]
fn proxy_info_is_refused_before_credentials() {
    let now = test_epoch();
    let lac = Link::new(now, server_cfg(vec![AuthProtocol::Pap]));
    assert!(lac.proxy_info().is_err());
    let client = Link::new(now, client_cfg("a", "b"));
    assert!(client.proxy_info().is_err());
    assert!(Link::from_proxy(now, client_cfg("a", "b"), &ProxyInfo::default()).is_err());
    // An empty ProxyInfo renegotiates.
    let lns = Link::from_proxy(
        now,
        server_cfg(vec![AuthProtocol::Pap]),
        &ProxyInfo::default(),
    )
    .unwrap();
    assert_eq!(
        lns.proxy_outcome(),
        Some(&ProxyOutcome::Renegotiated(ProxyMismatch::NoProxyLcp))
    );
    assert_eq!(lns.phase(), Phase::Establish);
}

#[test]
fn pfc_negotiated_lets_compressed_data_through() {
    let mut scfg = server_cfg(vec![AuthProtocol::Pap]);
    scfg.lcp.request_pfc = true;
    let now = test_epoch();
    let mut p = Pair::new(
        Link::new(now, client_cfg("alice", "wonderland")),
        Link::new(now, scfg),
        now,
    );
    run(&mut p, 10);
    assert!(p.b.accepts_compressed_protocol());
    assert!(p.a.lcp_negotiated().unwrap().peer_accepts_pfc);
    let compressed = [0x21, 0x45, 0x00];
    assert_eq!(
        p.b.handle_frame(p.now, &compressed),
        FrameDisposition::Data {
            protocol: 0x21,
            payload: &[0x45, 0x00]
        }
    );
    assert_eq!(
        parse_frame(&compressed, p.b.accepts_compressed_protocol()),
        Ok((0x21, &[0x45, 0x00][..]))
    );
    // The client did not ask for PFC: it refuses compressed frames.
    assert_eq!(
        p.a.handle_frame(p.now, &compressed),
        FrameDisposition::Dropped
    );
}
