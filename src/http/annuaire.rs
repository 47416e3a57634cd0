//! `POST /annuaire/import`: an ENT uploads its directory export, which replaces that ENT's
//! directory atomically (a refused upload leaves the previous one served).
//!
//! The body is one XML file (`application/xml`) or a `.tar.gz` archive (`application/gzip`,
//! `application/x-gzip`) whose MD5 travels in `Content-MD5` (hex, or base64 as in RFC 1864).
//! The caller is the ENT whose client certificate (mutual TLS) the request carries; it can only
//! replace its own directory. Answers are JSON: the summary, or every problem with its file and
//! line.

use std::pin::Pin;

use axum::body::{Body, HttpBody};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::feed::{self, archive, ImportError, Upload};

use super::api_error::{ApiError, Shape};
use super::party::{By, EntCaller, Unauthenticated};
use super::tls::ClientIdentity;

pub fn routes() -> Router<AppState> {
    Router::new().route("/annuaire/import", post(import))
}

/// `?idENT=`: optional; when given, it must be the certificate's ENT.
#[derive(Deserialize)]
struct ImportQuery {
    #[serde(rename = "idENT")]
    id_ent: Option<String>,
}

#[derive(Serialize)]
struct Summary<'a> {
    #[serde(rename = "idENT")]
    id_ent: &'a str,
    schools: usize,
    persons: usize,
    groups: usize,
}

#[derive(Serialize)]
struct Problem<'a> {
    file: &'a str,
    line: usize,
    message: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    problems: &'a [Problem<'a>],
}

/// The upload's JSON error (`api_error::Shape::Import`); the cause was logged by the caller
/// where it says more than the message.
fn error(status: StatusCode, message: &str) -> Response {
    ApiError::new(status, Shape::Import, message, message).into_response()
}

/// The ENT whose registered client certificate authenticated the connection (`party`; a
/// token is not enough to replace a directory), or the refusal.
fn caller(
    caller: Result<EntCaller, Unauthenticated>,
    certificate: bool,
) -> Result<EntCaller, (StatusCode, &'static str)> {
    match caller {
        Ok(c) if c.by == By::Certificate => Ok(c),
        _ if !certificate => {
            tracing::warn!("directory upload refused: no client certificate");
            Err((StatusCode::UNAUTHORIZED, "Certificat client requis"))
        }
        _ => {
            tracing::warn!("directory upload refused: client certificate not registered for any ENT (ents.<id>.client_certificate_file)");
            Err((
                StatusCode::FORBIDDEN,
                "Ce certificat n'est celui d'aucun ENT",
            ))
        }
    }
}

enum ReadError {
    TooLarge,
    Broken,
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
async fn read_limited(mut body: Body, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| ReadError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The file name given in `Content-Disposition`, reduced to a plain base name.
fn file_name(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_DISPOSITION)?.to_str().ok()?;
    let (_, rest) = v.split_once("filename=")?;
    let name = rest.split(';').next()?.trim().trim_matches('"');
    let base = name.rsplit(['/', '\\']).next()?;
    let ok = !base.is_empty()
        && base.len() <= 200
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    ok.then(|| base.to_string())
}

async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    identity: Option<Extension<ClientIdentity>>,
    ent: Result<EntCaller, Unauthenticated>,
    Query(query): Query<ImportQuery>,
    body: Body,
) -> Response {
    let ent = match caller(ent, identity.is_some()) {
        Ok(e) => e,
        Err((status, message)) => return error(status, message),
    };
    let ent = ent.ent();
    if query
        .id_ent
        .as_deref()
        .is_some_and(|i| i != ent.id.as_str())
    {
        tracing::warn!(ent = %ent.id, "directory upload refused: idENT names another ENT than the certificate's");
        return error(
            StatusCode::FORBIDDEN,
            "Un ENT ne peut remplacer que son propre annuaire",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let archive =
        match content_type.as_str() {
            "application/xml" | "text/xml" => false,
            "application/gzip" | "application/x-gzip" => true,
            _ => return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Type de contenu attendu : application/xml, application/gzip ou application/x-gzip",
            ),
        };
    let md5 = match headers.get("content-md5").map(|v| v.to_str()) {
        None => None,
        Some(v) => match v.ok().and_then(archive::parse_md5) {
            Some(d) => Some(d),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Content-MD5 doit être une somme MD5 en hexadécimal ou en base64",
                )
            }
        },
    };
    if archive && md5.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "Content-MD5 est obligatoire pour une archive .tar.gz",
        );
    }
    let limit = state.config.feed.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        tracing::warn!(ent = %ent.id, limit, "directory upload refused: larger than feed.max_upload_bytes");
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("L'export dépasse {limit} octets"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes = match read_limited(body, limit).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => return too_large(),
        Err(ReadError::Broken) => {
            return error(StatusCode::BAD_REQUEST, "Corps de la requête incomplet")
        }
    };
    let name = file_name(&headers).unwrap_or_else(|| {
        if archive {
            "upload.tar.gz".into()
        } else {
            "upload.xml".into()
        }
    });
    let upload = match (archive, md5) {
        (true, Some(md5)) => Upload::Archive { bytes, md5 },
        (_, md5) => Upload::Xml { bytes, md5 },
    };
    let rules = state.config.import_rules(ent);
    match feed::import_upload(state.store.clone(), ent.id.clone(), name, upload, &rules).await {
        Ok(s) => {
            tracing::info!(ent = %ent.id, schools = s.schools, persons = s.persons, groups = s.groups, "directory replaced by an upload");
            Json(Summary {
                id_ent: ent.id.as_str(),
                schools: s.schools,
                persons: s.persons,
                groups: s.groups,
            })
            .into_response()
        }
        Err(ImportError::Invalid(errors)) => {
            // Messages may quote values of the export: only their number is logged.
            tracing::info!(ent = %ent.id, problems = errors.len(), "directory upload refused, the previous directory is kept");
            let problems: Vec<Problem<'_>> = errors
                .iter()
                .map(|e| Problem {
                    file: &e.file,
                    line: e.line,
                    message: &e.message,
                })
                .collect();
            (
                StatusCode::BAD_REQUEST,
                Json(ErrorBody {
                    message: "Export refusé, l'annuaire précédent est conservé",
                    problems: &problems,
                }),
            )
                .into_response()
        }
        Err(ImportError::Store(e)) => ApiError::store(Shape::Import, &e).into_response(),
        Err(ImportError::Io(_, e)) => {
            tracing::error!(error = %e, "directory upload: the import failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "Erreur interne")
        }
    }
}
