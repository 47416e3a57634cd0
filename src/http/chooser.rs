//! "Application first": an application (a native app, a resource opened outside the
//! médiacentre, a CAS service) asks for a user and the gateway has no session. The user
//! chooses their ENT on `/oidc/choose-ent` (searchable by ENT name, or by school name or UAI
//! from the directory; the school is optional), authenticates there, and the request resumes
//! (an OIDC authorization, a CAS `/login`) with the school chosen. Server-rendered, in French,
//! usable without JavaScript.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::{IdEnt, Uai};
use crate::http::error::PageError;
use crate::http::login::{self, Next};
use crate::http::pages;
use crate::saml::xml::escape;

/// The chooser's path (kept under `/oidc/`, where clients of "application first" know it).
pub const PATH: &str = "/oidc/choose-ent";

/// The request that waits for the user's login: its query string.
#[derive(Debug, Clone)]
pub enum Pending {
    /// An OIDC authorization (`/oidc/authorize?...`).
    Oidc(String),
    /// A CAS login (`{cas prefix}/login?...`).
    Cas(String),
}

impl Pending {
    /// The form field that carries it.
    fn field(&self) -> &'static str {
        match self {
            Pending::Oidc(_) => "authz",
            Pending::Cas(_) => "cas",
        }
    }

    fn query(&self) -> &str {
        match self {
            Pending::Oidc(q) | Pending::Cas(q) => q,
        }
    }

    /// From the fields of a request to the chooser: exactly one, well formed.
    fn of(authz: Option<String>, cas: Option<String>) -> Result<Self, PageError> {
        let ok = |q: &str, key: &str| {
            q.len() <= 8192 && super::query::unique(q).is_ok_and(|p| p.contains_key(key))
        };
        match (authz, cas) {
            (Some(a), None) if ok(&a, "client_id") => Ok(Pending::Oidc(a)),
            (None, Some(c)) if ok(&c, "service") => Ok(Pending::Cas(c)),
            _ => Err(PageError::bad_request(
                "chooser.request",
                "choose-ent without an authorization request or a CAS login",
            )),
        }
    }

    /// Where the browser goes back once logged in: the request again, with the chosen school.
    fn resume(&self, state: &AppState, uai: Option<&Uai>) -> Result<String, PageError> {
        let mut p: HashMap<String, String> = super::query::unique(self.query()).map_err(|k| {
            PageError::bad_request("chooser.request", format!("parameter {k} is repeated"))
        })?;
        p.remove("uai");
        let path = match self {
            Pending::Oidc(_) => "/oidc/authorize".to_string(),
            Pending::Cas(_) => state.config.cas.path("/login"),
        };
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        let mut keys: Vec<_> = p.iter().collect();
        keys.sort();
        for (k, v) in keys {
            q.append_pair(k, v);
        }
        if let Some(u) = uai {
            q.append_pair("uai", u.as_str());
        }
        Ok(format!("{path}?{}", q.finish()))
    }
}

/// Sends the browser to the chooser, carrying the request that waits.
pub fn redirect(pending: &Pending) -> Response {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(pending.field(), pending.query())
        .finish();
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, format!("{PATH}?{q}")),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct PageQuery {
    authz: Option<String>,
    cas: Option<String>,
    q: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let pending = Pending::of(q.authz, q.cas)?;
    render(&state, &pending, q.q.as_deref().unwrap_or(""), None).await
}

fn matches(hay: &str, needle: &str) -> bool {
    needle.is_empty() || hay.to_lowercase().contains(&needle.to_lowercase())
}

async fn render(
    state: &AppState,
    pending: &Pending,
    search: &str,
    problem: Option<&str>,
) -> Result<Response, PageError> {
    let search = search.trim();
    let hidden = format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        pending.field(),
        escape(pending.query())
    );
    let mut options = String::new();
    for ent in state
        .config
        .ents
        .values()
        .filter(|e| matches(&e.name, search) || matches(e.id.as_str(), search))
    {
        options.push_str(&format!(
            "<li><label><input type=\"radio\" name=\"ent\" value=\"{id}\" required> {name}</label></li>",
            id = escape(ent.id.as_str()),
            name = escape(&ent.name)
        ));
    }
    let mut schools = String::new();
    if search.chars().count() >= 3 {
        for s in state
            .school_index
            .search(state.store.as_ref(), state.clock.now(), search, 20)
            .await?
        {
            let Some(ent) = state.config.ents.get(&s.ent) else {
                continue;
            };
            schools.push_str(&format!(
                "<li><form method=\"post\" action=\"{PATH}\">{hidden}<input type=\"hidden\" name=\"ent\" value=\"{e}\"><input type=\"hidden\" name=\"uai\" value=\"{u}\"><button type=\"submit\">{n} ({u}) — {en}</button></form></li>",
                e = escape(s.ent.as_str()),
                u = escape(s.uai.as_str()),
                n = escape(&s.name),
                en = escape(&ent.name)
            ));
        }
    }
    let list = if options.is_empty() {
        "<p>Aucun ENT ne correspond à votre recherche.</p>".to_string()
    } else {
        format!(
            "<form method=\"post\" action=\"{PATH}\">{hidden}<ul style=\"list-style:none;padding:0\">{options}</ul><p><label>Code UAI de votre établissement (facultatif) : <input name=\"uai\" maxlength=\"8\" size=\"10\" pattern=\"[0-9]{{7}}[A-Za-z]\"></label></p><p><button type=\"submit\">Se connecter avec cet ENT</button></p></form>"
        )
    };
    let problem = problem.map_or_else(String::new, |p| {
        format!("<p role=\"alert\"><strong>{}</strong></p>", escape(p))
    });
    let schools = if schools.is_empty() {
        String::new()
    } else {
        format!("<h2>Établissements</h2><ul>{schools}</ul>")
    };
    let body = format!(
        "<p>L'application demande à vous connecter. Choisissez l'espace numérique de travail (ENT) de votre établissement : vous vous y identifierez comme d'habitude.</p>{problem}<form method=\"get\" action=\"{PATH}\">{hidden}<label>Rechercher un ENT ou un établissement : <input type=\"search\" name=\"q\" value=\"{q}\"></label> <button type=\"submit\">Rechercher</button></form><h2>ENT</h2>{list}{schools}",
        q = escape(search)
    );
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::page("Choisissez votre ENT", &body)),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct Choice {
    authz: Option<String>,
    cas: Option<String>,
    ent: Option<String>,
    uai: Option<String>,
}

pub async fn choose(
    State(state): State<AppState>,
    client: crate::http::limits::Client,
    Form(c): Form<Choice>,
) -> Result<Response, PageError> {
    let pending = Pending::of(c.authz, c.cas)?;
    let Some(ent) = c
        .ent
        .as_deref()
        .and_then(|e| e.parse::<IdEnt>().ok())
        .and_then(|e| state.config.ents.get(&e))
    else {
        return render(
            &state,
            &pending,
            "",
            Some("Choisissez un ENT dans la liste."),
        )
        .await;
    };
    let uai = match c.uai.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => match u.to_ascii_uppercase().parse::<Uai>() {
            Ok(u) => Some(u),
            Err(_) => return render(&state, &pending, "", Some("Ce code UAI n'est pas valide : 7 chiffres et une lettre, par exemple 0561641E.")).await,
        },
    };
    let path = pending.resume(&state, uai.as_ref())?;
    login::start(&state, ent, Next::Resume(path), client).await
}
