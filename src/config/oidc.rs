//! Validation of the OpenID Provider's settings (`[oidc]`: lifetimes and signing keys) and of
//! providers' OIDC clients (`[[providers.<key>.oidc.clients]]`).

use std::collections::BTreeSet;
use std::time::Duration;

use super::ctx::Ctx;
use super::raw::{RawOidc, RawProviderOidc};
use super::Secret;
use crate::oidc::op::client::{check_registered_uri, ApplicationType, OidcClient};
use crate::oidc::op::keys::{alg_from_name, Algorithm, KeySet, OidcKey};
pub use crate::oidc::op::settings::OidcConfig;
use crate::saml::keys::SigningKey;

fn seconds(cx: &mut Ctx<'_>, key: &str, v: Option<u64>, default: u64, max: u64) -> Duration {
    let s = v.unwrap_or(default);
    if s == 0 || s > max {
        cx.problem(key, format!("must be between 1 and {max} seconds"));
    }
    Duration::from_secs(s)
}

pub(super) fn oidc(
    cx: &mut Ctx<'_>,
    raw: &RawOidc,
    saml_key: Option<&SigningKey>,
) -> Option<OidcConfig> {
    let code_lifetime = seconds(
        cx,
        "oidc.code_lifetime_seconds",
        raw.code_lifetime_seconds,
        60,
        600,
    );
    let access_token_lifetime = seconds(
        cx,
        "oidc.access_token_lifetime_seconds",
        raw.access_token_lifetime_seconds,
        600,
        86_400,
    );
    let id_token_lifetime = seconds(
        cx,
        "oidc.id_token_lifetime_seconds",
        raw.id_token_lifetime_seconds,
        300,
        86_400,
    );
    let refresh_token_lifetime = seconds(
        cx,
        "oidc.refresh_token_lifetime_seconds",
        raw.refresh_token_lifetime_seconds,
        30 * 86_400,
        365 * 86_400,
    );
    let mut keys = Vec::new();
    for (i, k) in raw.keys.iter().enumerate() {
        let prefix = format!("oidc.keys.{i}");
        let name = k.algorithm.as_deref().unwrap_or("RS256");
        let Some(alg) = alg_from_name(name) else {
            cx.problem(
                format!("{prefix}.algorithm"),
                format!("'{name}' is not offered (RS256 or ES256)"),
            );
            continue;
        };
        let Some(file) = cx.required(&format!("{prefix}.key_file"), k.key_file.clone()) else {
            continue;
        };
        let Some(pem) = cx.read(&format!("{prefix}.key_file"), &file) else {
            continue;
        };
        match OidcKey::from_pem(&pem, alg, k.kid.as_deref()) {
            Ok(key) => keys.push(key),
            Err(e) => cx.problem(format!("{prefix}.key_file"), e),
        }
    }
    if raw.keys.is_empty() {
        // Zero configuration: the gateway's SAML signing key, RS256.
        match saml_key.map(|k| OidcKey::from_pkey(&k.key, Algorithm::RS256, None)) {
            Some(Ok(k)) => keys.push(k),
            Some(Err(e)) => cx.problem("oidc.keys", format!("the gateway's signing key cannot sign RS256 tokens ({e}): configure [[oidc.keys]]")),
            None => return None,
        }
    }
    if keys.len() != raw.keys.len().max(1) {
        return None;
    }
    match KeySet::new(keys) {
        Ok(keys) => Some(OidcConfig {
            keys,
            code_lifetime,
            access_token_lifetime,
            id_token_lifetime,
            refresh_token_lifetime,
        }),
        Err(e) => {
            cx.problem("oidc.keys", e);
            None
        }
    }
}

/// A provider's OIDC clients. `seen` holds every client id already registered.
pub(super) fn clients(
    cx: &mut Ctx<'_>,
    prefix: &str,
    raw: Option<&RawProviderOidc>,
    seen: &mut BTreeSet<String>,
) -> Vec<OidcClient> {
    let Some(raw) = raw else {
        cx.problem(
            format!("{prefix}.oidc"),
            "an OIDC provider needs [[oidc.clients]]",
        );
        return Vec::new();
    };
    if raw.clients.is_empty() {
        cx.problem(
            format!("{prefix}.oidc.clients"),
            "must register at least one client",
        );
    }
    let mut out = Vec::new();
    for (i, c) in raw.clients.iter().enumerate() {
        let p = format!("{prefix}.oidc.clients.{i}");
        let application_type = match c.application_type.as_deref().unwrap_or("web") {
            "web" => ApplicationType::Web,
            "native" => ApplicationType::Native,
            other => {
                cx.problem(
                    format!("{p}.application_type"),
                    format!("'{other}' is not web or native"),
                );
                ApplicationType::Web
            }
        };
        let client_id = cx.required(&format!("{p}.client_id"), c.client_id.clone());
        if let Some(id) = &client_id {
            if id.is_empty() || id.len() > 255 || id.contains([':', ' ']) {
                cx.problem(
                    format!("{p}.client_id"),
                    "1 to 255 characters, without ':' or spaces",
                );
            } else if !seen.insert(id.clone()) {
                cx.problem(
                    format!("{p}.client_id"),
                    "another client has the same client_id",
                );
            }
        }
        let secret = match &c.client_secret_file {
            None => None,
            Some(f) => {
                let key = format!("{p}.client_secret_file");
                let s = cx
                    .read(&key, f)
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string());
                if s.as_ref().is_some_and(|s| s.len() < 32) {
                    cx.problem(
                        &key,
                        "the secret must be at least 32 characters (e.g. `openssl rand -hex 32`)",
                    );
                }
                s.map(Secret::new)
            }
        };
        if secret.is_none()
            && c.client_secret_file.is_none()
            && application_type == ApplicationType::Web
        {
            cx.problem(format!("{p}.client_secret_file"), "a web client is confidential: give it a secret (public clients are native applications)");
        }
        let redirect_uris = c.redirect_uris.clone().unwrap_or_default();
        if redirect_uris.is_empty() {
            cx.problem(
                format!("{p}.redirect_uris"),
                "must list at least one redirect URI",
            );
        }
        for (j, u) in redirect_uris.iter().enumerate() {
            if let Err(e) = check_registered_uri(application_type, u) {
                cx.problem(format!("{p}.redirect_uris.{j}"), e);
            }
        }
        for (j, u) in c.post_logout_redirect_uris.iter().enumerate() {
            if let Err(e) = check_registered_uri(application_type, u) {
                cx.problem(format!("{p}.post_logout_redirect_uris.{j}"), e);
            }
        }
        for (key, uri) in [
            ("backchannel_logout_uri", &c.backchannel_logout_uri),
            ("frontchannel_logout_uri", &c.frontchannel_logout_uri),
        ] {
            // Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2: an absolute URL, no
            // fragment; https, or http on a loopback address for trials, as a web client's
            // redirect URIs.
            let Some(u) = uri else { continue };
            let fragment = url::Url::parse(u).is_ok_and(|u| u.fragment().is_some());
            if let Err(e) = check_registered_uri(ApplicationType::Web, u) {
                cx.problem(format!("{p}.{key}"), e);
            } else if fragment {
                cx.problem(format!("{p}.{key}"), "must not carry a fragment");
            }
        }
        if c.require_pkce == Some(false) && secret.is_none() {
            cx.problem(
                format!("{p}.require_pkce"),
                "a public client always uses PKCE: remove require_pkce = false",
            );
        }
        if let Some(id) = client_id {
            out.push(OidcClient {
                client_id: id,
                secret,
                application_type,
                redirect_uris,
                post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                backchannel_logout_uri: c.backchannel_logout_uri.clone(),
                frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
                refresh_tokens: c
                    .refresh_tokens
                    .unwrap_or(application_type == ApplicationType::Native),
                require_pkce: c.require_pkce.unwrap_or(true),
            });
        }
    }
    out
}
