//! The helpers an always-on client runs when it comes online:
//! [`Client::distribute_key_to_members`] (members who joined while no owner
//! or admin was online get the current key) and [`Client::rotate_if_due`]
//! (a rotation made due by a removal happens once, whoever runs it), and
//! [`Client::list_peers`].

mod common;

use peer_client::{ClientOptions, RoomSettings, Verification};
use peer_proto::ErrorCode;
use peer_proto::api::{JoinRoom, PeerQuery};
use peer_testkit::keys;
use peer_testkit::node::TestNode;

use common::{assert_api, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catching_up_hands_out_missing_keys_and_rotates_once() {
    let node = TestNode::start().await;
    let opts = ClientOptions::default();
    let alice = user(node.url(), keys::alice(), "alice", &opts).await;
    let bob = user(node.url(), keys::bob(), "bob", &opts).await;
    let carol = user(node.url(), keys::carol(), "carol", &opts).await;

    let room = alice.create_room(RoomSettings::new("late")).await.unwrap();
    // Alone in the room: nobody to hand a key to.
    assert!(
        alice
            .distribute_key_to_members(room.id)
            .await
            .unwrap()
            .is_none()
    );
    // Two members join while no agent answers their key requests.
    bob.join_room(room.id, &JoinRoom::default()).await.unwrap();
    carol
        .join_room(room.id, &JoinRoom::default())
        .await
        .unwrap();
    assert_eq!(bob.refresh_keys(room.id).await.unwrap(), 1);
    assert!(bob.room_key(room.id, 1).is_none(), "no key handed out yet");

    let posted = alice
        .distribute_key_to_members(room.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((posted.current_epoch, posted.stored), (1, 2));
    // A second catch-up stores nothing new.
    let again = alice
        .distribute_key_to_members(room.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.stored, 0);

    alice.send_text(room.id, "welcome both").await.unwrap();
    for member in [&bob, &carol] {
        let read = member.read(room.id, 0, 10).await.unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].verified, Verification::Verified);
        assert_eq!(read[0].text.as_deref(), Some("welcome both"));
    }

    // Not due: nothing to do, and a member cannot hand out keys.
    assert!(alice.rotate_if_due(room.id).await.unwrap().is_none());
    assert!(bob.rotate_if_due(room.id).await.unwrap().is_none());
    assert_api(
        bob.distribute_key_to_members(room.id).await,
        ErrorCode::Forbidden,
    );

    // Carol leaves: the rotation becomes due, posts are refused until it
    // happens, and it happens exactly once.
    carol.leave_room(room.id).await.unwrap();
    assert_api(
        bob.send_text(room.id, "blocked").await,
        ErrorCode::RotationPending,
    );
    assert!(
        bob.rotate_if_due(room.id).await.unwrap().is_none(),
        "a member does not rotate"
    );
    let rotated = alice.rotate_if_due(room.id).await.unwrap().unwrap();
    assert!(rotated.rotated);
    assert_eq!((rotated.current_epoch, rotated.stored), (2, 2));
    assert!(alice.rotate_if_due(room.id).await.unwrap().is_none());
    bob.send_text(room.id, "after the rotation").await.unwrap();
    let read = alice.read(room.id, 1, 10).await.unwrap();
    assert_eq!(read[0].text.as_deref(), Some("after the rotation"));
    assert_eq!(read[0].epoch, Some(2));

    // An unencrypted room has no keys to hand out.
    let lobby = alice
        .create_room(RoomSettings::new("lobby").unencrypted())
        .await
        .unwrap();
    bob.join_room(lobby.id, &JoinRoom::default()).await.unwrap();
    assert!(alice.rotate_if_due(lobby.id).await.unwrap().is_none());
    assert!(matches!(
        alice.distribute_key_to_members(lobby.id).await,
        Err(peer_client::ClientError::NotEncrypted(id)) if id == lobby.id
    ));

    // A standalone node knows no peers.
    let peers = alice.list_peers(&PeerQuery::default()).await.unwrap();
    assert!(peers.peers.is_empty());
    node.stop().await;
}
