//! The one builder of the gateway's outbound HTTP clients (an ENT's OpenID Provider, metadata
//! at start-up, the Matomo forwarder): never through a proxy named in the environment (it
//! would see every request and reach what a resolver refuses), no redirects followed, a total
//! and a connect timeout, and optionally a resolver that refuses internal addresses
//! (`oidc::rp::ssrf`). [`read_capped`] reads a body up to a size, chunk by chunk, so that a
//! peer cannot make the gateway hold more. A leaf: it names no other module.

use std::sync::Arc;
use std::time::Duration;

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
}

/// A client with the gateway's outbound policy.
pub fn client(timeout: Duration) -> reqwest::Client {
    builder(timeout).build().unwrap_or_default()
}

/// The same, with `resolver` filtering the addresses a name resolves to.
pub fn client_resolving<R: reqwest::dns::Resolve + 'static>(
    timeout: Duration,
    resolver: Arc<R>,
) -> reqwest::Client {
    builder(timeout)
        .dns_resolver(resolver)
        .build()
        .unwrap_or_default()
}

/// Why a body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// Reads `resp`'s body, refusing it as soon as it passes `max` bytes.
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(ReadError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > max {
            return Err(ReadError::TooLarge(max));
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server answering every connection with `head` then `body` bytes of `x`.
    async fn serve(head: String, body: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&vec![b'x'; body]).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_its_cap_and_refused_beyond() {
        let client = super::client(Duration::from_secs(5));
        let announced = serve("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".into(), 100).await;
        let resp = client.get(&announced).send().await.unwrap();
        assert!(matches!(
            super::read_capped(resp, 99).await,
            Err(super::ReadError::TooLarge(99))
        ));
        let resp = client.get(&announced).send().await.unwrap();
        assert_eq!(super::read_capped(resp, 100).await.unwrap().len(), 100);
        // No length announced: refused once the bytes read pass the cap.
        let unannounced = serve(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(),
            64 * 1024,
        )
        .await;
        let resp = client.get(&unannounced).send().await.unwrap();
        assert!(matches!(
            super::read_capped(resp, 1000).await,
            Err(super::ReadError::TooLarge(1000))
        ));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let to = serve("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into(), 0).await;
        let from = serve(
            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"),
            0,
        )
        .await;
        let resp = super::client(Duration::from_secs(5))
            .get(&from)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
    }
}
