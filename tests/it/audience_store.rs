//! The audience store contract (`support/audience_contract.rs`) on the memory store and on a
//! real Redis (`PASSERELLE_TEST_REDIS_URL`, default redis://127.0.0.1:6379), each Redis test
//! under its own key prefix, removed afterwards.

use std::sync::Arc;

use passerelle::store::{MemoryStore, Store};

use crate::support::audience_contract;
use crate::support::test_redis;

async fn redis() -> (Arc<dyn Store>, String) {
    let prefix = test_redis::prefix();
    (test_redis::store(&prefix).await, prefix)
}

async fn cleanup(prefix: &str) {
    test_redis::cleanup(prefix).await;
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::audience_contract::$name(std::sync::Arc::new(super::MemoryStore::new())).await;
                }
            )*
        }
        mod redis_single {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, prefix) = super::redis().await;
                    super::audience_contract::$name(store).await;
                    super::cleanup(&prefix).await;
                }
            )*
        }
    };
}

both!(
    double_clicks_and_redelivery,
    late_and_cross_midnight_clicks,
    stream_groups_and_claims,
    day_salts,
    double_click_conformance,
    months_and_partitions_agree,
);

/// Counts far beyond 32 bits stay exact in the shared store (written as integers, never in a
/// float's notation), and a field an earlier version packed (`raw * 2^32 + filtered`) is
/// carried on when its cell is counted again, not overwritten.
#[tokio::test]
async fn large_and_earlier_counts_are_carried_on_exactly() {
    use audience_contract::{cell, t, DAY, DEDUP, R1, RETENTION, U1};
    use passerelle::domain::Jurisdiction;
    let (store, prefix) = redis().await;
    let e = audience_contract::Ev::new().at(t(9, 0, 0), DAY, "v1", R1, U1);
    let keys = passerelle::store::keys::Keys::new(prefix.clone());
    // Sixteen digits: more than a Lua number prints by default (14 significant digits).
    let big: i64 = 1 << 50;
    let client = redis::Client::open(test_redis::url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::pipe()
        .hset(
            keys.audience_part(e.part, &format!("c:{DAY}:all:total")),
            "*",
            format!("{big} {big} 7"),
        )
        .hset(
            keys.audience_part(e.part, &format!("c:{DAY}:all:resource")),
            R1,
            (3i64 << 32) + 2,
        )
        .query_async(&mut conn)
        .await
        .unwrap();
    store.count_events(&[e], DEDUP, RETENTION).await.unwrap();
    let s = store.as_ref();
    assert_eq!(
        cell(s, Jurisdiction::All, "total", "*", DAY, DAY).await,
        (big + 1, big + 1, 8)
    );
    // Filtered 2 + 1, raw 3 + 1, visitors 0 + 1.
    assert_eq!(
        cell(s, Jurisdiction::All, "resource", R1, DAY, DAY).await,
        (3, 4, 1)
    );
    cleanup(&prefix).await;
}
