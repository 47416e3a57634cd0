//! The store contract against a real Redis Cluster: three `redis-server` processes in cluster
//! mode on free loopback ports, joined with `redis-cli --cluster create`, started and stopped
//! by this test. Multi-key operations must stay within one slot (hash tags), or the cluster
//! refuses them: this is what the test proves.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use passerelle::store::{RedisStore, Store};

use crate::support::audience_contract;
use crate::support::contract;

struct Cluster {
    nodes: Vec<Child>,
    _dir: tempfile::TempDir,
    ports: Vec<u16>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.kill();
            let _ = n.wait();
        }
    }
}

fn free_port() -> u16 {
    // Cluster nodes also listen on port + 10000: pick ports whose bus port is free too.
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 55000 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

fn start_cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    for port in &ports {
        let node_dir = dir.path().join(port.to_string());
        std::fs::create_dir_all(&node_dir).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&node_dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh installs it)");
        nodes.push(child);
    }
    let cluster = Cluster {
        nodes,
        _dir: dir,
        ports,
    };
    for port in &cluster.ports {
        wait_for(|| {
            Command::new("redis-cli")
                .args(["-p", &port.to_string(), "ping"])
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
        });
    }
    let addrs: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let out = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cluster create failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    wait_for(|| {
        Command::new("redis-cli")
            .args(["-p", &cluster.ports[0].to_string(), "cluster", "info"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
    });
    cluster
}

fn wait_for(ready: impl Fn() -> bool) {
    for _ in 0..100 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the Redis cluster did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_contract_holds_on_a_redis_cluster() {
    let cluster = start_cluster();
    let url = format!("redis://127.0.0.1:{}", cluster.ports[0]);
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&url, true, "pas-cluster")
            .await
            .unwrap(),
    );
    contract::sessions(store.clone()).await;
    contract::pending_logins(store.clone()).await;
    contract::remember_once(store.clone()).await;
    contract::tokens(store.clone()).await;
    contract::directories(store.clone()).await;
    contract::school_bindings(Arc::new(
        RedisStore::connect(&url, true, "pas-cluster-sb")
            .await
            .unwrap(),
    ))
    .await;
    contract::catalogue(store.clone()).await;
    contract::subscriptions(store.clone()).await;
    contract::assignments(store.clone()).await;
    // From empty: the stamps of schools nothing was written for yet are zero.
    contract::listing_stamps(Arc::new(
        RedisStore::connect(&url, true, "pas-cluster-lst")
            .await
            .unwrap(),
    ))
    .await;
    contract::health(store.clone()).await;
    // The audience keys share one slot: the counting script and the stream work in a cluster.
    // Each part of that contract starts from empty counts, under a prefix of its own.
    let fresh = |name: &'static str| {
        let url = url.clone();
        async move {
            let s: Arc<dyn Store> = Arc::new(
                RedisStore::connect(&url, true, &format!("pas-cluster-{name}"))
                    .await
                    .unwrap(),
            );
            s
        }
    };
    audience_contract::double_clicks_and_redelivery(fresh("a").await).await;
    audience_contract::late_and_cross_midnight_clicks(fresh("b").await).await;
    audience_contract::stream_groups_and_claims(fresh("c").await).await;
    audience_contract::day_salts(fresh("d").await).await;
    // Keys really are spread: sessions land on more than one node.
    for i in 0..50 {
        store
            .put_session(
                &contract_session(&format!("spread-{i}")),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
    }
    let counts: Vec<u64> = cluster
        .ports
        .iter()
        .map(|p| {
            String::from_utf8_lossy(
                &Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "dbsize"])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .trim()
            .parse()
            .unwrap()
        })
        .collect();
    assert!(
        counts.iter().filter(|&&c| c > 0).count() >= 2,
        "keys on one node only: {counts:?}"
    );
    drop(cluster);
}

fn contract_session(id: &str) -> passerelle::session::Session {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z")
        .unwrap()
        .into();
    passerelle::session::Session {
        id: id.into(),
        ent: "B0".parse().unwrap(),
        person_id: "p".into(),
        authenticated_at: now,
        expires_at: now + chrono::Duration::hours(1),
        launches: vec![],
        ent_session: None,
        relying_parties: Vec::new(),
        cas_services: Vec::new(),
        saml_parties: Vec::new(),
    }
}
