//! The packet classifier: per subscriber IPv4 packet, count it and tell which listed server and which
//! application service it belongs to.
//!
//! Owns: the immutable [`ServiceTable`] (application services keyed by server address, protocol and
//! port, with each server's idle timeout, plus the listed-server sets of conditions B and C), its
//! publication to the socket tasks ([`SharedServiceTable`], [`ServiceTableReader`]), the minimal
//! IPv4/TCP/UDP header view ([`Ipv4Summary`]) and the per-packet entry point [`count_ipv4`].
//! Must not touch: the session map, the clock, the actor's state. Never panics on any bytes and
//! never allocates per packet.
//!
//! # Cost per packet
//! One header parse, two atomic adds (bytes, packets), and the stamp store when the stamp changed.
//! Only when the session has listed servers is the remote address looked up in the server-set map,
//! and only when the service table is non-empty and the session runs condition F is the packet
//! looked up in the service map. Both maps are open-addressing tables built once with a fixed hash;
//! their keys come from the operator's config, so a packet cannot lengthen a probe sequence.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::Ipv4Net;

use super::counters::{Direction, SessionCounters, Stamp};

/// Most services one table holds (service indices must fit a counter slot's 16 bits).
pub const MAX_SERVICES: usize = 65_534;

/// Most distinct listed-server sets (one bit each in a session's watch mask).
pub const MAX_SERVER_SETS: usize = 64;

/// IP protocol numbers the classifier reads ports for (IANA "Assigned Internet Protocol Numbers").
pub const PROTO_ICMP: u8 = 1;
/// TCP.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;

/// The index of a service in its [`ServiceTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub u16);

/// A service's port match: one port, a range, or every port.
pub type PortSpan = (u16, u16);

/// One application service: a server address or network, a protocol, a port range (or every
/// port), and the idle timeout after which that server drops an inactive client (the seed's
/// "service identifier" and "timeout time").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The operator's name for the service, carried into disconnect records.
    pub name: Arc<str>,
    /// The server's address (a /32) or a network of servers.
    pub network: Ipv4Net,
    /// The IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...).
    pub protocol: u8,
    /// The server's ports, inclusive; `None` matches every port and packets without ports (the
    /// only choice for portless protocols).
    pub ports: Option<PortSpan>,
    /// How long the server keeps an idle client before timing it out.
    pub idle_timeout: Duration,
}

impl ServiceSpec {
    /// A service on one server address with one port (or every port).
    pub fn host(
        name: &str,
        address: Ipv4Addr,
        protocol: u8,
        port: Option<u16>,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            network: Ipv4Net::from(address),
            protocol,
            ports: port.map(|p| (p, p)),
            idle_timeout,
        }
    }

    fn ports_overlap(&self, other: &ServiceSpec) -> bool {
        match (self.ports, other.ports) {
            (Some((a0, a1)), Some((b0, b1))) => a0 <= b1 && b0 <= a1,
            _ => true,
        }
    }
}

/// Why a [`ServiceTable`] cannot be built. The config layer validates first and reports these with
/// their keys; this is the last line of defence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// More services than a counter slot can index.
    #[error("{count} services configured, at most {MAX_SERVICES} are supported")]
    TooManyServices {
        /// Services given.
        count: usize,
    },
    /// More listed-server sets than a session's watch mask has bits.
    #[error("{count} distinct listed-server sets, at most {MAX_SERVER_SETS} are supported")]
    TooManyServerSets {
        /// Sets given.
        count: usize,
    },
    /// More watch groups than a session's service mask has bits.
    #[error("{count} distinct watched-service groups, at most {MAX_WATCH_GROUPS} are supported")]
    TooManyWatchGroups {
        /// Groups given.
        count: usize,
    },
    /// A watch group names a service the table does not have.
    #[error("watch group {group} names service index {service}, which does not exist")]
    UnknownService {
        /// The group.
        group: usize,
        /// The index.
        service: u16,
    },
    /// Two services would both match some packet.
    #[error("service {second:?} overlaps service {first:?} (same server, protocol and port)")]
    Overlap {
        /// One service's name.
        first: Arc<str>,
        /// The other's.
        second: Arc<str>,
    },
    /// A service or server list names an IPv6 network (the classifier reads IPv4 only).
    #[error("{name:?}: only IPv4 servers can be classified")]
    NotIpv4 {
        /// The service's or server list's name.
        name: Arc<str>,
    },
    /// A port was given for a protocol that has none, or a range runs backwards.
    #[error("service {name:?}: protocol {protocol} has no ports, or its port range is empty")]
    BadPorts {
        /// The service's name.
        name: Arc<str>,
        /// Its protocol number.
        protocol: u8,
    },
}

/// Most watch groups (one bit each in a session's service mask): the distinct sets of services
/// that subscribers' condition F watches.
pub const MAX_WATCH_GROUPS: usize = 64;

/// Ports of the services on one (network, protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PortEntry {
    ports: Option<PortSpan>,
    service: u16,
}

/// The application-service table and listed-server sets, built once per config and never changed;
/// a reload builds a new one and publishes it through [`SharedServiceTable`].
///
/// Services and server sets may be networks: a lookup probes once per distinct prefix length in
/// use, longest first (a table of host addresses probes once).
#[derive(Debug, Clone)]
pub struct ServiceTable {
    generation: u8,
    services: Vec<ServiceSpec>,
    timeouts_ms: Vec<u64>,
    /// Per service: the watch groups it belongs to.
    groups: Vec<u64>,
    /// (prefix length, network, protocol) → `start << 32 | count` in `ports`.
    service_map: FlatMap,
    service_prefixes: Vec<u8>,
    ports: Vec<PortEntry>,
    /// (prefix length, network) → bit mask of server sets.
    server_sets: FlatMap,
    set_prefixes: Vec<u8>,
}

impl Default for ServiceTable {
    fn default() -> Self {
        Self::empty()
    }
}

impl ServiceTable {
    /// A table with no services and no server sets: the classifier then only counts.
    pub fn empty() -> Self {
        Self {
            generation: 0,
            services: Vec::new(),
            timeouts_ms: Vec::new(),
            groups: Vec::new(),
            service_map: FlatMap::with_capacity(0),
            service_prefixes: Vec::new(),
            ports: Vec::new(),
            server_sets: FlatMap::with_capacity(0),
            set_prefixes: Vec::new(),
        }
    }

    /// Builds a table. `server_sets[i]` lists the networks of listed-server set `i` (the bit
    /// conditions carry in [`crate::engine::disconnect::Conditions::listed_sets`]).
    /// `watch_groups[g]` lists the services of watch group `g` (the bit condition F carries in
    /// [`crate::engine::disconnect::AppTimeoutCondition::groups`]); with no groups given, group 0
    /// holds every service.
    pub fn build(
        services: Vec<ServiceSpec>,
        server_sets: &[Vec<Ipv4Net>],
        watch_groups: &[Vec<ServiceId>],
    ) -> Result<Self, TableError> {
        if services.len() > MAX_SERVICES {
            return Err(TableError::TooManyServices {
                count: services.len(),
            });
        }
        if server_sets.len() > MAX_SERVER_SETS {
            return Err(TableError::TooManyServerSets {
                count: server_sets.len(),
            });
        }
        if watch_groups.len() > MAX_WATCH_GROUPS {
            return Err(TableError::TooManyWatchGroups {
                count: watch_groups.len(),
            });
        }
        for s in &services {
            let bad = match s.ports {
                Some((first, last)) => !has_ports(s.protocol) || first > last,
                None => false,
            };
            if bad {
                return Err(TableError::BadPorts {
                    name: s.name.clone(),
                    protocol: s.protocol,
                });
            }
        }
        // Widest networks first: each service then only has to be checked against networks that
        // contain it (already inserted), found by probing the prefix lengths seen so far.
        let mut order: Vec<usize> = (0..services.len()).collect();
        order.sort_by_key(|&i| (services[i].network.prefix_len(), i));
        let mut groups: std::collections::HashMap<u64, Vec<PortEntry>> = Default::default();
        let mut lens: Vec<u8> = Vec::new();
        for &i in &order {
            let s = &services[i];
            let net = s.network.trunc();
            for &len in &lens {
                let key = service_key(mask(net.addr(), len), len, s.protocol);
                if let Some(other) = groups.get(&key).and_then(|g| {
                    g.iter()
                        .find(|e| services[usize::from(e.service)].ports_overlap(s))
                }) {
                    return Err(TableError::Overlap {
                        first: services[usize::from(other.service)].name.clone(),
                        second: s.name.clone(),
                    });
                }
            }
            let len = net.prefix_len();
            if !lens.contains(&len) {
                lens.push(len);
            }
            groups
                .entry(service_key(net.addr(), len, s.protocol))
                .or_default()
                .push(PortEntry {
                    ports: s.ports,
                    service: i as u16,
                });
        }
        let mut service_map = FlatMap::with_capacity(groups.len());
        let mut ports = Vec::with_capacity(services.len());
        for (key, entries) in groups {
            let start = ports.len() as u64;
            service_map.insert(key, (start << 32) | entries.len() as u64);
            ports.extend(entries);
        }
        lens.sort_unstable_by(|a, b| b.cmp(a));

        let mut masks = vec![0u64; services.len()];
        if watch_groups.is_empty() {
            masks.iter_mut().for_each(|m| *m = 1);
        }
        for (g, members) in watch_groups.iter().enumerate() {
            for id in members {
                let Some(m) = masks.get_mut(usize::from(id.0)) else {
                    return Err(TableError::UnknownService {
                        group: g,
                        service: id.0,
                    });
                };
                *m |= 1u64 << g;
            }
        }

        let mut set_masks: std::collections::HashMap<u64, u64> = Default::default();
        let mut set_prefixes: Vec<u8> = Vec::new();
        for (bit, set) in server_sets.iter().enumerate() {
            for net in set {
                let net = net.trunc();
                *set_masks
                    .entry(net_key(net.addr(), net.prefix_len()))
                    .or_default() |= 1u64 << bit;
                if !set_prefixes.contains(&net.prefix_len()) {
                    set_prefixes.push(net.prefix_len());
                }
            }
        }
        set_prefixes.sort_unstable_by(|a, b| b.cmp(a));
        let mut set_map = FlatMap::with_capacity(set_masks.len());
        for (k, v) in set_masks {
            set_map.insert(k, v);
        }
        Ok(Self {
            generation: 0,
            timeouts_ms: services
                .iter()
                .map(|s| crate::runtime::clock::millis(s.idle_timeout))
                .collect(),
            services,
            groups: masks,
            service_map,
            service_prefixes: lens,
            ports,
            server_sets: set_map,
            set_prefixes,
        })
    }

    /// The generation this table was published as (low 4 bits tag the counters' service slots).
    pub fn generation(&self) -> u8 {
        self.generation
    }

    /// True when there are no services: the classifier skips the service lookup entirely.
    #[inline]
    pub fn has_no_services(&self) -> bool {
        self.services.is_empty()
    }

    /// The services, indexed by [`ServiceId`].
    pub fn services(&self) -> &[ServiceSpec] {
        &self.services
    }

    /// One service.
    pub fn service(&self, id: ServiceId) -> Option<&ServiceSpec> {
        self.services.get(usize::from(id.0))
    }

    /// A service's server idle timeout in milliseconds (0 for an unknown index).
    #[inline]
    pub fn timeout_ms(&self, id: ServiceId) -> u64 {
        self.timeouts_ms
            .get(usize::from(id.0))
            .copied()
            .unwrap_or(0)
    }

    /// The watch groups a service belongs to (0 for an unknown index).
    #[inline]
    pub fn groups_of(&self, id: ServiceId) -> u64 {
        self.groups.get(usize::from(id.0)).copied().unwrap_or(0)
    }

    /// The service a packet to or from `server` with `protocol` and server port `port` belongs to
    /// (services never overlap, so there is at most one).
    #[inline]
    pub fn lookup_service(
        &self,
        server: Ipv4Addr,
        protocol: u8,
        port: Option<u16>,
    ) -> Option<ServiceId> {
        for &len in &self.service_prefixes {
            let Some(v) = self
                .service_map
                .get(service_key(mask(server, len), len, protocol))
            else {
                continue;
            };
            let start = (v >> 32) as usize;
            let entries = self.ports.get(start..start + (v & 0xFFFF_FFFF) as usize)?;
            for e in entries {
                let hit = match (e.ports, port) {
                    (None, _) => true,
                    (Some((first, last)), Some(p)) => first <= p && p <= last,
                    (Some(_), None) => false,
                };
                if hit {
                    return Some(ServiceId(e.service));
                }
            }
        }
        None
    }

    /// The listed-server sets `address` belongs to, as a bit mask.
    #[inline]
    pub fn server_sets_of(&self, address: Ipv4Addr) -> u64 {
        let mut sets = 0;
        for &len in &self.set_prefixes {
            sets |= self
                .server_sets
                .get(net_key(mask(address, len), len))
                .unwrap_or(0);
        }
        sets
    }

    /// Whether any listed-server set is defined.
    #[inline]
    pub fn has_server_sets(&self) -> bool {
        !self.server_sets.is_empty()
    }
}

fn has_ports(protocol: u8) -> bool {
    matches!(protocol, PROTO_TCP | PROTO_UDP)
}

/// `address` with the host bits below a `len`-bit prefix cleared.
#[inline]
fn mask(address: Ipv4Addr, len: u8) -> Ipv4Addr {
    let bits = u32::from(address);
    let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Ipv4Addr::from(bits & m)
}

/// The map key of a network: prefix length and masked address. Never `u64::MAX` (the length is
/// at most 32), which marks an empty map slot.
#[inline]
fn net_key(network: Ipv4Addr, len: u8) -> u64 {
    (u64::from(len) << 32) | u64::from(u32::from(network))
}

/// The map key of a service group: network key and protocol.
#[inline]
fn service_key(network: Ipv4Addr, len: u8, protocol: u8) -> u64 {
    (net_key(network, len) << 8) | u64::from(protocol)
}

/// An immutable open-addressing hash map from `u64` keys (never `u64::MAX`) to `u64` values,
/// at most half full, linear probing, each key beside its value so a probe reads one cache line.
/// Built from trusted config keys only.
#[derive(Debug, Clone)]
struct FlatMap {
    slots: Box<[(u64, u64)]>,
    mask: usize,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

impl FlatMap {
    fn with_capacity(n: usize) -> Self {
        let size = (n * 2).next_power_of_two().max(8);
        Self {
            slots: vec![(EMPTY, 0); size].into_boxed_slice(),
            mask: size - 1,
            len: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        // The murmur3 finaliser: every key bit reaches the low bits used as the index.
        let mut h = key;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        (h as usize) & self.mask
    }

    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        let mut i = self.slot(key);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Some(v);
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts or replaces. Capacity was sized at construction; the map never fills past half.
    fn insert(&mut self, key: u64, value: u64) {
        debug_assert_ne!(key, EMPTY);
        let mut i = self.slot(key);
        loop {
            let k = self.slots[i].0;
            if k == key || k == EMPTY {
                if k == EMPTY {
                    self.len += 1;
                }
                self.slots[i] = (key, value);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// The published service table. The actor publishes a new table on reload; readers notice the
/// change with one atomic load per packet and otherwise never touch the lock: a socket task holds
/// a [`ServiceTableReader`], and code that has no place to keep one (the data plane's shared
/// forwarding functions) uses [`SharedServiceTable::with_current`], which caches the table per
/// thread.
#[derive(Debug)]
pub struct SharedServiceTable {
    /// Process-unique, so a per-thread cache never mistakes a newer table for one it saw.
    id: u64,
    current: RwLock<Arc<ServiceTable>>,
    version: AtomicU64,
}

static NEXT_SHARED_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The table this thread last read: (shared table id, version, table).
    static THREAD_TABLE: RefCell<Option<(u64, u64, Arc<ServiceTable>)>> = const { RefCell::new(None) };
}

impl SharedServiceTable {
    /// Publishes `table` as the first version.
    pub fn new(table: ServiceTable) -> Arc<Self> {
        let mut table = table;
        table.generation = 0;
        Arc::new(Self {
            id: NEXT_SHARED_ID.fetch_add(1, Ordering::Relaxed),
            current: RwLock::new(Arc::new(table)),
            version: AtomicU64::new(0),
        })
    }

    /// Publishes a new table and returns it (stamped with its generation) for the engine.
    ///
    /// Order on reload: publish here, then hand the returned table to
    /// [`crate::engine::disconnect::DisconnectEngine::set_service_table`], which also clears
    /// counter slots of older generations.
    pub fn publish(&self, table: ServiceTable) -> Arc<ServiceTable> {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let next = self.version.load(Ordering::Relaxed).wrapping_add(1);
        let mut table = table;
        table.generation = (next & 0xF) as u8;
        let table = Arc::new(table);
        *guard = table.clone();
        // Released after the swap, so a reader that sees the new version finds the new table.
        self.version.store(next, Ordering::Release);
        table
    }

    /// The current table.
    pub fn load(&self) -> Arc<ServiceTable> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A per-task cached reader.
    pub fn reader(self: &Arc<Self>) -> ServiceTableReader {
        let version = self.version.load(Ordering::Acquire);
        ServiceTableReader {
            shared: self.clone(),
            version,
            table: self.load(),
        }
    }

    /// Runs `f` with the current table, read from a per-thread cache that is refreshed after a
    /// publish: one atomic load and a thread-local access per call, no lock, no reference count.
    #[inline]
    pub fn with_current<R>(&self, f: impl FnOnce(&ServiceTable) -> R) -> R {
        let version = self.version.load(Ordering::Acquire);
        THREAD_TABLE.with(|cell| {
            let mut cached = cell.borrow_mut();
            let fresh = matches!(&*cached, Some((id, v, _)) if *id == self.id && *v == version);
            if !fresh {
                *cached = Some((self.id, version, self.load()));
            }
            match &*cached {
                Some((_, _, table)) => f(table),
                None => f(&self.load()),
            }
        })
    }
}

/// One socket task's view of the published [`ServiceTable`].
#[derive(Debug)]
pub struct ServiceTableReader {
    shared: Arc<SharedServiceTable>,
    version: u64,
    table: Arc<ServiceTable>,
}

impl ServiceTableReader {
    /// The current table; re-reads the shared pointer only after a publish.
    #[inline]
    pub fn current(&mut self) -> &ServiceTable {
        let v = self.shared.version.load(Ordering::Acquire);
        if v != self.version {
            self.table = self.shared.load();
            self.version = v;
        }
        &self.table
    }
}

/// Why bytes are not an IPv4 packet the classifier can count. The caller drops such a packet,
/// counts it and logs it rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv4Error {
    /// Fewer bytes than the fixed header (RFC 791 §3.1: 20 octets).
    #[error("{len} bytes is shorter than an IPv4 header")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// The version field is not 4.
    #[error("IP version {version}, expected 4")]
    Version {
        /// The version field.
        version: u8,
    },
    /// IHL below 5 words or past the end of the bytes.
    #[error("IPv4 header length {header_len} invalid for {len} bytes")]
    HeaderLength {
        /// IHL times four.
        header_len: usize,
        /// Bytes available.
        len: usize,
    },
    /// Total Length shorter than the header or longer than the bytes.
    #[error("IPv4 total length {total_len} invalid (header {header_len}, {len} bytes available)")]
    TotalLength {
        /// The Total Length field.
        total_len: usize,
        /// IHL times four.
        header_len: usize,
        /// Bytes available.
        len: usize,
    },
}

/// What the classifier needs from an IPv4 packet (RFC 791 §3.1), plus the TCP/UDP ports of a first
/// fragment that carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Summary {
    /// Source address.
    pub source: Ipv4Addr,
    /// Destination address.
    pub destination: Ipv4Addr,
    /// The Protocol field.
    pub protocol: u8,
    /// The Total Length field: the packet's size as counted.
    pub total_len: u16,
    /// `(source port, destination port)` for TCP and UDP when the transport header's first four
    /// bytes are present (not on later fragments, nor on a truncated first one).
    pub ports: Option<(u16, u16)>,
}

impl Ipv4Summary {
    /// Reads the header. Bytes past Total Length (link padding) are ignored. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Self, Ipv4Error> {
        // RFC 791 §3.1: the fixed part of the header is 20 octets.
        let Some(fixed) = bytes.get(..20) else {
            return Err(Ipv4Error::Truncated { len: bytes.len() });
        };
        let version = fixed[0] >> 4;
        if version != 4 {
            return Err(Ipv4Error::Version { version });
        }
        // RFC 791 §3.1: "Internet Header Length is the length of the internet header in 32 bit
        // words ... the minimum value for a correct header is 5."
        let header_len = usize::from(fixed[0] & 0x0F) * 4;
        if header_len < 20 || header_len > bytes.len() {
            return Err(Ipv4Error::HeaderLength {
                header_len,
                len: bytes.len(),
            });
        }
        let total_len = u16::from_be_bytes([fixed[2], fixed[3]]);
        if usize::from(total_len) < header_len || usize::from(total_len) > bytes.len() {
            return Err(Ipv4Error::TotalLength {
                total_len: usize::from(total_len),
                header_len,
                len: bytes.len(),
            });
        }
        let protocol = fixed[9];
        let source = Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15]);
        let destination = Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19]);
        // RFC 791 §3.1: a non-zero Fragment Offset means this fragment does not start with the
        // transport header, so it has no ports to read.
        let fragment_offset = u16::from_be_bytes([fixed[6], fixed[7]]) & 0x1FFF;
        let ports = if has_ports(protocol) && fragment_offset == 0 {
            bytes[..usize::from(total_len)]
                .get(header_len..header_len + 4)
                .map(|p| {
                    (
                        u16::from_be_bytes([p[0], p[1]]),
                        u16::from_be_bytes([p[2], p[3]]),
                    )
                })
        } else {
            None
        };
        Ok(Self {
            source,
            destination,
            protocol,
            total_len,
            ports,
        })
    }
}

/// What [`count_ipv4`] found out about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketClass {
    /// The remote end (destination upstream, source downstream) is one of the session's listed
    /// servers.
    pub listed: bool,
    /// The application service the packet belongs to, when the session tracks services.
    pub service: Option<ServiceId>,
    /// The counted size in bytes (the IPv4 Total Length).
    pub bytes: u16,
}

/// The data plane's per-packet entry point for IPv4 payloads (PPP protocol 0x0021): parses the
/// header and counts the packet against `counters`, then its listed-server traffic if the session has
/// listed servers, then its application service if the table has services and the session runs
/// condition F on a group the service belongs to. A malformed packet is not counted; the caller
/// drops it (or, relaying, counts it with [`SessionCounters::record`]) and counts the error.
///
/// Payloads that are not IPv4 (IPv6 and others) are counted with [`SessionCounters::record`] alone.
#[inline]
pub fn count_ipv4(
    table: &ServiceTable,
    counters: &SessionCounters,
    direction: Direction,
    packet: &[u8],
    stamp: Stamp,
) -> Result<PacketClass, Ipv4Error> {
    let ip = Ipv4Summary::parse(packet)?;
    Ok(count_parsed(table, counters, direction, &ip, stamp))
}

/// [`count_ipv4`] for a packet already parsed (the LNS parses once for its anti-spoofing check),
/// with the table read from `shared` only when the session watches something: a session without
/// listed servers and without condition F costs two atomic adds and never looks at the table.
#[inline]
pub fn count_shared(
    shared: &SharedServiceTable,
    counters: &SessionCounters,
    direction: Direction,
    ip: &Ipv4Summary,
    stamp: Stamp,
) -> PacketClass {
    if counters.listed_sets(direction) == 0 && counters.service_groups(direction) == 0 {
        counters.record(direction, u64::from(ip.total_len), stamp);
        return PacketClass {
            listed: false,
            service: None,
            bytes: ip.total_len,
        };
    }
    shared.with_current(|table| count_parsed(table, counters, direction, ip, stamp))
}

/// Counts a parsed packet; see [`count_ipv4`].
#[inline]
pub fn count_parsed(
    table: &ServiceTable,
    counters: &SessionCounters,
    direction: Direction,
    ip: &Ipv4Summary,
    stamp: Stamp,
) -> PacketClass {
    let bytes = u64::from(ip.total_len);
    counters.record(direction, bytes, stamp);
    // The far end of the conversation: where the subscriber sends to, or where its traffic comes
    // from. Its port is the server's port.
    let (remote, remote_port) = match direction {
        Direction::FromSubscriber => (ip.destination, ip.ports.map(|p| p.1)),
        Direction::ToSubscriber => (ip.source, ip.ports.map(|p| p.0)),
    };
    let mut class = PacketClass {
        listed: false,
        service: None,
        bytes: ip.total_len,
    };
    let sets = counters.listed_sets(direction);
    if sets != 0 && table.server_sets_of(remote) & sets != 0 {
        counters.record_listed(direction, bytes, stamp);
        class.listed = true;
    }
    let watched = counters.service_groups(direction);
    if watched != 0
        && !table.has_no_services()
        && let Some(id) = table.lookup_service(remote, ip.protocol, remote_port)
        && table.groups_of(id) & watched != 0
    {
        counters.touch_service(table.generation(), id.0, stamp, |i| {
            table.timeout_ms(ServiceId(i))
        });
        class.service = Some(id);
    }
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, addr: [u8; 4], protocol: u8, port: Option<u16>) -> ServiceSpec {
        ServiceSpec::host(
            name,
            Ipv4Addr::from(addr),
            protocol,
            port,
            Duration::from_secs(300),
        )
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn specific_port_and_wildcard_on_one_server_overlap() {
        let err = ServiceTable::build(
            vec![
                svc("web", [10, 0, 0, 1], PROTO_TCP, Some(80)),
                svc("all", [10, 0, 0, 1], PROTO_TCP, None),
            ],
            &[],
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err,
            TableError::Overlap {
                first: "web".into(),
                second: "all".into()
            }
        );
        let err = ServiceTable::build(
            vec![
                svc("all", [10, 0, 0, 1], PROTO_TCP, None),
                svc("web", [10, 0, 0, 1], PROTO_TCP, Some(80)),
            ],
            &[],
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, TableError::Overlap { .. }));
        // Different protocol or address: no overlap.
        ServiceTable::build(
            vec![
                svc("web", [10, 0, 0, 1], PROTO_TCP, Some(80)),
                svc("dns", [10, 0, 0, 1], PROTO_UDP, None),
                svc("web2", [10, 0, 0, 2], PROTO_TCP, Some(80)),
            ],
            &[],
            &[],
        )
        .unwrap();
    }

    #[test]
    fn a_network_overlaps_the_hosts_and_port_ranges_inside_it() {
        let mut wide = svc("wide", [10, 0, 0, 0], PROTO_TCP, None);
        wide.network = net("10.0.0.0/24");
        wide.ports = Some((8000, 8080));
        // A host inside the network with a port inside the range: overlap, whatever the order.
        for services in [
            vec![
                wide.clone(),
                svc("host", [10, 0, 0, 9], PROTO_TCP, Some(8080)),
            ],
            vec![
                svc("host", [10, 0, 0, 9], PROTO_TCP, Some(8080)),
                wide.clone(),
            ],
        ] {
            assert!(matches!(
                ServiceTable::build(services, &[], &[]),
                Err(TableError::Overlap { .. })
            ));
        }
        // Outside the range, or outside the network: both match their own packets.
        let t = ServiceTable::build(
            vec![
                wide,
                svc("host", [10, 0, 0, 9], PROTO_TCP, Some(443)),
                svc("other", [10, 0, 1, 9], PROTO_TCP, Some(8000)),
            ],
            &[],
            &[],
        )
        .unwrap();
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            t.lookup_service(a("10.0.0.200"), PROTO_TCP, Some(8042)),
            Some(ServiceId(0))
        );
        assert_eq!(
            t.lookup_service(a("10.0.0.9"), PROTO_TCP, Some(8042)),
            Some(ServiceId(0)),
            "the host's own service is port 443 only"
        );
        assert_eq!(
            t.lookup_service(a("10.0.0.9"), PROTO_TCP, Some(443)),
            Some(ServiceId(1))
        );
        assert_eq!(t.lookup_service(a("10.0.0.9"), PROTO_TCP, None), None);
        assert_eq!(
            t.lookup_service(a("10.0.1.9"), PROTO_TCP, Some(8000)),
            Some(ServiceId(2))
        );
        assert_eq!(t.lookup_service(a("10.0.0.9"), PROTO_TCP, Some(8081)), None);
    }

    #[test]
    fn ports_on_portless_protocols_and_backward_ranges_are_refused() {
        let mut s = svc("x", [10, 0, 0, 1], PROTO_ICMP, Some(7));
        assert!(matches!(
            ServiceTable::build(vec![s.clone()], &[], &[]),
            Err(TableError::BadPorts { .. })
        ));
        s.protocol = PROTO_TCP;
        s.ports = Some((90, 80));
        assert!(matches!(
            ServiceTable::build(vec![s], &[], &[]),
            Err(TableError::BadPorts { .. })
        ));
    }

    #[test]
    fn lookup_prefers_nothing_but_exact_keys() {
        let t = ServiceTable::build(
            vec![
                svc("web", [10, 0, 0, 1], PROTO_TCP, Some(80)),
                svc("ping", [10, 0, 0, 1], PROTO_ICMP, None),
            ],
            &[],
            &[],
        )
        .unwrap();
        let a = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(t.lookup_service(a, PROTO_TCP, Some(80)), Some(ServiceId(0)));
        assert_eq!(t.lookup_service(a, PROTO_TCP, Some(81)), None);
        assert_eq!(t.lookup_service(a, PROTO_ICMP, None), Some(ServiceId(1)));
        assert_eq!(
            t.lookup_service(Ipv4Addr::new(10, 0, 0, 2), PROTO_TCP, Some(80)),
            None
        );
    }

    #[test]
    fn server_sets_match_networks_of_any_length() {
        let t = ServiceTable::build(
            Vec::new(),
            &[
                vec![net("192.0.2.0/24"), net("198.51.100.7/32")],
                vec![net("192.0.2.128/25")],
                vec![net("0.0.0.0/0")],
            ],
            &[],
        )
        .unwrap();
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(t.server_sets_of(a("192.0.2.1")), 0b101);
        assert_eq!(t.server_sets_of(a("192.0.2.200")), 0b111);
        assert_eq!(t.server_sets_of(a("198.51.100.7")), 0b101);
        assert_eq!(t.server_sets_of(a("198.51.100.8")), 0b100);
    }

    #[test]
    fn watch_groups_default_to_every_service_and_name_real_services() {
        let two = || {
            vec![
                svc("a", [10, 0, 0, 1], PROTO_TCP, Some(1)),
                svc("b", [10, 0, 0, 2], PROTO_TCP, Some(1)),
            ]
        };
        let t = ServiceTable::build(two(), &[], &[]).unwrap();
        assert_eq!(
            (t.groups_of(ServiceId(0)), t.groups_of(ServiceId(1))),
            (1, 1)
        );
        let t = ServiceTable::build(
            two(),
            &[],
            &[vec![ServiceId(0), ServiceId(1)], vec![ServiceId(1)]],
        )
        .unwrap();
        assert_eq!(
            (t.groups_of(ServiceId(0)), t.groups_of(ServiceId(1))),
            (0b01, 0b11)
        );
        assert_eq!(
            ServiceTable::build(two(), &[], &[vec![ServiceId(2)]]).unwrap_err(),
            TableError::UnknownService {
                group: 0,
                service: 2
            }
        );
    }

    #[test]
    fn flat_map_finds_every_key_of_a_crowded_table() {
        let mut m = FlatMap::with_capacity(5000);
        for k in 0..5000u64 {
            m.insert(k * 7919, k);
        }
        for k in 0..5000u64 {
            assert_eq!(m.get(k * 7919), Some(k));
        }
        assert_eq!(m.get(3), None);
    }

    #[test]
    fn readers_see_a_publish_on_their_next_packet() {
        let shared = SharedServiceTable::new(ServiceTable::empty());
        let mut r = shared.reader();
        assert!(r.current().has_no_services());
        assert!(shared.with_current(|t| t.has_no_services()));
        let published = shared.publish(
            ServiceTable::build(
                vec![svc("web", [1, 2, 3, 4], PROTO_TCP, Some(443))],
                &[],
                &[],
            )
            .unwrap(),
        );
        assert_eq!(published.generation(), 1);
        assert!(!r.current().has_no_services());
        assert_eq!(r.current().generation(), 1);
        assert_eq!(shared.with_current(|t| t.generation()), 1);
        // Another shared table on the same thread is never confused with this one.
        let other = SharedServiceTable::new(ServiceTable::empty());
        assert!(other.with_current(|t| t.has_no_services()));
        assert_eq!(shared.with_current(|t| t.generation()), 1);
    }
}
