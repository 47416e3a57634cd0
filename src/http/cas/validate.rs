//! The validations: `/p3/serviceValidate` (CAS 3: attributes, XML or `format=JSON`),
//! `/serviceValidate` (CAS 2: the user alone) and `/validate` (CAS 1: `yes`/`no`). Each
//! consumes the ticket whatever its outcome, then runs the one path of every provider
//! protocol, `flow::access::hand_over` (the access rule again, the release, the count, the
//! trace), with the answer as its credential. The proxy endpoints answer the protocol's error.

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{params, traced};
use crate::app::AppState;
use crate::cas::answer::{self, Failure, FailureCode, Format};
use crate::cas::ticket::{self, Redeem};
use crate::cas::ServiceTicket;
use crate::flow::access::{hand_over, HandOver, HandOverError, Issuance};
use crate::flow::{FlowError, User};
use crate::trace::Channel;

pub async fn v3(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let format = params(&q).map_or(Format::Xml, |p| {
        Format::v3(p.get("format").map(String::as_str))
    });
    validate(&state, &q, format).await
}

pub async fn v2(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    validate(&state, &q.unwrap_or_default(), Format::Xml2).await
}

pub async fn v1(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    validate(&state, &q.unwrap_or_default(), Format::Text).await
}

/// `/proxyValidate`, `/p3/proxyValidate`: proxying is not offered; service tickets are
/// validated at `/serviceValidate` and `/p3/serviceValidate`.
pub async fn proxy_validate(State(state): State<AppState>) -> Response {
    let f = Failure::new(
        FailureCode::UnauthorizedServiceProxy,
        "proxying is not offered: validate service tickets at p3/serviceValidate",
    );
    traced(&state, None, "cas.proxy");
    reply(
        Format::Xml,
        StatusCode::OK,
        answer::failure(Format::Xml, &f),
    )
}

/// `/proxy`: no proxy-granting ticket is ever issued.
pub async fn proxy(State(state): State<AppState>) -> Response {
    let f = Failure::new(
        FailureCode::UnauthorizedServiceProxy,
        "proxying is not offered: no proxy-granting ticket is issued",
    );
    traced(&state, None, "cas.proxy");
    reply(Format::Xml, StatusCode::OK, answer::proxy_failure(&f))
}

/// `/samlValidate` (SAML 1.1 validation): not offered.
pub async fn saml_validate(State(state): State<AppState>) -> Response {
    let f = Failure::new(
        FailureCode::InvalidRequest,
        "SAML 1.1 validation is not offered: validate service tickets at p3/serviceValidate",
    );
    traced(&state, None, "cas.saml_validate");
    reply(
        Format::Xml,
        StatusCode::BAD_REQUEST,
        answer::failure(Format::Xml, &f),
    )
}

fn reply(format: Format, status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A refused validation: traced, logged for the provider's operators (never the ticket), and
/// answered in the format asked.
fn refuse(state: &AppState, provider: Option<&str>, format: Format, f: &Failure) -> Response {
    traced(state, provider, f.code.check());
    tracing::warn!(provider, code = f.code.as_str(), cause = %f.message, "CAS validation refused");
    let status = if f.code == FailureCode::InternalError {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    reply(format, status, answer::failure(format, f))
}

async fn validate(state: &AppState, raw: &str, format: Format) -> Response {
    let fail = |code, m: &str| Failure::new(code, m);
    let Some(p) = params(raw) else {
        return refuse(
            state,
            None,
            format,
            &fail(FailureCode::InvalidRequest, "a parameter is repeated"),
        );
    };
    let Some(t) = p.get("ticket") else {
        return refuse(
            state,
            None,
            format,
            &fail(FailureCode::InvalidRequest, "ticket is required"),
        );
    };
    let st = match ServiceTicket::parse(t) {
        Ok(st) => st,
        Err(f) => return refuse(state, None, format, &f),
    };
    let service = p.get("service").map(String::as_str).unwrap_or("");
    // The first validation attempt consumes the ticket, whatever its outcome.
    let now = state.clock.now();
    let taken = ticket::redeem(
        state.store.as_ref(),
        &st,
        service,
        state.config.cas.ticket_ttl,
        now,
    )
    .await;
    let record = match taken {
        Ok(r) => r,
        Err(Redeem::Failed(_)) if service.is_empty() => {
            let f = fail(FailureCode::InvalidRequest, "service is required");
            return refuse(state, None, format, &f);
        }
        Err(Redeem::Failed(f)) => return refuse(state, None, format, &f),
        Err(Redeem::Store(e)) => {
            tracing::error!(error = %e, "CAS validation: the store failed");
            let f = fail(
                FailureCode::InternalError,
                "the ticket could not be read; try again",
            );
            return refuse(state, None, format, &f);
        }
    };
    let provider = Some(record.provider.as_str());
    if p.contains_key("pgtUrl") {
        let f = fail(
            FailureCode::InvalidProxyCallback,
            "proxying is not offered: no proxy-granting ticket is issued (the ticket is consumed)",
        );
        return refuse(state, provider, format, &f);
    }
    let still_registered = state
        .config
        .cas_service(service)
        .is_some_and(|(p, s)| p.key == record.provider && s.resource == record.resource);
    if !still_registered {
        let f = fail(
            FailureCode::InvalidService,
            "the service is no longer registered for this resource",
        );
        return refuse(state, provider, format, &f);
    }
    let h = HandOver {
        user: User {
            ent: &record.ent,
            person_id: &record.person_id,
        },
        uai: &record.uai,
        resource: &record.resource,
        provider: &record.provider,
        protocol: "cas",
        channel: Channel::Web,
        device: record.device,
        issuance: Issuance::Access,
    };
    let answered = hand_over(&state.deps(), h, now, |released| async move {
        Ok::<_, std::convert::Infallible>(answer::success(format, &released.attributes))
    })
    .await;
    match answered {
        Ok(body) => reply(format, StatusCode::OK, body),
        Err(HandOverError::Flow(FlowError::Refused(r))) => {
            let f = Failure::new(
                FailureCode::InvalidTicket,
                format!("access no longer granted: {}", r.code()),
            );
            refuse(state, provider, format, &f)
        }
        Err(HandOverError::Flow(FlowError::Store(e))) => {
            tracing::error!(error = %e, "CAS validation: the store failed");
            let f = fail(
                FailureCode::InternalError,
                "the access could not be checked; try again",
            );
            refuse(state, provider, format, &f)
        }
        Err(HandOverError::Issue(never)) => match never {},
    }
}
