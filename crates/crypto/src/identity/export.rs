//! Passphrase-protected identity files: one format for `peerctl export` /
//! `peerctl import` and the browser client (web/src/lib/identity.js), so one
//! person can use the same identity in both (docs/protocol.md, "Identity
//! files").
//!
//! ```text
//! file_key   = PBKDF2-HMAC-SHA256(UTF-8 passphrase, salt, iterations), 32 bytes
//! aad        = canonical("peergroup/identity-file/v1", (version u16, iterations u32, salt bytes, spki bytes))
//! sealed_key = seal(file_key, PKCS#8 DER of the private key, aad)      (seal/open of this crate)
//! ```
//!
//! The file is JSON: `{format: "peergroup-identity", version: 1, user_id,
//! spki, kdf: {name: "pbkdf2-sha256", iterations, salt}, cipher:
//! "peergroup-seal-v1", sealed_key}` (binary fields base64url). The public
//! key and id are readable without the passphrase ([`inspect_identity_file`]);
//! the header fields that matter (version, iterations, salt, public key) are
//! bound to the sealed key by the aad, so changing any of them makes the file
//! fail to open like a wrong passphrase does.
//!
//! A wrong passphrase and a damaged sealed key are the same error
//! ([`IdentityFileError::WrongPassphrase`]): the MAC is checked in constant
//! time before anything is decrypted. Neither the passphrase nor any key
//! byte appears in an error or in `Debug` output; derived keys and the
//! decrypted PKCS#8 bytes are zeroized.
//!
//! ```
//! use peer_crypto::{IdentityKey, Passphrase};
//! # let key = peer_testkit::keys::alice();
//! let mut rng = peer_crypto::rng::system_rng();
//! let pass = Passphrase::new("correct horse battery");
//! // Few iterations to keep the example fast; `export_encrypted` uses 600,000.
//! let file = key.export_encrypted_with(&mut rng, &pass, 1_000)?;
//! let back = IdentityKey::import_encrypted(&file, &pass)?;
//! assert_eq!(back.user_id(), key.user_id());
//! assert!(IdentityKey::import_encrypted(&file, &Passphrase::new("wrong passphrase")).is_err());
//! # Ok::<(), peer_crypto::Error>(())
//! ```

use std::fmt;

use peer_proto::bytes::{decode_b64, encode_b64};
use peer_proto::id::UserId;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{IdentityKey, PublicIdentity};
use crate::error::{ApiMisuse, Error, IdentityFileError};
use crate::rng::random_array;
use crate::seal::{IV_LEN, open, seal_with_iv};

/// The `format` field.
pub const FORMAT: &str = "peergroup-identity";
/// The version written and read.
pub const VERSION: u16 = 1;
/// The label of the associated data (used for nothing else).
pub const LABEL: &str = "peergroup/identity-file/v1";
/// The `kdf.name` field.
pub const KDF_NAME: &str = "pbkdf2-sha256";
/// The `cipher` field: this crate's `seal` (AES-256-CBC + HMAC-SHA256).
pub const CIPHER: &str = "peergroup-seal-v1";
/// PBKDF2 iterations [`IdentityKey::export_encrypted`] uses.
pub const EXPORT_ITERATIONS: u32 = 600_000;
/// The fewest iterations a file may ask for.
pub const MIN_ITERATIONS: u32 = 1_000;
/// The most iterations a file may ask for (bounds the work of an import).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Salt bytes written (16..=64 accepted).
pub const SALT_LEN: usize = 16;
/// The shortest passphrase export accepts, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// The largest identity file read.
pub const MAX_FILE_BYTES: usize = 64 * 1024;
/// The largest sealed key accepted (an RSA-4096 PKCS#8 is under 2.5 KB).
const MAX_SEALED_BYTES: usize = 16 * 1024;

/// A passphrase: zeroized on drop, never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase (used as its UTF-8 bytes, without normalization).
    pub fn new(text: impl Into<String>) -> Self {
        Passphrase(Zeroizing::new(text.into()))
    }

    /// The passphrase with one trailing line end (`\n` or `\r\n`) removed,
    /// as read from a file or a pipe.
    pub fn from_line(text: impl Into<String>) -> Self {
        let mut s = Zeroizing::new(text.into());
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        Passphrase(s)
    }

    /// Its length in characters.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// What an identity file says about itself, without the passphrase.
#[derive(Debug, Clone)]
pub struct IdentityFileInfo {
    /// The user id (checked: the hash of `public`).
    pub user_id: UserId,
    /// The public key.
    pub public: PublicIdentity,
    /// The PBKDF2 iterations it asks for.
    pub iterations: u32,
}

#[derive(Serialize, Deserialize)]
struct FileJson {
    format: String,
    version: u64,
    user_id: String,
    spki: String,
    kdf: KdfJson,
    cipher: String,
    sealed_key: String,
}

#[derive(Serialize, Deserialize)]
struct KdfJson {
    name: String,
    iterations: u64,
    salt: String,
}

/// A parsed, checked header.
struct Header {
    info: IdentityFileInfo,
    salt: Vec<u8>,
    sealed: Vec<u8>,
}

fn invalid(why: &'static str) -> Error {
    IdentityFileError::Invalid(why).into()
}

/// `file_key` = PBKDF2-HMAC-SHA256(passphrase, salt, iterations), 32 bytes.
fn file_key(passphrase: &Passphrase, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(passphrase.bytes(), salt, iterations, key.as_mut());
    key
}

/// The associated data binding the header to the sealed key.
fn aad(iterations: u32, salt: &[u8], spki: &[u8]) -> Result<Vec<u8>, Error> {
    peer_proto::canonical(LABEL, &(VERSION, iterations, salt, spki))
        .map_err(|_| ApiMisuse::Encoding.into())
}

fn parse_header(text: &str) -> Result<Header, Error> {
    if text.len() > MAX_FILE_BYTES {
        return Err(invalid("the file is too large"));
    }
    let f: FileJson = serde_json::from_str(text).map_err(|_| invalid("not the JSON of one"))?;
    if f.format != FORMAT {
        return Err(invalid("wrong format field"));
    }
    if f.version != u64::from(VERSION) {
        return Err(IdentityFileError::UnsupportedVersion(f.version).into());
    }
    if f.kdf.name != KDF_NAME {
        return Err(invalid("unsupported key derivation"));
    }
    if f.cipher != CIPHER {
        return Err(invalid("unsupported cipher"));
    }
    let iterations = u32::try_from(f.kdf.iterations)
        .ok()
        .filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(i))
        .ok_or_else(|| invalid("iterations out of range"))?;
    let salt = decode_b64(&f.kdf.salt).map_err(|_| invalid("malformed salt"))?;
    if !(16..=64).contains(&salt.len()) {
        return Err(invalid("salt length out of range"));
    }
    let spki = decode_b64(&f.spki).map_err(|_| invalid("malformed public key"))?;
    let public =
        PublicIdentity::from_spki_der(&spki).map_err(|_| invalid("unacceptable public key"))?;
    if f.user_id != public.user_id().to_string() {
        return Err(invalid("user_id is not the id of its key"));
    }
    let sealed = decode_b64(&f.sealed_key).map_err(|_| invalid("malformed sealed key"))?;
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(invalid("sealed key too large"));
    }
    Ok(Header {
        info: IdentityFileInfo {
            user_id: public.user_id(),
            public,
            iterations,
        },
        salt,
        sealed,
    })
}

/// Reads an identity file's header (who it is) without the passphrase.
/// Refuses ([`IdentityFileError`]) anything that is not a well-formed
/// identity file of this version.
pub fn inspect_identity_file(text: &str) -> Result<IdentityFileInfo, Error> {
    parse_header(text).map(|h| h.info)
}

impl IdentityKey {
    /// Exports this key as a passphrase-protected identity file (JSON text),
    /// with [`EXPORT_ITERATIONS`] PBKDF2 iterations and a random salt.
    /// Refuses a passphrase shorter than [`MIN_PASSPHRASE_CHARS`].
    pub fn export_encrypted<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        passphrase: &Passphrase,
    ) -> Result<String, Error> {
        self.export_encrypted_with(rng, passphrase, EXPORT_ITERATIONS)
    }

    /// [`export_encrypted`](Self::export_encrypted) with another iteration
    /// count ([`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`]).
    pub fn export_encrypted_with<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        passphrase: &Passphrase,
        iterations: u32,
    ) -> Result<String, Error> {
        let salt: [u8; SALT_LEN] = random_array(rng);
        let iv: [u8; IV_LEN] = random_array(rng);
        self.export_with(passphrase, iterations, &salt, &iv)
    }

    /// The export with a given salt and IV (test vectors).
    pub(crate) fn export_with(
        &self,
        passphrase: &Passphrase,
        iterations: u32,
        salt: &[u8],
        iv: &[u8; IV_LEN],
    ) -> Result<String, Error> {
        if passphrase.chars() < MIN_PASSPHRASE_CHARS {
            return Err(IdentityFileError::PassphraseTooShort {
                min: MIN_PASSPHRASE_CHARS,
            }
            .into());
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(invalid("iterations out of range"));
        }
        let pkcs8 = self.to_pkcs8_der()?;
        let key = file_key(passphrase, salt, iterations);
        let sealed = seal_with_iv(&key, iv, &pkcs8, &aad(iterations, salt, self.spki_der())?);
        let file = FileJson {
            format: FORMAT.to_owned(),
            version: u64::from(VERSION),
            user_id: self.user_id().to_string(),
            spki: encode_b64(self.spki_der()),
            kdf: KdfJson {
                name: KDF_NAME.to_owned(),
                iterations: u64::from(iterations),
                salt: encode_b64(salt),
            },
            cipher: CIPHER.to_owned(),
            sealed_key: encode_b64(&sealed),
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(|_| ApiMisuse::Encoding)?;
        text.push('\n');
        Ok(text)
    }

    /// Imports an identity file. A wrong passphrase, or a file whose sealed
    /// key or bound header fields were altered, is
    /// [`IdentityFileError::WrongPassphrase`]; a file that is not an identity
    /// file is [`IdentityFileError::Invalid`] (or `UnsupportedVersion`).
    pub fn import_encrypted(text: &str, passphrase: &Passphrase) -> Result<IdentityKey, Error> {
        let h = parse_header(text)?;
        let spki = h.info.public.spki_der();
        let key = file_key(passphrase, &h.salt, h.info.iterations);
        let pkcs8 = open(&key, &h.sealed, &aad(h.info.iterations, &h.salt, spki)?)
            .map_err(|_| IdentityFileError::WrongPassphrase)?;
        let identity = IdentityKey::from_pkcs8_der(&pkcs8)
            .map_err(|_| invalid("the sealed key is not an acceptable RSA private key"))?;
        if identity.spki_der() != spki {
            return Err(invalid(
                "the sealed key does not match the file's public key",
            ));
        }
        Ok(identity)
    }
}
