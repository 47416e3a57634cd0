//! The subscription management of the published GAR integration django-gar (PyPI), unchanged,
//! against the gateway's web service over mutual TLS (`tests/peers/django-gar/subscriptions.py`):
//! a publisher's back office creates, reads, counts, updates, re-creates and deletes a school's
//! subscription through django-gar's model, authenticated by its client certificate only.

use crate::support::gateway::*;
use crate::support::tls_gateway::TlsGateway;

const REAL_GAR_HOST: &str = "abonnement.gar.education.fr";

/// Runs the script and returns what it printed.
async fn run_django_gar(tls: &TlsGateway, dir: &std::path::Path) -> serde_json::Value {
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let ca = write("ca.pem", tls.ca.cert_pem());
    let cert = write("client.pem", tls.provider.cert_pem());
    let key = write(
        "client.key",
        tls.provider.key.private_key_to_pem_pkcs8().unwrap(),
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/django-gar/subscriptions.py"
    );
    let port = tls.addr.port().to_string();
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--base", &tls.base(), "--cert", &cert, "--key", &key])
        .args(["--uai", UAI, "--db", &dir.display().to_string()])
        .args(["--distributor", "123456789_0000000000000000"])
        .args(["--resource", RES_INDIV, "--real-gar-port", &port])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("django-gar's back office finishes")
        .expect("python3 runs (scripts/setup.sh installs django-gar)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_gar_manages_a_schools_subscription_unchanged() {
    let tls = TlsGateway::start(&[REAL_GAR_HOST]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_django_gar(&tls, dir.path()).await;
    for step in ["create", "read", "counts", "update", "again", "delete"] {
        assert_eq!(
            out[format!("{step}_errors")],
            serde_json::json!([]),
            "django-gar logged errors at {step}: {out}"
        );
    }
    // The schools list, read in its namespace, gave the school's ENT (its id in base64, as
    // the real GAR answers it).
    let school = tls
        .gw
        .state
        .store
        .school(&UAI.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    use base64::Engine;
    let id_ent = base64::engine::general_purpose::STANDARD.encode(school.ent.to_string());
    assert_eq!(out["id_ent"], id_ent, "{out}");
    // Created without categorieAffectation and with a naive local start; read back with the
    // computed end (15 August, end of day, Paris summer time) and offsets.
    assert_eq!(out["found"], true, "{out}");
    assert_eq!(out["fin"], "2027-08-15T23:59:59+02:00", "{out}");
    let debut = out["debut"].as_str().unwrap();
    assert!(
        debut.ends_with("+01:00") || debut.ends_with("+02:00"),
        "{debut}"
    );
    assert_eq!(out["cache"]["idabonnement"], "abo-django-gar-ws");
    assert_eq!(out["cache"]["categorieaffectation"], "transferable");
    // The licence counts, read from the CSV: a whole-school subscription reaches the
    // school's two pupils and its teacher.
    assert_eq!(out["counts_refreshed"], true, "{out}");
    assert_eq!(out["has_allocations"], true, "{out}");
    let counts = &out["allocations"];
    assert_eq!(counts["idAbonnement"], "abo-django-gar-ws", "{out}");
    assert_eq!(counts["cumulAffectationEleve"], 2, "{out}");
    assert_eq!(counts["cumulAffectationEnseignant"], 1, "{out}");
    assert_eq!(counts["cumulAffectationDocumentaliste"], 0, "{out}");
    // Updated with POST, then PUT again (409) and switched to POST by django-gar itself.
    assert_eq!(
        out["fin_after_update"], "2028-08-15T23:59:59+02:00",
        "{out}"
    );
    assert_eq!(out["fin_after_again"], "2029-08-15T23:59:59+02:00", "{out}");
    // Deleted.
    assert_eq!(out["found_after_delete"], false, "{out}");
    tls.stop().await;
}
