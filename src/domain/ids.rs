//! Validated identifiers of the GAR domain: ENT project codes, school UAIs, resource ARKs,
//! user profiles, subscription audiences and the names of released attributes.
//!
//! Every constructor validates its input, so holding one of these types means the value has
//! the shape the real GAR uses.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: String,
}

fn err(kind: &'static str, reason: impl Into<String>) -> IdError {
    IdError {
        kind,
        reason: reason.into(),
    }
}

/// An ENT project code (`idENT`), such as `B0` or `Z0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdEnt(String);

impl IdEnt {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdEnt {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s))
        } else {
            Err(err(
                "idENT",
                "expected 1 to 32 characters among A-Z, a-z, 0-9, '-' and '_'",
            ))
        }
    }
}

impl FromStr for IdEnt {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_string())
    }
}

impl From<IdEnt> for String {
    fn from(v: IdEnt) -> String {
        v.0
    }
}

impl fmt::Display for IdEnt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A school's national code: 7 digits and a check letter, e.g. `0561641E`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uai(String);

const UAI_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

impl Uai {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UAI whose number is `number` (below 10 000 000), with its check letter.
    pub fn from_number(number: u32) -> Result<Self, IdError> {
        if number >= 10_000_000 {
            return Err(err("UAI", "number has more than 7 digits"));
        }
        let letter = UAI_LETTERS[(number % 23) as usize] as char;
        Ok(Self(format!("{number:07}{letter}")))
    }
}

impl TryFrom<String> for Uai {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        let s = s.to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 8 || !b[..7].iter().all(u8::is_ascii_digit) {
            return Err(err("UAI", "expected 7 digits followed by a check letter"));
        }
        let number: u32 = s[..7]
            .parse()
            .map_err(|_| err("UAI", "expected 7 digits followed by a check letter"))?;
        let expected = UAI_LETTERS[(number % 23) as usize];
        if b[7] != expected {
            return Err(err("UAI", "wrong check letter"));
        }
        Ok(Self(s))
    }
}

impl FromStr for Uai {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_string())
    }
}

impl From<Uai> for String {
    fn from(v: Uai) -> String {
        v.0
    }
}

impl fmt::Display for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource identifier, an ARK such as `ark:/32151/LA.FLE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceId(String);

impl ResourceId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ResourceId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        let rest = s
            .strip_prefix("ark:/")
            .ok_or_else(|| err("idRessource", "expected an ARK starting with 'ark:/'"))?;
        let (naan, name) = rest
            .split_once('/')
            .ok_or_else(|| err("idRessource", "expected 'ark:/NAAN/name'"))?;
        let valid_naan = !naan.is_empty() && naan.bytes().all(|b| b.is_ascii_alphanumeric());
        let valid_name = !name.is_empty()
            && s.len() <= 1024
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'<' && b != b'>');
        if valid_naan && valid_name {
            Ok(Self(s))
        } else {
            Err(err("idRessource", "malformed ARK"))
        }
    }
}

impl FromStr for ResourceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_string())
    }
}

impl From<ResourceId> for String {
    fn from(v: ResourceId) -> String {
        v.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's profile in one school (`PRO`), compared case-insensitively, emitted canonically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Profile {
    Eleve,
    Enseignant,
    Documentaliste,
    VieScolaire,
    AdministratifTechnique,
    Direction,
    Collectivite,
    Tuteur,
    Academie,
}

impl Profile {
    pub const ALL: [Profile; 9] = [
        Profile::Eleve,
        Profile::Enseignant,
        Profile::Documentaliste,
        Profile::VieScolaire,
        Profile::AdministratifTechnique,
        Profile::Direction,
        Profile::Collectivite,
        Profile::Tuteur,
        Profile::Academie,
    ];

    /// The canonical GAR code, e.g. `National_elv`.
    pub fn code(self) -> &'static str {
        match self {
            Profile::Eleve => "National_elv",
            Profile::Enseignant => "National_ens",
            Profile::Documentaliste => "National_doc",
            Profile::VieScolaire => "National_evs",
            Profile::AdministratifTechnique => "National_eta",
            Profile::Direction => "National_dir",
            Profile::Collectivite => "National_col",
            Profile::Tuteur => "National_tut",
            Profile::Academie => "National_aca",
        }
    }

    /// The subscription audience that covers this profile, if any.
    pub fn audience(self) -> Option<PublicCible> {
        match self {
            Profile::Eleve => Some(PublicCible::Eleve),
            Profile::Enseignant => Some(PublicCible::Enseignant),
            Profile::Documentaliste => Some(PublicCible::Documentaliste),
            Profile::VieScolaire
            | Profile::AdministratifTechnique
            | Profile::Direction
            | Profile::Collectivite => Some(PublicCible::AutrePersonnel),
            Profile::Tuteur | Profile::Academie => None,
        }
    }

    /// Whether this is school staff (who may receive a professional e-mail address).
    pub fn is_staff(self) -> bool {
        !matches!(self, Profile::Eleve | Profile::Tuteur)
    }
}

impl FromStr for Profile {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Profile::ALL
            .into_iter()
            .find(|p| p.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                err(
                    "profile",
                    "unknown profile code (expected e.g. National_elv)".to_string(),
                )
            })
    }
}

impl TryFrom<String> for Profile {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Profile> for String {
    fn from(p: Profile) -> String {
        p.code().to_string()
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A subscription audience (`publicCible`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PublicCible {
    #[serde(rename = "ELEVE")]
    Eleve,
    #[serde(rename = "ENSEIGNANT")]
    Enseignant,
    #[serde(rename = "DOCUMENTALISTE")]
    Documentaliste,
    #[serde(rename = "AUTRE PERSONNEL")]
    AutrePersonnel,
}

impl PublicCible {
    pub fn code(self) -> &'static str {
        match self {
            PublicCible::Eleve => "ELEVE",
            PublicCible::Enseignant => "ENSEIGNANT",
            PublicCible::Documentaliste => "DOCUMENTALISTE",
            PublicCible::AutrePersonnel => "AUTRE PERSONNEL",
        }
    }
}

impl FromStr for PublicCible {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        [
            PublicCible::Eleve,
            PublicCible::Enseignant,
            PublicCible::Documentaliste,
            PublicCible::AutrePersonnel,
        ]
        .into_iter()
        .find(|p| p.code() == s.trim())
        .ok_or_else(|| {
            err(
                "publicCible",
                "expected ELEVE, ENSEIGNANT, DOCUMENTALISTE or AUTRE PERSONNEL",
            )
        })
    }
}

/// The short names of the attributes released to providers (gar-reference section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AttributeName {
    Ido,
    Uai,
    Pro,
    Nom,
    Pre,
    Civ,
    PMel,
    Div,
    Gro,
    DivApp,
    PMs4,
    PMat,
    EMs4,
    /// `IDC`: the resource id, `_`, the IDO.
    Idc,
    /// `LRA`: the URLs of the resource's family of sites.
    Lra,
    /// `idENT`: the user's ENT, base64.
    IdEnt,
}

impl AttributeName {
    pub const ALL: [AttributeName; 16] = [
        AttributeName::Ido,
        AttributeName::Uai,
        AttributeName::Pro,
        AttributeName::Nom,
        AttributeName::Pre,
        AttributeName::Civ,
        AttributeName::PMel,
        AttributeName::Div,
        AttributeName::Gro,
        AttributeName::DivApp,
        AttributeName::PMs4,
        AttributeName::PMat,
        AttributeName::EMs4,
        AttributeName::Idc,
        AttributeName::Lra,
        AttributeName::IdEnt,
    ];

    /// Whether the attribute may carry several values (classes, groups, levels, subjects).
    pub fn is_multi_valued(self) -> bool {
        matches!(
            self,
            AttributeName::Div
                | AttributeName::Gro
                | AttributeName::DivApp
                | AttributeName::PMs4
                | AttributeName::PMat
                | AttributeName::Lra
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttributeName::Ido => "IDO",
            AttributeName::Uai => "UAI",
            AttributeName::Pro => "PRO",
            AttributeName::Nom => "NOM",
            AttributeName::Pre => "PRE",
            AttributeName::Civ => "CIV",
            AttributeName::PMel => "P_MEL",
            AttributeName::Div => "DIV",
            AttributeName::Gro => "GRO",
            AttributeName::DivApp => "DIV_APP",
            AttributeName::PMs4 => "P_MS4",
            AttributeName::PMat => "P_MAT",
            AttributeName::EMs4 => "E_MS4",
            AttributeName::Idc => "IDC",
            AttributeName::Lra => "LRA",
            AttributeName::IdEnt => "idENT",
        }
    }
}

impl FromStr for AttributeName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        AttributeName::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| err("attribute", "unknown attribute name (expected one of IDO, UAI, PRO, NOM, PRE, CIV, P_MEL, DIV, GRO, DIV_APP, P_MS4, P_MAT, E_MS4, IDC, LRA, idENT)".to_string()))
    }
}

impl TryFrom<String> for AttributeName {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<AttributeName> for String {
    fn from(a: AttributeName) -> String {
        a.as_str().to_string()
    }
}

impl fmt::Display for AttributeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uai_check_letter_is_verified() {
        assert!("0561641E".parse::<Uai>().is_ok());
        assert!("0561641e".parse::<Uai>().is_ok());
        assert!("0561641F".parse::<Uai>().is_err());
        assert!("056164E".parse::<Uai>().is_err());
        assert_eq!(
            Uai::from_number(561641).map(String::from),
            Ok("0561641E".into())
        );
    }

    #[test]
    fn profiles_compare_case_insensitively_and_print_canonically() {
        let p: Profile = "National_ELV".parse().unwrap();
        assert_eq!(p, Profile::Eleve);
        assert_eq!(p.to_string(), "National_elv");
        assert!("National_xyz".parse::<Profile>().is_err());
        assert_eq!(
            Profile::Direction.audience(),
            Some(PublicCible::AutrePersonnel)
        );
        assert_eq!(Profile::Tuteur.audience(), None);
    }

    #[test]
    fn ark_shape_is_checked() {
        assert!("ark:/32151/LA.FLE".parse::<ResourceId>().is_ok());
        assert!("ark:/32151/".parse::<ResourceId>().is_err());
        assert!("http://x/y".parse::<ResourceId>().is_err());
        assert!("ark:/1/a<b".parse::<ResourceId>().is_err());
    }

    #[test]
    fn ident_refuses_separators() {
        assert!("B0".parse::<IdEnt>().is_ok());
        assert!("B0:x".parse::<IdEnt>().is_err());
        assert!("".parse::<IdEnt>().is_err());
    }
}
