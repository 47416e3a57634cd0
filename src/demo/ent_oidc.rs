//! The demo ENT as an OpenID Provider, for `passerelle demo --ent-protocol oidc`: discovery,
//! JWKS, an authorization endpoint that answers for the user logged in at the demo ENT, and a
//! token endpoint whose ID token carries `idEnt` and `GARPersonIdentifiant`, as an ENT over OIDC
//! sends them to the gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::json;
use sha2::Digest;

use super::data;
use super::ent::DemoEnt;
use super::ent_backchannel::Backchannel;
use crate::oidc::op::keys::{at_hash, KeySet};
use crate::oidc::op::records::new_secret;

/// A code the demo ENT issued, waiting for the gateway's token request.
struct Issued {
    user: String,
    nonce: Option<String>,
    challenge: Option<String>,
    redirect_uri: String,
}

#[derive(Clone)]
pub struct DemoEntOp {
    pub ent: DemoEnt,
    pub issuer: String,
    pub keys: KeySet,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    codes: Arc<Mutex<HashMap<String, Issued>>>,
}

impl DemoEntOp {
    pub fn new(
        ent: DemoEnt,
        issuer: String,
        keys: KeySet,
        client_id: String,
        client_secret: String,
        redirect_uri: String,
    ) -> Self {
        Self {
            ent,
            issuer,
            keys,
            client_id,
            client_secret,
            redirect_uri,
            codes: Arc::default(),
        }
    }
}

impl DemoEntOp {
    /// Makes the demo ENT's logout tell the gateway over the back channel (OIDC mode).
    pub fn log_out_at_the_gateway_too(&self) {
        let gateway = self.redirect_uri.trim_end_matches("/ent/oidc/callback");
        *self
            .ent
            .backchannel
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Backchannel {
            keys: self.keys.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            uri: format!("{gateway}/ent/oidc/backchannel-logout"),
            http: crate::outbound::client(std::time::Duration::from_secs(5)),
        });
    }
}

pub fn router(op: DemoEntOp) -> Router {
    Router::new()
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/authorize", get(authorize))
        .route("/oidc/token", post(token))
        .with_state(op)
}

async fn discovery(State(op): State<DemoEntOp>) -> Json<serde_json::Value> {
    let i = &op.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}

async fn jwks(State(op): State<DemoEntOp>) -> Json<serde_json::Value> {
    Json(op.keys.jwks())
}

async fn authorize(
    State(op): State<DemoEntOp>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("client_id") != Some(&op.client_id) || q.get("redirect_uri") != Some(&op.redirect_uri)
    {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    let Some(user) = op.ent.user(&headers) else {
        if q.get("prompt")
            .is_some_and(|p| p.split(' ').any(|v| v == "none"))
        {
            // Asked who is logged in, without showing anything: nobody.
            let mut back = url::form_urlencoded::Serializer::new(String::new());
            back.append_pair("error", "login_required")
                .append_pair("iss", &op.issuer);
            if let Some(s) = q.get("state") {
                back.append_pair("state", s);
            }
            return Redirect::to(&format!("{}?{}", op.redirect_uri, back.finish())).into_response();
        }
        // Not logged in at the ENT: log in first, then this same authorization request (and
        // with it the médiacentre link the user followed).
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter())
            .finish();
        return op.ent.log_in_then(format!("/oidc/authorize?{query}"));
    };
    let code = new_secret();
    op.codes.lock().unwrap_or_else(|e| e.into_inner()).insert(
        code.clone(),
        Issued {
            user,
            nonce: q.get("nonce").cloned(),
            challenge: q.get("code_challenge").cloned(),
            redirect_uri: op.redirect_uri.clone(),
        },
    );
    let mut back = url::form_urlencoded::Serializer::new(String::new());
    back.append_pair("code", &code)
        .append_pair("iss", &op.issuer);
    if let Some(s) = q.get("state") {
        back.append_pair("state", s);
    }
    Redirect::to(&format!("{}?{}", op.redirect_uri, back.finish())).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(op): State<DemoEntOp>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let presented = basic.or_else(|| {
        Some(format!(
            "{}:{}",
            f.get("client_id")?,
            f.get("client_secret")?
        ))
    });
    if presented.as_deref() != Some(&format!("{}:{}", op.client_id, op.client_secret)) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let Some(issued) = f
        .get("code")
        .and_then(|c| op.codes.lock().unwrap_or_else(|e| e.into_inner()).remove(c))
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if f.get("redirect_uri") != Some(&issued.redirect_uri) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    if let Some(challenge) = &issued.challenge {
        let computed = f.get("code_verifier").map(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(v.as_bytes()))
        });
        if computed.as_ref() != Some(challenge) {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
    }
    let now = op.ent.clock.now().timestamp();
    let access_token = new_secret();
    let mut claims = json!({
        "iss": op.issuer, "sub": issued.user, "aud": op.client_id, "iat": now, "exp": now + 300,
        "at_hash": at_hash(&access_token),
        "idEnt": data::ENT_ID, "GARPersonIdentifiant": issued.user,
    });
    if let Some(n) = issued.nonce {
        claims["nonce"] = json!(n);
    }
    match op.keys.sign("JWT", &claims) {
        Ok(id_token) => Json(json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token})).into_response(),
        Err(_) => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}
