//! peergroup over HTTP.
//!
//! - `server` (feature `server`): the hyper 1 server that maps the routes of
//!   the API to `peer-node` use cases, with the limits, authentication,
//!   sealed bodies, event streams and metrics of api.md. It makes no
//!   protocol decision of its own.
//! - `client` (feature `client`): the hyper-util client transport that
//!   `peer-client` and node-to-node calls use.

#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;
