//! Opening a resource for a signed-in user: gathers the facts from the store, applies the
//! access rule, and computes the attributes a provider receives.
//!
//! Protocol-free: the SAML and OIDC front ends call these functions.

use chrono::{DateTime, Utc};

use crate::app::AppState;
use crate::domain::{
    decide, release, AccessGrant, AccessRequest, IdEnt, Person, Refusal, ReleasedAttributes,
    Resource, Uai,
};
use crate::session::Session;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("access refused: {}", .0.code())]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies the access rule for the session's user in `uai`.
pub async fn check_access(
    state: &AppState,
    session: &Session,
    uai: &Uai,
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<(AccessGrant, Person), LaunchError> {
    check_access_of(state, &session.ent, &session.person_id, uai, resource, now).await
}

/// Applies the access rule for user `person_id` of `ent` in `uai`.
pub async fn check_access_of(
    state: &AppState,
    ent: &IdEnt,
    person_id: &str,
    uai: &Uai,
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<(AccessGrant, Person), LaunchError> {
    let store = state.store.as_ref();
    let person = store
        .person(ent, person_id)
        .await?
        .ok_or(LaunchError::Refused(Refusal::UnknownUser))?;
    let subscriptions = store.subscriptions_for(&resource.id, uai).await?;
    let mut assignments = Vec::new();
    for s in subscriptions.iter().filter(|s| !s.deleted) {
        assignments.extend(store.assignments(&s.id, uai).await?);
    }
    let grant = decide(
        now,
        AccessRequest {
            person: &person,
            uai,
            resource: &resource.id,
        },
        &subscriptions,
        &assignments,
    )
    .map_err(LaunchError::Refused)?;
    Ok((grant, person))
}

/// The attributes released for a granted access.
pub async fn released_attributes(
    state: &AppState,
    grant: &AccessGrant,
    person: &Person,
    resource: &Resource,
) -> Result<ReleasedAttributes, StoreError> {
    let groups = state.store.school_groups(grant.uai()).await?;
    let scope = resource.ido_scope_value(state.config.ido_scope);
    release(
        grant,
        person,
        &groups,
        &resource.release,
        &state.config.ido_key,
        &scope,
    )
    .map_err(|e| StoreError::Corrupt(format!("release: {e}")))
}

/// The pseudonymous subject of trace events for this session's user.
pub fn trace_subject(state: &AppState, session: &Session) -> String {
    trace_subject_of(state, &session.ent, &session.person_id)
}

/// The pseudonymous subject of trace events for user `person_id` of `ent`.
pub fn trace_subject_of(state: &AppState, ent: &IdEnt, person_id: &str) -> String {
    state.config.ido_key.trace_subject(ent, person_id)
}

/// What the audience counts of one access handed to a resource.
pub struct Handed<'a> {
    pub ent: &'a IdEnt,
    pub person_id: &'a str,
    pub uai: &'a crate::domain::Uai,
    pub profile: crate::domain::Profile,
    pub resource: &'a crate::domain::ResourceId,
    pub provider: &'a str,
    pub channel: crate::trace::Channel,
    pub device: crate::audience::DeviceClass,
}

/// Records the audience event of an access handed to a resource (SAML Response sent, OIDC
/// tokens issued). Never waits on the store.
pub fn count_access(state: &AppState, h: Handed<'_>) {
    let resource = state
        .config
        .providers
        .get(h.provider)
        .and_then(|p| p.resources.iter().find(|r| &r.id == h.resource));
    state.audience.record(crate::audience::Access {
        at: state.clock.now(),
        subject: trace_subject_of(state, h.ent, h.person_id),
        resource: h.resource.to_string(),
        provider: h.provider.to_string(),
        uai: h.uai.to_string(),
        ent: h.ent.to_string(),
        profile: h.profile.code().to_string(),
        channel: h.channel,
        device: h.device,
        service: resource
            .and_then(|r| r.category.clone())
            .unwrap_or_else(|| crate::audience::event::DEFAULT_SERVICE.to_string()),
        outil: resource.map_or_else(|| h.resource.to_string(), |r| r.name.clone()),
    });
}
