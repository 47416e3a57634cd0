//! The Redis store's [`CatalogueStore`]: the resource catalogue in one hash, and its listing
//! stamp.

use async_trait::async_trait;

use super::{fresh_stamp, from_json, to_json, RedisStore};
use crate::domain::{Resource, ResourceId};
use crate::store::{CatalogueStore, StoreResult};

#[async_trait]
impl CatalogueStore for RedisStore {
    async fn put_resource(&self, resource: &Resource) -> StoreResult<()> {
        let w = self.writer();
        let json = to_json("put resource", resource)?;
        w.query::<()>(
            "put resource",
            redis::cmd("HSET")
                .arg(self.keys.catalogue())
                .arg(resource.id.as_str())
                .arg(json),
        )
        .await?;
        // After the write, so that a listing reading the new stamp reads the new resource.
        w.query::<()>(
            "catalogue stamp",
            redis::cmd("SET")
                .arg(self.keys.catalogue_stamp())
                .arg(fresh_stamp()),
        )
        .await?;
        w.durable("put resource").await
    }

    async fn resource(&self, id: &ResourceId) -> StoreResult<Option<Resource>> {
        let raw: Option<String> = self
            .query(
                "get resource",
                redis::cmd("HGET")
                    .arg(self.keys.catalogue())
                    .arg(id.as_str()),
            )
            .await?;
        raw.map(|s| from_json("get resource", &s)).transpose()
    }

    async fn resources_by_id(&self, ids: &[ResourceId]) -> StoreResult<Vec<Option<Resource>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<String>> = self
            .query(
                "get resources",
                redis::cmd("HMGET")
                    .arg(self.keys.catalogue())
                    .arg(ids.iter().map(ResourceId::as_str).collect::<Vec<_>>()),
            )
            .await?;
        raw.iter()
            .map(|r| {
                r.as_deref()
                    .map(|s| from_json("get resources", s))
                    .transpose()
            })
            .collect()
    }

    async fn resources(&self) -> StoreResult<Vec<Resource>> {
        let raw: Vec<String> = self
            .query(
                "list resources",
                redis::cmd("HVALS").arg(self.keys.catalogue()),
            )
            .await?;
        let mut all = raw
            .iter()
            .map(|s| from_json("list resources", s))
            .collect::<StoreResult<Vec<Resource>>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }
}
