//! The validation answers: CAS 3 (`/p3/serviceValidate`: XML, or JSON with `format=JSON`) with
//! the released attributes as `cas:NAME` elements (one per value, repeated for several), CAS 2
//! (`/serviceValidate`: the user alone) and CAS 1 (`/validate`: `yes\n` + user, or `no\n`);
//! and every failure of the protocol, with its code.

use sha2::{Digest, Sha256};

use crate::domain::ReleasedAttributes;
use crate::saml::xml::escape;

/// `cas:authenticationFailure`'s `code` values (CAS 3.0 §2.5.3 and §2.6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// A required parameter is missing.
    InvalidRequest,
    /// Not a service ticket (a proxy ticket, or malformed).
    InvalidTicketSpec,
    /// Unknown, already validated or expired.
    InvalidTicket,
    /// Issued for another service (and now consumed).
    InvalidService,
    /// Proxying is not offered.
    UnauthorizedServiceProxy,
    /// A `pgtUrl` was given: no proxy-granting ticket is ever issued.
    InvalidProxyCallback,
    InternalError,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::InvalidRequest => "INVALID_REQUEST",
            FailureCode::InvalidTicketSpec => "INVALID_TICKET_SPEC",
            FailureCode::InvalidTicket => "INVALID_TICKET",
            FailureCode::InvalidService => "INVALID_SERVICE",
            FailureCode::UnauthorizedServiceProxy => "UNAUTHORIZED_SERVICE_PROXY",
            FailureCode::InvalidProxyCallback => "INVALID_PROXY_CALLBACK",
            FailureCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The stable code of the refusal in traces and logs.
    pub fn check(self) -> &'static str {
        match self {
            FailureCode::InvalidRequest => "cas.invalid_request",
            FailureCode::InvalidTicketSpec => "cas.invalid_ticket_spec",
            FailureCode::InvalidTicket => "cas.invalid_ticket",
            FailureCode::InvalidService => "cas.invalid_service",
            FailureCode::UnauthorizedServiceProxy => "cas.proxy",
            FailureCode::InvalidProxyCallback => "cas.proxy_callback",
            FailureCode::InternalError => "cas.internal",
        }
    }
}

/// A validation that failed: the code the provider's client reads and a short text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// How the provider asked to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CAS 3: XML with attributes.
    Xml,
    /// CAS 3 with `format=JSON`.
    Json,
    /// CAS 2 (`/serviceValidate`): XML, the user alone.
    Xml2,
    /// CAS 1 (`/validate`): two lines of text.
    Text,
}

impl Format {
    /// The format of `/p3/serviceValidate` from its `format` parameter (case-insensitive;
    /// anything but JSON is XML, as the specification says).
    pub fn v3(format: Option<&str>) -> Self {
        if format.is_some_and(|f| f.eq_ignore_ascii_case("json")) {
            Format::Json
        } else {
            Format::Xml
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xml | Format::Xml2 => "application/xml; charset=utf-8",
            Format::Json => "application/json",
            Format::Text => "text/plain; charset=utf-8",
        }
    }
}

const NS: &str = "http://www.yale.edu/tp/cas";

/// `cas:user`: an opaque value derived from the IDO (stable for the person and the resource,
/// as the IDO is, and not the IDO itself).
pub fn user_of(ido: &str) -> String {
    use base64::Engine;
    let mut h = Sha256::new();
    h.update(b"passerelle cas:user\0");
    h.update(ido.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A successful validation's body.
pub fn success(format: Format, attributes: &ReleasedAttributes) -> String {
    let user = user_of(&attributes.subject);
    match format {
        Format::Text => format!("yes\n{user}\n"),
        Format::Xml2 => format!(
            "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:authenticationSuccess>\n    <cas:user>{}</cas:user>\n  </cas:authenticationSuccess>\n</cas:serviceResponse>\n",
            escape(&user)
        ),
        Format::Xml => {
            let mut xml = format!(
                "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:authenticationSuccess>\n    <cas:user>{}</cas:user>\n    <cas:attributes>\n",
                escape(&user)
            );
            for (name, values) in &attributes.values {
                for v in values {
                    xml.push_str(&format!(
                        "      <cas:{n}>{v}</cas:{n}>\n",
                        n = name.as_str(),
                        v = escape(v)
                    ));
                }
            }
            xml.push_str("    </cas:attributes>\n  </cas:authenticationSuccess>\n</cas:serviceResponse>\n");
            xml
        }
        Format::Json => {
            let mut attrs = serde_json::Map::new();
            for (name, values) in &attributes.values {
                let v = if name.is_multi_valued() || values.len() > 1 {
                    serde_json::json!(values)
                } else {
                    serde_json::json!(values.first())
                };
                attrs.insert(name.as_str().to_string(), v);
            }
            serde_json::json!({"serviceResponse": {"authenticationSuccess": {
                "user": user,
                "attributes": attrs,
            }}})
            .to_string()
        }
    }
}

/// A failed validation's body.
pub fn failure(format: Format, f: &Failure) -> String {
    match format {
        Format::Text => "no\n\n".to_string(),
        Format::Xml | Format::Xml2 => format!(
            "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:authenticationFailure code=\"{}\">{}</cas:authenticationFailure>\n</cas:serviceResponse>\n",
            f.code.as_str(),
            escape(&f.message)
        ),
        Format::Json => serde_json::json!({"serviceResponse": {"authenticationFailure": {
            "code": f.code.as_str(),
            "description": f.message,
        }}})
        .to_string(),
    }
}

/// `/proxy`'s answer: proxying is not offered.
pub fn proxy_failure(f: &Failure) -> String {
    format!(
        "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:proxyFailure code=\"{}\">{}</cas:proxyFailure>\n</cas:serviceResponse>\n",
        f.code.as_str(),
        escape(&f.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AttributeName;

    fn attrs() -> ReleasedAttributes {
        ReleasedAttributes {
            subject: "ido-1".into(),
            values: vec![
                (AttributeName::Ido, vec!["ido-1".into()]),
                (AttributeName::Uai, vec!["0561641E".into()]),
                (
                    AttributeName::Div,
                    vec!["1S1##1S1".into(), "T<S>&1##x".into()],
                ),
                (AttributeName::PMs4, vec!["2213".into()]),
            ],
        }
    }

    #[test]
    fn xml_repeats_multi_valued_attributes_and_escapes_values() {
        let xml = success(Format::Xml, &attrs());
        assert!(xml
            .contains("<cas:DIV>1S1##1S1</cas:DIV>\n      <cas:DIV>T&lt;S&gt;&amp;1##x</cas:DIV>"));
        assert!(xml.contains("<cas:IDO>ido-1</cas:IDO>"));
        assert!(xml.contains(&format!("<cas:user>{}</cas:user>", user_of("ido-1"))));
        assert!(!xml.contains("authenticationDate"));
        assert!(!success(Format::Xml2, &attrs()).contains("cas:attributes"));
    }

    #[test]
    fn json_gives_arrays_to_multi_valued_attributes() {
        let v: serde_json::Value = serde_json::from_str(&success(Format::Json, &attrs())).unwrap();
        let a = &v["serviceResponse"]["authenticationSuccess"]["attributes"];
        assert_eq!(a["IDO"], "ido-1");
        assert_eq!(a["DIV"], serde_json::json!(["1S1##1S1", "T<S>&1##x"]));
        assert_eq!(a["P_MS4"], serde_json::json!(["2213"]));
    }

    #[test]
    fn the_user_is_opaque_and_stable() {
        assert_eq!(user_of("a"), user_of("a"));
        assert_ne!(user_of("a"), user_of("b"));
        assert!(!user_of("ido-1").contains("ido-1"));
    }

    #[test]
    fn failures_carry_their_code_in_each_format() {
        let f = Failure::new(FailureCode::InvalidService, "x < y");
        assert!(failure(Format::Xml, &f)
            .contains("<cas:authenticationFailure code=\"INVALID_SERVICE\">x &lt; y<"));
        let j: serde_json::Value = serde_json::from_str(&failure(Format::Json, &f)).unwrap();
        assert_eq!(
            j["serviceResponse"]["authenticationFailure"]["code"],
            "INVALID_SERVICE"
        );
        assert_eq!(failure(Format::Text, &f), "no\n\n");
        assert_eq!(Format::v3(Some("json")), Format::Json);
        assert_eq!(Format::v3(Some("XML")), Format::Xml);
        assert_eq!(Format::v3(None), Format::Xml);
    }
}
