//! Audience counting: one event per access handed to a resource, a pipeline that loses
//! nothing, counts per day and dimension, and the reports built on them.
//!
//! - The event and its dimensions, the counting rules (idempotent, COUNTER double-click filter)
//!   and the layout of the counts live beneath both this module and the stores, in
//!   `domain::audience_event` and `domain::counting`; their types are re-exported here.
//! - [`visitor`]: daily salts and visitor ids (nobody can be followed across days).
//! - [`pipeline`]: the bounded local buffer, the shipper to the store's stream, the consumer
//!   that counts (any node; a crashed consumer's events are claimed by another).
//! - [`report`]: scoped reports over a date range (JSON, CSV), small-cell suppression;
//!   [`sushi`]: the COUNTER_SUSHI-style monthly report; [`matomo`]: the optional forwarder.
//! - [`metrics`]: the counters of the pipeline and the forwarder (arrows: `pipeline` →
//!   `matomo` → `metrics`).
//!
//! Time is a parameter everywhere except in the pipeline's own pacing (retries, polling).

pub mod counter51;
pub mod matomo;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod sushi;
pub mod visitor;

use std::time::Duration;

pub use crate::domain::{AudienceEvent, Counted, DeviceClass, Tally};
pub use metrics::AudienceMetrics;
pub use pipeline::{Access, Audience};

/// What the local buffer does when it is full (Redis unreachable for long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop the oldest waiting event to make room (the default: recent figures matter most).
    DropOldest,
    /// Refuse the new event.
    DropNewest,
}

/// The Matomo forwarder's settings.
#[derive(Debug, Clone)]
pub struct MatomoSettings {
    /// The tracking endpoint, e.g. `https://stats.example.fr/matomo.php`.
    pub url: url::Url,
    pub site_id: u32,
    pub token_auth: crate::secret::Secret,
    pub batch_size: usize,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// DNMA dimension name (`SERVICE`, `TYPE`, `OUTIL`, `UAI`, `PROJET`, `PROFIL`, `CANAL`,
    /// `TERMINAL`) → Matomo custom dimension index.
    pub dimensions: Vec<(String, u32)>,
}

/// The audience settings (`[audience]`).
#[derive(Debug, Clone)]
pub struct AudienceSettings {
    /// Days and months are counted in this time zone.
    pub timezone: chrono_tz::Tz,
    pub buffer_capacity: usize,
    pub when_full: WhenFull,
    pub batch_size: usize,
    /// Counting tasks per node, each a consumer of the counting group (so that batches are
    /// counted side by side).
    pub counters: usize,
    /// Events a counter decides (batch after batch) before it applies their counts at once
    /// and acknowledges them; a window also ends when the stream has no full batch left, or
    /// after [`WINDOW_MAX`](crate::audience::pipeline::WINDOW_MAX).
    pub window_events: usize,
    /// A consumer's events still unacknowledged after this long are taken over by another.
    pub claim_idle: Duration,
    /// How long an event id is remembered, so that a redelivery counts once.
    pub dedup: Duration,
    /// How long counts are kept.
    pub retention: Duration,
    /// Below the ministry, cells with fewer distinct visitors than this are suppressed.
    pub min_visitors: u64,
    pub poll_interval: Duration,
    pub matomo: Option<MatomoSettings>,
}

impl Default for AudienceSettings {
    fn default() -> Self {
        Self {
            timezone: chrono_tz::Europe::Paris,
            buffer_capacity: 100_000,
            when_full: WhenFull::DropOldest,
            batch_size: 2000,
            counters: 2,
            window_events: 50_000,
            claim_idle: Duration::from_secs(60),
            dedup: Duration::from_secs(2 * 24 * 3600),
            retention: Duration::from_secs(800 * 24 * 3600),
            min_visitors: 5,
            poll_interval: Duration::from_millis(200),
            matomo: None,
        }
    }
}
