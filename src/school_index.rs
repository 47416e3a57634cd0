//! The ENT chooser's school search: every school's name and UAI held in this node's memory,
//! rebuilt from the store when older than `limits.chooser_refresh_seconds`. A query scans
//! the index (names folded once, at build time), never reads every school from the store;
//! one rebuild runs at a time and the others meanwhile answer from the previous index.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::domain::{IdEnt, Uai};
use crate::store::{Store, StoreResult};

/// One school as the chooser shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub uai: Uai,
    pub name: String,
    pub ent: IdEnt,
    folded: String,
}

#[derive(Clone)]
struct Built {
    at: DateTime<Utc>,
    entries: Arc<Vec<Entry>>,
}

/// The index of one node.
pub struct SchoolIndex {
    refresh: chrono::Duration,
    built: RwLock<Option<Built>>,
    rebuilding: tokio::sync::Mutex<()>,
}

/// Lower case, without the accents of French names, `œ` and `æ` spelt out: `Élodie` and
/// `elodie` find the same school.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'î' | 'ï' | 'í' | 'ì' => out.push('i'),
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => out.push('o'),
            'ù' | 'û' | 'ü' | 'ú' => out.push('u'),
            'ÿ' | 'ý' => out.push('y'),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            '’' | '\'' | '-' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl SchoolIndex {
    pub fn new(refresh: std::time::Duration) -> Self {
        Self {
            refresh: chrono::Duration::from_std(refresh).unwrap_or(chrono::Duration::MAX),
            built: RwLock::new(None),
            rebuilding: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Built> {
        self.built
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn entries(&self, store: &dyn Store, now: DateTime<Utc>) -> StoreResult<Arc<Vec<Entry>>> {
        let current = self.current();
        if let Some(b) = &current {
            if now - b.at < self.refresh && now >= b.at {
                return Ok(b.entries.clone());
            }
        }
        let _guard = match (self.rebuilding.try_lock(), &current) {
            (Ok(g), _) => g,
            // Another request is rebuilding: the previous index will do until it is done.
            (Err(_), Some(b)) => return Ok(b.entries.clone()),
            (Err(_), None) => {
                let g = self.rebuilding.lock().await;
                if let Some(b) = self.current() {
                    return Ok(b.entries);
                }
                g
            }
        };
        let entries: Arc<Vec<Entry>> = Arc::new(
            store
                .schools()
                .await?
                .into_iter()
                .map(|s| Entry {
                    folded: fold(&format!("{} {}", s.name, s.uai.as_str())),
                    uai: s.uai,
                    name: s.name,
                    ent: s.ent,
                })
                .collect(),
        );
        *self
            .built
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Built {
            at: now,
            entries: entries.clone(),
        });
        Ok(entries)
    }

    /// At most `limit` schools whose name or UAI contains every word of `query`.
    pub async fn search(
        &self,
        store: &dyn Store,
        now: DateTime<Utc>,
        query: &str,
        limit: usize,
    ) -> StoreResult<Vec<Entry>> {
        let folded = fold(query);
        let words: Vec<&str> = folded.split_whitespace().collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let entries = self.entries(store, now).await?;
        Ok(entries
            .iter()
            .filter(|e| words.iter().all(|w| e.folded.contains(w)))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Directory, School};
    use crate::store::memory::MemoryStore;
    use crate::store::DirectoryStore;

    fn school(uai: &str, name: &str) -> School {
        let uai = match uai.parse() {
            Ok(u) => u,
            // Derive the check letter.
            Err(_) => crate::domain::Uai::from_number(uai[..7].parse().unwrap_or(0))
                .unwrap_or_else(|e| panic!("{e}")),
        };
        School {
            uai,
            ent: "B0".parse().unwrap_or_else(|e| panic!("{e}")),
            name: name.into(),
            nature: None,
            academy: None,
            degree: None,
        }
    }

    async fn put(store: &MemoryStore, schools: Vec<School>) {
        let d = Directory {
            schools,
            persons: vec![],
            groups: vec![],
        };
        let ent = "B0".parse().unwrap_or_else(|e| panic!("{e}"));
        store
            .replace_directory(&ent, &d)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn queries_are_served_from_the_index_until_it_is_due() {
        let store = MemoryStore::new();
        put(&store, vec![school("0561641E", "Collège Émile Zola")]).await;
        let index = SchoolIndex::new(std::time::Duration::from_secs(60));
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let found = index
            .search(&store, t0, "emile  ZOLA", 20)
            .await
            .unwrap_or_default();
        assert_eq!(found.len(), 1);
        assert_eq!(
            index
                .search(&store, t0, "0561641e", 20)
                .await
                .unwrap_or_default()
                .len(),
            1
        );
        assert!(index
            .search(&store, t0, "zola hugo", 20)
            .await
            .unwrap_or_default()
            .is_empty());
        // A school added later is found once the index is due, not before.
        put(
            &store,
            vec![
                school("0561641E", "Collège Émile Zola"),
                school("0350001A", "Lycée Victor-Hugo"),
            ],
        )
        .await;
        let t1 = t0 + chrono::Duration::seconds(59);
        assert!(index
            .search(&store, t1, "victor hugo", 20)
            .await
            .unwrap_or_default()
            .is_empty());
        let t2 = t0 + chrono::Duration::seconds(60);
        assert_eq!(
            index
                .search(&store, t2, "victor hugo", 20)
                .await
                .unwrap_or_default()
                .len(),
            1
        );
        assert_eq!(
            index
                .search(&store, t2, "lycee", 20)
                .await
                .unwrap_or_default()
                .len(),
            1
        );
        assert_eq!(
            index
                .search(&store, t2, "0", 1)
                .await
                .unwrap_or_default()
                .len(),
            1
        );
    }
}
