//! Handshakes: C concurrent clients of one registered user each make new
//! sessions back to back.

use std::sync::Arc;

use super::{Ctx, add_latency, drive, per_sec, us_per};
use crate::floor;
use crate::procstat::CpuMeter;
use crate::setup::User;

/// Measures handshakes/s, latency and server CPU per handshake.
pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let server = ctx.node().await?;
    let url = server.url().to_owned();
    let user = User::generate(ctx.kex)?;
    user.register(&url, &ctx.unique("handshaker")).await?;
    let mut clients = Vec::with_capacity(ctx.sizes.clients);
    for _ in 0..ctx.sizes.clients {
        clients.push(user.client(&url).await?);
    }
    let clients = Arc::new(clients);
    let total = ctx.sizes.handshakes;
    let meter = CpuMeter::start(server.pid());
    let (mut lat, wall) = drive(ctx.sizes.clients, total, {
        let clients = clients.clone();
        move |w, _| {
            let clients = clients.clone();
            async move {
                let c = clients
                    .get(w)
                    .ok_or_else(|| anyhow::anyhow!("no client {w}"))?;
                c.handshake().await?;
                Ok(())
            }
        }
    })
    .await?;
    let cpu = meter.elapsed();
    server.stop().await;

    let scenario = format!("handshakes ({}, C={})", ctx.kex_name(), ctx.sizes.clients);
    ctx.report
        .add(&scenario, "handshakes/s", per_sec(total, wall), "1/s");
    add_latency(&mut ctx.report, &scenario, "latency", &mut lat);
    let floor_us = floor::handshake(ctx.kex, 200)?.as_secs_f64() * 1e6;
    ctx.report.add_vs(
        &scenario,
        "server CPU per handshake",
        cpu.map_or(f64::NAN, |c| us_per(c, total)),
        "µs",
        "crypto floor",
        floor_us,
    );
    Ok(())
}
