//! The subscription web service's settings (`[subscriptions]`): the time zone in which dates
//! without an offset are read and in which dates are written back.

use super::ctx::Ctx;
use super::raw::RawSubscriptions;

/// The subscription web service's settings.
#[derive(Debug, Clone)]
pub struct SubscriptionsConfig {
    /// Providers send local times without an offset (`2026-09-01T00:00:00`); they are read in
    /// this zone, the end of a school year is 15 August at 23:59:59 there, and every date the
    /// service answers carries its offset in it. Default: Europe/Paris.
    pub timezone: chrono_tz::Tz,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self {
            timezone: chrono_tz::Europe::Paris,
        }
    }
}

pub(super) fn subscriptions(cx: &mut Ctx<'_>, raw: &RawSubscriptions) -> SubscriptionsConfig {
    let mut s = SubscriptionsConfig::default();
    if let Some(tz) = &raw.timezone {
        match tz.trim().parse::<chrono_tz::Tz>() {
            Ok(tz) => s.timezone = tz,
            Err(_) => cx.problem(
                "subscriptions.timezone",
                format!("« {tz} » is not an IANA time zone (e.g. Europe/Paris)"),
            ),
        }
    }
    s
}
