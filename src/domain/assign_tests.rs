use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::directory::{GroupRef, SchoolProfile};
use crate::domain::licence_count::{count, AudienceCounts};
use crate::domain::subscription::{Assignment, SubscriptionDetails};
use crate::domain::{GroupKind, Profile};

fn uai() -> Uai {
    "0561641E".parse().unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

fn person(id: &str, profile: Profile, groups: &[&str], manages: bool) -> Person {
    Person {
        ent: "B0".parse().unwrap(),
        id: id.into(),
        last_name: id.into(),
        first_name: "X".into(),
        civility: None,
        email: None,
        profiles: vec![SchoolProfile {
            uai: uai(),
            profile,
        }],
        groups: groups
            .iter()
            .map(|g| GroupRef {
                uai: uai(),
                code: (*g).into(),
            })
            .collect(),
        mefstat4: vec![],
        subjects: vec![],
        manages: if manages { vec![uai()] } else { vec![] },
    }
}

fn group(code: &str) -> Group {
    Group {
        uai: uai(),
        code: code.into(),
        label: code.into(),
        kind: GroupKind::Division,
        divisions: vec![],
    }
}

fn subscription(eleve: Option<u32>, global: Option<u32>) -> Subscription {
    Subscription {
        id: "abo".into(),
        distributor_id: "123456789_0000000000000000".into(),
        resource_id: "ark:/99999/x".parse().unwrap(),
        resource_label: String::new(),
        valid_from: Utc.with_ymd_and_hms(2026, 8, 15, 0, 0, 0).unwrap(),
        valid_until: Utc.with_ymd_and_hms(2027, 8, 15, 0, 0, 0).unwrap(),
        uais: vec![uai()],
        assignment_type: AssignmentType::Indiv,
        audiences: vec![PublicCible::Eleve, PublicCible::Enseignant],
        deleted: false,
        details: SubscriptionDetails {
            global_licences: global.map(LicenceCount::Limited),
            licences: eleve
                .map(|n| vec![(PublicCible::Eleve, LicenceCount::Limited(n))])
                .unwrap_or_default(),
            ..Default::default()
        },
    }
}

fn pupil_target(id: &str) -> AssignmentTarget {
    AssignmentTarget::Person {
        ent: "B0".parse().unwrap(),
        id: id.into(),
    }
}

#[test]
fn only_a_manager_of_the_school_assigns_an_individual_subscription_in_force() {
    let persons = vec![person("e1", Profile::Eleve, &["4A"], false)];
    let groups = vec![group("4A")];
    let manager = person("m", Profile::Enseignant, &[], true);
    let s = subscription(None, None);
    let ok = check(
        &manager,
        &s,
        &uai(),
        &pupil_target("e1"),
        &persons,
        &groups,
        now(),
    );
    assert_eq!(ok, Ok(()));
    let not_manager = person("n", Profile::Enseignant, &[], false);
    assert_eq!(
        check(
            &not_manager,
            &s,
            &uai(),
            &pupil_target("e1"),
            &persons,
            &groups,
            now()
        ),
        Err(AssignRefusal::NotManager)
    );
    let mut etabl = s.clone();
    etabl.assignment_type = AssignmentType::Etabl;
    assert_eq!(
        check(
            &manager,
            &etabl,
            &uai(),
            &pupil_target("e1"),
            &persons,
            &groups,
            now()
        ),
        Err(AssignRefusal::NotIndividual)
    );
    let mut deleted = s.clone();
    deleted.deleted = true;
    assert_eq!(
        check(
            &manager,
            &deleted,
            &uai(),
            &pupil_target("e1"),
            &persons,
            &groups,
            now()
        ),
        Err(AssignRefusal::NotInForce)
    );
    let later = Utc.with_ymd_and_hms(2027, 9, 1, 0, 0, 0).unwrap();
    assert_eq!(
        check(
            &manager,
            &s,
            &uai(),
            &pupil_target("e1"),
            &persons,
            &groups,
            later
        ),
        Err(AssignRefusal::NotInForce)
    );
    for target in [
        pupil_target("nobody"),
        AssignmentTarget::Group { code: "6B".into() },
    ] {
        assert_eq!(
            check(&manager, &s, &uai(), &target, &persons, &groups, now()),
            Err(AssignRefusal::UnknownTarget)
        );
    }
    // A person outside the subscription's audiences.
    let tutor = vec![person("t1", Profile::Tuteur, &[], false)];
    assert_eq!(
        check(
            &manager,
            &s,
            &uai(),
            &pupil_target("t1"),
            &tutor,
            &groups,
            now()
        ),
        Err(AssignRefusal::UnknownTarget)
    );
}

#[test]
fn a_subscription_not_covering_the_school_is_refused() {
    let manager = person("m", Profile::Enseignant, &[], true);
    let mut s = subscription(None, None);
    s.uais = vec!["0561642F".parse().unwrap()];
    assert_eq!(
        check(&manager, &s, &uai(), &pupil_target("e1"), &[], &[], now()),
        Err(AssignRefusal::NotCovered)
    );
}

fn reached(s: &Subscription, persons: &[Person], targets: &[AssignmentTarget]) -> AudienceCounts {
    let a: Vec<Assignment> = targets
        .iter()
        .map(|t| Assignment {
            subscription_id: s.id.clone(),
            uai: uai(),
            target: t.clone(),
        })
        .collect();
    count(s, &uai(), persons, &a)
}

#[test]
fn licences_are_counted_by_the_people_reached() {
    let persons = vec![
        person("e1", Profile::Eleve, &["4A"], false),
        person("e2", Profile::Eleve, &["4A"], false),
        person("e3", Profile::Eleve, &["4B"], false),
        person("p1", Profile::Enseignant, &["4A"], false),
    ];
    let s = subscription(Some(2), None);
    let class = AssignmentTarget::Group { code: "4A".into() };
    let before = reached(&s, &persons, &[]);
    // The class reaches two pupils (and a teacher, not limited): exactly the two licences.
    let after = reached(&s, &persons, std::slice::from_ref(&class));
    assert_eq!(within_licences(&s, &before, &after), Ok(()));
    // One more pupil is over.
    let more = reached(&s, &persons, &[class.clone(), pupil_target("e3")]);
    assert_eq!(
        within_licences(&s, &after, &more),
        Err(AssignRefusal::OverLicences {
            audience: Some(PublicCible::Eleve),
            limit: 2
        })
    );
    // Assigning someone the class already reaches adds nobody: allowed.
    let same = reached(&s, &persons, &[class.clone(), pupil_target("e1")]);
    assert_eq!(within_licences(&s, &after, &same), Ok(()));
    // A global count covers every audience: the teacher counts too.
    let g = subscription(None, Some(2));
    assert_eq!(
        within_licences(
            &g,
            &before,
            &reached(&g, &persons, std::slice::from_ref(&class))
        ),
        Err(AssignRefusal::OverLicences {
            audience: None,
            limit: 2
        })
    );
    // Unlimited: anything goes.
    let u = subscription(None, None);
    assert_eq!(
        within_licences(
            &u,
            &before,
            &reached(&u, &persons, &[class, pupil_target("e3")])
        ),
        Ok(())
    );
    assert_eq!(left(&s, &after), vec![("ELEVE".to_string(), Some(0))]);
}
