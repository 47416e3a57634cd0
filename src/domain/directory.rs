//! The directory model: people, schools and groups of one ENT project, as the nightly
//! directory feed describes them (gar-reference section 5).
//!
//! Released attributes are projections of this model (see `release`).

use super::ids::{IdEnt, Profile, Uai};
use serde::{Deserialize, Serialize};

/// A person of one ENT project (`GARPersonIdentifiant` is unique within the `idENT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub ent: IdEnt,
    /// `GARPersonIdentifiant`: the ENT's own id of the person.
    pub id: String,
    pub last_name: String,
    pub first_name: String,
    /// `M.` or `Mme`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civility: Option<String>,
    /// Professional e-mail address (staff only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The person's profile in each school they belong to.
    pub profiles: Vec<SchoolProfile>,
    /// Membership of classes (`DIVISION`) and groups (`GROUPE`), per school.
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    /// MEFSTAT4 level codes: the student's level, or the levels a teacher teaches.
    #[serde(default)]
    pub mefstat4: Vec<SchoolCode>,
    /// Subjects a teacher teaches (`CODE`, `LIBELLE`).
    #[serde(default)]
    pub subjects: Vec<SchoolSubject>,
    /// Schools where this person assigns licences (`GARRespAff` / `GARRespAffEtab`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manages: Vec<Uai>,
}

impl Person {
    /// The person's profile in `uai`, if they belong to that school.
    pub fn profile_in(&self, uai: &Uai) -> Option<Profile> {
        self.profiles
            .iter()
            .find(|p| &p.uai == uai)
            .map(|p| p.profile)
    }

    /// Codes of the person's classes and groups in `uai`.
    pub fn group_codes_in<'a>(&'a self, uai: &'a Uai) -> impl Iterator<Item = &'a str> + 'a {
        self.groups
            .iter()
            .filter(move |g| &g.uai == uai)
            .map(|g| g.code.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolProfile {
    pub uai: Uai,
    pub profile: Profile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    pub uai: Uai,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolCode {
    pub uai: Uai,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolSubject {
    pub uai: Uai,
    pub code: String,
    pub label: String,
}

/// A class (`DIVISION`) or a teaching group (`GROUPE`) of one school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub uai: Uai,
    pub code: String,
    pub label: String,
    pub kind: GroupKind,
    /// For a group: the codes of the classes it draws its members from (`GARGroupeDivAppartenance`).
    #[serde(default)]
    pub divisions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupKind {
    Division,
    Groupe,
}

/// A school known to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct School {
    pub uai: Uai,
    pub ent: IdEnt,
    /// `appellation_officielle`.
    pub name: String,
    /// `nature_uai`, e.g. `340` for a collège.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nature: Option<String>,
    /// `academie`, e.g. `14` (Rennes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub academy: Option<String>,
    /// Primary or secondary, from the schema of the export that described the school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degree: Option<Degree>,
}

impl School {
    /// Whether the school is a primary school: described by a primary (1D) export, or of a
    /// primary nature (`nature_uai` 1xx).
    pub fn is_primary(&self) -> bool {
        match self.degree {
            Some(d) => d == Degree::Primary,
            None => self.nature.as_deref().is_some_and(is_primary_nature),
        }
    }
}

/// Whether a `nature_uai` code is a primary school's (`1xx`: maternelle, élémentaire...).
pub fn is_primary_nature(nature: &str) -> bool {
    let n = nature.trim();
    n.len() == 3 && n.starts_with('1') && n.bytes().all(|b| b.is_ascii_digit())
}

/// The degree of a school: primary (premier degré, GAR-ENT-1D schema) or secondary (second
/// degré, GAR-ENT schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Degree {
    Primary,
    Secondary,
}

/// One ENT project's whole directory, as a full export replaces it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    #[serde(default)]
    pub schools: Vec<School>,
    #[serde(default)]
    pub persons: Vec<Person>,
    #[serde(default)]
    pub groups: Vec<Group>,
}
