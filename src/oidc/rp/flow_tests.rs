//! ID token checks with time as a parameter: the skew boundary on `exp` and `iat`, and the
//! login secrets kept in the pending login.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::Nonce;
use serde_json::json;

use super::flow::{verify_id_token, GarIdToken, LoginSecrets};
use super::{Check, EntOidc, IdTokenAlg};
use crate::secret::Secret;

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

pub(super) fn settings() -> EntOidc {
    EntOidc {
        issuer: "https://ent.example.test".into(),
        client_id: "passerelle".into(),
        client_secret: Secret::new("s".into()),
        scopes: vec!["openid".into()],
        id_token_signing_algs: vec![IdTokenAlg::Rs256],
        ent_claim: "idEnt".into(),
        person_claim: "GARPersonIdentifiant".into(),
        discovery_ttl: Duration::from_secs(3600),
        clock_skew: Duration::from_secs(60),
        allow_private_network: false,
    }
}

pub(super) struct Key {
    pub(super) pem: Vec<u8>,
    pub(super) jwks: CoreJsonWebKeySet,
}

pub(super) fn key() -> Key {
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = serde_json::from_value(json!({ "keys": [{
        "kty": "RSA", "use": "sig", "kid": "k1",
        "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec()),
    }]}))
    .unwrap();
    Key {
        pem: rsa.private_key_to_pem().unwrap(),
        jwks,
    }
}

fn token(k: &Key, exp: DateTime<Utc>, iat: DateTime<Utc>) -> GarIdToken {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("k1".into());
    let claims = json!({
        "iss": "https://ent.example.test", "aud": "passerelle", "sub": "s",
        "exp": exp.timestamp(), "iat": iat.timestamp(), "nonce": "n",
        "idEnt": "B0", "GARPersonIdentifiant": "p",
    });
    let jwt = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&k.pem).unwrap(),
    )
    .unwrap();
    GarIdToken::from_str(&jwt).unwrap()
}

fn check(t: &GarIdToken, k: &Key) -> Result<(), Check> {
    verify_id_token(
        t,
        &k.jwks,
        &settings(),
        &Nonce::new("n".into()),
        None,
        now(),
    )
    .map(|_| ())
    .map_err(|e| e.check)
}

#[test]
fn expiry_and_issue_time_allow_exactly_the_configured_skew() {
    let k = key();
    let s = chrono::Duration::seconds;
    assert_eq!(check(&token(&k, now() + s(300), now()), &k), Ok(()));
    assert_eq!(check(&token(&k, now() - s(59), now() - s(600)), &k), Ok(()));
    assert_eq!(
        check(&token(&k, now() - s(61), now() - s(600)), &k),
        Err(Check::Expired)
    );
    assert_eq!(check(&token(&k, now() + s(300), now() + s(59)), &k), Ok(()));
    assert_eq!(
        check(&token(&k, now() + s(300), now() + s(61)), &k),
        Err(Check::Expired)
    );
    // The same token, another `now`: the check reads no clock of its own.
    let t = token(&k, now() + s(300), now());
    let later = now() + s(400);
    let r = verify_id_token(
        &t,
        &k.jwks,
        &settings(),
        &Nonce::new("n".into()),
        None,
        later,
    );
    assert_eq!(r.map(|_| ()).map_err(|e| e.check), Err(Check::Expired));
}

#[test]
fn claims_beyond_the_standard_ones_are_kept() {
    let k = key();
    let t = token(&k, now() + chrono::Duration::seconds(300), now());
    let claims = verify_id_token(
        &t,
        &k.jwks,
        &settings(),
        &Nonce::new("n".into()),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(claims.additional_claims().other["idEnt"], json!("B0"));
    assert_eq!(
        claims.additional_claims().other["GARPersonIdentifiant"],
        json!("p")
    );
}

#[test]
fn login_secrets_round_trip_through_the_pending_login() {
    let s = LoginSecrets {
        nonce: "n".into(),
        pkce_verifier: "v".into(),
    };
    assert_eq!(LoginSecrets::from_extra(Some(&s.to_extra())), Some(s));
    assert_eq!(LoginSecrets::from_extra(None), None);
    assert_eq!(LoginSecrets::from_extra(Some(&json!({"saml": 1}))), None);
}

#[test]
fn none_and_hmac_are_not_algorithms_an_ent_can_be_pinned_to() {
    for name in ["none", "HS256", "HS384", "HS512", "rs256", ""] {
        assert_eq!(IdTokenAlg::from_name(name), None, "{name}");
    }
    assert_eq!(IdTokenAlg::from_name("PS256"), Some(IdTokenAlg::Ps256));
}

#[tokio::test]
async fn the_client_handed_to_openidconnect_refuses_plain_http_off_loopback() {
    use super::fetch::{Guarded, GuardedError};
    use openidconnect::AsyncHttpClient;
    let g = Guarded(super::fetch::client(false), false);
    let req = openidconnect::http::Request::post("http://ent.example.test/token")
        .body(Vec::new())
        .unwrap();
    assert!(matches!(g.call(req).await, Err(GuardedError::Refused(_))));
}
