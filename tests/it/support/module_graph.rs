//! The crate's module graph, read from the source text: which module names which, at every
//! depth, and the cycles in it. `layering` checks that there are none.
//!
//! A module is a path from the crate root (`["http", "oidc", "token"]`). A file names a module
//! by a path from `crate::`, `super::` or `self::` (use-groups such as `crate::a::{b, c::d}`
//! expanded, over several lines). Each named path is cut to the modules it goes through, and
//! becomes an arrow between the two children of the deepest module that holds both the file
//! and what it names: `http::oidc::token` naming `crate::http::idp::x` is the arrow
//! `http::oidc` → `http::idp`; naming `crate::flow::Deps` is `http` → `flow`. A module naming
//! its own descendants (a `mod.rs` re-exporting its children: the module's face) or one of its
//! ancestors (through their re-exports) is not an arrow. Test code (`*_tests.rs`, and a file's
//! `#[cfg(test)]` module at its end) is left out, and so are comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module: its path from the crate root.
pub type Node = Vec<String>;

/// Who names whom.
pub type Graph = BTreeMap<Node, BTreeSet<Node>>;

/// The module of a source file, from its path under `src/` (`a/b.rs` and `a/b/mod.rs` are
/// `a::b`); `None` for the crate roots and test files.
fn module_of(rel: &str) -> Option<Node> {
    if rel.ends_with("_tests.rs") {
        return None;
    }
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    match parts.as_slice() {
        [] => None,
        [only] if only == "lib" || only == "main" => None,
        _ => Some(parts),
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The code of a file: comment lines dropped, and nothing from its closing `#[cfg(test)]`.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("#[cfg(test)]") {
            break;
        }
        if l.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Reads one use-tree at `*i` (`a::b`, `a::{b, c::d}`, `a::*`, `self`, `super::x`) under
/// `prefix`, pushing every full path it names.
fn use_tree(s: &[char], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && s[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(i);
        if *i < s.len() && s[*i] == '{' {
            *i += 1;
            loop {
                skip_ws(i);
                if *i >= s.len() {
                    return;
                }
                if s[*i] == '}' {
                    *i += 1;
                    return;
                }
                let before = *i;
                use_tree(s, i, prefix.clone(), out);
                skip_ws(i);
                if *i < s.len() && s[*i] == ',' {
                    *i += 1;
                } else if *i == before {
                    *i += 1; // something a use-tree never holds: step over it
                }
            }
        }
        let start = *i;
        while *i < s.len() && is_ident(s[*i]) {
            *i += 1;
        }
        let ident: String = s[start..*i].iter().collect();
        match ident.as_str() {
            "" => {
                out.push(prefix);
                return;
            }
            "self" | "crate" => {}
            "super" => {
                prefix.pop();
            }
            _ => prefix.push(ident),
        }
        if s[*i..].starts_with(&[':', ':']) {
            *i += 2;
        } else {
            out.push(prefix);
            return;
        }
    }
}

/// Every path the code names from `crate::`, `super::` or `self::`, resolved from the crate
/// root, for a file of module `own`.
pub fn named_paths(code: &str, own: &[String]) -> Vec<Vec<String>> {
    let s: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let boundary = i == 0 || !(is_ident(s[i - 1]) || s[i - 1] == ':');
        let rest = &s[i..];
        let root = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|r| rest.starts_with(&r.chars().collect::<Vec<_>>()));
        match root {
            Some(r) if boundary => {
                let prefix = if r == "crate::" {
                    Vec::new()
                } else {
                    own.to_vec()
                };
                use_tree(&s, &mut i, prefix, &mut out);
            }
            _ => i += 1,
        }
    }
    out
}

/// The arrow a file of module `own` draws by naming `path`, given every module there is.
pub fn arrow(own: &[String], path: &[String], modules: &BTreeSet<Node>) -> Option<(Node, Node)> {
    let depth = (1..=path.len())
        .rev()
        .find(|n| modules.contains(&path[..*n].to_vec()))?;
    let named = &path[..depth];
    let common = own.iter().zip(named).take_while(|(a, b)| a == b).count();
    if common == named.len() || common == own.len() {
        return None; // an ancestor, itself, or a descendant
    }
    Some((own[..=common].to_vec(), named[..=common].to_vec()))
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module graph of the crate under `src`.
pub fn module_graph(src: &Path) -> Graph {
    let mut sources = Vec::new();
    files(src, &mut sources);
    let rel = |f: &Path| {
        f.strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/")
    };
    let mut modules = BTreeSet::new();
    for f in &sources {
        if let Some(m) = module_of(&rel(f)) {
            for n in 1..=m.len() {
                modules.insert(m[..n].to_vec());
            }
        }
    }
    let mut graph = Graph::new();
    for f in &sources {
        let Some(own) = module_of(&rel(f)) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for path in named_paths(&code, &own) {
            if let Some((from, to)) = arrow(&own, &path, &modules) {
                graph.entry(from).or_default().insert(to);
            }
        }
    }
    graph
}

/// The cycles of `graph`: every strongly connected set of more than one module.
pub fn cycles(graph: &Graph) -> Vec<Vec<Node>> {
    let reach = |from: &Node| {
        let mut seen = BTreeSet::new();
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
    let reached: BTreeMap<&Node, _> = graph.keys().map(|n| (n, reach(n))).collect();
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
