//! Client certificates forwarded by a trusted TLS-terminating proxy (`[server.trusted_proxy]`),
//! over the real plain listener with a real HTTP client: a registered certificate authenticates
//! the provider in both header formats (RFC 9440 and nginx's URL-escaped PEM); an unregistered
//! certificate, one from another CA, an expired one (fixed clock after notAfter), a malformed or
//! doubled header are refused; the header of an untrusted peer, or over the gateway's own TLS
//! listener, is ignored; and the configuration's mistakes are named with their key.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use pki::{issue, issue_valid, Issued};

use crate::support::captured_logs as logs;
use crate::support::gateway::*;
use crate::support::pki;

const SUBSCRIPTION: &str = "abo-proxy-1";

fn abonnement(id: &str) -> String {
    format!(
        r#"<abonnement xmlns="http://www.atosworldline.com/wsabonnement/v1.0/"><idAbonnement>{id}</idAbonnement><idDistributeurCom>123456789_0000000000000000</idDistributeurCom><idRessource>{RES_INDIV}</idRessource><typeIdRessource>ark</typeIdRessource><libelleRessource>R</libelleRessource><debutValidite>2026-08-15T00:00:00</debutValidite><anneeFinValidite>2026-2027</anneeFinValidite><uaiEtab>{UAI}</uaiEtab><categorieAffectation>transferable</categorieAffectation><typeAffectation>ETABL</typeAffectation><nbLicenceGlobale>10</nbLicenceGlobale><publicCible>ELEVE</publicCible></abonnement>"#
    )
}

/// A client certificate valid around the tests' fixed clock: from a day before `now()` for
/// thirty days.
fn client_cert(cn: &str, ca: &Issued, serial: u32) -> Issued {
    let at = now().timestamp();
    issue_valid(
        cn,
        Some(ca),
        "client",
        serial,
        at - 86_400,
        at + 30 * 86_400,
    )
}

/// RFC 9440: `:base64 of the DER:`.
fn rfc9440(cert: &Issued) -> String {
    let der = cert.cert.to_der().unwrap();
    format!(
        ":{}:",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der)
    )
}

/// nginx's `$ssl_client_escaped_cert`: the PEM, URL-escaped.
fn escaped_pem(cert: &Issued) -> String {
    urlencoding::encode(std::str::from_utf8(&cert.cert_pem()).unwrap()).into_owned()
}

struct Pki {
    ca: Issued,
    provider: Issued,
}

fn pki() -> Pki {
    let ca = issue("TEST client CA", None, "ca", 1);
    let provider = client_cert("provider servers", &ca, 2);
    Pki { ca, provider }
}

/// A gateway serving on 127.0.0.1 with `[server.trusted_proxy]` set to `section` (and the
/// test CA's `client_ca_file` unless given), the provider's certificate registered, and one subscription of that provider.
struct Served {
    gw: TestGateway,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Served {
    async fn start(pki: &Pki, section: &str) -> Self {
        let ca = if section.contains("client_ca_file") {
            ""
        } else {
            r#"client_ca_file = "client-ca.crt""#
        };
        let gw = TestGateway::with(Options {
            files: vec![
                ("client-ca.crt".into(), pki.ca.cert_pem()),
                ("provider-client.crt".into(), pki.provider.cert_pem()),
            ],
            vars: vec![(
                "PASSERELLE__PROVIDERS__TEST-EDITEUR__CLIENT_CERTIFICATE_FILE".into(),
                "provider-client.crt".into(),
            )],
            extra_toml: format!("\n[server.trusted_proxy]\n{section}\n{ca}\n"),
            ..Options::default()
        })
        .await;
        let created = gw
            .call(
                Request::put(format!("/abonnement/{SUBSCRIPTION}"))
                    .header("content-type", "application/xml")
                    .header("authorization", format!("Bearer {PROVIDER_TOKEN}"))
                    .body(Body::from(abonnement(SUBSCRIPTION)))
                    .unwrap(),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(passerelle::http::serve(listener, gw.state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            gw,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `GET /abonnement/abonnements` from `from`, with the header's values.
    async fn list(&self, from: IpAddr, header: &str, values: &[&str]) -> (u16, String) {
        let client = reqwest::Client::builder()
            .local_address(from)
            .build()
            .unwrap();
        let mut req = client.get(format!("http://{}/abonnement/abonnements", self.addr));
        for v in values {
            req = req.header(header, *v);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

#[tokio::test]
async fn a_registered_certificate_forwarded_by_a_trusted_proxy_lists_its_subscriptions() {
    let pki = pki();
    // RFC 9440 in the default `Client-Cert` field.
    let served = Served::start(&pki, r#"addresses = ["127.0.0.0/8", "::1"]"#).await;
    let (status, body) = served
        .list(loopback(1), "Client-Cert", &[&rfc9440(&pki.provider)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(SUBSCRIPTION), "{body}");
    // Without the header, the same caller is refused as before.
    assert_eq!(served.list(loopback(1), "Client-Cert", &[]).await.0, 401);
    served.stop().await;

    // nginx: `proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;`.
    let served = Served::start(
        &pki,
        r#"addresses = ["127.0.0.1"]
header = "X-SSL-Client-Cert""#,
    )
    .await;
    let (status, body) = served
        .list(
            loopback(1),
            "X-SSL-Client-Cert",
            &[&escaped_pem(&pki.provider)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(SUBSCRIPTION), "{body}");
    // The other format is detected in the configured header too.
    let (status, _) = served
        .list(loopback(1), "X-SSL-Client-Cert", &[&rfc9440(&pki.provider)])
        .await;
    assert_eq!(status, 200);
    served.stop().await;
}

#[tokio::test]
async fn refused_certificates_give_no_identity_and_say_what_to_fix() {
    let (logs, _guard) = logs::capture();
    let pki = pki();
    let stranger = client_cert("unregistered servers", &pki.ca, 3);
    let other_ca = issue("another CA", None, "ca", 4);
    let forged = client_cert("provider servers", &other_ca, 5);
    let served = Served::start(&pki, r#"addresses = ["127.0.0.1"]"#).await;
    let from = loopback(1);
    let list = |values: Vec<String>| {
        let served = &served;
        async move {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            served.list(from, "client-cert", &values).await.0
        }
    };

    // Registered nowhere: the subscription service answers its own 401.
    assert_eq!(list(vec![rfc9440(&stranger)]).await, 401);
    assert!(logs.text().contains("client certificate not registered"));
    // Another CA.
    assert_eq!(list(vec![rfc9440(&forged)]).await, 401);
    assert!(logs.text().contains("not issued by the configured CA"));
    // Malformed values.
    for bad in [":not base64!:", "MIIBbase64-without-colons", ":AAAA:"] {
        assert_eq!(list(vec![bad.to_string()]).await, 401, "{bad}");
    }
    assert!(logs.text().contains("not valid base64"));
    assert!(logs.text().contains("neither a byte sequence"));
    assert!(logs.text().contains("not a DER X.509 certificate"));
    // Several values, in one field or in two.
    let one = rfc9440(&pki.provider);
    assert_eq!(list(vec![format!("{one}, {one}")]).await, 401);
    assert_eq!(list(vec![one.clone(), one.clone()]).await, 401);
    assert!(logs.text().contains("several values"));
    // The registered certificate still works at the fixed clock's now...
    assert_eq!(list(vec![one.clone()]).await, 200);
    // ...and is refused once the gateway's clock is past its notAfter.
    let not_after = now() + chrono::Duration::days(30);
    served
        .gw
        .clock
        .set(not_after + chrono::Duration::seconds(1));
    assert_eq!(list(vec![one.clone()]).await, 401);
    assert!(logs.text().contains("expired at the gateway's time"));

    let text = logs.text();
    assert!(
        text.matches("forwarded client certificate refused").count() >= 7,
        "{text}"
    );
    // Never the certificate itself.
    let b64 = one.trim_matches(':');
    assert!(!text.contains(&b64[..64]), "{text}");
    served.stop().await;
}

#[tokio::test]
async fn the_header_of_an_untrusted_peer_is_ignored() {
    let (logs, _guard) = logs::capture();
    let pki = pki();
    let served = Served::start(&pki, r#"addresses = ["127.0.0.2"]"#).await;
    let cert = rfc9440(&pki.provider);
    // From 127.0.0.1: not a trusted proxy.
    assert_eq!(
        served.list(loopback(1), "client-cert", &[&cert]).await.0,
        401
    );
    let text = logs.text();
    assert!(
        text.contains("forwarded client certificate from an untrusted peer ignored")
            && text.contains("127.0.0.1:"),
        "{text}"
    );
    // From 127.0.0.2 (Linux loopback answers all of 127/8): trusted.
    let (status, body) = served.list(loopback(2), "client-cert", &[&cert]).await;
    assert_eq!(status, 200, "{body}");
    served.stop().await;
}

#[tokio::test]
async fn without_a_trusted_proxy_section_the_header_is_ignored() {
    let pki = pki();
    let gw = TestGateway::with(Options {
        files: vec![("provider-client.crt".into(), pki.provider.cert_pem())],
        vars: vec![(
            "PASSERELLE__PROVIDERS__TEST-EDITEUR__CLIENT_CERTIFICATE_FILE".into(),
            "provider-client.crt".into(),
        )],
        ..Options::default()
    })
    .await;
    assert!(gw.state.config.trusted_proxy.is_none());
    let resp = gw
        .call(
            Request::get("/abonnement/abonnements")
                .header("client-cert", rfc9440(&pki.provider))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_gateways_own_tls_listener_the_header_is_ignored() {
    let pki = pki();
    let server = issue("gateway", Some(&pki.ca), "server", 6);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gw = TestGateway::with(Options {
        files: vec![
            ("tls.crt".into(), server.cert_pem()),
            (
                "tls.key".into(),
                server.key.private_key_to_pem_pkcs8().unwrap(),
            ),
            ("client-ca.crt".into(), pki.ca.cert_pem()),
            ("provider-client.crt".into(), pki.provider.cert_pem()),
        ],
        vars: vec![(
            "PASSERELLE__PROVIDERS__TEST-EDITEUR__CLIENT_CERTIFICATE_FILE".into(),
            "provider-client.crt".into(),
        )],
        // The proxy section takes its CA from the TLS listener's.
        extra_toml: format!(
            r#"
[server.tls]
listen = "{addr}"
certificate_file = "tls.crt"
key_file = "tls.key"
client_ca_file = "client-ca.crt"
[server.trusted_proxy]
addresses = ["127.0.0.1"]
"#
        ),
        ..Options::default()
    })
    .await;
    let tls = gw.state.config.tls.clone().expect("TLS configured");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(passerelle::http::tls::serve_tls(
        listener,
        tls.server,
        gw.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pki.ca.cert_pem()).unwrap())
        .build()
        .unwrap();
    let resp = client
        .get(format!(
            "https://127.0.0.1:{}/abonnement/abonnements",
            addr.port()
        ))
        .header("client-cert", rfc9440(&pki.provider))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let _ = stop.send(());
    task.await.unwrap();
}

async fn problems(section: &str, files: &[(&str, Vec<u8>)]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let toml = format!("[server.trusted_proxy]\n{section}\n");
    let err = passerelle::config::load_str(&toml, dir.path(), Vec::new())
        .await
        .unwrap_err();
    err.0.into_iter().map(|p| (p.key, p.message)).collect()
}

fn has(problems: &[(String, String)], key: &str, words: &str) -> bool {
    problems.iter().any(|(k, m)| k == key && m.contains(words))
}

#[tokio::test]
async fn configuration_mistakes_are_named_with_their_key() {
    let ca = issue("TEST client CA", None, "ca", 1).cert_pem();
    let p = problems(
        r#"addresses = ["10.0.0.0/33", "10.0.0.1/8", "proxy.example", "fd00::/8"]
header = "X SSL"
colour = "blue""#,
        &[("ca.crt", ca.clone())],
    )
    .await;
    assert!(
        has(&p, "server.trusted_proxy.addresses.0", "neither an IP"),
        "{p:?}"
    );
    assert!(
        has(&p, "server.trusted_proxy.addresses.1", "10.0.0.0/8"),
        "{p:?}"
    );
    assert!(has(&p, "server.trusted_proxy.addresses.2", "neither an IP"));
    assert!(!p
        .iter()
        .any(|(k, _)| k == "server.trusted_proxy.addresses.3"));
    assert!(has(&p, "server.trusted_proxy.header", "not a header name"));
    assert!(
        has(&p, "server.trusted_proxy.colour", "unknown key"),
        "{p:?}"
    );
    // No CA here, and none from [server.tls].
    assert!(
        has(&p, "server.trusted_proxy.client_ca_file", "is required"),
        "{p:?}"
    );

    let p = problems(r#"client_ca_file = "missing.crt""#, &[]).await;
    assert!(has(&p, "server.trusted_proxy.addresses", "is required"));
    assert!(has(
        &p,
        "server.trusted_proxy.client_ca_file",
        "cannot read"
    ));

    let p = problems(
        r#"addresses = []
client_ca_file = "ca.crt""#,
        &[("ca.crt", b"not a certificate".to_vec())],
    )
    .await;
    assert!(has(&p, "server.trusted_proxy.addresses", "at least one"));
    assert!(has(
        &p,
        "server.trusted_proxy.client_ca_file",
        "holds no certificate"
    ));
}

#[tokio::test]
async fn a_valid_section_is_read() {
    let pki = pki();
    let served = Served::start(
        &pki,
        r#"addresses = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
header = "X-SSL-Client-Cert"
client_ca_file = "client-ca.crt""#,
    )
    .await;
    let proxy = served.gw.state.config.trusted_proxy.clone().unwrap();
    assert_eq!(proxy.header, "x-ssl-client-cert");
    for (ip, trusted) in [
        ("10.1.2.3", true),
        ("::ffff:10.1.2.3", true),
        ("2001:db8::1", true),
        ("192.0.2.7", true),
        ("192.0.2.8", false),
        ("127.0.0.1", false),
    ] {
        assert_eq!(proxy.trusts(ip.parse().unwrap()), trusted, "{ip}");
    }
    served.stop().await;
}
