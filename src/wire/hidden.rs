//! AVP hiding (RFC 2661 §4.3) and the tunnel-authentication response (RFC 2661 §4.4.3, §5.1.1).
//!
//! Both are MD5 constructions over the tunnel's shared secret. Neither allocates more than the
//! value being hidden.

use md5::{Digest, Md5};

use super::Error;

/// RFC 2661 §4.4.3: the Challenge Response is the CHAP response (RFC 1994) where the identifier is
/// the Message Type of the message carrying it (2 for SCCRP, 3 for SCCCN):
/// MD5(message type ‖ secret ‖ challenge).
pub fn challenge_response(message_type: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([message_type]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Compares two responses without an early exit, so timing does not reveal how much matched.
pub fn responses_match(a: &[u8; 16], b: &[u8]) -> bool {
    if b.len() != 16 {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// XORs `data` in place with the §4.3 keystream: b1 = MD5(attr ‖ S ‖ RV), bi = MD5(S ‖ c(i-1)).
/// `encrypting` says whether `data` is plaintext (the chain uses the output) or ciphertext (the
/// chain uses the input).
fn xor_stream(attr: u16, secret: &[u8], random_vector: &[u8], data: &mut [u8], encrypting: bool) {
    let mut h = Md5::new();
    h.update(attr.to_be_bytes());
    h.update(secret);
    h.update(random_vector);
    let mut block: [u8; 16] = h.finalize().into();
    for chunk in data.chunks_mut(16) {
        let mut cipher = [0u8; 16];
        for (i, byte) in chunk.iter_mut().enumerate() {
            if encrypting {
                *byte ^= block[i];
                cipher[i] = *byte;
            } else {
                cipher[i] = *byte;
                *byte ^= block[i];
            }
        }
        let mut h = Md5::new();
        h.update(secret);
        h.update(&cipher[..chunk.len()]);
        block = h.finalize().into();
    }
}

/// Hides `value` of attribute `attr`: builds the subformat (original length ‖ value ‖ padding) and
/// appends its obscured form to `out`.
pub fn hide(
    attr: u16,
    secret: &[u8],
    random_vector: &[u8],
    value: &[u8],
    padding: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(padding);
    xor_stream(attr, secret, random_vector, &mut out[start..], true);
}

/// Reveals a hidden value: undoes the obscuring and returns the original value, dropping the
/// padding (RFC 2661 §4.3: padding does not alter the original-length field).
pub fn unhide(
    attr: u16,
    secret: &[u8],
    random_vector: &[u8],
    hidden: &[u8],
) -> Result<Vec<u8>, Error> {
    if hidden.len() < 2 {
        return Err(Error::HiddenLength {
            attr,
            original: 0,
            available: 0,
        });
    }
    let mut plain = hidden.to_vec();
    xor_stream(attr, secret, random_vector, &mut plain, false);
    let original = u16::from_be_bytes([plain[0], plain[1]]);
    let available = plain.len() - 2;
    if original as usize > available {
        return Err(Error::HiddenLength {
            attr,
            original,
            available,
        });
    }
    plain.truncate(2 + original as usize);
    plain.drain(..2);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hide_unhide_with_and_without_padding() {
        let secret = b"s3cret";
        let rv = [7u8; 16];
        for len in [0usize, 1, 13, 14, 15, 16, 31, 32, 40, 300] {
            let value: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for pad in [&[][..], &[9u8; 5][..], &[1u8; 17][..]] {
                let mut hidden = Vec::new();
                hide(30, secret, &rv, &value, pad, &mut hidden);
                assert_eq!(hidden.len(), 2 + len + pad.len());
                if len > 0 {
                    assert_ne!(
                        &hidden[2..2 + len],
                        &value[..],
                        "value must not appear in clear (len {len})"
                    );
                }
                assert_eq!(unhide(30, secret, &rv, &hidden).unwrap(), value);
            }
        }
    }

    #[test]
    fn first_block_matches_the_rfc_formula() {
        // c(1) = p1 xor MD5(attr ‖ S ‖ RV), computed independently here.
        let mut h = Md5::new();
        h.update(33u16.to_be_bytes());
        h.update(b"key");
        h.update(b"rv");
        let b1: [u8; 16] = h.finalize().into();
        let mut hidden = Vec::new();
        hide(33, b"key", b"rv", b"pw", &[], &mut hidden);
        let expect: Vec<u8> = [0u8, 2, b'p', b'w']
            .iter()
            .zip(b1)
            .map(|(p, b)| p ^ b)
            .collect();
        assert_eq!(hidden, expect);
    }

    #[test]
    fn wrong_secret_or_short_input_is_an_error_not_a_panic() {
        let mut hidden = Vec::new();
        hide(22, b"right", b"rv", b"0123456789", &[], &mut hidden);
        // With the wrong key the length field is garbage; either an error or a wrong value, never a panic.
        if let Ok(v) = unhide(22, b"wrong", b"rv", &hidden) {
            assert_ne!(v, b"0123456789");
        }
        assert!(unhide(22, b"k", b"rv", &[1]).is_err());
    }

    #[test]
    fn challenge_response_is_chap_md5() {
        let mut h = Md5::new();
        h.update([2u8]);
        h.update(b"secret");
        h.update([1u8, 2, 3]);
        let want: [u8; 16] = h.finalize().into();
        assert_eq!(challenge_response(2, b"secret", &[1, 2, 3]), want);
        assert!(responses_match(&want, &want));
        assert!(!responses_match(&want, &want[..15]));
    }
}
