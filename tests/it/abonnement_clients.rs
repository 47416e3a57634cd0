//! The subscription web service as published providers' clients use it, unchanged (a Django
//! application, PHP clients): over the gateway's listener, they read the list of schools as
//! `<listEtablissement>` in its own namespace, with a namespace-aware parser.

use crate::support::gateway::*;
use crate::support::ns_xml::{self, Element};

const NS: &str = "http://www.atosworldline.com/wsabonnement/v1.0/";
const LIST_NS: &str = "http://www.atosworldline.com/listEtablissement/v1.0/";

/// A provider's client: its base URL (`.../abonnement/`) and token.
pub struct Client {
    base: String,
    token: &'static str,
    http: reqwest::Client,
}

impl Client {
    pub async fn of(gw: &TestGateway) -> Self {
        Self {
            base: format!("{}/abonnement/", gw.listen().await),
            token: PROVIDER_TOKEN,
            http: http_client(),
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: &str) -> (u16, String) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token)
            .header("content-type", "application/xml")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

#[tokio::test]
async fn clients_find_the_schools_in_the_list_etablissement_namespace() {
    use passerelle::domain::{Directory, IdEnt, School};
    use passerelle::store::DirectoryStore;
    let gw = TestGateway::new().await;
    let client = Client::of(&gw).await;
    let path = "etablissements/etablissements.xml";
    let anonymous = Client {
        token: "",
        ..Client::of(&gw).await
    };
    assert_eq!(anonymous.send(reqwest::Method::GET, path, "").await.0, 401);

    // A school whose nature and académie the directory knows, beside the seed's.
    let ent: IdEnt = "Z0".parse().unwrap();
    let directory = Directory {
        schools: vec![School {
            uai: "0010048X".parse().unwrap(),
            ent: ent.clone(),
            name: "École élémentaire Marc Bourhis".into(),
            nature: Some("151".into()),
            academy: Some("14".into()),
            degree: None,
        }],
        persons: Vec::new(),
        groups: Vec::new(),
    };
    gw.store.replace_directory(&ent, &directory).await.unwrap();

    let (s, body) = client.send(reqwest::Method::GET, path, "").await;
    assert_eq!(s, 200, "{body}");
    let root = ns_xml::parse(&body);
    assert_eq!(
        (root.ns.as_deref(), root.name.as_str()),
        (Some(LIST_NS), "listEtablissement")
    );
    assert!(root
        .children
        .iter()
        .all(|c| c.ns.as_deref() == Some(LIST_NS)));
    let schools: Vec<&Element> = root.all(LIST_NS, "etablissement");
    assert_eq!(schools.len(), root.children.len());
    let by_uai = |uai: &str| {
        *schools
            .iter()
            .find(|s| s.text_of(LIST_NS, "uai") == uai)
            .unwrap_or_else(|| panic!("{uai} not listed: {body}"))
    };
    // Every field, in the GAR's order, in the list's namespace.
    let order = [
        "uai",
        "nature_uai",
        "nature_uai_libe",
        "type_uai",
        "type_uai_libe",
        "commune",
        "commune_libe",
        "academie",
        "academie_libe",
        "departement_insee_3",
        "departement_insee_3_libe",
        "appellation_officielle",
        "patronyme_uai",
        "code_postal_uai",
        "localite_acheminement_uai",
        "idENT",
    ];
    for school in &schools {
        let names: Vec<_> = school.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, order);
        assert!(school
            .children
            .iter()
            .all(|c| c.ns.as_deref() == Some(LIST_NS)));
    }
    let seeded = by_uai(UAI);
    assert_eq!(
        seeded.text_of(LIST_NS, "appellation_officielle"),
        "Collège de test"
    );
    assert_eq!(seeded.text_of(LIST_NS, "idENT"), "QjA=", "B0 in base64");
    assert_eq!(seeded.text_of(LIST_NS, "nature_uai"), "", "unknown: empty");
    let known = by_uai("0010048X");
    for (field, value) in [
        ("nature_uai", "151"),
        ("academie", "14"),
        ("appellation_officielle", "École élémentaire Marc Bourhis"),
        ("idENT", "WjA="),
        ("commune_libe", ""),
    ] {
        assert_eq!(known.text_of(LIST_NS, field), value, "{field}");
    }
    // Nothing is in the subscriptions' namespace any more, where clients would find no school.
    assert!(root.all(NS, "etablissement").is_empty());
}
