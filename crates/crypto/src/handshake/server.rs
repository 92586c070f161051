//! The node side: [`verify_hello`] makes the [`VerifiedHello`] proof,
//! [`VerifiedHello::respond`] makes the reply and the [`ServerSession`].

use std::fmt;

use p256::PublicKey;
use peer_proto::api::{Hello, HelloReply, Kex};
use peer_proto::id::{NodeId, SessionId, UserId};
use peer_proto::signed::{HelloTbs, ReplyTbs};
use peer_proto::{Bytes, Bytes32, PROTOCOL_VERSION, labels};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::replay::ReplayCache;
use super::transcript_hash;
use crate::ecdh;
use crate::error::{Error, Incompatible, PeerMisbehaved};
use crate::identity::{IdentityKey, PublicIdentity};
use crate::kdf::token_key;
use crate::request::{ServerKex, ServerSession};
use crate::rng::random_array;
use crate::seal::seal;
use crate::signing::{check_fresh, verify_tbs};

/// Proof that a hello passed every check of [`verify_hello`]; only that
/// function makes one. Needed to answer the hello.
pub struct VerifiedHello {
    user: PublicIdentity,
    kex: Kex,
    client_eph: Option<PublicKey>,
    client_nonce: [u8; 32],
    hello_signed: Vec<u8>,
    hello_signature: Vec<u8>,
}

impl fmt::Debug for VerifiedHello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedHello")
            .field("user_id", &self.user.user_id())
            .field("kex", &self.kex)
            .finish_non_exhaustive()
    }
}

/// Checks a hello, in this order (the first failure is the answer):
///
/// 1. `version` is ours ([`Incompatible::UnsupportedVersion`]);
/// 2. `node_id` is ours ([`PeerMisbehaved::WrongNode`]);
/// 3. `|now - timestamp| <= 120` ([`PeerMisbehaved::StaleTimestamp`]);
/// 4. `user_id` is the id of `user_key`, the key the caller looked up for it
///    ([`PeerMisbehaved::UnknownIdentity`]);
/// 5. `client_eph` is present and a valid P-256 point in ecdh mode, absent
///    in rsa-oaep mode ([`PeerMisbehaved::Malformed`]);
/// 6. the signature verifies under `user_key` ([`PeerMisbehaved::BadSignature`]);
/// 7. the nonce was not seen: recorded now, after the signature, so forged
///    hellos cannot fill the cache ([`PeerMisbehaved::ReplayedNonce`], or
///    [`crate::LocalError::ReplayCacheFull`] when the cache is full).
pub fn verify_hello(
    hello: &Hello,
    user_key: &PublicIdentity,
    our_node_id: NodeId,
    replay: &ReplayCache,
    now: u64,
) -> Result<VerifiedHello, Error> {
    if hello.version != PROTOCOL_VERSION {
        return Err(Incompatible::UnsupportedVersion(hello.version).into());
    }
    if hello.node_id != our_node_id {
        return Err(PeerMisbehaved::WrongNode.into());
    }
    check_fresh(now, hello.timestamp)?;
    if hello.user_id != user_key.user_id() {
        return Err(PeerMisbehaved::UnknownIdentity.into());
    }
    let client_eph = match (hello.kex, &hello.client_eph) {
        (Kex::EcdhP256, Some(eph)) => Some(ecdh::parse_point(eph.as_slice(), "client_eph")?),
        (Kex::RsaOaep, None) => None,
        _ => return Err(PeerMisbehaved::Malformed("client_eph").into()),
    };
    let tbs = HelloTbs {
        version: hello.version,
        kex: hello.kex,
        user_id: hello.user_id,
        client_eph: hello.client_eph.as_ref().map(Bytes::as_slice),
        client_nonce: &hello.client_nonce.0,
        timestamp: hello.timestamp,
        node_id: hello.node_id,
    };
    let hello_signed = verify_tbs(
        user_key,
        labels::HANDSHAKE_HELLO,
        &tbs,
        hello.signature.as_slice(),
    )?;
    replay.check_and_insert(&hello.client_nonce.0, now)?;
    Ok(VerifiedHello {
        user: user_key.clone(),
        kex: hello.kex,
        client_eph,
        client_nonce: hello.client_nonce.0,
        hello_signed,
        hello_signature: hello.signature.0.clone(),
    })
}

impl VerifiedHello {
    /// The verified user (or node standing in for one).
    pub fn user_id(&self) -> UserId {
        self.user.user_id()
    }

    /// The requested key exchange.
    pub fn kex(&self) -> Kex {
        self.kex
    }

    /// Answers the hello: a new session valid until `now + ttl` (seconds),
    /// signed by `node_key`.
    pub fn respond<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        node_key: &IdentityKey,
        now: u64,
        ttl: u64,
    ) -> Result<(HelloReply, ServerSession), Error> {
        let session_id = SessionId::from_bytes(random_array(rng));
        let server_nonce: [u8; 32] = random_array(rng);
        let auth_key = Zeroizing::new(random_array::<32, R>(rng));
        let expires_at = now.saturating_add(ttl);
        let (slot, ikm, kex_state) = match (self.kex, &self.client_eph) {
            (Kex::EcdhP256, Some(client_eph)) => {
                let eph = ecdh::generate(rng);
                let slot = ecdh::encode_point(&eph.public_key());
                let shared = ecdh::shared(&eph, client_eph);
                (slot, shared, ServerKex::Ecdh { eph })
            }
            (Kex::RsaOaep, None) => {
                let secret = Zeroizing::new(random_array::<32, R>(rng));
                let wrapped = self.user.wrap_key(rng, secret.as_slice())?;
                (wrapped, secret.clone(), ServerKex::RsaOaep { secret })
            }
            // ok: verify_hello only makes these two combinations.
            _ => return Err(PeerMisbehaved::Malformed("client_eph").into()),
        };
        let th = transcript_hash(
            &self.hello_signed,
            &self.hello_signature,
            session_id,
            &slot,
            &server_nonce,
            expires_at,
        )?;
        let k_token = token_key(&ikm, &self.client_nonce, &server_nonce, &th);
        let sealed_auth_key = seal(rng, &k_token, auth_key.as_slice(), session_id.as_bytes());
        let tbs = ReplyTbs {
            th: &th,
            session_id,
            server_eph: Some(&slot),
            server_nonce: &server_nonce,
            expires_at,
        };
        let (_, node_signature) =
            crate::signing::sign_tbs(node_key, rng, labels::HANDSHAKE_REPLY, &tbs)?;
        let (server_eph, wrapped_secret) = match self.kex {
            Kex::EcdhP256 => (Some(Bytes(slot)), None),
            Kex::RsaOaep => (None, Some(Bytes(slot))),
        };
        let reply = HelloReply {
            session_id,
            server_eph,
            wrapped_secret,
            server_nonce: Bytes32(server_nonce),
            expires_at,
            sealed_auth_key: Bytes(sealed_auth_key),
            node_signature: Bytes(node_signature),
        };
        let session = ServerSession::new(
            session_id,
            self.user.user_id(),
            kex_state,
            auth_key,
            expires_at,
        );
        Ok((reply, session))
    }
}
