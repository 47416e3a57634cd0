//! Turns the raw configuration into a [`Config`], collecting every problem on the way.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use url::Url;

use super::ctx::{algorithms, api_token, cert_fingerprint, Ctx};
use super::raw::{RawConfig, RawProvider, RawResource};
use super::{Config, ConfigErrors, Problem, ProviderConfig, SamlConfig};
use crate::domain::{
    AttributeName, IdoKey, IdoScope, Profile, Protocol, ReleasePolicy, Resource, ResourceId,
};
use crate::partners::Live;
use crate::saml::idp::ProviderSp;
use crate::saml::keys::{certificate_from_pem, SigningKey};
use crate::saml::metadata;

pub(super) async fn validate(
    raw: RawConfig,
    base: &Path,
    problems: Vec<Problem>,
) -> Result<Config, ConfigErrors> {
    let mut cx = Ctx { base, problems };

    let public_base_url = match raw.server.public_base_url.as_deref().map(Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Some(u),
        Some(Ok(_)) => {
            cx.problem(
                "server.public_base_url",
                "must be an http(s) URL without query",
            );
            None
        }
        Some(Err(e)) => {
            cx.problem("server.public_base_url", format!("not a URL: {e}"));
            None
        }
        None => Url::parse("http://127.0.0.1:8080").ok(),
    };
    let listen = match raw
        .server
        .listen
        .as_deref()
        .unwrap_or("127.0.0.1:8080")
        .parse::<SocketAddr>()
    {
        Ok(a) => Some(a),
        Err(e) => {
            cx.problem(
                "server.listen",
                format!("not a socket address (e.g. 127.0.0.1:8080): {e}"),
            );
            None
        }
    };
    let node_name = raw
        .server
        .node_name
        .clone()
        .unwrap_or_else(|| std::env::var("HOSTNAME").unwrap_or_else(|_| "node-1".into()));
    let session_ttl = Duration::from_secs(raw.server.session_ttl_seconds.unwrap_or(6 * 3600));
    if session_ttl.is_zero() {
        cx.problem("server.session_ttl_seconds", "must be positive");
    }

    let store = super::store::store(&mut cx, &raw.store);
    let store_settings = super::store::settings(&mut cx, &raw.store);
    let tls = tls(&mut cx, &raw);
    let trusted_proxy = super::trusted_proxy::trusted_proxy(&mut cx, &raw);
    let signing_key = signing_key(&mut cx, &raw);
    let oidc = super::oidc::oidc(&mut cx, &raw.oidc, signing_key.as_ref());
    let audit = audit(&mut cx, &raw);
    let ido_key = ido_key(&mut cx, &raw);
    let ido_scope = match raw
        .keys
        .ido_scope
        .as_deref()
        .unwrap_or("technical_distributor")
    {
        "technical_distributor" => IdoScope::TechnicalDistributor,
        "provider" => IdoScope::Provider,
        "resource" => IdoScope::Resource,
        "global" => IdoScope::Global,
        _ => {
            cx.problem(
                "keys.ido_scope",
                "expected technical_distributor, provider, resource or global",
            );
            IdoScope::default()
        }
    };
    let saml = SamlConfig {
        clock_skew: Duration::from_secs(raw.saml.clock_skew_seconds.unwrap_or(120)),
        request_ttl: Duration::from_secs(raw.saml.request_ttl_seconds.unwrap_or(600)),
        max_message_bytes: raw.saml.max_message_bytes.unwrap_or(256 * 1024),
        assertion_lifetime: Duration::from_secs(raw.saml.assertion_lifetime_seconds.unwrap_or(300)),
        metadata_validity: Duration::from_secs(
            86_400 * raw.saml.metadata_validity_days.unwrap_or(7),
        ),
        next_signing_certificate: Live::new(next_certificate(&mut cx, &raw)),
    };
    if !(1..=365).contains(&raw.saml.metadata_validity_days.unwrap_or(7)) {
        cx.problem(
            "saml.metadata_validity_days",
            "between 1 and 365 (partners refresh the metadata before it expires)",
        );
    }
    if saml.clock_skew > Duration::from_secs(600) {
        cx.problem(
            "saml.clock_skew_seconds",
            "more than 600 seconds of skew would accept stale assertions",
        );
    }
    if saml.max_message_bytes < 4096 {
        cx.problem("saml.max_message_bytes", "must be at least 4096");
    }

    let metadata = super::metadata::settings(&mut cx, &raw.metadata);
    let mut ents = BTreeMap::new();
    for (id, e) in &raw.ents {
        if let Some(ent) = super::ents::ent(&mut cx, id, e, &metadata).await {
            ents.insert(ent.id.clone(), ent);
        }
    }
    let mut providers = BTreeMap::new();
    let mut seen_resources = BTreeSet::new();
    let mut seen_entities = BTreeSet::new();
    let mut seen_clients = BTreeSet::new();
    for (key, p) in &raw.providers {
        if let Some(p) = provider(&mut cx, key, p, &mut seen_clients, &metadata).await {
            for r in &p.resources {
                if !seen_resources.insert(r.id.clone()) {
                    cx.problem(
                        format!("providers.{key}.resources"),
                        format!("resource {} is declared twice", r.id),
                    );
                }
            }
            if let Some(s) = p.sp() {
                if !seen_entities.insert(s.entity_id.clone()) {
                    cx.problem(
                        format!("providers.{key}.saml.entity_id"),
                        "another provider registered the same entityID",
                    );
                }
            }
            providers.insert(key.clone(), p);
        }
    }
    super::cas::no_overlap(&mut cx, &providers);
    let audience = super::audience::audience(&mut cx, &raw);
    let mut audience_readers = BTreeMap::new();
    for (key, a) in &raw.audience_readers {
        if let Some(a) = auditor(&mut cx, "audience_readers", key, a, &raw) {
            audience_readers.insert(key.clone(), a);
        }
    }
    let mut auditors = BTreeMap::new();
    for (key, a) in &raw.auditors {
        if let Some(a) = auditor(&mut cx, "auditors", key, a, &raw) {
            auditors.insert(key.clone(), a);
        }
    }
    let seed_files = raw
        .seed
        .files
        .iter()
        .map(|f| cx.path(f))
        .collect::<Vec<_>>();
    for (i, f) in seed_files.iter().enumerate() {
        if !f.is_file() {
            cx.problem(
                format!("seed.files.{i}"),
                format!("{} is not a readable file", f.display()),
            );
        }
    }
    let feed = super::feed::feed(&mut cx, &raw.feed);
    let listing = super::listing::listing(&mut cx, &raw.listing);
    let subscriptions = super::subscriptions::subscriptions(&mut cx, &raw.subscriptions);
    let cas = super::cas::settings(&mut cx, &raw.cas);
    let limits = super::limits::limits(&mut cx, &raw.limits);
    let metrics = super::metrics::metrics(&mut cx, raw.metrics.as_ref());
    let admin = super::metrics::admin(&mut cx, raw.admin.as_ref());

    match (
        cx.problems.is_empty(),
        public_base_url,
        listen,
        store,
        signing_key,
        ido_key,
        oidc,
    ) {
        (
            true,
            Some(public_base_url),
            Some(listen),
            Some(store),
            Some(signing_key),
            Some(ido_key),
            Some(oidc),
        ) => Ok(Config {
            public_base_url,
            listen,
            node_name,
            session_ttl,
            max_body_bytes: raw.server.max_body_bytes.unwrap_or(1024 * 1024),
            tls,
            trusted_proxy,
            store,
            store_settings,
            signing_key: Live::new(signing_key),
            ido_key,
            ido_scope,
            saml,
            oidc,
            // `-` is standard output; a file is relative to the configuration's directory.
            trace_path: match raw.trace.path.as_deref() {
                None | Some("-") => "-".into(),
                Some(p) => cx.path(p).display().to_string(),
            },
            audit,
            auditors,
            audience,
            audience_readers,
            seed_files,
            feed,
            listing,
            subscriptions,
            cas,
            limits,
            metrics,
            admin,
            source: None,
            metadata,
            ents,
            providers,
        }),
        _ => Err(ConfigErrors(cx.problems)),
    }
}

fn audit(cx: &mut Ctx<'_>, raw: &RawConfig) -> Option<crate::audit::AuditSettings> {
    let a = raw.audit.as_ref()?;
    let dir = cx.required("audit.dir", a.dir.clone()).map(|d| cx.path(&d));
    let max_segment_bytes = a.max_segment_bytes.unwrap_or(64 * 1024 * 1024);
    if max_segment_bytes < 4096 {
        cx.problem("audit.max_segment_bytes", "must be at least 4096");
    }
    let days = a.retention_days.unwrap_or(400);
    if days == 0 {
        cx.problem("audit.retention_days", "must be at least 1");
    }
    let interval = a.checkpoint_interval_seconds.unwrap_or(60);
    if interval == 0 || interval > 86_400 {
        cx.problem(
            "audit.checkpoint_interval_seconds",
            "must be between 1 and 86400",
        );
    }
    Some(crate::audit::AuditSettings {
        dir: dir?,
        max_segment_bytes,
        retention: chrono::Duration::days(i64::from(days)),
        checkpoint_interval: Duration::from_secs(interval),
    })
}

fn auditor(
    cx: &mut Ctx<'_>,
    section: &str,
    key: &str,
    a: &super::raw::RawAuditor,
    raw: &RawConfig,
) -> Option<super::AuditorConfig> {
    use crate::domain::Jurisdiction;
    let prefix = format!("{section}.{key}");
    let name = cx.required(&format!("{prefix}.name"), a.name.clone());
    let file = cx.required(
        &format!("{prefix}.api_token_file"),
        a.api_token_file.clone(),
    );
    let token = api_token(cx, &prefix, &file).flatten();
    let scope_text = cx.required(&format!("{prefix}.scope"), a.scope.clone())?;
    let bad = |cx: &mut Ctx<'_>, m: &str| cx.problem(format!("{prefix}.scope"), m.to_string());
    let scope = match scope_text.split_once(':') {
        None if scope_text == "ministry" => Some(Jurisdiction::All),
        Some(("provider", p)) if raw.providers.contains_key(p) => {
            Some(Jurisdiction::Provider(p.into()))
        }
        Some(("ent", e)) if raw.ents.contains_key(e) => e.parse().ok().map(Jurisdiction::Ent),
        Some(("school", u)) => match u.parse() {
            Ok(u) => Some(Jurisdiction::School(u)),
            Err(_) => {
                bad(cx, "school:<UAI> needs a valid UAI");
                None
            }
        },
        _ => {
            bad(cx, "expected ministry, provider:<configured provider>, ent:<configured ENT> or school:<UAI>");
            None
        }
    };
    Some(super::AuditorConfig {
        key: key.into(),
        name: name?,
        token: token?,
        scope: scope?,
    })
}

fn tls(cx: &mut Ctx<'_>, raw: &RawConfig) -> Option<super::TlsConfig> {
    let t = raw.server.tls.as_ref()?;
    let listen = cx
        .required("server.tls.listen", t.listen.clone())
        .and_then(|l| match l.parse() {
            Ok(a) => Some(a),
            Err(e) => {
                cx.problem("server.tls.listen", format!("not a socket address: {e}"));
                None
            }
        });
    let read = |cx: &mut Ctx<'_>, key: &str, v: &Option<String>| {
        cx.required(key, v.clone()).and_then(|f| cx.read(key, &f))
    };
    let cert = read(cx, "server.tls.certificate_file", &t.certificate_file);
    let key = read(cx, "server.tls.key_file", &t.key_file);
    let ca = read(cx, "server.tls.client_ca_file", &t.client_ca_file);
    let server = match crate::tls::server_config(&cert?, &key?, &ca?) {
        Ok(s) => s,
        Err(e) => {
            cx.problem("server.tls", e);
            return None;
        }
    };
    Some(super::TlsConfig {
        listen: listen?,
        server: Live::from_arc(server),
    })
}

fn signing_key(cx: &mut Ctx<'_>, raw: &RawConfig) -> Option<SigningKey> {
    let k = cx.required("keys.signing_key_file", raw.keys.signing_key_file.clone());
    let c = cx.required(
        "keys.signing_certificate_file",
        raw.keys.signing_certificate_file.clone(),
    );
    let key = cx.read("keys.signing_key_file", &k?);
    let cert = cx.read("keys.signing_certificate_file", &c?);
    match SigningKey::from_pem(&key?, &cert?) {
        Ok(k) => Some(k),
        Err(e) => {
            cx.problem("keys.signing_key_file", e);
            None
        }
    }
}

/// The next signing key's certificate, published beside the current one before the switch.
fn next_certificate(cx: &mut Ctx<'_>, raw: &RawConfig) -> Option<String> {
    let key = "keys.next_signing_certificate_file";
    let pem = cx.read(key, raw.keys.next_signing_certificate_file.as_ref()?)?;
    match crate::saml::keys::certificate_base64_from_pem(&pem) {
        Ok(b64) => Some(b64),
        Err(e) => {
            cx.problem(key, e);
            None
        }
    }
}

fn ido_key(cx: &mut Ctx<'_>, raw: &RawConfig) -> Option<IdoKey> {
    let secret = match (&raw.keys.ido_secret, &raw.keys.ido_secret_file) {
        (Some(_), Some(_)) => {
            cx.problem(
                "keys.ido_secret",
                "set ido_secret or ido_secret_file, not both",
            );
            return None;
        }
        (Some(s), None) => s.as_bytes().to_vec(),
        (None, Some(f)) => {
            let mut b = cx.read("keys.ido_secret_file", f)?;
            while b.last().is_some_and(|c| c.is_ascii_whitespace()) {
                b.pop();
            }
            b
        }
        (None, None) => {
            cx.problem(
                "keys.ido_secret_file",
                "is required (at least 32 random bytes; e.g. `openssl rand -hex 32 > ido.secret`)",
            );
            return None;
        }
    };
    match IdoKey::new(&secret) {
        Ok(k) => Some(k),
        Err(e) => {
            cx.problem("keys.ido_secret_file", e);
            None
        }
    }
}

fn is_siren_isni(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 26
        && b[9] == b'_'
        && b[..9].iter().all(u8::is_ascii_digit)
        && b[10..].iter().all(u8::is_ascii_digit)
}

async fn provider(
    cx: &mut Ctx<'_>,
    key: &str,
    p: &RawProvider,
    seen_clients: &mut BTreeSet<String>,
    md: &crate::partners::MetadataSettings,
) -> Option<ProviderConfig> {
    let prefix = format!("providers.{key}");
    let name = cx.required(&format!("{prefix}.name"), p.name.clone());
    let dist = cx.required(
        &format!("{prefix}.technical_distributor"),
        p.technical_distributor.clone(),
    );
    if let Some(d) = &dist {
        if !is_siren_isni(d) {
            cx.problem(
                format!("{prefix}.technical_distributor"),
                "expected SIREN_ISNI: 9 digits, '_', 16 digits",
            );
        }
    }
    let protocol = match p.protocol.as_deref().unwrap_or("saml") {
        "saml" => Protocol::Saml,
        "oidc" => Protocol::Oidc,
        "cas" => Protocol::Cas,
        other => {
            cx.problem(
                format!("{prefix}.protocol"),
                format!("'{other}' is not a protocol (expected saml, oidc or cas)"),
            );
            Protocol::Saml
        }
    };
    let mut partner_metadata = None;
    let saml = match (&p.saml, protocol) {
        (Some(s), Protocol::Saml) => {
            for (key, url) in [
                ("slo_soap_url", &s.slo_soap_url),
                ("slo_redirect_url", &s.slo_redirect_url),
            ] {
                if url
                    .as_ref()
                    .is_some_and(|u| !crate::cas::service::acceptable(u))
                {
                    cx.problem(format!("{prefix}.saml.{key}"), "must be an http(s) URL");
                }
            }
            let algs = algorithms(
                cx,
                &format!("{prefix}.saml.signature_algorithms"),
                s.signature_algorithms.as_ref(),
            );
            if s.metadata.is_some() || s.metadata_mdq.is_some() {
                if s.acs_urls.is_some() || s.certificate_file.is_some() {
                    cx.problem(
                        format!("{prefix}.saml.metadata"),
                        "set metadata (or metadata_mdq), or entity_id + acs_urls + certificate_file, not both (with metadata, entity_id is the entityID it must carry)",
                    );
                }
                let keys = super::metadata::SourceKeys {
                    prefix: &format!("{prefix}.saml"),
                    location_key: "metadata",
                    location: s.metadata.as_ref(),
                    mdq: s.metadata_mdq.as_ref(),
                    entity_id: s.entity_id.as_ref(),
                    certificate_file: s.metadata_signing_certificate_file.as_ref(),
                    signature_required: s.metadata_signature_required,
                };
                let read =
                    |xml: &str, trust: &crate::saml::metadata::Trust, expected: Option<&str>| {
                        metadata::read_sp(xml, trust, expected, None)
                    };
                let m = super::metadata::source(
                    cx,
                    &format!("provider:{key}"),
                    &keys,
                    md,
                    |x, t, e, now| metadata::read_sp(x, t, e, Some(now)).map(|_| ()),
                )
                .await?;
                match read(
                    &m.initial_xml,
                    &m.source.trust,
                    m.source.entity_id.as_deref(),
                ) {
                    Ok((sp, _)) => {
                        partner_metadata = Some(super::metadata::PartnerMetadata {
                            slo_soap_url: s.slo_soap_url.clone(),
                            slo_redirect_url: s.slo_redirect_url.clone(),
                            ..m
                        });
                        Some(ProviderSp {
                            entity_id: sp.entity_id,
                            acs_urls: sp.acs_urls,
                            signing_certs: sp.signing_certs,
                            algorithms: algs,
                            slo: crate::saml::metadata::SloEndpoints {
                                soap: s.slo_soap_url.clone().or(sp.slo.soap.clone()),
                                redirect: s.slo_redirect_url.clone().or(sp.slo.redirect.clone()),
                                ..sp.slo
                            },
                        })
                    }
                    Err(e) => {
                        cx.problem(format!("{prefix}.saml.metadata"), e);
                        None
                    }
                }
            } else {
                let entity_id =
                    cx.required(&format!("{prefix}.saml.entity_id"), s.entity_id.clone());
                let acs = cx
                    .required(&format!("{prefix}.saml.acs_urls"), s.acs_urls.clone())
                    .unwrap_or_default();
                for (i, u) in acs.iter().enumerate() {
                    if Url::parse(u).is_err() {
                        cx.problem(format!("{prefix}.saml.acs_urls.{i}"), "not a URL");
                    }
                }
                if acs.is_empty() {
                    cx.problem(
                        format!("{prefix}.saml.acs_urls"),
                        "must list at least one ACS URL",
                    );
                }
                let cert_file = cx.required(
                    &format!("{prefix}.saml.certificate_file"),
                    s.certificate_file.clone(),
                );
                let cert = cert_file
                    .and_then(|f| cx.read(&format!("{prefix}.saml.certificate_file"), &f))
                    .and_then(|pem| match certificate_from_pem(&pem) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            cx.problem(format!("{prefix}.saml.certificate_file"), e);
                            None
                        }
                    });
                Some(ProviderSp {
                    entity_id: entity_id?,
                    acs_urls: acs,
                    signing_certs: vec![cert?],
                    algorithms: algs,
                    slo: crate::saml::metadata::SloEndpoints {
                        soap: s.slo_soap_url.clone(),
                        redirect: s.slo_redirect_url.clone(),
                        ..Default::default()
                    },
                })
            }
        }
        (None, Protocol::Saml) => {
            cx.problem(
                format!("{prefix}.saml"),
                "a SAML provider needs a [saml] section",
            );
            None
        }
        (_, Protocol::Oidc | Protocol::Cas) => None,
    };
    let oidc_clients = match protocol {
        Protocol::Oidc => super::oidc::clients(cx, &prefix, p.oidc.as_ref(), seen_clients),
        Protocol::Saml | Protocol::Cas => {
            if p.oidc.is_some() {
                cx.problem(
                    format!("{prefix}.oidc"),
                    "an [oidc] section needs protocol = \"oidc\"",
                );
            }
            Vec::new()
        }
    };
    let mut resources = Vec::new();
    for (i, r) in p.resources.iter().enumerate() {
        if let Some(res) = resource(
            cx,
            &format!("{prefix}.resources.{i}"),
            key,
            dist.as_deref().unwrap_or_default(),
            protocol,
            r,
        ) {
            resources.push(res);
        }
    }
    let cas_services = match protocol {
        Protocol::Cas => super::cas::services(cx, &prefix, p.cas.as_ref(), &resources),
        Protocol::Saml | Protocol::Oidc => {
            if p.cas.is_some() {
                cx.problem(
                    format!("{prefix}.cas"),
                    "a [cas] section needs protocol = \"cas\"",
                );
            }
            Vec::new()
        }
    };
    if resources.is_empty() && p.resources.is_empty() {
        cx.problem(
            format!("{prefix}.resources"),
            "a provider must declare at least one resource",
        );
    }
    let commercial_distributors = match &p.commercial_distributors {
        Some(list) => {
            for d in list.iter().filter(|d| !is_siren_isni(d)) {
                cx.problem(
                    format!("{prefix}.commercial_distributors"),
                    format!("'{d}' is not SIREN_ISNI (9 digits, '_', 16 digits)"),
                );
            }
            list.clone()
        }
        None => dist.iter().cloned().collect(),
    };
    for res in resources
        .iter_mut()
        .filter(|r| r.commercial_distributors.is_empty())
    {
        res.commercial_distributors = commercial_distributors.clone();
    }
    let api_token = api_token(cx, &prefix, &p.api_token_file)?;
    Some(ProviderConfig {
        key: key.to_string(),
        name: name?,
        technical_distributor: dist?,
        commercial_distributors,
        api_token,
        client_cert_fingerprint: cert_fingerprint(
            cx,
            &format!("{prefix}.client_certificate_file"),
            &p.client_certificate_file,
        ),
        saml: saml.map(crate::partners::Live::new),
        metadata: partner_metadata,
        oidc_clients,
        cas_services,
        resources,
    })
}

fn resource(
    cx: &mut Ctx<'_>,
    prefix: &str,
    provider: &str,
    dist: &str,
    protocol: Protocol,
    r: &RawResource,
) -> Option<Resource> {
    let id = cx
        .required(&format!("{prefix}.id"), r.id.clone())
        .and_then(|s| match s.parse::<ResourceId>() {
            Ok(id) => Some(id),
            Err(e) => {
                cx.problem(format!("{prefix}.id"), e.to_string());
                None
            }
        });
    let name = cx.required(&format!("{prefix}.name"), r.name.clone());
    let access_url = cx.required(&format!("{prefix}.access_url"), r.access_url.clone());
    if let Some(u) = &access_url {
        if !matches!(
            Url::parse(u).map(|u| u.scheme().to_string()).as_deref(),
            Ok("http" | "https")
        ) {
            cx.problem(format!("{prefix}.access_url"), "must be an http(s) URL");
        }
    }
    let commercial_distributors = r.distributors.clone().unwrap_or_default();
    for d in commercial_distributors.iter().filter(|d| !is_siren_isni(d)) {
        cx.problem(
            format!("{prefix}.distributors"),
            format!("'{d}' is not SIREN_ISNI (9 digits, '_', 16 digits)"),
        );
    }
    let mut release = ReleasePolicy::default();
    for (profile, names) in &r.attributes {
        let key = format!("{prefix}.attributes.{profile}");
        let Ok(profile) = profile.parse::<Profile>() else {
            cx.problem(
                key,
                "unknown profile (expected e.g. National_elv, National_ens)",
            );
            continue;
        };
        let mut set = BTreeSet::new();
        for n in names {
            match n.parse::<AttributeName>() {
                Ok(a) => {
                    set.insert(a);
                }
                Err(e) => cx.problem(key.clone(), e.to_string()),
            }
        }
        release.by_profile.insert(profile, set);
    }
    Some(Resource {
        id: id?,
        name: name?,
        provider: provider.to_string(),
        editor_id: r.editor_id.clone().unwrap_or_else(|| dist.to_string()),
        editor_name: r.editor_name.clone().unwrap_or_default(),
        technical_distributor: dist.to_string(),
        commercial_distributors,
        access_url: access_url?,
        protocol,
        category: r.category.clone(),
        release,
        sites: sites(cx, prefix, r.sites.as_deref()),
        display: r.display.clone().unwrap_or_default(),
    })
}

/// A resource's family of sites (`LRA`): http(s) URLs.
fn sites(cx: &mut Ctx<'_>, prefix: &str, sites: Option<&[String]>) -> Vec<String> {
    let sites = sites.unwrap_or_default();
    for (i, u) in sites.iter().enumerate() {
        if !crate::cas::service::acceptable(u) {
            cx.problem(format!("{prefix}.sites.{i}"), "must be an http(s) URL");
        }
    }
    sites.to_vec()
}
