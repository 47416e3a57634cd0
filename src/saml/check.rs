//! The checks a SAML message can fail, one variant each, with the stable code that pages, logs,
//! traces and metrics carry (`saml.signature`, ...), and the kind of failure each one is.

use crate::check_codes::check_codes;

check_codes! {
    /// One check of a SAML message (or of the gateway's own SAML work) that can refuse it.
    pub enum Check: "saml." {
        /// The message is larger than `saml.max_message_bytes`.
        TooLarge = "too_large",
        /// Not well-formed XML, not base64, not deflate, or not the message expected.
        Malformed = "malformed",
        /// Not UTF-8, or an encoding declaration other than UTF-8.
        Encoding = "encoding",
        /// A document type declaration (entities are never expanded).
        Dtd = "dtd",
        /// A comment (a classic way to split a signed value).
        Comment = "comment",
        /// The signature does not verify with a configured key.
        Signature = "signature",
        /// A signature the profile requires is missing.
        Unsigned = "unsigned",
        /// A signature or digest algorithm outside the allowed list.
        Algorithm = "algorithm",
        /// A signature reference that does not designate the signed element by its ID.
        Reference = "reference",
        /// Signature wrapping: the element read is not the element signed.
        Wrapping = "wrapping",
        /// `Destination` is not the gateway's endpoint.
        Destination = "destination",
        /// `Issuer` is not the configured partner.
        Issuer = "issuer",
        /// The assertion is not addressed to the gateway (`AudienceRestriction`).
        Audience = "audience",
        /// Past `NotOnOrAfter`.
        Expired = "expired",
        /// Before `NotBefore` or issued in the future.
        NotYetValid = "not_yet_valid",
        /// `InResponseTo` names no request this gateway sent from this browser.
        InResponseTo = "in_response_to",
        /// The message or assertion was already used.
        Replay = "replay",
        /// `Subject` or its confirmation is missing or unusable.
        Subject = "subject",
        /// A required attribute is missing or invalid.
        Attributes = "attributes",
        /// The partner answered with a non-success status.
        Status = "status",
        /// Encrypted content the gateway is not configured to decrypt.
        Encrypted = "encrypted",
        /// `SubjectConfirmationData Recipient` is not the gateway's ACS.
        Recipient = "recipient",
        /// A binding the endpoint does not accept.
        Binding = "binding",
        /// The response arrived in another browser than the request left from.
        BrowserBinding = "browser_binding",
        /// `ForceAuthn` could not be honoured.
        ForceAuthn = "force_authn",
        /// The AssertionConsumerService requested is not one of the provider's.
        Acs = "acs",
        /// The gateway's configuration does not allow answering (a missing key, an unknown partner).
        Config = "config",
        /// The gateway failed on its side (a signing error, a crashed task).
        Internal = "internal",
        /// Every signature slot of this node is busy.
        Busy = "busy",
    }
}

/// What kind of failure a check is, which decides the HTTP status of the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The message cannot be read (400, 413 when too large).
    Unreadable,
    /// The message was read and refused (403).
    Refused,
    /// The gateway cannot answer (500).
    Gateway,
    /// The gateway is overloaded (503).
    Busy,
}

impl Check {
    /// The kind of failure, for the status of the answer.
    pub const fn kind(self) -> Kind {
        match self {
            Check::TooLarge | Check::Malformed => Kind::Unreadable,
            Check::Internal => Kind::Gateway,
            Check::Busy => Kind::Busy,
            Check::Encoding
            | Check::Dtd
            | Check::Comment
            | Check::Signature
            | Check::Unsigned
            | Check::Algorithm
            | Check::Reference
            | Check::Wrapping
            | Check::Destination
            | Check::Issuer
            | Check::Audience
            | Check::Expired
            | Check::NotYetValid
            | Check::InResponseTo
            | Check::Replay
            | Check::Subject
            | Check::Attributes
            | Check::Status
            | Check::Encrypted
            | Check::Recipient
            | Check::Binding
            | Check::BrowserBinding
            | Check::ForceAuthn
            | Check::Acs
            | Check::Config => Kind::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_saml_snake_case_and_distinct() {
        let mut codes: Vec<_> = Check::ALL.iter().map(|c| c.code()).collect();
        for c in &codes {
            let name = c.strip_prefix("saml.").expect("saml. prefix");
            assert!(
                name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Check::ALL.len());
        assert_eq!(Check::Signature.to_string(), "saml.signature");
        assert_eq!(Check::Busy.kind(), Kind::Busy);
        assert_eq!(Check::TooLarge.kind(), Kind::Unreadable);
        assert_eq!(Check::Replay.kind(), Kind::Refused);
    }
}
