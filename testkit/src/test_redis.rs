//! A Redis for tests and benchmarks: the machine's (`PASSERELLE_TEST_REDIS_URL`, default
//! redis://127.0.0.1:6379), each user under a key prefix of its own, removed afterwards.

use std::sync::Arc;

use passerelle::store::{RedisStore, Store};

pub fn url() -> String {
    std::env::var("PASSERELLE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh key prefix.
pub fn prefix() -> String {
    format!("pas-test-{}", uuid::Uuid::new_v4().simple())
}

/// A store under `prefix`; an unreachable Redis fails with what to do.
pub async fn store(prefix: &str) -> Arc<dyn Store> {
    let url = url();
    Arc::new(
        RedisStore::connect(&url, false, prefix)
            .await
            .unwrap_or_else(|e| {
                panic!("Redis at {url} is needed by these tests (run scripts/setup.sh): {e}")
            }),
    )
}

/// Removes every key under `prefix`.
pub async fn cleanup(prefix: &str) {
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for chunk in keys.chunks(10_000) {
        let _: () = redis::cmd("UNLINK")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
