//! The OpenID Provider's settings (`[oidc]`, validated by `config`): its signing keys and the
//! lifetimes of what it issues.

use std::time::Duration;

use super::keys::KeySet;

/// The validated `[oidc]` section.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub keys: KeySet,
    pub code_lifetime: Duration,
    pub access_token_lifetime: Duration,
    pub id_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
}

impl OidcConfig {
    /// The default lifetimes (code 60 s, access token 10 min, ID token 5 min, refresh token
    /// 30 days) with these keys.
    pub fn with_keys(keys: KeySet) -> Self {
        Self {
            keys,
            code_lifetime: Duration::from_secs(60),
            access_token_lifetime: Duration::from_secs(600),
            id_token_lifetime: Duration::from_secs(300),
            refresh_token_lifetime: Duration::from_secs(30 * 86_400),
        }
    }
}
