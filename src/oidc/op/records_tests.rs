use chrono::TimeZone;

use super::*;

// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

fn record(challenge: Option<&str>) -> CodeRecord {
    CodeRecord {
        facts: GrantFacts {
            grant_id: "g1".into(),
            client_id: "client-1".into(),
            provider: "p".into(),
            ent: "B0".parse().unwrap(),
            person_id: "eleve-1".into(),
            uai: "0561641E".parse().unwrap(),
            profile: "National_elv".parse().unwrap(),
            resource: "ark:/99999/x".parse().unwrap(),
            device: crate::audience::DeviceClass::Computer,
            channel: Channel::App,
            scope: "openid scope.gar".into(),
            auth_time: t0(),
            sid: None,
        },
        redirect_uri: "fr.editeur.app:/cb".into(),
        code_challenge: challenge.map(str::to_string),
        nonce: None,
        issued_at: t0(),
    }
}

fn redeem<'a>(verifier: Option<&'a str>, public_client: bool) -> Redemption<'a> {
    Redemption {
        client_id: "client-1",
        redirect_uri: Some("fr.editeur.app:/cb"),
        code_verifier: verifier,
        public_client,
    }
}

const LIFE: Duration = Duration::seconds(60);

#[test]
fn the_rfc_7636_vector_redeems() {
    assert!(check_challenge(CHALLENGE, Some("S256")).is_ok());
    assert!(check_redemption(
        &record(Some(CHALLENGE)),
        &redeem(Some(VERIFIER), true),
        t0(),
        LIFE
    )
    .is_ok());
}

#[test]
fn plain_missing_or_malformed_challenges_are_refused() {
    assert_eq!(
        check_challenge(CHALLENGE, Some("plain")).unwrap_err().check,
        "oidc.pkce"
    );
    assert!(check_challenge(CHALLENGE, None).is_err());
    assert!(check_challenge("short", Some("S256")).is_err());
    assert!(check_challenge(&format!("{}!", &CHALLENGE[..42]), Some("S256")).is_err());
}

#[test]
fn a_wrong_or_missing_verifier_is_refused() {
    let r = record(Some(CHALLENGE));
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
    assert_eq!(
        check_redemption(&r, &redeem(Some(wrong), true), t0(), LIFE)
            .unwrap_err()
            .check,
        "oidc.pkce"
    );
    assert!(check_redemption(&r, &redeem(None, true), t0(), LIFE).is_err());
    assert!(check_redemption(&r, &redeem(Some("too-short"), true), t0(), LIFE).is_err());
    assert!(
        check_redemption(&r, &redeem(None, false), t0(), LIFE).is_err(),
        "a confidential client that sent a challenge must verify it"
    );
}

#[test]
fn a_public_client_without_pkce_gets_nothing() {
    assert!(check_redemption(&record(None), &redeem(None, true), t0(), LIFE).is_err());
    assert!(check_redemption(&record(None), &redeem(None, false), t0(), LIFE).is_ok());
    assert!(check_redemption(&record(None), &redeem(Some(VERIFIER), false), t0(), LIFE).is_err());
}

#[test]
fn codes_expire_and_stay_with_their_client_and_redirect_uri() {
    let r = record(Some(CHALLENGE));
    let ok = redeem(Some(VERIFIER), true);
    assert!(check_redemption(&r, &ok, t0() + Duration::seconds(59), LIFE).is_ok());
    assert_eq!(
        check_redemption(&r, &ok, t0() + Duration::seconds(60), LIFE)
            .unwrap_err()
            .check,
        "oidc.code_expired"
    );
    let other = Redemption {
        client_id: "client-2",
        ..redeem(Some(VERIFIER), true)
    };
    assert_eq!(
        check_redemption(&r, &other, t0(), LIFE).unwrap_err().check,
        "oidc.code_client"
    );
    let uri = Redemption {
        redirect_uri: Some("fr.editeur.app:/cb2"),
        ..redeem(Some(VERIFIER), true)
    };
    assert_eq!(
        check_redemption(&r, &uri, t0(), LIFE).unwrap_err().check,
        "oidc.redirect_uri"
    );
    let none = Redemption {
        redirect_uri: None,
        ..redeem(Some(VERIFIER), true)
    };
    assert!(check_redemption(&r, &none, t0(), LIFE).is_err());
}

#[test]
fn refresh_tokens_expire_and_stay_with_their_client() {
    let r = RefreshRecord {
        facts: record(None).facts,
        issued_at: t0(),
        expires_at: t0() + Duration::days(30),
    };
    assert!(check_refresh(&r, "client-1", t0() + Duration::days(29)).is_ok());
    assert_eq!(
        check_refresh(&r, "client-1", t0() + Duration::days(30))
            .unwrap_err()
            .check,
        "oidc.refresh_expired"
    );
    assert_eq!(
        check_refresh(&r, "client-2", t0()).unwrap_err().check,
        "oidc.refresh_client"
    );
}

#[test]
fn secrets_are_random_and_stored_by_hash() {
    let (a, b) = (new_secret(), new_secret());
    assert_ne!(a, b);
    assert_eq!(a.len(), 43);
    assert_eq!(key_of(&a).len(), 64);
    assert!(!key_of(&a).contains(&a));
}
