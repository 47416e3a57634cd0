//! Dates of the subscription web service from a client's point of view: local times without
//! an offset are read in `[subscriptions] timezone` (Europe/Paris by default), every date is
//! answered with its offset there (+02:00 in summer, +01:00 in winter), and `finValidite` is
//! always answered, also beside an `anneeFinValidite` (15 August, 23:59:59 local time).
//! Time is the test gateway's fixed clock.

use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Utc};

use crate::abonnement_clients::{abonnement, client_body, Client};
use crate::support::gateway::*;
use crate::support::ns_xml;

const NS: &str = "http://www.atosworldline.com/wsabonnement/v1.0/";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().into()
}

/// An establishment-wide subscription of the teachers to the individual resource, from
/// `start` to `end` (both as the client writes them).
fn for_teachers(id: &str, start: &str, end: &str) -> String {
    client_body(id, "Ressource individuelle", "")
        .replace("2026-09-01T00:00:00", start)
        .replace("<finValidite>2027-08-15T00:00:00</finValidite>", end)
        .replace("INDIV<", "ETABL<")
        .replace("<publicCible>ELEVE</publicCible>\n", "")
}

/// Whether the médiacentre listing of teacher `ens-0001` shows the individual resource.
async fn teacher_sees_it(gw: &TestGateway) -> bool {
    let listing = Request::get(format!("/ressources/B0/{UAI}/ens-0001"))
        .header("authorization", format!("Bearer {ENT_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    body_string(gw.call(listing).await)
        .await
        .contains(RES_INDIV)
}

#[tokio::test]
async fn local_dates_open_the_resource_at_local_midnight_and_come_back_with_their_offsets() {
    let gw = TestGateway::new().await;
    let client = Client::of(&gw).await;
    gw.clock.set(at("2026-06-01T08:00:00Z"));
    let body = for_teachers(
        "abo-local",
        "2026-09-01T00:00:00",
        "<finValidite>2027-01-15T00:00:00</finValidite>",
    );
    let (s, answer) = client.send(reqwest::Method::PUT, "abo-local", &body).await;
    assert_eq!(s, 201, "{answer}");
    let a = abonnement(&answer);
    // Summer and winter offsets, the creation at the clock's time in Paris.
    assert_eq!(a.text_of(NS, "debutValidite"), "2026-09-01T00:00:00+02:00");
    assert_eq!(a.text_of(NS, "finValidite"), "2027-01-15T00:00:00+01:00");
    assert_eq!(a.text_of(NS, "dateCreation"), "2026-06-01T10:00:00+02:00");
    assert_eq!(a.find(NS, "anneeFinValidite"), None);

    // Local midnight, not UTC midnight: closed at 23:30 on 31 August in Paris, open at 00:30.
    gw.clock.set(at("2026-08-31T21:30:00Z"));
    assert!(!teacher_sees_it(&gw).await, "not yet");
    gw.clock.set(at("2026-08-31T22:30:00Z"));
    assert!(teacher_sees_it(&gw).await, "from local midnight");
    gw.clock.set(at("2027-01-14T22:59:59Z"));
    assert!(teacher_sees_it(&gw).await, "until local midnight");
    gw.clock.set(at("2027-01-14T23:00:00Z"));
    assert!(!teacher_sees_it(&gw).await, "ended at local midnight");

    // A date with an offset is that instant; the answer gives it in Paris time.
    gw.clock.set(at("2026-11-24T08:00:00Z"));
    let update = body
        .replace("2026-09-01T00:00:00", "2026-09-01T00:00:00Z")
        .replace(&format!("<uaiEtab>{UAI}</uaiEtab>"), "");
    let (s, answer) = client
        .send(reqwest::Method::POST, "abo-local", &update)
        .await;
    assert_eq!(s, 200, "{answer}");
    let a = abonnement(&answer);
    assert_eq!(a.text_of(NS, "debutValidite"), "2026-09-01T02:00:00+02:00");
    assert_eq!(
        a.text_of(NS, "dateModification"),
        "2026-11-24T09:00:00+01:00"
    );

    // A date that is not one is refused with its rule.
    let (s, answer) = client
        .send(
            reqwest::Method::PUT,
            "abo-bad-date",
            &for_teachers(
                "abo-bad-date",
                "2026-09-01T24:30:00",
                "<finValidite>2027-01-15T00:00:00</finValidite>",
            ),
        )
        .await;
    assert_eq!(s, 400, "{answer}");
    assert!(
        answer.contains("<regle>RG-DATE-FORMAT</regle><champ>debutValidite</champ>"),
        "{answer}"
    );
}

#[tokio::test]
async fn fin_validite_is_always_answered_beside_annee_fin_validite() {
    let gw = TestGateway::new().await;
    let client = Client::of(&gw).await;
    let year = "<anneeFinValidite>2026-2027</anneeFinValidite>";
    let body = for_teachers("abo-year", "2026-09-01T00:00:00", year);
    let (s, answer) = client.send(reqwest::Method::PUT, "abo-year", &body).await;
    assert_eq!(s, 201, "{answer}");
    let expected = [
        ("finValidite", "2027-08-15T23:59:59+02:00"),
        ("anneeFinValidite", "2026-2027"),
    ];
    let check = |answer: &ns_xml::Element| {
        for (field, value) in expected {
            assert_eq!(answer.text_of(NS, field), value, "{field}");
        }
    };
    check(&abonnement(&answer));
    let (_, answer) = client.send(reqwest::Method::GET, "abo-year", "").await;
    check(&abonnement(&answer));
    let (_, list) = client.send(reqwest::Method::GET, "abonnements", "").await;
    let list = ns_xml::parse(&list);
    let listed = list
        .all(NS, "abonnement")
        .into_iter()
        .find(|a| a.text_of(NS, "idAbonnement") == "abo-year")
        .expect("listed");
    check(listed);

    // In force on 15 August until 23:59:59 in Paris.
    gw.clock.set(at("2027-08-15T21:59:58Z"));
    assert!(teacher_sees_it(&gw).await);
    gw.clock.set(at("2027-08-15T22:00:00Z"));
    assert!(!teacher_sees_it(&gw).await);

    // What was answered, sent back as an update (both ends agree): accepted.
    let both = body
        .replace(
            year,
            &format!("<finValidite>2027-08-15T23:59:59+02:00</finValidite>{year}"),
        )
        .replace(&format!("<uaiEtab>{UAI}</uaiEtab>"), "");
    let (s, answer) = client.send(reqwest::Method::POST, "abo-year", &both).await;
    assert_eq!(s, 200, "{answer}");
    check(&abonnement(&answer));
    // Both, disagreeing: refused.
    let (s, answer) = client
        .send(
            reqwest::Method::POST,
            "abo-year",
            &both.replace("23:59:59+02:00", "23:59:59Z"),
        )
        .await;
    assert_eq!(s, 400, "{answer}");
    assert!(
        answer.contains("<regle>RG-END-EXCLUSIVE</regle>"),
        "{answer}"
    );
}

/// Subscriptions stored before the end of a school year moved to 23:59:59 local time end at
/// 00:00 UTC on 16 August: they are read as stored, and an update recomputes the end.
#[tokio::test]
async fn subscriptions_stored_with_the_former_end_are_still_read() {
    use passerelle::domain::subscription::{storage_id, SubscriptionDetails};
    use passerelle::domain::{AssignmentType, PublicCible, Subscription};
    use passerelle::store::SubscriptionStore;
    let gw = TestGateway::new().await;
    let distributor = "123456789_0000000000000000";
    let former = Subscription {
        id: storage_id(distributor, "abo-former"),
        distributor_id: distributor.into(),
        resource_id: RES_INDIV.parse().unwrap(),
        resource_label: "Ressource individuelle".into(),
        valid_from: at("2026-08-15T00:00:00Z"),
        valid_until: at("2027-08-16T00:00:00Z"),
        uais: vec![UAI.parse().unwrap()],
        assignment_type: AssignmentType::Etabl,
        audiences: vec![PublicCible::Enseignant],
        deleted: false,
        details: SubscriptionDetails {
            end_school_year: Some("2026-2027".into()),
            category: "transferable".into(),
            global_licences: Some(passerelle::domain::subscription::LicenceCount::Unlimited),
            ..Default::default()
        },
    };
    gw.store.put_subscription(&former).await.unwrap();
    let client = Client::of(&gw).await;
    let (s, answer) = client.send(reqwest::Method::GET, "abo-former", "").await;
    assert_eq!(s, 200, "{answer}");
    let a = abonnement(&answer);
    assert_eq!(a.text_of(NS, "finValidite"), "2027-08-16T02:00:00+02:00");
    assert_eq!(a.text_of(NS, "anneeFinValidite"), "2026-2027");
    assert_eq!(a.text_of(NS, "debutValidite"), "2026-08-15T02:00:00+02:00");
    assert!(teacher_sees_it(&gw).await);

    let update = for_teachers(
        "abo-former",
        "2026-08-15T00:00:00",
        "<anneeFinValidite>2026-2027</anneeFinValidite>",
    )
    .replace(&format!("<uaiEtab>{UAI}</uaiEtab>"), "");
    let (s, answer) = client
        .send(reqwest::Method::POST, "abo-former", &update)
        .await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        abonnement(&answer).text_of(NS, "finValidite"),
        "2027-08-15T23:59:59+02:00"
    );
}

#[tokio::test]
async fn the_time_zone_is_the_configured_one() {
    let gw = TestGateway::with(Options {
        extra_toml: "[subscriptions]\ntimezone = \"America/Cayenne\"\n".into(),
        ..Options::default()
    })
    .await;
    let client = Client::of(&gw).await;
    let body = for_teachers(
        "abo-cayenne",
        "2026-09-01T00:00:00",
        "<anneeFinValidite>2026-2027</anneeFinValidite>",
    );
    let (s, answer) = client
        .send(reqwest::Method::PUT, "abo-cayenne", &body)
        .await;
    assert_eq!(s, 201, "{answer}");
    let a = abonnement(&answer);
    assert_eq!(a.text_of(NS, "debutValidite"), "2026-09-01T00:00:00-03:00");
    assert_eq!(a.text_of(NS, "finValidite"), "2027-08-15T23:59:59-03:00");
    assert_eq!(a.text_of(NS, "dateCreation"), "2026-11-24T05:00:00-03:00");
    gw.clock.set(at("2026-09-01T02:59:59Z"));
    assert!(!teacher_sees_it(&gw).await);
    gw.clock.set(at("2026-09-01T03:00:00Z"));
    assert!(teacher_sees_it(&gw).await);
}
