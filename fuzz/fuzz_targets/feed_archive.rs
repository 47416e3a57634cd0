//! The directory feed's archives: a `.tar.gz` unpacked under small limits, and MD5 digests as
//! `.md5` files and `Content-MD5` give them.
//!
//! Properties: what an archive yields stays within `max_unpacked_bytes` and `max_entries`,
//! each file named `archive/entry.xml`; an archive whose MD5 differs is refused before it is
//! inflated; a digest written as hex or base64 reads back as itself.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use passerelle::feed::archive::{md5_of, parse_md5, unpack, ArchiveLimits};

const NAME: &str = "export.tar.gz";
const LIMITS: ArchiveLimits = ArchiveLimits {
    max_unpacked_bytes: 256 * 1024,
    max_entries: 64,
};

fuzz_target!(|data: &[u8]| {
    let digest = md5_of(data);
    if let Ok(files) = unpack(NAME, data, digest, "fuzz", LIMITS) {
        assert!(files.len() <= LIMITS.max_entries, "{} files", files.len());
        let total: usize = files.iter().map(|(_, t)| t.len()).sum();
        assert!(total as u64 <= LIMITS.max_unpacked_bytes, "{total} bytes unpacked");
        for (name, _) in &files {
            assert!(
                name.starts_with("export.tar.gz/") && name.ends_with(".xml"),
                "{name}"
            );
        }
    }
    let mut other = digest;
    other[0] ^= 1;
    assert!(unpack(NAME, data, other, "fuzz", LIMITS).is_err());
    // Digests.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_md5(text);
    }
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(parse_md5(&hex), Some(digest));
    assert_eq!(parse_md5(&format!(" {} \n", STANDARD.encode(digest))), Some(digest));
});
