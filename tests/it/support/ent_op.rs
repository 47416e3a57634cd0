//! The ENT's OpenID Provider for interop tests: panva's `oidc-provider` (npm), run as a node
//! process on a loopback port by `tests/peers/ent-op/ent-op.mjs`. `scripts/setup.sh` installs
//! its node modules.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use chrono::{DateTime, TimeZone, Utc};

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
