//! The gateway's own TLS listener for server-to-server web services, with optional client
//! certificates (mutual TLS).
//!
//! A client certificate must chain to the configured client CA; its SHA-256 fingerprint then
//! travels with each request as a [`ClientIdentity`] extension, and the web services match it
//! against the certificates registered for providers and ENTs. Callers without a certificate
//! may still present a bearer token.

use std::sync::Arc;

use axum::Router;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::AppState;
use crate::partners::Live;
use crate::tls::fingerprint;

/// Marks the requests of the gateway's own TLS listener, which never take a forwarded
/// certificate.
#[derive(Debug, Clone, Copy)]
pub struct GatewayTls {
    pub peer: std::net::SocketAddr,
}

/// The authenticated client certificate of a TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Lowercase hex SHA-256 of the certificate's DER.
    pub fingerprint: String,
}

/// Serves the gateway over TLS on `listener` until `shutdown` resolves.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Live<ServerConfig>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let connections = Arc::new(super::listener::Connections::new(&state));
    let router: Router = super::app(state);
    let mut shutdown = std::pin::pin!(shutdown);
    while let Some((stream, peer, slot)) = connections.accept(&listener, &mut shutdown).await {
        // The certificate and client CAs of now: a reload applies to the next connection.
        let acceptor = TlsAcceptor::from(tls.get());
        let (router, connections) = (router.clone(), connections.clone());
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
            let router = router.layer(axum::Extension(GatewayTls { peer }));
            let service = match identity {
                Some(id) => router.layer(axum::Extension(id)),
                None => router,
            };
            connections.serve(tls, service, slot, peer);
        });
    }
    connections.drain().await;
}
