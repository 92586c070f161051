//! Values the cases build on: ids from small numbers, records with
//! plausible contents, and assertions on error variants.

use peer_proto::api::{Envelope, JoinRule, NodeRole, PeerDirection, Role, Visibility};
use peer_proto::{Bytes, MessageId, NodeId, RoomId, UserId};

use crate::error::{ConflictKind, StoreError};
use crate::records::{
    EnvelopeRecord, InviteRecord, MemberRecord, NewMember, NewMessage, PeerRecord, RoomRecord,
    UserRecord,
};

/// A fixed point in time (unix seconds) the cases count from.
pub const T0: u64 = 1_700_000_000;

/// The user id numbered `n` (big-endian in the last bytes, so numbers
/// sort like ids).
pub fn uid(n: u64) -> UserId {
    UserId::from_bytes(id_bytes(0x75, n))
}

/// The room id numbered `n`.
pub fn rid(n: u64) -> RoomId {
    RoomId::from_bytes(id_bytes(0x72, n))
}

/// The message id numbered `n`.
pub fn mid(n: u64) -> MessageId {
    MessageId::from_bytes(id_bytes(0x6d, n))
}

/// The node id numbered `n`.
pub fn nid(n: u64) -> NodeId {
    NodeId::from_bytes(id_bytes(0x6e, n))
}

fn id_bytes(tag: u8, n: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = tag;
    b[8..].copy_from_slice(&n.to_be_bytes());
    b
}

/// A user with this number and name.
pub fn user(n: u64, name: &str) -> UserRecord {
    UserRecord {
        id: uid(n),
        name: name.to_owned(),
        spki: Bytes(vec![0x30, 0x82, n as u8, 0x01]),
        created_at: T0 + n,
    }
}

/// An open, public, unencrypted room numbered `n`, owned by `owner`.
pub fn room(n: u64, owner: UserId, capacity: u32) -> RoomRecord {
    RoomRecord {
        id: rid(n),
        name: format!("room {n}"),
        topic: format!("topic of {n}"),
        visibility: Visibility::Public,
        join_rule: JoinRule::Open,
        password_hash: None,
        capacity,
        encrypted: false,
        owner_id: owner,
        epoch: 0,
        rotation_due: false,
        member_count: 0,
        last_seq: 0,
        created_at: T0,
        updated_at: T0,
        version: 0,
    }
}

/// An encrypted room at epoch 1.
pub fn encrypted_room(n: u64, owner: UserId, capacity: u32) -> RoomRecord {
    RoomRecord {
        encrypted: true,
        epoch: 1,
        ..room(n, owner, capacity)
    }
}

/// The owner membership of a room.
pub fn owner_of(room: &RoomRecord) -> MemberRecord {
    MemberRecord {
        room_id: room.id,
        user_id: room.owner_id,
        role: Role::Owner,
        join_epoch: room.epoch,
        joined_at: room.created_at,
    }
}

/// A plain member joining at `T0 + 10`.
pub fn joiner(user: UserId) -> NewMember {
    NewMember {
        user_id: user,
        role: Role::Member,
        joined_at: T0 + 10,
    }
}

/// An envelope for (room, epoch, member); `tag` varies the wrapped key.
pub fn envelope(room: RoomId, epoch: u32, member: UserId, tag: u8) -> EnvelopeRecord {
    EnvelopeRecord {
        envelope: Envelope {
            room_id: room,
            epoch,
            member_id: member,
            wrapped_key: Bytes(vec![tag; 256]),
            distributor_id: uid(1),
            signature: Bytes(vec![tag ^ 0xff; 256]),
        },
        stored_at: T0 + 5,
    }
}

/// An invite of a room.
pub fn invite(room: RoomId, code: &str, uses: u32, expires_at: u64) -> InviteRecord {
    InviteRecord {
        room_id: room,
        code: code.to_owned(),
        uses,
        expires_at,
        created_by: uid(1),
        created_at: T0,
    }
}

/// A text message numbered `n` from `sender`.
pub fn text_message(n: u64, sender: UserId) -> NewMessage {
    NewMessage {
        id: mid(n),
        sender_id: sender,
        created_at: T0 + n,
        epoch: None,
        ciphertext: None,
        signature: None,
        text: Some(format!("message {n}")),
    }
}

/// An encrypted message numbered `n`.
pub fn sealed_message(n: u64, sender: UserId, epoch: u32, len: usize) -> NewMessage {
    NewMessage {
        id: mid(n),
        sender_id: sender,
        created_at: T0 + n,
        epoch: Some(epoch),
        ciphertext: Some(Bytes((0..len).map(|i| (i % 251) as u8).collect())),
        signature: Some(Bytes(vec![0x5a; 256])),
        text: None,
    }
}

/// A peer numbered `n`.
pub fn peer(n: u64, direction: PeerDirection) -> PeerRecord {
    PeerRecord {
        node_id: nid(n),
        name: format!("node-{n}"),
        url: format!("http://127.0.0.1:{}", 8000 + n),
        role: NodeRole::Follower,
        group: "default".into(),
        direction,
        spki: Some(Bytes(vec![0x30, n as u8])),
        last_seen: T0 + n,
    }
}

/// Asserts `Err(Conflict { what })`.
#[track_caller]
pub fn assert_conflict<T: core::fmt::Debug>(r: Result<T, StoreError>, what: ConflictKind) {
    match r {
        Err(StoreError::Conflict { what: got }) if got == what => {}
        other => panic!("expected Conflict {{ {what} }}, got {other:?}"),
    }
}

/// Asserts `Err(NotFound { what })`.
#[track_caller]
pub fn assert_not_found<T: core::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    match r {
        Err(StoreError::NotFound { what: got }) if got == what => {}
        other => panic!("expected NotFound {{ {what} }}, got {other:?}"),
    }
}

/// Asserts `Err(Invalid { .. })`.
#[track_caller]
pub fn assert_invalid<T: core::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Invalid { .. }) => {}
        other => panic!("expected Invalid, got {other:?}"),
    }
}
