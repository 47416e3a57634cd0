//! `GET /ressourcesDiffusables`: the catalogue an ENT may show, in the GAR's XML shape
//! (`dateGeneration`, then one `ressourceDiffusable` per resource). ENT servers authenticate
//! with their bearer token, as for the listing.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::saml::xml::{escape, instant};

use super::api_error::{ApiError, Shape};
use super::party::{EntCaller, Unauthenticated};

fn element(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("<{name}>{}</{name}>", escape(value)));
}

pub async fn handle(
    State(state): State<AppState>,
    caller: Result<EntCaller, Unauthenticated>,
) -> Response {
    if let Err(e) = caller {
        return ApiError::unauthenticated(
            Shape::GarXml,
            format!("ressourcesDiffusables: {}; register the ENT's client certificate (ents.<id>.client_certificate_file) or give it a token (ents.<id>.api_token_file)", e.cause()),
        )
        .into_response();
    }
    let resources = match state.store.resources().await {
        Ok(r) => r,
        Err(e) => return ApiError::store(Shape::GarXml, &e).into_response(),
    };
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ressourcesDiffusables>");
    element(&mut out, "dateGeneration", &instant(state.clock.now()));
    for r in &resources {
        let provider_name = state
            .config
            .providers
            .get(&r.provider)
            .map_or("", |p| p.name.as_str());
        out.push_str("<ressourceDiffusable>");
        element(&mut out, "idRessource", r.id.as_str());
        element(&mut out, "nomRessource", &r.name);
        element(&mut out, "idEditeur", &r.editor_id);
        element(&mut out, "nomEditeur", &r.editor_name);
        out.push_str("<distributeursCom>");
        for d in r.distributors() {
            element(&mut out, "distributeurCom", d);
            element(&mut out, "nomDistributeurCom", provider_name);
        }
        out.push_str("</distributeursCom>");
        element(&mut out, "distributeurTech", &r.technical_distributor);
        element(&mut out, "nomDistributeurTech", provider_name);
        element(&mut out, "affichable", "true");
        element(&mut out, "diffusable", "true");
        out.push_str("</ressourceDiffusable>");
    }
    out.push_str("</ressourcesDiffusables>\n");
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        out,
    )
        .into_response()
}
