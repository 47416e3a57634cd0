//! The gateway's pages in a real browser: the system's headless Chromium (Debian's `chromium`,
//! driven by `tests/peers/pages/check.mjs` with puppeteer-core) renders each main page at a
//! desktop and a phone width, saves a full-page screenshot under `target/screenshots/` (to look
//! at when a layout changes), and axe-core checks it against WCAG 2.1 A and AA. A page that
//! overflows sideways at phone width, or has an accessibility violation, fails the test.

use crate::support::gateway::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_pages_render_at_phone_width_and_pass_an_accessibility_check() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
    let cookie = gw.session("ens-0001").await;
    let authz = urlencoding::encode("client_id=autre-web&response_type=code");
    let pages = [
        ("accueil", "/".to_string(), 200),
        ("introuvable", "/nulle-part".to_string(), 404),
        ("lien-invalide", "/domaineGar?idENT=x".to_string(), 400),
        (
            "choix-ent",
            format!("/oidc/choose-ent?authz={authz}&q=ENT"),
            200,
        ),
        ("affectations", "/affectations?idENT=B0".to_string(), 200),
        ("audit", "/audit".to_string(), 200),
        (
            "cas-inconnu",
            "/login?service=https%3A%2F%2Finconnu.example.test%2F".to_string(),
            403,
        ),
        ("deconnexion", "/oidc/logout".to_string(), 200),
    ];
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pages/check.mjs");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script)
        .arg("--out")
        .arg(&out)
        .args(["--cookie", &cookie]);
    for (name, path, _) in &pages {
        cmd.arg(format!("{name}={base}{path}"));
    }
    let run = cmd
        .output()
        .await
        .expect("node runs the page check (scripts/setup.sh installs chromium and npm ci's tests/peers/pages)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the page check failed: {stdout} {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(results.len(), pages.len() * 2);
    let mut problems = Vec::new();
    for r in &results {
        let name = r["name"].as_str().unwrap();
        let expected = pages.iter().find(|p| p.0 == name).unwrap().2;
        if r["status"] != expected {
            problems.push(format!(
                "{name}: status {} (expected {expected})",
                r["status"]
            ));
        }
        if r["overflow"] == true {
            problems.push(format!("{name} at {} px: overflows sideways", r["width"]));
        }
        for v in r["violations"].as_array().into_iter().flatten() {
            problems.push(format!("{name}: {v}"));
        }
        assert!(std::path::Path::new(r["screenshot"].as_str().unwrap()).is_file());
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
