//! Keeps the layering of ARCHITECTURE.md true: which modules may import which crates, and
//! that only `clock.rs` reads the wall clock.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn offenders(needle: &str, allowed: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files
        .into_iter()
        .filter(|f| {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            !allowed.iter().any(|a| rel.starts_with(a))
        })
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .any(|l| !l.trim_start().starts_with("//") && l.contains(needle))
        })
        .map(|f| f.display().to_string())
        .collect()
}

#[test]
fn only_the_saml_module_uses_samael() {
    assert_eq!(offenders("samael", &["saml/"]), Vec::<String>::new());
}

#[test]
fn only_the_oidc_module_uses_openidconnect_and_jsonwebtoken() {
    assert_eq!(offenders("openidconnect", &["oidc/"]), Vec::<String>::new());
    assert_eq!(offenders("jsonwebtoken", &["oidc/"]), Vec::<String>::new());
}

#[test]
fn only_the_redis_store_uses_redis() {
    assert_eq!(
        offenders(
            "redis::",
            &["store/redis.rs", "store/redis/", "store/mod.rs"]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn only_the_oidc_module_uses_jwt_libraries() {
    assert_eq!(offenders("jsonwebtoken", &["oidc/"]), Vec::<String>::new());
}

#[test]
fn only_http_and_demo_use_axum() {
    assert_eq!(offenders("axum", &["http/", "demo/"]), Vec::<String>::new());
}

#[test]
fn domain_is_free_of_infrastructure() {
    for needle in [
        "axum",
        "samael",
        "redis",
        "tokio",
        "crate::store",
        "crate::http",
        "crate::saml",
        "Utc::now",
    ] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
        let mut files = Vec::new();
        sources(&root, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(!text.contains(needle), "{} mentions {needle}", f.display());
        }
    }
}

#[test]
fn only_the_clock_reads_the_wall_clock() {
    assert_eq!(offenders("Utc::now()", &["clock.rs"]), Vec::<String>::new());
    assert_eq!(
        offenders("SystemTime::now()", &["clock.rs"]),
        Vec::<String>::new()
    );
}

/// Every `crate::<module>` path named by the code (not the comments) of `src/<dir>`, with the
/// file that names it.
fn named_modules(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let base = root.join(dir);
    if base.is_dir() {
        sources(&base, &mut files);
    } else {
        files.push(root.join(format!("{dir}.rs")));
    }
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (i, _) in code.match_indices("crate::") {
                let module: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push((rel.clone(), module));
            }
        }
    }
    out
}

/// The modules of the inner layers: none names the HTTP layer or the application state.
const INNER: [&str; 26] = [
    "audience",
    "audit",
    "backoff",
    "check_codes",
    "clock",
    "config",
    "domain",
    "feed",
    "flow",
    "limits",
    "listing",
    "oidc",
    "outbound",
    "saml",
    "school_index",
    "secret",
    "seed",
    "session",
    "shutdown",
    "store",
    "tls",
    "trace",
    "xml_boundary",
    "fuzzing",
    "main",
    "lib",
];

/// **Invariant:** arrows point inward. `config`, `domain`, `saml`, `oidc`, `store`,
/// `audience`, `audit`, `flow` and every other inner module never name `crate::http` or
/// `crate::app`; only `http`, `cli` and `demo` (and `app` itself) name `crate::app`.
#[test]
fn inner_modules_never_name_the_http_layer_or_the_application_state() {
    let mut bad = Vec::new();
    for dir in INNER
        .iter()
        .filter(|d| !["fuzzing", "main", "lib"].contains(d))
    {
        for (file, module) in named_modules(dir) {
            if ["http", "app", "cli", "demo"].contains(&module.as_str()) {
                bad.push(format!("{file} names crate::{module}"));
            }
        }
    }
    assert_eq!(bad, Vec::<String>::new());
}

/// **Invariant:** the flows name no protocol module (`saml`, `oidc`) and no protocol crate:
/// a new provider protocol adds a handler module and calls `flow::access::hand_over`.
#[test]
fn flows_are_protocol_free() {
    let mut bad = Vec::new();
    for (file, module) in named_modules("flow") {
        if ["saml", "oidc", "http", "app"].contains(&module.as_str()) {
            bad.push(format!("{file} names crate::{module}"));
        }
    }
    for needle in ["samael", "openidconnect", "jsonwebtoken", "axum"] {
        bad.extend(
            offenders(needle, &[])
                .into_iter()
                .filter(|f| f.contains("/src/flow/"))
                .map(|f| format!("{f} uses {needle}")),
        );
    }
    assert_eq!(bad, Vec::<String>::new());
}

/// **Invariant:** `domain` names nothing above it: only `crate::domain` paths.
#[test]
fn domain_names_only_itself() {
    let bad: Vec<String> = named_modules("domain")
        .into_iter()
        .filter(|(_, m)| m != "domain")
        .map(|(f, m)| format!("{f} names crate::{m}"))
        .collect();
    assert_eq!(bad, Vec::<String>::new());
}

/// The list of inner modules is complete: a new top-level module must be placed in a layer.
#[test]
fn every_top_level_module_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let outer = ["app", "cli", "demo", "http"];
    for line in lib.lines() {
        if let Some(name) = line.trim().strip_prefix("pub mod ") {
            let name = name.trim_end_matches([';', ' ', '{']);
            assert!(
                INNER.contains(&name) || outer.contains(&name),
                "src/{name}: add it to INNER (tests/it/layering.rs) or to the outer layer"
            );
        }
    }
}

/// **Invariant:** every outbound HTTP client of the gateway is built by `outbound` (no proxy
/// from the environment, no redirects, timeouts). The demo's own clients (its resource, its
/// seeding) talk to the demo's processes on loopback.
#[test]
fn outbound_clients_are_built_in_one_place() {
    assert_eq!(
        offenders("reqwest::Client::builder", &["outbound.rs", "demo/"]),
        Vec::<String>::new()
    );
}

/// A module of the graph [`module_graph`] checks: a top-level module (`child` empty) or one
/// of its children.
type Node = (String, String);

/// The children of top-level module `top`: its files and directories but `mod.rs`.
fn children(src: &Path, top: &str) -> Vec<String> {
    let dir = src.join(top);
    if !dir.is_dir() {
        return Vec::new();
    }
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_string_lossy().to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|n| n != "mod")
        .collect()
}

/// Which module names which, from the code (not the comments), at two levels: a top-level
/// module names another by a `crate::b` path; a child of a module names a sibling by
/// `crate::a::c` or, from the child's own file, `super::c`. A `mod.rs` re-exporting its
/// children is the module's face, not an arrow, and a child naming the module's re-exports
/// names the module, which is not a sibling: neither is an edge. Test code (`*_tests.rs`,
/// and a file's `#[cfg(test)]` module at its end) is left out.
fn module_graph() -> std::collections::BTreeMap<Node, std::collections::BTreeSet<Node>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tops: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let n = p.file_stem()?.to_string_lossy().to_string();
            (n != "lib" && n != "main").then_some(n)
        })
        .collect();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph = std::collections::BTreeMap::<Node, std::collections::BTreeSet<Node>>::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
        let (top, own) = match parts.as_slice() {
            ["lib"] | ["main"] | [] => continue,
            _ if rel.ends_with("_tests.rs") => continue,
            [top] | [top, "mod"] => (top.to_string(), String::new()),
            [top, child, ..] => (top.to_string(), child.to_string()),
        };
        let siblings = children(&src, &top);
        let direct_child = parts.len() == 2 && !own.is_empty();
        let mut named = std::collections::BTreeSet::new();
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            for (i, _) in code.match_indices("crate::") {
                let first = ident(&code[i + 7..]);
                if first == top {
                    let rest = &code[i + 7 + first.len()..];
                    let second = rest.strip_prefix("::").map(ident).unwrap_or_default();
                    if !own.is_empty() && siblings.contains(&second) {
                        named.insert((top.clone(), second));
                    }
                } else if tops.contains(&first) {
                    named.insert((first, String::new()));
                }
            }
            if direct_child {
                for (i, _) in code.match_indices("super::") {
                    let c = ident(&code[i + 7..]);
                    if siblings.contains(&c) {
                        named.insert((top.clone(), c));
                    }
                }
            }
        }
        // A top-level arrow leaves from the module; a sibling arrow from the child.
        for n in named {
            let from = if n.1.is_empty() {
                (top.clone(), String::new())
            } else {
                (top.clone(), own.clone())
            };
            if from != n {
                graph.entry(from).or_default().insert(n);
            }
        }
    }
    graph
}
/// The cycles of `graph`: every strongly connected set of more than one module.
fn cycles(
    graph: &std::collections::BTreeMap<Node, std::collections::BTreeSet<Node>>,
) -> Vec<Vec<Node>> {
    let reach = |from: &Node| {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: std::collections::BTreeMap<&Node, _> =
        graph.keys().map(|n| (n, reach(n))).collect();
    let mut out: Vec<Vec<Node>> = Vec::new();
    for n in graph.keys() {
        let set: Vec<Node> = graph
            .keys()
            .filter(|m| *m == n || (reached[n].contains(*m) && reached[*m].contains(n)))
            .cloned()
            .collect();
        if set.len() > 1 && !out.contains(&set) {
            out.push(set);
        }
    }
    out
}

/// The cycles left, each with what breaking it takes; the list only shrinks.
const KNOWN_CYCLES: [&str; 1] = [
    // The stores persist audience counts in the layout `audience::counting` defines, and the
    // pipeline writes through the store: the event and counting model belong under both.
    "audience ↔ store",
];

/// **Invariant:** no module names a module that names it back, through any path: neither
/// between top-level modules (`cli` and `demo` share `shutdown`; the audience pipeline and
/// its Matomo forwarder share `metrics` and `backoff`) nor between the children of one
/// (`http::login` and `http::domaine_gar`: the launch calls the login, never back), but for
/// [`KNOWN_CYCLES`].
#[test]
fn modules_form_no_cycle() {
    let found: Vec<String> = cycles(&module_graph())
        .into_iter()
        .map(|c| {
            c.iter()
                .map(|(t, m)| {
                    if m.is_empty() {
                        t.clone()
                    } else {
                        format!("{t}::{m}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ↔ ")
        })
        .filter(|c| !KNOWN_CYCLES.contains(&c.as_str()))
        .collect();
    assert_eq!(found, Vec::<String>::new());
}

/// The cycle check finds a cycle when there is one.
#[test]
fn the_cycle_check_sees_a_cycle() {
    let n = |t: &str, c: &str| (t.to_string(), c.to_string());
    let mut g = std::collections::BTreeMap::new();
    g.insert(n("a", ""), [n("b", "x")].into());
    g.insert(n("b", "x"), [n("b", "y")].into());
    g.insert(n("b", "y"), [n("a", "")].into());
    g.insert(n("c", ""), [n("a", "")].into());
    assert_eq!(cycles(&g), vec![vec![n("a", ""), n("b", "x"), n("b", "y")]]);
    assert!(module_graph()[&n("audience", "matomo")].contains(&n("audience", "metrics")));
}
