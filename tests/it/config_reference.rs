//! docs/configuration.md cannot drift from the configuration the gateway accepts.
//!
//! Both ways:
//! - every key the configuration types accept is named by the reference: the `Raw*` structs of
//!   `src/config/raw.rs` are read (field by field, from `RawConfig` down, maps as `<name>`
//!   segments), and a field the reference does not name fails;
//! - every key the reference names is accepted, with the type it gives: a TOML document is
//!   built from the reference's keys, one value of each documented type, and read by the
//!   loader (`config::load_str`, the same `serde_ignored` reporting as a real file); an
//!   `unknown key` or a `wrong type` fails.
//!
//! The reader of `raw.rs` refuses what it does not understand (a serde attribute other than
//! `default`, a line that is not a field), so a change it cannot follow fails here too, loudly,
//! rather than being skipped. The negative tests show each way failing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use passerelle::config;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// A table of the reference: its path (maps as `<>`) and whether it is an array of tables.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DocKey {
    table: Vec<String>,
    key: String,
    ty: String,
}

impl DocKey {
    fn path(&self) -> String {
        let mut p = self.table.clone();
        p.push(self.key.clone());
        p.join(".")
    }
}

/// `ents.<idENT>.saml` → `["ents", "<>", "saml"]`.
fn segments(path: &str) -> Vec<String> {
    path.split('.')
        .map(|s| {
            if s.starts_with('<') && s.ends_with('>') {
                "<>".to_string()
            } else {
                s.to_string()
            }
        })
        .collect()
}

/// The keys of the reference, and the tables written `[[...]]`.
fn doc_keys(md: &str) -> Result<(Vec<DocKey>, BTreeSet<Vec<String>>), String> {
    let mut keys = Vec::new();
    let mut arrays = BTreeSet::new();
    let mut table: Option<Vec<String>> = None;
    let mut seen = BTreeSet::new();
    for (n, line) in md.lines().enumerate() {
        let n = n + 1;
        if line.starts_with('#') {
            table = None;
            if let Some(start) = line.find("`[") {
                let rest = &line[start + 1..];
                let end = rest
                    .find("]`")
                    .ok_or(format!("line {n}: a table heading without its closing `]`"))?;
                let inner = &rest[..=end];
                let (path, array) = match inner.strip_prefix("[[") {
                    Some(p) => (
                        p.strip_suffix("]]")
                            .ok_or(format!("line {n}: `[[` without `]]`"))?,
                        true,
                    ),
                    None => (&inner[1..inner.len() - 1], false),
                };
                let segs = segments(path);
                if array {
                    arrays.insert(segs.clone());
                }
                table = Some(segs);
            }
            continue;
        }
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').collect();
        let key = cells[0].trim().trim_end_matches('`');
        let ty = cells
            .get(1)
            .map(|c| c.trim().to_string())
            .ok_or(format!("line {n}: a row without a type"))?;
        let table = table
            .clone()
            .ok_or(format!("line {n}: key `{key}` outside a table heading"))?;
        if key.is_empty() || key.contains(['.', '`', ' ']) {
            return Err(format!("line {n}: `{key}` is not a plain key"));
        }
        let k = DocKey {
            table,
            key: key.to_string(),
            ty,
        };
        if !seen.insert(k.path()) {
            return Err(format!("line {n}: `{}` documented twice", k.path()));
        }
        keys.push(k);
    }
    Ok((keys, arrays))
}

/// The fields of each `pub struct` of raw.rs: name → [(field, type)].
fn raw_structs(src: &str) -> Result<BTreeMap<String, Vec<(String, String)>>, String> {
    let mut structs = BTreeMap::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    for (n, line) in src.lines().enumerate() {
        let n = n + 1;
        let t = line.trim();
        if let Some((name, fields)) = current.as_mut() {
            if t == "}" {
                structs.insert(name.clone(), std::mem::take(fields));
                current = None;
            } else if t.is_empty() || t.starts_with("//") || t == "#[serde(default)]" {
            } else if let Some(f) = t.strip_prefix("pub ").and_then(|f| f.strip_suffix(',')) {
                let (field, ty) = f
                    .split_once(": ")
                    .ok_or(format!("raw.rs line {n}: cannot read the field `{t}`"))?;
                fields.push((field.to_string(), ty.to_string()));
            } else {
                return Err(format!(
                    "raw.rs line {n}: `{t}` is not understood by tests/it/config_reference.rs (a field is `pub name: Type,`, with at most #[serde(default)]): teach it"
                ));
            }
        } else if let Some(rest) = t.strip_prefix("pub struct ") {
            let name = rest.strip_suffix(" {").ok_or(format!(
                "raw.rs line {n}: `{t}`: expected `pub struct Name {{`"
            ))?;
            current = Some((name.to_string(), Vec::new()));
        } else if t.starts_with("#[") && !t.starts_with("#[derive(") {
            return Err(format!(
                "raw.rs line {n}: the attribute `{t}` may rename keys: teach tests/it/config_reference.rs"
            ));
        }
    }
    Ok(structs)
}

fn strip<'a>(ty: &'a str, wrapper: &str) -> Option<&'a str> {
    ty.strip_prefix(wrapper)?.strip_suffix('>')
}

/// The `Raw*` struct a field's type leads to, with the map segment it adds, if any.
fn nested(ty: &str) -> (Option<&str>, bool) {
    let ty = strip(ty, "Option<").unwrap_or(ty);
    let (ty, map) = match strip(ty, "BTreeMap<String, ") {
        Some(v) => (v, true),
        None => (ty, false),
    };
    let ty = strip(ty, "Vec<").unwrap_or(ty);
    if ty.starts_with("Raw") {
        (Some(ty), map)
    } else {
        (None, map)
    }
}

/// Every key path the configuration types accept (maps as `<>`).
fn accepted_keys(src: &str) -> Result<BTreeSet<String>, String> {
    let structs = raw_structs(src)?;
    let mut out = BTreeSet::new();
    let mut stack = vec![(Vec::<String>::new(), "RawConfig".to_string())];
    while let Some((prefix, name)) = stack.pop() {
        let fields = structs
            .get(&name)
            .ok_or(format!("raw.rs: no struct {name}"))?;
        for (field, ty) in fields {
            let mut path = prefix.clone();
            path.push(field.clone());
            match nested(ty) {
                (Some(inner), map) => {
                    if map {
                        path.push("<>".into());
                    }
                    stack.push((path, inner.to_string()));
                }
                (None, _) => {
                    out.insert(path.join("."));
                }
            }
        }
    }
    Ok(out)
}

/// What differs between the reference and raw.rs, as sentences.
fn drift(md: &str, raw_rs: &str) -> Vec<String> {
    let (keys, _) = match doc_keys(md) {
        Ok(k) => k,
        Err(e) => return vec![format!("docs/configuration.md: {e}")],
    };
    let accepted = match accepted_keys(raw_rs) {
        Ok(a) => a,
        Err(e) => return vec![e],
    };
    let documented: BTreeSet<String> = keys.iter().map(DocKey::path).collect();
    let mut problems: Vec<String> = accepted
        .difference(&documented)
        .map(|k| format!("`{k}` is accepted (src/config/raw.rs) but not in docs/configuration.md"))
        .collect();
    problems.extend(
        documented.difference(&accepted).map(|k| {
            format!("`{k}` is in docs/configuration.md but no field of src/config/raw.rs")
        }),
    );
    problems
}

/// One value of a documented type.
fn sample(ty: &str) -> Result<toml::Value, String> {
    use toml::Value;
    let s = || Value::String("x".into());
    let table = |v: Value| Value::Table([("k".to_string(), v)].into_iter().collect());
    Ok(match ty {
        "string" => s(),
        "integer" => Value::Integer(1),
        "boolean" => Value::Boolean(true),
        "array of strings" => Value::Array(vec![s()]),
        "table of string arrays" => table(Value::Array(vec![s()])),
        "table of integers" => table(Value::Integer(1)),
        "table" => Value::Table(toml::Table::new()),
        other => return Err(format!("unknown type `{other}` (string, integer, boolean, array of strings, table of string arrays, table of integers, table)")),
    })
}

/// A configuration file setting every key of the reference.
fn document(md: &str) -> Result<toml::Table, String> {
    let (keys, arrays) = doc_keys(md)?;
    let mut root = toml::Table::new();
    for k in &keys {
        let mut t = &mut root;
        for i in 0..k.table.len() {
            let seg = if k.table[i] == "<>" { "x" } else { &k.table[i] };
            let array = arrays.contains(&k.table[..=i]);
            let entry = t.entry(seg.to_string()).or_insert_with(|| {
                if array {
                    toml::Value::Array(vec![toml::Value::Table(toml::Table::new())])
                } else {
                    toml::Value::Table(toml::Table::new())
                }
            });
            t = match entry {
                toml::Value::Array(a) => a[0].as_table_mut().unwrap(),
                toml::Value::Table(t) => t,
                _ => return Err(format!("`{}` is a key and a table", k.path())),
            };
        }
        t.insert(
            k.key.clone(),
            sample(&k.ty).map_err(|e| format!("`{}`: {e}", k.path()))?,
        );
    }
    Ok(root)
}

/// The keys of the reference the loader does not take: unknown, or of another type.
async fn refused_by_loader(md: &str) -> Vec<String> {
    let doc = match document(md) {
        Ok(d) => d,
        Err(e) => return vec![format!("docs/configuration.md: {e}")],
    };
    let dir = tempfile::tempdir().unwrap();
    let text = toml::to_string(&doc).unwrap();
    match config::load_str(&text, dir.path(), Vec::new()).await {
        Ok(_) => Vec::new(),
        Err(e) => {
            e.0.into_iter()
                .filter(|p| p.message == "unknown key" || p.message.starts_with("wrong type"))
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect()
        }
    }
}

#[test]
fn every_accepted_key_is_in_the_reference_and_every_documented_one_is_a_field() {
    let problems = drift(&read("docs/configuration.md"), &read("src/config/raw.rs"));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn the_loader_takes_every_documented_key_with_its_documented_type() {
    let problems = refused_by_loader(&read("docs/configuration.md")).await;
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_raw_structs_are_read_as_the_configuration_is_written() {
    let keys = accepted_keys(&read("src/config/raw.rs")).unwrap();
    for k in [
        "server.tls.client_ca_file",
        "ents.<>.oidc.person_claim",
        "providers.<>.oidc.clients.require_pkce",
        "providers.<>.resources.attributes",
        "providers.<>.resources.display",
        "audience.matomo.dimensions",
        "auditors.<>.scope",
        "oidc.keys.kid",
        "admin.token_file",
    ] {
        assert!(keys.contains(k), "{k} not among {keys:#?}");
    }
    assert!(keys.len() > 150, "{} keys", keys.len());
}

// Negative tests: each way can fail.

#[test]
fn a_key_missing_from_the_reference_is_reported() {
    let md = read("docs/configuration.md");
    let row = "| `session_ttl_seconds` |";
    let without: String = md
        .lines()
        .filter(|l| !l.starts_with(row))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, md);
    let problems = drift(&without, &read("src/config/raw.rs"));
    assert_eq!(
        problems,
        vec![
            "`server.session_ttl_seconds` is accepted (src/config/raw.rs) but not in docs/configuration.md"
        ]
    );
}

#[test]
fn a_new_field_of_the_configuration_is_reported_until_documented() {
    let raw = read("src/config/raw.rs").replace(
        "pub struct RawCas {\n",
        "pub struct RawCas {\n    pub proxy_chains: Option<bool>,\n",
    );
    let problems = drift(&read("docs/configuration.md"), &raw);
    assert_eq!(
        problems,
        vec!["`cas.proxy_chains` is accepted (src/config/raw.rs) but not in docs/configuration.md"]
    );
}

#[test]
fn a_serde_attribute_the_reader_does_not_know_fails_loudly() {
    let raw = read("src/config/raw.rs").replace(
        "pub struct RawCas {\n",
        "pub struct RawCas {\n    #[serde(rename = \"prefix\")]\n",
    );
    let problems = drift(&read("docs/configuration.md"), &raw);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("teach"), "{problems:?}");
}

#[tokio::test]
async fn a_documented_key_the_gateway_does_not_accept_is_reported() {
    let md = read("docs/configuration.md").replace(
        "| `ticket_ttl_seconds` | integer |",
        "| `ticket_lifetime_seconds` | integer |",
    );
    let problems = refused_by_loader(&md).await;
    assert_eq!(problems, vec!["cas.ticket_lifetime_seconds: unknown key"]);
    assert!(drift(&md, &read("src/config/raw.rs"))
        .iter()
        .any(|p| p.contains("`cas.ticket_lifetime_seconds` is in docs/configuration.md")));
}

#[tokio::test]
async fn a_documented_type_the_gateway_does_not_accept_is_reported() {
    let md = read("docs/configuration.md").replace(
        "| `redis_cluster` | boolean |",
        "| `redis_cluster` | string |",
    );
    let problems = refused_by_loader(&md).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("wrong type"), "{problems:?}");
}

#[test]
fn a_key_outside_a_table_heading_is_refused() {
    let problems = drift(
        "# Configuration\n\n| `listen` | string | x | y |\n",
        &read("src/config/raw.rs"),
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("outside a table heading"),
        "{problems:?}"
    );
}
