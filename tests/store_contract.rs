//! One contract, two stores: every test of `support/contract.rs` runs against the in-memory
//! store and against a real Redis (`PASSERELLE_TEST_REDIS_URL`, default
//! redis://127.0.0.1:6379), each Redis test under its own key prefix, removed afterwards. An
//! unreachable Redis fails these tests (set PASSERELLE_SKIP_REDIS_TESTS=1 to skip them knowingly).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/contract.rs"]
mod contract;

use std::sync::Arc;

use passerelle::store::{MemoryStore, RedisStore, Store};

fn redis_url() -> String {
    std::env::var("PASSERELLE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn redis() -> Option<(Arc<dyn Store>, String)> {
    if std::env::var("PASSERELLE_SKIP_REDIS_TESTS").as_deref() == Ok("1") {
        eprintln!("PASSERELLE_SKIP_REDIS_TESTS=1: Redis contract tests skipped");
        return None;
    }
    let url = redis_url();
    let prefix = format!("pas-test-{}", uuid::Uuid::new_v4().simple());
    let store = RedisStore::connect(&url, false, &prefix)
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} is needed by these tests (run scripts/setup.sh, or set PASSERELLE_SKIP_REDIS_TESTS=1): {e}"));
    Some((Arc::new(store), prefix))
}

/// Removes every key under `prefix`.
async fn cleanup(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// Runs a contract function against both stores.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                contract::$name(Arc::new(MemoryStore::new())).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                if let Some((store, prefix)) = super::redis().await {
                    contract::$name(store).await;
                    cleanup(&prefix).await;
                }
            }
        }
    };
}

contract!(sessions);
contract!(pending_logins);
contract!(remember_once);
contract!(tokens);
contract!(directories);
contract!(readers_never_see_a_mix);
contract!(catalogue);
contract!(subscriptions);
contract!(assignments);
contract!(health);
