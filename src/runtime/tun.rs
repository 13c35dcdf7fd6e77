//! The LNS's TUN device: created and configured by ioctl (no `ip` subprocess), read and written one
//! IP packet at a time, with the routes it installed removed and the link brought down on close.
//!
//! Owns: the TUN file descriptor, its tokio registration and the list of routes this process added
//! through it. Must not touch: which session owns an address (the data plane decides), address
//! pools (PPP/IPCP), anything under /proc/sys (forwarding is the operator's choice, see the service
//! file).
//!
//! One device carries every LNS session: packets read from it are routed to the session owning the
//! destination address, packets from sessions are written to it. The device is not persistent, so
//! even a crash removes it and every route through it; [`TunDevice::close`] and `Drop` still remove
//! routes explicitly first so a clean exit leaves nothing behind and logs any failure.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use ipnet::Ipv4Net;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::RuntimeError;
use crate::sys;

/// The default device name template; the kernel replaces `%d` with the first free number.
pub const DEFAULT_TUN_NAME: &str = "l2tpagg%d";

/// Largest IP packet a TUN read can return (the kernel caps the device MTU at 65535).
pub const MAX_PACKET: usize = 65_535;

/// How to create and configure the TUN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// Device name or template with `%d` (at most 15 bytes).
    pub name: String,
    /// MTU to set; `None` keeps the kernel default (1500).
    pub mtu: Option<u32>,
    /// Local IPv4 address of the device (the LNS side, often the subscribers' gateway).
    pub address: Option<Ipv4Addr>,
    /// Point-to-point peer address, for a /32 peer route.
    pub peer: Option<Ipv4Addr>,
    /// Prefix length of `address`; sets the netmask and so the connected route.
    pub prefix_len: Option<u8>,
    /// Routes to install through the device once it is up (typically the address pools).
    pub routes: Vec<Ipv4Net>,
}

impl TunConfig {
    /// A config with only the name set: no MTU change, no address, no routes.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            mtu: None,
            address: None,
            peer: None,
            prefix_len: None,
            routes: Vec::new(),
        }
    }
}

/// An open, configured TUN device registered with tokio.
#[derive(Debug)]
pub struct TunDevice {
    io: AsyncFd<File>,
    name: String,
    ifindex: u32,
    routes: Mutex<Vec<Ipv4Net>>,
    closed: bool,
}

impl TunDevice {
    /// Creates the device in the calling thread's network namespace, sets MTU, addresses and netmask,
    /// brings it up and installs `config.routes`. On any failure the half-configured device is
    /// removed (its descriptor closes) and the error names the step. Must run inside a tokio runtime.
    pub fn create(config: &TunConfig) -> Result<Self, RuntimeError> {
        let requested = config.name.clone();
        let (file, name) = sys::tun_create(&config.name).map_err(|source| RuntimeError::Tun {
            device: requested.clone(),
            op: "create (open /dev/net/tun, TUNSETIFF)",
            source,
        })?;
        let err = |op: &'static str| {
            let device = name.clone();
            move |source: io::Error| RuntimeError::Tun { device, op, source }
        };
        if let Some(mtu) = config.mtu {
            sys::if_set_mtu(&name, mtu).map_err(err("set MTU"))?;
        }
        if let Some(address) = config.address {
            sys::if_set_ipv4(&name, sys::Ipv4IfAttr::Address, address)
                .map_err(err("set address"))?;
        }
        if let Some(peer) = config.peer {
            sys::if_set_ipv4(&name, sys::Ipv4IfAttr::Peer, peer)
                .map_err(err("set peer address"))?;
        }
        if let Some(prefix_len) = config.prefix_len {
            let mask = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, prefix_len)
                .map_err(|e| err("set netmask")(io::Error::new(io::ErrorKind::InvalidInput, e)))?
                .netmask();
            sys::if_set_ipv4(&name, sys::Ipv4IfAttr::Netmask, mask).map_err(err("set netmask"))?;
        }
        sys::if_set_up(&name, true).map_err(err("bring up"))?;
        let ifindex = sys::if_index(&name).map_err(err("interface index"))?;
        let io = sys::register_async(file, Interest::READABLE | Interest::WRITABLE)
            .map_err(err("register with tokio"))?;
        let device = Self {
            io,
            name,
            ifindex,
            routes: Mutex::new(Vec::new()),
            closed: false,
        };
        for route in &config.routes {
            // On failure `device` drops here, removing the routes added so far and the device.
            device.add_route(*route)?;
        }
        Ok(device)
    }

    /// The device name the kernel assigned.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Reads one IP packet, waiting until the kernel routes one to the device. `buf` should hold
    /// the MTU; a longer packet is truncated by the kernel.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.io.readable().await?;
            match guard.try_io(|inner| inner.get_ref().read(buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads one packet if one is queued, or fails with `WouldBlock`.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.get_ref().read(buf)
    }

    /// Writes one IP packet into the kernel's stack as if it arrived on the device.
    pub async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.io.writable().await?;
            match guard.try_io(|inner| inner.get_ref().write(packet)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes one packet without waiting; fails with `WouldBlock` when the device queue is full.
    pub fn try_send(&self, packet: &[u8]) -> io::Result<usize> {
        self.io.get_ref().write(packet)
    }

    /// Installs a route to `net` through this device and remembers it for removal. A route that
    /// already exists (EEXIST) is an error: someone else owns it and we must not delete it later.
    pub fn add_route(&self, net: Ipv4Net) -> Result<(), RuntimeError> {
        sys::route_ipv4(true, &self.route(net)).map_err(|source| RuntimeError::Tun {
            device: self.name.clone(),
            op: "add route",
            source: io::Error::new(source.kind(), format!("{net}: {source}")),
        })?;
        self.routes_lock().push(net);
        Ok(())
    }

    /// Removes a route this device installed. A route the kernel already dropped (ESRCH) counts
    /// as removed.
    pub fn remove_route(&self, net: Ipv4Net) -> Result<(), RuntimeError> {
        let result = match sys::route_ipv4(false, &self.route(net)) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        };
        self.routes_lock().retain(|r| *r != net);
        result.map_err(|source| RuntimeError::Tun {
            device: self.name.clone(),
            op: "remove route",
            source: io::Error::new(source.kind(), format!("{net}: {source}")),
        })
    }

    /// The routes this device installed and has not removed.
    pub fn routes(&self) -> Vec<Ipv4Net> {
        self.routes_lock().clone()
    }

    /// Removes every route this device installed, brings the link down and closes it. Returns the
    /// first error; every step is attempted regardless.
    pub fn close(mut self) -> Result<(), RuntimeError> {
        self.closed = true;
        self.teardown()
    }

    fn teardown(&self) -> Result<(), RuntimeError> {
        let mut first_error = None;
        for net in self.routes() {
            if let Err(e) = self.remove_route(net) {
                first_error.get_or_insert(e);
            }
        }
        if let Err(source) = sys::if_set_up(&self.name, false) {
            first_error.get_or_insert(RuntimeError::Tun {
                device: self.name.clone(),
                op: "bring down",
                source,
            });
        }
        first_error.map_or(Ok(()), Err)
    }

    fn route(&self, net: Ipv4Net) -> sys::Ipv4Route {
        sys::Ipv4Route {
            destination: net.network(),
            prefix_len: net.prefix_len(),
            gateway: None,
            device: Some(self.name.clone()),
            metric: 0,
        }
    }

    fn routes_lock(&self) -> std::sync::MutexGuard<'_, Vec<Ipv4Net>> {
        // A panic while holding this lock cannot leave the Vec inconsistent; keep using it.
        self.routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for TunDevice {
    fn drop(&mut self) {
        if !self.closed
            && let Err(e) = self.teardown()
        {
            tracing::warn!(device = %self.name, error = %e, "TUN teardown incomplete");
        }
    }
}
