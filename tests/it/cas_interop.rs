//! CAS round trips over real sockets with clients the gateway does not use, pointed at it by
//! their base URL alone: the published GAR integration django-gar itself (PyPI, unchanged:
//! `tests/peers/django-gar/app.py` only configures it), and a provider's web application built
//! on python-cas (`tests/peers/cas-client/service.py`) for what django-gar does not exercise.
//! The user comes from the médiacentre, or with no session through the ENT chooser; `renew`,
//! `gateway`, CAS 2, and the JSON and CAS 1 forms.

use base64::Engine;
use passerelle::trace::TraceEvent;

use crate::support::cas_peer::{Cas, RES_CAS, SITES};
use crate::support::gateway::*;
use crate::support::saml_browser::{authn_request, PUPIL};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_mediacentre_python_cas_validates_the_ticket_and_reads_the_attributes() {
    let cas = Cas::new(3).await;
    let base = &cas.saml.base;
    // The médiacentre click: the ENT logs the pupil in, the gateway sends them to the resource.
    let (status, to_ent, _, _) = cas.follow(&format!("{base}{}", domaine_gar(RES_CAS))).await;
    assert_eq!(status, 303);
    let (status, to) = cas.saml.ent_answers(&to_ent, PUPIL).await;
    assert_eq!((status, to.as_str()), (302, cas.peer.service().as_str()));
    // The application sends the browser to the gateway's /login, and validates the ticket.
    let (status, _, body, visited) = cas.follow(&to).await;
    assert_eq!(status, 200, "{body} {visited:?}");
    assert!(
        visited[1].starts_with(&format!("{base}/login?service=")),
        "{visited:?}"
    );
    assert!(visited[2].starts_with(&format!("{}&ticket=ST-", cas.peer.service())));
    let v = json(&body);
    let a = &v["attributes"];
    assert_eq!(a["UAI"], UAI);
    assert_eq!(a["PRO"], "National_elv");
    assert_eq!(v["uai"], serde_json::json!([UAI]), "as django-gar reads it");
    let ido = a["IDO"].as_str().unwrap();
    assert_eq!(ido.len(), 128);
    assert_ne!(
        v["user"].as_str().unwrap(),
        ido,
        "cas:user is opaque, not the IDO"
    );
    assert_eq!(a["IDC"], format!("{RES_CAS}_{ido}"));
    assert_eq!(a["LRA"], serde_json::json!(SITES), "repeated elements");
    assert_eq!(
        a["idENT"],
        base64::engine::general_purpose::STANDARD.encode("B0")
    );
    assert!(a.get("NOM").is_none(), "only what is validated for pupils");
    // One access: granted at the launch, the credential issued once, counted on the web.
    let issued: Vec<_> = cas
        .gw()
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::CredentialIssued {
                protocol, channel, ..
            } => Some((protocol, channel)),
            _ => None,
        })
        .collect();
    assert_eq!(issued, vec![("cas", passerelle::trace::Channel::Web)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_the_user_chooses_their_ent_and_comes_back_with_a_ticket() {
    let cas = Cas::new(3).await;
    let base = &cas.saml.base;
    let (status, chooser, _, _) = cas.follow(&cas.peer.service()).await;
    assert_eq!(status, 200, "the ENT chooser");
    assert!(chooser.is_empty());
    let resp = cas
        .saml
        .browser
        .get(format!(
            "{base}/login?service={}",
            urlencoding::encode(&cas.peer.service())
        ))
        .send()
        .await
        .unwrap();
    let to_chooser = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to_chooser.starts_with("/oidc/choose-ent?cas="),
        "{to_chooser}"
    );
    let cas_query = url::Url::parse(&format!("{base}{to_chooser}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "cas")
        .unwrap()
        .1
        .into_owned();
    let page = cas
        .saml
        .browser
        .get(format!("{base}{to_chooser}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("ENT de test") && page.contains("name=\"cas\""),
        "{page}"
    );
    let resp = cas
        .saml
        .browser
        .post(format!("{base}/oidc/choose-ent"))
        .form(&[("cas", cas_query.as_str()), ("ent", "B0"), ("uai", UAI)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
    let (status, back) = cas.saml.ent_answers(&to_ent, PUPIL).await;
    assert_eq!(status, 302);
    assert!(back.starts_with("/login?"), "{back}");
    let (status, _, body, _) = cas.follow(&format!("{base}{back}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["attributes"]["UAI"], UAI);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_true_without_a_session_goes_back_without_a_ticket() {
    let cas = Cas::new(3).await;
    let service = cas.peer.service();
    let (status, login, _) = cas.get(&format!("{service}&gateway=1")).await;
    assert_eq!(status, 302);
    assert!(login.ends_with("&gateway=true"), "{login}");
    let (status, back, page) = cas.get(&login).await;
    assert_eq!(
        (status, back.as_str()),
        (302, service.as_str()),
        "no ticket, no page: {page}"
    );
    // With renew=true as well, gateway is ignored: the ENT chooser.
    let (status, to, _) = cas.get(&format!("{login}&renew=true")).await;
    assert_eq!(status, 302);
    assert!(to.starts_with("/oidc/choose-ent?cas="), "{to}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renew_has_the_user_authenticate_again_at_the_ent() {
    let cas = Cas::new(3).await;
    let base = &cas.saml.base;
    let (_, to_ent, _, _) = cas.follow(&format!("{base}{}", domaine_gar(RES_CAS))).await;
    let (_, service) = cas.saml.ent_answers(&to_ent, PUPIL).await;
    // renew=true with a live session: to the ENT, with ForceAuthn, not a ticket.
    let (status, to_ent, _, visited) = cas.follow(&format!("{service}&renew=1")).await;
    assert_eq!(status, 303, "{visited:?}");
    assert!(visited[1].contains("renew=true"), "{visited:?}");
    let (request, _) = authn_request(&to_ent);
    assert!(request.contains(r#"ForceAuthn="true""#), "{request}");
    let (status, back) = cas.saml.ent_answers(&to_ent, PUPIL).await;
    assert_eq!(status, 302);
    assert!(back.contains("renewed="), "{back}");
    let (status, _, body, _) = cas.follow(&format!("{base}{back}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["attributes"]["PRO"], "National_elv");
    // The renewal is answered once: the same URL again starts another fresh login.
    let (status, _, _, _) = cas.follow(&format!("{base}{back}")).await;
    assert_eq!(status, 303, "a renewal id is used once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_2_clients_get_the_user_and_json_and_cas_1_forms_are_answered() {
    let cas = Cas::new(2).await;
    let base = cas.saml.base.clone();
    let cookie = cas.gw().session(PUPIL).await;
    let jar_get = |url: String| {
        let cookie = cookie.clone();
        async move {
            let resp = crate::support::gateway::http_client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            resp.headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string())
                .unwrap_or_default()
        }
    };
    let service = cas.peer.service();
    let login = format!("{base}/login?service={}", urlencoding::encode(&service));

    // python-cas as a CAS 2 client: the user, no attributes.
    let with_ticket = jar_get(login.clone()).await;
    let resp = reqwest::get(&with_ticket).await.unwrap();
    let v: serde_json::Value = resp
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert!(v["user"].as_str().is_some_and(|u| !u.is_empty()), "{v}");
    assert!(
        v["attributes"].is_null(),
        "CAS 2 answers no attributes: {v}"
    );

    // format=JSON at /p3/serviceValidate.
    let ticket = jar_get(login.clone()).await;
    let ticket = ticket.split("ticket=").nth(1).unwrap();
    let body = reqwest::get(format!(
        "{base}/p3/serviceValidate?service={}&ticket={ticket}&format=JSON",
        urlencoding::encode(&service)
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let v = json(&body);
    let ok = &v["serviceResponse"]["authenticationSuccess"];
    assert_eq!(ok["attributes"]["UAI"], UAI);
    assert_eq!(
        ok["attributes"]["DIV"],
        serde_json::json!(["4A##4e A"]),
        "an array even with one value"
    );
    assert_eq!(ok["attributes"]["LRA"], serde_json::json!(SITES));

    // CAS 1 at /validate.
    let ticket = jar_get(login).await;
    let ticket = ticket.split("ticket=").nth(1).unwrap();
    let url = format!(
        "{base}/validate?service={}&ticket={ticket}",
        urlencoding::encode(&service)
    );
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("yes"));
    assert!(lines.next().is_some_and(|u| !u.is_empty()));
    let again = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert_eq!(again, "no\n\n", "used once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_django_gar_integration_logs_users_in_and_takes_the_logout() {
    let db = tempfile::tempdir().unwrap();
    let cas = Cas::django_gar(db.path()).await;
    let base = cas.saml.base.clone();
    // The médiacentre click: the ENT logs the pupil in, the gateway sends them to the resource
    // (django-gar's `/?sso_id=gar`), django-gar to the gateway's CAS login, the gateway back
    // with a ticket, which django-gar validates before logging its user in.
    let (_, to_ent, _, _) = cas.follow(&format!("{base}{}", domaine_gar(RES_CAS))).await;
    let (status, to) = cas.saml.ent_answers(&to_ent, PUPIL).await;
    assert_eq!((status, to.as_str()), (302, cas.peer.service().as_str()));
    let (status, _, body, visited) = cas.follow(&to).await;
    assert_eq!(status, 200, "{body} {visited:?}");
    assert!(visited[2].contains("&ticket=ST-"), "{visited:?}");
    let v = json(&body);
    assert_eq!(v["user"], "college-demo", "the institution's account: {v}");
    assert_eq!(v["gar_uai"], UAI);
    assert_eq!(v["gar_profile"], "National_elv");
    assert_eq!(v["gar_ido"].as_str().map(str::len), Some(128));

    // The gateway session ends (the user logs out at the gateway's CAS /logout, confirmed):
    // django-gar's LogoutView reads the SessionIndex, the ticket of its session, and marks it.
    let page = cas
        .saml
        .browser
        .get(format!("{base}/logout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::support::saml_browser::form_value(&page, "jeton");
    let done = cas
        .saml
        .browser
        .post(format!("{base}/logout"))
        .form(&[("jeton", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let mut state = serde_json::Value::Null;
    for _ in 0..50 {
        state = json(
            &reqwest::get(format!("{}/state", cas.peer.base))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        if state["sessions"][0]["gar_logout"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ticket = visited[2].split("ticket=").nth(1).unwrap();
    assert_eq!(state["sessions"][0]["ticket"], ticket, "{state}");
    assert_eq!(state["sessions"][0]["gar_logout"], true, "{state}");
}
