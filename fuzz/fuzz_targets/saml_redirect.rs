//! The HTTP-Redirect binding: the raw query string split into its SAML parameters, then
//! base64 and a DEFLATE inflate bounded by a cap.
//!
//! The first byte picks what the rest is:
//! - a raw query string: `RedirectQuery::parse`, then `decode_redirect` of the message;
//! - raw DEFLATE data (base64-encoded here, so that the fuzzer works on the compressed bytes);
//! - a message, deflated and encoded as a peer would, with a RelayState, into a query.
//!
//! Properties: an inflated message never exceeds its cap and is UTF-8 without NUL bytes; a
//! RelayState past `MAX_RELAY_STATE` is refused; an unsigned or unverifiable query never
//! verifies; a message within the cap survives deflate + base64 + URL encoding + parse +
//! inflate unchanged.
#![no_main]

use std::cell::RefCell;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::{Compress, Compression, FlushCompress, Status};
use libfuzzer_sys::fuzz_target;
use passerelle::saml::algorithms::AlgorithmPolicy;
use passerelle::saml::binding::{decode_redirect, RedirectQuery, MAX_RELAY_STATE};

const CAP: usize = 2048;

fn check_inflated(text: &str, cap: usize) {
    assert!(text.len() <= cap, "inflated {} bytes past the cap {cap}", text.len());
    assert!(!text.contains('\0'), "a NUL byte was let through");
}

fn query(raw: &str) {
    let Ok(q) = RedirectQuery::parse(raw, "SAMLRequest") else {
        return;
    };
    if let Some(rs) = &q.relay_state {
        assert!(rs.len() <= MAX_RELAY_STATE, "RelayState of {} bytes", rs.len());
    }
    if let Ok(text) = decode_redirect(&q.message, CAP) {
        check_inflated(&text, CAP);
    }
    // No certificate: nothing verifies, whatever the query says.
    assert!(q.verify(&[], &AlgorithmPolicy::default()).is_err());
}

fn inflate(compressed: &[u8], cap: usize) {
    if let Ok(text) = decode_redirect(&STANDARD.encode(compressed), cap) {
        check_inflated(&text, cap);
        // What inflated within the cap inflates the same again once re-deflated.
        let again = decode_redirect(&deflate_base64(text.as_bytes()), cap);
        assert_eq!(again.as_deref(), Ok(text.as_str()));
    }
}

thread_local! {
    /// One compressor, reset for each message: a new one costs more than the rest of a run.
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

/// Raw DEFLATE (as the Redirect binding sends it), base64-encoded.
fn deflate_base64(bytes: &[u8]) -> String {
    DEFLATE.with(|c| {
        let mut c = c.borrow_mut();
        c.reset();
        let mut out = Vec::with_capacity(bytes.len() / 2 + 128);
        loop {
            let consumed = usize::try_from(c.total_in()).unwrap_or(bytes.len());
            match c.compress_vec(&bytes[consumed..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => break,
                Ok(_) => out.reserve(out.capacity().max(128)),
                Err(e) => panic!("deflate: {e}"),
            }
        }
        STANDARD.encode(out)
    })
}

fn round_trip(message: &[u8], relay_state: &str) {
    let encoded = deflate_base64(message);
    let raw = format!(
        "SAMLRequest={}&RelayState={}",
        urlencoding::encode(&encoded),
        urlencoding::encode(relay_state)
    );
    let parsed = RedirectQuery::parse(&raw, "SAMLRequest");
    if relay_state.len() > MAX_RELAY_STATE {
        assert!(parsed.is_err(), "a RelayState past the limit was accepted");
        return;
    }
    let q = match parsed {
        Ok(q) => q,
        Err(e) => panic!("a well-formed query was refused: {e}"),
    };
    assert_eq!(q.message, encoded);
    assert_eq!(q.relay_state.as_deref(), Some(relay_state));
    let decoded = decode_redirect(&q.message, CAP);
    match std::str::from_utf8(message) {
        Ok(text) if message.len() <= CAP && !message.contains(&0) => {
            assert_eq!(decoded.as_deref(), Ok(text));
        }
        _ => assert!(decoded.is_err(), "{} bytes accepted", message.len()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => query(&String::from_utf8_lossy(rest)),
        // A small cap as well, so that the fuzzer reaches it without megabytes of input.
        1 => inflate(rest, if mode & 0x80 != 0 { 64 } else { CAP }),
        _ => {
            let split = rest.len().min(usize::from(mode >> 2) * 8);
            let (rs, message) = rest.split_at(split);
            round_trip(message, &String::from_utf8_lossy(rs));
        }
    }
});
