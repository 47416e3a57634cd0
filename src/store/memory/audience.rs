//! The memory store's audience part: an in-process event stream with consumer groups (the
//! same delivery, claim and acknowledgement rules as a Redis stream), the day salts, and the
//! counts in a [`Tally`]; a backup carries the tally, never the salts
//! ([`CountsDump`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use tokio::time::Instant;

use crate::domain::{AudienceEvent, Counted, CountsDump, Tally};
use crate::store::Delivered;

#[derive(Default)]
struct Group {
    last_delivered: u64,
    /// Stream id → (consumer, when delivered).
    pending: BTreeMap<u64, (String, Instant)>,
}

#[derive(Default)]
pub(super) struct AudienceMemory {
    stream: BTreeMap<u64, String>,
    next: u64,
    groups: HashMap<String, Group>,
    salts: HashMap<NaiveDate, (Vec<u8>, DateTime<Utc>)>,
    tally: Tally,
}

fn parse_id(id: &str) -> Option<u64> {
    id.parse().ok()
}

impl AudienceMemory {
    pub(super) fn append(&mut self, events: &[String]) {
        for e in events {
            self.next += 1;
            self.stream.insert(self.next, e.clone());
        }
    }

    pub(super) fn read(
        &mut self,
        group: &str,
        consumer: &str,
        count: usize,
        claim_idle: Duration,
    ) -> Vec<Delivered> {
        let now = Instant::now();
        let g = self.groups.entry(group.to_string()).or_default();
        let idle: Vec<u64> = g
            .pending
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) >= claim_idle)
            .map(|(id, _)| *id)
            .take(count)
            .collect();
        let ids: Vec<u64> = if idle.is_empty() {
            let fresh: Vec<u64> = self
                .stream
                .range(g.last_delivered + 1..)
                .map(|(id, _)| *id)
                .take(count)
                .collect();
            if let Some(last) = fresh.last() {
                g.last_delivered = *last;
            }
            fresh
        } else {
            idle
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.stream.get(&id) {
                Some(event) => {
                    g.pending.insert(id, (consumer.to_string(), now));
                    out.push(Delivered {
                        id: id.to_string(),
                        event: event.clone(),
                    });
                }
                None => {
                    g.pending.remove(&id);
                }
            }
        }
        out
    }

    pub(super) fn create_group(&mut self, group: &str) {
        self.groups.entry(group.to_string()).or_default();
    }

    pub(super) fn ack(&mut self, group: &str, ids: &[String]) {
        if let Some(g) = self.groups.get_mut(group) {
            for id in ids.iter().filter_map(|i| parse_id(i)) {
                g.pending.remove(&id);
            }
        }
    }

    pub(super) fn pending(&self, group: &str) -> u64 {
        self.groups.get(group).map_or(0, |g| g.pending.len() as u64)
    }

    pub(super) fn trim(&mut self) -> u64 {
        let Some(boundary) = self
            .groups
            .values()
            .map(|g| {
                g.pending
                    .keys()
                    .next()
                    .copied()
                    .unwrap_or(g.last_delivered + 1)
            })
            .min()
        else {
            return 0;
        };
        let keep = self.stream.split_off(&boundary);
        let dropped = self.stream.len() as u64;
        self.stream = keep;
        dropped
    }

    pub(super) fn count(&mut self, events: &[AudienceEvent]) -> Counted {
        self.tally.count(events)
    }

    pub(super) fn cells(&self, keys: &[String]) -> Vec<HashMap<String, i64>> {
        keys.iter().map(|k| self.tally.cells(k)).collect()
    }

    pub(super) fn has_counts(&self) -> bool {
        !self.tally.is_empty()
    }

    /// The counts (never the salts).
    pub(super) fn dump(&self, now: DateTime<Utc>) -> CountsDump {
        CountsDump::of_tally(&self.tally, now)
    }

    /// Adds a backup's counts.
    pub(super) fn restore(&mut self, dump: &CountsDump) {
        dump.restore_into(&mut self.tally);
    }

    pub(super) fn salt(
        &mut self,
        day: NaiveDate,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<u8> {
        // Expired salts are destroyed before anything else.
        self.salts.retain(|_, (_, until)| now < *until);
        self.salts
            .entry(day)
            .or_insert_with(|| {
                let mut s = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut s);
                (s, expires_at)
            })
            .0
            .clone()
    }
}
