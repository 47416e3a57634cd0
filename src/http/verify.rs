//! Signature verification and signing off the async workers, with a bounded concurrency.
//!
//! XML signature work is CPU-bound (RSA, canonicalisation, libxml2 parsing): run on the async
//! workers it stalls every other request of the node, and unbounded it lets a burst of
//! hostile messages occupy every blocking thread. Each job takes a slot of
//! `AppState::crypto_slots` (twice the CPUs) and runs on the blocking pool; a job that finds
//! no slot within [`WAIT`] is refused with `saml.busy` (503), never queued without bound.

use std::time::Duration;

use crate::app::AppState;
use crate::saml::{Check, SamlError};

/// How long a job may wait for a slot before it is refused.
pub const WAIT: Duration = Duration::from_secs(5);

/// Runs `job` on the blocking pool once a slot is free.
pub async fn off_worker<T, F>(state: &AppState, job: F) -> Result<T, SamlError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SamlError> + Send + 'static,
{
    let permit = match tokio::time::timeout(WAIT, state.crypto_slots.clone().acquire_owned()).await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err(SamlError::new(
                Check::Busy,
                "every signature slot of this node is busy; the message was not verified",
            ))
        }
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job()
    })
    .await
    .unwrap_or_else(|e| {
        Err(SamlError::new(
            Check::Internal,
            format!("signature task failed: {e}"),
        ))
    })
}
