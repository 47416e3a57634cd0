//! The web services over the gateway's own mutual-TLS listener, driven by an HTTP client that
//! is not ours (reqwest with rustls): a provider's registered client certificate authenticates
//! it; a certificate of the right CA but not registered is refused; one from another CA fails
//! the handshake; without a certificate, the bearer token still works.

use pki::issue;

use crate::support::gateway::*;
use crate::support::pki;
use crate::support::tls_gateway::TlsGateway;

fn abonnement(id: &str) -> String {
    format!(
        r#"<abonnement xmlns="http://www.atosworldline.com/wsabonnement/v1.0/"><idAbonnement>{id}</idAbonnement><idDistributeurCom>123456789_0000000000000000</idDistributeurCom><idRessource>{RES_INDIV}</idRessource><typeIdRessource>ark</typeIdRessource><libelleRessource>R</libelleRessource><debutValidite>2026-08-15T00:00:00</debutValidite><anneeFinValidite>2026-2027</anneeFinValidite><uaiEtab>{UAI}</uaiEtab><categorieAffectation>transferable</categorieAffectation><typeAffectation>ETABL</typeAffectation><nbLicenceGlobale>10</nbLicenceGlobale><publicCible>ELEVE</publicCible></abonnement>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_services_over_mutual_tls() {
    let tls = TlsGateway::start(&[]).await;
    let addr = tls.addr;
    let ca = &tls.ca;
    let provider = &tls.provider;
    let stranger = issue("unregistered servers", Some(ca), "client", 4);
    let other_ca = issue("another CA", None, "ca", 5);
    let forged = issue("provider servers", Some(&other_ca), "client", 6);

    let client = |identity: Option<reqwest::Identity>| {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca.cert_pem()).unwrap());
        if let Some(i) = identity {
            b = b.identity(i);
        }
        b.build().unwrap()
    };
    let put = |c: reqwest::Client, id: &'static str, token: Option<&'static str>| async move {
        let mut r = c
            .put(format!("https://127.0.0.1:{}/abonnement/{id}", addr.port()))
            .header("content-type", "application/xml")
            .body(abonnement(id));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await
    };

    // The registered certificate alone authenticates the provider.
    let resp = put(client(Some(provider.identity())), "abo-mtls-1", None)
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    // Same CA, not registered: the handshake succeeds but the service refuses.
    assert_eq!(
        put(client(Some(stranger.identity())), "abo-mtls-2", None)
            .await
            .unwrap()
            .status(),
        401
    );
    // Another CA: the handshake fails.
    assert!(put(client(Some(forged.identity())), "abo-mtls-3", None)
        .await
        .is_err());
    // No certificate: the bearer token still works; nothing at all is refused.
    assert_eq!(
        put(client(None), "abo-mtls-4", Some(PROVIDER_TOKEN))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        put(client(None), "abo-mtls-5", None)
            .await
            .unwrap()
            .status(),
        401
    );

    tls.stop().await;
}
