//! The Redis store's audience part: a Redis stream read by consumer groups (`XREADGROUP`,
//! `XAUTOCLAIM` for a crashed consumer's events, `XACK`, `XTRIM MINID` once every group is
//! done), the day salts (`SET NX PX`), and the counts: a batch is split by partition and each
//! partition's events go to one run of a Lua script (`count_events.lua`), on its own slot, that
//! skips already-counted ids, applies the double-click rule, tells new visitors of each cell
//! and increments the day's and the month's hashes, so a partition's events are counted whole
//! or not at all. Reports read every partition's hash of a key and sum them.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use redis::{Script, Value};

use super::{unavailable, RedisStore};
use crate::domain::counting::{
    cell_of, cell_token, cells_of, dim, has_months, month_of, views_json, DIMENSIONS,
    DOUBLE_CLICK_MS, PARTS, VISITOR_DAY_SECONDS,
};
use crate::domain::{AudienceEvent, Counted, CountsDump};
use crate::store::{AudienceStore, Delivered, StoreError, StoreResult};

/// The counting script (hashed once) and the views it reads, as JSON (made once).
static COUNT_EVENTS: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("count_events.lua")));
static VIEWS_JSON: std::sync::LazyLock<String> = std::sync::LazyLock::new(views_json);

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

/// Adds a counts hash's field to `sum`. The counts hashes of an earlier version kept
/// `raw * 2^32 + filtered` in one field named by the value alone (and no visitors); today's
/// fields are already `r:`, `f:` and `u:`.
pub(super) fn add_field(sum: &mut HashMap<String, i64>, field: String, n: i64) {
    if field.starts_with("r:") || field.starts_with("f:") || field.starts_with("u:") {
        *sum.entry(field).or_insert(0) += n;
        return;
    }
    let raw = n.div_euclid(LEGACY_PACKED_RAW);
    *sum.entry(format!("r:{field}")).or_insert(0) += raw;
    *sum.entry(format!("f:{field}")).or_insert(0) += n - raw * LEGACY_PACKED_RAW;
}

impl RedisStore {
    /// Counts one partition's events in one run of `count_events.lua`.
    async fn count_part(
        &self,
        part: u8,
        events: &[&AudienceEvent],
        dedup: Duration,
        retention: Duration,
    ) -> StoreResult<Counted> {
        let at = |rest: &str| self.keys.audience_part(part, rest);
        // The batch's hashes and cells, pre-aggregated as if every event were new and kept;
        // the script corrects the rest. Each event is sent as the indices (1-based) of its
        // cells.
        let mut hashes: Vec<String> = Vec::new();
        let mut hash_index: HashMap<String, usize> = HashMap::new();
        let mut hash = |key: String| -> usize {
            *hash_index.entry(key).or_insert_with_key(|k| {
                hashes.push(k.clone());
                hashes.len()
            })
        };
        // (day, view, value) → its cell: (day hash, month hash or 0, field, raw, filtered,
        // token).
        let mut index: HashMap<(String, String, String), usize> = HashMap::new();
        let mut cells: Vec<(usize, usize, String, i64, [u8; 9])> = Vec::new();
        let mut of_event: Vec<Vec<usize>> = Vec::with_capacity(events.len());
        for e in events {
            let day = e.day.to_string();
            let month = month_of(e.day);
            let mut mine = Vec::with_capacity(25);
            for (view, value) in cells_of(e) {
                let k = (day.clone(), view, value);
                let n = match index.get(&k) {
                    Some(n) => *n,
                    None => {
                        let (key, field) = cell_of(&day, &k.1, &k.2);
                        let scope = k.1.rsplit_once(':').map_or(k.1.as_str(), |(s, _)| s);
                        let month_hash = if has_months(scope) {
                            hash(at(&cell_of(&month, &k.1, &k.2).0))
                        } else {
                            0
                        };
                        let mut token = [b't'; 9];
                        token[1..].copy_from_slice(&cell_token(&k.1, &k.2));
                        cells.push((hash(at(&key)), month_hash, field, 0, token));
                        index.insert(k, cells.len());
                        cells.len()
                    }
                };
                cells[n - 1].3 += 1;
                mine.push(n);
            }
            of_event.push(mine);
        }
        let mut inv = COUNT_EVENTS.key(at("counts"));
        inv.arg(at(""))
            .arg(retention.as_secs().max(1))
            .arg(dedup.as_secs().max(1))
            .arg(DOUBLE_CLICK_MS)
            .arg(VIEWS_JSON.as_str())
            .arg(VISITOR_DAY_SECONDS)
            .arg(events.len())
            .arg(hashes.len())
            .arg(cells.len());
        for (e, mine) in events.iter().zip(&of_event) {
            let prev = match (&e.visitor_prev, e.day.pred_opt()) {
                (Some(v), Some(d)) => at(&format!("vd:{d}|{v}|{}", e.uai)),
                _ => String::new(),
            };
            let mut record = format!("{}|{}", e.t, e.day);
            for name in DIMENSIONS {
                record.push('|');
                record.push_str(&dim(e, name));
            }
            inv.arg(&e.id)
                .arg(e.t)
                .arg(e.day.to_string())
                .arg(at(&format!("vd:{}|{}|{}", e.day, e.visitor, e.uai)))
                .arg(prev)
                .arg(format!("d:{}", e.resource))
                .arg(record);
            for n in mine {
                inv.arg(*n);
            }
        }
        for h in &hashes {
            inv.arg(h);
        }
        for (day_hash, month_hash, field, n, token) in &cells {
            inv.arg(*day_hash)
                .arg(*month_hash)
                .arg(field)
                .arg(*n)
                .arg(*n)
                .arg(&token[..]);
        }
        let mut conn = self.conn.clone();
        let (new, duplicates): (u64, u64) = inv
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("count audience events"))?;
        Ok(Counted { new, duplicates })
    }

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

    async fn count_events(
        &self,
        events: &[AudienceEvent],
        dedup: Duration,
        retention: Duration,
    ) -> StoreResult<Counted> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        let mut parts: Vec<Vec<&AudienceEvent>> = vec![Vec::new(); usize::from(PARTS)];
        for e in events {
            parts[usize::from(e.part % PARTS)].push(e);
        }
        // The partitions are counted at once: on a cluster, by their own nodes.
        let runs = parts
            .iter()
            .enumerate()
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(part, batch)| this.count_part(part as u8, batch, dedup, retention));
        let mut out = Counted::default();
        for counted in futures_util::future::try_join_all(runs).await? {
            out += counted;
        }
        Ok(out)
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
                pipe.query_async::<Vec<Vec<(String, i64)>>>(&mut conn)
                    .await
                    .map_err(unavailable("audience counts"))
            }
        });
        let mut out = vec![HashMap::new(); keys.len()];
        for part in futures_util::future::try_join_all(reads).await? {
            for (sum, fields) in out.iter_mut().zip(part) {
                for (f, n) in fields {
                    add_field(sum, f, n);
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
