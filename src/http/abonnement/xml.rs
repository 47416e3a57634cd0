//! The subscription web service's bodies: `<abonnement>` (XML in the GAR namespace, or JSON
//! with the same names) to a neutral [`SubscriptionInput`], `<filtres>` to filters, and
//! subscriptions back to XML, every date with its offset in the subscriptions' time zone.

use chrono_tz::Tz;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::domain::subscription::LicenceCount;
use crate::domain::subscription_dates::written;
use crate::domain::subscription_rules::SubscriptionInput;
use crate::domain::{AssignmentType, PublicCible, Subscription};
use crate::saml::xml::escape;

pub const NAMESPACE: &str = "http://www.atosworldline.com/wsabonnement/v1.0/";
const MAX_BODY: usize = 256 * 1024;

/// The local name of an element, refused unless the name is an XML name (`prefix:local`,
/// letters, digits, `-`, `.`, `_`): quick-xml does not check names, and would read `<a"b>` or
/// `<p:>` as elements.
fn local(qname: &[u8]) -> Result<String, String> {
    fn is_name(n: &[u8]) -> bool {
        n.first()
            .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b >= 0x80)
            && n.iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') || b >= 0x80)
    }
    let (prefix, local) = match qname.iter().rposition(|&b| b == b':') {
        Some(i) => (Some(&qname[..i]), &qname[i + 1..]),
        None => (None, qname),
    };
    if !is_name(local) || prefix.is_some_and(|p| !is_name(p)) {
        return Err(format!(
            "XML mal formé : « {} » n'est pas un nom d'élément",
            String::from_utf8_lossy(qname)
        ));
    }
    Ok(String::from_utf8_lossy(local).into_owned())
}

/// Refuses characters XML 1.0 cannot carry (control characters but tab, line feed and carriage
/// return; U+FFFE, U+FFFF), written raw or as character references: stored, they would make
/// the service's own XML ill-formed.
fn xml_text(value: &str) -> Result<(), String> {
    match value.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    }) {
        Some(c) => Err(format!(
            "le caractère U+{:04X} n'est pas permis en XML",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// What a subscription body may hold (`xml_boundary`): 256 KiB, four levels.
const RULES: crate::xml_boundary::Rules = crate::xml_boundary::Rules {
    max_bytes: MAX_BODY,
    max_depth: 4,
    comments: true,
};

/// Reads a document whose root is `root` into its `(child path, text)` pairs, where a path is
/// the child's local name (or `parent/child` one level deeper). The XML boundary first:
/// UTF-8 only, no DTD or processing instruction, bounded; then other roots are refused.
pub fn read_fields(body: &str, root: &str) -> Result<Vec<(String, String)>, String> {
    crate::xml_boundary::check::<crate::xml_boundary::Refusal>(body.as_bytes(), &RULES, |_| Ok(()))
        .map_err(|r| r.french().to_string())?;
    let mut reader = Reader::from_str(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("XML mal formé : {e}"))?
        {
            Event::DocType(_) => return Err("les DTD ne sont pas acceptées".into()),
            Event::Start(e) => {
                let name = local(e.name().as_ref())?;
                if path.is_empty() && name != root {
                    return Err(format!("l'élément racine doit être <{root}>"));
                }
                path.push(name);
                if path.len() > 4 {
                    return Err("document trop imbriqué".into());
                }
            }
            Event::Empty(e) => {
                let name = local(e.name().as_ref())?;
                if path.is_empty() {
                    return if name == root {
                        Ok(out)
                    } else {
                        Err(format!("l'élément racine doit être <{root}>"))
                    };
                }
                out.push((
                    path[1..]
                        .iter()
                        .chain(std::iter::once(&name))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("/"),
                    String::new(),
                ));
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| format!("XML mal formé : {e}"))?
                    .into_owned();
                xml_text(&text)?;
                if path.len() >= 2 {
                    out.push((path[1..].join("/"), text));
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => {
                return if out.is_empty() && path.is_empty() {
                    Err(format!("document vide : <{root}> attendu"))
                } else {
                    Ok(out)
                }
            }
            _ => {}
        }
    }
}

/// What a list request's `<filtres>` body asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// `(filtreNom, filtreValeur)`, in order (`aboSuppr` excepted).
    pub filters: Vec<(String, String)>,
    /// `aboSuppr` = `true`, as a filter or an element.
    pub include_deleted: bool,
    /// `triPar` and `tri`, when the body gives them.
    pub sort_by: Option<String>,
    pub order: Option<String>,
}

/// Reads a list request's body
/// (`<filtres><filtre><filtreNom>..</filtreNom><filtreValeur>..</filtreValeur></filtre>...</filtres>`);
/// an empty body asks for everything.
pub fn read_filters(body: &str) -> Result<ListRequest, String> {
    let mut request = ListRequest::default();
    if body.trim().is_empty() {
        return Ok(request);
    }
    let mut name: Option<String> = None;
    for (path, value) in read_fields(body, "filtres")? {
        match path.as_str() {
            "filtre/filtreNom" => name = Some(value),
            "filtre/filtreValeur" => match name.take() {
                Some(n) if n == "aboSuppr" => request.include_deleted = value == "true",
                Some(n) => request.filters.push((n, value)),
                None => return Err("filtreValeur sans filtreNom".into()),
            },
            "aboSuppr" => request.include_deleted = value == "true",
            "triPar" => request.sort_by = Some(value),
            "tri" => request.order = Some(value),
            _ => {}
        }
    }
    Ok(request)
}

/// Reads a JSON object into the same `(name, text)` pairs (arrays give one pair per value).
pub fn read_json_fields(body: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("JSON mal formé : {e}"))?;
    let object = value.as_object().ok_or("un objet JSON est attendu")?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err("valeur JSON inattendue".to_string()),
    };
    let mut out = Vec::new();
    for (k, v) in object {
        match v {
            serde_json::Value::Array(items) => {
                for i in items {
                    out.push((k.clone(), text(i)?));
                }
            }
            v => out.push((k.clone(), text(v)?)),
        }
    }
    Ok(out)
}

/// Builds the neutral input; an unknown field is an error.
pub fn input_from_fields(fields: Vec<(String, String)>) -> Result<SubscriptionInput, String> {
    let mut i = SubscriptionInput::default();
    for (name, value) in fields {
        xml_text(&value).map_err(|e| format!("{name} : {e}"))?;
        let v = Some(value.clone());
        match name.as_str() {
            "idAbonnement" => i.id = v,
            "commentaireAbonnement" => i.comment = v,
            "idDistributeurCom" => i.distributor = v,
            "idRessource" => i.resource_id = v,
            "typeIdRessource" => i.resource_type = v,
            "libelleRessource" => i.resource_label = v,
            "debutValidite" => i.start = v,
            "finValidite" => i.end = v,
            "anneeFinValidite" => i.end_school_year = v,
            "uaiEtab" => i.uais.push(value),
            "codeNatureUAI" => i.nature_uai = v,
            "categorieAffectation" => i.category = v,
            "typeAffectation" => i.assignment_type = v,
            "nbLicenceGlobale" => i.global_licences = v,
            "nbLicenceEleve" => i.licences.push((PublicCible::Eleve, value)),
            "nbLicenceEnseignant" => i.licences.push((PublicCible::Enseignant, value)),
            "nbLicenceProfDoc" => i.licences.push((PublicCible::Documentaliste, value)),
            "nbLicenceAutrePersonnel" => i.licences.push((PublicCible::AutrePersonnel, value)),
            "publicCible" => i.audiences.push(value),
            "codeProjetRessource" => i.project_code = v,
            other => return Err(format!("champ inconnu : {other}")),
        }
    }
    Ok(i)
}

fn el(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("<{name}>{}</{name}>", escape(value)));
}

fn count(c: LicenceCount) -> String {
    match c {
        LicenceCount::Limited(n) => n.to_string(),
        LicenceCount::Unlimited => "ILLIMITE".into(),
    }
}

/// One `<abonnement>` element (without namespace declaration), its dates written with their
/// offset in `zone`. `finValidite` is always there, beside `anneeFinValidite` when the end was
/// given as a school year: clients read `finValidite`.
pub fn abonnement_xml(s: &Subscription, zone: Tz) -> String {
    let instant = |t| written(t, zone);
    let d = &s.details;
    let mut o = String::from("<abonnement>");
    el(&mut o, "idAbonnement", s.external_id());
    if let Some(c) = &d.comment {
        el(&mut o, "commentaireAbonnement", c);
    }
    el(&mut o, "idDistributeurCom", &s.distributor_id);
    el(&mut o, "idRessource", s.resource_id.as_str());
    el(&mut o, "typeIdRessource", "ark");
    el(&mut o, "libelleRessource", &s.resource_label);
    el(&mut o, "debutValidite", &instant(s.valid_from));
    el(&mut o, "finValidite", &instant(s.valid_until));
    if let Some(y) = &d.end_school_year {
        el(&mut o, "anneeFinValidite", y);
    }
    for u in &s.uais {
        el(&mut o, "uaiEtab", u.as_str());
    }
    if let Some(n) = &d.nature_uai {
        el(&mut o, "codeNatureUAI", n);
    }
    el(&mut o, "categorieAffectation", &d.category);
    el(
        &mut o,
        "typeAffectation",
        match s.assignment_type {
            AssignmentType::Indiv => "INDIV",
            AssignmentType::Etabl => "ETABL",
        },
    );
    if let Some(g) = d.global_licences {
        el(&mut o, "nbLicenceGlobale", &count(g));
    }
    for (aud, c) in &d.licences {
        let name = match aud {
            PublicCible::Eleve => "nbLicenceEleve",
            PublicCible::Enseignant => "nbLicenceEnseignant",
            PublicCible::Documentaliste => "nbLicenceProfDoc",
            PublicCible::AutrePersonnel => "nbLicenceAutrePersonnel",
        };
        el(&mut o, name, &count(*c));
    }
    for a in &s.audiences {
        el(&mut o, "publicCible", a.code());
    }
    if let Some(p) = &d.project_code {
        el(&mut o, "codeProjetRessource", p);
    }
    if let Some(t) = d.created_at {
        el(&mut o, "dateCreation", &instant(t));
    }
    if let Some(t) = d.updated_at {
        el(&mut o, "dateModification", &instant(t));
    }
    if s.deleted {
        el(&mut o, "aboSuppr", "true");
    }
    o.push_str("</abonnement>");
    o
}

/// A whole document: one `<abonnement>` or the `<abonnements>` list.
pub fn document(body: &str, root: Option<&str>) -> String {
    match root {
        Some(r) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{r} xmlns=\"{NAMESPACE}\">{body}</{r}>\n"
        ),
        None => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
            body.replacen(
                "<abonnement>",
                &format!("<abonnement xmlns=\"{NAMESPACE}\">"),
                1
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `abonnement_xml` fuzz target: a NUL or another control character (raw, or
    /// a reference quick-xml accepts such as `&#x1;`) in a value, which the service would have
    /// stored and then written into XML no parser reads.
    #[test]
    fn values_hold_only_xml_characters() {
        // A raw NUL is refused before, by the XML boundary.
        let nul = "<abonnement><commentaireAbonnement>a\u{0}b</commentaireAbonnement></abonnement>";
        assert!(read_fields(nul, "abonnement")
            .unwrap_err()
            .contains("octet nul"));
        for body in [
            "<abonnement><commentaireAbonnement>a&#x1;b</commentaireAbonnement></abonnement>",
            "<abonnement><commentaireAbonnement>a\u{1b}b</commentaireAbonnement></abonnement>",
            "<abonnement><commentaireAbonnement>\u{FFFF}</commentaireAbonnement></abonnement>",
        ] {
            let e = read_fields(body, "abonnement").unwrap_err();
            assert!(e.contains("n'est pas permis en XML"), "{body:?}: {e}");
        }
        let json = read_json_fields(r#"{"commentaireAbonnement": "a\u0001b"}"#).unwrap();
        let e = input_from_fields(json).unwrap_err();
        assert!(e.starts_with("commentaireAbonnement : "), "{e}");
        let fine = read_fields(
            "<abonnement><commentaireAbonnement>a&#x9;b\r\nc é</commentaireAbonnement></abonnement>",
            "abonnement",
        )
        .unwrap();
        assert_eq!(fine[0].1, "a\tb\r\nc é");
        assert!(input_from_fields(fine).is_ok());
    }

    /// Found by the `abonnement_xml` fuzz target: element names quick-xml let through (a quote
    /// in the name, an empty local name) made fields that, written back, were another document.
    #[test]
    fn element_names_must_be_xml_names() {
        for body in [
            r#"<abonnement><a"b">x</a"b"></abonnement>"#,
            "<abonnement><p:>x</p:></abonnement>",
            "<abonnement><:a>x</:a></abonnement>",
            "<abonnement><1a>x</1a></abonnement>",
            "<abonnement><a:b:c/></abonnement>",
            r#"<x:"abonnement"/>"#,
        ] {
            let e = read_fields(body, "abonnement").unwrap_err();
            assert!(e.contains("nom d'élément"), "{body}: {e}");
        }
        let fields = read_fields(
            "<g:abonnement xmlns:g=\"x\"><g:uaiEtab>0561641E</g:uaiEtab><nb_Licence-é.1/></g:abonnement>",
            "abonnement",
        )
        .unwrap();
        assert_eq!(
            fields,
            [
                ("uaiEtab".to_string(), "0561641E".to_string()),
                ("nb_Licence-é.1".to_string(), String::new())
            ]
        );
    }
}
