//! passerelle's patch 3: keys loaded once per thread.
//!
//! `sign_xml` takes the private key as DER, and the verifications a certificate as DER, on every
//! call. Loading them (`xmlSecCryptoAppKeyLoadMemory`) decodes the DER with OpenSSL 3's
//! decoders and, for a private key, sets its RSA blinding up again: about a third of the CPU of
//! a signed SAML transaction. The keys loaded are kept per thread, by their DER bytes, and each
//! use takes a duplicate (`xmlSecKeyDuplicate`: a new reference to the same OpenSSL key, no
//! decoding), so the decoding and the blinding set-up happen once per key and thread. A thread
//! keeps at most [`MAX_KEYS`] keys of each kind and forgets them all when a new one would
//! exceed it (a key rollover brings new keys; the old ones leave).

use std::cell::RefCell;
use std::collections::HashMap;

use super::wrapper::{XmlSecKey, XmlSecKeyFormat};
use super::wrapper::XmlSecResult;

/// Keys kept per thread and kind.
const MAX_KEYS: usize = 32;

thread_local! {
    static PRIVATE: RefCell<HashMap<Vec<u8>, XmlSecKey>> = RefCell::new(HashMap::new());
    static CERTIFICATES: RefCell<HashMap<Vec<u8>, XmlSecKey>> = RefCell::new(HashMap::new());
}

fn loaded(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<Vec<u8>, XmlSecKey>>>,
    der: &[u8],
    format: fn() -> XmlSecKeyFormat,
) -> XmlSecResult<XmlSecKey> {
    cache.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(key) = keys.get(der) {
            return key.duplicate();
        }
        let key = XmlSecKey::from_memory(der, format())?;
        let copy = key.duplicate()?;
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(der.to_vec(), key);
        Ok(copy)
    })
}

/// A private key (DER), loaded once per thread.
pub(super) fn private_key(der: &[u8]) -> XmlSecResult<XmlSecKey> {
    loaded(&PRIVATE, der, || XmlSecKeyFormat::Der)
}

/// A certificate's public key (DER), loaded once per thread.
pub(super) fn certificate(der: &[u8]) -> XmlSecResult<XmlSecKey> {
    loaded(&CERTIFICATES, der, || XmlSecKeyFormat::CertDer)
}
