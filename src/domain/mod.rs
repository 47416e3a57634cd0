//! Protocol-free domain: identifiers, the directory model, subscriptions and assignments,
//! the access rule, attribute release and pseudonymous identifiers.
//!
//! Invariant: nothing here knows about HTTP, SAML, OIDC or Redis, and nothing here reads
//! the clock: every function that depends on time takes `now`.

pub mod access;
pub mod assign;
pub mod audience_event;
pub mod catalogue;
pub mod count_window;
pub mod counting;
pub mod counts_dump;
pub mod directory;
pub mod ido;
pub mod ids;
pub mod jurisdiction;
pub mod licence_count;
pub mod release;
pub mod school_scope;
pub mod subscription;
pub mod subscription_dates;
pub mod subscription_rules;

pub use access::{decide, AccessGrant, AccessRequest, Refusal};
pub use audience_event::{AudienceEvent, Channel, DeviceClass};
pub use catalogue::{Display, Presentation, Protocol, Resource, Term};
pub use count_window::{Decided, PartWindow};
pub use counting::{Counted, Tally};
pub use counts_dump::{CountsDump, Visitors};
pub use directory::{Degree, Directory, Group, GroupKind, Person, School};
pub use ido::{IdoKey, IdoScope};
pub use ids::{AttributeName, IdEnt, Profile, PublicCible, ResourceId, Uai};
pub use jurisdiction::Jurisdiction;
pub use release::{release, ReleasePolicy, ReleasedAttributes};
pub use subscription::{Assignment, AssignmentTarget, AssignmentType, Subscription};
