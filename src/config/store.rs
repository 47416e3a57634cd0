//! `[store]`: where shared state lives (memory, or a Redis URL, single node or cluster, and
//! the key prefix) and how long the gateway waits for it ([`StoreSettings`]).

use std::time::Duration;

use super::ctx::Ctx;
use super::raw::RawStore;
use super::StoreConfig;
use crate::store::StoreSettings;

/// Where shared state lives: memory without a URL, else Redis under the key prefix.
pub(super) fn store(cx: &mut Ctx<'_>, raw: &RawStore) -> Option<StoreConfig> {
    let prefix = raw
        .key_prefix
        .clone()
        .unwrap_or_else(|| "passerelle".into());
    if prefix.is_empty() || prefix.contains(['{', '}', ' ']) {
        cx.problem(
            "store.key_prefix",
            "must be non-empty, without braces or spaces",
        );
    }
    let url = match (&raw.redis_url, &raw.redis_url_file) {
        (Some(_), Some(_)) => {
            cx.problem(
                "store.redis_url",
                "set redis_url or redis_url_file, not both",
            );
            return None;
        }
        (Some(u), None) => Some(u.clone()),
        (None, Some(f)) => cx
            .read("store.redis_url_file", f)
            .map(|b| String::from_utf8_lossy(&b).trim().to_string()),
        (None, None) => None,
    };
    match url {
        None => Some(StoreConfig::Memory),
        Some(u) if u.is_empty() => Some(StoreConfig::Memory),
        Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {
            Some(StoreConfig::Redis {
                url: u,
                cluster: raw.redis_cluster.unwrap_or(false),
                prefix,
            })
        }
        Some(_) => {
            cx.problem("store.redis_url", "must start with redis:// or rediss://");
            None
        }
    }
}

/// A duration key in `[1, max]` of its unit; the default when absent.
fn bounded(
    cx: &mut Ctx<'_>,
    key: &str,
    value: Option<u64>,
    default: Duration,
    unit: fn(u64) -> Duration,
    max: u64,
) -> Duration {
    match value {
        None => default,
        Some(v) if (1..=max).contains(&v) => unit(v),
        Some(_) => {
            cx.problem(
                format!("store.{key}"),
                format!("must be between 1 and {max}"),
            );
            default
        }
    }
}

/// The store's timings: deadlines of the request path, of bulk work and of `/health/ready`,
/// and the longest wait between reconnection attempts.
pub(super) fn settings(cx: &mut Ctx<'_>, raw: &RawStore) -> StoreSettings {
    let d = StoreSettings::default();
    let ms = Duration::from_millis;
    let s = StoreSettings {
        call_deadline: bounded(
            cx,
            "call_deadline_ms",
            raw.call_deadline_ms,
            d.call_deadline,
            ms,
            60_000,
        ),
        bulk_deadline: bounded(
            cx,
            "bulk_deadline_seconds",
            raw.bulk_deadline_seconds,
            d.bulk_deadline,
            Duration::from_secs,
            3600,
        ),
        health_deadline: bounded(
            cx,
            "health_deadline_ms",
            raw.health_deadline_ms,
            d.health_deadline,
            ms,
            60_000,
        ),
        reconnect_max_delay: bounded(
            cx,
            "reconnect_max_delay_ms",
            raw.reconnect_max_delay_ms,
            d.reconnect_max_delay,
            ms,
            60_000,
        ),
        durable_replicas: match raw.durable_replicas {
            Some(n) if n > 16 => {
                cx.problem("store.durable_replicas", "at most 16");
                d.durable_replicas
            }
            Some(n) => n,
            None => d.durable_replicas,
        },
        durable_wait: bounded(
            cx,
            "durable_wait_ms",
            raw.durable_wait_ms,
            d.durable_wait,
            ms,
            60_000,
        ),
    };
    if s.durable_replicas > 0 && s.durable_wait >= s.call_deadline {
        cx.problem(
            "store.durable_wait_ms",
            "must be shorter than store.call_deadline_ms (the WAIT is one round trip of the request)",
        );
    }
    if s.bulk_deadline < s.call_deadline {
        cx.problem(
            "store.bulk_deadline_seconds",
            "must not be shorter than store.call_deadline_ms",
        );
    }
    s
}
