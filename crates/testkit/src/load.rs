//! Clients posting concurrently while a test breaks something (cargo
//! feature `node`): each poster sends `POST /api/v1/rooms/{id}/messages`
//! with a bearer token and `{"text": ...}` in a loop and records what every
//! post got, so that a fault test can check that nothing acknowledged was
//! lost and that every refusal was the documented one.
//!
//! Bounded: each poster sends at most [`LoadConfig::max_posts`] posts, each
//! waits at most [`LoadConfig::request_timeout`] for its answer (a post
//! that gets none is recorded as [`Outcome::NoAnswer`]), and a poster
//! pauses [`LoadConfig::pause_after_failure`] after a post that was not
//! acknowledged (as a client honouring `Retry-After` would, only shorter).
//!
//! ```no_run
//! use peer_testkit::load::{Load, LoadConfig, Target};
//!
//! # async fn demo(addr: std::net::SocketAddr, token: String, room: String) {
//! let load = Load::start(Target { addr, token, room }, 4, LoadConfig::default());
//! load.wait_until("20 posts acknowledged", std::time::Duration::from_secs(60), |p| {
//!     p.iter().filter(|p| p.seq().is_some()).count() >= 20
//! })
//! .await
//! .unwrap();
//! let posts = load.stop().await;
//! # let _ = posts;
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use peer_proto::api::{MessageList, Posted};
use tokio::task::JoinHandle;

use crate::node::{RawRequest, send};

/// Where the posters post.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node's address.
    pub addr: SocketAddr,
    /// A bearer token of a member of `room`.
    pub token: String,
    /// The (unencrypted) room's id, as in its URL.
    pub room: String,
}

/// Bounds of a [`Load`].
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Posts per poster, at most.
    pub max_posts: usize,
    /// How long one post may wait for its answer.
    pub request_timeout: Duration,
    /// Pause after a post that was not acknowledged.
    pub pause_after_failure: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            max_posts: 5_000,
            request_timeout: Duration::from_secs(60),
            pause_after_failure: Duration::from_millis(50),
        }
    }
}

/// What one post got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201 with this seq.
    Acked {
        /// The seq the node gave the message.
        seq: u64,
    },
    /// Any other answer.
    Refused {
        /// The status code.
        status: u16,
        /// `error.code` of the body (empty when the body is not an API error).
        code: String,
        /// The `Retry-After` header, if any.
        retry_after: Option<String>,
    },
    /// No answer: the connection failed, or the timeout passed.
    NoAnswer(String),
}

/// One post and what it got.
#[derive(Debug, Clone)]
pub struct Post {
    /// Which poster sent it.
    pub poster: usize,
    /// The text sent (unique in the load).
    pub text: String,
    /// How many times the load had been retargeted when it was sent.
    pub generation: u64,
    /// What it got.
    pub outcome: Outcome,
}

impl Post {
    /// The seq, when the post was acknowledged.
    pub fn seq(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Acked { seq } => Some(seq),
            _ => None,
        }
    }
}

/// How many different posters sent a post since `from` (an index from
/// [`Load::mark`]) that `matches`.
pub fn posters_since(posts: &[Post], from: usize, matches: impl Fn(&Post) -> bool) -> usize {
    let mut who: Vec<usize> = posts
        .get(from..)
        .unwrap_or_default()
        .iter()
        .filter(|p| matches(p))
        .map(|p| p.poster)
        .collect();
    who.sort_unstable();
    who.dedup();
    who.len()
}

struct Shared {
    target: Mutex<(u64, Target)>,
    posts: Mutex<Vec<Post>>,
    stop: AtomicBool,
}

impl Shared {
    fn target(&self) -> (u64, Target) {
        self.target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, post: Post) {
        self.posts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(post);
    }
}

/// Posters running on the current tokio runtime.
pub struct Load {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load")
            .field("posters", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Load {
    /// Starts `posters` posters.
    pub fn start(target: Target, posters: usize, config: LoadConfig) -> Load {
        let shared = Arc::new(Shared {
            target: Mutex::new((0, target)),
            posts: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let tasks = (0..posters)
            .map(|poster| tokio::spawn(post_loop(shared.clone(), poster, config.clone())))
            .collect();
        Load { shared, tasks }
    }

    /// Posts go to `target` from now on (a restarted node, a new token).
    pub fn retarget(&self, target: Target) {
        let mut t = self
            .shared
            .target
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *t = (t.0 + 1, target);
    }

    /// Every post answered so far, in the order the answers came.
    pub fn posts(&self) -> Vec<Post> {
        self.shared
            .posts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many posts were answered so far (an index into [`Load::posts`]).
    pub fn mark(&self) -> usize {
        self.shared
            .posts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until `check` holds for the posts answered so far, polling,
    /// for at most `bound`.
    ///
    /// # Errors
    /// When `bound` passes first (the message names `what`).
    pub async fn wait_until(
        &self,
        what: &str,
        bound: Duration,
        mut check: impl FnMut(&[Post]) -> bool,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            {
                let posts = self
                    .shared
                    .posts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if check(&posts) {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("not within {bound:?}: {what}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the posters (each finishes the post it is sending) and returns
    /// every post.
    pub async fn stop(mut self) -> Vec<Post> {
        self.shared.stop.store(true, Ordering::SeqCst);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.posts()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn post_loop(shared: Arc<Shared>, poster: usize, config: LoadConfig) {
    for n in 0..config.max_posts {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let (generation, target) = shared.target();
        let text = format!("poster {poster} post {n}");
        let outcome = post_once(&target, &text, config.request_timeout).await;
        let acked = matches!(outcome, Outcome::Acked { .. });
        shared.record(Post {
            poster,
            text,
            generation,
            outcome,
        });
        if !acked {
            tokio::time::sleep(config.pause_after_failure).await;
        }
    }
}

/// Posts `text` once to `target`.
pub async fn post_once(target: &Target, text: &str, timeout: Duration) -> Outcome {
    let body = format!(r#"{{"text":{}}}"#, json_string(text));
    let req = RawRequest::post(&format!("/api/v1/rooms/{}/messages", target.room))
        .bearer(&target.token)
        .json(body);
    match tokio::time::timeout(timeout, send(target.addr, req)).await {
        Err(_) => Outcome::NoAnswer(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => Outcome::NoAnswer(e.to_string()),
        Ok(Ok(resp)) => {
            if resp.status == 201
                && let Ok(posted) = serde_json::from_slice::<Posted>(&resp.body)
            {
                return Outcome::Acked { seq: posted.seq };
            }
            Outcome::Refused {
                status: resp.status,
                code: error_code(&resp.body),
                retry_after: resp.header("retry-after").map(str::to_owned),
            }
        }
    }
}

/// `error.code` of an API error body; empty when there is none.
pub fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// One stored message, as read back: (seq, text, deleted).
pub type Stored = (u64, Option<String>, bool);

/// Reads every message of the room (pages of 500 after seq 0).
///
/// # Errors
/// When a page cannot be read (the status and body are in the message).
pub async fn read_room(target: &Target, timeout: Duration) -> Result<Vec<Stored>, String> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let req = RawRequest::get(&format!(
            "/api/v1/rooms/{}/messages?after={after}&limit=500",
            target.room
        ))
        .bearer(&target.token);
        let resp = tokio::time::timeout(timeout, send(target.addr, req))
            .await
            .map_err(|_| format!("no page within {timeout:?}"))?
            .map_err(|e| e.to_string())?;
        if resp.status != 200 {
            return Err(format!("{}: {}", resp.status, resp.text()));
        }
        let page: MessageList = serde_json::from_slice(&resp.body).map_err(|e| e.to_string())?;
        out.extend(
            page.messages
                .iter()
                .map(|m| (m.seq, m.text.clone(), m.deleted)),
        );
        match page.messages.last() {
            Some(m) if page.more => after = m.seq,
            _ => return Ok(out),
        }
    }
}

/// Checks that every acknowledged post of `posts` is in `stored` with its
/// seq and text, and that no two acknowledged posts share a seq.
///
/// # Errors
/// The first acknowledged post missing or different, or a shared seq.
pub fn check_acknowledged(posts: &[Post], stored: &[Stored]) -> Result<usize, String> {
    let by_seq: std::collections::BTreeMap<u64, &Stored> =
        stored.iter().map(|m| (m.0, m)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for post in posts {
        let Some(seq) = post.seq() else { continue };
        if !seen.insert(seq) {
            return Err(format!("seq {seq} acknowledged twice"));
        }
        match by_seq.get(&seq) {
            Some((_, Some(text), false)) if *text == post.text => {}
            other => {
                return Err(format!(
                    "acknowledged post {:?} (seq {seq}) lost: stored {other:?}",
                    post.text
                ));
            }
        }
    }
    Ok(seen.len())
}
