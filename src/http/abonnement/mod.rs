//! The subscription web service for resource providers, under `/abonnement/`: create (`PUT`,
//! 201, 409 when the id exists), update (`POST`, 200), delete (`DELETE`, 204, kept as
//! deleted), read, and list with `<filtres>` and paging. Bodies are XML in the GAR namespace
//! or JSON with the same names; every broken rule is reported with its code and field.
//!
//! Callers are providers' servers, authenticated by their client certificate or bearer token;
//! a provider sees and changes only the subscriptions of its own commercial distributor ids.
//! `decompte` answers the licence counts (`GET /decompteaffectations`) on the same terms.

mod decompte;
pub(crate) mod filters;
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
use crate::domain::subscription::storage_id;
use crate::domain::subscription_rules::{
    check_resource_distributor, validate_for_schools, Mode, SubscriptionInput, Violation,
};
use crate::domain::{Subscription, Uai};
use crate::saml::xml::escape;

use super::api_error::{ApiError, Shape};
use super::party::{ProviderCaller, Unauthenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/abonnement/abonnements", get(list).post(list))
        .route(
            "/abonnement/etablissements/etablissements.xml",
            get(schools),
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

/// The distributor id the rules check the body against: the body's when the caller owns it.
fn acting_as<'a>(provider: &'a ProviderConfig, input: &SubscriptionInput) -> &'a str {
    let claimed = input.distributor.as_deref().map(str::trim);
    provider
        .commercial_distributors
        .iter()
        .find(|d| Some(d.as_str()) == claimed)
        .or(provider.commercial_distributors.first())
        .map_or("", String::as_str)
}

/// Those of `uais` that the directory knows as primary schools.
async fn primary_schools(state: &AppState, uais: &[Uai]) -> Result<Vec<Uai>, WsError> {
    let mut out = Vec::new();
    for uai in uais {
        let school = state.store.school(uai).await.map_err(|e| unavailable(&e))?;
        if school.is_some_and(|s| s.is_primary()) {
            out.push(uai.clone());
        }
    }
    Ok(out)
}

/// Refuses a subscription to a catalogue resource its distributor does not sell: a provider
/// only subscribes schools to its own resources.
async fn sold_by(state: &AppState, subscription: &Subscription) -> Result<(), WsError> {
    let resource = state
        .store
        .resource(&subscription.resource_id)
        .await
        .map_err(|e| unavailable(&e))?;
    match resource {
        Some(r) => check_resource_distributor(&r, &subscription.distributor_id)
            .map_err(|v| WsError::Rules(vec![v])),
        None => Ok(()),
    }
}

/// The caller's subscription `id`: looked up under each of its distributors (and under the
/// plain id, for subscriptions stored before ids were kept per distributor). Another
/// distributor's subscription of the same id is never read: it answers as absent.
async fn find_owned(
    state: &AppState,
    provider: &ProviderConfig,
    id: &str,
) -> Result<Option<Subscription>, WsError> {
    let keys = provider
        .commercial_distributors
        .iter()
        .map(|d| storage_id(d, id))
        .chain(std::iter::once(id.to_string()));
    for key in keys {
        let found = state
            .store
            .subscription(&key)
            .await
            .map_err(|e| unavailable(&e))?;
        if let Some(s) =
            found.filter(|s| provider.commercial_distributors.contains(&s.distributor_id))
        {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

async fn owned(
    state: &AppState,
    provider: &ProviderConfig,
    id: &str,
) -> Result<Subscription, WsError> {
    find_owned(state, provider, id).await?.ok_or_else(|| {
        WsError::Text(
            StatusCode::NOT_FOUND,
            format!("L'abonnement {id} n'existe pas"),
        )
    })
}

fn unavailable(e: &crate::store::StoreError) -> WsError {
    WsError::Api(ApiError::store(Shape::Text, e))
}

/// Records a change for the audit trail.
fn changed(
    state: &AppState,
    provider: &ProviderConfig,
    action: &'static str,
    id: &str,
    before: Option<&Subscription>,
    after: Option<&Subscription>,
) {
    state.trace(crate::trace::TraceEvent::SubscriptionChanged {
        provider: provider.key.clone(),
        action,
        subscription: id.to_string(),
        before: before.cloned().map(Box::new),
        after: after.cloned().map(Box::new),
    });
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
    body: Bytes,
) -> WsResult {
    let caller = authenticated(caller)?;
    let provider = caller.provider();
    let input = parse(&headers, &body)?;
    let now = state.clock.now();
    let named: Vec<Uai> = input.uais.iter().filter_map(|u| u.parse().ok()).collect();
    let primary = primary_schools(&state, &named).await?;
    let mut subscription = validate_for_schools(
        &input,
        &id,
        acting_as(provider, &input),
        Mode::Create,
        None,
        now,
        &primary,
    )
    .map_err(WsError::Rules)?;
    sold_by(&state, &subscription).await?;
    // Stored under the distributor's own key: the same id of another distributor is another
    // subscription, and its existence is never revealed.
    let exists_plain = state
        .store
        .subscription(&id)
        .await
        .map_err(|e| unavailable(&e))?
        .is_some_and(|s| s.distributor_id == subscription.distributor_id);
    subscription.id = storage_id(&subscription.distributor_id, &id);
    if exists_plain
        || !state
            .store
            .create_subscription(&subscription)
            .await
            .map_err(|e| unavailable(&e))?
    {
        return Err(WsError::Text(
            StatusCode::CONFLICT,
            format!("L'abonnement {id} existe deja"),
        ));
    }
    tracing::info!(provider = %provider.key, subscription = %id, "subscription created");
    changed(&state, provider, "create", &id, None, Some(&subscription));
    Ok(xml_response(
        StatusCode::CREATED,
        xml::document(&xml::abonnement_xml(&subscription), None),
    ))
}

async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
    body: Bytes,
) -> WsResult {
    let caller = authenticated(caller)?;
    let provider = caller.provider();
    let existing = owned(&state, provider, &id).await?;
    let input = parse(&headers, &body)?;
    let now = state.clock.now();
    let primary = primary_schools(&state, &existing.uais).await?;
    let mut subscription = validate_for_schools(
        &input,
        &id,
        acting_as(provider, &input),
        Mode::Update,
        Some(&existing),
        now,
        &primary,
    )
    .map_err(WsError::Rules)?;
    subscription.id = existing.id.clone();
    sold_by(&state, &subscription).await?;
    state
        .store
        .put_subscription(&subscription)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(provider = %provider.key, subscription = %id, "subscription updated");
    changed(
        &state,
        provider,
        "update",
        &id,
        Some(&existing),
        Some(&subscription),
    );
    Ok(xml_response(
        StatusCode::OK,
        xml::document(&xml::abonnement_xml(&subscription), None),
    ))
}

async fn delete(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
) -> WsResult {
    let caller = authenticated(caller)?;
    let provider = caller.provider();
    let before = owned(&state, provider, &id).await?;
    let mut existing = before.clone();
    existing.deleted = true;
    existing.details.updated_at = Some(state.clock.now());
    state
        .store
        .put_subscription(&existing)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(provider = %provider.key, subscription = %id, "subscription deleted");
    changed(
        &state,
        provider,
        "delete",
        &id,
        Some(&before),
        Some(&existing),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn read(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
    Path(id): Path<String>,
) -> WsResult {
    let caller = authenticated(caller)?;
    let provider = caller.provider();
    let s = owned(&state, provider, &id).await?;
    Ok(xml_response(
        StatusCode::OK,
        xml::document(&xml::abonnement_xml(&s), None),
    ))
}

/// `GET /abonnement/etablissements/etablissements.xml`: the schools known to the gateway.
async fn schools(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
) -> WsResult {
    authenticated(caller)?;
    let schools = state.store.schools().await.map_err(|e| unavailable(&e))?;
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let mut body = String::new();
    for s in &schools {
        body.push_str("<etablissement>");
        for (name, value) in [
            ("uai", s.uai.as_str()),
            ("nature_uai", s.nature.as_deref().unwrap_or("")),
            ("academie", s.academy.as_deref().unwrap_or("")),
            ("appellation_officielle", &s.name),
            ("idENT", &b64(s.ent.as_str())),
        ] {
            body.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        }
        body.push_str("</etablissement>");
    }
    Ok(xml_response(
        StatusCode::OK,
        xml::document(&body, Some("etablissements")),
    ))
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
    let mut all = Vec::new();
    for d in &provider.commercial_distributors {
        match state.store.subscriptions_of(d).await {
            Ok(s) => all.extend(s),
            Err(e) => return Err(unavailable(&e)),
        }
    }
    let mut selected = Vec::new();
    for s in all.into_iter().filter(|s| include_deleted || !s.deleted) {
        let mut keep = true;
        for (n, v) in &filters {
            match filters::matches(&s, n, v) {
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
        .map(xml::abonnement_xml)
        .collect();
    Ok(xml_response(
        StatusCode::OK,
        xml::document(&page, Some("abonnements")),
    ))
}
