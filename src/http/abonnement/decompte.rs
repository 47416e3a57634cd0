//! `GET /decompteaffectations?idAbonnement=...` or `?codeProjetRessource=...` (exactly one):
//! the licence counts of a provider's subscriptions, as GAR CSV separated by `;`, one line per
//! (school, subscription) with the people reached per audience (`domain::licence_count`).
//! Callers authenticate as for the subscription web service; another provider's subscription
//! answers as absent.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use super::{authenticated, owner, refused, unavailable, WsError, WsResult};
use crate::app::AppState;
use crate::config::ProviderConfig;
use crate::domain::licence_count::{count, AudienceCounts};
use crate::domain::{Person, School, Subscription, Uai};
use crate::flow::subscription;
use crate::http::party::{ProviderCaller, Unauthenticated};

const HEADER: &str = "UAI;idAbonnement;codeProjetRessource;idRessource;cumulAffectationEleve;cumulAffectationEnseignant;cumulAffectationDocumentaliste;cumulAffectationAutrePersonnel";

fn bad(message: &str) -> WsError {
    WsError::Text(StatusCode::BAD_REQUEST, message.into())
}

/// The subscriptions asked for: the one named, or the provider's with that project code.
async fn selected(
    state: &AppState,
    provider: &ProviderConfig,
    q: &HashMap<String, String>,
) -> Result<Vec<Subscription>, WsError> {
    let given = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    match (given("idAbonnement"), given("codeProjetRessource")) {
        (Some(_), Some(_)) => Err(bad(
            "idAbonnement et codeProjetRessource sont exclusifs : un seul des deux",
        )),
        (None, None) => Err(bad("idAbonnement ou codeProjetRessource est obligatoire")),
        (Some(id), None) => Ok(vec![subscription::read(&state.deps(), owner(provider), id)
            .await
            .map_err(|e| refused(id, e))?]),
        (None, Some(code)) => {
            let mut out = subscription::of(&state.deps(), owner(provider), true)
                .await
                .map_err(|e| unavailable(&e))?;
            out.retain(|s| s.details.project_code.as_deref() == Some(code));
            if out.is_empty() {
                return Err(WsError::Text(
                    StatusCode::NOT_FOUND,
                    format!("Aucun abonnement pour le codeProjetRessource {code}"),
                ));
            }
            Ok(out)
        }
    }
}

/// A CSV field, quoted when it holds the separator, a quote or a line break.
fn field(v: &str) -> String {
    if v.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// The schools a subscription covers: its `uaiEtab`, or the known schools of its `codeNatureUAI`.
fn schools_of(s: &Subscription, known: &[School]) -> Vec<Uai> {
    match (&s.details.nature_uai, s.uais.is_empty()) {
        (Some(nature), true) => known
            .iter()
            .filter(|k| k.nature.as_deref() == Some(nature.as_str()))
            .map(|k| k.uai.clone())
            .collect(),
        _ => s.uais.clone(),
    }
}

pub(super) async fn handle(
    State(state): State<AppState>,
    caller: Result<ProviderCaller, Unauthenticated>,
    Query(q): Query<HashMap<String, String>>,
) -> WsResult {
    let caller = authenticated(caller)?;
    let provider = caller.provider();
    let mut subscriptions = selected(&state, provider, &q).await?;
    subscriptions.sort_by(|a, b| a.external_id().cmp(b.external_id()));
    let known = if subscriptions.iter().any(|s| s.uais.is_empty()) {
        state.store.schools().await.map_err(|e| unavailable(&e))?
    } else {
        Vec::new()
    };
    let mut persons: HashMap<Uai, Vec<Person>> = HashMap::new();
    let mut lines: BTreeMap<(Uai, String), String> = BTreeMap::new();
    for s in &subscriptions {
        for uai in schools_of(s, &known) {
            if !persons.contains_key(&uai) {
                let p = state
                    .store
                    .school_persons(&uai)
                    .await
                    .map_err(|e| unavailable(&e))?;
                persons.insert(uai.clone(), p);
            }
            let assignments = state
                .store
                .assignments(&s.id, &uai)
                .await
                .map_err(|e| unavailable(&e))?;
            let c: AudienceCounts = count(s, &uai, &persons[&uai], &assignments);
            let line = format!(
                "{};{};{};{};{};{};{};{}",
                field(uai.as_str()),
                field(s.external_id()),
                field(s.details.project_code.as_deref().unwrap_or("")),
                field(s.resource_id.as_str()),
                c.eleve,
                c.enseignant,
                c.documentaliste,
                c.autre_personnel
            );
            lines.insert((uai, format!("{}\u{0}{}", s.external_id(), s.id)), line);
        }
    }
    tracing::info!(provider = %provider.key, subscriptions = subscriptions.len(), lines = lines.len(), "licence counts answered");
    let mut body = String::from(HEADER);
    body.push('\n');
    for line in lines.values() {
        body.push_str(line);
        body.push('\n');
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        body,
    )
        .into_response())
}
