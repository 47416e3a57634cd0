//! The confirmation a logout asks for when nothing proves it comes from the session's own side.
//! The session cookie is `SameSite=None`, so any site could send a browser to a logout URL: the
//! session ends only on the POST of this page, which carries a token bound to the session (an
//! HMAC of its id). OIDC's RP-initiated logout and CAS's `/logout` ask it alike.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::saml::xml::escape;
use crate::session::Session;

use super::pages;

/// The form field carrying the session-bound token.
pub const TOKEN_FIELD: &str = "jeton";

/// Whether `given` (the posted field) is `session`'s token, compared in constant time.
pub fn confirmed(state: &AppState, session: &Session, given: Option<&String>) -> bool {
    let expected = state.config.ido_key.logout_token(&session.id);
    given.is_some_and(|t| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            t.as_bytes(),
            expected.as_bytes(),
        ))
    })
}

/// The page asking the user to confirm: a POST form to `action` (a path of the gateway) with
/// the session-bound token and the `carried` parameters.
pub fn page(
    state: &AppState,
    session: &Session,
    action: &str,
    carried: &[(&str, Option<&str>)],
) -> Response {
    let mut fields = format!(
        r#"<input type="hidden" name="{TOKEN_FIELD}" value="{}">"#,
        escape(&state.config.ido_key.logout_token(&session.id))
    );
    for (name, value) in carried {
        if let Some(v) = value {
            fields.push_str(&format!(
                r#"<input type="hidden" name="{name}" value="{}">"#,
                escape(v)
            ));
        }
    }
    let body = format!(
        r#"<p>Une application demande la fin de votre session sur la passerelle.</p><p>Si c'est bien vous qui avez demandé à vous déconnecter, confirmez. Sinon, fermez simplement cette page : votre session est conservée.</p><form method="post" action="{action}">{fields}<button type="submit">Me déconnecter</button></form>"#,
        action = escape(&state.config.url(action)),
    );
    no_store(Html(pages::page("Se déconnecter de la passerelle ?", &body)).into_response())
}

/// The page that says the gateway session is over.
pub fn done_page() -> Response {
    no_store(Html(pages::page("Vous êtes déconnecté", "<p>Votre session sur la passerelle est terminée. Pour vous déconnecter aussi de votre ENT, utilisez son bouton de déconnexion.</p>")).into_response())
}

pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}
