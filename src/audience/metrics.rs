//! The audience pipeline's counters (recorded, shipped, counted, forwarded to Matomo...),
//! shared by the pipeline and the Matomo forwarder and exposed at `/metrics`.

use std::sync::atomic::AtomicU64;

/// Counters of the pipeline, exposed at `/metrics`.
#[derive(Debug, Default)]
pub struct AudienceMetrics {
    pub recorded: AtomicU64,
    pub dropped: AtomicU64,
    pub shipped: AtomicU64,
    pub ship_failures: AtomicU64,
    pub counted: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub count_failures: AtomicU64,
    /// Counting windows not applied because another counter took some of their events over.
    pub taken_over: AtomicU64,
    pub matomo_sent: AtomicU64,
    pub matomo_failures: AtomicU64,
}
