//! The audience counts as a backup carries them (`store::backup`): the counts hashes by their
//! key, whatever the store and its partitions, and the ids already counted, so that counting
//! goes on after a restore as it would have without one. Never the day salts: they are
//! destroyed 48 hours after their day, and a backup must not outlive that promise (a restored
//! store draws new ones, so the visitors of the restore's days may count twice). Nor the
//! visitors' days of cells, which are tied to a salt.
//!
//! Dumps of earlier versions held visitor sets (members, or a Redis HyperLogLog) beside day
//! hashes only; [`CountsDump::upgraded`] turns them into today's layout (visitor-days as `u:`
//! fields, month hashes summed from the days).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::counting::{
    counted_entry, counted_from_entry, has_months, month_key_of, Tally, FORGET_AFTER_MS, VIEWS,
};

/// The counts of a store as a backup carries them, the same from either store, so that they
/// move between the memory store, a Redis and a Redis Cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsDump {
    /// Every counts hash by its key below the audience family (`c:<period>:<scope>:<by>`),
    /// its fields as reports read them (`r:<v>`, `f:<v>`, `u:<v>`), partitions summed.
    pub cells: BTreeMap<String, BTreeMap<String, i64>>,
    /// Visitor sets of an earlier version's dump, by their key (`v:<day>:<scope>:<by>=<value>`);
    /// never written any more.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub visitors: BTreeMap<String, Visitors>,
    /// When keys of `cells` expire (milliseconds since the epoch), for a store that keeps them
    /// a limited time (Redis: `audience.retention_days` after their first count); a key absent
    /// here is kept `audience.retention_days` from its import.
    pub expires: BTreeMap<String, i64>,
    /// The ids of the events already counted (`<partition>/<id>`, or the id alone for the
    /// first partition), each with when it may be forgotten (milliseconds since the epoch): a
    /// redelivery after the restore still counts once.
    pub counted: BTreeMap<String, i64>,
}

/// One visitor set of an earlier version: the memory store kept its members, Redis a
/// HyperLogLog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visitors {
    /// The distinct visitors, as the store answered at the export.
    pub count: u64,
    /// The members the store knew (the memory store's sets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// A Redis HyperLogLog, its string value in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hll: Option<String>,
}

/// The counts hash key and value of an earlier version's visitor set key
/// (`v:<day>:<scope>:<by>=<value>`), `by` being one of the views of the scope.
fn legacy_cell(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix("v:")?;
    let (day, rest) = rest.split_once(':')?;
    let scope_dim = rest.split(['=', ':']).next()?;
    let (_, bys) = VIEWS.iter().find(|(d, _)| *d == scope_dim)?;
    bys.iter().find_map(|by| {
        let marker = format!(":{by}=");
        let at = rest.find(&marker)?;
        let view = &rest[..at + 1 + by.len()];
        let value = &rest[at + marker.len()..];
        Some((format!("c:{day}:{view}"), value.to_string()))
    })
}

impl CountsDump {
    /// The memory store's counts and counted ids (salts are the store's, and a visitor's day
    /// of cells is tied to a salt). The tally forgets ids by the newest event's time, not the
    /// clock: each one is given [`FORGET_AFTER_MS`] from `now` (or from its event, if later).
    pub fn of_tally(tally: &Tally, now: DateTime<Utc>) -> Self {
        let cells = tally
            .counts()
            .iter()
            .map(|(k, fields)| {
                (
                    k.clone(),
                    fields.iter().map(|(f, n)| (f.clone(), *n)).collect(),
                )
            })
            .collect();
        let counted = tally
            .counted()
            .map(|(id, t, part)| {
                (
                    counted_entry(part, id),
                    now.timestamp_millis().max(t) + FORGET_AFTER_MS,
                )
            })
            .collect();
        CountsDump {
            cells,
            counted,
            ..CountsDump::default()
        }
    }

    /// Adds the counts and counted ids to the memory store's (a dump of an earlier version is
    /// upgraded first: [`CountsDump::upgraded`]).
    pub fn restore_into(&self, tally: &mut Tally) {
        for (k, fields) in &self.cells {
            for (f, n) in fields {
                tally.add(k, f, *n);
            }
        }
        for (entry, forget_at) in &self.counted {
            let (part, id) = counted_from_entry(entry);
            tally.remember(id, forget_at - FORGET_AFTER_MS, part);
        }
    }

    /// Whether there is no count at all.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.visitors.is_empty()
    }

    /// The days the day hashes cover.
    pub fn days(&self) -> BTreeSet<&str> {
        self.cells
            .keys()
            .filter_map(|k| k.split(':').nth(1))
            .filter(|p| p.len() == 10)
            .collect()
    }

    /// The dump in today's layout. A dump with month hashes is today's and is left as it is;
    /// one without (an earlier version's) gets its visitor sets as `u:` fields of their day
    /// hashes, and month hashes summed from the day hashes.
    pub fn upgraded(mut self) -> Self {
        let today = self
            .cells
            .keys()
            .any(|k| k.split(':').nth(1).is_some_and(|p| p.len() == 7));
        if today || self.cells.is_empty() {
            self.visitors.clear();
            return self;
        }
        for (key, v) in std::mem::take(&mut self.visitors) {
            if let Some((day_key, value)) = legacy_cell(&key) {
                let n = i64::try_from(v.count).unwrap_or(i64::MAX);
                *self
                    .cells
                    .entry(day_key)
                    .or_default()
                    .entry(format!("u:{value}"))
                    .or_insert(0) += n;
            }
        }
        // A school's views were a hash each (`c:<day>:uai=<UAI>:<by>`): now one a day.
        for key in self.cells.keys().cloned().collect::<Vec<_>>() {
            let Some((school, by)) = key
                .rsplit_once(':')
                .filter(|(k, _)| k.split(':').nth(2).is_some_and(|s| !has_months(s)))
            else {
                continue;
            };
            let (school, by) = (school.to_string(), by.to_string());
            let fields = self.cells.remove(&key).unwrap_or_default();
            let here = self.cells.entry(school.clone()).or_default();
            for (field, n) in fields {
                let Some((kind, value)) = field.split_once(':') else {
                    continue;
                };
                *here.entry(format!("{kind}:{by}={value}")).or_insert(0) += n;
            }
            if let Some(at) = self.expires.remove(&key) {
                let e = self.expires.entry(school).or_insert(at);
                *e = (*e).max(at);
            }
        }
        let mut months: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for (key, fields) in &self.cells {
            if let Some(month) = month_key_of(key) {
                let m = months.entry(month).or_default();
                for (f, n) in fields {
                    *m.entry(f.clone()).or_insert(0) += n;
                }
            }
        }
        for (month, fields) in months {
            if let Some(at) = self
                .cells
                .keys()
                .filter(|k| month_key_of(k).as_deref() == Some(month.as_str()))
                .filter_map(|k| self.expires.get(k))
                .max()
                .copied()
            {
                self.expires.insert(month.clone(), at);
            }
            self.cells.insert(month, fields);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_dump_gets_visitor_days_and_months() {
        let mut d = CountsDump::default();
        for (day, r) in [("2026-11-24", 3), ("2026-11-25", 2)] {
            d.cells.insert(
                format!("c:{day}:provider=ed:1:resource"),
                BTreeMap::from([("r:ark:/1:x".into(), r), ("f:ark:/1:x".into(), r)]),
            );
            d.visitors.insert(
                format!("v:{day}:provider=ed:1:resource=ark:/1:x"),
                Visitors {
                    count: 2,
                    ..Visitors::default()
                },
            );
        }
        d.expires
            .insert("c:2026-11-25:provider=ed:1:resource".into(), 99);
        let u = d.upgraded();
        assert!(u.visitors.is_empty());
        let day = &u.cells["c:2026-11-24:provider=ed:1:resource"];
        assert_eq!(day["u:ark:/1:x"], 2);
        let month = &u.cells["c:2026-11:provider=ed:1:resource"];
        assert_eq!(month["r:ark:/1:x"], 5);
        assert_eq!(month["u:ark:/1:x"], 4);
        assert_eq!(u.expires["c:2026-11:provider=ed:1:resource"], 99);
        assert_eq!(u.days().len(), 2);
        // A school's views become one hash a day, and have no month hash.
        let mut d = CountsDump::default();
        d.cells.insert(
            "c:2026-11-24:uai=0561641E:resource".into(),
            BTreeMap::from([("r:ark:/1".into(), 3)]),
        );
        d.cells.insert(
            "c:2026-11-24:all:total".into(),
            BTreeMap::from([("r:*".into(), 3)]),
        );
        d.visitors.insert(
            "v:2026-11-24:uai=0561641E:resource=ark:/1".into(),
            Visitors {
                count: 1,
                ..Visitors::default()
            },
        );
        let u = d.upgraded();
        assert_eq!(
            u.cells["c:2026-11-24:uai=0561641E"],
            BTreeMap::from([
                ("r:resource=ark:/1".into(), 3),
                ("u:resource=ark:/1".into(), 1)
            ])
        );
        assert!(u.cells.contains_key("c:2026-11:all:total"));
        assert_eq!(u.cells.len(), 3);
        // Today's dump is left as it is.
        assert_eq!(u.clone().upgraded(), u);
    }
}
