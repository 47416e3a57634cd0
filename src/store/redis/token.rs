//! The Redis store's [`TokenStore`]: the OpenID Provider's codes and tokens as JSON values
//! with a TTL.

use std::time::Duration;

use async_trait::async_trait;

use super::RedisStore;
use crate::store::{StoreResult, TokenStore};

#[async_trait]
impl TokenStore for RedisStore {
    async fn put_token(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
        ttl: Duration,
    ) -> StoreResult<()> {
        self.set_json_px("put token", &self.keys.token(kind, key), value, ttl)
            .await
    }

    async fn get_token(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.get_json("get token", &self.keys.token(kind, key))
            .await
    }

    async fn delete_token(&self, kind: &str, key: &str) -> StoreResult<()> {
        self.query(
            "delete token",
            redis::cmd("DEL").arg(self.keys.token(kind, key)),
        )
        .await
    }

    async fn take_token(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        let op = "take token";
        let raw: Option<String> = self
            .query(op, redis::cmd("GETDEL").arg(self.keys.token(kind, key)))
            .await?;
        raw.map(|s| super::from_json(op, &s)).transpose()
    }
}
