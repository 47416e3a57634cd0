//! `[metrics]`: who may read `GET /metrics`, and `[admin]`: who may operate the gateway
//! (`POST /admin/reload`, `POST /admin/metadata/refresh`, `GET /health/metadata`; without an
//! `[admin]` section, those allowed by `[metrics]`). Peers in `allow` (IPs or CIDR ranges, the
//! TCP peer of the connection), or anyone presenting the bearer token of `token_file`.
//!
//! Defaults: with no token, loopback only (`127.0.0.0/8`, `::1/128`); with a token, nobody
//! without it unless `allow` lists them. Everyone else is answered 404.

use std::net::IpAddr;

use ipnet::IpNet;

use super::ctx::Ctx;
use super::raw::RawMetrics;
use super::Secret;

/// Who may read the metrics.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub allow: Vec<IpNet>,
    pub token: Option<Secret>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            allow: loopback(),
            token: None,
        }
    }
}

fn loopback() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

impl MetricsConfig {
    /// Whether a connection from `peer` (`None`: unknown) presenting `bearer` may read them.
    /// The token is compared in constant time.
    pub fn allows(&self, peer: Option<IpAddr>, bearer: Option<&str>) -> bool {
        let by_peer = peer.is_some_and(|p| {
            let p = p.to_canonical();
            self.allow.iter().any(|n| n.contains(&p))
        });
        let by_token = matches!((&self.token, bearer), (Some(t), Some(b)) if t.matches(b));
        by_peer || by_token
    }
}

pub(super) fn metrics(cx: &mut Ctx<'_>, raw: Option<&RawMetrics>) -> MetricsConfig {
    match raw {
        Some(raw) => access(cx, "metrics", raw),
        None => MetricsConfig::default(),
    }
}

/// `[admin]`, when written.
pub(super) fn admin(cx: &mut Ctx<'_>, raw: Option<&RawMetrics>) -> Option<MetricsConfig> {
    raw.map(|raw| access(cx, "admin", raw))
}

/// Who the table `section` (`[metrics]` or `[admin]`) lets in.
fn access(cx: &mut Ctx<'_>, section: &str, raw: &RawMetrics) -> MetricsConfig {
    let token = raw.token_file.as_ref().and_then(|f| {
        let key = format!("{section}.token_file");
        let s = cx
            .read(&key, f)
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())?;
        if s.len() < 32 {
            cx.problem(
                key,
                "the token must be at least 32 characters (e.g. `openssl rand -hex 32`)",
            );
            return None;
        }
        Some(Secret::new(s))
    });
    let allow = match &raw.allow {
        None if raw.token_file.is_some() => Vec::new(),
        None => loopback(),
        Some(list) => {
            let mut nets = Vec::new();
            for (i, a) in list.iter().enumerate() {
                match super::trusted_proxy::parse_range(a) {
                    Ok(n) => nets.push(n),
                    Err(m) => cx.problem(format!("{section}.allow.{i}"), m),
                }
            }
            nets
        }
    };
    MetricsConfig { allow, token }
}
