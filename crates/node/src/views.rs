//! Records to API bodies. The only place that decides what the API shows of
//! a stored record; password hashes and invite codes never pass here.

use peer_proto::api::{Member, Message, Role, Room, User};
use peer_store::{MemberRecord, MessageRecord, RoomRecord, UserRecord};

pub(crate) fn user(u: UserRecord) -> User {
    User {
        id: u.id,
        name: u.name,
        spki: u.spki,
        created_at: u.created_at,
    }
}

pub(crate) fn room(r: &RoomRecord, my_role: Option<Role>, members: Option<Vec<Member>>) -> Room {
    Room {
        id: r.id,
        name: r.name.clone(),
        topic: r.topic.clone(),
        visibility: r.visibility,
        join_rule: r.join_rule,
        capacity: r.capacity,
        encrypted: r.encrypted,
        owner_id: r.owner_id,
        epoch: r.epoch,
        rotation_due: r.rotation_due,
        member_count: r.member_count,
        last_seq: r.last_seq,
        created_at: r.created_at,
        my_role,
        members,
    }
}

pub(crate) fn member(m: &MemberRecord, name: String) -> Member {
    Member {
        user_id: m.user_id,
        name,
        role: m.role,
        join_epoch: m.join_epoch,
        joined_at: m.joined_at,
    }
}

pub(crate) fn message(m: MessageRecord) -> Message {
    Message {
        room_id: m.room_id,
        seq: m.seq,
        id: m.id,
        sender_id: m.sender_id,
        created_at: m.created_at,
        epoch: m.epoch,
        ciphertext: m.ciphertext,
        signature: m.signature,
        text: m.text,
        deleted: m.deleted,
    }
}
