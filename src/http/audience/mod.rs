//! Audience reports over HTTP: `GET /audience/report` (JSON or CSV), COUNTER Release 5.1 over
//! COUNTER_SUSHI 5.1 at `/r51/...` (see `counter51`), the COUNTER_SUSHI-style `/sushi/reports`
//! (see `sushi`), and the `/audience` dashboard (see `dashboard`).
//!
//! Who reads what: a reader of `[audience_readers.<key>]` (bearer token) has the scope
//! configured for it; a provider (its client certificate or API token) sees its own
//! resources; an ENT (certificate or token) its own schools. Only the ministry scope may narrow
//! to another scope with `scope=provider:<key>|ent:<idENT>|school:<UAI>`, and only it sees
//! small cells.

mod counter51;
mod dashboard;
mod sushi;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{Duration, NaiveDate};

use crate::app::AppState;
use crate::audience::report::{self, Period, ReportRequest};
use crate::domain::Jurisdiction;

use super::api_error::{ApiError, Shape};
use super::party::{AudienceReader, AudienceReaderCaller, Credentials, Unauthenticated};
use super::tls::ClientIdentity;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audience/report", get(api))
        .route("/r51/status", get(counter51::status))
        .route("/r51/members", get(counter51::members))
        .route("/r51/reports", get(counter51::reports))
        .route("/r51/reports/ir", get(counter51::ir))
        .route("/r51/reports/ir_m1", get(counter51::ir_m1))
        .route("/r51/reports/pr", get(counter51::pr))
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
    /// The reader's own key: an `[audience_readers]` key, a provider's key, an ENT's id.
    pub key: String,
    pub name: String,
    pub scope: Jurisdiction,
}

impl Reader {
    pub fn is_ministry(&self) -> bool {
        self.scope.is_all()
    }
}

impl From<AudienceReader> for Reader {
    fn from(r: AudienceReader) -> Self {
        match r {
            AudienceReader::Reader(r) => Reader {
                key: r.key,
                scope: r.scope,
                name: r.name,
            },
            AudienceReader::Provider(key, name) => Reader {
                key: key.clone(),
                name,
                scope: Jurisdiction::Provider(key),
            },
            AudienceReader::Ent(id, name) => Reader {
                key: id.to_string(),
                name,
                scope: Jurisdiction::Ent(id),
            },
        }
    }
}

/// The reader presenting `token` (from a header, a form or a query) or the client certificate
/// `identity` (`party`'s precedence).
pub(super) fn reader(
    state: &AppState,
    token: Option<&str>,
    identity: Option<&ClientIdentity>,
) -> Option<Reader> {
    let credentials = Credentials {
        fingerprint: identity.map(|i| i.fingerprint.clone()),
        ..Credentials::token(token)
    };
    credentials
        .audience_reader(&state.config)
        .ok()
        .map(Reader::from)
}

/// The scope a reader asks for: its own, or (ministry only) a narrower one.
fn wanted_scope(reader: &Reader, asked: Option<&str>) -> Result<Jurisdiction, ApiError> {
    let Some(asked) = asked.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(reader.scope.clone());
    };
    let parsed: Jurisdiction = asked
        .parse()
        .map_err(|e| bad_request(format!("scope {e}")))?;
    if parsed != reader.scope && !reader.is_ministry() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Shape::Text,
            "ce périmètre n'est pas le vôtre",
            format!(
                "audience report refused: reader {} asked for scope {} outside its own",
                reader.name,
                parsed.label()
            ),
        ));
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
) -> Result<ReportRequest, ApiError> {
    let today = crate::audience::visitor::day_of(state.clock.now(), state.config.audience.timezone);
    let to = day(p.get("to")).map_err(bad_request)?.unwrap_or(today);
    let from = day(p.get("from"))
        .map_err(bad_request)?
        .unwrap_or(to - Duration::days(29));
    let scope = wanted_scope(reader, p.get("scope").map(String::as_str))?;
    let period: Period = p
        .get("period")
        .map(String::as_str)
        .unwrap_or("day")
        .parse()
        .map_err(bad_request)?;
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
    req.check().map_err(bad_request)?;
    Ok(req)
}

/// The report an operator asks for on the command line (ministry level, every scope).
pub fn operator_request(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<ReportRequest, String> {
    let operator = Reader {
        key: "operator".into(),
        name: "operator".into(),
        scope: Jurisdiction::All,
    };
    request(state, &operator, p).map_err(|e| e.message)
}

/// The store does not answer a report: 503, one line of text.
pub(super) fn unavailable(e: &crate::store::StoreError) -> ApiError {
    ApiError::store(Shape::Text, e)
}

/// A report request that cannot be answered as asked: 400, one line of text saying why.
pub(super) fn bad_request(m: String) -> ApiError {
    let cause = format!("audience report refused: {m}");
    ApiError::new(StatusCode::BAD_REQUEST, Shape::Text, m, cause)
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
    reader: Result<AudienceReaderCaller, Unauthenticated>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let r = match reader {
        Ok(AudienceReaderCaller(r)) => r,
        Err(e) => {
            return ApiError::unauthenticated(
                Shape::Bearer {
                    realm: "passerelle-audience",
                },
                format!("audience report: {} (audience_readers.<key>.api_token_file, or a provider's or ENT's credentials)", e.cause()),
            )
            .into_response()
        }
    };
    let r = Reader::from(r);
    let req = match request(&state, &r, &p) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    match report::build(state.store.as_ref(), &req).await {
        Ok(rep) if p.get("format").map(String::as_str) == Some("csv") => {
            csv_response(report::to_csv(&rep), false)
        }
        Ok(rep) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(rep)).into_response(),
        Err(e) => unavailable(&e).into_response(),
    }
}
