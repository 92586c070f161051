//! Fan-out: S event streams of one member watch a room while P posters post
//! to it; every stream should see every post. Measures events delivered per
//! second (all streams together) and the latency from a post being sent to
//! its event arriving on a stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peer_proto::api::JoinRoom;
use peer_proto::event::EventKind;

use super::{Ctx, deliveries, drive, per_sec};
use crate::setup::{EncryptedRoom, User, sessions};

/// How long streams may lag behind the last post before they count as
/// incomplete.
const DRAIN_BOUND: Duration = Duration::from_secs(30);

/// Runs the fan-out for `subscribers` streams.
pub(crate) async fn run(ctx: &mut Ctx, subscribers: usize) -> anyhow::Result<()> {
    let server = ctx.node().await?;
    let url = server.url().to_owned();
    let poster = User::generate(ctx.kex)?;
    let owner = poster.register(&url, &ctx.unique("fanout-poster")).await?;
    let room = EncryptedRoom::create(&owner, "bench-fanout").await?;
    let reader_user = User::generate(ctx.kex)?;
    let reader = reader_user
        .register(&url, &ctx.unique("fanout-reader"))
        .await?;
    reader
        .join_room(
            room.id,
            &JoinRoom {
                password: None,
                invite: None,
            },
        )
        .await?;

    let per_poster = ctx.sizes.fanout_posts;
    let total_posts = ctx.sizes.posters * per_poster;
    let posts = Arc::new(room.sealed_posts(&poster.key, total_posts.clamp(1, 64), 100)?);
    if let Some(first) = posts.first() {
        ctx.fanout_payload = Some(serde_json::to_vec(first)?.len());
    }
    let posters = Arc::new(sessions(&poster, &url, ctx.sizes.posters, 4).await?);

    // Open the streams (a few at a time), then start reading them all.
    let received: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let cut_off = Arc::new(AtomicUsize::new(0));
    let complete = Arc::new(AtomicUsize::new(0));
    let mut readers = tokio::task::JoinSet::new();
    let room_id = room.id;
    let mut opened = 0;
    while opened < subscribers {
        let batch = (subscribers - opened).min(32);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let reader = reader.clone();
            set.spawn(async move { reader.events(None).await });
        }
        while let Some(r) = set.join_next().await {
            let mut stream = r??;
            let received = received.clone();
            let cut_off = cut_off.clone();
            let complete = complete.clone();
            readers.spawn(async move {
                let mut mine = 0;
                loop {
                    match stream.next().await {
                        Some(Ok(ev)) => {
                            if let EventKind::Message {
                                room_id: r, seq, ..
                            } = ev.kind
                                && r == room_id
                            {
                                let at = Instant::now();
                                received
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push((seq, at));
                                mine += 1;
                                if mine == total_posts {
                                    complete.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                            }
                        }
                        Some(Err(_)) | None => {
                            cut_off.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            });
        }
        opened += batch;
    }

    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let start = Instant::now();
    drive(ctx.sizes.posters, total_posts, {
        let posters = posters.clone();
        let posts = posts.clone();
        let sent = sent.clone();
        move |w, i| {
            let posters = posters.clone();
            let posts = posts.clone();
            let sent = sent.clone();
            async move {
                let c = posters
                    .get(w)
                    .ok_or_else(|| anyhow::anyhow!("no poster {w}"))?;
                let post = posts
                    .get(i % posts.len())
                    .ok_or_else(|| anyhow::anyhow!("no post {i}"))?;
                let t = Instant::now();
                let posted = c.post_message(room_id, post).await?;
                sent.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(posted.seq, t);
                Ok(())
            }
        }
    })
    .await?;
    // Let the streams drain, within a bound; stragglers are stopped.
    let _ = tokio::time::timeout(DRAIN_BOUND, async {
        while readers.join_next().await.is_some() {}
    })
    .await;
    readers.abort_all();
    server.stop().await;

    let received = std::mem::take(&mut *received.lock().unwrap_or_else(|e| e.into_inner()));
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner());
    let (mut lat, last) = deliveries(&received, start, |seq| sent.get(&seq).copied());
    let scenario = format!("fan-out (S={subscribers}, P={})", ctx.sizes.posters);
    let expected = subscribers * total_posts;
    ctx.report.add(
        &scenario,
        "events delivered/s",
        per_sec(received.len(), last.saturating_duration_since(start)),
        "1/s",
    );
    super::add_latency(&mut ctx.report, &scenario, "post-to-event", &mut lat);
    ctx.report.add(
        &scenario,
        "events delivered",
        received.len() as f64 / expected.max(1) as f64 * 100.0,
        "%",
    );
    let cut = cut_off.load(Ordering::Relaxed);
    let done = complete.load(Ordering::Relaxed);
    if done < subscribers {
        ctx.report.note(format!(
            "{scenario}: {done} of {subscribers} streams saw every post; {cut} were cut off by the node"
        ));
    }
    Ok(())
}
