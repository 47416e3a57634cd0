//! The listing on two gateway nodes sharing one Redis: each node keeps its view of a school
//! between requests, and a subscription created, deleted or assigned, or a resource changed,
//! through the other node shows at the very next request.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use passerelle::app::AppState;
use passerelle::domain::{Assignment, AssignmentTarget, AssignmentType};
use passerelle::trace::MemorySink;
use serde_json::Value;
use tower::ServiceExt;

use crate::support::gateway::*;
use crate::support::test_redis;

async fn call(
    node: &AppState,
    method: Method,
    path: &str,
    token: &str,
    body: String,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .unwrap();
    let resp = passerelle::http::app(node.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    (status, body_string(resp).await)
}

/// The listed resources of `person`, as (id, name).
async fn listed(node: &AppState, person: &str) -> Vec<(String, String)> {
    let (s, body) = call(
        node,
        Method::GET,
        &format!("/ressources/B0/{UAI}/{person}"),
        ENT_TOKEN,
        String::new(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["listeRessources"]["ressource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["idRessource"].as_str().unwrap().into(),
                r["nomRessource"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn ids(node: &AppState, person: &str) -> Vec<String> {
    listed(node, person)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

fn abonnement(id: &str) -> String {
    format!(
        r#"<abonnement xmlns="http://www.atosworldline.com/wsabonnement/v1.0/">
  <idAbonnement>{id}</idAbonnement>
  <idDistributeurCom>123456789_0000000000000000</idDistributeurCom>
  <idRessource>{RES_INDIV}</idRessource>
  <typeIdRessource>ark</typeIdRessource>
  <libelleRessource>Ressource individuelle</libelleRessource>
  <debutValidite>2026-08-15T00:00:00</debutValidite>
  <anneeFinValidite>2026-2027</anneeFinValidite>
  <uaiEtab>{UAI}</uaiEtab>
  <categorieAffectation>transferable</categorieAffectation>
  <typeAffectation>ETABL</typeAffectation>
  <nbLicenceGlobale>ILLIMITE</nbLicenceGlobale>
  <publicCible>ENSEIGNANT</publicCible>
</abonnement>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_node_shows_at_once_on_the_other() {
    let gw = TestGateway::new().await;
    let prefix = test_redis::prefix();
    let node = || {
        let (cfg, prefix, clock) = ((*gw.state.config).clone(), prefix.clone(), gw.clock.clone());
        async move {
            let store = test_redis::store(&prefix).await;
            AppState::new(cfg, store, Arc::new(clock), Arc::new(MemorySink::new()))
        }
    };
    let (a, b) = (node().await, node().await);
    a.seed().await.unwrap();

    // Node B builds its view once, then serves from it.
    assert_eq!(ids(&b, "ens-0001").await, [RES_ETABL]);
    let hits = b.listing_cache.hits.load(Ordering::Relaxed);
    assert_eq!(ids(&b, "ens-0001").await, [RES_ETABL]);
    assert_eq!(ids(&b, "eleve-0002").await, [RES_ETABL]);
    assert_eq!(
        b.listing_cache.hits.load(Ordering::Relaxed),
        hits + 2,
        "served from B's view"
    );

    // A subscription created through node A's web service opens the resource on node B.
    let (s, body) = call(
        &a,
        Method::PUT,
        "/abonnement/abo-nodes",
        PROVIDER_TOKEN,
        abonnement("abo-nodes"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(ids(&b, "ens-0001").await, [RES_ETABL, RES_INDIV]);
    // Deleted through node A: closed on node B.
    let (s, _) = call(
        &a,
        Method::DELETE,
        "/abonnement/abo-nodes",
        PROVIDER_TOKEN,
        String::new(),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(ids(&b, "ens-0001").await, [RES_ETABL]);

    // An individual assignment made on node A opens the resource on node B; withdrawn, closes.
    let uai = UAI.parse().unwrap();
    let indiv = a
        .store
        .subscriptions_at(&uai)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.assignment_type == AssignmentType::Indiv && s.resource_id.as_str() == RES_INDIV)
        .unwrap();
    let assignment = Assignment {
        subscription_id: indiv.id.clone(),
        uai,
        target: AssignmentTarget::Person {
            ent: "B0".parse().unwrap(),
            id: "eleve-0002".into(),
        },
    };
    assert!(a.store.add_assignment(&assignment).await.unwrap());
    assert_eq!(ids(&b, "eleve-0002").await, [RES_ETABL, RES_INDIV]);
    assert!(a.store.remove_assignment(&assignment).await.unwrap());
    assert_eq!(ids(&b, "eleve-0002").await, [RES_ETABL]);

    // A resource renamed on node A is listed under its new name on node B.
    let mut etabl = a
        .store
        .resource(&RES_ETABL.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    etabl.name = "Manuel (nouvelle édition)".into();
    a.store.put_resource(&etabl).await.unwrap();
    assert_eq!(
        listed(&b, "ens-0001").await,
        [(RES_ETABL.to_string(), etabl.name.clone())]
    );

    // A person or school absent from the live directory is refused, not served from a view.
    let (s, body) = call(
        &b,
        Method::GET,
        &format!("/ressources/B0/{UAI}/inconnu"),
        ENT_TOKEN,
        String::new(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("Utilisateur non trouvé"), "{body}");
    test_redis::cleanup(&prefix).await;
}

#[tokio::test]
async fn a_node_without_a_cache_reads_everything_every_time() {
    let gw = TestGateway::with(Options {
        extra_toml: "[listing]\ncache_schools = 0\n".into(),
        ..Options::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(ids(&gw.state, "eleve-0001").await, [RES_ETABL, RES_INDIV]);
    }
    assert!(gw.state.listing_cache.is_empty());
    assert_eq!(gw.state.listing_cache.hits.load(Ordering::Relaxed), 0);
}
