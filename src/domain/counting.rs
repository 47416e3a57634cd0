//! The counting rules and the layout of the counts, shared by both stores.
//!
//! An event is counted once (by its id), whatever the number of deliveries. For each day,
//! counts are kept in *views*: a scope (everything, one provider, one ENT project, one school)
//! crossed with one dimension to break down by. A view is a hash `c:<day>:<scope>:<by>` with
//! fields `r:<value>` (raw accesses) and `f:<value>` (accesses after the COUNTER double-click
//! filter); the distinct visitors of each cell are a set (a HyperLogLog in the shared
//! store) `v:<day>:<scope>:<by>=<value>`. The shared store runs the same rules in one Lua
//! script (`count_events.lua`); [`Tally`] is the in-process version, and the contract tests
//! hold both to the same figures.
//!
//! The double-click rule (COUNTER R5): two accesses by the same visitor to the same resource
//! less than 30 seconds apart count once, and the later one is the one kept (so its day and
//! dimensions carry the filtered count).
//!
//! A backup carries the counts as a [`CountsDump`]: the counts hashes and visitor sets by
//! their key (whatever the layout) and the ids already counted, so that counting goes on after
//! a restore as it would have without one. Never the day salts: they are destroyed 48 hours
//! after their day, and a backup must not outlive that promise (a restored store draws new
//! ones, so the visitors of the restore's days may count twice).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audience_event::AudienceEvent;

/// The COUNTER double-click window.
pub const DOUBLE_CLICK_MS: i64 = 30_000;

/// Total, the `by` of a view that breaks nothing down.
pub const TOTAL: &str = "total";

/// Every view kept: (scope dimension, the dimensions it is broken down by).
pub const VIEWS: &[(&str, &[&str])] = &[
    (
        "all",
        &[
            TOTAL, "resource", "provider", "uai", "ent", "profile", "channel", "device",
        ],
    ),
    (
        "provider",
        &[TOTAL, "resource", "uai", "profile", "channel", "device"],
    ),
    (
        "ent",
        &[TOTAL, "resource", "uai", "profile", "channel", "device"],
    ),
    ("uai", &[TOTAL, "resource", "profile", "channel", "device"]),
];

/// The dimensions of an event, in the order the Lua script receives them.
pub const DIMENSIONS: [&str; 7] = [
    "resource", "provider", "uai", "ent", "profile", "channel", "device",
];

/// The views as the JSON the Lua script reads.
pub fn views_json() -> String {
    serde_json::to_string(VIEWS).unwrap_or_default()
}

/// The value of one dimension of an event (`*` for the total).
pub fn dim(e: &AudienceEvent, name: &str) -> String {
    match name {
        "resource" => e.resource.clone(),
        "provider" => e.provider.clone(),
        "uai" => e.uai.clone(),
        "ent" => e.ent.clone(),
        "profile" => e.profile.clone(),
        "channel" => serde_plain(&e.channel),
        "device" => e.device.code().to_string(),
        _ => "*".to_string(),
    }
}

fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The scope part of a key: `all`, or `<dimension>=<value>`.
pub fn scope_part(scope_dim: &str, value: Option<&str>) -> String {
    match value {
        Some(v) if scope_dim != "all" => format!("{scope_dim}={v}"),
        _ => "all".to_string(),
    }
}

/// The counts hash of one view on one day.
pub fn counts_key(day: &str, scope: &str, by: &str) -> String {
    format!("c:{day}:{scope}:{by}")
}

/// The visitor set of one cell.
pub fn visitors_key(day: &str, scope: &str, by: &str, value: &str) -> String {
    format!("v:{day}:{scope}:{by}={value}")
}

/// The cells an event falls in, as (`<day>:<scope>:<by>`, value): the counts hash is that
/// view with `c:` before it, the visitor set the cell with `v:` before it and `=<value>` after.
pub fn cells_of(e: &AudienceEvent) -> Vec<(String, String)> {
    let day = e.day.to_string();
    let mut out = Vec::with_capacity(32);
    for (scope_dim, bys) in VIEWS {
        let scope = if *scope_dim == "all" {
            "all".to_string()
        } else {
            scope_part(scope_dim, Some(&dim(e, scope_dim)))
        };
        for by in *bys {
            out.push((format!("{day}:{scope}:{by}"), dim(e, by)));
        }
    }
    out
}

/// Calls `f(counts key, value, visitors key)` for every cell an event falls in.
fn each_cell(e: &AudienceEvent, mut f: impl FnMut(String, String, String)) {
    for (view, value) in cells_of(e) {
        let vk = format!("v:{view}={value}");
        f(format!("c:{view}"), value, vk);
    }
}

/// What one call to count a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Events counted for the first time.
    pub new: u64,
    /// Events already counted (redeliveries), ignored.
    pub duplicates: u64,
}

/// The counts of a store as a backup carries them (`store::backup`), the same from either
/// store, so that they move between the memory store, a Redis and a Redis Cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsDump {
    /// Every counts hash by its key below the audience family (`c:<day>:<scope>:<by>` today),
    /// its fields as [`Tally::cells`] and `audience_cells` read them (`r:<v>`, `f:<v>`).
    pub cells: BTreeMap<String, BTreeMap<String, i64>>,
    /// Every visitor set by its key (`v:<day>:<scope>:<by>=<value>` today).
    pub visitors: BTreeMap<String, Visitors>,
    /// When keys of `cells` and `visitors` expire (milliseconds since the epoch), for a store
    /// that keeps them a limited time (Redis: `audience.retention_days` after their first
    /// count); a key absent here is kept `audience.retention_days` from its import.
    pub expires: BTreeMap<String, i64>,
    /// The ids of the events already counted, each with when it may be forgotten
    /// (milliseconds since the epoch): a redelivery after the restore still counts once.
    pub counted: BTreeMap<String, i64>,
}

impl CountsDump {
    /// Whether there is no count at all.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.visitors.is_empty()
    }

    /// The days the counts hashes cover (the second part of their key).
    pub fn days(&self) -> BTreeSet<&str> {
        self.cells
            .keys()
            .filter_map(|k| k.split(':').nth(1))
            .collect()
    }
}

/// One visitor set: the memory store keeps its members, Redis a HyperLogLog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visitors {
    /// The distinct visitors, as `audience_visitors` answered at the export.
    pub count: u64,
    /// The members the store knows (the memory store's sets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// A Redis HyperLogLog, its string value in hex (`GET`, restored by `SET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hll: Option<String>,
}

/// The in-process counts (the memory store's).
#[derive(Debug, Default)]
pub struct Tally {
    counts: HashMap<String, HashMap<String, i64>>,
    visitors: HashMap<String, HashSet<String>>,
    /// Visitor sets restored from a Redis HyperLogLog: its count, less the members known
    /// beside it, and its value (hex), given back at the next export.
    estimated: HashMap<String, (u64, String)>,
    /// Event id → its time, for idempotency.
    seen: HashMap<String, i64>,
    /// `visitor|resource` → the last access kept by the double-click rule.
    last: HashMap<String, AudienceEvent>,
}

/// Seen ids and last clicks older than this (before the newest event) are forgotten.
pub const FORGET_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;

impl Tally {
    fn bump(&mut self, key: String, field: String, delta: i64) {
        *self
            .counts
            .entry(key)
            .or_default()
            .entry(field)
            .or_insert(0) += delta;
    }

    fn filtered(&mut self, e: &AudienceEvent, delta: i64) {
        each_cell(e, |k, v, _| self.bump(k, format!("f:{v}"), delta));
    }

    /// Counts a batch, in order.
    pub fn count(&mut self, events: &[AudienceEvent]) -> Counted {
        let mut out = Counted::default();
        for e in events {
            if self.seen.contains_key(&e.id) {
                out.duplicates += 1;
                continue;
            }
            self.seen.insert(e.id.clone(), e.t);
            out.new += 1;
            each_cell(e, |k, v, hk| {
                self.bump(k, format!("r:{v}"), 1);
                self.visitors
                    .entry(hk)
                    .or_default()
                    .insert(e.visitor.clone());
            });
            let here = format!("{}|{}", e.visitor, e.resource);
            let last = self.last.get(&here).cloned().or_else(|| {
                e.visitor_prev
                    .as_ref()
                    .and_then(|p| self.last.get(&format!("{p}|{}", e.resource)).cloned())
            });
            let mut kept = true;
            if let Some(l) = last.filter(|l| (e.t - l.t).abs() < DOUBLE_CLICK_MS) {
                if e.t > l.t {
                    // The later click is the one kept: its day and dimensions carry the count.
                    self.filtered(&l, -1);
                } else {
                    kept = false;
                }
            }
            if kept {
                self.filtered(e, 1);
                self.last.insert(here, e.clone());
            }
        }
        self.forget_old();
        out
    }

    fn forget_old(&mut self) {
        if self.seen.len() < 1_000_000 {
            return;
        }
        let newest = self.seen.values().copied().max().unwrap_or(0);
        self.seen.retain(|_, t| newest - *t < FORGET_AFTER_MS);
        self.last.retain(|_, e| newest - e.t < FORGET_AFTER_MS);
    }

    /// The fields of one counts hash.
    pub fn cells(&self, key: &str) -> HashMap<String, i64> {
        self.counts.get(key).cloned().unwrap_or_default()
    }

    /// The number of distinct visitors of one cell. A set restored from a HyperLogLog adds
    /// the members counted since to the HyperLogLog's count (one of them may be counted twice:
    /// the memory store cannot tell whether the HyperLogLog holds it).
    pub fn distinct(&self, key: &str) -> u64 {
        self.visitors.get(key).map_or(0, |s| s.len() as u64)
            + self.estimated.get(key).map_or(0, |(n, _)| *n)
    }

    /// Whether anything is counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.visitors.is_empty() && self.estimated.is_empty()
    }

    /// The counts, visitor sets and counted ids, for a backup (salts are the store's). The
    /// tally forgets ids by the newest event's time, not the clock: each one is given
    /// [`FORGET_AFTER_MS`] from `now` (or from its event, if later).
    pub fn dump(&self, now: DateTime<Utc>) -> CountsDump {
        let cells = self
            .counts
            .iter()
            .map(|(k, fields)| {
                (
                    k.clone(),
                    fields.iter().map(|(f, n)| (f.clone(), *n)).collect(),
                )
            })
            .collect();
        let keys: BTreeSet<&String> = self.visitors.keys().chain(self.estimated.keys()).collect();
        let visitors = keys
            .into_iter()
            .map(|k| {
                let mut members: Vec<String> = self
                    .visitors
                    .get(k)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                members.sort();
                let v = Visitors {
                    count: self.distinct(k),
                    members,
                    hll: self.estimated.get(k).map(|(_, h)| h.clone()),
                };
                (k.clone(), v)
            })
            .collect();
        let counted = self
            .seen
            .iter()
            .map(|(id, t)| (id.clone(), now.timestamp_millis().max(*t) + FORGET_AFTER_MS))
            .collect();
        CountsDump {
            cells,
            visitors,
            counted,
            ..CountsDump::default()
        }
    }

    /// Adds a backup's counts, visitor sets and counted ids.
    pub fn restore(&mut self, dump: &CountsDump) {
        for (k, fields) in &dump.cells {
            let here = self.counts.entry(k.clone()).or_default();
            for (f, n) in fields {
                *here.entry(f.clone()).or_insert(0) += n;
            }
        }
        for (k, v) in &dump.visitors {
            let set = self.visitors.entry(k.clone()).or_default();
            set.extend(v.members.iter().cloned());
            if let Some(hll) = &v.hll {
                let beside = v.count.saturating_sub(v.members.len() as u64);
                self.estimated.insert(k.clone(), (beside, hll.clone()));
            }
        }
        for (id, forget_at) in &dump.counted {
            self.seen.insert(id.clone(), forget_at - FORGET_AFTER_MS);
        }
    }
}
