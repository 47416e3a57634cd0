//! The Redis store's [`LoginStateStore`]: pending logins (taken with `GETDEL`) and the
//! one-time-use memory of message ids (`SET NX PX`).

use std::time::Duration;

use async_trait::async_trait;

use super::{from_json, millis, RedisStore};
use crate::session::PendingLogin;
use crate::store::{LoginStateStore, StoreResult};

#[async_trait]
impl LoginStateStore for RedisStore {
    async fn put_pending_login(&self, login: &PendingLogin, ttl: Duration) -> StoreResult<()> {
        self.set_json_px(
            "put pending login",
            &self.keys.pending_login(&login.id),
            login,
            ttl,
        )
        .await
    }

    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        self.get_json("get pending login", &self.keys.pending_login(id))
            .await
    }

    async fn take_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        let raw: Option<String> = self
            .query(
                "take pending login",
                redis::cmd("GETDEL").arg(self.keys.pending_login(id)),
            )
            .await?;
        raw.map(|s| from_json("take pending login", &s)).transpose()
    }

    async fn remember_once(&self, namespace: &str, id: &str, ttl: Duration) -> StoreResult<bool> {
        let set: Option<String> = self
            .query(
                "remember once",
                redis::cmd("SET")
                    .arg(self.keys.once(namespace, id))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await?;
        Ok(set.is_some())
    }
}
