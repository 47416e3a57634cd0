//! Outbound HTTP to ENT OpenID Providers: one client with a 10 s timeout that follows no
//! redirect; bounded JSON fetches of https (or loopback http) URLs only, and the same policy
//! on every request `openidconnect` makes ([`Guarded`]).

use std::time::Duration;

use url::Url;

use super::{allowed_url, RpError};

/// Largest discovery or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Resolves names to public addresses only, at connection time (so a name cannot be
/// re-pointed at an internal address between a check and the request): internal and loopback
/// addresses are dropped, and a name with nothing left is refused. `localhost` keeps loopback.
pub struct PublicOnly;

/// The addresses of `host` the gateway may connect to.
pub fn public_addresses(host: &str, addrs: Vec<std::net::SocketAddr>) -> Vec<std::net::SocketAddr> {
    addrs
        .into_iter()
        .filter(|a| !super::is_internal(a.ip()) && (host == "localhost" || !a.ip().is_loopback()))
        .collect()
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok = public_addresses(&host, found);
            if ok.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client of every request to an ENT's OpenID Provider.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(std::sync::Arc::new(PublicOnly))
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

/// The HTTP client handed to `openidconnect` (token and userinfo requests): the same URL policy
/// and size bound as [`get_json`], on every request it makes.
pub struct Guarded(pub reqwest::Client);

#[derive(Debug, thiserror::Error)]
pub enum GuardedError {
    #[error("{0} is neither https nor loopback http")]
    Refused(String),
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    Other(String),
}

type HttpFuture<'c> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<openidconnect::HttpResponse, GuardedError>>
            + Send
            + Sync
            + 'c,
    >,
>;

impl<'c> openidconnect::AsyncHttpClient<'c> for Guarded {
    type Error = GuardedError;
    type Future = HttpFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let url = Url::parse(&request.uri().to_string())
                .map_err(|e| GuardedError::Other(format!("request URL: {e}")))?;
            if !allowed_url(&url) {
                return Err(GuardedError::Refused(url.to_string()));
            }
            let request = reqwest::Request::try_from(request)?;
            let mut resp = self.0.execute(request).await?;
            let mut builder = openidconnect::http::Response::builder().status(resp.status());
            for (name, value) in resp.headers() {
                builder = builder.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_DOCUMENT_BYTES {
                    return Err(GuardedError::TooLarge);
                }
            }
            builder
                .body(body)
                .map_err(|e| GuardedError::Other(e.to_string()))
        })
    }
}
