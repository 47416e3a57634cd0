//! The XML boundary, attacked from outside over a real listener: signature References that
//! point out of the document, declared encodings, Objects and Manifests, sent to the ENT side
//! (`POST /saml/acs`) and to the provider side (`POST /idp/profile/SAML2/POST/SSO`) by a
//! client that knows only public names. Each is refused with its code, fast, without a file
//! read (a FIFO that a reader would block on), without a connection made (a loopback listener
//! that records contacts), and with flat memory over 100 repetitions.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ent_idp::EntResponse;

use crate::support::alone;
use crate::support::ent_idp;
use crate::support::gateway::*;

/// A loopback listener that counts every connection made to it.
struct Recorder {
    port: u16,
    contacts: Arc<AtomicUsize>,
}

impl Recorder {
    fn start() -> Self {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let contacts = Arc::new(AtomicUsize::new(0));
        let seen = contacts.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        Self { port, contacts }
    }

    fn contacts(&self) -> usize {
        self.contacts.load(Ordering::SeqCst)
    }
}

/// A FIFO: opening it for reading blocks until a writer comes, so a gateway that tried to read
/// it would not answer; afterwards, opening it for writing without blocking fails with ENXIO
/// exactly when nobody holds it open for reading.
fn fifo(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("bait.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

fn fifo_has_no_reader(path: &std::path::Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(0o4000) // O_NONBLOCK
        .open(path)
        .is_err()
}

/// The gateway served on a loopback socket, and a browser for it (cookies kept).
struct Served {
    gw: TestGateway,
    base: String,
    client: reqwest::Client,
}

impl Served {
    async fn start() -> Self {
        let gw = TestGateway::new().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = gw.state.clone();
        tokio::spawn(passerelle::http::serve(
            listener,
            state,
            std::future::pending(),
        ));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self { gw, base, client }
    }

    /// An anonymous `GET /domaineGar`: the pending login's id (RelayState), its cookie now in
    /// this browser.
    async fn start_login(&self) -> String {
        let resp = self
            .client
            .get(format!("{}{}", self.base, domaine_gar(RES_ETABL)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let url = resp.headers()["location"].to_str().unwrap().to_string();
        let relay = url
            .split('&')
            .find_map(|p| p.strip_prefix("RelayState="))
            .unwrap();
        urlencoding::decode(relay).unwrap().into_owned()
    }

    /// The ENT's genuine signed Response to the pending login `relay`.
    fn signed_response(&self, relay: &str) -> String {
        EntResponse::new(
            BASE,
            ENT_ENTITY,
            relay,
            self.gw.state.clock.now(),
            "eleve-0001",
        )
        .signed(&self.gw.ent.key, &self.gw.ent.cert)
    }

    /// Posts `form` to `path`; the status, the page, and how long the answer took.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, Duration) {
        let started = Instant::now();
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap(), started.elapsed())
    }

    async fn post_response(&self, xml: &str, relay: &str) -> (u16, String, Duration) {
        self.post(
            "/saml/acs",
            &[("SAMLResponse", &b64(xml)), ("RelayState", relay)],
        )
        .await
    }

    async fn post_request(&self, xml: &str) -> (u16, String, Duration) {
        self.post(
            "/idp/profile/SAML2/POST/SSO",
            &[("SAMLRequest", &b64(xml)), ("RelayState", "r")],
        )
        .await
    }
}

fn assert_refused(answer: &(u16, String, Duration), check: &str, what: &str) {
    let (status, page, took) = answer;
    assert!((400..500).contains(status), "{what}: got {status}");
    assert!(
        page.contains(&format!("Pour l'exploitant : <code>{check}</code>")),
        "{what}: expected {check} in {page}"
    );
    assert!(*took < Duration::from_secs(3), "{what}: took {took:?}");
}

/// The hostile Reference URIs of the issue: a device, a local file, a host of the attacker's
/// choosing, an XPointer, the whole document.
fn hostile_uris(recorder: &Recorder, bait: &std::path::Path) -> Vec<String> {
    vec![
        "/dev/zero".to_string(),
        bait.display().to_string(),
        format!("file://{}", bait.display()),
        format!("http://127.0.0.1:{}/ssrf", recorder.port),
        "#xpointer(/)".to_string(),
        String::new(),
    ]
}

/// A signature template whose one Reference is `uri`: nothing needs to be signed, since
/// xmlsec would dereference the Reference before it checks the SignatureValue.
fn hostile_signature(uri: &str) -> String {
    format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="{uri}"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"#
    )
}

/// The signed assertion's Reference replaced by `uri` (the signature no longer matters).
fn with_reference(signed: &str, uri: &str) -> String {
    let start = signed.find("<ds:Reference URI=\"").unwrap() + "<ds:Reference URI=\"".len();
    let end = start + signed[start..].find('"').unwrap();
    format!("{}{}{}", &signed[..start], uri, &signed[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_out_of_the_document_are_refused_on_both_sides() {
    let served = Served::start().await;
    let recorder = Recorder::start();
    let bait = fifo(served.gw.dir.path());
    let relay = served.start_login().await;
    let signed = served.signed_response(&relay);

    for uri in hostile_uris(&recorder, &bait) {
        let answer = served
            .post_response(&with_reference(&signed, &uri), &relay)
            .await;
        assert_refused(&answer, "saml.reference", &format!("ACS {uri}"));

        let request = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-11-24T08:00:00Z" Destination="{BASE}/idp/profile/SAML2/POST/SSO" AssertionConsumerServiceURL="{SP_ACS}"><saml:Issuer>{SP_ENTITY}</saml:Issuer>{}</samlp:AuthnRequest>"#,
            hostile_signature(&uri)
        );
        let answer = served.post_request(&request).await;
        assert_refused(&answer, "saml.reference", &format!("IdP {uri}"));
    }
    // Two References, an Object, a Manifest and a RetrievalMethod.
    let reference = {
        let start = signed.find("<ds:Reference ").unwrap();
        let end = signed.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
        signed[start..end].to_string()
    };
    let two = signed.replacen(&reference, &format!("{reference}{reference}"), 1);
    for (what, xml) in [
        ("two References", two),
        (
            "Object",
            signed.replacen(
                "</ds:Signature>",
                "<ds:Object><ds:Manifest/></ds:Object></ds:Signature>",
                1,
            ),
        ),
        (
            "RetrievalMethod",
            signed.replacen(
                "</ds:SignatureValue>",
                &format!(
                    r#"</ds:SignatureValue><ds:KeyInfo><ds:RetrievalMethod URI="http://127.0.0.1:{}/k"/></ds:KeyInfo>"#,
                    recorder.port
                ),
                1,
            ),
        ),
    ] {
        let answer = served.post_response(&xml, &relay).await;
        assert_refused(&answer, "saml.reference", what);
    }

    assert_eq!(
        recorder.contacts(),
        0,
        "the gateway connected to the attacker's host"
    );
    assert!(
        fifo_has_no_reader(&bait),
        "the gateway opened the bait file"
    );
    // The genuine response still logs in: the login was not consumed by the refusals.
    let (status, _, _) = served.post_response(&signed, &relay).await;
    assert!(
        (300..400).contains(&status),
        "the genuine response: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_repeated_hostile_references() {
    // Alone in its process: it measures the resident memory of its process.
    if !alone::is_alone("xml_boundary::memory_stays_flat_under_repeated_hostile_references") {
        return;
    }
    let served = Served::start().await;
    let recorder = Recorder::start();
    let relay = served.start_login().await;
    let signed = served.signed_response(&relay);
    let zero = with_reference(&signed, "/dev/zero");
    let ssrf = with_reference(&signed, &format!("http://127.0.0.1:{}/x", recorder.port));
    for _ in 0..5 {
        served.post_response(&zero, &relay).await;
    }
    let before = rss_kib();
    let started = Instant::now();
    for i in 0..100 {
        let xml = if i % 2 == 0 { &zero } else { &ssrf };
        let answer = served.post_response(xml, &relay).await;
        assert_refused(&answer, "saml.reference", "repeated");
    }
    let growth = rss_kib().saturating_sub(before);
    assert!(
        growth < 16 * 1024,
        "RSS grew by {growth} KiB over 100 requests"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "100 refusals took {:?}",
        started.elapsed()
    );
    assert_eq!(recorder.contacts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_encodings_other_than_utf8_are_refused() {
    let served = Served::start().await;
    let relay = served.start_login().await;
    let signed = served.signed_response(&relay);
    let body = signed
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|r| r.split_once("?>"))
        .map_or(signed.as_str(), |(_, b)| b);
    // A comment hidden in UTF-7 (`+ADw-` is `<`): a UTF-8 reader sees text.
    let utf7 = format!(
        r#"<?xml version="1.0" encoding="UTF-7"?>{}"#,
        body.replacen(">eleve-0001<", ">eleve-0001+ADwAIQ--+AC0APg-<", 1)
    );
    assert_refused(
        &served.post_response(&utf7, &relay).await,
        "saml.encoding",
        "UTF-7",
    );
    let latin = format!(r#"<?xml version="1.0" encoding="ISO-8859-1"?>{body}"#);
    assert_refused(
        &served.post_response(&latin, &relay).await,
        "saml.encoding",
        "ISO-8859-1",
    );
    let utf16: String = {
        // Base64 of UTF-16LE with a byte-order mark: posted as the raw message.
        use base64::Engine;
        let bytes: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(body.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let answer = served
        .post(
            "/saml/acs",
            &[("SAMLResponse", &utf16), ("RelayState", &relay)],
        )
        .await;
    assert_refused(&answer, "saml.encoding", "UTF-16");
    let (status, _, _) = served.post_response(&signed, &relay).await;
    assert!(
        (300..400).contains(&status),
        "the genuine response: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_codes_name_what_the_ent_sent() {
    let served = Served::start().await;
    let relay = served.start_login().await;
    let envelope = |status: &str, inner: &str| {
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_e1" Version="2.0" IssueInstant="2026-11-24T08:00:00Z" Destination="{BASE}/saml/acs" InResponseTo="{relay}"><saml:Issuer>{ENT_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{inner}</samlp:Response>"#
        )
    };
    // A proper error answer from the ENT is a status refusal, not a wrapping attempt.
    let failed = envelope("urn:oasis:names:tc:SAML:2.0:status:Responder", "");
    assert_refused(
        &served.post_response(&failed, &relay).await,
        "saml.status",
        "AuthnFailed",
    );
    // An encrypted assertion (RSA-OAEP's SHA-1 DigestMethod inside) is refused as encrypted.
    let encrypted = envelope(
        "urn:oasis:names:tc:SAML:2.0:status:Success",
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
    );
    assert_refused(
        &served.post_response(&encrypted, &relay).await,
        "saml.encrypted",
        "EncryptedAssertion",
    );
}
