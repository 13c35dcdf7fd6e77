//! The emulator's PPPoE side against a real peer that is not the daemon: an access concentrator
//! built in this test from `pppoe::AccessConcentrator` and `ppp::Link` servers, on the far end of a
//! veth pair in a network namespace the test creates. Frames cross the kernel through AF_PACKET
//! sockets on both ends; the emulator speaks for many MACs from one interface.
//!
//! Needs root (network namespaces, AF_PACKET); fails loudly without it.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use l2tpagg::loadgen::ip;
use l2tpagg::loadgen::pppoe_core::subscriber_mac;
use l2tpagg::loadgen::{
    AuthChoice, Credentials, Dialer, DialerOptions, DownOutcome, Emulator, LoadgenOptions,
    PppoeOptions, TrafficPlan, TransportOptions,
};
use l2tpagg::ppp::frame::protocol;
use l2tpagg::ppp::{
    AuthVerdict, Event as LinkEvent, FrameDisposition, IpcpAssignment, LcpConfig, Link, LinkConfig,
    ServerConfig,
};
use l2tpagg::pppoe::{AcConfig, AcEvent, AccessConcentrator, Handled, MacAddr};
use l2tpagg::runtime::clock;
use l2tpagg::runtime::netns::NamedNetns;
use l2tpagg::runtime::packet::{self, PacketSocket, ethertype};
use tokio::sync::watch;

const AC_MAC: [u8; 6] = [0x02, 0xac, 0, 0, 0, 1];
const AC_ADDRESS: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);

fn netns(tag: &str) -> NamedNetns {
    let ns = NamedNetns::create(&format!("l2tpagg-lgpppoe-{}-{tag}", std::process::id()))
        .unwrap_or_else(|e| {
            panic!("this test needs root and iproute2 (network namespaces, AF_PACKET): {e}")
        });
    ns.ip(&[
        "link", "add", "lg-sub", "type", "veth", "peer", "name", "lg-ac",
    ])
    .unwrap();
    ns.ip(&["link", "set", "lg-ac", "address", "02:ac:00:00:00:01"])
        .unwrap();
    ns.ip(&["link", "set", "lg-sub", "up"]).unwrap();
    ns.ip(&["link", "set", "lg-ac", "up"]).unwrap();
    ns
}

#[derive(Debug, Default)]
struct AcStats {
    sessions: AtomicU64,
    networks_up: AtomicU64,
    padt_received: AtomicU64,
    lcp_terminate_requests: AtomicU64,
    echoed: AtomicU64,
    auth_rejected: AtomicU64,
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Waits until `counter` reaches `want`: the access concentrator runs on its own task and sees
/// the last frames a little after the emulator sent them. Fails after five seconds.
async fn eventually(counter: &AtomicU64, want: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while get(counter) < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "counter stuck at {} (wanted {want})",
            get(counter)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct AcSession {
    link: Link,
    filed: Option<Instant>,
}

/// The in-test access concentrator with PPP servers behind it.
struct Ac {
    ac: AccessConcentrator,
    discovery: PacketSocket,
    session: PacketSocket,
    sessions: HashMap<u16, AcSession>,
    deadlines: BTreeSet<(Instant, u16)>,
    next_address: u32,
    out: Vec<Vec<u8>>,
    stats: Arc<AcStats>,
}

impl Ac {
    fn new(interface: &str, stats: Arc<AcStats>) -> Self {
        let discovery = PacketSocket::bind(interface, ethertype::PPPOE_DISCOVERY).unwrap();
        let session = PacketSocket::bind(interface, ethertype::PPPOE_SESSION).unwrap();
        let mut config = AcConfig::new(MacAddr(AC_MAC), "test-ac", [7; 32]);
        config.transmit_queue_limit = 65_536;
        Self {
            ac: AccessConcentrator::new(config, clock::now()).unwrap(),
            discovery,
            session,
            sessions: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_address: 0,
            out: Vec::new(),
            stats,
        }
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut dbuf = vec![0u8; 14 + 9216];
        let mut sbuf = vec![0u8; 14 + 9216];
        loop {
            let now = clock::now();
            while let Some(&(at, id)) = self.deadlines.first() {
                if at > now {
                    break;
                }
                self.deadlines.pop_first();
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.filed = None;
                    s.link.handle_timeout(now);
                }
                self.drive(now, id);
            }
            self.flush().await;
            let next = self
                .deadlines
                .first()
                .map_or(now + Duration::from_secs(1), |(t, _)| *t);
            tokio::select! {
                _ = stop.changed() => return,
                r = self.discovery.recv(&mut dbuf[14..]) => {
                    let meta = r.unwrap();
                    let len = rebuild(&mut dbuf, &meta);
                    self.frame(clock::now(), &dbuf[..len]);
                }
                r = self.session.recv(&mut sbuf[14..]) => {
                    let meta = r.unwrap();
                    let len = rebuild(&mut sbuf, &meta);
                    self.frame(clock::now(), &sbuf[..len]);
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {}
            }
        }
    }

    fn frame(&mut self, now: Instant, frame: &[u8]) {
        let handled = self.ac.handle_frame(now, frame);
        let mut echo = None;
        let mut touched = None;
        if let Handled::Session(p) = handled {
            touched = Some(p.session_id);
            if p.ppp.len() > 2 && p.ppp[..2] == protocol::LCP.to_be_bytes() && p.ppp[2] == 5 {
                self.stats
                    .lcp_terminate_requests
                    .fetch_add(1, Ordering::Relaxed);
            }
            if let Some(s) = self.sessions.get_mut(&p.session_id)
                && let FrameDisposition::Data { payload, .. } = s.link.handle_frame(now, p.ppp)
            {
                echo = ip::echo_reply(payload).map(|r| (p.session_id, r));
            }
        }
        if let Some((id, reply)) = echo {
            self.stats.echoed.fetch_add(1, Ordering::Relaxed);
            let mut f = protocol::IPV4.to_be_bytes().to_vec();
            f.extend_from_slice(&reply);
            self.send_ppp(id, &f);
        }
        if let Some(id) = touched {
            self.drive(now, id);
        }
        while let Some(f) = self.ac.poll_transmit() {
            self.out.push(f);
        }
        while let Some(ev) = self.ac.poll_event() {
            match ev {
                AcEvent::SessionEstablished(info) => {
                    self.stats.sessions.fetch_add(1, Ordering::Relaxed);
                    let mut cfg = LinkConfig::server(
                        ServerConfig::default(),
                        l2tpagg::loadgen::population::os_seed(),
                    );
                    cfg.lcp = LcpConfig::for_pppoe();
                    self.sessions.insert(
                        info.session_id,
                        AcSession {
                            link: Link::new(now, cfg),
                            filed: None,
                        },
                    );
                    self.drive(now, info.session_id);
                }
                AcEvent::SessionTerminatedByPeer { info, .. } => {
                    self.stats.padt_received.fetch_add(1, Ordering::Relaxed);
                    if let Some(s) = self.sessions.remove(&info.session_id)
                        && let Some(at) = s.filed
                    {
                        self.deadlines.remove(&(at, info.session_id));
                    }
                }
            }
        }
    }

    fn send_ppp(&mut self, id: u16, ppp: &[u8]) {
        if let Some(h) = self.ac.session_header(id) {
            self.out.push(h.to_vec(ppp).unwrap());
        }
    }

    fn drive(&mut self, now: Instant, id: u16) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let frames: Vec<Vec<u8>> = std::iter::from_fn(|| s.link.poll_transmit()).collect();
        let events: Vec<LinkEvent> = std::iter::from_fn(|| s.link.poll_event()).collect();
        for f in frames {
            self.send_ppp(id, &f);
        }
        for ev in events {
            match ev {
                LinkEvent::AuthRequest(req) => {
                    let ok = req.name_lossy().starts_with("user") && req.verify_secret(b"demo");
                    let verdict = if ok {
                        self.next_address += 1;
                        let peer = Ipv4Addr::from(
                            u32::from(Ipv4Addr::new(100, 64, 1, 0)) + self.next_address,
                        );
                        AuthVerdict::Accept {
                            message: "welcome".into(),
                            network: IpcpAssignment::new(AC_ADDRESS, peer),
                        }
                    } else {
                        self.stats.auth_rejected.fetch_add(1, Ordering::Relaxed);
                        AuthVerdict::Reject {
                            message: "no".into(),
                        }
                    };
                    if let Some(s) = self.sessions.get_mut(&id) {
                        let _ = s.link.answer_auth(now, verdict);
                    }
                    self.drive(now, id);
                    return;
                }
                LinkEvent::NetworkUp(_) => {
                    self.stats.networks_up.fetch_add(1, Ordering::Relaxed);
                }
                LinkEvent::LinkDown(_) => {
                    if self.sessions.remove(&id).is_some() {
                        let _ = self.ac.terminate(id, Some("PPP down"));
                        while let Some(f) = self.ac.poll_transmit() {
                            self.out.push(f);
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let next = s.link.poll_timeout();
        if s.filed != next {
            if let Some(old) = s.filed.take() {
                self.deadlines.remove(&(old, id));
            }
            if let Some(at) = next {
                self.deadlines.insert((at, id));
                s.filed = Some(at);
            }
        }
    }

    async fn flush(&mut self) {
        for f in std::mem::take(&mut self.out) {
            let mut dst = [0u8; 6];
            let mut src = [0u8; 6];
            dst.copy_from_slice(&f[0..6]);
            src.copy_from_slice(&f[6..12]);
            let socket = if u16::from_be_bytes([f[12], f[13]]) == ethertype::PPPOE_DISCOVERY {
                &self.discovery
            } else {
                &self.session
            };
            socket
                .send_from(packet::MacAddr(src), packet::MacAddr(dst), &f[14..])
                .await
                .unwrap();
        }
    }
}

fn rebuild(buf: &mut [u8], meta: &packet::FrameMeta) -> usize {
    buf[0..6].copy_from_slice(&meta.destination.0);
    buf[6..12].copy_from_slice(&meta.source.0);
    buf[12..14].copy_from_slice(&meta.ethertype.to_be_bytes());
    14 + meta.len
}

/// Runs `test` inside the namespace with the access concentrator serving `lg-ac`.
fn with_ac<F, Fut>(tag: &str, test: F) -> Arc<AcStats>
where
    F: FnOnce(Arc<AcStats>) -> Fut + Send,
    Fut: std::future::Future<Output = ()>,
{
    let ns = netns(tag);
    let stats = Arc::new(AcStats::default());
    let for_test = stats.clone();
    ns.block_on(move || async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let ac = Ac::new("lg-ac", for_test.clone());
        let server = tokio::spawn(ac.run(stop_rx));
        test(for_test).await;
        let _ = stop_tx.send(true);
        server.await.unwrap();
    })
    .unwrap();
    stats
}

#[test]
fn one_hundred_pppoe_subscribers_with_traffic_then_clean_logout() {
    let stats = with_ac("bulk", |stats| async move {
        let options = LoadgenOptions {
            transport: TransportOptions::Pppoe(PppoeOptions::new("lg-sub")),
            subscribers: 100,
            rate: f64::INFINITY,
            concurrency: 50,
            hold: Some(Duration::from_millis(500)),
            traffic: Some(TrafficPlan {
                rate: 20.0,
                payload: 100,
                target: None,
                port: 7,
            }),
            ..LoadgenOptions::default()
        };
        let report = Emulator::new(options).unwrap().run().await.unwrap();
        println!("{report}");
        assert!(report.success, "{report}");
        assert_eq!(report.up, 100);
        assert_eq!(report.logged_out, 100);
        assert_eq!(report.tunnels, 0);
        // Nobody waited for an LCP restart timer (3 s): the access concentrator's first
        // Configure-Request, sent right after its PADS, was taken (frames are handled discovery
        // first). Loopback setups take milliseconds; this is not a speed target.
        let latency = report.setup_latency.unwrap();
        assert!(latency.max_ms < 2_900.0, "{latency:?}");
        let t = report.traffic;
        assert!(t.packets_sent >= 100, "{t:?}");
        assert_eq!(t.packets_received, t.echoes);
        assert!(
            t.echoes <= t.packets_sent && t.echoes + 100 >= t.packets_sent,
            "{t:?}"
        );
        assert_eq!(get(&stats.sessions), 100);
        eventually(&stats.padt_received, 100).await;
    });
    assert_eq!(get(&stats.networks_up), 100);
    // Every logout: LCP Terminate-Request first, then the PADT (RFC 2516 §5.5).
    assert_eq!(get(&stats.lcp_terminate_requests), 100);
    assert_eq!(get(&stats.padt_received), 100);
}

#[test]
fn pppoe_dialer_uses_its_own_mac_and_hangs_up_with_padt_only() {
    let stats = with_ac("dial", |stats| async move {
        let dialer = Dialer::start(DialerOptions::pppoe("lg-sub")).await.unwrap();
        let mut sub = dialer
            .dial(
                Credentials::new("user42", "demo")
                    .with_auth(AuthChoice::Pap)
                    .with_number(42),
            )
            .await
            .unwrap();
        assert_eq!(sub.network().peer, Some(AC_ADDRESS));
        let me = sub.address();
        sub.send_udp(SocketAddrV4::new(AC_ADDRESS, 7), 5000, b"ping")
            .await
            .unwrap();
        let echo = sub.recv_ip().await.unwrap();
        let udp = ip::parse_udp(&echo).unwrap();
        assert_eq!(
            (udp.dst, udp.dst_port, udp.payload),
            (me, 5000, &b"ping"[..])
        );
        assert_eq!(sub.hang_up().await.unwrap(), DownOutcome::LoggedOut);
        // Hanging up is a PADT alone, no LCP Terminate-Request.
        eventually(&stats.padt_received, 1).await;
        assert_eq!(get(&stats.lcp_terminate_requests), 0);

        // A wrong password fails the dial with auth_failed; its PPP ends with Terminate-Request
        // and one side's PADT clears the session.
        let err = dialer
            .dial(Credentials::new("user43", "nope"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("auth_failed"), "{err}");
        assert_eq!(get(&stats.auth_rejected), 1);
        let totals = dialer.close().await.unwrap();
        assert_eq!(totals.up, 1);
        assert_eq!(totals.logged_out, 1);
        assert_eq!(totals.failed.total(), 1);
    });
    assert_eq!(get(&stats.sessions), 2);
    // The MAC is derived from the subscriber number.
    assert_eq!(subscriber_mac(42).0, [0x02, 0x4c, 0x47, 0, 0, 42]);
}
