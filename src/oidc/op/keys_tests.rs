use hmac::{Hmac, Mac};
use openssl::ec::{EcGroup, EcKey};
use openssl::rsa::Rsa;
use serde_json::json;

use super::*;

const ISS: &str = "https://gw.test/oidc";

fn rsa(kid: &str) -> OidcKey {
    let k = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    OidcKey::from_pkey(&k, Algorithm::RS256, Some(kid)).unwrap()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "client-1", "sub": "abc", "exp": 1_900_000_000_i64})
}

fn expect<'a>(aud: &'a [&'a str]) -> Expect<'a> {
    Expect {
        typ: Some("JWT"),
        issuer: ISS,
        audience: Some(aud),
    }
}

/// A token with any header, signed with HMAC-SHA256 under `secret`, or unsigned.
fn forged(header: Value, claims: &Value, hmac_secret: Option<&[u8]>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = hmac_secret.map_or_else(String::new, |s| {
        let mut m = Hmac::<Sha256>::new_from_slice(s).unwrap();
        m.update(input.as_bytes());
        b64(&m.finalize().into_bytes())
    });
    format!("{input}.{sig}")
}

#[test]
fn a_signed_token_verifies_and_its_claims_are_read() {
    let set = KeySet::new(vec![rsa("k1")]).unwrap();
    let t = set.sign("JWT", &claims()).unwrap();
    let got: Value = set.verify(&t, &expect(&["client-1"])).unwrap();
    assert_eq!(got["sub"], "abc");
}

#[test]
fn es256_keys_sign_and_publish_p256_jwks() {
    let ec = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
    let k = OidcKey::from_pkey(&PKey::from_ec_key(ec).unwrap(), Algorithm::ES256, None).unwrap();
    assert_eq!(
        k.kid.len(),
        43,
        "the default kid is the RFC 7638 thumbprint"
    );
    let set = KeySet::new(vec![k]).unwrap();
    let jwk = &set.jwks()["keys"][0];
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    let t = set.sign("JWT", &claims()).unwrap();
    assert!(set.verify::<Value>(&t, &expect(&["client-1"])).is_ok());
}

#[test]
fn a_key_of_the_wrong_type_for_its_algorithm_is_refused() {
    let k = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    assert!(OidcKey::from_pkey(&k, Algorithm::ES256, None).is_err());
    assert!(OidcKey::from_pkey(&k, Algorithm::HS256, None).is_err());
    let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    assert!(OidcKey::from_pkey(&small, Algorithm::RS256, None).is_err());
}

#[test]
fn alg_none_is_refused() {
    let set = KeySet::new(vec![rsa("k1")]).unwrap();
    let t = forged(
        json!({"alg": "none", "kid": "k1", "typ": "JWT"}),
        &claims(),
        None,
    );
    let e = set.verify::<Value>(&t, &expect(&["client-1"])).unwrap_err();
    assert_eq!(e.error, "invalid_token");
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let key = rsa("k1");
    let set = KeySet::new(vec![key]).unwrap();
    // The classic key-confusion attack: the public key (as published) used as an HMAC secret.
    let public = set.jwks()["keys"][0].to_string();
    let t = forged(
        json!({"alg": "HS256", "kid": "k1", "typ": "JWT"}),
        &claims(),
        Some(public.as_bytes()),
    );
    assert!(set.verify::<Value>(&t, &expect(&["client-1"])).is_err());
}

#[test]
fn wrong_issuer_audience_typ_kid_or_signature_are_refused() {
    let set = KeySet::new(vec![rsa("k1")]).unwrap();
    let mut c = claims();
    c["iss"] = json!("https://evil.test/oidc");
    let t = set.sign("JWT", &c).unwrap();
    assert!(
        set.verify::<Value>(&t, &expect(&["client-1"])).is_err(),
        "issuer"
    );

    let t = set.sign("JWT", &claims()).unwrap();
    assert!(
        set.verify::<Value>(&t, &expect(&["client-2"])).is_err(),
        "audience"
    );
    let at = Expect {
        typ: Some("at+jwt"),
        issuer: ISS,
        audience: None,
    };
    assert!(set.verify::<Value>(&t, &at).is_err(), "typ");

    let other = KeySet::new(vec![rsa("k1")]).unwrap();
    assert!(
        other.verify::<Value>(&t, &expect(&["client-1"])).is_err(),
        "another key with the same kid"
    );
    let unknown = KeySet::new(vec![rsa("k2")]).unwrap();
    assert!(
        unknown.verify::<Value>(&t, &expect(&["client-1"])).is_err(),
        "unknown kid"
    );

    let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
    parts[1] = b64(
        json!({"iss": ISS, "aud": "client-1", "sub": "someone-else", "exp": 1_900_000_000_i64})
            .to_string()
            .as_bytes(),
    );
    assert!(
        set.verify::<Value>(&parts.join("."), &expect(&["client-1"]))
            .is_err(),
        "tampered payload"
    );
}

#[test]
fn a_token_signed_with_the_previous_key_verifies_while_that_key_is_published() {
    let (old, new) = (rsa("2026-10"), rsa("2026-11"));
    let before = KeySet::new(vec![old.clone()]).unwrap();
    let t = before.sign("JWT", &claims()).unwrap();
    let rolled = KeySet::new(vec![new.clone(), old]).unwrap();
    assert!(rolled.verify::<Value>(&t, &expect(&["client-1"])).is_ok());
    assert_eq!(rolled.jwks()["keys"].as_array().unwrap().len(), 2);
    let t2 = rolled.sign("JWT", &claims()).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&t2).unwrap().kid.as_deref(),
        Some("2026-11")
    );
    let dropped = KeySet::new(vec![new]).unwrap();
    assert!(dropped.verify::<Value>(&t, &expect(&["client-1"])).is_err());
}

#[test]
fn at_hash_is_the_left_half_of_sha256() {
    // Vector computed independently with Python's hashlib and base64 (OIDC Core 3.1.3.6).
    assert_eq!(
        at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNTeX6VBsDDRsgbXbHmM"),
        "pivyOR1YguivN8k4qBW0pQ"
    );
}
