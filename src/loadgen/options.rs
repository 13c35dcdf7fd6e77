//! What a load run does: transport, how many subscribers, how fast, as whom, with what traffic.
//! The defaults are those of the embedded default configuration (`config/l2tpagg.toml`), so a
//! run with no arguments meets `l2tpagg run` on its defaults.
//!
//! Owns: the option structs, their defaults and their validation. Must not touch: IO.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::ip;
use super::pattern::{Pattern, PatternError};
use super::population::{AuthChoice, TrafficPlan};
use super::pppoe_core::MAX_MAC_NUMBER;
use crate::runtime::RuntimeError;

/// The embedded default configuration's L2TP dial-in address (`[lac.dialin] listen`).
pub const DEFAULT_DIALIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 1702);
/// The embedded default configuration's demo subscriber names (`[[subscriber_range]]` with
/// prefix `user`): `user1` .. `user100000`.
pub const DEFAULT_USER_PATTERN: &str = "user{n}";
/// Their shared secret.
pub const DEFAULT_PASSWORD: &str = "demo";
/// The number of the first demo subscriber.
pub const DEFAULT_FIRST: u64 = 1;
/// Subscribers per L2TP tunnel by default: enough tunnels that the control window (16 messages
/// on the daemon's default) does not serialise session setups, few enough to stay well inside the
/// daemon's default limit of 1024 dial-in tunnels at 100,000 subscribers.
pub const DEFAULT_SESSIONS_PER_TUNNEL: u32 = 100;
/// Default UDP port test traffic goes to: echo (RFC 862).
pub const DEFAULT_TARGET_PORT: u16 = 7;

/// Everything that can stop a run from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// An option is out of range or inconsistent.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A name pattern does not parse.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A socket could not be opened.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A socket failed while running.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The emulator's task ended abnormally.
    #[error("emulator task failed: {0}")]
    Task(String),
}

/// L2TP dial-in: we play each subscriber's own LAC and open tunnels to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2tpOptions {
    /// The server's dial-in address.
    pub server: SocketAddr,
    /// Our local address (port 0: any).
    pub bind: SocketAddr,
    /// Subscribers per tunnel (bulk runs open `ceil(subscribers / this)` tunnels).
    pub sessions_per_tunnel: u32,
    /// Host Name AVP of our tunnels (RFC 2661 §4.4.3); a dial-in peer entry may match it.
    pub host_name: String,
    /// Tunnel secret (RFC 2661 §5.1.1), when the server's dial-in peer entry has one.
    pub secret: Option<Vec<u8>>,
}

impl L2tpOptions {
    /// Options for `server` with the defaults.
    pub fn new(server: SocketAddr) -> Self {
        let bind = match server {
            SocketAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            SocketAddr::V6(_) => SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), 0),
        };
        Self {
            server,
            bind,
            sessions_per_tunnel: DEFAULT_SESSIONS_PER_TUNNEL,
            host_name: "l2tpagg-loadgen".into(),
            secret: None,
        }
    }
}

/// PPPoE on an Ethernet interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PppoeOptions {
    /// The interface (one end of a veth pair, or a NIC on the access network).
    pub interface: String,
    /// Service-Name to ask for; empty: any.
    pub service_name: String,
    /// Accept offers only from this AC-Name.
    pub ac_name: Option<String>,
}

impl PppoeOptions {
    /// Options for `interface` with the defaults.
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            service_name: String::new(),
            ac_name: None,
        }
    }
}

/// How subscribers reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportOptions {
    /// L2TP dial-in over UDP.
    L2tp(L2tpOptions),
    /// PPPoE on an interface.
    Pppoe(PppoeOptions),
}

impl TransportOptions {
    /// `"l2tp"` or `"pppoe"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::L2tp(_) => "l2tp",
            Self::Pppoe(_) => "pppoe",
        }
    }

    /// The server address or the interface, for reports.
    pub fn peer(&self) -> String {
        match self {
            Self::L2tp(o) => o.server.to_string(),
            Self::Pppoe(o) => o.interface.clone(),
        }
    }

    /// The largest IP packet the transport carries without fragmentation: the PPP MRU (1500 over
    /// L2TP, RFC 1661 §6.1 default; 1492 over PPPoE, RFC 2516 §7).
    pub fn ip_mtu(&self) -> usize {
        match self {
            Self::L2tp(_) => 1500,
            Self::Pppoe(_) => 1492,
        }
    }
}

/// A bulk run: N subscribers, paced, held, then logged out.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadgenOptions {
    /// How subscribers reach the server.
    pub transport: TransportOptions,
    /// How many subscribers.
    pub subscribers: u64,
    /// Number of the first subscriber (`{n}` in the patterns).
    pub first: u64,
    /// Logins started per second (0 or infinite: as fast as `concurrency` allows).
    pub rate: f64,
    /// Logins in progress at once, at most.
    pub concurrency: u64,
    /// Each subscriber logs out this long after coming up; `None`: when the run is stopped.
    pub hold: Option<Duration>,
    /// A login not up within this fails with `setup_timeout`.
    pub setup_timeout: Duration,
    /// How long to wait for logouts to finish and tunnels to close, counted from the last logout
    /// begun (after a stop request, logouts are paced at `rate`).
    pub drain_timeout: Duration,
    /// User name pattern.
    pub user: Pattern,
    /// Password pattern.
    pub password: Pattern,
    /// Authentication protocols allowed.
    pub auth: AuthChoice,
    /// Test traffic per subscriber; `None` sends none.
    pub traffic: Option<TrafficPlan>,
}

impl Default for LoadgenOptions {
    /// 1000 demo subscribers dialling in to the embedded default's front-end at 1000 logins per
    /// second, 256 in flight, held 30 s, one 512-octet UDP packet per second each to the server's
    /// end of the link, port 7.
    fn default() -> Self {
        Self {
            transport: TransportOptions::L2tp(L2tpOptions::new(DEFAULT_DIALIN)),
            subscribers: 1000,
            first: DEFAULT_FIRST,
            rate: 1000.0,
            concurrency: 256,
            hold: Some(Duration::from_secs(30)),
            setup_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            user: Pattern::parse(DEFAULT_USER_PATTERN).unwrap_or_else(|_| unreachable!()),
            password: Pattern::parse(DEFAULT_PASSWORD).unwrap_or_else(|_| unreachable!()),
            auth: AuthChoice::Chap,
            traffic: Some(TrafficPlan {
                rate: 1.0,
                payload: 512,
                target: None,
                port: DEFAULT_TARGET_PORT,
            }),
        }
    }
}

impl LoadgenOptions {
    /// Checks every value; the emulator refuses to start otherwise.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        let bad = |s: String| Err(LoadgenError::InvalidOption(s));
        if self.subscribers == 0 {
            return bad("--subscribers must be at least 1".into());
        }
        if self.subscribers > u64::from(u32::MAX) {
            return bad(format!(
                "--subscribers {} is more than 2^32 - 1",
                self.subscribers
            ));
        }
        if self.first.checked_add(self.subscribers).is_none() {
            return bad("--first + --subscribers overflows".into());
        }
        if self.rate.is_nan() || self.rate < 0.0 {
            return bad(format!(
                "--rate {} must be 0 (unlimited) or positive",
                self.rate
            ));
        }
        if self.concurrency == 0 {
            return bad("--concurrency must be at least 1".into());
        }
        if self.setup_timeout.is_zero() {
            return bad("--setup-timeout must be above zero".into());
        }
        if let Some(t) = &self.traffic {
            if !(t.rate.is_finite() && t.rate > 0.0) {
                return bad(format!(
                    "--traffic-rate {} must be positive (0 means no traffic)",
                    t.rate
                ));
            }
            let mtu = self.transport.ip_mtu();
            if t.payload < ip::MIN_PAYLOAD || t.payload + ip::HEADERS > mtu {
                return bad(format!(
                    "--packet-size {} must be {} to {} octets of UDP payload ({} with IP and UDP headers fits the {mtu}-octet PPP MRU of {})",
                    t.payload,
                    ip::MIN_PAYLOAD,
                    mtu - ip::HEADERS,
                    mtu,
                    self.transport.name()
                ));
            }
        }
        match &self.transport {
            TransportOptions::L2tp(o) => {
                if o.sessions_per_tunnel == 0 || o.sessions_per_tunnel > 65_535 {
                    return bad(format!(
                        "--sessions-per-tunnel {} must be 1 to 65535",
                        o.sessions_per_tunnel
                    ));
                }
                if self.tunnel_slots() > 65_535 {
                    return bad(format!(
                        "{} subscribers at {} per tunnel need more than 65535 tunnels",
                        self.subscribers, o.sessions_per_tunnel
                    ));
                }
                if o.host_name.is_empty() || o.host_name.len() > 1017 {
                    return bad("--hostname must be 1 to 1017 octets".into());
                }
                if o.secret.as_ref().is_some_and(Vec::is_empty) {
                    return bad("--tunnel-secret must not be empty".into());
                }
                if o.server.ip().is_unspecified() || o.server.port() == 0 {
                    return bad(format!("--l2tp {} is not a server address", o.server));
                }
                if o.server.is_ipv4() != o.bind.is_ipv4() {
                    return bad(format!(
                        "--bind {} and --l2tp {} are of different address families",
                        o.bind, o.server
                    ));
                }
            }
            TransportOptions::Pppoe(o) => {
                if o.interface.is_empty() {
                    return bad("--pppoe needs an interface name".into());
                }
                let last = self.first + (self.subscribers - 1);
                if last > MAX_MAC_NUMBER {
                    return bad(format!(
                        "PPPoE subscribers take their MAC from their number; the last one, {last}, is above {MAX_MAC_NUMBER}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// L2TP: the number of tunnels a bulk run opens (1 for PPPoE).
    pub fn tunnel_slots(&self) -> u64 {
        match &self.transport {
            TransportOptions::L2tp(o) => self
                .subscribers
                .div_ceil(u64::from(o.sessions_per_tunnel.max(1))),
            TransportOptions::Pppoe(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        LoadgenOptions::default().validate().unwrap();
        assert_eq!(LoadgenOptions::default().tunnel_slots(), 10);
    }

    #[test]
    fn defaults_match_the_embedded_default_configuration() {
        let config = crate::config::embedded_default();
        // The dial-in front-end listens where we dial by default.
        assert!(config.lac.enabled && config.lac.dialin.enabled);
        assert!(
            config.lac.dialin.listen.contains(&DEFAULT_DIALIN),
            "{:?}",
            config.lac.dialin.listen
        );
        let opts = LoadgenOptions::default();
        // Every default subscriber exists, with the default password, and the peer entry lets
        // loopback in without a tunnel secret.
        for k in [0, opts.subscribers - 1] {
            let n = opts.first + k;
            let name = opts.user.expand(n);
            let sub = config
                .subscribers
                .get(&name)
                .unwrap_or_else(|| panic!("{name} is not a demo subscriber"));
            assert_eq!(
                sub.secret.cleartext().map(|s| s.to_vec()),
                Some(opts.password.expand(n).into_bytes()),
                "{name}'s secret"
            );
        }
        let TransportOptions::L2tp(l2tp) = &opts.transport else {
            panic!("default transport is L2TP");
        };
        let peer = config
            .lac
            .dialin
            .peers
            .iter()
            .find(|p| p.network.contains(&l2tp.server.ip()))
            .expect("a dial-in peer entry admits the default source address");
        assert!(peer.secret.is_none(), "no tunnel secret by default");
        assert!(
            peer.hostname.is_none(),
            "no Host Name constraint by default"
        );
        // The whole demo range is usable: 100,000 subscribers in tunnels the daemon admits.
        let range = &config.subscribers.ranges()[0];
        let mut big = opts.clone();
        big.subscribers = range.count;
        big.first = range.first;
        big.validate().unwrap();
        assert!(big.tunnel_slots() <= u64::from(config.lac.dialin.max_tunnels));
        assert!(
            u64::from(l2tp.sessions_per_tunnel)
                <= u64::from(config.lac.dialin.max_sessions_per_tunnel)
        );
        assert!(
            config
                .subscribers
                .get(&big.user.expand(range.last()))
                .is_some()
        );
    }

    #[test]
    fn refuses_bad_values() {
        let check = |f: fn(&mut LoadgenOptions)| {
            let mut o = LoadgenOptions::default();
            f(&mut o);
            match o.validate() {
                Err(LoadgenError::InvalidOption(msg)) => msg,
                other => panic!("accepted: {other:?}"),
            }
        };
        assert!(check(|o| o.subscribers = 0).contains("--subscribers"));
        assert!(check(|o| o.rate = -1.0).contains("--rate"));
        assert!(check(|o| o.concurrency = 0).contains("--concurrency"));
        assert!(check(|o| o.traffic.as_mut().unwrap().payload = 1473).contains("--packet-size"));
        assert!(check(|o| o.traffic.as_mut().unwrap().payload = 8).contains("--packet-size"));
        assert!(check(|o| o.traffic.as_mut().unwrap().rate = 0.0).contains("--traffic-rate"));
        assert!(
            check(|o| {
                if let TransportOptions::L2tp(l) = &mut o.transport {
                    l.sessions_per_tunnel = 0;
                }
            })
            .contains("--sessions-per-tunnel")
        );
        assert!(
            check(|o| {
                o.transport = TransportOptions::Pppoe(PppoeOptions::new("veth0"));
                o.first = MAX_MAC_NUMBER;
                o.subscribers = 2;
            })
            .contains("MAC")
        );
        // The largest packet that fits each transport is accepted.
        let mut o = LoadgenOptions::default();
        o.traffic.as_mut().unwrap().payload = 1472;
        o.validate().unwrap();
        o.transport = TransportOptions::Pppoe(PppoeOptions::new("veth0"));
        assert!(o.validate().is_err());
        o.traffic.as_mut().unwrap().payload = 1464;
        o.validate().unwrap();
    }
}
