//! End-to-end encrypted rooms, client side: creating a room with its first
//! key, handing the current key to a member, rotating, and the helpers an
//! always-on owner or admin client (an agent) runs on events.
//!
//! The node never sees a room key: this client makes each epoch's key
//! ([`RoomKey::generate`]), wraps it for each member with RSA-OAEP
//! ([`wrap_envelope`]) and signs the envelope.

use std::fmt;

use peer_crypto::{RoomKey, wrap_envelope};
use peer_proto::api::{CreateRoom, JoinRule, KeysPosted, PostKeys, Room, Visibility};
use peer_proto::event::{Event, EventKind};
use peer_proto::{ErrorCode, RoomId, UserId};
use rand_core::Rng as _;
use zeroize::Zeroize as _;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// How often [`Client::rotate_if_due`] reads the room again and retries
/// when the membership changed under a rotation.
const ROTATION_RETRIES: u32 = 3;

/// Envelopes per request when handing a key to many members (well inside
/// the node's body limit: an envelope is under 1 KiB of JSON).
const ENVELOPES_PER_REQUEST: usize = 500;

/// What a new room looks like. `encrypted` is the default.
///
/// ```
/// use peer_client::RoomSettings;
///
/// let s = RoomSettings::new("ops").topic("on call").password("s3cret");
/// assert!(s.encrypted);
/// assert!(!format!("{s:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RoomSettings {
    /// 1-64 characters.
    pub name: String,
    /// At most 512 characters.
    pub topic: String,
    /// Public (listed to everyone) or private.
    pub visibility: Visibility,
    /// Open, password or invite.
    pub join_rule: JoinRule,
    /// The password of a password room (never returned by the node).
    pub password: Option<String>,
    /// 2-10,000 members (the node's default when absent).
    pub capacity: Option<u32>,
    /// End-to-end encrypted (default true).
    pub encrypted: bool,
}

impl fmt::Debug for RoomSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomSettings")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("visibility", &self.visibility)
            .field("join_rule", &self.join_rule)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("capacity", &self.capacity)
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

impl Drop for RoomSettings {
    fn drop(&mut self) {
        if let Some(p) = self.password.as_mut() {
            p.zeroize();
        }
    }
}

impl RoomSettings {
    /// A public, open, encrypted room called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        RoomSettings {
            name: name.into(),
            topic: String::new(),
            visibility: Visibility::Public,
            join_rule: JoinRule::Open,
            password: None,
            capacity: None,
            encrypted: true,
        }
    }

    /// Sets the topic.
    #[must_use]
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// Makes the room private (listed to members only).
    #[must_use]
    pub fn private(mut self) -> Self {
        self.visibility = Visibility::Private;
        self
    }

    /// Joining needs this password.
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.join_rule = JoinRule::Password;
        self.password = Some(password.into());
        self
    }

    /// Joining needs an invite code.
    #[must_use]
    pub fn invite_only(mut self) -> Self {
        self.join_rule = JoinRule::Invite;
        self
    }

    /// Sets the capacity.
    #[must_use]
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Messages are stored as plain text (for curl and bots).
    #[must_use]
    pub fn unencrypted(mut self) -> Self {
        self.encrypted = false;
        self
    }
}

/// What [`Client::handle_event`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentAction {
    /// Handed the current key to a member who asked.
    KeyDistributed {
        /// The room.
        room: RoomId,
        /// The member.
        user: UserId,
        /// What the node stored.
        posted: KeysPosted,
    },
    /// Rotated a room whose rotation was due.
    Rotated {
        /// The room.
        room: RoomId,
        /// What the node stored.
        posted: KeysPosted,
    },
    /// Fetched this user's new envelopes of a room.
    KeysRefreshed {
        /// The room.
        room: RoomId,
        /// Its current epoch.
        epoch: u32,
    },
}

impl Client {
    /// `POST /api/v1/rooms`: creates a room. For an encrypted room this
    /// client makes the room id and the epoch-1 key, wraps the key for
    /// itself (the owner) and sends that envelope; the key stays in this
    /// client's keyring.
    pub async fn create_room(&self, settings: RoomSettings) -> Result<Room> {
        let mut rng = peer_crypto::rng::system_rng();
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let room_id = RoomId::from_bytes(id);
        let key = settings.encrypted.then(|| RoomKey::generate(&mut rng));
        let envelope = match &key {
            Some(k) => Some(wrap_envelope(
                &mut rng,
                &self.inner.identity,
                room_id,
                1,
                self.inner.identity.public(),
                k,
            )?),
            None => None,
        };
        let mut req = CreateRoom {
            id: room_id,
            name: settings.name.clone(),
            topic: settings.topic.clone(),
            visibility: settings.visibility,
            join_rule: settings.join_rule,
            password: settings.password.clone(),
            capacity: settings.capacity,
            encrypted: settings.encrypted,
            envelope,
        };
        let result = self.create_room_raw(&req).await;
        if let Some(p) = req.password.as_mut() {
            p.zeroize();
        }
        let room = result?;
        if room.id != room_id {
            return Err(ClientError::InvalidResponse("created room has another id"));
        }
        match key {
            Some(k) => self.inner.keyring.insert(room_id, 1, k),
            None => self.inner.keyring.insert_unencrypted(room_id),
        }
        Ok(room)
    }

    /// The room with its member list; this user must be a member.
    async fn room_with_members(&self, room: RoomId) -> Result<Room> {
        let details = self.get_room(room).await?;
        if details.members.is_none() {
            return Err(ClientError::NotAMember {
                room,
                user: self.user_id(),
            });
        }
        if !details.encrypted {
            return Err(ClientError::NotEncrypted(room));
        }
        Ok(details)
    }

    /// Hands the room's current key to `member` (owner or admin): only if
    /// `member` is a current member according to `GET /rooms/{id}`. The
    /// member's key is checked against its id; the envelope is signed by
    /// this user. The node stores it unless the member has that epoch
    /// already.
    pub async fn distribute_key(&self, room: RoomId, member: UserId) -> Result<KeysPosted> {
        let details = self.room_with_members(room).await?;
        let is_member = details
            .members
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|m| m.user_id == member);
        if !is_member {
            return Err(ClientError::NotAMember { room, user: member });
        }
        let epoch = details.epoch;
        let key = self.key_for(room, epoch).await?;
        let member_key = self.known_user(member).await?;
        let mut rng = peer_crypto::rng::system_rng();
        let envelope = wrap_envelope(
            &mut rng,
            &self.inner.identity,
            room,
            epoch,
            &member_key.key,
            &key,
        )?;
        self.post_keys(
            room,
            &PostKeys {
                epoch,
                envelopes: vec![envelope],
                rotate: false,
            },
        )
        .await
    }

    /// Rotates the room key (owner or admin): a new random key for epoch
    /// n+1, wrapped for every current member (this user included), posted
    /// in one request. A member removed before this call gets no envelope
    /// and cannot read what is sent afterwards. The node refuses the set if
    /// the membership changed meanwhile (`incomplete_envelopes` or
    /// `conflict`): read the room again and retry.
    ///
    /// If another owner or admin rotated to the same epoch first, the node
    /// refuses this rotation (it is sent with `rotate` set) and keeps the
    /// other manager's key: the answer has [`KeysPosted::rotated`] false,
    /// and this client keeps no key of its own for that epoch (it fetches
    /// the winner's envelope when it needs it).
    pub async fn rotate(&self, room: RoomId) -> Result<KeysPosted> {
        let details = self.room_with_members(room).await?;
        self.rotate_from(&details).await
    }

    /// [`rotate`](Self::rotate) from the room as read in `details` (members
    /// included): epoch `details.epoch + 1`, one envelope per member listed.
    async fn rotate_from(&self, details: &Room) -> Result<KeysPosted> {
        let room = details.id;
        let epoch = details
            .epoch
            .checked_add(1)
            .ok_or_else(|| ClientError::InvalidArgument("the room's epoch cannot grow".into()))?;
        let mut rng = peer_crypto::rng::system_rng();
        let key = RoomKey::generate(&mut rng);
        let mut envelopes = Vec::new();
        for m in details.members.as_deref().unwrap_or_default() {
            let member = self.known_user(m.user_id).await?;
            envelopes.push(wrap_envelope(
                &mut rng,
                &self.inner.identity,
                room,
                epoch,
                &member.key,
                &key,
            )?);
        }
        let req = PostKeys {
            epoch,
            envelopes,
            rotate: true,
        };
        match self.post_keys(room, &req).await {
            Ok(posted) => {
                if posted.rotated {
                    self.inner.keyring.insert(room, epoch, key);
                }
                Ok(posted)
            }
            Err(e) if e.code() == Some(ErrorCode::Conflict) => {
                // Either another manager rotated to this epoch first (then
                // its key stands, and this one is dropped unused), or the
                // room changed under this rotation (retry from a new read).
                let now = self.get_room(room).await?;
                if now.epoch >= epoch {
                    tracing::debug!(%room, epoch, "another manager rotated to this epoch first");
                    Ok(KeysPosted {
                        current_epoch: now.epoch,
                        stored: 0,
                        rotated: false,
                    })
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Hands the room's current key to every current member except this
    /// user (owner or admin), in as few requests as possible: the catch-up
    /// an always-on client does when it comes online, for members who
    /// joined while no owner or admin was there to answer their
    /// `key_request`. The node stores only the envelopes members lack
    /// ([`KeysPosted::stored`] counts them) and emits `key_granted` for each
    /// envelope sent. `None` when this user is the room's only member.
    pub async fn distribute_key_to_members(&self, room: RoomId) -> Result<Option<KeysPosted>> {
        let details = self.room_with_members(room).await?;
        let epoch = details.epoch;
        let me = self.user_id();
        let others: Vec<UserId> = details
            .members
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|m| m.user_id != me && m.join_epoch <= epoch)
            .map(|m| m.user_id)
            .collect();
        if others.is_empty() {
            return Ok(None);
        }
        let key = self.key_for(room, epoch).await?;
        let mut rng = peer_crypto::rng::system_rng();
        let mut total: Option<KeysPosted> = None;
        for chunk in others.chunks(ENVELOPES_PER_REQUEST) {
            let mut envelopes = Vec::with_capacity(chunk.len());
            for id in chunk {
                let member = self.known_user(*id).await?;
                envelopes.push(wrap_envelope(
                    &mut rng,
                    &self.inner.identity,
                    room,
                    epoch,
                    &member.key,
                    &key,
                )?);
            }
            let posted = self
                .post_keys(
                    room,
                    &PostKeys {
                        epoch,
                        envelopes,
                        rotate: false,
                    },
                )
                .await?;
            total = Some(match total {
                None => posted,
                Some(t) => KeysPosted {
                    stored: t.stored.saturating_add(posted.stored),
                    ..posted
                },
            });
        }
        Ok(total)
    }

    /// Rotates the room key when a rotation is due (a member left or was
    /// removed) and this user manages the room; `None` when there is
    /// nothing to do (not due, not encrypted, not a manager). When the
    /// membership changes during the rotation (`conflict`,
    /// `incomplete_envelopes`) or another manager rotated at the same time
    /// (`wrong_epoch`), it reads the room again and retries, a few times at
    /// most; a rotation someone else finished meanwhile is `None`.
    pub async fn rotate_if_due(&self, room: RoomId) -> Result<Option<KeysPosted>> {
        let mut retries = 0;
        loop {
            // One read decides both whether to rotate and to which epoch: a
            // rotation someone else makes meanwhile is then not repeated.
            let details = self.get_room(room).await?;
            let manages = details.my_role.is_some_and(|r| r.is_manager());
            if !(details.encrypted && details.rotation_due && manages && details.members.is_some())
            {
                return Ok(None);
            }
            match self.rotate_from(&details).await {
                Err(e) if retries < ROTATION_RETRIES && is_rotation_race(&e) => retries += 1,
                Ok(posted) => return Ok(posted.rotated.then_some(posted)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Answers a `key_request` (for agents): when this user manages the
    /// room and `user` is another current member, hands it the current key.
    /// Returns `None` when there is nothing to do (the request is this
    /// user's own, this user does not manage the room, or `user` left).
    pub async fn handle_key_request(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<KeysPosted>> {
        if user == self.user_id() {
            return Ok(None);
        }
        let details = self.get_room(room).await?;
        let manages = details.my_role.is_some_and(|r| r.is_manager());
        let still_member = details
            .members
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|m| m.user_id == user);
        if !manages || !details.encrypted || !still_member {
            return Ok(None);
        }
        match self.distribute_key(room, user).await {
            Ok(posted) => Ok(Some(posted)),
            // The member left between the two reads.
            Err(ClientError::NotAMember { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reacts to one event the way an always-on owner or admin client
    /// does: answers `key_request`s, rotates a room whose rotation became
    /// due (`room_updated` with `rotation_due`, via
    /// [`rotate_if_due`](Self::rotate_if_due)), and fetches this user's
    /// new envelopes on `key_rotated` and on its own `key_granted`.
    pub async fn handle_event(&self, event: &Event) -> Result<Option<AgentAction>> {
        match &event.kind {
            EventKind::KeyRequest {
                room_id, user_id, ..
            } => Ok(self
                .handle_key_request(*room_id, *user_id)
                .await?
                .map(|posted| AgentAction::KeyDistributed {
                    room: *room_id,
                    user: *user_id,
                    posted,
                })),
            EventKind::RoomUpdated { room_id } => {
                Ok(self
                    .rotate_if_due(*room_id)
                    .await?
                    .map(|posted| AgentAction::Rotated {
                        room: *room_id,
                        posted,
                    }))
            }
            EventKind::KeyRotated { room_id, .. } => self.refreshed(*room_id).await,
            EventKind::KeyGranted {
                room_id, user_id, ..
            } if *user_id == self.user_id() => self.refreshed(*room_id).await,
            EventKind::RoomDeleted { room_id } => {
                self.inner.keyring.forget(*room_id);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    async fn refreshed(&self, room: RoomId) -> Result<Option<AgentAction>> {
        let epoch = self.refresh_keys(room).await?;
        Ok(Some(AgentAction::KeysRefreshed { room, epoch }))
    }
}

/// True for the answers a rotation gets when it raced a membership change
/// or another manager's rotation: reading the room again resolves them.
fn is_rotation_race(e: &ClientError) -> bool {
    [
        ErrorCode::Conflict,
        ErrorCode::IncompleteEnvelopes,
        ErrorCode::WrongEpoch,
    ]
    .into_iter()
    .any(|c| e.is_api(c))
}
