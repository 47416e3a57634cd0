//! The demo ENT's OpenID Connect Back-Channel Logout 1.0 to the gateway (OIDC mode): when a
//! user logs out at the demo ENT, its provider posts a signed `logout_token` naming the user.

use serde_json::json;

use crate::oidc::op::keys::KeySet;
use crate::oidc::op::records::new_secret;

/// The demo ENT's OpenID Connect Back-Channel Logout 1.0 to the gateway.
#[derive(Clone)]
pub struct Backchannel {
    pub(super) keys: KeySet,
    pub(super) issuer: String,
    pub(super) client_id: String,
    /// The gateway's `/ent/oidc/backchannel-logout`.
    pub(super) uri: String,
    pub(super) http: reqwest::Client,
}

impl Backchannel {
    /// Posts a signed logout token for `user` (the `sub` of its ID tokens); answers whether the
    /// gateway took it.
    pub(super) async fn logout(&self, user: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
        let claims = json!({
            "iss": self.issuer, "aud": self.client_id, "sub": user,
            "iat": now.timestamp(), "exp": now.timestamp() + 120, "jti": new_secret(),
            "events": { crate::oidc::BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        let Ok(token) = self.keys.sign("logout+jwt", &claims) else {
            return false;
        };
        match crate::oidc::op::backchannel::post(&self.http, &self.uri, &token).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "demo ENT: the back-channel logout did not reach the gateway");
                false
            }
        }
    }
}
