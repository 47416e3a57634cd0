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

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

mod audience;
mod catalogue;
mod directory;
mod health;
mod listing;
mod login_state;
mod session;
mod subscription;
mod token;

use super::keys::Keys;
use super::{StoreError, StoreResult};

/// A single-node or a cluster connection, both multiplexed and cheap to clone.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The Redis store.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    keys: Keys,
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
    /// Connects to `url` (a node of the cluster when `cluster`), with keys under `prefix`.
    pub async fn connect(url: &str, cluster: bool, prefix: &str) -> StoreResult<Self> {
        let conn = if cluster {
            let client = redis::cluster::ClusterClient::builder(vec![url])
                .connection_timeout(Duration::from_secs(5))
                .response_timeout(Duration::from_secs(5))
                .build()
                .map_err(unavailable("cluster client"))?;
            Conn::Cluster(
                client
                    .get_async_connection()
                    .await
                    .map_err(unavailable("cluster connect"))?,
            )
        } else {
            let client = redis::Client::open(url).map_err(unavailable("client"))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(5))
                .set_response_timeout(Duration::from_secs(5))
                .set_number_of_retries(3);
            Conn::Single(
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(unavailable("connect"))?,
            )
        };
        Ok(Self {
            conn,
            keys: Keys::new(prefix),
        })
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
