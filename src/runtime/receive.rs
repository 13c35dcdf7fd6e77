//! The receive loop every socket task runs (L2TP UDP, PPPoE AF_PACKET, TUN): wait for one
//! datagram or for shutdown, handle it, then handle up to [`BURST`] more that are already queued
//! before going back to the reactor (fewer wake-ups under load, and a busy socket still yields).
//!
//! Owns: the loop's shape. Must not touch: what a datagram means (the caller's `handle`) or how a
//! receive error is reported (the caller's `failed`).

use std::future::Future;
use std::io;

use super::packet::{FrameMeta, PacketSocket};
use super::shutdown::ShutdownListener;
use super::tun::TunDevice;
use super::udp::{RecvMeta, UdpEndpoint};

/// Datagrams handled per wake-up before yielding to the reactor.
pub const BURST: usize = 64;

/// A non-blocking receiver registered with tokio: the daemon's UDP sockets, AF_PACKET sockets
/// and TUN device.
pub trait Receive: Sync {
    /// What one receive reports besides the bytes.
    type Meta;
    /// Receives one datagram into `buf`, waiting until one arrives.
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<Self::Meta>> + Send;
    /// Receives one datagram if one is queued, or fails with `WouldBlock`.
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Self::Meta>;
}

impl Receive for UdpEndpoint {
    type Meta = RecvMeta;
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<RecvMeta>> + Send {
        UdpEndpoint::recv(self, buf)
    }
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        UdpEndpoint::try_recv(self, buf)
    }
}

impl Receive for PacketSocket {
    type Meta = FrameMeta;
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<FrameMeta>> + Send {
        PacketSocket::recv(self, buf)
    }
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<FrameMeta> {
        PacketSocket::try_recv(self, buf)
    }
}

impl Receive for TunDevice {
    type Meta = usize;
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send {
        TunDevice::recv(self, buf)
    }
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        TunDevice::try_recv(self, buf)
    }
}

/// Receives from `socket` into `buf[at..]` until `shutdown`, passing the whole buffer (the
/// `at` octets in front are headroom the handler may write into) and each datagram's metadata to
/// `handle`. A failed wait goes to `failed` and the loop goes on; a failed drain ends the burst
/// (it is `WouldBlock`, or the next wait reports the error).
pub async fn receive_loop<S: Receive>(
    socket: &S,
    mut shutdown: ShutdownListener,
    buf: &mut [u8],
    at: usize,
    mut handle: impl FnMut(&mut [u8], S::Meta),
    mut failed: impl FnMut(io::Error),
) {
    loop {
        let received = tokio::select! {
            r = socket.recv(&mut buf[at..]) => r,
            () = shutdown.recv() => return,
        };
        match received {
            Ok(meta) => handle(buf, meta),
            Err(e) => {
                failed(e);
                continue;
            }
        }
        for _ in 0..BURST {
            match socket.try_recv(&mut buf[at..]) {
                Ok(meta) => handle(buf, meta),
                Err(_) => break,
            }
        }
    }
}
