//! Server-rendered pages people see (in French), with no JavaScript required: the page
//! template, the one stylesheet every page links (`static/passerelle.css`, served here), the
//! error page and the reference that ties it to the operator's log line.

use std::sync::LazyLock;

use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;

use crate::saml::xml::escape;

/// A short random reference that ties a page a user reports to the operator's log line.
pub fn reference() -> String {
    use rand::Rng;
    let n: u32 = rand::thread_rng().gen();
    format!("{:04X}-{:04X}", n >> 16, n & 0xFFFF)
}

/// Where the stylesheet is served (`GET`, by the gateway and the demo's own servers).
pub const STYLESHEET_PATH: &str = "/static/passerelle.css";

const STYLESHEET: &str = include_str!("static/passerelle.css");

/// The stylesheet's address in pages: its path with a digest of its content, so that it can
/// be cached for a year and a new version is fetched at once.
static STYLESHEET_HREF: LazyLock<String> = LazyLock::new(|| {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(STYLESHEET.as_bytes());
    format!("{STYLESHEET_PATH}?v={}", &hex::encode(digest)[..12])
});

/// `GET /static/passerelle.css`: the same bytes for every version query, cached for a year.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
}

/// A page of the gateway with a title and a body of already-escaped HTML.
pub fn page(title: &str, body_html: &str) -> String {
    page_of("Passerelle", title, body_html)
}

/// A page of `site` (the name after the title in the browser's tab, so that the user knows
/// which system they are on: the gateway, the demo ENT, a demo resource).
pub fn page_of(site: &str, title: &str, body_html: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t} – {site}</title><link rel=\"stylesheet\" href=\"{css}\"></head><body><main><h1>{t}</h1>{body_html}</main></body></html>\n",
        t = escape(title),
        site = escape(site),
        css = escape(&STYLESHEET_HREF),
    )
}

/// Every refusal page's way back: the gateway is never where a user starts.
pub const WAY_BACK: &str = "Pour revenir, utilisez le bouton « Précédent » de votre navigateur ou retournez au médiacentre de votre ENT, d'où s'ouvrent vos ressources.";

/// The error page: what happened, what to do, the way back, and the reference to give the
/// help desk. The stable `code` is for operators (it is also in their log line, with the
/// reference): a discreet line, never the headline.
pub fn error_page(title: &str, message: &str, code: &str, reference: &str) -> String {
    page(
        title,
        &format!(
            "<p>{}</p><p class=\"back\">{WAY_BACK}</p><div class=\"reference\"><p>Référence à donner à l'assistance : <strong>{}</strong></p></div><p class=\"operator\"><small>Pour l'exploitant : <code>{}</code></small></p>",
            escape(message),
            escape(reference),
            escape(code),
        ),
    )
}

/// A browser navigating (it asks for HTML), not an API client.
pub fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_the_headline_and_the_code_a_discreet_line() {
        let html = error_page("Titre", "Message <b>", "not_assigned", "ABCD-0123");
        assert!(html.contains("lang=\"fr\""), "{html}");
        assert!(html.contains("<strong>ABCD-0123</strong>"), "{html}");
        assert!(
            html.contains("<p class=\"operator\"><small>Pour l'exploitant : <code>not_assigned</code></small></p>"),
            "{html}"
        );
        assert!(!html.contains("Code :"), "{html}");
        assert!(html.contains("Message &lt;b&gt;"), "{html}");
        assert!(html.contains(WAY_BACK), "{html}");
        assert!(
            html.contains(&format!("href=\"{STYLESHEET_PATH}?v=")),
            "{html}"
        );
    }
}
