//! Daily visitor ids: a keyed HMAC of the pseudonymous subject under a salt that changes every
//! day. The salt of day D is drawn at random by the first node that needs it (all nodes share it
//! through the store), used during D, and destroyed 48 hours after D ends; so distinct visitors
//! can be counted within a day, and nobody can follow a person from one day to the next.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a salt outlives its day.
pub const SALT_KEPT_AFTER_DAY: Duration = Duration::hours(48);

/// Within this many seconds after midnight an event also carries the visitor under the
/// previous day's salt (the double-click window).
pub const CROSS_MIDNIGHT_SECONDS: i64 = 30;

/// The day of `at` in the audience time zone.
pub fn day_of(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Start of `day` (local midnight) as a UTC instant.
pub fn start_of(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        // Midnight skipped by a DST change (not in France): the first valid instant after it.
        chrono::LocalResult::None => (midnight + Duration::hours(1)).and_utc(),
    }
}

/// When the salt of `day` must be gone.
pub fn salt_expiry(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day);
    start_of(next, tz) + SALT_KEPT_AFTER_DAY
}

/// The previous day, when `at` falls within the first [`CROSS_MIDNIGHT_SECONDS`] of its day.
pub fn just_after_midnight(at: DateTime<Utc>, tz: Tz) -> Option<NaiveDate> {
    let day = day_of(at, tz);
    let since = at - start_of(day, tz);
    (since < Duration::seconds(CROSS_MIDNIGHT_SECONDS))
        .then(|| day.pred_opt())
        .flatten()
}

/// The visitor id of `subject` under a day's salt: HMAC-SHA256, hex.
pub fn visitor_id(salt: &[u8], subject: &str) -> String {
    #[allow(clippy::expect_used)] // HMAC accepts keys of any length
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("any key length");
    mac.update(b"passerelle-audience-visitor\0");
    mac.update(subject.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_are_local_days() {
        let paris = chrono_tz::Europe::Paris;
        // 23:30 UTC on 24 November is 00:30 on 25 November in Paris (UTC+1).
        assert_eq!(
            day_of(utc("2026-11-24T23:30:00Z"), paris).to_string(),
            "2026-11-25"
        );
        assert_eq!(
            day_of(utc("2026-11-24T22:59:59Z"), paris).to_string(),
            "2026-11-24"
        );
        assert_eq!(
            start_of("2026-11-25".parse().unwrap(), paris),
            utc("2026-11-24T23:00:00Z")
        );
    }

    #[test]
    fn a_salt_lives_until_48_hours_after_its_day() {
        let paris = chrono_tz::Europe::Paris;
        let day: NaiveDate = "2026-11-24".parse().unwrap();
        // The day ends at 2026-11-24T23:00Z; 48 h later.
        assert_eq!(salt_expiry(day, paris), utc("2026-11-26T23:00:00Z"));
    }

    #[test]
    fn only_the_first_seconds_of_a_day_look_back() {
        let paris = chrono_tz::Europe::Paris;
        assert_eq!(
            just_after_midnight(utc("2026-11-24T23:00:29Z"), paris).map(|d| d.to_string()),
            Some("2026-11-24".into())
        );
        assert_eq!(
            just_after_midnight(utc("2026-11-24T23:00:30Z"), paris),
            None
        );
        assert_eq!(
            just_after_midnight(utc("2026-11-24T22:59:50Z"), paris),
            None
        );
    }

    #[test]
    fn visitors_differ_across_salts_and_subjects() {
        let a = visitor_id(b"salt-one", "subject");
        assert_eq!(a, visitor_id(b"salt-one", "subject"));
        assert_ne!(a, visitor_id(b"salt-two", "subject"));
        assert_ne!(a, visitor_id(b"salt-one", "other"));
        assert_eq!(a.len(), 64);
    }
}
