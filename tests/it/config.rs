//! Configuration: the committed example is valid; problems are all reported at once with
//! their key and environment variable; environment overrides apply.

use std::path::Path;

use passerelle::config::{self, StoreConfig};

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn the_committed_example_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/passerelle.toml");
    let cfg = config::load(&path, vars(&[]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.store, StoreConfig::Memory);
    assert_eq!(cfg.ents.len(), 1);
    let provider = &cfg.providers["editeur-exemple"];
    assert_eq!(provider.resources.len(), 1);
    assert!(provider.saml.is_some());
    let oidc = &cfg.providers["atelier-exemple"];
    assert_eq!(oidc.oidc_clients.len(), 2);
    assert!(!oidc.oidc_clients[0].is_public() && !oidc.oidc_clients[0].refresh_tokens);
    assert!(oidc.oidc_clients[1].is_public() && oidc.oidc_clients[1].refresh_tokens);
    assert_eq!(cfg.oidc_issuer(), "http://127.0.0.1:8080/oidc");
    let cas = &cfg.providers["cahier-exemple"];
    assert!(cas
        .cas_services
        .iter()
        .any(|s| s.matches("https://cahier-exemple.test/?sso_id=gar")));
    assert_eq!(cfg.cas.path("/login"), "/login");
    assert_eq!(cfg.cas.ticket_ttl, std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn oidc_clients_and_keys_are_checked_with_every_problem_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("config/passerelle.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        r#"
[[oidc.keys]]
key_file = "../certs-example/gateway-signing.key"
algorithm = "ES256"
[[oidc.keys]]
key_file = "../certs-example/gateway-signing.key"
algorithm = "HS256"
[providers.mauvais]
name = "Mauvais"
protocol = "oidc"
technical_distributor = "222222222_0000000000000000"
[[providers.mauvais.oidc.clients]]
client_id = "atelier-exemple-web"
redirect_uris = ["http://mauvais.test/cb"]
[[providers.mauvais.oidc.clients]]
client_id = "mauvais-app"
application_type = "native"
redirect_uris = ["http://localhost/cb", "monapp:/cb"]
[[providers.mauvais.resources]]
id = "ark:/99999/mauvais"
name = "Mauvais"
access_url = "https://mauvais.test/"
[providers.sans-clients]
name = "Sans clients"
protocol = "oidc"
technical_distributor = "333333333_0000000000000000"
[[providers.sans-clients.resources]]
id = "ark:/99999/sans"
name = "Sans"
access_url = "https://sans.test/"
"#,
    );
    let err = config::load_str(&text, path.parent().unwrap(), vars(&[]))
        .await
        .unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "oidc.keys.0.key_file",
        "oidc.keys.1.algorithm",
        "providers.mauvais.oidc.clients.0.client_id",
        "providers.mauvais.oidc.clients.0.client_secret_file",
        "providers.mauvais.oidc.clients.0.redirect_uris.0",
        "providers.mauvais.oidc.clients.1.redirect_uris.0",
        "providers.mauvais.oidc.clients.1.redirect_uris.1",
        "providers.sans-clients.oidc",
    ] {
        assert!(keys.contains(&key), "{key} not reported in {err}");
    }
}

#[tokio::test]
async fn cas_services_and_settings_are_checked_with_every_problem_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("config/passerelle.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        r#"
[cas]
path_prefix = "cas/"
ticket_ttl_seconds = 0
[providers.cas-a]
name = "CAS A"
protocol = "cas"
technical_distributor = "444444444_0000000000000000"
[[providers.cas-a.resources]]
id = "ark:/99999/cas-a1"
name = "A1"
access_url = "https://a.test/"
sites = ["ftp://a.test/"]
[[providers.cas-a.resources]]
id = "ark:/99999/cas-a2"
name = "A2"
access_url = "https://a.test/2"
[[providers.cas-a.cas.services]]
url = "https://a.test/?sso_id=gar"
[[providers.cas-a.cas.services]]
resource = "ark:/99999/ailleurs"
prefix = "https://a.test"
[[providers.cas-a.cas.services]]
resource = "ark:/99999/cas-a2"
url = "https://user:pw@a.test/"
logout_url = "javascript:x"
[[providers.cas-a.cas.services]]
resource = "ark:/99999/cas-a2"
[providers.cas-b]
name = "CAS B"
protocol = "cas"
technical_distributor = "555555555_0000000000000000"
[[providers.cas-b.resources]]
id = "ark:/99999/cas-b"
name = "B"
access_url = "https://b.test/"
[providers.saml-with-cas]
name = "SAML avec CAS"
technical_distributor = "666666666_0000000000000000"
[providers.saml-with-cas.saml]
entity_id = "https://s.test/sp"
acs_urls = ["https://s.test/acs"]
certificate_file = "../certs-example/gateway-signing.crt"
[providers.saml-with-cas.cas]
services = []
[[providers.saml-with-cas.resources]]
id = "ark:/99999/s"
name = "S"
access_url = "https://s.test/"
"#,
    );
    let err = config::load_str(&text, path.parent().unwrap(), vars(&[]))
        .await
        .unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "cas.path_prefix",
        "cas.ticket_ttl_seconds",
        "providers.cas-a.resources.0.sites.0",
        "providers.cas-a.cas.services.0.resource",
        "providers.cas-a.cas.services.1.resource",
        "providers.cas-a.cas.services.1.prefix",
        "providers.cas-a.cas.services.2.url",
        "providers.cas-a.cas.services.2.logout_url",
        "providers.cas-a.cas.services.3",
        "providers.cas-b.cas.services",
        "providers.saml-with-cas.cas",
    ] {
        assert!(keys.contains(&key), "{key} not reported in {err}");
    }
}

#[tokio::test]
async fn one_cas_service_url_belongs_to_one_registration() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("config/passerelle.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (key, id) in [("cas-a", "ark:/99999/cas-a"), ("cas-b", "ark:/99999/cas-b")] {
        text.push_str(&format!(
            r#"
[providers.{key}]
name = "{key}"
protocol = "cas"
technical_distributor = "444444444_0000000000000000"
[[providers.{key}.resources]]
id = "{id}"
name = "{key}"
access_url = "https://a.test/"
[[providers.{key}.cas.services]]
prefix = "https://a.test/gar/"
"#
        ));
    }
    let err = config::load_str(&text, path.parent().unwrap(), vars(&[]))
        .await
        .unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|p| p.key == "providers.cas-b.cas.services"
                && p.message.contains("registered twice")),
        "{err}"
    );
}

#[tokio::test]
async fn environment_overrides_the_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/passerelle.toml");
    let cfg = config::load(
        &path,
        vars(&[
            ("PASSERELLE__STORE__REDIS_URL", "redis://127.0.0.1:6379"),
            ("PASSERELLE__SERVER__LISTEN", "127.0.0.1:9999"),
            ("PASSERELLE__ENTS__B0__NAME", "ENT renommé"),
        ]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(cfg.store, StoreConfig::Redis { ref url, .. } if url == "redis://127.0.0.1:6379")
    );
    assert_eq!(cfg.listen.port(), 9999);
    assert_eq!(cfg.ents.values().next().unwrap().name, "ENT renommé");
}

#[tokio::test]
async fn every_problem_is_reported_at_once_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"
[server]
public_base_url = "not a url"
listen = "nowhere"
colour = "blue"
[keys]
signing_key_file = "missing.key"
signing_certificate_file = "missing.crt"
ido_secret = "short"
ido_scope = "planet"
[store]
redis_url = "http://wrong"
[ents."B0:bad"]
name = "x"
[providers.p]
name = "P"
technical_distributor = "12345"
protocol = "carrier-pigeon"
"#;
    let err = config::load_str(
        toml,
        dir.path(),
        vars(&[("PASSERELLE__SAML__CLOCK_SKEW_SECONDS", "3600")]),
    )
    .await
    .unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|p| p.key.as_str()).collect();
    for expected in [
        "server.colour",
        "server.public_base_url",
        "server.listen",
        "keys.signing_key_file",
        "keys.signing_certificate_file",
        "keys.ido_secret_file",
        "keys.ido_scope",
        "store.redis_url",
        "saml.clock_skew_seconds",
        "ents.B0:bad",
        "providers.p.technical_distributor",
        "providers.p.protocol",
        "providers.p.resources",
    ] {
        assert!(
            keys.contains(&expected),
            "missing problem for {expected}; got {keys:?}"
        );
    }
    let text = err.to_string();
    assert!(text.contains("PASSERELLE__SERVER__LISTEN"), "{text}");
}

#[tokio::test]
async fn an_ent_metadata_without_signing_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("idp.xml"),
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://ent/idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://ent/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
    )
    .unwrap();
    let toml = "[ents.B0]\nname = \"B\"\n[ents.B0.saml]\nidp_metadata = \"idp.xml\"\n";
    let err = config::load_str(toml, dir.path(), vars(&[]))
        .await
        .unwrap_err();
    let p = err
        .0
        .iter()
        .find(|p| p.key == "ents.B0.saml.idp_metadata")
        .expect("a problem on idp_metadata");
    assert!(
        p.message.contains("no signing certificate"),
        "{}",
        p.message
    );
}

/// Serves `body` once per connection on a loopback port, like a metadata endpoint.
async fn serve_once(status: &'static str, body: String, extra_header: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/idp/metadata", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let resp = format!("HTTP/1.1 {status}\r\ncontent-type: application/xml\r\n{extra_header}content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    url
}

/// The per-partner switch that accepts unsigned metadata from a URL (trials).
const TRIAL: &str = "PASSERELLE__ENTS__B0__SAML__METADATA_SIGNATURE_REQUIRED";

#[tokio::test]
async fn ent_metadata_is_fetched_from_a_url_without_following_redirects() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let metadata =
        std::fs::read_to_string(root.join("config/examples/ent-B0-idp-metadata.xml")).unwrap();
    let path = root.join("config/passerelle.toml");
    let url = serve_once("200 OK", metadata, "").await;
    let cfg = config::load(
        &path,
        vars(&[
            ("PASSERELLE__ENTS__B0__SAML__IDP_METADATA", &url),
            (TRIAL, "false"),
        ]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.ents
            .values()
            .next()
            .unwrap()
            .saml()
            .unwrap()
            .peer
            .entity_id,
        "https://ent.exemple.test/idp"
    );

    let redirecting = serve_once(
        "302 Found",
        String::new(),
        "location: http://127.0.0.1:9/elsewhere\r\n",
    )
    .await;
    let err = config::load(
        &path,
        vars(&[
            ("PASSERELLE__ENTS__B0__SAML__IDP_METADATA", &redirecting),
            (TRIAL, "false"),
        ]),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("302"), "{err}");

    let err = config::load(
        &path,
        vars(&[(
            "PASSERELLE__ENTS__B0__SAML__IDP_METADATA",
            "http://metadata.example.test/idp",
        )]),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("over https"), "{err}");

    // Without the trial switch, metadata from a URL must be signed.
    let err = config::load(
        &path,
        vars(&[("PASSERELLE__ENTS__B0__SAML__IDP_METADATA", &url)]),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("ents.B0.saml.metadata_signing_certificate_file"),
        "{err}"
    );
}

/// An ENT over OpenID Connect, with the gateway's keys from the committed example.
fn oidc_ent_toml(oidc: &str, extra: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    format!(
        r#"
[keys]
signing_key_file = "{root}/certs-example/gateway-signing.key"
signing_certificate_file = "{root}/certs-example/gateway-signing.crt"
ido_secret_file = "{root}/certs-example/ido-secret.example"
[ents.B1]
name = "ENT OIDC"
protocol = "oidc"
{extra}
[ents.B1.oidc]
{oidc}
"#,
        root = root.display()
    )
}

#[tokio::test]
async fn an_ent_over_oidc_takes_its_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("client.secret"),
        "a-client-secret-of-the-ent\n",
    )
    .unwrap();
    let toml = oidc_ent_toml(
        r#"issuer = "https://auth.ent.example.test/oidc"
client_id = "passerelle"
client_secret_file = "client.secret""#,
        "",
    );
    let cfg = config::load_str(&toml, dir.path(), vars(&[]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ent = cfg.ents.values().next().unwrap();
    assert!(ent.saml().is_none());
    let op = ent.oidc().expect("an OIDC ENT");
    assert_eq!(op.issuer, "https://auth.ent.example.test/oidc");
    assert_eq!(op.client_id, "passerelle");
    assert!(op.client_secret.matches("a-client-secret-of-the-ent"));
    assert_eq!(op.scopes, vec!["openid".to_string()]);
    assert_eq!(
        op.id_token_signing_algs,
        vec![passerelle::oidc::rp::IdTokenAlg::Rs256]
    );
    assert_eq!(op.ent_claim, "idEnt");
    assert_eq!(op.person_claim, "GARPersonIdentifiant");
    assert_eq!(op.discovery_ttl.as_secs(), 3600);
    assert_eq!(op.clock_skew.as_secs(), 60);
    // The secret is never printed.
    let printed = format!("{cfg:?}");
    assert!(!printed.contains("a-client-secret-of-the-ent"), "{printed}");

    assert!(
        !op.allow_private_network,
        "public addresses only by default"
    );

    // Loopback (and plain http there) only when the ENT's configuration allows it.
    let loopback = oidc_ent_toml(
        r#"issuer = "http://127.0.0.1:9000"
client_id = "passerelle"
client_secret_file = "client.secret""#,
        "",
    );
    let err = config::load_str(&loopback, dir.path(), vars(&[]))
        .await
        .unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|p| p.key == "ents.B1.oidc.issuer" && p.message.contains("allow_private_network")),
        "{err}"
    );
    let toml = oidc_ent_toml(
        r#"issuer = "http://127.0.0.1:9000"
allow_private_network = true
client_id = "passerelle"
client_secret_file = "client.secret"
id_token_signing_algs = ["ES256", "PS256", "RS512"]
scopes = ["openid", "scope.gar"]"#,
        "",
    );
    let cfg = config::load_str(&toml, dir.path(), vars(&[]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let op = cfg.ents.values().next().unwrap().oidc().unwrap().clone();
    assert!(op.allow_private_network);
    assert_eq!(op.id_token_signing_algs.len(), 3);
    assert_eq!(op.scopes, vec!["openid".to_string(), "scope.gar".into()]);
}

#[tokio::test]
async fn every_problem_of_an_oidc_ent_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let toml = oidc_ent_toml(
        r#"issuer = "http://auth.ent.example.test/oidc"
client_secret_file = "missing.secret"
id_token_signing_algs = ["none", "HS256", "RS1024"]
scopes = ["openid profile"]
ent_claim = ""
discovery_ttl_seconds = 0
clock_skew_seconds = 3600
colour = "blue""#,
        "[ents.B1.saml]\nidp_metadata = \"idp.xml\"",
    );
    let err = config::load_str(&toml, dir.path(), vars(&[]))
        .await
        .unwrap_err();
    let problems: Vec<(String, String)> = err
        .0
        .iter()
        .map(|p| (p.key.clone(), p.message.clone()))
        .collect();
    let has = |key: &str, words: &str| problems.iter().any(|(k, m)| k == key && m.contains(words));
    for (key, words) in [
        ("ents.B1.oidc.colour", "unknown key"),
        ("ents.B1.saml", "only for protocol"),
        ("ents.B1.oidc.issuer", "https"),
        ("ents.B1.oidc.client_id", "required"),
        ("ents.B1.oidc.client_secret_file", "cannot read"),
        ("ents.B1.oidc.id_token_signing_algs", "'none': unsigned"),
        ("ents.B1.oidc.id_token_signing_algs", "'HS256': HMAC"),
        ("ents.B1.oidc.id_token_signing_algs", "'RS1024': unknown"),
        ("ents.B1.oidc.scopes", "not a scope"),
        ("ents.B1.oidc.ent_claim", "empty"),
        ("ents.B1.oidc.discovery_ttl_seconds", "positive"),
        ("ents.B1.oidc.clock_skew_seconds", "600"),
    ] {
        assert!(has(key, words), "missing {key} ({words}); got {problems:?}");
    }
    assert!(
        err.to_string()
            .contains("PASSERELLE__ENTS__B1__OIDC__CLIENT_ID"),
        "{err}"
    );

    // An OIDC ENT without its table, and an unknown protocol.
    let toml = oidc_ent_toml("", "").replace("[ents.B1.oidc]", "");
    let err = config::load_str(&toml, dir.path(), vars(&[]))
        .await
        .unwrap_err();
    assert!(err.0.iter().any(|p| p.key == "ents.B1.oidc"), "{err}");
    let toml = oidc_ent_toml("", "")
        .replace("[ents.B1.oidc]", "")
        .replace("\"oidc\"", "\"cas\"");
    let err = config::load_str(&toml, dir.path(), vars(&[]))
        .await
        .unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|p| p.key == "ents.B1.protocol" && p.message.contains("saml or oidc")),
        "{err}"
    );
}

#[tokio::test]
async fn audience_settings_are_read_and_checked_with_every_problem_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("config/passerelle.toml");
    let cfg = config::load(&path, vars(&[])).await.unwrap();
    assert_eq!(cfg.audience.timezone, chrono_tz::Europe::Paris);
    assert_eq!(cfg.audience.min_visitors, 5);
    assert_eq!(
        cfg.audience_readers["ministere"].name,
        "Ministère de l'Éducation nationale"
    );
    assert!(cfg.audience.matomo.is_none());
    assert_eq!(
        (
            cfg.audience.counters,
            cfg.audience.batch_size,
            cfg.audience.window_events
        ),
        (2, 2000, 50_000)
    );

    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace(
        "when_full = \"drop_oldest\"",
        "when_full = \"block\"\ncounters = 17\nwindow_events = 0",
    );
    text = text.replace("timezone = \"Europe/Paris\"", "timezone = \"Paris\"");
    text = text.replace("buffer_capacity = 100000", "buffer_capacity = 0");
    text = text.replace(
        "# [audience.matomo]\n# url = \"https://stats.example.fr/matomo.php\"\n# site_id = 1",
        "[audience.matomo]\nurl = \"http://stats.example.fr/matomo.php\"\nsite_id = 1\n[audience.matomo.dimensions]\nSERVICE = 1\nHUMEUR = 2",
    );
    text.push_str("\n[audience_readers.perdu]\nname = \"Perdu\"\napi_token_file = \"../certs-example/audience-ministere-token.example\"\nscope = \"provider:inconnu\"\n");
    let e = config::load_str(&text, &root.join("config"), vars(&[]))
        .await
        .unwrap_err()
        .to_string();
    for want in [
        "audience.when_full (environment: PASSERELLE__AUDIENCE__WHEN_FULL)",
        "audience.timezone",
        "audience.buffer_capacity",
        "audience.counters",
        "audience.window_events",
        "audience.matomo.url",
        "audience.matomo.token_auth_file",
        "audience.matomo.dimensions.HUMEUR",
        "audience_readers.perdu.scope",
    ] {
        assert!(e.contains(want), "{want} not in {e}");
    }
}

/// The example configuration with `lines` added to `[ents.B0]`, loaded from beside it.
async fn with_ent_lines(lines: &str) -> Result<config::Config, config::ConfigErrors> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let text = std::fs::read_to_string(dir.join("passerelle.toml")).unwrap();
    // A name of its own: the tests that call this run at the same time.
    let path = dir.join(format!(
        ".test-schools-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &path,
        text.replacen("[ents.B0]\n", &format!("[ents.B0]\n{lines}\n"), 1),
    )
    .unwrap();
    let cfg = config::load(&path, vars(&[])).await;
    std::fs::remove_file(&path).unwrap();
    cfg
}

#[tokio::test]
async fn the_schools_an_ent_may_describe_are_read_and_checked() {
    let cfg = with_ent_lines(
        "uais = [\"0561641E\"]\ndepartements = [\"029\"]\nacademies = [\"normandie\"]",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let declared = cfg.ents.values().next().unwrap().schools.clone().unwrap();
    for (uai, inside) in [
        ("0561641E", true),
        ("0561234M", false),
        ("0290001X", true),
        ("0760001M", true),
    ] {
        let uai: passerelle::domain::Uai = match uai.parse() {
            Ok(u) => u,
            // Check letters: derive a valid UAI of the same département.
            Err(_) => passerelle::domain::Uai::from_number(uai[..7].parse().unwrap()).unwrap(),
        };
        assert_eq!(declared.contains(&uai), inside, "{uai}");
    }
    let err =
        with_ent_lines("uais = [\"056164\"]\ndepartements = [\"35\"]\nacademies = [\"atlantide\"]")
            .await
            .map(|_| ())
            .expect_err("refused");
    let text = err.to_string();
    for key in ["ents.B0.uais", "ents.B0.departements", "ents.B0.academies"] {
        assert!(text.contains(key), "{key} in {text}");
    }
    let err = with_ent_lines("uais = []")
        .await
        .map(|_| ())
        .expect_err("refused");
    assert!(err.to_string().contains("declare no school"), "{err}");
}

#[tokio::test]
async fn the_limits_have_defaults_keys_and_checks() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/passerelle.toml");
    let cfg = config::load(&path, vars(&[])).await.unwrap();
    let l = &cfg.limits;
    assert_eq!(l.request_timeout.as_secs(), 30);
    assert_eq!(l.upload_timeout.as_secs(), 600);
    assert_eq!(
        (l.max_in_flight, l.login_rate_per_minute, l.login_burst),
        (1024, 600, 200)
    );
    assert_eq!(l.max_pending_logins_per_client, 2000);
    assert_eq!(l.max_tracked_clients, 100_000);
    assert_eq!(l.chooser_refresh.as_secs(), 60);
    let cfg = config::load(
        &path,
        vars(&[
            ("PASSERELLE__LIMITS__LOGIN_BURST", "7"),
            (
                "PASSERELLE__LIMITS__TRUSTED_FORWARDERS",
                r#"["10.0.0.0/8", "::1"]"#,
            ),
        ]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.limits.login_burst, 7);
    assert_eq!(cfg.limits.trusted_forwarders.len(), 2);
    let err = config::load(
        &path,
        vars(&[
            ("PASSERELLE__LIMITS__MAX_IN_FLIGHT", "0"),
            ("PASSERELLE__LIMITS__REQUEST_TIMEOUT_SECONDS", "0"),
            (
                "PASSERELLE__LIMITS__TRUSTED_FORWARDERS",
                r#"["10.0.0.1/8"]"#,
            ),
        ]),
    )
    .await
    .map(|_| ())
    .expect_err("refused");
    let text = err.to_string();
    for key in [
        "limits.max_in_flight",
        "limits.request_timeout_seconds",
        "limits.trusted_forwarders.0",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
    assert!(text.contains("PASSERELLE__LIMITS__MAX_IN_FLIGHT"), "{text}");
}

#[tokio::test]
async fn the_store_deadlines_have_defaults_keys_and_checks() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/passerelle.toml");
    let cfg = config::load(&path, vars(&[])).await.unwrap();
    let s = &cfg.store_settings;
    assert_eq!(s.call_deadline.as_millis(), 500);
    assert_eq!(s.bulk_deadline.as_secs(), 120);
    assert_eq!(s.health_deadline.as_millis(), 500);
    assert_eq!(s.reconnect_max_delay.as_millis(), 250);
    let cfg = config::load(
        &path,
        vars(&[
            ("PASSERELLE__STORE__CALL_DEADLINE_MS", "200"),
            ("PASSERELLE__STORE__HEALTH_DEADLINE_MS", "300"),
        ]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.store_settings.call_deadline.as_millis(), 200);
    assert_eq!(cfg.store_settings.health_deadline.as_millis(), 300);
    let err = config::load(
        &path,
        vars(&[
            ("PASSERELLE__STORE__CALL_DEADLINE_MS", "0"),
            ("PASSERELLE__STORE__HEALTH_DEADLINE_MS", "100000"),
            ("PASSERELLE__STORE__RECONNECT_MAX_DELAY_MS", "0"),
            ("PASSERELLE__STORE__DEADLINE", "1"),
        ]),
    )
    .await
    .map(|_| ())
    .expect_err("refused")
    .to_string();
    for key in [
        "store.call_deadline_ms",
        "store.health_deadline_ms",
        "store.reconnect_max_delay_ms",
        "store.deadline",
        "PASSERELLE__STORE__CALL_DEADLINE_MS",
    ] {
        assert!(err.contains(key), "{key} in {err}");
    }
    let err = config::load(
        &path,
        vars(&[
            ("PASSERELLE__STORE__CALL_DEADLINE_MS", "5000"),
            ("PASSERELLE__STORE__BULK_DEADLINE_SECONDS", "2"),
        ]),
    )
    .await
    .map(|_| ())
    .expect_err("refused")
    .to_string();
    assert!(err.contains("store.bulk_deadline_seconds"), "{err}");
    assert_eq!(
        s.durable_replicas, 0,
        "acknowledged once the primary has it"
    );
    let cfg = config::load(
        &path,
        vars(&[
            ("PASSERELLE__STORE__DURABLE_REPLICAS", "1"),
            ("PASSERELLE__STORE__DURABLE_WAIT_MS", "100"),
        ]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.store_settings.durable_replicas, 1);
    assert_eq!(cfg.store_settings.durable_wait.as_millis(), 100);
    let err = config::load(
        &path,
        vars(&[
            ("PASSERELLE__STORE__DURABLE_REPLICAS", "1"),
            ("PASSERELLE__STORE__DURABLE_WAIT_MS", "900"),
        ]),
    )
    .await
    .map(|_| ())
    .expect_err("refused")
    .to_string();
    assert!(err.contains("store.durable_wait_ms"), "{err}");
}

#[tokio::test]
async fn the_subscriptions_time_zone_has_a_default_and_is_checked() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/passerelle.toml");
    let cfg = config::load(&path, vars(&[])).await.unwrap();
    assert_eq!(cfg.subscriptions.timezone, chrono_tz::Europe::Paris);
    let cfg = config::load(
        &path,
        vars(&[("PASSERELLE__SUBSCRIPTIONS__TIMEZONE", "America/Cayenne")]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.subscriptions.timezone, chrono_tz::America::Cayenne);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("# timezone = \"Europe/Paris\""),
        "documented in the example"
    );
    let text = text
        .replace("# [subscriptions]", "[subscriptions]")
        .replace("# timezone = \"Europe/Paris\"", "timezone = \"Paris\"");
    let err = config::load_str(&text, &path.with_file_name(""), vars(&[]))
        .await
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("subscriptions.timezone") && err.contains("Paris"),
        "{err}"
    );
}

#[tokio::test]
async fn the_trace_file_is_relative_to_the_configuration_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/passerelle.toml");
    let at = |p: &str| {
        let path = path.clone();
        let p = p.to_string();
        async move {
            config::load(
                &path,
                vars(&[("PASSERELLE__TRACE__PATH", &format!("\"{p}\""))]),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .trace_path
        }
    };
    let dir = path.parent().unwrap();
    assert_eq!(
        at("traces/x.jsonl").await,
        dir.join("traces/x.jsonl").display().to_string()
    );
    assert_eq!(at("/var/log/x.jsonl").await, "/var/log/x.jsonl");
    assert_eq!(at("-").await, "-");
}
