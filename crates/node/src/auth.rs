//! Who is calling: sessions established by the handshake, bearer tokens,
//! and the per-session rate limit.
//!
//! Sessions are node-local and in memory. A session ends when idle for
//! [`NodeConfig::session_idle`](crate::NodeConfig) or at its absolute expiry
//! ([`NodeConfig::session_max`](crate::NodeConfig)), whichever comes first.
//! Bearer tokens are stored only as SHA-256 hashes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use peer_crypto::ServerSession;
use peer_proto::{ErrorCode, SessionId, UserId};

use crate::error::NodeError;
use crate::ratelimit::{Bucket, Rate};

/// How a caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A user's handshake session with per-request authenticators.
    Session(SessionId),
    /// A peer node's handshake session (its node key standing in for a user
    /// key): it may call node-to-node endpoints only.
    PeerSession(SessionId),
    /// A bearer token (curl).
    Bearer,
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user (or, for node sessions, the node's id seen as a user id).
    pub user_id: UserId,
    /// How they authenticated.
    pub method: AuthMethod,
}

impl Caller {
    /// The peer node, when this is a peer node's session.
    pub fn peer(&self) -> Option<peer_proto::NodeId> {
        match self.method {
            AuthMethod::PeerSession(_) => {
                Some(peer_proto::NodeId::from_bytes(*self.user_id.as_bytes()))
            }
            AuthMethod::Session(_) | AuthMethod::Bearer => None,
        }
    }

    /// The session, if the caller has one (users' and peers').
    pub fn session(&self) -> Option<SessionId> {
        match self.method {
            AuthMethod::Session(id) | AuthMethod::PeerSession(id) => Some(id),
            AuthMethod::Bearer => None,
        }
    }
}

/// A request the node refused while authenticating it.
///
/// `responder` is there when the authenticator itself verified and the
/// refusal came after (a sealed body that does not open, the session's rate
/// limit): the answer must then carry `Peer-Auth`. Without it, the
/// authenticator was rejected (a 401), and the answer goes without.
#[derive(Debug)]
pub struct AuthRefusal {
    /// Why.
    pub error: NodeError,
    /// Authenticates the refusal, if the authenticator verified.
    pub responder: Option<Box<peer_crypto::request::Responder>>,
}

impl AuthRefusal {
    pub(crate) fn unverified(error: NodeError) -> Self {
        AuthRefusal {
            error,
            responder: None,
        }
    }
}

pub(crate) struct SessionEntry {
    pub(crate) session: ServerSession,
    /// True for a peer node's session.
    pub(crate) peer: bool,
    last_used: AtomicU64,
    bucket: Mutex<Bucket>,
}

pub(crate) struct TokenEntry {
    user_id: UserId,
    expires_at: u64,
    bucket: Mutex<Bucket>,
}

/// Sessions and tokens of one node.
pub(crate) struct AuthTable {
    sessions: RwLock<HashMap<SessionId, Arc<SessionEntry>>>,
    tokens: RwLock<HashMap<[u8; 32], Arc<TokenEntry>>>,
    rate: Rate,
    idle_secs: u64,
    max_sessions: usize,
    started: Instant,
}

impl AuthTable {
    pub(crate) fn new(rate: Rate, idle_secs: u64, max_sessions: usize) -> Self {
        AuthTable {
            sessions: RwLock::new(HashMap::new()),
            tokens: RwLock::new(HashMap::new()),
            rate,
            idle_secs,
            max_sessions: max_sessions.max(1),
            started: Instant::now(),
        }
    }

    fn sessions_read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<SessionId, Arc<SessionEntry>>> {
        self.sessions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn sessions_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, Arc<SessionEntry>>> {
        self.sessions.write().unwrap_or_else(|e| e.into_inner())
    }

    fn tokens_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<[u8; 32], Arc<TokenEntry>>> {
        self.tokens.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a session; sweeps expired ones when the table is full and refuses
    /// (429) if it is still full.
    pub(crate) fn insert_session(
        &self,
        session: ServerSession,
        peer: bool,
        now: u64,
    ) -> Result<(), NodeError> {
        let mut map = self.sessions_write();
        if map.len() >= self.max_sessions {
            let idle = self.idle_secs;
            map.retain(|_, e| !e.expired(now, idle));
            if map.len() >= self.max_sessions {
                return Err(NodeError::new(ErrorCode::RateLimited, "too many sessions")
                    .retry_after(std::time::Duration::from_secs(5)));
            }
        }
        let entry = Arc::new(SessionEntry {
            last_used: AtomicU64::new(now),
            bucket: Mutex::new(Bucket::full(self.rate)),
            session,
            peer,
        });
        map.insert(entry.session.session_id(), entry);
        Ok(())
    }

    /// The live session with this id: `session_expired` when unknown, idle
    /// too long or past its expiry (and then it is forgotten).
    pub(crate) fn session(&self, id: SessionId, now: u64) -> Result<Arc<SessionEntry>, NodeError> {
        let entry = self.sessions_read().get(&id).cloned();
        match entry {
            Some(e) if !e.expired(now, self.idle_secs) => Ok(e),
            Some(_) => {
                self.sessions_write().remove(&id);
                Err(expired())
            }
            None => Err(expired()),
        }
    }

    /// Marks a session used and takes a rate token.
    pub(crate) fn touch(&self, entry: &SessionEntry, now: u64) -> Result<(), NodeError> {
        entry.last_used.fetch_max(now, Ordering::Relaxed);
        let mut bucket = entry.bucket.lock().unwrap_or_else(|e| e.into_inner());
        bucket.take(self.rate, Instant::now()).map_err(limited)
    }

    pub(crate) fn remove_session(&self, id: SessionId) -> bool {
        self.sessions_write().remove(&id).is_some()
    }

    pub(crate) fn insert_token(&self, hash: [u8; 32], user_id: UserId, expires_at: u64, now: u64) {
        let mut map = self.tokens_write();
        map.retain(|_, t| t.expires_at > now);
        map.insert(
            hash,
            Arc::new(TokenEntry {
                user_id,
                expires_at,
                bucket: Mutex::new(Bucket::full(self.rate)),
            }),
        );
    }

    /// The user of a token hash, with a rate token taken.
    pub(crate) fn token(&self, hash: &[u8; 32], now: u64) -> Result<UserId, NodeError> {
        let entry = self
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned();
        let Some(entry) = entry else {
            return Err(invalid_token());
        };
        if entry.expires_at <= now {
            self.tokens_write().remove(hash);
            return Err(invalid_token());
        }
        let mut bucket = entry.bucket.lock().unwrap_or_else(|e| e.into_inner());
        bucket.take(self.rate, Instant::now()).map_err(limited)?;
        Ok(entry.user_id)
    }

    /// Drops expired sessions and tokens; returns how many sessions remain.
    pub(crate) fn sweep(&self, now: u64) -> usize {
        let idle = self.idle_secs;
        self.tokens_write().retain(|_, t| t.expires_at > now);
        let mut map = self.sessions_write();
        map.retain(|_, e| !e.expired(now, idle));
        map.len()
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions_read().len()
    }

    /// Seconds since the table was made (for metrics).
    #[allow(dead_code)]
    pub(crate) fn age_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

impl SessionEntry {
    fn expired(&self, now: u64, idle_secs: u64) -> bool {
        self.session.is_expired(now)
            || now.saturating_sub(self.last_used.load(Ordering::Relaxed)) > idle_secs
    }
}

fn expired() -> NodeError {
    NodeError::new(
        ErrorCode::SessionExpired,
        "session expired or unknown; handshake again",
    )
}

fn invalid_token() -> NodeError {
    NodeError::new(ErrorCode::InvalidToken, "bearer token unknown or expired")
}

fn limited(wait: std::time::Duration) -> NodeError {
    NodeError::new(ErrorCode::RateLimited, "too many requests").retry_after(wait)
}
