//! The gateway as OpenID Provider, through the router with a fixed clock: discovery and JWKS,
//! the web flow (confidential client), the native flow (public client, PKCE, refresh-token
//! rotation), the GAR aliases, userinfo's attribute release, revocation, introspection,
//! logout, "application first" and key rollover.

use axum::http::StatusCode;
use oidc::*;
use passerelle::trace::{Channel, TraceEvent};

use crate::support::gateway::*;
use crate::support::oidc;

#[tokio::test]
async fn discovery_names_the_endpoints_and_the_jwks_publishes_the_key() {
    let gw = TestGateway::new().await;
    let resp = gw.get("/oidc/.well-known/openid-configuration", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let d: serde_json::Value = serde_json::from_str(&body_string(resp).await).unwrap();
    assert_eq!(d["issuer"], format!("{BASE}/oidc"));
    assert_eq!(d["token_endpoint"], format!("{BASE}/oidc/token"));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let jwks: serde_json::Value =
        serde_json::from_str(&body_string(gw.get("/oidc/jwks", None).await).await).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(key.get("d").is_none(), "no private part is published");
}

#[tokio::test]
async fn web_flow_releases_the_validated_attributes_with_the_ido_as_subject() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    let resp = authorize(&gw, Some(&cookie), &web_params()).await;
    let p = redirect_params(&resp);
    assert!(location(&resp).starts_with(OIDC_WEB_REDIRECT));
    assert_eq!(p["state"], "st-123");
    assert_eq!(
        p["iss"],
        format!("{BASE}/oidc"),
        "RFC 9207 iss in the response"
    );
    let (status, t) = redeem_web(&gw, &p["code"]).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert!(
        t.get("refresh_token").is_none(),
        "web clients get no refresh token by default"
    );
    let id = payload(t["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], format!("{BASE}/oidc"));
    assert_eq!(id["aud"], OIDC_WEB);
    assert_eq!(id["nonce"], "n-456");
    let ido = id["sub"].as_str().unwrap();
    assert_eq!(ido.len(), 128, "sub is the IDO");

    let (status, claims, _) = userinfo(
        &gw,
        t["access_token"].as_str().unwrap(),
        &format!(
            "?idRessource={}&access_mode=web",
            urlencoding::encode(RES_OIDC)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claims}");
    assert_eq!(claims["sub"], ido);
    assert_eq!(claims["IDO"], ido);
    assert_eq!(claims["UAI"], UAI);
    assert_eq!(claims["PRO"], "National_elv");
    assert_eq!(claims["DIV"], serde_json::json!(["4A##4e A"]));
    for absent in ["NOM", "PRE", "GRO", "P_MEL"] {
        assert!(
            claims.get(absent).is_none(),
            "{absent} is not validated for pupils"
        );
    }
    let issued: Vec<_> = gw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::CredentialIssued {
                protocol,
                channel,
                attributes,
                ido: i,
                ..
            } => Some((protocol, channel, attributes.len(), i)),
            _ => None,
        })
        .collect();
    assert_eq!(issued, vec![("oidc", Channel::Web, 4, ido.to_string())]);
}

#[tokio::test]
async fn the_gar_aliases_answer_like_the_standard_endpoints() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("ens-0001").await;
    let resp = gw
        .get(
            &format!("/oidc/oidcAuthorize?{}", query(&web_params())),
            Some(&cookie),
        )
        .await;
    let code = code_of(&resp);
    let (status, t) = post(
        &gw,
        "/oidc/oidcAccessToken",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", OIDC_WEB_REDIRECT),
            ("client_id", OIDC_WEB),
            ("client_secret", OIDC_WEB_SECRET),
            ("code_verifier", WEB_VERIFIER),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "client_secret_post: {t}");
    let resp = gw
        .call(
            axum::http::Request::get(format!(
                "/oidc/oidcProfile?idRessource={}&access_mode=web",
                urlencoding::encode(RES_OIDC)
            ))
            .header(
                "authorization",
                format!("Bearer {}", t["access_token"].as_str().unwrap()),
            )
            .body(axum::body::Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let claims: serde_json::Value = serde_json::from_str(&body_string(resp).await).unwrap();
    assert_eq!(
        claims["NOM"], "Durand",
        "teachers' names are validated for this resource"
    );
    assert_eq!(claims["PRO"], "National_ens");
}

#[tokio::test]
async fn native_app_flow_with_pkce_and_refresh_token_rotation() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    let (verifier, challenge) = pkce();
    let code = code_of(&authorize(&gw, Some(&cookie), &app_params(&challenge)).await);
    let (status, t1) = redeem_app(&gw, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{t1}");
    let rt1 = t1["refresh_token"]
        .as_str()
        .expect("native apps get a refresh token")
        .to_string();

    let (status, t2) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("client_id", OIDC_APP),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(
        payload(t2["id_token"].as_str().unwrap())["sub"],
        payload(t1["id_token"].as_str().unwrap())["sub"]
    );
    let (status, _, _) = userinfo(
        &gw,
        t2["access_token"].as_str().unwrap(),
        "?access_mode=app",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The first token again: someone replays it, so the whole family is revoked.
    let (status, e) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("client_id", OIDC_APP),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, e) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("client_id", OIDC_APP),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the newest token of the family is revoked too"
    );
    let (status, _, challenge) = userinfo(&gw, t2["access_token"].as_str().unwrap(), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("invalid_token"));
    let checks = gw.refused_checks();
    assert!(
        checks.contains(&"oidc.refresh_reused") && checks.contains(&"oidc.grant_revoked"),
        "{checks:?}"
    );
    let channels: Vec<_> = gw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::CredentialIssued { channel, .. } => Some(channel),
            _ => None,
        })
        .collect();
    assert_eq!(
        channels,
        vec![Channel::App],
        "one access, counted as a native-app access"
    );
}

#[tokio::test]
async fn native_loopback_redirects_accept_any_port() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    let (verifier, challenge) = pkce();
    let mut p = app_params(&challenge);
    p[1] = ("redirect_uri", "http://127.0.0.1:53124/callback");
    let resp = authorize(&gw, Some(&cookie), &p).await;
    assert!(location(&resp).starts_with("http://127.0.0.1:53124/callback?"));
    let code = code_of(&resp);
    let (status, t) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:53124/callback"),
            ("client_id", OIDC_APP),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
}

#[tokio::test]
async fn revocation_and_introspection() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    let (_, t) = redeem_web(
        &gw,
        &code_of(&authorize(&gw, Some(&cookie), &web_params()).await),
    )
    .await;
    let at = t["access_token"].as_str().unwrap();
    let basic = Some((OIDC_WEB, OIDC_WEB_SECRET));
    let (status, i) = post(&gw, "/oidc/introspect", &[("token", at)], basic).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (i["active"].as_bool(), i["client_id"].as_str()),
        (Some(true), Some(OIDC_WEB))
    );
    let (status, _) = post(
        &gw,
        "/oidc/revoke",
        &[("token", at), ("token_type_hint", "access_token")],
        basic,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, i) = post(&gw, "/oidc/introspect", &[("token", at)], basic).await;
    assert_eq!(i, serde_json::json!({"active": false}));
    let (status, _, _) = userinfo(&gw, at, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&gw, "/oidc/revoke", &[("token", "not-a-token")], basic).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "unknown tokens are answered alike (RFC 7009 §2.2)"
    );
    let (status, e) = post(
        &gw,
        "/oidc/introspect",
        &[("token", at), ("client_id", OIDC_APP)],
        None,
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "public clients cannot introspect"
    );

    // A native app's refresh token, revoked: it no longer refreshes.
    let (verifier, challenge) = pkce();
    let (_, t) = redeem_app(
        &gw,
        &code_of(&authorize(&gw, Some(&cookie), &app_params(&challenge)).await),
        &verifier,
    )
    .await;
    let rt = t["refresh_token"].as_str().unwrap();
    let (status, _) = post(
        &gw,
        "/oidc/revoke",
        &[("token", rt), ("client_id", OIDC_APP)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &gw,
        "/oidc/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", OIDC_APP),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = userinfo(&gw, t["access_token"].as_str().unwrap(), "").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoking the refresh token revokes its grant"
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_returns_only_to_a_registered_uri() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let cookie = gw.session("eleve-0001").await;
    let (_, t) = redeem_web(
        &gw,
        &code_of(&authorize(&gw, Some(&cookie), &web_params()).await),
    )
    .await;
    let hint = t["id_token"].as_str().unwrap();
    let resp = gw
        .get(
            &format!(
                "/oidc/logout?{}",
                query(&[
                    ("id_token_hint", hint),
                    (
                        "post_logout_redirect_uri",
                        "https://other.example.test/au-revoir-x"
                    )
                ])
            ),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "an unregistered post-logout URI is refused"
    );
    let resp = gw
        .get(
            &format!(
                "/oidc/oidcLogout?{}",
                query(&[
                    ("id_token_hint", hint),
                    (
                        "post_logout_redirect_uri",
                        "https://other.example.test/au-revoir"
                    ),
                    ("state", "bye-1")
                ])
            ),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        location(&resp),
        "https://other.example.test/au-revoir?state=bye-1"
    );
    assert!(resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let resp = authorize(&gw, Some(&cookie), &web_params()).await;
    assert!(
        location(&resp).starts_with("/oidc/choose-ent?"),
        "the session is gone"
    );
}

#[tokio::test]
async fn application_first_lets_the_user_choose_their_ent_and_school() {
    let gw = TestGateway::new().await;
    subscribe(&gw).await;
    let (_, challenge) = pkce();
    let resp = authorize(&gw, None, &app_params(&challenge)).await;
    let chooser = location(&resp);
    assert!(chooser.starts_with("/oidc/choose-ent?authz="));
    let page = body_string(gw.get(&chooser, None).await).await;
    assert!(
        page.contains("Choisissez votre ENT") && page.contains("ENT de test"),
        "{page}"
    );
    let found = body_string(gw.get(&format!("{chooser}&q=coll%C3%A8ge"), None).await).await;
    assert!(
        found.contains("Collège de test (0561641E)"),
        "schools are found by name"
    );
    let none = body_string(gw.get(&format!("{chooser}&q=zzzz"), None).await).await;
    assert!(none.contains("Aucun ENT"));

    let authz = url::Url::parse(&format!("http://x{chooser}"))
        .unwrap()
        .query_pairs()
        .next()
        .unwrap()
        .1
        .to_string();
    let bad = gw
        .post_form(
            "/oidc/choose-ent",
            &[("authz", &authz), ("ent", "B0"), ("uai", "1234")],
            None,
        )
        .await;
    assert!(body_string(bad).await.contains("Ce code UAI"));
    let resp = gw
        .post_form(
            "/oidc/choose-ent",
            &[("authz", &authz), ("ent", "B0"), ("uai", "0561641e")],
            None,
        )
        .await;
    assert!(
        location(&resp).starts_with(ENT_SSO),
        "the user authenticates at the chosen ENT"
    );
    assert!(set_cookie(&resp)
        .unwrap()
        .starts_with("__Secure-passerelle_login_"));

    // What the ENT login resumes: the same authorization, for the chosen school.
    let login_id = set_cookie(&resp)
        .unwrap()
        .trim_start_matches("__Secure-passerelle_login_")
        .split('=')
        .next()
        .unwrap()
        .to_string();
    let pending =
        passerelle::store::LoginStateStore::get_pending_login(gw.store.as_ref(), &login_id)
            .await
            .unwrap()
            .unwrap();
    let resume = pending.resume.unwrap();
    assert!(
        resume.starts_with("/oidc/authorize?") && resume.ends_with("&uai=0561641E"),
        "{resume}"
    );
    let cookie = gw.session("eleve-0001").await;
    let resp = gw.get(&resume, Some(&cookie)).await;
    assert!(code_of(&resp).len() > 20);
    let granted = gw.events().into_iter().any(|e| {
        matches!(
            e,
            TraceEvent::AccessGranted {
                channel: Channel::App,
                ..
            }
        )
    });
    assert!(
        granted,
        "an application-first access is counted when it is granted"
    );
}

#[tokio::test]
async fn a_token_signed_with_the_previous_key_still_validates_while_published() {
    let dir = tempfile::tempdir().unwrap();
    let old = make_keys(dir.path(), "old");
    let new = make_keys(dir.path(), "new");
    let entry = |k: &KeyFiles, kid: &str| {
        format!(
            "{{ key_file = {:?}, kid = {kid:?} }}",
            k.key.display().to_string()
        )
    };
    let keys = |first: &KeyFiles, second: Option<&KeyFiles>| {
        let kid = |k: &KeyFiles| if k.key == old.key { "k-old" } else { "k-new" };
        let mut v = vec![entry(first, kid(first))];
        v.extend(second.map(|s| entry(s, kid(s))));
        vec![(
            "PASSERELLE__OIDC__KEYS".to_string(),
            format!("[{}]", v.join(", ")),
        )]
    };
    let before = TestGateway::with(Options {
        vars: keys(&old, None),
        ..Options::default()
    })
    .await;
    subscribe(&before).await;
    let cookie = before.session("eleve-0001").await;
    let (_, t) = redeem_web(
        &before,
        &code_of(&authorize(&before, Some(&cookie), &web_params()).await),
    )
    .await;
    let at = t["access_token"].as_str().unwrap();

    // The same store, the new key first and the old one still published.
    let mut rolled = TestGateway::with(Options {
        vars: keys(&new, Some(&old)),
        ..Options::default()
    })
    .await;
    rolled.state = passerelle::app::AppState::new(
        (*rolled.state.config).clone(),
        before.store.clone(),
        std::sync::Arc::new(before.clock.clone()),
        std::sync::Arc::new(before.sink.clone()),
    );
    let jwks: serde_json::Value =
        serde_json::from_str(&body_string(rolled.get("/oidc/jwks", None).await).await).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let (status, _, _) = userinfo(&rolled, at, "").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "signed with the previous key, still published"
    );

    let mut dropped = TestGateway::with(Options {
        vars: keys(&new, None),
        ..Options::default()
    })
    .await;
    dropped.state = passerelle::app::AppState::new(
        (*dropped.state.config).clone(),
        before.store.clone(),
        std::sync::Arc::new(before.clock.clone()),
        std::sync::Arc::new(before.sink.clone()),
    );
    let (status, _, _) = userinfo(&dropped, at, "").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "once the key is withdrawn, its tokens are refused"
    );
}
