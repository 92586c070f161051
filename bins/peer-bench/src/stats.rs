//! Latency samples and their percentiles.

use std::time::Duration;

/// Latency samples of one measurement.
#[derive(Debug, Default, Clone)]
pub(crate) struct Latencies {
    samples: Vec<Duration>,
}

/// The summary printed for a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub(crate) struct Percentiles {
    /// Samples.
    pub(crate) count: usize,
    /// Median, microseconds.
    pub(crate) p50_us: f64,
    /// 99th percentile, microseconds.
    pub(crate) p99_us: f64,
    /// 99.9th percentile, microseconds.
    pub(crate) p999_us: f64,
}

impl Latencies {
    /// Adds one sample.
    pub(crate) fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    /// Adds all samples of `other`.
    pub(crate) fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    /// p50, p99 and p999 (nearest rank), or `None` without samples.
    pub(crate) fn percentiles(&mut self) -> Option<Percentiles> {
        if self.samples.is_empty() {
            return None;
        }
        self.samples.sort_unstable();
        let n = self.samples.len();
        let rank = |p: f64| {
            // Nearest rank: the smallest sample with at least p of all at or
            // below it.
            let r = (p * n as f64).ceil() as usize;
            let i = r.clamp(1, n) - 1;
            self.samples
                .get(i)
                .map_or(0.0, |d| d.as_nanos() as f64 / 1000.0)
        };
        Some(Percentiles {
            count: n,
            p50_us: rank(0.50),
            p99_us: rank(0.99),
            p999_us: rank(0.999),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        assert!(l.percentiles().is_none());
        for us in (1..=1000).rev() {
            l.push(Duration::from_micros(us));
        }
        let p = l.percentiles().unwrap();
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50_us, 500.0);
        assert_eq!(p.p99_us, 990.0);
        assert_eq!(p.p999_us, 999.0);

        let mut one = Latencies::default();
        one.push(Duration::from_micros(7));
        let p = one.percentiles().unwrap();
        assert_eq!((p.p50_us, p.p99_us, p.p999_us), (7.0, 7.0, 7.0));
    }
}
