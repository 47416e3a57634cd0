//! Validation of partners' metadata sources: `[metadata]` (the last good copies' directory,
//! refresh bounds) and, for each ENT IdP and provider SP, where its metadata comes from (a
//! file, a URL, an MDQ server), the certificate its signature is checked against and whether a
//! signature is required; the document the gateway starts on (the source's, else the last good
//! copy on disk), read under that trust.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ctx::Ctx;
use super::raw::RawMetadata;
use crate::partners::{self, MetadataSettings, MetadataSource, Source};
use crate::saml::keys::certificate_from_pem;
use crate::saml::metadata::Trust;

/// A partner's metadata as configured, with the document it starts on.
#[derive(Debug, Clone)]
pub struct PartnerMetadata {
    pub source: MetadataSource,
    pub initial_xml: String,
    /// The source was down (or refused): this is the last good copy on disk.
    pub from_cache: bool,
    /// A provider's `slo_soap_url`, which wins over its metadata's.
    pub slo_soap_url: Option<String>,
    /// A provider's `slo_redirect_url`, which wins over its metadata's.
    pub slo_redirect_url: Option<String>,
}

pub(super) fn settings(cx: &mut Ctx<'_>, raw: &RawMetadata) -> MetadataSettings {
    let d = MetadataSettings::default();
    let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
    let s = MetadataSettings {
        cache_dir: raw.cache_dir.as_deref().map(|p| cx.path(p)),
        min_refresh: secs(raw.min_refresh_seconds, d.min_refresh),
        max_refresh: secs(raw.max_refresh_seconds, d.max_refresh),
        poll: secs(raw.poll_seconds, d.poll),
        max_bytes: raw.max_bytes.unwrap_or(d.max_bytes),
        fetch_timeout: secs(raw.fetch_timeout_seconds, d.fetch_timeout),
    };
    if s.min_refresh.is_zero() {
        cx.problem("metadata.min_refresh_seconds", "must be positive");
    }
    if s.max_refresh < s.min_refresh {
        cx.problem(
            "metadata.max_refresh_seconds",
            "must not be less than metadata.min_refresh_seconds",
        );
    }
    if s.poll.is_zero() {
        cx.problem("metadata.poll_seconds", "must be positive");
    }
    if s.fetch_timeout.is_zero() {
        cx.problem("metadata.fetch_timeout_seconds", "must be positive");
    }
    if s.max_bytes < 4096 {
        cx.problem("metadata.max_bytes", "must be at least 4096");
    }
    s
}

/// The keys of one partner's source, as written under `prefix`.
pub(super) struct SourceKeys<'a> {
    pub prefix: &'a str,
    /// `idp_metadata` or `metadata`: a file path or an URL.
    pub location_key: &'a str,
    pub location: Option<&'a String>,
    pub mdq: Option<&'a String>,
    pub entity_id: Option<&'a String>,
    pub certificate_file: Option<&'a String>,
    pub signature_required: Option<bool>,
}

/// The source, its trust and the document the partner starts on, `check`ed (the peer read under
/// the trust); `None` with the problems recorded.
pub(super) async fn source(
    cx: &mut Ctx<'_>,
    partner_key: &str,
    k: &SourceKeys<'_>,
    settings: &MetadataSettings,
    check: impl Fn(&str, &Trust, Option<&str>, DateTime<Utc>) -> Result<(), String>,
) -> Option<PartnerMetadata> {
    let p = k.prefix;
    let location_key = format!("{p}.{}", k.location_key);
    let source = match (k.location, k.mdq) {
        (Some(_), Some(_)) => {
            cx.problem(
                format!("{p}.metadata_mdq"),
                format!("set {} or metadata_mdq, not both", k.location_key),
            );
            return None;
        }
        (Some(l), None) if l.starts_with("https://") || l.starts_with("http://") => {
            if let Err(e) = partners::source::check_url(l) {
                cx.problem(location_key, e);
                return None;
            }
            Source::Url(l.clone())
        }
        (Some(l), None) => Source::File(cx.path(l)),
        (None, Some(base)) => {
            if let Err(e) = partners::source::check_url(base) {
                cx.problem(format!("{p}.metadata_mdq"), e);
                return None;
            }
            if k.entity_id.is_none() {
                cx.problem(
                    format!("{p}.entity_id"),
                    "is required with metadata_mdq (the MDQ request names the entityID)",
                );
                return None;
            }
            Source::Mdq { base: base.clone() }
        }
        (None, None) => {
            cx.problem(location_key, "is required");
            return None;
        }
    };
    let cert_key = format!("{p}.metadata_signing_certificate_file");
    let certificate = match k.certificate_file {
        Some(f) => {
            let pem = cx.read(&cert_key, f)?;
            match certificate_from_pem(&pem) {
                Ok(c) => Some(c),
                Err(e) => {
                    cx.problem(cert_key, e);
                    return None;
                }
            }
        }
        None => None,
    };
    let remote = !matches!(source, Source::File(_));
    let require_signature = k.signature_required.unwrap_or(remote);
    if require_signature && certificate.is_none() {
        cx.problem(
            cert_key,
            format!(
                "is required: metadata from {} must be signed (set metadata_signature_required = false only for a trial)",
                if remote { "a URL or an MDQ server" } else { "this file" }
            ),
        );
        return None;
    }
    let source = MetadataSource {
        source,
        entity_id: k.entity_id.cloned(),
        trust: Trust {
            certificate,
            require_signature,
            max_bytes: settings.max_bytes,
        },
    };
    let (trust, expected) = (&source.trust, source.entity_id.as_deref());
    // Which document a node starts on is chosen at the wall clock's time (the configuration is
    // read before any clock is injected): an expired source document gives way to the last good
    // copy. Once running, the partners' registry judges `validUntil` by the injected clock.
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    match partners::initial(partner_key, &source, settings, |xml| {
        check(xml, trust, expected, now)
    })
    .await
    {
        Ok((initial_xml, from_cache)) => Some(PartnerMetadata {
            source,
            initial_xml,
            from_cache,
            slo_soap_url: None,
            slo_redirect_url: None,
        }),
        Err(e) => {
            cx.problem(
                if k.location.is_some() {
                    location_key
                } else {
                    format!("{p}.metadata_mdq")
                },
                e,
            );
            None
        }
    }
}
