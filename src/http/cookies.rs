//! The session cookie (an opaque random id; the session itself lives in the store) and the
//! cookies that bind pending logins to their browser.
//!
//! Over HTTPS their names carry the prefixes browsers enforce: `__Host-` for the session
//! (set only with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot plant or
//! shadow it) and `__Secure-` for the login bindings (scoped to their callback path, which
//! `__Host-` does not allow). Only the prefixed names are read over HTTPS.

use axum::http::{header, HeaderMap, HeaderValue};

/// The session cookie's name over plain HTTP (local trials).
pub const SESSION_COOKIE: &str = "passerelle_session";
/// Its name over HTTPS.
pub const SECURE_SESSION_COOKIE: &str = "__Host-passerelle_session";

/// Prefix of the cookie that binds a pending ENT login to the browser that started it.
pub const LOGIN_COOKIE_PREFIX: &str = "passerelle_login_";
/// Its prefix over HTTPS.
pub const SECURE_LOGIN_COOKIE_PREFIX: &str = "__Secure-passerelle_login_";

/// Whether the gateway is served over HTTPS (its public URL), which decides the cookies'
/// names and attributes.
pub fn secure(config: &crate::config::Config) -> bool {
    config.public_base_url.scheme() == "https"
}

fn session_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

fn login_prefix(secure: bool) -> &'static str {
    if secure {
        SECURE_LOGIN_COOKIE_PREFIX
    } else {
        LOGIN_COOKIE_PREFIX
    }
}

/// Every `(name, value)` cookie pair the browser sent.
fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

/// The session id sent by the browser, if any.
pub fn session_id(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = session_name(secure);
    pairs(headers)
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A fresh, unguessable session id (`session::new_id`).
pub fn new_session_id() -> String {
    crate::session::new_id()
}

/// The `Set-Cookie` value. Over HTTPS the cookie is `Secure; SameSite=None`, so that providers'
/// HTTP-POST AuthnRequests (cross-site POSTs) carry it; over plain HTTP (local trials) it is
/// `SameSite=Lax`.
pub fn set_session(id: &str, max_age_secs: u64, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={id}; Path=/; HttpOnly; {}; Max-Age={max_age_secs}",
        session_name(secure),
        attrs(secure)
    ))
    .ok()
}

/// Removes the session cookie (logout).
pub fn clear_session(secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; {}; Max-Age=0",
        session_name(secure),
        attrs(secure)
    ))
    .ok()
}

fn attrs(secure: bool) -> &'static str {
    if secure {
        "Secure; SameSite=None"
    } else {
        "SameSite=Lax"
    }
}

/// Where the ENT sends the browser back to, per ENT protocol: the only path the login-binding
/// cookie is sent to.
pub fn login_path(protocol: &str) -> &'static str {
    match protocol {
        "oidc" => "/ent/oidc/callback",
        _ => "/saml/acs",
    }
}

/// The cookie that binds the pending login `id` to this browser (login CSRF protection): only
/// the browser that clicked the médiacentre link can complete that login. `path` is the
/// callback of the ENT's protocol ([`login_path`]).
pub fn set_login(id: &str, max_age_secs: u64, secure: bool, path: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}{id}=1; Path={path}; HttpOnly; {}; Max-Age={max_age_secs}",
        login_prefix(secure),
        attrs(secure)
    ))
    .ok()
}

/// Removes the binding cookie of a completed login.
pub fn clear_login(id: &str, secure: bool, path: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}{id}=; Path={path}; HttpOnly; {}; Max-Age=0",
        login_prefix(secure),
        attrs(secure)
    ))
    .ok()
}

/// Whether the browser carries the binding cookie of the pending login `id`.
pub fn has_login(headers: &HeaderMap, id: &str, secure: bool) -> bool {
    let name = format!("{}{id}", login_prefix(secure));
    pairs(headers).any(|(k, v)| k == name && v == "1")
}
