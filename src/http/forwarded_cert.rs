//! Client certificates forwarded by a trusted TLS-terminating proxy (`[server.trusted_proxy]`).
//!
//! This module owns the certificate header: from a peer listed in `addresses`, the certificate
//! it carries (RFC 9440 `:base64 DER:`, or nginx's URL-escaped PEM) is checked against the
//! configured CA at the gateway clock's time and becomes the same [`ClientIdentity`] as on the
//! gateway's own TLS listener. From any other peer, or over that TLS listener, the header is
//! ignored. In every case the header is removed before the handlers, which only ever see a
//! `ClientIdentity`; a request without the header is untouched.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{CertificateError, Error as TlsError};

use super::tls::{ClientIdentity, GatewayTls};
use crate::app::AppState;
use crate::config::trusted_proxy::DEFAULT_HEADER;
use crate::config::TrustedProxyConfig;
use crate::tls::fingerprint;

/// The middleware: see the module documentation.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let proxy = state.config.trusted_proxy.as_ref();
    let name = proxy.map_or(DEFAULT_HEADER, |p| p.header.as_str());
    if !req.headers().contains_key(name) {
        return next.run(req).await;
    }
    let values: Vec<HeaderValue> = req.headers().get_all(name).iter().cloned().collect();
    req.headers_mut().remove(name);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a);
    if let Some(GatewayTls { peer }) = req.extensions().get::<GatewayTls>() {
        tracing::warn!(%peer, header = name, "forwarded client certificate ignored: the request came over the gateway's own TLS listener, where only the connection's certificate counts");
        return next.run(req).await;
    }
    match (proxy, peer) {
        (Some(proxy), Some(peer)) if proxy.trusts(peer.ip()) => {
            match identity(proxy, &values, state.clock.now()) {
                Ok(Some(id)) => {
                    tracing::debug!(%peer, fingerprint = %id.fingerprint, "forwarded client certificate accepted");
                    req.extensions_mut().insert(id);
                }
                Ok(None) => {
                    tracing::debug!(%peer, header = name, "trusted proxy forwarded no client certificate (empty header)");
                }
                Err(refusal) => {
                    tracing::warn!(%peer, header = name, "forwarded client certificate refused: {refusal}");
                }
            }
        }
        (_, Some(peer)) => {
            tracing::warn!(%peer, header = name, "forwarded client certificate from an untrusted peer ignored: only a proxy listed in server.trusted_proxy.addresses may send it");
        }
        (_, None) => {
            tracing::warn!(header = name, "forwarded client certificate ignored: the peer address is unknown, so it cannot be a trusted proxy");
        }
    }
    next.run(req).await
}

/// Why a forwarded certificate was refused, said so that an operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the header came more than once or holds several values: the proxy must forward exactly the caller's certificate")]
    Several,
    #[error("{0}: send an RFC 9440 byte sequence (:base64 of the DER:) or nginx's $ssl_client_escaped_cert")]
    Malformed(&'static str),
    #[error("certificate {fingerprint}: {reason}")]
    Invalid { fingerprint: String, reason: String },
}

/// The identity of the certificate in `values` (the header's values), verified at `now`;
/// `None` when the proxy forwarded an empty value (the caller presented no certificate).
pub fn identity(
    proxy: &TrustedProxyConfig,
    values: &[HeaderValue],
    now: DateTime<Utc>,
) -> Result<Option<ClientIdentity>, Refusal> {
    let [value] = values else {
        return Err(Refusal::Several);
    };
    let text = value
        .to_str()
        .map_err(|_| Refusal::Malformed("the header is not ASCII"))?;
    let Some(der) = decode(text)? else {
        return Ok(None);
    };
    let fingerprint = fingerprint(&der);
    let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
    proxy
        .verifier
        .verify_client_cert(
            &CertificateDer::from(der),
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
        )
        .map_err(|e| Refusal::Invalid {
            fingerprint: fingerprint.clone(),
            reason: reason(&e, now),
        })?;
    Ok(Some(ClientIdentity { fingerprint }))
}

/// The DER of the one certificate in a header value, in either accepted format; `None` for an
/// empty value.
fn decode(text: &str) -> Result<Option<Vec<u8>>, Refusal> {
    let text = text.trim();
    if text.contains(',') {
        return Err(Refusal::Several);
    }
    if text.is_empty() || text == "::" {
        return Ok(None);
    }
    if let Some(b64) = text.strip_prefix(':').and_then(|t| t.strip_suffix(':')) {
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
            .map_err(|_| Refusal::Malformed("the byte sequence is not valid base64"))?;
        return Ok(Some(der));
    }
    let pem = urlencoding::decode(text)
        .map_err(|_| Refusal::Malformed("the URL-escaped value is not UTF-8"))?;
    if !pem.starts_with("-----BEGIN CERTIFICATE-----") {
        return Err(Refusal::Malformed(
            "the header is neither a byte sequence nor a URL-escaped PEM certificate",
        ));
    }
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Refusal::Malformed("the URL-escaped PEM is not a valid certificate"))?;
    match certs.as_slice() {
        [one] => Ok(Some(one.to_vec())),
        [] => Err(Refusal::Malformed(
            "the URL-escaped PEM holds no certificate",
        )),
        _ => Err(Refusal::Several),
    }
}

fn reason(e: &TlsError, now: DateTime<Utc>) -> String {
    let now = now.to_rfc3339();
    match e {
        TlsError::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("expired at the gateway's time ({now}): the caller must renew it")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("not valid yet at the gateway's time ({now}): check the clocks")
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                "not issued by the configured CA (server.trusted_proxy.client_ca_file, default server.tls.client_ca_file)".into()
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "not meant for client authentication (extended key usage clientAuth)".into()
            }
            CertificateError::BadEncoding => {
                "not a DER X.509 certificate: check what the proxy forwards".into()
            }
            other => format!("refused by the path validation: {other:?}"),
        },
        other => format!("refused by the path validation: {other}"),
    }
}
