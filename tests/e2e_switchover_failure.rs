//! A live move that fails midway leaves the session where it was, working (issue 6's failure
//! injection). Our own LAC and LNS processes in a network namespace (needs root), with a UDP relay
//! of the test's between them that makes the LNS's answer to a switchover disappear: it drops
//! the ICRP answering an ICRQ that carries our Switchover AVP (its first transmissions, long
//! enough for the planner's move timeout to run out; later retransmissions pass so the tunnel's
//! control connection survives). Nothing in the daemons knows about the relay.
//!
//! Three subscribers at 1 Mbit/s in tunnels of two: user1 and user2 share tunnel A, user3 is alone
//! in tunnel B. user2 logs out; the planner moves user1 into B (emptying A). The ICRP is dropped:
//! the move times out, is logged with its cause, the half-made session is cleared with a CDN on
//! both sides, and user1 stays in A with its UDP stream flowing. Then the relay lets answers
//! through, and a later attempt commits: user1 ends in B and A closes. No datagram of user1's
//! stream is lost across both attempts.

mod e2e_switchover_common;
mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e_switchover_common::{
    PHASE_STOP, PHASE_WINDOW, SERVER, SERVER_PORT, Streams, add_server_address, lac_config,
    lns_config, spawn_echo_server, stream, wait_async,
};
use l2tpagg::loadgen::{AuthChoice, Credentials, Dialer, DialerOptions, DownOutcome};
use l2tpagg::wire::data::{Kind, classify};
use l2tpagg::wire::{DEFAULT_VENDOR_ID, Message, MessageType, ParseContext};
use support::{Daemon, daemon_section, netns};

const RELAY: &str = "127.0.0.1:11911";
const LNS: &str = "127.0.0.1:11901";
/// Transmissions of each switchover's ICRP the relay drops while it is hostile (the first one and
/// the retransmissions 1 s and 3 s later, RFC 2661 §5.8 backoff): past the 3 s move timeout.
const DROPS_PER_ICRP: u64 = 3;

/// What the relay saw and did.
#[derive(Default)]
struct RelayState {
    /// Drop ICRPs of switchover calls.
    hostile: AtomicBool,
    /// LAC session IDs of switchover calls → ICRP transmissions dropped.
    switchovers: Mutex<HashMap<u16, u64>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

fn control(datagram: &[u8]) -> Option<(u16, Message)> {
    if !matches!(classify(datagram), Ok(Kind::Control { .. })) {
        return None;
    }
    let ctx = ParseContext {
        secret: None,
        vendor_id: DEFAULT_VENDOR_ID,
    };
    let (header, message) = Message::parse_packet(datagram, &ctx).ok()?;
    Some((header.session_id, message?))
}

/// A UDP relay: LAC → `listen` → (one socket per LAC address) → LNS, and back.
fn spawn_relay(listen: UdpSocket, lns: SocketAddr, state: Arc<RelayState>) {
    let listen = Arc::new(listen);
    listen
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut upstream: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = [0u8; 65_536];
        while !state.stop.load(Ordering::Relaxed) {
            let Ok((n, lac)) = listen.recv_from(&mut buf) else {
                continue;
            };
            let datagram = &buf[..n];
            if let Some((_, m)) = control(datagram)
                && m.kind == MessageType::Icrq
                && m.avps.switchover.is_some()
                && let Some(sid) = m.avps.assigned_session_id
            {
                state.switchovers.lock().unwrap().entry(sid).or_insert(0);
            }
            let up = upstream.entry(lac).or_insert_with(|| {
                // Created on the relay's thread, which runs in the test's namespace.
                let s = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
                s.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let (back, listen, state) = (s.clone(), listen.clone(), state.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65_536];
                    while !state.stop.load(Ordering::Relaxed) {
                        let Ok((n, _)) = back.recv_from(&mut buf) else {
                            continue;
                        };
                        let datagram = &buf[..n];
                        if state.hostile.load(Ordering::Relaxed)
                            && let Some((session, m)) = control(datagram)
                            && m.kind == MessageType::Icrp
                            && let Some(count) = state.switchovers.lock().unwrap().get_mut(&session)
                            && *count < DROPS_PER_ICRP
                        {
                            *count += 1;
                            state.dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let _ = listen.send_to(datagram, lac);
                    }
                });
                s
            });
            let _ = up.send_to(datagram, lns);
        }
    });
}

#[test]
fn a_switchover_whose_answer_disappears_leaves_the_session_working_where_it_was() {
    let ns = netns("sw-fail");
    add_server_address(&ns);
    let daemon = daemon_section(std::path::Path::new("{dir}"));
    let subs = "[[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 3\nsecret = \"demo\"\n\
                service_level = \"1M\"\ncontract = { consolidation = true }\n";
    let lns = Daemon::start(
        "lns",
        Some(ns.name()),
        &lns_config(&daemon, 11901, "l2tpsf0", subs),
    );
    let lac = Daemon::start(
        "lac",
        Some(ns.name()),
        &lac_config(&daemon, RELAY, 11902, 2, "", subs)
            .replace("move_timeout = \"5s\"", "move_timeout = \"3s\""),
    );
    let relay = Arc::new(RelayState::default());
    relay.hostile.store(true, Ordering::Relaxed);
    {
        let relay = relay.clone();
        ns.run(move || {
            let listen = UdpSocket::bind(RELAY).expect("relay socket");
            spawn_relay(listen, LNS.parse().unwrap(), relay);
        })
        .unwrap();
    }
    let server = ns
        .run(|| UdpSocket::bind((SERVER, SERVER_PORT)))
        .unwrap()
        .expect("server socket");
    let streams = Arc::new(Streams::default());
    let echo = spawn_echo_server(server, streams.clone());

    let (lac_ref, lns_ref, relay_ref, streams_ref) = (&lac, &lns, relay.clone(), streams.clone());
    ns.block_on(move || async move {
        let (lac, lns, relay, streams) = (lac_ref, lns_ref, relay_ref, streams_ref);
        let mut options = DialerOptions::l2tp("127.0.0.1:11902".parse().unwrap());
        options.setup_timeout = Duration::from_secs(20);
        let dialer = Dialer::start(options).await.expect("dialer");
        let mut subs = Vec::new();
        for i in 1..=3 {
            let s = dialer
                .dial(Credentials::new(format!("user{i}"), "demo").with_auth(AuthChoice::Chap))
                .await
                .unwrap_or_else(|e| panic!("user{i}: {e}"));
            subs.push(s);
        }
        let tunnel_of = |name: &str| -> u64 {
            lac.rows(&["sessions"])
                .iter()
                .find(|r| r["role"] == "lac" && r["subscriber"] == name)
                .and_then(|r| r["local_tunnel_id"].as_u64())
                .unwrap_or_else(|| panic!("{name} has no LAC session"))
        };
        let (a, b) = (tunnel_of("user1"), tunnel_of("user3"));
        assert_eq!(tunnel_of("user2"), a, "user1 and user2 share a tunnel");
        assert_ne!(a, b);

        let mut tasks = Vec::new();
        let mut leave = Vec::new();
        for (i, s) in subs.into_iter().enumerate() {
            let flag = Arc::new(AtomicBool::new(false));
            leave.push(flag.clone());
            tasks.push(tokio::spawn(stream(
                s,
                i as u32 + 1,
                Duration::from_millis(50),
                streams.clone(),
                flag,
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        streams.phase.store(PHASE_WINDOW, Ordering::Relaxed);

        // user2 leaves: the planner moves user1 from A into B, and the answer is lost.
        leave[1].store(true, Ordering::Relaxed);
        let user2 = tasks.remove(1).await.unwrap();
        assert!(matches!(user2.logout().await, Ok(DownOutcome::LoggedOut)));
        let failed = wait_async(Duration::from_secs(20), || {
            lac.events("live session move")
                .into_iter()
                .find(|e| e["fields"]["subscriber"] == "user1")
        })
        .await
        .expect("the move of user1 ends within the move timeout");
        assert_eq!(failed["fields"]["outcome"], "failed", "{failed}");
        assert_eq!(failed["fields"]["cause"], "timeout", "{failed}");
        assert_eq!(failed["fields"]["from_tunnel_id"].as_u64(), Some(a));
        assert_eq!(failed["fields"]["to_tunnel_id"].as_u64(), Some(b));
        assert!(
            relay.dropped.load(Ordering::Relaxed) >= 1,
            "the relay dropped the ICRP"
        );
        // The LNS cleared the half-made session when the LAC's CDN came.
        wait_async(Duration::from_secs(10), || {
            (!lns
                .events("switchover abandoned before it bound")
                .is_empty())
            .then_some(())
        })
        .await
        .expect("the LNS drops the half-made session");
        // user1 is still in A, up, and its stream flows through it.
        assert_eq!(tunnel_of("user1"), a);
        let echoed = |i: u32| streams.counts().get(&i).map_or(0, |c| c.echoed[1]);
        let before = echoed(1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(echoed(1) >= before + 10, "user1's stream keeps flowing");

        // The relay turns friendly: a later attempt (the periodic re-plan) commits.
        relay.hostile.store(false, Ordering::Relaxed);
        let committed = wait_async(Duration::from_secs(45), || {
            lac.events("live session move").into_iter().find(|e| {
                e["fields"]["subscriber"] == "user1" && e["fields"]["outcome"] == "committed"
            })
        })
        .await
        .unwrap_or_else(|| panic!("no later move of user1 committed:\n{}", lac.log()));
        assert_eq!(committed["fields"]["to_tunnel_id"].as_u64(), Some(b));
        assert_eq!(tunnel_of("user1"), b);
        wait_async(Duration::from_secs(10), || {
            (!lac
                .rows(&["tunnels"])
                .iter()
                .any(|t| t["local_tunnel_id"].as_u64() == Some(a) && t["state"] == "established"))
            .then_some(())
        })
        .await
        .expect("tunnel A closes once empty");
        tokio::time::sleep(Duration::from_secs(3)).await;
        streams.phase.store(PHASE_STOP, Ordering::Relaxed);
        for task in tasks {
            let s = task.await.unwrap();
            assert!(s.down().is_none(), "{} went down", s.name());
            let _ = s.logout().await;
        }
    })
    .unwrap();
    streams.server_stop.store(true, Ordering::Relaxed);
    relay.stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();

    let c = streams.counts()[&1];
    let w = usize::from(PHASE_WINDOW);
    eprintln!(
        "user1 across a failed and a committed move: {} sent, {} at the server, {} echoed; \
         {} ICRP transmissions dropped by the relay",
        c.sent[w],
        c.at_server[w],
        c.echoed[w],
        relay.dropped.load(Ordering::Relaxed)
    );
    assert!(c.sent[w] > 100);
    assert_eq!(c.at_server[w], c.sent[w], "no upstream loss");
    assert_eq!(c.echoed[w], c.sent[w], "no round-trip loss");
    let c3 = streams.counts()[&3];
    assert_eq!(
        c3.echoed[w], c3.sent[w],
        "user3 in the target tunnel lost nothing"
    );
}
