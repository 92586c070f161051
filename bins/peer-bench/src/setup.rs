//! Users, rooms and ready-made messages for the scenarios.

use std::sync::Arc;

use peer_client::{Client, ClientOptions, MemoryPins, RoomSettings};
use peer_crypto::{IdentityKey, KeySize, RoomKey, verify_envelope};
use peer_proto::RoomId;
use peer_proto::api::{Kex, PostMessage};
use peer_proto::signed::MessageBody;

/// One user's identity, shared by every session the scenario opens for it.
#[derive(Clone)]
pub(crate) struct User {
    /// The user's key.
    pub(crate) key: IdentityKey,
    pins: Arc<MemoryPins>,
    kex: Kex,
}

impl User {
    /// A new RSA-2048 user.
    pub(crate) fn generate(kex: Kex) -> anyhow::Result<User> {
        let key = IdentityKey::generate(&mut peer_crypto::rng::system_rng(), KeySize::Rsa2048)?;
        Ok(User {
            key,
            pins: Arc::new(MemoryPins::default()),
            kex,
        })
    }

    /// A client of this user (no session yet).
    pub(crate) async fn client(&self, url: &str) -> anyhow::Result<Client> {
        let options = ClientOptions::default().kex(self.kex);
        Ok(Client::connect(url, self.key.clone(), self.pins.as_ref(), options).await?)
    }

    /// A client with its session already made, so that timed requests do
    /// not include a handshake.
    pub(crate) async fn session(&self, url: &str) -> anyhow::Result<Client> {
        let c = self.client(url).await?;
        c.handshake().await?;
        Ok(c)
    }

    /// Registers the user under `name` and returns a client for it.
    pub(crate) async fn register(&self, url: &str, name: &str) -> anyhow::Result<Client> {
        let c = self.client(url).await?;
        c.register(name).await?;
        Ok(c)
    }
}

/// An encrypted room made by `owner`, with its epoch-1 key.
pub(crate) struct EncryptedRoom {
    /// The room.
    pub(crate) id: RoomId,
    key: RoomKey,
}

impl EncryptedRoom {
    /// Creates an open, public, encrypted room named `name`.
    pub(crate) async fn create(owner: &Client, name: &str) -> anyhow::Result<EncryptedRoom> {
        let room = owner.create_room(RoomSettings::new(name)).await?;
        let keys = owner.get_keys(room.id).await?;
        let envelope = keys
            .envelopes
            .first()
            .ok_or_else(|| anyhow::anyhow!("the new room has no envelope"))?;
        let verified = verify_envelope(envelope, owner.identity().public())?;
        let key = verified.unwrap_key(&mut peer_crypto::rng::system_rng(), owner.identity())?;
        Ok(EncryptedRoom { id: room.id, key })
    }

    /// `distinct` messages encrypted and signed by `sender`, ready to post
    /// (made before any timed phase: this is the client's work).
    pub(crate) fn sealed_posts(
        &self,
        sender: &IdentityKey,
        distinct: usize,
        text_len: usize,
    ) -> anyhow::Result<Vec<PostMessage>> {
        let mut rng = peer_crypto::rng::system_rng();
        let epoch = self.key.epoch_key(self.id, 1);
        (0..distinct)
            .map(|i| {
                let mut text = format!("message {i} ");
                text.extend(std::iter::repeat_n(
                    'x',
                    text_len.saturating_sub(text.len()),
                ));
                let body = MessageBody {
                    text,
                    sent_at: 0,
                    reply_to: None,
                };
                Ok(epoch.encrypt(&mut rng, sender, &body)?.to_post())
            })
            .collect()
    }
}

/// Opens `n` sessions of `user` at once, at most `parallel` handshakes in
/// flight.
pub(crate) async fn sessions(
    user: &User,
    url: &str,
    n: usize,
    parallel: usize,
) -> anyhow::Result<Vec<Client>> {
    let mut out = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let batch = left.min(parallel.max(1));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let user = user.clone();
            let url = url.to_owned();
            set.spawn(async move { user.session(&url).await });
        }
        while let Some(r) = set.join_next().await {
            out.push(r??);
        }
        left -= batch;
    }
    Ok(out)
}
