//! The tables and their keys.
//!
//! Every table maps bytes to bytes. Keys are fixed-width concatenations
//! (ids are 16 bytes, integers big-endian), so byte order is the order the
//! lists need and a prefix is a range:
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `meta` | name (`schema`) | bytes |
//! | `users` | user id | user |
//! | `user_names` | folded name | user id |
//! | `rooms` | room id | room (settings and counters) |
//! | `public_rooms` | room id | empty |
//! | `members` | room id, user id | member |
//! | `memberships` | user id, room id | empty |
//! | `bans` | room id, user id | ban |
//! | `invites` | room id, code bytes | invite |
//! | `envelopes` | room id, member id, epoch (u32) | envelope |
//! | `messages` | room id, seq (u64) | message |
//! | `peers` | node id | peer |
//! | `audit` | id (u64) | entry |
//! | `audit_by_room` | room id, id | empty |
//! | `audit_by_actor` | user id, id | empty |
//! | `audit_sources` | source id (imports) | id |

use redb::TableDefinition;

/// Every table's type.
pub(crate) type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

pub(crate) const META: Def = TableDefinition::new("meta");
pub(crate) const USERS: Def = TableDefinition::new("users");
pub(crate) const USER_NAMES: Def = TableDefinition::new("user_names");
pub(crate) const ROOMS: Def = TableDefinition::new("rooms");
pub(crate) const PUBLIC_ROOMS: Def = TableDefinition::new("public_rooms");
pub(crate) const MEMBERS: Def = TableDefinition::new("members");
pub(crate) const MEMBERSHIPS: Def = TableDefinition::new("memberships");
pub(crate) const BANS: Def = TableDefinition::new("bans");
pub(crate) const INVITES: Def = TableDefinition::new("invites");
pub(crate) const ENVELOPES: Def = TableDefinition::new("envelopes");
pub(crate) const MESSAGES: Def = TableDefinition::new("messages");
pub(crate) const PEERS: Def = TableDefinition::new("peers");
pub(crate) const AUDIT: Def = TableDefinition::new("audit");
pub(crate) const AUDIT_BY_ROOM: Def = TableDefinition::new("audit_by_room");
pub(crate) const AUDIT_BY_ACTOR: Def = TableDefinition::new("audit_by_actor");
pub(crate) const AUDIT_SOURCES: Def = TableDefinition::new("audit_sources");

/// All tables (created at open, copied by a backup).
pub(crate) const ALL: [Def; 16] = [
    META,
    USERS,
    USER_NAMES,
    ROOMS,
    PUBLIC_ROOMS,
    MEMBERS,
    MEMBERSHIPS,
    BANS,
    INVITES,
    ENVELOPES,
    MESSAGES,
    PEERS,
    AUDIT,
    AUDIT_BY_ROOM,
    AUDIT_BY_ACTOR,
    AUDIT_SOURCES,
];

/// The `meta` key holding the schema version.
pub(crate) const SCHEMA_KEY: &[u8] = b"schema";
/// The schema this crate writes.
pub(crate) const SCHEMA: u8 = 1;

/// Two ids: (room, user), (user, room), ...
pub(crate) fn pair(a: &[u8; 16], b: &[u8; 16]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(a);
    k[16..].copy_from_slice(b);
    k
}

/// An id and a number: (room, seq), (room, audit id), ...
pub(crate) fn id_num(a: &[u8; 16], n: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(a);
    k[16..].copy_from_slice(&n.to_be_bytes());
    k
}

/// (room, member, epoch).
pub(crate) fn envelope(room: &[u8; 16], member: &[u8; 16], epoch: u32) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..16].copy_from_slice(room);
    k[16..32].copy_from_slice(member);
    k[32..].copy_from_slice(&epoch.to_be_bytes());
    k
}

/// (room, code).
pub(crate) fn invite(room: &[u8; 16], code: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + code.len());
    k.extend_from_slice(room);
    k.extend_from_slice(code.as_bytes());
    k
}

/// The 16 bytes after `skip` in a key.
pub(crate) fn id_at(key: &[u8], skip: usize) -> Option<[u8; 16]> {
    key.get(skip..skip + 16)?.try_into().ok()
}

/// The big-endian u64 after `skip` in a key.
pub(crate) fn u64_at(key: &[u8], skip: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        key.get(skip..skip + 8)?.try_into().ok()?,
    ))
}

/// The big-endian u32 after `skip` in a key.
pub(crate) fn u32_at(key: &[u8], skip: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        key.get(skip..skip + 4)?.try_into().ok()?,
    ))
}
