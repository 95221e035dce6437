//! Time buckets in an IANA time zone: the start of the hour, day, ISO week
//! (Monday) or month that holds an instant, as wall-clock time there. Days
//! are 23 or 25 hours long across daylight-saving changes, and the repeated
//! hour of a fall-back is two buckets. Where a change falls inside a
//! wall-clock hour (zones that shift by 30 minutes, such as
//! Australia/Lord_Howe), it splits that hour: the part after the change is
//! a bucket of its own, starting at the change, so every instant is in
//! exactly one bucket. chrono-tz carries the zone rules; every engine
//! (scan, `$apply`, SQL) buckets by these.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, Offset, TimeZone, Timelike, Utc,
};
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
            TimeUnit::Hour => {
                let floor = self.hour_floor(t);
                // An offset change inside the hour splits it (zones that
                // shift by 30 minutes): the part after starts at the change.
                match change_between(self.zone, floor, t) {
                    Some(change) => change,
                    None => floor,
                }
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
                let end = self.hour_floor(start) + Duration::hours(1);
                match change_between(self.zone, start, end) {
                    Some(change) if change < end => change,
                    _ => end,
                }
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

    /// The start of the wall-clock hour holding `t`, in the offset in force
    /// at `t` (from the instant itself, so the two 02:xx hours of a
    /// fall-back, same wall clock and other offsets, stay apart).
    fn hour_floor(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.zone);
        let into_hour = i64::from(local.minute()) * 60 + i64::from(local.second());
        t - Duration::seconds(into_hour) - Duration::nanoseconds(i64::from(t.nanosecond()))
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

    /// The zone's offsets over `lo..=hi` (microseconds since 1970): the
    /// one at `lo`, and each change with the offset from then on. Offsets
    /// hold for months; six-hour steps find every change, bisection its
    /// second. The SQL buckets are written from this table.
    pub fn offsets(&self, lo_us: i64, hi_us: i64) -> Offsets {
        const STEP: i64 = 6 * 3_600_000_000;
        let at = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
        let mut changes = Vec::new();
        let mut from = lo_us;
        while from < hi_us {
            let to = from.saturating_add(STEP).min(hi_us);
            if let Some(change) = change_between(self.zone, at(from), at(to)) {
                let change_us = change.timestamp_micros();
                changes.push((change_us, offset_us(self.zone, change)));
            }
            from = to;
        }
        Offsets {
            first: offset_us(self.zone, at(lo_us)),
            changes,
        }
    }
}

/// A zone's offsets over a range (see [`Bucketing::offsets`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offsets {
    /// Microseconds east of UTC at the start of the range.
    pub first: i64,
    /// Each change: the instant (µs) and the offset (µs) from then on.
    pub changes: Vec<(i64, i64)>,
}

fn offset_us(zone: Tz, t: DateTime<Utc>) -> i64 {
    let offset = zone.offset_from_utc_datetime(&t.naive_utc()).fix();
    i64::from(offset.local_minus_utc()) * 1_000_000
}

/// The change of offset in `(a, b]`, as its first instant, when the
/// offsets at `a` and `b` differ (a change falls on a whole second). One
/// change at most is looked for: they are months apart.
fn change_between(zone: Tz, a: DateTime<Utc>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let before = offset_us(zone, a);
    if a >= b || offset_us(zone, b) == before {
        return None;
    }
    let (mut old, mut new) = (a.timestamp(), b.timestamp());
    if offset_us(zone, DateTime::from_timestamp(new, 0)?) == before {
        // `b` is within its second after the change.
        return Some(b);
    }
    while new - old > 1 {
        let mid = old + (new - old) / 2;
        let at = DateTime::from_timestamp(mid, 0)?;
        if offset_us(zone, at) == before {
            old = mid;
        } else {
            new = mid;
        }
    }
    let change = DateTime::from_timestamp(new, 0)?;
    Some(change.max(a + Duration::nanoseconds(1)).min(b))
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
    fn a_half_hour_change_splits_its_hour_and_buckets_never_overlap() {
        let hour = b(TimeUnit::Hour, "Australia/Lord_Howe");
        // Fall-back on 2026-04-05: 02:00 at +11:00 (15:00Z) becomes 01:30
        // at +10:30. The hour 01:00-02:00 (+11) is whole; the half hour
        // 01:30-02:00 (+10:30) after the change is a bucket of its own.
        // Spring forward on 2026-10-04: 02:00 at +10:30 (15:30Z) becomes
        // 02:30 at +11; the hour 02:00-03:00 (+11) starts at the change.
        // (an instant, the start of its bucket, the next start)
        let cases = [
            (
                "2026-04-04T14:45:00Z",
                "2026-04-04T14:00:00Z",
                "2026-04-04T15:00:00Z",
            ),
            (
                "2026-04-04T15:15:00Z",
                "2026-04-04T15:00:00Z",
                "2026-04-04T15:30:00Z",
            ),
            (
                "2026-04-04T15:45:00Z",
                "2026-04-04T15:30:00Z",
                "2026-04-04T16:30:00Z",
            ),
            (
                "2026-10-03T15:20:00Z",
                "2026-10-03T14:30:00Z",
                "2026-10-03T15:30:00Z",
            ),
            (
                "2026-10-03T15:45:00Z",
                "2026-10-03T15:30:00Z",
                "2026-10-03T16:00:00Z",
            ),
        ];
        for (t, start, next) in cases {
            assert_eq!(hour.start(at(t)), at(start), "{t}");
            assert_eq!(hour.next(at(start)), at(next), "{t}");
        }
        // Every instant of the two days is in the bucket that starts at
        // or before it and whose next start is after it.
        for day in ["2026-04-04T10:00:00Z", "2026-10-03T10:00:00Z"] {
            let mut t = at(day);
            for _ in 0..(12 * 60) {
                let start = hour.start(t);
                assert!(start <= t && t < hour.next(start), "{t}");
                t += Duration::minutes(1);
            }
        }
    }

    #[test]
    fn offsets_list_every_change_to_the_second() {
        let us = |s: &str| at(s).timestamp_micros();
        let berlin = b(TimeUnit::Day, "Europe/Berlin");
        let offsets = berlin.offsets(us("2026-01-01T00:00:00Z"), us("2026-12-31T00:00:00Z"));
        assert_eq!(offsets.first, 3_600_000_000);
        assert_eq!(
            offsets.changes,
            vec![
                (us("2026-03-29T01:00:00Z"), 7_200_000_000),
                (us("2026-10-25T01:00:00Z"), 3_600_000_000),
            ]
        );
        let lord_howe = b(TimeUnit::Hour, "Australia/Lord_Howe");
        let offsets = lord_howe.offsets(us("2026-01-01T00:00:00Z"), us("2026-12-31T00:00:00Z"));
        assert_eq!(
            offsets.changes,
            vec![
                (us("2026-04-04T15:00:00Z"), 37_800_000_000),
                (us("2026-10-03T15:30:00Z"), 39_600_000_000),
            ]
        );
        let utc = b(TimeUnit::Day, "UTC");
        assert!(utc
            .offsets(0, us("2026-12-31T00:00:00Z"))
            .changes
            .is_empty());
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
