//! Async UDP endpoints for L2TP: bound through socket2 with SO_REUSEADDR and large buffers, receiving
//! each datagram with the local address it was sent to, and sending from a chosen local address.
//!
//! Owns: the UDP socket and its tokio registration. Must not touch: L2TP parsing or session lookup;
//! callers get bytes plus addresses and decide.
//!
//! Why the local address matters: an LNS bound to `0.0.0.0:1701` on a host with several addresses
//! must answer from the address the LAC sent to, or the LAC (and its NAT or firewall) will not match
//! the reply to its tunnel. RFC 2661 §8.1 also lets a peer answer from a different port, so replies
//! carry the local address explicitly rather than relying on the kernel's route-based choice.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::RuntimeError;
use crate::sys;

/// Default receive and send buffer request: 4 MiB, enough for a burst of several thousand
/// datagrams while the socket task is busy.
pub const DEFAULT_SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// How to bind a UDP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConfig {
    /// Local address and port. `0.0.0.0` or `[::]` receive on every address; replies still leave
    /// from the address each request came to (see [`UdpEndpoint::send_from`]).
    pub bind: SocketAddr,
    /// Requested receive buffer in bytes.
    pub recv_buffer: usize,
    /// Requested send buffer in bytes.
    pub send_buffer: usize,
    /// Set SO_REUSEADDR. For UDP on Linux this lets a wildcard bind and a specific-address bind
    /// share a port (an LNS on `0.0.0.0:1701` next to a front-end on `192.0.2.1:1701`). It also lets
    /// two processes that both set it bind the same address and port, so a second daemon is caught
    /// by the control socket check (`CtlServer::bind`), not here.
    pub reuse_address: bool,
    /// Bind the socket to this network device (SO_BINDTODEVICE): datagrams leave and are received
    /// only through it, whatever the routing table prefers. Needs CAP_NET_RAW on kernels before
    /// 5.7 (EPERM without it); a device that does not exist fails with ENODEV. A failure is
    /// [`RuntimeError::Device`], never silently ignored.
    pub device: Option<String>,
}

impl UdpConfig {
    /// A config for `bind` with the defaults: 4 MiB buffers, SO_REUSEADDR.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            recv_buffer: DEFAULT_SOCKET_BUFFER,
            send_buffer: DEFAULT_SOCKET_BUFFER,
            reuse_address: true,
            device: None,
        }
    }
}

/// Buffer sizes requested and granted. The kernel reports twice the usable size, and without
/// CAP_NET_ADMIN caps the request at net.core.rmem_max / wmem_max; log both so an operator sees a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSizes {
    /// Receive buffer asked for.
    pub recv_requested: usize,
    /// Receive buffer as the kernel reports it.
    pub recv_achieved: usize,
    /// Send buffer asked for.
    pub send_requested: usize,
    /// Send buffer as the kernel reports it.
    pub send_achieved: usize,
}

impl BufferSizes {
    /// Whether the kernel granted less usable room than requested. Linux reports twice the usable
    /// size, so the usable size is half of what it reports.
    pub fn capped(&self) -> bool {
        self.recv_achieved / 2 < self.recv_requested || self.send_achieved / 2 < self.send_requested
    }
}

/// One received datagram's metadata; its bytes are in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// The datagram did not fit the buffer; its tail was dropped. Treat it as malformed.
    pub truncated: bool,
    /// The sender. IPv4 senders on a dual-stack IPv6 socket are reported as plain IPv4.
    pub source: SocketAddr,
    /// The local address the datagram was sent to; pass it to [`UdpEndpoint::send_from`] to reply.
    /// `None` only if the kernel did not attach packet info (it always does on Linux).
    pub local: Option<IpAddr>,
    /// Index of the interface it arrived on (0 when unknown).
    pub ifindex: u32,
}

/// An async UDP socket with destination-address reception and source-address selection.
#[derive(Debug)]
pub struct UdpEndpoint {
    io: AsyncFd<Socket>,
    local_addr: SocketAddr,
    ipv6: bool,
    buffers: BufferSizes,
}

impl UdpEndpoint {
    /// Binds a non-blocking UDP socket as `config` says and registers it with the current tokio
    /// runtime. Must be called inside a runtime.
    pub fn bind(config: &UdpConfig) -> Result<Self, RuntimeError> {
        let addr = config.bind;
        let err =
            |op: &'static str| move |source: io::Error| RuntimeError::Udp { addr, op, source };
        let ipv6 = addr.is_ipv6();
        let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket = Socket::new(
            domain,
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )
        .map_err(err("socket"))?;
        if config.reuse_address {
            socket
                .set_reuse_address(true)
                .map_err(err("SO_REUSEADDR"))?;
        }
        if let Some(device) = &config.device {
            socket
                .bind_device(Some(device.as_bytes()))
                .map_err(|source| RuntimeError::Device {
                    addr,
                    device: device.clone(),
                    source,
                })?;
        }
        sys::udp_enable_pktinfo(socket.as_fd(), ipv6).map_err(err("enable packet info"))?;
        let recv_achieved = sys::set_socket_buffer(
            socket.as_fd(),
            sys::SocketBuffer::Receive,
            config.recv_buffer,
        )
        .map_err(err("SO_RCVBUF"))?;
        let send_achieved =
            sys::set_socket_buffer(socket.as_fd(), sys::SocketBuffer::Send, config.send_buffer)
                .map_err(err("SO_SNDBUF"))?;
        socket.bind(&addr.into()).map_err(err("bind"))?;
        let local_addr = socket
            .local_addr()
            .map_err(err("local address"))?
            .as_socket()
            .ok_or_else(|| err("local address")(io::Error::other("not an IP socket")))?;
        let io = sys::register_async(socket, Interest::READABLE | Interest::WRITABLE)
            .map_err(err("register with tokio"))?;
        Ok(Self {
            io,
            local_addr,
            ipv6,
            buffers: BufferSizes {
                recv_requested: config.recv_buffer,
                recv_achieved,
                send_requested: config.send_buffer,
                send_achieved,
            },
        })
    }

    /// The bound address, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The buffer sizes requested and granted at bind time.
    pub fn buffer_sizes(&self) -> BufferSizes {
        self.buffers
    }

    /// Receives one datagram, waiting until one arrives.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        loop {
            let mut guard = self.io.readable().await?;
            match guard.try_io(|inner| self.recv_now(inner.get_ref(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives one datagram if one is queued, or fails with `WouldBlock`. Lets a socket task drain a
    /// burst after one wake-up without going back to the reactor.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        self.recv_now(self.io.get_ref(), buf)
    }

    fn recv_now(&self, socket: &Socket, buf: &mut [u8]) -> io::Result<RecvMeta> {
        let got = sys::udp_recv(socket.as_fd(), buf)?;
        Ok(RecvMeta {
            len: got.len,
            truncated: got.truncated,
            source: canonical_socket_addr(got.source),
            local: got.destination.map(|ip| ip.to_canonical()),
            ifindex: got.ifindex,
        })
    }

    /// Sends one datagram to `destination`, letting the kernel choose the source address.
    pub async fn send_to(&self, buf: &[u8], destination: SocketAddr) -> io::Result<usize> {
        self.send(buf, destination, None).await
    }

    /// Sends one datagram to `destination` from the local address `source` (usually
    /// [`RecvMeta::local`] of the request being answered). The source port is the bound port.
    pub async fn send_from(
        &self,
        buf: &[u8],
        destination: SocketAddr,
        source: IpAddr,
    ) -> io::Result<usize> {
        self.send(buf, destination, Some(source)).await
    }

    /// Sends without waiting; fails with `WouldBlock` when the send buffer is full.
    pub fn try_send(
        &self,
        buf: &[u8],
        destination: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<usize> {
        let (destination, source) = self.family_fit(destination, source)?;
        sys::udp_send(self.io.get_ref().as_fd(), buf, &destination, source)
    }

    async fn send(
        &self,
        buf: &[u8],
        destination: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<usize> {
        let (destination, source) = self.family_fit(destination, source)?;
        loop {
            let mut guard = self.io.writable().await?;
            match guard
                .try_io(|inner| sys::udp_send(inner.get_ref().as_fd(), buf, &destination, source))
            {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Maps IPv4 addresses into IPv6 for a dual-stack IPv6 socket, and refuses IPv6 on IPv4.
    fn family_fit(
        &self,
        destination: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<(SocketAddr, Option<IpAddr>)> {
        if self.ipv6 {
            let destination = match destination {
                SocketAddr::V4(v4) => {
                    SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
                }
                v6 => v6,
            };
            let source = source.map(|ip| match ip {
                IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
                v6 => v6,
            });
            Ok((destination, source))
        } else {
            let v4_source = source.map(|ip| ip.to_canonical());
            if destination.ip().to_canonical().is_ipv6() || v4_source.is_some_and(|ip| ip.is_ipv6())
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("IPv6 address on IPv4 socket {}", self.local_addr),
                ));
            }
            let destination = SocketAddr::new(destination.ip().to_canonical(), destination.port());
            Ok((destination, v4_source))
        }
    }
}

fn canonical_socket_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_reported_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:1701".parse().unwrap();
        assert_eq!(
            canonical_socket_addr(mapped),
            "192.0.2.1:1701".parse().unwrap()
        );
        let v6: SocketAddr = "[2001:db8::1]:1701".parse().unwrap();
        assert_eq!(canonical_socket_addr(v6), v6);
    }

    #[tokio::test]
    async fn ipv4_socket_refuses_ipv6_destination() {
        let ep = UdpEndpoint::bind(&UdpConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
        let err = ep
            .try_send(b"x", "[2001:db8::1]:1701".parse().unwrap(), None)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
