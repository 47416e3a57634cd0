//! The gateway's own TLS listener for server-to-server web services, with optional client
//! certificates (mutual TLS).
//!
//! A client certificate must chain to the configured client CA; its SHA-256 fingerprint then
//! travels with each request as a [`ClientIdentity`] extension, and the web services match it
//! against the certificates registered for providers and ENTs. Callers without a certificate
//! may still present a bearer token.

use std::sync::Arc;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use sha2::Digest;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::AppState;

/// The authenticated client certificate of a TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Lowercase hex SHA-256 of the certificate's DER.
    pub fingerprint: String,
}

/// SHA-256 fingerprint (lowercase hex) of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(der))
}

/// Builds the rustls configuration: the gateway's certificate chain and key, and client
/// certificates verified against `client_ca_pem` (optional for clients).
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
) -> Result<Arc<ServerConfig>, String> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("private key: {e}"))?;
    let roots = client_roots(client_ca_pem)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("client certificate verifier: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The CA certificates (PEM) that issue client certificates, as trust anchors.
pub(super) fn client_roots(client_ca_pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem) {
        roots
            .add(ca.map_err(|e| format!("client CA: {e}"))?)
            .map_err(|e| format!("client CA: {e}"))?;
    }
    if roots.is_empty() {
        return Err("client CA file holds no certificate".into());
    }
    Ok(roots)
}

/// Serves the gateway over TLS on `listener` until `shutdown` resolves.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let acceptor = TlsAcceptor::from(tls);
    let connections = Arc::new(super::listener::Connections::new(&state));
    let router: Router = super::app(state);
    let mut shutdown = std::pin::pin!(shutdown);
    while let Some((stream, peer, slot)) = connections.accept(&listener, &mut shutdown).await {
        let (acceptor, router, connections) =
            (acceptor.clone(), router.clone(), connections.clone());
        tokio::spawn(async move {
            let handshake = connections.handshake_timeout();
            let tls = match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "TLS handshake refused (client certificate not issued by the configured CA?)");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake not done within limits.header_read_timeout_seconds");
                    return;
                }
            };
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| ClientIdentity {
                    fingerprint: fingerprint(c),
                });
            // Requests of this listener never take a forwarded certificate: the connection's
            // own certificate is the one that counts.
            let router = router.layer(axum::Extension(super::forwarded_cert::GatewayTls { peer }));
            let service = match identity {
                Some(id) => router.layer(axum::Extension(id)),
                None => router,
            };
            connections.serve(tls, service, slot, peer);
        });
    }
    connections.drain().await;
}
