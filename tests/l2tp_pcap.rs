//! Writes a pcap of a full simulated exchange (tunnel with authentication, sessions with hidden
//! AVPs and our vendor AVPs, data, CDN, StopCCN) as Ethernet/IPv4/UDP frames on port 1701, and has
//! tshark decode it: no malformed packet and no expert item of severity warning or worse.
//! tshark is required; without it the test fails with a clear message.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use l2tpagg::l2tp::sim::{Captured, LinkModel, Side, SimPair};
use l2tpagg::l2tp::{
    CloseReason, Endpoint, EndpointConfig, Event, PolicyDecision, SessionRequest, TunnelConfig,
    TunnelRequest,
};
use l2tpagg::runtime::clock::test_epoch;
use l2tpagg::wire::avp::{DisconnectCause, DisconnectCauseCode};
use l2tpagg::wire::{ProxyAuthenType, StopCcnResult, Switchover};
use support::tshark::{
    assert_decodes, assert_no_expert_warnings, dissector_arg, expert_sections, tshark,
};

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for c in chunks {
        for pair in c.chunks(2) {
            let w = if pair.len() == 2 {
                u16::from_be_bytes([pair[0], pair[1]])
            } else {
                u16::from_be_bytes([pair[0], 0])
            };
            sum += w as u32;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn v4(a: SocketAddr) -> [u8; 4] {
    match a.ip() {
        IpAddr::V4(ip) => ip.octets(),
        IpAddr::V6(_) => panic!("IPv4 only"),
    }
}

/// One Ethernet II / IPv4 / UDP frame around an L2TP message, checksums filled in.
fn frame(c: &Captured, id: u16) -> Vec<u8> {
    let (src, dst) = (v4(c.src), v4(c.dst));
    let udp_len = 8 + c.payload.len() as u16;
    let mut udp = Vec::new();
    udp.extend_from_slice(&c.src.port().to_be_bytes());
    udp.extend_from_slice(&c.dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&c.payload);
    let pseudo = [&src[..], &dst[..], &[0, 17], &udp_len.to_be_bytes()[..]].concat();
    let mut ck = checksum(&[&pseudo, &udp]);
    if ck == 0 {
        ck = 0xffff;
    }
    udp[6..8].copy_from_slice(&ck.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&id.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let ipck = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&ipck.to_be_bytes());
    let mac = |a: [u8; 4]| [0x02, 0x00, a[0], a[1], a[2], a[3]];
    let mut f = Vec::new();
    f.extend_from_slice(&mac(dst));
    f.extend_from_slice(&mac(src));
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&udp);
    f
}

fn write_pcap(path: &Path, packets: &[Captured]) {
    let start = test_epoch();
    let mut out = Vec::new();
    // libpcap global header: magic, v2.4, GMT, accuracy, snaplen, LINKTYPE_ETHERNET.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, c) in packets.iter().enumerate() {
        let f = frame(c, i as u16);
        let t = c.at.duration_since(start) + Duration::from_secs(1_790_000_000);
        out.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
        out.extend_from_slice(&t.subsec_micros().to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
    }
    std::fs::write(path, out).unwrap();
}

/// A full exchange between an l2tpagg LAC and LNS that share a secret.
fn exchange() -> Vec<Captured> {
    let lac_addr: SocketAddr = "192.0.2.1:1701".parse().unwrap();
    let lns_addr: SocketAddr = "192.0.2.2:1701".parse().unwrap();
    let cfg = Arc::new(TunnelConfig {
        secret: Some(b"tunnel-secret".to_vec()),
        host_name: "lac.example".into(),
        ..Default::default()
    });
    let lns_cfg = Arc::new(TunnelConfig {
        host_name: "lns.example".into(),
        ..(*cfg).clone()
    });
    let lns = Endpoint::new(
        EndpointConfig::default(),
        move |_: &TunnelRequest<'_>| PolicyDecision::Accept(lns_cfg.clone()),
        [2; 32],
    );
    let lac = Endpoint::new(
        EndpointConfig::default(),
        |_: &TunnelRequest<'_>| PolicyDecision::Ignore,
        [1; 32],
    );
    let mut sim = SimPair::new(
        lac,
        lac_addr,
        lns,
        lns_addr,
        LinkModel::default(),
        test_epoch(),
        7,
    );
    sim.capture = Some(Vec::new());
    let tid = sim
        .a
        .open_tunnel(test_epoch(), lac_addr, lns_addr, cfg)
        .unwrap();
    let mut lac_sessions = Vec::new();
    sim.run_for(Duration::from_secs(3), |sim, side, e| match (side, e) {
        (Side::A, Event::TunnelUp { .. }) => {
            for i in 0..3u8 {
                let mut r = SessionRequest::default();
                r.icrq.calling_number = Some(format!("0301234{i}").into_bytes());
                r.icrq.called_number = Some(b"isp".to_vec());
                r.icrq.bearer_type = Some(l2tpagg::wire::Bearer(l2tpagg::wire::Bearer::DIGITAL));
                if i == 2 {
                    r.icrq.switchover = Some(Switchover {
                        old_tunnel_id: 10,
                        old_session_id: 20,
                        token: 0x1234_5678,
                    });
                }
                r.iccn.tx_connect_speed = Some(100_000_000);
                r.iccn.initial_received_lcp_confreq =
                    Some(vec![1, 4, 5, 0xd4, 5, 6, 0x12, 0x34, 0x56, 0x78]);
                r.iccn.last_sent_lcp_confreq =
                    Some(vec![3, 4, 0xc0, 0x23, 5, 6, 0x9a, 0xbc, 0xde, 0xf0]);
                r.iccn.last_received_lcp_confreq =
                    Some(vec![1, 4, 5, 0xd4, 5, 6, 0x12, 0x34, 0x56, 0x78]);
                r.iccn.proxy_authen_type = Some(ProxyAuthenType::PAP);
                r.iccn.proxy_authen_name = Some(b"alice@isp".to_vec());
                r.iccn.proxy_authen_id = Some(1);
                r.iccn.proxy_authen_response = Some(b"secret-pw".to_vec());
                let now = sim.now();
                sim.a.open_session(now, tid, r).unwrap();
            }
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
        (Side::A, Event::SessionUp { session, .. }) => {
            let now = sim.now();
            // An LCP Configure-Request on the data channel.
            sim.a
                .send_data(
                    now,
                    tid,
                    session,
                    &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 8, 1, 4, 5, 0xd4],
                )
                .unwrap();
            lac_sessions.push(session);
        }
        _ => {}
    });
    assert_eq!(lac_sessions.len(), 3);
    let now = sim.now();
    let cause = DisconnectCause {
        code: DisconnectCauseCode::AutomaticDisconnect,
        detail: 4,
        text: Some("idle".into()),
    };
    sim.a
        .close_session(
            now,
            tid,
            lac_sessions[0],
            CloseReason::administrative(Some(cause)),
        )
        .unwrap();
    sim.run_for(Duration::from_secs(2), |_, _, _| {});
    let now = sim.now();
    sim.a
        .close_tunnel(now, tid, StopCcnResult::GeneralClear, None, None)
        .unwrap();
    sim.run_for(Duration::from_secs(2), |_, _, _| {});
    sim.capture.take().unwrap()
}

#[test]
fn tshark_decodes_a_full_exchange_without_malformed_packets_or_warnings() {
    let packets = exchange();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l2tp-exchange.pcap");
    write_pcap(&path, &packets);
    let file = path.to_str().unwrap();
    if let Ok(keep) = std::env::var("L2TP_PCAP_KEEP") {
        std::fs::copy(&path, keep).unwrap();
    }
    let lua_arg = dissector_arg(dir.path());

    let verbose = tshark(&["-X", &lua_arg, "-r", file, "-V"]);
    assert_decodes(
        &verbose,
        &[
            "Random Vector",
            "Hidden: True",
            "Vendor l2tpagg (32473): Capabilities AVP",
            "Live session move: True",
            "Vendor l2tpagg (32473): Switchover AVP",
            "Vendor l2tpagg (32473): Disconnect Cause AVP",
            "Cause: Automatic disconnect (2)",
            "Configuration Request",
        ],
    );
    let frames = tshark(&["-r", file, "-T", "fields", "-e", "frame.number"])
        .lines()
        .count();
    assert_eq!(frames, packets.len());

    // With our dissector loaded: no expert item of severity warning or error at all.
    assert_no_expert_warnings(&tshark(&["-X", &lua_arg, "-r", file, "-q", "-z", "expert"]));

    // Stock tshark (no dissector for our enterprise number) warns only that it cannot decode our
    // unhidden vendor AVPs; anything else would be a real problem with our packets.
    let stock = tshark(&["-r", file, "-q", "-z", "expert"]);
    let sections = expert_sections(&stock);
    assert!(
        !sections.iter().any(|(s, n)| s == "Errors" && *n > 0),
        "{stock}"
    );
    let warn_lines: Vec<&str> = stock
        .lines()
        .skip_while(|l| !l.starts_with("Warns"))
        .skip(3)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(
        !warn_lines.is_empty()
            && warn_lines
                .iter()
                .all(|l| l.contains("Vendor-Specific AVP data")),
        "{stock}"
    );
    let verbose_stock = tshark(&["-r", file, "-V"]);
    assert!(
        !verbose_stock.contains("Malformed"),
        "stock tshark found a malformed packet"
    );
}
