//! What the store tells `/metrics` about its own state: whether it answers, how often it came
//! back, how long its round trips take and how many hit their deadline. Kept by
//! `store::redis`; read by `http::ops`. Counters only, no keys or values.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the round-trip latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// The store's counters, shared by every clone of a store.
#[derive(Debug)]
pub struct StoreMetrics {
    up: AtomicBool,
    reconnects: AtomicU64,
    failures: AtomicU64,
    deadline_hits: AtomicU64,
    calls: AtomicU64,
    micros: AtomicU64,
    /// Round trips per bucket of [`LATENCY_BUCKETS`] (not cumulative), the last for longer ones.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            up: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            deadline_hits: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            micros: AtomicU64::new(0),
            buckets: Default::default(),
        }
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreMetricsSnapshot {
    pub up: bool,
    /// Times the store answered again after it had stopped answering.
    pub reconnects: u64,
    /// Round trips that failed because the store could not be reached.
    pub failures: u64,
    /// Round trips cut at their deadline.
    pub deadline_hits: u64,
    /// Round trips, whatever their outcome.
    pub calls: u64,
    /// Their total duration, in seconds.
    pub seconds: f64,
    /// Cumulative counts per bound of [`LATENCY_BUCKETS`], then the total (`+Inf`).
    pub cumulative: Vec<u64>,
}

impl StoreMetrics {
    /// One round trip and how long it took.
    pub fn observe(&self, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let secs = took.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn deadline_hit(&self) {
        self.deadline_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The store could not be reached; `true` when it was answering until now.
    pub fn mark_down(&self) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.up.swap(false, Ordering::Relaxed)
    }

    /// The store answered; `true` when it had stopped answering (a reconnection).
    pub fn mark_up(&self) -> bool {
        let was_up = self.up.swap(true, Ordering::Relaxed);
        if !was_up {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        !was_up
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> StoreMetricsSnapshot {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        StoreMetricsSnapshot {
            up: self.is_up(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            deadline_hits: self.deadline_hits.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            seconds: self.micros.load(Ordering::Relaxed) as f64 / 1e6,
            cumulative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_reconnections_are_counted_once() {
        let m = StoreMetrics::default();
        m.observe(Duration::from_micros(500));
        m.observe(Duration::from_millis(30));
        m.observe(Duration::from_secs(3));
        let s = m.snapshot();
        assert_eq!(s.calls, 3);
        assert_eq!(s.cumulative.len(), LATENCY_BUCKETS.len() + 1);
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[5], 2, "≤ 50 ms");
        assert_eq!(s.cumulative[9], 2, "≤ 1 s");
        assert_eq!(s.cumulative[10], 3, "+Inf");
        assert!(m.mark_down());
        assert!(!m.mark_down());
        assert!(!m.is_up());
        assert!(m.mark_up());
        assert!(!m.mark_up());
        let s = m.snapshot();
        assert_eq!((s.up, s.reconnects, s.failures), (true, 1, 2));
    }
}
