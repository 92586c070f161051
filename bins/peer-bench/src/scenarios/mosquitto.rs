//! The fan-out baseline: the same shape as `fanout` (S subscribers, P
//! publishers, the same payload size and count, one publish in flight per
//! publisher) through a mosquitto broker, what a user might pick instead.
//!
//! The broker runs with a config of this run's own: one listener on
//! 127.0.0.1 with a free port, no persistence, anonymous clients, and
//! `TCP_NODELAY` on its sockets and the clients' (as peerd and peer-client
//! have). Publishers
//! publish at QoS 1 and wait for the broker's PUBACK before the next
//! publish (as our posters wait for the node's answer); subscribers
//! subscribe at QoS 0, so events reach them without per-message acks (as
//! our event streams). The payload carries the publish's index, which
//! gives the latency from its send to its arrival on each subscriber.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use super::{Ctx, deliveries, per_sec};

/// How long subscribers may lag behind the last publish (as in `fanout`).
const DRAIN_BOUND: Duration = Duration::from_secs(30);
/// How long the broker may take to accept connections.
const START_BOUND: Duration = Duration::from_secs(20);
/// How long one connect, subscribe or publish acknowledgement may take.
const STEP_BOUND: Duration = Duration::from_secs(30);
/// The topic of the run.
const TOPIC: &str = "peer-bench/fanout";

/// Runs the baseline for `subscribers`, and puts its figures next to the
/// fan-out's own rows of the same size.
pub(crate) async fn run(ctx: &mut Ctx, mosquitto: &Path, subscribers: usize) -> anyhow::Result<()> {
    let broker = Broker::start(mosquitto).await?;
    let port = broker.port;
    let posters = ctx.sizes.posters.max(1);
    let total_posts = posters * ctx.sizes.fanout_posts;
    let payload_len = ctx.fanout_payload.unwrap_or(512).max(8);

    let received: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let complete = Arc::new(AtomicUsize::new(0));
    let mut readers = tokio::task::JoinSet::new();
    let mut opened = 0;
    while opened < subscribers {
        let batch = (subscribers - opened).min(32);
        let mut set = tokio::task::JoinSet::new();
        for i in opened..opened + batch {
            set.spawn(async move { subscriber(port, i).await });
        }
        while let Some(r) = set.join_next().await {
            let (client, mut events) = r??;
            let received = received.clone();
            let complete = complete.clone();
            readers.spawn(async move {
                let mut mine = 0;
                while let Ok(ev) = events.poll().await {
                    if let Event::Incoming(Packet::Publish(p)) = ev {
                        let at = Instant::now();
                        let index = p
                            .payload
                            .get(..8)
                            .and_then(|b| <[u8; 8]>::try_from(b).ok())
                            .map(u64::from_be_bytes);
                        if let Some(index) = index {
                            received
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((index, at));
                        }
                        mine += 1;
                        if mine == total_posts {
                            complete.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                // Held until here: dropping the client ends the connection.
                drop(client);
            });
        }
        opened += batch;
    }

    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total_posts]));
    let start = Instant::now();
    let mut pubs = tokio::task::JoinSet::new();
    for w in 0..posters {
        let sent = sent.clone();
        pubs.spawn(
            async move { publisher(port, w, posters, total_posts, payload_len, sent).await },
        );
    }
    while let Some(r) = pubs.join_next().await {
        r??;
    }
    let _ = tokio::time::timeout(DRAIN_BOUND, async {
        while readers.join_next().await.is_some() {}
    })
    .await;
    readers.abort_all();
    broker.stop().await;

    let received = std::mem::take(&mut *received.lock().unwrap_or_else(|e| e.into_inner()));
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner());
    let (mut lat, last) = deliveries(&received, start, |index| {
        usize::try_from(index)
            .ok()
            .and_then(|i| sent.get(i).copied().flatten())
    });
    let ours = format!("fan-out (S={subscribers}, P={posters})");
    let scenario = format!("mosquitto fan-out (S={subscribers}, P={posters})");
    let rate = per_sec(received.len(), last.saturating_duration_since(start));
    ctx.report.add(&scenario, "events delivered/s", rate, "1/s");
    ctx.report
        .compare(&ours, "events delivered/s", "mosquitto", rate);
    if let Some(p) = lat.percentiles() {
        for (name, v) in [("p50", p.p50_us), ("p99", p.p99_us), ("p999", p.p999_us)] {
            let metric = format!("post-to-event {name}");
            ctx.report.add(&scenario, &metric, v, "µs");
            ctx.report.compare(&ours, &metric, "mosquitto", v);
        }
    }
    ctx.report
        .add(&scenario, "payload", payload_len as f64, "bytes");
    let expected = subscribers * total_posts;
    ctx.report.add(
        &scenario,
        "events delivered",
        received.len() as f64 / expected.max(1) as f64 * 100.0,
        "%",
    );
    let done = complete.load(Ordering::Relaxed);
    if done < subscribers {
        ctx.report.note(format!(
            "{scenario}: {done} of {subscribers} subscribers saw every publish"
        ));
    }
    Ok(())
}

/// A connected subscriber whose subscription the broker acknowledged.
async fn subscriber(port: u16, i: usize) -> anyhow::Result<(AsyncClient, EventLoop)> {
    let (client, mut events) = connect(port, &format!("peer-bench-sub-{i}"));
    client.subscribe(TOPIC, QoS::AtMostOnce).await?;
    tokio::time::timeout(STEP_BOUND, async {
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await? {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .context("mosquitto did not acknowledge a subscription")??;
    Ok((client, events))
}

/// Publisher `w` of `workers`: publishes its share of `total` payloads,
/// one at a time, each after the previous one's PUBACK.
async fn publisher(
    port: u16,
    w: usize,
    workers: usize,
    total: usize,
    payload_len: usize,
    sent: Arc<Mutex<Vec<Option<Instant>>>>,
) -> anyhow::Result<()> {
    let (client, mut events) = connect(port, &format!("peer-bench-pub-{w}"));
    let mut i = w;
    while i < total {
        let mut payload = vec![b'x'; payload_len];
        let index = (i as u64).to_be_bytes();
        if let Some(head) = payload.get_mut(..8) {
            head.copy_from_slice(&index);
        }
        let t = Instant::now();
        client
            .publish(TOPIC, QoS::AtLeastOnce, false, payload)
            .await?;
        if let Some(slot) = sent.lock().unwrap_or_else(|e| e.into_inner()).get_mut(i) {
            *slot = Some(t);
        }
        tokio::time::timeout(STEP_BOUND, async {
            loop {
                if let Event::Incoming(Packet::PubAck(_)) = events.poll().await? {
                    return anyhow::Ok(());
                }
            }
        })
        .await
        .context("mosquitto did not acknowledge a publish")??;
        i += workers;
    }
    let _ = client.disconnect().await;
    Ok(())
}

fn connect(port: u16, id: &str) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_clean_session(true);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 64);
    // As peer-client's and peerd's sockets: no Nagle delay.
    let mut network = events.network_options();
    network.set_tcp_nodelay(true);
    events.set_network_options(network);
    (client, events)
}

/// A mosquitto broker of this run, under `peer-bench guard` (so that it
/// ends with the run, even when the run is killed).
struct Broker {
    server: crate::server::Server,
    port: u16,
    _dir: ConfigDir,
}

impl Broker {
    async fn start(mosquitto: &Path) -> anyhow::Result<Broker> {
        let port = free_port()?;
        let dir = ConfigDir::new()?;
        let config = dir.0.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "# peer-bench's fan-out baseline: loopback only, nothing on disk.\n\
                 listener {port} 127.0.0.1\n\
                 set_tcp_nodelay true\n\
                 allow_anonymous true\n\
                 persistence false\n\
                 max_queued_messages 1000000\n\
                 max_inflight_messages 0\n\
                 log_dest stderr\n\
                 log_type error\n"
            ),
        )
        .context("writing the mosquitto config")?;
        let me = std::env::current_exe().context("locating peer-bench")?;
        let args = [
            "guard".as_ref(),
            mosquitto.as_os_str(),
            "-c".as_ref(),
            config.as_os_str(),
        ];
        let server = crate::server::Server::start_quiet(&me, &args).await?;
        let deadline = Instant::now() + START_BOUND;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                server.stop().await;
                bail!("mosquitto did not listen on 127.0.0.1:{port} within {START_BOUND:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Broker {
            server,
            port,
            _dir: dir,
        })
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

/// A free TCP port on 127.0.0.1 (bound by the OS, then released for the
/// broker; nothing else of this run binds in between).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// A directory of this run for the broker's config, removed on drop.
struct ConfigDir(std::path::PathBuf);

impl ConfigDir {
    fn new() -> anyhow::Result<ConfigDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "peer-bench-mosquitto-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).context("creating the mosquitto config directory")?;
        Ok(ConfigDir(dir))
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
