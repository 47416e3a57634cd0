//! Every case of the access rule, with a fixed `now`.

use super::*;
use crate::domain::directory::{GroupRef, SchoolProfile};
use crate::domain::ids::PublicCible;
use chrono::TimeZone;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).single().unwrap()
}

fn uai(n: u32) -> Uai {
    Uai::from_number(n).unwrap()
}

fn res() -> ResourceId {
    "ark:/12345/manuel-maths".parse().unwrap()
}

fn pupil() -> Person {
    Person {
        ent: "B0".parse().unwrap(),
        id: "p-001".into(),
        last_name: "Martin".into(),
        first_name: "Léa".into(),
        civility: None,
        email: None,
        profiles: vec![
            SchoolProfile {
                uai: uai(561641),
                profile: Profile::Eleve,
            },
            SchoolProfile {
                uai: uai(100),
                profile: Profile::Eleve,
            },
        ],
        groups: vec![GroupRef {
            uai: uai(561641),
            code: "4A".into(),
        }],
        mefstat4: vec![],
        subjects: vec![],
        manages: vec![],
    }
}

fn sub(kind: AssignmentType) -> Subscription {
    Subscription {
        id: "abo-1".into(),
        distributor_id: "123456789_0000000000000000".into(),
        resource_id: res(),
        resource_label: "Manuel".into(),
        valid_from: at(2026, 8, 15),
        valid_until: at(2027, 8, 15),
        uais: vec![uai(561641)],
        assignment_type: kind,
        audiences: vec![PublicCible::Eleve],
        deleted: false,
        details: Default::default(),
    }
}

fn ask(
    now: DateTime<Utc>,
    p: &Person,
    u: &Uai,
    subs: &[Subscription],
    aff: &[Assignment],
) -> Result<AccessGrant, Refusal> {
    decide(
        now,
        AccessRequest {
            person: p,
            uai: u,
            resource: &res(),
        },
        subs,
        aff,
    )
}

const NOW: (i32, u32, u32) = (2026, 11, 24);

fn now() -> DateTime<Utc> {
    at(NOW.0, NOW.1, NOW.2)
}

#[test]
fn establishment_wide_subscription_opens_to_covered_profile() {
    let g = ask(
        now(),
        &pupil(),
        &uai(561641),
        &[sub(AssignmentType::Etabl)],
        &[],
    )
    .unwrap();
    assert_eq!(g.profile(), Profile::Eleve);
    assert_eq!(g.subscription_id(), "abo-1");
    assert_eq!(g.uai(), &uai(561641));
}

#[test]
fn person_not_in_school_is_refused() {
    assert_eq!(
        ask(
            now(),
            &pupil(),
            &uai(200),
            &[sub(AssignmentType::Etabl)],
            &[]
        ),
        Err(Refusal::NotInSchool)
    );
}

#[test]
fn no_subscription_for_that_school_is_refused() {
    // The pupil belongs to school 100, but the subscription covers only 561641.
    assert_eq!(
        ask(
            now(),
            &pupil(),
            &uai(100),
            &[sub(AssignmentType::Etabl)],
            &[]
        ),
        Err(Refusal::NoSubscription)
    );
    assert_eq!(
        ask(now(), &pupil(), &uai(561641), &[], &[]),
        Err(Refusal::NoSubscription)
    );
}

#[test]
fn deleted_subscription_opens_nothing() {
    let mut s = sub(AssignmentType::Etabl);
    s.deleted = true;
    assert_eq!(
        ask(now(), &pupil(), &uai(561641), &[s], &[]),
        Err(Refusal::NoSubscription)
    );
}

#[test]
fn expired_and_future_subscriptions_are_told_apart() {
    let s = sub(AssignmentType::Etabl);
    assert_eq!(
        ask(
            at(2027, 8, 16),
            &pupil(),
            &uai(561641),
            std::slice::from_ref(&s),
            &[]
        ),
        Err(Refusal::SubscriptionExpired)
    );
    assert_eq!(
        ask(
            at(2026, 8, 1),
            &pupil(),
            &uai(561641),
            std::slice::from_ref(&s),
            &[]
        ),
        Err(Refusal::SubscriptionNotYetValid)
    );
    // Start is inclusive, end exclusive.
    assert!(ask(
        s.valid_from,
        &pupil(),
        &uai(561641),
        std::slice::from_ref(&s),
        &[]
    )
    .is_ok());
    assert_eq!(
        ask(
            s.valid_until,
            &pupil(),
            &uai(561641),
            std::slice::from_ref(&s),
            &[]
        ),
        Err(Refusal::SubscriptionExpired)
    );
}

#[test]
fn profile_outside_the_audience_is_refused() {
    let mut s = sub(AssignmentType::Etabl);
    s.audiences = vec![PublicCible::Enseignant];
    assert_eq!(
        ask(now(), &pupil(), &uai(561641), &[s], &[]),
        Err(Refusal::ProfileNotCovered)
    );
}

#[test]
fn guardians_are_never_covered() {
    let mut p = pupil();
    p.profiles[0].profile = Profile::Tuteur;
    let mut s = sub(AssignmentType::Etabl);
    s.audiences = vec![
        PublicCible::Eleve,
        PublicCible::Enseignant,
        PublicCible::Documentaliste,
        PublicCible::AutrePersonnel,
    ];
    assert_eq!(
        ask(now(), &p, &uai(561641), &[s], &[]),
        Err(Refusal::ProfileNotCovered)
    );
}

#[test]
fn staff_profiles_map_to_autre_personnel() {
    let mut p = pupil();
    p.profiles[0].profile = Profile::Direction;
    let mut s = sub(AssignmentType::Etabl);
    s.audiences = vec![PublicCible::AutrePersonnel];
    assert!(ask(now(), &p, &uai(561641), &[s], &[]).is_ok());
}

#[test]
fn individual_subscription_needs_an_assignment() {
    assert_eq!(
        ask(
            now(),
            &pupil(),
            &uai(561641),
            &[sub(AssignmentType::Indiv)],
            &[]
        ),
        Err(Refusal::NotAssigned)
    );
}

#[test]
fn direct_assignment_opens() {
    let a = Assignment {
        subscription_id: "abo-1".into(),
        uai: uai(561641),
        target: AssignmentTarget::Person {
            ent: "B0".parse().unwrap(),
            id: "p-001".into(),
        },
    };
    assert!(ask(
        now(),
        &pupil(),
        &uai(561641),
        &[sub(AssignmentType::Indiv)],
        &[a]
    )
    .is_ok());
}

#[test]
fn assignment_of_another_person_or_ent_does_not_open() {
    let other_id = Assignment {
        subscription_id: "abo-1".into(),
        uai: uai(561641),
        target: AssignmentTarget::Person {
            ent: "B0".parse().unwrap(),
            id: "p-002".into(),
        },
    };
    let other_ent = Assignment {
        subscription_id: "abo-1".into(),
        uai: uai(561641),
        target: AssignmentTarget::Person {
            ent: "Z0".parse().unwrap(),
            id: "p-001".into(),
        },
    };
    assert_eq!(
        ask(
            now(),
            &pupil(),
            &uai(561641),
            &[sub(AssignmentType::Indiv)],
            &[other_id, other_ent]
        ),
        Err(Refusal::NotAssigned)
    );
}

#[test]
fn class_or_group_assignment_opens_to_members_only() {
    let a = Assignment {
        subscription_id: "abo-1".into(),
        uai: uai(561641),
        target: AssignmentTarget::Group { code: "4A".into() },
    };
    assert!(ask(
        now(),
        &pupil(),
        &uai(561641),
        &[sub(AssignmentType::Indiv)],
        std::slice::from_ref(&a)
    )
    .is_ok());
    let mut p = pupil();
    p.groups.clear();
    assert_eq!(
        ask(now(), &p, &uai(561641), &[sub(AssignmentType::Indiv)], &[a]),
        Err(Refusal::NotAssigned)
    );
}

#[test]
fn assignment_of_another_subscription_or_school_does_not_open() {
    let other_sub = Assignment {
        subscription_id: "abo-2".into(),
        uai: uai(561641),
        target: AssignmentTarget::Group { code: "4A".into() },
    };
    let other_school = Assignment {
        subscription_id: "abo-1".into(),
        uai: uai(100),
        target: AssignmentTarget::Group { code: "4A".into() },
    };
    assert_eq!(
        ask(
            now(),
            &pupil(),
            &uai(561641),
            &[sub(AssignmentType::Indiv)],
            &[other_sub, other_school]
        ),
        Err(Refusal::NotAssigned)
    );
}

#[test]
fn a_valid_subscription_wins_over_an_expired_one() {
    let mut old = sub(AssignmentType::Etabl);
    old.id = "abo-old".into();
    old.valid_from = at(2024, 8, 15);
    old.valid_until = at(2025, 8, 15);
    let g = ask(
        now(),
        &pupil(),
        &uai(561641),
        &[old, sub(AssignmentType::Etabl)],
        &[],
    )
    .unwrap();
    assert_eq!(g.subscription_id(), "abo-1");
}
