//! Accepting connections, for the plain listener and the mutual-TLS one: at most
//! `limits.max_connections` open at once (the next wait in the kernel's backlog), the TLS
//! handshake and each request head within `limits.header_read_timeout_seconds` (a client that
//! opens connections and sends nothing, or a byte at a time, holds nothing for long), and on
//! shutdown every open connection finishes the request it is serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::app::AppState;

/// How long open connections may take to finish their request at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// One listener's connections.
pub struct Connections {
    slots: Arc<Semaphore>,
    limits: Arc<crate::limits::Limiter>,
    head_timeout: Duration,
    /// Taken at shutdown.
    graceful: std::sync::Mutex<Option<GracefulShutdown>>,
}

impl Connections {
    pub fn new(state: &AppState) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(state.config.limits.max_connections)),
            limits: state.limits.clone(),
            head_timeout: state.config.limits.header_read_timeout,
            graceful: std::sync::Mutex::new(Some(GracefulShutdown::new())),
        }
    }

    /// The time a TLS handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.head_timeout
    }

    /// Waits for a free connection slot, then for a connection (or for `shutdown`).
    pub async fn accept(
        &self,
        listener: &TcpListener,
        shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
    ) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
        loop {
            let slot = tokio::select! {
                () = &mut *shutdown => return None,
                slot = self.slots.clone().acquire_owned() => slot.ok()?,
            };
            tokio::select! {
                () = &mut *shutdown => return None,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => return Some((stream, peer, slot)),
                    Err(e) => {
                        // Out of file descriptors, most often: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed (file descriptors exhausted? raise the limit or lower limits.max_connections)");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    /// Serves `router` on `io` until the connection ends, holding `slot` until then.
    pub fn serve<I>(&self, io: I, router: Router, slot: OwnedSemaphorePermit, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.head_timeout);
        builder.http2().timer(TokioTimer::new());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(router))
            .into_owned();
        let conn = {
            let graceful = self
                .graceful
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Shutting down: a connection accepted at the last moment is closed.
            let Some(graceful) = graceful.as_ref() else {
                return;
            };
            graceful.watch(conn)
        };
        let open = self.limits.open_connection();
        tokio::spawn(async move {
            let (_slot, _open) = (slot, open);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }

    /// After shutdown: lets open connections finish their request, for at most [`DRAIN`].
    pub async fn drain(&self) {
        let graceful = self
            .graceful
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(graceful) = graceful else {
            return;
        };
        if tokio::time::timeout(DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period were closed");
        }
    }
}
