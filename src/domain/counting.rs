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

use std::collections::{HashMap, HashSet};

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

/// The in-process counts (the memory store's).
#[derive(Debug, Default)]
pub struct Tally {
    counts: HashMap<String, HashMap<String, i64>>,
    visitors: HashMap<String, HashSet<String>>,
    /// Event id → its time, for idempotency.
    seen: HashMap<String, i64>,
    /// `visitor|resource` → the last access kept by the double-click rule.
    last: HashMap<String, AudienceEvent>,
}

/// Seen ids and last clicks older than this (before the newest event) are forgotten.
const FORGET_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;

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

    /// The number of distinct visitors of one cell.
    pub fn distinct(&self, key: &str) -> u64 {
        self.visitors.get(key).map_or(0, |s| s.len() as u64)
    }
}
