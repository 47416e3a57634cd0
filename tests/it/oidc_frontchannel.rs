//! An OIDC ENT's front-channel logout (OpenID Connect Front-Channel Logout 1.0), over a real
//! listener with panva's `oidc-provider` as the ENT: the teacher logs in at the ENT and opens a
//! resource; the ENT's logout page loads `/ent/oidc/frontchannel-logout?iss=…&sid=…` in an
//! iframe. Hostile or incomplete requests end nothing; the ENT's own `iss` and `sid` end the
//! session, and the answer may be framed by the ENT's origin only.

use crate::shared_computer::{assertion_at, through_the_op};
use crate::support::ent_op::{panva_with_backchannel_logout, Panva};
use crate::support::gateway::*;
use crate::support::saml_browser::*;
use reqwest::cookie::CookieStore;

/// The ENT's session id (`sid`) of the browser's gateway session, as its ID token carried it.
async fn ent_sid(p: &Panva) -> String {
    let url: url::Url = p.base.parse().unwrap();
    let cookies = p
        .jar
        .cookies(&url)
        .expect("the browser holds the gateway's cookie");
    let name = format!("{}=", p.gw.session_cookie());
    let id = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix(name.as_str()))
        .expect("a gateway session cookie")
        .to_string();
    let session = passerelle::store::SessionStore::get_session(p.gw.store.as_ref(), &id)
        .await
        .unwrap()
        .expect("the session is stored");
    session
        .ent_session
        .and_then(|r| r.index)
        .expect("the ENT's ID token carried a sid")
}

async fn front(p: &Panva, query: &str) -> reqwest::Response {
    p.browser
        .get(format!("{}/ent/oidc/frontchannel-logout?{query}", p.base))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_ents_front_channel_logout_ends_the_session_it_names_and_nothing_else() {
    // (panva puts `sid` in ID tokens for clients registered for session-bound logout.)
    let p = panva_with_backchannel_logout(crate::support::hostile_op::CLIENT_SECRET).await;
    let click = format!("{}{}", p.base, domaine_gar(RES_ETABL));
    let seen = through_the_op(&p, click, TEACHER).await;
    assert_eq!(seen.last().unwrap(), RES_ACCESS, "{seen:?}");
    let sid = ent_sid(&p).await;
    let iss = urlencoding::encode(&p.op.issuer).into_owned();
    let sid_q = urlencoding::encode(&sid).into_owned();

    // Refused, nothing ended: no sid, no iss, a repeated sid, an issuer that is no ENT's.
    for (query, check) in [
        (format!("iss={iss}"), "oidc.front_channel"),
        (format!("sid={sid_q}"), "oidc.front_channel"),
        (
            format!("iss={iss}&sid={sid_q}&sid=other"),
            "oidc.front_channel",
        ),
        (
            format!("iss=https%3A%2F%2Fattacker.example%2F&sid={sid_q}"),
            "oidc.issuer",
        ),
    ] {
        let resp = front(&p, &query).await;
        assert_eq!(resp.status(), 403, "{query}");
        assert_eq!(resp.headers()["x-frame-options"], "DENY", "{query}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(check), "{query}: {body}");
    }
    // The ENT's issuer with a session id that is not this login's: nothing to end.
    let resp = front(&p, &format!("iss={iss}&sid=not-the-{sid_q}")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Aucune session"));
    assert!(p.gw.ended_sessions().is_empty());
    assert!(assertion_at(&p, "_sp-still-there").await.is_some());

    // The ENT's logout page frames the gateway with its issuer and the login's sid.
    let resp = front(&p, &format!("iss={iss}&sid={sid_q}")).await;
    assert_eq!(resp.status(), 200);
    let origin = p.op.issuer.trim_end_matches('/');
    let origin = url::Url::parse(origin)
        .unwrap()
        .origin()
        .ascii_serialization();
    assert_eq!(
        resp.headers()["content-security-policy"],
        format!("frame-ancestors {origin}").as_str()
    );
    assert!(resp.headers().get("x-frame-options").is_none());
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let cleared = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the browser's session cookie is cleared");
    assert!(resp.text().await.unwrap().contains("Vous êtes déconnecté"));
    assert_eq!(p.gw.ended_sessions(), vec!["ent_logout"]);
    assert!(assertion_at(&p, "_sp-after-logout").await.is_none());
    // The same request again ends nothing more.
    let resp = front(&p, &format!("iss={iss}&sid={sid_q}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(p.gw.ended_sessions(), vec!["ent_logout"]);
    // Every other page keeps refusing to be framed.
    let resp = p.browser.get(format!("{}/", p.base)).send().await.unwrap();
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert_eq!(
        resp.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );

    let _ = p.stop.send(());
    p.server.await.unwrap().unwrap();
}
