//! What every section's validation shares: [`Ctx`] (the configuration's directory, for
//! relative paths, and every problem found so far, each with its key) and the checks several
//! sections make (tokens, certificate fingerprints, signature algorithms).

use std::path::{Path, PathBuf};

use super::Problem;
use crate::saml::algorithms::{AlgorithmPolicy, SigAlg};
use crate::saml::keys::certificate_from_pem;

/// The validation's context: the configuration's directory and the problems found.
pub(super) struct Ctx<'a> {
    pub(super) base: &'a Path,
    pub(super) problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(super) fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    pub(super) fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    pub(super) fn read(&mut self, key: &str, p: &str) -> Option<Vec<u8>> {
        let path = self.path(p);
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.problem(key, format!("cannot read {}: {e}", path.display()));
                None
            }
        }
    }

    pub(super) fn required<T>(&mut self, key: &str, v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.problem(key, "is required");
        }
        v
    }
}

/// The bearer token in `file` (`{prefix}.api_token_file`), if one is configured; `None` when
/// the file cannot be read (the problem is recorded).
pub(super) fn api_token(
    cx: &mut Ctx<'_>,
    prefix: &str,
    file: &Option<String>,
) -> Option<Option<super::Secret>> {
    let Some(f) = file else { return Some(None) };
    let key = format!("{prefix}.api_token_file");
    let token = String::from_utf8_lossy(&cx.read(&key, f)?)
        .trim()
        .to_string();
    if token.len() < 32 {
        cx.problem(
            key,
            "the token must be at least 32 characters (e.g. `openssl rand -hex 32`)",
        );
    }
    Some(Some(super::Secret::new(token)))
}

/// The SHA-256 fingerprint of the PEM certificate in `file`.
pub(super) fn cert_fingerprint(
    cx: &mut Ctx<'_>,
    key: &str,
    file: &Option<String>,
) -> Option<String> {
    let pem = cx.read(key, file.as_ref()?)?;
    match certificate_from_pem(&pem) {
        Ok(der) => Some(crate::tls::fingerprint(der.der_data())),
        Err(e) => {
            cx.problem(key, e);
            None
        }
    }
}

pub(super) fn algorithms(
    cx: &mut Ctx<'_>,
    key: &str,
    names: Option<&Vec<String>>,
) -> AlgorithmPolicy {
    let Some(names) = names else {
        return AlgorithmPolicy::default();
    };
    let mut algs = Vec::new();
    for n in names {
        match SigAlg::from_config_name(n) {
            Some(a) => algs.push(a),
            None => cx.problem(key, format!("unknown algorithm '{n}' (expected rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256 or rsa-sha1)")),
        }
    }
    if algs.is_empty() {
        cx.problem(key, "must list at least one algorithm");
    }
    AlgorithmPolicy::new(algs)
}
