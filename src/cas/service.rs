//! The services a CAS provider registered, one resource each: an exact URL or a URL prefix,
//! and where its back-channel logout goes. A `service` no registration matches gets no ticket
//! and no redirect (the gateway is nobody's open redirector).

use url::Url;

use super::ticket::ServiceTicket;
use crate::domain::ResourceId;

/// How a registration matches the `service` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// The service URL, character for character.
    Exact(String),
    /// Any URL that starts with this one, which ends with `/` after its host (so that
    /// `https://app.example/` never matches `https://app.example.evil/`).
    Prefix(String),
}

/// One registered CAS service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasService {
    pub resource: ResourceId,
    pub pattern: Pattern,
    /// Where the gateway POSTs the `logoutRequest` when the session ends (default: the
    /// service URL the ticket was issued for).
    pub logout_url: Option<String>,
}

impl CasService {
    /// Whether `service` (as a request gave it) is this registration's.
    pub fn matches(&self, service: &str) -> bool {
        if !acceptable(service) {
            return false;
        }
        match &self.pattern {
            Pattern::Exact(u) => u == service,
            Pattern::Prefix(p) => {
                service.starts_with(p.as_str())
                    && !service[p.len()..].split(['/', '?', '#']).any(|seg| {
                        seg == ".."
                            || seg == "."
                            || seg.contains("%2e%2e")
                            || seg.contains("%2E%2E")
                    })
            }
        }
    }

    /// Where this service's back-channel logout goes, for a ticket issued to `service`.
    pub fn logout_target<'a>(&'a self, service: &'a str) -> &'a str {
        self.logout_url.as_deref().unwrap_or(service)
    }
}

/// A service URL the gateway would send a browser to: http(s), a host, no credentials, no
/// backslash or control character, at most 2 KiB.
pub fn acceptable(service: &str) -> bool {
    service.len() <= 2048
        && !service
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == ' ')
        && Url::parse(service).is_ok_and(|u| {
            matches!(u.scheme(), "https" | "http")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none()
        })
}

/// Whether `prefix` may be registered as a prefix: acceptable, and a path ending with `/`.
pub fn valid_prefix(prefix: &str) -> bool {
    acceptable(prefix)
        && Url::parse(prefix)
            .is_ok_and(|u| u.query().is_none() && u.fragment().is_none() && u.path().ends_with('/'))
        && prefix.ends_with('/')
}

/// `service` with `ticket` appended to its query (`?ticket=` or `&ticket=`), before any
/// fragment.
pub fn with_ticket(service: &str, ticket: &ServiceTicket) -> String {
    let (base, fragment) = match service.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (service, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}ticket={}", ticket.as_str());
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(p: Pattern) -> CasService {
        CasService {
            resource: "ark:/99999/r1".parse().unwrap(),
            pattern: p,
            logout_url: None,
        }
    }

    #[test]
    fn exact_services_match_character_for_character() {
        let s = svc(Pattern::Exact("https://app.example/?sso_id=gar".into()));
        assert!(s.matches("https://app.example/?sso_id=gar"));
        assert!(!s.matches("https://app.example/?sso_id=gar&x=1"));
        assert!(!s.matches("https://app.example/?sso_id=GAR"));
    }

    #[test]
    fn prefixes_stay_on_their_host_and_path() {
        let s = svc(Pattern::Prefix("https://app.example/cas/".into()));
        assert!(s.matches("https://app.example/cas/"));
        assert!(s.matches("https://app.example/cas/login?next=/x"));
        for bad in [
            "https://app.example/cas",
            "https://app.example/other",
            "https://app.example/cas/../admin",
            "https://app.example/cas/%2e%2e/admin",
            "https://app.example.evil/cas/",
            "https://user@app.example/cas/",
            "javascript:alert(1)//https://app.example/cas/",
            "https://app.example/cas/\\evil",
        ] {
            assert!(!s.matches(bad), "{bad}");
        }
        assert!(valid_prefix("https://app.example/cas/"));
        assert!(valid_prefix("https://app.example/"));
        assert!(!valid_prefix("https://app.example"));
        assert!(!valid_prefix("https://app.example/cas"));
        assert!(!valid_prefix("https://app.example/?a=/"));
        assert!(!valid_prefix("ftp://app.example/"));
    }

    #[test]
    fn the_ticket_joins_the_query_before_the_fragment() {
        let t = ServiceTicket::parse("ST-abc").unwrap();
        assert_eq!(
            with_ticket("https://app.example/?sso_id=gar", &t),
            "https://app.example/?sso_id=gar&ticket=ST-abc"
        );
        assert_eq!(
            with_ticket("https://app.example/p#top", &t),
            "https://app.example/p?ticket=ST-abc#top"
        );
    }
}
