//! The whole flow (three users, every room kind, key distribution and
//! rotation, forged and outdated messages, an expired session, no plaintext
//! in the store) on a memory store, in both key exchanges, with plain and
//! sealed bodies.

mod common;

use peer_client::ClientOptions;
use peer_proto::api::Kex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdh() {
    common::flow::whole_flow(common::memory_store(), ClientOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_oaep() {
    common::flow::whole_flow(
        common::memory_store(),
        ClientOptions::default().kex(Kex::RsaOaep),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdh_sealed() {
    common::flow::whole_flow(
        common::memory_store(),
        ClientOptions::default().sealed(true),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_oaep_sealed() {
    common::flow::whole_flow(
        common::memory_store(),
        ClientOptions::default().kex(Kex::RsaOaep).sealed(true),
    )
    .await;
}
