//! Token buckets per client in a bounded, sharded table: the arithmetic of the rate limits,
//! with time (milliseconds) as a parameter.
//!
//! A client's bucket holds at most `capacity` tokens and refills at a steady rate; a request
//! takes one token or is told how long to wait. The table never holds more than its bound:
//! when a shard is full, buckets that have refilled completely (the same as a new one) are
//! dropped first, then the least recently seen.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::client::ClientKey;

const SHARDS: usize = 64;

/// How many tokens a bucket holds and how fast it refills.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    capacity: f64,
    per_ms: f64,
}

impl Rate {
    /// `count` tokens per `window`, at most `capacity` at once.
    pub fn new(count: u32, window: Duration, capacity: u32) -> Self {
        let ms = window.as_millis().max(1) as f64;
        Self {
            capacity: f64::from(capacity.max(1)),
            per_ms: f64::from(count.max(1)) / ms,
        }
    }
}

/// Why a request was not given a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty {
    /// When the next token will be there.
    pub retry_after: Duration,
    /// The first refusal since the bucket last held a token: the one worth a log line.
    pub first: bool,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
    refused: bool,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now_ms: i64) {
        let elapsed = (now_ms - self.at_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed * rate.per_ms).min(rate.capacity);
        self.at_ms = self.at_ms.max(now_ms);
    }
}

/// One bucket per client, at most `max_clients` of them.
pub struct Buckets {
    rate: Rate,
    shards: Vec<Mutex<HashMap<ClientKey, Bucket>>>,
    per_shard: usize,
    hasher: RandomState,
    /// Buckets dropped to keep the table within its bound while not yet refilled.
    pub evicted: AtomicU64,
}

impl Buckets {
    pub fn new(rate: Rate, max_clients: usize) -> Self {
        Self {
            rate,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_clients.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            evicted: AtomicU64::new(0),
        }
    }

    /// Takes one token from `client`'s bucket at `now_ms`.
    pub fn take(&self, client: ClientKey, now_ms: i64) -> Result<(), Empty> {
        let shard = (self.hasher.hash_one(client) as usize) % SHARDS;
        let mut map = self.shards[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(&client) && map.len() >= self.per_shard {
            self.make_room(&mut map, now_ms);
        }
        let rate = self.rate;
        let b = map.entry(client).or_insert(Bucket {
            tokens: rate.capacity,
            at_ms: now_ms,
            refused: false,
        });
        b.refill(rate, now_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.refused = false;
            return Ok(());
        }
        let first = !b.refused;
        b.refused = true;
        let wait_ms = ((1.0 - b.tokens) / rate.per_ms).ceil().max(1.0);
        Err(Empty {
            retry_after: Duration::from_millis(wait_ms as u64),
            first,
        })
    }

    fn make_room(&self, map: &mut HashMap<ClientKey, Bucket>, now_ms: i64) {
        let rate = self.rate;
        map.retain(|_, b| {
            b.refill(rate, now_ms);
            b.tokens < rate.capacity
        });
        if map.len() >= self.per_shard {
            if let Some(oldest) = map.iter().min_by_key(|(_, b)| b.at_ms).map(|(k, _)| *k) {
                map.remove(&oldest);
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Clients tracked now.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> ClientKey {
        ClientKey::of(s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0])))
    }

    #[test]
    fn a_burst_is_served_then_the_rate_applies() {
        // 60 a minute (one a second), 3 at once.
        let b = Buckets::new(Rate::new(60, Duration::from_secs(60), 3), 100);
        let c = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(b.take(c, 0), Ok(()));
        }
        let refused = b.take(c, 0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert!(refused.first);
        assert!(
            !b.take(c, 500).unwrap_err().first,
            "one log line per episode"
        );
        assert_eq!(
            b.take(c, 500).unwrap_err().retry_after,
            Duration::from_millis(500)
        );
        assert_eq!(b.take(c, 1000), Ok(()));
        assert!(b.take(c, 1000).is_err());
        // Refills to the burst, never beyond it.
        for _ in 0..3 {
            assert_eq!(b.take(c, 3_600_000), Ok(()));
        }
        assert!(b.take(c, 3_600_000).is_err());
    }

    #[test]
    fn clients_do_not_share_a_bucket_and_a_clock_going_back_gives_nothing() {
        let b = Buckets::new(Rate::new(1, Duration::from_secs(60), 1), 100);
        assert_eq!(b.take(ip("192.0.2.1"), 10_000), Ok(()));
        assert!(b.take(ip("192.0.2.1"), 10_000).is_err());
        assert_eq!(b.take(ip("192.0.2.2"), 10_000), Ok(()));
        assert!(b.take(ip("192.0.2.1"), 0).is_err());
    }

    #[test]
    fn the_table_stays_within_its_bound() {
        let b = Buckets::new(Rate::new(1, Duration::from_secs(3600), 1), SHARDS);
        for i in 0..10_000u32 {
            let c = ClientKey::of(IpAddr::from(i.to_be_bytes()));
            assert_eq!(b.take(c, 0), Ok(()));
        }
        assert!(b.tracked() <= SHARDS, "{} clients tracked", b.tracked());
        assert!(b.evicted.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn a_refilled_bucket_is_dropped_before_a_busy_one() {
        let b = Buckets::new(Rate::new(1, Duration::from_secs(1), 1), 1);
        // One shard holds at most one client: find two clients of the same shard (the hasher
        // is random, so among enough addresses that one of them surely shares it).
        let busy = ip("192.0.2.1");
        let shard = |c: ClientKey| (b.hasher.hash_one(c) as usize) % SHARDS;
        let other = (0..=u16::MAX)
            .map(|n| ClientKey::of(IpAddr::from([10, 0, (n >> 8) as u8, n as u8])))
            .find(|c| shard(*c) == shard(busy))
            .expect("two clients in one shard");
        assert_eq!(b.take(busy, 0), Ok(()));
        // `busy` has refilled by then: it goes without counting as an eviction.
        assert_eq!(b.take(other, 5_000), Ok(()));
        assert_eq!(b.evicted.load(Ordering::Relaxed), 0);
    }
}
