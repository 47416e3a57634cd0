//! A gateway for tests: fresh keys, an ENT and a provider registered by metadata, a seeded
//! directory and catalogue, the in-memory store, a fixed clock and an in-memory trace sink.
//! Drive it with `tower::ServiceExt::oneshot` (`gw.call(...)`) or serve it on a socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use chrono::{DateTime, TimeZone, Utc};
use passerelle::app::AppState;
use passerelle::clock::FixedClock;
use passerelle::config;
use passerelle::store::{MemoryStore, Store};
use passerelle::trace::{MemorySink, TraceEvent};
use tower::ServiceExt;

pub const BASE: &str = "https://gateway.example.test";
pub const ENT_ENTITY: &str = "https://ent.example.test/idp";
pub const ENT_SSO: &str = "https://ent.example.test/idp/sso";
/// The ENT's front-channel SingleLogoutService in `ent-idp-slo.xml` (the ENT's metadata with
/// it; select it with `PASSERELLE__ENTS__B0__SAML__IDP_METADATA=ent-idp-slo.xml`).
pub const ENT_SLO: &str = "https://ent.example.test/idp/slo";
pub const SP_ENTITY: &str = "https://resource.example.test/saml/metadata";
pub const SP_ACS: &str = "https://resource.example.test/saml/acs";
pub const UAI: &str = "0561641E";
pub const RES_ETABL: &str = "ark:/99999/test.etabl";
pub const RES_INDIV: &str = "ark:/99999/test.indiv";
pub const RES_ACCESS: &str = "https://resource.example.test/start";
/// The bearer tokens of the two providers' servers on the subscription web service.
pub const PROVIDER_TOKEN: &str = "provider-test-token-0123456789abcdef01234";
pub const OTHER_PROVIDER_TOKEN: &str = "other-provider-token-0123456789abcdef0123";
/// The OIDC provider `other-editeur`: its resource, a confidential web client and a public
/// native client.
pub const RES_OIDC: &str = "ark:/88888/autre";
pub const OIDC_WEB: &str = "autre-web";
pub const OIDC_WEB_SECRET: &str = "autre-web-secret-0123456789abcdef0123456";
pub const OIDC_WEB_REDIRECT: &str = "https://other.example.test/oidc/callback";
pub const OIDC_APP: &str = "autre-app";
pub const OIDC_APP_REDIRECT: &str = "fr.autre.app:/oauth2redirect";
/// The bearer token of ENT B0's servers on the web services.
pub const ENT_TOKEN: &str = "b0-test-token-0123456789abcdef0123456789";

/// A key pair written as PEM files.
#[derive(Clone)]
pub struct KeyFiles {
    pub key: PathBuf,
    pub cert: PathBuf,
}

impl KeyFiles {
    pub fn cert_pem(&self) -> String {
        std::fs::read_to_string(&self.cert).unwrap()
    }

    /// The certificate as base64 DER, for metadata.
    pub fn cert_b64(&self) -> String {
        self.cert_pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    }
}

pub fn make_keys(dir: &Path, name: &str) -> KeyFiles {
    let k = passerelle::saml::keys::SigningKey::generate_self_signed(&format!("TEST {name}"), 365)
        .unwrap();
    let files = KeyFiles {
        key: dir.join(format!("{name}.key")),
        cert: dir.join(format!("{name}.crt")),
    };
    std::fs::write(&files.key, k.private_key_pem().unwrap()).unwrap();
    std::fs::write(&files.cert, k.certificate_pem().unwrap()).unwrap();
    files
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

pub struct TestGateway {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub store: Arc<MemoryStore>,
    pub clock: FixedClock,
    pub sink: MemorySink,
    pub gateway: KeyFiles,
    pub ent: KeyFiles,
    pub sp: KeyFiles,
    pub attacker: KeyFiles,
}

pub struct Options {
    pub ent_algorithms: &'static str,
    pub base: String,
    /// `PASSERELLE__*` overrides; paths in them are relative to the test's directory.
    pub vars: Vec<(String, String)>,
    /// Files to write into the test's directory before loading the configuration.
    pub files: Vec<(String, Vec<u8>)>,
    /// Replaces ENT B0's `[ents.B0.saml]` table (e.g. `protocol = "oidc"` and its
    /// `[ents.B0.oidc]` table).
    pub ent_b0_auth: Option<String>,
    /// TOML appended to the configuration (further tables, e.g. another ENT).
    pub extra_toml: String,
    /// Replaces the body of the SAML provider's `[providers.test-editeur.saml]` table (e.g. a
    /// metadata URL).
    pub provider_saml: Option<String>,
    /// The store shared with other nodes (a Redis), instead of a memory store of this node's
    /// own (`TestGateway::store` then stays empty).
    pub shared_store: Option<Arc<dyn Store>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ent_algorithms: r#"["rsa-sha256"]"#,
            base: BASE.to_string(),
            vars: Vec::new(),
            files: Vec::new(),
            ent_b0_auth: None,
            extra_toml: String::new(),
            provider_saml: None,
            shared_store: None,
        }
    }
}

impl TestGateway {
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let gateway = make_keys(d, "gateway");
        let ent = make_keys(d, "ent");
        let sp = make_keys(d, "sp");
        let attacker = make_keys(d, "attacker");
        std::fs::write(
            d.join("ido.secret"),
            "test-secret-0123456789abcdef-0123456789",
        )
        .unwrap();
        let ent_metadata = |slo: &str| {
            format!(
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{ENT_ENTITY}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>{slo}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{ENT_SSO}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
                ent.cert_b64()
            )
        };
        std::fs::write(d.join("ent-idp.xml"), ent_metadata("")).unwrap();
        let slo = format!(
            r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{ENT_SLO}"/>"#
        );
        std::fs::write(d.join("ent-idp-slo.xml"), ent_metadata(&slo)).unwrap();
        std::fs::write(d.join("seed.json"), seed()).unwrap();
        std::fs::write(d.join("ent.token"), ENT_TOKEN).unwrap();
        std::fs::write(d.join("provider.token"), PROVIDER_TOKEN).unwrap();
        std::fs::write(d.join("other-provider.token"), OTHER_PROVIDER_TOKEN).unwrap();
        std::fs::write(d.join("oidc-web.secret"), OIDC_WEB_SECRET).unwrap();
        let toml = format!(
            r#"
[server]
public_base_url = "{base}"
[keys]
signing_key_file = "gateway.key"
signing_certificate_file = "gateway.crt"
ido_secret_file = "ido.secret"
[seed]
files = ["seed.json"]
[ents.B0]
name = "ENT de test"
api_token_file = "ent.token"
{b0_auth}
[providers.other-editeur]
name = "Autre éditeur"
protocol = "oidc"
technical_distributor = "987654321_0000000000000000"
api_token_file = "other-provider.token"
[[providers.other-editeur.oidc.clients]]
client_id = "{OIDC_WEB}"
client_secret_file = "oidc-web.secret"
redirect_uris = ["{OIDC_WEB_REDIRECT}"]
post_logout_redirect_uris = ["https://other.example.test/au-revoir"]
[[providers.other-editeur.oidc.clients]]
client_id = "{OIDC_APP}"
application_type = "native"
redirect_uris = ["{OIDC_APP_REDIRECT}", "http://127.0.0.1/callback"]
[[providers.other-editeur.resources]]
id = "{RES_OIDC}"
name = "Autre ressource"
access_url = "https://other.example.test/"
[providers.other-editeur.resources.attributes]
National_elv = ["IDO", "UAI", "PRO", "DIV"]
National_ens = ["IDO", "UAI", "PRO", "NOM", "PRE", "DIV"]
[providers.test-editeur]
name = "Éditeur de test"
technical_distributor = "123456789_0000000000000000"
api_token_file = "provider.token"
[providers.test-editeur.saml]
{provider_saml}
[[providers.test-editeur.resources]]
id = "{RES_ETABL}"
name = "Ressource établissement"
access_url = "{RES_ACCESS}"
[providers.test-editeur.resources.attributes]
National_elv = ["IDO", "UAI", "PRO", "DIV"]
National_ens = ["IDO", "UAI", "PRO", "NOM", "PRE", "P_MEL", "DIV", "GRO"]
[providers.test-editeur.resources.display]
urlVignette = "https://vignettes.example.test/etabl.png"
typePresentation = {{ code = "MUL", nom = "ressources d'enseignement multimédias" }}
typePedagogique = [{{ uri = "http://data.education.fr/voc/scolomfr/concept/scolomfr-voc-010-num-014", nom = "manuel d'enseignement" }}]
niveauEducatif = [{{ uri = "http://data.education.fr/voc/scolomfr/concept/scolomfr-voc-022-num-016", nom = "collège" }}]
[[providers.test-editeur.resources]]
id = "{RES_INDIV}"
name = "Ressource individuelle"
access_url = "{RES_ACCESS}/indiv"
[providers.test-editeur.resources.attributes]
National_elv = ["IDO", "UAI", "PRO"]
{extra}
"#,
            base = opts.base,
            extra = opts.extra_toml,
            provider_saml = opts.provider_saml.clone().unwrap_or_else(|| format!(
                "entity_id = \"{SP_ENTITY}\"\nacs_urls = [\"{SP_ACS}\"]\ncertificate_file = \"sp.crt\""
            )),
            b0_auth = opts.ent_b0_auth.clone().unwrap_or_else(|| format!(
                "[ents.B0.saml]\nidp_metadata = \"ent-idp.xml\"\nsignature_algorithms = {}",
                opts.ent_algorithms
            )),
        );
        for (name, bytes) in &opts.files {
            std::fs::write(d.join(name), bytes).unwrap();
        }
        // From a file, as `passerelle serve` reads it, so that a reload reads it again.
        std::fs::write(d.join("passerelle.toml"), &toml).unwrap();
        let cfg = config::load(&d.join("passerelle.toml"), opts.vars.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let store = Arc::new(MemoryStore::new());
        let clock = FixedClock::new(now());
        let sink = MemorySink::new();
        let state = AppState::new(
            cfg,
            opts.shared_store
                .clone()
                .unwrap_or_else(|| store.clone() as Arc<dyn Store>),
            Arc::new(clock.clone()),
            Arc::new(sink.clone()),
        );
        state.seed().await.unwrap();
        Self {
            dir,
            state,
            store,
            clock,
            sink,
            gateway,
            ent,
            sp,
            attacker,
        }
    }

    /// The session cookie's name: `__Host-` prefixed when the gateway is served over HTTPS.
    pub fn session_cookie(&self) -> &'static str {
        if self.state.config.public_base_url.scheme() == "https" {
            passerelle::http::cookies::SECURE_SESSION_COOKIE
        } else {
            passerelle::http::cookies::SESSION_COOKIE
        }
    }

    /// The prefix of login-binding cookies: `__Secure-` prefixed over HTTPS.
    pub fn login_cookie(&self) -> &'static str {
        if self.state.config.public_base_url.scheme() == "https" {
            passerelle::http::cookies::SECURE_LOGIN_COOKIE_PREFIX
        } else {
            passerelle::http::cookies::LOGIN_COOKIE_PREFIX
        }
    }

    /// Serves the gateway on a loopback listener (each request knowing its TCP peer, as in
    /// production); returns its base URL, `http://127.0.0.1:<port>`.
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(passerelle::http::serve(
            listener,
            self.state.clone(),
            std::future::pending(),
        ));
        base
    }

    pub fn router(&self) -> axum::Router {
        passerelle::http::app(self.state.clone())
    }

    pub async fn call(&self, req: Request<Body>) -> Response<Body> {
        self.router().oneshot(req).await.unwrap()
    }

    pub async fn get(&self, uri: &str, cookie: Option<&str>) -> Response<Body> {
        let mut b = Request::get(uri);
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        self.call(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(
        &self,
        uri: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Response<Body> {
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("{}={}", k, urlencoding::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        self.call(b.body(Body::from(body)).unwrap()).await
    }

    /// A live session of `person` at ENT `ent`, as after an ENT login; returns its cookie.
    pub async fn session_at(&self, ent: &str, person: &str) -> String {
        let now = self.state.clock.now();
        let s = passerelle::session::Session::opened(
            passerelle::http::cookies::new_session_id(),
            ent.parse().unwrap(),
            person.into(),
            now,
            chrono::Duration::hours(6),
        );
        passerelle::store::SessionStore::put_session(
            self.state.store.as_ref(),
            &s,
            std::time::Duration::from_secs(6 * 3600),
        )
        .await
        .unwrap();
        format!("{}={}", self.session_cookie(), s.id)
    }

    /// A live session of `person` at ENT B0.
    pub async fn session(&self, person: &str) -> String {
        self.session_at("B0", person).await
    }

    pub fn events(&self) -> Vec<TraceEvent> {
        self.sink.events()
    }

    /// The check codes of every `ProtocolRefused` event so far.
    pub fn refused_checks(&self) -> Vec<&'static str> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                TraceEvent::ProtocolRefused { check, .. } => Some(check),
                _ => None,
            })
            .collect()
    }

    /// Why each session that ended before its time ended (`replaced`, `ent_logout`...).
    pub fn ended_sessions(&self) -> Vec<&'static str> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                TraceEvent::SessionEnded { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }
}

/// An HTTP client over real sockets: follows no redirect, uses no proxy, keeps no cookies
/// (tests send them explicitly).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

pub async fn body_string(resp: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 4 * 1024 * 1024)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub fn location(resp: &Response<Body>) -> String {
    resp.headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

pub fn set_cookie(resp: &Response<Body>) -> Option<String> {
    resp.headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn domaine_gar(resource: &str) -> String {
    format!(
        "/domaineGar?idENT={}&idEtab={}&idRessource={}",
        urlencoding::encode(&b64("B0")),
        urlencoding::encode(&b64(UAI)),
        urlencoding::encode(resource)
    )
}

/// A school with a class and a group, a pupil assigned through the group to the INDIV
/// resource, a second pupil not assigned, a teacher; an ETABL and an INDIV subscription.
fn seed() -> String {
    format!(
        r#"{{
  "directories": {{ "B0": {{
    "schools": [ {{ "uai": "{UAI}", "ent": "B0", "name": "Collège de test" }} ],
    "groups": [
      {{ "uai": "{UAI}", "code": "4A", "label": "4e A", "kind": "DIVISION" }},
      {{ "uai": "{UAI}", "code": "LATIN", "label": "Latin", "kind": "GROUPE", "divisions": ["4A"] }}
    ],
    "persons": [
      {{ "ent": "B0", "id": "eleve-0001", "last_name": "Martin", "first_name": "Léa",
         "profiles": [ {{ "uai": "{UAI}", "profile": "National_elv" }} ],
         "groups": [ {{ "uai": "{UAI}", "code": "4A" }}, {{ "uai": "{UAI}", "code": "LATIN" }} ] }},
      {{ "ent": "B0", "id": "eleve-0002", "last_name": "Petit", "first_name": "Hugo",
         "profiles": [ {{ "uai": "{UAI}", "profile": "National_elv" }} ],
         "groups": [ {{ "uai": "{UAI}", "code": "4A" }} ] }},
      {{ "ent": "B0", "id": "ens-0001", "last_name": "Durand", "first_name": "Paul", "civility": "M.",
         "email": "paul.durand@ac-test.fr", "manages": ["{UAI}"],
         "profiles": [ {{ "uai": "{UAI}", "profile": "National_ens" }} ],
         "groups": [ {{ "uai": "{UAI}", "code": "4A" }} ] }}
    ]
  }} }},
  "subscriptions": [
    {{ "id": "abo-etabl", "distributor_id": "123456789_0000000000000000", "resource_id": "{RES_ETABL}",
       "valid_from": "2026-08-15T00:00:00Z", "valid_until": "2027-08-15T00:00:00Z", "uais": ["{UAI}"],
       "assignment_type": "ETABL", "audiences": ["ELEVE", "ENSEIGNANT"] }},
    {{ "id": "abo-indiv", "distributor_id": "123456789_0000000000000000", "resource_id": "{RES_INDIV}",
       "valid_from": "2026-08-15T00:00:00Z", "valid_until": "2027-08-15T00:00:00Z", "uais": ["{UAI}"],
       "assignment_type": "INDIV", "audiences": ["ELEVE"] }}
  ],
  "assignments": [
    {{ "subscription_id": "abo-indiv", "uai": "{UAI}", "target": {{ "kind": "group", "code": "LATIN" }} }}
  ]
}}"#
    )
}

fn deflate_b64(xml: &str) -> String {
    use base64::Engine;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, xml.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(enc.finish().unwrap())
}

/// A provider's AuthnRequest XML for the gateway's Redirect SSO endpoint.
pub fn provider_authn_request(id: &str, acs: Option<&str>, issue_instant: &str) -> String {
    let acs = acs
        .map(|a| format!(r#" AssertionConsumerServiceURL="{a}""#))
        .unwrap_or_default();
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issue_instant}" Destination="{BASE}/idp/profile/SAML2/Redirect/SSO"{acs} ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{SP_ENTITY}</saml:Issuer></samlp:AuthnRequest>"#
    )
}

/// A Redirect-binding query for `xml`, signed per SAML bindings §3.4.4.1 with openssl directly
/// (RSA-SHA256, or RSA-SHA1 when `sha1`).
pub fn signed_redirect_query(
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    xml: &str,
    relay_state: Option<&str>,
    sha1: bool,
) -> String {
    use base64::Engine;
    let (alg, md) = if sha1 {
        (
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            openssl::hash::MessageDigest::sha1(),
        )
    } else {
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            openssl::hash::MessageDigest::sha256(),
        )
    };
    let mut q = format!("SAMLRequest={}", urlencoding::encode(&deflate_b64(xml)));
    if let Some(rs) = relay_state {
        q.push_str(&format!("&RelayState={}", urlencoding::encode(rs)));
    }
    q.push_str(&format!("&SigAlg={}", urlencoding::encode(alg)));
    let mut signer = openssl::sign::Signer::new(md, key).unwrap();
    signer.update(q.as_bytes()).unwrap();
    let sig = base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().unwrap());
    format!("{q}&Signature={}", urlencoding::encode(&sig))
}

/// A provider's signed Redirect-binding AuthnRequest query.
pub fn authn_request_query(
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    id: &str,
    acs: Option<&str>,
    relay_state: Option<&str>,
    issue_instant: &str,
) -> String {
    signed_redirect_query(
        key,
        &provider_authn_request(id, acs, issue_instant),
        relay_state,
        false,
    )
}

pub fn private_key(files: &KeyFiles) -> openssl::pkey::PKey<openssl::pkey::Private> {
    openssl::pkey::PKey::private_key_from_pem(&std::fs::read(&files.key).unwrap()).unwrap()
}

/// This process's resident memory, in KiB: tests bound what a hostile input makes it grow.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The XML of the SAML message an HTTP-Redirect URL carries (`SAMLRequest` or `SAMLResponse`,
/// deflated and base64-encoded), for reading what the gateway sent.
pub fn redirect_message(url: &str) -> String {
    use base64::Engine;
    use std::io::Read;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let encoded = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "SAMLRequest" || k == "SAMLResponse")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no SAML message in {url}"));
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    xml
}
