//! The client side: [`start`] makes the signed hello, [`ExpectReply::finish`]
//! checks the node's reply and yields a [`ClientSession`].

use std::fmt;

use p256::SecretKey;
use peer_proto::api::{Hello, HelloReply, Kex};
use peer_proto::id::NodeId;
use peer_proto::signed::{HelloTbs, ReplyTbs};
use peer_proto::{Bytes, Bytes32, PROTOCOL_VERSION, labels};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::transcript_hash;
use crate::ecdh;
use crate::error::{Error, PeerMisbehaved};
use crate::identity::{IdentityKey, PublicIdentity};
use crate::kdf::token_key;
use crate::request::{ClientKex, ClientSession};
use crate::rng::random_array;
use crate::seal::open;
use crate::signing::{sign_tbs, verify_tbs};

/// The client after sending its hello, waiting for the node's reply.
pub struct ExpectReply {
    user_key: IdentityKey,
    node_id: NodeId,
    kex: Kex,
    client_nonce: [u8; 32],
    /// ecdh mode: the client's ephemeral secret (zeroized on drop).
    pub(crate) client_eph: Option<SecretKey>,
    hello_signed: Vec<u8>,
    hello_signature: Vec<u8>,
}

impl fmt::Debug for ExpectReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectReply")
            .field("user_id", &self.user_key.user_id())
            .field("node_id", &self.node_id)
            .field("kex", &self.kex)
            .finish_non_exhaustive()
    }
}

/// Starts a handshake with node `node_id`: makes the client nonce (and, in
/// ecdh mode, the client's ephemeral key) and signs the hello with
/// `user_key` (a user's key, or a node's standing in for one).
pub fn start<R: CryptoRng + ?Sized>(
    rng: &mut R,
    user_key: &IdentityKey,
    node_id: NodeId,
    kex: Kex,
    now: u64,
) -> Result<(ExpectReply, Hello), Error> {
    let client_nonce: [u8; 32] = random_array(rng);
    let client_eph = match kex {
        Kex::EcdhP256 => Some(ecdh::generate(rng)),
        Kex::RsaOaep => None,
    };
    let eph_bytes = client_eph
        .as_ref()
        .map(|k| ecdh::encode_point(&k.public_key()));
    let tbs = HelloTbs {
        version: PROTOCOL_VERSION,
        kex,
        user_id: user_key.user_id(),
        client_eph: eph_bytes.as_deref(),
        client_nonce: &client_nonce,
        timestamp: now,
        node_id,
    };
    let (hello_signed, hello_signature) = sign_tbs(user_key, rng, labels::HANDSHAKE_HELLO, &tbs)?;
    let hello = Hello {
        version: PROTOCOL_VERSION,
        kex,
        user_id: user_key.user_id(),
        client_eph: eph_bytes.map(Bytes),
        client_nonce: Bytes32(client_nonce),
        timestamp: now,
        node_id,
        signature: Bytes(hello_signature.clone()),
    };
    let expect = ExpectReply {
        user_key: user_key.clone(),
        node_id,
        kex,
        client_nonce,
        client_eph,
        hello_signed,
        hello_signature,
    };
    Ok((expect, hello))
}

impl ExpectReply {
    /// The node the hello was addressed to.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The key exchange mode of the hello.
    pub fn kex(&self) -> Kex {
        self.kex
    }

    /// Checks the node's reply and establishes the session.
    ///
    /// `trusted_node_key` is the node key the client trusts (pinned on first
    /// use). If it is not the key of the node the hello was addressed to, the
    /// result is [`PeerMisbehaved::NodeKeyMismatch`], a hard error distinct
    /// from a bad signature. Then: the reply's shape must fit the mode, the
    /// node's signature must verify over the transcript, the session must not
    /// be expired at `now`, and `sealed_auth_key` must open under `k_token`.
    /// `rng` blinds the RSA-OAEP decryption in `rsa-oaep` mode.
    pub fn finish<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        reply: &HelloReply,
        trusted_node_key: &PublicIdentity,
        now: u64,
    ) -> Result<ClientSession, Error> {
        if trusted_node_key.node_id() != self.node_id {
            return Err(PeerMisbehaved::NodeKeyMismatch.into());
        }
        let slot: &[u8] = match (self.kex, &reply.server_eph, &reply.wrapped_secret) {
            (Kex::EcdhP256, Some(eph), None) => eph.as_slice(),
            (Kex::RsaOaep, None, Some(wrapped)) => wrapped.as_slice(),
            _ => return Err(PeerMisbehaved::Malformed("handshake reply").into()),
        };
        let th = transcript_hash(
            &self.hello_signed,
            &self.hello_signature,
            reply.session_id,
            slot,
            &reply.server_nonce.0,
            reply.expires_at,
        )?;
        let tbs = ReplyTbs {
            th: &th,
            session_id: reply.session_id,
            server_eph: Some(slot),
            server_nonce: &reply.server_nonce.0,
            expires_at: reply.expires_at,
        };
        verify_tbs(
            trusted_node_key,
            labels::HANDSHAKE_REPLY,
            &tbs,
            reply.node_signature.as_slice(),
        )?;
        if now >= reply.expires_at {
            return Err(PeerMisbehaved::SessionExpired.into());
        }
        let (ikm, kex_state) = match (self.kex, &self.client_eph) {
            (Kex::EcdhP256, Some(eph)) => {
                let server_eph = ecdh::parse_point(slot, "server_eph")?;
                let shared = ecdh::shared(eph, &server_eph);
                (shared, ClientKex::Ecdh { server_eph })
            }
            (Kex::RsaOaep, None) => {
                let secret = self.user_key.unwrap_key(rng, slot)?;
                let secret: [u8; 32] = secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| PeerMisbehaved::Malformed("wrapped_secret"))?;
                let secret = Zeroizing::new(secret);
                (secret.clone(), ClientKex::RsaOaep { secret })
            }
            _ => return Err(PeerMisbehaved::Malformed("handshake reply").into()),
        };
        let k_token = token_key(&ikm, &self.client_nonce, &reply.server_nonce.0, &th);
        let auth_key = open(
            &k_token,
            reply.sealed_auth_key.as_slice(),
            reply.session_id.as_bytes(),
        )?;
        let auth_key: [u8; 32] = auth_key
            .as_slice()
            .try_into()
            .map_err(|_| PeerMisbehaved::Malformed("sealed_auth_key"))?;
        Ok(ClientSession::new(
            reply.session_id,
            self.node_id,
            self.user_key.user_id(),
            kex_state,
            Zeroizing::new(auth_key),
            reply.expires_at,
        ))
    }
}
