//! The measurements, one module each. Every scenario starts its own fresh
//! peerd (memory store, discovery off, limits raised), so none inherits
//! another's state.

pub(crate) mod fanout;
pub(crate) mod handshakes;
pub(crate) mod history;
pub(crate) mod memory;
pub(crate) mod mosquitto;
pub(crate) mod posts;
pub(crate) mod transport;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use peer_proto::api::Kex;

use crate::report::Report;
use crate::server::{PEERD_ARGS, Server};
use crate::stats::Latencies;

/// The sizes of a run.
#[derive(Debug, Clone)]
pub(crate) struct Sizes {
    /// Concurrent clients posting (and shaking hands).
    pub(crate) clients: usize,
    /// Handshakes measured.
    pub(crate) handshakes: usize,
    /// Posts measured.
    pub(crate) posts: usize,
    /// Body size of a post's text, bytes.
    pub(crate) text_len: usize,
    /// Event-stream subscriber counts of the fan-out runs.
    pub(crate) subscribers: Vec<usize>,
    /// Posters in the fan-out runs.
    pub(crate) posters: usize,
    /// Posts per poster in the fan-out runs.
    pub(crate) fanout_posts: usize,
    /// Room sizes of the history runs.
    pub(crate) history: Vec<usize>,
    /// Reads measured per history room.
    pub(crate) history_reads: usize,
    /// Sessions and subscribers added for the memory figures.
    pub(crate) memory_sessions: usize,
    /// Event streams added for the memory figures.
    pub(crate) memory_streams: usize,
}

/// The node under test.
pub(crate) enum Target {
    /// A fresh peerd per scenario, from this binary.
    Spawn(PathBuf),
    /// One node for every scenario, at this URL (with its pid, if given).
    Url(String, Option<u32>),
}

/// What every scenario needs.
pub(crate) struct Ctx {
    /// The node under test.
    pub(crate) target: Target,
    /// The handshake mode of the clients.
    pub(crate) kex: Kex,
    /// The sizes.
    pub(crate) sizes: Sizes,
    /// The results so far.
    pub(crate) report: Report,
    /// The transport ceiling, once measured: requests/s and server CPU µs
    /// per request at the posts' concurrency and body size.
    pub(crate) transport: Option<transport::Ceiling>,
    /// The size of one fan-out post's JSON body, once measured (the
    /// mosquitto baseline publishes payloads of this size).
    pub(crate) fanout_payload: Option<usize>,
}

impl Ctx {
    /// The node for one scenario: a fresh peerd, or the given node.
    pub(crate) async fn node(&self) -> anyhow::Result<Server> {
        match &self.target {
            Target::Spawn(peerd) => Server::start(peerd, PEERD_ARGS).await,
            Target::Url(url, pid) => Ok(Server::external(url, *pid)),
        }
    }

    /// A name unique to this run, for users and rooms on a shared node.
    pub(crate) fn unique(&self, what: &str) -> String {
        format!("bench-{what}-{}", std::process::id())
    }

    /// The kex mode's name in the table.
    pub(crate) fn kex_name(&self) -> &'static str {
        self.kex.as_str()
    }
}

/// Runs `total` operations over `workers` tasks: task `w` runs `op(w, i)`
/// for its share of `i`; returns the latency of each and the wall time.
/// Each task stops at its first error, which is returned.
pub(crate) async fn drive<F, Fut>(
    workers: usize,
    total: usize,
    op: F,
) -> anyhow::Result<(Latencies, Duration)>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let workers = workers.max(1);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..workers {
        let op = op.clone();
        set.spawn(async move {
            let mut lat = Latencies::default();
            let mut i = w;
            while i < total {
                let t = Instant::now();
                op(w, i).await?;
                lat.push(t.elapsed());
                i += workers;
            }
            anyhow::Ok(lat)
        });
    }
    let mut all = Latencies::default();
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok((all, start.elapsed()))
}

/// Adds the p50/p99/p999 rows of `lat`.
/// What the subscribers of a fan-out received, as (key, arrival): the
/// post-to-event latencies of the events whose sending time `sent_at`
/// knows, and when the last event arrived (`start` when none did).
pub(crate) fn deliveries(
    received: &[(u64, Instant)],
    start: Instant,
    sent_at: impl Fn(u64) -> Option<Instant>,
) -> (Latencies, Instant) {
    let mut lat = Latencies::default();
    let mut last = start;
    for (key, at) in received {
        if let Some(t) = sent_at(*key) {
            lat.push(at.saturating_duration_since(t));
        }
        last = last.max(*at);
    }
    (lat, last)
}

pub(crate) fn add_latency(report: &mut Report, scenario: &str, what: &str, lat: &mut Latencies) {
    if let Some(p) = lat.percentiles() {
        report.add(scenario, &format!("{what} p50"), p.p50_us, "µs");
        report.add(scenario, &format!("{what} p99"), p.p99_us, "µs");
        report.add(scenario, &format!("{what} p999"), p.p999_us, "µs");
    }
}

/// Microseconds of `d` per one of `n`.
pub(crate) fn us_per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// Operations per second.
pub(crate) fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE)
}
