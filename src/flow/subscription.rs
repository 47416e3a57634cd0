//! Writing a provider's subscriptions: create, update, delete (kept, marked deleted), read and
//! list, for the provider that owns the commercial distributor ids. The business rules of
//! `domain::subscription_rules`, the check that the distributor sells the resource, the
//! storage id kept per distributor (another distributor's subscription of the same id is never
//! read nor revealed), and the audit trace of each change. The subscription web service
//! (`http::abonnement`) calls these.
//!
//! A creation of an id the owner already has is refused as existing before any rule is
//! checked: providers' clients take that answer (409) to mean "update it instead".

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Deps;
use crate::domain::subscription::storage_id;
use crate::domain::subscription_rules::{
    check_resource_distributor, validate_for_schools, Mode, SubscriptionInput, Violation,
};
use crate::domain::{Subscription, Uai};
use crate::store::StoreError;
use crate::trace::TraceEvent;

/// The provider a write is made for: its key and the distributor ids it owns.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub provider: &'a str,
    pub distributors: &'a [String],
}

/// Why a subscription was not written or read.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Business rules broken, every one with its field.
    #[error("{} business rule(s) broken", .0.len())]
    Rules(Vec<Violation>),
    /// Creating an id the owner already has.
    #[error("the subscription exists")]
    Exists,
    /// No subscription of this id is the owner's.
    #[error("no such subscription")]
    Absent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Owner<'_> {
    /// The distributor id the rules check the body against: the body's when the owner has
    /// it, else the owner's first.
    fn acting_as(&self, input: &SubscriptionInput) -> &str {
        let claimed = input.distributor.as_deref().map(str::trim);
        self.distributors
            .iter()
            .find(|d| Some(d.as_str()) == claimed)
            .or(self.distributors.first())
            .map_or("", String::as_str)
    }
}

/// Creates subscription `id` from `input` at `now` (in the zone where dates without an offset
/// are read). An id the distributor already has is [`WriteError::Exists`] whatever the body.
pub async fn create(
    d: &Deps<'_>,
    owner: Owner<'_>,
    id: &str,
    input: &SubscriptionInput,
    now: DateTime<Tz>,
) -> Result<Subscription, WriteError> {
    let distributor = owner.acting_as(input);
    if exists(d, distributor, id).await? {
        return Err(WriteError::Exists);
    }
    let named: Vec<Uai> = input.uais.iter().filter_map(|u| u.parse().ok()).collect();
    let primary = primary_schools(d, &named).await?;
    let mut subscription =
        validate_for_schools(input, id, distributor, Mode::Create, None, now, &primary)
            .map_err(WriteError::Rules)?;
    sold_by(d, &subscription).await?;
    // Stored under the distributor's own key: the same id of another distributor is another
    // subscription, and its existence is never revealed. Written only if absent, so that of
    // two concurrent creations one answers as existing.
    subscription.id = storage_id(&subscription.distributor_id, id);
    if !d.store.create_subscription(&subscription).await? {
        return Err(WriteError::Exists);
    }
    tracing::info!(provider = %owner.provider, subscription = %id, "subscription created");
    changed(d, owner, "create", id, None, Some(&subscription));
    Ok(subscription)
}

/// Replaces `existing` (read by [`read`]) with `input` at `now` (in the zone where dates
/// without an offset are read).
pub async fn update(
    d: &Deps<'_>,
    owner: Owner<'_>,
    existing: &Subscription,
    id: &str,
    input: &SubscriptionInput,
    now: DateTime<Tz>,
) -> Result<Subscription, WriteError> {
    let primary = primary_schools(d, &existing.uais).await?;
    let mut subscription = validate_for_schools(
        input,
        id,
        owner.acting_as(input),
        Mode::Update,
        Some(existing),
        now,
        &primary,
    )
    .map_err(WriteError::Rules)?;
    subscription.id = existing.id.clone();
    sold_by(d, &subscription).await?;
    d.store.put_subscription(&subscription).await?;
    tracing::info!(provider = %owner.provider, subscription = %id, "subscription updated");
    changed(d, owner, "update", id, Some(existing), Some(&subscription));
    Ok(subscription)
}

/// Marks the owner's subscription `id` deleted at `now` (it stays readable with its history).
pub async fn delete(
    d: &Deps<'_>,
    owner: Owner<'_>,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), WriteError> {
    let before = read(d, owner, id).await?;
    let mut deleted = before.clone();
    deleted.deleted = true;
    deleted.details.updated_at = Some(now);
    d.store.put_subscription(&deleted).await?;
    tracing::info!(provider = %owner.provider, subscription = %id, "subscription deleted");
    changed(d, owner, "delete", id, Some(&before), Some(&deleted));
    Ok(())
}

/// The owner's subscription `id`: looked up under each of its distributors (and under the
/// plain id, for subscriptions stored before ids were kept per distributor). Another
/// distributor's subscription of the same id answers as absent.
pub async fn read(d: &Deps<'_>, owner: Owner<'_>, id: &str) -> Result<Subscription, WriteError> {
    let keys = owner
        .distributors
        .iter()
        .map(|dist| storage_id(dist, id))
        .chain(std::iter::once(id.to_string()));
    for key in keys {
        let found = d.store.subscription(&key).await?;
        if let Some(s) = found.filter(|s| owner.distributors.contains(&s.distributor_id)) {
            return Ok(s);
        }
    }
    Err(WriteError::Absent)
}

/// Whether `distributor` has a subscription `id`: under its own key, or under the plain id
/// (stored before ids were kept per distributor, and seeds).
async fn exists(d: &Deps<'_>, distributor: &str, id: &str) -> Result<bool, StoreError> {
    if d.store
        .subscription(&storage_id(distributor, id))
        .await?
        .is_some()
    {
        return Ok(true);
    }
    Ok(d.store
        .subscription(id)
        .await?
        .is_some_and(|s| s.distributor_id == distributor))
}

/// Every subscription of the owner's distributors, deleted ones with `include_deleted`.
pub async fn of(
    d: &Deps<'_>,
    owner: Owner<'_>,
    include_deleted: bool,
) -> Result<Vec<Subscription>, StoreError> {
    let mut all = Vec::new();
    for dist in owner.distributors {
        all.extend(d.store.subscriptions_of(dist).await?);
    }
    all.retain(|s| include_deleted || !s.deleted);
    Ok(all)
}

/// Those of `uais` that the directory knows as primary schools.
async fn primary_schools(d: &Deps<'_>, uais: &[Uai]) -> Result<Vec<Uai>, StoreError> {
    let mut out = Vec::new();
    for uai in uais {
        if d.store.school(uai).await?.is_some_and(|s| s.is_primary()) {
            out.push(uai.clone());
        }
    }
    Ok(out)
}

/// Refuses a subscription to a catalogue resource its distributor does not sell: a provider
/// only subscribes schools to its own resources.
async fn sold_by(d: &Deps<'_>, subscription: &Subscription) -> Result<(), WriteError> {
    match d.store.resource(&subscription.resource_id).await? {
        Some(r) => check_resource_distributor(&r, &subscription.distributor_id)
            .map_err(|v| WriteError::Rules(vec![v])),
        None => Ok(()),
    }
}

/// Records a change for the audit trail.
fn changed(
    d: &Deps<'_>,
    owner: Owner<'_>,
    action: &'static str,
    id: &str,
    before: Option<&Subscription>,
    after: Option<&Subscription>,
) {
    d.tracer.record(TraceEvent::SubscriptionChanged {
        provider: owner.provider.to_string(),
        action,
        subscription: id.to_string(),
        before: before.cloned().map(Box::new),
        after: after.cloned().map(Box::new),
    });
}
