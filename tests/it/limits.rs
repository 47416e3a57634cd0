//! Limits over a real listener, as a stranger meets them: a burst beyond a client's rate on
//! the login endpoints gets 429 with `Retry-After` while other clients are still served; a
//! client cannot keep more logins pending than its cap; a node full of slow requests answers
//! 503 at once and cuts them at their time limit; `X-Forwarded-For` counts only from a
//! trusted forwarder; the table of clients stays bounded whatever the number of addresses.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::alone;
use crate::support::gateway::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (format!("PASSERELLE__LIMITS__{k}"), v.to_string()))
        .collect()
}

/// A gateway with these `[limits]` overrides, served on a loopback listener.
async fn serve(limits: &[(&str, &str)]) -> (TestGateway, String) {
    let gw = TestGateway::with(Options {
        vars: env(limits),
        ..Options::default()
    })
    .await;
    let base = gw.listen().await;
    (gw, base)
}

/// An HTTP client whose connections leave from `from` (any of 127/8 on loopback).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn metric(base: &str, name: &str) -> u64 {
    let text = client_from("127.0.0.1")
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_burst_beyond_the_rate_gets_429_and_others_are_still_served() {
    // The test clock stands still: no token comes back during the test.
    let (_gw, base) = serve(&[("LOGIN_BURST", "5"), ("LOGIN_RATE_PER_MINUTE", "1")]).await;
    let link = format!("{base}{}", domaine_gar(RES_ETABL));
    let a = client_from("127.0.0.2");
    for i in 0..5 {
        let r = a.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303, "request {i} of the burst");
    }
    let page = a
        .get(&link)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    let retry: u64 = page.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body = page.text().await.unwrap();
    assert!(
        body.contains("Trop de demandes") && body.contains("limits.rate"),
        "{body}"
    );
    // An API client of the same address gets the OAuth error shape on the token endpoint.
    let token = a
        .post(format!("{base}/oidc/token"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 429);
    assert!(token.headers().contains_key("retry-after"));
    let json: serde_json::Value = serde_json::from_str(&token.text().await.unwrap()).unwrap();
    assert_eq!(json["error"], "slow_down");

    // Another client is served; so are the refused client's ordinary requests.
    let b = client_from("127.0.0.3");
    assert_eq!(b.get(&link).send().await.unwrap().status(), 303);
    let catalogue = a.get(format!("{base}/health/live")).send().await.unwrap();
    assert_eq!(catalogue.status(), 200);
    assert_eq!(
        metric(&base, "passerelle_limits_rate_refused_total").await,
        2
    );
}

#[tokio::test]
async fn a_client_cannot_keep_more_logins_pending_than_its_cap() {
    let (_gw, base) = serve(&[("MAX_PENDING_LOGINS_PER_CLIENT", "3")]).await;
    let link = format!("{base}{}", domaine_gar(RES_ETABL));
    let a = client_from("127.0.0.4");
    for _ in 0..3 {
        let r = a.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(r.headers().contains_key("set-cookie"));
    }
    let refused = a.get(&link).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(
        !refused.headers().contains_key("set-cookie"),
        "no fourth pending login was stored"
    );
    assert!(refused.text().await.unwrap().contains("limits.pending"));
    assert_eq!(
        client_from("127.0.0.5")
            .get(&link)
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        metric(&base, "passerelle_limits_pending_refused_total").await,
        1
    );
}

/// Opens a POST whose body never comes: it holds a slot until its time limit.
async fn slow_post(addr: &str) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /saml/acs HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nSAMLResponse=",
    )
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn a_full_node_answers_503_at_once_and_cuts_slow_requests_at_their_limit() {
    let (_gw, base) = serve(&[("MAX_IN_FLIGHT", "1"), ("REQUEST_TIMEOUT_SECONDS", "2")]).await;
    let addr = base.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut slow = slow_post(&addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let other = client_from("127.0.0.6");
    let t = Instant::now();
    let busy = other
        .get(format!("{base}/ressourcesDiffusables"))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "refused at once, not queued"
    );
    assert_eq!(busy.headers()["retry-after"], "1");
    let json: serde_json::Value = serde_json::from_str(&busy.text().await.unwrap()).unwrap();
    assert_eq!(json["error"], "temporarily_unavailable");
    // Liveness is answered even when the node is full.
    assert_eq!(
        other
            .get(format!("{base}/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The slow request is cut at its limit, with 503, and its slot is free again.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the slow request is answered");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );
    let cut = started.elapsed();
    assert!(
        cut >= Duration::from_secs(2) && cut < Duration::from_secs(6),
        "cut after {cut:?}"
    );
    let served = other
        .get(format!("{base}/ressourcesDiffusables"))
        .send()
        .await
        .unwrap();
    assert_ne!(served.status(), 503);
    assert_eq!(metric(&base, "passerelle_limits_timed_out_total").await, 1);
    assert_eq!(
        metric(&base, "passerelle_limits_busy_refused_total").await,
        1
    );
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_forwarder() {
    let (_gw, base) = serve(&[
        ("LOGIN_BURST", "1"),
        ("LOGIN_RATE_PER_MINUTE", "1"),
        ("TRUSTED_FORWARDERS", r#"["127.0.0.7"]"#),
    ])
    .await;
    let link = format!("{base}{}", domaine_gar(RES_ETABL));
    let proxy = client_from("127.0.0.7");
    let via = |c: &reqwest::Client, xff: &str| {
        c.get(&link)
            .header("x-forwarded-for", xff.to_string())
            .send()
    };
    // Behind the trusted proxy, two users are two clients, whatever they wrote themselves.
    assert_eq!(
        via(&proxy, "6.6.6.6, 198.51.100.1").await.unwrap().status(),
        303
    );
    assert_eq!(
        via(&proxy, "6.6.6.6, 198.51.100.2").await.unwrap().status(),
        303
    );
    assert_eq!(
        via(&proxy, "7.7.7.7, 198.51.100.1").await.unwrap().status(),
        429
    );
    // A stranger's own header is not believed: a new header each time is still one client.
    let stranger = client_from("127.0.0.8");
    assert_eq!(via(&stranger, "198.51.100.3").await.unwrap().status(), 303);
    assert_eq!(via(&stranger, "198.51.100.4").await.unwrap().status(), 429);
}

#[tokio::test]
async fn the_table_of_clients_stays_bounded_whatever_the_number_of_addresses() {
    // Alone in its process: it measures the resident memory of its process.
    if !alone::is_alone(
        "limits::the_table_of_clients_stays_bounded_whatever_the_number_of_addresses",
    ) {
        return;
    }
    let (_gw, base) = serve(&[
        ("MAX_TRACKED_CLIENTS", "64"),
        ("TRUSTED_FORWARDERS", r#"["127.0.0.9"]"#),
    ])
    .await;
    let link = format!("{base}{}", domaine_gar(RES_ETABL));
    let proxy = client_from("127.0.0.9");
    let before = rss_kib();
    for i in 0..2000u32 {
        // A different IPv6 /64 each time, as from a /48 an attacker controls.
        let xff = format!("2001:db8:{:x}:{:x}::1", i >> 16, i & 0xffff);
        let r = proxy
            .get(&link)
            .header("x-forwarded-for", xff)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
    }
    let tracked = metric(&base, "passerelle_limits_tracked_clients").await;
    assert!(
        tracked <= 128,
        "{tracked} clients tracked (two tables of 64)"
    );
    assert!(metric(&base, "passerelle_limits_clients_evicted_total").await > 0);
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
}

#[tokio::test]
async fn silent_connections_are_closed_and_cannot_hold_every_slot() {
    let (_gw, base) = serve(&[
        ("MAX_CONNECTIONS", "2"),
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let addr = base.trim_start_matches("http://").to_string();
    // Two connections take every slot and send a request head a byte short of its end.
    let mut silent = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: gw\r\n")
            .await
            .unwrap();
        silent.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A third client waits in the backlog only until the silent ones are cut.
    let started = Instant::now();
    let r = client_from("127.0.0.10")
        .get(format!("{base}/health/live"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "served after {waited:?}"
    );
    for mut s in silent {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a silent connection was left open");
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
}
