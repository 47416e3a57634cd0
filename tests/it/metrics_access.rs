//! `GET /metrics` over a real listener: served to the loopback by default, to nobody outside
//! `[metrics] allow`, and with a configured token only to whoever presents it.

use crate::support::gateway::*;

const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef0123456789";

async fn get(base: &str, bearer: Option<&str>) -> (u16, String) {
    let mut req = http_client().get(format!("{base}/metrics"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn gateway(vars: &[(&str, &str)]) -> TestGateway {
    TestGateway::with(Options {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        files: vec![("metrics.token".into(), METRICS_TOKEN.as_bytes().to_vec())],
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn the_loopback_reads_the_metrics_by_default() {
    let gw = TestGateway::new().await;
    let (status, body) = get(&gw.listen().await, None).await;
    assert_eq!(status, 200);
    assert!(body.contains("passerelle_ent_logins_total"), "{body}");
}

#[tokio::test]
async fn with_no_allowed_network_and_no_token_nobody_reads_them() {
    let gw = gateway(&[("PASSERELLE__METRICS__ALLOW", "[]")]).await;
    let base = gw.listen().await;
    let (status, body) = get(&base, None).await;
    assert_eq!(status, 404);
    assert!(!body.contains("passerelle_"), "{body}");
    assert_eq!(
        get(&base, Some(METRICS_TOKEN)).await.0,
        404,
        "no token configured"
    );
}

#[tokio::test]
async fn with_a_token_only_its_bearer_reads_them() {
    let gw = gateway(&[("PASSERELLE__METRICS__TOKEN_FILE", "metrics.token")]).await;
    let base = gw.listen().await;
    assert_eq!(
        get(&base, None).await.0,
        404,
        "loopback alone is no longer enough"
    );
    assert_eq!(
        get(&base, Some("metrics-token-0123456789abcdef012345678"))
            .await
            .0,
        404
    );
    assert_eq!(get(&base, Some(&format!("{METRICS_TOKEN}x"))).await.0, 404);
    let (status, body) = get(&base, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("passerelle_access_granted_total"));
}

#[tokio::test]
async fn a_token_and_allowed_networks_combine() {
    let gw = gateway(&[
        ("PASSERELLE__METRICS__TOKEN_FILE", "metrics.token"),
        ("PASSERELLE__METRICS__ALLOW", r#"["127.0.0.0/8"]"#),
    ])
    .await;
    assert_eq!(get(&gw.listen().await, None).await.0, 200);
}

#[tokio::test]
async fn bad_ranges_and_short_tokens_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short.token"), "short").unwrap();
    let toml = format!(
        r#"
[keys]
signing_key_file = "{root}/certs-example/gateway-signing.key"
signing_certificate_file = "{root}/certs-example/gateway-signing.crt"
ido_secret_file = "{root}/certs-example/ido-secret.example"
[metrics]
allow = ["10.0.0.1/8", "loopback"]
token_file = "short.token"
"#,
        root = env!("CARGO_MANIFEST_DIR")
    );
    let err = passerelle::config::load_str(&toml, dir.path(), Vec::new())
        .await
        .unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|p| p.key.as_str()).collect();
    for k in ["metrics.allow.0", "metrics.allow.1", "metrics.token_file"] {
        assert!(keys.contains(&k), "{k}: {err}");
    }
}

/// A caller who may not read the metrics gets the very answer of a path no route takes, page
/// or line: nothing tells that `/metrics` exists.
#[tokio::test]
async fn a_refused_caller_gets_the_answer_of_a_path_that_does_not_exist() {
    let gw = gateway(&[("PASSERELLE__METRICS__ALLOW", "[]")]).await;
    let base = gw.listen().await;
    for accept in ["text/html", "*/*"] {
        let answer = |path: &'static str| {
            let url = format!("{base}{path}");
            async move {
                let resp = http_client()
                    .get(url)
                    .header("accept", accept)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
                (status, kind, resp.text().await.unwrap())
            }
        };
        let metrics = answer("/metrics").await;
        assert_eq!(metrics.0, 404);
        assert_eq!(metrics, answer("/metriques").await, "{accept}");
    }
}
