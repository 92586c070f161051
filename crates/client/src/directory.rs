//! Users' public keys, fetched from the node and checked: a user id is the
//! hash of the user's key, so a key that does not hash to the id it was
//! served for is refused ([`ClientError::UserKeyMismatch`]). Verified keys
//! are cached for the client's life (a user's key never changes: a new key
//! is a new user).

use std::collections::HashMap;
use std::sync::Mutex;

use peer_crypto::{IdentityKey, PublicIdentity};
use peer_proto::UserId;
use peer_proto::api::User;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// A user whose key was checked against the id.
#[derive(Debug, Clone)]
pub struct KnownUser {
    /// The user.
    pub id: UserId,
    /// The registered name.
    pub name: String,
    /// The identity key (hashes to `id`).
    pub key: PublicIdentity,
}

/// The cache of verified user keys.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    users: Mutex<HashMap<UserId, KnownUser>>,
}

impl Directory {
    fn get(&self, id: UserId) -> Option<KnownUser> {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn insert(&self, user: KnownUser) {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.id, user);
    }

    /// Records the client's own user after registering.
    pub(crate) fn remember_self(&self, identity: &IdentityKey, user: &User) {
        self.insert(KnownUser {
            id: identity.user_id(),
            name: user.name.clone(),
            key: identity.public().clone(),
        });
    }
}

/// Checks a served user record: the key parses and hashes to the id.
pub(crate) fn verify_user(user: &User) -> Result<KnownUser> {
    let key = PublicIdentity::from_spki_der(user.spki.as_slice())
        .map_err(|_| ClientError::UserKeyMismatch(user.id))?;
    if key.user_id() != user.id {
        return Err(ClientError::UserKeyMismatch(user.id));
    }
    Ok(KnownUser {
        id: user.id,
        name: user.name.clone(),
        key,
    })
}

impl Client {
    /// A user's verified key and name: from the cache, or
    /// `GET /api/v1/users/{id}` checked against the id.
    pub async fn known_user(&self, id: UserId) -> Result<KnownUser> {
        if let Some(u) = self.inner.directory.get(id) {
            return Ok(u);
        }
        let user = self.get_user(id).await?;
        if user.id != id {
            return Err(ClientError::UserKeyMismatch(id));
        }
        let known = verify_user(&user)?;
        self.inner.directory.insert(known.clone());
        Ok(known)
    }
}
