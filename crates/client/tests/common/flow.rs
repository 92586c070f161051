//! The whole flow of three users against a node on 127.0.0.1, for any store
//! and any client options (key exchange, sealed bodies).

use std::sync::Arc;

use peer_client::{
    AgentAction, Client, ClientError, ClientOptions, MessageError, RoomSettings, Verification,
};
use peer_http::server::ServerConfig;
use peer_node::{AuthMethod, Caller, NodeConfig};
use peer_proto::api::{
    CreateInvite, JoinRoom, LeaveReason, MessageQuery, Role, RoomQuery, UpdateRoom, UserQuery,
};
use peer_proto::event::{Event, EventKind};
use peer_proto::signed::MessageBody;
use peer_proto::{ErrorCode, RoomId};
use peer_store::Store;
use peer_store::query::{AuditFilter, AuditQuery, MessageRange};
use peer_testkit::keys;
use peer_testkit::node::{RawRequest, TestNode, send};

use super::{PATIENCE, assert_api, next_matching, user, within};

const HELLO: &str = "attack at dawn, bob";
const REPLY: &str = "bring the maps, alice";
const FORGED: &str = "forged: alice never wrote this";
const PW_TEXT: &str = "the password room's secret";
const INVITE_TEXT: &str = "only for invited eyes";
const AFTER: &str = "after the rotation: carol must not read this";
const LAST: &str = "one more, announced by an event";
const PLAIN: &str = "lobby text stored as is";
const PASSWORD: &str = "open sesame 42";

fn join() -> JoinRoom {
    JoinRoom::default()
}

fn with_password(pw: &str) -> JoinRoom {
    JoinRoom {
        password: Some(pw.to_owned()),
        invite: None,
    }
}

fn is_room_event(e: &Event, room: RoomId, name: &str) -> bool {
    e.kind.room_id() == Some(room) && e.kind.name() == name
}

/// Feeds events to `client` as an agent would, until one yields an action
/// that `want` accepts (bounded in count and time).
async fn agent_until(
    client: &Client,
    stream: &mut peer_client::EventStream,
    what: &str,
    want: impl Fn(&AgentAction) -> bool,
) -> AgentAction {
    within(what, async {
        for _ in 0..1000 {
            let event = match stream.next().await {
                Some(Ok(e)) => e,
                Some(Err(e)) => panic!("event stream failed waiting for {what}: {e}"),
                None => panic!("event stream ended waiting for {what}"),
            };
            if let Some(action) = client.handle_event(&event).await.unwrap()
                && want(&action)
            {
                return action;
            }
        }
        panic!("no {what} among 1000 events")
    })
    .await
}

/// Three users, every room kind, key distribution, rotation after a ban,
/// forged and outdated messages, an expired session, and a store that never
/// sees plaintext of an encrypted room.
pub(crate) async fn whole_flow(store: Arc<dyn Store>, opts: ClientOptions) {
    let node = TestNode::start_with(store, NodeConfig::default(), ServerConfig::default()).await;
    let url = node.url().to_owned();
    let alice = user(&url, keys::alice(), "alice", &opts).await;
    let bob = user(&url, keys::bob(), "bob", &opts).await;
    let carol = user(&url, keys::carol(), "carol", &opts).await;
    let mut rng = peer_crypto::rng::system_rng();

    // ---- an encrypted open room: join -> key_request -> distribute -> read
    let r = alice
        .create_room(RoomSettings::new("plans").topic("q3"))
        .await
        .unwrap();
    assert!(r.encrypted);
    assert_eq!((r.epoch, r.my_role), (1, Some(Role::Owner)));
    let mut agent = alice.events(None).await.unwrap();
    let joined = bob.join_room(r.id, &join()).await.unwrap();
    assert!(joined.key_pending);
    match bob.send_text(r.id, "too early").await {
        Err(ClientError::NoRoomKey { room, epoch: 1 }) if room == r.id => {}
        other => panic!("bob has no key yet: {other:?}"),
    }
    let request = next_matching(
        &mut agent,
        "bob's key request",
        |e| matches!(&e.kind, EventKind::KeyRequest { user_id, .. } if *user_id == bob.user_id()),
    )
    .await;
    match alice.handle_event(&request).await.unwrap() {
        Some(AgentAction::KeyDistributed { room, user, posted }) => {
            assert_eq!((room, user, posted.stored), (r.id, bob.user_id(), 1));
        }
        other => panic!("expected a key distribution, got {other:?}"),
    }
    let hello = alice.send_text(r.id, HELLO).await.unwrap();
    let read = bob.read(r.id, 0, 100).await.unwrap();
    assert_eq!(read.len(), 1);
    let m = &read[0];
    assert_eq!(m.verified, Verification::Verified, "{m:?}");
    assert_eq!(m.text.as_deref(), Some(HELLO));
    assert_eq!(
        (m.seq, m.sender_id, m.epoch),
        (hello.seq, alice.user_id(), Some(1))
    );
    assert_eq!(m.sender_name.as_deref(), Some("alice"));
    assert!(m.error.is_none());
    bob.send(r.id, REPLY, Some(hello.seq)).await.unwrap();
    let read = alice.read(r.id, hello.seq, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].text.as_deref(), Some(REPLY));
    assert_eq!(read[0].reply_to, Some(hello.seq));
    assert_eq!(read[0].sender_name.as_deref(), Some("bob"));

    // ---- a password room
    let p = alice
        .create_room(RoomSettings::new("secret club").password(PASSWORD))
        .await
        .unwrap();
    assert_api(
        carol.join_room(p.id, &join()).await,
        ErrorCode::WrongPassword,
    );
    assert_api(
        carol.join_room(p.id, &with_password("not it")).await,
        ErrorCode::WrongPassword,
    );
    carol
        .join_room(p.id, &with_password(PASSWORD))
        .await
        .unwrap();
    assert_eq!(
        alice
            .distribute_key(p.id, carol.user_id())
            .await
            .unwrap()
            .stored,
        1
    );
    alice.send_text(p.id, PW_TEXT).await.unwrap();
    let read = carol.read(p.id, 0, 10).await.unwrap();
    assert_eq!(read[0].text.as_deref(), Some(PW_TEXT));
    assert_eq!(read[0].verified, Verification::Verified);

    // ---- an invite room
    let i = alice
        .create_room(RoomSettings::new("by invitation").invite_only().private())
        .await
        .unwrap();
    assert_api(
        carol.join_room(i.id, &join()).await,
        ErrorCode::InvalidInvite,
    );
    let invite = alice
        .create_invite(
            i.id,
            &CreateInvite {
                uses: Some(1),
                expires_in_secs: Some(600),
            },
        )
        .await
        .unwrap();
    let by_invite = JoinRoom {
        password: None,
        invite: Some(invite.code.clone()),
    };
    carol.join_room(i.id, &by_invite).await.unwrap();
    assert_api(
        bob.join_room(i.id, &by_invite).await,
        ErrorCode::InvalidInvite,
    );
    alice.distribute_key(i.id, carol.user_id()).await.unwrap();
    alice.send_text(i.id, INVITE_TEXT).await.unwrap();
    assert_eq!(
        carol.read(i.id, 0, 10).await.unwrap()[0].text.as_deref(),
        Some(INVITE_TEXT)
    );
    // A key goes to current members only.
    match alice.distribute_key(i.id, bob.user_id()).await {
        Err(ClientError::NotAMember { room, user }) => {
            assert_eq!((room, user), (i.id, bob.user_id()));
        }
        other => panic!("bob is not a member of the invite room: {other:?}"),
    }

    // ---- a third member of the first room
    carol.join_room(r.id, &join()).await.unwrap();
    agent_until(&alice, &mut agent, "carol's key", |a| {
        matches!(a, AgentAction::KeyDistributed { room, user, .. } if *room == r.id && *user == carol.user_id())
    })
    .await;
    let read = carol.read(r.id, 0, 100).await.unwrap();
    assert_eq!(
        read.iter().map(|m| m.text.as_deref()).collect::<Vec<_>>(),
        vec![Some(HELLO), Some(REPLY)],
        "a member reads from its join epoch on"
    );
    let carol_epoch1 = carol.room_key(r.id, 1).expect("carol holds epoch 1");

    // ---- a message signed by another member is reported, not hidden
    let forged = carol_epoch1
        .epoch_key(r.id, 1)
        .encrypt(
            &mut rng,
            keys::alice(),
            &MessageBody {
                text: FORGED.into(),
                sent_at: 1,
                reply_to: None,
            },
        )
        .unwrap()
        .to_post();
    let forged_at = bob.post_message(r.id, &forged).await.unwrap();
    let read = carol.read(r.id, 0, 100).await.unwrap();
    assert_eq!(read.len(), 3, "nothing is dropped");
    let f = read.iter().find(|m| m.seq == forged_at.seq).unwrap();
    assert_eq!(f.sender_id, bob.user_id());
    assert_eq!(f.verified, Verification::Failed);
    assert_eq!(f.error, Some(MessageError::BadSignature));
    assert!(f.text.is_none(), "unverified text is never shown");

    // ---- ban -> rotation pending -> the agent rotates -> the removed member is out
    let removed = alice.kick(r.id, carol.user_id(), true).await.unwrap();
    assert_eq!(removed.reason, LeaveReason::Banned);
    assert_api(
        bob.send_text(r.id, "blocked").await,
        ErrorCode::RotationPending,
    );
    assert!(alice.get_room(r.id).await.unwrap().rotation_due);
    match agent_until(
        &alice,
        &mut agent,
        "the rotation",
        |a| matches!(a, AgentAction::Rotated { room, .. } if *room == r.id),
    )
    .await
    {
        AgentAction::Rotated { posted, .. } => {
            assert!(posted.rotated);
            assert_eq!((posted.current_epoch, posted.stored), (2, 2));
        }
        other => panic!("{other:?}"),
    }
    let room = alice.get_room(r.id).await.unwrap();
    assert_eq!((room.epoch, room.rotation_due), (2, false));
    let st = node.node().store();
    assert!(
        st.get_envelope(r.id, 2, carol.user_id()).await.is_err(),
        "no epoch-2 envelope for carol"
    );
    assert!(st.get_envelope(r.id, 2, bob.user_id()).await.is_ok());
    assert!(st.get_envelope(r.id, 2, alice.user_id()).await.is_ok());
    assert_api(carol.get_keys(r.id).await, ErrorCode::NotMember);
    assert_api(carol.join_room(r.id, &join()).await, ErrorCode::Banned);

    // Bob's client still believes in epoch 1: sending refreshes once.
    let after = bob.send_text(r.id, AFTER).await.unwrap();
    assert!(bob.room_key(r.id, 2).is_some());
    // An outdated epoch is refused.
    let outdated = bob
        .room_key(r.id, 1)
        .unwrap()
        .epoch_key(r.id, 1)
        .encrypt(
            &mut rng,
            keys::bob(),
            &MessageBody {
                text: "stale".into(),
                sent_at: 1,
                reply_to: None,
            },
        )
        .unwrap()
        .to_post();
    assert_api(
        bob.post_message(r.id, &outdated).await,
        ErrorCode::EpochOutdated,
    );
    let read = alice.read(r.id, forged_at.seq, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].text.as_deref(), Some(AFTER));
    assert_eq!(read[0].epoch, Some(2));
    // Even with its old key, the removed member cannot open the new message.
    let raw = bob
        .list_messages(
            r.id,
            &MessageQuery {
                after: Some(after.seq - 1),
                limit: Some(1),
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap()
        .messages
        .remove(0);
    assert_eq!(raw.epoch, Some(2));
    assert!(
        carol_epoch1
            .epoch_key(r.id, 2)
            .decrypt_message(&raw, keys::bob().public())
            .is_err()
    );
    assert!(
        carol_epoch1
            .epoch_key(r.id, 1)
            .decrypt_message(&raw, keys::bob().public())
            .is_err()
    );
    assert!(carol.room_key(r.id, 2).is_none());
    assert_api(carol.read(r.id, 0, 10).await, ErrorCode::NotMember);

    // ---- tombstones are reported
    bob.delete_message(r.id, after.seq).await.unwrap();
    let read = alice.read(r.id, after.seq - 1, 10).await.unwrap();
    assert_eq!(read[0].verified, Verification::Deleted);
    assert!(read[0].text.is_none());

    // ---- an unencrypted room, readable with a bearer token (curl)
    let u = alice
        .create_room(RoomSettings::new("lobby").unencrypted())
        .await
        .unwrap();
    assert!(!u.encrypted);
    assert!(!bob.join_room(u.id, &join()).await.unwrap().key_pending);
    bob.send_text(u.id, PLAIN).await.unwrap();
    let read = alice.read(u.id, 0, 10).await.unwrap();
    assert_eq!(read[0].verified, Verification::Unencrypted);
    assert_eq!(read[0].text.as_deref(), Some(PLAIN));
    let token = alice.issue_token(Some(60)).await.unwrap();
    let resp = send(
        node.addr(),
        RawRequest::get(&format!("/api/v1/rooms/{}/messages", u.id)).bearer(&token.token),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.text().contains(PLAIN));

    // ---- the node ends bob's session: exactly one new handshake
    let handshakes = bob.handshake_count();
    let sid = bob.session_id().unwrap();
    node.node()
        .end_session(&Caller {
            user_id: bob.user_id(),
            method: AuthMethod::Session(sid),
        })
        .unwrap();
    let rooms = bob.list_rooms(&RoomQuery::default()).await.unwrap();
    assert!(rooms.rooms.iter().any(|x| x.id == r.id));
    assert_eq!(bob.handshake_count(), handshakes + 1);
    assert_ne!(bob.session_id(), Some(sid));

    // ---- events point at messages; the message itself is fetched and verified
    let mut bob_events = bob.events(None).await.unwrap();
    let last = alice.send_text(r.id, LAST).await.unwrap();
    let e = next_matching(&mut bob_events, "a message event", |e| {
        is_room_event(e, r.id, "message")
    })
    .await;
    let EventKind::Message { seq, sender_id, .. } = e.kind else {
        unreachable!()
    };
    assert_eq!((seq, sender_id), (last.seq, alice.user_id()));
    let read = bob.read(r.id, seq - 1, 1).await.unwrap();
    assert_eq!(read[0].text.as_deref(), Some(LAST));
    // A stream resumed from the last event id gets what was missed.
    let resume_from = bob_events.last_event_id().unwrap();
    assert_eq!(resume_from, e.id);
    drop(bob_events);
    let missed = alice.send_text(r.id, LAST).await.unwrap();
    let mut resumed = bob.events(Some(resume_from)).await.unwrap();
    let e = next_matching(&mut resumed, "the missed message event", |e| {
        is_room_event(e, r.id, "message")
    })
    .await;
    assert!(e.id > resume_from);
    assert!(matches!(e.kind, EventKind::Message { seq, .. } if seq == missed.seq));

    // ---- the other calls
    assert_eq!(alice.node_info().await.unwrap().node_id, alice.node_id());
    assert!(alice.health().await.unwrap().store_ok);
    let users = alice
        .list_users(&UserQuery {
            name: Some("b".into()),
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        users
            .users
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        vec!["bob"]
    );
    assert_eq!(alice.get_user(carol.user_id()).await.unwrap().name, "carol");
    assert_eq!(
        alice.known_user(bob.user_id()).await.unwrap().key,
        *keys::bob().public()
    );
    let role = alice
        .set_role(p.id, carol.user_id(), Role::Admin)
        .await
        .unwrap();
    assert_eq!(role.role, Role::Admin);
    let updated = carol
        .update_room(
            p.id,
            &UpdateRoom {
                topic: Some("renamed by an admin".into()),
                ..UpdateRoom::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.topic, "renamed by an admin");
    assert_eq!(
        carol.leave_room(p.id).await.unwrap().reason,
        LeaveReason::Left
    );
    let rotated = alice.rotate(p.id).await.unwrap();
    assert_eq!((rotated.current_epoch, rotated.stored), (2, 1));
    assert_api(
        alice.get_room(RoomId::from_bytes([0xee; 16])).await,
        ErrorCode::RoomNotFound,
    );

    // ---- the store never holds the plaintext of an encrypted room
    let mut keys_made = Vec::new();
    for (room, epochs) in [(r.id, 2), (p.id, 2), (i.id, 1)] {
        for e in 1..=epochs {
            keys_made.push(alice.room_key(room, e).unwrap().as_bytes().to_vec());
        }
    }
    let secrets: Vec<&[u8]> = [
        HELLO,
        REPLY,
        FORGED,
        PW_TEXT,
        INVITE_TEXT,
        LAST,
        PASSWORD,
        "stale",
    ]
    .iter()
    .map(|s| s.as_bytes())
    .chain(keys_made.iter().map(Vec::as_slice))
    .collect();
    let members = [alice.user_id(), bob.user_id(), carol.user_id()];
    for room in [r.id, p.id, i.id] {
        assert_no_secret(st.as_ref(), room, &members, &secrets).await;
    }
    // The check can fail: the unencrypted room's text is found.
    let page = st
        .list_messages(u.id, MessageRange::After(0), 10)
        .await
        .unwrap();
    assert!(contains(
        &format!("{:?}", page.messages[0]).into_bytes(),
        PLAIN.as_bytes()
    ));

    // ---- deleting a room
    alice.delete_room(u.id).await.unwrap();
    assert_api(alice.get_room(u.id).await, ErrorCode::RoomNotFound);
    assert!(alice.end_session().await.is_ok());
    assert!(alice.session_id().is_none());
    within("node stop", node.stop()).await;
    let _ = PATIENCE;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every stored byte of `room` (messages, envelopes, the room record, its
/// audit entries) is free of every secret.
async fn assert_no_secret(
    st: &dyn Store,
    room: RoomId,
    members: &[peer_proto::UserId],
    secrets: &[&[u8]],
) {
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let page = st
        .list_messages(room, MessageRange::After(0), 500)
        .await
        .unwrap();
    assert!(!page.messages.is_empty());
    for m in &page.messages {
        assert!(m.text.is_none(), "an encrypted room stores no text");
        if !m.deleted {
            assert!(m.ciphertext.is_some() && m.epoch.is_some());
        }
        blobs.extend(m.ciphertext.iter().map(|c| c.as_slice().to_vec()));
        blobs.extend(m.signature.iter().map(|c| c.as_slice().to_vec()));
        blobs.push(format!("{m:?}").into_bytes());
    }
    for member in members {
        for e in st.list_envelopes(room, *member, 0, 500).await.unwrap() {
            blobs.push(e.envelope.wrapped_key.as_slice().to_vec());
            blobs.push(e.envelope.signature.as_slice().to_vec());
            blobs.push(format!("{e:?}").into_bytes());
        }
    }
    blobs.push(format!("{:?}", st.get_room(room).await.unwrap()).into_bytes());
    let audit = st
        .list_audit(&AuditQuery {
            filter: AuditFilter::Room(room),
            limit: 500,
            cursor: None,
        })
        .await
        .unwrap();
    assert!(!audit.items.is_empty());
    for a in &audit.items {
        blobs.push(format!("{a:?}").into_bytes());
    }
    for blob in &blobs {
        for secret in secrets {
            assert!(
                !contains(blob, secret),
                "a stored record of room {room} holds a secret"
            );
        }
    }
}
