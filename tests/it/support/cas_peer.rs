//! The CAS side of the tests: a provider's web application built on python-cas
//! (`tests/peers/cas-client/service.py`, the way django-gar logs users in), a CAS provider in
//! the gateway's configuration for it, the subscription that lets the pupil in, and a browser
//! that follows redirects between the gateway and the provider.

use passerelle::domain::{Assignment, AssignmentTarget, Subscription};
use tokio::io::AsyncBufReadExt;

use crate::support::gateway::*;
use crate::support::saml_browser::{status_and_location, Saml};

pub const RES_CAS: &str = "ark:/77777/cas";
pub const SITES: [&str; 2] = [
    "https://cas.example.test/",
    "https://aide.cas.example.test/",
];

/// The provider's application, running until dropped.
pub struct CasPeer {
    _child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl CasPeer {
    /// Starts the application against the CAS server at `server_url` (python-cas `version`).
    pub async fn start(server_url: &str, version: u8) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/cas-client/service.py"
        );
        Self::spawn(
            script,
            &[
                "--server-url",
                server_url,
                "--version",
                &version.to_string(),
            ],
        )
        .await
    }

    /// Starts the published django-gar integration (`tests/peers/django-gar/app.py`) against
    /// the CAS server at `server_url`, for the institution `uai`, its database in `db`.
    pub async fn django_gar(server_url: &str, uai: &str, db: &std::path::Path) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/django-gar/app.py");
        let db = db.display().to_string();
        Self::spawn(
            script,
            &["--server-url", server_url, "--uai", uai, "--db", &db],
        )
        .await
    }

    async fn spawn(script: &str, args: &[&str]) -> Self {
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the CAS application (scripts/setup.sh installs its packages)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the CAS application starts")
            .unwrap()
            .expect("the CAS application says READY (are its Python packages installed?)");
        let port = line.strip_prefix("READY ").unwrap().trim().to_string();
        Self {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The service URL the application gives the gateway, as django-gar builds it.
    pub fn service(&self) -> String {
        format!("{}/?sso_id=gar", self.base)
    }

    /// The `SessionIndex` values of the logout requests the application received.
    pub async fn logouts(&self) -> Vec<String> {
        reqwest::get(format!("{}/logouts", self.base))
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap()
    }
}

/// A CAS provider registering the application's service (exact) for [`RES_CAS`], with its
/// logout URL `{peer}{logout_path}`.
pub fn provider_toml(peer: &CasPeer, logout_path: &str) -> String {
    format!(
        r#"
[providers.cas-editeur]
name = "Éditeur CAS"
protocol = "cas"
technical_distributor = "555555555_0000000000000000"
[[providers.cas-editeur.resources]]
id = "{RES_CAS}"
name = "Ressource CAS"
access_url = "{service}"
sites = ["{s0}", "{s1}"]
[providers.cas-editeur.resources.attributes]
National_elv = ["IDO", "UAI", "PRO", "DIV", "IDC", "LRA", "idENT"]
National_ens = ["IDO", "UAI", "PRO", "NOM", "PRE"]
[[providers.cas-editeur.cas.services]]
url = "{service}"
logout_url = "{base}{logout_path}"
"#,
        service = peer.service(),
        base = peer.base,
        s0 = SITES[0],
        s1 = SITES[1],
    )
}

/// An INDIV subscription to [`RES_CAS`]: the Latin group (the pupil) and the teacher assigned;
/// the second pupil is not.
pub async fn subscribe(gw: &TestGateway) {
    subscribe_in(gw.store.as_ref()).await;
}

/// [`subscribe`], in `store`.
pub async fn subscribe_in(store: &dyn passerelle::store::Store) {
    let s: Subscription = serde_json::from_value(serde_json::json!({
        "id": "abo-cas", "distributor_id": "555555555_0000000000000000", "resource_id": RES_CAS,
        "valid_from": "2026-08-15T00:00:00Z", "valid_until": "2027-08-15T00:00:00Z", "uais": [UAI],
        "assignment_type": "INDIV", "audiences": ["ELEVE", "ENSEIGNANT"]
    }))
    .unwrap();
    store.put_subscription(&s).await.unwrap();
    for target in [
        AssignmentTarget::Group {
            code: "LATIN".into(),
        },
        AssignmentTarget::Person {
            ent: "B0".parse().unwrap(),
            id: "ens-0001".into(),
        },
    ] {
        store
            .add_assignment(&Assignment {
                subscription_id: "abo-cas".into(),
                uai: UAI.parse().unwrap(),
                target,
            })
            .await
            .unwrap();
    }
}

/// A gateway with the CAS provider, served on a real listener, and the python-cas application
/// (CAS `version`) pointed at it by its base URL alone.
pub struct Cas {
    pub saml: Saml,
    pub peer: CasPeer,
}

impl Cas {
    pub async fn new(version: u8) -> Self {
        Self::with(version, Vec::new()).await
    }

    /// As [`Cas::new`], with `PASSERELLE__*` overrides; the application is given the CAS base
    /// URL `{gateway}{cas_path}/`.
    pub async fn with(version: u8, vars: Vec<(String, String)>) -> Self {
        let cas_path = vars
            .iter()
            .find(|(k, _)| k == "PASSERELLE__CAS__PATH_PREFIX")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let peer = CasPeer::start(&format!("{base}{cas_path}/"), version).await;
        let saml = Saml::on(
            listener,
            Options {
                extra_toml: provider_toml(&peer, "/logout"),
                vars,
                ..Options::default()
            },
        )
        .await;
        subscribe(&saml.gw).await;
        Self { saml, peer }
    }

    /// The gateway with the CAS provider, and the published django-gar integration in front of
    /// it (its `GAR_BASE_URL` set to the gateway), for the institution [`UAI`].
    pub async fn django_gar(db: &std::path::Path) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let peer = CasPeer::django_gar(&format!("{base}/"), UAI, db).await;
        let saml = Saml::on(
            listener,
            Options {
                extra_toml: provider_toml(&peer, "/gar/logout/"),
                ..Options::default()
            },
        )
        .await;
        subscribe(&saml.gw).await;
        Self { saml, peer }
    }

    pub fn gw(&self) -> &TestGateway {
        &self.saml.gw
    }

    /// `GET url` in the browser; answers the status, the redirect target and the body.
    pub async fn get(&self, url: &str) -> (u16, String, String) {
        let resp = self.saml.browser.get(url).send().await.unwrap();
        let (status, to) = status_and_location(&resp);
        (status, to, resp.text().await.unwrap())
    }

    /// Follows redirects from `url` until an answer that is not one, or a redirect to the ENT
    /// (which the test plays); answers the last status, redirect target and body, and the
    /// URLs visited.
    pub async fn follow(&self, url: &str) -> (u16, String, String, Vec<String>) {
        let mut at = url.to_string();
        let mut visited = Vec::new();
        for _ in 0..10 {
            visited.push(at.clone());
            let (status, to, body) = self.get(&at).await;
            if !(300..400).contains(&status) || to.starts_with("https://ent.example.test") {
                return (status, to, body, visited);
            }
            // A relative redirect is relative to the page that gave it.
            at = url::Url::parse(&at).unwrap().join(&to).unwrap().to_string();
        }
        panic!("redirect loop: {visited:?}");
    }
}
