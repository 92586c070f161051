//! The `peerd` binary, run as an operator would: start, serve, stop,
//! settings and their precedence, the data directory and key file, the
//! listening address, the redb store (restart, backup, migrate) and the
//! MongoDB store, and faults (store outage, kill -9, a lost main peer, idle
//! connections) under load.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod identity;
mod lifecycle;
mod listen;
mod mesh;
mod mongodb;
mod settings;
mod store;
mod support;
