//! The XML boundary: the structural checks every XML document from a peer passes before it is
//! parsed for its meaning. SAML messages and metadata (`saml::guard`, which adds the signature
//! checks), subscription bodies (`http::abonnement::xml`) and directory export files
//! (`feed::parse`) all come through [`check`].
//!
//! Refused: oversized documents; anything but UTF-8 (a declared `encoding` other than UTF-8,
//! a UTF-16/32 byte-order mark, NUL bytes, bytes that are not UTF-8: a parser that obeys the
//! declaration, such as libxml2, would read another document than this check); DTDs (and so
//! every entity but the five predefined ones); processing instructions; comments where the
//! caller says so; nesting beyond a depth; anything not well-formed.

use quick_xml::events::{BytesDecl, BytesStart, Event};
use quick_xml::Reader;

/// What a kind of document may hold.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub max_bytes: usize,
    pub max_depth: usize,
    /// Comments are harmless where nothing signed is read (metadata, exports, bodies), and
    /// refused in signed messages (comment-injection truncation).
    pub comments: bool,
}

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooLarge,
    Encoding,
    Dtd,
    Comment,
    ProcessingInstruction,
    TooDeep,
    Malformed,
}

/// A refusal, with the byte offset it was found at and what an operator needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: Refused,
    pub offset: usize,
    pub detail: String,
}

impl Refusal {
    fn new(kind: Refused, offset: usize, detail: impl Into<String>) -> Self {
        Self {
            kind,
            offset,
            detail: detail.into(),
        }
    }

    /// What the peer is told, in French (exports and subscription bodies).
    pub fn french(&self) -> &'static str {
        match self.kind {
            Refused::TooLarge => "le document est trop volumineux",
            Refused::Encoding => "seul l'encodage UTF-8 est accepté (déclaration encoding, marque d'ordre des octets UTF-16/32, octet nul ou octets invalides)",
            Refused::Dtd => "les DTD et les entités ne sont pas acceptées",
            Refused::Comment => "les commentaires XML ne sont pas acceptés",
            Refused::ProcessingInstruction => "les instructions de traitement ne sont pas acceptées",
            Refused::TooDeep => "document trop imbriqué",
            Refused::Malformed => "XML mal formé",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.detail, self.offset)
    }
}

/// Checks `bytes` against `rules`, calling `each` on every element's start tag (the SAML
/// guard uses it to refuse duplicate IDs).
pub fn check<E: From<Refusal>>(
    bytes: &[u8],
    rules: &Rules,
    mut each: impl FnMut(&BytesStart<'_>) -> Result<(), E>,
) -> Result<(), E> {
    if bytes.len() > rules.max_bytes {
        return Err(Refusal::new(
            Refused::TooLarge,
            0,
            format!(
                "document of {} bytes exceeds the limit of {}",
                bytes.len(),
                rules.max_bytes
            ),
        )
        .into());
    }
    check_encoding(bytes)?;
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Refusal::new(Refused::Encoding, e.valid_up_to(), "document is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    let mut first = true;
    loop {
        let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let refuse = |kind, detail: &str| Refusal::new(kind, at, detail);
        let event = reader.read_event();
        let at_start = std::mem::replace(&mut first, false);
        match event {
            // quick-xml reads `<?xml ...?>` anywhere as a declaration; anywhere but first it is
            // a processing instruction to libxml2 (found by the `xml_guard` fuzz target).
            Ok(Event::Decl(_)) if !at_start => {
                return Err(refuse(
                    Refused::Malformed,
                    "an XML declaration is only allowed at the start of the document",
                )
                .into())
            }
            Ok(Event::Decl(decl)) => {
                // The first event: its text runs from `<?xml` to the first `?>` (quick-xml's
                // positions skip a byte-order mark, so they are not used here).
                let raw = text
                    .find("<?xml")
                    .and_then(|s| text[s..].find("?>").map(|e| &text[s..s + e + 2]))
                    .unwrap_or("");
                check_declaration(&decl, raw, at)?;
            }
            Ok(Event::DocType(_)) => {
                return Err(refuse(Refused::Dtd, "document contains a DOCTYPE").into())
            }
            Ok(Event::Comment(_)) if rules.comments => {}
            Ok(Event::Comment(_)) => {
                return Err(refuse(Refused::Comment, "document contains an XML comment").into())
            }
            Ok(Event::PI(_)) => {
                return Err(refuse(
                    Refused::ProcessingInstruction,
                    "document contains a processing instruction",
                )
                .into())
            }
            Ok(Event::Start(s)) => {
                depth += 1;
                if depth > rules.max_depth {
                    return Err(refuse(Refused::TooDeep, "document is nested too deeply").into());
                }
                each(&s)?;
            }
            Ok(Event::Empty(s)) => {
                if depth + 1 > rules.max_depth {
                    return Err(refuse(Refused::TooDeep, "document is nested too deeply").into());
                }
                each(&s)?;
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(at);
                return Err(Refusal::new(
                    Refused::Malformed,
                    at,
                    format!("not well-formed XML: {e}"),
                )
                .into());
            }
        }
    }
}

/// Refuses byte-order marks and NUL bytes that make libxml2 read the bytes as UTF-16 or UTF-32
/// (its encoding detection looks at the first four bytes), whatever a UTF-8 reader sees. A
/// UTF-8 byte-order mark is accepted.
pub fn check_encoding(bytes: &[u8]) -> Result<(), Refusal> {
    const WIDE_BOMS: [&[u8]; 4] = [
        &[0x00, 0x00, 0xFE, 0xFF],
        &[0xFF, 0xFE, 0x00, 0x00],
        &[0xFE, 0xFF],
        &[0xFF, 0xFE],
    ];
    if WIDE_BOMS.iter().any(|bom| bytes.starts_with(bom)) {
        return Err(Refusal::new(
            Refused::Encoding,
            0,
            "document starts with a UTF-16 or UTF-32 byte-order mark; only UTF-8 is accepted",
        ));
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(Refusal::new(
            Refused::Encoding,
            at,
            "document contains a NUL byte; only UTF-8 text is accepted",
        ));
    }
    Ok(())
}

/// A declaration must be readable (its `version` first) and may declare only UTF-8: libxml2
/// decodes by the declaration (UTF-7, ISO-8859-x, ...), which would make it read another
/// document than this check. A declaration whose `encoding` quick-xml cannot read, though its
/// text names one, is refused too (found by the `xml_guard` fuzz target: garbage before
/// `encoding=` hid it).
fn check_declaration(decl: &BytesDecl<'_>, raw: &str, at: usize) -> Result<(), Refusal> {
    if !strict_declaration(raw) {
        return Err(Refusal::new(
            Refused::Malformed,
            at,
            "the XML declaration is not of the form <?xml version=\"1.x\" encoding=\"...\" standalone=\"...\"?>",
        ));
    }
    if decl.version().is_err() {
        return Err(Refusal::new(
            Refused::Malformed,
            at,
            "the XML declaration does not start with its version",
        ));
    }
    let declared = decl.encoding();
    if raw.contains("encoding") && declared.is_none() {
        return Err(Refusal::new(
            Refused::Malformed,
            at,
            "the XML declaration names an encoding that cannot be read",
        ));
    }
    match declared {
        None => Ok(()),
        Some(Ok(enc)) if enc.eq_ignore_ascii_case(b"utf-8") => Ok(()),
        Some(Ok(enc)) => Err(Refusal::new(
            Refused::Encoding,
            at,
            format!(
                "the XML declaration names the encoding {:?}; only UTF-8 is accepted",
                String::from_utf8_lossy(&enc)
                    .chars()
                    .take(32)
                    .collect::<String>()
            ),
        )),
        Some(Err(e)) => Err(Refusal::new(
            Refused::Malformed,
            at,
            format!("bad XML declaration: {e}"),
        )),
    }
}

/// Whether `raw` is exactly an XML 1.0 declaration (productions 23 to 32, 80 and 81): `<?xml`,
/// then `version`, optionally `encoding`, optionally `standalone`, each once, in that order,
/// each after white space, then `?>`. Anything else would be read one way by quick-xml and
/// another by libxml2 (found by the `xml_guard` fuzz target: two `encoding`s, the first
/// read by one parser and a later one by another).
fn strict_declaration(raw: &str) -> bool {
    let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let Some(mut rest) = raw.strip_prefix("<?xml").and_then(|r| r.strip_suffix("?>")) else {
        return false;
    };
    let space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut names = ["version", "encoding", "standalone"].into_iter().peekable();
    let mut first = true;
    loop {
        let trimmed = rest.trim_start_matches(space);
        if trimmed.is_empty() {
            return !first;
        }
        if trimmed.len() == rest.len() {
            return false; // no white space before a pseudo-attribute
        }
        rest = trimmed;
        // The next pseudo-attribute is one of those still allowed, in order.
        let Some(name) = names.by_ref().find(|n| rest.starts_with(n)) else {
            return false;
        };
        if first && name != "version" {
            return false;
        }
        first = false;
        rest = rest[name.len()..].trim_start_matches(space);
        let Some(r) = rest.strip_prefix('=') else {
            return false;
        };
        rest = r.trim_start_matches(space);
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            return false;
        };
        let Some(end) = rest[1..].find(quote) else {
            return false;
        };
        let value = &rest[1..1 + end];
        let ok = match name {
            "version" => value
                .strip_prefix("1.")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
            "encoding" => {
                value.starts_with(|c: char| c.is_ascii_alphabetic())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            }
            _ => value == "yes" || value == "no",
        };
        if !ok {
            return false;
        }
        rest = &rest[2 + end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        max_bytes: 4096,
        max_depth: 4,
        comments: true,
    };

    fn kind(doc: &[u8], rules: &Rules) -> Option<Refused> {
        check::<Refusal>(doc, rules, |_| Ok(()))
            .err()
            .map(|r| r.kind)
    }

    #[test]
    fn every_document_is_utf8_without_dtd_or_instructions_and_bounded() {
        assert_eq!(
            kind(
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a><b/></a>",
                &RULES
            ),
            None
        );
        assert_eq!(
            kind(b"\xEF\xBB\xBF<a/>", &RULES),
            None,
            "a UTF-8 BOM is fine"
        );
        assert_eq!(kind(b"<a><!-- note --></a>", &RULES), None);
        for (doc, refused) in [
            (
                &b"<?xml version=\"1.0\" encoding=\"UTF-7\"?><a/>"[..],
                Refused::Encoding,
            ),
            (
                b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xE9</a>",
                Refused::Encoding,
            ),
            (b"\xFF\xFE<\x00a\x00/\x00>\x00", Refused::Encoding),
            (b"<a>\x00</a>", Refused::Encoding),
            (b"<a>\xE9</a>", Refused::Encoding),
            (
                b"<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>",
                Refused::Dtd,
            ),
            (
                b"<a><?xml-stylesheet href=\"x\"?></a>",
                Refused::ProcessingInstruction,
            ),
            (b"<a><b><c><d><e/></d></c></b></a>", Refused::TooDeep),
            (b"<a><b></a>", Refused::Malformed),
        ] {
            assert_eq!(
                kind(doc, &RULES),
                Some(refused),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
        assert_eq!(
            kind(
                b"<a><!-- x --></a>",
                &Rules {
                    comments: false,
                    ..RULES
                }
            ),
            Some(Refused::Comment)
        );
        assert_eq!(kind(&[b'a'; 5000], &RULES), Some(Refused::TooLarge));
        let r = check::<Refusal>(b"<a>\n<b>\x00</b></a>", &RULES, |_| Ok(())).unwrap_err();
        assert_eq!(r.offset, 7, "the offset names where");
    }

    /// Found by the `xml_guard` fuzz target: garbage before `encoding=` hid the encoding from
    /// quick-xml, which then let any declared encoding through.
    #[test]
    fn an_unreadable_declaration_is_refused() {
        let found = include_bytes!("../fuzz/regressions/xml_guard-unreadable-declaration.bin");
        assert_eq!(kind(found, &RULES), Some(Refused::Malformed));
        for doc in [
            &b"<?xml encoding=\"UTF-7\"?><a/>"[..],
            b"<?xml version=\"1.0\" x=\"y\" encoding=\"UTF-7\"?><a/>",
            b"<?xml version=\"1.0\" encoding=UTF-7?><a/>",
        ] {
            assert!(
                kind(doc, &RULES).is_some(),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
        assert_eq!(
            kind(b"<?xml version=\"1.0\" standalone=\"yes\"?><a/>", &RULES),
            None
        );
        // Found next: two encodings, glued to the version; quick-xml reads the first.
        let found = include_bytes!("../fuzz/regressions/xml_guard-two-encodings.bin");
        assert_eq!(kind(found, &RULES), Some(Refused::Malformed));
        for (decl, ok) in [
            ("<?xml version=\"1.0\"?>", true),
            ("\u{feff}<?xml version=\"1.0\"?>", true),
            (
                "<?xml version='1.0' encoding='utf-8' standalone='no' ?>",
                true,
            ),
            ("<?xml\tversion = \"1.1\"\nencoding=\"UTF-8\"?>", true),
            ("<?xml version=\"1.0\"encoding=\"UTF-8\"?>", false),
            (
                "<?xml version=\"1.0\" encoding=\"UTF-8\" encoding=\"UTF-7\"?>",
                false,
            ),
            ("<?xml encoding=\"UTF-8\" version=\"1.0\"?>", false),
            (
                "<?xml version=\"1.0\" standalone=\"yes\" encoding=\"UTF-8\"?>",
                false,
            ),
            ("<?xml version=\"2.0\"?>", false),
            ("<?xml version=\"1.0\" x=\"y\"?>", false),
            ("<?xml?>", false),
        ] {
            assert_eq!(strict_declaration(decl), ok, "{decl}");
        }
    }
}
