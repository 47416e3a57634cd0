//! Environment overrides of the configuration: `PASSERELLE__SECTION__KEY=value` variables
//! applied to the example configuration, then the result read as the raw configuration.
//!
//! The input is `NAME=value` variables separated by NUL bytes (values may hold line breaks; the
//! prefix is added when missing). Properties:
//! a variable applied without a problem leaves at its path (table keys matched without regard
//! to case, array elements by index) exactly its value read as TOML when the whole of it is one
//! TOML value, the text itself otherwise; reading the result as `RawConfig` never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passerelle::config::env::{apply, PREFIX};
use passerelle::config::raw::RawConfig;
use toml::Value;

fn example() -> &'static Value {
    static EXAMPLE: OnceLock<Value> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        include_str!("../../config/passerelle.toml")
            .parse::<toml::Table>()
            .map(Value::Table)
            .unwrap_or_else(|_| Value::Table(toml::Table::new()))
    })
}

/// What the variable's text should become: one TOML value, or the text.
fn expected(raw: &str) -> Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(t) if t.len() == 1 => t.get("v").cloned().unwrap_or(Value::String(raw.into())),
        _ => Value::String(raw.into()),
    }
}

/// The value at `path`, found as `apply` finds it.
fn at<'a>(mut node: &'a Value, path: &[&str]) -> Option<&'a Value> {
    for segment in path {
        node = match node {
            Value::Table(t) => t
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(segment))
                .map(|(_, v)| v)?,
            Value::Array(a) => a.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// TOML values compared with NaN equal to itself.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Table(x), Value::Table(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut root = example().clone();
    let mut applied = false;
    for line in text.split('\0') {
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        let name = if name.starts_with(PREFIX) {
            name.to_string()
        } else {
            format!("{PREFIX}{name}")
        };
        let problems = apply(&mut root, [(name.clone(), value.to_string())]);
        assert!(problems.len() <= 1, "{problems:?}");
        if problems.is_empty() {
            applied = true;
            let path: Vec<&str> = name[PREFIX.len()..].split("__").collect();
            let found = at(&root, &path);
            let want = expected(value);
            assert!(
                found.is_some_and(|f| same(f, &want)),
                "{name}={value:?}: found {found:?}, expected {want:?}"
            );
        }
    }
    // The example itself is read once for all (it is valid); what the variables made, each time.
    if applied {
        let _ = serde_ignored::deserialize::<_, _, RawConfig>(root, |_| {});
    }
});
