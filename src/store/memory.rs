//! The in-memory store: the embedded default for the demo, single-node trials and tests.
//!
//! Everything lives in one process behind a mutex; expiry uses tokio's clock, so tests can
//! pause and advance it. Data does not survive a restart.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::time::Instant;

use crate::domain::{AudienceEvent, CountsDump, Decided};

mod audience;
mod expiring;
mod outbox;

use expiring::Expiring;

use super::{
    AudienceStore, CatalogueStore, Delivered, DirectoryStore, Health, ListingProbe, ListingStamp,
    ListingStore, LoginStateStore, Replaced, SessionStore, StoreResult, SubscriptionStore,
    TokenStore,
};
use crate::domain::{
    Assignment, Directory, Group, IdEnt, Person, Resource, ResourceId, School, Subscription, Uai,
};
use crate::session::{PendingLogin, Session};

#[derive(Default)]
struct Inner {
    sessions: Expiring<Session>,
    logins: Expiring<PendingLogin>,
    once: Expiring<()>,
    tokens: Expiring<serde_json::Value>,
    directories: HashMap<IdEnt, DirIndex>,
    school_ent: HashMap<Uai, IdEnt>,
    catalogue: HashMap<ResourceId, Resource>,
    subscriptions: HashMap<String, Subscription>,
    assignments: HashMap<(String, Uai), HashSet<AssignmentKey>>,
    assignment_versions: HashMap<String, u64>,
    /// Listing stamps: per school, and the catalogue's.
    school_stamps: HashMap<Uai, u64>,
    catalogue_stamp: u64,
}

impl Inner {
    /// Moves the listing stamp of every school `subscription` covers.
    fn touch_schools(&mut self, subscription: &Subscription) {
        for uai in &subscription.uais {
            self.touch_school(uai);
        }
    }

    fn touch_school(&mut self, uai: &Uai) {
        *self.school_stamps.entry(uai.clone()).or_insert(0) += 1;
    }
}

#[derive(Default)]
struct DirIndex {
    persons: HashMap<String, Person>,
    schools: HashMap<Uai, School>,
    groups: HashMap<Uai, Vec<Group>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct AssignmentKey(String);

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    audience: Mutex<audience::AudienceMemory>,
    outbox: Mutex<outbox::OutboxMemory>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn audience(&self) -> std::sync::MutexGuard<'_, audience::AudienceMemory> {
        self.audience.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written value: every update below
        // replaces whole entries.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn encode(a: &Assignment) -> AssignmentKey {
    // Serialising a plain struct of strings cannot fail.
    AssignmentKey(serde_json::to_string(a).unwrap_or_default())
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn put_session(&self, session: &Session, ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        self.lock()
            .sessions
            .insert(session.id.clone(), session.clone(), now + ttl, now);
        Ok(())
    }

    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>> {
        Ok(self.lock().sessions.get(id, Instant::now()))
    }

    async fn delete_session(&self, id: &str) -> StoreResult<()> {
        self.lock().sessions.remove(id, Instant::now());
        Ok(())
    }
}

#[async_trait]
impl LoginStateStore for MemoryStore {
    async fn put_pending_login(&self, login: &PendingLogin, ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        self.lock()
            .logins
            .insert(login.id.clone(), login.clone(), now + ttl, now);
        Ok(())
    }

    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        Ok(self.lock().logins.get(id, Instant::now()))
    }

    async fn take_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        Ok(self.lock().logins.remove(id, Instant::now()))
    }

    async fn remember_once(&self, namespace: &str, id: &str, ttl: Duration) -> StoreResult<bool> {
        let mut g = self.lock();
        let now = Instant::now();
        let key = format!("{namespace}\u{0}{id}");
        if g.once.get(&key, now).is_some() {
            return Ok(false);
        }
        g.once.insert(key, (), now + ttl, now);
        Ok(true)
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn put_token(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
        ttl: Duration,
    ) -> StoreResult<()> {
        let now = Instant::now();
        self.lock()
            .tokens
            .insert(format!("{kind}\u{0}{key}"), value.clone(), now + ttl, now);
        Ok(())
    }

    async fn get_token(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        Ok(self
            .lock()
            .tokens
            .get(&format!("{kind}\u{0}{key}"), Instant::now()))
    }

    async fn delete_token(&self, kind: &str, key: &str) -> StoreResult<()> {
        self.lock()
            .tokens
            .remove(&format!("{kind}\u{0}{key}"), Instant::now());
        Ok(())
    }

    async fn take_token(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        Ok(self
            .lock()
            .tokens
            .remove(&format!("{kind}\u{0}{key}"), Instant::now()))
    }
}

#[async_trait]
impl DirectoryStore for MemoryStore {
    async fn replace_directory(&self, ent: &IdEnt, directory: &Directory) -> StoreResult<Replaced> {
        let mut index = DirIndex::default();
        for p in &directory.persons {
            index.persons.insert(p.id.clone(), p.clone());
        }
        for s in &directory.schools {
            index.schools.insert(s.uai.clone(), s.clone());
        }
        for grp in &directory.groups {
            index
                .groups
                .entry(grp.uai.clone())
                .or_default()
                .push(grp.clone());
        }
        let mut g = self.lock();
        if let Some((uai, other)) = index.schools.keys().find_map(|uai| {
            g.school_ent
                .get(uai)
                .filter(|bound| *bound != ent)
                .map(|bound| (uai.clone(), bound.clone()))
        }) {
            return Ok(Replaced::SchoolTaken { uai, ent: other });
        }
        // As in Redis: forget the schools the ENT no longer has, unless they moved to another.
        let previous: Vec<Uai> = g
            .directories
            .get(ent)
            .map(|d| d.schools.keys().cloned().collect())
            .unwrap_or_default();
        for uai in previous {
            if !index.schools.contains_key(&uai) && g.school_ent.get(&uai) == Some(ent) {
                g.school_ent.remove(&uai);
            }
        }
        for uai in index.schools.keys() {
            g.school_ent.insert(uai.clone(), ent.clone());
        }
        g.directories.insert(ent.clone(), index);
        Ok(Replaced::Done)
    }

    async fn school_bindings(&self) -> StoreResult<Vec<(Uai, IdEnt)>> {
        let mut all: Vec<(Uai, IdEnt)> = self
            .lock()
            .school_ent
            .iter()
            .map(|(u, e)| (u.clone(), e.clone()))
            .collect();
        all.sort();
        Ok(all)
    }

    async fn bind_school(&self, uai: &Uai, ent: &IdEnt) -> StoreResult<Option<IdEnt>> {
        Ok(self.lock().school_ent.insert(uai.clone(), ent.clone()))
    }

    async fn person(&self, ent: &IdEnt, id: &str) -> StoreResult<Option<Person>> {
        Ok(self
            .lock()
            .directories
            .get(ent)
            .and_then(|d| d.persons.get(id).cloned()))
    }

    async fn school(&self, uai: &Uai) -> StoreResult<Option<School>> {
        let g = self.lock();
        Ok(g.school_ent
            .get(uai)
            .and_then(|ent| g.directories.get(ent))
            .and_then(|d| d.schools.get(uai).cloned()))
    }

    async fn schools(&self) -> StoreResult<Vec<School>> {
        let mut all: Vec<School> = self
            .lock()
            .directories
            .values()
            .flat_map(|d| d.schools.values().cloned())
            .collect();
        all.sort_by(|a, b| a.uai.cmp(&b.uai));
        Ok(all)
    }

    async fn school_groups(&self, uai: &Uai) -> StoreResult<Vec<Group>> {
        let g = self.lock();
        Ok(g.school_ent
            .get(uai)
            .and_then(|ent| g.directories.get(ent))
            .and_then(|d| d.groups.get(uai).cloned())
            .unwrap_or_default())
    }

    async fn school_persons(&self, uai: &Uai) -> StoreResult<Vec<Person>> {
        let g = self.lock();
        Ok(g.school_ent
            .get(uai)
            .and_then(|ent| g.directories.get(ent))
            .map(|d| {
                d.persons
                    .values()
                    .filter(|p| p.profile_in(uai).is_some())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl CatalogueStore for MemoryStore {
    async fn put_resource(&self, resource: &Resource) -> StoreResult<()> {
        let mut g = self.lock();
        g.catalogue.insert(resource.id.clone(), resource.clone());
        g.catalogue_stamp += 1;
        Ok(())
    }

    async fn resource(&self, id: &ResourceId) -> StoreResult<Option<Resource>> {
        Ok(self.lock().catalogue.get(id).cloned())
    }

    async fn resources(&self) -> StoreResult<Vec<Resource>> {
        let mut all: Vec<Resource> = self.lock().catalogue.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn put_subscription(&self, subscription: &Subscription) -> StoreResult<()> {
        let mut g = self.lock();
        if let Some(old) = g
            .subscriptions
            .insert(subscription.id.clone(), subscription.clone())
        {
            g.touch_schools(&old);
        }
        g.touch_schools(subscription);
        Ok(())
    }

    async fn create_subscription(&self, subscription: &Subscription) -> StoreResult<bool> {
        let mut g = self.lock();
        if g.subscriptions.contains_key(&subscription.id) {
            return Ok(false);
        }
        g.subscriptions
            .insert(subscription.id.clone(), subscription.clone());
        g.touch_schools(subscription);
        Ok(true)
    }

    async fn subscription(&self, id: &str) -> StoreResult<Option<Subscription>> {
        Ok(self.lock().subscriptions.get(id).cloned())
    }

    async fn subscriptions_for(
        &self,
        resource: &ResourceId,
        uai: &Uai,
    ) -> StoreResult<Vec<Subscription>> {
        let mut out: Vec<Subscription> = self
            .lock()
            .subscriptions
            .values()
            .filter(|s| &s.resource_id == resource && s.covers(uai))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn subscriptions_of(&self, distributor_id: &str) -> StoreResult<Vec<Subscription>> {
        let mut out: Vec<Subscription> = self
            .lock()
            .subscriptions
            .values()
            .filter(|s| s.distributor_id == distributor_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn subscriptions_at(&self, uai: &Uai) -> StoreResult<Vec<Subscription>> {
        let mut out: Vec<Subscription> = self
            .lock()
            .subscriptions
            .values()
            .filter(|s| s.covers(uai))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn add_assignment(&self, assignment: &Assignment) -> StoreResult<bool> {
        let mut g = self.lock();
        let added = g
            .assignments
            .entry((assignment.subscription_id.clone(), assignment.uai.clone()))
            .or_default()
            .insert(encode(assignment));
        if added {
            *g.assignment_versions
                .entry(assignment.subscription_id.clone())
                .or_insert(0) += 1;
            g.touch_school(&assignment.uai);
        }
        Ok(added)
    }

    async fn remove_assignment(&self, assignment: &Assignment) -> StoreResult<bool> {
        let mut g = self.lock();
        let key = (assignment.subscription_id.clone(), assignment.uai.clone());
        let removed = g
            .assignments
            .get_mut(&key)
            .is_some_and(|set| set.remove(&encode(assignment)));
        if removed {
            *g.assignment_versions
                .entry(assignment.subscription_id.clone())
                .or_insert(0) += 1;
            g.touch_school(&assignment.uai);
        }
        Ok(removed)
    }

    async fn assignments_version(&self, subscription_id: &str) -> StoreResult<u64> {
        Ok(self
            .lock()
            .assignment_versions
            .get(subscription_id)
            .copied()
            .unwrap_or(0))
    }

    async fn add_assignment_if(
        &self,
        assignment: &Assignment,
        version: u64,
    ) -> StoreResult<super::Conditional> {
        let mut g = self.lock();
        let current = g
            .assignment_versions
            .get(&assignment.subscription_id)
            .copied()
            .unwrap_or(0);
        if current != version {
            return Ok(super::Conditional::Conflict);
        }
        let added = g
            .assignments
            .entry((assignment.subscription_id.clone(), assignment.uai.clone()))
            .or_default()
            .insert(encode(assignment));
        if !added {
            return Ok(super::Conditional::Unchanged);
        }
        g.assignment_versions
            .insert(assignment.subscription_id.clone(), current + 1);
        g.touch_school(&assignment.uai);
        Ok(super::Conditional::Done)
    }

    async fn assignments(&self, subscription_id: &str, uai: &Uai) -> StoreResult<Vec<Assignment>> {
        let g = self.lock();
        let Some(set) = g
            .assignments
            .get(&(subscription_id.to_string(), uai.clone()))
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(set.len());
        for AssignmentKey(json) in set {
            out.push(
                serde_json::from_str(json)
                    .map_err(|e| super::StoreError::Corrupt(format!("assignment: {e}")))?,
            );
        }
        Ok(out)
    }
}

#[async_trait]
impl ListingStore for MemoryStore {
    async fn listing_probe(
        &self,
        ent: &IdEnt,
        uai: &Uai,
        person_id: &str,
    ) -> StoreResult<ListingProbe> {
        let g = self.lock();
        let directory = g.directories.get(ent);
        Ok(ListingProbe {
            school_known: directory.is_some_and(|d| d.schools.contains_key(uai)),
            person: directory.and_then(|d| d.persons.get(person_id).cloned()),
            stamp: ListingStamp {
                school: g.school_stamps.get(uai).copied().unwrap_or(0),
                catalogue: g.catalogue_stamp,
            },
        })
    }
}

#[async_trait]
impl AudienceStore for MemoryStore {
    async fn append_events(&self, events: &[String]) -> StoreResult<()> {
        self.audience().append(events);
        Ok(())
    }

    async fn read_events(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        claim_idle: Duration,
    ) -> StoreResult<Vec<Delivered>> {
        Ok(self.audience().read(group, consumer, count, claim_idle))
    }

    async fn create_group(&self, group: &str) -> StoreResult<()> {
        self.audience().create_group(group);
        Ok(())
    }

    async fn ack_events(&self, group: &str, ids: &[String]) -> StoreResult<()> {
        self.audience().ack(group, ids);
        Ok(())
    }

    async fn pending_events(&self, group: &str) -> StoreResult<u64> {
        Ok(self.audience().pending(group))
    }

    async fn trim_events(&self) -> StoreResult<u64> {
        Ok(self.audience().trim())
    }

    async fn decide_events(
        &self,
        events: &[AudienceEvent],
        _stream_ids: &[String],
        _dedup: Duration,
        window: &mut Decided,
    ) -> StoreResult<()> {
        // One process, one lock: counted as decided.
        window.counted += self.audience().count(events);
        Ok(())
    }

    async fn apply_counts(&self, _window: &Decided, _retention: Duration) -> StoreResult<bool> {
        Ok(true)
    }

    async fn audience_cells(&self, keys: &[String]) -> StoreResult<Vec<HashMap<String, i64>>> {
        Ok(self.audience().cells(keys))
    }

    async fn day_salt(
        &self,
        day: NaiveDate,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<u8>> {
        Ok(self.audience().salt(day, expires_at, now))
    }

    async fn has_counts(&self) -> StoreResult<bool> {
        Ok(self.audience().has_counts())
    }

    async fn export_counts(&self, now: DateTime<Utc>) -> StoreResult<CountsDump> {
        Ok(self.audience().dump(now))
    }

    async fn import_counts(
        &self,
        dump: &CountsDump,
        _retention: Duration,
        _now: DateTime<Utc>,
    ) -> StoreResult<()> {
        // Counts kept in memory do not expire: the expiries are not kept.
        self.audience().restore(dump);
        Ok(())
    }
}

#[async_trait]
impl Health for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
