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
    let ed = parse(xml)?;
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
    let ed = parse(xml)?;
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
