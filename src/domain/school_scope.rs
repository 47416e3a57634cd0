//! Which schools an ENT may describe in its directory exports: the schools its configuration
//! declares (UAIs, départements, académies) and none that the gateway has bound to another ENT.
//! A school changes ENT only by an operator's command (`passerelle directory move-school`),
//! never by an import. Pure: the bindings are read by the caller.

use std::collections::{BTreeSet, HashMap};

use super::{IdEnt, Uai};

/// The académies and the départements they cover, as the first three characters of their
/// schools' UAIs (Corse-du-Sud `620`, Haute-Corse `720`, overseas `97x`). Named as in the
/// rectorats' addresses, lower case, ASCII, hyphenated.
pub const ACADEMIES: &[(&str, &[&str])] = &[
    ("aix-marseille", &["004", "005", "013", "084"]),
    ("amiens", &["002", "060", "080"]),
    ("besancon", &["025", "039", "070", "090"]),
    ("bordeaux", &["024", "033", "040", "047", "064"]),
    ("clermont-ferrand", &["003", "015", "043", "063"]),
    ("corse", &["620", "720"]),
    ("creteil", &["077", "093", "094"]),
    ("dijon", &["021", "058", "071", "089"]),
    ("grenoble", &["007", "026", "038", "073", "074"]),
    ("guadeloupe", &["971"]),
    ("guyane", &["973"]),
    ("la-reunion", &["974"]),
    ("lille", &["059", "062"]),
    ("limoges", &["019", "023", "087"]),
    ("lyon", &["001", "042", "069"]),
    ("martinique", &["972"]),
    ("mayotte", &["976"]),
    ("montpellier", &["011", "030", "034", "048", "066"]),
    ("nancy-metz", &["054", "055", "057", "088"]),
    ("nantes", &["044", "049", "053", "072", "085"]),
    ("nice", &["006", "083"]),
    ("normandie", &["014", "027", "050", "061", "076"]),
    ("orleans-tours", &["018", "028", "036", "037", "041", "045"]),
    ("paris", &["075"]),
    ("poitiers", &["016", "017", "079", "086"]),
    ("reims", &["008", "010", "051", "052"]),
    ("rennes", &["022", "029", "035", "056"]),
    ("strasbourg", &["067", "068"]),
    (
        "toulouse",
        &["009", "012", "031", "032", "046", "065", "081", "082"],
    ),
    ("versailles", &["078", "091", "092", "095"]),
];

/// The département part of a UAI: its first three characters.
pub fn departement_of(uai: &Uai) -> &str {
    &uai.as_str()[..3]
}

/// Whether `code` is a département as UAIs write it: three digits (`035`, `620`, `974`).
pub fn is_departement(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The départements of académie `name`, if it is one.
pub fn academy_departements(name: &str) -> Option<&'static [&'static str]> {
    ACADEMIES.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// The schools an ENT's configuration declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredSchools {
    pub uais: BTreeSet<Uai>,
    /// Départements, from `departements` and from the académies declared.
    pub departements: BTreeSet<String>,
}

impl DeclaredSchools {
    pub fn contains(&self, uai: &Uai) -> bool {
        self.uais.contains(uai) || self.departements.contains(departement_of(uai))
    }
}

/// What one import of one ENT may name.
#[derive(Debug, Clone, Default)]
pub struct SchoolScope {
    /// `None`: the ENT declares no schools, so only the bindings restrict it.
    pub declared: Option<DeclaredSchools>,
    /// Schools bound to other ENTs.
    pub others: HashMap<Uai, IdEnt>,
}

impl SchoolScope {
    /// The scope of `ent`, from its declaration and every school binding of the gateway.
    pub fn new(
        ent: &IdEnt,
        declared: Option<DeclaredSchools>,
        bindings: impl IntoIterator<Item = (Uai, IdEnt)>,
    ) -> Self {
        Self {
            declared,
            others: bindings.into_iter().filter(|(_, e)| e != ent).collect(),
        }
    }

    /// `Err` with the reason (in French, for the ENT's operators) when `uai` is out of scope.
    pub fn check(&self, uai: &Uai) -> Result<(), String> {
        if let Some(other) = self.others.get(uai) {
            return Err(format!(
                "l'établissement {uai} appartient à l'ENT {other} : seul un opérateur de la passerelle peut le rattacher à un autre ENT"
            ));
        }
        match &self.declared {
            Some(d) if !d.contains(uai) => Err(format!(
                "l'établissement {uai} n'est pas parmi ceux que la configuration de cet ENT déclare (uais, departements, academies)"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uai(number: u32) -> Uai {
        Uai::from_number(number).unwrap()
    }

    #[test]
    fn every_departement_belongs_to_exactly_one_academy() {
        let mut seen = BTreeSet::new();
        for (name, deps) in ACADEMIES {
            for d in *deps {
                assert!(is_departement(d), "{name}: {d}");
                assert!(seen.insert(*d), "{d} is in two académies");
            }
        }
        let mut expected: BTreeSet<String> = (1..=95)
            .filter(|n| *n != 20)
            .map(|n| format!("{n:03}"))
            .collect();
        expected.extend(["620", "720", "971", "972", "973", "974", "976"].map(String::from));
        let seen: BTreeSet<String> = seen.into_iter().map(String::from).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_school_of_another_ent_is_refused_even_when_declared() {
        let a: IdEnt = "A0".parse().unwrap();
        let b: IdEnt = "B0".parse().unwrap();
        let declared = DeclaredSchools {
            departements: ["035".to_string()].into(),
            ..Default::default()
        };
        let scope = SchoolScope::new(
            &a,
            Some(declared),
            [(uai(350001), b.clone()), (uai(350002), a.clone())],
        );
        let refused = scope.check(&uai(350001)).unwrap_err();
        assert!(refused.contains("B0"), "{refused}");
        assert_eq!(scope.check(&uai(350002)), Ok(()));
        assert_eq!(scope.check(&uai(359999)), Ok(()));
        assert!(
            scope.check(&uai(290001)).is_err(),
            "outside the declaration"
        );
    }

    #[test]
    fn without_a_declaration_only_bindings_restrict() {
        let a: IdEnt = "A0".parse().unwrap();
        let scope = SchoolScope::new(&a, None, [(uai(350001), "B0".parse().unwrap())]);
        assert!(scope.check(&uai(350001)).is_err());
        assert_eq!(scope.check(&uai(290001)), Ok(()));
    }

    #[test]
    fn declared_uais_and_academies_are_read() {
        let declared = DeclaredSchools {
            uais: [uai(290001)].into(),
            departements: academy_departements("rennes")
                .unwrap()
                .iter()
                .map(|d| d.to_string())
                .collect(),
        };
        assert!(declared.contains(&uai(290001)));
        assert!(declared.contains(&uai(560001)));
        assert!(!declared.contains(&uai(440001)));
        assert_eq!(academy_departements("atlantide"), None);
    }
}
