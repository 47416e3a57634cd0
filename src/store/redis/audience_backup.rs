//! The Redis store's counts in a backup (`store::backup`): read by pages of `SCAN` inside a
//! script sent to the `{aud}` slot (`scan_audience.lua`), so that a cluster is read on the
//! node holding every audience key; written back by pipelines.
//!
//! Counts hashes leave in the shape reports read (`r:<v>`, `f:<v>`, unpacked from the
//! script's `raw * 2^32 + filtered`) and are packed again. A visitor HyperLogLog leaves as its
//! `PFCOUNT` and its string value (`GET`, in hex), and comes back by `SET`, so its count is
//! the same; members from the memory store are `PFADD`ed. Expiries leave as
//! `PEXPIRETIME` and come back by `PEXPIREAT`; keys without one get the retention from the
//! import. Counted ids (`seen:<id>`) leave with their expiry; day salts (`salt:<day>`, destroyed
//! 48 hours after their day), last clicks (`dc:`, one hour) and the event stream are left out.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{Script, Value};

use super::audience::{unpack, PACKED_RAW};
use super::{unavailable, RedisStore};
use crate::domain::{CountsDump, Visitors};
use crate::store::{StoreError, StoreResult};

const SCAN_AUDIENCE: &str = include_str!("scan_audience.lua");

/// Keys read per page (and per script run, which holds Redis up meanwhile).
const PAGE: usize = 500;
/// Commands per pipeline when writing back.
const BATCH: usize = 1000;

/// One key's writes, added to a pipeline.
type Write<'a> = Box<dyn Fn(&mut redis::Pipeline) + Send + Sync + 'a>;

/// A key found by the script: its name below the audience family, its expiry, its value.
struct Found {
    name: String,
    expires: Option<i64>,
    value: Value,
}

fn glob_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("audience backup: {what}"))
}

impl RedisStore {
    /// Every audience key whose name (below the family) starts with `starts`, page by
    /// page; `f` answers whether to go on.
    async fn scan_audience(
        &self,
        starts: &str,
        mut f: impl FnMut(Found) -> bool,
    ) -> StoreResult<()> {
        let prefix = self.keys.audience("");
        let pattern = format!("{}{starts}*", glob_escaped(&prefix));
        let script = Script::new(SCAN_AUDIENCE);
        let mut cursor = "0".to_string();
        loop {
            let mut conn = self.conn.clone();
            let page: Value = script
                .key(self.keys.audience_stream())
                .arg(&prefix)
                .arg(&pattern)
                .arg(&cursor)
                .arg(PAGE)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable("scan audience keys"))?;
            let Value::Array(parts) = page else {
                return Err(corrupt("unexpected scan reply"));
            };
            let mut parts = parts.into_iter();
            cursor = parts
                .next()
                .and_then(|c| bytes(&c))
                .and_then(|c| String::from_utf8(c).ok())
                .ok_or_else(|| corrupt("no scan cursor"))?;
            for entry in parts {
                let Value::Array(e) = entry else { continue };
                let mut e = e.into_iter();
                let (Some(name), Some(at), Some(value)) = (e.next(), e.next(), e.next()) else {
                    continue;
                };
                let name = bytes(&name)
                    .and_then(|n| String::from_utf8(n).ok())
                    .ok_or_else(|| corrupt("a key name is not text"))?;
                let at: i64 = redis::from_redis_value(&at).unwrap_or(-1);
                let found = Found {
                    name,
                    expires: (at >= 0).then_some(at),
                    value,
                };
                if !f(found) {
                    return Ok(());
                }
            }
            if cursor == "0" {
                return Ok(());
            }
        }
    }

    pub(super) async fn any_counts(&self) -> StoreResult<bool> {
        let this = self.bulk();
        let mut any = false;
        this.scan_audience("c:", |_| {
            any = true;
            false
        })
        .await?;
        Ok(any)
    }

    pub(super) async fn dump_counts(&self, _now: DateTime<Utc>) -> StoreResult<CountsDump> {
        let this = self.bulk();
        let mut dump = CountsDump::default();
        let mut bad = None;
        this.scan_audience("", |k| {
            let name = k.name;
            if let Some(id) = name.strip_prefix("seen:") {
                if let Some(at) = k.expires {
                    dump.counted.insert(id.to_string(), at);
                }
                return true;
            }
            if name.starts_with("c:") {
                match redis::from_redis_value::<HashMap<String, i64>>(&k.value) {
                    Ok(packed) => {
                        dump.cells
                            .insert(name.clone(), unpack(packed).into_iter().collect());
                    }
                    Err(_) => {
                        bad = Some(name);
                        return false;
                    }
                }
            } else if name.starts_with("v:") {
                let Value::Array(v) = &k.value else {
                    return true;
                };
                let (Some(Ok(count)), Some(hll)) = (
                    v.first().map(redis::from_redis_value::<u64>),
                    v.get(1).and_then(bytes),
                ) else {
                    return true;
                };
                let v = Visitors {
                    count,
                    members: Vec::new(),
                    hll: Some(hex::encode(hll)),
                };
                dump.visitors.insert(name.clone(), v);
            } else {
                return true;
            }
            if let Some(at) = k.expires {
                dump.expires.insert(name, at);
            }
            true
        })
        .await?;
        if let Some(name) = bad {
            return Err(corrupt(&format!("{name} is not a counts hash")));
        }
        Ok(dump)
    }

    pub(super) async fn restore_counts(
        &self,
        dump: &CountsDump,
        retention: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let this = self.bulk();
        let now_ms = now.timestamp_millis();
        let keep_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
        let until = |name: &str| {
            dump.expires
                .get(name)
                .copied()
                .unwrap_or(now_ms.saturating_add(keep_ms))
        };
        // Each write is one closure over a pipeline, sent BATCH at a time.
        let mut writes: Vec<Write<'_>> = Vec::new();
        for (name, fields) in &dump.cells {
            let key = this.keys.audience(name);
            let mut packed: BTreeMap<&str, i64> = BTreeMap::new();
            let mut other = Vec::new();
            for (field, n) in fields {
                if let Some(v) = field.strip_prefix("r:") {
                    *packed.entry(v).or_insert(0) += n * PACKED_RAW;
                } else if let Some(v) = field.strip_prefix("f:") {
                    *packed.entry(v).or_insert(0) += n;
                } else {
                    other.push((field.as_str(), *n));
                }
            }
            let at = until(name);
            writes.push(Box::new(move |p| {
                for (v, n) in &packed {
                    p.cmd("HSET").arg(&key).arg(*v).arg(*n).ignore();
                }
                for (f, n) in &other {
                    p.cmd("HSET").arg(&key).arg(*f).arg(*n).ignore();
                }
                p.cmd("PEXPIREAT").arg(&key).arg(at).ignore();
            }));
        }
        for (name, v) in &dump.visitors {
            let key = this.keys.audience(name);
            let hll = match &v.hll {
                Some(h) => Some(hex::decode(h).map_err(|_| corrupt(&format!("{name}: not hex")))?),
                None => None,
            };
            if hll.is_none() && v.members.is_empty() {
                continue;
            }
            let at = until(name);
            writes.push(Box::new(move |p| {
                if let Some(h) = &hll {
                    p.cmd("SET").arg(&key).arg(h.as_slice()).ignore();
                }
                for m in v.members.chunks(BATCH) {
                    p.cmd("PFADD").arg(&key).arg(m).ignore();
                }
                p.cmd("PEXPIREAT").arg(&key).arg(at).ignore();
            }));
        }
        for (id, at) in dump.counted.iter().filter(|(_, at)| **at > now_ms) {
            let key = this.keys.audience(&format!("seen:{id}"));
            writes.push(Box::new(move |p| {
                p.cmd("SET")
                    .arg(&key)
                    .arg("1")
                    .arg("PXAT")
                    .arg(*at)
                    .ignore();
            }));
        }
        for chunk in writes.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for w in chunk {
                w(&mut pipe);
            }
            let mut conn = this.conn.clone();
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(unavailable("import audience counts"))?;
        }
        this.durable("import audience counts").await
    }
}
