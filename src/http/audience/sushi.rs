//! `GET /sushi/reports` and `GET /sushi/reports/gw_tr`: the COUNTER_SUSHI-style monthly report
//! of one provider's resources (`customer_id` = the provider's key; `begin_date`, `end_date` as
//! `YYYY-MM` or `YYYY-MM-DD`; optional `metric_type`, `|`-separated). Errors answer in the
//! SUSHI exception shape.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{reader, Reader};
use crate::app::AppState;
use crate::audience::report::{self, Period, ReportRequest};
use crate::audience::sushi::{self as s, Item};
use crate::domain::Jurisdiction;
use crate::http::api_error::ApiError;
use crate::http::tls::ClientIdentity;

/// A SUSHI exception; its cause is logged once by `api_error::log_cause`.
fn exception(status: StatusCode, code: u32, message: &str, data: &str) -> Response {
    ApiError::sushi(status, code, message, data).into_response()
}

fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    identity: Option<&ClientIdentity>,
    p: &HashMap<String, String>,
) -> Result<Reader, Box<Response>> {
    let token = crate::http::party::bearer(headers).or(p.get("api_key").map(String::as_str));
    reader(state, token, identity).ok_or_else(|| {
        Box::new(exception(
            StatusCode::UNAUTHORIZED,
            2000,
            "Requestor Not Authorized to Access Service",
            "present a bearer token, api_key or the provider's client certificate",
        ))
    })
}

pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    match authenticate(&state, &headers, identity.as_ref().map(|e| &e.0), &p) {
        Ok(_) => Json(s::report_list(&state.config.url(""))).into_response(),
        Err(r) => *r,
    }
}

pub(super) async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let reader = match authenticate(&state, &headers, identity.as_ref().map(|e| &e.0), &p) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if !id.eq_ignore_ascii_case("gw_tr") && !id.eq_ignore_ascii_case(s::REPORT_ID) {
        return exception(StatusCode::NOT_FOUND, 3000, "Report Not Supported", &id);
    }
    let customer = match (&reader.scope, p.get("customer_id")) {
        (Jurisdiction::Provider(own), None) => own.clone(),
        (Jurisdiction::Provider(own), Some(c)) if c == own => own.clone(),
        (Jurisdiction::All, Some(c)) if state.config.providers.contains_key(c) => c.clone(),
        (Jurisdiction::All, _) => {
            return exception(
                StatusCode::BAD_REQUEST,
                1030,
                "Insufficient Information to Process Request",
                "customer_id must name a configured provider",
            )
        }
        _ => {
            return exception(
                StatusCode::FORBIDDEN,
                2010,
                "Requestor is Not Authorized to Access Usage for Institution",
                "customer_id",
            )
        }
    };
    let (Some(from), Some(to)) = (
        p.get("begin_date")
            .and_then(|d| s::parse_month_date(d, false)),
        p.get("end_date").and_then(|d| s::parse_month_date(d, true)),
    ) else {
        return exception(
            StatusCode::BAD_REQUEST,
            3020,
            "Invalid Date Arguments",
            "begin_date and end_date are required, as YYYY-MM or YYYY-MM-DD",
        );
    };
    let req = ReportRequest {
        scope: Jurisdiction::Provider(customer.clone()),
        from,
        to,
        by: "resource".into(),
        period: Period::Month,
        min_visitors: (!reader.is_ministry()).then_some(state.config.audience.min_visitors),
    };
    if let Err(m) = req.check() {
        return exception(StatusCode::BAD_REQUEST, 3020, "Invalid Date Arguments", &m);
    }
    let built = match report::build(state.store.as_ref(), &req).await {
        Ok(r) => r,
        Err(e) => {
            let mut unavailable = ApiError::sushi(
                StatusCode::SERVICE_UNAVAILABLE,
                1000,
                "Service Not Available",
                "retry later",
            );
            unavailable.cause = format!("SUSHI report: the store does not answer: {e}");
            return unavailable.into_response();
        }
    };
    let provider = state.config.providers.get(&customer);
    let items: Vec<Item> = provider
        .map(|p| {
            p.resources
                .iter()
                .map(|r| Item {
                    id: r.id.to_string(),
                    name: r.name.clone(),
                    publisher: r.editor_name.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let metrics: Vec<String> = p
        .get("metric_type")
        .map(|m| m.split('|').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    Json(s::build(
        &built,
        &customer,
        provider.map_or(customer.as_str(), |p| p.name.as_str()),
        &items,
        &metrics,
        state.clock.now(),
    ))
    .into_response()
}
