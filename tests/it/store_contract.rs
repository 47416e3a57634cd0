//! One contract, two stores: every test of `support/contract.rs` runs against the in-memory
//! store and against a real Redis (`PASSERELLE_TEST_REDIS_URL`, default
//! redis://127.0.0.1:6379), each Redis test under its own key prefix, removed afterwards. An
//! unreachable Redis fails these tests (set PASSERELLE_SKIP_REDIS_TESTS=1 to skip them knowingly).

use std::sync::Arc;

use passerelle::store::{MemoryStore, Store};

use crate::support::contract;
use crate::support::test_redis;

async fn redis() -> Option<(Arc<dyn Store>, String)> {
    if std::env::var("PASSERELLE_SKIP_REDIS_TESTS").as_deref() == Ok("1") {
        eprintln!("PASSERELLE_SKIP_REDIS_TESTS=1: Redis contract tests skipped");
        return None;
    }
    let prefix = test_redis::prefix();
    Some((test_redis::store(&prefix).await, prefix))
}

async fn cleanup(prefix: &str) {
    test_redis::cleanup(prefix).await;
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
contract!(school_bindings);
contract!(readers_never_see_a_mix);
contract!(catalogue);
contract!(subscriptions);
contract!(assignments);
contract!(listing_stamps);
contract!(health);
contract!(outbox);
