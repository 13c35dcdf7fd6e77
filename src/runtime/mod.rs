//! The only IO in l2tpagg: UDP sockets, AF_PACKET, TUN, the clock, signals, systemd, logging and the
//! ctl server. It carries bytes between the kernel and the actor or the data plane and makes no
//! protocol decisions.
//!
//! Owns: every file descriptor the daemon opens and its tokio registration ([`tokio::io::unix::AsyncFd`]
//! over the non-blocking descriptors that [`crate::sys`] creates), process-level concerns (signals,
//! sd-notify, the tracing subscriber, shutdown coordination) and the subcommand entry points in
//! [`entry`]. Must not touch: protocol state (wire, l2tp, ppp, pppoe), the actor's tables.
//!
//! | module          | what it gives the daemon                                                         |
//! |-----------------|----------------------------------------------------------------------------------|
//! | [`clock`]       | the one place that reads the clock                                               |
//! | [`udp`]         | [`udp::UdpEndpoint`]: socket2 bind, big buffers, receive with the local address, send from it |
//! | [`tun`]         | [`tun::TunDevice`]: create and configure a TUN device, read/write IP packets, routes  |
//! | [`packet`]      | [`packet::PacketSocket`]: AF_PACKET bound to an interface and an ethertype       |
//! | [`signals`]     | [`signals::Signals`]: SIGHUP as reload, SIGTERM/SIGINT as shutdown               |
//! | [`systemd`]     | [`systemd::SystemdNotifier`]: READY/STATUS/STOPPING/WATCHDOG, no-op outside systemd |
//! | [`logging`]     | tracing init (text, JSON, journald) and [`logging::RateLimitedLog`]              |
//! | [`shutdown`]    | [`shutdown::ShutdownCoordinator`]: broadcast stop plus a bounded drain            |
//! | [`ctl_server`]  | [`ctl_server::CtlServer`]: the Unix control socket, one JSON request per connection |
//! | [`privileges`]  | probes for TUN and AF_PACKET so the daemon can run without them                  |
//! | [`netns`]       | run code inside a named network namespace from a dedicated thread (tests, tools) |
//! | [`daemon`]      | the daemon's wiring: sockets, TUN, ctl, actor, tasks, signals, shutdown order    |
//! | [`receive`]     | the receive loop the socket tasks share: wait for one, drain a burst, stop on shutdown |
//! | [`udp_task`]    | the receive loop of one L2TP socket: control to the actor, data to the data plane |
//! | [`packet_task`] | the receive loops of one PPPoE interface: Discovery to the actor, sessions to the data plane |
//! | [`tun_task`]    | the receive loop of the TUN device                                               |
//! | [`entry`]       | one function per CLI subcommand, called by `main.rs`                             |

pub mod clock;
pub mod ctl_server;
pub mod daemon;
pub mod entry;
pub mod logging;
pub mod netns;
pub mod packet;
pub mod packet_task;
pub mod privileges;
pub mod receive;
pub mod shutdown;
pub mod signals;
pub mod systemd;
pub mod tun;
pub mod tun_task;
pub mod udp;
pub mod udp_task;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while setting up or running the daemon's IO. Each variant names the
/// object (address, device, path) and the operation, so one log line says what failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A UDP socket operation failed.
    #[error("UDP {addr}: {op}: {source}")]
    Udp {
        /// The local address the socket is (or was to be) bound to.
        addr: SocketAddr,
        /// What was being done.
        op: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// A UDP socket could not be bound to its network device (SO_BINDTODEVICE).
    #[error("UDP {addr}: bind to device {device:?}: {}", device_failure(source))]
    Device {
        /// The local address the socket was to be bound to.
        addr: SocketAddr,
        /// The device named by the configuration.
        device: String,
        /// The system error.
        source: io::Error,
    },
    /// A `lac.lines` entry's socket could not be bound to the line's device: the daemon refuses to
    /// start rather than let the line's tunnels leave on whatever uplink routing picks.
    #[error(
        "{key} = {device:?}: line `{line}` cannot use device {device:?}: {}; refusing to start \
         rather than send the line's tunnels over another uplink",
        device_failure(source)
    )]
    LineDevice {
        /// The configuration key, e.g. `lac.lines[0].device`.
        key: String,
        /// The line's name.
        line: String,
        /// The device named by the configuration.
        device: String,
        /// The system error.
        source: io::Error,
    },
    /// A TUN device operation failed.
    #[error("TUN {device}: {op}: {source}")]
    Tun {
        /// The device name (or the requested template).
        device: String,
        /// What was being done.
        op: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// An AF_PACKET socket operation failed.
    #[error("AF_PACKET on {interface}: {op}: {source}")]
    Packet {
        /// The interface name.
        interface: String,
        /// What was being done.
        op: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// The control socket could not be set up.
    #[error("control socket {path}: {op}: {source}")]
    CtlSocket {
        /// The socket path.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("signal handler: {0}")]
    Signals(io::Error),
    /// The tracing subscriber could not be installed.
    #[error("logging: {0}")]
    Logging(String),
    /// The usage ledger could not be opened (locked by another daemon, unwritable directory).
    #[error("usage ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    /// A network namespace could not be entered.
    #[error("network namespace {name}: {source}")]
    Netns {
        /// The namespace name or path.
        name: String,
        /// The system error.
        source: io::Error,
    },
}

/// What a failed SO_BINDTODEVICE means to an operator: the two expected causes in words, anything
/// else as the system error.
fn device_failure(source: &io::Error) -> String {
    match source.raw_os_error() {
        Some(libc::ENODEV) => format!("no such network device ({source})"),
        Some(libc::EPERM) => {
            format!("not permitted; SO_BINDTODEVICE needs CAP_NET_RAW on this kernel ({source})")
        }
        _ => format!("SO_BINDTODEVICE: {source}"),
    }
}
