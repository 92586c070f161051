//! The crypto floor: what the node must compute for one authenticated
//! request no matter how fast the rest is — verify the per-request
//! authenticator (ECDH with the request's fresh key, HKDF, HMAC, or the
//! HMAC alone for `rsa-oaep` sessions) and authenticate the response.
//! Measured in this process, in the same run as the figures it is put next
//! to, as the CPU time of the measuring thread (so that other load on the
//! machine does not inflate it).

use std::time::Duration;

use crate::procstat::on_cpu;

use peer_crypto::handshake::{self, ReplayCache};
use peer_crypto::request::AuthHeaders;
use peer_crypto::{IdentityKey, KeySize};
use peer_proto::api::Kex;

/// Per-request node-side cost of one authenticated request, in this
/// process, averaged over `iterations`.
pub(crate) fn per_request(kex: Kex, body_len: usize, iterations: u32) -> anyhow::Result<Duration> {
    let mut rng = peer_crypto::rng::system_rng();
    let user = IdentityKey::generate(&mut rng, KeySize::Rsa2048)?;
    let node = IdentityKey::generate(&mut rng, KeySize::Rsa2048)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let (expect, hello) = handshake::start(&mut rng, &user, node.node_id(), kex, now)?;
    let replay = ReplayCache::default();
    let verified = handshake::verify_hello(&hello, user.public(), node.node_id(), &replay, now)?;
    let (reply, server) = verified.respond(&mut rng, &node, now, 3600)?;
    let client = expect.finish(&mut rng, &reply, node.public(), now)?;

    let body = vec![b'x'; body_len];
    let path = "/api/v1/rooms/bench/messages";
    // Requests are prepared outside the timed part: that is client work.
    let requests = (0..iterations)
        .map(|_| client.prepare_request(&mut rng, "POST", path, &body, false))
        .collect::<Result<Vec<_>, _>>()?;
    let answer = br#"{"seq":1}"#;
    let (result, spent) = on_cpu(|| -> anyhow::Result<()> {
        for req in &requests {
            let h = &req.headers;
            let parsed = AuthHeaders::parse(&h.session, h.key.as_deref(), &h.seq, &h.auth)?;
            let authed = server.verify_request(&parsed, "POST", path, &req.body, false, now)?;
            std::hint::black_box(authed.respond(&mut rng, 201, answer)?);
        }
        Ok(())
    });
    result?;
    Ok(spent / iterations.max(1))
}

/// Node-side cost of one handshake (verify the hello's signature, answer
/// with a signed reply and a new session), in this process, averaged over
/// `iterations`.
pub(crate) fn handshake(kex: Kex, iterations: u32) -> anyhow::Result<Duration> {
    let mut rng = peer_crypto::rng::system_rng();
    let user = IdentityKey::generate(&mut rng, KeySize::Rsa2048)?;
    let node = IdentityKey::generate(&mut rng, KeySize::Rsa2048)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let hellos = (0..iterations)
        .map(|_| handshake::start(&mut rng, &user, node.node_id(), kex, now).map(|(_, h)| h))
        .collect::<Result<Vec<_>, _>>()?;
    let replay = ReplayCache::default();
    let (result, spent) = on_cpu(|| -> anyhow::Result<()> {
        for hello in &hellos {
            let verified =
                handshake::verify_hello(hello, user.public(), node.node_id(), &replay, now)?;
            std::hint::black_box(verified.respond(&mut rng, &node, now, 3600)?);
        }
        Ok(())
    });
    result?;
    Ok(spent / iterations.max(1))
}
