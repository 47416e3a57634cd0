//! The CAS 3.0 server for providers, at the host root by default (`[cas] path_prefix`):
//! `/login` (a service ticket for a registered service, through the same access rule as SAML
//! and OIDC), the validations (`/p3/serviceValidate`, `/serviceValidate`, `/validate`, where
//! `flow::access::hand_over` releases, counts and traces the access), `/logout`, and the
//! proxy endpoints, which answer the protocol's error (no proxying is offered).

mod login;
mod logout;
mod validate;

use std::collections::HashMap;

use axum::routing::get;
use axum::Router;

use crate::app::AppState;
use crate::config::CasConfig;
use crate::trace::TraceEvent;

pub fn routes(c: &CasConfig) -> Router<AppState> {
    Router::new()
        .route(&c.path("/login"), get(login::handle))
        .route(&c.path("/logout"), get(logout::get).post(logout::post))
        .route(&c.path("/p3/serviceValidate"), get(validate::v3))
        .route(&c.path("/serviceValidate"), get(validate::v2))
        .route(&c.path("/validate"), get(validate::v1))
        .route(&c.path("/p3/proxyValidate"), get(validate::proxy_validate))
        .route(&c.path("/proxyValidate"), get(validate::proxy_validate))
        .route(&c.path("/proxy"), get(validate::proxy))
        .route(
            &c.path("/samlValidate"),
            axum::routing::post(validate::saml_validate),
        )
}

/// A query's parameters, each once (a repeated one is refused: which would count?); empty
/// values are left out.
fn params(raw: &str) -> Option<HashMap<String, String>> {
    super::query::unique(raw).ok()
}

/// A CAS boolean parameter: present and `true` (case-insensitive).
fn flag(p: &HashMap<String, String>, name: &str) -> bool {
    p.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Records a refused CAS request.
fn traced(state: &AppState, provider: Option<&str>, check: &'static str) {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "provider",
        peer: provider.map(str::to_string),
        protocol: "cas",
        check,
    });
}
