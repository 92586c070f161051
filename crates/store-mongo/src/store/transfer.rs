//! Export and import (`peerd migrate`): the lists no other method gives,
//! and writes of records with their original fields.
//!
//! Imports find which keys of a batch are already stored with one `find`
//! (`$in`), then insert the others with one `insert_many`: a record already
//! there is counted as present and left as it is, so a rerun completes an
//! interrupted import without duplicates. Counters that several documents
//! feed are rebuilt idempotently: a room's seq counter is raised with
//! `$max` (to the room's `last_seq`, then to the highest seq imported), and
//! its `member_count` is recounted from the member documents after every
//! member import.

use std::collections::{BTreeMap, BTreeSet};

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use peer_proto::{RoomId, UserId};
use peer_store::query::{check_i64, check_limit, decode_envelope_cursor, envelope_cursor};
use peer_store::{
    AuditRecord, BanRecord, ConflictKind, Cursor, CursorKind, EnvelopeRecord, ImportCount,
    InviteRecord, MemberRecord, MessageRecord, Page, PeerRecord, RoomRecord, StoreError,
    UserRecord, validate,
};

use super::{MongoStore, collect, live, room_key};
use crate::codec::{self, bin, clamp, int};
use crate::error::{map_err, map_err_id};

/// Documents per `insert_many`.
const INSERT_CHUNK: usize = 1000;

fn count_of(total: usize, inserted: usize) -> ImportCount {
    ImportCount {
        inserted: inserted as u64,
        present: (total - inserted) as u64,
    }
}

impl MongoStore {
    /// Inserts documents in chunks; `id_conflict` names a duplicate `_id`.
    async fn insert_all(
        &self,
        coll: &mongodb::Collection<Document>,
        docs: Vec<Document>,
        id_conflict: ConflictKind,
    ) -> Result<(), StoreError> {
        let mut docs = docs.into_iter().peekable();
        while docs.peek().is_some() {
            let chunk: Vec<Document> = docs.by_ref().take(INSERT_CHUNK).collect();
            coll.insert_many(chunk)
                .await
                .map_err(|e| map_err_id(e, id_conflict))?;
        }
        Ok(())
    }

    /// The values of `field` among the documents matching `filter`.
    async fn present(
        &self,
        coll: &mongodb::Collection<Document>,
        filter: Document,
        fields: Document,
    ) -> Result<Vec<Document>, StoreError> {
        collect(
            coll.find(filter)
                .projection(fields)
                .await
                .map_err(map_err)?,
        )
        .await
        .map_err(map_err)
    }

    /// A live room's document, or `NotFound { "room" }`.
    async fn room_doc_of(&self, id: RoomId) -> Result<Document, StoreError> {
        self.rooms
            .find_one(live(id))
            .await
            .map_err(map_err)?
            .ok_or(StoreError::not_found("room"))
    }

    /// Raises a room's seq counter to at least `seq` (creating it).
    async fn raise_counter(&self, id: RoomId, seq: u64) -> Result<(), StoreError> {
        self.counters
            .update_one(
                doc! { "_id": bin(id.as_bytes()) },
                doc! { "$max": { "seq": int("seq", seq)? } },
            )
            .upsert(true)
            .await
            .map(drop)
            .map_err(map_err)
    }

    pub(super) async fn export_bans(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<BanRecord>, StoreError> {
        let ban_of = |d: &Document| {
            let r = codec::Reader::new(d, "bans");
            Ok(BanRecord {
                room_id: RoomId::from_bytes(r.id16("room_id")?),
                user_id: UserId::from_bytes(r.id16("user_id")?),
                banned_at: r.u64("banned_at")?,
            })
        };
        self.page_by_user(
            &self.bans,
            room_id,
            limit,
            cursor,
            CursorKind::Bans,
            ban_of,
            |b| b.user_id,
        )
        .await
    }

    pub(super) async fn export_invites(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<InviteRecord>, StoreError> {
        check_limit(limit)?;
        let after = cursor
            .map(|c| c.decode_text(CursorKind::Invites))
            .transpose()?;
        let mut filter = room_key(room_id);
        if let Some(a) = after {
            filter.insert("code", doc! { "$gt": a });
        }
        self.bounded(async {
            self.require_room(room_id).await?;
            let docs = collect(
                self.invites
                    .find(filter)
                    .sort(doc! { "room_id": 1, "code": 1 })
                    .limit(i64::from(limit) + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            let invites = docs
                .iter()
                .map(codec::invite_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_fetched(invites, limit, |i| {
                Cursor::encode(CursorKind::Invites, i.code.as_bytes())
            }))
        })
        .await
    }

    pub(super) async fn export_room_envelopes(
        &self,
        room_id: RoomId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EnvelopeRecord>, StoreError> {
        check_limit(limit)?;
        let after = cursor.map(decode_envelope_cursor).transpose()?;
        let mut filter = room_key(room_id);
        if let Some((member, epoch)) = after {
            filter.insert(
                "$or",
                vec![
                    doc! { "member_id": { "$gt": bin(member.as_bytes()) } },
                    doc! { "member_id": bin(member.as_bytes()), "epoch": { "$gt": i64::from(epoch) } },
                ],
            );
        }
        self.bounded(async {
            self.require_room(room_id).await?;
            let docs = collect(
                self.envelopes
                    .find(filter)
                    .sort(doc! { "room_id": 1, "member_id": 1, "epoch": 1 })
                    .limit(i64::from(limit) + 1)
                    .await
                    .map_err(map_err)?,
            )
            .await
            .map_err(map_err)?;
            let envelopes = docs
                .iter()
                .map(codec::envelope_of)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_fetched(envelopes, limit, envelope_cursor))
        })
        .await
    }

    pub(super) async fn import_users_in(
        &self,
        users: &[UserRecord],
    ) -> Result<ImportCount, StoreError> {
        for u in users {
            validate::user(u)?;
        }
        let ids: Vec<Bson> = users.iter().map(|u| bin(u.id.as_bytes())).collect();
        let there = self
            .present(
                &self.users,
                doc! { "_id": { "$in": ids } },
                doc! { "_id": 1 },
            )
            .await?;
        let there: BTreeSet<[u8; 16]> = there
            .iter()
            .map(|d| codec::Reader::new(d, "users").id16("_id"))
            .collect::<Result<_, _>>()?;
        let mut seen = BTreeSet::new();
        let mut docs = Vec::new();
        for u in users {
            let id = u.id.to_bytes();
            if !there.contains(&id) && seen.insert(id) {
                docs.push(codec::user_doc(u)?);
            }
        }
        let inserted = docs.len();
        self.insert_all(&self.users, docs, ConflictKind::UserId)
            .await?;
        Ok(count_of(users.len(), inserted))
    }

    pub(super) async fn import_rooms_in(
        &self,
        rooms: &[RoomRecord],
    ) -> Result<ImportCount, StoreError> {
        for r in rooms {
            validate::import_room(r)?;
        }
        let ids: Vec<Bson> = rooms.iter().map(|r| bin(r.id.as_bytes())).collect();
        let there = self
            .present(
                &self.rooms,
                doc! { "_id": { "$in": ids } },
                doc! { "_id": 1 },
            )
            .await?;
        let there: BTreeSet<[u8; 16]> = there
            .iter()
            .map(|d| codec::Reader::new(d, "rooms").id16("_id"))
            .collect::<Result<_, _>>()?;
        let mut inserted = 0;
        for r in rooms {
            // The counter first: a room document is never live without it.
            self.raise_counter(r.id, r.last_seq).await?;
            if there.contains(r.id.as_bytes()) {
                continue;
            }
            let mut record = r.clone();
            record.member_count = 0;
            self.rooms
                .insert_one(codec::room_doc(&record, None)?)
                .await
                .map_err(|e| map_err_id(e, ConflictKind::RoomId))?;
            inserted += 1;
        }
        Ok(count_of(rooms.len(), inserted))
    }

    pub(super) async fn import_members_in(
        &self,
        members: &[MemberRecord],
    ) -> Result<ImportCount, StoreError> {
        let mut by_room: BTreeMap<RoomId, Vec<&MemberRecord>> = BTreeMap::new();
        for m in members {
            validate::import_member(m)?;
            by_room.entry(m.room_id).or_default().push(m);
        }
        let mut count = ImportCount::default();
        for (room, batch) in by_room {
            let d = self.room_doc_of(room).await?;
            let capacity = codec::Reader::new(&d, "rooms").u32("capacity")?;
            let users: Vec<Bson> = batch.iter().map(|m| bin(m.user_id.as_bytes())).collect();
            let there = self
                .present(
                    &self.members,
                    doc! { "room_id": bin(room.as_bytes()), "user_id": { "$in": users } },
                    doc! { "user_id": 1 },
                )
                .await?;
            let there: BTreeSet<[u8; 16]> = there
                .iter()
                .map(|d| codec::Reader::new(d, "members").id16("user_id"))
                .collect::<Result<_, _>>()?;
            let seated = self
                .members
                .count_documents(room_key(room))
                .await
                .map_err(map_err)?;
            let free = u64::from(capacity).saturating_sub(seated) as usize;
            let mut seen = BTreeSet::new();
            let new: Vec<&MemberRecord> = batch
                .iter()
                .copied()
                .filter(|m| !there.contains(m.user_id.as_bytes()) && seen.insert(m.user_id))
                .collect();
            let fits = new.len().min(free);
            let docs = new[..fits]
                .iter()
                .map(|m| codec::member_doc(m))
                .collect::<Result<Vec<_>, _>>()?;
            self.insert_all(&self.members, docs, ConflictKind::Member)
                .await?;
            self.recount_members(room).await?;
            count.add(count_of(fits + there.len(), fits));
            if fits < new.len() {
                return Err(StoreError::conflict(ConflictKind::Capacity));
            }
            // Duplicates inside the batch count as present.
            count.present += (batch.len() - new.len() - there.len()) as u64;
        }
        Ok(count)
    }

    /// Sets a room's member count to its member documents.
    async fn recount_members(&self, room: RoomId) -> Result<(), StoreError> {
        let n = self
            .members
            .count_documents(room_key(room))
            .await
            .map_err(map_err)?;
        self.rooms
            .update_one(
                doc! { "_id": bin(room.as_bytes()) },
                doc! { "$set": { "member_count": clamp(n) } },
            )
            .await
            .map(drop)
            .map_err(map_err)
    }

    pub(super) async fn import_bans_in(
        &self,
        bans: &[BanRecord],
    ) -> Result<ImportCount, StoreError> {
        let mut by_room: BTreeMap<RoomId, Vec<&BanRecord>> = BTreeMap::new();
        for b in bans {
            validate::import_ban(b)?;
            by_room.entry(b.room_id).or_default().push(b);
        }
        let mut count = ImportCount::default();
        for (room, batch) in by_room {
            self.require_room(room).await?;
            let users: Vec<Bson> = batch.iter().map(|b| bin(b.user_id.as_bytes())).collect();
            let there = self
                .present(
                    &self.bans,
                    doc! { "room_id": bin(room.as_bytes()), "user_id": { "$in": users } },
                    doc! { "user_id": 1 },
                )
                .await?;
            let mut seen: BTreeSet<[u8; 16]> = there
                .iter()
                .map(|d| codec::Reader::new(d, "bans").id16("user_id"))
                .collect::<Result<_, _>>()?;
            let mut docs = Vec::new();
            for b in &batch {
                if seen.insert(b.user_id.to_bytes()) {
                    docs.push(doc! {
                        "room_id": bin(room.as_bytes()),
                        "user_id": bin(b.user_id.as_bytes()),
                        "banned_at": int("banned_at", b.banned_at)?,
                    });
                }
            }
            let inserted = docs.len();
            self.insert_all(&self.bans, docs, ConflictKind::Banned)
                .await?;
            count.add(count_of(batch.len(), inserted));
        }
        Ok(count)
    }

    pub(super) async fn import_invites_in(
        &self,
        invites: &[InviteRecord],
    ) -> Result<ImportCount, StoreError> {
        let mut by_room: BTreeMap<RoomId, Vec<&InviteRecord>> = BTreeMap::new();
        for i in invites {
            validate::invite(i)?;
            by_room.entry(i.room_id).or_default().push(i);
        }
        let mut count = ImportCount::default();
        for (room, batch) in by_room {
            self.require_room(room).await?;
            let codes: Vec<&str> = batch.iter().map(|i| i.code.as_str()).collect();
            let there = self
                .present(
                    &self.invites,
                    doc! { "room_id": bin(room.as_bytes()), "code": { "$in": codes } },
                    doc! { "code": 1 },
                )
                .await?;
            let mut seen: BTreeSet<String> = there
                .iter()
                .map(|d| codec::Reader::new(d, "invites").string("code"))
                .collect::<Result<_, _>>()?;
            let mut docs = Vec::new();
            for i in &batch {
                if seen.insert(i.code.clone()) {
                    docs.push(codec::invite_doc(i)?);
                }
            }
            let inserted = docs.len();
            self.insert_all(&self.invites, docs, ConflictKind::InviteCode)
                .await?;
            count.add(count_of(batch.len(), inserted));
        }
        Ok(count)
    }

    pub(super) async fn import_envelopes_in(
        &self,
        envelopes: &[EnvelopeRecord],
    ) -> Result<ImportCount, StoreError> {
        let mut by_room: BTreeMap<RoomId, Vec<&EnvelopeRecord>> = BTreeMap::new();
        for e in envelopes {
            check_i64("stored_at", e.stored_at)?;
            by_room.entry(e.envelope.room_id).or_default().push(e);
        }
        let mut count = ImportCount::default();
        for (room, batch) in by_room {
            let d = self.room_doc_of(room).await?;
            let epoch = codec::Reader::new(&d, "rooms").u32("epoch")?;
            if batch.iter().any(|e| e.envelope.epoch > epoch) {
                return Err(StoreError::conflict(ConflictKind::Epoch));
            }
            let members: Vec<Bson> = batch
                .iter()
                .map(|e| bin(e.envelope.member_id.as_bytes()))
                .collect();
            let there = self
                .present(
                    &self.envelopes,
                    doc! { "room_id": bin(room.as_bytes()), "member_id": { "$in": members } },
                    doc! { "member_id": 1, "epoch": 1 },
                )
                .await?;
            let mut seen: BTreeSet<([u8; 16], u32)> = there
                .iter()
                .map(|d| {
                    let r = codec::Reader::new(d, "envelopes");
                    Ok((r.id16("member_id")?, r.u32("epoch")?))
                })
                .collect::<Result<_, StoreError>>()?;
            let mut docs = Vec::new();
            for e in &batch {
                if seen.insert((e.envelope.member_id.to_bytes(), e.envelope.epoch)) {
                    docs.push(codec::envelope_doc(e)?);
                }
            }
            let inserted = docs.len();
            self.insert_all(&self.envelopes, docs, ConflictKind::Envelope)
                .await?;
            count.add(count_of(batch.len(), inserted));
        }
        Ok(count)
    }

    pub(super) async fn import_messages_in(
        &self,
        messages: &[MessageRecord],
    ) -> Result<ImportCount, StoreError> {
        let mut by_room: BTreeMap<RoomId, Vec<&MessageRecord>> = BTreeMap::new();
        for m in messages {
            validate::import_message(m)?;
            by_room.entry(m.room_id).or_default().push(m);
        }
        let mut count = ImportCount::default();
        for (room, batch) in by_room {
            self.require_room(room).await?;
            let seqs: Vec<Bson> = batch.iter().map(|m| Bson::Int64(clamp(m.seq))).collect();
            let there = self
                .present(
                    &self.messages,
                    doc! { "room_id": bin(room.as_bytes()), "seq": { "$in": seqs } },
                    doc! { "seq": 1 },
                )
                .await?;
            let mut seen: BTreeSet<u64> = there
                .iter()
                .map(|d| codec::Reader::new(d, "messages").u64("seq"))
                .collect::<Result<_, _>>()?;
            let mut docs = Vec::new();
            for m in &batch {
                if seen.insert(m.seq) {
                    docs.push(codec::message_doc(m)?);
                }
            }
            let inserted = docs.len();
            let top = batch.iter().map(|m| m.seq).max().unwrap_or(0);
            // The counter before the documents: an append meanwhile takes a
            // seq after them.
            self.raise_counter(room, top).await?;
            self.insert_all(&self.messages, docs, ConflictKind::MessageSeq)
                .await?;
            count.add(count_of(batch.len(), inserted));
        }
        Ok(count)
    }

    pub(super) async fn import_peers_in(
        &self,
        peers: &[PeerRecord],
    ) -> Result<ImportCount, StoreError> {
        for p in peers {
            validate::peer(p)?;
        }
        let ids: Vec<Bson> = peers.iter().map(|p| bin(p.node_id.as_bytes())).collect();
        let there = self
            .present(
                &self.peers,
                doc! { "_id": { "$in": ids } },
                doc! { "_id": 1 },
            )
            .await?;
        let mut seen: BTreeSet<[u8; 16]> = there
            .iter()
            .map(|d| codec::Reader::new(d, "peers").id16("_id"))
            .collect::<Result<_, _>>()?;
        let mut docs = Vec::new();
        for p in peers {
            if seen.insert(p.node_id.to_bytes()) {
                docs.push(codec::peer_doc(p)?);
            }
        }
        let inserted = docs.len();
        self.insert_all(&self.peers, docs, ConflictKind::Other)
            .await?;
        Ok(count_of(peers.len(), inserted))
    }

    pub(super) async fn import_audit_in(
        &self,
        entries: &[AuditRecord],
    ) -> Result<ImportCount, StoreError> {
        for e in entries {
            validate::import_audit(e)?;
        }
        let sources: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let there = self
            .present(
                &self.audit,
                doc! { "source_id": { "$in": sources } },
                doc! { "source_id": 1 },
            )
            .await?;
        let mut seen: BTreeSet<String> = there
            .iter()
            .map(|d| codec::Reader::new(d, "audit").string("source_id"))
            .collect::<Result<_, _>>()?;
        let mut docs = Vec::new();
        for e in entries {
            if seen.insert(e.id.clone()) {
                // Fresh ObjectIds in the order given: the source's order.
                docs.push(doc! {
                    "_id": ObjectId::new(),
                    "at": int("at", e.at)?,
                    "actor_id": e.actor_id.map_or(Bson::Null, |u| bin(u.as_bytes())),
                    "room_id": e.room_id.map_or(Bson::Null, |r| bin(r.as_bytes())),
                    "action": &e.action,
                    "detail": &e.detail,
                    "source_id": &e.id,
                });
            }
        }
        let inserted = docs.len();
        self.insert_all(&self.audit, docs, ConflictKind::Other)
            .await?;
        Ok(count_of(entries.len(), inserted))
    }
}
