//! Operations endpoints: liveness, readiness (the store answers), Prometheus metrics, partners'
//! metadata health and refresh; all but the first two only to the networks of `[metrics] allow`
//! or with its bearer token.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::store::metrics::LATENCY_BUCKETS;

pub async fn live() -> &'static str {
    "ok\n"
}

/// `GET /health/ready`: 200 when the store answers a ping within `store.health_deadline_ms`,
/// 503 (with `Retry-After`) otherwise; never longer than that deadline, so that a load balancer
/// takes the node out while its store is away and back as soon as it answers.
pub async fn ready(State(state): State<AppState>) -> Response {
    let deadline = state.config.store_settings.health_deadline;
    let error = match tokio::time::timeout(deadline, state.store.ping()).await {
        Ok(Ok(())) => return (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no answer within {} ms (store.health_deadline_ms)",
            deadline.as_millis()
        ),
    };
    tracing::warn!(store = state.store.kind(), error = %error, "not ready: the store does not answer");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        format!("store {} unavailable\n", state.store.kind()),
    )
        .into_response()
}

/// `GET /metrics`: counters for Prometheus, to allowed peers (the TCP peer, never a
/// forwarded header) or with the configured token; anyone else gets 404, the very answer of a
/// path no route takes (`site::not_found_for`), as if there were nothing here.
pub async fn metrics(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Response {
    let bearer = super::party::bearer(&headers);
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    if !state.config.metrics.allows(peer, bearer) {
        // No address (personal data when a browser asks): only what the operator can change.
        tracing::info!(
            token_presented = bearer.is_some(),
            "GET /metrics refused (404): the peer is not in [metrics] allow and presented no valid metrics token; list the scraper's network in metrics.allow or give it metrics.token_file"
        );
        return super::site::not_found_for(&headers);
    }
    render(&state).into_response()
}

fn render(state: &AppState) -> impl IntoResponse {
    let m = &state.metrics;
    let rows = [
        (
            "passerelle_ent_logins_total",
            "ENT logins accepted",
            &m.ent_logins,
        ),
        (
            "passerelle_sessions_ended_total",
            "gateway sessions ended early (another person at the browser, none at the ENT, a logout)",
            &m.sessions_ended,
        ),
        (
            "passerelle_logouts_undelivered_total",
            "back-channel logouts to relying parties that no attempt delivered",
            &m.logouts_undelivered,
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
    let a = &state.audience.metrics;
    let audience = [
        ("passerelle_audience_recorded_total", "accesses recorded for the audience", &a.recorded),
        ("passerelle_audience_dropped_total", "audience events dropped because the local buffer was full (audience.buffer_capacity, audience.when_full)", &a.dropped),
        ("passerelle_audience_shipped_total", "audience events appended to the store's stream", &a.shipped),
        ("passerelle_audience_ship_failures_total", "failed attempts to append audience events (the store did not answer)", &a.ship_failures),
        ("passerelle_audience_counted_total", "audience events counted", &a.counted),
        ("passerelle_audience_duplicates_total", "audience events delivered again and not counted twice", &a.duplicates),
        ("passerelle_audience_rejected_total", "unreadable audience events skipped", &a.rejected),
        ("passerelle_audience_count_failures_total", "failed attempts to count audience events", &a.count_failures),
        ("passerelle_audience_windows_taken_over_total", "counting windows not applied because another counter took some of their events over (this one was slower than audience.claim_idle_seconds)", &a.taken_over),
        ("passerelle_matomo_sent_total", "audience events accepted by Matomo", &a.matomo_sent),
        ("passerelle_matomo_failures_total", "batches Matomo did not accept (retried)", &a.matomo_failures),
        ("passerelle_listing_cache_hits_total", "listing requests served from this node's view of the school", &state.listing_cache.hits),
        ("passerelle_listing_cache_misses_total", "listing requests that read the school's subscriptions, assignments and resources from the store", &state.listing_cache.misses),
    ];
    for (name, help, counter) in audience {
        out.push_str(&format!(
            "# HELP {name} Number of {help}.\n# TYPE {name} counter\n{name} {}\n",
            counter.load(Ordering::Relaxed)
        ));
    }
    out.push_str(&format!(
        "# HELP passerelle_audience_buffered Audience events waiting in the local buffer.\n# TYPE passerelle_audience_buffered gauge\npasserelle_audience_buffered {}\n# HELP passerelle_audience_buffer_capacity Capacity of the local buffer.\n# TYPE passerelle_audience_buffer_capacity gauge\npasserelle_audience_buffer_capacity {}\n",
        state.audience.buffered(),
        state.audience.settings().buffer_capacity
    ));
    out.push_str(&partner_metrics(state));
    out.push_str(&super::limits::metrics(state));
    out.push_str(&store_metrics(state));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// Partners' metadata refreshes that failed or were refused, per partner, and whether each
/// serves a copy older than its source's.
fn partner_metrics(state: &AppState) -> String {
    let mut out = String::from("# HELP passerelle_metadata_refresh_failures_total Number of partner metadata refreshes that failed or were refused (the last good copy was kept).\n# TYPE passerelle_metadata_refresh_failures_total counter\n");
    for p in state.partners.all() {
        out.push_str(&format!(
            "passerelle_metadata_refresh_failures_total{{partner=\"{}\"}} {}\n",
            p.key,
            p.failures.load(Ordering::Relaxed)
        ));
    }
    out.push_str("# HELP passerelle_metadata_stale Whether a partner's metadata is served from its last good copy because its last refresh failed.\n# TYPE passerelle_metadata_stale gauge\n");
    for p in state.partners.all() {
        out.push_str(&format!(
            "passerelle_metadata_stale{{partner=\"{}\"}} {}\n",
            p.key,
            u8::from(p.status().stale)
        ));
    }
    let now = state.clock.now();
    out.push_str("# HELP passerelle_metadata_expired Whether the copy of a partner's metadata served is past its validUntil (its source has not given a newer one).\n# TYPE passerelle_metadata_expired gauge\n");
    for p in state.partners.all() {
        out.push_str(&format!(
            "passerelle_metadata_expired{{partner=\"{}\"}} {}\n",
            p.key,
            u8::from(p.status().expired(now))
        ));
    }
    out
}

/// Whether the caller may operate the gateway: `[admin]`'s peers or token, else `[metrics]`'s.
fn operator(state: &AppState, extensions: &axum::http::Extensions, headers: &HeaderMap) -> bool {
    let bearer = super::party::bearer(headers);
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let rule = state.config.admin.as_ref().unwrap_or(&state.config.metrics);
    rule.allows(peer, bearer)
}

/// `GET /health/metadata`: each partner's metadata source and refresh state (last success,
/// last error, next refresh, whether the last good copy is served), to the operator
/// (`[metrics]` peers or token); 404 to anyone else.
pub async fn metadata_health(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Response {
    if !operator(&state, &extensions, &headers) {
        return super::site::not_found_for(&headers);
    }
    let now = state.clock.now();
    let partners: Vec<_> = state
        .partners
        .all()
        .map(|p| {
            serde_json::json!({
                "partner": p.key,
                "source": p.source.source.kind(),
                "location": p.source.source.location(p.source.entity_id.as_deref()),
                "failures": p.failures.load(Ordering::Relaxed),
                "expired": p.status().expired(now),
                "status": p.status(),
            })
        })
        .collect();
    let degraded = state
        .partners
        .all()
        .any(|p| p.status().stale || p.status().expired(now));
    axum::Json(serde_json::json!({ "degraded": degraded, "partners": partners })).into_response()
}

#[derive(serde::Deserialize)]
pub struct RefreshQuery {
    /// `ent:<idENT>`, `provider:<key>`, the bare id or key, or the entityID; none: every
    /// partner.
    partner: Option<String>,
}

/// `POST /admin/metadata/refresh[?partner=…]`: refreshes partners' metadata now, to the
/// operator (`[metrics]` peers or token); answers each partner's outcome. Other nodes take the
/// new copy from the store at their next round (`metadata.poll_seconds`).
pub async fn metadata_refresh(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<RefreshQuery>,
) -> Response {
    if !operator(&state, &extensions, &headers) {
        return super::site::not_found_for(&headers);
    }
    let chosen: Vec<_> = match &q.partner {
        Some(name) => match state.partners.find(name) {
            Some(p) => vec![p.clone()],
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    format!("no partner named {name} has a metadata source\n"),
                )
                    .into_response()
            }
        },
        None => state.partners.all().cloned().collect(),
    };
    let mut outcomes = Vec::new();
    let mut failed = false;
    for p in chosen {
        let r = state
            .partners
            .refresh(&p, crate::partners::Reason::Operator)
            .await;
        failed |= r.is_err();
        outcomes.push(match r {
            Ok(changed) => serde_json::json!({ "partner": p.key, "changed": changed }),
            Err(e) => serde_json::json!({ "partner": p.key, "error": e }),
        });
    }
    let status = if failed {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    (
        status,
        axum::Json(serde_json::json!({ "partners": outcomes })),
    )
        .into_response()
}

/// The store's rows: up or not, reconnections, failures, deadline hits, round-trip latency.
fn store_metrics(state: &AppState) -> String {
    let Some(m) = state.store.metrics().map(|m| m.snapshot()) else {
        return "# HELP passerelle_store_up Whether the store answers (1) or not (0).\n# TYPE passerelle_store_up gauge\npasserelle_store_up 1\n".into();
    };
    let mut out = format!(
        "# HELP passerelle_store_up Whether the store answers (1) or not (0).\n# TYPE passerelle_store_up gauge\npasserelle_store_up {}\n",
        u8::from(m.up)
    );
    for (name, help, v) in [
        ("passerelle_store_reconnects_total", "times the store answered again after it had stopped answering", m.reconnects),
        ("passerelle_store_failures_total", "round trips to the store that failed because it could not be reached", m.failures),
        ("passerelle_store_deadline_hits_total", "round trips to the store cut at their deadline (store.call_deadline_ms, store.bulk_deadline_seconds)", m.deadline_hits),
    ] {
        out.push_str(&format!(
            "# HELP {name} Number of {help}.\n# TYPE {name} counter\n{name} {v}\n"
        ));
    }
    let name = "passerelle_store_call_duration_seconds";
    out.push_str(&format!(
        "# HELP {name} Duration of round trips to the store.\n# TYPE {name} histogram\n"
    ));
    let bounds = LATENCY_BUCKETS
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".to_string()]);
    for (le, n) in bounds.zip(&m.cumulative) {
        out.push_str(&format!("{name}_bucket{{le=\"{le}\"}} {n}\n"));
    }
    out.push_str(&format!(
        "{name}_sum {}\n{name}_count {}\n",
        m.seconds, m.calls
    ));
    out
}

/// `POST /admin/reload`: reads the configuration again and takes its keys and certificates
/// (`app::reload`), to the operator (`[metrics]` peers or token), as SIGHUP does. Answers what
/// changed (200), or every problem of an invalid configuration, the running one kept (422).
pub async fn reload(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
) -> Response {
    if !operator(&state, &extensions, &headers) {
        return super::site::not_found_for(&headers);
    }
    use crate::app::reload::ReloadError;
    match state.reload().await {
        Ok(done) => axum::Json(done).into_response(),
        Err(ReloadError::Invalid(errors)) => {
            tracing::error!(problems = %errors, "reload refused: the configuration is not valid, the running one is kept; fix the problems named and reload again");
            let problems: Vec<String> = errors.0.iter().map(|p| p.to_string()).collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({ "problems": problems })),
            )
                .into_response()
        }
        Err(e @ ReloadError::NoSource) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
    }
}
