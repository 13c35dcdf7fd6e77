//! Network namespace topologies and small servers for the end-to-end tests: a subscriber
//! namespace and a concentrator namespace (where the daemon runs) joined by the access veth pair,
//! optionally a server namespace behind the concentrator; a UDP echo server and plain UDP sockets
//! inside a namespace.
//!
//! ```text
//!  ns sub                   ns conc                                  ns srv
//!  sub_if ──veth── conc_if  (daemon)  up_if 10.2.0.1 ──veth── srv_if 10.2.0.2
//! ```
//!
//! Everything is created inside namespaces the test owns (deleted on drop); interface names carry
//! the test's tag and the process ID, so parallel test binaries never collide.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use l2tpagg::runtime::netns::NamedNetns;

use super::netns;

/// The server's address in the server namespace (its route to the subscribers' pool goes through
/// the concentrator's 10.2.0.1).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);

/// How subscribers reach the concentrator.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// L2TP dial-in over IP: the subscriber's end is 10.1.0.2/24, the concentrator's 10.1.0.1/24.
    Ip,
    /// PPPoE: bare Ethernet, no addresses; the concentrator's end gets this MAC.
    Ethernet { conc_mac: &'static str },
}

/// Two namespaces, the subscribers' and the concentrator's, joined by the access veth pair.
pub struct AccessPair {
    pub sub: NamedNetns,
    pub conc: NamedNetns,
    /// The subscribers' end of the access veth (in `sub`).
    pub sub_if: String,
    /// The daemon's end of the access veth (in `conc`).
    pub conc_if: String,
}

impl AccessPair {
    /// Namespaces `{tag}-sub` and `{tag}-conc` and the access veth pair, up, as `access` says.
    pub fn new(tag: &str, access: Access) -> AccessPair {
        let sub = netns(&format!("{tag}-sub"));
        let conc = netns(&format!("{tag}-conc"));
        let id = std::process::id() % 100_000;
        let (sub_if, conc_if) = (format!("{tag}s{id}"), format!("{tag}c{id}"));
        veth_pair(&sub_if, &sub, &conc_if, &conc);
        match access {
            Access::Ip => {
                for (ns, dev, addr) in [
                    (&sub, &sub_if, "10.1.0.2/24"),
                    (&conc, &conc_if, "10.1.0.1/24"),
                ] {
                    ns.ip(&["addr", "add", addr, "dev", dev]).unwrap();
                    ns.ip(&["link", "set", dev, "up"]).unwrap();
                }
            }
            Access::Ethernet { conc_mac } => {
                conc.ip(&["link", "set", &conc_if, "address", conc_mac])
                    .unwrap();
                sub.ip(&["link", "set", &sub_if, "up"]).unwrap();
                conc.ip(&["link", "set", &conc_if, "up"]).unwrap();
            }
        }
        AccessPair {
            sub,
            conc,
            sub_if,
            conc_if,
        }
    }
}

/// Three namespaces joined by veth pairs, forwarding on in the concentrator.
pub struct Topology {
    pub sub: NamedNetns,
    pub conc: NamedNetns,
    pub srv: NamedNetns,
    /// The subscribers' end of the access veth (in `sub`).
    pub sub_if: String,
    /// The daemon's end of the access veth (in `conc`).
    pub conc_if: String,
}

impl Topology {
    /// The [`AccessPair`] (`{tag}-sub`, `{tag}-conc`) and a server namespace `{tag}-srv` behind
    /// the concentrator: 10.2.0.1 in `conc`, [`SERVER`] in `srv`, which routes 100.64.0.0/16 back
    /// via the concentrator.
    pub fn new(tag: &str, access: Access) -> Topology {
        let AccessPair {
            sub,
            conc,
            sub_if,
            conc_if,
        } = AccessPair::new(tag, access);
        let srv = netns(&format!("{tag}-srv"));
        let id = std::process::id() % 100_000;
        let (up_if, srv_if) = (format!("{tag}d{id}"), format!("{tag}v{id}"));
        veth_pair(&up_if, &conc, &srv_if, &srv);
        for (ns, dev, addr) in [
            (&conc, &up_if, "10.2.0.1/24"),
            (&srv, &srv_if, "10.2.0.2/24"),
        ] {
            ns.ip(&["addr", "add", addr, "dev", dev]).unwrap();
            ns.ip(&["link", "set", dev, "up"]).unwrap();
        }
        srv.ip(&["route", "add", "100.64.0.0/16", "via", "10.2.0.1"])
            .unwrap();
        enable_forwarding(&conc);
        Topology {
            sub,
            conc,
            srv,
            sub_if,
            conc_if,
        }
    }
}

/// A veth pair with end `a` in `ns_a` and end `b` in `ns_b`.
pub fn veth_pair(a: &str, ns_a: &NamedNetns, b: &str, ns_b: &NamedNetns) {
    let args = [
        "link",
        "add",
        a,
        "netns",
        ns_a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b,
        "netns",
        ns_b.name(),
    ];
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

/// IPv4 forwarding on in `ns`.
pub fn enable_forwarding(ns: &NamedNetns) {
    let st = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "enable forwarding in namespace {}", ns.name());
}

/// A UDP socket bound to `addr` inside `ns`.
pub fn udp_socket_in(ns: &NamedNetns, addr: SocketAddrV4) -> UdpSocket {
    ns.run(move || UdpSocket::bind(addr))
        .unwrap()
        .unwrap_or_else(|e| panic!("bind {addr} in {}: {e}", ns.name()))
}

/// A UDP echo server (every datagram goes back to its sender) on a thread, until stopped or
/// dropped.
pub struct EchoServer {
    running: Arc<AtomicBool>,
}

impl EchoServer {
    /// Binds `addr` inside `ns` and starts echoing.
    pub fn start(ns: &NamedNetns, addr: SocketAddrV4) -> EchoServer {
        let socket = udp_socket_in(ns, addr);
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        });
        EchoServer { running }
    }

    /// Stops echoing (within the socket's 100 ms read timeout).
    pub fn stop(&self) {
        self.running.store(false, Ordering::Relaxed);
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
