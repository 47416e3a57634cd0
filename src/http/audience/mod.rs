//! Audience reports over HTTP: `GET /audience/report` (JSON or CSV), the COUNTER_SUSHI-style
//! `/sushi/reports` (see `sushi`), and the `/audience` dashboard (see `dashboard`).
//!
//! Who reads what: a reader of `[audience_readers.<key>]` (bearer token) has the scope
//! configured for it; a provider (its client certificate or API token) sees its own
//! resources; an ENT (certificate or token) its own schools. Only the ministry scope may narrow
//! to another scope with `scope=provider:<key>|ent:<idENT>|school:<UAI>`, and only it sees
//! small cells.

mod dashboard;
mod sushi;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{Duration, NaiveDate};

use crate::app::AppState;
use crate::audience::report::{self, Period, ReportRequest, ReportScope};
use crate::config::AuditorScope;

use super::tls::ClientIdentity;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audience/report", get(api))
        .route("/sushi/reports", get(sushi::list))
        .route("/sushi/reports/{id}", get(sushi::report))
        .route(
            "/audience",
            get(dashboard::form_page).post(dashboard::results_page),
        )
        .route("/audience/export", axum::routing::post(dashboard::export))
}

/// An authenticated reader of audience figures.
#[derive(Debug, Clone)]
pub(super) struct Reader {
    pub name: String,
    pub scope: ReportScope,
}

impl Reader {
    pub fn is_ministry(&self) -> bool {
        self.scope == ReportScope::All
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The reader presenting `token` or the client certificate `identity`.
pub(super) fn reader(
    state: &AppState,
    token: Option<&str>,
    identity: Option<&ClientIdentity>,
) -> Option<Reader> {
    let c = &state.config;
    if let Some(t) = token.map(str::trim).filter(|t| !t.is_empty()) {
        if let Some(r) = c.audience_readers.values().find(|r| r.token.matches(t)) {
            let scope = match &r.scope {
                AuditorScope::Ministry => ReportScope::All,
                AuditorScope::Provider(p) => ReportScope::Provider(p.clone()),
                AuditorScope::Ent(e) => ReportScope::Ent(e.to_string()),
                AuditorScope::School(u) => ReportScope::School(u.to_string()),
            };
            return Some(Reader {
                name: r.name.clone(),
                scope,
            });
        }
        if let Some(p) = c
            .providers
            .values()
            .find(|p| p.api_token.as_ref().is_some_and(|k| k.matches(t)))
        {
            return Some(Reader {
                name: p.name.clone(),
                scope: ReportScope::Provider(p.key.clone()),
            });
        }
        if let Some(e) = c
            .ents
            .values()
            .find(|e| e.api_token.as_ref().is_some_and(|k| k.matches(t)))
        {
            return Some(Reader {
                name: e.name.clone(),
                scope: ReportScope::Ent(e.id.to_string()),
            });
        }
    }
    let fp = identity.map(|i| i.fingerprint.as_str())?;
    if let Some(p) = c
        .providers
        .values()
        .find(|p| p.client_cert_fingerprint.as_deref() == Some(fp))
    {
        return Some(Reader {
            name: p.name.clone(),
            scope: ReportScope::Provider(p.key.clone()),
        });
    }
    c.ents
        .values()
        .find(|e| e.client_cert_fingerprint.as_deref() == Some(fp))
        .map(|e| Reader {
            name: e.name.clone(),
            scope: ReportScope::Ent(e.id.to_string()),
        })
}

/// The scope a reader asks for: its own, or (ministry only) a narrower one.
pub(super) fn wanted_scope(reader: &Reader, asked: Option<&str>) -> Result<ReportScope, String> {
    let Some(asked) = asked.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(reader.scope.clone());
    };
    let parsed = match asked.split_once(':') {
        None if asked == "all" => ReportScope::All,
        Some(("provider", p)) => ReportScope::Provider(p.to_string()),
        Some(("ent", e)) => ReportScope::Ent(e.to_string()),
        Some(("school", u)) => ReportScope::School(u.to_ascii_uppercase()),
        _ => {
            return Err(format!(
                "scope « {asked} » : all, provider:<clé>, ent:<idENT> ou school:<UAI>"
            ))
        }
    };
    if parsed != reader.scope && !reader.is_ministry() {
        return Err("ce périmètre n'est pas le vôtre".into());
    }
    Ok(parsed)
}

fn day(v: Option<&String>) -> Result<Option<NaiveDate>, String> {
    match v.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("« {s} » n'est pas une date (AAAA-MM-JJ)")),
    }
}

/// Reads `from`, `to`, `by`, `period`, `scope` for `reader`. Defaults: the last 30 days,
/// broken down by resource, per day.
pub(super) fn request(
    state: &AppState,
    reader: &Reader,
    p: &HashMap<String, String>,
) -> Result<ReportRequest, String> {
    let today = crate::audience::visitor::day_of(state.clock.now(), state.config.audience.timezone);
    let to = day(p.get("to"))?.unwrap_or(today);
    let from = day(p.get("from"))?.unwrap_or(to - Duration::days(29));
    let scope = wanted_scope(reader, p.get("scope").map(String::as_str))?;
    let period: Period = p
        .get("period")
        .map(String::as_str)
        .unwrap_or("day")
        .parse()?;
    let by = p
        .get("by")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "resource".into());
    let req = ReportRequest {
        min_visitors: (!reader.is_ministry()).then_some(state.config.audience.min_visitors),
        scope,
        from,
        to,
        by,
        period,
    };
    req.check()?;
    Ok(req)
}

/// The report an operator asks for on the command line (ministry level, every scope).
pub fn operator_request(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<ReportRequest, String> {
    let operator = Reader {
        name: "operator".into(),
        scope: ReportScope::All,
    };
    request(state, &operator, p)
}

pub(super) fn unavailable(e: &crate::store::StoreError) -> (StatusCode, String) {
    tracing::error!(error = %e, "audience report: the store does not answer");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "service indisponible, réessayez plus tard".into(),
    )
}

pub(super) fn csv_response(body: String, attachment: bool) -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    if attachment {
        resp.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_static("attachment; filename=\"audience.csv\""),
        );
    }
    resp
}

/// `GET /audience/report?from=&to=&by=&period=&scope=&format=json|csv`.
async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let Some(r) = reader(&state, bearer(&headers), identity.as_ref().map(|e| &e.0)) else {
        tracing::warn!("audience report refused: no valid reader token or client certificate (audience_readers.<key>.api_token_file)");
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"passerelle-audience\"",
            )],
            "authentification requise\n",
        )
            .into_response();
    };
    let req = match request(&state, &r, &p) {
        Ok(req) => req,
        Err(m) => {
            let status = if m.contains("pas le vôtre") {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            return (status, format!("{m}\n")).into_response();
        }
    };
    match report::build(state.store.as_ref(), &req).await {
        Ok(rep) if p.get("format").map(String::as_str) == Some("csv") => {
            csv_response(report::to_csv(&rep), false)
        }
        Ok(rep) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(rep)).into_response(),
        Err(e) => {
            let (s, m) = unavailable(&e);
            (s, format!("{m}\n")).into_response()
        }
    }
}
