//! The ENT directory feed: reading an ENT's export (GAR-ENT XML files) and replacing that ENT's
//! directory with it, atomically. Nothing is written unless every file is read and assembled
//! without a problem, so a failed import leaves the previous directory served.

pub mod assemble;
pub mod parse;

use std::path::Path;

use crate::domain::IdEnt;
use crate::store::Store;

pub use parse::FeedError;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub schools: usize,
    pub persons: usize,
    pub groups: usize,
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} problem(s) in the export:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FeedError>),
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Reads `paths` (XML files of one export) and replaces `ent`'s directory in `store`.
pub async fn import_files(
    store: &dyn Store,
    ent: &IdEnt,
    paths: &[&Path],
) -> Result<ImportSummary, ImportError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ImportError::Io(name.clone(), e))?;
        match parse::read(&name, &text) {
            Ok(f) => files.push((name, f)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }
    let directory = assemble::assemble(ent, &files).map_err(ImportError::Invalid)?;
    store.replace_directory(ent, &directory).await?;
    Ok(ImportSummary {
        schools: directory.schools.len(),
        persons: directory.persons.len(),
        groups: directory.groups.len(),
    })
}
