//! Domain-separation labels (protocol.md). Each label is used for exactly one
//! purpose; every signed or MACed encoding starts with one of them.

/// User registration signature.
pub const REGISTER: &str = "peergroup/register/v1";
/// Client hello signature.
pub const HANDSHAKE_HELLO: &str = "peergroup/handshake/hello/v1";
/// Node signature over the handshake reply.
pub const HANDSHAKE_REPLY: &str = "peergroup/handshake/reply/v1";
/// HKDF info prefix for the session token key (`k_token`).
pub const SESSION: &str = "peergroup/session/v1";
/// HKDF info prefix for the per-request keys (`k_mac`, `k_req`, `k_resp`).
pub const REQUEST_KEYS: &str = "peergroup/request-keys/v1";
/// Request authenticator (HMAC).
pub const REQUEST: &str = "peergroup/request/v1";
/// Response authenticator (HMAC).
pub const RESPONSE: &str = "peergroup/response/v1";
/// HKDF info for the keys of `seal` / `open`.
pub const SEAL: &str = "peergroup/seal/v1";
/// Key envelope signature.
pub const ENVELOPE: &str = "peergroup/envelope/v1";
/// HKDF info prefix for a room epoch key.
pub const ROOM: &str = "peergroup/room/v1";
/// Associated data of a room message's ciphertext.
pub const MESSAGE: &str = "peergroup/message/v1";
/// Sender signature over a room message.
pub const MESSAGE_SIG: &str = "peergroup/message-sig/v1";
/// Node registration with another node (`POST /api/v1/peers`).
pub const PEER: &str = "peergroup/peer/v1";
/// A node leaving another node (`DELETE /api/v1/peers/{id}`).
pub const PEER_LEAVE: &str = "peergroup/peer-leave/v1";
/// Discovery datagram signature.
pub const DISCOVERY: &str = "peergroup/discovery/v1";

/// Every label, for tests that check they are distinct.
pub const ALL: [&str; 15] = [
    REGISTER,
    HANDSHAKE_HELLO,
    HANDSHAKE_REPLY,
    SESSION,
    REQUEST_KEYS,
    REQUEST,
    RESPONSE,
    SEAL,
    ENVELOPE,
    ROOM,
    MESSAGE,
    MESSAGE_SIG,
    PEER,
    PEER_LEAVE,
    DISCOVERY,
];

#[cfg(test)]
mod tests {
    #[test]
    fn labels_are_distinct_and_prefix_free() {
        for (i, a) in super::ALL.iter().enumerate() {
            for (j, b) in super::ALL.iter().enumerate() {
                if i != j {
                    assert_ne!(a, b);
                    assert!(!a.starts_with(b), "{a} starts with {b}");
                }
            }
        }
    }
}
