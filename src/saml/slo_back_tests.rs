//! `saml::slo_back`: the gateway's LogoutRequest to an ENT reads back as sent, and every check
//! of the ENT's LogoutResponse refuses its case (over real sockets: `tests/it/saml_provider_slo.rs`).

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::saml::algorithms::AlgorithmPolicy;
use crate::saml::binding::RedirectQuery;
use crate::saml::keys::SigningKey;
use crate::saml::metadata::IdpPeer;
use crate::saml::roundtrip_tests::test_key;
use crate::saml::sp::EntIdp;

const ENT: &str = "https://ent.test/idp";
const FRONT: &str = "https://gw.test/saml/slo";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

fn ent(key: &SigningKey) -> EntIdp {
    EntIdp {
        peer: IdpPeer {
            entity_id: ENT.into(),
            sso_redirect_url: "https://ent.test/sso".into(),
            signing_certs: vec![key.certificate.clone()],
            slo: Default::default(),
        },
        algorithms: AlgorithmPolicy::default(),
    }
}

/// A LogoutResponse from the ENT with `attrs` on its root and `status`, signed enveloped by
/// `key` when given.
fn response(attrs: &str, status: &str, key: Option<&SigningKey>) -> String {
    let sig = key
        .map(|k| crate::saml::signing::signature_template("_lresp", k))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lresp" Version="2.0" IssueInstant="2026-11-24T07:59:50Z"{attrs}><saml:Issuer>{ENT}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#
    );
    match key {
        Some(k) => crate::saml::signing::sign(&xml, k).unwrap(),
        None => xml,
    }
}

const GOOD: &str = r#" Destination="https://gw.test/saml/slo" InResponseTo="_gw1""#;

fn verify(carried: &Carried, key: &SigningKey, at: DateTime<Utc>) -> Result<Answered, Check> {
    let ent = ent(key);
    verify_response(
        carried,
        FRONT,
        &Peer::ent(&ent),
        Duration::seconds(60),
        200_000,
        at,
    )
    .map_err(|e| e.check)
}

fn redirect(xml: &str, key: &SigningKey) -> Carried {
    let url = crate::saml::binding::signed_redirect_url(FRONT, "SAMLResponse", xml, None, &key.key)
        .unwrap();
    let query = url.split_once('?').unwrap().1;
    Carried::Redirect(RedirectQuery::parse(query, "SAMLResponse").unwrap())
}

#[test]
fn the_request_names_the_ents_login_as_its_assertion_did() {
    let login = EntLogin {
        sp: "https://gw.test/sp",
        name_id: "_n<1>",
        format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient"),
        session_index: Some("s-1"),
    };
    let (id, xml) = request(login, "https://ent.test/slo", None, now()).unwrap();
    assert!(xml.contains(&format!(r#"ID="{id}""#)));
    assert!(xml.contains(r#"Destination="https://ent.test/slo""#));
    assert!(xml.contains(r#"<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" SPNameQualifier="https://gw.test/sp">_n&lt;1&gt;</saml:NameID>"#), "{xml}");
    assert!(xml.contains("<samlp:SessionIndex>s-1</samlp:SessionIndex>"));
    crate::saml::guard::check_xml(xml.as_bytes(), 65536).unwrap();
    // Signed enveloped for the POST binding: the ENT verifies it with the gateway's key.
    let key = test_key();
    let (id, signed) = request(login, "https://ent.test/slo", Some(&key), now()).unwrap();
    let verified = crate::saml::verified_part(
        &signed,
        std::slice::from_ref(&key.certificate),
        &AlgorithmPolicy::default(),
    )
    .unwrap();
    assert!(verified.contains(&format!(r#"ID="{id}""#)) && verified.contains("s-1"));
}

#[test]
fn a_signed_answer_is_read_over_both_bindings() {
    let key = test_key();
    let ok = verify(
        &Carried::Post(response(GOOD, STATUS_SUCCESS, Some(&key))),
        &key,
        now(),
    );
    assert_eq!(
        ok,
        Ok(Answered {
            in_response_to: "_gw1".into(),
            success: true
        })
    );
    let partial = response(GOOD, "urn:oasis:names:tc:SAML:2.0:status:Responder", None);
    let ok = verify(&redirect(&partial, &key), &key, now()).unwrap();
    assert!(!ok.success, "a failed logout at the ENT is read as such");
}

#[test]
fn every_check_of_an_answer_refuses() {
    let key = test_key();
    let other = test_key();
    let signed = |attrs: &str| Carried::Post(response(attrs, STATUS_SUCCESS, Some(&key)));
    let cases: Vec<(&str, Carried, DateTime<Utc>, Check)> = vec![
        (
            "unsigned",
            Carried::Post(response(GOOD, STATUS_SUCCESS, None)),
            now(),
            Check::Unsigned,
        ),
        (
            "another key",
            Carried::Post(response(GOOD, STATUS_SUCCESS, Some(&other))),
            now(),
            Check::Signature,
        ),
        (
            "a Redirect query signed by another key",
            redirect(&response(GOOD, STATUS_SUCCESS, None), &other),
            now(),
            Check::Signature,
        ),
        (
            "no Destination",
            signed(r#" InResponseTo="_gw1""#),
            now(),
            Check::Destination,
        ),
        (
            "another Destination",
            signed(r#" Destination="https://evil.test/slo" InResponseTo="_gw1""#),
            now(),
            Check::Destination,
        ),
        (
            "no InResponseTo",
            signed(r#" Destination="https://gw.test/saml/slo""#),
            now(),
            Check::InResponseTo,
        ),
        (
            "too old",
            signed(GOOD),
            now() + Duration::minutes(7),
            Check::Expired,
        ),
        (
            "issued in the future",
            signed(GOOD),
            now() - Duration::minutes(5),
            Check::NotYetValid,
        ),
        (
            "a LogoutRequest",
            redirect(
                &response(GOOD, STATUS_SUCCESS, None).replace("LogoutResponse", "LogoutRequest"),
                &key,
            ),
            now(),
            Check::Malformed,
        ),
        (
            "over SOAP",
            Carried::Soap(response(GOOD, STATUS_SUCCESS, Some(&key))),
            now(),
            Check::Malformed,
        ),
    ];
    for (what, carried, at, check) in cases {
        assert_eq!(verify(&carried, &key, at).err(), Some(check), "{what}");
    }
    // Another ENT's answer: the Issuer is checked against the ENT the request went to.
    let ent = ent(&key);
    let mut peer = Peer::ent(&ent);
    peer.entity_id = "https://other-ent.test/idp";
    let refused = verify_response(
        &signed(GOOD),
        FRONT,
        &peer,
        Duration::seconds(60),
        200_000,
        now(),
    );
    assert_eq!(refused.unwrap_err().check, Check::Issuer);
}
