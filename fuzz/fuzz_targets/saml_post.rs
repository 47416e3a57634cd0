//! The HTTP-POST binding: base64 (with the line breaks peers insert) to UTF-8 text, within a cap.
//!
//! Properties: a decoded message never exceeds the cap, is UTF-8 without NUL bytes or a wide
//! byte-order mark; a message within the cap, base64-encoded (compact or wrapped in 76-column
//! lines), decodes to itself.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use passerelle::saml::binding::decode_post;

const CAP: usize = 4096;

fn check_decoded(text: &str) {
    assert!(text.len() <= CAP, "decoded {} bytes past the cap {CAP}", text.len());
    assert!(!text.contains('\0'), "a NUL byte was let through");
}

/// Whether the XML boundary's encoding checks accept `bytes` as text.
fn plain_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // The form value as sent.
        let value = String::from_utf8_lossy(rest);
        if let Ok(text) = decode_post(&value, CAP) {
            check_decoded(&text);
        }
        return;
    }
    // A message, encoded as a peer would.
    let encoded = STANDARD.encode(rest);
    let wrapped = mode & 2 != 0;
    let value = if wrapped {
        encoded
            .as_bytes()
            .chunks(76)
            .map(|l| std::str::from_utf8(l).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\r\n")
    } else {
        encoded
    };
    let decoded = decode_post(&value, CAP);
    if let Ok(text) = &decoded {
        check_decoded(text);
        assert_eq!(text.as_bytes(), rest, "decoded to another message");
    }
    if rest.len() <= CAP && plain_text(rest) {
        assert!(
            decoded.is_ok(),
            "a {}-byte message (cap {CAP}, wrapped: {wrapped}) was refused: {decoded:?}",
            rest.len()
        );
    }
});
