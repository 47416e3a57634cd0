//! The error codes an OAuth 2.0 / OpenID Connect client receives from the gateway's provider
//! side (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, OpenID Connect Core §3.1.2.6), and the
//! HTTP status each one takes on the back channel.

use crate::check_codes::check_codes;

check_codes! {
    /// An OAuth 2.0 / OpenID Connect `error` value.
    pub enum ErrorCode: "" {
        /// A parameter is missing, repeated, malformed or unsupported.
        InvalidRequest = "invalid_request",
        /// Client authentication failed.
        InvalidClient = "invalid_client",
        /// The code or refresh token is invalid, expired, revoked or another client's.
        InvalidGrant = "invalid_grant",
        /// The client may not use this grant or response.
        UnauthorizedClient = "unauthorized_client",
        /// The grant type is not supported.
        UnsupportedGrantType = "unsupported_grant_type",
        /// The response type is not supported.
        UnsupportedResponseType = "unsupported_response_type",
        /// The scope is invalid.
        InvalidScope = "invalid_scope",
        /// The user or the access rule refused.
        AccessDenied = "access_denied",
        /// `prompt=none` and no session.
        LoginRequired = "login_required",
        /// The access token is invalid, expired or revoked (RFC 6750).
        InvalidToken = "invalid_token",
        /// The access token does not cover the request (RFC 6750).
        InsufficientScope = "insufficient_scope",
        /// The gateway failed.
        ServerError = "server_error",
        /// The gateway cannot answer now (its store).
        TemporarilyUnavailable = "temporarily_unavailable",
    }
}

/// Where an error is answered on the back channel, which decides its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The token endpoint (RFC 6749 §5.2).
    Token,
    /// A resource protected by a Bearer token: userinfo (RFC 6750 §3.1).
    Protected,
}

impl ErrorCode {
    /// The HTTP status of this error at `endpoint`.
    pub const fn status(self, endpoint: Endpoint) -> u16 {
        match (endpoint, self) {
            (_, ErrorCode::ServerError) => 500,
            (_, ErrorCode::TemporarilyUnavailable) => 503,
            (Endpoint::Token, ErrorCode::InvalidClient) => 401,
            (Endpoint::Token, _) => 400,
            (Endpoint::Protected, ErrorCode::InvalidRequest) => 400,
            (Endpoint::Protected, ErrorCode::InsufficientScope) => 403,
            (
                Endpoint::Protected,
                ErrorCode::InvalidClient
                | ErrorCode::InvalidGrant
                | ErrorCode::UnauthorizedClient
                | ErrorCode::UnsupportedGrantType
                | ErrorCode::UnsupportedResponseType
                | ErrorCode::InvalidScope
                | ErrorCode::AccessDenied
                | ErrorCode::LoginRequired
                | ErrorCode::InvalidToken,
            ) => 401,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_rfc_6749_and_6750() {
        assert_eq!(ErrorCode::InvalidClient.status(Endpoint::Token), 401);
        assert_eq!(ErrorCode::InvalidGrant.status(Endpoint::Token), 400);
        assert_eq!(ErrorCode::ServerError.status(Endpoint::Token), 500);
        assert_eq!(ErrorCode::InvalidToken.status(Endpoint::Protected), 401);
        assert_eq!(ErrorCode::InvalidRequest.status(Endpoint::Protected), 400);
        assert_eq!(
            ErrorCode::InsufficientScope.status(Endpoint::Protected),
            403
        );
        assert_eq!(
            ErrorCode::TemporarilyUnavailable.status(Endpoint::Protected),
            503
        );
        assert_eq!(ErrorCode::InvalidGrant.code(), "invalid_grant");
    }
}
