//! The limits in the HTTP stack: every request is given its client (`Client`), takes a slot
//! of `limits.max_in_flight` or gets 503, pays the client's rate on the expensive endpoints
//! or gets 429, and is cut at `limits.request_timeout_seconds`
//! (`limits.upload_timeout_seconds` for directory uploads) with 503. Each answer carries
//! `Retry-After`; a browser gets a page in French, an API client `{"error": ...}`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::limits::{cost, ClientKey, Cost};

use super::pages;
use super::tls::GatewayTls;

/// The client of this request, as the limits count it.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub ClientKey);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<Client>()
            .copied()
            .unwrap_or(Client(ClientKey::Unknown)))
    }
}

fn now_ms(state: &AppState) -> i64 {
    state.clock.now().timestamp_millis()
}

/// The middleware.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| req.extensions().get::<GatewayTls>().map(|g| g.peer.ip()));
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client = state.limits.client(peer, forwarded);
    req.extensions_mut().insert(Client(client));
    let path = req.uri().path().to_string();
    if path.starts_with("/health/") {
        return next.run(req).await;
    }
    let page = pages::wants_page(req.headers());
    let limits = &state.limits;
    let Ok(_slot) = limits.in_flight.clone().try_acquire_owned() else {
        limits.metrics.busy_refused.fetch_add(1, Ordering::Relaxed);
        if limits.log_busy(now_ms(&state)) {
            tracing::warn!(
                max_in_flight = limits.max_in_flight,
                "node full: requests refused with 503 (limits.max_in_flight; add nodes or raise it if the machine has room)"
            );
        }
        return unavailable(page, "limits.busy", Duration::from_secs(1));
    };
    if cost(&path) == Cost::Expensive {
        if let Err(e) = limits.expensive(client, now_ms(&state)) {
            if e.first {
                tracing::warn!(%client, route = %path, retry_after_ms = e.retry_after.as_millis() as u64,
                    "client over its rate on login and signature endpoints (limits.login_rate_per_minute, limits.login_burst; a proxy in front? set limits.trusted_forwarders)");
            }
            return too_many(page, "limits.rate", e.retry_after);
        }
    }
    let timeout = if path.starts_with("/annuaire/") {
        state.config.limits.upload_timeout
    } else {
        state.config.limits.request_timeout
    };
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            limits.metrics.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%client, route = %path, timeout_s = timeout.as_secs(),
                "request cut at its time limit (limits.request_timeout_seconds, limits.upload_timeout_seconds)");
            unavailable(page, "limits.timeout", Duration::from_secs(5))
        }
    }
}

fn retry_after(wait: Duration) -> HeaderValue {
    let secs = wait.as_millis().div_ceil(1000).max(1);
    HeaderValue::from(u64::try_from(secs).unwrap_or(u64::MAX))
}

/// 429: too many requests from this client.
pub fn too_many(page: bool, code: &'static str, wait: Duration) -> Response {
    let (title, message) = if code == "limits.pending" {
        ("Trop de connexions en cours", "Trop de connexions ont été commencées depuis votre réseau sans être terminées. Patientez quelques minutes, puis recommencez depuis le médiacentre de votre ENT.")
    } else {
        ("Trop de demandes", "Trop de demandes sont venues de votre réseau en peu de temps. Patientez une minute, puis recommencez depuis le médiacentre de votre ENT.")
    };
    answer(
        StatusCode::TOO_MANY_REQUESTS,
        page,
        code,
        "slow_down",
        title,
        message,
        wait,
    )
}

/// 503: this node cannot take the request now.
fn unavailable(page: bool, code: &'static str, wait: Duration) -> Response {
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        page,
        code,
        "temporarily_unavailable",
        "Service momentanément indisponible",
        "La passerelle est très sollicitée et ne peut pas répondre pour le moment. Réessayez dans quelques instants.",
        wait,
    )
}

fn answer(
    status: StatusCode,
    page: bool,
    code: &'static str,
    oauth: &'static str,
    title: &str,
    message: &str,
    wait: Duration,
) -> Response {
    let mut resp = if page {
        let reference = pages::reference();
        Html(pages::error_page(title, message, code, &reference)).into_response()
    } else {
        axum::Json(serde_json::json!({
            "error": oauth,
            "error_description": format!("{code}: retry after {} s", retry_after(wait).to_str().unwrap_or("1")),
        }))
        .into_response()
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::RETRY_AFTER, retry_after(wait));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Takes a pending-login slot of `client`; without one, the 429 to answer (`limits.pending`).
#[must_use]
pub fn pending_login(state: &AppState, client: ClientKey) -> Option<Response> {
    state
        .limits
        .pending_login(client, now_ms(state))
        .err()
        .map(|e| {
            if e.first {
                tracing::warn!(%client, retry_after_ms = e.retry_after.as_millis() as u64,
                    "client has too many logins started and not finished (limits.max_pending_logins_per_client)");
            }
            too_many(true, "limits.pending", e.retry_after)
        })
}

/// The rows of `/metrics`.
pub fn metrics(state: &AppState) -> String {
    let m = &state.limits.metrics;
    let (tracked, evicted) = state.limits.tracked();
    let in_flight = state
        .limits
        .max_in_flight
        .saturating_sub(state.limits.in_flight.available_permits());
    let mut out = String::new();
    for (name, help, v) in [
        ("passerelle_limits_rate_refused_total", "requests refused with 429 because their client was over limits.login_rate_per_minute", m.rate_refused.load(Ordering::Relaxed)),
        ("passerelle_limits_pending_refused_total", "logins refused with 429 because their client had limits.max_pending_logins_per_client unfinished", m.pending_refused.load(Ordering::Relaxed)),
        ("passerelle_limits_busy_refused_total", "requests refused with 503 because limits.max_in_flight were being served", m.busy_refused.load(Ordering::Relaxed)),
        ("passerelle_limits_timed_out_total", "requests cut with 503 at limits.request_timeout_seconds or limits.upload_timeout_seconds", m.timed_out.load(Ordering::Relaxed)),
        ("passerelle_limits_clients_evicted_total", "clients forgotten before their bucket refilled, to stay within limits.max_tracked_clients", evicted),
    ] {
        out.push_str(&format!(
            "# HELP {name} Number of {help}.\n# TYPE {name} counter\n{name} {v}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP passerelle_limits_in_flight Requests being served.\n# TYPE passerelle_limits_in_flight gauge\npasserelle_limits_in_flight {in_flight}\n# HELP passerelle_limits_tracked_clients Clients tracked by the rate and pending-login limits.\n# TYPE passerelle_limits_tracked_clients gauge\npasserelle_limits_tracked_clients {tracked}\n"
    ));
    out
}
