//! The Redis store's [`Health`]: a `PING`, and the connection's counters.

use async_trait::async_trait;

use super::RedisStore;
use crate::store::{Health, StoreMetrics, StoreResult};

#[async_trait]
impl Health for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.query("ping", &redis::cmd("PING")).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn metrics(&self) -> Option<&StoreMetrics> {
        Some(self.conn.metrics())
    }
}
