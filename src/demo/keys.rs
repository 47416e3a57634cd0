//! Ephemeral keys for the demo: made at start-up, never written to disk.

use crate::saml::keys::SigningKey;

/// A fresh RSA-2048 key and a self-signed certificate naming `cn`.
pub fn ephemeral(cn: &str) -> anyhow::Result<SigningKey> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "passerelle demo")?;
    name.append_entry_by_text("CN", cn)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = BigNum::from_u32(1)?.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(2)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(&key, MessageDigest::sha256())?;
    let cert = b.build();
    SigningKey::from_pem(&key.private_key_to_pem_pkcs8()?, &cert.to_pem()?)
        .map_err(|e| anyhow::anyhow!("demo key: {e}"))
}
