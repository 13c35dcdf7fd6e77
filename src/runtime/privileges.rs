//! Probes for the privileged facilities the daemon can live without: the TUN device (LNS IP
//! forwarding) and AF_PACKET sockets (the PPPoE front-end). When one is missing the daemon logs one
//! line saying which and why, and runs the rest.
//!
//! Owns: nothing; each probe opens and closes what it tests. Must not touch: configuration (the
//! daemon decides what a missing facility disables).
//!
//! The TUN probe does not create a device (that would flash an interface into existence on every
//! start): it opens `/dev/net/tun`, which tests the device node and file permissions, and checks
//! CAP_NET_ADMIN in the effective capability set, which `TUNSETIFF` and the route ioctls require.
//! The AF_PACKET probe opens and closes a socket with protocol 0, which receives nothing.

use std::fmt;
use std::fs::OpenOptions;
use std::io;

use crate::sys;

/// Capability bit numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;

/// Why a facility is unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// One phrase an operator can act on, e.g. "/dev/net/tun does not exist (load the tun module)".
    pub reason: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The log line for a missing facility, in the one format the daemon uses:
/// `"TUN unavailable: <why>; running without LNS IP forwarding"`.
pub fn unavailable_line(facility: &str, why: &Unavailable, consequence: &str) -> String {
    format!("{facility} unavailable: {why}; running without {consequence}")
}

/// Whether this process can create TUN devices and routes.
pub fn probe_tun() -> Result<(), Unavailable> {
    probe_tun_at("/dev/net/tun")
}

fn probe_tun_at(path: &str) -> Result<(), Unavailable> {
    if let Err(e) = OpenOptions::new().read(true).write(true).open(path) {
        let reason = match e.kind() {
            io::ErrorKind::NotFound => {
                format!("{path} does not exist (load the tun module or allow the device)")
            }
            io::ErrorKind::PermissionDenied => {
                format!("permission denied opening {path} ({e}; check DeviceAllow= and file mode)")
            }
            _ => format!("cannot open {path}: {e}"),
        };
        return Err(Unavailable { reason });
    }
    match effective_capabilities() {
        Ok(caps) if caps & (1u64 << CAP_NET_ADMIN) != 0 => Ok(()),
        Ok(_) => Err(Unavailable {
            reason: "CAP_NET_ADMIN is not in the effective capability set (needed to create the device and routes)".into(),
        }),
        // Without /proc we cannot tell; let the real creation report the error.
        Err(_) => Ok(()),
    }
}

/// Whether this process can open AF_PACKET sockets (CAP_NET_RAW, and the address family allowed).
pub fn probe_packet() -> Result<(), Unavailable> {
    // Index 1 is loopback in every namespace; binding with ethertype 0 receives nothing.
    match sys::packet_socket(1, 0) {
        Ok(_fd) => Ok(()),
        Err(e) => Err(Unavailable {
            reason: packet_reason(&e),
        }),
    }
}

fn packet_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("cannot open an AF_PACKET socket ({e}; needs CAP_NET_RAW)")
        }
        Some(libc::EAFNOSUPPORT) => format!(
            "AF_PACKET is not available ({e}; kernel without packet sockets or RestrictAddressFamilies= excludes it)"
        ),
        _ => format!("cannot open an AF_PACKET socket: {e}"),
    }
}

/// The effective capability set from /proc/self/status (`CapEff`).
pub fn effective_capabilities() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    parse_cap_eff(&status)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no CapEff line"))
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_parsing() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn missing_device_node_is_named() {
        let err = probe_tun_at("/nonexistent/net/tun").unwrap_err();
        assert!(
            err.reason.contains("/nonexistent/net/tun does not exist"),
            "{err}"
        );
        assert_eq!(
            unavailable_line("TUN", &err, "LNS IP forwarding"),
            format!("TUN unavailable: {err}; running without LNS IP forwarding")
        );
    }

    #[test]
    fn permission_errors_name_the_capability() {
        let reason = packet_reason(&io::Error::from_raw_os_error(libc::EPERM));
        assert!(reason.contains("CAP_NET_RAW"), "{reason}");
        let reason = packet_reason(&io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
        assert!(reason.contains("RestrictAddressFamilies"), "{reason}");
    }
}
