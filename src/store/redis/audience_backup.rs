//! The Redis store's counts in a backup (`store::backup`): read partition by partition, by
//! pages of `SCAN` inside a script sent to the partition's slot (`scan_audience.lua`), so that
//! a cluster is read on the node holding it; written back by pipelines.
//!
//! Counts hashes leave as they are (`r:`, `f:`, `u:` fields; an earlier version's packed
//! fields unpacked), the partitions summed, and come back into the first partition (reports
//! sum the partitions, wherever a count is). Expiries leave as
//! `PEXPIRETIME` and come back by `PEXPIREAT`; keys without one get the retention from the
//! import. Counted ids (`seen:<id>`) leave with their expiry and partition, and come back into
//! it. Left out: day salts (`salt:<day>`, destroyed 48 hours after their day), the visitors'
//! days of cells (`vd:`, tied to a salt), last clicks (`dc:`, one hour) and the event stream.
//! A store written by an earlier version may still hold visitor HyperLogLogs (`v:`): they
//! leave as their `PFCOUNT` and string value, for the import to turn into visitor-days.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{Script, Value};

use super::audience::add_field;
use super::{unavailable, RedisStore};
use crate::domain::counting::{counted_entry, counted_from_entry, PARTS};
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
    /// Every key of a partition of the audience whose name (below the partition's prefix)
    /// starts with `starts`, page by page; `f` answers whether to go on.
    async fn scan_audience(
        &self,
        part: u8,
        starts: &str,
        mut f: impl FnMut(Found) -> bool,
    ) -> StoreResult<()> {
        let prefix = self.keys.audience_part(part, "");
        let pattern = format!("{}{starts}*", glob_escaped(&prefix));
        let script = Script::new(SCAN_AUDIENCE);
        let mut cursor = "0".to_string();
        loop {
            let mut conn = self.conn.clone();
            let page: Value = script
                .key(self.keys.audience_part(part, "counts"))
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
        for part in 0..PARTS {
            this.scan_audience(part, "c:", |_| {
                any = true;
                false
            })
            .await?;
            if any {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(super) async fn dump_counts(&self, _now: DateTime<Utc>) -> StoreResult<CountsDump> {
        let this = self.bulk();
        let mut dump = CountsDump::default();
        let mut bad = None;
        for part in 0..PARTS {
            this.scan_audience(part, "", |k| {
                let name = k.name;
                if let Some(id) = name.strip_prefix("seen:") {
                    if let Some(at) = k.expires {
                        dump.counted.insert(counted_entry(part, id), at);
                    }
                    return true;
                }
                if name.starts_with("c:") {
                    let Ok(fields) = redis::from_redis_value::<Vec<(String, String)>>(&k.value)
                    else {
                        bad = Some(name);
                        return false;
                    };
                    let mut sum = HashMap::new();
                    for (f, n) in fields {
                        add_field(&mut sum, f, &n);
                    }
                    let here = dump.cells.entry(name.clone()).or_default();
                    for (f, n) in sum {
                        *here.entry(f).or_insert(0) += n;
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
                    let e = dump.expires.entry(name).or_insert(at);
                    *e = (*e).max(at);
                }
                true
            })
            .await?;
            if let Some(name) = bad {
                return Err(corrupt(&format!("{name} is not a counts hash")));
            }
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
        // Each write is one closure over a pipeline, by partition (a pipeline stays in one
        // slot, so that a cluster takes it), sent BATCH at a time.
        let mut writes: Vec<Vec<Write<'_>>> = (0..PARTS).map(|_| Vec::new()).collect();
        for (name, fields) in &dump.cells {
            let key = this.keys.audience(name);
            let at = until(name);
            writes[0].push(Box::new(move |p| {
                for (f, n) in fields {
                    p.cmd("HSET").arg(&key).arg(f).arg(*n).ignore();
                }
                p.cmd("PEXPIREAT").arg(&key).arg(at).ignore();
            }));
        }
        // Visitor sets of an earlier version's dump are read as visitor-days
        // (`CountsDump::upgraded`) before they reach here.
        for (entry, at) in dump.counted.iter().filter(|(_, at)| **at > now_ms) {
            let (part, id) = counted_from_entry(entry);
            let key = this.keys.audience_part(part, &format!("seen:{id}"));
            writes[usize::from(part)].push(Box::new(move |p| {
                p.cmd("SET")
                    .arg(&key)
                    .arg("1")
                    .arg("PXAT")
                    .arg(*at)
                    .ignore();
            }));
        }
        for chunk in writes.iter().flat_map(|w| w.chunks(BATCH)) {
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
