#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use peer_testkit::NOW;
use peer_testkit::datagram::{forged, malformed, oversized, signed, unsigned, wire};
use peer_testkit::keys::node_key;

const GROUP: &str = "lab";

fn core(i: usize) -> Core {
    Core::new(
        node_key(i).clone(),
        LocalNode {
            name: format!("n{i}"),
            group: GROUP.into(),
            role: NodeRole::Main,
            http_port: 8000 + i as u16,
        },
        90,
    )
}

fn src(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn fetched(i: usize) -> Option<FetchedKey> {
    Some(FetchedKey {
        node_id: node_key(i).node_id(),
        spki: node_key(i).spki_der().to_vec(),
    })
}

/// B learns A's key through a first announce.
fn introduce(b: &mut Core, a: usize) {
    let first = wire(&signed(
        node_key(a),
        DatagramKind::Announce,
        GROUP,
        8001,
        NOW,
    ));
    match b.handle(NOW, &first, src(40000)) {
        Outcome::FetchKey { node_id, from } => {
            assert_eq!(node_id, node_key(a).node_id());
            assert_eq!(from, src(8001), "source IP, announced HTTP port");
        }
        other => panic!("{other:?}"),
    }
    let out = b.key_fetched(NOW, node_key(a).node_id(), fetched(a));
    assert!(
        matches!(out[..], [(_, Outcome::Accepted { .. })]),
        "{out:?}"
    );
}

#[test]
fn first_datagram_fetches_the_key_then_verifies() {
    let a = core(1);
    let mut b = core(2);
    let bytes = a
        .datagram(
            &mut peer_crypto::rng::system_rng(),
            DatagramKind::Announce,
            NOW,
        )
        .unwrap();
    let Outcome::FetchKey { from, .. } = b.handle(NOW, &bytes, src(40000)) else {
        panic!("expected a key fetch");
    };
    assert_eq!(from, src(8001));
    // A second datagram of A while the fetch runs waits too, no new fetch.
    let second = a
        .datagram(
            &mut peer_crypto::rng::system_rng(),
            DatagramKind::Announce,
            NOW,
        )
        .unwrap();
    assert_eq!(b.handle(NOW, &second, src(40000)), Outcome::Parked);
    let out = b.key_fetched(NOW, a.node_id(), fetched(1));
    assert_eq!(out.len(), 2);
    for (from, o) in &out {
        assert_eq!(*from, src(40000));
        let Outcome::Accepted {
            event: PeerEvent::Seen(p),
            answer,
            ..
        } = o
        else {
            panic!("{o:?}");
        };
        assert!(!answer);
        assert_eq!(p.name, "n1");
        assert_eq!(p.group, GROUP);
        assert_eq!(p.http, src(8001));
        assert_eq!(p.spki, node_key(1).spki_der());
    }
    // Now the key is cached: no fetch.
    let third = a
        .datagram(
            &mut peer_crypto::rng::system_rng(),
            DatagramKind::Announce,
            NOW + 30,
        )
        .unwrap();
    assert!(matches!(
        b.handle(NOW + 30, &third, src(40000)),
        Outcome::Accepted { .. }
    ));
    assert_eq!(b.peers().len(), 1);
    assert_eq!(b.counts().accepted, 3);
    assert_eq!(b.counts().key_fetches, 1);
}

#[test]
fn every_bad_datagram_is_dropped_and_counted_by_reason() {
    let mut b = core(2);
    introduce(&mut b, 1);
    let a = node_key(1);
    let genuine = wire(&signed(a, DatagramKind::Announce, GROUP, 8001, NOW));
    assert!(matches!(
        b.handle(NOW, &genuine, src(1)),
        Outcome::Accepted { .. }
    ));
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (genuine.clone(), DropReason::Replayed),
        (oversized(), DropReason::Oversized),
        (malformed(), DropReason::Malformed),
        (b"not ours at all".to_vec(), DropReason::Malformed),
        (
            wire(&unsigned(a, DatagramKind::Announce, GROUP, 8001, NOW)),
            DropReason::Unsigned,
        ),
        (
            wire(&forged(
                a,
                node_key(3),
                DatagramKind::Announce,
                GROUP,
                8001,
                NOW,
            )),
            DropReason::BadSignature,
        ),
        (
            wire(&signed(a, DatagramKind::Announce, GROUP, 8001, NOW - 121)),
            DropReason::Stale,
        ),
        (
            wire(&signed(a, DatagramKind::Announce, GROUP, 8001, NOW + 121)),
            DropReason::Stale,
        ),
        (
            wire(&signed(
                node_key(2),
                DatagramKind::Announce,
                GROUP,
                8002,
                NOW,
            )),
            DropReason::Own,
        ),
        (
            {
                // Id of one key, hash of another.
                let mut d = signed(a, DatagramKind::Announce, GROUP, 8001, NOW);
                d.node_spki_hash = Bytes32(*node_key(3).public().spki_hash());
                wire(&d)
            },
            DropReason::UnknownIdentity,
        ),
        (
            {
                let mut d = signed(a, DatagramKind::Announce, GROUP, 8001, NOW);
                d.version = 2;
                postcard_bytes(&d)
            },
            DropReason::WrongVersion,
        ),
        (
            // A tampered field breaks the signature.
            {
                let mut d = signed(a, DatagramKind::Announce, GROUP, 8001, NOW);
                d.role = NodeRole::Follower;
                wire(&d)
            },
            DropReason::BadSignature,
        ),
    ];
    for (bytes, reason) in &cases {
        assert_eq!(
            b.handle(NOW, bytes, src(1)),
            Outcome::Dropped(*reason),
            "{reason}"
        );
    }
    let c = b.counts();
    for (_, reason) in &cases {
        let expected = cases.iter().filter(|(_, r)| r == reason).count() as u64;
        assert_eq!(c.dropped(*reason), expected, "{reason}");
    }
    assert_eq!(c.dropped_total(), cases.len() as u64);
    assert_eq!(b.peers().len(), 1, "nothing bad entered the table");
    assert_eq!(b.peers()[0].role, NodeRole::Main);
}

fn postcard_bytes(d: &Datagram) -> Vec<u8> {
    // `encode` refuses nothing version-related; the receiver must.
    d.encode().unwrap()
}

#[test]
fn a_key_that_does_not_match_drops_what_waited_for_it() {
    let mut b = core(2);
    let bytes = wire(&signed(
        node_key(1),
        DatagramKind::Announce,
        GROUP,
        8001,
        NOW,
    ));
    assert!(matches!(
        b.handle(NOW, &bytes, src(1)),
        Outcome::FetchKey { .. }
    ));
    // The node at that address serves another key.
    let out = b.key_fetched(NOW, node_key(1).node_id(), fetched(3));
    assert_eq!(
        out,
        vec![(src(1), Outcome::Dropped(DropReason::KeyUnavailable))]
    );
    // And is not asked again at once.
    let again = wire(&signed(
        node_key(1),
        DatagramKind::Announce,
        GROUP,
        8001,
        NOW,
    ));
    assert_eq!(
        b.handle(NOW, &again, src(1)),
        Outcome::Dropped(DropReason::KeyUnavailable)
    );
    assert!(b.peers().is_empty());
}

#[test]
fn forged_senders_cannot_cause_unbounded_key_fetches() {
    let mut b = core(2);
    let mut fetches = 0;
    for i in 0..200u32 {
        // A self-consistent id and hash of no real key, any signature.
        let mut d = unsigned(node_key(3), DatagramKind::Announce, GROUP, 9000, NOW);
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&i.to_be_bytes());
        hash[4] = 0xee;
        d.node_spki_hash = Bytes32(hash);
        d.node_id = NodeId::from_bytes(hash[..16].try_into().unwrap());
        d.signature = peer_proto::Bytes(vec![1; 256]);
        match b.handle(NOW, &wire(&d), src(1)) {
            Outcome::FetchKey { .. } => fetches += 1,
            Outcome::Dropped(DropReason::KeyUnavailable) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fetches, gate::MAX_FETCHES_IN_FLIGHT);
    assert_eq!(
        b.counts().dropped(DropReason::KeyUnavailable),
        200 - gate::MAX_FETCHES_IN_FLIGHT as u64
    );
}

#[test]
fn queries_are_answered_within_limits_and_leaves_remove() {
    let mut b = core(2);
    introduce(&mut b, 1);
    let q = |t| wire(&signed(node_key(1), DatagramKind::Query, GROUP, 8001, t));
    let mut answered = 0;
    for _ in 0..5 {
        if let Outcome::Accepted { answer: true, .. } = b.handle(NOW, &q(NOW), src(5)) {
            answered += 1;
        }
    }
    assert_eq!(answered, gate::MAX_ANSWERS_PER_SOURCE);
    assert!(matches!(
        b.handle(NOW + 1, &q(NOW + 1), src(5)),
        Outcome::Accepted { answer: true, .. }
    ));
    let leave = wire(&signed(node_key(1), DatagramKind::Leave, GROUP, 8001, NOW));
    assert!(matches!(
        b.handle(NOW + 1, &leave, src(5)),
        Outcome::Accepted {
            event: PeerEvent::Left(_),
            answer: false,
            ..
        }
    ));
    assert!(b.peers().is_empty());
}

#[test]
fn clients_queries_are_answered_but_not_tabled() {
    let mut b = core(2);
    let q = wire(&signed(node_key(4), DatagramKind::Query, GROUP, 0, NOW));
    assert_eq!(
        b.handle(NOW, &q, src(7)),
        Outcome::ClientQuery { answer: true }
    );
    // A client cannot announce or leave: it has no key to check.
    let a = wire(&signed(node_key(4), DatagramKind::Announce, GROUP, 0, NOW));
    assert_eq!(
        b.handle(NOW, &a, src(7)),
        Outcome::Dropped(DropReason::Malformed)
    );
    let stale = wire(&signed(
        node_key(4),
        DatagramKind::Query,
        GROUP,
        0,
        NOW - 500,
    ));
    assert_eq!(
        b.handle(NOW, &stale, src(7)),
        Outcome::Dropped(DropReason::Stale)
    );
    assert!(b.peers().is_empty());
    assert_eq!(b.counts().client_queries, 1);
}

#[test]
fn silent_nodes_go_offline_after_the_offline_time() {
    let mut b = core(2);
    introduce(&mut b, 1);
    assert!(b.expire(NOW + 90).is_empty());
    let gone = b.expire(NOW + 91);
    assert!(matches!(&gone[..], [PeerEvent::Offline(p)] if !p.online));
    assert!(b.expire(NOW + 200).is_empty(), "reported once");
}

#[test]
fn own_datagrams_round_trip_through_another_core() {
    let mut a = core(1);
    a.set_role(NodeRole::Follower);
    let bytes = a
        .datagram(
            &mut peer_crypto::rng::system_rng(),
            DatagramKind::Query,
            NOW,
        )
        .unwrap();
    assert!(bytes.len() <= peer_proto::discovery::MAX_DATAGRAM_BYTES);
    let mut b = core(2);
    assert!(matches!(
        b.handle(NOW, &bytes, src(9)),
        Outcome::FetchKey { .. }
    ));
    let out = b.key_fetched(NOW, a.node_id(), fetched(1));
    let [
        (
            _,
            Outcome::Accepted {
                kind: DatagramKind::Query,
                event: PeerEvent::Seen(p),
                answer: true,
            },
        ),
    ] = &out[..]
    else {
        panic!("{out:?}");
    };
    assert_eq!(p.role, NodeRole::Follower);
}
