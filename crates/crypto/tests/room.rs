//! Room keys, messages and key envelopes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use peer_crypto::{ApiMisuse, Error, PeerMisbehaved, RoomKey, verify_envelope, wrap_envelope};
use peer_proto::api::Message;
use peer_proto::signed::MessageBody;
use peer_proto::{Bytes, ErrorCode, MessageId, RoomId};
use peer_testkit::keys::{alice, bob, carol};
use peer_testkit::rng::seeded;
use peer_testkit::tamper::flip_byte;

const ROOM: RoomId = RoomId::from_bytes([0x11; 16]);

fn body() -> MessageBody {
    MessageBody {
        text: "hello room".into(),
        sent_at: 1_700_000_000,
        reply_to: Some(3),
    }
}

fn peer_err(e: Error) -> PeerMisbehaved {
    e.as_peer()
        .unwrap_or_else(|| panic!("not a peer error: {e:?}"))
}

#[test]
fn encrypt_then_decrypt() {
    let mut rng = seeded(1);
    let master = RoomKey::generate(&mut rng);
    let k = master.epoch_key(ROOM, 1);
    let m = k.encrypt(&mut rng, alice(), &body()).unwrap();
    assert_eq!(m.sender_id, alice().user_id());
    assert_eq!(m.epoch, 1);
    let got = k
        .decrypt(
            alice().public(),
            alice().user_id(),
            m.ciphertext.as_slice(),
            m.signature.as_slice(),
        )
        .unwrap();
    assert_eq!(got, body());
    let post = m.to_post();
    assert_eq!(post.epoch, Some(1));
    assert!(post.text.is_none());
    // Through a stored message.
    let stored = Message {
        room_id: ROOM,
        seq: 1,
        id: MessageId::from_bytes([0; 16]),
        sender_id: alice().user_id(),
        created_at: 0,
        epoch: post.epoch,
        ciphertext: post.ciphertext,
        signature: post.signature,
        text: None,
        deleted: false,
    };
    assert_eq!(
        k.decrypt_message(&stored, alice().public()).unwrap(),
        body()
    );
    let mut other_epoch = stored.clone();
    other_epoch.epoch = Some(2);
    assert!(matches!(
        k.decrypt_message(&other_epoch, alice().public())
            .unwrap_err(),
        Error::Misuse(ApiMisuse::WrongEpochKey)
    ));
}

#[test]
fn message_signed_by_another_member_fails() {
    let mut rng = seeded(2);
    let k = RoomKey::generate(&mut rng).epoch_key(ROOM, 1);
    // Bob encrypts and signs, then claims to be Alice.
    let m = k.encrypt(&mut rng, bob(), &body()).unwrap();
    let e = k
        .decrypt(
            alice().public(),
            alice().user_id(),
            m.ciphertext.as_slice(),
            m.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);
    // Bob's key under Alice's id.
    let e = k
        .decrypt(
            bob().public(),
            alice().user_id(),
            m.ciphertext.as_slice(),
            m.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);
    // Alice's signature moved onto Bob's ciphertext.
    let a = k.encrypt(&mut rng, alice(), &body()).unwrap();
    let e = k
        .decrypt(
            alice().public(),
            alice().user_id(),
            m.ciphertext.as_slice(),
            a.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);
}

#[test]
fn signature_first_then_open_with_distinct_errors() {
    let mut rng = seeded(3);
    let master = RoomKey::generate(&mut rng);
    let k = master.epoch_key(ROOM, 1);
    let m = k.encrypt(&mut rng, alice(), &body()).unwrap();
    // A flipped ciphertext byte breaks the signature first.
    let bad = flip_byte(m.ciphertext.as_slice(), 20);
    let e = k
        .decrypt(
            alice().public(),
            alice().user_id(),
            &bad,
            m.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);
    // A validly signed ciphertext under another key: undecryptable.
    let other = RoomKey::generate(&mut rng).epoch_key(ROOM, 1);
    let m2 = other.encrypt(&mut rng, alice(), &body()).unwrap();
    let e = k
        .decrypt(
            alice().public(),
            alice().user_id(),
            m2.ciphertext.as_slice(),
            m2.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::Undecryptable);
    assert_eq!(
        Error::from(PeerMisbehaved::Undecryptable).code(),
        ErrorCode::InvalidSealedBody
    );
    // Another room with the same master: the aad and signature differ.
    let k_other_room = master.epoch_key(RoomId::from_bytes([0x22; 16]), 1);
    let e = k_other_room
        .decrypt(
            alice().public(),
            alice().user_id(),
            m.ciphertext.as_slice(),
            m.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature);
}

#[test]
fn epoch_n_key_cannot_open_epoch_n_plus_1() {
    let mut rng = seeded(4);
    let master_n = RoomKey::generate(&mut rng);
    let master_n1 = RoomKey::generate(&mut rng);
    let m = master_n1
        .epoch_key(ROOM, 2)
        .encrypt(&mut rng, alice(), &body())
        .unwrap();
    // A former member holds only epoch 1's master: derived for epoch 2 it is
    // still the wrong key (signature fine, content closed).
    let e = master_n
        .epoch_key(ROOM, 2)
        .decrypt(
            alice().public(),
            alice().user_id(),
            m.ciphertext.as_slice(),
            m.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::Undecryptable);
    // The same master at another epoch is another key as well.
    let same_master = master_n
        .epoch_key(ROOM, 1)
        .encrypt(&mut rng, alice(), &body())
        .unwrap();
    let e = master_n
        .epoch_key(ROOM, 2)
        .decrypt(
            alice().public(),
            alice().user_id(),
            same_master.ciphertext.as_slice(),
            same_master.signature.as_slice(),
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadSignature, "epoch is signed");
    assert_ne!(
        format!("{:?}", master_n.epoch_key(ROOM, 1)),
        format!("{:?}", master_n.epoch_key(ROOM, 2))
    );
}

#[test]
fn room_key_debug_is_redacted() {
    let k = RoomKey::from_bytes([0xab; 32]);
    assert_eq!(format!("{k:?}"), "RoomKey(<redacted>)");
    assert!(!format!("{:?}", k.epoch_key(ROOM, 1)).contains("171"));
}

#[test]
fn envelope_round_trip() {
    let mut rng = seeded(5);
    let master = RoomKey::generate(&mut rng);
    let env = wrap_envelope(&mut rng, alice(), ROOM, 1, bob().public(), &master).unwrap();
    assert_eq!(env.member_id, bob().user_id());
    assert_eq!(env.distributor_id, alice().user_id());
    assert_eq!(env.wrapped_key.len(), 256);
    let v = verify_envelope(&env, alice().public()).unwrap();
    assert_eq!(
        (v.room_id(), v.epoch(), v.member_id(), v.distributor_id()),
        (ROOM, 1, bob().user_id(), alice().user_id())
    );
    assert_eq!(v.unwrap_key(&mut rng, bob()).unwrap(), master);
    // Not Carol's envelope.
    assert!(matches!(
        v.unwrap_key(&mut rng, carol()).unwrap_err(),
        Error::Misuse(ApiMisuse::NotMyEnvelope)
    ));
}

#[test]
fn envelope_signed_by_someone_else_fails() {
    let mut rng = seeded(6);
    let master = RoomKey::generate(&mut rng);
    // Carol signs, but the envelope names Alice as distributor.
    let mut env = wrap_envelope(&mut rng, carol(), ROOM, 1, bob().public(), &master).unwrap();
    env.distributor_id = alice().user_id();
    let e = verify_envelope(&env, alice().public()).unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadEnvelope);
    assert_eq!(
        verify_envelope(&env, alice().public()).unwrap_err().code(),
        ErrorCode::InvalidEnvelope
    );
    // Carol's envelope checked against Alice's key while it names Carol.
    let env = wrap_envelope(&mut rng, carol(), ROOM, 1, bob().public(), &master).unwrap();
    assert_eq!(
        peer_err(verify_envelope(&env, alice().public()).unwrap_err()),
        PeerMisbehaved::BadEnvelope
    );
    verify_envelope(&env, carol().public()).unwrap();
}

#[test]
fn every_envelope_field_is_signed() {
    let mut rng = seeded(7);
    let master = RoomKey::generate(&mut rng);
    let env = wrap_envelope(&mut rng, alice(), ROOM, 2, bob().public(), &master).unwrap();
    let mut variants = Vec::new();
    let mut e = env.clone();
    e.room_id = RoomId::from_bytes([0; 16]);
    variants.push(e);
    let mut e = env.clone();
    e.epoch = 3;
    variants.push(e);
    let mut e = env.clone();
    e.member_id = carol().user_id();
    variants.push(e);
    let mut e = env.clone();
    e.wrapped_key = Bytes(flip_byte(env.wrapped_key.as_slice(), 9));
    variants.push(e);
    let mut e = env.clone();
    e.signature = Bytes(flip_byte(env.signature.as_slice(), 9));
    variants.push(e);
    let mut e = env.clone();
    e.epoch = 0;
    variants.push(e);
    let mut e = env.clone();
    e.wrapped_key = Bytes(vec![1; 513]);
    variants.push(e);
    for (i, bad) in variants.iter().enumerate() {
        assert_eq!(
            peer_err(verify_envelope(bad, alice().public()).unwrap_err()),
            PeerMisbehaved::BadEnvelope,
            "variant {i}"
        );
    }
    verify_envelope(&env, alice().public()).unwrap();
}
