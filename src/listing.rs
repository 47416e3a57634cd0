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
    // One call for the school's subscriptions, one for their assignments, one for the
    // resources: the listing's cost does not grow with the catalogue.
    let subscriptions = store.subscriptions_at(uai).await?;
    let mut by_resource: std::collections::BTreeMap<&str, Vec<&crate::domain::Subscription>> =
        std::collections::BTreeMap::new();
    for s in &subscriptions {
        by_resource
            .entry(s.resource_id.as_str())
            .or_default()
            .push(s);
    }
    let live: Vec<String> = subscriptions
        .iter()
        .filter(|s| !s.deleted && s.assignment_type == crate::domain::AssignmentType::Indiv)
        .map(|s| s.id.clone())
        .collect();
    let mut assignments = Vec::new();
    for set in store.assignments_many(&live, uai).await? {
        assignments.extend(set);
    }
    let ids: Vec<crate::domain::ResourceId> = subscriptions
        .iter()
        .map(|s| s.resource_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for resource in store.resources_by_id(&ids).await?.into_iter().flatten() {
        let subs: Vec<crate::domain::Subscription> = by_resource
            .get(resource.id.as_str())
            .map(|v| v.iter().map(|s| (*s).clone()).collect())
            .unwrap_or_default();
        let request = AccessRequest {
            person: &person,
            uai,
            resource: &resource.id,
        };
        if decide(now, request, &subs, &assignments).is_ok() {
            out.push(resource);
        }
    }
    Ok(out)
}
