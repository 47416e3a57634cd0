//! The Redis store (being written in its own branch).

use super::StoreError;

pub struct RedisStore;

impl RedisStore {
    pub async fn connect(
        _url: &str,
        _cluster: bool,
        _prefix: &str,
    ) -> Result<crate::store::memory::MemoryStore, StoreError> {
        Err(StoreError::Unavailable("not yet".into()))
    }
}
