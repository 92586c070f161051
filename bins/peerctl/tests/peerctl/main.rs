//! peerctl end to end: the real binary, driven as a person or a script
//! would, against the real `peerd` on 127.0.0.1 (one test restarts a
//! node's HTTP server, and runs that node in this process).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod chat;
mod cli;
mod docs;
mod identity_file;
mod lifecycle;
mod support;
mod tour;
