//! SSO benchmark over real HTTP: `passerelle serve` runs as a process of its own, and this load
//! generator plays the browser, the provider and, for a full transaction, the ENT's identity
//! provider, over keep-alive connections. Two legs (PASSERELLE_BENCH_LEG):
//!
//! - `provider` (the default): a user with a gateway session that launched the resource; each
//!   transaction is one pre-signed provider AuthnRequest (HTTP-Redirect) in, a signed Response
//!   and Assertion out. The gateway verifies one signature and makes two.
//! - `full`: a new browser each time. The médiacentre link (no session): the gateway answers
//!   with its signed AuthnRequest to the ENT; the generator answers as the ENT with a Response
//!   whose Assertion it signed, posted at the gateway's ACS (session opened, the resource
//!   launched); then the provider's AuthnRequest, answered. The gateway makes three signatures
//!   and verifies two. The latency is the sum of the three requests (not the ENT's signing).
//!
//! On the memory store (PASSERELLE_BENCH_STORE=memory: `passerelle serve` with no Redis) or on
//! the local Redis (`redis`, the default; PASSERELLE_TEST_REDIS_URL). PASSERELLE_BENCH_SESSIONS=N
//! stores N other live sessions first, on Redis only: a memory store lives in the child process
//! and nothing outside it may fill it (a store dump carries no sessions); the in-process bench
//! (`benches/sso.rs`) measures the memory store with a million sessions.
//!
//! It reports transactions per second, latency percentiles, and the gateway process's CPU per
//! transaction (from `/proc/<pid>/stat`) against the CPU of the RSA operations each transaction
//! makes, measured in the same run.
//!
//! PASSERELLE_BENCH_BIN names another build of `passerelle` to run (for a before/after).
//!
//! `cargo bench --bench sso_http` runs it in full (PASSERELLE_BENCH_SECONDS, default 10,
//! PASSERELLE_BENCH_CONCURRENCY, default 8); under `cargo test` it runs a few transactions of
//! each leg as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passerelle::clock::Clock;
use passerelle::saml::keys::SigningKey;
use passerelle_testkit::bench::{
    cpu_seconds, percentile, rsa_signatures_per_cpu_second, rsa_verifications_per_cpu_second,
};
use passerelle_testkit::gateway::*;
use passerelle_testkit::test_redis;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A live session of `person`, opened now, as an ENT login leaves it.
fn session(person: &str) -> passerelle::session::Session {
    passerelle::session::Session::opened(
        passerelle::http::cookies::new_session_id(),
        "B0".parse().unwrap(),
        person.into(),
        passerelle::clock::SystemClock.now(),
        chrono::Duration::hours(6),
    )
}

fn instant(d: chrono::DateTime<chrono::Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The ENT's Response to the gateway's AuthnRequest `request_id`, its Assertion signed with
/// the ENT's key (as `tests/it/support/ent_idp.rs` writes it, signed in-process).
fn ent_response(ent: &SigningKey, request_id: &str, person: &str) -> String {
    let now = passerelle::clock::SystemClock.now();
    let (issued, nb, noa) = (
        instant(now),
        instant(now - chrono::Duration::seconds(30)),
        instant(now + chrono::Duration::minutes(5)),
    );
    let (rid, aid) = (
        format!("_resp-{}", uuid::Uuid::new_v4().simple()),
        format!("_assert-{}", uuid::Uuid::new_v4().simple()),
    );
    let sig = passerelle::saml::signing::signature_template(&aid, ent);
    let assertion = format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{aid}" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{ENT_ENTITY}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_transient-{aid}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{BASE}/saml/acs" InResponseTo="{request_id}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{BASE}/saml/metadata</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="idEnt" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">B0</saml:AttributeValue></saml:Attribute><saml:Attribute Name="GARPersonIdentifiant" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">{person}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#
    );
    let assertion = passerelle::saml::signing::sign(&assertion, ent).unwrap();
    format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{issued}" Destination="{BASE}/saml/acs" InResponseTo="{request_id}"><saml:Issuer>{ENT_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion}</samlp:Response>"#
    )
}

/// What the browser, the ENT and the provider share.
struct Peers {
    http: reqwest::Client,
    base: String,
    ent: SigningKey,
    session_cookie: &'static str,
}

impl Peers {
    /// A new browser's ENT login through the médiacentre link: its session cookie, and the
    /// time the gateway took (the ENT's signing left out).
    async fn login(&self, person: &str) -> (String, Duration) {
        let t = Instant::now();
        let resp = self
            .http
            .get(format!("{}{}", self.base, domaine_gar(RES_ETABL)))
            .send()
            .await
            .unwrap();
        let mut took = t.elapsed();
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(to_ent.starts_with(ENT_SSO) && to_ent.contains("&Signature="));
        let login_cookie = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let relay = url::Url::parse(&to_ent)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "RelayState")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let xml = ent_response(&self.ent, &relay, person);
        let body = format!(
            "SAMLResponse={}&RelayState={}",
            urlencoding::encode(&b64(&xml)),
            urlencoding::encode(&relay)
        );
        let t = Instant::now();
        let resp = self
            .http
            .post(format!("{}/saml/acs", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", login_cookie)
            .body(body)
            .send()
            .await
            .unwrap();
        took += t.elapsed();
        let status = resp.status();
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{}=", self.session_cookie)))
            .map(|c| c.split(';').next().unwrap().to_string());
        let location = resp.headers().get("location").cloned();
        assert_eq!(status, 302, "{}", resp.text().await.unwrap());
        assert_eq!(location.unwrap(), RES_ACCESS);
        (cookie.expect("a session cookie"), took)
    }

    /// The provider's AuthnRequest, answered with a signed Response and Assertion.
    async fn provider(&self, query: &str, cookie: &str) -> Duration {
        let t = Instant::now();
        let resp = self
            .http
            .get(format!(
                "{}/idp/profile/SAML2/Redirect/SSO?{query}",
                self.base
            ))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        let took = t.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(body.windows(12).any(|w| w == b"SAMLResponse"));
        took
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Leg {
    Provider,
    Full,
}

fn main() {
    let full_run = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = env_or("PASSERELLE_BENCH_SECONDS", 10.0);
    let concurrency: usize = env_or("PASSERELLE_BENCH_CONCURRENCY", 8);
    let others: usize = env_or("PASSERELLE_BENCH_SESSIONS", 0);
    let on_redis = std::env::var("PASSERELLE_BENCH_STORE").map_or(true, |s| s != "memory");
    let legs = match std::env::var("PASSERELLE_BENCH_LEG").as_deref() {
        Ok("full") => vec![Leg::Full],
        Ok("provider") => vec![Leg::Provider],
        _ if !full_run => vec![Leg::Provider, Leg::Full],
        _ => vec![Leg::Provider],
    };
    assert!(
        on_redis || others == 0,
        "PASSERELLE_BENCH_SESSIONS needs Redis: nothing outside `passerelle serve` fills its memory store (benches/sso.rs measures it)"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        for leg in legs {
            run(leg, full_run, seconds, concurrency, others, on_redis).await;
        }
    });
}

async fn run(
    leg: Leg,
    full_run: bool,
    seconds: f64,
    concurrency: usize,
    others: usize,
    on_redis: bool,
) {
    // The test kit writes a configuration (keys, ENT, providers, seed) into a directory;
    // `passerelle serve` reads it from there, on Redis under a prefix of its own or on its
    // own memory store.
    let gw = TestGateway::new().await;
    let prefix = test_redis::prefix();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // PASSERELLE_BENCH_BIN: another build of the gateway (a copy kept for a before/after).
    let bin = std::env::var("PASSERELLE_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_passerelle").to_string());
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["serve", "--config"])
        .arg(gw.dir.path().join("passerelle.toml"))
        .env("PASSERELLE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("PASSERELLE__TRACE__PATH", gw.dir.path().join("trace.jsonl"))
        .env("PASSERELLE__LIMITS__LOGIN_RATE_PER_MINUTE", "100000000")
        .env("PASSERELLE__LIMITS__LOGIN_BURST", "100000000")
        .env(
            "PASSERELLE__LIMITS__MAX_PENDING_LOGINS_PER_CLIENT",
            "100000",
        )
        // The ENT vouched for the user at login; the provider leg measures the provider's
        // transactions, not the ENT's passive confirmations (their cost is the full leg's).
        .env("PASSERELLE__ENTS__B0__CONFIRM_PERSON_AFTER_SECONDS", "3600")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if on_redis {
        cmd.env("PASSERELLE__STORE__REDIS_URL", test_redis::url())
            .env("PASSERELLE__STORE__KEY_PREFIX", &prefix);
    }
    let mut child = cmd.spawn().expect("passerelle serve starts");
    let pid = child.id().unwrap().to_string();
    let peers = Arc::new(Peers {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(concurrency)
            .no_proxy()
            .build()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        ent: SigningKey::from_pem(
            &std::fs::read(&gw.ent.key).unwrap(),
            &std::fs::read(&gw.ent.cert).unwrap(),
        )
        .unwrap(),
        session_cookie: gw.session_cookie(),
    });
    let mut up = false;
    for _ in 0..400 {
        if peers
            .http
            .get(format!("{}/health/ready", peers.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "passerelle serve answers /health/ready");

    if full_run && others > 0 {
        let store = test_redis::store(&prefix).await;
        let filled = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in (w..others).step_by(64) {
                    let s = session(&format!("other-{i}"));
                    // A shared Redis may stall past the store's deadline now and then (another
                    // user's `KEYS`): tried again rather than leaving half a million behind.
                    for attempt in 1.. {
                        match store.put_session(&s, Duration::from_secs(6 * 3600)).await {
                            Ok(()) => break,
                            Err(e) if attempt >= 10 => panic!("filling the store: {e}"),
                            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        eprintln!(
            "stored {others} other live sessions in {:.1} s",
            filled.elapsed().as_secs_f64()
        );
    }
    // The provider leg's user logs in once, through the ENT, as any user does.
    let cookie = Arc::new(if leg == Leg::Provider {
        peers.login("ens-0001").await.0
    } else {
        String::new()
    });

    // Pre-signed AuthnRequests, issued now: the provider's cost is not the gateway's.
    let sp_key = private_key(&gw.sp);
    let at = instant(passerelle::clock::SystemClock.now());
    // Enough for the run at the rates seen on the project's machine; a run that uses them
    // all ends early (its rate is still right).
    let batch = match (full_run, leg) {
        (false, _) => 6,
        (true, Leg::Provider) => (seconds * 1_600.0) as usize,
        (true, Leg::Full) => (seconds * 500.0) as usize,
    };
    let queries: Arc<Vec<String>> = Arc::new(
        (0..batch)
            .map(|i| authn_request_query(&sp_key, &format!("_http{i}"), Some(SP_ACS), None, &at))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    if full_run {
        eprintln!("measuring: gateway pid {pid}");
    }
    let (start, cpu_start) = (Instant::now(), cpu_seconds(&pid));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (peers, queries, next, cookie) =
            (peers.clone(), queries.clone(), next.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= queries.len() || (full_run && start.elapsed().as_secs_f64() >= seconds) {
                    break;
                }
                let took = match leg {
                    Leg::Provider => peers.provider(&queries[i], &cookie).await,
                    Leg::Full => {
                        let (cookie, login) = peers.login("eleve-0001").await;
                        login + peers.provider(&queries[i], &cookie).await
                    }
                };
                lat.push(took);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(&pid) - cpu_start;
    child.kill().await.unwrap();
    if on_redis {
        test_redis::cleanup(&prefix).await;
    }
    lat.sort();
    let (name, signs, verifies) = match leg {
        Leg::Provider => ("provider leg", 2.0, 1.0),
        Leg::Full => ("full transaction (ENT login, then the provider)", 3.0, 2.0),
    };
    if !full_run {
        println!(
            "sso_http bench smoke, {name}: {} transactions ok",
            lat.len()
        );
        return;
    }
    let per_tx_ms = cpu * 1000.0 / lat.len() as f64;
    let (rsa_sign, rsa_verify) = (
        rsa_signatures_per_cpu_second(3.0),
        rsa_verifications_per_cpu_second(2.0),
    );
    let bound_ms = 1000.0 * (signs / rsa_sign + verifies / rsa_verify);
    let store = if on_redis { "Redis" } else { "memory" };
    println!("SSO over HTTP to `passerelle serve`, {name}, {store} store, {concurrency} in flight, {others} other live sessions:");
    println!(
        "  transactions: {} in {elapsed:.1} s = {:.0} tx/s",
        lat.len(),
        lat.len() as f64 / elapsed
    );
    println!(
        "  latency p50 {:?}  p95 {:?}  p99 {:?}  max {:?}",
        percentile(&lat, 0.50),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    println!("  gateway CPU: {per_tx_ms:.2} ms per transaction; RSA-2048 per CPU-second: {rsa_sign:.0} signatures, {rsa_verify:.0} verifications, so the transaction's {signs} signatures and {verifies} verifications take {bound_ms:.2} ms: {:.0} % of the gateway's CPU per transaction", 100.0 * bound_ms / per_tx_ms);
}
