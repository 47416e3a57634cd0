//! The directory feed's settings (`[feed]`): the largest export an ENT may upload to
//! `POST /annuaire/import`, and how much a `.tar.gz` export may hold once inflated.

use super::ctx::Ctx;
use super::raw::RawFeed;
use crate::feed::archive::ArchiveLimits;

/// Default upload limit: 128 MiB.
const DEFAULT_MAX_UPLOAD_BYTES: usize = 128 * 1024 * 1024;

/// The directory feed's settings.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Largest body accepted by `POST /annuaire/import` (an XML file or a `.tar.gz`).
    pub max_upload_bytes: usize,
    /// What an archive (uploaded or on disk) may inflate to.
    pub archive: ArchiveLimits,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            archive: ArchiveLimits::default(),
        }
    }
}

pub(super) fn feed(cx: &mut Ctx<'_>, raw: &RawFeed) -> FeedConfig {
    let defaults = FeedConfig::default();
    let max_upload_bytes = raw.max_upload_bytes.unwrap_or(defaults.max_upload_bytes);
    if max_upload_bytes == 0 {
        cx.problem("feed.max_upload_bytes", "must be at least 1");
    }
    let archive = ArchiveLimits {
        max_unpacked_bytes: raw
            .max_unpacked_bytes
            .unwrap_or(defaults.archive.max_unpacked_bytes),
        max_entries: raw
            .max_archive_entries
            .unwrap_or(defaults.archive.max_entries),
    };
    if archive.max_unpacked_bytes == 0 {
        cx.problem("feed.max_unpacked_bytes", "must be at least 1");
    }
    if archive.max_entries == 0 {
        cx.problem("feed.max_archive_entries", "must be at least 1");
    }
    FeedConfig {
        max_upload_bytes,
        archive,
    }
}
