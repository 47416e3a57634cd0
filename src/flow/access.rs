//! Opening a resource, for every protocol: the access rule over the store's facts, the traces
//! of each grant and refusal, the attributes released, and the audience count of each access
//! handed to a provider.
//!
//! Three entries, one rule: [`launch`] (a médiacentre link, `GET /domaineGar`), [`authorize`]
//! (an application asking for a resource, OIDC authorization) and [`hand_over`] (a credential
//! issued to a provider: a SAML Response, OIDC tokens; the protocol signs through a closure).
//! A new provider protocol calls [`hand_over`] and nothing else here. The resource is read from
//! the store's catalogue, the one source.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Deps, FlowError, User};
use crate::audience::DeviceClass;
use crate::domain::{
    decide as rule, release, AccessGrant, AccessRequest, Assignment, IdEnt, Person, Refusal,
    ReleasedAttributes, Resource, ResourceId, Subscription, Uai,
};
use crate::session::{Launch, Session};
use crate::store::StoreError;
use crate::trace::{Channel, TraceEvent};

/// What is known of a refused access, for its trace.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen<'a> {
    pub ent: Option<&'a IdEnt>,
    pub user: Option<User<'a>>,
    pub uai: Option<&'a Uai>,
    pub resource: Option<&'a ResourceId>,
}

/// Traces a refused access and returns it as the flow's error.
pub fn refuse(d: &Deps<'_>, r: Refusal, seen: Seen<'_>) -> FlowError {
    d.tracer.record(TraceEvent::AccessRefused {
        ent: seen.ent.or(seen.user.map(|u| u.ent)).cloned(),
        subject: seen.user.map(|u| d.subject(u.ent, u.person_id)),
        uai: seen.uai.cloned(),
        resource: seen.resource.cloned(),
        reason: r.code(),
    });
    FlowError::Refused(r)
}

/// A granted access: the grant and the person it was decided for.
#[derive(Debug, Clone)]
pub struct Decision {
    pub grant: AccessGrant,
    pub person: Person,
}

/// Runs the access rule for `user` and `resource` in the first of `schools` where it grants
/// access. When none does, the refusal for the first school (or `UnknownUser` when there is
/// none) is traced and returned.
pub async fn decide(
    d: &Deps<'_>,
    user: User<'_>,
    schools: &[Uai],
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<Decision, FlowError> {
    let seen = Seen {
        user: Some(user),
        uai: schools.first(),
        resource: Some(&resource.id),
        ..Seen::default()
    };
    let Some(person) = d.store.person(user.ent, user.person_id).await? else {
        return Err(refuse(d, Refusal::UnknownUser, seen));
    };
    decide_for(d, user, person, schools, resource, now).await
}

/// [`decide`] for a person already read from the store.
async fn decide_for(
    d: &Deps<'_>,
    user: User<'_>,
    person: Person,
    schools: &[Uai],
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<Decision, FlowError> {
    let seen = Seen {
        user: Some(user),
        uai: schools.first(),
        resource: Some(&resource.id),
        ..Seen::default()
    };
    let mut first = Refusal::UnknownUser;
    for (i, uai) in schools.iter().enumerate() {
        match rule_in(d, &person, uai, resource, now).await? {
            Ok(grant) => return Ok(Decision { grant, person }),
            Err(r) if i == 0 => first = r,
            Err(_) => {}
        }
    }
    Err(refuse(d, first, seen))
}

/// The access rule in one school, over the store's subscriptions and assignments.
async fn rule_in(
    d: &Deps<'_>,
    person: &Person,
    uai: &Uai,
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<Result<AccessGrant, Refusal>, StoreError> {
    let (subscriptions, assignments) = school_facts(d, &resource.id, uai).await?;
    Ok(rule(
        now,
        AccessRequest {
            person,
            uai,
            resource: &resource.id,
        },
        &subscriptions,
        &assignments,
    ))
}

/// What the rule reads of one school for a resource: its subscriptions, and the assignments
/// of those not deleted (read together).
async fn school_facts(
    d: &Deps<'_>,
    resource: &ResourceId,
    uai: &Uai,
) -> Result<(Vec<Subscription>, Vec<Assignment>), StoreError> {
    let subscriptions = d.store.subscriptions_for(resource, uai).await?;
    let live: Vec<String> = subscriptions
        .iter()
        .filter(|s| !s.deleted)
        .map(|s| s.id.clone())
        .collect();
    let assignments = d
        .store
        .assignments_many(&live, uai)
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok((subscriptions, assignments))
}

/// The resource and the access rule for `user` in school `uai`: the resource, the person, the
/// school's subscriptions and their assignments asked together (on a shared store, one wait
/// instead of one per read), then looked at in the order of reads made one after the other,
/// so that a refusal and its trace are the same.
async fn decide_in(
    d: &Deps<'_>,
    user: User<'_>,
    uai: &Uai,
    resource_id: &ResourceId,
    now: DateTime<Utc>,
    seen: Seen<'_>,
) -> Result<(Resource, Decision), FlowError> {
    let (resource, person, facts) = tokio::join!(
        d.store.resource(resource_id),
        d.store.person(user.ent, user.person_id),
        school_facts(d, resource_id, uai),
    );
    let Some(resource) = resource? else {
        return Err(refuse(d, Refusal::UnknownResource, seen));
    };
    let Some(person) = person? else {
        return Err(refuse(d, Refusal::UnknownUser, seen));
    };
    let (subscriptions, assignments) = facts?;
    let request = AccessRequest {
        person: &person,
        uai,
        resource: &resource.id,
    };
    match rule(now, request, &subscriptions, &assignments) {
        Ok(grant) => Ok((resource, Decision { grant, person })),
        Err(r) => Err(refuse(d, r, seen)),
    }
}

/// A médiacentre link before any session: the resource exists and the school belongs to the
/// ENT named by the link (`ent_known`: the ENT is configured). Each refusal is traced.
pub async fn check_link(
    d: &Deps<'_>,
    ent: &IdEnt,
    ent_known: bool,
    uai: &Uai,
    resource_id: &ResourceId,
) -> Result<(), FlowError> {
    let seen = Seen {
        ent: Some(ent),
        uai: Some(uai),
        resource: Some(resource_id),
        ..Seen::default()
    };
    if !ent_known {
        return Err(refuse(d, Refusal::UnknownEnt, seen));
    }
    // Both read together, looked at in this order.
    let (found, school) = tokio::join!(d.store.resource(resource_id), d.store.school(uai));
    if found?.is_none() {
        return Err(refuse(d, Refusal::UnknownResource, seen));
    }
    if school?.is_none_or(|s| &s.ent != ent) {
        return Err(refuse(d, Refusal::UnknownSchool, seen));
    }
    Ok(())
}

/// A launch granted: where the browser goes, and the session that recorded it (stored).
#[derive(Debug)]
pub struct Launched {
    pub session: Session,
    pub access_url: String,
}

/// A médiacentre launch in `session`: the access rule in `uai`, the launch recorded in the
/// session (which the provider's SSO later finds) and the grant traced.
///
/// The session is written once: with the launch when granted; without it when refused and
/// `fresh` (a session just created by a login, not stored yet).
pub async fn launch(
    d: &Deps<'_>,
    mut session: Session,
    fresh: bool,
    uai: &Uai,
    resource_id: &ResourceId,
    now: DateTime<Utc>,
) -> Result<Launched, FlowError> {
    let user = User::of(&session);
    let seen = Seen {
        user: Some(user),
        uai: Some(uai),
        resource: Some(resource_id),
        ..Seen::default()
    };
    let (resource, decision) = match decide_in(d, user, uai, resource_id, now, seen).await {
        Ok(ok) => ok,
        Err(e @ FlowError::Refused(_)) => {
            if fresh {
                store_session(d, &session, now).await?;
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let grant = decision.grant;
    session.record_launch(Launch {
        resource: resource.id.clone(),
        uai: uai.clone(),
        profile: grant.profile(),
        at: now,
    });
    store_session(d, &session, now).await?;
    d.tracer.record(granted(d, &grant, Channel::Web));
    Ok(Launched {
        session,
        access_url: resource.access_url,
    })
}

/// Stores `session` for the rest of its life.
pub async fn store_session(
    d: &Deps<'_>,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let remaining = (session.expires_at - now).to_std().unwrap_or_default();
    d.store.put_session(session, remaining).await
}

fn granted(d: &Deps<'_>, grant: &AccessGrant, channel: Channel) -> TraceEvent {
    TraceEvent::AccessGranted {
        ent: grant.ent().clone(),
        subject: d.subject(grant.ent(), grant.person_id()),
        uai: grant.uai().clone(),
        profile: grant.profile(),
        resource: grant.resource().clone(),
        subscription: grant.subscription_id().to_string(),
        channel,
    }
}

/// An application asks for `resource` for the session's user (OIDC authorization): in the
/// school it names, else the school the resource was launched in from the médiacentre, else
/// the first of the user's schools where access is granted. An access not launched from the
/// médiacentre in that school is this one: its grant is traced here.
pub async fn authorize(
    d: &Deps<'_>,
    session: &Session,
    resource: &Resource,
    asked: Option<&Uai>,
    channel: Channel,
    now: DateTime<Utc>,
) -> Result<AccessGrant, FlowError> {
    let user = User::of(session);
    let launched = session
        .latest_launch_of(&[&resource.id])
        .map(|l| l.uai.clone());
    // Without a school asked or launched, the person is read once: for their schools and
    // for the rule.
    let (schools, person): (Vec<Uai>, Option<Person>) = match (asked, &launched) {
        (Some(u), _) | (None, Some(u)) => (vec![u.clone()], None),
        (None, None) => match d.store.person(user.ent, user.person_id).await? {
            Some(p) => (p.profiles.iter().map(|x| x.uai.clone()).collect(), Some(p)),
            None => (Vec::new(), None),
        },
    };
    let grant = match person {
        Some(p) => decide_for(d, user, p, &schools, resource, now).await?,
        None => decide(d, user, &schools, resource, now).await?,
    }
    .grant;
    if launched.as_ref() != Some(grant.uai()) {
        d.tracer.record(granted(d, &grant, channel));
    }
    Ok(grant)
}

/// The access rule run again for a provider, and what it may receive.
#[derive(Debug, Clone)]
pub struct Released {
    pub resource: Resource,
    pub grant: AccessGrant,
    pub attributes: ReleasedAttributes,
}

/// Runs the access rule again for `user` in `uai` and computes the attributes released for
/// `resource_id` (OIDC userinfo reads them without issuing anything).
pub async fn release_for(
    d: &Deps<'_>,
    user: User<'_>,
    uai: &Uai,
    resource_id: &ResourceId,
    now: DateTime<Utc>,
) -> Result<Released, FlowError> {
    let seen = Seen {
        user: Some(user),
        uai: Some(uai),
        resource: Some(resource_id),
        ..Seen::default()
    };
    // The school's groups (for the release) are read with the rule's facts.
    let (decided, groups) = tokio::join!(
        decide_in(d, user, uai, resource_id, now, seen),
        d.store.school_groups(uai),
    );
    let (resource, Decision { grant, person }) = decided?;
    let groups = groups?;
    let scope = resource.ido_scope_value(d.ido_scope);
    let attributes = release(
        &grant,
        &person,
        &groups,
        &resource.release,
        d.ido_key,
        &scope,
        &resource.sites,
    )
    .map_err(|e| StoreError::Corrupt(format!("release: {e}")))?;
    Ok(Released {
        resource,
        grant,
        attributes,
    })
}

/// Whether a hand-over is an access (counted in the audience, its credential traced) or the
/// renewal of one already counted (an OIDC refresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuance {
    Access,
    Renewal,
}

/// A credential about to be handed to a provider.
#[derive(Debug, Clone, Copy)]
pub struct HandOver<'a> {
    pub user: User<'a>,
    pub uai: &'a Uai,
    pub resource: &'a ResourceId,
    /// The provider's configuration key.
    pub provider: &'a str,
    /// `saml`, `oidc`: the protocol of the credential, for its trace.
    pub protocol: &'static str,
    pub channel: Channel,
    pub device: DeviceClass,
    pub issuance: Issuance,
}

/// Why a hand-over did not happen.
#[derive(Debug)]
pub enum HandOverError<E> {
    /// Refused by the access rule (traced), or the store failed.
    Flow(FlowError),
    /// The protocol could not issue the credential.
    Issue(E),
}

impl<E> From<StoreError> for HandOverError<E> {
    fn from(e: StoreError) -> Self {
        Self::Flow(FlowError::Store(e))
    }
}

/// Hands a credential to a provider, the one path of every provider protocol: the access rule
/// runs again, the attributes are released, `issue` makes the credential from them (signs an
/// assertion, mints tokens), then the access is counted and the credential traced (attribute
/// names and the IDO, never their values).
pub async fn hand_over<T, E, F, Fut>(
    d: &Deps<'_>,
    h: HandOver<'_>,
    now: DateTime<Utc>,
    issue: F,
) -> Result<T, HandOverError<E>>
where
    F: FnOnce(Released) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let released = release_for(d, h.user, h.uai, h.resource, now)
        .await
        .map_err(HandOverError::Flow)?;
    let grant = released.grant.clone();
    let (ido, names) = (
        released.attributes.subject.clone(),
        released.attributes.names(),
    );
    let (service, outil) = (
        released
            .resource
            .category
            .clone()
            .unwrap_or_else(|| crate::domain::audience_event::DEFAULT_SERVICE.to_string()),
        released.resource.name.clone(),
    );
    let out = issue(released).await.map_err(HandOverError::Issue)?;
    if h.issuance == Issuance::Access {
        d.audience.record(crate::audience::Access {
            at: now,
            subject: d.subject(grant.ent(), grant.person_id()),
            resource: grant.resource().to_string(),
            provider: h.provider.to_string(),
            uai: grant.uai().to_string(),
            ent: grant.ent().to_string(),
            profile: grant.profile().code().to_string(),
            channel: h.channel,
            device: h.device,
            service,
            outil,
        });
        d.tracer.record(TraceEvent::CredentialIssued {
            protocol: h.protocol,
            provider: h.provider.to_string(),
            resource: grant.resource().clone(),
            uai: grant.uai().clone(),
            profile: grant.profile(),
            ent: grant.ent().clone(),
            ido,
            attributes: names,
            channel: h.channel,
        });
    }
    Ok(out)
}
