//! The ENT's OpenID Provider for interop tests: panva's `oidc-provider` (npm), run as a node
//! process on a loopback port by `tests/peers/ent-op/ent-op.mjs`. `scripts/setup.sh` installs
//! its node modules. [`panva`]: a gateway on a loopback port whose ENT B0 logs in there.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use chrono::{DateTime, TimeZone, Utc};

use crate::support::gateway::*;
use crate::support::hostile_op::CLIENT_ID;
use crate::support::oidc_login::gateway_for;

pub struct EntOp {
    child: Child,
    pub issuer: String,
    /// The OP's clock when it started (the gateway's fixed clock is set to it: the OP signs
    /// with its own wall clock).
    pub started_at: DateTime<Utc>,
}

impl Drop for EntOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct EntOpOptions<'a> {
    pub redirect_uri: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub id_ent: &'a str,
    pub person: &'a str,
    /// Keep the GAR claims out of the ID token (userinfo only).
    pub conform: bool,
    /// Where the OP posts its back-channel logout tokens (the feature is off without it).
    pub backchannel_logout_uri: Option<&'a str>,
}

impl EntOp {
    pub fn start(o: &EntOpOptions<'_>) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ent-op");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run scripts/setup.sh (npm ci in {})",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("ent-op.mjs")
            .current_dir(&dir)
            .env("REDIRECT_URI", o.redirect_uri)
            .env("CLIENT_ID", o.client_id)
            .env("CLIENT_SECRET", o.client_secret)
            .env("ID_ENT", o.id_ent)
            .env("PERSON", o.person)
            .env("CONFORM", if o.conform { "1" } else { "0" })
            .env(
                "BACKCHANNEL_LOGOUT_URI",
                o.backchannel_logout_uri.unwrap_or(""),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is needed for the OIDC interop tests");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("ready ") => break l,
                Some(Ok(_)) => continue,
                other => panic!("ent-op did not start: {other:?}"),
            }
        };
        // Keep draining its output: a closed pipe would kill the OP on its next log line.
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                eprintln!("ent-op: {l}");
            }
        });
        let mut parts = line.split_whitespace().skip(1);
        let issuer = parts.next().unwrap().to_string();
        let ms: i64 = parts.next().unwrap().parse().unwrap();
        Self {
            child,
            issuer,
            started_at: Utc.timestamp_millis_opt(ms).unwrap(),
        }
    }
}

/// The seeded ETABL subscription, made valid around `at` (the OP's wall clock), so that these
/// tests do not depend on the date they run.
pub async fn current_subscription(gw: &TestGateway, at: chrono::DateTime<chrono::Utc>) {
    use passerelle::store::SubscriptionStore;
    let mut s = gw.store.subscription("abo-etabl").await.unwrap().unwrap();
    s.valid_from = at - chrono::Duration::days(1);
    s.valid_until = at + chrono::Duration::days(365);
    gw.store.put_subscription(&s).await.unwrap();
}

/// A gateway serving on a loopback port whose ENT B0 logs in at panva's oidc-provider
/// (registered with `ent_secret`), and a browser without redirects.
pub struct Panva {
    pub base: String,
    pub redirect_uri: String,
    pub op: EntOp,
    pub gw: TestGateway,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub browser: reqwest::Client,
    /// The browser's cookies (the gateway's session among them).
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

pub async fn panva(ent_secret: &str, conform: bool) -> Panva {
    start_panva(ent_secret, conform, false).await
}

/// As [`panva`], with the OP's back-channel logout to the gateway switched on.
pub async fn panva_with_backchannel_logout(ent_secret: &str) -> Panva {
    start_panva(ent_secret, false, true).await
}

async fn start_panva(ent_secret: &str, conform: bool, backchannel: bool) -> Panva {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let redirect_uri = format!("{base}/ent/oidc/callback");
    let logout_uri = format!("{base}/ent/oidc/backchannel-logout");
    let op = EntOp::start(&EntOpOptions {
        redirect_uri: &redirect_uri,
        client_id: CLIENT_ID,
        client_secret: ent_secret,
        id_ent: "B0",
        person: "eleve-0001",
        conform,
        backchannel_logout_uri: backchannel.then_some(logout_uri.as_str()),
    });
    let auth = format!(
        "protocol = \"oidc\"\n[ents.B0.oidc]\nissuer = \"{}\"\nallow_private_network = true\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"ent-client.secret\"\n",
        op.issuer
    );
    let gw = gateway_for(auth, &base).await;
    // The OP signs with its own clock: the gateway's fixed clock is set to it.
    gw.clock.set(op.started_at);
    current_subscription(&gw, op.started_at).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(passerelle::http::serve(listener, gw.state.clone(), async {
        let _ = stopped.await;
    }));
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Panva {
        base,
        redirect_uri,
        op,
        gw,
        stop,
        server,
        browser,
        jar,
    }
}
