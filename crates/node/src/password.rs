//! Room passwords: argon2id PHC strings. Hashing and checking run on the
//! blocking pool, never on the async workers. Passwords are zeroized after
//! use and never logged.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use peer_proto::ErrorCode;
use zeroize::Zeroizing;

use crate::error::NodeError;

/// Argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
}

impl Default for PasswordCost {
    /// OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        PasswordCost {
            memory_kib: 19 * 1024,
            iterations: 2,
        }
    }
}

fn hasher(cost: PasswordCost) -> Result<Argon2<'static>, NodeError> {
    let params = Params::new(cost.memory_kib, cost.iterations, 1, None)
        .map_err(|_| NodeError::internal("bad argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password to a PHC string.
pub async fn hash(password: String, cost: PasswordCost) -> Result<String, NodeError> {
    let password = Zeroizing::new(password);
    tokio::task::spawn_blocking(move || {
        hasher(cost)?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|_| NodeError::internal("password hashing failed"))
    })
    .await
    .map_err(|_| NodeError::internal("password hashing task failed"))?
}

/// Checks a password against a PHC string: `wrong_password` when it does
/// not match.
pub async fn verify(password: String, phc: String) -> Result<(), NodeError> {
    let password = Zeroizing::new(password);
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&phc).map_err(|_| NodeError::internal("stored hash unreadable"))?;
        // The parameters come from the stored hash.
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| NodeError::new(ErrorCode::WrongPassword, "wrong password"))
    })
    .await
    .map_err(|_| NodeError::internal("password check task failed"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let cost = PasswordCost {
            memory_kib: 64,
            iterations: 1,
        };
        let phc = hash("hunter2".into(), cost).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("hunter2"));
        verify("hunter2".into(), phc.clone()).await.unwrap();
        let err = verify("hunter3".into(), phc).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::WrongPassword);
    }
}
