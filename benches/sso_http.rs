//! SSO benchmark over real HTTP: `passerelle serve` runs as a process of its own on the local
//! Redis, and this load generator plays the provider: pre-signed AuthnRequests (HTTP-Redirect)
//! over keep-alive connections, for a user whose session (written to the shared store, as an
//! ENT login would leave it) launched the resource. It reports transactions per second,
//! latency percentiles, and the gateway process's CPU per transaction (from
//! `/proc/<pid>/stat`) against the CPU of the two RSA signatures each transaction makes,
//! measured in the same run. PASSERELLE_BENCH_SESSIONS=N stores N other live sessions first.
//!
//! `cargo bench --bench sso_http` runs it in full (PASSERELLE_BENCH_SECONDS, default 10,
//! PASSERELLE_BENCH_CONCURRENCY, default 8); under `cargo test` it runs a few transactions as
//! a smoke test. Needs Redis (PASSERELLE_TEST_REDIS_URL, default redis://127.0.0.1:6379).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use passerelle::clock::Clock;
use passerelle_testkit::bench::{cpu_seconds, percentile, rsa_signatures_per_cpu_second};
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

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = env_or("PASSERELLE_BENCH_SECONDS", 10.0);
    let concurrency: usize = env_or("PASSERELLE_BENCH_CONCURRENCY", 8);
    let others: usize = env_or("PASSERELLE_BENCH_SESSIONS", 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // The test kit writes a configuration (keys, ENT, providers, seed) into a directory;
        // `passerelle serve` reads it from there, on Redis under a prefix of its own.
        let gw = TestGateway::new().await;
        let prefix = test_redis::prefix();
        let store = test_redis::store(&prefix).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["serve", "--config"])
            .arg(gw.dir.path().join("passerelle.toml"))
            .env("PASSERELLE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("PASSERELLE__STORE__REDIS_URL", test_redis::url())
            .env("PASSERELLE__STORE__KEY_PREFIX", &prefix)
            .env("PASSERELLE__TRACE__PATH", gw.dir.path().join("trace.jsonl"))
            .env("PASSERELLE__LIMITS__LOGIN_RATE_PER_MINUTE", "100000000")
            .env("PASSERELLE__LIMITS__LOGIN_BURST", "100000000")
            // The ENT vouched for the user at login; the transactions measured are the
            // provider's, not the ENT's passive confirmations (their cost is the ENT leg).
            .env("PASSERELLE__ENTS__B0__CONFIRM_PERSON_AFTER_SECONDS", "3600")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("passerelle serve starts");
        let pid = child.id().unwrap().to_string();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(concurrency)
            .build()
            .unwrap();
        let mut up = false;
        for _ in 0..400 {
            if http.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status() == 200) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "passerelle serve answers /health/ready");

        if full && others > 0 {
            let filled = Instant::now();
            let mut tasks = Vec::new();
            for w in 0..64 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for i in (w..others).step_by(64) {
                        let s = session(&format!("other-{i}"));
                        store.put_session(&s, Duration::from_secs(6 * 3600)).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            eprintln!("stored {others} other live sessions in {:.1} s", filled.elapsed().as_secs_f64());
        }
        // The user's session, and the médiacentre click that launches the resource.
        let me = session("ens-0001");
        store.put_session(&me, Duration::from_secs(6 * 3600)).await.unwrap();
        let cookie = format!("{}={}", gw.session_cookie(), me.id);
        let launch = http
            .get(format!("{base}{}", domaine_gar(RES_ETABL)))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(launch.status(), 302, "the launch: {}", launch.text().await.unwrap());

        // Pre-signed AuthnRequests, issued now: the provider's cost is not the gateway's.
        let sp_key = private_key(&gw.sp);
        let at = passerelle::clock::SystemClock
            .now()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let batch = if full { 60_000 } else { 8 };
        let queries: Vec<String> = (0..batch)
            .map(|i| authn_request_query(&sp_key, &format!("_http{i}"), Some(SP_ACS), None, &at))
            .collect();
        let queries = std::sync::Arc::new(queries);
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (start, cpu_start) = (Instant::now(), cpu_seconds(&pid));
        let mut tasks = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (http, queries, next, cookie, base) =
                (http.clone(), queries.clone(), next.clone(), cookie.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= queries.len() || (full && start.elapsed().as_secs_f64() >= seconds) {
                        break;
                    }
                    let t = Instant::now();
                    let resp = http
                        .get(format!("{base}/idp/profile/SAML2/Redirect/SSO?{}", queries[i]))
                        .header("cookie", &cookie)
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status();
                    let body = resp.bytes().await.unwrap();
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                    assert!(body.windows(12).any(|w| w == b"SAMLResponse"));
                    lat.push(t.elapsed());
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
        test_redis::cleanup(&prefix).await;
        lat.sort();
        if !full {
            println!("sso_http bench smoke: {} transactions ok", lat.len());
            return;
        }
        let per_tx_ms = cpu * 1000.0 / lat.len() as f64;
        let rsa = rsa_signatures_per_cpu_second(3.0);
        let floor_ms = 2.0 * 1000.0 / rsa;
        println!("SSO transactions over HTTP to `passerelle serve` on Redis, {concurrency} in flight, {others} other live sessions:");
        println!("  transactions: {} in {elapsed:.1} s = {:.0} tx/s", lat.len(), lat.len() as f64 / elapsed);
        println!("  latency p50 {:?}  p95 {:?}  p99 {:?}  max {:?}", percentile(&lat, 0.50), percentile(&lat, 0.95), percentile(&lat, 0.99), lat[lat.len() - 1]);
        println!("  gateway CPU: {per_tx_ms:.2} ms per transaction; RSA-2048 signing {rsa:.0} per CPU-second, so two signatures take {floor_ms:.2} ms: {:.0} % of the gateway's CPU per transaction is its signatures", 100.0 * floor_ms / per_tx_ms);
    });
}
