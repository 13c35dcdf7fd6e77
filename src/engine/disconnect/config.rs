//! The engine's view of the configuration: the one place where the validated `[disconnect]`
//! section, the subscribers' conditions and `[lns.resume]` ([`crate::config`], the only TOML
//! schema, which reports every problem as `FILE:LINE:COL: key`) are mapped into the runtime types
//! of the engine ([`Conditions`], [`EngineSettings`]), the data plane ([`ServiceTable`]) and the
//! resume buffer ([`ResumeLimits`]).
//!
//! Owns: [`CompiledDisconnect`] (built once per configuration, rebuilt on reload) and the rules of
//! the mapping. Must not touch: files, positions, validation (the config layer refuses anything
//! this mapping could not represent: IPv6 servers, more than [`MAX_SERVER_SETS`] server lists or
//! [`MAX_WATCH_GROUPS`] distinct watched-service sets, B and C following different server lists).
//!
//! # The mapping
//! | config                                   | runtime                                                |
//! |------------------------------------------|--------------------------------------------------------|
//! | `disconnect.sampling_interval`           | [`EngineSettings::sample_interval`]                    |
//! | `[[disconnect.services]]` (in order)     | [`ServiceSpec`] `i` of the [`ServiceTable`]            |
//! | `[[disconnect.server_lists]]` `i`        | listed-server set `i` (bit `i` of [`Conditions::listed_sets`]) |
//! | each distinct `app_timeout.services` set | a watch group (bit of [`AppTimeoutCondition::groups`]) |
//! | `logins.victim` + `logins.policy`        | [`LoginPolicy`]                                        |
//! | `traffic.percent`                        | [`TrafficCondition::max_percent`], busier direction    |
//! | `disconnect_order` (per subscriber)      | [`super::LoginRequest::disconnect_order`]              |
//! | `[lns.resume]` (`grace = "0s"`: off)     | [`ResumeLimits`]                                       |

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    AppTimeoutCondition, Conditions, EngineSettings, IdleCondition, IdleDirection, LoginCondition,
    LoginPolicy, RateDirection, TrafficCondition, VolumeCondition,
};
use crate::config::{
    self, Config, DisconnectConditions, ResumeConfig, ServiceId as ConfigServiceId,
};
use crate::dataplane::classifier::{
    MAX_SERVER_SETS, MAX_WATCH_GROUPS, ServiceId, ServiceSpec, ServiceTable, TableError,
};
use crate::dataplane::resume::{
    DEFAULT_MAX_HELD_ADDRESSES, DEFAULT_MAX_PACKETS_TOTAL, ResumeLimits,
};

/// The `[disconnect]` section and the subscribers' conditions of one configuration, in the
/// engine's and the data plane's terms.
#[derive(Debug, Clone)]
pub struct CompiledDisconnect {
    /// The engine's settings.
    pub settings: EngineSettings,
    /// The service table to publish through
    /// [`crate::dataplane::classifier::SharedServiceTable`].
    pub table: ServiceTable,
    /// Resume bounds (`None`: resume is off).
    pub resume: Option<ResumeLimits>,
    /// Server list name → listed-server set bit.
    list_bits: HashMap<Arc<str>, u32>,
    /// Sorted service sets → watch group.
    groups: HashMap<Vec<u32>, u32>,
    /// Conditions already mapped, by the address of the config's shared value (kept alive here).
    cache: HashMap<usize, (Arc<DisconnectConditions>, Arc<Conditions>)>,
    none: Arc<Conditions>,
}

impl CompiledDisconnect {
    /// Maps a validated configuration. Fails only on what the config layer already refuses (it
    /// is the last line of defence, never the operator's error message).
    pub fn new(config: &Config) -> Result<Self, TableError> {
        let d = &config.disconnect;
        if d.server_lists.len() > MAX_SERVER_SETS {
            return Err(TableError::TooManyServerSets {
                count: d.server_lists.len(),
            });
        }
        let list_bits = d
            .server_lists
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.clone(), i as u32))
            .collect();
        let mut every: Vec<&Arc<DisconnectConditions>> = d.profiles.iter().collect();
        every.extend(
            config
                .subscribers
                .explicit()
                .iter()
                .map(|s| &s.settings.disconnect),
        );
        every.extend(
            config
                .subscribers
                .ranges()
                .iter()
                .map(|r| &r.settings.disconnect),
        );

        // Watch groups: one per distinct set of watched services, in first-seen order.
        let mut groups: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut members: Vec<Vec<ServiceId>> = Vec::new();
        for c in &every {
            if let Some(a) = &c.app_timeout {
                let key = service_set(&a.services);
                if !groups.contains_key(&key) {
                    if members.len() == MAX_WATCH_GROUPS {
                        return Err(TableError::TooManyWatchGroups {
                            count: members.len() + 1,
                        });
                    }
                    groups.insert(key.clone(), members.len() as u32);
                    members.push(key.iter().map(|&i| ServiceId(i as u16)).collect());
                }
            }
        }
        let services = d
            .services
            .iter()
            .map(service_spec)
            .collect::<Result<Vec<ServiceSpec>, _>>()?;
        let sets = d
            .server_lists
            .iter()
            .map(|l| {
                l.networks
                    .iter()
                    .map(|n| ipv4_net(n, &l.name))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        // With no group at all, the table's default (every service in group 0) is harmless: no
        // session watches any group.
        let table = ServiceTable::build(services, &sets, &members)?;
        let mut compiled = Self {
            settings: EngineSettings {
                sample_interval: d.sampling_interval,
            },
            table,
            resume: resume_limits(&config.lns.resume),
            list_bits,
            groups,
            cache: HashMap::new(),
            none: Arc::new(Conditions::default()),
        };
        for c in every {
            if !c.is_empty() {
                let key = Arc::as_ptr(c) as usize;
                if !compiled.cache.contains_key(&key) {
                    let mapped = Arc::new(compiled.map(c));
                    compiled.cache.insert(key, (c.clone(), mapped));
                }
            }
        }
        Ok(compiled)
    }

    /// The runtime conditions of a subscriber's (or profile's) configured conditions. Values
    /// shared in the configuration stay shared: every session of a profile points at one
    /// [`Conditions`].
    pub fn conditions(&self, c: &Arc<DisconnectConditions>) -> Arc<Conditions> {
        if c.is_empty() {
            return self.none.clone();
        }
        match self.cache.get(&(Arc::as_ptr(c) as usize)) {
            Some((_, mapped)) => mapped.clone(),
            // Not from this configuration (a caller's own value): map it on the spot.
            None => Arc::new(self.map(c)),
        }
    }

    /// The shared empty condition set.
    pub fn no_conditions(&self) -> Arc<Conditions> {
        self.none.clone()
    }

    /// The runtime conditions and disconnect order of subscriber `name`, `None` for a name the
    /// configuration does not know.
    pub fn for_subscriber(&self, config: &Config, name: &str) -> Option<(Arc<Conditions>, u32)> {
        let s = config.subscribers.get(name)?;
        Some((
            self.conditions(&s.settings.disconnect),
            s.settings.disconnect_order,
        ))
    }

    fn map(&self, c: &DisconnectConditions) -> Conditions {
        let listed = c
            .idle
            .as_ref()
            .and_then(|i| i.servers.as_ref())
            .or_else(|| c.volume.as_ref().and_then(|v| v.servers.as_ref()));
        let listed_sets = listed
            .and_then(|l| self.list_bits.get(&l.name))
            .map_or(0, |bit| 1u64 << bit);
        Conditions {
            session_time: c.session_time,
            idle: c.idle.as_ref().map(|i| IdleCondition {
                limit: i.time,
                direction: match i.direction {
                    config::Direction::Either => IdleDirection::Either,
                    config::Direction::FromSubscriber => IdleDirection::FromSubscriber,
                    config::Direction::ToSubscriber => IdleDirection::ToSubscriber,
                },
                only_listed_servers: i.servers.is_some(),
                min_rate_bps: i.min_rate,
            }),
            volume: c.volume.as_ref().map(|v| VolumeCondition {
                bytes_from_subscriber: v.from_subscriber_bytes,
                bytes_to_subscriber: v.to_subscriber_bytes,
                packets_from_subscriber: v.from_subscriber_packets,
                packets_to_subscriber: v.to_subscriber_packets,
                only_listed_servers: v.servers.is_some(),
            }),
            logins: c.logins.map(|l| LoginCondition {
                per_access_point: l.per_access_point,
                per_server: l.per_server,
                per_subscriber: l.per_subscriber,
                policy: match (l.policy, l.victim) {
                    (config::LoginPolicy::Refuse, _) => LoginPolicy::RefuseNew,
                    (config::LoginPolicy::Cut, config::Victim::Earliest) => {
                        LoginPolicy::CutEarliest
                    }
                    (config::LoginPolicy::Cut, config::Victim::Order) => LoginPolicy::CutByOrder,
                },
            }),
            traffic: c.traffic.map(|t| TrafficCondition {
                window: t.window,
                max_percent: t.percent,
                direction: RateDirection::Busier,
            }),
            app_timeout: c.app_timeout.as_ref().map(|a| AppTimeoutCondition {
                guard: a.guard,
                groups: self
                    .groups
                    .get(&service_set(&a.services))
                    .map_or(0, |g| 1u64 << g),
            }),
            listed_sets,
        }
    }
}

/// The resume bounds of `[lns.resume]`; `None` when `grace` is zero (resume off).
pub fn resume_limits(r: &ResumeConfig) -> Option<ResumeLimits> {
    if r.grace.is_zero() {
        return None;
    }
    let per_address_bytes = usize::try_from(r.buffer_bytes).unwrap_or(usize::MAX);
    Some(ResumeLimits {
        grace: r.grace,
        max_held_addresses: DEFAULT_MAX_HELD_ADDRESSES,
        max_packets_per_address: r.buffer_packets as usize,
        max_bytes_per_address: per_address_bytes,
        max_packets_total: DEFAULT_MAX_PACKETS_TOTAL,
        max_bytes_total: usize::try_from(r.total_bytes).unwrap_or(usize::MAX),
    })
}

/// The classifier's form of a configured service.
fn service_spec(s: &config::AppService) -> Result<ServiceSpec, TableError> {
    Ok(ServiceSpec {
        name: s.name.clone(),
        network: ipv4_net(&s.network, &s.name)?,
        protocol: s.protocol.number(),
        ports: Some((s.ports.first, s.ports.last)),
        idle_timeout: s.server_idle_timeout,
    })
}

/// The config layer admits IPv4 servers only (the data plane classifies IPv4).
fn ipv4_net(n: &ipnet::IpNet, owner: &Arc<str>) -> Result<ipnet::Ipv4Net, TableError> {
    match n {
        ipnet::IpNet::V4(v4) => Ok(*v4),
        ipnet::IpNet::V6(_) => Err(TableError::NotIpv4 {
            name: owner.clone(),
        }),
    }
}

fn service_set(ids: &[ConfigServiceId]) -> Vec<u32> {
    let mut v: Vec<u32> = ids.iter().map(|i| i.0).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The disconnect part of a configuration as the actor needs it on reload: whether anything the
/// mapping reads changed.
pub fn disconnect_changed(old: &Config, new: &Config) -> bool {
    old.disconnect != new.disconnect || old.lns.resume != new.lns.resume
}
