//! The outbox: deliveries that must outlive the node that queued them (the back-channel
//! logouts of `app::outbox`). Each is a value under an id, with the time from which any node
//! may claim it. A claim holds the delivery for a lease: nobody else claims it before the lease
//! ends, and a holder that dies gives it back when it does. The holder names its lease (the
//! time it holds it until) to move or remove the delivery, so a node whose lease ended and was
//! taken over changes nothing. Times are the callers' clock, to the millisecond.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;

/// A delivery claimed from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: String,
    pub value: String,
    /// Until when the claimer holds it: what it names to move it (`outbox_retry`) or remove
    /// it (`outbox_done`).
    pub held: DateTime<Utc>,
}

/// The outbox of deliveries (memory and Redis; Redis keys under `{outbox}`).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues `value` under a new `id`, held by the caller until `held` (nobody claims it
    /// before), kept at most `ttl` from `now` whatever becomes of it.
    async fn outbox_put(
        &self,
        id: &str,
        value: &str,
        held: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<()>;
    /// Claims up to `max` deliveries free at `now` (held by nobody, or whose lease ended),
    /// those free the longest first, each held until `now + lease`. Of nodes claiming at once,
    /// one gets each delivery.
    async fn outbox_claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        max: usize,
    ) -> StoreResult<Vec<Claimed>>;
    /// If the caller still holds `id` until `held`: replaces its value and holds it until
    /// `until` (a retry's due time plus a lease, or a renewed lease). `false` when the
    /// delivery is no longer the caller's (its lease ended and another node claimed it) or
    /// is gone.
    async fn outbox_retry(
        &self,
        id: &str,
        held: DateTime<Utc>,
        value: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Removes `id` (delivered, or given up) if the caller still holds it until `held`;
    /// `false` otherwise.
    async fn outbox_done(&self, id: &str, held: DateTime<Utc>) -> StoreResult<bool>;
}

/// A time as the outbox keeps it: milliseconds since the epoch.
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The same time, to the millisecond, as claims answer it.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `now + d` in milliseconds.
pub fn after(now: DateTime<Utc>, d: Duration) -> i64 {
    millis(now).saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
