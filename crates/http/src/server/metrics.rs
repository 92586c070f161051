//! `GET /metrics`: counters kept by the server, rendered by hand in the
//! Prometheus text format (0.0.4).
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `peergroup_http_requests_total` | counter | `route` (pattern), `method`, `status` |
//! | `peergroup_http_request_duration_seconds` | histogram | `route` |
//! | `peergroup_http_connections` | gauge | |
//! | `peergroup_store_errors_total` | counter | (responses with `store_unavailable`) |
//! | `peergroup_sessions` | gauge | |
//! | `peergroup_event_subscribers` | gauge | |
//! | `peergroup_event_subscribers_cut_off_total` | counter | |
//!
//! Durations run from the request head to the response head (an event
//! stream counts until its head is sent).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use http::Method;
use peer_node::NodeStats;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label of requests that matched no route.
pub(crate) const UNMATCHED: &str = "unmatched";

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    connections: AtomicI64,
    store_errors: AtomicU64,
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn record(&self, route: &'static str, method: &Method, status: u16, took: Duration) {
        let method = method_label(method);
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route, method, status))
            .or_insert(0) += 1;
        let secs = took.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = latency.entry(route).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound
                && let Some(c) = h.counts.get_mut(i)
            {
                *c += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts a response with `store_unavailable`.
    pub(crate) fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection opened (`+1`) or closed (`-1`).
    pub(crate) fn connection(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }

    /// The text exposition, with the node's counters.
    pub(crate) fn render(&self, node: &NodeStats) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP peergroup_http_requests_total HTTP requests answered, by route pattern, method and status.\n\
             # TYPE peergroup_http_requests_total counter\n",
        );
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "peergroup_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP peergroup_http_request_duration_seconds Time from request head to response head.\n\
             # TYPE peergroup_http_request_duration_seconds histogram\n",
        );
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let route = escape(route);
            for (bound, c) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "peergroup_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "peergroup_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 peergroup_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 peergroup_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let gauges: [(&str, &str, &str, String); 5] = [
            (
                "peergroup_http_connections",
                "gauge",
                "Open HTTP connections.",
                self.connections.load(Ordering::Relaxed).max(0).to_string(),
            ),
            (
                "peergroup_store_errors_total",
                "counter",
                "Responses with store_unavailable.",
                self.store_errors.load(Ordering::Relaxed).to_string(),
            ),
            (
                "peergroup_sessions",
                "gauge",
                "Live sessions.",
                node.sessions.to_string(),
            ),
            (
                "peergroup_event_subscribers",
                "gauge",
                "Live event subscribers.",
                node.subscribers.to_string(),
            ),
            (
                "peergroup_event_subscribers_cut_off_total",
                "counter",
                "Event subscribers cut off for reading too slowly.",
                node.cut_off_subscribers.to_string(),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        }
        out
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record("/api/v1/rooms", &Method::GET, 200, Duration::from_millis(3));
        m.record(
            "/api/v1/rooms",
            &Method::GET,
            200,
            Duration::from_millis(300),
        );
        m.record(
            UNMATCHED,
            &Method::from_bytes(b"BREW").unwrap(),
            404,
            Duration::ZERO,
        );
        m.store_error();
        let text = m.render(&NodeStats {
            sessions: 2,
            subscribers: 1,
            cut_off_subscribers: 3,
            next_event_id: 9,
        });
        assert!(text.contains(
            "peergroup_http_requests_total{route=\"/api/v1/rooms\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains("route=\"unmatched\",method=\"OTHER\",status=\"404\"} 1"));
        assert!(text.contains(
            "peergroup_http_request_duration_seconds_bucket{route=\"/api/v1/rooms\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "peergroup_http_request_duration_seconds_bucket{route=\"/api/v1/rooms\",le=\"0.5\"} 2"
        ));
        assert!(
            text.contains(
                "peergroup_http_request_duration_seconds_count{route=\"/api/v1/rooms\"} 2"
            )
        );
        assert!(text.contains("peergroup_store_errors_total 1"));
        assert!(text.contains("peergroup_sessions 2"));
        assert!(text.contains("peergroup_event_subscribers_cut_off_total 3"));
    }
}
