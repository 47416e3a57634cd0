//! Reading a query string or a form body whose parameters must each appear once (OIDC's and
//! CAS's requests): a repeated parameter is refused, since which of its values would count?
//! Empty values are left out, as absent ones.

use std::collections::HashMap;

/// The parameters of `raw`, each once; `Err` names the first one repeated.
pub fn unique(raw: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(k.into_owned());
        }
    }
    out.retain(|_, v: &mut String| !v.is_empty());
    Ok(out)
}
