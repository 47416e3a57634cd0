//! `/affectations`: the page where a school's assignment managers (the `RespAff` of the
//! directory), signed in through their ENT, see their schools' individual subscriptions and
//! the licences left, and assign them to pupils, teachers, classes or groups, or withdraw
//! them. Server-rendered, in French, usable without JavaScript; every form carries a token
//! bound to the session (`view` renders a subscription). Each assignment is checked against the licences and written with
//! the store's versioned write, so that counts never go over, even with concurrent managers
//! on several gateway nodes. Every change is traced (and so audited).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use crate::app::AppState;
use crate::domain::assign::AssignRefusal;
use crate::domain::{
    Assignment, AssignmentTarget, AssignmentType, IdEnt, Person, Subscription, Uai,
};
use crate::flow;
use crate::saml::xml::escape;
use crate::session::Session;

use super::error::PageError;
use super::pages;

mod view;

const TITLE: &str = "Affectation des ressources";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/affectations", get(page))
        .route("/affectations/affecter", post(assign_form))
        .route("/affectations/retirer", post(withdraw_form))
}

fn ent_param(p: &HashMap<String, String>) -> Result<IdEnt, PageError> {
    let raw = p
        .get("idENT")
        .ok_or_else(|| PageError::bad_request("bad_link", "affectations: missing idENT"))?;
    if let Ok(id) = raw.parse() {
        return Ok(id);
    }
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(raw.trim().trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            PageError::bad_request(
                "bad_link",
                "affectations: idENT is neither an id nor base64",
            )
        })?;
    decoded
        .parse()
        .map_err(|e| PageError::bad_request("bad_link", format!("affectations: idENT: {e}")))
}

/// The live session of `ent` in this browser, with its person.
async fn manager(
    state: &AppState,
    headers: &HeaderMap,
    ent: &IdEnt,
) -> Result<Option<(Session, Person)>, PageError> {
    let Some(session) = super::party::live_session(state, headers).await? else {
        return Ok(None);
    };
    if &session.ent != ent {
        return Ok(None);
    }
    let person = state.store.person(ent, &session.person_id).await?;
    Ok(person.map(|p| (session, p)))
}

fn refused_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(pages::page(
            TITLE,
            &format!("<p role=\"alert\"><strong>{}</strong></p>", escape(message)),
        )),
    )
        .into_response()
}

/// The subscriptions in force in `uai`: the individual ones (a manager assigns them) and the
/// school-wide ones (shown, nothing to assign).
async fn subscriptions_in(
    state: &AppState,
    uai: &Uai,
) -> Result<(Vec<Subscription>, Vec<Subscription>), PageError> {
    let now = state.clock.now();
    let (mut indiv, mut etabl) = (Vec::new(), Vec::new());
    for r in state.store.resources().await? {
        for mut s in state.store.subscriptions_for(&r.id, uai).await? {
            if s.deleted || !s.is_valid_at(now) {
                continue;
            }
            // Shown by the catalogue's name when the provider gave no label.
            if s.resource_label.is_empty() {
                s.resource_label = r.name.clone();
            }
            match s.assignment_type {
                AssignmentType::Indiv => indiv.push(s),
                AssignmentType::Etabl => etabl.push(s),
            }
        }
    }
    indiv.sort_by(|a, b| a.id.cmp(&b.id));
    etabl.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((indiv, etabl))
}

/// People the subscription's assignments reach over all its schools: as they are, and with
/// `extra` added (for the check before an assignment), from one read of each school.
fn message(code: &str) -> Option<&'static str> {
    Some(match code {
        "affecte" => "L'affectation est enregistrée.",
        "deja" => "Cette affectation existait déjà.",
        "retire" => "L'affectation est retirée.",
        "verifie" => "Votre demande n'a pas été enregistrée : la passerelle a d'abord vérifié auprès de votre ENT qui est connecté à ce poste. Recommencez-la.",
        _ => return None,
    })
}

async fn page(
    State(state): State<AppState>,
    client: super::limits::Client,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let ent_id = ent_param(&p)?;
    let Some(ent) = state.config.ents.get(&ent_id) else {
        return Err(PageError::refusal(crate::domain::Refusal::UnknownEnt));
    };
    let mut back = format!(
        "/affectations?idENT={}",
        urlencoding::encode(ent_id.as_str())
    );
    if let Some(m) = p.get("message").filter(|c| message(c).is_some()) {
        back.push_str(&format!("&message={m}"));
    }
    let Some((session, person)) = manager(&state, &headers, &ent_id).await? else {
        return super::login::start(&state, ent, super::login::Next::Resume(back), client).await;
    };
    if !super::login::confirmed_for_use(&state, &session, state.clock.now()) {
        // A shared computer may have changed hands: the ENT says who is here before the page
        // shows a manager's schools.
        return super::login::confirm(&state, ent, super::login::Next::Resume(back), client).await;
    }
    if person.manages.is_empty() {
        return Ok(refused_page(
            StatusCode::FORBIDDEN,
            "Vous n'êtes responsable des affectations dans aucun établissement.",
        ));
    }
    let token = state.config.ido_key.form_token(&session.id);
    let mut body = String::new();
    if let Some(m) = p.get("message").and_then(|c| message(c)) {
        body.push_str(&format!("<p role=\"status\"><strong>{m}</strong></p>"));
    }
    body.push_str(&format!(
        "<p>{} {} — responsable des affectations.</p>",
        escape(&person.first_name),
        escape(&person.last_name)
    ));
    for uai in &person.manages {
        let school = state.store.school(uai).await?;
        body.push_str(&format!(
            "<h2>{} ({})</h2>",
            escape(school.as_ref().map_or("Établissement", |s| s.name.as_str())),
            escape(uai.as_str())
        ));
        let (subs, school_wide) = subscriptions_in(&state, uai).await?;
        if subs.is_empty() {
            body.push_str("<p>Aucun abonnement individuel en cours pour cet établissement.</p>");
        }
        let persons = state.store.school_persons(uai).await?;
        let groups = state.store.school_groups(uai).await?;
        for s in subs {
            body.push_str(
                &subscription_block(&state, &ent_id, uai, &s, &persons, &groups, &token).await?,
            );
        }
        body.push_str(&view::school_wide(&school_wide));
    }
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::page(TITLE, &body)),
    )
        .into_response())
}

/// The hidden fields every form of a subscription posts, with `extra`.
fn hidden(token: &str, ent: &IdEnt, uai: &Uai, s: &Subscription, extra: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"jeton\" value=\"{}\"><input type=\"hidden\" name=\"idENT\" value=\"{}\"><input type=\"hidden\" name=\"uai\" value=\"{}\"><input type=\"hidden\" name=\"abonnement\" value=\"{}\">{extra}",
        escape(token),
        escape(ent.as_str()),
        escape(uai.as_str()),
        escape(&s.id)
    )
}

async fn subscription_block(
    state: &AppState,
    ent: &IdEnt,
    uai: &Uai,
    s: &Subscription,
    persons: &[Person],
    groups: &[crate::domain::Group],
    token: &str,
) -> Result<String, PageError> {
    let (used, _) = flow::assign::reached(&state.deps(), s, None).await?;
    let mut out = format!(
        "<h3>{} <small>({})</small></h3><p>{} {}</p>",
        escape(if s.resource_label.is_empty() {
            s.resource_id.as_str()
        } else {
            &s.resource_label
        }),
        escape(s.external_id()),
        // Fixed words and numbers: nothing to escape.
        view::licences(s, &used),
        view::reached(&used),
    );
    let current = state.store.assignments(&s.id, uai).await?;
    if current.is_empty() {
        out.push_str("<p>Aucune affectation.</p>");
    } else {
        out.push_str("<ul>");
        for a in &current {
            let cible = format!(
                "<input type=\"hidden\" name=\"cible\" value=\"{}\">",
                escape(&view::target_value(&a.target))
            );
            out.push_str(&format!(
                "<li>{} <form method=\"post\" action=\"/affectations/retirer\" class=\"inline\">{}<button type=\"submit\">Retirer…</button></form></li>",
                escape(&view::describe(&a.target, uai, persons, groups)),
                hidden(token, ent, uai, s, &cible)
            ));
        }
        out.push_str("</ul>");
    }
    let options = view::choices(s, uai, &current, persons, groups);
    if options.is_empty() {
        out.push_str("<p>Tout le public de cet abonnement est déjà affecté.</p>");
    } else {
        let id = format!("cible-{}", escape(&s.id));
        out.push_str(&format!(
            "<form method=\"post\" action=\"/affectations/affecter\">{}<label for=\"{id}\">Affecter à :</label> <select id=\"{id}\" name=\"cible\">{options}</select> <button type=\"submit\">Affecter</button></form>",
            hidden(token, ent, uai, s, "")
        ));
    }
    Ok(out)
}

/// What every form posts.
struct Posted {
    ent: IdEnt,
    uai: Uai,
    subscription: Subscription,
    target: AssignmentTarget,
    person: Person,
}

async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<Result<Posted, Response>, PageError> {
    let ent = ent_param(f)?;
    let Some((session, person)) = manager(state, headers, &ent).await? else {
        return Err(PageError::no_session(
            "affectations: no live session for this ENT",
        ));
    };
    let expected = state.config.ido_key.form_token(&session.id);
    if !f.get("jeton").is_some_and(|t| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            t.as_bytes(),
            expected.as_bytes(),
        ))
    }) {
        tracing::warn!("affectations: form token missing or wrong (a forged cross-site request?)");
        return Ok(Err(refused_page(
            StatusCode::FORBIDDEN,
            "Formulaire expiré ou invalide : rechargez la page d'affectation.",
        )));
    }
    if !super::login::confirmed_for_use(state, &session, state.clock.now()) {
        // A shared computer may have changed hands since the page was shown: nothing is
        // written; the page, asked again, has the ENT say who is here first.
        tracing::info!("affectations: a form posted from a session not confirmed lately; the page confirms first");
        return Ok(Err(Redirect::to(&format!(
            "/affectations?idENT={}&message=verifie",
            urlencoding::encode(ent.as_str())
        ))
        .into_response()));
    }
    let uai: Uai = f
        .get("uai")
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| PageError::bad_request("bad_form", "affectations: uai"))?;
    let Some(subscription) = state
        .store
        .subscription(f.get("abonnement").map_or("", String::as_str))
        .await?
    else {
        return Ok(Err(refused_page(
            StatusCode::NOT_FOUND,
            "Abonnement inconnu.",
        )));
    };
    let target = match f.get("cible").and_then(|c| c.split_once(':')) {
        Some(("person", id)) => AssignmentTarget::Person {
            ent: ent.clone(),
            id: id.to_string(),
        },
        Some(("group", code)) => AssignmentTarget::Group {
            code: code.to_string(),
        },
        _ => return Err(PageError::bad_request("bad_form", "affectations: cible")),
    };
    Ok(Ok(Posted {
        ent,
        uai,
        subscription,
        target,
        person,
    }))
}

impl Posted {
    fn assignment(&self) -> Assignment {
        Assignment {
            subscription_id: self.subscription.id.clone(),
            uai: self.uai.clone(),
            target: self.target.clone(),
        }
    }
}

fn back(p: &Posted, code: &str) -> Response {
    Redirect::to(&format!(
        "/affectations?idENT={}&message={code}",
        urlencoding::encode(p.ent.as_str())
    ))
    .into_response()
}

fn refusal(state: &AppState, p: &Posted, r: &AssignRefusal) -> Response {
    tracing::info!(code = r.code(), subscription = %p.subscription.id, uai = %p.uai, "assignment refused");
    let _ = state;
    let status = match r {
        AssignRefusal::NotManager => StatusCode::FORBIDDEN,
        AssignRefusal::OverLicences { .. } => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let link = format!(
        "<p><a href=\"/affectations?idENT={}\">Retour à la page d'affectation</a> <small>(code {})</small></p>",
        urlencoding::encode(p.ent.as_str()),
        r.code()
    );
    (
        status,
        Html(pages::page(
            TITLE,
            &format!(
                "<p role=\"alert\"><strong>{}</strong></p>{link}",
                escape(&r.message())
            ),
        )),
    )
        .into_response()
}

async fn assign_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let p = match posted(&state, &headers, &f).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    match flow::assign::assign(
        &state.deps(),
        &p.person,
        &p.subscription,
        &p.assignment(),
        state.clock.now(),
    )
    .await?
    {
        Ok(flow::assign::Assigned::Done) => Ok(back(&p, "affecte")),
        Ok(flow::assign::Assigned::AlreadyThere) => Ok(back(&p, "deja")),
        Err(r) => Ok(refusal(&state, &p, &r)),
    }
}

async fn withdraw_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let p = match posted(&state, &headers, &f).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    if !p.person.manages.contains(&p.uai) {
        return Ok(refusal(&state, &p, &AssignRefusal::NotManager));
    }
    if f.get("confirme").map(String::as_str) != Some("oui") {
        return confirm_withdrawal(&state, &p, &f).await;
    }
    flow::assign::withdraw(&state.deps(), &p.person, &p.assignment()).await?;
    Ok(back(&p, "retire"))
}

/// Asks the manager to confirm a withdrawal: the people it concerns lose the resource.
async fn confirm_withdrawal(
    state: &AppState,
    p: &Posted,
    f: &HashMap<String, String>,
) -> Result<Response, PageError> {
    let persons = state.store.school_persons(&p.uai).await?;
    let groups = state.store.school_groups(&p.uai).await?;
    let who = view::describe(&p.target, &p.uai, &persons, &groups);
    let cible = format!(
        "<input type=\"hidden\" name=\"cible\" value=\"{}\"><input type=\"hidden\" name=\"confirme\" value=\"oui\">",
        escape(&view::target_value(&p.target))
    );
    let token = f.get("jeton").map_or("", String::as_str);
    let body = format!(
        "<p>Retirer « {} » à <strong>{}</strong> ? Les personnes concernées n'auront plus accès à cette ressource.</p><form method=\"post\" action=\"/affectations/retirer\">{}<button type=\"submit\">Confirmer le retrait</button></form><p><a href=\"/affectations?idENT={}\">Annuler et revenir à la page d'affectation</a></p>",
        escape(if p.subscription.resource_label.is_empty() {
            p.subscription.resource_id.as_str()
        } else {
            &p.subscription.resource_label
        }),
        escape(&who),
        hidden(token, &p.ent, &p.uai, &p.subscription, &cible),
        urlencoding::encode(p.ent.as_str())
    );
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::page(TITLE, &body)),
    )
        .into_response())
}
