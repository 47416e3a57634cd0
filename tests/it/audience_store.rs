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
