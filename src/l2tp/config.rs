//! Tunnel and endpoint parameters: plain structs with documented defaults. The TOML mapping lives
//! in [`crate::config`]; this module only says what each knob means and what it defaults to.

use std::time::Duration;

use crate::wire::{Capabilities, DEFAULT_VENDOR_ID, Framing, avp::Bearer};

/// Default receive window we advertise (RFC 2661 §5.8 lets us pick; 16 keeps a busy LAC's ICRQ
/// bursts flowing without waiting on acks).
pub const DEFAULT_RECEIVE_WINDOW: u16 = 16;
/// RFC 2661 §4.4.3: a peer that sends no Receive Window Size AVP gets a window of 4.
pub const PEER_DEFAULT_RECEIVE_WINDOW: u16 = 4;

/// Everything that shapes one tunnel and its sessions. Shared by reference (`Arc`) between the
/// tunnels it applies to; the endpoint's policy can hand a different one to each peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Host Name AVP we send (RFC 2661 §4.4.3). Default: `"l2tpagg"`.
    pub host_name: String,
    /// Vendor Name AVP we send. Default: `"l2tpagg"`.
    pub vendor_name: String,
    /// Firmware Revision AVP we send. Default: the crate's major.minor as 0xMMmm.
    pub firmware_revision: u16,
    /// Framing Capabilities we advertise. Default: synchronous and asynchronous.
    pub framing_capabilities: Framing,
    /// Bearer Capabilities we advertise; `None` sends none (RFC 2661 §4.4.3: an LNS that cannot
    /// place outgoing calls may omit it). Default: `None`.
    pub bearer_capabilities: Option<Bearer>,
    /// Receive Window Size we advertise and honour (RFC 2661 §5.8): how many out-of-order control
    /// messages we hold. Default: [`DEFAULT_RECEIVE_WINDOW`] (16). Must be at least 1.
    pub receive_window: u16,
    /// First retransmission timeout (RFC 2661 §5.8 recommends 1 s). Default: 1 s.
    pub retransmit_initial: Duration,
    /// Cap on the doubling retransmission timeout (RFC 2661 §5.8: no less than 8 s). Default: 8 s.
    pub retransmit_max: Duration,
    /// Retransmissions of one message before the tunnel is declared dead (RFC 2661 §5.8
    /// recommends 5). Default: 5.
    pub max_retransmits: u32,
    /// How long we wait for a message to piggyback an acknowledgement on before sending a ZLB
    /// (RFC 2661 §5.8). It only needs to cover the application's turnaround (an ICRP answering an
    /// ICRQ); longer stalls a peer whose window is small. Half a window of unacknowledged
    /// messages is acknowledged at once regardless. Default: 10 ms.
    pub ack_delay: Duration,
    /// Send a HELLO after this long without receiving anything from the peer (RFC 2661 §5.5, §6.5
    /// recommend 60 s). Default: 60 s.
    pub hello_interval: Duration,
    /// After receiving a StopCCN, keep the tunnel's state this long to acknowledge retransmissions
    /// (RFC 2661 §5.7: a full retransmission cycle, 31 s). Also the longest we wait for our own
    /// StopCCN to be acknowledged. Default: 31 s.
    pub stop_linger: Duration,
    /// Shared secret for tunnel authentication (RFC 2661 §5.1.1) and AVP hiding (§4.3). `None`:
    /// no challenge is sent, and a peer's challenge is refused. Default: `None`.
    pub secret: Option<Vec<u8>>,
    /// Hide the subscriber's credentials and numbers (and our switchover token) when a secret is
    /// set (RFC 2661 §4.3). Default: `true`.
    pub hide_sensitive_avps: bool,
    /// Vendor ID of our vendor AVPs. Default: [`DEFAULT_VENDOR_ID`] (32473).
    pub vendor_id: u16,
    /// Capabilities we advertise in our Capability AVP; [`Capabilities::NONE`] sends no vendor
    /// AVP at all. Default: [`Capabilities::ALL`].
    pub capabilities: Capabilities,
    /// Send a Tie Breaker AVP in SCCRQ (RFC 2661 §4.4.3): ask for a single tunnel with this peer
    /// when both sides open one at once. Default: `false` (l2tpagg opens several tunnels per
    /// peer on purpose).
    pub send_tie_breaker: bool,
    /// Most sessions this tunnel carries at once; an ICRQ beyond it is refused with CDN result 4
    /// (temporary lack of facilities). Default: 65535 (no limit beyond the ID space).
    pub max_sessions: u32,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        let major: u16 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
        let minor: u16 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
        TunnelConfig {
            host_name: "l2tpagg".into(),
            vendor_name: "l2tpagg".into(),
            firmware_revision: (major << 8) | (minor & 0xff),
            framing_capabilities: Framing::BOTH,
            bearer_capabilities: None,
            receive_window: DEFAULT_RECEIVE_WINDOW,
            retransmit_initial: Duration::from_secs(1),
            retransmit_max: Duration::from_secs(8),
            max_retransmits: 5,
            ack_delay: Duration::from_millis(10),
            hello_interval: Duration::from_secs(60),
            stop_linger: Duration::from_secs(31),
            secret: None,
            hide_sensitive_avps: true,
            vendor_id: DEFAULT_VENDOR_ID,
            capabilities: Capabilities::ALL,
            send_tie_breaker: false,
            max_sessions: 65535,
        }
    }
}

/// Endpoint-wide parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Most tunnels (in any state, including ones lingering after StopCCN). An SCCRQ beyond it is
    /// dropped and counted. Default: 4096.
    pub max_tunnels: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig { max_tunnels: 4096 }
    }
}

/// A [`TunnelConfig`] value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Host Name must be 1 to 1017 bytes (RFC 2661 §4.4.3; one AVP).
    #[error("host_name must be 1 to 1017 bytes")]
    HostName,
    /// Vendor Name must fit one AVP.
    #[error("vendor_name must be at most 1017 bytes")]
    VendorName,
    /// RFC 2661 §5.8: a window of 0 is invalid.
    #[error("receive_window must be at least 1")]
    ReceiveWindow,
    /// The first retransmission timeout must be above zero.
    #[error("retransmit_initial must be above zero")]
    RetransmitInitial,
    /// RFC 2661 §5.8: the cap MUST be no less than 8 seconds (and not below the first timeout);
    /// above 10 minutes a dead peer would go unnoticed for hours.
    #[error("retransmit_max must be 8 s to 10 min (RFC 2661 §5.8) and at least retransmit_initial")]
    RetransmitMax,
    /// At least one retransmission.
    #[error("max_retransmits must be at least 1")]
    MaxRetransmits,
    /// The ack delay must stay below the peer's first retransmission (1 s recommended).
    #[error("ack_delay must be below 1 s")]
    AckDelay,
    /// HELLO interval must be above zero and at most a day.
    #[error("hello_interval must be above zero and at most 24 h")]
    HelloInterval,
    /// The linger after StopCCN must be above zero and at most an hour.
    #[error("stop_linger must be above zero and at most 1 h")]
    StopLinger,
    /// A configured secret must not be empty.
    #[error("secret must not be empty")]
    EmptySecret,
    /// Vendor ID 0 belongs to the IETF AVPs.
    #[error("vendor_id must not be 0 (reserved for IETF AVPs)")]
    VendorId,
    /// At least one session per tunnel.
    #[error("max_sessions must be at least 1")]
    MaxSessions,
}

impl TunnelConfig {
    /// Checks every value against what RFC 2661 and this implementation can work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let max_value = crate::wire::avp::AVP_MAX_VALUE;
        if self.host_name.is_empty() || self.host_name.len() > max_value {
            return Err(ConfigError::HostName);
        }
        if self.vendor_name.len() > max_value {
            return Err(ConfigError::VendorName);
        }
        if self.receive_window == 0 {
            return Err(ConfigError::ReceiveWindow);
        }
        if self.retransmit_initial.is_zero() {
            return Err(ConfigError::RetransmitInitial);
        }
        if self.retransmit_max < Duration::from_secs(8)
            || self.retransmit_max > Duration::from_secs(600)
            || self.retransmit_max < self.retransmit_initial
        {
            return Err(ConfigError::RetransmitMax);
        }
        if self.max_retransmits == 0 {
            return Err(ConfigError::MaxRetransmits);
        }
        if self.ack_delay >= Duration::from_secs(1) {
            return Err(ConfigError::AckDelay);
        }
        if self.hello_interval.is_zero() || self.hello_interval > Duration::from_secs(86_400) {
            return Err(ConfigError::HelloInterval);
        }
        if self.stop_linger.is_zero() || self.stop_linger > Duration::from_secs(3_600) {
            return Err(ConfigError::StopLinger);
        }
        if self.secret.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(ConfigError::EmptySecret);
        }
        if self.vendor_id == 0 {
            return Err(ConfigError::VendorId);
        }
        if self.max_sessions == 0 {
            return Err(ConfigError::MaxSessions);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_value_is_named() {
        assert_eq!(TunnelConfig::default().validate(), Ok(()));
        let bad = |f: fn(&mut TunnelConfig)| {
            let mut c = TunnelConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(bad(|c| c.host_name.clear()), ConfigError::HostName);
        assert_eq!(bad(|c| c.receive_window = 0), ConfigError::ReceiveWindow);
        assert_eq!(
            bad(|c| c.retransmit_max = Duration::from_secs(4)),
            ConfigError::RetransmitMax
        );
        assert_eq!(
            bad(|c| c.retransmit_max = Duration::MAX),
            ConfigError::RetransmitMax
        );
        assert_eq!(bad(|c| c.max_retransmits = 0), ConfigError::MaxRetransmits);
        assert_eq!(
            bad(|c| c.hello_interval = Duration::ZERO),
            ConfigError::HelloInterval
        );
        assert_eq!(
            bad(|c| c.stop_linger = Duration::from_secs(7200)),
            ConfigError::StopLinger
        );
        assert_eq!(
            bad(|c| c.ack_delay = Duration::from_secs(2)),
            ConfigError::AckDelay
        );
        assert_eq!(
            bad(|c| c.secret = Some(Vec::new())),
            ConfigError::EmptySecret
        );
        assert_eq!(bad(|c| c.vendor_id = 0), ConfigError::VendorId);
        assert_eq!(bad(|c| c.max_sessions = 0), ConfigError::MaxSessions);
    }
}
