//! Every decoder that takes bytes from outside, as a function that must
//! never panic and must keep its promises for any input.
//!
//! Each function here is both a libFuzzer target (`fuzz_targets/`, run by
//! `scripts/fuzz` for a bounded time) and the body of a property test that
//! CI runs (`tests/properties.rs`). Inputs the fuzzer found interesting
//! enough to keep — crashes above all — go to `regressions/<target>/`,
//! which the property tests replay on every run.
//!
//! | function | decoder | promise checked beyond "no panic" |
//! | --- | --- | --- |
//! | [`json_bodies`] | every API body type, from JSON | what parses re-encodes to an equal value |
//! | [`discovery_datagram`] | the discovery datagram | what decodes re-encodes to the same bytes' value; at most the size limit |
//! | [`auth_headers`] | the per-request authenticator headers | what parses is of the documented lengths |
//! | [`sealed`] | `open` of sealed bodies and ciphertexts | random bytes never authenticate |
//! | [`sse_stream`] | the client's event-stream parser | line length bound held, in any chunking |
//! | [`ids`] | id newtypes from path segments | what parses displays as the same text |
//! | [`http_request`] | a whole node behind its HTTP server | no 500, an answer or a clean close, still healthy after |
//! | [`settings_file`] | peerd's settings file (TOML), parsed and validated | refused only with a message |
//!
//! The settings file is decoded by peerd's `config` module, which the
//! `peerd` package also builds as the small library `peerd_settings` for
//! this target; its own property tests stay in
//! `bins/peerd/src/config/file.rs`.

#![forbid(unsafe_code)]

mod http;

pub use http::http_request;

use peer_proto::api;
use peer_proto::discovery::Datagram;
use peer_proto::id::{MessageId, NodeId, RoomId, SessionId, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Parses `data` as each API body type; whatever parses must serialize and
/// parse back to an equal value.
pub fn json_bodies(data: &[u8]) {
    fn check<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<T>(data) {
            let again = serde_json::to_vec(&v).unwrap_or_else(|e| {
                panic!(
                    "{} parsed but does not serialize: {e}",
                    std::any::type_name::<T>()
                )
            });
            let back: T = serde_json::from_slice(&again).unwrap_or_else(|e| {
                panic!(
                    "{} does not parse its own JSON: {e}",
                    std::any::type_name::<T>()
                )
            });
            assert_eq!(
                v,
                back,
                "{} changed in a round trip",
                std::any::type_name::<T>()
            );
        }
    }
    // Request bodies (what a node parses from clients and peers).
    check::<api::RegisterUser>(data);
    check::<api::Hello>(data);
    check::<api::TokenRequest>(data);
    check::<api::CreateRoom>(data);
    check::<api::UpdateRoom>(data);
    check::<api::JoinRoom>(data);
    check::<api::Kick>(data);
    check::<api::SetRole>(data);
    check::<api::CreateInvite>(data);
    check::<api::PostKeys>(data);
    check::<api::PostMessage>(data);
    check::<api::RegisterPeer>(data);
    check::<api::PeerLeave>(data);
    check::<api::Notify>(data);
    // Response bodies (what a client parses from a node).
    check::<api::HelloReply>(data);
    check::<api::NodeInfo>(data);
    check::<api::Health>(data);
    check::<api::Room>(data);
    check::<api::RoomList>(data);
    check::<api::KeyList>(data);
    check::<api::MessageList>(data);
    check::<api::Posted>(data);
    check::<api::User>(data);
    check::<api::PeerList>(data);
    check::<peer_proto::ErrorBody>(data);
    check::<peer_proto::event::Event>(data);
}

/// Decodes `data` as a discovery datagram; whatever decodes is within the
/// size limit and encodes back to a datagram that decodes equal.
pub fn discovery_datagram(data: &[u8]) {
    if let Ok(d) = Datagram::decode(data) {
        assert!(
            data.len() <= peer_proto::discovery::MAX_DATAGRAM_BYTES,
            "an oversized datagram decoded"
        );
        let bytes = d
            .encode()
            .unwrap_or_else(|e| panic!("decoded but does not encode: {e}"));
        let back = Datagram::decode(&bytes).unwrap_or_else(|e| panic!("re-encoding rejected: {e}"));
        assert_eq!(d, back);
    }
}

/// Splits `data` at `0xff` bytes into the four authenticator header values
/// (session, key, seq, auth; no key when there are three parts) and parses
/// them.
pub fn auth_headers(data: &[u8]) {
    let parts: Vec<String> = data
        .split(|&b| b == 0xff)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let (session, key, seq, auth) = match parts.as_slice() {
        [s, q, a] => (s, None, q, a),
        [s, k, q, a, ..] => (s, Some(k.as_str()), q, a),
        _ => return,
    };
    if peer_crypto::request::AuthHeaders::parse(session, key, seq, auth).is_ok() {
        // Only well-formed values of the documented lengths get through.
        assert_eq!(session.len(), 22, "session header length");
        assert!(
            seq.bytes().all(|b| b.is_ascii_digit()),
            "seq must be digits"
        );
    }
}

/// `open` with a fixed key: bytes that were never sealed under that key
/// must never open.
pub fn sealed(data: &[u8]) {
    let key = [7u8; 32];
    let (aad, body) = data.split_at(data.len().min(16));
    assert!(
        peer_crypto::seal::open(&key, body, aad).is_err(),
        "random bytes authenticated"
    );
}

/// Feeds `data` to the event-stream parser, in chunks whose sizes the
/// first byte picks: no panic, and no event longer than the line bound.
pub fn sse_stream(data: &[u8]) {
    const MAX_LINE: usize = 256;
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 32) + 1;
    let mut parser = peer_http::client::SseParser::new(MAX_LINE);
    let mut out = Vec::new();
    for piece in rest.chunks(chunk) {
        if parser.push(piece, &mut out).is_err() {
            // Refused (an over-long line): the stream ends there.
            break;
        }
    }
    for ev in &out {
        assert!(
            ev.data.len() <= MAX_LINE,
            "event data beyond the line bound"
        );
    }
}

/// Decodes `data` as peerd's settings file and validates it, as
/// `peerd --config FILE` does: settings, or a refusal with a message (see
/// `peerd_settings::settings_file`).
pub fn settings_file(data: &[u8]) {
    peerd_settings::settings_file(data);
}

/// Parses `data` (lossily as text) as each id type; whatever parses
/// displays as the same text.
pub fn ids(data: &[u8]) {
    fn check<T: std::str::FromStr + std::fmt::Display>(text: &str) {
        if let Ok(id) = text.parse::<T>() {
            assert_eq!(
                id.to_string(),
                text,
                "{} is not canonical",
                std::any::type_name::<T>()
            );
        }
    }
    let text = String::from_utf8_lossy(data);
    check::<UserId>(&text);
    check::<RoomId>(&text);
    check::<NodeId>(&text);
    check::<SessionId>(&text);
    check::<MessageId>(&text);
}
