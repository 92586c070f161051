//! The validated form of the global flags: the profile, the node URL, the
//! output mode and the client options, and the one way every command
//! connects to its node.

use std::time::Duration;

use anyhow::Result;
use peer_client::{Client, ClientError, ClientOptions, PinFile};
use peer_crypto::IdentityKey;
use peer_http::client::{BaseUrl, TransportError};
use peer_proto::ErrorCode;
use peer_proto::api::Kex;

use crate::error::Usage;
use crate::flags::{self, GlobalArgs};
use crate::output::Output;
use crate::profile::{DEFAULT_NODE, Profile};

/// How many times a handshake or registration refused with `rate_limited`
/// (the node allows 10 per second per address) is tried again.
const RATE_LIMIT_RETRIES: u32 = 5;

/// Everything a command needs besides its own arguments.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The profile.
    pub(crate) profile: Profile,
    /// `--node`, checked.
    node_flag: Option<BaseUrl>,
    /// Text or JSON.
    pub(crate) out: Output,
    options: ClientOptions,
}

impl Ctx {
    /// Checks the global flags (exit code 2 when they are wrong).
    pub(crate) fn new(global: &GlobalArgs) -> Result<Ctx> {
        let profile = Profile::locate(&global.profile)?;
        let node_flag = global.node.as_deref().map(parse_url).transpose()?;
        let kex = match global.kex {
            flags::Kex::Ecdh => Kex::EcdhP256,
            flags::Kex::Rsa => Kex::RsaOaep,
        };
        Ok(Ctx {
            profile,
            node_flag,
            out: Output::new(global.json),
            options: ClientOptions::default().kex(kex).sealed(global.sealed),
        })
    }

    /// True when `--node` or the profile names a node.
    pub(crate) fn has_node(&self) -> Result<bool> {
        Ok(self.node_flag.is_some() || self.profile.settings()?.node.is_some())
    }

    /// Uses `url` (found by discovery) as if given with `--node`.
    pub(crate) fn found_node(&mut self, url: Option<BaseUrl>) {
        if self.node_flag.is_none() {
            self.node_flag = url;
        }
    }

    /// The node: `--node`, else the profile's, else the main peer found by
    /// multicast, else the default.
    pub(crate) fn node_url(&self) -> Result<BaseUrl> {
        if let Some(u) = &self.node_flag {
            return Ok(u.clone());
        }
        match self.profile.settings()?.node {
            Some(n) => BaseUrl::parse(&n).map_err(|e| {
                anyhow::anyhow!(
                    "the node URL in {} is invalid: {e}",
                    self.profile.settings_path().display()
                )
            }),
            None => Ok(BaseUrl::parse(DEFAULT_NODE)?),
        }
    }

    /// Connects `identity` to `url`, pinning the node key in the profile.
    /// No request but `GET /api/v1/node` is made.
    pub(crate) async fn connect_as(&self, url: &BaseUrl, identity: IdentityKey) -> Result<Client> {
        let pins = PinFile::new(self.profile.pins_path());
        Client::connect(url.as_str(), identity, &pins, self.options.clone())
            .await
            .map_err(|e| self.connect_error(url, e))
    }

    /// Connects as the profile's user and opens a session (the user must be
    /// registered on the node).
    pub(crate) async fn connect(&self) -> Result<Client> {
        let url = self.node_url()?;
        let identity = self.profile.identity()?;
        let client = self.connect_as(&url, identity).await?;
        retry_rate_limited(|| client.handshake())
            .await
            .map_err(|e| match e.code() {
                Some(ErrorCode::UnknownIdentity) => anyhow::Error::new(e).context(format!(
                    "profile '{0}' is not registered on {url}: run `peerctl --profile {0} init --name NAME`",
                    self.profile.name()
                )),
                _ => anyhow::Error::new(e).context(format!("cannot open a session with {url}")),
            })?;
        Ok(client)
    }

    fn connect_error(&self, url: &BaseUrl, e: ClientError) -> anyhow::Error {
        let hint = match &e {
            ClientError::Transport(
                TransportError::ConnectRefused { .. } | TransportError::Connect { .. },
            ) => format!(
                "cannot reach a node at {url} (is peerd running there? start one with `cargo run --release --locked -p peerd`, or pass --node URL)"
            ),
            ClientError::NodeKeyChanged { .. } => format!(
                "the node at {url} presents another key than the one pinned in {}: if its key really changed, remove that line and try again",
                self.profile.pins_path().display()
            ),
            _ => format!("cannot connect to {url}"),
        };
        anyhow::Error::new(e).context(hint)
    }
}

/// A `--node` value: `http://HOST:PORT` (usage error otherwise).
fn parse_url(text: &str) -> Result<BaseUrl, Usage> {
    BaseUrl::parse(text).map_err(|e| Usage(format!("--node {text:?}: {e}")))
}

/// Runs `f`, trying again (after the node's `Retry-After`, at most 2 s)
/// while the node answers `rate_limited`.
pub(crate) async fn retry_rate_limited<T, F, Fut>(mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut tries = 0;
    loop {
        match f().await {
            Err(ClientError::Api {
                code: ErrorCode::RateLimited,
                retry_after,
                ..
            }) if tries < RATE_LIMIT_RETRIES => {
                tries += 1;
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(2));
                tracing::debug!(?wait, "rate limited; trying again");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// Ends the client's session on the node (best effort: the node forgets
/// idle sessions anyway).
pub(crate) async fn close(client: &Client) {
    let _ = tokio::time::timeout(Duration::from_secs(2), client.end_session()).await;
}

/// Adds `what` as context to a client call's error.
pub(crate) trait Doing<T> {
    /// The error, with `what` failed as its context.
    fn doing(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Doing<T> for Result<T, ClientError> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| anyhow::Error::new(e).context(what()))
    }
}
