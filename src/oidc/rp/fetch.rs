//! Outbound HTTP to ENT OpenID Providers: one client with a 10 s timeout that follows no
//! redirect and ignores proxy environment variables (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY`...); bounded JSON fetches of URLs the [`super::ssrf`] policy allows, and the
//! same policy on every request `openidconnect` makes ([`Guarded`]).

use std::time::Duration;

use url::Url;

use super::{allowed_url, RpError};

/// Largest discovery or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Resolves names to allowed addresses only, at connection time (so a name cannot be
/// re-pointed at an internal address between a check and the request): addresses on the
/// deny list are dropped, and a name with nothing left is refused. With `allow_private`
/// (an ENT configured with `allow_private_network = true`), every address is kept.
pub struct PublicOnly {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok = super::ssrf::reachable(found, allow_private);
            if ok.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client for requests to ENTs' OpenID Providers: private addresses are resolved only
/// with `allow_private`.
pub fn client(allow_private: bool) -> reqwest::Client {
    crate::outbound::client_resolving(
        Duration::from_secs(10),
        std::sync::Arc::new(PublicOnly { allow_private }),
    )
}

/// GETs `url` as JSON; `check` names the refusal (e.g. `oidc.discovery`). A redirect is an
/// error, never followed.
pub async fn get_json(
    http: &reqwest::Client,
    url: &Url,
    allow_private: bool,
    check: super::Check,
) -> Result<Vec<u8>, RpError> {
    if !allowed_url(url, allow_private) {
        return Err(RpError::new(check, refused_description(url, allow_private)));
    }
    let resp = http
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
    crate::outbound::read_capped(resp, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| match e {
            crate::outbound::ReadError::TooLarge(n) => {
                RpError::new(check, format!("{url} is larger than {n} bytes"))
            }
            crate::outbound::ReadError::Http(e) => {
                RpError::new(check, format!("cannot read {url}: {e}"))
            }
        })
}

/// Why `url` is not fetched, for operators.
pub fn refused_description(url: &Url, allow_private: bool) -> String {
    if allow_private {
        format!("{url} is neither https nor http to a loopback or private address")
    } else {
        format!("{url} is not https to a public address (set allow_private_network = true for an ENT on loopback or a private network)")
    }
}

/// The HTTP client handed to `openidconnect` (token and userinfo requests): the same URL policy
/// and size bound as [`get_json`], on every request it makes. The flag is the ENT's
/// `allow_private_network`.
pub struct Guarded(pub reqwest::Client, pub bool);

#[derive(Debug, thiserror::Error)]
pub enum GuardedError {
    #[error("{0}")]
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
            if !allowed_url(&url, self.1) {
                return Err(GuardedError::Refused(refused_description(&url, self.1)));
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
