//! Binary fields: base64url without padding in JSON, raw bytes in postcard.
//!
//! Serde formats that are human readable (JSON) see a string; the others
//! (postcard, used for everything signed or MACed) see the bytes themselves:
//! [`Bytes`] as a byte string (varint length, then the bytes) and [`Bytes32`]
//! as 32 raw bytes, exactly as protocol.md lays them out.

use core::fmt;
use core::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Encodes bytes as base64url without padding.
///
/// ```
/// assert_eq!(peer_proto::bytes::encode_b64(b"\xff\xfe"), "__4");
/// ```
pub fn encode_b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; padding, the standard alphabet,
/// whitespace and non-canonical trailing bits are all refused.
///
/// ```
/// assert_eq!(peer_proto::bytes::decode_b64("__4").unwrap(), b"\xff\xfe");
/// assert!(peer_proto::bytes::decode_b64("__4=").is_err());
/// ```
pub fn decode_b64(text: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Base64Error)
}

/// Text that is not canonical base64url without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not base64url without padding")]
pub struct Base64Error;

/// A variable-length byte string (public keys, signatures, ciphertexts).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the bytes out.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Long values (ciphertexts) are shortened: Debug output is for people.
        let text = encode_b64(&self.0[..self.0.len().min(24)]);
        if self.0.len() > 24 {
            write!(f, "Bytes({} bytes: {text}..)", self.0.len())
        } else {
            write!(f, "Bytes({text})")
        }
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_b64(&self.0))
    }
}

impl FromStr for Bytes {
    type Err = Base64Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_b64(s).map(Bytes)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&encode_b64(&self.0))
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(B64Visitor).map(Bytes)
        } else {
            d.deserialize_byte_buf(ByteBufVisitor).map(Bytes)
        }
    }
}

/// Exactly 32 bytes: nonces and SHA-256 hashes inside signed tuples.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes32(pub [u8; 32]);

impl Bytes32 {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Bytes32 {
    fn from(v: [u8; 32]) -> Self {
        Bytes32(v)
    }
}

impl AsRef<[u8]> for Bytes32 {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes32({})", encode_b64(&self.0))
    }
}

impl fmt::Display for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_b64(&self.0))
    }
}

impl FromStr for Bytes32 {
    type Err = Base64Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = decode_b64(s)?;
        <[u8; 32]>::try_from(v.as_slice())
            .map(Bytes32)
            .map_err(|_| Base64Error)
    }
}

impl Serialize for Bytes32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&encode_b64(&self.0))
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Bytes32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fixed_deserialize(d).map(Bytes32)
    }
}

/// Deserializes `N` bytes: base64url text in human-readable formats, `N` raw
/// bytes (a tuple) otherwise. Shared by [`Bytes32`] and the id types.
pub(crate) fn fixed_deserialize<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
) -> Result<[u8; N], D::Error> {
    if d.is_human_readable() {
        let v = d.deserialize_str(B64Visitor)?;
        <[u8; N]>::try_from(v.as_slice())
            .map_err(|_| de::Error::invalid_length(v.len(), &format!("{N} bytes").as_str()))
    } else {
        d.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

struct B64Visitor;

impl Visitor<'_> for B64Visitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64url string without padding")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        decode_b64(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

struct ByteBufVisitor;

impl<'de> Visitor<'de> for ByteBufVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        Ok(v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Bounded by what the format actually holds, never by a claimed size.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

struct ArrayVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
    type Value = [u8; N];
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} bytes")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_base64url_and_postcard_is_raw() {
        let b = Bytes(vec![0xfb, 0xff, 0x01]);
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"-_8B\"");
        assert_eq!(postcard::to_allocvec(&b).unwrap(), [3, 0xfb, 0xff, 0x01]);
        let h = Bytes32([9; 32]);
        assert_eq!(postcard::to_allocvec(&h).unwrap(), [9; 32]);
        let back: Bytes32 = postcard::from_bytes(&[9; 32]).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn wrong_lengths_and_alphabets_are_refused() {
        assert!(serde_json::from_str::<Bytes32>("\"AAAA\"").is_err());
        assert!(serde_json::from_str::<Bytes>("\"+/8B\"").is_err());
        assert!(serde_json::from_str::<Bytes>("\"-_8B==\"").is_err());
        assert!(serde_json::from_str::<Bytes>("\"-_8 B\"").is_err());
        // Trailing bits that are not zero are not canonical.
        assert!(decode_b64("AB").is_err());
        assert!(postcard::from_bytes::<Bytes32>(&[1; 31]).is_err());
    }

    #[test]
    fn debug_is_short() {
        let long = Bytes(vec![1; 1000]);
        assert!(format!("{long:?}").len() < 80);
    }
}
