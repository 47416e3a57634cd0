//! The patched samael (`vendor/samael/PATCHES.md`) called directly, without `saml::guard` in
//! front: xmlsec does not dereference a Reference that leaves the document, and libxml2 does
//! not repair a malformed document into one it can verify.

use std::net::TcpListener;
use std::time::Duration;

use super::algorithms::AlgorithmPolicy;
use super::roundtrip_tests::test_key;

fn signed_with_reference(uri: &str) -> String {
    format!(
        r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="{uri}"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature></samlp:Response>"##
    )
}

/// Verifies `xml` on another thread; `None` if it did not finish within ten seconds.
fn verify_bounded(xml: String) -> Option<Result<String, super::SamlError>> {
    let cert = test_key().certificate;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let policy = AlgorithmPolicy::default();
        let _ = tx.send(super::verified_part(&xml, &[cert], &policy));
    });
    rx.recv_timeout(Duration::from_secs(10)).ok()
}

#[test]
fn a_reference_out_of_the_document_is_neither_fetched_nor_opened() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map_or(0, |a| a.port());
    let outcome = verify_bounded(signed_with_reference(&format!("http://127.0.0.1:{port}/x")));
    assert!(
        matches!(outcome, Some(Err(_))),
        "refused, promptly: {outcome:?}"
    );
    assert!(listener.accept().is_err(), "xmlsec connected to the URI");

    // A FIFO: opening it for reading blocks until a writer comes, so a verifier that opens
    // it never returns.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fifo = dir.path().join("bait");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "mkfifo");
    for uri in [
        fifo.display().to_string(),
        format!("file://{}", fifo.display()),
    ] {
        let outcome = verify_bounded(signed_with_reference(&uri));
        assert!(matches!(outcome, Some(Err(_))), "{uri}: {outcome:?}");
    }
    // Nobody holds the FIFO open for reading: opening it to write without blocking fails
    // (ENXIO) unless a reader is there.
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000;
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo);
    assert!(opened.is_err(), "a reader holds the FIFO open");
}

/// A response of the gateway's own IdP (its assertion signed, the response not) and the
/// certificate that verifies it.
fn signed_assertion() -> (String, samael::crypto::CertificateDer) {
    use chrono::TimeZone;
    let key = test_key();
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 8, 0, 0)
        .single()
        .unwrap_or_default();
    let (_, _, xml) = super::roundtrip_tests::issued(&key, now);
    (xml, key.certificate)
}

fn verify(xml: &str, cert: &samael::crypto::CertificateDer) -> Result<String, super::SamlError> {
    super::verified_part(xml, std::slice::from_ref(cert), &AlgorithmPolicy::default())
}

#[test]
fn libxml2_reads_utf8_whatever_the_declaration_says() {
    let (xml, cert) = signed_assertion();
    assert!(verify(&xml, &cert).is_ok());
    let body = xml.split_once("?>").map_or(xml.as_str(), |(_, rest)| rest);
    // Decoded as UTF-7, the base64 of the signature (its `+`) would read differently.
    let declared = format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>{body}");
    assert!(
        verify(&declared, &cert).is_ok(),
        "the same bytes, the same document"
    );
}

#[test]
fn a_malformed_document_is_not_repaired_into_a_verifiable_one() {
    let (xml, cert) = signed_assertion();
    // An undefined entity outside the signed assertion: libxml2's recovery mode would drop
    // it and verify the rest.
    let issuer_end = xml
        .find("</saml:Issuer>")
        .unwrap_or_else(|| panic!("{xml}"));
    let broken = format!("{}&undefined;{}", &xml[..issuer_end], &xml[issuer_end..]);
    let refused = verify(&broken, &cert);
    assert!(refused.is_err(), "{refused:?}");
}

/// Signing and verifying on several threads at once, as the blocking pool does: every
/// signature is made and every valid one verifies. libxml 0.3.3 freed the encoding string it
/// passed to libxml2 (see `strict_parse`), and under concurrent parses valid signatures were
/// refused and signings failed (`NodeNotFound`) now and then; the SSO benchmark at four
/// transactions in flight found it within seconds.
#[test]
fn concurrent_signing_and_verification_never_fail() {
    let (xml, cert) = signed_assertion();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (xml, cert) = (xml.clone(), cert.clone());
            std::thread::spawn(move || {
                let key = test_key();
                let now = chrono::DateTime::<chrono::Utc>::from_timestamp(1_795_000_000, 0)
                    .unwrap_or_default();
                let mut failures = Vec::new();
                for i in 0..300 {
                    if let Err(e) = verify(&xml, &cert) {
                        failures.push(format!("verify {i}: {e}"));
                    }
                    let (_, _, issued) = super::roundtrip_tests::issued(&key, now);
                    if !issued.contains("SignatureValue") {
                        failures.push(format!("sign {i}"));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = threads
        .into_iter()
        .flat_map(|t| {
            t.join()
                .unwrap_or_else(|_| vec!["a thread panicked".into()])
        })
        .collect();
    assert_eq!(failures, Vec::<String>::new());
}

/// Keys loaded once per thread (samael patch 3, `key_cache`) never stand in for one another:
/// on one thread, documents signed in turn with more keys than the cache keeps, and again,
/// each verify with their own certificate only; a signature by a key the cache holds does not
/// verify with another cached certificate.
#[test]
fn keys_loaded_once_per_thread_are_never_mixed_up() {
    use chrono::TimeZone;
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 8, 0, 0)
        .single()
        .unwrap_or_default();
    let keys: Vec<_> = (0..40)
        .map(|i| {
            super::keys::SigningKey::generate_self_signed(&format!("key {i}"), 30)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    for round in 0..2 {
        for (i, key) in keys.iter().enumerate() {
            let (_, _, xml) = super::roundtrip_tests::issued(key, now);
            assert!(
                verify(&xml, &key.certificate).is_ok(),
                "round {round}, key {i}"
            );
            let other = &keys[(i + 1) % keys.len()];
            assert!(
                verify(&xml, &other.certificate).is_err(),
                "round {round}, key {i} verified with key {}",
                (i + 1) % keys.len()
            );
        }
    }
}
