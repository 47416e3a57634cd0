//! The gateway's signing key and certificate, and peers' certificates, loaded from PEM.

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use samael::crypto::CertificateDer;

/// The key the gateway signs AuthnRequests, Responses and Assertions with.
#[derive(Clone)]
pub struct SigningKey {
    pub key: PKey<Private>,
    /// DER of the private key, as xmlsec wants it.
    pub key_der: Vec<u8>,
    pub certificate: CertificateDer,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Loads a PEM private key (PKCS#8 or PKCS#1) and its PEM certificate, and checks they match.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, String> {
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|e| format!("not a PEM private key: {e}"))?;
        let cert = X509::from_pem(cert_pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
        let cert_key = cert
            .public_key()
            .map_err(|e| format!("certificate public key: {e}"))?;
        if !key.public_eq(&cert_key) {
            return Err("the certificate does not match the private key".into());
        }
        let key_der = match key.rsa() {
            Ok(rsa) => rsa.private_key_to_der(),
            Err(_) => key.private_key_to_der(),
        }
        .map_err(|e| format!("private key: {e}"))?;
        let cert_der = cert.to_der().map_err(|e| format!("certificate: {e}"))?;
        Ok(Self {
            key,
            key_der,
            certificate: CertificateDer::from(cert_der),
        })
    }

    /// A fresh RSA-2048 key with a self-signed certificate naming `cn`, valid `days` days:
    /// for the demo and tests (deployments load their keys from files).
    pub fn generate_self_signed(cn: &str, days: u32) -> Result<Self, openssl::error::ErrorStack> {
        use openssl::asn1::Asn1Time;
        use openssl::bn::BigNum;
        use openssl::hash::MessageDigest;
        use openssl::x509::{X509Builder, X509NameBuilder};

        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("O", "passerelle")?;
        name.append_entry_by_text("CN", cn)?;
        let name = name.build();
        let mut b = X509Builder::new()?;
        b.set_version(2)?;
        let serial = BigNum::from_u32(1)?.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(days)?);
        b.set_not_before(&from)?;
        b.set_not_after(&until)?;
        b.sign(&key, MessageDigest::sha256())?;
        let cert = b.build();
        let key_der = key.rsa()?.private_key_to_der()?;
        Ok(Self {
            key,
            key_der,
            certificate: CertificateDer::from(cert.to_der()?),
        })
    }

    /// The private key as PKCS#8 PEM.
    pub fn private_key_pem(&self) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        self.key.private_key_to_pem_pkcs8()
    }

    /// The certificate as PEM.
    pub fn certificate_pem(&self) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        X509::from_der(self.certificate.der_data())?.to_pem()
    }

    /// The certificate, base64 DER, as it appears in metadata and KeyInfo.
    pub fn certificate_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.certificate.der_data())
    }
}

/// A PEM certificate's DER, in base64 (as metadata publishes it).
pub fn certificate_base64_from_pem(pem: &[u8]) -> Result<String, String> {
    use base64::Engine;
    let der = certificate_from_pem(pem)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der.der_data()))
}

/// Reads a PEM certificate into DER.
pub fn certificate_from_pem(pem: &[u8]) -> Result<CertificateDer, String> {
    let cert = X509::from_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    Ok(CertificateDer::from(
        cert.to_der().map_err(|e| format!("certificate: {e}"))?,
    ))
}

/// SHA-256 fingerprints (lowercase hex) of certificates, for traces and audit records.
pub fn fingerprints(certs: &[CertificateDer]) -> Vec<String> {
    certs
        .iter()
        .map(|c| crate::tls::fingerprint(c.der_data()))
        .collect()
}
