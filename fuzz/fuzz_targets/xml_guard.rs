//! The XML boundary (`saml::guard`), which every inbound SAML document passes before libxml2
//! and xmlsec see it.
//!
//! Properties, checked by an independent scan of the accepted text (CDATA sections and quoted
//! attribute values skipped, as an XML parser does):
//! - an accepted message is UTF-8, without NUL bytes or a UTF-16/32 byte-order mark;
//! - it has no `<!DOCTYPE`/`<!ENTITY` (nor any other markup declaration), and no processing
//!   instruction: at most an XML declaration at the very start, naming UTF-8 if any encoding;
//! - a message (not metadata) has no comment;
//! - what `check_xml` accepts, `check_metadata` accepts;
//! - what `check_signatures` accepts under the strict policy it accepts, with the same
//!   summary, under the policy that allows every algorithm (SHA-1 included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle::saml::algorithms::{AlgorithmPolicy, SigAlg};
use passerelle::saml::guard::{check_metadata, check_signatures, check_xml, root_name};

const MAX: usize = 64 * 1024;

/// What the scan found in a document.
#[derive(Debug, Default)]
struct Markup {
    comments: usize,
    /// `<!` not opening a comment or a CDATA section (`<!DOCTYPE`, `<!ENTITY`, ...).
    declarations: usize,
    /// Processing instructions, the XML declaration at the start excepted.
    instructions: usize,
    /// The encoding the XML declaration names, if any.
    encoding: Option<String>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> usize {
    hay[from.min(hay.len())..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map_or(hay.len(), |p| from + p)
}

/// The `encoding` pseudo-attribute of an XML declaration's content (`version="1.0" ...`).
fn declared_encoding(decl: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < decl.len() {
        if decl[i..].starts_with(b"encoding") && (i == 0 || is_space(decl[i - 1])) {
            let mut j = i + b"encoding".len();
            while j < decl.len() && is_space(decl[j]) {
                j += 1;
            }
            if decl.get(j) == Some(&b'=') {
                j += 1;
                while j < decl.len() && is_space(decl[j]) {
                    j += 1;
                }
                if let Some(&q) = decl.get(j).filter(|q| **q == b'"' || **q == b'\'') {
                    let end = find(decl, j + 1, &[q]);
                    return Some(String::from_utf8_lossy(&decl[j + 1..end]).into_owned());
                }
            }
        }
        i += 1;
    }
    None
}

fn scan(text: &[u8]) -> Markup {
    let mut m = Markup::default();
    let start = if text.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with(b"<![CDATA[") {
            i = find(text, i + 9, b"]]>") + 3;
        } else if rest.starts_with(b"<!--") {
            m.comments += 1;
            i = find(text, i + 4, b"-->") + 3;
        } else if rest.starts_with(b"<!") {
            m.declarations += 1;
            i += 2;
        } else if rest.starts_with(b"<?") {
            let end = find(text, i + 2, b"?>");
            let body = &text[i + 2..end.min(text.len())];
            let is_decl = i == start
                && body.starts_with(b"xml")
                && body.get(3).is_none_or(|b| is_space(*b));
            if is_decl {
                m.encoding = declared_encoding(&body[3..]);
            } else {
                m.instructions += 1;
            }
            i = end + 2;
        } else if rest.starts_with(b"<") {
            // A tag: up to '>', quoted attribute values skipped.
            let mut j = i + 1;
            let mut quote = None;
            while j < text.len() {
                match (quote, text[j]) {
                    (None, b'>') => break,
                    (None, q @ (b'"' | b'\'')) => quote = Some(q),
                    (Some(q), b) if b == q => quote = None,
                    _ => {}
                }
                j += 1;
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    m
}

fn check_accepted(data: &[u8], comments_allowed: bool) {
    assert!(std::str::from_utf8(data).is_ok(), "accepted non-UTF-8");
    assert!(!data.contains(&0), "accepted a NUL byte");
    assert!(
        !data.starts_with(&[0xFE, 0xFF]) && !data.starts_with(&[0xFF, 0xFE]),
        "accepted a wide byte-order mark"
    );
    let m = scan(data);
    assert_eq!(m.declarations, 0, "accepted a markup declaration: {m:?}");
    assert_eq!(m.instructions, 0, "accepted a processing instruction: {m:?}");
    if let Some(enc) = &m.encoding {
        assert!(enc.eq_ignore_ascii_case("utf-8"), "accepted the encoding {enc:?}");
    }
    if !comments_allowed {
        assert_eq!(m.comments, 0, "accepted a comment in a message");
    }
}

fuzz_target!(|data: &[u8]| {
    let xml = check_xml(data, MAX);
    let metadata = check_metadata(data, MAX);
    if xml.is_ok() {
        check_accepted(data, false);
        assert!(metadata.is_ok(), "a message passes, as metadata it does not: {metadata:?}");
    }
    if metadata.is_ok() {
        check_accepted(data, true);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = root_name(text);
    let strict = check_signatures(text, &AlgorithmPolicy::default());
    if let Ok(summary) = strict {
        let lax = AlgorithmPolicy::new(SigAlg::ALL);
        assert_eq!(check_signatures(text, &lax), Ok(summary));
    }
});
