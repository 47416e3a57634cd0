//! The subscription web service for resource providers, under `/abonnement/`: create (`PUT`,
//! 201, 409 when the id exists), update (`POST`, 200), delete (`DELETE`, 204, kept as
//! deleted), read, and list with `<filtres>` and paging. Bodies are XML in the GAR namespace
//! or JSON with the same names; every broken rule is reported with its code and field.
//!
//! Callers are providers' servers, authenticated by their client certificate or bearer token;
//! a provider sees and changes only the subscriptions of its own commercial distributor ids.
//! Dates without an offset are read in `[subscriptions] timezone`, and every date is answered
//! with its offset there. `decompte` answers the licence counts (`GET /decompteaffectations`)
//! on the same terms; `schools` the list of schools (`<listEtablissement>`).

mod decompte;
pub(crate) mod filters;
pub(crate) mod schools;
pub(crate) mod xml;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;

use crate::app::AppState;
use crate::config::ProviderConfig;
use crate::domain::subscription_rules::{SubscriptionInput, Violation};
use crate::domain::Subscription;
use crate::flow::subscription::{self, Owner, WriteError};
use crate::saml::xml::escape;

use super::api_error::{ApiError, Shape};
use super::party::{ProviderCaller, Unauthenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/abonnement/abonnements", get(list).post(list))
        .route(
            "/abonnement/etablissements/etablissements.xml",
            get(schools::handle),
        )
        .route(
            "/abonnement/{id}",
            put(create).post(update).delete(delete).get(read),
        )
        .route("/decompteaffectations", get(decompte::handle))
}

/// A refusal of the web service, in the shape its callers expect.
enum WsError {
    /// A plain-text answer (authentication, conflict, absent, malformed...).
    Text(StatusCode, String),
    /// Business rules broken: 400 with every rule and field.
    Rules(Vec<Violation>),
    /// A failure whose cause is for the operator's log (the store does not answer).
    Api(ApiError),
}

impl IntoResponse for WsError {
    fn into_response(self) -> Response {
        match self {
            WsError::Text(status, message) => text(status, &message),
            WsError::Rules(v) => violations(&v),
            WsError::Api(e) => e.into_response(),
        }
    }
}

type WsResult = Result<Response, WsError>;

fn xml_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn text(status: StatusCode, message: &str) -> Response {
    ApiError::new(status, Shape::Text, message, message).into_response()
}

fn violations(v: &[Violation]) -> Response {
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<erreurs>");
    for e in v {
        body.push_str(&format!(
            "<erreur><regle>{}</regle><champ>{}</champ><message>{}</message></erreur>",
            e.rule,
            e.field,
            escape(&e.message)
        ));
    }
    body.push_str("</erreurs>\n");
    tracing::info!(count = v.len(), rules = ?v.iter().map(|e| e.rule).collect::<Vec<_>>(), "subscription refused by business rules");
    xml_response(StatusCode::BAD_REQUEST, body)
}

/// The provider calling (`party`: its client certificate, else its bearer token), or 401.
fn authenticated(
    caller: Result<ProviderCaller, Unauthenticated>,
) -> Result<ProviderCaller, WsError> {
    caller.map_err(|e| {
        WsError::Api(ApiError::unauthenticated(Shape::Text, format!("subscription web service: {}; register the provider's client certificate (providers.<key>.client_certificate_file) or give it a token (providers.<key>.api_token_file)", e.cause())))
    })
}

fn parse(headers: &HeaderMap, body: &Bytes) -> Result<SubscriptionInput, WsError> {
    let bad = |m: String| WsError::Text(StatusCode::BAD_REQUEST, m);
    let body = std::str::from_utf8(body).map_err(|_| bad("le corps n'est pas en UTF-8".into()))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    let fields = if is_json {
        xml::read_json_fields(body)
    } else {
        xml::read_fields(body, "abonnement")
    };
    fields.and_then(xml::input_from_fields).map_err(bad)
}

fn unavailable(e: &crate::store::StoreError) -> WsError {
    WsError::Api(ApiError::store(Shape::Text, e))
}

/// The flow's refusal in the web service's shapes; `id` is the one asked.
fn refused(id: &str, e: WriteError) -> WsError {
    match e {
        WriteError::Rules(v) => WsError::Rules(v),
        WriteError::Exists => WsError::Text(
            StatusCode::CONFLICT,
            format!("L'abonnement {id} existe deja"),
        ),
        WriteError::Absent => WsError::Text(
            StatusCode::NOT_FOUND,
            format!("L'abonnement {id} n'existe pas"),
        ),
        WriteError::Store(e) => unavailable(&e),
    }
}

fn owner(provider: &ProviderConfig) -> Owner<'_> {
    Owner {
        provider: &provider.key,
        distributors: &provider.commercial_distributors,
    }
}

fn subscription_xml(state: &AppState, status: StatusCode, s: &Subscription) -> Response {
    let zone = state.config.subscriptions.timezone;
    xml_response(status, xml::document(&xml::abonnement_xml(s, zone), None))
}

/// The time of a write, in the zone where dates without an offset are read.
fn now(state: &AppState) -> chrono::DateTime<chrono_tz::Tz> {
    state
        .clock
        .now()
        .with_timezone(&state.config.subscriptions.timezone)
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
    body: Bytes,
) -> WsResult {
    let caller = authenticated(caller)?;
    let input = parse(&headers, &body)?;
    let created = subscription::create(
        &state.deps(),
        owner(caller.provider()),
        &id,
        &input,
        now(&state),
    )
    .await
    .map_err(|e| refused(&id, e))?;
    Ok(subscription_xml(&state, StatusCode::CREATED, &created))
}

async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
    body: Bytes,
) -> WsResult {
    let caller = authenticated(caller)?;
    let (d, owner) = (state.deps(), owner(caller.provider()));
    let existing = subscription::read(&d, owner, &id)
        .await
        .map_err(|e| refused(&id, e))?;
    let input = parse(&headers, &body)?;
    let updated = subscription::update(&d, owner, &existing, &id, &input, now(&state))
        .await
        .map_err(|e| refused(&id, e))?;
    Ok(subscription_xml(&state, StatusCode::OK, &updated))
}

async fn delete(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
) -> WsResult {
    let caller = authenticated(caller)?;
    subscription::delete(
        &state.deps(),
        owner(caller.provider()),
        &id,
        state.clock.now(),
    )
    .await
    .map_err(|e| refused(&id, e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn read(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
) -> WsResult {
    let caller = authenticated(caller)?;
    let s = subscription::read(&state.deps(), owner(caller.provider()), &id)
        .await
        .map_err(|e| refused(&id, e))?;
    Ok(subscription_xml(&state, StatusCode::OK, &s))
}

async fn list(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> WsResult {
    let caller = authenticated(caller)?;
    let provider = caller.provider();
    let number = |k: &str, default: usize| {
        q.get(k).map_or(Ok(default), |v| {
            v.parse::<usize>()
                .map_err(|_| format!("{k} doit être un entier"))
        })
    };
    let (debut, fin) = match (number("debut", 0), number("fin", 5000)) {
        (Ok(d), Ok(f)) if d <= f => (d, f),
        (Err(e), _) | (_, Err(e)) => return Err(WsError::Text(StatusCode::BAD_REQUEST, e)),
        _ => {
            return Err(WsError::Text(
                StatusCode::BAD_REQUEST,
                "debut doit être inférieur ou égal à fin".into(),
            ))
        }
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return Err(WsError::Text(
            StatusCode::BAD_REQUEST,
            "le corps n'est pas en UTF-8".into(),
        ));
    };
    let request = xml::read_filters(body).map_err(|e| WsError::Text(StatusCode::BAD_REQUEST, e))?;
    let filters = request.filters;
    let mut include_deleted = request.include_deleted;
    let sort_by = request.sort_by.or_else(|| q.get("triPar").cloned());
    let order = request.order.or_else(|| q.get("tri").cloned());
    if q.get("aboSuppr").is_some_and(|v| v == "true") {
        include_deleted = true;
    }
    let zone = state.config.subscriptions.timezone;
    let all = subscription::of(&state.deps(), owner(provider), include_deleted)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut selected = Vec::new();
    for s in all {
        let mut keep = true;
        for (n, v) in &filters {
            match filters::matches(&s, n, v, zone) {
                Ok(m) => keep &= m,
                Err(e) => return Err(WsError::Text(StatusCode::BAD_REQUEST, e)),
            }
        }
        if keep {
            selected.push(s);
        }
    }
    if let Err(e) = filters::sort(&mut selected, sort_by.as_deref(), order.as_deref()) {
        return Err(WsError::Text(StatusCode::BAD_REQUEST, e));
    }
    let page: String = selected
        .iter()
        .skip(debut)
        .take(fin - debut)
        .map(|s| xml::abonnement_xml(s, zone))
        .collect();
    Ok(xml_response(
        StatusCode::OK,
        xml::document(&page, Some("abonnements")),
    ))
}
