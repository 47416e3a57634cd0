//! Outbound HTTP to ENT OpenID Providers: one client with a 10 s timeout that follows no
//! redirect, and bounded JSON fetches of https (or loopback http) URLs only.

use std::time::Duration;

use url::Url;

use super::{allowed_url, RpError};

/// Largest discovery or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// The HTTP client of every request to an ENT's OpenID Provider.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// GETs `url` as JSON; `check` names the refusal (e.g. `oidc.discovery`). A redirect is an
/// error, never followed.
pub async fn get_json(
    http: &reqwest::Client,
    url: &Url,
    check: &'static str,
) -> Result<Vec<u8>, RpError> {
    if !allowed_url(url) {
        return Err(RpError::new(
            check,
            format!("{url} is neither https nor loopback http"),
        ));
    }
    let mut resp = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| RpError::new(check, format!("cannot fetch {url}: {e}")))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(RpError::new(
            check,
            format!("{url} answered a redirect ({status}): redirects are not followed"),
        ));
    }
    if !status.is_success() {
        return Err(RpError::new(check, format!("{url} answered {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| RpError::new(check, format!("cannot read {url}: {e}")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(RpError::new(
                check,
                format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"),
            ));
        }
    }
    Ok(body)
}
