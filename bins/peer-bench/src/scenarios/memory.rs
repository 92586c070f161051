//! Memory: peerd's resident set idle, and what each session and each event
//! stream adds to it.

use std::time::Duration;

use super::Ctx;
use crate::procstat::rss_bytes;
use crate::setup::{User, sessions};

/// Settling time before each reading (allocator and lazy statics).
const SETTLE: Duration = Duration::from_millis(500);

/// Measures idle RSS, RSS per session and RSS per event stream.
pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let server = ctx.node().await?;
    let url = server.url().to_owned();
    let Some(pid) = server.pid() else {
        ctx.report
            .note("memory: skipped, the node's process id is unknown (give --pid)");
        return Ok(());
    };
    tokio::time::sleep(SETTLE).await;
    let idle = rss(pid)?;

    let user = User::generate(ctx.kex)?;
    let client = user.register(&url, &ctx.unique("memory")).await?;
    tokio::time::sleep(SETTLE).await;
    let before_sessions = rss(pid)?;
    let n = ctx.sizes.memory_sessions;
    let held = sessions(&user, &url, n, 8).await?;
    tokio::time::sleep(SETTLE).await;
    let after_sessions = rss(pid)?;

    let m = ctx.sizes.memory_streams;
    let mut streams = Vec::with_capacity(m);
    for _ in 0..m {
        streams.push(client.events(None).await?);
    }
    tokio::time::sleep(SETTLE).await;
    let after_streams = rss(pid)?;
    drop(streams);
    drop(held);
    server.stop().await;

    let scenario = "memory";
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let kib_per = |a: u64, b: u64, n: usize| b.saturating_sub(a) as f64 / 1024.0 / n.max(1) as f64;
    ctx.report.add(scenario, "peerd RSS idle", mib(idle), "MiB");
    ctx.report.add(
        scenario,
        &format!("RSS per session ({n} sessions)"),
        kib_per(before_sessions, after_sessions, n),
        "KiB",
    );
    ctx.report.add(
        scenario,
        &format!("RSS per event stream ({m} streams)"),
        kib_per(after_sessions, after_streams, m),
        "KiB",
    );
    Ok(())
}

fn rss(pid: u32) -> anyhow::Result<u64> {
    rss_bytes(pid).ok_or_else(|| anyhow::anyhow!("cannot read the RSS of process {pid}"))
}
