//! The ledger's record vocabulary and its binary body codec.
//!
//! Owns: what a usage record says (session start / interim / stop, tunnel open / close, line use,
//! consolidation moves, daemon runs) and how its body is laid out in bytes. Must not touch: files,
//! framing and checksums (see [`super::segment`]), the clock (every record carries the caller's
//! wall-clock stamp), or tariffs.
//!
//! # Vocabulary (RFC 2866)
//!
//! The record set follows RADIUS accounting so that an operator can map it one to one:
//! - [`LedgerEvent::SessionStart`], [`LedgerEvent::SessionInterim`] and [`LedgerEvent::SessionStop`]
//!   are Acct-Status-Type Start (1), Interim-Update (3) and Stop (2) (RFC 2866 §5.1).
//! - [`AcctSessionId`] is the Acct-Session-Id of one *leg*: one L2TP session in one tunnel
//!   (RFC 2866 §5.5). [`MultiSessionId`] is the Acct-Multi-Session-Id that links the legs of one
//!   subscriber session across consolidation moves (RFC 2866 §5.11: "a unique Accounting ID to make
//!   it easy to link together multiple related sessions in a log file").
//! - [`Counters`] carry Acct-Input/Output-Octets and -Packets (RFC 2866 §5.3, §5.4, §5.8, §5.9) as
//!   full 64-bit values, so no Acct-Input-Gigawords wrap handling is needed. "Input" is what the
//!   subscriber sent to us, "output" what we delivered to the subscriber, as seen from the port.
//! - [`TerminateCause`] is Acct-Terminate-Cause (RFC 2866 §5.10), plus free text.
//!
//! # Counter semantics
//!
//! Counters in a leg's records are cumulative since *that leg's* start, as in RADIUS where each
//! Acct-Session-Id has its own counters. A consolidation move ([`LedgerEvent::SessionMove`]) ends the
//! old leg with its final counters and begins the new leg at zero, in one record, so a crash can
//! never separate the two halves of a move. Usage of a subscriber session is therefore the sum over
//! its legs, and nothing is counted twice. A later interim or stop for the old leg (make-before-break
//! may carry a few packets on it after the switch) supersedes the counters in the move record.
//!
//! # Body layout, version 1 (all integers little-endian)
//!
//! ```text
//! u8  body version (1)
//! u8  kind
//! u64 at (UnixMillis)
//! ... kind-specific fields; strings are u16 length + UTF-8 bytes
//! ```
//! A version-1 reader ignores bytes after the fields it knows, so a later writer may append optional
//! fields to a kind without bumping the version.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::runtime::clock::UnixMillis;

/// The body format version this build writes.
pub const BODY_VERSION: u8 = 1;

/// Longest string a record may carry, in bytes. Identifiers longer than this are refused at append
/// time; free text is cut at a character boundary.
pub const MAX_STRING_BYTES: usize = 1024;

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:016x}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                u64::from_str_radix(s, 16).map($name)
            }
        }

        // Rendered as 16 hex digits: JSON consumers lose precision on integers above 2^53.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// Acct-Session-Id of one leg (RFC 2866 §5.5). The daemon must keep these unique across
    /// restarts, for example by composing them from the start-up wall time and a counter.
    AcctSessionId
);
hex_id!(
    /// Acct-Multi-Session-Id (RFC 2866 §5.11): one subscriber session, across every tunnel it has
    /// been moved through. Usually equal to the first leg's [`AcctSessionId`].
    MultiSessionId
);
hex_id!(
    /// A tunnel's identity in the ledger. L2TP tunnel IDs are 16 bits and get reused, so the daemon
    /// numbers tunnels with a value unique over the ledger's life (same scheme as session IDs).
    TunnelSerial
);

/// Hands out [`AcctSessionId`]s, [`MultiSessionId`]s and [`TunnelSerial`]s that stay unique over
/// the ledger's life without reading it: `(run start in UnixMillis << 22) + n`.
///
/// Two daemon runs can only collide if the earlier one made more than 4 194 304 IDs per
/// millisecond between its start and the later run's start (a run started a second later leaves
/// the earlier over four billion IDs). The values fit in 64 bits until the year 2109.
#[derive(Debug, Clone)]
pub struct IdSource {
    next: u64,
}

impl IdSource {
    /// IDs for a daemon run that started at `run_started_at` (the caller's wall clock).
    pub fn new(run_started_at: UnixMillis) -> Self {
        IdSource {
            next: run_started_at.saturating_mul(1 << 22),
        }
    }

    fn take(&mut self) -> u64 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }

    /// A new leg's Acct-Session-Id.
    pub fn session(&mut self) -> AcctSessionId {
        AcctSessionId(self.take())
    }

    /// A new subscriber session's Acct-Multi-Session-Id and its first leg's Acct-Session-Id, the
    /// same number as RADIUS servers expect for a session that has not moved yet.
    pub fn new_session(&mut self) -> (MultiSessionId, AcctSessionId) {
        let id = self.take();
        (MultiSessionId(id), AcctSessionId(id))
    }

    /// A new tunnel's serial.
    pub fn tunnel(&mut self) -> TunnelSerial {
        TunnelSerial(self.take())
    }
}

/// Byte and packet counters of one leg, cumulative since the leg started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Acct-Input-Octets: bytes received from the subscriber.
    pub octets_in: u64,
    /// Acct-Output-Octets: bytes delivered to the subscriber.
    pub octets_out: u64,
    /// Acct-Input-Packets.
    pub packets_in: u64,
    /// Acct-Output-Packets.
    pub packets_out: u64,
}

impl Counters {
    /// Field-wise maximum: counters are monotone, and a reading that goes backwards must not make
    /// usage negative.
    pub fn max(self, other: Counters) -> Counters {
        Counters {
            octets_in: self.octets_in.max(other.octets_in),
            octets_out: self.octets_out.max(other.octets_out),
            packets_in: self.packets_in.max(other.packets_in),
            packets_out: self.packets_out.max(other.packets_out),
        }
    }

    /// Field-wise saturating difference.
    pub fn saturating_sub(self, other: Counters) -> Counters {
        Counters {
            octets_in: self.octets_in.saturating_sub(other.octets_in),
            octets_out: self.octets_out.saturating_sub(other.octets_out),
            packets_in: self.packets_in.saturating_sub(other.packets_in),
            packets_out: self.packets_out.saturating_sub(other.packets_out),
        }
    }

    /// Field-wise saturating sum.
    pub fn saturating_add(self, other: Counters) -> Counters {
        Counters {
            octets_in: self.octets_in.saturating_add(other.octets_in),
            octets_out: self.octets_out.saturating_add(other.octets_out),
            packets_in: self.packets_in.saturating_add(other.packets_in),
            packets_out: self.packets_out.saturating_add(other.packets_out),
        }
    }

    /// Bytes both ways.
    pub fn octets_total(&self) -> u64 {
        self.octets_in.saturating_add(self.octets_out)
    }
}

/// Acct-Terminate-Cause (RFC 2866 §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminateCause {
    UserRequest,
    LostCarrier,
    LostService,
    IdleTimeout,
    SessionTimeout,
    AdminReset,
    AdminReboot,
    PortError,
    NasError,
    NasRequest,
    NasReboot,
    PortUnneeded,
    PortPreempted,
    PortSuspended,
    ServiceUnavailable,
    Callback,
    UserError,
    HostRequest,
    /// A value outside RFC 2866's list (later RFCs add more); kept as received.
    Other(u32),
}

impl TerminateCause {
    /// The RFC 2866 §5.10 attribute value.
    pub fn code(self) -> u32 {
        use TerminateCause::*;
        match self {
            UserRequest => 1,
            LostCarrier => 2,
            LostService => 3,
            IdleTimeout => 4,
            SessionTimeout => 5,
            AdminReset => 6,
            AdminReboot => 7,
            PortError => 8,
            NasError => 9,
            NasRequest => 10,
            NasReboot => 11,
            PortUnneeded => 12,
            PortPreempted => 13,
            PortSuspended => 14,
            ServiceUnavailable => 15,
            Callback => 16,
            UserError => 17,
            HostRequest => 18,
            Other(v) => v,
        }
    }

    /// The cause for an RFC 2866 §5.10 attribute value.
    pub fn from_code(code: u32) -> Self {
        use TerminateCause::*;
        match code {
            1 => UserRequest,
            2 => LostCarrier,
            3 => LostService,
            4 => IdleTimeout,
            5 => SessionTimeout,
            6 => AdminReset,
            7 => AdminReboot,
            8 => PortError,
            9 => NasError,
            10 => NasRequest,
            11 => NasReboot,
            12 => PortUnneeded,
            13 => PortPreempted,
            14 => PortSuspended,
            15 => ServiceUnavailable,
            16 => Callback,
            17 => UserError,
            18 => HostRequest,
            v => Other(v),
        }
    }

    /// The RFC 2866 §5.10 name, e.g. "Idle-Timeout".
    pub fn name(self) -> &'static str {
        use TerminateCause::*;
        match self {
            UserRequest => "User-Request",
            LostCarrier => "Lost-Carrier",
            LostService => "Lost-Service",
            IdleTimeout => "Idle-Timeout",
            SessionTimeout => "Session-Timeout",
            AdminReset => "Admin-Reset",
            AdminReboot => "Admin-Reboot",
            PortError => "Port-Error",
            NasError => "NAS-Error",
            NasRequest => "NAS-Request",
            NasReboot => "NAS-Reboot",
            PortUnneeded => "Port-Unneeded",
            PortPreempted => "Port-Preempted",
            PortSuspended => "Port-Suspended",
            ServiceUnavailable => "Service-Unavailable",
            Callback => "Callback",
            UserError => "User-Error",
            HostRequest => "Host-Request",
            Other(_) => "Other",
        }
    }
}

impl fmt::Display for TerminateCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminateCause::Other(v) => write!(f, "Other({v})"),
            c => write!(f, "{}({})", c.name(), c.code()),
        }
    }
}

impl Serialize for TerminateCause {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

impl<'de> Deserialize<'de> for TerminateCause {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(TerminateCause::from_code)
    }
}

/// Where a leg runs: its tunnel, the L2TP session ID inside it, the peer and the physical line.
/// Peer and line repeat what the tunnel's [`LedgerEvent::TunnelOpen`] said so that every session
/// record can be billed on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegPlace {
    pub tunnel: TunnelSerial,
    /// Our L2TP Session ID for this leg (RFC 2661 §5.1); display only, IDs get reused.
    pub l2tp_session_id: u16,
    /// The peer (LNS or LAC) name as configured.
    pub peer: String,
    /// The physical line name as configured.
    pub line: String,
}

/// One ledger record: a wall-clock stamp supplied by the caller and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    pub at: UnixMillis,
    pub event: LedgerEvent,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LedgerEvent {
    /// The daemon started a new run. Tunnels and lines still open from an earlier run were cut off
    /// by the restart; billing counts them up to the last record of their own run.
    DaemonStart { software: String },
    /// The daemon was alive at `at`. Written on the interim tick so that open tunnels and lines
    /// accrue time even when no session record is written.
    Heartbeat,
    /// An L2TP tunnel was established (RFC 2661 §5.1 tunnel IDs, both ends).
    TunnelOpen {
        tunnel: TunnelSerial,
        local_tunnel_id: u16,
        remote_tunnel_id: u16,
        peer: String,
        line: String,
    },
    /// An L2TP tunnel was torn down.
    TunnelClose {
        tunnel: TunnelSerial,
        reason: String,
    },
    /// A physical line was taken into use or released.
    LineUse { line: String, in_use: bool },
    /// Accounting Start (RFC 2866 §5.1 Acct-Status-Type 1) of a new leg. A new subscriber session
    /// uses a fresh `multi`; a leg started with an existing `multi` joins that session.
    SessionStart {
        session: AcctSessionId,
        multi: MultiSessionId,
        subscriber: String,
        /// The paying account as the daemon knew it at start; invoices bill by the contract table.
        account: String,
        place: LegPlace,
    },
    /// Accounting Interim-Update (Acct-Status-Type 3): cumulative counters of the leg so far.
    SessionInterim {
        session: AcctSessionId,
        counters: Counters,
    },
    /// Accounting Stop (Acct-Status-Type 2): final counters and why.
    SessionStop {
        session: AcctSessionId,
        counters: Counters,
        cause: TerminateCause,
        cause_text: String,
    },
    /// A consolidation move: leg `from` ends with `from_counters`, leg `to` starts at zero in
    /// `to_place`, both belonging to `multi`.
    SessionMove {
        multi: MultiSessionId,
        from: AcctSessionId,
        from_counters: Counters,
        to: AcctSessionId,
        to_place: LegPlace,
    },
}

impl LedgerEvent {
    fn kind(&self) -> u8 {
        match self {
            LedgerEvent::DaemonStart { .. } => kind::DAEMON_START,
            LedgerEvent::Heartbeat => kind::HEARTBEAT,
            LedgerEvent::TunnelOpen { .. } => kind::TUNNEL_OPEN,
            LedgerEvent::TunnelClose { .. } => kind::TUNNEL_CLOSE,
            LedgerEvent::LineUse { .. } => kind::LINE_USE,
            LedgerEvent::SessionStart { .. } => kind::SESSION_START,
            LedgerEvent::SessionInterim { .. } => kind::SESSION_INTERIM,
            LedgerEvent::SessionStop { .. } => kind::SESSION_STOP,
            LedgerEvent::SessionMove { .. } => kind::SESSION_MOVE,
        }
    }

    /// A short lower-case name for tables and logs.
    pub fn name(&self) -> &'static str {
        match self {
            LedgerEvent::DaemonStart { .. } => "daemon-start",
            LedgerEvent::Heartbeat => "heartbeat",
            LedgerEvent::TunnelOpen { .. } => "tunnel-open",
            LedgerEvent::TunnelClose { .. } => "tunnel-close",
            LedgerEvent::LineUse { .. } => "line-use",
            LedgerEvent::SessionStart { .. } => "session-start",
            LedgerEvent::SessionInterim { .. } => "session-interim",
            LedgerEvent::SessionStop { .. } => "session-stop",
            LedgerEvent::SessionMove { .. } => "session-move",
        }
    }
}

mod kind {
    pub const DAEMON_START: u8 = 1;
    pub const HEARTBEAT: u8 = 2;
    pub const TUNNEL_OPEN: u8 = 10;
    pub const TUNNEL_CLOSE: u8 = 11;
    pub const LINE_USE: u8 = 12;
    pub const SESSION_START: u8 = 20;
    pub const SESSION_INTERIM: u8 = 21;
    pub const SESSION_STOP: u8 = 22;
    pub const SESSION_MOVE: u8 = 23;
}

/// Why a record could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{field} is {len} bytes long; the ledger stores at most {max}")]
    StringTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

/// Why a checksummed body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record body ends early reading {0}")]
    Truncated(&'static str),
    #[error("record body version {0} is newer than this build reads ({BODY_VERSION})")]
    UnknownVersion(u8),
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    #[error("{0} is not valid UTF-8")]
    BadUtf8(&'static str),
    #[error("line-use flag is {0}, not 0 or 1")]
    BadFlag(u8),
}

impl LedgerRecord {
    /// Appends the version-1 body of this record to `out`.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut w = Writer { out };
        w.u8(BODY_VERSION);
        w.u8(self.event.kind());
        w.u64(self.at);
        match &self.event {
            LedgerEvent::DaemonStart { software } => w.text(software),
            LedgerEvent::Heartbeat => {}
            LedgerEvent::TunnelOpen {
                tunnel,
                local_tunnel_id,
                remote_tunnel_id,
                peer,
                line,
            } => {
                w.u64(tunnel.0);
                w.u16(*local_tunnel_id);
                w.u16(*remote_tunnel_id);
                w.ident("peer", peer)?;
                w.ident("line", line)?;
            }
            LedgerEvent::TunnelClose { tunnel, reason } => {
                w.u64(tunnel.0);
                w.text(reason);
            }
            LedgerEvent::LineUse { line, in_use } => {
                w.ident("line", line)?;
                w.u8(u8::from(*in_use));
            }
            LedgerEvent::SessionStart {
                session,
                multi,
                subscriber,
                account,
                place,
            } => {
                w.u64(session.0);
                w.u64(multi.0);
                w.ident("subscriber", subscriber)?;
                w.ident("account", account)?;
                w.place(place)?;
            }
            LedgerEvent::SessionInterim { session, counters } => {
                w.u64(session.0);
                w.counters(counters);
            }
            LedgerEvent::SessionStop {
                session,
                counters,
                cause,
                cause_text,
            } => {
                w.u64(session.0);
                w.counters(counters);
                w.u32(cause.code());
                w.text(cause_text);
            }
            LedgerEvent::SessionMove {
                multi,
                from,
                from_counters,
                to,
                to_place,
            } => {
                w.u64(multi.0);
                w.u64(from.0);
                w.counters(from_counters);
                w.u64(to.0);
                w.place(to_place)?;
            }
        }
        Ok(())
    }

    /// Decodes a body written by [`LedgerRecord::encode_body`]. Never panics.
    pub fn decode_body(body: &[u8]) -> Result<LedgerRecord, DecodeError> {
        let mut r = Reader { buf: body };
        let version = r.u8("version")?;
        if version != BODY_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let kind = r.u8("kind")?;
        let at = r.u64("at")?;
        let event = match kind {
            kind::DAEMON_START => LedgerEvent::DaemonStart {
                software: r.string("software")?,
            },
            kind::HEARTBEAT => LedgerEvent::Heartbeat,
            kind::TUNNEL_OPEN => LedgerEvent::TunnelOpen {
                tunnel: TunnelSerial(r.u64("tunnel")?),
                local_tunnel_id: r.u16("local_tunnel_id")?,
                remote_tunnel_id: r.u16("remote_tunnel_id")?,
                peer: r.string("peer")?,
                line: r.string("line")?,
            },
            kind::TUNNEL_CLOSE => LedgerEvent::TunnelClose {
                tunnel: TunnelSerial(r.u64("tunnel")?),
                reason: r.string("reason")?,
            },
            kind::LINE_USE => LedgerEvent::LineUse {
                line: r.string("line")?,
                in_use: match r.u8("in_use")? {
                    0 => false,
                    1 => true,
                    other => return Err(DecodeError::BadFlag(other)),
                },
            },
            kind::SESSION_START => LedgerEvent::SessionStart {
                session: AcctSessionId(r.u64("session")?),
                multi: MultiSessionId(r.u64("multi")?),
                subscriber: r.string("subscriber")?,
                account: r.string("account")?,
                place: r.place()?,
            },
            kind::SESSION_INTERIM => LedgerEvent::SessionInterim {
                session: AcctSessionId(r.u64("session")?),
                counters: r.counters()?,
            },
            kind::SESSION_STOP => LedgerEvent::SessionStop {
                session: AcctSessionId(r.u64("session")?),
                counters: r.counters()?,
                cause: TerminateCause::from_code(r.u32("cause")?),
                cause_text: r.string("cause_text")?,
            },
            kind::SESSION_MOVE => LedgerEvent::SessionMove {
                multi: MultiSessionId(r.u64("multi")?),
                from: AcctSessionId(r.u64("from")?),
                from_counters: r.counters()?,
                to: AcctSessionId(r.u64("to")?),
                to_place: r.place()?,
            },
            other => return Err(DecodeError::UnknownKind(other)),
        };
        Ok(LedgerRecord { at, event })
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn raw_str(&mut self, s: &str) {
        // Callers have bounded `s` by MAX_STRING_BYTES, which fits a u16.
        self.u16(s.len() as u16);
        self.out.extend_from_slice(s.as_bytes());
    }
    /// Identifiers are billing keys: cutting one would bill the wrong name, so refuse instead.
    fn ident(&mut self, field: &'static str, s: &str) -> Result<(), EncodeError> {
        if s.len() > MAX_STRING_BYTES {
            return Err(EncodeError::StringTooLong {
                field,
                len: s.len(),
                max: MAX_STRING_BYTES,
            });
        }
        self.raw_str(s);
        Ok(())
    }
    /// Free text is informational: losing its end is better than losing the record.
    fn text(&mut self, s: &str) {
        let mut end = s.len().min(MAX_STRING_BYTES);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.raw_str(&s[..end]);
    }
    fn counters(&mut self, c: &Counters) {
        self.u64(c.octets_in);
        self.u64(c.octets_out);
        self.u64(c.packets_in);
        self.u64(c.packets_out);
    }
    fn place(&mut self, p: &LegPlace) -> Result<(), EncodeError> {
        self.u64(p.tunnel.0);
        self.u16(p.l2tp_session_id);
        self.ident("peer", &p.peer)?;
        self.ident("line", &p.line)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let len = self.u16(what)? as usize;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::BadUtf8(what))
    }
    fn counters(&mut self) -> Result<Counters, DecodeError> {
        Ok(Counters {
            octets_in: self.u64("octets_in")?,
            octets_out: self.u64("octets_out")?,
            packets_in: self.u64("packets_in")?,
            packets_out: self.u64("packets_out")?,
        })
    }
    fn place(&mut self) -> Result<LegPlace, DecodeError> {
        Ok(LegPlace {
            tunnel: TunnelSerial(self.u64("tunnel")?),
            l2tp_session_id: self.u16("l2tp_session_id")?,
            peer: self.string("peer")?,
            line: self.string("line")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> LegPlace {
        LegPlace {
            tunnel: TunnelSerial(7),
            l2tp_session_id: 0x1234,
            peer: "lns-a".into(),
            line: "fiber-1".into(),
        }
    }

    fn samples() -> Vec<LedgerRecord> {
        let c = Counters {
            octets_in: u64::MAX,
            octets_out: 2,
            packets_in: 3,
            packets_out: 4,
        };
        [
            LedgerEvent::DaemonStart {
                software: "l2tpagg 0.1.0".into(),
            },
            LedgerEvent::Heartbeat,
            LedgerEvent::TunnelOpen {
                tunnel: TunnelSerial(7),
                local_tunnel_id: 1,
                remote_tunnel_id: 65535,
                peer: "lns-a".into(),
                line: "fiber-1".into(),
            },
            LedgerEvent::TunnelClose {
                tunnel: TunnelSerial(7),
                reason: "StopCCN".into(),
            },
            LedgerEvent::LineUse {
                line: "fiber-1".into(),
                in_use: true,
            },
            LedgerEvent::SessionStart {
                session: AcctSessionId(1),
                multi: MultiSessionId(1),
                subscriber: "alice@example.net".into(),
                account: "ACCT-1".into(),
                place: place(),
            },
            LedgerEvent::SessionInterim {
                session: AcctSessionId(1),
                counters: c,
            },
            LedgerEvent::SessionStop {
                session: AcctSessionId(1),
                counters: c,
                cause: TerminateCause::Other(99),
                cause_text: "ünïcode".into(),
            },
            LedgerEvent::SessionMove {
                multi: MultiSessionId(1),
                from: AcctSessionId(1),
                from_counters: c,
                to: AcctSessionId(2),
                to_place: place(),
            },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, event)| LedgerRecord {
            at: 1_790_000_000_000 + i as u64,
            event,
        })
        .collect()
    }

    #[test]
    fn every_kind_round_trips() {
        for rec in samples() {
            let mut body = Vec::new();
            rec.encode_body(&mut body).unwrap();
            assert_eq!(LedgerRecord::decode_body(&body).unwrap(), rec);
        }
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        for rec in samples() {
            let mut body = Vec::new();
            rec.encode_body(&mut body).unwrap();
            for cut in 0..body.len() {
                assert!(
                    LedgerRecord::decode_body(&body[..cut]).is_err(),
                    "{rec:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_ignored_for_forward_compatibility() {
        let rec = &samples()[6];
        let mut body = Vec::new();
        rec.encode_body(&mut body).unwrap();
        body.extend_from_slice(&[1, 2, 3]);
        assert_eq!(&LedgerRecord::decode_body(&body).unwrap(), rec);
    }

    #[test]
    fn interim_body_is_byte_exact() {
        let rec = LedgerRecord {
            at: 0x0102,
            event: LedgerEvent::SessionInterim {
                session: AcctSessionId(0xAB),
                counters: Counters {
                    octets_in: 1,
                    octets_out: 2,
                    packets_in: 3,
                    packets_out: 4,
                },
            },
        };
        let mut body = Vec::new();
        rec.encode_body(&mut body).unwrap();
        let mut want = vec![
            1u8, 21, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0xAB, 0, 0, 0, 0, 0, 0, 0,
        ];
        for v in 1u64..=4 {
            want.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(body, want);
    }

    #[test]
    fn unknown_version_and_kind_are_reported() {
        assert_eq!(
            LedgerRecord::decode_body(&[2, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownVersion(2))
        );
        assert_eq!(
            LedgerRecord::decode_body(&[1, 200, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownKind(200))
        );
    }

    #[test]
    fn long_identifier_is_refused_and_long_text_is_cut_on_a_char_boundary() {
        let mut rec = samples()[5].clone();
        if let LedgerEvent::SessionStart { subscriber, .. } = &mut rec.event {
            *subscriber = "x".repeat(MAX_STRING_BYTES + 1);
        }
        assert!(matches!(
            rec.encode_body(&mut Vec::new()),
            Err(EncodeError::StringTooLong {
                field: "subscriber",
                ..
            })
        ));
        let long = "é".repeat(MAX_STRING_BYTES); // 2 bytes each
        let rec = LedgerRecord {
            at: 1,
            event: LedgerEvent::TunnelClose {
                tunnel: TunnelSerial(1),
                reason: long,
            },
        };
        let mut body = Vec::new();
        rec.encode_body(&mut body).unwrap();
        match LedgerRecord::decode_body(&body).unwrap().event {
            LedgerEvent::TunnelClose { reason, .. } => {
                assert_eq!(reason.len(), MAX_STRING_BYTES);
                assert!(reason.chars().all(|c| c == 'é'));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn terminate_cause_codes_round_trip() {
        for code in 0..40 {
            assert_eq!(TerminateCause::from_code(code).code(), code);
        }
        assert_eq!(TerminateCause::IdleTimeout.to_string(), "Idle-Timeout(4)");
    }

    #[test]
    fn id_sources_of_later_runs_never_repeat_earlier_ids() {
        let mut first = IdSource::new(1_793_491_200_000);
        let (multi, leg) = first.new_session();
        assert_eq!(multi.0, leg.0);
        let mut last = leg.0;
        for _ in 0..10_000 {
            last = first.session().0.max(first.tunnel().0);
        }
        let mut second = IdSource::new(1_793_491_200_001);
        assert!(second.session().0 > last);
        // Still representable at the end of this century.
        let late = IdSource::new(4_102_444_800_000).take(); // 2100-01-01
        assert!(late > 1_793_491_200_000 << 22);
    }

    #[test]
    fn ids_render_as_hex_in_json() {
        let json = serde_json::to_string(&AcctSessionId(0xdead_beef)).unwrap();
        assert_eq!(json, "\"00000000deadbeef\"");
        let back: AcctSessionId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, AcctSessionId(0xdead_beef));
    }
}
