//! Writing export files: a [`Directory`] as the GAR-ENT files an ENT sends (the inverse of
//! [`assemble`](super::assemble)), and the file writer that `generate` shares. Files per kind
//! (`Etab`, `Eleve`, `Enseignant`, `Groupe`, `RespAff`) and per schema, secondary
//! (`.../ns/gar`) or primary (`.../ns/gar/1d`) by the schools' degree, at most 10,000 records
//! per file, every text XML-escaped.
//!
//! Importing the files gives the directory back (`import(export(d)) == d`) when it is in the
//! order an import builds: schools, groups and persons of secondary schools before those of
//! primary schools, pupils before teachers and staff, then the managers who are nobody else.
//! What the export does not carry is not written: a school's nature and academy (they come
//! from the BCE, not from the ENT), and text is read back without its surrounding blanks.
//! What the schemas cannot say is refused (see [`ExportError`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use quick_xml::escape::escape;

use super::parse::{namespace, schema_version};
use crate::domain::{Degree, Directory, GroupKind, IdEnt, Person, Profile, Uai};

/// At most this many records in one file, as ENTs split their exports.
pub const RECORDS_PER_FILE: usize = 10_000;

/// Writes the files of one kind of one schema, starting a new file every
/// [`RECORDS_PER_FILE`] records. A kind with no record writes no file.
pub(super) struct Writer {
    dir: PathBuf,
    prefix: String,
    kind: &'static str,
    degree: Degree,
    file_index: usize,
    in_file: usize,
    out: Option<std::io::BufWriter<std::fs::File>>,
    written: Vec<PathBuf>,
}

impl Writer {
    fn new(dir: &Path, prefix: &str, kind: &'static str, degree: Degree) -> Self {
        Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            kind,
            degree,
            file_index: 0,
            in_file: 0,
            out: None,
            written: Vec::new(),
        }
    }

    /// Appends one record, already serialized (`<men:...>...</men:...>`).
    pub(super) fn record(&mut self, xml: &str) -> std::io::Result<()> {
        if self.out.is_none() || self.in_file >= RECORDS_PER_FILE {
            self.close()?;
            let schema = match self.degree {
                Degree::Primary => "GAR-ENT-1D",
                Degree::Secondary => "GAR-ENT",
            };
            let path = self.dir.join(format!(
                "{}_{schema}_Complet_{}_{:04}.xml",
                self.prefix, self.kind, self.file_index
            ));
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            writeln!(
                out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<men:GAR-ENT-{} xmlns:men=\"{}\" Version=\"{}\">",
                self.kind,
                namespace(self.degree),
                schema_version(self.degree)
            )?;
            self.out = Some(out);
            self.written.push(path);
            self.file_index += 1;
            self.in_file = 0;
        }
        if let Some(out) = self.out.as_mut() {
            out.write_all(xml.as_bytes())?;
        }
        self.in_file += 1;
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        if let Some(mut out) = self.out.take() {
            writeln!(out, "</men:GAR-ENT-{}>", self.kind)?;
            out.flush()?;
        }
        Ok(())
    }
}

/// The writers of one schema's export, one per kind of file.
pub(super) struct Writers {
    pub(super) etab: Writer,
    pub(super) eleve: Writer,
    pub(super) ens: Writer,
    pub(super) groupe: Writer,
    pub(super) resp_aff: Writer,
}

impl Writers {
    pub(super) fn new(dir: &Path, prefix: &str, degree: Degree) -> Self {
        Self {
            etab: Writer::new(dir, prefix, "Etab", degree),
            eleve: Writer::new(dir, prefix, "Eleve", degree),
            ens: Writer::new(dir, prefix, "Enseignant", degree),
            groupe: Writer::new(dir, prefix, "Groupe", degree),
            resp_aff: Writer::new(dir, prefix, "RespAff", degree),
        }
    }

    /// Closes every file; the files written, kind by kind.
    pub(super) fn finish(self) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for mut w in [self.etab, self.eleve, self.ens, self.groupe, self.resp_aff] {
            w.close()?;
            files.append(&mut w.written);
        }
        Ok(files)
    }
}

/// Why a directory was not exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// Something the GAR-ENT schemas cannot say, so an import would not give it back.
    #[error("the export cannot carry: {}", .0.join("; "))]
    Unrepresentable(Vec<String>),
}

/// A simple element: `<men:name>text</men:name>`, or `<men:name/>` for an empty text.
fn el(out: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        out.push_str(&format!("<men:{name}/>"));
    } else {
        out.push_str(&format!("<men:{name}>{}</men:{name}>", escape(value)));
    }
}

/// A record: `<men:element>` around simple elements.
fn record(element: &str, fields: &[(&str, &str)]) -> String {
    let mut out = format!("<men:{element}>");
    for (name, value) in fields {
        el(&mut out, name, value);
    }
    out.push_str(&format!("</men:{element}>\n"));
    out
}

/// The `GARMEFCode` (and `GARMEFSTAT11`) that stands for MEFSTAT4 `code` in a secondary
/// school: the MEFSTAT4 is the first four characters of the MEFSTAT11.
fn mef_of(code: &str) -> String {
    if code.chars().count() == 4 {
        format!("{code}0000000")
    } else {
        code.to_string()
    }
}

/// What the schemas cannot say about `p`, so that an import would not give it back.
fn unrepresentable(p: &Person, ent: &IdEnt, degree_of: &dyn Fn(&Uai) -> Degree) -> Vec<String> {
    let mut out = Vec::new();
    let who = &p.id;
    if &p.ent != ent {
        out.push(format!("{who} belongs to ENT {}, not {ent}", p.ent));
    }
    if p.profiles.is_empty() && p.manages.is_empty() {
        out.push(format!("{who} has no profile and manages no school"));
    }
    for m in &p.mefstat4 {
        if !(1..=4).contains(&m.code.chars().count()) {
            out.push(format!(
                "{who}: MEFSTAT4 « {} » is not 1 to 4 characters",
                m.code
            ));
        }
    }
    for s in &p.subjects {
        if degree_of(&s.uai) == Degree::Primary {
            out.push(format!(
                "{who}: subject {} in primary school {} (the 1D schema has none)",
                s.code, s.uai
            ));
        } else if !p.groups.iter().any(|g| g.uai == s.uai) {
            out.push(format!(
                "{who}: subject {} in {} without a class or group there to teach it in",
                s.code, s.uai
            ));
        }
    }
    out
}

/// Writes `directory` as the complete export of ENT `ent` into `out`; returns the files
/// written, secondary schema first, each schema kind by kind (`Etab`, `Eleve`, `Enseignant`,
/// `Groupe`, `RespAff`), the order in which an import reads them back in directory order.
pub fn write_directory(
    out: &Path,
    ent: &IdEnt,
    directory: &Directory,
) -> Result<Vec<PathBuf>, ExportError> {
    let degrees: HashMap<&Uai, Degree> = directory
        .schools
        .iter()
        .map(|s| {
            let d = if s.is_primary() {
                Degree::Primary
            } else {
                Degree::Secondary
            };
            (&s.uai, d)
        })
        .collect();
    let degree_of = |u: &Uai| degrees.get(u).copied().unwrap_or(Degree::Secondary);

    // Subject labels per school: one label per code, as GARMatiere gives it.
    let mut labels: HashMap<(&Uai, &str), &str> = HashMap::new();
    let mut problems = Vec::new();
    for p in &directory.persons {
        problems.extend(unrepresentable(p, ent, &degree_of));
        for s in &p.subjects {
            let label = *labels.entry((&s.uai, &s.code)).or_insert(&s.label);
            if label != s.label {
                problems.push(format!(
                    "subject {} of {} has two labels, « {label} » and « {} »",
                    s.code, s.uai, s.label
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(ExportError::Unrepresentable(problems));
    }

    let mut writers = [
        Writers::new(out, ent.as_str(), Degree::Secondary),
        Writers::new(out, ent.as_str(), Degree::Primary),
    ];
    let at = |d: Degree| match d {
        Degree::Secondary => 0,
        Degree::Primary => 1,
    };

    // Schools, with the MEF and subjects their people refer to (secondary schema only).
    for s in &directory.schools {
        let uai = s.uai.as_str();
        let degree = degree_of(&s.uai);
        let etab = &mut writers[at(degree)].etab;
        etab.record(&record(
            "GAREtab",
            &[
                ("GARStructureUAI", uai),
                ("GARStructureNomCourant", &s.name),
            ],
        ))?;
        if degree == Degree::Primary {
            continue;
        }
        let mut mefs: Vec<&str> = Vec::new();
        let mut subjects: Vec<&str> = Vec::new();
        for p in &directory.persons {
            for m in p.mefstat4.iter().filter(|m| m.uai == s.uai) {
                if !mefs.contains(&m.code.as_str()) {
                    mefs.push(&m.code);
                }
            }
            for m in p.subjects.iter().filter(|m| m.uai == s.uai) {
                if !subjects.contains(&m.code.as_str()) {
                    subjects.push(&m.code);
                }
            }
        }
        for code in mefs {
            let mef = mef_of(code);
            etab.record(&record(
                "GARMEF",
                &[
                    ("GARStructureUAI", uai),
                    ("GARMEFCode", &mef),
                    ("GARMEFLibelle", &format!("MEFSTAT4 {code}")),
                    ("GARMEFSTAT11", &mef),
                ],
            ))?;
        }
        for code in subjects {
            let label = labels.get(&(&s.uai, code)).copied().unwrap_or(code);
            etab.record(&record(
                "GARMatiere",
                &[
                    ("GARStructureUAI", uai),
                    ("GARMatiereCode", code),
                    ("GARMatiereLibelle", label),
                ],
            ))?;
        }
    }

    // Classes and groups.
    for g in &directory.groups {
        let mut fields = vec![
            ("GARGroupeCode", g.code.as_str()),
            ("GARStructureUAI", g.uai.as_str()),
            ("GARGroupeLibelle", g.label.as_str()),
            (
                "GARGroupeStatut",
                match g.kind {
                    GroupKind::Division => "DIVISION",
                    GroupKind::Groupe => "GROUPE",
                },
            ),
        ];
        fields.extend(
            g.divisions
                .iter()
                .map(|d| ("GARGroupeDivAppartenance", d.as_str())),
        );
        writers[at(degree_of(&g.uai))]
            .groupe
            .record(&record("GARGroupe", &fields))?;
    }

    // Persons: pupils, then teachers and staff, then the managers who are nobody else.
    for degree in [Degree::Secondary, Degree::Primary] {
        for pupil in [true, false] {
            for p in &directory.persons {
                let Some(first) = p.profiles.first() else {
                    continue;
                };
                if (first.profile == Profile::Eleve) != pupil || degree_of(&first.uai) != degree {
                    continue;
                }
                let set = &mut writers[at(degree)];
                let file = if pupil { &mut set.eleve } else { &mut set.ens };
                file.record(&person(p, if pupil { "GAREleve" } else { "GAREnseignant" }))?;
            }
        }
    }
    for p in &directory.persons {
        if let Some(first) = p.manages.first() {
            writers[at(degree_of(first))].resp_aff.record(&manager(p))?;
        }
    }

    // What persons are linked to: levels, then classes and groups with the subjects taught.
    for p in &directory.persons {
        let pupil = p.profiles.first().map(|s| s.profile) == Some(Profile::Eleve);
        for m in &p.mefstat4 {
            let degree = degree_of(&m.uai);
            let set = &mut writers[at(degree)];
            let file = if pupil { &mut set.eleve } else { &mut set.ens };
            let (element, field, code) = match degree {
                Degree::Secondary => ("GARPersonMEF", "GARMEFCode", mef_of(&m.code)),
                Degree::Primary => ("GARPersonMEFSTAT4", "GARMEFSTAT4Code", m.code.clone()),
            };
            file.record(&record(
                element,
                &[
                    ("GARStructureUAI", m.uai.as_str()),
                    ("GARPersonIdentifiant", &p.id),
                    (field, &code),
                ],
            ))?;
        }
        // The subjects of a school go with the person's first class or group there.
        let mut taught: Vec<&Uai> = Vec::new();
        for g in &p.groups {
            let mut fields = vec![
                ("GARStructureUAI", g.uai.as_str()),
                ("GARPersonIdentifiant", p.id.as_str()),
                ("GARGroupeCode", g.code.as_str()),
            ];
            let subjects: Vec<&str> = if taught.contains(&&g.uai) {
                Vec::new()
            } else {
                taught.push(&g.uai);
                p.subjects
                    .iter()
                    .filter(|s| s.uai == g.uai)
                    .map(|s| s.code.as_str())
                    .collect()
            };
            let element = if subjects.is_empty() {
                "GARPersonGroupe"
            } else {
                let kind = directory
                    .groups
                    .iter()
                    .find(|x| x.uai == g.uai && x.code == g.code)
                    .map(|x| x.kind);
                if kind == Some(GroupKind::Groupe) {
                    "GAREnsGroupeMatiere"
                } else {
                    "GAREnsClasseMatiere"
                }
            };
            fields.extend(subjects.into_iter().map(|s| ("GARMatiereCode", s)));
            writers[at(degree_of(&g.uai))]
                .groupe
                .record(&record(element, &fields))?;
        }
    }

    let mut files = Vec::new();
    for w in writers {
        files.extend(w.finish()?);
    }
    Ok(files)
}

/// A `GAREleve` or `GAREnseignant`.
fn person(p: &Person, element: &str) -> String {
    let mut out = format!("<men:{element}>");
    el(&mut out, "GARPersonIdentifiant", &p.id);
    for s in &p.profiles {
        out.push_str("<men:GARPersonProfils>");
        el(&mut out, "GARStructureUAI", s.uai.as_str());
        el(&mut out, "GARPersonProfil", s.profile.code());
        out.push_str("</men:GARPersonProfils>");
    }
    el(&mut out, "GARPersonNom", &p.last_name);
    el(&mut out, "GARPersonPrenom", &p.first_name);
    if let Some(c) = &p.civility {
        el(&mut out, "GARPersonCivilite", c);
    }
    let mut schools: Vec<&Uai> = Vec::new();
    for s in &p.profiles {
        if !schools.contains(&&s.uai) {
            schools.push(&s.uai);
            el(&mut out, "GARPersonEtab", s.uai.as_str());
        }
    }
    if let Some(m) = &p.email {
        el(&mut out, "GARPersonMail", m);
    }
    out.push_str(&format!("</men:{element}>\n"));
    out
}

/// A `GARRespAff`: the person and the schools where they assign licences.
fn manager(p: &Person) -> String {
    let mut fields = vec![
        ("GARPersonIdentifiant", p.id.as_str()),
        ("GARPersonNom", p.last_name.as_str()),
        ("GARPersonPrenom", p.first_name.as_str()),
    ];
    if let Some(c) = &p.civility {
        fields.push(("GARPersonCivilite", c));
    }
    if let Some(m) = &p.email {
        fields.push(("GARPersonMail", m));
    }
    fields.extend(p.manages.iter().map(|u| ("GARRespAffEtab", u.as_str())));
    record("GARRespAff", &fields)
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
