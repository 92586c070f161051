//! Queries, pages and cursors.
//!
//! Every list is paginated by key, never by offset: a page holds at most
//! `limit` items in key order, and `next_cursor` (present only when more
//! items follow) encodes the last key returned. A cursor is opaque text
//! (base64url) tied to one kind of list; passing it to another kind of list,
//! or passing text that is not a cursor, is
//! [`StoreError::Invalid`].
//!
//! | list | key order |
//! | --- | --- |
//! | users | folded name (ASCII lower case), ascending |
//! | rooms | room id bytes, ascending |
//! | members of a room | user id bytes, ascending |
//! | memberships of a user | room id bytes, ascending |
//! | audit | append order |
//! | messages | seq (not a cursor: `after` / `before`) |
//! | bans of a room (export) | user id bytes, ascending |
//! | invites of a room (export) | code bytes, ascending |
//! | envelopes of a room (export) | (member id bytes, epoch), ascending |

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use peer_proto::{RoomId, UserId};

use crate::error::StoreError;
use crate::records::MessageRecord;

/// The largest `limit` any list accepts (a room's full member list fits).
pub const MAX_LIMIT: u32 = peer_proto::limits::MAX_CAPACITY;

/// An opaque pagination cursor: the last key of a page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor from text received from a client (checked when used).
    pub fn from_text(text: impl Into<String>) -> Self {
        Cursor(text.into())
    }

    /// The text to hand to a client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cursor's text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Encodes a key of one kind of list (for backends).
    pub fn encode(kind: CursorKind, key: &[u8]) -> Self {
        let mut raw = Vec::with_capacity(key.len() + 1);
        raw.push(kind as u8);
        raw.extend_from_slice(key);
        Cursor(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Decodes a key, checking the kind of list (for backends).
    pub fn decode(&self, kind: CursorKind) -> Result<Vec<u8>, StoreError> {
        let bad = || StoreError::invalid("cursor", "not a cursor of this list");
        let raw = URL_SAFE_NO_PAD
            .decode(self.0.as_bytes())
            .map_err(|_| bad())?;
        match raw.split_first() {
            Some((&k, key)) if k == kind as u8 => Ok(key.to_vec()),
            _ => Err(bad()),
        }
    }

    /// A cursor holding a room id.
    pub fn room(kind: CursorKind, id: RoomId) -> Self {
        Self::encode(kind, id.as_bytes())
    }

    /// A cursor holding a user id.
    pub fn user(kind: CursorKind, id: UserId) -> Self {
        Self::encode(kind, id.as_bytes())
    }

    /// Decodes a room id cursor.
    pub fn decode_room(&self, kind: CursorKind) -> Result<RoomId, StoreError> {
        let key = self.decode(kind)?;
        <[u8; 16]>::try_from(key.as_slice())
            .map(RoomId::from_bytes)
            .map_err(|_| StoreError::invalid("cursor", "not a cursor of this list"))
    }

    /// Decodes a user id cursor.
    pub fn decode_user(&self, kind: CursorKind) -> Result<UserId, StoreError> {
        let key = self.decode(kind)?;
        <[u8; 16]>::try_from(key.as_slice())
            .map(UserId::from_bytes)
            .map_err(|_| StoreError::invalid("cursor", "not a cursor of this list"))
    }

    /// Decodes a text cursor (folded user names, audit ids).
    pub fn decode_text(&self, kind: CursorKind) -> Result<String, StoreError> {
        String::from_utf8(self.decode(kind)?)
            .map_err(|_| StoreError::invalid("cursor", "not a cursor of this list"))
    }
}

impl core::fmt::Display for Cursor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of lists, so that a cursor of one is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum CursorKind {
    /// Users by folded name.
    Users = 1,
    /// Rooms by id.
    Rooms = 2,
    /// Members of a room by user id.
    Members = 3,
    /// Memberships of a user by room id.
    Memberships = 4,
    /// Audit entries by id.
    Audit = 5,
    /// Bans of a room by user id (export).
    Bans = 6,
    /// Invites of a room by code (export).
    Invites = 7,
    /// Envelopes of a room by (member id, epoch) (export).
    Envelopes = 8,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// Present when more items follow: pass it to get the next page.
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched items: the extra one only says that
    /// more follow. `key` makes the cursor from the last item kept.
    pub fn from_fetched(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = limit as usize;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(key) } else { None };
        Page { items, next_cursor }
    }
}

/// `list_users`: an optional name prefix (ignoring case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// Only names starting with this, ignoring case.
    pub name_prefix: Option<String>,
    /// 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// From a previous page.
    pub cursor: Option<Cursor>,
}

impl UserQuery {
    /// What every backend needs to run this query, checked: the folded
    /// name prefix (empty for none) and the folded name the cursor points
    /// after. `Invalid` for a bad limit or a cursor of another listing.
    pub fn folded(&self) -> Result<(String, Option<String>), StoreError> {
        check_limit(self.limit)?;
        let prefix = self
            .name_prefix
            .as_deref()
            .map(peer_proto::limits::fold_user_name)
            .unwrap_or_default();
        let after = self
            .cursor
            .as_ref()
            .map(|c| c.decode_text(CursorKind::Users))
            .transpose()?;
        Ok((prefix, after))
    }
}

/// Which rooms `list_rooms` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomFilter {
    /// Every room.
    All,
    /// Public rooms only.
    Public,
    /// Public rooms and the rooms this user is a member of.
    VisibleTo(UserId),
}

/// `list_rooms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomQuery {
    /// Which rooms.
    pub filter: RoomFilter,
    /// 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// From a previous page.
    pub cursor: Option<Cursor>,
}

/// Where a message listing starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRange {
    /// Messages with a seq above this one, ascending. `After(0)` starts at
    /// the oldest retained message; so does any seq below the retained
    /// window.
    After(u64),
    /// Messages with a seq below this one, descending (newest first).
    /// `Before(u64::MAX)` starts at the newest.
    Before(u64),
}

/// A page of messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePage {
    /// Ascending for `After`, descending for `Before`.
    pub messages: Vec<MessageRecord>,
    /// The room's highest seq when the page was read.
    pub last_seq: u64,
    /// True when more messages lie in the direction read.
    pub more: bool,
}

/// Whose audit entries to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFilter {
    /// Entries about this room.
    Room(RoomId),
    /// Entries whose actor is this user.
    Actor(UserId),
    /// Every entry (export).
    All,
}

/// `list_audit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Whose entries.
    pub filter: AuditFilter,
    /// 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// From a previous page.
    pub cursor: Option<Cursor>,
}

/// The cursor after an envelope in a room's envelope list (export): the
/// member id and the big-endian epoch (for backends).
pub fn envelope_cursor(e: &crate::records::EnvelopeRecord) -> Cursor {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(e.envelope.member_id.as_bytes());
    key[16..].copy_from_slice(&e.envelope.epoch.to_be_bytes());
    Cursor::encode(CursorKind::Envelopes, &key)
}

/// Decodes an [`envelope_cursor`] (for backends).
pub fn decode_envelope_cursor(c: &Cursor) -> Result<(UserId, u32), StoreError> {
    let key = c.decode(CursorKind::Envelopes)?;
    let bad = || StoreError::invalid("cursor", "not a cursor of this list");
    let (member, epoch) = key.split_at_checked(16).ok_or_else(bad)?;
    let member = <[u8; 16]>::try_from(member).map_err(|_| bad())?;
    let epoch = <[u8; 4]>::try_from(epoch).map_err(|_| bad())?;
    Ok((UserId::from_bytes(member), u32::from_be_bytes(epoch)))
}

/// Checks a page size: 1..=[`MAX_LIMIT`] (for backends).
pub fn check_limit(limit: u32) -> Result<(), StoreError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(StoreError::invalid(
            "limit",
            format!("must be 1-{MAX_LIMIT}"),
        ));
    }
    Ok(())
}

/// Checks that an integer fits in a signed 64-bit field (for backends; all
/// backends refuse the same values).
pub fn check_i64(field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::invalid(field, "too large (above i64::MAX)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_tied_to_their_list() {
        let c = Cursor::room(CursorKind::Rooms, RoomId::from_bytes([3; 16]));
        assert_eq!(
            c.decode_room(CursorKind::Rooms)
                .unwrap_or(RoomId::from_bytes([0; 16])),
            RoomId::from_bytes([3; 16])
        );
        assert!(c.decode_room(CursorKind::Members).is_err());
        assert!(Cursor::from_text("!!").decode(CursorKind::Rooms).is_err());
        assert!(Cursor::from_text("").decode(CursorKind::Rooms).is_err());
        assert!(
            Cursor::encode(CursorKind::Rooms, b"short")
                .decode_room(CursorKind::Rooms)
                .is_err()
        );
    }

    #[test]
    fn pages() {
        let p = Page::from_fetched(vec![1, 2, 3], 2, |i| {
            Cursor::encode(CursorKind::Audit, &[*i as u8])
        });
        assert_eq!(p.items, vec![1, 2]);
        assert!(p.next_cursor.is_some());
        let p = Page::from_fetched(vec![1, 2], 2, |i| {
            Cursor::encode(CursorKind::Audit, &[*i as u8])
        });
        assert!(p.next_cursor.is_none());
        assert!(check_limit(0).is_err());
        assert!(check_limit(MAX_LIMIT + 1).is_err());
        assert!(check_i64("x", u64::MAX).is_err());
        assert_eq!(check_i64("x", 5).ok(), Some(5));
    }
}
