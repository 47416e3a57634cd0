//! Backups of the store (issue 19): an export imported into an empty store gives the same
//! directories, school bindings, catalogue, subscriptions and assignments, from the memory
//! store to itself and to Redis, and through `passerelle store export` / `import`; a store
//! that is not empty is refused.

use std::process::Command;
use std::sync::Arc;

use passerelle::domain::{Assignment, AssignmentTarget, IdEnt, Uai};
use passerelle::store::backup::{self, Dump, ImportError};
use passerelle::store::{DirectoryStore, MemoryStore, Store, SubscriptionStore};

use crate::support::gateway::*;
use crate::support::test_redis;

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
    let dump = backup::export(store, &distributors(&gw)).await.unwrap();
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
        backup::import(target.as_ref(), &dump, &distributors)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = backup::export(target.as_ref(), &distributors)
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
        match backup::import(target.as_ref(), &dump, &distributors).await {
            Err(ImportError::NotEmpty(what)) => assert!(what.contains("schools"), "{what}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    test_redis::cleanup(&prefix).await;
}

#[tokio::test]
async fn the_command_line_exports_and_imports_between_two_redis_stores() {
    let (_gw, dump) = source().await;
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
    for (prefix, from) in [(&a, &first), (&b, &dir.path().join("a.json"))] {
        let out = run(prefix, &["import", from.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("3 subscription(s)"));
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
        assert_eq!(back, dump);
    }
    // Into a store that is not empty: refused, exit 1, and said why.
    let out = run(&b, &["import", first.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    test_redis::cleanup(&a).await;
    test_redis::cleanup(&b).await;
}
