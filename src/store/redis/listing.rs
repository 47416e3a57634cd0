//! The listing's fresh reads on Redis: one script in the ENT's directory slot (live version,
//! person, school) and one `MGET` of the stamps in the `{abo}` slot, sent together.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::{from_json, unavailable, RedisStore, PLACEHOLDER};
use crate::domain::{IdEnt, Uai};
use crate::store::{ListingProbe, ListingStamp, ListingStore, StoreResult};

/// KEYS[1] = the ENT's `current` pointer; ARGV = the versioned hashes' common start, the
/// person id, the UAI. Returns the person's JSON in the live version ('' when absent) and 1
/// when the school is in that version. The hashes share the pointer's slot.
const LISTING_PROBE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return {'', 0} end
local base = ARGV[1] .. v
local person = redis.call('HGET', base .. ':persons', ARGV[2]) or ''
return {person, redis.call('HEXISTS', base .. ':schools', ARGV[3])}
";

static PROBE: LazyLock<Script> = LazyLock::new(|| Script::new(LISTING_PROBE));

#[async_trait]
impl ListingStore for RedisStore {
    async fn listing_probe(
        &self,
        ent: &IdEnt,
        uai: &Uai,
        person_id: &str,
    ) -> StoreResult<ListingProbe> {
        let (mut c1, mut c2) = (self.conn.clone(), self.conn.clone());
        let mut probe = PROBE.key(self.keys.dir_current(ent.as_str()));
        probe
            .arg(self.keys.dir_version_base(ent.as_str()))
            .arg(person_id)
            .arg(uai.as_str());
        let stamps_cmd = redis::cmd("MGET")
            .arg(self.keys.listing_stamp(uai.as_str()))
            .arg(self.keys.catalogue_stamp())
            .to_owned();
        // Both requests are in flight together. What the listing reads about the school after
        // this call is at least as new as the stamps.
        let stamps = stamps_cmd.query_async::<(Option<u64>, Option<u64>)>(&mut c2);
        let found = probe.invoke_async::<(String, i64)>(&mut c1);
        let (stamps, found) = tokio::join!(stamps, found);
        let (school, catalogue) = stamps.map_err(unavailable("listing stamps"))?;
        let (person, school_known) = found.map_err(unavailable("listing probe"))?;
        let person = if person.is_empty() || person_id == PLACEHOLDER {
            None
        } else {
            Some(from_json("listing person", &person)?)
        };
        Ok(ListingProbe {
            school_known: school_known == 1,
            person,
            stamp: ListingStamp {
                school: school.unwrap_or(0),
                catalogue: catalogue.unwrap_or(0),
            },
        })
    }
}
