//! Backups of the store (issue 19): an export imported into an empty store gives the same
//! directories, school bindings, catalogue, subscriptions and assignments, from the memory
//! store to itself and to Redis, and through `passerelle store export` / `import`; a store
//! that is not empty is refused. The audience counts move too, between the memory store, a
//! Redis and a Redis Cluster, with the same report figures and the same ids already counted;
//! never the day salts (a restored store draws its own).

use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration as Days, Utc};
use passerelle::clock::{Clock, SystemClock};
use passerelle::domain::{Assignment, AssignmentTarget, IdEnt, Jurisdiction, Uai};
use passerelle::store::backup::{self, Dump, ImportError};
use passerelle::store::{
    AudienceStore, DirectoryStore, MemoryStore, RedisStore, Store, SubscriptionStore,
};

use crate::support::audience_contract::{cell, d, t, Ev, DAY, DEDUP, R1, R2, RETENTION, U1, U2};
use crate::support::gateway::*;
use crate::support::redis_cluster::RedisCluster;
use crate::support::test_redis;

fn now() -> DateTime<Utc> {
    SystemClock.now()
}

fn pupil() -> AssignmentTarget {
    AssignmentTarget::Person {
        ent: "B0".parse().unwrap(),
        id: "eleve-0002".into(),
    }
}

fn distributors(gw: &TestGateway) -> Vec<String> {
    gw.state
        .config
        .providers
        .values()
        .flat_map(|p| p.commercial_distributors.iter().cloned())
        .collect()
}

/// The test gateway's seeded store, with a school an operator moved to another ENT, a deleted
/// subscription and one more assignment.
async fn source() -> (TestGateway, Dump) {
    let gw = TestGateway::new().await;
    let store = gw.store.as_ref();
    let moved: Uai = "0561234M".parse().unwrap();
    let b1: IdEnt = "B1".parse().unwrap();
    store.bind_school(&moved, &b1).await.unwrap();
    let mut gone = store.subscription("abo-etabl").await.unwrap().unwrap();
    gone.id = "abo-supprime".into();
    gone.deleted = true;
    store.put_subscription(&gone).await.unwrap();
    store
        .add_assignment(&Assignment {
            subscription_id: "abo-indiv".into(),
            uai: UAI.parse().unwrap(),
            target: pupil(),
        })
        .await
        .unwrap();
    let dump = backup::export(store, &distributors(&gw), now())
        .await
        .unwrap();
    (gw, dump)
}

fn assert_substantial(dump: &Dump) {
    let b0 = &dump.directories[&"B0".parse::<IdEnt>().unwrap()];
    assert_eq!(
        (b0.schools.len(), b0.persons.len(), b0.groups.len()),
        (1, 3, 2)
    );
    assert_eq!(dump.bindings.len(), 2, "{:?}", dump.bindings);
    assert!(dump.resources.len() >= 3, "{:?}", dump.resources);
    let ids: Vec<&str> = dump.subscriptions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["abo-etabl", "abo-indiv", "abo-supprime"]);
    assert!(dump.subscriptions[2].deleted);
    assert!(dump.assignments.len() >= 2, "{:?}", dump.assignments);
}

#[tokio::test]
async fn an_export_imported_into_an_empty_store_gives_the_same_data() {
    let (gw, dump) = source().await;
    assert_substantial(&dump);
    let distributors = distributors(&gw);
    let prefix = test_redis::prefix();
    let targets: Vec<(&str, Arc<dyn Store>)> = vec![
        ("memory", Arc::new(MemoryStore::new())),
        ("redis", test_redis::store(&prefix).await),
    ];
    for (name, target) in targets {
        backup::import(target.as_ref(), &dump, &distributors, RETENTION, now())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = backup::export(target.as_ref(), &distributors, now())
            .await
            .unwrap();
        assert_eq!(again, dump, "{name}");
        // The data serves as before: the assignment reaches the pupil, the moved school stays bound.
        let a = target
            .assignments("abo-indiv", &UAI.parse().unwrap())
            .await
            .unwrap();
        assert!(a.iter().any(|a| a.target == pupil()), "{name}: {a:?}");
        // A second import finds the store no longer empty and changes nothing.
        match backup::import(target.as_ref(), &dump, &distributors, RETENTION, now()).await {
            Err(ImportError::NotEmpty(what)) => assert!(what.contains("schools"), "{what}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    test_redis::cleanup(&prefix).await;
}

#[tokio::test]
async fn the_command_line_exports_and_imports_between_two_redis_stores() {
    let (_gw, mut dump) = source().await;
    let counted = MemoryStore::new();
    count_some(&counted).await;
    let expected = figures(&counted).await;
    dump.counts = export(&counted).await.counts;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/passerelle.toml");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (test_redis::prefix(), test_redis::prefix());
    let run = |prefix: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .arg("store")
            .args(args)
            .args(["--config", config])
            .env("PASSERELLE__STORE__REDIS_URL", test_redis::url())
            .env("PASSERELLE__STORE__KEY_PREFIX", prefix)
            .output()
            .unwrap()
    };
    let first = dir.path().join("first.json");
    std::fs::write(&first, serde_json::to_vec(&dump).unwrap()).unwrap();
    let mut previous: Option<Dump> = None;
    for (prefix, from) in [(&a, &first), (&b, &dir.path().join("a.json"))] {
        let out = run(prefix, &["import", from.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("3 subscription(s)"), "{said}");
        assert!(
            said.contains(&format!(
                "{} audience counts hash(es) over 2 day(s)",
                dump.counts.cells.len()
            )),
            "{said}"
        );
        let to = dir
            .path()
            .join(if prefix == &a { "a.json" } else { "b.json" });
        let out = run(prefix, &["export", "--out", to.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back: Dump = serde_json::from_slice(&std::fs::read(&to).unwrap()).unwrap();
        // The counts come back as they were.
        let no_counts = |d: &Dump| Dump {
            counts: Default::default(),
            ..d.clone()
        };
        assert_eq!(no_counts(&back), no_counts(&dump));
        assert_eq!(back.counts.cells, dump.counts.cells);
        let store = test_redis::store(prefix).await;
        assert_eq!(figures(store.as_ref()).await, expected);
        // From Redis to Redis, the same dump again.
        if let Some(p) = &previous {
            assert_eq!(&back, p);
        }
        previous = Some(back);
    }
    // Into a store that is not empty: refused, exit 1, and said why.
    let out = run(&b, &["import", first.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    test_redis::cleanup(&a).await;
    test_redis::cleanup(&b).await;
}

const DAY2: &str = "2026-11-25";

/// Counts real events into `store`: double clicks, two schools, two days, and draws the salt
/// of the second day; returns the batch.
async fn count_some(store: &dyn Store) -> Vec<passerelle::audience::AudienceEvent> {
    let mut ev = Ev::new();
    let next = |h, m, s| t(h, m, s) + Days::days(1);
    let batch = vec![
        ev.at(t(8, 0, 0), DAY, "v1", R1, U1),
        ev.at(t(8, 0, 20), DAY, "v1", R1, U1),
        ev.at(t(8, 0, 55), DAY, "v1", R1, U1),
        ev.at(t(8, 0, 0), DAY, "v2", R1, U1),
        ev.at(t(9, 0, 0), DAY, "v3", R2, U2),
        ev.at(t(9, 0, 10), DAY, "v3", R1, U2),
        ev.at(next(10, 0, 0), DAY2, "v4", R1, U1),
        ev.at(next(10, 0, 5), DAY2, "v4", R1, U1),
        ev.at(next(10, 0, 0), DAY2, "v5", R2, U2),
    ];
    let c = store.count_events(&batch, DEDUP, RETENTION).await.unwrap();
    assert_eq!((c.new, c.duplicates), (9, 0));
    store
        .day_salt(d(DAY2), now() + Days::hours(48), now())
        .await
        .unwrap();
    batch
}

/// The report's (filtered, raw, visitors) of a few views.
async fn figures(store: &dyn Store) -> Vec<(i64, i64, u64)> {
    let u1 = || Jurisdiction::School(U1.parse().unwrap());
    vec![
        cell(store, Jurisdiction::All, "total", "*", DAY, DAY2).await,
        cell(store, Jurisdiction::All, "total", "*", DAY, DAY).await,
        cell(store, Jurisdiction::All, "total", "*", DAY2, DAY2).await,
        cell(store, Jurisdiction::All, "resource", R1, DAY, DAY2).await,
        cell(store, Jurisdiction::All, "uai", U2, DAY, DAY2).await,
        cell(store, u1(), "resource", R1, DAY, DAY).await,
        cell(store, u1(), "total", "*", DAY2, DAY2).await,
    ]
}

async fn import(store: &dyn Store, dump: &Dump) -> Result<(), ImportError> {
    backup::import(store, dump, &[], RETENTION, now()).await
}

async fn export(store: &dyn Store) -> Dump {
    backup::export(store, &[], now()).await.unwrap()
}

/// What a restored store must do as the source did: the same figures and the batch counted
/// already (a redelivery changes nothing); but a salt of its own for the second day (salts
/// never leave in a backup).
async fn same_as_source(
    name: &str,
    store: &dyn Store,
    expected: &[(i64, i64, u64)],
    salt: &[u8],
    batch: &[passerelle::audience::AudienceEvent],
) {
    assert_eq!(figures(store).await, expected, "{name}");
    let again = store
        .day_salt(d(DAY2), now() + Days::hours(48), now())
        .await
        .unwrap();
    assert_ne!(
        again, salt,
        "{name}: the day's salt did not leave in the backup"
    );
    let c = store.count_events(batch, DEDUP, RETENTION).await.unwrap();
    assert_eq!((c.new, c.duplicates), (0, 9), "{name}: a redelivery");
    assert_eq!(
        figures(store).await,
        expected,
        "{name}: after the redelivery"
    );
}

/// A dump without the times the memory store does not keep: the counts' expiries, when
/// counted ids are forgotten.
fn without_expiries(dump: &Dump) -> Dump {
    let mut d = dump.clone();
    d.counts.expires.clear();
    d.counts.counted.values_mut().for_each(|at| *at = 0);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_move_between_memory_redis_and_a_cluster_with_the_same_figures() {
    let memory = MemoryStore::new();
    let batch = count_some(&memory).await;
    let expected = figures(&memory).await;
    assert_eq!(expected[0], (7, 9, 5), "{expected:?}");
    let salt = memory
        .day_salt(d(DAY2), now() + Days::hours(48), now())
        .await
        .unwrap();
    let from_memory = export(&memory).await;
    let summary = from_memory.summary();
    assert!(
        summary.contains(&format!(
            "{} audience counts hash(es) over 2 day(s)",
            from_memory.counts.cells.len()
        )),
        "{summary}"
    );
    assert!(summary.ends_with("9 counted event id(s))"), "{summary}");
    assert!(from_memory.counts.visitors.is_empty());
    // Each day hash has its month's: 2 days of one month.
    assert_eq!(from_memory.counts.days().len(), 2);
    assert!(from_memory.counts.cells.contains_key("c:2026-11:all:total"));

    // Memory → Redis: the same counts (into the first partition), the same figures.
    let (a, b) = (test_redis::prefix(), test_redis::prefix());
    let redis = test_redis::store(&a).await;
    import(redis.as_ref(), &from_memory).await.unwrap();
    same_as_source("memory → redis", redis.as_ref(), &expected, &salt, &batch).await;
    let from_redis = export(redis.as_ref()).await;
    assert_eq!(from_redis.counts.cells, from_memory.counts.cells);
    assert!(from_redis.counts.visitors.is_empty());
    assert_eq!(
        from_redis.counts.expires.len(),
        from_redis.counts.cells.len(),
        "every Redis count key expires"
    );

    // Redis → memory.
    let memory2 = MemoryStore::new();
    import(&memory2, &from_redis).await.unwrap();
    same_as_source("redis → memory", &memory2, &expected, &salt, &batch).await;
    let from_memory2 = export(&memory2).await;
    assert_eq!(from_memory2.counts.cells, from_redis.counts.cells);

    // Memory (restored from Redis) → Redis: the same dump again.
    let redis2 = test_redis::store(&b).await;
    import(redis2.as_ref(), &from_memory2).await.unwrap();
    same_as_source(
        "memory → redis again",
        redis2.as_ref(),
        &expected,
        &salt,
        &batch,
    )
    .await;
    assert_eq!(
        without_expiries(&export(redis2.as_ref()).await),
        without_expiries(&from_redis)
    );

    // Redis → Redis Cluster: the same dump back, expiries included.
    let cluster = RedisCluster::start();
    let url = format!("redis://127.0.0.1:{}", cluster.ports[0]);
    let clustered: Arc<dyn Store> =
        Arc::new(RedisStore::connect(&url, true, "pas-backup").await.unwrap());
    import(clustered.as_ref(), &from_redis).await.unwrap();
    assert_eq!(
        export(clustered.as_ref()).await,
        from_redis,
        "redis → cluster"
    );
    same_as_source(
        "redis → cluster",
        clustered.as_ref(),
        &expected,
        &salt,
        &batch,
    )
    .await;
    test_redis::cleanup(&a).await;
    test_redis::cleanup(&b).await;
}

#[tokio::test]
async fn an_import_into_a_store_with_counts_is_refused() {
    let memory = MemoryStore::new();
    count_some(&memory).await;
    let dump = export(&memory).await;
    let prefix = test_redis::prefix();
    let redis = test_redis::store(&prefix).await;
    count_some(redis.as_ref()).await;
    for (name, store) in [("memory", &memory as &dyn Store), ("redis", redis.as_ref())] {
        let before = figures(store).await;
        match import(store, &dump).await {
            Err(ImportError::NotEmpty(what)) => {
                assert_eq!(what, "audience counts", "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(figures(store).await, before, "{name}: nothing written");
    }
    test_redis::cleanup(&prefix).await;
}

#[tokio::test]
async fn a_format_1_dump_imports_without_counts_and_another_format_is_refused() {
    let memory = MemoryStore::new();
    count_some(&memory).await;
    let mut json = serde_json::to_value(export(&memory).await).unwrap();
    json["format"] = 1.into();
    json.as_object_mut().unwrap().remove("counts");
    let old: Dump = serde_json::from_value(json.clone()).unwrap();
    let target = MemoryStore::new();
    import(&target, &old).await.unwrap();
    assert!(!target.has_counts().await.unwrap());
    assert!(old
        .summary()
        .contains("0 audience counts hash(es) over 0 day(s)"));
    json["format"] = 4.into();
    let newer: Dump = serde_json::from_value(json).unwrap();
    match import(&MemoryStore::new(), &newer).await {
        Err(e @ ImportError::Format(4)) => {
            assert!(e.to_string().contains("reads formats 1 to 3"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn counting_goes_on_after_a_restore_as_it_would_have_without_one() {
    let (a, b) = (test_redis::prefix(), test_redis::prefix());
    let source = test_redis::store(&a).await;
    count_some(source.as_ref()).await;
    let dump = export(source.as_ref()).await;
    // Restored into memory and into another Redis.
    let memory = MemoryStore::new();
    import(&memory, &dump).await.unwrap();
    let redis = test_redis::store(&b).await;
    import(redis.as_ref(), &dump).await.unwrap();
    // A new visitor, on the second day, counted in the source and in both restored stores.
    let mut ev = Ev::new();
    let later = vec![ev.at(t(11, 0, 0) + Days::days(1), DAY2, "v6", R1, U1)];
    let stores: [(&str, &dyn Store); 3] = [
        ("source", source.as_ref()),
        ("memory", &memory),
        ("redis", redis.as_ref()),
    ];
    for (name, store) in stores {
        let c = store.count_events(&later, DEDUP, RETENTION).await.unwrap();
        assert_eq!((c.new, c.duplicates), (1, 0), "{name}");
    }
    let expected = figures(source.as_ref()).await;
    assert_eq!(expected[2], (3, 4, 3), "{expected:?}");
    assert_eq!(figures(&memory).await, expected, "memory");
    assert_eq!(figures(redis.as_ref()).await, expected, "redis");
    // And the memory store's export, back into a Redis, still says so.
    test_redis::cleanup(&b).await;
    let again = test_redis::store(&b).await;
    import(again.as_ref(), &export(&memory).await)
        .await
        .unwrap();
    assert_eq!(figures(again.as_ref()).await, expected, "memory → redis");
    test_redis::cleanup(&a).await;
    test_redis::cleanup(&b).await;
}

/// A dump of an earlier version (format 2): visitor sets beside the day hashes, no month
/// hashes. It is upgraded on import: the same figures, by day and by month.
#[tokio::test]
async fn a_format_2_dump_with_visitor_sets_imports_with_the_same_figures() {
    let memory = MemoryStore::new();
    count_some(&memory).await;
    let expected = figures(&memory).await;
    let mut old = export(&memory).await;
    old.format = 2;
    let cells = std::mem::take(&mut old.counts.cells);
    for (key, fields) in cells {
        let Some(day) = key.split(':').nth(1).filter(|p| p.len() == 10) else {
            continue; // format 2 had no month hashes
        };
        let view = &key[2 + day.len() + 1..];
        for (field, n) in fields {
            let (kind, value) = field.split_once(':').unwrap();
            // A school's views were a hash each.
            let (view, value) = match view.starts_with("uai=") {
                true => {
                    let (by, value) = value.split_once('=').unwrap();
                    (format!("{view}:{by}"), value.to_string())
                }
                false => (view.to_string(), value.to_string()),
            };
            if kind == "u" {
                old.counts.visitors.insert(
                    format!("v:{day}:{view}={value}"),
                    passerelle::domain::Visitors {
                        count: n as u64,
                        members: Vec::new(),
                        hll: None,
                    },
                );
            } else {
                old.counts
                    .cells
                    .entry(format!("c:{day}:{view}"))
                    .or_default()
                    .insert(format!("{kind}:{value}"), n);
            }
        }
    }
    assert!(!old.counts.visitors.is_empty());
    let prefix = test_redis::prefix();
    let redis = test_redis::store(&prefix).await;
    let target = MemoryStore::new();
    for (name, store) in [("memory", &target as &dyn Store), ("redis", redis.as_ref())] {
        import(store, &old).await.unwrap();
        assert_eq!(figures(store).await, expected, "{name}");
        let month = cell(
            store,
            Jurisdiction::All,
            "total",
            "*",
            "2026-11-01",
            "2026-11-30",
        )
        .await;
        assert_eq!(
            month, expected[0],
            "{name}: the month, from its upgraded month hash"
        );
    }
    test_redis::cleanup(&prefix).await;
}
