//! Rooms and their members: create, show, list, update, delete, join,
//! leave, kick and ban, roles, invites.

use std::collections::HashMap;

use peer_crypto::verify_envelope;
use peer_proto::api::{
    CreateInvite, CreateRoom, Invite, JoinRoom, JoinRule, Joined, Kick, LeaveReason, Member,
    Removed, Role, Room, RoomList, RoomQuery, SetRole, UpdateRoom, Visibility,
};
use peer_proto::event::EventKind;
use peer_proto::limits::{self, check_capacity, check_password, check_room_name, check_topic};
use peer_proto::{ErrorCode, RoomId};
use peer_store::query::{Cursor, RoomFilter, RoomQuery as StoreRoomQuery};
use peer_store::{
    ConflictKind, EnvelopeRecord, InviteRecord, MemberRecord, NewMember, RoomRecord, RoomUpdate,
    StoreError,
};

use crate::auth::Caller;
use crate::error::{NodeError, Result};
use crate::users::{page_limit, query_error};
use crate::{Node, password, random, views};

/// Longest invite lifetime: 30 days.
const MAX_INVITE_SECS: u64 = 30 * 24 * 3600;
/// Default invite lifetime: one day.
const DEFAULT_INVITE_SECS: u64 = 24 * 3600;
/// Attempts at a read-modify-write before giving up with `conflict`.
const UPDATE_ATTEMPTS: usize = 5;

impl Node {
    /// The room, if the caller may see it: public rooms to everyone, private
    /// rooms to members only (others get `room_not_found`, not `forbidden`, so
    /// private rooms do not leak their existence).
    pub(crate) async fn visible_room(
        &self,
        caller: &Caller,
        id: RoomId,
    ) -> Result<(RoomRecord, Option<MemberRecord>)> {
        let room = self.inner.store.get_room(id).await?;
        let member = self.membership(id, caller).await?;
        if room.visibility == Visibility::Private && member.is_none() {
            return Err(NodeError::new(ErrorCode::RoomNotFound, "room not found"));
        }
        Ok((room, member))
    }

    pub(crate) async fn membership(
        &self,
        id: RoomId,
        caller: &Caller,
    ) -> Result<Option<MemberRecord>> {
        match self.inner.store.get_member(id, caller.user_id).await {
            Ok(m) => Ok(Some(m)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The room and the caller's membership; `not_member` otherwise.
    pub(crate) async fn member_room(
        &self,
        caller: &Caller,
        id: RoomId,
    ) -> Result<(RoomRecord, MemberRecord)> {
        let (room, member) = self.visible_room(caller, id).await?;
        match member {
            Some(m) => Ok((room, m)),
            None => Err(NodeError::new(
                ErrorCode::NotMember,
                "only members of the room may do this",
            )),
        }
    }

    /// The room, with the caller an owner or admin; `forbidden` otherwise.
    pub(crate) async fn managed_room(
        &self,
        caller: &Caller,
        id: RoomId,
    ) -> Result<(RoomRecord, MemberRecord)> {
        let (room, member) = self.member_room(caller, id).await?;
        if !member.role.is_manager() {
            return Err(NodeError::forbidden(
                "only the owner or an admin may do this",
            ));
        }
        Ok((room, member))
    }

    /// `POST /api/v1/rooms`.
    pub async fn create_room(&self, caller: &Caller, req: CreateRoom) -> Result<Room> {
        check_room_name(&req.name)?;
        check_topic(&req.topic)?;
        let capacity = req.capacity.unwrap_or(limits::DEFAULT_CAPACITY);
        check_capacity(capacity)?;
        let password_hash = match (req.join_rule, req.password) {
            (JoinRule::Password, Some(pw)) => {
                check_password(&pw)?;
                Some(password::hash(pw, self.inner.config.password_cost).await?)
            }
            (JoinRule::Password, None) => {
                return Err(NodeError::field(
                    "password",
                    "required with the password join rule",
                ));
            }
            (_, Some(_)) => {
                return Err(NodeError::field(
                    "password",
                    "only with the password join rule",
                ));
            }
            (_, None) => None,
        };
        let now = self.now();
        let envelope = match (req.encrypted, req.envelope) {
            (true, Some(env)) => {
                if env.room_id != req.id
                    || env.epoch != 1
                    || env.member_id != caller.user_id
                    || env.distributor_id != caller.user_id
                {
                    return Err(NodeError::new(
                        ErrorCode::InvalidEnvelope,
                        "envelope: must be the owner's own key for this room, epoch 1",
                    ));
                }
                let key = self.user_key(caller.user_id).await?;
                verify_envelope(&env, &key).map_err(|_| {
                    NodeError::new(ErrorCode::InvalidEnvelope, "envelope: bad signature")
                })?;
                Some(EnvelopeRecord {
                    envelope: env,
                    stored_at: now,
                })
            }
            (true, None) => {
                return Err(NodeError::field(
                    "envelope",
                    "required for an encrypted room",
                ));
            }
            (false, Some(_)) => {
                return Err(NodeError::field(
                    "envelope",
                    "an unencrypted room has no keys",
                ));
            }
            (false, None) => None,
        };
        let record = RoomRecord {
            id: req.id,
            name: req.name,
            topic: req.topic,
            visibility: req.visibility,
            join_rule: req.join_rule,
            password_hash,
            capacity,
            encrypted: req.encrypted,
            owner_id: caller.user_id,
            epoch: u32::from(req.encrypted),
            rotation_due: false,
            member_count: 1,
            last_seq: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let owner = MemberRecord {
            room_id: req.id,
            user_id: caller.user_id,
            role: Role::Owner,
            join_epoch: record.epoch,
            joined_at: now,
        };
        let stored = self
            .inner
            .store
            .create_room(&record, &owner, envelope.as_ref())
            .await?;
        self.publish(EventKind::MemberJoined {
            room_id: stored.id,
            user_id: caller.user_id,
            join_epoch: stored.epoch,
        });
        self.audit(Some(caller), Some(stored.id), "room.create", String::new())
            .await;
        let name = self.user_name(caller.user_id).await;
        Ok(views::room(
            &stored,
            Some(Role::Owner),
            Some(vec![views::member(&owner, name)]),
        ))
    }

    async fn user_name(&self, id: peer_proto::UserId) -> String {
        match self.inner.store.get_user(id).await {
            Ok(u) => u.name,
            Err(_) => String::new(),
        }
    }

    /// Every member of a room, with names.
    async fn members_of(&self, id: RoomId) -> Result<Vec<Member>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .store
                .list_members(id, limits::MAX_PAGE_LIMIT, cursor.as_ref())
                .await?;
            for m in &page.items {
                let name = self.user_name(m.user_id).await;
                out.push(views::member(m, name));
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// `GET /api/v1/rooms/{id}`: details; members when the caller is one.
    pub async fn get_room(&self, caller: &Caller, id: RoomId) -> Result<Room> {
        let (room, member) = self.visible_room(caller, id).await?;
        let members = match &member {
            Some(_) => Some(self.members_of(id).await?),
            None => None,
        };
        Ok(views::room(&room, member.map(|m| m.role), members))
    }

    /// `GET /api/v1/rooms`: public rooms and the caller's rooms, by id.
    pub async fn list_rooms(&self, caller: &Caller, q: RoomQuery) -> Result<RoomList> {
        let limit = page_limit(q.limit)?;
        let page = self
            .inner
            .store
            .list_rooms(&StoreRoomQuery {
                filter: RoomFilter::VisibleTo(caller.user_id),
                limit,
                cursor: q.cursor.map(Cursor::from_text),
            })
            .await
            .map_err(query_error)?;
        let mut roles = HashMap::new();
        for room in &page.items {
            if let Some(m) = self.membership(room.id, caller).await? {
                roles.insert(room.id, m.role);
            }
        }
        Ok(RoomList {
            rooms: page
                .items
                .iter()
                .map(|r| views::room(r, roles.get(&r.id).copied(), None))
                .collect(),
            next_cursor: page.next_cursor.map(Cursor::into_string),
        })
    }

    /// `PATCH /api/v1/rooms/{id}` (owner or admin).
    pub async fn update_room(&self, caller: &Caller, id: RoomId, req: UpdateRoom) -> Result<Room> {
        if let Some(n) = &req.name {
            check_room_name(n)?;
        }
        if let Some(t) = &req.topic {
            check_topic(t)?;
        }
        if let Some(c) = req.capacity {
            check_capacity(c)?;
        }
        let changed = describe(&req);
        let new_hash = match req.password {
            Some(pw) => {
                check_password(&pw)?;
                Some(password::hash(pw, self.inner.config.password_cost).await?)
            }
            None => None,
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let (room, member) = self.managed_room(caller, id).await?;
            let rule = req.join_rule.unwrap_or(room.join_rule);
            let password_hash = match (rule, &new_hash) {
                (JoinRule::Password, Some(h)) => Some(Some(h.clone())),
                (JoinRule::Password, None) if room.password_hash.is_some() => None,
                (JoinRule::Password, None) => {
                    return Err(NodeError::field(
                        "password",
                        "required with the password join rule",
                    ));
                }
                (_, Some(_)) => {
                    return Err(NodeError::field(
                        "password",
                        "only with the password join rule",
                    ));
                }
                // Leaving the password rule forgets the password.
                (_, None) if room.password_hash.is_some() => Some(None),
                (_, None) => None,
            };
            let update = RoomUpdate {
                name: req.name.clone(),
                topic: req.topic.clone(),
                visibility: req.visibility,
                join_rule: req.join_rule,
                password_hash,
                capacity: req.capacity,
                rotation_due: None,
            };
            match self
                .inner
                .store
                .update_room(id, room.version, &update, self.now())
                .await
            {
                Ok(updated) => {
                    self.publish(EventKind::RoomUpdated { room_id: id });
                    self.audit(Some(caller), Some(id), "room.update", changed.clone())
                        .await;
                    return Ok(views::room(&updated, Some(member.role), None));
                }
                Err(StoreError::Conflict {
                    what: ConflictKind::Version,
                }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::new(
            ErrorCode::Conflict,
            "the room kept changing; try again",
        ))
    }

    /// `DELETE /api/v1/rooms/{id}` (owner).
    pub async fn delete_room(&self, caller: &Caller, id: RoomId) -> Result<()> {
        let (room, _) = self.member_room(caller, id).await?;
        if room.owner_id != caller.user_id {
            return Err(NodeError::forbidden("only the owner may delete the room"));
        }
        self.inner.store.delete_room(id).await?;
        self.publish(EventKind::RoomDeleted { room_id: id });
        self.audit(Some(caller), Some(id), "room.delete", String::new())
            .await;
        Ok(())
    }

    /// `POST /api/v1/rooms/{id}/join`.
    pub async fn join_room(&self, caller: &Caller, id: RoomId, req: JoinRoom) -> Result<Joined> {
        let room = self.inner.store.get_room(id).await?;
        let invite = match room.join_rule {
            JoinRule::Open => None,
            JoinRule::Password => {
                let Some(pw) = req.password else {
                    return Err(NodeError::new(
                        ErrorCode::WrongPassword,
                        "this room needs a password",
                    ));
                };
                if pw.len() > limits::MAX_PASSWORD_BYTES {
                    return Err(NodeError::new(ErrorCode::WrongPassword, "wrong password"));
                }
                let Some(hash) = room.password_hash.clone() else {
                    return Err(NodeError::internal("password room without a password"));
                };
                password::verify(pw, hash).await?;
                None
            }
            JoinRule::Invite => match req.invite {
                Some(code) if !code.is_empty() && code.len() <= 64 => Some(code),
                _ => {
                    return Err(NodeError::new(
                        ErrorCode::InvalidInvite,
                        "this room needs an invite code",
                    ));
                }
            },
        };
        let now = self.now();
        let new = NewMember {
            user_id: caller.user_id,
            role: Role::Member,
            joined_at: now,
        };
        let (room, member) = self
            .inner
            .store
            .add_member(id, &new, invite.as_deref())
            .await
            .map_err(|e| match e {
                // An unknown code is not a missing room.
                StoreError::NotFound { what: "invite" } => {
                    NodeError::new(ErrorCode::InvalidInvite, "unknown invite code")
                }
                other => other.into(),
            })?;
        self.publish(EventKind::MemberJoined {
            room_id: id,
            user_id: caller.user_id,
            join_epoch: member.join_epoch,
        });
        if room.encrypted {
            self.publish(EventKind::KeyRequest {
                room_id: id,
                user_id: caller.user_id,
                epoch: room.epoch,
            });
        }
        self.audit(Some(caller), Some(id), "member.join", String::new())
            .await;
        let members = self.members_of(id).await?;
        Ok(Joined {
            key_pending: room.encrypted,
            room: views::room(&room, Some(member.role), Some(members)),
        })
    }

    async fn remove(
        &self,
        actor: &Caller,
        id: RoomId,
        user: peer_proto::UserId,
        reason: LeaveReason,
    ) -> Result<Removed> {
        let removal = self
            .inner
            .store
            .remove_member(id, user, reason, self.now())
            .await?;
        self.publish(EventKind::MemberLeft {
            room_id: id,
            user_id: user,
            reason,
        });
        if removal.room.rotation_due {
            self.publish(EventKind::RoomUpdated { room_id: id });
        }
        let action = match reason {
            LeaveReason::Left => "member.leave",
            LeaveReason::Kicked => "member.kick",
            LeaveReason::Banned => "member.ban",
        };
        self.audit(Some(actor), Some(id), action, format!("user {user}"))
            .await;
        Ok(Removed {
            room_id: id,
            user_id: user,
            reason,
        })
    }

    /// `POST /api/v1/rooms/{id}/leave`. The owner cannot leave (delete the
    /// room instead). In encrypted rooms a rotation becomes due.
    pub async fn leave_room(&self, caller: &Caller, id: RoomId) -> Result<Removed> {
        let (room, _) = self.member_room(caller, id).await?;
        if room.owner_id == caller.user_id {
            return Err(NodeError::forbidden(
                "the owner cannot leave; delete the room instead",
            ));
        }
        self.remove(caller, id, caller.user_id, LeaveReason::Left)
            .await
    }

    /// `POST /api/v1/rooms/{id}/kick`: the owner removes anyone but
    /// themselves; admins remove members. `ban` keeps them out.
    pub async fn kick(&self, caller: &Caller, id: RoomId, req: Kick) -> Result<Removed> {
        let (room, me) = self.managed_room(caller, id).await?;
        if req.user_id == caller.user_id {
            return Err(NodeError::forbidden("use leave to remove yourself"));
        }
        let target = match self.inner.store.get_member(id, req.user_id).await {
            Ok(m) => m,
            Err(StoreError::NotFound { .. }) => {
                return Err(NodeError::new(
                    ErrorCode::NotMember,
                    "user_id: not a member of this room",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if target.user_id == room.owner_id
            || (me.role == Role::Admin && target.role != Role::Member)
        {
            return Err(NodeError::forbidden(
                "admins may remove members only; nobody removes the owner",
            ));
        }
        let reason = if req.ban {
            LeaveReason::Banned
        } else {
            LeaveReason::Kicked
        };
        self.remove(caller, id, req.user_id, reason).await
    }

    /// `POST /api/v1/rooms/{id}/roles` (owner): make a member admin or
    /// member. Ownership does not move.
    pub async fn set_member_role(
        &self,
        caller: &Caller,
        id: RoomId,
        req: SetRole,
    ) -> Result<Member> {
        let (room, _) = self.member_room(caller, id).await?;
        if room.owner_id != caller.user_id {
            return Err(NodeError::forbidden("only the owner may change roles"));
        }
        if req.role == Role::Owner {
            return Err(NodeError::field("role", "must be admin or member"));
        }
        if req.user_id == room.owner_id {
            return Err(NodeError::forbidden("the owner's role does not change"));
        }
        let m = self
            .inner
            .store
            .set_role(id, req.user_id, req.role)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => {
                    NodeError::new(ErrorCode::NotMember, "user_id: not a member of this room")
                }
                other => other.into(),
            })?;
        self.publish(EventKind::RoomUpdated { room_id: id });
        self.audit(
            Some(caller),
            Some(id),
            "member.role",
            format!("user {} -> {}", req.user_id, req.role.as_str()),
        )
        .await;
        let name = self.user_name(m.user_id).await;
        Ok(views::member(&m, name))
    }

    /// `POST /api/v1/rooms/{id}/invites` (owner or admin).
    pub async fn create_invite(
        &self,
        caller: &Caller,
        id: RoomId,
        req: CreateInvite,
    ) -> Result<Invite> {
        self.managed_room(caller, id).await?;
        let uses = req.uses.unwrap_or(1);
        if !(1..=limits::MAX_CAPACITY).contains(&uses) {
            return Err(NodeError::field(
                "uses",
                format!("must be 1-{}", limits::MAX_CAPACITY),
            ));
        }
        let secs = req.expires_in_secs.unwrap_or(DEFAULT_INVITE_SECS);
        if !(1..=MAX_INVITE_SECS).contains(&secs) {
            return Err(NodeError::field(
                "expires_in_secs",
                format!("must be 1-{MAX_INVITE_SECS}"),
            ));
        }
        let now = self.now();
        let code = peer_proto::bytes::encode_b64(&random::<16>());
        let record = InviteRecord {
            room_id: id,
            code: code.clone(),
            uses,
            expires_at: now.saturating_add(secs),
            created_by: caller.user_id,
            created_at: now,
        };
        self.inner.store.create_invite(&record).await?;
        self.audit(
            Some(caller),
            Some(id),
            "invite.create",
            format!("uses {uses}, expires {}", record.expires_at),
        )
        .await;
        Ok(Invite {
            room_id: id,
            code,
            uses,
            expires_at: record.expires_at,
        })
    }
}

/// What an update changed, for the audit log (never the password).
fn describe(req: &UpdateRoom) -> String {
    let mut parts = Vec::new();
    if req.name.is_some() {
        parts.push("name");
    }
    if req.topic.is_some() {
        parts.push("topic");
    }
    if req.visibility.is_some() {
        parts.push("visibility");
    }
    if req.join_rule.is_some() {
        parts.push("join_rule");
    }
    if req.password.is_some() {
        parts.push("password");
    }
    if req.capacity.is_some() {
        parts.push("capacity");
    }
    parts.join(",")
}
