//! Test-side helpers: users with sessions built from `peer_crypto` directly
//! (handshake, `prepare_request`, response verification), a store that can
//! be switched off, and raw-socket helpers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use peer_crypto::{
    ClientSession, IdentityKey, PublicIdentity, ResponseVerifier, RoomKey, handshake, register,
    wrap_envelope,
};
use peer_proto::api::{Envelope, HelloReply, Kex, LeaveReason, Role, StoreKind};
use peer_proto::{NodeId, RoomId, UserId};
use peer_store::query::{
    AuditQuery, Cursor, MessagePage, MessageRange, Page, RoomQuery, UserQuery,
};
use peer_store::records::{
    AuditRecord, EnvelopeRecord, InviteRecord, MemberRecord, MessageCount, MessageRecord, NewAudit,
    NewMember, NewMessage, PeerRecord, Removal, RoomRecord, RoomUpdate, UserRecord,
};
use peer_store::{MemoryStore, Store, StoreError};
use peer_testkit::node::{RawRequest, RawResponse, TestNode, send};
use rand_core::Rng as _;
use serde_json::{Value, json};

/// Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `n` random bytes.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    peer_crypto::rng::system_rng().fill_bytes(&mut out);
    out
}

/// A fresh room id.
pub fn room_id() -> RoomId {
    RoomId::from_bytes(random())
}

/// The error code of a JSON error body ("" if there is none).
pub fn code_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Asserts a raw response is the JSON error `code` with its status.
#[track_caller]
pub fn assert_error(resp: &RawResponse, code: &str) {
    let parsed: peer_proto::ErrorCode = code.parse().unwrap();
    assert_eq!(
        (resp.status, code_of(&resp.body).as_str()),
        (parsed.status(), code),
        "body: {}",
        resp.text()
    );
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        resp.headers
    );
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(v.as_object().unwrap().len(), 1, "only `error`: {v}");
    if resp.status == 429 || resp.status == 503 {
        let secs: u64 = resp.header("retry-after").unwrap().parse().unwrap();
        assert!(secs >= 1);
    }
}

/// Registers `key` as `name` (the raw answer).
pub async fn register_raw(node: &TestNode, key: &IdentityKey, name: &str) -> RawResponse {
    let mut rng = peer_crypto::rng::system_rng();
    let reg = register::register_user(&mut rng, key, node.node().node_id(), name, now()).unwrap();
    send(
        node.addr(),
        RawRequest::post("/api/v1/users").json(serde_json::to_vec(&reg).unwrap()),
    )
    .await
    .unwrap()
}

/// Sends a hello (the raw answer).
pub async fn hello_raw(node: &TestNode, hello: &peer_proto::api::Hello) -> RawResponse {
    send(
        node.addr(),
        RawRequest::post("/api/v1/handshake").json(serde_json::to_vec(hello).unwrap()),
    )
    .await
    .unwrap()
}

/// Opens a session for `key` with the node.
pub async fn handshake(node: &TestNode, key: &IdentityKey, kex: Kex) -> ClientSession {
    let mut rng = peer_crypto::rng::system_rng();
    let node_id = node.node().node_id();
    let (expect, hello) = handshake::start(&mut rng, key, node_id, kex, now()).unwrap();
    let resp = hello_raw(node, &hello).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let reply: HelloReply = serde_json::from_slice(&resp.body).unwrap();
    expect
        .finish(&mut rng, &reply, node.node().identity().public(), now())
        .unwrap()
}

/// A registered user with a session.
pub struct User {
    pub key: &'static IdentityKey,
    pub id: UserId,
    pub addr: SocketAddr,
    pub session: ClientSession,
}

/// An answer to a session request, with `Peer-Auth` checked.
#[derive(Debug)]
pub struct Checked {
    pub status: u16,
    /// The body, verified (and opened when sealed).
    pub body: Vec<u8>,
    pub raw: RawResponse,
}

impl Checked {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn code(&self) -> String {
        code_of(&self.body)
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    #[track_caller]
    pub fn expect_error(&self, code: &str) {
        let parsed: peer_proto::ErrorCode = code.parse().unwrap();
        assert_eq!(
            (self.status, self.code().as_str()),
            (parsed.status(), code),
            "{}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

impl User {
    /// Registers `key` as `name` and opens an ecdh session.
    pub async fn new(node: &TestNode, key: &'static IdentityKey, name: &str) -> User {
        let resp = register_raw(node, key, name).await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        User::login(node, key).await
    }

    /// A session for an already registered key.
    pub async fn login(node: &TestNode, key: &'static IdentityKey) -> User {
        User {
            key,
            id: key.user_id(),
            addr: node.addr(),
            session: handshake(node, key, Kex::EcdhP256).await,
        }
    }

    pub fn public(&self) -> &PublicIdentity {
        self.key.public()
    }

    /// A signed request, ready to send, and the check of its answer.
    pub fn prepare(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
        sealed: bool,
    ) -> (RawRequest, ResponseVerifier) {
        let mut rng = peer_crypto::rng::system_rng();
        let p = self
            .session
            .prepare_request(&mut rng, method, target, body, sealed)
            .unwrap();
        let mut req = RawRequest::new(method, target);
        for (k, v) in p.headers.pairs() {
            req = req.header(k, v);
        }
        if !p.body.is_empty() {
            let ct = p.content_type.unwrap_or("application/json");
            req = req.header("content-type", ct);
        }
        (req.body(p.body), p.verifier)
    }

    /// Sends a signed request and verifies the answer's `Peer-Auth`.
    pub async fn call(&self, method: &str, target: &str, body: Option<Value>) -> Checked {
        self.call_bytes(method, target, &body_bytes(body), false)
            .await
    }

    /// Same, sealed.
    pub async fn call_sealed(&self, method: &str, target: &str, body: Option<Value>) -> Checked {
        self.call_bytes(method, target, &body_bytes(body), true)
            .await
    }

    pub async fn call_bytes(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
        sealed: bool,
    ) -> Checked {
        let (req, verifier) = self.prepare(method, target, body, sealed);
        let raw = send(self.addr, req).await.unwrap();
        let body = verifier
            .verify(raw.status, raw.header("peer-auth"), &raw.body)
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {target}: response not authentic ({e}): {} {}",
                    raw.status,
                    raw.text()
                )
            });
        if sealed {
            assert_eq!(
                raw.header("content-type"),
                Some(peer_crypto::SEALED_CONTENT_TYPE)
            );
        }
        Checked {
            status: raw.status,
            body,
            raw,
        }
    }

    /// A bearer token for this user.
    pub async fn token(&self) -> String {
        let v = self.call("POST", "/api/v1/tokens", None).await.expect(201);
        v["token"].as_str().unwrap().to_owned()
    }

    /// Creates an unencrypted public room.
    pub async fn plain_room(&self, name: &str) -> RoomId {
        let id = room_id();
        self.call(
            "POST",
            "/api/v1/rooms",
            Some(json!({"id": id, "name": name, "encrypted": false})),
        )
        .await
        .expect(201);
        id
    }

    /// Creates an encrypted room with `extra` settings; returns its key.
    pub async fn encrypted_room(&self, name: &str, extra: Value) -> (RoomId, RoomKey) {
        let mut rng = peer_crypto::rng::system_rng();
        let id = room_id();
        let key = RoomKey::generate(&mut rng);
        let env = wrap_envelope(&mut rng, self.key, id, 1, self.public(), &key).unwrap();
        let mut body = json!({"id": id, "name": name, "envelope": env});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let v = self
            .call("POST", "/api/v1/rooms", Some(body))
            .await
            .expect(201);
        assert_eq!(v["epoch"], 1);
        (id, key)
    }

    /// Envelopes of `key` at `epoch` for `members`, signed by this user.
    pub fn envelopes(
        &self,
        room: RoomId,
        epoch: u32,
        key: &RoomKey,
        members: &[&PublicIdentity],
    ) -> Vec<Envelope> {
        let mut rng = peer_crypto::rng::system_rng();
        members
            .iter()
            .map(|m| wrap_envelope(&mut rng, self.key, room, epoch, m, key).unwrap())
            .collect()
    }

    /// An (opaque) encrypted post at `epoch`; the node does not open it.
    pub async fn post_cipher(&self, room: RoomId, epoch: u32) -> Checked {
        let body = json!({
            "epoch": epoch,
            "ciphertext": peer_proto::Bytes(random::<48>().to_vec()),
            "signature": peer_proto::Bytes(random::<256>().to_vec()),
        });
        self.call(
            "POST",
            &format!("/api/v1/rooms/{room}/messages"),
            Some(body),
        )
        .await
    }
}

fn body_bytes(body: Option<Value>) -> Vec<u8> {
    body.map(|v| serde_json::to_vec(&v).unwrap())
        .unwrap_or_default()
}

/// A node on a memory store behind a switch: when off, every call fails
/// with `Unavailable` (as an unreachable database would).
pub struct FlakyStore {
    inner: MemoryStore,
    pub down: AtomicBool,
}

impl FlakyStore {
    pub fn new() -> Arc<FlakyStore> {
        Arc::new(FlakyStore {
            inner: MemoryStore::default(),
            down: AtomicBool::new(false),
        })
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable {
                retry_after: Duration::from_millis(2500),
                reason: "switched off by the test".into(),
            })
        } else {
            Ok(())
        }
    }
}

macro_rules! flaky_store_impl {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        #[async_trait]
        impl Store for FlakyStore {
            fn kind(&self) -> StoreKind {
                StoreKind::Memory
            }

            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    self.check()?;
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    };
}

flaky_store_impl! {
    fn health(&self) -> ();
    fn create_user(&self, user: &UserRecord) -> ();
    fn get_user(&self, id: UserId) -> UserRecord;
    fn get_user_by_name(&self, name: &str) -> UserRecord;
    fn list_users(&self, query: &UserQuery) -> Page<UserRecord>;
    fn create_room(&self, room: &RoomRecord, owner: &MemberRecord, envelope: Option<&EnvelopeRecord>) -> RoomRecord;
    fn get_room(&self, id: RoomId) -> RoomRecord;
    fn list_rooms(&self, query: &RoomQuery) -> Page<RoomRecord>;
    fn update_room(&self, id: RoomId, expected_version: u64, update: &RoomUpdate, now: u64) -> RoomRecord;
    fn delete_room(&self, id: RoomId) -> ();
    fn add_member(&self, room_id: RoomId, member: &NewMember, invite: Option<&str>) -> (RoomRecord, MemberRecord);
    fn get_member(&self, room_id: RoomId, user_id: UserId) -> MemberRecord;
    fn list_members(&self, room_id: RoomId, limit: u32, cursor: Option<&Cursor>) -> Page<MemberRecord>;
    fn list_memberships(&self, user_id: UserId, limit: u32, cursor: Option<&Cursor>) -> Page<MemberRecord>;
    fn set_role(&self, room_id: RoomId, user_id: UserId, role: Role) -> MemberRecord;
    fn remove_member(&self, room_id: RoomId, user_id: UserId, reason: LeaveReason, now: u64) -> Removal;
    fn is_banned(&self, room_id: RoomId, user_id: UserId) -> bool;
    fn unban(&self, room_id: RoomId, user_id: UserId) -> ();
    fn create_invite(&self, invite: &InviteRecord) -> ();
    fn consume_invite(&self, room_id: RoomId, code: &str, now: u64) -> InviteRecord;
    fn delete_invite(&self, room_id: RoomId, code: &str) -> ();
    fn put_envelopes(&self, envelopes: &[EnvelopeRecord]) -> u32;
    fn get_envelope(&self, room_id: RoomId, epoch: u32, member_id: UserId) -> EnvelopeRecord;
    fn list_envelopes(&self, room_id: RoomId, member_id: UserId, from_epoch: u32, limit: u32) -> Vec<EnvelopeRecord>;
    fn rotate_epoch(&self, room_id: RoomId, current_epoch: u32, expected_version: u64, envelopes: &[EnvelopeRecord], now: u64) -> RoomRecord;
    fn append_message(&self, room_id: RoomId, message: &NewMessage) -> MessageRecord;
    fn list_messages(&self, room_id: RoomId, range: MessageRange, limit: u32) -> MessagePage;
    fn get_message(&self, room_id: RoomId, seq: u64) -> MessageRecord;
    fn tombstone_message(&self, room_id: RoomId, seq: u64) -> MessageRecord;
    fn count_messages(&self, room_id: RoomId) -> MessageCount;
    fn upsert_peer(&self, peer: &PeerRecord) -> ();
    fn get_peer(&self, node_id: NodeId) -> PeerRecord;
    fn list_peers(&self) -> Vec<PeerRecord>;
    fn remove_peer(&self, node_id: NodeId) -> ();
    fn append_audit(&self, entry: &NewAudit) -> AuditRecord;
    fn list_audit(&self, query: &AuditQuery) -> Page<AuditRecord>;
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A generous bound for "eventually" on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(30);
