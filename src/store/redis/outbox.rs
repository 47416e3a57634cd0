//! The Redis store's [`OutboxStore`]: a hash of values, a sorted set of the times from which
//! each delivery may be claimed and one of expiries, all under `{outbox}`; every operation is
//! one Lua script over the three keys, atomic on their slot. The keys expire an hour (the
//! longest TTL asked) after the last write: a deployment that stops leaves nothing behind.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::Script;

use super::{millis, unavailable, RedisStore};
use crate::store::outbox::{after, from_millis, millis as ms};
use crate::store::{Claimed, OutboxStore, StoreResult};

/// KEYS: items, due, expiry. ARGV: id, value, held (ms), expires (ms), ttl (ms).
const PUT: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
for i = 1, 3 do
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[5]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[5])
  end
end
";

/// KEYS: items, due, expiry. ARGV: now (ms), held until (ms), max. Drops the expired, then
/// claims the free ones: answers id, value, id, value...
const CLAIM: &str = r"
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    table.insert(out, id)
    table.insert(out, v)
  else
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
return out
";

/// KEYS: items, due. ARGV: id, held (ms), value, until (ms). 1 when still held, else 0.
const RETRY: &str = r"
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
";

/// KEYS: items, due, expiry. ARGV: id, held (ms). 1 when it was held and is removed, else 0.
const DONE: &str = r"
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
";

impl RedisStore {
    async fn outbox_script<T: redis::FromRedisValue>(
        &self,
        op: &str,
        code: &str,
        args: &[String],
    ) -> StoreResult<T> {
        let script = Script::new(code);
        let mut invocation = script.prepare_invoke();
        for key in self.keys.outbox() {
            invocation.key(key);
        }
        for a in args {
            invocation.arg(a);
        }
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable(op))
    }
}

#[async_trait]
impl OutboxStore for RedisStore {
    async fn outbox_put(
        &self,
        id: &str,
        value: &str,
        held: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<()> {
        let args = [
            id.to_string(),
            value.to_string(),
            ms(held).to_string(),
            after(now, ttl).to_string(),
            millis(ttl).to_string(),
        ];
        self.outbox_script("outbox put", PUT, &args).await
    }

    async fn outbox_claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        max: usize,
    ) -> StoreResult<Vec<Claimed>> {
        let until = after(now, lease);
        let args = [ms(now).to_string(), until.to_string(), max.to_string()];
        let flat: Vec<String> = self.outbox_script("outbox claim", CLAIM, &args).await?;
        Ok(flat
            .chunks_exact(2)
            .map(|pair| Claimed {
                id: pair[0].clone(),
                value: pair[1].clone(),
                held: from_millis(until),
            })
            .collect())
    }

    async fn outbox_retry(
        &self,
        id: &str,
        held: DateTime<Utc>,
        value: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let args = [
            id.to_string(),
            ms(held).to_string(),
            value.to_string(),
            ms(until).to_string(),
        ];
        let n: i64 = self.outbox_script("outbox retry", RETRY, &args).await?;
        Ok(n == 1)
    }

    async fn outbox_done(&self, id: &str, held: DateTime<Utc>) -> StoreResult<bool> {
        let args = [id.to_string(), ms(held).to_string()];
        let n: i64 = self.outbox_script("outbox done", DONE, &args).await?;
        Ok(n == 1)
    }
}
