//! The discovery datagram (UDP multicast; protocol.md "Node to node").
//!
//! A datagram is the postcard encoding of [`Datagram`], at most
//! [`MAX_DATAGRAM_BYTES`] bytes, signed by the node key over every other
//! field ([`DiscoveryTbs`]). This module only encodes and decodes; it checks
//! shape (magic, version, size, no trailing bytes, field bounds) but not the
//! signature, freshness or replay, which need keys and a clock.
//!
//! ```
//! use peer_proto::discovery::{Datagram, DatagramKind};
//! use peer_proto::api::NodeRole;
//! use peer_proto::{Bytes, Bytes32, NodeId};
//!
//! let d = Datagram::new(DatagramKind::Announce, NodeId::from_bytes([1; 16]), Bytes32([2; 32]),
//!     "node-a".into(), "default".into(), NodeRole::Main, 8080, 1_700_000_000, Bytes32([3; 32]));
//! let mut signed = d.clone();
//! signed.signature = Bytes(vec![9; 256]);
//! let wire = signed.encode().unwrap();
//! assert_eq!(Datagram::decode(&wire).unwrap(), signed);
//! ```

use serde::{Deserialize, Serialize};

use crate::api::NodeRole;
use crate::bytes::{Bytes, Bytes32};
use crate::canonical::{CanonicalError, canonical};
use crate::id::NodeId;
use crate::labels;
use crate::signed::DiscoveryTbs;

/// The first four bytes of every datagram.
pub const MAGIC: [u8; 4] = *b"PGRP";
/// The largest datagram sent or accepted.
pub const MAX_DATAGRAM_BYTES: usize = 1200;
/// Longest node name in a datagram (bytes).
pub const MAX_NAME_BYTES: usize = 64;
/// Longest group name (bytes).
pub const MAX_GROUP_BYTES: usize = 64;
/// Longest signature (RSA-4096).
pub const MAX_SIGNATURE_BYTES: usize = 512;

/// What a datagram says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatagramKind {
    /// "Who is there?": nodes answer with an announce by unicast.
    Query,
    /// "I am here" (every 30 s, and in answer to a query).
    Announce,
    /// "I am leaving."
    Leave,
}

/// A discovery datagram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datagram {
    /// [`MAGIC`].
    pub magic: [u8; 4],
    /// Protocol version.
    pub version: u16,
    /// Query, announce or leave.
    pub kind: DatagramKind,
    /// The sender.
    pub node_id: NodeId,
    /// SHA-256 over the sender's node key SPKI DER.
    pub node_spki_hash: Bytes32,
    /// The sender's name.
    pub name: String,
    /// The sender's group.
    pub group: String,
    /// The sender's role.
    pub role: NodeRole,
    /// The sender's HTTP port (same address as the datagram's source).
    pub http_port: u16,
    /// Unix seconds.
    pub timestamp: u64,
    /// 32 random bytes.
    pub nonce: Bytes32,
    /// Node key signature over [`Datagram::signed_bytes`].
    pub signature: Bytes,
}

/// Why a datagram was refused before any signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// Larger than [`MAX_DATAGRAM_BYTES`].
    #[error("datagram too large")]
    Oversized,
    /// Not a postcard `Datagram`, or bytes left over.
    #[error("malformed datagram")]
    Malformed,
    /// Wrong magic.
    #[error("not a peergroup datagram")]
    BadMagic,
    /// Another protocol version.
    #[error("unsupported datagram version")]
    UnsupportedVersion,
    /// A name, group or signature is out of bounds.
    #[error("datagram field out of bounds")]
    FieldBounds,
}

impl Datagram {
    /// An unsigned datagram (empty signature) of this protocol version.
    #[allow(clippy::too_many_arguments)] // one argument per datagram field
    pub fn new(
        kind: DatagramKind,
        node_id: NodeId,
        node_spki_hash: Bytes32,
        name: String,
        group: String,
        role: NodeRole,
        http_port: u16,
        timestamp: u64,
        nonce: Bytes32,
    ) -> Self {
        Datagram {
            magic: MAGIC,
            version: crate::PROTOCOL_VERSION,
            kind,
            node_id,
            node_spki_hash,
            name,
            group,
            role,
            http_port,
            timestamp,
            nonce,
            signature: Bytes::default(),
        }
    }

    /// The bytes the node key signs: `canonical("peergroup/discovery/v1",
    /// every field but the signature)`.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        canonical(
            labels::DISCOVERY,
            &DiscoveryTbs {
                magic: &self.magic,
                version: self.version,
                kind: self.kind,
                node_id: self.node_id,
                node_spki_hash: &self.node_spki_hash.0,
                name: &self.name,
                group: &self.group,
                role: self.role,
                http_port: self.http_port,
                timestamp: self.timestamp,
                nonce: &self.nonce.0,
            },
        )
    }

    /// Encodes for the wire, refusing what [`Datagram::decode`] would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, DatagramError> {
        self.check_fields()?;
        let bytes = postcard::to_allocvec(self).map_err(|_| DatagramError::Malformed)?;
        if bytes.len() > MAX_DATAGRAM_BYTES {
            return Err(DatagramError::Oversized);
        }
        Ok(bytes)
    }

    /// Decodes a received datagram: size first, then the whole postcard
    /// structure with nothing left over, then magic, version and bounds.
    pub fn decode(bytes: &[u8]) -> Result<Self, DatagramError> {
        if bytes.len() > MAX_DATAGRAM_BYTES {
            return Err(DatagramError::Oversized);
        }
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(DatagramError::BadMagic);
        }
        let (d, rest) =
            postcard::take_from_bytes::<Datagram>(bytes).map_err(|_| DatagramError::Malformed)?;
        if !rest.is_empty() {
            return Err(DatagramError::Malformed);
        }
        if d.version != crate::PROTOCOL_VERSION {
            return Err(DatagramError::UnsupportedVersion);
        }
        d.check_fields()?;
        Ok(d)
    }

    fn check_fields(&self) -> Result<(), DatagramError> {
        if self.magic != MAGIC {
            return Err(DatagramError::BadMagic);
        }
        if self.name.len() > MAX_NAME_BYTES
            || self.group.len() > MAX_GROUP_BYTES
            || self.signature.len() > MAX_SIGNATURE_BYTES
        {
            return Err(DatagramError::FieldBounds);
        }
        Ok(())
    }
}
