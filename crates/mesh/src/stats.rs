//! Counters of the mesh, rendered for `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the mesh.
#[derive(Debug, Default)]
pub struct MeshStats {
    /// Pushes a peer took.
    pub pushes: AtomicU64,
    /// Pushes that failed (each retry counts).
    pub push_failures: AtomicU64,
    /// Events pushed.
    pub events_pushed: AtomicU64,
    /// Pushers cut off for falling behind (their queued events were lost).
    pub pushers_cut_off: AtomicU64,
    /// Client requests relayed to the main peer.
    pub relayed: AtomicU64,
    /// Relayed requests that found the main peer unreachable.
    pub relay_failures: AtomicU64,
    /// Event streams served from pushes, after the main peer checked them.
    pub relayed_streams: AtomicU64,
    /// Times the main peer was lost.
    pub main_lost: AtomicU64,
    /// Times this node started following a main peer.
    pub follows: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl MeshStats {
    /// Prometheus text for these counters.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let rows: [(&str, &str, &AtomicU64); 9] = [
            (
                "peergroup_mesh_pushes_total",
                "pushes a peer took",
                &self.pushes,
            ),
            (
                "peergroup_mesh_push_failures_total",
                "pushes that failed",
                &self.push_failures,
            ),
            (
                "peergroup_mesh_events_pushed_total",
                "events pushed to peers",
                &self.events_pushed,
            ),
            (
                "peergroup_mesh_pushers_cut_off_total",
                "pushers cut off for falling behind",
                &self.pushers_cut_off,
            ),
            (
                "peergroup_mesh_relayed_total",
                "client requests relayed to the main peer",
                &self.relayed,
            ),
            (
                "peergroup_mesh_relay_failures_total",
                "relayed requests that found the main peer unreachable",
                &self.relay_failures,
            ),
            (
                "peergroup_mesh_relayed_streams_total",
                "event streams served from pushes",
                &self.relayed_streams,
            ),
            (
                "peergroup_mesh_main_lost_total",
                "times the main peer was lost",
                &self.main_lost,
            ),
            (
                "peergroup_mesh_follows_total",
                "times this node started following",
                &self.follows,
            ),
        ];
        for (name, help, value) in rows {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}
