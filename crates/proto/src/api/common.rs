use serde::{Deserialize, Serialize};

/// A member's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The room's creator: everything an admin can do, plus roles and delete.
    Owner,
    /// Invites, kicks, bans, key distribution and rotation.
    Admin,
    /// Reads and posts.
    Member,
}

impl Role {
    /// True for owners and admins, who manage members and keys.
    pub const fn is_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// The role's text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// Who sees a room in listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Listed to every authenticated user.
    #[default]
    Public,
    /// Listed to members only.
    Private,
}

/// How a user becomes a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JoinRule {
    /// Anyone may join.
    #[default]
    Open,
    /// The room password is required.
    Password,
    /// An invite code is required.
    Invite,
}

/// What a node is in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Serves the group's rooms and messages.
    Main,
    /// Relays to a main peer and fans out its events.
    Follower,
    /// Serves on its own, without discovery.
    Standalone,
}

/// The storage backend of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// Volatile, in memory.
    Memory,
    /// One embedded file.
    Redb,
    /// A MongoDB deployment, possibly shared by several nodes.
    Mongodb,
}

/// Why a member left a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The member left.
    Left,
    /// An owner or admin removed the member.
    Kicked,
    /// An owner or admin removed and banned the member.
    Banned,
}
