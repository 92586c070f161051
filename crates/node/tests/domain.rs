//! The node's use cases without sockets: every rule of rooms, members, keys
//! and messages, on the memory store and a clock moved by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use peer_crypto::{IdentityKey, RoomKey, handshake, register, wrap_envelope};
use peer_node::{AuthMethod, Caller, ManualClock, Node, NodeConfig};
use peer_proto::api::*;
use peer_proto::event::EventKind;
use peer_proto::signed::MessageBody;
use peer_proto::{ErrorCode, RoomId};
use peer_store::MemoryStore;
use peer_testkit::keys::{alice, bob, carol, node as node_key, user_key};

const T0: u64 = 1_700_000_000;

struct World {
    node: Node,
    clock: Arc<ManualClock>,
}

fn world_with(config: NodeConfig) -> World {
    let clock = Arc::new(ManualClock::new(T0));
    let mut config = config;
    config.password_cost = peer_node::password::PasswordCost {
        memory_kib: 64,
        iterations: 1,
    };
    let node = Node::with_clock(
        node_key().clone(),
        Arc::new(MemoryStore::default()),
        config,
        clock.clone(),
    );
    World { node, clock }
}

fn world() -> World {
    world_with(NodeConfig::default())
}

fn caller(key: &IdentityKey) -> Caller {
    Caller {
        user_id: key.user_id(),
        method: AuthMethod::Bearer,
    }
}

fn rng() -> peer_crypto::rng::SystemRng {
    peer_crypto::rng::system_rng()
}

impl World {
    async fn register(&self, key: &IdentityKey, name: &str) -> User {
        let req =
            register::register_user(&mut rng(), key, self.node.node_id(), name, self.node.now())
                .unwrap();
        self.node.register_user(req, None).await.unwrap()
    }

    async fn users(&self) {
        self.register(alice(), "alice").await;
        self.register(bob(), "bob").await;
        self.register(carol(), "carol").await;
    }

    /// An encrypted room owned by `owner`, with its key.
    async fn encrypted_room(&self, owner: &IdentityKey, rule: JoinRule) -> (RoomId, RoomKey) {
        let id = RoomId::from_bytes(rand16());
        let key = RoomKey::generate(&mut rng());
        let env = wrap_envelope(&mut rng(), owner, id, 1, owner.public(), &key).unwrap();
        let room = self
            .node
            .create_room(
                &caller(owner),
                CreateRoom {
                    id,
                    name: "secret".into(),
                    topic: String::new(),
                    visibility: Visibility::Public,
                    join_rule: rule,
                    password: (rule == JoinRule::Password).then(|| "pw".to_string()),
                    capacity: Some(3),
                    encrypted: true,
                    envelope: Some(env),
                },
            )
            .await
            .unwrap();
        assert_eq!(room.epoch, 1);
        assert_eq!(room.my_role, Some(Role::Owner));
        (id, key)
    }

    async fn plain_room(&self, owner: &IdentityKey, visibility: Visibility) -> RoomId {
        let id = RoomId::from_bytes(rand16());
        self.node
            .create_room(
                &caller(owner),
                CreateRoom {
                    id,
                    name: "plain".into(),
                    topic: "t".into(),
                    visibility,
                    join_rule: JoinRule::Open,
                    password: None,
                    capacity: None,
                    encrypted: false,
                    envelope: None,
                },
            )
            .await
            .unwrap();
        id
    }

    async fn post(
        &self,
        who: &IdentityKey,
        room: RoomId,
        key: &RoomKey,
        epoch: u32,
        text: &str,
    ) -> Result<Posted, ErrorCode> {
        let sealed = key
            .epoch_key(room, epoch)
            .encrypt(
                &mut rng(),
                who,
                &MessageBody {
                    text: text.into(),
                    sent_at: T0,
                    reply_to: None,
                },
            )
            .unwrap();
        self.node
            .post_message(&caller(who), room, sealed.to_post())
            .await
            .map_err(|e| e.code)
    }

    async fn grant(
        &self,
        by: &IdentityKey,
        room: RoomId,
        epoch: u32,
        key: &RoomKey,
        to: &IdentityKey,
    ) -> Result<KeysPosted, ErrorCode> {
        let env = wrap_envelope(&mut rng(), by, room, epoch, to.public(), key).unwrap();
        self.node
            .post_keys(
                &caller(by),
                room,
                PostKeys {
                    epoch,
                    envelopes: vec![env],
                    rotate: false,
                },
            )
            .await
            .map_err(|e| e.code)
    }
}

fn rand16() -> [u8; 16] {
    use rand_core::Rng as _;
    let mut b = [0u8; 16];
    rng().fill_bytes(&mut b);
    b
}

fn code<T: std::fmt::Debug>(r: Result<T, peer_node::NodeError>) -> ErrorCode {
    r.unwrap_err().code
}

#[tokio::test]
async fn registration_rules() {
    let w = world();
    let user = w.register(alice(), "Alice").await;
    assert_eq!(user.id, alice().user_id());
    // Same name in another case, another key: taken.
    let again = register::register_user(&mut rng(), bob(), w.node.node_id(), "ALICE", T0).unwrap();
    assert_eq!(
        code(w.node.register_user(again, None).await),
        ErrorCode::NameTaken
    );
    // Same key again: taken too.
    let again =
        register::register_user(&mut rng(), alice(), w.node.node_id(), "alice2", T0).unwrap();
    assert_eq!(
        code(w.node.register_user(again, None).await),
        ErrorCode::NameTaken
    );
    // Bad name.
    let bad = register::register_user(&mut rng(), bob(), w.node.node_id(), "b o b", T0).unwrap();
    assert_eq!(
        code(w.node.register_user(bad, None).await),
        ErrorCode::InvalidField
    );
    // Stale.
    let stale =
        register::register_user(&mut rng(), bob(), w.node.node_id(), "bob", T0 - 121).unwrap();
    assert_eq!(
        code(w.node.register_user(stale, None).await),
        ErrorCode::StaleTimestamp
    );
    // Tampered signature.
    let mut forged =
        register::register_user(&mut rng(), bob(), w.node.node_id(), "bob", T0).unwrap();
    forged.name = "mallory".into();
    assert_eq!(
        code(w.node.register_user(forged, None).await),
        ErrorCode::BadSignature
    );
    // Another node's registration.
    let other =
        register::register_user(&mut rng(), bob(), user_key(3).node_id(), "bob", T0).unwrap();
    assert!(w.node.register_user(other, None).await.is_err());

    let closed = world_with(NodeConfig {
        registration_open: false,
        ..NodeConfig::default()
    });
    let req = register::register_user(&mut rng(), bob(), closed.node.node_id(), "bob", T0).unwrap();
    assert_eq!(
        code(closed.node.register_user(req, None).await),
        ErrorCode::RegistrationClosed
    );
}

#[tokio::test]
async fn handshake_sessions_and_expiry() {
    let w = world_with(NodeConfig {
        session_idle: std::time::Duration::from_secs(60),
        ..NodeConfig::default()
    });
    w.users().await;
    for kex in [Kex::EcdhP256, Kex::RsaOaep] {
        let (expect, hello) =
            handshake::start(&mut rng(), alice(), w.node.node_id(), kex, T0).unwrap();
        let reply = w.node.handshake(hello.clone(), None).await.unwrap();
        // The same hello again is a replay.
        assert_eq!(
            code(w.node.handshake(hello, None).await),
            ErrorCode::ReplayedNonce
        );
        let session = expect
            .finish(&mut rng(), &reply, node_key().public(), T0)
            .unwrap();
        let req = session
            .prepare_request(&mut rng(), "GET", "/api/v1/rooms", b"", false)
            .unwrap();
        let h = &req.headers;
        let parsed =
            peer_crypto::request::AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth)
                .unwrap();
        let (who, _) = w
            .node
            .authenticate(&parsed, "GET", "/api/v1/rooms", &req.body, false)
            .unwrap();
        assert_eq!(who.user_id, alice().user_id());
        // The same request again: replay.
        assert_eq!(
            code(
                w.node
                    .authenticate(&parsed, "GET", "/api/v1/rooms", &req.body, false)
            ),
            ErrorCode::ReplayedRequest
        );
        // Idle too long: expired.
        w.clock.advance(61);
        let req = session
            .prepare_request(&mut rng(), "GET", "/api/v1/rooms", b"", false)
            .unwrap();
        let h = &req.headers;
        let parsed =
            peer_crypto::request::AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth)
                .unwrap();
        assert_eq!(
            code(
                w.node
                    .authenticate(&parsed, "GET", "/api/v1/rooms", &req.body, false)
            ),
            ErrorCode::SessionExpired
        );
        w.clock.set(T0);
    }
    // Unknown users get unknown_identity.
    let (_, hello) =
        handshake::start(&mut rng(), user_key(3), w.node.node_id(), Kex::EcdhP256, T0).unwrap();
    assert_eq!(
        code(w.node.handshake(hello, None).await),
        ErrorCode::UnknownIdentity
    );
}

#[tokio::test]
async fn handshakes_are_rate_limited_per_source() {
    let w = world_with(NodeConfig {
        handshake_rate: peer_node::ratelimit::Rate {
            per_sec: 1,
            burst: 2,
        },
        ..NodeConfig::default()
    });
    w.users().await;
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut limited = None;
    for _ in 0..3 {
        let (_, hello) =
            handshake::start(&mut rng(), alice(), w.node.node_id(), Kex::EcdhP256, T0).unwrap();
        if let Err(e) = w.node.handshake(hello, Some(ip)).await {
            limited = Some(e);
        }
    }
    let e = limited.expect("third handshake within a second is limited");
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.retry_after.is_some());
}

#[tokio::test]
async fn tokens() {
    let w = world();
    w.users().await;
    let session_caller = Caller {
        user_id: alice().user_id(),
        method: AuthMethod::Session(peer_proto::SessionId::from_bytes([1; 16])),
    };
    let t = w
        .node
        .issue_token(&session_caller, TokenRequest { ttl_secs: Some(10) })
        .unwrap();
    assert_eq!(
        w.node.authenticate_bearer(&t.token).unwrap().user_id,
        alice().user_id()
    );
    assert_eq!(
        code(w.node.authenticate_bearer("AAAA")),
        ErrorCode::InvalidToken
    );
    assert_eq!(
        code(w.node.authenticate_bearer("not base64!")),
        ErrorCode::InvalidToken
    );
    // Tokens do not mint tokens.
    assert_eq!(
        code(
            w.node
                .issue_token(&caller(alice()), TokenRequest::default())
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            w.node
                .issue_token(&session_caller, TokenRequest { ttl_secs: Some(0) })
        ),
        ErrorCode::InvalidField
    );
    w.clock.advance(10);
    assert_eq!(
        code(w.node.authenticate_bearer(&t.token)),
        ErrorCode::InvalidToken
    );
    let off = world_with(NodeConfig {
        bearer_tokens: false,
        ..NodeConfig::default()
    });
    assert_eq!(
        code(
            off.node
                .issue_token(&session_caller, TokenRequest::default())
        ),
        ErrorCode::TokensDisabled
    );
}

#[tokio::test]
async fn creating_rooms_checks_everything() {
    let w = world();
    w.users().await;
    let a = caller(alice());
    let base = CreateRoom {
        id: RoomId::from_bytes([1; 16]),
        name: "r".into(),
        topic: String::new(),
        visibility: Visibility::Public,
        join_rule: JoinRule::Open,
        password: None,
        capacity: None,
        encrypted: true,
        envelope: None,
    };
    assert_eq!(
        code(w.node.create_room(&a, base.clone()).await),
        ErrorCode::InvalidField
    );
    let key = RoomKey::generate(&mut rng());
    // An envelope wrapped for someone else, or for another epoch or room.
    for env in [
        wrap_envelope(&mut rng(), alice(), base.id, 1, bob().public(), &key).unwrap(),
        wrap_envelope(&mut rng(), alice(), base.id, 2, alice().public(), &key).unwrap(),
        wrap_envelope(
            &mut rng(),
            alice(),
            RoomId::from_bytes([2; 16]),
            1,
            alice().public(),
            &key,
        )
        .unwrap(),
        wrap_envelope(&mut rng(), bob(), base.id, 1, alice().public(), &key).unwrap(),
    ] {
        let req = CreateRoom {
            envelope: Some(env),
            ..base.clone()
        };
        assert_eq!(
            code(w.node.create_room(&a, req).await),
            ErrorCode::InvalidEnvelope
        );
    }
    // A forged signature.
    let mut env = wrap_envelope(&mut rng(), alice(), base.id, 1, alice().public(), &key).unwrap();
    env.signature.0[0] ^= 1;
    let req = CreateRoom {
        envelope: Some(env),
        ..base.clone()
    };
    assert_eq!(
        code(w.node.create_room(&a, req).await),
        ErrorCode::InvalidEnvelope
    );
    // Unencrypted rooms take no envelope; password rooms need a password.
    let env = wrap_envelope(&mut rng(), alice(), base.id, 1, alice().public(), &key).unwrap();
    let req = CreateRoom {
        encrypted: false,
        envelope: Some(env.clone()),
        ..base.clone()
    };
    assert_eq!(
        code(w.node.create_room(&a, req).await),
        ErrorCode::InvalidField
    );
    let req = CreateRoom {
        join_rule: JoinRule::Password,
        envelope: Some(env.clone()),
        ..base.clone()
    };
    assert_eq!(
        code(w.node.create_room(&a, req).await),
        ErrorCode::InvalidField
    );
    for (name, cap) in [
        ("", None),
        (&"x".repeat(65)[..], None),
        ("ok", Some(1)),
        ("ok", Some(10_001)),
    ] {
        let req = CreateRoom {
            name: name.into(),
            capacity: cap,
            envelope: Some(env.clone()),
            ..base.clone()
        };
        assert_eq!(
            code(w.node.create_room(&a, req).await),
            ErrorCode::InvalidField,
            "{name} {cap:?}"
        );
    }
    let req = CreateRoom {
        envelope: Some(env.clone()),
        ..base.clone()
    };
    w.node.create_room(&a, req.clone()).await.unwrap();
    assert_eq!(
        code(w.node.create_room(&a, req).await),
        ErrorCode::RoomExists
    );
}

#[tokio::test]
async fn visibility_and_listing() {
    let w = world();
    w.users().await;
    let public = w.plain_room(alice(), Visibility::Public).await;
    let private = w.plain_room(alice(), Visibility::Private).await;
    let b = caller(bob());
    assert_eq!(
        code(w.node.get_room(&b, private).await),
        ErrorCode::RoomNotFound
    );
    let seen = w.node.get_room(&b, public).await.unwrap();
    assert!(seen.members.is_none(), "non-members do not see members");
    assert_eq!(seen.my_role, None);
    let list = w.node.list_rooms(&b, RoomQuery::default()).await.unwrap();
    assert_eq!(
        list.rooms.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![public]
    );
    let list = w
        .node
        .list_rooms(&caller(alice()), RoomQuery::default())
        .await
        .unwrap();
    assert_eq!(list.rooms.len(), 2);
    assert!(list.rooms.iter().all(|r| r.my_role == Some(Role::Owner)));
    // Joining a private open room by id works; then it is listed.
    w.node
        .join_room(&b, private, JoinRoom::default())
        .await
        .unwrap();
    let list = w.node.list_rooms(&b, RoomQuery::default()).await.unwrap();
    assert_eq!(list.rooms.len(), 2);
    // Pagination with a limit of 1.
    let page = w
        .node
        .list_rooms(
            &b,
            RoomQuery {
                limit: Some(1),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.rooms.len(), 1);
    let next = w
        .node
        .list_rooms(
            &b,
            RoomQuery {
                limit: Some(1),
                cursor: page.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(next.rooms.len(), 1);
    assert_ne!(next.rooms[0].id, page.rooms[0].id);
    assert!(next.next_cursor.is_none());
    assert_eq!(
        code(
            w.node
                .list_rooms(
                    &b,
                    RoomQuery {
                        limit: Some(0),
                        cursor: None
                    }
                )
                .await
        ),
        ErrorCode::InvalidQuery
    );
    assert_eq!(
        code(
            w.node
                .list_rooms(
                    &b,
                    RoomQuery {
                        limit: None,
                        cursor: Some("garbage".into())
                    }
                )
                .await
        ),
        ErrorCode::InvalidQuery
    );
}

#[tokio::test]
async fn join_rules_capacity_and_bans() {
    let w = world();
    w.users().await;
    for i in 3..4 {
        w.register(user_key(i), &format!("user{i}")).await;
    }
    let (room, _) = w.encrypted_room(alice(), JoinRule::Password).await;
    let b = caller(bob());
    assert_eq!(
        code(w.node.join_room(&b, room, JoinRoom::default()).await),
        ErrorCode::WrongPassword
    );
    let wrong = JoinRoom {
        password: Some("nope".into()),
        invite: None,
    };
    assert_eq!(
        code(w.node.join_room(&b, room, wrong).await),
        ErrorCode::WrongPassword
    );
    let right = JoinRoom {
        password: Some("pw".into()),
        invite: None,
    };
    let joined = w.node.join_room(&b, room, right.clone()).await.unwrap();
    assert!(joined.key_pending);
    assert_eq!(joined.room.member_count, 2);
    assert_eq!(
        code(w.node.join_room(&b, room, right.clone()).await),
        ErrorCode::AlreadyMember
    );
    // Capacity 3: carol fills it, user3 is refused.
    w.node
        .join_room(&caller(carol()), room, right.clone())
        .await
        .unwrap();
    assert_eq!(
        code(
            w.node
                .join_room(&caller(user_key(3)), room, right.clone())
                .await
        ),
        ErrorCode::RoomFull
    );
    // Ban carol: she cannot come back.
    let removed = w
        .node
        .kick(
            &caller(alice()),
            room,
            Kick {
                user_id: carol().user_id(),
                ban: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(removed.reason, LeaveReason::Banned);
    assert_eq!(
        code(w.node.join_room(&caller(carol()), room, right).await),
        ErrorCode::Banned
    );

    // Invite rooms: a code with one use works once.
    let (iroom, _) = w.encrypted_room(alice(), JoinRule::Invite).await;
    assert_eq!(
        code(w.node.join_room(&b, iroom, JoinRoom::default()).await),
        ErrorCode::InvalidInvite
    );
    let invite = w
        .node
        .create_invite(
            &caller(alice()),
            iroom,
            CreateInvite {
                uses: Some(1),
                expires_in_secs: Some(60),
            },
        )
        .await
        .unwrap();
    assert!(!format!("{invite:?}").contains(&invite.code));
    let with = |code: &str| JoinRoom {
        password: None,
        invite: Some(code.to_string()),
    };
    assert_eq!(
        code(w.node.join_room(&b, iroom, with("bogus")).await),
        ErrorCode::InvalidInvite
    );
    w.node
        .join_room(&b, iroom, with(&invite.code))
        .await
        .unwrap();
    assert_eq!(
        code(
            w.node
                .join_room(&caller(carol()), iroom, with(&invite.code))
                .await
        ),
        ErrorCode::InvalidInvite
    );
    // Members may not invite; expired codes do not work.
    assert_eq!(
        code(
            w.node
                .create_invite(&b, iroom, CreateInvite::default())
                .await
        ),
        ErrorCode::Forbidden
    );
    let short = w
        .node
        .create_invite(
            &caller(alice()),
            iroom,
            CreateInvite {
                uses: Some(5),
                expires_in_secs: Some(10),
            },
        )
        .await
        .unwrap();
    w.clock.advance(10);
    assert_eq!(
        code(
            w.node
                .join_room(&caller(carol()), iroom, with(&short.code))
                .await
        ),
        ErrorCode::InvalidInvite
    );
    assert_eq!(
        code(
            w.node
                .create_invite(
                    &caller(alice()),
                    iroom,
                    CreateInvite {
                        uses: Some(0),
                        expires_in_secs: None
                    }
                )
                .await
        ),
        ErrorCode::InvalidField
    );
}

#[tokio::test]
async fn roles_and_who_may_remove_whom() {
    let w = world();
    w.users().await;
    let room = w.plain_room(alice(), Visibility::Public).await;
    let (a, b, c) = (caller(alice()), caller(bob()), caller(carol()));
    w.node
        .join_room(&b, room, JoinRoom::default())
        .await
        .unwrap();
    w.node
        .join_room(&c, room, JoinRoom::default())
        .await
        .unwrap();
    // Only the owner sets roles; nobody becomes owner.
    let to_admin = SetRole {
        user_id: bob().user_id(),
        role: Role::Admin,
    };
    assert_eq!(
        code(w.node.set_member_role(&c, room, to_admin.clone()).await),
        ErrorCode::Forbidden
    );
    let owner = SetRole {
        user_id: bob().user_id(),
        role: Role::Owner,
    };
    assert_eq!(
        code(w.node.set_member_role(&a, room, owner).await),
        ErrorCode::InvalidField
    );
    assert_eq!(
        w.node
            .set_member_role(&a, room, to_admin)
            .await
            .unwrap()
            .role,
        Role::Admin
    );
    // An admin kicks a member, not the owner; a member kicks nobody.
    assert_eq!(
        code(
            w.node
                .kick(
                    &c,
                    room,
                    Kick {
                        user_id: bob().user_id(),
                        ban: false
                    }
                )
                .await
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            w.node
                .kick(
                    &b,
                    room,
                    Kick {
                        user_id: alice().user_id(),
                        ban: false
                    }
                )
                .await
        ),
        ErrorCode::Forbidden
    );
    w.node
        .kick(
            &b,
            room,
            Kick {
                user_id: carol().user_id(),
                ban: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        code(
            w.node
                .kick(
                    &b,
                    room,
                    Kick {
                        user_id: carol().user_id(),
                        ban: false
                    }
                )
                .await
        ),
        ErrorCode::NotMember
    );
    // Kicked (not banned) users may return.
    w.node
        .join_room(&c, room, JoinRoom::default())
        .await
        .unwrap();
    // The owner cannot leave; members can; only the owner deletes.
    assert_eq!(
        code(w.node.leave_room(&a, room).await),
        ErrorCode::Forbidden
    );
    w.node.leave_room(&c, room).await.unwrap();
    assert_eq!(
        code(w.node.leave_room(&c, room).await),
        ErrorCode::NotMember
    );
    assert_eq!(
        code(w.node.delete_room(&b, room).await),
        ErrorCode::Forbidden
    );
    w.node.delete_room(&a, room).await.unwrap();
    assert_eq!(
        code(w.node.get_room(&a, room).await),
        ErrorCode::RoomNotFound
    );
}

#[tokio::test]
async fn updates_keep_passwords_secret_and_check_limits() {
    let w = world();
    w.users().await;
    let room = w.plain_room(alice(), Visibility::Public).await;
    let a = caller(alice());
    let pw = UpdateRoom {
        join_rule: Some(JoinRule::Password),
        ..Default::default()
    };
    assert_eq!(
        code(w.node.update_room(&a, room, pw).await),
        ErrorCode::InvalidField
    );
    let pw = UpdateRoom {
        join_rule: Some(JoinRule::Password),
        password: Some("s3cret".into()),
        topic: Some("new".into()),
        ..Default::default()
    };
    let updated = w.node.update_room(&a, room, pw).await.unwrap();
    assert_eq!(updated.join_rule, JoinRule::Password);
    assert_eq!(updated.topic, "new");
    let json = serde_json::to_string(&updated).unwrap();
    assert!(!json.contains("s3cret") && !json.contains("argon2"));
    let b = caller(bob());
    assert_eq!(
        code(w.node.join_room(&b, room, JoinRoom::default()).await),
        ErrorCode::WrongPassword
    );
    w.node
        .join_room(
            &b,
            room,
            JoinRoom {
                password: Some("s3cret".into()),
                invite: None,
            },
        )
        .await
        .unwrap();
    // Capacity below the member count is refused; members cannot update.
    let cap = UpdateRoom {
        capacity: Some(2),
        ..Default::default()
    };
    w.node.update_room(&a, room, cap).await.unwrap();
    w.node
        .update_room(
            &a,
            room,
            UpdateRoom {
                capacity: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.node
        .join_room(
            &caller(carol()),
            room,
            JoinRoom {
                password: Some("s3cret".into()),
                invite: None,
            },
        )
        .await
        .unwrap();
    let cap = UpdateRoom {
        capacity: Some(2),
        ..Default::default()
    };
    assert_eq!(
        code(w.node.update_room(&a, room, cap).await),
        ErrorCode::InvalidField
    );
    assert_eq!(
        code(w.node.update_room(&b, room, UpdateRoom::default()).await),
        ErrorCode::Forbidden
    );
    // Back to open forgets the password requirement.
    let open = UpdateRoom {
        join_rule: Some(JoinRule::Open),
        ..Default::default()
    };
    w.node.update_room(&a, room, open).await.unwrap();
    let audit = w
        .node
        .store()
        .list_audit(&peer_store::query::AuditQuery {
            filter: peer_store::query::AuditFilter::Room(room),
            limit: 100,
            cursor: None,
        })
        .await
        .unwrap();
    assert!(audit.items.iter().any(|e| e.action == "room.update"));
    assert!(audit.items.iter().all(|e| !e.detail.contains("s3cret")));
}

#[tokio::test]
async fn key_lifecycle_and_the_removal_rule() {
    let w = world();
    w.users().await;
    let (room, key1) = w.encrypted_room(alice(), JoinRule::Open).await;
    let (a, b, c) = (caller(alice()), caller(bob()), caller(carol()));
    w.node
        .join_room(&b, room, JoinRoom::default())
        .await
        .unwrap();
    w.node
        .join_room(&c, room, JoinRoom::default())
        .await
        .unwrap();
    // Members cannot hand out keys; owners can, for members only.
    assert_eq!(
        w.grant(bob(), room, 1, &key1, carol()).await.unwrap_err(),
        ErrorCode::Forbidden
    );
    assert_eq!(
        w.grant(alice(), room, 1, &key1, user_key(3))
            .await
            .unwrap_err(),
        ErrorCode::InvalidEnvelope
    );
    assert_eq!(
        w.grant(alice(), room, 3, &key1, bob()).await.unwrap_err(),
        ErrorCode::WrongEpoch
    );
    assert_eq!(
        w.grant(alice(), room, 1, &key1, bob())
            .await
            .unwrap()
            .stored,
        1
    );
    assert_eq!(
        w.grant(alice(), room, 1, &key1, carol())
            .await
            .unwrap()
            .stored,
        1
    );
    let keys = w.node.get_keys(&b, room).await.unwrap();
    assert_eq!(keys.current_epoch, 1);
    assert_eq!(keys.envelopes.len(), 1);
    assert_eq!(keys.envelopes[0].member_id, bob().user_id());
    w.post(bob(), room, &key1, 1, "hello").await.unwrap();

    // Carol is kicked: nobody posts until a rotation.
    w.node
        .kick(
            &a,
            room,
            Kick {
                user_id: carol().user_id(),
                ban: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.post(bob(), room, &key1, 1, "x").await.unwrap_err(),
        ErrorCode::RotationPending
    );
    assert!(w.node.get_room(&a, room).await.unwrap().rotation_due);
    assert_eq!(code(w.node.get_keys(&c, room).await), ErrorCode::NotMember);

    // A rotation must cover exactly the members.
    let key2 = RoomKey::generate(&mut rng());
    let env =
        |to: &IdentityKey| wrap_envelope(&mut rng(), alice(), room, 2, to.public(), &key2).unwrap();
    let post = |envelopes| PostKeys {
        epoch: 2,
        envelopes,
        rotate: true,
    };
    assert_eq!(
        code(w.node.post_keys(&a, room, post(vec![env(alice())])).await),
        ErrorCode::IncompleteEnvelopes
    );
    assert_eq!(
        code(
            w.node
                .post_keys(&a, room, post(vec![env(alice()), env(bob()), env(carol())]))
                .await
        ),
        ErrorCode::IncompleteEnvelopes
    );
    assert_eq!(
        code(
            w.node
                .post_keys(&a, room, post(vec![env(alice()), env(alice())]))
                .await
        ),
        ErrorCode::InvalidEnvelope
    );
    assert_eq!(
        code(
            w.node
                .post_keys(&b, room, post(vec![env(alice()), env(bob())]))
                .await
        ),
        ErrorCode::Forbidden
    );
    let bad_epoch = PostKeys {
        epoch: 3,
        envelopes: vec![env(alice())],
        rotate: true,
    };
    assert_eq!(
        code(w.node.post_keys(&a, room, bad_epoch).await),
        ErrorCode::WrongEpoch
    );
    let done = w
        .node
        .post_keys(&a, room, post(vec![env(alice()), env(bob())]))
        .await
        .unwrap();
    assert!(done.rotated);
    assert_eq!(done.current_epoch, 2);
    assert!(!w.node.get_room(&a, room).await.unwrap().rotation_due);

    // A second manager's rotation to the same epoch, arriving late, is a
    // conflict: its key (which nobody else has) is not stored for anyone.
    let late_key = RoomKey::generate(&mut rng());
    let late = |to: &IdentityKey| {
        wrap_envelope(&mut rng(), alice(), room, 2, to.public(), &late_key).unwrap()
    };
    let stored_before = w.node.get_keys(&b, room).await.unwrap().envelopes;
    assert_eq!(
        code(
            w.node
                .post_keys(
                    &a,
                    room,
                    PostKeys {
                        epoch: 2,
                        envelopes: vec![late(alice()), late(bob())],
                        rotate: true,
                    },
                )
                .await
        ),
        ErrorCode::Conflict
    );
    assert_eq!(
        w.node.get_keys(&b, room).await.unwrap().envelopes,
        stored_before
    );

    // Old epoch refused, new one accepted; carol's old key cannot read it.
    assert_eq!(
        w.post(bob(), room, &key1, 1, "old").await.unwrap_err(),
        ErrorCode::EpochOutdated
    );
    assert_eq!(
        w.post(bob(), room, &key2, 3, "future").await.unwrap_err(),
        ErrorCode::WrongEpoch
    );
    let posted = w.post(bob(), room, &key2, 2, "after").await.unwrap();
    let page = w
        .node
        .list_messages(
            &b,
            room,
            MessageQuery {
                after: Some(posted.seq - 1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let msg = &page.messages[0];
    assert!(
        key1.epoch_key(room, 2)
            .decrypt_message(msg, bob().public())
            .is_err()
    );
    let body = key2
        .epoch_key(room, 2)
        .decrypt_message(msg, bob().public())
        .unwrap();
    assert_eq!(body.text, "after");
    // Bob's keys now list both epochs.
    assert_eq!(w.node.get_keys(&b, room).await.unwrap().envelopes.len(), 2);
}

#[tokio::test]
async fn messages_pages_long_polls_and_tombstones() {
    let w = world();
    w.users().await;
    let room = w.plain_room(alice(), Visibility::Public).await;
    let (a, b, c) = (caller(alice()), caller(bob()), caller(carol()));
    w.node
        .join_room(&b, room, JoinRoom::default())
        .await
        .unwrap();
    let text = |t: &str| PostMessage {
        epoch: None,
        ciphertext: None,
        signature: None,
        text: Some(t.into()),
    };
    for i in 1..=5 {
        assert_eq!(
            w.node
                .post_message(&b, room, text(&format!("m{i}")))
                .await
                .unwrap()
                .seq,
            i
        );
    }
    // Non-members neither read nor post; encrypted fields are refused here.
    assert_eq!(
        code(w.node.post_message(&c, room, text("x")).await),
        ErrorCode::NotMember
    );
    assert_eq!(
        code(
            w.node
                .list_messages(&c, room, MessageQuery::default())
                .await
        ),
        ErrorCode::NotMember
    );
    let enc = PostMessage {
        epoch: Some(1),
        ciphertext: Some(vec![1].into()),
        signature: Some(vec![1].into()),
        text: None,
    };
    assert_eq!(
        code(w.node.post_message(&b, room, enc).await),
        ErrorCode::InvalidField
    );
    assert_eq!(
        code(w.node.post_message(&b, room, text("")).await),
        ErrorCode::InvalidField
    );
    assert_eq!(
        code(
            w.node
                .post_message(&b, room, text(&"x".repeat(64 * 1024 + 1)))
                .await
        ),
        ErrorCode::InvalidField
    );

    let page = w
        .node
        .list_messages(
            &a,
            room,
            MessageQuery {
                after: Some(1),
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert!(page.more);
    assert_eq!(page.last_seq, 5);
    let page = w
        .node
        .list_messages(
            &a,
            room,
            MessageQuery {
                before: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![2, 1]
    );
    for bad in [
        MessageQuery {
            after: Some(1),
            before: Some(3),
            ..Default::default()
        },
        MessageQuery {
            limit: Some(501),
            ..Default::default()
        },
        MessageQuery {
            after: Some(1),
            wait: Some(61),
            ..Default::default()
        },
        MessageQuery {
            before: Some(1),
            wait: Some(1),
            ..Default::default()
        },
    ] {
        assert_eq!(
            code(w.node.list_messages(&a, room, bad.clone()).await),
            ErrorCode::InvalidQuery,
            "{bad:?}"
        );
    }

    // A long-poll is woken by a post.
    let waiter = {
        let node = w.node.clone();
        tokio::spawn(async move {
            node.list_messages(
                &a,
                room,
                MessageQuery {
                    after: Some(5),
                    wait: Some(30),
                    ..Default::default()
                },
            )
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    w.node.post_message(&b, room, text("m6")).await.unwrap();
    let woke = tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        woke.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![6]
    );
    // And times out empty.
    let empty = w
        .node
        .list_messages(
            &a,
            room,
            MessageQuery {
                after: Some(6),
                wait: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(empty.messages.is_empty());

    // Tombstones: the sender or an admin, not another member.
    w.node
        .join_room(&c, room, JoinRoom::default())
        .await
        .unwrap();
    assert_eq!(
        code(w.node.delete_message(&c, room, 1).await),
        ErrorCode::Forbidden
    );
    w.node.delete_message(&b, room, 1).await.unwrap();
    w.node.delete_message(&a, room, 2).await.unwrap();
    assert_eq!(
        code(w.node.delete_message(&a, room, 99).await),
        ErrorCode::MessageNotFound
    );
    let page = w
        .node
        .list_messages(
            &a,
            room,
            MessageQuery {
                before: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(page.messages.iter().all(|m| m.deleted && m.text.is_none()));
}

#[tokio::test]
async fn event_streams_follow_membership_and_are_bounded() {
    let w = world_with(NodeConfig {
        max_streams_per_user: 2,
        ..NodeConfig::default()
    });
    w.users().await;
    let room = w.plain_room(alice(), Visibility::Public).await;
    let other = w.plain_room(carol(), Visibility::Public).await;
    let (a, b) = (caller(alice()), caller(bob()));
    let mut bob_events = w.node.subscribe(&b, None).await.unwrap();
    let _second = w.node.subscribe(&b, None).await.unwrap();
    assert_eq!(
        code(w.node.subscribe(&b, None).await),
        ErrorCode::TooManyStreams
    );
    drop(_second);
    let _again = w.node.subscribe(&b, None).await.unwrap();

    w.node
        .join_room(&b, room, JoinRoom::default())
        .await
        .unwrap();
    let text = PostMessage {
        epoch: None,
        ciphertext: None,
        signature: None,
        text: Some("hi".into()),
    };
    w.node
        .post_message(&caller(carol()), other, text.clone())
        .await
        .unwrap();
    w.node.post_message(&a, room, text).await.unwrap();

    assert!(matches!(
        next(&mut bob_events).await.kind,
        EventKind::MemberJoined { .. }
    ));
    let e = next(&mut bob_events).await;
    assert!(
        matches!(e.kind, EventKind::Message { room_id, seq: 1, .. } if room_id == room),
        "{e:?}"
    );
    w.node
        .kick(
            &a,
            room,
            Kick {
                user_id: bob().user_id(),
                ban: false,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        next(&mut bob_events).await.kind,
        EventKind::MemberLeft {
            reason: LeaveReason::Kicked,
            ..
        }
    ));
    // Resume from an id replays what came after it.
    let mut resumed = w.node.subscribe(&a, Some(e.id - 1)).await.unwrap();
    assert_eq!(resumed.resume(), peer_node::Resume::Complete);
    let again = next(&mut resumed).await;
    assert_eq!(again.id, e.id);
}

async fn next(s: &mut peer_node::EventStream) -> std::sync::Arc<peer_proto::event::Event> {
    tokio::time::timeout(std::time::Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap()
}
