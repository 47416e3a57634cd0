//! What gateway nodes share: the storage traits, and their two implementations.
//!
//! [`memory::MemoryStore`] is the embedded default (demo, single node, tests);
//! [`redis::RedisStore`] is for production, several nodes on one Redis or a Redis Cluster.
//! Both pass the same contract tests (`tests/it/store_contract.rs`).
//!
//! Invariant: only `store::redis` imports the `redis` crate; key names and TTLs of every
//! Redis key family live in `store::keys`.

pub mod backup;
pub mod keys;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod redis;
pub mod settings;

pub use self::memory::MemoryStore;
pub use self::metrics::{StoreMetrics, StoreMetricsSnapshot};
pub use self::outbox::{Claimed, OutboxStore};
pub use self::redis::RedisStore;
pub use self::settings::StoreSettings;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{AudienceEvent, Counted, CountsDump, Decided};

use crate::domain::{
    Assignment, Directory, Group, IdEnt, Person, Resource, ResourceId, School, Subscription, Uai,
};
use crate::session::{PendingLogin, Session};

/// A storage failure. The message names the operation and never carries stored values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored value could not be read: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Gateway sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn put_session(&self, session: &Session, ttl: Duration) -> StoreResult<()>;
    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>>;
    async fn delete_session(&self, id: &str) -> StoreResult<()>;
}

/// Logins started at ENTs, and the one-time-use memory of protocol message ids.
#[async_trait]
pub trait LoginStateStore: Send + Sync {
    async fn put_pending_login(&self, login: &PendingLogin, ttl: Duration) -> StoreResult<()>;
    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>>;
    /// Removes and returns the pending login: of concurrent callers, exactly one gets it.
    async fn take_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>>;
    /// Remembers `id` within `namespace` for `ttl`; `true` the first time, `false` on any
    /// later call while it is remembered (the replay cache of assertion IDs, codes...).
    async fn remember_once(&self, namespace: &str, id: &str, ttl: Duration) -> StoreResult<bool>;
}

/// Short-lived protocol records (OIDC codes, grants, refresh tokens, revocations), opaque to
/// the store: JSON under a `kind` and a key, until their TTL. Callers key them by a hash of
/// any secret they stand for, so the store never holds a usable token.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn put_token(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
        ttl: Duration,
    ) -> StoreResult<()>;
    async fn get_token(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>>;
    async fn delete_token(&self, kind: &str, key: &str) -> StoreResult<()>;
    /// Removes and returns the record: of concurrent callers, exactly one gets it (a CAS
    /// service ticket is consumed by the first validation, on whichever node).
    async fn take_token(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>>;
}

/// What became of a directory replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    Done,
    /// Nothing was replaced: this school of the directory is bound to another ENT (checked
    /// and bound in one atomic step, so two ENTs importing one school at once cannot both
    /// take it).
    SchoolTaken {
        uai: Uai,
        ent: IdEnt,
    },
}

/// The directory of every ENT project.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Replaces one ENT's whole directory; readers see the old one or the new one, never a mix.
    /// Refused whole when one of its schools is bound to another ENT.
    async fn replace_directory(&self, ent: &IdEnt, directory: &Directory) -> StoreResult<Replaced>;
    async fn person(&self, ent: &IdEnt, id: &str) -> StoreResult<Option<Person>>;
    async fn school(&self, uai: &Uai) -> StoreResult<Option<School>>;
    /// Every school of every ENT, sorted by UAI.
    async fn schools(&self) -> StoreResult<Vec<School>>;
    /// The classes and groups of a school.
    async fn school_groups(&self, uai: &Uai) -> StoreResult<Vec<Group>>;
    /// The persons with a profile in a school (of the ENT the school belongs to), in no order.
    async fn school_persons(&self, uai: &Uai) -> StoreResult<Vec<Person>>;
    /// Every school's ENT: the schools imported, and those an operator moved (`bind_school`)
    /// that their new ENT has not yet imported. Imports check them: no ENT takes another's.
    async fn school_bindings(&self) -> StoreResult<Vec<(Uai, IdEnt)>>;
    /// Binds `uai` to `ent` (an operator's move), whatever it was bound to; returns that ENT.
    /// The school is served again once `ent` imports it.
    async fn bind_school(&self, uai: &Uai, ent: &IdEnt) -> StoreResult<Option<IdEnt>>;
}

/// The resource catalogue.
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    async fn put_resource(&self, resource: &Resource) -> StoreResult<()>;
    async fn resource(&self, id: &ResourceId) -> StoreResult<Option<Resource>>;
    async fn resources(&self) -> StoreResult<Vec<Resource>>;
    /// The resources with these ids, in order (`None` for an unknown one), in one call.
    async fn resources_by_id(&self, ids: &[ResourceId]) -> StoreResult<Vec<Option<Resource>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.resource(id).await?);
        }
        Ok(out)
    }
}

/// Subscriptions and assignments.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Creates or replaces a subscription (keeping the resource/school index in step).
    async fn put_subscription(&self, subscription: &Subscription) -> StoreResult<()>;
    /// Stores a new subscription unless its id exists (deleted or not); `false` when it does.
    /// Of concurrent creations of one id, exactly one succeeds.
    async fn create_subscription(&self, subscription: &Subscription) -> StoreResult<bool>;
    async fn subscription(&self, id: &str) -> StoreResult<Option<Subscription>>;
    /// Every subscription (deleted ones included) for `resource` that covers `uai`.
    async fn subscriptions_for(
        &self,
        resource: &ResourceId,
        uai: &Uai,
    ) -> StoreResult<Vec<Subscription>>;
    /// Every subscription (deleted ones included) covering `uai`, sorted by id: what the
    /// listing reads, in one call.
    async fn subscriptions_at(&self, uai: &Uai) -> StoreResult<Vec<Subscription>>;
    /// The assignments of several subscriptions in one school, in order, in one call.
    async fn assignments_many(
        &self,
        subscription_ids: &[String],
        uai: &Uai,
    ) -> StoreResult<Vec<Vec<Assignment>>> {
        let mut out = Vec::with_capacity(subscription_ids.len());
        for id in subscription_ids {
            out.push(self.assignments(id, uai).await?);
        }
        Ok(out)
    }
    /// Builds the per-school subscription sets once for data stored before they existed (the
    /// subscriptions of these distributors); returns how many were re-indexed.
    async fn reindex_subscriptions(&self, _distributors: &[String]) -> StoreResult<usize> {
        Ok(0)
    }
    /// Every subscription (deleted ones included) of one commercial distributor, sorted by id.
    async fn subscriptions_of(&self, distributor_id: &str) -> StoreResult<Vec<Subscription>>;
    /// Adds an assignment; `false` when it already existed.
    async fn add_assignment(&self, assignment: &Assignment) -> StoreResult<bool>;
    /// The version of a subscription's assignments: it changes with every assignment added
    /// or removed.
    async fn assignments_version(&self, subscription_id: &str) -> StoreResult<u64>;
    /// Adds an assignment only if the subscription's assignments are still at `version` (what
    /// the licence check read), atomically across nodes.
    async fn add_assignment_if(
        &self,
        assignment: &Assignment,
        version: u64,
    ) -> StoreResult<Conditional>;
    /// Removes an assignment; `false` when there was none.
    async fn remove_assignment(&self, assignment: &Assignment) -> StoreResult<bool>;
    /// The assignments of one subscription in one school.
    async fn assignments(&self, subscription_id: &str, uai: &Uai) -> StoreResult<Vec<Assignment>>;
}

/// The version of everything a school's listing is built from besides the directory: the
/// school's subscriptions and their assignments, and the catalogue. Equal stamps mean equal
/// data, so a node may reuse what it built for the same stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListingStamp {
    /// Moves with every write of a subscription covering the school (before or after the
    /// write) and every assignment added or removed there.
    pub school: u64,
    /// Moves with every write to the catalogue.
    pub catalogue: u64,
}

/// What one listing request reads fresh, in one round trip.
#[derive(Debug, Clone)]
pub struct ListingProbe {
    /// The school is in the ENT's live directory.
    pub school_known: bool,
    /// The person in the ENT's live directory.
    pub person: Option<Person>,
    /// The school's stamp, read before anything the listing then reads about the school.
    pub stamp: ListingStamp,
}

/// The listing's fresh reads.
#[async_trait]
pub trait ListingStore: Send + Sync {
    /// The person, whether the school is the ENT's, and the school's stamp. Data written
    /// before the stamp moved is visible to reads made after this call.
    async fn listing_probe(
        &self,
        ent: &IdEnt,
        uai: &Uai,
        person_id: &str,
    ) -> StoreResult<ListingProbe>;
}

/// An event read from the audience stream, with its stream id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub id: String,
    /// The event as JSON (an [`AudienceEvent`]).
    pub event: String,
}

/// The audience pipeline's shared state: the event stream read by consumer groups, the day
/// salts and the counts (layout in `domain::counting`).
#[async_trait]
pub trait AudienceStore: Send + Sync {
    /// Appends events (JSON) to the stream. At least once: a retry after a failure may append
    /// an event twice, which counting ignores.
    async fn append_events(&self, events: &[String]) -> StoreResult<()>;
    /// Up to `count` events for `consumer` of `group` (created when missing, from the stream's
    /// start): first those pending for longer than `claim_idle` at any consumer (a crashed
    /// consumer's), else new ones; `Duration::MAX` claims nothing (and costs no search of the
    /// pending events).
    async fn read_events(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        claim_idle: Duration,
    ) -> StoreResult<Vec<Delivered>>;
    /// Creates `group` (reading from the stream's start) unless it exists.
    async fn create_group(&self, group: &str) -> StoreResult<()>;
    /// Marks events as done for `group`.
    async fn ack_events(&self, group: &str, ids: &[String]) -> StoreResult<()>;
    /// Events read by `group` and not yet acknowledged.
    async fn pending_events(&self, group: &str) -> StoreResult<u64>;
    /// Drops the events every group has acknowledged; returns how many.
    async fn trim_events(&self) -> StoreResult<u64>;
    /// The first step of counting: decides a batch (which events are new, within `dedup`;
    /// which clicks the double-click rule keeps; which cells get a new visitor) and adds what
    /// applying it will count to `window` (left partly added to on an error: a window that
    /// failed is dropped, and its events come back). `stream_ids` are the events' deliveries (or empty): an
    /// event decided in a batch that was never applied and delivered again with the same
    /// stream id (claimed from a consumer that died between the steps) has its decision taken
    /// over; any other event already seen is a duplicate. A store may apply as it decides
    /// (the memory store), leaving nothing to apply.
    async fn decide_events(
        &self,
        events: &[AudienceEvent],
        stream_ids: &[String],
        dedup: Duration,
        window: &mut Decided,
    ) -> StoreResult<()>;
    /// The second step: applies a window of decided batches (merged), partition by partition,
    /// each atomically; counts are kept for `retention`. `false` when a partition's batch was
    /// taken over meanwhile: that partition applied nothing, and its events are counted by
    /// whoever took them (the window's events must then not be acknowledged).
    async fn apply_counts(&self, window: &Decided, retention: Duration) -> StoreResult<bool>;
    /// Counts a batch in both steps, idempotently (an event id counts once within `dedup`).
    async fn count_events(
        &self,
        events: &[AudienceEvent],
        dedup: Duration,
        retention: Duration,
    ) -> StoreResult<Counted> {
        let mut decided = Decided::default();
        self.decide_events(events, &[], dedup, &mut decided).await?;
        if self.apply_counts(&decided, retention).await? {
            Ok(decided.counted)
        } else {
            Err(StoreError::Unavailable(
                "audience counts: a batch was taken over by another counter".into(),
            ))
        }
    }
    /// The fields of counts hashes (`r:`, `f:`, `u:`), partitions summed.
    async fn audience_cells(&self, keys: &[String]) -> StoreResult<Vec<HashMap<String, i64>>>;
    /// The salt of `day`: drawn at random by the first caller, the same for every node, gone
    /// at `expires_at` (`now` is the caller's clock).
    async fn day_salt(
        &self,
        day: NaiveDate,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<u8>>;
    /// Whether any count is kept.
    async fn has_counts(&self) -> StoreResult<bool>;
    /// Every counts hash kept (days and months, partitions summed) and the ids already
    /// counted, for a backup; never the day salts.
    async fn export_counts(&self, now: DateTime<Utc>) -> StoreResult<CountsDump>;
    /// Writes a backup's counts back, into a store that has none: counts keep their expiry
    /// (those without one are kept `retention` from `now`); counted ids and salts past their
    /// time are left out.
    async fn import_counts(
        &self,
        dump: &CountsDump,
        retention: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    Done,
    /// It was already there.
    Unchanged,
    /// Someone changed the data since it was read: read again and retry.
    Conflict,
}

/// Liveness of the backing service, for `/health/ready`.
#[async_trait]
pub trait Health: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
    /// A short name for logs: `memory` or `redis`.
    fn kind(&self) -> &'static str;
    /// The store's own counters (`/metrics`), when it keeps some: a store in memory is
    /// always up and keeps none.
    fn metrics(&self) -> Option<&StoreMetrics> {
        None
    }
}

/// Everything the gateway keeps in its store.
pub trait Store:
    SessionStore
    + LoginStateStore
    + TokenStore
    + DirectoryStore
    + CatalogueStore
    + SubscriptionStore
    + ListingStore
    + AudienceStore
    + OutboxStore
    + Health
{
}

impl<T> Store for T where
    T: SessionStore
        + LoginStateStore
        + TokenStore
        + DirectoryStore
        + CatalogueStore
        + SubscriptionStore
        + ListingStore
        + AudienceStore
        + OutboxStore
        + Health
{
}
