//! Environment overrides: `PASSERELLE__SECTION__KEY=value` sets `section.key`.
//!
//! Double underscores nest; table keys match case-insensitively, and a `_` stands for a `-`
//! of a key (`PASSERELLE__PROVIDERS__INTEROP_SAML__NAME` sets `providers.interop-saml.name`,
//! which a POSIX shell could not name otherwise); a new key is created in lower case; array
//! elements are addressed by index. The value is read as a TOML value
//! when it parses as one (`true`, `42`, `["a", "b"]`), as a string otherwise. The
//! environment is passed in as a list of pairs, so tests never touch the process's own.

use toml::Value;

pub const PREFIX: &str = "PASSERELLE__";

/// The environment variable that sets the key at `path` (e.g. `ents.B0.name`), spelt so that a
/// POSIX shell can set it: a hyphen in a key (`providers.interop-saml`) is written `_`.
pub fn variable_for(path: &str) -> String {
    format!(
        "{PREFIX}{}",
        path.replace('.', "__")
            .replace('-', "_")
            .to_ascii_uppercase()
    )
}

/// Whether the table key `key` is the one a variable's path segment names: the same letters
/// whatever their case, a `_` in the segment standing for a `-` in the key (shells do not
/// allow hyphens in variable names).
fn names(segment: &str, key: &str) -> bool {
    segment.len() == key.len()
        && segment
            .bytes()
            .zip(key.bytes())
            .all(|(s, k)| s.eq_ignore_ascii_case(&k) || (s == b'_' && k == b'-'))
}

/// Applies every `PASSERELLE__*` variable of `vars` to `root`; returns one message per
/// variable that could not be applied.
pub fn apply(root: &mut Value, vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let path: Vec<&str> = rest.split("__").collect();
        if path.iter().any(|p| p.is_empty()) {
            problems.push(format!("{name}: empty path segment"));
            continue;
        }
        if let Err(e) = set(root, &path, parse_value(&value)) {
            problems.push(format!("{name}: {e}"));
        }
    }
    problems
}

/// The value as TOML when the whole of it is one TOML value, as text otherwise: `1\nx = 2` is
/// text, not `1` with the rest dropped.
fn parse_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) if t.len() == 1 => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        _ => Value::String(raw.to_string()),
    }
}

fn set(node: &mut Value, path: &[&str], value: Value) -> Result<(), String> {
    let Some((head, tail)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    match node {
        Value::Table(table) => {
            // The exact spelling first, then one with `_` for `-`.
            let key = table
                .keys()
                .find(|k| k.eq_ignore_ascii_case(head))
                .or_else(|| table.keys().find(|k| names(head, k)))
                .cloned()
                .unwrap_or_else(|| head.to_ascii_lowercase());
            let child = table
                .entry(key)
                .or_insert_with(|| Value::Table(toml::Table::new()));
            set(child, tail, value)
        }
        Value::Array(items) => {
            let index: usize = head
                .parse()
                .map_err(|_| format!("'{head}' must be an index into an array"))?;
            let child = items
                .get_mut(index)
                .ok_or_else(|| format!("index {index} is past the end of the array"))?;
            set(child, tail, value)
        }
        _ => Err(format!(
            "cannot set '{head}' inside a value that is not a table"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_underscore_stands_for_a_hyphen_of_a_key() {
        let mut root: Value = toml::from_str(
            "[providers.interop-saml]\nname = 'a'\n[providers.interop_saml2]\nname = 'b'",
        )
        .unwrap();
        let problems = apply(
            &mut root,
            vars(&[
                ("PASSERELLE__PROVIDERS__INTEROP_SAML__NAME", "A"),
                ("PASSERELLE__PROVIDERS__INTEROP-SAML__API_TOKEN_FILE", "t"),
                ("PASSERELLE__PROVIDERS__INTEROP_SAML2__NAME", "B"),
            ]),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            root["providers"]["interop-saml"]["name"].as_str(),
            Some("A")
        );
        assert_eq!(
            root["providers"]["interop-saml"]["api_token_file"].as_str(),
            Some("t")
        );
        assert_eq!(
            root["providers"]["interop_saml2"]["name"].as_str(),
            Some("B")
        );
        assert!(root["providers"].get("interop_saml").is_none());
        assert_eq!(
            variable_for("providers.interop-saml.name"),
            "PASSERELLE__PROVIDERS__INTEROP_SAML__NAME"
        );
        // `_` never stands for a letter: a key of another spelling is not matched.
        assert!(!names("A_B", "axb") && names("A_B", "a-b") && names("A_B", "a_b"));
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn nests_matches_case_insensitively_and_types_values() {
        let mut root: Value =
            toml::from_str("[server]\nlisten = 'a'\n[ents.B0]\nname = 'x'").unwrap();
        let problems = apply(
            &mut root,
            vars(&[
                ("PASSERELLE__SERVER__LISTEN", "127.0.0.1:9"),
                ("PASSERELLE__ENTS__B0__NAME", "ENT B"),
                ("PASSERELLE__STORE__REDIS_CLUSTER", "true"),
                ("PASSERELLE__SAML__CLOCK_SKEW_SECONDS", "30"),
                ("OTHER", "ignored"),
            ]),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(root["server"]["listen"].as_str(), Some("127.0.0.1:9"));
        assert_eq!(root["ents"]["B0"]["name"].as_str(), Some("ENT B"));
        assert_eq!(root["store"]["redis_cluster"].as_bool(), Some(true));
        assert_eq!(root["saml"]["clock_skew_seconds"].as_integer(), Some(30));
    }

    /// Found by the `config_env` fuzz target: a value holding a line break and a second
    /// `key = value` was read as its first line's TOML value, the rest silently dropped.
    #[test]
    fn a_value_is_one_toml_value_or_text() {
        let mut root: Value = toml::from_str("[server]\nlisten = 'a'").unwrap();
        let problems = apply(
            &mut root,
            vars(&[
                ("PASSERELLE__SERVER__A", "nan\nZ={ x = [ \"a\" ] }"),
                ("PASSERELLE__SERVER__B", "30\nlisten = 'b'"),
                ("PASSERELLE__SERVER__C", "[1,\n 2]"),
            ]),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            root["server"]["a"].as_str(),
            Some("nan\nZ={ x = [ \"a\" ] }")
        );
        assert_eq!(root["server"]["b"].as_str(), Some("30\nlisten = 'b'"));
        assert_eq!(root["server"]["listen"].as_str(), Some("a"));
        assert_eq!(root["server"]["c"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn reports_bad_paths() {
        let mut root: Value = toml::from_str("[server]\nlisten = 'a'").unwrap();
        let problems = apply(
            &mut root,
            vars(&[
                ("PASSERELLE__SERVER__LISTEN__X", "1"),
                ("PASSERELLE____A", "1"),
            ]),
        );
        assert_eq!(problems.len(), 2);
        assert_eq!(
            variable_for("ents.B0.saml.idp_metadata"),
            "PASSERELLE__ENTS__B0__SAML__IDP_METADATA"
        );
    }
}
