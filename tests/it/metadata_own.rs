//! The gateway's own metadata, as partners fetch it: signed with its key (xmlsec1 verifies the
//! signature with the published certificate, and refuses it with another), `validUntil` and
//! `cacheDuration` set; during a key rollover, the next signing certificate published beside
//! the current one, so that partners trust it before the switch.

use crate::support::gateway::*;

fn verify(xml: &str, files: &KeyFiles) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("published.crt");
    std::fs::write(&cert, files.cert_pem()).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(&cert)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg({
            let f = dir.path().join("md.xml");
            std::fs::write(&f, xml).unwrap();
            f
        })
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn both_metadata_documents_are_signed_and_say_how_long_to_trust_them() {
    let gw = TestGateway::new().await;
    for path in ["/saml/metadata", "/idp/metadata"] {
        let resp = gw.get(path, None).await;
        assert_eq!(resp.status(), 200, "{path}");
        let xml = body_string(resp).await;
        verify(&xml, &gw.gateway).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            verify(&xml, &gw.attacker).is_err(),
            "{path}: the check can fail"
        );
        let until =
            (now() + chrono::Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert!(xml.contains(&format!("validUntil=\"{until}\"")), "{xml}");
        assert!(xml.contains("cacheDuration=\"PT1H\""), "{xml}");
        assert_eq!(xml.matches("<md:KeyDescriptor use=\"signing\">").count(), 1);
        // Tampered, it no longer verifies.
        let tampered = xml
            .replace("/saml/acs", "/saml/evil")
            .replace("/idp/profile", "/idp/evil");
        assert!(verify(&tampered, &gw.gateway).is_err(), "{path}");
    }
    // A SAML library reads the signed document as any metadata (samael, as for partners').
    let xml = body_string(gw.get("/idp/metadata", None).await).await;
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let idp = passerelle::saml::metadata::parse_idp(&xml).unwrap();
    assert_eq!(idp.signing_certs.len(), 1);
    assert!(idp
        .sso_redirect_url
        .ends_with("/idp/profile/SAML2/Redirect/SSO"));
}

#[tokio::test]
async fn during_a_rollover_the_next_key_is_published_beside_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let next = make_keys(dir.path(), "next");
    let gw = TestGateway::with(Options {
        files: vec![("next.crt".into(), next.cert_pem().into_bytes())],
        vars: vec![(
            "PASSERELLE__KEYS__NEXT_SIGNING_CERTIFICATE_FILE".into(),
            "next.crt".into(),
        )],
        ..Options::default()
    })
    .await;
    for path in ["/saml/metadata", "/idp/metadata"] {
        let xml = body_string(gw.get(path, None).await).await;
        assert_eq!(
            xml.matches("<md:KeyDescriptor use=\"signing\">").count(),
            2,
            "{xml}"
        );
        let first = xml.find(&gw.gateway.cert_b64()).unwrap();
        let second = xml.find(&next.cert_b64()).unwrap();
        assert!(first < second, "the current key first");
        verify(&xml, &gw.gateway).unwrap();
    }
}
