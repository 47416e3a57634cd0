//! The counting rules and the layout of the counts, shared by both stores.
//!
//! An event is counted once (by its id), whatever the number of deliveries. Counts are kept in
//! *views*: a scope (everything, one provider, one ENT project, one school) crossed with one
//! dimension to break down by, per day and, for every scope but a school, pre-aggregated per
//! month as the days are counted. Each count has three fields: `r:` (raw accesses), `f:`
//! (accesses after the COUNTER double-click filter) and `u:` (visitor-days: the distinct
//! visitors of the cell on the day, summed over the days of a month). The hashes
//! ([`hash_of`]): `c:<period>:<scope>:<by>` with fields `<kind>:<value>` for everything, a
//! provider and an ENT project (`<period>` is `YYYY-MM-DD` or `YYYY-MM`); one hash a day for a
//! school, `c:<day>:uai=<UAI>`, with fields `<kind>:<by>=<value>` (a school's views are small,
//! and one hash is cheaper to count into than five). Reports read hashes only, so the
//! ministry's month by school is one hash whatever the number of days.
//!
//! A visitor is a person in a school (as the GAR attributes every access to the school the
//! person chose): a teacher who opens resources in two schools on one day is a visitor of each,
//! in the school's figures and in the sums above them. A visitor is new to a cell when the cell
//! is not yet among those of the visitor's day ([`Tally`] keeps them as sets; the shared store
//! keeps, per visitor, school and day, one small hash of the day's cell tokens and last
//! clicks), which makes visitor counts exact. The double-click rule applies within a school.
//!
//! The shared store spreads the counts over [`PARTS`] partitions, by a hash of the school
//! ([`part_of`]), so that everything one school's events touch (their visitors' days and last
//! clicks, the school's hashes) is in one partition and partitions are counted independently,
//! side by side and, on a cluster, on different nodes. A report sums the partitions; a
//! school's row of a month by school is in one of them only. The Lua scripts `decide_events.lua`
//! and `apply_counts.lua` run these rules in one partition, in two steps (a batch's decisions,
//! then a window's summed counts: [`super::count_window`]); [`Tally`] is the in-process
//! version, and the contract tests hold both to the same figures.
//!
//! The double-click rule (COUNTER R5): two accesses by the same visitor to the same resource
//! less than 30 seconds apart count once, and the later one is the one kept (so its day and
//! dimensions carry the filtered count).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::audience_event::AudienceEvent;

/// The COUNTER double-click window.
pub const DOUBLE_CLICK_MS: i64 = 30_000;

/// Total, the `by` of a view that breaks nothing down.
pub const TOTAL: &str = "total";

/// The partitions of the shared store's counts. Fixed: a person's events must always land in
/// the same partition, and reports read every one.
pub const PARTS: u8 = 8;

/// The partition of a school's counts (FNV-1a of the UAI, modulo [`PARTS`]).
pub fn part_of(uai: &str) -> u8 {
    let h = u64::from_be_bytes(cell_token("uai", uai));
    (h % u64::from(PARTS)) as u8
}

/// How long a visitor's day of cells is kept: past the salt's life (48 hours after the day),
/// the day's late events get visitors of their own anyway.
pub const VISITOR_DAY_SECONDS: u64 = 3 * 24 * 3600;

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

/// The value of one dimension of an event (`*` for the total).
pub fn dim(e: &AudienceEvent, name: &str) -> String {
    match name {
        "resource" => e.resource.clone(),
        "provider" => e.provider.clone(),
        "uai" => e.uai.clone(),
        "ent" => e.ent.clone(),
        "profile" => e.profile.clone(),
        "channel" => e.channel.code().to_string(),
        "device" => e.device.code().to_string(),
        _ => "*".to_string(),
    }
}

/// The dimensions of an event, borrowed, in the order of [`DIMENSIONS`].
pub fn dims_of(e: &AudienceEvent) -> [&str; 7] {
    [
        &e.resource,
        &e.provider,
        &e.uai,
        &e.ent,
        &e.profile,
        e.channel.code(),
        e.device.code(),
    ]
}

/// A cell of [`VIEWS`]: its scope dimension and its place in [`DIMENSIONS`], its `by` and its
/// place.
pub type ViewPlace = (&'static str, Option<usize>, &'static str, Option<usize>);

/// The cells of [`VIEWS`], flattened (the order of [`cells_of`]): each its scope dimension
/// and its `by`, with their places in [`DIMENSIONS`] (`None`: everything, or the total).
pub fn view_places() -> Vec<ViewPlace> {
    let place = |name: &str| DIMENSIONS.iter().position(|d| *d == name);
    VIEWS
        .iter()
        .flat_map(|(scope, bys)| bys.iter().map(move |by| (*scope, *by)))
        .map(|(scope, by)| (scope, place(scope), by, place(by)))
        .collect()
}

/// The scope part of a key: `all`, or `<dimension>=<value>`.
pub fn scope_part(scope_dim: &str, value: Option<&str>) -> String {
    match value {
        Some(v) if scope_dim != "all" => format!("{scope_dim}={v}"),
        _ => "all".to_string(),
    }
}

/// The counts hash of one view for one period (a day `YYYY-MM-DD` or a month `YYYY-MM`).
pub fn counts_key(period: &str, scope: &str, by: &str) -> String {
    format!("c:{period}:{scope}:{by}")
}

/// Whether a scope's counts are pre-aggregated per month (a school's are not: its month is
/// read from its days, a month of one school's hashes being small).
pub fn has_months(scope: &str) -> bool {
    !scope.starts_with("uai=")
}

/// The hash holding a view's counts for a period, and what the field's name holds before the
/// value (after `r:`, `f:` or `u:`): see the module's documentation.
pub fn hash_of(period: &str, scope: &str, by: &str) -> (String, String) {
    if has_months(scope) {
        (counts_key(period, scope, by), String::new())
    } else {
        (format!("c:{period}:{scope}"), format!("{by}="))
    }
}

/// The hash and field of a cell (a view `<scope>:<by>` of [`cells_of`] and its value) for a
/// period: (key, field without its kind).
pub fn cell_of(period: &str, view: &str, value: &str) -> (String, String) {
    let (scope, by) = view.rsplit_once(':').unwrap_or((view, TOTAL));
    let (key, prefix) = hash_of(period, scope, by);
    (key, format!("{prefix}{value}"))
}

/// The month of a day, as the period of its month's hashes (`YYYY-MM`).
pub fn month_of(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// The month hash of a day hash's key (`c:YYYY-MM-DD:…` → `c:YYYY-MM:…`), `None` for a key
/// that is not a day's or whose scope has no month hashes.
pub fn month_key_of(day_key: &str) -> Option<String> {
    let rest = day_key.strip_prefix("c:")?;
    let (period, view) = rest.split_once(':')?;
    (period.len() == 10 && period.as_bytes().get(7) == Some(&b'-') && has_months(view))
        .then(|| format!("c:{}:{view}", &period[..7]))
}

/// The cells an event falls in, as (`<scope>:<by>`, value), day left out: the counts hash is
/// `c:<period>:` before the view.
pub fn cells_of(e: &AudienceEvent) -> Vec<(String, String)> {
    let dims = dims_of(e);
    let get = |name: &str| {
        DIMENSIONS
            .iter()
            .position(|d| *d == name)
            .map_or("*", |i| dims[i])
    };
    let mut out = Vec::with_capacity(25);
    for (scope_dim, bys) in VIEWS {
        let scope = if *scope_dim == "all" {
            "all".to_string()
        } else {
            scope_part(scope_dim, Some(get(scope_dim)))
        };
        for by in *bys {
            out.push((format!("{scope}:{by}"), get(by).to_string()));
        }
    }
    out
}

/// A click as the shared store keeps the last one of a visitor on a resource, so that a later
/// click can take its filtered count back: `t|day|` and the dimensions, `|`-separated.
pub fn click_record(e: &AudienceEvent) -> String {
    let mut record = format!("{}|{}", e.t, e.day);
    for d in dims_of(e) {
        record.push('|');
        record.push_str(d);
    }
    record
}

/// The day and dimensions of a [`click_record`].
pub fn parse_click_record(record: &str) -> Option<(NaiveDate, [String; 7])> {
    let mut parts = record.split('|');
    let _t = parts.next()?;
    let day = parts.next()?.parse().ok()?;
    let dims: Vec<String> = parts.map(str::to_string).collect();
    Some((day, dims.try_into().ok()?))
}

/// A cell's token in a visitor's day of cells (the shared store's): 8 bytes of FNV-1a over
/// `<scope>:<by>=<value>`, stable across versions and nodes. A visitor's day holds some fifty
/// cells, so two sharing a token (a visitor-day missed) is a one-in-10^14 event.
pub fn cell_token(view: &str, value: &str) -> [u8; 8] {
    fnv(&[view.as_bytes(), b"=", value.as_bytes()])
}

/// FNV-1a (64 bits) of the pieces one after the other, as 8 bytes.
pub fn fnv(pieces: &[&[u8]]) -> [u8; 8] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pieces.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.to_be_bytes()
}

/// What one call to count a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Events counted for the first time.
    pub new: u64,
    /// Events already counted (redeliveries), ignored.
    pub duplicates: u64,
}

impl std::ops::AddAssign for Counted {
    fn add_assign(&mut self, o: Self) {
        self.new += o.new;
        self.duplicates += o.duplicates;
    }
}

/// A counted id as a backup carries it: the id, with its partition before a `/` when it is
/// not the first (ids never hold a `/`).
pub fn counted_entry(part: u8, id: &str) -> String {
    if part == 0 {
        id.to_string()
    } else {
        format!("{part}/{id}")
    }
}

/// The partition and id of a backup's counted entry.
pub fn counted_from_entry(entry: &str) -> (u8, &str) {
    match entry.split_once('/') {
        Some((p, id)) => match p.parse::<u8>() {
            Ok(p) if p < PARTS => (p, id),
            _ => (0, entry),
        },
        None => (0, entry),
    }
}

/// The in-process counts (the memory store's).
#[derive(Debug, Default)]
pub struct Tally {
    counts: HashMap<String, HashMap<String, i64>>,
    /// `<day>|<visitor>|<uai>` → the cells (`<scope>:<by>=<value>`) the visitor has on that
    /// day in that school.
    met: HashMap<String, HashSet<String>>,
    /// Event id → (its time, its partition), for idempotency.
    seen: HashMap<String, (i64, u8)>,
    /// `visitor|uai|resource` → the last access kept by the double-click rule.
    last: HashMap<String, AudienceEvent>,
}

/// Seen ids, last clicks and visitor-days older than this (before the newest event) are
/// forgotten.
pub const FORGET_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;

impl Tally {
    /// Adds `delta` to the `kind` count of a cell, on the event's day and month.
    fn bump(&mut self, day: NaiveDate, view: &str, kind: &str, value: &str, delta: i64) {
        let scope = view.rsplit_once(':').map_or(view, |(s, _)| s);
        let month = has_months(scope).then(|| month_of(day));
        for period in std::iter::once(day.to_string()).chain(month) {
            let (key, field) = cell_of(&period, view, value);
            *self
                .counts
                .entry(key)
                .or_default()
                .entry(format!("{kind}:{field}"))
                .or_insert(0) += delta;
        }
    }

    fn filtered(&mut self, e: &AudienceEvent, delta: i64) {
        for (view, value) in cells_of(e) {
            self.bump(e.day, &view, "f", &value, delta);
        }
    }

    /// Counts a batch, in order.
    pub fn count(&mut self, events: &[AudienceEvent]) -> Counted {
        let mut out = Counted::default();
        for e in events {
            if self.seen.contains_key(&e.id) {
                out.duplicates += 1;
                continue;
            }
            self.seen.insert(e.id.clone(), (e.t, e.part));
            out.new += 1;
            let met_key = format!("{}|{}|{}", e.day, e.visitor, e.uai);
            for (view, value) in cells_of(e) {
                self.bump(e.day, &view, "r", &value, 1);
                let cell = format!("{view}={value}");
                if self.met.entry(met_key.clone()).or_default().insert(cell) {
                    self.bump(e.day, &view, "u", &value, 1);
                }
            }
            let here = format!("{}|{}|{}", e.visitor, e.uai, e.resource);
            let last = self.last.get(&here).cloned().or_else(|| {
                e.visitor_prev.as_ref().and_then(|p| {
                    self.last
                        .get(&format!("{p}|{}|{}", e.uai, e.resource))
                        .cloned()
                })
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
        let newest = self.seen.values().map(|(t, _)| *t).max().unwrap_or(0);
        self.seen.retain(|_, (t, _)| newest - *t < FORGET_AFTER_MS);
        self.last.retain(|_, e| newest - e.t < FORGET_AFTER_MS);
        let oldest_day = DateTime::<Utc>::from_timestamp_millis(newest - FORGET_AFTER_MS)
            .map(|t| t.date_naive().to_string())
            .unwrap_or_default();
        self.met.retain(|k, _| {
            k.split('|')
                .next()
                .is_some_and(|d| d >= oldest_day.as_str())
        });
    }

    /// The fields of one counts hash.
    pub fn cells(&self, key: &str) -> HashMap<String, i64> {
        self.counts.get(key).cloned().unwrap_or_default()
    }

    /// Whether anything is counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Every counts hash, by its key.
    pub fn counts(&self) -> &HashMap<String, HashMap<String, i64>> {
        &self.counts
    }

    /// Every counted id, with its event's time and partition.
    pub fn counted(&self) -> impl Iterator<Item = (&str, i64, u8)> {
        self.seen.iter().map(|(id, (t, p))| (id.as_str(), *t, *p))
    }

    /// Adds `n` to a field of a counts hash (a restore).
    pub fn add(&mut self, key: &str, field: &str, n: i64) {
        *self
            .counts
            .entry(key.to_string())
            .or_default()
            .entry(field.to_string())
            .or_insert(0) += n;
    }

    /// Remembers an id as counted (a restore).
    pub fn remember(&mut self, id: &str, t: i64, part: u8) {
        self.seen.insert(id.to_string(), (t, part));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_key_has_its_month_key() {
        assert_eq!(
            month_key_of("c:2026-11-24:provider=ed:resource").as_deref(),
            Some("c:2026-11:provider=ed:resource")
        );
        assert_eq!(month_key_of("c:2026-11-24:uai=0561641E"), None);
        assert_eq!(month_key_of("c:2026-11:all:total"), None);
        assert_eq!(month_key_of("v:2026-11-24:all:total=*"), None);
    }

    #[test]
    fn a_school_has_one_hash_a_day() {
        assert_eq!(
            cell_of("2026-11-24", "uai=0561641E:resource", "ark:/1"),
            ("c:2026-11-24:uai=0561641E".into(), "resource=ark:/1".into())
        );
        assert_eq!(
            cell_of("2026-11", "all:uai", "0561641E"),
            ("c:2026-11:all:uai".into(), "0561641E".into())
        );
    }

    #[test]
    fn counted_entries_carry_their_partition() {
        assert_eq!(counted_from_entry(&counted_entry(0, "abc")), (0, "abc"));
        assert_eq!(counted_from_entry(&counted_entry(5, "abc")), (5, "abc"));
        // A `/` that does not name a partition is part of the id (never written so).
        assert_eq!(counted_from_entry("99/abc"), (0, "99/abc"));
    }

    #[test]
    fn a_click_record_gives_back_its_day_and_dimensions() {
        let dims = DIMENSIONS.map(|d| format!("{d}-value"));
        let record = format!("1764000000000|2026-11-24|{}", dims.join("|"));
        let (day, got) = parse_click_record(&record).unwrap();
        assert_eq!(day.to_string(), "2026-11-24");
        assert_eq!(got, dims);
        // A record missing a dimension is not read.
        assert_eq!(parse_click_record("1|2026-11-24|a|b"), None);
        assert_eq!(parse_click_record("1|not-a-day|a|b|c|d|e|f|g"), None);
    }

    #[test]
    fn view_places_follow_the_cells_of_an_event() {
        let e: AudienceEvent = serde_json::from_value(serde_json::json!({
            "id": "x", "at": "2026-11-24T08:00:00Z", "t": 1, "day": "2026-11-24",
            "resource": "ark:/1", "provider": "ed", "uai": "0561641E", "ent": "E1",
            "profile": "National_elv", "channel": "app", "device": "tablet",
            "service": "S", "outil": "O", "visitor": "v"
        }))
        .unwrap();
        let dims = dims_of(&e);
        let from_places: Vec<(String, String)> = view_places()
            .into_iter()
            .map(|(scope, sp, by, bp)| {
                let scope = sp.map_or("all".to_string(), |i| format!("{scope}={}", dims[i]));
                (
                    format!("{scope}:{by}"),
                    bp.map_or("*", |i| dims[i]).to_string(),
                )
            })
            .collect();
        assert_eq!(from_places, cells_of(&e));
        assert_eq!(
            dims,
            DIMENSIONS
                .map(|d| dim(&e, d))
                .each_ref()
                .map(String::as_str)
        );
    }

    #[test]
    fn cell_tokens_tell_cells_apart() {
        let a = cell_token("all:resource", "ark:/1");
        assert_eq!(a, cell_token("all:resource", "ark:/1"));
        assert_ne!(a, cell_token("all:resource", "ark:/2"));
        assert_ne!(cell_token("all:uai", "x"), cell_token("all:ua", "i=x"));
    }
}
