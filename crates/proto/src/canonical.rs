//! The canonical encoding of signed and MACed values.
//!
//! Everything signed or MACed is `postcard((label, value))`: the label as a
//! postcard string (varint length, UTF-8), then the fields of `value` in
//! order, with no framing between them. JSON text is never signed.
//!
//! ```
//! let bytes = peer_proto::canonical("demo/v1", &(1u16, 300u64)).unwrap();
//! // "demo/v1" (len 7), then 1 as a varint, then 300 as a varint.
//! assert_eq!(bytes, [&[7][..], b"demo/v1", &[1, 0xac, 0x02]].concat());
//! ```

use serde::Serialize;

/// A value that postcard cannot encode (never the case for this crate's
/// types, whose fields are all postcard-encodable; kept typed all the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("value cannot be encoded canonically")]
pub struct CanonicalError;

/// Encodes `(label, value)` with postcard: the bytes that get signed or MACed.
pub fn canonical<T: Serialize + ?Sized>(label: &str, value: &T) -> Result<Vec<u8>, CanonicalError> {
    postcard::to_allocvec(&(label, value)).map_err(|_| CanonicalError)
}

/// Encodes a value with postcard, without a label (used where protocol.md
/// asks for "postcard of" a tuple inside a hash).
pub fn postcard_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    postcard::to_allocvec(value).map_err(|_| CanonicalError)
}
