//! `passerelle store export` and `passerelle store import`: a backup of the durable data of
//! the configured store as one JSON file, and its restoration into an empty store
//! (`store::backup`), audience counts included.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{env_vars, open_store};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, StoreConfig};
use crate::store::backup::{self, Dump};

fn distributors(cfg: &Config) -> Vec<String> {
    cfg.providers
        .values()
        .flat_map(|p| p.commercial_distributors.iter().cloned())
        .collect()
}

async fn load(config: &Path) -> Option<Config> {
    match config::load(config, env_vars()).await {
        Ok(c) => {
            if c.store == StoreConfig::Memory {
                eprintln!("warning: the configuration has no store.redis_url: this command works on an in-memory store, empty and lost when it ends");
            }
            Some(c)
        }
        Err(e) => {
            eprintln!("{}: {e}", config.display());
            None
        }
    }
}

/// Writes the dump to `out` (standard output when absent).
pub(super) async fn export(config: &Path, out: Option<PathBuf>) -> anyhow::Result<i32> {
    let Some(cfg) = load(config).await else {
        return Ok(1);
    };
    let store = open_store(&cfg).await?;
    let dump = backup::export(store.as_ref(), &distributors(&cfg), SystemClock.now())
        .await
        .map_err(|e| anyhow::anyhow!("export failed, nothing written: {e}"))?;
    let json = serde_json::to_vec(&dump)?;
    match &out {
        Some(path) => {
            // Written aside, then renamed: a failed export never leaves half a backup.
            let tmp = path.with_extension("partial");
            std::fs::write(&tmp, &json)
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!("exported to {}: {}", path.display(), dump.summary());
        }
        None => {
            std::io::stdout().write_all(&json)?;
            eprintln!("exported: {}", dump.summary());
        }
    }
    Ok(0)
}

/// Restores the dump in `file` into the configured store, which must be empty.
pub(super) async fn import(config: &Path, file: &Path) -> anyhow::Result<i32> {
    let Some(cfg) = load(config).await else {
        return Ok(1);
    };
    let text =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let dump: Dump = serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a passerelle store export: {e}", file.display()))?;
    let store = open_store(&cfg).await?;
    match backup::import(
        store.as_ref(),
        &dump,
        &distributors(&cfg),
        cfg.audience.retention,
        SystemClock.now(),
    )
    .await
    {
        Ok(()) => {
            println!("imported from {}: {}", file.display(), dump.summary());
            Ok(0)
        }
        Err(e) => {
            eprintln!("import refused: {e}");
            Ok(1)
        }
    }
}
