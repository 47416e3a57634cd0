//! OpenID Connect Back-Channel Logout 1.0, the gateway as OpenID Provider: the `logout_token`
//! a client that registered a `backchannel_logout_uri` receives when a session that gave it a
//! code ends (§2.4: `iss`, `aud`, `iat`, `exp`, `jti`, the `sid` its ID token carried, the
//! logout event, no `nonce`), signed with the OP's active key as `logout+jwt`, and its POST
//! (§2.5). Retries and traces are the caller's.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::keys::KeySet;
use super::records::new_secret;
use crate::oidc::OidcError;

use crate::oidc::BACKCHANNEL_LOGOUT_EVENT as EVENT;

/// How long a logout token is valid.
const LIFETIME_SECONDS: i64 = 120;

/// The signed logout token for `client_id`, naming the session `sid`, issued at `now`.
pub fn logout_token(
    keys: &KeySet,
    issuer: &str,
    client_id: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<String, OidcError> {
    let iat = now.timestamp();
    let claims = json!({
        "iss": issuer, "aud": client_id, "iat": iat, "exp": iat + LIFETIME_SECONDS,
        "jti": new_secret(), "sid": sid, "events": { EVENT: {} },
    });
    keys.sign("logout+jwt", &claims)
}

/// Posts `token` to `uri` (form-encoded `logout_token`); `Ok` when the client answers 200 or
/// 204, as §2.8 says it does once it has logged the session out.
pub async fn post(http: &reqwest::Client, uri: &str, token: &str) -> Result<(), String> {
    let resp = http
        .post(uri)
        .header("cache-control", "no-store")
        .form(&[("logout_token", token)])
        .send()
        .await
        .map_err(|e| format!("not reached: {e}"))?;
    match resp.status().as_u16() {
        200 | 204 => Ok(()),
        other => Err(format!("answered {other}")),
    }
}
