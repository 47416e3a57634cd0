//! Keeps the layering of ARCHITECTURE.md true: which modules may import which crates, and
//! that only `clock.rs` reads the wall clock.

use std::path::{Path, PathBuf};

use crate::support::module_graph::{arrow, cycles, module_graph, named_paths, Graph, Node};

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
const INNER: [&str; 28] = [
    "audience",
    "audit",
    "backoff",
    "cas",
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
    "partners",
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

/// **Invariant:** no module names a module that names it back, through any path: neither
/// between top-level modules (`cli` and `demo` share `shutdown`; the audience pipeline and
/// its Matomo forwarder share `metrics` and `backoff`) nor between the children of one
/// (`http::login` and `http::domaine_gar`: the launch calls the login, never back). The last
/// one, `audience` ↔ `store`, went when the audience event and counting model moved beneath
/// both, into `domain`.
#[test]
fn modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found: Vec<String> = cycles(&module_graph(&src))
        .into_iter()
        .map(|c| {
            c.iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" ↔ ")
        })
        .collect();
    assert_eq!(found, Vec::<String>::new());
}

fn node(path: &str) -> Node {
    path.split("::").map(str::to_string).collect()
}

/// The cycle check finds a cycle when there is one, at any depth.
#[test]
fn the_cycle_check_sees_a_cycle() {
    let mut g = Graph::new();
    g.insert(node("a"), [node("b::x")].into());
    g.insert(node("b::x"), [node("b::y::z")].into());
    g.insert(node("b::y::z"), [node("a")].into());
    g.insert(node("c"), [node("a")].into());
    assert_eq!(
        cycles(&g),
        vec![vec![node("a"), node("b::x"), node("b::y::z")]]
    );
}

/// The graph sees arrows at every depth, through `super::` and use-groups over several lines,
/// and draws none to an ancestor's re-exports or from a module's face to its children.
#[test]
fn the_module_graph_reads_every_depth() {
    let modules: std::collections::BTreeSet<Node> = [
        "http",
        "http::oidc",
        "http::oidc::token",
        "http::oidc::authorize",
        "http::idp",
        "flow",
        "flow::access",
    ]
    .into_iter()
    .map(node)
    .collect();
    let own = node("http::oidc::token");
    let code = "use super::{\n    authorize::grant,\n    Shared,\n};\nuse crate::{flow::access::hand_over, http::idp::answer};\nlet x = super::super::idp::y;\n";
    let arrows: Vec<(String, String)> = named_paths(code, &own)
        .iter()
        .filter_map(|p| arrow(&own, p, &modules))
        .map(|(a, b)| (a.join("::"), b.join("::")))
        .collect();
    let want = [
        ("http::oidc::token", "http::oidc::authorize"),
        ("http", "flow"),
        ("http::oidc", "http::idp"),
        ("http::oidc", "http::idp"),
    ];
    assert_eq!(
        arrows,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    let face = node("http::oidc");
    assert_eq!(arrow(&face, &node("http::oidc::token::f"), &modules), None);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph[&node("audience::matomo")].contains(&node("audience::metrics")));
    assert!(graph[&node("http")].contains(&node("flow")));
}
