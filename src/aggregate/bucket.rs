//! Time buckets in an IANA time zone: the start of the hour, day, ISO week
//! (Monday) or month that holds an instant, as wall-clock time there. Days
//! are 23 or 25 hours long across daylight-saving changes, and the repeated
//! hour of a fall-back is two buckets; chrono-tz carries the zone rules.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Hour,
    Day,
    Week,
    Month,
}

impl TimeUnit {
    pub const ALL: [(TimeUnit, &'static str); 4] = [
        (TimeUnit::Hour, "HOUR"),
        (TimeUnit::Day, "DAY"),
        (TimeUnit::Week, "WEEK"),
        (TimeUnit::Month, "MONTH"),
    ];

    pub fn parse(name: &str) -> Option<TimeUnit> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(u, _)| *u)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucketing {
    pub unit: TimeUnit,
    pub zone: Tz,
}

impl Bucketing {
    pub fn new(unit: TimeUnit, zone: &str) -> Option<Bucketing> {
        let zone = zone.parse::<Tz>().ok()?;
        Some(Bucketing { unit, zone })
    }

    /// Start of the bucket that holds `t`.
    pub fn start(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.zone);
        match self.unit {
            // From the instant itself, so the two 02:xx hours of a fall-back
            // (same wall clock, other offsets) stay apart.
            TimeUnit::Hour => {
                let into_hour = i64::from(local.minute()) * 60 + i64::from(local.second());
                t - Duration::seconds(into_hour) - Duration::nanoseconds(i64::from(t.nanosecond()))
            }
            TimeUnit::Day => self.start_of_day(local.date_naive()),
            TimeUnit::Week => {
                let back = i64::from(local.weekday().num_days_from_monday());
                self.start_of_day(local.date_naive() - Duration::days(back))
            }
            TimeUnit::Month => {
                self.start_of_day(local.date_naive().with_day(1).unwrap_or_default())
            }
        }
    }

    /// Start of the bucket after the one starting at `start`.
    pub fn next(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        let date = start.with_timezone(&self.zone).date_naive();
        match self.unit {
            TimeUnit::Hour => {
                // An hour later is the next bucket, except where a zone
                // shifts by less than an hour; step until it changes.
                let mut t = start + Duration::hours(1);
                while self.start(t) <= start {
                    t += Duration::minutes(15);
                }
                self.start(t)
            }
            TimeUnit::Day => self.start_of_day(date + Duration::days(1)),
            TimeUnit::Week => self.start_of_day(date + Duration::days(7)),
            TimeUnit::Month => {
                let (y, m) = if date.month() == 12 {
                    (date.year() + 1, 1)
                } else {
                    (date.year(), date.month() + 1)
                };
                self.start_of_day(NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(date))
            }
        }
    }

    /// The first instant of a local date: midnight, or the first wall-clock
    /// time that exists when a spring-forward skips midnight.
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        for quarter in 0..(4 * 24) {
            let wall = midnight + Duration::minutes(15 * quarter);
            match self.zone.from_local_datetime(&wall) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => continue,
            }
        }
        midnight.and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn b(unit: TimeUnit, zone: &str) -> Bucketing {
        Bucketing::new(unit, zone).expect("zone")
    }

    #[test]
    fn utc_buckets() {
        let t = at("2026-03-29T01:30:15.250Z"); // a Sunday
        assert_eq!(
            b(TimeUnit::Hour, "UTC").start(t),
            at("2026-03-29T01:00:00Z")
        );
        assert_eq!(b(TimeUnit::Day, "UTC").start(t), at("2026-03-29T00:00:00Z"));
        assert_eq!(
            b(TimeUnit::Week, "UTC").start(t),
            at("2026-03-23T00:00:00Z")
        );
        assert_eq!(
            b(TimeUnit::Month, "UTC").start(t),
            at("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            b(TimeUnit::Month, "UTC").next(at("2025-12-01T00:00:00Z")),
            at("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn berlin_days_are_23_and_25_hours_long_across_dst() {
        let day = b(TimeUnit::Day, "Europe/Berlin");
        // Spring forward on 2026-03-29: midnight is still CET (+1).
        let start = day.start(at("2026-03-29T12:00:00Z"));
        assert_eq!(start, at("2026-03-28T23:00:00Z"));
        assert_eq!(day.next(start), at("2026-03-29T22:00:00Z"));
        // 00:59:59.999Z is 01:59 CET, 01:00Z is 03:00 CEST: the same day.
        assert_eq!(day.start(at("2026-03-29T00:59:59.999Z")), start);
        assert_eq!(day.start(at("2026-03-29T01:00:00Z")), start);
        // Fall back on 2026-10-25: 25 hours.
        let start = day.start(at("2026-10-25T12:00:00Z"));
        assert_eq!(start, at("2026-10-24T22:00:00Z"));
        assert_eq!(day.next(start), at("2026-10-25T23:00:00Z"));
    }

    #[test]
    fn the_repeated_fall_back_hour_is_two_buckets() {
        let hour = b(TimeUnit::Hour, "Europe/Berlin");
        // 02:30 CEST and 02:30 CET.
        let first = hour.start(at("2026-10-25T00:30:00Z"));
        let second = hour.start(at("2026-10-25T01:30:00Z"));
        assert_eq!(first, at("2026-10-25T00:00:00Z"));
        assert_eq!(second, at("2026-10-25T01:00:00Z"));
        assert_eq!(hour.next(first), second);
    }

    #[test]
    fn weeks_start_monday_and_months_follow_local_time() {
        let week = b(TimeUnit::Week, "Europe/Berlin");
        // Sunday 2026-03-29 23:30 CEST is still in the week of Monday 03-23.
        assert_eq!(
            week.start(at("2026-03-29T21:30:00Z")),
            at("2026-03-22T23:00:00Z")
        );
        assert_eq!(
            week.next(at("2026-03-22T23:00:00Z")),
            at("2026-03-29T22:00:00Z")
        );
        let month = b(TimeUnit::Month, "Europe/Berlin");
        // 2025-12-31T23:00Z is already January in Berlin.
        assert_eq!(
            month.start(at("2025-12-31T23:00:00Z")),
            at("2025-12-31T23:00:00Z")
        );
        assert_eq!(
            month.start(at("2025-12-31T22:59:59Z")),
            at("2025-11-30T23:00:00Z")
        );
    }

    #[test]
    fn half_hour_zones_and_midnight_gaps() {
        let hour = b(TimeUnit::Hour, "Asia/Kolkata");
        assert_eq!(
            hour.start(at("2026-01-01T10:10:00Z")),
            at("2026-01-01T09:30:00Z")
        );
        // Sao Paulo skipped midnight on 2018-11-04 (00:00 became 01:00).
        let day = b(TimeUnit::Day, "America/Sao_Paulo");
        assert_eq!(
            day.start(at("2018-11-04T12:00:00Z")),
            at("2018-11-04T03:00:00Z")
        );
        assert!(Bucketing::new(TimeUnit::Day, "Mars/Olympus").is_none());
    }
}
