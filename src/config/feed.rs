//! The directory feed's settings (`[feed]`): the largest export an ENT may upload to
//! `POST /annuaire/import`.

use serde::Deserialize;

use super::validate::Ctx;

/// Default upload limit: 128 MiB.
const DEFAULT_MAX_UPLOAD_BYTES: usize = 128 * 1024 * 1024;

/// `[feed]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawFeed {
    pub max_upload_bytes: Option<usize>,
}

/// The directory feed's settings.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Largest body accepted by `POST /annuaire/import` (an XML file or a `.tar.gz`).
    pub max_upload_bytes: usize,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        }
    }
}

pub(super) fn feed(cx: &mut Ctx<'_>, raw: &RawFeed) -> FeedConfig {
    let max_upload_bytes = raw.max_upload_bytes.unwrap_or(DEFAULT_MAX_UPLOAD_BYTES);
    if max_upload_bytes == 0 {
        cx.problem("feed.max_upload_bytes", "must be at least 1");
    }
    FeedConfig { max_upload_bytes }
}
