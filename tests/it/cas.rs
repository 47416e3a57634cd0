//! The CAS server's refusals, each over a real listener with the hostile input itself: tickets
//! reused, expired, for another service (and then gone), unknown, malformed; parameters
//! missing; a service nobody registered (no ticket, no redirect); a user the resource is not
//! assigned to (a French page, no ticket); proxying. And its single logout: the session's end
//! reaches the application (python-cas reads the `logoutRequest`), `/logout` ends the session
//! only when confirmed, and redirects only to registered services.

use crate::support::cas_peer::Cas;
use crate::support::saml_browser::PUPIL;

/// A fresh ticket for the pupil (or `person`) at the application's service, from `/login`.
async fn ticket_for(cas: &Cas, person: &str) -> (u16, String, String) {
    let cookie = cas.gw().session(person).await;
    let resp = crate::support::gateway::http_client()
        .get(format!(
            "{}/login?service={}",
            cas.saml.base,
            urlencoding::encode(&cas.peer.service())
        ))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let to = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    let ticket = to.split("ticket=").nth(1).unwrap_or_default().to_string();
    (status, ticket, resp.text().await.unwrap())
}

/// `/p3/serviceValidate` with `query`: the failure code, or `None` on success.
async fn failure(cas: &Cas, path: &str, query: &str) -> Option<String> {
    let body = reqwest::get(format!("{}{path}?{query}", cas.saml.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    if body.contains("cas:authenticationSuccess") {
        return None;
    }
    Some(
        body.split("code=\"")
            .nth(1)
            .unwrap_or_else(|| panic!("{body}"))
            .split('"')
            .next()
            .unwrap()
            .to_string(),
    )
}

fn q(service: &str, ticket: &str) -> String {
    format!(
        "service={}&ticket={}",
        urlencoding::encode(service),
        urlencoding::encode(ticket)
    )
}

const V3: &str = "/p3/serviceValidate";

/// Where `GET url`, with the session `cookie`, redirects the browser.
async fn redirect_of(url: &str, cookie: &str) -> String {
    crate::support::gateway::http_client()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The JSON the application answers at `url`.
async fn json_at(url: &str) -> serde_json::Value {
    serde_json::from_str(&reqwest::get(url).await.unwrap().text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_is_validated_once_for_its_service_within_its_life() {
    let cas = Cas::new(3).await;
    let service = cas.peer.service();

    // Reused: the application validates it, a second validation is refused.
    let (_, t, _) = ticket_for(&cas, PUPIL).await;
    assert_eq!(failure(&cas, V3, &q(&service, &t)).await, None);
    assert_eq!(
        failure(&cas, V3, &q(&service, &t)).await.as_deref(),
        Some("INVALID_TICKET")
    );

    // For another service: refused, and gone for its own.
    let (_, t, _) = ticket_for(&cas, PUPIL).await;
    let other = "https://evil.example.test/?sso_id=gar";
    assert_eq!(
        failure(&cas, V3, &q(other, &t)).await.as_deref(),
        Some("INVALID_SERVICE")
    );
    assert_eq!(
        failure(&cas, V3, &q(&service, &t)).await.as_deref(),
        Some("INVALID_TICKET")
    );

    // Expired: 10 seconds by default.
    let (_, t, _) = ticket_for(&cas, PUPIL).await;
    cas.gw().clock.advance(chrono::Duration::seconds(11));
    assert_eq!(
        failure(&cas, V3, &q(&service, &t)).await.as_deref(),
        Some("INVALID_TICKET")
    );

    // Unknown and malformed.
    let unknown = format!("ST-{}", "A".repeat(43));
    assert_eq!(
        failure(&cas, V3, &q(&service, &unknown)).await.as_deref(),
        Some("INVALID_TICKET")
    );
    for bad in [
        "PT-abc",
        "ST-<script>",
        "TGT-1-abc",
        &format!("ST-{}", "a".repeat(300)),
    ] {
        assert_eq!(
            failure(&cas, V3, &q(&service, bad)).await.as_deref(),
            Some("INVALID_TICKET_SPEC"),
            "{bad}"
        );
    }

    // Parameters missing: the ticket given without its service is consumed all the same.
    let (_, t, _) = ticket_for(&cas, PUPIL).await;
    let only_ticket = format!("ticket={t}");
    assert_eq!(
        failure(&cas, V3, &only_ticket).await.as_deref(),
        Some("INVALID_REQUEST")
    );
    assert_eq!(
        failure(&cas, V3, &q(&service, &t)).await.as_deref(),
        Some("INVALID_TICKET")
    );
    let only_service = format!("service={}", urlencoding::encode(&service));
    assert_eq!(
        failure(&cas, V3, &only_service).await.as_deref(),
        Some("INVALID_REQUEST")
    );
    assert_eq!(
        failure(&cas, "/serviceValidate", "").await.as_deref(),
        Some("INVALID_REQUEST")
    );

    // python-cas sees the refusal as the protocol says.
    let (_, t, _) = ticket_for(&cas, PUPIL).await;
    let url = format!("{}&ticket={t}", service);
    let first = reqwest::get(&url).await.unwrap();
    assert_eq!(first.status(), 200);
    let again: serde_json::Value = reqwest::get(&url)
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(again["code"], "INVALID_TICKET");

    let refused = cas.gw().refused_checks();
    for check in [
        "cas.invalid_ticket",
        "cas.invalid_service",
        "cas.invalid_ticket_spec",
        "cas.invalid_request",
    ] {
        assert!(refused.contains(&check), "{check} traced: {refused:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_nobody_registered_gets_no_ticket_and_no_redirect() {
    let cas = Cas::new(3).await;
    let cookie = cas.gw().session(PUPIL).await;
    let client = crate::support::gateway::http_client();
    let service = cas.peer.service();
    let port_suffix = service.replace("/?sso_id=gar", ".evil.example.test/?sso_id=gar");
    for hostile in [
        "https://evil.example.test/?sso_id=gar",
        &format!("{service}&x=1"),
        &port_suffix,
        "javascript:alert(1)",
        "",
    ] {
        let resp = client
            .get(format!(
                "{}/login?service={}",
                cas.saml.base,
                urlencoding::encode(hostile)
            ))
            .header("cookie", &cookie)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert!(matches!(resp.status().as_u16(), 400 | 403), "{hostile}");
        assert!(resp.headers().get("location").is_none(), "{hostile}");
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("lang=\"fr\"") && !page.contains("ticket="),
            "{page}"
        );
    }
    assert!(cas.gw().refused_checks().contains(&"cas.service"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_not_assigned_gets_a_french_page_and_no_ticket() {
    let cas = Cas::new(3).await;
    let (status, ticket, page) = ticket_for(&cas, "eleve-0002").await;
    assert_eq!(status, 403);
    assert!(ticket.is_empty());
    assert!(page.contains("Ressource non attribuée"), "{page}");
    assert!(page.contains("lang=\"fr\""));
    assert!(!cas
        .gw()
        .events()
        .iter()
        .any(|e| matches!(e, passerelle::trace::TraceEvent::CredentialIssued { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxying_is_answered_with_the_protocols_errors() {
    let cas = Cas::new(3).await;
    let service = cas.peer.service();
    let (_, t, _) = ticket_for(&cas, PUPIL).await;
    let with_pgt = format!(
        "{}&pgtUrl={}",
        q(&service, &t),
        urlencoding::encode("https://evil.example.test/pgt")
    );
    assert_eq!(
        failure(&cas, V3, &with_pgt).await.as_deref(),
        Some("INVALID_PROXY_CALLBACK")
    );
    assert_eq!(
        failure(&cas, V3, &q(&service, &t)).await.as_deref(),
        Some("INVALID_TICKET"),
        "consumed by the refused validation"
    );
    let (_, t, _) = ticket_for(&cas, PUPIL).await;
    for path in ["/p3/proxyValidate", "/proxyValidate"] {
        assert_eq!(
            failure(&cas, path, &q(&service, &t)).await.as_deref(),
            Some("UNAUTHORIZED_SERVICE_PROXY")
        );
    }
    let body = reqwest::get(format!(
        "{}/proxy?pgt=PGT-1&targetService={}",
        cas.saml.base,
        urlencoding::encode(&service)
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        body.contains("<cas:proxyFailure code=\"UNAUTHORIZED_SERVICE_PROXY\""),
        "{body}"
    );
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/samlValidate?TARGET={}",
            cas.saml.base,
            urlencoding::encode(&service)
        ))
        .body("<SOAP-ENV:Envelope/>")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("INVALID_REQUEST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_confirmed_ends_the_session_and_reaches_the_application() {
    let cas = Cas::new(3).await;
    let base = cas.saml.base.clone();
    let cookie = cas.gw().session(PUPIL).await;
    let client = crate::support::gateway::http_client();
    let service = cas.peer.service();
    let login = format!("{base}/login?service={}", urlencoding::encode(&service));
    let to = redirect_of(&login, &cookie).await;
    let ticket = to.split("ticket=").nth(1).unwrap().to_string();
    let opened: serde_json::Value = json_at(&to).await;
    assert_eq!(opened["ticket"], ticket);

    // A GET alone (any site can make a browser send one) ends nothing.
    let logout = format!("{base}/logout?service={}", urlencoding::encode(&service));
    let page = client
        .get(&logout)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let token = crate::support::saml_browser::form_value(&page, "jeton");
    let still = client
        .get(&login)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(still.headers()["location"]
        .to_str()
        .unwrap()
        .contains("ticket="));
    // A forged POST without the session's token ends nothing either.
    let forged = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .form(&[("service", service.as_str()), ("jeton", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200, "the confirmation page again");

    // Confirmed: the session ends, the browser goes back to the registered service.
    let done = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .form(&[("service", service.as_str()), ("jeton", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    assert_eq!(done.headers()["location"], service.as_str());
    let after = client
        .get(&login)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        after.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/oidc/choose-ent"),
        "no session any more"
    );
    assert!(cas.gw().ended_sessions().contains(&"provider_logout"));

    // The back channel: python-cas reads the SessionIndex, the ticket of each provider session.
    let mut got = Vec::new();
    for _ in 0..50 {
        got = cas.peer.logouts().await;
        if got.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        got.contains(&ticket),
        "{got:?} should name {ticket}: {:?}",
        cas.gw().events()
    );
    // The trace line is written once the application has answered, which may be just after
    // it has the logout: waited for, as the logout was.
    let sent = || {
        cas.gw().events().iter().any(|e| {
            matches!(
                e,
                passerelle::trace::TraceEvent::LogoutSent {
                    protocol: "cas",
                    delivered: true,
                    ..
                }
            )
        })
    };
    for _ in 0..50 {
        if sent() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(sent());

    // Logging out with an unregistered service: a page, never a redirect there.
    let resp = client
        .get(format!(
            "{base}/logout?service={}",
            urlencoding::encode("https://evil.example.test/")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_move_under_a_configured_prefix() {
    let cas = Cas::with(
        3,
        vec![("PASSERELLE__CAS__PATH_PREFIX".into(), "/cas".into())],
    )
    .await;
    let base = cas.saml.base.clone();
    let cookie = cas.gw().session(PUPIL).await;
    let client = crate::support::gateway::http_client();
    let service = cas.peer.service();
    let at_root = client
        .get(format!(
            "{base}/login?service={}",
            urlencoding::encode(&service)
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(at_root.status(), 404);
    let (status, to, _, visited) = cas.follow(&service).await;
    assert_eq!(status, 200, "the chooser: {visited:?}");
    assert!(to.is_empty());
    assert!(
        visited[1].starts_with(&format!("{base}/cas/login?")),
        "{visited:?}"
    );
    let to = redirect_of(&visited[1], &cookie).await;
    let v: serde_json::Value = json_at(&to).await;
    assert_eq!(v["attributes"]["UAI"], crate::support::gateway::UAI, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_during_a_validation_is_answered_internal_error() {
    use std::sync::Arc;

    use passerelle::store::{RedisStore, Store};

    use crate::support::gateway::{Options, TestGateway};
    use crate::support::own_redis::OwnRedis;

    let mut redis = OwnRedis::start();
    let service = "https://cas.example.test/?sso_id=gar";
    let gw = TestGateway::with(Options {
        extra_toml: format!(
            r#"
[providers.cas-editeur]
name = "Éditeur CAS"
protocol = "cas"
technical_distributor = "555555555_0000000000000000"
[[providers.cas-editeur.resources]]
id = "ark:/77777/cas"
name = "Ressource CAS"
access_url = "{service}"
[providers.cas-editeur.resources.attributes]
National_elv = ["IDO", "UAI"]
[[providers.cas-editeur.cas.services]]
url = "{service}"
"#
        ),
        ..Options::default()
    })
    .await;
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&redis.url(), false, "cas-ie")
            .await
            .unwrap(),
    );
    let state = passerelle::app::AppState::new(
        (*gw.state.config).clone(),
        store.clone(),
        Arc::new(gw.clock.clone()),
        Arc::new(gw.sink.clone()),
    );
    state.seed().await.unwrap();
    crate::support::cas_peer::subscribe_in(store.as_ref()).await;
    let now = passerelle::clock::Clock::now(&gw.clock);
    let session = passerelle::session::Session::opened(
        passerelle::http::cookies::new_session_id(),
        "B0".parse().unwrap(),
        "eleve-0001".into(),
        now,
        chrono::Duration::hours(6),
    );
    store
        .put_session(&session, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(passerelle::http::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let to = crate::support::gateway::http_client()
        .get(format!(
            "{base}/login?service={}",
            urlencoding::encode(service)
        ))
        .header("cookie", format!("{}={}", gw.session_cookie(), session.id))
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let ticket = to.split("ticket=").nth(1).unwrap().to_string();
    tokio::task::block_in_place(|| redis.kill());
    let resp = reqwest::get(format!("{base}{V3}?{}", q(service, &ticket)))
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<cas:authenticationFailure code=\"INTERNAL_ERROR\">"),
        "{body}"
    );
}
