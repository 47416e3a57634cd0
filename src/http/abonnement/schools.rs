//! `GET /abonnement/etablissements/etablissements.xml`: the schools known to the gateway, as
//! the GAR answers providers: `<listEtablissement>` in its own namespace, one `<etablissement>`
//! per school with the fields of the ministry's directory of schools, in the GAR's order.
//! Providers' clients read these elements in that namespace (`uai`, then `idENT`, the ENT in
//! base64); what the gateway's directory does not know is written as an empty element.

use axum::extract::State;
use axum::http::StatusCode;

use crate::app::AppState;
use crate::domain::School;
use crate::saml::xml::escape;

use super::{authenticated, unavailable, xml_response, WsResult};
use crate::http::party::{ProviderCaller, Unauthenticated};

/// The namespace of the list of schools (not the subscriptions' one).
pub const NAMESPACE: &str = "http://www.atosworldline.com/listEtablissement/v1.0/";

/// The fields of an `<etablissement>`, in the order the GAR writes them.
pub const FIELDS: [&str; 16] = [
    "uai",
    "nature_uai",
    "nature_uai_libe",
    "type_uai",
    "type_uai_libe",
    "commune",
    "commune_libe",
    "academie",
    "academie_libe",
    "departement_insee_3",
    "departement_insee_3_libe",
    "appellation_officielle",
    "patronyme_uai",
    "code_postal_uai",
    "localite_acheminement_uai",
    "idENT",
];

pub(super) async fn handle(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
) -> WsResult {
    authenticated(caller)?;
    let schools = state.store.schools().await.map_err(|e| unavailable(&e))?;
    Ok(xml_response(StatusCode::OK, document(&schools)))
}

/// The whole `<listEtablissement>` document.
pub fn document(schools: &[School]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<listEtablissement xmlns=\"{NAMESPACE}\">"
    );
    for s in schools {
        out.push_str("<etablissement>");
        for name in FIELDS {
            let value = field(s, name);
            out.push_str(&format!("<{name}>{}</{name}>", escape(&value)));
        }
        out.push_str("</etablissement>");
    }
    out.push_str("</listEtablissement>\n");
    out
}

/// What the directory knows of field `name` of school `s` (empty when nothing).
fn field(s: &School, name: &str) -> String {
    let b64 = |v: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v);
    match name {
        "uai" => s.uai.to_string(),
        "nature_uai" => s.nature.clone().unwrap_or_default(),
        "academie" => s.academy.clone().unwrap_or_default(),
        "appellation_officielle" => s.name.clone(),
        "idENT" => b64(s.ent.as_str()),
        _ => String::new(),
    }
}
