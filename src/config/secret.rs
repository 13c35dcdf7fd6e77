//! Secrets: subscriber passwords (cleartext or PBKDF2-hashed) and L2TP tunnel secrets.
//!
//! # Subscriber secret formats
//! A subscriber entry carries exactly one of:
//! - `secret = "..."`: the password in cleartext. Works with PAP and CHAP-MD5.
//! - `secret_hash = "pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX"`: PBKDF2-HMAC-SHA256 (RFC 8018
//!   §5.2) of the password, with a 32-byte derived key. Works with PAP only: CHAP-MD5 (RFC 1994 §2)
//!   computes MD5(identifier ‖ secret ‖ challenge), so the authenticator needs the cleartext.
//!   [`hash_password`] produces this form; the validator rejects a configuration where a subscriber
//!   with a hashed secret could only be offered CHAP.
//!
//! Nothing here ever prints a secret: `Debug` is redacted.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Prefix of the hashed-secret format.
pub const PBKDF2_SHA256_PREFIX: &str = "pbkdf2-sha256";
/// Fewest PBKDF2 iterations accepted (one iteration is a salted SHA-256 HMAC).
pub const PBKDF2_MIN_ITERATIONS: u32 = 1;
/// Most PBKDF2 iterations accepted: bounds the CPU a login costs (about a second at this count).
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;
/// Iterations below this draw a warning: a leaked file would then be cheap to brute-force.
pub const PBKDF2_RECOMMENDED_ITERATIONS: u32 = 10_000;
/// Shortest salt accepted, in bytes.
pub const PBKDF2_MIN_SALT: usize = 8;

/// A subscriber's secret, as the operator stored it.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The password itself. Needed for CHAP-MD5.
    Cleartext(Box<[u8]>),
    /// PBKDF2-HMAC-SHA256 of the password. PAP only.
    Pbkdf2Sha256 {
        /// Iteration count, `PBKDF2_MIN_ITERATIONS ..= PBKDF2_MAX_ITERATIONS`.
        iterations: u32,
        /// Salt bytes (at least `PBKDF2_MIN_SALT`).
        salt: Box<[u8]>,
        /// The 32-byte derived key.
        hash: [u8; 32],
    },
}

impl Secret {
    /// A cleartext secret.
    pub fn cleartext_from(password: impl AsRef<[u8]>) -> Self {
        Secret::Cleartext(password.as_ref().into())
    }

    /// Parses the `secret_hash` format `pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX`.
    pub fn parse_hash(s: &str) -> Result<Secret, String> {
        let mut parts = s.trim().split('$');
        let scheme = parts.next().unwrap_or_default();
        if scheme != PBKDF2_SHA256_PREFIX {
            return Err(format!(
                "unsupported hash scheme {scheme:?}: expected \"{PBKDF2_SHA256_PREFIX}$ITERATIONS$SALT_HEX$HASH_HEX\""
            ));
        }
        let (Some(iter), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "malformed hash: expected \"{PBKDF2_SHA256_PREFIX}$ITERATIONS$SALT_HEX$HASH_HEX\""
            ));
        };
        let iterations: u32 = iter
            .parse()
            .ok()
            .filter(|i| (PBKDF2_MIN_ITERATIONS..=PBKDF2_MAX_ITERATIONS).contains(i))
            .ok_or_else(|| {
                format!(
                    "iteration count {iter:?} out of range {PBKDF2_MIN_ITERATIONS}..={PBKDF2_MAX_ITERATIONS}"
                )
            })?;
        let salt = hex::decode(salt).map_err(|_| "salt is not hex".to_owned())?;
        if salt.len() < PBKDF2_MIN_SALT {
            return Err(format!(
                "salt is {} bytes; use at least {PBKDF2_MIN_SALT}",
                salt.len()
            ));
        }
        let hash = hex::decode(hash).map_err(|_| "hash is not hex".to_owned())?;
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|h: Vec<u8>| format!("hash is {} bytes; PBKDF2-SHA256 gives 32", h.len()))?;
        Ok(Secret::Pbkdf2Sha256 {
            iterations,
            salt: salt.into(),
            hash,
        })
    }

    /// The cleartext, when the operator stored it (CHAP-MD5 needs it). `None` for hashed secrets.
    pub fn cleartext(&self) -> Option<&[u8]> {
        match self {
            Secret::Cleartext(p) => Some(p),
            Secret::Pbkdf2Sha256 { .. } => None,
        }
    }

    /// Whether the secret is stored hashed (and so usable with PAP only).
    pub fn is_hashed(&self) -> bool {
        matches!(self, Secret::Pbkdf2Sha256 { .. })
    }

    /// Checks a password received by PAP (RFC 1334 §2.2.1). The comparison takes the same time
    /// wherever the first difference lies, and for cleartext also whatever the lengths, since both
    /// sides are MACed to 32 bytes before the `hmac` crate's constant-time verify compares them.
    pub fn verify_pap(&self, password: &[u8]) -> bool {
        match self {
            Secret::Cleartext(stored) => same_bytes(password, stored),
            Secret::Pbkdf2Sha256 {
                iterations,
                salt,
                hash,
            } => {
                let mut derived = [0u8; 32];
                pbkdf2_hmac_sha256(password, salt, *iterations, &mut derived);
                same_bytes(&derived, hash)
            }
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Cleartext(_) => f.write_str("Secret::Cleartext(<redacted>)"),
            Secret::Pbkdf2Sha256 { iterations, .. } => {
                write!(f, "Secret::Pbkdf2Sha256 {{ iterations: {iterations}, .. }}")
            }
        }
    }
}

/// Key material that must be used in cleartext and never printed: L2TP tunnel secrets (RFC 2661
/// §4.4.3, §5.1.1: the Challenge Response and hidden AVPs, §4.3) and the PPPoE AC-Cookie key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretBytes(Box<[u8]>);

/// An L2TP tunnel secret.
pub type TunnelSecret = SecretBytes;

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        SecretBytes(secret.as_ref().into())
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

/// Produces the `secret_hash` string for a password: PBKDF2-HMAC-SHA256 with the given salt and
/// iteration count. The salt should be random (16 bytes is plenty).
pub fn hash_password(password: &[u8], salt: &[u8], iterations: u32) -> String {
    let mut derived = [0u8; 32];
    pbkdf2_hmac_sha256(password, salt, iterations, &mut derived);
    format!(
        "{PBKDF2_SHA256_PREFIX}${iterations}${}${}",
        hex::encode(salt),
        hex::encode(derived)
    )
}

/// Compares two equal-length byte strings in constant time (`false` when the lengths differ).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && same_bytes(a, b)
}

/// HMAC-SHA256 (RFC 2104), from the RustCrypto `hmac` crate.
type HmacSha256 = Hmac<Sha256>;

/// Fixed key of the comparison MACs in [`same_bytes`]; public knowledge, it only separates this
/// use of HMAC from any other.
const COMPARE_KEY: &[u8] = b"l2tpagg secret comparison v1";

fn compare_mac(bytes: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(COMPARE_KEY).expect("HMAC takes keys of any length");
    mac.update(bytes);
    mac
}

/// Whether `a == b`, in time that depends on neither the contents nor where they first differ,
/// nor (beyond the hashing of each) on whether the lengths match: both sides are MACed to 32
/// bytes, and the `hmac` crate's `verify` compares those in constant time.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let expected = compare_mac(b).finalize().into_bytes();
    compare_mac(a).verify(&expected).is_ok()
}

/// PBKDF2 (RFC 8018 §5.2) with HMAC-SHA256 as the PRF, filling `out`, from the RustCrypto
/// `pbkdf2` crate. An iteration count of 0 computes one iteration, as RFC 8018 requires c >= 1.
fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations.max(1), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_rfc7914_vectors() {
        // RFC 7914 §11, PBKDF2-HMAC-SHA256 test vectors.
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex::encode(out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        pbkdf2_hmac_sha256(b"Password", b"NaCl", 80000, &mut out);
        assert_eq!(
            hex::encode(out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    #[test]
    fn hmac_with_long_key_matches_rfc4231_case6() {
        // RFC 4231 §4.7: a 131-byte key is hashed first.
        let key = [0xaau8; 131];
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        mac.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn comparisons_see_every_byte_and_the_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
        assert!(same_bytes(b"", b""));
        assert!(!same_bytes(b"x", b""));
        // Zero iterations would be an empty PBKDF2; it computes one, as before the crates.
        let (mut zero, mut one) = ([0u8; 32], [0u8; 32]);
        pbkdf2_hmac_sha256(b"p", b"saltsalt", 0, &mut zero);
        pbkdf2_hmac_sha256(b"p", b"saltsalt", 1, &mut one);
        assert_eq!(zero, one);
    }

    #[test]
    fn hashed_secret_round_trip() {
        let encoded = hash_password(b"s3cret", b"0123456789abcdef", 1000);
        let secret = Secret::parse_hash(&encoded).unwrap();
        assert!(secret.is_hashed());
        assert_eq!(secret.cleartext(), None);
        assert!(secret.verify_pap(b"s3cret"));
        assert!(!secret.verify_pap(b"s3cres"));
        assert!(!secret.verify_pap(b""));
        assert!(!format!("{secret:?}").contains("s3cret"));
    }

    #[test]
    fn cleartext_secret() {
        let secret = Secret::cleartext_from("demo");
        assert_eq!(secret.cleartext(), Some(&b"demo"[..]));
        assert!(secret.verify_pap(b"demo"));
        assert!(!secret.verify_pap(b"demo "));
        assert!(!secret.verify_pap(b"dem"));
        assert_eq!(format!("{secret:?}"), "Secret::Cleartext(<redacted>)");
    }

    #[test]
    fn malformed_hashes_are_rejected() {
        let good = hash_password(b"x", b"saltsalt", 10);
        assert!(Secret::parse_hash(&good).is_ok());
        assert!(
            Secret::parse_hash("md5$1$aa$bb")
                .unwrap_err()
                .contains("unsupported")
        );
        assert!(
            Secret::parse_hash("pbkdf2-sha256$0$0011223344556677$00")
                .unwrap_err()
                .contains("iteration")
        );
        assert!(
            Secret::parse_hash("pbkdf2-sha256$10$0011$00")
                .unwrap_err()
                .contains("salt")
        );
        assert!(
            Secret::parse_hash("pbkdf2-sha256$10$0011223344556677$00")
                .unwrap_err()
                .contains("32")
        );
        assert!(
            Secret::parse_hash("pbkdf2-sha256$10$zz$00")
                .unwrap_err()
                .contains("hex")
        );
        assert!(
            Secret::parse_hash("pbkdf2-sha256$10")
                .unwrap_err()
                .contains("malformed")
        );
    }
}
