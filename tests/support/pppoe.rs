//! PPPoE Discovery by hand (RFC 2516 §5) for the daemon's PPPoE tests: codes and tags, a
//! Discovery payload builder and tag reader, and a receive-until-match on a packet socket. The
//! emulated subscribers themselves are the load generator's (`loadgen::Dialer`); this is for the
//! frames no well-behaved client sends.

use std::time::Duration;

use l2tpagg::runtime::packet::{MacAddr, PacketSocket};

/// The MAC the tests give the daemon's end of the access veth.
pub const AC_MAC: &str = "02:ac:00:00:00:01";

/// Discovery codes (RFC 2516 §5).
pub const PADI: u8 = 0x09;
pub const PADO: u8 = 0x07;
pub const PADR: u8 = 0x19;
pub const PADS: u8 = 0x65;
pub const PADT: u8 = 0xa7;

/// Tag types (RFC 2516 Appendix A).
pub const SERVICE_NAME: u16 = 0x0101;
pub const HOST_UNIQ: u16 = 0x0103;
pub const AC_COOKIE: u16 = 0x0104;
pub const GENERIC_ERROR: u16 = 0x0203;

/// A PPPoE Discovery payload: header, then (type, value) tags.
pub fn discovery(code: u8, session: u16, tags: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in tags {
        body.extend_from_slice(&t.to_be_bytes());
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
    }
    let mut p = vec![0x11, code];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(&body);
    p
}

/// The value of the first tag of `kind` in a Discovery payload.
pub fn tag(payload: &[u8], kind: u16) -> Option<Vec<u8>> {
    let len = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
    let mut at = 6;
    while at + 4 <= 6 + len {
        let t = u16::from_be_bytes([payload[at], payload[at + 1]]);
        let l = usize::from(u16::from_be_bytes([payload[at + 2], payload[at + 3]]));
        if t == kind {
            return payload.get(at + 4..at + 4 + l).map(<[u8]>::to_vec);
        }
        at += 4 + l;
    }
    None
}

/// Receives until `want` (destination, payload) matches a frame or `timeout` passes.
pub async fn recv_matching(
    socket: &PacketSocket,
    timeout: Duration,
    want: impl Fn(MacAddr, &[u8]) -> bool,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    tokio::time::timeout(timeout, async {
        loop {
            let meta = socket.recv(&mut buf).await.ok()?;
            if want(meta.destination, &buf[..meta.len]) {
                return Some(buf[..meta.len].to_vec());
            }
        }
    })
    .await
    .ok()
    .flatten()
}
