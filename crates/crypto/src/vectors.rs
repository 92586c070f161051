//! Test vectors: `docs/test-vectors.json`, regenerated from fixed seeds and
//! compared byte for byte. `UPDATE_TEST_VECTORS=1 cargo test -p peer-crypto
//! vectors` rewrites the file.
//!
//! Everything random comes from `ChaCha20Rng::seed_from_u64(seed)` (the
//! seed of each section is in the file), the RSA keys included: seeded RSA
//! key generation is deterministic (checked in tests/identity.rs), and the
//! keys are also stored in the file as PKCS#8 DER.
//!
//! This is a unit test (not an integration test) because it reads
//! intermediate values (ephemeral scalars, `auth_key`) that the public API
//! never exposes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use p256::SecretKey;
use peer_proto::api::Kex;
use peer_proto::bytes::encode_b64;
use peer_proto::signed::{
    MessageAad, MessageBody, MessageSigTbs, RegisterTbs, ReplyParams, ReplyTbs, RequestTbs,
    ResponseTbs,
};
use peer_proto::{RoomId, canonical, labels};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use serde_json::{Value, json};

use crate::handshake::{self, ReplayCache, transcript_hash};
use crate::identity::{IdentityKey, KeySize};
use crate::kdf::{hmac_sha256, request_keys, seal_keys, sha256, token_key};
use crate::request::{AuthHeaders, ClientSession, ServerKex, ServerSession};
use crate::room::RoomKey;
use crate::seal::{IV_LEN, TAG_LEN, open, seal};
use crate::{ecdh, envelope, register};

const NOW: u64 = 1_700_000_000;
const TTL: u64 = 3600;

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

struct Keys {
    user: IdentityKey,
    node: IdentityKey,
    member: IdentityKey,
}

fn keys() -> Keys {
    let mut r = rng(1);
    Keys {
        user: IdentityKey::generate(&mut r, KeySize::Rsa2048).unwrap(),
        node: IdentityKey::generate(&mut r, KeySize::Rsa2048).unwrap(),
        member: IdentityKey::generate(&mut r, KeySize::Rsa2048).unwrap(),
    }
}

fn key_json(k: &IdentityKey) -> Value {
    json!({
        "pkcs8_der_b64url": encode_b64(&k.to_pkcs8_der().unwrap()),
        "spki_der": hex(k.spki_der()),
        "spki_sha256": hex(k.public().spki_hash()),
        "id": hex(&k.public().id_bytes()),
        "id_b64url": k.user_id().to_string(),
    })
}

fn seal_json() -> Value {
    let mut r = rng(2);
    let cases: [(usize, usize); 5] = [(0, 0), (5, 1), (16, 0), (100, 40), (0, 16)];
    let mut out = Vec::new();
    for (pt_len, aad_len) in cases {
        let key: [u8; 32] = crate::rng::random_array(&mut r);
        let pt: Vec<u8> = (0..pt_len).map(|i| i as u8).collect();
        let aad: Vec<u8> = (0..aad_len).map(|i| 0xa0u8.wrapping_add(i as u8)).collect();
        let sealed = seal(&mut r, &key, &pt, &aad);
        assert_eq!(&open(&key, &sealed, &aad).unwrap()[..], &pt[..]);
        let keys = seal_keys(&key);
        let (iv, rest) = sealed.split_at(IV_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mac_input = [&(aad.len() as u64).to_be_bytes()[..], &aad, iv, ct].concat();
        assert_eq!(hmac_sha256(&keys.k_mac, &[&mac_input]), tag);
        out.push(json!({
            "key": hex(&key), "plaintext": hex(&pt), "aad": hex(&aad),
            "k_enc": hex(&keys.k_enc), "k_mac": hex(&keys.k_mac),
            "iv": hex(iv), "ct": hex(ct), "mac_input": hex(&mac_input), "tag": hex(tag),
            "sealed": hex(&sealed),
        }));
    }
    json!({"rng_seed": 2, "cases": out})
}

fn registration_json(k: &Keys) -> Value {
    let mut r = rng(3);
    let node_id = k.node.node_id();
    let req = register::register_user(&mut r, &k.user, node_id, "alice", NOW).unwrap();
    let signed = canonical(
        labels::REGISTER,
        &RegisterTbs {
            node_id,
            name: "alice",
            spki: k.user.spki_der(),
            timestamp: NOW,
        },
    )
    .unwrap();
    k.user
        .public()
        .verify(&signed, req.signature.as_slice())
        .unwrap();
    register::verify_registration(&req, node_id, NOW).unwrap();
    json!({
        "rng_seed": 3, "signer": "user", "node_id": hex(node_id.as_bytes()), "name": "alice", "timestamp": NOW,
        "signed_bytes": hex(&signed), "signature": hex(req.signature.as_slice()),
        "body_json": serde_json::to_value(&req).unwrap(),
    })
}

fn server_secret(s: &ServerSession) -> (Option<&SecretKey>, Option<[u8; 32]>) {
    match &s.kex {
        ServerKex::Ecdh { eph } => (Some(eph), None),
        ServerKex::RsaOaep { secret } => (None, Some(**secret)),
    }
}

/// One handshake and two requests in `kex` mode.
fn session_json(k: &Keys, kex: Kex, seed: u64) -> Value {
    let mut r = rng(seed);
    let (expect, hello) = handshake::start(&mut r, &k.user, k.node.node_id(), kex, NOW).unwrap();
    let client_eph_private = expect.client_eph.as_ref().map(|s| hex(&s.to_bytes()));
    let replay = ReplayCache::default();
    let verified =
        handshake::verify_hello(&hello, k.user.public(), k.node.node_id(), &replay, NOW).unwrap();
    let hello_signed = canonical(
        labels::HANDSHAKE_HELLO,
        &peer_proto::signed::HelloTbs {
            version: hello.version,
            kex,
            user_id: hello.user_id,
            client_eph: hello.client_eph.as_ref().map(|b| b.as_slice()),
            client_nonce: &hello.client_nonce.0,
            timestamp: hello.timestamp,
            node_id: hello.node_id,
        },
    )
    .unwrap();
    let (reply, server) = verified.respond(&mut r, &k.node, NOW, TTL).unwrap();
    let slot = reply
        .server_eph
        .as_ref()
        .or(reply.wrapped_secret.as_ref())
        .unwrap()
        .as_slice()
        .to_vec();
    let (server_eph_secret, session_secret) = server_secret(&server);
    let ikm: [u8; 32] = match (server_eph_secret, session_secret) {
        (Some(eph), None) => {
            let client_pub =
                ecdh::parse_point(hello.client_eph.as_ref().unwrap().as_slice(), "x").unwrap();
            *ecdh::shared(eph, &client_pub)
        }
        (None, Some(secret)) => secret,
        _ => unreachable!(),
    };
    let params = peer_proto::canonical::postcard_bytes(&ReplyParams {
        session_id: reply.session_id,
        server_eph: Some(&slot),
        server_nonce: &reply.server_nonce.0,
        expires_at: reply.expires_at,
    })
    .unwrap();
    let th = transcript_hash(
        &hello_signed,
        hello.signature.as_slice(),
        reply.session_id,
        &slot,
        &reply.server_nonce.0,
        reply.expires_at,
    )
    .unwrap();
    assert_eq!(
        th,
        sha256(&[&hello_signed[..], hello.signature.as_slice(), &params].concat())
    );
    let k_token = token_key(&ikm, &hello.client_nonce.0, &reply.server_nonce.0, &th);
    let opened = open(
        &k_token,
        reply.sealed_auth_key.as_slice(),
        reply.session_id.as_bytes(),
    )
    .unwrap();
    assert_eq!(&opened[..], &server.auth_key[..]);
    let reply_signed = canonical(
        labels::HANDSHAKE_REPLY,
        &ReplyTbs {
            th: &th,
            session_id: reply.session_id,
            server_eph: Some(&slot),
            server_nonce: &reply.server_nonce.0,
            expires_at: reply.expires_at,
        },
    )
    .unwrap();
    k.node
        .public()
        .verify(&reply_signed, reply.node_signature.as_slice())
        .unwrap();
    let client = expect.finish(&mut r, &reply, k.node.public(), NOW).unwrap();
    assert_eq!(&client.auth_key[..], &server.auth_key[..]);

    let handshake = json!({
        "now": NOW, "ttl": TTL,
        "client_nonce": hex(&hello.client_nonce.0),
        "client_eph_private": client_eph_private,
        "client_eph": hello.client_eph.as_ref().map(|b| hex(b.as_slice())),
        "hello_signed_bytes": hex(&hello_signed),
        "hello_signature": hex(hello.signature.as_slice()),
        "hello_json": serde_json::to_value(&hello).unwrap(),
        "session_id": hex(reply.session_id.as_bytes()),
        "server_nonce": hex(&reply.server_nonce.0),
        "expires_at": reply.expires_at,
        "server_eph_private": server_eph_secret.map(|s| hex(&s.to_bytes())),
        "server_eph": reply.server_eph.as_ref().map(|b| hex(b.as_slice())),
        "session_secret": session_secret.map(|s| hex(&s)),
        "wrapped_secret": reply.wrapped_secret.as_ref().map(|b| hex(b.as_slice())),
        "ikm": hex(&ikm),
        "reply_params_postcard": hex(&params),
        "th": hex(&th),
        "k_token": hex(&k_token[..]),
        "auth_key": hex(&server.auth_key[..]),
        "sealed_auth_key": hex(reply.sealed_auth_key.as_slice()),
        "reply_signed_bytes": hex(&reply_signed),
        "node_signature": hex(reply.node_signature.as_slice()),
        "reply_json": serde_json::to_value(&reply).unwrap(),
    });
    let requests = vec![
        request_json(
            &client,
            &server,
            &mut r,
            "POST",
            "/api/v1/rooms/AAAAAAAAAAAAAAAAAAAAAA/messages",
            br#"{"text":"hi"}"#,
            true,
            201,
            br#"{"seq":1}"#,
        ),
        request_json(
            &client,
            &server,
            &mut r,
            "GET",
            "/api/v1/rooms?limit=10",
            b"",
            false,
            200,
            br#"{"rooms":[]}"#,
        ),
    ];
    json!({"rng_seed": seed, "handshake": handshake, "requests": requests})
}

#[allow(clippy::too_many_arguments)]
fn request_json(
    client: &ClientSession,
    server: &ServerSession,
    r: &mut ChaCha20Rng,
    method: &str,
    target: &str,
    body: &[u8],
    sealed: bool,
    status: u16,
    response: &[u8],
) -> Value {
    let request_key = match server.kex {
        ServerKex::Ecdh { .. } => Some(ecdh::generate(r)),
        ServerKex::RsaOaep { .. } => None,
    };
    let request_key_private = request_key.as_ref().map(|k| hex(&k.to_bytes()));
    let request_key_public = request_key
        .as_ref()
        .map(|k| hex(&ecdh::encode_point(&k.public_key())));
    let ikm: [u8; 32] = match (&server.kex, &request_key) {
        (ServerKex::Ecdh { eph }, Some(rk)) => *ecdh::shared(rk, &eph.public_key()),
        (ServerKex::RsaOaep { secret }, None) => **secret,
        _ => unreachable!(),
    };
    let req = client
        .prepare_with(r, request_key, method, target, body, sealed)
        .unwrap();
    let seq = req.verifier.seq();
    let keys = request_keys(&ikm, &server.auth_key, server.session_id(), seq);
    let body_hash = sha256(&req.body);
    let tbs = canonical(
        labels::REQUEST,
        &RequestTbs {
            method,
            path_and_query: target,
            seq,
            body_hash: &body_hash,
        },
    )
    .unwrap();
    assert_eq!(
        encode_b64(&hmac_sha256(&keys.k_mac, &[&tbs])),
        req.headers.auth
    );
    assert_eq!(req.headers.key.is_some(), client.kex() == Kex::EcdhP256);
    let h = &req.headers;
    let parsed = AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth).unwrap();
    let authed = server
        .verify_request(&parsed, method, target, &req.body, sealed, NOW)
        .unwrap();
    assert_eq!(authed.body(), body);
    let resp = authed.respond(r, status, response).unwrap();
    let resp_hash = sha256(&resp.body);
    let resp_tbs = canonical(
        labels::RESPONSE,
        &ResponseTbs {
            status,
            seq,
            body_hash: &resp_hash,
        },
    )
    .unwrap();
    assert_eq!(
        encode_b64(&hmac_sha256(&keys.k_mac, &[&resp_tbs])),
        resp.peer_auth
    );
    let got = req
        .verifier
        .verify(status, Some(&resp.peer_auth), &resp.body)
        .unwrap();
    assert_eq!(got, response);
    json!({
        "method": method, "path_and_query": target, "seq": seq, "sealed": sealed,
        "body_plain": hex(body),
        "request_key_private": request_key_private,
        "request_key": request_key_public,
        "ikm": hex(&ikm),
        "hkdf_info": hex(&[labels::REQUEST_KEYS.as_bytes(), server.session_id().as_bytes(), &seq.to_be_bytes()].concat()),
        "k_mac": hex(&keys.k_mac), "k_req": hex(&keys.k_req), "k_resp": hex(&keys.k_resp),
        "body_wire": hex(&req.body),
        "body_sha256": hex(&body_hash),
        "request_mac_input": hex(&tbs),
        "headers": {
            "Peer-Session": h.session, "Peer-Key": h.key, "Peer-Seq": h.seq, "Peer-Auth": h.auth,
        },
        "content_type": req.content_type,
        "response_status": status,
        "response_plain": hex(response),
        "response_wire": hex(&resp.body),
        "response_sha256": hex(&resp_hash),
        "response_mac_input": hex(&resp_tbs),
        "response_peer_auth": resp.peer_auth,
    })
}

fn room_json(k: &Keys) -> Value {
    let mut r = rng(6);
    let room_id = RoomId::from_bytes(crate::rng::random_array(&mut r));
    let master = RoomKey::generate(&mut r);
    let epochs: Vec<Value> = [1u32, 2, 256]
        .iter()
        .map(|&e| {
            json!({
                "epoch": e,
                "hkdf_info": hex(&[labels::ROOM.as_bytes(), &e.to_be_bytes()].concat()),
                "k_epoch": hex(master.epoch_key(room_id, e).bytes()),
            })
        })
        .collect();
    let ek = master.epoch_key(room_id, 1);
    let body = MessageBody {
        text: "hello, room".into(),
        sent_at: NOW,
        reply_to: Some(7),
    };
    let m = ek.encrypt(&mut r, &k.user, &body).unwrap();
    let body_postcard = peer_proto::canonical::postcard_bytes(&body).unwrap();
    let aad = canonical(
        labels::MESSAGE,
        &MessageAad {
            room_id,
            epoch: 1,
            sender_id: k.user.user_id(),
        },
    )
    .unwrap();
    let ct_hash = sha256(m.ciphertext.as_slice());
    let sig_tbs = canonical(
        labels::MESSAGE_SIG,
        &MessageSigTbs {
            room_id,
            epoch: 1,
            ciphertext_hash: &ct_hash,
        },
    )
    .unwrap();
    k.user
        .public()
        .verify(&sig_tbs, m.signature.as_slice())
        .unwrap();
    let sk = seal_keys(ek.bytes());
    assert_eq!(
        ek.decrypt(
            k.user.public(),
            k.user.user_id(),
            m.ciphertext.as_slice(),
            m.signature.as_slice()
        )
        .unwrap(),
        body
    );

    let env =
        envelope::wrap_envelope(&mut r, &k.user, room_id, 1, k.member.public(), &master).unwrap();
    let env_signed = canonical(
        labels::ENVELOPE,
        &peer_proto::signed::EnvelopeTbs {
            room_id,
            epoch: 1,
            member_id: k.member.user_id(),
            wrapped_key: env.wrapped_key.as_slice(),
            distributor_id: k.user.user_id(),
        },
    )
    .unwrap();
    let v = envelope::verify_envelope(&env, k.user.public()).unwrap();
    assert_eq!(v.unwrap_key(&mut r, &k.member).unwrap(), master);
    json!({
        "rng_seed": 6,
        "room_id": hex(room_id.as_bytes()),
        "master_key": hex(master.as_bytes()),
        "epoch_keys": epochs,
        "message": {
            "epoch": 1, "sender": "user", "sender_id": hex(k.user.user_id().as_bytes()),
            "body": {"text": body.text, "sent_at": body.sent_at, "reply_to": body.reply_to},
            "body_postcard": hex(&body_postcard),
            "aad": hex(&aad),
            "k_epoch": hex(ek.bytes()),
            "k_enc": hex(&sk.k_enc), "k_mac": hex(&sk.k_mac),
            "iv": hex(m.ciphertext.as_slice().get(..IV_LEN).unwrap()),
            "ciphertext": hex(m.ciphertext.as_slice()),
            "ciphertext_sha256": hex(&ct_hash),
            "signed_bytes": hex(&sig_tbs),
            "signature": hex(m.signature.as_slice()),
        },
        "envelope": {
            "epoch": 1, "distributor": "user", "member": "member",
            "note": "RSA-OAEP is randomized: decrypt wrapped_key with the member key to get master_key",
            "wrapped_key": hex(env.wrapped_key.as_slice()),
            "signed_bytes": hex(&env_signed),
            "signature": hex(env.signature.as_slice()),
            "json": serde_json::to_value(&env).unwrap(),
        },
    })
}

/// A passphrase-protected identity file of the user key (few iterations,
/// to keep the vector cheap; exports use 600,000).
fn identity_file_json(k: &Keys) -> Value {
    use crate::identity::export::{self, Passphrase};
    let mut r = rng(7);
    let salt: [u8; export::SALT_LEN] = crate::rng::random_array(&mut r);
    let iv: [u8; IV_LEN] = crate::rng::random_array(&mut r);
    let passphrase = "correct horse battery staple";
    let iterations = export::MIN_ITERATIONS;
    let text = k
        .user
        .export_with(&Passphrase::new(passphrase), iterations, &salt, &iv)
        .unwrap();
    let mut file_key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), &salt, iterations, &mut file_key);
    let aad = canonical(
        export::LABEL,
        &(export::VERSION, iterations, &salt[..], k.user.spki_der()),
    )
    .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let sealed = peer_proto::bytes::decode_b64(file["sealed_key"].as_str().unwrap()).unwrap();
    let pkcs8 = k.user.to_pkcs8_der().unwrap();
    assert_eq!(&open(&file_key, &sealed, &aad).unwrap()[..], &pkcs8[..]);
    json!({
        "rng_seed": 7,
        "key": "user",
        "passphrase": passphrase,
        "iterations": iterations,
        "salt": hex(&salt),
        "iv": hex(&iv),
        "file_key": hex(&file_key),
        "aad": hex(&aad),
        "sealed_key": hex(&sealed),
        "file_json": file,
        "file_text": text,
    })
}

fn generate() -> Value {
    let k = keys();
    json!({
        "title": "peergroup protocol v1 test vectors (docs/protocol.md)",
        "warning": "The RSA private keys below are PUBLIC TEST-ONLY keys, generated from a fixed seed. Never use them for anything else.",
        "encoding": "Binary values are lowercase hex, except fields ending in _b64url (base64url without padding) and the *_json objects and headers, which are exactly as on the wire. Null means 'not in this mode'.",
        "rng": "Each section draws from rand_chacha 0.10 ChaCha20Rng::seed_from_u64(rng_seed); keys come from seed 1 in the order user, node, member (RSA-2048, e = 65537).",
        "keys": {"rng_seed": 1, "user": key_json(&k.user), "node": key_json(&k.node), "member": key_json(&k.member)},
        "seal": seal_json(),
        "registration": registration_json(&k),
        "session_ecdh_p256": session_json(&k, Kex::EcdhP256, 4),
        "session_rsa_oaep": session_json(&k, Kex::RsaOaep, 5),
        "room": room_json(&k),
        "identity_file": identity_file_json(&k),
    })
}

/// Pretty JSON with sorted object keys, whatever serde_json's map features.
fn write_sorted(v: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    match v {
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, key) in keys.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push_str(": ");
                write_sorted(&map[key.as_str()], indent + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                write_sorted(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(indent));
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap()),
    }
}

#[test]
fn test_vectors_match_docs() {
    let mut text = String::new();
    write_sorted(&generate(), 0, &mut text);
    text.push('\n');
    // Generation is deterministic within one run too.
    let mut again = String::new();
    write_sorted(&generate(), 0, &mut again);
    again.push('\n');
    assert_eq!(text, again, "test vector generation is not deterministic");

    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/test-vectors.json");
    if std::env::var_os("UPDATE_TEST_VECTORS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_TEST_VECTORS=1 to create it)",
            path.display()
        )
    });
    assert!(
        committed == text,
        "docs/test-vectors.json differs from what the code produces; if the change is intended, rerun with UPDATE_TEST_VECTORS=1"
    );
}
