//! What a stranger can make one node do, counted: which endpoints are worth limiting, the
//! per-client rate on them, pending logins per client, and the metrics of every refusal.
//! The HTTP side (timeouts, the in-flight bound, the answers) is `http::limits`.
//!
//! The counts are per node: a client spread over several nodes gets each node's allowance,
//! which is what each node can afford.

pub mod bucket;
pub mod client;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

pub use bucket::Empty;
pub use client::ClientKey;

use crate::config::Config;
use bucket::{Buckets, Rate};

/// What an endpoint costs a node, for the rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// Starts a login or verifies a signature: counted against the client's rate.
    Expensive,
    /// Anything else: bounded only by the in-flight limit and the timeout.
    Ordinary,
}

/// Paths that start a login at an ENT, verify an XML signature or a client's credentials.
const EXPENSIVE: &[&str] = &[
    "/domaineGar",
    "/affectations",
    "/saml/acs",
    "/ent/oidc/callback",
    "/idp/profile/SAML2/Redirect/SSO",
    "/idp/profile/SAML2/POST/SSO",
    "/oidc/authorize",
    "/oidc/oidcAuthorize",
    "/oidc/choose-ent",
    "/oidc/token",
    "/oidc/oidcAccessToken",
    "/oidc/introspect",
    "/oidc/revoke",
];

/// Whether `path` (without its query) is one of the expensive endpoints: those above, and the
/// CAS `/login` under whatever `[cas] path_prefix`.
pub fn cost(path: &str) -> Cost {
    if EXPENSIVE.contains(&path) || path.ends_with("/login") {
        Cost::Expensive
    } else {
        Cost::Ordinary
    }
}

/// Refusals and timeouts, for `/metrics`.
#[derive(Debug, Default)]
pub struct LimitMetrics {
    pub rate_refused: AtomicU64,
    pub pending_refused: AtomicU64,
    pub busy_refused: AtomicU64,
    pub timed_out: AtomicU64,
}

/// This node's limits and counts.
pub struct Limiter {
    forwarders: Vec<IpNet>,
    rate: Buckets,
    pending: Buckets,
    /// Requests served at once (`limits.max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    pub max_in_flight: usize,
    pub metrics: LimitMetrics,
    last_busy_log_ms: AtomicI64,
    open_connections: Arc<AtomicU64>,
}

/// An open connection, counted until dropped.
pub struct OpenConnection(Arc<AtomicU64>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limiter {
    pub fn new(config: &Config) -> Self {
        let l = &config.limits;
        let mut forwarders = l.trusted_forwarders.clone();
        if let Some(p) = &config.trusted_proxy {
            forwarders.extend(p.addresses.iter().copied());
        }
        Self {
            forwarders,
            rate: Buckets::new(
                Rate::new(
                    l.login_rate_per_minute,
                    Duration::from_secs(60),
                    l.login_burst,
                ),
                l.max_tracked_clients,
            ),
            pending: Buckets::new(
                Rate::new(
                    l.max_pending_logins_per_client,
                    config.saml.request_ttl,
                    l.max_pending_logins_per_client,
                ),
                l.max_tracked_clients,
            ),
            in_flight: Arc::new(tokio::sync::Semaphore::new(l.max_in_flight)),
            max_in_flight: l.max_in_flight,
            metrics: LimitMetrics::default(),
            last_busy_log_ms: AtomicI64::new(i64::MIN),
            open_connections: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts one more open connection, until the guard is dropped.
    pub fn open_connection(&self) -> OpenConnection {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.open_connections.clone())
    }

    /// Connections open now, on every listener of this node.
    pub fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// Whether a request refused because the node is full should be logged at `now_ms`:
    /// once every ten seconds, so that a flood does not become a flood of log lines.
    pub fn log_busy(&self, now_ms: i64) -> bool {
        let last = self.last_busy_log_ms.load(Ordering::Relaxed);
        now_ms.saturating_sub(last) >= 10_000
            && self
                .last_busy_log_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// The client behind a connection from `peer` with these `X-Forwarded-For` values.
    pub fn client<'a>(
        &self,
        peer: Option<std::net::IpAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> ClientKey {
        ClientKey::behind(peer, forwarded_for, &self.forwarders)
    }

    /// One request of `client` to an expensive endpoint at `now_ms`.
    pub fn expensive(&self, client: ClientKey, now_ms: i64) -> Result<(), Empty> {
        self.rate.take(client, now_ms).inspect_err(|_| {
            self.metrics.rate_refused.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// One more pending login of `client` at `now_ms`: at most
    /// `limits.max_pending_logins_per_client` within `saml.request_ttl_seconds`.
    pub fn pending_login(&self, client: ClientKey, now_ms: i64) -> Result<(), Empty> {
        self.pending.take(client, now_ms).inspect_err(|_| {
            self.metrics.pending_refused.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Clients tracked by the rate limit and the pending-login limit, and those forgotten
    /// early to keep the tables bounded.
    pub fn tracked(&self) -> (usize, u64) {
        (
            self.rate.tracked() + self.pending.tracked(),
            self.rate.evicted.load(Ordering::Relaxed)
                + self.pending.evicted.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expensive_endpoints_are_the_login_and_signature_ones() {
        assert_eq!(cost("/domaineGar"), Cost::Expensive);
        assert_eq!(cost("/saml/acs"), Cost::Expensive);
        assert_eq!(cost("/oidc/token"), Cost::Expensive);
        assert_eq!(cost("/health/live"), Cost::Ordinary);
        assert_eq!(cost("/ressources/B0/0561641E/p"), Cost::Ordinary);
    }
}
