//! The Matomo forwarder against a local HTTP server that records the bulk tracking requests
//! and fails for a while: after the outage every event arrives exactly once, in chronological
//! order, with the DNMA dimensions as custom dimensions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chrono::{TimeZone, Utc};
use passerelle::audience::matomo::MATOMO_GROUP;
use passerelle::audience::{Access, Audience, AudienceSettings, DeviceClass, MatomoSettings};
use passerelle::clock::{Clock, FixedClock};
use passerelle::config::Secret;
use passerelle::store::{MemoryStore, Store};
use passerelle::trace::Channel;
use serde_json::Value;

#[derive(Clone, Default)]
struct Recorder {
    bodies: Arc<Mutex<Vec<Value>>>,
    /// Requests still to refuse: 503 first, then one answered 200 with an error status.
    failures_left: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
}

async fn matomo_php(State(r): State<Recorder>, body: String) -> (StatusCode, String) {
    r.attempts.fetch_add(1, Ordering::SeqCst);
    let left = r.failures_left.load(Ordering::SeqCst);
    if left > 0 {
        r.failures_left.fetch_sub(1, Ordering::SeqCst);
        return if left == 1 {
            (
                StatusCode::OK,
                r#"{"status":"error","message":"database unavailable"}"#.into(),
            )
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "down for maintenance".into(),
            )
        };
    }
    let v: Value = serde_json::from_str(&body).unwrap();
    let n = v["requests"].as_array().map_or(0, Vec::len);
    r.bodies.lock().unwrap().push(v);
    (
        StatusCode::OK,
        format!(r#"{{"status":"success","tracked":{n},"invalid":0}}"#),
    )
}

fn params(line: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(line.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_matomo_loses_nothing_and_sends_nothing_twice() {
    let rec = Recorder {
        failures_left: Arc::new(AtomicUsize::new(4)),
        ..Default::default()
    };
    let app = Router::new()
        .route("/matomo.php", post(matomo_php))
        .with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let names = [
        "SERVICE", "TYPE", "OUTIL", "UAI", "PROJET", "PROFIL", "CANAL", "TERMINAL",
    ];
    let settings = AudienceSettings {
        batch_size: 50,
        poll_interval: Duration::from_millis(20),
        matomo: Some(MatomoSettings {
            url: format!("http://{addr}/matomo.php").parse().unwrap(),
            site_id: 7,
            token_auth: Secret::new("matomo-token-abcdef".into()),
            batch_size: 10,
            retry_initial: Duration::from_millis(20),
            retry_max: Duration::from_millis(100),
            dimensions: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.to_string(), i as u32 + 1))
                .collect(),
        }),
        ..Default::default()
    };
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap(),
    ));
    let audience = Arc::new(Audience::new(settings, "node-a", "https://gw.example.test"));
    let tasks = audience
        .spawn(store.clone(), clock.clone() as Arc<dyn Clock>)
        .await;
    let start = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    for i in 0..25 {
        audience.record(Access {
            at: start + chrono::Duration::seconds(i * 60),
            subject: format!("pupil-{i}"),
            resource: "ark:/99999/manuel".into(),
            provider: "editeur".into(),
            uai: "0561641E".into(),
            ent: "B0".into(),
            profile: "National_elv".into(),
            channel: if i % 5 == 0 {
                Channel::App
            } else {
                Channel::Web
            },
            device: DeviceClass::Tablet,
            service: "MANUEL_NUMERIQUE".into(),
            outil: "Manuel de sciences".into(),
        });
    }
    let lines = || -> Vec<String> {
        rec.bodies
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| {
                b["requests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while lines().len() < 25 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = lines();
    assert_eq!(got.len(), 25, "every event once: {got:#?}");
    assert!(
        rec.attempts.load(Ordering::SeqCst) >= 5,
        "the outage was retried"
    );
    assert!(audience.metrics.matomo_failures.load(Ordering::Relaxed) >= 4);
    assert_eq!(audience.metrics.matomo_sent.load(Ordering::Relaxed), 25);
    assert_eq!(store.pending_events(MATOMO_GROUP).await.unwrap(), 0);
    for body in rec.bodies.lock().unwrap().iter() {
        assert_eq!(body["token_auth"], "matomo-token-abcdef");
        assert!(body["requests"].as_array().unwrap().len() <= 10);
    }
    let parsed: Vec<HashMap<String, String>> = got.iter().map(|l| params(l)).collect();
    let times: Vec<i64> = parsed.iter().map(|p| p["cdt"].parse().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(times, sorted, "chronological, no duplicate");
    assert_eq!(times[0], start.timestamp());
    let p = &parsed[0];
    assert_eq!(p["idsite"], "7");
    assert_eq!(p["rec"], "1");
    assert_eq!(p["send_image"], "0");
    assert_eq!(p["action_name"], "Manuel de sciences");
    assert_eq!(p["_id"].len(), 16);
    assert!(p["_id"].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(p["cid"], p["_id"]);
    assert_eq!(
        p["url"],
        "https://gw.example.test/domaineGar?idRessource=ark:/99999/manuel"
    );
    assert_eq!(p["dimension1"], "MANUEL_NUMERIQUE");
    assert_eq!(p["dimension2"], "TIERS");
    assert_eq!(p["dimension3"], "Manuel de sciences");
    assert_eq!(p["dimension4"], "0561641E");
    assert_eq!(p["dimension5"], "B0");
    assert_eq!(p["dimension6"], "ELEVE");
    assert_eq!(p["dimension7"], "app");
    assert_eq!(p["dimension8"], "tablet");
    assert_eq!(parsed[1]["dimension7"], "web");
    // No pseudonymous subject, no name, no ENT user id travels to Matomo.
    assert!(got.iter().all(|l| !l.contains("pupil-")));
    for t in tasks {
        t.abort();
    }
}
