//! SSO benchmark: full provider transactions through the gateway, for a user who already has a
//! gateway session and launched the resource: a signed AuthnRequest (HTTP-Redirect) in, a signed
//! Response and Assertion out. Prints transactions per second, latency percentiles, and the
//! machine's RSA-2048 signing rate for scale (two signatures per transaction: Response and
//! Assertion; one is the floor).
//!
//! `cargo bench --bench sso` runs it in full (PASSERELLE_BENCH_SECONDS, default 10, and
//! PASSERELLE_BENCH_CONCURRENCY, default 2 per core); under `cargo test` it runs a few
//! transactions as a smoke test. PASSERELLE_BENCH_STORE=redis runs it on the local Redis
//! (PASSERELLE_TEST_REDIS_URL) instead of the memory store, and PASSERELLE_BENCH_SESSIONS=N
//! fills the store with N other live sessions first, so that the cost per transaction can be
//! compared between an empty store and a full one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The test kit's gateway builder (testkit/), of which the benchmark uses a part.
use passerelle_testkit::bench::{cpu_seconds, percentile, rsa_signatures_per_cpu_second};
use passerelle_testkit::gateway as common;

use std::time::{Duration, Instant};

use passerelle::clock::Clock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use tower::ServiceExt;

/// Stores `n` live sessions of other people, as after their ENT logins (64 writers at once).
async fn fill(gw: &TestGateway, n: usize) {
    let writers = 64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, now) = (gw.state.store.clone(), gw.clock.now());
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(writers) {
                let s = passerelle::session::Session::opened(
                    passerelle::http::cookies::new_session_id(),
                    "B0".parse().unwrap(),
                    format!("other-{i}"),
                    now,
                    chrono::Duration::hours(6),
                );
                store
                    .put_session(&s, Duration::from_secs(6 * 3600))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = std::env::var("PASSERELLE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let concurrency: usize = std::env::var("PASSERELLE_BENCH_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cores * 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let on_redis = std::env::var("PASSERELLE_BENCH_STORE").is_ok_and(|s| s == "redis");
        let prefix = passerelle_testkit::test_redis::prefix();
        let shared = if on_redis {
            Some(passerelle_testkit::test_redis::store(&prefix).await)
        } else {
            None
        };
        // One client (the bench) makes every request: its rate is not what is measured.
        let gw = TestGateway::with(Options {
            vars: vec![
                ("PASSERELLE__LIMITS__LOGIN_RATE_PER_MINUTE".into(), "100000000".into()),
                ("PASSERELLE__LIMITS__LOGIN_BURST".into(), "100000000".into()),
            ],
            shared_store: shared,
            ..Options::default()
        })
        .await;
        let others: usize = std::env::var("PASSERELLE_BENCH_SESSIONS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if full && others > 0 {
            let filled = Instant::now();
            fill(&gw, others).await;
            eprintln!("stored {others} other live sessions in {:.1} s", filled.elapsed().as_secs_f64());
        }
        // A session that launched the resource, as after the médiacentre click.
        let cookie = gw.session("ens-0001").await;
        let resp = gw.get(&domaine_gar(RES_ETABL), Some(&cookie)).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        let sp_key = private_key(&gw.sp);

        let mut queries = Vec::new();
        let prep = Instant::now();
        // Pre-sign the requests: the provider's cost is not the gateway's.
        let batch = if full { 20_000 } else { 8 };
        for i in 0..batch {
            queries.push(authn_request_query(&sp_key, &format!("_bench{i}"), Some(SP_ACS), Some("https://resource.example.test/page"), "2026-11-24T08:00:00Z"));
        }
        if full {
            eprintln!("prepared {} signed AuthnRequests in {:.1} s", queries.len(), prep.elapsed().as_secs_f64());
        }
        let queries = std::sync::Arc::new(queries);
        let router = gw.router();
        let (start, cpu_start) = (Instant::now(), cpu_seconds("self"));
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (router, queries, next, cookie) = (router.clone(), queries.clone(), next.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= queries.len() || (full && start.elapsed().as_secs_f64() >= seconds) {
                        break;
                    }
                    let req = Request::get(format!("/idp/profile/SAML2/Redirect/SSO?{}", queries[i])).header("cookie", &cookie).body(Body::empty()).unwrap();
                    let t = Instant::now();
                    let resp = router.clone().oneshot(req).await.unwrap();
                    let status = resp.status();
                    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
                    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
                    lat.push(t.elapsed());
                    assert!(body.windows(12).any(|w| w == b"SAMLResponse"));
                }
                lat
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds("self") - cpu_start;
        lat.sort();
        let tps = lat.len() as f64 / elapsed;
        if !full {
            println!("sso bench smoke: {} transactions ok", lat.len());
            return;
        }
        let rsa = rsa_signatures_per_cpu_second(3.0);
        let store = if on_redis { "Redis" } else { "memory" };
        println!("SSO transactions (provider AuthnRequest in, signed Response+Assertion out), in-process, {concurrency} concurrent, {cores} cores, {store} store, {others} other live sessions:");
        println!("  transactions: {} in {elapsed:.1} s = {tps:.0} tx/s", lat.len());
        println!("  latency p50 {:?}  p95 {:?}  p99 {:?}  max {:?}", percentile(&lat, 0.50), percentile(&lat, 0.95), percentile(&lat, 0.99), lat[lat.len() - 1]);
        println!("  RSA-2048 SHA-256 signatures per CPU-second: {rsa:.0}; two per transaction → floor {:.0} tx/s per core", rsa / 2.0);
        println!("  ratio: {:.2} of the signing floor ({:.0} tx/s on {cores} cores)", tps / (rsa / 2.0 * cores as f64), rsa / 2.0 * cores as f64);
        // CPU time, which a shared machine's other load does not change: the process's CPU per
        // transaction (the bench's own requests included) against the CPU of its two signatures.
        let per_tx_ms = cpu * 1000.0 / lat.len() as f64;
        let floor_ms = 2.0 * 1000.0 / rsa;
        println!("  CPU: {per_tx_ms:.2} ms per transaction; RSA-2048 signing {rsa:.0} per CPU-second, so two signatures take {floor_ms:.2} ms: {:.0} % of the transaction's CPU is its signatures", 100.0 * floor_ms / per_tx_ms);
        if on_redis {
            passerelle_testkit::test_redis::cleanup(&prefix).await;
        }
    });
}
