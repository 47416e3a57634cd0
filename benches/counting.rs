//! Counting benchmark, against the local Redis (PASSERELLE_TEST_REDIS_URL, default
//! redis://127.0.0.1:6379), under a key prefix of its own, removed afterwards:
//! 1. the peak: diverse accesses (1,000 schools of 330 people, 200 resources of 20 providers,
//!    30 ENT projects, every profile, both channels, every device class, some double clicks)
//!    in the stream, counted by `audience.counters` tasks as a node runs them (read a batch,
//!    count it partition by partition, acknowledge); events per second, and the CPU of this
//!    process and of Redis per event;
//! 2. the queries: a month of counts for 10,000 schools, then the ministry's month by school,
//!    a provider's month by resource and an ENT project's days by school (median of 5);
//!    PASSERELLE_BENCH_PREFIX keeps that month under a prefix for the next run.
//!
//! `cargo bench --bench counting` runs it in full (PASSERELLE_BENCH_EVENTS, default 500,000;
//! PASSERELLE_BENCH_COUNTERS, default 2; PASSERELLE_BENCH_BATCH, default 2000;
//! PASSERELLE_BENCH_WINDOW, events per counting window, default 50,000;
//! PASSERELLE_BENCH_SCHOOLS for the queries, default 10,000); under `cargo test` it runs a small
//! smoke version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, TimeZone, Utc};
use passerelle::audience::report::{build, Period, ReportRequest};
use passerelle::audience::visitor::visitor_id;
use passerelle::audience::{Audience, AudienceEvent, AudienceSettings, DeviceClass};
use passerelle::domain::counting::part_of;
use passerelle::domain::{Channel, Jurisdiction, Uai};
use passerelle_testkit::bench::{cpu_seconds, print_report_time};
use passerelle_testkit::test_redis;
use rand::{Rng, SeedableRng};

const PROFILES: [&str; 9] = [
    "National_elv",
    "National_ens",
    "National_doc",
    "National_evs",
    "National_eta",
    "National_dir",
    "National_col",
    "National_tut",
    "National_aca",
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `n` accesses of one day, from 8:00 at 25,000 per second: person `p` of school `s` (300
/// pupils, then staff of every profile) opens one of 200 resources; one in 20 is a second
/// click on the person's previous resource a few seconds later.
fn peak(n: u64, schools: u32, day: NaiveDate, seed: u64) -> Vec<AudienceEvent> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let salt = [7u8; 32];
    let start = Utc.from_utc_datetime(&day.and_hms_opt(7, 0, 0).unwrap());
    let mut last: std::collections::HashMap<(u32, u32), u32> = Default::default();
    (0..n)
        .map(|i| {
            let s = rng.gen_range(0..schools);
            let p = rng.gen_range(0..330u32);
            let again = rng.gen_ratio(1, 20);
            let r = match last.get(&(s, p)) {
                Some(r) if again => *r,
                _ => rng.gen_range(0..200u32),
            };
            last.insert((s, p), r);
            let at = start + chrono::Duration::microseconds(i as i64 * 40);
            let subject = format!("person-{s}-{p}");
            let uai = Uai::from_number(s).unwrap().to_string();
            AudienceEvent {
                id: format!("{seed}-{i}"),
                at,
                t: at.timestamp_millis(),
                day,
                resource: format!("ark:/99999/r{r}"),
                provider: format!("editeur-{}", r % 20),
                uai: uai.clone(),
                ent: format!("E{}", s % 30),
                profile: if p < 300 {
                    PROFILES[0]
                } else {
                    PROFILES[(p as usize) % PROFILES.len()]
                }
                .into(),
                channel: if rng.gen_ratio(1, 5) {
                    Channel::App
                } else {
                    Channel::Web
                },
                device: DeviceClass::ALL[rng.gen_range(0..4)],
                service: "MANUEL_NUMERIQUE".into(),
                outil: "Manuel".into(),
                visitor: visitor_id(&salt, &subject),
                visitor_prev: None,
                part: part_of(&uai),
            }
        })
        .collect()
}

/// A command's answer as text (`INFO …`; nothing for another answer).
async fn redis_info(store_url: &str, command: &[&str]) -> String {
    let client = redis::Client::open(store_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(command[0]);
    for a in &command[1..] {
        cmd.arg(*a);
    }
    cmd.query_async::<redis::Value>(&mut conn)
        .await
        .ok()
        .and_then(|v| redis::from_redis_value::<String>(&v).ok())
        .unwrap_or_default()
}

/// Redis's own CPU seconds (user + system), from `INFO cpu`.
async fn redis_cpu(store_url: &str) -> f64 {
    let client = redis::Client::open(store_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == "used_cpu_user" || k == "used_cpu_sys").then(|| v.trim().parse::<f64>().ok())?
        })
        .sum()
}

async fn counting_at_the_peak(n: u64, counters: usize, batch: usize, window: usize) {
    let prefix = test_redis::prefix();
    let store = test_redis::store(&prefix).await;
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let events = peak(n, 1000, day, 1);
    let settings = AudienceSettings {
        batch_size: batch,
        counters,
        window_events: window,
        ..Default::default()
    };
    let audience = Arc::new(Audience::new(settings.clone(), "bench", "https://gw.test"));
    store.create_group("count").await.unwrap();
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    for chunk in lines.chunks(2000) {
        store.append_events(chunk).await.unwrap();
    }
    redis_info(&test_redis::url(), &["CONFIG", "RESETSTAT"]).await;
    let (cpu0, redis0) = (cpu_seconds("self"), redis_cpu(&test_redis::url()).await);
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..counters {
        let (a, s, done) = (audience.clone(), store.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let k = a
                    .count_once(s.as_ref(), &format!("bench-{c}"))
                    .await
                    .unwrap();
                if k == 0 {
                    break;
                }
                done.fetch_add(k as u64, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let (cpu, redis) = (
        cpu_seconds("self") - cpu0,
        redis_cpu(&test_redis::url()).await - redis0,
    );
    assert_eq!(done.load(Ordering::Relaxed), n);
    assert_eq!(audience.metrics.counted.load(Ordering::Relaxed), n);
    // What was counted is what was sent: every access once.
    let req = ReportRequest {
        scope: Jurisdiction::All,
        from: day,
        to: day,
        by: "total".into(),
        period: Period::Day,
        min_visitors: None,
    };
    let report = build(store.as_ref(), &req).await.unwrap();
    assert_eq!(report.rows[0].accesses_raw, n as i64);
    println!(
        "counting at the peak: {n} events (1,000 schools, 200 resources), {counters} counter(s), batches of {batch}, windows of {window}"
    );
    println!("  counted: {:.0} events/s", n as f64 / seconds);
    println!(
        "  CPU per event: this process {:.1} µs, Redis {:.1} µs (together {:.0} events per CPU-second)",
        cpu / n as f64 * 1e6,
        redis / n as f64 * 1e6,
        n as f64 / (cpu + redis)
    );
    println!(
        "  {} accesses after the double-click filter, {} visitors",
        report.rows[0].accesses, report.rows[0].visitors
    );
    // How long Redis runs a counting script without serving anyone else (sessions on a shared
    // Redis wait that long): its latency percentiles (Redis 7's latency tracking).
    let stats = redis_info(&test_redis::url(), &["INFO", "latencystats"]).await;
    if let Some(line) = stats
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_evalsha:"))
    {
        println!("  counting scripts, µs: {}", &line[33..]);
    }
    test_redis::cleanup(&prefix).await;
}

async fn queries_at_national_scale(schools: u32, days: u32) {
    // PASSERELLE_BENCH_PREFIX keeps the month of counts under that prefix for the next run
    // (counted once, queried again), instead of a fresh prefix removed afterwards.
    let kept = std::env::var("PASSERELLE_BENCH_PREFIX").ok();
    let prefix = kept.clone().unwrap_or_else(test_redis::prefix);
    let store = test_redis::store(&prefix).await;
    let settings = AudienceSettings::default();
    let started = Instant::now();
    let mut total = 0u64;
    let seeded_before = kept.is_some() && store.has_counts().await.unwrap();
    for d in (0..days).filter(|_| !seeded_before) {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1 + d).unwrap();
        // Every school at least once a day, then more.
        let mut events = peak(u64::from(schools) * 2, schools, day, u64::from(d) + 10);
        for (s, e) in events.iter_mut().take(schools as usize).enumerate() {
            e.uai = Uai::from_number(s as u32).unwrap().to_string();
            e.part = part_of(&e.uai);
        }
        total += events.len() as u64;
        // Two batches at a time, as two counters would.
        for pair in events.chunks(1000) {
            let runs = pair.chunks(500).map(|c| {
                let s = store.clone();
                let c = c.to_vec();
                let (dedup, retention) = (settings.dedup, settings.retention);
                tokio::spawn(async move { s.count_events(&c, dedup, retention).await.unwrap() })
            });
            for r in runs.collect::<Vec<_>>() {
                r.await.unwrap();
            }
        }
    }
    let seeded = started.elapsed().as_secs_f64();
    println!(
        "a month of counts: {schools} schools × {days} days, {total} events counted in {seeded:.1} s ({:.0} events/s)",
        total as f64 / seeded
    );
    let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let to = if days >= 30 {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    } else {
        NaiveDate::from_ymd_opt(2026, 11, days).unwrap()
    };
    for (label, scope, by, period) in [
        (
            "ministry, by school, the month",
            Jurisdiction::All,
            "uai",
            Period::Month,
        ),
        (
            "provider editeur-1, by resource, the month",
            Jurisdiction::Provider("editeur-1".into()),
            "resource",
            Period::Month,
        ),
        (
            "ENT project E3, by school, per day",
            Jurisdiction::Ent("E3".parse().unwrap()),
            "uai",
            Period::Day,
        ),
    ] {
        let rows = print_report_time(store.as_ref(), label, scope, (from, to), by, period).await;
        if label.starts_with("ministry, by school, the month") {
            assert_eq!(rows, schools as usize);
        }
    }
    if kept.is_none() {
        test_redis::cleanup(&prefix).await;
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        if full {
            let only = std::env::var("PASSERELLE_BENCH_PART").unwrap_or_default();
            if only != "queries" {
                counting_at_the_peak(
                    env_or("PASSERELLE_BENCH_EVENTS", 500_000),
                    env_or("PASSERELLE_BENCH_COUNTERS", 2),
                    env_or("PASSERELLE_BENCH_BATCH", 2000),
                    env_or("PASSERELLE_BENCH_WINDOW", 50_000),
                )
                .await;
            }
            if only != "peak" {
                queries_at_national_scale(env_or("PASSERELLE_BENCH_SCHOOLS", 10_000), 30).await;
            }
        } else {
            counting_at_the_peak(3_000, 2, 500, 1_000).await;
            queries_at_national_scale(20, 3).await;
            println!("counting bench smoke: ok");
        }
    });
}
