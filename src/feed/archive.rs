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

/// How much an archive may hold once inflated: an upload of 128 MiB of gzip could otherwise
/// expand past 100 GiB. Every inflated byte counts, the entries skipped (not XML, not files)
/// included, since inflating them costs the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// `feed.max_unpacked_bytes`: the uncompressed total.
    pub max_unpacked_bytes: u64,
    /// `feed.max_archive_entries`: entries of any kind.
    pub max_entries: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 1024 * 1024 * 1024,
            max_entries: 10_000,
        }
    }
}

/// Inflates at most `left` bytes, then fails: the cap is enforced as the stream is read.
struct Budget<R> {
    inner: R,
    left: u64,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: std::io::Read> std::io::Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more tells a stream that ends exactly at the cap from a larger one.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded.set(true);
            return Err(std::io::Error::other("archive larger than its limit"));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Checks the `.tar.gz` archive `bytes` against `expected` (its MD5, from `source`, which
/// names it in errors), then returns its XML files as `(name/entry, text)`, refusing it as
/// soon as it inflates past `limits`.
pub fn unpack(
    name: &str,
    bytes: &[u8],
    expected: [u8; 16],
    source: &str,
    limits: ArchiveLimits,
) -> Result<Vec<(String, String)>, ImportError> {
    if md5_of(bytes) != expected {
        return Err(invalid(
            name,
            format!("la somme MD5 ne correspond pas à {source} (archive altérée ou incomplète)"),
        ));
    }
    let exceeded = std::rc::Rc::new(std::cell::Cell::new(false));
    let too_large = || {
        invalid(
            name,
            format!(
                "l'archive dépasse {} octets une fois décompressée (feed.max_unpacked_bytes)",
                limits.max_unpacked_bytes
            ),
        )
    };
    let unreadable = |e: std::io::Error, file: &str| {
        if exceeded.get() {
            too_large()
        } else {
            invalid(file, format!("archive illisible : {e}"))
        }
    };
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(Budget {
        inner: flate2::read::GzDecoder::new(bytes),
        left: limits.max_unpacked_bytes,
        exceeded: exceeded.clone(),
    });
    let entries = archive.entries().map_err(|e| unreadable(e, name))?;
    for (count, entry) in entries.enumerate() {
        if count >= limits.max_entries {
            return Err(invalid(
                name,
                format!(
                    "l'archive contient plus de {} entrées (feed.max_archive_entries)",
                    limits.max_entries
                ),
            ));
        }
        let entry = entry.map_err(|e| unreadable(e, name))?;
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
        .map_err(|e| unreadable(e, &full))?;
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

    /// A `.tar.gz` of `files` (name, size in bytes of zeros).
    fn archive(files: &[(&str, usize)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, size) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(*size as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, std::io::repeat(b' ').take(*size as u64))
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn limits(bytes: u64, entries: usize) -> ArchiveLimits {
        ArchiveLimits {
            max_unpacked_bytes: bytes,
            max_entries: entries,
        }
    }

    fn refusal(r: Result<Vec<(String, String)>, ImportError>) -> String {
        match r {
            Err(ImportError::Invalid(e)) => e[0].message.clone(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    use std::io::Read as _;

    #[test]
    fn an_archive_within_its_limits_is_unpacked() {
        let a = archive(&[("a.xml", 1000), ("b.txt", 1000), ("c.xml", 10)]);
        let files = unpack("x.tar.gz", &a, md5_of(&a), "test", limits(1 << 20, 3)).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x.tar.gz/a.xml", "x.tar.gz/c.xml"]);
    }

    #[test]
    fn an_archive_inflating_past_its_total_is_refused() {
        // 3 MiB of files, skipped ones included, against a 1 MiB total.
        let a = archive(&[("a.txt", 2 << 20), ("b.xml", 1 << 20)]);
        let message = refusal(unpack("x.tar.gz", &a, md5_of(&a), "t", limits(1 << 20, 10)));
        assert!(message.contains("feed.max_unpacked_bytes"), "{message}");
    }

    #[test]
    fn an_archive_with_too_many_entries_is_refused() {
        let many: Vec<(String, usize)> = (0..11).map(|i| (format!("{i}.xml"), 1)).collect();
        let many: Vec<(&str, usize)> = many.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let a = archive(&many);
        let message = refusal(unpack("x.tar.gz", &a, md5_of(&a), "t", limits(1 << 20, 10)));
        assert!(message.contains("feed.max_archive_entries"), "{message}");
        assert!(unpack("x.tar.gz", &a, md5_of(&a), "t", limits(1 << 20, 11)).is_ok());
    }
}
