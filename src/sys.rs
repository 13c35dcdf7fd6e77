//! The only module allowed `unsafe`: the Linux system calls that std, tokio and socket2 do not wrap.
//!
//! Owns: TUN device creation (`TUNSETIFF`), interface ioctls (index, MAC, flags, MTU, IPv4 address,
//! peer and netmask), IPv4 routes by `SIOCADDRT`/`SIOCDELRT`, AF_PACKET sockets bound to an interface
//! and an ethertype, UDP `recvmsg`/`sendmsg` with `IP_PKTINFO`/`IPV6_PKTINFO` control messages, and
//! `setns` into a network namespace, and the registration of owned descriptors with tokio's reactor
//! (`AsyncFd::register_with_interest` became `unsafe` in tokio 1.54; [`register_async`] is the one
//! safe door to it). Must not touch: async logic, protocol decisions, logging. Every function is
//! blocking-free (file descriptors are non-blocking) and returns `std::io::Result`; the async
//! wrappers live in `crate::runtime`.
//!
//! Every `unsafe` block carries a SAFETY comment. Plain-old-data C structs are zero-initialised and
//! filled field by field; the kernel only ever sees pointers to locals that outlive the call.

use std::ffi::{CString, c_int, c_void};
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// Length of an Ethernet II header: destination MAC, source MAC, ethertype.
pub const ETHERNET_HEADER_LEN: usize = 14;

fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

// ---------------------------------------------------------------------------------------------
// tokio registration
// ---------------------------------------------------------------------------------------------

/// Descriptor owners that keep one descriptor open, unchanged, for as long as they live: the
/// condition tokio's `AsyncFd::register_with_interest` asks of its callers. Sealed: only types known
/// to uphold it (they close their descriptor in `Drop` and never swap it) implement it.
pub trait OwnsFd: AsRawFd + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::os::fd::OwnedFd {}
    impl Sealed for std::fs::File {}
    impl Sealed for socket2::Socket {}
}

impl OwnsFd for OwnedFd {}
impl OwnsFd for File {}
impl OwnsFd for socket2::Socket {}

/// Registers a non-blocking descriptor owner with the current tokio reactor. Must run inside a
/// runtime.
pub fn register_async<T: OwnsFd>(
    inner: T,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: `T: OwnsFd` owns exactly one open descriptor for its whole life and always reports the
    // same one, and the `AsyncFd` takes ownership of `inner`, so the descriptor stays valid and
    // unchanged until the `AsyncFd` is dropped or unwrapped.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(inner, interest) }
        .map_err(|e| e.into())
}

// ---------------------------------------------------------------------------------------------
// Interfaces
// ---------------------------------------------------------------------------------------------

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(invalid_input(format!(
            "invalid interface name {name:?} (1 to {} bytes, no NUL)",
            libc::IFNAMSIZ - 1
        )));
    }
    // SAFETY: `ifreq` is a C struct of a char array and a union of integers, arrays and a pointer;
    // the all-zero bit pattern is a valid value for every one of them.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

fn name_from_ifreq(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A socket used only as the handle for interface and route ioctls, in the calling thread's
/// network namespace.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; the returned descriptor is checked before use.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl_ifreq(
    fd: BorrowedFd<'_>,
    request: libc::c_ulong,
    req: &mut libc::ifreq,
) -> io::Result<()> {
    // SAFETY: every request passed here reads and/or writes exactly one `struct ifreq`, and `req`
    // points to a live, exclusively borrowed `ifreq` for the duration of the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, req as *mut libc::ifreq) })?;
    Ok(())
}

fn sockaddr_from_ipv4(addr: Ipv4Addr) -> libc::sockaddr {
    // SAFETY: `sockaddr` is a C struct of integers and a char array; all-zero is valid.
    let mut sa: libc::sockaddr = unsafe { zeroed() };
    sa.sa_family = libc::AF_INET as libc::sa_family_t;
    // sockaddr_in: sin_port (2 bytes, left zero) then sin_addr in network order.
    for (dst, src) in sa.sa_data[2..6].iter_mut().zip(addr.octets()) {
        *dst = src as libc::c_char;
    }
    sa
}

fn ipv4_from_sockaddr(sa: &libc::sockaddr) -> io::Result<Ipv4Addr> {
    if sa.sa_family != libc::AF_INET as libc::sa_family_t {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "interface has no IPv4 address",
        ));
    }
    let d = &sa.sa_data;
    Ok(Ipv4Addr::new(
        d[2] as u8, d[3] as u8, d[4] as u8, d[5] as u8,
    ))
}

/// Opens `/dev/net/tun` and creates (or attaches to) the TUN device `name` in the calling thread's
/// network namespace, with `IFF_TUN | IFF_NO_PI`: each read returns one bare IP packet and each write
/// takes one. `name` may contain a `%d` template (for example `l2tpagg%d`); the returned name is the
/// one the kernel chose. The file is non-blocking and close-on-exec. The device is not persistent:
/// the kernel removes it, with every route through it, when the last descriptor closes.
pub fn tun_create(name: &str) -> io::Result<(File, String)> {
    let mut req = ifreq_for(name)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`; `req` is live and exclusively borrowed.
    cvt(unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::TUNSETIFF as _,
            &mut req as *mut libc::ifreq,
        )
    })?;
    Ok((file, name_from_ifreq(&req)))
}

/// The interface index of `name` (`SIOCGIFINDEX`).
pub fn if_index(name: &str) -> io::Result<u32> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFINDEX, &mut req)?;
    // SAFETY: SIOCGIFINDEX succeeded, so the kernel filled the `ifru_ifindex` member.
    let index = unsafe { req.ifr_ifru.ifru_ifindex };
    Ok(index as u32)
}

/// The hardware (MAC) address of `name` (`SIOCGIFHWADDR`). TUN devices have none and report zeros.
pub fn if_mac(name: &str) -> io::Result<[u8; 6]> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFHWADDR, &mut req)?;
    // SAFETY: SIOCGIFHWADDR succeeded, so the kernel filled the `ifru_hwaddr` member.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}

/// Whether `name` is administratively up (`IFF_UP`).
pub fn if_is_up(name: &str) -> io::Result<bool> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the kernel filled the `ifru_flags` member.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(flags as c_int & libc::IFF_UP != 0)
}

/// Brings `name` administratively up or down, leaving its other flags as they are.
pub fn if_set_up(name: &str, up: bool) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the kernel filled the `ifru_flags` member.
    let flags = unsafe { req.ifr_ifru.ifru_flags } as c_int;
    let flags = if up {
        flags | libc::IFF_UP
    } else {
        flags & !libc::IFF_UP
    };
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    ioctl_ifreq(sock.as_fd(), libc::SIOCSIFFLAGS, &mut req)
}

/// The MTU of `name`.
pub fn if_mtu(name: &str) -> io::Result<u32> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU succeeded, so the kernel filled the `ifru_mtu` member.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}

/// Sets the MTU of `name`.
pub fn if_set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mtu = c_int::try_from(mtu).map_err(|_| invalid_input(format!("MTU {mtu} out of range")))?;
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    req.ifr_ifru.ifru_mtu = mtu;
    ioctl_ifreq(sock.as_fd(), libc::SIOCSIFMTU, &mut req)
}

/// Which IPv4 attribute of an interface to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4IfAttr {
    /// The local address (`SIOCSIFADDR`).
    Address,
    /// The point-to-point peer address (`SIOCSIFDSTADDR`).
    Peer,
    /// The netmask (`SIOCSIFNETMASK`).
    Netmask,
}

/// Sets one IPv4 attribute of `name`. Set the address first: the kernel derives a default netmask
/// from it, which a later `Netmask` call overrides.
pub fn if_set_ipv4(name: &str, attr: Ipv4IfAttr, addr: Ipv4Addr) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    let sa = sockaddr_from_ipv4(addr);
    let request = match attr {
        Ipv4IfAttr::Address => {
            req.ifr_ifru.ifru_addr = sa;
            libc::SIOCSIFADDR
        }
        Ipv4IfAttr::Peer => {
            req.ifr_ifru.ifru_dstaddr = sa;
            libc::SIOCSIFDSTADDR
        }
        Ipv4IfAttr::Netmask => {
            req.ifr_ifru.ifru_netmask = sa;
            libc::SIOCSIFNETMASK
        }
    };
    ioctl_ifreq(sock.as_fd(), request, &mut req)
}

/// The primary IPv4 address of `name` (`SIOCGIFADDR`).
pub fn if_ipv4_address(name: &str) -> io::Result<Ipv4Addr> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFADDR, &mut req)?;
    // SAFETY: SIOCGIFADDR succeeded, so the kernel filled the `ifru_addr` member.
    let sa = unsafe { req.ifr_ifru.ifru_addr };
    ipv4_from_sockaddr(&sa)
}

/// An IPv4 route for the legacy routing ioctls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Route {
    /// Destination network address (host bits zero).
    pub destination: Ipv4Addr,
    /// Prefix length, 0 to 32.
    pub prefix_len: u8,
    /// Next hop, if the route goes through a gateway rather than straight out of the device.
    pub gateway: Option<Ipv4Addr>,
    /// Output device, if pinned to one.
    pub device: Option<String>,
    /// Route metric (priority); lower wins.
    pub metric: u16,
}

/// Adds (`SIOCADDRT`) or deletes (`SIOCDELRT`) an IPv4 route in the main table of the calling
/// thread's network namespace. Adding an existing route fails with `EEXIST`, deleting a missing one
/// with `ESRCH`. Needs CAP_NET_ADMIN; writes nothing under /proc/sys.
pub fn route_ipv4(add: bool, route: &Ipv4Route) -> io::Result<()> {
    if route.prefix_len > 32 {
        return Err(invalid_input(format!(
            "prefix length {} > 32",
            route.prefix_len
        )));
    }
    let mask = if route.prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - route.prefix_len)
    };
    let device = match &route.device {
        Some(dev) => Some(
            CString::new(dev.as_str()).map_err(|_| invalid_input(format!("bad device {dev:?}")))?,
        ),
        None => None,
    };
    let metric = i16::try_from(u32::from(route.metric) + 1)
        .map_err(|_| invalid_input(format!("metric {} out of range", route.metric)))?;
    // SAFETY: `rtentry` is a C struct of integers, sockaddrs and a pointer; all-zero (null device)
    // is valid.
    let mut rt: libc::rtentry = unsafe { zeroed() };
    rt.rt_dst = sockaddr_from_ipv4(route.destination);
    rt.rt_genmask = sockaddr_from_ipv4(Ipv4Addr::from(mask));
    rt.rt_flags = libc::RTF_UP;
    if route.prefix_len == 32 {
        rt.rt_flags |= libc::RTF_HOST;
    }
    if let Some(gw) = route.gateway {
        rt.rt_gateway = sockaddr_from_ipv4(gw);
        rt.rt_flags |= libc::RTF_GATEWAY;
    }
    // The legacy interface stores "metric + 1" so that 0 means "unset" (see route(8)).
    rt.rt_metric = metric;
    if let Some(dev) = &device {
        // The kernel copies the name during the ioctl; `device` outlives it.
        rt.rt_dev = dev.as_ptr() as *mut libc::c_char;
    }
    let sock = control_socket()?;
    let request = if add {
        libc::SIOCADDRT
    } else {
        libc::SIOCDELRT
    };
    // SAFETY: SIOCADDRT/SIOCDELRT read one `struct rtentry`; `rt` and the string it points to are
    // live for the duration of the call.
    cvt(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            request as _,
            &mut rt as *mut libc::rtentry,
        )
    })?;
    Ok(())
}

/// Moves the calling thread into the network namespace `ns` (a descriptor of
/// `/var/run/netns/NAME` or `/proc/PID/ns/net`). Only this thread moves; sockets and TUN devices it
/// creates afterwards belong to that namespace. Used by tests and tools that drive code inside a
/// namespace from a dedicated thread; never call it on a tokio worker thread.
pub fn enter_netns(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns(2) takes a descriptor and a flag, no pointers.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// AF_PACKET
// ---------------------------------------------------------------------------------------------

/// `sll_pkttype` values the kernel reports for a received frame (linux/if_packet.h).
pub mod pkttype {
    /// Addressed to this host.
    pub const HOST: u8 = 0;
    /// Link-layer broadcast.
    pub const BROADCAST: u8 = 1;
    /// Link-layer multicast.
    pub const MULTICAST: u8 = 2;
    /// Addressed to another host (seen in promiscuous mode).
    pub const OTHERHOST: u8 = 3;
    /// Sent by this host (looped back to taps).
    pub const OUTGOING: u8 = 4;
}

/// Opens a raw AF_PACKET socket (Ethernet header included) bound to interface `ifindex` and
/// `ethertype`. The socket is created with protocol 0 so it receives nothing until `bind` names both
/// the interface and the ethertype: no frame from another interface slips in between.
pub fn packet_socket(ifindex: u32, ethertype: u16) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `sockaddr_ll` is a C struct of integers and a byte array; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = c_int::try_from(ifindex)
        .map_err(|_| invalid_input(format!("interface index {ifindex} out of range")))?;
    // SAFETY: `sll` is a live `sockaddr_ll` and the length passed is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// One frame received on a packet socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRecv {
    /// Bytes of payload (after the Ethernet header) stored in the caller's buffer.
    pub payload_len: usize,
    /// The frame was longer than header + buffer; the tail was dropped.
    pub truncated: bool,
    /// `sll_pkttype` (see [`pkttype`]).
    pub pkttype: u8,
}

/// Receives one frame: the Ethernet header lands in `header` and the payload in `payload`
/// (scatter read, no copy). Frames shorter than an Ethernet header are reported as `InvalidData`.
pub fn packet_recv(
    fd: BorrowedFd<'_>,
    header: &mut [u8; ETHERNET_HEADER_LEN],
    payload: &mut [u8],
) -> io::Result<PacketRecv> {
    let mut iov = [
        libc::iovec {
            iov_base: header.as_mut_ptr() as *mut c_void,
            iov_len: header.len(),
        },
        libc::iovec {
            iov_base: payload.as_mut_ptr() as *mut c_void,
            iov_len: payload.len(),
        },
    ];
    // SAFETY: `sockaddr_ll` and `msghdr` are C structs of integers and pointers; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = &mut sll as *mut libc::sockaddr_ll as *mut c_void;
    msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: `msg` points to `sll` and to two iovecs over `header` and `payload`, all live and
    // exclusively borrowed for the call, with their true lengths. MSG_TRUNC makes the return value
    // the real frame length so truncation can be detected.
    let len = cvt_size(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) })?;
    if len < ETHERNET_HEADER_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame shorter than an Ethernet header",
        ));
    }
    let payload_wire = len - ETHERNET_HEADER_LEN;
    Ok(PacketRecv {
        payload_len: payload_wire.min(payload.len()),
        truncated: payload_wire > payload.len(),
        pkttype: sll.sll_pkttype,
    })
}

/// Sends one frame made of `header` (destination MAC, source MAC, ethertype) and `payload` on the
/// interface the socket is bound to (gather write, no copy).
pub fn packet_send(
    fd: BorrowedFd<'_>,
    header: &[u8; ETHERNET_HEADER_LEN],
    payload: &[u8],
) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: header.as_ptr() as *mut c_void,
            iov_len: header.len(),
        },
        libc::iovec {
            iov_base: payload.as_ptr() as *mut c_void,
            iov_len: payload.len(),
        },
    ];
    // SAFETY: `msghdr` is a C struct of integers and pointers; all-zero (no name, no control) is
    // valid and means "send on the bound interface".
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: `msg` points to two iovecs over `header` and `payload`, live for the call; sendmsg
    // only reads through them despite the `*mut` in the C signature.
    cvt_size(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })
}

// ---------------------------------------------------------------------------------------------
// UDP with packet info
// ---------------------------------------------------------------------------------------------

fn setsockopt_int(fd: BorrowedFd<'_>, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const c_int as *const c_void,
            size_of::<c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Which socket buffer to size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketBuffer {
    /// The receive buffer (`SO_RCVBUF`).
    Receive,
    /// The send buffer (`SO_SNDBUF`).
    Send,
}

/// Sets a socket buffer to `bytes`. With CAP_NET_ADMIN it uses `SO_RCVBUFFORCE`/`SO_SNDBUFFORCE`,
/// which may exceed `net.core.rmem_max`/`wmem_max`; otherwise (or if that fails) the plain option,
/// which the kernel silently caps. Returns the size the kernel reports afterwards (Linux reports
/// twice the usable size, to account for its bookkeeping).
pub fn set_socket_buffer(
    fd: BorrowedFd<'_>,
    which: SocketBuffer,
    bytes: usize,
) -> io::Result<usize> {
    let value = c_int::try_from(bytes).unwrap_or(c_int::MAX);
    let (force, plain) = match which {
        SocketBuffer::Receive => (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        SocketBuffer::Send => (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    };
    if setsockopt_int(fd, libc::SOL_SOCKET, force, value).is_err() {
        setsockopt_int(fd, libc::SOL_SOCKET, plain, value)?;
    }
    let mut got: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `got` and `len` are live locals; the kernel writes at most `len` bytes into `got`.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            plain,
            &mut got as *mut c_int as *mut c_void,
            &mut len,
        )
    })?;
    Ok(got.max(0) as usize)
}

/// Asks the kernel to report each datagram's destination address and arrival interface:
/// `IP_PKTINFO` on an IPv4 socket, `IPV6_RECVPKTINFO` on an IPv6 one.
pub fn udp_enable_pktinfo(fd: BorrowedFd<'_>, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

/// What `udp_recv` learned about one datagram besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRecv {
    /// Bytes stored in the caller's buffer.
    pub len: usize,
    /// The datagram was longer than the buffer; the tail was dropped.
    pub truncated: bool,
    /// Sender.
    pub source: SocketAddr,
    /// The address the datagram was sent to, when packet info is enabled.
    pub destination: Option<IpAddr>,
    /// Interface it arrived on, when packet info is enabled (0 otherwise).
    pub ifindex: u32,
}

/// Room for one `in6_pktinfo` control message (the larger of the two) with headroom, as u64s so the
/// buffer has `cmsghdr` alignment.
const CMSG_BUF_WORDS: usize = 16;

fn socket_addr_from_storage(storage: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match storage.ss_family as c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a `sockaddr_in`, which is smaller than
            // `sockaddr_storage` and no more aligned.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a `sockaddr_in6`, which is smaller than
            // `sockaddr_storage` and no more aligned.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage as *const libc::sockaddr_in6)
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        family => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected address family {family}"),
        )),
    }
}

fn storage_from_socket_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: `sockaddr_storage` is plain old data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: `sockaddr_storage` is larger than and at least as aligned as `sockaddr_in`.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr_in)
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: `sockaddr_storage` is larger than and at least as aligned as `sockaddr_in6`.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6)
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Receives one datagram with its sender and, when packet info is enabled, the local address it
/// was sent to and the interface it arrived on.
pub fn udp_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<UdpRecv> {
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut c_void,
        iov_len: buf.len(),
    }];
    // SAFETY: plain-old-data C structs; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut control = [0u64; CMSG_BUF_WORDS];
    // SAFETY: plain-old-data C struct; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = &mut storage as *mut libc::sockaddr_storage as *mut c_void;
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut c_void;
    msg.msg_controllen = size_of::<[u64; CMSG_BUF_WORDS]>() as _;
    // SAFETY: `msg` points to `storage`, one iovec over `buf` and `control`, all live and exclusively
    // borrowed for the call, with their true lengths.
    let len = cvt_size(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) })?;
    let truncated = msg.msg_flags & libc::MSG_TRUNC != 0;
    let source = socket_addr_from_storage(&storage)?;
    let mut destination = None;
    let mut ifindex = 0u32;
    // SAFETY: `msg` was filled by a successful recvmsg, so msg_control/msg_controllen describe the
    // control messages the kernel wrote into `control` (still live). CMSG_FIRSTHDR/CMSG_NXTHDR stay
    // within msg_controllen and return null at the end.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points inside `control` (see above).
        let header = unsafe { &*cmsg };
        // SAFETY: CMSG_DATA of a valid header points to its payload inside `control`.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        // SAFETY: CMSG_LEN is a pure size computation.
        let min_v4 = unsafe { libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) } as usize;
        // SAFETY: as above.
        let min_v6 = unsafe { libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) } as usize;
        if header.cmsg_level == libc::IPPROTO_IP
            && header.cmsg_type == libc::IP_PKTINFO
            && header.cmsg_len as usize >= min_v4
        {
            // SAFETY: the header says its payload is an `in_pktinfo` and is long enough; the read is
            // unaligned-safe.
            let info = unsafe { std::ptr::read_unaligned(data as *const libc::in_pktinfo) };
            destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                info.ipi_addr.s_addr,
            ))));
            ifindex = info.ipi_ifindex as u32;
        } else if header.cmsg_level == libc::IPPROTO_IPV6
            && header.cmsg_type == libc::IPV6_PKTINFO
            && header.cmsg_len as usize >= min_v6
        {
            // SAFETY: the header says its payload is an `in6_pktinfo` and is long enough; the read
            // is unaligned-safe.
            let info = unsafe { std::ptr::read_unaligned(data as *const libc::in6_pktinfo) };
            destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            ifindex = info.ipi6_ifindex;
        }
        // SAFETY: `msg` and `cmsg` are valid as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(UdpRecv {
        len: len.min(buf.len()),
        truncated,
        source,
        destination,
        ifindex,
    })
}

/// Sends one datagram to `destination`, from local address `source` when given (an address of this
/// host, not necessarily the one the socket is bound to: that is how a socket bound to 0.0.0.0
/// replies from the address a request came to). The families of `destination` and `source` must
/// match the socket's (map IPv4 to IPv6 for a dual-stack IPv6 socket before calling).
pub fn udp_send(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    destination: &SocketAddr,
    source: Option<IpAddr>,
) -> io::Result<usize> {
    let (storage, name_len) = storage_from_socket_addr(destination);
    let iov = [libc::iovec {
        iov_base: buf.as_ptr() as *mut c_void,
        iov_len: buf.len(),
    }];
    let mut control = [0u64; CMSG_BUF_WORDS];
    // SAFETY: plain-old-data C struct; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = &storage as *const libc::sockaddr_storage as *mut c_void;
    msg.msg_namelen = name_len;
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = 1;
    if let Some(source) = source {
        let (level, kind, payload_len) = match source {
            IpAddr::V4(_) => (
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                size_of::<libc::in_pktinfo>(),
            ),
            IpAddr::V6(_) => (
                libc::IPPROTO_IPV6,
                libc::IPV6_PKTINFO,
                size_of::<libc::in6_pktinfo>(),
            ),
        };
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(payload_len as u32) } as usize;
        debug_assert!(space <= size_of::<[u64; CMSG_BUF_WORDS]>());
        msg.msg_control = control.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points to `control`, which is zeroed, cmsghdr-aligned and at least
        // `space` bytes, so CMSG_FIRSTHDR returns a valid, non-null header inside it.
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        if cmsg.is_null() {
            return Err(io::Error::other("control buffer too small for packet info"));
        }
        // SAFETY: `cmsg` points inside `control` with room for a header and `payload_len` bytes;
        // the payload is written unaligned-safe.
        unsafe {
            (*cmsg).cmsg_level = level;
            (*cmsg).cmsg_type = kind;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload_len as u32) as _;
            let data = libc::CMSG_DATA(cmsg);
            match source {
                IpAddr::V4(src) => {
                    let info = libc::in_pktinfo {
                        ipi_ifindex: 0,
                        ipi_spec_dst: libc::in_addr {
                            s_addr: u32::from(src).to_be(),
                        },
                        ipi_addr: libc::in_addr { s_addr: 0 },
                    };
                    std::ptr::write_unaligned(data as *mut libc::in_pktinfo, info);
                }
                IpAddr::V6(src) => {
                    let info = libc::in6_pktinfo {
                        ipi6_addr: libc::in6_addr {
                            s6_addr: src.octets(),
                        },
                        ipi6_ifindex: 0,
                    };
                    std::ptr::write_unaligned(data as *mut libc::in6_pktinfo, info);
                }
            }
        }
    }
    // SAFETY: `msg` points to `storage`, one iovec over `buf` and (optionally) `control`, all live
    // for the call; sendmsg only reads through them.
    cvt_size(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked_before_any_syscall() {
        assert_eq!(
            if_index("").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            if_index("a-name-longer-than-15").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            if_index("nul\0name").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn loopback_has_index_one_and_no_mac() {
        // Every network namespace has `lo`; its index is 1 by construction.
        assert_eq!(if_index("lo").unwrap(), 1);
        assert_eq!(if_mac("lo").unwrap(), [0; 6]);
    }

    #[test]
    fn sockaddr_roundtrip() {
        for addr in [
            "192.0.2.7:1701".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:1701".parse().unwrap(),
        ] {
            let (storage, _) = storage_from_socket_addr(&addr);
            assert_eq!(socket_addr_from_storage(&storage).unwrap(), addr);
        }
        let sa = sockaddr_from_ipv4(Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(ipv4_from_sockaddr(&sa).unwrap(), Ipv4Addr::new(10, 1, 2, 3));
    }

    #[test]
    fn route_rejects_bad_prefix() {
        let route = Ipv4Route {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_len: 33,
            gateway: None,
            device: None,
            metric: 0,
        };
        assert_eq!(
            route_ipv4(true, &route).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
