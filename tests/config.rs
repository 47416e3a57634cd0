//! Configuration: the committed example is valid; problems are all reported at once with
//! their key and environment variable; environment overrides apply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
