//! Shared by the live-switchover tests: an LNS process and a LAC process (`l2tpagg run` each) in
//! one network namespace, subscribers dialling in through the load generator's library, and
//! continuous UDP streams between each subscriber and a server behind the LNS's TUN device, with
//! per-subscriber counts of what was sent, what the server got and what came back.
//!
//! ```text
//!  loadgen (subscribers' LACs) ──L2TP──▶ LAC process ══tunnels══▶ LNS process ──TUN──▶ 10.9.0.1
//!  127.0.0.1:*                   127.0.0.1:DIALIN            127.0.0.1:LNS                UDP echo
//! ```

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l2tpagg::loadgen::{Subscriber, ip::parse_udp};

/// The UDP echo server's address (on the namespace's loopback, reached through the TUN device).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
/// Its port.
pub const SERVER_PORT: u16 = 5555;

/// `[[subscriber_range]]` entries: `user1..=N` with levels 1M, 2M and 3M (a mix the planner has
/// to pack), all consolidation customers.
pub fn subscribers(count: u64) -> String {
    let a = count / 2;
    let b = count * 3 / 10;
    let c = count - a - b;
    let range = |first: u64, n: u64, level: &str| {
        format!(
            "[[subscriber_range]]\nprefix = \"user\"\nfirst = {first}\ncount = {n}\nsecret = \"demo\"\n\
             service_level = \"{level}\"\ncontract = {{ consolidation = true }}\n"
        )
    };
    format!(
        "{}{}{}",
        range(1, a, "1M"),
        range(1 + a, b, "2M"),
        range(1 + a + b, c, "3M")
    )
}

/// The LNS process: tunnels from loopback, a pool for the subscribers, the TUN device.
pub fn lns_config(daemon: &str, port: u16, tun: &str, subscribers: &str) -> String {
    format!(
        "{daemon}\n[lns]\nlisten = [\"127.0.0.1:{port}\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"{tun}\"\n\
         [[lns.peers]]\nname = \"lac\"\naddress = \"127.0.0.0/8\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.8.0/22\"]\ndefault = true\n{subscribers}"
    )
}

/// The LAC process: a dial-in front-end, one line, one LNS peer whose tunnels hold at most
/// `per_tunnel` sessions and 12 Mbit/s, and a planner that acts within seconds.
pub fn lac_config(
    daemon: &str,
    lns: &str,
    dialin_port: u16,
    per_tunnel: u32,
    extra: &str,
    subscribers: &str,
) -> String {
    format!(
        "{daemon}\n[lac]\nempty_tunnel_linger = \"1s\"\nsetup_timeout = \"5s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"{lns}\"\nrealms = [\"*\"]\n\
         tunnel_capacity = \"12M\"\nmax_sessions_per_tunnel = {per_tunnel}\nmax_tunnels = 64\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:{dialin_port}\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.0/8\"\n\
         [planner]\nreplan_interval = \"2s\"\nmin_dwell = \"1s\"\nmove_timeout = \"5s\"\n\
         migration_budget = 64\n{extra}{subscribers}"
    )
}

/// What a stream's packets say about the test's phase when they were sent.
pub const PHASE_WARMUP: u8 = 0;
/// Sent inside the measured window (the moves happen in it).
pub const PHASE_WINDOW: u8 = 1;
/// Sent after it.
pub const PHASE_AFTER: u8 = 2;
/// Stop sending.
pub const PHASE_STOP: u8 = 3;

/// Per-subscriber, per-phase counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub sent: [u64; 3],
    pub at_server: [u64; 3],
    pub echoed: [u64; 3],
}

/// The streams of all subscribers and the echo server's view.
#[derive(Default)]
pub struct Streams {
    pub phase: AtomicU8,
    pub counts: Mutex<HashMap<u32, Counts>>,
    pub server_stop: AtomicBool,
}

impl Streams {
    pub fn counts(&self) -> HashMap<u32, Counts> {
        self.counts.lock().unwrap().clone()
    }
}

/// The payload of a stream packet: subscriber index, sequence number, phase.
fn payload(index: u32, seq: u32, phase: u8) -> [u8; 9] {
    let mut p = [0u8; 9];
    p[..4].copy_from_slice(&index.to_be_bytes());
    p[4..8].copy_from_slice(&seq.to_be_bytes());
    p[8] = phase;
    p
}

fn parse_payload(p: &[u8]) -> Option<(u32, u32, u8)> {
    if p.len() != 9 || p[8] > PHASE_AFTER {
        return None;
    }
    Some((
        u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
        u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        p[8],
    ))
}

/// The echo server: counts what each subscriber sent and sends it back. Runs on its own thread
/// until `streams.server_stop`.
pub fn spawn_echo_server(socket: UdpSocket, streams: Arc<Streams>) -> std::thread::JoinHandle<()> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !streams.server_stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Some((index, _, phase)) = parse_payload(&buf[..n]) else {
                continue;
            };
            streams
                .counts
                .lock()
                .unwrap()
                .entry(index)
                .or_default()
                .at_server[usize::from(phase)] += 1;
            let _ = socket.send_to(&buf[..n], from);
        }
    })
}

/// One subscriber's stream: a datagram every `interval` to the server, echoes counted, until
/// `leave` is set (at once) or the phase says stop (then a short drain for stragglers). Returns
/// the subscriber for its logout.
pub async fn stream(
    mut sub: Subscriber,
    index: u32,
    interval: Duration,
    streams: Arc<Streams>,
    leave: Arc<AtomicBool>,
) -> Subscriber {
    let server = SocketAddrV4::new(SERVER, SERVER_PORT);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u32;
    let mut draining_until: Option<tokio::time::Instant> = None;
    loop {
        let drain_done = async {
            match draining_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick(), if draining_until.is_none() => {
                if leave.load(Ordering::Relaxed) {
                    break;
                }
                let phase = streams.phase.load(Ordering::Relaxed);
                if phase >= PHASE_STOP {
                    draining_until = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                    continue;
                }
                if sub.send_udp(server, 40000, &payload(index, seq, phase)).await.is_err() {
                    break;
                }
                streams.counts.lock().unwrap().entry(index).or_default().sent[usize::from(phase)] += 1;
                seq += 1;
            }
            packet = sub.recv_ip() => {
                let Ok(packet) = packet else { break };
                if let Some(u) = parse_udp(&packet)
                    && let Some((i, _, phase)) = parse_payload(u.payload)
                    && i == index
                {
                    streams.counts.lock().unwrap().entry(index).or_default().echoed[usize::from(phase)] += 1;
                }
            }
            () = drain_done => break,
        }
    }
    sub
}

/// Adds the server's address to the namespace's loopback.
pub fn add_server_address(ns: &l2tpagg::runtime::netns::NamedNetns) {
    ns.ip(&["addr", "add", &format!("{SERVER}/32"), "dev", "lo"])
        .expect("server address");
}

/// Polls `f` (a quick blocking check, e.g. a ctl call) every 200 ms without blocking the async
/// runtime the subscribers run on, until it gives `Some` or `timeout` passes.
pub async fn wait_async<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
