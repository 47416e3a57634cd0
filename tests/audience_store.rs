//! The audience store contract (`support/audience_contract.rs`) on the memory store and on a
//! real Redis (`PASSERELLE_TEST_REDIS_URL`, default redis://127.0.0.1:6379), each Redis test
//! under its own key prefix, removed afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/audience_contract.rs"]
mod audience_contract;

use std::sync::Arc;

use passerelle::store::{MemoryStore, RedisStore, Store};

fn redis_url() -> String {
    std::env::var("PASSERELLE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn redis() -> (Arc<dyn Store>, String) {
    let url = redis_url();
    let prefix = format!("pas-test-{}", uuid::Uuid::new_v4().simple());
    let store = RedisStore::connect(&url, false, &prefix)
        .await
        .unwrap_or_else(|e| {
            panic!("Redis at {url} is needed by these tests (run scripts/setup.sh): {e}")
        });
    (Arc::new(store), prefix)
}

async fn cleanup(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
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
);
