//! Listing benchmark: the médiacentre listing (`GET /ressources/{idENT}/{UAI}/{user}`) through
//! the router, in-process, on a directory of 100,000 users in 250 schools and 10,000
//! subscriptions (40 per school, half establishment-wide, half individual and assigned to a
//! class) over a catalogue of 200 resources, with the local Redis as the store (under a prefix
//! of its own, removed afterwards). Prints requests per second and latency percentiles.
//!
//! `cargo bench --bench listing` runs it in full (PASSERELLE_BENCH_SECONDS, default 10;
//! PASSERELLE_BENCH_CONCURRENCY, default 32), with the node's views of the schools and then
//! without them (`cache_schools = 0`); under `cargo test` it runs a small smoke version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The test kit's gateway builder and Redis (testkit/), of which the benchmark uses a part.
use passerelle_testkit::gateway as common;
use passerelle_testkit::test_redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use passerelle::app::AppState;
use passerelle::clock::FixedClock;
use passerelle::domain::{Assignment, AssignmentTarget, Degree, Subscription};
use passerelle::feed::generate::{school_uai, write_export, Shape};
use passerelle::trace::MemorySink;
use tower::ServiceExt;

const RESOURCES: u32 = 200;
const PER_SCHOOL: u32 = 40;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Clone, Copy)]
struct Run {
    seconds: f64,
    concurrency: usize,
    schools: u32,
    pupils: u32,
}

impl Run {
    /// Lists random pupils' resources from `concurrency` tasks for `seconds`: the sorted
    /// latencies, the elapsed time and the number of resources listed.
    async fn measure(&self, router: axum::Router) -> (Vec<Duration>, f64, u64) {
        let Run {
            seconds,
            concurrency,
            schools,
            pupils,
        } = *self;
        let start = Instant::now();
        let listed = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for w in 0..concurrency.max(1) {
            let (router, listed) = (router.clone(), listed.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = w as u64;
                while start.elapsed().as_secs_f64() < seconds {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let s = ((n >> 33) % u64::from(schools)) as u32;
                    let p = (n >> 13) % u64::from(pupils);
                    let uri = format!("/ressources/B0/{}/B0-e-{s}-{p}", school_uai(s));
                    let req = Request::get(uri)
                        .header("authorization", format!("Bearer {ENT_TOKEN}"))
                        .header("accept", "application/json")
                        .body(Body::empty())
                        .unwrap();
                    let t = Instant::now();
                    let resp = router.clone().oneshot(req).await.unwrap();
                    assert_eq!(resp.status(), StatusCode::OK);
                    let body = axum::body::to_bytes(resp.into_body(), 1 << 22)
                        .await
                        .unwrap();
                    lat.push(t.elapsed());
                    listed.fetch_add(
                        body.windows(13).filter(|w| w == b"\"idRessource\"").count() as u64,
                        Ordering::Relaxed,
                    );
                }
                lat
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        lat.sort();
        (
            lat,
            start.elapsed().as_secs_f64(),
            listed.load(Ordering::Relaxed),
        )
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let seconds = if full {
        env("PASSERELLE_BENCH_SECONDS", 10.0)
    } else {
        0.5
    };
    let concurrency = env("PASSERELLE_BENCH_CONCURRENCY", 32.0) as usize;
    let (schools, pupils) = if full { (250, 400) } else { (3, 50) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let gw = TestGateway::new().await;
        let prefix = test_redis::prefix();
        let store = test_redis::store(&prefix).await;

        let t = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let files = write_export(dir.path(), "B0", Shape { schools, pupils_per_school: pupils, degree: Degree::Secondary }).unwrap();
        let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
        let summary = passerelle::feed::import_files(store.as_ref(), &"B0".parse().unwrap(), &paths, &Default::default()).await.unwrap();
        let base = gw.state.config.providers["test-editeur"].resources[0].clone();
        for r in 0..RESOURCES {
            let mut res = base.clone();
            res.id = format!("ark:/99999/bench.{r}").parse().unwrap();
            res.name = format!("Ressource {r}");
            store.put_resource(&res).await.unwrap();
        }
        let mut subscriptions = 0;
        for s in 0..schools {
            let uai = school_uai(s);
            for j in 0..PER_SCHOOL {
                let indiv = j % 2 == 1;
                let id = format!("abo-{s}-{j}");
                let sub: Subscription = serde_json::from_value(serde_json::json!({
                    "id": id, "distributor_id": "123456789_0000000000000000",
                    "resource_id": format!("ark:/99999/bench.{}", (s * 7 + j) % RESOURCES),
                    "valid_from": "2026-08-15T00:00:00Z", "valid_until": "2027-08-15T00:00:00Z",
                    "uais": [uai.as_str()], "assignment_type": if indiv { "INDIV" } else { "ETABL" },
                    "audiences": ["ELEVE", "ENSEIGNANT"]
                }))
                .unwrap();
                store.put_subscription(&sub).await.unwrap();
                if indiv {
                    let class = format!("{}A", ["6", "5", "4", "3"][(j / 2 % 4) as usize]);
                    store
                        .add_assignment(&Assignment { subscription_id: id, uai: uai.clone(), target: AssignmentTarget::Group { code: class } })
                        .await
                        .unwrap();
                }
                subscriptions += 1;
            }
        }
        let setup = t.elapsed().as_secs_f64();

        println!(
            "listing on Redis: {} users in {} schools, {subscriptions} subscriptions, {RESOURCES} resources (set up in {setup:.1} s)",
            summary.persons, summary.schools
        );
        // With this node's views of the schools (the default), then reading everything from
        // Redis on every request (`[listing] cache_schools = 0`), for comparison.
        for cache_schools in [gw.state.config.listing.cache_schools, 0] {
            let mut config = (*gw.state.config).clone();
            config.listing.cache_schools = cache_schools;
            let state = AppState::new(config, store.clone(), Arc::new(FixedClock::new(now())), Arc::new(MemorySink::new()));
            let run = Run { seconds, concurrency, schools, pupils };
            let (lat, elapsed, resources) = run.measure(passerelle::http::app(state)).await;
            println!(
                "  cache_schools = {cache_schools}: {} requests in {elapsed:.1} s = {:.0} req/s, {concurrency} in flight; {:.1} resources per answer",
                lat.len(),
                lat.len() as f64 / elapsed,
                resources as f64 / lat.len().max(1) as f64
            );
            println!("    latency p50 {:?}  p95 {:?}  p99 {:?}  max {:?}", percentile(&lat, 0.5), percentile(&lat, 0.95), percentile(&lat, 0.99), lat[lat.len() - 1]);
        }
        test_redis::cleanup(&prefix).await;
    });
}
