//! SAML metadata: reading peers' (ENT identity providers, provider service providers) and
//! writing the gateway's own (its SP side for ENTs, its IdP side for providers), signed, with
//! its next signing key during a rollover, `validUntil` and `cacheDuration`.

use chrono::{DateTime, Utc};
use samael::crypto::{decode_x509_cert, CertificateDer};
use samael::metadata::{EntityDescriptor, KeyDescriptor};

use super::guard;
use super::keys::SigningKey;
use super::xml::{escape, instant, new_id};
use super::SamlError;

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const BINDING_SOAP: &str = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP";

/// What the gateway needs from an ENT's IdP metadata.
#[derive(Debug, Clone)]
pub struct IdpPeer {
    pub entity_id: String,
    /// SingleSignOnService with the HTTP-Redirect binding.
    pub sso_redirect_url: String,
    /// Certificates usable for signing (KeyDescriptor use="signing" or without `use`).
    pub signing_certs: Vec<CertificateDer>,
    /// Where the ENT takes LogoutResponses (SingleLogoutService `ResponseLocation`, else
    /// `Location`), per binding, if it publishes them.
    pub slo: SloEndpoints,
}

/// A peer's SingleLogoutService response endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SloEndpoints {
    pub redirect: Option<String>,
    pub post: Option<String>,
    /// Where the peer takes LogoutRequests over SOAP (the back channel).
    pub soap: Option<String>,
}

impl SloEndpoints {
    fn of(services: &[samael::metadata::Endpoint]) -> Self {
        let find = |binding: &str| {
            services
                .iter()
                .find(|e| e.binding == binding)
                .map(|e| e.response_location.clone().unwrap_or(e.location.clone()))
        };
        Self {
            redirect: find(BINDING_REDIRECT),
            post: find(BINDING_POST),
            soap: services
                .iter()
                .find(|e| e.binding == BINDING_SOAP)
                .map(|e| e.location.clone()),
        }
    }
}

/// What the gateway needs from a provider's SP metadata.
#[derive(Debug, Clone)]
pub struct SpPeer {
    pub entity_id: String,
    /// AssertionConsumerService locations with the HTTP-POST binding.
    pub acs_urls: Vec<String>,
    pub signing_certs: Vec<CertificateDer>,
    /// Where the provider takes LogoutResponses, if it publishes them.
    pub slo: SloEndpoints,
}

/// How far a partner's metadata document is trusted: the certificate its XML signature is
/// checked against (when one is configured), whether a signature is required, its size bound.
#[derive(Debug, Clone)]
pub struct Trust {
    pub certificate: Option<CertificateDer>,
    /// A document without a valid signature is refused (needs `certificate`).
    pub require_signature: bool,
    pub max_bytes: usize,
}

/// What a refresh learns from an accepted document besides the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Freshness {
    /// `validUntil` of the entity or of its aggregate, the earlier.
    pub valid_until: Option<DateTime<Utc>>,
    /// `cacheDuration` of the entity or of its aggregate, the shorter.
    pub cache_duration: Option<std::time::Duration>,
}

/// Reads a partner's metadata document under `trust`: the XML boundary (size, no DTD, depth),
/// the signature against the configured certificate (the signed part alone is read), the
/// `validUntil` against `now` (when given), the entityID against `expected` (when given). An
/// aggregate (`EntitiesDescriptor`) is accepted when it holds the expected entity.
fn trusted(
    xml: &str,
    trust: &Trust,
    expected: Option<&str>,
    now: Option<DateTime<Utc>>,
) -> Result<(EntityDescriptor, Freshness), String> {
    use samael::metadata::{EntitiesDescriptor, EntityDescriptorType};
    guard::check_metadata(xml.as_bytes(), trust.max_bytes).map_err(|e| e.to_string())?;
    let read: std::borrow::Cow<'_, str> = match &trust.certificate {
        Some(cert) => {
            let policy = super::algorithms::AlgorithmPolicy::default();
            // Same-document references only, no Object, Manifest or RetrievalMethod, SHA-2:
            // checked before xmlsec dereferences anything.
            let summary = guard::check_signatures(xml, &policy).map_err(|e| e.to_string())?;
            if summary.signatures == 0 {
                return Err("the metadata is not signed (a signature is required)".into());
            }
            super::verified_part(xml, std::slice::from_ref(cert), &policy)
                .map_err(|e| format!("the metadata's signature is not valid: {}", e.detail))?
                .into()
        }
        None if trust.require_signature => {
            return Err(
                "a signed document is required but no signing certificate is configured".into(),
            )
        }
        None => xml.into(),
    };
    let root = guard::root_name(&read).map_err(|e| e.to_string())?;
    let mut fresh = Freshness::default();
    let mut note = |until: Option<DateTime<Utc>>, cache: Option<&str>| {
        if let Some(u) = until {
            fresh.valid_until = Some(fresh.valid_until.map_or(u, |v| v.min(u)));
        }
        if let Some(d) = cache.and_then(duration) {
            fresh.cache_duration = Some(fresh.cache_duration.map_or(d, |c| c.min(d)));
        }
    };
    let ed = match root.as_str() {
        "EntityDescriptor" => read
            .parse::<EntityDescriptor>()
            .map_err(|e| format!("not a SAML EntityDescriptor: {e}"))?,
        "EntitiesDescriptor" => {
            let all = read
                .parse::<EntitiesDescriptor>()
                .map_err(|e| format!("not a SAML EntitiesDescriptor: {e}"))?;
            note(all.valid_until, all.cache_duration.as_deref());
            let wanted = expected.ok_or(
                "an aggregate (EntitiesDescriptor) needs the partner's entity_id configured",
            )?;
            EntityDescriptorType::EntitiesDescriptor(all)
                .iter()
                .find(|e| e.entity_id.as_deref() == Some(wanted))
                .cloned()
                .ok_or_else(|| format!("the aggregate has no EntityDescriptor for {wanted}"))?
        }
        other => {
            return Err(format!(
                "the root element is {other}, not an EntityDescriptor"
            ))
        }
    };
    note(ed.valid_until, ed.cache_duration.as_deref());
    if let (Some(now), Some(until)) = (now, fresh.valid_until) {
        if until <= now {
            return Err(format!("the metadata expired (validUntil {until})"));
        }
    }
    let entity = ed
        .entity_id
        .as_deref()
        .ok_or("the metadata has no entityID")?;
    if let Some(wanted) = expected {
        if entity != wanted {
            return Err(format!(
                "the metadata is for {entity}, not for the configured entityID {wanted}"
            ));
        }
    }
    Ok((ed, fresh))
}

/// An xsd:duration as SAML metadata writes `cacheDuration` (`P1D`, `PT6H`, `PT30M`, `P1DT2H`);
/// years and months are not accepted (their length is not fixed).
pub fn duration(text: &str) -> Option<std::time::Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut secs = 0f64;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let (_, mult) = units.iter().find(|(u, _)| *u == c)?;
                secs += num.parse::<f64>().ok()? * mult;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    take(days, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(t) = time {
        take(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    Some(std::time::Duration::from_secs_f64(secs))
}

/// An ENT's IdP metadata read under `trust` (see [`Trust`]).
pub fn read_idp(
    xml: &str,
    trust: &Trust,
    expected: Option<&str>,
    now: Option<DateTime<Utc>>,
) -> Result<(IdpPeer, Freshness), String> {
    let (ed, fresh) = trusted(xml, trust, expected, now)?;
    Ok((idp_of(&ed)?, fresh))
}

/// A provider's SP metadata read under `trust` (see [`Trust`]).
pub fn read_sp(
    xml: &str,
    trust: &Trust,
    expected: Option<&str>,
    now: Option<DateTime<Utc>>,
) -> Result<(SpPeer, Freshness), String> {
    let (ed, fresh) = trusted(xml, trust, expected, now)?;
    Ok((sp_of(&ed)?, fresh))
}

fn parse(xml: &str) -> Result<EntityDescriptor, String> {
    guard::check_metadata(xml.as_bytes(), usize::MAX).map_err(|e| e.to_string())?;
    xml.parse::<EntityDescriptor>()
        .map_err(|e| format!("not a SAML EntityDescriptor: {e}"))
}

fn signing_certs(kds: &[KeyDescriptor]) -> Result<Vec<CertificateDer>, String> {
    let mut out = Vec::new();
    for kd in kds {
        if kd.key_use.as_deref().is_some_and(|u| u != "signing") {
            continue;
        }
        for cert in kd.key_info.x509_data.iter().flat_map(|d| &d.certificates) {
            let der = decode_x509_cert(cert)
                .map_err(|e| format!("a signing certificate is not valid base64: {e}"))?;
            openssl::x509::X509::from_der(der.der_data())
                .map_err(|e| format!("a signing certificate is not valid X.509: {e}"))?;
            out.push(der);
        }
    }
    Ok(out)
}

/// Reads an ENT's IdP metadata. A peer without a signing certificate is refused: samael
/// would otherwise skip signature checks entirely.
pub fn parse_idp(xml: &str) -> Result<IdpPeer, String> {
    idp_of(&parse(xml)?)
}

fn idp_of(ed: &EntityDescriptor) -> Result<IdpPeer, String> {
    let entity_id = ed.entity_id.clone().ok_or("the metadata has no entityID")?;
    let idp = ed
        .idp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or("the metadata has no IDPSSODescriptor")?;
    let sso_redirect_url = idp
        .single_sign_on_services
        .iter()
        .find(|e| e.binding == BINDING_REDIRECT)
        .map(|e| e.location.clone())
        .ok_or("the IDPSSODescriptor has no SingleSignOnService with the HTTP-Redirect binding")?;
    let signing_certs = signing_certs(&idp.key_descriptors)?;
    if signing_certs.is_empty() {
        return Err("the IDPSSODescriptor has no signing certificate".into());
    }
    Ok(IdpPeer {
        entity_id,
        sso_redirect_url,
        signing_certs,
        slo: SloEndpoints::of(&idp.single_logout_services),
    })
}

/// Reads a provider's SP metadata.
pub fn parse_sp(xml: &str) -> Result<SpPeer, String> {
    sp_of(&parse(xml)?)
}

fn sp_of(ed: &EntityDescriptor) -> Result<SpPeer, String> {
    let entity_id = ed.entity_id.clone().ok_or("the metadata has no entityID")?;
    let sp = ed
        .sp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or("the metadata has no SPSSODescriptor")?;
    let acs_urls: Vec<String> = sp
        .assertion_consumer_services
        .iter()
        .filter(|e| e.binding == BINDING_POST)
        .map(|e| e.location.clone())
        .collect();
    if acs_urls.is_empty() {
        return Err(
            "the SPSSODescriptor has no AssertionConsumerService with the HTTP-POST binding".into(),
        );
    }
    let signing_certs = signing_certs(sp.key_descriptors.as_deref().unwrap_or_default())?;
    if signing_certs.is_empty() {
        return Err(
            "the SPSSODescriptor has no signing certificate (AuthnRequests must be signed)".into(),
        );
    }
    Ok(SpPeer {
        entity_id,
        acs_urls,
        signing_certs,
        slo: SloEndpoints::of(sp.single_logout_services.as_deref().unwrap_or_default()),
    })
}

fn key_descriptor(key: &SigningKey) -> String {
    key_descriptor_of(&key.certificate_base64())
}

fn key_descriptor_of(certificate_base64: &str) -> String {
    format!(
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate_base64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
    )
}

/// How the gateway publishes its own metadata: signed with its current key; both its current
/// and, during a rollover, its next signing certificate (`KeyDescriptor use="signing"` twice,
/// so that partners trust the next key before the gateway signs with it); `validUntil` and
/// `cacheDuration`, so that partners refresh it in time.
pub struct Publication<'a> {
    pub key: &'a SigningKey,
    pub next_certificate: Option<&'a str>,
    pub valid_until: DateTime<Utc>,
}

/// How long partners may cache the gateway's metadata before asking again.
const CACHE_DURATION: &str = "PT1H";

impl Publication<'_> {
    fn key_descriptors(&self) -> String {
        let mut kd = key_descriptor(self.key);
        if let Some(next) = self.next_certificate {
            kd.push_str(&key_descriptor_of(next));
        }
        kd
    }

    /// The signed `EntityDescriptor` of `entity_id` around `descriptor`.
    fn entity(&self, entity_id: &str, descriptor: &str) -> Result<String, SamlError> {
        let id = new_id();
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="{id}" entityID="{entity}" validUntil="{until}" cacheDuration="{CACHE_DURATION}">{sig}{descriptor}</md:EntityDescriptor>"#,
            entity = escape(entity_id),
            until = instant(self.valid_until),
            sig = super::signing::signature_template(&id, self.key),
        );
        let signed = super::signing::sign(&xml, self.key)?;
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{signed}\n"
        ))
    }
}

/// The gateway's SP metadata, for ENT identity providers.
/// `slo` lists its SingleLogoutService endpoints (binding, location), none for an SP that has no
/// single logout.
pub fn sp_metadata(
    entity_id: &str,
    acs_url: &str,
    slo: &[(&str, String)],
    p: &Publication<'_>,
) -> Result<String, SamlError> {
    let descriptor = format!(
        r#"<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{kd}{slo}<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat><md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/></md:SPSSODescriptor>"#,
        kd = p.key_descriptors(),
        slo = slo_services(slo),
        post = BINDING_POST,
        acs = escape(acs_url),
    );
    p.entity(entity_id, &descriptor)
}

fn slo_services(slo: &[(&str, String)]) -> String {
    slo.iter()
        .map(|(binding, url)| {
            format!(
                r#"<md:SingleLogoutService Binding="{}" Location="{}"/>"#,
                binding,
                escape(url)
            )
        })
        .collect()
}

/// The gateway's IdP metadata, for resource providers.
pub fn idp_metadata(
    entity_id: &str,
    sso_redirect: &str,
    sso_post: &str,
    slo: &[(&str, String)],
    p: &Publication<'_>,
) -> Result<String, SamlError> {
    let descriptor = format!(
        r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{kd}{slo}<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat><md:SingleSignOnService Binding="{redirect}" Location="{sso_r}"/><md:SingleSignOnService Binding="{post}" Location="{sso_p}"/></md:IDPSSODescriptor>"#,
        kd = p.key_descriptors(),
        slo = slo_services(slo),
        redirect = BINDING_REDIRECT,
        post = BINDING_POST,
        sso_r = escape(sso_redirect),
        sso_p = escape(sso_post),
    );
    p.entity(entity_id, &descriptor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_metadata_gives_its_logout_endpoints_by_binding() {
        let key = SigningKey::generate_self_signed("sp", 1).unwrap();
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp.test/md"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{kd}<md:SingleLogoutService Binding="{BINDING_SOAP}" Location="https://sp.test/slo/soap"/><md:SingleLogoutService Binding="{BINDING_REDIRECT}" Location="https://sp.test/slo" ResponseLocation="https://sp.test/slo/done"/><md:AssertionConsumerService Binding="{BINDING_POST}" Location="https://sp.test/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#,
            kd = key_descriptor(&key)
        );
        let sp = parse_sp(&xml).unwrap();
        assert_eq!(sp.slo.soap.as_deref(), Some("https://sp.test/slo/soap"));
        assert_eq!(sp.slo.redirect.as_deref(), Some("https://sp.test/slo/done"));
        assert_eq!(sp.slo.post, None);
    }
}

#[cfg(test)]
mod trust_tests {
    use super::*;

    fn idp(entity: &str, until: &str, key: &SigningKey) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}" validUntil="{until}" cacheDuration="PT2H"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{kd}<md:SingleSignOnService Binding="{BINDING_REDIRECT}" Location="https://ent.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            kd = key_descriptor(key)
        )
    }

    fn open() -> Trust {
        Trust {
            certificate: None,
            require_signature: false,
            max_bytes: 1 << 20,
        }
    }

    #[test]
    fn a_signed_document_is_read_and_an_external_reference_refused_before_xmlsec() {
        let fed = SigningKey::generate_self_signed("federation", 1).unwrap();
        let ent = SigningKey::generate_self_signed("ent", 1).unwrap();
        let body = idp("https://a.test/idp", "2031-01-01T00:00:00Z", &ent);
        let xml = body.replacen("entityID=", "ID=\"_m1\" entityID=", 1);
        let xml = xml.replacen(
            "><md:IDPSSODescriptor",
            &format!(
                ">{}<md:IDPSSODescriptor",
                crate::saml::signing::signature_template("_m1", &fed)
            ),
            1,
        );
        let signed = crate::saml::signing::sign(&xml, &fed).unwrap();
        let trust = Trust {
            certificate: Some(fed.certificate.clone()),
            require_signature: true,
            max_bytes: 1 << 20,
        };
        let (peer, _) = read_idp(&signed, &trust, Some("https://a.test/idp"), None).unwrap();
        assert_eq!(peer.entity_id, "https://a.test/idp");
        let external = signed.replace("URI=\"#_m1\"", "URI=\"file:///etc/passwd\"");
        let err = read_idp(&external, &trust, None, None).unwrap_err();
        assert!(err.contains("saml."), "{err}");
        let other = Trust {
            certificate: Some(ent.certificate.clone()),
            ..trust
        };
        assert!(read_idp(&signed, &other, None, None).is_err());
    }

    #[test]
    fn cache_durations_are_read_as_xsd_durations() {
        assert_eq!(
            duration("PT6H"),
            Some(std::time::Duration::from_secs(6 * 3600))
        );
        assert_eq!(
            duration("P1DT30M"),
            Some(std::time::Duration::from_secs(86_400 + 1800))
        );
        assert_eq!(
            duration("PT1.5S"),
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(duration("P1M"), None, "months have no fixed length");
        assert_eq!(duration("6h"), None);
    }

    #[test]
    fn an_aggregate_gives_the_expected_entity_and_the_earliest_valid_until() {
        let key = SigningKey::generate_self_signed("ent", 1).unwrap();
        let xml = format!(
            r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" validUntil="2030-01-01T00:00:00Z" cacheDuration="PT1H">{}{}</md:EntitiesDescriptor>"#,
            idp("https://a.test/idp", "2031-01-01T00:00:00Z", &key),
            idp("https://b.test/idp", "2029-01-01T00:00:00Z", &key)
        );
        let (peer, fresh) = read_idp(&xml, &open(), Some("https://b.test/idp"), None).unwrap();
        assert_eq!(peer.entity_id, "https://b.test/idp");
        assert_eq!(
            fresh.valid_until.unwrap().to_rfc3339(),
            "2029-01-01T00:00:00+00:00"
        );
        assert_eq!(
            fresh.cache_duration,
            Some(std::time::Duration::from_secs(3600))
        );
        assert!(read_idp(&xml, &open(), Some("https://c.test/idp"), None).is_err());
        assert!(
            read_idp(&xml, &open(), None, None).is_err(),
            "an aggregate needs the entityID"
        );
    }

    #[test]
    fn expired_unsigned_and_foreign_documents_are_refused() {
        let key = SigningKey::generate_self_signed("ent", 1).unwrap();
        let now = "2028-01-01T00:00:00Z".parse().unwrap();
        let xml = idp("https://a.test/idp", "2027-01-01T00:00:00Z", &key);
        let err = read_idp(&xml, &open(), None, Some(now)).unwrap_err();
        assert!(err.contains("expired"), "{err}");
        let fresh = idp("https://a.test/idp", "2029-01-01T00:00:00Z", &key);
        let signed = Trust {
            certificate: Some(key.certificate.clone()),
            require_signature: true,
            max_bytes: 1 << 20,
        };
        let err = read_idp(&fresh, &signed, None, Some(now)).unwrap_err();
        assert!(err.contains("not signed"), "{err}");
        let err = read_idp(&fresh, &open(), Some("https://b.test/idp"), Some(now)).unwrap_err();
        assert!(err.contains("not for the configured entityID"), "{err}");
        let required = Trust {
            certificate: None,
            require_signature: true,
            max_bytes: 1 << 20,
        };
        assert!(read_idp(&fresh, &required, None, Some(now)).is_err());
    }
}
