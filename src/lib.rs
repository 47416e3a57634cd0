//! passerelle: an open-source, GAR-compatible access and audience gateway.
//!
//! Code map, in layer order (arrows point inward; `tests/it/layering.rs` keeps them so; the full
//! map is ARCHITECTURE.md):
//! - outer: [`cli`] (commands), [`demo`], [`http`] (router, handlers, pages, cookies, limits
//!   middleware, listeners) and [`app`] (`AppState`; `app::outbox`, the back-channel logouts it
//!   sends through the store's outbox; `app::reload`, the keys and certificates a reload takes;
//!   the only modules that name it).
//! - flows, protocol-free, on narrow dependencies: [`flow`] (opening a resource for every
//!   protocol, starting and finishing an ENT login, ending sessions and the logouts that name
//!   them, assignments, subscriptions), [`listing`] (the médiacentre listing).
//! - protocols and services: [`saml`], [`oidc`], [`cas`], [`feed`] (the ENT directory), [`audience`],
//!   [`audit`], [`limits`], [`school_index`], [`seed`], [`config`] (raw → validated).
//! - core: [`domain`] (identifiers, directory, subscriptions, the access rule, attribute
//!   release, IDO, the audience event and counting rules; pure, time a parameter), [`session`],
//!   [`store`] (traits, memory, Redis; the outbox of deliveries).
//! - leaves: [`trace`] (decision events, `Tracer`), [`xml_boundary`], [`clock`] (the only
//!   reader of the wall clock), [`secret`], [`tls`], [`outbound`] (outbound HTTP clients),
//!   [`shutdown`], [`backoff`], `check_codes` (how a protocol declares its checks: `saml::Check`,
//!   `oidc::rp::Check`, `oidc::ErrorCode`).

pub mod app;
pub mod audience;
pub mod audit;
pub mod backoff;
pub mod cas;
mod check_codes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod feed;
pub mod flow;
pub mod http;
pub mod limits;
pub mod listing;
pub mod oidc;
pub mod outbound;
pub mod partners;
pub mod saml;
pub mod school_index;
pub mod secret;
pub mod seed;
pub mod session;
pub mod shutdown;
pub mod store;
pub mod tls;
pub mod trace;
pub mod xml_boundary;

/// What the fuzz targets of `fuzz/` reach that is not public otherwise (the subscription web
/// service's bodies and filters). Not an API: it follows the code.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::abonnement::filters::{matches, sort};
    pub use crate::http::abonnement::xml::{
        abonnement_xml, document, input_from_fields, read_fields, read_filters, read_json_fields,
        ListRequest,
    };
    pub use chrono_tz::Tz;
    /// The subscriptions' time zone the targets read and write dates in.
    pub const ZONE: Tz = chrono_tz::Europe::Paris;
}
