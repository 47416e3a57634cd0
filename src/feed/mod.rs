//! The ENT directory feed: reading an ENT's export (GAR-ENT XML files) and replacing that ENT's
//! directory with it, atomically. Nothing is written unless every file is read and assembled
//! without a problem, so a failed import leaves the previous directory served.

pub mod assemble;
pub mod generate;
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

/// Largest XML file accepted, inside an archive or not.
const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

fn invalid(file: &str, message: impl Into<String>) -> ImportError {
    ImportError::Invalid(vec![FeedError {
        file: file.to_string(),
        line: 0,
        message: message.into(),
    }])
}

/// Unpacks a `.tar.gz` archive after checking it against `ARCHIVE.md5` beside it.
fn unpack(name: &str, bytes: &[u8], out: &mut Vec<(String, String)>) -> Result<(), ImportError> {
    let md5_path = format!("{name}.md5");
    let expected =
        std::fs::read_to_string(&md5_path).map_err(|e| ImportError::Io(md5_path.clone(), e))?;
    let expected = expected
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let actual = hex::encode(<md5::Md5 as md5::Digest>::digest(bytes));
    if expected != actual {
        return Err(invalid(
            name,
            format!("la somme MD5 ne correspond pas à {md5_path} (archive altérée ou incomplète)"),
        ));
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| invalid(name, format!("archive illisible : {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| invalid(name, format!("archive illisible : {e}")))?;
        let entry_name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !entry.header().entry_type().is_file() || !entry_name.ends_with(".xml") {
            continue;
        }
        let full = format!("{name}/{entry_name}");
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(entry, MAX_FILE_BYTES + 1),
            &mut text,
        )
        .map_err(|e| invalid(&full, format!("fichier illisible : {e}")))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(invalid(&full, "fichier trop volumineux"));
        }
        out.push((full, text));
    }
    Ok(())
}

/// The `(name, text)` XML documents of an export: XML files as they are, `.tar.gz` archives
/// unpacked after their `.md5` was checked.
fn documents(paths: &[&Path]) -> Result<Vec<(String, String)>, ImportError> {
    let mut out = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ImportError::Io(name.clone(), e))?;
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            unpack(&name, &bytes, &mut out)?;
        } else {
            let text = String::from_utf8(bytes)
                .map_err(|_| invalid(&name, "le fichier n'est pas en UTF-8"))?;
            out.push((name, text));
        }
    }
    if out.is_empty() {
        return Err(invalid("(export)", "aucun fichier XML dans l'export"));
    }
    Ok(out)
}

/// Reads `paths` (XML files of one export, or `.tar.gz` archives with their `.md5`) and
/// replaces `ent`'s directory in `store`.
pub async fn import_files(
    store: &dyn Store,
    ent: &IdEnt,
    paths: &[&Path],
) -> Result<ImportSummary, ImportError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in documents(paths)? {
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
