//! Streaming reader of one file of an ENT's directory export (GAR-ENT schema v1.7, namespace
//! `http://data.education.fr/ns/gar`): its records, each with its simple fields and its nested
//! groups, and the line it starts on. Malformed files are refused with the line and the cause.

use quick_xml::events::Event;
use quick_xml::Reader;

pub const NAMESPACE: &str = "http://data.education.fr/ns/gar";

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

/// Reads one file's text. `file` names it in errors.
pub fn read(file: &str, text: &str) -> Result<FeedFile, FeedError> {
    let fail = |offset: usize, message: String| FeedError {
        file: file.to_string(),
        line: line_at(text, offset),
        message,
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut lines = Lines {
        text: text.as_bytes(),
        offset: 0,
        line: 1,
    };
    let mut kind = None;
    let mut depth = 0usize;
    let mut records = Vec::new();
    let mut current = Record::default();
    let mut group: Option<(String, Vec<(String, String)>)> = None;
    let mut field: Option<String> = None;
    loop {
        let offset = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| fail(offset, format!("XML mal formé : {e}")))?;
        // Where the event ends: the line of a start tag (leading blanks are skipped).
        let end = usize::try_from(reader.buffer_position())
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        match event {
            Event::DocType(_) => return Err(fail(offset, "les DTD ne sont pas acceptées".into())),
            Event::Start(ref e) | Event::Empty(ref e) if depth == 0 => {
                let name = local(e.name().as_ref());
                kind = Some(FileKind::from_root(&name).ok_or_else(|| fail(offset, format!("élément racine inattendu <{name}> (attendu : GAR-ENT-Eleve, -Enseignant, -Etab, -Groupe ou -RespAff)")))?);
                let in_namespace = e.attributes().flatten().any(|a| {
                    a.key.as_ref().starts_with(b"xmlns") && a.value.as_ref() == NAMESPACE.as_bytes()
                });
                if !in_namespace {
                    return Err(fail(
                        offset,
                        format!("l'espace de noms doit être {NAMESPACE}"),
                    ));
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
    let kind = kind.ok_or_else(|| fail(0, "fichier vide".into()))?;
    Ok(FeedFile { kind, records })
}
