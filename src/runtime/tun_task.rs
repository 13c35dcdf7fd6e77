//! The receive loop of the LNS's TUN device: each IPv4 packet the kernel routes to it goes to the
//! session owning its destination address (one lookup in the data plane), encapsulated in L2TP.
//!
//! Owns: the TUN receive buffer. Must not touch: which address belongs to whom (the actor fills
//! the data plane's address map).

use std::sync::Arc;

use super::logging::RateLimitedLog;
use super::receive::receive_loop;
use super::shutdown::ShutdownListener;
use super::tun::TunDevice;
use crate::dataplane::sessions::{Dataplane, DropKind, HEADROOM, Ingress, MAX_DATAGRAM};

impl crate::actor::RouteTable for TunDevice {
    fn installed(&self) -> Vec<ipnet::Ipv4Net> {
        self.routes()
    }

    fn add(&self, net: ipnet::Ipv4Net) -> Result<(), String> {
        self.add_route(net).map_err(|e| e.to_string())
    }

    fn remove(&self, net: ipnet::Ipv4Net) -> Result<(), String> {
        self.remove_route(net).map_err(|e| e.to_string())
    }
}

/// Reads the TUN device until shutdown.
pub async fn run_tun_task(
    tun: Arc<TunDevice>,
    dataplane: Arc<Dataplane>,
    rate_log: Arc<RateLimitedLog>,
    shutdown: ShutdownListener,
) {
    let mut buf = vec![0u8; HEADROOM + MAX_DATAGRAM];
    let failed = |e| rate_log.warn("tun.receive_failed", format_args!("{}: {e}", tun.name()));
    let handle = |buf: &mut [u8], n| handle(&dataplane, &rate_log, buf, n);
    receive_loop(&*tun, shutdown, &mut buf, HEADROOM, handle, failed).await;
}

fn handle(dataplane: &Dataplane, rate_log: &RateLimitedLog, buf: &mut [u8], n: usize) {
    match dataplane.tun_ingress(buf, HEADROOM..HEADROOM + n) {
        Ingress::Forwarded | Ingress::ToActor { .. } => {}
        // The kernel's own IPv6 traffic on the device is expected; count it silently.
        Ingress::Dropped(DropKind::TunNotIpv4) => {}
        Ingress::Dropped(why) => {
            let destination = (n >= 20).then(|| {
                std::net::Ipv4Addr::new(
                    buf[HEADROOM + 16],
                    buf[HEADROOM + 17],
                    buf[HEADROOM + 18],
                    buf[HEADROOM + 19],
                )
            });
            rate_log.warn(
                why.kind(),
                format_args!("packet from the TUN device to {destination:?} dropped: {why:?}"),
            );
        }
    }
}
