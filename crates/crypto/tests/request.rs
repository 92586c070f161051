//! Per-request authenticators, the sequence window, sealed bodies and
//! response authenticators.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use peer_crypto::handshake::{self, ReplayCache};
use peer_crypto::request::{AuthHeaders, PreparedRequest};
use peer_crypto::{ClientSession, Error, PeerMisbehaved, SEALED_CONTENT_TYPE, ServerSession};
use peer_proto::ErrorCode;
use peer_proto::api::Kex;
use peer_testkit::NOW;
use peer_testkit::keys::{alice, bob, node};
use peer_testkit::rng::{TestRng, seeded};
use peer_testkit::tamper::{flip_b64_byte, flip_byte};

const TTL: u64 = 3600;
const MODES: [Kex; 2] = [Kex::EcdhP256, Kex::RsaOaep];

fn session(kex: Kex, seed: u64) -> (ClientSession, ServerSession) {
    session_for(alice(), kex, seed)
}

fn session_for(
    user: &peer_crypto::IdentityKey,
    kex: Kex,
    seed: u64,
) -> (ClientSession, ServerSession) {
    let mut rng = seeded(seed);
    let (expect, hello) = handshake::start(&mut rng, user, node().node_id(), kex, NOW).unwrap();
    let replay = ReplayCache::default();
    let v = handshake::verify_hello(&hello, user.public(), node().node_id(), &replay, NOW).unwrap();
    let (reply, server) = v.respond(&mut rng, node(), NOW, TTL).unwrap();
    (
        expect
            .finish(&mut rng, &reply, node().public(), NOW)
            .unwrap(),
        server,
    )
}

fn parse(req: &PreparedRequest) -> AuthHeaders {
    let h = &req.headers;
    AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth).unwrap()
}

fn peer_err(e: Error) -> PeerMisbehaved {
    e.as_peer()
        .unwrap_or_else(|| panic!("not a peer error: {e:?}"))
}

fn prep(c: &ClientSession, rng: &mut TestRng, body: &[u8], sealed: bool) -> PreparedRequest {
    c.prepare_request(rng, "POST", "/api/v1/rooms/x/messages?a=1", body, sealed)
        .unwrap()
}

fn check(
    s: &ServerSession,
    req: &PreparedRequest,
    sealed: bool,
    now: u64,
) -> Result<peer_crypto::AuthenticatedRequest, Error> {
    s.verify_request(
        &parse(req),
        "POST",
        "/api/v1/rooms/x/messages?a=1",
        &req.body,
        sealed,
        now,
    )
}

#[test]
fn round_trip_both_modes_sealed_and_plain() {
    for kex in MODES {
        let (c, s) = session(kex, 1);
        let mut rng = seeded(10);
        for sealed in [false, true] {
            let body = br#"{"text":"hi"}"#;
            let req = prep(&c, &mut rng, body, sealed);
            assert_eq!(req.headers.key.is_some(), kex == Kex::EcdhP256);
            assert_eq!(req.content_type, sealed.then_some(SEALED_CONTENT_TYPE));
            if sealed {
                assert_ne!(&req.body[..], &body[..]);
            } else {
                assert_eq!(&req.body[..], &body[..]);
            }
            let authed = check(&s, &req, sealed, NOW).unwrap();
            assert_eq!(authed.body(), body);
            assert_eq!(authed.user_id(), alice().user_id());
            assert_eq!(authed.is_sealed(), sealed);
            let resp = authed.respond(&mut rng, 200, b"{\"seq\":1}").unwrap();
            assert_eq!(resp.content_type, sealed.then_some(SEALED_CONTENT_TYPE));
            let got = req
                .verifier
                .verify(200, Some(&resp.peer_auth), &resp.body)
                .unwrap();
            assert_eq!(got, b"{\"seq\":1}");
        }
    }
}

#[test]
fn first_seq_is_1_and_headers_are_well_formed() {
    let (c, _) = session(Kex::EcdhP256, 2);
    let mut rng = seeded(11);
    let r1 = prep(&c, &mut rng, b"", false);
    let r2 = prep(&c, &mut rng, b"", false);
    assert_eq!(r1.headers.seq, "1");
    assert_eq!(r2.headers.seq, "2");
    assert_eq!(r1.headers.session.len(), 22);
    assert_eq!(r1.headers.key.as_ref().unwrap().len(), 87);
    assert_eq!(r1.headers.auth.len(), 43);
    assert_ne!(r1.headers.key, r2.headers.key, "a fresh key per request");
    let names: Vec<_> = r1.headers.pairs().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Peer-Session", "Peer-Key", "Peer-Seq", "Peer-Auth"]);
}

#[test]
fn replayed_and_too_old_seqs_are_refused() {
    for kex in MODES {
        let (c, s) = session(kex, 3);
        let mut rng = seeded(12);
        let first = prep(&c, &mut rng, b"a", false);
        check(&s, &first, false, NOW).unwrap();
        let e = check(&s, &first, false, NOW).unwrap_err();
        assert_eq!(peer_err(e), PeerMisbehaved::ReplayedRequest);
        // Move the window 64 ahead: seq 1 is now below it, unseen seq 2 too.
        let second = prep(&c, &mut rng, b"b", false); // seq 2, held back
        let mut last = None;
        for _ in 0..64 {
            last = Some(prep(&c, &mut rng, b"c", false));
        }
        let last = last.unwrap(); // seq 66
        check(&s, &last, false, NOW).unwrap();
        let e = check(&s, &second, false, NOW).unwrap_err();
        assert_eq!(peer_err(e), PeerMisbehaved::ReplayedRequest);
        assert_eq!(
            Error::from(PeerMisbehaved::ReplayedRequest).code(),
            ErrorCode::ReplayedRequest
        );
    }
}

#[test]
fn out_of_order_inside_window_accepted_exactly_once() {
    let (c, s) = session(Kex::EcdhP256, 4);
    let mut rng = seeded(13);
    let reqs: Vec<_> = (0..64).map(|_| prep(&c, &mut rng, b"x", false)).collect();
    // Newest first, then every other one: all inside the 64-wide window.
    check(&s, &reqs[63], false, NOW).unwrap();
    for r in reqs.iter().take(63).rev() {
        check(&s, r, false, NOW).unwrap();
    }
    for r in &reqs {
        assert_eq!(
            peer_err(check(&s, r, false, NOW).unwrap_err()),
            PeerMisbehaved::ReplayedRequest
        );
    }
}

#[test]
fn tampered_requests_fail_before_the_window() {
    for kex in MODES {
        let (c, s) = session(kex, 5);
        let mut rng = seeded(14);
        let req = prep(&c, &mut rng, b"body", true);
        let h = parse(&req);
        let target = "/api/v1/rooms/x/messages?a=1";
        let bad = |m: &str, p: &str, body: &[u8], headers: &AuthHeaders| {
            peer_err(
                s.verify_request(headers, m, p, body, true, NOW)
                    .unwrap_err(),
            )
        };
        assert_eq!(
            bad("PUT", target, &req.body, &h),
            PeerMisbehaved::BadAuthenticator
        );
        assert_eq!(
            bad("POST", "/api/v1/rooms/x/messages?a=2", &req.body, &h),
            PeerMisbehaved::BadAuthenticator
        );
        for i in [0, 20, req.body.len() - 1] {
            assert_eq!(
                bad("POST", target, &flip_byte(&req.body, i), &h),
                PeerMisbehaved::BadAuthenticator
            );
        }
        let hd = &req.headers;
        let other_seq = AuthHeaders::parse(&hd.session, hd.key.as_deref(), "2", &hd.auth).unwrap();
        assert_eq!(
            bad("POST", target, &req.body, &other_seq),
            PeerMisbehaved::BadAuthenticator
        );
        let other_auth = AuthHeaders::parse(
            &hd.session,
            hd.key.as_deref(),
            &hd.seq,
            &flip_b64_byte(&hd.auth, 0),
        )
        .unwrap();
        assert_eq!(
            bad("POST", target, &req.body, &other_auth),
            PeerMisbehaved::BadAuthenticator
        );
        if let Some(k) = &hd.key {
            // Another valid point: a different key, so a different k_mac.
            let other = c.prepare_request(&mut rng, "GET", "/", b"", false).unwrap();
            let other_key =
                AuthHeaders::parse(&hd.session, other.headers.key.as_deref(), &hd.seq, &hd.auth)
                    .unwrap();
            assert_eq!(
                bad("POST", target, &req.body, &other_key),
                PeerMisbehaved::BadAuthenticator
            );
            // Not a point at all.
            let broken =
                AuthHeaders::parse(&hd.session, Some(&flip_b64_byte(k, 64)), &hd.seq, &hd.auth)
                    .unwrap();
            assert_eq!(
                bad("POST", target, &req.body, &broken),
                PeerMisbehaved::MalformedHeader("Peer-Key")
            );
            // Missing in an ecdh session.
            let none = AuthHeaders::parse(&hd.session, None, &hd.seq, &hd.auth).unwrap();
            assert_eq!(
                bad("POST", target, &req.body, &none),
                PeerMisbehaved::MalformedHeader("Peer-Key")
            );
        } else {
            let other = session(Kex::EcdhP256, 50)
                .0
                .prepare_request(&mut rng, "GET", "/", b"", false)
                .unwrap();
            let extra =
                AuthHeaders::parse(&hd.session, other.headers.key.as_deref(), &hd.seq, &hd.auth)
                    .unwrap();
            assert_eq!(
                bad("POST", target, &req.body, &extra),
                PeerMisbehaved::MalformedHeader("Peer-Key")
            );
        }
        // None of the failures consumed the sequence number.
        check(&s, &req, true, NOW).unwrap();
    }
}

#[test]
fn sealed_body_that_does_not_open_is_invalid_sealed_body() {
    // The client MACs a body that is not a valid sealed value: the HMAC
    // verifies, then opening fails with its own code.
    let (c, s) = session(Kex::EcdhP256, 6);
    let mut rng = seeded(15);
    let req = prep(&c, &mut rng, b"not sealed at all", false);
    let e = check(&s, &req, true, NOW).unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::Undecryptable);
    assert_eq!(
        check(&s, &prep(&c, &mut rng, b"", false), true, NOW)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidSealedBody
    );
}

#[test]
fn tampered_responses_fail() {
    for kex in MODES {
        for sealed in [false, true] {
            let (c, s) = session(kex, 7);
            let mut rng = seeded(16);
            let mk = |rng: &mut TestRng| {
                let req = prep(&c, rng, b"q", sealed);
                let resp = check(&s, &req, sealed, NOW)
                    .unwrap()
                    .respond(rng, 200, b"answer")
                    .unwrap();
                (req, resp)
            };
            let (req, resp) = mk(&mut rng);
            let e = req
                .verifier
                .verify(200, Some(&resp.peer_auth), &flip_byte(&resp.body, 0))
                .unwrap_err();
            assert_eq!(peer_err(e), PeerMisbehaved::BadAuthenticator);
            let (req, resp) = mk(&mut rng);
            let e = req
                .verifier
                .verify(201, Some(&resp.peer_auth), &resp.body)
                .unwrap_err();
            assert_eq!(peer_err(e), PeerMisbehaved::BadAuthenticator);
            let (req, resp) = mk(&mut rng);
            let e = req
                .verifier
                .verify(200, Some(&flip_b64_byte(&resp.peer_auth, 31)), &resp.body)
                .unwrap_err();
            assert_eq!(peer_err(e), PeerMisbehaved::BadAuthenticator);
            let (req, resp) = mk(&mut rng);
            let e = req.verifier.verify(200, None, &resp.body).unwrap_err();
            assert_eq!(peer_err(e), PeerMisbehaved::UnauthenticatedResponse);
            let (req, resp) = mk(&mut rng);
            let e = req
                .verifier
                .verify(200, Some("junk"), &resp.body)
                .unwrap_err();
            assert_eq!(peer_err(e), PeerMisbehaved::BadAuthenticator);
            // A response to another request (other seq) does not verify.
            let (req1, _) = mk(&mut rng);
            let (_, resp2) = mk(&mut rng);
            let e = req1
                .verifier
                .verify(200, Some(&resp2.peer_auth), &resp2.body)
                .unwrap_err();
            assert_eq!(peer_err(e), PeerMisbehaved::BadAuthenticator);
        }
    }
}

#[test]
fn wrong_session_and_expiry() {
    let (c, s) = session(Kex::EcdhP256, 8);
    let (_, other) = session(Kex::EcdhP256, 9);
    let mut rng = seeded(17);
    let req = prep(&c, &mut rng, b"", false);
    // Headers of one session checked by another session.
    let e = other
        .verify_request(
            &parse(&req),
            "POST",
            "/api/v1/rooms/x/messages?a=1",
            &req.body,
            false,
            NOW,
        )
        .unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadAuthenticator);
    // Bob's session (other keys) refuses Alice's request.
    let (_, bob_server) = session_for(bob(), Kex::EcdhP256, 80);
    let e = check(&bob_server, &req, false, NOW).unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::BadAuthenticator);
    // Expiry: valid at expires_at - 1, expired at expires_at.
    assert!(!s.is_expired(NOW + TTL - 1));
    let e = check(&s, &req, false, NOW + TTL).unwrap_err();
    assert_eq!(peer_err(e), PeerMisbehaved::SessionExpired);
    assert_eq!(
        Error::from(PeerMisbehaved::SessionExpired).code(),
        ErrorCode::SessionExpired
    );
    check(&s, &req, false, NOW + TTL - 1).unwrap();
    assert!(c.is_expired(NOW + TTL));
}

#[test]
fn method_must_be_upper_case() {
    let (c, _) = session(Kex::RsaOaep, 10);
    assert!(matches!(
        c.prepare_request(&mut seeded(1), "get", "/", b"", false)
            .unwrap_err(),
        Error::Misuse(peer_crypto::ApiMisuse::InvalidMethod)
    ));
}

#[test]
fn concurrent_clients_and_server_are_consistent() {
    let (c, s) = session(Kex::EcdhP256, 11);
    let (c, s) = (Arc::new(c), Arc::new(s));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (c, s) = (Arc::clone(&c), Arc::clone(&s));
            std::thread::spawn(move || {
                let mut rng = seeded(1000 + t);
                let mut seqs = Vec::new();
                for _ in 0..10 {
                    let req = prep(&c, &mut rng, b"x", false);
                    check(&s, &req, false, NOW).unwrap();
                    seqs.push(req.verifier.seq());
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<_>>());
}

#[test]
fn a_body_that_does_not_open_is_refused_with_an_authenticated_answer() {
    for kex in MODES {
        let (c, s) = session(kex, 21);
        let mut rng = seeded(22);
        // Authenticated over plain bytes, but labelled sealed: the MAC
        // verifies, the body does not open.
        let req = prep(&c, &mut rng, b"{}", false);
        let rejection = s
            .verify_request_or_reject(
                &parse(&req),
                "POST",
                "/api/v1/rooms/x/messages?a=1",
                &req.body,
                true,
                NOW,
            )
            .unwrap_err();
        assert_eq!(peer_err(rejection.error), PeerMisbehaved::Undecryptable);
        let responder = rejection.responder.expect("the authenticator verified");
        let answer = responder.respond(&mut rng, 400, b"{\"error\":{}}").unwrap();
        // The client's verifier accepts the refusal's tag.
        req.verifier
            .verify(400, Some(&answer.peer_auth), &answer.body)
            .unwrap();

        // A forged authenticator gets no responder.
        let req = prep(&c, &mut rng, b"{}", false);
        let rejection = s
            .verify_request_or_reject(&parse(&req), "PUT", "/elsewhere", &req.body, false, NOW)
            .unwrap_err();
        assert_eq!(peer_err(rejection.error), PeerMisbehaved::BadAuthenticator);
        assert!(rejection.responder.is_none());
    }
}
