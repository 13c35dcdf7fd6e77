//! Stateless AC-Cookies (RFC 2516 §9 and Appendix A).
//!
//! Owns: making and checking the AC-Cookie that binds a PADR to the source MAC (and VLAN) of the
//! PADI it answers. Must not touch: anything stateful. The cookie is HMAC-SHA-256 (RFC 2104) over
//! the host MAC, the VLAN and a time bucket, keyed with a secret only this process knows, so the AC
//! keeps no per-PADI state and a PADR flood with forged or replayed cookies costs two hash
//! computations per frame and nothing else.
//!
//! RFC 2516 §9: "The Access Concentrator SHOULD be able to uniquely regenerate the TAG_VALUE based on
//! the PADR SOURCE_ADDR. ... An example is HMAC \[3\] over the Host MAC address using a key known only
//! to the Access Concentrator." The time bucket adds expiry: a cookie is accepted during the bucket
//! it was issued in and the next one, so it lives between one and two bucket lengths.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::wire::MacAddr;

/// Octets of cookie on the wire: a truncated HMAC-SHA-256 (RFC 2104 §5 allows truncation to half
/// the output or more; 16 octets = 128 bits is out of reach of online guessing).
pub const COOKIE_LEN: usize = 16;

/// Octets of cookie secret.
pub const COOKIE_SECRET_LEN: usize = 32;

/// Domain separation, so this key could never produce a value valid in another protocol.
const COOKIE_CONTEXT: &[u8] = b"l2tpagg pppoe ac-cookie v1";

/// HMAC-SHA-256 (RFC 2104), from the RustCrypto `hmac` crate.
type HmacSha256 = Hmac<Sha256>;

/// Issues and verifies cookies; see the module docs.
#[derive(Clone)]
pub struct CookieJar {
    /// HMAC keyed with the secret once: the crate keeps the inner and outer pad states (RFC 2104
    /// §2), so each cookie costs a clone and the hashing of its few input octets.
    keyed: HmacSha256,
    start: Instant,
    bucket: Duration,
}

impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keyed state is the key in disguise; never print it.
        f.debug_struct("CookieJar")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl CookieJar {
    /// A jar keyed with `secret`, whose buckets count from `start` in steps of `bucket`
    /// (a zero `bucket` is treated as one second).
    pub fn new(secret: &[u8; COOKIE_SECRET_LEN], start: Instant, bucket: Duration) -> Self {
        let keyed = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        let bucket = if bucket.is_zero() {
            Duration::from_secs(1)
        } else {
            bucket
        };
        CookieJar {
            keyed,
            start,
            bucket,
        }
    }

    fn bucket_at(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start);
        u64::try_from(since.as_nanos() / self.bucket.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The HMAC over this cookie's inputs, not yet finalised.
    fn mac(&self, bucket: u64, host: MacAddr, vlan: Option<u16>) -> HmacSha256 {
        let vlan = vlan.map_or([0xff, 0xff], u16::to_be_bytes);
        let mut mac = self.keyed.clone();
        mac.update(COOKIE_CONTEXT);
        mac.update(&host.0);
        mac.update(&vlan);
        mac.update(&bucket.to_be_bytes());
        mac
    }

    /// The cookie to put in a PADO for a PADI from `host` on `vlan` received at `now`.
    pub fn issue(&self, now: Instant, host: MacAddr, vlan: Option<u16>) -> [u8; COOKIE_LEN] {
        let tag = self
            .mac(self.bucket_at(now), host, vlan)
            .finalize()
            .into_bytes();
        let mut out = [0u8; COOKIE_LEN];
        out.copy_from_slice(&tag[..COOKIE_LEN]);
        out
    }

    /// Whether `cookie`, returned in a PADR from `host` on `vlan` at `now`, was issued by this jar
    /// to that host in the current or the previous bucket.
    pub fn verify(&self, now: Instant, host: MacAddr, vlan: Option<u16>, cookie: &[u8]) -> bool {
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        let bucket = self.bucket_at(now);
        // The crate compares the leftmost octets (RFC 2104 §5 truncation) in constant time, so
        // timing does not tell how many leading octets were right. Both buckets are always
        // checked, so timing does not tell which one matched either.
        let current = self
            .mac(bucket, host, vlan)
            .verify_truncated_left(cookie)
            .is_ok();
        let previous = bucket > 0
            && self
                .mac(bucket - 1, host, vlan)
                .verify_truncated_left(cookie)
                .is_ok();
        current | previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::test_epoch;

    const HOST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const OTHER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 2]);

    fn jar() -> CookieJar {
        CookieJar::new(
            &[7u8; COOKIE_SECRET_LEN],
            test_epoch(),
            Duration::from_secs(60),
        )
    }

    /// RFC 4231 test case 2 ("Jefe") checks that the jar keys HMAC-SHA-256 with the secret as
    /// is: RFC 2104 §2 pads a short key with zeros, so "Jefe" and "Jefe" + 28 zero octets are the
    /// same key.
    #[test]
    fn hmac_keying_matches_rfc4231() {
        let mut key = [0u8; COOKIE_SECRET_LEN];
        key[..4].copy_from_slice(b"Jefe");
        let j = CookieJar::new(&key, test_epoch(), Duration::from_secs(1));
        let mut mac = j.keyed.clone();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Byte-exact cookies, computed independently (Python's `hmac` module) over
    /// context ‖ MAC ‖ VLAN (0xffff: none) ‖ bucket as 8 octets big-endian, truncated to 16 octets.
    #[test]
    fn cookie_vectors() {
        let j = jar();
        let t = |s| test_epoch() + Duration::from_secs(s);
        assert_eq!(
            hex::encode(j.issue(t(3 * 60 + 5), HOST, Some(100))),
            "9fb7220ee43ada3f6c942c363b043c9d"
        );
        assert_eq!(
            hex::encode(j.issue(t(59), HOST, None)),
            "23a1a132048d9726cf42e047da13708b"
        );
    }

    #[test]
    fn cookie_verifies_for_same_host_in_same_and_next_bucket() {
        let j = jar();
        let t0 = test_epoch() + Duration::from_secs(10);
        let c = j.issue(t0, HOST, None);
        assert!(j.verify(t0, HOST, None, &c));
        assert!(j.verify(t0 + Duration::from_secs(60), HOST, None, &c));
        assert!(
            !j.verify(t0 + Duration::from_secs(110), HOST, None, &c),
            "two buckets later it expired"
        );
    }

    #[test]
    fn cookie_is_bound_to_mac_vlan_and_secret() {
        let j = jar();
        let t0 = test_epoch();
        let c = j.issue(t0, HOST, Some(100));
        assert!(j.verify(t0, HOST, Some(100), &c));
        assert!(!j.verify(t0, OTHER, Some(100), &c));
        assert!(!j.verify(t0, HOST, Some(101), &c));
        assert!(!j.verify(t0, HOST, None, &c));
        let other_key = CookieJar::new(
            &[8u8; COOKIE_SECRET_LEN],
            test_epoch(),
            Duration::from_secs(60),
        );
        assert!(!other_key.verify(t0, HOST, Some(100), &c));
        assert!(!j.verify(t0, HOST, Some(100), &c[..15]));
        let mut flipped = c;
        flipped[15] ^= 1;
        assert!(!j.verify(t0, HOST, Some(100), &flipped));
    }
}
