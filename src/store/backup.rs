//! Backups of what must outlive any store: the directory of every ENT, the schools' bindings
//! to ENTs, the catalogue, subscriptions and assignments, and the audience counts, read
//! through the store traits into one [`Dump`] (JSON), and written back into an empty store
//! (`passerelle store export` and `import`). Sessions, pending logins, one-time ids and OIDC
//! records are left out: they are short-lived, and a restore ends them as a restart of the
//! store would.
//!
//! The counts ([`CountsDump`]) are every counts hash (days and months, visitor-days included,
//! partitions summed) by its key below the audience family, with the ids already counted (a
//! redelivery after the restore counts once); never the day salts (destroyed 48 hours after
//! their day: a restored store draws new ones) nor the visitors' days of cells that go with
//! them. Not carried either: the last click of each visitor (the double-click filter forgets a
//! click made just before the restore) and the events not yet counted. Format 3; formats 2
//! (visitor sets beside day hashes) and 1 (no counts) are read and upgraded.
//!
//! Written against the traits only, so a dump moves between the memory store and Redis, and
//! between a single node and a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Replaced, Store, StoreError, StoreResult};
use crate::domain::{Assignment, CountsDump, Directory, IdEnt, Resource, Subscription, Uai};

/// The dump's format. Formats 1 (before the counts) and 2 (visitor sets, no month hashes)
/// are read too; an import refuses any other.
pub const FORMAT: u32 = 3;

/// Everything durable, in a stable order (so two dumps of the same data are equal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dump {
    pub format: u32,
    pub directories: BTreeMap<IdEnt, Directory>,
    /// Every school's ENT, those moved by an operator and not yet imported by their ENT too.
    pub bindings: BTreeMap<Uai, IdEnt>,
    pub resources: Vec<Resource>,
    /// Deleted ones included.
    pub subscriptions: Vec<Subscription>,
    pub assignments: Vec<Assignment>,
    /// The audience counts (absent from format 1).
    #[serde(default)]
    pub counts: CountsDump,
}

impl Dump {
    /// How much the dump holds, for the operator.
    pub fn summary(&self) -> String {
        format!(
            "{} ENT directory(ies) ({} school(s), {} person(s)), {} school binding(s), {} resource(s), {} subscription(s), {} assignment(s), {} audience counts hash(es) over {} day(s) ({} counted event id(s))",
            self.directories.len(),
            self.directories.values().map(|d| d.schools.len()).sum::<usize>(),
            self.directories.values().map(|d| d.persons.len()).sum::<usize>(),
            self.bindings.len(),
            self.resources.len(),
            self.subscriptions.len(),
            self.assignments.len(),
            self.counts.cells.len(),
            self.counts.days().len(),
            self.counts.counted.len(),
        )
    }
}

/// Reads everything durable from `store`. Subscriptions are those covering a school of the
/// directory or a bound school, and those of the commercial `distributors` (the configured
/// providers'), so that none the gateway can serve is missed. Salts are those not yet
/// destroyed at `now`.
pub async fn export(
    store: &dyn Store,
    distributors: &[String],
    now: DateTime<Utc>,
) -> StoreResult<Dump> {
    let mut directories: BTreeMap<IdEnt, Directory> = BTreeMap::new();
    let schools = store.schools().await?;
    for school in &schools {
        let dir = directories.entry(school.ent.clone()).or_default();
        dir.groups.extend(store.school_groups(&school.uai).await?);
        dir.persons.extend(store.school_persons(&school.uai).await?);
        dir.schools.push(school.clone());
    }
    for dir in directories.values_mut() {
        dir.persons.sort_by(|a, b| a.id.cmp(&b.id));
        dir.persons.dedup_by(|a, b| a.id == b.id);
        dir.groups
            .sort_by(|a, b| (&a.uai, &a.code).cmp(&(&b.uai, &b.code)));
    }
    let bindings: BTreeMap<Uai, IdEnt> = store.school_bindings().await?.into_iter().collect();
    let mut resources = store.resources().await?;
    resources.sort_by(|a, b| a.id.cmp(&b.id));

    let uais: BTreeSet<&Uai> = schools
        .iter()
        .map(|s| &s.uai)
        .chain(bindings.keys())
        .collect();
    let mut subscriptions: BTreeMap<String, Subscription> = BTreeMap::new();
    let mut assignments = Vec::new();
    for uai in &uais {
        let here = store.subscriptions_at(uai).await?;
        let ids: Vec<String> = here.iter().map(|s| s.id.clone()).collect();
        for list in store.assignments_many(&ids, uai).await? {
            assignments.extend(list);
        }
        subscriptions.extend(here.into_iter().map(|s| (s.id.clone(), s)));
    }
    for d in distributors {
        for s in store.subscriptions_of(d).await? {
            subscriptions.entry(s.id.clone()).or_insert(s);
        }
    }
    let key = |a: &Assignment| serde_json::to_string(a).unwrap_or_default();
    assignments.sort_by_key(key);
    assignments.dedup();
    let counts = store.export_counts(now).await?;
    Ok(Dump {
        format: FORMAT,
        directories,
        bindings,
        resources,
        subscriptions: subscriptions.into_values().collect(),
        assignments,
        counts,
    })
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the dump's format is {0}, this version reads formats 1 to {FORMAT}")]
    Format(u32),
    #[error("the store is not empty ({0}): import into an empty store (another store.key_prefix, or a new Redis)")]
    NotEmpty(String),
    #[error("school {uai} of ENT {ent} is bound to ENT {other} in the dump itself")]
    Inconsistent { uai: Uai, ent: IdEnt, other: IdEnt },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes `dump` into `store`, which must hold no directory, binding, resource, subscription
/// (of `distributors`) or audience count yet. Counts without an expiry in the dump (from the
/// memory store) are kept `retention` (`audience.retention_days`) from `now`; counted ids
/// and salts past their time at `now` are left out.
pub async fn import(
    store: &dyn Store,
    dump: &Dump,
    distributors: &[String],
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<(), ImportError> {
    if !(1..=FORMAT).contains(&dump.format) {
        return Err(ImportError::Format(dump.format));
    }
    let mut found = Vec::new();
    if !store.school_bindings().await?.is_empty() {
        found.push("schools");
    }
    if !store.resources().await?.is_empty() {
        found.push("resources");
    }
    for d in distributors {
        if !store.subscriptions_of(d).await?.is_empty() {
            found.push("subscriptions");
            break;
        }
    }
    if store.has_counts().await? {
        found.push("audience counts");
    }
    if !found.is_empty() {
        return Err(ImportError::NotEmpty(found.join(", ")));
    }
    for (ent, dir) in &dump.directories {
        if let Replaced::SchoolTaken { uai, ent: other } = store.replace_directory(ent, dir).await?
        {
            return Err(ImportError::Inconsistent {
                uai,
                ent: ent.clone(),
                other,
            });
        }
    }
    for (uai, ent) in &dump.bindings {
        store.bind_school(uai, ent).await?;
    }
    for r in &dump.resources {
        store.put_resource(r).await?;
    }
    for s in &dump.subscriptions {
        store.put_subscription(s).await?;
    }
    for a in &dump.assignments {
        store.add_assignment(a).await?;
    }
    // A dump of an earlier version is read in today's layout.
    let counts = dump.counts.clone().upgraded();
    store.import_counts(&counts, retention, now).await?;
    Ok(())
}
