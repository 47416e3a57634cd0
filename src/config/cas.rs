//! The CAS server's settings (`[cas]`: where its endpoints are served, the life of a service
//! ticket) and each CAS provider's registered services (`[[providers.<key>.cas.services]]`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::ctx::Ctx;
use super::raw::{RawCas, RawProviderCas};
use super::ProviderConfig;
use crate::cas::service::{acceptable, valid_prefix, CasService, Pattern};
use crate::domain::{Resource, ResourceId};

/// The CAS server's settings.
#[derive(Debug, Clone)]
pub struct CasConfig {
    /// Prepended to every CAS path (`/login`, `/p3/serviceValidate`...): empty (the host root,
    /// as the real GAR serves them, which clients hard-code) or e.g. `/cas`.
    pub path_prefix: String,
    /// How long a service ticket may wait for its validation (default 10 s).
    pub ticket_ttl: Duration,
}

impl Default for CasConfig {
    fn default() -> Self {
        Self {
            path_prefix: String::new(),
            ticket_ttl: Duration::from_secs(10),
        }
    }
}

impl CasConfig {
    /// The path of a CAS endpoint, `/login` → `{prefix}/login`.
    pub fn path(&self, endpoint: &str) -> String {
        format!("{}{endpoint}", self.path_prefix)
    }
}

pub(super) fn settings(cx: &mut Ctx<'_>, raw: &RawCas) -> CasConfig {
    let mut c = CasConfig::default();
    if let Some(p) = &raw.path_prefix {
        let ok = p.is_empty()
            || (p.starts_with('/')
                && !p.ends_with('/')
                && p.len() <= 64
                && p[1..].split('/').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }));
        if ok {
            c.path_prefix = p.clone();
        } else {
            cx.problem(
                "cas.path_prefix",
                "expected \"\" (the host root) or a path such as \"/cas\": a leading slash, no trailing slash, letters, digits, - and _",
            );
        }
    }
    if let Some(s) = raw.ticket_ttl_seconds {
        if (1..=300).contains(&s) {
            c.ticket_ttl = Duration::from_secs(s);
        } else {
            cx.problem(
                "cas.ticket_ttl_seconds",
                "must be between 1 and 300 (the real GAR's tickets live about 5 seconds)",
            );
        }
    }
    c
}

/// A CAS provider's services, each for one of its `resources`.
pub(super) fn services(
    cx: &mut Ctx<'_>,
    prefix: &str,
    raw: Option<&RawProviderCas>,
    resources: &[Resource],
) -> Vec<CasService> {
    let Some(raw) = raw.filter(|r| !r.services.is_empty()) else {
        cx.problem(
            format!("{prefix}.cas.services"),
            "a CAS provider registers at least one service: [[providers.<key>.cas.services]] with url (exact) or prefix",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, s) in raw.services.iter().enumerate() {
        let key = format!("{prefix}.cas.services.{i}");
        let resource = match (&s.resource, resources) {
            (Some(r), _) => match r.parse::<ResourceId>() {
                Ok(id) if resources.iter().any(|x| x.id == id) => Some(id),
                Ok(_) => {
                    cx.problem(format!("{key}.resource"), "not a resource of this provider");
                    None
                }
                Err(e) => {
                    cx.problem(format!("{key}.resource"), e.to_string());
                    None
                }
            },
            (None, [only]) => Some(only.id.clone()),
            (None, _) => {
                cx.problem(
                    format!("{key}.resource"),
                    "required: this provider has several resources",
                );
                None
            }
        };
        let pattern = match (&s.url, &s.prefix) {
            (Some(u), None) if acceptable(u) => Some(Pattern::Exact(u.clone())),
            (None, Some(p)) if valid_prefix(p) => Some(Pattern::Prefix(p.clone())),
            (Some(_), None) => {
                cx.problem(
                    format!("{key}.url"),
                    "not an http(s) URL with a host and no credentials",
                );
                None
            }
            (None, Some(_)) => {
                cx.problem(
                    format!("{key}.prefix"),
                    "a prefix is an http(s) URL whose path ends with '/', without query or fragment (e.g. https://app.example/gar/)",
                );
                None
            }
            _ => {
                cx.problem(
                    key.clone(),
                    "set url (an exact service URL) or prefix, one of them",
                );
                None
            }
        };
        if let Some(l) = &s.logout_url {
            if !acceptable(l) {
                cx.problem(format!("{key}.logout_url"), "not an http(s) URL");
            }
        }
        if let (Some(resource), Some(pattern)) = (resource, pattern) {
            out.push(CasService {
                resource,
                pattern,
                logout_url: s.logout_url.clone(),
            });
        }
    }
    out
}

/// No two registrations, of one provider or of two, claim the same exact URL or prefix.
pub(super) fn no_overlap(cx: &mut Ctx<'_>, providers: &BTreeMap<String, ProviderConfig>) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for p in providers.values() {
        for s in &p.cas_services {
            let (Pattern::Exact(u) | Pattern::Prefix(u)) = &s.pattern;
            if let Some(other) = seen.insert(u.clone(), &p.key) {
                cx.problem(
                    format!("providers.{}.cas.services", p.key),
                    format!("{u} is registered twice (also by provider {other})"),
                );
            }
        }
    }
}
