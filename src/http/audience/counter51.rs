//! COUNTER Release 5.1 over COUNTER_SUSHI 5.1: `GET /r51/status` (public), `/r51/members`,
//! `/r51/reports`, `/r51/reports/ir`, `/r51/reports/ir_m1`, `/r51/reports/pr`.
//!
//! Authentication by query parameters, no IP address: `api_key` is the reader's token (an
//! `Authorization: Bearer` header and a provider's client certificate work too), `requestor_id`
//! (optional) must name the reader (its `[audience_readers]` key, provider key or ENT id), and
//! `customer_id` names whose usage: a scope as `/audience/report` writes it (`all`,
//! `provider:<key>`, `ent:<idENT>`, `school:<UAI>`) or a provider's bare key. A reader reaches
//! its own scope only; the ministry every scope (`/r51/members` lists them). Errors answer one
//! 5.1 Exception with the Code of Practice's HTTP status (Appendix D); what can be ignored is
//! said in the report header's `Exceptions`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::NaiveDate;

use super::{reader, Reader};
use crate::app::AppState;
use crate::audience::counter51::{self as c, Header, Item, Member};
use crate::audience::report::{self, Period, ReportRequest};
use crate::domain::Jurisdiction;
use crate::http::api_error::ApiError;
use crate::http::tls::ClientIdentity;

fn refuse(status: StatusCode, code: u32, message: &str, data: &str) -> ApiError {
    ApiError::counter51(status, code, message, data)
}

fn insufficient(data: &str) -> ApiError {
    refuse(
        StatusCode::BAD_REQUEST,
        1030,
        "Insufficient Information to Process Request",
        data,
    )
}

fn not_for_institution(data: &str) -> ApiError {
    refuse(
        StatusCode::FORBIDDEN,
        2010,
        "Requestor is Not Authorized to Access Usage for Institution",
        data,
    )
}

fn invalid_dates(data: &str) -> ApiError {
    refuse(
        StatusCode::BAD_REQUEST,
        3020,
        "Invalid Date Arguments",
        data,
    )
}

/// The reader the request's credentials name, and that `requestor_id` (if any) names it.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    identity: Option<&ClientIdentity>,
    p: &HashMap<String, String>,
) -> Result<Reader, ApiError> {
    let token = crate::http::party::bearer(headers).or(p.get("api_key").map(String::as_str));
    if token.is_none() && identity.is_none() {
        return Err(insufficient(
            "api_key is required (or the provider's client certificate)",
        ));
    }
    let Some(r) = reader(state, token, identity) else {
        return Err(if token.is_some() {
            refuse(
                StatusCode::UNAUTHORIZED,
                2020,
                "APIKey Invalid",
                "the api_key is not a reader's token",
            )
        } else {
            refuse(
                StatusCode::UNAUTHORIZED,
                2000,
                "Requestor Not Authorized to Access Service",
                "the client certificate is not a reader's",
            )
        });
    };
    if let Some(rid) = p.get("requestor_id").filter(|s| !s.trim().is_empty()) {
        if rid.trim() != r.key {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                2000,
                "Requestor Not Authorized to Access Service",
                "requestor_id does not name the api_key's reader",
            ));
        }
    }
    Ok(r)
}

/// The bare value of a scope (a provider's key, an ENT's id, a UAI).
fn bare(scope: &Jurisdiction) -> String {
    match scope {
        Jurisdiction::All => "all".into(),
        Jurisdiction::Provider(k) => k.clone(),
        Jurisdiction::Ent(e) => e.to_string(),
        Jurisdiction::School(u) => u.to_string(),
    }
}

/// The scope `customer_id` names, if `reader` may read it.
fn customer(state: &AppState, reader: &Reader, id: &str) -> Result<Jurisdiction, ApiError> {
    let id = id.trim();
    let scope = if let Ok(s) = id.parse::<Jurisdiction>() {
        s
    } else if state.config.providers.contains_key(id) {
        Jurisdiction::Provider(id.to_string())
    } else if bare(&reader.scope) == id {
        reader.scope.clone()
    } else {
        return Err(not_for_institution("customer_id is not recognised"));
    };
    let known = match &scope {
        Jurisdiction::Provider(k) => state.config.providers.contains_key(k),
        Jurisdiction::Ent(e) => state.config.ents.contains_key(e),
        _ => true,
    };
    if !known {
        return Err(not_for_institution("customer_id is not recognised"));
    }
    if scope != reader.scope && !reader.is_ministry() {
        return Err(not_for_institution(
            "customer_id is not the requestor's (see /r51/members)",
        ));
    }
    Ok(scope)
}

fn institution(state: &AppState, scope: &Jurisdiction) -> String {
    match scope {
        Jurisdiction::All => "All schools (ministry)".into(),
        Jurisdiction::Provider(k) => state
            .config
            .providers
            .get(k)
            .map_or_else(|| k.clone(), |p| p.name.clone()),
        Jurisdiction::Ent(e) => state
            .config
            .ents
            .get(e)
            .map_or_else(|| e.to_string(), |x| x.name.clone()),
        Jurisdiction::School(u) => format!("UAI {u}"),
    }
}

/// `GET /r51/status`: public.
pub(super) async fn status(State(state): State<AppState>) -> Response {
    let active = state.store.ping().await.is_ok();
    Json(c::status(active)).into_response()
}

/// `GET /r51/members`: the customers the requestor may ask for.
pub(super) async fn members(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let r = match authenticate(&state, &headers, identity.as_ref().map(|e| &e.0), &p) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut scopes = vec![r.scope.clone()];
    if r.is_ministry() {
        scopes.extend(
            state
                .config
                .providers
                .keys()
                .map(|k| Jurisdiction::Provider(k.clone())),
        );
        scopes.extend(
            state
                .config
                .ents
                .keys()
                .map(|e| Jurisdiction::Ent(e.clone())),
        );
    }
    if let Some(id) = p.get("customer_id").filter(|s| !s.trim().is_empty()) {
        match customer(&state, &r, id) {
            Ok(s) => scopes = vec![s],
            Err(e) => return e.into_response(),
        }
    }
    let list: Vec<Member> = scopes
        .iter()
        .map(|s| Member {
            customer_id: s.label(),
            name: institution(&state, s),
            notes: None,
        })
        .collect();
    Json(c::members(&list)).into_response()
}

fn today(state: &AppState) -> NaiveDate {
    crate::audience::visitor::day_of(state.clock.now(), state.config.audience.timezone)
}

fn retention_days(state: &AppState) -> i64 {
    (state.config.audience.retention.as_secs() / 86_400).max(1) as i64
}

/// `GET /r51/reports`.
pub(super) async fn reports(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let r = match authenticate(&state, &headers, identity.as_ref().map(|e| &e.0), &p) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Some(id) = p.get("customer_id").filter(|s| !s.trim().is_empty()) {
        if let Err(e) = customer(&state, &r, id) {
            return e.into_response();
        }
    }
    let (first, last) = c::available(today(&state), retention_days(&state));
    Json(c::report_list(first, last)).into_response()
}

pub(super) async fn ir(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    report(&state, "IR", &headers, identity.as_ref().map(|e| &e.0), &p).await
}

pub(super) async fn ir_m1(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    report(
        &state,
        "IR_M1",
        &headers,
        identity.as_ref().map(|e| &e.0),
        &p,
    )
    .await
}

pub(super) async fn pr(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    report(&state, "PR", &headers, identity.as_ref().map(|e| &e.0), &p).await
}

/// A `|`-separated parameter's values.
fn values(p: &HashMap<String, String>, name: &str) -> Vec<String> {
    p.get(name)
        .map(|v| {
            v.split('|')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

async fn report(
    state: &AppState,
    report_id: &'static str,
    headers: &HeaderMap,
    identity: Option<&ClientIdentity>,
    p: &HashMap<String, String>,
) -> Response {
    let r = match authenticate(state, headers, identity, p) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(customer_id) = p.get("customer_id").filter(|s| !s.trim().is_empty()) else {
        return insufficient("customer_id is required (see /r51/members)").into_response();
    };
    let scope = match customer(state, &r, customer_id) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let (Some(begin), Some(end)) = (p.get("begin_date"), p.get("end_date")) else {
        return insufficient("begin_date and end_date are required").into_response();
    };
    let (Some(mut begin), Some(mut end)) =
        (c::parse_month(begin, false), c::parse_month(end, true))
    else {
        return invalid_dates("begin_date and end_date as YYYY-MM or YYYY-MM-DD").into_response();
    };
    if end < begin {
        return invalid_dates("end_date is before begin_date").into_response();
    }
    let (first, last) = c::available(today(state), retention_days(state));
    if begin > last {
        return invalid_dates(&format!(
            "begin_date is the current or a future month; the last month available is {}",
            c::month_of(last)
        ))
        .into_response();
    }
    let mut exceptions = Vec::new();
    if end > c::last_of_month(last) {
        exceptions.push(c::exception(
            3031,
            "Usage Not Ready for Requested Dates",
            &format!(
                "{} to {} not yet processed",
                c::month_of(c::last_of_month(last).succ_opt().unwrap_or(end)),
                c::month_of(end)
            ),
        ));
        end = c::last_of_month(last);
    }
    if begin < first {
        exceptions.push(c::exception(
            3032,
            "Usage No Longer Available for Requested Dates",
            &format!("usage is available from {}", c::month_of(first)),
        ));
        begin = first.min(c::first_of_month(end));
    }
    // Filters and attributes: what the gateway supports, the rest said and ignored.
    let master = report_id != "IR_M1";
    let mut known = vec![
        "customer_id",
        "requestor_id",
        "api_key",
        "platform",
        "begin_date",
        "end_date",
    ];
    let mut metric_filter = Vec::new();
    let mut data_type_filter = Vec::new();
    let mut no_usage = false;
    if master {
        known.extend([
            "metric_type",
            "data_type",
            "access_method",
            "access_type",
            "attributes_to_show",
            "granularity",
        ]);
        let mut invalid = Vec::new();
        for m in values(p, "metric_type") {
            if c::METRICS.contains(&m.as_str()) {
                metric_filter.push(m);
            } else {
                invalid.push(format!("metric_type={m}"));
            }
        }
        for t in values(p, "data_type") {
            if c::DATA_TYPES.contains(&t.as_str()) {
                data_type_filter.push(t);
            } else {
                invalid.push(format!("data_type={t}"));
            }
        }
        let access_method = values(p, "access_method");
        if !access_method.is_empty() && !access_method.iter().any(|v| v == "Regular") {
            no_usage = true;
        }
        let access_type = values(p, "access_type");
        if report_id == "IR"
            && !access_type.is_empty()
            && !access_type.iter().any(|v| v == "Controlled")
        {
            no_usage = true;
        }
        if report_id == "PR" && !access_type.is_empty() {
            invalid.push("access_type (not a filter of PR)".into());
        }
        if !invalid.is_empty() {
            exceptions.push(c::exception(
                3060,
                "Invalid ReportFilter Value",
                &invalid.join(", "),
            ));
        }
        let shown: &[&str] = if report_id == "IR" {
            &["Access_Type", "Access_Method"]
        } else {
            &["Access_Method"]
        };
        if report_id == "IR" {
            // No item here has a parent or components: there are no details to include.
            known.extend(["include_parent_details", "include_component_details"]);
            if p.get("include_component_details")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                exceptions.push(c::exception(
                    3063,
                    "Components Not Supported",
                    "include_component_details",
                ));
            }
        }
        let mut bad_attributes: Vec<String> = values(p, "attributes_to_show")
            .into_iter()
            .filter(|a| !shown.contains(&a.as_str()))
            .map(|a| format!("attributes_to_show={a}"))
            .collect();
        if p.get("granularity").is_some_and(|g| g != "Month") {
            bad_attributes.push("granularity (Month only)".into());
        }
        if !bad_attributes.is_empty() {
            exceptions.push(c::exception(
                3062,
                "Invalid ReportAttribute Value",
                &bad_attributes.join(", "),
            ));
        }
    }
    let mut unknown: Vec<&str> = p
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        exceptions.push(c::exception(
            3050,
            "Parameter Not Recognized in this Context",
            &unknown.join(", "),
        ));
    }
    let req = ReportRequest {
        scope: scope.clone(),
        from: begin,
        to: end,
        by: "resource".into(),
        period: Period::Month,
        min_visitors: (!r.is_ministry()).then_some(state.config.audience.min_visitors),
    };
    if let Err(m) = req.check() {
        return invalid_dates(&m).into_response();
    }
    let mut built = match report::build(state.store.as_ref(), &req).await {
        Ok(b) => b,
        Err(e) => {
            let mut unavailable = ApiError::counter51(
                StatusCode::SERVICE_UNAVAILABLE,
                1000,
                "Service Not Available",
                "the counts do not answer; retry later",
            );
            unavailable.cause = format!("COUNTER 5.1 report: the store does not answer: {e}");
            return unavailable.into_response();
        }
    };
    if no_usage {
        built.rows.clear();
        built.suppressed = 0;
    }
    let items: Vec<Item> = state
        .config
        .providers
        .values()
        .filter(|pr| !matches!(&scope, Jurisdiction::Provider(k) if *k != pr.key))
        .flat_map(|pr| pr.resources.iter())
        .map(|res| Item {
            id: res.id.to_string(),
            name: res.name.clone(),
            publisher: res.editor_name.clone(),
            data_type: c::data_type(&res.display),
        })
        .collect();
    let header = Header {
        report_id,
        customer_id: scope.label(),
        institution: institution(state, &scope),
        created: state.clock.now(),
        begin,
        end,
        metric_filter,
        data_type_filter,
        exceptions,
    };
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(c::build(header, &built, &items)),
    )
        .into_response()
}
