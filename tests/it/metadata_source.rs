//! Partners' metadata as a living source (issue 16 items 1–3): a metadata server on a loopback
//! listener, started by the test, serves an ENT's and a provider's metadata signed with a
//! federation key (the gateway's own signing code, `saml::signing`); a new ENT key is used
//! without restart and the old one refused; a provider's new ACS URL is used without restart;
//! every refused document (bad or missing signature, expired, another entityID, oversized, a
//! DTD) keeps the last good copy and counts; a gateway starts on its last good copy while the
//! source is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle::saml::keys::SigningKey;
use passerelle::saml::signing;
use passerelle::store::TokenStore;
use passerelle::trace::TraceEvent;

use crate::support::ent_idp::EntResponse;
use crate::support::gateway::*;

/// What the metadata server answers for one path.
#[derive(Clone)]
enum Doc {
    Xml(String),
    Down,
}

/// A request's path and its `If-None-Match`.
type Hit = (String, Option<String>);

/// The metadata server: documents by path, `ETag` and `If-None-Match` honoured, each request
/// counted.
#[derive(Clone, Default)]
struct MdServer {
    docs: Arc<Mutex<HashMap<String, Doc>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl MdServer {
    async fn start(&self) -> String {
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve_doc))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    fn set(&self, path: &str, doc: Doc) {
        self.docs.lock().unwrap().insert(path.to_string(), doc);
    }

    fn conditional_hits(&self) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, inm)| inm.is_some())
            .count()
    }
}

async fn serve_doc(
    State(s): State<MdServer>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let inm = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.hits.lock().unwrap().push((path.clone(), inm.clone()));
    let doc = s.docs.lock().unwrap().get(&path).cloned();
    match doc {
        Some(Doc::Xml(xml)) => {
            let etag = format!("\"{}\"", passerelle::partners::digest(&xml));
            if inm.as_deref() == Some(etag.as_str()) {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            (
                [
                    ("content-type", "application/samlmetadata+xml".to_string()),
                    ("etag", etag),
                ],
                xml,
            )
                .into_response()
        }
        Some(Doc::Down) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

const VALID_UNTIL: &str = "2036-12-24T00:00:00Z";
const EXPIRED: &str = "2026-11-01T00:00:00Z";

fn key_descriptor(cert_b64: &str) -> String {
    format!(
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
    )
}

/// An EntityDescriptor around `descriptor`, signed by `signer` when given.
fn entity(
    signer: Option<&SigningKey>,
    entity_id: &str,
    valid_until: &str,
    descriptor: &str,
) -> String {
    let id = format!("_md-{}", uuid::Uuid::new_v4().simple());
    let sig = signer
        .map(|k| signing::signature_template(&id, k))
        .unwrap_or_default();
    let xml = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="{id}" entityID="{entity_id}" validUntil="{valid_until}" cacheDuration="PT6H">{sig}{descriptor}</md:EntityDescriptor>"#
    );
    match signer {
        Some(k) => signing::sign(&xml, k).unwrap(),
        None => xml,
    }
}

fn ent_md(
    signer: Option<&SigningKey>,
    entity_id: &str,
    valid_until: &str,
    cert_b64: &str,
) -> String {
    entity(
        signer,
        entity_id,
        valid_until,
        &format!(
            r#"<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{ENT_SSO}"/></md:IDPSSODescriptor>"#,
            key_descriptor(cert_b64)
        ),
    )
}

fn sp_md(signer: &SigningKey, acs: &str, cert_b64: &str) -> String {
    entity(
        Some(signer),
        SP_ENTITY,
        VALID_UNTIL,
        &format!(
            r#"<md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{}<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0"/></md:SPSSODescriptor>"#,
            key_descriptor(cert_b64)
        ),
    )
}

/// The federation's signing key, the ENT's current and next keys, the provider's key: made
/// before the gateway, whose configuration names the metadata they are in.
struct Keys {
    dir: tempfile::TempDir,
    federation: SigningKey,
    ent1: KeyFiles,
    ent2: KeyFiles,
    sp: KeyFiles,
    cache: std::path::PathBuf,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("metadata-cache");
    Keys {
        federation: SigningKey::generate_self_signed("TEST federation", 365).unwrap(),
        ent1: make_keys(dir.path(), "ent1"),
        ent2: make_keys(dir.path(), "ent2"),
        sp: make_keys(dir.path(), "sp-md"),
        cache,
        dir,
    }
}

/// The ENT's metadata signed by the federation, valid until [`VALID_UNTIL`], listing `key`.
fn ent_doc(k: &Keys, key: &KeyFiles) -> Doc {
    Doc::Xml(ent_md(
        Some(&k.federation),
        ENT_ENTITY,
        VALID_UNTIL,
        &key.cert_b64(),
    ))
}

/// The provider's AuthnRequest `id`, signed with `signer`, asking for `acs`: its SSO path.
fn sso_path(signer: &KeyFiles, id: &str, acs: &str) -> String {
    let q = authn_request_query(
        &private_key(signer),
        id,
        Some(acs),
        None,
        "2026-11-24T08:00:00Z",
    );
    format!("/idp/profile/SAML2/Redirect/SSO?{q}")
}

/// A gateway whose ENT B0 and SAML provider are registered by the server's metadata.
async fn gateway(k: &Keys, md_base: &str) -> Result<TestGateway, String> {
    gateway_on(k, md_base, None).await
}

/// [`gateway`], on `shared` (a store other nodes use too) when given.
async fn gateway_on(
    k: &Keys,
    md_base: &str,
    shared: Option<Arc<dyn passerelle::store::Store>>,
) -> Result<TestGateway, String> {
    let opts = Options {
        shared_store: shared,
        files: vec![(
            "federation.crt".into(),
            k.federation.certificate_pem().unwrap(),
        )],
        ent_b0_auth: Some(format!(
            "[ents.B0.saml]\nidp_metadata = \"{md_base}/ent.xml\"\nmetadata_signing_certificate_file = \"federation.crt\"\nsignature_algorithms = [\"rsa-sha256\"]"
        )),
        provider_saml: Some(format!(
            "metadata = \"{md_base}/sp.xml\"\nentity_id = \"{SP_ENTITY}\"\nmetadata_signing_certificate_file = \"federation.crt\""
        )),
        extra_toml: format!(
            "[metadata]\ncache_dir = \"{}\"\nmax_bytes = 16384\n[metrics]\nallow = [\"127.0.0.1/32\"]\n",
            k.cache.display()
        ),
        ..Default::default()
    };
    // The test kit panics on configuration problems: catch it to test a refused start.
    let handle = tokio::spawn(TestGateway::with(opts));
    handle.await.map_err(|e| {
        e.into_panic()
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    })
}

async fn server(k: &Keys) -> (MdServer, String) {
    let md = MdServer::default();
    let base = md.start().await;
    md.set("ent.xml", ent_doc(k, &k.ent1));
    md.set(
        "sp.xml",
        Doc::Xml(sp_md(&k.federation, SP_ACS, &k.sp.cert_b64())),
    );
    (md, base)
}

/// A full ENT login whose Response is signed with `signer`: the status of the ACS's answer
/// (302 to the resource when accepted).
async fn login_signed_by(gw: &TestGateway, signer: &KeyFiles) -> StatusCode {
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let url = location(&resp);
    let relay = url
        .split('&')
        .find_map(|p| p.strip_prefix("RelayState="))
        .unwrap();
    let id = urlencoding::decode(relay).unwrap().into_owned();
    let xml = EntResponse::new(BASE, ENT_ENTITY, &id, gw.state.clock.now(), "eleve-0001")
        .signed(&signer.key, &signer.cert);
    let cookie = format!("{}{id}=1", gw.login_cookie());
    gw.post_form(
        "/saml/acs",
        &[("SAMLResponse", &b64(&xml)), ("RelayState", &id)],
        Some(&cookie),
    )
    .await
    .status()
}

fn ent_keys(gw: &TestGateway) -> Vec<String> {
    let ent = gw.state.config.ents.values().next().unwrap();
    passerelle::saml::keys::fingerprints(&ent.saml().unwrap().peer.signing_certs)
}

fn fingerprint(files: &KeyFiles) -> String {
    let cert =
        passerelle::saml::keys::certificate_from_pem(&std::fs::read(&files.cert).unwrap()).unwrap();
    passerelle::saml::keys::fingerprints(&[cert]).remove(0)
}

async fn metric(base: &str, partner: &str) -> u64 {
    let text = http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("passerelle_metadata_refresh_failures_total{{partner=\"{partner}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
        .parse()
        .unwrap()
}

async fn admin_refresh(base: &str, partner: &str) -> (StatusCode, serde_json::Value) {
    let resp = http_client()
        .post(format!("{base}/admin/metadata/refresh?partner={partner}"))
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    (
        status,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn a_new_ent_key_is_used_without_restart_and_the_old_one_is_refused() {
    let k = keys();
    let (md, md_base) = server(&k).await;
    let gw = gateway(&k, &md_base).await.unwrap();
    assert_eq!(login_signed_by(&gw, &k.ent1).await, StatusCode::FOUND);

    // The ENT rolls its key over: its metadata now lists the new one only.
    md.set("ent.xml", ent_doc(&k, &k.ent2));
    // The first Response signed with the new key makes the gateway ask again (an unknown key).
    assert_eq!(login_signed_by(&gw, &k.ent2).await, StatusCode::FOUND);
    assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent2)]);
    // The old key is refused from then on.
    assert!(login_signed_by(&gw, &k.ent1).await.is_client_error());
    assert_eq!(gw.refused_checks().last(), Some(&"saml.signature"));

    // The change is traced (and so audited) with both keys' fingerprints.
    let changed: Vec<_> = gw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::PartnerMetadataChanged {
                partner,
                old_keys,
                new_keys,
                ..
            } => Some((partner, old_keys, new_keys)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changed,
        vec![(
            "ent:B0".to_string(),
            vec![fingerprint(&k.ent1)],
            vec![fingerprint(&k.ent2)]
        )]
    );
    // The accepted copy is the last good one, in the store (for every node) and on disk.
    let stored = gw
        .store
        .get_token("metadata", "ent:B0")
        .await
        .unwrap()
        .unwrap();
    assert!(stored["xml"].as_str().unwrap().contains(&k.ent2.cert_b64()));
    let disk = std::fs::read_to_string(k.cache.join("ent-B0.xml")).unwrap();
    assert!(disk.contains(&k.ent2.cert_b64()));
}

#[tokio::test]
async fn another_node_takes_the_new_copy_from_the_store() {
    let k = keys();
    let (md, md_base) = server(&k).await;
    let a = gateway(&k, &md_base).await.unwrap();
    let b = gateway(&k, &md_base).await.unwrap();
    md.set("ent.xml", ent_doc(&k, &k.ent2));
    let p = a.state.partners.find("B0").unwrap().clone();
    assert!(a
        .state
        .partners
        .refresh(&p, passerelle::partners::Reason::Operator)
        .await
        .unwrap());
    // Node b reads a's copy at its next round: the test kit gives each node a store of its
    // own, so the record is copied over as a shared store (Redis) would show it.
    let record = a
        .store
        .get_token("metadata", "ent:B0")
        .await
        .unwrap()
        .unwrap();
    b.store
        .put_token(
            "metadata",
            "ent:B0",
            &record,
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(ent_keys(&b), vec![fingerprint(&k.ent1)]);
    b.state.partners.tick().await;
    assert_eq!(ent_keys(&b), vec![fingerprint(&k.ent2)]);
    assert_eq!(login_signed_by(&b, &k.ent2).await, StatusCode::FOUND);
}

/// Two nodes on one Redis: what one node accepted (the ENT's new key, the provider's new ACS
/// URL) is used by the other at its very next request that needs it, not at its next round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_shared_redis_another_node_uses_the_change_at_its_next_request() {
    let k = keys();
    let (md, md_base) = server(&k).await;
    let prefix = format!("md-nodes-{}", uuid::Uuid::new_v4().simple());
    let redis = crate::support::test_redis::store(&prefix).await;
    let a = gateway_on(&k, &md_base, Some(redis.clone())).await.unwrap();
    let b = gateway_on(&k, &md_base, Some(redis.clone())).await.unwrap();
    // Node b has its copy from the start; then the ENT and the provider change, and only
    // node a refreshes (node b runs no rounds in this test).
    assert_eq!(login_signed_by(&b, &k.ent1).await, StatusCode::FOUND);
    let new_acs = "https://resource.example.test/saml/acs-2";
    md.set("ent.xml", ent_doc(&k, &k.ent2));
    md.set(
        "sp.xml",
        Doc::Xml(sp_md(&k.federation, new_acs, &k.sp.cert_b64())),
    );
    for partner in ["B0", "test-editeur"] {
        let p = a.state.partners.find(partner).unwrap().clone();
        let changed = a
            .state
            .partners
            .refresh(&p, passerelle::partners::Reason::Operator);
        assert!(changed.await.unwrap(), "{partner}");
    }
    // The source goes silent: node b can only learn from the store.
    md.set("ent.xml", Doc::Down);
    md.set("sp.xml", Doc::Down);
    assert_eq!(ent_keys(&b), vec![fingerprint(&k.ent1)]);
    assert_eq!(login_signed_by(&b, &k.ent2).await, StatusCode::FOUND);
    assert_eq!(ent_keys(&b), vec![fingerprint(&k.ent2)]);
    // The old key is refused on b too, now.
    assert_ne!(login_signed_by(&b, &k.ent1).await, StatusCode::FOUND);

    let cookie = b.session("ens-0001").await;
    let opened = b.get(&domaine_gar(RES_ETABL), Some(&cookie)).await;
    assert_eq!(opened.status(), StatusCode::FOUND);
    let sso = b
        .get(&sso_path(&k.sp, "_r-shared", new_acs), Some(&cookie))
        .await;
    assert_eq!(sso.status(), StatusCode::OK);
    assert!(body_string(sso).await.contains(new_acs));
    crate::support::test_redis::cleanup(&prefix).await;
}

#[tokio::test]
async fn a_providers_new_acs_url_is_used_without_restart() {
    let k = keys();
    let (md, md_base) = server(&k).await;
    let gw = gateway(&k, &md_base).await.unwrap();
    let base = gw.listen().await;
    let new_acs = "https://resource.example.test/saml/acs-2";
    let cookie = gw.session("ens-0001").await;
    assert_eq!(
        gw.get(&domaine_gar(RES_ETABL), Some(&cookie))
            .await
            .status(),
        StatusCode::FOUND
    );
    let sso = |id: &str| sso_path(&k.sp, id, new_acs);
    let before = gw.get(&sso("_r1"), Some(&cookie)).await;
    assert!(before.status().is_client_error());
    assert_eq!(gw.refused_checks().last(), Some(&"saml.acs"));

    md.set(
        "sp.xml",
        Doc::Xml(sp_md(&k.federation, new_acs, &k.sp.cert_b64())),
    );
    let (status, body) = admin_refresh(&base, "test-editeur").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["partners"][0]["changed"], true, "{body}");

    let after = gw.get(&sso("_r2"), Some(&cookie)).await;
    assert_eq!(after.status(), StatusCode::OK);
    let page = body_string(after).await;
    assert!(page.contains(new_acs), "{page}");
    assert!(gw.events().iter().any(|e| matches!(
        e,
        TraceEvent::PartnerMetadataChanged { partner, new_endpoints, .. }
            if partner == "provider:test-editeur" && new_endpoints.contains(&format!("acs {new_acs}"))
    )));

    // The provider rolls its key over: its first request signed with the new key makes the
    // gateway ask its metadata again, and is answered.
    let sp2 = make_keys(k.dir.path(), "sp-md-2");
    md.set(
        "sp.xml",
        Doc::Xml(sp_md(&k.federation, new_acs, &sp2.cert_b64())),
    );
    let rolled = gw.get(&sso_path(&sp2, "_r3", new_acs), Some(&cookie)).await;
    assert_eq!(rolled.status(), StatusCode::OK);
}

#[tokio::test]
async fn refused_documents_keep_the_last_good_copy_and_count() {
    let k = keys();
    let (md, md_base) = server(&k).await;
    let gw = gateway(&k, &md_base).await.unwrap();
    let base = gw.listen().await;
    let other = SigningKey::generate_self_signed("TEST not the federation", 365).unwrap();
    let good = match md.docs.lock().unwrap()["ent.xml"].clone() {
        Doc::Xml(x) => x,
        Doc::Down => unreachable!(),
    };
    let new_cert = k.ent2.cert_b64();
    let tampered = ent_md(
        Some(&k.federation),
        ENT_ENTITY,
        VALID_UNTIL,
        &k.ent1.cert_b64(),
    )
    .replace(ENT_SSO, "https://evil.example/sso");
    let oversized = ent_md(
        Some(&k.federation),
        ENT_ENTITY,
        VALID_UNTIL,
        &format!("{new_cert}{}", " ".repeat(20_000)),
    );
    let dtd = format!(
        "<!DOCTYPE md:EntityDescriptor [<!ENTITY x \"y\">]>{}",
        ent_md(Some(&k.federation), ENT_ENTITY, VALID_UNTIL, &new_cert)
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unsigned",
            ent_md(None, ENT_ENTITY, VALID_UNTIL, &new_cert),
            "not signed",
        ),
        (
            "signed by another key",
            ent_md(Some(&other), ENT_ENTITY, VALID_UNTIL, &new_cert),
            "signature",
        ),
        ("tampered after signing", tampered, "signature"),
        (
            "expired",
            ent_md(Some(&k.federation), ENT_ENTITY, EXPIRED, &new_cert),
            "expired",
        ),
        (
            "another entityID",
            ent_md(
                Some(&k.federation),
                "https://other-ent.example.test/idp",
                VALID_UNTIL,
                &new_cert,
            ),
            "not for the configured entityID",
        ),
        ("oversized", oversized, "16384"),
        ("with a DTD", dtd, "DOCTYPE"),
    ];
    let stored_before = gw.store.get_token("metadata", "ent:B0").await.unwrap();
    for (i, (case, xml, why)) in cases.into_iter().enumerate() {
        md.set("ent.xml", Doc::Xml(xml));
        let (status, body) = admin_refresh(&base, "ent:B0").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{case}: {body}");
        let error = body["partners"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{case}: {error}");
        assert_eq!(metric(&base, "ent:B0").await, i as u64 + 1, "{case}");
        assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent1)], "{case}");
        let ent = gw.state.config.ents.values().next().unwrap();
        assert_eq!(ent.saml().unwrap().peer.sso_redirect_url, ENT_SSO, "{case}");
    }
    // The store and the disk still hold the good copy; the health detail tells the operator.
    let stored = gw.store.get_token("metadata", "ent:B0").await.unwrap();
    assert_eq!(stored, stored_before);
    assert_eq!(
        std::fs::read_to_string(k.cache.join("ent-B0.xml")).unwrap(),
        good
    );
    let health: serde_json::Value = serde_json::from_str(
        &http_client()
            .get(format!("{base}/health/metadata"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(health["degraded"], true, "{health}");
    let ent = health["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner"] == "ent:B0")
        .unwrap();
    assert_eq!(ent["status"]["stale"], true);
    assert!(ent["status"]["last_error"]
        .as_str()
        .unwrap()
        .contains("DOCTYPE"));
    // Logins signed with the key of the last good copy still work.
    assert_eq!(login_signed_by(&gw, &k.ent1).await, StatusCode::FOUND);
    // The source mended, the next refresh clears the state; 304 when nothing changed since.
    md.set("ent.xml", Doc::Xml(good));
    assert_eq!(admin_refresh(&base, "B0").await.0, StatusCode::OK);
    let p = gw.state.partners.find("ent:B0").unwrap().clone();
    assert!(!p.status().stale);
    let conditional = md.conditional_hits();
    gw.state
        .partners
        .refresh(&p, passerelle::partners::Reason::UnknownKey)
        .await
        .unwrap();
    assert_eq!(md.conditional_hits(), conditional + 1);
}

#[tokio::test]
async fn the_gateway_starts_on_its_last_good_copy_while_the_source_is_down() {
    let k = keys();
    let (md, md_base) = server(&k).await;
    let first = gateway(&k, &md_base).await.unwrap();
    drop(first);
    assert!(k.cache.join("ent-B0.xml").is_file());
    assert!(k.cache.join("provider-test-editeur.xml").is_file());

    md.set("ent.xml", Doc::Down);
    md.set("sp.xml", Doc::Down);
    let gw = gateway(&k, &md_base).await.unwrap();
    assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent1)]);
    let p = gw.state.partners.find("ent:B0").unwrap().clone();
    assert!(p.status().stale, "served from the last good copy");
    assert_eq!(login_signed_by(&gw, &k.ent1).await, StatusCode::FOUND);

    // The source stays down past the copy's validUntil: the copy is still served (the ENT's
    // users keep logging in), and the operator is told.
    let base = gw.listen().await;
    let expired = |base: String| async move {
        let health = http_client()
            .get(format!("{base}/health/metadata"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let health: serde_json::Value = serde_json::from_str(&health).unwrap();
        let metrics = http_client()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let ent = health["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["partner"] == "ent:B0")
            .unwrap()["expired"]
            .clone();
        let gauge = metrics
            .lines()
            .find_map(|l| l.strip_prefix("passerelle_metadata_expired{partner=\"ent:B0\"} "))
            .map(str::to_string);
        (ent, gauge)
    };
    assert_eq!(
        expired(base.clone()).await,
        (serde_json::json!(false), Some("0".into()))
    );
    gw.clock.advance(chrono::Duration::days(3700));
    assert_eq!(
        expired(base).await,
        (serde_json::json!(true), Some("1".into()))
    );
    assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent1)], "still served");

    // Without a last good copy, the source being down is a configuration problem.
    std::fs::remove_dir_all(&k.cache).unwrap();
    let refused = gateway(&k, &md_base)
        .await
        .err()
        .expect("no start without a copy");
    assert!(
        refused.contains("ents.B0.saml.idp_metadata") && refused.contains("503"),
        "{refused}"
    );
    let _ = &k.dir;
}

#[tokio::test]
async fn a_watched_file_is_read_again_when_it_changes() {
    let k = keys();
    let first = ent_md(None, ENT_ENTITY, VALID_UNTIL, &k.ent1.cert_b64());
    let gw = TestGateway::with(Options {
        files: vec![("ent-md.xml".into(), first.into_bytes())],
        ent_b0_auth: Some(
            "[ents.B0.saml]\nidp_metadata = \"ent-md.xml\"\nsignature_algorithms = [\"rsa-sha256\"]"
                .into(),
        ),
        ..Default::default()
    })
    .await;
    gw.state.partners.tick().await;
    assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent1)]);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    std::fs::write(
        gw.dir.path().join("ent-md.xml"),
        ent_md(None, ENT_ENTITY, VALID_UNTIL, &k.ent2.cert_b64()),
    )
    .unwrap();
    gw.state.partners.tick().await;
    assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent2)]);
    assert_eq!(login_signed_by(&gw, &k.ent2).await, StatusCode::FOUND);

    // An expired document is refused once, and the partner stays stale while the file is
    // unchanged: "not modified" does not make a refused document good.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    std::fs::write(
        gw.dir.path().join("ent-md.xml"),
        ent_md(None, ENT_ENTITY, EXPIRED, &k.ent1.cert_b64()),
    )
    .unwrap();
    let p = gw.state.partners.find("ent:B0").unwrap().clone();
    for _ in 0..2 {
        gw.state.partners.tick().await;
        assert!(p.status().stale);
        assert_eq!(p.failures.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent2)]);
    }
}

#[tokio::test]
async fn an_mdq_server_is_asked_for_the_entity() {
    let k = keys();
    let md = MdServer::default();
    let md_base = md.start().await;
    let doc = ent_doc(&k, &k.ent1);
    // The server's router hands the path percent-decoded.
    md.set(&format!("mdq/entities/{ENT_ENTITY}"), doc);
    let gw = TestGateway::with(Options {
        files: vec![(
            "federation.crt".into(),
            k.federation.certificate_pem().unwrap(),
        )],
        ent_b0_auth: Some(format!(
            "[ents.B0.saml]\nmetadata_mdq = \"{md_base}/mdq/\"\nentity_id = \"{ENT_ENTITY}\"\nmetadata_signing_certificate_file = \"federation.crt\"\nsignature_algorithms = [\"rsa-sha256\"]"
        )),
        ..Default::default()
    })
    .await;
    assert_eq!(ent_keys(&gw), vec![fingerprint(&k.ent1)]);
    assert_eq!(login_signed_by(&gw, &k.ent1).await, StatusCode::FOUND);
}

#[tokio::test]
async fn the_operators_command_refreshes_and_keeps_the_last_good_copy() {
    let k = keys();
    let (md, md_base) = server(&k).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = k.cache.display().to_string();
    let trace = k.dir.path().join("trace.jsonl").display().to_string();
    let cert = k.dir.path().join("federation.crt");
    std::fs::write(&cert, k.federation.certificate_pem().unwrap()).unwrap();
    let cert = cert.display().to_string();
    let url = format!("{md_base}/ent.xml");
    let run = |partner: &'static str| {
        let (url, cache, trace, cert) = (url.clone(), cache.clone(), trace.clone(), cert.clone());
        let config = root.join("config/passerelle.toml");
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
                .args(["metadata", "refresh", partner, "--config"])
                .arg(config)
                .env("PASSERELLE__ENTS__B0__SAML__IDP_METADATA", url)
                .env(
                    "PASSERELLE__ENTS__B0__SAML__METADATA_SIGNING_CERTIFICATE_FILE",
                    cert,
                )
                .env("PASSERELLE__METADATA__CACHE_DIR", cache)
                .env("PASSERELLE__TRACE__PATH", trace)
                .env_remove("PASSERELLE__STORE__REDIS_URL")
                .output()
                .await
                .unwrap()
        }
    };
    // The example's ENT B0 answers with the test's ENT entityID: configure it to expect that.
    let ok = run("ent:B0").await;
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.contains("ent:B0: refreshed"), "{out}");
    let copy = std::fs::read_to_string(k.cache.join("ent-B0.xml")).unwrap();
    assert!(copy.contains(&k.ent1.cert_b64()));

    md.set(
        "ent.xml",
        Doc::Xml(ent_md(
            Some(&k.federation),
            ENT_ENTITY,
            EXPIRED,
            &k.ent2.cert_b64(),
        )),
    );
    let refused = run("B0").await;
    let out = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(
        out.contains("refused, the last good copy is kept") && out.contains("expired"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(k.cache.join("ent-B0.xml")).unwrap(),
        copy
    );
    assert_eq!(run("nobody").await.status.code(), Some(1));
}
