//! Back-channel logouts survive the node that started them: gateway nodes sharing one Redis,
//! CAS services over real sockets counting the `logoutRequest`s they receive. A node that
//! stops between two attempts leaves its delivery in the store's outbox, and another node sends
//! the next attempt once the lease ends; nodes polling the same outbox send each attempt once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use passerelle::app::AppState;
use passerelle::clock::{Clock, FixedClock};
use passerelle::flow::logout::{end, Ended};
use passerelle::session::{CasParty, Session};
use passerelle::trace::{MemorySink, TraceEvent};

use crate::support::gateway::*;
use crate::support::test_redis;

/// A CAS service's logout URL answering the `n`th request (from 1) with `status(n)`; answers
/// the tickets received, in order.
async fn service(status: fn(usize) -> u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/logout",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                let ticket = body
                    .split("SessionIndex%3E")
                    .nth(1)
                    .and_then(|r| r.split("%3C").next())
                    .unwrap_or_default()
                    .to_string();
                let n = {
                    let mut k = kept.lock().unwrap();
                    k.push(ticket);
                    k.len()
                };
                axum::http::StatusCode::from_u16(status(n)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/logout", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// A gateway node on the Redis keys under `prefix`, on `clock`, with its own trace.
struct Node {
    state: AppState,
    sink: MemorySink,
}

impl Node {
    async fn on(gw: &TestGateway, prefix: &str, clock: &FixedClock) -> Self {
        let sink = MemorySink::new();
        let state = AppState::new(
            (*gw.state.config).clone(),
            test_redis::store(prefix).await,
            Arc::new(clock.clone()),
            Arc::new(sink.clone()),
        );
        Self { state, sink }
    }

    /// Ends a session that gave tickets to the CAS services at `urls`.
    async fn end_session(&self, id: &str, urls: &[&str]) {
        let now = self.state.clock.now();
        let session = Session {
            id: id.into(),
            ent: "B0".parse().unwrap(),
            person_id: "ens-0001".into(),
            authenticated_at: now,
            expires_at: now + chrono::Duration::hours(6),
            launches: vec![],
            ent_session: None,
            relying_parties: Vec::new(),
            cas_services: urls
                .iter()
                .map(|u| CasParty {
                    provider: "test-editeur".into(),
                    logout_url: (*u).to_string(),
                    ticket: format!("ST-{id}"),
                })
                .collect(),
            saml_parties: Vec::new(),
        };
        end(&self.state.deps(), &session, Ended::EntLogout)
            .await
            .unwrap();
    }

    /// The (delivered, attempts) of the CAS logouts this node traced.
    fn sent(&self) -> Vec<(bool, u32)> {
        self.sink
            .events()
            .into_iter()
            .filter_map(|e| match e {
                TraceEvent::LogoutSent {
                    protocol: "cas",
                    delivered,
                    attempts,
                    ..
                } => Some((delivered, attempts)),
                _ => None,
            })
            .collect()
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

fn clock() -> FixedClock {
    FixedClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap())
}

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(passerelle::app::LOGOUT_LEASE).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_between_attempts_leaves_the_next_to_another_node() {
    let gw = TestGateway::new().await;
    let prefix = test_redis::prefix();
    let clock = clock();
    let (url, got) = service(|n| if n == 1 { 500 } else { 200 }).await;
    let a = Node::on(&gw, &prefix, &clock).await;
    a.end_session("s-a", &[&url]).await;
    // The first attempt goes out at once, and fails; node A records it, then stops before
    // the second.
    until("the first attempt", || got.lock().unwrap().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.state.stop_logout_outbox();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "A sent nothing more");

    // Node B polls: A's lease beyond the second attempt's due time holds it back until it ends.
    let b = Node::on(&gw, &prefix, &clock).await;
    let worker = b.state.spawn_logout_outbox();
    tokio::time::sleep(passerelle::app::LOGOUT_POLL * 3).await;
    assert_eq!(got.lock().unwrap().len(), 1, "held by A's lease");
    clock.advance(chrono::Duration::seconds(1) + lease());
    until("B's attempt", || !b.sent().is_empty()).await;
    assert_eq!(b.sent(), [(true, 2)], "the second attempt, delivered");
    assert_eq!(*got.lock().unwrap(), ["ST-s-a", "ST-s-a"]);
    assert!(a.sent().is_empty(), "A traced nothing: it did not finish");

    // Delivered: gone from the store; nothing is sent again, whenever.
    clock.advance(chrono::Duration::minutes(5));
    tokio::time::sleep(passerelle::app::LOGOUT_POLL * 3).await;
    assert_eq!(got.lock().unwrap().len(), 2);
    let left = b
        .state
        .store
        .outbox_claim_due(clock.now(), Duration::from_secs(1), 10)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    worker.abort();
    test_redis::cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_before_the_first_attempt_leaves_it_to_another_node() {
    let gw = TestGateway::new().await;
    let prefix = test_redis::prefix();
    let clock = clock();
    let (url, got) = service(|_| 200).await;
    let a = Node::on(&gw, &prefix, &clock).await;
    a.state.stop_logout_outbox();
    a.end_session("s-first", &[&url]).await;
    let b = Node::on(&gw, &prefix, &clock).await;
    let worker = b.state.spawn_logout_outbox();
    tokio::time::sleep(passerelle::app::LOGOUT_POLL * 3).await;
    assert!(got.lock().unwrap().is_empty(), "written, held by A's lease");
    clock.advance(lease());
    until("B's attempt", || !b.sent().is_empty()).await;
    assert_eq!(b.sent(), [(true, 1)]);
    assert_eq!(*got.lock().unwrap(), ["ST-s-first"]);
    worker.abort();
    test_redis::cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_polling_one_outbox_send_each_attempt_once() {
    const SESSIONS: usize = 20;
    let gw = TestGateway::new().await;
    let prefix = test_redis::prefix();
    let clock = clock();
    let (ok, delivered) = service(|_| 200).await;
    let (failing, refused) = service(|_| 500).await;
    // A node stopped before its sessions end: their deliveries wait in the store.
    let dead = Node::on(&gw, &prefix, &clock).await;
    dead.state.stop_logout_outbox();
    for i in 0..SESSIONS {
        dead.end_session(&format!("s{i}"), &[&ok, &failing]).await;
    }
    // Two live nodes poll (more deliveries than one claims at a time); then the dead node's
    // leases end.
    let (a, b) = (
        Node::on(&gw, &prefix, &clock).await,
        Node::on(&gw, &prefix, &clock).await,
    );
    let workers = [a.state.spawn_logout_outbox(), b.state.spawn_logout_outbox()];
    clock.advance(lease());
    until("every delivery traced", || {
        a.sent().len() + b.sent().len() == 2 * SESSIONS
    })
    .await;
    let mut sent = a.sent();
    sent.extend(b.sent());
    sent.sort();
    let mut expected = vec![(false, 3); SESSIONS];
    expected.extend(vec![(true, 1); SESSIONS]);
    assert_eq!(sent, expected);
    // Exactly one request per session to the service that answers, three to the one that
    // fails; nothing more comes.
    tokio::time::sleep(passerelle::app::LOGOUT_POLL * 3).await;
    let count = |got: &Arc<Mutex<Vec<String>>>, ticket: &str| {
        got.lock().unwrap().iter().filter(|t| *t == ticket).count()
    };
    for i in 0..SESSIONS {
        let ticket = format!("ST-s{i}");
        assert_eq!(count(&delivered, &ticket), 1, "{ticket}");
        assert_eq!(count(&refused, &ticket), 3, "{ticket}");
    }
    eprintln!(
        "deliveries sent by node A: {}, by node B: {}",
        a.sent().len(),
        b.sent().len()
    );

    // Sessions ended on a live node: it sends every attempt itself, the other polling node
    // none.
    let (by_a, by_b) = (a.sent().len(), b.sent().len());
    for i in 0..4 {
        a.end_session(&format!("live{i}"), &[&ok, &failing]).await;
    }
    until("the live node's deliveries traced", || {
        a.sent().len() + b.sent().len() == 2 * SESSIONS + 8
    })
    .await;
    tokio::time::sleep(passerelle::app::LOGOUT_POLL * 3).await;
    assert_eq!((a.sent().len(), b.sent().len()), (by_a + 8, by_b));
    for i in 0..4 {
        let ticket = format!("ST-live{i}");
        assert_eq!(count(&delivered, &ticket), 1, "{ticket}");
        assert_eq!(count(&refused, &ticket), 3, "{ticket}");
    }
    for w in workers {
        w.abort();
    }
    test_redis::cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_ended_and_was_taken_over_sends_nothing_more() {
    let gw = TestGateway::new().await;
    let prefix = test_redis::prefix();
    let clock = clock();
    let (url, got) = service(|_| 500).await;
    let (a, b) = (
        Node::on(&gw, &prefix, &clock).await,
        Node::on(&gw, &prefix, &clock).await,
    );
    let workers = [a.state.spawn_logout_outbox(), b.state.spawn_logout_outbox()];
    a.end_session("s-taken", &[&url]).await;
    until("the first attempt", || got.lock().unwrap().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While A waits for its second attempt, its lease ends (as if A had hung): a worker takes
    // the delivery over, and A, finding the record no longer its own, stops.
    clock.advance(chrono::Duration::seconds(1) + lease());
    until("every attempt traced", || {
        a.sent().len() + b.sent().len() == 1
    })
    .await;
    let mut sent = a.sent();
    sent.extend(b.sent());
    assert_eq!(sent, [(false, 3)]);
    eprintln!(
        "traced by node A: {}, by node B: {}",
        a.sent().len(),
        b.sent().len()
    );
    tokio::time::sleep(passerelle::app::LOGOUT_POLL * 3).await;
    assert_eq!(got.lock().unwrap().len(), 3, "each attempt once");
    assert_eq!(a.sent().len() + b.sent().len(), 1, "traced once");
    for w in workers {
        w.abort();
    }
    test_redis::cleanup(&prefix).await;
}
