//! Reloading what a key rollover changes while the gateway runs (SIGHUP, `POST /admin/reload`):
//! the configuration is read again from its file, as at start-up, and validated whole; when
//! anything in it is invalid, nothing changes and every problem is named. Otherwise the
//! gateway's SAML signing key and the next one published beside it, its OIDC keys and the TLS
//! listener's certificate and client CAs are replaced (each use takes the current one: the next
//! request signs with the new key, the next TLS connection gets the new certificate), partners'
//! metadata is refreshed, and the keys now in use are traced (and so audited). Other settings
//! (listeners, store, ENTs, providers, limits...) take effect at the next restart.

use sha2::{Digest, Sha256};

use super::AppState;
use crate::config::ConfigErrors;
use crate::saml::keys::SigningKey;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("this node was not started from a configuration file: nothing to read again")]
    NoSource,
    #[error("the configuration is not valid, the running one is kept: {0}")]
    Invalid(ConfigErrors),
}

/// What a reload did, in words for the operator.
#[derive(Debug, Default, serde::Serialize)]
pub struct Reloaded {
    /// What changed (keys as certificate SHA-256 fingerprints and `kid`s).
    pub changed: Vec<String>,
    /// Partners whose metadata refresh failed (their last good copy is kept).
    pub metadata_failed: Vec<String>,
}

/// The SHA-256 of a signing key's certificate, hex.
fn fingerprint(key: &SigningKey) -> String {
    hex::encode(Sha256::digest(key.certificate.der_data()))
}

fn next_fingerprint(next: &Option<String>) -> String {
    use base64::Engine;
    next.as_deref()
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .map(|der| hex::encode(Sha256::digest(der)))
        .unwrap_or_else(|| "none".into())
}

impl AppState {
    /// Reads the configuration again and takes its keys and certificates (see the module).
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let source = self.config.source.as_ref().ok_or(ReloadError::NoSource)?;
        let new = source.load().await.map_err(ReloadError::Invalid)?;
        let mut done = Reloaded::default();
        let (old_key, new_key) = (self.config.signing_key.get(), new.signing_key.get());
        if fingerprint(&old_key) != fingerprint(&new_key) {
            done.changed.push(format!(
                "SAML signing certificate {} -> {}",
                fingerprint(&old_key),
                fingerprint(&new_key)
            ));
            self.config.signing_key.set_arc(new_key);
        }
        let (old_next, new_next) = (
            self.config.saml.next_signing_certificate.get(),
            new.saml.next_signing_certificate.get(),
        );
        if old_next != new_next {
            done.changed.push(format!(
                "next SAML signing certificate {} -> {}",
                next_fingerprint(&old_next),
                next_fingerprint(&new_next)
            ));
            self.config.saml.next_signing_certificate.set_arc(new_next);
        }
        let (old_kids, new_kids) = (self.config.oidc.keys.kids(), new.oidc.keys.kids());
        if old_kids != new_kids {
            done.changed.push(format!(
                "OIDC keys [{}] -> [{}]",
                old_kids.join(", "),
                new_kids.join(", ")
            ));
            self.config.oidc.keys.take_keys_of(&new.oidc.keys);
        }
        match (&self.config.tls, &new.tls) {
            (Some(running), Some(read)) => {
                running.server.set_arc(read.server.get());
                done.changed
                    .push("TLS listener: certificate and client CAs read again".into());
            }
            (None, None) => {}
            _ => done
                .changed
                .push("server.tls added or removed: takes effect at the next restart".into()),
        }
        for p in self.partners.all() {
            let refreshed = self
                .partners
                .refresh(p, crate::partners::Reason::Operator)
                .await;
            if let Err(e) = refreshed {
                done.metadata_failed.push(format!("{}: {e}", p.key));
            }
        }
        self.trace_configuration();
        tracing::info!(
            changed = ?done.changed,
            metadata_failed = ?done.metadata_failed,
            "configuration reloaded: keys and certificates taken; other settings take effect at the next restart"
        );
        Ok(done)
    }
}
