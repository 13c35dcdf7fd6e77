//! The file layer: serde structs that mirror the TOML, one per table, with `deny_unknown_fields`,
//! a doc comment on every key and a named default function for every optional key.
//!
//! Sections without cross-references ([`DaemonConfig`], [`L2tpConfig`], [`PppConfig`],
//! [`PlannerConfig`], [`TunConfig`], [`ResumeConfig`], [`LedgerConfig`]) are already the typed
//! result and are re-exported as such. Sections that name other items (pools, lines, peers,
//! profiles, plans) are read into the `*Section`/`*Entry` structs here and resolved by the
//! validator into the types in `model`.
//!
//! config/l2tpagg.toml documents the same keys for operators; keep the two in step.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::units::{self, Endpoint, Ipv4Range, Network, PortRange};

// ---------------------------------------------------------------------------------------------
// Small enums shared with the typed model

/// A path setting that may be left to the daemon: `"auto"` or a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSetting {
    /// Let the daemon choose from a documented list of candidates (see
    /// [`DaemonConfig::state_dir_candidates`] and [`DaemonConfig::ctl_socket_candidates`]).
    Auto,
    /// This path. A relative path in a file is resolved against that file's directory at load.
    Path(PathBuf),
}

impl<'de> Deserialize<'de> for PathSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "auto" {
            Ok(PathSetting::Auto)
        } else if s.is_empty() {
            Err(serde::de::Error::custom(
                "empty path; write \"auto\" or a path",
            ))
        } else {
            Ok(PathSetting::Path(PathBuf::from(s)))
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// PPP authentication protocols the authenticator may request (LCP Authentication-Protocol,
/// RFC 1661 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// PAP, RFC 1334. Works with cleartext and hashed secrets.
    Pap,
    /// CHAP with MD5, RFC 1994. Needs cleartext secrets.
    ChapMd5,
}

/// Which packets count as activity for the idle condition (B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A packet either way resets the idle timer.
    #[default]
    Either,
    /// Only packets sent by the subscriber count.
    FromSubscriber,
    /// Only packets sent to the subscriber count.
    ToSubscriber,
}

/// Which session is cut when a simultaneous-login limit (D) is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Victim {
    /// The session that logged in first.
    #[default]
    Earliest,
    /// The session whose subscriber has the lowest `disconnect_order` rank (ties: earliest).
    Order,
}

/// What happens to a login that exceeds a simultaneous-login limit (D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LoginPolicy {
    /// Accept the new login and cut a victim chosen by [`Victim`].
    #[default]
    Cut,
    /// Refuse the new login; existing sessions stay.
    Refuse,
}

/// Transport protocol of an application service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

/// What the consolidation-service fee is counted by (seed 000 claim 1: "according to the number
/// of tunnels or the number of physical communication lines"), for each subscriber of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsolidationBasis {
    /// Per tunnel-hour: for each tunnel, the time at least one of the subscriber's sessions was in
    /// it, summed over tunnels. Sessions packed into one tunnel cost one tunnel's time, and a
    /// session moved between tunnels costs its time once.
    #[default]
    Tunnel,
    /// Per line-hour, likewise per physical line.
    Line,
}

/// Unit of time for per-time charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// 60 seconds of session time; partial units are rounded up.
    Minute,
    /// 3600 seconds of session time; partial units are rounded up.
    Hour,
}

/// Unit of volume for per-volume charges (decimal: 1 MB = 10^6 bytes, both directions summed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeUnit {
    /// 10^6 bytes; partial units are rounded up.
    Megabyte,
    /// 10^9 bytes; partial units are rounded up.
    Gigabyte,
}

/// Unit of use for a metered supplementary-contract fee. The use metered is the account's use of
/// its private lines (seed 000 claim 19: "the amount of use when a communication path ... was
/// reserved on" the private line), summed over the period and then rounded up once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterUnit {
    /// Per started minute in which at least one of the account's sessions was on a private line.
    Minute,
    /// Per started hour in which at least one of the account's sessions was on a private line.
    Hour,
    /// Per started 10^6 bytes of the account's traffic (both ways) on private lines.
    Megabyte,
    /// Per started 10^9 bytes of the account's traffic (both ways) on private lines.
    Gigabyte,
}

// ---------------------------------------------------------------------------------------------
// [daemon]

/// `[daemon]`: process-wide settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Directory for durable state (the usage ledger, unless `billing.ledger.directory` is
    /// absolute). `"auto"` picks the first usable of [`DaemonConfig::state_dir_candidates`].
    #[serde(default = "default_state_dir")]
    pub state_dir: PathSetting,
    /// Path of the control socket (a Unix socket created 0600). `"auto"` picks the first usable of
    /// [`DaemonConfig::ctl_socket_candidates`]; `l2tpagg ctl --socket` overrides it on the client.
    #[serde(default = "default_ctl_socket")]
    pub ctl_socket: PathSetting,
    /// Log format: `"text"` or `"json"`. `--log-format` on the command line wins. Under systemd
    /// the daemon logs to journald whatever this says.
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
    /// Log filter in tracing's EnvFilter syntax (`"info"`, `"l2tpagg=debug,info"`). `RUST_LOG`
    /// wins when set.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// How long SIGTERM waits for CDN/StopCCN exchanges and the final ledger flush before the
    /// process exits anyway.
    #[serde(
        default = "default_shutdown_grace",
        deserialize_with = "units::duration"
    )]
    pub shutdown_grace: Duration,
    /// Ping the systemd watchdog (at half of `WATCHDOG_USEC`) when systemd asks for it.
    #[serde(default = "default_true")]
    pub watchdog: bool,
    /// Bound of the state actor's command queue; senders wait when it is full.
    #[serde(
        default = "default_command_queue",
        deserialize_with = "units::ranged::<_, 16, 1048576, u32>"
    )]
    pub command_queue: u32,
    /// Minimum interval between two log lines about malformed packets from one source; the rest
    /// are counted, and the count is logged with the next line.
    #[serde(
        default = "default_malformed_log_interval",
        deserialize_with = "units::duration"
    )]
    pub malformed_log_interval: Duration,
}

fn default_state_dir() -> PathSetting {
    PathSetting::Auto
}
fn default_ctl_socket() -> PathSetting {
    PathSetting::Auto
}
fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_log_level() -> String {
    "info".to_owned()
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}
fn default_true() -> bool {
    true
}
fn default_false() -> bool {
    false
}
fn default_command_queue() -> u32 {
    4096
}
fn default_malformed_log_interval() -> Duration {
    Duration::from_secs(10)
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            state_dir: default_state_dir(),
            ctl_socket: default_ctl_socket(),
            log_format: default_log_format(),
            log_level: default_log_level(),
            shutdown_grace: default_shutdown_grace(),
            watchdog: default_true(),
            command_queue: default_command_queue(),
            malformed_log_interval: default_malformed_log_interval(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [l2tp]

/// `[l2tp]`: the L2TP control channel (RFC 2661), shared by the LAC, the LNS and dial-in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2tpConfig {
    /// Host Name AVP we send (§4.4.3).
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Vendor Name AVP we send (§4.4.3).
    #[serde(default = "default_vendor_name")]
    pub vendor_name: String,
    /// Receive Window Size we advertise (§4.4.3, §5.8); 1 to 32767 so that sequence comparison
    /// modulo 2^16 stays unambiguous.
    #[serde(
        default = "default_receive_window",
        deserialize_with = "units::ranged::<_, 1, 32767, u16>"
    )]
    pub receive_window: u16,
    /// How long to wait for a message to piggy-back an acknowledgement on before sending a ZLB
    /// (§5.8). Must be shorter than `retransmit_initial`.
    #[serde(default = "default_ack_delay", deserialize_with = "units::duration")]
    pub ack_delay: Duration,
    /// First retransmission timeout; it doubles on each retry (§5.8).
    #[serde(
        default = "default_retransmit_initial",
        deserialize_with = "units::duration"
    )]
    pub retransmit_initial: Duration,
    /// Cap on the doubled retransmission timeout (§5.8 recommends 8 s).
    #[serde(
        default = "default_retransmit_cap",
        deserialize_with = "units::duration"
    )]
    pub retransmit_cap: Duration,
    /// Retransmissions before the tunnel is declared dead and torn down (§5.8 recommends 5).
    #[serde(
        default = "default_retransmit_retries",
        deserialize_with = "units::ranged::<_, 1, 100, u32>"
    )]
    pub retransmit_retries: u32,
    /// Send HELLO after this long without any message from the peer (§5.5).
    #[serde(
        default = "default_hello_interval",
        deserialize_with = "units::duration"
    )]
    pub hello_interval: Duration,
    /// How long a tunnel's state is kept after StopCCN to answer retransmissions (§5.7: a full
    /// retransmission cycle, 31 s).
    #[serde(
        default = "default_stopccn_linger",
        deserialize_with = "units::duration"
    )]
    pub stopccn_linger: Duration,
    /// Hide sensitive AVPs (§4.3) when the tunnel has a secret.
    #[serde(default = "default_false")]
    pub hide_avps: bool,
    /// Our SMI vendor ID for vendor AVPs (the AVP header's Vendor ID field is 16 bits, §4.1).
    #[serde(
        default = "default_vendor_id",
        deserialize_with = "units::ranged::<_, 1, 65535, u16>"
    )]
    pub vendor_id: u16,
    /// Advertise the l2tpagg capability AVP (M=0) in SCCRQ/SCCRP. Without it, peers that are
    /// l2tpagg cannot recognise us, and live session moves are off.
    #[serde(default = "default_true")]
    pub advertise_capability: bool,
    /// SO_RCVBUF for every L2TP UDP socket, in bytes. The kernel may cap it (net.core.rmem_max).
    #[serde(
        default = "default_socket_buffer",
        deserialize_with = "units::byte_size"
    )]
    pub socket_recv_buffer: u64,
    /// SO_SNDBUF for every L2TP UDP socket, in bytes.
    #[serde(
        default = "default_socket_buffer",
        deserialize_with = "units::byte_size"
    )]
    pub socket_send_buffer: u64,
}

fn default_hostname() -> String {
    "l2tpagg".to_owned()
}
fn default_vendor_name() -> String {
    "l2tpagg".to_owned()
}
fn default_receive_window() -> u16 {
    16
}
fn default_ack_delay() -> Duration {
    // The l2tp core's default: enough for the actor's turnaround, short enough that a peer with
    // a window of 4 is not stalled waiting for acknowledgements.
    Duration::from_millis(10)
}
fn default_retransmit_initial() -> Duration {
    Duration::from_secs(1)
}
fn default_retransmit_cap() -> Duration {
    Duration::from_secs(8)
}
fn default_retransmit_retries() -> u32 {
    5
}
fn default_hello_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_stopccn_linger() -> Duration {
    Duration::from_secs(31)
}
/// IANA enterprise number 32473, reserved for documentation (RFC 5612); operators with their own
/// number should set it.
fn default_vendor_id() -> u16 {
    32473
}
fn default_socket_buffer() -> u64 {
    4 << 20
}

impl Default for L2tpConfig {
    fn default() -> Self {
        Self {
            hostname: default_hostname(),
            vendor_name: default_vendor_name(),
            receive_window: default_receive_window(),
            ack_delay: default_ack_delay(),
            retransmit_initial: default_retransmit_initial(),
            retransmit_cap: default_retransmit_cap(),
            retransmit_retries: default_retransmit_retries(),
            hello_interval: default_hello_interval(),
            stopccn_linger: default_stopccn_linger(),
            hide_avps: default_false(),
            vendor_id: default_vendor_id(),
            advertise_capability: default_true(),
            socket_recv_buffer: default_socket_buffer(),
            socket_send_buffer: default_socket_buffer(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [ppp]

/// `[ppp]`: PPP as run with subscribers, by the LAC (proxy LCP and authentication) and by the LNS
/// (termination).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppConfig {
    /// Authentication protocols to request, most preferred first: `"chap-md5"`, `"pap"`. The
    /// authenticator requests the first; a peer that Naks it is offered the next (RFC 1661 §6.2).
    /// Subscribers with hashed secrets can only pass PAP.
    #[serde(default = "default_auth")]
    pub auth: Vec<AuthMethod>,
    /// Maximum-Receive-Unit we request (RFC 1661 §6.1). PPPoE sessions are clamped to 1492
    /// (RFC 2516 §7).
    #[serde(
        default = "default_mru",
        deserialize_with = "units::ranged::<_, 128, 16384, u16>"
    )]
    pub mru: u16,
    /// Interval between LCP Echo-Requests on an idle link; `"0s"` turns keepalives off.
    #[serde(
        default = "default_lcp_echo_interval",
        deserialize_with = "units::duration"
    )]
    pub lcp_echo_interval: Duration,
    /// Unanswered Echo-Requests in a row after which the link is declared dead.
    #[serde(
        default = "default_lcp_echo_failures",
        deserialize_with = "units::ranged::<_, 1, 100, u32>"
    )]
    pub lcp_echo_failures: u32,
    /// Restart timer for Configure-Request and Terminate-Request (RFC 1661 §4.6, default 3 s).
    #[serde(
        default = "default_restart_timer",
        deserialize_with = "units::duration"
    )]
    pub restart_timer: Duration,
    /// Max-Configure (RFC 1661 §4.6, default 10).
    #[serde(
        default = "default_max_configure",
        deserialize_with = "units::ranged::<_, 1, 255, u32>"
    )]
    pub max_configure: u32,
    /// Max-Terminate (RFC 1661 §4.6, default 2).
    #[serde(
        default = "default_max_terminate",
        deserialize_with = "units::ranged::<_, 1, 255, u32>"
    )]
    pub max_terminate: u32,
    /// Max-Failure (RFC 1661 §4.6, default 5).
    #[serde(
        default = "default_max_failure",
        deserialize_with = "units::ranged::<_, 1, 255, u32>"
    )]
    pub max_failure: u32,
    /// Time allowed for the authentication phase before the link is closed.
    #[serde(default = "default_auth_timeout", deserialize_with = "units::duration")]
    pub auth_timeout: Duration,
    /// LNS: accept the LAC's proxied LCP and authentication (RFC 2661 §4.4.5) when consistent,
    /// so the subscriber does not negotiate twice. `false` always renegotiates.
    #[serde(default = "default_true")]
    pub accept_proxy: bool,
}

fn default_auth() -> Vec<AuthMethod> {
    vec![AuthMethod::ChapMd5, AuthMethod::Pap]
}
fn default_mru() -> u16 {
    1492
}
fn default_lcp_echo_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_lcp_echo_failures() -> u32 {
    3
}
fn default_restart_timer() -> Duration {
    Duration::from_secs(3)
}
fn default_max_configure() -> u32 {
    10
}
fn default_max_terminate() -> u32 {
    2
}
fn default_max_failure() -> u32 {
    5
}
fn default_auth_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for PppConfig {
    fn default() -> Self {
        Self {
            auth: default_auth(),
            mru: default_mru(),
            lcp_echo_interval: default_lcp_echo_interval(),
            lcp_echo_failures: default_lcp_echo_failures(),
            restart_timer: default_restart_timer(),
            max_configure: default_max_configure(),
            max_terminate: default_max_terminate(),
            max_failure: default_max_failure(),
            auth_timeout: default_auth_timeout(),
            accept_proxy: default_true(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [lns]

/// `[lns]`: the LNS role. The role runs when this table is present, unless `enabled = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LnsSection {
    /// Run the LNS role.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// UDP addresses to accept tunnels on; a bare address means port 1701.
    #[serde(default = "default_lns_listen")]
    pub listen: Vec<Spanned<Endpoint>>,
    /// LACs allowed to open tunnels (`[[lns.peers]]`). The longest matching prefix decides.
    #[serde(default)]
    pub peers: Vec<Spanned<AllowedPeerEntry>>,
    /// Most tunnels open at once, all peers together.
    #[serde(
        default = "default_max_tunnels",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub max_tunnels: u32,
    /// Most sessions in one tunnel (session IDs are 16 bits, 0 reserved).
    #[serde(
        default = "default_max_sessions_per_tunnel",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub max_sessions_per_tunnel: u32,
    /// Most sessions in all tunnels together.
    #[serde(
        default = "default_max_sessions",
        deserialize_with = "units::ranged::<_, 1, 16777216, u32>"
    )]
    pub max_sessions: u32,
    /// Our own IPCP address (RFC 1332 §3.3), the far end of every subscriber's link.
    #[serde(default = "default_local_address", deserialize_with = "units::ipv4")]
    pub local_address: Ipv4Addr,
    /// DNS servers offered by IPCP (RFC 1877): at most two, primary first.
    #[serde(default)]
    pub dns: Vec<Spanned<String>>,
    /// The TUN device that carries subscriber traffic.
    #[serde(default)]
    pub tun: TunConfig,
    /// Address pools (`[[lns.pools]]`).
    #[serde(default)]
    pub pools: Vec<Spanned<PoolEntry>>,
    /// Resume after an automatic disconnect (seed 004's data guarantee).
    #[serde(default)]
    pub resume: ResumeConfig,
}

fn default_lns_listen() -> Vec<Spanned<Endpoint>> {
    vec![Spanned::new(
        0..0,
        Endpoint("127.0.0.1:1701".parse().expect("literal")),
    )]
}
fn default_max_tunnels() -> u32 {
    1024
}
fn default_max_sessions_per_tunnel() -> u32 {
    4096
}
fn default_max_sessions() -> u32 {
    200_000
}
fn default_local_address() -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, 1)
}

impl Default for LnsSection {
    /// An absent `[lns]` table: the role is off.
    fn default() -> Self {
        Self {
            enabled: false,
            listen: default_lns_listen(),
            peers: Vec::new(),
            max_tunnels: default_max_tunnels(),
            max_sessions_per_tunnel: default_max_sessions_per_tunnel(),
            max_sessions: default_max_sessions(),
            local_address: default_local_address(),
            dns: Vec::new(),
            tun: TunConfig::default(),
            pools: Vec::new(),
            resume: ResumeConfig::default(),
        }
    }
}

/// A peer allowed to open tunnels to us (`[[lns.peers]]`, `[[lac.dialin.peers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllowedPeerEntry {
    /// Name used in logs and `ctl`; unique within its list.
    pub name: String,
    /// Source address or network (CIDR) the peer's tunnels come from.
    pub address: Network,
    /// Tunnel secret (RFC 2661 §5.1.1). Absent: tunnels from this peer are not authenticated.
    #[serde(default)]
    pub secret: Option<String>,
    /// If set, the peer's Host Name AVP must equal this.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Most tunnels this peer may hold open at once; absent means only the global limit.
    #[serde(default, deserialize_with = "units::opt_ranged::<_, 1, 65535, u32>")]
    pub max_tunnels: Option<u32>,
}

/// `[lns.tun]`: the one TUN device for all sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunConfig {
    /// Interface name (at most 15 bytes).
    #[serde(default = "default_tun_name")]
    pub name: String,
    /// Device MTU.
    #[serde(
        default = "default_tun_mtu",
        deserialize_with = "units::ranged::<_, 576, 65535, u16>"
    )]
    pub mtu: u16,
    /// Bring the device up and install routes for every pool and static address, and remove
    /// them on exit. `false` leaves routing to the operator.
    #[serde(default = "default_true")]
    pub manage_routes: bool,
}

fn default_tun_name() -> String {
    "l2tpagg0".to_owned()
}
fn default_tun_mtu() -> u16 {
    1500
}

impl Default for TunConfig {
    fn default() -> Self {
        Self {
            name: default_tun_name(),
            mtu: default_tun_mtu(),
            manage_routes: default_true(),
        }
    }
}

/// `[[lns.pools]]`: an IPv4 address pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolEntry {
    /// Unique pool name; subscribers name it in `pool`.
    pub name: String,
    /// Address ranges: CIDRs (`"10.64.0.0/16"`), ranges (`"10.64.0.10-10.64.0.99"`) or single
    /// addresses. Every address is assignable (PPP links are point-to-point).
    pub ranges: Vec<Spanned<Ipv4Range>>,
    /// Addresses inside `ranges` never assigned.
    #[serde(default)]
    pub exclude: Vec<Spanned<Ipv4Range>>,
    /// Realms whose subscribers draw from this pool when they name no pool themselves.
    #[serde(default)]
    pub realms: Vec<Spanned<String>>,
    /// The pool for subscribers that name no pool and whose realm no pool lists. At most one.
    #[serde(default = "default_false")]
    pub default: bool,
}

/// `[lns.resume]`: after an automatic disconnect, keep the address and buffer packets for a
/// while, so a re-login resumes where it was (seed 004).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeConfig {
    /// How long the address stays reserved for the subscriber; `"0s"` turns resume off.
    #[serde(default = "default_resume_grace", deserialize_with = "units::duration")]
    pub grace: Duration,
    /// Most packets buffered for one subscriber while away.
    #[serde(
        default = "default_resume_packets",
        deserialize_with = "units::ranged::<_, 0, 65536, u32>"
    )]
    pub buffer_packets: u32,
    /// Most bytes buffered for one subscriber while away.
    #[serde(
        default = "default_resume_bytes",
        deserialize_with = "units::byte_size"
    )]
    pub buffer_bytes: u64,
    /// Most bytes buffered for all subscribers together; beyond it new packets are dropped and
    /// counted.
    #[serde(
        default = "default_resume_total",
        deserialize_with = "units::byte_size"
    )]
    pub total_bytes: u64,
}

fn default_resume_grace() -> Duration {
    Duration::from_secs(120)
}
fn default_resume_packets() -> u32 {
    64
}
fn default_resume_bytes() -> u64 {
    64 << 10
}
fn default_resume_total() -> u64 {
    64 << 20
}

impl Default for ResumeConfig {
    fn default() -> Self {
        Self {
            grace: default_resume_grace(),
            buffer_packets: default_resume_packets(),
            buffer_bytes: default_resume_bytes(),
            total_bytes: default_resume_total(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [lac]

/// `[lac]`: the LAC role. The role runs when this table is present, unless `enabled = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LacSection {
    /// Run the LAC role.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Physical uplinks (`[[lac.lines]]`).
    #[serde(default)]
    pub lines: Vec<Spanned<LineEntry>>,
    /// LNS peers (`[[lac.peers]]`).
    #[serde(default)]
    pub peers: Vec<Spanned<LacPeerEntry>>,
    /// Close a tunnel (StopCCN) once it has carried no session for this long.
    #[serde(
        default = "default_empty_tunnel_linger",
        deserialize_with = "units::duration"
    )]
    pub empty_tunnel_linger: Duration,
    /// Give up on a tunnel or session setup toward a peer after this long, and try the next peer.
    #[serde(
        default = "default_setup_timeout",
        deserialize_with = "units::duration"
    )]
    pub setup_timeout: Duration,
    /// Default for `lac.peers[].hold_down`.
    #[serde(default = "default_hold_down", deserialize_with = "units::duration")]
    pub hold_down: Duration,
    /// PPPoE front-end.
    #[serde(default)]
    pub pppoe: PppoeSection,
    /// L2TP dial-in front-end.
    #[serde(default)]
    pub dialin: DialinSection,
}

fn default_empty_tunnel_linger() -> Duration {
    Duration::from_secs(60)
}
fn default_setup_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_hold_down() -> Duration {
    Duration::from_secs(30)
}

impl Default for LacSection {
    /// An absent `[lac]` table: the role is off.
    fn default() -> Self {
        Self {
            enabled: false,
            lines: Vec::new(),
            peers: Vec::new(),
            empty_tunnel_linger: default_empty_tunnel_linger(),
            setup_timeout: default_setup_timeout(),
            hold_down: default_hold_down(),
            pppoe: PppoeSection::default(),
            dialin: DialinSection::default(),
        }
    }
}

/// `[[lac.lines]]`: a physical uplink that tunnels leave on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineEntry {
    /// Unique line name.
    pub name: String,
    /// Local address tunnels on this line are sent from.
    #[serde(deserialize_with = "ip_addr")]
    pub bind: IpAddr,
    /// Network device the line's UDP socket is bound to (SO_BINDTODEVICE): its tunnels leave and
    /// are received only through this uplink, whatever the routing table prefers. Absent: routing
    /// decides. Applied at start; a device that does not exist, or no privilege to bind (CAP_NET_RAW
    /// on kernels before 5.7), stops the start with an error naming the line. A reload that changes
    /// it is reported as needing a restart (`lac.lines.device`); the running socket keeps its device.
    #[serde(default)]
    pub device: Option<String>,
    /// Capacity in bit/s (integer, or a string such as `"1G"`).
    #[serde(deserialize_with = "units::bandwidth")]
    pub capacity: u64,
    /// What the line costs per month, in minor units. Absent: `billing.tariff.line_month`.
    #[serde(default, deserialize_with = "units::opt_money")]
    pub cost_per_month: Option<i64>,
    /// Reserve this line for one paying account's supplementary contract (seed 000 claim 17):
    /// only that account's sessions use it.
    #[serde(default)]
    pub private_account: Option<String>,
}

fn ip_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    let s = String::deserialize(d)?;
    IpAddr::from_str(s.trim())
        .map_err(|_| serde::de::Error::custom(format!("invalid IP address {s:?}")))
}

/// `[[lac.peers]]`: an LNS we open tunnels to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LacPeerEntry {
    /// Unique peer name.
    pub name: String,
    /// The LNS's UDP address; a bare address means port 1701.
    pub address: Endpoint,
    /// Realms this peer serves; `"*"` is the catch-all for realms no peer names and for logins
    /// without a realm.
    #[serde(default = "default_realms")]
    pub realms: Vec<Spanned<String>>,
    /// Lower is preferred; peers with the same preference share load by `weight`.
    #[serde(
        default = "default_preference",
        deserialize_with = "units::ranged::<_, 0, 65535, u32>"
    )]
    pub preference: u32,
    /// Relative share of new tunnels among peers of equal preference.
    #[serde(
        default = "default_weight",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub weight: u32,
    /// Tunnel secret (RFC 2661 §5.1.1); absent: no tunnel authentication.
    #[serde(default)]
    pub secret: Option<String>,
    /// Bandwidth one tunnel to this peer may carry (sum of its sessions' service levels).
    #[serde(
        default = "default_tunnel_capacity",
        deserialize_with = "units::bandwidth"
    )]
    pub tunnel_capacity: u64,
    /// Most sessions in one tunnel to this peer.
    #[serde(
        default = "default_max_sessions_per_tunnel",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub max_sessions_per_tunnel: u32,
    /// Most tunnels open to this peer at once.
    #[serde(
        default = "default_peer_max_tunnels",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub max_tunnels: u32,
    /// Lines tunnels to this peer may use; empty: every line.
    #[serde(default)]
    pub lines: Vec<Spanned<String>>,
    /// After this peer refuses or does not answer, skip it for this long. Absent: `lac.hold_down`.
    #[serde(default, deserialize_with = "units::opt_duration")]
    pub hold_down: Option<Duration>,
}

fn default_realms() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "*".to_owned())]
}
fn default_preference() -> u32 {
    100
}
fn default_weight() -> u32 {
    1
}
fn default_tunnel_capacity() -> u64 {
    1_000_000_000
}
fn default_peer_max_tunnels() -> u32 {
    64
}

/// `[lac.pppoe]`: the PPPoE front-end (RFC 2516).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PppoeSection {
    /// Access interfaces to serve; empty turns the front-end off.
    #[serde(default)]
    pub interfaces: Vec<Spanned<String>>,
    /// AC-Name tag in PADO (RFC 2516 §5.2).
    #[serde(default = "default_ac_name")]
    pub ac_name: String,
    /// Service-Name tags we offer and accept; empty accepts any (RFC 2516 §5.1).
    #[serde(default)]
    pub service_names: Vec<Spanned<String>>,
    /// Most sessions from one subscriber MAC address.
    #[serde(
        default = "default_sessions_per_mac",
        deserialize_with = "units::ranged::<_, 1, 65534, u16>"
    )]
    pub max_sessions_per_mac: u16,
    /// Most sessions on one interface (PPPoE session IDs 1-65534).
    #[serde(
        default = "default_sessions_per_interface",
        deserialize_with = "units::ranged::<_, 1, 65534, u16>"
    )]
    pub max_sessions_per_interface: u16,
    /// Key of the AC-Cookie HMAC that binds a PADR to its PADI's MAC: 32 bytes as 64 hex digits.
    /// Absent: a random key is drawn at start, and cookies from before a restart are refused.
    #[serde(default)]
    pub cookie_secret: Option<String>,
    /// Length of one AC-Cookie time bucket; a cookie is accepted for one to two buckets after
    /// the PADO that carried it.
    #[serde(
        default = "default_cookie_bucket",
        deserialize_with = "units::duration"
    )]
    pub cookie_bucket: Duration,
    /// PADTs per second sent in answer to session frames for unknown session IDs (so a host
    /// that kept a session across our restart rediscovers at once); 0 disables.
    #[serde(
        default = "default_unknown_session_padt_rate",
        deserialize_with = "units::ranged::<_, 0, 100000, u32>"
    )]
    pub unknown_session_padt_per_second: u32,
}

fn default_ac_name() -> String {
    "l2tpagg".to_owned()
}
fn default_sessions_per_mac() -> u16 {
    4
}
fn default_sessions_per_interface() -> u16 {
    8192
}
fn default_cookie_bucket() -> Duration {
    Duration::from_secs(30)
}
fn default_unknown_session_padt_rate() -> u32 {
    10
}

impl Default for PppoeSection {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            ac_name: default_ac_name(),
            service_names: Vec::new(),
            max_sessions_per_mac: default_sessions_per_mac(),
            max_sessions_per_interface: default_sessions_per_interface(),
            cookie_secret: None,
            cookie_bucket: default_cookie_bucket(),
            unknown_session_padt_per_second: default_unknown_session_padt_rate(),
        }
    }
}

/// `[lac.dialin]`: the L2TP dial-in front-end, where subscribers' own LACs open tunnels to us.
/// It runs when this table is present, unless `enabled = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DialinSection {
    /// Run the dial-in front-end.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// UDP addresses to accept subscriber tunnels on.
    #[serde(default = "default_dialin_listen")]
    pub listen: Vec<Spanned<Endpoint>>,
    /// Subscriber LACs allowed to connect (`[[lac.dialin.peers]]`).
    #[serde(default)]
    pub peers: Vec<Spanned<AllowedPeerEntry>>,
    /// Most dial-in tunnels at once.
    #[serde(
        default = "default_max_tunnels",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub max_tunnels: u32,
    /// Most sessions in one dial-in tunnel.
    #[serde(
        default = "default_max_sessions_per_tunnel",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub max_sessions_per_tunnel: u32,
}

fn default_dialin_listen() -> Vec<Spanned<Endpoint>> {
    vec![Spanned::new(
        0..0,
        Endpoint("127.0.0.1:1702".parse().expect("literal")),
    )]
}

impl Default for DialinSection {
    /// An absent `[lac.dialin]` table: the front-end is off.
    fn default() -> Self {
        Self {
            enabled: false,
            listen: default_dialin_listen(),
            peers: Vec::new(),
            max_tunnels: default_max_tunnels(),
            max_sessions_per_tunnel: default_max_sessions_per_tunnel(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [planner]

/// `[planner]`: tunnel consolidation (seed 000). Only subscribers whose contract includes the
/// consolidation service are ever moved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerConfig {
    /// Run the planner. Off: sessions are still placed best-fit, never moved.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Period of the whole-table re-plan.
    #[serde(
        default = "default_replan_interval",
        deserialize_with = "units::duration"
    )]
    pub replan_interval: Duration,
    /// Most session moves started per planning round.
    #[serde(
        default = "default_migration_budget",
        deserialize_with = "units::ranged::<_, 1, 100000, u32>"
    )]
    pub migration_budget: u32,
    /// A session is not moved again until it has stayed this long where it is.
    #[serde(default = "default_min_dwell", deserialize_with = "units::duration")]
    pub min_dwell: Duration,
    /// A periodic re-plan is carried out only if it closes at least this many tunnels.
    #[serde(
        default = "default_hysteresis_tunnels",
        deserialize_with = "units::ranged::<_, 1, 65535, u32>"
    )]
    pub hysteresis_tunnels: u32,
    /// A live move not finished within this is abandoned; the session stays where it was.
    #[serde(default = "default_move_timeout", deserialize_with = "units::duration")]
    pub move_timeout: Duration,
    /// Fill a hole left by a disconnect with a session from another tunnel (claims 3, 5).
    #[serde(default = "default_true")]
    pub on_disconnect: bool,
    /// Move sessions into spare room on another line's tunnels (claims 6-8).
    #[serde(default = "default_true")]
    pub on_spare_bandwidth: bool,
    /// Fill tunnels to at most this percentage of their capacity.
    #[serde(
        default = "default_max_fill_percent",
        deserialize_with = "units::ranged::<_, 1, 100, u8>"
    )]
    pub max_fill_percent: u8,
    /// Adjusting each session's allocated service level to measured traffic.
    #[serde(default)]
    pub service_level: ServiceLevelConfig,
}

fn default_replan_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_migration_budget() -> u32 {
    64
}
fn default_min_dwell() -> Duration {
    Duration::from_secs(300)
}
fn default_hysteresis_tunnels() -> u32 {
    1
}
fn default_move_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_fill_percent() -> u8 {
    100
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            enabled: default_true(),
            replan_interval: default_replan_interval(),
            migration_budget: default_migration_budget(),
            min_dwell: default_min_dwell(),
            hysteresis_tunnels: default_hysteresis_tunnels(),
            move_timeout: default_move_timeout(),
            on_disconnect: default_true(),
            on_spare_bandwidth: default_true(),
            max_fill_percent: default_max_fill_percent(),
            service_level: ServiceLevelConfig::default(),
        }
    }
}

/// `[planner.service_level]`: the traffic monitor and allocation adjustment (claims 8, 10, 11).
///
/// Each session's rate is an EWMA with time constant `window`. With allocation `a` and measured
/// rate `r`: the allocation is lowered when `r < a × lower_percent / 100` and `a − r > floor`
/// hold for `hold`; it is raised when `r > a × raise_percent / 100` or `a − r < floor` hold for
/// `hold`. The new allocation is `r × 100 / target_percent`, clamped to `[min, max]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLevelConfig {
    /// Adjust allocations. Off: every session keeps its contract's service level.
    #[serde(default = "default_false")]
    pub enabled: bool,
    /// EWMA time constant of the rate measurement.
    #[serde(default = "default_sl_window", deserialize_with = "units::duration")]
    pub window: Duration,
    /// Lower threshold, percent of the allocation.
    #[serde(
        default = "default_lower_percent",
        deserialize_with = "units::ranged::<_, 1, 99, u8>"
    )]
    pub lower_percent: u8,
    /// Utilisation a new allocation aims at, percent; between `lower_percent` and `raise_percent`.
    /// At least 29: the allocator gives at most 255 % headroom over the measured rate.
    #[serde(
        default = "default_target_percent",
        deserialize_with = "units::ranged::<_, 29, 100, u8>"
    )]
    pub target_percent: u8,
    /// Raise threshold, percent of the allocation.
    #[serde(
        default = "default_raise_percent",
        deserialize_with = "units::ranged::<_, 1, 100, u8>"
    )]
    pub raise_percent: u8,
    /// Absolute margin in bit/s: changes smaller than this are not made.
    #[serde(default = "default_sl_floor", deserialize_with = "units::bandwidth")]
    pub floor: u64,
    /// Smallest allocation, bit/s.
    #[serde(default = "default_sl_min", deserialize_with = "units::bandwidth")]
    pub min: u64,
    /// Largest allocation, bit/s.
    #[serde(default = "default_sl_max", deserialize_with = "units::bandwidth")]
    pub max: u64,
    /// How long a threshold must hold before the allocation changes (hysteresis).
    #[serde(default = "default_sl_hold", deserialize_with = "units::duration")]
    pub hold: Duration,
}

fn default_sl_window() -> Duration {
    Duration::from_secs(30)
}
fn default_lower_percent() -> u8 {
    40
}
fn default_target_percent() -> u8 {
    70
}
fn default_raise_percent() -> u8 {
    90
}
fn default_sl_floor() -> u64 {
    256_000
}
fn default_sl_min() -> u64 {
    64_000
}
fn default_sl_max() -> u64 {
    10_000_000_000
}
fn default_sl_hold() -> Duration {
    Duration::from_secs(120)
}

impl Default for ServiceLevelConfig {
    fn default() -> Self {
        Self {
            enabled: default_false(),
            window: default_sl_window(),
            lower_percent: default_lower_percent(),
            target_percent: default_target_percent(),
            raise_percent: default_raise_percent(),
            floor: default_sl_floor(),
            min: default_sl_min(),
            max: default_sl_max(),
            hold: default_sl_hold(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// [disconnect]

/// `[disconnect]`: the disconnect-condition engine (seed 004).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisconnectSection {
    /// How often counters are sampled for the volume (C) and traffic (E) conditions. A condition
    /// fires at most one interval after it holds; A, B and F fire at their deadline.
    #[serde(
        default = "default_sampling_interval",
        deserialize_with = "units::duration"
    )]
    pub sampling_interval: Duration,
    /// Application services (`[[disconnect.services]]`) for condition F.
    #[serde(default)]
    pub services: Vec<Spanned<ServiceEntry>>,
    /// Named lists of servers (`[[disconnect.server_lists]]`) for conditions B and C.
    #[serde(default)]
    pub server_lists: Vec<Spanned<ServerListEntry>>,
    /// Named condition profiles (`[[disconnect.profiles]]`).
    #[serde(default)]
    pub profiles: Vec<Spanned<ProfileEntry>>,
}

fn default_sampling_interval() -> Duration {
    Duration::from_secs(1)
}

impl Default for DisconnectSection {
    fn default() -> Self {
        Self {
            sampling_interval: default_sampling_interval(),
            services: Vec::new(),
            server_lists: Vec::new(),
            profiles: Vec::new(),
        }
    }
}

/// `[[disconnect.services]]`: an application service, the seed's service identifier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceEntry {
    /// Unique service name.
    pub name: String,
    /// Server address or network.
    pub address: Network,
    /// `"tcp"` or `"udp"`.
    pub protocol: Protocol,
    /// Server port, or a range `"8000-8080"`.
    pub port: PortRange,
    /// The server's own idle timeout: it drops a flow after this long without packets.
    #[serde(deserialize_with = "units::duration")]
    pub server_idle_timeout: Duration,
}

/// `[[disconnect.server_lists]]`: a named set of servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerListEntry {
    /// Unique list name.
    pub name: String,
    /// Server addresses or networks.
    pub servers: Vec<Spanned<Network>>,
}

/// `[[disconnect.profiles]]`: a named set of conditions. Keys as in [`ConditionsEntry`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileEntry {
    /// Unique profile name.
    pub name: String,
    /// (A) Cut the session this long after login.
    #[serde(default, deserialize_with = "units::opt_duration")]
    pub session_time: Option<Duration>,
    /// (B) Non-communication time.
    #[serde(default)]
    pub idle: Option<IdleEntry>,
    /// (C) Data volume.
    #[serde(default)]
    pub volume: Option<VolumeEntry>,
    /// (D) Simultaneous logins.
    #[serde(default)]
    pub logins: Option<LoginsEntry>,
    /// (E) Traffic relative to the path's maximum rate.
    #[serde(default)]
    pub traffic: Option<TrafficEntry>,
    /// (F) Application-server timeout guard.
    #[serde(default)]
    pub app_timeout: Option<AppTimeoutEntry>,
}

/// Disconnect conditions written inline on a subscriber (`disconnect = { ... }`); each one set
/// here replaces the same condition of the subscriber's profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionsEntry {
    /// (A) Cut the session this long after login.
    #[serde(default, deserialize_with = "units::opt_duration")]
    pub session_time: Option<Duration>,
    /// (B) Non-communication time.
    #[serde(default)]
    pub idle: Option<IdleEntry>,
    /// (C) Data volume.
    #[serde(default)]
    pub volume: Option<VolumeEntry>,
    /// (D) Simultaneous logins.
    #[serde(default)]
    pub logins: Option<LoginsEntry>,
    /// (E) Traffic relative to the path's maximum rate.
    #[serde(default)]
    pub traffic: Option<TrafficEntry>,
    /// (F) Application-server timeout guard.
    #[serde(default)]
    pub app_timeout: Option<AppTimeoutEntry>,
}

impl From<ProfileEntry> for ConditionsEntry {
    fn from(p: ProfileEntry) -> Self {
        ConditionsEntry {
            session_time: p.session_time,
            idle: p.idle,
            volume: p.volume,
            logins: p.logins,
            traffic: p.traffic,
            app_timeout: p.app_timeout,
        }
    }
}

/// (B) `idle = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdleEntry {
    /// Cut the session after this long without a counted packet.
    #[serde(deserialize_with = "units::duration")]
    pub time: Duration,
    /// Which packets count: `"either"`, `"from_subscriber"` or `"to_subscriber"`.
    #[serde(default)]
    pub direction: Direction,
    /// Only packets to or from this server list count.
    #[serde(default)]
    pub servers: Option<String>,
    /// Traffic below this rate (bit/s, over one sampling interval) counts as idle.
    #[serde(default, deserialize_with = "units::opt_bandwidth")]
    pub min_rate: Option<u64>,
}

/// (C) `volume = { ... }`. Directions are seen from the subscriber.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VolumeEntry {
    /// Bytes sent by the subscriber.
    #[serde(default, deserialize_with = "units::opt_byte_size")]
    pub from_subscriber_bytes: Option<u64>,
    /// Bytes sent to the subscriber.
    #[serde(default, deserialize_with = "units::opt_byte_size")]
    pub to_subscriber_bytes: Option<u64>,
    /// Packets sent by the subscriber.
    #[serde(
        default,
        deserialize_with = "units::opt_ranged::<_, 1, {i64::MAX}, u64>"
    )]
    pub from_subscriber_packets: Option<u64>,
    /// Packets sent to the subscriber.
    #[serde(
        default,
        deserialize_with = "units::opt_ranged::<_, 1, {i64::MAX}, u64>"
    )]
    pub to_subscriber_packets: Option<u64>,
    /// Only traffic to or from this server list counts.
    #[serde(default)]
    pub servers: Option<String>,
}

/// (D) `logins = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginsEntry {
    /// Most sessions (of all subscribers) on the access point this subscriber logs in through
    /// (a PPPoE interface, or the subscriber LAC a dial-in came from): the seed's simultaneous
    /// jointer count of an access point.
    #[serde(
        default,
        deserialize_with = "units::opt_ranged::<_, 1, 4294967295, u32>"
    )]
    pub per_access_point: Option<u32>,
    /// Most sessions (of all subscribers) on this daemon when this subscriber logs in.
    #[serde(
        default,
        deserialize_with = "units::opt_ranged::<_, 1, 4294967295, u32>"
    )]
    pub per_server: Option<u32>,
    /// Most sessions with this subscriber's name on this daemon.
    #[serde(default, deserialize_with = "units::opt_ranged::<_, 1, 65535, u32>")]
    pub per_subscriber: Option<u32>,
    /// Which session to cut: `"earliest"` or `"order"` (lowest `disconnect_order` first).
    #[serde(default)]
    pub victim: Victim,
    /// `"cut"` a victim, or `"refuse"` the new login.
    #[serde(default)]
    pub policy: LoginPolicy,
}

/// (E) `traffic = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrafficEntry {
    /// Cut when the session's rate exceeds this percentage of its path's maximum rate...
    #[serde(deserialize_with = "units::ranged::<_, 1, 100, u8>")]
    pub percent: u8,
    /// ...measured over this window.
    #[serde(deserialize_with = "units::duration")]
    pub window: Duration,
}

/// (F) `app_timeout = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppTimeoutEntry {
    /// Cut this long before the matching server's idle timeout would expire.
    #[serde(deserialize_with = "units::duration")]
    pub guard: Duration,
    /// Services watched; empty: every service in `[[disconnect.services]]`.
    #[serde(default)]
    pub services: Vec<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// [subscribers], [[subscriber]], [[subscriber_range]]

/// `[subscribers]`: where subscribers come from and what they get by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribersSection {
    /// A separate file of `[[subscriber]]` and `[[subscriber_range]]` entries, relative to this
    /// file. Its entries join those written here.
    #[serde(default)]
    pub file: Option<String>,
    /// Service level (bit/s) for subscribers that set none.
    #[serde(
        default = "default_service_level",
        deserialize_with = "units::bandwidth"
    )]
    pub default_service_level: u64,
    /// Disconnect profile for subscribers that name none; absent: no conditions.
    #[serde(default)]
    pub default_disconnect_profile: Option<String>,
    /// `disconnect_order` rank for subscribers that set none.
    #[serde(
        default = "default_disconnect_order",
        deserialize_with = "units::ranged::<_, 0, 4294967295, u32>"
    )]
    pub default_disconnect_order: u32,
}

fn default_service_level() -> u64 {
    10_000_000
}
fn default_disconnect_order() -> u32 {
    100
}

impl Default for SubscribersSection {
    fn default() -> Self {
        Self {
            file: None,
            default_service_level: default_service_level(),
            default_disconnect_profile: None,
            default_disconnect_order: default_disconnect_order(),
        }
    }
}

/// `[[subscriber]]`: one subscriber.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriberEntry {
    /// Login name exactly as sent in PAP/CHAP, realm included (`"alice@example.net"`).
    pub name: String,
    /// Password in cleartext (PAP and CHAP). Exactly one of `secret` and `secret_hash`.
    #[serde(default)]
    pub secret: Option<String>,
    /// PBKDF2 hash of the password, `"pbkdf2-sha256$ITER$SALT_HEX$HASH_HEX"` (PAP only).
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// Realm for peer and pool selection; absent: the part of `name` after the last `@`.
    #[serde(default)]
    pub realm: Option<String>,
    /// Contracted service level in bit/s; absent: `subscribers.default_service_level`.
    #[serde(default, deserialize_with = "units::opt_bandwidth")]
    pub service_level: Option<u64>,
    /// Static IPv4 address; must lie outside every pool (or be excluded from it).
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    /// Pool to draw from; absent: the pool listing the realm, else the default pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Named disconnect profile; absent: `subscribers.default_disconnect_profile`.
    #[serde(default)]
    pub disconnect_profile: Option<String>,
    /// Inline conditions, each replacing the same condition of the profile.
    #[serde(default)]
    pub disconnect: Option<ConditionsEntry>,
    /// Rank for the `victim = "order"` rule: lower is cut first.
    #[serde(
        default,
        deserialize_with = "units::opt_ranged::<_, 0, 4294967295, u32>"
    )]
    pub disconnect_order: Option<u32>,
    /// The subscriber's contract.
    #[serde(default)]
    pub contract: Option<ContractEntry>,
}

/// `[[subscriber_range]]`: many subscribers named `prefix N suffix` for N in `first ..
/// first + count`, sharing one secret and one set of settings. Names are generated on lookup,
/// never stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriberRangeEntry {
    /// Text before the number.
    pub prefix: String,
    /// Text after the number (e.g. `"@demo.example"` to give them a realm).
    #[serde(default)]
    pub suffix: String,
    /// First number.
    #[serde(
        default = "default_range_first",
        deserialize_with = "units::ranged::<_, 0, 4294967295, u64>"
    )]
    pub first: u64,
    /// How many subscribers.
    #[serde(deserialize_with = "units::ranged::<_, 1, 100000000, u64>")]
    pub count: u64,
    /// Shared cleartext password. Exactly one of `secret` and `secret_hash`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Shared hashed password (PAP only).
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// Realm; absent: the part of `suffix` after its last `@`, if any.
    #[serde(default)]
    pub realm: Option<String>,
    /// Service level in bit/s; absent: `subscribers.default_service_level`.
    #[serde(default, deserialize_with = "units::opt_bandwidth")]
    pub service_level: Option<u64>,
    /// Pool to draw from.
    #[serde(default)]
    pub pool: Option<String>,
    /// Named disconnect profile.
    #[serde(default)]
    pub disconnect_profile: Option<String>,
    /// Inline conditions.
    #[serde(default)]
    pub disconnect: Option<ConditionsEntry>,
    /// Rank for the `victim = "order"` rule.
    #[serde(
        default,
        deserialize_with = "units::opt_ranged::<_, 0, 4294967295, u32>"
    )]
    pub disconnect_order: Option<u32>,
    /// Contract shared by the range; an absent `account` means each subscriber pays for itself.
    #[serde(default)]
    pub contract: Option<ContractEntry>,
}

fn default_range_first() -> u64 {
    1
}

/// `contract = { ... }` (seed 000 claims 1, 17, 18).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContractEntry {
    /// Paying account (bank-account identifier); absent: the subscriber's own name.
    #[serde(default)]
    pub account: Option<String>,
    /// Subscribes to the consolidation service (may be moved between tunnels).
    #[serde(default)]
    pub consolidation: bool,
    /// Has the supplementary contract: carried on its account's private line.
    #[serde(default)]
    pub supplementary: bool,
    /// Communication plan (`[[billing.plans]]`); absent: no communication fee.
    #[serde(default)]
    pub plan: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// [billing]

/// `[billing]`: charging (seed 000 claims 1, 17-19).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BillingSection {
    /// ISO 4217 currency code; every amount is an integer in its minor units.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Digits of the minor unit, for display only (2 for cents).
    #[serde(
        default = "default_minor_digits",
        deserialize_with = "units::ranged::<_, 0, 4, u8>"
    )]
    pub minor_digits: u8,
    /// UTC offset at which billing periods (calendar months) start, `"+09:00"`.
    #[serde(default = "default_period_offset")]
    pub period_offset: String,
    /// Tariffs.
    #[serde(default)]
    pub tariff: TariffEntry,
    /// Communication plans (`[[billing.plans]]`).
    #[serde(default)]
    pub plans: Vec<Spanned<PlanEntry>>,
    /// Per-account settings (`[[billing.accounts]]`).
    #[serde(default)]
    pub accounts: Vec<Spanned<AccountEntry>>,
    /// The usage ledger.
    #[serde(default)]
    pub ledger: LedgerConfig,
}

fn default_currency() -> String {
    "EUR".to_owned()
}
fn default_minor_digits() -> u8 {
    2
}
fn default_period_offset() -> String {
    "+00:00".to_owned()
}

impl Default for BillingSection {
    fn default() -> Self {
        Self {
            currency: default_currency(),
            minor_digits: default_minor_digits(),
            period_offset: default_period_offset(),
            tariff: TariffEntry::default(),
            plans: Vec::new(),
            accounts: Vec::new(),
            ledger: LedgerConfig::default(),
        }
    }
}

/// `[billing.tariff]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TariffEntry {
    /// Charge per tunnel-hour (started hours), minor units.
    #[serde(default, deserialize_with = "units::money")]
    pub tunnel_hour: i64,
    /// Charge per line-month for lines without `cost_per_month`, minor units.
    #[serde(default, deserialize_with = "units::money")]
    pub line_month: i64,
    /// Consolidation-service fee.
    #[serde(default)]
    pub consolidation_fee: ConsolidationFeeEntry,
    /// Supplementary-contract fee for accounts without their own.
    #[serde(default)]
    pub supplementary_fee: ContractFeeEntry,
}

/// `consolidation_fee = { per = "tunnel", amount = 500 }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsolidationFeeEntry {
    /// `"tunnel"` or `"line"`: what the fee is counted by.
    #[serde(default)]
    pub per: ConsolidationBasis,
    /// Amount per started tunnel-hour (or line-hour) of each consolidation subscriber's use in
    /// the period (see [`ConsolidationBasis`]), minor units.
    #[serde(default, deserialize_with = "units::money")]
    pub amount: i64,
}

/// `supplementary_fee = { fixed = 5000 }` or `{ metered = 10, unit = "hour" }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContractFeeEntry {
    /// Fixed amount per period, minor units.
    #[serde(default, deserialize_with = "units::opt_money")]
    pub fixed: Option<i64>,
    /// Amount per unit of use, minor units.
    #[serde(default, deserialize_with = "units::opt_money")]
    pub metered: Option<i64>,
    /// The unit for `metered`: `"minute"`, `"hour"`, `"megabyte"` or `"gigabyte"`.
    #[serde(default)]
    pub unit: Option<MeterUnit>,
}

/// `[[billing.plans]]`: a communication plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanEntry {
    /// Unique plan name.
    pub name: String,
    /// Flat amount per period, minor units.
    #[serde(default, deserialize_with = "units::money")]
    pub monthly: i64,
    /// Per-time charge, `{ amount = 2, per = "minute" }`.
    #[serde(default)]
    pub time: Option<TimeRateEntry>,
    /// Per-volume charge, `{ amount = 50, per = "gigabyte" }`.
    #[serde(default)]
    pub volume: Option<VolumeRateEntry>,
}

/// `time = { amount, per }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeRateEntry {
    /// Minor units per started unit.
    #[serde(deserialize_with = "units::money")]
    pub amount: i64,
    /// `"minute"` or `"hour"`.
    pub per: TimeUnit,
}

/// `volume = { amount, per }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VolumeRateEntry {
    /// Minor units per started unit.
    #[serde(deserialize_with = "units::money")]
    pub amount: i64,
    /// `"megabyte"` or `"gigabyte"`.
    pub per: VolumeUnit,
}

/// `[[billing.accounts]]`: settings for one paying account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountEntry {
    /// The paying account, as subscribers name it in `contract.account`.
    pub account: String,
    /// Name printed on the invoice.
    #[serde(default)]
    pub display_name: Option<String>,
    /// This account's supplementary-contract fee, replacing the tariff's.
    #[serde(default)]
    pub supplementary_fee: Option<ContractFeeEntry>,
}

/// `[billing.ledger]`: the durable usage ledger (issue 8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// Ledger directory; relative paths are under `daemon.state_dir`.
    #[serde(default = "default_ledger_directory")]
    pub directory: PathBuf,
    /// fsync each group commit. Off trades durability for speed (tests, tmpfs).
    #[serde(default = "default_true")]
    pub fsync: bool,
    /// Group-commit interval: records are written and fsynced together at most this long after
    /// they are appended. A crash loses at most this much.
    #[serde(
        default = "default_commit_interval",
        deserialize_with = "units::duration"
    )]
    pub commit_interval: Duration,
    /// Start a new file when the current one reaches this size.
    #[serde(default = "default_rotate_size", deserialize_with = "units::byte_size")]
    pub rotate_size: u64,
    /// Start a new file when the current one is this old.
    #[serde(
        default = "default_rotate_interval",
        deserialize_with = "units::duration"
    )]
    pub rotate_interval: Duration,
    /// Interval between interim records of a live session.
    #[serde(
        default = "default_interim_interval",
        deserialize_with = "units::duration"
    )]
    pub interim_interval: Duration,
    /// Records held in memory while the disk fails; beyond it records are counted and dropped.
    #[serde(
        default = "default_queue_bound",
        deserialize_with = "units::ranged::<_, 1, 100000000, u32>"
    )]
    pub queue_bound: u32,
}

fn default_ledger_directory() -> PathBuf {
    PathBuf::from("ledger")
}
fn default_commit_interval() -> Duration {
    Duration::from_millis(200)
}
fn default_rotate_size() -> u64 {
    64 << 20
}
fn default_rotate_interval() -> Duration {
    Duration::from_secs(86_400)
}
fn default_interim_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_queue_bound() -> u32 {
    100_000
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            directory: default_ledger_directory(),
            fsync: default_true(),
            commit_interval: default_commit_interval(),
            rotate_size: default_rotate_size(),
            rotate_interval: default_rotate_interval(),
            interim_interval: default_interim_interval(),
            queue_bound: default_queue_bound(),
        }
    }
}
