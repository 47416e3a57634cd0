//! What the dates of the subscription web service mean: an ISO 8601 date or date-time read in
//! the subscriptions' time zone when it carries no offset (providers send local times such as
//! `2026-09-01T00:00:00`), the end of a school year `YYYY-YYYY` (15 August of the second year,
//! 23:59:59 local time), and instants written back with their offset in that zone.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

/// Parses an ISO 8601 date or date-time. One with an offset (`Z`, `+02:00`) is that instant;
/// one without is a wall-clock time in `zone` (a date alone is its midnight there).
pub fn parse_instant(s: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Some(local(naive, zone))
}

/// The instant of wall-clock time `naive` in `zone`. A time the autumn change shows twice is
/// its first occurrence; a time the spring change skips is read with the offset in force
/// before the change (02:30 in Paris on the last Sunday of March is 03:30+02:00).
pub fn local(naive: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            let before = zone
                .offset_from_utc_datetime(&(naive - Duration::days(1)))
                .fix();
            Utc.from_utc_datetime(&(naive - Duration::seconds(before.local_minus_utc().into())))
        }
    }
}

/// The end of school year `YYYY-YYYY` (the second year following the first): 15 August of the
/// second year at 23:59:59 in `zone`. `None` when the text is not such a school year.
pub fn school_year_end(s: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let (a, b) = s.trim().split_once('-')?;
    let digits = |y: &str| y.len() == 4 && y.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (a, b): (i32, i32) = (a.parse().ok()?, b.parse().ok()?);
    if b != a + 1 {
        return None;
    }
    let naive = NaiveDate::from_ymd_opt(b, 8, 15)?.and_hms_opt(23, 59, 59)?;
    Some(local(naive, zone))
}

/// `t` as the web service writes it: seconds, with its offset in `zone`
/// (`2027-08-15T23:59:59+02:00`).
pub fn written(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Paris;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn naive_times_are_local_and_offsets_are_kept() {
        // Summer (+02:00) and winter (+01:00).
        assert_eq!(
            parse_instant("2026-09-01T00:00:00", Paris),
            Some(utc("2026-08-31T22:00:00Z"))
        );
        assert_eq!(
            parse_instant("2026-12-01T08:30:00.000", Paris),
            Some(utc("2026-12-01T07:30:00Z"))
        );
        assert_eq!(
            parse_instant("2026-12-01", Paris),
            Some(utc("2026-11-30T23:00:00Z"))
        );
        // An offset, or Z, is the instant whatever the zone.
        assert_eq!(
            parse_instant("2026-09-01T00:00:00Z", Paris),
            Some(utc("2026-09-01T00:00:00Z"))
        );
        assert_eq!(
            parse_instant("2026-09-01T00:00:00+05:00", Paris),
            Some(utc("2026-08-31T19:00:00Z"))
        );
        assert_eq!(
            parse_instant("2026-09-01T00:00:00", chrono_tz::UTC),
            Some(utc("2026-09-01T00:00:00Z"))
        );
        for bad in ["01/09/2026", "2026-09-01T25:00:00", "", "2026-09-01T00:00"] {
            assert_eq!(parse_instant(bad, Paris), None, "{bad}");
        }
    }

    #[test]
    fn changes_of_time_are_read_once() {
        // 02:30 does not exist on 28 March 2027 in Paris: read before the change (+01:00).
        assert_eq!(
            parse_instant("2027-03-28T02:30:00", Paris),
            Some(utc("2027-03-28T01:30:00Z"))
        );
        // 02:30 happens twice on 25 October 2026: the first (+02:00).
        assert_eq!(
            parse_instant("2026-10-25T02:30:00", Paris),
            Some(utc("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn a_school_year_ends_on_15_august_at_midnight_less_a_second() {
        let end = school_year_end("2026-2027", Paris).unwrap();
        assert_eq!(end, utc("2027-08-15T21:59:59Z"));
        assert_eq!(written(end, Paris), "2027-08-15T23:59:59+02:00");
        for bad in [
            "2026-2028",
            "26-27",
            "2026/2027",
            "2026-",
            "+202-203",
            "2026-+2027",
        ] {
            assert_eq!(school_year_end(bad, Paris), None, "{bad}");
        }
    }

    #[test]
    fn instants_are_written_with_their_offset() {
        assert_eq!(
            written(utc("2026-09-01T06:00:00Z"), Paris),
            "2026-09-01T08:00:00+02:00"
        );
        assert_eq!(
            written(utc("2026-12-01T06:00:00Z"), Paris),
            "2026-12-01T07:00:00+01:00"
        );
        assert_eq!(
            written(utc("2026-12-01T06:00:00Z"), chrono_tz::UTC),
            "2026-12-01T06:00:00+00:00"
        );
    }
}
