//! The ENT-side OIDC client never reaches loopback or private addresses unless the ENT's
//! configuration allows it, and never goes through a proxy named in the environment: over
//! real sockets, recording listeners count the connections they get.
//!
//! The test runs alone in a process of its own (`support::alone`), so that setting proxy
//! variables in its environment affects nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use passerelle::config::Secret;
use passerelle::oidc::rp::{EntOidc, IdTokenAlg, Providers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::alone;

/// A listener that counts connections and answers each with 404.
async fn recording() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (port, seen)
}

fn settings(issuer: &str, allow_private_network: bool) -> EntOidc {
    EntOidc {
        issuer: issuer.into(),
        client_id: "passerelle".into(),
        client_secret: Secret::new("a-client-secret-of-the-ent".into()),
        scopes: vec!["openid".into()],
        id_token_signing_algs: vec![IdTokenAlg::Rs256],
        ent_claim: "idEnt".into(),
        person_claim: "GARPersonIdentifiant".into(),
        discovery_ttl: Duration::from_secs(3600),
        clock_skew: Duration::from_secs(60),
        allow_private_network,
    }
}

#[tokio::test]
async fn loopback_needs_the_switch_and_proxy_variables_are_ignored() {
    // Alone in its process: it sets proxy variables in its environment.
    if !alone::is_alone("ent_oidc_ssrf::loopback_needs_the_switch_and_proxy_variables_are_ignored")
    {
        return;
    }
    let (proxy_port, via_proxy) = recording().await;
    let (op_port, at_op) = recording().await;
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        std::env::set_var(name, &proxy);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    // The clients are built after the variables are set, as at a gateway's start.
    let providers = Providers::new();
    let now = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();

    for (i, issuer) in [
        format!("http://127.0.0.1:{op_port}"),
        format!("https://127.0.0.1:{op_port}"),
        format!("http://localhost:{op_port}"),
        format!("https://[::ffff:127.0.0.1]:{op_port}"),
        format!("https://[::1]:{op_port}"),
    ]
    .iter()
    .enumerate()
    {
        let err = providers
            .get(&format!("E{i}"), &settings(issuer, false), now)
            .await
            .expect_err(issuer);
        assert_eq!(err.check, "oidc.discovery", "{issuer}");
        assert!(
            err.description.contains("allow_private_network"),
            "{issuer}: the operator is told what to change: {}",
            err.description
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(at_op.load(Ordering::SeqCst), 0, "no connection to loopback");
    assert_eq!(via_proxy.load(Ordering::SeqCst), 0);

    // With the switch, the OP on loopback is reached directly, never through the proxy.
    let err = providers
        .get(
            "E-allowed",
            &settings(&format!("http://127.0.0.1:{op_port}"), true),
            now,
        )
        .await
        .expect_err("the recording OP answers 404");
    assert_eq!(err.check, "oidc.discovery");
    assert!(err.description.contains("404"), "{}", err.description);
    assert_eq!(at_op.load(Ordering::SeqCst), 1);
    assert_eq!(
        via_proxy.load(Ordering::SeqCst),
        0,
        "HTTP_PROXY and friends are never used"
    );
}
