//! The gateway's IdP output verified by its own SP code: a quick self-consistency check of
//! signing and verification (interoperability with foreign code is in `tests/`).

use chrono::{Duration, TimeZone, Utc};

use super::algorithms::AlgorithmPolicy;
use super::idp::{self, IdpSettings, Issue, VerifiedAuthnRequest};
use super::keys::SigningKey;
use super::metadata::IdpPeer;
use super::sp::{self, EntIdp, SpSettings};
use super::Check;

pub(crate) fn test_key() -> SigningKey {
    SigningKey::generate_self_signed("test", 30).unwrap()
}

/// A response of the gateway's IdP to `_req1` (its assertion signed by `key`, the response
/// not), issued at `now`, with the request it answers.
pub(crate) fn issued(
    key: &SigningKey,
    now: chrono::DateTime<Utc>,
) -> (IdpSettings, VerifiedAuthnRequest, String) {
    let settings = IdpSettings {
        entity_id: "https://ent.test/idp".into(),
        sso_redirect_url: "https://ent.test/sso".into(),
        sso_post_url: "https://ent.test/sso-post".into(),
        clock_skew: Duration::seconds(60),
        max_message_bytes: 200_000,
        assertion_lifetime: Duration::seconds(300),
    };
    let request = VerifiedAuthnRequest {
        id: "_req1".into(),
        issuer: "https://gw.test/saml/metadata".into(),
        acs_url: "https://gw.test/saml/acs".into(),
        relay_state: None,
        force_authn: false,
        is_passive: false,
        issue_instant: now,
    };
    let ident = vec!["B0".to_string()];
    let person = vec!["eleve-1".to_string()];
    let attrs: Vec<(&str, &[String])> = vec![("idEnt", &ident), ("GARPersonIdentifiant", &person)];
    let xml = idp::signed_response(
        &settings,
        key,
        &Issue {
            request: &request,
            subject: "x",
            attributes: &attrs,
            authn_instant: now,
            session_index: "s1",
        },
        now,
    )
    .unwrap();
    (settings, request, xml)
}

#[test]
fn issued_response_verifies_and_every_check_bites() {
    let key = test_key();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    let (settings, request, xml) = issued(&key, now);

    let sp_settings = SpSettings {
        entity_id: request.issuer.clone(),
        acs_url: request.acs_url.clone(),
        clock_skew: Duration::seconds(60),
        max_message_bytes: 200_000,
    };
    let ent = EntIdp {
        peer: IdpPeer {
            entity_id: settings.entity_id.clone(),
            sso_redirect_url: settings.sso_redirect_url.clone(),
            signing_certs: vec![key.certificate.clone()],
            slo: Default::default(),
        },
        algorithms: AlgorithmPolicy::default(),
    };
    let ok = sp::verify_response(&xml, "_req1", &sp_settings, &ent, now).unwrap();
    assert_eq!(ok.id_ent, "B0");
    assert_eq!(ok.person_id, "eleve-1");

    assert_eq!(
        sp::verify_response(&xml, "_other", &sp_settings, &ent, now)
            .unwrap_err()
            .check,
        Check::InResponseTo
    );
    assert_eq!(
        sp::verify_response(
            &xml,
            "_req1",
            &sp_settings,
            &ent,
            now + Duration::seconds(400)
        )
        .unwrap_err()
        .check,
        Check::Expired
    );
    assert_eq!(
        sp::verify_response(
            &xml,
            "_req1",
            &sp_settings,
            &ent,
            now - Duration::seconds(120)
        )
        .unwrap_err()
        .check,
        Check::NotYetValid
    );
    let mut wrong_aud = sp_settings.clone();
    wrong_aud.entity_id = "https://other/".into();
    assert_eq!(
        sp::verify_response(&xml, "_req1", &wrong_aud, &ent, now)
            .unwrap_err()
            .check,
        Check::Audience
    );
    let mut wrong_acs = sp_settings.clone();
    wrong_acs.acs_url = "https://other/acs".into();
    assert_eq!(
        sp::verify_response(&xml, "_req1", &wrong_acs, &ent, now)
            .unwrap_err()
            .check,
        Check::Destination
    );
    let mut other_key = ent.clone();
    other_key.peer.signing_certs = vec![test_key().certificate];
    assert_eq!(
        sp::verify_response(&xml, "_req1", &sp_settings, &other_key, now)
            .unwrap_err()
            .check,
        Check::Signature
    );
    let tampered = xml.replace("eleve-1", "eleve-2");
    assert_eq!(
        sp::verify_response(&tampered, "_req1", &sp_settings, &ent, now)
            .unwrap_err()
            .check,
        Check::Signature
    );
}
