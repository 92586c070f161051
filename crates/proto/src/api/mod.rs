//! Every JSON request and response body of the HTTP API (api.md).
//!
//! Request bodies refuse unknown fields, so a typo fails loudly instead of
//! being ignored. Optional response fields are left out when absent. Binary
//! fields are base64url without padding, ids are 22-character base64url, and
//! times are unix seconds.

mod common;
mod handshake;
mod messages;
mod node;
mod peers;
mod rooms;
mod users;

pub use common::*;
pub use handshake::*;
pub use messages::*;
pub use node::*;
pub use peers::*;
pub use rooms::*;
pub use users::*;
