//! Every rule of the subscription web service, with a passing and a failing case.

use super::*;
use chrono::TimeZone;

const CALLER: &str = "123456789_0000000000000000";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

/// `t` in Paris, where dates without an offset are read.
fn paris(t: DateTime<Utc>) -> DateTime<Tz> {
    t.with_timezone(&chrono_tz::Europe::Paris)
}

fn valid() -> SubscriptionInput {
    SubscriptionInput {
        id: Some("abo-2026-001".into()),
        comment: Some("Abonnement de test".into()),
        distributor: Some(CALLER.into()),
        resource_id: Some("ark:/99999/manuel".into()),
        resource_type: Some("ark".into()),
        resource_label: Some("Manuel".into()),
        start: Some("2026-08-15T00:00:00".into()),
        end: None,
        end_school_year: Some("2026-2027".into()),
        uais: vec!["0561641E".into()],
        nature_uai: None,
        category: Some("transferable".into()),
        assignment_type: Some("INDIV".into()),
        global_licences: None,
        licences: vec![
            (PublicCible::Eleve, "30".into()),
            (PublicCible::Enseignant, "ILLIMITE".into()),
        ],
        audiences: vec!["ELEVE".into(), "ENSEIGNANT".into()],
        project_code: Some("PRJ-1".into()),
    }
}

fn check(input: &SubscriptionInput) -> Result<Subscription, Vec<Violation>> {
    validate(
        input,
        "abo-2026-001",
        CALLER,
        Mode::Create,
        None,
        paris(now()),
    )
}

/// Asserts that `change` breaks exactly `rule` on `field`.
fn refused(change: impl FnOnce(&mut SubscriptionInput), rule: &str, field: &str) {
    let mut input = valid();
    change(&mut input);
    let errors = check(&input).expect_err("must be refused");
    assert!(
        errors.iter().any(|v| v.rule == rule && v.field == field),
        "expected {rule} on {field}, got {errors:?}"
    );
}

#[test]
fn a_valid_subscription_is_accepted_with_every_field() {
    let s = check(&valid()).unwrap();
    assert_eq!(s.id, "abo-2026-001");
    assert_eq!(
        s.valid_from,
        Utc.with_ymd_and_hms(2026, 8, 14, 22, 0, 0).unwrap(),
        "a time without offset is Paris time"
    );
    assert_eq!(
        s.valid_until,
        Utc.with_ymd_and_hms(2027, 8, 15, 21, 59, 59).unwrap(),
        "the school year ends on 15 August at 23:59:59, Paris time"
    );
    assert_eq!(s.details.category, TRANSFERABLE);
    assert_eq!(s.uais, vec!["0561641E".parse::<Uai>().unwrap()]);
    assert_eq!(
        s.audiences,
        vec![PublicCible::Eleve, PublicCible::Enseignant]
    );
    assert_eq!(
        s.details.licences,
        vec![
            (PublicCible::Eleve, LicenceCount::Limited(30)),
            (PublicCible::Enseignant, LicenceCount::Unlimited)
        ]
    );
    assert_eq!(s.details.created_at, Some(now()));
}

#[test]
fn identifier_rules() {
    refused(|i| i.id = None, "RG-REQUIRED", "idAbonnement");
    refused(
        |i| i.id = Some("other".into()),
        "RG-ID-PATH",
        "idAbonnement",
    );
    for bad in ["_abo", "abonnements", "categorie"] {
        let mut i = valid();
        i.id = Some(bad.into());
        let errors = validate(&i, bad, CALLER, Mode::Create, None, paris(now())).unwrap_err();
        assert!(errors.iter().any(|v| v.rule == "RG-ID-FORMAT"), "{bad}");
    }
    let long = "a".repeat(46);
    let mut i = valid();
    i.id = Some(long.clone());
    assert!(
        validate(&i, &long, CALLER, Mode::Create, None, paris(now()))
            .unwrap_err()
            .iter()
            .any(|v| v.rule == "RG-LENGTH")
    );
    let ok = "a".repeat(45);
    i.id = Some(ok.clone());
    assert!(validate(&i, &ok, CALLER, Mode::Create, None, paris(now())).is_ok());
}

#[test]
fn lengths_of_comment_label_and_project_code() {
    refused(
        |i| i.comment = Some("x".repeat(256)),
        "RG-LENGTH",
        "commentaireAbonnement",
    );
    refused(
        |i| i.resource_label = Some("x".repeat(256)),
        "RG-LENGTH",
        "libelleRessource",
    );
    refused(
        |i| i.project_code = Some("x".repeat(51)),
        "RG-LENGTH",
        "codeProjetRessource",
    );
    let mut i = valid();
    i.comment = Some("x".repeat(255));
    i.project_code = Some("x".repeat(50));
    assert!(check(&i).is_ok());
}

#[test]
fn distributor_rules() {
    refused(
        |i| i.distributor = Some("12345_0000".into()),
        "RG-DISTRIBUTOR-FORMAT",
        "idDistributeurCom",
    );
    refused(
        |i| i.distributor = Some("987654321_0000000000000000".into()),
        "RG-DISTRIBUTOR-OWNER",
        "idDistributeurCom",
    );
}

#[test]
fn resource_rules() {
    refused(
        |i| i.resource_id = Some("not-an-ark".into()),
        "RG-RESOURCE-FORMAT",
        "idRessource",
    );
    refused(
        |i| i.resource_type = Some("isbn".into()),
        "RG-RESOURCE-TYPE",
        "typeIdRessource",
    );
    refused(
        |i| i.resource_label = None,
        "RG-REQUIRED",
        "libelleRessource",
    );
}

#[test]
fn validity_rules() {
    refused(
        |i| i.start = Some("15/08/2026".into()),
        "RG-DATE-FORMAT",
        "debutValidite",
    );
    refused(
        |i| i.end = Some("2027-08-15".into()),
        "RG-END-EXCLUSIVE",
        "finValidite",
    );
    refused(
        |i| i.end_school_year = None,
        "RG-END-EXCLUSIVE",
        "finValidite",
    );
    refused(
        |i| i.end_school_year = Some("2026-2028".into()),
        "RG-SCHOOL-YEAR",
        "anneeFinValidite",
    );
    refused(
        |i| i.end_school_year = Some("26-27".into()),
        "RG-SCHOOL-YEAR",
        "anneeFinValidite",
    );
    refused(
        |i| i.end_school_year = Some("2024-2025".into()),
        "RG-VALIDITY-ORDER",
        "finValidite",
    );
    refused(
        |i| i.end_school_year = Some("2036-2037".into()),
        "RG-VALIDITY-MAX",
        "finValidite",
    );
    // Exactly ten school years is accepted; a plain end date too.
    let mut i = valid();
    i.end_school_year = Some("2035-2036".into());
    assert!(check(&i).is_ok());
    let mut i = valid();
    i.end_school_year = None;
    i.end = Some("2027-08-15T23:59:59+02:00".into());
    assert!(check(&i).is_ok());
    // Both, as the service answers them: accepted when finValidite is that school year's end.
    let mut i = valid();
    i.end = Some("2027-08-15T23:59:59+02:00".into());
    let both = check(&i).unwrap();
    assert_eq!(both.valid_until, check(&valid()).unwrap().valid_until);
    assert_eq!(both.details.end_school_year.as_deref(), Some("2026-2027"));
    for other in [
        "2027-08-15T23:59:59Z",
        "2027-08-16T00:00:00+02:00",
        "demain",
    ] {
        refused(
            |i| i.end = Some(other.into()),
            "RG-END-EXCLUSIVE",
            "finValidite",
        );
    }
}

#[test]
fn school_rules() {
    refused(
        |i| i.nature_uai = Some("340".into()),
        "RG-SCOPE-EXCLUSIVE",
        "uaiEtab",
    );
    refused(|i| i.uais.clear(), "RG-SCOPE-EXCLUSIVE", "uaiEtab");
    refused(
        |i| i.uais.push("0561641F".into()),
        "RG-UAI-FORMAT",
        "uaiEtab",
    );
    let mut i = valid();
    i.uais.clear();
    i.nature_uai = Some("340".into());
    assert_eq!(
        check(&i).unwrap().details.nature_uai.as_deref(),
        Some("340")
    );
}

#[test]
fn assignment_rules() {
    refused(
        |i| i.category = Some("cessible".into()),
        "RG-CATEGORY",
        "categorieAffectation",
    );
    refused(
        |i| i.assignment_type = Some("CLASSE".into()),
        "RG-ASSIGNMENT-TYPE",
        "typeAffectation",
    );
}

/// Providers no longer send categorieAffectation: a creation is transferable, an update keeps
/// what was stored (a subscription stored without one becomes transferable).
#[test]
fn categorie_affectation_is_optional() {
    let mut input = valid();
    input.category = None;
    let created = check(&input).unwrap();
    assert_eq!(created.details.category, TRANSFERABLE);
    input.category = Some("  ".into());
    assert_eq!(check(&input).unwrap().details.category, TRANSFERABLE);

    let mut stored = created.clone();
    stored.details.category = "non transferable".into();
    let mut update = valid();
    update.uais.clear();
    update.category = None;
    let update_of = |existing: &Subscription| {
        validate(
            &update,
            "abo-2026-001",
            CALLER,
            Mode::Update,
            Some(existing),
            paris(now()),
        )
        .unwrap()
        .details
        .category
    };
    assert_eq!(update_of(&stored), "non transferable");
    stored.details.category = String::new();
    assert_eq!(update_of(&stored), TRANSFERABLE);
}

#[test]
fn audience_rules() {
    refused(
        |i| i.audiences = vec!["PARENT".into()],
        "RG-AUDIENCE",
        "publicCible",
    );
    refused(|i| i.audiences.clear(), "RG-AUDIENCE", "publicCible");
}

#[test]
fn licence_rules() {
    refused(
        |i| i.licences = vec![(PublicCible::Eleve, "beaucoup".into())],
        "RG-LICENCE-FORMAT",
        "nbLicenceEleve",
    );
    refused(
        |i| i.licences.push((PublicCible::Documentaliste, "2".into())),
        "RG-LICENCE-AUDIENCE",
        "nbLicenceProfDoc",
    );
    refused(
        |i| i.global_licences = Some("10".into()),
        "RG-LICENCE-EXCLUSIVE",
        "nbLicenceGlobale",
    );
    refused(
        |i| i.licences.clear(),
        "RG-LICENCE-REQUIRED",
        "nbLicenceGlobale",
    );
    refused(
        |i| {
            i.assignment_type = Some("ETABL".into());
        },
        "RG-LICENCE-ETABL",
        "nbLicenceGlobale",
    );
    refused(
        |i| {
            i.licences.clear();
            i.global_licences = Some("-3".into());
        },
        "RG-LICENCE-FORMAT",
        "nbLicenceGlobale",
    );
    // ETABL with a global count, and INDIV with an unlimited global count: accepted.
    let mut i = valid();
    i.assignment_type = Some("ETABL".into());
    i.licences.clear();
    i.global_licences = Some("ILLIMITE".into());
    assert_eq!(
        check(&i).unwrap().details.global_licences,
        Some(LicenceCount::Unlimited)
    );
}

#[test]
fn every_violation_is_reported_at_once() {
    let input = SubscriptionInput {
        id: Some("abo-2026-001".into()),
        ..Default::default()
    };
    let errors = check(&input).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|v| v.field).collect();
    for f in [
        "idDistributeurCom",
        "idRessource",
        "typeIdRessource",
        "libelleRessource",
        "debutValidite",
        "finValidite",
        "uaiEtab",
        "typeAffectation",
        "publicCible",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

#[test]
fn an_update_keeps_the_schools_and_refuses_new_ones() {
    let created = check(&valid()).unwrap();
    let mut update = valid();
    update.uais.clear();
    update.resource_label = Some("Manuel (nouvelle édition)".into());
    let later = now() + Duration::days(3);
    let updated = validate(
        &update,
        "abo-2026-001",
        CALLER,
        Mode::Update,
        Some(&created),
        paris(later),
    )
    .unwrap();
    assert_eq!(updated.uais, created.uais);
    assert_eq!(updated.resource_label, "Manuel (nouvelle édition)");
    assert_eq!(updated.details.created_at, Some(now()));
    assert_eq!(updated.details.updated_at, Some(later));
    let errors = validate(
        &valid(),
        "abo-2026-001",
        CALLER,
        Mode::Update,
        Some(&created),
        paris(later),
    )
    .unwrap_err();
    assert!(errors.iter().any(|v| v.rule == "RG-UPDATE-UAI"));
}

#[test]
fn librarians_are_no_audience_in_primary_schools() {
    let mut input = valid();
    input.audiences.push("DOCUMENTALISTE".into());
    let uai: Uai = "0561641E".parse().unwrap();
    let primary = |input: &SubscriptionInput, schools: &[Uai]| {
        validate_for_schools(
            input,
            "abo-2026-001",
            CALLER,
            Mode::Create,
            None,
            paris(now()),
            schools,
        )
    };
    // A secondary school (or one the directory does not know as primary): accepted.
    assert!(primary(&input, &[]).is_ok());
    let errors = primary(&input, std::slice::from_ref(&uai)).expect_err("primary school");
    assert!(
        errors
            .iter()
            .any(|v| v.rule == "RG-PRIMARY-DOCUMENTALISTE" && v.field == "publicCible"),
        "{errors:?}"
    );
    // Without the librarian audience, a primary school is fine.
    assert!(primary(&valid(), std::slice::from_ref(&uai)).is_ok());
    // A primary kind of school (nature 1xx) is refused; a collège (340) is not.
    refused(
        |i| {
            i.uais.clear();
            i.nature_uai = Some("101".into());
            i.audiences.push("DOCUMENTALISTE".into());
        },
        "RG-PRIMARY-DOCUMENTALISTE",
        "publicCible",
    );
    input.uais.clear();
    input.nature_uai = Some("340".into());
    assert!(check(&input).is_ok());
}
