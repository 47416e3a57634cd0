//! The médiacentre listing: which resources one user may open in one school, now.
//!
//! Protocol-free: the access rule of `domain::access` runs for every resource of the catalogue,
//! so the listing and `domaineGar` can never disagree.

use chrono::{DateTime, Utc};

use crate::app::AppState;
use crate::domain::{decide, AccessRequest, IdEnt, Resource, Uai};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error("unknown school")]
    UnknownSchool,
    #[error("unknown user")]
    UnknownUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The resources `person_id` of `ent` may open in `uai` at `now`, in catalogue order.
pub async fn resources_for(
    state: &AppState,
    ent: &IdEnt,
    uai: &Uai,
    person_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Resource>, ListingError> {
    let store = state.store.as_ref();
    match store.school(uai).await? {
        Some(school) if &school.ent == ent => {}
        _ => return Err(ListingError::UnknownSchool),
    }
    let person = store
        .person(ent, person_id)
        .await?
        .ok_or(ListingError::UnknownUser)?;
    if person.profile_in(uai).is_none() {
        return Err(ListingError::UnknownUser);
    }
    let mut out = Vec::new();
    for resource in store.resources().await? {
        let subscriptions = store.subscriptions_for(&resource.id, uai).await?;
        if subscriptions.is_empty() {
            continue;
        }
        let mut assignments = Vec::new();
        for s in subscriptions.iter().filter(|s| !s.deleted) {
            assignments.extend(store.assignments(&s.id, uai).await?);
        }
        let request = AccessRequest {
            person: &person,
            uai,
            resource: &resource.id,
        };
        if decide(now, request, &subscriptions, &assignments).is_ok() {
            out.push(resource);
        }
    }
    Ok(out)
}
