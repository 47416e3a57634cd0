//! The connection to Redis and what keeps it honest: every round trip is cut at a deadline
//! and counted ([`StoreMetrics`]), a connection found lost is tried again at once and then at
//! short, capped intervals by a watcher task, and `/health/ready` hears the truth at once.
//! While the watcher knows the store is down and silent (a deadline hit its ping confirms),
//! requests are answered at once without being sent.
//!
//! A single node goes through the redis crate's `ConnectionManager`, with its own retries
//! turned off: its backoff starts at one second and grows to a minute (with the old settings,
//! a two-second outage cost about two minutes), and commands wait on a reconnection in
//! progress. Here a command fails at once while Redis is away, and the watcher drives the
//! reconnection. A cluster goes through the crate's cluster connection, with few, short retries.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::store::{StoreMetrics, StoreSettings};

/// The first wait between reconnection attempts after the one made at once; it doubles up to
/// `reconnect_max_delay`.
const FIRST_RETRY: Duration = Duration::from_millis(25);
/// How often the watcher checks a store that answers, so that `/metrics` sees an outage even
/// when no request comes.
const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// What every clone of a connection shares: the counters, and the bell the watcher waits on.
#[derive(Default)]
struct Shared {
    metrics: StoreMetrics,
    lost: Notify,
    /// The store is away and silent (its last round trip hit the deadline rather than a closed
    /// connection): requests are not sent until the watcher's probe gets an answer. A store
    /// that refuses connections fails each request in a moment: those are still sent, so that
    /// the first after its return succeeds.
    silent: std::sync::atomic::AtomicBool,
}

/// A single-node or a cluster connection, multiplexed and cheap to clone, whose round trips
/// end by `deadline`.
#[derive(Clone)]
pub(super) struct Conn {
    link: Link,
    deadline: Duration,
    shared: Arc<Shared>,
    /// The watcher's own probe, sent even while the store is known to be down.
    probe: bool,
}

/// Stops the watcher when the last clone of the store goes.
pub(super) struct Watcher(tokio::task::AbortHandle);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Conn {
    /// Connects to `url` (a node of the cluster when `cluster`) and starts the watcher.
    pub(super) async fn open(
        url: &str,
        cluster: bool,
        settings: &StoreSettings,
    ) -> RedisResult<(Self, Watcher)> {
        let link = if cluster {
            let client = redis::cluster::ClusterClient::builder(vec![url])
                .connection_timeout(settings.connect_timeout())
                .response_timeout(settings.bulk_deadline)
                .retries(3)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()?;
            Link::Cluster(client.get_async_connection().await?)
        } else {
            let client = redis::Client::open(url)?;
            // No retries inside the manager: a failed attempt is answered at once, and the
            // next command, or the watcher, makes the next attempt.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(settings.connect_timeout())
                .set_number_of_retries(0);
            Link::Single(ConnectionManager::new_with_config(client, config).await?)
        };
        let conn = Self {
            link,
            deadline: settings.call_deadline,
            shared: Arc::default(),
            probe: false,
        };
        let task = tokio::spawn(watch(conn.clone(), settings.reconnect_max_delay));
        Ok((conn, Watcher(task.abort_handle())))
    }

    /// The same connection, with another deadline per round trip.
    pub(super) fn with_deadline(&self, deadline: Duration) -> Self {
        Self {
            deadline,
            ..self.clone()
        }
    }

    pub(super) fn deadline(&self) -> Duration {
        self.deadline
    }

    pub(super) fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
    }

    /// Runs `fut` (one round trip) within the deadline, and records what came of it. While a
    /// single node is known to be down and silent, nothing is sent: the answer is immediate,
    /// and the watcher's probe alone finds it back.
    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        // A cluster is not short-circuited: one primary away leaves the others' slots served.
        let single = matches!(self.link, Link::Single(_));
        let silent = self
            .shared
            .silent
            .load(std::sync::atomic::Ordering::Relaxed);
        if single && !self.probe && silent && !self.shared.metrics.is_up() {
            return Err(RedisError::from((
                ErrorKind::IoError,
                "the store is down",
                "not sent: the watcher has not seen it answer again yet".to_string(),
            )));
        }
        let started = Instant::now();
        let result = match tokio::time::timeout(self.deadline, fut).await {
            Ok(r) => r,
            Err(_) => {
                self.shared.metrics.deadline_hit();
                self.shared
                    .silent
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                // A silent store: the watcher checks at once whether it answers at all.
                self.shared.lost.notify_one();
                Err(RedisError::from((
                    ErrorKind::ClientError,
                    "no answer within the store's deadline",
                    format!(
                        "{} ms (store.call_deadline_ms or store.bulk_deadline_seconds)",
                        self.deadline.as_millis()
                    ),
                )))
            }
        };
        self.shared.metrics.observe(started.elapsed());
        if result.is_ok() || result.as_ref().err().is_some_and(unreachable) {
            self.shared
                .silent
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        match &result {
            Ok(_) => {
                if self.shared.metrics.mark_up() {
                    tracing::info!("the store answers again");
                }
            }
            Err(e) if unreachable(e) => {
                if self.shared.metrics.mark_down() {
                    tracing::warn!(error = %e, "the store does not answer: requests needing it are answered 503 until it does");
                }
                self.shared.lost.notify_one();
            }
            Err(_) => {}
        }
        result
    }
}

/// A failure that says the store cannot be reached (rather than a refused command).
fn unreachable(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::IoError
            | ErrorKind::BusyLoadingError
            | ErrorKind::ClusterDown
            | ErrorKind::MasterDown
            | ErrorKind::ClusterConnectionNotFound
    )
}

impl Link {
    async fn command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Link::Single(c) => {
                let r = c.req_packed_command(cmd).await;
                if !stale(&r) {
                    return r;
                }
                // The command was never sent; the failure started a new attempt: wait for it.
                c.req_packed_command(cmd).await
            }
            Link::Cluster(c) => c.req_packed_command(cmd).await,
        }
    }

    async fn pipeline(
        &mut self,
        p: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Link::Single(c) => {
                let r = c.req_packed_commands(p, offset, count).await;
                if !stale(&r) {
                    return r;
                }
                c.req_packed_commands(p, offset, count).await
            }
            Link::Cluster(c) => c.req_packed_commands(p, offset, count).await,
        }
    }
}

/// The connection manager answered with the failure of its last connection attempt, before
/// sending anything (and started another attempt): a request made just after Redis came back
/// would fail for nothing. Safe to send again, even when not idempotent.
fn stale<T>(r: &RedisResult<T>) -> bool {
    r.as_ref().err().is_some_and(|e| {
        e.kind() == ErrorKind::IoError && e.to_string().starts_with("Reconnecting failed")
    })
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let this = self.clone();
        Box::pin(async move {
            let mut link = this.link.clone();
            this.bounded(link.command(cmd)).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let this = self.clone();
        Box::pin(async move {
            let mut link = this.link.clone();
            this.bounded(link.pipeline(cmd, offset, count)).await
        })
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

/// Whether the store answers a `PING` within the deadline. One that does not is down, whatever
/// the reason (a request's deadline hit alone does not say so: a slow script may cause it).
async fn ping(conn: &Conn) -> bool {
    let mut c = Conn {
        probe: true,
        ..conn.clone()
    };
    let answered = redis::cmd("PING")
        .query_async::<String>(&mut c)
        .await
        .is_ok();
    if !answered && conn.metrics().mark_down() {
        tracing::warn!("the store does not answer its watcher's ping: requests needing it are answered 503 until it does");
    }
    answered
}

/// While the store answers, checks it every [`CHECK_EVERY`] or as soon as a round trip found it
/// lost; while it does not, tries again after 25 ms, then doubling up to `max_delay`.
async fn watch(conn: Conn, max_delay: Duration) {
    let mut delay = FIRST_RETRY;
    loop {
        if conn.metrics().is_up() {
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = conn.shared.lost.notified() => {}
            }
        } else {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(max_delay);
        }
        if ping(&conn).await {
            delay = FIRST_RETRY;
        }
    }
}
