//! Builds one ENT's [`Directory`] from the files of its export: schools with their degree
//! (primary for files of the 1D schema), MEF and subjects (`Etab`), classes, groups and
//! memberships (`Groupe`), pupils and teachers with their profiles per school and MEF or
//! MEFSTAT4 (`Eleve`, `Enseignant`). Elements of one schema are refused in files of the other.
//! Every problem is reported, with its file and line; a school out of the ENT's scope (see
//! `domain::school_scope`) is one, reported once, where the export first names it.

use std::collections::{HashMap, HashSet};

use super::parse::{FeedError, FeedFile, Record};
use crate::domain::directory::{GroupRef, SchoolCode, SchoolProfile, SchoolSubject};
use crate::domain::school_scope::SchoolScope;
use crate::domain::{Degree, Directory, Group, GroupKind, IdEnt, Person, Profile, School, Uai};

/// Elements only the secondary schema (GAR-ENT.xsd v1.7) has.
const SECONDARY_ONLY: [&str; 6] = [
    "GARMEF",
    "GARMatiere",
    "GARPersonMEF",
    "GAREnsClasseMatiere",
    "GAREnsGroupeMatiere",
    "GAREleveEnseignement",
];
/// Elements only the primary schema (GAR-ENT-1D.xsd v1.4) has.
const PRIMARY_ONLY: [&str; 1] = ["GARPersonMEFSTAT4"];

struct Problems<'a> {
    file: &'a str,
    errors: &'a mut Vec<FeedError>,
    scope: &'a SchoolScope,
    /// Schools already reported out of scope.
    reported: &'a mut HashSet<Uai>,
}

impl Problems<'_> {
    fn at(&mut self, r: &Record, message: String) {
        self.errors.push(FeedError {
            file: self.file.to_string(),
            line: r.line,
            message,
        });
    }

    fn required<'r>(&mut self, r: &'r Record, name: &str, max: usize) -> Option<&'r str> {
        match r.first(name).map(str::trim) {
            Some(v) if !v.is_empty() && v.chars().count() <= max => Some(v),
            Some(v) if !v.is_empty() => {
                self.at(
                    r,
                    format!("<{}> : {name} dépasse {max} caractères", r.element),
                );
                None
            }
            _ => {
                self.at(r, format!("<{}> : {name} est obligatoire", r.element));
                None
            }
        }
    }

    /// Whether the export may name `uai`; reports it once when it may not.
    fn in_scope(&mut self, r: &Record, uai: &Uai) -> bool {
        match self.scope.check(uai) {
            Ok(()) => true,
            Err(why) => {
                if self.reported.insert(uai.clone()) {
                    self.at(r, format!("<{}> : {why}", r.element));
                }
                false
            }
        }
    }

    fn uai(&mut self, r: &Record, value: &str) -> Option<Uai> {
        match value.parse() {
            Ok(u) => self.in_scope(r, &u).then_some(u),
            Err(_) => {
                self.at(r, format!("<{}> : UAI « {value} » invalide", r.element));
                None
            }
        }
    }
}

#[derive(Default)]
struct Extra {
    groups: Vec<GroupRef>,
    mefs: Vec<(Uai, String)>,
    /// MEFSTAT4 codes given directly (primary schema).
    mefstat4: Vec<(Uai, String)>,
    subjects: Vec<(Uai, String)>,
}

/// Assembles the directory of `ent` from its files (`(name, file)` pairs).
pub fn assemble(
    ent: &IdEnt,
    files: &[(String, FeedFile)],
    scope: &SchoolScope,
) -> Result<Directory, Vec<FeedError>> {
    let mut errors = Vec::new();
    let mut reported = HashSet::new();
    let mut dir = Directory::default();
    let mut mefstat11: HashMap<(Uai, String), String> = HashMap::new();
    let mut subject_labels: HashMap<(Uai, String), String> = HashMap::new();
    let mut extra: HashMap<String, Extra> = HashMap::new();
    let mut managers: Vec<Person> = Vec::new();

    for (name, file) in files {
        let mut p = Problems {
            file: name,
            errors: &mut errors,
            scope,
            reported: &mut reported,
        };
        for r in &file.records {
            let foreign = match file.degree {
                Degree::Primary => SECONDARY_ONLY.contains(&r.element.as_str()),
                Degree::Secondary => PRIMARY_ONLY.contains(&r.element.as_str()),
            };
            if foreign {
                let schema = match file.degree {
                    Degree::Primary => "du premier degré (GAR-ENT-1D)",
                    Degree::Secondary => "du second degré (GAR-ENT)",
                };
                p.at(
                    r,
                    format!("élément <{}> absent du schéma {schema}", r.element),
                );
                continue;
            }
            match r.element.as_str() {
                "GAREtab" => {
                    let (uai, label) = (
                        p.required(r, "GARStructureUAI", 45),
                        p.required(r, "GARStructureNomCourant", 500),
                    );
                    if let (Some(uai), Some(label)) = (uai.and_then(|u| p.uai(r, u)), label) {
                        dir.schools.push(School {
                            uai,
                            ent: ent.clone(),
                            name: label.to_string(),
                            nature: None,
                            academy: None,
                            degree: Some(file.degree),
                        });
                    }
                }
                "GARMEF" => {
                    let (uai, code) = (
                        p.required(r, "GARStructureUAI", 45),
                        p.required(r, "GARMEFCode", 255),
                    );
                    if let (Some(uai), Some(code), Some(stat)) =
                        (uai.and_then(|u| p.uai(r, u)), code, r.first("GARMEFSTAT11"))
                    {
                        mefstat11.insert((uai, code.to_string()), stat.trim().to_string());
                    }
                }
                "GARMatiere" => {
                    let (uai, code, label) = (
                        p.required(r, "GARStructureUAI", 45),
                        p.required(r, "GARMatiereCode", 255),
                        p.required(r, "GARMatiereLibelle", 255),
                    );
                    if let (Some(uai), Some(code), Some(label)) =
                        (uai.and_then(|u| p.uai(r, u)), code, label)
                    {
                        subject_labels.insert((uai, code.to_string()), label.to_string());
                    }
                }
                "GARGroupe" => {
                    let fields = (
                        p.required(r, "GARGroupeCode", 255),
                        p.required(r, "GARStructureUAI", 45),
                        p.required(r, "GARGroupeLibelle", 255),
                        p.required(r, "GARGroupeStatut", 31),
                    );
                    if let (Some(code), Some(uai), Some(label), Some(status)) = fields {
                        let kind = match status {
                            "DIVISION" => GroupKind::Division,
                            "GROUPE" => GroupKind::Groupe,
                            other => {
                                p.at(r, format!("<GARGroupe> : GARGroupeStatut « {other} » (attendu DIVISION ou GROUPE)"));
                                continue;
                            }
                        };
                        if let Some(uai) = p.uai(r, uai) {
                            let divisions = r
                                .all("GARGroupeDivAppartenance")
                                .map(str::to_string)
                                .collect();
                            dir.groups.push(Group {
                                uai,
                                code: code.to_string(),
                                label: label.to_string(),
                                kind,
                                divisions,
                            });
                        }
                    }
                }
                "GARPersonGroupe" | "GAREnsClasseMatiere" | "GAREnsGroupeMatiere" => {
                    let fields = (
                        p.required(r, "GARStructureUAI", 45),
                        p.required(r, "GARPersonIdentifiant", 64),
                        p.required(r, "GARGroupeCode", 255),
                    );
                    if let (Some(uai), Some(person), Some(code)) = fields {
                        if let Some(uai) = p.uai(r, uai) {
                            let e = extra.entry(person.to_string()).or_default();
                            e.groups.push(GroupRef {
                                uai: uai.clone(),
                                code: code.to_string(),
                            });
                            for m in r.all("GARMatiereCode") {
                                e.subjects.push((uai.clone(), m.to_string()));
                            }
                        }
                    }
                }
                "GARPersonMEF" => {
                    let fields = (
                        p.required(r, "GARStructureUAI", 45),
                        p.required(r, "GARPersonIdentifiant", 64),
                        p.required(r, "GARMEFCode", 255),
                    );
                    if let (Some(uai), Some(person), Some(code)) = fields {
                        if let Some(uai) = p.uai(r, uai) {
                            extra
                                .entry(person.to_string())
                                .or_default()
                                .mefs
                                .push((uai, code.to_string()));
                        }
                    }
                }
                "GARPersonMEFSTAT4" => {
                    let fields = (
                        p.required(r, "GARStructureUAI", 45),
                        p.required(r, "GARPersonIdentifiant", 64),
                        p.required(r, "GARMEFSTAT4Code", 4),
                    );
                    if let (Some(uai), Some(person), Some(code)) = fields {
                        if let Some(uai) = p.uai(r, uai) {
                            extra
                                .entry(person.to_string())
                                .or_default()
                                .mefstat4
                                .push((uai, code.to_string()));
                        }
                    }
                }
                "GAREleve" | "GAREnseignant" => {
                    if let Some(person) = person(ent, r, &mut p) {
                        dir.persons.push(person);
                    }
                }
                "GARRespAff" => {
                    if let Some(m) = manager(ent, r, &mut p) {
                        managers.push(m);
                    }
                }
                // Subjects followed by pupils: not used yet.
                "GAREleveEnseignement" => {}
                other => p.at(r, format!("élément inattendu <{other}>")),
            }
        }
    }

    // Assignment managers: a person of the directory gains the schools they manage; a manager
    // who is nobody else (school staff outside the pupil and teacher files) joins as such.
    for m in managers {
        match dir.persons.iter_mut().find(|p| p.id == m.id) {
            Some(p) => {
                for u in m.manages {
                    if !p.manages.contains(&u) {
                        p.manages.push(u);
                    }
                }
            }
            None => dir.persons.push(m),
        }
    }

    // Attach memberships, MEFSTAT4 levels and taught subjects to each person.
    for person in &mut dir.persons {
        let Some(e) = extra.remove(&person.id) else {
            continue;
        };
        for g in e.groups {
            if !person.groups.contains(&g) {
                person.groups.push(g);
            }
        }
        for (uai, mef) in e.mefs {
            if let Some(stat) = mefstat11.get(&(uai.clone(), mef)) {
                let code: String = stat.chars().take(4).collect();
                let entry = SchoolCode { uai, code };
                if !person.mefstat4.contains(&entry) {
                    person.mefstat4.push(entry);
                }
            }
        }
        for (uai, code) in e.mefstat4 {
            let entry = SchoolCode { uai, code };
            if !person.mefstat4.contains(&entry) {
                person.mefstat4.push(entry);
            }
        }
        for (uai, code) in e.subjects {
            let label = subject_labels
                .get(&(uai.clone(), code.clone()))
                .cloned()
                .unwrap_or_else(|| code.clone());
            let entry = SchoolSubject { uai, code, label };
            if !person.subjects.contains(&entry) {
                person.subjects.push(entry);
            }
        }
    }
    if errors.is_empty() {
        Ok(dir)
    } else {
        Err(errors)
    }
}

fn person(ent: &IdEnt, r: &Record, p: &mut Problems<'_>) -> Option<Person> {
    let id = p.required(r, "GARPersonIdentifiant", 64);
    let last = p.required(r, "GARPersonNom", 500);
    let first = p.required(r, "GARPersonPrenom", 500);
    let mut profiles = Vec::new();
    for (name, fields) in &r.groups {
        if name != "GARPersonProfils" {
            continue;
        }
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim());
        match (
            get("GARStructureUAI").and_then(|u| u.parse::<Uai>().ok()),
            get("GARPersonProfil").and_then(|v| v.parse::<Profile>().ok()),
        ) {
            (Some(uai), Some(profile)) => {
                if p.in_scope(r, &uai) {
                    profiles.push(SchoolProfile { uai, profile });
                }
            }
            _ => p.at(
                r,
                format!(
                    "<{}> : GARPersonProfils invalide (UAI et profil National_xxx attendus)",
                    r.element
                ),
            ),
        }
    }
    if profiles.is_empty() {
        p.at(
            r,
            format!(
                "<{}> : au moins un GARPersonProfils est obligatoire",
                r.element
            ),
        );
        return None;
    }
    Some(Person {
        ent: ent.clone(),
        id: id?.to_string(),
        last_name: last?.to_string(),
        first_name: first?.to_string(),
        civility: r.first("GARPersonCivilite").map(str::to_string),
        email: r.first("GARPersonMail").map(str::to_string),
        profiles,
        groups: Vec::new(),
        mefstat4: Vec::new(),
        subjects: Vec::new(),
        manages: vec![],
    })
}

/// A `GARRespAff`: who assigns licences, and in which schools (`GARRespAffEtab`).
fn manager(ent: &IdEnt, r: &Record, p: &mut Problems<'_>) -> Option<Person> {
    let id = p.required(r, "GARPersonIdentifiant", 64);
    let last = p.required(r, "GARPersonNom", 500);
    let first = p.required(r, "GARPersonPrenom", 500);
    let mut manages = Vec::new();
    for u in r.all("GARRespAffEtab") {
        if let Some(u) = p.uai(r, u.trim()) {
            manages.push(u);
        }
    }
    if manages.is_empty() {
        p.at(
            r,
            format!(
                "<{}> : au moins un GARRespAffEtab est obligatoire",
                r.element
            ),
        );
        return None;
    }
    Some(Person {
        ent: ent.clone(),
        id: id?.to_string(),
        last_name: last?.to_string(),
        first_name: first?.to_string(),
        civility: r.first("GARPersonCivilite").map(str::to_string),
        email: r.first("GARPersonMail").map(str::to_string),
        profiles: Vec::new(),
        groups: Vec::new(),
        mefstat4: Vec::new(),
        subjects: Vec::new(),
        manages,
    })
}
