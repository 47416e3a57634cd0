//! The subscription web service as published providers' clients use it, unchanged (a Django
//! application, PHP clients): over the gateway's listener, they send no
//! `categorieAffectation` and local dates without an offset, create with `PUT` and switch to
//! `POST` when the answer is 409, and read the list of schools as `<listEtablissement>` in its
//! own namespace. Answers are read with a namespace-aware parser, as those clients read them.

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

    /// What the clients do to save a subscription: `PUT`; on 409 ("exists"), `POST` the same
    /// body without its schools (an update carries no `uaiEtab`).
    pub async fn save(&self, id: &str, body: &str) -> Vec<(u16, String)> {
        let put = self.send(reqwest::Method::PUT, id, body).await;
        if put.0 != 409 {
            return vec![put];
        }
        let update: String = body
            .lines()
            .filter(|l| !l.contains("uaiEtab"))
            .collect::<Vec<_>>()
            .join("\n");
        let post = self.send(reqwest::Method::POST, id, &update).await;
        vec![put, post]
    }
}

/// A subscription as the clients write it: no `categorieAffectation`, local dates without an
/// offset; `extra` adds elements before `publicCible`.
pub fn client_body(id: &str, label: &str, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<abonnement xmlns="{NS}">
<idAbonnement>{id}</idAbonnement>
<idDistributeurCom>123456789_0000000000000000</idDistributeurCom>
<idRessource>{RES_INDIV}</idRessource>
<typeIdRessource>ark</typeIdRessource>
<libelleRessource>{label}</libelleRessource>
<debutValidite>2026-09-01T00:00:00</debutValidite>
<finValidite>2027-08-15T00:00:00</finValidite>
<uaiEtab>{UAI}</uaiEtab>
<typeAffectation>INDIV</typeAffectation>
<nbLicenceGlobale>ILLIMITE</nbLicenceGlobale>
{extra}
<publicCible>ELEVE</publicCible>
<publicCible>ENSEIGNANT</publicCible>
</abonnement>"#
    )
}

/// The `<abonnement>` of an answer, checked to be in the subscriptions' namespace.
pub fn abonnement(body: &str) -> Element {
    let root = ns_xml::parse(body);
    assert_eq!(
        (root.ns.as_deref(), root.name.as_str()),
        (Some(NS), "abonnement"),
        "{body}"
    );
    root
}

#[tokio::test]
async fn a_client_without_categorie_affectation_creates_then_updates_after_a_conflict() {
    let gw = TestGateway::new().await;
    let client = Client::of(&gw).await;
    let answers = client
        .save(
            "abo-client-1",
            &client_body("abo-client-1", "Édition 2026", ""),
        )
        .await;
    assert_eq!(answers.len(), 1);
    let (status, body) = &answers[0];
    assert_eq!(*status, 201, "{body}");
    let created = abonnement(body);
    assert_eq!(created.text_of(NS, "categorieAffectation"), "transferable");
    assert_eq!(created.text_of(NS, "idAbonnement"), "abo-client-1");

    // Saved again: the PUT says it exists, the client updates it.
    let answers = client
        .save(
            "abo-client-1",
            &client_body("abo-client-1", "Édition 2027", ""),
        )
        .await;
    assert_eq!(
        answers.iter().map(|a| a.0).collect::<Vec<_>>(),
        [409, 200],
        "{answers:?}"
    );
    assert!(answers[0].1.contains("existe deja"), "{}", answers[0].1);
    let updated = abonnement(&answers[1].1);
    assert_eq!(updated.text_of(NS, "libelleRessource"), "Édition 2027");
    assert_eq!(updated.text_of(NS, "categorieAffectation"), "transferable");
    assert_eq!(updated.text_of(NS, "uaiEtab"), UAI, "the schools are kept");

    // An update without it keeps what was stored, whatever it was.
    let non = "<categorieAffectation>non transferable</categorieAffectation>";
    let (s, body) = client
        .send(
            reqwest::Method::PUT,
            "abo-client-2",
            &client_body("abo-client-2", "Édition 2026", non),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let answers = client
        .save(
            "abo-client-2",
            &client_body("abo-client-2", "Édition 2027", ""),
        )
        .await;
    assert_eq!(answers[1].0, 200, "{answers:?}");
    assert_eq!(
        abonnement(&answers[1].1).text_of(NS, "categorieAffectation"),
        "non transferable"
    );

    // A value that is not a category is still refused, with its rule.
    let (s, body) = client
        .send(
            reqwest::Method::PUT,
            "abo-client-3",
            &client_body(
                "abo-client-3",
                "x",
                "<categorieAffectation>cessible</categorieAffectation>",
            ),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let erreurs = ns_xml::parse(&body);
    let rules: Vec<_> = erreurs
        .children
        .iter()
        .map(|e| e.children[0].text.as_str())
        .collect();
    assert_eq!(rules, ["RG-CATEGORY"], "{body}");
}

#[tokio::test]
async fn an_existing_id_answers_409_before_any_rule_is_checked() {
    let gw = TestGateway::new().await;
    let client = Client::of(&gw).await;
    let good = client_body("abo-exists", "Édition 2026", "");
    assert_eq!(
        client
            .send(reqwest::Method::PUT, "abo-exists", &good)
            .await
            .0,
        201
    );
    // The same id again with a body that breaks rules (an audience and a type that do not
    // exist, the end before the start): the conflict is what the client needs to know.
    let broken = good
        .replace("INDIV", "CLASSE")
        .replace(
            "<publicCible>ELEVE</publicCible>",
            "<publicCible>PARENT</publicCible>",
        )
        .replace("2027-08-15T00:00:00", "2025-08-15T00:00:00");
    let (s, body) = client
        .send(reqwest::Method::PUT, "abo-exists", &broken)
        .await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body.contains("L'abonnement abo-exists existe deja"),
        "{body}"
    );
    // A new id with that body: every broken rule, as before.
    let (s, body) = client
        .send(
            reqwest::Method::PUT,
            "abo-new",
            &broken.replace("abo-exists", "abo-new"),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    for rule in ["RG-ASSIGNMENT-TYPE", "RG-AUDIENCE", "RG-VALIDITY-ORDER"] {
        assert!(
            body.contains(&format!("<regle>{rule}</regle>")),
            "{rule}: {body}"
        );
    }
    // Another provider's PUT of that id (its own distributor has none) is not a conflict:
    // nobody learns which ids others use.
    let other = Client {
        token: OTHER_PROVIDER_TOKEN,
        ..Client::of(&gw).await
    };
    let (s, body) = other
        .send(reqwest::Method::PUT, "abo-exists", &broken)
        .await;
    assert_eq!(s, 400, "{body}");
    // The subscription is untouched.
    let (s, body) = client.send(reqwest::Method::GET, "abo-exists", "").await;
    assert_eq!(s, 200);
    assert_eq!(abonnement(&body).text_of(NS, "typeAffectation"), "INDIV");
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
