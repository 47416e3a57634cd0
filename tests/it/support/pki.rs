//! A test PKI made with openssl: a CA, server and client certificates it issues (valid from
//! the wall clock's now, or between given times), and reqwest identities for the clients.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

pub struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl Issued {
    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().unwrap()
    }

    pub fn identity(&self) -> reqwest::Identity {
        let mut pem = self.cert_pem();
        pem.extend(self.key.private_key_to_pem_pkcs8().unwrap());
        reqwest::Identity::from_pem(&pem).unwrap()
    }
}

/// Issues a certificate for `cn`, signed by `ca` (self-signed when `None`), valid from now for
/// 30 days of the wall clock.
pub fn issue(cn: &str, ca: Option<&Issued>, kind: &str, serial: u32) -> Issued {
    let from = Asn1Time::days_from_now(0).unwrap();
    let to = Asn1Time::days_from_now(30).unwrap();
    issue_between(cn, ca, kind, serial, &from, &to)
}

/// Like [`issue`], valid between two Unix times (e.g. around the tests' fixed clock).
pub fn issue_valid(
    cn: &str,
    ca: Option<&Issued>,
    kind: &str,
    serial: u32,
    not_before: i64,
    not_after: i64,
) -> Issued {
    let from = Asn1Time::from_unix(not_before).unwrap();
    let to = Asn1Time::from_unix(not_after).unwrap();
    issue_between(cn, ca, kind, serial, &from, &to)
}

/// A server certificate for 127.0.0.1 and the DNS `names`, signed by `ca`, valid 30 days.
pub fn issue_server(cn: &str, ca: &Issued, serial: u32, names: &[&str]) -> Issued {
    let from = Asn1Time::days_from_now(0).unwrap();
    let to = Asn1Time::days_from_now(30).unwrap();
    issue_named(cn, Some(ca), "server", serial, (&from, &to), names)
}

fn issue_between(
    cn: &str,
    ca: Option<&Issued>,
    kind: &str,
    serial: u32,
    not_before: &Asn1TimeRef,
    not_after: &Asn1TimeRef,
) -> Issued {
    issue_named(cn, ca, kind, serial, (not_before, not_after), &[])
}

fn issue_named(
    cn: &str,
    ca: Option<&Issued>,
    kind: &str,
    serial: u32,
    (not_before, not_after): (&Asn1TimeRef, &Asn1TimeRef),
    names: &[&str],
) -> Issued {
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(ca.map_or(&name, |c| c.cert.subject_name()))
        .unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(not_before).unwrap();
    b.set_not_after(not_after).unwrap();
    match kind {
        "ca" => {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        "server" => {
            b.append_extension(BasicConstraints::new().build().unwrap())
                .unwrap();
            b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
                .unwrap();
            let mut san = SubjectAlternativeName::new();
            san.ip("127.0.0.1");
            for n in names {
                san.dns(n);
            }
            let san = san
                .build(&b.x509v3_context(ca.map(|c| c.cert.as_ref()), None))
                .unwrap();
            b.append_extension(san).unwrap();
        }
        _ => {
            b.append_extension(BasicConstraints::new().build().unwrap())
                .unwrap();
            b.append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
                .unwrap();
        }
    }
    b.sign(ca.map_or(&key, |c| &c.key), MessageDigest::sha256())
        .unwrap();
    Issued {
        cert: b.build(),
        key,
    }
}
