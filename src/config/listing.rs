//! The médiacentre listing's settings (`[listing]`): how many schools' listing inputs a node
//! keeps in memory.

use super::ctx::Ctx;
use super::raw::RawListing;

/// Default: 5,000 schools (a few hundred megabytes at most with large catalogues).
const DEFAULT_CACHE_SCHOOLS: usize = 5_000;

/// The listing's settings.
#[derive(Debug, Clone)]
pub struct ListingConfig {
    /// Schools whose subscriptions, assignments and resources a node keeps between requests
    /// (checked against the store's stamp on every request); 0 reads everything every time.
    pub cache_schools: usize,
}

impl Default for ListingConfig {
    fn default() -> Self {
        Self {
            cache_schools: DEFAULT_CACHE_SCHOOLS,
        }
    }
}

pub(super) fn listing(_cx: &mut Ctx<'_>, raw: &RawListing) -> ListingConfig {
    ListingConfig {
        cache_schools: raw.cache_schools.unwrap_or(DEFAULT_CACHE_SCHOOLS),
    }
}
