//! The transport ceiling: the same request shape as the posts scenario
//! (same concurrency, same body size, the same pooled HTTP client), sent
//! to the minimal hyper server of `baseline.rs`.

use std::sync::Arc;

use bytes::Bytes;
use peer_http::client::{HttpClient, Request};

use super::{Ctx, add_latency, drive, per_sec, us_per};
use crate::procstat::CpuMeter;
use crate::server::Server;

/// What the ceiling run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ceiling {
    /// Requests per second.
    pub(crate) per_sec: f64,
    /// Server CPU microseconds per request.
    pub(crate) cpu_us: f64,
}

/// Measures the transport ceiling with bodies of `body_len` bytes.
pub(crate) async fn run(ctx: &mut Ctx, body_len: usize) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let server = Server::start(&me, &["baseline-server"]).await?;
    let uri: http::Uri = format!("{}/api/v1/rooms/bench/messages", server.url()).parse()?;
    let body = Bytes::from(vec![b'x'; body_len]);
    let clients: Arc<Vec<HttpClient>> = Arc::new(
        (0..ctx.sizes.clients)
            .map(|_| HttpClient::default())
            .collect(),
    );
    // At least 20000 requests: the ceiling is fast, and a short run reads
    // little CPU time.
    let total = ctx.sizes.posts.max(20_000);
    // Warm the connections.
    for c in clients.iter() {
        c.send(Request::new(http::Method::POST, uri.clone()).body(body.clone()))
            .await?;
    }
    let meter = CpuMeter::start(server.pid());
    let (mut lat, wall) = drive(ctx.sizes.clients, total, {
        let clients = clients.clone();
        move |w, _| {
            let clients = clients.clone();
            let req = Request::new(http::Method::POST, uri.clone())
                .header("content-type", "application/json")
                .body(body.clone());
            async move {
                let c = clients
                    .get(w)
                    .ok_or_else(|| anyhow::anyhow!("no client {w}"))?;
                let resp = c.send(req).await?;
                anyhow::ensure!(resp.status == 200, "baseline answered {}", resp.status);
                Ok(())
            }
        }
    })
    .await?;
    let cpu = meter.elapsed();
    server.stop().await;

    let scenario = "transport (hyper 200)";
    let rate = per_sec(total, wall);
    ctx.report.add(scenario, "requests/s", rate, "1/s");
    add_latency(&mut ctx.report, scenario, "latency", &mut lat);
    let cpu_us = cpu.map_or(f64::NAN, |c| us_per(c, total));
    ctx.report
        .add(scenario, "server CPU per request", cpu_us, "µs");
    ctx.transport = Some(Ceiling {
        per_sec: rate,
        cpu_us,
    });
    Ok(())
}
