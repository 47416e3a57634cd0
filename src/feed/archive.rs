//! The documents of an export, in memory: XML files as they are, `.tar.gz` archives unpacked
//! after their MD5 was checked. The MD5 comes from the `.md5` file beside an archive on disk, or
//! from the `Content-MD5` header of an upload (hex, or base64 as in RFC 1864).

use super::{invalid, ImportError};

/// Largest XML file accepted, inside an archive or not.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// An MD5 digest given as 32 hexadecimal digits (`md5sum`'s form) or as the base64 of its 16
/// bytes (RFC 1864's `Content-MD5`); `None` when it is neither.
pub fn parse_md5(text: &str) -> Option<[u8; 16]> {
    let text = text.trim();
    let bytes = if text.len() == 32 {
        hex::decode(text).ok()?
    } else {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).ok()?
    };
    bytes.try_into().ok()
}

/// The MD5 digest of `bytes`.
pub fn md5_of(bytes: &[u8]) -> [u8; 16] {
    <md5::Md5 as md5::Digest>::digest(bytes).into()
}

/// One XML document of an export: its UTF-8 text, named `name` in errors.
pub fn xml_document(name: &str, bytes: Vec<u8>) -> Result<(String, String), ImportError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(invalid(name, "fichier trop volumineux"));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| invalid(name, "le fichier n'est pas en UTF-8"))?;
    Ok((name.to_string(), text))
}

/// Checks the `.tar.gz` archive `bytes` against `expected` (its MD5, from `source`, which
/// names it in errors), then returns its XML files as `(name/entry, text)`.
pub fn unpack(
    name: &str,
    bytes: &[u8],
    expected: [u8; 16],
    source: &str,
) -> Result<Vec<(String, String)>, ImportError> {
    if md5_of(bytes) != expected {
        return Err(invalid(
            name,
            format!("la somme MD5 ne correspond pas à {source} (archive altérée ou incomplète)"),
        ));
    }
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| invalid(name, format!("archive illisible : {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| invalid(name, format!("archive illisible : {e}")))?;
        let entry_name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !entry.header().entry_type().is_file() || !entry_name.ends_with(".xml") {
            continue;
        }
        let full = format!("{name}/{entry_name}");
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(entry, MAX_FILE_BYTES + 1),
            &mut text,
        )
        .map_err(|e| invalid(&full, format!("fichier illisible : {e}")))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(invalid(&full, "fichier trop volumineux"));
        }
        out.push((full, text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_is_read_as_hex_or_base64() {
        let digest = md5_of(b"export");
        let hex = hex::encode(digest);
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest);
        assert_eq!(parse_md5(&hex), Some(digest));
        assert_eq!(parse_md5(&hex.to_uppercase()), Some(digest));
        assert_eq!(parse_md5(&format!(" {b64} ")), Some(digest));
        assert_eq!(parse_md5("not a digest"), None);
        assert_eq!(parse_md5(&hex[..30]), None);
        assert_eq!(parse_md5("AAAA"), None, "base64 of 3 bytes, not 16");
    }
}
