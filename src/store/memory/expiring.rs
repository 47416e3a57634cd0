//! A map whose entries live until their deadline, for the in-memory store's sessions, pending
//! logins, one-time ids and tokens. Expired entries are dropped from an index ordered by
//! deadline, a few at each write: a write never sweeps the whole map, so its cost does not grow
//! with the number of live entries (millions of 6-hour sessions on a busy node).

use std::collections::{BTreeMap, HashMap};
use tokio::time::Instant;

/// Entries by key, each with its deadline; `by_deadline` orders the same entries (a sequence
/// number keeps equal deadlines apart).
#[derive(Debug)]
pub(super) struct Expiring<V> {
    entries: HashMap<String, (V, Instant, u64)>,
    by_deadline: BTreeMap<(Instant, u64), String>,
    seq: u64,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            by_deadline: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<V: Clone> Expiring<V> {
    /// Drops the entries whose deadline is past `now`: only those, in deadline order.
    fn expire(&mut self, now: Instant) {
        while let Some(entry) = self.by_deadline.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.entries.remove(&key);
        }
    }

    /// Sets `key` to `value` until `until` (a later write replaces it and its deadline).
    pub(super) fn insert(&mut self, key: String, value: V, until: Instant, now: Instant) {
        self.expire(now);
        if let Some((_, t, s)) = self.entries.get(&key) {
            self.by_deadline.remove(&(*t, *s));
        }
        self.seq += 1;
        self.by_deadline.insert((until, self.seq), key.clone());
        self.entries.insert(key, (value, until, self.seq));
    }

    /// The value of `key`, unless expired at `now`.
    pub(super) fn get(&self, key: &str, now: Instant) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(_, until, _)| now < *until)
            .map(|(v, _, _)| v.clone())
    }

    /// Removes `key`; answers its value unless it had expired at `now`.
    pub(super) fn remove(&mut self, key: &str, now: Instant) -> Option<V> {
        let (v, until, s) = self.entries.remove(key)?;
        self.by_deadline.remove(&(until, s));
        (now < until).then_some(v)
    }

    /// Entries held, expired ones not yet dropped included.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        (self.entries.len(), self.by_deadline.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn entries_live_until_their_deadline_and_expired_ones_go_at_the_next_write() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut m = Expiring::default();
        m.insert("a".into(), 1, t0 + s(10), t0);
        m.insert("b".into(), 2, t0 + s(20), t0);
        assert_eq!(m.get("a", t0 + s(9)), Some(1));
        assert_eq!(m.get("a", t0 + s(10)), None, "expired at its deadline");
        // A later write replaces the value and the deadline.
        m.insert("a".into(), 3, t0 + s(30), t0 + s(5));
        assert_eq!(m.get("a", t0 + s(25)), Some(3));
        assert_eq!(m.held(), (2, 2), "one index entry per key");
        // A write after b's deadline drops b, and only b.
        m.insert("c".into(), 4, t0 + s(40), t0 + s(21));
        assert_eq!(m.held(), (2, 2));
        assert_eq!(m.get("b", t0), None);
        assert_eq!(m.remove("a", t0 + s(22)), Some(3));
        assert_eq!(m.remove("a", t0 + s(22)), None);
        assert_eq!(m.remove("c", t0 + s(41)), None, "expired: not answered");
        assert_eq!(m.held(), (0, 0));
    }

    #[test]
    fn a_write_costs_the_same_with_many_live_entries() {
        // Not a timing: the work a write does is the expired entries it drops, never the live.
        let t0 = Instant::now();
        let mut m = Expiring::default();
        for i in 0..100_000 {
            m.insert(format!("k{i}"), i, t0 + Duration::from_secs(3600), t0);
        }
        m.insert("short".into(), 0, t0 + Duration::from_secs(1), t0);
        m.insert(
            "x".into(),
            1,
            t0 + Duration::from_secs(3600),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(m.held(), (100_001, 100_001));
        assert_eq!(
            m.by_deadline.first_key_value().map(|(k, _)| k.0),
            Some(t0 + Duration::from_secs(3600))
        );
    }
}
