//! A generator of realistic synthetic directory exports, for measurements and benchmarks; at
//! most 10,000 records per file, as ENTs split them (the files are written by `export`'s
//! writer). Deterministic: the same parameters give the same files.
//!
//! Secondary (GAR-ENT v1.7): collèges with MEF and subjects, classes of about 25 pupils, a
//! Latin group per level, one teacher per class teaching it a subject. Primary (GAR-ENT-1D
//! v1.4): écoles with classes from CP to CM2 given by their MEFSTAT4, one teacher per class,
//! member of it; no MEF, subjects or teaching groups, as the primary schema has none.

use std::path::{Path, PathBuf};

use super::export::Writers;
use crate::domain::{Degree, Uai};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub schools: u32,
    /// Pupils per school (rounded to whole classes of 25).
    pub pupils_per_school: u32,
    /// Secondary schools (GAR-ENT schema) or primary schools (GAR-ENT-1D schema).
    pub degree: Degree,
}

const CLASS_SIZE: u32 = 25;
const LEVELS: [(&str, &str, &str); 4] = [
    ("6", "6EME", "11110010110"),
    ("5", "5EME", "11120010110"),
    ("4", "4EME", "11130010110"),
    ("3", "3EME", "11140010110"),
];
/// Primary levels: code, label, MEFSTAT4 (synthetic codes).
const PRIMARY_LEVELS: [(&str, &str, &str); 5] = [
    ("CP", "CP", "0011"),
    ("CE1", "CE1", "0012"),
    ("CE2", "CE2", "0013"),
    ("CM1", "CM1", "0021"),
    ("CM2", "CM2", "0022"),
];
const SUBJECTS: [(&str, &str); 4] = [
    ("061300", "MATHEMATIQUES"),
    ("020700", "FRANCAIS"),
    ("030201", "ANGLAIS LV1"),
    ("040100", "HISTOIRE-GEOGRAPHIE"),
];

/// The UAI of generated school `i`.
pub fn school_uai(i: u32) -> Uai {
    // Numbers from 0300000 up: valid check letters, far from real test data.
    Uai::from_number(300_000 + i).unwrap_or_else(|_| unreachable!("below 10,000,000"))
}

fn person(
    element: &str,
    id: &str,
    uai: &str,
    profile: &str,
    (last, first, civ): (&str, &str, &str),
    extra: &str,
) -> String {
    format!(
        "<men:{element}><men:GARPersonIdentifiant>{id}</men:GARPersonIdentifiant><men:GARPersonProfils><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARPersonProfil>{profile}</men:GARPersonProfil></men:GARPersonProfils><men:GARPersonNom>{last}</men:GARPersonNom><men:GARPersonPrenom>{first}</men:GARPersonPrenom><men:GARPersonAutresPrenoms>{first}</men:GARPersonAutresPrenoms><men:GARPersonCivilite>{civ}</men:GARPersonCivilite><men:GARPersonEtab>{uai}</men:GARPersonEtab>{extra}</men:{element}>\n"
    )
}

fn link(element: &str, uai: &str, id: &str, code: &str, tail: &str) -> String {
    format!("<men:{element}><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARPersonIdentifiant>{id}</men:GARPersonIdentifiant>{code}{tail}</men:{element}>\n")
}

const LAST: [&str; 8] = [
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS",
];
const FIRST: [(&str, &str); 8] = [
    ("Léa", "Mme"),
    ("Hugo", "M."),
    ("Chloé", "Mme"),
    ("Louis", "M."),
    ("Emma", "Mme"),
    ("Jules", "M."),
    ("Inès", "Mme"),
    ("Adam", "M."),
];

/// Writes the export of ENT `ent` into `dir`; returns the files written.
pub fn write_export(dir: &Path, ent: &str, shape: Shape) -> std::io::Result<Vec<PathBuf>> {
    let mut w = Writers::new(dir, ent, shape.degree);
    match shape.degree {
        Degree::Secondary => secondary(&mut w, ent, shape)?,
        Degree::Primary => primary(&mut w, ent, shape)?,
    }
    w.finish()
}

/// Primary schools: classes by level (MEFSTAT4), pupils and their class, a teacher per class.
fn primary(w: &mut Writers, ent: &str, shape: Shape) -> std::io::Result<()> {
    let classes = shape.pupils_per_school.div_ceil(CLASS_SIZE).max(1);
    for s in 0..shape.schools {
        let uai = school_uai(s).to_string();
        w.etab.record(&format!("<men:GAREtab><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARStructureNomCourant>ECOLE ELEMENTAIRE SYNTHETIQUE {s}</men:GARStructureNomCourant></men:GAREtab>\n"))?;
        let mut pupil = 0u32;
        for c in 0..classes {
            let (level, label, stat4) = PRIMARY_LEVELS[(c % 5) as usize];
            let division = format!(
                "{level}-{}",
                (b'A' + u8::try_from(c / 5 % 26).unwrap_or(0)) as char
            );
            w.groupe.record(&format!("<men:GARGroupe><men:GARGroupeCode>{division}</men:GARGroupeCode><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARGroupeLibelle>{label} {division}</men:GARGroupeLibelle><men:GARGroupeStatut>DIVISION</men:GARGroupeStatut></men:GARGroupe>\n"))?;
            let stat4 = format!("<men:GARMEFSTAT4Code>{stat4}</men:GARMEFSTAT4Code>");
            let class = format!("<men:GARGroupeCode>{division}</men:GARGroupeCode>");
            for _ in 0..CLASS_SIZE {
                if pupil >= shape.pupils_per_school {
                    break;
                }
                let id = format!("{ent}-e-{s}-{pupil}");
                let (first, civ) = FIRST[(pupil % 8) as usize];
                let name = (LAST[(pupil / 8 % 8) as usize], first, civ);
                w.eleve
                    .record(&person("GAREleve", &id, &uai, "National_elv", name, ""))?;
                w.eleve
                    .record(&link("GARPersonMEFSTAT4", &uai, &id, &stat4, ""))?;
                w.groupe
                    .record(&link("GARPersonGroupe", &uai, &id, &class, ""))?;
                pupil += 1;
            }
            let tid = format!("{ent}-t-{s}-{c}");
            let (first, civ) = FIRST[(c % 8) as usize];
            let mail =
                format!("<men:GARPersonMail>prof{c}.{s}@ac-synthetique.fr</men:GARPersonMail>");
            w.ens.record(&person(
                "GAREnseignant",
                &tid,
                &uai,
                "National_ens",
                (LAST[(c % 8) as usize], first, civ),
                &mail,
            ))?;
            w.ens
                .record(&link("GARPersonMEFSTAT4", &uai, &tid, &stat4, ""))?;
            w.groupe
                .record(&link("GARPersonGroupe", &uai, &tid, &class, ""))?;
        }
    }
    Ok(())
}

/// Secondary schools: MEF, subjects, classes and Latin groups, pupils, a teacher per class.
fn secondary(w: &mut Writers, ent: &str, shape: Shape) -> std::io::Result<()> {
    let Writers {
        etab,
        eleve,
        ens,
        groupe,
        ..
    } = w;
    let classes = shape.pupils_per_school.div_ceil(CLASS_SIZE).max(1);
    for s in 0..shape.schools {
        let uai = school_uai(s).to_string();
        etab.record(&format!("<men:GAREtab><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARStructureNomCourant>COLLEGE SYNTHETIQUE {s}</men:GARStructureNomCourant></men:GAREtab>\n"))?;
        for (_, label, stat) in LEVELS {
            etab.record(&format!("<men:GARMEF><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARMEFCode>{stat}</men:GARMEFCode><men:GARMEFLibelle>{label}</men:GARMEFLibelle><men:GARMEFSTAT11>{stat}</men:GARMEFSTAT11></men:GARMEF>\n"))?;
        }
        for (code, label) in SUBJECTS {
            etab.record(&format!("<men:GARMatiere><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARMatiereCode>{code}</men:GARMatiereCode><men:GARMatiereLibelle>{label}</men:GARMatiereLibelle></men:GARMatiere>\n"))?;
        }
        for (level, label, _) in LEVELS {
            groupe.record(&format!("<men:GARGroupe><men:GARGroupeCode>{level}LAT</men:GARGroupeCode><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARGroupeLibelle>LATIN {label}</men:GARGroupeLibelle><men:GARGroupeStatut>GROUPE</men:GARGroupeStatut><men:GARGroupeDivAppartenance>{level}A</men:GARGroupeDivAppartenance></men:GARGroupe>\n"))?;
        }
        let mut pupil = 0u32;
        for c in 0..classes {
            let (level, label, stat) = LEVELS[(c % 4) as usize];
            let division = format!(
                "{level}{}",
                (b'A' + u8::try_from(c / 4 % 26).unwrap_or(0)) as char
            );
            groupe.record(&format!("<men:GARGroupe><men:GARGroupeCode>{division}</men:GARGroupeCode><men:GARStructureUAI>{uai}</men:GARStructureUAI><men:GARGroupeLibelle>{label} {division}</men:GARGroupeLibelle><men:GARGroupeStatut>DIVISION</men:GARGroupeStatut></men:GARGroupe>\n"))?;
            for _ in 0..CLASS_SIZE {
                if pupil >= shape.pupils_per_school {
                    break;
                }
                let id = format!("{ent}-e-{s}-{pupil}");
                let (first, civ) = FIRST[(pupil % 8) as usize];
                eleve.record(&person(
                    "GAREleve",
                    &id,
                    &uai,
                    "National_elv",
                    (LAST[(pupil / 8 % 8) as usize], first, civ),
                    "",
                ))?;
                eleve.record(&link(
                    "GARPersonMEF",
                    &uai,
                    &id,
                    &format!("<men:GARMEFCode>{stat}</men:GARMEFCode>"),
                    "",
                ))?;
                groupe.record(&link(
                    "GARPersonGroupe",
                    &uai,
                    &id,
                    &format!("<men:GARGroupeCode>{division}</men:GARGroupeCode>"),
                    "",
                ))?;
                if pupil % 5 == 0 {
                    groupe.record(&link(
                        "GARPersonGroupe",
                        &uai,
                        &id,
                        &format!("<men:GARGroupeCode>{level}LAT</men:GARGroupeCode>"),
                        "",
                    ))?;
                }
                pupil += 1;
            }
            // One teacher per class, teaching it one subject.
            let tid = format!("{ent}-t-{s}-{c}");
            let (subject, _) = SUBJECTS[(c % 4) as usize];
            let mail =
                format!("<men:GARPersonMail>prof{c}.{s}@ac-synthetique.fr</men:GARPersonMail>");
            ens.record(&person(
                "GAREnseignant",
                &tid,
                &uai,
                "National_ens",
                (
                    LAST[(c % 8) as usize],
                    FIRST[(c % 8) as usize].0,
                    FIRST[(c % 8) as usize].1,
                ),
                &mail,
            ))?;
            ens.record(&link(
                "GARPersonMEF",
                &uai,
                &tid,
                &format!("<men:GARMEFCode>{stat}</men:GARMEFCode>"),
                "",
            ))?;
            groupe.record(&link(
                "GAREnsClasseMatiere",
                &uai,
                &tid,
                &format!("<men:GARGroupeCode>{division}</men:GARGroupeCode>"),
                &format!("<men:GARMatiereCode>{subject}</men:GARMatiereCode>"),
            ))?;
        }
    }
    Ok(())
}
