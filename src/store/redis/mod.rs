//! The Redis store: the shared state of several gateway nodes, on one Redis or a Redis Cluster.
//!
//! One-time operations are single atomic commands (`GETDEL`, `SET NX PX`); multi-key updates
//! are Lua scripts over keys that share a hash tag (see `keys`), so they stay atomic in a
//! cluster. A directory is replaced by writing a new version and switching a pointer, so
//! readers see the old directory or the new one, never a mix. Values are JSON; errors name the
//! operation, never a stored value.
//!
//! This module owns the connection (single node or cluster), the JSON and error plumbing the
//! trait implementations share; each store trait is implemented in a submodule of its own.

use std::sync::Arc;
use std::time::Duration;

use redis::Cmd;
use serde::de::DeserializeOwned;
use serde::Serialize;

mod audience;
mod audience_backup;
mod audience_count;
mod catalogue;
mod conn;
mod directory;
mod health;
mod listing;
mod login_state;
mod outbox;
mod session;
mod subscription;
mod token;

use self::conn::{Conn, Watcher};
use super::keys::Keys;
use super::{StoreError, StoreResult, StoreSettings};

/// The Redis store.
#[derive(Clone)]
pub struct RedisStore {
    /// Round trips of the request path, within `store.call_deadline_ms`.
    conn: Conn,
    /// The same connection for bulk work, within `store.bulk_deadline_seconds`.
    bulk: Conn,
    keys: Keys,
    /// The connection of the durable families' writes: its own when `store.durable_replicas`
    /// is set, since the `WAIT` after each write holds up the connection it is sent on.
    durable_link: Conn,
    /// `store.durable_replicas` and `store.durable_wait_ms`.
    durable: (u32, Duration),
    _watcher: Arc<Watcher>,
    _durable_watcher: Option<Arc<Watcher>>,
}

fn unavailable(op: &str) -> impl Fn(redis::RedisError) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("redis {op}: {e}"))
}

fn to_json<T: Serialize>(op: &str, v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("{op}: cannot encode: {e}")))
}

fn from_json<T: DeserializeOwned>(op: &str, s: &str) -> StoreResult<T> {
    // serde_json's messages may quote the stored value: only its category and position are kept.
    serde_json::from_str(s).map_err(|e| {
        StoreError::Corrupt(format!(
            "{op}: cannot decode ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// A new listing stamp. Stamps are random rather than counted, so that a Redis that lost its
/// data and starts again cannot hand out a stamp a node has already built a view for; zero
/// (no stamp) is never drawn.
fn fresh_stamp() -> u64 {
    rand::random::<u64>().max(1)
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// Connects to `url` (a node of the cluster when `cluster`), with keys under `prefix` and
    /// the default timings.
    pub async fn connect(url: &str, cluster: bool, prefix: &str) -> StoreResult<Self> {
        Self::connect_with(url, cluster, prefix, &StoreSettings::default()).await
    }

    /// Connects with the timings of `settings`.
    pub async fn connect_with(
        url: &str,
        cluster: bool,
        prefix: &str,
        settings: &StoreSettings,
    ) -> StoreResult<Self> {
        let what = if cluster {
            "cluster connect"
        } else {
            "connect"
        };
        let (conn, watcher) = Conn::open(url, cluster, settings)
            .await
            .map_err(unavailable(what))?;
        let (durable_link, durable_watcher) = if settings.durable_replicas > 0 {
            let (c, w) = Conn::open(url, cluster, settings)
                .await
                .map_err(unavailable(what))?;
            (c, Some(Arc::new(w)))
        } else {
            (conn.clone(), None)
        };
        Ok(Self {
            bulk: conn.with_deadline(settings.bulk_deadline),
            durable: (settings.durable_replicas, settings.durable_wait),
            durable_link,
            conn,
            keys: Keys::new(prefix),
            _watcher: Arc::new(watcher),
            _durable_watcher: durable_watcher,
        })
    }

    /// The same store on the durable families' connection (request and bulk deadlines).
    fn writer(&self) -> Self {
        Self {
            bulk: self.durable_link.with_deadline(self.bulk.deadline()),
            conn: self.durable_link.clone(),
            ..self.clone()
        }
    }

    /// The same store, whose round trips have the bulk deadline: for work whose size grows
    /// with the data (imports, reports, counting, exports).
    fn bulk(&self) -> Self {
        Self {
            conn: self.bulk.clone(),
            ..self.clone()
        }
    }

    /// After a write of a durable family: when `store.durable_replicas` is set, waits (`WAIT`)
    /// until that many replicas have it, and fails when fewer confirm it in time, so that what
    /// is acknowledged survives the loss of the primary.
    async fn durable(&self, op: &str) -> StoreResult<()> {
        let (replicas, wait) = self.durable;
        if replicas == 0 {
            return Ok(());
        }
        let confirmed: i64 = self
            .query(op, redis::cmd("WAIT").arg(replicas).arg(millis(wait)))
            .await?;
        if confirmed < i64::from(replicas) {
            return Err(StoreError::Unavailable(format!(
                "redis {op}: written, but {confirmed} of {replicas} replica(s) confirmed it within {} ms (store.durable_replicas, store.durable_wait_ms)",
                wait.as_millis()
            )));
        }
        Ok(())
    }

    async fn query<T: redis::FromRedisValue>(&self, op: &str, cmd: &Cmd) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn).await.map_err(unavailable(op))
    }

    async fn set_json_px<T: Serialize>(
        &self,
        op: &str,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> StoreResult<()> {
        let json = to_json(op, value)?;
        self.query(
            op,
            redis::cmd("SET")
                .arg(key)
                .arg(json)
                .arg("PX")
                .arg(millis(ttl)),
        )
        .await
    }

    async fn get_json<T: DeserializeOwned>(&self, op: &str, key: &str) -> StoreResult<Option<T>> {
        let raw: Option<String> = self.query(op, redis::cmd("GET").arg(key)).await?;
        raw.map(|s| from_json(op, &s)).transpose()
    }
}

/// A field that keeps empty hashes in existence; no id is empty, so it never shadows one.
const PLACEHOLDER: &str = "";
