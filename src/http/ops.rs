//! Operations endpoints: liveness, readiness (the store answers) and Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::app::AppState;

pub async fn live() -> &'static str {
    "ok\n"
}

pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => {
            tracing::warn!(store = state.store.kind(), error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store {} unavailable\n", state.store.kind()),
            )
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let rows = [
        (
            "passerelle_ent_logins_total",
            "ENT logins accepted",
            &m.ent_logins,
        ),
        (
            "passerelle_access_granted_total",
            "accesses granted",
            &m.access_granted,
        ),
        (
            "passerelle_access_refused_total",
            "accesses refused",
            &m.access_refused,
        ),
        (
            "passerelle_protocol_refused_total",
            "protocol messages refused",
            &m.protocol_refused,
        ),
        (
            "passerelle_credentials_issued_total",
            "assertions and tokens issued to providers",
            &m.credentials_issued,
        ),
        (
            "passerelle_subscription_changes_total",
            "subscriptions created, changed or deleted by providers",
            &m.subscription_changes,
        ),
    ];
    let mut out = String::new();
    for (name, help, counter) in rows {
        out.push_str(&format!(
            "# HELP {name} Number of {help}.\n# TYPE {name} counter\n{name} {}\n",
            counter.load(Ordering::Relaxed)
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
