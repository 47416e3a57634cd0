//! Attribute release: exactly the attributes validated for a resource and a profile,
//! computed from the directory for the school of the access, and never more.
//!
//! Input is an [`AccessGrant`]: attributes are only ever computed for a granted access.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::access::AccessGrant;
use super::directory::{Group, GroupKind, Person};
use super::ido::IdoKey;
use super::ids::{AttributeName, Profile};

/// The attributes an administrator validated for one resource, per profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePolicy {
    pub by_profile: BTreeMap<Profile, BTreeSet<AttributeName>>,
}

impl ReleasePolicy {
    pub fn allowed(&self, profile: Profile) -> Option<&BTreeSet<AttributeName>> {
        self.by_profile.get(&profile)
    }
}

/// What is released for one access: the pseudonymous subject and the attribute values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleasedAttributes {
    /// The IDO, used as the SAML NameID and the OIDC `sub`.
    pub subject: String,
    /// Attributes in a stable order, each with one or more values; empty ones are left out.
    pub values: Vec<(AttributeName, Vec<String>)>,
}

impl ReleasedAttributes {
    pub fn names(&self) -> Vec<AttributeName> {
        self.values.iter().map(|(n, _)| *n).collect()
    }

    pub fn get(&self, name: AttributeName) -> Option<&[String]> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("the directory entry does not belong to the granted person")]
    PersonMismatch,
}

/// Computes the released attributes.
///
/// `school_groups` are the classes and groups of the grant's school (used for labels and
/// `DIV_APP`); `ido_scope` is the scope value of the resource (see `IdoScope`); `sites` the
/// URLs of the resource's family of sites (`LRA`).
pub fn release(
    grant: &AccessGrant,
    person: &Person,
    school_groups: &[Group],
    policy: &ReleasePolicy,
    ido_key: &IdoKey,
    ido_scope: &str,
    sites: &[String],
) -> Result<ReleasedAttributes, ReleaseError> {
    if &person.ent != grant.ent() || person.id != grant.person_id() {
        return Err(ReleaseError::PersonMismatch);
    }
    let subject = ido_key.ido(ido_scope, grant.ent(), grant.person_id());
    let Some(allowed) = policy.allowed(grant.profile()) else {
        return Ok(ReleasedAttributes {
            subject,
            values: Vec::new(),
        });
    };
    let values = allowed
        .iter()
        .filter_map(|&name| {
            let v = compute(name, grant, person, school_groups, &subject, sites);
            (!v.is_empty()).then_some((name, v))
        })
        .collect();
    Ok(ReleasedAttributes { subject, values })
}

fn compute(
    name: AttributeName,
    grant: &AccessGrant,
    person: &Person,
    school_groups: &[Group],
    subject: &str,
    sites: &[String],
) -> Vec<String> {
    let uai = grant.uai();
    let profile = grant.profile();
    let in_school = |code: &str| {
        school_groups
            .iter()
            .find(|g| &g.uai == uai && g.code == code)
    };
    let member_of = |kind: GroupKind| -> Vec<&Group> {
        person
            .group_codes_in(uai)
            .filter_map(in_school)
            .filter(|g| g.kind == kind)
            .collect()
    };
    let one = |v: Option<&String>| v.filter(|s| !s.is_empty()).cloned().into_iter().collect();
    match name {
        AttributeName::Ido => vec![subject.to_string()],
        AttributeName::Uai => vec![uai.to_string()],
        AttributeName::Pro => vec![profile.code().to_string()],
        AttributeName::Nom => one(Some(&person.last_name)),
        AttributeName::Pre => one(Some(&person.first_name)),
        AttributeName::Civ => one(person.civility.as_ref()),
        AttributeName::PMel if profile.is_staff() => one(person.email.as_ref()),
        AttributeName::PMel => Vec::new(),
        AttributeName::Div => member_of(GroupKind::Division)
            .iter()
            .map(|g| format!("{}##{}", g.code, g.label))
            .collect(),
        AttributeName::Gro => member_of(GroupKind::Groupe)
            .iter()
            .map(|g| format!("{}##{}", g.code, g.label))
            .collect(),
        AttributeName::DivApp => member_of(GroupKind::Groupe)
            .iter()
            .flat_map(|g| {
                g.divisions.iter().map(move |div| {
                    let label = in_school(div).map_or(div.as_str(), |d| d.label.as_str());
                    format!("{}||{}##{}", g.code, div, label)
                })
            })
            .collect(),
        AttributeName::PMs4 if profile != Profile::Eleve => codes(person, grant),
        AttributeName::EMs4 if profile == Profile::Eleve => {
            codes(person, grant).into_iter().take(1).collect()
        }
        AttributeName::PMs4 | AttributeName::EMs4 => Vec::new(),
        AttributeName::PMat if profile != Profile::Eleve => person
            .subjects
            .iter()
            .filter(|s| &s.uai == uai)
            .map(|s| format!("{}##{}", s.code, s.label))
            .collect(),
        AttributeName::PMat => Vec::new(),
        AttributeName::Idc => vec![format!("{}_{subject}", grant.resource())],
        AttributeName::Lra => sites.to_vec(),
        AttributeName::IdEnt => {
            use base64::Engine;
            vec![base64::engine::general_purpose::STANDARD.encode(grant.ent().as_str())]
        }
    }
}

fn codes(person: &Person, grant: &AccessGrant) -> Vec<String> {
    let mut out: Vec<String> = person
        .mefstat4
        .iter()
        .filter(|m| &m.uai == grant.uai())
        .map(|m| m.code.clone())
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
#[path = "release_tests.rs"]
mod tests;
