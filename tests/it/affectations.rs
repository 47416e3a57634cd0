//! The assignment page of schools' assignment managers: reached through ENT sign-in, in
//! French without JavaScript; assignments within the licences, refusals with their reason,
//! withdrawals, forged forms refused; and two gateway nodes sharing one Redis racing for the
//! last licence: exactly one wins, every time.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use passerelle::app::AppState;
use passerelle::clock::Clock;
use passerelle::domain::subscription::{LicenceCount, SubscriptionDetails};
use passerelle::domain::{PublicCible, Subscription};
use passerelle::store::SubscriptionStore;
use passerelle::trace::{MemorySink, TraceEvent};
use tower::ServiceExt;

use crate::support::gateway::*;
use crate::support::test_redis;

/// An individual subscription of RES_INDIV for pupils, with `n` pupil licences.
fn licensed(n: u32) -> Subscription {
    let mut s: Subscription = serde_json::from_value(serde_json::json!({
        "id": "abo-lic", "distributor_id": "123456789_0000000000000000", "resource_id": RES_INDIV,
        "resource_label": "Ressource individuelle",
        "valid_from": "2026-08-15T00:00:00Z", "valid_until": "2027-08-15T00:00:00Z", "uais": [UAI],
        "assignment_type": "INDIV", "audiences": ["ELEVE"]
    }))
    .unwrap();
    s.details = SubscriptionDetails {
        licences: vec![(PublicCible::Eleve, LicenceCount::Limited(n))],
        ..Default::default()
    };
    s
}

fn token_of(page: &str) -> String {
    let marker = "name=\"jeton\" value=\"";
    let start = page.find(marker).expect("a form token") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

async fn post(
    router: &axum::Router,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let resp = router
        .clone()
        .oneshot(
            Request::post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let loc = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, loc, body_string(resp).await)
}

async fn affecter(
    router: &axum::Router,
    cookie: &str,
    token: &str,
    target: &str,
) -> (StatusCode, String, String) {
    post(
        router,
        "/affectations/affecter",
        cookie,
        &form(token, target),
    )
    .await
}

async fn retirer(
    router: &axum::Router,
    cookie: &str,
    token: &str,
    target: &str,
) -> (StatusCode, String, String) {
    post(
        router,
        "/affectations/retirer",
        cookie,
        &form(token, target),
    )
    .await
}

/// The fields of a form of the page; a withdrawal's confirmation included (the page's own
/// "Retirer…" asks for it first: see `a_withdrawal_is_confirmed_first`).
fn form<'a>(token: &'a str, target: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("jeton", token),
        ("idENT", "B0"),
        ("uai", UAI),
        ("abonnement", "abo-lic"),
        ("cible", target),
        ("confirme", "oui"),
    ]
}

#[tokio::test]
async fn a_manager_signs_in_through_the_ent_and_assigns_within_the_licences() {
    let gw = TestGateway::new().await;
    gw.store.put_subscription(&licensed(1)).await.unwrap();
    // No session: the manager is sent to sign in at the ENT, and comes back here.
    let resp = gw.get("/affectations?idENT=QjA=", None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).starts_with(ENT_SSO), "{}", location(&resp));

    let cookie = gw.session("ens-0001").await;
    let page = body_string(gw.get("/affectations?idENT=B0", Some(&cookie)).await).await;
    for want in [
        "Affectation des ressources",
        "Collège de test",
        "Ressource individuelle",
        "Licences restantes : élèves : 1.",
        "Affectée à personne pour l'instant.",
        "value=\"group:4A\"",
        "value=\"person:eleve-0002\"",
    ] {
        assert!(page.contains(want), "{want} missing in {page}");
    }
    assert!(!page.contains("<script"));
    assert!(
        !page.contains("value=\"person:ens-0001\""),
        "teachers are not in this subscription's audiences"
    );
    let token = token_of(&page);
    let router = gw.router();

    let (s, loc, _) = affecter(&router, &cookie, &token, "person:eleve-0002").await;
    assert_eq!(
        (s, loc.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/affectations?idENT=B0&message=affecte"
        )
    );
    let page = body_string(gw.get(&loc, Some(&cookie)).await).await;
    assert!(
        page.contains("L'affectation est enregistrée.")
            && page.contains("élèves : 0.")
            && page.contains("Déjà affectée à 1 élève."),
        "{page}"
    );
    assert!(page.contains("Hugo Petit (élève)"), "{page}");
    let lic = page.split("(abo-lic)").nth(1).unwrap();
    assert!(
        !lic.contains("<option value=\"person:eleve-0002\""),
        "who is assigned is not offered again: {lic}"
    );
    assert!(page.contains("<optgroup label=\"Classes\">"), "{page}");

    // No licence left: another pupil, or the class (which reaches a new pupil), is refused.
    for target in ["person:eleve-0001", "group:4A"] {
        let (s, _, body) = affecter(&router, &cookie, &token, target).await;
        assert_eq!(s, StatusCode::CONFLICT, "{target}");
        assert!(
            body.contains("Licences insuffisantes") && body.contains("assign.over_licences"),
            "{body}"
        );
    }
    // The same assignment again changes nothing.
    let (_, loc, _) = affecter(&router, &cookie, &token, "person:eleve-0002").await;
    assert!(loc.ends_with("message=deja"));
    // Withdrawn, the licence is free again.
    let (s, loc, _) = retirer(&router, &cookie, &token, "person:eleve-0002").await;
    assert_eq!(
        (s, loc.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/affectations?idENT=B0&message=retire"
        )
    );
    let (s, _, _) = affecter(&router, &cookie, &token, "person:eleve-0001").await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // Every change is traced, with pseudonymous subjects only.
    let changes: Vec<(String, String)> = gw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::AssignmentChanged {
                action,
                target,
                manager,
                ..
            } => {
                assert!(!manager.contains("ens-0001"));
                Some((action.to_string(), target))
            }
            _ => None,
        })
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(changes[0].0, "assign");
    assert_eq!(changes[1].0, "withdraw");
    assert!(changes
        .iter()
        .all(|(_, t)| t.starts_with("person:") && !t.contains("eleve-")));
}

#[tokio::test]
async fn what_is_not_for_a_manager_to_assign_is_refused_with_its_reason() {
    let gw = TestGateway::new().await;
    gw.store.put_subscription(&licensed(5)).await.unwrap();
    let router = gw.router();
    let cookie = gw.session("ens-0001").await;
    let token = token_of(&body_string(gw.get("/affectations?idENT=B0", Some(&cookie)).await).await);
    // A forged form: no token, or another session's.
    let (s, _, body) = post(
        &router,
        "/affectations/affecter",
        &cookie,
        &form("", "person:eleve-0001"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("Formulaire expiré"));
    let other = gw.session("ens-0001").await;
    let (s, _, _) = post(
        &router,
        "/affectations/affecter",
        &other,
        &form(&token, "person:eleve-0001"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // No session at all.
    let (s, _, _) = post(
        &router,
        "/affectations/affecter",
        "__Host-passerelle_session=nope",
        &form(&token, "person:eleve-0001"),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An establishment-wide subscription is not assigned; unknown targets are refused.
    let mut f = form(&token, "person:eleve-0001");
    f[3] = ("abonnement", "abo-etabl");
    let (s, _, body) = post(&router, "/affectations/affecter", &cookie, &f).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("assign.not_individual"));
    for target in ["person:inconnu", "group:6Z", "person:ens-0001"] {
        let (s, _, body) = affecter(&router, &cookie, &token, target).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{target}");
        assert!(body.contains("assign.unknown_target"));
    }
    // A pupil is nobody's assignment manager.
    let pupil = gw.session("eleve-0001").await;
    let resp = gw.get("/affectations?idENT=B0", Some(&pupil)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(body_string(resp).await.contains("aucun établissement"));
    let pupil_token = passerelle::domain::IdoKey::form_token(
        &gw.state.config.ido_key,
        pupil.split_once('=').unwrap().1,
    );
    let (s, _, body) = post(
        &router,
        "/affectations/affecter",
        &pupil,
        &form(&pupil_token, "person:eleve-0002"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("assign.not_manager"));
    // An unknown ENT.
    assert_eq!(
        gw.get("/affectations?idENT=ZZ", Some(&cookie))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_nodes_sharing_one_redis_never_give_out_more_licences_than_bought() {
    let gw = TestGateway::new().await;
    let prefix = test_redis::prefix();
    // Two nodes: the same configuration, each its own connection to the one Redis.
    let node = |_: u8| {
        let (cfg, prefix, clock) = ((*gw.state.config).clone(), prefix.clone(), gw.clock.clone());
        async move {
            let store = test_redis::store(&prefix).await;
            AppState::new(cfg, store, Arc::new(clock), Arc::new(MemorySink::new()))
        }
    };
    let (a, b) = (node(1).await, node(2).await);
    a.seed().await.unwrap();
    a.store.put_subscription(&licensed(1)).await.unwrap();
    // One manager session, in the shared store.
    let now = gw.clock.now();
    let session = passerelle::session::Session::opened(
        passerelle::http::cookies::new_session_id(),
        "B0".parse().unwrap(),
        "ens-0001".into(),
        now,
        chrono::Duration::hours(6),
    );
    a.store
        .put_session(&session, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    let cookie = format!("{}={}", gw.session_cookie(), session.id);
    let token = a.config.ido_key.form_token(&session.id);
    let (ra, rb) = (
        passerelle::http::app(a.clone()),
        passerelle::http::app(b.clone()),
    );
    for round in 0..15 {
        // Node A gives the last licence to one pupil while node B gives it to the other.
        let (fa, fb) = (
            form(&token, "person:eleve-0001"),
            form(&token, "person:eleve-0002"),
        );
        let (x, y) = tokio::join!(
            post(&ra, "/affectations/affecter", &cookie, &fa),
            post(&rb, "/affectations/affecter", &cookie, &fb),
        );
        let won: Vec<bool> = [&x, &y]
            .iter()
            .map(|r| r.0 == StatusCode::SEE_OTHER)
            .collect();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {:?} {:?}",
            x.0,
            y.0
        );
        let lost = if won[0] { &y } else { &x };
        assert_eq!(lost.0, StatusCode::CONFLICT, "round {round}");
        let uai = UAI.parse().unwrap();
        let held = a.store.assignments("abo-lic", &uai).await.unwrap();
        assert_eq!(held.len(), 1, "round {round}: {held:?}");
        // The winner withdraws, for the next round.
        let winner = if won[0] {
            "person:eleve-0001"
        } else {
            "person:eleve-0002"
        };
        let (s, _, _) = post(&rb, "/affectations/retirer", &cookie, &form(&token, winner)).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
    }
    test_redis::cleanup(&prefix).await;
}

#[tokio::test]
async fn the_page_asks_the_ent_who_is_there_before_showing_an_old_sessions_schools() {
    let gw = TestGateway::new().await;
    gw.store.put_subscription(&licensed(1)).await.unwrap();
    let cookie = gw.session("ens-0001").await;
    let resp = gw.get("/affectations?idENT=B0", Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // A shared computer may have changed hands since: the ENT is asked, passively, first.
    gw.clock.advance(chrono::Duration::minutes(2));
    let resp = gw.get("/affectations?idENT=B0", Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to_ent = location(&resp);
    assert!(to_ent.starts_with(ENT_SSO), "{to_ent}");
    let request = redirect_message(&to_ent);
    assert!(request.contains(r#"IsPassive="true""#), "{request}");
    assert!(!body_string(resp).await.contains("Collège de test"));
}

#[tokio::test]
async fn a_form_posted_from_a_session_not_confirmed_lately_writes_nothing() {
    let gw = TestGateway::new().await;
    gw.store.put_subscription(&licensed(1)).await.unwrap();
    let cookie = gw.session("ens-0001").await;
    let token = token_of(&body_string(gw.get("/affectations?idENT=B0", Some(&cookie)).await).await);
    // The page stayed open while the computer changed hands: its form is posted later.
    gw.clock.advance(chrono::Duration::minutes(2));
    let (s, loc, _) = affecter(&gw.router(), &cookie, &token, "person:eleve-0002").await;
    assert_eq!(
        (s, loc.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/affectations?idENT=B0&message=verifie"
        )
    );
    let uai = UAI.parse().unwrap();
    assert!(gw
        .store
        .assignments("abo-lic", &uai)
        .await
        .unwrap()
        .is_empty());
    // The page asks the ENT first, and comes back with the message.
    let resp = gw.get(&loc, Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).starts_with(ENT_SSO));
}

#[tokio::test]
async fn a_withdrawal_is_confirmed_first_and_school_wide_subscriptions_are_shown() {
    let gw = TestGateway::new().await;
    gw.store.put_subscription(&licensed(2)).await.unwrap();
    let cookie = gw.session("ens-0001").await;
    let page = body_string(gw.get("/affectations?idENT=B0", Some(&cookie)).await).await;
    assert!(
        page.contains("Abonnements pour tout l'établissement")
            && page.contains("Ressource établissement"),
        "{page}"
    );
    let token = token_of(&page);
    let router = gw.router();
    let (s, _, _) = affecter(&router, &cookie, &token, "group:4A").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // The page's "Retirer…" posts without the confirmation: a page asks for it, nothing changes.
    let mut f = form(&token, "group:4A");
    f.retain(|(k, _)| *k != "confirme");
    let (s, _, body) = post(&router, "/affectations/retirer", &cookie, &f).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Confirmer le retrait") && body.contains("Classe 4e A"),
        "{body}"
    );
    assert!(body.contains("name=\"confirme\" value=\"oui\""), "{body}");
    let uai = UAI.parse().unwrap();
    assert_eq!(
        gw.store.assignments("abo-lic", &uai).await.unwrap().len(),
        1
    );
    // Confirmed: withdrawn.
    let (s, loc, _) = retirer(&router, &cookie, &token, "group:4A").await;
    assert_eq!(
        (s, loc.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/affectations?idENT=B0&message=retire"
        )
    );
    assert!(gw
        .store
        .assignments("abo-lic", &uai)
        .await
        .unwrap()
        .is_empty());
}
