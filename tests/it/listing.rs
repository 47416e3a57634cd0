//! `GET /ressources/{idENT}/{UAI}/{GARPersonIdentifiant}`: the médiacentre listing in the GAR's
//! JSON shape, field by field; only what the user may open; the GAR error shape; gzip; and
//! every listed link opens through `domaineGar`.

use std::io::Read;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::support::gateway::*;

async fn list(
    gw: &TestGateway,
    path: &str,
    token: Option<&str>,
    gzip: bool,
) -> (StatusCode, Value, Option<String>) {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if gzip {
        b = b.header("accept-encoding", "gzip");
    }
    let resp = gw.call(b.body(Body::empty()).unwrap()).await;
    let status = resp.status();
    let encoding = resp
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = if encoding.as_deref() == Some("gzip") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    (status, serde_json::from_str(&text).unwrap(), encoding)
}

fn ids(v: &Value) -> Vec<String> {
    v["listeRessources"]["ressource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["idRessource"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn lists_exactly_what_each_user_may_open() {
    let gw = TestGateway::new().await;
    let path = |p: &str| format!("/ressources/B0/{UAI}/{p}");
    let (s, v, _) = list(&gw, &path("eleve-0001"), Some(ENT_TOKEN), false).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        ids(&v),
        [RES_ETABL, RES_INDIV],
        "assigned through the LATIN group"
    );
    let (_, v, _) = list(&gw, &path("eleve-0002"), Some(ENT_TOKEN), false).await;
    assert_eq!(ids(&v), [RES_ETABL], "not assigned the individual resource");
    let (_, v, _) = list(&gw, &path("ens-0001"), Some(ENT_TOKEN), false).await;
    assert_eq!(
        ids(&v),
        [RES_ETABL],
        "teachers are outside the individual subscription's audience"
    );
    // After the subscription ends, nothing is listed.
    gw.clock.set(
        chrono::DateTime::parse_from_rfc3339("2027-08-15T00:00:00Z")
            .unwrap()
            .into(),
    );
    let (_, v, _) = list(&gw, &path("eleve-0001"), Some(ENT_TOKEN), false).await;
    assert_eq!(ids(&v), Vec::<String>::new());
}

#[tokio::test]
async fn entries_have_the_gar_shape_field_by_field() {
    let gw = TestGateway::new().await;
    let (_, v, _) = list(
        &gw,
        &format!("/ressources/B0/{UAI}/eleve-0002"),
        Some(ENT_TOKEN),
        false,
    )
    .await;
    let expected = json!({"listeRessources": {"ressource": [{
        "idRessource": RES_ETABL,
        "idType": "ARK",
        "nomRessource": "Ressource établissement",
        "idEditeur": "123456789_0000000000000000",
        "nomEditeur": "",
        "urlVignette": "https://vignettes.example.test/etabl.png",
        "typePresentation": {"code": "MUL", "nom": "ressources d'enseignement multimédias"},
        "typePedagogique": [{"uri": "http://data.education.fr/voc/scolomfr/concept/scolomfr-voc-010-num-014", "nom": "manuel d'enseignement"}],
        "typologieDocument": [],
        "niveauEducatif": [{"uri": "http://data.education.fr/voc/scolomfr/concept/scolomfr-voc-022-num-016", "nom": "collège"}],
        "domaineEnseignement": [],
        "urlAccesRessource": format!("{BASE}/domaineGar?idENT=QjA%3D&idEtab=MDU2MTY0MUU%3D&idRessource=ark%3A%2F99999%2Ftest.etabl"),
        "nomSourceEtiquetteGar": "Accessible via le Gestionnaire d’accès aux ressources (GAR)",
        "distributeurTech": "123456789_0000000000000000",
        "validateurTech": "123456789_0000000000000000"
    }]}});
    assert_eq!(v, expected);
}

#[tokio::test]
async fn listed_links_open_through_domaine_gar() {
    let gw = TestGateway::new().await;
    let cookie = gw.session("eleve-0001").await;
    let (_, v, _) = list(
        &gw,
        &format!("/ressources/B0/{UAI}/eleve-0001"),
        Some(ENT_TOKEN),
        false,
    )
    .await;
    for r in v["listeRessources"]["ressource"].as_array().unwrap() {
        let url = r["urlAccesRessource"].as_str().unwrap();
        let path = url.strip_prefix(BASE).unwrap();
        assert_eq!(
            gw.get(path, Some(&cookie)).await.status(),
            StatusCode::FOUND,
            "{url}"
        );
    }
}

#[tokio::test]
async fn errors_have_the_gar_shape() {
    let gw = TestGateway::new().await;
    let (s, v, _) = list(
        &gw,
        "/ressources/B0/0000001B/eleve-0001",
        Some(ENT_TOKEN),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!({"Erreur": {"Code": "Bad Request", "Message": "Établissement non trouvé", "Resource": "ressources/B0/0000001B/eleve-0001"}})
    );
    let (s, v, _) = list(
        &gw,
        &format!("/ressources/B0/{UAI}/ghost"),
        Some(ENT_TOKEN),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["Erreur"]["Message"], "Utilisateur non trouvé");
    let (s, v, _) = list(
        &gw,
        "/ressources/B0/not-a-uai/eleve-0001",
        Some(ENT_TOKEN),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["Erreur"]["Message"], "Établissement non trouvé");
}

#[tokio::test]
async fn callers_must_present_their_ents_token() {
    let gw = TestGateway::new().await;
    let path = format!("/ressources/B0/{UAI}/eleve-0001");
    for token in [
        None,
        Some("wrong-token-0123456789abcdef0123456789"),
        Some(""),
    ] {
        let (s, v, _) = list(&gw, &path, token, false).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(v["Erreur"]["Code"], "Unauthorized");
    }
    // Another ENT's path with B0's token: Z0 is not configured, refused.
    let (s, _, _) = list(
        &gw,
        &format!("/ressources/Z0/{UAI}/eleve-0001"),
        Some(ENT_TOKEN),
        false,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn answers_gzip_when_asked() {
    let gw = TestGateway::new().await;
    let (s, v, encoding) = list(
        &gw,
        &format!("/ressources/B0/{UAI}/eleve-0001"),
        Some(ENT_TOKEN),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(ids(&v).len(), 2);
}

#[tokio::test]
async fn the_catalogue_has_the_gar_xml_shape() {
    let gw = TestGateway::new().await;
    let get = |token: Option<&'static str>| {
        let mut b = Request::get("/ressourcesDiffusables");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Body::empty()).unwrap()
    };
    assert_eq!(gw.call(get(None)).await.status(), StatusCode::UNAUTHORIZED);
    let resp = gw.call(get(Some(ENT_TOKEN))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    let xml = body_string(resp).await;
    // Walk the document with an XML parser: root, dateGeneration, then one entry per resource.
    let mut reader = quick_xml::Reader::from_str(&xml);
    reader.config_mut().trim_text(true);
    let (mut path, mut seen) = (Vec::<String>::new(), Vec::<(String, String)>::new());
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) => {
                path.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            quick_xml::events::Event::End(_) => {
                path.pop();
            }
            quick_xml::events::Event::Text(t) => {
                seen.push((path.join("/"), t.unescape().unwrap().into_owned()))
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(
        seen[0],
        (
            "ressourcesDiffusables/dateGeneration".to_string(),
            "2026-11-24T08:00:00Z".to_string()
        )
    );
    let ids: Vec<&str> = seen
        .iter()
        .filter(|(p, _)| p == "ressourcesDiffusables/ressourceDiffusable/idRessource")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        ids,
        ["ark:/88888/autre", RES_ETABL, RES_INDIV],
        "every provider's resources"
    );
    for field in [
        "nomRessource",
        "idEditeur",
        "distributeursCom/distributeurCom",
        "distributeursCom/nomDistributeurCom",
        "distributeurTech",
        "nomDistributeurTech",
        "affichable",
        "diffusable",
    ] {
        let n = seen
            .iter()
            .filter(|(p, _)| *p == format!("ressourcesDiffusables/ressourceDiffusable/{field}"))
            .count();
        assert_eq!(n, 3, "{field}");
    }
    assert!(seen.contains(&(
        "ressourcesDiffusables/ressourceDiffusable/nomDistributeurTech".to_string(),
        "Éditeur de test".to_string()
    )));
}
