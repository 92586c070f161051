//! Room keys this user holds, per room and epoch.
//!
//! Keys come from the user's own envelopes (`GET /rooms/{id}/keys`), each
//! checked before use: addressed to this user, this room and its epoch, and
//! signed by the distributor it names (whose key is checked against its id,
//! see [`known_user`](crate::Client::known_user)). Keys this client made
//! itself (creating a room, rotating) go in directly. Keys are
//! [`RoomKey`]s: zeroized when dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use peer_crypto::{RoomKey, verify_envelope};
use peer_proto::RoomId;
use peer_proto::api::{Envelope, KeyList};

use crate::client::Client;
use crate::error::{ClientError, Result};

#[derive(Default)]
struct RoomKeys {
    /// The room's current epoch as last seen (0: unencrypted room).
    current: u32,
    keys: BTreeMap<u32, RoomKey>,
    /// Epochs whose envelope failed verification.
    invalid: BTreeSet<u32>,
}

/// The room keys of one client.
#[derive(Default)]
pub(crate) struct Keyring {
    rooms: Mutex<HashMap<RoomId, RoomKeys>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

/// The key of one epoch, or why there is none.
pub(crate) enum KeyLookup {
    /// The key.
    Key(RoomKey),
    /// The envelope for this epoch failed verification.
    Invalid,
    /// No envelope for this epoch (yet).
    Missing,
}

impl Keyring {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<RoomId, RoomKeys>) -> T) -> T {
        f(&mut self.rooms.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Adds a key this client made, and makes `epoch` current if newer.
    pub(crate) fn insert(&self, room: RoomId, epoch: u32, key: RoomKey) {
        self.with(|rooms| {
            let r = rooms.entry(room).or_default();
            r.keys.insert(epoch, key);
            r.invalid.remove(&epoch);
            r.current = r.current.max(epoch);
        });
    }

    /// Records that a room this client made is unencrypted (epoch 0).
    pub(crate) fn insert_unencrypted(&self, room: RoomId) {
        self.with(|rooms| {
            rooms.entry(room).or_default();
        });
    }

    /// The current epoch as last seen, if the room was seen at all.
    pub(crate) fn current(&self, room: RoomId) -> Option<u32> {
        self.with(|rooms| rooms.get(&room).map(|r| r.current))
    }

    pub(crate) fn lookup(&self, room: RoomId, epoch: u32) -> KeyLookup {
        self.with(|rooms| match rooms.get(&room) {
            Some(r) => match r.keys.get(&epoch) {
                Some(k) => KeyLookup::Key(k.clone()),
                None if r.invalid.contains(&epoch) => KeyLookup::Invalid,
                None => KeyLookup::Missing,
            },
            None => KeyLookup::Missing,
        })
    }

    fn has(&self, room: RoomId, epoch: u32) -> bool {
        self.with(|rooms| {
            rooms
                .get(&room)
                .is_some_and(|r| r.keys.contains_key(&epoch))
        })
    }

    fn record(&self, room: RoomId, current: u32, keys: Vec<(u32, RoomKey)>, invalid: Vec<u32>) {
        self.with(|rooms| {
            let r = rooms.entry(room).or_default();
            r.current = r.current.max(current);
            for (epoch, key) in keys {
                r.keys.entry(epoch).or_insert(key);
                r.invalid.remove(&epoch);
            }
            for epoch in invalid {
                if !r.keys.contains_key(&epoch) {
                    r.invalid.insert(epoch);
                }
            }
        });
    }

    /// Forgets a room's keys (the room was deleted).
    pub(crate) fn forget(&self, room: RoomId) {
        self.with(|rooms| rooms.remove(&room));
    }
}

impl Client {
    /// Fetches this user's envelopes of `room`, verifies and unwraps the new
    /// ones, and returns the room's current epoch (0 for an unencrypted
    /// room). An envelope that fails verification is remembered as invalid
    /// for its epoch (messages of that epoch then report
    /// [`MessageError::InvalidEnvelope`](crate::MessageError::InvalidEnvelope))
    /// and logged; the other epochs stay usable.
    pub async fn refresh_keys(&self, room: RoomId) -> Result<u32> {
        let list: KeyList = self.get_keys(room).await?;
        let mut keys = Vec::new();
        let mut invalid = Vec::new();
        for env in &list.envelopes {
            if self.inner.keyring.has(room, env.epoch) {
                continue;
            }
            match self.open_envelope(room, env).await {
                Ok(key) => keys.push((env.epoch, key)),
                Err(e) => {
                    tracing::warn!(room = %room, epoch = env.epoch, error = %e, "refusing a key envelope");
                    invalid.push(env.epoch);
                }
            }
        }
        self.inner
            .keyring
            .record(room, list.current_epoch, keys, invalid);
        Ok(list.current_epoch)
    }

    /// Checks one of this user's envelopes and unwraps its key.
    async fn open_envelope(&self, room: RoomId, env: &Envelope) -> Result<RoomKey> {
        let bad = || ClientError::InvalidEnvelope {
            room,
            epoch: env.epoch,
        };
        if env.room_id != room || env.member_id != self.user_id() {
            return Err(bad());
        }
        let distributor = self.known_user(env.distributor_id).await?;
        let verified = verify_envelope(env, &distributor.key).map_err(|_| bad())?;
        let mut rng = peer_crypto::rng::system_rng();
        verified
            .unwrap_key(&mut rng, &self.inner.identity)
            .map_err(|_| bad())
    }

    /// The key of `epoch` of `room`, if this client holds it: for an
    /// embedder's own key store (keys survive a restart of the embedder
    /// only if it saves them; otherwise they are fetched again from the
    /// user's envelopes). Handle with care: whoever holds it reads the
    /// room's messages of that epoch.
    pub fn room_key(&self, room: RoomId, epoch: u32) -> Option<RoomKey> {
        match self.inner.keyring.lookup(room, epoch) {
            KeyLookup::Key(k) => Some(k),
            KeyLookup::Invalid | KeyLookup::Missing => None,
        }
    }

    /// Puts a key from the embedder's own key store back into this client
    /// (see [`room_key`](Self::room_key)). It is trusted as given.
    pub fn import_room_key(&self, room: RoomId, epoch: u32, key: RoomKey) {
        self.inner.keyring.insert(room, epoch, key);
    }

    /// The key of `epoch`, refreshing once from the node when it is not
    /// held yet.
    pub(crate) async fn key_for(&self, room: RoomId, epoch: u32) -> Result<RoomKey> {
        if let KeyLookup::Missing = self.inner.keyring.lookup(room, epoch) {
            self.refresh_keys(room).await?;
        }
        match self.inner.keyring.lookup(room, epoch) {
            KeyLookup::Key(k) => Ok(k),
            KeyLookup::Invalid => Err(ClientError::InvalidEnvelope { room, epoch }),
            KeyLookup::Missing => Err(ClientError::NoRoomKey { room, epoch }),
        }
    }

    /// The room's current epoch as this client knows it, fetching keys when
    /// the room was never seen.
    pub(crate) async fn current_epoch(&self, room: RoomId) -> Result<u32> {
        match self.inner.keyring.current(room) {
            Some(e) => Ok(e),
            None => self.refresh_keys(room).await,
        }
    }
}
