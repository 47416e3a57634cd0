//! `[limits]`: what a stranger can make one gateway node do. Connections open at once and
//! how soon they must speak, request timeouts, the number of requests served at once, per-client rates on the endpoints that start logins or verify
//! signatures, pending logins per client, and how often the ENT chooser's school index is
//! rebuilt. The request-time side lives in `http::limits`.

use std::time::Duration;

use ipnet::IpNet;

use super::ctx::Ctx;
use super::raw::RawLimits;

/// The validated limits.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Longest a request may take, body included (`request_timeout_seconds`, default 30).
    pub request_timeout: Duration,
    /// Longest a directory upload may take (`upload_timeout_seconds`, default 600).
    pub upload_timeout: Duration,
    /// Requests served at once by this node; the next ones get 503 (`max_in_flight`, 1024).
    pub max_in_flight: usize,
    /// Sustained rate of one client on the login and signature endpoints
    /// (`login_rate_per_minute`, default 600: a class of 30 behind one NAT opening 20
    /// resources each within a minute).
    pub login_rate_per_minute: u32,
    /// How many such requests one client may make at once before the rate applies
    /// (`login_burst`, default 200).
    pub login_burst: u32,
    /// Logins one client may have started and not finished within `saml.request_ttl_seconds`
    /// (`max_pending_logins_per_client`, default 2000).
    pub max_pending_logins_per_client: u32,
    /// Clients tracked at once by this node; beyond, the least recently seen are forgotten
    /// (`max_tracked_clients`, default 100,000).
    pub max_tracked_clients: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`trusted_forwarders`,
    /// IPs or CIDR ranges; the addresses of `server.trusted_proxy` are trusted too).
    pub trusted_forwarders: Vec<IpNet>,
    /// How old the ENT chooser's school index may get (`chooser_refresh_seconds`, default 60).
    pub chooser_refresh: Duration,
    /// Connections open at once on each listener; the next wait in the kernel's backlog
    /// (`max_connections`, default 10,000; keep it under the process's file descriptors).
    pub max_connections: usize,
    /// Longest a TLS handshake or a request head may take to arrive
    /// (`header_read_timeout_seconds`, default 10).
    pub header_read_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(600),
            max_in_flight: 1024,
            login_rate_per_minute: 600,
            login_burst: 200,
            max_pending_logins_per_client: 2000,
            max_tracked_clients: 100_000,
            trusted_forwarders: Vec::new(),
            chooser_refresh: Duration::from_secs(60),
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

fn at_least_one<T: Copy + PartialOrd + From<u8>>(
    cx: &mut Ctx<'_>,
    key: &str,
    value: Option<T>,
    default: T,
) -> T {
    let v = value.unwrap_or(default);
    if v < T::from(1) {
        cx.problem(format!("limits.{key}"), "must be at least 1");
    }
    v
}

pub(super) fn limits(cx: &mut Ctx<'_>, raw: &RawLimits) -> LimitsConfig {
    let d = LimitsConfig::default();
    let secs = |d: Duration| d.as_secs();
    let request_timeout = at_least_one(
        cx,
        "request_timeout_seconds",
        raw.request_timeout_seconds,
        secs(d.request_timeout),
    );
    let upload_timeout = at_least_one(
        cx,
        "upload_timeout_seconds",
        raw.upload_timeout_seconds,
        secs(d.upload_timeout),
    );
    let chooser_refresh = at_least_one(
        cx,
        "chooser_refresh_seconds",
        raw.chooser_refresh_seconds,
        secs(d.chooser_refresh),
    );
    let header_read_timeout = at_least_one(
        cx,
        "header_read_timeout_seconds",
        raw.header_read_timeout_seconds,
        secs(d.header_read_timeout),
    );
    let mut trusted_forwarders = Vec::new();
    for (i, a) in raw.trusted_forwarders.iter().flatten().enumerate() {
        match super::trusted_proxy::parse_range(a) {
            Ok(n) => trusted_forwarders.push(n),
            Err(m) => cx.problem(format!("limits.trusted_forwarders.{i}"), m),
        }
    }
    LimitsConfig {
        request_timeout: Duration::from_secs(request_timeout),
        upload_timeout: Duration::from_secs(upload_timeout),
        max_in_flight: at_least_one(cx, "max_in_flight", raw.max_in_flight, d.max_in_flight),
        login_rate_per_minute: at_least_one(
            cx,
            "login_rate_per_minute",
            raw.login_rate_per_minute,
            d.login_rate_per_minute,
        ),
        login_burst: at_least_one(cx, "login_burst", raw.login_burst, d.login_burst),
        max_pending_logins_per_client: at_least_one(
            cx,
            "max_pending_logins_per_client",
            raw.max_pending_logins_per_client,
            d.max_pending_logins_per_client,
        ),
        max_tracked_clients: at_least_one(
            cx,
            "max_tracked_clients",
            raw.max_tracked_clients,
            d.max_tracked_clients,
        ),
        trusted_forwarders,
        chooser_refresh: Duration::from_secs(chooser_refresh),
        max_connections: at_least_one(
            cx,
            "max_connections",
            raw.max_connections,
            d.max_connections,
        ),
        header_read_timeout: Duration::from_secs(header_read_timeout),
    }
}
