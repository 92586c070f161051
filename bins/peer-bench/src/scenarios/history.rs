//! History: reading 100 messages after a random seq in rooms of different
//! sizes. The room (unencrypted, so that filling a million messages is
//! quick) is filled and read with a bearer token, so the figure is the
//! node's store, routing and JSON work, not per-request crypto.

use std::sync::Arc;

use bytes::Bytes;
use peer_client::RoomSettings;
use peer_http::client::{ClientConfig, HttpClient, Request};
use peer_proto::api::MessageList;

use super::{Ctx, add_latency, drive, per_sec, us_per};
use crate::procstat::CpuMeter;
use crate::setup::User;

/// Messages read per request.
const PAGE: usize = 100;
/// Concurrent requests while filling the room.
const FILLERS: usize = 16;

/// Fills a room with `size` messages and measures reads of 100 after a seq.
pub(crate) async fn run(ctx: &mut Ctx, size: usize) -> anyhow::Result<()> {
    let server = ctx.node().await?;
    let url = server.url().to_owned();
    let user = User::generate(ctx.kex)?;
    let owner = user.register(&url, &ctx.unique("historian")).await?;
    let mut settings = RoomSettings::new("bench-history");
    settings.encrypted = false;
    let room = owner.create_room(settings).await?;
    let token = owner.issue_token(Some(3600)).await?.token;
    let auth = format!("Bearer {token}");
    let mut config = ClientConfig::default();
    config.pool_max_idle_per_host = FILLERS;
    let http = HttpClient::new(config);
    let messages: http::Uri = format!("{url}/api/v1/rooms/{}/messages", room.id).parse()?;

    let body = Bytes::from(serde_json::to_vec(&serde_json::json!({
        "text": "a message of the history benchmark, about as long as a chat line"
    }))?);
    let fill_start = std::time::Instant::now();
    drive(FILLERS, size, {
        let http = http.clone();
        let auth = auth.clone();
        move |_, _| {
            let req = Request::new(http::Method::POST, messages.clone())
                .header("authorization", auth.clone())
                .header("content-type", "application/json")
                .body(body.clone());
            let http = http.clone();
            async move {
                let resp = http.send(req).await?;
                anyhow::ensure!(resp.status == 201, "post answered {}", resp.status);
                Ok(())
            }
        }
    })
    .await?;
    let fill = fill_start.elapsed();

    let reads = ctx.sizes.history_reads;
    let room_id = room.id;
    let base = Arc::new(url);
    let meter = CpuMeter::start(server.pid());
    let (mut lat, wall) = drive(1, reads, {
        let http = http.clone();
        move |_, i| {
            // Spread the reads over the whole room, deterministically.
            let span = size.saturating_sub(PAGE).max(1) as u64;
            let after = (i as u64).wrapping_mul(2_654_435_761) % span;
            let uri = format!("{base}/api/v1/rooms/{room_id}/messages?after={after}&limit={PAGE}");
            let http = http.clone();
            let auth = auth.clone();
            async move {
                let req =
                    Request::new(http::Method::GET, uri.parse()?).header("authorization", auth);
                let resp = http.send(req).await?;
                anyhow::ensure!(resp.status == 200, "read answered {}", resp.status);
                let list: MessageList = serde_json::from_slice(&resp.body)?;
                let want = PAGE.min(size);
                anyhow::ensure!(
                    list.messages.len() == want,
                    "read {} messages after {after}, not {want}",
                    list.messages.len()
                );
                Ok(())
            }
        }
    })
    .await?;
    let cpu = meter.elapsed();
    server.stop().await;

    let scenario = format!("history ({size} messages)");
    ctx.report.add(
        &scenario,
        "fill: posts/s (bearer)",
        per_sec(size, fill),
        "1/s",
    );
    ctx.report.add(
        &scenario,
        "reads of 100/s (1 client)",
        per_sec(reads, wall),
        "1/s",
    );
    add_latency(&mut ctx.report, &scenario, "read", &mut lat);
    ctx.report.add(
        &scenario,
        "server CPU per read",
        cpu.map_or(f64::NAN, |c| us_per(c, reads)),
        "µs",
    );
    Ok(())
}
