//! The checks an ENT's OpenID Connect exchange can fail, one variant each, with the stable code
//! that pages, logs and traces carry (`oidc.nonce`, ...), and the kind of failure each one is.

use crate::check_codes::check_codes;

check_codes! {
    /// One check of the gateway's OpenID Connect exchange with an ENT's provider.
    pub enum Check: "oidc." {
        /// The ENT answered the authorization request with an error (access denied, cancelled).
        Error = "error",
        /// The callback's `state` is missing, unknown or expired.
        State = "state",
        /// The callback arrived in another browser than the request left from.
        BrowserBinding = "browser_binding",
        /// The callback was already used.
        Replay = "replay",
        /// The callback's `iss` (RFC 9207) is not the ENT's issuer.
        Iss = "iss",
        /// The callback has no authorization code.
        Code = "code",
        /// `prompt=login` was asked and the ENT did not authenticate anew (`auth_time`).
        ForceAuthn = "force_authn",
        /// The discovery document cannot be fetched or is not the ENT's.
        Discovery = "discovery",
        /// The JWK set cannot be fetched or read.
        Jwks = "jwks",
        /// The token endpoint failed or answered without an ID token.
        Token = "token",
        /// The userinfo endpoint failed.
        Userinfo = "userinfo",
        /// The ID token is signed with a key the ENT does not publish.
        Kid = "kid",
        /// The ID token is signed with an algorithm outside the ENT's list, or not signed.
        Algorithm = "algorithm",
        /// The ID token's signature does not verify.
        Signature = "signature",
        /// The ID token is malformed or fails another check of OpenID Connect Core §3.1.3.7.
        IdToken = "id_token",
        /// The ID token is expired.
        Expired = "expired",
        /// The ID token is not addressed to the gateway (`aud`, `azp`).
        Audience = "audience",
        /// The ID token's `iss` is not the ENT's issuer.
        Issuer = "issuer",
        /// The ID token's `nonce` is not the one sent.
        Nonce = "nonce",
        /// The ID token's `at_hash` does not match the access token.
        AtHash = "at_hash",
        /// A claim the gateway needs (the person, the ENT) is missing.
        Claims = "claims",
        /// The ENT claim names another ENT than the one configured.
        EntClaim = "ent_claim",
        /// A back-channel `logout_token` is malformed or fails a check of Back-Channel Logout
        /// 1.0 §2.6 (event, `sub`/`sid`, `nonce`, `jti`, `iat`).
        LogoutToken = "logout_token",
        /// A front-channel logout (Front-Channel Logout 1.0 §2) without its `iss` or `sid`, or
        /// with one of them repeated.
        FrontChannel = "front_channel",
        /// The gateway's configuration for this ENT is unusable.
        Config = "config",
    }
}

/// What kind of failure a check is, which decides the answer to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The ENT said no (403).
    Denied,
    /// The ENT's provider could not be reached or answered badly (502).
    Unreachable,
    /// The gateway's configuration is at fault (500).
    Config,
    /// The message was read and refused (403).
    Refused,
}

impl Check {
    /// The kind of failure.
    pub const fn kind(self) -> Kind {
        match self {
            Check::Error => Kind::Denied,
            Check::Discovery | Check::Jwks | Check::Token | Check::Userinfo => Kind::Unreachable,
            Check::Config => Kind::Config,
            Check::State
            | Check::BrowserBinding
            | Check::Replay
            | Check::Iss
            | Check::Code
            | Check::ForceAuthn
            | Check::Kid
            | Check::Algorithm
            | Check::Signature
            | Check::IdToken
            | Check::Expired
            | Check::Audience
            | Check::Issuer
            | Check::Nonce
            | Check::AtHash
            | Check::Claims
            | Check::EntClaim
            | Check::LogoutToken
            | Check::FrontChannel => Kind::Refused,
        }
    }
}
