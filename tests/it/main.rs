//! The integration tests, as one binary (`cargo test --test it`): one module per subject, and
//! `support/` for what they share (the gateway builder, the peers, message builders, the
//! browser's side of logins, the store contracts).
//!
//! Every test runs in this one process, so no test may depend on being alone in it:
//! - logs are captured per thread (`support::captured_logs`, a scoped tracing subscriber, no
//!   global one);
//! - each Redis user works under a key prefix of its own (`support::test_redis`), never a whole
//!   database; the Redis Cluster of `store_cluster` is started on free ports by its test;
//! - listeners bind port 0, temporary files live in a directory of their own;
//! - the few tests that measure the process (its resident memory: `annuaire`, `limits`,
//!   `xml_boundary`) or change it (the proxy variables of `ent_oidc_ssrf`) run alone in a child
//!   process of this binary (`support::alone`), so that neither they nor their neighbours see
//!   each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod abonnement;
mod abonnement_clients;
mod abonnement_dates;
mod abonnement_django_gar;
mod affectations;
mod annuaire;
mod audience_http;
mod audience_matomo;
mod audience_pipeline;
mod audience_r51;
mod audience_store;
mod audit;
mod audit_access;
mod cas;
mod cas_interop;
mod config;
mod config_reference;
mod decompte;
mod demo;
mod docs_links;
mod domaine_gar;
mod ent_oidc;
mod ent_oidc_refusals;
mod ent_oidc_ssrf;
mod ent_slo;
mod ent_slo_front;
mod feed;
mod feed_primary;
mod forwarded_cert;
mod key_rollover;
mod layering;
mod limits;
mod listing;
mod listing_nodes;
mod logout_outbox;
mod logs;
mod metadata_own;
mod metadata_source;
mod metrics_access;
mod mtls;
mod oidc_backchannel;
mod oidc_frontchannel;
mod oidc_interop;
mod oidc_provider;
mod oidc_refusals;
mod pages;
mod pages_browser;
mod provider_slo;
mod provider_slo_oidc_ent;
mod provider_slo_onward;
mod round_trip;
mod saml_backchannel;
mod saml_ent;
mod saml_fixtures;
mod saml_idp;
mod security_headers;
mod shared_computer;
mod slo_propagation;
mod slo_told_in_browser;
mod store_backup;
mod store_cluster;
mod store_contract;
mod store_durable;
mod store_outage;
mod xml_boundary;
