//! passerelle: an open-source, GAR-compatible access and audience gateway.
//!
//! Code map (arrows point inward: http → protocols → domain → store traits):
//! - [`domain`]: identifiers, directory, subscriptions, the access rule, attribute release, IDO.
//! - [`session`]: gateway sessions and pending logins.
//! - [`store`]: storage traits with in-memory and Redis implementations.
//! - [`clock`]: the only reader of the wall clock.

pub mod app;
pub mod audience;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod feed;
pub mod http;
pub mod launch;
pub mod limits;
pub mod listing;
pub mod oidc;
pub mod saml;
pub mod school_index;
pub mod seed;
pub mod session;
pub mod store;
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
}
