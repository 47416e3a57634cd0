//! The audience pipeline of one node: [`Audience::record`] puts an access in a bounded local
//! buffer (never waiting on the network, so the SSO path does not slow down); the shipper
//! turns waiting accesses into events (visitor under the day's salt) and appends them to the
//! store's stream, keeping them in the buffer until the store has them; the counter reads the
//! stream as a member of the `count` consumer group, counts and acknowledges. Redis down: the
//! buffer holds accesses (up to its capacity, then `when_full`) and the shipper retries with
//! backoff. A consumer that dies leaves its events pending; another claims them after
//! `claim_idle`. Counting is idempotent, so a redelivered event counts once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use tokio::sync::Notify;

use super::matomo::{Forwarder, MATOMO_GROUP};
use super::metrics::AudienceMetrics;
use super::visitor::{day_of, just_after_midnight, salt_expiry, visitor_id};
use super::{AudienceSettings, WhenFull};
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::domain::audience_event::{AudienceEvent, DeviceClass};
use crate::domain::counting::part_of;
use crate::domain::Decided;
use crate::store::{Store, StoreResult};
use crate::trace::Channel;

/// The consumer group that counts.
pub const COUNT_GROUP: &str = "count";

/// The longest a counter decides batches before it applies them (or a quarter of
/// `claim_idle`, if less: a window must end long before its events could be claimed).
pub const WINDOW_MAX: Duration = Duration::from_millis(2000);

/// One access, as the handler that granted it knows it.
#[derive(Debug, Clone)]
pub struct Access {
    pub at: DateTime<Utc>,
    /// The pseudonymous trace subject of the user (never sent anywhere: only the day's visitor
    /// id derived from it leaves this process).
    pub subject: String,
    pub resource: String,
    pub provider: String,
    pub uai: String,
    pub ent: String,
    pub profile: String,
    pub channel: Channel,
    pub device: DeviceClass,
    pub service: String,
    pub outil: String,
}

struct Waiting {
    seq: u64,
    id: String,
    access: Access,
}

/// The node's audience pipeline.
pub struct Audience {
    settings: AudienceSettings,
    node: String,
    buffer: Mutex<VecDeque<Waiting>>,
    next_seq: AtomicU64,
    wake: Notify,
    salts: Mutex<HashMap<NaiveDate, Vec<u8>>>,
    gateway_url: String,
    pub metrics: Arc<AudienceMetrics>,
}

fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl Audience {
    /// `gateway_url` is the public base URL (for the Matomo page URLs).
    pub fn new(
        settings: AudienceSettings,
        node: impl Into<String>,
        gateway_url: impl Into<String>,
    ) -> Self {
        Self {
            settings,
            node: node.into(),
            buffer: Mutex::new(VecDeque::new()),
            next_seq: AtomicU64::new(0),
            wake: Notify::new(),
            salts: Mutex::new(HashMap::new()),
            gateway_url: gateway_url.into(),
            metrics: Arc::new(AudienceMetrics::default()),
        }
    }

    pub fn settings(&self) -> &AudienceSettings {
        &self.settings
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accesses waiting in the local buffer.
    pub fn buffered(&self) -> usize {
        self.waiting().len()
    }

    /// Records an access. Never blocks on the store.
    pub fn record(&self, access: Access) {
        self.metrics.recorded.fetch_add(1, Ordering::Relaxed);
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        {
            let mut b = self.waiting();
            if b.len() >= self.settings.buffer_capacity {
                self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                match self.settings.when_full {
                    WhenFull::DropNewest => return,
                    WhenFull::DropOldest => {
                        b.pop_front();
                    }
                }
            }
            b.push_back(Waiting {
                seq,
                id: new_id(),
                access,
            });
        }
        self.wake.notify_one();
    }

    async fn salt(
        &self,
        store: &dyn Store,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<u8>> {
        if let Some(s) = self
            .salts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&day)
        {
            return Ok(s.clone());
        }
        let tz = self.settings.timezone;
        let s = store.day_salt(day, salt_expiry(day, tz), now).await?;
        let mut cache = self.salts.lock().unwrap_or_else(|e| e.into_inner());
        // Only the days still within their salt's life stay cached.
        cache.retain(|d, _| salt_expiry(*d, tz) > now);
        cache.insert(day, s.clone());
        Ok(s)
    }

    async fn event(
        &self,
        store: &dyn Store,
        w: &Waiting,
        now: DateTime<Utc>,
    ) -> StoreResult<AudienceEvent> {
        let a = &w.access;
        let tz = self.settings.timezone;
        let day = day_of(a.at, tz);
        let visitor = visitor_id(&self.salt(store, day, now).await?, &a.subject);
        let visitor_prev = match just_after_midnight(a.at, tz) {
            Some(prev) => Some(visitor_id(&self.salt(store, prev, now).await?, &a.subject)),
            None => None,
        };
        Ok(AudienceEvent {
            id: w.id.clone(),
            at: a.at,
            t: a.at.timestamp_millis(),
            day,
            resource: a.resource.clone(),
            provider: a.provider.clone(),
            uai: a.uai.clone(),
            ent: a.ent.clone(),
            profile: a.profile.clone(),
            channel: a.channel,
            device: a.device,
            service: a.service.clone(),
            outil: a.outil.clone(),
            visitor,
            visitor_prev,
            part: part_of(&a.uai),
        })
    }

    /// Ships up to one batch of waiting accesses to the store's stream; they leave the buffer
    /// only once the store has them. Returns how many were shipped.
    pub async fn ship_once(&self, store: &dyn Store, now: DateTime<Utc>) -> StoreResult<usize> {
        let batch: Vec<(u64, String, Access)> = self
            .waiting()
            .iter()
            .take(self.settings.batch_size)
            .map(|w| (w.seq, w.id.clone(), w.access.clone()))
            .collect();
        let Some(&(last, _, _)) = batch.last() else {
            return Ok(0);
        };
        let mut lines = Vec::with_capacity(batch.len());
        for (seq, id, access) in batch {
            let e = self.event(store, &Waiting { seq, id, access }, now).await?;
            lines.push(serde_json::to_string(&e).unwrap_or_default());
        }
        store.append_events(&lines).await?;
        let mut b = self.waiting();
        while b.front().is_some_and(|w| w.seq <= last) {
            b.pop_front();
        }
        self.metrics
            .shipped
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        Ok(lines.len())
    }

    /// Counts one window as consumer `consumer` of the counting group: reads and decides
    /// batch after batch (up to `window_events`, while full batches wait, for at most
    /// [`WINDOW_MAX`]), then applies their counts at once and acknowledges them. Returns how
    /// many events were read. A window whose apply is refused (a batch of it taken over by
    /// another consumer after `claim_idle`) is not acknowledged: its events come back, and
    /// those already counted are recognised.
    pub async fn count_once(&self, store: &dyn Store, consumer: &str) -> StoreResult<usize> {
        let s = &self.settings;
        let started = std::time::Instant::now();
        let longest = WINDOW_MAX.min(s.claim_idle / 4);
        let mut window = Decided::default();
        let mut ids: Vec<String> = Vec::new();
        loop {
            // Claims are looked for once a window.
            let claim = if ids.is_empty() {
                s.claim_idle
            } else {
                Duration::MAX
            };
            let batch = store
                .read_events(COUNT_GROUP, consumer, s.batch_size, claim)
                .await?;
            let full = batch.len() >= s.batch_size;
            let mut events = Vec::with_capacity(batch.len());
            let mut stream_ids = Vec::with_capacity(batch.len());
            for d in batch {
                match serde_json::from_str::<AudienceEvent>(&d.event) {
                    Ok(e) => {
                        events.push(e);
                        stream_ids.push(d.id.clone());
                    }
                    Err(e) => {
                        // Acknowledged with the window so that it cannot block the stream;
                        // counted in the metrics.
                        self.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(stream_id = %d.id, error = %e, "audience event in the stream is not readable: skipped");
                    }
                }
                ids.push(d.id);
            }
            if !events.is_empty() {
                store
                    .decide_events(&events, &stream_ids, s.dedup, &mut window)
                    .await?;
            }
            if !full || ids.len() >= s.window_events || started.elapsed() >= longest {
                break;
            }
        }
        if ids.is_empty() {
            return Ok(0);
        }
        if !store.apply_counts(&window, s.retention).await? {
            self.metrics.taken_over.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(events = ids.len(), "audience counting window not applied: another counter took over some of its events (this counter was slower than audience.claim_idle_seconds); they are counted there, the rest come back and are recognised");
            return Ok(ids.len());
        }
        for chunk in ids.chunks(10_000) {
            store.ack_events(COUNT_GROUP, chunk).await?;
        }
        self.metrics
            .counted
            .fetch_add(window.counted.new, Ordering::Relaxed);
        self.metrics
            .duplicates
            .fetch_add(window.counted.duplicates, Ordering::Relaxed);
        Ok(ids.len())
    }

    /// Ships every waiting access to the store (at shutdown).
    pub async fn flush(&self, store: &dyn Store, now: DateTime<Utc>) -> StoreResult<()> {
        while self.ship_once(store, now).await? > 0 {}
        Ok(())
    }

    /// Ships and counts until nothing is left (tests, the demo, shutdown).
    pub async fn drain(&self, store: &dyn Store, now: DateTime<Utc>) -> StoreResult<()> {
        while self.ship_once(store, now).await? > 0 {}
        while self.count_once(store, &self.node).await? > 0 {}
        Ok(())
    }

    /// Runs the shipper, the counter (with the stream trimming) and, when configured, the
    /// Matomo forwarder, until the process ends.
    pub async fn spawn(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        // Groups exist before any trimming, so that none misses events.
        for g in [
            Some(COUNT_GROUP),
            self.settings.matomo.as_ref().map(|_| MATOMO_GROUP),
        ]
        .into_iter()
        .flatten()
        {
            if let Err(e) = store.create_group(g).await {
                tracing::warn!(group = g, error = %e, "audience consumer group not created yet (the store does not answer); it will be on first read");
            }
        }
        let mut tasks = Vec::new();
        if let Some(m) = &self.settings.matomo {
            let f = Arc::new(Forwarder::new(
                m.clone(),
                self.gateway_url.clone(),
                self.node.clone(),
            ));
            let (store, metrics) = (store.clone(), self.metrics.clone());
            let (idle, poll) = (self.settings.claim_idle, self.settings.poll_interval);
            tasks.push(tokio::spawn(f.run(store, metrics, idle, poll)));
        }
        let shipper = {
            let (me, store, clock) = (self.clone(), store.clone(), clock.clone());
            tokio::spawn(async move { me.run_shipper(store.as_ref(), clock.as_ref()).await })
        };
        tasks.push(shipper);
        for n in 0..self.settings.counters.max(1) {
            let (me, store) = (self.clone(), store.clone());
            // A stable consumer name per task, so that a restarted node takes its own
            // pending events back at once; the first trims the stream.
            let consumer = if n == 0 {
                self.node.clone()
            } else {
                format!("{}-{n}", self.node)
            };
            tasks.push(tokio::spawn(async move {
                me.run_counter(store.as_ref(), &consumer, n == 0).await
            }));
        }
        tasks
    }

    async fn run_shipper(&self, store: &dyn Store, clock: &dyn Clock) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match self.ship_once(store, clock.now()).await {
                Ok(0) => {
                    backoff.reset();
                    let _ = tokio::time::timeout(self.settings.poll_interval, self.wake.notified())
                        .await;
                }
                Ok(_) => backoff.reset(),
                Err(e) => {
                    self.metrics.ship_failures.fetch_add(1, Ordering::Relaxed);
                    if backoff.first() {
                        tracing::warn!(error = %e, buffered = self.buffered(), "audience events cannot reach the store: they wait in the local buffer (audience.buffer_capacity) and are retried");
                    }
                    backoff.wait().await;
                }
            }
        }
    }

    async fn run_counter(&self, store: &dyn Store, consumer: &str, trims: bool) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut since_trim = 0u32;
        loop {
            match self.count_once(store, consumer).await {
                Ok(0) => {
                    backoff.reset();
                    since_trim += 1;
                    if trims && since_trim >= 50 {
                        since_trim = 0;
                        if let Err(e) = store.trim_events().await {
                            tracing::warn!(error = %e, "audience stream could not be trimmed");
                        }
                    }
                    tokio::time::sleep(self.settings.poll_interval).await;
                }
                Ok(_) => backoff.reset(),
                Err(e) => {
                    self.metrics.count_failures.fetch_add(1, Ordering::Relaxed);
                    if backoff.first() {
                        tracing::warn!(error = %e, "audience events cannot be counted now: the store does not answer; retrying");
                    }
                    backoff.wait().await;
                }
            }
        }
    }
}
