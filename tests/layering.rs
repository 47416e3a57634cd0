//! Keeps the layering of ARCHITECTURE.md true: which modules may import which crates, and
//! that only `clock.rs` reads the wall clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
