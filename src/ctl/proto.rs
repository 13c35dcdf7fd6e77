//! The ctl wire format: JSON lines over the daemon's Unix socket, one request and one response per
//! connection, versioned.
//!
//! ```text
//! → {"version":1,"request":{"command":"sessions","user":"alice@isp","tunnel":null}}
//! ← {"version":1,"response":{"kind":"sessions","rows":[{...}]}}
//! ← {"version":1,"response":{"kind":"error","code":"not_found","message":"no session 7"}}
//! ```
//!
//! Compatibility rules: requests are strict (an unknown command or field is a `bad_request`, so a
//! typo in a filter never silently widens a `disconnect`); rows are lenient (every row struct is
//! `#[serde(default)]` and unknown fields are ignored), so a newer daemon can add columns without
//! breaking an older client. A change that breaks either rule bumps [`PROTOCOL_VERSION`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::runtime::clock::UnixMillis;

/// The version every message carries. The server refuses other versions with
/// [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line the server reads, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// What an operator asks the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Daemon summary: roles, uptime, counts, malformed-packet counters, config origin.
    Status,
    /// Every tunnel, both roles.
    Tunnels,
    /// Sessions, optionally only one subscriber's or one tunnel's (local tunnel ID).
    Sessions {
        /// Only sessions of this subscriber (user name as authenticated, realm included).
        #[serde(default)]
        user: Option<String>,
        /// Only sessions in this local tunnel.
        #[serde(default)]
        tunnel: Option<u16>,
    },
    /// Known subscribers with their contracts and active sessions.
    Subscribers,
    /// Physical lines with capacity, cost and load.
    Lines,
    /// Tear one session down (CDN) by its local session ID.
    Disconnect {
        /// Local session ID.
        session: u16,
    },
    /// Stop placing sessions in a tunnel and move or let its sessions go, then close it.
    Drain {
        /// Local tunnel ID.
        tunnel: u16,
    },
    /// Re-read the configuration, as SIGHUP does; a bad file is refused and the old one stays.
    Reload,
    /// The consolidation planner's view: tunnels and lines in use, lower bounds, moves.
    Plan,
}

impl Request {
    /// The command word, for logs.
    pub fn command(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Tunnels => "tunnels",
            Request::Sessions { .. } => "sessions",
            Request::Subscribers => "subscribers",
            Request::Lines => "lines",
            Request::Disconnect { .. } => "disconnect",
            Request::Drain { .. } => "drain",
            Request::Reload => "reload",
            Request::Plan => "plan",
        }
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::Status`].
    Status(StatusReport),
    /// Answer to [`Request::Tunnels`].
    Tunnels {
        /// One row per tunnel.
        rows: Vec<TunnelRow>,
    },
    /// Answer to [`Request::Sessions`].
    Sessions {
        /// One row per session that matched the filters.
        rows: Vec<SessionRow>,
    },
    /// Answer to [`Request::Subscribers`].
    Subscribers {
        /// One row per subscriber.
        rows: Vec<SubscriberRow>,
    },
    /// Answer to [`Request::Lines`].
    Lines {
        /// One row per line.
        rows: Vec<LineRow>,
    },
    /// Answer to [`Request::Plan`].
    Plan(PlanReport),
    /// An action (disconnect, drain, reload) was carried out or started.
    Done {
        /// What happened, in one sentence.
        message: String,
    },
    /// The request was not carried out.
    Error(CtlError),
}

impl Response {
    /// An error response.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Response::Error(CtlError {
            code,
            message: message.into(),
        })
    }

    /// A done response.
    pub fn done(message: impl Into<String>) -> Self {
        Response::Done {
            message: message.into(),
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlError {
    /// Machine-readable class.
    pub code: ErrorCode,
    /// What went wrong, for the operator. May span lines (a refused reload lists every config
    /// error as `FILE:LINE:COL: key: what is wrong`).
    pub message: String,
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Classes of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request did not parse (bad JSON, unknown command or field, too long).
    BadRequest,
    /// The request's protocol version is not [`PROTOCOL_VERSION`].
    UnsupportedVersion,
    /// The named session, tunnel or subscriber does not exist.
    NotFound,
    /// The daemon refused (for example draining the last tunnel to a peer that is down).
    Refused,
    /// A reload found errors in the new configuration; the old one stays in force.
    InvalidConfig,
    /// The daemon cannot answer now (shutting down, overloaded, part not running).
    Unavailable,
    /// A bug or an unexpected failure inside the daemon.
    Internal,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorCode::BadRequest => "bad request",
            ErrorCode::UnsupportedVersion => "unsupported protocol version",
            ErrorCode::NotFound => "not found",
            ErrorCode::Refused => "refused",
            ErrorCode::InvalidConfig => "invalid configuration",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal error",
        })
    }
}

/// Which side of L2TP a tunnel or session row is on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// L2TP Access Concentrator: carries subscribers' PPP to an LNS.
    #[default]
    Lac,
    /// L2TP Network Server: ends PPP and forwards IP.
    Lns,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Lac => "lac",
            Role::Lns => "lns",
        })
    }
}

/// The daemon at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    /// The daemon's version (Cargo package version).
    pub daemon_version: String,
    /// Process ID.
    pub pid: u32,
    /// Roles running in this process.
    pub roles: Vec<Role>,
    /// When the daemon started.
    pub started_at_ms: UnixMillis,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Where the configuration came from: a file path, or "embedded default".
    pub config_origin: String,
    /// When the configuration in force was loaded.
    pub config_loaded_at_ms: UnixMillis,
    /// Tunnels, all states.
    pub tunnels: u64,
    /// Sessions, all states.
    pub sessions: u64,
    /// Subscribers with at least one session.
    pub active_subscribers: u64,
    /// Lines carrying at least one tunnel.
    pub lines_in_use: u64,
    /// Malformed or refused input since start, by kind (see `runtime::logging::RateLimitedLog`).
    pub malformed: BTreeMap<String, u64>,
    /// Facilities running degraded, one line each (e.g. "TUN unavailable: …").
    pub degraded: Vec<String>,
    /// The usage ledger, when the daemon keeps one.
    pub ledger: Option<Box<LedgerState>>,
}

/// The usage ledger's writer at a glance (`ctl status`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerState {
    /// The ledger directory.
    pub directory: String,
    /// The LSN of the last record accepted.
    pub last_lsn: u64,
    /// Every record up to this LSN is on disk (fsynced; written, with `fsync = false`).
    pub durable_lsn: u64,
    /// Records accepted and not yet durable (held in memory while the disk fails).
    pub pending: u64,
    /// Records refused because `queue_bound` records were pending, since start: usage lost.
    pub dropped: u64,
    /// Records that could not be encoded (an identifier too long), since start.
    pub refused: u64,
    /// Interims and heartbeats not queued while the queue was three quarters full (the last
    /// quarter is kept for starts, stops and tunnel records; a later reading replaces them).
    pub skipped_readings: u64,
    /// The disk problem being ridden out, as the OS said it; `None` when writes succeed.
    pub trouble: Option<String>,
    /// Failed write or fsync attempts since the trouble began.
    pub trouble_failures: u64,
    /// Sessions with usage being recorded.
    pub open_sessions: u64,
    /// Tunnels being recorded.
    pub open_tunnels: u64,
    /// Sequence number of the segment being written (0: none yet in this run).
    pub segment: u64,
}

/// One L2TP tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TunnelRow {
    /// Our side of the tunnel.
    pub role: Role,
    /// Our Tunnel ID (the one the peer puts in packets to us).
    pub local_tunnel_id: u16,
    /// The peer's Tunnel ID (0 until it is known).
    pub peer_tunnel_id: u16,
    /// The peer's Host Name AVP or configured name.
    pub peer_name: String,
    /// The peer's UDP address.
    pub peer_address: Option<SocketAddr>,
    /// Our UDP address for this tunnel.
    pub local_address: Option<SocketAddr>,
    /// The physical line the tunnel runs on (LAC side).
    pub line: Option<String>,
    /// Control-connection state, e.g. "wait-ctl-reply", "established", "draining".
    pub state: String,
    /// Sessions in the tunnel.
    pub sessions: u32,
    /// Sum of the sessions' service levels, bits per second.
    pub service_level_bps: u64,
    /// Capacity of the tunnel, bits per second.
    pub capacity_bps: u64,
    /// Capabilities the peer advertised, e.g. "live-move".
    pub capabilities: Vec<String>,
    /// When the tunnel reached established.
    pub established_at_ms: Option<UnixMillis>,
}

/// One L2TP session (one subscriber's PPP link).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionRow {
    /// Our side of the session.
    pub role: Role,
    /// Our Session ID.
    pub local_session_id: u16,
    /// The peer's Session ID.
    pub peer_session_id: u16,
    /// Our Tunnel ID of the tunnel carrying it.
    pub local_tunnel_id: u16,
    /// The peer's Tunnel ID.
    pub peer_tunnel_id: u16,
    /// Subscriber user name as authenticated (realm included).
    pub subscriber: String,
    /// How the subscriber reached us: "pppoe", "l2tp" (dial-in), or empty on the LNS.
    pub access: String,
    /// Session state, e.g. "wait-connect", "established", "moving".
    pub state: String,
    /// Allocated service level, bits per second.
    pub service_level_bps: u64,
    /// When the subscriber logged in.
    pub login_at_ms: UnixMillis,
    /// Bytes from the subscriber towards the network.
    pub bytes_up: u64,
    /// Bytes from the network towards the subscriber.
    pub bytes_down: u64,
    /// Packets from the subscriber towards the network.
    pub packets_up: u64,
    /// Packets from the network towards the subscriber.
    pub packets_down: u64,
    /// The subscriber's IP address, once IPCP assigned one.
    pub address: Option<IpAddr>,
}

/// One subscriber and their contract.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriberRow {
    /// User name (realm included).
    pub name: String,
    /// Paying account the usage is charged to.
    pub account: Option<String>,
    /// Whether the contract includes the consolidation service.
    pub consolidation: bool,
    /// Contracted service level, bits per second.
    pub service_level_bps: u64,
    /// Sessions now.
    pub active_sessions: u32,
    /// Simultaneous-login limit, if any.
    pub max_sessions: Option<u32>,
    /// Addresses of the active sessions.
    pub addresses: Vec<IpAddr>,
    /// Last successful login.
    pub last_login_at_ms: Option<UnixMillis>,
}

/// One physical line (uplink).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LineRow {
    /// Line name from the config.
    pub name: String,
    /// State, e.g. "up", "draining", "released".
    pub state: String,
    /// Capacity, bits per second.
    pub capacity_bps: u64,
    /// Cost per billing month in minor currency units.
    pub monthly_cost_minor: i64,
    /// Tunnels on the line.
    pub tunnels: u32,
    /// Sessions on the line.
    pub sessions: u32,
    /// Sum of service levels on the line, bits per second.
    pub service_level_bps: u64,
}

/// The consolidation planner's state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanReport {
    /// Tunnels carrying sessions.
    pub tunnels_in_use: u32,
    /// Lines carrying tunnels.
    pub lines_in_use: u32,
    /// Lower bound L1 = ceil(sum of levels / capacity).
    pub lower_bound_l1: u32,
    /// Martello-Toth lower bound L2.
    pub lower_bound_l2: u32,
    /// Moves decided and not finished.
    pub pending_moves: Vec<MoveRow>,
    /// Recently finished or failed moves, newest first.
    pub recent_moves: Vec<MoveRow>,
}

/// One live session move between tunnels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MoveRow {
    /// Subscriber being moved.
    pub subscriber: String,
    /// Local session ID before the move.
    pub session: u16,
    /// Local tunnel ID it leaves.
    pub from_tunnel: u16,
    /// Local tunnel ID it goes to (None while a new tunnel is being opened).
    pub to_tunnel: Option<u16>,
    /// Why, e.g. "hole after disconnect", "spare bandwidth", "periodic".
    pub reason: String,
    /// "pending", "done", or `failed: <cause>`.
    pub outcome: String,
    /// When the move was decided.
    pub decided_at_ms: UnixMillis,
}

/// The request line a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestEnvelope {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The request.
    pub request: Request,
}

/// The response line the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// [`PROTOCOL_VERSION`] of the server.
    pub version: u32,
    /// The response.
    pub response: Response,
}

/// Encodes a request as one line, newline included.
pub fn encode_request(request: &Request) -> String {
    let envelope = RequestEnvelope {
        version: PROTOCOL_VERSION,
        request: request.clone(),
    };
    // Serialising these plain structs cannot fail (string keys, no maps with non-string keys).
    let mut line = serde_json::to_string(&envelope).unwrap_or_default();
    line.push('\n');
    line
}

/// Decodes a request line (trailing newline optional). Every failure is the error response to send.
pub fn decode_request(line: &[u8]) -> Result<Request, CtlError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: Option<u32>,
        request: Option<serde_json::Value>,
    }
    let bad = |message: String| CtlError {
        code: ErrorCode::BadRequest,
        message,
    };
    let versioned: Versioned = serde_json::from_slice(line)
        .map_err(|e| bad(format!("request is not a JSON object: {e}")))?;
    match versioned.version {
        Some(PROTOCOL_VERSION) => {}
        Some(other) => {
            return Err(CtlError {
                code: ErrorCode::UnsupportedVersion,
                message: format!(
                    "protocol version {other} not supported; this daemon speaks {PROTOCOL_VERSION}"
                ),
            });
        }
        None => return Err(bad("missing \"version\"".into())),
    }
    if versioned.request.is_none() {
        return Err(bad("missing \"request\"".into()));
    }
    // The version is right: now parse the whole envelope strictly, refusing unknown fields.
    let envelope: RequestEnvelope =
        serde_json::from_slice(line).map_err(|e| bad(format!("invalid request: {e}")))?;
    Ok(envelope.request)
}

/// Encodes a response as one line, newline included.
pub fn encode_response(response: &Response) -> String {
    let envelope = ResponseEnvelope {
        version: PROTOCOL_VERSION,
        response: response.clone(),
    };
    let mut line = serde_json::to_string(&envelope).unwrap_or_else(|e| {
        // Only a non-string map key could fail here; answer with an error rather than nothing.
        format!(
            "{{\"version\":{PROTOCOL_VERSION},\"response\":{{\"kind\":\"error\",\"code\":\"internal\",\"message\":{}}}}}",
            serde_json::Value::String(format!("cannot encode response: {e}"))
        )
    });
    line.push('\n');
    line
}

/// Decodes a response line.
pub fn decode_response(line: &[u8]) -> Result<Response, String> {
    let envelope: ResponseEnvelope =
        serde_json::from_slice(line).map_err(|e| format!("malformed response: {e}"))?;
    if envelope.version != PROTOCOL_VERSION {
        return Err(format!(
            "daemon speaks protocol version {}, this client {PROTOCOL_VERSION}",
            envelope.version
        ));
    }
    Ok(envelope.response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_stable() {
        let line = encode_request(&Request::Sessions {
            user: Some("alice@isp".into()),
            tunnel: None,
        });
        assert_eq!(
            line,
            "{\"version\":1,\"request\":{\"command\":\"sessions\",\"user\":\"alice@isp\",\"tunnel\":null}}\n"
        );
        assert_eq!(
            encode_request(&Request::Status),
            "{\"version\":1,\"request\":{\"command\":\"status\"}}\n"
        );
        assert_eq!(
            encode_request(&Request::Disconnect { session: 7 }),
            "{\"version\":1,\"request\":{\"command\":\"disconnect\",\"session\":7}}\n"
        );
    }

    #[test]
    fn every_request_roundtrips() {
        let all = [
            Request::Status,
            Request::Tunnels,
            Request::Sessions {
                user: None,
                tunnel: Some(3),
            },
            Request::Subscribers,
            Request::Lines,
            Request::Disconnect { session: 9 },
            Request::Drain { tunnel: 4 },
            Request::Reload,
            Request::Plan,
        ];
        for request in all {
            assert_eq!(
                decode_request(encode_request(&request).as_bytes()).unwrap(),
                request
            );
        }
    }

    #[test]
    fn bad_requests_are_classified() {
        let code = |line: &str| decode_request(line.as_bytes()).unwrap_err().code;
        assert_eq!(code("not json"), ErrorCode::BadRequest);
        assert_eq!(code("{}"), ErrorCode::BadRequest);
        assert_eq!(
            code("{\"version\":2,\"request\":{\"command\":\"status\"}}"),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(
            code("{\"version\":1,\"request\":{\"command\":\"selfdestruct\"}}"),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code("{\"version\":1,\"request\":{\"command\":\"disconnect\"}}"),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code("{\"version\":1,\"request\":{\"command\":\"sessions\",\"usr\":\"typo\"}}"),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code("{\"version\":1,\"request\":{\"command\":\"status\"},\"x\":1}"),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code("{\"version\":1,\"request\":{\"command\":\"disconnect\",\"session\":70000}}"),
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn responses_roundtrip_and_tolerate_new_fields() {
        let response = Response::Sessions {
            rows: vec![SessionRow {
                local_session_id: 5,
                subscriber: "bob".into(),
                address: Some("100.64.0.9".parse().unwrap()),
                ..SessionRow::default()
            }],
        };
        let line = encode_response(&response);
        assert_eq!(decode_response(line.as_bytes()).unwrap(), response);
        let newer = "{\"version\":1,\"response\":{\"kind\":\"lines\",\"rows\":[{\"name\":\"l1\",\"colour\":\"red\"}]}}";
        match decode_response(newer.as_bytes()).unwrap() {
            Response::Lines { rows } => assert_eq!(rows[0].name, "l1"),
            other => panic!("unexpected {other:?}"),
        }
        let err = Response::error(ErrorCode::NotFound, "no session 7");
        assert_eq!(
            encode_response(&err),
            "{\"version\":1,\"response\":{\"kind\":\"error\",\"code\":\"not_found\",\"message\":\"no session 7\"}}\n"
        );
    }
}
