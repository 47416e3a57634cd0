//! Every check of the gateway's OpenID Provider, each with a request it refuses: the client
//! and redirect URI, the request's form, PKCE, codes (reused, expired, another client's),
//! client authentication, forged or expired tokens, and the access rule.

use axum::http::StatusCode;
use chrono::Duration;
use oidc::*;
use serde_json::json;

use crate::support::gateway::*;
use crate::support::oidc;

async fn ready() -> (TestGateway, String) {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    (gw, cookie)
}

fn with(
    mut p: Vec<(&'static str, &'static str)>,
    key: &'static str,
    value: Option<&'static str>,
) -> Vec<(&'static str, &'static str)> {
    p.retain(|(k, _)| *k != key);
    if let Some(v) = value {
        p.push((key, v));
    }
    p
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_gets_a_page_never_a_redirect() {
    let (gw, cookie) = ready().await;
    for (p, check) in [
        (
            with(web_params(), "client_id", Some("nobody")),
            "oidc.client",
        ),
        (with(web_params(), "client_id", None), "oidc.client"),
        (
            with(
                web_params(),
                "redirect_uri",
                Some("https://evil.example.test/cb"),
            ),
            "oidc.redirect_uri",
        ),
        (
            with(
                web_params(),
                "redirect_uri",
                Some("https://other.example.test/oidc/callbacK"),
            ),
            "oidc.redirect_uri",
        ),
        (
            with(
                web_params(),
                "redirect_uri",
                Some("https://other.example.test/oidc/callback/"),
            ),
            "oidc.redirect_uri",
        ),
        (
            with(web_params(), "redirect_uri", None),
            "oidc.redirect_uri",
        ),
    ] {
        let resp = authorize(&gw, Some(&cookie), &p).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{p:?}");
        assert!(resp.headers().get("location").is_none());
        let page = body_string(resp).await;
        assert!(
            page.contains("Demande de connexion invalide") && page.contains(check),
            "{check}"
        );
    }
    assert!(gw.refused_checks().iter().all(|c| c.starts_with("oidc.")));
}

#[tokio::test]
async fn malformed_requests_are_answered_at_the_redirect_uri_and_get_no_code() {
    let (gw, cookie) = ready().await;
    let (_, challenge) = pkce();
    let challenge: &'static str = Box::leak(challenge.into_boxed_str());
    for (p, error, check) in [
        (
            with(web_params(), "idRessource", None),
            "invalid_request",
            "oidc.id_ressource",
        ),
        (
            with(web_params(), "idRessource", Some("ark:/99999/test.etabl")),
            "invalid_request",
            "oidc.id_ressource",
        ),
        (
            with(web_params(), "idRessource", Some("pas-un-ark")),
            "invalid_request",
            "oidc.id_ressource",
        ),
        (
            with(web_params(), "response_type", Some("token")),
            "unsupported_response_type",
            "oidc.response_type",
        ),
        (
            with(web_params(), "scope", Some("scope.gar")),
            "invalid_scope",
            "oidc.scope",
        ),
        (
            with(web_params(), "scope", Some("openid admin")),
            "invalid_scope",
            "oidc.scope",
        ),
        (
            with(app_params(challenge), "code_challenge", None),
            "invalid_request",
            "oidc.pkce",
        ),
        (
            with(
                app_params(challenge),
                "code_challenge_method",
                Some("plain"),
            ),
            "invalid_request",
            "oidc.pkce",
        ),
        (
            with(app_params(challenge), "code_challenge_method", None),
            "invalid_request",
            "oidc.pkce",
        ),
        (
            with(web_params(), "prompt", None)
                .into_iter()
                .chain([("uai", "12")])
                .collect(),
            "invalid_request",
            "oidc.uai",
        ),
    ] {
        let resp = authorize(&gw, Some(&cookie), &p).await;
        let got = redirect_params(&resp);
        assert_eq!(got.get("error").map(String::as_str), Some(error), "{p:?}");
        assert!(!got.contains_key("code"));
        assert_eq!(gw.refused_checks().last(), Some(&check));
    }
}

#[tokio::test]
async fn a_parameter_given_twice_is_refused() {
    let (gw, cookie) = ready().await;
    let q = format!(
        "{}&idRessource=ark%3A%2F88888%2Fautre",
        query(&web_params())
    );
    let resp = gw.get(&format!("/oidc/authorize?{q}"), Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(gw.refused_checks(), vec!["oidc.duplicate_parameter"]);
}

#[tokio::test]
async fn a_user_not_assigned_the_resource_gets_no_code() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0002").await;
    let p = redirect_params(&authorize(&gw, Some(&cookie), &web_params()).await);
    assert_eq!(p.get("error").map(String::as_str), Some("access_denied"));
    assert!(!p.contains_key("code"));
    assert!(gw.events().iter().any(|e| matches!(
        e,
        passerelle::trace::TraceEvent::AccessRefused {
            reason: "not_assigned",
            ..
        }
    )));
    let p =
        redirect_params(&authorize(&gw, None, &with(web_params(), "prompt", Some("none"))).await);
    assert_eq!(
        p.get("error").map(String::as_str),
        Some("login_required"),
        "no session and prompt=none"
    );
}

#[tokio::test]
async fn pkce_verifier_missing_or_wrong_is_refused() {
    let (gw, cookie) = ready().await;
    let (verifier, challenge) = pkce();
    let code = code_of(&authorize(&gw, Some(&cookie), &app_params(&challenge)).await);
    let (status, e) = redeem_app(&gw, &code, &format!("{verifier}x")).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = code_of(&authorize(&gw, Some(&cookie), &app_params(&challenge)).await);
    let (status, _) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", OIDC_APP_REDIRECT),
            ("client_id", OIDC_APP),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(gw.refused_checks(), vec!["oidc.pkce", "oidc.pkce"]);
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_its_first_use_issued() {
    let (gw, cookie) = ready().await;
    let code = code_of(&authorize(&gw, Some(&cookie), &web_params()).await);
    let (status, t) = redeem_web(&gw, &code).await;
    assert_eq!(status, StatusCode::OK);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&gw, at, "").await.0, StatusCode::OK);
    let (status, e) = redeem_web(&gw, &code).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(&gw, at, "").await.0,
        StatusCode::UNAUTHORIZED,
        "the first use's token is revoked"
    );
    assert!(gw.refused_checks().contains(&"oidc.code_reused"));
}

#[tokio::test]
async fn expired_codes_other_clients_codes_and_changed_redirect_uris_are_refused() {
    let (gw, cookie) = ready().await;
    let code = code_of(&authorize(&gw, Some(&cookie), &web_params()).await);
    gw.clock.advance(Duration::seconds(61));
    assert_eq!(redeem_web(&gw, &code).await.0, StatusCode::BAD_REQUEST);
    gw.clock.advance(Duration::seconds(-61));

    let code = code_of(&authorize(&gw, Some(&cookie), &web_params()).await);
    let (verifier, _) = pkce();
    assert_eq!(
        redeem_app(&gw, &code, &verifier).await.0,
        StatusCode::BAD_REQUEST,
        "a web client's code redeemed by the app"
    );

    let code = code_of(&authorize(&gw, Some(&cookie), &web_params()).await);
    let (status, _) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://other.example.test/oidc/callbacK"),
        ],
        Some((OIDC_WEB, OIDC_WEB_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        redeem_web(&gw, "made-up-code").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        gw.refused_checks(),
        vec![
            "oidc.code_expired",
            "oidc.code_client",
            "oidc.redirect_uri",
            "oidc.code_unknown"
        ]
    );
}

#[tokio::test]
async fn a_confidential_client_with_a_wrong_secret_or_none_is_refused() {
    let (gw, cookie) = ready().await;
    let code = code_of(&authorize(&gw, Some(&cookie), &web_params()).await);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", OIDC_WEB_REDIRECT),
    ];
    let (status, e) = post(&gw, "/oidc/token", &form, Some((OIDC_WEB, "wrong-secret"))).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", OIDC_WEB));
    assert_eq!(
        post(&gw, "/oidc/token", &no_secret, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&gw, "/oidc/token", &form, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut app_with_secret = form.to_vec();
    app_with_secret.extend([("client_id", OIDC_APP), ("client_secret", "guess")]);
    assert_eq!(
        post(&gw, "/oidc/token", &app_with_secret, None).await.0,
        StatusCode::UNAUTHORIZED,
        "a public client presents no secret"
    );
    // The code is still good: refused authentications did not use it.
    assert_eq!(redeem_web(&gw, &code).await.0, StatusCode::OK);
    let (status, e) = post(
        &gw,
        "/oidc/token",
        &[("grant_type", "password")],
        Some((OIDC_WEB, OIDC_WEB_SECRET)),
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn forged_expired_or_misdirected_access_tokens_are_refused_at_userinfo() {
    let (gw, cookie) = ready().await;
    let (_, t) = redeem_web(
        &gw,
        &code_of(&authorize(&gw, Some(&cookie), &web_params()).await),
    )
    .await;
    let at = t["access_token"].as_str().unwrap().to_string();
    let claims = payload(&at);
    let kid = {
        use base64::Engine;
        let h: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(at.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_string()
    };
    let none = forge(
        &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        &claims,
        "",
    );
    let hs256 = {
        use hmac::Mac;
        let jwks = body_string(gw.get("/oidc/jwks", None).await).await;
        let unsigned = forge(
            &json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &claims,
            "",
        );
        let input = unsigned.trim_end_matches('.');
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(jwks.as_bytes()).unwrap();
        m.update(input.as_bytes());
        use base64::Engine;
        format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        )
    };
    let mut other_iss = claims.clone();
    other_iss["iss"] = json!("https://evil.example.test/oidc");
    let sig = at.split('.').nth(2).unwrap();
    for (token, why) in [
        (none, "alg none"),
        (hs256, "HS256 keyed with the public key"),
        (
            forge(
                &json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}),
                &other_iss,
                sig,
            ),
            "payload changed under the signature",
        ),
        (
            t["id_token"].as_str().unwrap().to_string(),
            "an ID token is not an access token",
        ),
        ("not.a.jwt".to_string(), "garbage"),
    ] {
        let (status, _, challenge) = userinfo(&gw, &token, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(
            challenge
                .unwrap()
                .starts_with("Bearer realm=\"passerelle\", error=\"invalid_token\""),
            "{why}"
        );
    }
    let (status, _, _) = userinfo(&gw, &at, "?idRessource=ark%3A%2F99999%2Ftest.etabl").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "another resource's profile"
    );
    let (status, _, _) = userinfo(&gw, &at, "?access_mode=tv").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = userinfo(&gw, &at, &format!("?access_token={at}")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "tokens never travel in the URL"
    );
    gw.clock.advance(Duration::seconds(601));
    let (status, _, _) = userinfo(&gw, &at, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");
    assert!(gw.refused_checks().contains(&"oidc.token_expired"));
}

#[tokio::test]
async fn a_withdrawn_assignment_closes_userinfo_and_refresh() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    let (verifier, challenge) = pkce();
    let (_, t) = redeem_app(
        &gw,
        &code_of(&authorize(&gw, Some(&cookie), &app_params(&challenge)).await),
        &verifier,
    )
    .await;
    passerelle::store::SubscriptionStore::remove_assignment(
        gw.store.as_ref(),
        &passerelle::domain::Assignment {
            subscription_id: "abo-oidc".into(),
            uai: UAI.parse().unwrap(),
            target: passerelle::domain::AssignmentTarget::Group {
                code: "LATIN".into(),
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(
        userinfo(&gw, t["access_token"].as_str().unwrap(), "")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, e) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", OIDC_APP),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

/// The gateway on a loopback listener, with a session of `eleve-0001`.
async fn listening() -> (TestGateway, String, String, reqwest::Client) {
    let (gw, cookie) = ready().await;
    let base = gw.listen().await;
    (gw, cookie, base, http_client())
}

/// An authorization over the socket; the code of its redirect, or the redirect's parameters.
async fn authorize_over(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    pairs: &[(&str, &str)],
) -> std::collections::HashMap<String, String> {
    let resp = http
        .get(format!("{base}/oidc/authorize?{}", query(pairs)))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302, "a redirect to the client");
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A token request over the socket: the status and the JSON answer.
async fn token_over(
    http: &reqwest::Client,
    base: &str,
    pairs: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    let mut req = http.post(format!("{base}/oidc/token")).form(pairs);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_leaked_code_presented_with_another_client_redirect_or_verifier_is_not_spent() {
    let (gw, cookie, base, http) = listening().await;
    let code = authorize_over(&http, &base, &cookie, &web_params()).await["code"].clone();
    let web = Some((OIDC_WEB, OIDC_WEB_SECRET));
    let form = |redirect: &'static str, verifier: Option<&'static str>| {
        let mut f = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ];
        f.extend(verifier.map(|v| ("code_verifier", v)));
        f
    };
    // Another client (the public app) presenting the web client's code and verifier.
    let mut as_app = form(OIDC_WEB_REDIRECT, Some(WEB_VERIFIER));
    as_app.push(("client_id", OIDC_APP));
    let (status, e) = token_over(&http, &base, &as_app, None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // The right client id with a wrong secret.
    let (status, e) = token_over(
        &http,
        &base,
        &form(OIDC_WEB_REDIRECT, Some(WEB_VERIFIER)),
        Some((OIDC_WEB, "not-the-secret-0123456789abcdef0123456")),
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    // The right client with another redirect URI, a wrong verifier, no verifier.
    for (f, why) in [
        (
            form(
                "https://other.example.test/oidc/callbacK",
                Some(WEB_VERIFIER),
            ),
            "redirect_uri",
        ),
        (
            form(
                OIDC_WEB_REDIRECT,
                Some("wrong-verifier-0123456789abcdefghijklmnopqrstuvwxyz"),
            ),
            "verifier",
        ),
        (form(OIDC_WEB_REDIRECT, None), "no verifier"),
    ] {
        let (status, e) = token_over(&http, &base, &f, web).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{why}"
        );
    }
    // None of them spent the code: the real client redeems it, once.
    let (status, t) = token_over(
        &http,
        &base,
        &form(OIDC_WEB_REDIRECT, Some(WEB_VERIFIER)),
        web,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert!(t["access_token"].is_string());
    let (status, e) = token_over(
        &http,
        &base,
        &form(OIDC_WEB_REDIRECT, Some(WEB_VERIFIER)),
        web,
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        gw.refused_checks(),
        vec![
            "oidc.code_client",
            "oidc.client_auth",
            "oidc.redirect_uri",
            "oidc.pkce",
            "oidc.pkce",
            "oidc.code_reused"
        ]
    );
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_yield_exactly_one_token_set() {
    let (_gw, cookie, base, http) = listening().await;
    let code = authorize_over(&http, &base, &cookie, &web_params()).await["code"].clone();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, base, code) = (http.clone(), base.clone(), code.clone());
        tasks.spawn(async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", OIDC_WEB_REDIRECT),
                ("code_verifier", WEB_VERIFIER),
            ];
            token_over(&http, &base, &form, Some((OIDC_WEB, OIDC_WEB_SECRET)))
                .await
                .0
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 400, 400, 400, 400, 400, 400, 400]);
}

#[tokio::test]
async fn a_confidential_client_must_send_pkce_unless_its_registration_turns_it_off() {
    let (gw, cookie, base, http) = listening().await;
    let no_pkce = with(
        with(web_params(), "code_challenge", None),
        "code_challenge_method",
        None,
    );
    let p = authorize_over(&http, &base, &cookie, &no_pkce).await;
    assert_eq!(p.get("error").map(String::as_str), Some("invalid_request"));
    assert_eq!(p.get("state").map(String::as_str), Some("st-123"));
    assert!(!p.contains_key("code"));
    assert_eq!(gw.refused_checks(), vec!["oidc.pkce"]);

    // A confidential client registered with `require_pkce = false` may leave PKCE out.
    let gw = TestGateway::with(Options {
        vars: vec![(
            "PASSERELLE__PROVIDERS__OTHER-EDITEUR__OIDC__CLIENTS__0__REQUIRE_PKCE".into(),
            "false".into(),
        )],
        ..Options::default()
    })
    .await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    let base = gw.listen().await;
    let p = authorize_over(&http, &base, &cookie, &no_pkce).await;
    let code = p.get("code").expect("a code without PKCE").clone();
    let (status, t) = token_over(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", OIDC_WEB_REDIRECT),
        ],
        Some((OIDC_WEB, OIDC_WEB_SECRET)),
    )
    .await;
    assert_eq!(status, 200, "{t}");
}

/// A logout request over the socket, with the session cookie and a cross-site browser's
/// headers: status, Location, body.
async fn logout_over(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    post: Option<&[(&str, &str)]>,
    query_pairs: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let url = format!("{base}/oidc/logout?{}", query(query_pairs));
    let req = match post {
        Some(form) => http.post(format!("{base}/oidc/logout")).form(form),
        None => http.get(url),
    };
    let resp = req
        .header("cookie", cookie)
        .header("origin", "https://evil.example.test")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, loc, resp.text().await.unwrap())
}

async fn session_alive(gw: &TestGateway, cookie: &str) -> bool {
    let id = cookie.split_once('=').unwrap().1;
    passerelle::store::SessionStore::get_session(gw.store.as_ref(), id)
        .await
        .unwrap()
        .is_some()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker).unwrap() + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].replace("&amp;", "&")
}

#[tokio::test]
async fn a_cross_site_logout_without_hint_keeps_the_session_until_the_user_confirms() {
    let (gw, cookie, base, http) = listening().await;
    let asked = [
        ("client_id", OIDC_WEB),
        (
            "post_logout_redirect_uri",
            "https://other.example.test/au-revoir",
        ),
        ("state", "bye-2"),
    ];
    let (status, loc, page) = logout_over(&http, &base, &cookie, None, &asked).await;
    assert_eq!(
        (status, loc),
        (200, None),
        "a confirmation page, no redirect"
    );
    assert!(page.contains("Se déconnecter de la passerelle ?"), "{page}");
    assert!(page.contains(r#"method="post""#));
    assert!(
        session_alive(&gw, &cookie).await,
        "a forged GET ends nothing"
    );

    // A POST with a forged token, or the right token in a GET, ends nothing either.
    let token = hidden(&page, "jeton");
    let mut forged = asked.to_vec();
    forged.push(("jeton", "forged-token-0123456789abcdefghijklmnopq"));
    let (status, _, page_again) = logout_over(&http, &base, &cookie, Some(&forged), &[]).await;
    assert_eq!(status, 200);
    assert!(page_again.contains("Se déconnecter de la passerelle ?"));
    let mut in_url = asked.to_vec();
    in_url.push(("jeton", token.as_str()));
    let (status, _, _) = logout_over(&http, &base, &cookie, None, &in_url).await;
    assert_eq!(status, 200);
    assert!(session_alive(&gw, &cookie).await);
    // Another session's token does not end this one.
    let other = gw.session("ens-0001").await;
    let (_, _, other_page) = logout_over(&http, &base, &other, None, &asked).await;
    let mut crossed = asked.to_vec();
    let other_token = hidden(&other_page, "jeton");
    crossed.push(("jeton", other_token.as_str()));
    let (status, _, _) = logout_over(&http, &base, &cookie, Some(&crossed), &[]).await;
    assert_eq!(status, 200);
    assert!(session_alive(&gw, &cookie).await);

    // The confirmation form, as the user submits it, ends the session and returns.
    let form = [
        ("jeton", token.as_str()),
        ("client_id", hidden(&page, "client_id").leak()),
        (
            "post_logout_redirect_uri",
            hidden(&page, "post_logout_redirect_uri").leak(),
        ),
        ("state", hidden(&page, "state").leak()),
    ];
    let (status, loc, _) = logout_over(&http, &base, &cookie, Some(&form), &[]).await;
    assert_eq!(status, 302);
    assert_eq!(
        loc.as_deref(),
        Some("https://other.example.test/au-revoir?state=bye-2")
    );
    assert!(!session_alive(&gw, &cookie).await);
    assert!(session_alive(&gw, &other).await, "only this session ends");
}

#[tokio::test]
async fn a_hint_of_this_session_logs_out_at_once_and_another_sessions_hint_asks_first() {
    let (gw, cookie, base, http) = listening().await;
    let code = authorize_over(&http, &base, &cookie, &web_params()).await["code"].clone();
    let (_, t) = token_over(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", OIDC_WEB_REDIRECT),
            ("code_verifier", WEB_VERIFIER),
        ],
        Some((OIDC_WEB, OIDC_WEB_SECRET)),
    )
    .await;
    let hint = t["id_token"].as_str().unwrap().to_string();
    assert!(payload(&hint)["sid"].is_string(), "ID tokens carry sid");
    // The hint of this session, presented with another session's cookie: confirmation asked.
    let other = gw.session("eleve-0001").await;
    let (status, loc, page) =
        logout_over(&http, &base, &other, None, &[("id_token_hint", &hint)]).await;
    assert_eq!((status, loc), (200, None));
    assert!(page.contains("Se déconnecter de la passerelle ?"));
    assert!(session_alive(&gw, &other).await);
    // Expired hints still name the session (RP-Initiated Logout §2).
    gw.clock.advance(Duration::seconds(3600));
    let (status, loc, _) = logout_over(
        &http,
        &base,
        &cookie,
        None,
        &[
            ("id_token_hint", &hint),
            (
                "post_logout_redirect_uri",
                "https://other.example.test/au-revoir",
            ),
        ],
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(loc.as_deref(), Some("https://other.example.test/au-revoir"));
    assert!(!session_alive(&gw, &cookie).await);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_not_followed() {
    let (gw, cookie, base, http) = listening().await;
    for pairs in [
        vec![
            ("client_id", OIDC_WEB),
            ("post_logout_redirect_uri", "https://evil.example.test/"),
        ],
        vec![(
            "post_logout_redirect_uri",
            "https://other.example.test/au-revoir",
        )],
        vec![
            ("client_id", OIDC_WEB),
            (
                "post_logout_redirect_uri",
                "https://other.example.test/au-revoir/",
            ),
        ],
    ] {
        let (status, loc, page) = logout_over(&http, &base, &cookie, None, &pairs).await;
        assert_eq!((status, loc), (400, None), "{pairs:?}");
        assert!(page.contains("oidc.post_logout_redirect_uri"), "{page}");
        let mut confirmed = pairs.clone();
        let token = gw
            .state
            .config
            .ido_key
            .logout_token(cookie.split_once('=').unwrap().1);
        confirmed.push(("jeton", token.leak()));
        let (status, loc, _) = logout_over(&http, &base, &cookie, Some(&confirmed), &[]).await;
        assert_eq!((status, loc), (400, None), "not even once confirmed");
    }
    assert!(session_alive(&gw, &cookie).await);
}
