//! Logout tokens with time as a parameter: each check of Back-Channel Logout 1.0 §2.6 refuses
//! its case (panva's provider sends real ones in `tests/it/shared_computer.rs`).

use chrono::Duration;
use serde_json::{json, Value};

use super::*;
use crate::oidc::rp::flow_tests::{key, now, settings, Key};

fn claims() -> Value {
    json!({
        "iss": "https://ent.example.test", "aud": "passerelle", "sub": "s-1", "sid": "sid-1",
        "iat": now().timestamp(), "exp": (now() + Duration::minutes(2)).timestamp(),
        "jti": "j-1", "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

fn signed(k: &Key, claims: &Value, alg: jsonwebtoken::Algorithm, kid: &str) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.into());
    header.typ = Some("logout+jwt".into());
    let key = match alg {
        jsonwebtoken::Algorithm::HS256 => jsonwebtoken::EncodingKey::from_secret(b"passerelle"),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(&k.pem).unwrap(),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn verify(k: &Key, token: &str) -> Result<LogoutToken, Check> {
    verify_logout_token(token, &k.jwks, &settings(), now()).map_err(|e| e.check)
}

fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    change(c.as_object_mut().unwrap());
    c
}

#[test]
fn a_logout_token_names_the_ents_login() {
    let k = key();
    let t = verify(
        &k,
        &signed(&k, &claims(), jsonwebtoken::Algorithm::RS256, "k1"),
    )
    .unwrap();
    assert_eq!(t.sub.as_deref(), Some("s-1"));
    assert_eq!(t.sid.as_deref(), Some("sid-1"));
    assert_eq!(t.jti, "j-1");
    assert_eq!(t.remember_until, now() + MAX_AGE + Duration::seconds(60));
    let sid_only = with(|c| {
        c.remove("sub");
    });
    let t = verify(
        &k,
        &signed(&k, &sid_only, jsonwebtoken::Algorithm::RS256, "k1"),
    )
    .unwrap();
    assert_eq!((t.sub, t.sid.as_deref()), (None, Some("sid-1")));
}

#[test]
fn every_check_of_a_logout_token_refuses() {
    let k = key();
    let other = key();
    let rs = jsonwebtoken::Algorithm::RS256;
    let cases: Vec<(&str, String, Check)> = vec![
        (
            "another key",
            signed(&other, &claims(), rs, "k1"),
            Check::Signature,
        ),
        (
            "an unknown kid",
            signed(&k, &claims(), rs, "k9"),
            Check::Kid,
        ),
        (
            "HMAC with a guessable secret",
            signed(&k, &claims(), jsonwebtoken::Algorithm::HS256, "k1"),
            Check::Algorithm,
        ),
        (
            "another alg",
            signed(&k, &claims(), jsonwebtoken::Algorithm::RS384, "k1"),
            Check::Algorithm,
        ),
        (
            "another issuer",
            signed(
                &k,
                &with(|c| {
                    c.insert("iss".into(), json!("https://evil.test"));
                }),
                rs,
                "k1",
            ),
            Check::Issuer,
        ),
        (
            "another audience",
            signed(
                &k,
                &with(|c| {
                    c.insert("aud".into(), json!(["other"]));
                }),
                rs,
                "k1",
            ),
            Check::Audience,
        ),
        (
            "no event",
            signed(
                &k,
                &with(|c| {
                    c.insert("events".into(), json!({}));
                }),
                rs,
                "k1",
            ),
            Check::LogoutToken,
        ),
        (
            "a nonce",
            signed(
                &k,
                &with(|c| {
                    c.insert("nonce".into(), json!("n"));
                }),
                rs,
                "k1",
            ),
            Check::LogoutToken,
        ),
        (
            "neither sub nor sid",
            signed(
                &k,
                &with(|c| {
                    c.remove("sub");
                    c.remove("sid");
                }),
                rs,
                "k1",
            ),
            Check::LogoutToken,
        ),
        (
            "no jti",
            signed(
                &k,
                &with(|c| {
                    c.remove("jti");
                }),
                rs,
                "k1",
            ),
            Check::LogoutToken,
        ),
        (
            "no iat",
            signed(
                &k,
                &with(|c| {
                    c.remove("iat");
                }),
                rs,
                "k1",
            ),
            Check::LogoutToken,
        ),
        (
            "issued in the future",
            signed(
                &k,
                &with(|c| {
                    c.insert(
                        "iat".into(),
                        json!((now() + Duration::minutes(2)).timestamp()),
                    );
                }),
                rs,
                "k1",
            ),
            Check::LogoutToken,
        ),
        (
            "too old",
            signed(
                &k,
                &with(|c| {
                    c.insert(
                        "iat".into(),
                        json!((now() - Duration::minutes(7)).timestamp()),
                    );
                }),
                rs,
                "k1",
            ),
            Check::Expired,
        ),
        (
            "expired",
            signed(
                &k,
                &with(|c| {
                    c.insert(
                        "exp".into(),
                        json!((now() - Duration::minutes(2)).timestamp()),
                    );
                }),
                rs,
                "k1",
            ),
            Check::Expired,
        ),
        (
            "unsigned (alg none)",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none"}"#),
                b64(&claims().to_string())
            ),
            Check::Algorithm,
        ),
        ("not a JWS", "abc.def".into(), Check::LogoutToken),
    ];
    for (case, token, check) in cases {
        assert_eq!(verify(&k, &token).map(|_| ()), Err(check), "{case}");
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn the_issuer_is_read_before_verification_only_to_choose_the_keys() {
    let k = key();
    let t = signed(&k, &claims(), jsonwebtoken::Algorithm::RS256, "k1");
    assert_eq!(peek_issuer(&t).unwrap(), "https://ent.example.test");
    assert_eq!(peek_issuer("x.y.z").unwrap_err().check, Check::LogoutToken);
}
