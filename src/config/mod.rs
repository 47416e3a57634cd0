//! Configuration: TOML file, environment overrides, then validation into typed values.
//!
//! `load` reads the file, applies `PASSERELLE__*` variables (see `env`), collects every
//! unknown key, then `validate` checks everything and reports all problems at once, each
//! naming its key and the environment variable that sets it. Paths in the file are relative
//! to the file's own directory. Secrets (`*_file` keys) are read from files and never printed.

mod audience;
pub mod cas;
mod ctx;
mod ents;
pub mod env;
pub mod feed;
pub mod limits;
pub mod listing;
pub mod metadata;
pub mod metrics;
mod oidc;
pub mod raw;
mod store;
pub mod subscriptions;
pub mod trusted_proxy;
pub mod validate;

pub use self::cas::CasConfig;
pub use self::feed::FeedConfig;
pub use self::limits::LimitsConfig;
pub use self::listing::ListingConfig;
pub use self::metrics::MetricsConfig;
pub use self::oidc::OidcConfig;
pub use self::subscriptions::SubscriptionsConfig;
pub use self::trusted_proxy::TrustedProxyConfig;

pub use crate::secret::Secret;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::domain::{IdEnt, IdoKey, IdoScope, Resource};
use crate::oidc::op::client::OidcClient;
use crate::oidc::rp::EntOidc;
use crate::partners::Live;
use crate::saml::idp::ProviderSp;
use crate::saml::keys::SigningKey;
use crate::saml::sp::EntIdp;

/// Where the default configuration lives.
pub const DEFAULT_PATH: &str = "config/passerelle.toml";

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `ents.B0.saml.idp_metadata`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(
                f,
                "{} (environment: {}): {}",
                self.key,
                env::variable_for(&self.key),
                self.message
            )
        }
    }
}

/// Every problem found, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<Problem>);

/// Where shared state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Memory,
    Redis {
        url: String,
        cluster: bool,
        prefix: String,
    },
}

/// The gateway's own TLS listener.
#[derive(Clone)]
pub struct TlsConfig {
    pub listen: SocketAddr,
    /// The listener's certificate, key and client CAs: replaced by a reload
    /// (`crate::reload`), taken by each new connection.
    pub server: Live<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsConfig {{ listen: {} }}", self.listen)
    }
}

/// SAML timing and size limits.
#[derive(Debug, Clone)]
pub struct SamlConfig {
    pub clock_skew: Duration,
    pub request_ttl: Duration,
    pub max_message_bytes: usize,
    pub assertion_lifetime: Duration,
    /// How long partners may trust the gateway's signed metadata (its `validUntil`;
    /// `[saml] metadata_validity_days`, default 7).
    pub metadata_validity: Duration,
    /// The certificate (DER, base64) of the gateway's next signing key (`[keys]
    /// next_signing_certificate_file`): published beside the current one, so that partners
    /// trust it before the gateway signs with it.
    /// Replaced by a reload (`crate::reload`).
    pub next_signing_certificate: Live<Option<String>>,
}

/// One ENT project.
#[derive(Debug, Clone)]
pub struct EntConfig {
    pub id: IdEnt,
    pub name: String,
    /// How the ENT authenticates its users: its SAML IdP, or its OpenID Provider.
    pub auth: EntAuth,
    /// The bearer token of this ENT's servers on the web services, if configured.
    pub api_token: Option<Secret>,
    /// SHA-256 fingerprint of the client certificate of this ENT's servers, if configured.
    pub client_cert_fingerprint: Option<String>,
    /// The schools its exports may describe (`uais`, `departements`, `academies`); `None`
    /// when it declares none (then only other ENTs' schools are out of its reach).
    pub schools: Option<crate::domain::school_scope::DeclaredSchools>,
    /// How old a session of this ENT may be when it is used (a médiacentre launch, a
    /// provider's SSO, the assignment page) before the ENT is asked again, passively, who is
    /// at the browser: zero (the default) asks before every use, so that on a shared computer
    /// nobody inherits the previous user's session. The cost: one ENT round trip per use.
    pub confirm_person_after: std::time::Duration,
    /// Where its IdP metadata comes from (SAML ENTs).
    pub metadata: Option<metadata::PartnerMetadata>,
}

/// An auditor of the audit log (data protection officer, ministry, ENT project, provider,
/// school), authenticated by a bearer token.
#[derive(Debug, Clone)]
pub struct AuditorConfig {
    pub key: String,
    pub name: String,
    pub token: Secret,
    pub scope: crate::domain::Jurisdiction,
}

/// The protocol an ENT authenticates its users with, and its peer's settings.
#[derive(Debug, Clone)]
pub enum EntAuth {
    /// The IdP as its metadata says now (refreshed: see `partners`).
    Saml(Live<EntIdp>),
    Oidc(Box<EntOidc>),
}

impl EntConfig {
    /// The ENT's SAML IdP as its metadata says now, when it authenticates over SAML.
    pub fn saml(&self) -> Option<Arc<EntIdp>> {
        match &self.auth {
            EntAuth::Saml(idp) => Some(idp.get()),
            EntAuth::Oidc(_) => None,
        }
    }

    /// The ENT's OpenID Provider settings, when it authenticates over OpenID Connect.
    pub fn oidc(&self) -> Option<&EntOidc> {
        match &self.auth {
            EntAuth::Oidc(op) => Some(op),
            EntAuth::Saml(_) => None,
        }
    }
}

/// One resource provider and its resources.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub key: String,
    pub name: String,
    pub technical_distributor: String,
    /// `idDistributeurCom` values whose subscriptions this provider may create and read.
    pub commercial_distributors: Vec<String>,
    /// The bearer token of this provider's servers on the subscription web service.
    pub api_token: Option<Secret>,
    /// SHA-256 fingerprint of the client certificate of this provider's servers, if configured.
    pub client_cert_fingerprint: Option<String>,
    /// Its SAML SP as its metadata (or configuration) says now: read it with [`Self::sp`].
    pub saml: Option<Live<ProviderSp>>,
    /// Where its SP metadata comes from, when it is registered by metadata.
    pub metadata: Option<metadata::PartnerMetadata>,
    /// OIDC clients (web resources and native applications), for `protocol = "oidc"`.
    pub oidc_clients: Vec<OidcClient>,
    /// Registered CAS services, for `protocol = "cas"`.
    pub cas_services: Vec<crate::cas::CasService>,
    pub resources: Vec<Resource>,
}

impl ProviderConfig {
    /// The provider's SAML SP as it is now, when it uses SAML.
    pub fn sp(&self) -> Option<Arc<ProviderSp>> {
        self.saml.as_ref().map(Live::get)
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub public_base_url: Url,
    pub listen: SocketAddr,
    pub node_name: String,
    pub session_ttl: Duration,
    pub max_body_bytes: usize,
    /// The mutual-TLS listener, when configured.
    pub tls: Option<TlsConfig>,
    /// The proxies trusted to forward client certificates (`[server.trusted_proxy]`).
    pub trusted_proxy: Option<TrustedProxyConfig>,
    pub store: StoreConfig,
    /// How long the gateway waits for its store (`[store]` deadlines, reconnection).
    pub store_settings: crate::store::StoreSettings,
    /// The gateway's SAML signing key (`[keys]`): replaced by a reload (`crate::reload`), so
    /// every use takes the current one.
    pub signing_key: Live<SigningKey>,
    pub ido_key: IdoKey,
    pub ido_scope: IdoScope,
    pub saml: SamlConfig,
    /// The gateway as OpenID Provider.
    pub oidc: OidcConfig,
    /// `-` for standard output.
    pub trace_path: String,
    /// The audit log, when `[audit]` is configured.
    pub audit: Option<crate::audit::AuditSettings>,
    pub auditors: BTreeMap<String, AuditorConfig>,
    /// The audience pipeline (`[audience]`; defaults when absent).
    pub audience: crate::audience::AudienceSettings,
    /// Readers of audience reports with a token of their own (`[audience_readers.<key>]`).
    pub audience_readers: BTreeMap<String, AuditorConfig>,
    pub seed_files: Vec<PathBuf>,
    /// The directory feed (`[feed]`).
    pub feed: FeedConfig,
    /// The médiacentre listing (`[listing]`).
    pub listing: ListingConfig,
    /// The subscription web service (`[subscriptions]`).
    pub subscriptions: SubscriptionsConfig,
    /// The CAS server for providers (`[cas]`).
    pub cas: CasConfig,
    /// What a stranger can make one node do (`[limits]`).
    pub limits: LimitsConfig,
    /// Who may read `/metrics` (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Who may operate the gateway (`[admin]`): reload, metadata refresh and health; `None`:
    /// `[metrics]`'s rule.
    pub admin: Option<MetricsConfig>,
    /// Partners' metadata refreshes (`[metadata]`).
    pub metadata: crate::partners::MetadataSettings,
    pub ents: BTreeMap<IdEnt, EntConfig>,
    pub providers: BTreeMap<String, ProviderConfig>,
    /// The file (and overrides) it was read from; `None` when built otherwise (the demo).
    pub source: Option<Source>,
}

impl Config {
    /// `{public base URL}{path}`, with exactly one slash between them.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.public_base_url.as_str().trim_end_matches('/'),
            path
        )
    }

    /// The OIDC issuer: `{public base URL}/oidc`.
    pub fn oidc_issuer(&self) -> String {
        self.url("/oidc")
    }

    /// What one directory import by `ent` may contain: its declared schools, archives within
    /// `feed.archive`.
    pub fn import_rules(&self, ent: &EntConfig) -> crate::feed::ImportRules {
        crate::feed::ImportRules {
            declared: ent.schools.clone(),
            archive: self.feed.archive,
        }
    }

    /// The provider and client registered with this `client_id`.
    pub fn oidc_client(&self, client_id: &str) -> Option<(&ProviderConfig, &OidcClient)> {
        self.providers.values().find_map(|p| {
            p.oidc_clients
                .iter()
                .find(|c| c.client_id == client_id)
                .map(|c| (p, c))
        })
    }

    /// The provider and registration of a CAS `service`: an exact URL first, else the longest
    /// prefix.
    pub fn cas_service(&self, service: &str) -> Option<(&ProviderConfig, &crate::cas::CasService)> {
        use crate::cas::service::Pattern;
        let all = || {
            self.providers
                .values()
                .flat_map(|p| p.cas_services.iter().map(move |s| (p, s)))
                .filter(|(_, s)| s.matches(service))
        };
        all()
            .find(|(_, s)| matches!(s.pattern, Pattern::Exact(_)))
            .or_else(|| {
                all().max_by_key(|(_, s)| match &s.pattern {
                    Pattern::Prefix(p) | Pattern::Exact(p) => p.len(),
                })
            })
    }

    /// The provider that registered this SAML entityID.
    pub fn provider_by_entity_id(&self, entity_id: &str) -> Option<&ProviderConfig> {
        self.providers
            .values()
            .find(|p| p.sp().is_some_and(|s| s.entity_id == entity_id))
    }
}

/// Where a configuration was read from, so that a reload (`app::reload`) reads it again the
/// same way: its file and the `PASSERELLE__*` overrides of the environment it started with.
#[derive(Clone)]
pub struct Source {
    pub path: PathBuf,
    vars: Vec<(String, String)>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The overrides may carry secrets: only their names.
        let names: Vec<&str> = self.vars.iter().map(|(k, _)| k.as_str()).collect();
        write!(
            f,
            "Source {{ path: {}, vars: {names:?} }}",
            self.path.display()
        )
    }
}

impl Source {
    /// Reads, overrides and validates the configuration again.
    pub async fn load(&self) -> Result<Config, ConfigErrors> {
        load(&self.path, self.vars.clone()).await
    }
}

/// Reads, overrides and validates the configuration at `path`, with the environment `vars`.
pub async fn load(
    path: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let source = Source {
        path: path.to_path_buf(),
        vars: vars.clone(),
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![Problem {
            key: String::new(),
            message: format!("cannot read configuration file {}: {e}", path.display()),
        }])
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut config = load_str(&text, &base_dir, vars).await?;
    config.source = Some(source);
    Ok(config)
}

/// Like [`load`], from the file's text; relative paths are resolved against `base_dir`.
pub async fn load_str(
    text: &str,
    base_dir: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let mut problems = Vec::new();
    let mut value: toml::Value = text
        .parse::<toml::Table>()
        .map(toml::Value::Table)
        .map_err(|e| {
            ConfigErrors(vec![Problem {
                key: String::new(),
                message: format!("not valid TOML: {e}"),
            }])
        })?;
    for message in env::apply(&mut value, vars) {
        problems.push(Problem {
            key: String::new(),
            message,
        });
    }
    let mut unknown = Vec::new();
    let raw: raw::RawConfig = serde_ignored::deserialize(value, |path| {
        // Optional tables show as `?` in the path: keys are written without it.
        unknown.push(path.to_string().replace(".?", ""))
    })
    .map_err(|e| {
        let mut all = problems.clone();
        all.push(Problem {
            key: String::new(),
            message: format!("wrong type: {e}"),
        });
        ConfigErrors(all)
    })?;
    for key in unknown {
        problems.push(Problem {
            key,
            message: "unknown key".into(),
        });
    }
    validate::validate(raw, base_dir, problems).await
}
