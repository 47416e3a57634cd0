//! A Redis outage costs its length, and nothing acknowledged is lost (issue 19): a gateway
//! served over a real listener on a Redis of the test's own (append-only file, fsync at every
//! write, as docs/operators.md asks of the Redis holding durable data), under a steady load of
//! médiacentre launches, subscription writes and readiness probes; Redis is killed with
//! `kill -9` and started again on the same port.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passerelle::app::AppState;
use passerelle::store::{RedisStore, Store, StoreSettings};

use crate::support::gateway::*;
use crate::support::own_redis::OwnRedis;
use crate::support::redis_cluster::RedisCluster;

/// Scheduling slack on a loaded two-core machine, on top of each deadline.
const MARGIN: Duration = Duration::from_millis(750);

#[derive(Debug, Clone)]
struct Answer {
    kind: &'static str,
    started: Instant,
    took: Duration,
    status: u16,
    retry_after: Option<String>,
    body: String,
    /// The subscription a `PUT` created.
    id: Option<String>,
}

impl Answer {
    fn ok(&self) -> bool {
        // A launch without a session is sent to the ENT (303) with its pending login stored.
        matches!(
            (self.kind, self.status),
            ("launch", 303) | ("put", 201) | ("ready", 200)
        )
    }
}

fn subscription(id: &str) -> String {
    format!(
        r#"<abonnement xmlns="http://www.atosworldline.com/wsabonnement/v1.0/">
  <idAbonnement>{id}</idAbonnement>
  <idDistributeurCom>123456789_0000000000000000</idDistributeurCom>
  <idRessource>{RES_INDIV}</idRessource>
  <typeIdRessource>ark</typeIdRessource>
  <libelleRessource>Ressource individuelle</libelleRessource>
  <debutValidite>2026-08-15T00:00:00</debutValidite>
  <anneeFinValidite>2026-2027</anneeFinValidite>
  <uaiEtab>{UAI}</uaiEtab>
  <typeAffectation>ETABL</typeAffectation>
  <nbLicenceGlobale>ILLIMITE</nbLicenceGlobale>
  <publicCible>ENSEIGNANT</publicCible>
</abonnement>"#
    )
}

async fn one(client: &reqwest::Client, base: &str, kind: &'static str, n: usize) -> Answer {
    let id = (kind == "put").then(|| format!("outage-{n}"));
    let req = match kind {
        "launch" => client.get(format!("{base}{}", domaine_gar(RES_ETABL))),
        "put" => client
            .put(format!(
                "{base}/abonnement/{}",
                id.as_deref().unwrap_or_default()
            ))
            .bearer_auth(PROVIDER_TOKEN)
            .header("content-type", "application/xml")
            .body(subscription(id.as_deref().unwrap_or_default())),
        _ => client.get(format!("{base}/health/ready")),
    };
    let started = Instant::now();
    let resp = req.send().await.expect("every request is answered");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.text().await.unwrap();
    Answer {
        kind,
        started,
        took: started.elapsed(),
        status,
        retry_after,
        body,
        id,
    }
}

/// A gateway on the store at `url`, over a real listener.
struct Served {
    base: String,
    settings: StoreSettings,
    client: reqwest::Client,
    _gw: TestGateway,
}

async fn serve_on(url: &str, vars: &[(&str, &str)]) -> Served {
    serve_on_store(url, false, vars).await
}

/// As [`serve_on`], on a single Redis or a cluster.
async fn serve_on_store(url: &str, cluster: bool, vars: &[(&str, &str)]) -> Served {
    // One loopback client makes every request: keep the per-client limits out of the way.
    let mut all = vec![
        ("PASSERELLE__LIMITS__LOGIN_RATE_PER_MINUTE", "10000000"),
        ("PASSERELLE__LIMITS__LOGIN_BURST", "10000000"),
        (
            "PASSERELLE__LIMITS__MAX_PENDING_LOGINS_PER_CLIENT",
            "10000000",
        ),
    ];
    all.extend_from_slice(vars);
    let gw = TestGateway::with(Options {
        vars: all
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Options::default()
    })
    .await;
    let settings = gw.state.config.store_settings;
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect_with(url, cluster, "pas", &settings)
            .await
            .unwrap(),
    );
    let state = AppState::new(
        (*gw.state.config).clone(),
        store,
        Arc::new(gw.clock.clone()),
        Arc::new(gw.sink.clone()),
    );
    state.seed().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(passerelle::http::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Served {
        base,
        settings,
        client,
        _gw: gw,
    }
}

/// Four clients in a loop (launches and subscription writes), one readiness probe every 50 ms.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
}

impl Load {
    fn start(served: &Served) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for w in 0..5 {
            let (stop, counter, client, base) = (
                stop.clone(),
                counter.clone(),
                served.client.clone(),
                served.base.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let kind = match (w, n % 2) {
                        (4, _) => "ready",
                        (_, 0) => "launch",
                        _ => "put",
                    };
                    answers.push(one(&client, &base, kind, n).await);
                    if kind == "ready" {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                answers
            }));
        }
        Self { stop, workers }
    }

    /// Every answer, in the order the requests were made.
    async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        let mut answers = Vec::new();
        for w in self.workers {
            answers.extend(w.await.unwrap());
        }
        answers.sort_by_key(|a| a.started);
        answers
    }
}

/// The value of an unlabelled row of `/metrics`.
async fn metric(served: &Served, name: &str) -> f64 {
    let text = served
        .client
        .get(format!("{}/metrics", served.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_killed_and_restarted_under_load_costs_its_outage_and_loses_nothing_acknowledged() {
    let mut redis = OwnRedis::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let served = serve_on(&redis.url(), &[]).await;
    let (settings, client, base) = (served.settings, served.client.clone(), served.base.clone());
    let load = Load::start(&served);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    tokio::task::block_in_place(|| redis.kill());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let relaunched = Instant::now();
    tokio::task::block_in_place(|| {
        redis.launch();
        while !redis.answers() {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let back = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answers = load.finish().await;

    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| {
            a.started > killed + Duration::from_millis(100) && a.started + a.took < relaunched
        })
        .collect();
    let after: Vec<&Answer> = answers.iter().filter(|a| a.started >= back).collect();
    let slowest = |v: &[&Answer], kind: &str| {
        v.iter()
            .filter(|a| a.kind == kind)
            .map(|a| a.took)
            .max()
            .unwrap_or_default()
    };
    let first_ok = after
        .iter()
        .find(|a| a.ok())
        .expect("a success after Redis came back");
    let recovered = first_ok.started + first_ok.took - back;
    eprintln!(
        "{} requests; {} during the outage (slowest launch {:?}, put {:?}, ready {:?}); first success {:?} after Redis answered; slowest ready overall {:?}",
        answers.len(),
        during.len(),
        slowest(&during, "launch"),
        slowest(&during, "put"),
        slowest(&during, "ready"),
        recovered,
        answers.iter().filter(|a| a.kind == "ready").map(|a| a.took).max().unwrap_or_default(),
    );

    // Before the kill, everything succeeded.
    for a in answers.iter().filter(|a| a.started + a.took < killed) {
        assert!(a.ok(), "before the kill: {a:?}");
    }
    // During the outage: every kind was asked, and each answer came at once, a 503 that says
    // when to come back; people get the French page with a reference.
    for kind in ["launch", "put", "ready"] {
        assert!(
            during.iter().any(|a| a.kind == kind),
            "no {kind} during the outage"
        );
    }
    for a in &during {
        let deadline = if a.kind == "ready" {
            settings.health_deadline
        } else {
            settings.call_deadline
        };
        assert!(
            a.took <= deadline + MARGIN,
            "{} took {:?} during the outage",
            a.kind,
            a.took
        );
        assert_eq!(a.status, 503, "{a:?}");
        assert_eq!(a.retry_after.as_deref(), Some("1"), "{a:?}");
    }
    let page = during.iter().find(|a| a.kind == "launch").unwrap();
    assert!(
        page.body.contains("lang=\"fr\"")
            && page.body.contains("Service momentanément indisponible"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Référence"), "{}", page.body);
    // The readiness probe never waits longer than its own deadline.
    for a in answers.iter().filter(|a| a.kind == "ready") {
        assert!(
            a.took <= settings.health_deadline + MARGIN,
            "ready took {:?}",
            a.took
        );
    }
    // Back within a second of Redis answering, and everything from then on succeeds.
    assert!(
        recovered <= Duration::from_secs(1),
        "first success {recovered:?} after Redis answered"
    );
    let settled: Vec<&&Answer> = after
        .iter()
        .filter(|a| a.started >= first_ok.started + first_ok.took)
        .collect();
    assert!(!settled.is_empty());
    for a in settled {
        assert!(a.ok(), "after recovery: {a:?}");
    }
    // Every subscription acknowledged (201), before, during or after the outage, is there.
    let acknowledged: Vec<&String> = answers
        .iter()
        .filter(|a| a.kind == "put" && a.status == 201)
        .filter_map(|a| a.id.as_ref())
        .collect();
    assert!(
        acknowledged.len() > 10,
        "{} acknowledged",
        acknowledged.len()
    );
    for id in &acknowledged {
        let resp = client
            .get(format!("{base}/abonnement/{id}"))
            .bearer_auth(PROVIDER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "acknowledged subscription {id} lost");
    }
    // The metrics saw it all.
    assert_eq!(metric(&served, "passerelle_store_up").await, 1.0);
    assert!(metric(&served, "passerelle_store_reconnects_total").await >= 1.0);
    assert!(metric(&served, "passerelle_store_failures_total").await >= 1.0);
    assert!(metric(&served, "passerelle_store_call_duration_seconds_count").await > 10.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_that_answers_nothing_costs_each_request_its_deadline_not_more() {
    let redis = OwnRedis::start();
    let served = serve_on(
        &redis.url(),
        &[
            ("PASSERELLE__STORE__CALL_DEADLINE_MS", "200"),
            ("PASSERELLE__STORE__HEALTH_DEADLINE_MS", "300"),
        ],
    )
    .await;
    let settings = served.settings;
    let load = Load::start(&served);
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.pause();
    // Answers already on their way when the signal landed may still arrive.
    let paused = Instant::now() + Duration::from_millis(50);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Down for /metrics while it is silent (the watcher's ping went unanswered).
    assert_eq!(metric(&served, "passerelle_store_up").await, 0.0);
    let resumed = Instant::now();
    redis.resume();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let answers = load.finish().await;

    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.started > paused && a.started + a.took < resumed)
        .collect();
    for kind in ["launch", "put", "ready"] {
        assert!(
            during.iter().any(|a| a.kind == kind),
            "no {kind} while Redis was silent"
        );
    }
    for a in &during {
        let deadline = if a.kind == "ready" {
            settings.health_deadline
        } else {
            settings.call_deadline
        };
        assert!(a.took <= deadline + MARGIN, "{} took {:?}", a.kind, a.took);
        assert_eq!(a.status, 503, "{a:?}");
        assert_eq!(a.retry_after.as_deref(), Some("1"), "{a:?}");
    }
    let slowest = during.iter().map(|a| a.took).max().unwrap_or_default();
    eprintln!(
        "{} requests while Redis was silent, the slowest answered in {slowest:?}",
        during.len()
    );
    // Once the watcher's ping has confirmed the silence, requests are not sent to Redis any
    // more: most are answered at once, not at their deadline.
    let known_down = paused + settings.call_deadline + settings.health_deadline + MARGIN;
    let mut later: Vec<Duration> = during
        .iter()
        .filter(|a| a.kind != "ready" && a.started > known_down)
        .map(|a| a.took)
        .collect();
    later.sort();
    assert!(!later.is_empty());
    let median = later[later.len() / 2];
    eprintln!(
        "{} requests once the silence was known, median {median:?}",
        later.len()
    );
    assert!(
        median < settings.call_deadline / 2,
        "answered at once once known down: median {median:?}"
    );
    // Once it answers again, so does the gateway.
    let after: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.started > resumed + Duration::from_millis(500))
        .collect();
    assert!(!after.is_empty());
    for a in after {
        assert!(a.ok(), "after Redis answered again: {a:?}");
    }
    assert!(metric(&served, "passerelle_store_deadline_hits_total").await >= 1.0);
    assert_eq!(metric(&served, "passerelle_store_up").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_primary_killed_fails_over_to_its_replica_and_the_gateway_serves_again() {
    let mut cluster = RedisCluster::start_with(1, 1000);
    let served = serve_on_store(&cluster.url(), true, &[]).await;
    let (settings, client, base) = (served.settings, served.client.clone(), served.base.clone());
    let load = Load::start(&served);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A primary other than the node the client was given.
    let victim = *cluster
        .primaries()
        .iter()
        .find(|p| **p != cluster.ports[0])
        .unwrap();
    let killed = Instant::now();
    tokio::task::block_in_place(|| cluster.kill(victim));
    // Its replica is promoted once the others find it silent (cluster-node-timeout, 1 s).
    let promoted = tokio::task::block_in_place(|| {
        for _ in 0..300 {
            let primaries = cluster.primaries();
            if primaries.len() == 3
                && !primaries.contains(&victim)
                && cluster
                    .ports
                    .iter()
                    .filter(|p| **p != victim)
                    .all(|p| cluster.ok_from(*p))
            {
                return Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no replica was promoted");
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answers = load.finish().await;

    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.started > killed && a.started < promoted)
        .collect();
    let first_ok_put = answers
        .iter()
        .find(|a| a.kind == "put" && a.started > promoted && a.ok())
        .expect("a subscription written after the failover");
    let failed_during = during.iter().filter(|a| !a.ok()).count();
    eprintln!(
        "{} requests; failover {:?} after the kill; {} requests during it ({} refused, slowest {:?}); first write {:?} after the promotion",
        answers.len(),
        promoted - killed,
        during.len(),
        failed_during,
        during.iter().map(|a| a.took).max().unwrap_or_default(),
        first_ok_put.started + first_ok_put.took - promoted,
    );
    // Before the kill, everything succeeded.
    for a in answers.iter().filter(|a| a.started + a.took < killed) {
        assert!(a.ok(), "before the kill: {a:?}");
    }
    // During the failover, every answer within its deadline: a success (slots on the other
    // primaries) or a 503 that says when to come back.
    for a in &during {
        let deadline = if a.kind == "ready" {
            settings.health_deadline
        } else {
            settings.call_deadline
        };
        assert!(a.took <= deadline + MARGIN, "{} took {:?}", a.kind, a.took);
        if !a.ok() {
            assert_eq!(a.status, 503, "{a:?}");
            assert_eq!(a.retry_after.as_deref(), Some("1"), "{a:?}");
        }
    }
    // Within a second of the promotion, and from then on, everything succeeds.
    let settled = promoted + Duration::from_secs(1);
    let after: Vec<&Answer> = answers.iter().filter(|a| a.started > settled).collect();
    assert!(after.len() > 10);
    for a in &after {
        assert!(a.ok(), "after the failover: {a:?}");
    }
    // What was acknowledged well before the kill had reached the replica; what was written
    // after the failover is there too (replication is asynchronous: the last writes before a
    // kill are bounded by the replication lag, see docs/operators.md).
    let kept: Vec<&String> = answers
        .iter()
        .filter(|a| a.kind == "put" && a.status == 201)
        .filter(|a| {
            a.started + a.took + Duration::from_millis(500) < killed || a.started > promoted
        })
        .filter_map(|a| a.id.as_ref())
        .collect();
    assert!(kept.len() > 10, "{} kept", kept.len());
    for id in kept {
        let resp = client
            .get(format!("{base}/abonnement/{id}"))
            .bearer_auth(PROVIDER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "acknowledged subscription {id} lost");
    }
}
