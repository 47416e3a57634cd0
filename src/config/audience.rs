//! `[audience]` and `[audience_readers.<key>]`: the audience pipeline's settings and who may
//! read the reports.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ctx::Ctx;
use super::raw::{RawAudience, RawConfig};
use crate::audience::{AudienceSettings, MatomoSettings, WhenFull};

/// DNMA dimensions the Matomo forwarder knows.
const DIMENSIONS: [&str; 9] = [
    "SERVICE",
    "TYPE",
    "OUTIL",
    "UAI",
    "PROJET",
    "PROFIL",
    "CANAL",
    "TERMINAL",
    "RESSOURCE",
];

pub(super) fn audience(cx: &mut Ctx<'_>, raw: &RawConfig) -> AudienceSettings {
    let mut s = AudienceSettings::default();
    let Some(a) = raw.audience.as_ref() else {
        return s;
    };
    settings(cx, a, &mut s);
    s
}

fn settings(cx: &mut Ctx<'_>, a: &RawAudience, s: &mut AudienceSettings) {
    if let Some(tz) = &a.timezone {
        match tz.parse::<chrono_tz::Tz>() {
            Ok(tz) => s.timezone = tz,
            Err(_) => cx.problem(
                "audience.timezone",
                format!("« {tz} » is not an IANA time zone (e.g. Europe/Paris)"),
            ),
        }
    }
    if let Some(n) = a.buffer_capacity {
        if n == 0 {
            cx.problem("audience.buffer_capacity", "must be at least 1");
        }
        s.buffer_capacity = n;
    }
    match a.when_full.as_deref() {
        None | Some("drop_oldest") => s.when_full = WhenFull::DropOldest,
        Some("drop_newest") => s.when_full = WhenFull::DropNewest,
        Some(other) => cx.problem(
            "audience.when_full",
            format!("« {other} »: expected drop_oldest or drop_newest"),
        ),
    }
    if let Some(n) = a.batch_size {
        if !(1..=5000).contains(&n) {
            cx.problem("audience.batch_size", "must be between 1 and 5000");
        }
        s.batch_size = n;
    }
    if let Some(n) = a.counters {
        if !(1..=16).contains(&n) {
            cx.problem("audience.counters", "must be between 1 and 16");
        }
        s.counters = n;
    }
    if let Some(n) = a.window_events {
        if !(1..=100_000).contains(&n) {
            cx.problem("audience.window_events", "must be between 1 and 100000");
        }
        s.window_events = n;
    }
    if let Some(n) = a.claim_idle_seconds {
        if n == 0 {
            cx.problem("audience.claim_idle_seconds", "must be at least 1");
        }
        s.claim_idle = Duration::from_secs(n);
    }
    if let Some(h) = a.dedup_hours {
        if h == 0 {
            cx.problem("audience.dedup_hours", "must be at least 1");
        }
        s.dedup = Duration::from_secs(h * 3600);
    }
    if let Some(d) = a.retention_days {
        if d == 0 {
            cx.problem("audience.retention_days", "must be at least 1");
        }
        s.retention = Duration::from_secs(d * 24 * 3600);
    }
    if let Some(k) = a.min_visitors {
        s.min_visitors = k;
    }
    if let Some(ms) = a.poll_interval_ms {
        s.poll_interval = Duration::from_millis(ms.max(1));
    }
    if let Some(m) = &a.matomo {
        s.matomo = matomo(cx, m);
    }
}

fn loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn matomo(cx: &mut Ctx<'_>, m: &super::raw::RawMatomo) -> Option<MatomoSettings> {
    let url =
        cx.required("audience.matomo.url", m.url.clone())
            .and_then(|u| match url::Url::parse(&u) {
                Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && loopback(&u)) => Some(u),
                Ok(_) => {
                    cx.problem(
                        "audience.matomo.url",
                        "must be https (http only on loopback)",
                    );
                    None
                }
                Err(e) => {
                    cx.problem("audience.matomo.url", format!("not a URL: {e}"));
                    None
                }
            });
    let site_id = cx.required("audience.matomo.site_id", m.site_id);
    let token = cx
        .required("audience.matomo.token_auth_file", m.token_auth_file.clone())
        .and_then(|f| cx.read("audience.matomo.token_auth_file", &f))
        .map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let mut dimensions = Vec::new();
    let names: &BTreeMap<String, u32> = &m.dimensions;
    for (name, index) in names {
        if DIMENSIONS.contains(&name.as_str()) {
            dimensions.push((name.clone(), *index));
        } else {
            cx.problem(
                format!("audience.matomo.dimensions.{name}"),
                format!(
                    "unknown dimension; expected one of {}",
                    DIMENSIONS.join(", ")
                ),
            );
        }
    }
    dimensions.sort_by_key(|(_, i)| *i);
    Some(MatomoSettings {
        url: url?,
        site_id: site_id?,
        token_auth: super::Secret::new(token?),
        batch_size: m.batch_size.unwrap_or(100).clamp(1, 1000),
        retry_initial: Duration::from_millis(m.retry_initial_ms.unwrap_or(1000).max(1)),
        retry_max: Duration::from_secs(m.retry_max_seconds.unwrap_or(300).max(1)),
        dimensions,
    })
}
