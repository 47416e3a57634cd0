//! The memory store's outbox (`store::outbox`): one process's deliveries, with the same claim,
//! lease and expiry rules as the Redis one.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::store::outbox::{after, from_millis, millis};
use crate::store::{Claimed, OutboxStore, StoreResult};

struct Entry {
    value: String,
    /// From when anyone may claim it (ms).
    free_at: i64,
    /// When it is dropped, whatever became of it (ms).
    expires: i64,
}

#[derive(Default)]
pub(super) struct OutboxMemory {
    entries: HashMap<String, Entry>,
}

impl OutboxMemory {
    /// The entry `id` if it is still held until `held`.
    fn held(&mut self, id: &str, held: DateTime<Utc>) -> Option<&mut Entry> {
        self.entries
            .get_mut(id)
            .filter(|e| e.free_at == millis(held))
    }
}

impl MemoryStore {
    fn outbox(&self) -> std::sync::MutexGuard<'_, OutboxMemory> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn outbox_put(
        &self,
        id: &str,
        value: &str,
        held: DateTime<Utc>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<()> {
        self.outbox().entries.insert(
            id.to_string(),
            Entry {
                value: value.to_string(),
                free_at: millis(held),
                expires: after(now, ttl),
            },
        );
        Ok(())
    }

    async fn outbox_claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        max: usize,
    ) -> StoreResult<Vec<Claimed>> {
        let (at, until) = (millis(now), after(now, lease));
        let mut g = self.outbox();
        g.entries.retain(|_, e| e.expires > at);
        let mut free: Vec<(i64, String)> = g
            .entries
            .iter()
            .filter(|(_, e)| e.free_at <= at)
            .map(|(id, e)| (e.free_at, id.clone()))
            .collect();
        free.sort();
        free.truncate(max);
        let mut out = Vec::with_capacity(free.len());
        for (_, id) in free {
            if let Some(e) = g.entries.get_mut(&id) {
                e.free_at = until;
                out.push(Claimed {
                    value: e.value.clone(),
                    id,
                    held: from_millis(until),
                });
            }
        }
        Ok(out)
    }

    async fn outbox_retry(
        &self,
        id: &str,
        held: DateTime<Utc>,
        value: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut g = self.outbox();
        let Some(e) = g.held(id, held) else {
            return Ok(false);
        };
        e.value = value.to_string();
        e.free_at = millis(until);
        Ok(true)
    }

    async fn outbox_done(&self, id: &str, held: DateTime<Utc>) -> StoreResult<bool> {
        let mut g = self.outbox();
        if g.held(id, held).is_none() {
            return Ok(false);
        }
        g.entries.remove(id);
        Ok(true)
    }
}
