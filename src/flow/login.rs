//! An ENT login, whatever the ENT's protocol. [`start`]: the pending login (where the login
//! goes once the ENT vouches for the user, what the protocol keeps for the answer), stored
//! for the request's lifetime, and the URL the protocol sends the browser to. [`finish`]: the
//! gateway session of the person the ENT vouched for, its trace, and where the login was going
//! (a médiacentre launch, a gateway path to resume, nothing); the session is written once.
//! A login replaces the session the browser had: its launches are kept when the ENT vouched
//! for the same person, and it ends otherwise ([`end`], traced), so that no identity outlives
//! a change of person at a shared computer
//! (`logout`).
//!
//! Before `finish`, the caller has verified the ENT's message and consumed the pending login.

use chrono::{DateTime, Utc};

use super::access::{self, Launched};
use super::logout::{self, Ended};
use super::{Deps, FlowError, User};
use crate::domain::{IdEnt, Refusal};
use crate::session::{EntSessionRef, PendingLogin, PendingTarget, Session};
use crate::store::StoreError;
use crate::trace::TraceEvent;

/// A login to start.
#[derive(Debug)]
pub struct Start<'a> {
    /// The login's id: the SAML AuthnRequest ID or the OIDC `state` (the caller makes it, in
    /// the form its protocol needs).
    pub id: String,
    pub ent: &'a IdEnt,
    /// The médiacentre launch the login is for, or a gateway path to resume.
    pub target: Option<PendingTarget>,
    pub resume: Option<String>,
    /// The ENT must authenticate the user again (a provider's `ForceAuthn`).
    pub forced: bool,
    /// The ENT is asked who is at the browser without showing anything (to confirm a session).
    pub passive: bool,
}

/// What the ENT's protocol made of a login to start: where the browser goes, and what it must
/// keep to check the answer (the OIDC nonce and PKCE verifier), opaque here.
#[derive(Debug)]
pub struct Asked {
    pub url: String,
    pub extra: Option<serde_json::Value>,
}

/// Why a login did not start.
#[derive(Debug)]
pub enum StartError<E> {
    /// The protocol could not make the request.
    Ask(E),
    Store(StoreError),
}

/// Starts login `s` at `now`: `ask` makes the protocol's request from the pending login; the
/// pending login is stored for `ttl`. Answers the pending login (its id goes in the browser's
/// login cookie) and the URL to send the browser to.
pub async fn start<E, F, Fut>(
    d: &Deps<'_>,
    s: Start<'_>,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
    ask: F,
) -> Result<(PendingLogin, String), StartError<E>>
where
    F: FnOnce(&PendingLogin) -> Fut,
    Fut: std::future::Future<Output = Result<Asked, E>>,
{
    let mut login = PendingLogin {
        id: s.id,
        ent: s.ent.clone(),
        target: s.target,
        resume: s.resume,
        created_at: now,
        extra: None,
        forced: s.forced,
        passive: s.passive,
    };
    let asked = ask(&login).await.map_err(StartError::Ask)?;
    login.extra = asked.extra;
    d.store
        .put_pending_login(&login, ttl)
        .await
        .map_err(StartError::Store)?;
    Ok((login, asked.url))
}

/// Where a finished login goes on.
#[derive(Debug)]
pub enum Next {
    /// The médiacentre launch the login was for: the resource's access URL, or the refusal
    /// (traced).
    Open(Result<String, Refusal>),
    /// A path of this gateway to resume (the ENT chooser, an authorization, an assignment page).
    Resume(String),
    /// Nowhere: the login itself was the point.
    Done,
}

/// A finished login: the new session (stored) and what comes next.
#[derive(Debug)]
pub struct Finished {
    pub session: Session,
    pub next: Next,
}

/// What the ENT vouched for.
#[derive(Debug)]
pub struct Vouched<'a> {
    pub ent: &'a IdEnt,
    pub person_id: String,
    /// `saml`, `oidc`: the ENT's protocol, for the trace.
    pub protocol: &'static str,
    pub target: Option<PendingTarget>,
    pub resume: Option<String>,
    /// The session this browser had (its cookie named it), which the new one replaces.
    pub previous: Option<Session>,
    /// How the ENT names this login, for its logout.
    pub ent_session: Option<EntSessionRef>,
}

/// Opens the session `id`, for `ttl` from `now`, of the person the ENT vouched for, traces
/// the login, and continues to the launch it was for.
pub async fn finish(
    d: &Deps<'_>,
    v: Vouched<'_>,
    id: String,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<Finished, FlowError> {
    let life = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(6));
    let mut session = Session::opened(id, v.ent.clone(), v.person_id, now, life);
    session.ent_session = v.ent_session;
    if let Some(previous) = v.previous {
        if previous.ent == session.ent && previous.person_id == session.person_id {
            // The same person, confirmed again: what they opened stays theirs, and the ENT's
            // logout may still name the login this session continues.
            d.store.delete_session(&previous.id).await?;
            session.launches = previous.launches;
            session.relying_parties = previous.relying_parties;
            session.cas_services = previous.cas_services;
            session.saml_parties = previous.saml_parties;
            session.ent_session = match (session.ent_session.take(), &previous.ent_session) {
                (Some(login), Some(before)) => Some(login.continuing(before)),
                (login, _) => login,
            };
        } else {
            logout::end(d, &previous, Ended::Replaced).await?;
        }
    }
    logout::index(d, &session, ttl).await?;
    let user = User::of(&session);
    d.tracer.record(TraceEvent::EntLogin {
        ent: session.ent.clone(),
        protocol: v.protocol,
        subject: d.subject(user.ent, user.person_id),
    });
    match (v.target, v.resume) {
        (Some(t), _) => {
            // Stored once, by the launch, granted or not.
            let outcome = access::launch(d, session.clone(), true, &t.uai, &t.resource, now).await;
            match outcome {
                Ok(Launched {
                    session,
                    access_url,
                }) => Ok(Finished {
                    session,
                    next: Next::Open(Ok(access_url)),
                }),
                Err(FlowError::Refused(r)) => Ok(Finished {
                    session,
                    next: Next::Open(Err(r)),
                }),
                Err(e) => Err(e),
            }
        }
        (None, resume) => {
            access::store_session(d, &session, now).await?;
            Ok(Finished {
                session,
                next: resume.map_or(Next::Done, Next::Resume),
            })
        }
    }
}
