//! Async AF_PACKET sockets for PPPoE: one socket per access interface and ethertype (discovery
//! 0x8863, session 0x8864, RFC 2516 §2), receiving frames with their source MAC and sending to a
//! destination MAC.
//!
//! Owns: the raw socket and its tokio registration. Must not touch: PPPoE parsing (the sans-IO
//! `pppoe` module gets the payload after the Ethernet header plus the addresses).
//!
//! The socket is SOCK_RAW so a subscriber emulator can also choose the source MAC of each frame
//! ([`PacketSocket::send_from`]); the Ethernet header is scattered into a separate buffer on receive
//! and gathered from one on send, so payloads are never copied to make room for it.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::str::FromStr;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::RuntimeError;
use crate::sys;

/// Ethertypes l2tpagg binds to.
pub mod ethertype {
    /// PPPoE Discovery stage (RFC 2516 §4).
    pub const PPPOE_DISCOVERY: u16 = 0x8863;
    /// PPPoE Session stage (RFC 2516 §5).
    pub const PPPOE_SESSION: u16 = 0x8864;
}

/// Socket buffer asked for on both directions: a PADI burst or a session flood queues rather than
/// drops while the task is busy.
pub const DEFAULT_PACKET_BUFFER: usize = 4 * 1024 * 1024;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff, where PADI goes (RFC 2516 §5.1).
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit is set (broadcast included). PPPoE refuses such source addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A MAC address that is not six colon-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex bytes like 02:00:5e:10:00:01")]
pub struct MacAddrParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacAddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MacAddrParseError(s.to_owned());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// How the frame reached us, from the kernel's `sll_pkttype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Unicast to this interface.
    Host,
    /// Link-layer broadcast (PADI).
    Broadcast,
    /// Link-layer multicast.
    Multicast,
    /// Unicast to another host (interface in promiscuous mode).
    OtherHost,
    /// A type this code does not know.
    Other(u8),
}

impl FrameKind {
    fn from_pkttype(t: u8) -> Self {
        match t {
            sys::pkttype::HOST => Self::Host,
            sys::pkttype::BROADCAST => Self::Broadcast,
            sys::pkttype::MULTICAST => Self::Multicast,
            sys::pkttype::OTHERHOST => Self::OtherHost,
            other => Self::Other(other),
        }
    }
}

/// One received frame's metadata; its payload (after the Ethernet header) is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// Sender's MAC.
    pub source: MacAddr,
    /// Destination MAC as on the wire.
    pub destination: MacAddr,
    /// Ethertype from the header.
    pub ethertype: u16,
    /// Payload bytes stored in the buffer.
    pub len: usize,
    /// The payload did not fit the buffer; treat the frame as malformed.
    pub truncated: bool,
    /// How the kernel classified it.
    pub kind: FrameKind,
}

/// An AF_PACKET socket bound to one interface and one ethertype.
#[derive(Debug)]
pub struct PacketSocket {
    io: AsyncFd<OwnedFd>,
    interface: String,
    ifindex: u32,
    mac: MacAddr,
    ethertype: u16,
}

impl PacketSocket {
    /// Opens a socket on `interface` for frames of `ethertype`. Needs CAP_NET_RAW. Must run inside
    /// a tokio runtime; the socket belongs to the calling thread's network namespace.
    pub fn bind(interface: &str, ethertype: u16) -> Result<Self, RuntimeError> {
        let err = |op: &'static str| {
            let interface = interface.to_owned();
            move |source: io::Error| RuntimeError::Packet {
                interface,
                op,
                source,
            }
        };
        let ifindex = sys::if_index(interface).map_err(err("interface index"))?;
        let mac = MacAddr(sys::if_mac(interface).map_err(err("hardware address"))?);
        let fd = sys::packet_socket(ifindex, ethertype).map_err(err("open and bind"))?;
        for which in [sys::SocketBuffer::Receive, sys::SocketBuffer::Send] {
            sys::set_socket_buffer(fd.as_fd(), which, DEFAULT_PACKET_BUFFER)
                .map_err(err("set buffer size"))?;
        }
        let io = sys::register_async(fd, Interest::READABLE | Interest::WRITABLE)
            .map_err(err("register with tokio"))?;
        Ok(Self {
            io,
            interface: interface.to_owned(),
            ifindex,
            mac,
            ethertype,
        })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface's own MAC address: the source of frames sent by [`Self::send_to`].
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// The ethertype this socket receives and sends.
    pub fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// Receives one frame's payload into `payload`, waiting until one arrives. Frames this host sent
    /// and runt frames are skipped.
    pub async fn recv(&self, payload: &mut [u8]) -> io::Result<FrameMeta> {
        loop {
            let mut guard = self.io.readable().await?;
            match guard.try_io(|inner| Self::recv_from_fd(inner.get_ref(), payload)) {
                Ok(Ok(Some(meta))) => return Ok(meta),
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives one frame if one is queued; `WouldBlock` otherwise.
    pub fn try_recv(&self, payload: &mut [u8]) -> io::Result<FrameMeta> {
        loop {
            if let Some(meta) = Self::recv_from_fd(self.io.get_ref(), payload)? {
                return Ok(meta);
            }
        }
    }

    fn recv_from_fd(fd: &OwnedFd, payload: &mut [u8]) -> io::Result<Option<FrameMeta>> {
        let mut header = [0u8; sys::ETHERNET_HEADER_LEN];
        let got = match sys::packet_recv(fd.as_fd(), &mut header, payload) {
            Ok(got) => got,
            // A runt frame is the sender's problem, not a socket error.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
            Err(e) => return Err(e),
        };
        if got.pkttype == sys::pkttype::OUTGOING {
            return Ok(None);
        }
        let mut destination = [0u8; 6];
        let mut source = [0u8; 6];
        destination.copy_from_slice(&header[0..6]);
        source.copy_from_slice(&header[6..12]);
        Ok(Some(FrameMeta {
            source: MacAddr(source),
            destination: MacAddr(destination),
            ethertype: u16::from_be_bytes([header[12], header[13]]),
            len: got.payload_len,
            truncated: got.truncated,
            kind: FrameKind::from_pkttype(got.pkttype),
        }))
    }

    /// Sends `payload` to `destination` from this interface's MAC.
    pub async fn send_to(&self, destination: MacAddr, payload: &[u8]) -> io::Result<()> {
        self.send_from(self.mac, destination, payload).await
    }

    /// Sends `payload` to `destination` with `source` as the frame's source MAC. For the subscriber
    /// emulator, which speaks for many MACs from one interface.
    pub async fn send_from(
        &self,
        source: MacAddr,
        destination: MacAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let header = self.header(source, destination);
        loop {
            let mut guard = self.io.writable().await?;
            match guard.try_io(|inner| sys::packet_send(inner.get_ref().as_fd(), &header, payload))
            {
                Ok(result) => return result.map(drop),
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends without waiting; `WouldBlock` when the queue is full.
    pub fn try_send_from(
        &self,
        source: MacAddr,
        destination: MacAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let header = self.header(source, destination);
        sys::packet_send(self.io.get_ref().as_fd(), &header, payload).map(drop)
    }

    fn header(&self, source: MacAddr, destination: MacAddr) -> [u8; sys::ETHERNET_HEADER_LEN] {
        let mut header = [0u8; sys::ETHERNET_HEADER_LEN];
        header[0..6].copy_from_slice(&destination.0);
        header[6..12].copy_from_slice(&source.0);
        header[12..14].copy_from_slice(&self.ethertype.to_be_bytes());
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_display_roundtrip() {
        let mac: MacAddr = "02:00:5E:10:00:01".parse().unwrap();
        assert_eq!(mac.0, [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
        assert_eq!(mac.to_string(), "02:00:5e:10:00:01");
        assert_eq!("02-00-5e-10-00-01".parse::<MacAddr>().unwrap(), mac);
        for bad in [
            "",
            "02:00:5e:10:00",
            "02:00:5e:10:00:01:02",
            "0200:5e:10:00:01",
            "zz:00:5e:10:00:01",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} accepted");
        }
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        assert!(!mac.is_multicast());
    }
}
