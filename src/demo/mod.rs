//! `passerelle demo`: the whole system in one process, on this machine, with no set-up.
//!
//! The gateway (on `port`), a demo ENT (`port + 1`: login chooser, médiacentre, SAML IdP), a
//! demo SAML resource (`port + 2`), a demo OIDC resource (`port + 3`) and a demo CAS resource
//! (`port + 4`), with ephemeral keys,
//! the in-memory store and a catalogue from its configuration. Once the gateway listens, the
//! demo seeds it through the real paths (`seeding`): directory feed, subscription web service,
//! assignment rule.

mod cas_resource;
pub mod data;
mod ent;
mod ent_backchannel;
mod ent_oidc;
mod oidc_resource;
mod resource;
mod seeding;

pub use seeding::Seeding;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::clock::{Clock, SystemClock};
use crate::config::{
    Config, EntAuth, EntConfig, OidcConfig, ProviderConfig, SamlConfig, Secret, StoreConfig,
};
use crate::domain::{IdoKey, IdoScope};
use crate::oidc::op::client::{ApplicationType, OidcClient};
use crate::oidc::op::keys::{Algorithm, KeySet, OidcKey};
use crate::saml::algorithms::AlgorithmPolicy;
use crate::saml::idp::{IdpSettings, ProviderSp};
use crate::saml::keys::SigningKey;
use crate::saml::metadata::IdpPeer;
use crate::saml::sp::{EntIdp, SpSettings};
use crate::store::MemoryStore;
use crate::trace::{JsonLinesSink, TraceSink};

/// The five servers of a running demo.
pub struct Demo {
    pub gateway_url: String,
    pub ent_url: String,
    pub resource_url: String,
    pub oidc_resource_url: String,
    pub cas_resource_url: String,
    pub trace_path: std::path::PathBuf,
    /// The audit log's directory, and the gateway certificate that verifies its checkpoints.
    pub audit_dir: std::path::PathBuf,
    pub audit_certificate: std::path::PathBuf,
    /// The token of the demo's ministry reader of the audience dashboard.
    pub audience_token: String,
    /// The token of the demo's auditor (`/audit`).
    pub auditor_token: String,
    /// What was seeded at start-up, and through which paths.
    pub seeding: Seeding,
    /// The audience pipeline's tasks and the logout outbox worker.
    audience_tasks: Vec<JoinHandle<()>>,
    audit: Arc<crate::audit::AuditLog>,
    clock: Arc<dyn Clock>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Demo {
    /// Signs the audit log's head now (the demo also does it when it stops).
    pub fn checkpoint(&self) -> std::io::Result<()> {
        self.audit.checkpoint(self.clock.now())
    }

    /// Stops the five servers and waits for them.
    pub async fn stop(self) {
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "demo: the audit checkpoint could not be written");
        }
        let _ = self.stop.send(true);
        for t in &self.audience_tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn bind(port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port} for the {what}: {e} (choose other ports with --port)"))
}

/// Runs the demo until Ctrl-C.
pub async fn run(port: u16, ent_over_oidc: bool) -> anyhow::Result<()> {
    let next = |n: u16| {
        port.checked_add(n).ok_or_else(|| {
            anyhow::anyhow!("--port {port} leaves no room for the demo ENT and resource")
        })
    };
    let demo = start_with(
        bind(port, "gateway").await?,
        bind(next(1)?, "demo ENT").await?,
        bind(next(2)?, "demo resource").await?,
        bind(next(3)?, "demo OIDC resource").await?,
        bind(next(4)?, "demo CAS resource").await?,
        ent_over_oidc,
    )
    .await?;
    let ent_protocol = if ent_over_oidc {
        "OpenID Connect"
    } else {
        "SAML"
    };
    println!("passerelle demo is running.\n");
    println!(
        "  Open {}/ in a browser: the demo ENT (it authenticates users to the gateway over {ent_protocol}).",
        demo.ent_url
    );
    println!("  Log in as a demo user, open resources from the médiacentre; the demo resource");
    println!("  shows the attributes it received and that the gateway's signature verified.");
    println!(
        "  The médiacentre lists what the gateway's listing gives each user; \"Atlas historique\""
    );
    println!("  is not assigned to the pupil: its direct link shows the gateway's refusal.\n");
    println!("  gateway        {}", demo.gateway_url);
    println!("  demo ENT       {}", demo.ent_url);
    println!("  demo resource  {} (SAML)", demo.resource_url);
    println!(
        "  demo resource  {} (OpenID Connect)",
        demo.oidc_resource_url
    );
    println!("  demo resource  {} (CAS)", demo.cas_resource_url);
    println!(
        "  directory      {}  (imported: {} school(s), {} person(s), {} class(es) and group(s))",
        demo.seeding.export_dir.display(),
        demo.seeding.import.schools,
        demo.seeding.import.persons,
        demo.seeding.import.groups
    );
    println!(
        "  subscriptions  {} created over {}/abonnement/, {} assignment(s) made by the manager",
        demo.seeding.subscriptions.len(),
        demo.gateway_url,
        demo.seeding.assignments
    );
    println!("  trace events   {}", demo.trace_path.display());
    println!(
        "  audit log      {}  (after Ctrl-C: passerelle audit verify {} --certificate {};",
        demo.audit_dir.display(),
        demo.audit_dir.display(),
        demo.audit_certificate.display()
    );
    println!(
        "                 the binary is target/release/passerelle, or `cargo install --path .`)"
    );
    println!(
        "  audit search   {}/audit  (auditor token: {})\n",
        demo.gateway_url, demo.auditor_token
    );
    println!(
        "  audience       {}/audience  (reader token: {})\n",
        demo.gateway_url, demo.audience_token
    );
    println!("Ctrl-C to stop.");
    crate::shutdown::signal().await;
    demo.stop().await;
    Ok(())
}

/// Starts the demo on five bound listeners, the demo ENT authenticating users over SAML.
pub async fn start(
    gateway: TcpListener,
    ent: TcpListener,
    resource: TcpListener,
    oidc_resource: TcpListener,
    cas_resource: TcpListener,
) -> anyhow::Result<Demo> {
    start_with(gateway, ent, resource, oidc_resource, cas_resource, false).await
}

/// Starts the demo; with `ent_over_oidc`, the demo ENT authenticates users to the gateway
/// over OpenID Connect instead of SAML.
pub async fn start_with(
    gateway: TcpListener,
    ent: TcpListener,
    resource: TcpListener,
    oidc_resource: TcpListener,
    cas_resource: TcpListener,
    ent_over_oidc: bool,
) -> anyhow::Result<Demo> {
    let url =
        |l: &TcpListener| -> anyhow::Result<String> { Ok(format!("http://{}", l.local_addr()?)) };
    let (gateway_url, ent_url, resource_url) = (url(&gateway)?, url(&ent)?, url(&resource)?);
    let oidc_url = url(&oidc_resource)?;
    let cas_url = url(&cas_resource)?;
    let oidc_secret = crate::oidc::op::records::new_secret();
    let ent_oidc_secret = crate::oidc::op::records::new_secret();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();

    let gateway_key = SigningKey::generate_self_signed("demo gateway", 2)?;
    let ent_key = SigningKey::generate_self_signed("demo ENT", 2)?;
    let ent_key_pkey = ent_key.key.clone();
    let resource_key = SigningKey::generate_self_signed("demo resource", 2)?;
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);
    let mut reader_token = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut reader_token);
    let audience_token = hex::encode(reader_token);
    // The demo providers' bearer tokens for the subscription web service.
    let provider_token = || {
        let mut t = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut t);
        hex::encode(t)
    };
    // The demo ENT's token on the gateway's web services (the médiacentre listing).
    let ent_token = provider_token();
    let provider_tokens = [
        ("demo-atelier", provider_token()),
        ("demo-editeur", provider_token()),
        ("demo-cahier", provider_token()),
    ];

    let skew = Duration::from_secs(120);
    let ent_entity = format!("{ent_url}/idp");
    let resource_entity = format!("{resource_url}/saml/metadata");
    let trace_path = std::env::temp_dir().join(format!(
        "passerelle-demo-trace-{}-{}.jsonl",
        std::process::id(),
        gateway.local_addr()?.port()
    ));
    let ent_auth = if ent_over_oidc {
        EntAuth::Oidc(Box::new(crate::oidc::rp::EntOidc {
            issuer: format!("{ent_url}/oidc"),
            client_id: "passerelle".into(),
            client_secret: Secret::new(ent_oidc_secret.clone()),
            scopes: vec!["openid".into()],
            id_token_signing_algs: vec![crate::oidc::rp::IdTokenAlg::Rs256],
            ent_claim: "idEnt".into(),
            person_claim: "GARPersonIdentifiant".into(),
            discovery_ttl: Duration::from_secs(3600),
            clock_skew: Duration::from_secs(60),
            // The demo ENT listens on loopback.
            allow_private_network: true,
        }))
    } else {
        EntAuth::Saml(crate::partners::Live::new(EntIdp {
            peer: IdpPeer {
                entity_id: format!("{ent_url}/idp"),
                sso_redirect_url: format!("{ent_url}/idp/sso"),
                signing_certs: vec![ent_key.certificate.clone()],
                slo: crate::saml::metadata::SloEndpoints {
                    redirect: Some(format!("{ent_url}/idp/slo")),
                    post: None,
                    soap: None,
                },
            },
            algorithms: AlgorithmPolicy::default(),
        }))
    };
    let audit_dir = std::env::temp_dir().join(format!(
        "passerelle-demo-audit-{}-{}",
        std::process::id(),
        gateway_url.rsplit(':').next().unwrap_or_default()
    ));
    let audit_certificate = audit_dir.join("gateway.crt");
    let audit_settings = crate::audit::AuditSettings {
        dir: audit_dir.clone(),
        max_segment_bytes: 16 * 1024 * 1024,
        retention: chrono::Duration::days(400),
        checkpoint_interval: Duration::from_secs(60),
    };
    // The demo's auditor (the school's data protection officer's view of the whole trail).
    let auditor_token = provider_token();
    let config = Config {
        public_base_url: gateway_url.parse()?,
        listen: gateway.local_addr()?,
        node_name: "demo".into(),
        session_ttl: Duration::from_secs(6 * 3600),
        max_body_bytes: 1024 * 1024,
        tls: None,
        trusted_proxy: None,
        store: StoreConfig::Memory,
        store_settings: Default::default(),
        signing_key: crate::partners::Live::new(gateway_key.clone()),
        ido_key: IdoKey::new(&secret).map_err(anyhow::Error::msg)?,
        ido_scope: IdoScope::TechnicalDistributor,
        saml: SamlConfig {
            clock_skew: skew,
            request_ttl: Duration::from_secs(600),
            max_message_bytes: 256 * 1024,
            assertion_lifetime: Duration::from_secs(300),
            metadata_validity: Duration::from_secs(7 * 86_400),
            next_signing_certificate: crate::partners::Live::new(None),
        },
        oidc: OidcConfig::with_keys(
            KeySet::new(vec![OidcKey::from_pkey(
                &gateway_key.key,
                Algorithm::RS256,
                None,
            )
            .map_err(anyhow::Error::msg)?])
            .map_err(anyhow::Error::msg)?,
        ),
        trace_path: trace_path.display().to_string(),
        audit: Some(audit_settings.clone()),
        auditors: BTreeMap::from([(
            "demo-dpd".to_string(),
            crate::config::AuditorConfig {
                key: "demo-dpd".into(),
                name: "Délégué à la protection des données (démo)".into(),
                token: Secret::new(auditor_token.clone()),
                scope: crate::domain::Jurisdiction::All,
            },
        )]),
        audience: crate::audience::AudienceSettings {
            poll_interval: Duration::from_millis(100),
            ..Default::default()
        },
        audience_readers: BTreeMap::from([(
            "demo-ministere".to_string(),
            crate::config::AuditorConfig {
                key: "demo-ministere".into(),
                name: "Ministère (démo)".into(),
                token: Secret::new(audience_token.clone()),
                scope: crate::domain::Jurisdiction::All,
            },
        )]),
        seed_files: vec![],
        feed: Default::default(),
        listing: Default::default(),
        subscriptions: Default::default(),
        cas: Default::default(),
        limits: Default::default(),
        metrics: Default::default(),
        admin: None,
        source: None,
        metadata: Default::default(),
        ents: BTreeMap::from([(
            data::ENT_ID.parse()?,
            EntConfig {
                id: data::ENT_ID.parse()?,
                name: "ENT Démo".into(),
                auth: ent_auth,
                api_token: Some(Secret::new(ent_token.clone())),
                client_cert_fingerprint: None,
                schools: None,
                confirm_person_after: std::time::Duration::ZERO,
                metadata: None,
            },
        )]),
        providers: BTreeMap::from([
            (
                "demo-atelier".to_string(),
                ProviderConfig {
                    key: "demo-atelier".into(),
                    name: "Atelier Démo".into(),
                    technical_distributor: data::OIDC_DISTRIBUTOR.into(),
                    commercial_distributors: vec![data::OIDC_DISTRIBUTOR.into()],
                    api_token: Some(Secret::new(provider_tokens[0].1.clone())),
                    client_cert_fingerprint: None,
                    saml: None,
                    metadata: None,
                    oidc_clients: vec![OidcClient {
                        client_id: data::OIDC_CLIENT_ID.into(),
                        secret: Some(Secret::new(oidc_secret.clone())),
                        application_type: ApplicationType::Web,
                        redirect_uris: vec![format!("{oidc_url}/oidc/callback")],
                        post_logout_redirect_uris: vec![format!("{oidc_url}/")],
                        backchannel_logout_uri: None,
                        frontchannel_logout_uri: None,
                        refresh_tokens: false,
                        require_pkce: true,
                    }],
                    cas_services: Vec::new(),
                    resources: vec![data::oidc_resource(&oidc_url)?],
                },
            ),
            (
                "demo-cahier".to_string(),
                ProviderConfig {
                    key: "demo-cahier".into(),
                    name: "Cahier Démo".into(),
                    technical_distributor: data::CAS_DISTRIBUTOR.into(),
                    commercial_distributors: vec![data::CAS_DISTRIBUTOR.into()],
                    api_token: Some(Secret::new(provider_tokens[2].1.clone())),
                    client_cert_fingerprint: None,
                    saml: None,
                    metadata: None,
                    oidc_clients: Vec::new(),
                    cas_services: vec![crate::cas::CasService {
                        resource: data::CAS_RESOURCE.ark.parse()?,
                        pattern: crate::cas::service::Pattern::Exact(data::cas_service(&cas_url)),
                        logout_url: Some(format!("{cas_url}/logout")),
                    }],
                    resources: vec![data::cas_resource(&cas_url)?],
                },
            ),
            (
                "demo-editeur".to_string(),
                ProviderConfig {
                    key: "demo-editeur".into(),
                    name: "Éditions Démo".into(),
                    technical_distributor: data::DISTRIBUTOR.into(),
                    commercial_distributors: vec![data::DISTRIBUTOR.into()],
                    api_token: Some(Secret::new(provider_tokens[1].1.clone())),
                    client_cert_fingerprint: None,
                    metadata: None,
                    saml: Some(crate::partners::Live::new(ProviderSp {
                        entity_id: resource_entity.clone(),
                        acs_urls: vec![format!("{resource_url}/saml/acs")],
                        signing_certs: vec![resource_key.certificate.clone()],
                        algorithms: AlgorithmPolicy::default(),
                        slo: crate::saml::metadata::SloEndpoints {
                            soap: Some(format!("{resource_url}{}", resource::SLO_SOAP_PATH)),
                            redirect: Some(format!("{resource_url}{}", resource::SLO_PATH)),
                            ..Default::default()
                        },
                    })),
                    oidc_clients: Vec::new(),
                    cas_services: Vec::new(),
                    resources: data::catalogue(&resource_url)?,
                },
            ),
        ]),
    };

    let audit = Arc::new(crate::audit::AuditLog::open(
        audit_settings,
        "demo",
        gateway_key.key.clone(),
    )?);
    std::fs::write(&audit_certificate, gateway_key.certificate_pem()?)?;
    let trace: Arc<dyn TraceSink> = Arc::new(crate::trace::FanOut(vec![
        Arc::new(JsonLinesSink::open(&config.trace_path, "demo")?),
        audit.clone(),
    ]));
    let state = AppState::new(config, Arc::new(MemoryStore::new()), clock.clone(), trace);
    let mut audience_tasks = state
        .audience
        .spawn(state.store.clone(), clock.clone())
        .await;
    audience_tasks.push(state.spawn_logout_outbox());
    state.trace_configuration();
    // The catalogue, from the configuration.
    state.seed().await?;
    let seeded = state.clone();

    let chrono_skew = chrono::Duration::seconds(120);
    let demo_ent = ent::DemoEnt::new(
        gateway_url.clone(),
        ent_key,
        ProviderSp {
            entity_id: state.sp.entity_id.clone(),
            acs_urls: vec![state.sp.acs_url.clone()],
            signing_certs: vec![gateway_key.certificate.clone()],
            algorithms: AlgorithmPolicy::default(),
            slo: Default::default(),
        },
        IdpSettings {
            entity_id: ent_entity,
            sso_redirect_url: format!("{ent_url}/idp/sso"),
            sso_post_url: format!("{ent_url}/idp/sso"),
            clock_skew: chrono_skew,
            max_message_bytes: 256 * 1024,
            assertion_lifetime: chrono::Duration::seconds(300),
        },
        clock.clone(),
        ent_token,
    );
    // The demo ENT is also an OpenID Provider, with the gateway registered as its client.
    let ent_op = ent_oidc::DemoEntOp::new(
        demo_ent.clone(),
        format!("{ent_url}/oidc"),
        KeySet::new(vec![OidcKey::from_pkey(
            &ent_key_pkey,
            Algorithm::RS256,
            None,
        )
        .map_err(anyhow::Error::msg)?])
        .map_err(anyhow::Error::msg)?,
        "passerelle".into(),
        ent_oidc_secret,
        format!("{gateway_url}/ent/oidc/callback"),
    );
    if ent_over_oidc {
        ent_op.log_out_at_the_gateway_too();
    }
    let demo_resource = resource::DemoResource::new(
        resource_key,
        SpSettings {
            entity_id: resource_entity,
            acs_url: format!("{resource_url}/saml/acs"),
            clock_skew: chrono_skew,
            max_message_bytes: 256 * 1024,
        },
        EntIdp {
            peer: IdpPeer {
                entity_id: state.idp.entity_id.clone(),
                sso_redirect_url: state.idp.sso_redirect_url.clone(),
                signing_certs: vec![gateway_key.certificate.clone()],
                slo: crate::saml::metadata::SloEndpoints {
                    redirect: Some(format!(
                        "{gateway_url}{}",
                        crate::http::slo::IDP_REDIRECT_PATH
                    )),
                    ..Default::default()
                },
            },
            algorithms: AlgorithmPolicy::default(),
        },
        clock.clone(),
    );

    let demo_oidc = oidc_resource::DemoOidcResource::new(
        gateway_url.clone(),
        data::OIDC_CLIENT_ID.into(),
        oidc_secret,
        format!("{oidc_url}/oidc/callback"),
        clock.clone(),
    )?;

    let demo_cas =
        cas_resource::DemoCasResource::new(gateway_url.clone(), data::cas_service(&cas_url))?;

    let (stop, rx) = watch::channel(false);
    let until = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let tasks = vec![
        tokio::spawn(crate::http::serve(gateway, state, until(rx.clone()))),
        tokio::spawn(async move {
            axum::serve(ent, ent::router(demo_ent).merge(ent_oidc::router(ent_op)))
                .with_graceful_shutdown(until(rx.clone()))
                .await
        }),
        tokio::spawn({
            let rx = stop.subscribe();
            async move {
                axum::serve(resource, resource::router(demo_resource))
                    .with_graceful_shutdown(until(rx))
                    .await
            }
        }),
        tokio::spawn({
            let rx = stop.subscribe();
            async move {
                axum::serve(oidc_resource, oidc_resource::router(demo_oidc))
                    .with_graceful_shutdown(until(rx))
                    .await
            }
        }),
        tokio::spawn({
            let rx = stop.subscribe();
            async move {
                axum::serve(cas_resource, cas_resource::router(demo_cas))
                    .with_graceful_shutdown(until(rx))
                    .await
            }
        }),
    ];
    let export_dir = std::env::temp_dir().join(format!(
        "passerelle-demo-export-{}-{}",
        std::process::id(),
        gateway_url.rsplit(':').next().unwrap_or_default()
    ));
    let seeding =
        match seeding::seed(&seeded, &gateway_url, &provider_tokens, &export_dir, now).await {
            Ok(s) => s,
            Err(e) => {
                let _ = stop.send(true);
                for t in &audience_tasks {
                    t.abort();
                }
                for t in tasks {
                    let _ = t.await;
                }
                return Err(e);
            }
        };
    Ok(Demo {
        gateway_url,
        ent_url,
        resource_url,
        oidc_resource_url: oidc_url,
        cas_resource_url: cas_url,
        trace_path,
        audit_dir,
        audit_certificate,
        audience_token,
        auditor_token,
        seeding,
        audience_tasks,
        audit,
        clock: clock.clone(),
        stop,
        tasks,
    })
}
