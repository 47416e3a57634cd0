//! The Redis store's [`SubscriptionStore`]: subscriptions and their (school, resource),
//! per-school and distributor indexes, and assignments, each update one Lua script.

use async_trait::async_trait;
use redis::Script;

use super::{fresh_stamp, from_json, to_json, unavailable, RedisStore};
use crate::domain::{Assignment, ResourceId, Subscription, Uai};
use crate::store::{Conditional, StoreResult, SubscriptionStore};

/// The subscriptions whose ids are in the set KEYS[1], each read at ARGV[1] .. id (nil when
/// gone).
const SUBSCRIPTIONS_IN: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for i, id in ipairs(ids) do
  out[i] = redis.call('GET', ARGV[1] .. id)
end
return out
";

static READ_INDEXED: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(SUBSCRIPTIONS_IN));

/// Adds an assignment ARGV[1] (KEYS[1] the set, KEYS[2] the subscription's assignments
/// version, KEYS[3] the school's listing stamp, set to the fresh ARGV[2]): 1 added, 0 already
/// there.
const ADD_ASSIGNMENT: &str = r"
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[3], ARGV[2])
return 1
";

/// Adds an assignment if the subscription's assignments version is still ARGV[3]: 1 added,
/// 0 already there, -1 changed meanwhile. Keys and the other arguments as for
/// [`ADD_ASSIGNMENT`].
const ADD_ASSIGNMENT_IF: &str = r"
local v = tonumber(redis.call('GET', KEYS[2]) or '0')
if v ~= tonumber(ARGV[3]) then return -1 end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[3], ARGV[2])
return 1
";

/// Removes an assignment and moves the version and the stamp on when it was there. Keys and
/// arguments as for [`ADD_ASSIGNMENT`].
const REMOVE_ASSIGNMENT: &str = r"
local removed = redis.call('SREM', KEYS[1], ARGV[1])
if removed == 1 then
  redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[3], ARGV[2])
end
return removed
";

/// Stores a subscription and moves it in the (school, resource) index, atomically.
/// KEYS[1] = the subscription key; ARGV = new JSON, (school, resource) index prefix, distributor
/// index prefix, mode (`put`, or `create` to write only when absent), per-school set prefix,
/// listing stamp prefix, a fresh stamp, then the index entries of the new version as
/// "uai:resource" strings. Returns 1 when written. The old version's entries are read from its
/// JSON; the listing stamps of the schools of both versions are set to the fresh stamp.
const PUT_SUBSCRIPTION: &str = r"
local old = redis.call('GET', KEYS[1])
if old and ARGV[4] == 'create' then return 0 end
local new = cjson.decode(ARGV[1])
local id = new.id
if old then
  local o = cjson.decode(old)
  for _, uai in ipairs(o.uais) do
    redis.call('SREM', ARGV[2] .. uai .. ':' .. o.resource_id, id)
    redis.call('SREM', ARGV[5] .. uai, id)
    redis.call('SET', ARGV[6] .. uai, ARGV[7])
  end
  redis.call('SREM', ARGV[3] .. o.distributor_id, id)
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', ARGV[3] .. new.distributor_id, id)
for _, uai in ipairs(new.uais) do
  redis.call('SADD', ARGV[5] .. uai, id)
  redis.call('SET', ARGV[6] .. uai, ARGV[7])
end
for i = 8, #ARGV do
  redis.call('SADD', ARGV[2] .. ARGV[i], id)
end
return 1
";

impl RedisStore {
    /// Runs [`PUT_SUBSCRIPTION`] in mode `put` (create or replace) or `create` (only if absent).
    async fn write_subscription(&self, s: &Subscription, mode: &str) -> StoreResult<bool> {
        let json = to_json("put subscription", s)?;
        let script = Script::new(PUT_SUBSCRIPTION);
        let mut invocation = script.key(self.keys.subscription(&s.id));
        invocation
            .arg(&json)
            .arg(self.keys.subscription_index_prefix())
            .arg(self.keys.distributor_index_prefix())
            .arg(mode)
            .arg(self.keys.school_subscriptions_prefix())
            .arg(self.keys.listing_stamp_prefix())
            .arg(fresh_stamp());
        for uai in &s.uais {
            invocation.arg(format!("{}:{}", uai, s.resource_id));
        }
        let mut conn = self.conn.clone();
        let written: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("put subscription"))?;
        Ok(written == 1)
    }

    /// The subscriptions whose ids are in the set at `index_key`, sorted by id: the set and
    /// the subscriptions read by one script (one round trip; they share the `{abo}` slot).
    async fn subscriptions_in(&self, index_key: String) -> StoreResult<Vec<Subscription>> {
        let mut conn = self.conn.clone();
        let raw: Vec<Option<String>> = READ_INDEXED
            .key(index_key)
            .arg(self.keys.subscription(""))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("get subscriptions"))?;
        let mut out = raw
            .into_iter()
            .flatten()
            .map(|s| from_json("get subscriptions", &s))
            .collect::<StoreResult<Vec<Subscription>>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

#[async_trait]
impl SubscriptionStore for RedisStore {
    async fn put_subscription(&self, s: &Subscription) -> StoreResult<()> {
        let w = self.writer();
        w.write_subscription(s, "put").await?;
        w.durable("put subscription").await
    }

    async fn create_subscription(&self, s: &Subscription) -> StoreResult<bool> {
        let w = self.writer();
        let created = w.write_subscription(s, "create").await?;
        if created {
            w.durable("create subscription").await?;
        }
        Ok(created)
    }

    async fn subscription(&self, id: &str) -> StoreResult<Option<Subscription>> {
        self.get_json("get subscription", &self.keys.subscription(id))
            .await
    }

    async fn subscriptions_for(
        &self,
        resource: &ResourceId,
        uai: &Uai,
    ) -> StoreResult<Vec<Subscription>> {
        let mut out = self
            .subscriptions_in(
                self.keys
                    .subscription_index(resource.as_str(), uai.as_str()),
            )
            .await?;
        out.retain(|s| &s.resource_id == resource && s.covers(uai));
        Ok(out)
    }

    async fn subscriptions_at(&self, uai: &Uai) -> StoreResult<Vec<Subscription>> {
        let mut out = self
            .subscriptions_in(format!(
                "{}{}",
                self.keys.school_subscriptions_prefix(),
                uai.as_str()
            ))
            .await?;
        out.retain(|s| s.covers(uai));
        Ok(out)
    }

    async fn assignments_many(
        &self,
        subscription_ids: &[String],
        uai: &Uai,
    ) -> StoreResult<Vec<Vec<Assignment>>> {
        if subscription_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in subscription_ids {
            pipe.cmd("SMEMBERS")
                .arg(self.keys.assignments(id, uai.as_str()));
        }
        let mut conn = self.conn.clone();
        let raw: Vec<Vec<String>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(unavailable("list assignments"))?;
        raw.iter()
            .map(|set| {
                set.iter()
                    .map(|a| from_json("list assignments", a))
                    .collect::<StoreResult<Vec<Assignment>>>()
            })
            .collect()
    }

    async fn reindex_subscriptions(&self, distributors: &[String]) -> StoreResult<usize> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        let marker = this.keys.school_index_marker();
        let done: Option<String> = self
            .query("school index marker", redis::cmd("GET").arg(&marker))
            .await?;
        if done.is_some() {
            return Ok(0);
        }
        let mut n = 0;
        for d in distributors {
            for s in this.subscriptions_of(d).await? {
                this.write_subscription(&s, "put").await?;
                n += 1;
            }
        }
        this.query::<()>(
            "school index marker",
            redis::cmd("SET").arg(&marker).arg("1"),
        )
        .await?;
        Ok(n)
    }

    async fn subscriptions_of(&self, distributor_id: &str) -> StoreResult<Vec<Subscription>> {
        let mut out = self
            .subscriptions_in(self.keys.distributor_subscriptions(distributor_id))
            .await?;
        out.retain(|s| s.distributor_id == distributor_id);
        Ok(out)
    }

    async fn add_assignment(&self, a: &Assignment) -> StoreResult<bool> {
        let w = self.writer();
        let mut conn = w.conn.clone();
        let added: i64 = Script::new(ADD_ASSIGNMENT)
            .key(self.keys.assignments(&a.subscription_id, a.uai.as_str()))
            .key(self.keys.assignments_version(&a.subscription_id))
            .key(self.keys.listing_stamp(a.uai.as_str()))
            .arg(to_json("add assignment", a)?)
            .arg(fresh_stamp())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("add assignment"))?;
        if added == 1 {
            w.durable("add assignment").await?;
        }
        Ok(added == 1)
    }

    async fn remove_assignment(&self, a: &Assignment) -> StoreResult<bool> {
        let w = self.writer();
        let mut conn = w.conn.clone();
        let removed: i64 = Script::new(REMOVE_ASSIGNMENT)
            .key(self.keys.assignments(&a.subscription_id, a.uai.as_str()))
            .key(self.keys.assignments_version(&a.subscription_id))
            .key(self.keys.listing_stamp(a.uai.as_str()))
            .arg(to_json("remove assignment", a)?)
            .arg(fresh_stamp())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("remove assignment"))?;
        if removed == 1 {
            w.durable("remove assignment").await?;
        }
        Ok(removed == 1)
    }

    async fn assignments_version(&self, subscription_id: &str) -> StoreResult<u64> {
        let v: Option<u64> = self
            .query(
                "assignments version",
                redis::cmd("GET").arg(self.keys.assignments_version(subscription_id)),
            )
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn add_assignment_if(&self, a: &Assignment, version: u64) -> StoreResult<Conditional> {
        let w = self.writer();
        let mut conn = w.conn.clone();
        let r: i64 = Script::new(ADD_ASSIGNMENT_IF)
            .key(self.keys.assignments(&a.subscription_id, a.uai.as_str()))
            .key(self.keys.assignments_version(&a.subscription_id))
            .key(self.keys.listing_stamp(a.uai.as_str()))
            .arg(to_json("add assignment", a)?)
            .arg(fresh_stamp())
            .arg(version)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("add assignment"))?;
        if r == 1 {
            w.durable("add assignment").await?;
        }
        Ok(match r {
            1 => Conditional::Done,
            0 => Conditional::Unchanged,
            _ => Conditional::Conflict,
        })
    }

    async fn assignments(&self, subscription_id: &str, uai: &Uai) -> StoreResult<Vec<Assignment>> {
        let raw: Vec<String> = self
            .query(
                "list assignments",
                redis::cmd("SMEMBERS").arg(self.keys.assignments(subscription_id, uai.as_str())),
            )
            .await?;
        raw.iter()
            .map(|s| from_json("list assignments", s))
            .collect()
    }
}
