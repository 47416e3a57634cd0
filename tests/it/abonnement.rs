//! The subscription web service: create, read, update, delete and list, in XML and JSON, with
//! the business rules, provider isolation and authentication; and a subscription created
//! through it opens the resource in the listing and through `domaineGar` at once.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use crate::support::gateway::*;

const NS: &str = "http://www.atosworldline.com/wsabonnement/v1.0/";

fn abonnement(id: &str, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<abonnement xmlns="{NS}">
  <idAbonnement>{id}</idAbonnement>
  <commentaireAbonnement>Abonnement créé par le test</commentaireAbonnement>
  <idDistributeurCom>123456789_0000000000000000</idDistributeurCom>
  <idRessource>{RES_INDIV}</idRessource>
  <typeIdRessource>ark</typeIdRessource>
  <libelleRessource>Ressource individuelle</libelleRessource>
  <debutValidite>2026-08-15T00:00:00</debutValidite>
  <anneeFinValidite>2026-2027</anneeFinValidite>
  {extra}
  <categorieAffectation>transferable</categorieAffectation>
  <typeAffectation>ETABL</typeAffectation>
  <nbLicenceGlobale>ILLIMITE</nbLicenceGlobale>
  <publicCible>ENSEIGNANT</publicCible>
</abonnement>"#
    )
}

fn created(id: &str) -> String {
    abonnement(id, &format!("<uaiEtab>{UAI}</uaiEtab>"))
}

async fn call(
    gw: &TestGateway,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: String,
    json: bool,
) -> (StatusCode, String) {
    let mut b = Request::builder().method(method).uri(path).header(
        "content-type",
        if json {
            "application/json"
        } else {
            "application/xml"
        },
    );
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = gw.call(b.body(Body::from(body)).unwrap()).await;
    let status = resp.status();
    (status, body_string(resp).await)
}

#[tokio::test]
async fn create_read_update_delete_and_list() {
    let gw = TestGateway::new().await;
    let (s, body) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-ws-1",
        Some(PROVIDER_TOKEN),
        created("abo-ws-1"),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(body.contains("<idAbonnement>abo-ws-1</idAbonnement>") && body.contains(NS));
    let (s, body) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-ws-1",
        Some(PROVIDER_TOKEN),
        created("abo-ws-1"),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("existe deja"));

    let (s, body) = call(
        &gw,
        Method::GET,
        "/abonnement/abo-ws-1",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains(&format!("<uaiEtab>{UAI}</uaiEtab>"))
            && body.contains("<anneeFinValidite>2026-2027</anneeFinValidite>")
    );

    // Update: without uaiEtab; the schools are kept.
    let update =
        abonnement("abo-ws-1", "").replace("Ressource individuelle", "Ressource (2e édition)");
    let (s, body) = call(
        &gw,
        Method::POST,
        "/abonnement/abo-ws-1",
        Some(PROVIDER_TOKEN),
        update,
        false,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(
        body.contains("Ressource (2e édition)")
            && body.contains(&format!("<uaiEtab>{UAI}</uaiEtab>"))
    );
    let (s, body) = call(
        &gw,
        Method::POST,
        "/abonnement/abo-ws-1",
        Some(PROVIDER_TOKEN),
        created("abo-ws-1"),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("<regle>RG-UPDATE-UAI</regle><champ>uaiEtab</champ>"));

    // Delete: gone from the default list, listed with aboSuppr.
    let (s, _) = call(
        &gw,
        Method::DELETE,
        "/abonnement/abo-ws-1",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = call(
        &gw,
        Method::GET,
        "/abonnement/abonnements",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!body.contains("abo-ws-1"), "{body}");
    let filtres = "<filtres><filtre><filtreNom>aboSuppr</filtreNom><filtreValeur>true</filtreValeur></filtre></filtres>".to_string();
    let (_, body) = call(
        &gw,
        Method::POST,
        "/abonnement/abonnements",
        Some(PROVIDER_TOKEN),
        filtres,
        false,
    )
    .await;
    assert!(
        body.contains("<idAbonnement>abo-ws-1</idAbonnement>")
            && body.contains("<aboSuppr>true</aboSuppr>"),
        "{body}"
    );
    // A deleted id cannot be created again.
    let (s, _) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-ws-1",
        Some(PROVIDER_TOKEN),
        created("abo-ws-1"),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn json_bodies_use_the_same_names() {
    let gw = TestGateway::new().await;
    let body = serde_json::json!({
        "idAbonnement": "abo-json-1",
        "idDistributeurCom": "123456789_0000000000000000",
        "idRessource": RES_INDIV,
        "typeIdRessource": "ark",
        "libelleRessource": "Ressource individuelle",
        "debutValidite": "2026-08-15T00:00:00Z",
        "finValidite": "2027-08-15T00:00:00Z",
        "uaiEtab": [UAI],
        "categorieAffectation": "transferable",
        "typeAffectation": "INDIV",
        "nbLicenceEleve": 25,
        "publicCible": ["ELEVE"]
    });
    let (s, out) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-json-1",
        Some(PROVIDER_TOKEN),
        body.to_string(),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{out}");
    assert!(out.contains("<nbLicenceEleve>25</nbLicenceEleve>"));
}

#[tokio::test]
async fn every_broken_rule_is_named_with_its_field() {
    let gw = TestGateway::new().await;
    let bad = created("abo-bad")
        .replace(
            "<typeAffectation>ETABL</typeAffectation>",
            "<typeAffectation>CLASSE</typeAffectation>",
        )
        .replace(
            "<anneeFinValidite>2026-2027</anneeFinValidite>",
            "<anneeFinValidite>2026-2030</anneeFinValidite>",
        )
        .replace(
            "<publicCible>ENSEIGNANT</publicCible>",
            "<publicCible>PARENT</publicCible>",
        );
    let (s, body) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-bad",
        Some(PROVIDER_TOKEN),
        bad,
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for (rule, field) in [
        ("RG-ASSIGNMENT-TYPE", "typeAffectation"),
        ("RG-SCHOOL-YEAR", "anneeFinValidite"),
        ("RG-AUDIENCE", "publicCible"),
    ] {
        assert!(
            body.contains(&format!("<regle>{rule}</regle><champ>{field}</champ>")),
            "{rule}: {body}"
        );
    }
    // Malformed documents, unknown fields and DTDs are refused before any rule.
    for doc in [
        "<abonnement><idAbonnement>x</idAbonnement>",
        "<autre/>",
        "<abonnement><couleur>bleu</couleur></abonnement>",
        "<!DOCTYPE a [<!ENTITY e \"x\">]><abonnement/>",
    ] {
        let (s, _) = call(
            &gw,
            Method::PUT,
            "/abonnement/x",
            Some(PROVIDER_TOKEN),
            doc.to_string(),
            false,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{doc}");
    }
}

#[tokio::test]
async fn providers_see_and_change_only_their_own_subscriptions() {
    let gw = TestGateway::new().await;
    assert_eq!(
        call(
            &gw,
            Method::PUT,
            "/abonnement/abo-mine",
            Some(PROVIDER_TOKEN),
            created("abo-mine"),
            false
        )
        .await
        .0,
        StatusCode::CREATED
    );
    for method in [Method::GET, Method::DELETE] {
        assert_eq!(
            call(
                &gw,
                method.clone(),
                "/abonnement/abo-mine",
                Some(OTHER_PROVIDER_TOKEN),
                String::new(),
                false
            )
            .await
            .0,
            StatusCode::NOT_FOUND,
            "{method}"
        );
    }
    let update = abonnement("abo-mine", "");
    assert_eq!(
        call(
            &gw,
            Method::POST,
            "/abonnement/abo-mine",
            Some(OTHER_PROVIDER_TOKEN),
            update,
            false
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = call(
        &gw,
        Method::GET,
        "/abonnement/abonnements",
        Some(OTHER_PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert!(!list.contains("abo-mine"));
    // Creating under another distributor's id is refused by rule.
    let (s, body) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-theirs",
        Some(OTHER_PROVIDER_TOKEN),
        created("abo-theirs"),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("RG-DISTRIBUTOR-OWNER"));
    // The owner still has it, untouched.
    assert_eq!(
        call(
            &gw,
            Method::GET,
            "/abonnement/abo-mine",
            Some(PROVIDER_TOKEN),
            String::new(),
            false
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn callers_must_authenticate() {
    let gw = TestGateway::new().await;
    for token in [None, Some("not-a-token"), Some(ENT_TOKEN)] {
        let (s, _) = call(
            &gw,
            Method::PUT,
            "/abonnement/abo-x",
            token,
            created("abo-x"),
            false,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token:?}");
    }
}

#[tokio::test]
async fn list_filters_and_pages() {
    let gw = TestGateway::new().await;
    for i in 0..5 {
        let id = format!("abo-page-{i}");
        let mut doc = created(&id);
        if i % 2 == 0 {
            doc = doc.replace(
                "</publicCible>",
                "</publicCible><codeProjetRessource>PAIR</codeProjetRessource>",
            );
        }
        assert_eq!(
            call(
                &gw,
                Method::PUT,
                &format!("/abonnement/{id}"),
                Some(PROVIDER_TOKEN),
                doc,
                false
            )
            .await
            .0,
            StatusCode::CREATED
        );
    }
    let ids = |body: &str| {
        body.split("<idAbonnement>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The seed holds abo-etabl and abo-indiv of the same distributor: ids sort before abo-page-*.
    let (_, body) = call(
        &gw,
        Method::GET,
        "/abonnement/abonnements?debut=3&fin=5",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(ids(&body), ["abo-page-1", "abo-page-2"]);
    let filtres = "<filtres><filtre><filtreNom>codeProjetRessource</filtreNom><filtreValeur>PAIR</filtreValeur></filtre></filtres>".to_string();
    let (_, body) = call(
        &gw,
        Method::POST,
        "/abonnement/abonnements",
        Some(PROVIDER_TOKEN),
        filtres,
        false,
    )
    .await;
    assert_eq!(ids(&body), ["abo-page-0", "abo-page-2", "abo-page-4"]);
    let (s, _) = call(
        &gw,
        Method::GET,
        "/abonnement/abonnements?debut=3&fin=1",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Sorted on request: descending ids, in the body or the query; an unknown field or order is
    // refused with its name.
    let sorted = "<filtres><filtre><filtreNom>codeProjetRessource</filtreNom><filtreValeur>PAIR</filtreValeur></filtre><triPar>idAbonnement</triPar><tri>DSC</tri></filtres>".to_string();
    let (_, body) = call(
        &gw,
        Method::POST,
        "/abonnement/abonnements",
        Some(PROVIDER_TOKEN),
        sorted,
        false,
    )
    .await;
    assert_eq!(ids(&body), ["abo-page-4", "abo-page-2", "abo-page-0"]);
    let (_, body) = call(
        &gw,
        Method::GET,
        "/abonnement/abonnements?triPar=idAbonnement&tri=DSC&debut=0&fin=2",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(ids(&body), ["abo-page-4", "abo-page-3"]);
    for q in ["triPar=couleur", "tri=HAUT"] {
        let (s, body) = call(
            &gw,
            Method::GET,
            &format!("/abonnement/abonnements?{q}"),
            Some(PROVIDER_TOKEN),
            String::new(),
            false,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert!(body.contains("tri"), "{body}");
    }
    let unknown = "<filtres><filtre><filtreNom>couleur</filtreNom><filtreValeur>bleu</filtreValeur></filtre></filtres>".to_string();
    assert_eq!(
        call(
            &gw,
            Method::POST,
            "/abonnement/abonnements",
            Some(PROVIDER_TOKEN),
            unknown,
            false
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_subscription_created_through_the_service_opens_the_resource_at_once() {
    let gw = TestGateway::new().await;
    let teacher = gw.session("ens-0001").await;
    // Before: the individual resource is closed to teachers.
    assert_eq!(
        gw.get(&domaine_gar(RES_INDIV), Some(&teacher))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // The provider subscribes the school for teachers, establishment-wide.
    assert_eq!(
        call(
            &gw,
            Method::PUT,
            "/abonnement/abo-open",
            Some(PROVIDER_TOKEN),
            created("abo-open"),
            false
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        gw.get(&domaine_gar(RES_INDIV), Some(&teacher))
            .await
            .status(),
        StatusCode::FOUND
    );
    let listing = Request::get(format!("/ressources/B0/{UAI}/ens-0001"))
        .header("authorization", format!("Bearer {ENT_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert!(body_string(gw.call(listing).await)
        .await
        .contains(RES_INDIV));
    // Deleted: closed again.
    assert_eq!(
        call(
            &gw,
            Method::DELETE,
            "/abonnement/abo-open",
            Some(PROVIDER_TOKEN),
            String::new(),
            false
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        gw.get(&domaine_gar(RES_INDIV), Some(&teacher))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn every_change_is_traced_with_who_what_before_and_after() {
    use passerelle::trace::TraceEvent;
    let gw = TestGateway::new().await;
    let path = "/abonnement/abo-audit-1";
    let (s, _) = call(
        &gw,
        Method::PUT,
        path,
        Some(PROVIDER_TOKEN),
        created("abo-audit-1"),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let update = abonnement("abo-audit-1", "").replace("Ressource individuelle", "Nouveau libellé");
    assert_eq!(
        call(&gw, Method::POST, path, Some(PROVIDER_TOKEN), update, false)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &gw,
            Method::DELETE,
            path,
            Some(PROVIDER_TOKEN),
            String::new(),
            false
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    // A refused change leaves no record.
    call(
        &gw,
        Method::PUT,
        path,
        Some(PROVIDER_TOKEN),
        created("abo-audit-1"),
        false,
    )
    .await;
    let changes: Vec<_> = gw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::SubscriptionChanged {
                provider,
                action,
                subscription,
                before,
                after,
            } => Some((provider, action, subscription, before, after)),
            _ => None,
        })
        .collect();
    assert_eq!(changes.len(), 3);
    assert_eq!(
        changes.iter().map(|c| c.1).collect::<Vec<_>>(),
        ["create", "update", "delete"]
    );
    assert!(changes
        .iter()
        .all(|c| c.0 == "test-editeur" && c.2 == "abo-audit-1"));
    assert!(changes[0].3.is_none());
    assert_eq!(
        changes[1].3.as_ref().unwrap().resource_label,
        "Ressource individuelle"
    );
    assert_eq!(
        changes[1].4.as_ref().unwrap().resource_label,
        "Nouveau libellé"
    );
    assert!(!changes[2].3.as_ref().unwrap().deleted && changes[2].4.as_ref().unwrap().deleted);
}

async fn put(gw: &TestGateway, id: &str) -> (StatusCode, String) {
    let path = format!("/abonnement/{id}");
    call(
        gw,
        Method::PUT,
        &path,
        Some(PROVIDER_TOKEN),
        created(id),
        false,
    )
    .await
}

/// The list filtered on `name` = `value`.
async fn filtered(gw: &TestGateway, name: &str, value: &str) -> (StatusCode, String) {
    let filtres = format!("<filtres><filtre><filtreNom>{name}</filtreNom><filtreValeur>{value}</filtreValeur></filtre></filtres>");
    call(
        gw,
        Method::POST,
        "/abonnement/abonnements",
        Some(PROVIDER_TOKEN),
        filtres,
        false,
    )
    .await
}

#[tokio::test]
async fn list_filters_on_dates_with_iso_intervals() {
    let gw = TestGateway::new().await;
    let at = |s: &str| -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().into()
    };
    gw.clock.set(at("2026-11-24T08:00:00Z"));
    assert_eq!(put(&gw, "abo-date-1").await.0, StatusCode::CREATED);
    gw.clock.set(at("2026-11-26T08:00:00Z"));
    assert_eq!(put(&gw, "abo-date-2").await.0, StatusCode::CREATED);
    gw.clock.set(at("2026-11-28T08:00:00Z"));
    let update =
        abonnement("abo-date-1", "").replace("Ressource individuelle", "Ressource (2e édition)");
    let (s, body) = call(
        &gw,
        Method::POST,
        "/abonnement/abo-date-1",
        Some(PROVIDER_TOKEN),
        update,
        false,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let ids = |body: &str| {
        body.split("<idAbonnement>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_string())
            .filter(|id| id.starts_with("abo-date-"))
            .collect::<Vec<_>>()
    };
    let cases: [(&str, &str, &[&str]); 6] = [
        ("dateCreation", "2026-11-25/..", &["abo-date-2"]),
        ("dateCreation", "../2026-11-25", &["abo-date-1"]),
        (
            "dateCreation",
            "2026-11-24T08:00:00Z/2026-11-26T08:00:00Z",
            &["abo-date-1"],
        ),
        ("dateModification", "2026-11-27/..", &["abo-date-1"]),
        ("dateModification", "../2026-11-27", &["abo-date-2"]),
        (
            "debutValidite",
            "2026-08-15/2026-08-16",
            &["abo-date-1", "abo-date-2"],
        ),
    ];
    for (name, value, expected) in cases {
        let (s, body) = filtered(&gw, name, value).await;
        assert_eq!(s, StatusCode::OK, "{name} {value}: {body}");
        assert_eq!(ids(&body), expected, "{name} {value}");
    }
    let (s, body) = filtered(&gw, "finValidite", "../2026-08-15").await;
    assert_eq!(
        (s, ids(&body)),
        (StatusCode::OK, vec![]),
        "ends after that date"
    );

    // What is not an interval is refused with the filter and the expected form.
    for value in [
        "2026-11-25",
        "../..",
        "2026-13-01/..",
        "2026-12-01/2026-11-01",
        "hier/..",
    ] {
        let (s, body) = filtered(&gw, "dateCreation", value).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{value}: {body}");
        assert!(body.contains("dateCreation"), "{value}: {body}");
    }
}

#[tokio::test]
async fn a_provider_subscribes_schools_only_to_its_own_resources() {
    let gw = TestGateway::new().await;
    // The other provider, under its own distributor id, names the test provider's resource.
    let body =
        created("abo-intrus").replace("123456789_0000000000000000", "987654321_0000000000000000");
    let (s, body) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-intrus",
        Some(OTHER_PROVIDER_TOKEN),
        body,
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("<regle>RG-DISTRIBUTOR-RESOURCE</regle><champ>idRessource</champ>"),
        "{body}"
    );
    // Nothing was stored.
    let (s, _) = call(
        &gw,
        Method::GET,
        "/abonnement/abo-intrus",
        Some(OTHER_PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_distributors_id_answers_as_an_unknown_one() {
    let gw = TestGateway::new().await;
    let (s, _) = call(
        &gw,
        Method::PUT,
        "/abonnement/abo-a",
        Some(PROVIDER_TOKEN),
        created("abo-a"),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let body = |id: &str| {
            if method == Method::POST {
                abonnement(id, "")
            } else {
                String::new()
            }
        };
        let theirs = call(
            &gw,
            method.clone(),
            "/abonnement/abo-a",
            Some(OTHER_PROVIDER_TOKEN),
            body("abo-a"),
            false,
        )
        .await;
        let unknown = call(
            &gw,
            method.clone(),
            "/abonnement/abo-z",
            Some(OTHER_PROVIDER_TOKEN),
            body("abo-z"),
            false,
        )
        .await;
        assert_eq!(theirs.0, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(theirs.0, unknown.0, "{method}");
        assert_eq!(theirs.1.replace("abo-a", "abo-z"), unknown.1, "{method}");
    }
}

/// `text` with each `é` as the single ISO-8859-1 byte: not UTF-8.
fn latin1(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in text.chars() {
        if c == 'é' {
            out.push(0xE9);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
    out
}

/// The XML boundary on subscription bodies, over a real listener: another encoding declared,
/// a DTD with an external entity, a processing instruction, bytes that are not UTF-8, in a
/// subscription and in a list's filters. Each is a 400 that names the problem, and nothing is
/// created.
#[tokio::test]
async fn hostile_xml_bodies_are_refused_at_the_boundary() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let send = |method: reqwest::Method, path: &str, body: Vec<u8>| {
        client
            .request(method, format!("{base}{path}"))
            .header("content-type", "application/xml")
            .bearer_auth(PROVIDER_TOKEN)
            .body(body)
            .send()
    };
    let valid = created("abo-hostile");
    let body = valid.split_once("?>").unwrap().1;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>{body}").into_bytes(),
            "UTF-8",
        ),
        (
            format!("<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{body}")
                .into_bytes(),
            "DTD",
        ),
        (
            format!("<?xml version=\"1.0\"?><?xml-stylesheet href=\"http://127.0.0.1:9/\"?>{body}")
                .into_bytes(),
            "instructions de traitement",
        ),
        (latin1(&valid), "UTF-8"),
    ];
    for (doc, says) in cases {
        let resp = send(reqwest::Method::PUT, "/abonnement/abo-hostile", doc)
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{says}: {text}");
    }
    let filters = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><filtres><filtre><filtreNom>uaiEtab</filtreNom><filtreValeur>0561641E</filtreValeur></filtre></filtres>".to_vec();
    let resp = send(reqwest::Method::POST, "/abonnement/abonnements", filters)
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("UTF-8"));
    let (s, _) = call(
        &gw,
        Method::GET,
        "/abonnement/abo-hostile",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was created");
}

/// An `idAbonnement` is unique per distributor: another distributor creating the same id
/// creates its own subscription (201, as for any new id), learns nothing of the first, and
/// each reads, changes and deletes only its own.
#[tokio::test]
async fn the_same_id_of_two_distributors_is_two_subscriptions() {
    let gw = TestGateway::new().await;
    let theirs = |id: &str| {
        created(id)
            .replace("123456789_0000000000000000", "987654321_0000000000000000")
            .replace(RES_INDIV, RES_OIDC)
    };
    let put = |token: &'static str, id: &'static str, body: String| {
        let gw = &gw;
        async move {
            call(
                gw,
                Method::PUT,
                &format!("/abonnement/{id}"),
                Some(token),
                body,
                false,
            )
            .await
        }
    };
    let (s, _) = put(PROVIDER_TOKEN, "abo-same", created("abo-same")).await;
    assert_eq!(s, StatusCode::CREATED);
    // The other distributor: the same answer for the taken id as for a fresh one.
    let taken = put(OTHER_PROVIDER_TOKEN, "abo-same", theirs("abo-same")).await;
    let fresh = put(OTHER_PROVIDER_TOKEN, "abo-new", theirs("abo-new")).await;
    assert_eq!(taken.0, StatusCode::CREATED, "{}", taken.1);
    assert_eq!(taken.0, fresh.0);
    assert_eq!(taken.1.replace("abo-same", "abo-new"), fresh.1);
    // Its own id again: 409, as always.
    let again = put(OTHER_PROVIDER_TOKEN, "abo-same", theirs("abo-same")).await;
    assert_eq!(again.0, StatusCode::CONFLICT);
    // Each reads its own.
    for (token, resource) in [
        (PROVIDER_TOKEN, RES_INDIV),
        (OTHER_PROVIDER_TOKEN, RES_OIDC),
    ] {
        let (s, body) = call(
            &gw,
            Method::GET,
            "/abonnement/abo-same",
            Some(token),
            String::new(),
            false,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            body.contains(&format!("<idRessource>{resource}</idRessource>")),
            "{body}"
        );
        assert!(
            body.contains("<idAbonnement>abo-same</idAbonnement>"),
            "{body}"
        );
    }
    // Deleting one leaves the other.
    let (s, _) = call(
        &gw,
        Method::DELETE,
        "/abonnement/abo-same",
        Some(OTHER_PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = call(
        &gw,
        Method::GET,
        "/abonnement/abonnements",
        Some(PROVIDER_TOKEN),
        String::new(),
        false,
    )
    .await;
    assert!(
        list.contains("<idAbonnement>abo-same</idAbonnement>"),
        "{list}"
    );
    assert!(!list.contains(RES_OIDC), "{list}");
}
