//! The médiacentre listing: which resources one user may open in one school, now.
//!
//! Protocol-free: the access rule of `domain::access` runs for every resource a subscription
//! at the school is for, so the listing and `domaineGar` can never disagree. Each request
//! reads the person, the school and the school's stamp fresh (one round trip); the school's
//! subscriptions, assignments and resources come from this node's [`ListingCache`] when the
//! stamp still holds, and from the store otherwise.

mod cache;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use self::cache::{ListingCache, SchoolView, ViewEntry};
use crate::domain::{decide, AccessRequest, AssignmentType, IdEnt, Resource, ResourceId, Uai};
use crate::store::{ListingStamp, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error("unknown school")]
    UnknownSchool,
    #[error("unknown user")]
    UnknownUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Renders a resource's listing entry for the school (its bytes are kept with the view).
pub type Render<'a> = dyn Fn(&Resource) -> Vec<u8> + Send + Sync + 'a;

/// The resources one person may open: entries of a school's view.
pub struct Listed {
    view: Arc<SchoolView>,
    allowed: Vec<usize>,
}

impl Listed {
    /// The allowed entries, in catalogue order.
    pub fn entries(&self) -> impl Iterator<Item = &ViewEntry> + '_ {
        self.allowed.iter().map(|&i| &self.view.entries[i])
    }
}

/// The resources `person_id` of `ent` may open in `uai` at `now`, in catalogue order.
pub async fn resources_for(
    store: &dyn Store,
    cache: &ListingCache,
    ent: &IdEnt,
    uai: &Uai,
    person_id: &str,
    now: DateTime<Utc>,
    render: &Render<'_>,
) -> Result<Listed, ListingError> {
    let probe = store.listing_probe(ent, uai, person_id).await?;
    if !probe.school_known {
        return Err(ListingError::UnknownSchool);
    }
    let person = probe.person.ok_or(ListingError::UnknownUser)?;
    if person.profile_in(uai).is_none() {
        return Err(ListingError::UnknownUser);
    }
    let view = match cache.get(ent, uai, probe.stamp) {
        Some(view) => view,
        None => {
            let view = Arc::new(read_view(store, uai, probe.stamp, render).await?);
            cache.put(ent, uai, view.clone());
            view
        }
    };
    let allowed = view
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            let request = AccessRequest {
                person: &person,
                uai,
                resource: &e.resource.id,
            };
            decide(now, request, &e.subscriptions, &view.assignments).is_ok()
        })
        .map(|(i, _)| i)
        .collect();
    Ok(Listed { view, allowed })
}

/// Reads a school's listing inputs from the store, in three calls whatever the catalogue's
/// size: its subscriptions, their assignments, their resources.
async fn read_view(
    store: &dyn Store,
    uai: &Uai,
    stamp: ListingStamp,
    render: &Render<'_>,
) -> Result<SchoolView, ListingError> {
    let subscriptions = store.subscriptions_at(uai).await?;
    let live: Vec<String> = subscriptions
        .iter()
        .filter(|s| !s.deleted && s.assignment_type == AssignmentType::Indiv)
        .map(|s| s.id.clone())
        .collect();
    let assignments = store
        .assignments_many(&live, uai)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let ids: Vec<ResourceId> = subscriptions
        .iter()
        .map(|s| s.resource_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_resource: BTreeMap<ResourceId, Vec<crate::domain::Subscription>> = BTreeMap::new();
    for s in subscriptions {
        by_resource
            .entry(s.resource_id.clone())
            .or_default()
            .push(s);
    }
    let entries = store
        .resources_by_id(&ids)
        .await?
        .into_iter()
        .flatten()
        .map(|resource| ViewEntry {
            subscriptions: by_resource.remove(&resource.id).unwrap_or_default(),
            rendered: render(&resource).into_boxed_slice(),
            resource,
        })
        .collect();
    Ok(SchoolView {
        stamp,
        entries,
        assignments,
    })
}
