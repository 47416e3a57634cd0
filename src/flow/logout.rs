//! Ending gateway sessions before their time, and why: another person logged in at the same
//! browser, the ENT has nobody logged in any more, or the single logout of the ENT or of a
//! provider named the session. [`index`] keeps, beside each session, how its ENT names the login (its logout
//! names it so); [`by_ent`] ends what an ENT's logout names. Every end is traced. A logout is
//! never an access decision: these flows fail only when the store does.

use super::{Deps, User};
use crate::domain::IdEnt;
use crate::session::{CasParty, EntSessionRef, RelyingParty, SamlParty, Session};
use crate::store::StoreError;
use crate::trace::TraceEvent;

/// Store kind of the index from an ENT's login to the gateway session.
const KIND_ENT_SESSION: &str = "ent-session";
/// Store kind of the index from a session's public handle (the SessionIndex providers got).
const KIND_PUBLIC_REF: &str = "session-ref";

/// Why a session ends before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Another person is at the browser: the ENT vouched for someone else.
    Replaced,
    /// Asked who is at the browser, the ENT has nobody logged in.
    NoEntSession,
    /// The ENT's single logout named it.
    EntLogout,
    /// A provider's single logout named it.
    ProviderLogout,
}

impl Ended {
    fn code(self) -> &'static str {
        match self {
            Ended::Replaced => "replaced",
            Ended::NoEntSession => "no_ent_session",
            Ended::EntLogout => "ent_logout",
            Ended::ProviderLogout => "provider_logout",
        }
    }
}

/// Who must hear that a session ended before its time: the relying parties it gave ID tokens
/// to, the CAS services it gave tickets to, the SAML providers it gave assertions to
/// (back-channel logout). Implemented above the flows, by the protocols that can tell them;
/// it records who must hear it (so that it survives the node) and must not wait for them.
#[async_trait::async_trait]
pub trait Farewells: Send + Sync {
    async fn ended(&self, session: &Session);
}

/// Nobody to tell (tools and tests that end no session with relying parties).
pub struct NoFarewells;

#[async_trait::async_trait]
impl Farewells for NoFarewells {
    async fn ended(&self, _: &Session) {}
}

/// Someone a session's end must reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// An OIDC client that got a code (its `backchannel_logout_uri`).
    Oidc(RelyingParty),
    /// A CAS service that got a ticket.
    Cas(CasParty),
    /// A SAML provider that got an assertion (its SOAP `SingleLogoutService`).
    Saml(SamlParty),
}

/// Records (in the stored session) that `session` gave `party` a credential, so that the
/// session's end reaches it.
pub async fn remember(
    d: &Deps<'_>,
    session: &Session,
    party: Party,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let mut s = session.clone();
    match party {
        Party::Oidc(rp) if session.relying_parties.contains(&rp) => return Ok(()),
        Party::Saml(p) if session.saml_parties.contains(&p) => return Ok(()),
        Party::Oidc(rp) => push_capped(&mut s.relying_parties, rp),
        Party::Cas(p) => push_capped(&mut s.cas_services, p),
        Party::Saml(p) => push_capped(&mut s.saml_parties, p),
    }
    let left = (s.expires_at - now).to_std().unwrap_or_default();
    d.store.put_session(&s, left).await
}

/// Appends `v`, keeping the 64 most recent.
fn push_capped<T>(list: &mut Vec<T>, v: T) {
    const MAX: usize = 64;
    list.push(v);
    if list.len() > MAX {
        list.remove(0);
    }
}

/// Ends `session` (it is removed from the store, and its index), traces why, and has its
/// relying parties told.
pub async fn end(d: &Deps<'_>, session: &Session, why: Ended) -> Result<(), StoreError> {
    d.store.delete_session(&session.id).await?;
    if session.has_parties() {
        d.farewells.ended(session).await;
    }
    d.store
        .delete_token(KIND_PUBLIC_REF, &session.public_ref())
        .await?;
    if let Some(r) = &session.ent_session {
        for key in keys(&session.ent, r) {
            d.store.delete_token(KIND_ENT_SESSION, &key).await?;
        }
    }
    let user = User::of(session);
    d.tracer.record(TraceEvent::SessionEnded {
        ent: session.ent.clone(),
        subject: d.subject(user.ent, user.person_id),
        reason: why.code(),
    });
    Ok(())
}

/// The index keys of a login: by subject, by subject and index, and by index alone (an OIDC
/// logout token may name only the `sid`).
fn keys(ent: &IdEnt, r: &EntSessionRef) -> Vec<String> {
    let mut keys = Vec::new();
    for subject in std::iter::once(&r.subject).chain(&r.earlier_subjects) {
        keys.push(EntSessionRef::store_key(ent, subject, None));
        if let Some(index) = &r.index {
            keys.push(EntSessionRef::store_key(ent, subject, Some(index)));
        }
    }
    if let Some(index) = &r.index {
        keys.push(EntSessionRef::store_key(ent, "", Some(index)));
    }
    keys
}

/// Records, for `ttl` (the session's), what finds `session` again: its public handle (a
/// provider's logout names it), and its ENT login, by the ENT's subject and index, by the
/// subject alone (a logout that names no index) and by the index alone.
pub async fn index(
    d: &Deps<'_>,
    session: &Session,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    let value = serde_json::json!({ "session": session.id });
    let mut records = vec![(KIND_PUBLIC_REF, session.public_ref())];
    if let Some(r) = &session.ent_session {
        records.extend(
            keys(&session.ent, r)
                .into_iter()
                .map(|k| (KIND_ENT_SESSION, k)),
        );
    }
    // Written together: on a shared store, one wait rather than one per record.
    futures_util::future::try_join_all(
        records
            .iter()
            .map(|(kind, key)| d.store.put_token(kind, key, &value, ttl)),
    )
    .await?;
    Ok(())
}

/// Ends the sessions that ENT `ent`'s logout names: its login `subject` with one of `indexes`
/// (with no index, the subject's latest session; with no subject, the login of each index).
/// Answers the sessions ended; none when the gateway has no session of that login (already
/// ended, expired, or never opened here).
pub async fn by_ent(
    d: &Deps<'_>,
    ent: &IdEnt,
    subject: Option<&str>,
    indexes: &[String],
) -> Result<Vec<Session>, StoreError> {
    let keys: Vec<String> = match (subject, indexes.is_empty()) {
        (Some(subject), true) => vec![EntSessionRef::store_key(ent, subject, None)],
        (subject, _) => indexes
            .iter()
            .map(|i| EntSessionRef::store_key(ent, subject.unwrap_or(""), Some(i)))
            .collect(),
    };

    let mut ended = Vec::new();
    for key in keys {
        let Some(value) = d.store.get_token(KIND_ENT_SESSION, &key).await? else {
            continue;
        };
        let Some(id) = value.get("session").and_then(|v| v.as_str()) else {
            continue;
        };
        let Some(session) = d.store.get_session(id).await? else {
            d.store.delete_token(KIND_ENT_SESSION, &key).await?;
            continue;
        };
        // The index names this ENT's login: never another's session.
        let named = session.ent == *ent
            && session.ent_session.as_ref().is_some_and(|r| {
                let by_index =
                    indexes.is_empty() || r.index.as_ref().is_some_and(|i| indexes.contains(i));
                by_index && subject.is_none_or(|s| r.names(s))
            });
        if named && !ended.iter().any(|s: &Session| s.id == session.id) {
            end(d, &session, Ended::EntLogout).await?;
            ended.push(session);
        }
    }
    Ok(ended)
}

/// Ends the sessions whose public handles (the SessionIndex the gateway gave providers) a
/// provider's logout names; `provider` (its key) is not told back, the others are. Answers the
/// sessions ended.
pub async fn by_public_ref(
    d: &Deps<'_>,
    refs: &[String],
    provider: &str,
) -> Result<Vec<Session>, StoreError> {
    let mut ended = Vec::new();
    for r in refs {
        let Some(value) = d.store.get_token(KIND_PUBLIC_REF, r).await? else {
            continue;
        };
        let Some(id) = value.get("session").and_then(|v| v.as_str()) else {
            continue;
        };
        match d.store.get_session(id).await? {
            Some(session) if session.public_ref() == *r => {
                // The provider that asked has logged its user out already.
                let mut told = session.clone();
                told.saml_parties.retain(|p| p.provider != provider);
                end(d, &told, Ended::ProviderLogout).await?;
                ended.push(session);
            }
            _ => d.store.delete_token(KIND_PUBLIC_REF, r).await?,
        }
    }
    if !ended.is_empty() {
        tracing::info!(
            provider,
            sessions = ended.len(),
            "a provider's logout ended sessions"
        );
    }
    Ok(ended)
}
