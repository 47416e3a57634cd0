//! The audience pipeline end to end at library level: nothing lost when Redis stops in the
//! middle of a run of accesses and comes back, a crashed consumer's events finished by
//! another node, the local buffer's limit, and the day salts as the events carry them.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use passerelle::audience::pipeline::COUNT_GROUP;
use passerelle::audience::report::{build, Period, ReportRequest};
use passerelle::audience::{
    Access, Audience, AudienceEvent, AudienceSettings, DeviceClass, WhenFull,
};
use passerelle::clock::{Clock, FixedClock};
use passerelle::domain::{Decided, Jurisdiction};
use passerelle::store::{MemoryStore, RedisStore, Store};
use passerelle::trace::Channel;

use crate::support::own_redis::OwnRedis;
use crate::support::test_redis;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
}

fn access(when: DateTime<Utc>, subject: &str) -> Access {
    Access {
        at: when,
        subject: subject.into(),
        resource: "ark:/99999/r1".into(),
        provider: "editeur".into(),
        uai: "0561641E".into(),
        ent: "B0".into(),
        profile: "National_elv".into(),
        channel: Channel::Web,
        device: DeviceClass::Computer,
        service: "MANUEL_NUMERIQUE".into(),
        outil: "Manuel".into(),
    }
}

fn settings() -> AudienceSettings {
    AudienceSettings {
        batch_size: 50,
        claim_idle: Duration::from_millis(200),
        poll_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

/// `n` accesses recorded and shipped by node-a, then read by its consumer (which is then
/// stopped): the events and their stream ids.
async fn taken_by_node_a(store: &dyn Store, n: i64) -> (Vec<AudienceEvent>, Vec<String>) {
    let node_a = Audience::new(settings(), "node-a", "https://gw.test");
    for i in 0..n {
        node_a.record(access(
            at(10, 0, 0) + chrono::Duration::seconds(i * 40),
            &format!("u{i}"),
        ));
    }
    node_a.flush(store, at(10, 0, 0)).await.unwrap();
    let taken = store
        .read_events(COUNT_GROUP, "node-a", 500, Duration::from_millis(200))
        .await
        .unwrap();
    let events = taken
        .iter()
        .map(|d| serde_json::from_str(&d.event).unwrap())
        .collect();
    (events, taken.into_iter().map(|d| d.id).collect())
}

/// Raw accesses on 24 November 2026 for everything.
async fn raw_total(store: &dyn Store) -> i64 {
    let day = "2026-11-24".parse().unwrap();
    let r = build(
        store,
        &ReportRequest {
            scope: Jurisdiction::All,
            from: day,
            to: day,
            by: "total".into(),
            period: Period::Total,
            min_visitors: None,
        },
    )
    .await
    .unwrap();
    r.rows.first().map_or(0, |row| row.accesses_raw)
}

async fn wait_for_total(store: &dyn Store, want: i64, within: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = raw_total(store).await;
        if n >= want || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_in_a_run_of_accesses_loses_and_doubles_nothing() {
    let mut redis = OwnRedis::start();
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&redis.url(), false, "pas")
            .await
            .unwrap(),
    );
    let clock = Arc::new(FixedClock::new(at(8, 0, 0)));
    let audience = Arc::new(Audience::new(settings(), "node-a", "https://gw.test"));
    let tasks = audience
        .spawn(store.clone(), clock.clone() as Arc<dyn Clock>)
        .await;

    for i in 0..100 {
        audience.record(access(
            at(8, 0, 0) + chrono::Duration::seconds(i),
            &format!("user-{i}"),
        ));
    }
    assert_eq!(
        wait_for_total(store.as_ref(), 100, Duration::from_secs(10)).await,
        100
    );

    redis.stop();
    for i in 100..250 {
        audience.record(access(
            at(8, 0, 0) + chrono::Duration::seconds(i),
            &format!("user-{i}"),
        ));
    }
    // Redis is down: the accesses wait in the local buffer (the shipper's attempts fail or
    // wait for the connection manager's reconnection, depending on timing).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(audience.buffered(), 150);
    redis.launch();
    assert_eq!(
        wait_for_total(store.as_ref(), 250, Duration::from_secs(30)).await,
        250
    );
    assert_eq!(audience.buffered(), 0);
    // Settled: nothing more arrives later, nothing counted twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(raw_total(store.as_ref()).await, 250);
    assert_eq!(store.pending_events(COUNT_GROUP).await.unwrap(), 0);
    for t in tasks {
        t.abort();
    }
}

async fn shared_redis() -> Arc<dyn Store> {
    test_redis::store(&test_redis::prefix()).await
}

#[tokio::test]
async fn a_consumer_killed_with_pending_events_leaves_them_to_another_node() {
    let store = shared_redis().await;
    let node_a = Audience::new(settings(), "node-a", "https://gw.test");
    let node_b = Audience::new(settings(), "node-b", "https://gw.test");
    for i in 0..30 {
        node_a.record(access(
            at(9, 0, 0) + chrono::Duration::seconds(i * 40),
            &format!("u{i}"),
        ));
    }
    node_a.flush(store.as_ref(), at(9, 0, 0)).await.unwrap();
    // node-a's consumer reads a batch and dies before counting it.
    let taken = store
        .read_events(COUNT_GROUP, "node-a", 500, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(taken.len(), 30);
    // node-b sees nothing to do until node-a's events have been idle long enough...
    assert_eq!(
        node_b.count_once(store.as_ref(), "node-b").await.unwrap(),
        0
    );
    assert_eq!(raw_total(store.as_ref()).await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...then claims and counts them.
    assert_eq!(
        node_b.count_once(store.as_ref(), "node-b").await.unwrap(),
        30
    );
    assert_eq!(raw_total(store.as_ref()).await, 30);
    assert_eq!(store.pending_events(COUNT_GROUP).await.unwrap(), 0);
}

#[tokio::test]
async fn a_consumer_killed_after_counting_but_before_acknowledging_counts_nothing_twice() {
    let store = shared_redis().await;
    let node_b = Audience::new(settings(), "node-b", "https://gw.test");
    let (events, _) = taken_by_node_a(store.as_ref(), 20).await;
    let s = settings();
    store
        .count_events(&events, s.dedup, s.retention)
        .await
        .unwrap();
    assert_eq!(raw_total(store.as_ref()).await, 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        node_b.count_once(store.as_ref(), "node-b").await.unwrap(),
        20
    );
    assert_eq!(node_b.metrics.duplicates.load(Ordering::Relaxed), 20);
    assert_eq!(node_b.metrics.counted.load(Ordering::Relaxed), 0);
    assert_eq!(raw_total(store.as_ref()).await, 20);
}

#[tokio::test]
async fn a_full_buffer_drops_as_configured_and_says_so_in_the_metrics() {
    for (policy, kept_first) in [(WhenFull::DropNewest, 0), (WhenFull::DropOldest, 3)] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let audience = Audience::new(
            AudienceSettings {
                buffer_capacity: 5,
                when_full: policy,
                ..settings()
            },
            "node-a",
            "https://gw.test",
        );
        for i in 0..8 {
            audience.record(access(
                at(11, 0, 0) + chrono::Duration::minutes(i),
                &format!("u{i}"),
            ));
        }
        assert_eq!(audience.buffered(), 5);
        assert_eq!(audience.metrics.dropped.load(Ordering::Relaxed), 3);
        audience.flush(store.as_ref(), at(11, 0, 0)).await.unwrap();
        let read = store
            .read_events("inspect", "t", 100, Duration::from_secs(60))
            .await
            .unwrap();
        let first: AudienceEvent = serde_json::from_str(&read[0].event).unwrap();
        assert_eq!(
            first.at,
            at(11, 0, 0) + chrono::Duration::minutes(kept_first),
            "{policy:?}"
        );
        assert_eq!(read.len(), 5);
    }
}

#[tokio::test]
async fn visitors_change_with_the_day_and_subjects_never_leave_the_process() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let audience = Audience::new(settings(), "node-a", "https://gw.test");
    let subject = "trace-subject-of-a-pupil";
    // 08:00 and 12:00 on the 24th, then 08:00 on the 25th (Paris).
    audience.record(access(at(8, 0, 0), subject));
    audience.record(access(at(12, 0, 0), subject));
    audience.record(access(at(8, 0, 0) + chrono::Duration::days(1), subject));
    // 23:00:10 UTC on the 24th is 00:00:10 on the 25th in Paris: within the double-click
    // window after midnight, the event also carries the previous day's visitor.
    audience.record(access(
        Utc.with_ymd_and_hms(2026, 11, 24, 23, 0, 10).unwrap(),
        subject,
    ));
    audience.flush(store.as_ref(), at(8, 0, 0)).await.unwrap();
    let read = store
        .read_events("inspect", "t", 100, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(read.iter().all(|d| !d.event.contains(subject)));
    let e: Vec<AudienceEvent> = read
        .iter()
        .map(|d| serde_json::from_str(&d.event).unwrap())
        .collect();
    assert_eq!(e[0].visitor, e[1].visitor, "one visitor within a day");
    assert_ne!(e[0].visitor, e[2].visitor, "another one the next day");
    assert_eq!(e[2].day.to_string(), "2026-11-25");
    assert_eq!(e[3].day.to_string(), "2026-11-25");
    assert_eq!(e[3].visitor, e[2].visitor);
    assert_eq!(e[3].visitor_prev.as_deref(), Some(e[0].visitor.as_str()));
    assert_eq!(e[0].visitor_prev, None);
    // Two days later the first day's salt is destroyed: a late event of that day gets a
    // visitor that matches nothing.
    let later = Audience::new(settings(), "node-b", "https://gw.test");
    later.record(access(at(13, 0, 0), subject));
    later
        .flush(store.as_ref(), at(8, 0, 0) + chrono::Duration::days(3))
        .await
        .unwrap();
    let more = store
        .read_events("inspect", "t", 100, Duration::from_secs(60))
        .await
        .unwrap();
    let late: AudienceEvent = serde_json::from_str(&more[0].event).unwrap();
    assert_ne!(late.visitor, e[0].visitor);
}

#[tokio::test]
async fn the_command_line_prints_a_report_from_the_configured_redis() {
    let url = std::env::var("PASSERELLE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("pas-test-{}", uuid::Uuid::new_v4().simple());
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&url, false, &prefix).await.unwrap());
    let audience = Audience::new(settings(), "node-a", "https://gw.test");
    for i in 0..3 {
        audience.record(access(
            at(9, 0, 0) + chrono::Duration::minutes(i),
            &format!("u{i}"),
        ));
    }
    audience.drain(store.as_ref(), at(9, 0, 0)).await.unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/passerelle.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["audience", "report", "--config", config])
        .args([
            "--from",
            "2026-11-24",
            "--to",
            "2026-11-24",
            "--by",
            "uai",
            "--period",
            "total",
        ])
        .env("PASSERELLE__STORE__REDIS_URL", &url)
        .env("PASSERELLE__STORE__KEY_PREFIX", &prefix)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "period;uai;accesses;accesses_raw;visitors\n2026-11-24/2026-11-24;0561641E;3;3;3\n"
    );
    // A breakdown the scope does not keep is refused with the reason.
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["audience", "report", "--config", config, "--by", "name"])
        .env("PASSERELLE__STORE__REDIS_URL", &url)
        .env("PASSERELLE__STORE__KEY_PREFIX", &prefix)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("by « name »"));
}

#[tokio::test]
async fn a_consumer_that_decided_and_died_is_taken_over_and_its_late_apply_is_refused() {
    let store = shared_redis().await;
    let node_b = Audience::new(settings(), "node-b", "https://gw.test");
    // node-a's consumer reads and decides a batch, then stops before applying it.
    let (events, stream_ids) = taken_by_node_a(store.as_ref(), 20).await;
    let s = settings();
    let mut decided = Decided::default();
    store
        .decide_events(&events, &stream_ids, s.dedup, &mut decided)
        .await
        .unwrap();
    assert_eq!(decided.counted.new, 20);
    assert_eq!(raw_total(store.as_ref()).await, 0, "decided is not counted");
    // The same event appended again by a retrying shipper (another stream id) is a duplicate,
    // not a take-over.
    let mut again = Decided::default();
    store
        .decide_events(&events[..1], &["1-1".to_string()], s.dedup, &mut again)
        .await
        .unwrap();
    assert_eq!((again.counted.new, again.counted.duplicates), (0, 1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // node-b claims node-a's events and counts them with node-a's decisions.
    assert_eq!(
        node_b.count_once(store.as_ref(), "node-b").await.unwrap(),
        20
    );
    assert_eq!(node_b.metrics.counted.load(Ordering::Relaxed), 20);
    assert_eq!(raw_total(store.as_ref()).await, 20);
    assert_eq!(store.pending_events(COUNT_GROUP).await.unwrap(), 0);
    // node-a comes back and applies what it decided: refused, nothing counted twice.
    assert!(!store.apply_counts(&decided, s.retention).await.unwrap());
    assert_eq!(raw_total(store.as_ref()).await, 20);
    // Delivered again later, the events are recognised as counted.
    let mut c = Decided::default();
    store
        .decide_events(&events, &stream_ids, s.dedup, &mut c)
        .await
        .unwrap();
    assert_eq!((c.counted.new, c.counted.duplicates), (0, 20));
}

#[tokio::test]
async fn a_counter_applies_the_batches_waiting_as_one_window() {
    let store = shared_redis().await;
    let node = Audience::new(settings(), "node-a", "https://gw.test");
    for i in 0..130 {
        node.record(access(
            at(9, 0, 0) + chrono::Duration::seconds(i * 40),
            &format!("u{i}"),
        ));
    }
    node.flush(store.as_ref(), at(9, 0, 0)).await.unwrap();
    // Batches of 50: two full ones and the rest, in one window.
    assert_eq!(
        node.count_once(store.as_ref(), "node-a").await.unwrap(),
        130
    );
    assert_eq!(raw_total(store.as_ref()).await, 130);
    assert_eq!(store.pending_events(COUNT_GROUP).await.unwrap(), 0);
    assert_eq!(node.count_once(store.as_ref(), "node-a").await.unwrap(), 0);
}
