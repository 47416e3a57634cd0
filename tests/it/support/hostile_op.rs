//! A hostile ENT OpenID Provider written for the tests: it serves discovery, a JWKS, a token
//! endpoint and userinfo on a loopback port, and answers whatever ID token the test crafted
//! (signed with `jsonwebtoken`, keys made with openssl), so that every check of the gateway's
//! relying party can be hit. It counts the requests it receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "passerelle";
pub const CLIENT_SECRET: &str = "client-secret-of-the-gateway-at-the-ent";
pub const ACCESS_TOKEN: &str = "access-token-from-the-ent-0123456789";

/// An RSA signing key and its public JWK.
pub struct RsaKey {
    pub kid: String,
    pub private_pem: Vec<u8>,
    pub public_pem: Vec<u8>,
    pub jwk: Value,
}

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl RsaKey {
    pub fn generate(kid: &str) -> Self {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": b64u(&rsa.n().to_vec()), "e": b64u(&rsa.e().to_vec()),
        });
        Self {
            kid: kid.to_string(),
            private_pem: rsa.private_key_to_pem().unwrap(),
            public_pem: rsa.public_key_to_pem().unwrap(),
            jwk,
        }
    }

    /// `claims` signed RS256 with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(&self.private_pem).unwrap(),
        )
        .unwrap()
    }
}

/// What the OP serves, changed by the test between requests.
pub struct OpState {
    pub jwks: Vec<Value>,
    pub id_token: Option<String>,
    pub userinfo: Value,
    /// Discovery answers a redirect to `/elsewhere` instead of the metadata.
    pub redirect_discovery: bool,
    /// Discovery advertises RFC 9207 `iss` in authorization responses.
    pub advertise_iss: bool,
    /// Discovery names this token endpoint instead of its own.
    pub token_endpoint: Option<String>,
    /// The token endpoint answers this OAuth error instead of tokens.
    pub token_error: Option<&'static str>,
    pub hits: HashMap<&'static str, usize>,
    /// The `Authorization` header and form body of the last token request.
    pub last_token_request: Option<(String, HashMap<String, String>)>,
}

#[derive(Clone)]
pub struct HostileOp {
    pub issuer: String,
    pub key: Arc<RsaKey>,
    pub state: Arc<Mutex<OpState>>,
}

type Shared = (String, Arc<Mutex<OpState>>);

fn hit(s: &Shared, what: &'static str) {
    *s.1.lock().unwrap().hits.entry(what).or_default() += 1;
}

async fn discovery(State(s): State<Shared>) -> Response {
    hit(&s, "discovery");
    if s.1.lock().unwrap().redirect_discovery {
        return (
            StatusCode::FOUND,
            [("location", format!("{}/elsewhere", s.0))],
        )
            .into_response();
    }
    let (advertise_iss, token_endpoint) = {
        let st = s.1.lock().unwrap();
        (st.advertise_iss, st.token_endpoint.clone())
    };
    let i = &s.0;
    Json(json!({
        "authorization_response_iss_parameter_supported": advertise_iss,
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": token_endpoint.unwrap_or_else(|| format!("{i}/token")),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

async fn elsewhere(State(s): State<Shared>) -> Response {
    hit(&s, "elsewhere");
    Json(json!({})).into_response()
}

async fn jwks(State(s): State<Shared>) -> Response {
    hit(&s, "jwks");
    let keys = s.1.lock().unwrap().jwks.clone();
    Json(json!({ "keys": keys })).into_response()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    hit(&s, "token");
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let mut st = s.1.lock().unwrap();
    st.last_token_request = Some((auth, form));
    if let Some(error) = st.token_error {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    }
    let mut resp =
        json!({ "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300 });
    if let Some(t) = &st.id_token {
        resp["id_token"] = json!(t);
    }
    Json(resp).into_response()
}

async fn userinfo(State(s): State<Shared>) -> Response {
    hit(&s, "userinfo");
    let body = s.1.lock().unwrap().userinfo.clone();
    Json(body).into_response()
}

impl HostileOp {
    /// Starts the OP on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = Arc::new(RsaKey::generate("ent-key-1"));
        let state = Arc::new(Mutex::new(OpState {
            jwks: vec![key.jwk.clone()],
            id_token: None,
            userinfo: json!({}),
            redirect_discovery: false,
            advertise_iss: false,
            token_endpoint: None,
            token_error: None,
            hits: HashMap::new(),
            last_token_request: None,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/elsewhere/.well-known/openid-configuration",
                get(elsewhere),
            )
            .route("/elsewhere", get(elsewhere))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state((issuer.clone(), state.clone()));
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { issuer, key, state }
    }

    pub fn hits(&self, what: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(what)
            .copied()
            .unwrap_or(0)
    }

    pub fn set_id_token(&self, token: String) {
        self.state.lock().unwrap().id_token = Some(token);
    }

    /// The claims of a valid ID token for `nonce`, issued at `now`.
    pub fn claims(&self, nonce: &str, now: DateTime<Utc>) -> Value {
        json!({
            "iss": self.issuer,
            "sub": "sub-eleve-0001",
            "aud": CLIENT_ID,
            "exp": now.timestamp() + 300,
            "iat": now.timestamp(),
            "nonce": nonce,
            "idEnt": "B0",
            "GARPersonIdentifiant": "eleve-0001",
        })
    }

    /// The `[ents.B0]` settings of the gateway for this OP.
    pub fn ent_b0_auth(&self) -> String {
        format!(
            "protocol = \"oidc\"\n[ents.B0.oidc]\nissuer = \"{}\"\nallow_private_network = true\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"ent-client.secret\"\n",
            self.issuer
        )
    }
}

/// `header.payload.signature` with the given header and an arbitrary signature function.
pub fn raw_jwt(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64u(&sig))
}
