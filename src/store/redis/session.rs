//! The Redis store's [`SessionStore`]: gateway sessions as JSON values with a TTL.

use std::time::Duration;

use async_trait::async_trait;

use super::RedisStore;
use crate::session::Session;
use crate::store::{SessionStore, StoreResult};

#[async_trait]
impl SessionStore for RedisStore {
    async fn put_session(&self, session: &Session, ttl: Duration) -> StoreResult<()> {
        self.set_json_px("put session", &self.keys.session(&session.id), session, ttl)
            .await
    }

    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>> {
        self.get_json("get session", &self.keys.session(id)).await
    }

    async fn delete_session(&self, id: &str) -> StoreResult<()> {
        self.query(
            "delete session",
            redis::cmd("DEL").arg(self.keys.session(id)),
        )
        .await
    }
}
