//! The Redis store's [`DirectoryStore`]: versioned directories switched by a pointer, the
//! school index binding schools to ENTs, and the reads of persons, schools and groups.

use std::collections::BTreeSet;

use async_trait::async_trait;
use redis::Script;

use super::{from_json, to_json, unavailable, RedisStore, PLACEHOLDER};
use crate::domain::{Directory, Group, IdEnt, Person, School, Uai};
use crate::store::{DirectoryStore, Replaced, StoreError, StoreResult};

/// Fields written per HSET command when a directory is imported.
const BATCH: usize = 1000;

/// KEYS[1] = an ENT's `current` pointer; ARGV = the versioned hashes' common start, the
/// hash's kind (`persons`, `schools`, `groups`), the field. Returns the field of that hash in
/// the live version (nil when there is no directory or no such field). The hashes share the
/// pointer's slot.
const DIR_FIELD_SCRIPT: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return false end
return redis.call('HGET', ARGV[1] .. v .. ':' .. ARGV[2], ARGV[3])
";

static DIR_FIELD: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(DIR_FIELD_SCRIPT));

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

impl RedisStore {
    /// Replaces `ent`'s directory: a new version written, then the pointer switched.
    async fn replace_directory_on(
        &self,
        ent: &IdEnt,
        directory: &Directory,
    ) -> StoreResult<Replaced> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        let e = ent.as_str();
        let version: u64 = self
            .query(
                "directory version",
                redis::cmd("INCR").arg(this.keys.dir_version_seq(e)),
            )
            .await?;
        let (persons, schools, groups, members) = (
            this.keys.dir_persons(e, version),
            this.keys.dir_schools(e, version),
            this.keys.dir_groups(e, version),
            this.keys.dir_school_members(e, version),
        );

        // Write the new version aside; nobody reads it until the pointer moves.
        let mut conn = this.conn.clone();
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
            let mut invocation = script.key(this.keys.school_ent());
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
            let old = this.current_version(e).await?;
            let old_arg = old.map(|v| v.to_string()).unwrap_or_default();
            let (op, os, og, om) = match old {
                Some(v) => (
                    this.keys.dir_persons(e, v),
                    this.keys.dir_schools(e, v),
                    this.keys.dir_groups(e, v),
                    this.keys.dir_school_members(e, v),
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
                    this.query("directory schools", redis::cmd("HKEYS").arg(&os))
                        .await?
                }
                None => Vec::new(),
            };
            let switched: i64 = Script::new(SWITCH_DIRECTORY)
                .key(this.keys.dir_current(e))
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
            let mut invocation = script.key(this.keys.school_ent());
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

    async fn current_version(&self, ent: &str) -> StoreResult<Option<u64>> {
        self.query(
            "directory version",
            redis::cmd("GET").arg(self.keys.dir_current(ent)),
        )
        .await
    }

    /// Reads `field` of the hash `kind` (`persons`, `schools`, `groups`) of `ent`'s live
    /// directory: the version pointer and the field in one script (one round trip, and no
    /// replacement of the directory between the two reads).
    async fn dir_field(
        &self,
        op: &str,
        ent: &str,
        kind: &str,
        field: &str,
    ) -> StoreResult<Option<String>> {
        let mut conn = self.conn.clone();
        DIR_FIELD
            .key(self.keys.dir_current(ent))
            .arg(self.keys.dir_version_base(ent))
            .arg(kind)
            .arg(field)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable(op))
    }
}

#[async_trait]
impl DirectoryStore for RedisStore {
    async fn replace_directory(&self, ent: &IdEnt, directory: &Directory) -> StoreResult<Replaced> {
        let w = self.writer();
        let replaced = w.replace_directory_on(ent, directory).await?;
        if replaced == Replaced::Done {
            w.bulk().durable("replace directory").await?;
        }
        Ok(replaced)
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
        let w = self.writer();
        let mut conn = w.conn.clone();
        let old: Option<String> = Script::new(BIND_SCHOOL)
            .key(self.keys.school_ent())
            .arg(uai.as_str())
            .arg(ent.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable("bind school"))?;
        w.durable("bind school").await?;
        Ok(old.and_then(|e| e.parse().ok()))
    }

    async fn person(&self, ent: &IdEnt, id: &str) -> StoreResult<Option<Person>> {
        if id == PLACEHOLDER {
            return Ok(None);
        }
        let raw = self
            .dir_field("get person", ent.as_str(), "persons", id)
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
            .dir_field("get school", &ent, "schools", uai.as_str())
            .await?;
        raw.map(|s| from_json("get school", &s)).transpose()
    }

    async fn schools(&self) -> StoreResult<Vec<School>> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        let index: std::collections::HashMap<String, String> = self
            .query(
                "school index",
                redis::cmd("HGETALL").arg(this.keys.school_ent()),
            )
            .await?;
        let ents: BTreeSet<String> = index.into_values().collect();
        let mut all = Vec::new();
        for ent in ents {
            let Some(v) = this.current_version(&ent).await? else {
                continue;
            };
            let raw: Vec<String> = self
                .query(
                    "list schools",
                    redis::cmd("HVALS").arg(this.keys.dir_schools(&ent, v)),
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
            .dir_field("get groups", &ent, "groups", uai.as_str())
            .await?;
        Ok(raw
            .map(|s| from_json("get groups", &s))
            .transpose()?
            .unwrap_or_default())
    }

    async fn school_persons(&self, uai: &Uai) -> StoreResult<Vec<Person>> {
        // Work that grows with the data: the bulk deadline.
        let this = self.bulk();
        let ent: Option<String> = self
            .query(
                "school index",
                redis::cmd("HGET")
                    .arg(this.keys.school_ent())
                    .arg(uai.as_str()),
            )
            .await?;
        let Some(ent) = ent else {
            return Ok(Vec::new());
        };
        let op = "school persons";
        for _ in 0..3 {
            let Some(v) = this.current_version(&ent).await? else {
                return Ok(Vec::new());
            };
            let members = this.keys.dir_school_members(&ent, v);
            let ids: Option<String> = self
                .query(op, redis::cmd("HGET").arg(&members).arg(uai.as_str()))
                .await?;
            let ids: Vec<String> = match ids {
                Some(json) => from_json(op, &json)?,
                None => {
                    let indexed: bool = this.query(op, redis::cmd("EXISTS").arg(&members)).await?;
                    if indexed {
                        return Ok(Vec::new()); // nobody in that school
                    }
                    if this.current_version(&ent).await? != Some(v) {
                        continue; // replaced in between: read the new version
                    }
                    // A directory imported before the members index: read every person.
                    this.query(op, redis::cmd("HKEYS").arg(this.keys.dir_persons(&ent, v)))
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
                            .arg(this.keys.dir_persons(&ent, v))
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
            if complete || this.current_version(&ent).await? == Some(v) {
                return Ok(out);
            }
        }
        Err(StoreError::Unavailable(format!(
            "redis {op}: the directory kept changing while being read"
        )))
    }
}
