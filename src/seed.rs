//! Seed data: a JSON file of directories, subscriptions and assignments loaded into the store
//! at start-up (`[seed] files`, for trials and tests). The demo does not use it: it seeds
//! through the directory feed and the subscription web service.
//!
//! Shape: `{"directories": {"<idENT>": Directory}, "subscriptions": [Subscription],
//! "assignments": [Assignment]}`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::domain::{Assignment, Directory, IdEnt, Subscription};
use crate::store::Store;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub directories: BTreeMap<IdEnt, Directory>,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub assignments: Vec<Assignment>,
}

impl Seed {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read seed file {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("seed file {} is invalid: {e}", path.display()))
    }

    /// Writes everything into the store.
    pub async fn apply(&self, store: &dyn Store) -> anyhow::Result<()> {
        for (ent, dir) in &self.directories {
            for p in &dir.persons {
                anyhow::ensure!(
                    &p.ent == ent,
                    "seed: person {} is listed under ENT {ent} but belongs to {}",
                    p.id,
                    p.ent
                );
            }
            if let crate::store::Replaced::SchoolTaken { uai, ent: other } =
                store.replace_directory(ent, dir).await?
            {
                anyhow::bail!("seed: school {uai} of ENT {ent} is bound to ENT {other}");
            }
        }
        for s in &self.subscriptions {
            store.put_subscription(s).await?;
        }
        for a in &self.assignments {
            store.add_assignment(a).await?;
        }
        Ok(())
    }
}
