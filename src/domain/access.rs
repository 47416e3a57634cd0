//! The access rule: may this person open this resource in this school, now?
//!
//! A positive answer is an [`AccessGrant`], a value only [`decide`] can build. Issuing an
//! assertion or a token requires one, so no path issues credentials without the check.

use super::directory::Person;
use super::ids::{IdEnt, Profile, ResourceId, Uai};
use super::subscription::{Assignment, AssignmentTarget, AssignmentType, Subscription};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why an access was refused. Each variant has a stable code used in traces and pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Refusal {
    UnknownEnt,
    UnknownSchool,
    UnknownResource,
    UnknownUser,
    NotInSchool,
    NoSubscription,
    SubscriptionExpired,
    SubscriptionNotYetValid,
    ProfileNotCovered,
    NotAssigned,
}

impl Refusal {
    /// Stable machine code, greppable in logs and traces.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownEnt => "unknown_ent",
            Refusal::UnknownSchool => "unknown_school",
            Refusal::UnknownResource => "unknown_resource",
            Refusal::UnknownUser => "unknown_user",
            Refusal::NotInSchool => "not_in_school",
            Refusal::NoSubscription => "no_subscription",
            Refusal::SubscriptionExpired => "subscription_expired",
            Refusal::SubscriptionNotYetValid => "subscription_not_yet_valid",
            Refusal::ProfileNotCovered => "profile_not_covered",
            Refusal::NotAssigned => "not_assigned",
        }
    }
}

/// The facts an access decision is made on.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    pub person: &'a Person,
    pub uai: &'a Uai,
    pub resource: &'a ResourceId,
}

/// Proof that the access rule allowed this person to open this resource in this school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessGrant {
    ent: IdEnt,
    person_id: String,
    uai: Uai,
    profile: Profile,
    resource: ResourceId,
    subscription_id: String,
    granted_at: DateTime<Utc>,
}

impl AccessGrant {
    pub fn ent(&self) -> &IdEnt {
        &self.ent
    }
    pub fn person_id(&self) -> &str {
        &self.person_id
    }
    pub fn uai(&self) -> &Uai {
        &self.uai
    }
    pub fn profile(&self) -> Profile {
        self.profile
    }
    pub fn resource(&self) -> &ResourceId {
        &self.resource
    }
    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }
    pub fn granted_at(&self) -> DateTime<Utc> {
        self.granted_at
    }
}

/// Applies the access rule.
///
/// `subscriptions` are the subscriptions known for the resource (any school: those not
/// covering `uai` are ignored) and `assignments` the assignments in `uai` of those
/// subscriptions. A person may open the resource when a non-deleted subscription covering the
/// school is valid at `now`, covers the person's profile there, and is establishment-wide or
/// holds an individual assignment for the person, directly or through one of their classes or
/// groups in that school.
pub fn decide(
    now: DateTime<Utc>,
    request: AccessRequest<'_>,
    subscriptions: &[Subscription],
    assignments: &[Assignment],
) -> Result<AccessGrant, Refusal> {
    let AccessRequest {
        person,
        uai,
        resource,
    } = request;
    let profile = person.profile_in(uai).ok_or(Refusal::NotInSchool)?;

    let candidates: Vec<&Subscription> = subscriptions
        .iter()
        .filter(|s| !s.deleted && &s.resource_id == resource && s.covers(uai))
        .collect();
    if candidates.is_empty() {
        return Err(Refusal::NoSubscription);
    }
    let current: Vec<&Subscription> = candidates
        .iter()
        .copied()
        .filter(|s| s.is_valid_at(now))
        .collect();
    if current.is_empty() {
        let any_future = candidates.iter().any(|s| now < s.valid_from);
        let any_past = candidates.iter().any(|s| s.valid_until <= now);
        return Err(if any_future && !any_past {
            Refusal::SubscriptionNotYetValid
        } else {
            Refusal::SubscriptionExpired
        });
    }
    let audience = profile.audience();
    let covering: Vec<&Subscription> = current
        .into_iter()
        .filter(|s| audience.is_some_and(|a| s.audiences.contains(&a)))
        .collect();
    if covering.is_empty() {
        return Err(Refusal::ProfileNotCovered);
    }

    let grant = |s: &Subscription| AccessGrant {
        ent: person.ent.clone(),
        person_id: person.id.clone(),
        uai: uai.clone(),
        profile,
        resource: resource.clone(),
        subscription_id: s.id.clone(),
        granted_at: now,
    };
    if let Some(s) = covering
        .iter()
        .find(|s| s.assignment_type == AssignmentType::Etabl)
    {
        return Ok(grant(s));
    }
    let groups: Vec<&str> = person.group_codes_in(uai).collect();
    let assigned = |s: &Subscription| {
        assignments.iter().any(|a| {
            a.subscription_id == s.id
                && &a.uai == uai
                && match &a.target {
                    AssignmentTarget::Person { ent, id } => ent == &person.ent && id == &person.id,
                    AssignmentTarget::Group { code } => groups.contains(&code.as_str()),
                }
        })
    };
    covering
        .into_iter()
        .find(|s| assigned(s))
        .map(grant)
        .ok_or(Refusal::NotAssigned)
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
