//! Audience benchmark, against the local Redis (PASSERELLE_TEST_REDIS_URL, default
//! redis://127.0.0.1:6379), under a key prefix of its own, removed afterwards:
//! 1. ingestion: accesses recorded as fast as one task can, shipped into the Redis stream;
//!    then counted by the Lua script; events per second for each;
//! 2. the SSO path: the cost of recording one access, against the time of one SSO
//!    transaction; and SSO transactions per second alone and while 20,000 accesses per second
//!    flow through the audience pipeline into Redis on the same two cores;
//! 3. reports: a month of counts for 1,000 schools, queried at the ministry, an ENT project
//!    and a provider level (median of 5).
//!
//! `cargo bench --bench audience` runs it in full (PASSERELLE_BENCH_SECONDS, default 8, for each
//! SSO run; PASSERELLE_BENCH_PART=ingestion|sso|month for one part); under `cargo test` it runs
//! a small smoke version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The test kit's gateway builder and Redis (testkit/), of which the benchmark uses a part.
use passerelle_testkit::gateway as common;
use passerelle_testkit::test_redis;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use common::*;
use passerelle::audience::report::Period;
use passerelle::audience::{Access, Audience, AudienceEvent, AudienceSettings, DeviceClass};
use passerelle::clock::{Clock, FixedClock};
use passerelle::domain::{Jurisdiction, Uai};
use passerelle::store::{RedisStore, Store};
use passerelle::trace::Channel;
use passerelle_testkit::bench::print_report_time;
use tower::ServiceExt;

fn redis_url() -> String {
    test_redis::url()
}

fn access(i: u64) -> Access {
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
        + chrono::Duration::milliseconds(i as i64);
    Access {
        at,
        subject: format!("subject-{}", i % 50_000),
        resource: format!("ark:/99999/r{}", i % 20),
        provider: format!("editeur-{}", i % 4),
        uai: Uai::from_number(u32::try_from(i % 1000).unwrap())
            .unwrap()
            .to_string(),
        ent: format!("E{}", i % 10),
        profile: if i % 7 == 0 {
            "National_ens"
        } else {
            "National_elv"
        }
        .into(),
        channel: if i % 9 == 0 {
            Channel::App
        } else {
            Channel::Web
        },
        device: [
            DeviceClass::Computer,
            DeviceClass::Tablet,
            DeviceClass::Smartphone,
        ][(i % 3) as usize],
        service: "MANUEL_NUMERIQUE".into(),
        outil: "Manuel".into(),
    }
}

async fn cleanup(prefix: &str) {
    test_redis::cleanup(prefix).await;
}

async fn ingestion(n: u64) {
    let prefix = format!("pas-bench-{}", uuid::Uuid::new_v4().simple());
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&redis_url(), false, &prefix)
            .await
            .unwrap(),
    );
    let settings = AudienceSettings {
        buffer_capacity: n as usize + 1,
        ..Default::default()
    };
    let audience = Arc::new(Audience::new(settings, "bench", "https://gw.test"));
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    let start = Instant::now();
    let shipper = {
        let (a, s) = (audience.clone(), store.clone());
        tokio::spawn(async move {
            let mut shipped = 0;
            while shipped < n as usize {
                let k = a.ship_once(s.as_ref(), now).await.unwrap();
                if k == 0 {
                    tokio::task::yield_now().await;
                }
                shipped += k;
            }
        })
    };
    let rec = Instant::now();
    for i in 0..n {
        audience.record(access(i));
        if i % 10_000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let record_ns = rec.elapsed().as_nanos() as f64 / n as f64;
    shipper.await.unwrap();
    let ship = start.elapsed().as_secs_f64();
    let start = Instant::now();
    while audience.count_once(store.as_ref(), "bench").await.unwrap() > 0 {}
    let count = start.elapsed().as_secs_f64();
    let counted = audience.metrics.counted.load(Ordering::Relaxed);
    assert_eq!(counted, n);
    println!("ingestion into Redis ({n} accesses, batches of 500):");
    println!("  record (the SSO path's cost): {record_ns:.0} ns per access");
    println!("  shipped into the stream: {:.0} events/s", n as f64 / ship);
    println!(
        "  counted (one Lua script per partition, 25 cells, visitor-days): {:.0} events/s",
        n as f64 / count
    );
    cleanup(&prefix).await;
}

async fn sso_rate(
    gw: &TestGateway,
    queries: &[String],
    from: usize,
    seconds: f64,
    concurrency: usize,
) -> (usize, f64) {
    let cookie = gw.session("ens-0001").await;
    assert_eq!(
        gw.get(&domaine_gar(RES_ETABL), Some(&cookie))
            .await
            .status(),
        StatusCode::FOUND
    );
    let queries = Arc::new(queries.to_vec());
    let router = gw.router();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(from));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (router, queries, next, cookie) = (
            router.clone(),
            queries.clone(),
            next.clone(),
            cookie.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= queries.len() || start.elapsed().as_secs_f64() >= seconds {
                    return done;
                }
                let req = Request::get(format!("/idp/profile/SAML2/Redirect/SSO?{}", queries[i]))
                    .header("cookie", &cookie)
                    .body(Body::empty())
                    .unwrap();
                let resp = router.clone().oneshot(req).await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                let _ = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .unwrap();
                done += 1;
            }
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    (
        next.load(Ordering::Relaxed).min(queries.len()),
        done as f64 / start.elapsed().as_secs_f64(),
    )
}

async fn sso_under_load(seconds: f64, rate: u64, full: bool) {
    // One client (the bench) makes every request: its rate is not what is measured.
    let gw = TestGateway::with(Options {
        vars: vec![
            (
                "PASSERELLE__LIMITS__LOGIN_RATE_PER_MINUTE".into(),
                "100000000".into(),
            ),
            ("PASSERELLE__LIMITS__LOGIN_BURST".into(), "100000000".into()),
        ],
        ..Options::default()
    })
    .await;
    let sp_key = private_key(&gw.sp);
    let n = if full { 16_000 } else { 8 };
    let queries: Vec<String> = (0..n)
        .map(|i| {
            authn_request_query(
                &sp_key,
                &format!("_b{i}"),
                Some(SP_ACS),
                None,
                "2026-11-24T08:00:00Z",
            )
        })
        .collect();
    let concurrency = 4;
    let (used, alone) = sso_rate(&gw, &queries, 0, seconds, concurrency).await;

    // The background load: `rate` accesses per second through a Redis-backed pipeline, first
    // only shipped into the stream (the counting on another node), then shipped and counted
    // on these same two cores (Redis's Lua counting competes with the SSO for CPU).
    let mut from = used;
    let mut lines = Vec::new();
    for counting in [false, true] {
        let prefix = format!("pas-bench-{}", uuid::Uuid::new_v4().simple());
        let store: Arc<dyn Store> = Arc::new(
            RedisStore::connect(&redis_url(), false, &prefix)
                .await
                .unwrap(),
        );
        let audience = Arc::new(Audience::new(
            AudienceSettings {
                poll_interval: Duration::from_millis(5),
                ..Default::default()
            },
            "bench",
            "https://gw.test",
        ));
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now()));
        let pipeline = if counting {
            audience.spawn(store.clone(), clock).await
        } else {
            let (a, s) = (audience.clone(), store.clone());
            vec![tokio::spawn(async move {
                loop {
                    if a.ship_once(s.as_ref(), clock.now()).await.unwrap_or(0) == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })]
        };
        let producer = {
            let a = audience.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                let per_tick = rate / 100;
                let mut i = 0;
                loop {
                    tick.tick().await;
                    for _ in 0..per_tick {
                        a.record(access(i));
                        i += 1;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let shipped_before = audience.metrics.shipped.load(Ordering::Relaxed);
        let counted_before = audience.metrics.counted.load(Ordering::Relaxed);
        let t = Instant::now();
        let (next, loaded) = sso_rate(&gw, &queries, from, seconds, concurrency).await;
        from = next;
        let secs = t.elapsed().as_secs_f64();
        let shipped =
            (audience.metrics.shipped.load(Ordering::Relaxed) - shipped_before) as f64 / secs;
        let counted =
            (audience.metrics.counted.load(Ordering::Relaxed) - counted_before) as f64 / secs;
        producer.abort();
        for p in pipeline {
            p.abort();
        }
        lines.push(format!(
            "  {}: {loaded:.0} tx/s ({:+.1} %); shipped {shipped:.0} events/s, counted {counted:.0} events/s, buffer at the end {}",
            if counting { "with shipping and counting on these cores" } else { "with shipping only (counting elsewhere)" },
            (loaded / alone - 1.0) * 100.0,
            audience.buffered()
        ));
        cleanup(&prefix).await;
    }
    println!("SSO path with {rate} accesses/s flowing into Redis ({concurrency} transactions in flight, {seconds:.0} s each run):");
    println!("  SSO alone: {alone:.0} tx/s");
    for l in lines {
        println!("{l}");
    }
}

async fn month_of_counts(schools: u32, days: u32, per_school_day: u32) {
    let prefix = format!("pas-bench-{}", uuid::Uuid::new_v4().simple());
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&redis_url(), false, &prefix)
            .await
            .unwrap(),
    );
    let settings = AudienceSettings::default();
    let start = Instant::now();
    let mut batch = Vec::with_capacity(500);
    let mut total = 0u64;
    for d in 0..days {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1 + d).unwrap();
        for s in 0..schools {
            for k in 0..per_school_day {
                let at = day.and_hms_opt(8 + (k % 10), k % 60, 0).unwrap().and_utc();
                batch.push(AudienceEvent {
                    id: format!("{d}-{s}-{k}"),
                    at,
                    t: at.timestamp_millis(),
                    day,
                    resource: format!("ark:/99999/r{}", (s + k) % 20),
                    provider: format!("editeur-{}", (s + k) % 4),
                    uai: Uai::from_number(s).unwrap().to_string(),
                    ent: format!("E{}", s % 10),
                    profile: if k % 5 == 0 {
                        "National_ens"
                    } else {
                        "National_elv"
                    }
                    .into(),
                    channel: if k % 4 == 0 {
                        Channel::App
                    } else {
                        Channel::Web
                    },
                    device: [
                        DeviceClass::Computer,
                        DeviceClass::Tablet,
                        DeviceClass::Smartphone,
                    ][(k % 3) as usize],
                    service: "MANUEL_NUMERIQUE".into(),
                    outil: "Manuel".into(),
                    visitor: format!("v{s}-{}", k % 7),
                    visitor_prev: None,
                    part: ((s * 7 + k % 7) % 8) as u8,
                });
                total += 1;
                if batch.len() == 500 {
                    store
                        .count_events(&batch, settings.dedup, settings.retention)
                        .await
                        .unwrap();
                    batch.clear();
                }
            }
        }
    }
    store
        .count_events(&batch, settings.dedup, settings.retention)
        .await
        .unwrap();
    let seeded = start.elapsed().as_secs_f64();
    println!("a month of counts: {schools} schools × {days} days × {per_school_day} accesses = {total} events counted in {seeded:.1} s ({:.0} events/s)", total as f64 / seeded);
    let from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(2026, 11, days).unwrap();
    for (label, scope, by, period) in [
        (
            "ministry, by school, per month",
            Jurisdiction::All,
            "uai",
            Period::Month,
        ),
        (
            "ministry, by school, per day",
            Jurisdiction::All,
            "uai",
            Period::Day,
        ),
        (
            "ENT project E3, by school, per day",
            Jurisdiction::Ent("E3".parse().unwrap()),
            "uai",
            Period::Day,
        ),
        (
            "provider editeur-1, by resource, per month",
            Jurisdiction::Provider("editeur-1".into()),
            "resource",
            Period::Month,
        ),
        (
            "school, by resource, per day",
            Jurisdiction::School(Uai::from_number(42).unwrap()),
            "resource",
            Period::Day,
        ),
    ] {
        print_report_time(store.as_ref(), label, scope, (from, to), by, period).await;
    }
    cleanup(&prefix).await;
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = std::env::var("PASSERELLE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let part = std::env::var("PASSERELLE_BENCH_PART").unwrap_or_default();
        if full && !part.is_empty() {
            match part.as_str() {
                "ingestion" => ingestion(300_000).await,
                "sso" => sso_under_load(seconds, 20_000, true).await,
                _ => month_of_counts(1000, 30, 10).await,
            }
        } else if full {
            let events = std::env::var("PASSERELLE_BENCH_EVENTS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(300_000);
            ingestion(events).await;
            if std::env::var("PASSERELLE_BENCH_ONLY_INGESTION").is_ok() {
                return;
            }
            sso_under_load(seconds, 20_000, true).await;
            month_of_counts(1000, 30, 10).await;
        } else {
            ingestion(2_000).await;
            sso_under_load(0.2, 1_000, false).await;
            month_of_counts(3, 2, 5).await;
            println!("audience bench smoke: ok");
        }
    });
}
