//! The use cases, protocol-free: what the gateway does for a request once `http` has parsed
//! it, and before a protocol module turns the outcome into a message.
//!
//! - [`access`]: opening a resource. A médiacentre launch (`launch`), an application's
//!   authorization (`authorize`), and the hand-over of credentials to a provider
//!   (`hand_over`: the access rule again, the attributes released, the credential issued by
//!   the protocol's closure, the audience count and the trace), the one path every provider
//!   protocol takes.
//! - [`assign`]: a manager assigning licences and withdrawing them.
//! - [`login`]: finishing an ENT login: the session, its trace, and the launch it was for,
//!   the session written once.
//! - [`logout`]: ending sessions before their time (another person, no ENT session, the
//!   ENT's single logout), traced; the index from an ENT's login to its session.
//! - [`subscription`]: a provider writing its subscriptions (create, update, delete, read,
//!   list), the business rules and the audit trace of each change.
//!
//! A flow takes [`Deps`], the narrow set of what it may touch (the store, the tracer, the IDO
//! key, the audience pipeline), never the application state or the configuration; time is a
//! parameter. Handlers parse, call one flow and map its result; the demo calls flows too.
//!
//! Invariant: nothing here names `crate::http`, `crate::app` or a protocol crate.

pub mod access;
pub mod assign;
pub mod login;
pub mod logout;
pub mod subscription;

use crate::audience::Audience;
use crate::domain::{IdEnt, IdoKey, IdoScope, Refusal};
use crate::store::{Store, StoreError};
use crate::trace::Tracer;

/// What a flow may touch.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub store: &'a dyn Store,
    pub tracer: &'a Tracer,
    /// The key of pseudonymous identifiers (IDO, trace subjects) and how IDOs are scoped.
    pub ido_key: &'a IdoKey,
    pub ido_scope: IdoScope,
    /// This node's audience pipeline.
    pub audience: &'a Audience,
    /// Who hears that a session ended before its time (its relying parties).
    pub farewells: &'a dyn logout::Farewells,
}

impl Deps<'_> {
    /// The pseudonymous subject of trace events for user `person_id` of `ent`.
    pub fn subject(&self, ent: &IdEnt, person_id: &str) -> String {
        self.ido_key.trace_subject(ent, person_id)
    }
}

/// Why a flow did not complete.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The access rule said no (already traced).
    #[error("access refused: {}", .0.code())]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user a flow acts for: a person of an ENT's directory.
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    pub ent: &'a IdEnt,
    pub person_id: &'a str,
}

impl<'a> User<'a> {
    pub fn of(session: &'a crate::session::Session) -> Self {
        Self {
            ent: &session.ent,
            person_id: &session.person_id,
        }
    }
}
