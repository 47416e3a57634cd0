//! The configuration file as written: plain serde structs.
//!
//! Unknown keys are collected (all of them, with `serde_ignored`) and refused by `load`;
//! nothing here is validated beyond its TOML type; see `validate` for the checks.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub keys: RawKeys,
    #[serde(default)]
    pub saml: RawSaml,
    /// Partners' metadata sources: last good copies, refresh bounds.
    #[serde(default)]
    pub metadata: RawMetadata,
    #[serde(default)]
    pub oidc: RawOidc,
    pub audit: Option<RawAudit>,
    /// Who may search the audit log, and what they may see.
    #[serde(default)]
    pub auditors: BTreeMap<String, RawAuditor>,
    pub audience: Option<RawAudience>,
    /// Who may read audience reports (beside providers and ENTs with their own credentials).
    #[serde(default)]
    pub audience_readers: BTreeMap<String, RawAuditor>,
    #[serde(default)]
    pub trace: RawTrace,
    #[serde(default)]
    pub seed: RawSeed,
    #[serde(default)]
    pub feed: RawFeed,
    #[serde(default)]
    pub listing: RawListing,
    #[serde(default)]
    pub subscriptions: RawSubscriptions,
    /// The CAS server for providers (`[cas]`).
    #[serde(default)]
    pub cas: RawCas,
    /// Who may read `/metrics`.
    pub metrics: Option<RawMetrics>,
    /// Who may operate the gateway (`/admin/...`); `[metrics]`'s rule when absent.
    pub admin: Option<RawMetrics>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub ents: BTreeMap<String, RawEnt>,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    pub public_base_url: Option<String>,
    pub listen: Option<String>,
    pub node_name: Option<String>,
    pub session_ttl_seconds: Option<u64>,
    pub max_body_bytes: Option<usize>,
    /// The gateway's own TLS listener for server-to-server web services (mutual TLS).
    pub tls: Option<RawTls>,
    /// A TLS-terminating proxy that forwards client certificates in a header.
    pub trusted_proxy: Option<RawTrustedProxy>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    pub listen: Option<String>,
    pub certificate_file: Option<String>,
    pub key_file: Option<String>,
    /// CA certificates that issue providers' and ENTs' client certificates.
    pub client_ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawStore {
    pub redis_url: Option<String>,
    pub redis_url_file: Option<String>,
    pub redis_cluster: Option<bool>,
    pub key_prefix: Option<String>,
    pub call_deadline_ms: Option<u64>,
    pub bulk_deadline_seconds: Option<u64>,
    pub health_deadline_ms: Option<u64>,
    pub reconnect_max_delay_ms: Option<u64>,
    /// Replicas that must have each write of a durable family before it is acknowledged.
    pub durable_replicas: Option<u32>,
    pub durable_wait_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawKeys {
    pub signing_key_file: Option<String>,
    pub signing_certificate_file: Option<String>,
    /// The certificate of the next signing key, published before the switch.
    pub next_signing_certificate_file: Option<String>,
    pub ido_secret: Option<String>,
    pub ido_secret_file: Option<String>,
    pub ido_scope: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSaml {
    pub clock_skew_seconds: Option<u64>,
    pub request_ttl_seconds: Option<u64>,
    pub max_message_bytes: Option<usize>,
    pub assertion_lifetime_seconds: Option<u64>,
    /// How long the gateway's signed metadata is valid (`validUntil`), in days.
    pub metadata_validity_days: Option<u64>,
}

/// `[metadata]`: partners' metadata refreshes.
#[derive(Debug, Default, Deserialize)]
pub struct RawMetadata {
    pub cache_dir: Option<String>,
    pub min_refresh_seconds: Option<u64>,
    pub max_refresh_seconds: Option<u64>,
    pub poll_seconds: Option<u64>,
    pub max_bytes: Option<usize>,
    pub fetch_timeout_seconds: Option<u64>,
}

/// The tamper-evident audit log.
#[derive(Debug, Default, Deserialize)]
pub struct RawAudit {
    pub dir: Option<String>,
    pub max_segment_bytes: Option<u64>,
    pub retention_days: Option<u32>,
    pub checkpoint_interval_seconds: Option<u64>,
}

/// The audience pipeline.
#[derive(Debug, Default, Deserialize)]
pub struct RawAudience {
    /// IANA time zone of days and months (default Europe/Paris).
    pub timezone: Option<String>,
    pub buffer_capacity: Option<usize>,
    /// `drop_oldest` (default) or `drop_newest`.
    pub when_full: Option<String>,
    pub batch_size: Option<usize>,
    /// Counting tasks per node, each a consumer of the counting group.
    pub counters: Option<usize>,
    /// Events a counter decides before it applies their counts at once.
    pub window_events: Option<usize>,
    pub claim_idle_seconds: Option<u64>,
    pub dedup_hours: Option<u64>,
    pub retention_days: Option<u64>,
    pub min_visitors: Option<u64>,
    pub poll_interval_ms: Option<u64>,
    pub matomo: Option<RawMatomo>,
}

/// The Matomo forwarder.
#[derive(Debug, Default, Deserialize)]
pub struct RawMatomo {
    pub url: Option<String>,
    pub site_id: Option<u32>,
    pub token_auth_file: Option<String>,
    pub batch_size: Option<usize>,
    pub retry_initial_ms: Option<u64>,
    pub retry_max_seconds: Option<u64>,
    /// DNMA dimension → Matomo custom dimension index.
    #[serde(default)]
    pub dimensions: BTreeMap<String, u32>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAuditor {
    pub name: Option<String>,
    pub api_token_file: Option<String>,
    /// `ministry`, `provider:<key>`, `ent:<idENT>` or `school:<UAI>`.
    pub scope: Option<String>,
}

/// The gateway as OpenID Provider.
#[derive(Debug, Default, Deserialize)]
pub struct RawOidc {
    pub code_lifetime_seconds: Option<u64>,
    pub access_token_lifetime_seconds: Option<u64>,
    pub id_token_lifetime_seconds: Option<u64>,
    pub refresh_token_lifetime_seconds: Option<u64>,
    /// Signing keys: the first signs, all are published. Default: the gateway's SAML key, RS256.
    #[serde(default)]
    pub keys: Vec<RawOidcKey>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOidcKey {
    pub key_file: Option<String>,
    /// `RS256` (default) or `ES256`.
    pub algorithm: Option<String>,
    /// Default: the key's RFC 7638 thumbprint.
    pub kid: Option<String>,
}

/// A provider's OIDC clients.
#[derive(Debug, Default, Deserialize)]
pub struct RawProviderOidc {
    #[serde(default)]
    pub clients: Vec<RawOidcClient>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOidcClient {
    pub client_id: Option<String>,
    /// Absent for a public client (native application, PKCE mandatory).
    pub client_secret_file: Option<String>,
    /// `web` (default) or `native`.
    pub application_type: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where the gateway posts a logout token when a session that gave this client a code
    /// ends (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Where the browser is sent, in an iframe, with `iss` and `sid` when a session that gave
    /// this client a code ends while the user is there (OpenID Connect Front-Channel Logout 1.0).
    pub frontchannel_logout_uri: Option<String>,
    /// Default: true for native applications, false for web ones.
    pub refresh_tokens: Option<bool>,
    /// Whether a confidential client must send a PKCE challenge (default: true; public
    /// clients always must).
    pub require_pkce: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTrace {
    pub path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSeed {
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawEnt {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub saml: Option<RawEntSaml>,
    pub oidc: Option<RawEntOidc>,
    /// Bearer token the ENT's servers present on the web services (listing), from a file.
    pub api_token_file: Option<String>,
    /// The client certificate (PEM) the ENT's servers present over mutual TLS.
    pub client_certificate_file: Option<String>,
    /// The schools this ENT may describe in its directory exports: UAIs, départements (the
    /// UAIs' first three digits) and académies (`rennes`, `aix-marseille`...).
    pub uais: Option<Vec<String>>,
    pub departements: Option<Vec<String>>,
    pub academies: Option<Vec<String>>,
    /// How old a session of this ENT may be before the ENT is asked again, passively, who is
    /// at the browser (0, the default: before every use).
    pub confirm_person_after_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawEntSaml {
    /// A file path (watched), or an `https://` URL (refreshed).
    pub idp_metadata: Option<String>,
    /// An MDQ server's base URL, instead of `idp_metadata`.
    pub metadata_mdq: Option<String>,
    /// The entityID the metadata must carry (required with `metadata_mdq`).
    pub entity_id: Option<String>,
    /// The certificate the metadata's signature is checked against.
    pub metadata_signing_certificate_file: Option<String>,
    /// Default: true for a URL or MDQ source, false for a file.
    pub metadata_signature_required: Option<bool>,
    pub signature_algorithms: Option<Vec<String>>,
}

/// An ENT that authenticates its users over OpenID Connect (`protocol = "oidc"`).
#[derive(Debug, Default, Deserialize)]
pub struct RawEntOidc {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub id_token_signing_algs: Option<Vec<String>>,
    pub ent_claim: Option<String>,
    pub person_claim: Option<String>,
    pub discovery_ttl_seconds: Option<u64>,
    pub clock_skew_seconds: Option<u64>,
    /// Lets the gateway reach this ENT's provider on loopback or private addresses (default:
    /// public addresses over https only).
    pub allow_private_network: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawProvider {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub technical_distributor: Option<String>,
    /// The commercial distributor ids whose subscriptions this provider manages (default: the
    /// technical distributor).
    pub commercial_distributors: Option<Vec<String>>,
    /// Bearer token of the provider's servers on the subscription web service, from a file.
    pub api_token_file: Option<String>,
    /// The client certificate (PEM) the provider's servers present over mutual TLS.
    pub client_certificate_file: Option<String>,
    pub saml: Option<RawProviderSaml>,
    pub oidc: Option<RawProviderOidc>,
    pub cas: Option<RawProviderCas>,
    #[serde(default)]
    pub resources: Vec<RawResource>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawProviderSaml {
    /// SP metadata: a file (watched) or an `https://` URL (refreshed); or `metadata_mdq`; or
    /// `entity_id` + `acs_urls` + `certificate_file`.
    pub metadata: Option<String>,
    pub metadata_mdq: Option<String>,
    pub metadata_signing_certificate_file: Option<String>,
    pub metadata_signature_required: Option<bool>,
    pub entity_id: Option<String>,
    pub acs_urls: Option<Vec<String>>,
    pub certificate_file: Option<String>,
    pub signature_algorithms: Option<Vec<String>>,
    /// Where the provider takes the gateway's LogoutRequests over SOAP when a session ends (its
    /// metadata's SOAP SingleLogoutService otherwise).
    pub slo_soap_url: Option<String>,
    /// Where the provider takes the gateway's LogoutRequests and LogoutResponses over
    /// HTTP-Redirect, the front channel (its metadata's Redirect SingleLogoutService otherwise).
    pub slo_redirect_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawResource {
    pub id: Option<String>,
    pub name: Option<String>,
    pub access_url: Option<String>,
    pub editor_id: Option<String>,
    pub editor_name: Option<String>,
    pub category: Option<String>,
    /// The commercial distributors (`SIREN_ISNI`) that may subscribe schools to this resource
    /// (default: the provider's `commercial_distributors`).
    pub distributors: Option<Vec<String>>,
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The médiacentre's descriptive fields, with the GAR's names (`urlVignette`,
    /// `typePresentation`, `typePedagogique`...).
    pub display: Option<crate::domain::Display>,
    /// The URLs of the resource's family of sites (released as `LRA`).
    pub sites: Option<Vec<String>>,
}

/// `[cas]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawCas {
    /// Where the CAS endpoints are served (default: the host root, as the real GAR).
    pub path_prefix: Option<String>,
    pub ticket_ttl_seconds: Option<u64>,
}

/// A CAS provider's services (`[providers.<key>.cas]`).
#[derive(Debug, Default, Deserialize)]
pub struct RawProviderCas {
    #[serde(default)]
    pub services: Vec<RawCasService>,
}

/// One registered CAS service: `url` (exact) or `prefix`.
#[derive(Debug, Default, Deserialize)]
pub struct RawCasService {
    /// The resource it opens (default: the provider's only resource).
    pub resource: Option<String>,
    pub url: Option<String>,
    pub prefix: Option<String>,
    /// Where the back-channel `logoutRequest` goes (default: the service URL).
    pub logout_url: Option<String>,
}

/// `[feed]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawFeed {
    pub max_upload_bytes: Option<usize>,
    pub max_unpacked_bytes: Option<u64>,
    pub max_archive_entries: Option<usize>,
}

/// `[listing]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawListing {
    pub cache_schools: Option<usize>,
}

/// `[subscriptions]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawSubscriptions {
    /// IANA time zone of dates without an offset (default Europe/Paris).
    pub timezone: Option<String>,
}

/// `[metrics]` (and `[admin]`) as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawMetrics {
    /// IPs or CIDR ranges whose connections may read the metrics without a token.
    pub allow: Option<Vec<String>>,
    /// A file holding the bearer token a scraper presents (`Authorization: Bearer ...`).
    pub token_file: Option<String>,
}

/// `[limits]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawLimits {
    pub request_timeout_seconds: Option<u64>,
    pub upload_timeout_seconds: Option<u64>,
    pub max_in_flight: Option<usize>,
    pub login_rate_per_minute: Option<u32>,
    pub login_burst: Option<u32>,
    pub max_pending_logins_per_client: Option<u32>,
    pub max_tracked_clients: Option<usize>,
    pub trusted_forwarders: Option<Vec<String>>,
    pub chooser_refresh_seconds: Option<u64>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_seconds: Option<u64>,
}

/// `[server.trusted_proxy]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawTrustedProxy {
    /// IPs or CIDR ranges of the proxies, e.g. `["10.0.0.0/8", "127.0.0.1"]`.
    pub addresses: Option<Vec<String>>,
    /// The header carrying the certificate (default `client-cert`).
    pub header: Option<String>,
    /// Default: `server.tls.client_ca_file`.
    pub client_ca_file: Option<String>,
}
