//! `GET /decompteaffectations`: the licence counts of a provider's subscriptions as GAR CSV,
//! one line per (school, subscription), the people reached per audience; by `idAbonnement` or
//! by `codeProjetRessource` (exactly one); another provider's subscriptions are not visible.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use passerelle::domain::{Assignment, AssignmentTarget, AssignmentType, PublicCible, Uai};
use passerelle::http::tls::ClientIdentity;
use passerelle::store::SubscriptionStore;
use passerelle::tls::fingerprint;

use crate::support::gateway::*;
use crate::support::pki;

const HEADER: &str = "UAI;idAbonnement;codeProjetRessource;idRessource;cumulAffectationEleve;cumulAffectationEnseignant;cumulAffectationDocumentaliste;cumulAffectationAutrePersonnel";

async fn get(gw: &TestGateway, query: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut b = Request::get(format!("/decompteaffectations{query}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = gw.call(b.body(Body::empty()).unwrap()).await;
    let status = resp.status();
    (status, body_string(resp).await)
}

fn lines(body: &str) -> Vec<&str> {
    body.lines().collect()
}

/// Two subscriptions of the test provider under project `PRJ-4`: an INDIV one for pupils and
/// teachers assigned to class 4A and to the teacher by name, in the seeded school and in a
/// second school the directory does not know; and an ETABL one for librarians and other staff.
async fn project(gw: &TestGateway) {
    let mut indiv = gw.store.subscription("abo-indiv").await.unwrap().unwrap();
    indiv.id = "abo-prj-a".into();
    indiv.audiences = vec![PublicCible::Eleve, PublicCible::Enseignant];
    indiv.uais.push("0561234M".parse().unwrap());
    indiv.details.project_code = Some("PRJ-4".into());
    gw.store.put_subscription(&indiv).await.unwrap();
    let uai: Uai = UAI.parse().unwrap();
    for target in [
        AssignmentTarget::Group { code: "4A".into() },
        AssignmentTarget::Person {
            ent: "B0".parse().unwrap(),
            id: "ens-0001".into(),
        },
    ] {
        gw.store
            .add_assignment(&Assignment {
                subscription_id: "abo-prj-a".into(),
                uai: uai.clone(),
                target,
            })
            .await
            .unwrap();
    }
    let mut etabl = indiv.clone();
    etabl.id = "abo-prj-b".into();
    etabl.uais = vec![uai];
    etabl.assignment_type = AssignmentType::Etabl;
    etabl.audiences = vec![PublicCible::Documentaliste, PublicCible::AutrePersonnel];
    gw.store.put_subscription(&etabl).await.unwrap();
}

#[tokio::test]
async fn counts_per_audience_by_subscription_id() {
    let gw = TestGateway::new().await;
    // ETABL for pupils and teachers: every pupil and teacher of the school.
    let (s, body) = get(&gw, "?idAbonnement=abo-etabl", Some(PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        lines(&body),
        [HEADER, &format!("{UAI};abo-etabl;;{RES_ETABL};2;1;0;0")]
    );
    // INDIV for pupils, assigned to the Latin group: its one pupil.
    let (s, body) = get(&gw, "?idAbonnement=abo-indiv", Some(PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        lines(&body),
        [HEADER, &format!("{UAI};abo-indiv;;{RES_INDIV};1;0;0;0")]
    );
    // A new assignment counts at once; a person assigned twice counts once.
    for id in ["eleve-0002", "eleve-0001"] {
        gw.store
            .add_assignment(&Assignment {
                subscription_id: "abo-indiv".into(),
                uai: UAI.parse().unwrap(),
                target: AssignmentTarget::Person {
                    ent: "B0".parse().unwrap(),
                    id: id.into(),
                },
            })
            .await
            .unwrap();
    }
    let (_, body) = get(&gw, "?idAbonnement=abo-indiv", Some(PROVIDER_TOKEN)).await;
    assert_eq!(
        lines(&body)[1],
        format!("{UAI};abo-indiv;;{RES_INDIV};2;0;0;0")
    );
}

#[tokio::test]
async fn counts_of_every_subscription_of_a_project_one_line_per_school() {
    let gw = TestGateway::new().await;
    project(&gw).await;
    let (s, body) = get(&gw, "?codeProjetRessource=PRJ-4", Some(PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        lines(&body),
        [
            HEADER,
            "0561234M;abo-prj-a;PRJ-4;ark:/99999/test.indiv;0;0;0;0",
            &format!("{UAI};abo-prj-a;PRJ-4;{RES_INDIV};2;1;0;0"),
            &format!("{UAI};abo-prj-b;PRJ-4;{RES_INDIV};0;0;0;0"),
        ]
    );
    // The same subscription by its id: its lines only.
    let (_, body) = get(&gw, "?idAbonnement=abo-prj-a", Some(PROVIDER_TOKEN)).await;
    assert_eq!(lines(&body).len(), 3, "{body}");
}

#[tokio::test]
async fn exactly_one_parameter_is_given() {
    let gw = TestGateway::new().await;
    let (s, body) = get(
        &gw,
        "?idAbonnement=abo-etabl&codeProjetRessource=PRJ-4",
        Some(PROVIDER_TOKEN),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("idAbonnement et codeProjetRessource sont exclusifs"),
        "{body}"
    );
    for query in ["", "?idAbonnement=", "?autre=1"] {
        let (s, body) = get(&gw, query, Some(PROVIDER_TOKEN)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            body.contains("idAbonnement ou codeProjetRessource est obligatoire"),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn another_providers_subscriptions_are_not_visible() {
    let gw = TestGateway::new().await;
    project(&gw).await;
    let (s, body) = get(&gw, "?idAbonnement=abo-etabl", Some(OTHER_PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains(UAI), "{body}");
    let (s, _) = get(&gw, "?idAbonnement=abo-absent", Some(PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "absent and foreign answer alike");
    let (s, body) = get(
        &gw,
        "?codeProjetRessource=PRJ-4",
        Some(OTHER_PROVIDER_TOKEN),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _) = get(&gw, "?idAbonnement=abo-etabl", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// A gateway where test-editeur's servers have a client certificate, and that certificate's
/// identity as the TLS listener passes it.
async fn with_provider_certificate() -> (TestGateway, ClientIdentity) {
    let cert = pki::issue("provider servers", None, "client", 9);
    let gw = TestGateway::with(Options {
        files: vec![("provider-client.crt".into(), cert.cert_pem())],
        vars: vec![(
            "PASSERELLE__PROVIDERS__TEST-EDITEUR__CLIENT_CERTIFICATE_FILE".into(),
            "provider-client.crt".into(),
        )],
        ..Options::default()
    })
    .await;
    let identity = ClientIdentity {
        fingerprint: fingerprint(&cert.cert.to_der().unwrap()),
    };
    (gw, identity)
}

#[tokio::test]
async fn providers_authenticate_with_their_client_certificate() {
    let (gw, identity) = with_provider_certificate().await;
    let resp = gw
        .call(
            Request::get("/decompteaffectations?idAbonnement=abo-etabl")
                .extension(identity)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(body_string(resp).await.starts_with(HEADER));
}

/// The party registry (`http::party`): the caller is resolved once, with one precedence. A
/// certificate registered for a provider wins over another provider's token; without it the
/// token decides. Over a real listener, the `Bearer` scheme is read in any case and another
/// scheme is no token at all.
#[tokio::test]
async fn callers_are_resolved_certificate_first_then_token() {
    let (gw, identity) = with_provider_certificate().await;
    let get = |with_cert: bool| {
        let mut r = Request::get("/abonnement/abo-etabl")
            .header("authorization", format!("Bearer {OTHER_PROVIDER_TOKEN}"));
        if with_cert {
            r = r.extension(identity.clone());
        }
        r.body(Body::empty()).unwrap()
    };
    // test-editeur's subscription: its certificate wins over other-editeur's token.
    assert_eq!(gw.call(get(true)).await.status(), StatusCode::OK);
    // other-editeur's token alone: another distributor's id does not exist.
    assert_eq!(gw.call(get(false)).await.status(), StatusCode::NOT_FOUND);

    let base = gw.listen().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for (authorization, status) in [
        (format!("bearer {PROVIDER_TOKEN}"), 200),
        (format!("BEARER   {PROVIDER_TOKEN}  "), 200),
        (format!("Basic {PROVIDER_TOKEN}"), 401),
        (format!("Bearer{PROVIDER_TOKEN}"), 401),
        ("Bearer ".to_string(), 401),
    ] {
        let resp = client
            .get(format!("{base}/abonnement/abo-etabl"))
            .header("authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{authorization:?}");
    }
}
