//! `saml::slo` against LogoutRequests signed here (the interoperability with xmlsec1-signed
//! messages and real sockets is in `tests/it/ent_slo.rs`): each check refuses its case.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::saml::algorithms::AlgorithmPolicy;
use crate::saml::metadata::IdpPeer;
use crate::saml::roundtrip_tests::test_key;

const ENT: &str = "https://ent.test/idp";
const FRONT: &str = "https://gw.test/saml/slo";
const SOAP: &str = "https://gw.test/saml/slo/soap";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

fn urls() -> SloUrls {
    SloUrls {
        redirect: FRONT.into(),
        post: FRONT.into(),
        soap: SOAP.into(),
    }
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

/// A LogoutRequest with `extra` root attributes and `body` after the Issuer (NameID and
/// SessionIndex by default), signed enveloped by `key` when given.
fn request(attrs: &str, body: Option<&str>, key: Option<&SigningKey>) -> String {
    let body = body.unwrap_or(
        r#"<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_n1</saml:NameID><samlp:SessionIndex>s-1</samlp:SessionIndex><samlp:SessionIndex>s-2</samlp:SessionIndex>"#,
    );
    let sig = key
        .map(|k| crate::saml::signing::signature_template("_lr1", k))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr1" Version="2.0" IssueInstant="2026-11-24T07:59:50Z"{attrs}><saml:Issuer>{ENT}</saml:Issuer>{sig}{body}</samlp:LogoutRequest>"#
    );
    match key {
        Some(k) => crate::saml::signing::sign(&xml, k).unwrap(),
        None => xml,
    }
}

fn verify(carried: &Carried, key: &SigningKey, at: DateTime<Utc>) -> Result<VerifiedLogout, Check> {
    let ent = ent(key);
    verify_logout_request(
        carried,
        &urls(),
        &Peer::ent(&ent),
        Duration::seconds(60),
        200_000,
        at,
    )
    .map_err(|e| e.check)
}

fn post(attrs: &str, key: &SigningKey) -> Carried {
    Carried::Post(request(attrs, None, Some(key)))
}

const TO_FRONT: &str = r#" Destination="https://gw.test/saml/slo""#;

#[test]
fn a_signed_post_request_is_read_from_what_was_signed() {
    let key = test_key();
    let ok = verify(&post(TO_FRONT, &key), &key, now()).unwrap();
    assert_eq!(ok.id, "_lr1");
    assert_eq!(ok.name_id, "_n1");
    assert_eq!(ok.session_indexes, vec!["s-1", "s-2"]);
    assert_eq!(
        ok.remember_until,
        now() - Duration::seconds(10) + MAX_AGE + Duration::seconds(60)
    );
}

#[test]
fn every_check_of_a_post_request_refuses() {
    let key = test_key();
    let other = test_key();
    let cases: Vec<(&str, Carried, DateTime<Utc>, Check)> = vec![
        (
            "unsigned",
            Carried::Post(request(TO_FRONT, None, None)),
            now(),
            Check::Unsigned,
        ),
        (
            "another key",
            post(TO_FRONT, &other),
            now(),
            Check::Signature,
        ),
        ("no Destination", post("", &key), now(), Check::Destination),
        (
            "another Destination",
            post(r#" Destination="https://evil.test/slo""#, &key),
            now(),
            Check::Destination,
        ),
        (
            "too old",
            post(TO_FRONT, &key),
            now() + Duration::minutes(7),
            Check::Expired,
        ),
        (
            "issued in the future",
            post(TO_FRONT, &key),
            now() - Duration::minutes(5),
            Check::NotYetValid,
        ),
        (
            "NotOnOrAfter passed",
            post(
                r#" Destination="https://gw.test/saml/slo" NotOnOrAfter="2026-11-24T07:58:00Z""#,
                &key,
            ),
            now(),
            Check::Expired,
        ),
        (
            "no NameID",
            Carried::Post(request(
                TO_FRONT,
                Some("<samlp:SessionIndex>s</samlp:SessionIndex>"),
                Some(&key),
            )),
            now(),
            Check::Subject,
        ),
        (
            "an encrypted NameID",
            Carried::Post(request(
                TO_FRONT,
                Some("<saml:EncryptedID><x/></saml:EncryptedID>"),
                Some(&key),
            )),
            now(),
            Check::Encrypted,
        ),
        (
            "not a LogoutRequest",
            Carried::Post(
                request(TO_FRONT, None, Some(&key)).replace("LogoutRequest", "LogoutResponse"),
            ),
            now(),
            Check::Signature,
        ),
    ];
    for (case, carried, at, check) in cases {
        assert_eq!(verify(&carried, &key, at).map(|_| ()), Err(check), "{case}");
    }
}

#[test]
fn another_issuer_is_refused_even_signed_with_the_ents_key() {
    let key = test_key();
    let xml = request(TO_FRONT, None, None).replace(ENT, "https://other.test/idp");
    let xml = crate::saml::signing::sign(
        &xml.replacen(
            "</saml:Issuer>",
            &format!(
                "</saml:Issuer>{}",
                crate::saml::signing::signature_template("_lr1", &key)
            ),
            1,
        ),
        &key,
    )
    .unwrap();
    assert_eq!(
        verify(&Carried::Post(xml), &key, now()).map(|_| ()),
        Err(Check::Issuer)
    );
}

#[test]
fn a_tampered_post_request_is_refused() {
    let key = test_key();
    let xml = request(TO_FRONT, None, Some(&key)).replace(">_n1<", ">_someone-else<");
    assert_eq!(
        verify(&Carried::Post(xml), &key, now()).map(|_| ()),
        Err(Check::Signature)
    );
}

#[test]
fn a_soap_request_may_omit_its_destination_but_not_name_another() {
    let key = test_key();
    let soap = |attrs: &str| Carried::Soap(soap_envelope(&request(attrs, None, Some(&key))));
    assert_eq!(verify(&soap(""), &key, now()).unwrap().name_id, "_n1");
    assert!(verify(
        &soap(r#" Destination="https://gw.test/saml/slo/soap""#),
        &key,
        now()
    )
    .is_ok());
    assert_eq!(
        verify(&soap(TO_FRONT), &key, now()).map(|_| ()),
        Err(Check::Destination)
    );
}

fn redirect(xml: &str, key: &SigningKey) -> Carried {
    let url =
        binding::signed_redirect_url(FRONT, "SAMLRequest", xml, Some("rs"), &key.key).unwrap();
    let query = url.split_once('?').unwrap().1;
    Carried::Redirect(RedirectQuery::parse(query, "SAMLRequest").unwrap())
}

#[test]
fn a_redirect_request_is_verified_by_its_query_signature() {
    let key = test_key();
    let other = test_key();
    let xml = request(TO_FRONT, None, None);
    assert_eq!(
        verify(&redirect(&xml, &key), &key, now()).unwrap().name_id,
        "_n1"
    );
    assert_eq!(
        verify(&redirect(&xml, &other), &key, now()).map(|_| ()),
        Err(Check::Signature)
    );
    let Carried::Redirect(q) = redirect(&xml, &key) else {
        unreachable!()
    };
    let unsigned = format!("SAMLRequest={}", urlencoding::encode(&q.message));
    let unsigned = Carried::Redirect(RedirectQuery::parse(&unsigned, "SAMLRequest").unwrap());
    assert_eq!(
        verify(&unsigned, &key, now()).map(|_| ()),
        Err(Check::Unsigned)
    );
    let elsewhere = request(r#" Destination="https://evil.test/slo""#, None, None);
    assert_eq!(
        verify(&redirect(&elsewhere, &key), &key, now()).map(|_| ()),
        Err(Check::Destination)
    );
}

#[test]
fn the_logout_response_is_signed_and_names_the_request() {
    let key = test_key();
    let answer = LogoutAnswer {
        issuer: "https://gw.test/saml/metadata".into(),
        destination: Some("https://ent.test/slo".into()),
        in_response_to: "_lr1".into(),
        status: STATUS_SUCCESS,
        detail: None,
    };
    let xml = logout_response(&answer, &key, true, now()).unwrap();
    assert!(xml.contains(r#"InResponseTo="_lr1""#) && xml.contains(STATUS_SUCCESS));
    let verified = crate::saml::verified_part(
        &xml,
        std::slice::from_ref(&key.certificate),
        &AlgorithmPolicy::default(),
    )
    .unwrap();
    assert!(verified.contains("LogoutResponse"));
    let unknown = LogoutAnswer {
        destination: None,
        status: STATUS_REQUESTER,
        detail: Some(STATUS_UNKNOWN_PRINCIPAL),
        ..answer
    };
    let unknown = logout_response(&unknown, &key, false, now()).unwrap();
    assert!(unknown.contains(STATUS_UNKNOWN_PRINCIPAL) && !unknown.contains("Signature"));
}
