//! Validation of one ENT (`[ents.<idENT>]`): its name, its web-service credentials, and how it
//! authenticates its users: a SAML IdP (`[ents.<id>.saml]`, metadata from a file, a URL or an MDQ
//! server, see `config::metadata`) or an OpenID Provider (`protocol = "oidc"`, `[ents.<id>.oidc]`).

use std::time::Duration;

use url::Url;

use super::ctx::{algorithms, api_token, cert_fingerprint, Ctx};
use super::metadata::{PartnerMetadata, SourceKeys};
use super::raw::{RawEnt, RawEntOidc, RawEntSaml};
use super::{EntAuth, EntConfig, Secret};
use crate::domain::school_scope::{
    academy_departements, is_departement, DeclaredSchools, ACADEMIES,
};
use crate::domain::{IdEnt, Uai};
use crate::oidc::rp::{allowed_url, EntOidc, IdTokenAlg};
use crate::partners::{Live, MetadataSettings};
use crate::saml::metadata;
use crate::saml::metadata::Trust;
use crate::saml::sp::EntIdp;

pub(super) async fn ent(
    cx: &mut Ctx<'_>,
    id: &str,
    e: &RawEnt,
    md: &MetadataSettings,
) -> Option<EntConfig> {
    let prefix = format!("ents.{id}");
    let ent_id = match id.parse::<IdEnt>() {
        Ok(i) => Some(i),
        Err(err) => {
            cx.problem(prefix.clone(), err.to_string());
            None
        }
    };
    let name = cx.required(&format!("{prefix}.name"), e.name.clone());
    let api_token = api_token(cx, &prefix, &e.api_token_file);
    let client_cert_fingerprint = cert_fingerprint(
        cx,
        &format!("{prefix}.client_certificate_file"),
        &e.client_certificate_file,
    );
    let mut metadata = None;
    let auth = match e.protocol.as_deref().unwrap_or("saml") {
        "saml" => {
            if e.oidc.is_some() {
                cx.problem(
                    format!("{prefix}.oidc"),
                    "only for protocol = \"oidc\" (this ENT uses saml)",
                );
            }
            let saml = cx.required(&format!("{prefix}.saml"), e.saml.as_ref());
            saml_idp(cx, id, &prefix, saml?, md).await.map(|(idp, m)| {
                metadata = Some(m);
                EntAuth::Saml(Live::new(idp))
            })
        }
        "oidc" => {
            if e.saml.is_some() {
                cx.problem(
                    format!("{prefix}.saml"),
                    "only for protocol = \"saml\" (this ENT uses oidc)",
                );
            }
            let oidc = cx.required(&format!("{prefix}.oidc"), e.oidc.as_ref());
            oidc_op(cx, &prefix, oidc?).map(|o| EntAuth::Oidc(Box::new(o)))
        }
        other => {
            cx.problem(
                format!("{prefix}.protocol"),
                format!("'{other}' is not an ENT protocol (expected saml or oidc)"),
            );
            None
        }
    };
    let schools = declared_schools(cx, &prefix, e);
    Some(EntConfig {
        id: ent_id?,
        name: name?,
        auth: auth?,
        api_token: api_token?,
        client_cert_fingerprint,
        schools,
        confirm_person_after: Duration::from_secs(e.confirm_person_after_seconds.unwrap_or(0)),
        metadata,
    })
}

/// `uais`, `departements` and `academies`: the schools the ENT's exports may describe.
fn declared_schools(cx: &mut Ctx<'_>, prefix: &str, e: &RawEnt) -> Option<DeclaredSchools> {
    if e.uais.is_none() && e.departements.is_none() && e.academies.is_none() {
        return None;
    }
    let mut declared = DeclaredSchools::default();
    for u in e.uais.iter().flatten() {
        match u.parse::<Uai>() {
            Ok(u) => {
                declared.uais.insert(u);
            }
            Err(err) => cx.problem(format!("{prefix}.uais"), format!("'{u}': {err}")),
        }
    }
    for d in e.departements.iter().flatten() {
        if is_departement(d) {
            declared.departements.insert(d.clone());
        } else {
            cx.problem(
                format!("{prefix}.departements"),
                format!("'{d}' is not a département as UAIs begin with it (three digits: 035, 620, 974)"),
            );
        }
    }
    for a in e.academies.iter().flatten() {
        match academy_departements(a) {
            Some(deps) => declared
                .departements
                .extend(deps.iter().map(|d| d.to_string())),
            None => cx.problem(
                format!("{prefix}.academies"),
                format!(
                    "'{a}' is not an académie (expected one of: {})",
                    ACADEMIES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    if declared == DeclaredSchools::default() {
        cx.problem(
            format!("{prefix}.uais"),
            "uais, departements and academies declare no school: list at least one, or leave all three out",
        );
    }
    Some(declared)
}

async fn saml_idp(
    cx: &mut Ctx<'_>,
    id: &str,
    prefix: &str,
    saml: &RawEntSaml,
    md: &MetadataSettings,
) -> Option<(EntIdp, PartnerMetadata)> {
    let algs = algorithms(
        cx,
        &format!("{prefix}.saml.signature_algorithms"),
        saml.signature_algorithms.as_ref(),
    );
    let keys = SourceKeys {
        prefix: &format!("{prefix}.saml"),
        location_key: "idp_metadata",
        location: saml.idp_metadata.as_ref(),
        mdq: saml.metadata_mdq.as_ref(),
        entity_id: saml.entity_id.as_ref(),
        certificate_file: saml.metadata_signing_certificate_file.as_ref(),
        signature_required: saml.metadata_signature_required,
    };
    let read = |xml: &str, trust: &Trust, expected: Option<&str>| {
        metadata::read_idp(xml, trust, expected, None)
    };
    let m = super::metadata::source(cx, &format!("ent:{id}"), &keys, md, |x, t, e, now| {
        metadata::read_idp(x, t, e, Some(now)).map(|_| ())
    })
    .await?;
    match read(
        &m.initial_xml,
        &m.source.trust,
        m.source.entity_id.as_deref(),
    ) {
        Ok((peer, _)) => Some((
            EntIdp {
                peer,
                algorithms: algs,
            },
            m,
        )),
        Err(err) => {
            cx.problem(format!("{prefix}.saml.idp_metadata"), err);
            None
        }
    }
}

fn oidc_op(cx: &mut Ctx<'_>, prefix: &str, o: &RawEntOidc) -> Option<EntOidc> {
    let p = format!("{prefix}.oidc");
    let allow_private = o.allow_private_network.unwrap_or(false);
    let issuer = cx
        .required(&format!("{p}.issuer"), o.issuer.clone())
        .and_then(|i| match Url::parse(&i) {
            Ok(u) if !allowed_url(&u, allow_private) => {
                cx.problem(
                    format!("{p}.issuer"),
                    "must be an https URL on a public address (loopback, private addresses and plain http there need allow_private_network = true)",
                );
                None
            }
            Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                cx.problem(format!("{p}.issuer"), "an issuer has no query or fragment");
                None
            }
            Ok(_) => Some(i),
            Err(e) => {
                cx.problem(format!("{p}.issuer"), format!("not a URL: {e}"));
                None
            }
        });
    let client_id = cx
        .required(&format!("{p}.client_id"), o.client_id.clone())
        .filter(|c| {
            let ok = !c.trim().is_empty();
            if !ok {
                cx.problem(format!("{p}.client_id"), "must not be empty");
            }
            ok
        });
    let secret_key = format!("{p}.client_secret_file");
    let client_secret = cx
        .required(&secret_key, o.client_secret_file.clone())
        .and_then(|f| cx.read(&secret_key, &f))
        .and_then(|b| {
            let s = String::from_utf8_lossy(&b).trim().to_string();
            if s.is_empty() {
                cx.problem(secret_key.clone(), "the file is empty");
                None
            } else {
                Some(Secret::new(s))
            }
        });
    let scopes = o.scopes.clone().unwrap_or_else(|| vec!["openid".into()]);
    for s in &scopes {
        if s.is_empty() || s.contains(char::is_whitespace) {
            cx.problem(
                format!("{p}.scopes"),
                format!("'{s}' is not a scope (one word per entry)"),
            );
        }
    }
    let algs = id_token_algs(cx, &format!("{p}.id_token_signing_algs"), o);
    let claim = |cx: &mut Ctx<'_>, key: &str, v: &Option<String>, default: &str| {
        let v = v.clone().unwrap_or_else(|| default.to_string());
        if v.trim().is_empty() {
            cx.problem(format!("{p}.{key}"), "must not be empty");
        }
        v
    };
    let ent_claim = claim(cx, "ent_claim", &o.ent_claim, "idEnt");
    let person_claim = claim(cx, "person_claim", &o.person_claim, "GARPersonIdentifiant");
    let discovery_ttl = Duration::from_secs(o.discovery_ttl_seconds.unwrap_or(3600));
    if discovery_ttl.is_zero() {
        cx.problem(format!("{p}.discovery_ttl_seconds"), "must be positive");
    }
    let clock_skew = Duration::from_secs(o.clock_skew_seconds.unwrap_or(60));
    if clock_skew > Duration::from_secs(600) {
        cx.problem(
            format!("{p}.clock_skew_seconds"),
            "more than 600 seconds of skew would accept stale ID tokens",
        );
    }
    Some(EntOidc {
        issuer: issuer?,
        client_id: client_id?,
        client_secret: client_secret?,
        scopes,
        id_token_signing_algs: algs?,
        ent_claim,
        person_claim,
        discovery_ttl,
        clock_skew,
        allow_private_network: allow_private,
    })
}

fn id_token_algs(cx: &mut Ctx<'_>, key: &str, o: &RawEntOidc) -> Option<Vec<IdTokenAlg>> {
    let Some(names) = &o.id_token_signing_algs else {
        return Some(vec![IdTokenAlg::Rs256]);
    };
    let mut algs = Vec::new();
    let mut ok = true;
    for n in names {
        match IdTokenAlg::from_name(n) {
            Some(a) => algs.push(a),
            None => {
                ok = false;
                let why = if n.eq_ignore_ascii_case("none") {
                    "unsigned ID tokens are never accepted".to_string()
                } else if n.to_ascii_uppercase().starts_with("HS") {
                    "HMAC algorithms are refused: the client secret is not a signing key".into()
                } else {
                    format!("unknown algorithm (expected {})", IdTokenAlg::NAMES)
                };
                cx.problem(key, format!("'{n}': {why}"));
            }
        }
    }
    if names.is_empty() {
        ok = false;
        cx.problem(key, "must list at least one algorithm");
    }
    ok.then_some(algs)
}
