//! Attribute release: exact values for a known user, and a property test that what is
//! released never exceeds what was validated.

use super::*;
use crate::domain::access::{decide, AccessRequest};
use crate::domain::directory::{GroupRef, SchoolCode, SchoolProfile, SchoolSubject};
use crate::domain::ids::{IdEnt, PublicCible, ResourceId, Uai};
use crate::domain::subscription::{AssignmentType, Subscription};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

fn uai() -> Uai {
    Uai::from_number(561641).unwrap()
}

fn resource() -> ResourceId {
    "ark:/12345/r".parse().unwrap()
}

fn etabl_for_all() -> Subscription {
    Subscription {
        id: "s".into(),
        distributor_id: "123456789_0000000000000000".into(),
        resource_id: resource(),
        resource_label: String::new(),
        valid_from: Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(),
        valid_until: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
        uais: vec![uai()],
        assignment_type: AssignmentType::Etabl,
        audiences: vec![
            PublicCible::Eleve,
            PublicCible::Enseignant,
            PublicCible::Documentaliste,
            PublicCible::AutrePersonnel,
        ],
        deleted: false,
        details: Default::default(),
    }
}

fn groups() -> Vec<Group> {
    vec![
        Group {
            uai: uai(),
            code: "2NDE04".into(),
            label: "Seconde 4".into(),
            kind: GroupKind::Division,
            divisions: vec![],
        },
        Group {
            uai: uai(),
            code: "G-LATIN".into(),
            label: "Latin".into(),
            kind: GroupKind::Groupe,
            divisions: vec!["2NDE04".into()],
        },
    ]
}

fn teacher() -> Person {
    Person {
        ent: "B0".parse().unwrap(),
        id: "t-1".into(),
        last_name: "Durand".into(),
        first_name: "Paul".into(),
        civility: Some("M.".into()),
        email: Some("paul.durand@ac-test.fr".into()),
        profiles: vec![SchoolProfile {
            uai: uai(),
            profile: Profile::Enseignant,
        }],
        groups: vec![
            GroupRef {
                uai: uai(),
                code: "2NDE04".into(),
            },
            GroupRef {
                uai: uai(),
                code: "G-LATIN".into(),
            },
        ],
        mefstat4: vec![SchoolCode {
            uai: uai(),
            code: "2213".into(),
        }],
        subjects: vec![SchoolSubject {
            uai: uai(),
            code: "020700".into(),
            label: "LATIN".into(),
        }],
        manages: vec![],
    }
}

fn grant_for(p: &Person) -> AccessGrant {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    decide(
        now,
        AccessRequest {
            person: p,
            uai: &uai(),
            resource: &resource(),
        },
        &[etabl_for_all()],
        &[],
    )
    .unwrap()
}

fn key() -> IdoKey {
    IdoKey::new(b"0123456789abcdef0123456789abcdef").unwrap()
}

#[test]
fn releases_every_validated_attribute_in_gar_format() {
    let p = teacher();
    let all: BTreeSet<AttributeName> = AttributeName::ALL.into_iter().collect();
    let policy = ReleasePolicy {
        by_profile: [(Profile::Enseignant, all)].into_iter().collect(),
    };
    let sites = vec![
        "https://a.example/".to_string(),
        "https://b.example/".to_string(),
    ];
    let r = release(
        &grant_for(&p),
        &p,
        &groups(),
        &policy,
        &key(),
        "dist",
        &sites,
    )
    .unwrap();
    assert_eq!(r.get(AttributeName::Ido), Some(&[r.subject.clone()][..]));
    assert_eq!(
        r.get(AttributeName::Idc),
        Some(&[format!("{}_{}", resource(), r.subject)][..])
    );
    assert_eq!(r.get(AttributeName::Lra), Some(&sites[..]));
    let ent = grant_for(&p).ent().to_string();
    use base64::Engine;
    assert_eq!(
        r.get(AttributeName::IdEnt),
        Some(&[base64::engine::general_purpose::STANDARD.encode(&ent)][..])
    );
    assert_eq!(
        r.get(AttributeName::Uai),
        Some(&["0561641E".to_string()][..])
    );
    assert_eq!(
        r.get(AttributeName::Pro),
        Some(&["National_ens".to_string()][..])
    );
    assert_eq!(r.get(AttributeName::Civ), Some(&["M.".to_string()][..]));
    assert_eq!(
        r.get(AttributeName::PMel),
        Some(&["paul.durand@ac-test.fr".to_string()][..])
    );
    assert_eq!(
        r.get(AttributeName::Div),
        Some(&["2NDE04##Seconde 4".to_string()][..])
    );
    assert_eq!(
        r.get(AttributeName::Gro),
        Some(&["G-LATIN##Latin".to_string()][..])
    );
    assert_eq!(
        r.get(AttributeName::DivApp),
        Some(&["G-LATIN||2NDE04##Seconde 4".to_string()][..])
    );
    assert_eq!(r.get(AttributeName::PMs4), Some(&["2213".to_string()][..]));
    assert_eq!(
        r.get(AttributeName::PMat),
        Some(&["020700##LATIN".to_string()][..])
    );
    // A teacher has no student level.
    assert_eq!(r.get(AttributeName::EMs4), None);
}

#[test]
fn minimal_policy_releases_only_the_minimal_set() {
    let p = teacher();
    let min: BTreeSet<AttributeName> = [AttributeName::Ido, AttributeName::Uai, AttributeName::Pro]
        .into_iter()
        .collect();
    let policy = ReleasePolicy {
        by_profile: [(Profile::Enseignant, min.clone())].into_iter().collect(),
    };
    let sites = vec!["https://a.example/".to_string()];
    let r = release(
        &grant_for(&p),
        &p,
        &groups(),
        &policy,
        &key(),
        "dist",
        &sites,
    )
    .unwrap();
    assert_eq!(
        r.names().into_iter().collect::<BTreeSet<_>>(),
        min,
        "IDC, LRA and idENT only where validated"
    );
}

#[test]
fn profile_without_validated_list_gets_nothing_but_the_subject() {
    let p = teacher();
    let policy = ReleasePolicy::default();
    let r = release(&grant_for(&p), &p, &groups(), &policy, &key(), "dist", &[]).unwrap();
    assert!(r.values.is_empty());
    assert_eq!(r.subject.len(), 128);
}

#[test]
fn student_never_gets_an_email_even_if_validated() {
    let mut p = teacher();
    p.profiles[0].profile = Profile::Eleve;
    let policy = ReleasePolicy {
        by_profile: [(
            Profile::Eleve,
            [AttributeName::PMel, AttributeName::EMs4]
                .into_iter()
                .collect(),
        )]
        .into_iter()
        .collect(),
    };
    let r = release(&grant_for(&p), &p, &groups(), &policy, &key(), "dist", &[]).unwrap();
    assert_eq!(r.get(AttributeName::PMel), None);
    assert_eq!(r.get(AttributeName::EMs4), Some(&["2213".to_string()][..]));
}

#[test]
fn grant_of_another_person_is_refused() {
    let p = teacher();
    let mut other = teacher();
    other.id = "t-2".into();
    let r = release(
        &grant_for(&p),
        &other,
        &groups(),
        &ReleasePolicy::default(),
        &key(),
        "dist",
        &[],
    );
    assert_eq!(r, Err(ReleaseError::PersonMismatch));
}

fn any_profile() -> impl Strategy<Value = Profile> {
    prop::sample::select(Profile::ALL.to_vec())
        .prop_filter("covered by some audience", |p| p.audience().is_some())
}

fn any_names() -> impl Strategy<Value = BTreeSet<AttributeName>> {
    prop::collection::btree_set(prop::sample::select(AttributeName::ALL.to_vec()), 0..16)
}

fn any_person() -> impl Strategy<Value = Person> {
    (
        any_profile(),
        "[a-z]{0,6}",
        proptest::option::of("[a-z]{1,6}@x\\.fr"),
        proptest::option::of(prop::sample::select(vec![
            "M.".to_string(),
            "Mme".to_string(),
        ])),
        prop::collection::vec(
            prop::sample::select(vec![
                "2NDE04".to_string(),
                "G-LATIN".to_string(),
                "UNKNOWN".to_string(),
            ]),
            0..3,
        ),
        prop::collection::vec("[0-9]{4}", 0..3),
    )
        .prop_map(|(profile, name, email, civility, groups, ms4)| Person {
            ent: IdEnt::try_from("B0".to_string()).unwrap(),
            id: format!("u-{name}"),
            last_name: name.clone(),
            first_name: name,
            civility,
            email,
            profiles: vec![SchoolProfile {
                uai: uai(),
                profile,
            }],
            groups: groups
                .into_iter()
                .map(|code| GroupRef { uai: uai(), code })
                .collect(),
            mefstat4: ms4
                .into_iter()
                .map(|code| SchoolCode { uai: uai(), code })
                .collect(),
            subjects: vec![SchoolSubject {
                uai: uai(),
                code: "0001".into(),
                label: "X".into(),
            }],
            manages: vec![],
        })
}

proptest! {
    #[test]
    fn released_names_are_always_within_the_validated_list(
        person in any_person(),
        policy_map in prop::collection::btree_map(any_profile(), any_names(), 0..5),
    ) {
        let policy = ReleasePolicy { by_profile: policy_map };
        let grant = grant_for(&person);
        let r = release(&grant, &person, &groups(), &policy, &key(), "dist", &[]).unwrap();
        let allowed = policy.allowed(grant.profile()).cloned().unwrap_or_default();
        for (name, values) in &r.values {
            prop_assert!(allowed.contains(name), "{name} released but not validated");
            prop_assert!(!values.is_empty());
        }
        // Staff-only and level attributes follow the profile whatever the policy says.
        if grant.profile() == Profile::Eleve {
            prop_assert!(r.get(AttributeName::PMel).is_none());
            prop_assert!(r.get(AttributeName::PMat).is_none());
            prop_assert!(r.get(AttributeName::PMs4).is_none());
        }
        // Names are released only when validated, and then exactly the directory's.
        if let Some(v) = r.get(AttributeName::Nom) {
            prop_assert_eq!(v, &[person.last_name.clone()][..]);
        }
        prop_assert_eq!(r.subject.len(), 128);
    }
}
