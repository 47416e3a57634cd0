//! `/audience`: the audience dashboard, in French, server-rendered and readable without
//! JavaScript. The reader enters their token and a date range; the page shows, for their
//! scope, accesses per day, web against native application, the top resources and the
//! profiles, as SVG bar charts each followed by its table, and a CSV download.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;

use super::{csv_response, reader, request, unavailable, Reader};
use crate::app::AppState;
use crate::audience::report::{self, Period, Report, ReportRequest};
use crate::domain::{Jurisdiction, Profile};
use crate::http::api_error::{ApiError, Shape};
use crate::http::pages;
use crate::saml::xml::escape;

const TITLE: &str = "Audience des ressources";

fn form(p: &HashMap<String, String>, message: &str) -> String {
    let v = |k: &str| escape(p.get(k).map(String::as_str).unwrap_or_default());
    format!(
        "{message}<form method=\"post\" action=\"/audience\"><p><label>Jeton de lecture : <input type=\"password\" name=\"jeton\" required value=\"{}\"></label></p><p><label>Du (AAAA-MM-JJ) : <input name=\"from\" value=\"{}\"></label></p><p><label>Au (AAAA-MM-JJ, inclus) : <input name=\"to\" value=\"{}\"></label></p><p><label>Périmètre (ministère seulement, ex. school:0561641E) : <input name=\"scope\" value=\"{}\"></label></p><p><button type=\"submit\">Afficher</button></p></form>",
        v("jeton"),
        v("from"),
        v("to"),
        v("scope"),
    )
}

pub(super) async fn form_page() -> Html<String> {
    Html(pages::page(
        TITLE,
        &form(
            &HashMap::new(),
            "<p>Consultez les accès aux ressources par la passerelle, dans la limite de votre périmètre. Sans dates, les 30 derniers jours sont affichés.</p>",
        ),
    ))
}

/// The form again, with the refusal's message; its cause is logged once.
fn refused(p: &HashMap<String, String>, e: ApiError) -> Response {
    let alert = format!(
        "<p role=\"alert\"><strong>{}</strong></p>",
        escape(&e.message)
    );
    e.into_page(pages::page(TITLE, &form(p, &alert)))
}

fn profile_label(code: &str) -> String {
    let label = match code.parse::<Profile>() {
        Ok(Profile::Eleve) => "Élèves",
        Ok(Profile::Enseignant) => "Enseignants",
        Ok(Profile::Documentaliste) => "Documentalistes",
        Ok(Profile::VieScolaire) => "Vie scolaire",
        Ok(Profile::AdministratifTechnique) => "Personnels administratifs et techniques",
        Ok(Profile::Direction) => "Direction",
        Ok(Profile::Collectivite) => "Collectivité",
        Ok(Profile::Tuteur) => "Parents",
        Ok(Profile::Academie) => "Académie",
        Err(_) => return code.to_string(),
    };
    label.to_string()
}

fn channel_label(code: &str) -> String {
    match code {
        "web" => "Web".into(),
        "app" => "Application native".into(),
        other => other.into(),
    }
}

/// A horizontal bar chart (SVG) and its table.
fn bars(title: &str, rows: &[(String, i64, u64)]) -> String {
    if rows.is_empty() {
        return format!(
            "<h2>{}</h2><p>Aucun accès sur la période (ou cellules masquées).</p>",
            escape(title)
        );
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let h = 26 * rows.len() + 10;
    let mut svg = format!("<svg role=\"img\" aria-label=\"{}\" width=\"640\" height=\"{h}\" viewBox=\"0 0 640 {h}\" xmlns=\"http://www.w3.org/2000/svg\">", escape(title));
    for (i, (label, n, _)) in rows.iter().enumerate() {
        let y = 26 * i + 5;
        let w = (*n as f64 / max as f64 * 380.0).round() as i64;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"230\" y=\"{y}\" width=\"{w}\" height=\"18\" fill=\"#000091\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{n}</text>",
            y + 14,
            escape(&truncate(label, 34)),
            236 + w,
            y + 14
        ));
    }
    svg.push_str("</svg>");
    let table: String = rows
        .iter()
        .map(|(l, n, v)| format!("<tr><td>{}</td><td>{n}</td><td>{v}</td></tr>", escape(l)))
        .collect();
    format!("<h2>{}</h2>{svg}<table><tr><th></th><th>Accès</th><th>Visiteurs (par jour, cumulés)</th></tr>{table}</table>", escape(title))
}

/// A day as French readers write it (`24/11/2026`).
fn french_day(day: chrono::NaiveDate) -> String {
    day.format("%d/%m/%Y").to_string()
}

/// Every day from `from` to `to` (at most a year's), with the report's figures for the days it
/// has and none for the others: a day without accesses is a bar of zero, not a day left out.
fn every_day(
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    rows: &[(String, i64, u64)],
) -> Vec<(String, i64, u64)> {
    let found: HashMap<&str, (i64, u64)> = rows
        .iter()
        .map(|(d, n, v)| (d.as_str(), (*n, *v)))
        .collect();
    from.iter_days()
        .take_while(|d| *d <= to)
        .take(366)
        .map(|d| {
            let (n, v) = found
                .get(d.format("%Y-%m-%d").to_string().as_str())
                .copied()
                .unwrap_or((0, 0));
            (french_day(d), n, v)
        })
        .collect()
}

/// Vertical bars, one per day (`rows` from [`every_day`]); `withheld`: some cells are
/// masked, so a day of zero may be a masked one.
fn per_day(rows: &[(String, i64, u64)], withheld: bool) -> String {
    let title = "Accès par jour";
    if rows.iter().all(|r| r.1 == 0) {
        return format!(
            "<h2>{title}</h2><p>Aucun accès sur la période (ou cellules masquées).</p>"
        );
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let bw = (600 / rows.len().max(1)).clamp(4, 40);
    let width = bw * rows.len() + 40;
    let mut svg = format!("<svg role=\"img\" aria-label=\"{title}\" width=\"{width}\" height=\"200\" viewBox=\"0 0 {width} 200\" xmlns=\"http://www.w3.org/2000/svg\">");
    for (i, (_, n, _)) in rows.iter().enumerate() {
        let h = (*n as f64 / max as f64 * 170.0).round() as i64;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"#000091\"/>",
            20 + i * bw,
            180 - h,
            bw.saturating_sub(2).max(1)
        ));
    }
    // The axis: the first and the last day (one label when they are the same day).
    let last = if rows.len() > 1 {
        format!(
            "<text x=\"{width}\" y=\"196\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            escape(&rows[rows.len() - 1].0)
        )
    } else {
        String::new()
    };
    svg.push_str(&format!(
        "<text x=\"20\" y=\"196\" font-size=\"11\">{}</text>{last}<text x=\"0\" y=\"12\" font-size=\"11\">{max}</text></svg>",
        escape(&rows[0].0),
    ));
    let zero = if withheld { "0 ou masqué" } else { "0" };
    let table: String = rows
        .iter()
        .map(|(d, n, v)| {
            let n = if *n == 0 {
                zero.to_string()
            } else {
                n.to_string()
            };
            format!("<tr><td>{}</td><td>{n}</td><td>{v}</td></tr>", escape(d))
        })
        .collect();
    format!("<h2>{title}</h2>{svg}<details><summary>Tableau</summary><table><tr><th>Jour</th><th>Accès</th><th>Visiteurs</th></tr>{table}</table></details>")
}

/// The reader's scope in French, with the names the configuration and the directory give.
async fn scope_label(state: &AppState, scope: &Jurisdiction) -> String {
    match scope {
        Jurisdiction::All => "toutes les ressources, tous les établissements".into(),
        Jurisdiction::Provider(key) => {
            let name = state
                .config
                .providers
                .get(key)
                .map_or(key.as_str(), |p| &p.name);
            format!(
                "les ressources de l'éditeur <strong>{}</strong>",
                escape(name)
            )
        }
        Jurisdiction::Ent(id) => {
            let name = state.config.ents.get(id).map_or(id.as_str(), |e| &e.name);
            format!(
                "les établissements de l'ENT <strong>{}</strong>",
                escape(name)
            )
        }
        Jurisdiction::School(uai) => {
            let name = match state.store.school(uai).await {
                Ok(Some(s)) if !s.name.is_empty() => format!("{} ({uai})", s.name),
                _ => uai.to_string(),
            };
            format!("l'établissement <strong>{}</strong>", escape(&name))
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

async fn part(
    state: &AppState,
    base: &ReportRequest,
    by: &str,
    period: Period,
) -> Result<Report, crate::store::StoreError> {
    let req = ReportRequest {
        by: by.into(),
        period,
        ..base.clone()
    };
    report::build(state.store.as_ref(), &req).await
}

fn rows(r: &Report, label: impl Fn(&str) -> String) -> Vec<(String, i64, u64)> {
    r.rows
        .iter()
        .map(|row| (label(&row.value), row.accesses, row.visitors))
        .collect()
}

pub(super) async fn results_page(
    State(state): State<AppState>,
    Form(p): Form<HashMap<String, String>>,
) -> Response {
    let Some(r): Option<Reader> = reader(&state, p.get("jeton").map(String::as_str), None) else {
        return refused(
            &p,
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                Shape::Text,
                "Jeton de lecture inconnu.",
                "audience dashboard refused: no valid reader token",
            ),
        );
    };
    let base = match request(&state, &r, &p) {
        Ok(b) => b,
        Err(e) => return refused(&p, e),
    };
    let names = resource_names(&state);
    let built = async {
        Ok::<_, crate::store::StoreError>((
            part(&state, &base, "total", Period::Day).await?,
            part(&state, &base, "channel", Period::Total).await?,
            part(&state, &base, "resource", Period::Total).await?,
            part(&state, &base, "profile", Period::Total).await?,
        ))
    }
    .await;
    let (days, channels, resources, profiles) = match built {
        Ok(b) => b,
        Err(e) => {
            return refused(&p, unavailable(&e));
        }
    };
    let total: i64 = days.rows.iter().map(|r| r.accesses).sum();
    let raw: i64 = days.rows.iter().map(|r| r.accesses_raw).sum();
    let day_rows: Vec<(String, i64, u64)> = days
        .rows
        .iter()
        .map(|row| (row.period.clone(), row.accesses, row.visitors))
        .collect();
    let mut top = rows(&resources, |v| {
        names.get(v).cloned().unwrap_or_else(|| v.to_string())
    });
    top.truncate(10);
    let suppressed =
        days.suppressed + channels.suppressed + resources.suppressed + profiles.suppressed;
    let note = if suppressed > 0 {
        format!(
            "<p>{suppressed} cellule(s) de moins de {} visiteurs distincts sont masquées.</p>",
            state.config.audience.min_visitors
        )
    } else {
        String::new()
    };
    let hidden: String = ["jeton", "from", "to", "scope"]
        .iter()
        .filter_map(|k| p.get(*k).map(|v| (k, v)))
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape(v)
            )
        })
        .collect();
    let body = format!(
        "<p>Lecteur : <strong>{}</strong> — périmètre : {} — du {} au {}.</p><p><strong>{total}</strong> accès (filtre des doubles clics COUNTER) ; {raw} accès bruts.</p>{note}<form method=\"post\" action=\"/audience/export\">{hidden}<button type=\"submit\">Télécharger en CSV (par jour et par ressource)</button></form>{}{}{}{}{}",
        escape(&r.name),
        scope_label(&state, &base.scope).await,
        french_day(base.from),
        french_day(base.to),
        per_day(&every_day(base.from, base.to, &day_rows), days.suppressed > 0),
        bars("Web et application native", &rows(&channels, channel_label)),
        bars("Ressources les plus consultées", &top),
        bars("Par profil", &rows(&profiles, profile_label)),
        form(&p, "<h2>Autre période</h2>"),
    );
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::page(TITLE, &body)),
    )
        .into_response()
}

pub(super) async fn export(
    State(state): State<AppState>,
    Form(p): Form<HashMap<String, String>>,
) -> Response {
    let Some(r) = reader(&state, p.get("jeton").map(String::as_str), None) else {
        return (StatusCode::UNAUTHORIZED, "authentification requise\n").into_response();
    };
    let mut q = p.clone();
    q.entry("by".into()).or_insert_with(|| "resource".into());
    q.entry("period".into()).or_insert_with(|| "day".into());
    let req = match request(&state, &r, &q) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    let names = resource_names(&state);
    match report::build(state.store.as_ref(), &req).await {
        Ok(rep) => csv_response(french_csv(&rep, &names), true),
        Err(e) => unavailable(&e).into_response(),
    }
}

/// Each configured resource's name, by its id.
fn resource_names(state: &AppState) -> HashMap<String, String> {
    state
        .config
        .providers
        .values()
        .flat_map(|pr| {
            pr.resources
                .iter()
                .map(|x| (x.id.to_string(), x.name.clone()))
        })
        .collect()
}

/// The dashboard's download, for people and spreadsheets: French headers, days as
/// `24/11/2026`, the resource's name beside its id. (`/audience/report?format=csv` keeps its
/// stable English columns for programs.)
fn french_csv(rep: &Report, names: &HashMap<String, String>) -> String {
    let mut out = String::from("jour;ressource;nom de la ressource;accès;accès bruts;visiteurs\n");
    for row in &rep.rows {
        let day = chrono::NaiveDate::parse_from_str(&row.period, "%Y-%m-%d")
            .map(french_day)
            .unwrap_or_else(|_| row.period.clone());
        let name = names.get(&row.value).map_or("", String::as_str);
        out.push_str(&format!(
            "{day};{};{};{};{};{}\n",
            report::csv_field(&row.value),
            report::csv_field(name),
            row.accesses,
            row.accesses_raw,
            row.visitors
        ));
    }
    out
}
