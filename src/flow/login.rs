//! Finishing an ENT login, whatever the ENT's protocol: the gateway session of the person the
//! ENT vouched for, its trace, and where the login was going (a médiacentre launch, a
//! gateway path to resume, nothing). The session is written to the store once.
//!
//! The caller has verified the ENT's message and consumed the pending login.

use chrono::{DateTime, Utc};

use super::access::{self, Launched};
use super::{Deps, FlowError, User};
use crate::domain::{IdEnt, Refusal};
use crate::session::{PendingTarget, Session};
use crate::trace::TraceEvent;

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
    let session = Session {
        id,
        ent: v.ent.clone(),
        person_id: v.person_id,
        authenticated_at: now,
        expires_at: now + life,
        launches: Vec::new(),
    };
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
