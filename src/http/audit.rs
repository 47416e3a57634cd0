//! Auditor access to the audit log: `GET /audit/records` (API, `Authorization: Bearer`, JSON
//! lines or CSV), and `/audit`, a page in French (usable without JavaScript) where an auditor
//! enters their token and criteria, reads the records and downloads them. Each auditor sees
//! only their scope; every query is itself recorded.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, NaiveDate, Utc};

use crate::app::AppState;
use crate::audit::query::{search, to_csv, to_json_lines, Filter, Scope};
use crate::config::AuditorConfig;
use crate::domain::Jurisdiction;
use crate::http::api_error::{ApiError, Shape};
use crate::http::party::{AuditorCaller, Unauthenticated};
use crate::saml::xml::escape;
use crate::trace::TraceEvent;

use super::pages;

const PAGE_LIMIT: usize = 200;
const EXPORT_LIMIT: usize = 100_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/records", get(api))
        .route("/audit", get(form_page).post(results_page))
        .route("/audit/export", post(export))
}

/// The auditor presenting `token` (`party`: auditors have tokens only).
fn auditor<'a>(state: &'a AppState, token: Option<&str>) -> Option<&'a AuditorConfig> {
    crate::http::party::Credentials::token(token)
        .auditor(&state.config)
        .ok()
}

fn date(v: Option<&String>, end: bool) -> Result<Option<DateTime<Utc>>, String> {
    let Some(v) = v.map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let d = NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| format!("« {v} » n'est pas une date (AAAA-MM-JJ)"))?;
    // A day given as the end of the range includes that whole day.
    let d = if end { d.succ_opt().unwrap_or(d) } else { d };
    Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

fn filter(p: &HashMap<String, String>) -> Result<Filter, String> {
    let text = |k: &str| {
        p.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Ok(Filter {
        from: date(p.get("from"), false)?,
        to: date(p.get("to"), true)?,
        uai: text("uai").map(|u| u.to_ascii_uppercase()),
        resource: text("resource"),
        provider: text("provider"),
        event: text("event"),
        subject: text("subject"),
    })
}

async fn scope(state: &AppState, a: &AuditorConfig) -> Result<Scope, crate::store::StoreError> {
    let mut scope = Scope::of(a.scope.clone());
    match &a.scope {
        Jurisdiction::Provider(key) => {
            scope.resources = state
                .config
                .providers
                .get(key)
                .map(|p| p.resources.iter().map(|r| r.id.to_string()).collect())
                .unwrap_or_default();
        }
        Jurisdiction::Ent(id) => {
            scope.uais = state
                .store
                .schools()
                .await?
                .into_iter()
                .filter(|s| &s.ent == id)
                .map(|s| s.uai.to_string())
                .collect();
        }
        Jurisdiction::All | Jurisdiction::School(_) => {}
    }
    Ok(scope)
}

/// Runs a query for `a` and records it.
async fn run(
    state: &AppState,
    a: &AuditorConfig,
    p: &HashMap<String, String>,
    limit: usize,
) -> Result<(Vec<crate::audit::chain::Body>, bool), ApiError> {
    let Some(settings) = &state.config.audit else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Shape::Text,
            "aucun journal d'audit n'est configuré ([audit])",
            "audit query: no [audit] section in the configuration",
        ));
    };
    let f = filter(p).map_err(|m| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Shape::Text,
            m.clone(),
            format!("audit query: {m}"),
        )
    })?;
    let scope = scope(state, a)
        .await
        .map_err(|e| ApiError::store(Shape::Text, &e))?;
    let (dir, f2) = (settings.dir.clone(), f.clone());
    let unreadable = |cause: String| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Shape::Text,
            "le journal d'audit ne peut pas être lu",
            cause,
        )
    };
    let found = tokio::task::spawn_blocking(move || search(&dir, &f2, &scope, limit))
        .await
        .map_err(|e| unreadable(format!("audit query: the search task failed: {e}")))?
        .map_err(|e| {
            unreadable(format!(
                "audit query: the audit directory cannot be read (audit.dir): {e}"
            ))
        })?;
    let mut criteria: Vec<String> = [
        "from", "to", "uai", "resource", "provider", "event", "subject",
    ]
    .iter()
    .filter_map(|k| {
        p.get(*k)
            .filter(|v| !v.trim().is_empty())
            .map(|v| format!("{k}={}", v.trim()))
    })
    .collect();
    criteria.sort();
    state.trace(TraceEvent::AuditQuery {
        auditor: a.key.clone(),
        criteria,
        results: found.0.len(),
    });
    Ok(found)
}

fn download(
    format: Option<&str>,
    records: &[crate::audit::chain::Body],
    attachment: bool,
) -> Response {
    let (body, ctype, ext) = match format {
        Some("csv") => (to_csv(records), "text/csv; charset=utf-8", "csv"),
        _ => (to_json_lines(records), "application/x-ndjson", "jsonl"),
    };
    let mut resp = (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    if attachment {
        if let Ok(v) =
            header::HeaderValue::from_str(&format!("attachment; filename=\"audit.{ext}\""))
        {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    resp
}

pub async fn api(
    State(state): State<AppState>,
    auditor: Result<AuditorCaller, Unauthenticated>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let a = match auditor {
        Ok(AuditorCaller(a)) => a,
        Err(e) => {
            return ApiError::unauthenticated(
                Shape::Bearer {
                    realm: "passerelle-audit",
                },
                format!("audit API: {} (auditors.<key>.api_token_file)", e.cause()),
            )
            .into_response()
        }
    };
    let limit = p
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(EXPORT_LIMIT)
        .min(EXPORT_LIMIT);
    match run(&state, &a, &p, limit).await {
        Ok((records, more)) => {
            let mut resp = download(p.get("format").map(String::as_str), &records, false);
            if more {
                resp.headers_mut().insert(
                    "x-passerelle-truncated",
                    header::HeaderValue::from_static("true"),
                );
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

fn form(p: &HashMap<String, String>, message: &str) -> String {
    let v = |k: &str| escape(p.get(k).map(String::as_str).unwrap_or_default());
    let input = |k: &str, label: &str| {
        format!(
            "<p><label>{label} : <input name=\"{k}\" value=\"{}\"></label></p>",
            v(k)
        )
    };
    format!(
        "{message}<form method=\"post\" action=\"/audit\"><p><label>Jeton d'auditeur : <input type=\"password\" name=\"jeton\" required value=\"{}\"></label></p>{}{}{}{}{}{}{}<p><button type=\"submit\">Rechercher</button></p></form>",
        v("jeton"),
        input("from", "Du (AAAA-MM-JJ)"),
        input("to", "Au (AAAA-MM-JJ, inclus)"),
        input("uai", "Établissement (UAI)"),
        input("resource", "Ressource (ARK)"),
        input("provider", "Fournisseur"),
        input("event", "Type d'événement (ex. access_granted)"),
        input("subject", "Sujet pseudonyme ou IDO"),
    )
}

pub async fn form_page() -> Html<String> {
    Html(pages::page("Journal d'audit", &form(&HashMap::new(), "<p>Recherchez dans le journal d'audit de la passerelle, dans la limite de votre périmètre. Chaque recherche est elle-même enregistrée.</p>")))
}

pub async fn results_page(
    State(state): State<AppState>,
    Form(p): Form<HashMap<String, String>>,
) -> Response {
    let Some(a) = auditor(&state, p.get("jeton").map(String::as_str)) else {
        tracing::warn!("audit page refused: no valid auditor token");
        return (
            StatusCode::UNAUTHORIZED,
            Html(pages::page(
                "Journal d'audit",
                &form(
                    &p,
                    "<p role=\"alert\"><strong>Jeton d'auditeur inconnu.</strong></p>",
                ),
            )),
        )
            .into_response();
    };
    let (records, more) = match run(&state, a, &p, PAGE_LIMIT).await {
        Ok(r) => r,
        Err(e) => {
            let alert = format!(
                "<p role=\"alert\"><strong>{}</strong></p>",
                escape(&e.message)
            );
            return e.into_page(pages::page("Journal d'audit", &form(&p, &alert)));
        }
    };
    let rows: String = records.iter().map(row).collect();
    let hidden: String = p
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let exports = format!("<form method=\"post\" action=\"/audit/export\">{hidden}<button name=\"format\" value=\"csv\">Télécharger en CSV</button> <button name=\"format\" value=\"jsonl\">Télécharger en JSON lines</button></form>");
    let note = if more {
        format!("<p>Les {PAGE_LIMIT} premiers enregistrements sont affichés ; l'export les contient tous.</p>")
    } else {
        String::new()
    };
    let body = format!(
        "<p>Auditeur : <strong>{}</strong> — {} enregistrement(s).</p>{note}{exports}<div class=\"scroll\"><table><tr><th scope=\"col\">Date (UTC)</th><th scope=\"col\">Événement</th><th scope=\"col\">UAI</th><th scope=\"col\">Ressource / fournisseur</th><th scope=\"col\">Motif</th><th scope=\"col\">Détail</th></tr>{rows}</table></div>{}",
        escape(&a.name),
        records.len(),
        form(&p, "<h2>Nouvelle recherche</h2>")
    );
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::page("Journal d'audit", &body)),
    )
        .into_response()
}

/// What an auditor reads of an event's kind.
fn event_label(kind: &str) -> &str {
    match kind {
        "access_granted" => "Accès accordé",
        "access_refused" => "Accès refusé",
        "credential_issued" => "Identité transmise au fournisseur",
        "ent_login" => "Connexion par l'ENT",
        "session_ended" => "Fin de session",
        "logout_sent" => "Déconnexion transmise au fournisseur",
        "protocol_refused" => "Message refusé",
        "subscription_changed" => "Abonnement modifié",
        "assignment_changed" => "Affectation modifiée",
        "school_moved" => "Établissement rattaché à un autre ENT",
        "configuration_loaded" => "Configuration chargée",
        "audit_query" => "Consultation du journal d'audit",
        other => other,
    }
}

/// One record as a table row: the date on one line, the event in French (its code beside it,
/// for the exports and the API), the details as a list that wraps, opened on demand.
fn row(r: &crate::audit::chain::Body) -> String {
    let f = |k: &str| escape(r.event.get(k).and_then(|v| v.as_str()).unwrap_or_default());
    let kind = r
        .event
        .get("event")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let shown = ["event", "uai", "resource", "provider", "reason"];
    let details: String = r
        .event
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !shown.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("<li><code>{}</code> : {}</li>", escape(k), escape(&v))
        })
        .collect();
    let details = if details.is_empty() {
        String::new()
    } else {
        format!("<details><summary>Voir</summary><ul class=\"plain\">{details}</ul></details>")
    };
    format!(
        "<tr><td class=\"nowrap\">{}</td><td>{}<br><small><code>{}</code></small></td><td>{}</td><td>{}</td><td>{}</td><td>{details}</td></tr>",
        escape(&r.at.format("%Y-%m-%d %H:%M:%S").to_string()),
        escape(event_label(kind)),
        escape(kind),
        f("uai"),
        escape(
            r.event
                .get("resource")
                .and_then(|v| v.as_str())
                .or(r.event.get("provider").and_then(|v| v.as_str()))
                .unwrap_or_default()
        ),
        f("reason"),
    )
}

pub async fn export(
    State(state): State<AppState>,
    Form(p): Form<HashMap<String, String>>,
) -> Response {
    let Some(a) = auditor(&state, p.get("jeton").map(String::as_str)) else {
        return (StatusCode::UNAUTHORIZED, "authentification requise\n").into_response();
    };
    match run(&state, a, &p, EXPORT_LIMIT).await {
        Ok((records, _)) => download(p.get("format").map(String::as_str), &records, true),
        Err(e) => e.into_response(),
    }
}
