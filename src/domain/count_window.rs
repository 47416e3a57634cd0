//! What a counter holds between the two steps of counting in the shared store: deciding a
//! batch (which events are new, which clicks the double-click rule keeps, which cells get a new
//! visitor: [`super::counting`]'s rules) and applying a window of decided batches at once.
//! Per partition, the tokens of the batches whose decisions a window carries and the
//! increments of the counts hashes, summed over the window, so that a field many events touch
//! (a provider's day, a resource's month) is written once per window, not once per event.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::counting::Counted;

/// What a window adds to one field of a counts hash (after its kind): raw accesses, accesses
/// after the double-click filter, visitor-days (the `r:`, `f:` and `u:` fields).
pub type Deltas = [i64; 3];

/// One partition's share of a window.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartWindow {
    /// The batches decided (each a token the store knows them by).
    pub tokens: Vec<String>,
    /// Counts hash (its name in the partition) → field after its kind → increments.
    pub counts: FxHashMap<String, FxHashMap<String, Deltas>>,
}

impl PartWindow {
    /// Adds to a field of a counts hash.
    pub fn add(&mut self, key: &str, field: &str, d: Deltas) {
        if d == [0; 3] {
            return;
        }
        let fields = match self.counts.get_mut(key) {
            Some(f) => f,
            None => self.counts.entry(key.to_string()).or_default(),
        };
        let here = match fields.get_mut(field) {
            Some(v) => v,
            None => fields.entry(field.to_string()).or_default(),
        };
        for (h, n) in here.iter_mut().zip(d) {
            *h += n;
        }
    }

    fn merge(&mut self, other: PartWindow) {
        self.tokens.extend(other.tokens);
        if self.counts.is_empty() {
            self.counts = other.counts;
            return;
        }
        for (key, fields) in other.counts {
            for (f, d) in fields {
                self.add(&key, &f, d);
            }
        }
    }

    /// The fields to write, hash by hash (those whose increments summed to nothing left
    /// out).
    pub fn writes(&self) -> impl Iterator<Item = (&str, Vec<(&str, Deltas)>)> {
        self.counts.iter().map(|(key, fields)| {
            let out = fields
                .iter()
                .filter(|(_, d)| **d != [0; 3])
                .map(|(f, d)| (f.as_str(), *d))
                .collect();
            (key.as_str(), out)
        })
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
    /// Events a store counted as it decided them: nothing left to apply.
    pub fn applied(counted: Counted) -> Self {
        Self {
            counted,
            parts: BTreeMap::new(),
        }
    }

    /// Adds a later batch's decisions to a window.
    pub fn merge(&mut self, other: Decided) {
        self.counted += other.counted;
        for (part, w) in other.parts {
            self.parts.entry(part).or_default().merge(w);
        }
    }

    /// Fields the window will write (one per hash and field).
    pub fn fields(&self) -> usize {
        self.parts
            .values()
            .flat_map(|w| w.writes())
            .map(|(_, f)| f.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_sums_its_batches_field_by_field() {
        let mut a = PartWindow::default();
        a.add("c:2026-11-24:all:total", "*", [2, 1, 0]);
        a.add("c:2026-11-24:all:uai", "0561641E", [0, 0, 0]);
        a.tokens.push("t1".into());
        let mut b = PartWindow::default();
        b.add("c:2026-11-24:all:total", "*", [3, 3, 1]);
        b.add("c:2026-11:all:total", "*", [0, -1, 0]);
        b.tokens.push("t2".into());
        let mut w = Decided {
            counted: Counted {
                new: 2,
                duplicates: 0,
            },
            parts: BTreeMap::from([(3, a)]),
        };
        w.merge(Decided {
            counted: Counted {
                new: 3,
                duplicates: 1,
            },
            parts: BTreeMap::from([(3, b), (5, PartWindow::default())]),
        });
        let p = &w.parts[&3];
        assert_eq!(p.tokens, ["t1", "t2"]);
        assert_eq!(p.counts["c:2026-11-24:all:total"]["*"], [5, 4, 1]);
        // A zero increment writes nothing.
        assert!(!p.counts.contains_key("c:2026-11-24:all:uai"));
        let mut writes: Vec<(&str, Vec<(&str, Deltas)>)> = p.writes().collect();
        writes.sort();
        assert_eq!(
            writes,
            [
                ("c:2026-11-24:all:total", vec![("*", [5, 4, 1])]),
                ("c:2026-11:all:total", vec![("*", [0, -1, 0])]),
            ]
        );
        assert_eq!(w.counted.new, 5);
        assert_eq!(w.counted.duplicates, 1);
        assert_eq!(w.fields(), 2);
    }
}
