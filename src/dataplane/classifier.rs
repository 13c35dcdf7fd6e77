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

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

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

/// One application service: a server address, a protocol, a port (or every port), and the idle
/// timeout after which that server drops an inactive client (the seed's "service identifier" and
/// "timeout time").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The operator's name for the service, carried into disconnect records.
    pub name: Arc<str>,
    /// The server's address.
    pub address: Ipv4Addr,
    /// The IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...).
    pub protocol: u8,
    /// The server's port; `None` matches every port (and is the only choice for portless
    /// protocols).
    pub port: Option<u16>,
    /// How long the server keeps an idle client before timing it out.
    pub idle_timeout: Duration,
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
    /// Two services would both match some packet.
    #[error("service {second:?} overlaps service {first:?} (same server, protocol and port)")]
    Overlap {
        /// The earlier service's name.
        first: Arc<str>,
        /// The later service's name.
        second: Arc<str>,
    },
    /// A port was given for a protocol that has none.
    #[error("service {name:?}: protocol {protocol} has no ports")]
    PortWithoutPorts {
        /// The service's name.
        name: Arc<str>,
        /// Its protocol number.
        protocol: u8,
    },
}

/// The application-service table and listed-server sets, built once per config and never changed;
/// a reload builds a new one and publishes it through [`SharedServiceTable`].
#[derive(Debug, Clone)]
pub struct ServiceTable {
    generation: u8,
    services: Vec<ServiceSpec>,
    timeouts_ms: Vec<u64>,
    service_map: FlatMap,
    server_sets: FlatMap,
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
            service_map: FlatMap::with_capacity(0),
            server_sets: FlatMap::with_capacity(0),
        }
    }

    /// Builds a table. `server_sets[i]` lists the addresses of listed-server set `i` (the bit
    /// conditions carry in [`crate::engine::disconnect::Conditions::listed_sets`]).
    pub fn build(
        services: Vec<ServiceSpec>,
        server_sets: &[Vec<Ipv4Addr>],
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
        let mut service_map = FlatMap::with_capacity(services.len());
        let mut timeouts_ms = Vec::with_capacity(services.len());
        // The first service seen on each (server, protocol), to catch a wildcard-port service
        // overlapping a specific-port one in one pass.
        let mut by_server: std::collections::HashMap<(Ipv4Addr, u8), usize> = Default::default();
        for (i, s) in services.iter().enumerate() {
            if s.port.is_some() && !has_ports(s.protocol) {
                return Err(TableError::PortWithoutPorts {
                    name: s.name.clone(),
                    protocol: s.protocol,
                });
            }
            // A wildcard-port service and a specific-port one on the same server and protocol would
            // both match one packet; refuse rather than pick one silently.
            let own = service_key(s.address, s.protocol, s.port);
            let conflict = match s.port {
                Some(_) => service_map
                    .get(own)
                    .or_else(|| service_map.get(service_key(s.address, s.protocol, None))),
                None => by_server.get(&(s.address, s.protocol)).map(|&j| j as u64),
            };
            if let Some(first) = conflict {
                return Err(TableError::Overlap {
                    first: services[first as usize].name.clone(),
                    second: s.name.clone(),
                });
            }
            by_server.entry((s.address, s.protocol)).or_insert(i);
            service_map.insert(own, i as u64);
            timeouts_ms.push(crate::runtime::clock::millis(s.idle_timeout));
        }
        let members: usize = server_sets.iter().map(Vec::len).sum();
        let mut set_map = FlatMap::with_capacity(members);
        for (bit, set) in server_sets.iter().enumerate() {
            for addr in set {
                let key = u64::from(u32::from(*addr));
                let mask = set_map.get(key).unwrap_or(0) | (1u64 << bit);
                set_map.insert(key, mask);
            }
        }
        Ok(Self {
            generation: 0,
            services,
            timeouts_ms,
            service_map,
            server_sets: set_map,
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

    /// The service a packet to or from `server` with `protocol` and server port `port` belongs to.
    /// A specific port wins over the server's every-port service (the table refuses to hold both).
    #[inline]
    pub fn lookup_service(
        &self,
        server: Ipv4Addr,
        protocol: u8,
        port: Option<u16>,
    ) -> Option<ServiceId> {
        if port.is_some()
            && let Some(i) = self.service_map.get(service_key(server, protocol, port))
        {
            return Some(ServiceId(i as u16));
        }
        self.service_map
            .get(service_key(server, protocol, None))
            .map(|i| ServiceId(i as u16))
    }

    /// The listed-server sets `address` belongs to, as a bit mask.
    #[inline]
    pub fn server_sets_of(&self, address: Ipv4Addr) -> u64 {
        self.server_sets
            .get(u64::from(u32::from(address)))
            .unwrap_or(0)
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

/// The map key of a service: address, protocol, port and a "has a port" bit. Never `u64::MAX`,
/// which marks an empty map slot.
fn service_key(address: Ipv4Addr, protocol: u8, port: Option<u16>) -> u64 {
    let (has, port) = match port {
        Some(p) => (1u64, u64::from(p)),
        None => (0, 0),
    };
    (u64::from(u32::from(address)) << 25) | (u64::from(protocol) << 17) | (has << 16) | port
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

/// The published service table. The actor publishes a new table on reload; each socket task holds a
/// [`ServiceTableReader`] that notices the change with one atomic load per packet and otherwise
/// never touches the lock.
#[derive(Debug)]
pub struct SharedServiceTable {
    current: RwLock<Arc<ServiceTable>>,
    version: AtomicU64,
}

impl SharedServiceTable {
    /// Publishes `table` as the first version.
    pub fn new(table: ServiceTable) -> Arc<Self> {
        let mut table = table;
        table.generation = 0;
        Arc::new(Self {
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
/// condition F. A malformed packet is not counted; the caller drops it and counts the error.
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
    if !table.has_no_services()
        && counters.tracks_services(direction)
        && let Some(id) = table.lookup_service(remote, ip.protocol, remote_port)
    {
        counters.touch_service(table.generation(), id.0, stamp, |i| {
            table.timeout_ms(ServiceId(i))
        });
        class.service = Some(id);
    }
    Ok(class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, addr: [u8; 4], protocol: u8, port: Option<u16>) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            address: Ipv4Addr::from(addr),
            protocol,
            port,
            idle_timeout: Duration::from_secs(300),
        }
    }

    #[test]
    fn specific_port_and_wildcard_on_one_server_overlap() {
        let err = ServiceTable::build(
            vec![
                svc("web", [10, 0, 0, 1], PROTO_TCP, Some(80)),
                svc("all", [10, 0, 0, 1], PROTO_TCP, None),
            ],
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
        )
        .unwrap();
    }

    #[test]
    fn lookup_prefers_nothing_but_exact_keys() {
        let t = ServiceTable::build(
            vec![
                svc("web", [10, 0, 0, 1], PROTO_TCP, Some(80)),
                svc("ping", [10, 0, 0, 1], PROTO_ICMP, None),
            ],
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
        let published = shared.publish(
            ServiceTable::build(vec![svc("web", [1, 2, 3, 4], PROTO_TCP, Some(443))], &[]).unwrap(),
        );
        assert_eq!(published.generation(), 1);
        assert!(!r.current().has_no_services());
        assert_eq!(r.current().generation(), 1);
    }
}
