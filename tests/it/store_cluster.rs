//! The store contract against a real Redis Cluster: three `redis-server` processes in cluster
//! mode on free loopback ports (`support::redis_cluster`), started and stopped by this test. Multi-key operations must stay within one slot (hash tags), or the cluster
//! refuses them: this is what the test proves.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use passerelle::store::{RedisStore, Store};

use crate::support::audience_contract;
use crate::support::contract;
use crate::support::redis_cluster::RedisCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_contract_holds_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let url = format!("redis://127.0.0.1:{}", cluster.ports[0]);
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&url, true, "pas-cluster")
            .await
            .unwrap(),
    );
    contract::sessions(store.clone()).await;
    contract::pending_logins(store.clone()).await;
    contract::remember_once(store.clone()).await;
    contract::tokens(store.clone()).await;
    contract::directories(store.clone()).await;
    contract::school_bindings(Arc::new(
        RedisStore::connect(&url, true, "pas-cluster-sb")
            .await
            .unwrap(),
    ))
    .await;
    contract::catalogue(store.clone()).await;
    contract::subscriptions(store.clone()).await;
    contract::assignments(store.clone()).await;
    // From empty: the stamps of schools nothing was written for yet are zero.
    contract::listing_stamps(Arc::new(
        RedisStore::connect(&url, true, "pas-cluster-lst")
            .await
            .unwrap(),
    ))
    .await;
    contract::health(store.clone()).await;
    // The outbox's keys share one slot: its scripts work in a cluster.
    contract::outbox(Arc::new(
        RedisStore::connect(&url, true, "pas-cluster-outbox")
            .await
            .unwrap(),
    ))
    .await;
    // The audience keys share one slot: the counting script and the stream work in a cluster.
    // Each part of that contract starts from empty counts, under a prefix of its own.
    let fresh = |name: &'static str| {
        let url = url.clone();
        async move {
            let s: Arc<dyn Store> = Arc::new(
                RedisStore::connect(&url, true, &format!("pas-cluster-{name}"))
                    .await
                    .unwrap(),
            );
            s
        }
    };
    audience_contract::double_clicks_and_redelivery(fresh("a").await).await;
    audience_contract::late_and_cross_midnight_clicks(fresh("b").await).await;
    audience_contract::stream_groups_and_claims(fresh("c").await).await;
    audience_contract::day_salts(fresh("d").await).await;
    audience_contract::double_click_conformance(fresh("e").await).await;
    audience_contract::months_and_partitions_agree(fresh("f").await).await;
    // Keys really are spread: sessions land on more than one node.
    for i in 0..50 {
        store
            .put_session(
                &contract_session(&format!("spread-{i}")),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
    }
    let counts: Vec<u64> = cluster
        .ports
        .iter()
        .map(|p| {
            String::from_utf8_lossy(
                &Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "dbsize"])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .trim()
            .parse()
            .unwrap()
        })
        .collect();
    assert!(
        counts.iter().filter(|&&c| c > 0).count() >= 2,
        "keys on one node only: {counts:?}"
    );
    drop(cluster);
}

fn contract_session(id: &str) -> passerelle::session::Session {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z")
        .unwrap()
        .into();
    passerelle::session::Session {
        id: id.into(),
        ent: "B0".parse().unwrap(),
        person_id: "p".into(),
        authenticated_at: now,
        expires_at: now + chrono::Duration::hours(1),
        launches: vec![],
        ent_session: None,
        relying_parties: Vec::new(),
        cas_services: Vec::new(),
        saml_parties: Vec::new(),
    }
}
