#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::domain::directory::{GroupRef, SchoolCode, SchoolProfile, SchoolSubject};
use crate::domain::{Group, School};

fn ent() -> IdEnt {
    "B0".parse().unwrap()
}

/// Exports `d`, then reads the files back as `passerelle directory import` does.
/// The files are read while the returned directory lives.
fn round_trip(d: &Directory) -> (tempfile::TempDir, Vec<PathBuf>, Directory) {
    let out = tempfile::tempdir().unwrap();
    let files = write_directory(out.path(), &ent(), d).unwrap();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let docs = super::super::documents(&paths, Default::default()).unwrap();
    let back = super::super::read_documents(&ent(), docs, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    (out, files, back)
}

fn uai(n: u32) -> Uai {
    Uai::from_number(n).unwrap()
}

fn school(n: u32, name: &str, degree: Degree) -> School {
    School {
        uai: uai(n),
        ent: ent(),
        name: name.into(),
        nature: None,
        academy: None,
        degree: Some(degree),
    }
}

fn person(id: &str, n: u32, profile: Profile) -> Person {
    Person {
        ent: ent(),
        id: id.into(),
        last_name: format!("Nom {id}"),
        first_name: format!("Prénom {id}"),
        civility: None,
        email: None,
        profiles: vec![SchoolProfile {
            uai: uai(n),
            profile,
        }],
        groups: vec![],
        mefstat4: vec![],
        subjects: vec![],
        manages: vec![],
    }
}

#[test]
fn tricky_text_is_escaped_and_read_back() {
    let tricky = "Dupont & Fils <\"l'école\"> — Ångström ÉÈ";
    let mut d = Directory {
        schools: vec![school(1, "Collège « A & B » <test>", Degree::Secondary)],
        ..Directory::default()
    };
    d.groups.push(Group {
        uai: uai(1),
        code: "4<A>&\"'".into(),
        label: tricky.into(),
        kind: GroupKind::Division,
        divisions: vec![],
    });
    d.groups.push(Group {
        uai: uai(1),
        code: "G&1".into(),
        label: "Groupe \"latin\" & grec".into(),
        kind: GroupKind::Groupe,
        divisions: vec!["4<A>&\"'".into()],
    });
    let mut p = person("id&<'\">", 1, Profile::Enseignant);
    p.last_name = tricky.into();
    p.first_name = "Zoé-Chloé 'Ève'".into();
    p.civility = Some("M<>".into());
    p.email = Some("a&b@exemple.fr".into());
    p.groups = vec![
        GroupRef {
            uai: uai(1),
            code: "G&1".into(),
        },
        GroupRef {
            uai: uai(1),
            code: "4<A>&\"'".into(),
        },
    ];
    p.mefstat4 = vec![SchoolCode {
        uai: uai(1),
        code: "21&3".into(),
    }];
    p.subjects = vec![SchoolSubject {
        uai: uai(1),
        code: "M&<1>".into(),
        label: "Mathématiques & \"sciences\"".into(),
    }];
    p.manages = vec![uai(1)];
    let mut only_manager = person("resp&aff", 1, Profile::Direction);
    only_manager.profiles.clear();
    only_manager.manages = vec![uai(1)];
    only_manager.civility = Some("Mme".into());
    d.persons = vec![p, only_manager];
    let (_out, files, back) = round_trip(&d);
    assert_eq!(back, d);
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(all.contains("Dupont &amp; Fils &lt;&quot;l&apos;école&quot;&gt;"));
}

#[test]
fn primary_schools_are_written_in_the_primary_schema() {
    let mut d = Directory {
        schools: vec![
            school(1, "COLLEGE", Degree::Secondary),
            school(2, "ECOLE", Degree::Primary),
        ],
        ..Directory::default()
    };
    let mut cm1 = person("e-2", 2, Profile::Eleve);
    cm1.mefstat4 = vec![SchoolCode {
        uai: uai(2),
        code: "0021".into(),
    }];
    let mut sixth = person("e-1", 1, Profile::Eleve);
    sixth.mefstat4 = vec![SchoolCode {
        uai: uai(1),
        code: "1111".into(),
    }];
    d.persons = vec![sixth, cm1];
    let (_out, files, back) = round_trip(&d);
    assert_eq!(back, d);
    let primary: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .filter(|t| t.contains("ns/gar/1d"))
        .collect();
    assert_eq!(primary.len(), 2, "Etab and Eleve of the primary school");
    assert!(primary.iter().any(|t| t.contains("GARPersonMEFSTAT4")));
}

#[test]
fn files_hold_at_most_ten_thousand_records() {
    let mut d = Directory {
        schools: vec![school(1, "COLLEGE", Degree::Secondary)],
        ..Directory::default()
    };
    d.groups = (0..=RECORDS_PER_FILE)
        .map(|i| Group {
            uai: uai(1),
            code: format!("G{i}"),
            label: format!("Groupe {i}"),
            kind: GroupKind::Groupe,
            divisions: vec![],
        })
        .collect();
    let (_out, files, back) = round_trip(&d);
    assert_eq!(back, d);
    let groupe: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("_Groupe_"))
        .collect();
    assert_eq!(groupe.len(), 2);
}

#[test]
fn what_the_schemas_cannot_say_is_refused() {
    let mut d = Directory {
        schools: vec![school(2, "ECOLE", Degree::Primary)],
        ..Directory::default()
    };
    let mut p = person("t-1", 2, Profile::Enseignant);
    p.subjects = vec![SchoolSubject {
        uai: uai(2),
        code: "X".into(),
        label: "X".into(),
    }];
    let mut nobody = person("n-1", 2, Profile::Eleve);
    nobody.profiles.clear();
    d.persons = vec![p, nobody];
    let out = tempfile::tempdir().unwrap();
    match write_directory(out.path(), &ent(), &d) {
        Err(ExportError::Unrepresentable(v)) => assert_eq!(v.len(), 2, "{v:?}"),
        other => panic!("{other:?}"),
    }
}

/// Text as an import reads it back: not empty, no blank around it; markup characters and
/// accents inside.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Zéèçà&<>\"'0-9][a-zA-Zéèçà&<>\"'0-9 ]{0,8}".prop_map(|s| s.trim_end().to_string())
}

/// Directories in the order an import builds them: one degree, pupils before staff, then
/// managers who are nobody else; each person in one school.
fn any_directory() -> impl Strategy<Value = Directory> {
    let profiles = prop::sample::select(
        Profile::ALL
            .into_iter()
            .filter(|p| *p != Profile::Eleve)
            .collect::<Vec<_>>(),
    );
    let group = (
        text(),
        text(),
        any::<bool>(),
        prop::collection::vec(text(), 0..2),
    );
    let people = (
        any::<bool>(),
        profiles,
        0..3u32,
        (text(), text()),
        (proptest::option::of(text()), proptest::option::of(text())),
        prop::collection::vec(0..4usize, 0..3),
        prop::collection::btree_set("[0-9]{4}", 0..3),
        prop::collection::btree_set(0..3usize, 0..3),
        prop::collection::vec(0..3u32, 0..2),
    );
    (
        any::<bool>(),
        1..4u32,
        prop::collection::vec(text(), 3),
        prop::collection::vec(prop::collection::vec(group, 0..4), 3),
        prop::collection::vec(people, 0..8),
    )
        .prop_map(|(primary, schools, names, groups, persons)| {
            let degree = if primary {
                Degree::Primary
            } else {
                Degree::Secondary
            };
            let mut d = Directory::default();
            for s in 0..schools {
                d.schools.push(school(100 + s, &names[s as usize], degree));
                let mut seen = Vec::new();
                for (code, label, is_group, divisions) in &groups[s as usize] {
                    if seen.contains(code) {
                        continue;
                    }
                    seen.push(code.clone());
                    d.groups.push(Group {
                        uai: uai(100 + s),
                        code: code.clone(),
                        label: label.clone(),
                        kind: if *is_group {
                            GroupKind::Groupe
                        } else {
                            GroupKind::Division
                        },
                        divisions: divisions.clone(),
                    });
                }
            }
            let (mut pupils, mut staff, mut managers) = (Vec::new(), Vec::new(), Vec::new());
            for (i, (pupil, profile, s, names, (civ, mail), gs, ms4, subjects, manages)) in
                persons.into_iter().enumerate()
            {
                let s = s % schools;
                let at = uai(100 + s);
                let profile = if pupil { Profile::Eleve } else { profile };
                let mut p = person(&format!("p{i}"), 100 + s, profile);
                (p.last_name, p.first_name) = names;
                (p.civility, p.email) = (civ, mail);
                let codes: Vec<&Group> = d.groups.iter().filter(|g| g.uai == at).collect();
                for g in gs {
                    if let Some(g) = codes.get(g) {
                        let r = GroupRef {
                            uai: at.clone(),
                            code: g.code.clone(),
                        };
                        if !p.groups.contains(&r) {
                            p.groups.push(r);
                        }
                    }
                }
                p.mefstat4 = ms4
                    .into_iter()
                    .map(|code| SchoolCode {
                        uai: at.clone(),
                        code,
                    })
                    .collect();
                if degree == Degree::Secondary && !p.groups.is_empty() {
                    p.subjects = subjects
                        .into_iter()
                        .map(|n| SchoolSubject {
                            uai: at.clone(),
                            code: format!("M{n}"),
                            label: format!("Matière & <{n}>"),
                        })
                        .collect();
                }
                for m in manages {
                    let u = uai(100 + m % schools);
                    if !p.manages.contains(&u) {
                        p.manages.push(u);
                    }
                }
                if pupil && i % 5 == 4 && !p.manages.is_empty() {
                    // Now and then, a manager who is nobody else.
                    p.profiles.clear();
                    p.groups.clear();
                    p.mefstat4.clear();
                    p.subjects.clear();
                    managers.push(p);
                } else if pupil {
                    pupils.push(p);
                } else {
                    staff.push(p);
                }
            }
            d.persons = pupils.into_iter().chain(staff).chain(managers).collect();
            d
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn import_of_export_is_the_directory(d in any_directory()) {
        let (_, _, back) = round_trip(&d);
        prop_assert_eq!(back, d);
    }
}
