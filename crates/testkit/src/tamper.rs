//! Alterations of bytes and texts in flight, for tests that assert a check
//! fails with its exact error.

use peer_proto::bytes::{decode_b64, encode_b64};

/// `bytes` with byte `i` XORed with `0x01` (unchanged if `i` is out of
/// range, so tests should loop over `0..bytes.len()`).
pub fn flip_byte(bytes: &[u8], i: usize) -> Vec<u8> {
    flip_byte_with(bytes, i, 0x01)
}

/// `bytes` with byte `i` XORed with `mask`.
pub fn flip_byte_with(bytes: &[u8], i: usize, mask: u8) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if let Some(b) = v.get_mut(i) {
        *b ^= mask;
    }
    v
}

/// `bytes` with bit `bit` (0 = lowest bit of byte 0) flipped.
pub fn flip_bit(bytes: &[u8], bit: usize) -> Vec<u8> {
    flip_byte_with(bytes, bit / 8, 1 << (bit % 8))
}

/// Every single-byte flip of `bytes`: `(index, altered copy)`.
pub fn each_byte_flipped(bytes: &[u8]) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
    (0..bytes.len()).map(move |i| (i, flip_byte(bytes, i)))
}

/// The first `len` bytes.
pub fn truncate(bytes: &[u8], len: usize) -> Vec<u8> {
    bytes.get(..len).unwrap_or(bytes).to_vec()
}

/// `bytes` with `extra` appended.
pub fn append(bytes: &[u8], extra: &[u8]) -> Vec<u8> {
    [bytes, extra].concat()
}

/// A base64url text whose decoded byte `i` is flipped, re-encoded (so the
/// text stays well-formed and only the value changes).
///
/// # Panics
/// When `text` is not base64url (a bug in the test).
pub fn flip_b64_byte(text: &str, i: usize) -> String {
    let Ok(bytes) = decode_b64(text) else {
        panic!("flip_b64_byte: not base64url: {text:?}");
    };
    encode_b64(&flip_byte(&bytes, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_change_exactly_one_byte() {
        let b = [0u8, 1, 2];
        for (i, f) in each_byte_flipped(&b) {
            assert_eq!(f.iter().zip(&b).filter(|(x, y)| x != y).count(), 1);
            assert_ne!(f[i], b[i]);
        }
        assert_eq!(flip_bit(&b, 9), vec![0, 3, 2]);
        assert_eq!(truncate(&b, 1), vec![0]);
        assert_eq!(append(&b, &[9]), vec![0, 1, 2, 9]);
        assert_ne!(flip_b64_byte("AAAA", 1), "AAAA");
    }
}
