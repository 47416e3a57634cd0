//! The Redis store: the shared state of several gateway nodes, on one Redis or a Redis Cluster.
//!
//! One-time operations are single atomic commands (`GETDEL`, `SET NX PX`); multi-key updates
//! are Lua scripts over keys that share a hash tag (see `keys`), so they stay atomic in a
//! cluster. A directory is replaced by writing a new version and switching a pointer, so
//! readers see the old directory or the new one, never a mix. Values are JSON; errors name the
//! operation, never a stored value.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

mod audience;
mod listing;

use super::keys::Keys;

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
use super::{
    CatalogueStore, DirectoryStore, Health, LoginStateStore, Replaced, SessionStore, StoreError,
    StoreResult, SubscriptionStore, TokenStore,
};
use crate::domain::{
    Assignment, Directory, Group, IdEnt, Person, Resource, ResourceId, School, Subscription, Uai,
};
use crate::session::{PendingLogin, Session};

/// Fields written per HSET command when a directory is imported.
const BATCH: usize = 1000;

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

    /// The subscriptions whose ids are in the set at `index_key`, sorted by id.
    async fn subscriptions_in(&self, index_key: String) -> StoreResult<Vec<Subscription>> {
        let ids: Vec<String> = self
            .query("subscription index", redis::cmd("SMEMBERS").arg(index_key))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.subscription(id)).collect();
        let raw: Vec<Option<String>> = self
            .query("get subscriptions", redis::cmd("MGET").arg(keys))
            .await?;
        let mut out = raw
            .into_iter()
            .flatten()
            .map(|s| from_json("get subscriptions", &s))
            .collect::<StoreResult<Vec<Subscription>>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn current_version(&self, ent: &str) -> StoreResult<Option<u64>> {
        self.query(
            "directory version",
            redis::cmd("GET").arg(self.keys.dir_current(ent)),
        )
        .await
    }

    /// Reads `field` of the versioned hash `key_of(version)` of `ent`'s live directory,
    /// retrying once if a concurrent replacement removed the version between the two reads.
    async fn dir_field(
        &self,
        op: &str,
        ent: &str,
        key_of: impl Fn(u64) -> String,
        field: &str,
    ) -> StoreResult<Option<String>> {
        for _ in 0..3 {
            let Some(v) = self.current_version(ent).await? else {
                return Ok(None);
            };
            let value: Option<String> = self
                .query(op, redis::cmd("HGET").arg(key_of(v)).arg(field))
                .await?;
            if value.is_some() || self.current_version(ent).await? == Some(v) {
                return Ok(value);
            }
        }
        Err(StoreError::Unavailable(format!(
            "redis {op}: the directory kept changing while being read"
        )))
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn put_session(&self, session: &Session, ttl: Duration) -> StoreResult<()> {
        self.set_json_px("put session", &self.keys.session(&session.id), session, ttl)
            .await
    }

    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>> {
        self.get_json("get session", &self.keys.session(id)).await
    }

    async fn delete_session(&self, id: &str) -> StoreResult<()> {
        self.query(
            "delete session",
            redis::cmd("DEL").arg(self.keys.session(id)),
        )
        .await
    }
}

#[async_trait]
impl LoginStateStore for RedisStore {
    async fn put_pending_login(&self, login: &PendingLogin, ttl: Duration) -> StoreResult<()> {
        self.set_json_px(
            "put pending login",
            &self.keys.pending_login(&login.id),
            login,
            ttl,
        )
        .await
    }

    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        self.get_json("get pending login", &self.keys.pending_login(id))
            .await
    }

    async fn take_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        let raw: Option<String> = self
            .query(
                "take pending login",
                redis::cmd("GETDEL").arg(self.keys.pending_login(id)),
            )
            .await?;
        raw.map(|s| from_json("take pending login", &s)).transpose()
    }

    async fn remember_once(&self, namespace: &str, id: &str, ttl: Duration) -> StoreResult<bool> {
        let set: Option<String> = self
            .query(
                "remember once",
                redis::cmd("SET")
                    .arg(self.keys.once(namespace, id))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await?;
        Ok(set.is_some())
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn put_token(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
        ttl: Duration,
    ) -> StoreResult<()> {
        self.set_json_px("put token", &self.keys.token(kind, key), value, ttl)
            .await
    }

    async fn get_token(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.get_json("get token", &self.keys.token(kind, key))
            .await
    }

    async fn delete_token(&self, kind: &str, key: &str) -> StoreResult<()> {
        self.query(
            "delete token",
            redis::cmd("DEL").arg(self.keys.token(kind, key)),
        )
        .await
    }
}

/// A field that keeps empty hashes in existence; no id is empty, so it never shadows one.
const PLACEHOLDER: &str = "";

/// Removes from the school index (KEYS[1]) the UAIs ARGV[2..] that still point at ENT ARGV[1].
const FORGET_SCHOOLS: &str = r"
local n = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n
";

/// Binds the schools ARGV[2..] to ENT ARGV[1] in the school index (KEYS[1]) if none is bound to
/// another ENT; otherwise binds nothing and returns `{uai, its ENT}` of the first that is.
const CLAIM_SCHOOLS: &str = r"
for i = 2, #ARGV do
  local bound = redis.call('HGET', KEYS[1], ARGV[i])
  if bound and bound ~= ARGV[1] then return {ARGV[i], bound} end
end
for i = 2, #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
end
return {}
";

/// Binds school ARGV[1] to ENT ARGV[2] in the school index (KEYS[1]); returns the previous ENT.
const BIND_SCHOOL: &str = r"
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old
";

/// Switches an ENT's directory to a new version if the live one is still `ARGV[1]` (or none,
/// when `ARGV[1]` is empty), then unlinks the old version's hashes. Returns 1 when switched.
const SWITCH_DIRECTORY: &str = r"
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[1] ~= '' then redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5]) end
return 1
";

#[async_trait]
impl DirectoryStore for RedisStore {
    async fn replace_directory(&self, ent: &IdEnt, directory: &Directory) -> StoreResult<Replaced> {
        let e = ent.as_str();
        let version: u64 = self
            .query(
                "directory version",
                redis::cmd("INCR").arg(self.keys.dir_version_seq(e)),
            )
            .await?;
        let (persons, schools, groups, members) = (
            self.keys.dir_persons(e, version),
            self.keys.dir_schools(e, version),
            self.keys.dir_groups(e, version),
            self.keys.dir_school_members(e, version),
        );

        // Write the new version aside; nobody reads it until the pointer moves.
        let mut conn = self.conn.clone();
        let mut fields: Vec<(String, String)> = Vec::with_capacity(directory.persons.len());
        for p in &directory.persons {
            fields.push((p.id.clone(), to_json("import person", p)?));
        }
        for chunk in fields.chunks(BATCH) {
            redis::cmd("HSET")
                .arg(&persons)
                .arg(chunk)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable("import persons"))?;
        }
        let mut school_fields = Vec::new();
        for s in &directory.schools {
            school_fields.push((s.uai.to_string(), to_json("import school", s)?));
        }
        let mut by_school: std::collections::BTreeMap<&Uai, Vec<&Group>> =
            std::collections::BTreeMap::new();
        for g in &directory.groups {
            by_school.entry(&g.uai).or_default().push(g);
        }
        let mut group_fields = Vec::new();
        for (uai, gs) in by_school {
            group_fields.push((uai.to_string(), to_json("import groups", &gs)?));
        }
        let mut by_school: std::collections::BTreeMap<&Uai, Vec<&str>> =
            std::collections::BTreeMap::new();
        for p in &directory.persons {
            for sp in &p.profiles {
                let ids = by_school.entry(&sp.uai).or_default();
                if ids.last() != Some(&p.id.as_str()) {
                    ids.push(&p.id);
                }
            }
        }
        let mut member_fields = Vec::new();
        for (uai, ids) in by_school {
            member_fields.push((uai.to_string(), to_json("import members", &ids)?));
        }
        // Placeholder fields keep empty hashes in existence, so "version present" is checkable.
        school_fields.push((PLACEHOLDER.into(), "null".into()));
        group_fields.push((PLACEHOLDER.into(), "null".into()));
        member_fields.push((PLACEHOLDER.into(), "null".into()));
        for chunk in member_fields.chunks(BATCH) {
            redis::cmd("HSET")
                .arg(&members)
                .arg(chunk)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable("import members"))?;
        }
        for chunk in school_fields.chunks(BATCH) {
            redis::cmd("HSET")
                .arg(&schools)
                .arg(chunk)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable("import schools"))?;
        }
        for chunk in group_fields.chunks(BATCH) {
            redis::cmd("HSET")
                .arg(&groups)
                .arg(chunk)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable("import groups"))?;
        }
        if directory.persons.is_empty() {
            redis::cmd("HSET")
                .arg(&persons)
                .arg(PLACEHOLDER)
                .arg("null")
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable("import persons"))?;
        }

        // Bind the schools to this ENT, none of them bound to another: one atomic step, so that
        // two ENTs importing one school at the same moment cannot both take it.
        let new: BTreeSet<String> = directory
            .schools
            .iter()
            .map(|s| s.uai.to_string())
            .collect();
        if !new.is_empty() {
            let script = Script::new(CLAIM_SCHOOLS);
            let mut invocation = script.key(self.keys.school_ent());
            invocation.arg(e);
            for uai in &new {
                invocation.arg(uai);
            }
            let taken: Vec<String> = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable("school index"))?;
            if let [uai, other] = taken.as_slice() {
                // Nobody reads the version written aside: drop it.
                let _: Result<(), _> = redis::cmd("UNLINK")
                    .arg(&persons)
                    .arg(&schools)
                    .arg(&groups)
                    .arg(&members)
                    .query_async(&mut conn)
                    .await;
                return match (uai.parse(), other.parse()) {
                    (Ok(uai), Ok(ent)) => Ok(Replaced::SchoolTaken { uai, ent }),
                    _ => Err(StoreError::Corrupt(format!(
                        "school index entry {uai:?} -> {other:?}"
                    ))),
                };
            }
        }

        // Switch, retrying if another node switched in between.
        let previous = loop {
            let old = self.current_version(e).await?;
            let old_arg = old.map(|v| v.to_string()).unwrap_or_default();
            let (op, os, og, om) = match old {
                Some(v) => (
                    self.keys.dir_persons(e, v),
                    self.keys.dir_schools(e, v),
                    self.keys.dir_groups(e, v),
                    self.keys.dir_school_members(e, v),
                ),
                None => (
                    persons.clone(),
                    schools.clone(),
                    groups.clone(),
                    members.clone(),
                ),
            };
            let old_schools: Vec<String> = match old {
                Some(_) => {
                    self.query("directory schools", redis::cmd("HKEYS").arg(&os))
                        .await?
                }
                None => Vec::new(),
            };
            let switched: i64 = Script::new(SWITCH_DIRECTORY)
                .key(self.keys.dir_current(e))
                .key(&op)
                .key(&os)
                .key(&og)
                .key(&om)
                .arg(&old_arg)
                .arg(version)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable("switch directory"))?;
            if switched == 1 {
                break old_schools;
            }
        };

        // Forget the schools it no longer has.
        let gone: Vec<&String> = previous
            .iter()
            .filter(|u| u.as_str() != PLACEHOLDER && !new.contains(*u))
            .collect();
        if !gone.is_empty() {
            // Only the entries still pointing at this ENT: a school that moved to another ENT
            // keeps its new entry.
            let script = Script::new(FORGET_SCHOOLS);
            let mut invocation = script.key(self.keys.school_ent());
            invocation.arg(e);
            for u in gone {
                invocation.arg(u);
            }
            let _: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable("school index"))?;
        }
        Ok(Replaced::Done)
    }

    async fn school_bindings(&self) -> StoreResult<Vec<(Uai, IdEnt)>> {
        let raw: Vec<(String, String)> = self
            .query(
                "school index",
                redis::cmd("HGETALL").arg(self.keys.school_ent()),
            )
            .await?;
        let mut all: Vec<(Uai, IdEnt)> = raw
            .into_iter()
            .filter_map(|(u, e)| Some((u.parse().ok()?, e.parse().ok()?)))
            .collect();
        all.sort();
        Ok(all)
    }

    async fn bind_school(&self, uai: &Uai, ent: &IdEnt) -> StoreResult<Option<IdEnt>> {
        let mut conn = self.conn.clone();
        let old: Option<String> = Script::new(BIND_SCHOOL)
            .key(self.keys.school_ent())
            .arg(uai.as_str())
            .arg(ent.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("bind school"))?;
        Ok(old.and_then(|e| e.parse().ok()))
    }

    async fn person(&self, ent: &IdEnt, id: &str) -> StoreResult<Option<Person>> {
        if id == PLACEHOLDER {
            return Ok(None);
        }
        let raw = self
            .dir_field(
                "get person",
                ent.as_str(),
                |v| self.keys.dir_persons(ent.as_str(), v),
                id,
            )
            .await?;
        raw.map(|s| from_json("get person", &s)).transpose()
    }

    async fn school(&self, uai: &Uai) -> StoreResult<Option<School>> {
        let ent: Option<String> = self
            .query(
                "school index",
                redis::cmd("HGET")
                    .arg(self.keys.school_ent())
                    .arg(uai.as_str()),
            )
            .await?;
        let Some(ent) = ent else { return Ok(None) };
        let raw = self
            .dir_field(
                "get school",
                &ent,
                |v| self.keys.dir_schools(&ent, v),
                uai.as_str(),
            )
            .await?;
        raw.map(|s| from_json("get school", &s)).transpose()
    }

    async fn schools(&self) -> StoreResult<Vec<School>> {
        let index: std::collections::HashMap<String, String> = self
            .query(
                "school index",
                redis::cmd("HGETALL").arg(self.keys.school_ent()),
            )
            .await?;
        let ents: BTreeSet<String> = index.into_values().collect();
        let mut all = Vec::new();
        for ent in ents {
            let Some(v) = self.current_version(&ent).await? else {
                continue;
            };
            let raw: Vec<String> = self
                .query(
                    "list schools",
                    redis::cmd("HVALS").arg(self.keys.dir_schools(&ent, v)),
                )
                .await?;
            for s in raw.iter().filter(|s| s.as_str() != "null") {
                all.push(from_json::<School>("list schools", s)?);
            }
        }
        all.sort_by(|a, b| a.uai.cmp(&b.uai));
        Ok(all)
    }

    async fn school_groups(&self, uai: &Uai) -> StoreResult<Vec<Group>> {
        let ent: Option<String> = self
            .query(
                "school index",
                redis::cmd("HGET")
                    .arg(self.keys.school_ent())
                    .arg(uai.as_str()),
            )
            .await?;
        let Some(ent) = ent else {
            return Ok(Vec::new());
        };
        let raw = self
            .dir_field(
                "get groups",
                &ent,
                |v| self.keys.dir_groups(&ent, v),
                uai.as_str(),
            )
            .await?;
        Ok(raw
            .map(|s| from_json("get groups", &s))
            .transpose()?
            .unwrap_or_default())
    }

    async fn school_persons(&self, uai: &Uai) -> StoreResult<Vec<Person>> {
        let ent: Option<String> = self
            .query(
                "school index",
                redis::cmd("HGET")
                    .arg(self.keys.school_ent())
                    .arg(uai.as_str()),
            )
            .await?;
        let Some(ent) = ent else {
            return Ok(Vec::new());
        };
        let op = "school persons";
        for _ in 0..3 {
            let Some(v) = self.current_version(&ent).await? else {
                return Ok(Vec::new());
            };
            let members = self.keys.dir_school_members(&ent, v);
            let ids: Option<String> = self
                .query(op, redis::cmd("HGET").arg(&members).arg(uai.as_str()))
                .await?;
            let ids: Vec<String> = match ids {
                Some(json) => from_json(op, &json)?,
                None => {
                    let indexed: bool = self.query(op, redis::cmd("EXISTS").arg(&members)).await?;
                    if indexed {
                        return Ok(Vec::new()); // nobody in that school
                    }
                    if self.current_version(&ent).await? != Some(v) {
                        continue; // replaced in between: read the new version
                    }
                    // A directory imported before the members index: read every person.
                    self.query(op, redis::cmd("HKEYS").arg(self.keys.dir_persons(&ent, v)))
                        .await?
                }
            };
            let mut out = Vec::with_capacity(ids.len());
            let mut complete = true;
            for chunk in ids.chunks(BATCH) {
                let raw: Vec<Option<String>> = self
                    .query(
                        op,
                        redis::cmd("HMGET")
                            .arg(self.keys.dir_persons(&ent, v))
                            .arg(chunk),
                    )
                    .await?;
                for r in raw {
                    match r.as_deref() {
                        Some("null") => {}
                        Some(json) => {
                            let p: Person = from_json(op, json)?;
                            if p.profile_in(uai).is_some() {
                                out.push(p);
                            }
                        }
                        None => complete = false,
                    }
                }
            }
            if complete || self.current_version(&ent).await? == Some(v) {
                return Ok(out);
            }
        }
        Err(StoreError::Unavailable(format!(
            "redis {op}: the directory kept changing while being read"
        )))
    }
}

#[async_trait]
impl CatalogueStore for RedisStore {
    async fn put_resource(&self, resource: &Resource) -> StoreResult<()> {
        let json = to_json("put resource", resource)?;
        self.query::<()>(
            "put resource",
            redis::cmd("HSET")
                .arg(self.keys.catalogue())
                .arg(resource.id.as_str())
                .arg(json),
        )
        .await?;
        // After the write, so that a listing reading the new stamp reads the new resource.
        self.query(
            "catalogue stamp",
            redis::cmd("SET")
                .arg(self.keys.catalogue_stamp())
                .arg(fresh_stamp()),
        )
        .await
    }

    async fn resource(&self, id: &ResourceId) -> StoreResult<Option<Resource>> {
        let raw: Option<String> = self
            .query(
                "get resource",
                redis::cmd("HGET")
                    .arg(self.keys.catalogue())
                    .arg(id.as_str()),
            )
            .await?;
        raw.map(|s| from_json("get resource", &s)).transpose()
    }

    async fn resources_by_id(&self, ids: &[ResourceId]) -> StoreResult<Vec<Option<Resource>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<String>> = self
            .query(
                "get resources",
                redis::cmd("HMGET")
                    .arg(self.keys.catalogue())
                    .arg(ids.iter().map(ResourceId::as_str).collect::<Vec<_>>()),
            )
            .await?;
        raw.iter()
            .map(|r| {
                r.as_deref()
                    .map(|s| from_json("get resources", s))
                    .transpose()
            })
            .collect()
    }

    async fn resources(&self) -> StoreResult<Vec<Resource>> {
        let raw: Vec<String> = self
            .query(
                "list resources",
                redis::cmd("HVALS").arg(self.keys.catalogue()),
            )
            .await?;
        let mut all = raw
            .iter()
            .map(|s| from_json("list resources", s))
            .collect::<StoreResult<Vec<Resource>>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }
}

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

#[async_trait]
impl SubscriptionStore for RedisStore {
    async fn put_subscription(&self, s: &Subscription) -> StoreResult<()> {
        self.write_subscription(s, "put").await.map(|_| ())
    }

    async fn create_subscription(&self, s: &Subscription) -> StoreResult<bool> {
        self.write_subscription(s, "create").await
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
        let marker = self.keys.school_index_marker();
        let done: Option<String> = self
            .query("school index marker", redis::cmd("GET").arg(&marker))
            .await?;
        if done.is_some() {
            return Ok(0);
        }
        let mut n = 0;
        for d in distributors {
            for s in self.subscriptions_of(d).await? {
                self.write_subscription(&s, "put").await?;
                n += 1;
            }
        }
        self.query::<()>(
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
        let mut conn = self.conn.clone();
        let added: i64 = Script::new(ADD_ASSIGNMENT)
            .key(self.keys.assignments(&a.subscription_id, a.uai.as_str()))
            .key(self.keys.assignments_version(&a.subscription_id))
            .key(self.keys.listing_stamp(a.uai.as_str()))
            .arg(to_json("add assignment", a)?)
            .arg(fresh_stamp())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("add assignment"))?;
        Ok(added == 1)
    }

    async fn remove_assignment(&self, a: &Assignment) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let removed: i64 = Script::new(REMOVE_ASSIGNMENT)
            .key(self.keys.assignments(&a.subscription_id, a.uai.as_str()))
            .key(self.keys.assignments_version(&a.subscription_id))
            .key(self.keys.listing_stamp(a.uai.as_str()))
            .arg(to_json("remove assignment", a)?)
            .arg(fresh_stamp())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("remove assignment"))?;
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

    async fn add_assignment_if(
        &self,
        a: &Assignment,
        version: u64,
    ) -> StoreResult<super::Conditional> {
        let mut conn = self.conn.clone();
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
        Ok(match r {
            1 => super::Conditional::Done,
            0 => super::Conditional::Unchanged,
            _ => super::Conditional::Conflict,
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

#[async_trait]
impl Health for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.query("ping", &redis::cmd("PING")).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
