//! The HTTP surface: routes, extractors, and the mapping of results to responses.
//!
//! Invariant: only this module (and `demo`) imports axum. Handlers parse the request, call
//! the SAML module or `launch`, and map the outcome; they never decide access themselves.

pub(crate) mod abonnement;
mod acs;
pub mod affectations;
mod annuaire;
pub mod api_error;
mod audience;
mod audit;
mod cas;
mod catalogue;
mod chooser;
pub mod cookies;
mod domaine_gar;
mod ent_oidc;
mod ent_oidc_logout;
pub mod error;
pub mod forwarded_cert;
mod idp;
mod idp_answer;
mod idp_force;
pub mod limits;
pub mod listener;
mod listing;
pub mod login;
mod logout_confirmation;
mod oidc;
mod ops;
pub mod pages;
pub mod party;
mod query;
mod site;
pub(crate) mod slo;
mod slo_answer;
mod slo_front;
mod slo_to_ent;
pub mod tls;
mod verify;

pub use audience::operator_request as audience_request_for_operator;

use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

/// The whole gateway as a router: the test seam (drive it with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(site::home))
        .route(pages::STYLESHEET_PATH, get(pages::stylesheet))
        .route("/domaineGar", get(domaine_gar::handle))
        .route("/saml/metadata", get(acs::metadata))
        .route("/saml/acs", post(acs::handle))
        .route(slo::FRONT_PATH, get(slo::redirect).post(slo::post))
        .route(slo::SOAP_PATH, post(slo::soap))
        .route(slo::IDP_REDIRECT_PATH, get(slo::idp_redirect))
        .route(slo::IDP_POST_PATH, post(slo::idp_post))
        .route(slo::IDP_SOAP_PATH, post(slo::idp_soap))
        .route("/ent/oidc/callback", get(ent_oidc::handle))
        .route(ent_oidc_logout::PATH, post(ent_oidc_logout::backchannel))
        .route(
            ent_oidc_logout::FRONT_PATH,
            get(ent_oidc_logout::frontchannel),
        )
        .route(slo_to_ent::OIDC_BACK_PATH, get(slo_to_ent::oidc_logged_out))
        .route("/idp/metadata", get(idp::metadata))
        .route("/idp/profile/SAML2/Redirect/SSO", get(idp::sso_redirect))
        .route("/idp/profile/SAML2/POST/SSO", post(idp::sso_post))
        .route("/idp/resume", get(idp_force::resume))
        .route(
            "/ressources/{ent}/{uai}/{person}",
            get(listing::handle).layer(tower_http::compression::CompressionLayer::new().gzip(true)),
        )
        .route("/ressourcesDiffusables", get(catalogue::handle))
        .merge(abonnement::routes())
        .merge(oidc::routes())
        .route(chooser::PATH, get(chooser::page).post(chooser::choose))
        .merge(cas::routes(&state.config.cas))
        .merge(audit::routes())
        .merge(audience::routes())
        .merge(affectations::routes())
        .route("/health/live", get(ops::live))
        .route("/health/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/health/metadata", get(ops::metadata_health))
        .route(
            "/admin/metadata/refresh",
            axum::routing::post(ops::metadata_refresh),
        )
        .route("/admin/reload", axum::routing::post(ops::reload))
        .layer(RequestBodyLimitLayer::new(limit))
        // Exports are larger than any other body: the upload applies its own limit
        // (`feed.max_upload_bytes`) as it reads.
        .merge(annuaire::routes())
        // A path no route takes: a French 404 page for browsers. A path whose route does not
        // take the method keeps its 405.
        .fallback(site::not_found)
        // Before any handler: a forwarded client certificate becomes a `ClientIdentity` only
        // from a trusted proxy, and the header never reaches the handlers.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forwarded_cert::layer,
        ))
        // The cause of each refused or failed request, logged once inside the route's span.
        .route_layer(axum::middleware::from_fn(api_error::log_cause))
        // Inside routing, so that spans name the route template: raw paths and query strings
        // carry user ids, SAML messages and tokens, which must never reach the logs.
        .route_layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("(unmatched)", |m| m.as_str());
                tracing::info_span!("http", method = %req.method(), route = %route)
            }),
        )
        // Outside everything but the headers: a request over its client's rate or beyond the
        // node's capacity costs nothing more than this check.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::layer,
        ))
        .layer(security_header(
            axum::http::header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'",
        ))
        .layer(axum::middleware::map_response(deny_framing_by_default))
        .layer(security_header(
            axum::http::header::REFERRER_POLICY,
            "no-referrer",
        ))
        .layer(security_header(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            "nosniff",
        ))
        .with_state(state)
}

/// `X-Frame-Options: DENY` on every response but one whose handler let a named origin frame it
/// (`frame-ancestors <origin>`: an ENT's front-channel logout); browsers that know CSP follow
/// `frame-ancestors`, older ones `X-Frame-Options`, so the two must agree.
async fn deny_framing_by_default(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
    let framed = resp
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("frame-ancestors ") && v != "frame-ancestors 'none'");
    if !framed {
        resp.headers_mut().insert(
            X_FRAME_OPTIONS,
            axum::http::HeaderValue::from_static("DENY"),
        );
    }
    resp
}

/// Headers on every response: no page of the gateway may be framed (the assignment page's
/// buttons would be clickjacked), no URL (they carry SAML messages and ids) leaks in a
/// Referer, no content is sniffed into another type. `frame-ancestors` is the only CSP
/// directive so far: pages link one stylesheet (`pages::STYLESHEET_PATH`), but a few inline
/// `style` attributes remain and the auto-POST form's `onload` needs a hash before a script
/// policy can be set.
fn security_header(
    name: axum::http::HeaderName,
    value: &'static str,
) -> tower_http::set_header::SetResponseHeaderLayer<axum::http::HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::if_not_present(
        name,
        axum::http::HeaderValue::from_static(value),
    )
}

/// Runs the gateway on `listener` until `shutdown` resolves, then lets open connections
/// finish their request. Each request knows its TCP peer (`ConnectInfo<SocketAddr>`), which
/// `forwarded_cert` checks against the trusted proxies and `limits` counts.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = listener::Connections::new(&state);
    let router = app(state);
    let mut shutdown = std::pin::pin!(shutdown);
    while let Some((stream, peer, slot)) = connections.accept(&listener, &mut shutdown).await {
        let router = router
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        connections.serve(stream, router, slot, peer);
    }
    connections.drain().await;
    Ok(())
}
