//! The application state shared by every request, built once from the validated config; its
//! keys and certificates are replaced by a reload (`reload`).

use std::sync::Arc;

use chrono::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::saml::idp::IdpSettings;
use crate::saml::sp::SpSettings;
use crate::store::Store;
pub use crate::trace::Metrics;
use crate::trace::{TraceEvent, TraceSink, Tracer};

mod outbox;
pub mod reload;
pub use self::outbox::{Backchannels, LEASE as LOGOUT_LEASE, POLL as LOGOUT_POLL};

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Decisions: traced, counted (`metrics`), stamped by the clock.
    pub tracer: Tracer,
    pub metrics: Arc<Metrics>,
    pub sp: Arc<SpSettings>,
    pub idp: Arc<IdpSettings>,
    /// The discovered OpenID Providers of ENTs that authenticate over OIDC.
    pub ent_oidc: Arc<crate::oidc::rp::Providers>,
    /// This node's audience pipeline (started by `serve`, the demo and tests that count).
    pub audience: Arc<crate::audience::Audience>,
    /// This node's views of schools' listing inputs.
    pub listing_cache: Arc<crate::listing::ListingCache>,
    /// Slots for XML signature work off the async workers (`http::verify`).
    pub crypto_slots: Arc<tokio::sync::Semaphore>,
    /// This node's request limits and their counts (`[limits]`).
    pub limits: Arc<crate::limits::Limiter>,
    /// The ENT chooser's school search (`school_index`).
    pub school_index: Arc<crate::school_index::SchoolIndex>,
    /// Partners' metadata: refreshes, last good copies (`partners`).
    pub partners: Arc<crate::partners::Partners>,
    /// The OpenID Provider's issuer URL.
    oidc_issuer: Arc<str>,
    /// Who tells a session's parties that it ended (back-channel logouts, through the
    /// store's outbox).
    farewells: Arc<Backchannels>,
}

/// Twice the CPUs of this machine: how many signature jobs run at once.
fn crypto_slots() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    cpus.max(1) * 2
}

fn secs(d: std::time::Duration) -> Duration {
    Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000))
}

/// The partners whose metadata is a living source: SAML ENTs and providers registered by
/// metadata, each with the cell its configuration's readers share.
fn partner_specs(config: &Config) -> Vec<crate::partners::PartnerSpec> {
    use crate::config::EntAuth;
    use crate::partners::{Cell, PartnerSpec};
    let ents = config
        .ents
        .values()
        .filter_map(|e| match (&e.auth, &e.metadata) {
            (EntAuth::Saml(live), Some(m)) => Some(PartnerSpec {
                key: format!("ent:{}", e.id),
                source: m.source.clone(),
                cell: Cell::Idp(live.clone()),
                initial_xml: m.initial_xml.clone(),
                from_cache: m.from_cache,
            }),
            _ => None,
        });
    let providers = config.providers.values().filter_map(|p| {
        let (live, m) = (p.saml.as_ref()?, p.metadata.as_ref()?);
        Some(PartnerSpec {
            key: format!("provider:{}", p.key),
            source: m.source.clone(),
            cell: Cell::Sp {
                live: live.clone(),
                slo_soap: m.slo_soap_url.clone(),
                slo_redirect: m.slo_redirect_url.clone(),
            },
            initial_xml: m.initial_xml.clone(),
            from_cache: m.from_cache,
        })
    });
    ents.chain(providers).collect()
}

impl AppState {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        trace: Arc<dyn TraceSink>,
    ) -> Self {
        let sp = SpSettings {
            entity_id: config.url("/saml/metadata"),
            acs_url: config.url("/saml/acs"),
            clock_skew: secs(config.saml.clock_skew),
            max_message_bytes: config.saml.max_message_bytes,
        };
        let idp = IdpSettings {
            entity_id: config.url("/idp/metadata"),
            sso_redirect_url: config.url("/idp/profile/SAML2/Redirect/SSO"),
            sso_post_url: config.url("/idp/profile/SAML2/POST/SSO"),
            clock_skew: secs(config.saml.clock_skew),
            max_message_bytes: config.saml.max_message_bytes,
            assertion_lifetime: secs(config.saml.assertion_lifetime),
        };
        let audience = Arc::new(crate::audience::Audience::new(
            config.audience.clone(),
            config.node_name.clone(),
            config.url(""),
        ));
        let listing_cache = Arc::new(crate::listing::ListingCache::new(
            config.listing.cache_schools,
        ));
        let limits = Arc::new(crate::limits::Limiter::new(&config));
        let school_index = Arc::new(crate::school_index::SchoolIndex::new(
            config.limits.chooser_refresh,
        ));
        let tracer = Tracer::new(trace, clock.clone());
        let partners = Arc::new(crate::partners::Partners::new(
            partner_specs(&config),
            config.metadata.clone(),
            store.clone(),
            clock.clone(),
            tracer.clone(),
        ));
        let config = Arc::new(config);
        let farewells = Arc::new(Backchannels::new(
            config.clone(),
            store.clone(),
            tracer.clone(),
            clock.clone(),
        ));
        Self {
            farewells,
            partners,
            oidc_issuer: config.oidc_issuer().into(),
            metrics: tracer.metrics.clone(),
            tracer,
            audience,
            listing_cache,
            limits,
            school_index,
            config,
            store,
            clock,
            sp: Arc::new(sp),
            idp: Arc::new(idp),
            ent_oidc: Arc::new(crate::oidc::rp::Providers::new()),
            crypto_slots: Arc::new(tokio::sync::Semaphore::new(crypto_slots())),
        }
    }

    /// Records a trace event at the current time and counts it.
    pub fn trace(&self, event: TraceEvent) {
        self.tracer.record(event);
    }

    /// What the flows (`crate::flow`) may touch.
    pub fn deps(&self) -> crate::flow::Deps<'_> {
        crate::flow::Deps {
            store: self.store.as_ref(),
            tracer: &self.tracer,
            ido_key: &self.config.ido_key,
            ido_scope: self.config.ido_scope,
            audience: &self.audience,
            farewells: &self.farewells,
        }
    }

    /// Starts this node's logout outbox worker: it sends the back-channel logouts that a node
    /// which stopped left in the store (`serve`, the demo; tests that stop nodes).
    pub fn spawn_logout_outbox(&self) -> tokio::task::JoinHandle<()> {
        self.farewells.spawn()
    }

    /// Stops this node's back-channel logouts where they are, as if the node died: their
    /// records wait in the store for another node's worker.
    pub fn stop_logout_outbox(&self) {
        self.farewells.stop();
    }

    /// What the OpenID Provider's back-channel operations touch.
    pub fn op(&self) -> crate::oidc::op::service::Op<'_> {
        crate::oidc::op::service::Op {
            store: self.store.as_ref(),
            settings: &self.config.oidc,
            issuer: &self.oidc_issuer,
        }
    }

    /// Records which configuration and keys this node runs with (for the audit trail).
    pub fn trace_configuration(&self) {
        use sha2::Digest;
        let c = &self.config;
        self.trace(TraceEvent::ConfigurationLoaded {
            signing_certificate_sha256: hex::encode(sha2::Sha256::digest(
                c.signing_key.get().certificate.der_data(),
            )),
            oidc_kids: c.oidc.keys.kids(),
            ents: c.ents.len(),
            providers: c.providers.len(),
        });
    }

    /// Loads the configured catalogue and seed files into the store.
    pub async fn seed(&self) -> anyhow::Result<()> {
        let distributors: Vec<String> = self
            .config
            .providers
            .values()
            .flat_map(|p| p.commercial_distributors.iter().cloned())
            .collect();
        let n = self.store.reindex_subscriptions(&distributors).await?;
        if n > 0 {
            tracing::info!(
                subscriptions = n,
                "per-school subscription sets built for existing subscriptions"
            );
        }
        for p in self.config.providers.values() {
            for r in &p.resources {
                self.store.put_resource(r).await?;
            }
        }
        for f in &self.config.seed_files {
            crate::seed::Seed::from_file(f)?
                .apply(self.store.as_ref())
                .await?;
        }
        Ok(())
    }
}
