//! Where a partner's metadata comes from (a file, a URL, an MDQ server) and how it is fetched:
//! conditional requests (`ETag`, `Last-Modified`), bounded time and size, no redirects, plain
//! HTTP only from a loopback address.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use url::Url;

/// A partner's metadata source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, read again when its modification time changes.
    File(PathBuf),
    /// A URL, fetched when due.
    Url(String),
    /// A Metadata Query server: `GET {base}/entities/{urlencoded entityID}`.
    Mdq { base: String },
}

impl Source {
    /// `file`, `url` or `mdq`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::File(_) => "file",
            Source::Url(_) => "url",
            Source::Mdq { .. } => "mdq",
        }
    }

    /// Where the document is read, for logs and the health detail.
    pub fn location(&self, entity_id: Option<&str>) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Url(u) => u.clone(),
            Source::Mdq { base } => mdq_url(base, entity_id.unwrap_or("")),
        }
    }
}

/// The MDQ request URL of `entity_id` (MDQ protocol §3.2: the entityID percent-encoded).
pub fn mdq_url(base: &str, entity_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(entity_id.as_bytes()).collect();
    format!(
        "{}/entities/{}",
        base.trim_end_matches('/'),
        encoded.replace('+', "%20")
    )
}

/// What the last fetch learnt, sent back on the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// A file's modification time.
    pub modified: Option<SystemTime>,
}

/// A fetch's outcome.
#[derive(Debug)]
pub enum Fetched {
    /// The source says nothing changed (304, or a file's unchanged modification time).
    NotModified,
    Document {
        xml: String,
        validators: Validators,
    },
}

/// Refuses URLs other than https, or plain http to a loopback address.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "metadata must be fetched over https (plain http is only accepted from loopback): {url}"
        )),
    }
}

/// Fetches the document, conditionally on `previous`; at most `max_bytes`.
pub async fn fetch(
    http: &reqwest::Client,
    source: &Source,
    entity_id: Option<&str>,
    previous: &Validators,
    max_bytes: usize,
) -> Result<Fetched, String> {
    let url = match source {
        Source::File(path) => {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified.is_some() && modified == previous.modified {
                return Ok(Fetched::NotModified);
            }
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if bytes.len() > max_bytes {
                return Err(format!(
                    "{} is larger than {max_bytes} bytes (metadata.max_bytes)",
                    path.display()
                ));
            }
            let xml =
                String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?;
            return Ok(Fetched::Document {
                xml,
                validators: Validators {
                    modified,
                    ..Default::default()
                },
            });
        }
        Source::Url(u) => u.clone(),
        Source::Mdq { base } => mdq_url(
            base,
            entity_id.ok_or("an MDQ source needs the partner's entity_id")?,
        ),
    };
    check_url(&url)?;
    let mut req = http
        .get(&url)
        .header("accept", "application/samlmetadata+xml, application/xml");
    if let Some(e) = &previous.etag {
        req = req.header("if-none-match", e);
    }
    if let Some(m) = &previous.last_modified {
        req = req.header("if-modified-since", m);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !resp.status().is_success() {
        return Err(format!("fetching {url} answered {}", resp.status()));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let validators = Validators {
        etag: header("etag"),
        last_modified: header("last-modified"),
        modified: None,
    };
    let bytes = crate::outbound::read_capped(resp, max_bytes)
        .await
        .map_err(|e| format!("cannot read {url} (metadata.max_bytes is {max_bytes}): {e}"))?;
    let xml = String::from_utf8(bytes).map_err(|_| format!("{url} is not UTF-8"))?;
    Ok(Fetched::Document { xml, validators })
}

/// The outbound client of metadata fetches.
pub fn client(timeout: Duration) -> reqwest::Client {
    crate::outbound::client(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdq_urls_percent_encode_the_entity_id() {
        assert_eq!(
            mdq_url("https://mdq.test/", "https://ent.test/idp?x=1 y"),
            "https://mdq.test/entities/https%3A%2F%2Fent.test%2Fidp%3Fx%3D1%20y"
        );
    }

    #[test]
    fn plain_http_only_from_loopback() {
        assert!(check_url("https://ent.test/md").is_ok());
        assert!(check_url("http://127.0.0.1:8080/md").is_ok());
        assert!(check_url("http://ent.test/md").is_err());
    }
}
