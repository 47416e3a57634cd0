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

pub mod reload;

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
    /// Who tells relying parties that a session ended (OIDC back-channel logout).
    farewells: Arc<Backchannels>,
}

/// Tells the OIDC clients and the CAS services a session gave codes and tickets to that it
/// ended, each in a task of its own (one that does not answer holds up nobody), three attempts
/// (at once, after 1 s, after 4 s), each outcome traced.
pub struct Backchannels {
    config: Arc<Config>,
    tracer: Tracer,
    clock: Arc<dyn Clock>,
    issuer: String,
    http: reqwest::Client,
}

impl Backchannels {
    /// Runs `send` until it succeeds or three attempts failed, then traces the outcome.
    fn deliver<F, Fut>(
        &self,
        runtime: &tokio::runtime::Handle,
        provider: String,
        protocol: &'static str,
        send: F,
    ) where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let tracer = self.tracer.clone();
        runtime.spawn(async move {
            let mut attempts = 0;
            let delivered = loop {
                attempts += 1;
                match send().await {
                    Ok(()) => break true,
                    Err(e) if attempts >= 3 => {
                        tracing::warn!(%provider, protocol, error = %e, "back-channel logout not delivered after 3 attempts: check the provider's logout URL (OIDC backchannel_logout_uri, CAS logout_url)");
                        break false;
                    }
                    Err(_) => {
                        let wait = if attempts == 1 { 1 } else { 4 };
                        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                    }
                }
            };
            tracer.record(TraceEvent::LogoutSent {
                provider,
                protocol,
                delivered,
                attempts,
            });
        });
    }
}

impl crate::flow::logout::Farewells for Backchannels {
    fn ended(&self, session: &crate::session::Session) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for rp in &session.relying_parties {
            let Some(uri) = self
                .config
                .oidc_client(&rp.client_id)
                .and_then(|(_, c)| c.backchannel_logout_uri.clone())
            else {
                continue;
            };
            let (config, clock, issuer, http, rp) = (
                self.config.clone(),
                self.clock.clone(),
                self.issuer.clone(),
                self.http.clone(),
                rp.clone(),
            );
            self.deliver(&runtime, rp.provider.clone(), "oidc", move || {
                let token = crate::oidc::op::backchannel::logout_token(
                    &config.oidc.keys,
                    &issuer,
                    &rp.client_id,
                    &rp.sid,
                    clock.now(),
                );
                let (http, uri) = (http.clone(), uri.clone());
                async move {
                    match token {
                        Ok(token) => crate::oidc::op::backchannel::post(&http, &uri, &token).await,
                        Err(e) => Err(format!("not signed: {}", e.description)),
                    }
                }
            });
        }
        for party in &session.saml_parties {
            let Some((sp_entity, url)) = self
                .config
                .providers
                .get(&party.provider)
                .and_then(|p| p.sp())
                .and_then(|sp| Some((sp.entity_id.clone(), sp.slo.soap.clone()?)))
            else {
                continue;
            };
            let (config, clock, http, party) = (
                self.config.clone(),
                self.clock.clone(),
                self.http.clone(),
                party.clone(),
            );
            self.deliver(&runtime, party.provider.clone(), "saml", move || {
                let issuer = config.url("/idp/metadata");
                let named = crate::saml::slo_out::Named {
                    issuer: &issuer,
                    sp: &sp_entity,
                    name_id: &party.name_id,
                    session_index: &party.session_index,
                };
                let request = crate::saml::slo_out::soap_request(
                    named,
                    &url,
                    &config.signing_key.get(),
                    clock.now(),
                );
                let (http, url, max) = (http.clone(), url.clone(), config.saml.max_message_bytes);
                async move {
                    let body = request.map_err(|e| format!("not signed: {e}"))?;
                    crate::saml::slo_out::post(&http, &url, body, max).await
                }
            });
        }
        for party in &session.cas_services {
            let (clock, http, party) = (self.clock.clone(), self.http.clone(), party.clone());
            self.deliver(&runtime, party.provider.clone(), "cas", move || {
                let (http, party, now) = (http.clone(), party.clone(), clock.now());
                async move {
                    crate::cas::logout::post(&http, &party.logout_url, &party.ticket, now).await
                }
            });
        }
    }
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
        let farewells = Arc::new(Backchannels {
            config: config.clone(),
            tracer: tracer.clone(),
            clock: clock.clone(),
            issuer: config.oidc_issuer(),
            http: crate::outbound::client(std::time::Duration::from_secs(5)),
        });
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
            farewells: self.farewells.as_ref(),
        }
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
