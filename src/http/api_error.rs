//! The one error type of the server-to-server APIs, beside [`super::error::PageError`] for
//! people: each refusal in the shape its protocol expects, and its cause logged once.
//!
//! An error does not log itself: its response carries a [`Cause`] extension, which the
//! [`log_cause`] middleware (inside the route's span, so the log line names the route template,
//! never the raw path with its ids) writes once, with the reference the body shows, and removes.
//! Page errors take the same way.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::oidc::error_code::Endpoint;
use crate::oidc::{ErrorCode, OidcError};
use crate::saml::xml::escape;
use crate::store::StoreError;

/// The body shapes of the gateway's APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// The GAR's JSON error of the médiacentre listing:
    /// `{"Erreur": {"Code", "Message", "Resource"}}`, `Resource` being the path asked.
    GarJson { resource: String },
    /// The GAR's XML error of `ressourcesDiffusables`: `<erreur><code/><message/></erreur>`.
    GarXml,
    /// The directory upload's JSON: `{"message"}`.
    Import,
    /// One line of text (the subscription service outside its business rules).
    Text,
    /// RFC 6750: `WWW-Authenticate: Bearer realm="<realm>"` and one line of text (audit,
    /// audience).
    Bearer { realm: &'static str },
    /// RFC 6749 §5.2, the token, revocation and introspection endpoints:
    /// `{"error", "error_description"}`, and `WWW-Authenticate: Basic` with `invalid_client`.
    OAuth { error: ErrorCode },
    /// RFC 6750 §3, a resource read with a Bearer token (userinfo): the same body, and the
    /// error in `WWW-Authenticate: Bearer`.
    BearerToken { error: ErrorCode },
    /// COUNTER_SUSHI 5's Exception: `{"Code", "Severity", "Message", "Data"}`.
    Sushi { code: u32, data: String },
    /// COUNTER_SUSHI 5.1's Exception: `{"Code", "Message", "Data"}` (no `Severity`).
    Counter51 { code: u32, data: String },
}

/// A refusal or a failure of an API request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub shape: Shape,
    /// What the client is told (French, like the GAR's messages).
    pub message: String,
    /// What the operator needs to fix it; logged once, never sent.
    pub cause: String,
    /// The stable code the log line carries (`api`, or the protocol check, e.g. `oidc.pkce`).
    pub code: &'static str,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        shape: Shape,
        message: impl Into<String>,
        cause: impl Into<String>,
    ) -> Self {
        Self {
            status,
            shape,
            message: message.into(),
            cause: cause.into(),
            code: "api",
        }
    }

    /// An OAuth 2.0 refusal at `endpoint`, its status decided by its error code; the check
    /// and `context` (e.g. the provider) go to the log line.
    pub fn oauth(endpoint: Endpoint, e: &OidcError, context: &str) -> Self {
        let shape = match endpoint {
            Endpoint::Token => Shape::OAuth { error: e.error },
            Endpoint::Protected => Shape::BearerToken { error: e.error },
        };
        let status = StatusCode::from_u16(e.error.status(endpoint))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            shape,
            message: e.description.clone(),
            cause: format!("{e} ({}){context}", e.error),
            code: e.check,
        }
    }

    /// The same refusal in a page of the caller's making (a form showing [`Self::message`]):
    /// the status stays, and the cause is logged once like any other.
    pub fn into_page(self, html: String) -> Response {
        let mut resp = (self.status, axum::response::Html(html)).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        retry_after_if_unavailable(&mut resp);
        resp.extensions_mut().insert(Cause {
            status: self.status,
            code: self.code,
            reference: super::pages::reference(),
            cause: self.cause,
        });
        resp
    }

    /// A COUNTER_SUSHI exception `code` (e.g. 2000, 3020) with `data` saying what to change.
    pub fn sushi(status: StatusCode, code: u32, message: &str, data: &str) -> Self {
        Self {
            status,
            shape: Shape::Sushi {
                code,
                data: data.to_string(),
            },
            message: message.to_string(),
            cause: format!("SUSHI exception {code} {message}: {data}"),
            code: "sushi",
        }
    }

    /// A COUNTER_SUSHI 5.1 exception `code` with its standard `message` and `data` saying what
    /// to change.
    pub fn counter51(status: StatusCode, code: u32, message: &str, data: &str) -> Self {
        Self {
            status,
            shape: Shape::Counter51 {
                code,
                data: data.to_string(),
            },
            message: message.to_string(),
            cause: format!("COUNTER 5.1 exception {code} {message}: {data}"),
            code: "counter51",
        }
    }

    /// An OAuth 2.0 request the store cannot answer: `temporarily_unavailable`, 503.
    pub fn oauth_store(endpoint: Endpoint, e: &StoreError) -> Self {
        let refused = OidcError::new(
            ErrorCode::TemporarilyUnavailable,
            "oidc.store",
            "the service is temporarily unavailable",
        );
        Self {
            cause: format!("the store does not answer: {e}"),
            code: "unavailable",
            ..Self::oauth(endpoint, &refused, "")
        }
    }

    /// The store does not answer: 503, in `shape`.
    pub fn store(shape: Shape, e: &StoreError) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            shape,
            "Service indisponible, réessayez plus tard",
            format!("the store does not answer: {e}"),
        )
    }

    /// No party of the role asked for: 401, in `shape`.
    pub fn unauthenticated(shape: Shape, cause: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            shape,
            "Authentification requise",
            cause,
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::store(Shape::Text, &e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let reference = super::pages::reference();
        let mut resp = match &self.shape {
            Shape::GarJson { resource } => (
                self.status,
                Json(json!({"Erreur": {
                    "Code": self.status.canonical_reason().unwrap_or("Error"),
                    "Message": self.message,
                    "Resource": resource.trim_start_matches('/'),
                }})),
            )
                .into_response(),
            Shape::GarXml => (
                self.status,
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<erreur><code>{}</code><message>{}</message></erreur>\n",
                    escape(self.status.canonical_reason().unwrap_or("Error")),
                    escape(&self.message)
                ),
            )
                .into_response(),
            Shape::Import => (self.status, Json(json!({"message": self.message}))).into_response(),
            Shape::Text => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{}\n", self.message),
            )
                .into_response(),
            Shape::Bearer { realm } => {
                let mut r = (
                    self.status,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    format!("{}\n", self.message),
                )
                    .into_response();
                if self.status == StatusCode::UNAUTHORIZED {
                    if let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"{realm}\"")) {
                        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                    }
                }
                r
            }
            Shape::OAuth { error } => {
                let mut r = oauth_body(self.status, *error, &self.message);
                if *error == ErrorCode::InvalidClient && self.status == StatusCode::UNAUTHORIZED {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"passerelle\""),
                    );
                }
                r
            }
            Shape::BearerToken { error } => {
                let mut r = oauth_body(self.status, *error, &self.message);
                let challenge = format!(
                    "Bearer realm=\"passerelle\", error=\"{error}\", error_description=\"{}\"",
                    self.message.replace(['"', '\\'], "'")
                );
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            Shape::Sushi { code, data } => (
                self.status,
                Json(json!({"Code": code, "Severity": "Error", "Message": self.message, "Data": data})),
            )
                .into_response(),
            Shape::Counter51 { code, data } => (
                self.status,
                Json(json!({"Code": code, "Message": self.message, "Data": data})),
            )
                .into_response(),
        };
        if matches!(self.shape, Shape::OAuth { .. } | Shape::BearerToken { .. }) {
            resp.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        retry_after_if_unavailable(&mut resp);
        resp.extensions_mut().insert(Cause {
            status: self.status,
            code: self.code,
            reference,
            cause: self.cause,
        });
        resp
    }
}

/// The JSON body of an OAuth 2.0 error.
fn oauth_body(status: StatusCode, error: ErrorCode, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error.code(), "error_description": description})),
    )
        .into_response()
}

/// A 503 says when to come back: `Retry-After: 1` unless it already says (the store is tried
/// again continuously and answers within a second of coming back).
pub(super) fn retry_after_if_unavailable(resp: &mut Response) {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(header::RETRY_AFTER)
    {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
}

/// Why a request was refused or failed, for the log line [`log_cause`] writes.
#[derive(Debug, Clone)]
pub struct Cause {
    pub status: StatusCode,
    /// A stable code (`not_assigned`, `saml.signature`, `api`).
    pub code: &'static str,
    /// The reference shown to the user or client.
    pub reference: String,
    pub cause: String,
}

/// Logs the cause of a refused or failed request once: an error for a 5xx, a warning
/// otherwise.
pub async fn log_cause(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if let Some(c) = resp.extensions_mut().remove::<Cause>() {
        if c.status.is_server_error() {
            tracing::error!(code = c.code, reference = %c.reference, status = c.status.as_u16(), cause = %c.cause, "request failed");
        } else {
            tracing::warn!(code = c.code, reference = %c.reference, status = c.status.as_u16(), cause = %c.cause, "request refused");
        }
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn refused(error: ErrorCode) -> OidcError {
        OidcError::new(error, "oidc.client_auth", "bad \"secret\"")
    }

    #[tokio::test]
    async fn oauth_errors_take_the_status_and_challenge_of_their_endpoint() {
        let resp = ApiError::oauth(
            Endpoint::Token,
            &refused(ErrorCode::InvalidClient),
            ", provider p",
        )
        .into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"passerelle\""
        );
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(resp.headers()[header::PRAGMA], "no-cache");
        let cause = resp.extensions().get::<Cause>().unwrap().clone();
        assert_eq!(cause.code, "oidc.client_auth");
        assert!(cause.cause.contains("provider p"), "{}", cause.cause);
        assert_eq!(
            body(resp).await,
            json!({"error": "invalid_client", "error_description": "bad \"secret\""})
        );

        let grant =
            ApiError::oauth(Endpoint::Token, &refused(ErrorCode::InvalidGrant), "").into_response();
        assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
        assert!(grant.headers().get(header::WWW_AUTHENTICATE).is_none());

        let token = ApiError::oauth(Endpoint::Protected, &refused(ErrorCode::InvalidToken), "")
            .into_response();
        assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            token.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"passerelle\", error=\"invalid_token\", error_description=\"bad 'secret'\""
        );
    }

    #[tokio::test]
    async fn a_store_outage_is_temporarily_unavailable_without_its_cause() {
        let e = StoreError::Unavailable("redis://10.0.0.5:6379 refused".into());
        let resp = ApiError::oauth_store(Endpoint::Protected, &e).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        let cause = resp.extensions().get::<Cause>().unwrap().clone();
        assert!(cause.cause.contains("10.0.0.5"));
        let b = body(resp).await;
        assert_eq!(b["error"], "temporarily_unavailable");
        assert!(!b.to_string().contains("10.0.0.5"), "{b}");
    }

    #[tokio::test]
    async fn sushi_exceptions_have_counter_s_shape() {
        let resp = ApiError::sushi(StatusCode::BAD_REQUEST, 3020, "Invalid Date Arguments", "x")
            .into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body(resp).await,
            json!({"Code": 3020, "Severity": "Error", "Message": "Invalid Date Arguments", "Data": "x"})
        );
    }

    #[tokio::test]
    async fn counter_51_exceptions_have_no_severity() {
        let resp = ApiError::counter51(
            StatusCode::FORBIDDEN,
            2010,
            "Requestor is Not Authorized to Access Usage for Institution",
            "x",
        )
        .into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            resp.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
        assert_eq!(
            body(resp).await,
            json!({"Code": 2010, "Message": "Requestor is Not Authorized to Access Usage for Institution", "Data": "x"})
        );
    }
}
