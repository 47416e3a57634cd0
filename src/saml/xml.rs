//! Small XML helpers: escaping text and attribute values for the documents the gateway writes.

/// Escapes `&`, `<`, `>`, `"` and `'` for use in text or attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A fresh SAML ID: an underscore (IDs must not start with a digit) and 32 random hex digits.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("_{}", hex::encode(bytes))
}

/// SAML's `xs:dateTime` form, in UTC with seconds.
pub fn instant(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::escape("a<b&\"c'>"), "a&lt;b&amp;&quot;c&apos;&gt;");
        assert!(super::new_id().starts_with('_'));
        assert_eq!(super::new_id().len(), 33);
    }
}
