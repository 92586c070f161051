//! Identity keys: RSA (2048 bits by default, 3072 or 4096 selectable) for
//! RSASSA-PKCS1-v1_5 SHA-256 signatures and RSA-OAEP (SHA-256, MGF1-SHA256,
//! empty label) key transport.
//!
//! - [`IdentityKey`]: a private key (user or node). Cheap to clone (shared,
//!   never copied); zeroized when the last clone drops; `Debug` shows the id
//!   and the size only.
//! - [`PublicIdentity`]: a verify-only key parsed from SPKI DER, refused
//!   unless 2048..=4096 bits, with an odd exponent in 3..2^32, in canonical
//!   DER. Its id is self-certifying: the first 16 bytes of SHA-256(SPKI DER).
//!
//! Saving and loading PKCS#8 PEM files ([`IdentityKey::save_pem`],
//! [`IdentityKey::load_pem`]) is the only I/O of this crate. [`export`]
//! makes and reads passphrase-protected identity files (text in, text out).

pub mod export;
mod file;

use std::fmt;
use std::sync::Arc;

use peer_proto::bytes::encode_b64;
use peer_proto::id::{NodeId, UserId};
use peer_proto::limits::{MAX_RSA_BITS, MIN_RSA_BITS};
use rand_core::CryptoRng;
use rsa::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use rsa::traits::PublicKeyParts as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{ApiMisuse, Error, Incompatible, PeerMisbehaved};
use crate::kdf::sha256;

/// The size of a new identity key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeySize {
    /// RSA-2048 (the default).
    #[default]
    Rsa2048,
    /// RSA-3072.
    Rsa3072,
    /// RSA-4096 (the largest size peers accept).
    Rsa4096,
}

impl KeySize {
    /// The modulus size in bits.
    pub const fn bits(self) -> usize {
        match self {
            KeySize::Rsa2048 => 2048,
            KeySize::Rsa3072 => 3072,
            KeySize::Rsa4096 => 4096,
        }
    }
}

/// A public identity key: verifies signatures and wraps secrets for its
/// owner. Parsed from SPKI DER and bounded (see the module docs).
#[derive(Clone)]
pub struct PublicIdentity {
    inner: Arc<PublicInner>,
}

struct PublicInner {
    key: rsa::PublicKey,
    spki: Vec<u8>,
    spki_hash: [u8; 32],
    bits: usize,
}

impl PublicIdentity {
    /// Parses and checks an RSA public key in SubjectPublicKeyInfo DER.
    ///
    /// Refuses ([`Incompatible::UnsupportedKey`]) anything that is not the
    /// canonical DER of an RSA key of 2048..=4096 bits with an odd public
    /// exponent in 3..2^32.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, Error> {
        let key = rsa::PublicKey::from_public_key_der(spki)
            .map_err(|_| Incompatible::UnsupportedKey { bits: 0 })?;
        // Re-encoding must give the same bytes: one key, one id.
        let again = key
            .to_public_key_der()
            .map_err(|_| Incompatible::UnsupportedKey { bits: 0 })?;
        if again.as_bytes() != spki {
            return Err(Incompatible::UnsupportedKey { bits: 0 }.into());
        }
        Self::from_key(key)
    }

    fn from_key(key: rsa::PublicKey) -> Result<Self, Error> {
        let bits = key.n().bit_width() as usize;
        let e = key.e();
        let e_ok = e.bit_width() <= 32
            && e.bit_width() >= 2
            && e.as_words().first().is_some_and(|w| w & 1 == 1);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || !e_ok {
            return Err(Incompatible::UnsupportedKey { bits }.into());
        }
        let spki = key
            .to_public_key_der()
            .map_err(|_| Incompatible::UnsupportedKey { bits })?
            .into_vec();
        let spki_hash = sha256(&spki);
        Ok(PublicIdentity {
            inner: Arc::new(PublicInner {
                key,
                spki,
                spki_hash,
                bits,
            }),
        })
    }

    /// The SubjectPublicKeyInfo DER (what WebCrypto imports as `spki`).
    pub fn spki_der(&self) -> &[u8] {
        &self.inner.spki
    }

    /// SHA-256 over the SPKI DER (discovery datagrams carry it).
    pub fn spki_hash(&self) -> &[u8; 32] {
        &self.inner.spki_hash
    }

    /// The first 16 bytes of [`spki_hash`](Self::spki_hash).
    pub fn id_bytes(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id.copy_from_slice(self.inner.spki_hash.get(..16).unwrap_or(&[0; 16]));
        id
    }

    /// The id of this key as a user.
    pub fn user_id(&self) -> UserId {
        UserId::from_bytes(self.id_bytes())
    }

    /// The id of this key as a node.
    pub fn node_id(&self) -> NodeId {
        NodeId::from_bytes(self.id_bytes())
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.bits
    }

    /// The size of signatures and OAEP ciphertexts of this key, in bytes.
    pub fn signature_len(&self) -> usize {
        self.inner.key.size()
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature over `message`.
    ///
    /// `message` is always canonical bytes (`peer_proto::canonical`), never
    /// JSON text.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), PeerMisbehaved> {
        if signature.len() != self.signature_len() {
            return Err(PeerMisbehaved::BadSignature);
        }
        self.inner
            .key
            .pkcs1v15_verify::<Sha256>(message, signature)
            .map_err(|_| PeerMisbehaved::BadSignature)
    }

    /// Encrypts a short secret to this key with RSA-OAEP (SHA-256, MGF1
    /// SHA-256, empty label). Randomized.
    pub fn wrap_key<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        secret: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.inner
            .key
            .oaep_encrypt_with_rng::<Sha256, _>(rng, secret)
            .map_err(|_| ApiMisuse::Rsa.into())
    }
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.inner.spki == other.inner.spki
    }
}

impl Eq for PublicIdentity {}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicIdentity({}, rsa-{})",
            encode_b64(&self.id_bytes()),
            self.inner.bits
        )
    }
}

/// A private identity key (a user's or a node's).
///
/// Cloning shares the key (no copy of the secret); the private key is
/// zeroized when the last clone drops. `Debug` prints the id and size only.
#[derive(Clone)]
pub struct IdentityKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    // `rsa::PrivateKey` zeroizes its secret parts on drop.
    private: rsa::PrivateKey,
    public: PublicIdentity,
}

impl IdentityKey {
    /// Makes a new key of `size` from `rng`. Deterministic for a seeded RNG
    /// (test vectors rely on it).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, size: KeySize) -> Result<Self, Error> {
        let private = rsa::PrivateKey::new(rng, size.bits()).map_err(|_| ApiMisuse::Rsa)?;
        Self::from_private(private)
    }

    fn from_private(private: rsa::PrivateKey) -> Result<Self, Error> {
        let public = PublicIdentity::from_key(private.to_public_key())?;
        Ok(IdentityKey {
            inner: Arc::new(KeyInner { private, public }),
        })
    }

    /// The public half.
    pub fn public(&self) -> &PublicIdentity {
        &self.inner.public
    }

    /// The id of this key as a user.
    pub fn user_id(&self) -> UserId {
        self.inner.public.user_id()
    }

    /// The id of this key as a node.
    pub fn node_id(&self) -> NodeId {
        self.inner.public.node_id()
    }

    /// The public key's SPKI DER.
    pub fn spki_der(&self) -> &[u8] {
        self.inner.public.spki_der()
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 SHA-256. The signature is
    /// deterministic; `rng` only blinds the private-key operation.
    ///
    /// `message` is always canonical bytes (`peer_proto::canonical`), never
    /// JSON text.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.inner
            .private
            .pkcs1v15_sign_with_rng::<Sha256, _>(rng, message)
            .map_err(|_| ApiMisuse::Rsa.into())
    }

    /// Decrypts what [`PublicIdentity::wrap_key`] made for this key. `rng`
    /// blinds the private-key operation.
    pub fn unwrap_key<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PeerMisbehaved> {
        self.inner
            .private
            .oaep_decrypt_with_rng::<Sha256, _>(rng, wrapped)
            .map(Zeroizing::new)
            .map_err(|_| PeerMisbehaved::Undecryptable)
    }

    /// The private key as PKCS#8 DER (for test vectors and key export).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.inner
            .private
            .to_pkcs8_der()
            .map(|d| d.to_bytes())
            .map_err(|_| ApiMisuse::Rsa.into())
    }

    /// Reads a PKCS#8 DER private key, bounded like [`PublicIdentity`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let private = rsa::PrivateKey::from_pkcs8_der(der)
            .map_err(|_| Incompatible::UnsupportedKey { bits: 0 })?;
        Self::from_private(private)
    }

    /// The private key as PKCS#8 PEM (LF line endings).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        self.inner
            .private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| ApiMisuse::Rsa.into())
    }

    /// Reads a PKCS#8 PEM private key, bounded like [`PublicIdentity`].
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        let private = rsa::PrivateKey::from_pkcs8_pem(pem)
            .map_err(|_| Incompatible::UnsupportedKey { bits: 0 })?;
        Self::from_private(private)
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IdentityKey({}, rsa-{}, private: <redacted>)",
            encode_b64(&self.inner.public.id_bytes()),
            self.inner.public.bits()
        )
    }
}

/// Checks that a node presents the key the client trusts (pinned on first
/// use, like SSH known_hosts): any difference is
/// [`PeerMisbehaved::NodeKeyMismatch`], a hard error.
pub fn check_pinned(trusted: &PublicIdentity, presented_spki: &[u8]) -> Result<(), PeerMisbehaved> {
    if trusted.spki_der() == presented_spki {
        Ok(())
    } else {
        Err(PeerMisbehaved::NodeKeyMismatch)
    }
}
