//! `passerelle demo`: the whole system in one process, on this machine, with no set-up.
//!
//! The gateway (on `port`), a demo ENT (`port + 1`: login chooser, médiacentre, SAML IdP) and
//! a demo SAML resource (`port + 2`), with ephemeral keys, the in-memory store and a seeded
//! directory, catalogue, subscriptions and assignments.

mod data;
mod ent;
mod resource;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EntAuth, EntConfig, ProviderConfig, SamlConfig, StoreConfig};
use crate::domain::{IdoKey, IdoScope};
use crate::saml::algorithms::AlgorithmPolicy;
use crate::saml::idp::{IdpSettings, ProviderSp};
use crate::saml::keys::SigningKey;
use crate::saml::metadata::IdpPeer;
use crate::saml::sp::{EntIdp, SpSettings};
use crate::store::MemoryStore;
use crate::trace::{JsonLinesSink, TraceSink};

/// The three servers of a running demo.
pub struct Demo {
    pub gateway_url: String,
    pub ent_url: String,
    pub resource_url: String,
    pub trace_path: std::path::PathBuf,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Demo {
    /// Stops the three servers and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
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
pub async fn run(port: u16) -> anyhow::Result<()> {
    let next = |n: u16| {
        port.checked_add(n).ok_or_else(|| {
            anyhow::anyhow!("--port {port} leaves no room for the demo ENT and resource")
        })
    };
    let demo = start(
        bind(port, "gateway").await?,
        bind(next(1)?, "demo ENT").await?,
        bind(next(2)?, "demo resource").await?,
    )
    .await?;
    println!("passerelle demo is running.\n");
    println!("  Open {}/ in a browser: the demo ENT.", demo.ent_url);
    println!("  Log in as a demo user, open resources from the médiacentre; the demo resource");
    println!("  shows the attributes it received and that the gateway's signature verified.");
    println!("  \"Atlas historique\" is not assigned to the pupil: the gateway refuses it.\n");
    println!("  gateway        {}", demo.gateway_url);
    println!("  demo ENT       {}", demo.ent_url);
    println!("  demo resource  {}", demo.resource_url);
    println!("  trace events   {}\n", demo.trace_path.display());
    println!("Ctrl-C to stop.");
    crate::cli::shutdown_signal().await;
    demo.stop().await;
    Ok(())
}

/// Starts the demo on three bound listeners.
pub async fn start(
    gateway: TcpListener,
    ent: TcpListener,
    resource: TcpListener,
) -> anyhow::Result<Demo> {
    let url =
        |l: &TcpListener| -> anyhow::Result<String> { Ok(format!("http://{}", l.local_addr()?)) };
    let (gateway_url, ent_url, resource_url) = (url(&gateway)?, url(&ent)?, url(&resource)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();

    let gateway_key = SigningKey::generate_self_signed("demo gateway", 2)?;
    let ent_key = SigningKey::generate_self_signed("demo ENT", 2)?;
    let resource_key = SigningKey::generate_self_signed("demo resource", 2)?;
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);

    let skew = Duration::from_secs(120);
    let ent_entity = format!("{ent_url}/idp");
    let resource_entity = format!("{resource_url}/saml/metadata");
    let trace_path = std::env::temp_dir().join(format!(
        "passerelle-demo-trace-{}.jsonl",
        std::process::id()
    ));
    let config = Config {
        public_base_url: gateway_url.parse()?,
        listen: gateway.local_addr()?,
        node_name: "demo".into(),
        session_ttl: Duration::from_secs(6 * 3600),
        max_body_bytes: 1024 * 1024,
        tls: None,
        store: StoreConfig::Memory,
        signing_key: gateway_key.clone(),
        ido_key: IdoKey::new(&secret).map_err(anyhow::Error::msg)?,
        ido_scope: IdoScope::TechnicalDistributor,
        saml: SamlConfig {
            clock_skew: skew,
            request_ttl: Duration::from_secs(600),
            max_message_bytes: 256 * 1024,
            assertion_lifetime: Duration::from_secs(300),
        },
        trace_path: trace_path.display().to_string(),
        seed_files: vec![],
        ents: BTreeMap::from([(
            data::ENT_ID.parse()?,
            EntConfig {
                id: data::ENT_ID.parse()?,
                name: "ENT Démo".into(),
                auth: EntAuth::Saml(EntIdp {
                    peer: IdpPeer {
                        entity_id: ent_entity.clone(),
                        sso_redirect_url: format!("{ent_url}/idp/sso"),
                        signing_certs: vec![ent_key.certificate.clone()],
                    },
                    algorithms: AlgorithmPolicy::default(),
                }),
                api_token: None,
                client_cert_fingerprint: None,
            },
        )]),
        providers: BTreeMap::from([(
            "demo-editeur".to_string(),
            ProviderConfig {
                key: "demo-editeur".into(),
                name: "Éditions Démo".into(),
                technical_distributor: data::DISTRIBUTOR.into(),
                commercial_distributors: vec![data::DISTRIBUTOR.into()],
                api_token: None,
                client_cert_fingerprint: None,
                saml: Some(ProviderSp {
                    entity_id: resource_entity.clone(),
                    acs_urls: vec![format!("{resource_url}/saml/acs")],
                    signing_certs: vec![resource_key.certificate.clone()],
                    algorithms: AlgorithmPolicy::default(),
                }),
                resources: data::catalogue(&resource_url)?,
            },
        )]),
    };

    let trace: Arc<dyn TraceSink> = Arc::new(JsonLinesSink::open(&config.trace_path, "demo")?);
    let state = AppState::new(config, Arc::new(MemoryStore::new()), clock.clone(), trace);
    state.seed().await?;
    data::seed(now)?.apply(state.store.as_ref()).await?;

    let chrono_skew = chrono::Duration::seconds(120);
    let demo_ent = ent::DemoEnt::new(
        gateway_url.clone(),
        ent_key,
        ProviderSp {
            entity_id: state.sp.entity_id.clone(),
            acs_urls: vec![state.sp.acs_url.clone()],
            signing_certs: vec![gateway_key.certificate.clone()],
            algorithms: AlgorithmPolicy::default(),
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
    );
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
            },
            algorithms: AlgorithmPolicy::default(),
        },
        clock,
    );

    let (stop, rx) = watch::channel(false);
    let until = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let tasks = vec![
        tokio::spawn(crate::http::serve(gateway, state, until(rx.clone()))),
        tokio::spawn(async move {
            axum::serve(ent, ent::router(demo_ent))
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
    ];
    Ok(Demo {
        gateway_url,
        ent_url,
        resource_url,
        trace_path,
        stop,
        tasks,
    })
}
