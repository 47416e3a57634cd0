//! Logging a user in at their ENT, whatever the protocol: [`start`] sends the browser to the
//! ENT (a signed SAML AuthnRequest, or an OpenID Connect authorization request with PKCE and a
//! nonce) with a pending login bound to that browser, and
//! [`finish`] turns an authenticated ENT user into a gateway session and continues where the
//! login was started from (a médiacentre link, or an OIDC authorization resumed).
//!
//! [`confirm`] asks the ENT, without showing anything, who is at the browser before a session
//! of it is used again (each ENT's `confirm_person_after_seconds`): a shared computer's next
//! user never inherits the last one's session. [`unconfirmed`] handles the ENT's answer that
//! nobody is logged in there: the gateway's session ends, and an ordinary login starts.
//!
//! The protocol front ends (`acs`, and the ENT-side OIDC callback) verify the ENT's message;
//! everything before and after that lives here, once.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::config::{EntAuth, EntConfig};
use crate::flow;
use crate::oidc::rp;
use crate::saml::{sp, xml::new_id};
use crate::session::{PendingLogin, PendingTarget};
use crate::trace::TraceEvent;

use super::cookies;
use super::error::PageError;
use super::pages;

/// What to do once the ENT has authenticated the user.
#[derive(Debug, Clone)]
pub enum Next {
    /// Open this resource in this school (a médiacentre link).
    Open(PendingTarget),
    /// Go back to this path on the gateway (it must start with `/`).
    Resume(String),
}

/// Starts a login at `ent` and answers the redirect that sends the browser there, unless
/// `client` has too many logins started and not finished (429).
pub async fn start(
    state: &AppState,
    ent: &EntConfig,
    next: Next,
    client: super::limits::Client,
) -> Result<Response, PageError> {
    limited(state, ent, next, client, Mode::Default).await
}

/// A login started by a link, which takes one of `client`'s pending-login slots.
async fn limited(
    state: &AppState,
    ent: &EntConfig,
    next: Next,
    client: super::limits::Client,
    mode: Mode,
) -> Result<Response, PageError> {
    if let Some(refused) = super::limits::pending_login(state, client.0) {
        return Ok(refused);
    }
    start_with(state, ent, next, mode).await
}

/// How a login asks the ENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Default,
    /// Authenticate the user again (a provider's `ForceAuthn`).
    Forced,
    /// Show nothing; say who is logged in (to confirm a session before it is used).
    Passive,
}

/// How long after the ENT vouched for a session the next steps of the same launch (the
/// provider's request that follows the médiacentre click, an OIDC authorization) use it without
/// asking again, whatever the ENT's `confirm_person_after`.
pub const LAUNCH_HOP: Duration = Duration::from_secs(60);

/// Whether `session` may answer a provider's request as it is: its ENT vouched for its person
/// within the ENT's `confirm_person_after`, or within [`LAUNCH_HOP`].
pub fn confirmed_for_use(
    state: &AppState,
    session: &crate::session::Session,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    state
        .config
        .ents
        .get(&session.ent)
        .is_some_and(|ent| session.confirmed_within(ent.confirm_person_after.max(LAUNCH_HOP), now))
}

/// Asks `ent`, without showing the user anything (SAML `IsPassive`, OIDC `prompt=none`), who
/// is at this browser, then goes on to `next` as that person: the session the browser has is
/// replaced by the one the ENT's answer opens (see [`finish`]), or ends if the ENT has nobody
/// logged in ([`unconfirmed`]). Takes a pending-login slot, as every login started by a link.
pub async fn confirm(
    state: &AppState,
    ent: &EntConfig,
    next: Next,
    client: super::limits::Client,
) -> Result<Response, PageError> {
    limited(state, ent, next, client, Mode::Passive).await
}

/// The ENT answered a passive login (`pending`, consumed) that nobody is logged in there: the
/// session this browser had ends (traced), and an ordinary login starts for where the passive
/// one was going, so the person at the keyboard logs in as themselves.
pub async fn unconfirmed(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    pending: PendingLogin,
    protocol: &'static str,
) -> Result<Response, PageError> {
    let Some(ent) = state.config.ents.get(&pending.ent) else {
        return Err(PageError::refusal(crate::domain::Refusal::UnknownEnt));
    };
    if let Some(previous) = super::party::live_session(state, headers).await? {
        flow::logout::end(&state.deps(), &previous, flow::logout::Ended::NoEntSession).await?;
    }
    let next = match (pending.target, pending.resume) {
        (Some(t), _) => Next::Open(t),
        (None, Some(path)) => Next::Resume(path),
        (None, None) => {
            return Err(PageError::no_session(
                "the ENT has nobody logged in at this browser: the gateway session ended",
            ))
        }
    };
    let mut resp = start_with(state, ent, next, Mode::Default).await?;
    if let Some(c) = cookies::clear_session(secure(state)) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Some(c) = cookies::clear_login(&pending.id, secure(state), cookies::login_path(protocol))
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Starts a login at `ent` that must authenticate the user again, whatever session the ENT
/// has: `ForceAuthn="true"` to a SAML ENT, `prompt=login` and `max_age=0` to an OIDC ENT.
/// Only a user with a live session gets here (and the SSO endpoints are rate limited), so
/// no pending-login slot is taken.
pub async fn start_forced(
    state: &AppState,
    ent: &EntConfig,
    next: Next,
) -> Result<Response, PageError> {
    start_with(state, ent, next, Mode::Forced).await
}

async fn start_with(
    state: &AppState,
    ent: &EntConfig,
    next: Next,
    mode: Mode,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let (target, resume) = match next {
        Next::Open(t) => (Some(t), None),
        Next::Resume(path) => (None, Some(path)),
    };
    let start = flow::login::Start {
        id: new_id(),
        ent: &ent.id,
        target,
        resume,
        forced: mode == Mode::Forced,
        passive: mode == Mode::Passive,
    };
    let protocol = match &ent.auth {
        EntAuth::Saml(_) => "saml",
        EntAuth::Oidc(_) => "oidc",
    };
    let ttl = state.config.saml.request_ttl;
    let ask = |login: &PendingLogin| {
        let id = login.id.clone();
        async move {
            match &ent.auth {
                EntAuth::Saml(idp) => sp::authn_request_url(
                    &state.sp,
                    &idp.get(),
                    &id,
                    now,
                    &id,
                    &state.config.signing_key.get(),
                    match mode {
                        Mode::Default => sp::Prompt::Default,
                        Mode::Forced => sp::Prompt::ForceAuthn,
                        Mode::Passive => sp::Prompt::IsPassive,
                    },
                )
                .map(|url| flow::login::Asked { url, extra: None })
                .map_err(|e| PageError::saml(&e)),
                EntAuth::Oidc(op) => {
                    let begun = oidc_begin(state, ent, op, &id, now)
                        .await
                        .map_err(|e| oidc_refused(state, Some(ent.id.as_str()), &e))?;
                    let url = match mode {
                        Mode::Default => begun.url,
                        Mode::Forced => forced_oidc_url(&begun.url),
                        Mode::Passive => passive_oidc_url(&begun.url),
                    };
                    Ok(flow::login::Asked {
                        url,
                        extra: Some(begun.secrets.to_extra()),
                    })
                }
            }
        }
    };
    let (login, url) = flow::login::start(&state.deps(), start, ttl, now, ask)
        .await
        .map_err(|e| match e {
            flow::login::StartError::Ask(page) => page,
            flow::login::StartError::Store(e) => PageError::from(e),
        })?;
    Ok(with_login_cookie(
        Redirect::to(&url).into_response(),
        state,
        &login.id,
        ttl,
        protocol,
    ))
}

/// OpenID Connect Core §3.1.2.1: `prompt=login` and `max_age=0` make the ENT authenticate
/// the user again.
fn forced_oidc_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .append_pair("prompt", "login")
                .append_pair("max_age", "0");
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// OpenID Connect Core §3.1.2.1: `prompt=none` makes the ENT answer at once, with the user it
/// has logged in or the error `login_required`.
fn passive_oidc_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("prompt", "none");
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// The OIDC redirect URI registered at ENTs.
pub fn oidc_redirect_uri(state: &AppState) -> String {
    state.config.url("/ent/oidc/callback")
}

async fn oidc_begin(
    state: &AppState,
    ent: &EntConfig,
    op: &rp::EntOidc,
    login_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<rp::Begin, rp::RpError> {
    let provider = state.ent_oidc.get(ent.id.as_str(), op, now).await?;
    rp::begin(&provider, op, &oidc_redirect_uri(state), login_id)
}

/// Traces a refused OIDC exchange with ENT `ent` and turns it into a page.
pub fn oidc_refused(state: &AppState, ent: Option<&str>, e: &rp::RpError) -> PageError {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "ent",
        peer: ent.map(str::to_string),
        protocol: "oidc",
        check: e.check.code(),
    });
    PageError::oidc(e)
}

fn secure(state: &AppState) -> bool {
    cookies::secure(&state.config)
}

/// Adds the cookie that binds pending login `id` to this browser.
pub fn with_login_cookie(
    mut resp: Response,
    state: &AppState,
    id: &str,
    ttl: Duration,
    protocol: &str,
) -> Response {
    let path = cookies::login_path(protocol);
    if let Some(c) = cookies::set_login(id, ttl.as_secs(), secure(state), path) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Creates the session of `person_id`, authenticated by the ENT of `pending` over `protocol`
/// in its login `ent_session` (what its logout will name),
/// in place of the session this browser had (`headers`' cookie), and continues where the
/// login started. The caller has verified the ENT's message and consumed `pending`.
pub async fn finish(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    pending: PendingLogin,
    person_id: String,
    ent_session: Option<crate::session::EntSessionRef>,
    protocol: &'static str,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let ttl = state.config.session_ttl;
    let previous = super::party::live_session(state, headers).await?;
    let vouched = flow::login::Vouched {
        ent: &pending.ent,
        person_id,
        protocol,
        target: pending.target.clone(),
        resume: pending.resume.clone(),
        previous,
        ent_session,
    };
    let finished =
        flow::login::finish(&state.deps(), vouched, cookies::new_session_id(), ttl, now).await?;
    let cookie = cookies::set_session(&finished.session.id, ttl.as_secs(), secure(state));
    let mut resp = match finished.next {
        flow::login::Next::Open(Ok(access_url)) => to_resource(&access_url),
        flow::login::Next::Open(Err(r)) => PageError::refusal(r).into_response(),
        flow::login::Next::Resume(path) if is_local_path(&path) => {
            (StatusCode::FOUND, [(header::LOCATION, path)]).into_response()
        }
        flow::login::Next::Resume(_) | flow::login::Next::Done => Html(pages::page(
            "Connexion réussie",
            "<p>Vous êtes connecté. Vous pouvez ouvrir vos ressources depuis le médiacentre de votre ENT.</p>",
        ))
        .into_response(),
    };
    append(&mut resp, cookie);
    if let Some(c) = cookies::clear_login(&pending.id, secure(state), cookies::login_path(protocol))
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// The redirection to a resource whose access was granted.
pub fn to_resource(access_url: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, access_url.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

/// A path on this gateway, never another site (`//host` or `/\host` would leave it).
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.contains(['\r', '\n'])
}

fn append(resp: &mut Response, cookie: Option<HeaderValue>) {
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
}

#[cfg(test)]
mod tests {
    use super::{forced_oidc_url, is_local_path, passive_oidc_url};

    #[test]
    fn a_forced_oidc_login_asks_the_ent_to_authenticate_again() {
        let u = forced_oidc_url("https://ent.example.test/authorize?client_id=p&state=s");
        assert!(u.ends_with("&prompt=login&max_age=0"), "{u}");
        assert!(u.contains("client_id=p&state=s"));
    }

    #[test]
    fn a_passive_oidc_login_asks_the_ent_to_show_nothing() {
        let u = passive_oidc_url("https://ent.example.test/authorize?client_id=p&state=s");
        assert!(u.ends_with("&prompt=none"), "{u}");
        assert!(u.contains("client_id=p&state=s"));
    }

    #[test]
    fn resume_paths_stay_on_the_gateway() {
        assert!(is_local_path("/oidc/authorize?client_id=a"));
        assert!(!is_local_path("//evil.example/x"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("/ok\r\nSet-Cookie: x=y"));
    }
}
