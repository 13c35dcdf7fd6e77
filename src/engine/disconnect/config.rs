//! The operator's form of the disconnect settings: serde structs for the `[disconnect]` part of
//! the TOML config, their named defaults, and the validation that turns them into the engine's
//! typed values ([`CompiledDisconnect`]).
//!
//! Owns: the shape and meaning of every disconnect key. Must not touch: files (the config layer
//! reads them and places this struct in its tree), line numbers (every [`ConfigIssue`] carries the
//! key path below `[disconnect]`; the config layer turns it into `FILE:LINE:COL`).
//!
//! Negative numbers never get this far: every count is unsigned, so the TOML deserializer rejects
//! them with its own position. Durations are strings such as `"90s"`, `"15m"`, `"2h"`.
//!
//! ```toml
//! [disconnect]
//! sample_interval = "1s"
//!
//! [[disconnect.server]]
//! name = "ftp1"
//! address = "192.0.2.10"
//!
//! [[disconnect.service]]
//! name = "ftp"
//! server = "ftp1"
//! protocol = "tcp"
//! port = 21
//! idle_timeout = "15m"
//!
//! [disconnect.profile.flat]
//! session_time = "24h"
//! listed_servers = ["ftp1"]
//! idle = { limit = "30m", direction = "either" }
//! volume = { bytes_to_subscriber = 50_000_000_000 }
//! logins = { per_subscriber = 1, policy = "cut-earliest" }
//! traffic = { window = "10m", max_percent = 60 }
//! app_timeout = { guard = "30s" }
//!
//! [disconnect.resume]
//! grace = "60s"
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{
    AppTimeoutCondition, Conditions, DEFAULT_SAMPLE_INTERVAL, EngineSettings, IdleCondition,
    IdleDirection, LoginCondition, LoginPolicy, RateDirection, TrafficCondition, VolumeCondition,
};
use crate::dataplane::classifier::{
    MAX_SERVER_SETS, MAX_SERVICES, PROTO_ICMP, PROTO_TCP, PROTO_UDP, ServiceSpec, ServiceTable,
};
use crate::dataplane::resume::{
    DEFAULT_GRACE, DEFAULT_MAX_BYTES_PER_ADDRESS, DEFAULT_MAX_BYTES_TOTAL,
    DEFAULT_MAX_HELD_ADDRESSES, DEFAULT_MAX_PACKETS_PER_ADDRESS, DEFAULT_MAX_PACKETS_TOTAL,
    ResumeLimits,
};

/// The `[disconnect]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectConfig {
    /// Interval between sampling passes over the counters (conditions C, E and B's minimum rate).
    /// Default [`DEFAULT_SAMPLE_INTERVAL`] (1 s).
    #[serde(default = "default_sample_interval", deserialize_with = "duration")]
    pub sample_interval: Duration,
    /// `[[disconnect.server]]`: application servers by name, referenced by services and by
    /// profiles' `listed_servers`.
    #[serde(default, rename = "server")]
    pub servers: Vec<ServerConfig>,
    /// `[[disconnect.service]]`: the application-service table of condition F.
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
    /// `[disconnect.profile.NAME]`: named condition sets subscribers refer to.
    #[serde(default, rename = "profile")]
    pub profiles: BTreeMap<String, ConditionsConfig>,
    /// `[disconnect.resume]`: holding a cut subscriber's address and packets for a re-login.
    #[serde(default)]
    pub resume: ResumeConfig,
}

impl Default for DisconnectConfig {
    fn default() -> Self {
        Self {
            sample_interval: DEFAULT_SAMPLE_INTERVAL,
            servers: Vec::new(),
            services: Vec::new(),
            profiles: BTreeMap::new(),
            resume: ResumeConfig::default(),
        }
    }
}

fn default_sample_interval() -> Duration {
    DEFAULT_SAMPLE_INTERVAL
}

/// One `[[disconnect.server]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The name services and profiles use.
    pub name: String,
    /// The server's unicast IPv4 address.
    pub address: Ipv4Addr,
}

/// One `[[disconnect.service]]` (the seed's service identifier with its server and timeout).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The name carried into disconnect records.
    pub name: String,
    /// The `[[disconnect.server]]` it runs on.
    pub server: String,
    /// `"tcp"`, `"udp"`, `"icmp"` or an IP protocol number.
    pub protocol: ProtocolConfig,
    /// The server's port (TCP and UDP only); absent means every port.
    #[serde(default)]
    pub port: Option<u16>,
    /// How long the server keeps an idle client.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
}

/// An IP protocol, by name or number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolConfig(pub u8);

impl<'de> Deserialize<'de> for ProtocolConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ProtocolConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"tcp\", \"udp\", \"icmp\" or an IP protocol number 0-255")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ProtocolConfig, E> {
                match v {
                    "tcp" => Ok(ProtocolConfig(PROTO_TCP)),
                    "udp" => Ok(ProtocolConfig(PROTO_UDP)),
                    "icmp" => Ok(ProtocolConfig(PROTO_ICMP)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ProtocolConfig, E> {
                u8::try_from(v)
                    .map(ProtocolConfig)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ProtocolConfig, E> {
                u8::try_from(v)
                    .map(ProtocolConfig)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[disconnect.profile.NAME]`: one subscriber's (or one class of subscribers') conditions. Every
/// condition is optional; none set means never cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionsConfig {
    /// A: maximum time since login.
    #[serde(default, deserialize_with = "opt_duration")]
    pub session_time: Option<Duration>,
    /// B: non-communication time.
    #[serde(default)]
    pub idle: Option<IdleConfig>,
    /// C: data volume since login.
    #[serde(default)]
    pub volume: Option<VolumeConfig>,
    /// D: simultaneous logins.
    #[serde(default)]
    pub logins: Option<LoginsConfig>,
    /// E: traffic rate.
    #[serde(default)]
    pub traffic: Option<TrafficConfig>,
    /// F: application-server timeout.
    #[serde(default)]
    pub app_timeout: Option<AppTimeoutConfig>,
    /// Servers (by `[[disconnect.server]]` name) whose traffic B and C count when they say
    /// `only_listed_servers = true`.
    #[serde(default)]
    pub listed_servers: Vec<String>,
    /// Place in the disconnect order for D's `cut-by-order` policy: higher is cut first. Default 0.
    #[serde(default)]
    pub disconnect_order: u8,
}

/// `idle = { ... }` (condition B).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdleConfig {
    /// How long without traffic before the cut.
    #[serde(deserialize_with = "duration")]
    pub limit: Duration,
    /// `"either"` (default), `"from-subscriber"` or `"to-subscriber"`.
    #[serde(default)]
    pub direction: IdleDirectionConfig,
    /// Count only traffic with the profile's `listed_servers`. Default false.
    #[serde(default)]
    pub only_listed_servers: bool,
    /// Traffic below this rate (bits per second, per sampling interval) counts as idle. Default:
    /// any packet counts.
    #[serde(default)]
    pub min_rate_bps: Option<u64>,
}

/// B's direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleDirectionConfig {
    /// A packet either way.
    #[default]
    Either,
    /// Packets sent by the subscriber.
    FromSubscriber,
    /// Packets sent to the subscriber.
    ToSubscriber,
}

/// `volume = { ... }` (condition C). At least one limit must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    /// Bytes the subscriber may send.
    #[serde(default)]
    pub bytes_from_subscriber: Option<u64>,
    /// Bytes the subscriber may receive.
    #[serde(default)]
    pub bytes_to_subscriber: Option<u64>,
    /// Packets the subscriber may send.
    #[serde(default)]
    pub packets_from_subscriber: Option<u64>,
    /// Packets the subscriber may receive.
    #[serde(default)]
    pub packets_to_subscriber: Option<u64>,
    /// Count only traffic with the profile's `listed_servers`. Default false.
    #[serde(default)]
    pub only_listed_servers: bool,
}

/// `logins = { ... }` (condition D). At least one scope must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginsConfig {
    /// Sessions allowed on the access point the subscriber comes through.
    #[serde(default)]
    pub per_access_point: Option<u32>,
    /// Sessions allowed on this server.
    #[serde(default)]
    pub per_server: Option<u32>,
    /// Sessions allowed for the subscriber name.
    #[serde(default)]
    pub per_subscriber: Option<u32>,
    /// `"cut-earliest"` (default), `"cut-by-order"` or `"refuse-new"`.
    #[serde(default)]
    pub policy: LoginPolicyConfig,
}

/// D's policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginPolicyConfig {
    /// Cut the earliest login in the scope.
    #[default]
    CutEarliest,
    /// Cut by `disconnect_order`, earliest among equals.
    CutByOrder,
    /// Refuse the new login.
    RefuseNew,
}

/// `traffic = { ... }` (condition E).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// The measuring window; at least the sampling interval.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    /// Allowed share of the path's maximum rate, 1-100.
    pub max_percent: u8,
    /// `"busier"` (default), `"from-subscriber"` or `"to-subscriber"`.
    #[serde(default)]
    pub direction: RateDirectionConfig,
}

/// E's direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateDirectionConfig {
    /// The direction that carried more.
    #[default]
    Busier,
    /// Traffic sent by the subscriber.
    FromSubscriber,
    /// Traffic sent to the subscriber.
    ToSubscriber,
}

/// `app_timeout = { ... }` (condition F).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppTimeoutConfig {
    /// How long before a server's idle timeout to cut. Must be shorter than every service's
    /// `idle_timeout`.
    #[serde(deserialize_with = "duration")]
    pub guard: Duration,
}

/// `[disconnect.resume]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeConfig {
    /// Hold addresses and packets after automatic disconnects. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How long an address is held. Default [`DEFAULT_GRACE`] (60 s).
    #[serde(default = "default_grace", deserialize_with = "duration")]
    pub grace: Duration,
    /// Addresses held at once. Default [`DEFAULT_MAX_HELD_ADDRESSES`].
    #[serde(default = "default_max_held")]
    pub max_held_addresses: usize,
    /// Packets buffered per address. Default [`DEFAULT_MAX_PACKETS_PER_ADDRESS`].
    #[serde(default = "default_packets_per_address")]
    pub max_packets_per_address: usize,
    /// Bytes buffered per address. Default [`DEFAULT_MAX_BYTES_PER_ADDRESS`].
    #[serde(default = "default_bytes_per_address")]
    pub max_bytes_per_address: usize,
    /// Packets buffered in all. Default [`DEFAULT_MAX_PACKETS_TOTAL`].
    #[serde(default = "default_packets_total")]
    pub max_packets_total: usize,
    /// Bytes buffered in all. Default [`DEFAULT_MAX_BYTES_TOTAL`].
    #[serde(default = "default_bytes_total")]
    pub max_bytes_total: usize,
}

impl Default for ResumeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            grace: DEFAULT_GRACE,
            max_held_addresses: DEFAULT_MAX_HELD_ADDRESSES,
            max_packets_per_address: DEFAULT_MAX_PACKETS_PER_ADDRESS,
            max_bytes_per_address: DEFAULT_MAX_BYTES_PER_ADDRESS,
            max_packets_total: DEFAULT_MAX_PACKETS_TOTAL,
            max_bytes_total: DEFAULT_MAX_BYTES_TOTAL,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_grace() -> Duration {
    DEFAULT_GRACE
}
fn default_max_held() -> usize {
    DEFAULT_MAX_HELD_ADDRESSES
}
fn default_packets_per_address() -> usize {
    DEFAULT_MAX_PACKETS_PER_ADDRESS
}
fn default_bytes_per_address() -> usize {
    DEFAULT_MAX_BYTES_PER_ADDRESS
}
fn default_packets_total() -> usize {
    DEFAULT_MAX_PACKETS_TOTAL
}
fn default_bytes_total() -> usize {
    DEFAULT_MAX_BYTES_TOTAL
}

fn parse_duration<E: serde::de::Error>(s: &str) -> Result<Duration, E> {
    humantime::parse_duration(s).map_err(|e| {
        E::custom(format!(
            "invalid duration {s:?}: {e} (write e.g. \"90s\", \"15m\", \"2h\")"
        ))
    })
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| parse_duration(&s)).transpose()
}

/// One step of a key path below `[disconnect]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySegment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A key path below `[disconnect]`, e.g. `profile.flat.idle.limit` or `service[2].port`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<KeySegment>);

impl KeyPath {
    fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(KeySegment::Key(k.to_owned()));
        Self(v)
    }

    fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(KeySegment::Index(i));
        Self(v)
    }

    fn root(k: &str) -> Self {
        Self(vec![KeySegment::Key(k.to_owned())])
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                KeySegment::Key(k) if i == 0 => f.write_str(k)?,
                KeySegment::Key(k) => write!(f, ".{k}")?,
                KeySegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One thing wrong with a `[disconnect]` section: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ConfigIssue {
    /// The key, below `[disconnect]`.
    pub path: KeyPath,
    /// What is wrong, in words an operator acts on.
    pub problem: String,
}

/// The validated `[disconnect]` section, ready for the engine and the data plane.
#[derive(Debug, Clone)]
pub struct CompiledDisconnect {
    /// The engine's settings.
    pub settings: EngineSettings,
    /// The service table to publish through
    /// [`crate::dataplane::classifier::SharedServiceTable`].
    pub table: ServiceTable,
    /// Profiles by name.
    pub profiles: HashMap<String, Arc<Conditions>>,
    /// Resume bounds, `None` when resume is disabled.
    pub resume: Option<ResumeLimits>,
    no_conditions: Arc<Conditions>,
}

impl CompiledDisconnect {
    /// A profile's conditions.
    pub fn profile(&self, name: &str) -> Option<Arc<Conditions>> {
        self.profiles.get(name).cloned()
    }

    /// The shared empty condition set, for subscribers without a profile.
    pub fn no_conditions(&self) -> Arc<Conditions> {
        self.no_conditions.clone()
    }
}

impl DisconnectConfig {
    /// Every problem with the section (empty when it is valid).
    pub fn validate(&self) -> Vec<ConfigIssue> {
        match self.compile() {
            Ok(_) => Vec::new(),
            Err(issues) => issues,
        }
    }

    /// Validates the section and builds the engine's values. On error, every problem found is
    /// returned, not just the first.
    pub fn compile(&self) -> Result<CompiledDisconnect, Vec<ConfigIssue>> {
        let mut issues = Issues::default();

        if self.sample_interval.is_zero() {
            issues.add(
                KeyPath::root("sample_interval"),
                "must be greater than zero".into(),
            );
        }

        // Servers.
        let mut servers: HashMap<&str, (usize, Ipv4Addr)> = HashMap::new();
        for (i, s) in self.servers.iter().enumerate() {
            let path = KeyPath::root("server").index(i);
            if s.name.is_empty() {
                issues.add(path.key("name"), "must not be empty".into());
            } else if let Some((first, _)) = servers.get(s.name.as_str()) {
                issues.add(
                    path.key("name"),
                    format!(
                        "duplicate server name {:?} (first at server[{first}])",
                        s.name
                    ),
                );
            } else {
                servers.insert(&s.name, (i, s.address));
            }
            if s.address.is_unspecified() || s.address.is_broadcast() || s.address.is_multicast() {
                issues.add(
                    path.key("address"),
                    format!("{} is not a unicast host address", s.address),
                );
            }
        }

        // Services.
        if self.services.len() > MAX_SERVICES {
            issues.add(
                KeyPath::root("service"),
                format!("{} services, at most {MAX_SERVICES}", self.services.len()),
            );
        }
        let mut service_names: HashMap<&str, usize> = HashMap::new();
        let mut specs: Vec<ServiceSpec> = Vec::new();
        // (address, protocol) -> services on it with their port, to name both sides of an overlap.
        let mut on_server: HashMap<(Ipv4Addr, u8), Vec<PortUse>> = HashMap::new();
        for (i, s) in self.services.iter().enumerate() {
            let path = KeyPath::root("service").index(i);
            let mut ok = true;
            if s.name.is_empty() {
                issues.add(path.key("name"), "must not be empty".into());
                ok = false;
            } else if let Some(first) = service_names.get(s.name.as_str()) {
                issues.add(
                    path.key("name"),
                    format!(
                        "duplicate service name {:?} (first at service[{first}])",
                        s.name
                    ),
                );
                ok = false;
            } else {
                service_names.insert(&s.name, i);
            }
            let address = match servers.get(s.server.as_str()) {
                Some((_, a)) => Some(*a),
                None => {
                    issues.add(
                        path.key("server"),
                        format!(
                            "unknown server {:?} (no [[disconnect.server]] has that name)",
                            s.server
                        ),
                    );
                    None
                }
            };
            let protocol = s.protocol.0;
            match s.port {
                Some(0) => {
                    issues.add(path.key("port"), "must be 1-65535".into());
                    ok = false;
                }
                Some(_) if protocol != PROTO_TCP && protocol != PROTO_UDP => {
                    issues.add(
                        path.key("port"),
                        format!("protocol {protocol} has no ports; remove the port"),
                    );
                    ok = false;
                }
                _ => {}
            }
            if s.idle_timeout.is_zero() {
                issues.add(path.key("idle_timeout"), "must be greater than zero".into());
                ok = false;
            }
            let Some(address) = address else { continue };
            let others = on_server.entry((address, protocol)).or_default();
            if let Some(&(j, _)) = others
                .iter()
                .find(|(_, p)| p.is_none() || s.port.is_none() || *p == s.port)
            {
                issues.add(
                    path.clone(),
                    format!(
                        "overlaps service[{j}] {:?}: same server, protocol and port{}",
                        self.services[j].name,
                        if s.port.is_none() || others.iter().any(|(_, p)| p.is_none()) {
                            " (a service without a port covers every port)"
                        } else {
                            ""
                        }
                    ),
                );
                ok = false;
            }
            others.push((i, s.port));
            if ok {
                specs.push(ServiceSpec {
                    name: s.name.as_str().into(),
                    address,
                    protocol,
                    port: s.port,
                    idle_timeout: s.idle_timeout,
                });
            }
        }

        // Profiles.
        let mut server_sets: BTreeMap<Vec<Ipv4Addr>, usize> = BTreeMap::new();
        let mut profiles: HashMap<String, Arc<Conditions>> = HashMap::new();
        for (name, p) in &self.profiles {
            let path = KeyPath::root("profile").key(name);
            let before = issues.0.len();
            let mut listed: BTreeSet<Ipv4Addr> = BTreeSet::new();
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, server) in p.listed_servers.iter().enumerate() {
                let path = path.key("listed_servers").index(i);
                if let Some(first) = seen.insert(server, i) {
                    issues.add(
                        path,
                        format!(
                            "server {server:?} listed twice (first at listed_servers[{first}])"
                        ),
                    );
                } else if let Some((_, a)) = servers.get(server.as_str()) {
                    listed.insert(*a);
                } else {
                    issues.add(
                        path,
                        format!(
                            "unknown server {server:?} (no [[disconnect.server]] has that name)"
                        ),
                    );
                }
            }
            if p.session_time.is_some_and(|t| t.is_zero()) {
                issues.add(path.key("session_time"), "must be greater than zero".into());
            }
            let needs_listed = p.idle.as_ref().is_some_and(|i| i.only_listed_servers)
                || p.volume.as_ref().is_some_and(|v| v.only_listed_servers);
            if needs_listed && p.listed_servers.is_empty() {
                issues.add(
                    path.key("listed_servers"),
                    "only_listed_servers is set but no listed_servers are given".into(),
                );
            }
            if let Some(idle) = &p.idle {
                if idle.limit.is_zero() {
                    issues.add(
                        path.key("idle").key("limit"),
                        "must be greater than zero".into(),
                    );
                }
                if idle.min_rate_bps == Some(0) {
                    issues.add(
                        path.key("idle").key("min_rate_bps"),
                        "must be greater than zero (omit it to count any packet)".into(),
                    );
                }
            }
            if let Some(v) = &p.volume {
                let limits = [
                    ("bytes_from_subscriber", v.bytes_from_subscriber),
                    ("bytes_to_subscriber", v.bytes_to_subscriber),
                    ("packets_from_subscriber", v.packets_from_subscriber),
                    ("packets_to_subscriber", v.packets_to_subscriber),
                ];
                if limits.iter().all(|(_, l)| l.is_none()) {
                    issues.add(path.key("volume"), "set at least one of bytes_from_subscriber, bytes_to_subscriber, packets_from_subscriber, packets_to_subscriber".into());
                }
                for (key, l) in limits {
                    if l == Some(0) {
                        issues.add(
                            path.key("volume").key(key),
                            "must be greater than zero".into(),
                        );
                    }
                }
            }
            if let Some(l) = &p.logins {
                let limits = [
                    ("per_access_point", l.per_access_point),
                    ("per_server", l.per_server),
                    ("per_subscriber", l.per_subscriber),
                ];
                if limits.iter().all(|(_, l)| l.is_none()) {
                    issues.add(
                        path.key("logins"),
                        "set at least one of per_access_point, per_server, per_subscriber".into(),
                    );
                }
                for (key, l) in limits {
                    if l == Some(0) {
                        issues.add(path.key("logins").key(key), "must be at least 1".into());
                    }
                }
            }
            if let Some(t) = &p.traffic {
                if t.window.is_zero() {
                    issues.add(
                        path.key("traffic").key("window"),
                        "must be greater than zero".into(),
                    );
                } else if t.window < self.sample_interval {
                    issues.add(
                        path.key("traffic").key("window"),
                        format!("{} is shorter than sample_interval ({}); a window needs at least one sample", humantime::format_duration(t.window), humantime::format_duration(self.sample_interval)),
                    );
                }
                if t.max_percent == 0 || t.max_percent > 100 {
                    issues.add(
                        path.key("traffic").key("max_percent"),
                        "must be 1-100".into(),
                    );
                }
            }
            if let Some(f) = &p.app_timeout {
                if self.services.is_empty() {
                    issues.add(
                        path.key("app_timeout"),
                        "no [[disconnect.service]] is configured for it to watch".into(),
                    );
                }
                if f.guard.is_zero() {
                    issues.add(
                        path.key("app_timeout").key("guard"),
                        "must be greater than zero".into(),
                    );
                }
                if let Some((i, s)) = self
                    .services
                    .iter()
                    .enumerate()
                    .find(|(_, s)| f.guard >= s.idle_timeout && !s.idle_timeout.is_zero())
                {
                    issues.add(
                        path.key("app_timeout").key("guard"),
                        format!(
                            "{} is not shorter than the idle_timeout of service[{i}] {:?} ({})",
                            humantime::format_duration(f.guard),
                            s.name,
                            humantime::format_duration(s.idle_timeout)
                        ),
                    );
                }
            }
            if issues.0.len() != before {
                continue;
            }
            let listed_sets = if listed.is_empty() {
                0
            } else {
                let next = server_sets.len();
                let bit = *server_sets
                    .entry(listed.into_iter().collect())
                    .or_insert(next);
                if bit >= MAX_SERVER_SETS {
                    issues.add(path.key("listed_servers"), format!("more than {MAX_SERVER_SETS} distinct listed_servers sets across profiles"));
                    continue;
                }
                1u64 << bit
            };
            profiles.insert(name.clone(), Arc::new(conditions_of(p, listed_sets)));
        }

        // Resume.
        let r = &self.resume;
        if r.enabled {
            let path = KeyPath::root("resume");
            if r.grace.is_zero() {
                issues.add(
                    path.key("grace"),
                    "must be greater than zero (set enabled = false to turn resume off)".into(),
                );
            }
            for (key, v) in [
                ("max_held_addresses", r.max_held_addresses),
                ("max_packets_per_address", r.max_packets_per_address),
                ("max_bytes_per_address", r.max_bytes_per_address),
                ("max_packets_total", r.max_packets_total),
                ("max_bytes_total", r.max_bytes_total),
            ] {
                if v == 0 {
                    issues.add(path.key(key), "must be greater than zero".into());
                }
            }
            if r.max_packets_per_address > r.max_packets_total {
                issues.add(
                    path.key("max_packets_per_address"),
                    format!("exceeds max_packets_total ({})", r.max_packets_total),
                );
            }
            if r.max_bytes_per_address > r.max_bytes_total {
                issues.add(
                    path.key("max_bytes_per_address"),
                    format!("exceeds max_bytes_total ({})", r.max_bytes_total),
                );
            }
        }

        if !issues.0.is_empty() {
            return Err(issues.0);
        }
        let mut sets: Vec<(usize, Vec<Ipv4Addr>)> =
            server_sets.into_iter().map(|(k, v)| (v, k)).collect();
        sets.sort();
        let sets: Vec<Vec<Ipv4Addr>> = sets.into_iter().map(|(_, v)| v).collect();
        let table = ServiceTable::build(specs, &sets).map_err(|e| {
            vec![ConfigIssue {
                path: KeyPath::root("service"),
                problem: e.to_string(),
            }]
        })?;
        Ok(CompiledDisconnect {
            settings: EngineSettings {
                sample_interval: self.sample_interval,
            },
            table,
            profiles,
            resume: r.enabled.then_some(ResumeLimits {
                grace: r.grace,
                max_held_addresses: r.max_held_addresses,
                max_packets_per_address: r.max_packets_per_address,
                max_bytes_per_address: r.max_bytes_per_address,
                max_packets_total: r.max_packets_total,
                max_bytes_total: r.max_bytes_total,
            }),
            no_conditions: Arc::new(Conditions::default()),
        })
    }
}

/// A service's index and port, among the services on one server and protocol.
type PortUse = (usize, Option<u16>);

#[derive(Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, path: KeyPath, problem: String) {
        self.0.push(ConfigIssue { path, problem });
    }
}

fn conditions_of(p: &ConditionsConfig, listed_sets: u64) -> Conditions {
    Conditions {
        session_time: p.session_time,
        idle: p.idle.as_ref().map(|i| IdleCondition {
            limit: i.limit,
            direction: match i.direction {
                IdleDirectionConfig::Either => IdleDirection::Either,
                IdleDirectionConfig::FromSubscriber => IdleDirection::FromSubscriber,
                IdleDirectionConfig::ToSubscriber => IdleDirection::ToSubscriber,
            },
            only_listed_servers: i.only_listed_servers,
            min_rate_bps: i.min_rate_bps,
        }),
        volume: p.volume.as_ref().map(|v| VolumeCondition {
            bytes_from_subscriber: v.bytes_from_subscriber,
            bytes_to_subscriber: v.bytes_to_subscriber,
            packets_from_subscriber: v.packets_from_subscriber,
            packets_to_subscriber: v.packets_to_subscriber,
            only_listed_servers: v.only_listed_servers,
        }),
        logins: p.logins.as_ref().map(|l| LoginCondition {
            per_access_point: l.per_access_point,
            per_server: l.per_server,
            per_subscriber: l.per_subscriber,
            policy: match l.policy {
                LoginPolicyConfig::CutEarliest => LoginPolicy::CutEarliest,
                LoginPolicyConfig::CutByOrder => LoginPolicy::CutByOrder,
                LoginPolicyConfig::RefuseNew => LoginPolicy::RefuseNew,
            },
        }),
        traffic: p.traffic.as_ref().map(|t| TrafficCondition {
            window: t.window,
            max_percent: t.max_percent,
            direction: match t.direction {
                RateDirectionConfig::Busier => RateDirection::Busier,
                RateDirectionConfig::FromSubscriber => RateDirection::FromSubscriber,
                RateDirectionConfig::ToSubscriber => RateDirection::ToSubscriber,
            },
        }),
        app_timeout: p
            .app_timeout
            .as_ref()
            .map(|a| AppTimeoutCondition { guard: a.guard }),
        listed_sets,
        disconnect_order: p.disconnect_order,
    }
}
