//! `POST /annuaire/import` over the gateway's mutual-TLS listener, driven by reqwest: an ENT's
//! registered certificate uploads an XML file or a `.tar.gz` with its `Content-MD5` (hex or
//! base64) and replaces its own directory; a wrong checksum, a malformed file (with its line),
//! another ENT's certificate, an unregistered one and no certificate are refused, and a refused
//! upload leaves the previous directory served. Size and media type limits are checked on the
//! router directly.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use passerelle::domain::IdEnt;
use passerelle::http::tls::ClientIdentity;
use passerelle::store::DirectoryStore;
use passerelle::tls::fingerprint;
use pki::{issue, Issued};
use serde_json::Value;

use crate::support::alone;
use crate::support::gateway::*;
use crate::support::pki;

fn xml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

/// The fixtures of `dir` as a `.tar.gz`, in memory.
fn tar_gz(dir: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for f in xml_files(dir) {
        tar.append_path_with_name(&f, f.file_name().unwrap())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(<md5::Md5 as md5::Digest>::digest(bytes))
}

fn md5_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(<md5::Md5 as md5::Digest>::digest(bytes))
}

fn b0() -> IdEnt {
    "B0".parse().unwrap()
}

/// ENT `B1`, registered with its own client certificate.
fn ent_b1() -> String {
    r#"
[ents.B1]
name = "Autre ENT"
client_certificate_file = "b1-client.crt"
[ents.B1.saml]
idp_metadata = "ent-idp.xml"
signature_algorithms = ["rsa-sha256"]
"#
    .into()
}

struct Pki {
    ca: Issued,
    server: Issued,
    b0: Issued,
    b1: Issued,
    stranger: Issued,
}

fn pki() -> Pki {
    let ca = issue("TEST client and server CA", None, "ca", 1);
    Pki {
        server: issue("gateway", Some(&ca), "server", 2),
        b0: issue("ENT B0 servers", Some(&ca), "client", 3),
        b1: issue("ENT B1 servers", Some(&ca), "client", 4),
        stranger: issue("unregistered servers", Some(&ca), "client", 5),
        ca,
    }
}

fn vars(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ents_upload_their_export_over_mutual_tls() {
    // Alone in its process: it measures the resident memory of its process.
    if !alone::is_alone("annuaire::ents_upload_their_export_over_mutual_tls") {
        return;
    }
    let pki = pki();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gw = TestGateway::with(Options {
        files: vec![
            ("tls.crt".into(), pki.server.cert_pem()),
            (
                "tls.key".into(),
                pki.server.key.private_key_to_pem_pkcs8().unwrap(),
            ),
            ("client-ca.crt".into(), pki.ca.cert_pem()),
            ("b0-client.crt".into(), pki.b0.cert_pem()),
            ("b1-client.crt".into(), pki.b1.cert_pem()),
        ],
        vars: vars(&[
            ("PASSERELLE__SERVER__TLS__LISTEN", addr.to_string()),
            (
                "PASSERELLE__SERVER__TLS__CERTIFICATE_FILE",
                "tls.crt".into(),
            ),
            ("PASSERELLE__SERVER__TLS__KEY_FILE", "tls.key".into()),
            (
                "PASSERELLE__SERVER__TLS__CLIENT_CA_FILE",
                "client-ca.crt".into(),
            ),
            (
                "PASSERELLE__ENTS__B0__CLIENT_CERTIFICATE_FILE",
                "b0-client.crt".into(),
            ),
            ("PASSERELLE__FEED__MAX_UNPACKED_BYTES", "1048576".into()),
        ]),
        extra_toml: ent_b1(),
        ..Options::default()
    })
    .await;
    let tls = gw.state.config.tls.clone().expect("TLS configured");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(passerelle::http::tls::serve_tls(
        listener,
        tls.server,
        gw.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let client = |identity: Option<&Issued>| {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&pki.ca.cert_pem()).unwrap());
        if let Some(i) = identity {
            b = b.identity(i.identity());
        }
        b.build().unwrap()
    };
    let url = format!("https://127.0.0.1:{}/annuaire/import", addr.port());
    let upload = |who: Option<&Issued>,
                  query: &str,
                  content_type: &str,
                  headers: Vec<(&'static str, String)>,
                  body: Vec<u8>| {
        let mut r = client(who)
            .post(format!("{url}{query}"))
            .header("content-type", content_type.to_string())
            .body(body);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let json: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
            (status, json)
        }
    };
    let pupil_last_name = || async {
        gw.store
            .person(&b0(), "eleve-feed-1")
            .await
            .unwrap()
            .map(|p| p.last_name)
    };

    // An archive and its MD5 in hex: B0's directory is replaced.
    let archive = tar_gz("feed");
    let (status, json) = upload(
        Some(&pki.b0),
        "",
        "application/gzip",
        vec![("content-md5", md5_hex(&archive))],
        archive.clone(),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        json,
        serde_json::json!({"idENT": "B0", "schools": 1, "persons": 2, "groups": 2})
    );
    assert_eq!(pupil_last_name().await.as_deref(), Some("MARTIN"));
    assert!(
        gw.store
            .person(&b0(), "eleve-0001")
            .await
            .unwrap()
            .is_none(),
        "the seeded directory was replaced whole"
    );

    // The same archive with its MD5 in base64 (RFC 1864), naming its own ENT: accepted.
    let (status, json) = upload(
        Some(&pki.b0),
        "?idENT=B0",
        "application/x-gzip",
        vec![("content-md5", md5_b64(&archive))],
        archive.clone(),
    )
    .await;
    assert_eq!(status, 200, "{json}");

    // A wrong checksum: refused, the directory stays.
    let (status, json) = upload(
        Some(&pki.b0),
        "",
        "application/gzip",
        vec![("content-md5", md5_hex(b"something else"))],
        archive.clone(),
    )
    .await;
    assert_eq!(status, 400, "{json}");
    let problem = &json["problems"][0];
    assert!(
        problem["message"].as_str().unwrap().contains("MD5") && problem["file"] == "upload.tar.gz",
        "{json}"
    );
    // An archive without its checksum: refused.
    let (status, json) = upload(
        Some(&pki.b0),
        "",
        "application/gzip",
        vec![],
        archive.clone(),
    )
    .await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["message"].as_str().unwrap().contains("Content-MD5"),
        "{json}"
    );

    // Malformed XML: every problem with its file and line, the directory stays.
    let broken = "<?xml version=\"1.0\"?>\n<men:GAR-ENT-Eleve xmlns:men=\"http://data.education.fr/ns/gar\" Version=\"1.7\">\n<men:GAREleve>\n<men:GARPersonIdentifiant>x</men:GARPersonIdentifiant>\n</men:GAREleve>\n<men:GAREleve>\n</men:GARGroupe>\n</men:GAR-ENT-Eleve>\n";
    let (status, json) = upload(
        Some(&pki.b0),
        "",
        "application/xml",
        vec![(
            "content-disposition",
            "attachment; filename=\"B0_GAR-ENT_Complet_Eleve_0000.xml\"".into(),
        )],
        broken.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(
        json["problems"][0]["file"],
        "B0_GAR-ENT_Complet_Eleve_0000.xml"
    );
    assert_eq!(json["problems"][0]["line"], 7, "{json}");
    assert!(
        json["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("XML mal formé"),
        "{json}"
    );
    // A well-formed file with invalid records: each problem is listed.
    let (status, json) = upload(
        Some(&pki.b0),
        "",
        "application/xml",
        vec![],
        broken
            .replace("<men:GAREleve>\n</men:GARGroupe>\n", "")
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{json}");
    let problems = json["problems"].as_array().unwrap();
    assert!(problems.len() >= 3, "{json}");
    assert!(problems
        .iter()
        .all(|p| p["file"] == "upload.xml" && p["line"] == 3));
    assert_eq!(pupil_last_name().await.as_deref(), Some("MARTIN"));

    // The XML boundary: another encoding declared (what libxml2 would obey), a DTD with an
    // external entity, a processing instruction. Each refused with its file and line.
    let valid = std::fs::read_to_string(&xml_files("feed")[0]).unwrap();
    let body = valid
        .split_once("?>")
        .map_or(valid.as_str(), |(_, rest)| rest);
    for (decl, line, says) in [
        ("<?xml version=\"1.0\" encoding=\"UTF-7\"?>", 1, "UTF-8"),
        (
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
            1,
            "UTF-8",
        ),
        (
            "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
            2,
            "DTD",
        ),
        (
            "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet href=\"http://127.0.0.1:9/x\"?>",
            3,
            "instructions de traitement",
        ),
    ] {
        let (status, json) = upload(
            Some(&pki.b0),
            "",
            "application/xml",
            vec![],
            format!("{decl}{body}").into_bytes(),
        )
        .await;
        assert_eq!(status, 400, "{decl}: {json}");
        let p = &json["problems"][0];
        assert_eq!(p["file"], "upload.xml", "{json}");
        assert_eq!(p["line"], line, "{decl}: {json}");
        assert!(p["message"].as_str().unwrap().contains(says), "{json}");
    }
    assert_eq!(pupil_last_name().await.as_deref(), Some("MARTIN"));

    // Another ENT's certificate cannot replace B0's directory.
    let (status, json) = upload(
        Some(&pki.b1),
        "?idENT=B0",
        "application/gzip",
        vec![("content-md5", md5_hex(&archive))],
        archive.clone(),
    )
    .await;
    assert_eq!(status, 403, "{json}");
    // With its own certificate, B1 replaces its own directory only.
    let primary = tar_gz("feed-1d");
    let (status, json) = upload(
        Some(&pki.b1),
        "",
        "application/gzip",
        vec![("content-md5", md5_hex(&primary))],
        primary,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["idENT"], "B1");
    let b1: IdEnt = "B1".parse().unwrap();
    assert!(gw.store.person(&b1, "eleve-1d-1").await.unwrap().is_some());
    assert!(gw
        .store
        .person(&b0(), "eleve-1d-1")
        .await
        .unwrap()
        .is_none());
    assert_eq!(pupil_last_name().await.as_deref(), Some("MARTIN"));

    // B1 naming B0's school: refused with the file and line, the school stays B0's.
    let (status, json) = upload(
        Some(&pki.b1),
        "",
        "application/gzip",
        vec![("content-md5", md5_hex(&archive))],
        archive.clone(),
    )
    .await;
    assert_eq!(status, 400, "{json}");
    let taken = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["message"]
                .as_str()
                .unwrap()
                .contains("appartient à l'ENT B0")
        })
        .unwrap_or_else(|| panic!("{json}"));
    assert!(
        taken["file"]
            .as_str()
            .unwrap()
            .starts_with("upload.tar.gz/"),
        "{json}"
    );
    assert!(taken["line"].as_u64().unwrap() > 0, "{json}");
    let school = gw.store.school(&"0561641E".parse().unwrap()).await.unwrap();
    assert_eq!(school.unwrap().ent, b0());
    assert_eq!(pupil_last_name().await.as_deref(), Some("MARTIN"));

    // A gzip bomb (one XML entry of 200 MiB, 1 MiB allowed): refused as it inflates, with
    // memory flat.
    let bomb = {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let size = 200u64 << 20;
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            "B0_GAR-ENT_Complet_Eleve_0000.xml",
            std::io::Read::take(std::io::repeat(b' '), size),
        )
        .unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    };
    let before = rss_kib();
    let (status, json) = upload(
        Some(&pki.b0),
        "",
        "application/gzip",
        vec![("content-md5", md5_hex(&bomb))],
        bomb,
    )
    .await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("feed.max_unpacked_bytes"),
        "{json}"
    );
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    assert_eq!(pupil_last_name().await.as_deref(), Some("MARTIN"));

    // A certificate of the right CA that no ENT registered, and no certificate: refused.
    let xml = std::fs::read(&xml_files("feed")[0]).unwrap();
    let (status, _) = upload(
        Some(&pki.stranger),
        "",
        "application/xml",
        vec![],
        xml.clone(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = upload(None, "", "application/xml", vec![], xml).await;
    assert_eq!(status, 401);
    assert_eq!(pupil_last_name().await.as_deref(), Some("MARTIN"));

    let _ = stop.send(());
    server_task.await.unwrap();
}

#[tokio::test]
async fn uploads_are_bounded_in_size_and_media_type() {
    let cert = issue("ENT B0 servers", None, "client", 7);
    let gw = TestGateway::with(Options {
        files: vec![("b0-client.crt".into(), cert.cert_pem())],
        vars: vars(&[
            (
                "PASSERELLE__ENTS__B0__CLIENT_CERTIFICATE_FILE",
                "b0-client.crt".into(),
            ),
            ("PASSERELLE__FEED__MAX_UPLOAD_BYTES", "1024".into()),
        ]),
        ..Options::default()
    })
    .await;
    assert_eq!(gw.state.config.feed.max_upload_bytes, 1024);
    let identity = ClientIdentity {
        fingerprint: fingerprint(&cert.cert.to_der().unwrap()),
    };
    let post = |content_type: &str, body: Vec<u8>, length: bool| {
        let mut b = Request::post("/annuaire/import")
            .header("content-type", content_type)
            .extension(identity.clone());
        if length {
            b = b.header("content-length", body.len());
        }
        b.body(Body::from(body)).unwrap()
    };
    let big = std::fs::read(&xml_files("feed")[1]).unwrap();
    assert!(big.len() > 1024);
    // Declared too large, and too large while read (no length given): 413, nothing replaced.
    for length in [true, false] {
        let resp = gw.call(post("application/xml", big.clone(), length)).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "{length}");
        assert!(body_string(resp).await.contains("1024 octets"));
    }
    assert!(gw
        .store
        .person(&b0(), "eleve-0001")
        .await
        .unwrap()
        .is_some());
    // Neither XML nor gzip: 415.
    let resp = gw.call(post("text/plain", b"x".to_vec(), true)).await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A Content-MD5 that is no digest: 400.
    let mut req = post("application/xml", b"<x/>".to_vec(), true);
    req.headers_mut()
        .insert("content-md5", "pas une somme".parse().unwrap());
    assert_eq!(gw.call(req).await.status(), StatusCode::BAD_REQUEST);
    // Within the limit, through the router: accepted.
    let small = "<men:GAR-ENT-Etab xmlns:men=\"http://data.education.fr/ns/gar\" Version=\"1.7\"><men:GAREtab><men:GARStructureUAI>0561641E</men:GARStructureUAI><men:GARStructureNomCourant>COLLEGE</men:GARStructureNomCourant></men:GAREtab></men:GAR-ENT-Etab>";
    let mut req = post("application/xml", small.as_bytes().to_vec(), true);
    req.headers_mut()
        .insert("content-md5", md5_b64(small.as_bytes()).parse().unwrap());
    let resp = gw.call(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(gw
        .store
        .person(&b0(), "eleve-0001")
        .await
        .unwrap()
        .is_none());
}
