//! The disconnect conditions A-F as the engine runs them, and what the engine reports when one
//! fires: [`Decision`], [`Fired`], and the RADIUS Acct-Terminate-Cause it maps to.
//!
//! These are typed, validated values. The operator's TOML form and its validation live in
//! [`crate::config`]; [`super::config`] maps it into [`Conditions`] shared (behind an `Arc`) by
//! every session of every subscriber with the same settings.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dataplane::classifier::ServiceId;

/// The actor's stable number for a session. It does not change when the session moves between
/// tunnels, and it is what every [`Decision`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(pub u64);

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The engine's handle for a registered session, returned by a successful login. Cheap to copy;
/// a handle outliving its session is recognised and refused, never confused with a newer session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHandle {
    pub(super) slot: u32,
    pub(super) generation: u32,
}

/// The per-subscriber disconnect conditions (the seed's disconnection-condition table row). Any
/// combination may be set; none set means the session is never cut by the engine. When any one
/// holds, the session is disconnected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// A: cut when the time since login reaches this.
    pub session_time: Option<Duration>,
    /// B: cut after this long without (enough) traffic.
    pub idle: Option<IdleCondition>,
    /// C: cut when a traffic counter exceeds its limit.
    pub volume: Option<VolumeCondition>,
    /// D: limits on simultaneous logins, checked at each login.
    pub logins: Option<LoginCondition>,
    /// E: cut when the rate over a window exceeds a share of the path's maximum rate.
    pub traffic: Option<TrafficCondition>,
    /// F: cut a guard interval before an application server would time the subscriber out.
    pub app_timeout: Option<AppTimeoutCondition>,
    /// The listed-server sets of the service table whose traffic counts for B and C when they ask
    /// for listed servers only (bit mask; 0 = no listed servers).
    pub listed_sets: u64,
}

impl Conditions {
    /// True when no condition is set.
    pub fn is_empty(&self) -> bool {
        self.session_time.is_none()
            && self.idle.is_none()
            && self.volume.is_none()
            && self.logins.is_none()
            && self.traffic.is_none()
            && self.app_timeout.is_none()
    }

    /// Whether the sampling pass must look at sessions with these conditions (C, E, or B with a
    /// minimum rate).
    pub(super) fn needs_sampling(&self) -> bool {
        self.volume.is_some()
            || self.traffic.is_some()
            || self.idle.as_ref().is_some_and(|i| i.min_rate_bps.is_some())
    }

    /// Whether the session needs the rate state (E, or B with a minimum rate).
    pub(super) fn needs_rate_state(&self) -> bool {
        self.traffic.is_some() || self.idle.as_ref().is_some_and(|i| i.min_rate_bps.is_some())
    }

    /// The server sets the data plane must count as listed for these conditions.
    pub(super) fn watched_sets(&self) -> u64 {
        let wanted = self.idle.as_ref().is_some_and(|i| i.only_listed_servers)
            || self.volume.as_ref().is_some_and(|v| v.only_listed_servers);
        if wanted { self.listed_sets } else { 0 }
    }

    /// The service table's watch groups the data plane must match packets against (F).
    pub(super) fn service_groups(&self) -> u64 {
        self.app_timeout.map_or(0, |a| a.groups)
    }
}

/// Which traffic resets the idle timer of condition B.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IdleDirection {
    /// A packet either way.
    #[default]
    Either,
    /// Only packets sent by the subscriber.
    FromSubscriber,
    /// Only packets sent to the subscriber.
    ToSubscriber,
}

/// Condition B, non-communication time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleCondition {
    /// How long without traffic before the cut.
    pub limit: Duration,
    /// Which traffic counts.
    pub direction: IdleDirection,
    /// Only traffic between the subscriber and its listed servers counts (the seed's "same
    /// transmission and reception destination address").
    pub only_listed_servers: bool,
    /// When set, a sampling interval whose rate (bits per second, in `direction`) stays below this
    /// counts as idle too; activity is then judged per sampling interval.
    pub min_rate_bps: Option<u64>,
}

/// Condition C, data volume since login. Each counter is optional; a session is cut when any set
/// counter goes over its limit (reaching the limit exactly is still allowed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VolumeCondition {
    /// Bytes sent by the subscriber.
    pub bytes_from_subscriber: Option<u64>,
    /// Bytes sent to the subscriber.
    pub bytes_to_subscriber: Option<u64>,
    /// Packets sent by the subscriber.
    pub packets_from_subscriber: Option<u64>,
    /// Packets sent to the subscriber.
    pub packets_to_subscriber: Option<u64>,
    /// Count only traffic with the subscriber's listed servers.
    pub only_listed_servers: bool,
}

/// What happens when a login takes a scope over its limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LoginPolicy {
    /// Cut the session in the scope that logged in earliest (the seed's default).
    #[default]
    CutEarliest,
    /// Cut the session ranked first by the disconnect order (the lowest
    /// [`super::LoginRequest::disconnect_order`]: the seed's "line disconnecting order"), earliest
    /// login among equals. When the new login itself ranks first, it is refused.
    CutByOrder,
    /// Refuse the new login and cut nothing.
    RefuseNew,
}

/// Condition D, simultaneous logins. The limits are this subscriber's: when it logs in and a scope
/// would then hold more sessions than allowed, a session in that scope is cut (or the login refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginCondition {
    /// Sessions allowed on the access point the subscriber arrives through (all subscribers).
    pub per_access_point: Option<u32>,
    /// Sessions allowed on this server (all subscribers).
    pub per_server: Option<u32>,
    /// Sessions allowed for this subscriber name.
    pub per_subscriber: Option<u32>,
    /// Victim choice or refusal.
    pub policy: LoginPolicy,
}

impl LoginCondition {
    /// The limit for one scope.
    pub fn limit(&self, scope: LoginScope) -> Option<u32> {
        match scope {
            LoginScope::AccessPoint => self.per_access_point,
            LoginScope::Server => self.per_server,
            LoginScope::Subscriber => self.per_subscriber,
        }
    }
}

/// Which direction's rate condition E measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RateDirection {
    /// Whichever direction carried more in the window.
    #[default]
    Busier,
    /// Traffic sent by the subscriber.
    FromSubscriber,
    /// Traffic sent to the subscriber.
    ToSubscriber,
}

/// Condition E, traffic: the average rate over each window, as a share of the session's path
/// maximum rate, must not exceed `max_percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficCondition {
    /// The measuring window. Windows follow one another from login (and restart on a change of
    /// conditions); each is judged at the first sampling pass after it ends.
    pub window: Duration,
    /// The allowed share of the path's maximum rate, 1-100.
    pub max_percent: u8,
    /// The direction measured.
    pub direction: RateDirection,
}

/// Condition F, application-server timeout, on the services of some of the service table's watch
/// groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppTimeoutCondition {
    /// How long before the server's idle timeout the subscriber is cut.
    pub guard: Duration,
    /// The watch groups whose services are watched (bit `g`: the table's group `g`; a table built
    /// without groups puts every service in group 0, so `1` watches everything).
    pub groups: u64,
}

/// The six conditions, by the seed's letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConditionKind {
    /// A, communication time.
    SessionTime,
    /// B, non-communication time.
    Idle,
    /// C, data volume.
    Volume,
    /// D, simultaneous logins.
    Logins,
    /// E, traffic.
    Traffic,
    /// F, application-server timeout.
    AppTimeout,
}

impl ConditionKind {
    /// The seed's letter.
    pub fn letter(self) -> char {
        match self {
            Self::SessionTime => 'A',
            Self::Idle => 'B',
            Self::Volume => 'C',
            Self::Logins => 'D',
            Self::Traffic => 'E',
            Self::AppTimeout => 'F',
        }
    }

    /// A stable name for logs, ledger records and the vendor cause.
    pub fn name(self) -> &'static str {
        match self {
            Self::SessionTime => "session-time",
            Self::Idle => "idle",
            Self::Volume => "volume",
            Self::Logins => "logins",
            Self::Traffic => "traffic",
            Self::AppTimeout => "app-timeout",
        }
    }

    /// A stable number for our vendor-specific disconnect cause (1-6 for A-F).
    pub fn vendor_code(self) -> u16 {
        self as u16 + 1
    }
}

impl fmt::Display for ConditionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RADIUS Acct-Terminate-Cause values (RFC 2866 §5.10), so billing systems read our causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum AcctTerminateCause {
    /// 1: user requested termination.
    UserRequest = 1,
    /// 2: DCD dropped.
    LostCarrier = 2,
    /// 3: service can no longer be provided.
    LostService = 3,
    /// 4: "Idle timer expired."
    IdleTimeout = 4,
    /// 5: "Maximum session length timer expired."
    SessionTimeout = 5,
    /// 6: administrator reset.
    AdminReset = 6,
    /// 7: administrator ending service on the NAS.
    AdminReboot = 7,
    /// 8: error on the port.
    PortError = 8,
    /// 9: NAS error.
    NasError = 9,
    /// 10: "NAS ended session for a non-error reason not otherwise listed here."
    NasRequest = 10,
    /// 11: NAS reboot.
    NasReboot = 11,
    /// 12: resource usage fell below low-water mark.
    PortUnneeded = 12,
    /// 13: "NAS ended session in order to allocate the port to a higher priority use."
    PortPreempted = 13,
    /// 14: session suspended.
    PortSuspended = 14,
    /// 15: "NAS was unable to provide requested service."
    ServiceUnavailable = 15,
    /// 16: callback.
    Callback = 16,
    /// 17: user error.
    UserError = 17,
    /// 18: login host ended the session.
    HostRequest = 18,
}

impl AcctTerminateCause {
    /// The attribute value.
    pub fn value(self) -> u32 {
        self as u32
    }

    /// The name used in RADIUS dictionaries, e.g. "Idle-Timeout": the ledger's RFC 2866 table,
    /// the one the stop records are written with.
    pub fn name(self) -> &'static str {
        crate::ledger::TerminateCause::from_code(self.value()).name()
    }
}

impl fmt::Display for AcctTerminateCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.value())
    }
}

/// Which traffic counter condition C compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolumeCounter {
    /// Bytes sent by the subscriber.
    BytesFromSubscriber,
    /// Bytes sent to the subscriber.
    BytesToSubscriber,
    /// Packets sent by the subscriber.
    PacketsFromSubscriber,
    /// Packets sent to the subscriber.
    PacketsToSubscriber,
}

impl VolumeCounter {
    /// A stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::BytesFromSubscriber => "bytes-from-subscriber",
            Self::BytesToSubscriber => "bytes-to-subscriber",
            Self::PacketsFromSubscriber => "packets-from-subscriber",
            Self::PacketsToSubscriber => "packets-to-subscriber",
        }
    }
}

/// The scope a login limit counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginScope {
    /// The access point (access interface, or the LAC a dial-in came from).
    AccessPoint,
    /// This server.
    Server,
    /// The subscriber name.
    Subscriber,
}

impl LoginScope {
    /// A stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AccessPoint => "access-point",
            Self::Server => "server",
            Self::Subscriber => "subscriber",
        }
    }
}

/// The unit of a [`Measure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Milliseconds.
    Milliseconds,
    /// Bytes.
    Bytes,
    /// Packets.
    Packets,
    /// Sessions.
    Sessions,
    /// Hundredths of a percent of the path's maximum rate.
    CentiPercent,
}

/// A measured value or a limit, as an integer with its unit (for ledger records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measure {
    /// The value.
    pub value: u64,
    /// Its unit.
    pub unit: Unit,
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Unit::Milliseconds => write!(f, "{}.{:03}s", self.value / 1000, self.value % 1000),
            Unit::Bytes => write!(f, "{} bytes", self.value),
            Unit::Packets => write!(f, "{} packets", self.value),
            Unit::Sessions => write!(f, "{} sessions", self.value),
            Unit::CentiPercent => write!(f, "{}.{:02}%", self.value / 100, self.value % 100),
        }
    }
}

/// Which condition fired, with what it measured against what limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// A: the session lasted `elapsed`, the limit is `limit`.
    SessionTime {
        /// Time since login.
        elapsed: Duration,
        /// The limit.
        limit: Duration,
    },
    /// B: no (qualifying) traffic for `idle`.
    Idle {
        /// Time since the last qualifying traffic (or login).
        idle: Duration,
        /// The limit.
        limit: Duration,
        /// The traffic that counted.
        direction: IdleDirection,
        /// The minimum rate that counted as traffic, if set.
        min_rate_bps: Option<u64>,
    },
    /// C: a counter went over its limit.
    Volume {
        /// Which counter.
        counter: VolumeCounter,
        /// Its value.
        value: u64,
        /// Its limit.
        limit: u64,
        /// Only listed-server traffic was counted.
        only_listed_servers: bool,
    },
    /// D: this session was cut to make room for `new_session`, whose login took `scope` to
    /// `count` sessions against a limit of `limit`.
    Logins {
        /// The scope over its limit.
        scope: LoginScope,
        /// Sessions in the scope with the new login, before this cut.
        count: u32,
        /// The new login's limit for the scope.
        limit: u32,
        /// The login that caused the cut.
        new_session: SessionKey,
    },
    /// E: the average rate over `window` was over the limit.
    Traffic {
        /// The time the rate was averaged over (the window, or slightly more: up to one sampling
        /// interval).
        window: Duration,
        /// The average rate in bits per second, in the measured direction.
        rate_bps: u64,
        /// The path's maximum rate in bits per second.
        path_max_bps: u64,
        /// The allowed share in percent.
        limit_percent: u8,
    },
    /// F: no packet of `service` for `idle`; its server would time the subscriber out at
    /// `server_timeout`, and the guard is `guard`.
    AppTimeout {
        /// The service.
        service: ServiceId,
        /// Its name.
        service_name: Arc<str>,
        /// Time since the service's last packet.
        idle: Duration,
        /// The server's idle timeout.
        server_timeout: Duration,
        /// The guard interval.
        guard: Duration,
    },
}

impl Fired {
    /// The condition that fired.
    pub fn kind(&self) -> ConditionKind {
        match self {
            Self::SessionTime { .. } => ConditionKind::SessionTime,
            Self::Idle { .. } => ConditionKind::Idle,
            Self::Volume { .. } => ConditionKind::Volume,
            Self::Logins { .. } => ConditionKind::Logins,
            Self::Traffic { .. } => ConditionKind::Traffic,
            Self::AppTimeout { .. } => ConditionKind::AppTimeout,
        }
    }

    /// The RADIUS Acct-Terminate-Cause (RFC 2866 §5.10) for the accounting Stop record.
    ///
    /// A maps to Session-Timeout and B to Idle-Timeout, as their definitions say. F is an idle
    /// timer too (the application's), so Idle-Timeout. D cuts a session to make room for another
    /// login: Port-Preempted. C and E have no value of their own; NAS-Request is the one for "a
    /// non-error reason not otherwise listed". The condition itself travels in our vendor cause.
    pub fn cause(&self) -> AcctTerminateCause {
        match self.kind() {
            ConditionKind::SessionTime => AcctTerminateCause::SessionTimeout,
            ConditionKind::Idle | ConditionKind::AppTimeout => AcctTerminateCause::IdleTimeout,
            ConditionKind::Logins => AcctTerminateCause::PortPreempted,
            ConditionKind::Volume | ConditionKind::Traffic => AcctTerminateCause::NasRequest,
        }
    }

    /// What was measured.
    pub fn measured(&self) -> Measure {
        match self {
            Self::SessionTime { elapsed, .. } => ms(*elapsed),
            Self::Idle { idle, .. } | Self::AppTimeout { idle, .. } => ms(*idle),
            Self::Volume { counter, value, .. } => volume(*counter, *value),
            Self::Logins { count, .. } => Measure {
                value: u64::from(*count),
                unit: Unit::Sessions,
            },
            Self::Traffic {
                rate_bps,
                path_max_bps,
                ..
            } => Measure {
                value: u64::try_from(
                    u128::from(*rate_bps) * 10_000 / u128::from((*path_max_bps).max(1)),
                )
                .unwrap_or(u64::MAX),
                unit: Unit::CentiPercent,
            },
        }
    }

    /// The limit it was measured against. For F this is the server timeout minus the guard.
    pub fn limit(&self) -> Measure {
        match self {
            Self::SessionTime { limit, .. } | Self::Idle { limit, .. } => ms(*limit),
            Self::AppTimeout {
                server_timeout,
                guard,
                ..
            } => ms(server_timeout.saturating_sub(*guard)),
            Self::Volume { counter, limit, .. } => volume(*counter, *limit),
            Self::Logins { limit, .. } => Measure {
                value: u64::from(*limit),
                unit: Unit::Sessions,
            },
            Self::Traffic { limit_percent, .. } => Measure {
                value: u64::from(*limit_percent) * 100,
                unit: Unit::CentiPercent,
            },
        }
    }
}

fn ms(d: Duration) -> Measure {
    Measure {
        value: crate::runtime::clock::millis(d),
        unit: Unit::Milliseconds,
    }
}

fn volume(counter: VolumeCounter, value: u64) -> Measure {
    let unit = match counter {
        VolumeCounter::BytesFromSubscriber | VolumeCounter::BytesToSubscriber => Unit::Bytes,
        VolumeCounter::PacketsFromSubscriber | VolumeCounter::PacketsToSubscriber => Unit::Packets,
    };
    Measure { value, unit }
}

impl fmt::Display for Fired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} against limit {}",
            self.kind(),
            self.kind().letter(),
            self.measured(),
            self.limit()
        )?;
        match self {
            Self::Volume { counter, .. } => write!(f, ", {}", counter.name()),
            Self::Logins {
                scope, new_session, ..
            } => write!(f, ", per {}, for session {new_session}", scope.name()),
            Self::AppTimeout { service_name, .. } => write!(f, ", service {service_name}"),
            _ => Ok(()),
        }
    }
}

/// One disconnect the engine decided. The actor tears the session down (LCP Terminate or PADT to
/// the subscriber, CDN on the tunnel with the cause), writes one log line and one ledger record from
/// this, and then calls [`super::DisconnectEngine::logout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The engine's handle of the session to cut.
    pub handle: SessionHandle,
    /// The actor's key of the session to cut.
    pub session: SessionKey,
    /// Its subscriber.
    pub subscriber: Arc<str>,
    /// The condition, measured value and limit.
    pub fired: Fired,
    /// When the engine decided.
    pub at: Instant,
}

impl Decision {
    /// The RADIUS Acct-Terminate-Cause.
    pub fn cause(&self) -> AcctTerminateCause {
        self.fired.cause()
    }
}

/// One line for the log: who, which condition, measured against what, and the cause.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session {} of {:?} cut: {}; Acct-Terminate-Cause {}",
            self.session,
            self.subscriber,
            self.fired,
            self.cause()
        )
    }
}

/// Why a login was refused. Nothing was registered and nothing was cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefusal {
    /// Condition D with [`LoginPolicy::RefuseNew`], or [`LoginPolicy::CutByOrder`] ranking the new
    /// login first.
    #[error("login refused: {count} sessions per {} with this login, limit {limit}", scope.name())]
    Logins {
        /// The scope over its limit.
        scope: LoginScope,
        /// Sessions in the scope counting the refused login.
        count: u32,
        /// The limit.
        limit: u32,
    },
    /// The engine holds as many sessions as it can index.
    #[error("login refused: the disconnect engine holds {sessions} sessions, its maximum")]
    EngineFull {
        /// Sessions held.
        sessions: usize,
    },
}

impl LoginRefusal {
    /// The cause to report if an accounting record is written for the refused attempt.
    pub fn cause(&self) -> AcctTerminateCause {
        AcctTerminateCause::ServiceUnavailable
    }
}
