//! Server-rendered pages people see (in French), with no JavaScript required.

use crate::saml::xml::escape;

/// A short random reference that ties a page a user reports to the operator's log line.
pub fn reference() -> String {
    use rand::Rng;
    let n: u32 = rand::thread_rng().gen();
    format!("{:04X}-{:04X}", n >> 16, n & 0xFFFF)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1e1e1e}h1{color:#000091;font-size:1.5rem}.code{color:#555;font-size:.9rem;border-top:1px solid #ddd;padding-top:1rem;margin-top:2rem}";

/// A page with a title and a paragraph of already-escaped HTML.
pub fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t} – passerelle</title><style>{STYLE}</style></head><body><h1>{t}</h1>{body_html}</body></html>\n",
        t = escape(title)
    )
}

/// The error page: what happened, what to do, and the codes to give the help desk.
pub fn error_page(title: &str, message: &str, code: &str, reference: &str) -> String {
    page(
        title,
        &format!(
            "<p>{}</p><p class=\"code\">Code : <strong>{}</strong> — Référence : <strong>{}</strong></p>",
            escape(message),
            escape(code),
            escape(reference)
        ),
    )
}
