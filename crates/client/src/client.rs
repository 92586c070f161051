//! The [`Client`]: one user talking to one node. Connecting (node info and
//! trust on first use), registration, and the session it keeps.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use peer_crypto::{ClientSession, IdentityKey, PublicIdentity, handshake, register};
use peer_http::client::{BaseUrl, HttpClient};
use peer_proto::api::{HelloReply, NodeInfo, NodeRole, User};
use peer_proto::{NodeId, PROTOCOL_VERSION, SessionId, UserId};

use crate::directory::Directory;
use crate::error::{ClientError, Result};
use crate::keyring::Keyring;
use crate::options::ClientOptions;
use crate::pins::{Pin, PinError, PinFile, PinStore, find_conflict};

/// A user's connection to one node. Cheap to clone (shared inside); every
/// method takes `&self` and may run concurrently.
///
/// It holds the user's identity key, the node key pinned for the node's
/// URL, the current session (made on first use, renewed when the node says
/// it expired), the verified keys of users it met and the room keys it
/// unwrapped. Key material is zeroized when the last clone drops.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: HttpClient,
    pub(crate) base: BaseUrl,
    pub(crate) node_info: NodeInfo,
    pub(crate) node_key: PublicIdentity,
    pub(crate) identity: IdentityKey,
    pub(crate) options: ClientOptions,
    /// The live session, if any.
    session: Mutex<Option<Arc<ClientSession>>>,
    /// Serialises handshakes: one at a time, and a caller that waited for
    /// another's handshake uses its session.
    handshake_lock: tokio::sync::Mutex<()>,
    handshakes: AtomicU64,
    pub(crate) directory: Directory,
    pub(crate) keyring: Keyring,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.base)
            .field("node_id", &self.inner.node_info.node_id)
            .field("user_id", &self.inner.identity.user_id())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the node at `url` (`http://host:port`) as the user whose
    /// key is `identity`.
    ///
    /// Fetches `GET /api/v1/node`, checks that the node id is the hash of
    /// the node key, and checks the key against `pins`: on first use of the
    /// URL it is pinned; a different key for a pinned URL or node id is
    /// [`ClientError::NodeKeyChanged`]. No session is made yet (the first
    /// authenticated call makes one); the user need not be registered yet.
    ///
    /// A follower node relays every request to its main peer, which then
    /// holds the session and answers: the client registers with, and
    /// handshakes with, the main peer whose key the follower reports
    /// (`main_peer.spki`, checked against its id and pinned under the main
    /// peer's URL like any node key).
    pub async fn connect(
        url: &str,
        identity: IdentityKey,
        pins: &dyn PinStore,
        options: ClientOptions,
    ) -> Result<Client> {
        let base = BaseUrl::parse(url)?;
        let http = HttpClient::new(options.transport.clone());
        let node_info: NodeInfo = crate::exchange::plain_get(&http, &base, "/api/v1/node").await?;
        let node_key = check_node_info(&base, &node_info)?;
        pin(pins, &base, node_info.node_id, &node_key)?;
        // Through a follower, the main peer serves: its key signs the
        // handshake replies.
        let node_key = match &node_info.main_peer {
            Some(main) if node_info.role == NodeRole::Follower => {
                let main_url = BaseUrl::parse(&main.url)?;
                let bad = |problem| ClientError::BadNodeInfo {
                    url: base.clone(),
                    problem,
                };
                let key = PublicIdentity::from_spki_der(main.spki.as_slice())
                    .map_err(|_| bad("its main peer's key is not an acceptable RSA key"))?;
                if key.node_id() != main.node_id {
                    return Err(bad("its main peer's id is not the hash of its key"));
                }
                pin(pins, &main_url, main.node_id, &key)?;
                key
            }
            _ => node_key,
        };
        tracing::debug!(url = %base, node = %node_info.node_id, "connected");
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                node_info,
                node_key,
                identity,
                options,
                session: Mutex::new(None),
                handshake_lock: tokio::sync::Mutex::new(()),
                handshakes: AtomicU64::new(0),
                directory: Directory::default(),
                keyring: Keyring::default(),
            }),
        })
    }

    /// [`connect`](Self::connect) with pins kept in the file at `pin_file`
    /// (see [`PinFile`]).
    pub async fn connect_with_pin_file(
        url: &str,
        identity: IdentityKey,
        pin_file: impl AsRef<std::path::Path>,
        options: ClientOptions,
    ) -> Result<Client> {
        let pins = PinFile::new(pin_file.as_ref());
        Client::connect(url, identity, &pins, options).await
    }

    /// The node's URL.
    pub fn url(&self) -> &BaseUrl {
        &self.inner.base
    }

    /// The node as it described itself when connecting.
    pub fn node(&self) -> &NodeInfo {
        &self.inner.node_info
    }

    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_info.node_id
    }

    /// The node key this client trusts (pinned) for its sessions: the
    /// node's own, or, through a follower, its main peer's.
    pub fn node_key(&self) -> &PublicIdentity {
        &self.inner.node_key
    }

    /// This user's id.
    pub fn user_id(&self) -> UserId {
        self.inner.identity.user_id()
    }

    /// This user's identity key.
    pub fn identity(&self) -> &IdentityKey {
        &self.inner.identity
    }

    /// The settings.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Now, by the client's clock.
    pub(crate) fn now(&self) -> u64 {
        self.inner.options.clock.now()
    }

    /// `POST /api/v1/users`: registers this user's key under `name` (a
    /// registration signed by the key, for this node, timestamped now).
    pub async fn register(&self, name: &str) -> Result<User> {
        let mut rng = peer_crypto::rng::system_rng();
        let req = register::register_user(
            &mut rng,
            &self.inner.identity,
            self.inner.node_key.node_id(),
            name,
            self.now(),
        )?;
        let user: User =
            crate::exchange::plain_post(&self.inner.http, &self.inner.base, "/api/v1/users", &req)
                .await?;
        if user.id != self.user_id() {
            return Err(ClientError::InvalidResponse(
                "registered user id is not this key's id",
            ));
        }
        self.inner
            .directory
            .remember_self(&self.inner.identity, &user);
        Ok(user)
    }

    /// How many handshakes this client made so far.
    pub fn handshake_count(&self) -> u64 {
        self.inner.handshakes.load(Ordering::Relaxed)
    }

    /// The current session's id, if one is open.
    pub fn session_id(&self) -> Option<SessionId> {
        self.current_session().map(|s| s.session_id())
    }

    fn current_session(&self) -> Option<Arc<ClientSession>> {
        self.inner
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes a new session now (`POST /api/v1/handshake`), replacing any
    /// current one. Authenticated calls do this by themselves when needed.
    pub async fn handshake(&self) -> Result<SessionId> {
        let _guard = self.inner.handshake_lock.lock().await;
        let session = self.new_session().await?;
        Ok(session.session_id())
    }

    /// The live session, made when there is none or it passed its expiry.
    pub(crate) async fn session(&self) -> Result<Arc<ClientSession>> {
        if let Some(s) = self.current_session().filter(|s| !s.is_expired(self.now())) {
            return Ok(s);
        }
        let _guard = self.inner.handshake_lock.lock().await;
        // Another caller may have made one while we waited.
        if let Some(s) = self.current_session().filter(|s| !s.is_expired(self.now())) {
            return Ok(s);
        }
        self.new_session().await
    }

    /// Forgets `id` if it is still the current session (the node said it
    /// expired); a newer session stays.
    pub(crate) fn forget_session(&self, id: SessionId) {
        let mut cur = self.inner.session.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_some_and(|s| s.session_id() == id) {
            *cur = None;
        }
    }

    /// Runs the handshake; the caller holds `handshake_lock`.
    async fn new_session(&self) -> Result<Arc<ClientSession>> {
        let mut rng = peer_crypto::rng::system_rng();
        let now = self.now();
        let (expect, hello) = handshake::start(
            &mut rng,
            &self.inner.identity,
            self.inner.node_key.node_id(),
            self.inner.options.kex,
            now,
        )?;
        self.inner.handshakes.fetch_add(1, Ordering::Relaxed);
        let reply: HelloReply = crate::exchange::plain_post(
            &self.inner.http,
            &self.inner.base,
            "/api/v1/handshake",
            &hello,
        )
        .await?;
        let session =
            Arc::new(expect.finish(&mut rng, &reply, &self.inner.node_key, self.now())?);
        tracing::debug!(
            session = %session.session_id(),
            kex = session.kex().as_str(),
            "session established"
        );
        *self.inner.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(session.clone());
        Ok(session)
    }

    /// `DELETE /api/v1/session`: ends the current session on the node and
    /// forgets it. The next authenticated call makes a new one.
    pub async fn end_session(&self) -> Result<()> {
        let Some(session) = self.current_session() else {
            return Ok(());
        };
        let result = self
            .authed_unit(
                http::Method::DELETE,
                "/api/v1/session".to_owned(),
                None::<&()>,
            )
            .await;
        self.forget_session(session.session_id());
        result
    }
}

/// Pins `key` for `url` and `node_id`, or fails if either is pinned to
/// another key.
fn pin(pins: &dyn PinStore, url: &BaseUrl, node_id: NodeId, key: &PublicIdentity) -> Result<()> {
    let pin = Pin {
        url: url.clone(),
        node_id,
        spki_hash: *key.spki_hash(),
    };
    if let Some(existing) = find_conflict(&pins.pins()?, &pin) {
        return Err(key_changed(url, existing.node_id, node_id));
    }
    pins.add(&pin).map_err(|e| match e {
        PinError::Conflict { pinned, .. } => key_changed(url, pinned, node_id),
        other => other.into(),
    })?;
    Ok(())
}

fn key_changed(url: &BaseUrl, pinned: NodeId, presented: NodeId) -> ClientError {
    ClientError::NodeKeyChanged {
        url: url.clone(),
        pinned,
        presented,
    }
}

/// The node key of a node's self-description, if the description holds
/// together.
fn check_node_info(url: &BaseUrl, info: &NodeInfo) -> Result<PublicIdentity> {
    let bad = |problem| ClientError::BadNodeInfo {
        url: url.clone(),
        problem,
    };
    if info.protocol_version != PROTOCOL_VERSION {
        return Err(bad("it speaks another protocol version"));
    }
    let key = PublicIdentity::from_spki_der(info.spki.as_slice())
        .map_err(|_| bad("its key is not an acceptable RSA key"))?;
    if key.node_id() != info.node_id {
        return Err(bad("its node id is not the hash of its key"));
    }
    Ok(key)
}
