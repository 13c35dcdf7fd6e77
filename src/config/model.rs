//! The typed, validated configuration for the sections that name each other: LNS (peers, pools),
//! LAC (lines, peers, front-ends), disconnect conditions, billing. Every reference is resolved
//! (to an ID that indexes the owning list, or to a shared `Arc`), every name is unique, every
//! limit is in range. Nothing here parses or fails; `validate` builds these.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};

use super::schema::{
    ConsolidationBasis, Direction, LedgerConfig, LoginPolicy, MeterUnit, Protocol, ResumeConfig,
    TimeUnit, TunConfig, Victim, VolumeUnit,
};
use super::secret::SecretBytes;
use super::units::{Ipv4Range, PortRange};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            /// The position in the owning list.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// Index into [`LnsConfig::pools`].
    PoolId
);
id_type!(
    /// Index into [`LacConfig::lines`].
    LineId
);
id_type!(
    /// Index into [`LacConfig::peers`].
    LacPeerId
);
id_type!(
    /// Index into [`DisconnectConfig::services`].
    ServiceId
);
id_type!(
    /// Index into [`BillingConfig::plans`].
    PlanId
);

// ---------------------------------------------------------------------------------------------
// LNS

/// A peer allowed to open tunnels to us (an LAC toward our LNS, or a subscriber's LAC toward
/// our dial-in front-end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedPeer {
    /// Name for logs and `ctl`.
    pub name: Arc<str>,
    /// Source network its tunnels come from.
    pub network: IpNet,
    /// Tunnel secret; `None`: no tunnel authentication.
    pub secret: Option<SecretBytes>,
    /// When set, the peer's Host Name AVP must equal it.
    pub hostname: Option<String>,
    /// Per-peer tunnel limit, on top of the global one.
    pub max_tunnels: Option<u32>,
}

/// The entry for `addr` among `peers`: the longest matching prefix wins; `None` refuses it.
pub fn match_allowed_peer(peers: &[AllowedPeer], addr: IpAddr) -> Option<&AllowedPeer> {
    let addr = canonical_ip(addr);
    peers
        .iter()
        .filter(|p| p.network.contains(&addr))
        .max_by_key(|p| p.network.prefix_len())
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) compare as IPv4.
fn canonical_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// An IPv4 address pool. Addresses are handed out from [`Pool::assignable`], which is `ranges`
/// minus `exclude`, sorted and disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Position in [`LnsConfig::pools`].
    pub id: PoolId,
    /// Unique name.
    pub name: Arc<str>,
    /// Ranges as written.
    pub ranges: Vec<Ipv4Range>,
    /// Exclusions as written.
    pub exclude: Vec<Ipv4Range>,
    /// Realms (lowercase) whose subscribers use this pool by default.
    pub realms: Vec<String>,
    /// The catch-all pool.
    pub is_default: bool,
    assignable: Vec<Ipv4Range>,
}

impl Pool {
    /// Builds a pool, computing its assignable addresses.
    pub fn new(
        id: PoolId,
        name: Arc<str>,
        ranges: Vec<Ipv4Range>,
        exclude: Vec<Ipv4Range>,
        realms: Vec<String>,
        is_default: bool,
    ) -> Self {
        let assignable = subtract(&merge(&ranges), &merge(&exclude));
        Pool {
            id,
            name,
            ranges,
            exclude,
            realms,
            is_default,
            assignable,
        }
    }

    /// The addresses this pool hands out: sorted, disjoint ranges.
    pub fn assignable(&self) -> &[Ipv4Range] {
        &self.assignable
    }

    /// Whether the pool hands out `addr`. A binary search, not a scan.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let i = self.assignable.partition_point(|r| r.last < addr);
        self.assignable.get(i).is_some_and(|r| r.contains(addr))
    }

    /// How many addresses the pool hands out.
    pub fn size(&self) -> u64 {
        self.assignable.iter().map(Ipv4Range::len).sum()
    }

    /// Every assignable address in ascending order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.assignable
            .iter()
            .flat_map(|r| (u32::from(r.first)..=u32::from(r.last)).map(Ipv4Addr::from))
    }

    /// CIDR blocks covering exactly the assignable addresses (routes toward the TUN device).
    pub fn routes(&self) -> Vec<Ipv4Net> {
        self.assignable
            .iter()
            .flat_map(Ipv4Range::subnets)
            .collect()
    }
}

/// Sorts and merges overlapping or adjacent ranges.
pub(crate) fn merge(ranges: &[Ipv4Range]) -> Vec<Ipv4Range> {
    let mut v = ranges.to_vec();
    v.sort();
    let mut out: Vec<Ipv4Range> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if u64::from(u32::from(r.first)) <= u64::from(u32::from(last.last)) + 1 => {
                if r.last > last.last {
                    last.last = r.last;
                }
            }
            _ => out.push(r),
        }
    }
    out
}

/// `a` minus `b`, both sorted and merged.
pub(crate) fn subtract(a: &[Ipv4Range], b: &[Ipv4Range]) -> Vec<Ipv4Range> {
    let mut out = Vec::new();
    for r in a {
        let mut start = u64::from(u32::from(r.first));
        let end = u64::from(u32::from(r.last));
        for x in b {
            let (xs, xe) = (u64::from(u32::from(x.first)), u64::from(u32::from(x.last)));
            if xe < start || xs > end {
                continue;
            }
            if xs > start {
                out.push(Ipv4Range {
                    first: ip(start),
                    last: ip(xs - 1),
                });
            }
            start = xe + 1;
            if start > end {
                break;
            }
        }
        if start <= end {
            out.push(Ipv4Range {
                first: ip(start),
                last: ip(end),
            });
        }
    }
    out
}

fn ip(v: u64) -> Ipv4Addr {
    Ipv4Addr::from(v as u32)
}

/// `[lns]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LnsConfig {
    /// Whether the LNS role runs.
    pub enabled: bool,
    /// UDP addresses tunnels are accepted on.
    pub listen: Vec<SocketAddr>,
    /// LACs allowed to open tunnels; see [`LnsConfig::allowed_peer`].
    pub peers: Vec<AllowedPeer>,
    /// Most tunnels at once.
    pub max_tunnels: u32,
    /// Most sessions in one tunnel.
    pub max_sessions_per_tunnel: u16,
    /// Most sessions in all.
    pub max_sessions: u32,
    /// Our IPCP address.
    pub local_address: Ipv4Addr,
    /// DNS servers for IPCP (RFC 1877): primary, then secondary.
    pub dns: Vec<Ipv4Addr>,
    /// The TUN device.
    pub tun: TunConfig,
    /// Address pools, indexed by [`PoolId`].
    pub pools: Vec<Pool>,
    /// Resume after an automatic disconnect.
    pub resume: ResumeConfig,
    pub(crate) realm_pools: HashMap<String, PoolId>,
}

impl LnsConfig {
    /// The allow-list entry for a tunnel from `addr` (longest prefix), or `None` to refuse it.
    pub fn allowed_peer(&self, addr: IpAddr) -> Option<&AllowedPeer> {
        match_allowed_peer(&self.peers, addr)
    }

    /// A pool by ID.
    pub fn pool(&self, id: PoolId) -> &Pool {
        &self.pools[id.index()]
    }

    /// A pool by name.
    pub fn pool_by_name(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| &*p.name == name)
    }

    /// The pool for a realm (case-insensitive) when the subscriber names none: the pool listing
    /// the realm, else the default pool.
    pub fn pool_for_realm(&self, realm: Option<&str>) -> Option<PoolId> {
        realm
            .and_then(|r| self.realm_pools.get(&r.to_ascii_lowercase()).copied())
            .or_else(|| self.default_pool())
    }

    /// The catch-all pool.
    pub fn default_pool(&self) -> Option<PoolId> {
        self.pools.iter().find(|p| p.is_default).map(|p| p.id)
    }

    /// The pool that hands out `addr`, if any.
    pub fn pool_of_address(&self, addr: Ipv4Addr) -> Option<PoolId> {
        self.pools.iter().find(|p| p.contains(addr)).map(|p| p.id)
    }

    /// Primary DNS server for IPCP.
    pub fn primary_dns(&self) -> Option<Ipv4Addr> {
        self.dns.first().copied()
    }

    /// Secondary DNS server for IPCP.
    pub fn secondary_dns(&self) -> Option<Ipv4Addr> {
        self.dns.get(1).copied()
    }
}

// ---------------------------------------------------------------------------------------------
// LAC

/// A physical uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Position in [`LacConfig::lines`].
    pub id: LineId,
    /// Unique name.
    pub name: Arc<str>,
    /// Local source address of tunnels on this line.
    pub bind: IpAddr,
    /// Device to bind to, if any.
    pub device: Option<String>,
    /// Capacity, bit/s.
    pub capacity: u64,
    /// Monthly cost in minor units (the line's own, or the tariff's `line_month`).
    pub cost_per_month: i64,
    /// The paying account this line is private to (claim 17), if any.
    pub private_account: Option<Arc<str>>,
}

/// Which realms an LNS peer serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RealmMatch {
    /// `"*"`: realms no peer names, and logins without a realm.
    Any,
    /// One realm, lowercase.
    Exact(String),
}

/// An LNS we open tunnels to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LacPeer {
    /// Position in [`LacConfig::peers`].
    pub id: LacPeerId,
    /// Unique name.
    pub name: Arc<str>,
    /// UDP address.
    pub address: SocketAddr,
    /// Realms served.
    pub realms: Vec<RealmMatch>,
    /// Lower is preferred.
    pub preference: u32,
    /// Share among peers of equal preference.
    pub weight: u32,
    /// Tunnel secret.
    pub secret: Option<SecretBytes>,
    /// Bandwidth one tunnel may carry, bit/s.
    pub tunnel_capacity: u64,
    /// Most sessions in one tunnel.
    pub max_sessions_per_tunnel: u16,
    /// Most tunnels to this peer.
    pub max_tunnels: u32,
    /// Lines tunnels to this peer may use (every line when the file lists none).
    pub lines: Vec<LineId>,
    /// Skip the peer this long after it refuses or does not answer.
    pub hold_down: Duration,
}

/// `[lac.pppoe]`, validated. The front-end runs when `interfaces` is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PppoeConfig {
    /// Access interfaces.
    pub interfaces: Vec<String>,
    /// AC-Name tag.
    pub ac_name: String,
    /// Service-Name tags offered and accepted; empty accepts any.
    pub service_names: Vec<String>,
    /// Most sessions per subscriber MAC.
    pub max_sessions_per_mac: u16,
    /// Most sessions per interface (1-65534).
    pub max_sessions_per_interface: u16,
    /// AC-Cookie HMAC key (exactly [`PPPOE_COOKIE_SECRET_LEN`] bytes); `None`: draw a random one
    /// at start.
    pub cookie_secret: Option<SecretBytes>,
    /// AC-Cookie time bucket.
    pub cookie_bucket: Duration,
    /// PADTs per second answering frames for unknown sessions; 0 disables.
    pub unknown_session_padt_per_second: u32,
}

/// Length of the PPPoE AC-Cookie key (the pppoe module's `COOKIE_SECRET_LEN`).
pub const PPPOE_COOKIE_SECRET_LEN: usize = 32;

impl PppoeConfig {
    /// Whether the front-end runs.
    pub fn enabled(&self) -> bool {
        !self.interfaces.is_empty()
    }
}

/// `[lac.dialin]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialinConfig {
    /// Whether the front-end runs.
    pub enabled: bool,
    /// UDP addresses subscriber tunnels are accepted on.
    pub listen: Vec<SocketAddr>,
    /// Subscriber LACs allowed to connect.
    pub peers: Vec<AllowedPeer>,
    /// Most dial-in tunnels.
    pub max_tunnels: u32,
    /// Most sessions in one dial-in tunnel.
    pub max_sessions_per_tunnel: u16,
}

impl DialinConfig {
    /// The allow-list entry for a tunnel from `addr` (longest prefix), or `None` to refuse it.
    pub fn allowed_peer(&self, addr: IpAddr) -> Option<&AllowedPeer> {
        match_allowed_peer(&self.peers, addr)
    }
}

/// `[lac]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LacConfig {
    /// Whether the LAC role runs.
    pub enabled: bool,
    /// Lines, indexed by [`LineId`].
    pub lines: Vec<Line>,
    /// LNS peers, indexed by [`LacPeerId`].
    pub peers: Vec<LacPeer>,
    /// Close a tunnel after it has been empty this long.
    pub empty_tunnel_linger: Duration,
    /// Tunnel/session setup timeout toward a peer.
    pub setup_timeout: Duration,
    /// PPPoE front-end.
    pub pppoe: PppoeConfig,
    /// L2TP dial-in front-end.
    pub dialin: DialinConfig,
}

impl LacConfig {
    /// A line by ID.
    pub fn line(&self, id: LineId) -> &Line {
        &self.lines[id.index()]
    }

    /// A line by name.
    pub fn line_by_name(&self, name: &str) -> Option<&Line> {
        self.lines.iter().find(|l| &*l.name == name)
    }

    /// A peer by ID.
    pub fn peer(&self, id: LacPeerId) -> &LacPeer {
        &self.peers[id.index()]
    }

    /// A peer by name.
    pub fn peer_by_name(&self, name: &str) -> Option<&LacPeer> {
        self.peers.iter().find(|p| &*p.name == name)
    }

    /// Candidate peers for a login's realm, most preferred first (ties keep file order; the
    /// caller spreads load among equal preferences by weight). Peers that name the realm are the
    /// candidates; only when none does are the catch-all (`"*"`) peers used.
    pub fn peers_for_realm(&self, realm: Option<&str>) -> Vec<&LacPeer> {
        let realm = realm.map(str::to_ascii_lowercase);
        let mut exact: Vec<&LacPeer> = match &realm {
            Some(r) => self
                .peers
                .iter()
                .filter(|p| {
                    p.realms
                        .iter()
                        .any(|m| matches!(m, RealmMatch::Exact(x) if x == r))
                })
                .collect(),
            None => Vec::new(),
        };
        if exact.is_empty() {
            exact = self
                .peers
                .iter()
                .filter(|p| p.realms.contains(&RealmMatch::Any))
                .collect();
        }
        exact.sort_by_key(|p| p.preference);
        exact
    }

    /// Lines private to `account` (claim 17).
    pub fn private_lines<'a>(&'a self, account: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        self.lines
            .iter()
            .filter(move |l| l.private_account.as_deref() == Some(account))
    }
}

// ---------------------------------------------------------------------------------------------
// Disconnect conditions

/// An application service (the seed's service identifier: address, protocol, port) and its
/// server's idle timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppService {
    /// Position in [`DisconnectConfig::services`].
    pub id: ServiceId,
    /// Unique name.
    pub name: Arc<str>,
    /// Server address or network.
    pub network: IpNet,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Server port(s).
    pub ports: PortRange,
    /// The server drops an idle flow after this long.
    pub server_idle_timeout: Duration,
}

impl AppService {
    /// Whether a packet's server side (address, protocol, port) belongs to this service.
    pub fn matches(&self, server: IpAddr, protocol: Protocol, port: u16) -> bool {
        self.protocol == protocol
            && self.ports.contains(port)
            && self.network.contains(&canonical_ip(server))
    }
}

/// A named set of servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerList {
    /// Unique name.
    pub name: Arc<str>,
    /// Server networks.
    pub networks: Vec<IpNet>,
}

impl ServerList {
    /// Whether `addr` is one of the servers.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical_ip(addr);
        self.networks.iter().any(|n| n.contains(&addr))
    }
}

/// (B) Non-communication time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleCondition {
    /// Limit.
    pub time: Duration,
    /// Which packets count as activity.
    pub direction: Direction,
    /// Only packets to or from these servers count.
    pub servers: Option<Arc<ServerList>>,
    /// Traffic below this rate (bit/s over a sampling interval) counts as idle.
    pub min_rate: Option<u64>,
}

/// (C) Data volume; directions seen from the subscriber. At least one limit is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCondition {
    /// Bytes sent by the subscriber.
    pub from_subscriber_bytes: Option<u64>,
    /// Bytes sent to the subscriber.
    pub to_subscriber_bytes: Option<u64>,
    /// Packets sent by the subscriber.
    pub from_subscriber_packets: Option<u64>,
    /// Packets sent to the subscriber.
    pub to_subscriber_packets: Option<u64>,
    /// Only traffic to or from these servers counts.
    pub servers: Option<Arc<ServerList>>,
}

/// (D) Simultaneous logins, checked when this subscriber logs in. At least one limit is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginCondition {
    /// Sessions of all subscribers on the access point of the login (PPPoE interface or dial-in
    /// LAC).
    pub per_access_point: Option<u32>,
    /// Sessions of all subscribers on this daemon.
    pub per_server: Option<u32>,
    /// Sessions with this subscriber's name.
    pub per_subscriber: Option<u32>,
    /// Which session to cut.
    pub victim: Victim,
    /// Cut a victim or refuse the new login.
    pub policy: LoginPolicy,
}

/// (E) Traffic as a percentage of the path's maximum rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficCondition {
    /// Limit, percent (1-100).
    pub percent: u8,
    /// Measurement window.
    pub window: Duration,
}

/// (F) Application-server timeout guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTimeoutCondition {
    /// Cut this long before the server's idle timeout would expire. Shorter than every watched
    /// service's `server_idle_timeout`.
    pub guard: Duration,
    /// Services watched (all services when the file lists none).
    pub services: Vec<ServiceId>,
}

/// A subscriber's disconnect conditions (seed 004). Any combination; none set means never.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectConditions {
    /// The profile these came from, for logs; `None` when only inline conditions apply.
    pub profile: Option<Arc<str>>,
    /// (A) Communication time.
    pub session_time: Option<Duration>,
    /// (B) Non-communication time.
    pub idle: Option<IdleCondition>,
    /// (C) Data volume.
    pub volume: Option<VolumeCondition>,
    /// (D) Simultaneous logins.
    pub logins: Option<LoginCondition>,
    /// (E) Traffic.
    pub traffic: Option<TrafficCondition>,
    /// (F) Application-server timeout.
    pub app_timeout: Option<AppTimeoutCondition>,
}

impl DisconnectConditions {
    /// True when no condition is set: the session is never cut automatically.
    pub fn is_empty(&self) -> bool {
        self.session_time.is_none()
            && self.idle.is_none()
            && self.volume.is_none()
            && self.logins.is_none()
            && self.traffic.is_none()
            && self.app_timeout.is_none()
    }
}

/// `[disconnect]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectConfig {
    /// Counter sampling interval for C and E.
    pub sampling_interval: Duration,
    /// Application services, indexed by [`ServiceId`].
    pub services: Vec<AppService>,
    /// Named server lists.
    pub server_lists: Vec<Arc<ServerList>>,
    /// Named profiles (each `profile` field is `Some(name)`).
    pub profiles: Vec<Arc<DisconnectConditions>>,
}

impl DisconnectConfig {
    /// A service by ID.
    pub fn service(&self, id: ServiceId) -> &AppService {
        &self.services[id.index()]
    }

    /// The service a packet's server side belongs to, if any (services never overlap, so at
    /// most one matches).
    pub fn classify(&self, server: IpAddr, protocol: Protocol, port: u16) -> Option<ServiceId> {
        self.services
            .iter()
            .find(|s| s.matches(server, protocol, port))
            .map(|s| s.id)
    }

    /// A profile by name.
    pub fn profile(&self, name: &str) -> Option<&Arc<DisconnectConditions>> {
        self.profiles
            .iter()
            .find(|p| p.profile.as_deref() == Some(name))
    }

    /// A server list by name.
    pub fn server_list(&self, name: &str) -> Option<&Arc<ServerList>> {
        self.server_lists.iter().find(|l| &*l.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// Billing

/// The consolidation-service fee (claim 1), charged to each subscriber of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsolidationFee {
    /// Counted per tunnel-hour or per line-hour of the subscriber's use.
    pub per: ConsolidationBasis,
    /// Amount per started hour of the subscriber's tunnel (or line) time, minor units.
    pub amount: i64,
}

/// The supplementary-contract fee (claims 17-19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractFee {
    /// A fixed amount per period, minor units.
    Fixed(i64),
    /// An amount per started unit of the account's use of its private lines ([`MeterUnit`]).
    Metered {
        /// Minor units per unit.
        amount: i64,
        /// The unit.
        unit: MeterUnit,
    },
}

/// `[billing.tariff]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tariff {
    /// Per tunnel-hour, minor units.
    pub tunnel_hour: i64,
    /// Per line-month for lines without their own cost, minor units.
    pub line_month: i64,
    /// Consolidation-service fee.
    pub consolidation_fee: ConsolidationFee,
    /// Supplementary-contract fee for accounts without their own.
    pub supplementary_fee: ContractFee,
}

/// A per-time charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRate {
    /// Minor units per started unit.
    pub amount: i64,
    /// The unit.
    pub per: TimeUnit,
}

/// A per-volume charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeRate {
    /// Minor units per started unit.
    pub amount: i64,
    /// The unit.
    pub per: VolumeUnit,
}

/// A communication plan: flat, per time, per volume, or any sum of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Position in [`BillingConfig::plans`].
    pub id: PlanId,
    /// Unique name.
    pub name: Arc<str>,
    /// Flat amount per period.
    pub monthly: i64,
    /// Per-time charge.
    pub time: Option<TimeRate>,
    /// Per-volume charge.
    pub volume: Option<VolumeRate>,
}

/// Per-account settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The paying account.
    pub account: Arc<str>,
    /// Name for the invoice.
    pub display_name: Option<String>,
    /// The account's own supplementary fee.
    pub supplementary_fee: Option<ContractFee>,
}

/// `[billing]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingConfig {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor-unit digits (display only).
    pub minor_digits: u8,
    /// Offset east of UTC, in seconds, at which periods start.
    pub period_offset_seconds: i32,
    /// Tariffs.
    pub tariff: Tariff,
    /// Plans, indexed by [`PlanId`].
    pub plans: Vec<Plan>,
    /// Accounts with their own settings.
    pub accounts: Vec<Account>,
    /// The ledger.
    pub ledger: LedgerConfig,
}

impl BillingConfig {
    /// A plan by ID.
    pub fn plan(&self, id: PlanId) -> &Plan {
        &self.plans[id.index()]
    }

    /// A plan by name.
    pub fn plan_by_name(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| &*p.name == name)
    }

    /// An account's settings, if it has its own.
    pub fn account(&self, account: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| &*a.account == account)
    }

    /// The supplementary-contract fee that applies to `account`.
    pub fn supplementary_fee_for(&self, account: &str) -> ContractFee {
        self.account(account)
            .and_then(|a| a.supplementary_fee)
            .unwrap_or(self.tariff.supplementary_fee)
    }

    /// The ledger directory: `ledger.directory` if absolute, else under `state_dir`.
    pub fn ledger_dir(&self, state_dir: &Path) -> PathBuf {
        state_dir.join(&self.ledger.directory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Ipv4Range {
        s.parse().unwrap()
    }

    #[test]
    fn pool_arithmetic() {
        let p = Pool::new(
            PoolId(0),
            "p".into(),
            vec![r("10.0.0.0/24"), r("10.0.1.0/24"), r("10.0.3.0-10.0.3.9")],
            vec![
                r("10.0.0.0"),
                r("10.0.0.255-10.0.1.0"),
                r("10.0.3.5"),
                r("192.0.2.0/24"),
            ],
            vec![],
            false,
        );
        // Adjacent ranges merge; exclusions split them.
        assert_eq!(
            p.assignable(),
            &[
                r("10.0.0.1-10.0.0.254"),
                r("10.0.1.1-10.0.1.255"),
                r("10.0.3.0-10.0.3.4"),
                r("10.0.3.6-10.0.3.9")
            ]
        );
        assert_eq!(p.size(), 254 + 255 + 5 + 4);
        assert_eq!(p.addresses().count() as u64, p.size());
        assert!(p.contains("10.0.0.1".parse().unwrap()));
        assert!(!p.contains("10.0.0.0".parse().unwrap()));
        assert!(!p.contains("10.0.1.0".parse().unwrap()));
        assert!(!p.contains("10.0.2.7".parse().unwrap()));
        assert!(!p.contains("10.0.3.5".parse().unwrap()));
        assert!(p.contains("10.0.3.9".parse().unwrap()));
        let routed: u64 = p
            .routes()
            .iter()
            .map(|n| 1u64 << (32 - n.prefix_len()))
            .sum();
        assert_eq!(routed, p.size());
    }

    #[test]
    fn whole_address_space_pool() {
        let p = Pool::new(
            PoolId(0),
            "all".into(),
            vec![r("0.0.0.0/0")],
            vec![r("255.255.255.255")],
            vec![],
            true,
        );
        assert_eq!(p.size(), (1u64 << 32) - 1);
        assert!(p.contains("255.255.255.254".parse().unwrap()));
        assert!(!p.contains("255.255.255.255".parse().unwrap()));
    }

    #[test]
    fn longest_prefix_wins_and_mapped_addresses_match() {
        let peer = |name: &str, net: &str| AllowedPeer {
            name: name.into(),
            network: net.parse().unwrap(),
            secret: None,
            hostname: None,
            max_tunnels: None,
        };
        let peers = vec![
            peer("wide", "10.0.0.0/8"),
            peer("narrow", "10.1.2.0/24"),
            peer("v6", "2001:db8::/32"),
        ];
        let name =
            |a: &str| match_allowed_peer(&peers, a.parse().unwrap()).map(|p| p.name.to_string());
        assert_eq!(name("10.1.2.3").as_deref(), Some("narrow"));
        assert_eq!(name("10.9.9.9").as_deref(), Some("wide"));
        assert_eq!(name("::ffff:10.1.2.3").as_deref(), Some("narrow"));
        assert_eq!(name("2001:db8::1").as_deref(), Some("v6"));
        assert_eq!(name("192.0.2.1"), None);
    }
}
