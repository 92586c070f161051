//! Room keys on the node: it stores envelopes (keys wrapped for one member
//! and signed by an owner or admin) and enforces who may hand them out, and
//! that a rotation covers exactly the current members.

use std::collections::HashSet;

use peer_crypto::verify_envelope;
use peer_proto::api::{Envelope, KeyList, KeysPosted, PostKeys};
use peer_proto::event::EventKind;
use peer_proto::limits;
use peer_proto::{ErrorCode, RoomId, UserId};
use peer_store::{ConflictKind, EnvelopeRecord, MemberRecord, StoreError};

use crate::Node;
use crate::auth::Caller;
use crate::error::{NodeError, Result};

impl Node {
    /// `GET /api/v1/rooms/{id}/keys`: the caller's envelopes, one per epoch
    /// from the epoch it joined at.
    pub async fn get_keys(&self, caller: &Caller, id: RoomId) -> Result<KeyList> {
        let (room, me) = self.member_room(caller, id).await?;
        if !room.encrypted {
            return Ok(KeyList {
                current_epoch: 0,
                envelopes: Vec::new(),
            });
        }
        let mut envelopes = Vec::new();
        let mut from = me.join_epoch;
        loop {
            let batch = self
                .inner
                .store
                .list_envelopes(id, caller.user_id, from, limits::MAX_PAGE_LIMIT)
                .await?;
            let full = batch.len() == limits::MAX_PAGE_LIMIT as usize;
            let Some(last) = batch.last().map(|e| e.envelope.epoch) else {
                break;
            };
            envelopes.extend(batch.into_iter().map(|e| e.envelope));
            if !full || last == u32::MAX {
                break;
            }
            from = last + 1;
        }
        Ok(KeyList {
            current_epoch: room.epoch,
            envelopes,
        })
    }

    async fn all_members(&self, id: RoomId) -> Result<Vec<MemberRecord>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .store
                .list_members(id, limits::MAX_PAGE_LIMIT, cursor.as_ref())
                .await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// `POST /api/v1/rooms/{id}/keys` (owner or admin): with `epoch` equal
    /// to the room's, hands the current key to members who lack it; with
    /// `epoch` one above, rotates, and then the envelopes must cover every
    /// current member exactly once. With `rotate` set, an `epoch` equal to
    /// the room's (someone rotated first) is a `conflict`, never a
    /// distribution.
    pub async fn post_keys(
        &self,
        caller: &Caller,
        id: RoomId,
        req: PostKeys,
    ) -> Result<KeysPosted> {
        if req.envelopes.is_empty() {
            return Err(NodeError::field("envelopes", "must not be empty"));
        }
        if req.envelopes.len() > limits::MAX_ENVELOPES {
            return Err(NodeError::field(
                "envelopes",
                format!("at most {}", limits::MAX_ENVELOPES),
            ));
        }
        let (room, _) = self.managed_room(caller, id).await?;
        if !room.encrypted {
            return Err(NodeError::forbidden("an unencrypted room has no keys"));
        }
        let rotating = if req.epoch == room.epoch && req.rotate {
            // Another manager rotated to this epoch first: these envelopes
            // wrap a key nobody else has, so they must not be stored.
            return Err(NodeError::new(
                ErrorCode::Conflict,
                format!(
                    "the room was rotated to epoch {} meanwhile; read it again",
                    room.epoch
                ),
            ));
        } else if req.epoch == room.epoch {
            false
        } else if Some(req.epoch) == room.epoch.checked_add(1) {
            true
        } else {
            return Err(NodeError::new(
                ErrorCode::WrongEpoch,
                format!(
                    "epoch: the room is at {}; distribute {} or rotate to {}",
                    room.epoch,
                    room.epoch,
                    room.epoch.saturating_add(1)
                ),
            ));
        };
        let key = self.user_key(caller.user_id).await?;
        let members = self.all_members(id).await?;
        let mut seen = HashSet::new();
        for env in &req.envelopes {
            check_envelope(env, id, req.epoch, caller.user_id)?;
            if !seen.insert(env.member_id) {
                return Err(NodeError::new(
                    ErrorCode::InvalidEnvelope,
                    format!("envelopes: two for member {}", env.member_id),
                ));
            }
            let Some(member) = members.iter().find(|m| m.user_id == env.member_id) else {
                // A rotation's set must be exactly the members: an extra one
                // makes it as wrong as a missing one.
                let code = if rotating {
                    ErrorCode::IncompleteEnvelopes
                } else {
                    ErrorCode::InvalidEnvelope
                };
                return Err(NodeError::new(
                    code,
                    format!("envelopes: {} is not a member", env.member_id),
                ));
            };
            if !rotating && member.join_epoch > req.epoch {
                return Err(NodeError::new(
                    ErrorCode::InvalidEnvelope,
                    format!(
                        "envelopes: {} joined after epoch {}",
                        env.member_id, req.epoch
                    ),
                ));
            }
            verify_envelope(env, &key).map_err(|_| {
                NodeError::new(
                    ErrorCode::InvalidEnvelope,
                    format!("envelopes: bad signature for member {}", env.member_id),
                )
            })?;
        }
        let now = self.now();
        let records: Vec<EnvelopeRecord> = req
            .envelopes
            .iter()
            .map(|e| EnvelopeRecord {
                envelope: e.clone(),
                stored_at: now,
            })
            .collect();
        if rotating {
            if let Some(missing) = members.iter().find(|m| !seen.contains(&m.user_id)) {
                return Err(NodeError::new(
                    ErrorCode::IncompleteEnvelopes,
                    format!("envelopes: none for member {}", missing.user_id),
                ));
            }
            // The store rotates only if the room is unchanged since it was
            // read (same version): a member removed meanwhile must not get
            // the new key.
            let rotated = self
                .inner
                .store
                .rotate_epoch(id, room.epoch, room.version, &records, now)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict {
                        what: ConflictKind::Version | ConflictKind::Epoch,
                    } => NodeError::new(
                        ErrorCode::Conflict,
                        "the room changed during the rotation; read it again and retry",
                    ),
                    other => other.into(),
                })?;
            self.publish(EventKind::KeyRotated {
                room_id: id,
                epoch: rotated.epoch,
            });
            self.audit(
                Some(caller),
                Some(id),
                "key.rotate",
                format!("epoch {}", rotated.epoch),
            )
            .await;
            Ok(KeysPosted {
                current_epoch: rotated.epoch,
                stored: u32::try_from(records.len()).unwrap_or(u32::MAX),
                rotated: true,
            })
        } else {
            let stored = self.inner.store.put_envelopes(&records).await?;
            for env in &req.envelopes {
                self.publish(EventKind::KeyGranted {
                    room_id: id,
                    user_id: env.member_id,
                    epoch: env.epoch,
                });
            }
            self.audit(
                Some(caller),
                Some(id),
                "key.distribute",
                format!("epoch {}, {stored} new", req.epoch),
            )
            .await;
            Ok(KeysPosted {
                current_epoch: room.epoch,
                stored,
                rotated: false,
            })
        }
    }
}

fn check_envelope(env: &Envelope, room: RoomId, epoch: u32, distributor: UserId) -> Result<()> {
    if env.room_id != room {
        return Err(NodeError::new(
            ErrorCode::InvalidEnvelope,
            "envelopes: room_id differs from the room",
        ));
    }
    if env.epoch != epoch {
        return Err(NodeError::new(
            ErrorCode::InvalidEnvelope,
            "envelopes: epoch differs from the request's",
        ));
    }
    if env.distributor_id != distributor {
        return Err(NodeError::new(
            ErrorCode::InvalidEnvelope,
            "envelopes: distributor_id must be the caller",
        ));
    }
    Ok(())
}
