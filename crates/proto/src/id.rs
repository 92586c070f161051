//! Identifiers: 16 bytes each, printed as 22 characters of base64url.
//!
//! User and node ids are self-certifying (the first 16 bytes of SHA-256 over
//! the SPKI DER of the identity key; `peer-crypto` derives them). Room,
//! session and message ids are 16 random bytes. In JSON an id is its
//! base64url text; inside signed tuples (postcard) it is 16 raw bytes.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::{decode_b64, encode_b64, fixed_deserialize};

/// Text that is not a valid id: not 22 characters of base64url for 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an id (22 characters of base64url)")]
pub struct IdParseError;

macro_rules! id16 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        impl $name {
            /// The id with these bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The id's bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// The id's bytes, by value.
            pub const fn to_bytes(self) -> [u8; 16] {
                self.0
            }
        }

        impl From<[u8; 16]> for $name {
            fn from(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode_b64(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 22 {
                    return Err(IdParseError);
                }
                let v = decode_b64(s).map_err(|_| IdParseError)?;
                <[u8; 16]>::try_from(v.as_slice()).map(Self).map_err(|_| IdParseError)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&encode_b64(&self.0))
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                fixed_deserialize(d).map(Self)
            }
        }
    };
}

id16! {
    /// A user: the first 16 bytes of SHA-256 over the user key's SPKI DER.
    UserId
}
id16! {
    /// A node: the first 16 bytes of SHA-256 over the node key's SPKI DER.
    NodeId
}
id16! {
    /// A room: 16 random bytes chosen by the creating client.
    RoomId
}
id16! {
    /// A session established by the handshake: 16 random bytes.
    SessionId
}
id16! {
    /// A message: 16 random bytes chosen by the node.
    MessageId
}

impl NodeId {
    /// The same 16 bytes seen as a user id: a node's key stands in for a
    /// user key when nodes open sessions with each other (protocol.md).
    pub const fn as_user(self) -> UserId {
        UserId(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_shape() {
        let id = UserId::from_bytes(*b"0123456789abcdef");
        let s = id.to_string();
        assert_eq!(s, "MDEyMzQ1Njc4OWFiY2RlZg");
        assert_eq!(s.parse::<UserId>().unwrap(), id);
        assert_eq!(format!("{id:?}"), "UserId(MDEyMzQ1Njc4OWFiY2RlZg)");
    }

    #[test]
    fn bad_text_is_refused() {
        for bad in [
            "",
            "MDEyMzQ1Njc4OWFiY2RlZg=",
            "MDEyMzQ1Njc4OWFiY2RlZ",
            "MDEyMzQ1Njc4OWFiY2RlZh",
            "MDEyMzQ1Njc4OWFiY2Rl+g",
            "MDEyMzQ1Njc4OWFiY2RlZgAA",
        ] {
            assert!(bad.parse::<RoomId>().is_err(), "{bad}");
            assert!(serde_json::from_str::<RoomId>(&format!("\"{bad}\"")).is_err());
        }
    }

    #[test]
    fn postcard_is_raw_16_bytes() {
        let id = RoomId::from_bytes([0xab; 16]);
        let enc = postcard::to_allocvec(&id).unwrap();
        assert_eq!(enc, [0xab; 16]);
        assert_eq!(postcard::from_bytes::<RoomId>(&enc).unwrap(), id);
    }
}
