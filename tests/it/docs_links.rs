//! The links between README.md, ARCHITECTURE.md and the guides of docs/ lead somewhere: every
//! relative link names a file of the repository and, with `#anchor`, a heading of that file
//! (GitHub's anchors: lower case, punctuation dropped, spaces as `-`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Lines outside code fences.
fn prose(md: &str) -> impl Iterator<Item = &str> {
    let mut fence = false;
    md.lines().filter(move |l| {
        if l.starts_with("```") {
            fence = !fence;
            return false;
        }
        !fence
    })
}

fn anchors(md: &str) -> BTreeSet<String> {
    prose(md)
        .filter_map(|l| {
            let h = l.trim_start_matches('#');
            (h.len() < l.len() && h.starts_with(' ')).then(|| slug(h))
        })
        .collect()
}

/// The targets of `[text](target)` links.
fn links(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(md) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// Broken links of the file `rel`, as sentences.
fn broken(rel: &str, md: &str) -> Vec<String> {
    let dir = root().join(rel).parent().unwrap().to_path_buf();
    let mut problems = Vec::new();
    for target in links(md) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((f, a)) => (f, Some(a)),
            None => (target.as_str(), None),
        };
        let text = if file.is_empty() {
            md.to_string()
        } else {
            let path: PathBuf = dir.join(file);
            if !path.exists() {
                problems.push(format!("{rel}: ({target}): no file {}", path.display()));
                continue;
            }
            std::fs::read_to_string(&path).unwrap_or_default()
        };
        if let Some(a) = anchor {
            if !anchors(&text).contains(a) {
                problems.push(format!("{rel}: ({target}): no heading #{a}"));
            }
        }
    }
    problems
}

fn documents() -> Vec<String> {
    let mut out = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            out.push(format!("docs/{}", p.file_name().unwrap().to_string_lossy()));
        }
    }
    out
}

#[test]
fn every_relative_link_of_the_docs_leads_to_a_file_and_a_heading() {
    let docs = documents();
    assert!(docs.len() >= 9, "{docs:?}");
    let problems: Vec<String> = docs
        .iter()
        .flat_map(|rel| broken(rel, &std::fs::read_to_string(root().join(rel)).unwrap()))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_readme_sends_every_reader_to_a_guide() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let linked = links(&readme);
    for guide in documents().iter().filter(|d| d.starts_with("docs/")) {
        assert!(linked.contains(guide), "README.md does not link {guide}");
    }
    // The test command CI runs (.ci/run) is the README's.
    assert!(readme.contains("make test"));
}

#[test]
fn a_broken_link_or_anchor_is_reported() {
    let md = "# T\n\n## Some heading: it's here\n\nSee [a](#some-heading-its-here), \
              [b](#nowhere), [c](no-such-file.md), [d](../README.md#two-commands), \
              [e](https://example.test/x#y).\n\n```\n[f](inside-a-fence.md)\n```\n";
    let problems = broken("docs/example.md", md);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].ends_with("no heading #nowhere"), "{problems:?}");
    assert!(problems[1].contains("no-such-file.md"), "{problems:?}");
}
