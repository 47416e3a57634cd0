//! The gateway's own key rollover with no restart, as an operator does it (docs/operators.md, "The
//! gateway's metadata and its yearly key rollover"): the next certificate added to the
//! configuration and published, then the switch to it, each taken by a reload (`POST
//! /admin/reload` or SIGHUP to `passerelle serve`) while users keep logging in. The provider's
//! assertions are verified by xmlsec1 and by signxml (a Python XML-signature library that is not
//! xmlsec, `tests/peers/saml-verify/verify.py`) before, during and after; an invalid
//! configuration is refused with its problems named and the running keys kept.

use crate::support::ent_idp::xmlsec1_verify;
use crate::support::gateway::*;
use crate::support::saml_browser::*;

const ASSERTION_SIGNATURE: &str = "//*[local-name()='Assertion']/*[local-name()='Signature']";

/// Edits the gateway's configuration file (`passerelle.toml` in its directory).
fn edit_config(gw: &TestGateway, from: &str, to: &str) {
    let path = gw.dir.path().join("passerelle.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} in {text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

const KEYS: &str =
    "signing_key_file = \"gateway.key\"\nsigning_certificate_file = \"gateway.crt\"\n";

async fn reload(s: &Saml) -> (u16, serde_json::Value) {
    let resp = s
        .browser
        .post(format!("{}/admin/reload", s.base))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// Whether signxml verifies the assertion of `response` with the certificate at `cert`.
fn signxml_verifies(response: &str, cert: &std::path::Path) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("response.xml");
    std::fs::write(&file, response).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/saml-verify/verify.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .arg(cert)
        .output()
        .expect("python3 runs signxml (scripts/setup.sh installs it)");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() && said.trim() == "valid" {
        Ok(())
    } else {
        Err(format!("{said}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// A new assertion for the provider, verified by xmlsec1 and by signxml with `signer`'s
/// certificate, and by neither with `other`'s.
async fn signed_by(s: &Saml, request: &str, signer: &KeyFiles, other: &KeyFiles) {
    let response = s.provider_assertion(request).await.unwrap();
    xmlsec1_verify(&response, &signer.cert, ASSERTION_SIGNATURE)
        .unwrap_or_else(|e| panic!("{request}: {e}"));
    signxml_verifies(&response, &signer.cert).unwrap_or_else(|e| panic!("{request}: {e}"));
    assert!(
        xmlsec1_verify(&response, &other.cert, ASSERTION_SIGNATURE).is_err(),
        "{request}: signed by the other key"
    );
    assert!(
        signxml_verifies(&response, &other.cert).is_err(),
        "{request}: signxml, signed by the other key"
    );
}

async fn published(s: &Saml) -> (usize, String, String) {
    let md = s.get("/idp/metadata").await.text().await.unwrap();
    let jwks = s.get("/oidc/jwks").await.text().await.unwrap();
    (md.matches("use=\"signing\"").count(), md, jwks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_key_rolls_over_by_reloads_with_logins_verified_throughout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = Saml::on(
        listener,
        Options {
            extra_toml: "[metrics]\nallow = [\"127.0.0.1/32\"]\n".into(),
            ..Options::default()
        },
    )
    .await;
    let old = s.gw.gateway.clone();
    let next = make_keys(s.gw.dir.path(), "next");
    s.teacher_opens_the_resource().await;
    signed_by(&s, "_before", &old, &next).await;
    let (n, md, jwks_before) = published(&s).await;
    assert_eq!(n, 1);
    assert!(md.contains(&old.cert_b64()));

    // Step 1: the next certificate is published beside the current one; signing goes on.
    edit_config(
        &s.gw,
        KEYS,
        &format!("{KEYS}next_signing_certificate_file = \"next.crt\"\n"),
    );
    let (status, done) = reload(&s).await;
    assert_eq!(status, 200, "{done}");
    assert!(done["changed"][0]
        .as_str()
        .unwrap()
        .starts_with("next SAML signing certificate none -> "));
    let (n, md, _) = published(&s).await;
    assert_eq!(n, 2);
    assert!(md.contains(&old.cert_b64()) && md.contains(&next.cert_b64()));
    signed_by(&s, "_during", &old, &next).await;

    // Step 2: the switch. The same session's next assertion is signed with the new key.
    edit_config(
        &s.gw,
        &format!("{KEYS}next_signing_certificate_file = \"next.crt\"\n"),
        "signing_key_file = \"next.key\"\nsigning_certificate_file = \"next.crt\"\n",
    );
    let (status, done) = reload(&s).await;
    assert_eq!(status, 200, "{done}");
    let changed = done["changed"].to_string();
    assert!(changed.contains("SAML signing certificate "), "{changed}");
    assert!(changed.contains("OIDC keys"), "{changed}");
    signed_by(&s, "_after", &next, &old).await;
    let (n, md, jwks_after) = published(&s).await;
    assert_eq!(n, 1);
    assert!(md.contains(&next.cert_b64()) && !md.contains(&old.cert_b64()));
    assert_ne!(
        jwks_after, jwks_before,
        "the OIDC key (the SAML one here) follows"
    );
    assert!(s
        .gw
        .events()
        .iter()
        .any(|e| matches!(e, passerelle::trace::TraceEvent::ConfigurationLoaded { .. })));

    // An invalid configuration (a key that is not the certificate's) changes nothing.
    edit_config(
        &s.gw,
        "signing_key_file = \"next.key\"",
        "signing_key_file = \"gateway.key\"",
    );
    let (status, refused) = reload(&s).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["problems"]
            .to_string()
            .contains("keys.signing_key_file"),
        "{refused}"
    );
    signed_by(&s, "_kept", &next, &old).await;

    // Only the operator may reload: a request the [metrics] rule does not allow finds nothing.
    let resp = s.gw.post_form("/admin/reload", &[], None).await;
    assert_eq!(resp.status(), 404);
}

/// `passerelle serve` takes a SIGHUP as a reload: the switch to the next key shows in its
/// metadata at once; an invalid configuration is logged with its problem and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_running_gateway() {
    let gw = TestGateway::new().await;
    let next = make_keys(gw.dir.path(), "next");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let logs = gw.dir.path().join("serve.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["serve", "--config"])
        .arg(gw.dir.path().join("passerelle.toml"))
        .env("PASSERELLE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("PASSERELLE__TRACE__PATH", gw.dir.path().join("trace.jsonl"))
        .env_remove("PASSERELLE__STORE__REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&logs).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let metadata = || async move {
        reqwest::get(format!("http://127.0.0.1:{port}/idp/metadata"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    };
    let mut md = None;
    for _ in 0..200 {
        md = metadata().await;
        if md.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(md
        .expect("the gateway serves")
        .contains(&gw.gateway.cert_b64()));
    let hangup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    };
    let pid = child.id().unwrap();

    edit_config(
        &gw,
        KEYS,
        "signing_key_file = \"next.key\"\nsigning_certificate_file = \"next.crt\"\n",
    );
    hangup(pid);
    let mut switched = false;
    for _ in 0..100 {
        if metadata()
            .await
            .is_some_and(|m| m.contains(&next.cert_b64()))
        {
            switched = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(switched, "{}", std::fs::read_to_string(&logs).unwrap());

    edit_config(
        &gw,
        "signing_key_file = \"next.key\"",
        "signing_key_file = \"gateway.key\"",
    );
    hangup(pid);
    let mut logged = String::new();
    for _ in 0..100 {
        logged = std::fs::read_to_string(&logs).unwrap();
        if logged.contains("reload refused") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(logged.contains("keys.signing_key_file"), "{logged}");
    let md = metadata().await.unwrap();
    assert!(md.contains(&next.cert_b64()), "the running key is kept");
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    child.kill().await.unwrap();
}

/// The mutual-TLS listener's certificate, renewed on disk, is served to the next connection
/// after a reload: a client that trusts only the new issuer is refused before and served after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_listener_serves_its_renewed_certificate_after_a_reload() {
    use crate::support::pki::{issue, issue_server};
    let tls = crate::support::tls_gateway::TlsGateway::start(&[]).await;
    let renewing_ca = issue("TEST renewing CA", None, "ca", 11);
    let renewed = issue_server("gateway renewed", &renewing_ca, 12, &[]);
    let client = |ca: &crate::support::pki::Issued| {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca.cert_pem()).unwrap())
            .identity(tls.provider.identity())
            .build()
            .unwrap()
    };
    let url = format!("{}abonnement/etablissements/etablissements.xml", tls.base());
    let (old_trust, new_trust) = (client(&tls.ca), client(&renewing_ca));
    assert_eq!(old_trust.get(&url).send().await.unwrap().status(), 200);
    assert!(new_trust.get(&url).send().await.is_err());

    let dir = tls.gw.dir.path();
    std::fs::write(dir.join("tls.crt"), renewed.cert_pem()).unwrap();
    let key = renewed.key.private_key_to_pem_pkcs8().unwrap();
    std::fs::write(dir.join("tls.key"), key).unwrap();
    let done = tls.gw.state.reload().await.unwrap();
    assert!(
        done.changed.iter().any(|c| c.starts_with("TLS listener")),
        "{done:?}"
    );

    // Client certificates still chain to the configured client CA (unchanged).
    let fresh = client(&renewing_ca);
    assert_eq!(fresh.get(&url).send().await.unwrap().status(), 200);
    assert!(client(&tls.ca).get(&url).send().await.is_err());
    tls.stop().await;
}

/// With an `[admin]` section, operating the gateway takes its credential: the metrics readers
/// (here every loopback peer) read `/metrics` but cannot reload; the admin token can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_section_keeps_metrics_readers_from_reloading() {
    const ADMIN: &str = "admin-token-0123456789abcdef0123456789abcdef";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = Saml::on(
        listener,
        Options {
            files: vec![("admin.token".into(), ADMIN.as_bytes().to_vec())],
            extra_toml:
                "[metrics]\nallow = [\"127.0.0.1/32\"]\n[admin]\ntoken_file = \"admin.token\"\n"
                    .into(),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(s.get("/metrics").await.status(), 200);
    let post = |token: Option<&str>| {
        let mut r = s.browser.post(format!("{}/admin/reload", s.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 404);
    assert_eq!(post(Some("wrong")).await.unwrap().status(), 404);
    assert_eq!(post(Some(ADMIN)).await.unwrap().status(), 200);
    let health = s
        .browser
        .get(format!("{}/health/metadata", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 404, "the metrics rule no longer operates");
}
