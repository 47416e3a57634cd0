//! Durable writes with `store.durable_replicas`: a subscription is acknowledged only once a
//! replica has it (`WAIT`), so that it survives the loss of the primary; with the replica gone,
//! the write is refused rather than acknowledged on the primary alone. Real `redis-server`
//! processes, a primary and its replica, started by the test.

use std::sync::Arc;
use std::time::Duration;

use passerelle::store::{RedisStore, Store, StoreError, StoreSettings};

use crate::support::own_redis::OwnRedis;

fn subscription(id: &str) -> passerelle::domain::Subscription {
    serde_json::from_value(serde_json::json!({
        "id": id, "distributor_id": "123456789_0000000000000000", "resource_id": "ark:/99999/r",
        "valid_from": "2026-08-15T00:00:00Z", "valid_until": "2027-08-15T00:00:00Z",
        "uais": ["0561641E"], "assignment_type": "ETABL", "audiences": ["ELEVE"]
    }))
    .unwrap()
}

fn replica_of(primary: &OwnRedis) -> OwnRedis {
    let port = primary.port.to_string();
    OwnRedis::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--replicaof",
        "127.0.0.1",
        &port,
    ])
}

async fn synced(replica: &OwnRedis) {
    for _ in 0..200 {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &replica.port.to_string(), "info", "replication"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("master_link_status:up") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the replica did not sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_write_is_acknowledged_once_a_replica_has_it_and_refused_without_one() {
    let mut primary = OwnRedis::start();
    let mut replica = replica_of(&primary);
    synced(&replica).await;
    let settings = StoreSettings {
        durable_replicas: 1,
        durable_wait: Duration::from_millis(200),
        ..StoreSettings::default()
    };
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect_with(&primary.url(), false, "dur", &settings)
            .await
            .unwrap(),
    );
    store.put_subscription(&subscription("s1")).await.unwrap();
    assert!(store
        .create_subscription(&subscription("s2"))
        .await
        .unwrap());

    // The primary is lost right after the acknowledgement: the promoted replica has both.
    tokio::task::block_in_place(|| primary.kill());
    let promoted: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&replica.url(), false, "dur")
            .await
            .unwrap(),
    );
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &replica.port.to_string(), "replicaof", "no", "one"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    for id in ["s1", "s2"] {
        assert!(
            promoted.subscription(id).await.unwrap().is_some(),
            "acknowledged {id} lost with the primary"
        );
    }

    // A primary whose replica is gone: the write is refused, not acknowledged alone.
    let lonely = OwnRedis::start();
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect_with(&lonely.url(), false, "dur", &settings)
            .await
            .unwrap(),
    );
    match store.put_subscription(&subscription("s3")).await {
        Err(StoreError::Unavailable(m)) => {
            assert!(m.contains("0 of 1 replica"), "{m}")
        }
        other => panic!("acknowledged without a replica: {other:?}"),
    }
    tokio::task::block_in_place(|| replica.kill());
}
