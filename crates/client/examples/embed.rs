//! An embedder's tour of `peer-client`: two users with fresh keys, an
//! encrypted invite-only room, the key handed out on the `key_request`
//! event (as an always-on owner client does), and one end-to-end encrypted
//! message sent, read, verified and printed.
//!
//! Run it against a live node:
//!
//! ```text
//! peerd --ephemeral &            # or any node
//! cargo run -p peer-client --example embed -- http://127.0.0.1:8080
//! ```

use std::time::Duration;

use anyhow::{Context as _, bail};
use peer_client::{AgentAction, Client, ClientOptions, MemoryPins, RoomSettings, Verification};
use peer_crypto::{IdentityKey, KeySize};
use peer_proto::api::{CreateInvite, JoinRoom};
use rand_core::Rng as _;

/// What Alice sends.
pub(crate) const GREETING: &str = "hello Bob, only we can read this";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let line = run(&url).await?;
    println!("{line}");
    Ok(())
}

/// Runs the tour against the node at `url`; returns the line it prints.
pub(crate) async fn run(url: &str) -> anyhow::Result<String> {
    let mut rng = peer_crypto::rng::system_rng();
    // Names are unique per node: a random suffix lets the tour run again.
    let suffix = format!("{:06x}", rng.next_u32() & 0xff_ffff);

    // Keys are the embedder's: generate (or IdentityKey::load_pem) and keep.
    let alice_key = IdentityKey::generate(&mut rng, KeySize::Rsa2048)?;
    let bob_key = IdentityKey::generate(&mut rng, KeySize::Rsa2048)?;

    // Trust on first use. A real embedder keeps pins in a PinFile so that a
    // node that changes its key later is refused.
    let pins = MemoryPins::new();
    let alice = Client::connect(url, alice_key, &pins, ClientOptions::default())
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let bob = Client::connect(url, bob_key, &pins, ClientOptions::default()).await?;
    alice.register(&format!("alice-{suffix}")).await?;
    bob.register(&format!("bob-{suffix}")).await?;
    println!("node {} at {}", alice.node().name, alice.url());

    // Alice's client makes the room id and its key; the node gets only
    // the key wrapped for Alice.
    let room = alice
        .create_room(RoomSettings::new("embed tour").invite_only())
        .await?;
    let invite = alice
        .create_invite(room.id, &CreateInvite::default())
        .await?;

    // Alice listens for events, Bob joins with the invite code.
    let mut events = alice.events(None).await?;
    let joined = bob
        .join_room(
            room.id,
            &JoinRoom {
                password: None,
                invite: Some(invite.code.clone()),
            },
        )
        .await?;
    println!(
        "bob joined {:?}; key pending: {}",
        room.name, joined.key_pending
    );

    // The node asks room managers for Bob's key; Alice's client answers.
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            let action = alice.handle_event(&event?).await?;
            if matches!(action, Some(AgentAction::KeyDistributed { user, .. }) if user == bob.user_id())
            {
                return Ok(());
            }
        }
        bail!("the event stream ended before Bob's key request")
    })
    .await
    .context("waiting for Bob's key request")??;

    alice.send_text(room.id, GREETING).await?;
    let messages = bob.read(room.id, 0, 10).await?;
    let Some(m) = messages.first() else {
        bail!("Bob read no message");
    };
    if m.verified != Verification::Verified {
        bail!("the message did not verify: {:?}", m.error);
    }
    let line = format!(
        "{} wrote (signature verified, decrypted by {}): {}",
        m.sender_name.as_deref().unwrap_or("?"),
        bob.user_id(),
        m.text.as_deref().unwrap_or_default()
    );
    alice.delete_room(room.id).await?;
    Ok(line)
}
