//! Errors, grouped by blame (as rustls does): the peer misbehaved, the peer is
//! incompatible, the API was misused, or something local (a key file, a full
//! replay cache) failed.
//!
//! Every error maps to one stable [`ErrorCode`] through [`Error::code`]; the
//! `Display` text is for people and is not API. No error holds a secret: at
//! most a path, a mode, a bit count or the name of a field.

use std::path::PathBuf;

use peer_proto::ErrorCode;

/// Any failure of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The other side sent something that fails a check.
    #[error(transparent)]
    Peer(#[from] PeerMisbehaved),
    /// The other side speaks another version or uses keys we refuse.
    #[error(transparent)]
    Incompatible(#[from] Incompatible),
    /// The caller used the API wrongly (a bug in the calling code).
    #[error(transparent)]
    Misuse(#[from] ApiMisuse),
    /// A local resource failed: a key file, or the replay cache is full.
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// The other side (a client, a node, a relay or a network attacker) sent
/// something that fails a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A signature does not verify under the key it must verify under.
    #[error("bad signature")]
    BadSignature,
    /// A signed timestamp is more than 120 s away from `now`.
    #[error("stale timestamp")]
    StaleTimestamp,
    /// A hello (or other signed) nonce was seen already.
    #[error("replayed nonce")]
    ReplayedNonce,
    /// A request sequence number was used already or lies below the window.
    #[error("replayed or too old request sequence number")]
    ReplayedRequest,
    /// The hello or registration names another node than ours.
    #[error("message meant for another node")]
    WrongNode,
    /// The node key the client trusts (pinned) is not the key of the node it
    /// talks to: a hard error, never a prompt to re-pin silently.
    #[error("node key differs from the trusted node key")]
    NodeKeyMismatch,
    /// The hello's user id is not the id of the key it was checked with.
    #[error("identity does not match its key")]
    UnknownIdentity,
    /// A request or response authenticator (HMAC) does not verify, or a
    /// `Peer-*` header is malformed.
    #[error("bad authenticator")]
    BadAuthenticator,
    /// A `Peer-*` authenticator header is missing or malformed (named).
    #[error("malformed {0} header")]
    MalformedHeader(&'static str),
    /// A response that must carry `Peer-Auth` came without one.
    #[error("response without authenticator")]
    UnauthenticatedResponse,
    /// The session is past its `expires_at`.
    #[error("session expired")]
    SessionExpired,
    /// `open` failed: wrong key, tampered bytes, truncated input. One error
    /// for every cause, on purpose (no padding oracle).
    #[error("cannot open sealed data")]
    Undecryptable,
    /// A key envelope's signature, distributor or fields are invalid.
    #[error("invalid key envelope")]
    BadEnvelope,
    /// A field is structurally invalid (named, never its value).
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// The other side is not compatible with us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Incompatible {
    /// A protocol version we do not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// An RSA key outside 2048..=4096 bits, or with an unusual exponent, or
    /// SPKI DER that is not the canonical encoding of an RSA public key.
    #[error("unsupported RSA key ({bits} bits)")]
    UnsupportedKey {
        /// The modulus size in bits (0 when the key did not parse).
        bits: usize,
    },
}

/// The API was used in a way that can never succeed: a bug in the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// The key envelope is addressed to another member than this key.
    #[error("envelope is for another member")]
    NotMyEnvelope,
    /// An epoch key was used for a message of another room or epoch.
    #[error("epoch key does not match the message's room or epoch")]
    WrongEpochKey,
    /// The HTTP method is not upper-case ASCII letters.
    #[error("HTTP method must be upper-case ASCII")]
    InvalidMethod,
    /// The session used every sequence number (2^64 - 2 requests).
    #[error("session sequence numbers exhausted")]
    SequenceExhausted,
    /// A request key was given in an rsa-oaep session, or none in an ecdh one.
    #[error("request key does not fit the session's key exchange")]
    WrongKexKey,
    /// A value could not be encoded canonically (cannot happen for the
    /// types of `peer-proto`).
    #[error("canonical encoding failed")]
    Encoding,
    /// The RSA library refused an operation on valid inputs (key generation
    /// failed, a plaintext too long for OAEP).
    #[error("RSA operation failed")]
    Rsa,
}

/// A local resource failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// Reading or writing an identity key file failed.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The hello replay cache is full of live entries; it refuses new hellos
    /// (fails closed) until entries expire.
    #[error("replay cache full")]
    ReplayCacheFull,
    /// A passphrase-protected identity file could not be made or read.
    #[error(transparent)]
    IdentityFile(#[from] IdentityFileError),
}

/// A passphrase-protected identity file (`identity::export`) could not be
/// made or read. Never holds the passphrase or key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityFileError {
    /// The passphrase is wrong, or the file's sealed key (or a header field
    /// bound to it) was altered: the two cannot be told apart.
    #[error("wrong passphrase, or the identity file is damaged")]
    WrongPassphrase,
    /// The text is not a well-formed identity file (names what is wrong).
    #[error("not a peergroup identity file: {0}")]
    Invalid(&'static str),
    /// An identity file of a version this code does not read.
    #[error("identity file version {0} is not supported (this version reads version 1)")]
    UnsupportedVersion(u64),
    /// Export refuses passphrases this short.
    #[error("the passphrase must have at least {min} characters")]
    PassphraseTooShort {
        /// The minimum, in characters.
        min: usize,
    },
}

/// An identity key file could not be saved or loaded. Names the path, never
/// the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The operating system refused (missing file, no permission, ...).
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is readable or writable by group or others.
    #[error(
        "key file {path} has mode {mode:04o}: group and others must have no access (chmod 600)"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a regular file (a directory, a device, ...).
    #[error("key file {path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A file exists at the path already; identity keys are never replaced.
    #[error("key file {path} exists already")]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a PKCS#8 PEM RSA private key of 2048..=4096 bits.
    #[error("key file {path} is not a PKCS#8 PEM RSA private key of 2048-4096 bits")]
    Format {
        /// The key file.
        path: PathBuf,
    },
}

impl Error {
    /// The stable API code this error answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Peer(e) => e.code(),
            Error::Incompatible(e) => e.code(),
            Error::Misuse(_) => ErrorCode::Internal,
            Error::Local(LocalError::ReplayCacheFull) => ErrorCode::RateLimited,
            Error::Local(LocalError::KeyFile(_) | LocalError::IdentityFile(_)) => {
                ErrorCode::Internal
            }
        }
    }

    /// True when the other side is to blame.
    pub fn is_peer(&self) -> bool {
        matches!(self, Error::Peer(_))
    }

    /// The peer failure, if this is one.
    pub fn as_peer(&self) -> Option<PeerMisbehaved> {
        match self {
            Error::Peer(e) => Some(*e),
            _ => None,
        }
    }
}

impl PeerMisbehaved {
    /// The stable API code of this failure.
    pub fn code(self) -> ErrorCode {
        match self {
            PeerMisbehaved::BadSignature => ErrorCode::BadSignature,
            PeerMisbehaved::StaleTimestamp => ErrorCode::StaleTimestamp,
            PeerMisbehaved::ReplayedNonce => ErrorCode::ReplayedNonce,
            PeerMisbehaved::ReplayedRequest => ErrorCode::ReplayedRequest,
            PeerMisbehaved::WrongNode | PeerMisbehaved::NodeKeyMismatch => ErrorCode::WrongNode,
            PeerMisbehaved::UnknownIdentity => ErrorCode::UnknownIdentity,
            PeerMisbehaved::BadAuthenticator
            | PeerMisbehaved::MalformedHeader(_)
            | PeerMisbehaved::UnauthenticatedResponse => ErrorCode::BadAuthenticator,
            PeerMisbehaved::SessionExpired => ErrorCode::SessionExpired,
            PeerMisbehaved::Undecryptable => ErrorCode::InvalidSealedBody,
            PeerMisbehaved::BadEnvelope => ErrorCode::InvalidEnvelope,
            PeerMisbehaved::Malformed(_) => ErrorCode::InvalidField,
        }
    }
}

impl Incompatible {
    /// The stable API code of this failure.
    pub fn code(self) -> ErrorCode {
        match self {
            Incompatible::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Incompatible::UnsupportedKey { .. } => ErrorCode::InvalidField,
        }
    }
}

impl From<IdentityFileError> for Error {
    fn from(e: IdentityFileError) -> Self {
        Error::Local(LocalError::IdentityFile(e))
    }
}

impl From<KeyFileError> for Error {
    fn from(e: KeyFileError) -> Self {
        Error::Local(LocalError::KeyFile(e))
    }
}

impl From<peer_proto::CanonicalError> for Error {
    fn from(_: peer_proto::CanonicalError) -> Self {
        Error::Misuse(ApiMisuse::Encoding)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_by_blame() {
        assert_eq!(
            Error::from(PeerMisbehaved::BadSignature).code(),
            ErrorCode::BadSignature
        );
        assert_eq!(
            Error::from(PeerMisbehaved::Undecryptable).code(),
            ErrorCode::InvalidSealedBody
        );
        assert_eq!(
            Error::from(LocalError::ReplayCacheFull).code(),
            ErrorCode::RateLimited
        );
        assert_eq!(
            Error::from(Incompatible::UnsupportedVersion(2)).code(),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(Error::from(ApiMisuse::Rsa).code(), ErrorCode::Internal);
        assert!(Error::from(PeerMisbehaved::SessionExpired).is_peer());
    }

    #[test]
    fn key_file_errors_name_path_and_mode() {
        let e = Error::from(KeyFileError::InsecurePermissions {
            path: "/tmp/k.pem".into(),
            mode: 0o644,
        });
        let text = e.to_string();
        assert!(
            text.contains("/tmp/k.pem") && text.contains("0644"),
            "{text}"
        );
    }
}
