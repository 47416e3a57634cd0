//! What a counter holds between the two steps of counting in the shared store: deciding a
//! batch (which events are new, which clicks the double-click rule keeps, which cells get a new
//! visitor: [`super::counting`]'s rules) and applying a window of decided batches at once.
//! Per partition, the tokens of the batches whose decisions a window carries and the
//! increments of each cell (a view's value on a day), summed over the window, so that a cell
//! many events touch (a provider's day, a resource's month) is written once per window, not
//! once per event. Cells are kept by a compact key and turned into counts hashes and fields
//! once, when the window is applied ([`PartWindow::writes`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;

use super::counting::{cell_of, has_months, month_of, view_places, Counted, ViewPlace};

/// What a window adds to one cell: raw accesses, accesses after the double-click filter,
/// visitor-days (the `r:`, `f:` and `u:` counts).
pub type Deltas = [i64; 3];

/// The cells of an event, in order (see [`view_places`]).
pub static VIEWS: LazyLock<Vec<ViewPlace>> = LazyLock::new(view_places);

/// Separates the parts of a cell's key (never in a day, a view's number or a dimension's
/// value as events carry them).
const SEP: char = '\u{1f}';

/// One partition's share of a window.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartWindow {
    /// The batches decided (each a token the store knows them by).
    pub tokens: Vec<String>,
    /// A cell's key (`<day>␟<view>␟<scope value>␟<value>`) → its increments.
    pub cells: FxHashMap<String, Deltas>,
}

impl PartWindow {
    /// Adds to a cell: view `view` of [`VIEWS`], `scope` the value of its scope dimension
    /// (empty for everything), `value` that of its `by`. `key` is a buffer, reused so that a
    /// cell already in the window costs no allocation.
    pub fn add(
        &mut self,
        key: &mut String,
        day: &str,
        view: usize,
        scope: &str,
        value: &str,
        d: Deltas,
    ) {
        if d == [0; 3] {
            return;
        }
        key.clear();
        key.push_str(day);
        key.push(SEP);
        key.push(char::from(b'a' + view as u8));
        key.push(SEP);
        key.push_str(scope);
        key.push(SEP);
        key.push_str(value);
        let here = match self.cells.get_mut(key.as_str()) {
            Some(v) => v,
            None => self.cells.entry(key.clone()).or_default(),
        };
        for (h, n) in here.iter_mut().zip(d) {
            *h += n;
        }
    }

    /// The fields to write, hash by hash: each cell in its day's hash and, but for a
    /// school's, in its month's (cells whose increments summed to nothing left out).
    pub fn writes(&self) -> Vec<(String, Vec<(String, Deltas)>)> {
        let mut by_hash: FxHashMap<String, FxHashMap<String, Deltas>> = FxHashMap::default();
        let mut put = |hash: String, field: &str, d: &Deltas| {
            let here = by_hash
                .entry(hash)
                .or_default()
                .entry(field.to_string())
                .or_default();
            for (h, n) in here.iter_mut().zip(d) {
                *h += n;
            }
        };
        for (key, d) in self.cells.iter().filter(|(_, d)| **d != [0; 3]) {
            let mut parts = key.split(SEP);
            let (Some(day), Some(view), Some(scope), Some(value)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some((scope_dim, sp, by, _)) = view
                .bytes()
                .next()
                .and_then(|v| VIEWS.get(usize::from(v.wrapping_sub(b'a'))))
            else {
                continue;
            };
            let scope = match sp {
                Some(_) => format!("{scope_dim}={scope}"),
                None => "all".to_string(),
            };
            let view_name = format!("{scope}:{by}");
            let (hash, field) = cell_of(day, &view_name, value);
            // The days of a month share its hash's field: summed here, written once.
            if has_months(&scope) {
                if let Ok(day) = day.parse::<NaiveDate>() {
                    put(cell_of(&month_of(day), &view_name, value).0, &field, d);
                }
            }
            put(hash, &field, d);
        }
        by_hash
            .into_iter()
            .map(|(hash, fields)| {
                let fields = fields.into_iter().filter(|(_, d)| *d != [0; 3]).collect();
                (hash, fields)
            })
            .collect()
    }
}

/// Batches decided and not yet applied: what applying them will count.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The events decided: new ones and duplicates.
    pub counted: Counted,
    /// By partition; empty when the store applied as it decided (the memory store).
    pub parts: BTreeMap<u8, PartWindow>,
}

impl Decided {
    /// Cells the window will write (each in one hash or two).
    pub fn cells(&self) -> usize {
        self.parts.values().map(|w| w.cells.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(scope: &str, by: &str) -> usize {
        VIEWS
            .iter()
            .position(|(s, _, b, _)| *s == scope && *b == by)
            .unwrap()
    }

    #[test]
    fn a_window_sums_its_batches_cell_by_cell_and_writes_days_and_months() {
        let mut buf = String::new();
        let day = "2026-11-24";
        let mut w = Decided::default();
        let p = w.parts.entry(3).or_default();
        // A first batch...
        p.add(&mut buf, day, view("all", "total"), "", "*", [2, 1, 0]);
        p.add(&mut buf, day, view("all", "uai"), "", "0561641E", [0, 0, 0]);
        p.tokens.push("t1".into());
        // ...and a second.
        p.add(&mut buf, day, view("all", "total"), "", "*", [3, 3, 1]);
        p.add(
            &mut buf,
            day,
            view("uai", "resource"),
            "0561641E",
            "ark:/1",
            [1, 1, 1],
        );
        p.add(
            &mut buf,
            day,
            view("provider", "resource"),
            "ed",
            "ark:/1",
            [1, 1, 0],
        );
        p.add(
            &mut buf,
            day,
            view("provider", "resource"),
            "ed",
            "ark:/1",
            [0, -1, 0],
        );
        let next_day = "2026-11-25";
        p.add(&mut buf, next_day, view("all", "total"), "", "*", [1, 1, 1]);
        p.tokens.push("t2".into());
        // A zero increment makes no cell.
        assert_eq!(w.cells(), 4);
        let mut writes = w.parts[&3].writes();
        writes.sort();
        for (_, f) in writes.iter_mut() {
            f.sort();
        }
        let w_ = |h: &str, f: &str, d: Deltas| (h.to_string(), vec![(f.to_string(), d)]);
        assert_eq!(
            writes,
            [
                w_("c:2026-11-24:all:total", "*", [5, 4, 1]),
                w_("c:2026-11-24:provider=ed:resource", "ark:/1", [1, 0, 0]),
                // A school's cells have no month hash, and are in the school's one hash.
                w_("c:2026-11-24:uai=0561641E", "resource=ark:/1", [1, 1, 1]),
                w_("c:2026-11-25:all:total", "*", [1, 1, 1]),
                // Two days of a month in one field of its hash.
                w_("c:2026-11:all:total", "*", [6, 5, 2]),
                w_("c:2026-11:provider=ed:resource", "ark:/1", [1, 0, 0]),
            ]
        );
    }
}
