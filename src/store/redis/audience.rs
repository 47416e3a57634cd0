//! The Redis store's audience part: a Redis stream read by consumer groups (`XREADGROUP`,
//! `XAUTOCLAIM` for a crashed consumer's events, `XACK`, `XTRIM MINID` once every group is
//! done), the day salts (`SET NX PX`), and the reading of the counts: reports read every
//! partition's hash of a key and sum them. Counting itself is `audience_count`'s.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use redis::Value;

use super::{unavailable, RedisStore};
use crate::domain::counting::PARTS;
use crate::domain::{AudienceEvent, CountsDump, Decided};
use crate::store::{AudienceStore, Delivered, StoreError, StoreResult};

fn text(v: &Value) -> Option<String> {
    redis::from_redis_value::<String>(v).ok()
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => &[],
    }
}

/// `[id, [field, value, ...]]` entries of a stream reply.
fn entries(v: &Value) -> Vec<Delivered> {
    items(v)
        .iter()
        .filter_map(|entry| {
            let parts = items(entry);
            let id = text(parts.first()?)?;
            let fields = parts.get(1)?;
            let fields: Vec<String> = match fields {
                Value::Map(m) => m
                    .iter()
                    .flat_map(|(k, v)| [text(k), text(v)])
                    .flatten()
                    .collect(),
                other => items(other).iter().filter_map(text).collect(),
            };
            let event = fields
                .chunks(2)
                .find(|kv| kv.first().map(String::as_str) == Some("e"))
                .and_then(|kv| kv.get(1).cloned())?;
            Some(Delivered { id, event })
        })
        .collect()
}

/// The entries of an `XREADGROUP` reply (one stream).
fn read_reply(v: &Value) -> Vec<Delivered> {
    match v {
        Value::Map(m) => m.iter().flat_map(|(_, e)| entries(e)).collect(),
        other => items(other)
            .iter()
            .flat_map(|stream| items(stream).get(1).map(entries).unwrap_or_default())
            .collect(),
    }
}

/// A field of an `XINFO GROUPS` entry (a flat array or a map).
fn info_field<'a>(group: &'a Value, name: &str) -> Option<&'a Value> {
    match group {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| text(k).as_deref() == Some(name))
            .map(|(_, v)| v),
        other => items(other)
            .chunks(2)
            .find(|kv| kv.first().and_then(text).as_deref() == Some(name))
            .and_then(|kv| kv.get(1)),
    }
}

/// Stream ids as `(milliseconds, sequence)` to compare them.
fn stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn is_error(e: &redis::RedisError, code: &str) -> bool {
    e.code() == Some(code) || e.to_string().contains(code)
}

/// One raw access in an earlier version's packed count field (`raw * 2^32 + filtered`).
const LEGACY_PACKED_RAW: i64 = 1 << 32;

/// Adds a counts hash's field to `sum`, as `r:`, `f:` and `u:` counts. The shared store keeps
/// the three in one field named by the value alone, `"<raw> <filtered> <visitors>"` (one field
/// a cell: a third of the fields to find and write); an import writes `r:`, `f:` and `u:`
/// fields, which are read as they are; an earlier version kept `raw * 2^32 + filtered` in one
/// field named by the value (and no visitors).
pub(super) fn add_field(sum: &mut HashMap<String, i64>, field: String, value: &str) {
    let mut add = |kind: &str, n: i64| {
        if n != 0 {
            *sum.entry(format!("{kind}{field}")).or_insert(0) += n;
        }
    };
    if field.starts_with("r:") || field.starts_with("f:") || field.starts_with("u:") {
        let n = value.parse().unwrap_or(0);
        *sum.entry(field).or_insert(0) += n;
        return;
    }
    let mut parts = value.split(' ').map(|n| n.parse::<i64>().unwrap_or(0));
    match (parts.next(), parts.next(), parts.next()) {
        (Some(r), Some(f), Some(u)) => {
            add("r:", r);
            add("f:", f);
            add("u:", u);
        }
        (Some(n), None, None) => {
            let raw = n.div_euclid(LEGACY_PACKED_RAW);
            add("r:", raw);
            add("f:", n - raw * LEGACY_PACKED_RAW);
        }
        _ => {}
    }
}

impl RedisStore {
    async fn ensure_group(&self, group: &str) -> StoreResult<()> {
        let stream = self.keys.audience_stream();
        let mut conn = self.conn.clone();
        let r: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match r {
            Err(e) if !is_error(&e, "BUSYGROUP") => Err(unavailable("xgroup create")(e)),
            _ => Ok(()),
        }
    }

    async fn read_once(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        claim_idle: Duration,
    ) -> Result<Vec<Delivered>, redis::RedisError> {
        let stream = self.keys.audience_stream();
        let mut conn = self.conn.clone();
        if claim_idle != Duration::MAX {
            let claimed: Value = redis::cmd("XAUTOCLAIM")
                .arg(&stream)
                .arg(group)
                .arg(consumer)
                .arg(u64::try_from(claim_idle.as_millis()).unwrap_or(u64::MAX))
                .arg("0-0")
                .arg("COUNT")
                .arg(count)
                .query_async(&mut conn)
                .await?;
            let claimed = items(&claimed).get(1).map(entries).unwrap_or_default();
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
        let fresh: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut conn)
            .await?;
        Ok(read_reply(&fresh))
    }
}

#[async_trait]
impl AudienceStore for RedisStore {
    async fn append_events(&self, events: &[String]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let stream = self.keys.audience_stream();
        let mut pipe = redis::pipe();
        for e in events {
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("e")
                .arg(e)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(unavailable("xadd"))
    }

    async fn read_events(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        claim_idle: Duration,
    ) -> StoreResult<Vec<Delivered>> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        match this.read_once(group, consumer, count, claim_idle).await {
            // A Redis that restarted empty has lost the group: create it and read again.
            Err(e) if is_error(&e, "NOGROUP") => {
                this.ensure_group(group).await?;
                this.read_once(group, consumer, count, claim_idle)
                    .await
                    .map_err(unavailable("xreadgroup"))
            }
            other => other.map_err(unavailable("xreadgroup")),
        }
    }

    async fn create_group(&self, group: &str) -> StoreResult<()> {
        self.ensure_group(group).await
    }

    async fn ack_events(&self, group: &str, ids: &[String]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // Behind counting scripts of other consumers: the bulk deadline.
        let this = self.bulk();
        let mut conn = this.conn.clone();
        redis::cmd("XACK")
            .arg(self.keys.audience_stream())
            .arg(group)
            .arg(ids)
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable("xack"))
    }

    async fn pending_events(&self, group: &str) -> StoreResult<u64> {
        let mut conn = self.conn.clone();
        let v: Result<Value, _> = redis::cmd("XPENDING")
            .arg(self.keys.audience_stream())
            .arg(group)
            .query_async(&mut conn)
            .await;
        match v {
            Err(e) if is_error(&e, "NOGROUP") => Ok(0),
            Err(e) => Err(unavailable("xpending")(e)),
            Ok(v) => Ok(items(&v)
                .first()
                .and_then(|n| redis::from_redis_value::<u64>(n).ok())
                .unwrap_or(0)),
        }
    }

    async fn trim_events(&self) -> StoreResult<u64> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        let stream = this.keys.audience_stream();
        let mut conn = this.conn.clone();
        let groups: Value = match redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query_async(&mut conn)
            .await
        {
            Ok(v) => v,
            Err(e) if e.to_string().contains("no such key") => return Ok(0),
            Err(e) => return Err(unavailable("xinfo groups")(e)),
        };
        let mut boundary: Option<(u64, u64)> = None;
        for g in items(&groups) {
            let pending = info_field(g, "pending")
                .and_then(|v| redis::from_redis_value::<u64>(v).ok())
                .unwrap_or(0);
            let limit = if pending > 0 {
                let name = info_field(g, "name").and_then(text).unwrap_or_default();
                let summary: Value = redis::cmd("XPENDING")
                    .arg(&stream)
                    .arg(&name)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable("xpending"))?;
                items(&summary)
                    .get(1)
                    .and_then(text)
                    .and_then(|s| stream_id(&s))
            } else {
                info_field(g, "last-delivered-id")
                    .and_then(text)
                    .and_then(|s| stream_id(&s))
                    .map(|(ms, seq)| (ms, seq + 1))
            };
            let Some(limit) = limit else { return Ok(0) };
            boundary = Some(boundary.map_or(limit, |b| b.min(limit)));
        }
        let Some((ms, seq)) = boundary else {
            return Ok(0);
        };
        redis::cmd("XTRIM")
            .arg(&stream)
            .arg("MINID")
            .arg(format!("{ms}-{seq}"))
            .query_async(&mut conn)
            .await
            .map_err(unavailable("xtrim"))
    }

    async fn decide_events(
        &self,
        events: &[AudienceEvent],
        stream_ids: &[String],
        dedup: Duration,
        window: &mut Decided,
    ) -> StoreResult<()> {
        // Work that grows with the data: the bulk deadline.
        self.bulk().decide(events, stream_ids, dedup, window).await
    }

    async fn apply_counts(&self, window: &Decided, retention: Duration) -> StoreResult<bool> {
        self.bulk().apply(window, retention).await
    }

    async fn audience_cells(&self, keys: &[String]) -> StoreResult<Vec<HashMap<String, i64>>> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // One pipeline per partition (one slot each, so that a cluster takes it), at once.
        let reads = (0..PARTS).map(|part| {
            let mut pipe = redis::pipe();
            for k in keys {
                pipe.cmd("HGETALL").arg(this.keys.audience_part(part, k));
            }
            let mut conn = this.conn.clone();
            async move {
                pipe.query_async::<Vec<Vec<(String, String)>>>(&mut conn)
                    .await
                    .map_err(unavailable("audience counts"))
            }
        });
        let mut out = vec![HashMap::new(); keys.len()];
        for part in futures_util::future::try_join_all(reads).await? {
            for (sum, fields) in out.iter_mut().zip(part) {
                for (f, n) in fields {
                    add_field(sum, f, &n);
                }
            }
        }
        Ok(out)
    }

    async fn day_salt(
        &self,
        day: NaiveDate,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<u8>> {
        let mut fresh = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        if expires_at <= now {
            // That day's salt is already destroyed: its late events get visitors of their own.
            return Ok(fresh);
        }
        let key = self.keys.audience(&format!("salt:{day}"));
        let mut conn = self.conn.clone();
        let (salt,): (Option<String>,) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(hex::encode(&fresh))
            .arg("NX")
            // Relative to the caller's clock (time is a parameter), not Redis's.
            .arg("PX")
            .arg((expires_at - now).num_milliseconds().max(1))
            .ignore()
            .cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable("audience salt"))?;
        let salt = salt.ok_or_else(|| StoreError::Unavailable("audience salt vanished".into()))?;
        hex::decode(salt).map_err(|_| StoreError::Corrupt("audience salt is not hex".into()))
    }

    async fn has_counts(&self) -> StoreResult<bool> {
        self.any_counts().await
    }

    async fn export_counts(&self, now: DateTime<Utc>) -> StoreResult<CountsDump> {
        self.dump_counts(now).await
    }

    async fn import_counts(
        &self,
        dump: &CountsDump,
        retention: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.restore_counts(dump, retention, now).await
    }
}
