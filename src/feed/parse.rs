//! Streaming reader of one file of an ENT's directory export: secondary schools (GAR-ENT.xsd
//! v1.7, namespace `http://data.education.fr/ns/gar`) or primary schools (GAR-ENT-1D.xsd v1.4,
//! namespace `http://data.education.fr/ns/gar/1d`). Its records, each with its simple fields
//! and its nested groups, and the line it starts on. A file declares one of the two namespaces
//! and every element of it must be in that namespace. Malformed files are refused with the line
//! and the cause.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

pub use crate::domain::Degree;

/// The namespace of the secondary schema (GAR-ENT.xsd v1.7).
pub const NAMESPACE: &str = "http://data.education.fr/ns/gar";
/// The namespace of the primary schema (GAR-ENT-1D.xsd v1.4).
pub const NAMESPACE_1D: &str = "http://data.education.fr/ns/gar/1d";

/// The namespace of the schema of `degree`.
pub fn namespace(degree: Degree) -> &'static str {
    match degree {
        Degree::Primary => NAMESPACE_1D,
        Degree::Secondary => NAMESPACE,
    }
}

/// The version the schema of `degree` carries in the root's `Version` attribute.
pub fn schema_version(degree: Degree) -> &'static str {
    match degree {
        Degree::Primary => "1.4",
        Degree::Secondary => "1.7",
    }
}

/// The namespace an element resolved to: one of the two schemas', or another one, described
/// for messages.
fn schema_of(ns: ResolveResult<'_>) -> Result<Degree, String> {
    match ns {
        ResolveResult::Bound(n) if n.as_ref() == NAMESPACE.as_bytes() => Ok(Degree::Secondary),
        ResolveResult::Bound(n) if n.as_ref() == NAMESPACE_1D.as_bytes() => Ok(Degree::Primary),
        ResolveResult::Bound(n) => Err(format!("« {} »", String::from_utf8_lossy(n.as_ref()))),
        ResolveResult::Unbound => Err("aucun".into()),
        ResolveResult::Unknown(p) => Err(format!(
            "préfixe « {} » non déclaré",
            String::from_utf8_lossy(&p)
        )),
    }
}

/// The kind of file, from its root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Eleve,
    Enseignant,
    Etab,
    Groupe,
    RespAff,
}

impl FileKind {
    fn from_root(name: &str) -> Option<FileKind> {
        Some(match name {
            "GAR-ENT-Eleve" => FileKind::Eleve,
            "GAR-ENT-Enseignant" => FileKind::Enseignant,
            "GAR-ENT-Etab" => FileKind::Etab,
            "GAR-ENT-Groupe" => FileKind::Groupe,
            "GAR-ENT-RespAff" => FileKind::RespAff,
            _ => return None,
        })
    }
}

/// One element under the root (`GAREleve`, `GARGroupe`, `GARPersonGroupe`...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub element: String,
    pub line: usize,
    /// Simple children, in order.
    pub fields: Vec<(String, String)>,
    /// Complex children (`GARPersonProfils`, `GAREnsDisciplinesPostes`), each with its fields.
    pub groups: Vec<(String, Vec<(String, String)>)>,
}

impl Record {
    pub fn first(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A file of the export, read.
#[derive(Debug, Clone)]
pub struct FeedFile {
    pub kind: FileKind,
    /// Primary or secondary: which schema (namespace) the file declares.
    pub degree: Degree,
    pub records: Vec<Record>,
}

/// Why a file was refused: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}, line {line}: {message}")]
pub struct FeedError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

fn local(name: &[u8]) -> String {
    let n = match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    };
    String::from_utf8_lossy(n).into_owned()
}

/// Line number (1-based) of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line numbers of increasing offsets, counting each byte once (records come in order).
struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            return self.text[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        }
        self.line += self.text[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

/// What an export file may hold (`xml_boundary`).
const RULES: crate::xml_boundary::Rules = crate::xml_boundary::Rules {
    max_bytes: usize::MAX,
    max_depth: 16,
    comments: true,
};

/// Reads one file's text. `file` names it in errors.
pub fn read(file: &str, text: &str) -> Result<FeedFile, FeedError> {
    let fail = |offset: usize, message: String| FeedError {
        file: file.to_string(),
        line: line_at(text, offset),
        message,
    };
    // The XML boundary first: UTF-8 only, no DTD or processing instruction, bounded depth.
    // The size is bounded before, by the upload and archive limits.
    crate::xml_boundary::check::<crate::xml_boundary::Refusal>(text.as_bytes(), &RULES, |_| Ok(()))
        .map_err(|r| fail(r.offset, r.french().to_string()))?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut lines = Lines {
        text: text.as_bytes(),
        offset: 0,
        line: 1,
    };
    let mut kind = None;
    let mut degree = None;
    let mut depth = 0usize;
    let mut records = Vec::new();
    let mut current = Record::default();
    let mut group: Option<(String, Vec<(String, String)>)> = None;
    let mut field: Option<String> = None;
    loop {
        let offset = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (ns, event) = match reader.read_resolved_event() {
            Ok(read) => read,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(offset);
                return Err(fail(at, format!("XML mal formé : {e}")));
            }
        };
        let ns = match event {
            Event::Start(_) | Event::Empty(_) => schema_of(ns),
            _ => Err(String::new()),
        };
        // Where the event ends: the line of a start tag (leading blanks are skipped).
        let end = usize::try_from(reader.buffer_position())
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        if let (Event::Start(e) | Event::Empty(e), Some(declared)) = (&event, degree) {
            // Below the root, every element is in the namespace the file declared.
            if ns.as_ref().ok() != Some(&declared) {
                let found = match &ns {
                    Ok(d) => format!("« {} »", namespace(*d)),
                    Err(other) => other.clone(),
                };
                return Err(FeedError {
                    file: file.to_string(),
                    line: lines.at(end),
                    message: format!(
                        "élément <{}> dans l'espace de noms {} : le fichier déclare {} (un fichier ne mélange pas les schémas)",
                        local(e.name().as_ref()),
                        found,
                        namespace(declared)
                    ),
                });
            }
        }
        match event {
            Event::DocType(_) => return Err(fail(offset, "les DTD ne sont pas acceptées".into())),
            Event::Start(ref e) | Event::Empty(ref e) if depth == 0 => {
                let name = local(e.name().as_ref());
                kind = Some(FileKind::from_root(&name).ok_or_else(|| fail(offset, format!("élément racine inattendu <{name}> (attendu : GAR-ENT-Eleve, -Enseignant, -Etab, -Groupe ou -RespAff)")))?);
                match ns {
                    Ok(found) => degree = Some(found),
                    Err(other) => {
                        return Err(fail(
                            end,
                            format!(
                                "l'espace de noms doit être {NAMESPACE} (second degré) ou {NAMESPACE_1D} (premier degré), pas {other}"
                            ),
                        ))
                    }
                }
                if matches!(event, Event::Start(_)) {
                    depth = 1;
                }
            }
            Event::Start(e) => {
                let name = local(e.name().as_ref());
                depth += 1;
                match depth {
                    2 => {
                        current = Record {
                            element: name,
                            line: lines.at(end),
                            ..Record::default()
                        }
                    }
                    3 => field = Some(name),
                    4 => {
                        // The field opened at depth 3 is a group.
                        if let Some(parent) = field.take() {
                            group = Some((parent, Vec::new()));
                        }
                        field = Some(name);
                    }
                    _ => return Err(fail(offset, "document trop imbriqué".into())),
                }
            }
            Event::Empty(e) => {
                let name = local(e.name().as_ref());
                match depth {
                    1 => records.push(Record {
                        element: name,
                        line: lines.at(end),
                        ..Record::default()
                    }),
                    2 => current.fields.push((name, String::new())),
                    3 => {
                        if let Some((_, g)) = group.as_mut() {
                            g.push((name, String::new()));
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                let value = t
                    .unescape()
                    .map_err(|e| fail(offset, format!("texte mal formé : {e}")))?
                    .into_owned();
                match (depth, field.as_ref()) {
                    (3, Some(f)) => current.fields.push((f.clone(), value)),
                    (4, Some(f)) => {
                        if let Some((_, g)) = group.as_mut() {
                            g.push((f.clone(), value));
                        }
                    }
                    _ => return Err(fail(offset, "texte inattendu hors d'un champ".into())),
                }
            }
            Event::End(_) => {
                match depth {
                    2 => records.push(std::mem::take(&mut current)),
                    3 => {
                        if let Some(g) = group.take() {
                            current.groups.push(g);
                        }
                        field = None;
                    }
                    4 => field = None,
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(fail(
            text.len(),
            "fin de fichier avant la fermeture des éléments".into(),
        ));
    }
    let (Some(kind), Some(degree)) = (kind, degree) else {
        return Err(fail(0, "fichier vide".into()));
    };
    Ok(FeedFile {
        kind,
        degree,
        records,
    })
}
