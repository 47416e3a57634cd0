//! A Redis Cluster of the test's own: `redis-server` processes in cluster mode on free loopback
//! ports (each with its bus port free too), joined with `redis-cli --cluster create`, with or
//! without a replica per primary; a node can be killed (`kill -9`) to see its replica promoted.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisCluster {
    nodes: Vec<(u16, Child)>,
    _dir: tempfile::TempDir,
    pub ports: Vec<u16>,
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, n) in &mut self.nodes {
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

fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl RedisCluster {
    /// Three primaries, without replicas.
    pub fn start() -> Self {
        Self::start_with(0, 15_000)
    }

    /// Three primaries with `replicas` replicas each; a primary silent for `node_timeout_ms` is
    /// failed over.
    pub fn start_with(replicas: usize, node_timeout_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3 * (1 + replicas)).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for port in &ports {
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
                .args(["--cluster-node-timeout", &node_timeout_ms.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (scripts/setup.sh installs it)");
            nodes.push((*port, child));
        }
        let cluster = Self {
            nodes,
            _dir: dir,
            ports,
        };
        for port in &cluster.ports {
            wait_for(|| cli(*port, &["ping"]).starts_with("PONG"));
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
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for port in &cluster.ports {
            wait_for(|| cli(*port, &["cluster", "info"]).contains("cluster_state:ok"));
        }
        // Every replica has taken its role and synced with its primary (one that has not would
        // never be promoted, and a node still a primary without slots would pass for one).
        wait_for(|| {
            let synced = cluster
                .ports
                .iter()
                .filter(|p| {
                    let info = cli(**p, &["info", "replication"]);
                    info.contains("role:slave") && info.contains("master_link_status:up")
                })
                .count();
            synced == 3 * replicas && cluster.primaries().len() == 3
        });
        cluster
    }

    /// A URL of one of the nodes, for the cluster client.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0])
    }

    /// The ports of the primaries, as the cluster sees them now.
    /// (A primary serves slots: a node that says it is a primary but serves none is not one.)
    pub fn primaries(&self) -> Vec<u16> {
        self.ports
            .iter()
            .copied()
            .filter(|p| serves_slots(*p))
            .collect()
    }

    /// Kills the node on `port` with `kill -9`.
    pub fn kill(&mut self, port: u16) {
        if let Some((_, child)) = self.nodes.iter_mut().find(|(p, _)| *p == port) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the cluster, seen from the node on `port`, serves every slot again.
    pub fn ok_from(&self, port: u16) -> bool {
        cli(port, &["cluster", "info"]).contains("cluster_state:ok")
    }
}

/// Whether the node on `port` is a primary that serves slots, by its own `CLUSTER NODES` line
/// (`<id> <addr> myself,master <-> <ping> <pong> <epoch> <link> <slot ranges...>`).
fn serves_slots(port: u16) -> bool {
    cli(port, &["cluster", "nodes"]).lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 8
            && fields[2].split(',').any(|f| f == "myself")
            && fields[2].contains("master")
    })
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
