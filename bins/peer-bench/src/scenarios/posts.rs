//! Authenticated posts: C concurrent clients (one session each) post
//! encrypted, signed messages to one room. The messages are made before the
//! timed phase; what is timed is the per-request authenticator on the
//! client, and everything on the node.

use std::sync::Arc;

use super::{Ctx, add_latency, drive, per_sec, us_per};
use crate::procstat::CpuMeter;
use crate::setup::{EncryptedRoom, User, sessions};
use crate::{floor, scenarios::transport};

/// Distinct messages made (then posted round-robin): signing is the
/// client's slowest step, and the node neither knows nor cares that a
/// ciphertext repeats.
const DISTINCT: usize = 256;

/// Measures posts/s, latency and server CPU per post.
pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let server = ctx.node().await?;
    let url = server.url().to_owned();
    let user = User::generate(ctx.kex)?;
    let owner = user.register(&url, &ctx.unique("poster")).await?;
    let room = EncryptedRoom::create(&owner, "bench-posts").await?;
    let posts = Arc::new(room.sealed_posts(
        &user.key,
        DISTINCT.min(ctx.sizes.posts).max(1),
        ctx.sizes.text_len,
    )?);
    let body_len = serde_json::to_vec(&posts[0])?.len();

    // The ceiling with the same body size, measured just before.
    transport::run(ctx, body_len).await?;

    let workers = Arc::new(sessions(&user, &url, ctx.sizes.clients, 4).await?);
    let room_id = room.id;
    let total = ctx.sizes.posts;
    let meter = CpuMeter::start(server.pid());
    let (mut lat, wall) = drive(ctx.sizes.clients, total, {
        let workers = workers.clone();
        let posts = posts.clone();
        move |w, i| {
            let workers = workers.clone();
            let posts = posts.clone();
            async move {
                let c = workers
                    .get(w)
                    .ok_or_else(|| anyhow::anyhow!("no worker {w}"))?;
                let post = posts
                    .get(i % posts.len())
                    .ok_or_else(|| anyhow::anyhow!("no post {i}"))?;
                c.post_message(room_id, post).await?;
                Ok(())
            }
        }
    })
    .await?;
    let cpu = meter.elapsed();
    server.stop().await;

    let scenario = format!("posts ({}, C={})", ctx.kex_name(), ctx.sizes.clients);
    let rate = per_sec(total, wall);
    match ctx.transport {
        Some(t) => ctx.report.add_vs(
            &scenario,
            "posts/s",
            rate,
            "1/s",
            "hyper 200 req/s",
            t.per_sec,
        ),
        None => ctx.report.add(&scenario, "posts/s", rate, "1/s"),
    }
    add_latency(&mut ctx.report, &scenario, "latency", &mut lat);
    let floor = floor::per_request(ctx.kex, body_len, 2000)?;
    let floor_us = floor.as_secs_f64() * 1e6;
    let cpu_us = cpu.map_or(f64::NAN, |c| us_per(c, total));
    ctx.report.add_vs(
        &scenario,
        "server CPU per post",
        cpu_us,
        "µs",
        "crypto floor",
        floor_us,
    );
    if let Some(t) = ctx.transport {
        ctx.report.add_vs(
            &scenario,
            "server CPU per post",
            cpu_us,
            "µs",
            "floor + hyper 200",
            floor_us + t.cpu_us,
        );
    }
    Ok(())
}
