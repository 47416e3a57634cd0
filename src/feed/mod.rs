//! The ENT directory feed: reading an ENT's export (GAR-ENT XML files, from disk or uploaded in
//! memory) and replacing that ENT's directory with it, atomically. Nothing is written unless
//! every file is read and assembled without a problem, so a failed import leaves the previous
//! directory served. `export` writes a directory back as such files (what the demo imports).

pub mod archive;
pub mod assemble;
pub mod export;
pub mod generate;
pub mod parse;

use std::path::Path;
use std::sync::Arc;

use crate::domain::school_scope::{DeclaredSchools, SchoolScope};
use crate::domain::{Directory, IdEnt};
use crate::store::Store;

use self::archive::ArchiveLimits;
pub use parse::FeedError;

/// What one import of one ENT may contain: the schools in its reach (declared in its
/// configuration, and never another ENT's), archives within their limits.
#[derive(Debug, Clone, Default)]
pub struct ImportRules {
    /// `uais`, `departements` and `academies` of the ENT's configuration; `None` when it
    /// declares none.
    pub declared: Option<DeclaredSchools>,
    pub archive: ArchiveLimits,
}

impl ImportRules {
    /// The scope of one import by `ent`, from the gateway's current school bindings.
    async fn scope(&self, store: &dyn Store, ent: &IdEnt) -> Result<SchoolScope, ImportError> {
        Ok(SchoolScope::new(
            ent,
            self.declared.clone(),
            store.school_bindings().await?,
        ))
    }
}

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

pub(crate) fn invalid(file: &str, message: impl Into<String>) -> ImportError {
    ImportError::Invalid(vec![FeedError {
        file: file.to_string(),
        line: 0,
        message: message.into(),
    }])
}

/// The `(name, text)` XML documents of an export on disk: XML files as they are, `.tar.gz`
/// archives unpacked after they were checked against the `.md5` beside them.
fn documents(paths: &[&Path], limits: ArchiveLimits) -> Result<Vec<(String, String)>, ImportError> {
    let mut out = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ImportError::Io(name.clone(), e))?;
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            let md5_path = format!("{name}.md5");
            let text = std::fs::read_to_string(&md5_path)
                .map_err(|e| ImportError::Io(md5_path.clone(), e))?;
            let expected = text
                .split_whitespace()
                .next()
                .and_then(archive::parse_md5)
                .ok_or_else(|| invalid(&md5_path, "somme MD5 illisible"))?;
            out.extend(archive::unpack(&name, &bytes, expected, &md5_path, limits)?);
        } else {
            out.push(archive::xml_document(&name, bytes)?);
        }
    }
    Ok(out)
}

/// An export received in memory (an HTTP upload).
#[derive(Debug)]
pub enum Upload {
    /// One XML file, with the MD5 its sender gave, if any.
    Xml {
        bytes: Vec<u8>,
        md5: Option<[u8; 16]>,
    },
    /// A `.tar.gz` archive and its MD5.
    Archive { bytes: Vec<u8>, md5: [u8; 16] },
}

/// The `(name, text)` XML documents of an upload named `name`.
fn upload_documents(
    name: &str,
    upload: Upload,
    limits: ArchiveLimits,
) -> Result<Vec<(String, String)>, ImportError> {
    match upload {
        Upload::Archive { bytes, md5 } => archive::unpack(name, &bytes, md5, "Content-MD5", limits),
        Upload::Xml { bytes, md5 } => {
            if md5.is_some_and(|m| m != archive::md5_of(&bytes)) {
                return Err(invalid(
                    name,
                    "la somme MD5 ne correspond pas à Content-MD5 (fichier altéré ou incomplet)",
                ));
            }
            Ok(vec![archive::xml_document(name, bytes)?])
        }
    }
}

/// Reads and assembles the documents of one export of `ent`: every problem (a school out of
/// `scope` is one), or its directory.
pub fn read_documents(
    ent: &IdEnt,
    documents: Vec<(String, String)>,
    scope: &SchoolScope,
) -> Result<Directory, ImportError> {
    if documents.is_empty() {
        return Err(invalid("(export)", "aucun fichier XML dans l'export"));
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in documents {
        match parse::read(&name, &text) {
            Ok(f) => files.push((name, f)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }
    assemble::assemble(ent, &files, scope).map_err(ImportError::Invalid)
}

/// Replaces `ent`'s directory in `store` with `directory`.
async fn replace(
    store: &dyn Store,
    ent: &IdEnt,
    directory: &Directory,
) -> Result<ImportSummary, ImportError> {
    if let crate::store::Replaced::SchoolTaken { uai, ent: other } =
        store.replace_directory(ent, directory).await?
    {
        // Bound to another ENT since the export was checked (an operator's move, or the other
        // ENT's import of the same moment).
        return Err(ImportError::Invalid(vec![FeedError {
            file: String::new(),
            line: 0,
            message: format!("l'établissement {uai} appartient à l'ENT {other} : seul un opérateur de la passerelle peut le rattacher à un autre ENT"),
        }]));
    }
    Ok(ImportSummary {
        schools: directory.schools.len(),
        persons: directory.persons.len(),
        groups: directory.groups.len(),
    })
}

/// Imports an upload named `name` (an XML file or a `.tar.gz`) as `ent`'s whole export and
/// replaces its directory. Reading and assembling run off the async workers.
pub async fn import_upload(
    store: Arc<dyn Store>,
    ent: IdEnt,
    name: String,
    upload: Upload,
    rules: &ImportRules,
) -> Result<ImportSummary, ImportError> {
    let scope = rules.scope(store.as_ref(), &ent).await?;
    let (for_reading, limits) = (ent.clone(), rules.archive);
    let directory = tokio::task::spawn_blocking(move || {
        read_documents(
            &for_reading,
            upload_documents(&name, upload, limits)?,
            &scope,
        )
    })
    .await
    .map_err(|e| ImportError::Io("(import)".into(), std::io::Error::other(e.to_string())))??;
    replace(store.as_ref(), &ent, &directory).await
}

/// Reads `paths` (XML files of one export, or `.tar.gz` archives with their `.md5`) and
/// replaces `ent`'s directory in `store`.
pub async fn import_files(
    store: &dyn Store,
    ent: &IdEnt,
    paths: &[&Path],
    rules: &ImportRules,
) -> Result<ImportSummary, ImportError> {
    let scope = rules.scope(store, ent).await?;
    let directory = read_documents(ent, documents(paths, rules.archive)?, &scope)?;
    replace(store, ent, &directory).await
}
