//! How long the gateway waits for its store, and how soon it tries again: the validated
//! `[store]` timings (`config` reads them; `store::redis` applies them; `http::ops` bounds
//! `/health/ready` with its own).
//!
//! A store that does not answer must cost a request its deadline, never the client's patience:
//! every round trip to Redis is cut at a deadline and answered as
//! [`StoreError::Unavailable`](super::StoreError::Unavailable), and a lost connection is
//! tried again at once, then at short, capped intervals.

use std::time::Duration;

/// The store's timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSettings {
    /// Longest one round trip to the store may take on the request path
    /// (`call_deadline_ms`, default 500).
    pub call_deadline: Duration,
    /// Longest one round trip may take for bulk work: directory imports, reports, the
    /// audience counting, exports and imports of the store (`bulk_deadline_seconds`, 120).
    pub bulk_deadline: Duration,
    /// Longest `/health/ready` waits for the store before answering 503
    /// (`health_deadline_ms`, default 500).
    pub health_deadline: Duration,
    /// Longest wait between two reconnection attempts while the store is unreachable; the
    /// first comes at once, the next ones double from 25 ms up to this
    /// (`reconnect_max_delay_ms`, default 250).
    pub reconnect_max_delay: Duration,
    /// Replicas that must have a write of a durable family (directory, subscriptions,
    /// assignments, catalogue) before it is acknowledged: `WAIT` after the write, and a
    /// failure (503) when fewer confirm it within `durable_wait` (`durable_replicas`, default
    /// 0: acknowledged once the primary has it).
    pub durable_replicas: u32,
    /// How long a durable write waits for its replicas (`durable_wait_ms`, default 200).
    pub durable_wait: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            call_deadline: Duration::from_millis(500),
            bulk_deadline: Duration::from_secs(120),
            health_deadline: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_millis(250),
            durable_replicas: 0,
            durable_wait: Duration::from_millis(200),
        }
    }
}

impl StoreSettings {
    /// How long a connection attempt may take: a connection not made by then is tried again.
    pub fn connect_timeout(&self) -> Duration {
        self.call_deadline.max(Duration::from_secs(1))
    }
}
