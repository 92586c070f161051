//! Registration, the handshake, bearer tokens, and user lookup.

use std::net::IpAddr;

use peer_crypto::{PublicIdentity, handshake, register};
use peer_proto::api::{
    Hello, HelloReply, RegisterUser, TokenRequest, TokenResponse, User, UserList, UserQuery,
};
use peer_proto::limits::{self, check_page_limit, check_user_name};
use peer_proto::{ErrorCode, NodeId, UserId};
use peer_store::query::{Cursor, UserQuery as StoreUserQuery};
use peer_store::{StoreError, UserRecord};

use crate::auth::{AuthMethod, Caller};
use crate::error::{NodeError, Result};
use crate::{Node, random, views};

impl Node {
    /// `POST /api/v1/users`: a self-signed registration.
    pub async fn register_user(&self, req: RegisterUser, source: Option<IpAddr>) -> Result<User> {
        if let Some(ip) = source {
            self.limit_source(ip)?;
        }
        if !self.inner.config.registration_open {
            return Err(NodeError::new(
                ErrorCode::RegistrationClosed,
                "this node does not accept new registrations",
            ));
        }
        check_user_name(&req.name)?;
        let now = self.now();
        let verified = register::verify_registration(&req, self.node_id(), now)?;
        let record = UserRecord {
            id: verified.user_id(),
            name: req.name.clone(),
            spki: req.spki.clone(),
            created_at: now,
        };
        self.inner
            .store
            .create_user(&record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => {
                    NodeError::new(ErrorCode::NameTaken, "name or key already registered")
                }
                other => other.into(),
            })?;
        tracing::info!(user = %record.id, "user registered");
        self.audit(None, None, "user.register", format!("user {}", record.id))
            .await;
        Ok(views::user(record))
    }

    pub(crate) fn limit_source(&self, ip: IpAddr) -> Result<()> {
        self.inner.handshake_limit.take(&ip).map_err(|wait| {
            NodeError::new(
                ErrorCode::RateLimited,
                "too many handshakes from this address",
            )
            .retry_after(wait)
        })
    }

    /// The public key registered for a user.
    pub(crate) async fn user_key(&self, id: UserId) -> Result<PublicIdentity> {
        let user = self.inner.store.get_user(id).await?;
        PublicIdentity::from_spki_der(user.spki.as_slice()).map_err(|e| {
            tracing::error!(user = %id, error = %e, "stored key unreadable");
            NodeError::internal("stored key unreadable")
        })
    }

    /// `POST /api/v1/handshake`: checks a hello and opens a session.
    ///
    /// The hello's `user_id` names a registered user, or else a registered
    /// peer node (its node key standing in for a user key, `NodeId::as_user`).
    /// A peer's session is marked as such: it may call node-to-node
    /// endpoints only, and users' sessions never may.
    pub async fn handshake(&self, hello: Hello, source: Option<IpAddr>) -> Result<HelloReply> {
        if let Some(ip) = source {
            self.limit_source(ip)?;
        }
        let now = self.now();
        // The lookup is needed to know the key. An identity that is not
        // registered gets the same code as a wrong key.
        let (key, peer) = match self.user_key(hello.user_id).await {
            Ok(k) => (k, false),
            Err(e) if e.code == ErrorCode::UserNotFound => {
                match self
                    .peer_key(NodeId::from_bytes(*hello.user_id.as_bytes()))
                    .await?
                {
                    Some(k) => (k, true),
                    None => {
                        return Err(NodeError::new(
                            ErrorCode::UnknownIdentity,
                            "no registered key for this user",
                        ));
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let verified =
            handshake::verify_hello(&hello, &key, self.node_id(), &self.inner.replay, now)?;
        let mut rng = peer_crypto::rng::system_rng();
        let ttl = self.inner.config.session_max.as_secs();
        let (reply, session) = verified.respond(&mut rng, &self.inner.identity, now, ttl)?;
        self.inner.auth.insert_session(session, peer, now)?;
        tracing::debug!(
            identity = %hello.user_id,
            peer,
            kex = hello.kex.as_str(),
            "session opened"
        );
        Ok(reply)
    }

    /// `DELETE /api/v1/session`.
    pub fn end_session(&self, caller: &Caller) -> Result<()> {
        match caller.method {
            AuthMethod::Session(id) | AuthMethod::PeerSession(id) => {
                self.inner.auth.remove_session(id);
                Ok(())
            }
            AuthMethod::Bearer => Err(NodeError::forbidden(
                "a bearer token has no session to end; it expires by itself",
            )),
        }
    }

    /// `POST /api/v1/tokens`: a bearer token for curl.
    pub fn issue_token(&self, caller: &Caller, req: TokenRequest) -> Result<TokenResponse> {
        if !self.inner.config.bearer_tokens {
            return Err(NodeError::new(
                ErrorCode::TokensDisabled,
                "bearer tokens are disabled on this node",
            ));
        }
        match caller.method {
            AuthMethod::Session(_) => {}
            AuthMethod::Bearer => {
                return Err(NodeError::forbidden(
                    "a bearer token cannot issue tokens; use a session",
                ));
            }
            AuthMethod::PeerSession(_) => {
                return Err(NodeError::forbidden("a peer node cannot issue tokens"));
            }
        }
        let ttl = req.ttl_secs.unwrap_or(limits::TOKEN_DEFAULT_TTL_SECS);
        if ttl == 0 || ttl > self.inner.config.token_max_ttl {
            return Err(NodeError::field(
                "ttl_secs",
                format!("must be 1-{}", self.inner.config.token_max_ttl),
            ));
        }
        let raw: [u8; 32] = random();
        let now = self.now();
        let expires_at = now.saturating_add(ttl);
        self.inner.auth.insert_token(
            peer_crypto::kdf::sha256(&raw),
            caller.user_id,
            expires_at,
            now,
        );
        Ok(TokenResponse {
            token: peer_proto::bytes::encode_b64(&raw),
            expires_at,
        })
    }

    /// `GET /api/v1/users/{id}`.
    pub async fn get_user(&self, _caller: &Caller, id: UserId) -> Result<User> {
        Ok(views::user(self.inner.store.get_user(id).await?))
    }

    /// `GET /api/v1/users`.
    pub async fn list_users(&self, _caller: &Caller, q: UserQuery) -> Result<UserList> {
        let limit = page_limit(q.limit)?;
        if let Some(prefix) = &q.name
            && prefix.len() > limits::MAX_USER_NAME_CHARS
        {
            return Err(NodeError::new(ErrorCode::InvalidQuery, "name: too long"));
        }
        let page = self
            .inner
            .store
            .list_users(&StoreUserQuery {
                name_prefix: q.name,
                limit,
                cursor: q.cursor.map(Cursor::from_text),
            })
            .await
            .map_err(query_error)?;
        Ok(UserList {
            users: page.items.into_iter().map(views::user).collect(),
            next_cursor: page.next_cursor.map(Cursor::into_string),
        })
    }
}

/// A list's `limit` query parameter (default 100, 1-500).
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(limits::DEFAULT_PAGE_LIMIT);
    check_page_limit(limit).map_err(|e| NodeError::new(ErrorCode::InvalidQuery, e.to_string()))?;
    Ok(limit)
}

/// A store `Invalid` on a list is a bad query parameter (the cursor).
pub(crate) fn query_error(e: StoreError) -> NodeError {
    match e {
        StoreError::Invalid { field, problem } => {
            NodeError::new(ErrorCode::InvalidQuery, format!("{field}: {problem}"))
        }
        other => other.into(),
    }
}
