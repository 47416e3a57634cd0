//! The subscription web service's bodies: `<abonnement>` in XML (or JSON with the same names)
//! to fields, to a `SubscriptionInput`, through the business rules to a `Subscription`, and
//! back to XML.
//!
//! The first byte picks XML or JSON. Properties:
//! - fields read from XML, written back as XML (every value escaped), read the same;
//! - a subscription the rules accept, written by `abonnement_xml` and read back through the
//!   same path, is the same subscription (the output-only `dateCreation`, `dateModification`
//!   and `aboSuppr` aside, which the rules set themselves; `finValidite`, always written, is
//!   accepted beside the `anneeFinValidite` it is the end of).
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use passerelle::domain::subscription_rules::{validate, Mode};
use passerelle::domain::Subscription;
use passerelle::fuzzing::{
    abonnement_xml, document, input_from_fields, read_fields, read_json_fields, Tz, ZONE,
};

const OUTPUT_ONLY: [&str; 3] = ["dateCreation", "dateModification", "aboSuppr"];

/// The time of the writes, in the zone where dates without an offset are read.
fn now() -> DateTime<Tz> {
    Utc.with_ymd_and_hms(2026, 9, 1, 8, 0, 0).single().unwrap_or_default().with_timezone(&ZONE)
}

/// A value as element content: markup escaped, and every character an XML reader could
/// trim or normalise written as a character reference.
fn content(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            c if c.is_whitespace() || c.is_control() => format!("&#x{:X};", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

/// `fields` as a `<root>` document, each `a/b` path as nested elements.
fn write_fields(root: &str, fields: &[(String, String)]) -> String {
    let mut out = format!("<{root}>");
    for (path, value) in fields {
        let names: Vec<&str> = path.split('/').collect();
        let Some((last, parents)) = names.split_last() else {
            continue;
        };
        for p in parents {
            out.push_str(&format!("<{p}>"));
        }
        if value.is_empty() {
            out.push_str(&format!("<{last}/>"));
        } else {
            out.push_str(&format!("<{last}>{}</{last}>", content(value)));
        }
        for p in parents.iter().rev() {
            out.push_str(&format!("</{p}>"));
        }
    }
    out.push_str(&format!("</{root}>"));
    out
}

/// The rules applied as the web service applies them on creation: the body's own id and
/// distributor as the URL's and the caller's.
fn accepted(fields: Vec<(String, String)>) -> Option<Subscription> {
    let input = input_from_fields(fields).ok()?;
    let id = input.id.clone().unwrap_or_default();
    let caller = input.distributor.clone().unwrap_or_default();
    validate(&input, &id, &caller, Mode::Create, None, now()).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(rest) else {
        return;
    };
    let fields = if mode & 1 == 0 {
        let Ok(fields) = read_fields(body, "abonnement") else {
            return;
        };
        if !fields.is_empty() {
            let written = write_fields("abonnement", &fields);
            match read_fields(&written, "abonnement") {
                Ok(again) => assert_eq!(again, fields, "fields read back differ from {written:?}"),
                Err(e) => panic!("fields written back are refused ({e}): {written:?}"),
            }
        }
        fields
    } else {
        let Ok(fields) = read_json_fields(body) else {
            return;
        };
        fields
    };
    let Some(subscription) = accepted(fields) else {
        return;
    };
    let xml = document(&abonnement_xml(&subscription, ZONE), None);
    let fields = match read_fields(&xml, "abonnement") {
        Ok(f) => f,
        Err(e) => panic!("abonnement_xml wrote a document the service refuses ({e}): {xml}"),
    };
    let fields: Vec<_> = fields
        .into_iter()
        .filter(|(n, _)| !OUTPUT_ONLY.contains(&n.as_str()))
        .collect();
    match accepted(fields) {
        Some(again) => assert_eq!(again, subscription, "changed through {xml}"),
        None => panic!("a subscription written by abonnement_xml is refused: {xml}"),
    }
});
